"""Personal data hidden unless the grant shows it in clear.

Columns the grant does not list are left out altogether; listed personal or sensitive columns whose class
the grant does not clear are masked: personal text keeps each word's first letter (`Nguyễn Văn An` ->
`N*** V*** A***`), sensitive values keep their last three characters (`001089012345` -> `*********345`);
anything that is not text is replaced by null.

Whether a column is masked is decided by its PII class and the client's clearance for the dataset the value
comes from, wherever it appears: a view's column copied from a dataset (`parcel_profile.holder_name` from
`parcels.holder_name`) is shown as the client's grant on that dataset shows it, so the same value is never
clear in one answer and masked in another. A client with no grant on the source dataset is judged by the
view's grant.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sharing.api.policy import Client, Grant, PiiClass, pii_class, source_of

MASK = "*"


def mask_value(value: Any, cls: PiiClass) -> Any:
    if value is None or cls == "public":
        return value
    if not isinstance(value, str):
        return None
    if cls == "personal":
        return " ".join(word[:1] + MASK * 3 for word in value.split())
    keep = 3 if len(value) >= 8 else 0
    return MASK * (len(value) - keep) + value[len(value) - keep:]


def masked(dataset: str, column: str, grant: Grant, client: Client | None = None) -> bool:
    cls = pii_class(dataset, column)
    if cls == "public":
        return False
    source = source_of(dataset, column)
    judge = client.grant(source) if client is not None and source is not None else None
    return cls not in (judge or grant).clear


def visible_columns(dataset: str, grant: Grant, columns: Iterable[str],
                    client: Client | None = None) -> list[tuple[str, bool]]:
    """(column, masked) for each column the grant may read, in order."""
    return [(c, masked(dataset, c, grant, client)) for c in columns if grant.readable(c)]


def apply(dataset: str, grant: Grant, row: Mapping[str, Any], client: Client | None = None) -> dict[str, Any]:
    """The row as `grant` (and the client's grant on a view's source) may see it."""
    return {
        column: mask_value(row[column], pii_class(dataset, column)) if hidden else row[column]
        for column, hidden in visible_columns(dataset, grant, row.keys(), client)
    }
