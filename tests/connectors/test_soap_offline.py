"""A WSDL importing a remote XSD loads offline from the catalog; SOAP 1.1 and 1.2 ports; WS-Security."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from lxml import etree

from connectors.config import load_source
from connectors.http import HttpCaller
from connectors.secrets import Redactor
from connectors.soap import SoapReader
from core.errors import ConfigError

pytestmark = pytest.mark.unit

LAND_WSDL = Path(__file__).parents[2] / "agencies" / "soap" / "wsdl" / "land.wsdl"
REMOTE_XSD = "http://schemas.example.invalid/land/v1/types.xsd"
SOAP12 = 'xmlns:soap12="http://schemas.xmlsoap.org/wsdl/soap12/"'


def _split_wsdl(tmp_path: Path) -> Path:
    """land.wsdl with its types moved to a 'remote' XSD and a SOAP 1.2 binding and port added."""
    text = LAND_WSDL.read_text(encoding="utf-8")
    schema = re.search(r"<xsd:schema.*?</xsd:schema>", text, re.S)
    assert schema is not None
    xsd = schema.group(0)
    for prefix, uri in (("xsd", "http://www.w3.org/2001/XMLSchema"), ("tns", "urn:lienthong:land:v1")):
        if f"xmlns:{prefix}=" not in xsd.split(">", 1)[0]:
            xsd = xsd.replace("<xsd:schema ", f'<xsd:schema xmlns:{prefix}="{uri}" ', 1)
    (tmp_path / "land-types.xsd").write_text('<?xml version="1.0" encoding="UTF-8"?>\n' + xsd, encoding="utf-8")
    text = text.replace(schema.group(0), '<xsd:schema><xsd:import namespace="urn:lienthong:land:v1" '
                        f'schemaLocation="{REMOTE_XSD}"/></xsd:schema>')
    binding = re.search(r"<wsdl:binding.*?</wsdl:binding>", text, re.S)
    assert binding is not None
    b12 = (binding.group(0).replace("LandRegistrySoapBinding", "LandRegistrySoap12Binding")
           .replace("<soap:", "<soap12:").replace('transport="http://schemas.xmlsoap.org/soap/http"',
                                                   'transport="http://www.w3.org/2003/05/soap/bindings/HTTP/"'))
    text = text.replace("</wsdl:binding>", "</wsdl:binding>\n" + b12, 1)
    text = text.replace("</wsdl:service>", '  <wsdl:port name="LandRegistrySoap12" '
                        'binding="tns:LandRegistrySoap12Binding"><soap12:address location="http://localhost:8080/ws/land"/></wsdl:port>\n</wsdl:service>')
    text = text.replace('xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"',
                        'xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/" ' + SOAP12, 1)
    (tmp_path / "land.wsdl").write_text(text, encoding="utf-8")
    return tmp_path / "land.wsdl"


def _source_file(tmp_path: Path, version: str, catalog: bool) -> Path:
    wsdl = _split_wsdl(tmp_path)
    text = (Path(__file__).parents[2] / "connectors" / "sources" / "land.yaml").read_text(encoding="utf-8")
    soap = f'soap:\n  wsdl: {wsdl.name}\n  version: "{version}"\n  offline: true\n'
    if catalog:
        soap += f"  catalog:\n    {REMOTE_XSD}: land-types.xsd\n"
    text = re.sub(r"soap:\n(  .*\n)+", soap, text)
    path = tmp_path / "land.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _reader(path: Path) -> SoapReader:
    source = load_source(path, environ={})
    # No network: every fetch would go through this client, which refuses.
    client = httpx.Client(transport=httpx.MockTransport(lambda r: pytest.fail(f"fetched {r.url}")))
    return SoapReader(source, HttpCaller(source, client, Redactor()), Redactor(), environ={})


@pytest.mark.parametrize(("version", "envelope_ns", "content_type"), [
    ("1.1", "http://schemas.xmlsoap.org/soap/envelope/", "text/xml; charset=utf-8"),
    ("1.2", "http://www.w3.org/2003/05/soap-envelope", "application/soap+xml; charset=utf-8"),
])
def test_offline_catalog_and_soap_versions(tmp_path: Path, version: str, envelope_ns: str,
                                           content_type: str) -> None:
    reader = _reader(_source_file(tmp_path, version, catalog=True))
    body, headers = reader.envelope("GetParcelChanges", {"since": "2026-01-01T00:00:00Z", "pageSize": 10})
    root = etree.fromstring(body)
    assert etree.QName(root).namespace == envelope_ns
    assert headers["Content-Type"].startswith(content_type)
    token = root.find(".//{http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd}Username")
    assert token is not None and token.text == "lienthong"


def test_a_remote_import_without_catalog_entry_fails_offline(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot load .*types.xsd.* no catalog entry for it and soap.offline is on"):
        _reader(_source_file(tmp_path, "1.1", catalog=False))
