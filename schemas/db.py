"""The lienthong database, as SQLAlchemy sees it: one engine per URL, tables created on first use."""

from __future__ import annotations

import sqlalchemy as sa

from core.ddl import create_tables
from core.settings import get_settings


def engine_for(url: str | None = None) -> sa.Engine:
    """The process's engine for `url` (default: LIENTHONG_DATABASE_URL): `core.engine.engine_for`'s, with
    the publisher's SQLite WAL and busy timeout."""
    from core.engine import engine_for as shared

    return shared(url or get_settings().database_url)


def ensure_tables(engine: sa.Engine, metadata: sa.MetaData) -> None:
    create_tables(engine, metadata)
