"""The authorisation matrix: each client x each endpoint x each column class, against what its grant says."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from sharing import db
from sharing.api.masking import mask_value
from sharing.api.policy import pii_class
from sharing.snapshots import read_version
from tests.sharing.api.conftest import CLIENTS, CLOCK, Served, headers, make_policy
from tests.sharing.api.samples import pick

pytestmark = pytest.mark.integration

PURPOSE = {"masked": "statistics"}
MATRIX_CLIENTS = ["clear_all", "clear_personal", "masked", "narrow", "no_grant"]


def endpoints(served: Served) -> dict[str, tuple[str, dict[str, Any], tuple[str, ...]]]:
    """name -> (path, query, datasets it reads)."""
    s = pick(served.url)
    commune, sheet, number = s.parcel
    return {
        "enterprise": (f"/v1/enterprises/{s.tax_code[:4]}-{s.tax_code[4:]}", {},
                       ("enterprises", "enterprise_profile", "branches", "taxpayers")),
        "branch": (f"/v1/enterprises/{s.branch_code[:10]}-{s.branch_code[10:]}", {},
                   ("enterprises", "enterprise_profile", "branches", "taxpayers")),
        "parcel": (f"/v1/parcels/{commune}/{sheet}/{number}", {}, ("parcels", "parcel_profile", "land_certificates")),
        "permits_by_investor": ("/v1/permits", {"investor_id": s.investor_id}, ("permits",)),
        "permits_by_parcel": (f"/v1/parcels/{commune}/{sheet}/{number}/permits", {}, ("permits",)),
        "search": ("/v1/enterprises", {"name": s.name_word.upper()}, ("enterprises",)),
    }


def call(api: httpx.Client, client: str, path: str, query: dict[str, Any]) -> httpx.Response:
    return api.get(path, params=query, headers=headers(client, PURPOSE.get(client, "inspection")))


def test_reference_client_sees_the_database(api: httpx.Client, served: Served) -> None:
    """clear_all's answer is the database row, so it can stand as the raw values below."""
    s = pick(served.url)
    body = call(api, "clear_all", f"/v1/enterprises/{s.tax_code}", {}).json()
    with db.engine_for(served.url).connect() as conn:
        row = conn.execute(sa.text("SELECT legal_rep_id, legal_rep_name, name FROM ds_enterprises "
                                   "WHERE enterprise_code = :c AND valid_to IS NULL"), {"c": s.tax_code}).one()
    got = body["data"]["enterprises"][0]
    assert (got["legal_rep_id"], got["legal_rep_name"], got["name"]) == tuple(row)


@pytest.mark.parametrize("client", MATRIX_CLIENTS)
def test_matrix(api: httpx.Client, served: Served, client: str) -> None:
    policy = make_policy()
    grants = policy.clients[client].grants
    seen: set[tuple[str, str]] = set()  # (endpoint, pii class) with a non-null value checked
    for name, (path, query, datasets) in endpoints(served).items():
        raw = call(api, "clear_all", path, query)
        assert raw.status_code == 200, (name, raw.text)
        response = call(api, client, path, query)
        if not any(d in grants for d in datasets):
            assert response.status_code == 403, (client, name, response.text)
            assert response.json()["type"] == "urn:lienthong:problem:not-permitted"
            continue
        assert response.status_code == 200, (client, name, response.text)
        got = response.json()["data"]
        assert set(got) == {d for d in datasets if d in grants}, (client, name)
        for dataset, rows in got.items():
            grant = grants[dataset]
            expected_rows = raw.json()["data"][dataset]
            assert len(rows) == len(expected_rows)
            for row, full in zip(rows, expected_rows, strict=True):
                assert set(row) == {c for c in full if grant.readable(c)}, (client, name, dataset)
                for column, value in row.items():
                    cls = pii_class(dataset, column)
                    want = full[column] if cls in grant.clear else mask_value(full[column], cls)
                    assert value == want, (client, name, dataset, column, cls)
                    if full[column] is not None:
                        seen.add((name, cls))
                    if cls not in grant.clear and full[column] is not None:
                        assert value != full[column], (client, name, dataset, column)
    if client in ("clear_all", "clear_personal", "masked"):
        classes = {cls for _, cls in seen}
        assert classes == {"public", "personal", "sensitive"}, seen


def test_purpose_must_be_granted(api: httpx.Client, served: Served) -> None:
    s = pick(served.url)
    wrong = api.get(f"/v1/enterprises/{s.tax_code}", headers=headers("clear_all", "statistics"))
    assert wrong.status_code == 403 and "statistics" in wrong.json()["detail"]
    assert wrong.json()["type"] == "urn:lienthong:problem:purpose-not-allowed"
    assert wrong.json()["allowed_purposes"] == ["inspection"]
    missing = api.get(f"/v1/enterprises/{s.tax_code}", headers=headers("clear_all", None))
    assert missing.status_code == 400 and "X-Purpose" in missing.json()["detail"]
    nokey = api.get(f"/v1/enterprises/{s.tax_code}", headers={"X-Purpose": "inspection"})
    assert nokey.status_code == 401
    badkey = api.get(f"/v1/enterprises/{s.tax_code}", headers={"X-API-Key": "lt_nope", "X-Purpose": "inspection"})
    assert badkey.status_code == 401


@pytest.mark.parametrize("client", MATRIX_CLIENTS)
def test_catalog_and_versions(api: httpx.Client, client: str) -> None:
    grants = make_policy().clients[client].grants
    listed = call(api, client, "/v1/datasets", {})
    if not grants:  # a client granted nothing is refused, not given an empty catalog
        assert listed.status_code == 403 and listed.json()["type"] == "urn:lienthong:problem:not-permitted"
        return
    assert listed.status_code == 200
    names = {d["name"] for d in listed.json()["datasets"]}
    assert names == set(grants) & {"enterprises", "enterprise_profile", "branches", "taxpayers", "parcels",
                                   "parcel_profile", "land_certificates", "permits", "tax_notices",
                                   "view_match_stats", "view_unmatched"}
    versions = call(api, client, "/v1/datasets/permits/versions", {})
    assert versions.status_code == (200 if "permits" in grants else 403)
    if versions.status_code == 200:
        assert versions.json()["versions"][0]["version"] == 1


@pytest.mark.parametrize("client", MATRIX_CLIENTS)
@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_export_masks_like_lookups(api: httpx.Client, served: Served, client: str, fmt: str) -> None:
    grants = make_policy().clients[client].grants
    response = call(api, client, "/v1/datasets/parcels/versions/1/export", {"format": fmt})
    if "parcels" not in grants:
        assert response.status_code == 403
        return
    assert response.status_code == 200, response.text
    text = dict.fromkeys(("holder_name", "holder_id", "address", "commune_code_source"), pa.string())
    got = pq.read_table(io.BytesIO(response.content)) if fmt == "parquet" else pacsv.read_csv(
        io.BytesIO(response.content), convert_options=pacsv.ConvertOptions(column_types=text))
    full = read_version(served.data_dir, "parcels", 1)
    grant = grants["parcels"]
    assert got.column_names == [c for c in full.column_names if grant.readable(c)]
    assert got.num_rows == full.num_rows
    for column in ("holder_name", "holder_id", "address", "commune_code_source"):
        if not grant.readable(column):
            continue
        cls = pii_class("parcels", column)
        want = [v if cls in grant.clear else mask_value(v, cls) for v in full.column(column).to_pylist()]
        assert got.column(column).to_pylist() == want, (client, column)


def test_rate_limit(api: httpx.Client, served: Served) -> None:
    """`slow` may make 3 requests at once and 1 a second after: the test holds the limiter's clock."""
    s = pick(served.url)
    CLOCK.now += 3600  # whatever an earlier run of this test left, the bucket is full again
    got = [api.get(f"/v1/enterprises/{s.tax_code}", headers=headers("slow")) for _ in range(4)]
    assert [r.status_code for r in got] == [200, 200, 200, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in got] == ["2", "1", "0", "0"]
    assert got[3].headers["Retry-After"] == "1" and got[3].json()["type"] == "urn:lienthong:problem:rate-limited"
    CLOCK.now += 1.0
    assert api.get(f"/v1/enterprises/{s.tax_code}", headers=headers("slow")).status_code == 200
    assert api.get(f"/v1/enterprises/{s.tax_code}", headers=headers("slow")).status_code == 429


def test_pagination_is_signed(api: httpx.Client, served: Served) -> None:
    s = pick(served.url)
    query: dict[str, Any] = {"investor_id": s.investor_id, "limit": 1}
    seen: list[str] = []
    while True:
        page = call(api, "clear_all", "/v1/permits", query).json()
        seen += [p["permit_no"] for p in page["data"]["permits"]]
        if page["next_cursor"] is None:
            break
        query["cursor"] = page["next_cursor"]
        assert len(seen) < 100
    full = call(api, "clear_all", "/v1/permits", {"investor_id": s.investor_id, "limit": 200}).json()
    assert seen == [p["permit_no"] for p in full["data"]["permits"]] and len(seen) >= 2
    first = call(api, "clear_all", "/v1/permits", {"investor_id": s.investor_id, "limit": 1}).json()["next_cursor"]
    body = first.split(".")[0]
    forged = call(api, "clear_all", "/v1/permits", {"investor_id": s.investor_id, "cursor": body + ".AAAA"})
    assert forged.status_code == 404 and forged.json()["type"] == "urn:lienthong:problem:unknown-cursor"
    other_query = call(api, "clear_all", "/v1/permits", {"investor_id": "0100109106", "cursor": first})
    assert other_query.status_code == 404 and "not valid for this query" in other_query.json()["detail"]


def test_search_ignores_case_and_diacritics(api: httpx.Client, served: Served) -> None:
    with db.engine_for(served.url).connect() as conn:
        code, name = conn.execute(sa.text("SELECT enterprise_code, name FROM ds_enterprises WHERE valid_to IS NULL "
                                          "AND NOT is_deleted ORDER BY enterprise_code LIMIT 1")).one()
    for typed in (name, name.upper(), name.lower()):
        hits = call(api, "clear_all", "/v1/enterprises", {"name": typed}).json()["data"]["enterprises"]
        assert hits[0]["enterprise_code"] == code  # the whole name ranks first
    from schemas.normalize.text import search_key_scalar

    plain = search_key_scalar(name)
    hits = call(api, "clear_all", "/v1/enterprises", {"name": plain.upper(), "limit": 200}).json()
    assert code in [h["enterprise_code"] for h in hits["data"]["enterprises"]]


def test_openapi_has_examples(api: httpx.Client) -> None:
    doc = api.get("/openapi.json").json()
    assert {"/v1/enterprises/{tax_code}", "/v1/parcels/{commune_code}/{map_sheet}/{parcel_number}", "/v1/permits",
            "/v1/enterprises", "/v1/datasets", "/v1/datasets/{name}/versions/{version}/export", "/v1/audit"} <= set(
        doc["paths"])
    enterprise = doc["paths"]["/v1/enterprises/{tax_code}"]["get"]
    assert enterprise["responses"]["200"]["content"]["application/json"]["example"]["data"]["enterprises"]


def test_clients_are_declared() -> None:
    assert set(MATRIX_CLIENTS) <= set(CLIENTS)
