"""Against each simulator: a full sync then two incremental syncs (after advancing its clock)
reproduce its ground truth exactly, clean and with request faults on."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from agencies.testing import running_simulator
from connectors import read
from connectors.state import format_ts
from tests.connectors.helpers import small_pages, source_at

pytestmark = pytest.mark.integration

STREAMS = [("land", "parcels"), ("land", "land_certificates"), ("business", "enterprises"),
           ("business", "branches"), ("construction", "permits"), ("tax", "taxpayers"),
           ("tax", "land_tax_notices")]
FAULTS = {"http_500": 0.05, "http_503": 0.02, "rate_limit": 0.03, "slow": 0.02, "duplicate_page": 0.05}


def norm(value: Any) -> Any:
    """One spelling for a value whether it came from JSON, zeep or the store."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return format_ts(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool | int):
        return value
    if isinstance(value, float | Decimal):
        return str(Decimal(str(value)).normalize())
    text = str(value)
    if text.endswith("Z") and "T" in text:
        try:
            return format_ts(datetime.fromisoformat(text))
        except ValueError:
            return text
    try:
        return str(Decimal(text).normalize()) if "." in text else text
    except ArithmeticError:
        return text


def normalised(record: dict[str, Any]) -> dict[str, Any]:
    return {k: norm(v) for k, v in record.items() if norm(v) is not None}


def truth(sim: Any, dataset: str) -> dict[str, dict[str, Any]]:
    return {key: normalised(json.loads(body)) for key, _, body in sim.store.all_rows(dataset)}


def sync(source: Any, stream: str, state: dict[str, Any] | None, view: dict[str, dict[str, Any]],
         totals: Counter[str]) -> dict[str, Any]:
    extraction = read(source, stream, state)
    keys = source.stream(stream).primary_key
    reconciled = source.stream(stream).deletes.mode == "reconcile"
    for batch in extraction:
        for row in batch.to_pylist():
            key = "/".join(str(row[k]) for k in keys)
            assert row["_error"] is None, row
            if row["_deleted"] and reconciled:
                view.pop(key)
            else:
                view[key] = normalised(json.loads(row["_raw"]))
    totals.update(dataclasses.asdict(extraction.stats))
    new_state: dict[str, Any] = json.loads(json.dumps(extraction.state))
    return new_state


@pytest.mark.parametrize("faults", [None, FAULTS], ids=["clean", "faults"])
@pytest.mark.parametrize(("agency", "stream"), STREAMS)
def test_full_then_two_incrementals_reproduce_truth(agency: Any, stream: str, faults: dict[str, float] | None) -> None:
    with running_simulator(agency, records=1500, seed=11, faults=faults, slow_seconds=2.0) as handle:
        source = small_pages(source_at(agency, handle.base_url, timeout=1.0, attempts=12), stream)
        view: dict[str, dict[str, Any]] = {}
        totals: Counter[str] = Counter()
        state = sync(source, stream, None, view, totals)
        assert view == truth(handle.sim, stream)
        assert totals["records"] >= len(view) > 0  # the first sync read every live record at least once
        for _ in range(2):
            httpx.post(f"{handle.base_url}/_admin/advance", params={"minutes": 60}).raise_for_status()
            state = sync(source, stream, state, view, totals)
            assert view == truth(handle.sim, stream)
        assert totals["pages"] >= 5


HEAVY = {"http_500": 0.15, "http_503": 0.1, "rate_limit": 0.1, "slow": 0.05, "duplicate_page": 0.2,
         "truncated": 0.05, "malformed": 0.05, "stale_cursor": 0.05}


@pytest.mark.parametrize(("agency", "stream"), [("land", "parcels"), ("business", "branches"),
                                                ("construction", "permits"), ("tax", "taxpayers")])
def test_heavy_request_faults_are_retried_and_leave_truth_intact(agency: Any, stream: str) -> None:
    with running_simulator(agency, records=1500, seed=5, faults=HEAVY, slow_seconds=2.0) as handle:
        source = small_pages(source_at(agency, handle.base_url, timeout=1.0, attempts=25), stream)
        view: dict[str, dict[str, Any]] = {}
        totals: Counter[str] = Counter()
        state = sync(source, stream, None, view, totals)
        httpx.post(f"{handle.base_url}/_admin/advance", params={"minutes": 60}).raise_for_status()
        sync(source, stream, state, view, totals)
        assert view == truth(handle.sim, stream)
        assert totals["retries"] > 0
