"""Cross-agency views join real published datasets and say what did not match."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from sharing import snapshots
from sharing.publish import publish
from sharing.spec import DatasetSpec
from sharing.views import build_views

pytestmark = pytest.mark.integration

S, I64, B = pa.string(), pa.int64(), pa.bool_()
TS = pa.timestamp("us", tz="UTC")


def spec(name: str, key: list[str], fields: list[tuple[str, pa.DataType]]) -> DatasetSpec:
    return DatasetSpec(name, tuple(key), pa.schema([pa.field(n, t) for n, t in fields]))


SPECS = {
    "enterprises": spec("enterprises", ["enterprise_code"], [
        ("enterprise_code", S), ("name", S), ("name_search", S), ("enterprise_type", S), ("status", S),
        ("province_code", S), ("commune_code", S)]),
    "taxpayers": spec("taxpayers", ["tax_code"], [("tax_code", S), ("status_code", S)]),
    "branches": spec("branches", ["branch_code"], [("branch_code", S), ("enterprise_code", S)]),
    "parcels": spec("parcels", ["commune_code_source", "map_sheet", "parcel_number"], [
        ("commune_code_source", S), ("map_sheet", I64), ("parcel_number", I64), ("province_code", S),
        ("commune_code", S), ("admin_legacy", B), ("admin_review", B), ("address", S),
        ("area_m2", pa.decimal128(14, 2)),
        ("land_use_code", S), ("holder_type", S), ("holder_id", S), ("holder_name", S)]),
    "land_certificates": spec("land_certificates", ["certificate_no"], [
        ("certificate_no", S), ("commune_code_source", S), ("map_sheet", I64),
        ("parcel_number", I64)]),
    "permits": spec("permits", ["permit_no"], [
        ("permit_no", S), ("investor_id", S), ("investor_type", S), ("commune_code", S),
        ("commune_code_source", S), ("map_sheet", I64), ("parcel_number", I64), ("issued_date", pa.date32())]),
    "tax_notices": spec("tax_notices", ["notice_no"], [
        ("notice_no", S), ("tax_code", S), ("commune_code", S), ("commune_code_source", S), ("admin_legacy", B),
        ("map_sheet", I64),
        ("parcel_number", I64), ("amount_vnd", I64), ("status", S)]),
}

E1, E2, GHOST = "0100109106", "0312345670", "0999999999"
PARCEL = {"commune_code_source": "00004", "map_sheet": 12, "parcel_number": 345, "commune_code": "00004"}


def records() -> dict[str, list[dict[str, Any]]]:
    return {
        "enterprises": [
            {"enterprise_code": E1, "name": "Công ty A", "name_search": "cong ty a", "status": "active",
             "province_code": "01", "commune_code": "00004"},
            {"enterprise_code": E2, "name": "Công ty B", "name_search": "cong ty b", "status": "active",
             "province_code": "01", "commune_code": "00004"},
        ],
        "taxpayers": [{"tax_code": E1, "status_code": "00"}],
        "branches": [{"branch_code": E1 + "001", "enterprise_code": E1}],
        "parcels": [
            {**PARCEL, "province_code": "01", "admin_review": False, "area_m2": Decimal("120.50"),
             "land_use_code": "ODT", "holder_type": "enterprise", "holder_id": E1},
            {"commune_code_source": "00007", "map_sheet": 1, "parcel_number": 2, "commune_code": "00004",
             "province_code": "01", "admin_review": True, "admin_legacy": True, "area_m2": Decimal("80.00"),
             "holder_type": "enterprise",
             "holder_id": GHOST},
        ],
        "land_certificates": [{"certificate_no": "CS 000001", "commune_code_source": "00004", "map_sheet": 12,
                               "parcel_number": 345}],
        "permits": [
            {"permit_no": "GPXD-2025-000001", "investor_id": E1, "investor_type": "enterprise", **PARCEL,
             "issued_date": dt.date(2025, 4, 1)},
            {"permit_no": "GPXD-2025-000002", "investor_id": GHOST, "investor_type": "enterprise", **PARCEL,
             "issued_date": dt.date(2025, 5, 1)},
            {"permit_no": "GPXD-2025-000003", "investor_id": "001203004005", "investor_type": "individual",
             "commune_code": "00004", "commune_code_source": "00004", "map_sheet": 99, "parcel_number": 99},
        ],
        "tax_notices": [
            {"notice_no": "TB-2025-0000001", "tax_code": E1, **PARCEL, "amount_vnd": 1_500_000, "status": "issued"},
            {"notice_no": "TB-2025-0000002", "tax_code": E1, **PARCEL, "amount_vnd": 500_000, "status": "paid"},
        ],
    }


def publish_all(url: str, data_dir: Path, data: dict[str, list[dict[str, Any]]]) -> None:
    for name, rows in data.items():
        s = SPECS[name]
        publish(url, s, [pa.Table.from_pylist(rows, schema=s.schema)], data_dir=data_dir)


def test_profiles_and_match_statistics(db_url: str, tmp_path: Path) -> None:
    publish_all(db_url, tmp_path, records())
    report = build_views(db_url, tmp_path)
    assert set(report.published) == {"enterprise_profile", "parcel_profile", "view_match_stats", "view_unmatched"}

    profiles = {r["enterprise_code"]: r for r in snapshots.read_version(tmp_path, "enterprise_profile").to_pylist()}
    assert profiles[E1]["tax_status_code"] == "00"
    assert (profiles[E1]["parcels_held"], profiles[E1]["permits_granted"], profiles[E1]["branches"]) == (1, 1, 1)
    assert profiles[E1]["parcel_area_m2"] == Decimal("120.50")
    assert profiles[E1]["last_permit_date"] == dt.date(2025, 4, 1)
    assert profiles[E2]["tax_status_code"] is None and profiles[E2]["parcels_held"] == 0

    parcels = {(r["commune_code_source"], r["map_sheet"], r["parcel_number"]): r
               for r in snapshots.read_version(tmp_path, "parcel_profile").to_pylist()}
    p = parcels[("00004", 12, 345)]
    assert (p["certificates"], p["permits"], p["tax_notices"], p["unpaid_notices"]) == (1, 2, 2, 1)
    assert p["tax_amount_vnd"] == 2_000_000 and p["latest_certificate_no"] == "CS 000001"

    stats = {s["relation"]: s for s in report.match_stats}
    assert (stats["enterprise->taxpayer"]["matched"], stats["enterprise->taxpayer"]["unmatched"]) == (1, 1)
    assert stats["permit.investor->enterprise"]["total"] == 2  # the individual investor is not counted
    assert stats["permit.investor->enterprise"]["unmatched"] == 1
    assert stats["permit->parcel"]["unmatched"] == 1
    assert stats["parcel.holder->enterprise"]["unmatched"] == 1
    assert stats["notice->parcel"]["match_rate"] == 1.0
    unmatched = snapshots.read_version(tmp_path, "view_unmatched").to_pylist()
    assert {(u["relation"], u["reference"]) for u in unmatched} >= {
        ("permit.investor->enterprise", GHOST), ("parcel.holder->enterprise", GHOST), ("enterprise->taxpayer", E2),
    }


def test_views_rebuild_only_when_inputs_change(db_url: str, tmp_path: Path) -> None:
    data = records()
    publish_all(db_url, tmp_path, data)
    build_views(db_url, tmp_path)
    again = build_views(db_url, tmp_path)
    profile_views = ("enterprise_profile", "parcel_profile")  # no receipts here: the obligations views wait
    assert again.skipped["tax_obligations"] == "inputs not published yet: payment_receipts"
    assert {k: v for k, v in again.skipped.items() if k in profile_views} == dict.fromkeys(
        profile_views, "inputs unchanged")

    s = SPECS["taxpayers"]
    publish(db_url, s, [pa.Table.from_pylist([{"tax_code": E2, "status_code": "04"}], schema=s.schema)],
            data_dir=tmp_path)
    third = build_views(db_url, tmp_path)
    assert "enterprise_profile" in third.published
    assert {k: v for k, v in third.skipped.items() if k in profile_views} == {"parcel_profile": "inputs unchanged"}
    profiles = {r["enterprise_code"]: r for r in snapshots.read_version(tmp_path, "enterprise_profile").to_pylist()}
    assert profiles[E2]["tax_status_code"] == "04"
    assert third.published["enterprise_profile"].version == 2
