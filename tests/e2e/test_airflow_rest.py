"""Airflow as deployed: api-server, scheduler and dag-processor on PostgreSQL; a sync triggered over REST.

The DAG processor parses dags/ into the metadata DB (shared with the pipeline test: one migration per
session), the scheduler runs the tax sync with the
LocalExecutor (its task in the agency's pool), and the API answers with the run's state. The test logs
in as the admin with the password Airflow generated (SimpleAuthManager), triggers
`lienthong_sync_tax` through `POST /api/v2/dags/{dag_id}/dagRuns`, waits for success, checks the
published data against ground truth, and sees the views DAG triggered by the datasets' Assets.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from agencies.testing import running_simulator
from lienthong.airflow.setup import airflow_environ
from tests.conftest import free_port
from tests.e2e.airflow_helpers import fresh_pg_database, published_keys, truth_keys

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

AIRFLOW = str(Path(sys.executable).parent / "airflow")


@contextmanager
def airflow_process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen([AIRFLOW, *args], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def wait_for(what: str, check: Any, timeout: float, logs: Path) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(1)
    tails = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2500:]}" for p in sorted(logs.glob("*.log")))
    pytest.fail(f"timed out waiting for {what}\n{tails}")


def test_sync_triggered_through_the_rest_api(tmp_path: Path, airflow_pg_metadata: str) -> None:
    api_port = free_port()
    logs = tmp_path / "logs"
    logs.mkdir()
    with ExitStack() as stack:
        url = stack.enter_context(fresh_pg_database("lienthong_rest")).replace("+psycopg", "")
        sim = stack.enter_context(running_simulator("tax", records=300, seed=3, tmp_dir=tmp_path / "sim"))
        home = tmp_path / "airflow"
        env = airflow_environ(home, metadata_url=airflow_pg_metadata, database_url=url, data_dir=tmp_path / "data",
                              endpoints={"tax": sim.url})
        env.update({
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "2",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            # only the DAGs this test unpauses run: the other agencies have no simulator here
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        })
        stack.enter_context(airflow_process(["api-server", "--port", str(api_port)], env, logs / "api-server.log"))
        stack.enter_context(airflow_process(["dag-processor"], env, logs / "dag-processor.log"))

        base = f"http://127.0.0.1:{api_port}"
        passwords = home / "simple_auth_manager_passwords.json.generated"

        def login() -> str | None:
            try:
                if not passwords.exists():
                    return None
                password = json.loads(passwords.read_text())["admin"]
                r = httpx.post(f"{base}/auth/token", json={"username": "admin", "password": password}, timeout=5)
            except (httpx.HTTPError, ValueError, KeyError):
                return None
            return str(r.json()["access_token"]) if r.status_code == 201 else None

        token = wait_for("the api-server and a login", login, 120, logs)
        api = stack.enter_context(httpx.Client(base_url=f"{base}/api/v2", timeout=10,
                                               headers={"Authorization": f"Bearer {token}"}))

        def parsed() -> bool:
            return all(api.get(f"/dags/{d}").status_code == 200 for d in ("lienthong_sync_tax", "lienthong_views"))

        wait_for("the dag-processor to parse dags/", parsed, 180, logs)
        # Only the tax sync and the views run (the other agencies have no simulator here); the scheduler
        # starts once that is set, whatever an earlier test on this metadata DB left unpaused.
        for dag in api.get("/dags", params={"dag_id_pattern": "lienthong_%"}).json()["dags"]:
            paused = dag["dag_id"] not in ("lienthong_sync_tax", "lienthong_views")
            assert api.patch(f"/dags/{dag['dag_id']}", json={"is_paused": paused}).status_code == 200
        stack.enter_context(airflow_process(["scheduler"], env, logs / "scheduler.log"))
        pool = api.get("/pools/lienthong_tax").json()
        assert pool["slots"] == 2, pool

        r = api.post("/dags/lienthong_sync_tax/dagRuns", json={"logical_date": None})
        assert r.status_code == 200, r.text
        run_id = r.json()["dag_run_id"]

        def finished() -> str | None:
            try:  # on a loaded machine one answer of the single api-server worker can take over 10 s
                state = str(api.get(f"/dags/lienthong_sync_tax/dagRuns/{run_id}").json()["state"])
            except httpx.TimeoutException:
                return None
            return state if state in ("success", "failed") else None

        assert wait_for("the triggered run to finish", finished, 300, logs) == "success"
        tis = api.get(f"/dags/lienthong_sync_tax/dagRuns/{run_id}/taskInstances").json()["task_instances"]
        assert {t["task_id"]: t["pool"] for t in tis if t["task_id"].startswith("sync_")} == {
            "sync_taxpayers": "lienthong_tax", "sync_land_tax_notices": "lienthong_tax"}
        summary = api.get(f"/dags/lienthong_sync_tax/dagRuns/{run_id}/taskInstances/sync_taxpayers/xcomEntries/"
                          "return_value", params={"deserialize": True}).json()["value"]
        assert "fetched" in str(summary) and "cursor" in str(summary), summary
        assert published_keys(url, "taxpayers", ("tax_code",)) == truth_keys(sim.sim, "taxpayers")

        # The dashboard's link to this run opens this run: its run id, quoted, answers in the API and the UI.
        from lienthong.airflow.registry import sources
        from sharing import db
        from sharing.ops.data import source_statuses

        # (the last run may be this one or a scheduled one the scheduler started beside it)
        (tax,) = [s for s in source_statuses(db.engine_for(url), sources()) if s.name == "tax"]
        link = tax.dag_url(base)
        assert tax.airflow_run_id() and link.startswith(f"{base}/dags/lienthong_sync_tax/runs/"), link
        run_path = link.removeprefix(f"{base}/dags/lienthong_sync_tax/runs/")
        found = api.get(f"/dags/lienthong_sync_tax/dagRuns/{run_path}")
        assert found.status_code == 200 and found.json()["dag_run_id"] == tax.airflow_run_id(), found.text

        events = api.get("/assets/events", params={"source_dag_id": "lienthong_sync_tax"}).json()
        assert {e["uri"] for e in events["asset_events"]} >= {"lienthong://datasets/taxpayers",
                                                              "lienthong://datasets/tax_notices"}

        def views_ran() -> str | None:
            runs = api.get("/dags/lienthong_views/dagRuns").json()["dag_runs"]
            done = [r for r in runs if r["run_type"] == "asset_triggered" and r["state"] in ("success", "failed")]
            return str(done[0]["state"]) if done else None

        assert wait_for("the views DAG, triggered by the Assets", views_ran, 180, logs) == "success"
