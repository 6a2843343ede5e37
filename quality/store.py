"""Quarantine and validation statistics in the lienthong database (SQLite or PostgreSQL).

`quarantine`: one row per quarantined record: source, dataset, run, page, key, the raw record, the first
failed rule with its column and value, every failure as JSON, and its status (quarantined or released).
`validation_runs`: one row per validation, for the dashboard.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from schemas.db import ensure_tables

metadata = sa.MetaData()
quarantine = sa.Table(
    "quarantine", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64), nullable=False, index=True),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("dataset", sa.String(64), nullable=False, index=True),
    sa.Column("contract_version", sa.Integer, nullable=False),
    sa.Column("page", sa.String(200), nullable=True),
    sa.Column("record_key", sa.String(300), nullable=True, index=True),
    sa.Column("raw", sa.Text, nullable=True),
    sa.Column("rule", sa.String(120), nullable=False),
    sa.Column("column", sa.String(120), nullable=True),
    sa.Column("value", sa.Text, nullable=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("failures", sa.Text, nullable=False),  # JSON list of {rule, column, value}
    sa.Column("status", sa.String(16), nullable=False, index=True),  # quarantined | released
    sa.Column("attempts", sa.Integer, nullable=False, default=1),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("released_run_id", sa.String(64), nullable=True),
)
validation_runs = sa.Table(
    "validation_runs", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64), nullable=False, index=True),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("dataset", sa.String(64), nullable=False, index=True),
    sa.Column("contract_version", sa.Integer, nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("seconds", sa.Float, nullable=False),
    sa.Column("rows_in", sa.BigInteger, nullable=False),
    sa.Column("rows_valid", sa.BigInteger, nullable=False),
    sa.Column("rows_quarantined", sa.BigInteger, nullable=False),
    sa.Column("tombstones", sa.BigInteger, nullable=False),
    sa.Column("failure_rate", sa.Float, nullable=False),
    sa.Column("threshold", sa.Float, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),  # passed | failed
    sa.Column("rule_counts", sa.Text, nullable=False),  # JSON {rule/column: rows}
    sa.Column("reference_misses", sa.Text, nullable=False),  # JSON {check: rows}
    sa.Column("drift", sa.Text, nullable=False),  # JSON list
)

_QUARANTINE_FIELDS = (
    "source", "dataset", "run_id", "page", "key", "raw", "rule", "column", "value", "reason", "failures",
)


def quarantine_records(rows: pa.Table, contract_version: int, now: datetime) -> list[dict[str, Any]]:
    out = []
    for row in rows.select(list(_QUARANTINE_FIELDS)).to_pylist():
        out.append({
            "run_id": row["run_id"], "source": row["source"], "dataset": row["dataset"],
            "contract_version": contract_version, "page": row["page"], "record_key": row["key"],
            "raw": row["raw"], "rule": row["rule"], "column": row["column"], "value": row["value"],
            "reason": row["reason"], "failures": row["failures"], "status": "quarantined", "attempts": 1,
            "created_at": now,
        })
    return out


def save(engine: sa.Engine, stats: Mapping[str, Any], rows: pa.Table | None, contract_version: int) -> None:
    """Write the quarantine rows and the statistics in one transaction."""
    ensure_tables(engine, metadata)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        if rows is not None and rows.num_rows:
            conn.execute(quarantine.insert(), quarantine_records(rows, contract_version, now))
        conn.execute(validation_runs.insert().values(**stats_row(stats)))


def stats_row(stats: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "run_id": stats["run_id"], "source": stats["source"], "dataset": stats["dataset"],
        "contract_version": stats["contract_version"], "started_at": stats["started_at"],
        "seconds": stats["seconds"], "rows_in": stats["rows_in"], "rows_valid": stats["rows_valid"],
        "rows_quarantined": stats["rows_quarantined"], "tombstones": stats["tombstones"],
        "failure_rate": stats["failure_rate"], "threshold": stats["threshold"], "status": stats["status"],
        "rule_counts": json.dumps(stats["rule_counts"], sort_keys=True),
        "reference_misses": json.dumps(stats["reference_misses"], sort_keys=True),
        "drift": json.dumps(stats["drift"]),
    }


def list_quarantined(engine: sa.Engine, dataset: str | None = None, status: str | None = "quarantined",
                     limit: int | None = None, ids: Sequence[int] | None = None) -> list[sa.Row[Any]]:
    ensure_tables(engine, metadata)
    query = sa.select(quarantine).order_by(quarantine.c.id)
    if dataset:
        query = query.where(quarantine.c.dataset == dataset)
    if status:
        query = query.where(quarantine.c.status == status)
    if ids:
        query = query.where(quarantine.c.id.in_(list(ids)))
    if limit:
        query = query.limit(limit)
    with engine.connect() as conn:
        return list(conn.execute(query))


def get_quarantined(engine: sa.Engine, quarantine_id: int) -> sa.Row[Any] | None:
    ensure_tables(engine, metadata)
    with engine.connect() as conn:
        return conn.execute(sa.select(quarantine).where(quarantine.c.id == quarantine_id)).first()


def list_runs(engine: sa.Engine, dataset: str | None = None) -> list[sa.Row[Any]]:
    ensure_tables(engine, metadata)
    query = sa.select(validation_runs).order_by(validation_runs.c.id)
    if dataset:
        query = query.where(validation_runs.c.dataset == dataset)
    with engine.connect() as conn:
        return list(conn.execute(query))
