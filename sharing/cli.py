"""CLI commands of the sharing side: `datasets` (catalog, versions, time travel), `sync`, `subscriptions`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from core.settings import check_database_url, get_settings


@click.group()
def datasets() -> None:
    """List published datasets and show their versions."""


def _known_dataset(name: str, param: str = "NAME") -> None:
    """An unknown dataset name (no contract, nothing published) is a usage error listing the known ones."""
    from schemas.contract import contracts
    from sharing.catalog import list_datasets

    if name in contracts():
        return
    known = sorted({*contracts(), *(e.name for e in list_datasets(get_settings().database_url))})
    if name not in known:
        raise click.BadParameter(f"unknown dataset {name!r}; known: {', '.join(known)}", param_hint=param)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit} ago"
    return f"{seconds:.0f}s ago"


@datasets.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_command(as_json: bool) -> None:
    """Every dataset: owner agency, version, rows, freshness, contract version, quality score."""
    from core.listing import emit
    from sharing.catalog import list_datasets

    entries = list_datasets(get_settings().database_url)
    now = datetime.now(UTC)
    if as_json:
        emit([
            {
                "name": e.name, "owner_agency": e.owner_agency, "version": e.version, "rows": e.rows,
                "published_at": e.published_at.isoformat() if e.published_at else None,
                "freshness_seconds": e.freshness_seconds(now), "contract_version": e.contract_version,
                "quality_score": e.quality_score,
            }
            for e in entries
        ], [], as_json=True, empty="")
        return
    rows = [{"dataset": e.name, "owner": e.owner_agency, "version": e.version, "rows": f"{e.rows:,}",
             "published": _age(e.freshness_seconds(now)), "contract": e.contract_version,
             "quality": f"{e.quality_score:.2%}" if e.quality_score is not None else None} for e in entries]
    emit(rows, ["dataset", "owner", "version", "rows", "published", "contract", "quality"], as_json=False,
         title="datasets", numeric=["version", "rows", "quality"],
         empty="nothing published yet: run `lienthong sync SOURCE` or `make demo`")


def _version_or_current(data_dir: Path, name: str, version: int | None) -> int:
    """`version`, or the current one; FileNotFoundError naming what to run when nothing is published."""
    from sharing import snapshots

    number = version if version is not None else snapshots.current_version(data_dir, name)
    if number is None:
        raise FileNotFoundError(f"dataset {name} has no published version under {data_dir} yet; "
                                "run `lienthong sync SOURCE` or `make demo`")
    return number


@datasets.command("show")
@click.argument("name")
@click.option("--version", "version", type=int, default=None, help="A past version (time travel); default current.")
@click.option("--limit", type=click.IntRange(0, 10_000), default=10, show_default=True, help="Rows to print.")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest and rows as JSON.")
def show_command(name: str, version: int | None, limit: int, as_json: bool) -> None:
    """A dataset version's manifest and first rows, read from its Parquet snapshot."""
    from sharing import snapshots

    _known_dataset(name)
    data_dir = get_settings().data_dir
    try:
        number = _version_or_current(data_dir, name, version)
        manifest = snapshots.read_manifest(data_dir, name, number)
        table = snapshots.read_version(data_dir, name, number)
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from None
    sample: list[dict[str, Any]] = table.slice(0, limit).to_pylist()
    if as_json:
        manifest.pop("arrow_schema", None)
        click.echo(json.dumps({"manifest": manifest, "rows": sample}, indent=2, default=str, ensure_ascii=False))
        return
    click.echo(f"{name} v{number}: {manifest['rows']:,} rows, published {manifest['published_at']}, "
               f"contract {manifest['contract_version']}, content {manifest['content_hash'][:16]}")
    click.echo(f"source cursor: {json.dumps(manifest.get('source_cursor'))}")
    for row in sample:
        click.echo(json.dumps(row, default=str, ensure_ascii=False))


@datasets.command("versions")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def versions_command(name: str, as_json: bool) -> None:
    """Every version of one dataset with what it changed."""
    from sharing.catalog import list_versions

    _known_dataset(name)
    versions = list_versions(get_settings().database_url, name)
    if not versions:
        raise click.ClickException(f"dataset {name} has no published version yet; run `lienthong sync SOURCE`")
    if as_json:
        click.echo(json.dumps(versions, default=str, ensure_ascii=False, indent=2))
        return
    from core.listing import emit

    emit([{"version": f"v{v['version']}", "published_at": v["published_at"], "rows": f"{v['rows']:,}",
           "changes": f"+{v['inserted']} ~{v['updated']} -{v['deleted']}",
           "cursor": json.dumps(v["source_cursor"], ensure_ascii=False)} for v in versions],
         ["version", "published_at", "rows", "changes", "cursor"], as_json=False, title=f"{name} versions",
         numeric=["version", "rows"], empty="")


@datasets.command("export")
@click.argument("name")
@click.option("--version", "version", type=click.IntRange(1), default=None, help="A past version; default current.")
@click.option("--format", "fmt", type=click.Choice(["parquet", "csv"]), default="parquet", show_default=True)
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The file to write; an existing file is never replaced.")
def export_command(name: str, version: int | None, fmt: str, out: Path) -> None:
    """Write one version of a dataset to a file, as published (unmasked: agencies export through the API,
    under their grants). Progress on stderr when it is a terminal."""
    import os

    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from sharing import snapshots

    _known_dataset(name)
    if out.exists():
        raise click.ClickException(f"{out} exists; export never replaces a file (give another --out)")
    data_dir = get_settings().data_dir
    try:
        number = _version_or_current(data_dir, name, version)
        table = snapshots.read_version(data_dir, name, number)
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from None
    partial = out.with_name(out.name + ".partial")
    console = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task(f"{name} v{number} -> {out.name}", total=table.num_rows)
        batches = table.to_batches(max_chunksize=20_000)
        if fmt == "parquet":
            with pq.ParquetWriter(partial, table.schema, compression="zstd") as writer:
                for batch in batches:
                    writer.write_batch(batch)
                    progress.advance(task, batch.num_rows)
        else:
            with pacsv.CSVWriter(partial, table.schema) as csv_writer:
                for batch in batches:
                    csv_writer.write_batch(batch)
                    progress.advance(task, batch.num_rows)
    os.replace(partial, out)
    click.echo(f"{name} v{number}: {table.num_rows:,} rows written to {out} ({fmt})")


@click.group()
def subscriptions() -> None:
    """Agencies' subscriptions: list them, deliver their notifications, see and replay dead letters."""


def _subscription_engine(database_url: str | None) -> Any:
    from sharing import db

    url = check_database_url(database_url) if database_url else get_settings().database_url
    return db.engine_for(url)


@subscriptions.command("list")
@click.option("--database-url", envvar="LIENTHONG_DATABASE_URL", help="Default: the settings' database.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def subscriptions_list(database_url: str | None, as_json: bool) -> None:
    """Every subscription, with its notifications pending, delivered and dead."""
    import sqlalchemy as sa

    from sharing.subscriptions import create_tables, list_for, outbox

    engine = _subscription_engine(database_url)
    create_tables(engine)
    with engine.connect() as conn:
        counts: dict[tuple[str, str], int] = {
            (sub, status): n for sub, status, n in conn.execute(
                sa.select(outbox.c.subscription_id, outbox.c.status, sa.func.count())
                .group_by(outbox.c.subscription_id, outbox.c.status))}
    rows = [{"id": r["id"], "client": r["client"], "dataset": r["dataset"], "active": r["active"],
             "callback_url": r["callback_url"], **{s: counts.get((r["id"], s), 0)
                                                   for s in ("pending", "delivered", "dead")}}
            for r in list_for(engine)]
    from core.listing import emit

    emit(rows, ["id", "client", "dataset", "active", "pending", "delivered", "dead", "callback_url"],
         as_json=as_json, title="subscriptions", numeric=["pending", "delivered", "dead"], empty="no subscriptions")


@subscriptions.command("deliver")
@click.option("--database-url", envvar="LIENTHONG_DATABASE_URL", help="Default: the settings' database.")
@click.option("--once", is_flag=True, help="One round, then exit (for a scheduled task).")
@click.option("--interval", type=click.FloatRange(0.1, 3600), default=2.0, show_default=True,
              help="Seconds between rounds when nothing is due.")
def subscriptions_deliver(database_url: str | None, once: bool, interval: float) -> None:
    """Send the due notifications (signed, at least once, retried with backoff); until stopped."""
    from sharing import deliver

    engine = _subscription_engine(database_url)

    def said(result: deliver.Round) -> None:
        if result.claimed:
            click.echo(f"claimed {result.claimed}: delivered {result.delivered}, retrying {result.failed}, "
                       f"dead {result.dead}")

    deliver.run(engine, interval=interval, rounds=1 if once else None, on_round=said)


@subscriptions.command("dead")
@click.option("--database-url", envvar="LIENTHONG_DATABASE_URL", help="Default: the settings' database.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def subscriptions_dead(database_url: str | None, as_json: bool) -> None:
    """Notifications that were never delivered after every retry."""
    from core.listing import emit
    from sharing import deliver

    rows = deliver.dead_letters(_subscription_engine(database_url))
    emit(rows, ["id", "dataset", "version", "attempts", "last_error"], as_json=as_json, title="dead letters",
         numeric=["version", "attempts"], empty="no dead letters")


@subscriptions.command("replay")
@click.argument("notification_id")
@click.option("--database-url", envvar="LIENTHONG_DATABASE_URL", help="Default: the settings' database.")
def subscriptions_replay(notification_id: str, database_url: str | None) -> None:
    """Put a dead notification back in the queue, due now."""
    from sharing import deliver

    engine = _subscription_engine(database_url)
    if not deliver.replay(engine, notification_id):
        dead = [r["id"] for r in deliver.dead_letters(engine)]
        known = f"dead letters: {', '.join(dead[:10])}" if dead else "there are no dead letters"
        raise click.ClickException(f"no dead notification {notification_id!r} ({known})")
    click.echo(f"notification {notification_id} queued again")


@datasets.command("prune")
@click.argument("names", nargs=-1)
@click.option("--dry-run", is_flag=True, help="Say what would be removed, remove nothing.")
def prune_command(names: tuple[str, ...], dry_run: bool) -> None:
    """Remove history and snapshots past each dataset's declared retention (contract `retention:`).

    Never removes a version an as-of read inside the retention window (or the legal minimum) needs;
    datasets without a declared retention are kept whole. Audited under your OS user.
    """
    from schemas.contract import contracts
    from sharing.retention import prune

    settings = get_settings()
    for name in names:
        _known_dataset(name)
    declared = contracts()
    for name in names or tuple(sorted(declared)):
        contract = declared.get(name)
        if contract is None or contract.retention is None:
            click.echo(f"{name}: no retention declared; every version is kept")
            continue
        click.echo(prune(settings.database_url, settings.data_dir, name, contract.retention, dry_run=dry_run).line())
