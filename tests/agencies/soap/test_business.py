"""Business registration over SOAP with a plain zeep client: X-Road headers, feeds, key listings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from zeep.exceptions import Fault

from tests.agencies.soap.conftest import (
    EPOCH,
    XROAD,
    as_zeep_reads,
    business_client,
    business_envelope,
    plain,
    post,
)
from tests.agencies.soap.fakes import FakeSimulator

pytestmark = pytest.mark.integration


def page_through(call: Any, item: str, page_size: int, **params: Any) -> list[Any]:
    records: list[Any] = []
    token = None
    for _ in range(1000):
        result = call(pageToken=token, pageSize=page_size, _soapheaders=XROAD, **params)
        assert plain(result.header) == XROAD, "the X-Road headers are echoed"
        records.extend(plain(result.body[item]))
        token = result.body["nextPageToken"]
        if token is None:
            return records
    raise AssertionError("pagination does not end")


def test_wsdl_loads_in_zeep_with_the_address_of_the_request(business_url: str) -> None:
    (service,) = business_client(business_url).wsdl.services.values()
    (port,) = service.ports.values()
    assert port.binding_options["address"] == f"{business_url}/ws/business"


@pytest.mark.parametrize(("operation", "item", "dataset"), [
    ("GetEnterpriseChanges", "enterprise", "enterprises"), ("GetBranchChanges", "branch", "branches"),
])
def test_feeds_page_through_to_the_store_exactly(
    business_sim: FakeSimulator, business_url: str, operation: str, item: str, dataset: str
) -> None:
    service = business_client(business_url).service
    records = page_through(getattr(service, operation), item, 16, since=EPOCH)
    expected = business_sim.store.changes(dataset, datetime.fromisoformat(EPOCH), None, 10**9)
    assert records == [as_zeep_reads(r) for r in expected]


def test_key_listings_match_the_live_keys(business_sim: FakeSimulator, business_url: str) -> None:
    service = business_client(business_url).service
    for operation, dataset in (("ListEnterpriseCodes", "enterprises"), ("ListBranchCodes", "branches")):
        codes = page_through(getattr(service, operation), "code", 23)
        assert codes == business_sim.store.keys(dataset, None, 10**9)
        assert len(codes) == len(set(codes)) > 23


def test_get_by_key(business_sim: FakeSimulator, business_url: str) -> None:
    service = business_client(business_url).service
    record = business_sim.store.data["enterprises"][5]
    result = service.GetEnterprise(enterpriseCode=record["enterpriseCode"], _soapheaders=XROAD)
    assert plain(result.body["enterprise"]) == as_zeep_reads(record)
    assert service.GetEnterprise(enterpriseCode="0000000000", _soapheaders=XROAD).body["enterprise"] is None


def test_client_not_on_the_allow_list_is_denied_and_headers_still_echoed(business_url: str) -> None:
    service = business_client(business_url).service
    stranger = {**XROAD, "client": "VN/GOV/000.00.00.X99/someone"}
    with pytest.raises(Fault) as caught:
        service.GetEnterpriseChanges(since=EPOCH, _soapheaders=stranger)
    assert caught.value.code.endswith("Client.AccessDenied")
    response = post(business_url, "/ws/business", business_envelope("ListBranchCodes", "", stranger))
    assert response.status_code == 500
    assert b"<faultcode>soap:Client.AccessDenied</faultcode>" in response.content
    assert b"VN/GOV/000.00.00.X99/someone</xrd:client>" in response.content


def test_missing_headers_are_refused(business_url: str) -> None:
    response = post(business_url, "/ws/business", business_envelope("ListBranchCodes", "", {}))
    assert b"<faultcode>soap:Client.AccessDenied</faultcode>" in response.content
    without_id = {k: v for k, v in XROAD.items() if k != "id"}
    response = post(business_url, "/ws/business", business_envelope("ListBranchCodes", "", without_id))
    assert b"<faultcode>soap:Client</faultcode>" in response.content
    assert b"id" in response.content


def test_a_page_token_of_another_dataset_is_refused(business_url: str) -> None:
    service = business_client(business_url).service
    token = service.ListEnterpriseCodes(pageSize=2, _soapheaders=XROAD).body["nextPageToken"]
    with pytest.raises(Fault) as caught:
        service.ListBranchCodes(pageToken=token, _soapheaders=XROAD)
    assert caught.value.code == "soap:Client"
    assert "branches" in caught.value.message
    envelope = business_envelope("ListBranchCodes", f"<pageToken>{token}</pageToken>")
    response = post(business_url, "/ws/business", envelope)
    assert b"<faultcode>soap:Client</faultcode>" in response.content
    assert b">req-0001</xrd:id>" in response.content, "a Fault after auth echoes the X-Road headers"
