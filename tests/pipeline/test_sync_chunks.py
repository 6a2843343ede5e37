"""A sync validates and stages chunks of many pages, and judges the run as a whole: the failure threshold
applies to all of a run's rows (a bad chunk alone does not fail it), every failing row is still found, and
the published version does not depend on where the chunks end."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from agencies.testing import running_simulator
from agencies.truth import truth_rows
from pipeline.sync import sync_source
from quality.store import quarantine, validation_runs
from sharing import db, snapshots
from tests.pipeline.test_sync import published_keys

pytestmark = pytest.mark.integration


def quarantined_keys(url: str) -> set[str]:
    with db.engine_for(url).connect() as conn:
        found = conn.execute(sa.select(quarantine.c.record_key).where(quarantine.c.dataset == "permits"))
        return {k.replace("-", "") for (k,) in found}


def runs(url: str) -> list[tuple[str, int, int, str]]:
    with db.engine_for(url).connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(
            validation_runs.c.run_id, validation_runs.c.rows_in, validation_runs.c.rows_quarantined,
            validation_runs.c.status).where(validation_runs.c.dataset == "permits"))]


def test_the_threshold_is_judged_on_the_run_and_chunks_do_not_change_the_result(
        db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with running_simulator("construction", records=400, seed=21, faults={"invalid_values": 0.06},
                           tmp_dir=tmp_path / "sim") as sim:
        env = {"LIENTHONG_AGENCY_CONSTRUCTION_URL": sim.url}
        truth = [r for r in truth_rows(sim.sim, "permits") if not r["_deleted"]]
        corrupted = {r["_key"].replace("-", "") for r in truth if r["_corrupted"]}
        # 6% of the run is bad, under the 10% threshold, but some 10-record chunk is over it
        windows = [truth[i:i + 10] for i in range(0, len(truth), 10)]
        assert any(sum(r["_corrupted"] for r in w) > 1 for w in windows), "no chunk over the threshold"
        assert 0 < len(corrupted) / len(truth) < 0.1

        monkeypatch.setenv("LIENTHONG_CHUNK_ROWS", "10")
        [small] = sync_source("construction", url=db_url, data_dir=tmp_path / "small", environ=env)
        assert small.error is None and small.published is not None, small.line()
        assert quarantined_keys(db_url) == corrupted
        clean = {r["_key"].replace("-", "") for r in truth} - corrupted
        assert published_keys(db_url, "permits", ("permit_no",)) == clean
        [(run_id, rows_in, bad, status)] = runs(db_url)  # one row per run, not per chunk
        assert (run_id, rows_in, bad, status) == (small.run_id, len(truth), len(corrupted), "passed")

        # the same source in one chunk: the same version, row for row
        other = f"sqlite:///{tmp_path / 'one_chunk.db'}"
        monkeypatch.setenv("LIENTHONG_CHUNK_ROWS", "100000")
        [whole] = sync_source("construction", url=other, data_dir=tmp_path / "whole", environ=env)
        assert whole.published is not None and small.published.content_hash == whole.published.content_hash


def test_a_run_over_the_threshold_publishes_nothing(db_url: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIENTHONG_CHUNK_ROWS", "50")
    with running_simulator("construction", records=300, seed=22, faults={"invalid_values": 0.25},
                           tmp_dir=tmp_path / "sim") as sim:
        env = {"LIENTHONG_AGENCY_CONSTRUCTION_URL": sim.url}
        [summary] = sync_source("construction", url=db_url, data_dir=tmp_path / "data", environ=env)
        assert summary.error is not None and summary.published is None
        assert "rows failed" in summary.error and "nothing published" in summary.error
        made = sa.inspect(db.engine_for(db_url)).has_table("ds_permits")  # made empty at the start on PostgreSQL
        assert not made or published_keys(db_url, "permits", ("permit_no",)) == set()
        assert quarantined_keys(db_url) == set()
        assert snapshots.current_version(tmp_path / "data", "permits") is None
        [(run_id, rows_in, bad, status)] = runs(db_url)
        assert (run_id, rows_in, status) == (summary.run_id, 300, "failed") and bad > 30
