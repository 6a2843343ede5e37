"""Running lienthong's DAGs through Airflow from a test: an Airflow home per backend, DAG runs, truth checks."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lienthong.airflow.run import RESULT
from tests.conftest import pg_database
from tests.pipeline.test_sync import published_keys, truth_keys

__all__ = ["fresh_pg_database", "published_keys", "run_dags", "truth_keys"]


@contextmanager
def fresh_pg_database(prefix: str) -> Iterator[str]:
    """A new PostgreSQL database (its SQLAlchemy URL for psycopg 3), dropped afterwards."""
    with pg_database(prefix=prefix) as url:
        yield url.replace("postgresql://", "postgresql+psycopg://", 1)


def run_dags(env: dict[str, str], dag_ids: list[str], log: Path, *, prepare: bool,
             retry_delay: float | None = None, timeout: float = 600) -> dict[str, dict[str, Any]]:
    """Run DAGs once through `lienthong.airflow.run`; each DAG's result by id (Airflow's output goes to `log`)."""
    args = [sys.executable, "-m", "lienthong.airflow.run", "--prepare" if prepare else "--no-prepare"]
    if retry_delay is not None:
        args += ["--retry-delay", str(retry_delay)]
    with log.open("a", encoding="utf-8") as out:
        proc = subprocess.run([*args, *dag_ids], env=env, stdout=subprocess.PIPE, stderr=out,
                              text=True, timeout=timeout, check=False)
        out.write(proc.stdout)
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT)]
    assert lines, f"no result from airflow_run (exit {proc.returncode}); see {log}:\n{proc.stdout[-3000:]}"
    return {r["dag_id"]: r for r in json.loads(lines[-1][len(RESULT):])}
