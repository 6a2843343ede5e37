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
from datetime import UTC, date, datetime, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from itertools import repeat
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


_INT64 = range(-(2**63), 2**63)


def _to_int(v: Any) -> int:
    if isinstance(v, bool):
        raise CoercionError(f"expected an integer, got {v!r}")
    if isinstance(v, int):
        out = v
    elif ((isinstance(v, float) and v.is_integer()) or (isinstance(v, str) and v.strip().lstrip("+-").isdigit())
          or (isinstance(v, Decimal) and v == v.to_integral_value())):
        out = int(v)
    else:
        raise CoercionError(f"expected an integer, got {v!r}")
    if out not in _INT64:  # refused here, the value alone: Arrow would refuse the whole column
        raise CoercionError(f"{v!r} is beyond a 64-bit integer")
    return out


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


# What json.dumps(r, ensure_ascii=False, separators=(",", ":"), default=_json_default) writes, without
# building an encoder per record. Compact, as orjson writes it (raw_json_native): one `_raw` form for all.
_RAW_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_json_default)
_ENCODE_STR = json.encoder.encode_basestring  # the encoder's own string writer (ensure_ascii=False)


def raw_json(record: Mapping[str, Any]) -> str:
    """A record's `_raw`: its JSON text, as the agency sent it (values as the reader decoded them)."""
    return _RAW_ENCODER.encode(record)


def raw_json_native(records: Sequence[Any]) -> list[str]:
    """`raw_json` of records that orjson parsed (only JSON's own types, ints within 64 bits, finite
    floats, valid UTF-8), written by orjson: a fifth of the encoder's time, the same text but for how a
    small float is spelt (`0.00001`, not `1e-05`). Encoding `_raw` was a quarter of a REST sync's reading."""
    import orjson

    dumps = orjson.dumps
    return [dumps(r).decode() for r in records]


# Timestamps that _json_default writes back exactly as sent: whole seconds or 6 non-zero digits of fraction,
# "Z" or an offset other than +/-00:00 (isoformat would write "+00:00", which becomes "Z").
_VERBATIM_TS = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.(?!0{6})[0-9]{6})?"
                          r"(?:Z|[+-](?!00:00)[0-9]{2}:[0-9]{2})")


def _fragments(values: list[Any], kind: str | None, texts: list[Any] | None = None) -> list[str]:
    """Each value as _RAW_ENCODER writes it inside a record. `kind` says what every value is (see
    connectors.bulk.convert_column); the writers below are the encoder's own for that type: int's repr,
    the string writer, and for Decimal, datetime and date the `_json_default` text, which is plain ASCII
    with nothing to escape, between quotes. Any other kind goes through the encoder value by value.
    `texts`: the texts the values were converted from; a timestamp column whose every text is one that
    `_json_default` would write back unchanged is written from them (datetime.isoformat is slow)."""
    if kind == "str":
        if None not in values:
            return list(map(_ENCODE_STR, values))
        return [_ENCODE_STR(v) if v is not None else "null" for v in values]
    if kind == "int":
        return list(map(int.__repr__, values))
    if kind == "bool":
        return ["true" if v else "false" for v in values]
    if kind == "decimal":
        return list(map('"%s"'.__mod__, values))
    if kind == "datetime" and texts is not None and None not in texts:
        stripped = list(map(str.strip, texts))
        if all(map(_VERBATIM_TS.fullmatch, stripped)):
            return list(map('"%s"'.__mod__, stripped))
    if kind in ("datetime", "date"):
        return list(map('"%s"'.__mod__, map(_json_default, values)))
    if kind == "null":
        return ["null"] * len(values)
    return list(map(_RAW_ENCODER.encode, values))


def raw_rows(names: Sequence[str], columns: Sequence[list[Any]], kinds: Sequence[str | None],
             texts: Sequence[list[Any] | None] | None = None) -> list[str]:
    """`raw_json` of each row of `columns` (one list per name, in the order of `names`), a column at a time."""
    template = "{" + ",".join(_ENCODE_STR(name).replace("%", "%%") + ":%s" for name in names) + "}"
    if not names:
        return [template] * (len(columns[0]) if columns else 0)
    fragments = map(_fragments, columns, kinds, texts if texts is not None else [None] * len(columns))
    return list(map(template.__mod__, zip(*fragments, strict=True)))


class Decoded(list):  # type: ignore[type-arg]
    """A page's records (dicts) with each one's `_raw` already written, in `raw` (connectors.bulk reads both
    a column at a time). The records are not to be changed: their `_raw` would no longer match."""

    __slots__ = ("raw",)

    def __init__(self, records: Sequence[Mapping[str, Any]], raw: list[str]) -> None:
        super().__init__(records)
        self.raw = raw


def raw_of(page: Sequence[Mapping[str, Any]], kept: Sequence[Mapping[str, Any]]) -> list[str] | None:
    """The `_raw` of the records `kept` of a page (in page order), when the reader wrote them (Decoded)."""
    raw: list[str] | None = getattr(page, "raw", None)
    if raw is None or len(kept) == len(page):
        return raw
    at = {id(r): i for i, r in enumerate(page)}
    return [raw[at[id(r)]] for r in kept]


def _fixed_offsets(values: list[Any]) -> bool:
    """Every datetime has a fixed UTC offset (a datetime.timezone, as fromisoformat gives): no naive one to
    read in the source's zone, no zone whose offset Arrow and astimezone might work out differently."""
    return {type(v.tzinfo) for v in values if v is not None} == {timezone}


def _note(errors: list[list[str] | None], i: int, problem: str) -> None:
    found = errors[i]
    if found is None:
        errors[i] = [problem]
    else:
        found.append(problem)


def _values(records: Sequence[Mapping[str, Any]], name: str) -> list[Any]:
    """Each record's value of a field: dict.get in a C loop when the records are dicts, as they are."""
    try:
        return list(map(dict.get, records, repeat(name)))  # type: ignore[arg-type]
    except TypeError:  # another Mapping
        return [r.get(name) for r in records]


class Coercer:
    """Builds the RecordBatches of one stream."""

    def __init__(self, source: str, stream: str, fields: Mapping[str, str], zone: tzinfo | None = None) -> None:
        self.source, self.stream = source, stream
        self.schema = schema_for(fields)
        self.fields = [(name, arrow_type(kind)) for name, kind in fields.items()]
        self._convert = {name: _converter(t, zone) for name, t in self.fields}
        self._nested = any("." in name for name in fields)

    def _column(self, name: str, t: pa.DataType, values: list[Any], errors: list[list[str] | None]) -> pa.Array:
        types = set(map(type, values))
        types.discard(type(None))
        try:
            if pa.types.is_string(t) and types <= {str}:
                return pa.array(values, t)
            if pa.types.is_timestamp(t) and types <= {str}:
                return pa.array(values, pa.string()).cast(t)
            if pa.types.is_timestamp(t) and types == {datetime} and _fixed_offsets(values):
                return pa.array(values, t)  # Arrow converts an aware datetime to UTC as astimezone(UTC) does
            if pa.types.is_decimal(t) and types == {Decimal}:
                # Arrow refuses what the check below refuses: digits lost to the scale, too many digits
                # for the precision, NaN and infinities (tests/connectors/test_soap_columns.py)
                return pa.array(values, t)
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
            values = [field_value(r, name) for r in records] if self._nested else _values(records, name)
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
