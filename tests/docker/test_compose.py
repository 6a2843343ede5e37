"""The deployment's files, checked without a Docker engine: compose.yaml's services, commands, health
checks, start-up order and secrets; the Dockerfile; the entrypoint's secret files; the queue routing.
`docker compose config` validates the file too when the client and its compose plugin are installed."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

import pytest
import yaml

from lienthong.airflow.registry import sources

pytestmark = pytest.mark.unit

DOCKER = Path(__file__).resolve().parents[2] / "docker"
REPO = DOCKER.parent
AIRFLOW_ROLES = ("airflow-api-server", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
                 "airflow-worker-1", "airflow-worker-2")
ONE_SHOT = ("airflow-init", "lienthong-init")
SIMULATORS = ("sim-land", "sim-business", "sim-construction", "sim-tax")
# names of variables that carry a credential: they may only be set as NAME_FILE=/run/secrets/...
SECRET_NAME = re.compile(r"PASSWORD|SECRET|API_KEY|FERNET|TOKEN|SQL_ALCHEMY_CONN|BROKER_URL|RESULT_BACKEND|"
                         r"DATABASE_URL", re.IGNORECASE)
URL_WITH_PASSWORD = re.compile(r"[a-z+]+://[^/\s:@]*:[^/\s@]+@")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((DOCKER / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]  # type: ignore[no-any-return]


def depends(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()} \
        if isinstance(deps, dict) else dict.fromkeys(deps, "service_started")


def test_the_production_shape_is_there(compose: dict[str, Any]) -> None:
    names = set(services(compose))
    assert {"postgres", "redis", "lookup-api", *AIRFLOW_ROLES, *ONE_SHOT, *SIMULATORS} <= names
    for sim in SIMULATORS:  # a demo only
        assert services(compose)[sim]["profiles"] == ["demo"]
    assert not any("profiles" in s for n, s in services(compose).items() if n not in SIMULATORS)


def test_every_service_has_a_command_and_a_health_check(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        command = service.get("command")
        assert isinstance(command, list) and command, f"{name}: no command"
        check = service.get("healthcheck") or {}
        if name in ONE_SHOT:
            assert service["restart"] == "no" and check.get("disable") is True, name
            assert command[0].startswith("init-"), name
            continue
        assert check.get("test", [None])[0] == "CMD", f"{name}: no health check"
        assert {"interval", "timeout", "retries", "start_period"} <= set(check), name
    expected = {"airflow-api-server": ["airflow", "api-server"], "airflow-scheduler": ["airflow", "scheduler"],
                "airflow-dag-processor": ["airflow", "dag-processor"], "airflow-triggerer": ["airflow", "triggerer"],
                "lookup-api": ["lienthong", "serve"]}
    for name, start in expected.items():
        assert services(compose)[name]["command"][:2] == start, name
    for worker in ("airflow-worker-1", "airflow-worker-2"):
        assert "airflow celery worker --queues" in " ".join(services(compose)[worker]["command"]), worker
        assert services(compose)[worker]["healthcheck"]["test"][-1] == "celery"


def test_services_start_in_dependency_order(compose: dict[str, Any]) -> None:
    svc = services(compose)
    graph = {name: set(depends(service)) for name, service in svc.items()}
    order = list(TopologicalSorter(graph).static_order())  # raises on a cycle
    for name, deps in graph.items():
        assert deps <= set(svc), f"{name} depends on an unknown service"
        for dep, condition in depends(svc[name]).items():
            assert order.index(dep) < order.index(name)
            if condition == "service_healthy":
                assert not svc[dep].get("healthcheck", {}).get("disable"), f"{name} waits on {dep}'s health"
            if condition == "service_completed_successfully":
                assert dep in ONE_SHOT, (name, dep)
    for name in AIRFLOW_ROLES:
        assert depends(svc[name])["airflow-init"] == "service_completed_successfully", name
        assert depends(svc[name])["postgres"] == depends(svc[name])["redis"] == "service_healthy", name
    for name in ("airflow-scheduler", "airflow-triggerer", "airflow-worker-1", "airflow-worker-2"):
        # the tasks talk to the Execution API, so the api-server comes first
        assert depends(svc[name])["airflow-api-server"] == "service_healthy", name
    assert depends(svc["airflow-init"]) == {"postgres": "service_healthy"}
    assert depends(svc["lookup-api"])["lienthong-init"] == "service_completed_successfully"


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def test_no_secret_is_inlined(compose: dict[str, Any]) -> None:
    declared = compose["secrets"]
    for name, spec in declared.items():
        assert set(spec) == {"file"} and spec["file"].startswith("./secrets/"), name
    for name, service in services(compose).items():
        mounted = set(service.get("secrets") or [])
        assert mounted <= set(declared), name
        for key, value in _environment(service).items():
            assert not URL_WITH_PASSWORD.search(value), f"{name}: {key} holds a URL with a password"
            if key.endswith("_FILE"):
                assert value.startswith("/run/secrets/"), (name, key)
                assert value.removeprefix("/run/secrets/").split(".")[0] in mounted | {
                    s.removesuffix(".yaml") for s in mounted}, f"{name}: {key} names a secret it does not mount"
            elif key not in ("LIENTHONG_API_POLICY",):
                assert not SECRET_NAME.search(key), f"{name}: {key} is set inline; use {key}_FILE"
        if name == "lookup-api":
            assert _environment(service)["LIENTHONG_API_POLICY"].startswith("/run/secrets/")
    text = (DOCKER / "compose.yaml").read_text(encoding="utf-8")
    assert not URL_WITH_PASSWORD.search(text)
    for example in (DOCKER / "lienthong.env.example").read_text(encoding="utf-8").splitlines():
        key = example.lstrip("# ").split("=", 1)[0]
        if "=" in example and not example.startswith("# "):
            assert not SECRET_NAME.search(key.replace("DATA_DIR", "")), f"lienthong.env.example sets {key}"
            assert not URL_WITH_PASSWORD.search(example), example


def test_the_workers_consume_every_agency_queue(compose: dict[str, Any]) -> None:
    pools = {s.pool for s in sources()}
    assert len(pools) == 4
    for worker in ("airflow-worker-1", "airflow-worker-2"):
        queues = _environment(services(compose)[worker])["LIENTHONG_WORKER_QUEUES"]
        default = re.fullmatch(r"\$\{WORKER_\d_QUEUES:-(.+)\}", queues)
        assert default, queues
        assert set(default.group(1).split(",")) == pools | {"default"}, worker  # either can stand in
    env = compose["x-airflow-env"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor" and env["AIRFLOW__CELERY__TASK_ACKS_LATE"] == "True"


def test_the_cluster_policy_routes_each_agency_task_to_its_pool_queue() -> None:
    from lienthong.airflow.dags import sync_dags

    spec = importlib.util.spec_from_file_location("airflow_local_settings",
                                                  DOCKER / "pythonpath" / "airflow_local_settings.py")
    assert spec and spec.loader
    policy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(policy)
    routed = 0
    for dag in sync_dags().values():
        for task in dag.tasks:
            policy.task_policy(task)
            assert task.queue == (task.pool if task.pool.startswith("lienthong_") else "default"), task.task_id
            routed += task.pool.startswith("lienthong_")
    assert routed == sum(len(s.streams) for s in sources())  # every stream's task


def test_the_image_runs_locked_dependencies_as_a_non_root_user() -> None:
    text = (DOCKER / "Dockerfile").read_text(encoding="utf-8")
    sync = next(line for line in text.splitlines() if "uv pip sync" in line)
    assert "--require-hashes" in sync and "--compile-bytecode" in sync and sync.endswith("requirements.lock")
    assert re.search(r"^ARG BASE_IMAGE=\S+\nFROM \$\{BASE_IMAGE\}", text, re.MULTILINE)  # one argument: the base
    users = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*CMD", text, re.MULTILINE)
    assert not re.search(r"^(ENV|ARG)\b.*(PASSWORD|SECRET|FERNET|TOKEN)", text, re.MULTILINE | re.IGNORECASE)
    for source in re.findall(r"^COPY (\S+)", text, re.MULTILINE):
        assert (REPO / source).exists(), f"the Dockerfile copies {source}, which does not exist"
    for script in ("entrypoint.sh", "healthcheck.sh", "postgres/init-databases.sh", "postgres/entrypoint.sh",
                   "redis/redis-start.sh", "build.sh", "base/build-base.sh", "engine/engine.sh"):
        assert os.access(DOCKER / script, os.X_OK), script


def test_the_entrypoint_reads_secret_files(tmp_path: Path) -> None:
    secret = tmp_path / "land_password"
    secret.write_text("s3cr3t value", encoding="utf-8")
    env = {"PATH": os.environ["PATH"], "LAND_SIM_PASSWORD_FILE": str(secret)}
    out = subprocess.run([str(DOCKER / "entrypoint.sh"), "env"], env=env, capture_output=True, text=True,
                         timeout=30, check=True).stdout
    assert "LAND_SIM_PASSWORD=s3cr3t value" in out.splitlines() and "LAND_SIM_PASSWORD_FILE" not in out
    env["TAX_SIM_CLIENT_SECRET_FILE"] = str(tmp_path / "missing")
    proc = subprocess.run([str(DOCKER / "entrypoint.sh"), "env"], env=env, capture_output=True, text=True,
                          timeout=30, check=False)
    assert proc.returncode == 78 and "TAX_SIM_CLIENT_SECRET_FILE" in proc.stderr and "s3cr3t" not in proc.stderr


def _compose_clients() -> list[list[str]]:
    """The compose clients installed: Debian's docker-compose 1.29 and the docker client's compose plugin."""
    clients = []
    if shutil.which("docker-compose"):
        clients.append(["docker-compose"])
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30,
                                 check=False).returncode == 0:
        clients.append([docker, "compose"])
    return clients


def test_docker_compose_config_validates(compose: dict[str, Any], tmp_path: Path) -> None:
    clients = _compose_clients()
    if not clients:
        pytest.skip("no compose client installed: `docker compose config` cannot run here (the parsing tests "
                    "above still do)")
    copy = tmp_path / "docker"
    shutil.copytree(DOCKER, copy)
    for spec in compose["secrets"].values():  # placeholders: compose checks the files exist
        (copy / spec["file"]).write_text("placeholder", encoding="utf-8")
    host = ["--env-file", str(copy / "host.env"), "-f", str(copy / "compose.yaml"),
            "-f", str(copy / "compose.host.yaml")]
    for client in clients:
        for files in (["-f", str(copy / "compose.yaml")], host):
            for profile in ([], ["--profile", "demo"]):
                proc = subprocess.run([*client, *files, *profile, "config", "--quiet"],
                                      capture_output=True, text=True, timeout=60, check=False)
                assert proc.returncode == 0, (client, files, profile, proc.stderr)


def test_the_host_network_override_covers_every_service_on_ports_of_its_own(compose: dict[str, Any]) -> None:
    host = yaml.safe_load((DOCKER / "compose.host.yaml").read_text(encoding="utf-8"))
    assert set(host["services"]) == set(services(compose))
    assert all(s == {"network_mode": "host"} for s in host["services"].values())
    assert not any("ports" in s or "hostname" in s for s in services(compose).values())  # both clash with host mode
    pairs = [line.split("=", 1) for line in (DOCKER / "host.env").read_text(encoding="utf-8").splitlines()
             if line and not line.startswith("#")]
    env = dict(pairs)
    ports = [int(v) for k, v in env.items() if k.endswith("_PORT")]
    assert len(ports) == len(set(ports)) >= 11
    low, high = (int(p) for p in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()) \
        if Path("/proc/sys/net/ipv4/ip_local_port_range").exists() else (32768, 60999)
    for port in ports:  # clear of the machine's own services and of the ports tests pick at random
        assert port not in (5432, 6379, 5672, 8080, 8300) and not low <= port <= high, port
    assert env["LISTEN_HOST"] == env["POSTGRES_LISTEN"] == env["REDIS_BIND"] == "127.0.0.1"
    for agency in ("land", "business", "construction", "tax"):
        assert f"127.0.0.1:{env[f'SIM_{agency.upper()}_PORT']}" in env[f"LIENTHONG_AGENCY_{agency.upper()}_URL"]
