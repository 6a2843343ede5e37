"""Where the bulk path cannot mirror zeep exactly it falls back to zeep and says so once; zeep's and
lxml's errors on a broken WSDL reach the user as errors naming the source file."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from connectors.config import read_source
from connectors.http import HttpCaller, Response
from connectors.secrets import Redactor
from connectors.soap import SoapReader
from core.errors import ConfigError

pytestmark = pytest.mark.unit

WSDL = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
             xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:tns="urn:t" targetNamespace="urn:t">
  <types><xs:schema targetNamespace="urn:t" elementFormDefault="qualified">
    <xs:complexType name="Item"><xs:sequence>
      <xs:element name="code" type="xs:string"/>
      <xs:choice><xs:element name="amount" type="xs:int"/><xs:element name="note" type="xs:string"/></xs:choice>
    </xs:sequence></xs:complexType>
    <xs:element name="List"><xs:complexType><xs:sequence/></xs:complexType></xs:element>
    <xs:element name="ListResponse"><xs:complexType><xs:sequence>
      <xs:element name="item" type="tns:Item" minOccurs="0" maxOccurs="unbounded"/>
    </xs:sequence></xs:complexType></xs:element>
  </xs:schema></types>
  <message name="in"><part name="body" element="tns:List"/></message>
  <message name="out"><part name="body" element="tns:ListResponse"/></message>
  <portType name="P"><operation name="List"><input message="tns:in"/><output message="tns:out"/></operation></portType>
  <binding name="B" type="tns:P"><soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
    <operation name="List"><soap:operation soapAction=""/><input><soap:body use="literal"/></input>
      <output><soap:body use="literal"/></output></operation></binding>
  <service name="S"><port name="SP" binding="tns:B"><soap:address location="http://127.0.0.1:9/ws"/></port></service>
</definitions>
"""
REPLY = b"""<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><ListResponse xmlns="urn:t">
<item><code>A</code><amount>3</amount></item><item><code>B</code><note>none</note></item>
</ListResponse></s:Body></s:Envelope>"""


def _source_file(tmp_path: Path, wsdl: str) -> Path:
    (tmp_path / "t.wsdl").write_text(wsdl, encoding="utf-8")
    path = tmp_path / "t.yaml"
    path.write_text("source: t\nprotocol: soap\nendpoint: http://127.0.0.1:9/ws\nsoap: {wsdl: t.wsdl, offline: true}\n"
                    "streams:\n  items:\n    operation: List\n    records: item\n    bulk: true\n"
                    "    primary_key: code\n    fields: {code: string, amount: int64, note: string}\n",
                    encoding="utf-8")
    return path


def _reader(path: Path) -> SoapReader:
    source = read_source(path)
    client = httpx.Client(transport=httpx.MockTransport(lambda r: pytest.fail(f"fetched {r.url}")))
    return SoapReader(source, HttpCaller(source, client, Redactor()), Redactor(), environ={})


def test_a_choice_falls_back_to_zeep_once_and_loses_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    reader = _reader(_source_file(tmp_path, WSDL))
    response = Response(200, httpx.Headers({"Content-Type": "text/xml"}), REPLY, "http://127.0.0.1:9/ws")
    with caplog.at_level(logging.WARNING):
        first = reader.read_reply("List", response, "item", None, bulk=True)
        again = reader.read_reply("List", response, "item", None, bulk=True)
    assert first == again == reader.read_reply("List", response, "item", None, bulk=False)
    assert [r["code"] for r in first[0]] == ["A", "B"] and first[0][0]["amount"] == 3
    said = [r.message for r in caplog.records if "bulk path cannot read" in r.message]
    assert len(said) == 1 and "xsd:choice" in said[0] and "reading it with zeep" in said[0]


def test_a_broken_wsdl_is_an_error_naming_the_source_file(tmp_path: Path) -> None:
    broken = WSDL.replace('<binding name="B" type="tns:P">', '<binding name="B" type="tns:Nowhere">')
    with pytest.raises(ConfigError, match=r"^\[t\] t.yaml: WSDL .*t.wsdl' cannot be loaded: \w+"):
        _reader(_source_file(tmp_path, broken))
    with pytest.raises(ConfigError, match=r"t.wsdl' is not well-formed XML"):
        _reader(_source_file(tmp_path, WSDL[:400]))


def test_undeclared_params_and_records_paths_name_the_operation(tmp_path: Path) -> None:
    reader = _reader(_source_file(tmp_path, WSDL))
    with pytest.raises(ConfigError, match=r"t.yaml: operation List: the request cannot be built"):
        reader.envelope("List", {"nope": 1})
    with pytest.raises(ConfigError, match=r"t.yaml: operation List: List's response has no element 'items'"):
        reader.plan("List", "items", None)
