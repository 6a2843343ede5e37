"""The one in-thread server of the tests: an ASGI app under uvicorn on a loopback port, for a `with`."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


@contextmanager
def in_thread(app: Any, port: int | None = None, *, http: Any = "auto", start_seconds: float = 20.0,
              access_log: bool = False) -> Iterator[str]:
    """Serve `app` on 127.0.0.1 (a free port unless given); yields its base URL, stops it on exit."""
    from tests.conftest import free_port

    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           access_log=access_log, lifespan="off", http=http))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_seconds
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"the app did not start on 127.0.0.1:{port}")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=start_seconds)
