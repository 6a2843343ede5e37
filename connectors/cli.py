"""`lienthong extract SOURCE [--stream S] [--full-refresh] [--state FILE] --out DIR`.

Writes each stream's batches to `DIR/<stream>.parquet` (a later run into the same DIR writes
`<stream>.2.parquet`, `<stream>.3.parquet`, ...: earlier output is never replaced) and the new state
of every stream read to `DIR/state.json` (or `--state FILE` when given: read first, then replaced), with a progress bar.
State is written only after every stream has been read to the end.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click


def _free_target(out_dir: Path, stream: str) -> Path:
    """`<stream>.parquet`, or the first `<stream>.N.parquet` not taken: a run never replaces an earlier one."""
    target = out_dir / f"{stream}.parquet"
    n = 1
    while target.exists() or target.with_suffix(".parquet.partial").exists():
        n += 1
        target = out_dir / f"{stream}.{n}.parquet"
    return target


def _load_state(path: Path | None) -> dict[str, Any]:
    if path is None or not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise click.ClickException(f"{path}: not a state file (invalid JSON: {exc})") from None
    if not isinstance(data, dict):
        raise click.ClickException(f"{path}: expected a JSON object of stream -> state")
    return data


@click.command("extract")
@click.argument("source")
@click.option("--stream", "streams", multiple=True, help="Stream to read (repeatable); default: all.")
@click.option("--full-refresh", is_flag=True, help="Ignore the saved cursor and read everything.")
@click.option("--state", "state_file", type=click.Path(dir_okay=False, path_type=Path),
              help="State file to start from and to replace (default: DIR/state.json).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory for the Parquet files and the state.")
def extract(source: str, streams: tuple[str, ...], full_refresh: bool, state_file: Path | None,
            out_dir: Path) -> None:
    """Pull SOURCE (a name in connectors/sources or a YAML path) into Parquet batches and a state file."""
    import pyarrow.parquet as pq
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from connectors import load_source, read
    from core.errors import LienthongError

    try:
        config = load_source(source)
    except LienthongError as exc:
        raise click.ClickException(str(exc)) from None
    unknown = [s for s in streams if s not in config.streams]
    if unknown:
        raise click.BadParameter(f"{config.name} has no stream {', '.join(map(repr, unknown))}; "
                                 f"its streams: {', '.join(config.streams)}", param_hint="--stream")
    names = list(streams) or list(config.streams)
    state_path = state_file or out_dir / "state.json"
    state = _load_state(state_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    new_state = dict(state)
    written: list[str] = []
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
               TextColumn("{task.fields[rows]:>9,} rows  {task.fields[pages]:>5} pages  {task.fields[errors]} errors"),
               TimeElapsedColumn())
    try:
        console = Console(stderr=True)  # stdout keeps the result line; a pipe gets no progress at all
        with Progress(*columns, console=console, transient=False, disable=not console.is_terminal) as progress:
            for name in names:
                extraction = read(config, name, state.get(name), full_refresh=full_refresh)
                task = progress.add_task(f"{config.name}/{name}", total=None, rows=0, pages=0, errors=0)
                target = _free_target(out_dir, name)
                partial = target.with_suffix(".parquet.partial")
                with pq.ParquetWriter(partial, extraction.schema, compression="zstd") as writer:
                    for batch in extraction:
                        writer.write_batch(batch)
                        s = extraction.stats
                        progress.update(task, rows=s.records, pages=s.pages, errors=s.errors)
                os.replace(partial, target)
                s = extraction.stats
                progress.update(task, total=1, completed=1, rows=s.records, pages=s.pages, errors=s.errors)
                new_state[name] = extraction.state
                written.append(target.name)
    except LienthongError as exc:
        raise click.ClickException(str(exc)) from None
    tmp = state_path.with_suffix(".json.partial")
    tmp.write_text(json.dumps(new_state, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, state_path)
    click.echo(f"wrote {', '.join(written)} in {out_dir} and {state_path}")
