"""Notifications are written with the version they announce and delivered at least once, signed, across
a killed deliverer and a subscriber that fails for a while; the ones that never get through are dead letters."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from sharing import db, deliver, subscriptions
from sharing.publish import publish
from tests.sharing.test_publish import SPEC, rows

pytestmark = pytest.mark.integration

KEYS = "w1=" + "c3" * 32  # tests/conftest.py sets the same ring


class Subscriber:
    """A real HTTP endpoint on loopback: fails the first `fail_first` requests, holds the `hold_at`-th."""

    def __init__(self, fail_first: int = 0, hold_at: int | None = None, always_fail: bool = False) -> None:
        self.received: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.held = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                with outer.lock:
                    n = len(outer.received) + 1
                    outer.received.append({"headers": {k.lower(): v for k, v in self.headers.items()},
                                           "body": body, "n": n})
                if hold_at is not None and n == hold_at:
                    outer.held.set()
                    time.sleep(30)  # the deliverer is killed while it waits for this answer
                status = 500 if always_fail or n <= fail_first else 204
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("LIENTHONG_SIGNING_KEYS", KEYS)
    return KEYS


def _outbox(url: str) -> list[dict[str, Any]]:
    with db.engine_for(url).connect() as conn:
        o = subscriptions.outbox
        return [dict(r) for r in conn.execute(sa.select(o).order_by(o.c.version, o.c.subscription_id)).mappings()]


def _publish(url: str, data_dir: Path, version_rows: list[list[tuple[str, str, str]]]) -> None:
    for batch in version_rows:
        publish(url, SPEC, [rows(*batch)], data_dir=data_dir)


def _deliverer(url: str) -> subprocess.Popen[bytes]:
    code = (
        "import datetime, sqlalchemy as sa; from sharing import deliver, db; "
        f"deliver.run(db.engine_for({url!r}), interval=0.05, lease=datetime.timedelta(seconds=2), "
        "delay=lambda n: 0.2, timeout=60)"
    )
    return subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "LIENTHONG_SIGNING_KEYS": KEYS},
                            start_new_session=True)


@pytest.fixture
def subscriber() -> Iterator[Subscriber]:
    sub = Subscriber(fail_first=3, hold_at=5)
    yield sub
    sub.close()


def test_notifications_commit_with_their_version_and_survive_a_killed_deliverer(
        db_url: str, tmp_path: Path, keys: str, subscriber: Subscriber) -> None:
    engine = db.engine_for(db_url)
    _publish(db_url, tmp_path, [[("P1", "10.00", "31")]])  # before anyone subscribed: announced to no one
    everything = subscriptions.register(engine, client="tax", dataset=SPEC.name, callback_url=subscriber.url)
    hanoi = subscriptions.register(engine, client="tax", dataset=SPEC.name, callback_url=subscriber.url,
                                   filter={"province_code": "01"}, allowed_columns=set(SPEC.schema.names))
    _publish(db_url, tmp_path, [
        [("P1", "11.00", "31"), ("P2", "20.00", "31")],   # v2: nothing in 01
        [("P3", "30.00", "01")],                          # v3: a row in 01
        [("P1", "11.00", "31"), ("P3", "31.00", "01")],   # v4: 01 changed again
        [("P2", "21.00", "31")],                          # v5: nothing in 01
    ])
    notes = _outbox(db_url)
    assert [(n["version"], n["subscription_id"]) for n in notes] == sorted(
        [(v, everything.id) for v in (2, 3, 4, 5)] + [(v, hanoi.id) for v in (3, 4)])

    first = _deliverer(db_url)
    try:
        assert subscriber.held.wait(60), "the deliverer never reached the held request"
        os.killpg(first.pid, signal.SIGKILL)  # killed with the 5th request sent and unanswered
        first.wait(10)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    held_id = subscriber.received[4]["headers"]["webhook-id"]
    second = _deliverer(db_url)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if all(n["status"] == "delivered" for n in _outbox(db_url)):
                break
            time.sleep(0.2)
    finally:
        os.killpg(second.pid, signal.SIGKILL)
        second.wait(10)
    notes = _outbox(db_url)
    assert all(n["status"] == "delivered" for n in notes), [(n["id"], n["status"], n["last_error"]) for n in notes]

    secrets = {everything.id: bytes.fromhex(everything.secret), hanoi.id: bytes.fromhex(hanoi.secret)}
    by_id: dict[str, list[dict[str, Any]]] = {}
    for got in subscriber.received:
        payload = json.loads(got["body"])
        assert deliver.verify(secrets[payload["subscription"]], got["headers"], got["body"]), got["headers"]
        assert got["headers"]["idempotency-key"] == got["headers"]["webhook-id"] == payload["id"]
        by_id.setdefault(payload["id"], []).append(payload)
    assert set(by_id) == {n["id"] for n in notes}, "a notification was never sent"
    assert len(by_id[held_id]) >= 2, "the request the killed deliverer never saw answered was not sent again"
    for n in notes:
        assert all(p == json.loads(n["payload"]) for p in by_id[n["id"]]), "a retry changed the payload"
        assert json.loads(n["payload"])["changes_url"] == f"/v1/datasets/{SPEC.name}/changes?since={n['version'] - 1}"
    # A forged or stale signature does not verify.
    sample = subscriber.received[-1]
    assert not deliver.verify(b"another secret", sample["headers"], sample["body"])
    assert not deliver.verify(secrets[everything.id], sample["headers"], sample["body"] + b" ")


def test_a_failed_publish_announces_nothing(db_url: str, tmp_path: Path, keys: str) -> None:
    engine = db.engine_for(db_url)
    _publish(db_url, tmp_path, [[("P1", "10.00", "31")]])
    subscriptions.register(engine, client="tax", dataset=SPEC.name, callback_url="http://127.0.0.1:9/hook")

    def boom(_conn: Any, _result: Any) -> None:
        raise RuntimeError("the run failed before its commit")

    with pytest.raises(RuntimeError, match="before its commit"):
        publish(db_url, SPEC, [rows(("P1", "12.00", "31"))], data_dir=tmp_path, in_transaction=boom)
    assert _outbox(db_url) == []


def test_notifications_that_never_get_through_are_dead_letters_and_can_be_replayed(
        sqlite_url: str, tmp_path: Path, keys: str) -> None:
    engine = db.engine_for(sqlite_url)
    failing = Subscriber(always_fail=True)
    try:
        _publish(sqlite_url, tmp_path, [[("P1", "10.00", "31")]])
        subscriptions.register(engine, client="tax", dataset=SPEC.name, callback_url=failing.url)
        _publish(sqlite_url, tmp_path, [[("P1", "11.00", "31")]])
        now = [datetime.now(UTC)]
        with httpx.Client(timeout=5) as client:
            for _ in range(3):
                done = deliver.deliver_due(engine, client, max_attempts=3, clock=lambda: now[0])
                assert done.claimed == 1
                now[0] += timedelta(hours=1)  # past any backoff
        dead = deliver.dead_letters(engine)
        assert [(d["version"], d["attempts"], d["last_error"]) for d in dead] == [(2, 3, "HTTP 500")]
        assert len(failing.received) == 3
    finally:
        failing.close()
    ok = Subscriber()
    try:
        with engine.begin() as conn:
            conn.execute(subscriptions.subscriptions.update().values(callback_url=ok.url))
        assert deliver.replay(engine, dead[0]["id"])
        with httpx.Client(timeout=5) as client:
            assert deliver.deliver_due(engine, client).delivered == 1
        assert deliver.dead_letters(engine) == []
        assert len(ok.received) == 1
    finally:
        ok.close()


@pytest.mark.unit
def test_registration_refuses_what_it_cannot_honour(sqlite_url: str, keys: str) -> None:
    engine = db.engine_for(sqlite_url)
    with pytest.raises(subscriptions.SubscriptionError, match="http"):
        subscriptions.register(engine, client="tax", dataset="d", callback_url="ftp://x/")
    with pytest.raises(subscriptions.SubscriptionError, match="credentials"):
        subscriptions.register(engine, client="tax", dataset="d", callback_url="https://u:p@x.example/")
    with pytest.raises(subscriptions.SubscriptionError, match="bad port"):
        subscriptions.register(engine, client="tax", dataset="d", callback_url="https://x.example:99999/")
    declared = ["https://dossier.example.gov.vn/hooks/"]
    for lookalike in ("https://dossier.example.gov.vn.evil.example/hooks/lt", "https://dossier.example.gov.vn/hooksx",
                      "http://dossier.example.gov.vn/hooks/lt", "https://dossier.example.gov.vn:8443/hooks/lt",
                      "https://other.example.gov.vn/hooks/lt"):
        with pytest.raises(subscriptions.SubscriptionError, match="not under a callback declared"):
            subscriptions.register(engine, client="tax", dataset="d", callback_url=lookalike,
                                   allowed_callbacks=declared)
    for fine in ("https://DOSSIER.example.gov.vn/hooks/lt", "https://dossier.example.gov.vn:443/hooks/a/b"):
        subscriptions.register(engine, client="tax", dataset="d", callback_url=fine, allowed_callbacks=declared)
    with pytest.raises(subscriptions.SubscriptionError, match="not in your grant"):
        subscriptions.register(engine, client="tax", dataset="d", callback_url="https://x.example/",
                               filter={"holder_name": "A"}, allowed_columns={"province_code"})
