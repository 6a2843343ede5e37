"""One source, the whole path, without Airflow: extract, normalise, validate (quarantine), publish.

Per stream: read from the committed state, validate each batch against the stream's contract, and
publish the valid rows with the new state and the quarantine rows in one transaction. A batch whose
failure rate passes its threshold fails the stream and publishes nothing; the other streams go on.
The Airflow DAGs call the same functions, step by step.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sharing import db
from sharing.publish import (
    DELETED_COLUMN,
    DatasetSpec,
    PublishResult,
    StateCommit,
    publish,
    read_state,
    repair_snapshots,
)

if TYPE_CHECKING:
    from schemas.contract import Contract


@dataclass(slots=True)
class StreamSummary:
    source: str
    stream: str
    dataset: str
    run_id: str
    fetched: int = 0
    valid: int = 0
    quarantined: int = 0
    published: PublishResult | None = None
    cursor: Any = None
    error: str | None = None
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        if self.error:
            return f"{self.source}/{self.stream}: FAILED: {self.error}"
        p = self.published
        version = f"v{p.version}{'' if p.new_version else ' (unchanged)'}" if p else "-"
        changes = f"+{p.inserted} ~{p.updated} -{p.deleted}" if p else ""
        published = "not published (dry run)" if self.extra.get("dry_run") else f"published {version} {changes}"
        drift = self.extra.get("drift_open") or []
        seen = f", open drift {', '.join(drift)} (`lienthong drift list`)" if drift else ""
        return (f"{self.source}/{self.stream} -> {self.dataset}: fetched {self.fetched}, valid {self.valid}, "
                f"quarantined {self.quarantined}, {published}, cursor {self.cursor}{seen}, "
                f"{self.seconds:.1f}s")

    def as_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready values (`lienthong sync --json`)."""
        p = self.published
        return {
            "stream": f"{self.source}/{self.stream}", "source": self.source, "dataset": self.dataset,
            "run_id": self.run_id, "ok": self.error is None, "error": self.error, "fetched": self.fetched,
            "valid": self.valid, "quarantined": self.quarantined, "dry_run": bool(self.extra.get("dry_run")),
            "published": None if p is None else {"version": p.version, "new_version": p.new_version,
                                                 "inserted": p.inserted, "updated": p.updated,
                                                 "deleted": p.deleted},
            "cursor": self.cursor, "open_drift": list(self.extra.get("drift_open") or []),
            "seconds": round(self.seconds, 3),
        }


def dataset_spec(contract: Contract) -> DatasetSpec:
    """What publishing needs from a contract: the tombstone column marks deletes and is not published."""
    schema = contract.arrow_schema()
    if contract.tombstone:
        schema = schema.remove(schema.get_field_index(contract.tombstone))
    return DatasetSpec(
        name=contract.dataset, primary_key=tuple(contract.primary_key), schema=schema,
        contract_version=str(contract.version), owner_agency=contract.agency,
        partition_by="province_code" if "province_code" in schema.names else None,
        description=contract.description.en,
    )


def for_publishing(valid: pa.Table, contract: Contract) -> pa.Table:
    """Valid canonical rows with `_deleted` set for tombstones (the contract's column) and reconciled deletes."""
    deleted = valid.column(DELETED_COLUMN) if DELETED_COLUMN in valid.column_names else None
    if contract.tombstone and contract.tombstone in valid.column_names:
        tomb = pc.fill_null(valid.column(contract.tombstone), False)
        deleted = tomb if deleted is None else pc.or_(pc.fill_null(deleted, False), tomb)
    if deleted is None:
        return valid
    if DELETED_COLUMN in valid.column_names:
        valid = valid.drop_columns([DELETED_COLUMN])
    return valid.append_column(DELETED_COLUMN, deleted)


def _split_deletes(batch: pa.RecordBatch) -> list[tuple[pa.Table, bool]]:
    """The batch as (live rows, False) and (keys found deleted by reconciliation, True), when it has both.

    A reconciled delete carries only its key: validated apart, its valid rows are published as deletes.
    """
    table = pa.Table.from_batches([batch])
    if DELETED_COLUMN not in table.column_names:
        return [(table, False)]
    gone = pc.fill_null(table.column(DELETED_COLUMN), False)
    parts = [(table.filter(pc.invert(gone)), False), (table.filter(gone), True)]
    return [(part, deleted) for part, deleted in parts if part.num_rows]


def _mark_deleted(rows: pa.Table) -> pa.Table:
    if DELETED_COLUMN in rows.column_names:
        rows = rows.drop_columns([DELETED_COLUMN])
    return rows.append_column(DELETED_COLUMN, pa.array([True] * rows.num_rows, pa.bool_()))


def _save_quality(quarantine: list[pa.Table], stats: list[dict[str, Any]], contract_version: int
                  ) -> Callable[[Connection, PublishResult], None]:
    """Quarantine rows and validation statistics, written inside the publish transaction.

    A record already waiting in quarantine with the same raw content is not quarantined twice (a rerun
    after a crash, or a lookback window, reads it again).
    """
    from quality.store import quarantine as q_table
    from quality.store import quarantine_records, stats_row, validation_runs

    def write(conn: Connection, _result: PublishResult) -> None:
        now = datetime.now(UTC)
        for rows in quarantine:
            if not rows.num_rows:
                continue
            records = quarantine_records(rows, contract_version, now)
            keys = sorted({r["record_key"] for r in records if r["record_key"] is not None})
            waiting: set[tuple[str, str | None]] = set()
            for start in range(0, len(keys), 500):
                found = conn.execute(
                    sa.select(q_table.c.record_key, q_table.c.raw).where(
                        q_table.c.dataset == records[0]["dataset"], q_table.c.status == "quarantined",
                        q_table.c.record_key.in_(keys[start:start + 500]),
                    )
                )
                waiting |= {(k, raw) for k, raw in found}
            fresh = [r for r in records if (r["record_key"], r["raw"]) not in waiting]
            if fresh:
                conn.execute(q_table.insert(), fresh)
        for s in stats:
            conn.execute(validation_runs.insert().values(**stats_row(s)))

    return write


def sync_stream(
    source_name: str,
    stream_name: str,
    *,
    url: str,
    data_dir: Path,
    full_refresh: bool = False,
    run_id: str | None = None,
    on_batch: Callable[[int, int], None] | None = None,
    environ: dict[str, str] | None = None,
    reconcile: bool | None = None,
    dry_run: bool = False,
) -> StreamSummary:
    """Extract, validate and publish one stream; the summary says what happened, errors included.

    `dry_run`: read and validate, publish nothing (no rows, no quarantine, no state; drift is still logged).
    """
    import time

    from connectors import load_source, read
    from quality.runner import ValidationFailed, validate_batch
    from schemas.contract import contract_for_stream
    from schemas.db import ensure_tables

    started = time.perf_counter()
    source = load_source(source_name, environ=environ)
    contract = contract_for_stream(source.name, stream_name)
    run_id = run_id or f"{source.name}-{stream_name}-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    summary = StreamSummary(source.name, stream_name, contract.dataset, run_id)
    engine = db.engine_for(url)
    from quality.store import metadata as quality_metadata

    ensure_tables(engine, quality_metadata)
    repair_snapshots(url, data_dir, contract.dataset)
    previous = read_state(url, source.name, stream_name)
    extraction = read(source, stream_name, state=None if full_refresh else previous, full_refresh=full_refresh,
                      environ=environ, reconcile=reconcile)
    valid: list[pa.Table] = []
    quarantine: list[pa.Table] = []
    stats: list[dict[str, Any]] = []
    try:
        for batch in extraction:
            summary.fetched += batch.num_rows
            for part, deleted in _split_deletes(batch):
                checked = validate_batch(part, contract, run_id=run_id, engine=engine, persist=False)
                rows = for_publishing(checked.valid, contract)
                if deleted:
                    rows = _mark_deleted(rows)
                valid.append(rows)
                quarantine.append(checked.quarantine)
                stats.append(checked.stats)
                summary.valid += checked.valid.num_rows
                summary.quarantined += checked.quarantine.num_rows
            if on_batch:
                on_batch(summary.fetched, summary.quarantined)
    except ValidationFailed as exc:
        from quality.store import save

        if not dry_run:
            save(engine, exc.stats, None, contract.version)  # the failed run is seen on the dashboard
        summary.error = str(exc)
        summary.seconds = time.perf_counter() - started
        return summary
    new_state = extraction.state
    summary.extra["reconciled"] = extraction.reconciled
    summary.extra["xroad_request_ids"] = extraction.request_ids  # X-Road message ids sent, in order
    summary.extra["warnings"] = extraction.warnings
    summary.cursor = new_state.get("cursor")
    summary.extra["drift_open"] = sorted({d.rsplit(":", 1)[0] for st in stats for d in st.get("drift", [])
                                          if d.endswith(":open")})
    if dry_run:
        summary.extra["dry_run"] = True
        summary.seconds = time.perf_counter() - started
        return summary
    quality = {"valid": summary.valid, "quarantined": summary.quarantined, "fetched": summary.fetched,
               "run_id": run_id}
    summary.published = publish(
        url, dataset_spec(contract), valid, data_dir=data_dir, full_refresh=full_refresh,
        state=StateCommit(source.name, stream_name, previous, new_state), quality=quality, run_id=run_id,
        in_transaction=_save_quality(quarantine, stats, contract.version),
    )
    summary.seconds = time.perf_counter() - started
    return summary


def sync_source(
    source_name: str,
    *,
    url: str,
    data_dir: Path,
    full_refresh: bool = False,
    streams: Iterable[str] | None = None,
    on_batch: Callable[[str, int, int], None] | None = None,
    environ: dict[str, str] | None = None,
    reconcile: bool | None = None,
    dry_run: bool = False,
) -> list[StreamSummary]:
    """Every stream of a source in turn; one stream's failure does not stop the others."""
    from connectors import load_source
    from core.errors import LienthongError

    source = load_source(source_name, environ=environ)
    summaries = []
    for stream in streams or list(source.streams):
        def progress(fetched: int, bad: int, stream: str = stream) -> None:
            if on_batch:
                on_batch(stream, fetched, bad)

        try:
            summaries.append(sync_stream(source_name, stream, url=url, data_dir=data_dir,
                                         full_refresh=full_refresh, on_batch=progress, environ=environ,
                                         reconcile=reconcile, dry_run=dry_run))
        except LienthongError as exc:
            summaries.append(StreamSummary(source.name, stream, stream, "-", error=str(exc)))
    return summaries
