"""Long work shows progress on a terminal and nothing when piped: sync (with its key-set reconciliation),
extract and export, run as a user runs them against a real simulator (stderr on a pseudo-terminal)."""

from __future__ import annotations

import logging
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent / "lienthong"


def _run(env: dict[str, str], *args: str, terminal: bool) -> tuple[int, str, str]:
    """(exit status, stdout, stderr); stderr on a pseudo-terminal when `terminal`, as at a console."""
    full = {**os.environ, **env, "COLUMNS": "120", "TERM": "xterm"}
    if not terminal:
        done = subprocess.run([str(BIN), *args], env=full, capture_output=True, text=True, timeout=120)
        return done.returncode, done.stdout, done.stderr
    leader, follower = pty.openpty()
    proc = subprocess.Popen([str(BIN), *args], env=full, stdout=subprocess.PIPE, stderr=follower, text=True)
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the other side closed: the command is done
            break
        if not chunk:
            break
        seen += chunk
    assert proc.stdout is not None
    with proc.stdout:
        out = proc.stdout.read()
    os.close(leader)
    return proc.wait(timeout=120), out, seen.decode("utf-8", "replace")


def test_sync_extract_export_progress_on_a_terminal_only(tmp_path: Path) -> None:
    from agencies.testing import running_simulator

    url, data_dir = f"sqlite:///{tmp_path / 'lt.db'}", tmp_path / "data"
    with running_simulator("construction", records=300, seed=3, tmp_dir=tmp_path / "sim") as sim:
        env = {"LIENTHONG_DATABASE_URL": url, "LIENTHONG_DATA_DIR": str(data_dir),
               "LIENTHONG_AGENCY_CONSTRUCTION_URL": sim.url}
        status, out, err = _run(env, "sync", "construction", terminal=True)
        assert status == 0 and out.startswith("construction/permits -> permits: fetched "), out + err
        assert "construction/permits" in err, err  # the progress line, on the terminal
        status, out, err = _run(env, "sync", "construction", "--full-refresh", terminal=False)
        assert status == 0 and err == "", err  # piped: nothing but the result

        status, out, err = _run(env, "extract", "construction", "--out", str(tmp_path / "x1"), terminal=True)
        assert status == 0 and "construction/permits" in err and "rows" in err, out + err
        status, out, err = _run(env, "extract", "construction", "--full-refresh", "--out", str(tmp_path / "x2"),
                                terminal=False)
        assert status == 0 and err == "" and out.startswith("wrote "), out + err

    status, out, err = _run(env, "datasets", "export", "permits", "--out", str(tmp_path / "p.parquet"),
                            terminal=True)
    assert status == 0 and "permits v" in err and "/" in err, out + err  # the bar's rows done / total
    exported = pq.read_table(tmp_path / "p.parquet")
    assert f": {exported.num_rows:,} rows written to " in out and exported.num_rows > 200, out
    status, out, err = _run(env, "datasets", "export", "permits", "--format", "csv", "--out",
                            str(tmp_path / "p.csv"), terminal=False)
    assert status == 0 and err == "", err
    assert pacsv.read_csv(tmp_path / "p.csv").num_rows == exported.num_rows
    status, out, err = _run(env, "datasets", "export", "permits", "--out", str(tmp_path / "p.csv"), terminal=False)
    assert status == 1 and "exists; export never replaces a file" in err and "Traceback" not in err, err


def test_reconciliation_reports_its_key_listing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Listing every live key is a whole read of its own: it reports how far it is (the sync CLI shows it)."""
    from agencies.testing import running_simulator
    from connectors import load_source, read

    with running_simulator("construction", records=300, seed=3, tmp_dir=tmp_path / "sim") as sim:
        source = load_source("construction", environ={"LIENTHONG_AGENCY_CONSTRUCTION_URL": sim.url})
        with caplog.at_level(logging.DEBUG, logger="connectors.extract"):
            extraction = read(source, "permits", None, reconcile=True)
            for _ in extraction:
                pass
    shown = [r.progress for r in caplog.records if hasattr(r, "progress")]
    assert extraction.reconciled and shown, caplog.text
    assert re.fullmatch(r"construction/permits: reconciling deletes, [\d,]+ live keys listed", shown[-1]), shown
