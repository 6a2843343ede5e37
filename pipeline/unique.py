"""Columns declared unique (`expect: {unique: true}`) held unique across a whole run and against the
published dataset, not only within one chunk.

The GX suite (quality.suites) checks uniqueness within the chunk it validates. A value first sent under
one key in an earlier chunk and again under another key later is quarantined here (`unique_run`, naming
the key that holds it). A value the published dataset's current rows hold under another key (of any
source when keys are global or the dataset has one source, of this source only when keys are per source:
each district numbers its own) is quarantined as `unique_published`, unless the holder's row comes in the
same run with another value (the value moved): such rows wait, out of the chunk, until the run's last
chunk has been read, then are judged (`RunUnique.finish`) and published or quarantined before the publish.
The key columns are not checked here: a key sent twice is the same record (the last copy wins), and the
serving table's key holds them.

The run's values are kept in memory: two entries per valid row and unique column.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from pipeline.held import Key, move_to_quarantine
from schemas.mapping import map_batch
from sharing import db
from sharing.spec import dataset_spec

if TYPE_CHECKING:
    from quality.runner import Validation
    from schemas.contract import Contract

RUN, PUBLISHED = "unique_run", "unique_published"


Clash = tuple[str, str, Any, str]  # (rule, column, value, who holds it)


@dataclass(slots=True)
class _Waiting:
    """Rows of one chunk whose value a published row holds, whose holder the run has not sent yet."""

    part: pa.Table  # their wire rows
    valid: pa.Table  # their canonical rows
    empty: Validation  # the chunk's, with no rows: the shapes and statistics to build on
    holders: dict[Key, tuple[str, Any, Key, str]]  # row key -> (column, value, holder key, holder source)


class RunUnique:
    """One run's declared-unique values, chunk after chunk (`check`), then the rows that waited (`finish`)."""

    def __init__(self, contract: Contract, engine: sa.Engine) -> None:
        self.contract, self.engine = contract, engine
        self.key = list(contract.primary_key)
        self.columns = [c.name for c in contract.columns if c.expect.unique and c.name not in self.key]
        self.seen: dict[str, dict[Any, Key]] = {name: {} for name in self.columns}  # value -> its key
        self.sent: dict[str, dict[Key, Any]] = {name: {} for name in self.columns}  # key -> its value
        self.waiting: list[_Waiting] = []

    def _published(self, column: str, values: list[Any]) -> dict[Any, tuple[Key, str]]:
        """Of `values`, those a current published row holds: value -> (its key, its source)."""
        spec = dataset_spec(self.contract)
        if not values or not sa.inspect(self.engine).has_table(f"ds_{spec.name}"):
            return {}
        table = db.serving_table(spec.name, spec.schema, spec.primary_key)
        scope = self.contract.scope
        feed = table.c[scope[0]] if scope is not None else sa.literal(self.contract.agency)
        per_source = scope is not None and self.contract.feeds is not None and self.contract.feeds.keys == "per_source"
        held: dict[Any, tuple[Key, str]] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(values), 500):
                query = sa.select(table.c[column], feed, *[table.c[k] for k in self.key]).where(
                    table.c.valid_to.is_(None), sa.not_(table.c.is_deleted),
                    table.c[column].in_(values[start:start + 500]))
                if per_source and scope is not None:
                    query = query.where(table.c[scope[0]] == scope[1])
                for value, source, *key in conn.execute(query):
                    held[value] = (tuple(key), str(source))
        return held

    def _in_run(self, key: Key, row: dict[str, Any]) -> Clash | None:
        """The clash of a row with what this run already holds, else None (and the row's values are held)."""
        for column in self.columns:
            value, holder = row[column], None
            if value is not None:
                holder = self.seen[column].get(value)
            if holder is not None and holder != key:
                return (RUN, column, value, f"{_text(holder)} earlier in this run")
        for column in self.columns:
            if row[column] is not None:
                self.seen[column].setdefault(row[column], key)
                self.sent[column][key] = row[column]
        return None

    def check(self, part: pa.Table, checked: Validation, run_id: str, *, last: bool = False) -> Validation:
        """`checked` with the valid rows whose unique value another key of this run holds moved to its
        quarantine, and those whose value a published row holds set aside until `finish` (quarantined
        at once when `last`: no more rows of the run will come, as in a replay)."""
        if not self.columns or not checked.valid.num_rows:
            return checked
        keys = list(zip(*[checked.valid.column(k).to_pylist() for k in self.key], strict=True))
        rows = checked.valid.select(self.columns).to_pylist()
        held = {c: self._published(c, sorted({r[c] for r in rows if r[c] is not None}, key=str)) for c in self.columns}
        clashes: dict[Key, Clash] = {}
        wait: dict[Key, tuple[str, Any, Key, str]] = {}
        for key, row in zip(keys, rows, strict=True):
            holder = next(((c, row[c], *held[c][row[c]]) for c in self.columns
                           if row[c] in held[c] and held[c][row[c]][0] != key
                           and self.sent[c].get(held[c][row[c]][0], row[c]) == row[c]), None)
            if holder is not None and holder[2] not in self.sent[holder[0]]:
                if last:
                    column, value, holder_key, source = holder
                    clashes[key] = (PUBLISHED, column, value, f"{_text(holder_key)} ({source}), published")
                else:
                    wait[key] = holder  # the holder may still come in this run, with another value
                continue
            clash = self._in_run(key, row)
            if clash is not None:
                clashes[key] = clash
        checked = _quarantine(part, checked, self.contract, run_id, clashes) if clashes else checked
        return self._set_aside(part, checked, wait) if wait else checked

    def _set_aside(self, part: pa.Table, checked: Validation, wait: dict[Key, tuple[str, Any, Key, str]]
                   ) -> Validation:
        canonical = map_batch(part, self.contract).table
        row_keys = list(zip(*[canonical.column(k).to_pylist() for k in self.key], strict=True))
        already = set(checked.quarantine.column("row").to_pylist()) if checked.quarantine.num_rows else set()
        rows = pa.array([i for i, k in enumerate(row_keys) if k in wait and i not in already], pa.int64())
        valid_keys = zip(*[checked.valid.column(k).to_pylist() for k in self.key], strict=True)
        waits = pa.array([k in wait for k in valid_keys], pa.bool_())
        was = checked.stats
        empty = checked._replace(valid=checked.valid.slice(0, 0), quarantine=checked.quarantine.slice(0, 0),
                                 quarantined_keys=None, stats=dataclasses.replace(
                                     was, seconds=0.0, rows_in=0, rows_valid=0, rows_quarantined=0, tombstones=0,
                                     rule_counts={}, reference_misses={}, drift=()))
        self.waiting.append(_Waiting(part.take(rows), checked.valid.filter(waits), empty, wait))
        n = len(rows)  # counted again, with their outcome, by `finish`
        return checked._replace(valid=checked.valid.filter(pc.invert(waits)), stats=dataclasses.replace(
            was, rows_in=was.rows_in - n, rows_valid=was.rows_valid - n))

    def finish(self, run_id: str) -> list[Validation]:
        """The rows set aside, judged now that the whole run is read: a row whose holder kept the value (or
        was not sent) is quarantined, one whose holder moved to another value is checked against the run."""
        out = []
        for waiting in self.waiting:
            keys = list(zip(*[waiting.valid.column(k).to_pylist() for k in self.key], strict=True))
            clashes: dict[Key, Clash] = {}
            for key, row in zip(keys, waiting.valid.select(self.columns).to_pylist(), strict=True):
                column, value, holder, source = waiting.holders[key]
                if self.sent[column].get(holder, value) == value:
                    clashes[key] = (PUBLISHED, column, value, f"{_text(holder)} ({source}), published")
                elif (clash := self._in_run(key, row)) is not None:
                    clashes[key] = clash
            n = waiting.valid.num_rows
            start = waiting.empty._replace(valid=waiting.valid, stats=dataclasses.replace(
                waiting.empty.stats, rows_in=n, rows_valid=n))
            out.append(_quarantine(waiting.part, start, self.contract, run_id, clashes) if clashes else start)
        self.waiting = []
        return out


def _text(key: Key) -> str:
    return "/".join(str(v) for v in key)


def _quarantine(part: pa.Table, checked: Validation, contract: Contract, run_id: str,
                clashes: dict[Key, Clash]) -> Validation:
    named = "/".join(contract.primary_key)
    found = {key: (rule, column, str(value),
                   f"{rule}: {column} {str(value)!r} is already held by {named} {holder}; {named} {_text(key)} "
                   f"sent it too (declared unique: settle it at the source, then replay)")
             for key, (rule, column, value, holder) in clashes.items()}
    return move_to_quarantine(part, checked, contract, run_id, found, keep_keys=True)
