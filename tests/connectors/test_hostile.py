"""Hostile and broken replies raise the documented error naming the source; bad values are flagged, not dropped."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from agencies.testing import running_simulator
from connectors import read
from connectors.errors import AuthRefused, HostileResponse, MalformedResponse
from tests.connectors.helpers import source_at

pytestmark = pytest.mark.integration


def _drain(source: Any, stream: str) -> Any:
    extraction = read(source, stream)
    rows = sum(batch.num_rows for batch in extraction)
    return extraction, rows


def _bulk(source: Any, stream: str, bulk: bool) -> Any:
    config = dataclasses.replace(source.stream(stream), bulk=bulk)
    return dataclasses.replace(source, streams={**source.streams, stream: config})


@pytest.mark.parametrize("bulk", [True, False], ids=["bulk", "zeep"])
@pytest.mark.parametrize("fault", ["xxe", "billion_laughs"])
def test_soap_dtd_and_entities_are_refused(fault: str, bulk: bool) -> None:
    with running_simulator("land", records=300, seed=2, faults={fault: 1.0}) as handle:
        source = _bulk(source_at("land", handle.base_url, attempts=3), "parcels", bulk)
        with pytest.raises(HostileResponse) as info:
            _drain(source, "parcels")
    assert str(info.value).startswith("[land] operation GetParcelChanges page first:")
    assert "passwd" not in str(info.value) or "ENTITY" in str(info.value)  # an excerpt, never the file


@pytest.mark.parametrize("fault", ["truncated", "malformed"])
@pytest.mark.parametrize(("agency", "stream", "bulk"), [
    ("land", "parcels", True), ("land", "parcels", False), ("business", "enterprises", True),
    ("construction", "permits", None), ("tax", "taxpayers", None)])
def test_truncated_and_malformed_bodies_raise_malformed_response(agency: Any, stream: str, bulk: bool | None,
                                                                 fault: str) -> None:
    with running_simulator(agency, records=300, seed=2, faults={fault: 1.0}) as handle:
        source = source_at(agency, handle.base_url, attempts=2)
        if bulk is not None:
            source = _bulk(source, stream, bulk)
        with pytest.raises(MalformedResponse) as info:
            _drain(source, stream)
    assert str(info.value).startswith(f"[{agency}] operation ")
    assert info.value.source == agency and info.value.page is not None


def test_an_oversized_rest_body_is_refused() -> None:
    with running_simulator("construction", records=300, seed=2, faults={"billion_laughs": 1.0}) as handle:
        source = source_at("construction", handle.base_url, attempts=1)
        source = dataclasses.replace(source, limits=dataclasses.replace(source.limits, max_response_bytes=1 << 20))
        with pytest.raises(HostileResponse, match=r"^\[construction\] .*over the bound"):
            _drain(source, "permits")


@pytest.mark.parametrize(("agency", "stream"), [("land", "parcels"), ("construction", "permits"),
                                                ("tax", "taxpayers"), ("business", "enterprises")])
def test_invalid_utf8_and_invalid_values_are_flagged_never_dropped(agency: Any, stream: str) -> None:
    faults = {"invalid_utf8": 0.05, "invalid_values": 0.05, "drift_type_change": 0.02}
    with running_simulator(agency, records=600, seed=4, faults=faults) as handle:
        source = source_at(agency, handle.base_url)
        extraction = read(source, stream)
        rows = [row for batch in extraction for row in batch.to_pylist()]
        live = sum(1 for _ in handle.sim.store.all_rows(stream))
    assert len(rows) == live
    flagged = [r for r in rows if r["_error"]]
    assert any("not valid UTF-8" in r["_error"] for r in flagged)
    assert all(r["_raw"] for r in rows)


def test_wrong_credentials_fail_fast_without_retries() -> None:
    with running_simulator("construction", records=100, seed=2) as handle:
        source = source_at("construction", handle.base_url, attempts=5)
        extraction = read(source, "permits", environ={"CONSTRUCTION_SIM_API_KEY": "not-the-key"})
        with pytest.raises(AuthRefused, match=r"^\[construction\] operation /api/v1/permits page offset=0"):
            list(extraction)
        assert extraction.stats.requests == 1
