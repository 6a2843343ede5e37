"""The SQLite store: feed order and bounds, the clock, advances and deletes, byte-for-byte determinism."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest

from agencies.base import DATASETS, FeedPosition, Store
from agencies.store import SqliteStore
from agencies.world import EPOCH, World, parse_iso

pytestmark = pytest.mark.unit

N = 1000


def _store(tmp_path: Path, agency: str, seed: int = 3, name: str = "a") -> SqliteStore:
    return SqliteStore.create(tmp_path / f"{name}-{agency}.sqlite", agency, World(seed, N))  # type: ignore[arg-type]


def _digest(store: SqliteStore) -> str:
    h = hashlib.sha256()
    for dataset in DATASETS[store.agency]:
        for key, deleted, body in store.all_rows(dataset):
            h.update(f"{key}|{deleted}|{body}\n".encode())
    h.update(repr(sorted(store.meta().items())).encode())
    return h.hexdigest()


def test_it_implements_the_store_protocol(tmp_path: Path) -> None:
    store: Store = _store(tmp_path, "land")
    assert store.clock() == EPOCH
    assert store.count("parcels") == 750 and store.count("land_certificates") == 250


@pytest.mark.parametrize("agency", ["land", "business", "construction", "tax", "treasury", "district"])
def test_same_seed_same_bytes_through_advances(tmp_path: Path, agency: str) -> None:
    one, two = _store(tmp_path, agency, name="one"), _store(tmp_path, agency, name="two")
    for store in (one, two):
        store.advance(30)
        store.advance(7)
    assert _digest(one) == _digest(two)
    assert _digest(one) != _digest(_store(tmp_path, agency, seed=4, name="other"))


def test_feed_is_ordered_inclusive_and_resumes_strictly_after(tmp_path: Path) -> None:
    store = _store(tmp_path, "construction")
    everything = store.changes_raw("permits", parse_iso("1970-01-01T00:00:00Z"), None, 10_000)
    assert [(u, k) for u, k, _ in everything] == sorted((u, k) for u, k, _ in everything)
    middle = everything[400]
    since = parse_iso(middle[0])
    from_since = store.changes("permits", since, None, 10_000)
    assert from_since[0]["updated_at"] == middle[0]  # inclusive
    assert len(from_since) == store.count("permits", since)
    after = store.changes_raw("permits", since, FeedPosition(middle[0], middle[1]), 5)
    assert [r[1] for r in after] == [r[1] for r in everything[401:406]]


def test_offset_pages_equal_keyset_pages(tmp_path: Path) -> None:
    store = _store(tmp_path, "construction")
    since = parse_iso("2022-01-01T00:00:00Z")
    walked = [row for offset in range(0, 1200, 100) for row in store.page_at_offset("permits", since, offset, 100)]
    cold = SqliteStore(store.path)  # no remembered positions: plain OFFSET
    jumped = [row for offset in range(1100, -1, -100) for row in cold.page_at_offset("permits", since, offset, 100)]
    assert sorted(walked) == sorted(jumped) and len(walked) == store.count("permits", since)


@pytest.mark.parametrize(("agency", "style"), [("land", "tombstone"), ("tax", "tombstone"),
                                               ("business", "absence"), ("construction", "absence")])
def test_advance_changes_about_1_percent_inside_the_window_with_the_documented_deletes(
    tmp_path: Path, agency: str, style: str,
) -> None:
    store = _store(tmp_path, agency)
    before = {d: {k: b for k, _, b in store.all_rows(d)} for d in DATASETS[store.agency]}
    result = store.advance(60)
    assert store.clock() == EPOCH + timedelta(minutes=60)
    assert result["inserted"] + result["updated"] + result["deleted"] >= 10
    touched = 0
    for dataset in DATASETS[store.agency]:
        key_field = store_key_field(dataset)
        window = store.changes(dataset, EPOCH, None, 10_000)
        after = {k: b for k, _, b in store.all_rows(dataset)}
        assert all(EPOCH < parse_iso(r.get("updated_at") or r["updatedAt"]) <= store.clock() for r in window)
        # the window holds exactly the records whose stored form changed (initial ones end in 2025)
        differing = {k for k, b in after.items() if before[dataset].get(k) != b}
        assert {store.key_of(dataset, r) for r in window} == differing
        gone = before[dataset].keys() - after.keys()
        tombstones = [r for r in window if r.get("deleted") is True]
        if style == "absence":
            assert not tombstones
        else:
            assert not gone
            for t in tombstones:
                key = store.key_of(dataset, t)
                assert store.get(dataset, key) is None and key not in store.keys(dataset, None, 100_000)
                if agency == "tax":
                    assert set(t) == {key_field, "deleted", "updated_at"}
        touched += len(differing) + len(gone)
    assert 5 <= touched <= result["inserted"] + result["updated"] + result["deleted"]
    if style == "absence":
        assert result["deleted"] > 0


def store_key_field(dataset: str) -> str:
    from agencies.datasets import spec

    return spec(dataset).key_fields[0]


def test_advance_refuses_a_clock_that_does_not_move(tmp_path: Path) -> None:
    store = _store(tmp_path, "tax")
    with pytest.raises(ValueError, match="at least one minute"):
        store.advance(0)
    assert store.clock() == EPOCH
