import copy
from typing import Any

import pytest
import yaml

from schemas.changes import classify_change
from schemas.contract import CONTRACTS_DIR, contract_from_dict

pytestmark = pytest.mark.unit


def _doc() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((CONTRACTS_DIR / "permits.yaml").read_text(encoding="utf-8"))
    return doc


def _changed(edit) -> str:
    old = _doc()
    new = copy.deepcopy(old)
    edit(new)
    return classify_change(contract_from_dict(old), contract_from_dict(new)).kind


def _column(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in doc["columns"] if c["name"] == name)


def _add(doc: dict[str, Any], nullable: bool) -> None:
    doc["columns"].append({"name": "note", "type": "string", "nullable": nullable, "source": "status",
                           "description": {"vi": "Ghi chú", "en": "Note"}})


@pytest.mark.parametrize(("edit", "kind"), [
    (lambda d: None, "none"),
    (lambda d: _add(d, True), "compatible"),
    (lambda d: _add(d, False), "breaking"),
    (lambda d: _column(d, "permit_no").update(nullable=True), "compatible"),
    (lambda d: _column(d, "status").update(nullable=False), "breaking"),
    (lambda d: _column(d, "floor_area_m2").update(type="decimal128(18,2)"), "compatible"),
    (lambda d: _column(d, "floor_area_m2").update(type="decimal128(14,3)"), "breaking"),
    (lambda d: _column(d, "floors").update(type="int32"), "breaking"),
    (lambda d: _column(d, "floors").update(type="string"), "breaking"),
    (lambda d: d["columns"].remove(_column(d, "status")), "breaking"),
    (lambda d: d.update(primary_key=["permit_no", "status"]), "breaking"),
    (lambda d: _column(d, "investor_name").update(pii="public"), "breaking"),
    (lambda d: _column(d, "status").update(description={"vi": "Trạng thái", "en": "State"}), "compatible"),
    (lambda d: _column(d, "status").update(transform="code"), "compatible"),
    (lambda d: d.update(drift_policy="evolve", failure_threshold=0.2), "compatible"),
])
def test_change_classification(edit, kind):
    assert _changed(edit) == kind


def test_breaking_change_gives_its_reasons():
    old = _doc()
    new = copy.deepcopy(old)
    new["columns"].remove(_column(new, "status"))
    change = classify_change(contract_from_dict(old), contract_from_dict(new))
    assert change.breaking == ("column 'status' removed",)
