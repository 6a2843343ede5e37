"""Behind an X-Road security server: a trusted one's X-Road-Client names the calling subsystem, which maps
to a client of the policy; X-Road-Id and X-Road-Request-Hash go into the audit entry; an untrusted address
cannot claim to be one; the contract comes as OpenAPI 3.0 to register as an X-Road REST service."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sharing.api.app import create_app
from sharing.api.audit import read
from sharing.api.auth import hash_key
from sharing.api.policy import policy_from_dict
from tests.sharing.api.conftest import CLIENTS, UNLIMITED, Served, key, running_api
from tests.sharing.api.samples import pick

pytestmark = pytest.mark.integration

MEMBER = "VN/GOV/000.00.00.H42/THUE-TRA-CUU"  # instance/class/member code/subsystem, as percent-decoded


def _policy(trusted: list[str]) -> Any:
    return policy_from_dict({
        "anonymous_rate": UNLIMITED,
        "clients": {"clear_all": {"key_sha256": hash_key(key("clear_all")), "rate": UNLIMITED,
                                  **CLIENTS["clear_all"]}},
        "xroad": {"trusted_addresses": trusted, "members": {MEMBER: "clear_all"}}})


@pytest.fixture
def behind(served: Served, request: pytest.FixtureRequest) -> Iterator[httpx.Client]:
    app = create_app(served.url, _policy(request.param), served.data_dir)
    with running_api(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        yield client
    app.state.lienthong.writer.close()


XROAD = {"X-Road-Client": "VN/GOV/000.00.00.H42/THUE%2DTRA%2DCUU", "X-Road-Id": "fa2e18a5-c2cb-4d09-b994-f57727f7c3fb",
         "X-Road-Request-Hash": "14sEri8SmLNy/DJyTob0ZddAskmdRy5ZUyhbr33iLkaA+gLpWcivUH16fzbuIs7hhs2AnA4"
                                "lJDloyIihXMlVQA==",
         "X-Road-Service": "VN/GOV/000.00.00.G12/LIENTHONG/lookup", "X-Purpose": "inspection"}


@pytest.mark.parametrize("served", ["sqlite"], indirect=True)
@pytest.mark.parametrize("behind", [["127.0.0.1"]], indirect=True)
def test_a_trusted_security_server_names_the_client(behind: httpx.Client, served: Served) -> None:
    s = pick(served.url)
    ok = behind.get(f"/v1/enterprises/{s.tax_code}", headers=XROAD)
    assert ok.status_code == 200 and ok.json()["data"]["enterprises"][0]["enterprise_code"] == s.tax_code
    stranger = behind.get(f"/v1/enterprises/{s.tax_code}", headers={**XROAD, "X-Road-Client": "VN/COM/123/OTHER"})
    assert stranger.status_code == 401 and "VN/COM/123/OTHER" in stranger.json()["detail"]
    entries = {e["context"] and json.loads(e["context"]).get("request_id"): e for e in read(served.url, limit=10**6)}
    mine = entries[ok.headers["X-Request-Id"]]
    context = json.loads(mine["context"])
    assert mine["client"] == "clear_all" and mine["status"] == 200
    assert context["xroad_client"] == XROAD["X-Road-Client"] and context["xroad_id"] == XROAD["X-Road-Id"]
    assert context["xroad_request_hash"] == XROAD["X-Road-Request-Hash"]
    assert entries[stranger.headers["X-Request-Id"]]["status"] == 401


@pytest.mark.parametrize("served", ["sqlite"], indirect=True)
@pytest.mark.parametrize("behind", [["10.255.255.1"]], indirect=True)
def test_an_untrusted_address_cannot_claim_x_road(behind: httpx.Client, served: Served) -> None:
    s = pick(served.url)
    assert behind.get(f"/v1/enterprises/{s.tax_code}", headers=XROAD).status_code == 401
    with_key = behind.get(f"/v1/enterprises/{s.tax_code}", headers={**XROAD, "X-API-Key": key("clear_all")})
    assert with_key.status_code == 200  # the key decides; the X-Road headers are only claims
    doc = behind.get("/openapi.xroad.json").json()
    assert doc["openapi"] == "3.0.3" and set(doc["components"]["securitySchemes"]) == {"Purpose"}
    text = json.dumps(doc)
    assert '"null"' not in text and "X-API-Key" not in text  # 3.0: nullable, and no key behind X-Road
