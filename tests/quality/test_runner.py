"""The runner finds every failing row (not GX's capped sample) and splits each batch exactly in two."""

import json
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from quality.runner import ValidationFailed, validate_batch
from tests.quality.factory import batch, records

pytestmark = pytest.mark.unit


def _corrupt(rows: list[dict[str, Any]], n_bad: int) -> dict[int, tuple[str, str]]:
    """Corrupt n_bad rows four ways; the expected (rule, column) per row."""
    expected: dict[int, tuple[str, str]] = {}
    for k in range(n_bad):
        i = 3 + k * 7
        way = k % 4
        if way == 0:
            code = rows[i]["tax_code"]
            rows[i]["tax_code"] = code[:9] + str((int(code[9]) + 1) % 10)
            expected[i] = ("bad_check_digit:tax_code", "tax_code")
        elif way == 1:
            rows[i]["amount_vnd"] = -rows[i]["amount_vnd"]
            expected[i] = ("expect_column_values_to_be_between", "amount_vnd")
        elif way == 2:
            rows[i]["due_date"] = "2025.10.31 00:00"
            expected[i] = ("bad_date:due_date", "due_date")
        else:
            del rows[i]["status"]
            expected[i] = ("expect_column_values_to_not_be_null", "status")
    return expected


@pytest.mark.parametrize("checks", ["gx", "arrow"])
def test_every_bad_row_is_quarantined_beyond_gx_caps(checks):
    rows = records("tax_notices", 3000)
    expected = _corrupt(rows, 260)  # > 200: GX's partial lists stop at 20, SUMMARY samples too
    result = validate_batch(batch("tax_notices", rows, page="page-7"), "tax_notices", checks=checks)
    q = result.quarantine
    assert q.num_rows == 260 and result.valid.num_rows == 3000 - 260
    got = {r["row"]: (r["rule"], r["column"]) for r in q.select(["row", "rule", "column"]).to_pylist()}
    assert got == expected
    keys_valid = set(result.valid.column("notice_no").to_pylist())
    keys_bad = set(q.column("key").to_pylist())
    assert not keys_valid & keys_bad and len(keys_valid | keys_bad) == 3000
    first = q.slice(0, 1).to_pylist()[0]
    assert first["page"] == "page-7" and first["source"] == "tax" and first["dataset"] == "tax_notices"
    assert json.loads(first["raw"])["notice_no"] == first["key"]
    assert result.stats["rule_counts"]["expect_column_values_to_be_between/amount_vnd"] == 65


def test_a_row_failing_several_rules_carries_them_all():
    rows = records("permits", 20)
    rows[5]["floors"] = 0
    rows[5]["building_grade"] = "VII"
    rows[5]["issued_date"] = "N/A"
    result = validate_batch(batch("permits", rows), "permits")
    (row,) = result.quarantine.to_pylist()
    failures = json.loads(row["failures"])
    assert [(f["rule"], f["column"], f["value"]) for f in failures] == [
        ("bad_date:issued_date", "issued_date", "N/A"),
        ("expect_column_values_to_be_between", "floors", "0"),  # in the contract's column order
        ("expect_column_values_to_be_in_set", "building_grade", "VII"),
    ]
    assert row["rule"] == "bad_date:issued_date"


def test_coercion_errors_and_duplicates_are_quarantined():
    rows = records("enterprises", 10)
    rows[9]["enterpriseCode"] = rows[8]["enterpriseCode"]
    table = batch("enterprises", rows)
    errors = pa.array([None] * 3 + ["name: not valid UTF-8"] + [None] * 6, pa.string())
    table = table.set_column(table.column_names.index("_error"), "_error", errors)
    result = validate_batch(table, "enterprises", enforce_threshold=False)
    got = {r["row"]: r["rule"] for r in result.quarantine.to_pylist()}
    assert got == {3: "coercion", 8: "expect_column_values_to_be_unique", 9: "expect_column_values_to_be_unique"}


def test_tombstones_pass_on_their_key_alone():
    rows = records("tax_notices", 10)
    rows += [{"notice_no": "TB-2025-9999999", "deleted": True, "updated_at": "2025-12-01T00:00:00Z"},
             {"notice_no": None, "deleted": True, "updated_at": "2025-12-01T00:00:00Z"}]
    rows.append({**records("tax_notices", 1)[0], "notice_no": "TB-2025-9999998", "due_date": "N/A",
                 "deleted": True})  # a tombstone with its last values: a bad one is no reason to keep it
    result = validate_batch(batch("tax_notices", rows), "tax_notices")
    assert result.valid.num_rows == 12 and result.stats["tombstones"] == 3
    assert result.quarantine.column("rule").to_pylist() == ["expect_column_values_to_not_be_null"]


def test_split_communes_pass_flagged_for_review():
    from schemas.normalize.admin_units import reference

    split = next(c for c, t in sorted(reference().old_communes.items()) if len(t) > 1)
    rows = records("tax_notices", 5)
    rows[0].update(district_code="001", commune_code=split)
    result = validate_batch(batch("tax_notices", rows), "tax_notices")
    assert result.quarantine.num_rows == 0
    assert result.valid.column("admin_review").to_pylist() == [True, False, False, False, False]
    assert result.valid.column("commune_code").to_pylist()[0] is None


def test_over_the_threshold_fails_and_passes_nothing():
    rows = records("tax_notices", 100)
    for row in rows[:11]:
        row["status"] = "lost"
    with pytest.raises(ValidationFailed) as caught:
        validate_batch(batch("tax_notices", rows), "tax_notices")
    message = str(caught.value)
    assert "11 of 100 rows failed (11.0% > threshold 10.0%); nothing published" in message
    assert "expect_column_values_to_be_in_set/status=11" in message
    assert caught.value.stats["status"] == "failed"


def test_reference_misses_are_counted_not_quarantined():
    notices = records("tax_notices", 10)
    taxpayers = pa.table({"tax_code": [n["tax_code"] for n in notices[:7]]})
    result = validate_batch(batch("tax_notices", notices), "tax_notices", references={"taxpayers": taxpayers})
    assert result.stats["reference_misses"] == {"notice_taxpayer": 3}
    assert result.valid.num_rows == 10


def test_gx_and_arrow_agree_on_a_mixed_batch():
    rows = records("parcels", 2000)
    for i in range(0, 2000, 9):
        rows[i]["areaM2"] = "-1.5"
    for i in range(1, 2000, 13):
        rows[i]["landUseCode"] = "XYZ"
    rows[5]["parcelNumber"] = rows[4]["parcelNumber"]
    rows[5]["mapSheet"] = rows[4]["mapSheet"]
    table = batch("parcels", rows)
    by_gx = validate_batch(table, "parcels", enforce_threshold=False)
    by_arrow = validate_batch(table, "parcels", enforce_threshold=False, checks="arrow")
    assert by_gx.stats["rule_counts"] == by_arrow.stats["rule_counts"]
    assert pc.all(pc.equal(by_gx.quarantine.column("row"), by_arrow.quarantine.column("row"))).as_py()


def test_successive_batches_do_not_share_results():
    # the GX frame fingerprint is off (quality.gx): each batch must still be validated afresh
    first, second = records("tax_notices", 500), records("tax_notices", 500)
    for row in first[:20]:
        row["status"] = "lost"
    for row in second[300:330]:
        row["status"] = "lost"
    assert validate_batch(batch("tax_notices", first), "tax_notices").quarantine.num_rows == 20
    again = validate_batch(batch("tax_notices", second), "tax_notices").quarantine
    assert again.column("row").to_pylist() == list(range(300, 330))
