"""`lienthong wsdl check FILE [--catalog PATH]...`: can this WSDL be loaded offline, and what does it offer?

Walks the whole import graph first and lists every location it cannot resolve, at once (not one per
run); then loads the WSDL with zeep, hardened and offline, and reports which binding a source would use
(SOAP bindings only; HTTP GET/POST bindings are skipped with a note), and for each operation its request
parameters and the repeated elements of its response, the record paths a stream can declare.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from connectors.catalog import Catalog


@dataclass(slots=True)
class Report:
    wsdl: str
    missing: list[tuple[str, str]] = field(default_factory=list)
    binding: str | None = None
    notes: list[str] = field(default_factory=list)
    operations: dict[str, dict[str, list[str]]] = field(default_factory=dict)


def _paths(element: Any, prefix: str = "", depth: int = 0) -> list[str]:
    """Paths (from the response element) to its repeated elements: candidate `records` paths."""
    out: list[str] = []
    if depth > 8:
        return out
    for name, child in getattr(element.type, "elements", None) or []:
        path = f"{prefix}{name}"
        repeated = child.max_occurs == "unbounded" or (isinstance(child.max_occurs, int) and child.max_occurs > 1)
        if repeated:
            out.append(path)
        out.extend(_paths(child, path + "/", depth + 1))
    return out


def _params(element: Any, prefix: str = "", depth: int = 0) -> list[str]:
    out: list[str] = []
    for name, child in getattr(element.type, "elements", None) or []:
        if getattr(child.type, "elements", None) and depth < 6:
            out.extend(_params(child, f"{prefix}{name}.", depth + 1))
        else:
            out.append(f"{prefix}{name}")
    return out


def check(wsdl: str, catalogs: list[Path], version: str = "1.1") -> Report:
    from connectors.soap import load_client, pick_binding
    from connectors.wsdl import WsdlLocaliser

    catalog = Catalog()
    for path in catalogs:
        catalog.add(Catalog.load(path))
    report = Report(wsdl)
    base = Path(wsdl).resolve().parent if "://" not in wsdl else Path.cwd()
    location = wsdl if "://" in wsdl else str(Path(wsdl).resolve())
    with tempfile.TemporaryDirectory(prefix="lienthong-wsdl-") as workdir:
        walker = WsdlLocaliser(Path(wsdl).name, catalog, Path(workdir), None, base_dir=base, collect_missing=True)
        walker.localise(location)
        report.missing = [(m.location, m.imported_by) for m in walker.missing]
        if report.missing:
            return report
        loader = WsdlLocaliser(Path(wsdl).name, catalog, Path(workdir) / "load", None, base_dir=base)
        (Path(workdir) / "load").mkdir()
        client = load_client(Path(wsdl).name, location, loader.localise)
    sname, pname, binding = pick_binding(client, Path(wsdl).name, None, None, version, report.notes)
    report.binding = f"{sname}/{pname} ({type(binding).__name__}, {binding.name.text})"
    for name, op in binding._operations.items():
        entry: dict[str, list[str]] = {"params": [], "records": []}
        body = getattr(op.input, "body", None)
        if body is not None and hasattr(body, "type"):
            entry["params"] = _params(body)
        out = getattr(op.output, "body", None) if op.output is not None else None
        if out is not None and hasattr(out, "type"):
            entry["records"] = _paths(out)
        elif op.output is None:
            entry["records"] = ["(one-way: no response)"]
        report.operations[name] = entry
    return report


@click.group("wsdl")
def wsdl() -> None:
    """Check WSDLs before declaring a SOAP source."""


@wsdl.command("check")
@click.argument("file")
@click.option("--catalog", "catalogs", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="An OASIS XML catalog file, or a folder (its catalog.xml, else its files by name). Repeatable.")
@click.option("--soap-version", type=click.Choice(["1.1", "1.2"]), default="1.1", show_default=True)
def check_command(file: str, catalogs: tuple[Path, ...], soap_version: str) -> None:
    """Load FILE offline through the catalogs; list missing imports, the binding, operations, record paths."""
    from core.errors import LienthongError

    if "://" not in file and not Path(file).is_file():
        raise click.ClickException(f"{file}: no such file")
    try:
        report = check(file, list(catalogs), soap_version)
    except LienthongError as exc:
        raise click.ClickException(str(exc)) from None
    if report.missing:
        click.echo(f"{file}: {len(report.missing)} location(s) not found offline; add them to a catalog:")
        for location, by in report.missing:
            click.echo(f"  missing {location}  (imported by {by})")
        raise SystemExit(1)
    click.echo(f"{file}: loads offline")
    click.echo(f"binding: {report.binding}")
    for note in report.notes:
        click.echo(f"note: {note}")
    for name, entry in report.operations.items():
        click.echo(f"operation {name}")
        click.echo(f"  params:  {', '.join(entry['params']) or '-'}")
        click.echo(f"  records: {', '.join(entry['records']) or '- (no repeated element)'}")
