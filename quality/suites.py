"""The expectation suite of each dataset (GX 1.x ExpectationSuite of gxe expectations).

The suite is what the contract declares (`contract_expectations`: not-null for every non-nullable
column, each column's `expect:`), then, for the provincial datasets, the checks written here in Python
that the contract does not declare (patterns, allowed values, ranges). Not-null is the contract's alone,
so the two cannot disagree on it (tests/quality/test_suite_contract.py).

Suites are built on demand so that importing this module does not import Great Expectations.
Regexes are anchored at both ends: GX matches from the start only, Arrow searches anywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from quality.gx import gx_modules

if TYPE_CHECKING:
    from schemas.contract import Contract

LAND_USE_CODES = (  # land-use purpose codes (Thông tư 08/2024/TT-BTNMT and its predecessors)
    "LUC", "LUK", "LUN", "BHK", "NHK", "CLN", "RSX", "RPH", "RDD", "NTS", "LMU", "NKH", "ONT", "ODT",
    "TSC", "DTS", "DVH", "DYT", "DGD", "DTT", "DKH", "DXH", "DNG", "SKK", "SKN", "TMD", "SKC", "SKS",
    "SKX", "DGT", "DTL", "DNL", "DBV", "DKG", "DDT", "DDL", "DRA", "DCH", "DKV", "TON", "TIN", "NTD",
    "SON", "MNC", "PNK", "BCS", "DCS", "NCS", "CQP", "CAN", "DHT", "CSK", "CSD",
)
ENTERPRISE_STATUSES = ("active", "suspended", "dissolving", "dissolved", "bankrupt")
TAX_STATUS_CODES = tuple(f"{i:02d}" for i in range(11))


def _enterprises(gxe: Any) -> list[Any]:
    return [
        gxe.ExpectColumnValuesToBeUnique(column="enterprise_code"),
        gxe.ExpectColumnValuesToMatchRegex(column="enterprise_code", regex=r"^\d{10}$"),
        gxe.ExpectColumnValuesToBeInSet(column="enterprise_type", value_set=["TNHH1TV", "TNHH2TV", "CP", "DNTN", "HD"]),
        gxe.ExpectColumnValuesToBeInSet(column="status", value_set=list(ENTERPRISE_STATUSES)),
        gxe.ExpectColumnValuesToBeBetween(column="charter_capital_vnd", min_value=0, max_value=10**16),
        gxe.ExpectColumnValuesToMatchRegex(column="legal_rep_id", regex=r"^0\d{11}$"),
    ]


def _branches(gxe: Any) -> list[Any]:
    return [
        gxe.ExpectColumnValuesToBeUnique(column="branch_code"),
        gxe.ExpectColumnValuesToMatchRegex(column="branch_code", regex=r"^\d{13}$"),
        gxe.ExpectColumnValuesToMatchRegex(column="enterprise_code", regex=r"^\d{10}$"),
        gxe.ExpectColumnValuesToBeInSet(column="status", value_set=list(ENTERPRISE_STATUSES)),
    ]


def _taxpayers(gxe: Any) -> list[Any]:
    return [
        gxe.ExpectColumnValuesToBeUnique(column="tax_code"),
        gxe.ExpectColumnValuesToMatchRegex(column="tax_code", regex=r"^(?:\d{10}|\d{12}|\d{13})$"),
        gxe.ExpectColumnValuesToBeInSet(column="taxpayer_type", value_set=["enterprise", "branch", "individual"]),
        gxe.ExpectColumnValuesToBeInSet(column="status_code", value_set=list(TAX_STATUS_CODES)),
        gxe.ExpectColumnValuesToMatchRegex(column="commune_code_source", regex=r"^\d{5}$"),
    ]


def _tax_notices(gxe: Any) -> list[Any]:
    return [
        gxe.ExpectColumnValuesToBeUnique(column="notice_no"),
        gxe.ExpectColumnValuesToMatchRegex(column="notice_no", regex=r"^TB-\d{4}-\d{7}$"),
        gxe.ExpectColumnValuesToBeInSet(column="status", value_set=["issued", "paid", "overdue", "cancelled"]),
        gxe.ExpectColumnValuesToBeBetween(column="amount_vnd", min_value=0, max_value=10**13),
        gxe.ExpectColumnValuesToBeBetween(column="tax_year", min_value=1990, max_value=2100),
    ]


def _parcels(gxe: Any) -> list[Any]:
    key = ["commune_code_source", "map_sheet", "parcel_number"]
    return [
        gxe.ExpectCompoundColumnsToBeUnique(column_list=key),
        gxe.ExpectColumnValuesToMatchRegex(column="commune_code_source", regex=r"^\d{5}$"),
        gxe.ExpectColumnValuesToBeInSet(column="land_use_code", value_set=list(LAND_USE_CODES)),
        gxe.ExpectColumnValuesToBeBetween(column="area_m2", min_value=0, max_value=10**9, strict_min=True),
        gxe.ExpectColumnValuesToBeInSet(column="holder_type", value_set=["enterprise", "individual"]),
    ]


def _land_certificates(gxe: Any) -> list[Any]:
    return [
        gxe.ExpectColumnValuesToBeUnique(column="certificate_no"),
        gxe.ExpectColumnValuesToMatchRegex(column="certificate_no", regex=r"^[A-Z]{2} \d{6}$"),
        gxe.ExpectColumnValuesToBeBetween(column="map_sheet", min_value=1, max_value=100_000),
        gxe.ExpectColumnValuesToBeBetween(column="parcel_number", min_value=1, max_value=10_000_000),
    ]


SUITES: dict[str, Callable[[Any], list[Any]]] = {
    "enterprises": _enterprises,
    "branches": _branches,
    "taxpayers": _taxpayers,
    "tax_notices": _tax_notices,
    "parcels": _parcels,
    "land_certificates": _land_certificates,
}


def contract_expectations(contract: Contract, gxe: Any) -> list[Any]:
    """The expectations a contract declares: not-null for every non-nullable column, then each column's
    `expect:` (unique, pattern anchored at both ends, allowed values, min/max)."""
    out: list[Any] = []
    for col in contract.columns:
        if col.name == contract.tombstone:
            continue
        if not col.nullable:
            out.append(gxe.ExpectColumnValuesToNotBeNull(column=col.name))
        expect = col.expect
        if expect.unique:
            out.append(gxe.ExpectColumnValuesToBeUnique(column=col.name))
        if expect.pattern is not None:
            pattern = expect.pattern
            anchored = ("" if pattern.startswith("^") else "^") + pattern + ("" if pattern.endswith("$") else "$")
            out.append(gxe.ExpectColumnValuesToMatchRegex(column=col.name, regex=anchored))
        if expect.values is not None:
            out.append(gxe.ExpectColumnValuesToBeInSet(column=col.name, value_set=list(expect.values)))
        if expect.min is not None or expect.max is not None:
            out.append(gxe.ExpectColumnValuesToBeBetween(column=col.name, min_value=expect.min,
                                                         max_value=expect.max))
    return out


def build_suite(dataset: str | Contract, version: int = 1) -> Any:
    """The dataset's gx.ExpectationSuite, named `<dataset>.v<contract version>`.

    The contract's expectations, then the Python ones of the provincial datasets; a dataset brought in by
    files alone has only the former. Given the contract as one source feeds it (a mapping file's,
    schemas/contract.py, FeedMapping), the expectations are that source's: its overrides replace the contract's."""
    from schemas.contract import get_contract

    gx, gxe = gx_modules()
    contract = get_contract(dataset) if isinstance(dataset, str) else dataset
    dataset = contract.dataset
    expectations = contract_expectations(contract, gxe)
    if dataset in SUITES:
        expectations += SUITES[dataset](gxe)
    return gx.ExpectationSuite(name=f"{dataset}.v{version}", expectations=expectations)
