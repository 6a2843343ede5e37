"""WSDLs nobody here wrote: zeep's test WSDLs and the X-Road test service, loaded offline and hardened.

Files: tests/connectors/wsdl/variety (python-zeep's tests/wsdl_files, MIT, see its LICENSE and README)
and tests/connectors/wsdl/xroad/testservice.wsdl (nordic-institute/X-Road, MIT).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from connectors.catalog import XROAD_CATALOG, Catalog
from connectors.wsdlcheck import check, wsdl
from core.errors import ConfigError

pytestmark = pytest.mark.unit

HERE = Path(__file__).parent / "wsdl"
VARIETY = HERE / "variety"
TESTSERVICE = HERE / "xroad" / "testservice.wsdl"

# Every WSDL of the set, and what loading it gives: an operation it offers, or the documented reason
# it cannot be a source.
EXPECTED = {
    "claim.wsdl": "GetClaimDetails",  # rpc/encoded: needs the SOAP encoding schema, built in
    "soap.wsdl": "GetLastTradePrice",
    "soap_header.wsdl": "GetLastTradePrice",
    "soap_import_main.wsdl": "GetLastTradePrice",  # wsdl:import of a WSDL importing the SOAP encoding
    "soap_transport_err.wsdl": "GetLastTradePrice",
    "http.wsdl": ConfigError("no SOAP 1.1 port .*skipped port StockQuoteService/StockQuotePort: "
                             "HttpPostBinding is not a SOAP binding"),
    "soap_import_2.wsdl": ConfigError("no SOAP 1.1 port .*no SOAP port at all"),  # types only, imported
}


def test_every_variety_wsdl_is_expected() -> None:
    assert set(EXPECTED) == {p.name for p in VARIETY.glob("*.wsdl")}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_wsdl_loads_offline_or_fails_with_its_reason(name: str) -> None:
    expected = EXPECTED[name]
    if isinstance(expected, ConfigError):
        with pytest.raises(ConfigError, match=str(expected)):
            check(str(VARIETY / name), [])
        return
    report = check(str(VARIETY / name), [])
    assert not report.missing
    assert expected in report.operations
    assert report.binding is not None and "Soap11Binding" in report.binding


def test_the_xroad_test_service_lists_every_missing_location_at_once() -> None:
    result = CliRunner().invoke(wsdl, ["check", str(TESTSERVICE)])
    assert result.exit_code == 1
    missing = [line.split()[1] for line in result.output.splitlines() if line.startswith("  missing ")]
    assert missing == ["http://x-road.eu/xsd/xroad.xsd", "http://ws-i.org/profiles/basic/1.1/swaref.xsd",
                       "http://www.w3.org/2005/05/xmlmime"]


def test_the_xroad_test_service_loads_through_the_xroad_catalog() -> None:
    result = CliRunner().invoke(wsdl, ["check", str(TESTSERVICE), "--catalog", str(XROAD_CATALOG.parent)])
    assert result.exit_code == 0, result.output
    assert "loads offline" in result.output
    assert "operation xroadGetRandom" in result.output and "params:  seed" in result.output
    # xroad.xsd's relative imports (identifiers.xsd, xml.xsd) resolved inside the catalog folder


def test_prefix_rewrites_treat_http_and_https_alike(tmp_path: Path) -> None:
    (tmp_path / "xsd" / "v2").mkdir(parents=True)
    (tmp_path / "catalog.xml").write_text(
        '<catalog xmlns="urn:oasis:names:tc:entity:xmlns:xml:catalog">'
        '<rewriteURI uriStartString="https://agency.example/xsd/" rewritePrefix="xsd/"/>'
        '<rewriteSystem systemIdStartString="http://agency.example/xsd/v2/" rewritePrefix="xsd/v2/"/>'
        '<uri name="http://other.example/one.xsd" uri="one.xsd"/></catalog>', encoding="utf-8")
    catalog = Catalog.load(tmp_path)
    assert catalog.resolve("http://agency.example/xsd/a/b.xsd") == tmp_path / "xsd" / "a" / "b.xsd"
    assert catalog.resolve("https://AGENCY.example/xsd/v2/c.xsd") == tmp_path / "xsd" / "v2" / "c.xsd"
    assert catalog.resolve("https://other.example/one.xsd") == tmp_path / "one.xsd"
    assert catalog.resolve("https://unknown.example/x.xsd") is None
    assert catalog.resolve("http://schemas.xmlsoap.org/soap/encoding/") is not None  # built in
    mapped = Catalog.from_mapping({"https://agency.example/xsd/": "local/"}, tmp_path)
    assert mapped.resolve("http://agency.example/xsd/t.xsd") == tmp_path / "local" / "t.xsd"
