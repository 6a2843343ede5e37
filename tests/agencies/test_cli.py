"""`lienthong agencies ...`: advance on the file, truth to Parquet, refusals with clear messages."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from agencies.cli import agencies

pytestmark = pytest.mark.unit


def _run(*args: str) -> str:
    result = CliRunner().invoke(agencies, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_truth_then_advance_then_truth_shows_the_tombstones(tmp_path: Path) -> None:
    common = ["--records", "300", "--seed", "5", "--data-dir", str(tmp_path)]
    _run("info", "land", *common)
    moves = [json.loads(_run("advance", "land", "--minutes", "600", *common)) for _ in range(3)]
    assert moves[-1]["clock"] == "2026-01-02T06:00:00Z"
    deleted = sum(m["deleted"] for m in moves)
    assert deleted > 0
    _run("truth", "land", "--out", str(tmp_path / "land.parquet"), *common,
         "--fault", "invalid_values=0.1")
    table = pq.read_table(tmp_path / "land.parquet")
    assert {"_dataset", "_key", "_deleted", "_corrupted", "_corruption", "communeCode"} <= set(table.column_names)
    rows = table.to_pylist()
    assert {r["_dataset"] for r in rows} == {"parcels", "land_certificates"}
    assert sum(r["_deleted"] for r in rows) == deleted
    assert all(r["_corruption"] for r in rows if r["_corrupted"]) and any(r["_corrupted"] for r in rows)


def test_advance_of_a_world_never_served_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(agencies, ["advance", "tax", "-m", "5", "--data-dir", str(tmp_path)])
    assert result.exit_code != 0 and "no tax data" in result.output


def test_an_unknown_fault_is_refused_by_name(tmp_path: Path) -> None:
    result = CliRunner().invoke(agencies, ["truth", "tax", "-o", str(tmp_path / "t.parquet"),
                                           "--data-dir", str(tmp_path), "--records", "100", "--fault", "gremlins=1"])
    assert result.exit_code != 0 and "gremlins" in result.output
