"""README's "The first hour", followed as written (ports moved off the defaults, a small world): `make up`,
a second shell with the exports it printed, `lienthong doctor`, `lienthong sync business`, the dashboard
login with the generated operator's password file, a quarantined record, the API's docs and /v1/me."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_the_first_hour_as_the_readme_says(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make up" in readme and "lienthong sync business" in readme and "var/ops-passwords.generated" in readme
    sim, airflow, api = free_port(), free_port(), free_port()
    while len({sim + i for i in range(4)} & {airflow, api}) or not all(_free(sim + i) for i in range(4)):
        sim = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIENTHONG_", "AIRFLOW"))}
    log = (tmp_path / "up.log").open("w+", encoding="utf-8")
    up = subprocess.Popen(  # `make up`, with a small world and free ports
        [sys.executable, "-m", "lienthong.dev.up", "--records", "150", "--sim-port", str(sim),
         "--airflow-port", str(airflow), "--api-port", str(api)],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        printed = _wait_for(tmp_path / "up.log", "stops everything", up, 420)
        exports = dict(re.findall(r"^\s+export (\w+)=(\S+)$", printed, re.MULTILINE))
        assert set(exports) >= {"LIENTHONG_DATABASE_URL", "LIENTHONG_DATA_DIR", "AIRFLOW_HOME",
                                "LIENTHONG_AGENCY_BUSINESS_URL"}, printed
        for what in (f"http://127.0.0.1:{airflow}", f"http://127.0.0.1:{api}/docs", f"http://127.0.0.1:{api}/ops/"):
            assert what in printed, printed
        second = {**env, **exports}

        doctor = subprocess.run([str(BIN / "lienthong"), "doctor", "--json"], cwd=tmp_path, env=second,
                                capture_output=True, text=True, timeout=120)
        assert '"agency:business"' in doctor.stdout and doctor.returncode == 0, doctor.stdout + doctor.stderr
        synced = subprocess.run([str(BIN / "lienthong"), "sync", "business"], cwd=tmp_path, env=second,
                                capture_output=True, text=True, timeout=300)
        assert synced.returncode == 0, synced.stdout + synced.stderr
        assert "business/enterprises -> enterprises: fetched " in synced.stdout, synced.stdout

        # the dashboard, in Vietnamese, with the generated operator's password
        name, password = (tmp_path / "var" / "ops-passwords.generated").read_text().strip().split(": ", 1)
        base = f"http://127.0.0.1:{api}"
        with httpx.Client(base_url=base, timeout=30) as client:
            token = re.search(r'name="csrf" value="([0-9a-f]+)"', client.get("/ops/login").text)
            assert token
            answer = client.post("/ops/login", data={"csrf": token.group(1), "operator": name, "password": password})
            assert answer.status_code == 303, answer.text
            overview = client.get("/ops/").text
            assert '<html lang="vi">' in overview and 'data-source="business"' in overview
            listing = client.get("/ops/quarantine", params={"status": ""}).text
            ids = re.findall(r'href="/ops/quarantine/(\d+)"', listing)
            assert ids, listing  # the simulators corrupt 2% of their records on purpose (seed 1: always some)
            record = client.get(f"/ops/quarantine/{ids[0]}").text
            assert "Bản ghi gốc, như đã nhận" in record and 'class="json raw"' in record
            assert client.get("/docs").status_code == 200
            me = client.get("/v1/me", headers={"X-API-Key": "lt_example_tax_office"})
            assert me.status_code == 200 and me.json()["client"] == "tax_office"
    finally:
        os.killpg(up.pid, signal.SIGTERM)
        try:
            up.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait(timeout=30)
        log.close()


def _free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait_for(path: Path, marker: str, proc: subprocess.Popen[str], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = path.read_text(encoding="utf-8", errors="replace")
        if marker in text:
            return text
        if proc.poll() is not None:
            pytest.fail(f"make up exited {proc.returncode}:\n{text[-3000:]}")
        time.sleep(1)
    pytest.fail(f"make up did not get ready in {timeout:.0f} s:\n{path.read_text(errors='replace')[-3000:]}")
