"""Tables of a contract's published schema for tests and benchmarks: the given columns, and a plain value of
its type in every other column."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa


def plain_value(t: pa.DataType) -> Any:
    if pa.types.is_timestamp(t):
        return datetime(2026, 11, 1, tzinfo=UTC)
    if pa.types.is_date(t):
        return date(2026, 1, 1)
    if pa.types.is_boolean(t):
        return False
    if pa.types.is_integer(t):
        return 1
    if pa.types.is_decimal(t):
        return Decimal("100.00")
    return "x"


def filled(dataset: str, n: int, given: dict[str, list[Any]]) -> pa.Table:
    """`n` rows of `dataset`'s published schema: the `given` columns, a plain value in the others."""
    from schemas.contract import get_contract
    from sharing.spec import dataset_spec

    schema = dataset_spec(get_contract(dataset)).schema
    return pa.table({f.name: pa.array(given.get(f.name) or [plain_value(f.type)] * n, type=f.type) for f in schema},
                    schema=schema)
