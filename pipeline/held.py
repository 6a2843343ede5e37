"""Valid rows moved to the quarantine after validation, by checks that need more than the chunk: a global
key another source holds (pipeline.feeds), a declared-unique value another key holds (pipeline.unique)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from schemas.mapping import map_batch

if TYPE_CHECKING:
    from quality.runner import Validation
    from schemas.contract import Contract

Key = tuple[Any, ...]
Found = tuple[str, str, str, str]  # (rule, column, value, reason)


def move_to_quarantine(part: pa.Table, checked: Validation, contract: Contract, run_id: str,
                       found: dict[Key, Found], *, keep_keys: bool) -> Validation:
    """`checked` with the valid rows whose primary key is in `found` quarantined with their rule and reason,
    the statistics moved with them; `keep_keys`: their keys join `quarantined_keys` (a full refresh must
    not read them as gone)."""
    from quality.runner import split_batch

    key = list(contract.primary_key)
    canonical = map_batch(part, contract).table  # the wire rows, for the quarantine (replay), once valid
    already = set(checked.quarantine.column("row").to_pylist()) if checked.quarantine.num_rows else set()
    row_keys = list(zip(*[canonical.column(k).to_pylist() for k in key], strict=True))
    rows = np.array([i for i, k in enumerate(row_keys) if k in found and i not in already], dtype=np.int64)
    what = [found[row_keys[i]] for i in rows]
    failures = pa.table({"row": rows, "seq": np.arange(len(rows)),
                         "rule": pa.array([w[0] for w in what], pa.string()),
                         "column": pa.array([w[1] for w in what], pa.string()),
                         "value": pa.array([w[2] for w in what], pa.string())})
    _, held, _ = split_batch(part, canonical, contract, run_id, failures)
    held = held.set_column(held.schema.get_field_index("reason"), "reason",
                           pa.array([w[3] for w in what], pa.string()))
    gone = {row_keys[i] for i in rows}
    keep = pa.array([k not in gone for k in zip(*[checked.valid.column(k).to_pylist() for k in key], strict=True)],
                    pa.bool_())
    was = checked.stats
    rule_counts = dict(was.rule_counts)
    for rule, column, _, _ in what:
        rule_counts[f"{rule}/{column}"] = rule_counts.get(f"{rule}/{column}", 0) + 1
    stats = dataclasses.replace(was, rows_valid=was.rows_valid - len(rows),
                                rows_quarantined=was.rows_quarantined + len(rows), rule_counts=rule_counts)
    quarantine = pa.concat_tables([checked.quarantine, held]) if checked.quarantine.num_rows else held
    keys = checked.quarantined_keys
    if keep_keys:
        keys = canonical.select(list(contract.published_key)).take(pa.array(rows, pa.int64())).drop_null()
        if checked.quarantined_keys is not None and checked.quarantined_keys.num_rows:
            keys = pa.concat_tables([checked.quarantined_keys, keys.cast(checked.quarantined_keys.schema)])
    return checked._replace(valid=checked.valid.filter(keep), quarantine=quarantine, stats=stats,
                            quarantined_keys=keys)
