"""A real HTTP proxy on loopback in front of a REST simulator that rewrites the replies of chosen paths.

It stands for an agency system that answers 200 but wrongly: a gateway's HTML page, a body cut short,
bytes that are not UTF-8, JSON of another shape, `null` for the list; or well-formed but wrong data
(half the keys missing after a vendor's upgrade). `proxy.rewrite[path] = fn` turns a rule on.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agencies.runner import serve_in_background

# (content type, body) of the real reply -> (content type, body) served instead
Rewrite = Callable[[str, bytes], tuple[str, bytes]]


@dataclass
class HostileProxy:
    url: str
    rewrite: dict[str, Rewrite] = field(default_factory=dict)
    served: dict[str, int] = field(default_factory=dict)  # path -> rewritten replies served


@contextmanager
def hostile_proxy(upstream: str) -> Iterator[HostileProxy]:
    client = httpx.Client(base_url=upstream, timeout=30)
    state = HostileProxy(url="")

    def forward(request: Request) -> Response:  # a plain function: Starlette runs it on its thread pool
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("x-api-key", "authorization")}
        reply = client.get(request.url.path, params=request.query_params, headers=headers)
        kind = reply.headers.get("Content-Type", "application/json")
        body = reply.content
        rule = state.rewrite.get(request.url.path)
        if rule is not None and reply.status_code == 200:
            kind, body = rule(kind, body)
            state.served[request.url.path] = state.served.get(request.url.path, 0) + 1
        return Response(body, reply.status_code, headers={"Content-Type": kind})

    app = Starlette(routes=[Route("/{path:path}", forward)])
    server = serve_in_background(app)
    state.url = server.url
    try:
        yield state
    finally:
        server.stop()
        client.close()


def source_file(name: str, tmp: Path, attempts: int = 2) -> Path:
    """The registered source file with quick retries, so a reply that stays wrong fails in a second."""
    from connectors.config import SOURCES_DIR

    text = (SOURCES_DIR / f"{name}.yaml").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^retry:.*$", f"retry: {{attempts: {attempts}, backoff_seconds: 0.01, "
                                      "max_backoff_seconds: 0.05}", text)
    path = tmp / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path
