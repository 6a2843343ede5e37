"""A simulator: one agency's store, faults and credentials, opened from (or generated into) its file."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agencies.base import SIMULATED_AGENCIES, AgencyName, Credentials
from agencies.faults import Protocol, SeededFaults
from agencies.store import SqliteStore
from agencies.world import World

SOAP_AGENCIES: tuple[AgencyName, ...] = ("land", "business")
DEFAULT_DATA_DIR = Path("var/agencies")


def credentials_from_env(environ: Mapping[str, str] | None = None, token_ttl: float | None = None) -> Credentials:
    """PROTOCOL.md's dev defaults, overridden by LAND_SIM_PASSWORD, CONSTRUCTION_SIM_API_KEY,
    TAX_SIM_CLIENT_SECRET, TREASURY_SIM_PASSWORD, DISTRICT_SIM_TOKEN and (comma-separated)
    BUSINESS_SIM_ALLOWED_CLIENTS."""
    env = os.environ if environ is None else environ
    creds = Credentials()
    if env.get("LAND_SIM_PASSWORD"):
        creds.land_password = env["LAND_SIM_PASSWORD"]
    if env.get("CONSTRUCTION_SIM_API_KEY"):
        creds.construction_api_keys = (env["CONSTRUCTION_SIM_API_KEY"],)
    if env.get("TAX_SIM_CLIENT_SECRET"):
        creds.tax_clients = {"lienthong": env["TAX_SIM_CLIENT_SECRET"]}
    if env.get("TREASURY_SIM_PASSWORD"):
        creds.treasury_users = {"lienthong": env["TREASURY_SIM_PASSWORD"]}
    if env.get("DISTRICT_SIM_TOKEN"):
        creds.district_tokens = (env["DISTRICT_SIM_TOKEN"],)
    if env.get("BUSINESS_SIM_ALLOWED_CLIENTS"):
        creds.business_allowed_clients = tuple(c.strip() for c in env["BUSINESS_SIM_ALLOWED_CLIENTS"].split(","))
    if token_ttl is not None:
        creds.tax_token_ttl = token_ttl
    return creds


def database_path(data_dir: Path, agency: AgencyName, seed: int, records: int) -> Path:
    return Path(data_dir) / f"{agency}-seed{seed}-n{records}.sqlite"


@dataclass
class AgencySimulator:
    """`agencies.base.Simulator`, plus what the admin endpoints and the CLI need."""

    agency: AgencyName
    store: SqliteStore
    faults: SeededFaults
    credentials: Credentials

    @property
    def protocol(self) -> str:
        return "soap" if self.agency in SOAP_AGENCIES else "rest"

    def advance(self, minutes: int) -> dict[str, Any]:
        return self.store.advance(minutes)


def open_simulator(
    agency: str,
    *,
    records: int = 1000,
    seed: int = 1,
    data_dir: Path = DEFAULT_DATA_DIR,
    faults: Mapping[str, float] | None = None,
    slow_seconds: float = 5.0,
    token_ttl: float | None = None,
    fresh: bool = False,
    environ: Mapping[str, str] | None = None,
) -> AgencySimulator:
    """Open the agency's SQLite file for (seed, records), generating it first when it is missing.

    An existing file keeps its clock and the changes applied to it; `fresh=True` starts over.
    """
    if agency not in SIMULATED_AGENCIES:
        raise ValueError(f"unknown agency {agency!r}; expected one of {', '.join(SIMULATED_AGENCIES)}")
    name: AgencyName = agency  # narrowed by the check above
    path = database_path(data_dir, name, seed, records)
    if fresh:
        path.unlink(missing_ok=True)
    store = SqliteStore(path) if path.exists() else SqliteStore.create(path, name, World(seed, records))
    protocol: Protocol = "soap" if name in SOAP_AGENCIES else "rest"
    return AgencySimulator(
        agency=name, store=store,
        faults=SeededFaults(seed, protocol, faults or {}, slow_seconds),
        credentials=credentials_from_env(environ, token_ttl),
    )
