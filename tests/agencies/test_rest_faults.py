"""Faults over real HTTP: each at its configured rate, reproducible, never changing the data."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest

from agencies.testing import SimulatorHandle
from agencies.truth import write_truth
from tests.agencies.helpers import CONSTRUCTION_KEY, tax_token

pytestmark = pytest.mark.integration

REQUESTS = 300
RATE = 0.2


def _within(count: int, rate: float, n: int) -> bool:
    return bool(abs(count / n - rate) <= 4 * (rate * (1 - rate) / n) ** 0.5)


def _is_json(body: bytes) -> bool:
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


SYMPTOMS: dict[str, Callable[[httpx.Response], bool]] = {
    "http_500": lambda r: r.status_code == 500,
    "http_503": lambda r: r.status_code == 503,
    "rate_limit": lambda r: r.status_code == 429 and r.headers["Retry-After"] == "1",
    "truncated": lambda r: r.status_code == 200 and not _is_json(r.content)
    and int(r.headers["Content-Length"]) == len(r.content),
    "malformed": lambda r: r.status_code == 200 and not _is_json(r.content),
}


@pytest.mark.parametrize("fault", sorted(SYMPTOMS))
def test_request_fault_at_its_rate_and_data_unchanged(simulators: Callable[..., SimulatorHandle], fault: str) -> None:
    sim = simulators("construction", records=300, seed=4)
    with httpx.Client(base_url=sim.base_url, headers=CONSTRUCTION_KEY) as client:
        clean = client.get("/api/v1/permits", params={"limit": 20, "offset": 40}).content
        set_to = client.post("/_admin/faults", json={fault: RATE}).json()
        assert set_to["rates"] == {fault: RATE}
        responses = [client.get("/api/v1/permits", params={"limit": 20, "offset": 40}) for _ in range(REQUESTS)]
    hit = sum(SYMPTOMS[fault](r) for r in responses)
    assert _within(hit, RATE, REQUESTS), (fault, hit)
    assert all(r.content == clean for r in responses if not SYMPTOMS[fault](r))


def test_the_same_seed_faults_the_same_requests(simulators: Callable[..., SimulatorHandle]) -> None:
    runs = []
    for _ in range(2):
        sim = simulators("construction", records=100, seed=9, faults={"http_503": 0.3})
        with httpx.Client(base_url=sim.base_url, headers=CONSTRUCTION_KEY) as client:
            runs.append([client.get("/api/v1/permits", params={"limit": 5}).status_code for _ in range(60)])
    assert runs[0] == runs[1] and 503 in runs[0]


def test_slow_responses_wait(simulators: Callable[..., SimulatorHandle]) -> None:
    sim = simulators("construction", records=100, seed=1, faults={"slow": 1.0}, slow_seconds=0.3)
    started = time.perf_counter()
    response = httpx.get(sim.base_url + "/api/v1/permits", headers=CONSTRUCTION_KEY, params={"limit": 1})
    assert response.status_code == 200 and time.perf_counter() - started >= 0.3
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(sim.base_url + "/api/v1/permits", headers=CONSTRUCTION_KEY, timeout=0.1)


def test_an_oversized_body_is_50_mb(simulators: Callable[..., SimulatorHandle]) -> None:
    sim = simulators("construction", records=100, seed=1, faults={"billion_laughs": 1.0})
    with httpx.stream("GET", sim.base_url + "/api/v1/permits", headers=CONSTRUCTION_KEY) as response:
        assert int(response.headers["Content-Length"]) == 50 * 1024 * 1024
        assert sum(len(chunk) for chunk in response.iter_bytes()) == 50 * 1024 * 1024


def test_duplicate_page_and_stale_offset(simulators: Callable[..., SimulatorHandle]) -> None:
    sim = simulators("construction", records=300, seed=2)
    with httpx.Client(base_url=sim.base_url, headers=CONSTRUCTION_KEY) as client:
        previous = client.get("/api/v1/permits", params={"offset": 0, "limit": 50}).json()["items"]
        client.post("/_admin/faults", json={"duplicate_page": 1.0})
        page = client.get("/api/v1/permits", params={"offset": 50, "limit": 50}).json()
        assert page["items"][:5] == previous[-5:] and len(page["items"]) == 55
        client.post("/_admin/faults", json={"stale_cursor": 1.0})
        stale = client.get("/api/v1/permits", params={"offset": 50, "limit": 50}).json()
        assert stale["offset"] == 0 and stale["items"] == previous


def test_tax_cursor_faults(simulators: Callable[..., SimulatorHandle]) -> None:
    sim = simulators("tax", records=500, seed=2)
    with httpx.Client(base_url=sim.base_url) as client:
        client.headers["Authorization"] = "Bearer " + tax_token(client)
        first = client.get("/api/v1/taxpayers", params={"limit": 40}).json()
        client.post("/_admin/faults", json={"stale_cursor": 1.0})
        stale = client.get("/api/v1/taxpayers", params={"cursor": first["next_cursor"], "limit": 40}).json()
        assert stale["next_cursor"] == first["next_cursor"]
        client.post("/_admin/faults", json={"duplicate_page": 1.0})
        dup = client.get(first["next"]).json()
        assert dup["items"][:5] == first["items"][-5:]


def test_invalid_utf8_and_invalid_values_are_named_in_the_truth(
    simulators: Callable[..., SimulatorHandle], tmp_path: Path,
) -> None:
    sim = simulators("construction", records=400, seed=6, faults={"invalid_utf8": 0.05, "invalid_values": 0.1})
    body = httpx.get(sim.base_url + "/api/v1/permits", headers=CONSTRUCTION_KEY, params={"limit": 5000}).content
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    records = json.loads(body.decode("utf-8", "replace"))["items"]
    write_truth(sim.sim, tmp_path / "t.parquet")
    truth = {row["_key"]: row for row in pq.read_table(tmp_path / "t.parquet").to_pylist()}
    corrupted = [k for k, row in truth.items() if row["_corrupted"]]
    assert 0.08 < len(corrupted) / len(truth) < 0.22
    for record in records:
        row = truth[record["permit_no"]]
        if row["_corrupted"]:
            assert json.loads(row["_served"]) == record
        else:
            assert all(record[k] == row[k] for k in record)


@pytest.mark.parametrize("fault", ["drift_new_field", "drift_renamed_field", "drift_type_change"])
def test_drift_hits_its_share_of_records_as_the_truth_says(
    simulators: Callable[..., SimulatorHandle], tmp_path: Path, fault: str,
) -> None:
    sim = simulators("tax", records=1000, seed=8, faults={fault: 0.1})
    with httpx.Client(base_url=sim.base_url) as client:
        client.headers["Authorization"] = "Bearer " + tax_token(client)
        items = client.get("/api/v1/land-tax-notices", params={"limit": 5000}).json()["items"]
    write_truth(sim.sim, tmp_path / "t.parquet", "land_tax_notices")
    truth = {r["_key"]: r for r in pq.read_table(tmp_path / "t.parquet").to_pylist()}
    drifted = {i["notice_no"] for i in items if set(i) != {n for n, v in truth[i["notice_no"]].items()
                                                           if not n.startswith("_") and v is not None}
               or isinstance(i.get("tax_year"), str)}
    assert drifted == {k for k, r in truth.items() if r["_corrupted"]}
    assert all(str(truth[k]["_corruption"]).startswith(fault) for k in drifted)
    assert _within(len(drifted), 0.1, len(items))


def test_same_seed_same_bytes_over_http(simulators: Callable[..., SimulatorHandle]) -> None:
    bodies = []
    for _ in range(2):
        sim = simulators("construction", records=500, seed=21)
        httpx.post(sim.base_url + "/_admin/advance", params={"minutes": 45}).raise_for_status()
        bodies.append(httpx.get(sim.base_url + "/api/v1/permits", params={"limit": 5000},
                                headers=CONSTRUCTION_KEY).content)
    assert bodies[0] == bodies[1]
