"""The validation runner: a connector batch in; valid canonical rows and quarantine rows out.

`validate_batch(batch, dataset)` maps the batch onto its contract, handles drift by policy, runs the
dataset's GX suite with result_format COMPLETE, and collects EVERY failing row: rows whose `_error` is
set, rows that failed normalisation, rows under quarantined drift, rows GX lists in
`unexpected_index_list` (checked against GX's `unexpected_count`, so a capped list would fail loudly).
Each input row ends in exactly one of `valid` and `quarantine`. When the share of failing rows passes
the contract's threshold, ValidationFailed is raised and nothing is passed on.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from core.errors import Fatal
from quality.checks import expectation_columns, expectation_type, failing_rows
from quality.references import reference_misses
from schemas.contract import Contract, get_contract
from schemas.drift import DriftEvent, DriftOutcome, apply_policy, detect_drift, evolved_column, record_drift
from schemas.mapping import map_batch
from schemas.normalize.result import as_array

Checks = Literal["gx", "arrow"]


Status = Literal["passed", "failed"]


@dataclass(frozen=True, slots=True)
class ValidationStats(Mapping[str, Any]):
    """One validation's statistics, as a row of `validation_runs`. Also read by name, as a mapping: the
    run's totals (pipeline.run_quality) add chunks up field by field, and the store writes them so."""

    run_id: str
    source: str
    dataset: str
    contract_version: int
    started_at: datetime
    seconds: float
    rows_in: int
    rows_valid: int
    rows_quarantined: int
    tombstones: int
    failure_rate: float
    threshold: float | None  # None when the threshold was not applied (a chunk of a run, a replay)
    status: Status
    rule_counts: Mapping[str, int]  # failing rows per rule/column
    reference_misses: Mapping[str, int]  # per reference check, references not among its target's keys
    drift: tuple[str, ...]  # kind:field:status of every drift event

    def __getitem__(self, name: str) -> Any:
        if name not in _STATS_FIELDS:
            raise KeyError(name)
        return getattr(self, name)

    def __iter__(self) -> Iterator[str]:
        return iter(_STATS_FIELDS)

    def __len__(self) -> int:
        return len(_STATS_FIELDS)


_STATS_FIELDS = tuple(f.name for f in fields(ValidationStats))


class ValidationFailed(Fatal):
    """The batch's failure rate passed the dataset's threshold: the run fails and publishes nothing."""

    def __init__(self, message: str, *, stats: Mapping[str, Any], source: str | None = None) -> None:
        super().__init__(message, source=source, stats=stats)
        self.stats = stats


class Validation(NamedTuple):
    valid: pa.Table  # canonical columns of the rows that passed
    # one row per failing record: source, dataset, run_id, page, key, raw, rule, column, value, reason, failures
    quarantine: pa.Table
    stats: ValidationStats
    # the canonical keys of the quarantined rows that have one (contract key columns, no null): a full
    # refresh must not read them as gone (sharing.publish, `_quarantined`)
    quarantined_keys: pa.Table | None = None


@dataclass(slots=True)
class _Failures:
    """Failing (row, rule, column, value) entries in the order found."""

    rows: list[np.ndarray]
    rules: list[np.ndarray]
    columns: list[np.ndarray]
    values: list[pa.Array]

    def add(self, rows: np.ndarray, rule: str | np.ndarray, column: str, values: pa.Array) -> None:
        if len(rows) == 0:
            return
        self.rows.append(rows.astype(np.int64))
        self.rules.append(np.full(len(rows), rule, dtype=object) if isinstance(rule, str) else rule)
        self.columns.append(np.full(len(rows), column, dtype=object))
        text = values if pa.types.is_string(values.type) else pc.cast(values, pa.string())
        self.values.append(text)

    def table(self) -> pa.Table:
        if not self.rows:
            return pa.table({"row": pa.array([], pa.int64()), "seq": pa.array([], pa.int64()),
                             "rule": pa.array([], pa.string()), "column": pa.array([], pa.string()),
                             "value": pa.array([], pa.string())})
        rows = np.concatenate(self.rows)
        return pa.table({
            "row": rows, "seq": np.arange(len(rows)),
            "rule": pa.array(np.concatenate(self.rules), pa.string()),
            "column": pa.array(np.concatenate(self.columns), pa.string()),
            "value": pa.concat_arrays([as_array(v) for v in self.values]),
        })


def _positions(mask: pa.Array) -> np.ndarray:
    return np.flatnonzero(np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool))


def _gx_frame(table: pa.Table, columns: list[str]) -> Any:
    """The columns the suite reads, as pandas (decimals as float64: GX compares numbers)."""
    picked = []
    for name in columns:
        col = table.column(name)
        picked.append(pc.cast(col, pa.float64()) if pa.types.is_decimal(col.type) else col)
    return pa.table(picked, names=columns).to_pandas()


def _run_expectations(table: pa.Table, suite: Any, checks: Checks, failures: _Failures,
                      positions: np.ndarray) -> None:
    """Add every row of `table` failing an expectation; `positions` maps table rows to batch rows."""
    if table.num_rows == 0:
        return
    expectations = list(suite.expectations)
    if checks == "arrow":
        for exp in expectations:
            rows = _positions(failing_rows(table, exp))
            _add_expectation(failures, table, exp, rows, positions)
        return
    from quality.gx import run_suite

    needed = sorted({c for exp in expectations for c in expectation_columns(exp)})
    result = run_suite(_gx_frame(table, needed), suite, "COMPLETE")
    for outcome in result.results:
        config = outcome.expectation_config
        res = outcome.result
        index = res.get("unexpected_index_list") or []
        count = res.get("unexpected_count") or 0
        if outcome.exception_info and outcome.exception_info.get("raised_exception"):
            raise RuntimeError(f"GX could not evaluate {config.type}: {outcome.exception_info}")
        if len(index) != count:
            raise RuntimeError(f"GX listed {len(index)} of {count} unexpected rows for {config.type}")
        rows = np.asarray([i if isinstance(i, (int, np.integer)) else i["_row"] for i in index], dtype=np.int64)
        exp = _Expectation(config.type, [str(config.kwargs["column"])] if "column" in config.kwargs
                           else [str(c) for c in config.kwargs.get("column_list", [])])
        _add_expectation(failures, table, exp, rows, positions)


@dataclass(frozen=True, slots=True)
class _Expectation:
    expectation_type: str
    columns: list[str]


def _add_expectation(failures: _Failures, table: pa.Table, exp: Any, rows: np.ndarray,
                     positions: np.ndarray) -> None:
    if len(rows) == 0:
        return
    columns = exp.columns if isinstance(exp, _Expectation) else expectation_columns(exp)
    kind = exp.expectation_type if isinstance(exp, _Expectation) else expectation_type(exp)
    if len(columns) == 1:
        values = pc.cast(pc.take(table.column(columns[0]), pa.array(rows)), pa.string())
    else:
        parts = [pc.cast(pc.take(table.column(c), pa.array(rows)), pa.string()) for c in columns]
        values = pc.binary_join_element_wise(*parts, "/", null_handling="replace", null_replacement="")
    failures.add(positions[rows], kind, ",".join(columns), as_array(values))


def _record_keys(batch: pa.Table, contract: Contract) -> pa.Array:
    parts = []
    for field in contract.key_wire_fields():
        values = batch.column(field) if field in batch.column_names else pa.nulls(batch.num_rows, pa.string())
        parts.append(pc.cast(values, pa.string()))
    if len(parts) == 1:
        return as_array(parts[0])
    return as_array(pc.binary_join_element_wise(*parts, "/", null_handling="replace", null_replacement=""))


def _deleted_rows(batch: pa.Table, canonical: pa.Table, contract: Contract) -> pa.Array:
    """Deletes (tombstones, reconciled absences): only their key is checked."""
    mask = pa.array(np.zeros(batch.num_rows, dtype=bool))
    if "_deleted" in batch.column_names:
        mask = pc.or_(mask, pc.fill_null(as_array(batch.column("_deleted")), False))
    if contract.tombstone:
        mask = pc.or_(mask, pc.fill_null(as_array(canonical.column(contract.tombstone)), False))
    return mask


def expectation_failures(canonical: pa.Table, suite: Any, checks: Checks = "gx") -> pa.Table:
    """(row, seq, rule, column, value) for every row of `canonical` failing an expectation of `suite`."""
    failures = _Failures([], [], [], [])
    _run_expectations(canonical, suite, checks, failures, np.arange(canonical.num_rows))
    return failures.table()


def split_batch(batch: pa.Table, canonical: pa.Table, contract: Contract, run_id: str,
                found: pa.Table) -> tuple[pa.Table, pa.Table, np.ndarray]:
    """(valid canonical rows, quarantine rows, failing row numbers) from the failures `found`."""
    found = found.sort_by([("row", "ascending"), ("seq", "ascending")])
    bad_rows = np.unique(found.column("row").to_numpy())
    good = np.ones(canonical.num_rows, dtype=bool)
    good[bad_rows] = False
    valid = canonical.filter(pa.array(good))
    quarantine = _quarantine_rows(batch, contract, run_id, found, bad_rows)
    if valid.num_rows + quarantine.num_rows != canonical.num_rows:
        raise AssertionError(f"{contract.dataset} run {run_id}: a row was lost or doubled")
    return valid, quarantine, bad_rows


def validate_batch(
    batch: pa.RecordBatch | pa.Table, dataset: str | Contract, *, run_id: str | None = None,
    engine: sa.Engine | None = None, references: Mapping[str, pa.Table] | None = None,
    checks: Checks = "gx", enforce_threshold: bool = True, persist: bool = True,
) -> Validation:
    """Validate one batch; see the module doc. With `engine`, drift is logged and, when `persist`,
    quarantine rows and statistics are written (in one transaction)."""
    started, clock = datetime.now(UTC), time.perf_counter()
    contract = dataset if isinstance(dataset, Contract) else get_contract(dataset)
    table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
    run_id = run_id or f"{contract.dataset}-{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    failures = _Failures([], [], [], [])

    drift, statuses = _drift(table, contract, engine, failures)  # freeze raises here, before any write
    _coercion_failures(table, failures)
    canonical, deleted = _normalised(table, contract, failures)
    tombstones = _expectations(canonical, deleted, contract, checks, failures)
    # cross-dataset references: reported, never quarantined (real non-matches exist, PROTOCOL.md)
    misses = reference_misses(canonical, contract.dataset, references) if references else {}

    found = failures.table()
    valid, quarantine, bad_rows = split_batch(table, canonical, contract, run_id, found)
    valid = _with_evolved_columns(valid, table, drift.evolve, bad_rows)

    n = table.num_rows
    rate = len(bad_rows) / n if n else 0.0
    failed = enforce_threshold and n > 0 and rate > contract.failure_threshold
    stats = ValidationStats(
        run_id=run_id, source=contract.agency, dataset=contract.dataset, contract_version=contract.version,
        started_at=started, seconds=round(time.perf_counter() - clock, 6), rows_in=n,
        rows_valid=valid.num_rows, rows_quarantined=quarantine.num_rows, tombstones=tombstones,
        failure_rate=rate, threshold=contract.failure_threshold if enforce_threshold else None,
        status="failed" if failed else "passed", rule_counts=_rule_counts(found), reference_misses=misses,
        drift=tuple(f"{e.kind}:{e.field}:{statuses.get((e.field, e.kind), 'open')}" for e in drift.events))
    if engine is not None and persist:
        from quality.store import save

        # a failed batch's rows are not quarantined: nothing of it goes on, it is run again whole
        save(engine, stats, None if failed else quarantine, contract.version)
    if failed:
        raise ValidationFailed(threshold_message(contract, run_id, stats, quarantine), stats=stats,
                               source=contract.agency)
    return Validation(valid, quarantine, stats, _keys_of(canonical, contract, bad_rows))


def _drift(table: pa.Table, contract: Contract, engine: sa.Engine | None,
           failures: _Failures) -> tuple[DriftOutcome, dict[tuple[str, str], str]]:
    """Drift under the dataset's policy (logged with `engine`); the rows it quarantines are failures."""
    events = detect_drift(table, contract)
    statuses = record_drift(engine, contract, events) if engine is not None and events else {}
    drift = apply_policy(contract, events, statuses)
    for event in drift.quarantine:
        rows = _positions(event.rows)
        # the value: what the record carries under the field (nothing, for a missing field)
        values = (pa.nulls(len(rows), pa.string()) if event.kind == "missing_field"
                  else pc.take(evolved_column(table, event), pa.array(rows)))
        failures.add(rows, f"drift:{event.kind}", event.field, values)
    return drift, statuses


def _coercion_failures(table: pa.Table, failures: _Failures) -> None:
    """Values the connector could not coerce (its `_error` column)."""
    if "_error" in table.column_names:
        errors = as_array(table.column("_error"))
        rows = _positions(pc.is_valid(errors))
        failures.add(rows, "coercion", "_error", pc.take(errors, pa.array(rows)))


def _normalised(table: pa.Table, contract: Contract, failures: _Failures) -> tuple[pa.Table, pa.Array]:
    """(canonical rows, the deletes mask); what normalisation refused (a bad tax code, an unknown
    commune, an unparseable date...) are failures, on a delete only for its key (as in `_expectations`)."""
    mapped = map_batch(table, contract)
    canonical = mapped.table
    deleted = _deleted_rows(table, canonical, contract)
    for found in mapped.failures:
        reason = found.reason
        if found.column not in contract.primary_key:
            reason = pc.if_else(deleted, pa.scalar(None, pa.string()), reason)
        rows = _positions(pc.is_valid(reason))
        reasons = pc.take(reason, pa.array(rows)).to_numpy(zero_copy_only=False).astype(object)
        failures.add(rows, reasons + f":{found.field}", found.column, pc.take(found.value, pa.array(rows)))
    return canonical, deleted


def _expectations(canonical: pa.Table, deleted: pa.Array, contract: Contract, checks: Checks,
                  failures: _Failures) -> int:
    """The dataset's whole suite on live rows, its key checks on deletes; the number of deletes."""
    from quality.suites import build_suite

    suite = build_suite(contract, contract.version)  # a feed's own expectations (schemas/contract.py, FeedMapping)
    live_positions = _positions(pc.invert(deleted))
    dead_positions = _positions(deleted)
    live = canonical.take(pa.array(live_positions)) if len(dead_positions) else canonical
    _run_expectations(live, suite, checks, failures, live_positions)
    if len(dead_positions):
        dead = canonical.take(pa.array(dead_positions))
        key_suite = [e for e in suite.expectations
                     if set(expectation_columns(e)) <= set(contract.primary_key)
                     and expectation_type(e) != "expect_column_values_to_be_unique"]
        for exp in key_suite:
            _add_expectation(failures, dead, exp, _positions(failing_rows(dead, exp)), dead_positions)
    return len(dead_positions)


def _with_evolved_columns(valid: pa.Table, table: pa.Table, evolve: tuple[DriftEvent, ...],
                          bad_rows: np.ndarray) -> pa.Table:
    """The valid rows with each column drift evolved into (under policy evolve), from the batch."""
    for event in evolve:
        if event.field not in valid.column_names:
            good = np.ones(table.num_rows, dtype=bool)
            good[bad_rows] = False
            valid = valid.append_column(event.field, evolved_column(table, event).filter(pa.array(good)))
    return valid


def _rule_counts(found: pa.Table) -> dict[str, int]:
    """Failing rows per `rule/column`."""
    if not found.num_rows:
        return {}
    counted = found.group_by(["rule", "column"]).aggregate([("row", "count_distinct")])
    return {f"{rule}/{column}": int(count) for rule, column, count in zip(
        counted["rule"].to_pylist(), counted["column"].to_pylist(), counted["row_count_distinct"].to_pylist(),
        strict=True)}


def threshold_message(contract: Contract, run_id: str, stats: Mapping[str, Any], quarantine: pa.Table | None) -> str:
    """Why a batch or run failed: how many rows of how many, the rate over the threshold, the top rules
    and the first quarantined record."""
    top = sorted(stats["rule_counts"].items(), key=lambda kv: -kv[1])[:5]
    return (f"dataset {contract.dataset} run {run_id}: {stats['rows_quarantined']} of {stats['rows_in']} rows "
            f"failed ({stats['failure_rate']:.1%} > threshold {contract.failure_threshold:.1%}); nothing published; "
            f"top rules: " + ", ".join(f"{k}={v}" for k, v in top)
            + (f"; first: record {quarantine.column('key')[0].as_py()!r} {quarantine.column('reason')[0].as_py()}"
               if quarantine is not None and quarantine.num_rows else ""))


def _keys_of(canonical: pa.Table, contract: Contract, rows: np.ndarray) -> pa.Table:
    """The canonical key of each of `rows` that normalised to one (a key that did not cannot be matched)."""
    keys = canonical.select(list(contract.published_key)).take(pa.array(rows, pa.int64()))
    return keys.drop_null()


def _quarantine_rows(batch: pa.Table, contract: Contract, run_id: str, found: pa.Table,
                     bad_rows: np.ndarray) -> pa.Table:
    rows = pa.array(bad_rows, pa.int64())
    grouped = found.group_by("row", use_threads=False).aggregate(
        [("rule", "list"), ("column", "list"), ("value", "list")]).sort_by("row")
    failures_json: list[str] = []
    reasons: list[str] = []
    first_rule: list[str] = []
    first_column: list[str | None] = []
    first_value: list[str | None] = []
    for rules, columns, values in zip(grouped["rule_list"].to_pylist(), grouped["column_list"].to_pylist(),
                                      grouped["value_list"].to_pylist(), strict=True):
        entries = [{"rule": r, "column": c, "value": v} for r, c, v in zip(rules, columns, values, strict=True)]
        failures_json.append(json.dumps(entries, ensure_ascii=False))
        reasons.append("; ".join(f"{e['rule']} on {e['column']} (value {e['value']!r})" for e in entries))
        first_rule.append(rules[0])
        first_column.append(columns[0])
        first_value.append(values[0])

    def meta(name: str) -> pa.Array:
        if name in batch.column_names:
            return pc.cast(pc.take(batch.column(name), rows), pa.string())
        return pa.nulls(len(rows), pa.string())

    k = len(rows)
    return pa.table({
        "row": rows,
        "source": pa.array([contract.agency] * k, pa.string()),
        "dataset": pa.array([contract.dataset] * k, pa.string()),
        "run_id": pa.array([run_id] * k, pa.string()),
        "page": meta("_page"),
        "key": pc.take(_record_keys(batch, contract), rows),
        "raw": meta("_raw"),
        "rule": pa.array(first_rule, pa.string()),
        "column": pa.array(first_column, pa.string()),
        "value": pa.array(first_value, pa.string()),
        "reason": pa.array(reasons, pa.string()),
        "failures": pa.array(failures_json, pa.string()),
    })
