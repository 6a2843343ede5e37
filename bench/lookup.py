"""Lookup API latency and throughput under concurrent load, on PostgreSQL, audit log on, beside the same
queries issued directly through SQLAlchemy.

    .venv/bin/python -m bench.lookup [--rows 20000] [--seconds 5] [--levels 50,200,500] [--rate 200] [--full]
                                      [--pg postgresql://postgres@127.0.0.1:5432/postgres]

Publishes `rows` enterprises into a fresh database, starts `uvicorn` (`--workers`, default 1) in a separate
process and drives it from this process with asyncio (a minimal keep-alive HTTP/1.1 client): closed loops of
50, 200 and 500 concurrent clients, each on its own connection, looking up a random enterprise by tax
code (`GET /v1/enterprises/{tax_code}`), and an open loop at a fixed rate (default 200 requests/s;
latency counted from each request's scheduled time, so queueing shows).
The same is run against the server with the audit log off (the audit's cost), and the lookup's query is run
directly through SQLAlchemy from a thread pool (the floor). Targets: p99 <= 25 ms at 200 requests/s with the
audit on; audit costs <= 30% of throughput. The machine is shared: figures vary between runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import psycopg
import pyarrow as pa
import sqlalchemy as sa

from sharing import db

KEY = "lt_bench_lookup_key"
POLICY = """clients:
  bench:
    key_sha256: {digest}
    rate: {{per_second: 1000000, burst: 1000000}}
    grants:
      - {{dataset: enterprises, columns: "*", clear: [personal], purposes: [benchmark]}}
"""
HEADERS = {"X-API-Key": KEY, "X-Purpose": "benchmark"}


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


def enterprises(codes: list[str]) -> pa.Table:
    from pipeline.sync import dataset_spec
    from schemas.contract import get_contract

    schema = dataset_spec(get_contract("enterprises")).schema
    n, now = len(codes), datetime.now(UTC)
    values = {
        "enterprise_code": codes, "name": [f"Công ty TNHH Thương mại {i}" for i in range(n)],
        "name_search": [f"cong ty tnhh thuong mai {i}" for i in range(n)],
        "enterprise_type": ["TNHH"] * n, "status": ["active"] * n, "registered_date": [date(2020, 1, 1)] * n,
        "charter_capital_vnd": [1_000_000_000] * n, "province_code": ["01"] * n, "commune_code": ["00004"] * n,
        "commune_code_source": ["00004"] * n, "admin_review": [False] * n, "address": ["1 Tràng Tiền"] * n,
        "legal_rep_name": ["Nguyễn Văn An"] * n, "legal_rep_id": ["001089012345"] * n, "updated_at": [now] * n,
    }
    return pa.table({f.name: pa.array(values[f.name], type=f.type) for f in schema}, schema=schema)


def setup(pg: str, rows: int, root: Path) -> tuple[str, list[str]]:
    from pipeline.sync import dataset_spec
    from schemas.contract import get_contract
    from sharing.publish import publish

    name = f"lienthong_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type,unused-ignore]
    url = pg.rsplit("/", 1)[0] + "/" + name
    codes = tax_codes(rows)
    publish(url, dataset_spec(get_contract("enterprises")), [enterprises(codes)], data_dir=root / "data")
    return url, codes


def drop(pg: str, url: str) -> None:
    db.engine_for(url).dispose()
    with psycopg.connect(pg, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')  # type: ignore[arg-type,unused-ignore]


# --- the server, in its own process --------------------------------------------------------------

def app(audit: bool = True) -> object:
    from sharing.api.app import create_app
    from sharing.api.policy import load_policy

    return create_app(os.environ["LIENTHONG_DATABASE_URL"], load_policy(Path(os.environ["BENCH_POLICY"])),
                      Path(os.environ["LIENTHONG_DATA_DIR"]), audit=audit)


def app_audited() -> object:
    return app(True)


def app_unaudited() -> object:
    return app(False)


def start_server(url: str, root: Path, port: int, audit: bool, workers: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "LIENTHONG_DATABASE_URL": url, "LIENTHONG_DATA_DIR": str(root / "data"),
           "BENCH_POLICY": str(root / "policy.yaml")}
    factory = "bench.lookup:app_audited" if audit else "bench.lookup:app_unaudited"
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", factory, "--factory", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning", "--no-access-log", "--backlog", "4096", "--workers", str(workers)], env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1).status_code == 200:
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

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    def line(self) -> str:
        return (f"{self.label:<34} {self.rps:>8.0f} req/s  p50 {self.pct(0.5):>7.1f} ms  p99 {self.pct(0.99):>7.1f} ms"
                f"  errors {self.errors}")


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


async def closed_loop(port: int, codes: list[str], clients: int, seconds: float, label: str) -> Result:
    """`clients` clients, each on its own connection, each sending its next lookup when the last returns."""
    latencies: list[float] = []
    errors = 0
    connections = [await Connection.open(port) for _ in range(clients)]
    end = time.perf_counter() + seconds

    async def one_client(seed: int) -> None:
        nonlocal errors
        rnd = random.Random(seed)
        conn = connections[seed]
        while time.perf_counter() < end:
            start = time.perf_counter()
            try:
                ok = await conn.get(f"/v1/enterprises/{rnd.choice(codes)}") == 200
            except (OSError, asyncio.IncompleteReadError):
                ok = False
                conn = connections[seed] = await Connection.open(port)
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


async def open_loop(port: int, codes: list[str], rate: float, seconds: float, label: str) -> Result:
    """Requests at a fixed rate over up to 500 connections; latency from each one's scheduled time."""
    latencies: list[float] = []
    errors = 0
    rnd = random.Random(7)
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(min(500, int(rate))):
        idle.put_nowait(await Connection.open(port))
    t0 = time.perf_counter()

    async def one(scheduled: float, code: str) -> None:
        nonlocal errors
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        conn = await idle.get()
        try:
            ok = await conn.get(f"/v1/enterprises/{code}") == 200
        except (OSError, asyncio.IncompleteReadError):
            ok, conn = False, await Connection.open(port)
        idle.put_nowait(conn)
        if ok:
            latencies.append(time.perf_counter() - scheduled)  # from the scheduled time: queueing counts
        else:
            errors += 1

    n = int(rate * seconds)
    await asyncio.gather(*(one(t0 + i / rate, rnd.choice(codes)) for i in range(n)))
    elapsed = time.perf_counter() - t0
    while not idle.empty():
        idle.get_nowait().close()
    return Result(label, latencies, elapsed, errors)


def direct(url: str, codes: list[str], clients: int, seconds: float, label: str) -> Result:
    """The lookup's query through SQLAlchemy, from `clients` threads (at most 50: the database's connections)."""
    from sharing.api import queries

    threads = min(clients, 50)
    engine = sa.create_engine(url, pool_size=threads, max_overflow=0)
    with engine.connect() as conn:
        present = queries.Published.read(conn)
    latencies: list[float] = []
    lock = threading.Lock()
    end = time.perf_counter() + seconds

    def worker(seed: int) -> None:
        rnd = random.Random(seed)
        mine = []
        while time.perf_counter() < end:
            start = time.perf_counter()
            with engine.connect() as conn:
                queries.enterprise(conn, present, rnd.choice(codes), None, ["enterprises"])
            mine.append(time.perf_counter() - start)
        with lock:
            latencies.extend(mine)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(worker, range(threads)))
    elapsed = time.perf_counter() - t0
    engine.dispose()
    return Result(f"{label} ({threads} threads)", latencies, elapsed, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--levels", default="50,200,500")
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--full", action="store_true", help="200k rows, 20 s per level")
    args = parser.parse_args()
    if args.full:
        args.rows, args.seconds = 200_000, 20.0
    levels = [int(x) for x in args.levels.split(",")]
    from sharing.api.auth import hash_key
    from tests.conftest import free_port

    with tempfile.TemporaryDirectory(prefix="bench-lookup-") as tmp:
        root = Path(tmp)
        (root / "policy.yaml").write_text(POLICY.format(digest=hash_key(KEY)), encoding="utf-8")
        print(f"publishing {args.rows} enterprises ...", flush=True)
        url, codes = setup(args.pg, args.rows, root)
        results: dict[str, list[Result]] = {"audited": [], "unaudited": [], "direct": []}
        try:
            for audit in (True, False):
                port = free_port()
                server = start_server(url, root, port, audit, args.workers)
                name = "audited" if audit else "unaudited"
                try:
                    asyncio.run(closed_loop(port, codes, 20, 1.0, "warm-up"))
                    for clients in levels:
                        r = asyncio.run(closed_loop(port, codes, clients, args.seconds,
                                                    f"API {name}, {clients} clients"))
                        results[name].append(r)
                        print(r.line(), flush=True)
                    r = asyncio.run(open_loop(port, codes, args.rate, args.seconds,
                                              f"API {name}, {args.rate:g} req/s fixed"))
                    results[name].append(r)
                    print(r.line(), flush=True)
                finally:
                    server.terminate()
                    server.wait(timeout=30)
            for clients in levels:
                r = direct(url, codes, clients, args.seconds, f"SQLAlchemy direct, {clients} clients")
                results["direct"].append(r)
                print(r.line(), flush=True)
            from sharing.api.audit import verify

            checked, problems = verify(url)
            print(f"\naudit log after the run: {checked} entries, {'chain intact' if not problems else problems[:3]}")
        finally:
            drop(args.pg, url)

    print("\nsummary (API audited vs baselines, same run):")
    for i, clients in enumerate(levels):
        a, u, d = results["audited"][i], results["unaudited"][i], results["direct"][i]
        print(f"  {clients:>3} clients: audited {a.rps:.0f} req/s, audit off {u.rps:.0f} req/s "
              f"(audit costs {100 * (1 - a.rps / u.rps):.0f}%), direct SQLAlchemy {d.rps:.0f} q/s "
              f"(API/direct {a.rps / d.rps:.2f}x)")
    fa, fu = results["audited"][-1], results["unaudited"][-1]
    print(f"  fixed {args.rate:g} req/s: audited p99 {fa.pct(0.99):.1f} ms (target <= 25 ms), audit off p99 "
          f"{fu.pct(0.99):.1f} ms, achieved {fa.rps:.0f} req/s")
    print("  (shared 2-core machine; the load generator runs on the same cores as the server and PostgreSQL)")


if __name__ == "__main__":
    main()
