"""`lienthong serve` (the lookup API under uvicorn) and `lienthong audit verify|tail`."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from fastapi import FastAPI

POLICY_ENV = "LIENTHONG_API_POLICY"
RATE_LIMIT_ENV = "LIENTHONG_API_RATE_LIMIT_URL"  # redis://...: buckets shared by every worker and replica
SECRET_ENV = "LIENTHONG_API_SECRET"  # noqa: S105 (a variable name) signs page cursors, the same in every worker


def app_from_env() -> FastAPI:
    """The app for uvicorn's factory mode: settings from the environment, the policy from LIENTHONG_API_POLICY."""
    from core.errors import ConfigError
    from core.settings import get_settings
    from sharing.api.app import create_app
    from sharing.api.policy import load_policy

    path = os.environ.get(POLICY_ENV)
    if not path:
        raise ConfigError(f"{POLICY_ENV} is not set: the API needs a policy file (see sharing/api/policy.example.yaml)")
    settings = get_settings()
    limiter = None
    if os.environ.get(RATE_LIMIT_ENV):
        from sharing.api.ratelimit import RedisRateLimiter

        limiter = RedisRateLimiter(os.environ[RATE_LIMIT_ENV])
    return create_app(settings.database_url, load_policy(Path(path)), settings.data_dir, limiter=limiter)


@click.command()
@click.option("--policy", type=click.Path(exists=True, dir_okay=False, path_type=Path), envvar=POLICY_ENV,
              help=f"The policy file (or {POLICY_ENV}).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8300, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int,
              help=f"Server processes; more than one share rate limits through Redis ({RATE_LIMIT_ENV}).")
@click.option("--new-key", is_flag=True, help="Print a new API key and its SHA-256 for the policy file, and exit.")
def serve(policy: Path | None, host: str, port: int, workers: int, new_key: bool) -> None:
    """Run the lookup API."""
    if new_key:
        from sharing.api.auth import hash_key
        from sharing.api.auth import new_key as make_key

        key = make_key()
        click.echo(f"key (give it to the client, store it nowhere else): {key}")
        click.echo(f"key_sha256 (for the policy file): {hash_key(key)}")
        return
    if policy is None:
        raise click.UsageError(f"--policy or {POLICY_ENV} is required")
    import uvicorn

    from sharing.api.policy import load_policy

    load_policy(policy)  # fail here, with the path of the bad entry, rather than in each worker
    os.environ[POLICY_ENV] = str(policy.resolve())
    if workers > 1:
        if not os.environ.get(RATE_LIMIT_ENV):
            raise click.UsageError(f"--workers {workers}: the workers must share rate limits; set {RATE_LIMIT_ENV} "
                                   "(e.g. redis://127.0.0.1:6379/0)")
        if not os.environ.get(SECRET_ENV):
            import secrets

            # every worker inherits it, so a cursor from one is good at another (until this server stops)
            os.environ[SECRET_ENV] = secrets.token_urlsafe(32)
            click.echo(f"{SECRET_ENV} is not set: page cursors are signed with a key made for this run", err=True)
    from sharing.api.server import PROTOCOL

    uvicorn.run("sharing.api.cli:app_from_env", factory=True, host=host, port=port, workers=workers,
                access_log=False, log_level="warning", http=PROTOCOL)


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
    import os
    from pathlib import Path

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
def tail(database_url: str | None, limit: int, client: str | None) -> None:
    """The newest entries."""
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
    for r in reversed(rows):
        click.echo(f"{r['seq']:>8} {r['at']} {r['client'] or '-':<16} {r['purpose'] or '-':<16} "
                   f"{r['method']} {r['endpoint']} {r['status']} {r['outcome']} {r['detail']}")
