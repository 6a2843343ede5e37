"""A REST source through an X-Road security server: /r1/... paths, X-Road-Client, X-Road-Id and
X-Road-Request-Hash kept with the run; a reply that did not come through X-Road is refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agencies.runner import BackgroundServer, serve_in_background
from agencies.testing import SimulatorHandle, running_simulator
from agencies.xroad_gateway import build_gateway
from connectors import read
from connectors.config import read_source, resolve_endpoint
from connectors.errors import AuthRefused, HeaderMismatch

pytestmark = pytest.mark.integration

SOURCE = Path(__file__).parent / "sources" / "construction_xroad.yaml"
SERVICE = "VN/GOV/000.00.00.H05/xaydung/giayphep"
CLIENT = "VN/GOV/000.00.00.H01/lienthong"


@pytest.fixture
def construction() -> Iterator[SimulatorHandle]:
    with running_simulator("construction", records=500, seed=7) as handle:
        yield handle


def _gateway(upstream: str, allowed: tuple[str, ...] = (CLIENT,)) -> BackgroundServer:
    app = build_gateway(upstream, {SERVICE: ""}, allowed, {"X-API-Key": "construction-dev-key"})
    return serve_in_background(app)


def test_a_rest_source_syncs_through_its_security_server(construction: SimulatorHandle) -> None:
    server = _gateway(construction.base_url)
    try:
        source = resolve_endpoint(read_source(SOURCE), server.url)
        extraction = read(source, "permits")
        rows = [r for b in extraction for r in b.to_pylist()]
        live = {key for key, _, _ in construction.sim.store.all_rows("permits")}
        assert {r["permit_no"] for r in rows} == live and all(r["_error"] is None for r in rows)
        ids, hashes = extraction.request_ids, extraction.request_hashes
        assert len(ids) == len(set(ids)) == len(hashes) == extraction.stats.requests
        assert all(len(h) == 88 for h in hashes)  # base-64 SHA-512
        json.dumps(extraction.state)
    finally:
        server.stop()


def test_a_client_the_security_server_refuses_fails_fast(construction: SimulatorHandle) -> None:
    server = _gateway(construction.base_url, allowed=("VN/GOV/000.00.00.H09/other",))
    try:
        source = resolve_endpoint(read_source(SOURCE), server.url)
        with pytest.raises(AuthRefused, match=r"^\[construction_xroad\] operation /api/v1/permits"):
            list(read(source, "permits"))
    finally:
        server.stop()


def test_a_reply_without_the_security_servers_headers_is_refused(construction: SimulatorHandle) -> None:
    gateway = build_gateway(construction.base_url, {SERVICE: ""}, (CLIENT,), {"X-API-Key": "construction-dev-key"})

    async def strip(scope: Any, receive: Any, send: Any) -> None:
        """A proxy between us and the security server that drops the X-Road headers of the reply."""
        async def send_stripped(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [(k, v) for k, v in message["headers"] if not k.lower().startswith(b"x-road-")]
            await send(message)

        await gateway(scope, receive, send_stripped)

    server = serve_in_background(strip)
    try:
        source = resolve_endpoint(read_source(SOURCE), server.url)
        extraction = read(source, "permits")
        with pytest.raises(HeaderMismatch, match=r"^\[construction_xroad\] operation /api/v1/permits page offset=0: "
                                                 r"the reply has no X-Road-Id header"):
            list(extraction)
        assert extraction.stats.requests == 1  # fatal: not retried
    finally:
        server.stop()
