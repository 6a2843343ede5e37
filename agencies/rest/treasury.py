"""State Treasury (Kho bạc Nhà nước): HTTP Basic, a bare JSON list per page, page numbers, Link headers.

`GET /api/v1/chung-tu?tu_thoi_diem=2025-06-01 00:00:00&trang=2&so_ban_ghi=500` answers `[receipt, ...]`
with `Link: <...trang=3...>; rel="next"` while pages remain (PROTOCOL.md, "State Treasury"). Times are
zone-less, in Vietnam's time, like the system writes them; a time with a zone is accepted too.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from datetime import UTC, datetime
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agencies.base import RequestFault, Simulator
from agencies.datasets import VIETNAM
from agencies.rest.common import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    BadRequest,
    error,
    guarded,
    int_param,
    items_json,
    json_response,
    one_record,
    rows_bodies,
    store_of,
    with_faults,
)

DATASET = "payment_receipts"
PATH = "/api/v1/chung-tu"


def local_time_param(request: Request, name: str) -> datetime:
    """`2025-06-01 00:00:00` (Vietnam's time), `2025-06-01` or an ISO time with a zone."""
    text = request.query_params.get(name)
    if not text:
        return datetime(1970, 1, 1, tzinfo=UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"{name}={text[:40]!r} is not a time (yyyy-mm-dd hh:mm:ss)") from None
    return (moment.replace(tzinfo=VIETNAM) if moment.tzinfo is None else moment).astimezone(UTC)


def _authorised(sim: Simulator, request: Request) -> bool:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return False
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    expected = sim.credentials.treasury_users.get(user)
    return expected is not None and hmac.compare_digest(password.encode(), expected.encode())


def routes(sim: Simulator) -> list[Route]:
    store = store_of(sim)

    @guarded
    async def list_receipts(request: Request) -> Response:
        if not _authorised(sim, request):
            return error(401, "Sai tên đăng nhập hoặc mật khẩu", {"WWW-Authenticate": 'Basic realm="kbnn"'})
        since = local_time_param(request, "tu_thoi_diem")
        page = int_param(request, "trang", 1, 1)
        size = int_param(request, "so_ban_ghi", DEFAULT_LIMIT, 1, MAX_LIMIT)

        def one_page(fault: RequestFault | None) -> Response:
            number = page - 1 if fault == "stale_cursor" and page > 1 else page
            rows = store.page_at_offset(DATASET, since, (number - 1) * size, size)
            response = json_response(items_json(sim, DATASET, rows_bodies(rows)))
            if (number - 1) * size + len(rows) < store.count(DATASET, since):
                query = dict(request.query_params)
                query["trang"] = str(number + 1)
                response.headers["Link"] = f'<{request.url.replace(query=urlencode(query))}>; rel="next"'
            return response

        return await with_faults(sim, one_page)

    @guarded
    async def get_receipt(request: Request) -> Response:
        if not _authorised(sim, request):
            return error(401, "Sai tên đăng nhập hoặc mật khẩu")
        number = request.path_params["so_chung_tu"]
        return await one_record(sim, DATASET, number, f"không tìm thấy chứng từ {number[:40]!r}")

    return [
        Route(PATH, list_receipts, methods=["GET"]),
        Route(PATH + "/{so_chung_tu}", get_receipt, methods=["GET"]),
    ]
