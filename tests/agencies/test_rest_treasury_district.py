"""The State Treasury and the district permit register over real HTTP: shapes, paging, truth, links."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest

from agencies.generate import DISTRICT_SWITCH, build
from agencies.testing import running_simulator
from agencies.truth import write_truth
from agencies.world import World

pytestmark = pytest.mark.integration

TREASURY = ("lienthong", "treasury-dev-secret")
DISTRICT = {"X-Api-Token": "district-dev-token"}


def _receipts(base: str, since: str | None = None, size: int = 70) -> list[dict[str, Any]]:
    """Follow the Link headers from the first page, as PROTOCOL.md documents it."""
    url: str | None = base + "/api/v1/chung-tu"
    params: dict[str, Any] | None = {"so_ban_ghi": size, **({"tu_thoi_diem": since} if since else {})}
    out: list[dict[str, Any]] = []
    with httpx.Client(auth=TREASURY, timeout=30) as client:
        while url:
            response = client.get(url, params=params).raise_for_status()
            page = response.json()
            assert isinstance(page, list)  # a bare list, no envelope
            out += page
            url, params = response.links.get("next", {}).get("url"), None
    return out


def test_treasury_serves_bare_lists_with_link_paging_equal_to_its_truth(tmp_path: Path) -> None:
    with running_simulator("treasury", records=600, seed=3, tmp_dir=tmp_path) as sim:
        served = _receipts(sim.url)
        truth = pq.read_table(tmp_path / "t.parquet") if write_truth(sim.sim, tmp_path / "t.parquet") else None
        assert truth is not None
        assert sorted(r["so_chung_tu"] for r in served) == sorted(truth.column("_key").to_pylist())
        assert len(served) == len({r["so_chung_tu"] for r in served}) == World(3, 600).sizes.notices
        first = served[0]
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", first["thoi_diem_ghi_so"])  # zone-less
        assert re.fullmatch(r"\d{2}/\d{2}/\d{4}", first["ngay_nop"]) and first["so_tien"].isdigit()
        # a zone-less bound is Vietnam's time: 07:00 local is 00:00 UTC, the same records as the UTC bound
        local = _receipts(sim.url, since="2024-06-01 07:00:00")
        assert local == _receipts(sim.url, since="2024-06-01T00:00:00Z")
        assert 0 < len(local) < len(served)
        assert httpx.get(sim.url + "/api/v1/chung-tu", auth=("lienthong", "wrong")).status_code == 401


def test_receipts_pay_the_tax_departments_notices() -> None:
    world = World(3, 600)
    receipts = [build(world, "payment_receipts", r) for r in range(world.sizes.notices)]
    notices = {n["notice_no"]: n for n in (build(world, "land_tax_notices", j) for j in range(world.sizes.notices))}
    matched = [r for r in receipts if r["so_thong_bao"] in notices]
    assert 0.9 < len(matched) / len(receipts) < 0.99  # some carry no notice number or a mistyped one
    assert all(r["ma_so_thue"] == notices[r["so_thong_bao"]]["tax_code"] for r in matched)
    paid = [r for r in matched if notices[r["so_thong_bao"]]["status"] == "paid"]
    assert all(int(r["so_tien"]) == notices[r["so_thong_bao"]]["amount_vnd"] for r in paid)


def test_district_register_pages_by_number_with_nested_parcels_and_legacy_codes(tmp_path: Path) -> None:
    with running_simulator("district", records=600, seed=3, tmp_dir=tmp_path) as sim, \
            httpx.Client(base_url=sim.url, headers=DISTRICT, timeout=30) as client:
        items: list[dict[str, Any]] = []
        page = 1
        while True:
            data = client.get("/api/giay-phep", params={"page": page, "per_page": 50}).raise_for_status().json()
            items += data["data"]["items"]
            if page >= data["data"]["total_pages"]:
                break
            page += 1
        assert len(items) == 120 and all(re.fullmatch(r"\d{2,}/GPXD-UBND", p["so_giay_phep"]) for p in items)
        keys = client.get("/api/giay-phep/danh-sach-so", params={"per_page": 5000}).json()["data"]["items"]
        assert sorted(keys) == sorted(p["so_giay_phep"] for p in items)
        world = World(3, 600)
        old_codes = {o.code for c in world.province.communes for o in c.sources}
        new_codes = {c.code for c in world.province.communes}
        for p in items:
            issued = p["ngay_cap"].split("/")
            before = (int(issued[2]), int(issued[1]), int(issued[0])) < (DISTRICT_SWITCH.year, 7, 1)
            assert p["thua_dat"]["ma_xa"] in (old_codes if before else new_codes)
            assert p["so_tang"].isdigit()
        assert client.get("/api/giay-phep", headers={"X-Api-Token": "x"}).status_code == 401
        write_truth(sim.sim, tmp_path / "d.parquet")
        truth = pq.read_table(tmp_path / "d.parquet")
        assert "thua_dat.ma_xa" in truth.column_names  # nested fields flattened by their paths
