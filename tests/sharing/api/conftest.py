"""Published data from the four simulators (small), on SQLite and PostgreSQL, built once per session,
and an API over it with a policy of test clients."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from agencies.base import AGENCY_NAMES
from agencies.testing import running_simulator
from pipeline.sync import sync_source
from sharing.api.app import create_app
from sharing.api.auth import hash_key
from sharing.api.policy import Policy, policy_from_dict
from sharing.api.ratelimit import RateLimiter
from sharing.views import build_views
from tests.conftest import pg_database

RECORDS = 300
ALL = ["enterprises", "enterprise_profile", "branches", "taxpayers", "parcels", "parcel_profile",
       "land_certificates", "permits", "tax_notices", "view_match_stats", "view_unmatched"]


def key(client: str) -> str:
    return f"lt_test_{client}_key"


def _grants(columns: Any, clear: list[str], purpose: str, datasets: list[str] = ALL) -> list[dict[str, Any]]:
    return [{"dataset": d, "columns": columns, "clear": clear, "purposes": [purpose]} for d in datasets]


# Each client shows one combination: clear everything, clear personal, mask all, few columns, no grant.
CLIENTS: dict[str, dict[str, Any]] = {
    "clear_all": {"grants": _grants("*", ["personal", "sensitive"], "inspection")},
    "clear_personal": {"grants": _grants("*", ["personal"], "inspection")},
    "masked": {"grants": _grants("*", [], "statistics")},
    "narrow": {"grants": _grants(["enterprise_code", "name", "legal_rep_name", "commune_code_source", "map_sheet",
                                  "parcel_number", "holder_name", "permit_no", "investor_id"], [], "inspection",
                                 ["enterprises", "parcels", "permits"])},
    "no_grant": {"grants": []},
    "auditor": {"auditor": True, "grants": []},
    # clear personal data on parcels, not on the parcel profile view: the view's copy must show it the same
    "land_tax": {"grants": [{"dataset": "parcels", "columns": "*", "clear": ["personal"], "purposes": ["inspection"]},
                            {"dataset": "parcel_profile", "columns": "*", "clear": [], "purposes": ["inspection"]}]},
    "slow": {"rate": {"per_second": 1, "burst": 3}, "grants": _grants("*", [], "inspection", ["enterprises"])},
}


# Limits that cannot trip in a test session; the one test of rate limits holds the clock (CLOCK) itself.
UNLIMITED = {"per_second": 1_000_000, "burst": 1_000_000}


class FakeClock:
    """The rate limiter's clock in the tests: still until a test moves it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


CLOCK = FakeClock()


def make_policy() -> Policy:
    return policy_from_dict({"anonymous_rate": UNLIMITED, "clients": {
        name: {"key_sha256": hash_key(key(name)), "rate": UNLIMITED, **spec} for name, spec in CLIENTS.items()
    }})


@dataclass(frozen=True, slots=True)
class Served:
    url: str
    data_dir: Path


def _publish_all(url: str, root: Path) -> Served:
    data_dir = root / "data"
    with ExitStack() as stack:
        for agency in AGENCY_NAMES:
            handle = stack.enter_context(running_simulator(agency, records=RECORDS, seed=8, tmp_dir=root / "sim"))
            env = {f"LIENTHONG_AGENCY_{agency.upper()}_URL": handle.url}
            summaries = sync_source(agency, url=url, data_dir=data_dir, environ=env)
            assert all(s.error is None for s in summaries), [s.line() for s in summaries]
    build_views(url, data_dir)
    return Served(url, data_dir)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The published datasets, once per backend for the session (tests must not change them)."""
    root = tmp_path_factory.mktemp(f"api-{request.param}")
    if request.param == "sqlite":
        yield _publish_all(f"sqlite:///{root / 'lienthong.db'}", root)
        return
    with pg_database(request.getfixturevalue("pg_server")) as url:
        yield _publish_all(url, root)


@contextmanager
def running_api(app: Any) -> Iterator[str]:
    """The app under uvicorn on a free loopback port, in a thread; its base URL."""
    from sharing.api.server import PROTOCOL
    from tests.servers import in_thread

    with in_thread(app, http=PROTOCOL) as url:
        yield url


@pytest.fixture(scope="session")
def api(served: Served) -> Iterator[httpx.Client]:
    app = create_app(served.url, make_policy(), served.data_dir, limiter=RateLimiter(clock=CLOCK))
    with running_api(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        yield client
    app.state.lienthong.writer.close()
    app.state.lienthong.engine.dispose()


def headers(client: str, purpose: str | None = "inspection") -> dict[str, str]:
    out = {"X-API-Key": key(client)}
    if purpose is not None:
        out["X-Purpose"] = purpose
    return out
