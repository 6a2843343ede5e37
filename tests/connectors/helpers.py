"""Shared helpers for connector tests: fast retries, and folding batches into a table by key."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pyarrow as pa

from connectors import SourceConfig, load_source, read
from connectors.config import RetryConfig


def fast(source: SourceConfig, timeout: float = 1.0, attempts: int = 10) -> SourceConfig:
    """The source with short timeouts and backoff, so faulty runs stay quick."""
    return dataclasses.replace(
        source,
        limits=dataclasses.replace(source.limits, timeout_seconds=timeout, connect_timeout_seconds=timeout),
        retry=RetryConfig(attempts=attempts, backoff_seconds=0.01, max_backoff_seconds=0.05,
                          max_retry_after_seconds=0.05),
    )


def small_pages(source: SourceConfig, stream: str, size: int = 100) -> SourceConfig:
    """More pages per sync, so request faults hit the middle of a feed, not only its first page."""
    config = source.stream(stream)
    config = dataclasses.replace(config, pagination=dataclasses.replace(config.pagination, page_size=size))
    return dataclasses.replace(source, streams={**source.streams, stream: config})


def source_at(name: str, url: str, **kw: Any) -> SourceConfig:
    return fast(load_source(name, environ={f"LIENTHONG_AGENCY_{name.upper()}_URL": url}), **kw)


def sync(source: SourceConfig, stream: str, state: dict[str, Any] | None,
         view: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Run one sync and upsert its rows into `view` (key -> raw record); returns the new state."""
    extraction = read(source, stream, state)
    keys = source.stream(stream).primary_key
    for batch in extraction:
        assert batch.schema.names[-6:] == ["_source", "_stream", "_page", "_deleted", "_error", "_raw"]
        for row in batch.to_pylist():
            key = "/".join(str(row[k]) for k in keys)
            if row["_deleted"] and source.stream(stream).deletes.mode == "reconcile":
                view.pop(key, None)
            else:
                view[key] = json.loads(row["_raw"])
    json.dumps(extraction.state)  # JSON-able
    return extraction.state


def table_rows(batches: list[pa.RecordBatch]) -> list[dict[str, Any]]:
    return [row for b in batches for row in b.to_pylist()]
