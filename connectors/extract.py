"""The extraction loop: pages in, RecordBatches out, and the new state at the end.

`read(source, stream, state)` returns an `Extraction`; iterating it pulls one page at a time (memory
is bounded by a page), and once it is exhausted `.state` is the state to commit with the data.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pyarrow as pa

from connectors.coerce import Coercer, field_value, raw_of
from connectors.config import SourceConfig, StreamConfig, load_source
from connectors.errors import StateError
from connectors.secrets import Redactor
from connectors.state import (
    CursorFilter,
    StreamState,
    encode_keys,
    format_ts,
    key_set,
    missing_from,
    parse_ts,
    split_lines,
)
from connectors.types import RawPage, Reader

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Stats:
    pages: int = 0
    records: int = 0  # rows yielded (feed records kept plus reconciled deletes)
    skipped: int = 0  # feed records dropped as already seen (cursor ties, duplicated pages)
    errors: int = 0  # rows with a non-null `_error`
    deletes: int = 0  # tombstones and reconciled deletes
    requests: int = 0
    retries: int = 0


def key_of(record: Mapping[str, Any], fields: tuple[str, ...]) -> str:
    """A record's key as the simulators write it: composite keys joined with "/"."""
    if len(fields) == 1:
        return str(field_value(record, fields[0]))
    return "/".join(str(field_value(record, f)) for f in fields)


class Extraction:
    """One stream's extraction: iterate for RecordBatches, then read `.state` and `.stats`."""

    def __init__(self, source: SourceConfig, stream: StreamConfig, state: Mapping[str, Any] | None, *,
                 full_refresh: bool = False, client: httpx.Client | None = None,
                 known_keys: Iterable[str] | None = None, now: datetime | None = None,
                 environ: Mapping[str, str] | None = None, reconcile: bool | None = None) -> None:
        self.source, self.stream = source, stream
        self._old = StreamState.from_dict(dict(state) if state else None)
        old = self._old
        # A full refresh forgets the cursor, not the key set: deletes since the last sync still show.
        self._state = StreamState(
            cursor=None if full_refresh else old.cursor, tie_keys=[] if full_refresh else list(old.tie_keys),
            known_keys=old.known_keys, reconciled_at=old.reconciled_at, stored_keys=old.stored_keys)
        if known_keys is not None:
            self._state.known_keys = key_set(pa.array(list(known_keys), pa.string()))
        self._client, self._environ = client, environ
        self._now = now
        self._reconcile_now = reconcile  # True: now; False: not this time; None: when the schedule says
        self.reconciled = False
        self._done = False
        self.stats = Stats()
        self.request_ids: list[str] = []
        self.request_hashes: list[str] = []
        self.warnings: list[str] = []
        self.redactor = Redactor()
        self.zone = ZoneInfo(source.timezone)
        self.coercer = Coercer(source.name, stream.name, stream.fields, zone=self.zone)

    @property
    def schema(self) -> pa.Schema:
        return self.coercer.schema

    @property
    def state(self) -> dict[str, Any]:
        """The new state; only once every batch has been read."""
        if not self._done:
            raise StateError("the extraction has not been read to the end; its state would lose records",
                             source=self.source.name, operation=self.stream.name)
        return self._state.to_dict()

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        if self._done:
            raise StateError("an extraction is read once", source=self.source.name, operation=self.stream.name)
        from connectors.open import open_reader

        with open_reader(self.source, self.redactor, self._client, self._environ) as (reader, caller):
            try:
                yield from self._feed(reader)
                yield from self._reconcile(reader)
            finally:
                self.stats.requests, self.stats.retries = caller.requests, caller.retries
                # X-Road message ids sent (SOAP), kept with the run; each page's id is in its `_page`
                self.request_ids = list(getattr(reader, "request_ids", []))
                self.request_hashes = list(getattr(reader, "request_hashes", []))  # REST: X-Road-Request-Hash
        if self._old.cursor is None and not self._old.has_keys and self.stats.records == 0:
            message = (f"{self.source.name}/{self.stream.name}: the first sync read 0 records; check the "
                       "records path, the parameters and the credentials before trusting an empty dataset")
            self.warnings.append(message)
            log.warning(message)
        self._done = True

    def _feed(self, reader: Reader) -> Iterator[pa.RecordBatch]:
        stream, name = self.stream, self.source.name
        inc = stream.incremental
        cursor_filter = CursorFilter(self._state, timedelta(minutes=inc.lookback_minutes) if inc else timedelta())
        since = cursor_filter.since(inc.initial_value) if inc else None
        tomb = stream.deletes.field if stream.deletes.mode == "tombstone" else None
        for page in reader.pages(stream, since):
            self.stats.pages += 1
            kept: list[Mapping[str, Any]] = []
            deleted: list[bool] = []
            for record in page.records:
                if inc is not None:
                    ts = parse_ts(field_value(record, inc.cursor_field), self.zone)
                    if ts is None:
                        if inc.on_cursor_value_missing == "raise":
                            raise StateError(
                                f"record {key_of(record, stream.primary_key)!r} has no valid "
                                f"{inc.cursor_field}: {str(record.get(inc.cursor_field))[:40]!r}",
                                source=name, operation=stream.name, page=page.label)
                    elif not cursor_filter.admit(ts, key_of(record, stream.primary_key)):
                        self.stats.skipped += 1
                        continue
                kept.append(record)
                deleted.append(bool(tomb and record.get(tomb) in (True, "true", "1", 1)))
            if kept:
                yield self._emit(kept, page, deleted)
        cursor_filter.save(self._state)

    def _emit(self, records: list[Mapping[str, Any]], page: RawPage, deleted: list[bool]) -> pa.RecordBatch:
        # the SOAP bulk path wrote each record's _raw while decoding the page (coerce.Decoded)
        batch = self.coercer.batch(records, page.label, deleted, raw=raw_of(page.records, records),
                                   bad_utf8=page.bad_utf8)
        self.stats.records += batch.num_rows
        self.stats.deletes += sum(deleted)
        self.stats.errors += batch.num_rows - batch.column("_error").null_count
        return batch

    def _reconcile(self, reader: Reader) -> Iterator[pa.RecordBatch]:
        deletes = self.stream.deletes
        if deletes.mode != "reconcile":
            return
        now = self._now or datetime.now(UTC)
        if self._reconcile_now is False:
            return
        last = parse_ts(self._state.reconciled_at)
        if (self._reconcile_now is None and last is not None and deletes.every_minutes
                and now - last < timedelta(minutes=deletes.every_minutes)):
            log.info("%s/%s: key-set reconciliation not due (last %s, every %g min)", self.source.name,
                     self.stream.name, self._state.reconciled_at, deletes.every_minutes)
            return
        self.reconciled = True
        # Keys are kept as one newline-joined UTF-8 text per page and turned into one Arrow array at the
        # end: 2,000,000 keys stay tens of MB (Python sets, or an Arrow array per page, cost several times that).
        pages: list[bytes] = []
        listed = 0
        where = f"{self.source.name}/{self.stream.name}"
        for keys in reader.keys(self.stream):
            if not keys:
                continue
            listed += len(keys)
            # for a progress display (the CLI's): listing every live key takes as long as a full read
            log.debug("%s: reconciling, %d live keys listed", where, listed,
                      extra={"progress": f"{where}: reconciling deletes, {listed:,} live keys listed"})
            pages.append("\n".join(keys).encode("utf-8"))  # the reader checked them (connectors/keypages.py)
        # no name holds the joined text or the listing: each is let go as soon as the next is made
        live = key_set(split_lines(_drained(pages)))
        known = self._state.keys()
        gone = missing_from(known, live) if known is not None else []
        del known
        # Held packed until the commit writes it: 2,000,000 keys are ~40 MB as Arrow, a few MB packed.
        self._state.known_keys, self._state.stored_keys = None, encode_keys(live)
        self._state.reconciled_at = format_ts(now)
        log.info("%s/%s: reconciled %d live keys, %d deleted", self.source.name, self.stream.name,
                 len(live), len(gone))
        del live
        for start in range(0, len(gone), 1000):
            chunk = gone[start:start + 1000]
            records: list[Mapping[str, Any]] = [self._key_record(k) for k in chunk]
            page = RawPage(f"reconcile:{start // 1000}", records)
            yield self._emit(records, page, [True] * len(records))

    def _key_record(self, key: str) -> dict[str, Any]:
        fields = self.stream.primary_key
        parts = [key] if len(fields) == 1 else key.split("/", len(fields) - 1)
        return dict(zip(fields, parts, strict=False))


def read(source: SourceConfig | str | Path, stream: str, state: Mapping[str, Any] | None = None, *,
         full_refresh: bool = False, client: httpx.Client | None = None,
         known_keys: Iterable[str] | None = None, environ: Mapping[str, str] | None = None,
         reconcile: bool | None = None) -> Extraction:
    """Read one stream of a source from `state` (None: from the start). `reconcile`: list the live keys
    now (True), not this time (False), or when the stream's declared schedule says it is due (None)."""
    config = source if isinstance(source, SourceConfig) else load_source(source, environ)
    return Extraction(config, config.stream(stream), state, full_refresh=full_refresh, client=client,
                      known_keys=known_keys, environ=environ, reconcile=reconcile)


def _drained(pages: list[bytes]) -> bytes:
    """The pages newline-joined, the list emptied: only the joined copy is left."""
    text = b"\n".join(pages)
    pages.clear()
    return text
