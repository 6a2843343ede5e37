"""Versioned Parquet snapshots of a dataset, written so that a reader never sees half a version.

Layout under the data dir: `datasets/<name>/v000007/` holds the Parquet files (hive-partitioned by
province where the contract says so) and `manifest.json`; `datasets/<name>/CURRENT` names the newest
committed version. A version directory appears by one rename once complete; a crash before that leaves
only a `.tmp-` directory, which the next write of that version clears away.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    from sharing.publish import DatasetSpec

CHUNK_ROWS = 100_000


@dataclass(frozen=True, slots=True)
class WrittenVersion:
    path: Path
    rows: int
    content_hash: str


def dataset_dir(data_dir: Path, name: str) -> Path:
    return data_dir / "datasets" / name


def version_dir(data_dir: Path, name: str, version: int) -> Path:
    return dataset_dir(data_dir, name) / f"v{version:06d}"


def write_version(
    data_dir: Path,
    spec: DatasetSpec,
    version: int,
    rows: Iterable[Sequence[Any]],
    *,
    now: datetime,
    source_cursor: Mapping[str, Any] | None,
    quality: Mapping[str, Any] | None,
) -> WrittenVersion:
    """Write `rows` (the dataset's columns, then the row hash) as version `version`, atomically."""
    import pyarrow.parquet as pq

    final = version_dir(data_dir, spec.name, version)
    temp = final.with_name(f".{final.name}.tmp-{uuid.uuid4().hex[:8]}")
    temp.mkdir(parents=True)
    digest = hashlib.sha256()
    key_index = [spec.schema.get_field_index(k) for k in spec.primary_key]
    total = 0
    part = 0
    chunk: list[Sequence[Any]] = []

    def flush() -> None:
        nonlocal part, total
        if not chunk:
            return
        columns = list(zip(*chunk, strict=True))
        table = pa.table(
            [pa.array(columns[i], type=f.type) for i, f in enumerate(spec.schema)], schema=spec.schema
        )
        for row in chunk:
            digest.update(repr((tuple(str(row[i]) for i in key_index), row[-1])).encode())
        if spec.partition_by and spec.partition_by in spec.schema.names:
            pq.write_to_dataset(
                table, temp, partition_cols=[spec.partition_by],
                basename_template=f"part-{part:05d}-{{i}}.parquet", existing_data_behavior="overwrite_or_ignore",
            )
        else:
            pq.write_table(table, temp / f"part-{part:05d}.parquet")
        part += 1
        total += len(chunk)
        chunk.clear()

    for row in rows:
        chunk.append(tuple(row))
        if len(chunk) >= CHUNK_ROWS:
            flush()
    flush()
    if total == 0:
        pq.write_table(spec.schema.empty_table(), temp / "part-00000.parquet")
    content_hash = digest.hexdigest()
    manifest = {
        "dataset": spec.name,
        "version": version,
        "published_at": now.isoformat(),
        "rows": total,
        "primary_key": list(spec.primary_key),
        "schema": [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in spec.schema],
        "arrow_schema": base64.b64encode(spec.schema.serialize().to_pybytes()).decode("ascii"),
        "contract_version": spec.contract_version,
        "partitioned_by": spec.partition_by if spec.partition_by in spec.schema.names else None,
        "source_cursor": source_cursor,
        "quality": quality,
        "content_hash": content_hash,
    }
    (temp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str), encoding="utf-8")
    if final.exists():  # left by a run that crashed before its commit: never committed, never read
        shutil.rmtree(final)
    os.replace(temp, final)
    for stale in final.parent.glob(f".{final.name}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    return WrittenVersion(final, total, content_hash)


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


def read_version(data_dir: Path, name: str, version: int | None = None) -> pa.Table:
    """The rows of one version (default: the current one): time travel over snapshots."""
    import pyarrow.dataset as pads

    if version is None:
        version = current_version(data_dir, name)
        if version is None:
            raise FileNotFoundError(f"dataset {name} has no published version under {data_dir}")
    manifest = read_manifest(data_dir, name, version)
    folder = version_dir(data_dir, name, version)
    partitioning = "hive" if manifest.get("partitioned_by") else None
    dataset = pads.dataset(folder, format="parquet", partitioning=partitioning, exclude_invalid_files=True)
    table = dataset.to_table()
    schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(manifest["arrow_schema"])))
    # Hive partitioning reads the partition column back as inferred text; restore the contract's types.
    table = table.select(schema.names).cast(schema)
    return table.sort_by([(k, "ascending") for k in manifest["primary_key"]])
