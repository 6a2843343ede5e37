"""Each injected fault, observable on the wire and by a plain zeep client; the server stays up.

Request faults run on the real land simulator (agencies.testing) at rate 1; the drift and invalid-UTF-8
wire checks use the fake simulator, whose value faults a test can choose exactly.
"""

from __future__ import annotations

import decimal
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from lxml import etree
from zeep.exceptions import Fault, TransportError, XMLParseError

from agencies.testing import SimulatorHandle
from tests.agencies.soap.conftest import EPOCH, land_client, land_envelope, plain, post
from tests.agencies.soap.fakes import FakeSimulator
from tests.agencies.soap.test_simulators import truth

pytestmark = pytest.mark.integration

FEED = land_envelope("GetParcelChanges", f"<since>{EPOCH}</since><pageSize>20</pageSize>")
Start = Callable[..., SimulatorHandle]


def _with(simulators: Start, name: str, **kwargs: Any) -> str:
    """The base URL of a real land simulator that has `name` on every request."""
    return _handle(simulators, name, **kwargs).base_url


def _handle(simulators: Start, name: str, **kwargs: Any) -> SimulatorHandle:
    return simulators("land", records=1000, seed=5, faults={name: 1.0}, **kwargs)


def _key(parcel: dict[str, Any]) -> tuple[Any, ...]:
    return parcel["communeCode"], parcel["mapSheet"], parcel["parcelNumber"]


def _well_formed(body: bytes) -> bool:
    try:
        etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))
    except etree.XMLSyntaxError:
        return False
    return True


@pytest.mark.parametrize(("name", "status"), [("http_500", 500), ("http_503", 503), ("soap_fault", 500)])
def test_server_side_failures_are_soap_faults(simulators: Start, name: str, status: int) -> None:
    land_url = _with(simulators, name)
    response = post(land_url, "/ws/land", FEED)
    assert response.status_code == status
    assert b"<faultcode>soap:Server</faultcode>" in response.content
    if status == 500:
        with pytest.raises(Fault) as caught:
            land_client(land_url).service.GetParcelChanges(since=EPOCH)
        assert caught.value.code == "soap:Server"


def test_rate_limit_is_a_429_with_retry_after(simulators: Start) -> None:
    land_url = _with(simulators, "rate_limit")
    response = post(land_url, "/ws/land", FEED)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1"


def test_slow_answers_after_the_delay(simulators: Start) -> None:
    land_url = _with(simulators, "slow", slow_seconds=0.5)
    with pytest.raises(httpx.ReadTimeout):
        post(land_url, "/ws/land", FEED, timeout=0.2)
    started = time.monotonic()
    response = post(land_url, "/ws/land", FEED)
    assert time.monotonic() - started >= 0.5
    assert response.status_code == 200 and _well_formed(response.content)


def test_truncated_body_keeps_a_true_content_length(simulators: Start) -> None:
    land_url = _with(simulators, "truncated")
    response = post(land_url, "/ws/land", FEED)
    httpx.post(f"{land_url}/_admin/faults", json={}).raise_for_status()
    whole = post(land_url, "/ws/land", FEED).content
    assert response.content == whole[: len(whole) // 2]
    assert int(response.headers["Content-Length"]) == len(response.content)
    assert not _well_formed(response.content)


def test_malformed_body_is_not_well_formed(simulators: Start) -> None:
    land_url = _with(simulators, "malformed")
    response = post(land_url, "/ws/land", FEED)
    assert response.status_code == 200
    assert not _well_formed(response.content)
    with pytest.raises(TransportError, match="invalid XML"):
        land_client(land_url).service.GetParcelChanges(since=EPOCH)


@pytest.mark.parametrize(("name", "marker"), [("xxe", b'SYSTEM "file:///etc/passwd"'), ("billion_laughs", b"&lol9;")])
def test_entity_attacks_are_refused_by_a_hardened_zeep(simulators: Start, name: str, marker: bytes) -> None:
    from zeep.exceptions import DTDForbidden

    land_url = _with(simulators, name)
    response = post(land_url, "/ws/land", FEED)
    assert b"<!DOCTYPE" in response.content and marker in response.content
    assert len(response.content) < 100_000
    # zeep refuses the DTD; for the laughs, libxml2's amplification guard may refuse first
    with pytest.raises((DTDForbidden, TransportError)):
        land_client(land_url).service.GetParcelChanges(since=EPOCH)


def test_duplicate_page_repeats_records_of_the_previous_page(simulators: Start) -> None:
    land = _handle(simulators, "duplicate_page")
    land_url = land.base_url
    service = land_client(land_url).service
    seen: list[dict[str, Any]] = []
    token = None
    for _ in range(200):
        page = service.GetParcelChanges(since=EPOCH, pageToken=token, pageSize=400)
        seen.extend(plain(page["parcel"]))
        token = page["nextPageToken"]
        if token is None:
            break
    expected = truth(land, "parcels")
    assert len(seen) > len(expected)
    assert {_key(p): p for p in seen} == {_key(p): p for p in expected}


def test_stale_cursor_returns_the_token_it_was_called_with(simulators: Start) -> None:
    land_url = simulators("land", records=1000, seed=5).base_url
    service = land_client(land_url).service
    token = service.GetParcelChanges(since=EPOCH, pageSize=10)["nextPageToken"]
    httpx.post(f"{land_url}/_admin/faults", json={"stale_cursor": 1.0}).raise_for_status()
    assert service.GetParcelChanges(since=EPOCH, pageToken=token, pageSize=10)["nextPageToken"] == token


def test_invalid_utf8_goes_out_as_those_bytes(land_sim: FakeSimulator, land_url: str) -> None:
    land_sim.faults.value_faults = {"holderName": b"Nguy\xff\xfe n"}
    response = post(land_url, "/ws/land", FEED)
    assert b"<holderName>Nguy\xff\xfe n</holderName>" in response.content
    with pytest.raises(UnicodeDecodeError):
        response.content.decode("utf-8")


def test_drift_reaches_the_wire_and_a_strict_client_sees_it(land_sim: FakeSimulator, land_url: str) -> None:
    land_sim.faults.value_faults = {"ownerPhone": "0912345678", "areaM2": "12,5 m²"}
    response = post(land_url, "/ws/land", FEED)
    assert b"<deleted>false</deleted><ownerPhone>0912345678</ownerPhone></parcel>" in response.content
    assert b"<areaM2>12,5 m\xc2\xb2</areaM2>" in response.content
    with pytest.raises(decimal.InvalidOperation):  # zeep lets the xsd:decimal conversion error through
        land_client(land_url).service.GetParcelChanges(since=EPOCH)
    land_sim.faults.value_faults = {"ownerPhone": "0912345678"}
    with pytest.raises(XMLParseError, match="ownerPhone"):
        land_client(land_url).service.GetParcelChanges(since=EPOCH)
