"""How fast the SOAP simulators serve their change feeds, beside the raw cost of serialising the same pages.

    .venv/bin/python -m bench.simulators_soap            # 200,000-record worlds (under a minute)
    .venv/bin/python -m bench.simulators_soap --full     # 2,000,000-record worlds

For land (parcels) and business (enterprises): generate the world, start `lienthong agencies serve` in its
own process, and page through the whole feed with a plain HTTP client (pages of 1,000; the client only
finds the next token, so it costs little). Baselines, measured in this process on the same pages:
the serialiser alone (`agencies.soap.render.render_response`) and the store read alone
(`store.changes` + `faults.apply`). Target (issue 3): 50,000 records/s served.

Served is given in wall-clock records/s (what a client sees) and per CPU-second of the server process
(what the server needs, unaffected by other load on a shared machine); the baselines in records per
CPU-second. served/serialise compares the per-CPU-second figures: 0.5 means serving a page costs the
server twice what serialising it costs (the rest is the store read, HTTP and request parsing).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil

from agencies.base import AGENCY_NAMES as AGENCIES
from agencies.base import FeedPosition
from agencies.simulator import AgencySimulator, open_simulator
from agencies.soap.render import render_response
from agencies.soap.services import SERVICES

PAGE = 1000
SEED = 1
TARGET = 50_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TOKEN = re.compile(rb"<nextPageToken>([^<]*)</nextPageToken>")
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
XROAD = {"client": "VN/GOV/000.00.00.H01/lienthong", "service": "VN/GOV/000.00.00.H02/dkkd/GetEnterpriseChanges",
         "userId": "bench", "id": "bench-1", "protocolVersion": "4.0"}
CASES = {"land": ("GetParcelChanges", "parcels"), "business": ("GetEnterpriseChanges", "enterprises")}
assert set(CASES) <= set(AGENCIES)


def envelope(agency: str, operation: str, token: str | None) -> bytes:
    if agency == "land":
        header = (f'<wsse:Security xmlns:wsse="{WSSE}"><wsse:UsernameToken><wsse:Username>lienthong'
                  "</wsse:Username><wsse:Password>land-dev-secret</wsse:Password></wsse:UsernameToken>"
                  "</wsse:Security>")
    else:
        header = "".join(f'<x:{k} xmlns:x="http://x-road.eu/xsd/xroad.xsd">{v}</x:{k}>' for k, v in XROAD.items())
    token_el = f"<pageToken>{token}</pageToken>" if token else ""
    return (
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
        f"<s:Header>{header}</s:Header><s:Body><{operation} xmlns=\"{SERVICES[agency].namespace}\">"  # type: ignore[index]
        f"<since>1970-01-01T00:00:00Z</since>{token_el}<pageSize>{PAGE}</pageSize></{operation}></s:Body></s:Envelope>"
    ).encode()


@dataclass
class Figures:
    agency: str
    records: int
    served_s: float  # wall-clock seconds of the whole paging
    served_cpu_s: float  # CPU seconds the server process spent on it
    serialise_s: float  # CPU seconds of the serialiser alone, in this process
    store_s: float  # CPU seconds of store.changes + faults.apply, in this process
    bytes_served: int


def _in_process(sim: AgencySimulator, agency: str, operation: str, dataset: str) -> tuple[int, float, float]:
    """Page through the feed in this process: (records, store seconds, serialise seconds).

    The store's time is `store.changes` + `faults.apply`, as the front end calls them; the serialiser's
    is `render_response` on the same pages; both in CPU seconds. One page at a time, so memory stays
    bounded.
    """
    service = SERVICES[agency]  # type: ignore[index]
    fields, item = service.fields[dataset], service.operations[operation].item
    total, store_s, serialise_s = 0, 0.0, 0.0
    after: FeedPosition | None = None
    while True:  # CPU time, so that other work on a shared machine does not count
        started = time.process_time()
        raw = sim.store.changes(dataset, EPOCH, after, PAGE)
        page = sim.faults.apply(dataset, raw)
        read = time.process_time()
        if not raw:
            return total, store_s + read - started, serialise_s
        render_response(operation, service.namespace, item, fields, page, "t" * 150)
        store_s += read - started
        serialise_s += time.process_time() - read
        total += len(raw)
        last = raw[-1]
        after = FeedPosition(last["updatedAt"], sim.store.key_of(dataset, last))


def _wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the simulator exited with {proc.returncode}")
        try:
            if httpx.get(url + "?wsdl", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the simulator at {url} did not come up")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def measure(agency: str, records: int, data_dir: Path) -> Figures:
    operation, dataset = CASES[agency]
    sim = open_simulator(agency, records=records, seed=SEED, data_dir=data_dir)
    service = SERVICES[agency]  # type: ignore[index]
    item = service.operations[operation].item
    total, store_s, serialise_s = _in_process(sim, agency, operation, dataset)
    sim.store.close()

    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "lienthong.cli", "agencies", "serve", agency, "--port", str(port),
         "--records", str(records), "--seed", str(SEED), "--data-dir", str(data_dir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}{service.path}"
    try:
        _wait_ready(url, proc)
        server = psutil.Process(proc.pid)
        cpu_before = sum(server.cpu_times()[:2])
        served, size, token = 0, 0, None
        with httpx.Client(headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": operation},
                          timeout=60) as client:
            started = time.perf_counter()
            while True:
                response = client.post(url, content=envelope(agency, operation, token))
                response.raise_for_status()
                body = response.content
                size += len(body)
                served += body.count(f"<{item}>".encode())
                found = _TOKEN.search(body)
                if found is None:
                    break
                token = found.group(1).decode()
            served_s = time.perf_counter() - started
        served_cpu_s = sum(server.cpu_times()[:2]) - cpu_before
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    if served != total:
        raise RuntimeError(f"{agency}: served {served} records, the store has {total}")
    return Figures(agency, total, served_s, served_cpu_s, serialise_s, store_s, size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="2,000,000-record worlds instead of 200,000")
    parser.add_argument("--records", type=int, default=None, help="world size (overrides --full)")
    args = parser.parse_args()
    records = args.records or (2_000_000 if args.full else 200_000)

    # the figures are CPU-bound: a busy machine halves them, so say how busy it was
    print(f"SOAP simulators, pages of {PAGE}, world of {records:,} records, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"{'feed':<22}{'records':>10}{'served rec/s':>14}{'served rec/CPU-s':>18}{'serialise rec/CPU-s':>21}"
          f"{'store rec/CPU-s':>17}{'served/serialise':>18}{'MB/s':>7}")
    with tempfile.TemporaryDirectory(prefix="bench-soap-") as tmp:
        for agency in CASES:
            f = measure(agency, records, Path(tmp))
            served, served_cpu = f.records / f.served_s, f.records / f.served_cpu_s
            serialise, store = f.records / f.serialise_s, f.records / f.store_s
            name = f"{agency}/{CASES[agency][1]}"
            print(f"{name:<22}{f.records:>10,}{served:>14,.0f}{served_cpu:>18,.0f}{serialise:>21,.0f}{store:>17,.0f}"
                  f"{served_cpu / serialise:>18.2f}{f.bytes_served / f.served_s / 1e6:>7.1f}"
                  f"   {'meets' if served >= TARGET else 'BELOW'} the {TARGET:,}/s target (wall clock)")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
