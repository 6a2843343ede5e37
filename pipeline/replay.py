"""Replay: run quarantined records through mapping and validation again, after a fix.

Each record is rebuilt from its raw JSON (as the agency sent it), so a fixed mapping, reference table
or approved drift applies. A record that passes is marked released and handed back for publishing;
one that fails again stays, with its new reasons and one more attempt. Replay never adds quarantine
rows and is not held to the failure threshold (every record in it failed once).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from pipeline.unique import RunUnique
from quality.runner import validate_batch
from quality.store import list_quarantined, quarantine
from schemas.contract import Contract, feed_of
from schemas.wire import batch_from_records


@dataclass(frozen=True, slots=True)
class ReplayResult:
    run_id: str
    released: dict[str, pa.Table]  # dataset -> canonical rows now valid
    released_ids: tuple[int, ...]
    still_quarantined: tuple[int, ...]


def _record(raw: str | None) -> dict[str, Any]:
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _as_read(source: str, contract: Contract, records: list[dict[str, Any]], raws: list[str]) -> pa.Table | None:
    """The records as the connector read them: the source file's field paths (`thua_dat.ma_xa`) and time
    zone (zone-less times). None when the source file is not at hand (then the contract's fields, UTC)."""
    from zoneinfo import ZoneInfo

    from connectors import load_source
    from connectors.coerce import Coercer
    from core.errors import LienthongError

    try:
        config = load_source(source)
    except LienthongError:
        return None
    stream = config.streams.get(contract.stream)
    if stream is None:
        return None
    coercer = Coercer(config.name, stream.name, stream.fields, zone=ZoneInfo(config.timezone))
    return pa.Table.from_batches([coercer.batch(records, "replay", raw=raws)])


def replay(engine: sa.Engine, dataset: str | None = None, ids: Sequence[int] | None = None,
           run_id: str | None = None) -> ReplayResult:
    """Replay quarantined records (of `dataset`, or the given ids); see the module doc."""
    run_id = run_id or f"replay-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    rows = list_quarantined(engine, dataset=dataset, status="quarantined", ids=ids)
    # a dataset of several sources: each source's records through the contract as that source feeds it
    by_dataset: dict[tuple[str, str], list[Any]] = {}
    for row in rows:
        by_dataset.setdefault((row.dataset, row.source), []).append(row)
    released: dict[str, pa.Table] = {}
    released_ids: list[int] = []
    still: list[int] = []
    now = datetime.now(UTC)
    for (name, source), group in sorted(by_dataset.items()):
        contract = feed_of(name, source)
        records = [_record(r.raw) for r in group]
        batch = _as_read(source, contract, records, [r.raw or "{}" for r in group])
        if batch is None:
            batch = batch_from_records(records, contract, page=[r.page for r in group],
                                       raws=[r.raw or "{}" for r in group])
        result = validate_batch(batch, contract, run_id=run_id, engine=engine, enforce_threshold=False,
                                persist=False)
        # a declared-unique value another key holds (in this replay, or published) stays quarantined
        result = RunUnique(contract, engine).check(batch, result, run_id, last=True)
        failed = {int(i): n for n, i in enumerate(result.quarantine.column("row").to_pylist())}
        again = result.quarantine.to_pylist()
        with engine.begin() as conn:
            for i, row in enumerate(group):
                if i in failed:
                    entry = again[failed[i]]
                    conn.execute(quarantine.update().where(quarantine.c.id == row.id).values(
                        rule=entry["rule"], column=entry["column"], value=entry["value"], reason=entry["reason"],
                        failures=entry["failures"], attempts=quarantine.c.attempts + 1))
                    still.append(row.id)
                else:
                    conn.execute(quarantine.update().where(quarantine.c.id == row.id).values(
                        status="released", released_at=now, released_run_id=run_id,
                        attempts=quarantine.c.attempts + 1))
                    released_ids.append(row.id)
        released[name] = pa.concat_tables([released[name], result.valid]) if name in released else result.valid
    return ReplayResult(run_id, released, tuple(released_ids), tuple(still))
