"""The Airflow plugin links the Airflow UI to the operations dashboard."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest

pytestmark = pytest.mark.unit


def test_the_plugin_is_an_entry_point_with_valid_external_views() -> None:
    from airflow.api_fastapi.core_api.datamodels.plugins import ExternalViewResponse

    from lienthong.airflow.plugin import LienthongOpsPlugin, views

    (entry,) = [e for e in entry_points(group="airflow.plugins") if e.name == "lienthong_ops"]
    assert entry.load() is LienthongOpsPlugin
    assert LienthongOpsPlugin.name == "lienthong_ops"
    for view in LienthongOpsPlugin.external_views:
        ExternalViewResponse.model_validate(view)
    assert {v["destination"] for v in views("http://ops:8300/ops")} == {"nav", "dag_run"}
    assert all(v["href"] == "http://ops:8300/ops/" for v in views("http://ops:8300/ops"))
