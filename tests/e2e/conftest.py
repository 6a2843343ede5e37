"""One Airflow metadata database on PostgreSQL for the session: migrating it takes about a minute."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lienthong.airflow.setup import airflow_environ
from tests.conftest import ensure_postgres
from tests.e2e.airflow_helpers import fresh_pg_database


@pytest.fixture(scope="session")
def airflow_pg_metadata(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The SQLAlchemy URL of a migrated Airflow metadata DB on PostgreSQL, with lienthong's pools."""
    ensure_postgres()
    home: Path = tmp_path_factory.mktemp("airflow-prepare")
    with fresh_pg_database("airflow_e2e") as url:
        env = airflow_environ(home, metadata_url=url, database_url="sqlite://", data_dir=home / "data")
        proc = subprocess.run([sys.executable, "-c", "from lienthong.airflow.setup import prepare; prepare()"],
                              env=env, capture_output=True, text=True, timeout=600, check=False)
        assert proc.returncode == 0, proc.stderr[-3000:]
        yield url
