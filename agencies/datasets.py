"""What each agency dataset looks like on the wire: key, cursor field, deletes, fields and their types.

The field lists are PROTOCOL.md's, in its order; the ground truth uses the types for its Parquet columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal

from agencies.base import AgencyName, Record

FieldType = Literal["str", "int", "float", "bool"]
VIETNAM = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")  # no daylight saving since 1975


def get_path(record: Record, path: str) -> Any:
    """A field by dotted path (`thua_dat.ma_xa`): district records nest the parcel."""
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def set_path(record: Record, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    target = record
    for part in parents:
        target = target.setdefault(part, {})
    target[last] = value


def pop_path(record: Record, path: str) -> Any:
    *parents, last = path.split(".")
    target: Any = record
    for part in parents:
        target = target.get(part) if isinstance(target, dict) else None
    return target.pop(last, None) if isinstance(target, dict) else None
DeleteStyle = Literal["tombstone", "tombstone_key_only", "absence"]


@dataclass(frozen=True, slots=True)
class DatasetSpec:
    agency: AgencyName
    name: str
    key_fields: tuple[str, ...]
    updated_field: str
    deletes: DeleteStyle
    fields: tuple[tuple[str, FieldType], ...]
    name_field: str  # the person or company name: where NFD, stray spaces and invalid UTF-8 land
    date_field: str | None  # the business date "as written"
    taxcode_field: str | None  # a tax code that is not the key: where bad check digits land
    amount_field: str | None  # an area or amount: where negative values land
    commune_field: str | None  # a commune code that is not part of the key
    int_field: str | None  # an integer field, for type drift
    # "utc": `2025-03-04T05:06:07Z`; "local": `2025-03-04 12:06:07`, zone-less, in Vietnam's time (UTC+7)
    time_style: Literal["utc", "local"] = "utc"
    tombstone_field: str = "deleted"

    def key_of(self, record: Record) -> str:
        return "/".join(str(get_path(record, f)) for f in self.key_fields)

    def wire_time(self, moment: datetime) -> str:
        """A moment as this dataset writes it in `updated_field`."""
        if self.time_style == "local":
            return moment.astimezone(VIETNAM).strftime("%Y-%m-%d %H:%M:%S")
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def feed_time(self, record: Record) -> str:
        """The record's `updated_field` as the store orders the feed: ISO 8601 UTC with Z."""
        text = str(record[self.updated_field])
        if self.time_style == "local":
            moment = datetime.fromisoformat(text).replace(tzinfo=VIETNAM)
            return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return text

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.fields)


_PARCEL: tuple[tuple[str, FieldType], ...] = (
    ("communeCode", "str"), ("mapSheet", "int"), ("parcelNumber", "int"), ("provinceCode", "str"),
    ("districtCode", "str"), ("address", "str"), ("areaM2", "str"), ("landUseCode", "str"),
    ("holderType", "str"), ("holderId", "str"), ("holderName", "str"), ("updatedAt", "str"), ("deleted", "bool"),
)
_CERTIFICATE: tuple[tuple[str, FieldType], ...] = (
    ("certificateNo", "str"), ("communeCode", "str"), ("mapSheet", "int"), ("parcelNumber", "int"),
    ("holderId", "str"), ("holderName", "str"), ("issuedDate", "str"), ("updatedAt", "str"), ("deleted", "bool"),
)
_ENTERPRISE: tuple[tuple[str, FieldType], ...] = (
    ("enterpriseCode", "str"), ("name", "str"), ("enterpriseType", "str"), ("status", "str"),
    ("registeredDate", "str"), ("charterCapitalVnd", "int"), ("provinceCode", "str"), ("communeCode", "str"),
    ("address", "str"), ("legalRepName", "str"), ("legalRepId", "str"), ("updatedAt", "str"),
)
_BRANCH: tuple[tuple[str, FieldType], ...] = (
    ("branchCode", "str"), ("enterpriseCode", "str"), ("name", "str"), ("provinceCode", "str"),
    ("communeCode", "str"), ("address", "str"), ("status", "str"), ("updatedAt", "str"),
)
_PERMIT: tuple[tuple[str, FieldType], ...] = (
    ("permit_no", "str"), ("investor_id", "str"), ("investor_name", "str"), ("investor_type", "str"),
    ("province_code", "str"), ("commune_code", "str"), ("map_sheet", "int"), ("parcel_number", "int"),
    ("floors", "int"), ("floor_area_m2", "float"), ("building_grade", "str"), ("issued_date", "str"),
    ("status", "str"), ("updated_at", "str"),
)
_TAXPAYER: tuple[tuple[str, FieldType], ...] = (
    ("tax_code", "str"), ("name", "str"), ("taxpayer_type", "str"), ("status_code", "str"),
    ("tax_office", "str"), ("province_code", "str"), ("district_code", "str"), ("commune_code", "str"),
    ("registered_date", "str"), ("updated_at", "str"), ("deleted", "bool"),
)
_NOTICE: tuple[tuple[str, FieldType], ...] = (
    ("notice_no", "str"), ("tax_code", "str"), ("province_code", "str"), ("district_code", "str"),
    ("commune_code", "str"), ("map_sheet", "int"), ("parcel_number", "int"), ("tax_year", "int"),
    ("amount_vnd", "int"), ("due_date", "str"), ("status", "str"), ("updated_at", "str"), ("deleted", "bool"),
)

# State Treasury (Kho bạc Nhà nước): receipts of land taxes and land-use fees, Vietnamese names,
# amounts as strings, dates dd/mm/yyyy, zone-less local times, `da_huy` marks a voided receipt.
_RECEIPT: tuple[tuple[str, FieldType], ...] = (
    ("so_chung_tu", "str"), ("so_thong_bao", "str"), ("ma_so_thue", "str"), ("ten_nguoi_nop", "str"),
    ("loai_thu", "str"), ("so_tien", "str"), ("ngay_nop", "str"), ("ma_kho_bac", "str"),
    ("tai_khoan_thu", "str"), ("thoi_diem_ghi_so", "str"), ("da_huy", "bool"),
)
# A district's permit register: its own numbering, the parcel nested, numbers as strings, pre-2025
# commune codes on permits granted before 1 July 2025.
_DISTRICT_PERMIT: tuple[tuple[str, FieldType], ...] = (
    ("so_giay_phep", "str"), ("ngay_cap", "str"), ("chu_dau_tu", "str"), ("so_dinh_danh", "str"),
    ("thua_dat.ma_xa", "str"), ("thua_dat.so_to", "str"), ("thua_dat.so_thua", "str"), ("dia_chi", "str"),
    ("so_tang", "str"), ("dien_tich_san", "str"), ("cap_cong_trinh", "str"), ("trang_thai", "str"),
    ("ngay_cap_nhat", "str"),
)

SPECS: Mapping[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec("land", "parcels", ("communeCode", "mapSheet", "parcelNumber"), "updatedAt", "tombstone",
                    _PARCEL, "holderName", None, "holderId", "areaM2", None, "mapSheet"),
        DatasetSpec("land", "land_certificates", ("certificateNo",), "updatedAt", "tombstone",
                    _CERTIFICATE, "holderName", "issuedDate", "holderId", None, None, "parcelNumber"),
        DatasetSpec("business", "enterprises", ("enterpriseCode",), "updatedAt", "absence",
                    _ENTERPRISE, "name", "registeredDate", None, "charterCapitalVnd", "communeCode",
                    "charterCapitalVnd"),
        DatasetSpec("business", "branches", ("branchCode",), "updatedAt", "absence",
                    _BRANCH, "name", None, "enterpriseCode", None, "communeCode", None),
        DatasetSpec("construction", "permits", ("permit_no",), "updated_at", "absence",
                    _PERMIT, "investor_name", "issued_date", "investor_id", "floor_area_m2", "commune_code",
                    "floors"),
        DatasetSpec("tax", "taxpayers", ("tax_code",), "updated_at", "tombstone_key_only",
                    _TAXPAYER, "name", "registered_date", None, None, "commune_code", None),
        DatasetSpec("tax", "land_tax_notices", ("notice_no",), "updated_at", "tombstone_key_only",
                    _NOTICE, "status", "due_date", "tax_code", "amount_vnd", "commune_code", "tax_year"),
        DatasetSpec("treasury", "payment_receipts", ("so_chung_tu",), "thoi_diem_ghi_so", "tombstone",
                    _RECEIPT, "ten_nguoi_nop", "ngay_nop", "ma_so_thue", "so_tien", None, None,
                    time_style="local", tombstone_field="da_huy"),
        DatasetSpec("district", "district_permits", ("so_giay_phep",), "ngay_cap_nhat", "absence",
                    _DISTRICT_PERMIT, "chu_dau_tu", "ngay_cap", "so_dinh_danh", "dien_tich_san", None, None,
                    time_style="local"),
    )
}


def spec(dataset: str) -> DatasetSpec:
    try:
        return SPECS[dataset]
    except KeyError:
        raise KeyError(f"unknown dataset {dataset!r}; expected one of {sorted(SPECS)}") from None
