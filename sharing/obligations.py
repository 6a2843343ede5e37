"""Lookups on the obligations views: "has this parcel's land-use tax been paid?", and the same per taxpayer.

A parcel is named as agencies name it: commune code (the pre-2025 one it is filed under, or the 2025 one
it belongs to now), map sheet and parcel number. The answer is the parcel's row of `parcel_obligations`
with its notices from `tax_obligations`, or None when no notice names the parcel.
"""

# ruff: noqa: S608 - table and column names below are constants of this module, never input.
from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from sharing import db

_CURRENT = "valid_to IS NULL AND NOT is_deleted"
_BOOLS = ("fully_paid", "paid_late")
_SYSTEM = ("valid_from", "valid_to", "is_deleted", "version_from", "version_to")


def _rows(conn: sa.Connection, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for row in conn.execute(sa.text(sql), params).mappings():
        record = {k: v for k, v in row.items() if k not in _SYSTEM}
        for name in _BOOLS:
            if name in record and record[name] is not None:
                record[name] = bool(record[name])
        out.append(record)
    return out


def parcel_obligation(url: str, commune_code: str, map_sheet: int, parcel_number: int) -> dict[str, Any] | None:
    """The parcel's totals (due, paid, outstanding, paid late, fully paid) and its notices, or None."""
    where = ("(commune_code_source = :commune OR commune_code = :commune) AND map_sheet = :sheet "
             "AND parcel_number = :number")
    params = {"commune": commune_code, "sheet": map_sheet, "number": parcel_number}
    engine = db.engine_for(url)
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("ds_parcel_obligations"):
            return None
        found = _rows(conn, f"SELECT * FROM ds_parcel_obligations WHERE {_CURRENT} AND {where}", params)
        if not found:
            return None
        notices = _rows(conn, f"SELECT * FROM ds_tax_obligations WHERE {_CURRENT} AND {where} "
                              "ORDER BY tax_year, notice_no", params)
    answer = found[0]
    if len(found) > 1:  # the same parcel under its old and its new code: one answer
        for key in ("notices", "due_vnd", "paid_vnd", "outstanding_vnd", "notices_outstanding", "notices_paid_late"):
            answer[key] = sum(int(r[key] or 0) for r in found)
        answer["fully_paid"] = answer["outstanding_vnd"] == 0
    answer["tax_notices"] = notices
    return answer


def taxpayer_obligation(url: str, tax_code: str) -> dict[str, Any] | None:
    """A taxpayer's totals and notices, or None."""
    engine = db.engine_for(url)
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("ds_taxpayer_obligations"):
            return None
        found = _rows(conn, f"SELECT * FROM ds_taxpayer_obligations WHERE {_CURRENT} AND tax_code = :t",
                      {"t": tax_code})
        if not found:
            return None
        found[0]["tax_notices"] = _rows(conn, f"SELECT * FROM ds_tax_obligations WHERE {_CURRENT} AND "
                                              "tax_code = :t ORDER BY tax_year, notice_no", {"t": tax_code})
    return found[0]
