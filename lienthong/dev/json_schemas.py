"""Writes the JSON Schemas of the declaration files (`schemas/json/*.schema.json`) from their models.

The same pydantic models that read source and contract files emit these, so an editor (YAML language
server: `# yaml-language-server: $schema=...` at the top of a file) checks what the loader checks, less
the rules across keys. `python -m lienthong.dev.json_schemas` rewrites them; a unit test fails when a
committed file differs from its model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "schemas" / "json"


def schemas() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema, for every declaration kind."""
    from connectors.declarations.source import SourceConfig
    from core.declarations import json_schema
    from schemas.contract import Contract, FeedMapping

    return {
        "source.schema.json": json_schema(SourceConfig, "lienthong source file (connectors/sources/*.yaml)"),
        "contract.schema.json": json_schema(Contract, "lienthong dataset contract (schemas/contracts/*.yaml)"),
        "mapping.schema.json": json_schema(FeedMapping, "lienthong mapping file: one more source of a dataset "
                                                        "(mappings/<dataset>.<source>.yaml)"),
    }


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def main() -> None:
    SCHEMAS_DIR.mkdir(parents=True, exist_ok=True)
    for name, schema in schemas().items():
        (SCHEMAS_DIR / name).write_text(render(schema), encoding="utf-8")
        print(f"wrote {SCHEMAS_DIR / name}")


if __name__ == "__main__":
    main()
