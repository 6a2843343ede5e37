"""Airflow's overhead: the demo's syncs through Airflow beside the same syncs with `lienthong sync`.

    .venv/bin/python -m bench.airflow_overhead [--records N]

Both paths get the same four simulators (a fresh copy each, 2% invalid values), run a full round,
advance the clocks 90 minutes and run an incremental round, then build the views. Airflow's path is
what `make demo` runs: `lienthong.airflow.run` (a fresh SQLite metadata DB migrated first, then every
sync DAG and the views DAG through `dag.test`). The baseline runs `lienthong sync SOURCE` per source
(one process each, as an operator would) and builds the views. Printed: wall seconds of each, the
ratio, and Airflow's one-off metadata migration apart.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path

import click
import httpx

from agencies.base import AgencyName

AGENCIES: tuple[AgencyName, ...] = ("land", "business", "construction", "tax")
BIN = Path(sys.executable).parent


def _advance(endpoints: Mapping[str, str], minutes: int) -> None:
    for url in endpoints.values():
        base = url.split("/ws/")[0]
        httpx.post(f"{base}/_admin/advance", params={"minutes": minutes}, timeout=60).raise_for_status()


def _run(args: list[str], env: dict[str, str], log: Path) -> None:
    with log.open("a", encoding="utf-8") as out:
        subprocess.run(args, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)


def _one_path(through_airflow: bool, records: int, work: Path) -> tuple[float, float]:
    """Wall seconds of the two rounds, and of Airflow's metadata migration (0 for the baseline)."""
    from agencies.testing import running_simulator
    from lienthong.airflow.registry import sources
    from lienthong.airflow.setup import airflow_environ

    url = f"sqlite:///{work / 'lienthong.db'}"
    data_dir = work / "data"
    log = work / "run.log"
    with ExitStack() as stack:
        endpoints: dict[str, str] = {a: stack.enter_context(running_simulator(
            a, records=records, seed=1, faults={"invalid_values": 0.02}, tmp_dir=work / "sims" / a)).url
            for a in AGENCIES}
        env = airflow_environ(work / "airflow", database_url=url, data_dir=data_dir, endpoints=endpoints)
        env.update({f"LIENTHONG_AGENCY_{a.upper()}_URL": u for a, u in endpoints.items()})
        migrate = 0.0
        if through_airflow:
            started = time.perf_counter()
            _run([sys.executable, "-c", "from lienthong.airflow.setup import prepare; prepare()"], env, log)
            migrate = time.perf_counter() - started
        dags = [s.dag_id for s in sources()] + ["lienthong_views"]
        started = time.perf_counter()
        for round_no in range(2):
            if round_no:
                _advance(endpoints, 90)
            if through_airflow:
                _run([sys.executable, "-m", "lienthong.airflow.run", "--no-prepare", *dags], env, log)
            else:
                for source in sources():
                    _run([str(BIN / "lienthong"), "sync", source.name], env, log)
                _run([sys.executable, "-c", "from core.settings import load_settings as s; "
                      "from sharing.views import build_views; build_views(s().database_url, s().data_dir)"], env, log)
        return time.perf_counter() - started, migrate


@click.command()
@click.option("--records", type=int, default=2000, show_default=True, help="Records per agency simulator.")
def main(records: int) -> None:
    with tempfile.TemporaryDirectory(prefix="lienthong-bench-") as tmp:
        cli_s, _ = _one_path(False, records, Path(tmp) / "cli")
        airflow_s, migrate_s = _one_path(True, records, Path(tmp) / "airflow")
    print(f"records per agency: {records:,}; two rounds (full, then incremental after 90 min) + views; cores: "
          f"{os.cpu_count()}")
    print(f"baseline `lienthong sync` per source   {cli_s:7.1f} s")
    print(f"through Airflow (dag.test per DAG)     {airflow_s:7.1f} s   (+ {migrate_s:.1f} s one-off metadata "
          f"DB migration)")
    print(f"ratio Airflow / baseline               {airflow_s / cli_s:7.2f}x "
          f"({(airflow_s + migrate_s) / cli_s:.2f}x with the migration)")


if __name__ == "__main__":
    main()
