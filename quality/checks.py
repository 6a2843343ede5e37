"""The suites' expectations computed with pyarrow.compute: the same predicate GX evaluates, per row.

Used for key checks on tombstones, for the benchmark's plain-Arrow baseline, and to cross-check GX.
Null handling follows GX: only not-null expectations fail a null; unique fails every copy of a value.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas.normalize.result import as_array


def expectation_type(expectation: Any) -> str:
    return str(expectation.expectation_type)


def expectation_columns(expectation: Any) -> list[str]:
    column = getattr(expectation, "column", None)
    if column is not None:
        return [str(column)]
    return [str(c) for c in getattr(expectation, "column_list", [])]


def _numeric(values: pa.Array) -> pa.Array:
    return pc.cast(values, pa.float64()) if pa.types.is_decimal(values.type) else values


def _duplicated(columns: list[pa.Array]) -> pa.Array:
    """True on every row whose (non-null) value occurs more than once."""
    n = len(columns[0])
    table = pa.table({f"c{i}": c for i, c in enumerate(columns)}).append_column("_row", pa.array(np.arange(n)))
    counts = table.group_by([f"c{i}" for i in range(len(columns))]).aggregate([("_row", "count")])
    dup = counts.filter(pc.greater(counts["_row_count"], 1))
    if dup.num_rows == 0:
        return pa.array(np.zeros(n, dtype=bool))
    joined = table.join(dup, keys=[f"c{i}" for i in range(len(columns))], join_type="inner")
    mask = np.zeros(n, dtype=bool)
    mask[joined["_row"].to_numpy()] = True
    any_null = pc.is_null(columns[0])
    for c in columns[1:]:
        any_null = pc.or_(any_null, pc.is_null(c))
    return pc.and_(pa.array(mask), pc.invert(any_null))


def failing_rows(table: pa.Table, expectation: Any) -> pa.Array:
    """A bool array: True where the row fails `expectation`."""
    kind = expectation_type(expectation)
    columns = [as_array(table.column(c)) for c in expectation_columns(expectation)]
    values = columns[0]
    if kind == "expect_column_values_to_not_be_null":
        return pc.is_null(values)
    if kind == "expect_column_values_to_be_unique":
        return _duplicated([values])
    if kind == "expect_compound_columns_to_be_unique":
        return _duplicated(columns)
    if kind == "expect_column_values_to_match_regex":
        return pc.fill_null(pc.invert(pc.match_substring_regex(values, expectation.regex)), False)
    if kind == "expect_column_values_to_be_in_set":
        return pc.fill_null(pc.invert(pc.is_in(values, value_set=pa.array(list(expectation.value_set)))), False)
    if kind == "expect_column_values_to_be_between":
        numbers = _numeric(values)
        bad = pa.array(np.zeros(len(values), dtype=bool))
        if expectation.min_value is not None:
            low = pc.less_equal if expectation.strict_min else pc.less
            bad = pc.or_(bad, low(numbers, pa.scalar(float(expectation.min_value))))
        if expectation.max_value is not None:
            high = pc.greater_equal if expectation.strict_max else pc.greater
            bad = pc.or_(bad, high(numbers, pa.scalar(float(expectation.max_value))))
        return pc.fill_null(bad, False)
    raise NotImplementedError(f"no Arrow predicate for {kind}")
