"""A `permits` published before its contract declared `feeds:` moves to the new key on its next publish.

Such a table has no `source` column and its one-current-row index is on `permit_no` alone: the district's
first publish would fail on it, and the province's rows (source NULL) would be outside every scope. The
publish adds the column, names the owner on the old rows and rebuilds the index on (source, permit_no);
a key that can no longer be unique is refused naming the dataset (issue 19).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.errors import ConfigError
from schemas.contract import feed_of, get_contract
from sharing import db, snapshots
from sharing.publish import publish
from sharing.spec import dataset_spec
from tests.sharing.tables import filled

pytestmark = pytest.mark.integration

OLD = ["GPXD-2024-000001", "GPXD-2024-000002", "GPXD-2024-000003"]


def _current(url: str) -> set[tuple[str, str, str]]:
    with db.engine_for(url).connect() as conn:
        return {tuple(r) for r in conn.execute(sa.text("SELECT source, permit_no, investor_name FROM ds_permits "
                                                       "WHERE valid_to IS NULL AND NOT is_deleted"))}


def test_permits_of_one_source_move_to_the_per_source_key(db_url: str, tmp_path: Path, registry: Path) -> None:
    data_dir = tmp_path / "data"
    province = dataset_spec(get_contract("permits"))
    before = dataclasses.replace(province, schema=province.schema.remove(province.schema.get_field_index("source")),
                                 primary_key=("permit_no",), scope=None, outranked_by=None)
    rows = filled("permits", 3, {"permit_no": OLD, "investor_name": ["A", "B", "C"]}).drop_columns(["source"])
    publish(db_url, before, [rows], data_dir=data_dir)

    district = dataset_spec(feed_of("permits", "district"))
    assert district.primary_key == ("source", "permit_no")
    sent = filled("permits", 2, {"source": ["district"] * 2, "permit_no": ["01/GPXD-UBND", OLD[0]],
                                 "investor_name": ["D", "E"]})
    result = publish(db_url, district, [sent], data_dir=data_dir)
    assert result.inserted == 2 and result.updated == result.deleted == 0
    expected = {("construction", p, n) for p, n in zip(OLD, "ABC", strict=True)} | {
        ("district", "01/GPXD-UBND", "D"), ("district", OLD[0], "E")}
    assert _current(db_url) == expected
    engine = db.engine_for(db_url)
    (index,) = [i for i in sa.inspect(engine).get_indexes("ds_permits") if i["name"] == "ux_ds_permits_current"]
    assert index["column_names"] == ["source", "permit_no"] and index["unique"]

    # the province's own rows are in its scope again: a change is an update, not a second current row
    changed = filled("permits", 1, {"source": ["construction"], "permit_no": [OLD[1]], "investor_name": ["B2"]})
    assert publish(db_url, province, [changed], data_dir=data_dir).updated == 1
    expected = (expected - {("construction", OLD[1], "B")}) | {("construction", OLD[1], "B2")}
    assert _current(db_url) == expected
    snapshot = snapshots.read_version(data_dir, "permits", snapshots.current_version(data_dir, "permits"))
    assert set(zip(*(snapshot.column(c).to_pylist() for c in ("source", "permit_no", "investor_name")),
                   strict=True)) == expected

    # back to one key for all: two current rows share GPXD-2024-000001, so it is refused, nothing changed
    narrowed = dataclasses.replace(province, primary_key=("permit_no",))
    with pytest.raises(ConfigError, match=r"permits: its key is now \['permit_no'\] \(was \['source', "
                                          r"'permit_no'\]\), but two current rows share GPXD-2024-000001"):
        publish(db_url, narrowed, [changed], data_dir=data_dir)
    assert _current(db_url) == expected
    (index,) = [i for i in sa.inspect(engine).get_indexes("ds_permits") if i["name"] == "ux_ds_permits_current"]
    assert index["column_names"] == ["source", "permit_no"]
