"""Fixtures of the pipeline tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from sharing import db


@pytest.fixture
def empty_pg(pg_server: str) -> Iterator[str]:
    """A database of its own: the first-ever sync must find no table at all."""
    import psycopg

    name = f"lienthong_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type,unused-ignore]  # a uuid, no input
    url = pg_server.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        db.engine_for(url).dispose()
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type,unused-ignore]
