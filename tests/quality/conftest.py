from collections.abc import Iterator

import pytest
import sqlalchemy as sa


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    """An engine on each backend in turn, disposed after the test (no connection left to the GC)."""
    engine = sa.create_engine(db_url)
    yield engine
    engine.dispose()
