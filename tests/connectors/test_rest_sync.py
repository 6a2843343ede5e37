"""REST sources against a loopback agency: full then incremental syncs reproduce the truth exactly."""

from __future__ import annotations

import pytest

from tests.connectors.fake_rest import World, serve
from tests.connectors.helpers import source_at, sync

pytestmark = pytest.mark.integration

FAULTS = {"http_500": 0.05, "rate_limit": 0.03, "slow": 0.02, "duplicate_page": 0.1}


@pytest.mark.parametrize("faults", [{}, FAULTS], ids=["clean", "faults"])
@pytest.mark.parametrize(("agency", "stream"), [("construction", "permits"), ("tax", "taxpayers")])
def test_full_then_incremental_reproduce_truth(agency: str, stream: str, faults: dict[str, float], port: int) -> None:
    world = World(agency, 1500, seed=7)
    with serve(world, port) as url:
        source = source_at(agency, url)
        world.faults = dict(faults)
        view: dict[str, dict[str, object]] = {}
        state = sync(source, stream, None, view)
        assert view == world.truth()
        for _ in range(2):
            world.advance(90)
            state = sync(source, stream, state, view)
            assert view == world.truth()
        assert state["cursor"] == max(r["updated_at"] for r in world.records.values())
