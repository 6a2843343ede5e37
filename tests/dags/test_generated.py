"""The DAGs generated from the source registry: one per source file, with pools, assets and retries."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from connectors.config import SOURCES_DIR
from lienthong.airflow.registry import sources

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]

DESCRIBE = """
import json, sys
from pathlib import Path
from airflow.dag_processing.dagbag import DagBag
from lienthong.airflow.dags import sync_dags

bag = DagBag(dag_folder=sys.argv[1], safe_mode=False)
dags = dict(bag.dags)
dags.update(sync_dags(Path(sys.argv[2])))
out = {}
for dag_id, dag in dags.items():
    out[dag_id] = {
        "schedule": dag.schedule if isinstance(dag.schedule, str) else type(dag.schedule).__name__,
        "catchup": dag.catchup, "errors": list(bag.import_errors),
        "assets": [] if isinstance(dag.schedule, str) else sorted(a.uri for a in dag.schedule.objects),
        "tasks": {t.task_id: {"pool": t.pool, "retries": t.retries,
                              "backoff": bool(t.retry_exponential_backoff),
                              "outlets": [o.uri for o in t.outlets], "upstream": sorted(t.upstream_task_ids)}
                  for t in dag.tasks},
    }
print(json.dumps(out))
"""


def describe(tmp_path: Path, sources_dir: Path) -> dict[str, Any]:
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "airflow"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__CORE__UNIT_TEST_MODE": "False"}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(DESCRIBE), str(REPO / "dags"), str(sources_dir)],
                          env=env, cwd=REPO, capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def with_new_source(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """The DAGs of dags/, plus those generated from a sources folder holding one more file (no Python)."""
    tmp = tmp_path_factory.mktemp("dags")
    folder = tmp / "sources"
    shutil.copytree(SOURCES_DIR, folder)
    text = (SOURCES_DIR / "tax.yaml").read_text(encoding="utf-8").replace("source: tax", "source: customs", 1)
    (folder / "customs.yaml").write_text(text, encoding="utf-8")
    return describe(tmp, folder), folder


def test_a_new_source_file_is_a_new_dag(with_new_source: tuple[dict[str, Any], Path]) -> None:
    dags, folder = with_new_source
    assert {e.dag_id for e in sources(folder)} == {e.dag_id for e in sources()} | {"lienthong_sync_customs"}
    customs = dags["lienthong_sync_customs"]
    assert set(customs["tasks"]) == {"sync_taxpayers", "sync_land_tax_notices", "report"}
    assert customs["tasks"]["sync_taxpayers"]["pool"] == "lienthong_customs"


def test_one_sync_dag_per_source_with_pools_assets_and_retries(with_new_source: tuple[dict[str, Any], Path]) -> None:
    dags, _ = with_new_source
    for entry in sources():
        dag = dags[entry.dag_id]
        assert dag["catchup"] is False and dag["schedule"] == "@hourly"
        for stream in entry.streams:
            task = dag["tasks"][f"sync_{stream.name}"]
            assert task["pool"] == entry.pool and task["retries"] >= 2 and task["backoff"], task
            assert task["outlets"] == [f"lienthong://datasets/{stream.dataset}"]
        assert dag["tasks"]["report"]["upstream"] == sorted(f"sync_{s.name}" for s in entry.streams)
    assert dags["lienthong_sync_tax"]["tasks"]["sync_land_tax_notices"]["outlets"] == ["lienthong://datasets/tax_notices"]


def test_views_dag_is_scheduled_on_the_datasets_it_reads(with_new_source: tuple[dict[str, Any], Path]) -> None:
    dags, _ = with_new_source
    published = {o for d in dags.values() for t in d["tasks"].values() for o in t["outlets"]}
    views = dags["lienthong_views"]
    assert views["schedule"] == "AssetAny" and views["assets"] and set(views["assets"]) <= published
    assert {f"lienthong://datasets/{d}" for d in ("enterprises", "parcels", "permits", "taxpayers")} <= set(
        views["assets"])
