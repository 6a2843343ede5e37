"""The tax simulator over real HTTP: OAuth2 tokens that expire, cursor pages = ground truth, tombstones."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from agencies.testing import SimulatorHandle, running_simulator
from tests.agencies.helpers import read_tax_feed, tax_token, truth_records

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(("path", "dataset"), [("taxpayers", "taxpayers"), ("land-tax-notices", "land_tax_notices")])
def test_each_feed_matches_the_ground_truth(tax_sim: SimulatorHandle, tmp_path: Path, path: str, dataset: str) -> None:
    assert read_tax_feed(tax_sim.base_url, path, limit=250) == truth_records(tax_sim.sim, dataset, tmp_path)


def test_after_an_advance_the_changes_include_key_only_tombstones(tax_sim: SimulatorHandle, tmp_path: Path) -> None:
    base = tax_sim.base_url
    before = {t["tax_code"]: t for t in read_tax_feed(base, "taxpayers")}
    clock = httpx.get(base + "/_admin/clock").json()["clock"]
    httpx.post(base + "/_admin/advance", params={"minutes": 120}).raise_for_status()
    changes = read_tax_feed(base, "taxpayers", since=clock)
    after = {t["tax_code"]: t for t in read_tax_feed(base, "taxpayers")}
    assert {t["tax_code"] for t in changes} == {k for k, t in after.items() if before.get(k) != t}
    tombstones = [t for t in changes if t["deleted"]]
    assert tombstones and all(set(t) == {"tax_code", "deleted", "updated_at"} for t in tombstones)
    with httpx.Client(base_url=base) as client:
        client.headers["Authorization"] = "Bearer " + tax_token(client)
        assert client.get(f"/api/v1/taxpayers/{tombstones[0]['tax_code']}").status_code == 404
        live = next(t for t in changes if not t["deleted"])
        assert client.get(f"/api/v1/taxpayers/{live['tax_code']}").json() == live
    assert list(after.values()) == truth_records(tax_sim.sim, "taxpayers", tmp_path)


def test_token_by_form_fields_and_refusals(tax_sim: SimulatorHandle) -> None:
    with httpx.Client(base_url=tax_sim.base_url) as client:
        ok = client.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": "lienthong",
                                               "client_secret": "tax-dev-secret"})
        assert ok.status_code == 200 and ok.json()["token_type"] == "Bearer" and ok.json()["expires_in"] == 300
        wrong = client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("lienthong", "nope"))
        assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
        grant = client.post("/oauth/token", data={"grant_type": "password"}, auth=("lienthong", "tax-dev-secret"))
        assert grant.status_code == 400
        for header in ({}, {"Authorization": "Bearer made-up"}, {"Authorization": "Basic bGllbnRob25nOng="}):
            refused = client.get("/api/v1/taxpayers", headers=header)
            assert refused.status_code == 401
            assert refused.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_tokens_expire(tmp_path: Path) -> None:
    with running_simulator("tax", records=200, seed=3, tmp_dir=tmp_path, token_ttl=0.5) as sim, \
            httpx.Client(base_url=sim.base_url) as client:
        client.headers["Authorization"] = "Bearer " + tax_token(client)
        assert client.get("/api/v1/taxpayers", params={"limit": 1}).status_code == 200
        time.sleep(0.7)
        expired = client.get("/api/v1/taxpayers", params={"limit": 1})
        assert expired.status_code == 401 and "invalid_token" in expired.headers["WWW-Authenticate"]


@pytest.mark.parametrize("query", ["cursor=not-a-cursor", "cursor=WyJ4Il0", "limit=0", "changed_since=soon"])
def test_bad_cursor_or_parameters_get_a_400(tax_sim: SimulatorHandle, query: str) -> None:
    with httpx.Client(base_url=tax_sim.base_url) as client:
        client.headers["Authorization"] = "Bearer " + tax_token(client)
        response = client.get("/api/v1/land-tax-notices?" + query)
        assert response.status_code == 400 and query.split("=")[0] in response.json()["error"]


def test_pages_are_stable_and_built_from_the_cursor_alone(tax_sim: SimulatorHandle) -> None:
    with httpx.Client(base_url=tax_sim.base_url) as client:
        client.headers["Authorization"] = "Bearer " + tax_token(client)
        first = client.get("/api/v1/taxpayers", params={"limit": 100, "changed_since": "2023-01-01T00:00:00Z"})
        follow = first.json()["next"]
        assert client.get(follow).content == client.get(follow).content
        assert all(t["updated_at"] >= "2023-01-01T00:00:00Z" for t in client.get(follow).json()["items"])


def test_openapi_document_describes_oauth2(tax_sim: SimulatorHandle) -> None:
    doc = httpx.get(tax_sim.base_url + "/openapi.json").json()
    flows = doc["components"]["securitySchemes"]["oauth2"]["flows"]
    assert flows["clientCredentials"]["tokenUrl"] == "/oauth/token"
    assert "/api/v1/land-tax-notices/{notice_no}" in doc["paths"]
