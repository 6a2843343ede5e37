import datetime as dt
import unicodedata
from decimal import Decimal

import pytest

from schemas.contract import get_contract
from schemas.mapping import map_batch
from tests.quality.factory import batch, records

pytestmark = pytest.mark.unit


def test_parcels_map_to_canonical_columns():
    rows = records("parcels", 3)
    rows[0]["holderName"] = unicodedata.normalize("NFD", "  Nguyễn  Văn Đức ")
    mapped = map_batch(batch("parcels", rows), get_contract("parcels"))
    table = mapped.table
    assert table.column_names == list(get_contract("parcels").column_names)
    first = table.slice(0, 1).to_pylist()[0]
    assert first["holder_name"] == "Nguyễn Văn Đức" and first["holder_name_search"] == "nguyen van duc"
    assert first["area_m2"] == Decimal("100.50")
    assert first["updated_at"].tzinfo is not None
    assert mapped.failures == ()


def test_mapping_reports_each_failing_field_with_its_value():
    rows = records("tax_notices", 4)
    rows[1]["tax_code"] = rows[1]["tax_code"][:9] + str((int(rows[1]["tax_code"][9]) + 1) % 10)
    rows[2]["due_date"] = "2025.10.31 00:00"
    rows[3]["commune_code"] = "99999"
    mapped = map_batch(batch("tax_notices", rows), get_contract("tax_notices"))
    found = {(f.column, f.field): [(i, r) for i, r in enumerate(f.reason.to_pylist()) if r] for f in mapped.failures}
    assert found == {
        ("tax_code", "tax_code"): [(1, "bad_check_digit")],
        ("due_date", "due_date"): [(2, "bad_date")],
        ("commune_code", "commune_code"): [(3, "unknown_commune")],
    }
    assert mapped.table.column("due_date").to_pylist()[0] == dt.date(2025, 10, 31)


def test_a_missing_wire_field_maps_to_nulls():
    table = batch("permits", records("permits", 2)).drop_columns(["investor_name"])
    mapped = map_batch(table, get_contract("permits"))
    assert mapped.table.column("investor_name").to_pylist() == [None, None]
