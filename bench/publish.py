"""Publishing N rows to PostgreSQL + Parquet, beside a plain COPY and a plain pyarrow write of the same table.

    .venv/bin/python -m bench.publish [--rows 1000000] [--pg postgresql://postgres@127.0.0.1:5432/postgres]

Our figure is end to end: stage with COPY, merge into the history table, write the versioned Parquet
snapshot, record the version and the cursor, commit. The baseline is the least any loader must do: COPY the
same rows into an empty table, and write them once to Parquet. Target: >= 0.6x the plain COPY's rate.
A second publish of the same rows with 1% changed measures the incremental path.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from sharing.publish import StateCommit, publish
from sharing.spec import DatasetSpec

SCHEMA = pa.schema([
    pa.field("parcel_id", pa.string(), nullable=False),
    pa.field("province_code", pa.string()),
    pa.field("commune_code", pa.string()),
    pa.field("map_sheet", pa.int64()),
    pa.field("parcel_number", pa.int64()),
    pa.field("area_m2", pa.decimal128(14, 2)),
    pa.field("land_use_code", pa.string()),
    pa.field("holder_id", pa.string()),
    pa.field("holder_name", pa.string()),
    pa.field("updated_at", pa.timestamp("us", tz="UTC")),
])


def make_table(rows: int, seed: int = 7, changed: float = 0.0) -> pa.Table:
    rng = np.random.default_rng(seed)
    ids = np.arange(rows)
    areas = rng.integers(1000, 10_000_000, rows)
    if changed:
        flip = rng.random(rows) < changed
        areas = np.where(flip, areas + 1, areas)
    return pa.table({
        "parcel_id": pa.array([f"P{i:09d}" for i in ids]),
        "province_code": pa.array(np.where(ids % 3 == 0, "01", "79")),
        "commune_code": pa.array([f"{i % 3321:05d}" for i in ids]),
        "map_sheet": pa.array(ids // 1000),
        "parcel_number": pa.array(ids % 1000),
        "area_m2": pa.array([Decimal(int(a)).scaleb(-2) for a in areas], type=pa.decimal128(14, 2)),
        "land_use_code": pa.array(np.array(["ONT", "ODT", "LUC", "CLN"])[ids % 4]),
        "holder_id": pa.array([f"{(i * 7919) % 10**10:010d}" for i in ids]),
        "holder_name": pa.array([f"Nguyễn Văn {i % 5000}" for i in ids]),
        "updated_at": pa.array(np.full(rows, 1_700_000_000_000_000, dtype="int64"), type=pa.timestamp("us", tz="UTC")),
    }, schema=SCHEMA)


def plain_copy(admin_url: str, db: str, table: pa.Table) -> float:
    with psycopg.connect(admin_url.rsplit("/", 1)[0] + f"/{db}", autocommit=True) as conn:
        conn.execute("CREATE TABLE plain (parcel_id text, province_code text, commune_code text, map_sheet bigint, "
                     "parcel_number bigint, area_m2 numeric(14,2), land_use_code text, holder_id text, "
                     "holder_name text, updated_at timestamptz)")
        started = time.perf_counter()
        buffer = io.BytesIO()
        pacsv.write_csv(table, buffer, pacsv.WriteOptions(include_header=False))
        with conn.cursor() as cur, cur.copy("COPY plain FROM STDIN (FORMAT csv)") as copy:
            copy.write(buffer.getbuffer())
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    table = make_table(args.rows)
    db = f"bench_publish_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.pg, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{db}"')
    try:
        url = args.pg.rsplit("/", 1)[0] + f"/{db}"
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            pq.write_table(table, Path(tmp) / "plain.parquet")
            parquet_s = time.perf_counter() - started
            copy_s = plain_copy(args.pg, db, table)

            spec = DatasetSpec("bench_parcels", ("parcel_id",), SCHEMA, partition_by="province_code")
            batches = table.to_batches(max_chunksize=50_000)
            started = time.perf_counter()
            first = publish(url, spec, batches, data_dir=Path(tmp), state=StateCommit("bench", "p", None, {"c": 1}))
            publish_s = time.perf_counter() - started

            changed = make_table(args.rows, changed=0.01)
            started = time.perf_counter()
            second = publish(url, spec, changed.to_batches(max_chunksize=50_000), data_dir=Path(tmp),
                             state=StateCommit("bench", "p", {"c": 1}, {"c": 2}))
            incremental_s = time.perf_counter() - started
    finally:
        with psycopg.connect(args.pg, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')

    n = args.rows
    baseline_s = copy_s + parquet_s
    print(f"rows: {n:,}")
    print(f"plain pyarrow Parquet write      {parquet_s:7.2f} s  {n / parquet_s:>12,.0f} rows/s")
    print(f"plain COPY                       {copy_s:7.2f} s  {n / copy_s:>12,.0f} rows/s")
    print(f"plain COPY + Parquet (baseline)  {baseline_s:7.2f} s  {n / baseline_s:>12,.0f} rows/s")
    print(f"lienthong publish, first         {publish_s:7.2f} s  {n / publish_s:>12,.0f} rows/s  "
          f"(v{first.version}, +{first.inserted:,})")
    print(f"lienthong publish, 1% changed    {incremental_s:7.2f} s  {n / incremental_s:>12,.0f} rows/s  "
          f"(v{second.version}, ~{second.updated:,})")
    print(f"ratio first publish / plain COPY: {copy_s / publish_s:.2f}x  (target >= 0.60x)")
    print(f"ratio first publish / plain COPY + Parquet: {baseline_s / publish_s:.2f}x")


if __name__ == "__main__":
    main()
