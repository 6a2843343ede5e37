"""Publishing: validated batches into a new dataset version, exactly once.

One publish is one database transaction: stage the batches (COPY on PostgreSQL), merge them into the
dataset's history table, write the Parquet snapshot of the result, record the version, and commit the
source's new cursor, all or nothing. A crash anywhere before the commit leaves the previous version and
the cursor as they were; a crash after it has nothing left to redo. Re-publishing rows that did not
change adds nothing, so a rerun after a crash publishes each record exactly once.

A batch may carry a boolean `_deleted` column (tombstones); `deleted_keys` adds deletes found by key-set
reconciliation; `full_refresh` deletes every current row the batches did not mention.
"""

# ruff: noqa: S608 - identifiers are quoted by the dialect's preparer; every value is a bound parameter.
from __future__ import annotations

import os
import signal
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lienthong.errors import Fatal
from sharing import db, snapshots

DELETED_COLUMN = "_deleted"


@dataclass(frozen=True, slots=True)
class DatasetSpec:
    """What publishing needs to know of a dataset's contract."""

    name: str
    primary_key: tuple[str, ...]
    schema: pa.Schema
    contract_version: str = "1"
    owner_agency: str | None = None
    partition_by: str | None = None
    description: str = ""


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
    content_hash: str = ""
    snapshot_path: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MergeCounts:
    inserted: int
    updated: int
    deleted: int
    unchanged: int


class StateConflict(Fatal):
    """The source's stored state is not the one this extraction started from."""


def failpoint(name: str) -> None:
    """Die here, as a crash would, when LIENTHONG_FAILPOINT names this point (crash-safety tests)."""
    if os.environ.get("LIENTHONG_FAILPOINT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


def row_hashes(table: pa.Table | pa.RecordBatch) -> pa.Array:
    """A stable 64-bit hash of each row's values: equal rows, equal hashes, on every backend."""
    import pandas as pd

    hashed = pd.util.hash_pandas_object(table.to_pandas(), index=False).to_numpy()
    return pa.array(hashed.view("int64"), type=pa.int64())


def read_state(url: str, source: str, stream: str) -> dict[str, Any] | None:
    engine = db.engine_for(url)
    db.create_system_tables(engine)
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(db.sync_state.c.state).where(
                db.sync_state.c.source == source, db.sync_state.c.stream == stream
            )
        ).first()
    return dict(row[0]) if row else None


class _Sql:
    """Quoted identifiers and the key join for one dataset's statements."""

    def __init__(self, conn: Connection, table: sa.Table, key: Sequence[str], columns: Sequence[str]) -> None:
        quote = conn.dialect.identifier_preparer.quote
        self.q = quote
        self.table = quote(table.name)
        self.key = [quote(k) for k in key]
        self.columns = [quote(c) for c in columns]

    def join(self, a: str, b: str) -> str:
        return " AND ".join(f"{a}.{k} = {b}.{k}" for k in self.key)


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
) -> PublishResult:
    """Merge `batches` into `spec`'s dataset as one new version, and commit `state` with it."""
    engine = db.engine_for(url)
    db.create_system_tables(engine)
    table = db.serving_table(spec.name, spec.schema, spec.primary_key)
    table.metadata.create_all(engine)
    columns = list(spec.schema.names)
    now = datetime.now(UTC)

    with engine.begin() as conn:
        sql = _Sql(conn, table, spec.primary_key, columns)
        current_version = _lock_dataset(conn, spec, now)
        if state is not None:
            _check_state(conn, state)
        stage = _create_stage(conn, spec)
        staged = _fill_stage(conn, stage, spec, batches, deleted_keys)
        failpoint("after_stage")
        counts = _merge(conn, sql, stage, spec, version=current_version + 1, now=now, full_refresh=full_refresh)
        failpoint("after_merge")
        changed = counts.inserted + counts.updated + counts.deleted > 0
        version = current_version + 1 if changed or current_version == 0 else current_version
        result = PublishResult(
            dataset=spec.name, version=version, new_version=version != current_version, staged=staged,
            inserted=counts.inserted, updated=counts.updated, deleted=counts.deleted, unchanged=counts.unchanged,
        )
        if result.new_version:
            _record_version(conn, sql, spec, result, data_dir, now, state, quality, run_id)
        if state is not None:
            _commit_state(conn, state, spec.name, version, now)
        conn.execute(sa.text(f"DROP TABLE {sql.q(stage.name)}"))
        failpoint("before_commit")
    failpoint("after_commit")
    # Also repairs a pointer left behind by a crash between an earlier commit and this line.
    if snapshots.current_version(data_dir, spec.name) != version and snapshots.version_dir(
        data_dir, spec.name, version
    ).is_dir():
        snapshots.point_current(data_dir, spec.name, version)
    return result


def _lock_dataset(conn: Connection, spec: DatasetSpec, now: datetime) -> int:
    """The dataset's current version, with its catalog row locked until commit (one publisher at a time)."""
    t = db.datasets
    row = conn.execute(sa.select(t.c.current_version).where(t.c.name == spec.name).with_for_update()).first()
    if row is None:
        conn.execute(sa.insert(t).values(
            name=spec.name, current_version=0, owner_agency=spec.owner_agency,
            contract_version=spec.contract_version, primary_key=",".join(spec.primary_key),
            description=spec.description, updated_at=now,
        ))
        row = conn.execute(sa.select(t.c.current_version).where(t.c.name == spec.name).with_for_update()).first()
    assert row is not None
    return int(row[0])


def _check_state(conn: Connection, state: StateCommit) -> None:
    t = db.sync_state
    row = conn.execute(
        sa.select(t.c.state).where(t.c.source == state.source, t.c.stream == state.stream)
    ).first()
    stored = dict(row[0]) if row else None
    expected = dict(state.expected) if state.expected is not None else None
    if stored != expected:
        raise StateConflict(
            f"stream {state.stream}: stored state {stored} is not the state this run started from {expected}; "
            "another run published in between. Nothing was published; run the sync again.",
            source=state.source,
        )


def _create_stage(conn: Connection, spec: DatasetSpec) -> sa.Table:
    stage = db.stage_table(spec.name, spec.schema)
    conn.execute(sa.text(f"DROP TABLE IF EXISTS {conn.dialect.identifier_preparer.quote(stage.name)}"))
    stage.create(conn)
    return stage


def _fill_stage(
    conn: Connection,
    stage: sa.Table,
    spec: DatasetSpec,
    batches: Iterable[pa.RecordBatch | pa.Table],
    deleted_keys: Iterable[Sequence[Any]],
) -> int:
    seq = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        _copy_into(conn, stage, _prepare(batch, spec, seq))
        seq += batch.num_rows
    keys = [tuple(k) for k in deleted_keys]
    if keys:
        by_column = {name: [k[i] for k in keys] for i, name in enumerate(spec.primary_key)}
        arrays = {
            f.name: pa.array(by_column[f.name], type=f.type) if f.name in by_column else pa.nulls(len(keys), f.type)
            for f in spec.schema
        }
        arrays[DELETED_COLUMN] = pa.array([True] * len(keys))
        _copy_into(conn, stage, _prepare(pa.table(arrays), spec, seq))
        seq += len(keys)
    return seq


def _prepare(batch: pa.RecordBatch | pa.Table, spec: DatasetSpec, start: int) -> pa.Table:
    """The batch in the contract's column order and types, with sequence, row hash and delete flag."""
    import numpy as np

    table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
    missing = [k for k in spec.primary_key if k not in table.column_names]
    if missing:
        raise Fatal(f"dataset {spec.name}: batch lacks key column(s) {missing}")
    if DELETED_COLUMN in table.column_names:
        deleted = table.column(DELETED_COLUMN).fill_null(False)
    else:
        deleted = pa.chunked_array([pa.array(np.zeros(table.num_rows, dtype=bool))])
    data = pa.table({
        f.name: table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
        for f in spec.schema
    })
    null_keys = sum(data.column(k).null_count for k in spec.primary_key)
    if null_keys:
        raise Fatal(f"dataset {spec.name}: {null_keys} row(s) with a null key reached publishing")
    sequence = pa.array(np.arange(start, start + data.num_rows, dtype=np.int64))
    return data.append_column("_seq", sequence).append_column("row_hash", row_hashes(data)) \
        .append_column("is_deleted", deleted)


def _copy_into(conn: Connection, stage: sa.Table, table: pa.Table) -> None:
    if conn.dialect.name == "postgresql":
        import io

        import pyarrow.csv as pacsv

        buffer = io.BytesIO()
        pacsv.write_csv(table, buffer, pacsv.WriteOptions(include_header=False))
        quote = conn.dialect.identifier_preparer.quote
        cols = ", ".join(quote(c) for c in table.column_names)
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cursor, cursor.copy(f"COPY {quote(stage.name)} ({cols}) FROM STDIN (FORMAT csv)") as copy:
            copy.write(buffer.getbuffer())
    else:
        conn.execute(stage.insert(), table.to_pylist())


def _merge(
    conn: Connection, sql: _Sql, stage: sa.Table, spec: DatasetSpec, *, version: int, now: datetime, full_refresh: bool
) -> MergeCounts:
    """Close the current rows that changed, insert their new versions; count what happened."""
    t, keys, cols = sql.table, ", ".join(sql.key), ", ".join(sql.columns)
    latest = sql.q(f"lt_latest_{spec.name}")
    conn.execute(sa.text(f"DROP TABLE IF EXISTS {latest}"))
    # Duplicates across pages: the last occurrence of a key wins.
    conn.execute(sa.text(
        f"CREATE TEMPORARY TABLE {latest} AS SELECT * FROM ("
        f"SELECT s.*, ROW_NUMBER() OVER (PARTITION BY {keys} ORDER BY _seq DESC) AS _rn FROM {sql.q(stage.name)} s"
        f") ranked WHERE _rn = 1"
    ))
    live = f"d.valid_to IS NULL AND NOT d.is_deleted AND {sql.join('d', 's')}"

    def count(where: str) -> int:
        return int(conn.execute(sa.text(f"SELECT COUNT(*) FROM {latest} s WHERE {where}")).scalar_one())

    staged = count("1 = 1")
    inserted = count(f"NOT s.is_deleted AND NOT EXISTS (SELECT 1 FROM {t} d WHERE {live})")
    updated = count(f"NOT s.is_deleted AND EXISTS (SELECT 1 FROM {t} d WHERE {live} AND d.row_hash <> s.row_hash)")
    deleted = count(f"s.is_deleted AND EXISTS (SELECT 1 FROM {t} d WHERE {live})")
    unchanged = staged - inserted - updated - deleted
    params = {"now": now, "version": version}

    if full_refresh:
        # What the source no longer has is deleted: stage those rows as tombstones too.
        absent = (
            f"d.valid_to IS NULL AND NOT d.is_deleted "
            f"AND NOT EXISTS (SELECT 1 FROM {latest} s WHERE {sql.join('d', 's')})"
        )
        conn.execute(sa.text(
            f"INSERT INTO {latest} ({cols}, _seq, row_hash, is_deleted, _rn) "
            f"SELECT {', '.join('d.' + c for c in sql.columns)}, -1, d.row_hash, TRUE, 1 FROM {t} d WHERE {absent}"
        ))
        deleted = count(f"s.is_deleted AND EXISTS (SELECT 1 FROM {t} d WHERE {live})")

    # Close every current row whose key changed: new values, deleted, or deleted and back again.
    conn.execute(sa.text(
        f"UPDATE {t} SET valid_to = :now, version_to = :version WHERE valid_to IS NULL AND EXISTS ("
        f"SELECT 1 FROM {latest} s WHERE {sql.join(t, 's')} AND (s.is_deleted <> {t}.is_deleted "
        f"OR (NOT s.is_deleted AND s.row_hash <> {t}.row_hash)))"
    ), params)
    # New versions of live rows, straight from the stage.
    conn.execute(sa.text(
        f"INSERT INTO {t} ({cols}, row_hash, is_deleted, valid_from, valid_to, version_from, version_to) "
        f"SELECT {', '.join('s.' + c for c in sql.columns)}, s.row_hash, FALSE, :now, NULL, :version, NULL "
        f"FROM {latest} s WHERE NOT s.is_deleted AND NOT EXISTS "
        f"(SELECT 1 FROM {t} d WHERE d.valid_to IS NULL AND {sql.join('d', 's')})"
    ), params)
    # A delete keeps the last values the row had, marked deleted (a tombstone may carry only the key).
    conn.execute(sa.text(
        f"INSERT INTO {t} ({cols}, row_hash, is_deleted, valid_from, valid_to, version_from, version_to) "
        f"SELECT {', '.join('d.' + c for c in sql.columns)}, d.row_hash, TRUE, :now, NULL, :version, NULL "
        f"FROM {t} d JOIN {latest} s ON {sql.join('d', 's')} "
        f"WHERE s.is_deleted AND d.version_to = :version AND NOT d.is_deleted"
    ), params)
    conn.execute(sa.text(f"DROP TABLE {latest}"))
    return MergeCounts(inserted, updated, deleted, unchanged)


def _record_version(
    conn: Connection,
    sql: _Sql,
    spec: DatasetSpec,
    result: PublishResult,
    data_dir: Path,
    now: datetime,
    state: StateCommit | None,
    quality: Mapping[str, Any] | None,
    run_id: str | None,
) -> None:
    """Write the version's Parquet snapshot (rename-atomic) and its catalog row, inside the transaction."""
    t = db.serving_table(spec.name, spec.schema, spec.primary_key)
    current = (
        sa.select(*[t.c[c] for c in spec.schema.names], t.c.row_hash)
        .where(t.c.valid_to.is_(None), t.c.is_deleted.is_(False))
        .order_by(*[t.c[k] for k in spec.primary_key])
    )
    written = snapshots.write_version(
        data_dir, spec, result.version, conn.execute(current), now=now,
        source_cursor=dict(state.new) if state else None, quality=dict(quality) if quality else None,
    )
    failpoint("after_snapshot")
    result.rows, result.content_hash, result.snapshot_path = written.rows, written.content_hash, str(written.path)
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
