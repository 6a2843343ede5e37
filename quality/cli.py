"""`lienthong validate DATASET --input FILE` and `lienthong quarantine list|show|replay`.

Nothing heavy at import: Great Expectations, pandas and the runner load when a command runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from core.settings import get_settings


def _engine(database_url: str | None) -> Any:
    from core.settings import check_database_url
    from schemas.db import engine_for

    return engine_for(check_database_url(database_url) if database_url else get_settings().database_url)


def _read_input(path: Path, dataset: str) -> Any:
    """A connector batch: Parquet as `lienthong extract` writes it, or JSON lines of wire records."""
    if path.suffix in (".jsonl", ".ndjson", ".json"):
        from schemas.contract import get_contract
        from schemas.wire import batch_from_records

        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        records = []
        for number, line in enumerate(lines, 1):
            try:
                records.append(json.loads(line))
            except ValueError as exc:
                raise click.ClickException(f"{path}:{number}: not a JSON record ({exc})") from None
        return batch_from_records(records, get_contract(dataset),
                                  page=path.name, raws=lines)
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path)
    except pa.ArrowException as exc:
        raise click.ClickException(f"{path}: not a Parquet file ({exc}); give Parquet or JSON lines (.jsonl)") from None


def _known_dataset(name: str | None) -> None:
    from schemas.contract import contracts

    known = sorted(contracts())
    if name is not None and name not in known:
        raise click.BadParameter(f"unknown dataset {name!r}; known: {', '.join(known)}", param_hint="--dataset")


def _id_range(engine: Any) -> str:
    from quality.store import list_quarantined

    ids = [row.id for row in list_quarantined(engine, None, None)]
    return f"the quarantine holds ids {min(ids)}..{max(ids)}" if ids else "the quarantine is empty"


_DATASETS = ["branches", "enterprises", "land_certificates", "parcels", "permits", "tax_notices", "taxpayers"]


@click.command()
@click.argument("dataset", type=click.Choice(_DATASETS))
@click.option("--input", "input_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="A batch: Parquet from a connector, or JSON lines of wire records.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the valid canonical rows here (Parquet).")
@click.option("--run-id", default=None, help="Default: generated.")
@click.option("--check-references", is_flag=True, help="Count references missing from published datasets.")
@click.option("--database-url", default=None, help="Default: LIENTHONG_DATABASE_URL.")
def validate(dataset: str, input_path: Path, output: Path | None, run_id: str | None, check_references: bool,
             database_url: str | None) -> None:
    """Validate FILE against DATASET's contract and suite; quarantine what fails."""
    from core.errors import LienthongError
    from quality.runner import validate_batch

    batch = _read_input(input_path, dataset)
    if "_stream" in batch.column_names and "_source" in batch.column_names and batch.num_rows:
        from schemas.contract import contract_for_stream

        stream, source = batch.column("_stream")[0].as_py(), batch.column("_source")[0].as_py()
        if contract_for_stream(source, stream).dataset != dataset:
            raise click.ClickException(f"{input_path} holds {source}/{stream}, which feeds "
                                       f"{contract_for_stream(source, stream).dataset}, not {dataset}")
    engine = _engine(database_url)
    references = None
    if check_references:
        from quality.references import published_keys

        references = published_keys(engine, dataset)
    try:
        result = validate_batch(batch, dataset, run_id=run_id, engine=engine, references=references)
    except LienthongError as exc:  # over the threshold, frozen drift, a bad contract: say so, no traceback
        raise click.ClickException(str(exc)) from None
    stats = result.stats
    click.echo(f"{dataset} run {stats.run_id}: {stats.rows_in} rows, {stats.rows_valid} valid, "
               f"{stats.rows_quarantined} quarantined ({stats.failure_rate:.2%}), {stats.seconds:.2f}s")
    for rule, count in sorted(stats.rule_counts.items(), key=lambda kv: -kv[1]):
        click.echo(f"  {count:>8}  {rule}")
    for check, count in sorted(stats.reference_misses.items()):
        click.echo(f"  {count:>8}  references not found ({check}; counted, not quarantined)")
    if output is not None:
        import pyarrow.parquet as pq

        pq.write_table(result.valid, output)
        click.echo(f"valid rows written to {output}")


@click.group()
def quarantine() -> None:
    """List, show and replay quarantined records."""


@quarantine.command("list")
@click.option("--dataset", default=None)
@click.option("--status", type=click.Choice(["quarantined", "released", "all"]), default="quarantined")
@click.option("--limit", type=int, default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--database-url", default=None)
def list_command(dataset: str | None, status: str, limit: int, as_json: bool, database_url: str | None) -> None:
    """Quarantined records: id, dataset, key, rule, column, value, page, run, status."""
    from core.listing import emit
    from quality.store import list_quarantined

    _known_dataset(dataset)
    rows = list_quarantined(_engine(database_url), dataset, None if status == "all" else status, limit)
    columns = ["id", "dataset", "record_key", "rule", "column", "value", "page", "run_id", "status"]
    emit([{c: getattr(r, c) for c in columns} for r in rows], columns, as_json=as_json, title="quarantine",
         numeric=["id"],
         empty=f"no {'' if status == 'all' else status + ' '}record{' of ' + dataset if dataset else ''}")


@quarantine.command("show")
@click.argument("quarantine_id", type=int)
@click.option("--database-url", default=None)
def show_command(quarantine_id: int, database_url: str | None) -> None:
    """One quarantined record with every failure and the raw record."""
    from quality.store import get_quarantined

    engine = _engine(database_url)
    row = get_quarantined(engine, quarantine_id)
    if row is None:
        raise click.ClickException(f"no quarantined record {quarantine_id} ({_id_range(engine)})")
    for name in ("id", "status", "source", "dataset", "contract_version", "run_id", "page", "record_key",
                 "rule", "column", "value", "reason", "attempts", "created_at", "released_at"):
        click.echo(f"{name}: {getattr(row, name)}")
    click.echo("failures: " + json.dumps(json.loads(row.failures), ensure_ascii=False, indent=2))
    click.echo("raw: " + (row.raw or ""))
