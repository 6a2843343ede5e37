"""Retention: `prune` removes history and snapshots past the declared retention, and every as-of read
inside the window reads exactly what it read before; the prune is audited."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
import sqlalchemy as sa

from agencies.testing import running_simulator
from pipeline.sync import sync_source
from schemas.contract import Retention
from sharing import db, snapshots
from sharing.retention import keep_from, prune

pytestmark = pytest.mark.integration


def as_of_version(url: str, version: int) -> list[str]:
    """The live keys at `version`, read from the history table (what an as-of lookup reads)."""
    with db.engine_for(url).connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT permit_no FROM ds_permits WHERE version_from <= :v AND (version_to IS NULL OR version_to > :v) "
            "AND NOT is_deleted"), {"v": version}).all()
    return sorted(r[0] for r in rows)


@pytest.mark.unit
def test_the_window_keeps_the_version_current_at_its_start_and_the_legal_minimum() -> None:
    now = datetime(2026, 6, 30, tzinfo=UTC)
    versions = [(n, now - timedelta(days=100 - 10 * n)) for n in range(1, 11)]  # v1 90 days ago .. v10 today
    assert keep_from(versions, Retention(versions=3), now) == 8
    assert keep_from(versions, Retention(days=25), now) == 7  # v7 (30 days ago) was current 25 days ago
    assert keep_from(versions, Retention(versions=2, legal_minimum_days=45), now) == 5
    assert keep_from(versions, Retention(days=1000), now) == 1


def test_prune_keeps_every_as_of_read_inside_the_retention(db_url: str, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with running_simulator("construction", records=300, seed=21, tmp_dir=tmp_path / "sim") as sim:
        env = {"LIENTHONG_AGENCY_CONSTRUCTION_URL": sim.url}
        for _ in range(5):
            summaries = sync_source("construction", url=db_url, data_dir=data_dir, environ=env,
                                    streams=["permits"])
            assert summaries[0].error is None, summaries[0].line()
            sim.sim.store.advance(90)
    current = snapshots.current_version(data_dir, "permits")
    assert current == 5
    before: dict[int, tuple[list[str], pa.Table]] = {
        v: (as_of_version(db_url, v), snapshots.read_version(data_dir, "permits", v)) for v in range(1, 6)}
    assert before[1][0] != before[5][0]
    dry = prune(db_url, data_dir, "permits", Retention(versions=2), dry_run=True)
    assert dry.removed_versions == [1, 2, 3] and snapshots.version_dir(data_dir, "permits", 1).exists()
    report = prune(db_url, data_dir, "permits", Retention(versions=2))
    assert (report.keep_from, report.removed_versions) == (4, [1, 2, 3]) and report.history_rows > 0
    for v in (4, 5):  # inside the window: as-of reads and snapshots exactly as before
        assert as_of_version(db_url, v) == before[v][0], v
        assert snapshots.read_version(data_dir, "permits", v).equals(before[v][1]), v
    assert not any(snapshots.version_dir(data_dir, "permits", v).exists() for v in (1, 2, 3))
    again = prune(db_url, data_dir, "permits", Retention(versions=2))
    assert again.removed_versions == [] and again.history_rows == 0
    with db.engine_for(db_url).connect() as conn:
        entries = conn.execute(sa.text("SELECT client, endpoint, params FROM lt_audit_log")).all()
    assert [(e.client, e.endpoint) for e in entries] == [(getpass.getuser(), "datasets prune")] * 2
    assert '"keep_from":4' in entries[0].params
