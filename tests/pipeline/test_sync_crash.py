"""Guarantee 1: a sync killed (SIGKILL) at a random point and run again publishes each record exactly once.

20 trials per backend. Each trial lets the agency work a while, forks a sync that dies at a randomly
chosen point of publishing (mid-COPY, after staging, between merge and commit, during the Parquet write,
after the commit), checks that nothing half-done is visible, reruns the sync, and compares the serving
table and the latest snapshot with the simulator's ground truth. At the end every earlier version is
read back (time travel) and must equal the state recorded when it was published.
"""

from __future__ import annotations

import os
import random
import signal
import time
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pytest
import sqlalchemy as sa

from agencies.testing import running_simulator
from agencies.truth import truth_rows
from pipeline.sync import sync_source
from sharing import db, snapshots

pytestmark = pytest.mark.integration

POINTS = ["mid_copy", "after_stage", "after_merge", "mid_snapshot", "after_snapshot", "before_commit",
          "after_commit"]
TRIALS = 20


def run_killed(url: str, data_dir: Path, env: dict[str, str], point: str) -> int | None:
    """Fork a sync that dies at `point`; the signal that ended it, or None when it finished."""
    pid = os.fork()
    if pid == 0:  # the child: its own database connections, then the sync
        try:
            db.engine_for(url).dispose(close=False)
            db.engine_for.cache_clear()
            os.environ.update(env, LIENTHONG_FAILPOINT=point, LIENTHONG_COPY_CHUNK_ROWS="4")
            sync_source("construction", url=url, data_dir=data_dir, environ={**env, "LIENTHONG_FAILPOINT": point})
            os._exit(0)
        except BaseException:
            os._exit(3)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            if os.WIFSIGNALED(status):
                return os.WTERMSIG(status)
            assert os.WEXITSTATUS(status) == 0, f"the sync failed at {point} without being killed"
            return None
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    raise AssertionError(f"the forked sync hung at {point}")


def live_rows(url: str) -> dict[str, str]:
    with db.engine_for(url).connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT permit_no, updated_at FROM ds_permits WHERE valid_to IS NULL AND NOT is_deleted"
        )).all()
    keys = [r[0] for r in rows]
    assert len(keys) == len(set(keys)), "a record is published twice"
    return {k: (datetime.fromisoformat(v) if isinstance(v, str) else v).strftime("%Y-%m-%d %H:%M:%S")
            for k, v in rows}


def truth(sim: object) -> dict[str, str]:
    return {r["_key"]: r["updated_at"].replace("T", " ").rstrip("Z")
            for r in truth_rows(sim, "permits") if not r["_deleted"]}  # type: ignore[arg-type]


def test_killed_syncs_publish_exactly_once(db_url: str, tmp_path: Path) -> None:
    rng = random.Random(20261122)
    data_dir = tmp_path / "data"
    with running_simulator("construction", records=1200, seed=9, tmp_dir=tmp_path / "sim") as sim:
        env = {"LIENTHONG_AGENCY_CONSTRUCTION_URL": sim.url}
        sync_source("construction", url=db_url, data_dir=data_dir, environ=env)
        history: dict[int, pa.Table] = {}
        killed: dict[str, int] = {}
        for trial in range(TRIALS):
            sim.sim.store.advance(rng.randint(30, 240))
            point = rng.choice(POINTS)
            before_version = snapshots.current_version(data_dir, "permits")
            before_rows = live_rows(db_url)
            signal_no = run_killed(db_url, data_dir, env, point)
            if signal_no == signal.SIGKILL:
                killed[point] = killed.get(point, 0) + 1
            if signal_no and point != "after_commit":
                # Nothing half-done is visible: the last version and its rows are as they were.
                assert snapshots.current_version(data_dir, "permits") == before_version, (trial, point)
                assert live_rows(db_url) == before_rows, (trial, point)
            summaries = sync_source("construction", url=db_url, data_dir=data_dir, environ=env)
            assert all(s.error is None for s in summaries), [s.line() for s in summaries]
            expected = truth(sim.sim)
            assert live_rows(db_url) == expected, (trial, point)
            version = snapshots.current_version(data_dir, "permits")
            assert version is not None
            latest = snapshots.read_version(data_dir, "permits")
            assert sorted(latest.column("permit_no").to_pylist()) == sorted(expected), (trial, point)
            history[version] = latest
        # Every point was hit, and most trials died (a point is missed when, say, nothing changed).
        assert sum(killed.values()) >= TRIALS * 3 // 4 and set(killed) == set(POINTS), killed
        for version, table in history.items():
            assert snapshots.read_version(data_dir, "permits", version).equals(table), version
