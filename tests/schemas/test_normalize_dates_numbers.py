import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pytest

from schemas.normalize.dates import parse_date
from schemas.normalize.numbers import normalize_area, normalize_bool, normalize_timestamp, normalize_vnd

pytestmark = pytest.mark.unit


def test_dates_in_every_source_format():
    result = parse_date(pa.array(["2025-03-04", "04/03/2025", "04-03-2025", "2025-03-04T05:06:07Z", None]))
    assert result.values.to_pylist() == [dt.date(2025, 3, 4)] * 4 + [None]
    assert result.error.to_pylist() == [None] * 5


@pytest.mark.parametrize("text", ["2025.03.04 00:00", "N/A", "31/02/2025", "2025-13-01", "4/3/2025", "2025/03/04"])
def test_odd_or_impossible_dates_are_refused(text):
    result = parse_date(pa.array([text]))
    assert result.values.to_pylist() == [None]
    assert result.error.to_pylist() == ["bad_date"]


def test_vnd_amounts_are_whole_integers():
    assert normalize_vnd(pa.array([150_000, None])).values.to_pylist() == [150_000, None]
    text = normalize_vnd(pa.array(["150000", "1.5", "abc", "-20"]))
    assert text.values.to_pylist() == [150_000, None, None, -20]
    assert text.error.to_pylist() == [None, "bad_amount", "bad_amount", None]
    floats = normalize_vnd(pa.array([100.0, 100.5]))
    assert floats.values.to_pylist() == [100, None] and floats.error.to_pylist() == [None, "bad_amount"]


def test_areas_are_decimals_with_two_places():
    text = normalize_area(pa.array(["120.5", "-3", "1.234", "x", None]))
    assert text.values.type == pa.decimal128(14, 2)
    assert text.values.to_pylist() == [Decimal("120.50"), Decimal("-3.00"), None, None, None]
    assert text.error.to_pylist() == [None, None, "bad_area", "bad_area", None]
    wide = normalize_area(pa.array([Decimal("12.50"), Decimal("1234567890123.00"), None], pa.decimal128(18, 2)))
    assert wide.values.to_pylist() == [Decimal("12.50"), None, None]
    assert wide.error.to_pylist() == [None, "bad_area", None]
    floats = normalize_area(pa.array([420.25, 0.1 + 0.2, 1.005001]))
    assert floats.values.to_pylist()[:2] == [Decimal("420.25"), Decimal("0.30")]
    assert floats.error.to_pylist() == [None, None, "bad_area"]


def test_timestamps_and_booleans():
    ts = normalize_timestamp(pa.array(["2025-03-04T05:06:07Z", "2025-03-04 05:06", None]))
    assert ts.values.to_pylist()[0] == dt.datetime(2025, 3, 4, 5, 6, 7, tzinfo=dt.UTC)
    assert ts.error.to_pylist() == [None, "bad_timestamp", None]
    flags = normalize_bool(pa.array(["true", "0", "maybe"]))
    assert flags.values.to_pylist() == [True, False, None] and flags.error.to_pylist()[2] == "bad_boolean"
