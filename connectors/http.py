"""One HTTP call with everything around it: rate and concurrency limits, a bounded body, retries.

Retried, with exponential backoff and full jitter: connection errors, timeouts, 429 (waiting at least
its Retry-After), 5xx, and any `Retriable` the page parser raises (a truncated or malformed body, a
pagination loop). Not retried: any other 4xx, and every `Fatal`.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx

from connectors.config import SourceConfig
from connectors.errors import AuthRefused, HostileResponse, RequestRejected, SourceUnavailable
from connectors.secrets import Redactor
from core.errors import Retriable

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Response:
    """What a page parser sees: status, headers and the whole (bounded) body."""

    status: int
    headers: httpx.Headers
    content: bytes
    url: str


class RateLimiter:
    """A token bucket shared by every request of one source, plus a concurrency cap."""

    def __init__(self, rate_per_second: float, concurrency: int) -> None:
        self._interval = 1.0 / rate_per_second if rate_per_second > 0 else 0.0
        self._next = time.monotonic()
        self._lock = threading.Lock()
        self.slots = threading.BoundedSemaphore(max(1, concurrency))

    def wait(self) -> None:
        if not self._interval:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self._interval
        if start > now:
            time.sleep(start - now)


_LIMITERS: dict[tuple[str, float, int], RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def shared_limiter(source: SourceConfig) -> RateLimiter:
    """One limiter per source in this process, so parallel streams of a source share its limits."""
    key = (source.name, source.limits.rate_per_second, source.limits.concurrency)
    with _LIMITERS_LOCK:
        if key not in _LIMITERS:
            _LIMITERS[key] = RateLimiter(source.limits.rate_per_second, source.limits.concurrency)
        return _LIMITERS[key]


def _retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


class HttpCaller:
    """Makes the calls of one source. The httpx client is passed in (tests and benches own it)."""

    def __init__(self, source: SourceConfig, client: httpx.Client, redactor: Redactor,
                 limiter: RateLimiter | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        self.source, self.client, self.redactor = source, client, redactor
        self.limiter = limiter or shared_limiter(source)
        self._sleep = sleep
        self.requests = 0
        self.retries = 0

    def _fetch(self, method: str, url: str, operation: str, page: str, **kwargs: Any) -> Response:
        limit = self.source.limits.max_response_bytes
        self.limiter.wait()
        with self.limiter.slots, self.client.stream(method, url, **kwargs) as response:
            self.requests += 1
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > limit:
                raise HostileResponse(f"response of {declared} bytes is over the bound of {limit}",
                                      source=self.source.name, operation=operation, page=page)
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > limit:
                    raise HostileResponse(f"response is over the bound of {limit} bytes",
                                          source=self.source.name, operation=operation, page=page)
                chunks.append(chunk)
            return Response(response.status_code, response.headers, b"".join(chunks), str(response.url))

    def call(self, method: str, url: str, *, operation: str, page: str,
             parse: Callable[[Response], T], ok_statuses: tuple[int, ...] = (200,),
             params: Mapping[str, Any] | None = None, content: bytes | None = None,
             headers: Mapping[str, str] | None = None) -> T:
        """Request, check the status, parse; retry what is retriable. `parse` may see a non-2xx
        status when it is in `ok_statuses` (SOAP Faults come with a 500)."""
        retry = self.source.retry
        name = self.source.name
        for attempt in range(1, retry.attempts + 1):
            wait: float | None = None
            try:
                response = self._fetch(method, url, operation, page, params=params, content=content,
                                       headers=headers)
                status = response.status
                if status in ok_statuses:
                    return parse(response)
                excerpt = self.redactor.excerpt(response.content)
                if status in (401, 403):
                    raise AuthRefused(f"the agency refused our credentials ({status})", source=name,
                                      operation=operation, page=page, excerpt=excerpt, status=status)
                if status == 429 or status >= 500:
                    wait = _retry_after(response.headers) if status in (429, 503) else None
                    raise SourceUnavailable(f"the agency answered {status}", source=name,
                                            operation=operation, page=page, excerpt=excerpt, status=status)
                raise RequestRejected(f"the agency rejected the request ({status})", source=name,
                                      operation=operation, page=page, excerpt=excerpt, status=status)
            except httpx.TransportError as exc:
                error: Retriable = SourceUnavailable(
                    f"{type(exc).__name__}: {self.redactor(str(exc)) or 'no detail'}", source=name,
                    operation=operation, page=page)
            except Retriable as exc:
                error = exc
            if attempt == retry.attempts:
                raise error
            self.retries += 1
            backoff = random.uniform(0, min(retry.max_backoff_seconds, retry.backoff_seconds * 2 ** (attempt - 1)))
            if wait is not None:
                backoff = max(backoff, min(wait, retry.max_retry_after_seconds))
            log.warning("%s; attempt %d of %d, retrying in %.2fs", error, attempt, retry.attempts, backoff)
            self._sleep(backoff)
        raise AssertionError("unreachable")  # pragma: no cover


def build_client(source: SourceConfig, auth: httpx.Auth | None, tls: Mapping[str, Any]) -> httpx.Client:
    """The httpx client a source uses when the caller passes none."""
    limits = source.limits
    timeout = httpx.Timeout(limits.timeout_seconds, connect=limits.connect_timeout_seconds)
    slots = max(1, limits.concurrency)
    pool = httpx.Limits(max_connections=slots, max_keepalive_connections=slots)
    return httpx.Client(base_url=source.endpoint, auth=auth, timeout=timeout, limits=pool,
                        follow_redirects=False, headers={"User-Agent": "lienthong-connector/0.1"}, **tls)
