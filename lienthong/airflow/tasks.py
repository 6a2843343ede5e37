"""What the sync and views tasks do, as plain functions a test calls without a scheduler.

A stream's task calls `pipeline.sync.sync_stream`: extract, normalise, validate (quarantine) and
publish in one process, where only the publish transaction commits the cursor, with the data and the
quarantine rows. (One task per stream rather than one per step: the steps pass Arrow batches in
memory, and a step boundary would mean spilling every batch to disk for nothing the guarantee needs.)

A source's endpoint and credentials come from `lienthong.airflow.hook.AgencyHook`: the Airflow
connection `lienthong_<source>` when it exists, else `LIENTHONG_AGENCY_<SOURCE>_URL` (endpoint), else
the source file. The resolved source is handed to the pipeline, not passed through the environment.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from core.errors import Fatal, LienthongError, Retriable

# (source, stream) -> the summary of the stream synced last in this process. The OpenLineage listener
# emits a task's COMPLETE event from a process it forks after the task: it reads the counts from here
# (lienthong.airflow.lineage) rather than asking the API server for the XCom from inside that fork.
LAST_SUMMARIES: dict[tuple[str, str], dict[str, Any]] = {}
QUALITY_GATE = "held back by the quality gate"  # the failure rate passed the contract's threshold
log = logging.getLogger("lienthong.airflow")
progress_log = logging.getLogger("lienthong.airflow.progress")  # `airflow_run` shows these

if TYPE_CHECKING:
    from connectors.config import SourceConfig


def agency_source(source: str, conn_id: str, environ: Mapping[str, str] | None = None) -> SourceConfig:
    """The source a sync task of `source` calls: `AgencyHook` resolves it from connection `conn_id`."""
    from lienthong.airflow.hook import AgencyHook

    return AgencyHook(source, conn_id, environ=environ).get_conn()


def summary_dict(summary: Any, interval: tuple[str | None, str | None] = (None, None),
                 cursor_from: Any = None) -> dict[str, Any]:
    """A stream's summary as the JSON-able dict a task returns (its XCom) and the run report reads."""
    p = summary.published
    moved = f"; cursor moved from {cursor_from if cursor_from is not None else 'the start'}"
    return {
        "source": summary.source, "stream": summary.stream, "dataset": summary.dataset,
        "run_id": summary.run_id, "fetched": summary.fetched, "valid": summary.valid,
        "quarantined": summary.quarantined, "version": p.version if p else None,
        "new_version": bool(p and p.new_version), "inserted": p.inserted if p else 0,
        "updated": p.updated if p else 0, "deleted": p.deleted if p else 0,
        "cursor": None if summary.cursor is None else str(summary.cursor),
        "cursor_from": None if cursor_from is None else str(cursor_from),
        "error": summary.error, "seconds": round(summary.seconds, 2),
        "interval_start": interval[0], "interval_end": interval[1],
        "line": summary.line() + ("" if summary.error else moved),
    }


def sync_stream_task(source: str, stream: str, *, conn_id: str, run_id: str,
                     interval: tuple[str | None, str | None] = (None, None),
                     environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Sync one stream; raise with the agency, the page and the reason when it fails."""
    from core.settings import load_settings
    from pipeline.sync import sync_stream
    from sharing.publish import read_state

    env = dict(os.environ if environ is None else environ)
    settings = load_settings(env)
    config = agency_source(source, conn_id, env)
    where = config.endpoint
    progress_log.info("sync %s/%s from %s, data interval %s .. %s", source, stream, where, *interval)

    def progress(fetched: int, bad: int) -> None:
        progress_log.info("%s/%s: %d fetched, %d quarantined so far", source, stream, fetched, bad)

    try:
        cursor_from = (read_state(settings.database_url, source, stream) or {}).get("cursor")
        summary = sync_stream(config, stream, url=settings.database_url, data_dir=settings.data_dir,
                              run_id=run_id, on_batch=progress, environ=env)
    except Fatal as exc:
        raise StreamFatal(f"{source}/{stream} failed, not retried (a person must act): {exc}") from exc
    except Exception as exc:
        raise StreamRetriable(f"{source}/{stream} failed: {type(exc).__name__}: {exc}") from exc
    result = summary_dict(summary, interval, cursor_from)
    LAST_SUMMARIES[(source, stream)] = {**result, "endpoint": config.endpoint}
    log.info("%s", result["line"])
    if summary.extra.get("hold"):
        raise StreamFatal(f"{source}/{stream} held for a person, nothing published: {summary.error}")
    if summary.error:
        # The failure rate passed its threshold: nothing was published; the statistics are saved.
        raise StreamFatal(f"{source}/{stream} {QUALITY_GATE}, nothing published: {summary.error}")
    return result


def source_endpoint(source: str, conn_id: str) -> str:
    """The endpoint a sync task of `source` would call now (for lineage)."""
    return str(agency_source(source, conn_id).endpoint)


class StreamFailed(LienthongError):
    """A stream's sync failed. What Airflow does follows the error hierarchy (core.errors): a `Fatal` one
    fails the task without retries, any other is retried."""


class StreamFatal(StreamFailed, Fatal):
    """A person must act (bad configuration, refused credentials, a quality gate, a held run)."""


class StreamRetriable(StreamFailed, Retriable):
    """Transient (the agency down, a timeout): Airflow tries the task again."""


def run_report(results: list[dict[str, Any] | None], expected: list[str]) -> str:
    """The run's summary: one line per stream, and the streams that did not publish."""
    done = {r["stream"]: r for r in results if r}
    lines = [done[s]["line"] if s in done else f"{s}: FAILED (see its task log)" for s in expected]
    return "\n".join(lines)


def build_views_task(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Rebuild the cross-agency views whose inputs have new versions."""
    from core.settings import load_settings
    from sharing.views import build_views

    settings = load_settings(os.environ if environ is None else environ)
    report = build_views(settings.database_url, settings.data_dir)
    result = {"published": {n: r.version for n, r in report.published.items()}, "skipped": report.skipped}
    log.info("views published %s; skipped %s", result["published"] or "none", result["skipped"] or "none")
    return result


def deliver_notifications_task(environ: Mapping[str, str] | None = None, max_rounds: int = 50) -> dict[str, int]:
    """Send the subscribers' due notifications until none is due (or `max_rounds`); what happened."""
    import httpx

    from core.settings import load_settings
    from sharing import db, deliver

    settings = load_settings(os.environ if environ is None else environ)
    engine = db.engine_for(settings.database_url)
    total = {"claimed": 0, "delivered": 0, "retrying": 0, "dead": 0}
    with httpx.Client(timeout=10.0, follow_redirects=False) as client:
        for _ in range(max_rounds):
            done = deliver.deliver_due(engine, client)
            for name, n in (("claimed", done.claimed), ("delivered", done.delivered), ("retrying", done.failed),
                            ("dead", done.dead)):
                total[name] += n
            if not done.claimed:
                break
    log.info("notifications: %(delivered)s delivered, %(retrying)s to retry, %(dead)s dead", total)
    return total
