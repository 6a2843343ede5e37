"""Held runs: a run whose changes look like a broken source is kept for a person instead of published.

An agency system can answer well-formed but wrong: a half-migrated database, an empty table after a
vendor's upgrade, a filter that stopped working. No parser sees that; the size of the change does. The
rules (a contract's `holds:`) are checked inside the publish transaction, on the merge's exact counts,
before anything commits: a run that breaks one is rolled back and kept here, with its staged rows (as
Parquet under `<data dir>/holds/<id>/`) and the state it would commit, until a person releases it
(published then, exactly once: the hold's status changes in the publish transaction) or discards it.

Tables: `lt_holds` (one row per held run) and `lt_run_volumes` (what each published run fetched, for the
volume rule's recent median).
"""

from __future__ import annotations

import json
import shutil
import statistics
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core.ddl import create_tables
from core.errors import Fatal
from sharing import db

if TYPE_CHECKING:
    from schemas.contract import HoldRules
    from sharing.publish import MergeCounts

holds_metadata = sa.MetaData()

holds_table = sa.Table(
    "lt_holds", holds_metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("dataset", sa.String(100), nullable=False),
    sa.Column("source", sa.String(100), nullable=False),
    sa.Column("stream", sa.String(100), nullable=False),
    sa.Column("run_id", sa.String(200), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # held | released | discarded
    sa.Column("held_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("reasons", sa.JSON, nullable=False),  # list of sentences
    sa.Column("counts", sa.JSON, nullable=False),  # inserted, updated, deleted, unchanged, published, fetched
    sa.Column("full_refresh", sa.Boolean, nullable=False),
    sa.Column("expected_state", sa.JSON),  # the state the run started from (None: a first sync)
    sa.Column("new_state", sa.JSON, nullable=False),
    sa.Column("quality", sa.JSON),
    sa.Column("files", sa.Integer, nullable=False),
    sa.Column("decided_by", sa.String(100)),
    sa.Column("decided_at", sa.DateTime(timezone=True)),
    sa.Column("decision_note", sa.Text),
    sa.Column("published_version", sa.Integer),
)

run_volumes = sa.Table(
    "lt_run_volumes", holds_metadata,
    sa.Column("run_id", sa.String(200), primary_key=True),
    sa.Column("dataset", sa.String(100), nullable=False, index=True),
    sa.Column("source", sa.String(100), nullable=False),
    sa.Column("stream", sa.String(100), nullable=False),
    sa.Column("full", sa.Boolean, nullable=False),
    sa.Column("fetched", sa.BigInteger, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)


class HoldRequired(Fatal):
    """Raised inside the publish transaction when a run breaks a hold rule: nothing commits."""

    def __init__(self, dataset: str, reasons: Sequence[str], counts: Mapping[str, int]) -> None:
        super().__init__(f"dataset {dataset}: " + "; ".join(reasons))
        self.dataset, self.reasons, self.counts = dataset, list(reasons), dict(counts)


class HoldError(Fatal):
    """A hold that is unknown, or already decided."""


def ensure_tables(url: str) -> sa.Engine:
    engine = db.engine_for(url)
    db.create_system_tables(engine)
    create_tables(engine, holds_metadata)
    return engine


def _pct(share: float) -> str:
    return f"{share:.1%}"


def broken_rules(rules: HoldRules, counts: MergeCounts, published: int, fetched: int, full: bool,
                 recent_full: Sequence[int]) -> list[str]:
    """Each rule the run breaks, as a sentence with its figures; empty when it may publish."""
    reasons: list[str] = []
    if published >= rules.min_published_rows and published:
        if rules.max_delete_share is not None and counts.deleted / published > rules.max_delete_share:
            reasons.append(f"would delete {counts.deleted:,} of {published:,} published rows "
                           f"({_pct(counts.deleted / published)}), over the declared {_pct(rules.max_delete_share)}")
        changed = counts.inserted + counts.updated + counts.deleted
        if rules.max_change_share is not None and changed / published > rules.max_change_share:
            reasons.append(f"would change {changed:,} of {published:,} published rows ({_pct(changed / published)}), "
                           f"over the declared {_pct(rules.max_change_share)}")
    if full and rules.min_volume_share is not None and len(recent_full) >= rules.volume_min_runs:
        median = statistics.median(recent_full)
        if median and fetched < rules.min_volume_share * median:
            reasons.append(f"fetched {fetched:,} records, under {_pct(rules.min_volume_share)} of the median "
                           f"{median:,.0f} of the last {len(recent_full)} full syncs")
    return reasons


def recent_full_volumes(conn: Connection, dataset: str, stream: str, window: int, source: str | None = None
                        ) -> list[int]:
    t = run_volumes
    query = sa.select(t.c.fetched).where(t.c.dataset == dataset, t.c.stream == stream, t.c.full)
    if source is not None:  # two registers of one vendor feed one dataset by streams of the same name
        query = query.where(t.c.source == source)
    rows = conn.execute(query.order_by(t.c.at.desc()).limit(window))
    return [int(r[0]) for r in rows]


def published_rows(conn: Connection, dataset: str, version: int, scope: tuple[str, str] | None = None) -> int:
    """Rows `dataset` published at `version`; with `scope` (column, source), that source's rows only: the
    share rules of a dataset of several sources weigh a source's change against what it published."""
    if not version:
        return 0
    if scope is not None:
        quote = conn.dialect.identifier_preparer.quote
        live = (f"SELECT COUNT(*) FROM {quote('ds_' + dataset)} WHERE version_from <= :v "  # noqa: S608
                f"AND (version_to IS NULL OR version_to > :v) AND NOT is_deleted AND {quote(scope[0])} = :s")
        return int(conn.execute(sa.text(live), {"v": version, "s": scope[1]}).scalar_one())
    t = db.dataset_versions
    row = conn.execute(sa.select(t.c.rows).where(t.c.dataset == dataset, t.c.version == version)).first()
    return int(row[0]) if row else 0


def guard(rules: HoldRules, *, dataset: str, stream: str, fetched: int, full: bool,
          scope: tuple[str, str] | None = None) -> Callable[[Connection, MergeCounts, int], None]:
    """The check `publish` runs on the merge's counts, inside its transaction; `scope`: (feed column,
    source) of a dataset of several sources, whose rules are judged on that source's rows."""
    def check(conn: Connection, counts: MergeCounts, current_version: int) -> None:
        published = published_rows(conn, dataset, current_version, scope)
        source = scope[1] if scope else None
        recent = recent_full_volumes(conn, dataset, stream, rules.volume_window, source) if full else []
        reasons = broken_rules(rules, counts, published, fetched, full, recent)
        if reasons:
            raise HoldRequired(dataset, reasons, {
                "inserted": counts.inserted, "updated": counts.updated, "deleted": counts.deleted,
                "unchanged": counts.unchanged, "published": published, "fetched": fetched,
            })
    return check


def record_volume(conn: Connection, *, run_id: str, dataset: str, source: str, stream: str, full: bool,
                  fetched: int) -> None:
    conn.execute(run_volumes.insert().values(run_id=run_id, dataset=dataset, source=source, stream=stream,
                                             full=full, fetched=fetched, at=datetime.now(UTC)))


def hold_dir(data_dir: Path, hold_id: str) -> Path:
    return data_dir / "holds" / hold_id


@dataclass(frozen=True, slots=True)
class Held:
    id: str
    dataset: str
    source: str
    stream: str
    run_id: str
    status: str
    held_at: datetime
    reasons: list[str]
    counts: dict[str, int]
    full_refresh: bool
    expected_state: dict[str, Any] | None
    new_state: dict[str, Any]
    quality: dict[str, Any] | None
    files: int
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str | None
    published_version: int | None

    def line(self) -> str:
        decided = f" by {self.decided_by} at {self.decided_at:%Y-%m-%d %H:%M}" if self.decided_at else ""
        version = f" as v{self.published_version}" if self.published_version else ""
        return (f"{self.id}  {self.status}{decided}{version}  {self.source}/{self.stream} -> {self.dataset}  "
                f"held {self.held_at:%Y-%m-%d %H:%M:%S}  {'; '.join(self.reasons)}")


def keep(url: str, data_dir: Path, held: HoldRequired, *, source: str, stream: str, run_id: str,
         tables: Iterable[pa.Table], full_refresh: bool, expected_state: Mapping[str, Any] | None,
         new_state: Mapping[str, Any], quality: Mapping[str, Any] | None) -> str:
    """Store a held run: its staged rows first (files), then its row (the commit that makes it a hold)."""
    import pyarrow.parquet as pq

    engine = ensure_tables(url)
    hold_id = f"{datetime.now(UTC):%Y%m%d%H%M%S}-{uuid.uuid4().hex[:6]}"
    folder = hold_dir(data_dir, hold_id)
    folder.mkdir(parents=True)
    files = 0
    for table in tables:
        if table.num_rows:
            pq.write_table(table, folder / f"part-{files:05d}.parquet")
            files += 1
    with engine.begin() as conn:
        conn.execute(holds_table.insert().values(
            id=hold_id, dataset=held.dataset, source=source, stream=stream, run_id=run_id, status="held",
            held_at=datetime.now(UTC), reasons=held.reasons, counts=held.counts, full_refresh=full_refresh,
            expected_state=dict(expected_state) if expected_state is not None else None,
            new_state=dict(new_state), quality=dict(quality) if quality else None, files=files,
        ))
    return hold_id


def _held(row: Any) -> Held:
    return Held(
        id=row.id, dataset=row.dataset, source=row.source, stream=row.stream, run_id=row.run_id,
        status=row.status, held_at=row.held_at, reasons=list(row.reasons), counts=dict(row.counts),
        full_refresh=bool(row.full_refresh), expected_state=row.expected_state, new_state=dict(row.new_state),
        quality=row.quality, files=int(row.files), decided_by=row.decided_by, decided_at=row.decided_at,
        decision_note=row.decision_note, published_version=row.published_version,
    )


def list_holds(url: str, status: str | None = "held", dataset: str | None = None) -> list[Held]:
    engine = ensure_tables(url)
    query = sa.select(holds_table).order_by(holds_table.c.held_at)
    if status:
        query = query.where(holds_table.c.status == status)
    if dataset:
        query = query.where(holds_table.c.dataset == dataset)
    with engine.connect() as conn:
        return [_held(r) for r in conn.execute(query)]


def get_hold(url: str, hold_id: str) -> Held:
    engine = ensure_tables(url)
    with engine.connect() as conn:
        row = conn.execute(sa.select(holds_table).where(holds_table.c.id == hold_id)).first()
    if row is None:
        known = ", ".join(h.id for h in list_holds(url)) or "none is waiting"
        raise HoldError(f"no hold {hold_id!r} (held now: {known})")
    return _held(row)


def pending(url: str, source: str, stream: str) -> Held | None:
    """The hold waiting for a person on this stream, if any (the stream does not move meanwhile)."""
    engine = ensure_tables(url)
    with engine.connect() as conn:
        row = conn.execute(sa.select(holds_table).where(
            holds_table.c.source == source, holds_table.c.stream == stream, holds_table.c.status == "held",
        ).order_by(holds_table.c.held_at).limit(1)).first()
    return _held(row) if row else None


def read_staged(data_dir: Path, hold: Held) -> list[pa.Table]:
    import pyarrow.parquet as pq

    folder = hold_dir(data_dir, hold.id)
    paths = [folder / f"part-{i:05d}.parquet" for i in range(hold.files)]
    missing = [p.name for p in paths if not p.exists()]
    if missing:
        raise HoldError(f"hold {hold.id}: staged file(s) {', '.join(missing[:3])} missing under {folder}; "
                        "discard it and run the sync again")
    return [pq.read_table(p) for p in paths]


def decide(conn: Connection, hold: Held, status: str, user: str, note: str | None,
           version: int | None = None) -> None:
    """Mark the hold decided inside the caller's transaction; refused when someone decided it first."""
    done = conn.execute(holds_table.update().where(
        holds_table.c.id == hold.id, holds_table.c.status == "held",
    ).values(status=status, decided_by=user, decided_at=datetime.now(UTC), decision_note=note,
             published_version=version)).rowcount
    if not done:
        raise HoldError(f"hold {hold.id} was already decided by someone else; nothing was done")


def audit_decision(conn: Connection, hold: Held, action: str, user: str, detail: str) -> None:
    """The decision in the audit log's hash chain, in the same transaction as the decision."""
    from sharing.api import audit

    audit.append(conn, [audit.Entry(
        method="CLI", endpoint=f"holds {action}", client=user, purpose="held run decision",
        params={"hold": hold.id, "dataset": hold.dataset, "source": hold.source, "stream": hold.stream,
                "reasons": hold.reasons}, outcome="allowed", status=0, detail=detail,
    )])


def remove_files(data_dir: Path, hold_id: str) -> None:
    shutil.rmtree(hold_dir(data_dir, hold_id), ignore_errors=True)


def as_json(hold: Held) -> dict[str, Any]:
    data = {k: getattr(hold, k) for k in Held.__dataclass_fields__}
    data.pop("new_state")
    data.pop("expected_state")
    data["cursor_from"] = (hold.expected_state or {}).get("cursor")
    data["cursor_to"] = hold.new_state.get("cursor")
    result: dict[str, Any] = json.loads(json.dumps(data, default=str))
    return result
