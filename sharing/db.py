"""The lienthong database: engines, the system tables, and one serving table per dataset.

One SQLAlchemy URL picks SQLite (the embedded default) or PostgreSQL (production); the SQL here runs on
both. System tables are prefixed `lt_`; a dataset's serving table is `ds_<name>` and keeps full history:
each version of a row has `valid_from`/`valid_to` (time) and `version_from`/`version_to` (dataset
version); the current row has `valid_to IS NULL`; a delete is a current row with `is_deleted`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.ddl import create_tables
from core.engine import engine_for as engine_for  # the one engine factory, in the base layer

metadata = sa.MetaData()

datasets = sa.Table(
    "lt_datasets", metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("current_version", sa.Integer, nullable=False, default=0),
    sa.Column("owner_agency", sa.String(50)),
    sa.Column("contract_version", sa.String(20)),
    sa.Column("primary_key", sa.String(500), nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("updated_at", sa.DateTime(timezone=True)),
)

dataset_versions = sa.Table(
    "lt_dataset_versions", metadata,
    sa.Column("dataset", sa.String(100), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("run_id", sa.String(200)),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("inserted", sa.BigInteger, nullable=False),
    sa.Column("updated", sa.BigInteger, nullable=False),
    sa.Column("deleted", sa.BigInteger, nullable=False),
    sa.Column("unchanged", sa.BigInteger, nullable=False),
    sa.Column("contract_version", sa.String(20)),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("snapshot_path", sa.Text),
    sa.Column("source_cursor", sa.JSON),
    sa.Column("quality", sa.JSON),
)

sync_state = sa.Table(
    "lt_sync_state", metadata,
    sa.Column("source", sa.String(100), primary_key=True),
    sa.Column("stream", sa.String(100), primary_key=True),
    sa.Column("state", sa.JSON, nullable=False),
    sa.Column("dataset", sa.String(100)),
    sa.Column("version", sa.Integer),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)


# The oldest version of each dataset still readable, set by `datasets prune`: an as-of read or a change feed
# from before it is refused (410), never answered from the rows retention left.
retention_marks = sa.Table(
    "lt_retention", metadata,
    sa.Column("dataset", sa.String(100), primary_key=True),
    sa.Column("keep_from", sa.Integer, nullable=False),
    sa.Column("pruned_at", sa.DateTime(timezone=True), nullable=False),
)


def create_system_tables(engine: Engine) -> None:
    create_tables(engine, metadata, [datasets, dataset_versions, sync_state, retention_marks])


class DecimalText(sa.types.TypeDecorator[Decimal]):
    """Exact decimals on SQLite, which has no decimal type: stored as text, read back as Decimal."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: sa.Dialect) -> str | None:
        return None if value is None else str(value)

    def process_result_value(self, value: str | None, dialect: sa.Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


def sql_type(arrow_type: pa.DataType) -> sa.types.TypeEngine[Any]:
    """The SQL column type that holds an Arrow type without loss."""
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return sa.Text()
    if pa.types.is_boolean(arrow_type):
        return sa.Boolean()
    if pa.types.is_int64(arrow_type) or pa.types.is_uint32(arrow_type):
        return sa.BigInteger()
    if pa.types.is_integer(arrow_type):
        return sa.Integer()
    if pa.types.is_floating(arrow_type):
        return sa.Float()
    if pa.types.is_decimal(arrow_type):
        return sa.Numeric(arrow_type.precision, arrow_type.scale).with_variant(DecimalText(), "sqlite")
    if pa.types.is_date(arrow_type):
        return sa.Date()
    if pa.types.is_timestamp(arrow_type):
        return sa.DateTime(timezone=arrow_type.tz is not None)
    raise TypeError(f"no SQL type for Arrow type {arrow_type}")


SYSTEM_COLUMNS = ("is_deleted", "valid_from", "valid_to", "version_from", "version_to")


def serving_table(name: str, schema: pa.Schema, key: tuple[str, ...]) -> sa.Table:
    """The history table of one dataset: its columns plus the system columns."""
    table_metadata = sa.MetaData()
    columns = [sa.Column(f.name, sql_type(f.type), nullable=f.name not in key) for f in schema]
    table = sa.Table(
        f"ds_{name}", table_metadata,
        *columns,
        sa.Column("is_deleted", sa.Boolean, nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True)),
        sa.Column("version_from", sa.Integer, nullable=False),
        sa.Column("version_to", sa.Integer),
    )
    # At most one current row per key: the database itself refuses a doubled record.
    sa.Index(
        f"ux_ds_{name}_current", *[table.c[k] for k in key], unique=True,
        sqlite_where=table.c.valid_to.is_(None), postgresql_where=table.c.valid_to.is_(None),
    )
    return table


def stage_table(name: str, schema: pa.Schema) -> sa.Table:
    """A temporary table that one publish stages its batches in (COPY target on PostgreSQL)."""
    return sa.Table(
        f"lt_stage_{name}", sa.MetaData(),
        *[sa.Column(f.name, sql_type(f.type)) for f in schema],
        sa.Column("is_deleted", sa.Boolean, nullable=False),
        prefixes=["TEMPORARY"],
    )
