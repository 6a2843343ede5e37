import copy
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import yaml

from core.errors import ConfigError
from schemas.contract import CONTRACTS_DIR, contract_for_stream, contract_from_dict, contracts, load_contract_file

pytestmark = pytest.mark.unit

DATASETS = {"enterprises", "branches", "taxpayers", "tax_notices", "parcels", "land_certificates", "permits"}


def _doc() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((CONTRACTS_DIR / "parcels.yaml").read_text(encoding="utf-8"))
    return doc


def test_every_dataset_has_a_contract_that_loads():
    loaded = contracts()
    assert set(loaded) == DATASETS
    for contract in loaded.values():
        assert contract.description.vi and contract.description.en
        assert all(c.description.vi and c.description.en for c in contract.columns)
        assert contract.cursor == "updated_at"
        schema = contract.arrow_schema()
        assert schema.field("updated_at").type == pa.timestamp("us", tz="UTC")


def test_canonical_types_and_derived_columns():
    parcels = contracts()["parcels"]
    assert parcels.column("area_m2").type == pa.decimal128(14, 2)
    assert {"commune_code", "commune_code_source", "admin_review", "holder_name_search"} <= set(parcels.column_names)
    assert parcels.column("holder_id").pii == "sensitive"
    assert contracts()["tax_notices"].column("due_date").type == pa.date32()
    assert contracts()["tax_notices"].column("amount_vnd").type == pa.int64()
    assert contract_for_stream("tax", "land_tax_notices").dataset == "tax_notices"


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d["columns"][3].update(type="strin"), "parcels.yaml: columns[3].type: unknown type 'strin'"),
    (lambda d: d.pop("cursor"), "parcels.yaml: cursor: required key is missing"),
    (lambda d: d.update(cursor="nope"), "parcels.yaml: cursor: 'nope' is not a column"),
    (lambda d: d.update(drift_policy="ignore"), "parcels.yaml: drift_policy: 'ignore' is not one of evolve"),
    (lambda d: d["columns"][10].update(source="areaM3"), "parcels.yaml: columns[10].source: 'areaM3' is not a field"),
    (lambda d: d["columns"][10].update(transform="magic"), "parcels.yaml: columns[10].transform: 'magic' is not one"),
    (lambda d: d["columns"][0].update(step="admin.nowhere"), "parcels.yaml: columns[0].step: 'admin.nowhere'"),
    (lambda d: d["columns"][1].update(colour="red"), "parcels.yaml: columns[1].colour: unknown key"),
    (lambda d: d["columns"][1]["description"].pop("vi"), "parcels.yaml: columns[1].description.vi: required key"),
    (lambda d: d.update(failure_threshold=2), "parcels.yaml: failure_threshold: 2.0 is not a share"),
    (lambda d: d["primary_key"].append("ghost"), "parcels.yaml: primary_key[3]: 'ghost' is not a column"),
    (lambda d: d["source"]["fields"].update(x="blob"), "parcels.yaml: source.fields.x: 'blob' is not one of"),
    (lambda d: d.update(version="one"), "parcels.yaml: version: expected int, got str 'one'"),
    (lambda d: d["columns"].append(copy.deepcopy(d["columns"][1])), "parcels.yaml: columns[18].name: duplicate"),
])
def test_a_bad_contract_fails_with_the_path_of_the_bad_key(edit, message):
    doc = _doc()
    edit(doc)
    with pytest.raises(ConfigError) as caught:
        contract_from_dict(doc, "parcels.yaml")
    assert message in str(caught.value)


def test_file_name_must_match_dataset(tmp_path: Path):
    doc = _doc()
    (tmp_path / "plots.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"plots\.yaml: dataset: 'parcels' does not match"):
        load_contract_file(tmp_path / "plots.yaml")


def test_invalid_yaml_names_the_file(tmp_path: Path):
    (tmp_path / "parcels.yaml").write_text("dataset: [unclosed", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"parcels\.yaml: not valid YAML"):
        load_contract_file(tmp_path / "parcels.yaml")
