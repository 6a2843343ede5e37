"""The lookups, in SQLAlchemy Core over the serving tables: every value from a request is a bound parameter.

Tables are built from the contracts (and the view specs), not reflected, so each column reads back as its
contract types it. Only current rows are read: `valid_to IS NULL AND NOT is_deleted`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sharing import db
from sharing.spec import DatasetSpec

Row = dict[str, Any]


@cache
def specs() -> dict[str, DatasetSpec]:
    """Every dataset the API can serve, by name: the contracts' and the views'."""
    from schemas.contract import contracts
    from sharing.spec import dataset_spec
    from sharing.views import MATCH_STATS, UNMATCHED, VIEWS

    found = {name: dataset_spec(c) for name, c in contracts().items()}
    found.update({v.spec.name: v.spec for v in VIEWS})
    found.update({s.name: s for s in (MATCH_STATS, UNMATCHED)})
    return found


@cache
def table(name: str) -> sa.Table:
    spec = specs()[name]
    return db.serving_table(spec.name, spec.schema, spec.primary_key)


def columns(name: str) -> list[str]:
    return list(specs()[name].schema.names)


def key_of(name: str, row: Row) -> Any:
    """A row's primary key as the audit log records it: the value, or a list for compound keys."""
    key = specs()[name].primary_key
    return row[key[0]] if len(key) == 1 else [row[k] for k in key]


def _current(t: sa.Table) -> sa.ColumnElement[bool]:
    return sa.and_(t.c.valid_to.is_(None), sa.not_(t.c.is_deleted))


VERSION_KEY, AS_OF_KEY = "_lt_version", "_lt_as_of"


def _select(name: str, present: Published | None = None) -> tuple[sa.Table, sa.Select[Any]]:
    """Current rows of `name`, each with the dataset's current version and its publication time, read by
    the same statement (one snapshot: the version named is the version read, at no extra round trip).
    In an as-of read (`present.at` names a version of `name`), the rows as they were at that version."""
    from sharing.history import live_at

    t = table(name)
    d, v = db.datasets, db.dataset_versions
    pinned = present.at.get(name) if present is not None else None
    if pinned is None:
        version: Any = sa.select(d.c.current_version).where(d.c.name == name).scalar_subquery()
        where = _current(t)
    else:
        version, where = sa.literal(pinned), live_at(t, pinned)
    as_of = (sa.select(v.c.published_at).where(v.c.dataset == name, v.c.version == version)
             .scalar_subquery())
    return t, sa.select(*[t.c[c] for c in columns(name)], version.label(VERSION_KEY),
                        as_of.label(AS_OF_KEY)).where(where)


def version_of(rows: list[Row]) -> VersionRead | None:
    """The version the rows were read at (removing it from them); None for no rows."""
    found = None
    for row in rows:
        version, as_of = row.pop(VERSION_KEY, None), row.pop(AS_OF_KEY, None)
        if found is None and version is not None:
            found = VersionRead(int(version), as_of)
    return found


@dataclass(frozen=True, slots=True)
class VersionRead:
    """The version of a dataset a lookup read, and when it was published (its data's as-of time)."""

    version: int | None
    as_of: Any

    def json(self) -> dict[str, Any]:
        return {"version": self.version, "as_of": self.as_of}


@dataclass(slots=True)
class Published:
    """Which serving tables exist, read once per connection use (a dataset may be published later)."""

    names: frozenset[str]
    versions: dict[str, VersionRead]  # as of this read: what an empty answer names
    at: Mapping[str, int] = field(default_factory=dict)  # an as-of read: the version to read of each dataset

    @classmethod
    def read(cls, conn: Connection) -> Published:
        db.create_system_tables(conn.engine)
        read = versions(conn, None)
        names = set(read)
        if sa.inspect(conn).has_table("lt_admin_succession"):
            names.add("lt_admin_succession")
        return cls(frozenset(names), read)

    def as_of(self, read: dict[str, VersionRead], asked: Sequence[str]) -> Published:
        """This view pinned to the versions of an as-of read; the asked datasets with none then are absent."""
        gone = set(asked) - set(read)
        return Published(self.names - gone, {**self.versions, **read},
                         {n: int(r.version) for n, r in read.items() if r.version is not None})


def versions_as_of(conn: Connection, names: Sequence[str], point: int | datetime) -> dict[str, VersionRead]:
    """The versions an as-of read answers from: for a time, each dataset's last version published at or
    before it; for a version number, that version of the first of `names`, and the others as of the time it
    was published. A dataset with no version yet at that point is left out, as if unpublished."""
    from sharing.history import NoSuchVersion, VersionPruned, resolve

    out: dict[str, VersionRead] = {}
    when: int | datetime = point
    if isinstance(point, int):
        first = resolve(conn, names[0], point)  # NoSuchVersion: the caller's 404
        out[names[0]] = VersionRead(first.version, first.published_at)
        if first.published_at is None:
            return out
        when = first.published_at if first.published_at.tzinfo else first.published_at.replace(tzinfo=UTC)
    for name in names:
        if name in out:
            continue
        try:
            found = resolve(conn, name, when)
        except VersionPruned:
            raise  # a dataset left out would be an answer missing what it had then
        except NoSuchVersion:
            continue
        out[name] = VersionRead(found.version, found.published_at)
    return out


def versions(conn: Connection, names: Sequence[str] | None) -> dict[str, VersionRead]:
    """The current version of each of `names` (None: all) that is published, with its publication time."""
    d, v = db.datasets, db.dataset_versions
    query = (sa.select(d.c.name, d.c.current_version, v.c.published_at)
             .join(v, sa.and_(v.c.dataset == d.c.name, v.c.version == d.c.current_version))
             .where(d.c.current_version > 0))
    if names is not None:
        query = query.where(d.c.name.in_(list(names)))
    return {name: VersionRead(int(version), at) for name, version, at in conn.execute(query)}


def _rows(conn: Connection, query: sa.Select[Any], params: Mapping[str, Any] | None = None) -> list[Row]:
    return [dict(r) for r in conn.execute(query, dict(params or {})).mappings()]


Build = Callable[[sa.Table, sa.Select[Any]], sa.Select[Any]]
_STATEMENTS: dict[tuple[Any, ...], sa.Select[Any]] = {}


def _statement(name: str, present: Published, variant: tuple[Any, ...], build: Build) -> sa.Select[Any]:
    """`build` over the current rows of `name`, with the request's values as named bind parameters: made once
    per variant and reused (building a Select cost more CPU than running it, ~0.45 ms of ~0.7 per query).
    An as-of read builds its own, pinned to its version."""
    if present.at.get(name) is not None:
        return build(*_select(name, present))
    key = (name, *variant)
    found = _STATEMENTS.get(key)
    if found is None:  # two threads may both build it: the same statement, the last one kept
        found = _STATEMENTS[key] = build(*_select(name))
    return found


def enterprise(conn: Connection, present: Published, code10: str, code13: str | None,
               wanted: Sequence[str]) -> dict[str, list[Row]]:
    """The enterprise with this 10-digit code, its profile, its branches (one, for a 13-digit code), its tax record."""
    out: dict[str, list[Row]] = {}
    for name in wanted:
        if name not in present.names:
            continue
        if name in ("enterprises", "enterprise_profile"):
            q = _statement(name, present, ("code",), lambda t, q: q.where(t.c.enterprise_code == sa.bindparam("code")))
            out[name] = _rows(conn, q, {"code": code10})
        elif name == "branches":
            one = code13 is not None
            q = _statement(name, present, ("branches", one), functools.partial(_branches, one=one))
            out[name] = _rows(conn, q, {"code": code10, **({"branch": code13} if one else {})})
        elif name == "taxpayers":
            q = _statement(name, present, ("codes",),
                           lambda t, q: q.where(t.c.tax_code.in_(sa.bindparam("codes", expanding=True))))
            out[name] = _rows(conn, q, {"codes": [c for c in (code10, code13) if c]})
    return out


def _branches(t: sa.Table, q: sa.Select[Any], *, one: bool) -> sa.Select[Any]:
    q = q.where(t.c.enterprise_code == sa.bindparam("code"))
    if one:
        q = q.where(t.c.branch_code == sa.bindparam("branch"))
    return q.order_by(t.c.branch_code).limit(1000)


def _by_parcel_keys(t: sa.Table, q: sa.Select[Any], *, order: Sequence[str]) -> sa.Select[Any]:
    at = sa.tuple_(t.c.commune_code_source, t.c.map_sheet, t.c.parcel_number)
    return q.where(at.in_(sa.bindparam("keys", expanding=True))).order_by(*[t.c[k] for k in order]).limit(1000)


def _commune(t: sa.Table, code: Any, present: Published, *, legacy_column: bool) -> sa.ColumnElement[bool]:
    """Rows of `t` in commune `code` (a value or a bind parameter), whether `code` is pre-2025 or current,
    across the 2025 splits."""
    match = sa.or_(t.c.commune_code == code, t.c.commune_code_source == code)
    if "lt_admin_succession" not in present.names:
        return match
    from sharing.views import succession

    if legacy_column:  # a parcel still filed under an old commune that became `code` (or part of it)
        old = sa.select(succession.c.old_code).where(succession.c.new_code == code)
        match = sa.or_(match, sa.and_(t.c.admin_legacy, t.c.commune_code_source.in_(old)))
    # `code` is an old commune: records under the 2025 communes it went to
    new = sa.select(succession.c.new_code).where(succession.c.old_code == code)
    return sa.or_(match, t.c.commune_code.in_(new))


def _at_parcel(t: sa.Table, q: sa.Select[Any], present: Published, *, legacy_column: bool) -> sa.Select[Any]:
    return q.where(t.c.map_sheet == sa.bindparam("sheet"), t.c.parcel_number == sa.bindparam("number"),
                   _commune(t, sa.bindparam("commune"), present, legacy_column=legacy_column))


def parcel(conn: Connection, present: Published, commune: str, sheet: int, number: int,
           wanted: Sequence[str]) -> dict[str, list[Row]]:
    """The parcel(s) at this map sheet and number in this commune, their profile and certificates."""
    if "parcels" not in present.names:
        return {}
    succession = "lt_admin_succession" in present.names
    q = _statement("parcels", present, ("at", succession), lambda t, q: _at_parcel(
        t, q, present, legacy_column=True).order_by(t.c.commune_code_source).limit(20))
    parcels = _rows(conn, q, {"sheet": sheet, "number": number, "commune": commune})
    keys = [(p["commune_code_source"], p["map_sheet"], p["parcel_number"]) for p in parcels]
    out: dict[str, list[Row]] = {}
    for name in wanted:
        if name == "parcels":
            out[name] = parcels
        elif name in ("parcel_profile", "land_certificates") and name in present.names:
            if not keys:
                out[name] = []
                continue
            q = _statement(name, present, ("keys",),
                           functools.partial(_by_parcel_keys, order=specs()[name].primary_key))
            out[name] = _rows(conn, q, {"keys": keys})
    return out


def permit_order() -> list[str]:
    """The order permits are listed in and paged by: the permit number, then the rest of the published key
    (its source, when several sources feed permits: two authorities may issue the same number)."""
    key = specs()["permits"].primary_key
    return ["permit_no", *[k for k in key if k != "permit_no"]]


def permits(conn: Connection, present: Published, *, investor_id: str | None,
            parcel_at: tuple[str, int, int] | None, after: Sequence[Any] | None, limit: int) -> list[Row]:
    """Permits of one investor or on one parcel, in `permit_order`, `limit` after the position `after`."""
    if "permits" not in present.names:
        return []
    order = permit_order()

    def build(t: sa.Table, q: sa.Select[Any]) -> sa.Select[Any]:
        if investor_id is not None:
            q = q.where(t.c.investor_id == sa.bindparam("investor"))
        if parcel_at is not None:
            q = _at_parcel(t, q, present, legacy_column=False)
        if after is not None:
            q = q.where(sa.tuple_(*[t.c[k] for k in order]) > sa.tuple_(*[sa.bindparam(f"after_{k}") for k in order]))
        return q.order_by(*[t.c[k] for k in order]).limit(sa.bindparam("limit", type_=sa.Integer))

    variant = (investor_id is not None, parcel_at is not None, after is not None,
               parcel_at is not None and "lt_admin_succession" in present.names)
    params: dict[str, Any] = {"limit": limit}
    if investor_id is not None:
        params["investor"] = investor_id
    if parcel_at is not None:
        params["commune"], params["sheet"], params["number"] = parcel_at
    if after is not None:
        params.update({f"after_{k}": v for k, v in zip(order, after, strict=True)})
    return _rows(conn, _statement("permits", present, variant, build), params)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_enterprises(conn: Connection, present: Published, key: str, *, after: tuple[int, str] | None,
                       limit: int) -> list[Row]:
    """Enterprises whose search name holds every word of `key` (already a search key), best first.

    Rank 0: the whole name; 1: the name starts with the query; 2: it starts with the first word; 3: the
    words are elsewhere. Ties by enterprise code, which is also the cursor's tiebreak.
    """
    if "enterprises" not in present.names:
        return []
    words = key.split()

    def build(t: sa.Table, q: sa.Select[Any]) -> sa.Select[Any]:
        col = t.c.name_search
        rank = sa.case(
            (col == sa.bindparam("key"), 0),
            (col.like(sa.bindparam("starts"), escape="\\"), 1),
            (col.like(sa.bindparam("first"), escape="\\"), 2),
            else_=3,
        ).label("rank")
        for i in range(len(words)):
            q = q.where(col.like(sa.bindparam(f"word{i}"), escape="\\"))
        if after is not None:
            after_rank = sa.bindparam("after_rank", type_=sa.Integer)
            q = q.where(sa.or_(rank > after_rank,
                               sa.and_(rank == after_rank, t.c.enterprise_code > sa.bindparam("after_code"))))
        return q.add_columns(rank).order_by(rank, t.c.enterprise_code).limit(sa.bindparam("limit", type_=sa.Integer))

    params: dict[str, Any] = {"key": key, "starts": _like_escape(key) + "%", "first": _like_escape(words[0]) + "%",
                              "limit": limit, **{f"word{i}": "%" + _like_escape(w) + "%" for i, w in enumerate(words)}}
    if after is not None:
        params["after_rank"], params["after_code"] = after
    return _rows(conn, _statement("enterprises", present, ("search", len(words), after is not None), build), params)
