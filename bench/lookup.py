"""Lookup API latency and throughput, on PostgreSQL, beside the same queries issued directly through SQLAlchemy.

    .venv/bin/python -m bench.lookup [--rows 20000] [--seconds 10] [--rate 200] [--clients 50] [--workers 1,2]
                                      [--pg postgresql://postgres@127.0.0.1:5432/postgres] [--full]

Publishes `rows` enterprises, parcels and permits into a fresh database and runs the API under uvicorn in
separate processes (`--workers`: 1, and 2 sharing their rate limits through Redis and one cursor secret),
with the audit log on and off. This process generates the load (a minimal keep-alive HTTP/1.1 client on
asyncio): the mixed lookups of an agency's clerk (40% enterprise by tax code, 25% parcel, 20% permits by
investor, 15% name search), as an open loop at a fixed rate (default 200 requests/s; latency from each
request's scheduled time, so queueing shows) and a closed loop of `clients` concurrent clients (throughput).
The same mix of queries is run directly through SQLAlchemy from a thread pool (the floor: no HTTP, no
policy, no masking, no audit). Targets: p99 <= 25 ms and p50 <= 8 ms at 200 requests/s with the audit on.
Start-up (publishing, server start, warm-up) is timed apart. The machine is shared: figures vary between runs.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import random
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
import sqlalchemy as sa

from sharing import db

KEY = "lt_bench_lookup_key"
POLICY = """clients:
  bench:
    key_sha256: {digest}
    rate: {{per_second: 1000000, burst: 1000000}}
    grants:
      - {{dataset: enterprises, columns: "*", clear: [personal], purposes: [benchmark]}}
      - {{dataset: parcels, columns: "*", clear: [personal], purposes: [benchmark]}}
      - {{dataset: permits, columns: "*", clear: [personal], purposes: [benchmark]}}
"""
HEADERS = {"X-API-Key": KEY, "X-Purpose": "benchmark"}
MIX = (("enterprise", 0.40), ("parcel", 0.25), ("permits", 0.20), ("search", 0.15))


def tax_codes(n: int) -> list[str]:
    from stdnum.vn import mst

    out: list[str] = []
    i = 0
    while len(out) < n:
        i += 1
        body = f"01{i:07d}"
        check = mst.calc_check_digit(body)
        if len(check) == 1:
            out.append(body + check)
    return out


@dataclass(frozen=True, slots=True)
class Data:
    codes: list[str]
    parcels: list[tuple[str, int, int]]
    words: list[str]


def setup(pg: str, rows: int, root: Path) -> tuple[str, Data]:
    from schemas.contract import get_contract
    from sharing.publish import publish
    from sharing.spec import dataset_spec
    from tests.sharing.tables import filled

    name = f"lienthong_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type,unused-ignore]
    url = pg.rsplit("/", 1)[0] + "/" + name
    codes = tax_codes(rows)
    n = len(codes)
    words = [f"thuongmai{i}" for i in range(n)]
    enterprises = filled("enterprises", n, {
        "enterprise_code": codes, "name": [f"Công ty TNHH Thương mại {w}" for w in words],
        "name_search": [f"cong ty tnhh thuong mai {w}" for w in words], "status": ["active"] * n,
        "commune_code": ["00004"] * n, "commune_code_source": ["00004"] * n,
        "legal_rep_name": ["Nguyễn Văn An"] * n, "legal_rep_id": ["001089012345"] * n})
    parcels = [("00004", i // 1000 + 1, i % 1000 + 1) for i in range(n)]
    parcel_table = filled("parcels", n, {
        "commune_code_source": [p[0] for p in parcels], "map_sheet": [p[1] for p in parcels],
        "parcel_number": [p[2] for p in parcels], "commune_code": ["00004"] * n, "holder_id": codes,
        "holder_name": ["Trần Thị Bình"] * n, "area_m2": [Decimal("152.40")] * n})
    permit_table = filled("permits", 2 * n, {  # two permits per investor
        "permit_no": [f"GPXD-{i:08d}" for i in range(2 * n)], "investor_id": codes * 2,
        "investor_name": ["Công ty TNHH"] * (2 * n), "commune_code": ["00004"] * (2 * n),
        "map_sheet": [p[1] for p in parcels] * 2, "parcel_number": [p[2] for p in parcels] * 2})
    for dataset, table in (("enterprises", enterprises), ("parcels", parcel_table), ("permits", permit_table)):
        publish(url, dataset_spec(get_contract(dataset)), [table], data_dir=root / "data")
    from sharing.views import ensure_lookup_indexes

    with db.engine_for(url).begin() as conn:
        ensure_lookup_indexes(conn)  # as building the views makes them in production
        conn.execute(sa.text("ANALYZE"))
    return url, Data(codes, parcels, words)


def drop(pg: str, url: str) -> None:
    db.engine_for(url).dispose()
    with psycopg.connect(pg, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')  # type: ignore[arg-type,unused-ignore]


def request_paths(data: Data, n: int, seed: int) -> list[str]:
    """The mixed lookups, in a reproducible order."""
    rnd = random.Random(seed)
    kinds = rnd.choices([k for k, _ in MIX], weights=[w for _, w in MIX], k=n)
    out = []
    for kind in kinds:
        if kind == "enterprise":
            out.append(f"/v1/enterprises/{rnd.choice(data.codes)}")
        elif kind == "parcel":
            c, sheet, number = rnd.choice(data.parcels)
            out.append(f"/v1/parcels/{c}/{sheet}/{number}")
        elif kind == "permits":
            out.append(f"/v1/permits?investor_id={rnd.choice(data.codes)}&limit=20")
        else:
            out.append(f"/v1/enterprises?name={rnd.choice(data.words)}&limit=20")
    return out


# --- the server, in its own processes ------------------------------------------------------------

def app(audit: bool = True) -> object:
    from sharing.api.app import create_app
    from sharing.api.policy import load_policy

    limiter = None
    if os.environ.get("LIENTHONG_API_RATE_LIMIT_URL"):
        from sharing.api.ratelimit import RedisRateLimiter

        limiter = RedisRateLimiter(os.environ["LIENTHONG_API_RATE_LIMIT_URL"],
                                   prefix=os.environ.get("BENCH_REDIS_PREFIX", "lienthong:bench:"))
    return create_app(os.environ["LIENTHONG_DATABASE_URL"], load_policy(Path(os.environ["BENCH_POLICY"])),
                      Path(os.environ["LIENTHONG_DATA_DIR"]), audit=audit, limiter=limiter)


def app_audited() -> object:
    return app(True)


def app_unaudited() -> object:
    return app(False)


def start_server(url: str, root: Path, port: int, audit: bool, workers: int) -> subprocess.Popen[bytes]:
    from sharing.api.server import PROTOCOL

    env = {**os.environ, "LIENTHONG_DATABASE_URL": url, "LIENTHONG_DATA_DIR": str(root / "data"),
           "BENCH_POLICY": str(root / "policy.yaml"), "LIENTHONG_API_SECRET": secrets.token_urlsafe(32)}
    if workers > 1:  # as `lienthong serve --workers N` requires: the buckets in Redis
        env["LIENTHONG_API_RATE_LIMIT_URL"] = "redis://127.0.0.1:6379/0"
        env["BENCH_REDIS_PREFIX"] = f"lienthong:bench:{uuid.uuid4().hex[:8]}:"
    factory = "bench.lookup:app_audited" if audit else "bench.lookup:app_unaudited"
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", factory, "--factory", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning", "--no-access-log", "--backlog", "4096", "--workers", str(workers),
         "--http", PROTOCOL], env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/me", headers=HEADERS, timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the API server did not start")


# --- load -------------------------------------------------------------------------------------------

@dataclass(slots=True)
class Result:
    label: str
    latencies: list[float]
    seconds: float
    errors: int
    cpu: str = ""  # CPU time per request of the server and of PostgreSQL: what the load does not change much

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    def line(self) -> str:
        return (f"{self.label:<44} {self.rps:>7.0f} req/s  p50 {self.pct(0.5):>6.1f}  p95 {self.pct(0.95):>6.1f}  "
                f"p99 {self.pct(0.99):>6.1f} ms  errors {self.errors}{self.cpu}")


def _cpu(procs: list[psutil.Process]) -> float:
    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
        except psutil.Error:  # gone since: its time is lost to the figure, which is then a floor
            continue
        total += times.user + times.system
    return total


def _postgres() -> dict[int, float]:
    """CPU seconds of each PostgreSQL process (backends opened later count from zero)."""
    return {p.pid: _cpu([p]) for p in psutil.process_iter(["name"]) if p.info["name"] == "postgres"}


class RunQueue:
    """Seconds the threads of `pids` spent runnable but waiting for a core (the second field of
    /proc/PID/task/TID/schedstat), sampled every 50 ms so that threads which end meanwhile still count
    (up to their last sample); and the share of the time some task on the machine waited (PSI, cpu some)."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.seen: dict[int, int] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _sample(self) -> None:
        for pid in self.pids:
            for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
                try:
                    waited = int(stat.read_text().split()[1])
                except (OSError, IndexError, ValueError):  # a thread gone since
                    continue
                self.seen[int(stat.parent.name)] = waited

    def _loop(self) -> None:
        while not self.stop.wait(0.05):
            self._sample()

    @staticmethod
    def _pressure() -> float:
        try:
            line = Path("/proc/pressure/cpu").read_text().splitlines()[0]
        except OSError:
            return float("nan")
        return int(line.rsplit("total=", 1)[1]) / 1e6

    def __enter__(self) -> RunQueue:
        self._sample()
        self.before, self.pressure, self.started = dict(self.seen), self._pressure(), time.perf_counter()
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self._sample()
        self.waited = sum(v - self.before.get(tid, 0) for tid, v in self.seen.items()) / 1e9
        self.stalled = (self._pressure() - self.pressure) / (time.perf_counter() - self.started)


def metered(label: str, server: list[psutil.Process], work: Callable[[], Result]) -> Result:
    """`work`'s result with the CPU seconds per request that `server` (the API's processes, or this one)
    and PostgreSQL's processes spent during it: on a shared machine, latency follows the neighbours' load,
    CPU per request much less (PostgreSQL's includes what other clients of the same server asked meanwhile)."""
    pids, me = [p.pid for p in server], [psutil.Process().pid]
    database, mine = _postgres(), _cpu(server)
    with RunQueue(pids) as waited, RunQueue(me) as waited_here:
        result = work()
    n = max(1, len(result.latencies))
    database_used = sum(cpu - database.get(pid, 0.0) for pid, cpu in _postgres().items())
    used = (_cpu(server) - mine) / n * 1000, database_used / n * 1000
    result.cpu = f"  cpu/req: {label} {used[0]:.2f} ms, PostgreSQL {used[1]:.2f} ms"
    if pids != me:
        wait = waited.waited / n * 1000, waited_here.waited / n * 1000
        result.cpu += (f"; waiting for a core/req: {label} {wait[0]:.2f} ms, load generator {wait[1]:.2f} ms"
                       f"; some task waiting for a core {waited.stalled:.0%} of the time")
    return result


class Connection:
    """One keep-alive HTTP/1.1 connection, as small as a client can be: the load generator must not be
    the bottleneck (httpx's async pool costs several ms of CPU per request at hundreds of connections)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def get(self, path: str) -> int:
        headers = "".join(f"{k}: {v}\r\n" for k, v in HEADERS.items())
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await self.reader.readexactly(length)
        return int(head[9:12])

    def close(self) -> None:
        self.writer.close()


async def closed_loop(port: int, paths: list[str], clients: int, seconds: float, label: str) -> Result:
    """`clients` clients, each on its own connection, each sending its next lookup when the last returns."""
    latencies: list[float] = []
    errors = 0
    connections = [await Connection.open(port) for _ in range(clients)]
    end = time.perf_counter() + seconds

    async def one_client(seed: int) -> None:
        nonlocal errors
        conn = connections[seed]
        i = seed
        while time.perf_counter() < end:
            start = time.perf_counter()
            try:
                ok = await conn.get(paths[i % len(paths)]) == 200
            except (OSError, asyncio.IncompleteReadError):
                ok = False
                conn = connections[seed] = await Connection.open(port)
            i += clients
            if ok:
                latencies.append(time.perf_counter() - start)
            else:
                errors += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(one_client(i) for i in range(clients)))
    elapsed = time.perf_counter() - t0
    for c in connections:
        c.close()
    return Result(label, latencies, elapsed, errors)


async def open_loop(port: int, paths: list[str], rate: float, seconds: float, label: str) -> Result:
    """Requests at a fixed rate over up to 500 connections; latency from each one's scheduled time."""
    latencies: list[float] = []
    errors = 0
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(min(500, int(rate))):
        idle.put_nowait(await Connection.open(port))
    t0 = time.perf_counter()

    async def one(scheduled: float, path: str) -> None:
        nonlocal errors
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        conn = await idle.get()
        try:
            ok = await conn.get(path) == 200
        except (OSError, asyncio.IncompleteReadError):
            ok, conn = False, await Connection.open(port)
        idle.put_nowait(conn)
        if ok:
            latencies.append(time.perf_counter() - scheduled)  # from the scheduled time: queueing counts
        else:
            errors += 1

    n = int(rate * seconds)
    await asyncio.gather(*(one(t0 + i / rate, paths[i % len(paths)]) for i in range(n)))
    elapsed = time.perf_counter() - t0
    while not idle.empty():
        idle.get_nowait().close()
    return Result(label, latencies, elapsed, errors)


def _direct_query(data: Data) -> Callable[[sa.Connection, Any, random.Random], None]:
    from sharing.api import queries

    def run(conn: sa.Connection, present: Any, rnd: random.Random) -> None:
        kind = rnd.choices([k for k, _ in MIX], weights=[w for _, w in MIX])[0]
        if kind == "enterprise":
            queries.enterprise(conn, present, rnd.choice(data.codes), None, ["enterprises"])
        elif kind == "parcel":
            c, sheet, number = rnd.choice(data.parcels)
            queries.parcel(conn, present, c, sheet, number, ["parcels"])
        elif kind == "permits":
            queries.permits(conn, present, investor_id=rnd.choice(data.codes), parcel_at=None, after=None, limit=21)
        else:
            queries.search_enterprises(conn, present, rnd.choice(data.words), after=None, limit=21)
    return run


def direct(engine: sa.Engine, data: Data, clients: int, seconds: float, rate: float | None, label: str) -> Result:
    """The same mix through SQLAlchemy from `clients` threads: closed loop, or paced at `rate` in all."""
    from sharing.api import queries

    with engine.connect() as conn:
        present = queries.Published.read(conn)
    latencies: list[float] = []
    lock = threading.Lock()
    run = _direct_query(data)
    t0 = time.perf_counter()
    end = t0 + seconds

    def worker(seed: int) -> None:
        rnd = random.Random(seed)
        mine = []
        i = seed
        while (now := time.perf_counter()) < end:
            scheduled = now
            if rate is not None:
                scheduled = t0 + i / rate
                i += clients
                if scheduled > now:
                    time.sleep(scheduled - now)
            with engine.connect() as conn:
                run(conn, present, rnd)
            mine.append(time.perf_counter() - scheduled)
        with lock:
            latencies.extend(mine)

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(worker, range(clients)))
    elapsed = time.perf_counter() - t0
    return Result(label, latencies, elapsed, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--clients", type=int, default=50, help="closed-loop clients (throughput)")
    parser.add_argument("--workers", default="1,2", help="uvicorn worker counts to run")
    parser.add_argument("--full", action="store_true", help="200k rows, 30 s per run")
    args = parser.parse_args()
    if args.full:
        args.rows, args.seconds = 200_000, 30.0
    from sharing.api.auth import hash_key
    from tests.conftest import free_port

    print(f"load average before: {Path('/proc/loadavg').read_text().strip()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-lookup-") as tmp:
        root = Path(tmp)
        (root / "policy.yaml").write_text(POLICY.format(digest=hash_key(KEY)), encoding="utf-8")
        t = time.perf_counter()
        url, data = setup(args.pg, args.rows, root)
        print(f"start-up (apart): published {args.rows} enterprises, parcels and 2x permits in "
              f"{time.perf_counter() - t:.1f} s", flush=True)
        paths = request_paths(data, 100_000, 7)
        fixed: dict[str, Result] = {}
        loops: dict[str, Result] = {}
        try:
            for workers in [int(w) for w in args.workers.split(",")]:
                for audit in (True, False):
                    port = free_port()
                    t = time.perf_counter()
                    server = start_server(url, root, port, audit, workers)
                    asyncio.run(closed_loop(port, paths[-5000:], 20, 2.0, "warm-up"))
                    name = f"API, audit {'on' if audit else 'off'}, {workers} worker{'s' if workers > 1 else ''}"
                    print(f"  ({name}: server start and warm-up {time.perf_counter() - t:.1f} s, apart)", flush=True)
                    try:
                        processes = [psutil.Process(server.pid), *psutil.Process(server.pid).children(recursive=True)]
                        paced = functools.partial(asyncio.run, open_loop(port, paths, args.rate, args.seconds,
                                                                         f"{name}, {args.rate:g}/s"))
                        r = metered("server", processes, paced)
                        fixed[name] = r
                        print(r.line(), flush=True)
                        r = asyncio.run(closed_loop(port, paths, args.clients, args.seconds,
                                                    f"{name}, {args.clients} clients"))
                        loops[name] = r
                        print(r.line(), flush=True)
                    finally:
                        server.terminate()
                        server.wait(timeout=30)
            engine = sa.create_engine(url, pool_size=args.clients, max_overflow=0)  # its backends live to the end
            d_fixed = metered("this process", [psutil.Process()], lambda: direct(
                engine, data, 20, args.seconds, args.rate, f"SQLAlchemy direct, {args.rate:g}/s"))
            print(d_fixed.line(), flush=True)
            d_loop = direct(engine, data, args.clients, args.seconds, None,
                            f"SQLAlchemy direct, {args.clients} threads")
            engine.dispose()
            print(d_loop.line(), flush=True)
            from sharing.api.audit import verify

            checked, problems = verify(url)
            print(f"\naudit log after the run: {checked} entries, {'chain intact' if not problems else problems[:3]}")
        finally:
            drop(args.pg, url)

    print(f"\nsummary (same run; load average after: {Path('/proc/loadavg').read_text().strip()}):")
    for name, r in fixed.items():
        verdict = "meets" if r.pct(0.99) <= 25 and r.pct(0.5) <= 8 else "MISSES"
        print(f"  {name:<30} at {args.rate:g}/s: p50 {r.pct(0.5):.1f} ms, p99 {r.pct(0.99):.1f} ms ({verdict} "
              f"p99 <= 25, p50 <= 8); direct p99 {d_fixed.pct(0.99):.1f} ms; max {loops[name].rps:.0f} req/s "
              f"= {loops[name].rps / d_loop.rps:.2f}x direct ({d_loop.rps:.0f} q/s)")
    print("  (shared 2-core machine: the load generator, the server and PostgreSQL share the cores)")


if __name__ == "__main__":
    main()
