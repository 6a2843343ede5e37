"""Construction permits: X-API-Key, offset/limit pages with a total, a key listing, get-by-key."""

from __future__ import annotations

import hmac
import json

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agencies.base import RequestFault, Simulator
from agencies.rest.common import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    error,
    guarded,
    int_param,
    items_json,
    json_response,
    one_record,
    rows_bodies,
    store_of,
    time_param,
    with_faults,
)

DATASET = "permits"
_DUPLICATES = 5  # how many records of the previous page a duplicate_page fault repeats


def _authorised(sim: Simulator, request: Request) -> bool:
    given = request.headers.get("x-api-key", "").encode()
    return any(hmac.compare_digest(given, key.encode()) for key in sim.credentials.construction_api_keys)


def routes(sim: Simulator) -> list[Route]:
    store = store_of(sim)

    def unauthorised() -> Response:
        return error(401, "missing or wrong X-API-Key")

    @guarded
    async def list_permits(request: Request) -> Response:
        if not _authorised(sim, request):
            return unauthorised()
        since = time_param(request, "updated_since")
        offset = int_param(request, "offset", 0, 0)
        limit = int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)

        def page(fault: RequestFault | None) -> Response:
            start, size = offset, limit
            if fault == "duplicate_page" and offset > 0:
                back = min(_DUPLICATES, offset)
                start, size = offset - back, limit + back
            elif fault == "stale_cursor" and offset > 0:
                start = max(0, offset - limit)  # the previous page again, labelled as such
            rows = store.page_at_offset(DATASET, since, start, size)
            total = store.count(DATASET, since)
            shown = start if fault == "stale_cursor" else offset
            head = f'{{"total":{total},"offset":{shown},"limit":{limit},"items":'.encode()
            return json_response(head + items_json(sim, DATASET, rows_bodies(rows)) + b"}")

        return await with_faults(sim, page)

    @guarded
    async def get_permit(request: Request) -> Response:
        if not _authorised(sim, request):
            return unauthorised()
        permit_no = request.path_params["permit_no"]
        return await one_record(sim, DATASET, permit_no, f"permit {permit_no[:40]!r} not found")

    @guarded
    async def permit_keys(request: Request) -> Response:
        if not _authorised(sim, request):
            return unauthorised()
        after = request.query_params.get("after")
        offset = int_param(request, "offset", 0, 0)
        limit = int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)

        def keys(fault: RequestFault | None) -> Response:
            total = store.count_keys(DATASET)
            if after is not None:
                # Keyset pages (`WHERE key > ?`): each page costs the same, where OFFSET pages grow
                # slower the deeper they go. `next` is the last key when the page is full.
                items = store.keys(DATASET, after, limit)
                body: dict[str, object] = {"total": total, "after": after, "limit": limit, "items": items,
                                           "next": items[-1] if len(items) == limit else None}
            else:
                items = store.keys_at_offset(DATASET, offset, limit)
                body = {"total": total, "offset": offset, "limit": limit, "items": items,
                        "next": items[-1] if len(items) == limit else None}
            return json_response(json.dumps(body, separators=(",", ":")).encode())

        return await with_faults(sim, keys)

    return [
        Route("/api/v1/permits", list_permits, methods=["GET"]),
        Route("/api/v1/permits/{permit_no}", get_permit, methods=["GET"]),
        Route("/api/v1/permit-keys", permit_keys, methods=["GET"]),
    ]
