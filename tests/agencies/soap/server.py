"""Serve an ASGI app with uvicorn on a loopback port, in a thread, for the length of a `with`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.servers import in_thread


@contextmanager
def serving(app: Any, port: int) -> Iterator[str]:
    with in_thread(app, port, start_seconds=10.0, access_log=True) as url:
        yield url
