"""Run DAGs once through Airflow (`dag.test`: Airflow's own run loop, tasks in this process).

    python -m lienthong.airflow.run [--prepare] DAG_ID [DAG_ID ...]

Run in an environment from `airflow_setup.airflow_environ`. Each DAG gets a real DagRun in Airflow's
metadata DB (task instances, XComs, logs, asset events), the same DagBag the scheduler would parse.
Lines meant for a person or a parent process start with `@@ ` (progress) and one `@@RESULT ` line
carries, as JSON, each DAG's state, its streams' summaries and its failed tasks' errors. Everything
else on stdout/stderr is Airflow's own logging.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import click

PREFIX = "@@ "
RESULT = "@@RESULT "


def say(text: str) -> None:
    print(PREFIX + text, flush=True)


class _Progress(logging.Handler):
    """Forwards the sync tasks' progress lines (logger `lienthong.airflow.progress`) as `@@` lines."""

    def emit(self, record: logging.LogRecord) -> None:
        say("    " + record.getMessage())


def run_dag(dag_id: str, retry_delay: float | None = None) -> dict[str, Any]:
    """Run one DAG once; its state, per-stream summaries (XCom) and the errors its failed tasks recorded."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    from lienthong.airflow.setup import DAGS_DIR

    bag = DagBag(dag_folder=str(DAGS_DIR), safe_mode=False)
    if dag_id not in bag.dags:
        errors = "; ".join(e.strip().splitlines()[-1] for e in bag.import_errors.values())
        raise click.ClickException(f"no DAG {dag_id} in {DAGS_DIR}{': ' + errors if errors else ''}")
    dag = bag.dags[dag_id]
    if retry_delay is not None:  # tests and demos: Airflow's retries, without waiting minutes for them
        for op in dag.tasks:
            op.retry_delay = timedelta(seconds=retry_delay)
            op.max_retry_delay = timedelta(seconds=retry_delay * 4)
    started = time.perf_counter()
    # a logical date gives the run its data interval (the summary records it)
    dr = dag.test(logical_date=datetime.now(UTC))
    with create_session() as session:
        tis: dict[str, str] = {ti.task_id: str(ti.state) for ti in dr.get_task_instances(session=session)}
        xcoms: list[Any] = list(session.scalars(XComModel.get_many(run_id=dr.run_id, dag_ids=dag_id)).all())
        values = [(x.task_id, x.key, XComModel.deserialize_value(x)) for x in xcoms]
    streams = [v for _task, key, v in values if key == "return_value" and isinstance(v, dict) and "stream" in v]
    failures = {task: v for task, key, v in values if key == "failure"}
    views = next((v for task, key, v in values if task == "build_views" and key == "return_value"), None)
    return {"dag_id": dag_id, "run_id": dr.run_id, "state": str(dr.state), "tasks": tis, "streams": streams,
            "errors": failures, "views": views, "seconds": round(time.perf_counter() - started, 1)}


@click.command()
@click.option("--prepare/--no-prepare", default=True, help="Migrate the metadata DB and create the pools first.")
@click.option("--retry-delay", type=float, default=None,
              help="Seconds between a failed task's retries (default: each DAG's own, 30 s and up).")
@click.argument("dag_ids", nargs=-1, required=True)
def main(prepare: bool, retry_delay: float | None, dag_ids: tuple[str, ...]) -> None:
    from lienthong.airflow.setup import prepare as prepare_airflow

    if prepare:
        started = time.perf_counter()
        pools = prepare_airflow()
        say(f"Airflow metadata DB ready, pools {', '.join(f'{p}={n}' for p, n in pools.items())} "
            f"({time.perf_counter() - started:.1f}s)")
    logging.getLogger("lienthong.airflow.progress").addHandler(_Progress())
    results = []
    for dag_id in dag_ids:
        say(f"{dag_id}: running")
        result = run_dag(dag_id, retry_delay)
        for stream in result["streams"]:
            say(("  ok  " if not stream.get("error") else "  FAIL ") + stream["line"])
        if result["views"] is not None:
            published = result["views"]["published"]
            say("  views: " + (", ".join(f"{n} v{v}" for n, v in published.items()) or "unchanged"))
        for task, error in result["errors"].items():
            say(f"  FAIL {task}: {error}")
        say(f"{dag_id}: {result['state']} in {result['seconds']}s")
        results.append(result)
    print(RESULT + json.dumps(results), flush=True)
    sys.exit(0 if all(r["state"] == "success" for r in results) else 1)


if __name__ == "__main__":
    main()
