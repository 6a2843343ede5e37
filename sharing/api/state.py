"""The lookup API's per-app state and the request's audit entry and client, read by the API's and the
dashboard's routes (apart from `app`, so that routes do not import the module that mounts them)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from fastapi import Request

from core.dbfaults import read_retrying
from sharing.api.audit import AuditWriter, Entry
from sharing.api.policy import Client, Policy
from sharing.api.queries import Published
from sharing.api.ratelimit import Limiter, RateLimiter

AUDIT_SCOPE_KEY = "lienthong.audit"
CLIENT_SCOPE_KEY = "lienthong.client"
PUBLISHED_TTL_SECONDS = 5.0


@dataclass(slots=True)
class ApiState:
    url: str
    policy: Policy
    data_dir: Path
    writer: AuditWriter
    engine: sa.Engine
    limiter: Limiter = field(default_factory=RateLimiter)
    _published: tuple[float, Published] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def published(self) -> Published:
        """Which datasets are published, re-read every few seconds (publishing happens beside the API)."""
        # No lock on the fresh path: every request passes here, and a thread holding a lock while the GIL
        # moves on made all the others queue behind it (the profile's largest block at 200 req/s).
        cached = self._published
        if cached is not None and time.monotonic() - cached[0] <= PUBLISHED_TTL_SECONDS:
            return cached[1]
        # Stale: one thread re-reads while the others answer from the last read; only the first read waits.
        if not self._lock.acquire(blocking=cached is None):
            assert cached is not None
            return cached[1]
        try:
            cached = self._published
            if cached is None or time.monotonic() - cached[0] > PUBLISHED_TTL_SECONDS:
                cached = (time.monotonic(), read_retrying(self.engine, Published.read))
                self._published = cached
            return cached[1]
        finally:
            self._lock.release()


def entry_of(request: Request) -> Entry:
    entry: Entry = request.scope[AUDIT_SCOPE_KEY]
    return entry


def state_of(request: Request) -> ApiState:
    state: ApiState = request.app.state.lienthong
    return state


def client_of(request: Request) -> Client | None:
    client: Client | None = request.scope.get(CLIENT_SCOPE_KEY)
    return client
