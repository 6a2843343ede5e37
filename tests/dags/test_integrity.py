"""Every DAG file only declares (style.md, 1), checked in a fresh interpreter by lienthong.dev.dag_integrity."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def run_integrity(folder: Path, tmp_path: Path) -> tuple[int, list[dict[str, Any]]]:
    report = tmp_path / "report.json"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "lienthong.dev.dag_integrity", str(folder), str(report)],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=180,
    )
    assert report.exists(), proc.stderr[-3000:]
    return proc.returncode, json.loads(report.read_text())


def test_every_dag_file_only_declares(tmp_path: Path) -> None:
    code, report = run_integrity(REPO / "dags", tmp_path)
    problems = {r["file"]: r["problems"] for r in report if r["problems"]}
    assert code == 0 and not problems, json.dumps(problems, indent=2)


GOOD = """
    from datetime import datetime
    from airflow.sdk import dag, task

    @dag(schedule=None, start_date=datetime(2026, 1, 1), tags=["t"], doc_md="doc",
         default_args={"owner": "data-eng", "retries": 2})
    def good():
        @task
        def step() -> int:
            return 1
        step()

    good()
"""

BAD = {
    "opens_socket": """
        import socket
        from airflow.sdk import dag
        try:
            socket.create_connection(("127.0.0.1", 9), timeout=0.2)
        except OSError:
            pass
    """,
    "queries_db": """
        import sqlalchemy
        engine = sqlalchemy.create_engine("sqlite://")
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("select 1"))
    """,
    "reads_variable": """
        from airflow.sdk import Variable
        Variable.get("endpoint")
    """,
    "slow": """
        import time
        time.sleep(2.5)
    """,
    "broken": """
        import nonexistent_module_for_integrity_test
    """,
    "undocumented": """
        from datetime import datetime
        from airflow.sdk import dag, task

        @dag(schedule=None, start_date=datetime(2026, 1, 1))
        def undocumented():
            @task
            def step() -> int:
                return 1
            step()

        undocumented()
    """,
}

EXPECTED = {
    "opens_socket": "network connection",
    "queries_db": "database",
    "reads_variable": "Variable.get",
    "slow": "import took",
    "broken": "import error",
    "undocumented": "no tags",
}


def test_integrity_check_fails_on_bad_dag_files(tmp_path: Path) -> None:
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "good.py").write_text(textwrap.dedent(GOOD))
    for name, body in BAD.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(body))
    code, report = run_integrity(folder, tmp_path)
    by_name = {Path(r["file"]).stem: r for r in report}
    assert code == 1
    assert by_name["good"]["problems"] == [] and by_name["good"]["dags"] == ["good"]
    for name, needle in EXPECTED.items():
        joined = " | ".join(by_name[name]["problems"])
        assert needle in joined, f"{name}: expected {needle!r} in {joined!r}"
    undocumented = " | ".join(by_name["undocumented"]["problems"])
    assert "no owner" in undocumented and "no doc" in undocumented and "retries=0" in undocumented
