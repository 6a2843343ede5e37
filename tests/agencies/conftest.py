"""Fixtures for the simulator tests: `simulators` (a factory) and one running simulator per REST agency."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agencies.testing import SimulatorHandle, running_simulator, simulators

__all__ = ["simulators"]

RECORDS = 2000
SEED = 11


@pytest.fixture
def construction_sim(tmp_path: Path) -> Iterator[SimulatorHandle]:
    with running_simulator("construction", records=RECORDS, seed=SEED, tmp_dir=tmp_path) as handle:
        yield handle


@pytest.fixture
def tax_sim(tmp_path: Path) -> Iterator[SimulatorHandle]:
    with running_simulator("tax", records=RECORDS, seed=SEED, tmp_dir=tmp_path) as handle:
        yield handle
