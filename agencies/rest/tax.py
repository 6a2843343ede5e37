"""Tax: OAuth2 client credentials with expiring tokens, opaque cursors with a next link, get-by-key."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets
import threading
import time
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agencies.base import FeedPosition, RequestFault, Simulator
from agencies.rest.common import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    BadRequest,
    encode_record,
    error,
    guarded,
    int_param,
    items_json,
    json_response,
    rows_bodies,
    store_of,
    time_param,
    with_faults,
)
from agencies.world import iso, parse_iso

FEEDS = {"taxpayers": "taxpayers", "land-tax-notices": "land_tax_notices"}
_DUPLICATES = 5
_INVALID_TOKEN = {"WWW-Authenticate": 'Bearer error="invalid_token"'}


def encode_cursor(since: str, after: FeedPosition | None) -> str:
    """Opaque to clients: where the next page starts, and the `changed_since` it belongs to."""
    payload = [since, after.updated_at, after.key] if after else [since]
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, FeedPosition | None]:
    try:
        payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        since = iso(parse_iso(payload[0]))
        if len(payload) == 1:
            return since, None
        updated_at, key = payload[1], payload[2]
        if not isinstance(updated_at, str) or not isinstance(key, str) or len(payload) != 3:
            raise ValueError("bad position")
        return since, FeedPosition(updated_at, key)
    except (ValueError, TypeError, IndexError, KeyError, binascii.Error, UnicodeDecodeError):
        raise BadRequest(f"cursor={cursor[:40]!r} is not a cursor this server issued") from None


class TokenIssuer:
    """Bearer tokens for registered clients, each valid for the configured TTL."""

    def __init__(self, clients: dict[str, str], ttl: float) -> None:
        self._clients = clients
        self.ttl = ttl
        self._tokens: dict[str, float] = {}
        self._lock = threading.Lock()

    def issue(self, client_id: str, secret: str) -> str | None:
        expected = self._clients.get(client_id)
        if expected is None or not hmac.compare_digest(expected.encode(), secret.encode()):
            return None
        token = secrets.token_urlsafe(24)
        now = time.monotonic()
        with self._lock:
            if len(self._tokens) > 10_000:
                self._tokens = {t: exp for t, exp in self._tokens.items() if exp > now}
            self._tokens[token] = now + self.ttl
        return token

    def valid(self, token: str) -> bool:
        expires = self._tokens.get(token)
        return expires is not None and time.monotonic() < expires


def _client_credentials(request: Request, form: dict[str, list[str]]) -> tuple[str, str]:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return "", ""
        return client_id, secret
    return form.get("client_id", [""])[0], form.get("client_secret", [""])[0]


def routes(sim: Simulator) -> list[Route]:
    store = store_of(sim)
    issuer = TokenIssuer(dict(sim.credentials.tax_clients), sim.credentials.tax_token_ttl)

    async def token(request: Request) -> Response:
        body = await request.body()
        if len(body) > 4096:
            return error(413, "token request too large")
        try:
            form = parse_qs(body.decode(), strict_parsing=False)
        except UnicodeDecodeError:
            return error(400, "token request is not UTF-8")
        if form.get("grant_type", [""])[0] != "client_credentials":
            return Response(b'{"error":"unsupported_grant_type"}', 400, media_type="application/json")
        access = issuer.issue(*_client_credentials(request, form))
        if access is None:
            return Response(b'{"error":"invalid_client"}', 401, media_type="application/json",
                            headers={"WWW-Authenticate": 'Basic realm="tax"'})
        payload = {"access_token": access, "token_type": "Bearer", "expires_in": int(issuer.ttl)}
        return Response(json.dumps(payload).encode(), 200, media_type="application/json",
                        headers={"Cache-Control": "no-store"})

    def bearer_ok(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        return header[:7].lower() == "bearer " and issuer.valid(header[7:].strip())

    def feed(path: str, dataset: str) -> Route:
        @guarded
        async def list_changes(request: Request) -> Response:
            if not bearer_ok(request):
                return error(401, "missing, unknown or expired bearer token", _INVALID_TOKEN)
            limit = int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
            cursor = request.query_params.get("cursor")
            if cursor:
                since_text, after = decode_cursor(cursor)
            else:
                since_text, after = iso(time_param(request, "changed_since")), None
            since = parse_iso(since_text)

            def page(fault: RequestFault | None) -> Response:
                rows = store.changes_raw(dataset, since, after, limit + 1)
                more = len(rows) > limit
                rows = rows[:limit]
                if fault == "duplicate_page" and after is not None:
                    rows = store.before_raw(dataset, since, after, _DUPLICATES) + rows
                if fault == "stale_cursor":
                    next_cursor: str | None = cursor or encode_cursor(since_text, None)
                elif more:
                    next_cursor = encode_cursor(since_text, FeedPosition(rows[-1][0], rows[-1][1]))
                else:
                    next_cursor = None
                tail = (f',"next_cursor":"{next_cursor}","next":"/api/v1/{path}?cursor={next_cursor}&limit={limit}"}}'
                        if next_cursor else ',"next_cursor":null,"next":null}')
                return json_response(b'{"items":' + items_json(sim, dataset, rows_bodies(rows)) + tail.encode())

            return await with_faults(sim, page)

        return Route(f"/api/v1/{path}", list_changes, methods=["GET"])

    def by_key(path: str, dataset: str, param: str) -> Route:
        @guarded
        async def get_one(request: Request) -> Response:
            if not bearer_ok(request):
                return error(401, "missing, unknown or expired bearer token", _INVALID_TOKEN)
            key = request.path_params[param]

            def one(fault: RequestFault | None) -> Response:
                record = store.get(dataset, key)
                if record is None:
                    return error(404, f"{dataset} {key[:40]!r} not found")
                return json_response(encode_record(sim.faults.apply(dataset, [record])[0]))

            return await with_faults(sim, one)

        return Route(f"/api/v1/{path}/{{{param}}}", get_one, methods=["GET"])

    return [
        Route("/oauth/token", token, methods=["POST"]),
        feed("taxpayers", "taxpayers"),
        by_key("taxpayers", "taxpayers", "tax_code"),
        feed("land-tax-notices", "land_tax_notices"),
        by_key("land-tax-notices", "land_tax_notices", "notice_no"),
    ]
