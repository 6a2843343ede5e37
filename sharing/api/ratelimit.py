"""Per-client rate limits: one token bucket per client, in this process.

With several server processes each holds its own buckets, so the effective limit is per process; one
process (the default) gives the limit the policy states.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from sharing.api.policy import RateLimit


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    def __init__(self) -> None:
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, client: str, limit: RateLimit) -> float:
        """0 when a request may go ahead now, else the seconds until one may."""
        now = time.monotonic()
        with self._lock:
            bucket = self._buckets.get(client)
            if bucket is None:
                bucket = self._buckets[client] = _Bucket(float(limit.burst), now)
            bucket.tokens = min(float(limit.burst), bucket.tokens + (now - bucket.at) * limit.per_second)
            bucket.at = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return 0.0
            return (1 - bucket.tokens) / limit.per_second
