"""The Airflow 3 plugin that links the Airflow UI to the operations dashboard (`/ops` on the lookup API).

A menu entry ("Operations dashboard", under Browse) opens the dashboard; on a sync DAG's runs, an entry
opens it too. The dashboard is its own service behind its own operator login, so these are links, not
iframes. Its address: `LIENTHONG_OPS_URL` (default http://127.0.0.1:8300/ops, `lienthong serve`'s port).
Imports nothing but Airflow's plugin base, so the scheduler and API server pay nothing for it.

Airflow finds it through the `airflow.plugins` entry point (setup.cfg), or by putting a file in
`$AIRFLOW_HOME/plugins` that imports `LienthongOpsPlugin`.
"""

from __future__ import annotations

import os
from typing import Any

from airflow.plugins_manager import AirflowPlugin

DEFAULT_OPS_URL = "http://127.0.0.1:8300/ops"


def ops_url() -> str:
    return (os.environ.get("LIENTHONG_OPS_URL") or DEFAULT_OPS_URL).rstrip("/")


def views(base: str) -> list[dict[str, Any]]:
    return [
        {"name": "Operations dashboard", "href": f"{base}/", "destination": "nav", "category": "browse"},
        {"name": "lienthong: sources and quality", "href": f"{base}/", "destination": "dag_run"},
    ]


class LienthongOpsPlugin(AirflowPlugin):
    name = "lienthong_ops"
    external_views = views(ops_url())
