"""Classing a contract change as compatible or breaking for the datasets' consumers.

Compatible: a new nullable column, a relaxed nullability, a widened integer or decimal, a new
description, a mapping, policy or threshold change. Breaking: a removed or renamed column, a
narrowed or changed type, a column made required, a new required column, a new primary key or
cursor, a column's PII class changed (grants and masking follow it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pyarrow as pa

from schemas.contract import Contract, type_name

ChangeKind = Literal["none", "compatible", "breaking"]


@dataclass(frozen=True, slots=True)
class ContractChange:
    kind: ChangeKind
    breaking: tuple[str, ...] = field(default=())
    compatible: tuple[str, ...] = field(default=())


def _widens(old: pa.DataType, new: pa.DataType) -> bool:
    if pa.types.is_integer(old) and pa.types.is_integer(new):
        same_sign = bool(pa.types.is_signed_integer(old) == pa.types.is_signed_integer(new))
        return same_sign and bool(new.bit_width >= old.bit_width)
    if pa.types.is_decimal(old) and pa.types.is_decimal(new):
        return bool(new.scale == old.scale and new.precision >= old.precision)
    return False


def classify_change(old: Contract, new: Contract) -> ContractChange:
    """What changing `old` into `new` means for a consumer, with the reasons."""
    breaking: list[str] = []
    compatible: list[str] = []
    if old.dataset != new.dataset:
        breaking.append(f"dataset renamed {old.dataset!r} -> {new.dataset!r}")
    if old.published_key != new.published_key:  # with `feeds: {keys: per_source}`, the source leads the key
        breaking.append(f"primary key {list(old.published_key)} -> {list(new.published_key)}")
    if old.cursor != new.cursor:
        breaking.append(f"cursor {old.cursor!r} -> {new.cursor!r}")
    new_columns = {c.name: c for c in new.columns}
    old_columns = {c.name: c for c in old.columns}
    for name, col in old_columns.items():
        after = new_columns.get(name)
        if after is None:
            breaking.append(f"column {name!r} removed")
            continue
        if after.type != col.type:
            change = f"column {name!r} type {type_name(col.type)} -> {type_name(after.type)}"
            (compatible if _widens(col.type, after.type) else breaking).append(change)
        if col.nullable and not after.nullable:
            breaking.append(f"column {name!r} made required")
        elif not col.nullable and after.nullable:
            compatible.append(f"column {name!r} made nullable")
        if col.pii != after.pii:
            breaking.append(f"column {name!r} PII class {col.pii} -> {after.pii}")
        if col.description != after.description:
            compatible.append(f"column {name!r} description changed")
        if (col.source, col.transform, col.step) != (after.source, after.transform, after.step):
            compatible.append(f"column {name!r} mapping changed")
    for name, col in new_columns.items():
        if name not in old_columns:
            if col.nullable:
                compatible.append(f"column {name!r} added")
            else:
                breaking.append(f"required column {name!r} added")
    for attr in ("drift_policy", "failure_threshold", "wire_fields", "steps", "description", "tombstone"):
        if getattr(old, attr) != getattr(new, attr):
            compatible.append(f"{attr} changed")
    kind: ChangeKind = "breaking" if breaking else "compatible" if compatible else "none"
    return ContractChange(kind, tuple(breaking), tuple(compatible))
