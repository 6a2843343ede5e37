"""Fixtures of the pipeline tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import pg_database


@pytest.fixture
def empty_pg(pg_server: str) -> Iterator[str]:
    """A database of its own: the first-ever sync must find no table at all."""
    with pg_database(pg_server) as url:
        yield url
