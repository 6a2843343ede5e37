"""The WSDLs: valid, conventional, in step with the services table, and served with the right address."""

from __future__ import annotations

import copy

import pytest
from lxml import etree

from agencies.soap.app import WSDL_DIR, wsdl_for
from agencies.soap.render import render_codes, render_response
from agencies.soap.services import SERVICES, SOAP_ENV_NS, Service
from tests.agencies.soap.fakes import business_records, land_records

pytestmark = pytest.mark.unit

XSD = "{http://www.w3.org/2001/XMLSchema}"
WSDL = "{http://schemas.xmlsoap.org/wsdl/}"
SOAP_NS = SOAP_ENV_NS
LAND_NS = SERVICES["land"].namespace
RECORD_TYPES = {
    "parcels": "Parcel", "land_certificates": "Certificate", "enterprises": "Enterprise", "branches": "Branch",
}
XSD_TYPES = {
    "updatedAt": "xsd:dateTime", "areaM2": "xsd:decimal", "mapSheet": "xsd:int", "parcelNumber": "xsd:int",
    "charterCapitalVnd": "xsd:long", "deleted": "xsd:boolean", "registeredDate": "xsd:date",
    "issuedDate": "xsd:string",
}


def _doc(service: Service) -> etree._Element:
    return etree.parse(str(WSDL_DIR / service.wsdl_file)).getroot()


@pytest.mark.parametrize("service", SERVICES.values(), ids=list(SERVICES))
def test_record_types_match_the_services_table(service: Service) -> None:
    doc = _doc(service)
    for dataset, fields in service.fields.items():
        (complex_type,) = doc.iterfind(f".//{XSD}complexType[@name='{RECORD_TYPES[dataset]}']")
        elements = complex_type.findall(f"{XSD}sequence/{XSD}element")
        assert tuple(e.get("name") for e in elements) == fields
        for element in elements:
            if element.get("name") in XSD_TYPES:
                assert element.get("type") == XSD_TYPES[element.get("name")]


@pytest.mark.parametrize("service", SERVICES.values(), ids=list(SERVICES))
def test_operations_match_the_services_table(service: Service) -> None:
    doc = _doc(service)
    port_ops = [op.get("name") for op in doc.iterfind(f"{WSDL}portType/{WSDL}operation")]
    binding_ops = [op.get("name") for op in doc.iterfind(f"{WSDL}binding/{WSDL}operation")]
    assert port_ops == binding_ops == list(service.operations)
    for name, op in service.operations.items():
        (response,) = doc.iterfind(f".//{XSD}element[@name='{name}Response']")
        items = [e.get("name") for e in response.iterfind(f".//{XSD}element")]
        assert items[0] == op.item


def test_address_is_rewritten_and_escaped() -> None:
    wsdl = wsdl_for(SERVICES["land"], 'http://127.0.0.1:9999"<x>')
    assert b'location="http://127.0.0.1:9999&quot;&lt;x&gt;/ws/land"' in wsdl
    etree.fromstring(wsdl)


def _schema(service: Service) -> etree.XMLSchema:
    (schema,) = [s for s in _doc(service).iterfind(f"{WSDL}types/{XSD}schema")
                 if s.get("targetNamespace") == service.namespace]
    return etree.XMLSchema(copy.deepcopy(schema))


@pytest.mark.parametrize("service", SERVICES.values(), ids=list(SERVICES))
def test_rendered_responses_are_valid_against_the_wsdl_schema(service: Service) -> None:
    schema = _schema(service)
    data = land_records(60) if service.agency == "land" else business_records(60)
    for name, op in service.operations.items():
        records = data[op.dataset]
        if op.kind == "keys":
            body = render_codes(name, service.namespace, [r[service.fields[op.dataset][0]] for r in records], "t")
        elif op.kind == "get":
            body = render_response(name, service.namespace, op.item, service.fields[op.dataset], records[:1])
        else:
            body = render_response(name, service.namespace, op.item, service.fields[op.dataset], records, "t")
        response = etree.fromstring(body).find(f"{{{SOAP_NS}}}Body/{{{service.namespace}}}{name}Response")
        assert response is not None
        schema.assertValid(etree.ElementTree(copy.deepcopy(response)))


def test_a_drifted_record_is_invalid_against_the_schema() -> None:
    record = {**land_records(1)["parcels"][0], "ghi_chu": "x"}
    body = render_response("GetParcel", LAND_NS, "parcel", SERVICES["land"].fields["parcels"], [record])
    response = etree.fromstring(body).find(f"{{{SOAP_NS}}}Body/{{{LAND_NS}}}GetParcelResponse")
    assert not _schema(SERVICES["land"]).validate(etree.ElementTree(copy.deepcopy(response)))
