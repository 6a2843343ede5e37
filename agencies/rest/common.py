"""What both REST front ends share: JSON assembly from stored text, parameter checks, request faults."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from agencies.base import Record, RequestFault, Simulator
from agencies.store import Row, SqliteStore
from agencies.world import parse_iso

MAX_LIMIT = 5000
DEFAULT_LIMIT = 1000
JSON = "application/json"
OVERSIZED_BYTES = 50 * 1024 * 1024  # PROTOCOL.md: JSON has no entities, so a 50 MB body
_RAW = "@@lienthong-raw-{}@@"


class BadRequest(Exception):
    """A client error that becomes a 400 with a JSON message naming the parameter."""


def error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps({"error": message}).encode(), status, headers=headers, media_type=JSON)


def json_response(body: bytes, status: int = 200) -> Response:
    return Response(body, status, media_type=JSON)


def encode_record(record: Record) -> bytes:
    """A record as JSON bytes; a `bytes` value (invalid-UTF-8 fault) is written as it is."""
    raw = {k: v for k, v in record.items() if isinstance(v, bytes)}
    if not raw:
        return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()
    marked = {k: (_RAW.format(k) if k in raw else v) for k, v in record.items()}
    text = json.dumps(marked, ensure_ascii=False, separators=(",", ":")).encode()
    for k, value in raw.items():
        text = text.replace(f'"{_RAW.format(k)}"'.encode(), b'"' + value + b'"')
    return text


def items_json(sim: Simulator, dataset: str, bodies: Sequence[str]) -> bytes:
    """`[record, ...]` from stored JSON texts, with value faults applied when any is switched on."""
    faults = sim.faults
    if not getattr(faults, "value_faults_on", True):
        return ("[" + ",".join(bodies) + "]").encode()
    records = faults.apply(dataset, [json.loads(b) for b in bodies])
    return b"[" + b",".join(encode_record(r) for r in records) + b"]"


def int_param(request: Request, name: str, default: int, low: int, high: int | None = None) -> int:
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"{name}={text[:40]!r} is not an integer") from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise BadRequest(f"{name}={value} must be {bound}")
    return value


def time_param(request: Request, name: str) -> datetime:
    text = request.query_params.get(name)
    if not text:
        return parse_iso("1970-01-01T00:00:00Z")
    try:
        return parse_iso(text)
    except ValueError:
        raise BadRequest(f"{name}={text[:40]!r} is not an ISO 8601 timestamp") from None


def store_of(sim: Simulator) -> SqliteStore:
    store = sim.store
    assert isinstance(store, SqliteStore), "the REST front ends read pre-serialised rows"
    return store


def rows_bodies(rows: Sequence[Row]) -> list[str]:
    return [body for _, _, body in rows]


def _oversized() -> Iterator[bytes]:
    head, tail = b'{"items":["', b'"]}'
    yield head
    chunk = b"A" * (1024 * 1024)
    remaining = OVERSIZED_BYTES - len(head) - len(tail)
    while remaining > 0:
        yield chunk[:remaining]
        remaining -= len(chunk)
    yield tail


Handler = Callable[[RequestFault | None], Response]


async def with_faults(sim: Simulator, handler: Handler) -> Response:
    """Run `handler` under the request fault drawn for this request (PROTOCOL.md, Faults).

    Pagination faults (duplicate_page, stale_cursor) are passed to the handler, which knows its
    pages; the others are applied here, around it. Request faults never change the data.
    """
    fault = sim.faults.request_fault()
    if fault == "http_500":
        return error(500, "internal server error (simulated)")
    if fault == "http_503":
        return error(503, "service unavailable (simulated)", {"Retry-After": "1"})
    if fault == "rate_limit":
        return error(429, "too many requests (simulated)", {"Retry-After": "1"})
    if fault == "slow":
        await asyncio.sleep(sim.faults.slow_seconds)
    if fault == "billion_laughs":
        return StreamingResponse(_oversized(), media_type=JSON,
                                 headers={"Content-Length": str(OVERSIZED_BYTES)})
    try:
        response = handler(fault)
    except BadRequest as exc:
        return error(400, str(exc))
    if fault in ("truncated", "malformed") and response.status_code == 200:
        body = bytes(response.body)
        cut = body[: len(body) // 2] if fault == "truncated" else body[:-1]  # malformed: the closing brace
        return Response(cut, 200, media_type=JSON)
    return response


def guarded(endpoint: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """Turn a BadRequest raised before the fault layer into a 400 as well."""

    async def run(request: Request) -> Response:
        try:
            return await endpoint(request)
        except BadRequest as exc:
            return error(400, str(exc))

    run.__name__ = endpoint.__name__
    return run


async def one_record(sim: Simulator, dataset: str, key: str, not_found: str,
                     wrap: Callable[[bytes], bytes] = lambda body: body) -> Response:
    """GET of one record by its key (faults applied as to a page); 404 with `not_found` when there is none.
    `wrap`: the vendor's envelope around the record's JSON."""
    store = store_of(sim)

    def one(fault: RequestFault | None) -> Response:
        record = store.get(dataset, key)
        if record is None:
            return error(404, not_found)
        return json_response(wrap(encode_record(sim.faults.apply(dataset, [record])[0])))

    return await with_faults(sim, one)
