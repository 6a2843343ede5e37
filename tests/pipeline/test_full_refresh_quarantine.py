"""Bad input never changes what is published: a full refresh (or a reconciliation) whose new record of a key
is quarantined keeps the key's published row, in the table, its history, the snapshot and the lookup API,
and the quarantine keeps the bad record with its reason. A key that is really gone is still deleted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from agencies.testing import running_simulator
from pipeline.sync import StreamSummary, sync_source
from quality.store import quarantine
from schemas.contract import contract_for_stream
from sharing import db, snapshots
from sharing.spec import dataset_spec
from tests.pipeline.hostile import HostileProxy, hostile_proxy, source_file

pytestmark = pytest.mark.integration

KEYS, RECORDS = "/api/v1/permit-keys", "/api/v1/permits"
BAD_DATE = "not-a-date"  # the `date` transform of `issued_date` refuses it: the record is quarantined
RECORDS_N = 400


@dataclass
class Agency:
    proxy: HostileProxy
    source: str
    url: str
    data_dir: Path
    env: dict[str, str]

    def sync(self, **kw: bool) -> StreamSummary:
        (summary,) = sync_source(self.source, url=self.url, data_dir=self.data_dir, environ=self.env,
                                 streams=["permits"], **kw)  # type: ignore[arg-type]
        return summary

    def live(self) -> set[str]:
        return set(self.rows())

    def rows(self) -> dict[str, dict[str, Any]]:
        """The published rows by key, as the database holds them."""
        spec = dataset_spec(contract_for_stream("construction", "permits"))
        with db.engine_for(self.url).connect() as conn:
            table = snapshots.current_rows(conn, spec)
        return {r["permit_no"]: r for r in table.to_pylist()}

    def snapshot(self, version: int | None = None) -> dict[str, dict[str, Any]]:
        table = snapshots.read_version(self.data_dir, "permits", version)
        return {r["permit_no"]: r for r in table.to_pylist()}

    def quarantined(self, run_id: str) -> dict[str, str]:
        with db.engine_for(self.url).connect() as conn:
            found = conn.execute(sa.select(quarantine.c.record_key, quarantine.c.reason).where(
                quarantine.c.run_id == run_id, quarantine.c.status == "quarantined"))
            return {k: reason for k, reason in found}


@pytest.fixture(params=["sqlite", "postgresql"])
def agency(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Agency]:
    """Construction behind a rewriting proxy, synced once (v1). SQLite holds the chunks for the commit;
    PostgreSQL stages them, and the quarantined keys, in the run's transaction."""
    url = str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "empty_pg"))
    with running_simulator("construction", records=RECORDS_N, seed=6, tmp_dir=tmp_path / "sim") as sim, \
            hostile_proxy(sim.url) as proxy:
        a = Agency(proxy, str(source_file("construction", tmp_path)), url, tmp_path / "data",
                   {"LIENTHONG_AGENCY_CONSTRUCTION_URL": proxy.url})
        first = a.sync()
        assert first.error is None and first.published is not None and first.published.version == 1, first.line()
        yield a


def _records(change: Any) -> Any:
    """A rewrite of the record pages: `change(items)` returns the items served instead."""
    def rewrite(kind: str, body: bytes) -> tuple[str, bytes]:
        page = json.loads(body)
        return kind, json.dumps({**page, "items": change(page["items"])}).encode()
    return rewrite


def _lookup(a: Agency, investor_id: str) -> list[dict[str, Any]]:
    """The lookup API over loopback: the investor's permits as a client with clear access reads them."""
    from sharing.api.app import create_app
    from sharing.api.auth import hash_key
    from sharing.api.policy import policy_from_dict
    from tests.sharing.api.conftest import UNLIMITED, running_api

    policy = policy_from_dict({"anonymous_rate": UNLIMITED, "clients": {"reader": {
        "key_sha256": hash_key("lt_test_reader_key"), "rate": UNLIMITED,
        "grants": [{"dataset": "permits", "columns": "*", "clear": ["personal", "sensitive"],
                    "purposes": ["inspection"]}]}}})
    app = create_app(a.url, policy, a.data_dir)
    try:
        with running_api(app) as base, httpx.Client(base_url=base, timeout=30) as client:
            reply = client.get("/v1/permits", params={"investor_id": investor_id},
                               headers={"X-API-Key": "lt_test_reader_key", "X-Purpose": "inspection"})
            assert reply.status_code == 200, reply.text
            permits: list[dict[str, Any]] = reply.json()["data"]["permits"]
            return permits
    finally:
        app.state.lienthong.writer.close()
        app.state.lienthong.engine.dispose()


def test_a_full_refresh_keeps_the_published_row_of_a_quarantined_record(agency: Agency) -> None:
    a = agency
    v1 = a.rows()
    ordered = sorted(v1)
    # 30 of 400 records arrive invalid (7.5%: over the 5% delete share a deletion of them would hold the
    # run, under the 10% failure threshold); one record is really gone at the source.
    bad = set(ordered[2::len(ordered) // 31][:30])
    gone = ordered[1]
    assert len(bad) == 30 and gone not in bad

    def corrupt(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**r, "issued_date": BAD_DATE} if r["permit_no"] in bad else r
                for r in items if r["permit_no"] != gone]

    a.proxy.rewrite[RECORDS] = _records(corrupt)
    summary = a.sync(full_refresh=True)
    assert a.proxy.served.get(RECORDS)
    # published, not held: the quarantined keys are not deletes
    assert summary.error is None and "hold" not in summary.extra, summary.line()
    p = summary.published
    assert p is not None and summary.quarantined == 30, summary.line()
    assert (p.version, p.deleted, p.kept, p.inserted, p.updated) == (2, 1, 30, 0, 0), summary.line()

    # the table: every key but the gone one, the bad ones with their v1 values
    assert a.live() == set(v1) - {gone}
    now = a.rows()
    assert {k: now[k] for k in bad} == {k: v1[k] for k in bad}
    # their history: still the one row of v1, never closed
    quote = db.engine_for(a.url).dialect.identifier_preparer.quote
    with db.engine_for(a.url).connect() as conn:
        history = conn.execute(sa.text(
            f"SELECT permit_no, version_from, version_to, is_deleted FROM {quote('ds_permits')} "  # noqa: S608
            "WHERE permit_no IN :keys").bindparams(sa.bindparam("keys", expanding=True)), {"keys": sorted(bad)}).all()
    assert sorted(history) == sorted((k, 1, None, False) for k in bad)
    # the snapshot equals the database, and keeps the bad keys' v1 rows
    assert a.snapshot() == now and snapshots.current_version(a.data_dir, "permits") == 2
    assert {k: a.snapshot()[k] for k in bad} == {k: a.snapshot(1)[k] for k in bad}
    # the quarantine keeps each bad record with its reason
    held = a.quarantined(summary.run_id)
    assert {k.replace("-", "") for k in held} == {k.replace("-", "") for k in bad}
    assert all("issued_date" in reason and BAD_DATE in reason for reason in held.values()), held
    # the lookup API answers a bad key with its published values
    key = sorted(bad)[0]
    answers = {r["permit_no"]: r for r in _lookup(a, v1[key]["investor_id"])}
    assert answers[key]["issued_date"] == v1[key]["issued_date"].isoformat(), answers[key]


def test_a_full_refresh_still_deletes_what_is_gone_and_not_quarantined(agency: Agency) -> None:
    """Without bad records the same refresh deletes: the mass delete of 30 absent keys is held, as before."""
    a = agency
    v1 = a.rows()
    missing = set(sorted(v1)[2::len(v1) // 31][:30])
    assert len(missing) == 30
    a.proxy.rewrite[RECORDS] = _records(lambda items: [r for r in items if r["permit_no"] not in missing])
    held = a.sync(full_refresh=True)
    assert held.extra.get("hold") and held.error is not None, held.line()
    assert f"would delete 30 of {len(v1)}" in held.error, held.error
    assert a.live() == set(v1)
    from pipeline.holds import release

    released = release(a.url, a.data_dir, str(held.extra["hold"]))
    assert (released.deleted, released.kept) == (30, 0)
    assert a.live() == set(v1) - missing
    assert a.snapshot() == a.rows()


def test_a_held_full_refresh_released_later_keeps_the_quarantined_keys(agency: Agency) -> None:
    """Held for another reason (a real mass delete), then released from its files: the bad keys stay."""
    a = agency
    v1 = a.rows()
    ordered = sorted(v1)
    step = len(ordered) // 31
    bad, missing = set(ordered[2::step][:15]), set(ordered[3::step][:30])
    assert (len(bad), len(missing)) == (15, 30)

    def change(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**r, "issued_date": BAD_DATE} if r["permit_no"] in bad else r
                for r in items if r["permit_no"] not in missing]

    a.proxy.rewrite[RECORDS] = _records(change)
    held = a.sync(full_refresh=True)
    assert held.extra.get("hold") and held.error is not None, held.line()
    assert f"would delete {len(missing)} of {len(v1)}" in held.error, held.error  # the bad keys not counted
    from pipeline.holds import release

    released = release(a.url, a.data_dir, str(held.extra["hold"]))
    assert (released.deleted, released.kept) == (len(missing), len(bad))
    assert a.live() == set(v1) - missing
    now = a.rows()
    assert {k: now[k] for k in bad} == {k: v1[k] for k in bad}
    assert a.snapshot() == now


def test_a_reconciliation_does_not_delete_a_listed_key_whose_record_is_quarantined(agency: Agency) -> None:
    """Incremental, reconciling: B changed and arrived invalid but is listed (kept as published); D is no
    longer listed (deleted)."""
    a = agency
    v1 = a.rows()
    ordered = sorted(v1)
    b, d, touched = ordered[5], ordered[6], set(ordered[10:30])
    raw: dict[str, dict[str, Any]] = {}

    def capture(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        raw.update({r["permit_no"]: r for r in items if r["permit_no"] in touched | {b}})
        return items

    a.proxy.rewrite[RECORDS] = _records(capture)
    a.sync(full_refresh=True)  # nothing changed at the source: reads the raw records used below
    assert set(raw) == touched | {b}
    # after the cursor: 20 records touched (a new updated_at), and a newer B that is invalid
    later = "2099-01-01T00:00:00Z"
    newer = [{**raw[k], "updated_at": later} for k in sorted(touched)]
    newer.append({**raw[b], "issued_date": BAD_DATE, "updated_at": later})
    served: list[int] = []

    def feed(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        served.append(1)
        return [*items, *newer] if len(served) == 1 else items

    a.proxy.rewrite[RECORDS] = _records(feed)

    def unlisted(kind: str, body: bytes) -> tuple[str, bytes]:
        page = json.loads(body)
        return kind, json.dumps({**page, "items": [k for k in page["items"] if k != d]}).encode()

    a.proxy.rewrite[KEYS] = unlisted
    summary = a.sync(reconcile=True)
    assert summary.error is None and summary.extra.get("reconciled"), summary.line()
    assert summary.quarantined == 1 and summary.published is not None, summary.line()
    assert (summary.published.deleted, summary.published.updated) == (1, 20), summary.line()
    assert a.live() == set(v1) - {d}
    assert a.rows()[b] == v1[b] and a.snapshot() == a.rows()
    assert [k.replace("-", "") for k in a.quarantined(summary.run_id)] == [b.replace("-", "")]

