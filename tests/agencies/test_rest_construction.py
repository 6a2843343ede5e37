"""The construction simulator over real HTTP: whole feed = ground truth, advances, auth, hostile input."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from agencies.testing import SimulatorHandle
from tests.agencies.helpers import CONSTRUCTION_KEY, read_permits, truth_records

pytestmark = pytest.mark.integration


def test_the_whole_feed_matches_the_ground_truth(construction_sim: SimulatorHandle, tmp_path: Path) -> None:
    served = read_permits(construction_sim.base_url, limit=333)
    assert served == truth_records(construction_sim.sim, "permits", tmp_path)
    assert len(served) == 2000


def test_after_an_advance_the_feed_since_the_old_clock_is_exactly_the_changes(
    construction_sim: SimulatorHandle, tmp_path: Path,
) -> None:
    base = construction_sim.base_url
    before = {p["permit_no"]: p for p in read_permits(base)}
    old_clock = httpx.get(base + "/_admin/clock").json()["clock"]
    result = httpx.post(base + "/_admin/advance", params={"minutes": 90}).raise_for_status().json()
    assert result["previous_clock"] == old_clock
    changed = read_permits(base, since=old_clock)
    now = {p["permit_no"]: p for p in read_permits(base)}
    assert {p["permit_no"] for p in changed} == {k for k, p in now.items() if before.get(k) != p}
    gone = before.keys() - now.keys()
    assert len(gone) == result["deleted"] > 0  # absence: only the key listing shows it
    with httpx.Client(base_url=base, headers=CONSTRUCTION_KEY) as client:
        keys = client.get("/api/v1/permit-keys", params={"limit": 5000}).json()
        assert keys["total"] == len(now) and set(keys["items"]) == now.keys()
        assert client.get(f"/api/v1/permits/{next(iter(gone))}").status_code == 404
    assert list(now.values()) == truth_records(construction_sim.sim, "permits", tmp_path)


def test_get_by_key_and_key_pages(construction_sim: SimulatorHandle) -> None:
    with httpx.Client(base_url=construction_sim.base_url, headers=CONSTRUCTION_KEY) as client:
        first = client.get("/api/v1/permit-keys", params={"offset": 0, "limit": 700}).json()
        second = client.get("/api/v1/permit-keys", params={"offset": 700, "limit": 2000}).json()
        keys = first["items"] + second["items"]
        assert keys == sorted(keys) and len(keys) == first["total"] == 2000
        permit = client.get(f"/api/v1/permits/{keys[5]}").json()
        assert permit["permit_no"] == keys[5]
        assert client.get("/api/v1/permits/GPXD-1999-000000").status_code == 404


def test_key_listing_in_keyset_pages(construction_sim: SimulatorHandle) -> None:
    """`after` pages (`WHERE key > ?`) list every live key once, in order; `next` is null on the last."""
    with httpx.Client(base_url=construction_sim.base_url, headers=CONSTRUCTION_KEY) as client:
        every = client.get("/api/v1/permit-keys", params={"offset": 0, "limit": 5000}).json()["items"]
        pages, after = [], ""
        while after is not None:
            page = client.get("/api/v1/permit-keys", params={"after": after, "limit": 300}).json()
            pages.append(page["items"])
            after = page["next"]
            assert len(pages) < 50, "the listing never ended"
        assert [k for page in pages for k in page] == every and len(every) == 2000
        assert all(len(page) == 300 for page in pages[:-1]) and len(pages) == 7
        assert client.get("/api/v1/permit-keys", params={"after": every[-1]}).json() == {
            "total": 2000, "after": every[-1], "limit": 1000, "items": [], "next": None}


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong"}, {"X-API-Key": ""}])
def test_a_missing_or_wrong_key_is_refused(construction_sim: SimulatorHandle, headers: dict[str, str]) -> None:
    for path in ("/api/v1/permits", "/api/v1/permit-keys", "/api/v1/permits/GPXD-2020-000001"):
        response = httpx.get(construction_sim.base_url + path, headers=headers)
        assert response.status_code == 401 and "error" in response.json()


@pytest.mark.parametrize("params", [{"limit": "0"}, {"limit": "5001"}, {"limit": "ten"}, {"offset": "-1"},
                                    {"updated_since": "yesterday"}, {"limit": "9" * 400}])
def test_bad_parameters_get_a_400_naming_them(construction_sim: SimulatorHandle, params: dict[str, str]) -> None:
    response = httpx.get(construction_sim.base_url + "/api/v1/permits", params=params, headers=CONSTRUCTION_KEY)
    assert response.status_code == 400
    assert next(iter(params)) in response.json()["error"]


def test_openapi_document_describes_the_protocol(construction_sim: SimulatorHandle) -> None:
    doc = httpx.get(construction_sim.base_url + "/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert set(doc["paths"]) == {"/api/v1/permits", "/api/v1/permits/{permit_no}", "/api/v1/permit-keys"}
    assert doc["components"]["securitySchemes"]["apiKey"]["name"] == "X-API-Key"
    assert "floor_area_m2" in doc["components"]["schemas"]["Permit"]["properties"]
