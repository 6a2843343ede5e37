"""`lienthong doctor` tells the truth: run as a real process against real servers and dead ports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.integration


def doctor(tmp_path: Path, **env: str) -> tuple[int, dict[str, Any], str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("LIENTHONG_", "AIRFLOW"))}
    full_env.update(LIENTHONG_DATA_DIR=str(tmp_path / "data"), AIRFLOW_HOME=str(tmp_path / "airflow"), **env)
    proc = subprocess.run(
        [sys.executable, "-m", "lienthong.cli", "doctor", "--json"],
        env=full_env, capture_output=True, text=True, timeout=60,
    )
    return proc.returncode, json.loads(proc.stdout), proc.stdout + proc.stderr


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in report["checks"]}


def test_reachable_postgres_reports_its_version(tmp_path: Path, pg_url: str) -> None:
    code, report, _ = doctor(tmp_path, LIENTHONG_DATABASE_URL=pg_url)
    db = by_name(report)["database"]
    assert code == 0 and report["ok"]
    assert db["ok"] and db["detail"].startswith("PostgreSQL ")
    assert by_name(report)["airflow"]["detail"].startswith("Airflow 3.")


def test_unreachable_postgres_fails_and_masks_the_password(tmp_path: Path) -> None:
    dead = free_port()  # nothing listens here: a stopped server looks exactly like this
    code, report, output = doctor(tmp_path, LIENTHONG_DATABASE_URL=f"postgresql://lt:Sup3rS3cret@127.0.0.1:{dead}/lt")
    db = by_name(report)["database"]
    assert code == 1 and not report["ok"]
    assert not db["ok"] and "unreachable" in db["detail"]
    assert db["target"] == f"postgresql://lt:***@127.0.0.1:{dead}/lt"
    assert "Sup3rS3cret" not in output


def test_sqlite_default_and_agency_endpoints(tmp_path: Path) -> None:
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        live = listener.getsockname()[1]
        code, report, _ = doctor(
            tmp_path,
            LIENTHONG_DATABASE_URL=f"sqlite:///{tmp_path / 'lt.db'}",
            LIENTHONG_AGENCY_TAX_URL=f"http://127.0.0.1:{live}/api",
            LIENTHONG_AGENCY_LAND_URL=f"http://127.0.0.1:{free_port()}/ws/land",
        )
    checks = by_name(report)
    assert checks["database"]["ok"] and checks["database"]["detail"].startswith("SQLite")
    assert checks["data_dir"]["ok"] and (tmp_path / "data").is_dir()
    assert checks["agency:tax"]["ok"] and checks["agency:tax"]["target"] == f"http://127.0.0.1:{live}/api"
    assert not checks["agency:land"]["ok"] and checks["agency:land"]["required"]
    assert code == 1  # a configured endpoint that does not answer is a failure
    # every declared source is listed with the endpoint a sync would call, even when no variable names it
    declared = {p.stem for p in Path("connectors/sources").glob("*.yaml")}
    assert {name.removeprefix("agency:") for name in checks if name.startswith("agency:")} == declared
    business = checks["agency:business"]
    assert business["target"] == "http://127.0.0.1:8802/ws/business" and not business["required"]
    assert "LIENTHONG_AGENCY_BUSINESS_URL overrides" in business["detail"]


def test_bad_settings_exit_2_without_the_password(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "lienthong.cli", "doctor"],
        env={**os.environ, "LIENTHONG_DATABASE_URL": "oracle://u:Pw0rd@h/x"},
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert "LIENTHONG_DATABASE_URL" in proc.stderr and "Pw0rd" not in proc.stderr + proc.stdout
