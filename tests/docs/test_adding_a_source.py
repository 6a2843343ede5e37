"""docs/adding-a-source.md, followed step by step: the commands it shows are the commands this runs."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "adding-a-source.md"


def walkthrough() -> str:
    text = DOC.read_text(encoding="utf-8")
    block = re.search(r"<!-- walkthrough -->\s*```sh\n(.*?)```", text, re.DOTALL)
    assert block, "docs/adding-a-source.md has no walk-through block"
    return block.group(1)


def run_walkthrough(commands: str, port: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The doc's shell commands as written, in `cwd`, with the example `port` moved to a free one, in a
    clean environment (no LIENTHONG_/AIRFLOW variables of this session) with the venv's commands first."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    prelude = "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIENTHONG_", "AIRFLOW"))}
    env.update(PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}", LIENTHONG_REPO=str(ROOT))
    return subprocess.run(["bash", "-c", prelude + commands.replace(port, str(free))], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def test_the_walkthrough_runs_as_written(tmp_path: Path) -> None:
    commands = walkthrough()
    assert "lienthong source init" in commands and "lienthong source check" in commands
    assert "lienthong sync registry/sources/treasury.yaml" in commands
    done = run_walkthrough(commands, "8805", tmp_path)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    assert "wrote registry/sources/treasury.yaml" in out
    assert re.search(r"^ok$", done.stdout, re.MULTILINE), out[-3000:]  # source check found nothing to fix
    synced = re.search(r"treasury/payment_receipts -> payment_receipts: fetched (\d+), valid (\d+)", done.stdout)
    assert synced and int(synced.group(1)) == int(synced.group(2)) == 300, out[-3000:]
    assert (tmp_path / "var").is_dir()  # the default embedded database and snapshots, in the working directory
