"""Quarantine and statistics in the database, replay after a fix, and the CLI, on SQLite and PostgreSQL."""

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from pipeline.replay import replay
from quality.cli import quarantine as quarantine_cli
from quality.cli import validate as validate_cli
from quality.runner import ValidationFailed, validate_batch
from quality.store import list_quarantined, list_runs
from schemas.drift import approve_drift, list_drift
from tests.quality.factory import batch, records

pytestmark = pytest.mark.integration


def test_quarantine_and_stats_are_written_together(engine):
    rows = records("parcels", 300)
    for i in range(0, 300, 20):
        rows[i]["landUseCode"] = "XYZ"
    result = validate_batch(batch("parcels", rows, page="tok-1"), "parcels", engine=engine, run_id="run-1")
    stored = list_quarantined(engine, "parcels")
    assert len(stored) == result.quarantine.num_rows == 15
    assert {(r.run_id, r.page, r.source, r.rule, r.column, r.value) for r in stored} == {
        ("run-1", "tok-1", "land", "expect_column_values_to_be_in_set", "land_use_code", "XYZ")}
    assert json.loads(stored[0].raw)["landUseCode"] == "XYZ" and stored[0].record_key.count("/") == 2
    (run,) = list_runs(engine)
    assert (run.rows_in, run.rows_valid, run.rows_quarantined, run.status) == (300, 285, 15, "passed")
    assert json.loads(run.rule_counts) == {"expect_column_values_to_be_in_set/land_use_code": 15}


def test_a_failed_run_writes_statistics_and_no_quarantine(engine):
    rows = records("permits", 50)
    for row in rows[:10]:
        row["status"] = "lost"
    with pytest.raises(ValidationFailed):
        validate_batch(batch("permits", rows), "permits", engine=engine)
    assert list_quarantined(engine) == []
    (run,) = list_runs(engine)
    assert (run.status, run.rows_valid, run.failure_rate) == ("failed", 40, 0.2)


def test_replay_releases_only_rows_that_now_pass(engine, monkeypatch):
    rows = records("parcels", 100)
    rows[3]["landUseCode"] = "XYZ"  # fixed below by a suite change
    rows[4]["holderId"] = "0100233480"  # a bad check digit: stays
    validate_batch(batch("parcels", rows), "parcels", engine=engine)
    assert len(list_quarantined(engine)) == 2

    untouched = replay(engine, "parcels")
    assert untouched.released_ids == () and len(untouched.still_quarantined) == 2

    import quality.suites

    monkeypatch.setattr(quality.suites, "LAND_USE_CODES", (*quality.suites.LAND_USE_CODES, "XYZ"))
    fixed = replay(engine, "parcels")
    assert len(fixed.released_ids) == 1 and len(fixed.still_quarantined) == 1
    assert fixed.released["parcels"].column("land_use_code").to_pylist() == ["XYZ"]
    (left,) = list_quarantined(engine)
    assert left.rule == "bad_check_digit:holderId" and left.attempts == 3
    (released,) = list_quarantined(engine, status="released")
    assert released.released_run_id == fixed.run_id


def test_replay_after_drift_approval(engine):
    rows = records("tax_notices", 40)
    rows[2]["ghi_chu"] = "trường mới"
    validate_batch(batch("tax_notices", rows), "tax_notices", engine=engine)
    assert [r.rule for r in list_quarantined(engine)] == ["drift:new_field"]
    (drift,) = list_drift(engine)
    approve_drift(engine, drift.id)
    result = replay(engine)
    assert len(result.released_ids) == 1 and list_quarantined(engine) == []


def test_cli_validate_list_show_replay(db_url, tmp_path: Path):
    rows = records("tax_notices", 50)
    rows[1]["due_date"] = "N/A"
    source = tmp_path / "notices.jsonl"
    source.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    runner = CliRunner()
    out = runner.invoke(validate_cli, ["tax_notices", "--input", str(source), "--database-url", db_url,
                                       "--output", str(tmp_path / "valid.parquet")])
    assert out.exit_code == 0, out.output
    assert "50 rows, 49 valid, 1 quarantined" in out.output
    assert pq.read_table(tmp_path / "valid.parquet").num_rows == 49

    parquet = tmp_path / "batch.parquet"
    pq.write_table(batch("tax_notices", rows), parquet)
    out = runner.invoke(validate_cli, ["tax_notices", "--input", str(parquet), "--database-url", db_url])
    assert out.exit_code == 0 and "1 quarantined" in out.output

    listing = runner.invoke(quarantine_cli, ["list", "--database-url", db_url])
    assert listing.exit_code == 0 and listing.output.count("bad_date:due_date") == 2
    header, first, *_ = listing.output.splitlines()
    assert header.split("\t")[:4] == ["id", "dataset", "record_key", "rule"]  # piped: a header, then TSV
    first_id = first.split("\t", 1)[0]
    shown = runner.invoke(quarantine_cli, ["show", first_id, "--database-url", db_url])
    assert "reason: bad_date:due_date on due_date (value 'N/A')" in shown.output
    assert '"due_date": "N/A"' in shown.output
    from lienthong.cli import main

    replayed = runner.invoke(main, ["quarantine", "replay", "--database-url", db_url])
    assert "0 released, 2 still quarantined" in replayed.output
    from sharing.api.audit import audit_log  # the console's replay is in the audit chain, under the OS user
    from sharing.db import engine_for as sharing_engine

    with sharing_engine(db_url).connect() as conn:
        (entry,) = conn.execute(sa.select(audit_log).where(audit_log.c.endpoint == "cli:quarantine.replay"))
    assert entry.client.startswith("os:") and "2 still quarantined" in entry.detail
    missing = runner.invoke(quarantine_cli, ["show", "9999", "--database-url", db_url])
    assert missing.exit_code != 0 and "no quarantined record 9999" in missing.output


def test_cli_threshold_failure_is_a_clear_error(sqlite_url, tmp_path: Path):
    rows = records("tax_notices", 20)
    for row in rows[:5]:
        row["status"] = "lost"
    source = tmp_path / "n.jsonl"
    source.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    out = CliRunner().invoke(validate_cli, ["tax_notices", "--input", str(source), "--database-url", sqlite_url])
    assert out.exit_code == 1 and "5 of 20 rows failed (25.0% > threshold 10.0%); nothing published" in out.output


def test_cli_frozen_drift_is_a_clear_error(sqlite_url, tmp_path: Path):
    rows = records("permits", 20)
    rows[3]["floors"] = "5"
    source = tmp_path / "p.jsonl"
    source.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    out = CliRunner().invoke(validate_cli, ["permits", "--input", str(source), "--database-url", sqlite_url])
    assert out.exit_code == 1 and "(policy freeze): unapproved drift retyped_field 'floors' in 1 rows" in out.output


def test_references_read_from_published_tables(engine, tmp_path: Path, db_url):
    import sqlalchemy as sa

    from quality.references import published_keys

    notices = records("tax_notices", 12)
    ds = sa.Table("ds_taxpayers", sa.MetaData(), sa.Column("tax_code", sa.String), sa.Column("is_deleted", sa.Boolean),
                  sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True))
    ds.create(engine)
    with engine.begin() as conn:
        conn.execute(ds.insert(), [{"tax_code": n["tax_code"], "is_deleted": i == 0, "valid_to": None}
                                   for i, n in enumerate(notices[:8])])
    keys = published_keys(engine, "tax_notices")
    assert set(keys) == {"taxpayers"} and keys["taxpayers"].num_rows == 7  # a deleted taxpayer is no reference
    source = tmp_path / "n.jsonl"
    source.write_text("\n".join(json.dumps(r) for r in notices), encoding="utf-8")
    out = CliRunner().invoke(validate_cli, ["tax_notices", "--input", str(source), "--database-url", db_url,
                                            "--check-references"])
    assert out.exit_code == 0, out.output
    assert "5  references not found (notice_taxpayer; counted, not quarantined)" in out.output
