"""`lienthong drift list` and `lienthong drift approve ID`."""

from __future__ import annotations

import click

from core.settings import check_database_url, get_settings


@click.group()
def drift() -> None:
    """List and approve schema drift."""


@drift.command("list")
@click.option("--status", type=click.Choice(["open", "approved"]), default=None, help="Only this status.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--database-url", default=None, help="Default: LIENTHONG_DATABASE_URL.")
def list_command(status: str | None, as_json: bool, database_url: str | None) -> None:
    """Every drift seen: id, source, dataset, field, kind, first seen, rows, status, sample."""
    from core.listing import emit
    from schemas.db import engine_for
    from schemas.drift import list_drift

    url = check_database_url(database_url) if database_url else get_settings().database_url
    rows = list_drift(engine_for(url), status)
    columns = ["id", "source", "dataset", "field", "kind", "first_seen", "rows_seen", "status", "sample"]
    emit([{**{c: getattr(r, c) for c in columns}, "sample": (r.sample or "")[:120]} for r in rows], columns,
         as_json=as_json, title="drift", numeric=["id", "rows_seen"], empty="no drift recorded")


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
