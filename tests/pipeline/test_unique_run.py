"""A column declared unique (`expect: {unique: true}`) holds across the chunks of a run and against the
published dataset, not only within the chunk GX validates (issue 19; issue 15 point 2).

The district registers' `investor_id` repeats (an investor holds several permits); declared unique on a
dataset with global keys and synced in chunks of 20 rows, a value sent again under another key in a later
chunk is quarantined (`unique_run`), as is one the published rows hold under another key, sent by the
register grown meanwhile (`unique_published`); each reason names the key that holds the value. Nothing
is lost, the published current rows hold every value once, and a replay does not release a held value.
"""

from __future__ import annotations

from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from agencies.testing import running_simulator
from pipeline.replay import replay
from pipeline.sync import sync_source, sync_stream
from quality.store import quarantine
from sharing import db
from tests.pipeline.test_permits_feeds import _global_registry

pytestmark = pytest.mark.integration


def _declare_unique(registry: Path, column: str) -> None:
    path = registry / "contracts" / "register_permits.yaml"
    contract = yaml.safe_load(path.read_text(encoding="utf-8"))
    for col in contract["columns"]:
        if col["name"] == column:
            col["expect"] = {**col.get("expect", {}), "unique": True}
    contract["failure_threshold"] = 1.0  # most investors hold several permits: most rows fail, by design
    path.write_text(yaml.safe_dump(contract, allow_unicode=True), encoding="utf-8")


def _published(url: str) -> dict[str, str]:
    """permit_no -> investor_id of the current rows."""
    with db.engine_for(url).connect() as conn:
        return dict(conn.execute(sa.text("SELECT permit_no, investor_id FROM ds_register_permits "
                                         "WHERE valid_to IS NULL AND NOT is_deleted")).all())


def _held(url: str, rule: str) -> list[tuple[str, str]]:
    with db.engine_for(url).connect() as conn:
        return [(v, r) for v, r in conn.execute(sa.select(quarantine.c.value, quarantine.c.reason).where(
            quarantine.c.dataset == "register_permits", quarantine.c.rule == rule))]


def test_a_unique_column_holds_across_chunks_and_against_the_published_rows(
        db_url: str, tmp_path: Path, registry: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _global_registry(registry)
    _declare_unique(registry, "investor_id")
    source = registry / "sources" / "district.yaml"  # pages of 10 rows, chunks of 20: values meet across chunks
    source.write_text(source.read_text(encoding="utf-8").replace("page_size: 500}", "page_size: 10}"),
                      encoding="utf-8")
    monkeypatch.setenv("LIENTHONG_CHUNK_ROWS", "20")
    data_dir = tmp_path / "data"
    with ExitStack() as stack:
        district = stack.enter_context(running_simulator("district", records=400, seed=5, tmp_dir=tmp_path / "d"))
        more = stack.enter_context(running_simulator("district", records=1200, seed=5, tmp_dir=tmp_path / "m"))
        env = {"LIENTHONG_AGENCY_DISTRICT_URL": district.url}

        (first,) = sync_source("district", url=db_url, data_dir=data_dir, environ=env)
        assert first.error is None and first.published, first.line()
        assert first.valid + first.quarantined == first.fetched, "a row was lost"
        published = _published(db_url)
        assert len(published) == first.valid
        assert max(Counter(published.values()).values()) == 1, "a unique value is published under two keys"
        across = _held(db_url, "unique_run")
        assert across, "the simulator's repeated investors never met across chunks: the test checks nothing"
        holders = {investor: permit for permit, investor in published.items()}
        for value, reason in across:
            assert value in holders and f"is already held by permit_no {holders[value]} earlier in this run" \
                in reason, reason

        # the register grows: new permits, some to investors whose value is published under another key
        second = sync_stream("district", "district_permits", url=db_url, data_dir=data_dir,
                             environ={"LIENTHONG_AGENCY_DISTRICT_URL": more.url}, full_refresh=True)
        assert second.error is None, second.line()
        assert second.valid + second.quarantined == second.fetched
        after = _published(db_url)
        assert max(Counter(after.values()).values()) == 1, "a unique value is published under two keys"
        against = _held(db_url, "unique_published")
        assert against, "no new permit named a published investor: the test checks nothing"
        for value, reason in against:
            assert value in holders and f"permit_no {holders[value]} (district), published" in reason, reason
            assert after[holders[value]] == value  # the holder keeps it
        assert {p: v for p, v in after.items() if p in published and after[p] == published[p]}, "nothing kept"

    # replayed, a row whose value a published row still holds stays quarantined; what is released is free
    engine = db.engine_for(db_url)
    with engine.connect() as conn:
        held_ids = set(conn.execute(sa.select(quarantine.c.id).where(
            quarantine.c.dataset == "register_permits", quarantine.c.rule == "unique_published",
            quarantine.c.status == "quarantined")).scalars())
    replayed = replay(engine, dataset="register_permits")
    assert held_ids and held_ids <= set(replayed.still_quarantined)
    for table in replayed.released.values():
        for permit, investor in zip(table.column("permit_no").to_pylist(), table.column("investor_id").to_pylist(),
                                    strict=True):
            assert investor not in {v for p, v in after.items() if p != permit}, f"{permit} released over a holder"
