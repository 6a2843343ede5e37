"""The dashboard in headless Chromium after a demo run: an operator logs in, sees every source, opens a
quarantined record and replays it, approves a drift, finds the approval in the audit log; axe-core finds
no serious accessibility violation on the main page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from lienthong.airflow.registry import sources
from schemas.drift import drift_log
from sharing import db
from tests.sharing.ops.conftest import OPERATOR, PASSWORD, Demo, shot

pytestmark = pytest.mark.e2e

AXE = Path(__file__).parents[3] / "sharing" / "ops" / "static" / "vendor" / "axe-core" / "axe.min.js"


def _by(kind: str) -> Any:
    from selenium.webdriver.common.by import By

    return getattr(By, kind)


def _wait(driver: Any, css: str) -> Any:
    """The element, once the page that a click started to load shows it."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, 15).until(lambda d: d.find_elements(_by("CSS_SELECTOR"), css))[0]


def _login(driver: Any, base: str) -> None:
    driver.get(f"{base}/ops/login")
    driver.find_element(_by("ID"), "operator").send_keys(OPERATOR)
    driver.find_element(_by("ID"), "password").send_keys(PASSWORD)
    driver.find_element(_by("CSS_SELECTOR"), "form.login button").click()
    _wait(driver, "table.sources")
    assert driver.current_url.endswith("/ops/"), driver.current_url


def _text(driver: Any) -> str:
    return str(driver.find_element(_by("TAG_NAME"), "body").text)


def test_an_operator_walks_the_dashboard(demo: Demo, browser: Any, tmp_path: Path) -> None:
    by = _by
    _login(browser, demo.base)

    # Every source, fresh, with its last run's counts and a link to its DAG.
    rows = {r.get_attribute("data-source"): r for r in browser.find_elements(by("CSS_SELECTOR"), "tr.source")}
    assert set(rows) == {s.name for s in sources()}
    for name, row in rows.items():
        assert "On time" in row.text, row.text
        cells = row.find_elements(by("CSS_SELECTOR"), "td.num")
        fetched, valid, quarantined, published = (int(c.text.replace(",", "")) for c in cells)
        assert valid + quarantined == fetched and published <= valid, (name, row.text)
        link = row.find_element(by("PARTIAL_LINK_TEXT"), f"lienthong_sync_{name}")
        assert link.get_attribute("href").startswith(f"http://127.0.0.1:8080/dags/lienthong_sync_{name}")
    assert len(browser.find_elements(by("CSS_SELECTOR"), "svg.chart")) == 3
    assert browser.find_elements(by("CSS_SELECTOR"), "svg.chart circle")  # points were plotted
    shot(browser, tmp_path, "1-overview")

    # The quarantine, filtered by dataset; a record with its raw form and reason; a replay.
    browser.get(f"{demo.base}/ops/quarantine?dataset=enterprises")
    links = browser.find_elements(by("CSS_SELECTOR"), "table.quarantine tbody tr td:first-child a")
    assert links, _text(browser)
    links[0].click()
    _wait(browser, "pre.raw")
    assert "Quarantined record" in browser.find_element(by("TAG_NAME"), "h1").text
    raw = json.loads(browser.find_element(by("CSS_SELECTOR"), "pre.raw").text)
    assert raw.get("enterpriseCode"), raw
    assert browser.find_element(by("CSS_SELECTOR"), "dd.reason").text.strip()
    shot(browser, tmp_path, "2-quarantined-record")
    browser.find_element(by("XPATH"), "//button[normalize-space()='Replay this record']").click()
    message = _wait(browser, ".message").text
    assert "Replay replay-" in message and "1 still quarantined" in message, message

    # A drift awaiting approval, approved from the page.
    browser.get(f"{demo.base}/ops/drift")
    row = browser.find_element(by("CSS_SELECTOR"), "tr[data-drift]")
    drift_id = int(row.get_attribute("data-drift"))
    row.find_element(by("TAG_NAME"), "button").click()
    assert f"Drift {drift_id} approved" in _wait(browser, ".message").text
    with db.engine_for(demo.url).connect() as conn:
        assert conn.execute(sa.select(drift_log.c.status).where(drift_log.c.id == drift_id)).scalar() == "approved"
    shot(browser, tmp_path, "3-drift")

    # The approval is in the audit log, by this operator, and the chain verifies.
    browser.get(f"{demo.base}/ops/audit")
    assert "Chain verified" in browser.find_element(by("CSS_SELECTOR"), ".chain").text
    entries = [r.text for r in browser.find_elements(by("CSS_SELECTOR"), "table.audit tbody tr")]
    approval = [e for e in entries if f"drift {drift_id} approved" in e]
    assert approval and f"operator:{OPERATOR}" in approval[0] and f"/ops/drift/{drift_id}/approve" in approval[0]
    shot(browser, tmp_path, "4-audit")


def test_the_main_page_has_no_serious_accessibility_violation(demo: Demo, browser: Any) -> None:
    _login(browser, demo.base)
    browser.execute_script(AXE.read_text(encoding="utf-8"))
    result = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations), e => done(String(e)));")
    assert isinstance(result, list), result
    serious = [(v["id"], v["impact"], v["help"], [n["target"] for n in v["nodes"]][:3])
               for v in result if v["impact"] in ("serious", "critical")]
    assert not serious, serious
