"""`lienthong doctor`: is everything lienthong needs there and reachable?

Required: the database (reachable) and the data dir (writable); each configured agency endpoint
(reachable). Airflow's home and version are reported, never imported: `doctor` must stay fast.
Passwords never appear in what it prints.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit

import click

from core.settings import Settings, load_settings, mask_url

_TIMEOUT_S = 3.0


@dataclass(slots=True)
class Check:
    name: str
    ok: bool
    required: bool
    detail: str
    target: str = ""


def check_database(url: str) -> Check:
    """Connect and ask the server's version; any failure is reported, never raised."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import SQLAlchemyError

    masked = mask_url(url)
    connect_args: dict[str, object] = {}
    if url.startswith("postgresql"):
        connect_args["connect_timeout"] = int(_TIMEOUT_S)
    elif url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args=connect_args)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                version = "SQLite " + str(conn.execute(text("select sqlite_version()")).scalar_one())
            else:
                version = str(conn.execute(text("select version()")).scalar_one()).split(" on ")[0]
        return Check("database", True, True, version, masked)
    except SQLAlchemyError as exc:
        # The driver's message can quote the URL: mask it, and keep the first line only.
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        parts = urlsplit(url)
        if parts.password:
            reason = reason.replace(parts.password, "***")
        return Check("database", False, True, f"unreachable: {reason}", masked)
    finally:
        engine.dispose()


def check_data_dir(path: Path) -> Check:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".doctor-probe"
        probe.write_bytes(b"ok")
        probe.unlink()
        return Check("data_dir", True, True, "writable", str(path))
    except OSError as exc:
        return Check("data_dir", False, True, f"not writable: {exc.strerror or exc}", str(path))


def check_airflow(home: Path) -> Check:
    try:
        version = metadata.version("apache-airflow")
    except metadata.PackageNotFoundError:
        return Check("airflow", False, False, "apache-airflow is not installed", str(home))
    state = "exists" if home.is_dir() else "not created yet (make demo or make up creates it)"
    return Check("airflow", True, False, f"Airflow {version}; AIRFLOW_HOME {state}", str(home))


def check_endpoint(agency: str, url: str) -> Check:
    """A TCP connect to the endpoint's host and port: reachability, not authentication."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=_TIMEOUT_S):
            return Check(f"agency:{agency}", True, True, "reachable", mask_url(url))
    except OSError as exc:
        return Check(f"agency:{agency}", False, True, f"unreachable: {exc.strerror or exc}", mask_url(url))


def check_sources(environ: dict[str, str] | None = None) -> list[Check]:
    """Every declared source (connectors/sources/*.yaml and the registries LIENTHONG_REGISTRY adds) with
    the endpoint a sync would call.

    An endpoint set by LIENTHONG_AGENCY_<NAME>_URL is required to answer; a source file's own endpoint
    (the loopback simulators of `make up` by default) is reported, a warning when it does not answer.
    """
    from connectors.config import load_source, source_files
    from core.errors import LienthongError

    env = dict(os.environ if environ is None else environ)
    checks = []
    try:
        files = source_files(env)
    except LienthongError as exc:
        return [Check("sources", False, True, str(exc), "")]
    for path in files.values():
        variable = f"LIENTHONG_AGENCY_{path.stem.upper()}_URL"
        try:
            source = load_source(path, environ=env)
        except LienthongError as exc:
            checks.append(Check(f"agency:{path.stem}", False, True, f"source file invalid: {exc}", str(path.name)))
            continue
        check = check_endpoint(source.name, source.endpoint)
        check.required = bool(env.get(variable))
        origin = variable if check.required else f"{path.name}; {variable} overrides"
        check.detail = f"{source.protocol}, {check.detail} ({origin})"
        checks.append(check)
    return checks


def run_checks(settings: Settings) -> list[Check]:
    checks = [
        check_database(settings.database_url),
        check_data_dir(settings.data_dir),
        check_airflow(settings.airflow_home),
    ]
    return checks + check_sources()


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def doctor(as_json: bool) -> None:
    """Check the database, data dir, Airflow and every declared source's endpoint.

    Exits 1 when a required part is unreachable, 2 when the settings themselves are wrong.
    """
    settings = load_settings()  # malformed settings: one line, exit 2 (lienthong.cli)
    checks = run_checks(settings)
    failed = [c for c in checks if c.required and not c.ok]
    if as_json:
        click.echo(json.dumps({"ok": not failed, "checks": [asdict(c) for c in checks]}, indent=2))
    else:
        _print_table(checks)
    raise SystemExit(1 if failed else 0)


def _print_table(checks: list[Check]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="lienthong doctor")
    for column in ("check", "status", "target", "detail"):
        table.add_column(column, overflow="fold")
    for c in checks:
        status = "[green]ok[/]" if c.ok else ("[red]FAIL[/]" if c.required else "[yellow]warn[/]")
        table.add_row(c.name, status, c.target, c.detail)
    # the terminal's width; piped, wide enough that URLs stay on one line
    Console(width=None if sys.stdout.isatty() else max(140, int(os.environ.get("COLUMNS", "0") or 0))).print(table)
