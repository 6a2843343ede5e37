"""The serialiser: records in, SOAP bytes out, exact and parseable."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from lxml import etree

from agencies.soap.render import render_codes, render_fault, render_response, text_of, xroad_header
from agencies.soap.services import LAND, PARCEL_FIELDS

pytestmark = pytest.mark.unit

NS = "{urn:lienthong:land:v1}"
PARCEL = {
    "communeCode": "26734", "mapSheet": 12, "parcelNumber": 345, "provinceCode": "01", "districtCode": "",
    "address": "Số 1 <Láng> & \"Hạ\"", "areaM2": "120.50", "landUseCode": "ONT", "holderType": "individual",
    "holderId": "001090012345", "holderName": "Nguyễn Văn An", "updatedAt": "2025-03-04T05:06:07Z", "deleted": False,
}


def _parcels(body: bytes) -> list[etree._Element]:
    return list(etree.fromstring(body).iterfind(f".//{NS}parcel"))


def test_a_page_renders_every_field_in_order_with_escaping() -> None:
    body = render_response("GetParcelChanges", LAND.namespace, "parcel", PARCEL_FIELDS, [PARCEL] * 3, "tok&1")
    parcels = _parcels(body)
    assert len(parcels) == 3
    assert [etree.QName(e).localname for e in parcels[0]] == list(PARCEL_FIELDS)
    assert parcels[0].findtext(f"{NS}address") == PARCEL["address"]
    assert parcels[0].findtext(f"{NS}deleted") == "false"
    assert etree.fromstring(body).findtext(f".//{NS}nextPageToken") == "tok&1"


def test_none_is_omitted_and_unknown_fields_follow_the_known_ones() -> None:
    record = {**PARCEL, "address": None, "extra": 7}
    del record["landUseCode"]
    record["landUse"] = "ONT"  # a renamed field
    (parcel,) = _parcels(render_response("GetParcel", LAND.namespace, "parcel", PARCEL_FIELDS, [record]))
    names = [etree.QName(e).localname for e in parcel]
    assert "address" not in names and "landUseCode" not in names
    assert names[-2:] == ["extra", "landUse"]


def test_invalid_utf8_bytes_go_out_unchanged() -> None:
    body = render_response("GetParcel", LAND.namespace, "parcel", PARCEL_FIELDS,
                           [{**PARCEL, "holderName": b"An \xff\xfe&"}])
    assert b"<holderName>An \xff\xfe&amp;</holderName>" in body
    assert "Nguyễn".encode() not in body


@pytest.mark.parametrize(("value", "text"), [
    (True, "true"), (12, "12"), (1.5, "1.5"), (1e20, "100000000000000000000"), (Decimal("1E+2"), "100"),
    (datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC), "2025-01-02T03:04:05Z"), (date(2025, 1, 2), "2025-01-02"),
    ("a<b", "a&lt;b"),
])
def test_values_take_their_xml_schema_lexical_form(value: object, text: str) -> None:
    assert text_of(value) == text


def test_codes_faults_and_echoed_headers_parse() -> None:
    root = etree.fromstring(render_codes("ListBranchCodes", "urn:lienthong:business:v1", ["0100109106-001"], None,
                                         xroad_header({"client": "VN/GOV/x", "id": "1"})))
    assert root.findtext(".//{urn:lienthong:business:v1}code") == "0100109106-001"
    assert root.findtext(".//{http://x-road.eu/xsd/xroad.xsd}client") == "VN/GOV/x"
    fault = etree.fromstring(render_fault("soap:Client", "bad <input>"))
    assert fault.findtext(".//faultcode") == "soap:Client"
    assert fault.findtext(".//faultstring") == "bad <input>"


def test_regular_and_odd_records_keep_their_order() -> None:
    odd = {**PARCEL, "parcelNumber": 2, "ghi_chu": "x"}
    nul = {**PARCEL, "parcelNumber": 4, "address": "a\x00b"}
    page = [{**PARCEL, "parcelNumber": 1}, odd, {**PARCEL, "parcelNumber": 3, "deleted": True}]
    body = render_response("GetParcelChanges", LAND.namespace, "parcel", PARCEL_FIELDS, page)
    assert [p.findtext(f"{NS}parcelNumber") for p in _parcels(body)] == ["1", "2", "3"]
    assert _parcels(body)[2].findtext(f"{NS}deleted") == "true"
    assert b"<ghi_chu>x</ghi_chu></parcel>" in body
    empty = render_response("GetParcelChanges", LAND.namespace, "parcel", PARCEL_FIELDS, [])
    assert _parcels(empty) == []
    # a NUL in a value (not XML) still renders every record, in order
    body = render_response("GetParcelChanges", LAND.namespace, "parcel", PARCEL_FIELDS, [*page, nul])
    assert body.count(b"<parcel>") == 4 and b"a\x00b" in body


def test_mixed_types_in_a_column_take_their_own_lexical_form() -> None:
    page = [{**PARCEL, "mapSheet": 7}, {**PARCEL, "mapSheet": "7a"}, {**PARCEL, "mapSheet": 7.5}]
    body = render_response("GetParcelChanges", LAND.namespace, "parcel", PARCEL_FIELDS, page)
    assert [p.findtext(f"{NS}mapSheet") for p in _parcels(body)] == ["7", "7a", "7.5"]
