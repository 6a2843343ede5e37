"""Records (dicts of wire field names) into a batch shaped as a connector hands it over.

Used to replay quarantined records from their raw JSON, by `lienthong validate --input FILE.jsonl`,
and by tests. A value that will not take its field's wire type is set null and named in `_error`,
as the connectors do.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from schemas.contract import Contract
from schemas.mapping import WIRE_ARROW_TYPES


def _convert(value: Any, dtype: pa.DataType) -> Any:
    if value is None:
        return None
    if pa.types.is_string(dtype):
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValueError(f"expected text, got {type(value).__name__}")
        return str(value)
    if pa.types.is_integer(dtype):
        if isinstance(value, bool):
            raise ValueError(f"expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
            return int(value)
        raise ValueError(f"expected an integer, got {value!r}")
    if pa.types.is_floating(dtype):
        if isinstance(value, bool):
            raise ValueError(f"expected a number, got {value!r}")
        return float(value)
    if pa.types.is_boolean(dtype):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
            return value.lower() in ("true", "1")
        raise ValueError(f"expected a boolean, got {value!r}")
    return pa.scalar(value, pa.string()).cast(dtype).as_py()  # timestamps from ISO text


def batch_from_records(
    records: Sequence[Mapping[str, Any]], contract: Contract, *, page: str | Sequence[str | None] = "0",
    raws: Sequence[str] | None = None, deleted: Sequence[bool] | None = None,
) -> pa.Table:
    """A wire-shaped table: the contract's wire fields, then `_source _stream _page _deleted _error _raw`."""
    n = len(records)
    errors: list[list[str]] = [[] for _ in range(n)]
    arrays: list[pa.Array] = []
    names: list[str] = []
    for field, kind in contract.wire_fields.items():
        dtype = WIRE_ARROW_TYPES[kind]
        values: list[Any] = []
        for i, record in enumerate(records):
            try:
                values.append(_convert(record.get(field), dtype))
            except (ValueError, TypeError, pa.ArrowInvalid) as exc:
                values.append(None)
                errors[i].append(f"{field}: {exc}")
        arrays.append(pa.array(values, dtype))
        names.append(field)
    pages = [page] * n if isinstance(page, str) else list(page)
    raw_text = list(raws) if raws is not None else [
        json.dumps(r, ensure_ascii=False, separators=(",", ":"), default=str) for r in records]
    if deleted is None:
        deleted = [bool(r.get("deleted")) for r in records]
    arrays += [
        pa.array([contract.agency] * n, pa.string()),
        pa.array([contract.stream] * n, pa.string()),
        pa.array(pages, pa.string()),
        pa.array(list(deleted), pa.bool_()),
        pa.array(["; ".join(e) if e else None for e in errors], pa.string()),
        pa.array(raw_text, pa.string()),
    ]
    names += ["_source", "_stream", "_page", "_deleted", "_error", "_raw"]
    return pa.Table.from_arrays(arrays, names=names)
