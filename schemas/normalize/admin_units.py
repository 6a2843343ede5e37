"""Administrative units: recoding pre-2025 (province/district/commune) codes to the 2025 two-level codes.

Reference: `schemas/reference/admin-units` (dvhcvn, MIT). A source declares which generation of codes it
sends (`generation`): `by_district` (legacy when a district code is written, the provincial systems),
`pre2025`, `2025`, or `mixed`; or legacy by record date (`legacy` mask from the caller).

Pre-2025 commune codes are unique among themselves, so a legacy row is recoded from its commune code
alone, whatever province or district it also carries: exact where the old commune went wholly into one
new commune, flagged for review (no 2025 commune code) where it was split: never guessed. Old and new
codes share one five-digit space: in a `mixed` source a code that is both an old and a new code, and
whose old commune did not go wholly into the new commune of the same number, could be either: flagged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc

from schemas.normalize.result import Normalized, as_array, flag, no_errors
from schemas.normalize.text import clean_text

REFERENCE_DIR = Path(__file__).resolve().parent.parent / "reference" / "admin-units"


Generation = Literal["by_district", "pre2025", "2025", "mixed"]
GENERATIONS: tuple[Generation, ...] = ("by_district", "pre2025", "2025", "mixed")


@dataclass(frozen=True, slots=True)
class AdminUnits:
    new_provinces: frozenset[str]
    new_communes: frozenset[str]
    old_provinces: dict[str, tuple[str, ...]]  # old province -> the new province(s) it went to
    old_communes: dict[str, tuple[str, ...]]  # old commune -> the new commune(s) it went to
    new_commune_province: dict[str, str] = field(default_factory=dict)  # 2025 commune -> its province

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
        new_commune_province={c["level2_id"]: p["level1_id"] for p in merges for c in p["level2s"]},
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
    old_commune_province: pa.Array  # the new province of its new commune(s); null where they differ
    new_commune_keys: pa.Array
    new_commune_province: pa.Array


@cache
def _lookup() -> _Lookup:
    ref = reference()
    provinces = sorted(ref.old_provinces)
    communes = sorted(ref.old_communes)

    def single(targets: tuple[str, ...]) -> str | None:
        return targets[0] if len(targets) == 1 else None

    def province_of(targets: tuple[str, ...]) -> str | None:
        found = {ref.new_commune_province.get(t) for t in targets}
        return found.pop() if len(found) == 1 else None

    new_keys = sorted(ref.new_commune_province)
    return _Lookup(
        old_commune_province=pa.array([province_of(ref.old_communes[c]) for c in communes], pa.string()),
        new_commune_keys=pa.array(new_keys),
        new_commune_province=pa.array([ref.new_commune_province[c] for c in new_keys], pa.string()),
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


def recode(province: pa.Array | None, district: pa.Array | None, commune: pa.Array, *,
           generation: Generation = "by_district", legacy: pa.Array | None = None) -> Normalized:
    """2025 province and commune codes for each row, with the codes as written and a review flag.

    Which rows are legacy: `legacy` (a boolean per row, null where unknown) when given, else by
    `generation`. Outputs: province_code, commune_code (null when under review), province_code_source,
    district_code_source, commune_code_source, admin_legacy, admin_review.
    Reasons: unknown_commune (not in the reference for its generation), unknown_province.
    """
    commune_src = _blank_to_null(commune, len(commune))
    n = len(commune_src)
    province_src = _blank_to_null(province, n)
    district_src = _blank_to_null(district, n)
    look = _lookup()
    if legacy is None:
        if generation == "by_district":
            legacy = pc.is_valid(district_src)
        elif generation == "pre2025":
            legacy = pa.array([True] * n, pa.bool_())
        elif generation == "2025":
            legacy = pa.array([False] * n, pa.bool_())
        else:
            legacy = pa.nulls(n, pa.bool_())

    old_index = pc.index_in(commune_src, value_set=look.old_commune_keys)
    old_known = pc.is_valid(old_index)
    old_target = pc.take(look.old_commune_target, old_index)
    old_province = pc.take(look.old_commune_province, old_index)
    new_index = pc.index_in(commune_src, value_set=look.new_commune_keys)
    new_known = pc.is_valid(new_index)
    new_province = pc.take(look.new_commune_province, new_index)

    # a row of unknown generation (mixed): read by the code when only one generation has it; a code
    # of both that means the same 2025 commune either way is that commune; otherwise it is ambiguous
    same_either_way = pc.fill_null(pc.equal(old_target, commune_src), False)
    ambiguous = pc.and_(pc.and_(pc.is_null(legacy), pc.and_(old_known, new_known)), pc.invert(same_either_way))
    as_legacy = pc.fill_null(legacy, pc.and_(old_known, pc.invert(new_known)))

    known = pc.if_else(as_legacy, old_known, new_known)
    commune_code = pc.if_else(as_legacy, old_target, pc.if_else(new_known, commune_src, None))
    # from the commune code alone; the written province only where the commune says nothing
    old_province_index = pc.index_in(province_src, value_set=look.old_province_keys)
    written_old_province = pc.take(look.old_province_target, old_province_index)
    province_code = pc.if_else(as_legacy, pc.coalesce(old_province, written_old_province),
                               pc.if_else(new_known, new_province,
                                          pc.if_else(pc.is_in(province_src, value_set=look.new_provinces),
                                                     province_src, pa.scalar(None, pa.string()))))
    review = pc.or_(pc.and_(pc.and_(as_legacy, old_known), pc.is_null(old_target)), ambiguous)
    commune_code = pc.if_else(ambiguous, pa.scalar(None, pa.string()), commune_code)
    province_code = pc.if_else(
        pc.and_(ambiguous, pc.invert(pc.fill_null(pc.equal(old_province, new_province), False))),
        pa.scalar(None, pa.string()), province_code)

    error = no_errors(n)
    error = flag(error, pc.and_(pc.is_valid(commune_src), pc.invert(known)), "unknown_commune")
    new_province_written = pc.is_in(province_src, value_set=look.new_provinces)
    province_known = pc.fill_null(
        pc.if_else(legacy, pc.is_valid(old_province_index), new_province_written),
        pc.or_(new_province_written, pc.is_valid(old_province_index)))
    error = flag(error, pc.and_(pc.is_valid(province_src), pc.invert(province_known)), "unknown_province")
    outputs = {
        "province_code": province_code,
        "commune_code": commune_code,
        "province_code_source": province_src,
        "district_code_source": district_src,
        "commune_code_source": commune_src,
        "admin_legacy": pc.fill_null(pc.and_(as_legacy, pc.invert(ambiguous)), False),
        "admin_review": pc.fill_null(review, False),
    }
    return Normalized(commune_code, error, outputs)
