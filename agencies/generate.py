"""Each agency's records, derived from the shared world one index at a time.

`build(world, dataset, index)` is a pure function: the same (seed, N, dataset, index) gives the same
record, whichever agency is generated and in whatever order. `stream` yields them in chunks so
millions of records fit in bounded memory.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import cache

from agencies import ids, names
from agencies.adminunits import Province
from agencies.base import Record
from agencies.datasets import spec
from agencies.world import HISTORY_END, Parcel, World, iso

LEGACY_SHARE = 0.20  # land and tax records still under pre-2025 codes
UNKNOWN_INVESTOR_SHARE = 0.05
UNKNOWN_PARCEL_SHARE = 0.03
_CERT_SERIES = ("CS", "CT", "CH", "BA", "BD", "BE", "BK", "BL")
_STATUS_CODES = ("00", "01", "02", "03", "04", "05", "06", "07", "08", "09", "10")
_BUSINESS_TO_TAX_STATUS = {"active": "00", "suspended": "05", "dissolving": "03", "dissolved": "01", "bankrupt": "02"}


def initial_count(world: World, dataset: str) -> int:
    s = world.sizes
    return {
        "parcels": s.parcels, "land_certificates": s.certificates,
        "enterprises": s.enterprises, "branches": s.branches,
        "permits": s.permits,
        "taxpayers": s.enterprises + s.branches + s.tax_individuals, "land_tax_notices": s.notices,
        "payment_receipts": s.notices, "district_permits": max(10, world.records // 5),
    }[dataset]


def _date_as_written(rng: random.Random, moment: datetime, legacy_format: str | None, share: float) -> str:
    if legacy_format is not None and rng.random() < share:
        return moment.strftime(legacy_format)
    return moment.strftime("%Y-%m-%d")


def _before(rng: random.Random, moment: datetime, max_days: int) -> datetime:
    return moment - timedelta(days=rng.randrange(max_days), seconds=rng.randrange(86400))


def _land_legacy(world: World, parcel: Parcel) -> bool:
    """Whether the land registry still holds this parcel under its pre-2025 codes (per parcel)."""
    return parcel.old_commune is not None and world.rng("land-legacy", parcel.index).random() < LEGACY_SHARE


def _parcel_codes(world: World, parcel: Parcel, legacy: bool) -> tuple[str, str, str, str]:
    """(province, district, commune, address) under current or legacy codes."""
    old = parcel.old_commune
    if legacy and old is not None:
        address = f"Số {parcel.house_number} {parcel.street}, {old.name}, {old.province_name}"
        return old.province_code, old.district_code, old.code, address
    address = f"Số {parcel.house_number} {parcel.street}, {parcel.commune.name}, {world.province.name}"
    return world.province.code, "", parcel.commune.code, address


def parcel(world: World, p: int) -> Record:
    rng = world.rng("land-parcel", p)
    land = world.parcel(p)
    province, district, commune, address = _parcel_codes(world, land, _land_legacy(world, land))
    holder_type, holder_id, holder_name = world.holder(land)
    return {
        "communeCode": commune, "mapSheet": land.map_sheet, "parcelNumber": land.parcel_number,
        "provinceCode": province, "districtCode": district, "address": address, "areaM2": land.area_m2,
        "landUseCode": land.land_use, "holderType": holder_type, "holderId": holder_id,
        "holderName": names.as_written(rng, holder_name), "updatedAt": iso(world.history_time(rng)),
        "deleted": False,
    }


def certificate(world: World, c: int) -> Record:
    rng = world.rng("land-certificate", c)
    land = world.parcel(c % world.sizes.parcels)
    _, _, commune, _ = _parcel_codes(world, land, _land_legacy(world, land))
    _, holder_id, holder_name = world.holder(land)
    updated = world.history_time(rng)
    series = _CERT_SERIES[(c // 1_000_000) % len(_CERT_SERIES)]
    number = (c % 1_000_000 * 370_471 + 5_011) % 1_000_000
    return {
        "certificateNo": f"{series} {number:06d}", "communeCode": commune, "mapSheet": land.map_sheet,
        "parcelNumber": land.parcel_number, "holderId": holder_id,
        "holderName": names.as_written(rng, holder_name),
        "issuedDate": _date_as_written(rng, _before(rng, updated, 3650), "%d/%m/%Y", 0.2),
        "updatedAt": iso(updated), "deleted": False,
    }


def enterprise(world: World, e: int) -> Record:
    rng = world.rng("business-enterprise", e)
    ent = world.enterprise(e)
    rep = world.person(ent.legal_rep)
    updated = max(world.history_time(rng), ent.registered + timedelta(days=1))
    return {
        "enterpriseCode": ent.tax_code, "name": names.as_written(rng, ent.name),
        "enterpriseType": ent.enterprise_type, "status": ent.status,
        "registeredDate": ent.registered.strftime("%Y-%m-%d"), "charterCapitalVnd": ent.capital_vnd,
        "provinceCode": world.province.code, "communeCode": ent.commune.code, "address": ent.address,
        "legalRepName": names.as_written(rng, rep.name), "legalRepId": rep.citizen_id,
        "updatedAt": iso(min(updated, HISTORY_END)),
    }


def _branch_parent(world: World, b: int) -> tuple[int, int]:
    """(parent enterprise index, branch number): a bijection, so branch codes never collide."""
    count = world.sizes.enterprises
    multiplier = next(m for m in range(7919, 7919 + 1000) if math.gcd(m, count) == 1)
    return (b % count) * multiplier % count, b // count + 1


def branch(world: World, b: int) -> Record:
    rng = world.rng("business-branch", b)
    parent_index, number = _branch_parent(world, b)
    parent = world.enterprise(parent_index)
    commune = rng.choice(world.province.communes)
    name = f"{parent.name} - Chi nhánh {_short_name(commune.name)}"
    return {
        "branchCode": ids.branch_code(parent.tax_code, number), "enterpriseCode": parent.tax_code,
        "name": names.as_written(rng, name), "provinceCode": world.province.code, "communeCode": commune.code,
        "address": names.street_address(rng, commune.name, world.province.name),
        "status": "active" if parent.status == "active" and rng.random() < 0.95 else "suspended",
        "updatedAt": iso(world.history_time(rng)),
    }


def permit(world: World, j: int) -> Record:
    rng = world.rng("construction-permit", j)
    land = world.parcel(rng.randrange(world.sizes.parcels))
    if rng.random() < UNKNOWN_INVESTOR_SHARE:
        investor_type, investor_id, investor_name = world.unknown_investor(j, rng)
    else:
        investor_type, investor_id, investor_name = world.holder(land)
    floors = min(40, max(1, int(rng.lognormvariate(1.0, 0.7))))
    grade = "IV" if floors <= 3 else "III" if floors <= 8 else "II" if floors <= 20 else "I"
    # the year is a function of the serial block, so permit numbers stay unique past a million
    year = 2019 + (j // 1_000_000 + world.rng("permit-year", j % 1_000_000).randrange(7)) % 7
    issued = datetime(year, 1, 1, tzinfo=UTC) + timedelta(days=rng.randrange(364))
    updated = issued + timedelta(days=rng.randrange(60), seconds=rng.randrange(86400))
    footprint = float(land.area_m2) * rng.uniform(0.4, 0.8)
    return {
        "permit_no": f"GPXD-{year}-{(j % 1_000_000 * 370_471 + 7) % 1_000_000:06d}",
        "investor_id": investor_id, "investor_name": names.as_written(rng, investor_name),
        "investor_type": investor_type, "province_code": world.province.code,
        "commune_code": land.commune.code, "map_sheet": land.map_sheet, "parcel_number": land.parcel_number,
        "floors": floors, "floor_area_m2": round(footprint * floors, 2), "building_grade": grade,
        "issued_date": _date_as_written(rng, issued, "%d-%m-%Y", 0.15),
        "status": rng.choices(("granted", "expired", "revoked"), (85, 10, 5))[0],
        "updated_at": iso(min(updated, HISTORY_END)),
    }


def _short_name(unit: str) -> str:
    for prefix in ("Thành phố ", "Tỉnh ", "Phường ", "Xã ", "Đặc khu "):
        if unit.startswith(prefix):
            return unit.removeprefix(prefix)
    return unit


def _tax_codes(world: World, rng: random.Random, commune_code: str) -> tuple[str, str, str]:
    """(province, district, commune) as the tax department holds them: ~20% legacy."""
    commune = world.province.commune(commune_code)
    if commune.sources and rng.random() < LEGACY_SHARE:
        old = rng.choice(commune.sources)
        return old.province_code, old.district_code, old.code
    return world.province.code, "", commune.code


def taxpayer(world: World, t: int) -> Record:
    rng = world.rng("tax-taxpayer", t)
    s = world.sizes
    if t < s.enterprises:
        ent = world.enterprise(t)
        code, name, kind, commune = ent.tax_code, ent.name, "enterprise", ent.commune.code
        status = _BUSINESS_TO_TAX_STATUS[ent.status] if rng.random() < 0.9 else rng.choice(_STATUS_CODES)
        registered = ent.registered + timedelta(days=rng.randrange(30))
    elif t < s.enterprises + s.branches:
        record = branch(world, t - s.enterprises)
        code, name, kind, commune = record["branchCode"], record["name"].strip(), "branch", record["communeCode"]
        status = "00" if record["status"] == "active" else "05"
        registered = datetime(2005, 1, 1, tzinfo=UTC) + timedelta(days=rng.randrange(7300))
    else:
        person = world.person(t - s.enterprises - s.branches)
        code, name, kind = person.citizen_id, person.name, "individual"
        commune = rng.choice(world.province.communes).code
        status = rng.choices(_STATUS_CODES, (90, 2, 2, 1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5))[0]
        registered = datetime(2025, 7, 1, tzinfo=UTC) - timedelta(days=rng.randrange(5000))
    province, district, commune_code = _tax_codes(world, rng, commune)
    updated = world.history_time(rng)
    return {
        "tax_code": code, "name": names.as_written(rng, name), "taxpayer_type": kind, "status_code": status,
        "tax_office": f"Thuế cơ sở {1 + int(commune) % 12} {_short_name(world.province.name)}",
        "province_code": province, "district_code": district, "commune_code": commune_code,
        "registered_date": _date_as_written(rng, registered, "%d/%m/%Y", 0.2),
        "updated_at": iso(updated), "deleted": False,
    }


def notice(world: World, j: int) -> Record:
    return _notice(world, j)[0]


def _notice(world: World, j: int) -> tuple[Record, str]:
    """A notice and its taxpayer's registered name (the treasury writes the payer's name)."""
    rng = world.rng("tax-notice", j)
    if rng.random() < UNKNOWN_PARCEL_SHARE:
        # a parcel the land registry does not have: past the last map sheet
        commune = rng.choice(world.province.communes).code
        sheet, number = 9000 + rng.randrange(900), rng.randint(1, 997)
        _, tax_code, payer = world.holder(world.parcel(rng.randrange(world.sizes.parcels)))
    else:
        land = world.parcel(rng.randrange(world.sizes.parcels))
        commune, sheet, number = land.commune.code, land.map_sheet, land.parcel_number
        _, tax_code, payer = world.holder(land)
    province, district, commune_code = _tax_codes(world, rng, commune)
    year = 2020 + rng.randrange(6)
    due = datetime(year, rng.choice((5, 10)), 31 if rng.random() < 0.5 else 30, tzinfo=UTC)
    updated = min(due + timedelta(days=rng.randrange(-120, 200), seconds=rng.randrange(86400)), HISTORY_END)
    return {
        "notice_no": f"TB-{year}-{(j * 3_456_789 + 12_345) % 10_000_000:07d}", "tax_code": tax_code,
        "province_code": province, "district_code": district, "commune_code": commune_code,
        "map_sheet": sheet, "parcel_number": number, "tax_year": year,
        "amount_vnd": rng.randrange(50, 50_000) * 1_000,
        "due_date": _date_as_written(rng, due, "%d/%m/%Y", 0.2),
        "status": rng.choices(("issued", "paid", "overdue", "cancelled"), (20, 65, 12, 3))[0],
        "updated_at": iso(updated), "deleted": False,
    }, payer


def _due(text: str) -> datetime:
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            pass
    raise ValueError(text)


def receipt(world: World, r: int) -> Record:
    """Receipt r pays notice r (PROTOCOL.md, "State Treasury"): in full, in part, late, or against no notice.

    A paid notice is paid in full (12% after its due date); an overdue one in part and late; an issued
    one half, on time. A cancelled notice's receipt is a land-use fee with no notice number, and 2% of
    receipts carry a mistyped notice number: the obligations view must show both as unmatched.
    """
    rng = world.rng("treasury-receipt", r)
    notice_record, payer = _notice(world, r)
    amount, due = int(notice_record["amount_vnd"]), _due(notice_record["due_date"])
    status = notice_record["status"]
    notice_no, kind = str(notice_record["notice_no"]), "Thuế sử dụng đất phi nông nghiệp"
    if status == "paid":
        paid = amount
        when = due + timedelta(days=rng.randint(1, 90)) if rng.random() < 0.12 else _before(rng, due, 120)
    elif status == "overdue":
        paid = max(1000, amount * rng.randint(3, 7) // 10 // 1000 * 1000)
        when = due + timedelta(days=rng.randint(1, 150))
    elif status == "issued":
        paid = max(1000, amount // 2 // 1000 * 1000)
        when = _before(rng, due, 60)
    else:
        paid, notice_no, kind = rng.randrange(100, 20_000) * 1_000, "", "Tiền sử dụng đất"
        when = _before(rng, due, 200)
    if notice_no and rng.random() < 0.02:  # a clerk's typo: the last digit
        notice_no = notice_no[:-1] + str((int(notice_no[-1]) + 1 + rng.randrange(8)) % 10)
    when = min(when.replace(hour=0, minute=0, second=0), HISTORY_END - timedelta(days=1))
    booked = when + timedelta(hours=1 + rng.randrange(9), minutes=rng.randrange(60), seconds=rng.randrange(60))
    return {
        "so_chung_tu": f"GNT{booked.year}-{(r * 7_654_321 + 97) % 100_000_000:08d}", "so_thong_bao": notice_no,
        "ma_so_thue": notice_record["tax_code"], "ten_nguoi_nop": names.as_written(rng, payer),
        "loai_thu": kind, "so_tien": str(paid), "ngay_nop": when.strftime("%d/%m/%Y"),
        "ma_kho_bac": rng.choice(("0311", "0312", "0315")), "tai_khoan_thu": "7111",  # 7111: NSNN revenue
        "thoi_diem_ghi_so": spec("payment_receipts").wire_time(booked), "da_huy": False,
    }


DISTRICT_SWITCH = datetime(2025, 7, 1, tzinfo=UTC)  # the two-level units took effect; new codes after it
_GRADES = ("Cấp IV", "Cấp III", "Cấp II", "Cấp I", "Cấp đặc biệt")


def district_code(world: World) -> str:
    """The old district whose register is simulated: the one with the most old communes."""
    return _district_of(world.province)


@cache
def _district_of(province: Province) -> str:
    counts: dict[str, int] = {}
    for commune in province.communes:
        for old in commune.sources:
            counts[old.district_code] = counts.get(old.district_code, 0) + 1
    return min(counts, key=lambda d: (-counts[d], d))


def district_permit(world: World, j: int) -> Record:
    """A district register's permit: numbered `05/GPXD-UBND`, on a parcel of the district, the parcel
    nested; before 1 July 2025 the register wrote the old commune code, after it the new one."""
    rng = world.rng("district-permit", j)
    district = district_code(world)
    land = world.parcel(rng.randrange(world.sizes.parcels))
    for _ in range(40):
        if land.old_commune is not None and land.old_commune.district_code == district:
            break
        land = world.parcel(rng.randrange(world.sizes.parcels))
    if rng.random() < UNKNOWN_INVESTOR_SHARE:
        _, investor_id, investor = world.unknown_investor(j, rng)
    else:
        _, investor_id, investor = world.holder(land)
    issued = datetime(2023, 1, 1, tzinfo=UTC) + timedelta(days=rng.randrange(3 * 365 - 10))
    updated = min(issued + timedelta(days=rng.randrange(30), seconds=rng.randrange(86400)), HISTORY_END)
    legacy = issued < DISTRICT_SWITCH and land.old_commune is not None
    commune = land.old_commune.code if legacy and land.old_commune else land.commune.code
    floors = min(60, max(1, int(rng.lognormvariate(0.8, 0.6))))
    grade = _GRADES[0 if floors <= 1 else 1 if floors <= 7 else 2 if floors <= 24 else 3 if floors <= 49 else 4]
    area = float(land.area_m2) * rng.uniform(0.5, 0.9) * floors
    return {
        "so_giay_phep": f"{j + 1:02d}/GPXD-UBND", "ngay_cap": issued.strftime("%d/%m/%Y"),
        "chu_dau_tu": names.as_written(rng, investor), "so_dinh_danh": investor_id,
        "thua_dat": {"ma_xa": commune, "so_to": str(land.map_sheet), "so_thua": str(land.parcel_number)},
        "dia_chi": f"Số {land.house_number} {land.street}",
        "so_tang": str(floors), "dien_tich_san": f"{area:.2f}", "cap_cong_trinh": grade,
        "trang_thai": rng.choices(("Đã cấp", "Hết hiệu lực", "Thu hồi"), (88, 8, 4))[0],
        "ngay_cap_nhat": spec("district_permits").wire_time(updated),
    }


BUILDERS: dict[str, Callable[[World, int], Record]] = {
    "parcels": parcel, "land_certificates": certificate, "enterprises": enterprise, "branches": branch,
    "permits": permit, "taxpayers": taxpayer, "land_tax_notices": notice,
    "payment_receipts": receipt, "district_permits": district_permit,
}


def build(world: World, dataset: str, index: int) -> Record:
    """Record number `index` of `dataset`. Indexes past the initial count are the advances' inserts."""
    return BUILDERS[dataset](world, index)


def stream(world: World, dataset: str, start: int, stop: int, chunk: int = 10_000) -> Iterator[list[Record]]:
    """Records start..stop-1 in chunks, for bounded-memory bulk loads."""
    spec(dataset)  # fail early on an unknown dataset
    for low in range(start, stop, chunk):
        yield [build(world, dataset, i) for i in range(low, min(stop, low + chunk))]
