"""Data provision through the API, against the construction simulator's state at each sync: as-of lookups,
the change feed (resumed after its client is killed), subscriptions under the grant, the data subject's view."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from agencies.testing import running_simulator
from agencies.truth import truth_rows
from pipeline.sync import sync_source
from sharing import db
from sharing.api.app import create_app
from sharing.api.audit import audit_log
from sharing.api.auth import hash_key
from sharing.api.policy import policy_from_dict
from tests.sharing.api.conftest import UNLIMITED, key, running_api

pytestmark = pytest.mark.integration

GRANT = {"dataset": "permits", "columns": "*"}
CLIENTS: dict[str, dict[str, Any]] = {
    "reader": {"grants": [{**GRANT, "clear": ["personal", "sensitive"], "purposes": ["inspection"]}],
               "callbacks": ["http://127.0.0.1:9/hook"]},
    "masked": {"grants": [{**GRANT, "clear": [], "purposes": ["statistics"]}]},
    "clerk": {"grants": [{**GRANT, "clear": [], "purposes": ["data_subject_request"]}]},
    "auditor": {"auditor": True, "grants": []},
}


def _norm(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z]", "", text)


@dataclass
class World:
    url: str
    api: httpx.Client
    truth: list[dict[str, str]]  # per version: permit key -> investor id, as the simulator held them


def _headers(client: str, purpose: str) -> dict[str, str]:
    return {"X-API-Key": key(client), "X-Purpose": purpose}


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[World]:
    truth = []
    with running_simulator("construction", records=150, seed=21, tmp_dir=tmp_path / "sim") as sim:
        env = {**os.environ, "LIENTHONG_AGENCY_CONSTRUCTION_URL": sim.url}
        for round_no in range(3):
            if round_no:
                sim.sim.store.advance(240)
            summaries = sync_source("construction", url=db_url, data_dir=tmp_path / "data", environ=env)
            assert all(s.error is None for s in summaries), [s.line() for s in summaries]
            assert summaries[0].published is not None and summaries[0].published.version == round_no + 1
            truth.append({_norm(r["_key"]): _norm(r["investor_id"] or "") for r in truth_rows(sim.sim, "permits")
                          if not r["_deleted"]})
    assert truth[0] != truth[1] != truth[2], "the simulator did not change between syncs"
    policy = policy_from_dict({"anonymous_rate": UNLIMITED, "clients": {
        name: {"key_sha256": hash_key(key(name)), "rate": UNLIMITED, **spec} for name, spec in CLIENTS.items()}})
    app = create_app(db_url, policy, tmp_path / "data")
    with running_api(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        yield World(db_url, client, truth)
    app.state.lienthong.writer.close()
    app.state.lienthong.engine.dispose()
    db.engine_for(db_url).dispose()


def _feed(api: httpx.Client, since: str, client: str = "reader", purpose: str = "inspection",
          limit: int = 37) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"since": since, "limit": limit, **({"cursor": cursor} if cursor else {})}
        answer = api.get("/v1/datasets/permits/changes", params=params, headers=_headers(client, purpose))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        out.extend(body["changes"])
        if not body["has_more"]:
            return out
        cursor = body["next_cursor"]


def _state(changes: list[dict[str, Any]], upto: int, start: dict[str, str] | None = None) -> dict[str, str]:
    state = dict(start or {})
    for c in changes:
        if c["version"] > upto:
            break
        permit = _norm(c["key"][-1])  # the key is (source, permit_no): several sources feed permits
        if c["op"] == "delete":
            assert permit in state
            del state[permit]
        else:
            assert (permit in state) == (c["op"] == "update"), c
            state[permit] = _norm(c["row"]["investor_id"] or "")
    return state


def test_as_of_lookups_and_the_change_feed_equal_the_simulator_at_each_sync(world: World) -> None:
    changes = _feed(world.api, "0")
    order = [(c["version"], c["key"]) for c in changes]
    assert order == sorted(order) and len(set(map(str, order))) == len(order)
    versions = world.api.get("/v1/datasets/permits/versions", headers=_headers("reader", "inspection")).json()
    published = {v["version"]: datetime.fromisoformat(v["published_at"].replace("Z", "+00:00"))
                 for v in versions["versions"]}
    for v, expected in enumerate(world.truth, 1):
        assert _state(changes, v) == expected, f"the feed replayed to v{v} differs from the simulator then"
        # Only what changed since v, replayed on v's state, is the newest state.
        assert _state(_feed(world.api, str(v)), 99, expected) == world.truth[-1]
        investors = sorted({i for i in expected.values() if i})[:3]
        for investor in investors:
            want = {p for p, i in expected.items() if i == investor}
            for as_of in (str(v), (published[v] + timedelta(microseconds=1)).isoformat()):
                answer = world.api.get("/v1/permits", params={"investor_id": investor, "as_of": as_of, "limit": 200},
                                       headers=_headers("reader", "inspection"))
                assert answer.status_code == 200, answer.text
                body = answer.json()
                assert body["datasets"]["permits"]["version"] == v
                assert {_norm(r["permit_no"]) for r in body["data"]["permits"]} == want, (v, as_of, investor)
    before = (published[1] - timedelta(days=1)).isoformat()
    early = world.api.get("/v1/permits", params={"investor_id": "0100109106", "as_of": before},
                          headers=_headers("reader", "inspection"))
    assert early.status_code == 404 and "had a version yet" in early.json()["detail"]
    bad = world.api.get("/v1/permits", params={"investor_id": "0100109106", "as_of": "9"},
                        headers=_headers("reader", "inspection"))
    assert bad.status_code == 404 and "versions 1..3" in bad.json()["detail"]


def test_what_retention_pruned_is_refused_with_410_never_answered_from_what_is_left(
        world: World, tmp_path: Path) -> None:
    from schemas.contract import Retention
    from sharing.retention import prune

    versions = world.api.get("/v1/datasets/permits/versions", headers=_headers("reader", "inspection")).json()
    published = {v["version"]: datetime.fromisoformat(v["published_at"].replace("Z", "+00:00"))
                 for v in versions["versions"]}
    assert prune(world.url, tmp_path / "data", "permits", Retention(versions=2)).keep_from == 2
    for since in ("0", "1", (published[1] + timedelta(microseconds=1)).isoformat()):
        gone = world.api.get("/v1/datasets/permits/changes", params={"since": since},
                             headers=_headers("reader", "inspection"))
        assert gone.status_code == 410, (since, gone.text)
        problem = gone.json()
        assert problem["type"] == "urn:lienthong:problem:version-pruned", problem
        assert "keeps versions from 2" in problem["detail"], problem
    assert _state(_feed(world.api, "2"), 99, world.truth[1]) == world.truth[-1]  # from the window: whole
    investor = sorted({i for i in world.truth[1].values() if i})[0]
    for as_of, status in (("1", 410), ((published[1] + timedelta(microseconds=1)).isoformat(), 410), ("2", 200)):
        answer = world.api.get("/v1/permits", params={"investor_id": investor, "as_of": as_of, "limit": 200},
                               headers=_headers("reader", "inspection"))
        assert answer.status_code == status, (as_of, answer.text)
    assert {_norm(r["permit_no"]) for r in answer.json()["data"]["permits"]} == {
        p for p, i in world.truth[1].items() if i == investor}


def test_the_feed_is_masked_by_the_grant_and_refused_without_one(world: World) -> None:
    clear = _feed(world.api, "0")
    masked = _feed(world.api, "0", client="masked", purpose="statistics")
    assert [(c["version"], c["key"], c["op"]) for c in clear] == [(c["version"], c["key"], c["op"]) for c in masked]
    shown = [c["row"]["investor_id"] for c in clear if c["row"]["investor_id"]]
    hidden = [c["row"]["investor_id"] for c in masked if c["row"]["investor_id"]]
    assert shown and hidden and not set(shown) & set(hidden) and all("*" in h for h in hidden)
    refused = world.api.get("/v1/datasets/permits/changes", headers=_headers("auditor", "inspection"))
    assert refused.status_code == 403
    forged = world.api.get("/v1/datasets/permits/changes", params={"cursor": "eyJ4Ijox.fake"},
                           headers=_headers("reader", "inspection"))
    assert forged.status_code == 400 and forged.json()["type"].endswith("bad-cursor")


_CLIENT = """
import json, sys, time, httpx
base, key, out = sys.argv[1], sys.argv[2], sys.argv[3]
cursor = None
with httpx.Client(base_url=base, timeout=30) as api, open(out, "a") as log:
    while True:
        params = {"since": "0", "limit": 20, **({"cursor": cursor} if cursor else {})}
        body = api.get("/v1/datasets/permits/changes", params=params,
                       headers={"X-API-Key": key, "X-Purpose": "inspection"}).json()
        log.write(json.dumps({"changes": body["changes"], "next": body["next_cursor"]}) + "\\n")
        log.flush()
        if not body["has_more"]:
            break
        cursor = body["next_cursor"]
        time.sleep(0.3)
"""


def test_a_feed_client_killed_mid_feed_resumes_without_gaps_or_repeats(world: World, tmp_path: Path) -> None:
    out = tmp_path / "pages.jsonl"
    child = subprocess.Popen([sys.executable, "-c", _CLIENT, str(world.api.base_url), key("reader"), str(out)],
                             start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not out.exists() or len(out.read_text().splitlines()) < 3):
            time.sleep(0.05)
        os.killpg(child.pid, signal.SIGKILL)
    finally:
        child.wait(10)
    pages = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    assert len(pages) >= 3 and pages[-1]["next"], "the client finished before it was killed"
    got = [c for p in pages for c in p["changes"]]
    cursor = pages[-1]["next"]
    while cursor:  # the resumed reader: from the last cursor the killed client kept
        body = world.api.get("/v1/datasets/permits/changes", params={"since": "0", "limit": 20, "cursor": cursor},
                             headers=_headers("reader", "inspection")).json()
        got.extend(body["changes"])
        cursor = body["next_cursor"]
    assert got == _feed(world.api, "0", limit=1000)


def test_subscriptions_stay_within_the_grant(world: World) -> None:
    api = world.api
    made = api.post("/v1/subscriptions", headers=_headers("reader", "inspection"),
                    json={"dataset": "permits", "callback_url": "http://127.0.0.1:9/hook", "filter": {"floors": 3}})
    assert made.status_code == 201, made.text
    assert len(made.json()["secret"]) == 64
    listed = api.get("/v1/subscriptions", headers=_headers("reader", "inspection")).json()["subscriptions"]
    assert [s["id"] for s in listed] == [made.json()["id"]] and "secret" not in listed[0]
    # A filter on a column the grant masks would tell the subscriber about values it may not see.
    masked = api.post("/v1/subscriptions", headers=_headers("masked", "statistics"),
                      json={"dataset": "permits", "callback_url": "http://127.0.0.1:9/hook",
                            "filter": {"investor_id": "0100109106"}})
    assert masked.status_code == 422 and "not in your grant" in masked.json()["detail"]
    # Callbacks only where the policy declares them: else any client could aim our deliverer at the
    # database port or another agency's internal service.
    for hostile in ("http://127.0.0.1:5432/hook", "http://127.0.0.1:9/hookx", "http://10.0.0.7/hook"):
        refused = api.post("/v1/subscriptions", headers=_headers("reader", "inspection"),
                           json={"dataset": "permits", "callback_url": hostile})
        assert refused.status_code == 422 and "not under a callback declared" in refused.json()["detail"], hostile
    undeclared = api.post("/v1/subscriptions", headers=_headers("clerk", "data_subject_request"),
                          json={"dataset": "permits", "callback_url": "http://127.0.0.1:9/hook"})
    assert undeclared.status_code == 422 and "an operator adds `callbacks:`" in undeclared.json()["detail"]
    other = api.post("/v1/subscriptions", headers=_headers("reader", "inspection"),
                     json={"dataset": "enterprises", "callback_url": "http://127.0.0.1:9/hook"})
    assert other.status_code == 403
    assert api.get("/v1/subscriptions", headers=_headers("masked", "statistics")).json()["subscriptions"] == []
    gone = api.delete(f"/v1/subscriptions/{made.json()['id']}", headers=_headers("masked", "statistics"))
    assert gone.status_code == 404  # another client's subscription
    assert api.delete(f"/v1/subscriptions/{made.json()['id']}", headers=_headers("reader", "inspection")
                      ).status_code == 204


def test_the_data_subject_report_lists_exactly_the_lookups_that_returned_that_subject(world: World) -> None:
    api = world.api
    investors = sorted({i for i in world.truth[-1].values() if len(i) == 12})  # citizen IDs
    person, other = investors[0], investors[1]
    seen: list[tuple[str, str]] = []
    for client, purpose, who in [("reader", "inspection", person), ("masked", "statistics", person),
                                 ("reader", "inspection", other), ("reader", "inspection", person)]:
        answer = api.get("/v1/permits", params={"investor_id": who}, headers=_headers(client, purpose))
        assert answer.status_code == 200 and answer.json()["data"]["permits"]
        if who == person:
            seen.append((client, purpose))
    # A lookup that found nothing disclosed nobody.
    assert api.get("/v1/permits", params={"investor_id": "079999999999"},
                   headers=_headers("reader", "inspection")).json()["data"]["permits"] == []
    report = api.get(f"/v1/audit/subjects/{person}", headers=_headers("auditor", "audit"))
    assert report.status_code == 200, report.text
    lookups = report.json()["lookups"]
    assert [(e["client"], e["purpose"]) for e in lookups] == seen
    assert all(e["intact"] and e["endpoint"] == "/v1/permits" for e in lookups)
    clerk = api.get(f"/v1/audit/subjects/{person}", headers=_headers("clerk", "data_subject_request"))
    assert clerk.status_code == 200
    assert [(e["client"], e["purpose"]) for e in clerk.json()["lookups"]] == [*seen, ("auditor", "audit")]
    refused = api.get(f"/v1/audit/subjects/{person}", headers=_headers("reader", "inspection"))
    assert refused.status_code == 403
    with db.engine_for(world.url).connect() as conn:
        stored = conn.execute(sa.select(audit_log.c.endpoint, audit_log.c.params, audit_log.c.subjects,
                                        audit_log.c.detail, audit_log.c.context)).all()
    assert not any(person in str(value) for row in stored for value in row), "the identifier is stored in clear"


@pytest.mark.unit
def test_a_refusal_names_what_was_asked_why_and_its_legal_basis(tmp_path: Path) -> None:
    """The example policy's refusal, through the real app (SQLite), in Vietnamese and English."""
    from fastapi.testclient import TestClient

    from sharing.api.policy import load_policy
    from tests.sharing.api.test_policy import EXAMPLE

    policy = load_policy(EXAMPLE)
    app = create_app(f"sqlite:///{tmp_path / 'lt.db'}", policy, tmp_path / "data")
    try:
        with TestClient(app) as client:
            got = client.get("/v1/permits", params={"investor_id": "0100109106"},
                             headers={"X-API-Key": "lt_example_tax_office", "X-Purpose": "tax_assessment"})
            assert got.status_code == 403
            body = got.json()
            refusal = body["refusal"]
            assert refusal["asked"] == "GET /v1/permits" and refusal["purpose"] == "tax_assessment"
            assert "permits" in refusal["reason"]["vi"] and "permits" in refusal["reason"]["en"]
            assert refusal["legal_basis"]["document"].startswith("Nghị định 13/2023")
            assert refusal["purpose_basis"]["document"].startswith("Luật Quản lý thuế")
    finally:
        app.state.lienthong.writer.close()
    with db.engine_for(f"sqlite:///{tmp_path / 'lt.db'}").connect() as conn:
        entry = conn.execute(sa.select(audit_log.c.outcome, audit_log.c.context).order_by(audit_log.c.seq.desc())
                             ).first()
    assert entry is not None and entry.outcome == "denied"
    assert "Nghị định 13/2023" in json.loads(entry.context)["refusal_basis"]
