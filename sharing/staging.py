"""Publishing as the rows arrive: a stream's chunks are staged while later pages are still fetched.

`open_publication(url, spec, ...)` returns a `Publication`: `add(chunk)` stages a chunk, `commit(state)`
publishes everything staged as one new version with the source's new state, `close()` (or leaving the
`with` block without committing) throws it all away. `add_quarantined_keys` names keys whose records
the run quarantined: a full refresh keeps their published rows instead of deleting them.

On PostgreSQL one transaction spans the run: each chunk is COPYed into a temporary stage table by a
background thread (the next chunk is validated while the server loads the last), and the commit locks
the dataset, keeps the last copy of each key, merges, streams the version's Parquet snapshot out of the
merged table a slice at a time, and commits data, snapshot pointer, state and quarantine together. A
crash before that commit leaves nothing behind (the stage is temporary, the transaction rolls back),
so memory is bounded by a few chunks however long the run. Elsewhere (SQLite, the embedded default for
small data) the chunks are held and handed to `publish` at the commit.
"""

# ruff: noqa: S608 - identifiers are quoted by the dialect's preparer; every value is a bound parameter.
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core.ddl import create_tables
from sharing import db, snapshots, subscriptions
from sharing.failpoints import failpoint
from sharing.publish import (
    MergeCounts,
    PublishResult,
    StateCommit,
    _add_new_columns,
    _check_state,
    _commit_state,
    _conform,
    _copy_into,
    _lock_dataset,
    _merge,
    _record_version,
    _Sql,
    create_kept_table,
    publish,
    quarantined_rows,
    split_quarantined,
    tombstones,
)
from sharing.spec import DatasetSpec

InTransaction = Callable[[Connection, PublishResult], None]
Guard = Callable[[Connection, MergeCounts, int], None]


class Publication:
    """Chunks staged for one new version; see the module doc."""

    def __init__(self, url: str, spec: DatasetSpec, *, data_dir: Path, full_refresh: bool = False,
                 run_id: str | None = None) -> None:
        self.url, self.spec, self.data_dir = url, spec, data_dir
        self.full_refresh, self.run_id = full_refresh, run_id
        self.staged = 0  # rows handed to `add`, duplicates included
        self._open = True

    def add(self, batch: pa.RecordBatch | pa.Table) -> None:
        raise NotImplementedError

    def add_deleted_keys(self, keys: Iterable[Sequence[Any]]) -> None:
        """Keys found deleted (key-set reconciliation): tombstones that carry only their key."""
        rows = tombstones(self.spec, [tuple(k) for k in keys])
        if rows.num_rows:
            self.add(rows)

    def add_quarantined_keys(self, keys: pa.Table) -> None:
        """Keys (a table with the key columns) whose new records the run quarantined: they were mentioned,
        badly, so a full refresh keeps their published rows; they change nothing otherwise."""
        if self.full_refresh and keys.num_rows:
            rows = quarantined_rows(self.spec, keys)
            if rows.num_rows:
                self.add(rows)

    def commit(self, *, state: StateCommit | None = None, quality: Mapping[str, Any] | None = None,
               in_transaction: InTransaction | None = None, guard: Guard | None = None) -> PublishResult:
        """Publish what was staged; `guard` sees the merge's counts first and may refuse (sharing/holds.py)."""
        raise NotImplementedError

    def staged_tables(self) -> Iterator[pa.Table]:
        """What was staged, after a commit the guard refused and before `close` (a held run keeps it)."""
        raise NotImplementedError

    def close(self) -> None:
        """Forget everything staged and not committed."""
        self._open = False

    def __enter__(self) -> Publication:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
                 ) -> None:
        self.close()


class _Dry(Publication):
    """A dry run: the rows are counted and dropped."""

    def add(self, batch: pa.RecordBatch | pa.Table) -> None:
        self.staged += batch.num_rows

    def commit(self, *, state: StateCommit | None = None, quality: Mapping[str, Any] | None = None,
               in_transaction: InTransaction | None = None, guard: Guard | None = None) -> PublishResult:
        raise RuntimeError("a dry run publishes nothing")


class _Held(Publication):
    """Chunks held in memory and published at the commit (SQLite and other embedded databases)."""

    def __init__(self, url: str, spec: DatasetSpec, **kw: Any) -> None:
        super().__init__(url, spec, **kw)
        self._chunks: list[pa.RecordBatch | pa.Table] = []

    def add(self, batch: pa.RecordBatch | pa.Table) -> None:
        if batch.num_rows:
            self._chunks.append(batch)
            self.staged += batch.num_rows

    def commit(self, *, state: StateCommit | None = None, quality: Mapping[str, Any] | None = None,
               in_transaction: InTransaction | None = None, guard: Guard | None = None) -> PublishResult:
        result = publish(self.url, self.spec, self._chunks, data_dir=self.data_dir, state=state,
                         full_refresh=self.full_refresh, quality=quality, run_id=self.run_id,
                         in_transaction=in_transaction, guard=guard)
        self.close()
        return result

    def staged_tables(self) -> Iterator[pa.Table]:
        for chunk in self._chunks:
            yield pa.Table.from_batches([chunk]) if isinstance(chunk, pa.RecordBatch) else chunk

    def close(self) -> None:
        self._chunks = []
        super().close()


class _Streamed(Publication):
    """PostgreSQL: chunks COPYed into a temporary stage inside the run's one transaction."""

    def __init__(self, url: str, spec: DatasetSpec, **kw: Any) -> None:
        super().__init__(url, spec, **kw)
        engine = db.engine_for(url)
        db.create_system_tables(engine)
        self.table = db.serving_table(spec.name, spec.schema, spec.primary_key)
        create_tables(engine, self.table.metadata)
        _add_new_columns(engine, self.table, spec)
        self.stage = _stage_table(spec)
        self._conn = engine.connect()
        self._tx = self._conn.begin()
        quote = self._conn.dialect.identifier_preparer.quote
        self._conn.execute(sa.text(f"DROP TABLE IF EXISTS {quote(self.stage.name)}"))
        self.stage.create(self._conn)
        self._loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stage")
        self._loading: Future[None] | None = None
        self._kept: sa.Table | None = None  # keys a full refresh keeps (created with the first one)

    def add(self, batch: pa.RecordBatch | pa.Table) -> None:
        import numpy as np

        if not batch.num_rows:
            return
        batch, kept = split_quarantined(batch, self.spec)
        if kept.num_rows:
            self._wait()  # the connection is the loader's while a COPY runs
            if self._kept is None:
                self._kept = create_kept_table(self._conn, self.spec)
            _copy_into(self._conn, self._kept, kept)
        if not batch.num_rows:
            return
        data = _conform(batch, self.spec)
        data = data.append_column("_seq", pa.array(np.arange(self.staged, self.staged + data.num_rows,
                                                             dtype=np.int64)))
        self.staged += data.num_rows
        self._wait()  # one chunk loading, one being built: memory stays bounded
        self._loading = self._loader.submit(_copy_into, self._conn, self.stage, data)

    def _wait(self) -> None:
        if self._loading is not None:
            loading, self._loading = self._loading, None
            loading.result()

    def commit(self, *, state: StateCommit | None = None, quality: Mapping[str, Any] | None = None,
               in_transaction: InTransaction | None = None, guard: Guard | None = None) -> PublishResult:
        self._wait()
        failpoint("after_stage")
        conn, spec = self._conn, self.spec
        now = datetime.now(UTC)
        current_version = _lock_dataset(conn, spec, now)
        snapshots.tidy(self.data_dir, spec.name, current_version)  # what a killed run left, under the lock
        if state is not None:
            _check_state(conn, state)
        version = current_version + 1
        sql = _Sql(conn, spec, self.table, self.stage)
        conn.execute(sa.text(f"ANALYZE {sql.stage}"))
        _keep_last_of_each_key(conn, sql)
        staged = int(conn.execute(sa.text(f"SELECT COUNT(*) FROM {sql.stage}")).scalar_one())
        if current_version == 0:
            counts = _load_first(conn, self.table, sql, now)
        else:
            kept = self._kept.name if self._kept is not None and self.full_refresh else None
            counts = _merge(conn, sql, version=version, now=now, full_refresh=self.full_refresh, kept=kept)
        failpoint("after_merge")
        if guard is not None:
            guard(conn, counts, current_version)  # refused: the transaction stays open for staged_tables
        changed = counts.inserted + counts.updated + counts.deleted > 0
        result = PublishResult(
            dataset=spec.name, version=version if changed or current_version == 0 else current_version,
            new_version=changed or current_version == 0, staged=staged, inserted=counts.inserted,
            updated=counts.updated, deleted=counts.deleted, unchanged=counts.unchanged, kept=counts.kept,
        )
        if result.new_version:
            written = snapshots.write_version_stream(
                self.data_dir, spec, version, snapshots.current_slices(conn, spec), now=now,
                source_cursor=dict(state.new) if state else None, quality=quality)
            written = snapshots.commit_version(written)
            failpoint("after_snapshot")
            result.rows, result.content_hash, result.snapshot_path = written.rows, written.content_hash, str(
                written.path)
            _record_version(conn, spec, result, now, state, quality, self.run_id)
            # The subscribers' notifications commit with the version, or not at all.
            subscriptions.notify(conn, spec.name, version, self.table, now, {
                "inserted": result.inserted, "updated": result.updated, "deleted": result.deleted})
        if state is not None:
            _commit_state(conn, state, spec.name, result.version, now)
        if in_transaction is not None:
            in_transaction(conn, result)
        failpoint("before_commit")
        self._tx.commit()
        failpoint("after_commit")
        self.close()
        # Also repairs a pointer left behind by a crash between an earlier commit and this line.
        if snapshots.current_version(self.data_dir, spec.name) != result.version and snapshots.version_dir(
            self.data_dir, spec.name, result.version
        ).is_dir():
            snapshots.point_current(self.data_dir, spec.name, result.version)
        return result

    def staged_tables(self) -> Iterator[pa.Table]:
        """The stage read back in slices, inside the run's still open transaction."""
        from sharing.publish import DELETED_COLUMN

        names = [*self.spec.schema.names, "is_deleted"]
        # tombstones carry only their key: every other column may be null here
        schema = pa.schema([f.with_nullable(True) for f in self.spec.schema]).append(
            pa.field(DELETED_COLUMN, pa.bool_()))
        result = self._conn.execution_options(yield_per=50_000).execute(
            sa.select(*[self.stage.c[n] for n in names]).order_by(self.stage.c._seq))
        for part in result.partitions():
            rows = [dict(zip(schema.names, row, strict=True)) for row in part]
            yield pa.Table.from_pylist(rows, schema=schema)
        if self._kept is not None:  # a held full refresh keeps its quarantined keys for the release
            kept = self._kept
            keys = self._conn.execute(sa.select(*kept.c)).all()
            key_schema = pa.schema([self.spec.schema.field(c.name) for c in kept.c])
            yield quarantined_rows(self.spec, pa.Table.from_pylist(
                [dict(zip(key_schema.names, row, strict=True)) for row in keys], schema=key_schema))

    def close(self) -> None:
        if not self._open:
            return
        super().close()
        try:
            if self._loading is not None:
                self._loading.exception()  # let a running COPY end before the rollback
        finally:
            self._loader.shutdown(wait=True)
            if self._tx.is_active:
                self._tx.rollback()
            self._conn.close()


def open_publication(url: str, spec: DatasetSpec, *, data_dir: Path, full_refresh: bool = False,
                     run_id: str | None = None, dry_run: bool = False) -> Publication:
    """A publication that stages chunks as they come (PostgreSQL) or holds them for the commit; with
    `dry_run`, one that stages nothing and cannot commit."""
    kind: type[Publication] = _Dry if dry_run else _Streamed if url.startswith("postgresql") else _Held
    return kind(url, spec, data_dir=data_dir, full_refresh=full_refresh, run_id=run_id)


def _stage_table(spec: DatasetSpec) -> sa.Table:
    stage = db.stage_table(spec.name, spec.schema)
    stage.append_column(sa.Column("_seq", sa.BigInteger, nullable=False))
    return stage


def _keep_last_of_each_key(conn: Connection, sql: _Sql) -> None:
    """Of a key staged more than once in the run (updated while the run read the feed), the last read wins."""
    keys = ", ".join(sql.key)
    doubled = conn.execute(sa.text(
        f"SELECT 1 FROM {sql.stage} GROUP BY {keys} HAVING COUNT(*) > 1 LIMIT 1")).first()
    if doubled:
        conn.execute(sa.text(f"DELETE FROM {sql.stage} a USING {sql.stage} b "
                             f"WHERE {sql.join('a', 'b')} AND a._seq < b._seq"))


def _load_first(conn: Connection, table: sa.Table, sql: _Sql, now: datetime) -> MergeCounts:
    """The first version: every live staged row goes into the history table, no merge to do."""
    # Into an empty table, building the unique index once after the load beats maintaining it per row.
    indexes = [ix for ix in table.indexes if ix.unique]
    for index in indexes:
        index.drop(conn)
    cols = ", ".join(sql.columns)
    inserted = conn.execute(sa.text(
        f"INSERT INTO {sql.table} ({cols}, is_deleted, valid_from, valid_to, version_from, version_to) "
        f"SELECT {cols}, FALSE, :now, NULL, 1, NULL FROM {sql.stage} WHERE NOT is_deleted"
    ), {"now": now}).rowcount
    for index in indexes:
        index.create(conn)
    return MergeCounts(inserted=int(inserted), updated=0, deleted=0, unchanged=0)
