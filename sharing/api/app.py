"""The FastAPI application: state, the audit middleware, error shapes, JSON rendering.

`create_app(url, policy, data_dir)` builds one app; `lienthong serve` runs it under uvicorn. The audit
middleware wraps every HTTP request: the handlers fill in the request's `Entry` (client, purpose, keys of
the rows returned), and the middleware appends it to the chain before the response starts, so no answer
leaves without its record (an audit failure fails the request).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sharing import db
from sharing.api.audit import AuditWriter, Entry
from sharing.api.policy import Policy
from sharing.api.queries import Published
from sharing.api.ratelimit import RateLimiter

AUDIT_SCOPE_KEY = "lienthong.audit"
PUBLISHED_TTL_SECONDS = 5.0


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot render {type(value).__name__}")


class JSONResponse(Response):
    """orjson: dates and datetimes as ISO-8601, decimals as exact strings."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=_default)


def api_engine(url: str) -> sa.Engine:
    """The API's own pool on PostgreSQL: sized for the server's threads, and no ping per checkout (a round
    trip on every request; a connection that died is dropped by the pool after its first error)."""
    if url.startswith("sqlite"):
        return db.engine_for(url)
    return sa.create_engine(url, pool_size=20, max_overflow=20, pool_timeout=10)


@dataclass(slots=True)
class ApiState:
    url: str
    policy: Policy
    data_dir: Path
    writer: AuditWriter
    engine: sa.Engine
    limiter: RateLimiter = field(default_factory=RateLimiter)
    _published: tuple[float, Published] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def published(self) -> Published:
        """Which datasets are published, re-read every few seconds (publishing happens beside the API)."""
        with self._lock:
            if self._published is None or time.monotonic() - self._published[0] > PUBLISHED_TTL_SECONDS:
                with self.engine.connect() as conn:
                    self._published = (time.monotonic(), Published.read(conn))
            return self._published[1]


def entry_of(request: Request) -> Entry:
    entry: Entry = request.scope[AUDIT_SCOPE_KEY]
    return entry


def state_of(request: Request) -> ApiState:
    state: ApiState = request.app.state.lienthong
    return state


class AuditMiddleware:
    def __init__(self, app: ASGIApp, writer: AuditWriter) -> None:
        self.app = app
        self.writer = writer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        entry = Entry(method=scope["method"], endpoint=scope["path"])
        scope[AUDIT_SCOPE_KEY] = entry
        written = False

        async def audited_send(message: Message) -> None:
            nonlocal written
            if message["type"] == "http.response.start" and not written:
                written = True
                status = int(message["status"])
                entry.status = status
                entry.outcome = ("allowed" if status < 400 else "not_found" if status == 404
                                 else "denied" if status < 500 else "error")
                await self.writer.write(entry)
            await send(message)

        try:
            await self.app(scope, receive, audited_send)
        except Exception:
            if not written:
                entry.status, entry.outcome, entry.detail = 500, "error", entry.detail or "internal error"
                await self.writer.write(entry)
            raise


def _error(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status, headers=headers)


_CODES = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
          405: "method_not_allowed", 422: "invalid_input", 429: "rate_limited"}


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = str(exc.detail)
    entry_of(request).detail = message
    return _error(exc.status_code, _CODES.get(exc.status_code, "error"), message, exc.headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    # Name the field and the rule; never echo the input back (it may be huge, or someone's ID).
    problems = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in exc.errors()]
    message = "; ".join(problems)[:500]
    entry_of(request).detail = message
    return _error(422, "invalid_input", message)


class _NoAudit(AuditWriter):
    """For the benchmark's audit-off baseline only: `lienthong serve` always audits."""

    def __init__(self) -> None:
        pass

    async def write(self, entry: Entry) -> int:
        return 0

    def close(self) -> None:
        pass


def create_app(url: str, policy: Policy, data_dir: Path, *, audit: bool = True) -> FastAPI:
    from sharing.api import routes
    from sharing.ops.routes import mount as mount_ops

    engine = db.engine_for(url)
    db.create_system_tables(engine)
    writer = AuditWriter(url) if audit else _NoAudit()
    app = FastAPI(
        title="lienthong lookup API",
        version="1",
        description=(
            "Shared records of the province's agencies, for agencies. Every request carries an API key "
            "(`X-API-Key`) and the purpose it is made for (`X-Purpose`); what a client may read, and what it "
            "sees unmasked, is its grant in the policy file. Every request is written to the audit log."
        ),
        default_response_class=JSONResponse,
    )
    app.state.lienthong = ApiState(url=url, policy=policy, data_dir=data_dir, writer=writer,
                                   engine=api_engine(url))
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_middleware(AuditMiddleware, writer=writer)
    app.include_router(routes.router)
    mount_ops(app)  # the operations dashboard under /ops
    return app
