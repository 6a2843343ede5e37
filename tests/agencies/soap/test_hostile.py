"""Hostile requests get a SOAP Fault, never reach the store, and the server stays up."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.agencies.soap.conftest import EPOCH, SOAP_NS, land_client, land_envelope, post
from tests.agencies.soap.fakes import FakeSimulator

pytestmark = pytest.mark.integration

GOOD = land_envelope("GetParcelChanges", f"<since>{EPOCH}</since><pageSize>5</pageSize>")
LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;">]>' + GOOD.replace(b"<pageSize>5", b"<pageSize>&lol3;")
)
XXE = (
    b'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    + GOOD.replace(b"<pageSize>5", b"<pageSize>&xxe;")
)
UTF16_DOCTYPE = ('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE e [<!ENTITY a "b">]>'
                 + GOOD.decode()).encode("utf-16")
HOSTILE = {
    "doctype with entities": LAUGHS,
    "external entity": XXE,
    "doctype in UTF-16": UTF16_DOCTYPE,
    "not xml": b"SELECT * FROM parcels; --",
    "empty": b"",
    "unclosed": GOOD[:-20],
    "oversized": GOOD.replace(b"<pageSize>", b"<!--" + b"x" * 70_000 + b"--><pageSize>"),
    "not an envelope": b"<GetParcelChanges xmlns='urn:lienthong:land:v1'/>",
    "unknown operation": land_envelope("DropAllParcels", ""),
    "operation of another service": GOOD.replace(b"urn:lienthong:land:v1", b"urn:lienthong:business:v1"),
    "two operations": GOOD.replace(b"</soap:Body>", b"<x/></soap:Body>"),
    "forged page token": land_envelope("GetParcelChanges", f"<since>{EPOCH}</since><pageToken>eyJhIjoxfQ</pageToken>"),
    "garbled page token": land_envelope("GetParcelChanges", f"<since>{EPOCH}</since><pageToken>%%%%</pageToken>"),
}


@pytest.mark.parametrize("body", HOSTILE.values(), ids=list(HOSTILE))
def test_hostile_request_is_a_client_fault_and_the_server_stays_up(land_url: str, body: bytes) -> None:
    response = post(land_url, "/ws/land", body)
    assert response.status_code == 500
    assert response.headers["Content-Type"].startswith("text/xml")
    assert b"<faultcode>soap:Client</faultcode>" in response.content
    assert b"root:" not in response.content  # nothing of /etc/passwd
    assert post(land_url, "/ws/land", GOOD).status_code == 200


def test_soap12_envelope_is_a_version_mismatch(land_url: str) -> None:
    body = GOOD.replace(SOAP_NS.encode(), b"http://www.w3.org/2003/05/soap-envelope")
    response = post(land_url, "/ws/land", body)
    assert b"<faultcode>soap:VersionMismatch</faultcode>" in response.content


def test_oversized_request_is_refused_without_reading_it(land_url: str) -> None:
    def endless() -> Iterator[bytes]:  # a body that would never end: refused by its declared length
        yield GOOD
        yield b" " * 200_000

    response = httpx.post(f"{land_url}/ws/land", content=endless(),
                          headers={"Content-Type": "text/xml", "Content-Length": str(len(GOOD) + 200_000)})
    assert response.status_code == 500
    assert b"exceeds" in response.content


def test_a_store_error_is_a_server_fault(
    land_sim: FakeSimulator, land_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(land_sim.store, "changes", broken)
    response = post(land_url, "/ws/land", GOOD)
    assert response.status_code == 500
    assert b"<faultcode>soap:Server</faultcode>" in response.content
    assert b"disk on fire" not in response.content
    monkeypatch.undo()
    assert land_client(land_url).service.GetParcelChanges(since=EPOCH, pageSize=1)["parcel"]
