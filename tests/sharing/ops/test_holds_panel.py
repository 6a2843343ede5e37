"""A held run is on the dashboard's first page, with its reasons, in both languages; none, no panel."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from lienthong.serve import ops_services
from sharing import db, holds
from sharing.api.app import create_app
from sharing.api.policy import policy_from_dict
from sharing.ops.auth import OpsState, hash_password
from tests.sharing.ops.conftest import OPERATOR, PASSWORD, serving
from tests.sharing.ops.test_access import _logged_in

pytestmark = pytest.mark.integration


def test_the_overview_lists_held_runs(sqlite_url: str, tmp_path: Path) -> None:
    engine = holds.ensure_tables(sqlite_url)
    app = create_app(sqlite_url, policy_from_dict({"clients": {}}), tmp_path / "data", services=ops_services())
    app.state.lienthong_ops = OpsState(operators={OPERATOR: hash_password(PASSWORD)})
    try:
        with serving(app) as base:
            client, _ = _logged_in(base)
            assert "Held runs" not in client.get("/ops/").text
            with engine.begin() as conn:
                conn.execute(holds.holds_table.insert().values(
                    id="20261202-abc123", dataset="permits", source="construction", stream="permits",
                    run_id="r1", status="held", held_at=datetime.now(UTC), counts={"deleted": 200},
                    reasons=["would delete 200 of 400 published rows (50.0%), over the declared 5.0%"],
                    full_refresh=False, new_state={"cursor": "x"}, files=0))
            page = client.get("/ops/").text
            vi, _ = _logged_in(base, "vi")
            vietnamese = vi.get("/ops/").text
            client.close()
            vi.close()
    finally:
        app.state.lienthong.writer.close()
        app.state.lienthong.engine.dispose()
        db.engine_for(sqlite_url).dispose()
    assert 'data-hold="20261202-abc123"' in page and "construction/permits" in page
    assert "would delete 200 of 400 published rows" in page and "Held runs" in page
    assert "Lượt đồng bộ bị giữ lại" in vietnamese
