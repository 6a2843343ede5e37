"""Administrative units: recoding pre-2025 (province/district/commune) codes to the 2025 two-level codes.

Reference: `schemas/reference/admin-units` (dvhcvn, MIT). A record is legacy when its district code is
non-empty (PROTOCOL.md). A legacy commune that went wholly to one new commune is recoded; one that was
split among several is flagged for review and left without a 2025 commune code: never guessed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from schemas.normalize.result import Normalized, as_array, flag, no_errors
from schemas.normalize.text import clean_text

REFERENCE_DIR = Path(__file__).resolve().parent.parent / "reference" / "admin-units"


@dataclass(frozen=True, slots=True)
class AdminUnits:
    new_provinces: frozenset[str]
    new_communes: frozenset[str]
    old_provinces: dict[str, tuple[str, ...]]  # old province -> the new province(s) it went to
    old_communes: dict[str, tuple[str, ...]]  # old commune -> the new commune(s) it went to

    @property
    def all_province_codes(self) -> frozenset[str]:
        return self.new_provinces | frozenset(self.old_provinces)


@cache
def reference(directory: Path = REFERENCE_DIR) -> AdminUnits:
    merges = json.loads((directory / "merges-2025.json").read_text(encoding="utf-8"))["data"]
    splits = json.loads((directory / "splits-2025.json").read_text(encoding="utf-8"))["data"]
    old_provinces: dict[str, tuple[str, ...]] = {}
    old_communes: dict[str, tuple[str, ...]] = {}
    for province in splits:
        old_provinces[province["level1_id"]] = tuple(dict.fromkeys(s["new_id"] for s in province["splits"]))
        for commune in province["level3s"]:
            old_communes[commune["level3_id"]] = tuple(dict.fromkeys(s["new_id"] for s in commune["splits"]))
    return AdminUnits(
        new_provinces=frozenset(p["level1_id"] for p in merges),
        new_communes=frozenset(c["level2_id"] for p in merges for c in p["level2s"]),
        old_provinces=old_provinces,
        old_communes=old_communes,
    )


@dataclass(frozen=True, slots=True)
class _Lookup:
    """Arrow arrays for vectorised lookups, built once."""

    new_provinces: pa.Array
    new_communes: pa.Array
    old_province_keys: pa.Array
    old_province_target: pa.Array  # null where an old province went to several new ones
    old_commune_keys: pa.Array
    old_commune_target: pa.Array  # null where the old commune was split


@cache
def _lookup() -> _Lookup:
    ref = reference()
    provinces = sorted(ref.old_provinces)
    communes = sorted(ref.old_communes)

    def single(targets: tuple[str, ...]) -> str | None:
        return targets[0] if len(targets) == 1 else None

    return _Lookup(
        new_provinces=pa.array(sorted(ref.new_provinces)),
        new_communes=pa.array(sorted(ref.new_communes)),
        old_province_keys=pa.array(provinces),
        old_province_target=pa.array([single(ref.old_provinces[p]) for p in provinces], pa.string()),
        old_commune_keys=pa.array(communes),
        old_commune_target=pa.array([single(ref.old_communes[c]) for c in communes], pa.string()),
    )


def _blank_to_null(values: pa.Array | None, length: int) -> pa.Array:
    if values is None:
        return pa.nulls(length, pa.string())
    return clean_text(as_array(values))


def recode(province: pa.Array | None, district: pa.Array | None, commune: pa.Array) -> Normalized:
    """2025 province and commune codes for each row, with the codes as written and a review flag.

    Outputs: province_code, commune_code (null when under review), province_code_source,
    district_code_source, commune_code_source, admin_legacy, admin_review.
    Reasons: unknown_commune (not in the reference for its generation), unknown_province.
    """
    commune_src = _blank_to_null(commune, len(commune))
    n = len(commune_src)
    province_src = _blank_to_null(province, n)
    district_src = _blank_to_null(district, n)
    legacy = pc.is_valid(district_src)
    look = _lookup()

    # legacy rows: old commune -> its single new commune, or review when split
    old_index = pc.index_in(commune_src, value_set=look.old_commune_keys)
    old_known = pc.is_valid(old_index)
    old_target = pc.take(look.old_commune_target, old_index)
    old_province_index = pc.index_in(province_src, value_set=look.old_province_keys)
    old_province_target = pc.take(look.old_province_target, old_province_index)

    # current rows: the code must be a 2025 commune
    new_known = pc.is_in(commune_src, value_set=look.new_communes)
    new_province_known = pc.is_in(province_src, value_set=look.new_provinces)

    known = pc.if_else(legacy, old_known, new_known)
    review = pc.and_(pc.and_(legacy, old_known), pc.is_null(old_target))
    commune_code = pc.if_else(legacy, old_target, pc.if_else(new_known, commune_src, None))
    province_code = pc.if_else(legacy, old_province_target, pc.if_else(new_province_known, province_src, None))

    error = no_errors(n)
    error = flag(error, pc.and_(pc.is_valid(commune_src), pc.invert(known)), "unknown_commune")
    province_known = pc.if_else(legacy, pc.is_valid(old_province_index), new_province_known)
    error = flag(error, pc.and_(pc.is_valid(province_src), pc.invert(province_known)), "unknown_province")
    outputs = {
        "province_code": province_code,
        "commune_code": commune_code,
        "province_code_source": province_src,
        "district_code_source": district_src,
        "commune_code_source": commune_src,
        "admin_legacy": pc.fill_null(legacy, False),
        "admin_review": pc.fill_null(review, False),
    }
    return Normalized(commune_code, error, outputs)
