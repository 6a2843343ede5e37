"""Cursor state and coercion, without a server."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pyarrow as pa
import pytest

from connectors.coerce import Coercer
from connectors.config import SecretRef
from connectors.secrets import Redactor, resolve
from connectors.state import CursorFilter, StreamState, key_set, missing_from
from core.errors import ConfigError

pytestmark = pytest.mark.unit

T = datetime(2026, 1, 1, 12, tzinfo=UTC)


def test_ties_at_the_cursor_and_repeated_records_are_dropped_once_seen() -> None:
    state = StreamState()
    f = CursorFilter(state, timedelta())
    assert [f.admit(T, "a"), f.admit(T, "b"), f.admit(T, "a"), f.admit(T - timedelta(1), "z")] == [
        True, True, False, False]
    f.save(state)
    assert state.cursor == "2026-01-01T12:00:00Z" and state.tie_keys == ["a", "b"]
    again = CursorFilter(StreamState.from_dict(json.loads(json.dumps(state.to_dict()))), timedelta())
    assert again.since("1970-01-01T00:00:00Z") == T  # inclusive: the tie is asked again ...
    assert [again.admit(T, "a"), again.admit(T, "c"), again.admit(T + timedelta(seconds=1), "a")] == [
        False, True, True]  # ... and only what is new passes


def test_lookback_window_passes_late_records_again_once() -> None:
    state = StreamState(cursor="2026-01-01T12:00:00Z", tie_keys=["a"])
    f = CursorFilter(state, timedelta(minutes=30))
    assert f.since("1970-01-01T00:00:00Z") == T - timedelta(minutes=30)
    late = T - timedelta(minutes=10)
    assert [f.admit(late, "x"), f.admit(late, "x"), f.admit(T - timedelta(hours=2), "y")] == [True, False, False]


def test_values_that_will_not_coerce_are_null_with_an_error_and_the_row_is_kept() -> None:
    coercer = Coercer("land", "parcels", {"id": "string", "n": "int64", "area": "decimal128(18,2)",
                                          "at": "timestamp", "ok": "bool", "f": "float64"})
    records: list[dict[str, object]] = [
        {"id": "1", "n": 3, "area": "12.50", "at": "2025-03-04T05:06:07Z", "ok": True, "f": 1.5},
        {"id": "2", "n": "three", "area": "1.234", "at": "04/03/2025", "ok": "maybe", "f": "x"},
        {"id": "3", "n": None, "area": Decimal("7"), "at": T, "ok": "false", "f": 2},
    ]
    batch = coercer.batch(records, "offset=0")
    rows = batch.to_pylist()
    assert batch.num_rows == 3
    assert rows[0]["_error"] is None and rows[0]["area"] == Decimal("12.50")
    assert rows[1]["n"] is None and rows[1]["at"] is None and rows[1]["area"] is None
    for field in ("n:", "area:", "at:", "ok:", "f:"):
        assert field in rows[1]["_error"]
    assert rows[2]["_error"] is None and rows[2]["ok"] is False and rows[2]["at"] == T
    assert json.loads(rows[1]["_raw"])["n"] == "three" and rows[1]["_page"] == "offset=0"
    assert batch.schema.field("at").type == pa.timestamp("us", tz="UTC")


def test_invalid_utf8_is_flagged_per_field() -> None:
    coercer = Coercer("tax", "taxpayers", {"tax_code": "string", "name": "string"})
    name = b"Nguy\xff\xfen".decode("utf-8", "surrogateescape")
    row = coercer.batch([{"tax_code": "0100109106", "name": name}], "first", bad_utf8=True).to_pylist()[0]
    assert row["name"] is None and row["_error"] == "name: not valid UTF-8"
    assert "\ufffd" in json.loads(row["_raw"])["name"]


def test_redactor_masks_secrets_and_auth_values() -> None:
    redact = Redactor(["tax-dev-secret"])
    text = redact('{"client_secret": "tax-dev-secret"} Authorization: Bearer abc.def password=hunter22')
    assert "tax-dev-secret" not in text and "abc.def" not in text and "hunter22" not in text


def test_loading_a_source_never_imports_airflow() -> None:
    code = ("import sys, connectors; connectors.load_source('tax'); connectors.read; "
            "print('airflow' in sys.modules, 'zeep' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_an_env_secret_reference_is_resolved_and_its_absence_named() -> None:
    ref = SecretRef(env="X_SECRET")
    assert resolve(ref, "tax", {"X_SECRET": "v4lue"}) == "v4lue"
    with pytest.raises(ConfigError, match=r"^\[tax\] secret env:X_SECRET is not set$"):
        resolve(ref, "tax", {})


def test_a_large_key_set_round_trips_compressed_through_json() -> None:
    keys = key_set(pa.array([f"{i:010d}-{i % 7:03d}" for i in range(50_000)] + ["0000000001-001"], pa.string()))
    state = StreamState(cursor="2026-01-01T12:00:00Z", known_keys=keys)
    data = json.loads(json.dumps(state.to_dict()))
    assert "known_keys_zlib" in data and len(data["known_keys_zlib"]) < 400_000
    back = StreamState.from_dict(data).keys()
    assert back is not None and back.cast(pa.string()).equals(keys) and len(back) == 50_000


def test_key_sets_and_their_difference_match_python_sets() -> None:
    import random

    rng = random.Random(5)
    keys = [f"{rng.randrange(10**9):010d}" for _ in range(30_000)] + ["Đ-1", "a-2", "a-2"]
    known = key_set(pa.array(keys, pa.string()))
    assert known.to_pylist() == sorted(set(keys))
    live_keys = [*rng.sample(sorted(set(keys)), 20_000), "new-key"]
    assert missing_from(known, key_set(pa.array(live_keys, pa.string()))) == sorted(set(keys) - set(live_keys))


def test_list_fields_keep_repeated_values_and_flag_a_scalar() -> None:
    coercer = Coercer("s", "t", {"code": "string", "lines.code": "list<string>", "n": "list<int64>"})
    rows = coercer.batch([{"code": "a", "lines": {"code": ["4711", "4620"]}, "n": ["1", 2]},
                          {"code": "b", "lines": {"code": "4711"}, "n": []}], "first").to_pylist()
    assert rows[0]["lines.code"] == ["4711", "4620"] and rows[0]["n"] == [1, 2] and rows[0]["_error"] is None
    assert rows[1]["lines.code"] is None and "expected a list" in rows[1]["_error"] and rows[1]["n"] == []
