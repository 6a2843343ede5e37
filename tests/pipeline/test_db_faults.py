"""Database faults against a PostgreSQL cluster this module starts itself (initdb, pg_ctl, its own port):
restarted in the middle of a publish, and refusing clients because every slot is taken.

Never the shared server on 5432: this one is initdb'd into a temporary directory and stopped after.
"""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agencies.testing import running_simulator
from pipeline.sync import StreamSummary, sync_source
from sharing import db, snapshots
from sharing.publish import read_state
from tests.conftest import free_port, pg_database
from tests.pipeline.test_sync import published_keys, truth_keys

pytestmark = pytest.mark.integration

PG_BIN = Path("/usr/lib/postgresql/15/bin")
MAX_CONNECTIONS = 12


@dataclass
class Cluster:
    root: Path
    port: int
    as_user: list[str]

    def ctl(self, *args: str) -> None:
        subprocess.run([*self.as_user, str(PG_BIN / "pg_ctl"), "-D", str(self.root / "data"), "-l",
                        str(self.root / "log"), "-w", "-t", "60", *args], check=True, capture_output=True, timeout=90)

    def restart(self) -> None:
        self.ctl("-m", "fast", "restart")

    def url(self, name: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"no PostgreSQL binaries under {PG_BIN}")
    root = Path(tempfile.mkdtemp(prefix="lienthong-pg-", dir="/tmp"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser")
        owner = pwd.getpwnam("postgres")
        os.chown(root, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    subprocess.run([*as_user, str(PG_BIN / "initdb"), "-D", str(root / "data"), "-U", "postgres", "-A", "trust",
                    "-E", "UTF8", "--no-sync"], check=True, capture_output=True, timeout=120)
    node = Cluster(root, port, as_user)
    node.ctl("-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections={MAX_CONNECTIONS} "
             "-c superuser_reserved_connections=0 -c fsync=off", "start")
    try:
        yield node
    finally:
        subprocess.run([*as_user, str(PG_BIN / "pg_ctl"), "-D", str(root / "data"), "-m", "immediate", "stop"],
                       check=False, capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def url(cluster: Cluster) -> Iterator[str]:
    """A fresh database on the module's own cluster, dropped after the test."""
    with pg_database(cluster.url("postgres"), prefix="faults") as fresh:
        yield fresh


def _sync(url: str, data_dir: Path, env: dict[str, str]) -> StreamSummary:
    (summary,) = sync_source("construction", url=url, data_dir=data_dir, environ=env, streams=["permits"])
    return summary


def test_a_restart_in_the_middle_of_a_publish_is_a_named_error_and_the_next_run_is_exact(
        cluster: Cluster, url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sharing.staging

    data_dir = tmp_path / "data"
    with running_simulator("construction", records=600, seed=13, tmp_dir=tmp_path / "sim") as sim:
        env = {"LIENTHONG_AGENCY_CONSTRUCTION_URL": sim.url}
        assert _sync(url, data_dir, env).error is None
        for point in ("after_stage", "before_commit"):  # staged, not merged; merged, not committed
            before, state = published_keys(url, "permits", ("permit_no",)), read_state(url, "construction", "permits")
            version = snapshots.current_version(data_dir, "permits")
            sim.sim.store.advance(240)

            def restart_at(name: str, point: str = point) -> None:
                if name == point:
                    cluster.restart()

            monkeypatch.setattr(sharing.staging, "failpoint", restart_at)
            failed = _sync(url, data_dir, env)
            monkeypatch.undo()
            assert failed.error is not None and failed.published is None, failed.line()
            assert failed.error.startswith("[construction] stream permits: the database was unavailable"), failed.error
            assert "nothing of this run was committed" in failed.error
            # Nothing half-published; the same engine (its pool) works again without a restart of ours.
            assert published_keys(url, "permits", ("permit_no",)) == before
            assert read_state(url, "construction", "permits") == state
            assert snapshots.current_version(data_dir, "permits") == version
            after = _sync(url, data_dir, env)
            assert after.error is None and after.published is not None, after.line()
            assert published_keys(url, "permits", ("permit_no",)) == truth_keys(sim.sim, "permits")
            assert snapshots.read_version(data_dir, "permits").num_rows == len(truth_keys(sim.sim, "permits"))


def test_too_many_clients_is_waited_for_with_backoff_not_reported_as_a_data_problem(
        cluster: Cluster, url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import psycopg

    slots: list[psycopg.Connection[tuple[object, ...]]] = []
    while True:  # take every connection slot the server has
        try:
            slots.append(psycopg.connect(cluster.url("postgres"), connect_timeout=5))
        except psycopg.OperationalError as exc:
            assert "too many clients" in str(exc), exc
            break
        assert len(slots) <= MAX_CONNECTIONS

    def free_them_later() -> None:
        time.sleep(2.0)
        for conn in slots:
            conn.close()

    releaser = threading.Thread(target=free_them_later)
    with running_simulator("construction", records=300, seed=14, tmp_dir=tmp_path / "sim") as sim, \
            caplog.at_level(logging.WARNING, logger="core.dbfaults"):
        started = time.monotonic()
        releaser.start()
        summary = _sync(url, tmp_path / "data", {"LIENTHONG_AGENCY_CONSTRUCTION_URL": sim.url})
        releaser.join()
        assert summary.error is None and summary.published is not None, summary.line()
        assert time.monotonic() - started >= 2.0  # it waited for the slots, then published
        assert published_keys(url, "permits", ("permit_no",)) == truth_keys(sim.sim, "permits")
    refused = [r.getMessage() for r in caplog.records if "refused a connection" in r.getMessage()]
    assert refused and "too many clients" in refused[0], refused


def test_the_lookup_api_recovers_after_a_restart_without_its_own(cluster: Cluster, url: str, tmp_path: Path) -> None:
    import httpx
    import sqlalchemy as sa

    from sharing.api.app import create_app
    from sharing.api.ratelimit import RateLimiter
    from tests.sharing.api.conftest import CLOCK, headers, make_policy, running_api

    data_dir = tmp_path / "data"
    with running_simulator("construction", records=200, seed=15, tmp_dir=tmp_path / "sim") as sim:
        assert _sync(url, data_dir, {"LIENTHONG_AGENCY_CONSTRUCTION_URL": sim.url}).error is None
    with db.engine_for(url).connect() as conn:
        investor = conn.execute(sa.text("SELECT investor_id FROM ds_permits WHERE investor_id IS NOT NULL "
                                        "LIMIT 1")).scalar_one()
    app = create_app(url, make_policy(), data_dir, limiter=RateLimiter(clock=CLOCK))
    try:
        with running_api(app) as base, httpx.Client(base_url=base, timeout=30) as client:
            def ask() -> int:
                try:
                    reply = client.get("/v1/permits", params={"investor_id": investor},
                                       headers=headers("clear_all"))
                except httpx.TransportError:  # the server dropped the connection instead of answering
                    return 0
                return reply.status_code

            assert [ask() for _ in range(5)] == [200] * 5
            cluster.restart()
            statuses = [ask() for _ in range(12)]
    finally:
        app.state.lienthong.writer.close()
        app.state.lienthong.engine.dispose()
    # The same server process answers every request after the restart: the audit writer writes a batch
    # that met a dropped connection once more on a new one, and so is a read that met a dead pooled one
    # (measured before: [503, 0 (connection dropped), 200, ...]).
    assert statuses == [200] * 12, statuses
