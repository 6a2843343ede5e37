"""Versioned Parquet snapshots of a dataset, written so that a reader never sees half a version.

Layout under the data dir: `datasets/<name>/v000007/` holds the Parquet files (hive-partitioned by
province where the contract says so) and `manifest.json`; `datasets/<name>/CURRENT` names the newest
committed version. A version directory appears by one rename once complete; a crash before that leaves
only a `.tmp-` directory. A write that fails (no space, a read-only directory) removes its temporary
directory and raises `SnapshotWriteFailed` before the database commits anything.

What a killed run can leave behind is cleared by the next publisher (or a sync's start) under the
dataset's lock, by one rule (`tidy`): every `.v*.tmp-*` directory, and every version directory above
the catalog's current version (renamed into place, never committed), is removed; `CURRENT` is set to
the catalog's version when a kill came between the commit and the pointer.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core.errors import Fatal

if TYPE_CHECKING:
    from sharing.spec import DatasetSpec

log = logging.getLogger(__name__)
_VERSION_DIR = re.compile(r"v(\d{6})")


class SnapshotWriteFailed(Fatal):
    """The Parquet snapshot of a version could not be written; nothing was published."""

def dataset_dir(data_dir: Path, name: str) -> Path:
    return data_dir / "datasets" / name


def version_dir(data_dir: Path, name: str, version: int) -> Path:
    return dataset_dir(data_dir, name) / f"v{version:06d}"


def current_rows(conn: Connection, spec: DatasetSpec) -> pa.Table:
    """The dataset's live rows as the database holds them.

    PostgreSQL streams them out with COPY and pyarrow parses the CSV; SQLite goes through SQLAlchemy.
    """
    from sharing import db

    table = db.serving_table(spec.name, spec.schema, spec.primary_key)
    if conn.dialect.name == "postgresql":
        return _current_rows_copy(conn, spec, table.name)
    query = sa.select(*[table.c[n] for n in spec.schema.names]).where(
        table.c.valid_to.is_(None), table.c.is_deleted.is_(False)
    )
    rows = conn.execute(query).all()
    columns: list[list[Any]] = [[row[i] for row in rows] for i in range(len(spec.schema))]
    return pa.table([pa.array(columns[i], type=f.type) for i, f in enumerate(spec.schema)], schema=spec.schema)


# Rows per slice of a snapshot streamed out of PostgreSQL (and per Parquet row group): 50,000 rather than
# 100,000 takes ~30 MB off a sync's peak RSS (the slice is parsed, hashed and encoded while held).
SLICE_ROWS = 50_000


def current_slices(conn: Connection, spec: DatasetSpec, rows: int = SLICE_ROWS) -> Iterator[pa.Table]:
    """The dataset's live rows in key order (byte order, as Arrow sorts), a slice at a time (PostgreSQL).

    One COPY out, parsed as it arrives: memory holds a slice, not the dataset. This transaction's own
    uncommitted merge is what it reads, so the snapshot is the version about to be committed.
    """
    import pyarrow.csv as pacsv

    from sharing import db

    table = db.serving_table(spec.name, spec.schema, spec.primary_key)
    quote = conn.dialect.identifier_preparer.quote
    select, read_types = _copy_columns(conn, spec)
    order = ", ".join(quote(k) + (' COLLATE "C"' if pa.types.is_string(spec.schema.field(k).type) else "")
                      for k in spec.primary_key)
    sql = (f"COPY (SELECT {', '.join(select)} FROM {quote(table.name)} "  # noqa: S608 - quoted identifiers
           f"WHERE valid_to IS NULL AND NOT is_deleted ORDER BY {order}) TO STDOUT (FORMAT csv)")
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cursor, cursor.copy(sql) as copy:
        stream = _Blocks(iter(copy))
        if not stream.peek():
            return
        # 1 MB blocks: with 8 MB ones the reader's memory grew by the size of the whole export (400,000
        # rows of 290 bytes: +170 MB of RSS at 8 MB, +30 MB at 1 MB)
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(column_names=spec.schema.names, block_size=1 << 20, use_threads=False),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=_convert_options(read_types),
        )
        pending: list[pa.RecordBatch] = []
        count = 0
        for batch in reader:
            pending.append(batch)
            count += batch.num_rows
            if count >= rows:
                yield _typed(pa.Table.from_batches(pending), spec)
                pending, count = [], 0
        if pending:
            yield _typed(pa.Table.from_batches(pending), spec)


class _Blocks:
    """The COPY's data blocks as a readable file for pyarrow's streaming CSV reader.

    One growing buffer, cut from the front: COPY hands over a block per row, and keeping each as its own
    bytes object until pyarrow asks for a few megabytes grew the heap with every slice read.
    """

    def __init__(self, blocks: Iterator[Any]) -> None:
        self._blocks = blocks
        self._buffer = bytearray()
        self.closed = False

    def peek(self) -> bool:
        while not self._buffer:
            block = next(self._blocks, None)
            if block is None:
                return False
            self._buffer += block
        return True

    def read(self, size: int = -1) -> bytes:
        buffer = self._buffer
        while size < 0 or len(buffer) < size:
            block = next(self._blocks, None)
            if block is None:
                break
            buffer += block
        if size < 0 or len(buffer) <= size:
            data = bytes(buffer)
            buffer.clear()
            return data
        data = bytes(buffer[:size])
        del buffer[:size]
        return data

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self.closed = True


def _copy_columns(conn: Connection, spec: DatasetSpec) -> tuple[list[str], dict[str, pa.DataType]]:
    quote = conn.dialect.identifier_preparer.quote
    select = []
    read_types: dict[str, pa.DataType] = {}
    for f in spec.schema:
        if pa.types.is_timestamp(f.type):
            # Naive UTC text parses exactly; the zone is put back after.
            select.append(f"({quote(f.name)} AT TIME ZONE 'UTC') AS {quote(f.name)}")
            read_types[f.name] = pa.timestamp(f.type.unit)
        else:
            select.append(quote(f.name))
            read_types[f.name] = f.type
    return select, read_types


def _convert_options(read_types: dict[str, pa.DataType]) -> Any:
    import pyarrow.csv as pacsv

    return pacsv.ConvertOptions(column_types=read_types, strings_can_be_null=True,
                                quoted_strings_can_be_null=False, true_values=["t"], false_values=["f"])


def _typed(parsed: pa.Table, spec: DatasetSpec) -> pa.Table:
    return pa.table([parsed.column(f.name).cast(f.type) for f in spec.schema], schema=spec.schema)


def _current_rows_copy(conn: Connection, spec: DatasetSpec, table_name: str) -> pa.Table:
    import io

    import pyarrow.csv as pacsv

    quote = conn.dialect.identifier_preparer.quote
    select, read_types = _copy_columns(conn, spec)
    sql = (f"COPY (SELECT {', '.join(select)} FROM {quote(table_name)} "  # noqa: S608 - quoted identifiers
           f"WHERE valid_to IS NULL AND NOT is_deleted) TO STDOUT (FORMAT csv)")
    buffer = io.BytesIO()
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cursor, cursor.copy(sql) as copy:
        for block in copy:
            buffer.write(block)
    buffer.seek(0)
    if not buffer.getbuffer().nbytes:
        return spec.schema.empty_table()
    parsed = pacsv.read_csv(buffer, read_options=pacsv.ReadOptions(column_names=spec.schema.names),
                            convert_options=_convert_options(read_types))
    return _typed(parsed, spec)


class ContentHash:
    """sha256 of a table's values in key order, fed a slice at a time: the same digest however the rows
    are cut into slices, chunked or buffered, and on either backend.

    Per column, its name, then digests of its null flags, of its string lengths and of its value bytes,
    each stream fed in row order; so a snapshot streamed out of the database in 100,000-row slices
    hashes as the whole table would.
    """

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        self._parts = {f.name: (hashlib.sha256(), hashlib.sha256(), hashlib.sha256()) for f in schema}

    def update(self, table: pa.Table) -> None:
        import numpy as np
        import pyarrow.compute as pc

        for f in self.schema:
            nulls, lengths, data = self._parts[f.name]
            column = table.column(f.name).combine_chunks()
            nulls.update(np.asarray(column.is_null().to_numpy(zero_copy_only=False)).tobytes())
            if pa.types.is_decimal(f.type) or pa.types.is_boolean(f.type):
                column = pc.cast(column, pa.string())
            elif pa.types.is_date32(f.type):
                column = column.cast(pa.int32())
            elif pa.types.is_date64(f.type) or pa.types.is_timestamp(f.type):
                column = column.cast(pa.int64())
            if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
                column = column.fill_null("")
                sizes = pc.binary_length(column).to_numpy(zero_copy_only=False)
                lengths.update(np.asarray(sizes, dtype=np.int64).tobytes())
                offsets_type = np.int64 if pa.types.is_large_string(column.type) else np.int32
                start = column.offset
                offsets = np.frombuffer(column.buffers()[1], dtype=offsets_type)[start:start + len(column) + 1]
                buffer = column.buffers()[2]
                if buffer is not None and len(column):
                    data.update(memoryview(buffer)[int(offsets[0]):int(offsets[-1])])
            else:
                filled = column.fill_null(pa.scalar(0, type=column.type)) if column.null_count else column
                data.update(np.ascontiguousarray(filled.to_numpy(zero_copy_only=False)).tobytes())

    def hexdigest(self) -> str:
        digest = hashlib.sha256()
        for f in self.schema:
            digest.update(f.name.encode() + b"\x00")
            for part in self._parts[f.name]:
                digest.update(part.digest())
        return digest.hexdigest()


def content_hash(table: pa.Table) -> str:
    """sha256 of a table's values in key order, independent of chunking, buffers and backend."""
    hasher = ContentHash(table.schema)
    hasher.update(table)
    return hasher.hexdigest()


@dataclass(frozen=True, slots=True)
class PendingVersion:
    """A version's files, complete in a temporary directory, not yet visible."""

    temp: Path
    path: Path
    rows: int
    content_hash: str


def write_version(
    data_dir: Path,
    spec: DatasetSpec,
    version: int,
    rows: pa.Table,
    *,
    now: datetime,
    source_cursor: Mapping[str, Any] | None,
    quality: Mapping[str, Any] | None,
    commit: bool = True,
    presorted: bool = False,
) -> PendingVersion:
    """Write `rows` as version `version` in a temporary directory; with `commit`, make it visible."""
    final = version_dir(data_dir, spec.name, version)
    temp = final.with_name(f".{final.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        pending = _write(temp, final, spec, version, rows, now, source_cursor, quality, presorted)
    except OSError as exc:
        shutil.rmtree(temp, ignore_errors=True)
        raise SnapshotWriteFailed(
            f"dataset {spec.name} version {version}: writing the Parquet snapshot under {final.parent} failed "
            f"({exc.strerror or exc}); nothing was published", source=spec.owner_agency) from exc
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return commit_version(pending) if commit else pending


def _write(temp: Path, final: Path, spec: DatasetSpec, version: int, rows: pa.Table, now: datetime,
           source_cursor: Mapping[str, Any] | None, quality: Mapping[str, Any] | None,
           presorted: bool) -> PendingVersion:
    import pyarrow.parquet as pq

    from sharing.failpoints import failpoint

    temp.mkdir(parents=True)
    table = rows.select(spec.schema.names)
    if not presorted:
        table = table.sort_by([(k, "ascending") for k in spec.primary_key])
    partitioned = bool(spec.partition_by and spec.partition_by in spec.schema.names and table.num_rows)
    if partitioned:
        pq.write_to_dataset(table, temp, partition_cols=[spec.partition_by], basename_template="part-{i}.parquet")
    else:
        pq.write_table(table, temp / "part-0.parquet")
    failpoint("mid_snapshot")
    digest = content_hash(table)
    _write_manifest(temp, spec, version, table.num_rows, digest, now=now, source_cursor=source_cursor,
                    quality=quality, partitioned=partitioned)
    return PendingVersion(temp, final, table.num_rows, digest)


def write_version_stream(
    data_dir: Path,
    spec: DatasetSpec,
    version: int,
    slices: Iterable[pa.Table],
    *,
    now: datetime,
    source_cursor: Mapping[str, Any] | None,
    quality: Mapping[str, Any] | None,
) -> PendingVersion:
    """Write version `version` from `slices` (the rows in key order, a slice at a time) in a temporary
    directory, not yet visible: memory holds one slice, whatever the dataset's size."""
    final = version_dir(data_dir, spec.name, version)
    temp = final.with_name(f".{final.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        return _write_slices(temp, final, spec, version, slices, now, source_cursor, quality)
    except OSError as exc:
        _close(slices)
        shutil.rmtree(temp, ignore_errors=True)
        raise SnapshotWriteFailed(
            f"dataset {spec.name} version {version}: writing the Parquet snapshot under {final.parent} failed "
            f"({exc.strerror or exc}); nothing was published", source=spec.owner_agency) from exc
    except BaseException:
        _close(slices)
        shutil.rmtree(temp, ignore_errors=True)
        raise


def _close(slices: Iterable[pa.Table]) -> None:
    """End a generator of slices left half-read: a COPY out of PostgreSQL holds its connection until it
    ends, and the rollback that follows a failed write would wait for it forever."""
    close = getattr(slices, "close", None)
    if close is not None:
        close()


def _write_slices(temp: Path, final: Path, spec: DatasetSpec, version: int, slices: Iterable[pa.Table],
                  now: datetime, source_cursor: Mapping[str, Any] | None, quality: Mapping[str, Any] | None
                  ) -> PendingVersion:
    import pyarrow.parquet as pq

    from sharing.failpoints import failpoint

    temp.mkdir(parents=True)
    partition = spec.partition_by if spec.partition_by in spec.schema.names else None
    hasher = ContentHash(spec.schema)
    rows = 0
    writer: pq.ParquetWriter | None = None
    try:
        for number, piece in enumerate(slices):
            table = piece.select(spec.schema.names)
            if not table.num_rows:
                continue
            hasher.update(table)
            rows += table.num_rows
            if partition:
                pq.write_to_dataset(table, temp, partition_cols=[partition],
                                    basename_template=f"part-{number}-{{i}}.parquet")
            else:
                if writer is None:
                    writer = pq.ParquetWriter(temp / "part-0.parquet", spec.schema)
                writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    if not rows:
        pq.write_table(spec.schema.empty_table(), temp / "part-0.parquet")
    failpoint("mid_snapshot")
    digest = hasher.hexdigest()
    _write_manifest(temp, spec, version, rows, digest, now=now, source_cursor=source_cursor, quality=quality,
                    partitioned=bool(partition and rows))
    return PendingVersion(temp, final, rows, digest)


def _write_manifest(temp: Path, spec: DatasetSpec, version: int, rows: int, digest: str, *, now: datetime,
                    source_cursor: Mapping[str, Any] | None, quality: Mapping[str, Any] | None,
                    partitioned: bool) -> None:
    manifest = {
        "dataset": spec.name,
        "version": version,
        "published_at": now.isoformat(),
        "rows": rows,
        "primary_key": list(spec.primary_key),
        "schema": [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in spec.schema],
        "arrow_schema": base64.b64encode(spec.schema.serialize().to_pybytes()).decode("ascii"),
        "contract_version": spec.contract_version,
        "partitioned_by": spec.partition_by if partitioned else None,
        "source_cursor": source_cursor,
        "quality": quality,
        "content_hash": digest,
    }
    (temp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str), encoding="utf-8")


def commit_version(pending: PendingVersion) -> PendingVersion:
    """Make a written version visible with one rename (still invisible to readers until its catalog commit)."""
    try:
        if pending.path.exists():  # left by a run that crashed before its commit: never committed, never read
            shutil.rmtree(pending.path)
        os.replace(pending.temp, pending.path)
    except OSError as exc:
        shutil.rmtree(pending.temp, ignore_errors=True)
        raise SnapshotWriteFailed(f"moving the snapshot into {pending.path} failed ({exc.strerror or exc}); "
                                  "nothing was published") from exc
    for stale in pending.path.parent.glob(f".{pending.path.name}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    return pending


def discard(pending: PendingVersion) -> None:
    shutil.rmtree(pending.temp, ignore_errors=True)


def point_current(data_dir: Path, name: str, version: int) -> None:
    """Make `version` the one file readers see, after its database commit."""
    target = dataset_dir(data_dir, name) / "CURRENT"
    temp = target.with_name(f".CURRENT.tmp-{uuid.uuid4().hex[:8]}")
    temp.write_text(f"v{version:06d}\n", encoding="utf-8")
    os.replace(temp, target)


def current_version(data_dir: Path, name: str) -> int | None:
    pointer = dataset_dir(data_dir, name) / "CURRENT"
    if not pointer.exists():
        return None
    return int(pointer.read_text(encoding="utf-8").strip().removeprefix("v"))


def read_manifest(data_dir: Path, name: str, version: int) -> dict[str, Any]:
    path = version_dir(data_dir, name, version) / "manifest.json"
    if not path.exists():
        raise FileNotFoundError(f"dataset {name} has no version {version} under {dataset_dir(data_dir, name)}")
    result: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return result


def read_version(data_dir: Path, name: str, version: int | None = None, *, sort: bool = True) -> pa.Table:
    """The rows of one version (default: the current one): time travel over snapshots."""
    import pyarrow.dataset as pads

    if version is None:
        version = current_version(data_dir, name)
        if version is None:
            raise FileNotFoundError(f"dataset {name} has no published version under {data_dir}")
    manifest = read_manifest(data_dir, name, version)
    folder = version_dir(data_dir, name, version)
    schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(manifest["arrow_schema"])))
    partitioning = None
    if manifest.get("partitioned_by"):
        # Read the partition column as the contract types it, never as whatever "01" looks like.
        field = schema.field(manifest["partitioned_by"])
        partitioning = pads.partitioning(pa.schema([field]), flavor="hive")
    dataset = pads.dataset(folder, format="parquet", partitioning=partitioning, exclude_invalid_files=True)
    table = dataset.to_table().select(schema.names).cast(schema)
    return table.sort_by([(k, "ascending") for k in manifest["primary_key"]]) if sort else table


def tidy(data_dir: Path, name: str, committed: int) -> list[Path]:
    """Clear what interrupted runs left of dataset `name`, whose catalog says version `committed`.

    Call it only while holding the dataset's lock (no publisher is writing then). Removes every
    temporary version directory and every version directory above `committed`, and points `CURRENT`
    at `committed` when a kill after the commit left it behind. Returns what it removed.
    """
    folder = dataset_dir(data_dir, name)
    if not folder.is_dir():
        return []
    removed: list[Path] = []
    for entry in folder.iterdir():
        numbered = _VERSION_DIR.fullmatch(entry.name)
        if (entry.name.startswith(".v") and ".tmp-" in entry.name) or (numbered and int(numbered[1]) > committed):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
        elif entry.name.startswith(".CURRENT.tmp-") and _age(entry) > 60:
            entry.unlink(missing_ok=True)  # young ones may be a publisher's pointer being written after commit
            removed.append(entry)
    if removed:
        log.warning("dataset %s: removed %d leftover(s) of interrupted runs: %s", name, len(removed),
                    ", ".join(p.name for p in removed))
    if committed and current_version(data_dir, name) != committed and version_dir(data_dir, name, committed).is_dir():
        log.warning("dataset %s: CURRENT pointed at v%s, the catalog's version is %d: repaired", name,
                    current_version(data_dir, name), committed)
        point_current(data_dir, name, committed)
    return removed


def _age(path: Path) -> float:
    """Seconds since `path` last changed; 0 when it is already gone (a publisher that just committed
    renames its pointer into place after its lock is released, while the next run tidies)."""
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return 0.0
