"""`make demo`: the main job end to end through Airflow, on the embedded default (SQLite + Parquet under ./var/demo).

It starts the agency simulators on loopback (2% invalid values switched on, so quarantine has work): the
four provincial systems, and the State Treasury and a district permit register, which come in by the
declaration files of `agencies/registry` alone (`LIENTHONG_REGISTRY`);
sets Airflow up on SQLite under the demo folder, runs every sync DAG and the views DAG once through
Airflow (`lienthong.airflow.run`: real DagRuns, task instances, XComs and asset events in Airflow's
metadata DB), advances the simulators' clocks, runs them again (incremental), then prints a table per
dataset and four cross-agency lookups, the last "has this parcel's land-use tax been paid?" from the
obligations views (tax notices against the treasury's receipts). Each run starts clean. `--no-airflow`
runs the same syncs with `pipeline.sync` directly (what `lienthong sync` does), to see Airflow's overhead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from agencies.base import AgencyName

# A fixed width when piped (make, CI logs), so tables keep their columns.
console = Console(width=None if os.isatty(1) else 130)
AGENCIES: tuple[AgencyName, ...] = ("land", "business", "construction", "tax", "treasury", "district")
# the declarations of the two systems beyond the provincial four: files, no Python
REGISTRY = Path(__file__).resolve().parents[2] / "agencies" / "registry"


def run_through_airflow(env: dict[str, str], dag_ids: list[str], log_path: Path, label: str,
                        prepare: bool) -> list[dict[str, Any]]:
    """Run DAGs in an Airflow-configured subprocess; show its progress lines, keep Airflow's log in a file."""
    from lienthong.airflow.run import PREFIX, RESULT
    from lienthong.airflow.tasks import QUALITY_GATE

    args = [sys.executable, "-m", "lienthong.airflow.run", "--prepare" if prepare else "--no-prepare", *dag_ids]
    results: list[dict[str, Any]] = []
    with log_path.open("a", encoding="utf-8") as log, console.status(f"{label}: starting Airflow") as status, \
            subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,  # noqa: S603 - our own module
                             text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            if line.startswith(RESULT):
                results = json.loads(line[len(RESULT):])
            elif line.startswith(PREFIX):
                text = line[len(PREFIX):].rstrip()
                if QUALITY_GATE in text:
                    text = text.replace("  FAIL ", "  HELD ")
                if text.startswith("    "):  # a task's progress: the spinner shows it
                    status.update(f"{label}: {text.strip()}")
                else:
                    console.print("  " + text.replace("  ok  ", "  [green]✓[/] ").replace("  FAIL ", "  [red]✗[/] ")
                                  .replace("  HELD ", "  [yellow]⏸[/] "),
                                  highlight=False)
                    status.update(f"{label}: {text.strip()}")
    if not results:
        raise click.ClickException(f"{label}: Airflow run failed (exit {proc.returncode}); see {log_path}")
    return results


def _sync_directly(url: str, data_dir: Path, env: dict[str, str], label: str) -> None:
    from pipeline.sync import sync_source
    from sharing.views import build_views

    with console.status(f"{label}: starting") as status:
        for agency in AGENCIES:
            def progress(stream: str, fetched: int, bad: int, agency: str = agency) -> None:
                status.update(f"{label}: {agency}/{stream}: {fetched:,} fetched, {bad:,} quarantined")

            for summary in sync_source(agency, url=url, data_dir=data_dir, environ=env, on_batch=progress):
                console.print(("  [red]✗[/] " if summary.error else "  [green]✓[/] ") + summary.line())
        views = build_views(url, data_dir)
    console.print("  views: " + (", ".join(f"{name} v{r.version}" for name, r in views.published.items())
                                or "unchanged"))


def _datasets_table(url: str) -> Table:
    import sqlalchemy as sa

    from quality.store import quarantine
    from sharing.catalog import list_datasets
    from sharing.db import engine_for

    with engine_for(url).connect() as conn:
        waiting: dict[str, int] = dict(conn.execute(
            sa.select(quarantine.c.dataset, sa.func.count()).where(quarantine.c.status == "quarantined")
            .group_by(quarantine.c.dataset)
        ).all())
    table = Table(title="published datasets")
    for column in ("dataset", "owner", "rows", "quarantined", "version", "freshness", "quality"):
        table.add_column(column, justify="left" if column in ("dataset", "owner") else "right")
    for entry in list_datasets(url):
        age = entry.freshness_seconds()
        table.add_row(
            entry.name, entry.owner_agency or "-", f"{entry.rows:,}", f"{waiting.get(entry.name, 0):,}",
            f"v{entry.version}", f"{age:.0f}s ago" if age is not None else "-",
            f"{entry.quality_score:.1%}" if entry.quality_score is not None else "-",
        )
    return table


def _lookups(url: str) -> None:
    """Four questions an agency asks, answered from the published views."""
    import sqlalchemy as sa

    from sharing.db import engine_for
    from sharing.obligations import parcel_obligation

    with engine_for(url).connect() as conn:
        enterprise = conn.execute(sa.text(
            "SELECT * FROM ds_enterprise_profile WHERE valid_to IS NULL AND NOT is_deleted "
            "AND parcels_held > 0 AND permits_granted > 0 ORDER BY parcels_held DESC, enterprise_code LIMIT 1"
        )).mappings().first()
        parcel = conn.execute(sa.text(
            "SELECT * FROM ds_parcel_profile WHERE valid_to IS NULL AND NOT is_deleted "
            "AND permits > 0 AND tax_notices > 0 ORDER BY commune_code_source, map_sheet, parcel_number LIMIT 1"
        )).mappings().first()
        taxpayer = conn.execute(sa.text(
            "SELECT e.enterprise_code, e.name, t.status_code FROM ds_enterprises e JOIN ds_taxpayers t "
            "ON t.tax_code = e.enterprise_code AND t.valid_to IS NULL AND NOT t.is_deleted "
            "WHERE e.valid_to IS NULL AND NOT e.is_deleted AND t.status_code <> '00' "
            "ORDER BY e.enterprise_code LIMIT 1"
        )).mappings().first()
        owing = conn.execute(sa.text(
            "SELECT commune_code_source, map_sheet, parcel_number FROM ds_parcel_obligations "
            "WHERE valid_to IS NULL AND NOT is_deleted AND notices > 1 AND notices_outstanding > 0 "
            "ORDER BY outstanding_vnd DESC, commune_code_source, map_sheet, parcel_number LIMIT 1"
        )).mappings().first() if sa.inspect(conn).has_table("ds_parcel_obligations") else None
        stats = conn.execute(sa.text(
            "SELECT relation, total, matched, unmatched FROM ds_view_match_stats "
            "WHERE valid_to IS NULL AND NOT is_deleted ORDER BY relation"
        )).mappings().all() if enterprise is not None else []

    console.rule("four cross-agency lookups")
    if enterprise:
        console.print(
            f"1. Which parcels does enterprise [bold]{enterprise['enterprise_code']}[/] ({enterprise['name']}) hold, "
            f"and is its tax code active?\n   {enterprise['parcels_held']} parcel(s), "
            f"{enterprise['parcel_area_m2']} m² in all; {enterprise['permits_granted']} permit(s); "
            f"tax status {enterprise['tax_status_code'] or 'no tax record'}; registration {enterprise['status']}"
        )
    if parcel:
        console.print(
            f"2. What was granted on parcel {parcel['commune_code_source']}/{parcel['map_sheet']}/"
            f"{parcel['parcel_number']} ({parcel['land_use_code']}, {parcel['area_m2']} m²)?\n   "
            f"{parcel['certificates']} certificate(s), {parcel['permits']} permit(s), {parcel['tax_notices']} "
            f"land-use tax notice(s) totalling {parcel['tax_amount_vnd']:,} VND, {parcel['unpaid_notices']} unpaid"
        )
    if taxpayer:
        console.print(
            f"3. Is enterprise {taxpayer['enterprise_code']} ({taxpayer['name']}) in good standing with the tax "
            f"department?\n   no: tax status code {taxpayer['status_code']}"
        )
    answer = parcel_obligation(url, owing["commune_code_source"], owing["map_sheet"], owing["parcel_number"]) \
        if owing else None
    if answer:
        late = f", {answer['notices_paid_late']} paid late" if answer["notices_paid_late"] else ""
        console.print(
            f"4. Has the land-use tax of parcel {answer['commune_code_source']}/{answer['map_sheet']}/"
            f"{answer['parcel_number']} been paid?\n   {'yes' if answer['fully_paid'] else 'no'}: "
            f"{answer['notices']} notice(s), {answer['due_vnd']:,} VND due, {answer['paid_vnd']:,} VND received by "
            f"the State Treasury, {answer['outstanding_vnd']:,} VND outstanding{late}")
        for n in answer["tax_notices"]:
            console.print(f"     {n['notice_no']} ({n['tax_year']}, due {n['due_date']}): {n['due_vnd']:,} due, "
                          f"{n['paid_vnd']:,} paid" + (" late" if n["paid_late"] else ""), highlight=False)
    if stats:
        console.print("   match statistics: " + "; ".join(
            f"{s['relation']} {s['matched']}/{s['total']}" for s in stats))


@click.command()
@click.option("--records", type=click.IntRange(100, 2_000_000), default=2000, show_default=True,
              help="Records per agency simulator.")
@click.option("--minutes", type=click.IntRange(1, 10_000), default=90, show_default=True,
              help="How far to advance the simulators' clocks between the two rounds.")
@click.option("--dir", "work_dir", type=click.Path(path_type=Path), default=Path("var/demo"), show_default=True,
              help="Where the demo keeps its databases, snapshots, Airflow home and simulator files (wiped first).")
@click.option("--airflow/--no-airflow", "through_airflow", default=True, show_default=True,
              help="Run the syncs through Airflow DAGs, or call pipeline.sync directly (to compare).")
def main(records: int, minutes: int, work_dir: Path, through_airflow: bool) -> None:
    """Run the whole path on the embedded default and print what it did."""
    from agencies.testing import running_simulator
    from lienthong.airflow.registry import sources
    from lienthong.airflow.setup import airflow_environ
    from lienthong.airflow.tasks import QUALITY_GATE

    started = time.perf_counter()
    # the treasury and the district register: brought in by their files (before anything reads the registry)
    os.environ["LIENTHONG_REGISTRY"] = os.pathsep.join(
        p for p in (str(REGISTRY), os.environ.get("LIENTHONG_REGISTRY", "")) if p)
    work_dir = work_dir.resolve()
    shutil.rmtree(work_dir, ignore_errors=True)
    work_dir.mkdir(parents=True)
    url = f"sqlite:///{work_dir / 'lienthong.db'}"
    data_dir = work_dir / "data"
    airflow_home = work_dir / "airflow"
    console.rule("lienthong demo" + (" through Airflow" if through_airflow else " (no Airflow)"))
    console.print(f"database  {url}\nsnapshots {data_dir}" + (f"\nairflow   {airflow_home}" if through_airflow else "")
                  + "\n")
    dag_ids = [s.dag_id for s in sources()] + ["lienthong_views"]
    failed: list[str] = []

    with ExitStack() as stack:
        env = dict(os.environ)
        endpoints: dict[str, str] = {}
        with console.status("starting the agency simulators"):
            for agency in AGENCIES:
                sim = stack.enter_context(running_simulator(
                    agency, records=records, seed=1, faults={"invalid_values": 0.02}, tmp_dir=work_dir / "agencies"
                ))
                endpoints[agency] = env[f"LIENTHONG_AGENCY_{agency.upper()}_URL"] = sim.url
                console.print(f"  {agency:<13} {sim.sim.protocol.upper():<5} {sim.url}  ({records:,} records)")
        airflow_home.mkdir()
        af_env = airflow_environ(airflow_home, database_url=url, data_dir=data_dir, endpoints=endpoints, base=env)
        log_path = airflow_home / "demo-runs.log"

        def round_(label: str, first: bool) -> None:
            if through_airflow:
                for result in run_through_airflow(af_env, dag_ids, log_path, label, prepare=first):
                    # A batch over its contract's failure threshold is guarantee 2 at work, not a demo failure.
                    gated = result["errors"] and all(QUALITY_GATE in str(e) for e in result["errors"].values())
                    if result["state"] != "success" and not gated:
                        failed.append(f"{label}: {result['dag_id']}")
                    elif gated:
                        console.print(f"    [yellow]{result['dag_id']}: a batch passed its contract's failure "
                                      "threshold: nothing of it published, its statistics kept (guarantee 2)[/]")
            else:
                _sync_directly(url, data_dir, env, label)

        console.rule("round 1: every sync DAG, then the views DAG" if through_airflow
                     else "round 1: full sync of every source")
        round_("round 1", True)

        console.rule(f"round 2: the agencies work for {minutes} minutes, then an incremental sync")
        import httpx

        for agency in AGENCIES:
            base = endpoints[agency].split("/ws/")[0]
            httpx.post(f"{base}/_admin/advance", params={"minutes": minutes}, timeout=60).raise_for_status()
        round_("round 2", False)

    console.print(_datasets_table(url))
    _lookups(url)
    console.print(f"\n[bold]done[/] in {time.perf_counter() - started:.1f}s. Explore: "
                  f"LIENTHONG_DATABASE_URL={url} LIENTHONG_DATA_DIR={data_dir} .venv/bin/lienthong datasets list")
    if through_airflow:
        console.print(f"Airflow's runs: AIRFLOW_HOME={airflow_home} .venv/bin/airflow dags list-runs "
                      f"lienthong_sync_tax (its log: {log_path})")
    if failed:
        raise click.ClickException("failed DAG runs: " + ", ".join(failed))


if __name__ == "__main__":
    main()
