"""Reading a dataset's history: as valid at a stated time or version, and what changed since one.

Every serving table keeps each version of each row (`version_from`, `version_to`, `valid_from`,
`valid_to`, `is_deleted`; see `sharing.db.serving_table`), so both questions are answered from the
table alone:

- As of version V, a key's row is the one with `version_from <= V < version_to` (or `version_to` open)
  that is not a tombstone. A timestamp is resolved to the last version published at or before it, and
  the answer names that version.
- The changes after version S are the row versions with `version_from > S`, in order of
  `(version_from, key)`: a tombstone is a delete; a row that replaced a live row closed at the same
  version is an update; any other is an insert. The order is total and stable, so a feed paged by
  "after (version, key)" is resumable without gaps or repeats, even while new versions are published.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core.errors import Fatal
from sharing import db

ChangeKind = Literal["insert", "update", "delete"]


class NoSuchVersion(Fatal):
    """The asked version or time is outside what the dataset has published."""


class VersionPruned(NoSuchVersion):
    """The asked version or time is older than what retention keeps: what is left cannot answer it."""


@dataclass(frozen=True, slots=True)
class AsOf:
    """The version a read answers from, and when that version was published."""

    dataset: str
    version: int
    published_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        when = self.published_at
        if when is not None and when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return {"version": self.version, "published_at": when.isoformat() if when else None}


# What a point looks like, for the API's declared parameters: a version, or an ISO-8601 date or time.
POINT_PATTERN = (
    r"^(?:[vV]?[0-9]{1,9}|[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    r"(?:T(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,6})?)?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?)?)$"
)


def parse_point(text: str | None) -> int | datetime | None:
    """`None`, a version number (`12`, `v12`) or an ISO-8601 time (a zone-less time is UTC)."""
    if text is None or text == "":
        return None
    raw = text.strip()
    digits = raw[1:] if raw[:1] in ("v", "V") else raw
    if digits.isdigit():
        return int(digits)
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"{text!r} is neither a version number nor an ISO-8601 time") from exc
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _published_at(conn: Connection, dataset: str, version: int) -> datetime | None:
    v = db.dataset_versions
    return conn.execute(
        sa.select(v.c.published_at).where(v.c.dataset == dataset, v.c.version == version)
    ).scalar_one_or_none()


def current_version(conn: Connection, dataset: str) -> int:
    found = conn.execute(sa.select(db.datasets.c.current_version).where(db.datasets.c.name == dataset)).scalar()
    return int(found or 0)


def keep_from(conn: Connection, dataset: str) -> int:
    """The oldest version of `dataset` retention keeps readable (1 when nothing was pruned)."""
    marks = db.retention_marks
    found = conn.execute(sa.select(marks.c.keep_from).where(marks.c.dataset == dataset)).scalar()
    return int(found or 1)


def check_kept(conn: Connection, dataset: str, version: int, asked: object) -> None:
    """Raise VersionPruned when `version` is below what retention keeps of `dataset`."""
    oldest = keep_from(conn, dataset)
    if version < oldest:
        raise VersionPruned(f"dataset {dataset} keeps versions from {oldest} (retention); {asked} is older "
                            f"and was pruned")


def resolve(conn: Connection, dataset: str, point: int | datetime | None) -> AsOf:
    """The version `point` names: the current one for `None`, the last published at or before a time.
    A point older than retention keeps is VersionPruned, not an answer from the rows that are left."""
    latest = current_version(conn, dataset)
    if latest == 0:
        raise NoSuchVersion(f"dataset {dataset} has no published version")
    if point is None:
        return AsOf(dataset, latest, _published_at(conn, dataset, latest))
    if isinstance(point, int):
        if not 1 <= point <= latest:
            raise NoSuchVersion(f"dataset {dataset} has versions 1..{latest}, not {point}")
        check_kept(conn, dataset, point, f"version {point}")
        return AsOf(dataset, point, _published_at(conn, dataset, point))
    v = db.dataset_versions
    # Stored times may come back zone-less (SQLite): compare in UTC on both sides.
    naive = point.astimezone(UTC).replace(tzinfo=None) if conn.dialect.name == "sqlite" else point
    row = conn.execute(
        sa.select(v.c.version, v.c.published_at).where(v.c.dataset == dataset, v.c.published_at <= naive)
        .order_by(v.c.version.desc()).limit(1)
    ).first()
    if row is None:
        raise NoSuchVersion(f"dataset {dataset} had no version yet at {point.isoformat()}")
    check_kept(conn, dataset, int(row.version), f"{point.isoformat()} (version {row.version})")
    return AsOf(dataset, int(row.version), row.published_at)


def live_at(table: sa.Table, version: int | None) -> sa.ColumnElement[bool]:
    """The rows of `table` that were current, and not deleted, at `version` (the current ones for None)."""
    if version is None:
        return sa.and_(table.c.valid_to.is_(None), sa.not_(table.c.is_deleted))
    return sa.and_(
        table.c.version_from <= version,
        sa.or_(table.c.version_to.is_(None), table.c.version_to > version),
        sa.not_(table.c.is_deleted),
    )


@dataclass(frozen=True, slots=True)
class Change:
    version: int
    kind: ChangeKind
    key: tuple[Any, ...]
    row: dict[str, Any]  # the row's values after the change (a delete: the last values it had)
    at: datetime


def changes(
    conn: Connection,
    table: sa.Table,
    key: Sequence[str],
    columns: Sequence[str],
    *,
    since: int,
    after: tuple[int, Sequence[Any]] | None = None,
    upto: int | None = None,
    limit: int = 500,
) -> list[Change]:
    """The changes after version `since`, in order; with `after` = (version, key), those after that one.

    `since` is the last version the reader has fully seen; a feed's cursor carries the last change it
    handed out as `after`, so the next page starts right behind it.
    """
    c = table.alias("c")
    p = table.alias("p")
    key_cols = [c.c[k] for k in key]
    replaced = sa.exists(
        sa.select(1).select_from(p).where(
            *[p.c[k] == c.c[k] for k in key], p.c.version_to == c.c.version_from, sa.not_(p.c.is_deleted)
        )
    )
    query = sa.select(
        *[c.c[n] for n in columns], c.c.is_deleted, c.c.version_from, c.c.valid_from, replaced.label("_replaced")
    ).where(c.c.version_from > since)
    if upto is not None:
        query = query.where(c.c.version_from <= upto)
    if after is not None:
        version, last = after
        query = query.where(sa.or_(
            c.c.version_from > version,
            sa.and_(c.c.version_from == version, sa.tuple_(*key_cols) > sa.tuple_(*[sa.literal(v) for v in last])),
        ))
    query = query.order_by(c.c.version_from, *key_cols).limit(limit)
    found = []
    for r in conn.execute(query).mappings():
        kind: ChangeKind = "delete" if r["is_deleted"] else ("update" if r["_replaced"] else "insert")
        found.append(Change(
            version=int(r["version_from"]), kind=kind, key=tuple(r[k] for k in key),
            row={n: r[n] for n in columns}, at=r["valid_from"],
        ))
    return found
