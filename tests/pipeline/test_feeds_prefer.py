"""A global key sent by two sources, settled by a declared preference (`feeds: {settle: prefer}`, issue 19).

Two district registers number their permits alike (01/GPXD-UBND, 02/...), so every key of the second is
a key of the first. With `prefer: [ward]` the ward takes over the district's rows of those keys (their
history kept), the district's later sends of them are yielded, both counted in the run's summary; nothing
is quarantined, and the Parquet snapshot says what the database says. A preference naming a source that
does not feed the dataset, or one on keys per source, is refused naming the key.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from agencies.testing import running_simulator
from core.errors import ConfigError
from pipeline.sync import sync_source, sync_stream
from quality.store import quarantine
from sharing import db, snapshots
from tests.pipeline.test_permits_feeds import _deleted, _global_registry

pytestmark = pytest.mark.integration


def _prefer(registry: Path, **feeds: Any) -> None:
    path = registry / "contracts" / "register_permits.yaml"
    contract = yaml.safe_load(path.read_text(encoding="utf-8"))
    contract["feeds"] = {**contract["feeds"], **feeds}
    path.write_text(yaml.safe_dump(contract, allow_unicode=True), encoding="utf-8")


def _current(url: str) -> dict[str, tuple[str, Any]]:
    """permit_no -> (source, investor) of the current rows."""
    with db.engine_for(url).connect() as conn:
        rows = conn.execute(sa.text("SELECT permit_no, source, investor_name FROM ds_register_permits "
                                    "WHERE valid_to IS NULL AND NOT is_deleted")).all()
    return {permit: (source, investor) for permit, source, investor in rows}


def test_the_preferred_source_takes_over_a_key_and_the_other_yields_it(db_url: str, tmp_path: Path,
                                                                       registry: Path) -> None:
    _global_registry(registry)
    _prefer(registry, settle="prefer", prefer=["ward"])
    data_dir = tmp_path / "data"
    with ExitStack() as stack:
        district = stack.enter_context(running_simulator("district", records=400, seed=5, tmp_dir=tmp_path / "d"))
        ward = stack.enter_context(running_simulator("district", records=200, seed=9, tmp_dir=tmp_path / "w"))
        env = {"LIENTHONG_AGENCY_DISTRICT_URL": district.url, "LIENTHONG_AGENCY_WARD_URL": ward.url}
        (first,) = sync_source("district", url=db_url, data_dir=data_dir, environ=env)
        assert first.error is None, first.line()
        before = _current(db_url)
        assert {s for s, _ in before.values()} == {"district"} and len(before) == first.valid

        (second,) = sync_source("ward", url=db_url, data_dir=data_dir, environ=env)
        assert second.error is None and second.published, second.line()
        assert second.quarantined == 0 and second.valid == second.fetched == 40
        assert second.extra["keys_settled"] == {"taken_over": {"district": 40}, "yielded": {}}
        assert "took over 40 keys from district (feeds.prefer)" in second.line()
        after = _current(db_url)
        taken = {p for p, (s, _) in after.items() if s == "ward"}
        assert len(taken) == 40 and taken <= set(before)
        assert {p: v for p, v in after.items() if p not in taken} == {p: v for p, v in before.items()
                                                                      if p not in taken}
        assert any(after[p][1] != before[p][1] for p in taken)  # the ward's own values, not the district's
        with db.engine_for(db_url).connect() as conn:
            closed = set(conn.execute(sa.text(
                "SELECT permit_no FROM ds_register_permits WHERE source = 'district' AND valid_to IS NOT NULL"
            )).scalars())
        assert closed == taken  # the district's rows are history, not gone
        snapshot = snapshots.read_version(data_dir, "register_permits",
                                          snapshots.current_version(data_dir, "register_permits"))
        assert dict(zip(snapshot.column("permit_no").to_pylist(),
                        zip(snapshot.column("source").to_pylist(), snapshot.column("investor_name").to_pylist(),
                            strict=True), strict=True)) == after

        # the district sends everything again: the ward's keys are yielded, none of them deleted or quarantined
        again = sync_stream("district", "district_permits", url=db_url, data_dir=data_dir, environ=env,
                            full_refresh=True)
        _deleted(again, db_url, data_dir)
        assert again.extra["keys_settled"]["yielded"] == {"ward": 40}, again.line()
        assert {p for p, (s, _) in _current(db_url).items() if s == "ward"} == taken
        with db.engine_for(db_url).connect() as conn:
            held = conn.execute(sa.select(sa.func.count()).select_from(quarantine).where(
                quarantine.c.dataset == "register_permits", quarantine.c.rule == "key_conflict")).scalar_one()
        assert held == 0


def test_a_preference_that_cannot_hold_is_refused_naming_the_key(registry: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from schemas.contract import feed_contracts, load_contract_file

    _global_registry(registry)
    _prefer(registry, settle="prefer", prefer=["wrad", "district"])
    with pytest.raises(ConfigError, match=r"register_permits.yaml: feeds.prefer.0: 'wrad' feeds no "
                                          r"register_permits \(its sources: district, ward\)"):
        feed_contracts()
    path = registry / "contracts" / "register_permits.yaml"
    for feeds, message in (({"settle": "prefer", "prefer": []}, "feeds.prefer: give the sources by rank"),
                           ({"settle": "quarantine", "prefer": ["ward"]}, "feeds.prefer: give the sources"),
                           ({"keys": "per_source", "settle": "prefer", "prefer": ["ward"]},
                            "feeds.settle: prefer settles a global key")):
        _prefer(registry, **{"keys": "global", **feeds})
        with pytest.raises(ConfigError, match=message):
            load_contract_file(path)
