"""`lienthong sync` end to end against each simulator: full, then incremental twice, equal to ground truth."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from agencies.base import DATASETS, AgencyName
from agencies.testing import running_simulator
from agencies.truth import truth_rows
from pipeline.sync import sync_source
from sharing import db, snapshots

pytestmark = pytest.mark.integration

STREAM_DATASET = {"land_tax_notices": "tax_notices"}


def published_keys(url: str, dataset: str, key: tuple[str, ...]) -> set[str]:
    engine = db.engine_for(url)
    quote = engine.dialect.identifier_preparer.quote
    cols = ", ".join(quote(k) for k in key)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            f"SELECT {cols} FROM {quote('ds_' + dataset)} WHERE valid_to IS NULL AND NOT is_deleted"  # noqa: S608
        )).all()
    return {"/".join(str(v) for v in row).replace("-", "") for row in rows}


def truth_keys(sim: object, stream: str) -> set[str]:
    return {r["_key"].replace("-", "") for r in truth_rows(sim, stream) if not r["_deleted"]}  # type: ignore[arg-type]


@pytest.mark.parametrize("agency", ["land", "business", "construction", "tax"])
def test_full_then_incremental_syncs_equal_ground_truth(agency: AgencyName, db_url: str, tmp_path: Path) -> None:
    from schemas.contract import contract_for_stream

    with running_simulator(agency, records=800, seed=5, tmp_dir=tmp_path / "sim") as sim:
        env = {**os.environ, f"LIENTHONG_AGENCY_{agency.upper()}_URL": sim.url}
        versions: dict[str, int] = {}
        for round_no in range(3):
            if round_no:
                sim.sim.store.advance(120)
            summaries = sync_source(agency, url=db_url, data_dir=tmp_path / "data", environ=env)
            assert all(s.error is None for s in summaries), [s.line() for s in summaries]
            for stream in DATASETS[agency]:
                contract = contract_for_stream(agency, stream)
                expected = truth_keys(sim.sim, stream)
                assert published_keys(db_url, contract.dataset, contract.primary_key) == expected, (round_no, stream)
                versions[stream] = snapshots.current_version(tmp_path / "data", contract.dataset) or 0
                snapshot = snapshots.read_version(tmp_path / "data", contract.dataset)
                assert snapshot.num_rows == len(expected)
        # Nothing changed at the source: nothing new is published, nothing doubled.
        again = sync_source(agency, url=db_url, data_dir=tmp_path / "data", environ=env)
        for s in again:
            assert s.published is not None and not s.published.new_version, s.line()
            assert s.published.version == versions[s.stream]
