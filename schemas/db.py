"""The lienthong database, as SQLAlchemy sees it: one engine per URL, tables created on first use."""

from __future__ import annotations

from functools import cache

import sqlalchemy as sa

from core.ddl import create_tables
from core.settings import ensure_sqlite_dir, get_settings


@cache
def engine_for(url: str | None = None) -> sa.Engine:
    """An engine for `url` (default: LIENTHONG_DATABASE_URL), shared by the process."""
    url = url or get_settings().database_url
    ensure_sqlite_dir(url)
    return sa.create_engine(url, future=True)


def ensure_tables(engine: sa.Engine, metadata: sa.MetaData) -> None:
    create_tables(engine, metadata)
