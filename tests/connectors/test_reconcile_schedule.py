"""Key-set reconciliation when it is due: on the stream's declared schedule, or on demand, not on every sync."""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx
import pytest

from agencies.testing import running_simulator
from connectors import read
from connectors.config import SourceConfig
from tests.connectors.helpers import source_at

pytestmark = pytest.mark.integration


def daily(source: SourceConfig, stream: str) -> SourceConfig:
    config = source.stream(stream)
    config = dataclasses.replace(config, deletes=dataclasses.replace(config.deletes, every_minutes=1440.0))
    return dataclasses.replace(source, streams={**source.streams, stream: config})


def deletes_of(source: SourceConfig, state: dict[str, Any] | None, reconcile: bool | None = None
               ) -> tuple[int, bool, dict[str, Any]]:
    extraction = read(source, "permits", state, reconcile=reconcile)
    deleted = sum(batch.column("_deleted").to_pylist().count(True) for batch in extraction)
    return deleted, extraction.reconciled, extraction.state


def test_reconciliation_follows_the_schedule_and_the_demand() -> None:
    with running_simulator("construction", records=1500, seed=3) as handle:
        source = daily(source_at("construction", handle.base_url), "permits")
        deleted, reconciled, state = deletes_of(source, None)
        assert reconciled and deleted == 0 and state["reconciled_at"]  # the first sync lists the keys
        advanced = httpx.post(f"{handle.base_url}/_admin/advance", params={"minutes": 600})
        gone = advanced.raise_for_status().json()["deleted"]
        assert gone > 0, "the simulator deleted nothing in ten hours"
        # within the day: the feed is read, the key listing is not, so no delete is seen yet
        deleted, reconciled, later = deletes_of(source, state)
        assert not reconciled and deleted == 0 and later["reconciled_at"] == state["reconciled_at"]
        # on demand (`lienthong sync --reconcile`): every absent key is found
        deleted, reconciled, forced = deletes_of(source, later, reconcile=True)
        assert reconciled and deleted == gone and forced["reconciled_at"] > state["reconciled_at"]
        # a stream declared to reconcile on every sync does so without being asked
        every = source_at("construction", handle.base_url)
        assert every.stream("permits").deletes.every_minutes == 0
        assert deletes_of(every, forced)[1]
