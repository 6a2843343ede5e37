"""The task functions without a scheduler: endpoints from Airflow connections, the run report, registry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lienthong.airflow.registry import sources
from lienthong.airflow.tasks import run_report

pytestmark = pytest.mark.integration  # one test starts an interpreter with Airflow

REPO = Path(__file__).resolve().parents[3]


def test_registry_names_each_stream_dataset_and_pool() -> None:
    by_name = {s.name: s for s in sources()}
    assert set(by_name) == {"land", "business", "construction", "tax"}
    tax = by_name["tax"]
    assert {s.name: s.dataset for s in tax.streams} == {"taxpayers": "taxpayers", "land_tax_notices": "tax_notices"}
    assert (tax.dag_id, tax.pool, tax.conn_id) == ("lienthong_sync_tax", "lienthong_tax", "lienthong_tax")
    assert tax.concurrency >= 1


def test_run_report_names_the_streams_that_did_not_publish() -> None:
    ok = {"stream": "taxpayers", "line": "tax/taxpayers -> taxpayers: fetched 3"}
    text = run_report([ok, None], ["taxpayers", "land_tax_notices"])
    assert text.splitlines() == ["tax/taxpayers -> taxpayers: fetched 3", "land_tax_notices: FAILED (see its task log)"]


def test_endpoints_come_from_airflow_connections(tmp_path: Path) -> None:
    script = textwrap.dedent("""
        import json
        from lienthong.airflow.tasks import task_environ
        out = {s: task_environ(s, f"lienthong_{s}", {}).get(f"LIENTHONG_AGENCY_{s.upper()}_URL")
               for s in ("tax", "land", "business")}
        print(json.dumps(out))
    """)
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
           "AIRFLOW_CONN_LIENTHONG_TAX": json.dumps({"conn_type": "http", "host": "http://127.0.0.1:9/tax/"}),
           "AIRFLOW_CONN_LIENTHONG_LAND": json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": 8801,
                                                      "schema": "ws/land"})}
    env.pop("AIRFLOW_CONN_LIENTHONG_BUSINESS", None)
    proc = subprocess.run([sys.executable, "-c", script], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {
        "tax": "http://127.0.0.1:9/tax", "land": "http://127.0.0.1:8801/ws/land", "business": None}
