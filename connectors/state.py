"""Incremental sync state: a cursor, its tie-breaker keys, and (for reconciled streams) the key set.

The feeds are ordered by (updated_at, key) and `since` is inclusive, so the next sync asks from the
cursor and drops what it has seen: every record older than the cursor, and at the cursor itself every
key in `tie_keys`. That also drops records a duplicated page repeats. With a lookback window the sync
asks from `cursor - lookback` and passes records inside the window through again (downstream upserts
by key), so a late-stamped update is not lost.

State is a JSON-able dict, returned and never saved here: publishing commits it with the data.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

STATE_VERSION = 1
_INLINE_KEYS = 10_000  # more known keys than this are stored compressed (`known_keys_zlib`)


def encode_keys(keys: pa.Array) -> dict[str, Any]:
    """A key set for the state: a plain list when small, else zlib'd newline-joined text in base64
    (2,000,000 keys as a JSON list would be about 40 MB and 2,000,000 Python strings to build).
    Compressed a slice at a time, so no second full copy of the keys is held."""
    if len(keys) <= _INLINE_KEYS:
        return {"known_keys": keys.to_pylist()}
    packer = zlib.compressobj(6)
    parts = []
    for start in range(0, len(keys), _INLINE_KEYS):
        text = "\n".join(keys.slice(start, _INLINE_KEYS).to_pylist())
        parts.append(packer.compress((text if start == 0 else "\n" + text).encode("utf-8")))
    parts.append(packer.flush())
    return {"known_keys_zlib": base64.b64encode(b"".join(parts)).decode("ascii")}


def decode_keys(data: dict[str, Any]) -> pa.Array | None:
    if data.get("known_keys") is not None:
        return pa.array(list(data["known_keys"]), pa.string())
    if data.get("known_keys_zlib"):
        return split_lines(zlib.decompress(base64.b64decode(data["known_keys_zlib"])))
    return None


def split_lines(text: bytes) -> pa.Array:
    """Newline-joined UTF-8 keys as one large_string array. The bytes become the array's data without a
    copy: of 2,000,000 keys (36 MB), only the split array's own copy is made, not a Python str and an
    Arrow copy of it beside the bytes."""
    if not text:
        return pa.array([], pa.large_string())
    whole = pa.LargeStringArray.from_buffers(1, pa.py_buffer(pa.array([0, len(text)], pa.int64()).buffers()[1]),
                                             pa.py_buffer(text))
    whole.validate(full=True)  # UTF-8: a key set is read back only from what was written
    lines = pc.split_pattern(whole, "\n").flatten()
    del whole, text  # the caller passed its only reference: the bytes go before the listing is sorted
    return lines


def key_set(keys: pa.Array) -> pa.Array:
    """Unique keys in order. Sorted first, then neighbours compared: a hash table (`pc.unique`) over
    2,000,000 strings costs several times the keys' own size. Each intermediate is let go as soon as
    the next is made, and a set without duplicates (the usual listing) is not copied again."""
    if not (pa.types.is_string(keys.type) or pa.types.is_large_string(keys.type)):
        keys = keys.cast(pa.string())
    if len(keys) < 2:
        return keys
    indices = pc.array_sort_indices(keys)
    ordered = keys.take(indices)
    del keys, indices
    fresh = pc.not_equal(ordered.slice(1), ordered.slice(0, len(ordered) - 1))
    if pc.all(fresh).as_py():
        return ordered
    return ordered.filter(pa.concat_arrays([pa.array([True]), fresh]))


def _each(keys: pa.Array, step: int = 50_000) -> Iterator[str]:
    for start in range(0, len(keys), step):
        yield from keys.slice(start, step).to_pylist()


def missing_from(known: pa.Array, live: pa.Array) -> list[str]:
    """The keys of `known` not in `live` (both sorted and unique, as `key_set` gives them), by one
    merge pass a slice at a time: no hash table of every key. UTF-8 byte order (Arrow's sort) is
    code point order (Python's), so the two orders agree."""
    gone: list[str] = []
    others = _each(live)
    current = next(others, None)
    for key in _each(known):
        while current is not None and current < key:
            current = next(others, None)
        if current != key:
            gone.append(key)
    return gone


def parse_ts(value: object, zone: tzinfo = UTC) -> datetime | None:
    """A cursor value as an aware UTC datetime (wire strings end with Z; zeep gives datetimes).

    A value written without a zone is read in `zone` (the source's declared time zone)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=zone).astimezone(UTC)
    text = str(value)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=zone).astimezone(UTC)


def format_local(value: datetime, zone: tzinfo) -> str:
    """`since` for a system that knows no zones: `2025-06-01 07:00:00` in its zone."""
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def format_ts(value: datetime) -> str:
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text + "Z"


@dataclass(slots=True)
class StreamState:
    cursor: str | None = None
    tie_keys: list[str] = field(default_factory=list)
    known_keys: pa.Array | None = None  # reconciled streams: the live keys at the last reconciliation
    reconciled_at: str | None = None
    # The key set as stored, not decoded until a reconciliation needs it: a sync that does not reconcile
    # writes it back as it was (500,000 keys cost a second to unpack and pack again, for nothing).
    stored_keys: dict[str, Any] | None = None

    def keys(self) -> pa.Array | None:
        """The known key set (decoded on first use)."""
        if self.known_keys is None and self.stored_keys:
            self.known_keys = decode_keys(self.stored_keys)
        return self.known_keys

    @property
    def has_keys(self) -> bool:
        return self.known_keys is not None or bool(self.stored_keys)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> StreamState:
        if not data:
            return cls()
        return cls(
            cursor=data.get("cursor"), tie_keys=list(data.get("tie_keys") or []),
            stored_keys={k: data[k] for k in ("known_keys", "known_keys_zlib") if data.get(k) is not None} or None,
            reconciled_at=data.get("reconciled_at"),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"version": STATE_VERSION, "cursor": self.cursor, "tie_keys": sorted(self.tie_keys)}
        if self.known_keys is not None:
            out.update(encode_keys(self.known_keys))
        elif self.stored_keys:
            out.update(self.stored_keys)
        if self.reconciled_at is not None:
            out["reconciled_at"] = self.reconciled_at
        return out


class CursorFilter:
    """Decides, record by record, whether a feed record is new, and moves the cursor."""

    def __init__(self, state: StreamState, lookback: timedelta) -> None:
        self.cursor = parse_ts(state.cursor)
        self.tie = set(state.tie_keys)
        self.lookback = lookback
        # With a lookback, records inside the window pass again, once per sync.
        self.window_start = self.cursor - lookback if self.cursor and lookback else None
        self._seen_in_window: set[tuple[datetime, str]] = set()

    def since(self, initial: str) -> datetime:
        start = self.cursor or parse_ts(initial)
        assert start is not None
        return start - self.lookback if self.cursor else start

    def admit(self, ts: datetime, key: str) -> bool:
        cursor = self.cursor
        if cursor is None or ts > cursor:
            self.cursor, self.tie = ts, {key}
            return True
        if ts == cursor:
            if key in self.tie:
                return False
            self.tie.add(key)
            return True
        # older than the cursor: seen, unless it falls in the lookback window (once per sync)
        if self.window_start is not None and ts >= self.window_start and (ts, key) not in self._seen_in_window:
            self._seen_in_window.add((ts, key))
            return True
        return False

    def save(self, state: StreamState) -> None:
        state.cursor = format_ts(self.cursor) if self.cursor else state.cursor
        state.tie_keys = sorted(self.tie)
