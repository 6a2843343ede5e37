"""`make up`: the simulators, `airflow standalone` and (when it exists) the lookup API, until Ctrl-C.

Everything lives under ./var: Airflow's home and SQLite metadata in var/airflow, lienthong's database
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

import click
import httpx

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
def main(records: int, sim_port: int, airflow_port: int, api_port: int) -> None:
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

    with ExitStack() as stack:
        click.echo(f"starting the four agency simulators ({records:,} records each; log {logs / 'agencies.log'})")
        sims = _start(stack, [str(BIN / "lienthong"), "agencies", "serve", "all", "--port", str(sim_port),
                              "--records", str(records)], None, logs / "agencies.log")
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
                                        str(api_port)], None, logs / "lookup.log"))
            api_url = f"http://127.0.0.1:{api_port}" + (
                "  (example keys lt_example_<client>, see the policy file)" if policy == str(EXAMPLE_POLICY) else "")
        if not _wait_http(f"http://127.0.0.1:{airflow_port}/api/v2/monitor/health", 240, procs):
            raise click.ClickException(f"something did not start; see the logs in {logs}")
        passwords = home / "simple_auth_manager_passwords.json.generated"
        try:
            users = ", ".join(json.loads(passwords.read_text()))
        except (OSError, ValueError):
            users = "admin"
        click.echo("")
        click.echo(f"Airflow UI        http://127.0.0.1:{airflow_port}  (users: {users}; passwords in {passwords})")
        for agency, url in endpoints.items():
            click.echo(f"{agency:<17} {url}")
        click.echo(f"lookup API        {api_url or 'not built yet (sharing.api)'}")
        click.echo(f"database          {settings.database_url_masked}\nsnapshots         {settings.data_dir}")
        click.echo("\nCtrl-C (or SIGTERM) stops everything.")
        signal.signal(signal.SIGTERM, _interrupt)
        signal.signal(signal.SIGINT, _interrupt)  # also when started in the background, where SIGINT is ignored
        try:
            while all(p.poll() is None for p in procs):
                time.sleep(2)
            click.echo(f"a process exited; see the logs in {logs}", err=True)
        except KeyboardInterrupt:
            click.echo("stopping ...")


if __name__ == "__main__":
    main()
