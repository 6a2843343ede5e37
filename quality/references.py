"""Cross-dataset reference checks, where GX has no expectation: does this row's reference exist there?

Computed with Arrow against the referenced dataset's keys: given, or read by SQL from its serving table
(`published_keys`). The agencies really do name
parcels and investors no other agency knows (PROTOCOL.md, Links), so a miss is counted for the
dashboard and the lookup, never quarantined.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa


@dataclass(frozen=True, slots=True)
class ReferenceCheck:
    name: str
    columns: tuple[str, ...]
    target: str
    target_columns: tuple[str, ...]


REFERENCE_CHECKS: Mapping[str, tuple[ReferenceCheck, ...]] = {
    "branches": (ReferenceCheck("branch_enterprise", ("enterprise_code",), "enterprises", ("enterprise_code",)),),
    "permits": (ReferenceCheck("permit_investor", ("investor_id",), "taxpayers", ("tax_code",)),),
    "tax_notices": (
        ReferenceCheck("notice_taxpayer", ("tax_code",), "taxpayers", ("tax_code",)),
        ReferenceCheck("notice_parcel", ("commune_code_source", "map_sheet", "parcel_number"), "parcels",
                       ("commune_code_source", "map_sheet", "parcel_number")),
    ),
    "land_certificates": (
        ReferenceCheck("certificate_parcel", ("commune_code_source", "map_sheet", "parcel_number"), "parcels",
                       ("commune_code_source", "map_sheet", "parcel_number")),
    ),
}


def _joined(table: pa.Table, columns: tuple[str, ...]) -> pa.Array:
    parts = [pc.cast(table.column(c), pa.string()) for c in columns]
    if len(parts) == 1:
        return parts[0]
    return pc.binary_join_element_wise(*parts, "\x1f", null_handling="emit_null")


def reference_misses(table: pa.Table, dataset: str, references: Mapping[str, pa.Table]) -> dict[str, int]:
    """For each check whose target is given: how many non-null references are not among its keys."""
    out: dict[str, int] = {}
    for check in REFERENCE_CHECKS.get(dataset, ()):
        target = references.get(check.target)
        if target is None:
            continue
        mine = _joined(table, check.columns)
        known = pc.unique(_joined(target, check.target_columns))
        missing = pc.and_(pc.is_valid(mine), pc.invert(pc.is_in(mine, value_set=known)))
        out[check.name] = int(pc.sum(missing).as_py() or 0)
    return out


def published_keys(engine: sa.Engine, dataset: str) -> dict[str, pa.Table]:
    """The current keys of each dataset `dataset` refers to, read by SQL from its serving table.

    Serving tables are `ds_<dataset>` with a row per version; the current, live rows have
    `valid_to IS NULL` and `is_deleted` false (sharing.db). A target not yet published is left out.
    """
    out: dict[str, pa.Table] = {}
    inspector = sa.inspect(engine)
    for check in REFERENCE_CHECKS.get(dataset, ()):
        name = f"ds_{check.target}"
        if check.target in out or not inspector.has_table(name):
            continue
        table = sa.Table(name, sa.MetaData(), autoload_with=engine)
        query = sa.select(*[table.c[c] for c in check.target_columns])
        if "valid_to" in table.c:
            query = query.where(table.c.valid_to.is_(None))
        if "is_deleted" in table.c:
            query = query.where(sa.not_(table.c.is_deleted))
        with engine.connect() as conn:
            rows = conn.execute(query).fetchall()
        out[check.target] = pa.table({c: pa.array([r[i] for r in rows]) for i, c in enumerate(check.target_columns)})
    return out
