"""Publishing: validated batches into a new dataset version, exactly once.

One publish is one database transaction: stage the batches (COPY on PostgreSQL), merge them into the
dataset's history table, record the version, and commit the source's new cursor, all or nothing. The
version's Parquet snapshot is written beside it (in a thread, while the database merges) and appears by
one rename before the commit. A crash anywhere before the commit leaves the previous version and the
cursor as they were; a crash after it has nothing left to redo. Re-publishing rows that did not change
adds nothing, so a rerun after a crash publishes each record exactly once.

A batch may carry a boolean `_deleted` column (tombstones); `deleted_keys` adds deletes found by key-set
reconciliation; `full_refresh` deletes every current row the batches did not mention. Rows flagged
`_quarantined` name only a key whose new record the run quarantined: they change nothing, and a full
refresh keeps that key's published row (bad input never changes what is published).
"""

# ruff: noqa: S608 - identifiers are quoted by the dialect's preparer; every value is a bound parameter.
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core.ddl import create_tables
from core.errors import ConfigError, Fatal
from core.settings import positive_int
from sharing import db, snapshots, subscriptions
from sharing.failpoints import failpoint
from sharing.spec import DatasetSpec

log = logging.getLogger(__name__)

DELETED_COLUMN = "_deleted"
QUARANTINED_COLUMN = "_quarantined"  # key-only rows: the run quarantined this key's record, keep it as published
COPY_CHUNK_ROWS = 200_000  # LIENTHONG_COPY_CHUNK_ROWS overrides (smaller chunks: less memory per COPY)


@dataclass(frozen=True, slots=True)
class StateCommit:
    """The source state to commit with the data. `expected` is the state the extraction started from:
    if another run has moved it since, this publish is refused rather than doubled."""

    source: str
    stream: str
    expected: Mapping[str, Any] | None
    new: Mapping[str, Any]


@dataclass(slots=True)
class PublishResult:
    dataset: str
    version: int
    new_version: bool
    rows: int = 0
    staged: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    kept: int = 0
    content_hash: str = ""
    snapshot_path: str | None = None


@dataclass(frozen=True, slots=True)
class MergeCounts:
    inserted: int
    updated: int
    deleted: int
    unchanged: int
    kept: int = 0  # full refresh: published rows not deleted because their new record was quarantined


class StateConflict(Fatal):
    """The source's stored state is not the one this extraction started from."""


def read_state(url: str, source: str, stream: str) -> dict[str, Any] | None:
    engine = db.engine_for(url)
    db.create_system_tables(engine)
    t = db.sync_state
    with engine.connect() as conn:
        row = conn.execute(sa.select(t.c.state).where(t.c.source == source, t.c.stream == stream)).first()
    return dict(row[0]) if row else None


class _Sql:
    """Quoted identifiers, key joins and null-safe comparisons for one dataset's statements."""

    def __init__(self, conn: Connection, spec: DatasetSpec, table: sa.Table, stage: sa.Table) -> None:
        self.q = conn.dialect.identifier_preparer.quote
        self.table = self.q(table.name)
        self.stage, self.stage_name = self.q(stage.name), stage.name
        self.key = [self.q(k) for k in spec.primary_key]
        self.columns = [self.q(c) for c in spec.schema.names]
        self.values = [self.q(c) for c in spec.schema.names if c not in spec.primary_key]
        self.same_op = "IS NOT DISTINCT FROM" if conn.dialect.name == "postgresql" else "IS"
        # the streamed stage numbers its rows (last read wins): rows the merge adds need a number too
        self.seq = "_seq" in stage.c
        # a dataset of several sources: this publish's source may touch only its own rows
        self.scope = (self.q(spec.scope[0]), spec.scope[1]) if spec.scope else None
        self.params: dict[str, Any] = {"scope": spec.scope[1]} if spec.scope else {}
        self.outranked_by = spec.outranked_by if spec.scope else None
        self.params.update({f"above{i}": name for i, name in enumerate(self.outranked_by or ())})

    def in_scope(self, alias: str) -> str:
        """` AND <alias>.<source column> = :scope`: rows of this publish's source only ("" for one source)."""
        return f" AND {alias}.{self.scope[0]} = :scope" if self.scope else ""

    def replaceable(self, alias: str, stage: str) -> str:
        """`in_scope`, widened for a staged live row to another source's row this source outranks
        (`feeds: {settle: prefer}`): a takeover replaces it by key; a delete still reaches only its own."""
        if self.scope is None or self.outranked_by is None:
            return self.in_scope(alias)
        column = f"{alias}.{self.scope[0]}"
        above = ", ".join(f":above{i}" for i in range(len(self.outranked_by)))
        others = f"{column} NOT IN ({above})" if above else "TRUE"
        return f" AND ({column} = :scope OR (NOT {stage}.is_deleted AND {others}))"

    def join(self, a: str, b: str) -> str:
        return " AND ".join(f"{a}.{k} = {b}.{k}" for k in self.key)

    def differs(self, a: str, b: str) -> str:
        """True when any non-key value differs, nulls compared as values."""
        if not self.values:
            return "FALSE"
        return "NOT (" + " AND ".join(f"{a}.{c} {self.same_op} {b}.{c}" for c in self.values) + ")"

    def cols(self, alias: str) -> str:
        return ", ".join(f"{alias}.{c}" for c in self.columns)


def publish(
    url: str,
    spec: DatasetSpec,
    batches: Iterable[pa.RecordBatch | pa.Table],
    *,
    data_dir: Path,
    state: StateCommit | None = None,
    deleted_keys: Iterable[Sequence[Any]] = (),
    full_refresh: bool = False,
    quality: Mapping[str, Any] | None = None,
    run_id: str | None = None,
    in_transaction: Callable[[Connection, PublishResult], None] | None = None,
    guard: Callable[[Connection, MergeCounts, int], None] | None = None,
) -> PublishResult:
    """Merge `batches` into `spec`'s dataset as one new version, and commit `state` with it.

    `in_transaction` runs last inside the same transaction (the sync writes its quarantine rows there, so
    they commit, or not, with the data). `guard` sees the merge's counts and the current version before
    anything is made visible; what it raises rolls the whole publish back (held runs, sharing/holds.py).
    """
    engine = db.engine_for(url)
    db.create_system_tables(engine)
    table = db.serving_table(spec.name, spec.schema, spec.primary_key)
    create_tables(engine, table.metadata)
    _add_new_columns(engine, table, spec)
    now = datetime.now(UTC)
    staged, kept = _prepare_all(spec, batches, deleted_keys)
    if not full_refresh:
        kept = kept.slice(0, 0)  # only a full refresh deletes by absence: nothing to protect otherwise

    with engine.begin() as conn, ThreadPoolExecutor(max_workers=1) as pool:
        current_version = _lock_dataset(conn, spec, now)
        snapshots.tidy(data_dir, spec.name, current_version)  # what a killed run left, under the lock
        if state is not None:
            _check_state(conn, state)
        version = current_version + 1
        # The next snapshot follows from the last one and the stage alone: write it while the database merges.
        snapshot = pool.submit(
            _next_snapshot, data_dir, spec, current_version, staged, full_refresh, version, now, state, quality,
            kept,
        )
        stage = db.stage_table(spec.name, spec.schema)
        sql = _Sql(conn, spec, table, stage)
        if current_version == 0:
            counts = _load_first(conn, table, staged, now)
        else:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {sql.stage}"))
            stage.create(conn)
            _copy_into(conn, stage, staged.drop_columns(["_seq"]))
            kept_table = None
            if kept.num_rows:
                kept_table = create_kept_table(conn, spec)
                _copy_into(conn, kept_table, kept)
            failpoint("after_stage")
            counts = _merge(conn, sql, version=version, now=now, full_refresh=full_refresh,
                            kept=None if kept_table is None else kept_table.name)
            conn.execute(sa.text(f"DROP TABLE {sql.stage}"))
            if kept_table is not None:
                conn.execute(sa.text(f"DROP TABLE {sql.q(kept_table.name)}"))
        failpoint("after_merge")
        if guard is not None:
            try:
                guard(conn, counts, current_version)
            except BaseException:
                _discard_when_written(snapshot)
                raise
        written = snapshot.result()
        changed = counts.inserted + counts.updated + counts.deleted > 0
        result = PublishResult(
            dataset=spec.name, version=version if changed or current_version == 0 else current_version,
            new_version=changed or current_version == 0, staged=staged.num_rows, inserted=counts.inserted,
            updated=counts.updated, deleted=counts.deleted, unchanged=counts.unchanged, kept=counts.kept,
        )
        if result.new_version:
            if written is None:  # no usable last snapshot: read the merged state back
                written = snapshots.write_version(
                    data_dir, spec, version, snapshots.current_rows(conn, spec), now=now,
                    source_cursor=dict(state.new) if state else None, quality=quality, commit=False,
                )  # made visible by the one commit_version below, not twice
            written = snapshots.commit_version(written)
            failpoint("after_snapshot")
            result.rows, result.content_hash, result.snapshot_path = written.rows, written.content_hash, str(
                written.path
            )
            _record_version(conn, spec, result, now, state, quality, run_id)
            # The subscribers' notifications commit with the version, or not at all.
            subscriptions.notify(conn, spec.name, version, table, now, {
                "inserted": result.inserted, "updated": result.updated, "deleted": result.deleted})
        elif written is not None:
            snapshots.discard(written)
        if state is not None:
            _commit_state(conn, state, spec.name, result.version, now)
        if in_transaction is not None:
            in_transaction(conn, result)
        failpoint("before_commit")
    failpoint("after_commit")
    # Also repairs a pointer left behind by a crash between an earlier commit and this line.
    if snapshots.current_version(data_dir, spec.name) != result.version and snapshots.version_dir(
        data_dir, spec.name, result.version
    ).is_dir():
        snapshots.point_current(data_dir, spec.name, result.version)
    return result


def _discard_when_written(snapshot: Future[snapshots.PendingVersion | None]) -> None:
    try:
        written = snapshot.result()
    except Exception:  # the write failed: nothing to discard, the first error stands
        return
    if written is not None:
        snapshots.discard(written)


def repair_snapshots(url: str, data_dir: Path, dataset: str) -> None:
    """At a run's start: clear a killed run's leftovers and point `CURRENT` at the catalog's version.

    Under the dataset's lock, so no publisher is writing its files meanwhile; readers of the snapshot
    see the committed version from here on, not only after the next publish.
    """
    engine = db.engine_for(url)
    db.create_system_tables(engine)
    t = db.datasets
    with engine.begin() as conn:
        conn.execute(sa.update(t).where(t.c.name == dataset).values(name=t.c.name))
        row = conn.execute(sa.select(t.c.current_version).where(t.c.name == dataset).with_for_update()).first()
        if row is None:  # never published: no row to lock, and a first publisher may be writing its files
            return  # now; what a killed first run left, that publisher's own tidy clears under its lock
        snapshots.tidy(data_dir, dataset, int(row[0]))


def _add_new_columns(engine: sa.Engine, table: sa.Table, spec: DatasetSpec) -> None:
    """A contract that evolved adds nullable columns to its serving table (drift policy `evolve`), and a
    dataset that came to have several sources (`feeds:`) gets its feed column and its new key.

    A dataset published before its contract declared `feeds:` had one source, its owner: its rows get
    the owner's name in the feed column, and the one-current-row index is rebuilt on the published key
    (source and primary key, with keys per source), in one transaction.
    """
    inspector = sa.inspect(engine)
    existing = {c["name"] for c in inspector.get_columns(table.name)}
    missing = [c for c in table.columns if c.name not in existing]
    (index,) = (i for i in table.indexes if i.unique)
    built = next((i for i in inspector.get_indexes(table.name) if i["name"] == index.name), None)
    rekey = built is not None and list(built["column_names"]) != [c.name for c in index.columns]
    if not missing and not rekey:
        return
    with engine.begin() as conn:
        quote = conn.dialect.identifier_preparer.quote
        name = quote(table.name)
        for column in missing:
            kind = column.type.compile(dialect=conn.dialect)
            conn.execute(sa.text(f"ALTER TABLE {name} ADD COLUMN {quote(column.name)} {kind}"))
        if spec.scope is not None and spec.owner_agency and any(c.name == spec.scope[0] for c in missing):
            conn.execute(sa.text(f"UPDATE {name} SET {quote(spec.scope[0])} = :owner "
                                 f"WHERE {quote(spec.scope[0])} IS NULL"), {"owner": spec.owner_agency})
            log.warning("%s: published before it had several sources: its rows are %s's now (feeds.column %s)",
                        spec.name, spec.owner_agency, spec.scope[0])
        if rekey:
            assert built is not None
            key = [table.c[k] for k in spec.primary_key]
            shared = conn.execute(sa.select(*key).where(table.c.valid_to.is_(None)).group_by(*key)
                                  .having(sa.func.count() > 1).limit(1)).first()
            if shared is not None:  # checked first: SQLite's driver does not roll a DROP INDEX back
                raise ConfigError(f"{spec.name}: its key is now {list(spec.primary_key)} (was "
                                  f"{built['column_names']}), but two current rows share "
                                  f"{'/'.join(map(str, shared))}; settle them, then sync again")
            conn.execute(sa.text(f"DROP INDEX {quote(index.name or '')}"))
            index.create(conn)
            log.warning("%s: the one-current-row key is now %s (was %s)", spec.name, list(spec.primary_key),
                        built["column_names"])


def _next_snapshot(
    data_dir: Path,
    spec: DatasetSpec,
    current_version: int,
    staged: pa.Table,
    full_refresh: bool,
    version: int,
    now: datetime,
    state: StateCommit | None,
    quality: Mapping[str, Any] | None,
    quarantined: pa.Table | None = None,
) -> snapshots.PendingVersion | None:
    """The next version's rows, from the last snapshot and the stage, written to a temporary directory.

    Staged live rows replace the snapshot's rows of the same key, staged tombstones remove them, and a
    full refresh keeps only the staged rows and the `quarantined` keys' published rows, exactly as the
    merge does; `None` when there is no last snapshot to start from.
    """
    live = staged.filter(pc.invert(staged.column("is_deleted"))).select(spec.schema.names)
    cursor = dict(state.new) if state else None
    protect = current_version > 0 and full_refresh and quarantined is not None and quarantined.num_rows > 0
    if current_version == 0 or (full_refresh and spec.scope is None and not protect):  # the stage is the whole dataset
        return snapshots.write_version(data_dir, spec, version, live, now=now, source_cursor=cursor,
                                       quality=quality, commit=False, presorted=True)
    try:
        previous = snapshots.read_version(data_dir, spec.name, current_version, sort=False)
    except (FileNotFoundError, pa.ArrowInvalid):
        return None
    if previous.schema != spec.schema:
        return None  # the contract changed: rebuild from the database
    key = list(spec.primary_key)
    others = None
    if spec.scope is not None:  # another source's rows are kept whatever this source sent...
        mine = pc.fill_null(pc.equal(previous.column(spec.scope[0]), spec.scope[1]), False)
        previous, others = previous.filter(mine), previous.filter(pc.invert(mine))
        if spec.outranked_by is not None:  # ...but a key this source outranks them for, which it takes over
            held = pc.is_in(others.column(spec.scope[0]), value_set=pa.array(spec.outranked_by, pa.string()))
            taken = others.filter(pc.invert(held)).join(live.select(key), key, join_type="left anti")
            others = pa.concat_tables([others.filter(held), taken.select(others.schema.names).cast(others.schema)])
    if full_refresh:  # of this source's rows, only the quarantined keys' outlive a full refresh
        previous = (previous.join(quarantined, key, join_type="left semi") if protect and quarantined is not None
                    else previous.slice(0, 0))
    staged_keys = staged.select(key)
    kept = previous.join(staged_keys, key, join_type="left anti")
    if others is not None:
        kept = pa.concat_tables([t.select(spec.schema.names).cast(spec.schema) for t in (others, kept)])
    rows = pa.concat_tables([kept.select(spec.schema.names).cast(spec.schema), live.cast(spec.schema)])
    return snapshots.write_version(data_dir, spec, version, rows, now=now, source_cursor=cursor, quality=quality,
                                   commit=False)


def _lock_dataset(conn: Connection, spec: DatasetSpec, now: datetime) -> int:
    """The dataset's current version, with its catalog row locked until commit (one publisher at a time).

    A write comes first: it takes the row's lock on PostgreSQL and the write lock on SQLite before
    anything is read, so the snapshot files of the dataset belong to one publisher at a time. Two
    first-ever publishes both find no row: `ON CONFLICT DO NOTHING` makes the second wait for the
    first's commit and then read its row (its state check then refuses it by name), never a raw
    unique violation on `lt_datasets`.
    """
    t = db.datasets
    conn.execute(sa.update(t).where(t.c.name == spec.name).values(name=t.c.name))
    row = conn.execute(sa.select(t.c.current_version).where(t.c.name == spec.name).with_for_update()).first()
    if row is None:
        values = dict(
            name=spec.name, current_version=0, owner_agency=spec.owner_agency,
            contract_version=spec.contract_version, primary_key=",".join(spec.primary_key),
            description=spec.description, updated_at=now,
        )
        conn.execute(_insert(conn)(t).values(**values).on_conflict_do_nothing(index_elements=[t.c.name]))
        row = conn.execute(sa.select(t.c.current_version).where(t.c.name == spec.name).with_for_update()).one()
    return int(row[0])


def _insert(conn: Connection) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def _check_state(conn: Connection, state: StateCommit) -> None:
    t = db.sync_state
    row = conn.execute(
        sa.select(t.c.state, t.c.version).where(t.c.source == state.source, t.c.stream == state.stream)
    ).first()
    stored = dict(row[0]) if row else None
    expected = dict(state.expected) if state.expected is not None else None
    if stored != expected:
        raise StateConflict(
            f"stream {state.stream}: another run published in between: the stored state is "
            f"{describe_state(stored, row[1] if row else None)}, this run started from {describe_state(expected)}. "
            "Nothing was published; run the sync again.",
            source=state.source,
        )


def describe_state(state: Mapping[str, Any] | None, version: int | None = None) -> str:
    """A state in one short phrase: its cursor and tie keys counted, never the stored key set itself."""
    if state is None:
        return "none (a first sync)"
    ties = state.get("tie_keys")
    parts = [f"cursor {state.get('cursor')!r}"]
    if isinstance(ties, list) and ties:
        parts.append(f"{len(ties)} tie key(s)")
    if version is not None:
        parts.append(f"dataset version {version}")
    return ", ".join(parts)


def _prepare_all(
    spec: DatasetSpec, batches: Iterable[pa.RecordBatch | pa.Table], deleted_keys: Iterable[Sequence[Any]]
) -> tuple[pa.Table, pa.Table]:
    """All batches as one table in the contract's columns, the last occurrence of each key kept; and the
    keys flagged `_quarantined`, once each, in the key's columns.

    Done before the transaction opens, so the dataset is locked only while the database works.
    """
    import numpy as np

    parts, quarantined = [], []
    for batch in batches:
        rows, flagged = split_quarantined(batch, spec)
        if rows.num_rows:
            parts.append(_conform(rows, spec))
        if flagged.num_rows:
            quarantined.append(flagged)
    keys = [tuple(k) for k in deleted_keys]
    if keys:
        parts.append(_conform(tombstones(spec, keys), spec))
    if parts:
        data = pa.concat_tables(parts)
    else:
        data = spec.schema.empty_table().append_column("is_deleted", pa.array([], pa.bool_()))
    data = data.append_column("_seq", pa.array(np.arange(data.num_rows, dtype=np.int64)))
    kept = pa.concat_tables(quarantined) if quarantined else key_schema(spec).empty_table()
    if kept.num_rows > 1:
        kept = kept.group_by(list(spec.primary_key), use_threads=False).aggregate([]).select(list(spec.primary_key))
    return _sorted_last_wins(data, spec.primary_key), kept


def quarantined_rows(spec: DatasetSpec, keys: pa.Table) -> pa.Table:
    """Key-only rows flagged `_quarantined` for the keys of `keys` (a table with the key columns) that
    are set: the run quarantined their records, so a full refresh keeps their published rows."""
    schema = key_schema(spec)
    if spec.scope is not None and spec.scope[0] in schema.names and spec.scope[0] not in keys.column_names:
        keys = keys.append_column(spec.scope[0], pa.array([spec.scope[1]] * keys.num_rows, pa.string()))
    keys = keys.select(schema.names).drop_null()
    return pa.Table.from_arrays([keys.column(f.name).cast(f.type) for f in schema], schema=schema).append_column(
        QUARANTINED_COLUMN, pa.array([True] * keys.num_rows, pa.bool_()))


def split_quarantined(batch: pa.RecordBatch | pa.Table, spec: DatasetSpec) -> tuple[pa.Table, pa.Table]:
    """(the batch's rows to merge, the keys it flags `_quarantined`, in the key's columns and types)."""
    table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
    schema = key_schema(spec)
    if QUARANTINED_COLUMN not in table.column_names:
        return table, schema.empty_table()
    flagged = pc.fill_null(table.column(QUARANTINED_COLUMN), False)
    rows = table.filter(pc.invert(flagged)).drop_columns([QUARANTINED_COLUMN])
    keys = table.filter(flagged).select(schema.names).drop_null()
    return rows, pa.Table.from_arrays([keys.column(f.name).cast(f.type) for f in schema], schema=schema)


def key_schema(spec: DatasetSpec) -> pa.Schema:
    return pa.schema([spec.schema.field(k) for k in spec.primary_key])


def create_kept_table(conn: Connection, spec: DatasetSpec) -> sa.Table:
    """A temporary table of the keys a full refresh must keep (their new records were quarantined)."""
    table = sa.Table(
        f"lt_kept_{spec.name}", sa.MetaData(), *[sa.Column(f.name, db.sql_type(f.type)) for f in key_schema(spec)],
        prefixes=["TEMPORARY"],
    )
    conn.execute(sa.text(f"DROP TABLE IF EXISTS {conn.dialect.identifier_preparer.quote(table.name)}"))
    table.create(conn)
    return table


def tombstones(spec: DatasetSpec, keys: Sequence[Sequence[Any]]) -> pa.Table:
    """Deletes that carry only their key, in the contract's columns with `_deleted` set."""
    by_column = {name: [k[i] for k in keys] for i, name in enumerate(spec.primary_key)}
    columns = [pa.array(by_column[f.name], type=f.type) if f.name in by_column else pa.nulls(len(keys), f.type)
               for f in spec.schema]
    return pa.Table.from_arrays(columns, schema=spec.schema).append_column(
        DELETED_COLUMN, pa.array([True] * len(keys), pa.bool_()))


def _sorted_last_wins(data: pa.Table, key: Sequence[str]) -> pa.Table:
    """The rows in key order, one per key: of duplicates (a page served twice), the last one read.

    One sort does both, and the snapshot needs key order anyway.
    """
    order = pc.sort_indices(data, sort_keys=[*[(k, "ascending") for k in key], ("_seq", "ascending")])
    data = data.take(order)
    if data.num_rows < 2:
        return data
    same_as_next = None
    for k in key:
        column = data.column(k)
        equal = pc.equal(column.slice(0, data.num_rows - 1), column.slice(1))
        same_as_next = equal if same_as_next is None else pc.and_(same_as_next, equal)
    assert same_as_next is not None
    if not pc.any(same_as_next).as_py():
        return data
    keep = pa.concat_arrays([pc.invert(same_as_next).combine_chunks(), pa.array([True])])
    return data.filter(keep)


def _conform(batch: pa.RecordBatch | pa.Table, spec: DatasetSpec) -> pa.Table:
    """One batch in the contract's column order and types, with its delete flag."""
    import numpy as np

    table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
    missing = [k for k in spec.primary_key if k not in table.column_names]
    if missing:
        raise Fatal(f"dataset {spec.name}: batch lacks key column(s) {missing}")
    if DELETED_COLUMN in table.column_names:
        deleted = table.column(DELETED_COLUMN).fill_null(False)
    else:
        deleted = pa.chunked_array([pa.array(np.zeros(table.num_rows, dtype=bool))])
    data = pa.Table.from_arrays([
        table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
        for f in spec.schema
    ], schema=spec.schema)
    null_keys = sum(data.column(k).null_count for k in spec.primary_key)
    if null_keys:
        raise Fatal(f"dataset {spec.name}: {null_keys} row(s) with a null key reached publishing")
    return data.append_column("is_deleted", deleted)


def _load_first(conn: Connection, table: sa.Table, staged: pa.Table, now: datetime) -> MergeCounts:
    """The first version: every live row goes straight into the history table, no merge to do."""
    live = staged.filter(pc.invert(staged.column("is_deleted"))).drop_columns(["_seq", "is_deleted"])
    # Into an empty table, building the unique index once after the load beats maintaining it per row.
    indexes = [ix for ix in table.indexes if ix.unique]
    for index in indexes:
        index.drop(conn)
    _copy_into(conn, table, live, constants={"is_deleted": False, "valid_from": now, "version_from": 1})
    for index in indexes:
        index.create(conn)
    return MergeCounts(inserted=live.num_rows, updated=0, deleted=0, unchanged=0)


def _copy_into(conn: Connection, target: sa.Table, table: pa.Table, constants: Mapping[str, Any] | None = None
               ) -> None:
    """Load rows, with `constants` for columns equal on every row: COPY on PostgreSQL, executemany on SQLite.

    In chunks, so a crash can land mid-load and memory stays bounded; on PostgreSQL the next chunk is
    encoded while the server takes the last, and constants travel as column defaults, not as text.
    """
    constants = dict(constants or {})
    columns = [c.name for c in target.columns if c.name in table.column_names]
    size = positive_int("LIENTHONG_COPY_CHUNK_ROWS", COPY_CHUNK_ROWS)
    chunks = [table.slice(offset, size).select(columns) for offset in range(0, table.num_rows, size)]
    if conn.dialect.name != "postgresql":
        for number, chunk in enumerate(chunks):
            if number:
                failpoint("mid_copy")
            conn.execute(target.insert(), [{**row, **constants} for row in chunk.to_pylist()])
        return

    import io

    import pyarrow.csv as pacsv

    def encode(chunk: pa.Table) -> io.BytesIO:
        buffer = io.BytesIO()
        pacsv.write_csv(chunk, buffer, pacsv.WriteOptions(include_header=False))
        return buffer

    quote = conn.dialect.identifier_preparer.quote
    name = quote(target.name)
    defaults = {column: _sql_literal(value) for column, value in constants.items()}
    if defaults:
        conn.execute(sa.text(f"ALTER TABLE {name} " + ", ".join(
            f"ALTER COLUMN {quote(c)} SET DEFAULT {v}" for c, v in defaults.items())))
    statement = f"COPY {name} ({', '.join(quote(c) for c in columns)}) FROM STDIN (FORMAT csv)"
    raw = conn.connection.driver_connection
    assert raw is not None
    with ThreadPoolExecutor(max_workers=1) as encoder:
        pending = encoder.submit(encode, chunks[0]) if chunks else None
        for number in range(len(chunks)):
            assert pending is not None
            buffer = pending.result()
            pending = encoder.submit(encode, chunks[number + 1]) if number + 1 < len(chunks) else None
            if number:
                failpoint("mid_copy")
            with raw.cursor() as cursor, cursor.copy(statement) as copy:
                copy.write(buffer.getbuffer())
    if defaults:
        conn.execute(sa.text(f"ALTER TABLE {name} " + ", ".join(
            f"ALTER COLUMN {quote(c)} DROP DEFAULT" for c in defaults)))


def _sql_literal(value: Any) -> str:
    """A constant of ours (never input) as an SQL literal, for a column default."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        return f"'{value.isoformat()}'::timestamptz"
    raise TypeError(f"no literal for {value!r}")


def _index_key(conn: Connection, sql: _Sql, table: str) -> None:
    """An index on the key columns of the temporary table named `table`."""
    conn.execute(sa.text(f"CREATE INDEX IF NOT EXISTS {sql.q(table + '_key')} ON {sql.q(table)} "
                         f"({', '.join(sql.key)})"))


def _merge(conn: Connection, sql: _Sql, *, version: int, now: datetime, full_refresh: bool,
           kept: str | None = None) -> MergeCounts:
    """Close the current rows that changed, insert their new versions; count what happened.

    One join of the stage against the current rows finds the few keys that changed; every later
    statement works from that small table. `kept`: the name of a table of keys whose new records the
    run quarantined; a full refresh does not read them as gone.
    """
    t, s, cols = sql.table, sql.stage, ", ".join(sql.columns)
    changed = sql.q("lt_changed")
    params = {"now": now, "version": version}
    spared = 0
    if full_refresh:
        if conn.dialect.name != "postgresql":
            # SQLite scans a temporary table once per current row in NOT EXISTS (no automatic index for a
            # correlated subquery): 20,000 rows took 24 s. With an index on the key it is a lookup each.
            _index_key(conn, sql, sql.stage_name)
            if kept is not None:
                _index_key(conn, sql, kept)
        # what another source no longer has is not this source's to delete
        unmentioned = (f"d.valid_to IS NULL AND NOT d.is_deleted "
                       f"AND NOT EXISTS (SELECT 1 FROM {s} s WHERE {sql.join('d', 's')}){sql.in_scope('d')}")
        if kept is not None:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text(f"ANALYZE {sql.q(kept)}"))
            in_kept = f"EXISTS (SELECT 1 FROM {sql.q(kept)} k WHERE {sql.join('d', 'k')})"
            spared = int(conn.execute(sa.text(
                f"SELECT COUNT(*) FROM {t} d WHERE {unmentioned} AND {in_kept}"), sql.params).scalar_one())
            unmentioned += f" AND NOT {in_kept}"
        # What the source no longer has is deleted: stage those rows as tombstones too. A key the run
        # quarantined was mentioned, badly: its published row stays as it is.
        seq_col, seq_val = (", _seq", ", 0") if sql.seq else ("", "")
        conn.execute(sa.text(
            f"INSERT INTO {s} ({cols}, is_deleted{seq_col}) SELECT {sql.cols('d')}, TRUE{seq_val} FROM {t} d "
            f"WHERE {unmentioned}"
        ), sql.params)
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text(f"ANALYZE {s}"))  # a temporary table has no statistics: plan the join on real counts
    keys = ", ".join(f"s.{k}" for k in sql.key)
    conn.execute(sa.text(f"DROP TABLE IF EXISTS {changed}"))
    conn.execute(sa.text(
        f"CREATE TEMPORARY TABLE {changed} AS SELECT {keys}, s.is_deleted AS s_del, "
        f"COALESCE(d.is_deleted, FALSE) AS d_del, d.{sql.key[0]} IS NULL AS absent "
        f"FROM {s} s LEFT JOIN {t} d ON d.valid_to IS NULL AND {sql.join('d', 's')}{sql.replaceable('d', 's')} "
        f"WHERE d.{sql.key[0]} IS NULL OR s.is_deleted <> d.is_deleted "
        f"OR (NOT s.is_deleted AND {sql.differs('s', 'd')})"
    ), sql.params)
    inserted, updated, deleted, staged = (int(v) for v in conn.execute(sa.text(
        "SELECT "
        "COALESCE(SUM(CASE WHEN NOT s_del AND (absent OR d_del) THEN 1 ELSE 0 END), 0), "
        "COALESCE(SUM(CASE WHEN NOT s_del AND NOT absent AND NOT d_del THEN 1 ELSE 0 END), 0), "
        "COALESCE(SUM(CASE WHEN s_del AND NOT absent AND NOT d_del THEN 1 ELSE 0 END), 0), "
        f"(SELECT COUNT(*) FROM {s}) FROM {changed}"
    )).one())
    # Close every current row whose key changed: new values, deleted, or deleted and back again.
    conn.execute(sa.text(
        f"UPDATE {t} SET valid_to = :now, version_to = :version FROM {changed} c "
        f"WHERE {t}.valid_to IS NULL AND NOT c.absent AND {sql.join(t, 'c')}"
    ), params)
    if inserted or updated:
        conn.execute(sa.text(
            f"INSERT INTO {t} ({cols}, is_deleted, valid_from, valid_to, version_from, version_to) "
            f"SELECT {sql.cols('s')}, FALSE, :now, NULL, :version, NULL "
            f"FROM {s} s JOIN {changed} c ON {sql.join('s', 'c')} WHERE NOT s.is_deleted"
        ), params)
    if deleted:
        # A delete keeps the last values the row had, marked deleted (a tombstone may carry only the key).
        conn.execute(sa.text(
            f"INSERT INTO {t} ({cols}, is_deleted, valid_from, valid_to, version_from, version_to) "
            f"SELECT {sql.cols('d')}, TRUE, :now, NULL, :version, NULL FROM {t} d JOIN {changed} c "
            f"ON {sql.join('d', 'c')} WHERE c.s_del AND NOT c.d_del AND d.version_to = :version"
        ), params)
    conn.execute(sa.text(f"DROP TABLE {changed}"))
    return MergeCounts(inserted, updated, deleted, staged - inserted - updated - deleted, spared)


def _record_version(
    conn: Connection,
    spec: DatasetSpec,
    result: PublishResult,
    now: datetime,
    state: StateCommit | None,
    quality: Mapping[str, Any] | None,
    run_id: str | None,
) -> None:
    conn.execute(sa.insert(db.dataset_versions).values(
        dataset=spec.name, version=result.version, published_at=now, run_id=run_id, rows=result.rows,
        inserted=result.inserted, updated=result.updated, deleted=result.deleted, unchanged=result.unchanged,
        contract_version=spec.contract_version, content_hash=result.content_hash,
        snapshot_path=result.snapshot_path, source_cursor=dict(state.new) if state else None,
        quality=dict(quality) if quality else None,
    ))
    conn.execute(sa.update(db.datasets).where(db.datasets.c.name == spec.name).values(
        current_version=result.version, contract_version=spec.contract_version, updated_at=now,
    ))


def _commit_state(conn: Connection, state: StateCommit, dataset: str, version: int, now: datetime) -> None:
    t = db.sync_state
    values = {"state": dict(state.new), "dataset": dataset, "version": version, "updated_at": now}
    done = conn.execute(
        sa.update(t).where(t.c.source == state.source, t.c.stream == state.stream).values(**values)
    ).rowcount
    if not done:
        conn.execute(sa.insert(t).values(source=state.source, stream=state.stream, **values))

