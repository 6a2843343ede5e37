"""Records into Arrow: the stream's declared types plus the metadata columns.

A value that will not coerce becomes null and its row's `_error` names the field and why; the row is
never dropped. `_raw` keeps the record as the agency sent it (JSON text) for quarantine.

Each column is first converted in one vectorised Arrow call; only a column that fails is redone value
by value to find the bad ones.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any

import pyarrow as pa

METADATA_COLUMNS = ("_source", "_stream", "_page", "_deleted", "_error", "_raw")
_DECIMAL = re.compile(r"^decimal128\((\d+),\s*(\d+)\)$")
TIMESTAMP = pa.timestamp("us", tz="UTC")


def arrow_type(name: str) -> pa.DataType:
    if name.startswith("list<") and name.endswith(">"):  # repeated values (SOAP maxOccurs > 1, JSON arrays)
        return pa.list_(arrow_type(name[5:-1]))
    simple = {"string": pa.string(), "int64": pa.int64(), "float64": pa.float64(), "bool": pa.bool_(),
              "timestamp": TIMESTAMP}
    if name in simple:
        return simple[name]
    match = _DECIMAL.match(name)
    if not match:
        raise ValueError(f"unknown field type {name!r}")
    return pa.decimal128(int(match.group(1)), int(match.group(2)))


def schema_for(fields: Mapping[str, str]) -> pa.Schema:
    """The Arrow schema of a stream's batches: declared fields, then the metadata columns."""
    columns = [pa.field(name, arrow_type(kind)) for name, kind in fields.items()]
    columns += [pa.field("_source", pa.string(), nullable=False), pa.field("_stream", pa.string(), nullable=False),
                pa.field("_page", pa.string()), pa.field("_deleted", pa.bool_(), nullable=False),
                pa.field("_error", pa.string()), pa.field("_raw", pa.string())]
    return pa.schema(columns)


class CoercionError(ValueError):
    pass


def field_value(record: Mapping[str, Any], name: str) -> Any:
    """A declared field's value: a plain key, else a dotted path into nested objects (`thua_dat.ma_xa`)."""
    if name in record or "." not in name:
        return record.get(name)
    value: Any = record
    for part in name.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _to_int(v: Any) -> int:
    if isinstance(v, bool):
        raise CoercionError(f"expected an integer, got {v!r}")
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str) and v.strip().lstrip("+-").isdigit():
        return int(v)
    if isinstance(v, Decimal) and v == v.to_integral_value():
        return int(v)
    raise CoercionError(f"expected an integer, got {v!r}")


def _to_float(v: Any) -> float:
    if isinstance(v, bool):
        raise CoercionError(f"expected a number, got {v!r}")
    if isinstance(v, (int, float, Decimal)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            pass
    raise CoercionError(f"expected a number, got {v!r}")


def _to_bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "false", "1", "0"):
        return v.lower() in ("true", "1")
    raise CoercionError(f"expected a boolean, got {v!r}")


def _to_str(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, (int, float, Decimal)) and not isinstance(v, bool):
        return str(v)
    if isinstance(v, (datetime, date)):
        return v.isoformat()
    raise CoercionError(f"expected a string, got {type(v).__name__}")


def _timestamp_in(zone: tzinfo | None) -> Callable[[Any], datetime]:
    """Timestamps; one written without a zone is read in `zone` (the source's declared zone), or refused."""

    def convert(v: Any) -> datetime:
        if isinstance(v, datetime):
            parsed = v
        elif isinstance(v, str):
            try:
                parsed = datetime.fromisoformat(v)
            except ValueError:
                raise CoercionError(f"expected an ISO 8601 timestamp, got {v!r}") from None
        else:
            raise CoercionError(f"expected a timestamp, got {v!r}")
        if parsed.tzinfo is None:
            if zone is None:
                raise CoercionError(f"timestamp without a zone: {v!r}")
            parsed = parsed.replace(tzinfo=zone)
        return parsed.astimezone(UTC)

    return convert


_to_ts = _timestamp_in(None)


def _decimal_converter(scale: int, precision: int) -> Callable[[Any], Decimal]:
    quantum = Decimal(1).scaleb(-scale)

    def convert(v: Any) -> Decimal:
        if isinstance(v, bool):
            raise CoercionError(f"expected a decimal, got {v!r}")
        try:
            d = v if isinstance(v, Decimal) else Decimal(str(v).strip())
            q = d.quantize(quantum)
        except (InvalidOperation, ValueError):
            raise CoercionError(f"expected a decimal, got {v!r}") from None
        if q != d or not q.is_finite() or len(q.as_tuple().digits) > precision:
            raise CoercionError(f"{v!r} does not fit decimal128({precision},{scale})")
        return q

    return convert


def _list_converter(item: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def convert(v: Any) -> list[Any]:
        if not isinstance(v, list):
            raise CoercionError(f"expected a list, got {type(v).__name__}")
        return [None if x is None else item(x) for x in v]

    return convert


def _converter(t: pa.DataType, zone: tzinfo | None = None) -> Callable[[Any], Any]:
    if pa.types.is_list(t):
        return _list_converter(_converter(t.value_type, zone))
    if pa.types.is_decimal(t):
        return _decimal_converter(t.scale, t.precision)
    return {pa.int64(): _to_int, pa.float64(): _to_float, pa.bool_(): _to_bool, pa.string(): _to_str,
            TIMESTAMP: _timestamp_in(zone)}[t]


def _has_surrogates(value: str) -> bool:
    """Whether a string holds bytes that were not UTF-8 (surrogate escapes from JSON, U+FFFD from XML)."""
    if "\ufffd" in value:
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


# What json.dumps(r, ensure_ascii=False, default=_json_default) writes, without building an encoder per record.
_RAW_ENCODER = json.JSONEncoder(ensure_ascii=False, default=_json_default)


def _note(errors: list[list[str] | None], i: int, problem: str) -> None:
    found = errors[i]
    if found is None:
        errors[i] = [problem]
    else:
        found.append(problem)


class Coercer:
    """Builds the RecordBatches of one stream."""

    def __init__(self, source: str, stream: str, fields: Mapping[str, str], zone: tzinfo | None = None) -> None:
        self.source, self.stream = source, stream
        self.schema = schema_for(fields)
        self.fields = [(name, arrow_type(kind)) for name, kind in fields.items()]
        self._convert = {name: _converter(t, zone) for name, t in self.fields}
        self._nested = any("." in name for name in fields)

    def _column(self, name: str, t: pa.DataType, values: list[Any], errors: list[list[str] | None]) -> pa.Array:
        try:
            if pa.types.is_string(t) and all(v is None or type(v) is str for v in values):
                return pa.array(values, t)
            if pa.types.is_timestamp(t) and all(v is None or type(v) is str for v in values):
                return pa.array(values, pa.string()).cast(t)
            if pa.types.is_decimal(t) or pa.types.is_list(t):
                raise CoercionError  # Arrow would round or reject, or take a string as a list; check each
            if not pa.types.is_string(t) and not pa.types.is_timestamp(t):
                return pa.array(values, t)
        except (pa.ArrowInvalid, pa.ArrowTypeError, CoercionError, OverflowError):
            pass
        convert = self._convert[name]
        out: list[Any] = []
        for i, v in enumerate(values):
            if v is None:
                out.append(None)
                continue
            try:
                out.append(convert(v))
            except (CoercionError, ValueError, TypeError, OverflowError) as exc:
                out.append(None)
                _note(errors, i, f"{name}: {exc}")
        try:
            return pa.array(out, t)
        except (pa.ArrowInvalid, OverflowError) as exc:  # e.g. an int beyond int64
            for i, v in enumerate(out):
                if v is not None:
                    _note(errors, i, f"{name}: {exc}")
            return pa.nulls(len(out), t)

    def batch(self, records: Sequence[Mapping[str, Any]], page: str, deleted: Sequence[bool] | None = None,
              raw: Sequence[str] | None = None, bad_utf8: bool = False) -> pa.RecordBatch:
        """One batch from records (dicts of wire field name to value). `deleted` marks tombstones and
        reconciled deletes; `bad_utf8` says the page was decoded with surrogate escapes."""
        n = len(records)
        errors: list[list[str] | None] = [None] * n
        encode = _RAW_ENCODER.encode
        raws = list(raw) if raw is not None else [encode(r) for r in records]
        columns: list[pa.Array] = []
        for name, t in self.fields:
            values = [field_value(r, name) for r in records] if self._nested else [r.get(name) for r in records]
            if bad_utf8 and pa.types.is_string(t):
                for i, v in enumerate(values):
                    if isinstance(v, str) and _has_surrogates(v):
                        values[i] = None
                        _note(errors, i, f"{name}: not valid UTF-8")
            columns.append(self._column(name, t, values, errors))
        if bad_utf8:
            raws = [r.encode("utf-8", "surrogateescape").decode("utf-8", "replace") if _has_surrogates(r) else r
                    for r in raws]
        columns += [
            pa.array([self.source] * n, pa.string()),
            pa.array([self.stream] * n, pa.string()),
            pa.array([page] * n, pa.string()),
            pa.array(list(deleted) if deleted is not None else [False] * n, pa.bool_()),
            pa.array(["; ".join(e) if e else None for e in errors], pa.string()),
            pa.array(raws, pa.string()),
        ]
        return pa.RecordBatch.from_arrays(columns, schema=self.schema)
