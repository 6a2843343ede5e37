"""docker/compose.yaml's topology as local processes: Airflow with the CeleryExecutor on the local Redis and
PostgreSQL (api-server, dag-processor, scheduler) and Celery workers started and killed at will.

The workers get the deployment's cluster policy (docker/pythonpath on PYTHONPATH: an agency's tasks go to
the queue named for its pool) and a name of their own, recorded as the task instances' hostname, so a
test can tell which worker ran what. Used by tests/e2e/test_celery.py and bench/scale_out.py.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psutil

from lienthong.airflow.registry import sources
from lienthong.airflow.setup import REPO, airflow_environ
from tests.conftest import free_port

AIRFLOW = str(Path(sys.executable).parent / "airflow")
POLICY_DIR = REPO / "docker" / "pythonpath"
QUEUES = ",".join(["default", *(s.pool for s in sources())])
_T = TypeVar("_T")

# the worker's name as Airflow records it (task instance hostname), from the worker's environment
_NAMER = '''import os, socket

def name() -> str:
    return os.environ.get("LIENTHONG_WORKER_NAME") or socket.getfqdn()
'''


def wait_for(what: str, check: Callable[[], _T | None], timeout: float, logs: Path, every: float = 1.0) -> _T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    tails = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2500:]}" for p in sorted(logs.glob("*.log")))
    raise TimeoutError(f"timed out waiting for {what}\n{tails}")


def stop_group(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, wait: float = 30) -> None:
    """Signal the process and everything it started (its own session), then make sure they are gone."""
    for signum, timeout in ((sig, wait), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, signum)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=timeout)
            break
        except subprocess.TimeoutExpired:
            continue
    with suppress(ProcessLookupError):  # forked children outliving the leader
        os.killpg(proc.pid, signal.SIGKILL)


def kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process and every descendant, whatever their process group. Airflow's supervisor puts
    each task in a group of its own (`os.setpgid(0, 0)`), so killing the worker's group alone leaves the
    task running, and its late commit races the retry: a crash kills the tasks too."""
    try:
        root = psutil.Process(proc.pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for p in tree:
        with suppress(psutil.NoSuchProcess):
            p.kill()
    psutil.wait_procs(tree, timeout=10)
    with suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


@contextmanager
def process(args: list[str], env: Mapping[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(args, env=dict(env), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        yield proc
    finally:
        stop_group(proc)


class Topology:
    """The control plane (api-server, dag-processor, scheduler) and a REST client logged in as admin."""

    def __init__(self, env: dict[str, str], api: httpx.Client, logs: Path, stack: ExitStack) -> None:
        self.env, self.api, self.logs, self._stack = env, api, logs, stack

    def worker_env(self, name: str, *, database_url: str, data_dir: Path,
                   endpoints: Mapping[str, str]) -> dict[str, str]:
        """A worker's environment: where its tasks publish and which agency endpoints they call."""
        env = dict(self.env)
        env.update(airflow_environ(Path(env["AIRFLOW_HOME"]), metadata_url=env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"],
                                   database_url=database_url, data_dir=data_dir, endpoints=endpoints, base=env))
        env["LIENTHONG_WORKER_NAME"] = name
        return env

    @contextmanager
    def worker(self, name: str, env: Mapping[str, str], queues: str = QUEUES) -> Iterator[subprocess.Popen[bytes]]:
        """`airflow celery worker -q <queues>`, stopped (warm shutdown, then killed) on exit."""
        args = [AIRFLOW, "celery", "worker", "--queues", queues, "--celery-hostname", f"{name}@%h",
                "--skip-serve-logs", "--concurrency", env.get("AIRFLOW__CELERY__WORKER_CONCURRENCY", "4")]
        with process(args, env, self.logs / f"worker-{name}.log") as proc:
            yield proc

    def set_paused(self, running: set[str]) -> None:
        """Unpause exactly `running` among lienthong's DAGs (an earlier test may have left others on)."""
        for dag in self.api.get("/dags", params={"dag_id_pattern": "lienthong_%"}).json()["dags"]:
            r = self.api.patch(f"/dags/{dag['dag_id']}", json={"is_paused": dag["dag_id"] not in running})
            assert r.status_code == 200, r.text

    def trigger(self, dag_id: str) -> str:
        r = self.api.post(f"/dags/{dag_id}/dagRuns", json={"logical_date": None})
        assert r.status_code == 200, r.text
        return str(r.json()["dag_run_id"])

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.api.get(f"/dags/{dag_id}/dagRuns/{run_id}").json()["state"])

    def wait_finished(self, runs: Mapping[str, str], timeout: float) -> dict[str, str]:
        def finished() -> dict[str, str] | None:
            states = {dag: self.run_state(dag, run) for dag, run in runs.items()}
            return states if all(s in ("success", "failed") for s in states.values()) else None

        return wait_for("the DAG runs to finish", finished, timeout, self.logs)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return list(self.api.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances").json()["task_instances"])

    def explain(self, dag_id: str, run_id: str) -> str:
        """What an assertion on a run prints: each task's state, try and host, then the run's task logs."""
        rows = [f"{t['task_id']}: {t['state']} try {t['try_number']} on {t['hostname']}"
                for t in self.task_instances(dag_id, run_id)]
        logs = sorted((Path(self.env["AIRFLOW_HOME"]) / "logs").glob(f"dag_id={dag_id}/run_id={run_id}/**/*.log"))
        tails = [f"--- {p.relative_to(p.parents[2])}\n{p.read_text(errors='replace')[-2000:]}" for p in logs]
        return "\n".join(rows + tails)

    def xcom(self, dag_id: str, run_id: str, task_id: str) -> Any:
        return self.api.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value",
                            params={"deserialize": True}).json()["value"]


def celery_environ(home: Path, metadata_url: str, redis_db: int, api_port: int,
                   heartbeat_timeout: int) -> dict[str, str]:
    env = airflow_environ(home, metadata_url=metadata_url, database_url="sqlite://", data_dir=home / "data")
    home.mkdir(parents=True, exist_ok=True)
    (home / "lienthong_worker_name.py").write_text(_NAMER, encoding="utf-8")
    env.update({
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:6379/{redis_db}",
        "AIRFLOW__CELERY__RESULT_BACKEND": f"redis://127.0.0.1:6379/{redis_db}",
        # queues of its own on the shared Redis: another run of these tests (a CI clone beside this
        # checkout) has the same queue names, and its workers would take this run's tasks
        "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX": f"lienthong-{uuid.uuid4().hex[:12]}:",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "4",
        "AIRFLOW__CELERY__TASK_ACKS_LATE": "True",
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "lienthong_worker_name.name",
        "AIRFLOW__CORE__PARALLELISM": "8",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        # only the runs a test triggers: an unpaused hourly DAG's scheduled run would sync beside them
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        # a dead worker's running task is noticed in seconds, not the default five minutes (too short, and a
        # busy machine's live tasks are taken for dead and retried: 10 s did that on 2 loaded cores)
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(heartbeat_timeout),
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
    })
    env["PYTHONPATH"] = os.pathsep.join((str(POLICY_DIR), str(home), env["PYTHONPATH"]))
    return env


@contextmanager
def control_plane(tmp: Path, metadata_url: str, *, redis_db: int, executor: str = "CeleryExecutor",
                  dags: set[str] | None = None, extra_env: Mapping[str, str] | None = None,
                  heartbeat_timeout: int = 30) -> Iterator[Topology]:
    """api-server and dag-processor, the given DAGs unpaused (all sync DAGs by default), then the scheduler.

    extra_env: added to every process's environment (with the LocalExecutor, where the tasks publish);
    heartbeat_timeout: seconds of silence after which the scheduler takes a running task for dead.
    """
    api_port = free_port()
    logs = tmp / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = celery_environ(tmp / "airflow", metadata_url, redis_db, api_port, heartbeat_timeout)
    env["AIRFLOW__CORE__EXECUTOR"] = executor
    env.update(extra_env or {})
    home = Path(env["AIRFLOW_HOME"])
    with ExitStack() as stack:
        stack.enter_context(process([AIRFLOW, "api-server", "--port", str(api_port)], env, logs / "api-server.log"))
        stack.enter_context(process([AIRFLOW, "dag-processor"], env, logs / "dag-processor.log"))
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

        token = wait_for("the api-server and a login", login, 150, logs)
        api = stack.enter_context(httpx.Client(base_url=f"{base}/api/v2", timeout=20,
                                               headers={"Authorization": f"Bearer {token}"}))
        wanted = dags if dags is not None else {s.dag_id for s in sources()}

        def parsed() -> bool:
            return all(api.get(f"/dags/{d}").status_code == 200 for d in wanted)

        wait_for("the dag-processor to parse dags/", parsed, 180, logs)
        topology = Topology(env, api, logs, stack)
        topology.set_paused(wanted)
        stack.enter_context(process([AIRFLOW, "scheduler"], env, logs / "scheduler.log"))
        yield topology
