"""The whole pipeline through Airflow against the four simulators, on SQLite and on PostgreSQL.

Each backend holds both Airflow's metadata and lienthong's serving tables. Round 1 runs every sync DAG
and the views DAG (full syncs); the published data must equal the simulators' ground truth. Then the
simulators work for two hours and round 2 runs incrementally (on SQLite; PostgreSQL's merge path is
covered by tests/sharing) with the land simulator stopped: only its DAG fails, with an error naming the
agency, the page and why, while the others publish and still equal ground truth.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import ExitStack, nullcontext
from pathlib import Path

import pytest

from agencies.base import DATASETS, AgencyName
from agencies.testing import running_simulator
from lienthong.airflow.registry import sources
from lienthong.airflow.setup import airflow_environ
from tests.e2e.airflow_helpers import fresh_pg_database, published_keys, run_dags, truth_keys

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

AGENCIES: tuple[AgencyName, ...] = ("land", "business", "construction", "tax")


def check_truth(url: str, sims: Mapping[AgencyName, object], agencies: tuple[AgencyName, ...], when: str) -> None:
    from schemas.contract import contract_for_stream

    for agency in agencies:
        for stream in DATASETS[agency]:
            contract = contract_for_stream(agency, stream)
            expected = truth_keys(sims[agency].sim, stream)  # type: ignore[attr-defined]
            assert expected, (when, stream)
            got = published_keys(url, contract.dataset, tuple(contract.primary_key))
            assert got == expected, f"{when}: {agency}/{stream}: {len(got ^ expected)} keys differ"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_pipeline_through_airflow_equals_ground_truth(backend: str, tmp_path: Path,
                                                      request: pytest.FixtureRequest) -> None:
    sync_dags = [s.dag_id for s in sources()]
    with ExitStack() as stack:
        if backend == "postgresql":
            metadata = request.getfixturevalue("airflow_pg_metadata")  # migrated, with the pools
            url = stack.enter_context(fresh_pg_database("lienthong_e2e")).replace("+psycopg", "")
        else:
            url, metadata = f"sqlite:///{tmp_path / 'lienthong.db'}", None
            stack.enter_context(nullcontext())
        sims = {a: stack.enter_context(running_simulator(a, records=300, seed=7, tmp_dir=tmp_path / "sims" / a))
                for a in AGENCIES}
        env = airflow_environ(tmp_path / "airflow", metadata_url=metadata, database_url=url,
                              data_dir=tmp_path / "data", endpoints={a: s.url for a, s in sims.items()})
        log = tmp_path / "airflow-runs.log"

        first = run_dags(env, [*sync_dags, "lienthong_views"], log, prepare=metadata is None)
        assert {d: r["state"] for d, r in first.items()} == dict.fromkeys(first, "success"), log.read_text()[-4000:]
        for result in first.values():
            for stream in result["streams"]:
                assert stream["fetched"] == stream["valid"] > 0 and stream["version"] == 1, stream
                assert stream["cursor"] and stream["cursor_from"] is None and stream["interval_end"], stream
        assert first["lienthong_views"]["views"]["published"], first["lienthong_views"]
        check_truth(url, sims, AGENCIES, "round 1")

        if backend == "postgresql":
            return  # the incremental round and the stopped agency run once, on SQLite (test time)
        for sim in sims.values():
            sim.sim.store.advance(120)
        stop_land = True
        sims["land"].stop()
        second = run_dags(env, sync_dags, log, prepare=False, retry_delay=0.5)
        live = tuple(a for a in AGENCIES if not (stop_land and a == "land"))
        for agency in live:
            result = second[f"lienthong_sync_{agency}"]
            assert result["state"] == "success", result
            assert any(s["version"] == 2 for s in result["streams"]), result["streams"]
            round_one = {s["stream"]: s["cursor"] for s in first[f"lienthong_sync_{agency}"]["streams"]}
            assert {s["stream"]: s["cursor_from"] for s in result["streams"]} == round_one  # where it moved from
        check_truth(url, sims, live, "round 2")
        if stop_land:
            land = second["lienthong_sync_land"]
            assert land["state"] == "failed" and land["tasks"]["report"] == "failed", land
            assert set(land["errors"]) == {"sync_parcels", "sync_land_certificates"}, land["errors"]
            for error in land["errors"].values():
                assert "land/" in error and "page" in error.lower(), error
