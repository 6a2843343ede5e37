"""`permits` fed by several sources: the provincial construction office and a district register (issue 19).

The district comes in by its source file and a mapping file (agencies/registry), no Python. Both sync
into one `permits` (real simulators on loopback, SQLite and PostgreSQL): each row carries its source,
the published rows are each simulator's truth, a district's deletes (reconciliation, a full refresh)
never reach the province's rows, the lookup API answers an investor's permits from both sources, and
with keys declared global a key sent by a second source is quarantined naming both, not overwritten.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import yaml

from agencies.testing import running_simulator
from core.errors import ConfigError
from pipeline.sync import StreamSummary, sync_source, sync_stream
from quality.store import quarantine
from sharing import db, snapshots
from tests.pipeline.test_files_only_agencies import _check

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _rows(url: str, dataset: str, where: str = "") -> set[tuple[Any, ...]]:
    """Current rows of `dataset` (every published column), as tuples."""
    engine = db.engine_for(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            f"SELECT * FROM ds_{dataset} WHERE valid_to IS NULL AND NOT is_deleted {where}")).mappings().all()  # noqa: S608
    skip = {"valid_from", "valid_to", "version_from", "version_to", "is_deleted"}
    return {tuple((k, v) for k, v in sorted(r.items()) if k not in skip) for r in rows}


def _province(url: str) -> set[tuple[Any, ...]]:
    return _rows(url, "permits", "AND source = 'construction'")


def _snapshot_sources(data_dir: Path) -> dict[str, int]:
    table = snapshots.read_version(data_dir, "permits", snapshots.current_version(data_dir, "permits"))
    counts: dict[str, int] = {}
    for source in table.column("source").to_pylist():
        counts[source] = counts.get(source, 0) + 1
    return counts


def _deleted(summary: StreamSummary, url: str, data_dir: Path) -> int:
    """The rows the run deleted, once published: a run the hold rules held (the district's deletes are
    weighed against its own rows, and how many the simulator removes depends on its clock) is released,
    as the person reviewing it would."""
    from pipeline.holds import release

    hold = summary.extra.get("hold")
    if hold:
        return release(url, data_dir, str(hold)).deleted
    assert summary.error is None and summary.published, summary.line()
    return summary.published.deleted


def test_district_and_province_feed_permits_and_a_district_never_deletes_the_province(
        db_url: str, tmp_path: Path, registry: Path) -> None:
    from sharing.api.app import create_app
    from tests.sharing.api.conftest import headers, make_policy, running_api

    data_dir = tmp_path / "data"
    with ExitStack() as stack:
        sims = {a: stack.enter_context(running_simulator(a, records=400, seed=5, faults={"invalid_values": 0.03},
                                                         tmp_dir=tmp_path / "sim" / a))
                for a in ("construction", "district")}
        env = {f"LIENTHONG_AGENCY_{a.upper()}_URL": h.url for a, h in sims.items()}
        for agency in sims:
            summaries = sync_source(agency, url=db_url, data_dir=data_dir, environ=env)
            assert all(s.error is None for s in summaries), [s.line() for s in summaries]
            assert [s.dataset for s in summaries] == ["permits"]
        # one dataset, each source's rows its simulator's truth (less the corrupted ones, quarantined)
        _check(db_url, sims["construction"].sim, "construction", "permits", "first sync")
        _check(db_url, sims["district"].sim, "district", "district_permits", "first sync")
        by_source = {s: len(_rows(db_url, "permits", f"AND source = '{s}'")) for s in sims}
        assert by_source["construction"] > 300 and by_source["district"] > 60, by_source
        assert _snapshot_sources(data_dir) == by_source
        # the district's own expectations: its numbering passed, the province's pattern did not apply
        district_rows = _rows(db_url, "permits", "AND source = 'district'")
        assert all(dict(r)["permit_no"].endswith("/GPXD-UBND") for r in district_rows)
        assert {dict(r)["status"] for r in district_rows} <= {"granted", "expired", "revoked"}  # recoded
        # the register does not say who the investor is: the ID does (party_type)
        assert all(dict(r)["investor_type"] == ("individual" if len(dict(r)["investor_id"]) == 12 else "enterprise")
                   for r in district_rows)
        province = _province(db_url)

        # the district removes permits: reconciled deletes reach only its own rows
        sims["district"].sim.store.advance(600)
        (summary,) = sync_source("district", url=db_url, data_dir=data_dir, environ=env)
        assert _deleted(summary, db_url, data_dir) > 0, summary.line()
        _check(db_url, sims["district"].sim, "district", "district_permits", "after removals")
        assert _province(db_url) == province

        # a district full refresh deletes what the district no longer has, nothing of the province's
        sims["district"].sim.store.advance(600)
        summary = sync_stream("district", "district_permits", url=db_url, data_dir=data_dir, environ=env,
                              full_refresh=True)
        assert _deleted(summary, db_url, data_dir) > 0, summary.line()
        assert _province(db_url) == province
        _check(db_url, sims["district"].sim, "district", "district_permits", "full refresh")
        by_source["district"] = len(_rows(db_url, "permits", "AND source = 'district'"))
        assert _snapshot_sources(data_dir) == by_source

        # the province's full refresh does not delete the district's rows either
        summary = sync_stream("construction", "permits", url=db_url, data_dir=data_dir, environ=env,
                              full_refresh=True)
        assert summary.error is None, summary.line()
        assert len(_rows(db_url, "permits", "AND source = 'district'")) == by_source["district"]

    # replay judges each source's records by the contract as that source feeds them, read as its
    # connector read them (nested fields, zone-less times): the same rules, the same reasons
    from pipeline.replay import replay

    engine = db.engine_for(db_url)
    reasons = sa.select(quarantine.c.id, quarantine.c.source, quarantine.c.rule, quarantine.c.reason).where(
        quarantine.c.dataset == "permits", quarantine.c.status == "quarantined").order_by(quarantine.c.id)
    with engine.connect() as conn:
        before = conn.execute(reasons).all()
    assert {row.source for row in before} == {"construction", "district"}
    replay(engine, "permits")
    with engine.connect() as conn:
        after = {row.id: row for row in conn.execute(reasons)}
    assert set(after) == {row.id for row in before}
    for row in before:
        assert (after[row.id].rule, after[row.id].reason) == (row.rule, row.reason), row.source

    # the lookup API: an investor's permits from both sources, each with its source
    pairs = {(dict(r)["investor_id"], dict(r)["source"]) for r in _rows(db_url, "permits")}
    both = sorted(i for i, s in pairs if s == "district" and (i, "construction") in pairs)
    assert both, "no investor holds permits from both sources: the world changed"
    app = create_app(db_url, make_policy(), data_dir)
    try:
        with running_api(app) as base, httpx.Client(base_url=base, timeout=30) as client:
            answer = client.get("/v1/permits", params={"investor_id": both[0]}, headers=headers("clear_all"))
            assert answer.status_code == 200, answer.text
            permits = answer.json()["data"]["permits"]
            assert {p["source"] for p in permits} == {"construction", "district"}
            assert all(p["investor_id"] == both[0] for p in permits)
    finally:
        app.state.lienthong.writer.close()
        app.state.lienthong.engine.dispose()


def _global_registry(registry: Path) -> None:
    """A dataset `register_permits` fed by two district registers with keys declared global: the district's
    own contract (from the permits contract and its mapping file) and a second register's mapping."""
    mapping = yaml.safe_load((registry / "mappings" / "permits.district.yaml").read_text(encoding="utf-8"))
    permits = yaml.safe_load((ROOT / "schemas" / "contracts" / "permits.yaml").read_text(encoding="utf-8"))
    columns = []
    for col in permits["columns"]:
        how = mapping["columns"][col["name"]]
        if how is None:
            continue
        recipe = {k: v for k, v in col.items() if k not in ("source", "transform", "step", "expect")}
        columns.append({**recipe, **how})
    contract = {**permits, "dataset": "register_permits", "source": mapping["source"], "steps": mapping["steps"],
                "columns": columns, "feeds": {"column": "source", "keys": "global"}}
    (registry / "mappings" / "permits.district.yaml").unlink()
    (registry / "contracts" / "register_permits.yaml").write_text(yaml.safe_dump(contract, allow_unicode=True),
                                                                 encoding="utf-8")
    kept = {name: how for name, how in mapping["columns"].items() if how is not None}
    second = {**mapping, "dataset": "register_permits", "source": {**mapping["source"], "agency": "ward"},
              "columns": kept,
              "failure_threshold": 1.0}  # every key of this one conflicts: the run must still publish
    (registry / "mappings" / "register_permits.ward.yaml").write_text(yaml.safe_dump(second, allow_unicode=True),
                                                                      encoding="utf-8")
    source = (registry / "sources" / "district.yaml").read_text(encoding="utf-8")
    (registry / "sources" / "ward.yaml").write_text(source.replace("source: district", "source: ward"),
                                                    encoding="utf-8")


def test_a_global_key_sent_by_two_sources_is_quarantined_naming_both_never_overwritten(
        db_url: str, tmp_path: Path, registry: Path) -> None:
    _global_registry(registry)
    data_dir = tmp_path / "data"
    with ExitStack() as stack:
        # the same numbering (01/GPXD-UBND, 02/...), other permits: every ward key is a district key
        district = stack.enter_context(running_simulator("district", records=400, seed=5, tmp_dir=tmp_path / "d"))
        ward = stack.enter_context(running_simulator("district", records=200, seed=9, tmp_dir=tmp_path / "w"))
        env = {"LIENTHONG_AGENCY_DISTRICT_URL": district.url, "LIENTHONG_AGENCY_WARD_URL": ward.url}
        (first,) = sync_source("district", url=db_url, data_dir=data_dir, environ=env)
        assert first.error is None and first.dataset == "register_permits", first.line()
        before = _rows(db_url, "register_permits")
        assert len(before) == first.valid > 60

        (second,) = sync_source("ward", url=db_url, data_dir=data_dir, environ=env)
        assert second.error is None, second.line()
        assert second.valid == 0 and second.quarantined == second.fetched == 40
        assert _rows(db_url, "register_permits") == before  # nothing overwritten
        with db.engine_for(db_url).connect() as conn:
            held = conn.execute(sa.select(quarantine.c.rule, quarantine.c.reason, quarantine.c.record_key).where(
                quarantine.c.dataset == "register_permits", quarantine.c.source == "ward")).all()
        assert len(held) == 40 and {rule for rule, _, _ in held} == {"key_conflict"}
        _, reason, key = held[0]
        assert "published by district" in reason and "ward sent it too" in reason and key in reason

        # the ward's full refresh (it has none of these keys published) deletes nothing of the district's
        summary = sync_stream("ward", "district_permits", url=db_url, data_dir=data_dir, environ=env,
                              full_refresh=True)
        assert summary.error is None, summary.line()
        assert _rows(db_url, "register_permits") == before


def test_a_mapping_that_does_not_fit_its_contract_names_the_key(registry: Path) -> None:
    from schemas.contract import load_mapping_file

    path = registry / "mappings" / "permits.district.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))

    def refused(change: dict[str, Any]) -> str:
        path.write_text(yaml.safe_dump({**document, **change}, allow_unicode=True), encoding="utf-8")
        with pytest.raises(ConfigError) as caught:
            load_mapping_file(path)
        return str(caught.value)

    columns = dict(document["columns"])
    del columns["floors"]
    assert "columns.floors: required key is missing" in refused({"columns": columns})
    assert "columns.height: not a column of permits" in refused({"columns": {**document["columns"], "height": {
        "source": "so_tang"}}})
    assert "columns.permit_no: the contract requires a value" in refused({"columns": {
        **document["columns"], "permit_no": None}})
    assert "'so_tang_x' is not a field of source.fields" in refused({"columns": {
        **document["columns"], "floors": {"source": "so_tang_x", "transform": "int"}}})
    assert "source.agency: 'construction' is the contract's own source" in refused({
        "source": {**document["source"], "agency": "construction"}})


def test_per_source_keys_two_registers_numbering_alike_both_publish(db_url: str, tmp_path: Path,
                                                                     registry: Path) -> None:
    """Two district registers both issue 01/GPXD-UBND, 02/...: with keys per source both are published,
    and each one's deletes reach only its own."""
    mapping = yaml.safe_load((registry / "mappings" / "permits.district.yaml").read_text(encoding="utf-8"))
    second = {**mapping, "source": {**mapping["source"], "agency": "ward"}}
    (registry / "mappings" / "permits.ward.yaml").write_text(yaml.safe_dump(second, allow_unicode=True),
                                                             encoding="utf-8")
    source = (registry / "sources" / "district.yaml").read_text(encoding="utf-8")
    (registry / "sources" / "ward.yaml").write_text(source.replace("source: district", "source: ward"),
                                                    encoding="utf-8")
    data_dir = tmp_path / "data"
    with ExitStack() as stack:
        district = stack.enter_context(running_simulator("district", records=400, seed=5, tmp_dir=tmp_path / "d"))
        ward = stack.enter_context(running_simulator("district", records=200, seed=9, tmp_dir=tmp_path / "w"))
        env = {"LIENTHONG_AGENCY_DISTRICT_URL": district.url, "LIENTHONG_AGENCY_WARD_URL": ward.url}
        for name in ("district", "ward"):
            (summary,) = sync_source(name, url=db_url, data_dir=data_dir, environ=env)
            assert summary.error is None and summary.quarantined == 0, summary.line()
        numbers = {s: {dict(r)["permit_no"] for r in _rows(db_url, "permits", f"AND source = '{s}'")}
                   for s in ("district", "ward")}
        assert len(numbers["district"]) == 80 and len(numbers["ward"]) == 40
        assert numbers["ward"] <= numbers["district"]  # the same numbers, two permits each
        ward_rows = _rows(db_url, "permits", "AND source = 'ward'")
        district.sim.store.advance(600)  # removes permits whose numbers the ward uses too
        (summary,) = sync_source("district", url=db_url, data_dir=data_dir, environ=env)
        assert summary.error is None and summary.published and summary.published.deleted > 0, summary.line()
        gone = numbers["district"] - {dict(r)["permit_no"] for r in _rows(db_url, "permits", "AND source = 'district'")}
        assert gone & numbers["ward"], gone  # (seeded) a number both use: the district's gone, the ward's kept
        assert _rows(db_url, "permits", "AND source = 'ward'") == ward_rows


def test_the_shipped_mapping_files_pass_the_editors_schema() -> None:
    import json

    import jsonschema

    schema = json.loads((ROOT / "schemas" / "json" / "mapping.schema.json").read_text(encoding="utf-8"))
    paths = sorted((ROOT / "agencies" / "registry" / "mappings").glob("*.yaml"))
    assert paths
    for path in paths:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        jsonschema.Draft202012Validator(schema).validate(document)
        document["columns"]["floors"] = {"sourse": "so_tang"}  # a typo the loader refuses: so does the schema
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.Draft202012Validator(schema).validate(document)


def test_the_docs_feed_walkthrough_runs_as_written(tmp_path: Path) -> None:
    """docs/adding-a-source.md, "Feeding a dataset that already exists": its commands, as written."""
    import re

    text = (ROOT / "docs" / "adding-a-source.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- walkthrough-feed -->\s*```sh\n(.*?)```", text, re.DOTALL)
    assert block, "docs/adding-a-source.md has no feed walk-through"
    from tests.docs.test_adding_a_source import run_walkthrough

    done = run_walkthrough(block.group(1), "8806", tmp_path)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    assert re.search(r"^ok$", done.stdout, re.MULTILINE) and '"source": "district"' in done.stdout, out[-3000:]
    synced = re.search(r"district/district_permits -> permits: fetched (\d+), valid (\d+)", done.stdout)
    assert synced and int(synced.group(1)) == int(synced.group(2)) == 100, out[-3000:]
    assert re.search(r"^permits v1: 100 rows", done.stdout, re.MULTILINE), out[-3000:]


def test_a_district_that_loses_most_of_its_permits_is_held_though_the_province_dwarfs_it(
        db_url: str, tmp_path: Path, registry: Path) -> None:
    """The hold rules weigh a source's deletes against its own published rows: 70 of the district's 80
    permits gone is held, though it is 3% of all permits."""
    data_dir = tmp_path / "data"
    with ExitStack() as stack:
        construction = stack.enter_context(running_simulator("construction", records=2400, seed=5,
                                                             tmp_dir=tmp_path / "c"))
        district = stack.enter_context(running_simulator("district", records=400, seed=5, tmp_dir=tmp_path / "d"))
        emptied = stack.enter_context(running_simulator("district", records=50, seed=5, tmp_dir=tmp_path / "e"))
        env = {"LIENTHONG_AGENCY_CONSTRUCTION_URL": construction.url, "LIENTHONG_AGENCY_DISTRICT_URL": district.url}
        for name in ("construction", "district"):
            (summary,) = sync_source(name, url=db_url, data_dir=data_dir, environ=env)
            assert summary.error is None, summary.line()
        before = _rows(db_url, "permits")
        assert len([r for r in before if dict(r)["source"] == "district"]) == 80 and len(before) > 2400
        # the register answers with 10 permits after a vendor's upgrade
        summary = sync_stream("district", "district_permits", url=db_url, data_dir=data_dir, full_refresh=True,
                              environ={**env, "LIENTHONG_AGENCY_DISTRICT_URL": emptied.url})
        assert summary.error and "HELD" in summary.error and "70 of 80" in summary.error, summary.line()
        assert _rows(db_url, "permits") == before
