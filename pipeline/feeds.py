"""Keys a dataset of several sources declares global: a key another source already published is a conflict.

With `feeds: {keys: global}` (schemas/contract.py, Feeds) every source's rows share one key space. A
valid row whose key is published by another source is not merged (that would overwrite the other
source's row, or let this source delete it later): it is quarantined, with a reason naming both
sources, for a person to settle. The publish's own scope predicate (sharing/publish.py) is the last
guard: a row that slipped through (two sources publishing the same new key at once) fails that publish
on the serving table's unique key, never overwrites.

With `feeds: {settle: prefer}` the declared ranking settles it instead: a key held by a source ranked
below this one is taken over (its row stays valid; the publish closes the other's row), a key held by one
ranked above is yielded (not published, not a failure); both are counted in `Settled` for the summary.
Only two sources of the same rank are still a conflict.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from pipeline.held import move_to_quarantine
from sharing import db
from sharing.spec import dataset_spec

if TYPE_CHECKING:
    from quality.runner import Validation
    from schemas.contract import Contract

log = logging.getLogger(__name__)

RULE = "key_conflict"


@dataclass(slots=True)
class Settled:
    """Keys a declared preference settled in one run, per other source: taken over from it, yielded to it."""

    taken_over: Counter[str] = field(default_factory=Counter)
    yielded: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {"taken_over": dict(self.taken_over), "yielded": dict(self.yielded)}

    def line(self) -> str:
        """`, took over 3 keys from ward, yielded 2 to province (feeds.prefer)`, or "" when none."""
        parts = [f"took over {n} keys from {source}" for source, n in sorted(self.taken_over.items())]
        parts += [f"yielded {n} keys to {source}" for source, n in sorted(self.yielded.items())]
        return f", {', '.join(parts)} (feeds.prefer)" if parts else ""


def _published_elsewhere(engine: sa.Engine, contract: Contract, keys: list[tuple[Any, ...]]
                         ) -> dict[tuple[Any, ...], str]:
    """Of `keys`, those whose current row another source published, and that source."""
    assert contract.scope is not None
    spec = dataset_spec(contract)
    if not keys or not sa.inspect(engine).has_table(f"ds_{spec.name}"):
        return {}
    column, me = contract.scope
    table = db.serving_table(spec.name, spec.schema, spec.primary_key)
    key_cols = [table.c[k] for k in spec.primary_key]
    found: dict[tuple[Any, ...], str] = {}
    with engine.connect() as conn:
        for start in range(0, len(keys), 500):
            part = keys[start:start + 500]
            match = key_cols[0].in_([k[0] for k in part]) if len(key_cols) == 1 else sa.tuple_(*key_cols).in_(part)
            rows = conn.execute(sa.select(*key_cols, table.c[column]).where(
                table.c.valid_to.is_(None), sa.not_(table.c.is_deleted), table.c[column] != me, match))
            found.update({tuple(r[:-1]): str(r[-1]) for r in rows})
    return found


def _settle(checked: Validation, contract: Contract, held: dict[tuple[Any, ...], str], settled: Settled
            ) -> tuple[Validation, dict[tuple[Any, ...], str]]:
    """The declared preference applied to the keys other sources hold: `checked` without the yielded rows,
    and the keys still in conflict (held by a source of the same rank)."""
    feeds = contract.feeds
    if feeds is None or feeds.settle != "prefer":
        return checked, held
    mine = feeds.rank(contract.agency)
    yielded = {k: src for k, src in held.items() if feeds.rank(src) < mine}
    taken = {k: src for k, src in held.items() if feeds.rank(src) > mine}
    settled.taken_over.update(taken.values())
    settled.yielded.update(yielded.values())
    for verb, keys in (("takes over", taken), ("yields", yielded)):
        if keys:
            sample = ", ".join("/".join(map(str, k)) for k in list(keys)[:5])
            log.info("%s %s %d keys held by %s (feeds.prefer), e.g. %s", contract.agency, verb, len(keys),
                     ", ".join(sorted(set(keys.values()))), sample)
    if yielded:
        key = list(contract.primary_key)
        values = ["/".join(str(v) for v in k) for k in yielded]
        kept = pc.invert(pc.is_in(_joined(checked.valid, key), value_set=pa.array(values, pa.string())))
        was = checked.stats
        checked = checked._replace(valid=checked.valid.filter(kept),
                                   stats=dataclasses.replace(was, rows_valid=was.rows_valid - len(yielded)))
    return checked, {k: src for k, src in held.items() if k not in yielded and k not in taken}


def quarantine_conflicts(part: pa.Table, checked: Validation, contract: Contract, engine: sa.Engine,
                         run_id: str, settled: Settled | None = None) -> Validation:
    """`checked` with the valid rows whose global key another source holds moved to its quarantine, or,
    under a declared preference, taken over or yielded (counted in `settled`)."""

    if contract.feeds is None or contract.feeds.keys != "global" or not checked.valid.num_rows:
        return checked
    key = list(contract.primary_key)
    valid_keys = list(zip(*[checked.valid.column(k).to_pylist() for k in key], strict=True))
    held = _published_elsewhere(engine, contract, valid_keys)
    checked, held = _settle(checked, contract, held, settled if settled is not None else Settled())
    if not held:
        return checked
    me, named = contract.agency, "/".join(key)
    found = {k: (RULE, ",".join(key), "/".join(str(v) for v in k),
                 f"{RULE}: {named} {'/'.join(str(v) for v in k)!r} is published by {source}; {me} sent it too; "
                 f"not overwritten (settle it at the source, then replay)") for k, source in held.items()}
    return move_to_quarantine(part, checked, contract, run_id, found, keep_keys=False)


def _joined(table: pa.Table, key: list[str]) -> pa.Array:
    parts = [pc.cast(table.column(k), pa.string()) for k in key]
    if len(parts) == 1:
        return parts[0]
    return pc.binary_join_element_wise(*parts, "/", null_handling="replace", null_replacement="")
