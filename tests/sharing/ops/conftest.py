"""A small demo run (four agencies, a few faults) served by the lookup API with its dashboard, and a
headless Debian Chromium driven by Selenium."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agencies.base import AGENCY_NAMES
from agencies.testing import running_simulator
from lienthong.serve import ops_services
from pipeline.sync import sync_source
from sharing.api.app import create_app
from sharing.api.policy import policy_from_dict
from sharing.ops.auth import OpsState, hash_password
from tests.servers import in_thread

OPERATOR, PASSWORD = "ops_admin", "correct horse battery staple"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
RECORDS = 150
# Invalid values fill the quarantine everywhere; a new field in business makes drift to approve.
FAULTS: dict[str, dict[str, float]] = {"business": {"invalid_values": 0.03, "drift_new_field": 0.05}}


@dataclass(frozen=True, slots=True)
class Demo:
    url: str  # the database
    base: str  # the running API
    app: Any


def _sync_all(url: str, root: Path) -> None:
    for agency in AGENCY_NAMES:
        faults = FAULTS.get(agency, {"invalid_values": 0.01})
        with running_simulator(agency, records=RECORDS, seed=5, faults=faults, tmp_dir=root / "sim" / agency) as sim:
            env = {f"LIENTHONG_AGENCY_{agency.upper()}_URL": sim.url}
            for full in (False, True):  # a second run, from scratch: two points per dataset on the charts
                summaries = sync_source(agency, url=url, data_dir=root / "data", environ=env, full_refresh=full)
                assert all(s.error is None for s in summaries), [s.line() for s in summaries]


@contextmanager
def serving(app: Any) -> Iterator[str]:
    with in_thread(app) as url:
        yield url


@pytest.fixture(scope="package")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    root = tmp_path_factory.mktemp("ops")
    url = f"sqlite:///{root / 'lienthong.db'}"
    _sync_all(url, root)
    app = create_app(url, policy_from_dict({"clients": {}}), root / "data", services=ops_services())
    app.state.lienthong_ops = OpsState(operators={OPERATOR: hash_password(PASSWORD)})
    with serving(app) as base:
        yield Demo(url, base, app)
    app.state.lienthong.writer.close()
    app.state.lienthong.engine.dispose()


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip(f"Debian's chromium is not installed ({CHROMIUM}, {CHROMEDRIVER}): "
                    "apt-get install chromium chromium-driver (.ci/run does)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 "--window-size=1366,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()


def shot(driver: Any, directory: Path, name: str) -> Path:
    """A full-page screenshot: the window grown to the page's height first."""
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.set_window_size(1366, max(900, min(height + 40, 4000)))
    path = directory / f"{name}.png"
    driver.save_screenshot(str(path))
    driver.set_window_size(1366, 900)
    return path
