"""The transforms a contract may name, by name: each takes the source arrays and returns a Normalized."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from schemas.normalize import admin_units, dates, ids, numbers, text
from schemas.normalize import text as text_module
from schemas.normalize.result import Normalized, as_array

Transform = Callable[[Sequence[pa.Array]], Normalized]


def _one(function: Callable[[pa.Array], Normalized]) -> Transform:
    def apply(inputs: Sequence[pa.Array]) -> Normalized:
        (values,) = inputs
        return function(values)

    return apply


def _copy(values: pa.Array) -> Normalized:
    return Normalized.ok(as_array(values))


def _building_grade(values: pa.Array) -> Normalized:
    """A building grade (cấp công trình) as the canonical `Đặc biệt`, `I` .. `IV`: `Cấp III`, `cấp đặc biệt`
    and `III` are the same grade (Thông tư 06/2021/TT-BXD names grades đặc biệt, I, II, III, IV)."""
    text = text_module.clean_text(values)
    bare = pc.utf8_trim_whitespace(pc.replace_substring_regex(text, r"(?i)^c(ấ|â|a)p\s+", ""))
    special = pc.fill_null(pc.match_substring_regex(pc.utf8_lower(bare), r"^(đặc biệt|dac biet)$"), False)
    return Normalized.ok(pc.if_else(special, pa.scalar("Đặc biệt"), pc.utf8_upper(bare)))


def _party_type(values: pa.Array) -> Normalized:
    """`individual` for a 12-digit citizen ID, `enterprise` for a 10- or 13-digit tax code, else null: for
    a source that names a party only by its identifier (the identifier's own column reports a bad one)."""
    length = pc.utf8_length(ids.compact(values))
    kind = pc.if_else(pc.equal(length, 12), pa.scalar("individual"),
                      pc.if_else(pc.is_in(length, value_set=pa.array([10, 13], length.type)), pa.scalar("enterprise"),
                                 pa.scalar(None, pa.string())))
    return Normalized.ok(as_array(kind))


TRANSFORMS: Mapping[str, Transform] = {
    "copy": _one(_copy),
    "text": _one(text.normalize_text),
    "search_key": _one(text.normalize_search_key),
    "code": _one(text.normalize_code),
    "tax_code": _one(ids.normalize_tax_code),
    "citizen_id": _one(ids.normalize_citizen_id),
    "party_id": _one(ids.normalize_party_id),
    "party_type": _one(_party_type),
    "date": _one(dates.parse_date),
    "int": _one(numbers.normalize_int),
    "vnd": _one(numbers.normalize_vnd),
    "area": _one(numbers.normalize_area),
    "timestamp": _one(numbers.normalize_timestamp),
    "bool": _one(numbers.normalize_bool),
    "building_grade": _one(_building_grade),
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


def _generation(generation: admin_units.Generation) -> Transform:
    """Inputs ([province,] commune) from a system that writes one declared generation, or a mix."""

    def apply(inputs: Sequence[pa.Array]) -> Normalized:
        province = inputs[0] if len(inputs) > 1 else None
        return admin_units.recode(province, None, inputs[-1], generation=generation)

    return apply


SWITCH_DATE = pa.scalar(datetime.date(2025, 7, 1), pa.date32())  # the two-level units took effect


def _admin_units_by_date(inputs: Sequence[pa.Array]) -> Normalized:
    """Inputs (record date, [province,] commune): pre-2025 codes on records dated before 1 July 2025.

    A record without a readable date is read as from a mixed source (flagged where its code could be either).
    """
    when = dates.parse_date(as_array(inputs[0])).values
    province = inputs[1] if len(inputs) > 2 else None
    return admin_units.recode(province, None, inputs[-1], legacy=pc.less(when, SWITCH_DATE))


# multi-output transforms a contract runs as a step; name -> (outputs, function)
STEP_FUNCTIONS: Mapping[str, tuple[str, ...]] = {
    "admin_units": _ADMIN_OUTPUTS,
    "admin_units_current": _ADMIN_OUTPUTS,
    "admin_units_pre2025": _ADMIN_OUTPUTS,
    "admin_units_mixed": _ADMIN_OUTPUTS,
    "admin_units_by_date": _ADMIN_OUTPUTS,
}
STEP_IMPLEMENTATIONS: Mapping[str, Transform] = {
    "admin_units": _admin_units,
    "admin_units_current": _admin_units_current,
    "admin_units_pre2025": _generation("pre2025"),
    "admin_units_mixed": _generation("mixed"),
    "admin_units_by_date": _admin_units_by_date,
}
