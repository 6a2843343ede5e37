"""Settings: every environment variable lienthong reads, with its default, read once and validated.

| variable | default | meaning |
|---|---|---|
| `LIENTHONG_DATABASE_URL` | `sqlite:///./var/lienthong.db` | serving tables, sync state, quarantine, audit |
| `LIENTHONG_DATA_DIR` | `./var/data` | Parquet snapshots (a local path or a pyarrow.fs URL) |
| `AIRFLOW_HOME` | `./var/airflow` | Airflow's home (config, SQLite metadata, logs) |
| `LIENTHONG_AGENCY_<SOURCE>_URL` | (unset) | source `<source>`'s endpoint (any source file, `LAND`, `TAX`, ...) |
| `LIENTHONG_API_POLICY` | (unset; required) | the lookup API's client policy file (`lienthong serve`) |
| `LIENTHONG_API_SECRET` | random per process | signs the API's pagination cursors; set it for several workers |
| `LIENTHONG_COPY_CHUNK_ROWS` | 200000 | rows per COPY chunk when publishing |

The agency credentials (`LAND_SIM_PASSWORD`, ...) are named by each source file in `connectors/sources/`,
never stored in one.

Relative paths are resolved against the working directory when settings are read. Errors name the
variable and never print a password.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

from core.errors import SettingsError

_AGENCY_URL = re.compile(r"^LIENTHONG_AGENCY_([A-Z0-9_]+)_URL$")
_SUPPORTED_DIALECTS = ("sqlite", "postgresql")


def mask_url(url: str) -> str:
    """The URL with any password replaced by `***`, for logs and reports."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo = f"{parts.username}:***" if parts.username else ":***"
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return parts._replace(netloc=f"{userinfo}@{host}").geturl()


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str
    data_dir: Path
    airflow_home: Path
    agency_urls: Mapping[str, str] = field(default_factory=dict)

    @property
    def database_url_masked(self) -> str:
        return mask_url(self.database_url)


def check_database_url(url: str) -> str:
    """The URL, checked (a supported dialect, parseable) and with a relative SQLite path pinned."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is the check (ValueError when it is not a number)
    except ValueError as exc:
        raise SettingsError(f"LIENTHONG_DATABASE_URL is not a valid URL ({exc}); "
                            "expected e.g. postgresql://user@host:5432/db or sqlite:///var/lienthong.db") from None
    dialect = parts.scheme.split("+", 1)[0]
    if dialect not in _SUPPORTED_DIALECTS:
        raise SettingsError(
            f"LIENTHONG_DATABASE_URL={mask_url(url)!r}: unsupported database {dialect!r}; "
            f"use one of {', '.join(_SUPPORTED_DIALECTS)}"
        )
    if dialect == "sqlite" and url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        # Pin a relative SQLite path to the working directory now, so a later chdir cannot move it.
        relative = url.removeprefix("sqlite:///")
        if relative and relative != ":memory:":
            url = "sqlite:///" + str(Path(relative).resolve())
    return url


def _check_agency_url(name: str, url: str) -> str:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - ValueError when the port is not a number
    except ValueError:
        raise SettingsError(f"{name}: not a valid URL; expected http(s)://host[:port]/path") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(f"{name}={mask_url(url)!r}: expected an http(s) URL with a host")
    return url


def positive_int(name: str, default: int, environ: Mapping[str, str] | None = None) -> int:
    """An integer setting read now (tests and crash drills change it per process), checked: > 0."""
    env = os.environ if environ is None else environ
    text = env.get(name)
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise SettingsError(f"{name}={text[:40]!r}: expected a whole number of rows > 0") from None
    if value <= 0:
        raise SettingsError(f"{name}={value}: expected a whole number of rows > 0")
    return value


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate settings from `environ` (default: the process environment)."""
    env = os.environ if environ is None else environ
    agency_urls = {}
    for var in sorted(env):  # any source: the set of sources is whatever the source files declare
        match = _AGENCY_URL.match(var)
        if match and env[var]:
            agency_urls[match.group(1).lower()] = _check_agency_url(var, env[var])
    positive_int("LIENTHONG_COPY_CHUNK_ROWS", 1, env)  # malformed: fail at start, not in the middle of a publish
    return Settings(
        database_url=check_database_url(env.get("LIENTHONG_DATABASE_URL") or "sqlite:///var/lienthong.db"),
        data_dir=Path(env.get("LIENTHONG_DATA_DIR") or "var/data").resolve(),
        airflow_home=Path(env.get("AIRFLOW_HOME") or "var/airflow").resolve(),
        agency_urls=agency_urls,
    )


@cache
def get_settings() -> Settings:
    """The process's settings, read once."""
    return load_settings()


def ensure_sqlite_dir(url: str) -> None:
    """Create the directory of a SQLite file URL: on a fresh clone `var/` does not exist yet."""
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///").split("?", 1)[0]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
