"""The views' match counts equal the same counts computed independently from the simulators' ground truth."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from agencies.base import AGENCY_NAMES
from agencies.testing import running_simulator
from agencies.truth import truth_rows
from pipeline.sync import sync_source
from sharing.views import build_views

pytestmark = pytest.mark.integration


def live(sim: Any, dataset: str) -> list[dict[str, Any]]:
    return [r for r in truth_rows(sim, dataset) if not r["_deleted"]]


def plain(code: str | None) -> str | None:
    return None if code is None else code.replace("-", "")


def expected_counts(sims: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """(references, matched) per relation, from ground truth alone: sheet and number locate a parcel."""
    enterprises = {r["enterpriseCode"] for r in live(sims["business"], "enterprises")}
    taxpayers = {plain(r["tax_code"]) for r in live(sims["tax"], "taxpayers")}
    parcels = live(sims["land"], "parcels")
    parcel_at = {(r["mapSheet"], r["parcelNumber"]) for r in parcels}
    permits = live(sims["construction"], "permits")
    notices = live(sims["tax"], "land_tax_notices")

    def count(items: list[Any], hit: Any) -> tuple[int, int]:
        return len(items), sum(1 for i in items if hit(i))

    return {
        "enterprise->taxpayer": count(sorted(enterprises), lambda e: e in taxpayers),
        "permit.investor->enterprise": count(
            [p for p in permits if p["investor_type"] == "enterprise"], lambda p: p["investor_id"] in enterprises),
        "permit->parcel": count(permits, lambda p: (p["map_sheet"], p["parcel_number"]) in parcel_at),
        "parcel.holder->enterprise": count(
            [p for p in parcels if p["holderType"] == "enterprise"], lambda p: p["holderId"] in enterprises),
        "notice->taxpayer": count(notices, lambda n: plain(n["tax_code"]) in taxpayers),
        "notice->parcel": count(notices, lambda n: (n["map_sheet"], n["parcel_number"]) in parcel_at),
    }


def test_match_counts_equal_ground_truth(sqlite_url: str, tmp_path: Path) -> None:
    with ExitStack() as stack:
        sims = {a: stack.enter_context(running_simulator(a, records=1500, seed=4, tmp_dir=tmp_path / "sim"))
                for a in AGENCY_NAMES}
        for agency, handle in sims.items():
            env = {f"LIENTHONG_AGENCY_{agency.upper()}_URL": handle.url}
            summaries = sync_source(agency, url=sqlite_url, data_dir=tmp_path / "data", environ=env)
            assert all(s.error is None and s.quarantined == 0 for s in summaries), [s.line() for s in summaries]
        report = build_views(sqlite_url, tmp_path / "data")
        expected = expected_counts({a: h.sim for a, h in sims.items()})
    got = {s["relation"]: (s["total"], s["matched"]) for s in report.match_stats}
    assert got == expected
    # Real non-matches exist, as the simulators promise.
    assert got["permit.investor->enterprise"][1] < got["permit.investor->enterprise"][0]
