"""Numbers: VND amounts as int64, areas as decimal128(14, 2), plain integers, timestamps in UTC."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from schemas.normalize.result import Normalized, as_array, flag, no_errors

AREA_TYPE = pa.decimal128(14, 2)
TIMESTAMP_TYPE = pa.timestamp("us", tz="UTC")
_INTEGER_TEXT = r"^[+-]?\d{1,18}$"
_DECIMAL_TEXT = r"^[+-]?\d{1,12}(\.\d{1,2})?$"


def _integers(values: pa.Array, reason: str) -> Normalized:
    values = as_array(values)
    if pa.types.is_integer(values.type):
        return Normalized.ok(pc.cast(values, pa.int64()))
    error = no_errors(len(values))
    if pa.types.is_floating(values.type) or pa.types.is_decimal(values.type):
        whole = pc.equal(pc.floor(pc.cast(values, pa.float64())), pc.cast(values, pa.float64()))
        error = flag(error, pc.invert(whole), reason)
        as_float = pc.if_else(pc.fill_null(whole, False), pc.cast(values, pa.float64()), None)
        return Normalized(pc.cast(as_float, pa.int64(), safe=False), error)
    text = pc.utf8_trim_whitespace(pc.cast(values, pa.string()))
    shaped = pc.match_substring_regex(text, _INTEGER_TEXT)
    error = flag(error, pc.invert(shaped), reason)
    clean = pc.if_else(pc.fill_null(shaped, False), text, pa.scalar(None, pa.string()))
    return Normalized(pc.cast(clean, pa.int64()), error)


def normalize_int(values: pa.Array) -> Normalized:
    """int64; reason `bad_integer` for text or fractions that are not whole numbers."""
    return _integers(values, "bad_integer")


def normalize_vnd(values: pa.Array) -> Normalized:
    """A VND amount: whole đồng as int64; reason `bad_amount` for fractions or text."""
    return _integers(values, "bad_amount")


def normalize_area(values: pa.Array) -> Normalized:
    """m² as decimal128(14, 2); reason `bad_area` for text that is not a number with at most 2 places."""
    values = as_array(values)
    error = no_errors(len(values))
    if pa.types.is_decimal(values.type) or pa.types.is_integer(values.type):
        # a wider decimal (connectors read decimal128(18,2)) must fit 12 integer digits and 2 places
        as_float = pc.cast(values, pa.float64())
        cents = pc.multiply(as_float, 100.0)
        off_grid = pc.greater(pc.abs(pc.subtract(cents, pc.round(cents))), 1e-6)
        too_big = pc.greater_equal(pc.abs(as_float), 1e12)
        error = flag(flag(error, off_grid, "bad_area"), too_big, "bad_area")
        keep = pc.if_else(pc.is_null(error), values, pa.scalar(None, values.type))
        return Normalized(pc.cast(keep, AREA_TYPE, safe=False), error)
    if pa.types.is_floating(values.type):
        # a float off the 2-place grid by more than rounding noise carried more places than the contract
        cents = pc.multiply(values, 100.0)
        off_grid = pc.greater(pc.abs(pc.subtract(cents, pc.round(cents))), 1e-6)
        error = flag(error, off_grid, "bad_area")
        error = flag(error, pc.greater_equal(pc.abs(values), 1e12), "bad_area")
        keep = pc.if_else(pc.fill_null(pc.is_null(error), False), values, None)
        return Normalized(pc.cast(pc.round(keep, 2), AREA_TYPE, safe=False), error)
    text = pc.utf8_trim_whitespace(pc.cast(values, pa.string()))
    shaped = pc.match_substring_regex(text, _DECIMAL_TEXT)
    error = flag(error, pc.invert(shaped), "bad_area")
    clean = pc.if_else(pc.fill_null(shaped, False), text, pa.scalar(None, pa.string()))
    return Normalized(pc.cast(clean, AREA_TYPE), error)


def normalize_timestamp(values: pa.Array) -> Normalized:
    """timestamp[us, UTC] from a timestamp or ISO 8601 text; reason `bad_timestamp`."""
    values = as_array(values)
    if pa.types.is_timestamp(values.type):
        if values.type.tz is None:
            values = pc.assume_timezone(values, "UTC")
        return Normalized.ok(pc.cast(values, TIMESTAMP_TYPE))
    text = pc.utf8_trim_whitespace(pc.cast(values, pa.string()))
    shaped = pc.match_substring_regex(text, r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$")
    error = flag(no_errors(len(text)), pc.invert(shaped), "bad_timestamp")
    clean = pc.if_else(pc.fill_null(shaped, False), text, pa.scalar(None, pa.string()))
    return Normalized(pc.cast(clean, TIMESTAMP_TYPE), error)


def normalize_bool(values: pa.Array) -> Normalized:
    """bool from bool, or the texts true/false/1/0; reason `bad_boolean`."""
    values = as_array(values)
    if pa.types.is_boolean(values.type) or pa.types.is_null(values.type):
        return Normalized.ok(pc.cast(values, pa.bool_()))
    text = pc.utf8_lower(pc.utf8_trim_whitespace(pc.cast(values, pa.string())))
    truthy = pc.is_in(text, value_set=pa.array(["true", "1"]))
    falsy = pc.is_in(text, value_set=pa.array(["false", "0"]))
    error = flag(no_errors(len(text)), pc.and_(pc.is_valid(text), pc.invert(pc.or_(truthy, falsy))), "bad_boolean")
    out = pc.if_else(truthy, True, pc.if_else(falsy, False, pa.scalar(None, pa.bool_())))
    return Normalized(out, error)
