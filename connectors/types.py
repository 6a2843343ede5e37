"""Value objects passed between a protocol reader and the extraction loop."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from connectors.config import StreamConfig


@dataclass(frozen=True, slots=True)
class RawPage:
    """One page as the agency sent it: records as dicts of wire field name to value."""

    label: str  # the page number or token that produced it (`_page`)
    records: Sequence[Mapping[str, Any]]
    bad_utf8: bool = False  # decoded with surrogate escapes: some string values are not valid UTF-8


class Reader(Protocol):
    """What the extraction loop needs from a protocol (REST, SOAP)."""

    def pages(self, stream: StreamConfig, since: datetime | None) -> Iterator[RawPage]: ...

    def keys(self, stream: StreamConfig) -> Iterator[list[str]]: ...
