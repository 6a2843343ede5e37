"""Fixtures for the SOAP front end: fake simulators served on loopback, zeep clients, raw envelopes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

import httpx
import pytest

from agencies.base import Record, Simulator
from agencies.soap import build_app
from tests.agencies.soap.fakes import FakeSimulator, business_simulator, land_simulator
from tests.agencies.soap.server import serving
from tests.conftest import free_port

LAND_USER, LAND_PASSWORD = "lienthong", "land-dev-secret"
XROAD = {
    "client": "VN/GOV/000.00.00.H01/lienthong",
    "service": "VN/GOV/000.00.00.H02/dkkd/GetEnterpriseChanges",
    "userId": "tester",
    "id": "req-0001",
    "protocolVersion": "4.0",
}
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
EPOCH = "1970-01-01T00:00:00Z"


def zeep_settings() -> Any:
    from zeep import Settings

    return Settings(strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True)


def land_client(base_url: str, password: str = LAND_PASSWORD) -> Any:
    import zeep
    from zeep.wsse.username import UsernameToken

    return zeep.Client(
        f"{base_url}/ws/land?wsdl", settings=zeep_settings(),
        wsse=UsernameToken(LAND_USER, password),  # type: ignore[no-untyped-call]
    )


def business_client(base_url: str) -> Any:
    import zeep

    return zeep.Client(f"{base_url}/ws/business?wsdl", settings=zeep_settings())  # type: ignore[no-untyped-call]


def as_zeep_reads(record: Record) -> dict[str, Any]:
    """A store record as zeep reads it back from the wire, by the XSD types of the WSDL.

    zeep reads an empty element (`<districtCode></districtCode>`, an empty string) as None.
    """
    out = {name: None if value == "" else value for name, value in record.items()}
    out["updatedAt"] = datetime.fromisoformat(record["updatedAt"])
    if "areaM2" in record:
        out["areaM2"] = Decimal(record["areaM2"])
    if isinstance(record.get("registeredDate"), str):
        out["registeredDate"] = date.fromisoformat(record["registeredDate"])
    return out


def plain(obj: Any) -> Any:
    from zeep.helpers import serialize_object

    return serialize_object(obj, dict)  # type: ignore[no-untyped-call]


def land_envelope(operation: str, params: str, user: str = LAND_USER, password: str = LAND_PASSWORD) -> bytes:
    security = (
        f'<wsse:Security xmlns:wsse="{WSSE_NS}"><wsse:UsernameToken><wsse:Username>{user}</wsse:Username>'
        f"<wsse:Password>{password}</wsse:Password></wsse:UsernameToken></wsse:Security>"
    )
    return (
        f'<soap:Envelope xmlns:soap="{SOAP_NS}"><soap:Header>{security}</soap:Header><soap:Body>'
        f'<{operation} xmlns="urn:lienthong:land:v1">{params}</{operation}></soap:Body></soap:Envelope>'
    ).encode()


def business_envelope(operation: str, params: str, headers: dict[str, str] | None = None) -> bytes:
    values = XROAD if headers is None else headers
    head = "".join(
        f'<xrd:{k} xmlns:xrd="http://x-road.eu/xsd/xroad.xsd">{v}</xrd:{k}>' for k, v in values.items()
    )
    return (
        f'<soap:Envelope xmlns:soap="{SOAP_NS}"><soap:Header>{head}</soap:Header><soap:Body>'
        f'<{operation} xmlns="urn:lienthong:business:v1">{params}</{operation}></soap:Body></soap:Envelope>'
    ).encode()


def post(base_url: str, path: str, body: bytes, action: str = "", timeout: float = 10) -> httpx.Response:
    headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": action}
    return httpx.post(f"{base_url}{path}", content=body, headers=headers, timeout=timeout)


@pytest.fixture
def land_sim() -> FakeSimulator:
    return land_simulator()


@pytest.fixture
def business_sim() -> FakeSimulator:
    return business_simulator()


@pytest.fixture
def land_url(land_sim: FakeSimulator) -> Iterator[str]:
    with serving(build_app(cast(Simulator, land_sim)), free_port()) as url:
        yield url


@pytest.fixture
def business_url(business_sim: FakeSimulator) -> Iterator[str]:
    with serving(build_app(cast(Simulator, business_sim)), free_port()) as url:
        yield url
