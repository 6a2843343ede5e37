"""docker/compose.yaml on a real engine, for tests/docker/test_containers.py: the engine (docker/engine/engine.sh),
the images (docker/build.sh), secrets written as files, compose with the host-network override, health waits.

Everything runs through the same commands an operator uses (docs/operations.md shows them); the test adds
only a small override of its own: the secret files' places, the simulators' data on a host folder (so the
test can read their ground truth), shorter health-check intervals and a 30 s task heartbeat timeout.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKER_DIR = REPO / "docker"
ENGINE = DOCKER_DIR / "engine" / "engine.sh"
ENGINE_ROOT = Path(os.environ.get("LIENTHONG_ENGINE_ROOT", "/var/cache/lienthong/engine"))
DOCKER_HOST = f"unix://{ENGINE_ROOT}/run/docker.sock"
HOST_ENV = DOCKER_DIR / "host.env"
# one deployment per machine at a time: the host-network ports are fixed (docker/host.env)
LOCK = Path("/var/cache/lienthong/containers.lock")
_T = TypeVar("_T")


def host_env() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in HOST_ENV.read_text(encoding="utf-8").splitlines()
             if line and not line.startswith("#") and "=" in line)
    return {k: v for k, v in pairs}


def engine_unavailable() -> str | None:
    """Why no engine can run on this machine, or None."""
    if shutil.which("docker") is None or shutil.which("docker-compose") is None:
        return "the docker client or docker-compose is not installed (apt-get install docker.io docker-compose)"
    proc = subprocess.run([str(ENGINE), "check"], capture_output=True, text=True, timeout=30, check=False)
    return None if proc.returncode == 0 else "the container engine cannot run here: " + proc.stdout.strip()


def docker_env() -> dict[str, str]:
    env = dict(os.environ)
    env["DOCKER_HOST"] = DOCKER_HOST
    env["COMPOSE_HTTP_TIMEOUT"] = "300"
    return env


def run(args: list[str], *, timeout: float = 600, check: bool = True, env: Mapping[str, str] | None = None,
        input_text: str | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, env=dict(env or docker_env()), capture_output=True, text=True, timeout=timeout,
                          check=False, input=input_text)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args[:6])} ... exit {proc.returncode}\n{proc.stdout[-3000:]}\n"
                             f"{proc.stderr[-3000:]}")
    return proc


@contextmanager
def machine_lock() -> Iterator[None]:
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with LOCK.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


@contextmanager
def engine() -> Iterator[bool]:
    """The engine, started when it is not answering and then stopped at the end; yields whether we started it."""
    already = subprocess.run([str(ENGINE), "status"], capture_output=True, timeout=30, check=False).returncode == 0
    if not already:
        run([str(ENGINE), "start"], timeout=120)
    try:
        yield not already
    finally:
        if not already:
            run([str(ENGINE), "stop"], timeout=120, check=False)


def wait_for(what: str, check: Callable[[], _T | None], timeout: float, every: float = 2.0,
             on_timeout: Callable[[], str] | None = None) -> _T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}\n{on_timeout() if on_timeout else ''}")


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass
class Secrets:
    """Every secret file compose.yaml declares, with fresh random values, under a folder only root reads."""

    folder: Path
    ports: Mapping[str, str]
    values: dict[str, str] = field(default_factory=dict)
    api_keys: dict[str, str] = field(default_factory=dict)

    def write(self) -> dict[str, Path]:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        pw = {name: secrets.token_hex(16) for name in (
            "postgres_password", "airflow_db_password", "lienthong_db_password", "lienthong_api_db_password",
            "redis_password", "land_password", "construction_api_key", "tax_client_secret",
            "airflow_jwt_secret", "airflow_api_secret_key", "lienthong_api_cursor_secret", "airflow_admin")}
        pw["airflow_fernet_key"] = _fernet_key()
        pg, redis = f"127.0.0.1:{self.ports['POSTGRES_PORT']}", f"127.0.0.1:{self.ports['REDIS_PORT']}"
        files: dict[str, str] = {
            **{k: v for k, v in pw.items() if k != "airflow_admin"},
            "airflow_metadata_url": f"postgresql+psycopg://airflow:{pw['airflow_db_password']}@{pg}/airflow",
            "celery_broker_url": f"redis://:{pw['redis_password']}@{redis}/0",
            "celery_result_backend": f"db+postgresql+psycopg://airflow:{pw['airflow_db_password']}@{pg}/airflow",
            "lienthong_database_url": f"postgresql://lienthong:{pw['lienthong_db_password']}@{pg}/lienthong",
            "lienthong_api_database_url": f"postgresql://lienthong_api:{pw['lienthong_api_db_password']}@{pg}/lienthong",
            "airflow_passwords.json": json.dumps({"admin": pw["airflow_admin"]}),
        }
        for ring in ("audit", "signing", "subject"):  # core/keys.py's rings: `id=hex` a line
            pw[f"{ring}_key"] = secrets.token_hex(32)
            files[f"lienthong_{ring}_keys"] = f"k1={pw[ring + '_key']}\n"
        self.api_keys = {client: "lt_" + secrets.token_urlsafe(24) for client in ("tax_office", "land_office")}
        files["lienthong_api_policy.yaml"] = _policy(self.api_keys)
        self.values = {**pw, **{f"api_key_{k}": v for k, v in self.api_keys.items()}}
        paths = {}
        for name, content in files.items():
            path = self.folder / name
            path.write_text(content, encoding="utf-8")
            path.chmod(0o444)  # bind-mounted as is: the containers' own users (uid 50000, postgres) read it
            paths[name] = path
        return paths

    def url(self, name: str) -> str:
        return (self.folder / name).read_text(encoding="utf-8")


def _fernet_key() -> str:
    import base64

    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def _policy(keys: Mapping[str, str]) -> str:
    digest = {k: hashlib.sha256(v.encode()).hexdigest() for k, v in keys.items()}
    return yaml.safe_dump({"clients": {
        "tax_office": {"agency": "tax", "key_sha256": digest["tax_office"], "rate": {"per_second": 100, "burst": 200},
                       "grants": [{"dataset": "enterprises", "columns": "*", "clear": ["personal"],
                                   "purposes": ["tax_assessment"]},
                                  {"dataset": "taxpayers", "columns": "*", "purposes": ["tax_assessment"]}]},
        "land_office": {"agency": "land", "key_sha256": digest["land_office"], "rate": {"per_second": 50, "burst": 100},
                        "grants": [{"dataset": "parcels", "columns": "*", "purposes": ["land_registration"]}]},
    }})


class Compose:
    """`docker-compose -p <project> --env-file docker/host.env -f compose.yaml -f compose.host.yaml -f <test's>`."""

    def __init__(self, project: str, override: Path, env: Mapping[str, str]) -> None:
        self.project, self.override, self.env = project, override, dict(env)
        self.base = ["docker-compose", "-p", project, "--env-file", str(HOST_ENV),
                     "-f", str(DOCKER_DIR / "compose.yaml"), "-f", str(DOCKER_DIR / "compose.host.yaml"),
                     "-f", str(override), "--profile", "demo"]

    def __call__(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run([*self.base, *args], timeout=timeout, check=check, env=self.env)

    def container(self, service: str) -> str:
        ids = self("ps", "-q", "--all", service).stdout.split()
        assert len(ids) == 1, f"{service}: containers {ids}"
        return ids[0]

    def containers(self) -> dict[str, str]:
        out = run(["docker", "ps", "--all", "--filter", f"label=com.docker.compose.project={self.project}",
                   "--format", '{{.ID}} {{.Label "com.docker.compose.service"}}'], env=self.env).stdout
        return {svc: cid for cid, svc in (line.split() for line in out.splitlines() if line.strip())}

    def inspect(self, cid: str) -> dict[str, Any]:
        return json.loads(run(["docker", "inspect", cid], env=self.env).stdout)[0]  # type: ignore[no-any-return]

    def health(self) -> dict[str, str]:
        """Each service's state: the health status, or `exited(<code>)` for a one-shot."""
        states = {}
        for svc, cid in self.containers().items():
            state = self.inspect(cid)["State"]
            if state["Status"] == "exited":
                states[svc] = f"exited({state['ExitCode']})"
            else:
                states[svc] = (state.get("Health") or {}).get("Status", state["Status"])
        return states

    def logs(self, service: str | None = None, tail: int = 60) -> str:
        return self("logs", "--no-color", "--tail", str(tail), *([service] if service else []),
                    check=False, timeout=120).stdout


def write_override(path: Path, secret_files: Mapping[str, Path], sims_dir: Path) -> None:
    """The test's own compose override: where the secret files are, the simulators' folder, shorter checks."""
    declared = yaml.safe_load((DOCKER_DIR / "compose.yaml").read_text(encoding="utf-8"))
    services: dict[str, Any] = {}
    for name, svc in declared["services"].items():
        check = svc.get("healthcheck") or {}
        if check.get("disable"):
            continue
        # checks every 10 s rather than 30 s: the topology is up minutes sooner (each role waits on another's)
        services[name] = {"healthcheck": {"interval": "10s", "start_period": "240s", "retries": 12}}
    for agency in ("land", "business", "construction", "tax"):
        services[f"sim-{agency}"]["volumes"] = [f"{sims_dir}:/data/agencies"]
    # every call to the tax simulator can be made slow (its admin endpoint), by 5 s: the kill test
    tax = declared["services"]["sim-tax"]["command"]
    services["sim-tax"]["command"] = [*tax, "--slow-seconds", "5"]
    override = {
        "services": services,
        "secrets": {name: {"file": str(secret_files[spec["file"].removeprefix("./secrets/")])}
                    for name, spec in declared["secrets"].items()},
    }
    path.write_text(yaml.safe_dump(override, sort_keys=False), encoding="utf-8")


def image_layers_contain(image: str, needles: Mapping[str, str], workdir: Path, env: Mapping[str, str]) -> list[str]:
    """The names of the needles found anywhere in the image's saved layers (a tar of tars)."""
    import tarfile

    archive = workdir / (image.replace("/", "_").replace(":", "_") + ".tar")
    run(["docker", "save", "-o", str(archive), image], env=env, timeout=600)
    found: set[str] = set()
    encoded = {name: value.encode() for name, value in needles.items()}
    try:
        with tarfile.open(archive) as outer:
            for member in outer:
                if not member.isfile():
                    continue
                fh = outer.extractfile(member)
                assert fh is not None
                if member.name.endswith(".tar"):
                    with tarfile.open(fileobj=fh) as layer:
                        for entry in layer:
                            if entry.isfile() and entry.size:
                                blob = layer.extractfile(entry)
                                assert blob is not None
                                data = blob.read()
                                found |= {n for n, v in encoded.items() if v in data}
                else:
                    data = fh.read()
                    found |= {n for n, v in encoded.items() if v in data}
    finally:
        archive.unlink(missing_ok=True)
    return sorted(found)
