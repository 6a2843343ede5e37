"""A serving process keeps full garbage collections and GIL hand-offs off the request path: the heap is
frozen when the server starts and again after its first requests, and the switch interval is shortened."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from sharing.api.app import create_app
from sharing.api.runtime import SWITCH_INTERVAL, ServingRuntime

pytestmark = pytest.mark.unit
KEPT: list[object] = []  # objects a request leaves alive, as caches and lazily imported modules do


@pytest.fixture(autouse=True)
def _restore() -> Iterator[None]:
    gc.unfreeze()
    interval = sys.getswitchinterval()
    yield
    gc.unfreeze()
    sys.setswitchinterval(interval)
    KEPT.clear()


def test_the_api_freezes_its_heap_when_it_starts(tmp_path: Path) -> None:
    from sharing.api.policy import load_policy
    from tests.sharing.api.test_policy import EXAMPLE

    app = create_app(f"sqlite:///{tmp_path / 'lt.db'}", load_policy(EXAMPLE), tmp_path / "data")
    try:
        assert gc.get_freeze_count() == 0
        with TestClient(app) as client:
            assert gc.get_freeze_count() > 10_000, "the start-up heap is left for every full collection"
            assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL)
            assert client.get("/v1/me").status_code == 401  # and it still answers
    finally:
        app.state.lienthong.writer.close()


def test_what_the_first_requests_leave_is_frozen_once_they_are_done() -> None:
    def keep(request: Request) -> PlainTextResponse:
        KEPT.append([[] for _ in range(1000)])
        return PlainTextResponse("ok")

    runtime = ServingRuntime(Starlette(routes=[Route("/", keep)]), warm=3)
    with TestClient(runtime) as client:
        at_start = gc.get_freeze_count()
        client.get("/")
        client.get("/")
        # (frozen objects are still freed by reference counting, so the count may fall a little)
        assert gc.get_freeze_count() < at_start + 1000, "frozen before the warm-up requests are done"
        client.get("/")
        after_warm = gc.get_freeze_count()
        assert after_warm >= at_start + 2500, "the warm-up requests' objects stay in the collected generations"
        client.get("/")
        assert gc.get_freeze_count() < after_warm + 1000, "frozen again after warm-up"
