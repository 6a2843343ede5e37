"""A provider-side X-Road security server for REST, in front of a simulator (the REST message protocol,
../shared/reference/xroad/pr-rest_x-road_message_protocol_for_rest.md).

`GET /r1/{instance}/{class}/{member}/{subsystem}/{service}/{path}` is forwarded to the provider's
`{upstream}{base}/{path}` with the query string, when the `X-Road-Client` header names a client on the
allow-list and the service id is one this server publishes. Responses carry the headers the protocol
says the provider's security server sets: `X-Road-Client`, `X-Road-Service`, `X-Road-Id` (the client's,
or a new UUID), `X-Road-Request-Id`, `X-Road-Request-Hash` (base-64 SHA-512 of the SHA-512 of the
request headers, and of the body when there is one). X-Road's own refusals carry `X-Road-Error` and a
JSON body `{"type", "message"}`. The provider's credentials (an API key) are added here: the provider
trusts its security server, the client only X-Road.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Mapping
from urllib.parse import unquote

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

_HOP = {"host", "content-length", "transfer-encoding", "connection", "x-road-client", "x-road-id",
        "x-road-userid", "x-road-issue"}


def _error(status: int, kind: str, message: str) -> Response:
    body = json.dumps({"type": kind, "message": message}).encode()
    return Response(body, status_code=status, media_type="application/json; charset=utf-8",
                    headers={"X-Road-Error": kind})


def request_hash(headers: Mapping[str, str], body: bytes) -> str:
    canonical = "\n".join(f"{k.lower()}: {v}" for k, v in sorted(headers.items())).encode()
    digest = hashlib.sha512(canonical).digest()
    if body:
        digest = hashlib.sha512(digest + hashlib.sha512(body).digest()).digest()
    return base64.b64encode(digest).decode()


def build_gateway(upstream: str, services: Mapping[str, str], allowed_clients: tuple[str, ...],
                  provider_headers: Mapping[str, str] | None = None) -> Starlette:
    """`services`: service id (INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE) -> the provider's base path."""
    async def forward(request: Request) -> Response:
        parts = [unquote(p) for p in request.path_params["rest"].split("/")]
        if len(parts) < 5:
            return _error(400, "Client.InvalidRequest", "expected /r1/INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE/...")
        service_id, path = "/".join(parts[:5]), "/".join(parts[5:])
        who = request.headers.get("x-road-client")
        if not who:
            return _error(400, "Client.InvalidRequest", "the X-Road-Client header is missing")
        who = "/".join(unquote(p) for p in who.split("/"))
        if who not in allowed_clients:
            return _error(403, "Server.ServerProxy.AccessDenied", f"client {who!r} may not call {service_id}")
        if service_id not in services:
            return _error(404, "Server.ServerProxy.UnknownService", f"no service {service_id} here")
        body = await request.body()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        headers.update(provider_headers or {})
        async with httpx.AsyncClient(base_url=upstream.rstrip("/"), timeout=30.0) as client:
            reply = await client.request(request.method, f"{services[service_id]}/{path}".rstrip("/"),
                                         params=list(request.query_params.multi_items()), headers=headers,
                                         content=body or None)
        out = {k: v for k, v in reply.headers.items() if k.lower() not in _HOP | {"content-encoding"}}
        out.update({"X-Road-Client": who, "X-Road-Service": service_id,
                    "X-Road-Id": request.headers.get("x-road-id") or str(uuid.uuid4()),
                    "X-Road-Request-Id": str(uuid.uuid4()),
                    "X-Road-Request-Hash": request_hash(dict(request.headers), body)})
        return Response(reply.content, status_code=reply.status_code, headers=out)

    return Starlette(routes=[Route("/r1/{rest:path}", forward, methods=["GET", "POST"])])
