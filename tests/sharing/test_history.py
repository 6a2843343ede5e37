"""As-of reads and change feeds from the history tables, checked against the states that were published."""

from __future__ import annotations

import datetime as dt
import random
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from sharing import db, history
from sharing.publish import publish
from tests.sharing.test_publish import SPEC, rows

pytestmark = pytest.mark.integration

COLUMNS = list(SPEC.schema.names)


def _publish_states(url: str, data_dir: Path, seed: int) -> list[dict[str, Decimal]]:
    """Publish five random versions (inserts, updates, tombstones); the state after each, from the inputs."""
    rng = random.Random(seed)
    truth: dict[str, Decimal] = {}
    states = []
    for _ in range(5):
        batch: list[tuple[str, str, str]] = []
        deleted: list[str] = []
        for pid in rng.sample([f"P{i:03d}" for i in range(40)], 15):
            if pid in truth and rng.random() < 0.3:
                deleted.append(pid)
                truth.pop(pid)
            else:
                area = f"{rng.randint(10, 999)}.50"
                batch.append((pid, area, "31"))
                truth[pid] = Decimal(area)
        publish(url, SPEC, [rows(*batch, deleted=tuple(deleted))], data_dir=data_dir)
        states.append(dict(truth))
        time.sleep(0.01)  # distinct publish times, for the timestamp form of as-of
    return states


def _as_of(conn: sa.Connection, version: int) -> dict[str, Decimal]:
    t = db.serving_table(SPEC.name, SPEC.schema, SPEC.primary_key)
    got = conn.execute(sa.select(t.c.parcel_id, t.c.area_m2).where(history.live_at(t, version)))
    return {pid: area for pid, area in got}


def test_as_of_every_version_and_time_equals_what_was_published(db_url: str, tmp_path: Path) -> None:
    states = _publish_states(db_url, tmp_path, seed=7)
    engine = db.engine_for(db_url)
    with engine.connect() as conn:
        for version, expected in enumerate(states, 1):
            assert _as_of(conn, version) == expected
            at = history.resolve(conn, SPEC.name, version)
            assert at.published_at is not None
            # A time between this version and the next resolves to this version.
            point = at.published_at if at.published_at.tzinfo else at.published_at.replace(tzinfo=dt.UTC)
            assert history.resolve(conn, SPEC.name, point + dt.timedelta(microseconds=1)).version == version
        assert history.resolve(conn, SPEC.name, None).version == len(states)
        with pytest.raises(history.NoSuchVersion, match=r"versions 1\.\.5, not 9"):
            history.resolve(conn, SPEC.name, 9)
        with pytest.raises(history.NoSuchVersion, match="had no version yet"):
            history.resolve(conn, SPEC.name, dt.datetime(2001, 1, 1, tzinfo=dt.UTC))


def _replay(changes: list[history.Change], start: dict[str, Decimal]) -> dict[str, Decimal]:
    state = dict(start)
    for c in changes:
        pid = c.key[0]
        if c.kind == "delete":
            assert pid in state, f"delete of {pid} that was not live"
            state.pop(pid)
        elif c.kind == "insert":
            assert pid not in state, f"insert of {pid} that was live"
            state[pid] = c.row["area_m2"]
        else:
            assert pid in state, f"update of {pid} that was not live"
            state[pid] = c.row["area_m2"]
    return state


@pytest.mark.parametrize("page", [1, 4, 500])
def test_change_feed_paged_by_cursor_replays_every_version_without_gaps_or_repeats(
        db_url: str, tmp_path: Path, page: int) -> None:
    states = _publish_states(db_url, tmp_path, seed=11)
    t = db.serving_table(SPEC.name, SPEC.schema, SPEC.primary_key)
    with db.engine_for(db_url).connect() as conn:
        for since in range(0, len(states)):
            seen: list[history.Change] = []
            after: tuple[int, Any] | None = None
            while True:
                got = history.changes(conn, t, SPEC.primary_key, COLUMNS, since=since, after=after, limit=page)
                seen.extend(got)
                if len(got) < page:
                    break
                after = (got[-1].version, got[-1].key)
            ordered = [(c.version, c.key) for c in seen]
            assert ordered == sorted(set(ordered)), "changes out of order or repeated"
            start = states[since - 1] if since else {}
            assert _replay(seen, start) == states[-1]
            # Replaying up to each version gives that version's state.
            for upto in range(since + 1, len(states) + 1):
                assert _replay([c for c in seen if c.version <= upto], start) == states[upto - 1]


@pytest.mark.unit
def test_points_are_versions_or_times() -> None:
    assert history.parse_point("12") == 12
    assert history.parse_point("v3") == 3
    assert history.parse_point(None) is None
    assert history.parse_point("2026-07-01T10:00:00") == dt.datetime(2026, 7, 1, 10, tzinfo=dt.UTC)
    assert history.parse_point("2026-07-01T10:00:00+07:00") == dt.datetime(2026, 7, 1, 3, tzinfo=dt.UTC)
    with pytest.raises(ValueError, match="neither a version number nor"):
        history.parse_point("yesterday")
