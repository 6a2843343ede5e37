"""One source, the whole path, without Airflow: extract, normalise, validate (quarantine), publish.

Per stream: read from the committed state (pages read ahead in a thread), join pages into chunks of
tens of thousands of rows, validate each chunk against the stream's contract and stage its valid rows
while later pages are fetched (`sharing.staging`), then publish them with the new state and the
quarantine rows in one transaction. When the run's failure rate (all its rows, not one chunk's) passes
the threshold the stream fails and publishes nothing; the other streams go on.
The Airflow DAGs call the same functions, step by step.
"""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core.dbfaults import named
from pipeline import holds
from pipeline.chunks import CHUNK_ROWS, chunks, prefetched
from pipeline.feeds import Settled, quarantine_conflicts
from pipeline.memory import return_freed_memory
from pipeline.run_quality import RunQuality
from pipeline.unique import RunUnique
from sharing import db
from sharing.publish import DELETED_COLUMN, PublishResult, StateCommit, read_state, repair_snapshots
from sharing.spec import dataset_spec
from sharing.staging import open_publication

if TYPE_CHECKING:
    from connectors.config import SourceConfig
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
        settled = self.extra.get("keys_settled")
        settled_line = Settled(Counter(settled["taken_over"]), Counter(settled["yielded"])).line() if settled else ""
        return (f"{self.source}/{self.stream} -> {self.dataset}: fetched {self.fetched}, valid {self.valid}, "
                f"quarantined {self.quarantined}{settled_line}, {published}, cursor {self.cursor}{seen}, "
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
            "keys_settled": self.extra.get("keys_settled"),
            "seconds": round(self.seconds, 3),
        }



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


def _split_deletes(batch: pa.RecordBatch | pa.Table) -> list[tuple[pa.Table, bool]]:
    """The batch as (live rows, False) and (keys found deleted by reconciliation, True), when it has both.

    A reconciled delete carries only its key: validated apart, its valid rows are published as deletes.
    """
    table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
    if DELETED_COLUMN not in table.column_names:
        return [(table, False)]
    gone = pc.fill_null(table.column(DELETED_COLUMN), False)
    parts = [(table.filter(pc.invert(gone)), False), (table.filter(gone), True)]
    return [(part, deleted) for part, deleted in parts if part.num_rows]


def _peak_rss_mb() -> float:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _last_copies(chunk: pa.Table, contract: Contract) -> tuple[pa.Table, int]:
    """The chunk with only the last copy of each key (a record updated while the run read the feed),
    and how many earlier copies were dropped. Across chunks the stage keeps the last copy the same way,
    so the published row, and whether a key counts as doubled, never depends on where a chunk ends."""
    import numpy as np

    fields = [f for f in contract.key_wire_fields() if f in chunk.column_names]
    if not fields or chunk.num_rows < 2:
        return chunk, 0
    keyed = pa.table({f"k{i}": chunk.column(f) for i, f in enumerate(fields)})
    keyed = keyed.append_column("_row", pa.array(np.arange(chunk.num_rows, dtype=np.int64)))
    last = keyed.group_by([f"k{i}" for i in range(len(fields))], use_threads=False).aggregate([("_row", "max")])
    if last.num_rows == chunk.num_rows:
        return chunk, 0
    rows = np.sort(last.column("_row_max").to_numpy())
    return chunk.take(pa.array(rows)), chunk.num_rows - len(rows)


def _mark_deleted(rows: pa.Table) -> pa.Table:
    if DELETED_COLUMN in rows.column_names:
        rows = rows.drop_columns([DELETED_COLUMN])
    return rows.append_column(DELETED_COLUMN, pa.array([True] * rows.num_rows, pa.bool_()))


def _same_json(raw: str | None) -> str | None:
    """`raw` in one spelling (keys sorted, compact), so a record quarantined before `_raw` was written
    compactly (and `"a": 1` became `"a":1`) still counts as the same record."""
    if raw is None:
        return None
    try:
        return json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except ValueError:
        return raw


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
                waiting |= {(k, _same_json(raw)) for k, raw in found}
            held = {k for k, _ in waiting}
            fresh = [r for r in records
                     if r["record_key"] not in held or (r["record_key"], _same_json(r["raw"])) not in waiting]
            if fresh:
                conn.execute(q_table.insert(), fresh)
        for s in stats:
            conn.execute(validation_runs.insert().values(**stats_row(s)))

    return write


@named(lambda source_name, stream_name, *_, **__:
       f"[{getattr(source_name, 'name', None) or Path(source_name).stem}] stream {stream_name}")
def sync_stream(
    source_name: str | SourceConfig,
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
    full_reload: bool = False,
) -> StreamSummary:
    """Extract, validate and publish one stream; the summary says what happened, errors included.

    `dry_run`: read and validate, publish nothing (no rows, no quarantine, no state; drift is still logged).
    A run that breaks its contract's hold rules is held for a person (pipeline/holds.py), not published;
    `full_reload` is a declared full refresh that the hold rules let through. `source_name`: a source
    file's name or path, or a source already resolved (the Airflow task's, from `AgencyHook`).
    """
    import time

    from connectors import SourceConfig, load_source, read
    from quality.runner import validate_batch
    from schemas.contract import contract_for_stream
    from schemas.db import ensure_tables

    started = time.perf_counter()
    return_freed_memory()  # RSS bounded by what the run holds (pipeline/memory.py)
    source = source_name if isinstance(source_name, SourceConfig) else load_source(source_name, environ=environ)
    contract = contract_for_stream(source.name, stream_name)
    run_id = run_id or f"{source.name}-{stream_name}-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    summary = StreamSummary(source.name, stream_name, contract.dataset, run_id)
    engine = db.engine_for(url)
    from quality.store import metadata as quality_metadata

    ensure_tables(engine, quality_metadata)
    repair_snapshots(url, data_dir, contract.dataset)
    full_refresh = full_refresh or full_reload
    if full_reload:
        holds.prepare_audit(url)
    waiting = None if dry_run else holds.blocked(url, source.name, stream_name)
    if waiting is not None:
        summary.error, summary.extra["hold"] = holds.blocked_message(waiting), waiting.id
        return summary
    previous = read_state(url, source.name, stream_name)
    extraction = read(source, stream_name, state=None if full_refresh else previous, full_refresh=full_refresh,
                      environ=environ, reconcile=reconcile)
    spec = dataset_spec(contract)
    run = RunQuality(contract, run_id)
    size = int(os.environ.get("LIENTHONG_CHUNK_ROWS") or CHUNK_ROWS)
    settled, unique = Settled(), RunUnique(contract, engine)
    with open_publication(url, spec, data_dir=data_dir, full_refresh=full_refresh, run_id=run_id,
                          dry_run=dry_run) as publication:
        # where the run's wall time goes (seconds): waiting for pages, validating, handing chunks to the
        # stage (waiting for the last COPY), the publish transaction
        timings = summary.extra["timings"] = {"start": time.perf_counter() - started, "fetch_wait": 0.0,
                                              "validate": 0.0, "stage_wait": 0.0, "commit": 0.0}
        clock = time.perf_counter()
        for chunk in chunks(prefetched(extraction), size):
            timings["fetch_wait"] += time.perf_counter() - clock
            summary.fetched += chunk.num_rows
            chunk, superseded = _last_copies(chunk, contract)
            summary.extra["superseded"] = summary.extra.get("superseded", 0) + superseded
            for part, deleted in _split_deletes(chunk):
                clock = time.perf_counter()
                checked = validate_batch(part, contract, run_id=run_id, engine=engine, persist=False,
                                         enforce_threshold=False)
                if not deleted:  # a global key another source published: quarantined, never overwritten
                    checked = quarantine_conflicts(part, checked, contract, engine, run_id, settled)
                    checked = unique.check(part, checked, run_id)  # across the run and the published rows
                rows = for_publishing(checked.valid, contract)
                timings["validate"] += time.perf_counter() - clock
                clock = time.perf_counter()
                publication.add(_mark_deleted(rows) if deleted else rows)
                if checked.quarantined_keys is not None:  # a full refresh keeps their published rows
                    publication.add_quarantined_keys(checked.quarantined_keys)
                timings["stage_wait"] += time.perf_counter() - clock
                run.add(checked)
                summary.valid += checked.valid.num_rows
                summary.quarantined += checked.quarantine.num_rows
            if on_batch:
                on_batch(summary.fetched, summary.quarantined)
            del chunk
            clock = time.perf_counter()
        timings["fetch_wait"] += time.perf_counter() - clock
        for checked in unique.finish(run_id):  # rows whose unique value waited for the whole run
            publication.add(for_publishing(checked.valid, contract))
            if checked.quarantined_keys is not None:
                publication.add_quarantined_keys(checked.quarantined_keys)
            run.add(checked)
            summary.valid += checked.valid.num_rows
            summary.quarantined += checked.quarantine.num_rows
        timings["peak_rss_mb_before_commit"] = _peak_rss_mb()
        failed = run.failure()
        if failed is not None:  # judged on the whole run: nothing of it is published
            from quality.store import save

            if not dry_run:
                save(engine, failed.stats, None, contract.version)  # the failed run is seen on the dashboard
            summary.error = str(failed)
            summary.seconds = time.perf_counter() - started
            return summary
        new_state = extraction.state
        summary.extra["reconciled"] = extraction.reconciled
        summary.extra["xroad_request_ids"] = extraction.request_ids  # X-Road message ids sent, in order
        summary.extra["xroad_request_hashes"] = extraction.request_hashes  # REST: the security server's hashes
        summary.extra["warnings"] = extraction.warnings
        if settled.taken_over or settled.yielded:
            summary.extra["keys_settled"] = settled.as_dict()
        summary.cursor = new_state.get("cursor")
        stats = run.summary()
        summary.extra["drift_open"] = sorted({d.rsplit(":", 1)[0] for d in (stats or {}).get("drift", [])
                                              if d.endswith(":open")})
        if dry_run:
            summary.extra["dry_run"] = True
            summary.seconds = time.perf_counter() - started
            return summary
        quality = {"valid": summary.valid, "quarantined": summary.quarantined, "fetched": summary.fetched,
                   "run_id": run_id, **({"full_reload": True} if full_reload else {})}
        full = full_refresh or previous is None
        save_quality = _save_quality(run.quarantine, [stats] if stats else [], contract.version)
        clock = time.perf_counter()
        try:
            summary.published = publication.commit(
                state=StateCommit(source.name, stream_name, previous, new_state), quality=quality,
                in_transaction=holds.with_volume(save_quality, run_id=run_id, contract=contract,
                                                 source=source.name, full=full, fetched=summary.fetched,
                                                 full_reload=full_reload),
                guard=None if full_reload else holds.guard_for(contract, fetched=summary.fetched, full=full),
            )
        except holds.HoldRequired as held:  # the staged rows are still there: keep them with the hold
            summary.extra["hold"], summary.error = holds.hold_run(
                url, data_dir, held, source=source.name, stream=stream_name, run_id=run_id,
                valid=publication.staged_tables(), full_refresh=full_refresh, expected_state=previous,
                new_state=new_state, quality=quality, save_quality=save_quality)
        timings["commit"] = time.perf_counter() - clock
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
    full_reload: bool = False,
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
                                         reconcile=reconcile, dry_run=dry_run, full_reload=full_reload))
        except LienthongError as exc:
            summaries.append(StreamSummary(source.name, stream, stream, "-", error=str(exc)))
    return summaries
