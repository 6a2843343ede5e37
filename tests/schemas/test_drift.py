"""The three drift scenarios, each under its dataset's declared policy, on SQLite and PostgreSQL."""

import pytest
from click.testing import CliRunner

from quality.runner import validate_batch
from schemas.cli import drift as drift_cli
from schemas.contract import get_contract
from schemas.drift import DriftFrozen, detect_drift, list_drift
from tests.quality.factory import batch, records

pytestmark = pytest.mark.integration


def test_detects_new_renamed_and_retyped_fields_per_row():
    rows = records("permits", 10)
    rows[1]["ghi_chu"] = "trường mới"
    rows[2]["investor_name_v2"] = rows[2].pop("investor_name")
    rows[3]["floors"] = "5"
    events = {(e.field, e.kind): e.rows.to_pylist() for e in detect_drift(batch("permits", rows),
                                                                           get_contract("permits"))}
    assert set(events) == {("ghi_chu", "new_field"), ("investor_name_v2", "new_field"), ("floors", "retyped_field")}
    assert [i for i, hit in enumerate(events[("ghi_chu", "new_field")]) if hit] == [1]
    assert [i for i, hit in enumerate(events[("floors", "retyped_field")]) if hit] == [3]


def test_a_field_gone_from_every_record_is_missing():
    rows = records("enterprises", 5)
    for row in rows:
        row.pop("address")
    events = detect_drift(batch("enterprises", rows), get_contract("enterprises"))
    assert [(e.field, e.kind, e.count) for e in events] == [("address", "missing_field", 5)]


def test_evolve_adds_the_column(engine):
    rows = records("enterprises", 20)
    for row in rows[:3]:
        row["ghi_chu"] = "trường mới"
    result = validate_batch(batch("enterprises", rows), "enterprises", engine=engine)
    assert result.quarantine.num_rows == 0 and result.valid.num_rows == 20
    assert result.valid.column("ghi_chu").to_pylist()[:4] == ["trường mới"] * 3 + [None]
    (logged,) = list_drift(engine)
    assert (logged.source, logged.dataset, logged.field, logged.kind, logged.status) == (
        "business", "enterprises", "ghi_chu", "new_field", "open")
    assert "trường mới" in logged.sample and logged.rows_seen == 3


def test_quarantine_policy_quarantines_only_the_drifted_rows_until_approved(engine, db_url):
    rows = records("parcels", 30)
    rows[4]["holderName_v2"] = rows[4].pop("holderName")
    result = validate_batch(batch("parcels", rows), "parcels", engine=engine)
    assert result.valid.num_rows == 29
    assert result.quarantine.column("rule").to_pylist() == ["drift:new_field"]
    assert result.quarantine.column("column").to_pylist() == ["holderName_v2"]
    assert result.quarantine.column("value").to_pylist() == ["Nguyễn Văn Đức"]

    (logged,) = list_drift(engine)
    out = CliRunner().invoke(drift_cli, ["approve", str(logged.id), "--database-url", db_url])
    assert out.exit_code == 0, out.output
    listing = CliRunner().invoke(drift_cli, ["list", "--database-url", db_url])
    assert "holderName_v2" in listing.output and "approved" in listing.output
    # approved: the rename is no longer drift; the record lacks holderName, which its suite then refuses
    again = validate_batch(batch("parcels", rows), "parcels", engine=engine)
    assert again.quarantine.column("rule").to_pylist() == ["expect_column_values_to_not_be_null"]


def test_freeze_fails_the_run_and_writes_nothing(engine, db_url):
    rows = records("permits", 10)
    rows[7]["floors"] = "5"
    with pytest.raises(DriftFrozen, match=r"permits \(policy freeze\): unapproved drift retyped_field 'floors'"):
        validate_batch(batch("permits", rows), "permits", engine=engine)
    from quality.store import list_quarantined, list_runs

    assert list_quarantined(engine) == [] and list_runs(engine) == []
    (logged,) = list_drift(engine)
    CliRunner().invoke(drift_cli, ["approve", str(logged.id), "--database-url", db_url])
    assert validate_batch(batch("permits", rows), "permits", engine=engine).valid.num_rows == 10


def test_approving_an_unknown_id_is_an_error(sqlite_url):
    out = CliRunner().invoke(drift_cli, ["approve", "999", "--database-url", sqlite_url])
    assert out.exit_code != 0 and "no open drift with id 999" in out.output
