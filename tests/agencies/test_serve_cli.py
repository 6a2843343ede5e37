"""`lienthong agencies serve` as an operator runs it: a real process, URLs printed, stopped by a signal."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration


def test_serve_all_prints_four_working_urls(tmp_path: Path) -> None:
    command = [sys.executable, "-c", "from lienthong.cli import main; main()", "agencies", "serve", "all",
               "--port", "0", "--records", "100", "--seed", "2", "--data-dir", str(tmp_path)]
    env = {**os.environ, "TAX_SIM_CLIENT_SECRET": "from-the-environment", "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env) as process:
        try:
            _check(process)
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=20)


def _check(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    lines = [process.stdout.readline() for _ in range(4)]
    urls: dict[str, str] = {}
    for line in lines:
        found = re.match(r"(\w+)\s+(http://\S+)", line)
        assert found is not None, line
        urls[found.group(1)] = found.group(2)
    assert set(urls) == {"land", "business", "construction", "tax"}
    assert urls["land"].endswith("/ws/land")
    assert httpx.get(urls["land"] + "?wsdl", timeout=10).status_code == 200
    permits = httpx.get(urls["construction"] + "/api/v1/permits", headers={"X-API-Key": "construction-dev-key"})
    assert permits.json()["total"] == 100
    token = httpx.post(urls["tax"] + "/oauth/token", data={"grant_type": "client_credentials"},
                       auth=("lienthong", "from-the-environment"))
    assert token.status_code == 200
    assert httpx.post(urls["tax"] + "/oauth/token", data={"grant_type": "client_credentials"},
                      auth=("lienthong", "tax-dev-secret")).status_code == 401
