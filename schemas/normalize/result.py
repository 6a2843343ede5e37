"""What a normalisation returns: values plus a per-row reason for the rows it could not normalise."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc


@dataclass(frozen=True, slots=True)
class Normalized:
    """`values` (one array, or several named outputs) and `error`: a string array, null where the row is fine."""

    values: pa.Array
    error: pa.Array
    outputs: Mapping[str, pa.Array] = field(default_factory=dict)

    @classmethod
    def ok(cls, values: pa.Array) -> Normalized:
        return cls(values, pa.nulls(len(values), pa.string()))


def flag(error: pa.Array, failed: pa.Array, reason: str) -> pa.Array:
    """`error` with `reason` set on rows where `failed` is true and no earlier reason is set."""
    failed = pc.fill_null(failed, False)
    return pc.if_else(pc.and_(failed, pc.is_null(error)), pa.scalar(reason, pa.string()), error)


def no_errors(length: int) -> pa.Array:
    return pa.nulls(length, pa.string())


def as_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One contiguous array (compute functions on a ChunkedArray return chunked results)."""
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    return values
