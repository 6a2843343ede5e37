"""OpenLineage through Airflow's provider: a real sync DAG run writes its events with the file transport,
and each sync task's COMPLETE event names the agency service as input and the published dataset as output,
with schema, row counts, quality results and column lineage from the contract's mappings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from agencies.testing import running_simulator
from lienthong.airflow.setup import airflow_environ
from schemas.contract import contract_for_stream
from tests.e2e.airflow_helpers import run_dags

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def _events(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_each_sync_task_emits_its_lineage(tmp_path: Path) -> None:
    events_file = tmp_path / "lineage" / "events.jsonl"
    events_file.parent.mkdir()
    url = f"sqlite:///{tmp_path / 'lt.db'}"
    with running_simulator("tax", records=200, seed=8, tmp_dir=tmp_path / "sim") as sim:
        env = airflow_environ(tmp_path / "airflow", database_url=url, data_dir=tmp_path / "data",
                              endpoints={"tax": sim.url})
        env["AIRFLOW__OPENLINEAGE__TRANSPORT"] = json.dumps(
            {"type": "file", "log_file_path": str(events_file), "append": True})
        env["AIRFLOW__OPENLINEAGE__NAMESPACE"] = "lienthong-test"
        result = run_dags(env, ["lienthong_sync_tax"], tmp_path / "airflow.log", prepare=True)["lienthong_sync_tax"]
    assert result["state"] == "success", result
    events = _events(events_file)
    assert events, f"no OpenLineage event in {events_file}; see {tmp_path / 'airflow.log'}"
    summaries = {s["stream"]: s for s in result["streams"]}
    for stream, summary in summaries.items():
        done = [e for e in events if e["eventType"] == "COMPLETE" and e["job"]["name"].endswith(f".sync_{stream}")]
        assert len(done) == 1, [(e["eventType"], e["job"]["name"]) for e in events]
        event = done[0]
        assert event["job"]["namespace"] == "lienthong-test"
        (source,) = event["inputs"]
        parts = urlsplit(sim.url)
        assert source["namespace"] == f"http://{parts.hostname}:{parts.port}"  # the agency service
        assert source["name"] == f"tax/{stream}" and source["facets"]["datasource"]["name"] == "tax"
        assert source["inputFacets"]["inputStatistics"]["rowCount"] == summary["fetched"] > 0
        contract = contract_for_stream("tax", stream)
        assert [f["name"] for f in source["facets"]["schema"]["fields"]] == list(contract.source.fields)
        (output,) = event["outputs"]
        assert output["name"] == f"ds_{contract.dataset}" and output["namespace"].startswith("sqlite://")
        schema = {f["name"]: f for f in output["facets"]["schema"]["fields"]}
        assert list(schema) == [c.name for c in contract.columns]
        assert all(" / " in f["description"] for f in schema.values())  # Vietnamese / English
        changed = summary["inserted"] + summary["updated"] + summary["deleted"]
        assert output["outputFacets"]["outputStatistics"]["rowCount"] == changed
        assertions = {a["assertion"]: a for a in output["facets"]["dataQualityAssertions"]["assertions"]}
        assert assertions["failure_rate_within_threshold"]["success"] is True
        assert assertions["valid_plus_quarantined_equals_fetched"]["actual"] == str(summary["fetched"])
        lineage = output["facets"]["columnLineage"]["fields"]
        for column in contract.columns:
            if column.source:
                assert [f["field"] for f in lineage[column.name]["inputFields"]] == list(column.source)
                assert {f["name"] for f in lineage[column.name]["inputFields"]} == {f"tax/{stream}"}
