"""`lienthong datasets list|show|versions`: the catalog and time travel, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sharing.publish import publish
from tests.sharing.test_publish import SPEC, rows

pytestmark = pytest.mark.integration


def lienthong(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lienthong.cli", *args], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=120)


def test_catalog_and_time_travel(tmp_path: Path) -> None:
    url, data_dir = f"sqlite:///{tmp_path / 'lt.db'}", tmp_path / "data"
    publish(url, SPEC, [rows(("A", "1.00", "01"), ("B", "2.00", "79"))], data_dir=data_dir,
            quality={"valid": 2, "quarantined": 0})
    publish(url, SPEC, [rows(("B", "2.50", "79"), ("C", "3.00", "01"))], data_dir=data_dir,
            quality={"valid": 2, "quarantined": 2})
    env = {"LIENTHONG_DATABASE_URL": url, "LIENTHONG_DATA_DIR": str(data_dir)}

    listed = lienthong(env, "datasets", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    entry: dict[str, Any] = json.loads(listed.stdout)[0]
    assert (entry["name"], entry["version"], entry["rows"]) == (SPEC.name, 2, 3)
    assert entry["quality_score"] == 0.5 and 0 <= entry["freshness_seconds"] < 600  # published moments ago

    old = json.loads(lienthong(env, "datasets", "show", SPEC.name, "--version", "1", "--json").stdout)
    assert [r["parcel_id"] for r in old["rows"]] == ["A", "B"] and old["rows"][1]["area_m2"] == "2.00"
    new = json.loads(lienthong(env, "datasets", "show", SPEC.name, "--json").stdout)
    assert [r["parcel_id"] for r in new["rows"]] == ["A", "B", "C"] and new["manifest"]["version"] == 2

    versions = lienthong(env, "datasets", "versions", SPEC.name)
    assert "v1" in versions.stdout and "v2" in versions.stdout and "+1 ~1 -0" in versions.stdout

    missing = lienthong(env, "datasets", "show", SPEC.name, "--version", "9")
    assert missing.returncode != 0 and "has no version 9" in missing.stderr


def test_sync_dry_run_publishes_nothing_and_json_names_source_stream(tmp_path: Path) -> None:
    from agencies.testing import running_simulator

    url, data_dir = f"sqlite:///{tmp_path / 'lt.db'}", tmp_path / "data"
    with running_simulator("tax", records=200, seed=4, tmp_dir=tmp_path / "sim") as sim:
        env = {"LIENTHONG_DATABASE_URL": url, "LIENTHONG_DATA_DIR": str(data_dir), "LIENTHONG_AGENCY_TAX_URL": sim.url}
        dry = lienthong(env, "sync", "tax", "--dry-run", "--json")
        assert dry.returncode == 0, dry.stderr
        assert dry.stderr == ""  # no progress bar when not a terminal
        report, notices = [json.loads(line) for line in dry.stdout.splitlines()]
        assert (report["stream"], notices["stream"]) == ("tax/taxpayers", "tax/land_tax_notices")
        assert report["dry_run"] and report["published"] is None
        assert report["fetched"] > 0 and report["fetched"] == report["valid"] + report["quarantined"]
        assert json.loads(lienthong(env, "datasets", "list", "--json").stdout) == []
        quarantined = lienthong(env, "quarantine", "list", "--dataset", "taxpayers")
        assert "no quarantined record of taxpayers" in quarantined.stderr and quarantined.stdout == ""

        real = lienthong(env, "sync", "tax")
        assert real.returncode == 0, real.stderr
        assert real.stdout.startswith("tax/taxpayers -> taxpayers: fetched ") and "published v1" in real.stdout
    entries = {e["name"]: e for e in json.loads(lienthong(env, "datasets", "list", "--json").stdout)}
    assert entries["taxpayers"]["rows"] == report["valid"] and entries["tax_notices"]["version"] == 1
