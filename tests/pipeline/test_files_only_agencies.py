"""The State Treasury and a district permit register, brought in by files alone (issue 19's proof).

Their source files and contracts (`agencies/registry/`, YAML) are copied into a temporary registry
named by `LIENTHONG_REGISTRY`; no `.py` outside agencies/ and tests/ names them. Settings, the source
registry, the DAG generator, contracts, doctor and the dashboard see them; synced with the other four
into one database with 3% invalid values, every published dataset equals its simulator's truth less the
corrupted records, each corrupted record is in quarantine with its reason, and after the two new
agencies work (voided receipts, removed permits) an incremental sync still equals the truth.
"""

from __future__ import annotations

import subprocess
from contextlib import ExitStack
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

ROOT = Path(__file__).resolve().parents[2]
CASES: list[tuple[AgencyName, str]] = [("treasury", "payment_receipts"), ("district", "district_permits")]


def test_every_part_sees_a_source_added_by_a_file(registry: Path, sqlite_url: str) -> None:
    from click.testing import CliRunner

    from connectors.config import load_source, source_files
    from core.settings import load_settings
    from lienthong.airflow.registry import sources
    from lienthong.doctor import doctor
    from schemas.contract import contracts
    from sharing.ops.data import source_statuses

    assert {"treasury", "district"} <= set(source_files())
    assert load_source("treasury").streams["payment_receipts"].records == "$"
    settings = load_settings({"LIENTHONG_AGENCY_TREASURY_URL": "http://127.0.0.1:9/kb"})
    assert settings.agency_urls == {"treasury": "http://127.0.0.1:9/kb"}
    assert load_source("treasury", {"LIENTHONG_AGENCY_TREASURY_URL": "http://127.0.0.1:9"}).endpoint == \
        "http://127.0.0.1:9"
    by_name = {s.name: s for s in sources()}
    assert [st.dataset for st in by_name["treasury"].streams] == ["payment_receipts"]
    assert (by_name["district"].dag_id, by_name["district"].pool) == ("lienthong_sync_district", "lienthong_district")
    assert "payment_receipts" in set(contracts()) and "district_permits" not in set(contracts())
    assert contract_for_stream("district", "district_permits").dataset == "permits"  # a second feed of permits
    report = CliRunner().invoke(doctor, ["--json"], env={"LIENTHONG_DATABASE_URL": sqlite_url})
    assert '"agency:treasury"' in report.output and '"agency:district"' in report.output
    assert {"treasury", "district"} <= {s.name for s in source_statuses(db.engine_for(sqlite_url), sources())}


def test_the_dag_generator_sees_them(registry: Path) -> None:
    from lienthong.airflow.dags import sync_dags

    dags = sync_dags()
    assert {"lienthong_sync_treasury", "lienthong_sync_district"} <= set(dags)
    assert "sync_payment_receipts" in {t.task_id for t in dags["lienthong_sync_treasury"].tasks}


def test_no_python_outside_agencies_and_tests_names_them() -> None:
    tracked = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True)
    # The obligations views (their inputs and their lookup) are a cross-agency product built on the published
    # datasets, and the demo starts the simulators by name; both name them. Bringing the two agencies
    # in touched nothing else.
    views = ("sharing/views.py", "sharing/view_inputs.py", "sharing/obligations.py", "sharing/api/obligations.py",
             "lienthong/dev/demo.py")
    product = [p for p in tracked.stdout.split() if not p.startswith(("agencies/", "tests/")) and p not in views]
    for path in product:
        text = (ROOT / path).read_text(encoding="utf-8").lower()
        for word in ("treasury", "payment_receipts", "kho bạc", "district_permits", "gpxd-ubnd", "chung-tu"):
            assert word not in text, f"{path} names {word!r}: the new agencies must come in by files alone"
    for declared in ("sources/treasury.yaml", "contracts/payment_receipts.yaml", "sources/district.yaml",
                     "mappings/permits.district.yaml"):
        assert (ROOT / "agencies" / "registry" / declared).exists()


def _check(url: str, sim: object, agency: AgencyName, stream: str, when: str) -> None:
    """Published == the truth less the corrupted records; each corrupted one quarantined with a rule."""
    contract = contract_for_stream(agency, stream)
    truth = [r for r in truth_rows(sim, stream) if not r["_deleted"]]  # type: ignore[arg-type]
    corrupted = {r["_key"].replace("-", "") for r in truth if r["_corrupted"]}
    clean = {r["_key"].replace("-", "") for r in truth if not r["_corrupted"]}
    assert clean, (when, stream)
    with db.engine_for(url).connect() as conn:
        rows = conn.execute(sa.select(quarantine.c.record_key, quarantine.c.rule).where(
            quarantine.c.dataset == contract.dataset, quarantine.c.source == agency)).all()
    quarantined = {k.replace("-", "") for k, _ in rows}
    assert quarantined >= corrupted, (when, stream, sorted(corrupted - quarantined)[:5])
    assert feed_keys(url, contract.dataset, contract.primary_key, agency) == clean, (when, stream)
    assert all(rule for _, rule in rows)  # each with its reason


def feed_keys(url: str, dataset: str, key: tuple[str, ...], agency: AgencyName) -> set[str]:
    """The published keys of one source's rows (all of them for a dataset of one source)."""
    if "source" not in {c.name for c in contract_for_stream(agency, DATASETS[agency][0]).columns}:
        return published_keys(url, dataset, key)
    return {k.split("/", 1)[1] for k in published_keys(url, dataset, ("source", *key))
            if k.split("/", 1)[0] == agency}


def test_synced_with_the_other_four_equals_the_truth_bad_records_quarantined_with_reasons(
    sqlite_url: str, tmp_path: Path, registry: Path,
) -> None:
    agencies: list[AgencyName] = ["land", "business", "construction", "tax", "treasury", "district"]
    with ExitStack() as stack:
        sims = {a: stack.enter_context(running_simulator(a, records=800, seed=12, faults={"invalid_values": 0.03},
                                                         tmp_dir=tmp_path / "sim" / a)) for a in agencies}
        env = {f"LIENTHONG_AGENCY_{a.upper()}_URL": h.url for a, h in sims.items()}
        for agency in agencies:
            summaries = sync_source(agency, url=sqlite_url, data_dir=tmp_path / "data", environ=env)
            assert all(s.error is None for s in summaries), [s.line() for s in summaries]
        for agency in agencies:
            for stream in DATASETS[agency]:
                _check(sqlite_url, sims[agency].sim, agency, stream, "first sync")
        for agency, stream in CASES:  # the two new ones work: voided receipts (tombstones), removed permits
            sims[agency].sim.store.advance(600)
            summaries = sync_source(agency, url=sqlite_url, data_dir=tmp_path / "data", environ=env)
            assert all(s.error is None for s in summaries), [s.line() for s in summaries]
            _check(sqlite_url, sims[agency].sim, agency, stream, "incremental")
            assert any(s.published and (s.published.deleted or s.published.updated) for s in summaries)
