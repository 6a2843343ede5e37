"""What the dashboard needs from the layers above `sharing`, handed in by whoever builds the app.

The sources it watches come from the Airflow registry, and replaying quarantined records is a pipeline
action; `sharing` imports neither (docs/architecture.md). `lienthong.serve.ops_services()` builds the
production set; without it the dashboard lists no sources and says replay is not available.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import sqlalchemy as sa


class SourceInfo(Protocol):
    """A configured source, as the dashboard shows it."""

    @property
    def name(self) -> str: ...

    @property
    def dag_id(self) -> str: ...

    @property
    def description(self) -> str: ...


class ReplayOutcome(Protocol):
    @property
    def run_id(self) -> str: ...

    @property
    def released_ids(self) -> tuple[int, ...]: ...

    @property
    def still_quarantined(self) -> tuple[int, ...]: ...


# (engine, dataset or None, record ids or None) -> what was released and what stays quarantined
Replay = Callable[[sa.Engine, str | None, Sequence[int] | None], ReplayOutcome]


def _no_sources() -> Sequence[SourceInfo]:
    return ()


@dataclass(frozen=True, slots=True)
class OpsServices:
    sources: Callable[[], Sequence[SourceInfo]] = _no_sources
    replay: Replay | None = None
