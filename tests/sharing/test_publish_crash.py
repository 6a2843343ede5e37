"""A publish killed (SIGKILL) at any point leaves the previous version and cursor; a rerun publishes once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from sharing import db, snapshots
from sharing.publish import StateCommit, publish, read_state
from tests.sharing.test_publish import SPEC, current, rows

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
S1 = {"cursor": "2025-01-01T00:00:00Z", "key": "C"}
S2 = {"cursor": "2025-03-01T00:00:00Z", "key": "D"}

CHILD = """
import sys
from pathlib import Path
from sharing.publish import StateCommit, publish
from tests.sharing.test_publish import SPEC, rows
url, data_dir = sys.argv[1], Path(sys.argv[2])
S1 = {"cursor": "2025-01-01T00:00:00Z", "key": "C"}
S2 = {"cursor": "2025-03-01T00:00:00Z", "key": "D"}
publish(url, SPEC, [rows(("B", "999.00", "79"), ("D", "7.00", "79"))], data_dir=data_dir,
        state=StateCommit("land", "parcels", S1, S2))
"""


@pytest.mark.parametrize("point", ["after_stage", "after_merge", "after_snapshot", "before_commit", "after_commit"])
def test_killed_publish_is_all_or_nothing(db_url: str, tmp_path: Path, point: str) -> None:
    publish(db_url, SPEC, [rows(("A", "1.00", "01"), ("B", "2.00", "79"), ("C", "3.00", "01"))],
            data_dir=tmp_path, state=StateCommit("land", "parcels", None, S1))
    before = current(db_url)

    child = subprocess.run(
        [sys.executable, "-c", CHILD, db_url, str(tmp_path)],
        env={**os.environ, "LIENTHONG_FAILPOINT": point}, cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]

    if point == "after_commit":
        # The commit happened: the data and the cursor moved together; only the file pointer lags.
        assert read_state(db_url, "land", "parcels") == S2
        state_for_rerun = S2
    else:
        assert current(db_url) == before
        assert read_state(db_url, "land", "parcels") == S1
        assert snapshots.current_version(tmp_path, SPEC.name) == 1
        assert snapshots.read_version(tmp_path, SPEC.name).num_rows == 3
        state_for_rerun = S1

    rerun = publish(db_url, SPEC, [rows(("B", "999.00", "79"), ("D", "7.00", "79"))], data_dir=tmp_path,
                    state=StateCommit("land", "parcels", state_for_rerun, S2))
    assert rerun.version == 2
    assert snapshots.current_version(tmp_path, SPEC.name) == 2
    assert read_state(db_url, "land", "parcels") == S2
    after = current(db_url)
    assert sorted(after) == ["A", "B", "C", "D"] and str(after["B"]) == "999.00"
    # Exactly once: one live row per key, two versions of B in all, one version of D.
    t = db.serving_table(SPEC.name, SPEC.schema, SPEC.primary_key)
    with db.engine_for(db_url).connect() as conn:
        per_key = sa.select(t.c.parcel_id, sa.func.count()).group_by(t.c.parcel_id)
        versions: dict[str, int] = dict(conn.execute(per_key).all())
    assert versions == {"A": 1, "B": 2, "C": 1, "D": 1}
    assert json.loads((tmp_path / "datasets" / SPEC.name / "v000002" / "manifest.json").read_text())["rows"] == 4
    leftovers = [p.name for p in (tmp_path / "datasets" / SPEC.name).iterdir() if ".tmp-" in p.name]
    assert leftovers == []
