"""A district's permit register: a token header, `{"data": {"items": [...]}}`, page numbers, the
parcel nested, a key listing for deletes (PROTOCOL.md, "District permit register").

`GET /api/giay-phep?ngay_cap_nhat_tu=2025-06-01 00:00:00&page=2&per_page=200`
answers `{"success": true, "data": {"items": [...], "page": 2, "per_page": 200, "total_pages": 9,
"total": 1700}}`. A page past the last is an empty list.
"""

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
    guarded,
    int_param,
    items_json,
    json_response,
    one_record,
    rows_bodies,
    store_of,
    with_faults,
)
from agencies.rest.treasury import local_time_param

DATASET = "district_permits"


def _authorised(sim: Simulator, request: Request) -> bool:
    given = request.headers.get("x-api-token", "").encode()
    return any(hmac.compare_digest(given, t.encode()) for t in sim.credentials.district_tokens)


def _envelope(items: bytes, page: int, per_page: int, total: int) -> bytes:
    pages = -(-total // per_page)
    head = (f'{{"success":true,"data":{{"page":{page},"per_page":{per_page},"total_pages":{pages},'
            f'"total":{total},"items":')
    return head.encode() + items + b"}}"


def routes(sim: Simulator) -> list[Route]:
    store = store_of(sim)

    def refused() -> Response:
        return json_response(json.dumps({"success": False, "message": "Token không hợp lệ"},
                                        ensure_ascii=False).encode(), 401)

    @guarded
    async def list_permits(request: Request) -> Response:
        if not _authorised(sim, request):
            return refused()
        since = local_time_param(request, "ngay_cap_nhat_tu")
        page = int_param(request, "page", 1, 1)
        per_page = int_param(request, "per_page", DEFAULT_LIMIT, 1, MAX_LIMIT)

        def one_page(fault: RequestFault | None) -> Response:
            rows = store.page_at_offset(DATASET, since, (page - 1) * per_page, per_page)
            items = items_json(sim, DATASET, rows_bodies(rows))
            return json_response(_envelope(items, page, per_page, store.count(DATASET, since)))

        return await with_faults(sim, one_page)

    @guarded
    async def permit_numbers(request: Request) -> Response:
        if not _authorised(sim, request):
            return refused()
        page = int_param(request, "page", 1, 1)
        per_page = int_param(request, "per_page", DEFAULT_LIMIT, 1, MAX_LIMIT)

        def one_page(fault: RequestFault | None) -> Response:
            keys = store.keys_at_offset(DATASET, (page - 1) * per_page, per_page)
            items = json.dumps(keys, ensure_ascii=False).encode()
            return json_response(_envelope(items, page, per_page, store.count_keys(DATASET)))

        return await with_faults(sim, one_page)

    @guarded
    async def get_permit(request: Request) -> Response:
        if not _authorised(sim, request):
            return refused()
        number = request.query_params.get("so", "")  # the number holds a "/": a query, not a path segment
        return await one_record(sim, DATASET, number, f"không tìm thấy giấy phép {number[:40]!r}",
                                lambda body: b'{"success":true,"data":' + body + b"}")

    return [
        Route("/api/giay-phep", list_permits, methods=["GET"]),
        Route("/api/giay-phep/danh-sach-so", permit_numbers, methods=["GET"]),
        Route("/api/giay-phep/tra-cuu", get_permit, methods=["GET"]),
    ]
