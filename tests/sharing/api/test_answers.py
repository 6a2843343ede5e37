"""Answers a client can use: the version and as-of time read, numbers as numbers, timestamps with their zone
(JSON and CSV), coded values with their label, one masking rule per column wherever it appears, "no such
record" apart from "not permitted", and /v1/me saying what the caller may read."""

from __future__ import annotations

import io

import httpx
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
import sqlalchemy as sa

from sharing import db
from tests.sharing.api.conftest import Served, headers
from tests.sharing.api.samples import pick

pytestmark = pytest.mark.integration
PROBLEM = "urn:lienthong:problem:"


def test_lookup_names_version_and_types(api: httpx.Client, served: Served) -> None:
    s = pick(served.url)
    body = api.get(f"/v1/enterprises/{s.tax_code}", headers=headers("clear_all")).json()
    with db.engine_for(served.url).connect() as conn:
        current = dict(conn.execute(sa.select(db.datasets.c.name, db.datasets.c.current_version)).all())
    assert set(body["datasets"]) == {"enterprises", "enterprise_profile", "branches", "taxpayers"}
    for name, read in body["datasets"].items():
        assert read["version"] == current[name], name
        assert read["as_of"].endswith("Z"), read
    assert body["has_more"] is False
    enterprise = body["data"]["enterprises"][0]
    assert isinstance(enterprise["charter_capital_vnd"], int | None) and enterprise["updated_at"].endswith("Z")
    profile = body["data"]["enterprise_profile"][0]
    assert profile["parcel_area_m2"] is None or isinstance(profile["parcel_area_m2"], int | float)
    for taxpayer in body["data"]["taxpayers"]:
        label = taxpayer["status_code_label"]
        assert taxpayer["status_code"] is None or (label["vi"] and label["en"]), taxpayer
    six = api.get("/openapi.json").json()["paths"]["/v1/enterprises/{tax_code}"]["get"]["responses"]["200"]
    example = six["content"]["application/json"]["example"]["data"]["enterprise_profile"][0]
    assert example["tax_status_code_label"]["en"] == "Not operating at the registered address"


def test_csv_timestamps_carry_their_zone(api: httpx.Client) -> None:
    response = api.get("/v1/datasets/parcels/versions/1/export", params={"format": "csv"},
                       headers=headers("clear_all"))
    table = pacsv.read_csv(io.BytesIO(response.content), convert_options=pacsv.ConvertOptions(
        column_types={"updated_at": pa.string()}))
    assert all(v.endswith("Z") for v in table.column("updated_at").to_pylist())


def test_a_views_copy_is_masked_as_its_source(api: httpx.Client, served: Served) -> None:
    commune, sheet, number = pick(served.url).parcel
    body = api.get(f"/v1/parcels/{commune}/{sheet}/{number}", headers=headers("land_tax")).json()["data"]
    parcel, profile = body["parcels"][0], body["parcel_profile"][0]
    assert parcel["holder_name"] == profile["holder_name"] and "***" not in parcel["holder_name"]
    assert "*" in profile["holder_id"]  # sensitive: not cleared on either dataset
    me = api.get("/v1/me", headers={"X-API-Key": headers("land_tax")["X-API-Key"]}).json()
    masked = {(d["name"], c["name"]): c["masked"] for d in me["datasets"] for c in d["columns"]}
    assert masked[("parcel_profile", "holder_name")] is False and masked[("parcel_profile", "holder_id")] is True


def test_no_such_record_is_not_not_permitted(api: httpx.Client, served: Served) -> None:
    s = pick(served.url)
    missing = api.get("/v1/enterprises/0100109106", headers=headers("clear_all"))
    assert missing.status_code == 404 and missing.json()["type"] == PROBLEM + "not-found"
    assert missing.json()["title"] == "Không có bản ghi"  # Vietnamese first; English on request
    english = api.get("/v1/enterprises/0100109106", headers={**headers("clear_all"), "Accept-Language": "en"})
    assert english.json()["title"] == "No such record" and english.json()["type"] == missing.json()["type"]
    refused = api.get(f"/v1/enterprises/{s.tax_code}", headers=headers("no_grant"))
    assert refused.status_code == 403 and refused.json()["type"] == PROBLEM + "not-permitted"
    unknown = api.get(f"/v1/enterprises/{s.tax_code}", headers=headers("narrow", "marketing"))
    assert unknown.status_code == 403 and unknown.json()["type"] == PROBLEM + "purpose-not-allowed"
    assert unknown.json()["allowed_purposes"] == ["inspection"]
    assert api.get("/v1/datasets", headers=headers("narrow", "marketing")).status_code == 403  # not an empty 200


def test_me_lists_what_the_caller_may_read(api: httpx.Client) -> None:
    me = api.get("/v1/me", headers={"X-API-Key": headers("narrow")["X-API-Key"]})
    assert me.status_code == 200 and me.headers["X-RateLimit-Limit"]
    body = me.json()
    assert body["client"] == "narrow" and body["purposes"] == ["inspection"]
    assert {d["name"] for d in body["datasets"]} == {"enterprises", "parcels", "permits"}
    columns = {c["name"]: c for d in body["datasets"] if d["name"] == "enterprises" for c in d["columns"]}
    assert set(columns) == {"enterprise_code", "name", "legal_rep_name", "commune_code_source"}
    assert columns["legal_rep_name"] == {"name": "legal_rep_name", "pii": "personal", "masked": True}
    assert api.get("/v1/me").status_code == 401
