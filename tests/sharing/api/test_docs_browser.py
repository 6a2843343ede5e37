"""The API's docs work on a network without internet: headless Chromium, every host but loopback
unreachable, opens /docs and finds each operation of the contract listed; nothing was fetched elsewhere."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.sharing.ops.conftest import CHROMEDRIVER, CHROMIUM

pytestmark = pytest.mark.e2e


@pytest.fixture
def offline_browser() -> Iterator[Any]:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip(f"Debian's chromium is not installed ({CHROMIUM}, {CHROMEDRIVER}): "
                    "apt-get install chromium chromium-driver (.ci/run does)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 "--window-size=1366,900",
                 # the outside world is gone: names do not resolve, and anything else goes to a dead proxy
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                 "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=127.0.0.1"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.mark.parametrize("served", ["sqlite"], indirect=True)  # the page, not the backend, is under test
def test_docs_list_every_operation_offline(api: httpx.Client, offline_browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    base = str(api.base_url).rstrip("/")
    paths = set(api.get("/openapi.json").json()["paths"])
    offline_browser.get(f"{base}/docs")
    WebDriverWait(offline_browser, 30).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")) >= len(paths))
    shown = {e.get_attribute("data-path") or e.text.replace("\u200b", "")
             for e in offline_browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    assert paths <= shown, paths - shown
    fetched = offline_browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    assert fetched and all(url.startswith(base) for url in fetched), fetched
