"""Connector throughput and memory, per agency, beside the baselines, measured in the same run.

    .venv/bin/python -m bench.connectors                  # 500,000 records per simulator
    .venv/bin/python -m bench.connectors --records 20000  # a quick look
    .venv/bin/python -m bench.connectors --full           # 2,000,000 records: the 500 MB peak-RSS target
    .venv/bin/python -m bench.connectors --agency land --no-dlt
    .venv/bin/python -m bench.connectors --agency land --records 50000 --contender ours_rows --contender lxml

Each contender reads the biggest stream of a simulator started here (full sync from the epoch, pages of
1,000) in its own process, so its peak RSS is its own; the simulator serves from this process.

- REST (construction, tax): ours (to Parquet) beside plain httpx+json (nothing written) and dlt's
  rest_api source (to Parquet), as shipped and tuned (Parquet loader, buffer and file sizes, workers,
  PROVIDERS__ENABLE_AIRFLOW_SECRETS=false). Where ours also lists every live key (reconciliation), its
  row says so: the baselines do not. Start-up (imports, dlt's set-up) is printed apart from records/s.
- SOAP (land, business): ours (bulk path, to Parquet), ours_rows (the bulk path a record at a time, as
  before pages were decoded a column at a time), ours with zeep objects, zeep alone, httpx+lxml.
  And the parse alone, on the same reply bytes: bulk vs zeep (target >= 3x) and vs plain lxml (>= 50%).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

CONTENDERS = {
    "construction": ["ours", "httpx_json", "dlt", "dlt_tuned"],
    "tax": ["ours", "httpx_json", "dlt", "dlt_tuned"],
    "land": ["ours", "ours_rows", "ours_zeep", "zeep", "lxml"],
    "business": ["ours", "ours_rows", "ours_zeep", "zeep", "lxml"],
}


def _worker(contender: str, agency: str, url: str, out: Path) -> dict[str, Any]:
    result = subprocess.run([sys.executable, "-m", "bench.connectors_worker", contender, agency, url, str(out)],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{contender} on {agency} failed:\n{result.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=500_000, help="records per simulator (default 500,000)")
    parser.add_argument("--full", action="store_true", help="2,000,000 records per simulator")
    parser.add_argument("--agency", action="append", choices=list(CONTENDERS), help="repeatable; default all")
    parser.add_argument("--no-dlt", action="store_true", help="skip the dlt baseline")
    parser.add_argument("--only-ours", action="store_true", help="only our connector (e.g. for --full memory)")
    parser.add_argument("--contender", action="append", help="repeatable: only these (ours always runs)")
    args = parser.parse_args(argv)
    records = 2_000_000 if args.full else args.records

    from agencies.testing import running_simulator

    summary: list[str] = []
    print(f"records per simulator: {records:,}")
    print(f"load average: {Path('/proc/loadavg').read_text().split(' ', 3)[:3]}")
    print(f"{'agency':<13}{'contender':<12}{'records':>10}{'seconds':>9}{'records/s':>11}{'us/rec':>8}"
          f"{'cpu us/rec':>11}{'start s':>9}{'peak RSS MB':>13}{'ours / it':>11}")
    with tempfile.TemporaryDirectory(prefix="lienthong-bench-") as tmp:
        for agency in args.agency or list(CONTENDERS):
            contenders = [c for c in CONTENDERS[agency] if not (args.no_dlt and c.startswith("dlt"))]
            if args.only_ours:
                contenders = ["ours"]
            elif args.contender:
                contenders = ["ours", *(c for c in contenders if c in args.contender and c != "ours")]
            with running_simulator(agency, records=records, seed=1, tmp_dir=Path(tmp) / agency) as sim:
                rows: dict[str, dict[str, Any]] = {}
                for contender in contenders:
                    rows[contender] = _worker(contender, agency, sim.base_url, Path(tmp) / f"{agency}-{contender}")
                ours_rate = rows["ours"]["records"] / rows["ours"]["seconds"]
                for contender, r in rows.items():
                    rate = r["records"] / r["seconds"]
                    note = "  (+ listed every live key: reconciliation)" if r.get("reconciled") else ""
                    print(f"{agency:<13}{contender:<12}{r['records']:>10,}{r['seconds']:>9.2f}{rate:>11,.0f}"
                          f"{1e6 / rate:>8.1f}{1e6 * r['cpu_seconds'] / r['records']:>11.1f}"
                          f"{r['startup_seconds']:>9.2f}{r['peak_rss_mb']:>13.0f}"
                          f"{ours_rate / rate:>10.2f}x{note}")
                for dlt in ("dlt", "dlt_tuned"):
                    if dlt in rows:
                        ratio = ours_rate / (rows[dlt]["records"] / rows[dlt]["seconds"])
                        summary.append(f"{agency}: REST read, ours / {dlt} = {ratio:.2f}x (records/s, start-up apart)")
                summary.append(f"{agency}: our peak RSS {rows['ours']['peak_rss_mb']:.0f} MB for "
                               f"{rows['ours']['records']:,} records (target < 500 MB at 2,000,000)")
                if agency in ("land", "business") and not args.only_ours:
                    p = _worker("parse", agency, sim.base_url, Path(tmp) / f"{agency}-parse")
                    print(f"{agency:<13}parse only (CPU time), same {p['bytes'] / 1e6:.1f} MB of replies: "
                          f"zeep {p['zeep']:,.0f}/s, bulk {p['bulk']:,.0f}/s (with _raw), bulk a record at a "
                          f"time {p['rows']:,.0f}/s (with _raw), plain lxml {p['lxml']:,.0f}/s (untyped, no _raw)")
                    summary.append(f"{agency}: bulk parse / zeep = {p['bulk'] / p['zeep']:.2f}x (target >= 3x); "
                                   f"bulk / plain lxml = {p['bulk'] / p['lxml']:.0%} (target >= 50%); "
                                   f"columns / a record at a time = {p['bulk'] / p['rows']:.2f}x")
                if "ours_rows" in rows:
                    rows_rate = rows["ours_rows"]["records"] / rows["ours_rows"]["seconds"]
                    cpu = {c: 1e6 * rows[c]["cpu_seconds"] / rows[c]["records"] for c in ("ours", "ours_rows")}
                    summary.append(f"{agency}: ours {1e6 / ours_rate:.1f} us/record ({cpu['ours']:.1f} its own CPU), "
                                   f"a record at a time {1e6 / rows_rate:.1f} ({cpu['ours_rows']:.1f} CPU): "
                                   f"{ours_rate / rows_rate:.2f}x by the clock, {cpu['ours_rows'] / cpu['ours']:.2f}x "
                                   "by CPU; target 33 us (30k/s)")
    print()
    for line in summary:
        print(line)


if __name__ == "__main__":
    main()
