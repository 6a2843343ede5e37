"""Held runs: an agency that answers well-formed but wrong (half its keys gone, a quarter of its records)
is held with its data and cursor, reported, and published or discarded by a person, exactly once."""

from __future__ import annotations

import getpass
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from agencies.testing import SimulatorHandle, running_simulator
from pipeline.sync import StreamSummary, sync_source
from sharing import db, holds, snapshots
from sharing.publish import read_state
from tests.pipeline.hostile import HostileProxy, hostile_proxy, source_file
from tests.pipeline.test_sync import published_keys, truth_keys

pytestmark = pytest.mark.integration

KEYS, RECORDS = "/api/v1/permit-keys", "/api/v1/permits"


def drop_half_the_keys(kind: str, body: bytes) -> tuple[str, bytes]:
    """A listing that lost every other key (a filter that stopped working): well-formed, wrong."""
    page = json.loads(body)
    return kind, json.dumps({**page, "items": page["items"][::2]}).encode()


def quarter_of_the_records(kind: str, body: bytes) -> tuple[str, bytes]:
    page = json.loads(body)
    return kind, json.dumps({**page, "items": page["items"][: len(page["items"]) // 4]}).encode()


@dataclass
class Agency:
    sim: SimulatorHandle
    proxy: HostileProxy
    source: str
    url: str
    data_dir: Path
    env: dict[str, str]

    def sync(self, **kw: bool) -> StreamSummary:
        (summary,) = sync_source(self.source, url=self.url, data_dir=self.data_dir, environ=self.env,
                                 streams=["permits"], **kw)  # type: ignore[arg-type]
        return summary

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "LIENTHONG_DATABASE_URL": self.url, "LIENTHONG_DATA_DIR": str(self.data_dir)}
        lienthong = Path(sys.executable).with_name("lienthong")
        return subprocess.run([str(lienthong), *args], env=env, capture_output=True, text=True, timeout=120,
                              check=False)

    def live(self) -> set[str]:
        return published_keys(self.url, "permits", ("permit_no",))


@pytest.fixture(params=["sqlite", "postgresql"])
def agency(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Agency]:
    """Construction behind a hostile proxy, synced once. SQLite holds chunks for the commit; PostgreSQL
    stages them in the run's transaction, and a held run's rows are read back from that stage."""
    url = str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "empty_pg"))
    with running_simulator("construction", records=400, seed=6, tmp_dir=tmp_path / "sim") as sim, \
            hostile_proxy(sim.url) as proxy:
        env = {"LIENTHONG_AGENCY_CONSTRUCTION_URL": proxy.url}
        a = Agency(sim, proxy, str(source_file("construction", tmp_path)), url, tmp_path / "data", env)
        first = a.sync()
        assert first.error is None and first.published is not None, first.line()
        yield a


def _hold_half_the_keys(a: Agency) -> tuple[str, set[str]]:
    before, version, state = a.live(), snapshots.current_version(a.data_dir, "permits"), read_state(
        a.url, "construction", "permits")
    a.proxy.rewrite[KEYS] = drop_half_the_keys
    summary = a.sync()
    hold_id = summary.extra.get("hold")
    assert hold_id and summary.published is None, summary.line()
    assert summary.error is not None and summary.error.startswith(f"HELD for review as hold {hold_id}: ")
    assert "would delete" in summary.error and "over the declared 5.0%" in summary.error, summary.error
    # Nothing moved: rows, snapshot, cursor.
    assert a.live() == before and snapshots.current_version(a.data_dir, "permits") == version
    assert read_state(a.url, "construction", "permits") == state
    return str(hold_id), before


def test_a_mass_delete_is_held_then_released_once_by_a_person(agency: Agency) -> None:
    a = agency
    hold_id, before = _hold_half_the_keys(a)
    # The stream does not move while a person decides, and says why.
    again = a.sync()
    assert again.published is None and again.error is not None and f"hold {hold_id}" in again.error, again.line()
    listed = a.cli("holds", "list")
    assert listed.returncode == 0 and hold_id in listed.stdout and "would delete" in listed.stdout, listed
    shown = json.loads(a.cli("holds", "show", hold_id, "--json").stdout)
    assert shown["status"] == "held" and shown["counts"]["deleted"] >= len(before) // 3, shown
    # Survives a restart: a fresh process sees it (the CLI above), and its staged files are on disk.
    assert list((a.data_dir / "holds" / hold_id).glob("part-*.parquet"))

    released = a.cli("holds", "release", hold_id, "--note", "the agency confirms the removals")
    assert released.returncode == 0, released.stderr
    assert f"released hold {hold_id}: permits v2" in released.stdout
    deleted = shown["counts"]["deleted"]
    assert len(a.live()) == len(before) - deleted + shown["counts"]["inserted"]
    twice = a.cli("holds", "release", hold_id)
    assert twice.returncode == 1 and "already released" in twice.stderr and "Traceback" not in twice.stderr
    assert snapshots.current_version(a.data_dir, "permits") == 2
    hold = holds.get_hold(a.url, hold_id)
    assert hold.status == "released" and hold.decided_by == getpass.getuser() and hold.published_version == 2
    with db.engine_for(a.url).connect() as conn:
        entries = conn.execute(sa.text("SELECT client, endpoint, params FROM lt_audit_log")).all()
    assert [(e.client, e.endpoint) for e in entries] == [(getpass.getuser(), "holds release")]
    assert hold_id in entries[0].params


@pytest.mark.parametrize("agency", ["sqlite"], indirect=True)
def test_a_discarded_hold_publishes_nothing_and_the_next_run_is_exact(agency: Agency) -> None:
    a = agency
    hold_id, before = _hold_half_the_keys(a)
    discarded = a.cli("holds", "discard", hold_id, "--note", "vendor upgrade broke the listing")
    assert discarded.returncode == 0, discarded.stderr
    assert a.live() == before and not (a.data_dir / "holds" / hold_id).exists()
    assert a.cli("holds", "release", hold_id).returncode == 1
    del a.proxy.rewrite[KEYS]  # the agency fixed its listing
    a.sim.sim.store.advance(60)
    after = a.sync()
    assert after.error is None, after.line()
    assert a.live() == truth_keys(a.sim.sim, "permits")
    with db.engine_for(a.url).connect() as conn:
        endpoints = [e for (e,) in conn.execute(sa.text("SELECT endpoint FROM lt_audit_log"))]
    assert endpoints == ["holds discard"]


@pytest.mark.parametrize("agency", ["sqlite"], indirect=True)
def test_a_volume_drop_on_a_full_sync_is_held_unless_a_full_reload_is_declared(agency: Agency) -> None:
    a = agency
    for _ in range(2):  # three full syncs of history (the first one and these)
        assert a.sync(full_refresh=True).error is None
    a.proxy.rewrite[RECORDS] = quarter_of_the_records
    held = a.sync(full_refresh=True)
    assert held.extra.get("hold") and held.error is not None, held.line()
    assert "of the median 400 of the last 3 full syncs" in held.error, held.error
    assert a.cli("holds", "discard", str(held.extra["hold"])).returncode == 0
    reload = a.sync(full_reload=True)  # a person declares the reload: the rules step aside
    assert reload.error is None and reload.published is not None and reload.published.deleted > 0, reload.line()
    assert reload.published.version == snapshots.current_version(a.data_dir, "permits")
    with db.engine_for(a.url).connect() as conn:
        endpoints = [(c, e) for c, e in conn.execute(sa.text("SELECT client, endpoint FROM lt_audit_log"))]
    assert endpoints == [(getpass.getuser(), "holds discard"), (getpass.getuser(), "sync --full-reload")]


def _killed_release(a: Agency, hold_id: str, point: str) -> int | None:
    """Fork a release that dies at `point` (SIGKILL, as in the sync's crash trials); its signal or None."""
    pid = os.fork()
    if pid == 0:
        try:
            db.engine_for(a.url).dispose(close=False)
            db.engine_for.cache_clear()
            os.environ.update(LIENTHONG_FAILPOINT=point, LIENTHONG_COPY_CHUNK_ROWS="4")
            from pipeline.holds import release

            release(a.url, a.data_dir, hold_id)
            os._exit(0)
        except BaseException:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) or os.WEXITSTATUS(status) == 0, f"the release failed at {point}"
    return os.WTERMSIG(status) if os.WIFSIGNALED(status) else None


@pytest.mark.parametrize("agency", ["postgresql"], indirect=True)
@pytest.mark.parametrize("point", ["mid_copy", "before_commit", "after_commit"])
def test_a_release_killed_anywhere_publishes_the_hold_exactly_once(agency: Agency, point: str) -> None:
    from pipeline.holds import HoldError, release

    a = agency
    hold_id, before = _hold_half_the_keys(a)
    counts = holds.get_hold(a.url, hold_id).counts
    expected = len(before) - counts["deleted"] + counts["inserted"]
    assert _killed_release(a, hold_id, point) == 9
    if point != "after_commit":
        assert holds.get_hold(a.url, hold_id).status == "held" and a.live() == before
        assert snapshots.current_version(a.data_dir, "permits") == 1
        release(a.url, a.data_dir, hold_id)
    else:
        with pytest.raises(HoldError, match="already released"):
            release(a.url, a.data_dir, hold_id)
        a.sync()  # the next run's start points CURRENT at the committed version
    assert holds.get_hold(a.url, hold_id).status == "released" and len(a.live()) == expected
    assert snapshots.current_version(a.data_dir, "permits") == 2
    assert snapshots.read_version(a.data_dir, "permits").num_rows == expected
    with db.engine_for(a.url).connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM lt_audit_log")).scalar() == 1
        assert conn.execute(sa.text("SELECT MAX(version) FROM lt_dataset_versions")).scalar() == 2
