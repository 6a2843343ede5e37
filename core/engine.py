"""The one engine factory: every layer opens the lienthong database through `engine_for`.

SQLite gets WAL and a 60 s busy timeout (a reader or a second writer waits instead of failing at once);
PostgreSQL gets pre-ping and a connect that waits for a restarting server. The lookup API keeps its own
pool sizes on top of the same URL (`sharing.api.app.api_engine`), the audit writer a one-connection pool.
"""

from __future__ import annotations

from functools import cache

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.dbfaults import retry_connect
from core.settings import ensure_sqlite_dir


@cache
def engine_for(url: str) -> Engine:
    """One engine per URL per process. SQLite waits for a writer instead of failing at once."""
    if url.startswith("sqlite"):
        ensure_sqlite_dir(url)
        engine = sa.create_engine(url, connect_args={"timeout": 60})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: object, _record: object) -> None:
            cursor = dbapi_conn.cursor()  # type: ignore[attr-defined]
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    engine = sa.create_engine(url, pool_pre_ping=True)
    retry_connect(engine)  # a server restarting or out of client slots is waited for, with backoff
    return engine
