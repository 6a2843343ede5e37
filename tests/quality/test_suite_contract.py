"""The GX suite and the contract cannot disagree: the suite is built from the contract, and what the
Python suites add names only the contract's columns and never decides nullability."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from quality.checks import expectation_columns, expectation_type
from quality.suites import SUITES, build_suite
from schemas.contract import contracts

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _with_the_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The datasets brought in by files too (the treasury's, the district register's)."""
    shutil.copytree(ROOT / "agencies" / "registry", tmp_path / "registry")
    monkeypatch.setenv("LIENTHONG_REGISTRY", str(tmp_path / "registry"))


def test_not_null_in_the_suite_is_exactly_the_contracts_non_nullable_columns() -> None:
    for contract in contracts().values():
        suite = build_suite(contract.dataset, contract.version)
        not_null = {expectation_columns(e)[0] for e in suite.expectations
                    if expectation_type(e) == "expect_column_values_to_not_be_null"}
        required = {c.name for c in contract.columns if not c.nullable and c.name != contract.tombstone}
        assert not_null == required, contract.dataset
        assert "admin_legacy" not in {c.name for c in contract.columns} or \
            "admin_legacy" in required, contract.dataset  # once never checked
        names = set(contract.column_names)
        for e in suite.expectations:
            assert set(expectation_columns(e)) <= names, (contract.dataset, expectation_type(e))


def test_each_declared_expectation_is_in_the_suite() -> None:
    kinds = {"unique": "expect_column_values_to_be_unique", "pattern": "expect_column_values_to_match_regex",
             "values": "expect_column_values_to_be_in_set", "min": "expect_column_values_to_be_between",
             "max": "expect_column_values_to_be_between"}
    declared = 0
    for contract in contracts().values():
        suite = {(expectation_type(e), expectation_columns(e)[0]) for e in build_suite(contract.dataset).expectations}
        for col in contract.columns:
            for key, kind in kinds.items():
                value = getattr(col.expect, key)
                if value not in (None, False):
                    declared += 1
                    assert (kind, col.name) in suite, (contract.dataset, col.name, key)
    assert declared >= 10


def test_python_suites_add_no_not_null_of_their_own() -> None:
    from quality.gx import gx_modules

    _, gxe = gx_modules()
    for dataset, make in SUITES.items():
        assert all(expectation_type(e) != "expect_column_values_to_not_be_null" for e in make(gxe)), dataset


def test_domain_values_are_the_real_ones() -> None:
    suite = build_suite("permits")
    grades = next(e for e in suite.expectations if expectation_type(e) == "expect_column_values_to_be_in_set"
                  and expectation_columns(e) == ["building_grade"])
    assert "Đặc biệt" in grades.value_set
    from schemas.contract import contract_for_stream

    district = contract_for_stream("district", "district_permits")  # its mapping file's override
    assert district.dataset == "permits"
    assert district.column("permit_no").expect.pattern == r"^\d{2,}/GPXD-UBND$"
    assert contracts()["permits"].column("permit_no").expect.pattern == r"^GPXD-\d{4}-\d{6}$"
