"""The production shape, run for real: the images built on this machine, docker/compose.yaml up on a real engine
(host networking: docker/compose.host.yaml and docker/host.env), every agency synced through Airflow's REST
API and the Celery workers, and what production does to it.

In order, on one deployment (the module's fixture): every health check passes; every agency's sync DAG,
triggered through the REST API, publishes exactly the simulators' truth; the lookup API answers an authorised
lookup and refuses unauthorised ones; no secret is in an image layer, a container's environment or a log; a
worker killed in the middle of a sync leaves the retry to the other worker, which publishes once; PostgreSQL
restarted, the API answers again without a restart of its own; the API restarted, the audit chain verifies.
Timings (build cold/warm, up, sync, teardown) are printed and written to var/containers-timings.json.

Runs with `make test-containers` (LIENTHONG_CONTAINER_TEST=1); `make test` leaves it to that step of .ci/run.
Skipped, saying why, where no engine can run (no docker.io, no overlay file system, no cgroups, not root).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from agencies.base import DATASETS, AgencyName
from agencies.simulator import database_path, open_simulator
from agencies.truth import truth_rows
from lienthong.airflow.registry import sources
from schemas.contract import contract_for_stream
from sharing import db
from sharing.api.audit import verify as verify_audit
from tests.docker import deployment as dep
from tests.pipeline.test_sync import published_keys, truth_keys

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(2400)]

AGENCIES: tuple[AgencyName, ...] = ("land", "business", "construction", "tax")
RECORDS, SEED = 200, 3  # the smallest worlds that have every dataset's rows
TIMINGS = dep.REPO / "var" / "containers-timings.json"

if os.environ.get("LIENTHONG_CONTAINER_TEST") != "1":
    pytest.skip("the container test runs in its own step: `make test-containers` (.ci/run does)",
                allow_module_level=True)
_WHY_NOT = dep.engine_unavailable()
if _WHY_NOT:
    pytest.skip(_WHY_NOT, allow_module_level=True)


@dataclass
class Deployment:
    compose: dep.Compose
    secrets: dep.Secrets
    ports: dict[str, str]
    sims_dir: Path
    work: Path
    timings: dict[str, float] = field(default_factory=dict)
    runs: dict[str, str] = field(default_factory=dict)
    cache: dict[str, str] = field(default_factory=dict)
    _api: httpx.Client | None = None

    @property
    def airflow(self) -> httpx.Client:
        if self._api is None:
            base = f"http://127.0.0.1:{self.ports['AIRFLOW_API_PORT']}"
            password = json.loads(self.secrets.url("airflow_passwords.json"))["admin"]
            r = httpx.post(f"{base}/auth/token", json={"username": "admin", "password": password}, timeout=30)
            assert r.status_code == 201, r.text
            self._api = httpx.Client(base_url=f"{base}/api/v2", timeout=90,
                                     headers={"Authorization": f"Bearer {r.json()['access_token']}"})
        return self._api

    @property
    def lookup(self) -> str:
        return f"http://127.0.0.1:{self.ports['LOOKUP_API_PORT']}"

    @property
    def serving_url(self) -> str:
        return self.secrets.url("lienthong_database_url")

    def trigger(self, dag_id: str) -> str:
        r = self.airflow.patch(f"/dags/{dag_id}", json={"is_paused": False})
        assert r.status_code == 200, r.text
        r = self.airflow.post(f"/dags/{dag_id}/dagRuns", json={"logical_date": None})
        assert r.status_code == 200, r.text
        return str(r.json()["dag_run_id"])

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.airflow.get(f"/dags/{dag_id}/dagRuns/{run_id}").json()["state"])

    def wait_finished(self, runs: dict[str, str], timeout: float) -> dict[str, str]:
        def finished() -> dict[str, str] | None:
            try:
                states = {d: self.run_state(d, r) for d, r in runs.items()}
            except httpx.TimeoutException:  # the api-server slow on a loaded machine: ask again
                return None
            return states if all(s in ("success", "failed") for s in states.values()) else None

        return dep.wait_for("the DAG runs to finish", finished, timeout, every=3,
                            on_timeout=lambda: self.compose.logs(tail=40))

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return list(self.airflow.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances").json()["task_instances"])

    def sim(self, agency: AgencyName) -> Any:
        """The simulator's world as its container serves it: a copy of its SQLite files (opening the live ones
        as root would leave files the container's user cannot write)."""
        copy = self.work / "truth" / uuid.uuid4().hex[:8]
        copy.mkdir(parents=True)
        name = database_path(self.sims_dir, agency, SEED, RECORDS).name
        for path in self.sims_dir.glob(name + "*"):
            shutil.copyfile(path, copy / path.name)
        assert (copy / name).exists(), f"no {name} in {self.sims_dir}"
        return open_simulator(agency, records=RECORDS, seed=SEED, data_dir=copy)


def _record(timings: dict[str, float], name: str, start: float) -> None:
    timings[name] = round(time.monotonic() - start, 1)
    print(f"containers: {name} {timings[name]} s", flush=True)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    work = tmp_path_factory.mktemp("containers")
    env = dep.docker_env()
    with dep.machine_lock(), dep.engine() as started:
        ports = dep.host_env()
        busy = [f"{k}={v}" for k, v in ports.items() if k.endswith("_PORT") and not dep.port_free(int(v))]
        assert not busy, f"ports of docker/host.env already taken on 127.0.0.1: {busy} (another deployment?)"
        timings: dict[str, float] = {"engine_started_by_test": float(started)}
        for label in ("build_first", "build_warm"):  # first: cold on a new engine, warm when the layers exist
            start = time.monotonic()
            out = dep.run([str(dep.DOCKER_DIR / "build.sh")], timeout=1800,
                          env={**env, "BUILD_LOG": str(work / "build.log")})
            _record(timings, label, start)
            print(out.stdout, flush=True)
        secret = dep.Secrets(work / "secrets", ports)
        files = secret.write()
        sims_dir = work / "agencies"
        sims_dir.mkdir()
        os.chown(sims_dir, 50000, 50000)  # the image's user writes the simulators' SQLite files
        override = work / "compose.test.yaml"
        dep.write_override(override, files, sims_dir)
        project = f"lienthong-test-{uuid.uuid4().hex[:8]}"
        compose_env = {**env, "DEMO_RECORDS": str(RECORDS), "DEMO_SEED": str(SEED), "AIRFLOW_API_WORKERS": "1",
                       "LOOKUP_API_WORKERS": "1", "AIRFLOW_WORKER_CONCURRENCY": "2", "AIRFLOW_PARALLELISM": "8",
                       "AIRFLOW_TASK_HEARTBEAT_TIMEOUT": "30", "AIRFLOW_USE_JOB_SCHEDULE": "False"}
        compose = dep.Compose(project, override, compose_env)
        deployed = Deployment(compose, secret, ports, sims_dir, work, timings)
        try:
            start = time.monotonic()
            compose("up", "-d", "--no-build", timeout=1200)
            one_shot = {"airflow-init", "lienthong-init"}

            def all_healthy() -> dict[str, str] | None:
                states = deployed.compose.health()
                bad = {s: v for s, v in states.items()
                       if s in one_shot and v.startswith("exited(") and v != "exited(0)"}
                assert not bad, f"one-shot set-up failed: {bad}\n{compose.logs(next(iter(bad)))}"
                ok = all(v == ("exited(0)" if s in one_shot else "healthy") for s, v in states.items())
                return states if ok and len(states) == 15 else None

            dep.wait_for("every container's health check", all_healthy, 900, every=5,
                         on_timeout=lambda: json.dumps(compose.health()) + "\n" + compose.logs(tail=30))
            _record(timings, "up", start)
            yield deployed
        finally:
            if deployed._api is not None:
                deployed._api.close()
            (work / "compose.log").write_text(compose.logs(tail=400), encoding="utf-8")
            start = time.monotonic()
            compose("down", "--volumes", "--remove-orphans", "--timeout", "20", timeout=600, check=False)
            _record(timings, "teardown", start)
            TIMINGS.parent.mkdir(exist_ok=True)
            TIMINGS.write_text(json.dumps(timings, indent=2) + "\n", encoding="utf-8")
            print(f"containers: timings {json.dumps(timings)}", flush=True)


def test_every_service_is_healthy_on_host_networking(deployment: Deployment) -> None:
    states = deployment.compose.health()
    assert set(states) == {"postgres", "redis", "airflow-init", "lienthong-init", "airflow-api-server",
                           "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer", "airflow-worker-1",
                           "airflow-worker-2", "lookup-api", "sim-land", "sim-business", "sim-construction",
                           "sim-tax"}, states
    for svc, cid in deployment.compose.containers().items():
        info = deployment.compose.inspect(cid)
        assert info["HostConfig"]["NetworkMode"] == "host", svc
        assert info["Config"]["User"] not in ("", "root", "0"), f"{svc} runs as root"
    r = httpx.get(f"http://127.0.0.1:{deployment.ports['AIRFLOW_API_PORT']}/api/v2/monitor/health", timeout=10)
    assert r.status_code == 200 and r.json()["scheduler"]["status"] == "healthy", r.text


def test_every_agency_s_sync_dag_publishes_the_simulators_truth(deployment: Deployment) -> None:
    d = deployment

    def parsed() -> bool:
        try:
            return all(d.airflow.get(f"/dags/{s.dag_id}").status_code == 200 for s in sources())
        except httpx.TimeoutException:
            return False

    dep.wait_for("the dag-processor to parse the DAGs", parsed, 300, every=3)
    start = time.monotonic()
    d.runs = {s.dag_id: d.trigger(s.dag_id) for s in sources()}
    states = d.wait_finished(d.runs, timeout=900)
    _record(d.timings, "sync", start)
    assert states == dict.fromkeys(d.runs, "success"), f"{states}\n{d.compose.logs(tail=80)}"
    workers = set()
    for source in sources():
        for ti in d.task_instances(source.dag_id, d.runs[source.dag_id]):
            if ti["task_id"].startswith("sync_"):
                assert ti["queue"] == source.pool, ti  # routed to the agency's queue by the cluster policy
                workers.add(ti["hostname"])
    assert workers <= {"airflow-worker-1", "airflow-worker-2"} and workers, workers
    for agency in AGENCIES:
        sim = d.sim(agency)
        for stream in DATASETS[agency]:
            contract = contract_for_stream(agency, stream)
            expected = truth_keys(sim, stream)
            assert expected, f"{agency}/{stream}: an empty world proves nothing"
            assert published_keys(d.serving_url, contract.dataset, tuple(contract.primary_key)) == expected, \
                f"{agency}/{stream}"


def _enterprise_code(d: Deployment) -> str:
    if "enterprise" not in d.cache:
        row = next(r for r in truth_rows(d.sim("business"), "enterprises") if not r["_deleted"])
        d.cache["enterprise"] = str(row["enterpriseCode"])
    return d.cache["enterprise"]


def test_the_lookup_api_answers_an_authorised_lookup_and_refuses_others(deployment: Deployment) -> None:
    d = deployment
    code = _enterprise_code(d)
    keys = d.secrets.api_keys
    url = f"{d.lookup}/v1/enterprises/{code}"
    ok = httpx.get(url, headers={"X-API-Key": keys["tax_office"], "X-Purpose": "tax_assessment"}, timeout=30)
    assert ok.status_code == 200, ok.text
    assert code in ok.text
    assert httpx.get(url, headers={"X-Purpose": "tax_assessment"}, timeout=30).status_code == 401
    assert httpx.get(url, headers={"X-API-Key": "lt_" + "x" * 32, "X-Purpose": "tax_assessment"},
                     timeout=30).status_code == 401
    # a known client without a grant on enterprises
    refused = httpx.get(url, headers={"X-API-Key": keys["land_office"], "X-Purpose": "tax_assessment"}, timeout=30)
    assert refused.status_code == 403, refused.text


def test_no_secret_is_in_an_image_layer_an_environment_or_a_log(deployment: Deployment) -> None:
    d = deployment
    needles = {k: v for k, v in d.secrets.values.items() if len(v) >= 16}
    assert len(needles) >= 14
    leaks: dict[str, list[str]] = {}
    for svc, cid in d.compose.containers().items():
        info = d.compose.inspect(cid)
        text = json.dumps(info["Config"]) + json.dumps(info["HostConfig"])
        logs = dep.run(["docker", "logs", cid], env=d.compose.env, check=False).stdout
        logs += dep.run(["docker", "logs", cid], env=d.compose.env, check=False).stderr
        for where, blob in (("environment/config", text), ("log", logs)):
            found = [n for n, v in needles.items() if v in blob]
            if found:
                leaks[f"{svc} {where}"] = found
        # the environment configured: only NAME_FILE=/run/secrets/... for credentials
        assert all("_FILE=" not in e or "=/run/secrets/" in e for e in info["Config"]["Env"]), svc
    for image in ("lienthong:latest", "lienthong/postgres:latest", "lienthong/redis:latest"):
        found = dep.image_layers_contain(image, needles, d.work, d.compose.env)
        if found:
            leaks[f"image {image}"] = found
    assert not leaks, leaks
    # and the secrets did arrive, as files: the workers log in to the agencies with them (the sync succeeded)
    worker = d.compose.container("airflow-worker-1")
    listing = dep.run(["docker", "exec", worker, "ls", "/run/secrets"], env=d.compose.env).stdout.split()
    assert {"lienthong_database_url", "celery_broker_url", "tax_client_secret"} <= set(listing), listing


def test_a_worker_killed_mid_sync_leaves_the_retry_to_the_other_worker_which_publishes_once(
        deployment: Deployment) -> None:
    d = deployment
    tax = next(s for s in sources() if s.name == "tax")
    sim_url = f"http://127.0.0.1:{d.ports['SIM_TAX_PORT']}"
    r = httpx.post(f"{sim_url}/_admin/faults", json={"slow": 1.0}, timeout=30)  # each call takes 5 s
    assert r.status_code == 200, r.text
    streams = {f"sync_{s.name}" for s in tax.streams}
    try:
        run_id = d.trigger(tax.dag_id)

        def syncing() -> tuple[str, set[str]] | None:
            """The worker running sync_taxpayers once its log says the sync started, and its tax tasks then."""
            tis = {t["task_id"]: t for t in d.task_instances(tax.dag_id, run_id)}
            first = tis.get("sync_taxpayers") or {}
            if first.get("state") != "running" or not first.get("hostname"):
                return None
            host = str(first["hostname"])
            logs = dep.run(["docker", "exec", d.compose.container(host), "grep", "-rl", "sync tax/taxpayers",
                            f"/opt/airflow/logs/dag_id={tax.dag_id}/"], env=d.compose.env, check=False).stdout
            if run_id not in logs:
                return None
            return host, {t for t in streams if tis.get(t, {}).get("hostname") == host
                          and tis[t]["state"] == "running"}

        victim, killed = dep.wait_for("the tax sync to start fetching", syncing, 600, every=1)
        time.sleep(1)  # 5 s a call: the first pages in, most still to come (an idle machine fetched it in ~4 s at 1 s)
        dep.run(["docker", "kill", "--signal", "KILL", d.compose.container(victim)], env=d.compose.env)
        assert d.run_state(tax.dag_id, run_id) == "running"
        states = d.wait_finished({tax.dag_id: run_id}, timeout=900)
        assert states == {tax.dag_id: "success"}, f"{states}\n{d.compose.logs(tail=80)}"
    finally:
        httpx.post(f"{sim_url}/_admin/faults", json={"slow": 0.0}, timeout=30)
    survivor = ({"airflow-worker-1", "airflow-worker-2"} - {victim}).pop()
    tis = {t["task_id"]: t for t in d.task_instances(tax.dag_id, run_id)}
    assert "sync_taxpayers" in killed
    for task_id in killed:  # each task the kill interrupted was tried again, by the other worker
        assert tis[task_id]["try_number"] >= 2 and tis[task_id]["hostname"] == survivor, tis[task_id]
    for task_id in streams:
        assert tis[task_id]["state"] == "success", tis[task_id]
    engine = db.engine_for(d.serving_url)
    sim = d.sim("tax")
    for stream in DATASETS["tax"]:
        contract = contract_for_stream("tax", stream)
        expected = truth_keys(sim, stream)
        assert published_keys(d.serving_url, contract.dataset, tuple(contract.primary_key)) == expected, stream
        table = engine.dialect.identifier_preparer.quote("ds_" + contract.dataset)
        with engine.connect() as conn:  # every record once, each in one row: no second copy from the killed try
            current, rows = conn.execute(sa.text(
                f"SELECT count(*) FILTER (WHERE valid_to IS NULL AND NOT is_deleted), count(*) FROM {table}"  # noqa: S608
            )).one()
        assert current == len(expected) and rows == current, (stream, current, rows, len(expected))
    engine.dispose()
    d.compose("start", victim)  # back to two workers for what follows


def test_a_third_worker_scales_out_and_leaves_warmly(deployment: Deployment) -> None:
    d = deployment
    extra = ["-f", str(dep.DOCKER_DIR / "compose.worker-3.yaml"),
             "-f", str(dep.DOCKER_DIR / "compose.worker-3.host.yaml")]
    d.compose(*extra, "up", "-d", "--no-deps", "airflow-worker-3", timeout=300)

    def healthy() -> bool:
        return d.compose.health().get("airflow-worker-3") == "healthy"

    dep.wait_for("airflow-worker-3's health check (a Celery ping)", healthy, 400, every=5,
                 on_timeout=lambda: d.compose.logs("airflow-worker-3"))
    cid = d.compose.containers()["airflow-worker-3"]
    assert d.compose.inspect(cid)["HostConfig"]["NetworkMode"] == "host"
    d.compose(*extra, "stop", "--timeout", "60", "airflow-worker-3", timeout=300)
    assert d.compose.inspect(cid)["State"]["ExitCode"] in (0, 143), "not a warm shutdown"
    d.compose(*extra, "rm", "-f", "airflow-worker-3", timeout=120)


def _lookup_ok(d: Deployment) -> bool:
    try:
        r = httpx.get(f"{d.lookup}/v1/enterprises/{_enterprise_code(d)}", timeout=10,
                      headers={"X-API-Key": d.secrets.api_keys["tax_office"], "X-Purpose": "tax_assessment"})
    except httpx.HTTPError:
        return False
    return r.status_code == 200


def test_postgresql_restarted_the_lookup_api_recovers_without_a_restart(deployment: Deployment) -> None:
    d = deployment
    api = d.compose.container("lookup-api")
    started_at = d.compose.inspect(api)["State"]["StartedAt"]
    d.compose("restart", "--timeout", "20", "postgres", timeout=300)
    dep.wait_for("the lookup API to answer after PostgreSQL's restart", lambda: _lookup_ok(d), 180, every=2,
                 on_timeout=lambda: d.compose.logs("lookup-api"))
    assert d.compose.inspect(api)["State"]["StartedAt"] == started_at  # the same process, not a restart


def test_the_lookup_api_restarted_the_audit_chain_still_verifies(deployment: Deployment) -> None:
    d = deployment
    assert _lookup_ok(d)
    d.compose("restart", "--timeout", "20", "lookup-api", timeout=300)
    dep.wait_for("the lookup API after its restart", lambda: _lookup_ok(d), 180, every=2,
                 on_timeout=lambda: d.compose.logs("lookup-api"))
    assert _lookup_ok(d)
    # the operator's command (docs/operations.md), as the owner role, inside the image
    proc = d.compose("run", "--rm", "--no-deps", "lienthong-init", "lienthong", "audit", "verify",
                     timeout=300, check=False)
    assert proc.returncode == 0 and "chain intact" in proc.stdout, proc.stdout + proc.stderr
    entries = int(proc.stdout.split("entries")[0].split(":")[-1].strip())
    assert entries >= 6, proc.stdout  # the lookups above, refusals included, before and after the restarts


def test_a_client_key_rotated_the_new_key_answers_and_the_old_is_refused(deployment: Deployment) -> None:
    d = deployment
    old = d.secrets.api_keys["tax_office"]
    new = "lt_" + uuid.uuid4().hex + uuid.uuid4().hex
    d.secrets.values["api_key_tax_office_rotated"] = new
    # the operator's rotation (docs/operations.md): the new key's digest in the policy file, the API recreated
    policy = d.secrets.folder / "lienthong_api_policy.yaml"
    text = policy.read_text(encoding="utf-8")
    digest = hashlib.sha256(old.encode()).hexdigest()
    policy.chmod(0o644)
    policy.write_text(text.replace(digest, hashlib.sha256(new.encode()).hexdigest()), encoding="utf-8")
    policy.chmod(0o444)
    d.compose("up", "-d", "--no-deps", "--force-recreate", "lookup-api", timeout=300)
    d.secrets.api_keys["tax_office"] = new
    dep.wait_for("the recreated lookup API", lambda: _lookup_ok(d), 180, every=2,
                 on_timeout=lambda: d.compose.logs("lookup-api"))
    r = httpx.get(f"{d.lookup}/v1/enterprises/{_enterprise_code(d)}", timeout=30,
                  headers={"X-API-Key": old, "X-Purpose": "tax_assessment"})
    assert r.status_code == 401, r.text


def test_postgresql_backed_up_and_restored_holds_the_published_data(deployment: Deployment) -> None:
    d = deployment
    dump = d.work / "lienthong.dump"
    # the operator's commands (docs/operations.md): pg_dump inside the container, the dump on the host
    with dump.open("wb") as out:
        proc = subprocess.run([*d.compose.base, "exec", "-T", "postgres", "pg_dump", "-U", "postgres", "-Fc",
                                   "lienthong"], env=d.compose.env, stdout=out, stderr=subprocess.PIPE,
                                  timeout=600, check=False)
    assert proc.returncode == 0 and dump.stat().st_size > 10_000, proc.stderr[-2000:]
    d.compose("exec", "-T", "postgres", "createdb", "-U", "postgres", "-O", "lienthong", "lienthong_restored")
    with dump.open("rb") as source:
        restore = subprocess.run([*d.compose.base, "exec", "-T", "postgres", "pg_restore", "-U", "postgres",
                                  "--no-owner", "--role", "lienthong", "-d", "lienthong_restored"],
                                 env=d.compose.env, stdin=source, capture_output=True, timeout=600, check=False)
    assert restore.returncode == 0, restore.stderr[-2000:]
    restored = d.serving_url.rsplit("/", 1)[0] + "/lienthong_restored"
    for agency in AGENCIES:
        sim = d.sim(agency)
        for stream in DATASETS[agency]:
            contract = contract_for_stream(agency, stream)
            assert published_keys(restored, contract.dataset, tuple(contract.primary_key)) == \
                truth_keys(sim, stream), f"{agency}/{stream} after restore"
    # the audit log came back with its chain intact (the deployment's MAC key; no checkpoints for this copy)
    checked, problems = verify_audit(restored, environ={
        "LIENTHONG_AUDIT_KEYS": d.secrets.url("lienthong_audit_keys"),
        "LIENTHONG_AUDIT_CHECKPOINTS": str(d.work / "restored-checkpoints")})
    assert checked > 0 and not problems, [p.message for p in problems]
    db.engine_for(restored).dispose()
    d.compose("exec", "-T", "postgres", "dropdb", "-U", "postgres", "--force", "lienthong_restored")
