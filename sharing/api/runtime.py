"""The interpreter of a serving process tuned for latency: full garbage collections and the GIL kept off
the request path.

A lookup leaves little behind that lives on, yet each full (generation 2) collection of CPython walks every
object the process tracks: the ~175,000 of a warmed API server (FastAPI, pydantic, SQLAlchemy and their
modules). On this project's 2-core machine those collections took 95-147 ms each, about twenty times in
half a minute of load, and they were the p99 latency of `bench.lookup`. `gc.freeze` moves what exists into
a permanent generation that no collection walks: done at start-up and again once the first requests have
imported and cached what start-up did not (some 400 modules, compiled queries, validators). Objects are
still freed by reference counting; what requests leave in cycles afterwards is still collected.

A request passes between threads: the event loop, the thread pool running the queries, the audit writer
thread whose commit it awaits. A thread that wants the GIL waits for the holder to give it up, by default
after 5 ms (`sys.getswitchinterval`), several times per request under load: p50 9.8 ms with the audit on
against 3.6 ms without it (`bench.lookup`, 1 worker). At 0.5 ms, 4.2 ms and 3.6 ms, with the same
throughput.
"""

from __future__ import annotations

import gc
import sys

from starlette.types import ASGIApp, Receive, Scope, Send

WARM_REQUESTS = 1000  # after these, a server has seen every kind of lookup the clients use
SWITCH_INTERVAL = 0.0005  # seconds


def freeze() -> None:
    """Collect once, then move every surviving object to the permanent generation."""
    gc.collect()
    gc.freeze()


class ServingRuntime:
    """ASGI middleware: when the server starts (lifespan), shortens the switch interval, collects and freezes
    the heap; freezes it again after `warm` requests. That second freeze also keeps whatever cyclic garbage
    exists at that moment: once, bounded."""

    def __init__(self, app: ASGIApp, warm: int = WARM_REQUESTS) -> None:
        self.app = app
        self.warm = warm
        self.seen = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            sys.setswitchinterval(SWITCH_INTERVAL)
            freeze()
        if scope["type"] != "http" or self.seen >= self.warm:
            await self.app(scope, receive, send)
            return
        self.seen += 1
        last = self.seen == self.warm
        await self.app(scope, receive, send)
        if last:  # once that request is answered, so what it cached is frozen too; no collection first:
            gc.freeze()  # that would stall the requests queued meanwhile (freezing alone is a list splice)
