"""`lienthong serve`: the lookup API and the operations dashboard, composed at the top.

The dashboard needs two things from above `sharing`: the configured sources (the Airflow registry) and
replay of quarantined records (`pipeline.replay`). They are handed in here (`ops_services`), so no
layer imports upward (docs/architecture.md).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from fastapi import FastAPI

    from sharing.ops.services import OpsServices

POLICY_ENV = "LIENTHONG_API_POLICY"
RATE_LIMIT_ENV = "LIENTHONG_API_RATE_LIMIT_URL"  # redis://...: buckets shared by every worker and replica
SECRET_ENV = "LIENTHONG_API_SECRET"  # noqa: S105 (a variable name) signs page cursors, the same in every worker


def ops_services() -> OpsServices:
    """The production dashboard's sources and replay action."""
    from lienthong.airflow.registry import sources
    from pipeline.replay import replay
    from sharing.ops.services import OpsServices

    return OpsServices(sources=sources, replay=replay)


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
    return create_app(settings.database_url, load_policy(Path(path)), settings.data_dir, limiter=limiter,
                      services=ops_services())


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

    uvicorn.run("lienthong.serve:app_from_env", factory=True, host=host, port=port, workers=workers,
                access_log=False, log_level="warning", http=PROTOCOL)
