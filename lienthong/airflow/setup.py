"""Airflow around lienthong: its environment, metadata database, pools and connections.

`airflow_environ` builds the environment every Airflow process of ours runs with (home, metadata DB,
DAG folder, no examples, agency endpoints as `AIRFLOW_CONN_LIENTHONG_<SOURCE>` connections);
`prepare` migrates the metadata DB and creates one pool per agency system, sized from its source
file's `limits.concurrency`, so Airflow never runs more calls at once than the agency allows.
Both run in a process whose environment is already set (Airflow reads its config on import).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from lienthong.airflow.registry import sources

REPO = Path(__file__).resolve().parents[2]
DAGS_DIR = REPO / "dags"


def airflow_environ(
    home: Path,
    *,
    metadata_url: str | None = None,
    database_url: str,
    data_dir: Path,
    endpoints: Mapping[str, str] | None = None,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment for Airflow processes running lienthong's DAGs.

    metadata_url: Airflow's own database (default SQLite under `home`); database_url and data_dir:
    lienthong's serving database and snapshots; endpoints: agency name -> URL, declared as Airflow
    connections (`lienthong_<agency>`).
    """
    env = dict(os.environ if base is None else base)
    metadata_url = metadata_url or f"sqlite:///{home / 'airflow.db'}"
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
        "AIRFLOW__DATABASE__LOAD_DEFAULT_CONNECTIONS": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "LIENTHONG_DATABASE_URL": database_url,
        "LIENTHONG_DATA_DIR": str(data_dir),
        # the tasks import lienthong from this checkout whatever their working directory
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p),
        # the sync tasks' datasets, schema, counts, quality and column lineage, whenever a deployment gives
        # OpenLineage a transport (AIRFLOW__OPENLINEAGE__TRANSPORT; without one the provider stays off)
        "AIRFLOW__OPENLINEAGE__EXTRACTORS": "lienthong.airflow.lineage.SyncStreamExtractor",
        "AIRFLOW__OPENLINEAGE__EXECUTION_TIMEOUT": env.get("AIRFLOW__OPENLINEAGE__EXECUTION_TIMEOUT", "60"),
        # `airflow standalone` and the task runner start `airflow` subprocesses from PATH
        "PATH": os.pathsep.join((str(Path(sys.executable).parent), env.get("PATH", ""))),
    })
    for agency, url in (endpoints or {}).items():
        env[f"AIRFLOW_CONN_LIENTHONG_{agency.upper()}"] = json.dumps({"conn_type": "http", "host": url})
    return env


def ensure_pools() -> dict[str, int]:
    """One pool per agency system, as many slots as its source file allows concurrent calls."""
    from airflow.models.pool import Pool

    pools = {}
    for source in sources():
        Pool.create_or_update_pool(source.pool, slots=source.concurrency,
                                   description=f"concurrent calls to the {source.name} system",
                                   include_deferred=False)
        pools[source.pool] = source.concurrency
    return pools


def prepare() -> dict[str, int]:
    """Migrate Airflow's metadata database (idempotent) and create the agency pools."""
    from airflow.utils.db import initdb

    initdb()
    return ensure_pools()
