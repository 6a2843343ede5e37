"""The dashboard's link to the exact Airflow run: the run id the tasks record, without their stream suffix."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sharing.ops.data import DatasetRun, SourceStatus

pytestmark = pytest.mark.unit


def _status(*run_ids: str) -> SourceStatus:
    s = SourceStatus("tax", "lienthong_sync_tax", "Tax")
    s.last_run = [DatasetRun("taxpayers", r, datetime.now(UTC), 1.0, 1, 1, 0, 0, "passed") for r in run_ids]
    return s


def test_the_link_names_the_airflow_run_quoted() -> None:
    run = "manual__2026-12-02T07:00:00.123456+00:00"
    s = _status(f"{run}:tax/taxpayers", f"{run}:tax/land_tax_notices")
    assert s.airflow_run_id() == run
    assert s.dag_url("http://af:8080") == (
        "http://af:8080/dags/lienthong_sync_tax/runs/manual__2026-12-02T07%3A00%3A00.123456%2B00%3A00")


def test_without_one_airflow_run_the_link_opens_the_dag() -> None:
    assert _status("tax-taxpayers-20261202T070000-ab12cd").dag_url("http://af") == "http://af/dags/lienthong_sync_tax"
    assert _status("scheduled__a:tax/x", "scheduled__b:tax/y").dag_url("http://af") == "http://af/dags/lienthong_sync_tax"
