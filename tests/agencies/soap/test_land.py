"""The land registry over SOAP with a plain zeep client: WSDL, whole feeds, get-by-key, auth."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from zeep.exceptions import Fault

from tests.agencies.soap.conftest import EPOCH, as_zeep_reads, land_client, land_envelope, plain, post
from tests.agencies.soap.fakes import FakeSimulator

pytestmark = pytest.mark.integration


def page_through(call: Any, item: str, page_size: int, since: str = EPOCH) -> tuple[list[dict[str, Any]], int]:
    records: list[dict[str, Any]] = []
    token, pages = None, 0
    while True:
        page = call(since=since, pageToken=token, pageSize=page_size)
        pages += 1
        records.extend(plain(page[item]))
        token = page["nextPageToken"]
        if token is None:
            return records, pages
        assert pages < 1000, "pagination does not end"


def feed(sim: FakeSimulator, dataset: str, since: str = EPOCH) -> list[dict[str, Any]]:
    moment = datetime.fromisoformat(since)
    return [as_zeep_reads(r) for r in sim.store.changes(dataset, moment, None, 10**9)]


def test_wsdl_loads_in_zeep_with_the_address_of_the_request(land_url: str) -> None:
    client = land_client(land_url)
    (service,) = client.wsdl.services.values()
    (port,) = service.ports.values()
    assert port.binding_options["address"] == f"{land_url}/ws/land"
    assert httpx.get(f"{land_url}/ws/land").status_code == 405  # GET without ?wsdl says where it is


@pytest.mark.parametrize("page_size", [37, 1000])
def test_parcel_feed_pages_through_to_the_store_exactly(
    land_sim: FakeSimulator, land_url: str, page_size: int
) -> None:
    records, pages = page_through(land_client(land_url).service.GetParcelChanges, "parcel", page_size)
    expected = feed(land_sim, "parcels")
    assert records == expected
    assert pages == len(expected) // page_size + 1
    assert any(r["deleted"] for r in records), "tombstones travel in the feed"


def test_certificate_feed_and_since_is_inclusive(land_sim: FakeSimulator, land_url: str) -> None:
    service = land_client(land_url).service
    all_records, _ = page_through(service.GetCertificateChanges, "certificate", 10)
    assert all_records == feed(land_sim, "land_certificates")
    since = all_records[40]["updatedAt"].strftime("%Y-%m-%dT%H:%M:%SZ")
    tail, _ = page_through(service.GetCertificateChanges, "certificate", 10, since=since)
    assert tail == feed(land_sim, "land_certificates", since)
    assert tail[0]["updatedAt"] == all_records[40]["updatedAt"]


def test_get_by_key(land_sim: FakeSimulator, land_url: str) -> None:
    service = land_client(land_url).service
    live = next(r for r in land_sim.store.data["parcels"] if not r["deleted"])
    key = {name: live[name] for name in ("communeCode", "mapSheet", "parcelNumber")}
    got = service.GetParcel(**key)
    assert plain(got) == as_zeep_reads(live)
    assert service.GetParcel(communeCode="99999", mapSheet=1, parcelNumber=1) is None
    certificate = land_sim.store.data["land_certificates"][3]
    assert plain(service.GetCertificate(certificateNo=certificate["certificateNo"])) == as_zeep_reads(certificate)


@pytest.mark.parametrize("password", ["wrong", ""])
def test_wrong_password_is_an_authentication_fault(land_url: str, password: str) -> None:
    with pytest.raises(Fault) as caught:
        land_client(land_url, password=password).service.GetParcelChanges(since=EPOCH)
    assert caught.value.code.endswith("Client.Authentication")


def test_missing_token_and_digest_password_are_refused(land_url: str) -> None:
    body = land_envelope("GetParcelChanges", f"<since>{EPOCH}</since>").replace(
        b"<soap:Header>", b"<soap:Header><!-- -->"
    )
    no_header = body.split(b"<soap:Header>")[0] + b"<soap:Body>" + body.split(b"<soap:Body>")[1]
    response = post(land_url, "/ws/land", no_header)
    assert response.status_code == 500
    assert b"<faultcode>soap:Client.Authentication</faultcode>" in response.content
    digest = land_envelope("GetParcelChanges", f"<since>{EPOCH}</since>").replace(
        b"<wsse:Password>", b'<wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/'
        b'oasis-200401-wss-username-token-profile-1.0#PasswordDigest">'
    )
    response = post(land_url, "/ws/land", digest)
    assert b"soap:Client.Authentication" in response.content


def test_since_without_zone_is_utc_and_bad_input_is_a_client_fault(land_sim: FakeSimulator, land_url: str) -> None:
    service = land_client(land_url).service
    page = service.GetParcelChanges(since=datetime(2019, 1, 1), pageSize=5)
    assert [plain(p) for p in page["parcel"]] == feed(land_sim, "parcels")[:5]
    assert page["parcel"][0]["updatedAt"].tzinfo is not None
    for params in ("<since>yesterday</since>", f"<since>{EPOCH}</since><pageSize>5001</pageSize>",
                   f"<since>{EPOCH}</since><pageSize>x</pageSize>", ""):
        response = post(land_url, "/ws/land", land_envelope("GetParcelChanges", params))
        assert response.status_code == 500
        assert b"<faultcode>soap:Client</faultcode>" in response.content, params
    assert datetime(2019, 1, 1, tzinfo=UTC) <= page["parcel"][0]["updatedAt"]
