"""Personal data hidden unless the grant shows it in clear.

Columns the grant does not list are left out altogether; listed personal or sensitive columns whose class
the grant does not clear are masked: personal text keeps each word's first letter (`Nguyễn Văn An` ->
`N*** V*** A***`), sensitive values keep their last three characters (`001089012345` -> `*********345`);
anything that is not text is replaced by null.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sharing.api.policy import Grant, PiiClass, pii_class

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


def visible_columns(dataset: str, grant: Grant, columns: Iterable[str]) -> list[tuple[str, bool]]:
    """(column, masked) for each column the grant may read, in order."""
    out = []
    for column in columns:
        if grant.readable(column):
            out.append((column, pii_class(dataset, column) not in grant.clear))
    return out


def apply(dataset: str, grant: Grant, row: Mapping[str, Any]) -> dict[str, Any]:
    """The row as `grant` may see it."""
    return {
        column: mask_value(row[column], pii_class(dataset, column)) if masked else row[column]
        for column, masked in visible_columns(dataset, grant, row.keys())
    }
