"""Clean wire records for tests, in the shape the simulators serve (PROTOCOL.md), and batches of them."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from stdnum.vn import mst

from schemas.contract import get_contract
from schemas.normalize.admin_units import reference
from schemas.wire import batch_from_records


def tax_code(i: int) -> str:
    """A valid, distinct 10-digit MST per i (the province prefix moves on when the check digit would be 10)."""
    for prefix in range(1, 100):
        body = f"{prefix:02d}{1 + i % 9_999_999:07d}"
        check = mst.calc_check_digit(body)
        if len(check) == 1:
            return body + check
    raise AssertionError(i)


def citizen_id(i: int) -> str:
    return f"001{2 if i % 2 else 0}{i % 20:02d}{i % 1_000_000:06d}"


def _communes() -> tuple[list[str], list[str], list[str]]:
    ref = reference()
    current = sorted(ref.new_communes)[:50]
    whole = sorted(c for c, t in ref.old_communes.items() if len(t) == 1)[:50]
    split = sorted(c for c, t in ref.old_communes.items() if len(t) > 1)[:50]
    return current, whole, split


def records(dataset: str, n: int) -> list[dict[str, Any]]:
    current, whole, _split = _communes()
    out: list[dict[str, Any]] = []
    for i in range(n):
        ts = f"2025-0{1 + i % 9}-1{i % 10}T0{i % 10}:00:00Z"
        if dataset == "parcels":
            out.append({"communeCode": current[i % 50], "mapSheet": 1 + i // 1000, "parcelNumber": 1 + i % 1000,
                        "provinceCode": "01", "districtCode": "", "address": "Số 1 Phố Huế",
                        "areaM2": f"{100 + i % 900}.5", "landUseCode": "ONT", "holderType": "individual",
                        "holderId": citizen_id(i), "holderName": "Nguyễn Văn Đức", "updatedAt": ts,
                        "deleted": False})
        elif dataset == "enterprises":
            out.append({"enterpriseCode": tax_code(i), "name": "Công ty TNHH Hoà Bình", "enterpriseType": "CP",
                        "status": "active", "registeredDate": "2020-01-31", "charterCapitalVnd": 1_000_000_000,
                        "provinceCode": "01", "communeCode": current[i % 50], "address": "Hà Nội",
                        "legalRepName": "Trần Thị Lan", "legalRepId": citizen_id(i), "updatedAt": ts})
        elif dataset == "tax_notices":
            out.append({"notice_no": f"TB-2025-{i:07d}", "tax_code": tax_code(i), "province_code": "01",
                        "district_code": "001" if i % 5 == 0 else "",
                        "commune_code": whole[i % 50] if i % 5 == 0 else current[i % 50],
                        "map_sheet": 3, "parcel_number": i + 1, "tax_year": 2025, "amount_vnd": 150_000,
                        "due_date": "31/10/2025" if i % 3 else "2025-10-31", "status": "issued",
                        "updated_at": ts, "deleted": False})
        elif dataset == "permits":
            out.append({"permit_no": f"GPXD-2024-{i:06d}", "investor_id": tax_code(i),
                        "investor_name": "Công ty CP Sông Đà",
                        "investor_type": "enterprise", "province_code": "01", "commune_code": current[i % 50],
                        "map_sheet": 2, "parcel_number": i + 1, "floors": 5, "floor_area_m2": 420.25,
                        "building_grade": "III", "issued_date": "15-06-2024", "status": "granted", "updated_at": ts})
        else:
            raise ValueError(dataset)
    return out


def batch(dataset: str, rows: list[dict[str, Any]], page: str = "p1") -> pa.Table:
    return batch_from_records(rows, get_contract(dataset), page=page)
