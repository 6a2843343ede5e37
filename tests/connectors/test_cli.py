"""`lienthong extract`: Parquet per stream plus a state file; a second run starts from that state."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from agencies.testing import running_simulator
from lienthong.cli import main

pytestmark = pytest.mark.integration


def test_extract_writes_parquet_and_state_then_continues(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with running_simulator("construction", records=800, seed=3) as handle:
        env = {"LIENTHONG_AGENCY_CONSTRUCTION_URL": handle.base_url}
        result = CliRunner().invoke(main, ["extract", "construction", "--out", str(out)], env=env)
        assert result.exit_code == 0, result.output
        first = pq.read_table(out / "permits.parquet")
        assert first.num_rows == sum(1 for _ in handle.sim.store.all_rows("permits"))
        state = json.loads((out / "state.json").read_text())
        assert state["permits"]["cursor"] and len(state["permits"]["known_keys"]) == first.num_rows

        httpx.post(f"{handle.base_url}/_admin/advance", params={"minutes": 60}).raise_for_status()
        result = CliRunner().invoke(main, ["extract", "construction", "--stream", "permits", "--out", str(out)],
                                    env=env)
        assert result.exit_code == 0, result.output
        second = pq.read_table(out / "permits.2.parquet")
        assert 0 < second.num_rows < first.num_rows  # only the changes, and the deletes
        assert pq.read_table(out / "permits.parquet").equals(first)  # the earlier run's output is kept
        assert json.loads((out / "state.json").read_text())["permits"]["cursor"] > state["permits"]["cursor"]

        result = CliRunner().invoke(main, ["extract", "construction", "--full-refresh", "--out", str(out)], env=env)
        assert result.exit_code == 0, result.output
        third = pq.read_table(out / "permits.3.parquet")
        assert third.num_rows == sum(1 for _ in handle.sim.store.all_rows("permits"))
        assert not any(third.column("_deleted").to_pylist())


def test_extract_names_a_bad_source_clearly(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["extract", "nosuch", "--out", str(tmp_path)])
    assert result.exit_code != 0
    assert "no such source file" in result.output
    assert "known sources: business, construction, land, tax" in result.output
