"""One bad request never harms another: NUL bytes, invalid UTF-8, over-long URLs and bodies on a GET,
sent raw (no client library would) between other clients' lookups, each get their own 4xx and audit entry,
and every other request its normal answer; an entry that cannot be written fails its own request only."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator

import httpx
import pytest

from sharing import db
from sharing.api.audit import AuditWriter, Entry, read, verify
from tests.sharing.api.conftest import Served, key
from tests.sharing.api.samples import pick

pytestmark = pytest.mark.integration

AUTH = f"X-API-Key: {key('clear_all')}\r\nX-Purpose: inspection\r\n"
BAD: dict[str, tuple[bytes, int, str]] = {  # name -> (request line and extra headers, status, problem type)
    "nul_path": (b"GET /v1/anything%00here HTTP/1.1\r\n", 400, "nul-byte"),
    "nul_query": (b"GET /v1/enterprises?name=ab%00cd HTTP/1.1\r\n", 400, "nul-byte"),
    "bad_utf8": (b"GET /v1/enterprises/%ff%fe HTTP/1.1\r\n", 400, "invalid-utf8"),
    "bad_utf8_query": (b"GET /v1/enterprises?name=%c3%28ab HTTP/1.1\r\n", 400, "invalid-utf8"),
    "overlong": (b"GET /v1/enterprises/" + b"9" * 100_000 + b" HTTP/1.1\r\n", 414, "uri-too-long"),
    "get_body": (b"GET /v1/me HTTP/1.1\r\nContent-Length: 11\r\n", 400, "body-not-allowed"),
}


def raw_get(port: int, head: bytes, request_id: str) -> tuple[int, dict[str, str], bytes]:
    """One request sent byte for byte; (status, headers, body)."""
    body = b"hello world" if b"Content-Length: 11" in head else b""
    data = head + f"Host: 127.0.0.1\r\n{AUTH}X-Request-Id: {request_id}\r\nConnection: close\r\n\r\n".encode() + body
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    reply = b"".join(chunks)
    top, _, content = reply.partition(b"\r\n\r\n")
    lines = top.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, content


def test_bad_requests_between_good_ones(api: httpx.Client, served: Served) -> None:
    s = pick(served.url)
    port = int(str(api.base_url).rstrip("/").rsplit(":", 1)[1])
    expected = api.get(f"/v1/enterprises/{s.tax_code}", headers={"X-API-Key": key("clear_all"),
                                                                 "X-Purpose": "inspection"}).json()["data"]
    failures: list[str] = []
    sent: dict[str, str] = {}  # request id -> what it was
    lock = threading.Lock()

    def client(n: int) -> None:
        for i in range(12):
            rid = f"gw-{n:02d}-{i:03d}-{'x' * 8}"
            if n % 2:  # odd clients send the bad ones, round-robin
                name = list(BAD)[(n + i) % len(BAD)]
                head, status, kind = BAD[name]
                got, headers, content = raw_get(port, head, rid)
                problem = json.loads(content)
                ok = (got, problem["type"], headers.get("x-request-id")) == (
                    status, f"urn:lienthong:problem:{kind}", rid) and "x-ratelimit-remaining" in headers
            else:
                name = "good"
                got, headers, content = raw_get(port, f"GET /v1/enterprises/{s.tax_code} HTTP/1.1\r\n".encode(), rid)
                ok = got == 200 and json.loads(content)["data"] == expected
            with lock:
                sent[rid] = name
                if not ok:
                    failures.append(f"{name}: {got} {content[:200]!r}")

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert failures == []
    assert len(sent) == 96
    audited: dict[str, dict[str, object]] = {}
    for e in read(served.url, limit=1_000_000):
        rid = json.loads(e["context"] or "{}").get("request_id")
        if rid in sent:
            assert rid not in audited, f"{rid} audited twice"
            audited[rid] = e
    assert set(audited) == set(sent)  # every request, good or bad, has its entry
    for rid, e in audited.items():
        assert (e["status"] == 200) == (sent[rid] == "good"), (rid, e)
        assert "\x00" not in str(e["endpoint"]) and len(str(e["endpoint"])) <= 300
        if sent[rid] == "nul_path":
            assert e["endpoint"] == "/v1/anything%00here"  # stored escaped, as sent
    assert verify(served.url)[1] == []


@pytest.fixture
def url(db_url: str) -> Iterator[str]:
    yield db_url
    db.engine_for(db_url).dispose()


def test_an_unwritable_entry_fails_alone(url: str) -> None:
    """Entries arriving together share a transaction; one the database refuses (a status no integer column
    holds) fails its own future, the others of its group are written, and the chain stays whole."""
    writer = AuditWriter(url)
    try:
        futures = [writer.submit(Entry(method="GET", endpoint=f"/v1/t/{i}", outcome="allowed",
                                       status=2**70 if i == 17 else 200)) for i in range(40)]
        results: list[int | str] = []
        for f in futures:
            try:
                results.append(f.result(timeout=60))
            except Exception as exc:  # the one refused entry
                results.append(type(exc).__name__)
    finally:
        writer.close()
    assert [i for i, r in enumerate(results) if not isinstance(r, int)] == [17]
    assert sorted(r for r in results if isinstance(r, int)) == list(range(1, 40))
    assert verify(url) == (39, [])
    assert [e["endpoint"] for e in read(url, limit=100)] == [f"/v1/t/{i}" for i in range(40) if i != 17]


def test_nul_and_surrogates_are_stored_escaped(url: str) -> None:
    writer = AuditWriter(url)
    try:
        writer.submit(Entry(method="GET", endpoint="/v1/a\x00b\udcff", params={"q": "x\x00"}, detail="d\x00",
                            outcome="denied", status=400)).result(timeout=60)
    finally:
        writer.close()
    [entry] = read(url)
    assert entry["endpoint"] == "/v1/a\\x00b\\udcff" and "\\x00" in entry["detail"]
    assert "\x00" not in entry["params"]
    assert verify(url) == (1, [])


def test_workers_share_redis_buckets() -> None:
    """Two limiters on one Redis (as two workers): one bucket between them, refilled by the clock."""
    import asyncio
    import uuid

    from sharing.api.policy import RateLimit
    from sharing.api.ratelimit import RedisRateLimiter

    clock = [1000.0]
    prefix = f"lienthong:test:{uuid.uuid4().hex}:"

    async def run() -> list[bool]:
        workers = [RedisRateLimiter("redis://127.0.0.1:6379/0", prefix=prefix, clock=lambda: clock[0])
                   for _ in range(2)]
        got = [(await workers[i % 2].take("client:c", RateLimit(1, 3))).allowed for i in range(4)]
        clock[0] += 1.0
        got.append((await workers[1].take("client:c", RateLimit(1, 3))).allowed)
        for worker in workers:
            await worker.aclose()
        return got

    try:
        allowed = asyncio.run(run())
    except OSError as exc:  # pragma: no cover - the machine's Redis is part of the setup
        pytest.fail(f"Redis on 127.0.0.1:6379: {exc}")
    assert allowed == [True, True, True, False, True]


@pytest.mark.parametrize("served", ["sqlite"], indirect=True)
def test_an_unreachable_rate_limit_store_is_an_audited_500(served: Served) -> None:
    """A failure before the handler (here: Redis gone) is answered as a problem and audited like any other."""
    from sharing.api.app import create_app
    from sharing.api.ratelimit import RedisRateLimiter
    from tests.conftest import free_port
    from tests.sharing.api.conftest import make_policy, running_api

    app = create_app(served.url, make_policy(), served.data_dir,
                     limiter=RedisRateLimiter(f"redis://127.0.0.1:{free_port()}/0"))
    try:
        with running_api(app) as base:
            response = httpx.get(f"{base}/v1/me", headers={"X-API-Key": key("clear_all")}, timeout=30)
    finally:
        app.state.lienthong.writer.close()
    assert response.status_code == 500 and response.json()["type"] == "urn:lienthong:problem:internal-error"
    rid = response.headers["X-Request-Id"]
    [entry] = [e for e in read(served.url, limit=1_000_000) if rid in (e["context"] or "")]
    assert entry["status"] == 500 and entry["outcome"] == "error" and "ConnectionError" in entry["detail"]
