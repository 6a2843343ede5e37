"""The ground truth of a simulator: every live record and tombstone, and which ones are served corrupted.

Columns: the dataset's wire fields holding the **true** values (typed as PROTOCOL.md says), then
`_dataset`, `_key`, `_deleted`, `_corrupted`, `_corruption` (e.g. `bad_check_digit:holderId`; several
joined with `;`) and `_served`: the record as the feed serves it under the configured value faults,
as JSON text, when it differs from the true one (invalid UTF-8 bytes shown as U+FFFD).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from agencies.base import DATASETS, Record
from agencies.datasets import get_path, spec
from agencies.simulator import AgencySimulator

_ARROW_TYPES = {"str": "string", "int": "int64", "float": "float64", "bool": "bool_"}


def _schema(datasets: Sequence[str]) -> Any:
    import pyarrow as pa

    fields: dict[str, Any] = {}
    for dataset in datasets:
        for name, kind in spec(dataset).fields:
            fields.setdefault(name, pa.field(name, getattr(pa, _ARROW_TYPES[kind])()))
    extra = [pa.field("_dataset", pa.string()), pa.field("_key", pa.string()), pa.field("_deleted", pa.bool_()),
             pa.field("_corrupted", pa.bool_()), pa.field("_corruption", pa.string()),
             pa.field("_served", pa.string())]
    return pa.schema([*fields.values(), *extra])


def _printable(value: object) -> object:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def truth_rows(sim: AgencySimulator, dataset: str) -> Iterator[Record]:
    """The truth rows of one dataset, in feed order."""
    ds = spec(dataset)
    for key, deleted, body in sim.store.all_rows(dataset):
        record: Record = json.loads(body)
        corruptions = sim.faults.corruptions(dataset, record) if sim.faults.value_faults_on else []
        served = None
        if corruptions:
            faulty = sim.faults.apply(dataset, [record])[0]
            served = json.dumps({k: _printable(v) for k, v in faulty.items()}, ensure_ascii=False)
        row = {name: get_path(record, name) for name in ds.field_names}
        row.update(_dataset=dataset, _key=key, _deleted=bool(deleted), _corrupted=bool(corruptions),
                   _corruption=";".join(corruptions) or None, _served=served)
        yield row


def write_truth(sim: AgencySimulator, out: Path, dataset: str | None = None, batch: int = 50_000) -> int:
    """Write the ground truth (one dataset, or all of the agency's) to Parquet; returns the row count."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    datasets = [dataset] if dataset else list(DATASETS[sim.agency])
    for d in datasets:
        if d not in DATASETS[sim.agency]:
            raise ValueError(f"{sim.agency} has no dataset {d!r}; it has {', '.join(DATASETS[sim.agency])}")
    schema = _schema(datasets)
    out.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with pq.ParquetWriter(out, schema) as writer:
        for d in datasets:
            rows: list[Record] = []
            for row in truth_rows(sim, d):
                rows.append(row)
                if len(rows) >= batch:
                    writer.write_table(pa.Table.from_pylist(rows, schema=schema))
                    written += len(rows)
                    rows = []
            if rows:
                writer.write_table(pa.Table.from_pylist(rows, schema=schema))
                written += len(rows)
    return written
