"""`lienthong audit verify|tail`. (`lienthong serve` is in `lienthong.serve`, which composes the app.)"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click


@click.group()
def audit() -> None:
    """Verify and read the audit log."""


@audit.command()
@click.option("--database-url", envvar="LIENTHONG_DATABASE_URL", help="Default: the settings' database.")
def verify(database_url: str | None) -> None:
    """Walk the hash chain; name every changed or deleted entry (exit 1 if any)."""
    from core.settings import get_settings, mask_url
    from sharing.api.audit import verify as run_verify

    url = database_url or get_settings().database_url
    checked, problems = run_verify(url)
    for p in problems:
        click.echo(p.message, err=True)
    if problems:
        click.echo(f"audit log {mask_url(url)}: {len(problems)} problem(s) in {checked} entries", err=True)
        sys.exit(1)
    click.echo(f"audit log {mask_url(url)}: {checked} entries, chain intact")


@audit.command("rotate-key")
def rotate_key() -> None:
    """Add a new MAC key to the audit key ring; it seals new entries from the API's next start."""

    from core.keys import add_key, default_path

    if os.environ.get("LIENTHONG_AUDIT_KEYS"):
        raise click.ClickException("the audit keys come from LIENTHONG_AUDIT_KEYS: append `id=hex` there")
    path = Path(os.environ["LIENTHONG_AUDIT_KEYS_FILE"]) if os.environ.get("LIENTHONG_AUDIT_KEYS_FILE") else (
        default_path("audit"))
    key_id = add_key(path)
    click.echo(f"audit key ring {path}: added key {key_id}; it seals new entries once the API restarts. "
               "Keep the older keys in the ring: they verify the entries they sealed.")


@audit.command()
@click.option("--database-url", envvar="LIENTHONG_DATABASE_URL", help="Default: the settings' database.")
def checkpoint(database_url: str | None) -> None:
    """Sign the chain's head into the checkpoint file outside the database (the API does it every minute)."""
    from core.settings import get_settings, mask_url
    from sharing import db
    from sharing.api import checkpoints
    from sharing.api.audit import create_tables

    url = database_url or get_settings().database_url
    engine = db.engine_for(url)
    create_tables(engine)
    with engine.connect() as conn:
        mark = checkpoints.take(conn, url)
    if mark is None:
        click.echo(f"audit log {mask_url(url)}: empty, nothing to sign")
        return
    click.echo(f"audit log {mask_url(url)}: checkpoint of entry {mark.seq} written to {checkpoints.path_for(url)}")


@audit.command()
@click.option("--database-url", envvar="LIENTHONG_DATABASE_URL", help="Default: the settings' database.")
@click.option("-n", "--limit", default=20, show_default=True, type=int)
@click.option("--client", default=None)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def tail(database_url: str | None, limit: int, client: str | None, as_json: bool) -> None:
    """The newest entries, oldest first."""
    import sqlalchemy as sa

    from core.settings import get_settings
    from sharing import db
    from sharing.api.audit import audit_log, create_tables

    url = database_url or get_settings().database_url
    engine = db.engine_for(url)
    create_tables(engine)
    query = sa.select(audit_log).order_by(audit_log.c.seq.desc()).limit(limit)
    if client:
        query = query.where(audit_log.c.client == client)
    with engine.connect() as conn:
        rows = list(conn.execute(query).mappings())
    from core.listing import emit

    columns = ["seq", "at", "client", "purpose", "method", "endpoint", "status", "outcome", "detail"]
    emit([{c: r[c] for c in columns} for r in reversed(rows)], columns, as_json=as_json, title="audit log",
         numeric=["seq", "status"], empty="the audit log is empty")
