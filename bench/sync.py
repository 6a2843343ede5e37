"""Whole `lienthong sync` runs into PostgreSQL beside dlt's pipeline on the same simulator, with peak RSS.

    .venv/bin/python -m bench.sync                         # REST 500,000 records, SOAP 200,000
    .venv/bin/python -m bench.sync --rest 2000000 --no-soap --no-dlt   # the 500 MB peak-RSS check
    .venv/bin/python -m bench.sync --rest 20000 --soap 20000           # a quick look
    .venv/bin/python -m bench.sync --rounds 3 --no-soap                # ratios as medians of 3 rounds

The machine's speed drifts by a third over an hour here (start-up 2.4 s, then 3.6 s): each baseline runs
right after our run of the same round, and with --rounds the ratio is the median of the rounds'.

Each contender runs in its own process (its peak RSS and start-up are its own) against a simulator
served from this process, into a fresh PostgreSQL database. Start-up (imports, GX's context, dlt's
pipeline set-up) is printed apart from records/s, which counts the run alone.

- ours, first sync: extract, normalise, validate (GX, quarantine), merge with history into PostgreSQL,
  Parquet snapshot, cursor committed with the data; key-set reconciliation when due (the row says).
- ours, no change: the same sync again with nothing changed at the agency: once with reconciliation
  due (the shipped construction source reconciles on every sync), once with a daily schedule declared.
- dlt as shipped and dlt tuned: dlt's rest_api source reading the same feed to Parquet files (extract
  and write only: no validation, no merge, no reconciliation).
- plain read (a ceiling): the biggest stream fetched and parsed by plain httpx + json (REST) or httpx +
  lxml (SOAP), nothing checked or written (`bench.connectors_worker`). No sync reads faster than this
  from the same simulator on the same machine.
Each row of ours also prints `sim_cpu_s`, the simulator's own CPU time during the run: it shares this
machine's cores with the sync and PostgreSQL.
Targets (issue 15): REST >= 3x tuned dlt's records/s with peak RSS <= 500 MB; SOAP >= 30,000 records/s;
no-change incremental sync of 500,000 records < 5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from statistics import median
from typing import Any

PG = os.environ.get("LIENTHONG_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")


@contextmanager
def fresh_database() -> Iterator[str]:
    import psycopg

    name = f"lienthong_bench_{uuid.uuid4().hex[:10]}"
    admin = PG.replace("postgresql://", "postgresql://", 1) + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type,unused-ignore]  # a fixed prefix and a uuid
    try:
        yield f"{PG}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type,unused-ignore]


def _run(contender: str, agency: str, sim_url: str, db_url: str, out: Path, source: Path | None = None
         ) -> dict[str, Any]:
    args = [sys.executable, "-m", "bench.sync_worker", contender, agency, sim_url, db_url, str(out)]
    result = subprocess.run(args + ([str(source)] if source else []), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{contender} on {agency} failed:\n{result.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures


def _plain_read(agency: str, sim_url: str, out: Path) -> dict[str, Any]:
    """The ceiling: the agency's biggest stream read by plain httpx + a parser, nothing else done."""
    from bench.connectors import _worker

    return _worker("lxml" if agency == "land" else "httpx_json", agency, sim_url, out)


def _daily(agency: str, tmp: Path) -> Path:
    """The agency's source file with key-set reconciliation declared daily instead of on every sync."""
    from connectors.config import SOURCES_DIR

    text = (SOURCES_DIR / f"{agency}.yaml").read_text(encoding="utf-8")
    text = re.sub(r"every_minutes: *0\b", "every_minutes: 1440", text)
    path = tmp / f"{agency}-daily.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _row(label: str, r: dict[str, Any]) -> str:
    rate = r["records"] / r["seconds"] if r["seconds"] else 0.0
    note = "reconciled keys" if r.get("reconciled") else ""
    if r.get("arrow_peak_mb") is not None:
        note += f"  arrow_peak_mb={r['arrow_peak_mb']}"
    if r.get("timings"):
        note += "  " + " ".join(f"{k}={v}" for k, v in r["timings"].items())
    return (f"{label:<34}{r['records']:>10,}{r['seconds']:>9.2f}{rate:>11,.0f}{r['startup_seconds']:>9.2f}"
            f"{r['peak_rss_mb']:>9.0f}  {note}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rest", type=int, default=500_000, help="construction records (default 500,000)")
    parser.add_argument("--soap", type=int, default=200_000, help="land records (default 200,000)")
    parser.add_argument("--no-soap", action="store_true")
    parser.add_argument("--no-rest", action="store_true")
    parser.add_argument("--no-dlt", action="store_true")
    parser.add_argument("--rounds", type=int, default=1,
                        help="first syncs and baselines run this many times, alternating; ratios are medians")
    args = parser.parse_args(argv)

    from agencies.testing import running_simulator

    print(f"load average at start: {_load()}")
    print(f"{'run':<34}{'records':>10}{'seconds':>9}{'records/s':>11}{'start s':>9}{'RSS MB':>9}")
    verdicts: list[str] = []
    with tempfile.TemporaryDirectory(prefix="lienthong-bench-sync-") as tmp_name:
        tmp = Path(tmp_name)
        runs: list[tuple[Any, int, str, list[str]]] = []
        if not args.no_rest:
            runs.append(("construction", args.rest, "REST", [] if args.no_dlt else ["dlt", "dlt_tuned"]))
        if not args.no_soap:
            runs.append(("land", args.soap, "SOAP", []))
        for agency, records, kind, baselines in runs:
            with running_simulator(agency, records=records, seed=1, tmp_dir=tmp / agency) as sim:
                ours_rates: list[float] = []
                ratios: dict[str, list[float]] = {c: [] for c in baselines}
                plain_rates: list[float] = []
                for round_no in range(args.rounds):
                    mark = f" #{round_no + 1}" if args.rounds > 1 else ""
                    ours_dir = tmp / f"{agency}-ours-{round_no}"
                    with fresh_database() as db_url:
                        sim_cpu = time.process_time()  # the simulator serves from this process
                        first = _run("ours", agency, sim.base_url, db_url, ours_dir)
                        first["timings"]["sim_cpu_s"] = round(time.process_time() - sim_cpu, 2)
                        print(_row(f"{kind} ours, first sync{mark}", first))
                        if round_no == args.rounds - 1:  # the reruns once, on the last round's database
                            again = _run("ours", agency, sim.base_url, db_url, ours_dir)
                            print(_row(f"{kind} ours, no change", again))
                            daily = _run("ours", agency, sim.base_url, db_url, ours_dir, _daily(agency, tmp))
                            print(_row(f"{kind} ours, no change, daily reconcile", daily))
                    ours_rate = first["records"] / first["seconds"]
                    ours_rates.append(ours_rate)
                    for contender in baselines:  # right after ours: the machine's speed drifts over minutes
                        r = _run(contender, agency, sim.base_url, "-", tmp / f"{agency}-{contender}-{round_no}")
                        print(_row(f"{kind} {contender} (Parquet only){mark}", r))
                        ratios[contender].append(ours_rate / (r["records"] / r["seconds"]))
                    plain = _plain_read(agency, sim.base_url, tmp / f"{agency}-plain-{round_no}")
                    print(_row(f"{kind} plain read, {plain['records']:,} only{mark}", plain))
                    plain_rates.append(plain["records"] / plain["seconds"])
                for contender, each in ratios.items():
                    target = ""
                    if contender == "dlt_tuned":  # the target as a rate too, to set beside the ceiling below
                        need = median(3 * o / x for o, x in zip(ours_rates, each, strict=True))
                        target = f" (target >= 3x: {need:,.0f} records/s)"
                    spread = f" (rounds: {', '.join(f'{x:.2f}x' for x in each)})" if len(each) > 1 else ""
                    verdicts.append(f"{kind} whole sync {records:,}: ours / {contender} = {median(each):.2f}x"
                                    f"{target}{spread}")
                plain_rate = median(plain_rates)
                verdicts.append(f"{kind} ceiling: a plain read of the same simulator, nothing checked or written, "
                                f"{plain_rate:,.0f} records/s; ours is {median(ours_rates) / plain_rate:.0%} of it")
                if kind == "REST":
                    verdicts.append(f"{kind} whole sync peak RSS {first['peak_rss_mb']:.0f} MB at {records:,} "
                                    "(target <= 500 MB)")
                else:
                    verdicts.append(f"{kind} whole sync {records:,}: {median(ours_rates):,.0f} records/s "
                                    "(target >= 30,000)")
                verdicts.append(f"{kind} no-change sync of {records:,}: {again['seconds']:.2f} s reconciling, "
                                f"{daily['seconds']:.2f} s when reconciliation is not due (target < 5 s)")
    print(f"load average at end: {_load()}")
    print()
    for line in verdicts:
        print(line)


if __name__ == "__main__":
    main()
