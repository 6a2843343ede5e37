"""Shared fixtures and the rules every test runs under.

- Every test carries one of the markers unit, integration, e2e: collection fails otherwise.
- A connection to anything but loopback fails the test (sockets to the outside are blocked).
- `pg_database(server)`: THE way a test gets a PostgreSQL database: a fresh one on `server` (default the
  shared 127.0.0.1:5432), dropped afterwards with the engine handed out for it. The fixtures below, the
  pipeline's `empty_pg`, the API's published data, the fault tests' own cluster and the e2e helpers use it.
- `pg_url`: a fresh PostgreSQL database for the session, the server started when it is down.
  `sqlite_url`: a fresh SQLite file. `db_url`: both, in turn.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

LEVELS = ("unit", "integration", "e2e")
PG_HOST, PG_PORT = "127.0.0.1", 5432
PG_ADMIN = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/postgres"


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # With `-n 2 --dist loadgroup` (make test), the e2e tests run one after another on one worker: they
    # start Airflow, Celery workers and fixed-port servers, and two at once would starve each other.
    for item in items:
        if item.get_closest_marker("e2e"):
            item.add_marker(pytest.mark.xdist_group("e2e"))
    unmarked = [item.nodeid for item in items if not any(item.get_closest_marker(m) for m in LEVELS)]
    if unmarked:
        raise pytest.UsageError(
            "every test needs one of the markers " + ", ".join(LEVELS) + "; unmarked:\n  " + "\n  ".join(unmarked)
        )


# --- no sockets to the outside ------------------------------------------------------------------

def _is_loopback(address: Any) -> bool:
    if isinstance(address, (str, bytes)):
        return True  # a Unix socket path
    if not isinstance(address, tuple):
        return False
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class OutsideNetworkError(RuntimeError):
    """A test tried to reach a non-loopback address."""


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _guarded_connect(self: socket.socket, address: Any) -> None:
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
        raise OutsideNetworkError(f"test tried to connect to {address!r}: only loopback is allowed")
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
        raise OutsideNetworkError(f"test tried to connect to {address!r}: only loopback is allowed")
    return _real_connect_ex(self, address)


TEST_KEYS = {"AUDIT": "t1=" + "a1" * 32, "SUBJECT": "s1=" + "5b" * 32, "SIGNING": "w1=" + "c3" * 32}


def pytest_configure(config: pytest.Config) -> None:
    """Key rings from the environment and audit checkpoints in a folder of the run's own, never ./var:
    set for the whole session, so session- and module-scoped servers (and their subprocesses) see them."""
    for name, ring in TEST_KEYS.items():
        os.environ.setdefault(f"LIENTHONG_{name}_KEYS", ring)
    if "LIENTHONG_AUDIT_CHECKPOINTS" not in os.environ:
        folder = tempfile.mkdtemp(prefix="lienthong-checkpoints-")
        os.environ["LIENTHONG_AUDIT_CHECKPOINTS"] = folder
        config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))


@pytest.fixture(autouse=True)
def _block_outside_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)


# --- ports --------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def port() -> int:
    return free_port()


# --- PostgreSQL ---------------------------------------------------------------------------------

def _pg_up() -> bool:
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=1):
            return True
    except OSError:
        return False


def ensure_postgres() -> None:
    """Start the local PostgreSQL cluster when it is down (as the machine's env notes say)."""
    if _pg_up():
        return
    versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    if not versions or shutil.which("pg_ctlcluster") is None:
        pytest.fail("PostgreSQL is down on 127.0.0.1:5432 and no local cluster to start")
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"],
        check=False, capture_output=True, timeout=60,
    )
    for _ in range(60):
        if _pg_up():
            return
        time.sleep(0.5)
    pytest.fail("PostgreSQL did not come up on 127.0.0.1:5432")


@contextmanager
def pg_database(server: str = PG_ADMIN, prefix: str = "lienthong_test") -> Iterator[str]:
    """A fresh database on `server` (an admin URL; the server must be up), its URL; dropped afterwards,
    connections and all, after disposing of the engine `core.engine` handed out for it."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type,unused-ignore]  # a prefix and a uuid
    url = f"{server.rsplit('/', 1)[0]}/{name}"
    try:
        yield url
    finally:
        from core.engine import engine_for

        engine_for(url).dispose()  # the pool's connections, before the database goes
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type,unused-ignore]


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The admin URL of a running server (started when down)."""
    ensure_postgres()
    return PG_ADMIN


@pytest.fixture(scope="session")
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh database for this test session, dropped afterwards."""
    with pg_database(pg_server) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'lienthong.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database on each backend in turn."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'lienthong.db'}"
        return
    with pg_database(request.getfixturevalue("pg_server")) as url:
        yield url
