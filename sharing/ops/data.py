"""What the dashboard shows, read from the pipeline's own tables (validation runs, quarantine, drift,
catalog versions, the audit log). Reads only; the two writes (replay, drift approval) are the pipeline's
own functions, called from the routes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from core.schedule import SYNC_EVERY
from quality.store import metadata as quality_metadata
from quality.store import quarantine, validation_runs
from schemas.db import ensure_tables as ensure_quality_tables
from sharing import db
from sharing.api.audit import audit_log
from sharing.ops.services import SourceInfo

# A source is late after two missed runs of its sync DAG (core.schedule).
LATE_AFTER = 2 * SYNC_EVERY
AIRFLOW_RUN_PREFIXES = ("scheduled__", "manual__", "asset_triggered__", "backfill__")


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(slots=True)
class DatasetRun:
    dataset: str
    run_id: str
    started_at: datetime
    seconds: float
    fetched: int
    valid: int
    quarantined: int
    published: int | None
    status: str


@dataclass(slots=True)
class SourceStatus:
    name: str
    dag_id: str
    description: str
    last_success: datetime | None = None
    last_run: list[DatasetRun] = field(default_factory=list)

    @property
    def late(self) -> bool:
        return self.last_success is None or datetime.now(UTC) - self.last_success > LATE_AFTER

    @property
    def age_minutes(self) -> int | None:
        if self.last_success is None:
            return None
        return int((datetime.now(UTC) - self.last_success).total_seconds() // 60)

    @property
    def age(self) -> str:
        if self.last_success is None:
            return "never"
        minutes = int((datetime.now(UTC) - self.last_success).total_seconds() // 60)
        return f"{minutes} min ago" if minutes < 120 else f"{minutes // 60} h ago"

    def totals(self) -> dict[str, int]:
        return {"fetched": sum(r.fetched for r in self.last_run), "valid": sum(r.valid for r in self.last_run),
                "quarantined": sum(r.quarantined for r in self.last_run),
                "published": sum(r.published or 0 for r in self.last_run)}

    def airflow_run_id(self) -> str | None:
        """The Airflow run of the last sync, when Airflow ran it (its tasks add `:<source>/<stream>`)."""
        run_ids = {r.run_id.rsplit(":", 1)[0] if r.run_id.count(":") and "/" in r.run_id.rsplit(":", 1)[1]
                   else r.run_id for r in self.last_run}
        if len(run_ids) == 1 and (run_id := next(iter(run_ids))).startswith(AIRFLOW_RUN_PREFIXES):
            return run_id
        return None

    def dag_url(self, airflow_url: str) -> str:
        """The Airflow UI's page of the last run (`/dags/<dag>/runs/<run id>`), else of the DAG."""
        from urllib.parse import quote

        run_id = self.airflow_run_id()
        if run_id:
            return f"{airflow_url}/dags/{self.dag_id}/runs/{quote(run_id, safe='')}"
        return f"{airflow_url}/dags/{self.dag_id}"


def _published_by_run(conn: sa.Connection) -> dict[tuple[str, str], int]:
    v = db.dataset_versions
    rows = conn.execute(sa.select(v.c.dataset, v.c.run_id, v.c.inserted + v.c.updated + v.c.deleted))
    return {(str(d), str(r)): int(n) for d, r, n in rows if r is not None}


def _last_runs(conn: sa.Connection, source: str, published: dict[tuple[str, str], int]) -> list[DatasetRun]:
    """Each dataset's last run, summed over its batches (one validation row per batch)."""
    vr = validation_runs
    latest = (sa.select(vr.c.dataset, sa.func.max(vr.c.id).label("id"))
              .where(vr.c.source == source).group_by(vr.c.dataset).subquery())
    last = sa.select(vr.c.dataset, vr.c.run_id).join(latest, vr.c.id == latest.c.id).subquery()
    query = (sa.select(vr.c.dataset, vr.c.run_id, sa.func.min(vr.c.started_at).label("started_at"),
                       sa.func.sum(vr.c.seconds).label("seconds"), sa.func.sum(vr.c.rows_in).label("rows_in"),
                       sa.func.sum(vr.c.rows_valid).label("rows_valid"),
                       sa.func.sum(vr.c.rows_quarantined).label("rows_quarantined"),
                       sa.func.min(vr.c.status).label("status"))
             .join(last, sa.and_(vr.c.dataset == last.c.dataset, vr.c.run_id == last.c.run_id))
             .group_by(vr.c.dataset, vr.c.run_id).order_by(vr.c.dataset))
    return [DatasetRun(row.dataset, row.run_id, _aware(row.started_at) or datetime.now(UTC), float(row.seconds or 0),
                       int(row.rows_in or 0), int(row.rows_valid or 0), int(row.rows_quarantined or 0),
                       published.get((row.dataset, row.run_id)), str(row.status))
            for row in conn.execute(query)]


def source_statuses(engine: sa.Engine, sources: Sequence[SourceInfo]) -> list[SourceStatus]:
    """Every configured source, with its last published sync and its last run's counts per dataset.

    Freshness counts published syncs only (the state committed with a publish, `lt_sync_state`): a local
    `lienthong validate` writes a validation run but publishes nothing, so it does not make a source fresh.
    A source is as fresh as its stalest stream.
    """
    ensure_quality_tables(engine, quality_metadata)
    db.create_system_tables(engine)
    out = []
    st = db.sync_state
    with engine.connect() as conn:
        published = _published_by_run(conn)
        for entry in sources:
            status = SourceStatus(entry.name, entry.dag_id, entry.description)
            status.last_success = _aware(conn.execute(
                sa.select(sa.func.min(st.c.updated_at)).where(st.c.source == entry.name)).scalar())
            status.last_run = _last_runs(conn, entry.name, published)
            out.append(status)
    return out


def first_page_counts(engine: sa.Engine) -> dict[str, int]:
    """The numbers on top of the first page: open drift, records waiting in quarantine."""
    from schemas.drift import drift_log
    from schemas.drift import metadata as drift_metadata

    ensure_quality_tables(engine, quality_metadata)
    ensure_quality_tables(engine, drift_metadata)
    with engine.connect() as conn:
        drift = conn.execute(sa.select(sa.func.count()).select_from(drift_log)
                             .where(drift_log.c.status == "open")).scalar()
        waiting = conn.execute(sa.select(sa.func.count()).select_from(quarantine)
                               .where(quarantine.c.status == "quarantined")).scalar()
    return {"open_drift": int(drift or 0), "quarantined": int(waiting or 0)}


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    points: list[tuple[datetime, float]]


def run_series(engine: sa.Engine) -> dict[str, dict[str, Series]]:
    """Per dataset, per metric (records, quarantine rate, duration): one point per run (its batches summed)."""
    ensure_quality_tables(engine, quality_metadata)
    vr = validation_runs
    by_dataset: dict[str, list[Any]] = {}
    query = (sa.select(vr.c.dataset, sa.func.min(vr.c.started_at).label("started_at"),
                       sa.func.sum(vr.c.rows_in).label("rows_in"),
                       sa.func.sum(vr.c.rows_quarantined).label("rows_quarantined"),
                       sa.func.sum(vr.c.seconds).label("seconds"))
             .group_by(vr.c.dataset, vr.c.run_id).order_by(sa.func.min(vr.c.started_at)))
    with engine.connect() as conn:
        for row in conn.execute(query):
            by_dataset.setdefault(row.dataset, []).append(row)
    out: dict[str, dict[str, Series]] = {}
    for name, rows in sorted(by_dataset.items()):
        at = [_aware(r.started_at) or datetime.now(UTC) for r in rows]
        pairs = list(zip(at, rows, strict=True))
        out[name] = {
            "records": Series(name, [(t, float(r.rows_in or 0)) for t, r in pairs]),
            "quarantine_rate": Series(name, [
                (t, 100.0 * float(r.rows_quarantined or 0) / float(r.rows_in) if r.rows_in else 0.0)
                for t, r in pairs]),
            "seconds": Series(name, [(t, float(r.seconds or 0)) for t, r in pairs]),
        }
    return out


@dataclass(frozen=True, slots=True)
class QuarantineFilter:
    dataset: str = ""
    rule: str = ""
    run_id: str = ""
    status: str = "quarantined"


def quarantine_choices(engine: sa.Engine) -> dict[str, list[str]]:
    ensure_quality_tables(engine, quality_metadata)
    q = quarantine
    with engine.connect() as conn:
        return {name: [str(v) for v in conn.execute(sa.select(col).distinct().order_by(col)).scalars()]
                for name, col in (("dataset", q.c.dataset), ("rule", q.c.rule), ("run_id", q.c.run_id))}


PAGE_SIZE = 50


def quarantined(engine: sa.Engine, where: QuarantineFilter, limit: int = PAGE_SIZE,
                offset: int = 0) -> tuple[int, list[sa.Row[Any]]]:
    """(how many match, `limit` of them from `offset`)."""
    ensure_quality_tables(engine, quality_metadata)
    q = quarantine
    conditions = [c for c in (
        q.c.dataset == where.dataset if where.dataset else None,
        q.c.rule == where.rule if where.rule else None,
        q.c.run_id == where.run_id if where.run_id else None,
        q.c.status == where.status if where.status else None,
    ) if c is not None]
    with engine.connect() as conn:
        total = int(conn.execute(sa.select(sa.func.count()).select_from(q).where(*conditions)).scalar() or 0)
        rows = list(conn.execute(sa.select(q).where(*conditions).order_by(q.c.id).limit(limit).offset(offset)))
    return total, rows


def pretty_json(text: str | None) -> str:
    """Indented, with Vietnamese as composed characters (NFC): decomposed diacritics misplace in monospace."""
    import unicodedata

    try:
        shown = json.dumps(json.loads(text or ""), indent=2, ensure_ascii=False, sort_keys=True)
    except ValueError:
        shown = text or ""
    return unicodedata.normalize("NFC", shown)


def audit_entries(engine: sa.Engine, operations_only: bool, limit: int = 200) -> list[sa.Row[Any]]:
    """The newest entries first: every request, or only what operators did on the dashboard."""
    a = audit_log
    query = sa.select(a).order_by(a.c.seq.desc()).limit(limit)
    if operations_only:
        query = query.where(a.c.method == "POST", a.c.endpoint.like("/ops/%"))
    with engine.connect() as conn:
        return list(conn.execute(query))
