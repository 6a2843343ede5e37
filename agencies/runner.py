"""Serving simulators with uvicorn: in the foreground (the CLI) or on a background thread (tests)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import uvicorn
from starlette.types import ASGIApp

LOOPBACK = "127.0.0.1"


def bind(host: str = LOOPBACK, port: int = 0) -> socket.socket:
    """A listening socket; port 0 picks a free one, with no window for another process to take it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _config(app: ASGIApp, log_level: str) -> uvicorn.Config:
    # h11/httptools and no lifespan: these apps have no start-up work and tests start many of them
    return uvicorn.Config(app, log_level=log_level, lifespan="off", access_log=False, timeout_keep_alive=30)


@dataclass
class BackgroundServer:
    """A uvicorn server on a daemon thread; `stop()` shuts it down and waits."""

    server: uvicorn.Server
    thread: threading.Thread
    sock: socket.socket
    host: str = LOOPBACK
    port: int = 0
    _stopped: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self, timeout: float = 10.0, wait: bool = True) -> None:
        """Ask the server to exit; with `wait`, until it has (uvicorn takes ~0.2 s to wind down)."""
        if self._stopped:
            return
        self._stopped = True
        self.server.should_exit = True
        self.server.force_exit = True  # no graceful wait: a test's clients are done
        if wait:
            self.thread.join(timeout)
            self.sock.close()


def serve_in_background(app: ASGIApp, host: str = LOOPBACK, port: int = 0,
                        log_level: str = "warning", start_timeout: float = 10.0) -> BackgroundServer:
    sock = bind(host, port)
    server = uvicorn.Server(_config(app, log_level))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True,
                              name=f"simulator-{sock.getsockname()[1]}")
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError(f"simulator server on {host}:{sock.getsockname()[1]} did not start")
        time.sleep(0.005)
    return BackgroundServer(server, thread, sock, host, int(sock.getsockname()[1]))


def serve_foreground(apps: Sequence[tuple[ASGIApp, socket.socket]], log_level: str = "info") -> None:
    """Serve every (app, socket) in this process until interrupted."""

    async def main() -> None:
        servers = [uvicorn.Server(_config(app, log_level)) for app, _ in apps]
        await asyncio.gather(*(srv.serve(sockets=[sock]) for srv, (_, sock) in zip(servers, apps, strict=True)))

    asyncio.run(main())
