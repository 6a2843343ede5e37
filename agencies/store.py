"""One agency's records in its own SQLite file, each kept in its wire form next to its feed position.

Table `records(dataset, key, updated_at, deleted, body)`: `body` is the record's JSON text as the REST
front ends serve it, so a page is a join of stored strings; SOAP front ends get dicts from `changes()`.
Indexed on (dataset, updated_at, key) for the change feed and (dataset, key) for get-by-key and key
listing. The simulated clock and the world's parameters live in `meta`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from agencies.base import DATASETS, AgencyName, FeedPosition, Record
from agencies.datasets import spec
from agencies.world import EPOCH, World, iso, parse_iso

_loads: Callable[[str], Any] = json.loads
try:  # orjson parses stored records 2-3x faster for the dict path (SOAP); it comes with our lock
    import orjson

    _loads = orjson.loads
except ImportError:  # pragma: no cover
    pass

Row = tuple[str, str, str]  # (updated_at, key, body JSON)
_OFFSET_CACHE_SIZE = 4096


def dumps(record: Record) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


class SqliteStore:
    """`agencies.base.Store` over one SQLite file; safe to share between threads (a connection each)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"no simulator database at {self.path}")
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._offsets: OrderedDict[tuple[str, str, str, int], FeedPosition] = OrderedDict()
        self._counts: dict[tuple[str, str, str], int] = {}
        meta = self.meta()
        self.agency: AgencyName = meta["agency"]  # type: ignore[assignment]
        self.seed = int(meta["seed"])
        self.records = int(meta["records"])
        self.province = meta["province"]

    # --- building -------------------------------------------------------------------------------

    @classmethod
    def create(cls, path: Path, agency: AgencyName, world: World, chunk: int = 10_000) -> SqliteStore:
        """Generate the agency's initial records into a new file (streamed, bounded memory)."""
        from agencies.generate import initial_count, stream

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.partial")
        staging = partial.with_suffix(".staging")
        for leftover in (partial, staging):
            leftover.unlink(missing_ok=True)
        conn = sqlite3.connect(partial)
        try:
            conn.execute("ATTACH DATABASE ? AS staging", (str(staging),))
            conn.executescript(
                """
                PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
                PRAGMA staging.journal_mode = OFF; PRAGMA staging.synchronous = OFF;
                CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
                CREATE TABLE records (
                    dataset TEXT NOT NULL, key TEXT NOT NULL, updated_at TEXT NOT NULL,
                    deleted INTEGER NOT NULL DEFAULT 0, body TEXT NOT NULL
                );
                CREATE TABLE staging.records AS SELECT * FROM main.records WHERE 0;
                """
            )
            meta = {"agency": agency, "seed": str(world.seed), "records": str(world.records),
                    "province": world.province.code, "clock": iso(EPOCH), "advances": "0"}
            for dataset in DATASETS[agency]:
                count = initial_count(world, dataset)
                meta[f"next:{dataset}"] = str(count)
                ds = spec(dataset)
                for records in stream(world, dataset, 0, count, chunk):
                    conn.executemany(
                        "INSERT INTO staging.records (dataset, key, updated_at, deleted, body) VALUES (?, ?, ?, 0, ?)",
                        [(dataset, ds.key_of(r), ds.feed_time(r), dumps(r)) for r in records],
                    )
                conn.commit()
            conn.executemany("INSERT INTO meta VALUES (?, ?)", sorted(meta.items()))
            # Stored in feed order, so a page of the change feed reads neighbouring pages of the
            # file rather than a thousand scattered ones (twice the serving rate at 100k records).
            conn.executescript(
                """
                INSERT INTO main.records SELECT * FROM staging.records ORDER BY dataset, updated_at, key;
                CREATE UNIQUE INDEX records_key ON records (dataset, key);
                CREATE INDEX records_feed ON records (dataset, updated_at, key);
                """
            )
            conn.commit()
            conn.execute("DETACH DATABASE staging")
        finally:
            conn.close()
            staging.unlink(missing_ok=True)
        os.replace(partial, path)
        return cls(path)

    # --- connections and meta -------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            self._local.conn = conn
        return conn

    def meta(self) -> dict[str, str]:
        return dict(self._conn().execute("SELECT name, value FROM meta").fetchall())

    def _clock_text(self) -> str:
        row = self._conn().execute("SELECT value FROM meta WHERE name = 'clock'").fetchone()
        return str(row[0])

    def clock(self) -> datetime:
        return parse_iso(self._clock_text())

    def world(self) -> World:
        return World(self.seed, self.records, self.province)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # --- the change feed ------------------------------------------------------------------------

    def changes_raw(self, dataset: str, since: datetime, after: FeedPosition | None, limit: int) -> list[Row]:
        """(updated_at, key, body) rows with updated_at >= since, strictly after `after`, in feed order."""
        lower = iso(since)
        if after is None:
            sql = ("SELECT updated_at, key, body FROM records WHERE dataset = ? AND updated_at >= ? "
                   "ORDER BY updated_at, key LIMIT ?")
            params: tuple[Any, ...] = (dataset, lower, limit)
        else:
            lower = max(lower, after.updated_at)
            sql = ("SELECT updated_at, key, body FROM records WHERE dataset = ? AND updated_at >= ? "
                   "AND (updated_at > ? OR key > ?) ORDER BY updated_at, key LIMIT ?")
            params = (dataset, lower, after.updated_at, after.key, limit)
        return self._conn().execute(sql, params).fetchall()

    def before_raw(self, dataset: str, since: datetime, position: FeedPosition, limit: int) -> list[Row]:
        """Up to `limit` rows just before `position` (inclusive), in feed order: for duplicate pages."""
        rows = self._conn().execute(
            "SELECT updated_at, key, body FROM records WHERE dataset = ? AND updated_at >= ? "
            "AND updated_at <= ? AND (updated_at < ? OR key <= ?) ORDER BY updated_at DESC, key DESC LIMIT ?",
            (dataset, iso(since), position.updated_at, position.updated_at, position.key, limit),
        ).fetchall()
        return list(reversed(rows))

    def changes(self, dataset: str, since: datetime, after: FeedPosition | None, limit: int) -> list[Record]:
        return [_loads(body) for _, _, body in self.changes_raw(dataset, since, after, limit)]

    def page_at_offset(self, dataset: str, since: datetime, offset: int, limit: int) -> list[Row]:
        """Rows offset..offset+limit-1 of the feed since `since`.

        A client paging forward asks for the offset where the last page ended; that position is
        remembered (per clock), so the page is a keyset seek instead of an O(offset) scan. Same
        rows either way.
        """
        clock = self._clock_text()
        since_text = iso(since)
        if offset == 0:
            rows = self.changes_raw(dataset, since, None, limit)
        else:
            cached = self._offsets.get((dataset, since_text, clock, offset))
            if cached is not None:
                rows = self.changes_raw(dataset, since, cached, limit)
            else:
                rows = self._conn().execute(
                    "SELECT updated_at, key, body FROM records WHERE dataset = ? AND updated_at >= ? "
                    "ORDER BY updated_at, key LIMIT ? OFFSET ?",
                    (dataset, since_text, limit, offset),
                ).fetchall()
        if rows:
            self._offsets[(dataset, since_text, clock, offset + len(rows))] = FeedPosition(rows[-1][0], rows[-1][1])
            while len(self._offsets) > _OFFSET_CACHE_SIZE:
                self._offsets.popitem(last=False)
        return rows

    def count(self, dataset: str, since: datetime | None = None) -> int:
        since_text = iso(since) if since is not None else ""
        cache_key = (dataset, since_text, self._clock_text())
        cached = self._counts.get(cache_key)
        if cached is None:
            row = self._conn().execute(
                "SELECT count(*) FROM records WHERE dataset = ? AND updated_at >= ?", (dataset, since_text)
            ).fetchone()
            cached = self._counts[cache_key] = int(row[0])
            if len(self._counts) > _OFFSET_CACHE_SIZE:
                self._counts.clear()
        return cached

    # --- by key ---------------------------------------------------------------------------------

    def get_raw(self, dataset: str, key: str) -> str | None:
        row = self._conn().execute(
            "SELECT body FROM records WHERE dataset = ? AND key = ? AND deleted = 0", (dataset, key)
        ).fetchone()
        return None if row is None else str(row[0])

    def get(self, dataset: str, key: str) -> Record | None:
        body = self.get_raw(dataset, key)
        return None if body is None else _loads(body)

    def keys(self, dataset: str, after: str | None, limit: int) -> list[str]:
        rows = self._conn().execute(
            "SELECT key FROM records WHERE dataset = ? AND key > ? AND deleted = 0 ORDER BY key LIMIT ?",
            (dataset, after or "", limit),
        ).fetchall()
        return [str(r[0]) for r in rows]

    def keys_at_offset(self, dataset: str, offset: int, limit: int) -> list[str]:
        rows = self._conn().execute(
            "SELECT key FROM records WHERE dataset = ? AND deleted = 0 ORDER BY key LIMIT ? OFFSET ?",
            (dataset, limit, offset),
        ).fetchall()
        return [str(r[0]) for r in rows]

    def count_keys(self, dataset: str) -> int:
        cache_key = (dataset, "#keys", self._clock_text())
        cached = self._counts.get(cache_key)
        if cached is None:
            row = self._conn().execute(
                "SELECT count(*) FROM records WHERE dataset = ? AND deleted = 0", (dataset,)
            ).fetchone()
            cached = self._counts[cache_key] = int(row[0])
        return cached

    def key_of(self, dataset: str, record: Record) -> str:
        return spec(dataset).key_of(record)

    def all_rows(self, dataset: str) -> Iterator[tuple[str, int, str]]:
        """Every row (key, deleted, body) in feed order, tombstones included: for the ground truth."""
        yield from self._conn().execute(
            "SELECT key, deleted, body FROM records WHERE dataset = ? ORDER BY updated_at, key", (dataset,)
        )

    # --- changes over time ----------------------------------------------------------------------

    def advance(self, minutes: int) -> dict[str, Any]:
        """Move the clock and apply a deterministic batch of changes (see agencies.advance)."""
        from agencies.advance import apply_advance

        with self._write_lock:
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = apply_advance(conn, self.world(), self.agency, minutes)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        self._offsets.clear()
        self._counts.clear()
        return result
