"""A validation's statistics: one frozen value, the row `validation_runs` keeps, readable by name."""

from __future__ import annotations

import dataclasses

import pytest

from quality.runner import ValidationFailed, ValidationStats, validate_batch
from quality.store import validation_runs
from tests.quality.factory import batch, records

pytestmark = pytest.mark.unit


def test_statistics_are_frozen_and_hold_every_column_of_a_validation_run() -> None:
    rows = records("permits", 20)
    rows[3]["floors"] = 0
    stats = validate_batch(batch("permits", rows), "permits", run_id="r1").stats
    assert isinstance(stats, ValidationStats)
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.rows_valid = 20  # type: ignore[misc]
    assert set(stats) == {c.name for c in validation_runs.columns} - {"id"}
    assert (stats.rows_in, stats.rows_valid, stats.rows_quarantined, stats.status) == (20, 19, 1, "passed")
    assert stats["rule_counts"] is stats.rule_counts and dict(stats)["run_id"] == "r1"
    with pytest.raises(KeyError):
        stats["valid"]


def test_a_failed_batch_carries_its_statistics_with_the_failed_status() -> None:
    rows = records("permits", 10)
    for row in rows[:6]:
        row["floors"] = 0
    with pytest.raises(ValidationFailed) as caught:
        validate_batch(batch("permits", rows), "permits")
    stats = caught.value.stats
    assert isinstance(stats, ValidationStats) and stats.status == "failed" and stats.rows_quarantined == 6
    message = str(caught.value)
    assert message.startswith("[construction] dataset permits run ") and "6 of 10 rows failed" in message
