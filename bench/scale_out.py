"""Scale-out: four concurrent agency syncs on one Celery worker, on two, and on the LocalExecutor.

    .venv/bin/python -m bench.scale_out [--records N] [--full]

The topology is tests/e2e/celery_topology.py's (docker/compose.yaml's, as local processes): Airflow's
api-server, dag-processor and scheduler on a fresh PostgreSQL metadata DB, the broker on the local
Redis. Each configuration syncs all four agencies (one DAG run each, triggered together over REST)
into a fresh serving database from the same four simulators. Printed per configuration: wall seconds
from the first task's start to the last one's end, records per second, and the machine's mean CPU use
during the run (what limits scaling on a small machine). The baseline is the LocalExecutor; the
ratio is its wall time over each Celery configuration's.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

import click
import psutil

from agencies.base import AgencyName
from agencies.testing import running_simulator
from lienthong.airflow.registry import sources
from lienthong.airflow.setup import airflow_environ
from tests.e2e.airflow_helpers import fresh_pg_database
from tests.e2e.celery_topology import Topology, control_plane

AGENCIES: tuple[AgencyName, ...] = ("land", "business", "construction", "tax")
REDIS_DB = 13
HEARTBEAT = 300  # Airflow's default: a loaded machine's slow heartbeats must not cause retries here


class CpuMeter:
    """Mean system-wide CPU use (percent of all cores) while running."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        psutil.cpu_percent(None)
        while not self._stop.wait(0.5):
            self.samples.append(psutil.cpu_percent(None))

    def __enter__(self) -> CpuMeter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def mean(self) -> float:
        return sum(self.samples) / len(self.samples) if self.samples else 0.0


def _sync_all(topo: Topology) -> dict[str, Any]:
    """Trigger the four sync DAGs at once; wall time of their tasks, records fetched, CPU use."""
    with CpuMeter() as cpu:
        runs = {s.dag_id: topo.trigger(s.dag_id) for s in sources()}
        states = topo.wait_finished(runs, timeout=1800)
    if set(states.values()) != {"success"}:
        raise click.ClickException(f"runs failed: {states}; logs in {topo.logs}")
    starts, ends, records, retries, hosts = [], [], 0, 0, set()
    for dag_id, run_id in runs.items():
        for ti in topo.task_instances(dag_id, run_id):
            starts.append(datetime.fromisoformat(ti["start_date"]))
            ends.append(datetime.fromisoformat(ti["end_date"]))
            retries += int(ti["try_number"]) - 1
            if ti["task_id"].startswith("sync_"):
                records += int(topo.xcom(dag_id, run_id, ti["task_id"])["fetched"])
                hosts.add(ti["hostname"])
    wall = (max(ends) - min(starts)).total_seconds()
    return {"wall": wall, "records": records, "rate": records / wall, "cpu": cpu.mean, "retries": retries,
            "hosts": sorted(hosts)}


def _prepare_metadata(tmp: Path, url: str) -> None:
    env = airflow_environ(tmp / "prepare", metadata_url=url, database_url="sqlite://", data_dir=tmp / "prepare")
    subprocess.run([sys.executable, "-c", "from lienthong.airflow.setup import prepare; prepare()"],
                   env=env, check=True, capture_output=True, timeout=900)


@click.command()
@click.option("--records", type=int, default=3000, show_default=True, help="Records per agency simulator.")
@click.option("--full", is_flag=True, help="30,000 records per agency.")
def main(records: int, full: bool) -> None:
    records = 30_000 if full else records
    results: dict[str, dict[str, Any]] = {}
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lienthong-scale-")))
        metadata = stack.enter_context(fresh_pg_database("airflow_scale"))
        click.echo(f"migrating a fresh Airflow metadata DB; {records:,} records per agency ...")
        _prepare_metadata(tmp, metadata)
        sims = {a: stack.enter_context(running_simulator(a, records=records, seed=11, tmp_dir=tmp / "sims" / a))
                for a in AGENCIES}
        endpoints: dict[str, str] = {a: s.url for a, s in sims.items()}

        def serving(name: str) -> tuple[str, Path]:
            return stack.enter_context(fresh_pg_database(f"scale_{name}")).replace("+psycopg", ""), tmp / name

        url, data = serving("local")
        local_env = airflow_environ(tmp / "local", database_url=url, data_dir=data, endpoints=endpoints, base={})
        extra = {k: v for k, v in local_env.items() if k.startswith(("LIENTHONG_", "AIRFLOW_CONN_"))}
        extra["AIRFLOW__CORE__PARALLELISM"] = "8"
        with control_plane(tmp / "cp-local", metadata, redis_db=REDIS_DB, executor="LocalExecutor",
                           extra_env=extra, heartbeat_timeout=HEARTBEAT) as topo:
            click.echo("LocalExecutor (parallelism 8) ...")
            results["LocalExecutor"] = _sync_all(topo)
        with control_plane(tmp / "cp-celery", metadata, redis_db=REDIS_DB, heartbeat_timeout=HEARTBEAT) as topo:
            for n in (1, 2):
                url, data = serving(f"celery{n}")
                with ExitStack() as workers:
                    for i in range(1, n + 1):
                        env = topo.worker_env(f"w{i}", database_url=url, data_dir=data, endpoints=endpoints)
                        workers.enter_context(topo.worker(f"w{i}", env))
                    time.sleep(5)  # both workers consuming before the runs are queued
                    click.echo(f"CeleryExecutor, {n} worker(s) x concurrency 4 ...")
                    results[f"Celery, {n} worker{'s' if n > 1 else ''}"] = _sync_all(topo)
    base = results["LocalExecutor"]["wall"]
    click.echo(f"\nfour concurrent agency syncs, {records:,} records per agency, {psutil.cpu_count()} CPUs")
    click.echo(f"{'configuration':<22}{'wall s':>8}{'records/s':>11}{'mean CPU %':>12}{'vs Local':>10}"
               f"{'retries':>9}  workers used")
    for name, r in results.items():
        click.echo(f"{name:<22}{r['wall']:>8.1f}{r['rate']:>11.0f}{r['cpu']:>12.0f}{base / r['wall']:>9.2f}x"
                   f"{r['retries']:>9}  {', '.join(r['hosts'])}")


if __name__ == "__main__":
    main()
