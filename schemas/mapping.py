"""Mapping a connector batch (wire field names) onto its contract's canonical columns.

The result keeps the batch's row order and length, so a row index means the same record in the wire
batch, the canonical table and the failures. Failures are per row and column: which source field,
which rule (the normalisation's reason) and the value as written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from schemas.contract import Contract
from schemas.normalize.result import Normalized, as_array
from schemas.transforms import STEP_IMPLEMENTATIONS, TRANSFORMS

METADATA_COLUMNS = ("_source", "_stream", "_page", "_error", "_raw")

WIRE_ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int": pa.int64(),
    "decimal": pa.string(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}


@dataclass(frozen=True, slots=True)
class FieldFailures:
    """Rows of one column that failed normalisation: `reason` is null where the row is fine."""

    column: str
    field: str
    reason: pa.Array  # string, one per row
    value: pa.Array  # the source value as text


@dataclass(frozen=True, slots=True)
class Mapped:
    table: pa.Table  # canonical columns, same rows as the input
    failures: tuple[FieldFailures, ...]


def _as_text(values: pa.Array) -> pa.Array:
    values = as_array(values)
    return values if pa.types.is_string(values.type) else pc.cast(values, pa.string())


def _field(batch: pa.Table, name: str, contract: Contract) -> pa.Array:
    """A wire field's values; a field missing from the batch (drift) reads as nulls."""
    if name in batch.column_names:
        return as_array(batch.column(name))
    return pa.nulls(batch.num_rows, WIRE_ARROW_TYPES[contract.wire_fields[name]])


def map_batch(batch: pa.RecordBatch | pa.Table, contract: Contract) -> Mapped:
    """Canonical columns for every row of `batch`, and what failed to normalise where."""
    table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
    failures: list[FieldFailures] = []
    step_results: dict[str, Normalized] = {}
    for step in contract.steps:
        inputs = [_field(table, name, contract) for name in step.inputs]
        result = STEP_IMPLEMENTATIONS[step.function](inputs)
        step_results[step.name] = result
        if result.error.null_count < len(result.error):
            # a step's reason belongs to its last input (the commune code of (province, district, commune))
            failures.append(FieldFailures("commune_code", step.inputs[-1], result.error, _as_text(inputs[-1])))

    arrays: list[pa.Array] = []
    for col in contract.columns:
        if col.value is not None:  # a fixed value (the feed column, a source's declared default)
            values = pa.array([col.value] * table.num_rows).cast(col.type)
        elif col.transform == "absent":  # a feed of a shared dataset that does not send this column
            values = pa.nulls(table.num_rows, col.type)
        elif col.step is not None:
            step_name, output = col.step.split(".", 1)
            values = step_results[step_name].outputs[output]
        else:
            inputs = [_field(table, name, contract) for name in col.source]
            result = TRANSFORMS[col.transform](inputs)
            values = result.values
            if result.error.null_count < len(result.error):
                failures.append(FieldFailures(col.name, col.source[-1], result.error, _as_text(inputs[-1])))
        if col.recode:
            values = _recode(as_array(values), col.recode)
        arrays.append(pc.cast(as_array(values), col.type))
    canonical = pa.Table.from_arrays(arrays, schema=pa.schema([pa.field(c.name, c.type) for c in contract.columns]))
    return Mapped(canonical, tuple(failures))


def _recode(values: pa.Array, recode: Mapping[str, str]) -> pa.Array:
    """Values as a source sends them -> the dataset's (`Thu hồi` -> `revoked`); others are left as they are,
    for the column's expectations to judge."""
    text = _as_text(values)
    found = pc.index_in(text, value_set=pa.array(list(recode), pa.string()))
    mapped = pc.take(pa.array(list(recode.values()), pa.string()), found)
    return pc.if_else(pc.is_valid(found), mapped, text)
