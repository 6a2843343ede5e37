"""Per-client rate limits: one token bucket per client (or per address, for requests without a known key).

`RateLimiter` keeps the buckets in this process; `RedisRateLimiter` keeps them in Redis, so every worker
of `lienthong serve --workers N` (and every replica) draws on the same bucket. Both take the time from a
clock they are given, so a test can hold it still or move it on; Redis buckets use the wall clock (the
workers' monotonic clocks do not agree), read in the worker and passed to the script.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sharing.api.policy import RateLimit

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int  # the bucket's size
    remaining: int  # whole requests left now
    reset: float  # seconds until the bucket is full again
    retry_after: float  # seconds until one request may go (0 when allowed)

    def headers(self) -> dict[str, str]:
        out = {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(self.remaining),
               "X-RateLimit-Reset": str(math.ceil(self.reset))}
        if not self.allowed:
            out["Retry-After"] = str(max(1, math.ceil(self.retry_after)))
        return out


def _decide(tokens: float, limit: RateLimit, allowed: bool) -> Decision:
    return Decision(allowed=allowed, limit=limit.burst, remaining=int(tokens),
                    reset=(limit.burst - tokens) / limit.per_second,
                    retry_after=0.0 if allowed else (1 - tokens) / limit.per_second)


class Limiter(Protocol):
    async def take(self, bucket: str, limit: RateLimit) -> Decision: ...

    def close(self) -> None: ...


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """Buckets in this process: right for one worker."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take_now(self, bucket_name: str, limit: RateLimit) -> Decision:
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(bucket_name)
            if bucket is None:
                bucket = self._buckets[bucket_name] = _Bucket(float(limit.burst), now)
            bucket.tokens = min(float(limit.burst), bucket.tokens + max(0.0, now - bucket.at) * limit.per_second)
            bucket.at = now
            allowed = bucket.tokens >= 1
            if allowed:
                bucket.tokens -= 1
            return _decide(bucket.tokens, limit, allowed)

    async def take(self, bucket: str, limit: RateLimit) -> Decision:
        return self.take_now(bucket, limit)

    def close(self) -> None:
        pass


# KEYS[1] the bucket; ARGV: now (s), rate (/s), burst, ttl (s). Returns {allowed, tokens * 1000}.
_TAKE = """
local now, rate, burst, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 't', 'at')
local tokens, at = tonumber(state[1]), tonumber(state[2])
if tokens == nil then tokens, at = burst, now end
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local allowed = 0
if tokens >= 1 then tokens = tokens - 1; allowed = 1 end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], ttl)
return {allowed, math.floor(tokens * 1000)}
"""


class RedisRateLimiter:
    """Buckets in Redis (one hash per bucket, updated by one script, so concurrent workers cannot race)."""

    def __init__(self, url: str, *, prefix: str = "lienthong:api:rate:", clock: Clock = time.time) -> None:
        import redis.asyncio as aioredis

        self.clock = clock
        self.prefix = prefix
        # a bounded pool that makes a burst wait for a connection rather than fail
        pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=64, timeout=5)
        self._redis: Any = aioredis.Redis(connection_pool=pool)
        self._script: Any = self._redis.register_script(_TAKE)

    async def take(self, bucket: str, limit: RateLimit) -> Decision:
        ttl = max(1, math.ceil(limit.burst / limit.per_second) + 1)
        allowed, milli = await self._script(keys=[self.prefix + bucket],
                                            args=[repr(self.clock()), repr(limit.per_second), limit.burst, ttl])
        return _decide(int(milli) / 1000, limit, bool(int(allowed)))

    def close(self) -> None:
        pass  # the server's connections end with its process

    async def aclose(self) -> None:
        await self._redis.aclose()
        await self._redis.connection_pool.disconnect()
