"""The lxml bulk path yields exactly what zeep yields, on every operation of both SOAP simulators."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from agencies.testing import running_simulator
from connectors.bulk import BulkPlan
from connectors.http import Response
from connectors.open import open_reader
from connectors.secrets import Redactor
from connectors.soap import SoapReader
from tests.connectors.helpers import source_at

pytestmark = pytest.mark.integration


@pytest.fixture(params=["tree", "streamed"], autouse=True)
def reply_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every comparison twice: replies parsed whole (the usual page) and streamed (a reply past TREE_BYTES)."""
    if request.param == "streamed":
        monkeypatch.setattr("connectors.bulk.TREE_BYTES", -1)
    return str(request.param)

EPOCH = "1970-01-01T00:00:00Z"


def _exchange(reader: SoapReader, operation: str, args: dict[str, Any]) -> Response:
    body, headers = reader.envelope(operation, args)
    reply = httpx.post(reader.source.endpoint, content=body, headers=headers)
    return Response(reply.status_code, reply.headers, reply.content, str(reply.url))


def _as_zeep_would(got: list[Any], want: list[Any]) -> list[Any]:
    """The bulk records with the one documented difference undone: a value zeep's type could not convert
    is None from zeep and the text from the bulk path (so coercion can flag it)."""
    out = []
    for a, b in zip(got, want, strict=False):
        if isinstance(a, dict) and isinstance(b, dict):
            a = {k: None if isinstance(v, str) and b.get(k) is None else v for k, v in a.items()}
        out.append(a)
    return out + got[len(want):]


def _compare(reader: SoapReader, operation: str, args: dict[str, Any], records: str, token: str | None) -> int:
    response = _exchange(reader, operation, args)
    assert response.status == 200, response.content[:300]
    want, want_token = reader.read_reply(operation, response, records, token, bulk=False)
    got, next_token = BulkPlan(reader.binding, operation, records, token).parse(response.content)
    assert next_token == want_token
    assert _as_zeep_would(got, want) == want
    for a, b in zip(_as_zeep_would(got, want), want, strict=True):
        if isinstance(a, dict):  # the same Python types too, not only equal values
            assert {k: type(v) for k, v in a.items()} == {k: type(v) for k, v in b.items()}
    return len(got)


@pytest.mark.parametrize("faults", [None, {"invalid_values": 0.1}], ids=["clean", "invalid_values"])
def test_land_operations(faults: dict[str, float] | None) -> None:
    with running_simulator("land", records=800, seed=9, faults=faults) as handle:
        source = source_at("land", handle.base_url)
        with open_reader(source, Redactor()) as (reader, _):
            assert isinstance(reader, SoapReader)
            n = _compare(reader, "GetParcelChanges", {"since": EPOCH, "pageSize": 300}, "parcel", "nextPageToken")
            assert n == 300
            first = next(iter(handle.sim.store.all_rows("parcels")))[0].split("/")
            args = {"communeCode": first[0], "mapSheet": int(first[1]), "parcelNumber": int(first[2])}
            assert _compare(reader, "GetParcel", args, "parcel", None) == 1
            assert _compare(reader, "GetCertificateChanges", {"since": EPOCH}, "certificate", "nextPageToken") > 0
            cert = next(iter(handle.sim.store.all_rows("land_certificates")))[0]
            assert _compare(reader, "GetCertificate", {"certificateNo": cert}, "certificate", None) == 1
            assert _compare(reader, "GetCertificate", {"certificateNo": "XX 000000"}, "certificate", None) == 0


@pytest.mark.parametrize("faults", [None, {"invalid_values": 0.1}], ids=["clean", "invalid_values"])
def test_business_operations(faults: dict[str, float] | None) -> None:
    with running_simulator("business", records=800, seed=9, faults=faults) as handle:
        source = source_at("business", handle.base_url)
        with open_reader(source, Redactor()) as (reader, _):
            assert isinstance(reader, SoapReader)
            assert _compare(reader, "GetEnterpriseChanges", {"since": EPOCH}, "enterprise", "nextPageToken") > 0
            code = next(iter(handle.sim.store.all_rows("enterprises")))[0]
            assert _compare(reader, "GetEnterprise", {"enterpriseCode": code}, "enterprise", None) == 1
            assert _compare(reader, "ListEnterpriseCodes", {"pageSize": 200}, "code", "nextPageToken") == 200
            assert _compare(reader, "GetBranchChanges", {"since": EPOCH}, "branch", "nextPageToken") > 0
            assert _compare(reader, "ListBranchCodes", {}, "code", "nextPageToken") > 0
