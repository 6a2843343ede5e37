"""The real land and business simulators (agencies.testing) read with a plain zeep client.

Whole feeds match the ground truth exactly; an advance shows exactly the changed records; request
faults set through the admin endpoint hit their seeded share; value faults reach the wire as the
ground truth says.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree

from agencies.faults import SeededFaults
from agencies.soap.services import PARCEL_FIELDS, SERVICES, SOAP_ENV_NS, SoapAgency
from agencies.testing import SimulatorHandle, running_simulator
from agencies.truth import truth_rows
from tests.agencies.soap.conftest import (
    EPOCH,
    XROAD,
    as_zeep_reads,
    business_client,
    land_client,
    land_envelope,
    plain,
)

pytestmark = pytest.mark.integration

RECORDS, SEED = 1000, 5


@pytest.fixture
def land(tmp_path: Path) -> Iterator[SimulatorHandle]:
    with running_simulator("land", records=RECORDS, seed=SEED, tmp_dir=tmp_path) as handle:
        yield handle


@pytest.fixture
def business(tmp_path: Path) -> Iterator[SimulatorHandle]:
    with running_simulator("business", records=RECORDS, seed=SEED, tmp_dir=tmp_path) as handle:
        yield handle


def truth(handle: SimulatorHandle, dataset: str, since: str = EPOCH) -> list[dict[str, Any]]:
    """The ground truth's rows, wire fields only, as zeep reads them; since is inclusive."""
    rows = [{k: v for k, v in row.items() if not k.startswith("_")} for row in truth_rows(handle.sim, dataset)]
    return [as_zeep_reads(r) for r in rows if r["updatedAt"] >= since]


def land_feed(handle: SimulatorHandle, operation: str, item: str, since: str = EPOCH, size: int = 1000) -> list[Any]:
    call = getattr(land_client(handle.base_url).service, operation)
    records: list[Any] = []
    token = None
    for _ in range(10_000):
        page = call(since=since, pageToken=token, pageSize=size)
        records.extend(plain(page[item]))
        token = page["nextPageToken"]
        if token is None:
            return records
    raise AssertionError("pagination does not end")


def business_pages(handle: SimulatorHandle, operation: str, item: str, size: int = 1000, **params: Any) -> list[Any]:
    call = getattr(business_client(handle.base_url).service, operation)
    records: list[Any] = []
    token = None
    for _ in range(10_000):
        result = call(pageToken=token, pageSize=size, _soapheaders=XROAD, **params)
        assert plain(result.header) == XROAD
        records.extend(plain(result.body[item]))
        token = result.body["nextPageToken"]
        if token is None:
            return records
    raise AssertionError("pagination does not end")


def clock(handle: SimulatorHandle) -> str:
    return str(httpx.get(f"{handle.base_url}/_admin/clock").json()["clock"])


def test_land_feeds_match_the_ground_truth(land: SimulatorHandle) -> None:
    parcels = land_feed(land, "GetParcelChanges", "parcel", size=333)
    assert parcels == truth(land, "parcels")
    certificates = land_feed(land, "GetCertificateChanges", "certificate")
    assert certificates == truth(land, "land_certificates")
    service = land_client(land.base_url).service
    one = parcels[len(parcels) // 2]
    key = {name: one[name] for name in ("communeCode", "mapSheet", "parcelNumber")}
    assert plain(service.GetParcel(**key)) == one
    assert plain(service.GetCertificate(certificateNo=certificates[7]["certificateNo"])) == certificates[7]


def test_land_advance_shows_exactly_the_changed_records_with_tombstones(land: SimulatorHandle) -> None:
    before = clock(land)
    counts = [httpx.post(f"{land.base_url}/_admin/advance", params={"minutes": m}).json() for m in (90, 600, 1440)]
    parcels = land_feed(land, "GetParcelChanges", "parcel", since=before, size=7)
    certificates = land_feed(land, "GetCertificateChanges", "certificate", since=before, size=7)
    assert parcels == truth(land, "parcels", since=before)
    assert certificates == truth(land, "land_certificates", since=before)
    changed = parcels + certificates
    # a record changed by two advances shows once, in its latest state
    assert 0 < len(changed) <= sum(c["inserted"] + c["updated"] + c["deleted"] for c in counts)
    assert all(r["updatedAt"].strftime("%Y-%m-%dT%H:%M:%SZ") > before for r in changed)
    tombstones = [r for r in changed if r["deleted"]]
    assert tombstones and sum(c["deleted"] for c in counts) > 0, "a land delete is a tombstone in the feed"
    assert all(r.get("holderId") for r in tombstones), "a land tombstone carries its last values"


def test_business_feeds_and_key_listings_match_the_ground_truth(business: SimulatorHandle) -> None:
    enterprises = business_pages(business, "GetEnterpriseChanges", "enterprise", since=EPOCH, size=250)
    assert enterprises == truth(business, "enterprises")
    branches = business_pages(business, "GetBranchChanges", "branch", since=EPOCH)
    assert branches == truth(business, "branches")
    codes = business_pages(business, "ListEnterpriseCodes", "code", size=400)
    assert codes == sorted(r["enterpriseCode"] for r in enterprises)
    branch_codes = business_pages(business, "ListBranchCodes", "code")
    assert branch_codes == sorted(r["branchCode"] for r in branches)
    result = business_client(business.base_url).service.GetEnterprise(
        enterpriseCode=enterprises[3]["enterpriseCode"], _soapheaders=XROAD
    )
    assert plain(result.body["enterprise"]) == enterprises[3]


def test_business_deletes_show_only_as_absence(business: SimulatorHandle) -> None:
    codes_before = set(business_pages(business, "ListEnterpriseCodes", "code"))
    before = clock(business)
    httpx.post(f"{business.base_url}/_admin/advance", params={"minutes": 600}).raise_for_status()
    changed = business_pages(business, "GetEnterpriseChanges", "enterprise", since=before)
    assert changed == truth(business, "enterprises", since=before)
    codes_after = set(business_pages(business, "ListEnterpriseCodes", "code"))
    gone = codes_before - codes_after
    assert gone, "the advance deleted some enterprises"
    assert not gone & {r["enterpriseCode"] for r in changed}, "no tombstone in the business feed"
    service = business_client(business.base_url).service
    assert service.GetEnterprise(enterpriseCode=min(gone), _soapheaders=XROAD).body["enterprise"] is None


def test_request_faults_set_by_the_admin_endpoint_hit_their_seeded_share(land: SimulatorHandle) -> None:
    rates = {"soap_fault": 0.2, "truncated": 0.1, "stale_cursor": 0.1}
    httpx.post(f"{land.base_url}/_admin/faults", json=rates).raise_for_status()
    replay = SeededFaults(SEED, "soap", rates)
    body = land_envelope("GetParcelChanges", f"<since>{EPOCH}</since><pageSize>50</pageSize>")
    clean = None
    seen = []
    with httpx.Client(base_url=land.base_url, headers={"Content-Type": "text/xml"}) as client:
        for _ in range(150):
            response = client.post("/ws/land", content=body)
            expected = replay.request_fault()
            seen.append(expected)
            if expected == "soap_fault":
                assert response.status_code == 500 and b"<faultcode>soap:Server</faultcode>" in response.content
            elif expected == "truncated":
                assert response.status_code == 200 and not response.content.endswith(b"</soap:Envelope>")
            else:
                assert response.status_code == 200
                root = etree.fromstring(response.content)
                token = root.findtext(".//{urn:lienthong:land:v1}nextPageToken")
                clean = clean or token
                assert token == clean or expected == "stale_cursor"
    assert 15 <= seen.count("soap_fault") <= 45 and 5 <= seen.count("truncated") <= 28


def test_value_faults_reach_the_wire_as_the_ground_truth_says(tmp_path: Path) -> None:
    faults = {"invalid_utf8": 0.05, "drift_new_field": 0.05, "drift_renamed_field": 0.05}
    with running_simulator("land", records=RECORDS, seed=SEED, tmp_dir=tmp_path, faults=faults) as land:
        rows = list(truth_rows(land.sim, "parcels"))
        by_kind = {kind: next(r for r in rows if r["_corruption"] == kind and not r["_deleted"]) for kind in (
            "invalid_utf8:holderName", "drift_new_field:ghi_chu", "drift_renamed_field:holderName->holderName_v2",
        )}
        clean = next(r for r in rows if not r["_corrupted"] and not r["_deleted"])
        with httpx.Client(base_url=land.base_url, headers={"Content-Type": "text/xml"}) as client:
            def get(row: dict[str, Any]) -> bytes:
                params = "".join(f"<{k}>{row[k]}</{k}>" for k in ("communeCode", "mapSheet", "parcelNumber"))
                return client.post("/ws/land", content=land_envelope("GetParcel", params)).content

            with pytest.raises(UnicodeDecodeError):
                get(by_kind["invalid_utf8:holderName"]).decode("utf-8")
            names = [etree.QName(e).localname for e in etree.fromstring(get(by_kind["drift_new_field:ghi_chu"]))
                     .iterfind(".//{urn:lienthong:land:v1}parcel/*")]
            assert names[: len(PARCEL_FIELDS)] == list(PARCEL_FIELDS) and names[-1] == "ghi_chu"
            renamed = etree.fromstring(get(by_kind["drift_renamed_field:holderName->holderName_v2"]))
            served = json.loads(by_kind["drift_renamed_field:holderName->holderName_v2"]["_served"])
            assert renamed.findtext(".//{urn:lienthong:land:v1}holderName_v2") == served["holderName_v2"]
            assert renamed.find(".//{urn:lienthong:land:v1}holderName") is None
        key = {k: clean[k] for k in ("communeCode", "mapSheet", "parcelNumber")}
        got = plain(land_client(land.base_url).service.GetParcel(**key))
        assert got == as_zeep_reads({k: v for k, v in clean.items() if not k.startswith("_")})


def test_real_pages_are_valid_against_the_wsdl_schemas(land: SimulatorHandle, business: SimulatorHandle) -> None:
    from tests.agencies.soap.conftest import business_envelope, post
    from tests.agencies.soap.test_wsdl import _schema

    cases: list[tuple[SimulatorHandle, SoapAgency, Callable[[str, str], bytes], str]] = [
        (land, "land", land_envelope, "GetParcelChanges"), (land, "land", land_envelope, "GetCertificateChanges"),
        (business, "business", business_envelope, "GetEnterpriseChanges"),
        (business, "business", business_envelope, "GetBranchChanges"),
    ]
    for handle, agency, envelope, operation in cases:
        service = SERVICES[agency]
        body = post(handle.base_url, service.path,
                    envelope(operation, f"<since>{EPOCH}</since><pageSize>5000</pageSize>")).content
        response = etree.fromstring(body).find(f"{{{SOAP_ENV_NS}}}Body/{{{service.namespace}}}{operation}Response")
        assert response is not None and len(response) > 100
        _schema(service).assertValid(etree.ElementTree(copy.deepcopy(response)))
