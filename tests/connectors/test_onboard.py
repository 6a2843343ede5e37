"""`lienthong source init --from-wsdl`: a SOAP draft from the land registry's WSDL that loads as a source
file and a contract (the OpenAPI path is run end to end by tests/docs/test_adding_a_source.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from connectors.config import read_source
from connectors.onboard import source
from schemas.contract import load_contract_file

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


def test_a_wsdl_draft_loads_with_paging_cursor_and_tombstones(tmp_path: Path) -> None:
    wsdl = ROOT / "agencies" / "soap" / "wsdl" / "land.wsdl"
    result = CliRunner().invoke(source, ["init", "registry_land", "--from-wsdl", str(wsdl), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    drafted = read_source(tmp_path / "sources" / "registry_land.yaml")
    assert drafted.protocol == "soap" and set(drafted.streams) == {"parcels", "certificates"}
    parcels = drafted.streams["parcels"]
    assert (parcels.operation, parcels.records, parcels.pagination.style) == ("GetParcelChanges", "parcel", "token")
    assert parcels.incremental is not None and parcels.incremental.param == "since"
    assert parcels.deletes.mode == "tombstone" and parcels.fields["mapSheet"] == "int64"
    contract = load_contract_file(tmp_path / "contracts" / "parcels.yaml")
    assert contract.agency == "registry_land" and contract.tombstone == "deleted"
    again = CliRunner().invoke(source, ["init", "registry_land", "--from-wsdl", str(wsdl), "--out", str(tmp_path)])
    assert again.exit_code == 1 and "--force" in again.output  # never overwrites a file being edited
