"""Two runs of one source at once end in a publish and a named error, never a raw database error;
a kill right after the commit leaves `CURRENT` behind only until the next run starts."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from agencies.testing import running_simulator
from pipeline.sync import sync_source
from sharing import db, snapshots
from sharing.publish import repair_snapshots
from tests.pipeline.test_sync_crash import live_rows, run_killed, truth

pytestmark = pytest.mark.integration


def _forked_sync(url: str, data_dir: Path, env: dict[str, str], gate: int, out: Path) -> int:
    pid = os.fork()
    if pid:
        return pid
    try:  # the child: its own connections; waits at the gate so both start together
        db.engine_for.cache_clear()
        os.read(gate, 1)
        lines = [{"line": s.line(), "error": s.error, "published": bool(s.published)}
                 for s in sync_source("construction", url=url, data_dir=data_dir, environ=env)]
        out.write_text(json.dumps(lines), encoding="utf-8")
        os._exit(0)
    except BaseException as exc:  # a raw error is what this test must never see
        out.write_text(json.dumps([{"line": repr(exc), "error": repr(exc), "published": False}]), encoding="utf-8")
        os._exit(3)


def test_two_first_syncs_at_once_one_publishes_the_other_stops_by_name(empty_pg: str, tmp_path: Path) -> None:
    import quality.runner  # noqa: F401 - imported once here, not twice in the children

    url = empty_pg
    data_dir = tmp_path / "data"
    with running_simulator("construction", records=600, seed=3, tmp_dir=tmp_path / "sim") as sim:
        env = {"LIENTHONG_AGENCY_CONSTRUCTION_URL": sim.url}
        read_end, write_end = os.pipe()
        outs = [tmp_path / "a.json", tmp_path / "b.json"]
        pids = [_forked_sync(url, data_dir, env, read_end, out) for out in outs]
        os.write(write_end, b"go")
        deadline = time.monotonic() + 180
        statuses = []
        for pid in pids:
            while True:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    statuses.append(os.waitstatus_to_exitcode(status))
                    break
                assert time.monotonic() < deadline, "a concurrent sync hung"
                time.sleep(0.05)
        results = [json.loads(out.read_text(encoding="utf-8"))[0] for out in outs]
        assert statuses == [0, 0], results
        published = [r for r in results if r["published"]]
        refused = [r for r in results if r["error"]]
        assert len(published) == 1 and len(refused) == 1, results
        error = refused[0]["error"]
        assert error.startswith("[construction] stream permits: another run published in between"), error
        assert "cursor" in error and "none (a first sync)" in error and len(error) < 400, error
        assert "known_keys" not in error and "UniqueViolation" not in error
        # What was published is whole and exact, once.
        assert live_rows(url) == truth(sim.sim)
        assert snapshots.current_version(data_dir, "permits") == 1
        assert sorted(p.name for p in (data_dir / "datasets" / "permits").iterdir()) == ["CURRENT", "v000001"]


def test_a_kill_after_the_commit_is_repaired_when_the_next_run_starts(pg_url: str, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with running_simulator("construction", records=600, seed=8, tmp_dir=tmp_path / "sim") as sim:
        env = {"LIENTHONG_AGENCY_CONSTRUCTION_URL": sim.url}
        sync_source("construction", url=pg_url, data_dir=data_dir, environ=env)
        sim.sim.store.advance(200)
        assert run_killed(pg_url, data_dir, env, "after_commit") is not None
        with db.engine_for(pg_url).connect() as conn:
            committed = conn.execute(db.datasets.select().where(db.datasets.c.name == "permits")).one()
        assert committed.current_version == 2
        assert snapshots.current_version(data_dir, "permits") == 1  # the kill came before the pointer moved
        # Leftovers a kill -9 can leave: a temporary directory, a version renamed in but never committed.
        (data_dir / "datasets" / "permits" / ".v000003.tmp-deadbeef").mkdir()
        (data_dir / "datasets" / "permits" / "v000004").mkdir()
        repair_snapshots(pg_url, data_dir, "permits")  # what every run does first
        assert snapshots.current_version(data_dir, "permits") == 2
        assert sorted(p.name for p in (data_dir / "datasets" / "permits").iterdir()) == [
            "CURRENT", "v000001", "v000002"]
        assert sorted(snapshots.read_version(data_dir, "permits").column("permit_no").to_pylist()) == sorted(
            live_rows(pg_url))


def test_a_run_starting_beside_a_first_publish_leaves_its_files_alone(empty_pg: str, tmp_path: Path) -> None:
    """Nothing is published yet, so the start-of-run repair has no catalog row to lock: what it finds may be
    a first publisher's files being written, and it must not remove them (the CI failure of stop 27)."""
    data_dir = tmp_path / "data"
    folder = data_dir / "datasets" / "permits"
    writing = folder / ".v000001.tmp-0badc0de"
    writing.mkdir(parents=True)
    (writing / "part-0.parquet").write_bytes(b"being written")
    renamed = folder / "v000001"  # renamed into place, its commit still to come
    renamed.mkdir()
    repair_snapshots(empty_pg, data_dir, "permits")
    assert writing.is_dir() and renamed.is_dir()
