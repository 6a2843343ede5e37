"""Database faults told apart from data problems: a lost or refused connection is retried, then named.

A PostgreSQL restart mid-run, a server still starting up, or one that refuses new clients ("sorry, too
many clients already") says nothing about the data. New connections are retried with exponential
backoff and jitter (`retry_connect`); a run whose connection is lost midway fails with the named,
retriable `DatabaseUnavailable` (its transaction rolled back: nothing of it was committed), never a raw
driver error and never a quality failure.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import sqlalchemy as sa

from core.errors import Retriable

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")

# What a server says while it cannot take a connection for now (PostgreSQL's messages, SQLSTATE 53300/57P03)
TRANSIENT_CONNECT = (
    "too many clients", "remaining connection slots are reserved", "the database system is starting up",
    "the database system is shutting down", "the database system is in recovery mode",
)  # not "connection refused": a wrong host or port must fail at once, not after a minute of retries
# ... and what a connection that was lost midway says
LOST = ("terminating connection", "connection is closed", "consuming input failed",
        "server closed the connection", "ssl connection has been closed")
CONNECT_ATTEMPTS, CONNECT_BACKOFF, CONNECT_MAX_BACKOFF = 8, 0.25, 5.0


class DatabaseUnavailable(Retriable):
    """The database could not be reached or dropped the connection; nothing of the run was committed."""


def transient(exc: BaseException) -> bool:
    """A lost or refused connection, not a statement the database refused."""
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    if not isinstance(exc, (sa.exc.OperationalError, sa.exc.InterfaceError)):
        return False
    text = str(getattr(exc, "orig", None) or exc).lower()
    return any(m in text for m in TRANSIENT_CONNECT + LOST)


def retry_connect(engine: sa.Engine, attempts: int = CONNECT_ATTEMPTS, backoff: float = CONNECT_BACKOFF,
                  max_backoff: float = CONNECT_MAX_BACKOFF, sleep: Callable[[float], None] = time.sleep) -> None:
    """Make `engine` retry a refused new connection with backoff instead of failing at once."""
    @sa.event.listens_for(engine, "do_connect")
    def connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        for attempt in range(1, attempts + 1):
            try:
                return dialect.loaded_dbapi.connect(*cargs, **cparams)
            except Exception as exc:  # the driver's own OperationalError
                text = str(exc).lower()
                if attempt == attempts or not any(m in text for m in TRANSIENT_CONNECT):
                    raise
                wait = random.uniform(0, min(max_backoff, backoff * 2 ** (attempt - 1)))
                log.warning("database refused a connection (%s); attempt %d of %d, retrying in %.2fs",
                            text.strip().splitlines()[-1][:160], attempt, attempts, wait)
                sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover


def named(what: Callable[..., str]) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Turn a lost or refused database connection inside the function into `DatabaseUnavailable`.

    `what(*args, **kwargs)` names the work ("[construction] stream permits") for the message.
    """
    def wrap(fn: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(fn)
        def run(*args: P.args, **kwargs: P.kwargs) -> T:
            try:
                return fn(*args, **kwargs)
            except sa.exc.DBAPIError as exc:
                if not transient(exc):
                    raise
                detail = str(exc.orig or exc).strip().splitlines()[0][:200]
                raise DatabaseUnavailable(
                    f"{what(*args, **kwargs)}: the database was unavailable ({detail}); its transaction rolled "
                    "back, nothing of this run was committed; run it again when the database is back") from exc
        return run
    return wrap


def read_retrying(engine: sa.Engine, read: Callable[[sa.Connection], T]) -> T:
    """Run the read-only `read` on a connection of `engine`, once more on a new connection if the first
    was found dead (a PostgreSQL restart since it was pooled). The pool then drops every connection older
    than the failure, so a reader's pool recovers without a ping per checkout and without a failed request.
    Only for reads: nothing of a write is ever replayed."""
    try:
        with engine.connect() as conn:
            return read(conn)
    except sa.exc.DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        log.warning("a pooled connection was dead (%s); the read runs once more on a new one",
                    str(exc.orig or exc).strip().splitlines()[0][:160])
    with engine.connect() as conn:
        return read(conn)
