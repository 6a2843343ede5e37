"""The province the simulated world lives in, with its real 2025 communes and their pre-2025 sources.

Read from `schemas/reference/admin-units` (dvhcvn, GSO codes). The reference has no district level, so a
legacy record's 3-digit `district_code` is derived: each old province's communes, in code order, are
grouped into blocks of 15 numbered from the old province's code times ten. Stable and plausible, not
the GSO district list.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

REFERENCE_DIR = Path(__file__).resolve().parent.parent / "schemas" / "reference" / "admin-units"
DEFAULT_PROVINCE = "31"  # Hải Phòng: the 2025 merger of Hải Phòng (31) and Hải Dương (30)
_COMMUNES_PER_DISTRICT = 15


@dataclass(frozen=True, slots=True)
class OldCommune:
    code: str  # 5 digits, pre-2025
    name: str
    province_code: str  # one of the 63
    province_name: str
    district_code: str  # derived, see the module note
    split: bool  # its area went to more than one new commune


@dataclass(frozen=True, slots=True)
class Commune:
    code: str  # 5 digits, 2025
    name: str
    sources: tuple[OldCommune, ...]  # the old communes merged (wholly or partly) into it


@dataclass(frozen=True, slots=True)
class Province:
    code: str
    name: str
    communes: tuple[Commune, ...]
    old_provinces: tuple[str, ...]

    def commune(self, code: str) -> Commune:
        return self._by_code()[code]

    def _by_code(self) -> dict[str, Commune]:
        return _commune_index(self)


@cache
def _commune_index(province: Province) -> dict[str, Commune]:
    return {c.code: c for c in province.communes}


def _read(name: str) -> list[dict[str, object]]:
    with (REFERENCE_DIR / name).open(encoding="utf-8") as f:
        data: list[dict[str, object]] = json.load(f)["data"]
    return data


@cache
def load_province(code: str = DEFAULT_PROVINCE) -> Province:
    """One 2025 province with its communes and, for each, the old communes it came from."""
    merges = {str(p["level1_id"]): p for p in _read("merges-2025.json")}
    if code not in merges:
        raise ValueError(f"unknown 2025 province code {code!r}; expected one of {sorted(merges)}")
    new = merges[code]
    old_ids = [str(m["old_id"]) for m in new["merges"]]  # type: ignore[attr-defined]
    old_communes: dict[str, OldCommune] = {}
    for old in _read("splits-2025.json"):
        if str(old["level1_id"]) not in old_ids:
            continue
        level3: list[dict[str, Any]] = sorted(old["level3s"], key=lambda c: str(c["level3_id"]))  # type: ignore[call-overload]
        for position, c in enumerate(level3):
            district = int(str(old["level1_id"])) * 10 + position // _COMMUNES_PER_DISTRICT
            old_communes[str(c["level3_id"])] = OldCommune(
                code=str(c["level3_id"]), name=str(c["name"]),
                province_code=str(old["level1_id"]), province_name=str(old["name"]),
                district_code=f"{district % 1000:03d}", split=len(c["splits"]) > 1,
            )
    communes = []
    for c in new["level2s"]:  # type: ignore[attr-defined]
        sources = tuple(old_communes[str(m["old_id"])] for m in c["merges"] if str(m["old_id"]) in old_communes)
        communes.append(Commune(code=str(c["level2_id"]), name=str(c["name"]), sources=sources))
    return Province(code=code, name=str(new["name"]), communes=tuple(communes), old_provinces=tuple(old_ids))
