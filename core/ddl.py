"""Creating tables when several processes may start at once (two first-ever syncs, a sync and the API).

`metadata.create_all` checks, then creates: two processes can both find a table missing and one of
them fails on PostgreSQL's catalog (a raw unique violation on `pg_type`). On PostgreSQL the check and
the creation run under one transaction-scoped advisory lock; on SQLite a lost race is retried.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

DDL_LOCK_KEY = 0x6C74_6464  # "ltdd": one key for every lienthong DDL, so creators queue


def create_tables(engine: sa.Engine, metadata: sa.MetaData, tables: Sequence[sa.Table] | None = None) -> None:
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": DDL_LOCK_KEY})
            metadata.create_all(conn, tables=tables, checkfirst=True)
        return
    for attempt in range(3):
        try:
            metadata.create_all(engine, tables=tables, checkfirst=True)
            return
        except sa.exc.OperationalError as exc:  # "table ... already exists": another process won the race
            if attempt == 2 or "already exists" not in str(exc):
                raise
