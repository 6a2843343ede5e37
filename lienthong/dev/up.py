"""`make up`: the simulators, `airflow standalone` and the lookup API with the dashboard, until Ctrl-C.

The simulators listen where the source files point (8801-8804), so a plain `lienthong sync tax` in a
second shell reads the same simulators into the same database. A first dashboard operator, `operator`,
is created with a generated password written to `var/ops-passwords.generated` (as Airflow's simple auth
manager writes `simple_auth_manager_passwords.json.generated`); `LIENTHONG_OPS_OPERATORS` set by you
wins. Everything lives under ./var: Airflow's home and SQLite metadata in var/airflow, lienthong's database
and snapshots where the settings say (default var/lienthong.db, var/data). The four agencies are
declared to Airflow as connections `lienthong_<agency>` (environment variables), the pools are
created before Airflow starts, and the sync DAGs start unpaused on their hourly schedule.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import click
import httpx

if TYPE_CHECKING:
    from core.settings import Settings

BIN = Path(sys.executable).parent
EXAMPLE_POLICY = Path(__file__).resolve().parents[2] / "sharing" / "api" / "policy.example.yaml"
SIM_PATHS = {"land": "/ws/land", "business": "/ws/business", "construction": "", "tax": ""}


def _start(stack: ExitStack, args: list[str], env: dict[str, str] | None, log: Path) -> subprocess.Popen[bytes]:
    out = stack.enter_context(log.open("ab"))
    # its own process group: `airflow standalone` leaves its scheduler and api-server behind on SIGTERM
    proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT,  # noqa: S603 - our own commands
                            start_new_session=True)
    stack.callback(_stop, proc)
    return proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the process and everything it started (its process group)."""
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            time.sleep(1)  # let the group's other members go too
        except subprocess.TimeoutExpired:
            continue
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


FIRST_OPERATOR = "operator"


def first_operator(var: Path) -> tuple[Path, Path]:
    """(operators file, password file) of the first operator, generated once and kept across restarts."""
    import secrets

    import yaml

    from core.errors import LienthongError
    from sharing.ops.auth import check_password, hash_password, load_operators

    operators, passwords = var / "ops-operators.yaml", var / "ops-passwords.generated"
    try:
        name, password = passwords.read_text(encoding="utf-8").split("\n", 1)[0].split(":", 1)
        if check_password(password.strip(), load_operators(operators)[name.strip()]):
            return operators, passwords
    except (OSError, ValueError, KeyError, LienthongError):  # missing or unusable: make a new one
        pass
    password = secrets.token_urlsafe(12)
    var.mkdir(parents=True, exist_ok=True)
    document = {"operators": {FIRST_OPERATOR: {"password_hash": hash_password(password)}}}
    operators.write_text("# written by `make up` (lienthong/dev/up.py); see docs/ops.md\n"
                         + yaml.safe_dump(document), encoding="utf-8")
    passwords.touch(mode=0o600)
    passwords.write_text(f"{FIRST_OPERATOR}: {password}\n", encoding="utf-8")
    return operators, passwords


def second_shell(settings: Settings, endpoints: dict[str, str]) -> list[str]:
    """The exports a second shell needs to reach the same simulators, database and snapshots."""
    lines = [f"export LIENTHONG_DATABASE_URL={settings.database_url_masked}",
             f"export LIENTHONG_DATA_DIR={settings.data_dir}",
             f"export AIRFLOW_HOME={settings.airflow_home}"]
    lines += [f"export LIENTHONG_AGENCY_{agency.upper()}_URL={url}" for agency, url in endpoints.items()]
    return lines


def _wait_http(url: str, timeout: float, procs: list[subprocess.Popen[bytes]]) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            return False
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(1)
    return False


@click.command()
@click.option("--records", type=int, default=2000, show_default=True, help="Records per agency simulator.")
@click.option("--sim-port", type=int, default=8801, show_default=True, help="First of the simulators' four ports.")
@click.option("--airflow-port", type=int, default=8080, show_default=True)
@click.option("--api-port", type=int, default=8300, show_default=True, help="The lookup API's port.")
@click.option("--corrupt", type=click.FloatRange(0, 0.5), default=0.02, show_default=True,
              help="Share of the simulators' records served with invalid values (as `make demo`), for the quarantine.")
def main(records: int, sim_port: int, airflow_port: int, api_port: int, corrupt: float) -> None:
    """Start everything, print where it is, and wait for Ctrl-C."""
    from core.settings import load_settings
    from lienthong.airflow.setup import airflow_environ

    settings = load_settings()
    home = settings.airflow_home
    home.mkdir(parents=True, exist_ok=True)
    logs = home / "up-logs"
    logs.mkdir(exist_ok=True)
    endpoints = {a: f"http://127.0.0.1:{sim_port + i}{path}" for i, (a, path) in enumerate(SIM_PATHS.items())}
    env = airflow_environ(home, database_url=settings.database_url, data_dir=settings.data_dir, endpoints=endpoints)
    env["AIRFLOW__API__PORT"] = str(airflow_port)
    env["AIRFLOW__API__BASE_URL"] = f"http://127.0.0.1:{airflow_port}"
    env.setdefault("AIRFLOW__CORE__PARALLELISM", "4")  # Airflow's 32 local workers would swamp a laptop
    env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = f"http://127.0.0.1:{airflow_port}/execution/"

    ops_url = f"http://127.0.0.1:{api_port}/ops"
    env["LIENTHONG_OPS_URL"] = ops_url  # the Airflow plugin's menu link and DAG-run links
    operators = os.environ.get("LIENTHONG_OPS_OPERATORS")
    password_file = None
    if not operators:
        operators_path, password_file = first_operator(Path("var"))
        operators = str(operators_path.resolve())
    api_env = {**os.environ, "LIENTHONG_OPS_OPERATORS": operators,
               "LIENTHONG_AIRFLOW_URL": f"http://127.0.0.1:{airflow_port}",
               **{f"LIENTHONG_AGENCY_{a.upper()}_URL": u for a, u in endpoints.items()}}

    # SIGTERM from the start, so a stop while starting still stops what was started (each in its session)
    signal.signal(signal.SIGTERM, _interrupt)
    with ExitStack() as stack:
        click.echo(f"starting the four agency simulators ({records:,} records each, {corrupt:.0%} served with invalid "
                   f"values; log {logs / 'agencies.log'})")
        faults = ["--fault", f"invalid_values={corrupt}"] if corrupt else []
        sims = _start(stack, [str(BIN / "lienthong"), "agencies", "serve", "all", "--port", str(sim_port),
                              "--records", str(records), *faults], None, logs / "agencies.log")
        click.echo("preparing Airflow (metadata DB on SQLite, pools) ...")
        subprocess.run([sys.executable, "-c", "from lienthong.airflow.setup import prepare; prepare()"],
                       env=env, check=True, capture_output=True)
        click.echo(f"starting airflow standalone (log {logs / 'airflow.log'})")
        airflow = _start(stack, [str(BIN / "airflow"), "standalone"], env, logs / "airflow.log")
        procs = [sims, airflow]
        api_url = None
        if importlib.util.find_spec("sharing.api") is not None:
            # the operator's policy, else the example one (its documented keys: lt_example_<client>)
            policy = os.environ.get("LIENTHONG_API_POLICY") or str(EXAMPLE_POLICY)
            click.echo(f"starting the lookup API (policy {policy}; log {logs / 'lookup.log'})")
            procs.append(_start(stack, [str(BIN / "lienthong"), "serve", "--policy", policy, "--port",
                                        str(api_port)], api_env, logs / "lookup.log"))
            api_url = f"http://127.0.0.1:{api_port}" + (
                "  (example keys lt_example_<client>, see the policy file)" if policy == str(EXAMPLE_POLICY) else "")
        if not _wait_http(f"http://127.0.0.1:{airflow_port}/api/v2/monitor/health", 240, procs):
            raise click.ClickException(f"something did not start; see the logs in {logs}")
        passwords = home / "simple_auth_manager_passwords.json.generated"
        try:
            users = ", ".join(json.loads(passwords.read_text()))
        except (OSError, ValueError):
            users = "admin"
        if api_url:
            _wait_http(f"http://127.0.0.1:{api_port}/ops/login", 60, procs)
        login = (f"user {FIRST_OPERATOR}, password in {password_file.resolve()}" if password_file
                 else f"operators from LIENTHONG_OPS_OPERATORS={operators}")
        rows = [
            ("Airflow UI", f"http://127.0.0.1:{airflow_port}", f"users {users}; passwords in {passwords}"),
            ("lookup API", api_url or "not built (sharing.api)", ""),
            ("API docs", f"http://127.0.0.1:{api_port}/docs", "OpenAPI at /openapi.json"),
            ("dashboard", f"{ops_url}/", login),
            *((f"agency {agency}", url, "") for agency, url in endpoints.items()),
            ("database", settings.database_url_masked, ""),
            ("snapshots", str(settings.data_dir), ""),
            ("logs", str(logs), ""),
        ]
        click.echo("")
        for label, where, note in rows:
            click.echo(f"{label:<20} {where}" + (f"   ({note})" if note else ""))
        click.echo("\nIn a second shell, to reach the same simulators, database and snapshots:")
        for line in second_shell(settings, endpoints):
            click.echo(f"  {line}")
        click.echo("\nCtrl-C (or SIGTERM) stops everything.")
        signal.signal(signal.SIGINT, _interrupt)  # also when started in the background, where SIGINT is ignored
        try:
            while all(p.poll() is None for p in procs):
                time.sleep(2)
            click.echo(f"a process exited; see the logs in {logs}", err=True)
        except KeyboardInterrupt:
            click.echo("stopping ...")


if __name__ == "__main__":
    main()
