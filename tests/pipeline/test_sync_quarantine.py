"""Guarantee 2 through the whole path: with 2% invalid values at every agency, `sync` quarantines exactly the
records the simulators corrupted, publishes exactly the others, and no record is in neither place or both."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from agencies.base import DATASETS, AgencyName
from agencies.testing import running_simulator
from agencies.truth import truth_rows
from pipeline.sync import sync_source
from quality.store import quarantine
from schemas.contract import contract_for_stream
from sharing import db
from tests.pipeline.test_sync import published_keys

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("agency", ["land", "business", "construction", "tax"])
def test_quarantine_equals_the_corrupted_records(agency: AgencyName, sqlite_url: str, tmp_path: Path) -> None:
    with running_simulator(agency, records=1500, seed=12, faults={"invalid_values": 0.02},
                           tmp_dir=tmp_path / "sim") as sim:
        env = {f"LIENTHONG_AGENCY_{agency.upper()}_URL": sim.url}
        summaries = sync_source(agency, url=sqlite_url, data_dir=tmp_path / "data", environ=env)
        assert all(s.error is None for s in summaries), [s.line() for s in summaries]
        for stream in DATASETS[agency]:
            contract = contract_for_stream(agency, stream)
            truth = [r for r in truth_rows(sim.sim, stream) if not r["_deleted"]]
            corrupted = {r["_key"].replace("-", "") for r in truth if r["_corrupted"]}
            clean = {r["_key"].replace("-", "") for r in truth if not r["_corrupted"]}
            assert corrupted, f"{stream}: the fault produced no corrupted record"
            with db.engine_for(sqlite_url).connect() as conn:
                quarantined = {k.replace("-", "") for (k,) in conn.execute(
                    sa.select(quarantine.c.record_key).where(quarantine.c.dataset == contract.dataset))}
            published = published_keys(sqlite_url, contract.dataset, contract.primary_key)
            assert quarantined == corrupted, stream
            assert published == clean, stream
            assert not quarantined & published
