"""`lienthong agencies`: serve the simulators, move their clocks, export their ground truth."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from agencies.base import AGENCY_NAMES, SIMULATED_AGENCIES

_AGENCY = click.Choice(SIMULATED_AGENCIES)


def _faults(values: tuple[str, ...]) -> dict[str, float]:
    from agencies.faults import parse_fault

    rates: dict[str, float] = {}
    for value in values:
        try:
            name, rate = parse_fault(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--fault") from None
        rates[name] = rate
    return rates


_common = [
    click.option("--records", "-n", default=1000, show_default=True, type=click.IntRange(10, 50_000_000),
                 help="World size: each agency serves about this many records."),
    click.option("--seed", "-s", default=1, show_default=True, type=int, help="Seed of the world and the faults."),
    click.option("--data-dir", default=Path("var/agencies"), show_default=True,
                 type=click.Path(file_okay=False, path_type=Path), help="Where the SQLite files live."),
]


def common(f: click.decorators.FC) -> click.decorators.FC:
    for option in reversed(_common):
        f = option(f)
    return f


@click.group()
def agencies() -> None:
    """Run and control the agency simulators (land, business: SOAP; construction, tax: REST)."""


@agencies.command()
@click.argument("agency", type=click.Choice((*SIMULATED_AGENCIES, "all", "all6")))
@click.option("--port", "-p", default=8801, show_default=True, type=click.IntRange(0, 65535),
              help="Port (for `all`: the first of four consecutive ports).")
@click.option("--host", default="127.0.0.1", show_default=True)
@common
@click.option("--fault", "faults", multiple=True, metavar="NAME=RATE", help="Switch a fault on (repeatable).")
@click.option("--slow-seconds", default=5.0, show_default=True, type=float, help="Delay of the `slow` fault.")
@click.option("--token-ttl", default=300.0, show_default=True, type=float, help="Tax token lifetime, seconds.")
@click.option("--fresh", is_flag=True, help="Regenerate the data instead of reopening the file.")
def serve(agency: str, port: int, host: str, records: int, seed: int, data_dir: Path, faults: tuple[str, ...],
          slow_seconds: float, token_ttl: float, fresh: bool) -> None:
    """Serve one simulator, or all four on consecutive ports."""
    from agencies.admin import build_app
    from agencies.runner import bind, serve_foreground
    from agencies.simulator import open_simulator

    rates = _faults(faults)
    # "all": the four provincial systems; "all6": with the treasury and the district register
    names = list(AGENCY_NAMES) if agency == "all" else list(SIMULATED_AGENCIES) if agency == "all6" else [agency]
    apps = []
    for offset, name in enumerate(names):
        click.echo(f"preparing {name} (records={records}, seed={seed}) ...", err=True)
        sim = open_simulator(name, records=records, seed=seed, data_dir=data_dir, faults=rates,
                             slow_seconds=slow_seconds, token_ttl=token_ttl, fresh=fresh)
        try:
            sock = bind(host, port + offset if port else 0)
        except OSError as exc:
            raise click.ClickException(f"{name}: cannot listen on {host}:{port + offset}: {exc.strerror}") from None
        real_port = sock.getsockname()[1]
        where = f"http://{host}:{real_port}" + (f"/ws/{name}" if sim.protocol == "soap" else "")
        doc = f"{where}?wsdl" if sim.protocol == "soap" else f"http://{host}:{real_port}/openapi.json"
        click.echo(f"{name:<13} {where}   ({doc}; clock {sim.store.meta()['clock']}; file {sim.store.path})")
        apps.append((build_app(sim), sock))
    sys.stdout.flush()
    serve_foreground(apps)


@agencies.command()
@click.argument("agency", type=_AGENCY)
@click.option("--minutes", "-m", required=True, type=click.IntRange(1, 525_600))
@common
@click.option("--url", help="A running simulator's base URL: advance through its admin endpoint instead.")
def advance(agency: str, minutes: int, records: int, seed: int, data_dir: Path, url: str | None) -> None:
    """Move a simulator's clock and apply a deterministic batch of inserts, updates and deletes."""
    if url:
        import httpx

        response = httpx.post(url.rstrip("/") + "/_admin/advance", params={"minutes": minutes}, timeout=120)
        if response.status_code != 200:
            raise click.ClickException(f"{url}: advance refused ({response.status_code}): {response.text[:200]}")
        click.echo(json.dumps(response.json()))
        return
    from agencies.simulator import database_path, open_simulator

    if not database_path(data_dir, agency, seed, records).exists():  # type: ignore[arg-type]
        raise click.ClickException(
            f"no {agency} data for seed={seed} records={records} in {data_dir}; serve it once or pass --url"
        )
    sim = open_simulator(agency, records=records, seed=seed, data_dir=data_dir)
    click.echo(json.dumps(sim.advance(minutes)))


@agencies.command()
@click.argument("agency", type=_AGENCY)
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dataset", "-d", help="One dataset only (default: all of the agency's).")
@common
@click.option("--fault", "faults", multiple=True, metavar="NAME=RATE",
              help="The faults the simulator serves with, so corrupted rows are named.")
def truth(agency: str, out: Path, dataset: str | None, records: int, seed: int, data_dir: Path,
          faults: tuple[str, ...]) -> None:
    """Write the ground truth (live records, tombstones, corruptions) to Parquet."""
    from agencies.simulator import open_simulator
    from agencies.truth import write_truth

    sim = open_simulator(agency, records=records, seed=seed, data_dir=data_dir, faults=_faults(faults))
    try:
        count = write_truth(sim, out, dataset)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{count} rows of {agency} ground truth (clock {sim.store.meta()['clock']}) -> {out}")


@agencies.command()
@click.argument("agency", type=_AGENCY)
@common
def info(agency: str, records: int, seed: int, data_dir: Path) -> None:
    """Show a simulator's clock, counts per dataset and credentials' variable names."""
    from agencies.base import DATASETS
    from agencies.simulator import open_simulator

    sim = open_simulator(agency, records=records, seed=seed, data_dir=data_dir)
    meta = sim.store.meta()
    click.echo(f"{agency}: file {sim.store.path}, clock {meta['clock']}, advances {meta['advances']}")
    for d in DATASETS[sim.agency]:
        click.echo(f"  {d:<18} feed {sim.store.count(d):>9}  live {sim.store.count_keys(d):>9}")
