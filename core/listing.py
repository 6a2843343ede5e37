"""How every `list` command prints: a table with headers that fits the terminal, tab-separated values with a
header line when piped, or JSON (`--json`). One place, so every list looks and parses the same."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return str(value)


def emit(rows: Sequence[dict[str, Any]], columns: Sequence[str], *, as_json: bool, empty: str,
         title: str | None = None, numeric: Sequence[str] = ()) -> None:
    """Print `rows` (dicts keyed by `columns`); `empty` is said (on stderr when piped) when there are none."""
    if as_json:
        print(json.dumps(list(rows), default=str, ensure_ascii=False, indent=2))
        return
    if not rows:
        print(empty, file=sys.stdout if sys.stdout.isatty() else sys.stderr)
        return
    if not sys.stdout.isatty():
        print("\t".join(columns))
        for row in rows:
            print("\t".join(_text(row.get(c)).replace("\t", " ").replace("\n", " ") for c in columns))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="right" if column in numeric else "left", overflow="fold")
    for row in rows:
        table.add_row(*(_text(row.get(c)) for c in columns))
    Console().print(table)
