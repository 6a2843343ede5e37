"""Paging an investor's permits when several sources feed `permits`: two authorities may issue the same
permit number, so the list is ordered and paged by the whole published key (number, then source), and a
page boundary between two equal numbers loses neither."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest

from schemas.contract import get_contract
from sharing import db
from sharing.publish import publish
from sharing.spec import dataset_spec
from tests.sharing.api.conftest import headers, make_policy, running_api
from tests.sharing.tables import filled

pytestmark = pytest.mark.integration

INVESTOR = "0100109106"
PERMITS = [("construction", "05/GPXD-SXD"), ("district", "05/GPXD-SXD"), ("district", "01/GPXD-UBND"),
           ("construction", "99/GPXD-SXD"), ("district", "99/GPXD-SXD")]


def _permits() -> pa.Table:
    return filled("permits", len(PERMITS), {
        "source": [s for s, _ in PERMITS], "permit_no": [n for _, n in PERMITS],
        "investor_id": [INVESTOR] * len(PERMITS), "commune_code": ["00004"] * len(PERMITS)})


def test_pages_of_one_investor_s_permits_hold_each_permit_of_each_source_once(db_url: str, tmp_path: Path) -> None:
    from sharing.api.app import create_app

    assert "source" in dataset_spec(get_contract("permits")).primary_key  # several sources feed permits
    publish(db_url, dataset_spec(get_contract("permits")), [_permits()], data_dir=tmp_path / "data")
    app = create_app(db_url, make_policy(), tmp_path / "data")
    seen: list[tuple[str, str]] = []
    try:
        with running_api(app) as base, httpx.Client(base_url=base, timeout=30) as client:
            params: dict[str, Any] = {"investor_id": INVESTOR, "limit": 2}
            for _ in range(len(PERMITS)):
                answer = client.get("/v1/permits", params=params, headers=headers("clear_all"))
                assert answer.status_code == 200, answer.text
                body = answer.json()
                seen += [(p["permit_no"], p["source"]) for p in body["data"]["permits"]]
                if not body["has_more"]:
                    break
                params["cursor"] = body["next_cursor"]
    finally:
        app.state.lienthong.writer.close()
        app.state.lienthong.engine.dispose()
        db.engine_for(db_url).dispose()
    assert seen == sorted((n, s) for s, n in PERMITS)
