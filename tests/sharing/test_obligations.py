"""The obligations views (tax notices against the State Treasury's receipts) equal the same figures
computed from the two simulators' ground truth, on SQLite and PostgreSQL; and the lookup answers
"has this parcel's land-use tax been paid?"."""

from __future__ import annotations

import shutil
from collections import defaultdict
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from agencies.testing import running_simulator
from agencies.truth import truth_rows
from pipeline.sync import sync_source
from sharing.obligations import parcel_obligation
from sharing.views import build_views
from tests.sharing.test_views_truth import live

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _day(text: str) -> date:
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            pass
    raise ValueError(text)


def expected(sims: dict[str, Any]) -> dict[str, tuple[int, int, int, bool]]:
    """notice -> (due, paid, outstanding, paid late), from the truth alone."""
    notices = {n["notice_no"]: n for n in live(sims["tax"], "land_tax_notices") if n["status"] != "cancelled"}
    paid: dict[str, int] = defaultdict(int)
    late: dict[str, bool] = defaultdict(bool)
    for r in truth_rows(sims["treasury"].sim, "payment_receipts"):
        n = notices.get(r["so_thong_bao"])
        if r["_deleted"] or n is None:
            continue
        paid[n["notice_no"]] += int(r["so_tien"])
        late[n["notice_no"]] |= _day(r["ngay_nop"]) > _day(n["due_date"])
    return {k: (n["amount_vnd"], paid[k], max(n["amount_vnd"] - paid[k], 0), late[k]) for k, n in notices.items()}


def test_obligations_equal_the_truth(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(ROOT / "agencies" / "registry", tmp_path / "registry")
    monkeypatch.setenv("LIENTHONG_REGISTRY", str(tmp_path / "registry"))
    url = db_url
    with running_simulator("tax", records=800, seed=9, tmp_dir=tmp_path / "tax") as tax, \
            running_simulator("treasury", records=800, seed=9, tmp_dir=tmp_path / "treasury") as treasury:
        sims = {"tax": tax.sim, "treasury": treasury}  # what expected() reads
        for name, handle in (("tax", tax), ("treasury", treasury)):
            env = {f"LIENTHONG_AGENCY_{name.upper()}_URL": handle.url}
            summaries = sync_source(name, url=url, data_dir=tmp_path / "data", environ=env)
            assert all(s.error is None for s in summaries), [s.line() for s in summaries]
        treasury.sim.store.advance(300)  # voided receipts drop out of what was paid
        summaries = sync_source("treasury", url=url, data_dir=tmp_path / "data",
                                environ={"LIENTHONG_AGENCY_TREASURY_URL": treasury.url})
        assert all(s.error is None for s in summaries), [s.line() for s in summaries]
        report = build_views(url, tmp_path / "data")
        assert {"tax_obligations", "taxpayer_obligations", "parcel_obligations"} <= set(report.published)
        want = expected(sims)
        from sharing import snapshots

        got = {r["notice_no"]: (r["due_vnd"], r["paid_vnd"], r["outstanding_vnd"], r["paid_late"])
               for r in snapshots.read_version(tmp_path / "data", "tax_obligations").to_pylist()}
        assert got == want
        assert any(v[3] for v in got.values()) and any(v[2] for v in got.values())
        assert any(not v[2] for v in got.values())
        stats = {s["relation"]: s for s in report.match_stats}
        receipts = [r for r in truth_rows(treasury.sim, "payment_receipts") if not r["_deleted"]]
        notice_nos = {n["notice_no"] for n in live(tax.sim, "land_tax_notices")}
        matched = sum(1 for r in receipts if r["so_thong_bao"] in notice_nos)
        assert (stats["receipt->notice"]["total"], stats["receipt->notice"]["matched"]) == (len(receipts), matched)
        assert stats["receipt->notice"]["unmatched"] > 0  # land-use fees without a notice, mistyped numbers

        # "has this parcel's land-use tax been paid?"
        parcels = snapshots.read_version(tmp_path / "data", "parcel_obligations").to_pylist()
        unpaid = next(p for p in parcels if not p["fully_paid"])
        answer = parcel_obligation(url, unpaid["commune_code_source"], unpaid["map_sheet"], unpaid["parcel_number"])
        assert answer is not None and answer["fully_paid"] is False and answer["outstanding_vnd"] > 0
        paid = next(p for p in parcels if p["fully_paid"])
        answer = parcel_obligation(url, paid["commune_code"] or paid["commune_code_source"], paid["map_sheet"],
                                   paid["parcel_number"])
        assert answer is not None and answer["fully_paid"] is True and answer["outstanding_vnd"] == 0
        assert parcel_obligation(url, "99999", 1, 1) is None
        _through_the_api(url, tmp_path, unpaid)


def _through_the_api(url: str, tmp_path: Path, unpaid: dict[str, Any]) -> None:
    import httpx

    from sharing import db
    from sharing.api.app import create_app
    from sharing.api.auth import hash_key
    from sharing.api.policy import policy_from_dict
    from tests.sharing.api.conftest import UNLIMITED, key, running_api

    grants = [{"dataset": d, "columns": "*", "clear": [], "purposes": ["tax_collection"]}
              for d in ("parcel_obligations", "tax_obligations")]
    policy = policy_from_dict({"anonymous_rate": UNLIMITED, "clients": {
        "treasury_office": {"key_sha256": hash_key(key("treasury_office")), "rate": UNLIMITED, "grants": grants}}})
    app = create_app(url, policy, tmp_path / "data")
    headers = {"X-API-Key": key("treasury_office"), "X-Purpose": "tax_collection"}
    where = f"/v1/parcels/{unpaid['commune_code_source']}/{unpaid['map_sheet']}/{unpaid['parcel_number']}/land-tax"
    try:
        with running_api(app) as base, httpx.Client(base_url=base, timeout=30) as client:
            answer = client.get(where, headers=headers)
            assert answer.status_code == 200, answer.text
            (row,) = answer.json()["data"]["parcel_obligations"]
            assert row["fully_paid"] is False and row["outstanding_vnd"] == unpaid["outstanding_vnd"]
            assert len(answer.json()["data"]["tax_obligations"]) == unpaid["notices"]
            assert client.get("/v1/parcels/99999/1/1/land-tax", headers=headers).status_code == 404
            assert client.get(where, headers={**headers, "X-API-Key": "wrong"}).status_code == 401
    finally:
        app.state.lienthong.writer.close()
        app.state.lienthong.engine.dispose()
        db.engine_for(url).dispose()
