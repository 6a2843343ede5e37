"""The FastAPI application: state, the gateway middleware, error shapes, JSON rendering.

`create_app(url, policy, data_dir)` builds one app; `lienthong serve` runs it under uvicorn. The gateway
middleware wraps every HTTP request, before any routing:

1. it gives the request an id (`X-Request-Id`, on the response and in the audit entry);
2. it refuses what no handler should see: NUL bytes or invalid UTF-8 in the URL, a URL over
   `MAX_URL_BYTES`, a body on a GET (each a problem+json 4xx, audited with the URL stored escaped);
3. it identifies the caller (API key, or the X-Road client behind a trusted security server) and takes
   from its rate-limit bucket (an unknown caller draws on its address's bucket), adding the
   `X-RateLimit-*` headers to whatever the answer is;
4. it appends the request's audit entry (the handlers fill in purpose and row keys) before the response
   starts, so no answer leaves without its record; if that entry cannot be written the request alone is
   answered 503 instead, and other requests are untouched.
"""

from __future__ import annotations

import itertools
import re
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, unquote_to_bytes

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.dbfaults import retry_connect
from sharing import db
from sharing.api import problems
from sharing.api.audit import AuditWriter, Entry
from sharing.api.auth import KEY_HEADER, authenticate
from sharing.api.policy import Client, Policy, XRoadTrust
from sharing.api.problems import Problem
from sharing.api.ratelimit import Limiter, RateLimiter
from sharing.api.responses import JSONResponse
from sharing.api.runtime import ServingRuntime
from sharing.api.server import PEER_CERT_KEY, URL_BYTES_KEY
from sharing.api.state import AUDIT_SCOPE_KEY, CLIENT_SCOPE_KEY, ApiState, entry_of

HEADERS_SCOPE_KEY = "lienthong.headers"
REQUEST_ID_HEADER = "X-Request-Id"
MAX_URL_BYTES = 8192  # path and query, as sent (percent-encoded); the busiest lookup needs under 200
if TYPE_CHECKING:
    from sharing.ops.services import OpsServices

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")


class ProblemResponse(JSONResponse):
    media_type = problems.MEDIA_TYPE


def api_engine(url: str) -> sa.Engine:
    """The API's own pool on PostgreSQL: sized for the server's threads, and no ping per checkout (a round
    trip on every request): a read that meets a dead connection runs once more (`core.dbfaults.read_retrying`)
    after the pool dropped it and its peers; a server still starting up is waited for. All 40 connections
    (anyio's thread count) stay in the pool: overflow ones were closed and reopened in bursts, a connect each."""
    if url.startswith("sqlite"):
        return db.engine_for(url)
    engine = sa.create_engine(url, pool_size=40, max_overflow=0, pool_timeout=10)
    retry_connect(engine)
    return engine


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def screen(scope: Scope) -> Problem | None:
    """What is refused before routing: the URL's size and bytes, a body on a GET."""
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
    query: bytes = scope.get("query_string", b"")
    size = scope.get(URL_BYTES_KEY) or len(raw_path) + len(query)
    if size > MAX_URL_BYTES:
        return Problem("uri-too-long", f"the URL has {size} bytes; at most {MAX_URL_BYTES}")
    for part, name in ((raw_path, "path"), (query.replace(b"+", b" "), "query")):
        decoded = unquote_to_bytes(part)
        if b"\x00" in decoded:
            return Problem("nul-byte", f"the URL's {name} contains a NUL byte (%00)")
        try:
            decoded.decode("utf-8")
        except UnicodeDecodeError as exc:
            return Problem("invalid-utf8", f"the URL's {name} is not valid UTF-8 (byte {exc.start})")
    if scope["method"] in ("GET", "HEAD"):
        length = _header(scope, b"content-length")
        if _header(scope, b"transfer-encoding") is not None or (length is not None and length.strip() != "0"):
            return Problem("body-not-allowed", f"a {scope['method']} request carries no body; send the inputs "
                                               "in the path and query")
    return None


def _outcome(status: int) -> Any:
    return "allowed" if status < 400 else "not_found" if status == 404 else "denied" if status < 500 else "error"


def problem_response(problem: Problem, request_id: str, path: str, accept_language: str | None) -> ProblemResponse:
    lang = problems.language(accept_language)
    return ProblemResponse(problems.body(problem, request_id, path[:120], lang), status_code=problem.status,
                           headers=problem.headers)


_ID_PREFIX = secrets.token_hex(6)  # this process's; the counter makes each of its ids unique
_ID_COUNTER = itertools.count(1)


def _new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_ID_COUNTER):012x}"  # no uuid4 (os.urandom) on every request


SUBJECT_PATH = "/v1/audit/subjects/"


class Gateway:
    """Request id, screening, identification and rate limit, and the audit entry of every request."""

    def __init__(self, app: ASGIApp, state: ApiState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")
        request_id = given if given is not None and _REQUEST_ID.match(given) else _new_request_id()
        path = str(scope["path"])
        if path.startswith(SUBJECT_PATH):  # a person's identifier: never kept in clear, even when refused
            path = SUBJECT_PATH + "{identifier}"
        entry = Entry(method=scope["method"], endpoint=path, context={"request_id": request_id})
        extra: list[tuple[bytes, bytes]] = [(b"x-request-id", request_id.encode())]
        scope[AUDIT_SCOPE_KEY], scope[HEADERS_SCOPE_KEY] = entry, extra
        started = replaced = False

        async def audited_send(message: Message) -> None:
            nonlocal started, replaced
            if replaced:
                return  # the original answer is dropped: its audit entry could not be written
            if message["type"] == "http.response.start" and not started:
                started = True
                status = int(message["status"])
                entry.status, entry.outcome = status, _outcome(status)
                try:
                    await self.state.writer.write(entry)
                except Exception as exc:  # this request's record failed: it is not answered, others are
                    replaced = True
                    response = problem_response(
                        Problem("audit-unavailable", f"the audit entry could not be written ({type(exc).__name__})"),
                        request_id, problems_path(scope), None)
                    response.raw_headers.extend(extra)
                    await response(scope, receive, send)
                    return
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        try:
            problem = await self._identify(scope, entry, extra)
            if problem is None:
                problem = screen(scope)
                if problem is not None:  # the URL as sent (percent-encoded ASCII), not as decoded
                    entry.endpoint = problems_path(scope)
            if problem is not None:
                entry.detail = problem.detail
                await problem_response(problem, request_id, problems_path(scope),
                                       _header(scope, b"accept-language"))(scope, receive, audited_send)
                return
            await self.app(scope, receive, audited_send)
        except Exception as exc:  # a handler's, or the rate-limit store's: answered 500 and audited
            if not started:
                entry.detail = entry.detail or f"internal error ({type(exc).__name__})"
                await problem_response(Problem("internal-error", "internal error; the request id names it in "
                                                                 "the server's log"), request_id,
                                       problems_path(scope), None)(scope, receive, audited_send)
            raise

    async def _identify(self, scope: Scope, entry: Entry, extra: list[tuple[bytes, bytes]]) -> Problem | None:
        client: Client | None
        xroad = self.state.policy.xroad
        if xroad is not None and _trusted(scope, xroad) and _header(scope, b"x-road-client") is not None:
            client, problem = _xroad_client(scope, xroad, self.state.policy, entry)
            if problem is not None:
                return problem
        else:
            client = authenticate(self.state.policy, _header(scope, KEY_HEADER.lower().encode()))
        scope[CLIENT_SCOPE_KEY] = client
        if client is not None:
            entry.client = client.name
            bucket, rate = "client:" + client.name, client.rate
        else:
            peer = scope.get("client") or ("unknown", 0)
            bucket, rate = f"address:{peer[0]}", self.state.policy.anonymous_rate
        decision = await self.state.limiter.take(bucket, rate)
        extra.extend((k.lower().encode(), v.encode()) for k, v in decision.headers().items())
        if decision.allowed:
            return None
        who = f"client {client.name}" if client is not None else "requests without a known key from this address"
        return Problem("rate-limited", f"{who}: over {rate.per_second:g} requests/s (bursts of {rate.burst})")


_XROAD_HEADERS = {b"x-road-client": "xroad_client", b"x-road-service": "xroad_service", b"x-road-id": "xroad_id",
                  b"x-road-request-id": "xroad_request_id", b"x-road-request-hash": "xroad_request_hash",
                  b"x-road-userid": "xroad_user_id", b"x-road-issue": "xroad_issue",
                  b"x-road-represented-party": "xroad_represented_party"}


def _trusted(scope: Scope, trust: XRoadTrust) -> bool:
    """The request came from a trusted security server: its address, or its TLS client certificate."""
    peer = scope.get("client")
    if peer is not None and peer[0] in trust.addresses:
        return True
    return scope.get(PEER_CERT_KEY) in trust.certificates


def _xroad_client(scope: Scope, trust: XRoadTrust, policy: Policy,
                  entry: Entry) -> tuple[Client | None, Problem | None]:
    """The policy client of the X-Road member/subsystem calling; the X-Road ids go to the audit entry."""
    for header_name, field_name in _XROAD_HEADERS.items():
        value = _header(scope, header_name)
        if value is not None:
            entry.context[field_name] = value[:200]
    member = "/".join(unquote(part) for part in (_header(scope, b"x-road-client") or "").strip().split("/"))
    name = trust.members.get(member)
    if name is None:
        return None, Problem("unauthenticated", f"X-Road client {member[:100]} is not a client of this API's policy")
    return policy.clients[name], None


def problems_path(scope: Scope) -> str:
    """The request's path for a problem's `instance`: as sent, so nothing undecodable is echoed raw."""
    raw = scope.get("raw_path")
    text = bytes(raw).decode("ascii", "backslashreplace") if raw else str(scope["path"])
    return text[:300]


def _request_problem(request: Request, problem: Problem) -> Response:
    entry_of(request).detail = problem.detail
    refusal = problem.extensions.get("refusal")
    if isinstance(refusal, dict) and refusal.get("legal_basis"):  # a refusal is audited with its basis
        basis = refusal["legal_basis"]
        entry_of(request).context["refusal_basis"] = f"{basis['document']}, {basis['article']}"
    request_id = entry_of(request).context.get("request_id", "")
    return problem_response(problem, request_id, problems_path(request.scope), request.headers.get("accept-language"))


async def _problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return _request_problem(request, exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    slug = problems.BY_STATUS.get(exc.status_code, "bad-request" if exc.status_code < 500 else "internal-error")
    problem = Problem(slug, str(exc.detail), headers=exc.headers)
    if problem.status != exc.status_code:
        problem = Problem("bad-request", str(exc.detail), headers=exc.headers)
    return _request_problem(request, problem)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    # Name the field and the rule; never echo the input back (it may be huge, or someone's ID).
    errors = [{"field": ".".join(str(p) for p in e.get("loc", ())), "rule": str(e.get("msg", "invalid"))[:200]}
              for e in exc.errors()][:20]
    message = "; ".join(f"{e['field']}: {e['rule']}" for e in errors)[:500]
    return _request_problem(request, Problem("invalid-input", message, errors=errors))


class _NoAudit(AuditWriter):
    """For the benchmark's audit-off baseline only: `lienthong serve` always audits."""

    def __init__(self) -> None:
        pass

    async def write(self, entry: Entry) -> int:
        return 0

    def close(self) -> None:
        pass


def create_app(url: str, policy: Policy, data_dir: Path, *, audit: bool = True,
               limiter: Limiter | None = None,
               services: OpsServices | None = None) -> FastAPI:
    """The lookup API with the operations dashboard. `services`: what the dashboard needs from the layers
    above `sharing` (the configured sources, replay of quarantined records), handed in by the top layer
    (`lienthong.serve`); without them the dashboard lists no sources and cannot replay."""
    from sharing.api import contract, obligations, provision, routes
    from sharing.ops.routes import mount as mount_ops

    engine = db.engine_for(url)
    db.create_system_tables(engine)
    writer = AuditWriter(url) if audit else _NoAudit()
    app = FastAPI(
        title="lienthong lookup API",
        version="1",
        description=contract.DESCRIPTION,
        default_response_class=JSONResponse,
        docs_url=None, redoc_url=None,  # served from the package by `contract.mount_docs`, not from a CDN
    )
    state = ApiState(url=url, policy=policy, data_dir=data_dir, writer=writer, engine=api_engine(url),
                     limiter=limiter or RateLimiter())
    app.state.lienthong = state
    app.add_exception_handler(Problem, _problem)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_middleware(Gateway, state=state)
    app.include_router(routes.router)
    app.include_router(provision.router)
    app.include_router(obligations.router)
    contract.install(app)
    mount_ops(app, services=services)  # the operations dashboard under /ops
    app.add_middleware(ServingRuntime)  # outermost: it sees the lifespan start-up, before any request
    return app
