"""Who may see and do what on the dashboard, over plain HTTP: pages need a session, forms need the
session's CSRF token, a refused login is audited; a source that has not synced for long is marked late."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from lienthong.serve import ops_services
from quality.store import metadata as quality_metadata
from quality.store import quarantine, validation_runs
from schemas.db import ensure_tables
from schemas.drift import drift_log
from sharing import db
from sharing.api import audit
from sharing.api.app import create_app
from sharing.api.policy import policy_from_dict
from sharing.ops.auth import OpsState, hash_password
from tests.sharing.ops.conftest import OPERATOR, PASSWORD, Demo, serving

pytestmark = pytest.mark.integration


def _csrf(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
    assert found, page.text[:500]
    return found.group(1)


def _logged_in(base: str, lang: str = "en") -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=base, timeout=30)
    client.cookies.set("lt_lang", lang, path="/ops")  # these tests read the English texts
    token = _csrf(client.get("/ops/login"))
    answer = client.post("/ops/login", data={"csrf": token, "operator": OPERATOR, "password": PASSWORD})
    assert answer.status_code == 303 and answer.headers["location"] == "/ops/", answer.text
    return client, _csrf(client.get("/ops/"))


def test_pages_need_a_session(demo: Demo) -> None:
    with httpx.Client(base_url=demo.base, timeout=30) as client:
        for path in ("/ops/", "/ops/quarantine", "/ops/quarantine/1", "/ops/drift", "/ops/audit"):
            answer = client.get(path)
            assert answer.status_code == 303 and answer.headers["location"] == "/ops/login", path
        client.cookies.set("lt_ops_session", "forged.0000", path="/ops")
        assert client.get("/ops/").status_code == 303


def test_a_wrong_password_is_refused_and_audited(demo: Demo) -> None:
    with httpx.Client(base_url=demo.base, timeout=30) as client:
        token = _csrf(client.get("/ops/login"))
        answer = client.post("/ops/login", data={"csrf": token, "operator": OPERATOR, "password": "guess"})
        assert answer.status_code == 401 and "Sai tên người vận hành hoặc mật khẩu" in answer.text  # vi first
        assert '<html lang="vi">' in answer.text
        token = _csrf(client.get("/ops/login", params={"lang": "en"}))  # one click: English, remembered
        answer = client.post("/ops/login", data={"csrf": token, "operator": OPERATOR, "password": "guess"})
        assert answer.status_code == 401 and "Wrong operator name or password" in answer.text
        assert '<html lang="en">' in answer.text
        assert "lt_ops_session" not in client.cookies
        # Without the login form's token, not even the password is checked.
        assert client.post("/ops/login", data={"operator": OPERATOR, "password": PASSWORD}).status_code == 403
    refused = [e for e in audit.read(demo.url, limit=100_000) if e["detail"] == "login refused"]
    assert refused and refused[-1]["client"] == f"operator:{OPERATOR}" and refused[-1]["outcome"] == "denied"


def test_an_approval_without_the_csrf_token_is_refused(demo: Demo) -> None:
    client, token = _logged_in(demo.base)
    with db.engine_for(demo.url).connect() as conn:
        drift_id = conn.execute(sa.select(sa.func.max(drift_log.c.id))).scalar()
        assert drift_id is not None
        for form in ({}, {"csrf": "0" * 32}):
            assert client.post(f"/ops/drift/{drift_id}/approve", data=form).status_code == 403
        assert conn.execute(sa.select(drift_log.c.status).where(drift_log.c.id == drift_id)).scalar() == "open"
        assert client.post("/ops/drift/999999/approve", data={"csrf": token}).headers["location"].startswith(
            "/ops/drift?msg=No+drift")
        page = client.get("/ops/")
        assert page.headers["content-security-policy"].startswith("default-src 'self'")
        assert "http://" not in re.sub(r'href="http://127\.0\.0\.1:8080/[^"]*"|xmlns="[^"]*"', "", page.text)
    client.close()


def test_the_quarantine_filters_by_rule_and_run_and_logout_ends_the_session(demo: Demo) -> None:
    client, token = _logged_in(demo.base)
    with db.engine_for(demo.url).connect() as conn:
        rule, run_id, count = conn.execute(
            sa.select(quarantine.c.rule, quarantine.c.run_id, sa.func.count()).group_by(quarantine.c.rule,
                                                                                     quarantine.c.run_id)
            .order_by(sa.func.count().desc())).first() or ("", "", 0)
    assert count
    page = client.get("/ops/quarantine", params={"rule": rule, "run_id": run_id, "status": ""}).text
    shown = re.findall(r'<td><code>([^<]+)</code></td><td class="reason">', page)
    assert len(shown) == count and set(shown) == {html.escape(rule)}
    assert f"{count:,} records" in page
    assert client.post("/ops/logout", data={"csrf": token}).headers["location"] == "/ops/login"
    assert client.get("/ops/").status_code == 303
    client.close()


def test_a_source_is_late_after_two_missed_hourly_runs(db_url: str, tmp_path: Path) -> None:
    url = db_url
    engine = db.engine_for(url)
    ensure_tables(engine, quality_metadata)
    now = datetime.now(UTC)

    def run(source: str, dataset: str, ago: timedelta, rows: int) -> dict[str, object]:
        return {"run_id": f"{dataset}-{ago}", "source": source, "dataset": dataset, "contract_version": 1,
                "started_at": now - ago, "seconds": 1.5, "rows_in": rows, "rows_valid": rows - 1,
                "rows_quarantined": 1, "tombstones": 0, "failure_rate": 1 / rows, "threshold": 0.05,
                "status": "passed", "rule_counts": "{}", "reference_misses": "{}", "drift": "[]"}

    db.create_system_tables(engine)
    with engine.begin() as conn:
        conn.execute(validation_runs.insert(), [
            run("business", "enterprises", timedelta(hours=5), 100),
            # a local `lienthong validate` 5 minutes ago: a validation run, nothing published
            run("business", "enterprises", timedelta(minutes=5), 90),
            run("land", "parcels", timedelta(hours=2), 50), run("land", "parcels", timedelta(minutes=10), 60)])
        # what publishing commits: the state of each stream, with its time
        conn.execute(db.sync_state.insert(), [
            {"source": "business", "stream": "enterprises", "state": {}, "updated_at": now - timedelta(hours=3)},
            {"source": "business", "stream": "branches", "state": {}, "updated_at": now - timedelta(hours=5)},
            {"source": "land", "stream": "parcels", "state": {}, "updated_at": now - timedelta(minutes=10)}])
    app = create_app(url, policy_from_dict({"clients": {}}), tmp_path / "data", services=ops_services())
    app.state.lienthong_ops = OpsState(operators={OPERATOR: hash_password(PASSWORD)})
    try:
        with serving(app) as base:
            client, _ = _logged_in(base)
            page = client.get("/ops/").text
            client.close()
    finally:
        app.state.lienthong.writer.close()
        app.state.lienthong.engine.dispose()
        engine.dispose()
    by_source = {source: state for state, source in re.findall(r'<tr class="source (late|fresh)" data-source="(\w+)"',
                                                               page)}
    assert by_source == {"business": "late", "land": "fresh", "construction": "late", "tax": "late"}
    assert "5 h ago" in page and "10 min ago" in page and "never" in page  # a source is as fresh as its stalest
    assert page.count("<polyline") == 6  # two datasets with two runs each, three charts each
