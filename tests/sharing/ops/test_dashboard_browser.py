"""The dashboard in headless Chromium after a demo run: an operator logs in, sees every source, opens a
quarantined record and replays it, approves a drift, finds the approval in the audit log; axe-core finds
no serious accessibility violation on the main page. Vietnamese first, English one click away; every page
usable at 400 px without sideways scroll; the served fonts render Vietnamese, monospace included.
Screenshots at 1366 and 400 px are taken on every run; LIENTHONG_SCREENSHOTS=docs writes them over the ones
in docs/screenshots/ (to refresh the docs), otherwise they go to the test's temporary directory."""

from __future__ import annotations

import json
import os
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
SCREENSHOTS = Path(__file__).parents[3] / "docs" / "screenshots"


def _docs_shot(driver: Any, name: str, width: int, directory: Path) -> None:
    """The page as the docs show it, at `width` px, full height."""
    if os.environ.get("LIENTHONG_SCREENSHOTS") == "docs":
        directory = SCREENSHOTS
    driver.set_window_size(width, 900)
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.set_window_size(width, max(700, min(height + 40, 5000)))
    path = directory / f"{name}-{width}.png"
    path.unlink(missing_ok=True)
    driver.save_screenshot(str(path))
    driver.set_window_size(1366, 900)
    png = path.read_bytes()  # written now, a PNG as wide as asked (IHDR's width: bytes 16-20)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(png[16:20], "big") == width, (path, png[16:24])


def _fits(driver: Any, width: int = 400) -> None:
    """At `width` px the page does not scroll sideways (tables scroll inside their own box)."""
    driver.set_window_size(width, 800)
    overflow = driver.execute_script(
        "const w = document.documentElement.clientWidth;"
        "const wide = [...document.querySelectorAll('body *')]"
        "  .filter(e => e.getBoundingClientRect().right > w + 1 && !e.parentElement.closest('.scroll'))"
        "  .slice(0, 8).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right));"
        "return [document.documentElement.scrollWidth, w, wide]")
    driver.set_window_size(1366, 900)
    assert overflow[0] <= overflow[1], (driver.current_url, overflow)  # [page width, window, what sticks out]


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

    # Vietnamese first, the page says so; fonts of our own that render it in every block.
    assert browser.find_element(by("TAG_NAME"), "html").get_attribute("lang") == "vi"
    assert "Các nguồn" in browser.find_element(by("TAG_NAME"), "h1").text
    counts = browser.find_element(by("CSS_SELECTOR"), "ul.counts").text
    assert "thay đổi lược đồ chờ phê duyệt" in counts and "bản ghi đang chờ trong khu cách ly" in counts, counts
    _fits(browser)
    _docs_shot(browser, "ops-overview", 1366, tmp_path)
    _docs_shot(browser, "ops-overview", 400, tmp_path)
    # English one click away
    browser.find_element(by("CSS_SELECTOR"), "a.lang").click()
    _wait(browser, "html[lang=en]")

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
    # one panel per dataset: three small charts with a title and labelled axes, a quality score
    panels = browser.find_elements(by("CSS_SELECTOR"), "section.dataset")
    assert len(panels) >= 7
    for panel in panels:
        charts = panel.find_elements(by("CSS_SELECTOR"), "svg.chart")
        assert len(charts) == 3
        texts = [c.text for c in charts]
        assert "Records per run" in texts[0] and "time (UTC)" in texts[0] and "records" in texts[0], texts[0]
        assert "Quarantine rate" in texts[1] and "Sync duration" in texts[2]
        assert panel.find_element(by("CSS_SELECTOR"), "strong.quality").text.endswith("%")
    assert browser.find_elements(by("CSS_SELECTOR"), "svg.chart circle")  # points were plotted
    # the English description of the dataset from its contract, beside its name
    assert "Land parcels from the land registry" in browser.find_element(by("ID"), "ds-parcels").text
    shot(browser, tmp_path, "1-overview")
    browser.get(f"{demo.base}/ops/?lang=vi")  # back to Vietnamese for the rest of the walk
    _wait(browser, "html[lang=vi]")

    # The quarantine, filtered by dataset; a record with its raw form and reason; a replay.
    browser.get(f"{demo.base}/ops/quarantine?size=5")  # paginated (50 a page by default)

    def ids() -> list[str]:
        return [a.text for a in browser.find_elements(by("CSS_SELECTOR"), "table.quarantine tbody td:first-child a")]

    first_page = ids()
    assert len(first_page) == 5 and "trang 1/" in browser.find_element(by("CSS_SELECTOR"), "nav.pager").text
    _fits(browser)
    browser.find_element(by("CSS_SELECTOR"), "a[rel=next]").click()
    _wait(browser, "a[rel=prev]")
    assert "trang 2/" in browser.find_element(by("CSS_SELECTOR"), "nav.pager").text
    assert ids() and not set(ids()) & set(first_page)
    browser.get(f"{demo.base}/ops/quarantine?dataset=enterprises")
    links = browser.find_elements(by("CSS_SELECTOR"), "table.quarantine tbody tr td:first-child a")
    assert links, _text(browser)
    links[0].click()
    _wait(browser, "pre.raw")
    assert "Bản ghi cách ly" in browser.find_element(by("TAG_NAME"), "h1").text
    raw = json.loads(browser.find_element(by("CSS_SELECTOR"), "pre.raw").text)
    assert raw.get("enterpriseCode"), raw
    assert browser.find_element(by("CSS_SELECTOR"), "dd.reason").text.strip()
    # the raw record in our monospace font, loaded: Vietnamese diacritics from a font that has them
    family = browser.execute_script("return getComputedStyle(document.querySelector('pre.raw')).fontFamily")
    assert family.startswith('"LT Mono"'), family
    assert browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "document.fonts.load('14px \"LT Mono\"', 'Nguyễn Thị Hồng Ưng').then(f => done(f.length > 0));")
    _fits(browser)
    _docs_shot(browser, "ops-quarantined-record", 1366, tmp_path)
    _docs_shot(browser, "ops-quarantined-record", 400, tmp_path)
    shot(browser, tmp_path, "2-quarantined-record")
    browser.find_element(by("XPATH"), "//button[normalize-space()='Chạy lại bản ghi này']").click()
    message = _wait(browser, ".message").text
    assert "Chạy lại replay-" in message and "1 vẫn bị cách ly" in message, message

    # A drift awaiting approval, approved from the page.
    browser.get(f"{demo.base}/ops/drift")
    row = browser.find_element(by("CSS_SELECTOR"), "tr[data-drift]")
    drift_id = int(row.get_attribute("data-drift"))
    _fits(browser)
    row.find_element(by("TAG_NAME"), "button").click()
    assert f"Đã phê duyệt thay đổi lược đồ {drift_id}" in _wait(browser, ".message").text
    with db.engine_for(demo.url).connect() as conn:
        assert conn.execute(sa.select(drift_log.c.status).where(drift_log.c.id == drift_id)).scalar() == "approved"
    shot(browser, tmp_path, "3-drift")

    # The approval is in the audit log, by this operator, and the chain verifies.
    browser.get(f"{demo.base}/ops/audit")
    assert "Chuỗi đã được kiểm chứng" in browser.find_element(by("CSS_SELECTOR"), ".chain").text
    _fits(browser)
    _docs_shot(browser, "ops-audit", 1366, tmp_path)
    _docs_shot(browser, "ops-audit", 400, tmp_path)
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
