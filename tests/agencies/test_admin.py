"""The admin endpoints, on every simulator (SOAP ones too when their front end is importable)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

import httpx
import pytest

from agencies.testing import SimulatorHandle

pytestmark = pytest.mark.integration

AGENCIES = ["construction", "tax"] + (
    ["land", "business"] if importlib.util.find_spec("agencies.soap") is not None else []
)


@pytest.mark.parametrize("agency", AGENCIES)
def test_clock_advance_and_faults(simulators: Callable[..., SimulatorHandle], agency: str) -> None:
    sim = simulators(agency, records=200, seed=3)
    with httpx.Client(base_url=sim.base_url) as client:
        assert client.get("/_admin/clock").json()["clock"] == "2026-01-01T00:00:00Z"
        moved = client.post("/_admin/advance", params={"minutes": 15}).json()
        assert moved["clock"] == "2026-01-01T00:15:00Z"
        assert client.get("/_admin/clock").json()["clock"] == moved["clock"]
        assert client.post("/_admin/faults", json={"http_503": 0.25}).json()["rates"] == {"http_503": 0.25}
        assert client.get("/_admin/faults").json()["rates"] == {"http_503": 0.25}
        for bad in ({"nope": 0.1}, {"http_500": 3}, [1, 2]):
            assert client.post("/_admin/faults", json=bad).status_code == 400
        assert client.post("/_admin/advance", params={"minutes": "0"}).status_code == 400
        assert client.get("/_admin/clock").json()["clock"] == moved["clock"]
