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
        with self._lock:
            if self._published is None or time.monotonic() - self._published[0] > PUBLISHED_TTL_SECONDS:
                self._published = (time.monotonic(), read_retrying(self.engine, Published.read))
            return self._published[1]


def entry_of(request: Request) -> Entry:
    entry: Entry = request.scope[AUDIT_SCOPE_KEY]
    return entry


def state_of(request: Request) -> ApiState:
    state: ApiState = request.app.state.lienthong
    return state


def client_of(request: Request) -> Client | None:
    client: Client | None = request.scope.get(CLIENT_SCOPE_KEY)
    return client
