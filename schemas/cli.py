"""`lienthong drift list` and `lienthong drift approve ID`."""

from __future__ import annotations

import click

from core.settings import check_database_url, get_settings


@click.group()
def drift() -> None:
    """List and approve schema drift."""


@drift.command("list")
@click.option("--status", type=click.Choice(["open", "approved"]), default=None, help="Only this status.")
@click.option("--database-url", default=None, help="Default: LIENTHONG_DATABASE_URL.")
def list_command(status: str | None, database_url: str | None) -> None:
    """Every drift seen: id, source, dataset, field, kind, first seen, rows, status, sample."""
    from schemas.db import engine_for
    from schemas.drift import list_drift

    url = check_database_url(database_url) if database_url else get_settings().database_url
    rows = list_drift(engine_for(url), status)
    if not rows:
        click.echo("no drift recorded")
        return
    for row in rows:
        click.echo(f"{row.id}\t{row.source}\t{row.dataset}\t{row.field}\t{row.kind}\t"
                   f"{row.first_seen:%Y-%m-%dT%H:%M:%SZ}\t{row.rows_seen} rows\t{row.status}\t"
                   f"{(row.sample or '')[:120]}")


@drift.command("approve")
@click.argument("drift_id", type=int)
@click.option("--database-url", default=None, help="Default: LIENTHONG_DATABASE_URL.")
def approve_command(drift_id: int, database_url: str | None) -> None:
    """Approve drift DRIFT_ID: later batches carrying it pass under the contract."""
    from core import actions
    from schemas.db import engine_for
    from schemas.drift import approve_drift, list_drift

    url = check_database_url(database_url) if database_url else get_settings().database_url
    engine = engine_for(url)
    if not approve_drift(engine, drift_id):
        open_ids = [str(row.id) for row in list_drift(engine, "open")]
        known = f"open drift ids: {', '.join(open_ids[:20])}" if open_ids else "no drift is open"
        raise click.ClickException(f"no open drift with id {drift_id} ({known}; see `lienthong drift list`)")
    actions.record(url, "drift.approve", f"approved drift {drift_id}", {"drift_id": drift_id})
    click.echo(f"drift {drift_id} approved (audited as {actions.os_user()})")
