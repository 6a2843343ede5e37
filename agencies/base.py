"""The seam between the simulators' data core and their protocol front ends (SOAP, REST).

The data core (`agencies.store`, `agencies.faults`, `agencies.generate`) implements these; the
front ends (`agencies.soap`, `agencies.rest`) use only what is declared here. Wire field names and
semantics are in `agencies/PROTOCOL.md`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

AgencyName = Literal["land", "business", "construction", "tax", "treasury", "district"]
# The four provincial systems whose source files ship in connectors/sources.
AGENCY_NAMES: tuple[AgencyName, ...] = ("land", "business", "construction", "tax")
# Every simulator: the four, the State Treasury and a district's permit register (PROTOCOL.md), which
# lienthong brings in by declaration files alone.
SIMULATED_AGENCIES: tuple[AgencyName, ...] = (*AGENCY_NAMES, "treasury", "district")

# dataset names per agency, as the feed operations serve them
DATASETS: Mapping[AgencyName, tuple[str, ...]] = {
    "land": ("parcels", "land_certificates"),
    "business": ("enterprises", "branches"),
    "construction": ("permits",),
    "tax": ("taxpayers", "land_tax_notices"),
    "treasury": ("payment_receipts",),
    "district": ("district_permits",),
}

# A record as it goes on the wire: wire field names (PROTOCOL.md) to Python values
# (str, int, float, bool, None). Front ends serialise it as it is.
Record = dict[str, Any]


@dataclass(frozen=True, slots=True)
class FeedPosition:
    """Where a page of a change feed ends: the last (updated_at, key) served. Exclusive."""

    updated_at: str  # ISO 8601 UTC with Z, as on the wire
    key: str  # the record's key; a composite key joined with "/"


class Store(Protocol):
    """One agency's data, in its own SQLite file."""

    agency: AgencyName

    def clock(self) -> datetime: ...

    def changes(
        self, dataset: str, since: datetime, after: FeedPosition | None, limit: int
    ) -> list[Record]:
        """Records with updated_at >= since, ordered by (updated_at, key), strictly after `after`.

        Includes tombstones where the agency has them (PROTOCOL.md, Deletes).
        """
        ...

    def get(self, dataset: str, key: str) -> Record | None:
        """One live record by key (composite keys joined with "/"), or None."""
        ...

    def keys(self, dataset: str, after: str | None, limit: int) -> list[str]:
        """Live keys in key order, strictly after `after` (key-set reconciliation)."""
        ...

    def count(self, dataset: str, since: datetime | None = None) -> int:
        """How many feed records (since `since`, when given); for totals in offset pagination."""
        ...

    def key_of(self, dataset: str, record: Record) -> str: ...


RequestFault = Literal[
    "http_500", "http_503", "slow", "rate_limit", "soap_fault", "truncated", "malformed",
    "xxe", "billion_laughs", "duplicate_page", "stale_cursor",
    # SOAP replies that break the protocol behind a 200 (agencies/soap/hostile.py)
    "html_200", "not_xml", "wrong_element", "records_renamed", "cp1258_body", "lying_encoding", "wrong_id",
]


class Faults(Protocol):
    """The faults switched on for one simulator, decided from the seed."""

    rates: Mapping[str, float]
    slow_seconds: float

    def request_fault(self) -> RequestFault | None:
        """Which request-level fault, if any, hits the next request (a seeded draw)."""
        ...

    def apply(self, dataset: str, records: Sequence[Record]) -> list[Record]:
        """Records as served with value faults applied (invalid_values, drift_*, invalid_utf8).

        Deterministic per record: the same record is corrupted the same way on every read.
        A record carrying invalid UTF-8 has the affected str replaced by `bytes`; front ends
        write those bytes as they are.
        """
        ...


@dataclass(slots=True)
class Credentials:
    """What a simulator accepts; dev defaults are in PROTOCOL.md, overridden from the environment."""

    land_username: str = "lienthong"
    land_password: str = "land-dev-secret"  # noqa: S105 - a simulator's dev default, documented
    business_allowed_clients: tuple[str, ...] = ("VN/GOV/000.00.00.H01/lienthong",)
    construction_api_keys: tuple[str, ...] = ("construction-dev-key",)
    tax_clients: Mapping[str, str] = field(default_factory=lambda: {"lienthong": "tax-dev-secret"})
    tax_token_ttl: float = 300.0
    treasury_users: Mapping[str, str] = field(default_factory=lambda: {"lienthong": "treasury-dev-secret"})
    district_tokens: tuple[str, ...] = ("district-dev-token",)


class Simulator(Protocol):
    """Everything a front end needs: the store, the faults and the credentials.

    Read-only members, so an implementation may hold richer types (a SQLite store, seeded faults).
    """

    @property
    def agency(self) -> AgencyName: ...

    @property
    def store(self) -> Store: ...

    @property
    def faults(self) -> Faults: ...

    @property
    def credentials(self) -> Credentials: ...
