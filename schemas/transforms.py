"""The transforms a contract may name, by name: each takes the source arrays and returns a Normalized."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import pyarrow as pa

from schemas.normalize import admin_units, dates, ids, numbers, text
from schemas.normalize.result import Normalized, as_array

Transform = Callable[[Sequence[pa.Array]], Normalized]


def _one(function: Callable[[pa.Array], Normalized]) -> Transform:
    def apply(inputs: Sequence[pa.Array]) -> Normalized:
        (values,) = inputs
        return function(values)

    return apply


def _copy(values: pa.Array) -> Normalized:
    return Normalized.ok(as_array(values))


TRANSFORMS: Mapping[str, Transform] = {
    "copy": _one(_copy),
    "text": _one(text.normalize_text),
    "search_key": _one(text.normalize_search_key),
    "code": _one(text.normalize_code),
    "tax_code": _one(ids.normalize_tax_code),
    "citizen_id": _one(ids.normalize_citizen_id),
    "party_id": _one(ids.normalize_party_id),
    "date": _one(dates.parse_date),
    "int": _one(numbers.normalize_int),
    "vnd": _one(numbers.normalize_vnd),
    "area": _one(numbers.normalize_area),
    "timestamp": _one(numbers.normalize_timestamp),
    "bool": _one(numbers.normalize_bool),
}

_ADMIN_OUTPUTS = ("province_code", "commune_code", "province_code_source", "district_code_source",
                  "commune_code_source", "admin_legacy", "admin_review")


def _admin_units(inputs: Sequence[pa.Array]) -> Normalized:
    """Inputs (province, district, commune); a record is legacy when its district is non-empty."""
    province, district, commune = inputs
    return admin_units.recode(province, district, commune)


def _admin_units_current(inputs: Sequence[pa.Array]) -> Normalized:
    """Inputs (province, commune) from a system that only writes 2025 codes (no district field)."""
    province, commune = inputs
    return admin_units.recode(province, None, commune)


# multi-output transforms a contract runs as a step; name -> (outputs, function)
STEP_FUNCTIONS: Mapping[str, tuple[str, ...]] = {
    "admin_units": _ADMIN_OUTPUTS,
    "admin_units_current": _ADMIN_OUTPUTS,
}
STEP_IMPLEMENTATIONS: Mapping[str, Transform] = {
    "admin_units": _admin_units,
    "admin_units_current": _admin_units_current,
}
