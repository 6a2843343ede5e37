"""How fast the agency simulators serve their change feeds, beside the raw cost of serialising the pages.

    .venv/bin/python -m bench.simulators                    # 100,000 records per agency, all four
    .venv/bin/python -m bench.simulators --records 20000 --agencies construction,tax
    .venv/bin/python -m bench.simulators --full             # also: generate 2,000,000 records, time + peak RSS

Each simulator runs in its own process (uvicorn, as `lienthong agencies serve` runs it); the client
(http.client) reads the whole feed in pages of 1,000 over keep-alive HTTP from this process, counting records in the
bytes without parsing them. The baseline is what the same pages cost to serialise alone, in this
process: json.dumps of the page's records (REST) or agencies.soap's renderer (SOAP). Targets:
>= 100,000 records/s REST, >= 50,000 records/s SOAP.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import importlib.util
import json
import multiprocessing
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PAGE = 1000
REPEATS = 3
SEED = 1
TARGETS = {"rest": 100_000, "soap": 50_000}
FEED = {"construction": "permits", "tax": "taxpayers", "land": "parcels", "business": "enterprises"}
_SOAP_OP = {"land": ("GetParcelChanges", "parcel"), "business": ("GetEnterpriseChanges", "enterprise")}
_TOKEN = re.compile(rb"<nextPageToken>([^<]*)</nextPageToken>")


def _serve(agency: str, records: int, data_dir: str, ports: Any) -> None:
    from agencies.admin import build_app
    from agencies.runner import bind, serve_foreground
    from agencies.simulator import open_simulator

    sim = open_simulator(agency, records=records, seed=SEED, data_dir=Path(data_dir))
    sock = bind()
    ports.put(sock.getsockname()[1])
    serve_foreground([(build_app(sim), sock)], log_level="warning")


def _soap_envelope(agency: str, operation: str, token: str | None) -> bytes:
    if agency == "land":
        header = ('<wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-'
                  'secext-1.0.xsd"><wsse:UsernameToken><wsse:Username>lienthong</wsse:Username><wsse:Password>'
                  'land-dev-secret</wsse:Password></wsse:UsernameToken></wsse:Security>')
    else:
        values = {"client": "VN/GOV/000.00.00.H01/lienthong",
                  "service": f"VN/GOV/000.00.00.H02/dkkd/{operation}", "userId": "bench", "id": "1",
                  "protocolVersion": "4.0"}
        header = "".join(f'<x:{k} xmlns:x="http://x-road.eu/xsd/xroad.xsd">{v}</x:{k}>' for k, v in values.items())
    params = "<since>1970-01-01T00:00:00Z</since>" + (f"<pageToken>{token}</pageToken>" if token else "")
    params += f"<pageSize>{PAGE}</pageSize>"
    return (f'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Header>{header}'
            f'</soap:Header><soap:Body><{operation} xmlns="urn:lienthong:{agency}:v1">{params}</{operation}>'
            "</soap:Body></soap:Envelope>").encode()


def read_feed(agency: str, port: int) -> tuple[int, int]:
    """Read the whole feed in pages of PAGE over one keep-alive connection; (records, bytes).

    The stdlib client (C-buffered reads) so that the client's own overhead hides little of the
    server's rate; the connectors' throughput is benchmarked on its own.
    """
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> bytes:
        conn.request(method, url, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"{agency}: {method} {url} -> {response.status}: {data[:200]!r}")
        return data

    count = size = 0
    try:
        if agency == "construction":
            key = {"X-API-Key": "construction-dev-key"}
            offset = 0
            while True:
                body = call("GET", f"/api/v1/permits?offset={offset}&limit={PAGE}", headers=key)
                n = body.count(b'"permit_no":')
                count, size, offset = count + n, size + len(body), offset + n
                if n < PAGE:
                    return count, size
        if agency == "tax":
            basic = base64.b64encode(b"lienthong:tax-dev-secret").decode()
            token = json.loads(call("POST", "/oauth/token", b"grant_type=client_credentials", {
                "Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"}))
            bearer = {"Authorization": f"Bearer {token['access_token']}"}
            url: str | None = f"/api/v1/taxpayers?limit={PAGE}"
            while url:
                body = call("GET", url, headers=bearer)
                count, size = count + body.count(b'"tax_code":'), size + len(body)
                tail = body[body.rfind(b'"next":') + 7:-1]
                url = None if tail == b"null" else json.loads(tail)
            return count, size
        operation, item = _SOAP_OP[agency]
        headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": operation}
        page_token: str | None = None
        while True:
            body = call("POST", f"/ws/{agency}", _soap_envelope(agency, operation, page_token), headers)
            count, size = count + body.count(f"<{item}>".encode()), size + len(body)
            found = _TOKEN.search(body)
            if found is None:
                return count, size
            page_token = found.group(1).decode()
    finally:
        conn.close()


def serialise_baseline(agency: str, records: int, data_dir: Path) -> tuple[float, int]:
    """Seconds to serialise every page of the feed alone (records already in memory), and how many."""
    from agencies.simulator import open_simulator
    from agencies.world import parse_iso

    sim = open_simulator(agency, records=records, seed=SEED, data_dir=data_dir)
    dataset = FEED[agency]
    all_records = sim.store.changes(dataset, parse_iso("1970-01-01T00:00:00Z"), None, 10**9)
    pages = [all_records[i:i + PAGE] for i in range(0, len(all_records), PAGE)]
    best = float("inf")
    for _ in range(REPEATS):
        started = time.perf_counter()
        if sim.protocol == "rest":
            for page in pages:
                json.dumps({"items": page}, ensure_ascii=False, separators=(",", ":")).encode()
        else:
            from agencies.soap import SERVICES, render_response

            service = SERVICES[agency]  # type: ignore[index]
            operation, item = _SOAP_OP[agency]
            for page in pages:
                render_response(operation, service.namespace, item, service.fields[dataset], page, "token")
        best = min(best, time.perf_counter() - started)
    return best, len(all_records)


def bench_agency(agency: str, records: int, data_dir: Path) -> dict[str, Any]:
    from agencies.simulator import open_simulator

    started = time.perf_counter()
    open_simulator(agency, records=records, seed=SEED, data_dir=data_dir).store.close()
    generated = time.perf_counter() - started
    ctx = multiprocessing.get_context("spawn")
    ports = ctx.Queue()
    server = ctx.Process(target=_serve, args=(agency, records, str(data_dir), ports), daemon=True)
    server.start()
    try:
        port = ports.get(timeout=60)
        read_feed(agency, port)  # warm: page cache, offset positions
        served = float("inf")
        for _ in range(REPEATS):  # best of: the machine is shared, noise only ever slows a run
            started = time.perf_counter()
            count, size = read_feed(agency, port)
            served = min(served, time.perf_counter() - started)
    finally:
        server.terminate()
        server.join(10)
    raw_seconds, raw_count = serialise_baseline(agency, records, data_dir)
    assert raw_count == count, (agency, raw_count, count)
    return {"agency": agency, "protocol": "soap" if agency in _SOAP_OP else "rest", "records": count,
            "generate_s": generated, "serve_rps": count / served, "mb": size / 1e6,
            "raw_rps": count / raw_seconds}


def full_generation(agency: str, records: int) -> None:
    """Generate `records` for one agency in a child process: wall time and the child's peak RSS."""
    with tempfile.TemporaryDirectory(prefix="bench-sim-full-") as tmp:
        code = (
            "import resource, time; from pathlib import Path\n"
            "from agencies.simulator import open_simulator\n"
            "t = time.perf_counter()\n"
            f"sim = open_simulator({agency!r}, records={records}, seed={SEED}, data_dir=Path({tmp!r}))\n"
            "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "
            "sim.store.count(" + repr(FEED[agency]) + "), sim.store.path.stat().st_size)\n"
        )
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
        seconds, rss_kb, count, file_bytes = out.split()
        print(f"\ngeneration, {agency}, --records {records}: {float(seconds):.1f} s "
              f"({int(count) / float(seconds):,.0f} records/s of {FEED[agency]}), peak RSS "
              f"{int(rss_kb) / 1024:.0f} MB (limit 1024 MB), file {int(file_bytes) / 1e6:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--agencies", default="construction,tax,land,business")
    parser.add_argument("--full", action="store_true", help="also generate 2,000,000 records (time, peak RSS)")
    parser.add_argument("--full-agency", default="construction")
    args = parser.parse_args()
    chosen = [a.strip() for a in args.agencies.split(",") if a.strip()]
    if importlib.util.find_spec("agencies.soap") is None:
        dropped = [a for a in chosen if a in _SOAP_OP]
        chosen = [a for a in chosen if a not in _SOAP_OP]
        if dropped:
            print(f"(agencies.soap not importable: skipping {', '.join(dropped)})")
    print(f"change feeds read whole in pages of {PAGE}, seed {SEED}, --records {args.records}")
    print(f"{'agency':<13}{'proto':<6}{'records':>9}{'gen s':>7}{'served rec/s':>14}{'serialise-only rec/s':>22}"
          f"{'ratio':>7}{'target':>9}  ok")
    with tempfile.TemporaryDirectory(prefix="bench-sim-") as tmp:
        for agency in chosen:
            r = bench_agency(agency, args.records, Path(tmp))
            target = TARGETS[r["protocol"]]
            print(f"{agency:<13}{r['protocol']:<6}{r['records']:>9,}{r['generate_s']:>7.1f}{r['serve_rps']:>14,.0f}"
                  f"{r['raw_rps']:>22,.0f}{r['serve_rps'] / r['raw_rps']:>7.2f}{target:>9,}  "
                  f"{'yes' if r['serve_rps'] >= target else 'NO'}")
    if args.full:
        full_generation(args.full_agency, 2_000_000)


if __name__ == "__main__":
    main()
