"""The JSON Schemas editors use are the declaration models' own, and every shipped file passes them."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from connectors.config import SOURCES_DIR
from lienthong.dev.json_schemas import SCHEMAS_DIR, render, schemas
from schemas.contract import CONTRACTS_DIR

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("name", sorted(schemas()))
def test_the_committed_schema_is_the_models(name: str) -> None:
    committed = (SCHEMAS_DIR / name).read_text(encoding="utf-8")
    assert committed == render(schemas()[name]), f"run `python -m lienthong.dev.json_schemas`: {name} is stale"


@pytest.mark.parametrize("path", sorted(SOURCES_DIR.glob("*.yaml")) + sorted(CONTRACTS_DIR.glob("*.yaml")),
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_shipped_declaration_passes_its_schema(path: Path) -> None:
    kind = "source" if path.parent == SOURCES_DIR else "contract"
    schema = json.loads((SCHEMAS_DIR / f"{kind}.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def test_the_schema_refuses_what_the_loader_refuses() -> None:
    schema = json.loads((SCHEMAS_DIR / "source.schema.json").read_text(encoding="utf-8"))
    document = yaml.safe_load((SOURCES_DIR / "tax.yaml").read_text(encoding="utf-8"))
    document["streams"]["taxpayers"]["pagination"]["style"] = "cursr"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate(document)
    document["streams"]["taxpayers"]["pagination"] = {"style": "token", "cursor_field": "next"}  # no cursor_param
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate(document)
