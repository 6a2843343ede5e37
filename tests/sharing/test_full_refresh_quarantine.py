"""A full refresh deletes what the source no longer has, never what it sent badly: a key whose new record
the run quarantined keeps its published row, in the table, its history and the Parquet snapshot."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from sharing import db, snapshots
from sharing.publish import MergeCounts, PublishResult, publish, quarantined_rows
from sharing.spec import DatasetSpec
from sharing.staging import open_publication
from tests.sharing.test_publish import SPEC, current, rows

pytestmark = pytest.mark.integration

Publisher = Callable[..., PublishResult]


def _keys(*ids: str) -> pa.Table:
    return pa.table({"parcel_id": list(ids)})


def by_publish(url: str, data_dir: Path, batches: Sequence[pa.Table], quarantined: Sequence[str] = (),
               full_refresh: bool = True) -> PublishResult:
    """The one-call path (SQLite's commit, views, a hold's release): quarantined keys as flagged rows."""
    flagged = [quarantined_rows(SPEC, _keys(*quarantined))] if quarantined else []
    return publish(url, SPEC, [*batches, *flagged], data_dir=data_dir, full_refresh=full_refresh)


def by_publication(url: str, data_dir: Path, batches: Sequence[pa.Table], quarantined: Sequence[str] = (),
                   full_refresh: bool = True) -> PublishResult:
    """The sync's path: chunks and quarantined keys interleaved (staged in the run's transaction on PG)."""
    with open_publication(url, SPEC, data_dir=data_dir, full_refresh=full_refresh) as publication:
        for number, batch in enumerate(batches):
            publication.add(batch)
            if number == 0 and quarantined:
                publication.add_quarantined_keys(_keys(*quarantined))
        if not batches and quarantined:
            publication.add_quarantined_keys(_keys(*quarantined))
        return publication.commit()


PATHS = {"publish": by_publish, "publication": by_publication}


def history(url: str, key: str) -> list[tuple[Decimal, bool, int, int | None]]:
    t = db.serving_table(SPEC.name, SPEC.schema, SPEC.primary_key)
    with db.engine_for(url).connect() as conn:
        return [tuple(r) for r in conn.execute(
            sa.select(t.c.area_m2, t.c.is_deleted, t.c.version_from, t.c.version_to)
            .where(t.c.parcel_id == key).order_by(t.c.version_from))]


def snapshot_equals_database(url: str, data_dir: Path) -> dict[str, Decimal]:
    with db.engine_for(url).connect() as conn:
        in_db = snapshots.current_rows(conn, SPEC).sort_by([("parcel_id", "ascending")])
    on_disk = snapshots.read_version(data_dir, SPEC.name)
    assert on_disk.to_pylist() == in_db.to_pylist()
    return dict(zip(on_disk.column("parcel_id").to_pylist(), on_disk.column("area_m2").to_pylist(), strict=True))


V1 = rows(("A", "1.00", "01"), ("B", "2.00", "79"), ("C", "3.00", "01"), ("D", "4.00", "48"))


@pytest.mark.parametrize("path", sorted(PATHS))
def test_a_quarantined_key_keeps_its_published_row_and_an_absent_one_is_deleted(
        path: str, db_url: str, tmp_path: Path) -> None:
    publish_with = PATHS[path]
    publish(db_url, SPEC, [V1], data_dir=tmp_path)
    # B's new record was quarantined, D is gone at the source, C changed, E is new.
    r = publish_with(db_url, tmp_path, [rows(("A", "1.00", "01"), ("C", "3.50", "01")), rows(("E", "5.00", "01"))],
                     quarantined=["B"])
    assert (r.version, r.inserted, r.updated, r.deleted, r.unchanged, r.kept) == (2, 1, 1, 1, 1, 1)
    expected = {"A": Decimal("1.00"), "B": Decimal("2.00"), "C": Decimal("3.50"), "E": Decimal("5.00")}
    assert current(db_url) == expected
    assert history(db_url, "B") == [(Decimal("2.00"), False, 1, None)]  # untouched: no new version of B
    assert history(db_url, "D") == [(Decimal("4.00"), False, 1, 2), (Decimal("4.00"), True, 2, None)]
    assert snapshot_equals_database(db_url, tmp_path) == expected
    assert snapshots.read_manifest(tmp_path, SPEC.name, 2)["content_hash"] == r.content_hash

    # The next good record of B replaces it as usual; a full refresh without B now deletes it.
    r3 = publish_with(db_url, tmp_path, [rows(("A", "1.00", "01"), ("B", "2.50", "79"))])
    assert (r3.updated, r3.deleted, r3.kept) == (1, 2, 0)
    assert current(db_url) == {"A": Decimal("1.00"), "B": Decimal("2.50")}
    assert snapshot_equals_database(db_url, tmp_path) == current(db_url)


@pytest.mark.parametrize("path", sorted(PATHS))
def test_only_quarantined_keys_that_are_published_are_kept(path: str, db_url: str, tmp_path: Path) -> None:
    publish_with = PATHS[path]
    publish(db_url, SPEC, [V1], data_dir=tmp_path)
    # first sight of X (quarantined): stays absent; D deleted before, quarantined now: stays deleted
    publish_with(db_url, tmp_path, [rows(("A", "1.00", "01"), ("B", "2.00", "79"), ("C", "3.00", "01"))])
    r = publish_with(db_url, tmp_path, [rows(("A", "1.00", "01"))], quarantined=["X", "D", "B", "B"])
    assert (r.deleted, r.kept, r.inserted) == (1, 1, 0)  # C deleted; B kept; X and D not brought in
    assert current(db_url) == {"A": Decimal("1.00"), "B": Decimal("2.00")}
    assert history(db_url, "X") == []
    assert snapshot_equals_database(db_url, tmp_path) == current(db_url)


@pytest.mark.parametrize("path", sorted(PATHS))
def test_quarantined_keys_change_nothing_outside_a_full_refresh(path: str, db_url: str, tmp_path: Path) -> None:
    publish_with = PATHS[path]
    publish(db_url, SPEC, [V1], data_dir=tmp_path)
    r = publish_with(db_url, tmp_path, [], quarantined=["B", "X"], full_refresh=False)
    assert (r.new_version, r.version, r.deleted, r.kept) == (False, 1, 0, 0)
    r = publish_with(db_url, tmp_path, [rows(("C", "3.25", "01"))], quarantined=["B"], full_refresh=False)
    assert (r.version, r.updated, r.deleted) == (2, 1, 0)
    assert current(db_url) == {"A": Decimal("1.00"), "B": Decimal("2.00"), "C": Decimal("3.25"),
                               "D": Decimal("4.00")}
    assert snapshot_equals_database(db_url, tmp_path) == current(db_url)


def test_a_held_full_refresh_keeps_its_quarantined_keys_for_the_release(db_url: str, tmp_path: Path) -> None:
    """A refused commit (a hold) reads the stage back; released from its Parquet files, B is still kept."""
    publish(db_url, SPEC, [V1], data_dir=tmp_path)
    seen: list[MergeCounts] = []

    class Held(Exception):
        pass

    def refuse(_conn: sa.Connection, counts: MergeCounts, _version: int) -> None:
        seen.append(counts)
        raise Held

    folder = tmp_path / "held"
    folder.mkdir()
    with open_publication(db_url, SPEC, data_dir=tmp_path, full_refresh=True) as publication:
        publication.add(rows(("A", "1.00", "01"), ("C", "3.00", "01")))
        publication.add_quarantined_keys(_keys("B"))
        with pytest.raises(Held):
            publication.commit(guard=refuse)
        for number, table in enumerate(publication.staged_tables()):
            pq.write_table(table, folder / f"part-{number:05d}.parquet")
    assert (seen[0].deleted, seen[0].kept) == (1, 1)  # the guard sees D deleted, B kept
    assert current(db_url) == {"A": Decimal("1.00"), "B": Decimal("2.00"), "C": Decimal("3.00"),
                               "D": Decimal("4.00")}

    released = publish(db_url, SPEC, [pq.read_table(p) for p in sorted(folder.glob("*.parquet"))],
                       data_dir=tmp_path, full_refresh=True)
    assert (released.deleted, released.kept) == (1, 1)
    assert current(db_url) == {"A": Decimal("1.00"), "B": Decimal("2.00"), "C": Decimal("3.00")}
    assert snapshot_equals_database(db_url, tmp_path) == current(db_url)


def test_the_snapshot_is_rebuilt_from_the_database_when_the_last_one_is_gone(sqlite_url: str, tmp_path: Path
                                                                             ) -> None:
    import shutil

    publish(sqlite_url, SPEC, [V1], data_dir=tmp_path)
    shutil.rmtree(snapshots.version_dir(tmp_path, SPEC.name, 1))
    r = by_publish(sqlite_url, tmp_path, [rows(("A", "1.00", "01"))], quarantined=["C"])
    assert (r.deleted, r.kept) == (2, 1)
    assert snapshot_equals_database(sqlite_url, tmp_path) == {"A": Decimal("1.00"), "C": Decimal("3.00")}


FEED_SCHEMA = pa.schema([pa.field("source", pa.string(), nullable=False), pa.field("permit_no", pa.string(),
                                                                                    nullable=False),
                         pa.field("floors", pa.int64())])


def _feed(source: str, global_keys: bool) -> DatasetSpec:
    key = ("permit_no",) if global_keys else ("source", "permit_no")
    return DatasetSpec("permits_fed", key, FEED_SCHEMA, scope=("source", source))


def _fed(source: str, *pairs: tuple[str, int]) -> pa.Table:
    return pa.Table.from_pylist([{"source": source, "permit_no": k, "floors": f} for k, f in pairs],
                                schema=FEED_SCHEMA)


def _fed_current(url: str, data_dir: Path, spec: DatasetSpec) -> dict[tuple[str, str], int]:
    with db.engine_for(url).connect() as conn:
        in_db = snapshots.current_rows(conn, spec).sort_by([(k, "ascending") for k in FEED_SCHEMA.names])
    on_disk = snapshots.read_version(data_dir, spec.name).sort_by([(k, "ascending") for k in FEED_SCHEMA.names])
    assert on_disk.to_pylist() == in_db.to_pylist()
    return {(r["source"], r["permit_no"]): r["floors"] for r in in_db.to_pylist()}


@pytest.mark.parametrize("global_keys", [False, True], ids=["per_source", "global"])
@pytest.mark.parametrize("path", ["publish", "publication"])
def test_a_scoped_full_refresh_keeps_its_quarantined_keys_and_never_reaches_another_source(
        path: str, global_keys: bool, db_url: str, tmp_path: Path) -> None:
    """A dataset fed by several sources: the district's full refresh deletes its own gone keys only, keeps
    its quarantined ones (the key given without the feed column, as the validation of a global key gives it)."""
    district, office = _feed("district", global_keys), _feed("construction", global_keys)
    publish(db_url, office, [_fed("construction", ("P1", 1), ("P2", 2))], data_dir=tmp_path)
    publish(db_url, district, [_fed("district", ("D1", 1), ("D2", 2), ("D3", 3))], data_dir=tmp_path)
    keys = pa.table({"permit_no": ["D2", "P1"]})  # P1 is the office's: nothing of the district's to keep
    if path == "publish":
        r = publish(db_url, district, [_fed("district", ("D1", 5)), quarantined_rows(district, keys)],
                    data_dir=tmp_path, full_refresh=True)
    else:
        with open_publication(db_url, district, data_dir=tmp_path, full_refresh=True) as publication:
            publication.add(_fed("district", ("D1", 5)))
            publication.add_quarantined_keys(keys)
            r = publication.commit()
    assert (r.updated, r.deleted, r.kept) == (1, 1, 1)
    assert _fed_current(db_url, tmp_path, district) == {
        ("construction", "P1"): 1, ("construction", "P2"): 2, ("district", "D1"): 5, ("district", "D2"): 2}
