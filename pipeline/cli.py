"""Pipeline commands: `lienthong sync` (one source's streams, without Airflow), `holds` (the runs held for a
person, pipeline/holds.py, and the decision on each) and `quarantine replay`.

`quarantine` is quality's group (list, show) with `replay` added here: replaying quarantined records
maps, validates and releases them again, a pipeline action (docs/architecture.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from core.settings import get_settings
from quality.cli import _engine, _id_range, _known_dataset, quarantine

__all__ = ["holds", "quarantine", "replay_command", "sync"]


@click.group()
def holds() -> None:
    """List held runs, show one, release (publish) or discard it."""


@holds.command("list")
@click.option("--all", "show_all", is_flag=True, help="Also the holds already released or discarded.")
@click.option("--dataset", default=None, help="Only this dataset's holds.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_command(show_all: bool, dataset: str | None, as_json: bool) -> None:
    """Held runs waiting for a decision (with --all, every hold)."""
    from core.listing import emit
    from sharing import holds as store

    found = store.list_holds(get_settings().database_url, None if show_all else "held", dataset)
    if as_json:
        click.echo(json.dumps([store.as_json(h) for h in found], indent=2, ensure_ascii=False))
        return
    rows = [{"id": h.id, "status": h.status, "stream": f"{h.source}/{h.stream}", "dataset": h.dataset,
             "held_at": f"{h.held_at:%Y-%m-%d %H:%M:%S}",
             "decided": (f"{h.decided_by} {h.decided_at:%Y-%m-%d %H:%M}" if h.decided_at else None),
             "reasons": "; ".join(h.reasons)} for h in found]
    emit(rows, ["id", "status", "stream", "dataset", "held_at", "decided", "reasons"], as_json=False,
         title="holds", empty="no held run is waiting" if not show_all else "no run was ever held")


@holds.command("show")
@click.argument("hold_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show_command(hold_id: str, as_json: bool) -> None:
    """One hold: why it was held, what it would change, the cursors, the decision."""
    from sharing import holds as store

    hold = store.get_hold(get_settings().database_url, hold_id)
    data = store.as_json(hold)
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    c = hold.counts
    click.echo(f"hold {hold.id}: {hold.status}  {hold.source}/{hold.stream} -> {hold.dataset}  run {hold.run_id}")
    click.echo(f"held at {hold.held_at:%Y-%m-%d %H:%M:%S}{'  (full refresh)' if hold.full_refresh else ''}")
    for reason in hold.reasons:
        click.echo(f"  - {reason}")
    click.echo(f"would publish: +{c.get('inserted', 0):,} ~{c.get('updated', 0):,} -{c.get('deleted', 0):,} "
               f"(unchanged {c.get('unchanged', 0):,}) over {c.get('published', 0):,} published rows; "
               f"fetched {c.get('fetched', 0):,}")
    click.echo(f"cursor {data['cursor_from']!r} -> {data['cursor_to']!r}")
    if hold.decided_at:
        click.echo(f"{hold.status} by {hold.decided_by} at {hold.decided_at:%Y-%m-%d %H:%M:%S}"
                   + (f" as v{hold.published_version}" if hold.published_version else "")
                   + (f": {hold.decision_note}" if hold.decision_note else ""))


@holds.command("release")
@click.argument("hold_id")
@click.option("--note", default=None, help="Why (kept with the decision and in the audit log).")
def release_command(hold_id: str, note: str | None) -> None:
    """Publish the held run as it stands (its data and cursor), once; audited under your OS user."""
    from pipeline.holds import release

    settings = get_settings()
    result = release(settings.database_url, settings.data_dir, hold_id, note=note)
    click.echo(f"released hold {hold_id}: {result.dataset} v{result.version} "
               f"+{result.inserted} ~{result.updated} -{result.deleted}")


@holds.command("discard")
@click.argument("hold_id")
@click.option("--note", default=None, help="Why (kept with the decision and in the audit log).")
def discard_command(hold_id: str, note: str | None) -> None:
    """Drop the held run; the next sync reads again from the last committed state. Audited."""
    from pipeline.holds import discard

    settings = get_settings()
    discard(settings.database_url, settings.data_dir, hold_id, note=note)
    click.echo(f"discarded hold {hold_id}; the next sync starts again from the last published state")


@contextmanager
def _progress_records(show: Callable[[str], None], disabled: bool) -> Iterator[None]:
    """While syncing, the extractor's progress records (the key-set reconciliation's listing) go to `show`."""
    import logging

    class Shown(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            text = getattr(record, "progress", None)
            if text:
                show(text)

    if disabled:
        yield
        return
    logger, handler = logging.getLogger("connectors.extract"), Shown(logging.DEBUG)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(min(level or logging.DEBUG, logging.DEBUG))
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@click.command()
@click.argument("source")
@click.option("--full-refresh", is_flag=True, help="Read everything again; rows the source no longer has are deleted.")
@click.option("--stream", "streams", multiple=True, help="Only this stream (repeatable); default all.")
@click.option("--dry-run", is_flag=True, help="Read and validate, publish nothing (no rows, quarantine or cursor).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per stream instead of lines.")
@click.option("--full-reload", is_flag=True,
              help="A declared full reload: --full-refresh that the hold rules (mass deletes, volume drops) let "
                   "through.")
def sync(source: str, full_refresh: bool, streams: tuple[str, ...], dry_run: bool, as_json: bool,
         full_reload: bool) -> None:
    """Extract, validate and publish one source, without Airflow.

    Prints one line per stream (SOURCE/STREAM -> dataset: fetched, valid, quarantined, published version,
    cursor, open drift). Progress goes to stderr on a terminal only. Exits 1 when a stream failed (its
    data is not published and its cursor does not move; the other streams go on).
    """
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from connectors import load_source
    from pipeline.sync import sync_source

    settings = get_settings()
    declared = load_source(source)
    unknown = [s for s in streams if s not in declared.streams]
    if unknown:
        raise click.BadParameter(f"{declared.name} has no stream {', '.join(map(repr, unknown))}; "
                                 f"its streams: {', '.join(declared.streams)}", param_hint="--stream")
    console = Console(stderr=True)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task(f"{declared.name}: connecting", total=None)

        def on_batch(stream: str, fetched: int, quarantined: int) -> None:
            progress.update(task, description=f"{declared.name}/{stream}: {fetched:,} fetched, {quarantined:,} bad")

        with _progress_records(lambda text: progress.update(task, description=text), progress.disable):
            summaries = sync_source(source, url=settings.database_url, data_dir=settings.data_dir,
                                    full_refresh=full_refresh, streams=streams or None, on_batch=on_batch,
                                    dry_run=dry_run, full_reload=full_reload)
    for summary in summaries:
        click.echo(json.dumps(summary.as_dict(), default=str, ensure_ascii=False) if as_json else summary.line())
    if any(s.error for s in summaries):
        raise SystemExit(1)


@click.command("replay")
@click.option("--dataset", default=None)
@click.option("--id", "ids", type=int, multiple=True, help="Only these records (repeatable).")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write released rows per dataset here (Parquet).")
@click.option("--database-url", default=None)
def replay_command(dataset: str | None, ids: tuple[int, ...], output_dir: Path | None,
                   database_url: str | None) -> None:
    """Run quarantined records through mapping and validation again; release those that pass."""
    from pipeline.replay import replay
    from quality.store import list_quarantined

    _known_dataset(dataset)
    engine = _engine(database_url)
    if ids:
        found = {row.id: row.status for row in list_quarantined(engine, None, None, ids=ids)}
        missing = [str(i) for i in ids if i not in found]
        if missing:
            raise click.ClickException(f"no quarantined record {', '.join(missing)} ({_id_range(engine)})")
        released = [str(i) for i in ids if found[i] != "quarantined"]
        if released:
            raise click.ClickException(f"record {', '.join(released)} already released; nothing to replay")
    from contextlib import nullcontext

    from rich.console import Console

    console = Console(stderr=True)
    waiting = len(ids) if ids else len(list_quarantined(engine, dataset, "quarantined"))
    # the first validation loads Great Expectations (seconds): say what is going on, on a terminal only
    status = console.status(f"replaying {waiting:,} quarantined record(s): mapping and validating again ...")
    with status if console.is_terminal else nullcontext():
        result = replay(engine, dataset, list(ids) or None)
    from core import actions
    from core.settings import check_database_url

    url = check_database_url(database_url) if database_url else get_settings().database_url
    actions.record(url, "quarantine.replay",
                   f"replay {result.run_id}: {len(result.released_ids)} released, "
                   f"{len(result.still_quarantined)} still quarantined",
                   {"dataset": dataset, "ids": list(ids), "released": list(result.released_ids)[:500]})
    click.echo(f"replay {result.run_id}: {len(result.released_ids)} released, "
               f"{len(result.still_quarantined)} still quarantined")
    if output_dir is not None:
        import pyarrow.parquet as pq

        output_dir.mkdir(parents=True, exist_ok=True)
        for name, table in result.released.items():
            if table.num_rows:
                pq.write_table(table, output_dir / f"{name}-{result.run_id}.parquet")


quarantine.add_command(replay_command)
