"""What each agency dataset looks like on the wire: key, cursor field, deletes, fields and their types.

The field lists are PROTOCOL.md's, in its order; the ground truth uses the types for its Parquet columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from agencies.base import AgencyName, Record

FieldType = Literal["str", "int", "float", "bool"]
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

    def key_of(self, record: Record) -> str:
        return "/".join(str(record[f]) for f in self.key_fields)

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
    )
}


def spec(dataset: str) -> DatasetSpec:
    try:
        return SPECS[dataset]
    except KeyError:
        raise KeyError(f"unknown dataset {dataset!r}; expected one of {sorted(SPECS)}") from None
