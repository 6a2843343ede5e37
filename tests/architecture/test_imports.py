"""The import rules of docs/architecture.md hold: no import breaks the layer order, no module cycle.

The graph is built from the source with `ast` (nothing is imported), including imports inside
functions, so a lazy import cannot hide a cycle or a backward dependency.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "docs" / "architecture.md"
PRODUCT = ("core", "schemas", "connectors", "quality", "sharing", "pipeline", "lienthong", "dags", "agencies")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the project module imported (resolved to a module that exists)
    line: int
    type_only: bool  # under `if TYPE_CHECKING:`


def rules() -> dict[str, set[str]]:
    """Package (or subpackage) -> the project packages it may import, from the table in the doc."""
    out: dict[str, set[str]] = {}
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and re.fullmatch(r"`[a-z.]+`", cells[0]):
            out[cells[0].strip("`")] = set(re.findall(r"`([a-z.]+)`", cells[2]))
    return out


def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PRODUCT:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def imports(known: dict[str, Path]) -> Iterator[Import]:
    def resolve(name: str) -> str | None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    for module, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        typed = _type_checking_lines(tree)
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([node.module] if node.module else [])])
                # `from pkg import sub` imports the module pkg.sub when there is one
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
            for name in names:
                target = resolve(name)
                if target is not None and target != module:
                    yield Import(module, target, node.lineno, node.lineno in typed)


def _rule_for(module: str, table: dict[str, set[str]]) -> tuple[str, set[str]]:
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        key = ".".join(parts[:n])
        if key in table:
            return key, table[key]
    raise AssertionError(f"{module}: its package has no row in {TABLE.name}")


def _package_of(target: str, table: dict[str, set[str]]) -> str:
    return _rule_for(target, table)[0]


def test_the_table_names_every_package() -> None:
    table = rules()
    assert set(PRODUCT) <= set(table), f"packages without a row: {set(PRODUCT) - set(table)}"
    assert table["core"] == set() and table["agencies"] == set()


def test_no_import_breaks_the_layer_order() -> None:
    table = rules()
    broken = []
    for imp in imports(modules()):
        own, allowed = _rule_for(imp.module, table)
        theirs = _package_of(imp.target, table)
        same = theirs == own or theirs.startswith(own + ".") or own.startswith(theirs + ".")
        if not same and theirs.split(".")[0] not in allowed and theirs not in allowed:
            broken.append(f"{imp.module}:{imp.line} imports {imp.target} ({own} may import: "
                          f"{', '.join(sorted(allowed)) or 'nothing of the project'})")
    assert not broken, "imports against docs/architecture.md:\n  " + "\n  ".join(broken)


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_loop() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    known = modules()
    edges: dict[str, set[str]] = {m: set() for m in known}
    for imp in imports(known):
        if not imp.type_only:
            edges[imp.module].add(imp.target)
    found = cycles(edges)
    assert not found, "import cycles:\n  " + "\n  ".join(" <-> ".join(c) for c in found)
