"""HTTP behaviour: OAuth2 refresh on expiry and on 401, Retry-After, no retry on 4xx, Link-header pages,
loop detection, mutual TLS configuration."""

from __future__ import annotations

import dataclasses
import shutil
import ssl
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from agencies.testing import running_simulator
from connectors import read
from connectors.auth import OAuth2ClientCredentials, tls_options
from connectors.config import RetryConfig, parse_source
from connectors.errors import PaginationLoop, RequestRejected
from connectors.http import HttpCaller
from connectors.secrets import Redactor
from tests.agencies.soap.server import serving
from tests.conftest import free_port
from tests.connectors.helpers import fast, small_pages, source_at

pytestmark = pytest.mark.integration


def test_oauth2_token_is_renewed_on_expiry_and_on_401() -> None:
    with running_simulator("tax", records=600, seed=3, token_ttl=1.5) as handle:
        source = small_pages(source_at("tax", handle.base_url), "taxpayers", 100)
        auth = OAuth2ClientCredentials("tax", f"{handle.base_url}/oauth/token", "lienthong", "tax-dev-secret")
        auth._token, auth._expires_at = "revoked-token", time.monotonic() + 3600  # the server will say 401
        token_calls: list[str] = []

        def count(request: httpx.Request) -> None:
            if request.url.path == "/oauth/token":
                token_calls.append(str(request.url))

        with httpx.Client(base_url=handle.base_url, auth=auth, event_hooks={"request": [count]}) as client:
            extraction = read(source, "taxpayers", client=client)
            for i, _ in enumerate(extraction):
                if i == 1:
                    time.sleep(1.6)  # the token expires between pages
        assert extraction.stats.records > 0
        assert len(token_calls) >= 2


def test_retry_after_is_honoured_and_other_4xx_not_retried() -> None:
    with running_simulator("construction", records=100, seed=3, faults={"rate_limit": 0.5}) as handle:
        retry = RetryConfig(attempts=20, backoff_seconds=0.001, max_backoff_seconds=0.002,
                            max_retry_after_seconds=5)
        source = dataclasses.replace(source_at("construction", handle.base_url), retry=retry)
        slept: list[float] = []
        with httpx.Client(base_url=handle.base_url, headers={"X-API-Key": "construction-dev-key"}) as client:
            caller = HttpCaller(source, client, Redactor(), sleep=slept.append)
            for _ in range(4):
                assert caller.call("GET", "/api/v1/permits", operation="permits", page="0",
                                   parse=lambda r: r.status) == 200
            assert slept and all(s >= 1.0 for s in slept)  # Retry-After: 1, not the 0.002 s backoff
            with pytest.raises(RequestRejected, match=r"^\[construction\] operation nope page 0: .*\(404\)"):
                caller.call("GET", "/api/v1/nope", operation="nope", page="0", parse=lambda r: r.status)


def _link_app(loop: bool) -> Starlette:
    async def items(request: Request) -> JSONResponse:
        page = int(request.query_params.get("page", "1"))
        headers = {}
        if page < 3:
            nxt = page if loop and page == 2 else page + 1
            headers["Link"] = f'<{request.base_url}items?page={nxt}&per_page=2>; rel="next"'
        return JSONResponse({"items": [{"id": f"{page}-{i}", "n": i} for i in range(2)]}, headers=headers)

    return Starlette(routes=[Route("/items", items)])


def _link_source(url: str) -> Any:
    return fast(parse_source({
        "source": "gh", "protocol": "rest", "endpoint": url,
        "streams": {"items": {"path": "/items", "records": "items", "primary_key": "id",
                              "pagination": {"style": "link_header", "limit_param": "per_page", "page_size": 2},
                              "fields": {"id": "string", "n": "int64"}}}}, "test", Path("gh.yaml")),
        attempts=2)


def test_link_header_pagination_and_loop_detection(port: int) -> None:
    with serving(_link_app(loop=False), port) as url:
        rows = [r for b in read(_link_source(url), "items") for r in b.to_pylist()]
        assert [r["id"] for r in rows] == ["1-0", "1-1", "2-0", "2-1", "3-0", "3-1"]
        assert rows[-1]["_page"].endswith("items?page=3&per_page=2")
    with serving(_link_app(loop=True), free_port()) as url, pytest.raises(
            PaginationLoop, match=r"^\[gh\] .*loop detected in pagination"):
        list(read(_link_source(url), "items"))


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_mutual_tls_is_configured_from_the_source_file(tmp_path: Path) -> None:
    key, cert = tmp_path / "client.key", tmp_path / "client.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=lienthong"], check=True, capture_output=True)
    source = parse_source({
        "source": "x", "protocol": "rest", "endpoint": "https://127.0.0.1:1",
        "tls": {"client_cert": str(cert), "client_key": {"env": "X_KEY_PATH"}},
        "streams": {"s": {"path": "/s", "records": "items", "primary_key": "id", "fields": {"id": "string"}}},
    }, "test", Path("x.yaml"))
    options = tls_options(source, Redactor(), environ={"X_KEY_PATH": str(key)})
    assert isinstance(options["verify"], ssl.SSLContext)
