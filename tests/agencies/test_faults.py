"""Seeded faults: request faults at their rates, value faults decided per record and named."""

from __future__ import annotations

from collections import Counter

import pytest
from stdnum.vn import mst

from agencies.faults import SeededFaults, parse_fault
from agencies.generate import build
from agencies.world import World

pytestmark = pytest.mark.unit


def test_request_faults_hit_their_share_of_requests_reproducibly() -> None:
    rates = {"http_500": 0.1, "http_503": 0.05, "rate_limit": 0.05, "truncated": 0.1, "stale_cursor": 0.02}
    draws = [SeededFaults(7, "rest", rates).request_fault() for _ in range(1)]
    faults = SeededFaults(7, "rest", rates)
    seen: Counter[str | None] = Counter(faults.request_fault() for _ in range(20_000))
    for name, rate in rates.items():
        assert abs(seen[name] / 20_000 - rate) < 4 * (rate * (1 - rate) / 20_000) ** 0.5 + 0.002, name
    again = SeededFaults(7, "rest", rates)
    assert [again.request_fault() for _ in range(50)][:1] == draws


def test_soap_only_faults_never_hit_a_rest_simulator() -> None:
    faults = SeededFaults(1, "rest", {"soap_fault": 0.5, "xxe": 0.5})
    assert {faults.request_fault() for _ in range(200)} == {None}


def test_value_faults_are_per_record_deterministic_and_named() -> None:
    world = World(2, 1000)
    records = [build(world, "parcels", i) for i in range(750)]
    faults = SeededFaults(2, "soap", {"invalid_values": 0.2})
    first = faults.apply("parcels", records)
    assert first == SeededFaults(2, "soap", {"invalid_values": 0.2}).apply("parcels", records)
    named = [faults.corruptions("parcels", r) for r in records]
    corrupted = [i for i, n in enumerate(named) if n]
    assert 0.15 < len(corrupted) / len(records) < 0.25
    assert all(first[i] == records[i] for i in range(len(records)) if i not in corrupted)
    kinds = Counter(n[0].split(":")[0] for n in named if n)
    assert {"bad_check_digit", "negative_value", "missing_required"} <= set(kinds)
    for i in corrupted:
        kind, field = named[i][0].split(":")
        if kind == "bad_check_digit":
            assert not mst.is_valid(first[i][field])
        if kind == "missing_required":
            assert field not in first[i]


def test_drift_and_invalid_utf8_change_the_served_shape() -> None:
    world = World(2, 1000)
    record = build(world, "permits", 3)
    every = {"drift_new_field": 1.0, "drift_renamed_field": 1.0, "drift_type_change": 1.0, "invalid_utf8": 1.0}
    served = SeededFaults(2, "rest", every).apply("permits", [record])[0]
    assert served["ghi_chu"] and "investor_name" not in served and isinstance(served["floors"], str)
    with pytest.raises(UnicodeDecodeError):
        served["investor_name_v2"].decode("utf-8")


@pytest.mark.parametrize("text", ["http_500", "nope=0.1", "http_500=2", "http_500=x"])
def test_bad_fault_flags_are_refused_with_the_flag_named(text: str) -> None:
    with pytest.raises(ValueError, match="--fault"):
        parse_fault(text)


def test_request_rates_cannot_exceed_one() -> None:
    with pytest.raises(ValueError, match="add up"):
        SeededFaults(1, "rest", {"http_500": 0.7, "http_503": 0.6})
