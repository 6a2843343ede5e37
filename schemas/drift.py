"""Schema drift: a batch's fields against its contract's wire fields, logged and handled by policy.

Connectors type each stream by its source file and keep the record as sent in `_raw`, so a field the
contract does not know, a field gone from every record, or a field sent as another JSON type shows
only there. Each is found per row with vectorised substring matches on `_raw`, so a drift on 1% of
records puts exactly those records under the dataset's policy:
evolve (the field becomes a column), freeze (the run fails), quarantine (the rows go to quarantine),
until a person approves it (`lienthong drift approve ID`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from core.errors import Fatal
from schemas.contract import Contract
from schemas.db import ensure_tables
from schemas.mapping import METADATA_COLUMNS
from schemas.normalize.result import as_array

DriftKind = Literal["new_field", "missing_field", "retyped_field"]

metadata = sa.MetaData()
drift_log = sa.Table(
    "drift_log", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("dataset", sa.String(64), nullable=False),
    sa.Column("field", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
    sa.Column("rows_seen", sa.BigInteger, nullable=False),
    sa.Column("sample", sa.Text, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),  # open | approved
    sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
    sa.UniqueConstraint("source", "dataset", "field", "kind", name="uq_drift_log_field"),
)


class DriftFrozen(Fatal):
    """A dataset whose policy is freeze met unapproved drift: the run stops and publishes nothing."""


@dataclass(frozen=True, slots=True)
class DriftEvent:
    field: str
    kind: DriftKind
    rows: pa.Array  # bool per row: this row carries the drift
    sample: str  # one affected raw record (or the batch-level fact)

    @property
    def count(self) -> int:
        return int(pc.sum(self.rows).as_py() or 0)


def _key_text(field: str) -> str:
    """How a key opens in JSON as json.dumps and the connectors write it (no space before the colon).

    A dotted field (`thua_dat.ma_xa`, a nested object flattened by its path) opens with its last key."""
    return '"' + field.rsplit(".", 1)[-1] + '":'


def detect_drift(batch: pa.Table, contract: Contract) -> list[DriftEvent]:
    """Every new, missing or retyped field in `batch`, with the rows that carry it."""
    n = batch.num_rows
    events: list[DriftEvent] = []
    if n == 0 or "_raw" not in batch.column_names:
        return events
    raw = as_array(batch.column("_raw"))
    live = _live_rows(batch)
    # a new column (the connector passed an unknown field through)
    for name in batch.column_names:
        if name not in contract.wire_fields and name not in METADATA_COLUMNS and name != "_deleted":
            rows = pc.is_valid(as_array(batch.column(name)))
            events.append(DriftEvent(name, "new_field", rows, _sample(raw, rows)))
    # Two passes over `_raw` whatever the number of fields; JSON is parsed only for suspect rows.
    # 1. new fields: a record with an unknown key has more keys than the contract's fields, or (a
    # renamed field) the same number with a contract field missing, which the connector left null
    # (a null that the record sends as `"field": null` is not a missing key, so it is not suspect)
    keys = pc.fill_null(pc.count_substring(raw, '":'), 0)
    suspect = pc.not_equal(keys, len(contract.wire_fields))
    for field in contract.wire_fields:
        column = batch.column(field) if field in batch.column_names else None
        if column is None:
            suspect = pc.or_(suspect, pa.scalar(True))
            continue
        nulls = pc.is_null(as_array(column))
        if "." in field:  # a nested key's name may also be another object's: every null is suspect
            suspect = pc.or_(suspect, nulls)
        elif pc.any(nulls).as_py():
            absent = pc.invert(pc.fill_null(pc.match_substring(raw, _key_text(field)), False))
            suspect = pc.or_(suspect, pc.and_(nulls, absent))
    by_field = _unknown_keys(raw, pc.fill_null(suspect, True), contract)
    for field, mask in sorted(by_field.items()):
        events.append(DriftEvent(field, "new_field", mask, _sample(raw, mask)))
    # 2. missing fields: absent from every live record (a field some records lack is the suite's business)
    head = raw.slice(0, 200).filter(live.slice(0, 200))
    any_live = pc.any(live).as_py()
    for field in contract.wire_fields:
        if not any_live or pc.any(pc.match_substring(head, _key_text(field))).as_py():
            continue  # seen in the first records: not missing (the usual case, and cheap)
        if not pc.any(pc.and_(live, pc.match_substring(raw, _key_text(field)))).as_py():
            events.append(DriftEvent(field, "missing_field", live, f"{field!r} is in no record of the batch"))
    # 3. retyped: a number or boolean field sent as a JSON string where the same batch also has it typed.
    # Which sources type their values is read from the batch, not from a list of agencies: SOAP (XML)
    # sends text for everything, so a field it sends is never also a JSON number.
    typed = [f for f, kind in contract.wire_fields.items() if kind in ("int", "float", "bool")]
    if typed:
        pattern = '"(?:' + "|".join(re.escape(f) for f in typed) + ')": ?"'
        suspect = pc.fill_null(pc.match_substring_regex(raw, pattern), False)
        parsed = _parsed(raw, suspect)
        for field in typed:
            rows = [i for i, record in parsed if isinstance(record.get(field), str)]
            if not rows or not _sent_typed(raw, field):
                continue
            mask = _mask(n, rows)
            events.append(DriftEvent(field, "retyped_field", mask, _sample(raw, mask)))
    return events


def _sent_typed(raw: pa.Array, field: str) -> bool:
    """Whether some record of the batch carries `field` as a JSON number or boolean (not a string, not null)."""
    key = re.escape(field.rsplit(".", 1)[-1])
    return bool(pc.any(pc.match_substring_regex(raw, '"' + key + '": ?(?:-?[0-9]|true|false)')).as_py())


def _parsed(raw: pa.Array, suspect: pa.Array) -> list[tuple[int, dict[str, Any]]]:
    out = []
    for i in np.flatnonzero(suspect.to_numpy(zero_copy_only=False)):
        try:
            record = json.loads(raw[int(i)].as_py())
        except (TypeError, ValueError):
            continue
        if isinstance(record, dict):
            out.append((int(i), record))
    return out


def _unknown_keys(raw: pa.Array, suspect: pa.Array, contract: Contract) -> dict[str, pa.Array]:
    rows: dict[str, list[int]] = {}
    parents = {f.rsplit(".", 1)[0] for f in contract.wire_fields if "." in f}
    for i, record in _parsed(raw, suspect):
        for field in _flat_keys(record, parents):
            if field not in contract.wire_fields:
                rows.setdefault(field, []).append(i)
    return {field: _mask(len(raw), found) for field, found in rows.items()}


def _flat_keys(record: dict[str, Any], parents: set[str], prefix: str = "") -> list[str]:
    """A record's keys, with the nested objects the contract reads by path flattened (`thua_dat.ma_xa`)."""
    keys: list[str] = []
    for key, value in record.items():
        path = prefix + key
        if path in parents and isinstance(value, dict):
            keys += _flat_keys(value, parents, path + ".")
        else:
            keys.append(path)
    return keys


def _mask(n: int, rows: list[int]) -> pa.Array:
    mask = np.zeros(n, dtype=bool)
    mask[rows] = True
    return pa.array(mask)


def _live_rows(batch: pa.Table) -> pa.Array:
    """Rows that are not deletes (a key-only tombstone lacks fields without drifting)."""
    for name in ("_deleted", "deleted"):
        if name in batch.column_names:
            return pc.invert(pc.fill_null(as_array(batch.column(name)), False))
    return pa.array(np.ones(batch.num_rows, dtype=bool))


def _sample(raw: pa.Array, rows: pa.Array) -> str:
    picked = raw.filter(pc.fill_null(rows, False))
    return str(picked[0].as_py()) if len(picked) else ""


# --- the drift log --------------------------------------------------------------------------------

def record_drift(engine: sa.Engine, contract: Contract, events: list[DriftEvent],
                 now: datetime | None = None) -> dict[tuple[str, str], str]:
    """Log each event (first seen, last seen, rows, a sample); return each event's status (open or approved)."""
    ensure_tables(engine, metadata)
    now = now or datetime.now(UTC)
    statuses: dict[tuple[str, str], str] = {}
    with engine.begin() as conn:
        for event in events:
            where = sa.and_(drift_log.c.source == contract.agency, drift_log.c.dataset == contract.dataset,
                            drift_log.c.field == event.field, drift_log.c.kind == event.kind)
            row = conn.execute(sa.select(drift_log.c.id, drift_log.c.status).where(where)).first()
            if row is None:
                conn.execute(drift_log.insert().values(
                    source=contract.agency, dataset=contract.dataset, field=event.field, kind=event.kind,
                    first_seen=now, last_seen=now, rows_seen=event.count, sample=event.sample[:2000], status="open"))
                statuses[(event.field, event.kind)] = "open"
            else:
                conn.execute(drift_log.update().where(drift_log.c.id == row.id).values(
                    last_seen=now, rows_seen=drift_log.c.rows_seen + event.count))
                statuses[(event.field, event.kind)] = str(row.status)
    return statuses


def list_drift(engine: sa.Engine, status: str | None = None) -> list[sa.Row[tuple[object, ...]]]:
    ensure_tables(engine, metadata)
    query = sa.select(drift_log).order_by(drift_log.c.id)
    if status:
        query = query.where(drift_log.c.status == status)
    with engine.connect() as conn:
        return list(conn.execute(query))


def approve_drift(engine: sa.Engine, drift_id: int, now: datetime | None = None) -> bool:
    """Mark a drift approved: from now on it passes as if the contract knew it. False when no such id."""
    ensure_tables(engine, metadata)
    with engine.begin() as conn:
        result = conn.execute(drift_log.update().where(drift_log.c.id == drift_id).values(
            status="approved", approved_at=now or datetime.now(UTC)))
        return bool(result.rowcount)


# --- the policy -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class DriftOutcome:
    """What the policy decided for a batch: rows to quarantine (with the field and kind) and columns to add."""

    quarantine: tuple[DriftEvent, ...]
    evolve: tuple[DriftEvent, ...]
    events: tuple[DriftEvent, ...]


def apply_policy(contract: Contract, events: list[DriftEvent],
                 statuses: dict[tuple[str, str], str] | None = None) -> DriftOutcome:
    """Open (unapproved) drift under the contract's policy; raises DriftFrozen under freeze."""
    open_events = [e for e in events if (statuses or {}).get((e.field, e.kind), "open") != "approved"]
    if open_events and contract.drift_policy == "freeze":
        first = open_events[0]
        raise DriftFrozen(
            f"dataset {contract.dataset} (policy freeze): unapproved drift "
            + ", ".join(f"{e.kind} {e.field!r} in {e.count} rows" for e in open_events)
            + f"; sample: {first.sample[:300]}; approve with `lienthong drift approve ID`",
            source=contract.agency, dataset=contract.dataset, fields=[e.field for e in open_events],
        )
    if contract.drift_policy == "quarantine":
        return DriftOutcome(tuple(open_events), (), tuple(events))
    new_fields = tuple(e for e in events if e.kind == "new_field")
    return DriftOutcome((), new_fields, tuple(events))


def evolved_column(batch: pa.Table, event: DriftEvent) -> pa.Array:
    """A new field's values as text, read from `_raw` (the connector does not type unknown fields)."""
    if event.field in batch.column_names:
        return pc.cast(as_array(batch.column(event.field)), pa.string())
    raw = as_array(batch.column("_raw"))
    values: list[str | None] = [None] * batch.num_rows
    for i in np.flatnonzero(pc.fill_null(event.rows, False).to_numpy(zero_copy_only=False)):
        try:
            value = json.loads(raw[int(i)].as_py()).get(event.field)
        except (TypeError, ValueError, AttributeError):
            continue
        values[int(i)] = None if value is None else value if isinstance(value, str) else json.dumps(value)
    return pa.array(values, pa.string())
