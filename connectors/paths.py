"""Where the declaration files live (a light module: DAG parsing and the CLI import it, not the models)."""

from __future__ import annotations

from pathlib import Path

SOURCES_DIR = Path(__file__).parent / "sources"
