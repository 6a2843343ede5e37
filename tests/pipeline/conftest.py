"""Fixtures of the pipeline tests."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import pg_database

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def empty_pg(pg_server: str) -> Iterator[str]:
    """A database of its own: the first-ever sync must find no table at all."""
    with pg_database(pg_server) as url:
        yield url


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A registry of the operator's, outside the package: a copy of `agencies/registry` (the treasury and
    the district register, files only), named by LIENTHONG_REGISTRY."""
    folder = tmp_path / "registry"
    shutil.copytree(ROOT / "agencies" / "registry", folder)
    monkeypatch.setenv("LIENTHONG_REGISTRY", str(folder))
    yield folder
