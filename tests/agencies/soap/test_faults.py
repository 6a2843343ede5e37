"""Each injected fault, observable on the wire and by a plain zeep client; the server stays up."""

from __future__ import annotations

import decimal
import time
from typing import Any

import httpx
import pytest
from lxml import etree
from zeep.exceptions import Fault, TransportError, XMLParseError

from tests.agencies.soap.conftest import EPOCH, land_client, land_envelope, plain, post
from tests.agencies.soap.fakes import FakeSimulator
from tests.agencies.soap.test_land import feed

pytestmark = pytest.mark.integration

FEED = land_envelope("GetParcelChanges", f"<since>{EPOCH}</since><pageSize>20</pageSize>")


def _only(sim: FakeSimulator, name: str) -> None:
    sim.faults.rates = {name: 1.0}


def _key(parcel: dict[str, Any]) -> tuple[Any, ...]:
    return parcel["communeCode"], parcel["mapSheet"], parcel["parcelNumber"]


def _well_formed(body: bytes) -> bool:
    try:
        etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))
    except etree.XMLSyntaxError:
        return False
    return True


@pytest.mark.parametrize(("name", "status"), [("http_500", 500), ("http_503", 503), ("soap_fault", 500)])
def test_server_side_failures_are_soap_faults(land_sim: FakeSimulator, land_url: str, name: str, status: int) -> None:
    _only(land_sim, name)
    response = post(land_url, "/ws/land", FEED)
    assert response.status_code == status
    assert b"<faultcode>soap:Server</faultcode>" in response.content
    if status == 500:
        with pytest.raises(Fault) as caught:
            land_client(land_url).service.GetParcelChanges(since=EPOCH)
        assert caught.value.code == "soap:Server"


def test_rate_limit_is_a_429_with_retry_after(land_sim: FakeSimulator, land_url: str) -> None:
    _only(land_sim, "rate_limit")
    response = post(land_url, "/ws/land", FEED)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1"


def test_slow_answers_after_the_delay(land_sim: FakeSimulator, land_url: str) -> None:
    _only(land_sim, "slow")
    land_sim.faults.slow_seconds = 0.5
    with pytest.raises(httpx.ReadTimeout):
        post(land_url, "/ws/land", FEED, timeout=0.2)
    started = time.monotonic()
    response = post(land_url, "/ws/land", FEED)
    assert time.monotonic() - started >= 0.5
    assert response.status_code == 200 and _well_formed(response.content)


def test_truncated_body_keeps_a_true_content_length(land_sim: FakeSimulator, land_url: str) -> None:
    _only(land_sim, "truncated")
    response = post(land_url, "/ws/land", FEED)
    land_sim.faults.rates = {}
    whole = post(land_url, "/ws/land", FEED).content
    assert response.content == whole[: len(whole) // 2]
    assert int(response.headers["Content-Length"]) == len(response.content)
    assert not _well_formed(response.content)


def test_malformed_body_is_not_well_formed(land_sim: FakeSimulator, land_url: str) -> None:
    _only(land_sim, "malformed")
    response = post(land_url, "/ws/land", FEED)
    assert response.status_code == 200
    assert not _well_formed(response.content)
    with pytest.raises(TransportError, match="invalid XML"):
        land_client(land_url).service.GetParcelChanges(since=EPOCH)


@pytest.mark.parametrize(("name", "marker"), [("xxe", b'SYSTEM "file:///etc/passwd"'), ("billion_laughs", b"&lol9;")])
def test_entity_attacks_are_refused_by_a_hardened_zeep(
    land_sim: FakeSimulator, land_url: str, name: str, marker: bytes
) -> None:
    from zeep.exceptions import DTDForbidden

    _only(land_sim, name)
    response = post(land_url, "/ws/land", FEED)
    assert b"<!DOCTYPE" in response.content and marker in response.content
    assert len(response.content) < 100_000
    # zeep refuses the DTD; for the laughs, libxml2's amplification guard may refuse first
    with pytest.raises((DTDForbidden, TransportError)):
        land_client(land_url).service.GetParcelChanges(since=EPOCH)


def test_duplicate_page_repeats_records_of_the_previous_page(land_sim: FakeSimulator, land_url: str) -> None:
    _only(land_sim, "duplicate_page")
    service = land_client(land_url).service
    seen: list[dict[str, Any]] = []
    token = None
    for _ in range(100):
        page = service.GetParcelChanges(since=EPOCH, pageToken=token, pageSize=40)
        seen.extend(plain(page["parcel"]))
        token = page["nextPageToken"]
        if token is None:
            break
    expected = feed(land_sim, "parcels")
    assert len(seen) > len(expected)
    unique = list({_key(p): p for p in seen}.values())
    assert sorted(unique, key=lambda p: (p["updatedAt"], _key(p))) == expected


def test_stale_cursor_returns_the_token_it_was_called_with(land_sim: FakeSimulator, land_url: str) -> None:
    service = land_client(land_url).service
    token = service.GetParcelChanges(since=EPOCH, pageSize=10)["nextPageToken"]
    _only(land_sim, "stale_cursor")
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


def test_request_faults_hit_their_seeded_share_of_requests(land_sim: FakeSimulator, land_url: str) -> None:
    from agencies.faults import SeededFaults

    land_sim.faults = SeededFaults(11, "soap", {"http_503": 0.2, "rate_limit": 0.1})  # type: ignore[assignment]
    with httpx.Client(base_url=land_url, headers={"Content-Type": "text/xml"}) as client:
        statuses = [client.post("/ws/land", content=FEED).status_code for _ in range(200)]
    replay = SeededFaults(11, "soap", {"http_503": 0.2, "rate_limit": 0.1})
    expected = [{"http_503": 503, "rate_limit": 429, None: 200}[replay.request_fault()] for _ in range(200)]
    assert statuses == expected
    assert 25 <= statuses.count(503) <= 55 and 8 <= statuses.count(429) <= 35
