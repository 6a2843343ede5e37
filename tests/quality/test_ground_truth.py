"""Against the simulators' ground truth at 2% invalid values: every corrupted record is quarantined
with the right reason, every clean record passes, and no record is in both places or in neither.

Batches are built from the ground truth as served (`_served` for a corrupted record), in the shape a
connector hands over; the end-to-end version through the connectors belongs with them.
"""

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from quality.runner import validate_batch
from schemas.contract import Contract, contract_for_stream
from schemas.wire import batch_from_records

pytestmark = pytest.mark.integration

# the simulators' corruption kind -> the rule that must catch it (a rule on the field, or an expectation)
EXPECTED_RULE = {
    "bad_check_digit": "bad_check_digit:{field}",
    "unknown_commune": "unknown_commune:{field}",
    "odd_date": "bad_date:{field}",
    "negative_value": "expect_column_values_to_be_between",
    "missing_required": "expect_column_values_to_not_be_null",
}


def _column_of(contract: Contract, field: str) -> str:
    return next(c.name for c in contract.columns if c.source == (field,) and c.transform != "search_key")


@pytest.fixture(scope="module")
def truth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from agencies.cli import agencies

    out = tmp_path_factory.mktemp("truth")
    for agency in ("land", "business", "construction", "tax"):
        result = CliRunner().invoke(agencies, [
            "truth", agency, "--out", str(out / f"{agency}.parquet"), "--records", "1500",
            "--data-dir", str(out / "data"), "--fault", "invalid_values=0.02"])
        assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize(("agency", "stream"), [
    ("land", "parcels"), ("land", "land_certificates"), ("business", "enterprises"), ("business", "branches"),
    ("construction", "permits"), ("tax", "taxpayers"), ("tax", "land_tax_notices"),
])
def test_quarantine_matches_ground_truth(truth_dir: Path, agency: str, stream: str):
    contract = contract_for_stream(agency, stream)
    rows: list[dict[str, Any]] = [
        r for r in pq.read_table(truth_dir / f"{agency}.parquet").to_pylist() if r["_dataset"] == stream]
    records = [json.loads(r["_served"]) if r["_served"] else {k: r.get(k) for k in contract.wire_fields}
               for r in rows]
    batch = batch_from_records(records, contract, deleted=[bool(r["_deleted"]) for r in rows],
                               raws=[r["_served"] or json.dumps(rec, ensure_ascii=False)
                                     for r, rec in zip(rows, records, strict=True)])
    result = validate_batch(batch, contract)

    quarantined = {q["row"]: q for q in result.quarantine.to_pylist()}
    corrupted = {i: r["_corruption"] for i, r in enumerate(rows) if r["_corrupted"]}
    assert corrupted, "the fault should corrupt some records"
    assert set(quarantined) == set(corrupted)
    assert result.valid.num_rows + result.quarantine.num_rows == len(rows)
    for i, corruption in corrupted.items():
        kind, field = corruption.split(":", 1)
        entry = quarantined[i]
        assert entry["rule"] == EXPECTED_RULE[kind].format(field=field), (corruption, entry["reason"])
        if kind in ("negative_value", "missing_required"):
            assert entry["column"] == _column_of(contract, field), (corruption, entry["reason"])
        assert entry["key"] == rows[i]["_key"]
