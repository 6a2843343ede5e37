"""The DAGs, generated from the source registry; `dags/*.py` only call these.

- `lienthong_sync_<source>`: one task per stream (`sync_<stream>`, in the agency's pool, with retries
  and exponential backoff), each declaring its published dataset as an Asset outlet, then `report`,
  which logs the run's summary and fails the run when a stream failed.
- `lienthong_views`: scheduled on the Assets of the datasets the cross-agency views read; rebuilds
  the views whose inputs have new versions.

Building a DAG does no I/O besides reading the registry's package files (`airflow_registry`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Asset, dag, task
from airflow.sdk.definitions.asset import AssetAny

from core.schedule import SYNC_SCHEDULE
from lienthong.airflow.registry import SourceEntry, sources
from sharing.view_inputs import every_input

OWNER = "lienthong-data-eng"
START = datetime(2026, 1, 1)
SCHEDULE = SYNC_SCHEDULE
DEFAULT_ARGS: dict[str, Any] = {
    "owner": OWNER,
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=10),
}


def dataset_asset(dataset: str) -> Asset:
    """A published dataset as an Airflow Asset (its serving table is `ds_<dataset>`)."""
    return Asset(name=f"lienthong.{dataset}", uri=f"lienthong://datasets/{dataset}", group="lienthong")


def sync_dag(source: SourceEntry) -> DAG:
    streams = [s.name for s in source.streams]

    @dag(
        dag_id=source.dag_id,
        schedule=SCHEDULE,
        start_date=START,
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["lienthong", "sync", source.name, source.protocol],
        description=f"Sync {source.name}: {source.description}",
        doc_md=(
            f"Syncs **{source.name}** ({source.protocol.upper()}) stream by stream: extract, normalise, "
            f"validate (quarantine), publish; the cursor is committed with the data. Streams: "
            f"{', '.join(f'`{s.name}` -> `{s.dataset}`' for s in source.streams)}. Endpoint: Airflow "
            f"connection `{source.conn_id}` or `LIENTHONG_AGENCY_{source.name.upper()}_URL`. Pool: "
            f"`{source.pool}` ({source.concurrency} slots)."
        ),
    )
    def sync() -> None:
        results = []
        for stream in source.streams:
            @task(task_id=f"sync_{stream.name}", pool=source.pool, outlets=[dataset_asset(stream.dataset)],
                  multiple_outputs=False)
            def sync_one(stream_name: str = stream.name, **context: Any) -> dict[str, Any]:
                from airflow.sdk.exceptions import AirflowFailException

                from core.errors import Fatal
                from lienthong.airflow.tasks import StreamFailed, sync_stream_task

                interval = (_iso(context.get("data_interval_start")), _iso(context.get("data_interval_end")))
                run_id = f"{context['run_id']}:{source.name}/{stream_name}"
                try:
                    return sync_stream_task(source.name, stream_name, conn_id=source.conn_id, run_id=run_id,
                                            interval=interval)
                except StreamFailed as exc:
                    # kept with the run, so a report (or `airflow_run`) can say why without reading logs
                    context["ti"].xcom_push(key="failure", value=str(exc))
                    if isinstance(exc, Fatal):
                        raise AirflowFailException(str(exc)) from exc
                    raise

            results.append(sync_one())

        @task(task_id="report", trigger_rule="all_done", multiple_outputs=False)
        def report(results: list[dict[str, Any] | None]) -> str:
            from airflow.sdk.exceptions import AirflowFailException

            from lienthong.airflow.tasks import run_report

            text = run_report(list(results), streams)
            print(text)
            failed = [s for s in streams if s not in {r["stream"] for r in results if r}]
            if failed:
                raise AirflowFailException(f"{source.name}: streams not published: {', '.join(failed)}")
            return text

        report(results)  # type: ignore[arg-type]  # XComArgs, resolved to the streams' summaries at run time

    return sync()


def views_dag() -> DAG:
    # the views' inputs (sharing.view_inputs) that some registered source publishes
    published = {stream.dataset for entry in sources() for stream in entry.streams}

    @dag(
        dag_id="lienthong_views",
        schedule=AssetAny(*(dataset_asset(d) for d in every_input() if d in published)),
        start_date=START,
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["lienthong", "views"],
        description="Rebuild the cross-agency views when a dataset they read is published",
        doc_md="Rebuilds `enterprise_profile`, `parcel_profile` and the match statistics whose inputs have "
               "new versions (`sharing.views.build_views`); triggered by the sync DAGs' Assets.",
    )
    def views() -> None:
        @task(task_id="build_views", outlets=[dataset_asset(n) for n in ("enterprise_profile", "parcel_profile")],
              multiple_outputs=False)
        def build() -> dict[str, Any]:
            from lienthong.airflow.tasks import build_views_task

            return build_views_task()

        build()

    return views()


def deliver_dag() -> DAG:
    @dag(
        dag_id="lienthong_deliver",
        schedule="* * * * *",  # every minute
        start_date=START,
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["lienthong", "subscriptions"],
        description="Send the subscribers' notifications of new dataset versions",
        doc_md="Every minute, sends the due notifications of the outbox each publish writes "
               "(`sharing.deliver`): signed, at least once, retried with backoff; the ones that never get "
               "through are dead letters (`lienthong subscriptions dead`, `replay`).",
    )
    def deliver() -> None:
        @task(task_id="deliver_notifications", multiple_outputs=False)
        def send() -> dict[str, int]:
            from lienthong.airflow.tasks import deliver_notifications_task

            return deliver_notifications_task()

        send()

    return deliver()


def sync_dags(sources_dir: Path | None = None) -> dict[str, DAG]:
    """A sync DAG per source file: a new file in any registry is a new DAG."""
    return {entry.dag_id: sync_dag(entry) for entry in sources(sources_dir)}


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
