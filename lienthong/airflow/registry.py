"""What the DAG files are generated from: the source files and the contracts they feed, read cheaply.

Adding `connectors/sources/<name>.yaml` (and a contract reading its streams) adds a sync DAG with no
Python edited. Reading these package files is the one thing DAG parsing does besides declaring: they
ship with the code (like a module), are local, and parse in milliseconds; nothing here opens a
socket, a database or an Airflow connection. Full validation stays with `connectors.load_source` at
run time, so a broken source file fails its own DAG's tasks with the key's path, not the parse.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from connectors.paths import SOURCES_DIR
from core.registry import registry_dirs

CONTRACTS_DIR = Path(__file__).resolve().parents[2] / "schemas" / "contracts"
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True, slots=True)
class StreamEntry:
    name: str
    dataset: str  # the published dataset the stream feeds (its contract's name)


@dataclass(frozen=True, slots=True)
class SourceEntry:
    name: str
    description: str
    protocol: str
    concurrency: int  # the agency's pool size: concurrent calls allowed to its system
    streams: tuple[StreamEntry, ...]

    @property
    def dag_id(self) -> str:
        return f"lienthong_sync_{self.name}"

    @property
    def pool(self) -> str:
        return f"lienthong_{self.name}"

    @property
    def conn_id(self) -> str:
        return f"lienthong_{self.name}"


def _load(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as f:
        data = yaml.load(f, Loader=_Loader)  # noqa: S506 - a safe loader (C or Python)
    return data if isinstance(data, dict) else {}


def _datasets_by_stream(contracts_dirs: tuple[Path, ...]) -> dict[tuple[str, str], str]:
    found = {}
    for path in sorted(p for d in contracts_dirs for p in d.glob("*.yaml")):
        data = _load(path)
        src = data.get("source") or {}
        if isinstance(src, dict) and src.get("agency") and src.get("stream"):
            found[(str(src["agency"]), str(src["stream"]))] = str(data.get("dataset") or path.stem)
    return found


def sources(sources_dir: Path | None = None, contracts_dir: Path | None = None) -> list[SourceEntry]:
    """Every source file, with the dataset each of its streams publishes (the stream's name if no contract).

    By default every registry: the built-in one and those `LIENTHONG_REGISTRY` names."""
    extra = registry_dirs()
    source_dirs = (sources_dir,) if sources_dir else (SOURCES_DIR, *(d / "sources" for d in extra))
    datasets = _datasets_by_stream((contracts_dir,) if contracts_dir else
                                   (CONTRACTS_DIR, *(d / "contracts" for d in extra)))
    entries = []
    for path in sorted((p for d in source_dirs for p in d.glob("*.yaml")), key=lambda p: p.stem):
        data = _load(path)
        name = str(data.get("source") or path.stem)
        streams = data.get("streams") or {}
        limits = data.get("limits") or {}
        entries.append(SourceEntry(
            name=name,
            description=str(data.get("description") or name),
            protocol=str(data.get("protocol") or "?"),
            concurrency=int(limits.get("concurrency") or 2) if isinstance(limits, dict) else 2,
            streams=tuple(StreamEntry(str(s), datasets.get((name, str(s)), str(s))) for s in streams),
        ))
    return entries
