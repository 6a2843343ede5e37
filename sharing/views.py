"""Cross-agency views: one record per enterprise and per parcel, joined across the four agencies.

`enterprise_profile`: registration, tax status, parcels held, permits granted, branches.
`parcel_profile`: the parcel, its certificates, the permits granted on it, its land-use tax notices.
`tax_obligations`, `taxpayer_obligations`, `parcel_obligations`: land-use tax notices against the State
Treasury's receipts (per notice, per taxpayer, per parcel): due, paid, outstanding, paid late. They are
built once both the notices and the receipts are published (the treasury comes in by declaration files).
`view_match_stats`: for each cross-agency reference, how many found their target.
`view_unmatched`: every reference that did not, as a dataset an operator can inspect.

Each is published like any dataset (versioned, exactly once) and rebuilt only when one of its inputs
has a new version: the input versions it was built from are its committed state.
"""

# ruff: noqa: S608 - table and column names below are constants of this module, never input.
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sharing import db
from sharing.publish import PublishResult, StateCommit, publish, read_state
from sharing.spec import DatasetSpec
from sharing.view_inputs import INPUTS

log = logging.getLogger(__name__)
CURRENT = "{a}.valid_to IS NULL AND NOT {a}.is_deleted"


def _cur(alias: str) -> str:
    return CURRENT.format(a=alias)


def parcel_match(source_may_be_legacy: bool) -> str:
    """A reference from f to parcel x: same map sheet and number, in the same commune.

    "Same commune" whichever codes each record carries: equal 2025 codes, equal codes as written, or a
    legacy commune and one of the 2025 communes it went to (`lt_admin_succession`, from the reference
    data); the last case is how a permit under a new code finds a parcel still filed under an old
    commune that was split, which recoding alone must leave unresolved.
    """
    via_succession = (
        "(x.admin_legacy AND EXISTS (SELECT 1 FROM lt_admin_succession m "
        "WHERE m.old_code = x.commune_code_source AND m.new_code = f.commune_code))"
    )
    if source_may_be_legacy:
        via_succession += (
            " OR (f.admin_legacy AND EXISTS (SELECT 1 FROM lt_admin_succession m "
            "WHERE m.old_code = f.commune_code_source AND m.new_code = x.commune_code))"
        )
    return (
        "x.map_sheet = f.map_sheet AND x.parcel_number = f.parcel_number AND (x.commune_code = f.commune_code "
        f"OR x.commune_code_source = f.commune_code_source OR {via_succession})"
    )


PERMIT_TO_PARCEL = parcel_match(source_may_be_legacy=False)  # permits carry 2025 codes (PROTOCOL.md)
NOTICE_TO_PARCEL = parcel_match(source_may_be_legacy=True)


def _reversed(match: str) -> str:
    """The same condition with the roles swapped: x is now the referencing record, f the parcel."""
    return match.replace("x.", "\0").replace("f.", "x.").replace("\0", "f.")


# A certificate names its parcel the way the land registry does: by the commune code it was issued under.
CERTIFICATE_MATCH = (
    "x.map_sheet = f.map_sheet AND x.parcel_number = f.parcel_number AND x.commune_code_source = f.commune_code_source"
)


@dataclass(frozen=True, slots=True)
class Relation:
    """A reference from one dataset's records to another's."""

    name: str
    source: str
    source_key: str  # SQL text expression naming the record, over alias f
    reference: str  # SQL text expression of the referenced value, over alias f
    where: str  # which source records carry this reference
    target: str
    match: str  # join condition between f (source) and x (target)


RELATIONS = (
    Relation("enterprise->taxpayer", "enterprises", "f.enterprise_code", "f.enterprise_code", "1 = 1",
             "taxpayers", "x.tax_code = f.enterprise_code"),
    Relation("permit.investor->enterprise", "permits", "f.permit_no", "f.investor_id",
             "f.investor_type = 'enterprise'", "enterprises", "x.enterprise_code = f.investor_id"),
    Relation("permit->parcel", "permits", "f.permit_no",
             "f.commune_code || '/' || CAST(f.map_sheet AS TEXT) || '/' || CAST(f.parcel_number AS TEXT)",
             "f.map_sheet IS NOT NULL", "parcels", PERMIT_TO_PARCEL),
    Relation("parcel.holder->enterprise", "parcels",
             "f.commune_code_source || '/' || CAST(f.map_sheet AS TEXT) || '/' || CAST(f.parcel_number AS TEXT)",
             "f.holder_id", "f.holder_type = 'enterprise'", "enterprises", "x.enterprise_code = f.holder_id"),
    Relation("notice->taxpayer", "tax_notices", "f.notice_no", "f.tax_code", "1 = 1",
             "taxpayers", "x.tax_code = f.tax_code"),
    Relation("receipt->notice", "payment_receipts", "f.receipt_no", "f.notice_no", "1 = 1",
             "tax_notices", "x.notice_no = f.notice_no"),
    Relation("receipt.payer->taxpayer", "payment_receipts", "f.receipt_no", "f.tax_code", "1 = 1",
             "taxpayers", "x.tax_code = f.tax_code"),
    Relation("notice->parcel", "tax_notices", "f.notice_no",
             "f.commune_code_source || '/' || CAST(f.map_sheet AS TEXT) || '/' || CAST(f.parcel_number AS TEXT)",
             "f.map_sheet IS NOT NULL", "parcels", NOTICE_TO_PARCEL),
)

# Join columns the views look up by, indexed on their serving tables.
LOOKUP_INDEXES: dict[str, list[tuple[str, ...]]] = {
    "taxpayers": [("tax_code",)],
    "enterprises": [("enterprise_code",)],
    "parcels": [("holder_id",), ("map_sheet", "parcel_number")],
    "permits": [("investor_id",), ("map_sheet", "parcel_number")],
    "land_certificates": [("map_sheet", "parcel_number")],
    "tax_notices": [("tax_code",), ("map_sheet", "parcel_number")],
    "branches": [("enterprise_code",)],
    "payment_receipts": [("notice_no",), ("tax_code",)],
}

ENTERPRISE_PROFILE = f"""
SELECT e.enterprise_code, e.name, e.name_search, e.enterprise_type, e.status, e.province_code, e.commune_code,
  t.status_code AS tax_status_code,
  (SELECT COUNT(*) FROM ds_branches x WHERE {_cur('x')} AND x.enterprise_code = e.enterprise_code) AS branches,
  (SELECT COUNT(*) FROM ds_parcels x WHERE {_cur('x')} AND x.holder_id = e.enterprise_code) AS parcels_held,
  (SELECT SUM(CAST(x.area_m2 AS NUMERIC)) FROM ds_parcels x WHERE {_cur('x')} AND x.holder_id = e.enterprise_code)
    AS parcel_area_m2,
  (SELECT COUNT(*) FROM ds_permits x WHERE {_cur('x')} AND x.investor_id = e.enterprise_code) AS permits_granted,
  (SELECT MAX(x.issued_date) FROM ds_permits x WHERE {_cur('x')} AND x.investor_id = e.enterprise_code)
    AS last_permit_date
FROM ds_enterprises e
LEFT JOIN ds_taxpayers t ON t.tax_code = e.enterprise_code AND {_cur('t')}
WHERE {_cur('e')}
"""

PARCEL_PROFILE = f"""
SELECT f.commune_code_source, f.map_sheet, f.parcel_number, f.province_code, f.commune_code, f.admin_review,
  f.address, f.area_m2, f.land_use_code, f.holder_type, f.holder_id, f.holder_name,
  (SELECT COUNT(*) FROM ds_land_certificates x WHERE {_cur('x')} AND {CERTIFICATE_MATCH}) AS certificates,
  (SELECT MAX(x.certificate_no) FROM ds_land_certificates x WHERE {_cur('x')} AND {CERTIFICATE_MATCH})
    AS latest_certificate_no,
  (SELECT COUNT(*) FROM ds_permits x WHERE {_cur('x')} AND {_reversed(PERMIT_TO_PARCEL)}) AS permits,
  (SELECT COUNT(*) FROM ds_tax_notices x WHERE {_cur('x')} AND {_reversed(NOTICE_TO_PARCEL)}) AS tax_notices,
  (SELECT SUM(x.amount_vnd) FROM ds_tax_notices x WHERE {_cur('x')} AND {_reversed(NOTICE_TO_PARCEL)})
    AS tax_amount_vnd,
  (SELECT COUNT(*) FROM ds_tax_notices x WHERE {_cur('x')} AND {_reversed(NOTICE_TO_PARCEL)}
    AND x.status IN ('issued', 'overdue')) AS unpaid_notices
FROM ds_parcels f
WHERE {_cur('f')}
"""


# Per notice: what the treasury received against it. A receipt counts when it names the notice; a
# cancelled notice owes nothing; "late" is a receipt dated after the notice's due date.
TAX_OBLIGATIONS = f"""
SELECT n.notice_no, n.tax_code, n.province_code, n.commune_code, n.commune_code_source, n.map_sheet,
  n.parcel_number, n.tax_year, n.due_date, n.status AS notice_status, n.amount_vnd AS due_vnd,
  COALESCE(p.paid, 0) AS paid_vnd,
  CASE WHEN n.amount_vnd > COALESCE(p.paid, 0) THEN n.amount_vnd - COALESCE(p.paid, 0) ELSE 0 END
    AS outstanding_vnd,
  COALESCE(p.receipts, 0) AS receipts, p.last_paid AS last_paid_date,
  CASE WHEN COALESCE(p.late, 0) > 0 THEN 1 ELSE 0 END AS paid_late
FROM ds_tax_notices n
LEFT JOIN (
  SELECT r.notice_no, SUM(r.amount_vnd) AS paid, COUNT(*) AS receipts, MAX(r.paid_date) AS last_paid,
    SUM(CASE WHEN r.paid_date > x.due_date THEN 1 ELSE 0 END) AS late
  FROM ds_payment_receipts r JOIN ds_tax_notices x ON x.notice_no = r.notice_no AND {_cur('x')}
  WHERE {_cur('r')} GROUP BY r.notice_no
) p ON p.notice_no = n.notice_no
WHERE {_cur('n')} AND n.status <> 'cancelled' AND n.amount_vnd IS NOT NULL
"""

_OBLIGATION_TOTALS = """COUNT(*) AS notices, SUM(o.due_vnd) AS due_vnd, SUM(o.paid_vnd) AS paid_vnd,
  SUM(o.outstanding_vnd) AS outstanding_vnd,
  SUM(CASE WHEN o.outstanding_vnd > 0 THEN 1 ELSE 0 END) AS notices_outstanding,
  SUM(CASE WHEN o.paid_late <> 0 THEN 1 ELSE 0 END) AS notices_paid_late,
  CASE WHEN SUM(o.outstanding_vnd) = 0 THEN 1 ELSE 0 END AS fully_paid"""

TAXPAYER_OBLIGATIONS = f"""
SELECT o.tax_code, {_OBLIGATION_TOTALS}
FROM ({TAX_OBLIGATIONS}) o WHERE o.tax_code IS NOT NULL GROUP BY o.tax_code
"""

PARCEL_OBLIGATIONS = f"""
SELECT o.commune_code_source, o.map_sheet, o.parcel_number, MAX(o.province_code) AS province_code,
  MAX(o.commune_code) AS commune_code, {_OBLIGATION_TOTALS}, MAX(o.tax_year) AS last_tax_year
FROM ({TAX_OBLIGATIONS}) o
WHERE o.commune_code_source IS NOT NULL AND o.map_sheet IS NOT NULL AND o.parcel_number IS NOT NULL
GROUP BY o.commune_code_source, o.map_sheet, o.parcel_number
"""


@dataclass(frozen=True, slots=True)
class View:
    spec: DatasetSpec
    inputs: tuple[str, ...]
    sql: str


def _spec(name: str, key: Sequence[str], fields: list[tuple[str, pa.DataType]], description: str) -> DatasetSpec:
    schema = pa.schema([pa.field(n, t, nullable=n not in key) for n, t in fields])
    return DatasetSpec(name, tuple(key), schema, contract_version="1", owner_agency="lienthong",
                       partition_by="province_code" if "province_code" in schema.names else None,
                       description=description)


S, I64, B = pa.string(), pa.int64(), pa.bool_()
AREA = pa.decimal128(16, 2)
_TOTALS: list[tuple[str, pa.DataType]] = [
    ("notices", I64), ("due_vnd", I64), ("paid_vnd", I64), ("outstanding_vnd", I64), ("notices_outstanding", I64),
    ("notices_paid_late", I64), ("fully_paid", B)]

VIEWS = (
    View(
        _spec("enterprise_profile", ["enterprise_code"], [
            ("enterprise_code", S), ("name", S), ("name_search", S), ("enterprise_type", S), ("status", S),
            ("province_code", S), ("commune_code", S), ("tax_status_code", S), ("branches", I64),
            ("parcels_held", I64), ("parcel_area_m2", AREA), ("permits_granted", I64),
            ("last_permit_date", pa.date32()),
        ], "Enterprise registration, tax status, parcels held and permits granted"),
        INPUTS["enterprise_profile"],
        ENTERPRISE_PROFILE,
    ),
    View(
        _spec("parcel_profile", ["commune_code_source", "map_sheet", "parcel_number"], [
            ("commune_code_source", S), ("map_sheet", I64), ("parcel_number", I64), ("province_code", S),
            ("commune_code", S), ("admin_review", B), ("address", S), ("area_m2", AREA), ("land_use_code", S),
            ("holder_type", S), ("holder_id", S), ("holder_name", S), ("certificates", I64),
            ("latest_certificate_no", S), ("permits", I64), ("tax_notices", I64), ("tax_amount_vnd", I64),
            ("unpaid_notices", I64),
        ], "Parcel, its certificates, permits and land-use tax notices"),
        INPUTS["parcel_profile"],
        PARCEL_PROFILE,
    ),
    View(
        _spec("tax_obligations", ["notice_no"], [
            ("notice_no", S), ("tax_code", S), ("province_code", S), ("commune_code", S),
            ("commune_code_source", S), ("map_sheet", I64), ("parcel_number", I64), ("tax_year", I64),
            ("due_date", pa.date32()), ("notice_status", S), ("due_vnd", I64), ("paid_vnd", I64),
            ("outstanding_vnd", I64), ("receipts", I64), ("last_paid_date", pa.date32()), ("paid_late", B),
        ], "Each land-use tax notice against the treasury's receipts: due, paid, outstanding, paid late"),
        INPUTS["tax_obligations"],
        TAX_OBLIGATIONS,
    ),
    View(
        _spec("taxpayer_obligations", ["tax_code"], [
            ("tax_code", S), *_TOTALS,
        ], "Each taxpayer's land-use tax notices against the treasury's receipts"),
        INPUTS["taxpayer_obligations"],
        TAXPAYER_OBLIGATIONS,
    ),
    View(
        _spec("parcel_obligations", ["commune_code_source", "map_sheet", "parcel_number"], [
            ("commune_code_source", S), ("map_sheet", I64), ("parcel_number", I64), ("province_code", S),
            ("commune_code", S), *_TOTALS, ("last_tax_year", I64),
        ], "Each parcel's land-use tax notices against the treasury's receipts: has its tax been paid?"),
        INPUTS["parcel_obligations"],
        PARCEL_OBLIGATIONS,
    ),
)

MATCH_STATS = _spec("view_match_stats", ["relation"], [
    ("relation", S), ("source", S), ("target", S), ("total", I64), ("matched", I64), ("unmatched", I64),
    ("match_rate", pa.float64()),
], "How many cross-agency references found their target")
UNMATCHED = _spec("view_unmatched", ["relation", "source_key"], [
    ("relation", S), ("source_key", S), ("reference", S), ("source", S), ("target", S),
], "Cross-agency references that found no target")


@dataclass(slots=True)
class ViewsReport:
    published: dict[str, PublishResult]
    skipped: dict[str, str]
    match_stats: list[dict[str, Any]]


def _published_versions(conn: Connection) -> dict[str, int]:
    rows = conn.execute(sa.select(db.datasets.c.name, db.datasets.c.current_version)).all()
    return {name: int(version) for name, version in rows if version}


# Name search holds every word anywhere in the name (`LIKE '%word%'`): a B-tree cannot serve it, a trigram
# index can (PostgreSQL's pg_trgm; without it, or on SQLite, the search reads the whole table).
TRIGRAM_INDEXES: dict[str, list[str]] = {"enterprises": ["name_search"]}


def ensure_lookup_indexes(conn: Connection, present: Mapping[str, int] | None = None) -> None:
    """The indexes the lookup API's queries need, on the published datasets (`present`; default: all)."""
    present = _published_versions(conn) if present is None else present
    for dataset, indexes in LOOKUP_INDEXES.items():
        if dataset not in present:
            continue
        for columns in indexes:
            name = f"ix_ds_{dataset}_{'_'.join(columns)}"
            conn.execute(sa.text(f"CREATE INDEX IF NOT EXISTS {name} ON ds_{dataset} ({', '.join(columns)})"))
    wanted = {d: c for d, c in TRIGRAM_INDEXES.items() if d in present}
    if not wanted or conn.dialect.name != "postgresql" or not _trigrams(conn):
        return
    for dataset, names in wanted.items():
        for column in names:
            conn.execute(sa.text(f"CREATE INDEX IF NOT EXISTS ix_ds_{dataset}_{column}_trgm ON ds_{dataset} "
                                 f"USING gin ({column} gin_trgm_ops)"))


def _trigrams(conn: Connection) -> bool:
    """pg_trgm in this database: created when the role may (a trusted extension since PostgreSQL 13)."""
    try:
        with conn.begin_nested():
            conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
        return True
    except sa.exc.DBAPIError as exc:
        log.warning("no trigram index for name search (pg_trgm: %s): searches read the whole table",
                    str(exc.orig).splitlines()[0])
        return False


succession = sa.Table(
    "lt_admin_succession", db.metadata,
    sa.Column("old_code", sa.String(5), primary_key=True),
    sa.Column("new_code", sa.String(5), primary_key=True),
)


def _ensure_succession(conn: Connection) -> None:
    """Which 2025 communes each pre-2025 commune went to, from schemas/reference (loaded once)."""
    succession.create(conn, checkfirst=True)
    if conn.execute(sa.select(sa.func.count()).select_from(succession)).scalar_one():
        return
    from schemas.normalize.admin_units import reference

    rows = [{"old_code": old, "new_code": new} for old, news in reference().old_communes.items() for new in news]
    conn.execute(succession.insert(), rows)


def _table(conn: Connection, sql: str, spec: DatasetSpec) -> pa.Table:
    rows = conn.execute(sa.text(sql)).mappings().all()
    columns: dict[str, list[Any]] = {f.name: [] for f in spec.schema}
    for row in rows:
        for f in spec.schema:
            value = row[f.name]
            if value is not None and pa.types.is_decimal(f.type):
                value = Decimal(str(value)).quantize(Decimal(1).scaleb(-f.type.scale))
            elif value is not None and pa.types.is_boolean(f.type):
                value = bool(value)
            elif value is not None and pa.types.is_date(f.type) and isinstance(value, str):
                from datetime import date

                value = date.fromisoformat(value[:10])
            columns[f.name].append(value)
    return pa.table({f.name: pa.array(columns[f.name], type=f.type) for f in spec.schema}, schema=spec.schema)


def match_statistics(conn: Connection, present: Mapping[str, int]) -> tuple[pa.Table, pa.Table]:
    stats: list[dict[str, Any]] = []
    unmatched: list[dict[str, Any]] = []
    for r in RELATIONS:
        if r.source not in present or r.target not in present:
            continue
        base = f"FROM ds_{r.source} f WHERE {_cur('f')} AND {r.where}"
        missing = f"NOT EXISTS (SELECT 1 FROM ds_{r.target} x WHERE {_cur('x')} AND {r.match})"
        total = int(conn.execute(sa.text(f"SELECT COUNT(*) {base}")).scalar_one())
        gone = conn.execute(sa.text(f"SELECT {r.source_key} AS k, {r.reference} AS ref {base} AND {missing}")).all()
        stats.append({
            "relation": r.name, "source": r.source, "target": r.target, "total": total,
            "matched": total - len(gone), "unmatched": len(gone),
            "match_rate": (total - len(gone)) / total if total else None,
        })
        unmatched += [
            {"relation": r.name, "source_key": str(k), "reference": None if ref is None else str(ref),
             "source": r.source, "target": r.target}
            for k, ref in gone
        ]
    return (pa.Table.from_pylist(stats, schema=MATCH_STATS.schema),
            pa.Table.from_pylist(unmatched, schema=UNMATCHED.schema))


def build_views(url: str, data_dir: Path, *, force: bool = False) -> ViewsReport:
    """Rebuild each view whose inputs have a new version since it was last built."""
    engine = db.engine_for(url)
    db.create_system_tables(engine)
    report = ViewsReport({}, {}, [])
    with engine.begin() as conn:
        present = _published_versions(conn)
        ensure_lookup_indexes(conn, present)
        _ensure_succession(conn)
    for view in VIEWS:
        missing = [d for d in view.inputs if d not in present]
        if missing:
            report.skipped[view.spec.name] = f"inputs not published yet: {', '.join(missing)}"
            continue
        inputs = {d: present[d] for d in view.inputs}
        previous = read_state(url, "views", view.spec.name)
        if previous == inputs and not force:
            report.skipped[view.spec.name] = "inputs unchanged"
            continue
        with engine.connect() as conn:
            table = _table(conn, view.sql, view.spec)
        report.published[view.spec.name] = publish(
            url, view.spec, [table], data_dir=data_dir, full_refresh=True,
            state=StateCommit("views", view.spec.name, previous, inputs),
        )
    with engine.connect() as conn:
        stats, unmatched = match_statistics(conn, present)
    report.match_stats = stats.to_pylist()
    if stats.num_rows:
        report.published[MATCH_STATS.name] = publish(url, MATCH_STATS, [stats], data_dir=data_dir, full_refresh=True)
        report.published[UNMATCHED.name] = publish(url, UNMATCHED, [unmatched], data_dir=data_dir, full_refresh=True)
    return report
