"""Lookup inputs picked from the published data: records that have personal and sensitive values."""

# ruff: noqa: S608 - the only interpolation is a constant condition of this module.
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from sharing import db


@dataclass(frozen=True, slots=True)
class Samples:
    tax_code: str  # an enterprise with a branch and a tax record
    branch_code: str
    parcel: tuple[str, int, int]  # commune_code (2025), map sheet, parcel number: a parcel with a holder
    investor_id: str  # an investor with permits
    name_word: str  # a word of an enterprise name


def _cur(alias: str = "") -> str:
    return f"{alias}valid_to IS NULL AND NOT {alias}is_deleted"


def pick(url: str) -> Samples:
    with db.engine_for(url).connect() as conn:
        code, branch = conn.execute(sa.text(
            "SELECT e.enterprise_code, b.branch_code FROM ds_enterprises e JOIN ds_branches b "
            f"ON b.enterprise_code = e.enterprise_code AND {_cur('b.')} WHERE {_cur('e.')} "
            "AND e.legal_rep_id IS NOT NULL ORDER BY e.enterprise_code LIMIT 1")).one()
        parcel = conn.execute(sa.text(
            f"SELECT commune_code, map_sheet, parcel_number FROM ds_parcels WHERE {_cur()} "
            "AND holder_name IS NOT NULL AND holder_id IS NOT NULL AND address IS NOT NULL "
            "AND commune_code IS NOT NULL ORDER BY commune_code_source, map_sheet, parcel_number LIMIT 1")).one()
        investor = conn.execute(sa.text(
            f"SELECT investor_id FROM ds_permits WHERE {_cur()} AND investor_id IS NOT NULL "
            "AND investor_name IS NOT NULL GROUP BY investor_id ORDER BY COUNT(*) DESC, investor_id LIMIT 1",
        )).scalar_one()
        name = conn.execute(sa.text(
            f"SELECT name_search FROM ds_enterprises WHERE {_cur()} ORDER BY enterprise_code LIMIT 1",
        )).scalar_one()
    return Samples(code, branch, (parcel[0], int(parcel[1]), int(parcel[2])), investor, name.split()[-1])
