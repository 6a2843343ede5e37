"""Publishing as the rows arrive: chunks staged during the run, one version at the commit, nothing on abort."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from sharing import snapshots
from sharing.publish import StateCommit, publish, read_state
from sharing.staging import open_publication
from tests.sharing.test_publish import SPEC, current, rows


def many(start: int, count: int, area: str = "10.00") -> pa.Table:
    return rows(*[(f"P{i:06d}", area, "01" if i % 3 else "79") for i in range(start, start + count)])


@pytest.mark.unit
def test_the_content_hash_does_not_depend_on_how_the_rows_are_sliced() -> None:
    table = pa.concat_tables([many(0, 700), rows(("Q1", "1.50", "01"))]).drop_columns(["_deleted"])
    table = table.set_column(1, "province_code", pa.array([None if i % 7 == 0 else "01"
                                                           for i in range(table.num_rows)], pa.string()))
    whole = snapshots.content_hash(table)
    for size in (1, 3, 64, 700):
        hasher = snapshots.ContentHash(table.schema)
        for offset in range(0, table.num_rows, size):
            hasher.update(table.slice(offset, size))
        assert hasher.hexdigest() == whole, size
    changed = table.set_column(2, "area_m2", pa.array([Decimal("1.00")] * table.num_rows, SPEC.schema.field(2).type))
    assert snapshots.content_hash(changed) != whole


@pytest.mark.integration
def test_chunks_staged_apart_publish_as_one_version(db_url: str, tmp_path: Path) -> None:
    """Same rows, same result as one `publish`; a key staged twice keeps its last copy; the snapshot equals
    the database and hashes the same as the batch path would."""
    data = tmp_path / "data"
    state = StateCommit("src", "parcels", None, {"cursor": "2025-01-01T00:00:00Z"})
    with open_publication(db_url, SPEC, data_dir=data, run_id="r1") as publication:
        publication.add(many(0, 500))
        publication.add(many(400, 300, area="20.00"))  # 400-499 again, changed: the later copy wins
        publication.add_deleted_keys([("P000010",), ("P000011",)])
        result = publication.commit(state=state)
    assert result.version == 1 and result.inserted == 698 and result.staged == 700
    live = current(db_url)
    assert len(live) == 698 and "P000010" not in live
    assert live["P000450"] == Decimal("20.00") and live["P000399"] == Decimal("10.00")
    snapshot = snapshots.read_version(data, SPEC.name)
    assert snapshot.num_rows == 698 and snapshots.content_hash(snapshot) == result.content_hash
    assert read_state(db_url, "src", "parcels") == {"cursor": "2025-01-01T00:00:00Z"}

    # the batch path on a second database gives the same version, row for row and hash for hash
    other = publish(f"sqlite:///{tmp_path / 'other.db'}", SPEC, [many(0, 500), many(400, 300, area="20.00")],
                    data_dir=tmp_path / "other", deleted_keys=[("P000010",), ("P000011",)])
    assert other.content_hash == result.content_hash and other.rows == result.rows

    # a second version: an update, a delete, an unchanged row
    with open_publication(db_url, SPEC, data_dir=data) as publication:
        publication.add(rows(("P000001", "99.00", "01"), ("P000002", "10.00", "01"), deleted=("P000003",)))
        second = publication.commit(state=StateCommit("src", "parcels", state.new, {"cursor": "2"}))
    assert (second.version, second.updated, second.deleted, second.unchanged) == (2, 1, 1, 1)
    assert snapshots.content_hash(snapshots.read_version(data, SPEC.name)) == second.content_hash
    assert snapshots.read_version(data, SPEC.name, 1).num_rows == 698  # time travel still reads v1


@pytest.mark.integration
def test_a_publication_left_without_commit_publishes_nothing(db_url: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    publish(db_url, SPEC, [many(0, 10)], data_dir=data)
    with open_publication(db_url, SPEC, data_dir=data) as publication:
        publication.add(many(0, 50, area="30.00"))
    assert len(current(db_url)) == 10 and set(current(db_url).values()) == {Decimal("10.00")}
    assert snapshots.current_version(data, SPEC.name) == 1
    # the stage is gone with its transaction: the next run starts clean
    with open_publication(db_url, SPEC, data_dir=data) as publication:
        publication.add(many(5, 10, area="30.00"))
        result = publication.commit()
    assert (result.version, result.inserted, result.updated, result.unchanged) == (2, 5, 5, 0)
    assert dt.date(2024, 5, 17) in snapshots.read_version(data, SPEC.name).column("issued_date").to_pylist()
