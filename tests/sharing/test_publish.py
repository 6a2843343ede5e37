"""Publishing merges batches exactly once, keeps history, and commits the cursor with the data."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import sqlalchemy as sa

from core.errors import Fatal
from sharing import db, snapshots
from sharing.publish import StateCommit, StateConflict, publish, read_state
from sharing.spec import DatasetSpec

pytestmark = pytest.mark.integration

SCHEMA = pa.schema([
    pa.field("parcel_id", pa.string(), nullable=False),
    pa.field("province_code", pa.string()),
    pa.field("area_m2", pa.decimal128(14, 2)),
    pa.field("floors", pa.int64()),
    pa.field("issued_date", pa.date32()),
    pa.field("updated_at", pa.timestamp("us", tz="UTC")),
    pa.field("active", pa.bool_()),
])
SPEC = DatasetSpec("parcels_test", ("parcel_id",), SCHEMA, contract_version="1.0", partition_by="province_code")


def rows(*specs: tuple[str, str, str], deleted: tuple[str, ...] = ()) -> pa.Table:
    records: list[dict[str, Any]] = []
    for pid, area, province in specs:
        records.append({
            "parcel_id": pid, "province_code": province, "area_m2": Decimal(area), "floors": 2,
            "issued_date": dt.date(2024, 5, 17), "updated_at": dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
            "active": True, "_deleted": False,
        })
    for pid in deleted:
        records.append({"parcel_id": pid, "_deleted": True})
    schema = SCHEMA.append(pa.field("_deleted", pa.bool_()))
    return pa.Table.from_pylist(records, schema=schema)


def current(url: str) -> dict[str, Decimal]:
    t = db.serving_table(SPEC.name, SPEC.schema, SPEC.primary_key)
    with db.engine_for(url).connect() as conn:
        live = sa.and_(t.c.valid_to.is_(None), t.c.is_deleted.is_(False))
        result = conn.execute(sa.select(t.c.parcel_id, t.c.area_m2).where(live))
        return {r[0]: r[1] for r in result}


def as_of(url: str, version: int) -> dict[str, Decimal]:
    """Rebuild a past state from the history columns alone."""
    t = db.serving_table(SPEC.name, SPEC.schema, SPEC.primary_key)
    live_then = sa.and_(
        t.c.version_from <= version,
        sa.or_(t.c.version_to.is_(None), t.c.version_to > version),
        t.c.is_deleted.is_(False),
    )
    with db.engine_for(url).connect() as conn:
        return {r[0]: r[1] for r in conn.execute(sa.select(t.c.parcel_id, t.c.area_m2).where(live_then))}


def test_merge_history_and_snapshots(db_url: str, tmp_path: Path) -> None:
    first = rows(("A", "100.50", "01"), ("B", "200.00", "79"), ("C", "5.25", "01"))
    r1 = publish(db_url, SPEC, [first], data_dir=tmp_path)
    assert (r1.version, r1.inserted, r1.updated, r1.deleted, r1.rows) == (1, 3, 0, 0, 3)

    again = publish(db_url, SPEC, [first], data_dir=tmp_path)
    assert (again.version, again.new_version, again.unchanged) == (1, False, 3)

    # B changes twice across pages (the last wins), C is deleted by tombstone, D is new.
    page1 = rows(("B", "201.00", "79"), ("D", "7.00", "79"))
    page2 = rows(("B", "202.00", "79"), deleted=("C", "ZZ"))
    r2 = publish(db_url, SPEC, [page1, page2], data_dir=tmp_path)
    assert (r2.version, r2.inserted, r2.updated, r2.deleted) == (2, 1, 1, 1)
    assert current(db_url) == {"A": Decimal("100.50"), "B": Decimal("202.00"), "D": Decimal("7.00")}
    assert as_of(db_url, 1) == {"A": Decimal("100.50"), "B": Decimal("200.00"), "C": Decimal("5.25")}

    v1 = snapshots.read_version(tmp_path, SPEC.name, 1)
    v2 = snapshots.read_version(tmp_path, SPEC.name)
    assert v1.column("parcel_id").to_pylist() == ["A", "B", "C"]
    assert v2.column("parcel_id").to_pylist() == ["A", "B", "D"]
    assert v2.schema == SCHEMA
    assert v2.column("area_m2").to_pylist() == [Decimal("100.50"), Decimal("202.00"), Decimal("7.00")]
    manifest = snapshots.read_manifest(tmp_path, SPEC.name, 2)
    assert manifest["rows"] == 3 and manifest["content_hash"] == r2.content_hash
    assert (tmp_path / "datasets" / SPEC.name / "v000002" / "province_code=79").is_dir()

    # Deleted and back again is a new live version.
    r3 = publish(db_url, SPEC, [rows(("C", "5.25", "01"))], data_dir=tmp_path)
    assert (r3.version, r3.inserted) == (3, 1) and "C" in current(db_url)


def test_content_hash_is_the_same_on_both_backends(tmp_path: Path, pg_url: str) -> None:
    data = rows(("A", "1.00", "01"), ("B", "2.00", "02"))
    on_sqlite = publish(f"sqlite:///{tmp_path / 'a.db'}", SPEC, [data], data_dir=tmp_path / "a")
    on_pg = publish(pg_url, DatasetSpec("parcels_hash", SPEC.primary_key, SCHEMA), [data], data_dir=tmp_path / "b")
    assert on_sqlite.content_hash == on_pg.content_hash


def test_full_refresh_deletes_what_the_source_no_longer_has(db_url: str, tmp_path: Path) -> None:
    publish(db_url, SPEC, [rows(("A", "1.00", "01"), ("B", "2.00", "01"), ("C", "3.00", "01"))], data_dir=tmp_path)
    r = publish(db_url, SPEC, [rows(("A", "1.00", "01"), ("C", "3.50", "01"))], data_dir=tmp_path, full_refresh=True)
    assert (r.deleted, r.updated, r.unchanged) == (1, 1, 1)
    assert current(db_url) == {"A": Decimal("1.00"), "C": Decimal("3.50")}


def test_deleted_keys_from_reconciliation(db_url: str, tmp_path: Path) -> None:
    publish(db_url, SPEC, [rows(("A", "1.00", "01"), ("B", "2.00", "01"))], data_dir=tmp_path)
    r = publish(db_url, SPEC, [], data_dir=tmp_path, deleted_keys=[("B",), ("never-seen",)])
    assert (r.version, r.deleted) == (2, 1)
    assert current(db_url) == {"A": Decimal("1.00")}


def test_state_commits_with_the_data_and_conflicts_are_refused(db_url: str, tmp_path: Path) -> None:
    s1 = StateCommit("land", "parcels", None, {"cursor": "2025-01-01T00:00:00Z"})
    publish(db_url, SPEC, [rows(("A", "1.00", "01"))], data_dir=tmp_path, state=s1)
    assert read_state(db_url, "land", "parcels") == {"cursor": "2025-01-01T00:00:00Z"}

    stale = StateCommit("land", "parcels", None, {"cursor": "2025-02-01T00:00:00Z"})
    with pytest.raises(StateConflict, match="another run published"):
        publish(db_url, SPEC, [rows(("B", "2.00", "01"))], data_dir=tmp_path, state=stale)
    assert current(db_url) == {"A": Decimal("1.00")}
    assert read_state(db_url, "land", "parcels") == {"cursor": "2025-01-01T00:00:00Z"}


def test_a_null_key_is_refused_and_nothing_is_published(db_url: str, tmp_path: Path) -> None:
    bad = pa.Table.from_pylist([{"parcel_id": None, "province_code": "01"}], schema=pa.schema([
        pa.field("parcel_id", pa.string()), pa.field("province_code", pa.string())]))
    with pytest.raises(Fatal, match="null key"):
        publish(db_url, SPEC, [bad], data_dir=tmp_path)
    assert snapshots.current_version(tmp_path, SPEC.name) is None


def test_snapshots_always_equal_the_database(db_url: str, tmp_path: Path) -> None:
    """The snapshot is built from the last one and the stage; it must match the merged database exactly."""
    import random

    rng = random.Random(11)
    universe = [f"K{i:03d}" for i in range(60)]
    for round_no in range(6):
        upserts = rng.sample(universe, 25)
        deletes = [k for k in rng.sample(universe, 6) if k not in upserts]
        batch = rows(*[(k, f"{rng.randint(1, 3)}.00", rng.choice(["01", "79", "48"])) for k in upserts],
                     deleted=tuple(deletes))
        result = publish(db_url, SPEC, [batch], data_dir=tmp_path, full_refresh=round_no == 3)
        from sharing import db as sharing_db

        with sharing_db.engine_for(db_url).connect() as conn:
            in_db = snapshots.current_rows(conn, SPEC).sort_by([("parcel_id", "ascending")])
        on_disk = snapshots.read_version(tmp_path, SPEC.name)
        assert on_disk.to_pylist() == in_db.to_pylist(), f"round {round_no}"
        assert snapshots.content_hash(in_db) == result.content_hash or not result.new_version


def test_first_publish_with_a_page_served_twice_keeps_the_last(db_url: str, tmp_path: Path) -> None:
    page1 = rows(("A", "1.00", "01"), ("B", "2.00", "01"))
    page2 = rows(("B", "2.50", "01"), ("A", "1.00", "01"), ("C", "3.00", "79"))
    r = publish(db_url, SPEC, [page1, page2], data_dir=tmp_path)
    assert (r.version, r.inserted, r.rows) == (1, 3, 3)
    assert current(db_url) == {"A": Decimal("1.00"), "B": Decimal("2.50"), "C": Decimal("3.00")}
    assert snapshots.read_version(tmp_path, SPEC.name).column("parcel_id").to_pylist() == ["A", "B", "C"]


@pytest.mark.parametrize("n", [0, 1, 2, 7])
def test_last_wins_on_composite_keys(n: int) -> None:
    import pyarrow.compute as pc

    from sharing.publish import _sorted_last_wins

    table = pa.table({"a": pa.array([2, 1, 2, 1, 2, 1, 2][:n], pa.int64()),
                      "b": pa.array(["x", "y", "x", "y", "z", "y", "x"][:n], pa.string())})
    table = table.append_column("_seq", pa.array(range(n), pa.int64()))
    out = _sorted_last_wins(table, ("a", "b"))
    expected: dict[tuple[int, str], int] = {}
    for a, b, seq in zip(table["a"].to_pylist(), table["b"].to_pylist(), table["_seq"].to_pylist(), strict=True):
        expected[(a, b)] = seq
    assert sorted(zip(out["a"].to_pylist(), out["b"].to_pylist(), out["_seq"].to_pylist(), strict=True)) == sorted(
        (a, b, s) for (a, b), s in expected.items())
    assert pc.all(pc.greater_equal(out["a"].slice(1), out["a"].slice(0, max(out.num_rows - 1, 0)))).as_py() in (
        True, None)
