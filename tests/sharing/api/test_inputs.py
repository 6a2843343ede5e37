"""Injection strings, oversized and malformed inputs: a clear 4xx, and nothing in the database changes."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import pytest
import sqlalchemy as sa

from sharing import db
from tests.sharing.api.conftest import Served, headers
from tests.sharing.api.samples import pick

pytestmark = pytest.mark.integration

INJECTIONS = [
    "' OR '1'='1", "0100109106'; DROP TABLE ds_enterprises; --", "1 UNION SELECT * FROM lt_audit_log",
    "%' OR name LIKE '%", "\\x00", "0100109106\x00", "../../etc/passwd", "<script>alert(1)</script>",
    "${jndi:ldap://x}", "0100109106 OR 1=1",
]
BIG = "9" * 5000


def fingerprint(url: str) -> dict[str, Any]:
    """Row counts of every table but the audit log (which records the attempts)."""
    engine = db.engine_for(url)
    names = sorted(n for n in sa.inspect(engine).get_table_names() if n not in ("lt_audit_log", "lt_audit_head"))
    with engine.connect() as conn:
        return {n: conn.execute(sa.select(sa.func.count()).select_from(sa.table(n))).scalar_one() for n in names}


def cases(served: Served) -> list[tuple[str, str, dict[str, Any]]]:
    """(label, path, query) of requests that must be refused with a 4xx."""
    s = pick(served.url)
    commune, sheet, number = s.parcel
    out: list[tuple[str, str, dict[str, Any]]] = []
    for i, bad in enumerate(INJECTIONS):
        out += [
            (f"tax_code{i}", f"/v1/enterprises/{quote(bad, safe='')}", {}),
            (f"name{i}", "/v1/enterprises", {"name": bad}),
            (f"investor{i}", "/v1/permits", {"investor_id": bad}),
            (f"commune{i}", f"/v1/parcels/{quote(bad, safe='')}/{sheet}/{number}/permits", {}),
            (f"cursor{i}", "/v1/permits", {"investor_id": s.investor_id, "cursor": bad}),
            (f"dataset{i}", f"/v1/datasets/{quote(bad, safe='')}/versions", {}),
        ]
    out += [
        ("big_tax_code", f"/v1/enterprises/{BIG}", {}),
        ("big_name", "/v1/enterprises", {"name": "a" * 5000}),
        ("big_cursor", "/v1/permits", {"investor_id": s.investor_id, "cursor": "A" * 5000}),
        ("bad_check_digit", f"/v1/enterprises/{s.tax_code[:9]}{(int(s.tax_code[9]) + 1) % 10}", {}),
        ("short_tax_code", "/v1/enterprises/12345", {}),
        ("sheet_not_int", f"/v1/parcels/{commune}/abc/{number}", {}),
        ("sheet_negative", f"/v1/parcels/{commune}/-1/{number}", {}),
        ("sheet_huge", f"/v1/parcels/{commune}/{10**30}/{number}", {}),
        ("commune_short", f"/v1/parcels/123/{sheet}/{number}", {}),
        ("permits_no_filter", "/v1/permits", {}),
        ("permits_half_parcel", f"/v1/parcels/{commune}/{sheet}/permits", {}),
        ("limit_zero", "/v1/permits", {"investor_id": s.investor_id, "limit": 0}),
        ("limit_huge", "/v1/permits", {"investor_id": s.investor_id, "limit": 10**9}),
        ("export_format", "/v1/datasets/parcels/versions/1/export", {"format": "xlsx"}),
        ("export_version_zero", "/v1/datasets/parcels/versions/0/export", {}),
        ("export_no_such_version", "/v1/datasets/parcels/versions/99/export", {}),
        ("unknown_dataset", "/v1/datasets/no_such_thing/versions", {}),
        ("name_one_char", "/v1/enterprises", {"name": "a"}),
        ("audit_client_bad", "/v1/audit", {"client": "x' OR 1=1"}),
    ]
    return out


def test_bad_inputs_get_4xx_and_change_nothing(api: httpx.Client, served: Served) -> None:
    before = fingerprint(served.url)
    for label, path, query in cases(served):
        response = api.get(path, params=query, headers=headers("clear_all"))
        assert 400 <= response.status_code < 500, (label, response.status_code, response.text[:300])
        if response.status_code != 404 or label.startswith(("export", "unknown")):
            body = response.json()
            assert body["type"].startswith("urn:lienthong:problem:") and body["detail"], label
            assert response.headers["content-type"] == "application/problem+json", label
            assert BIG not in response.text  # inputs are not echoed back
    assert fingerprint(served.url) == before
    from sharing.api.audit import verify

    assert verify(served.url)[1] == []


def test_bad_purpose_and_key_headers(api: httpx.Client, served: Served) -> None:
    s = pick(served.url)
    path = f"/v1/enterprises/{s.tax_code}"
    for purpose in ["' OR 1=1", "x" * 500, "", "Inspection"]:
        response = api.get(path, headers={**headers("clear_all"), "X-Purpose": purpose})
        assert response.status_code == 400, purpose
    assert api.get(path, headers={"X-API-Key": "k" * 10_000, "X-Purpose": "inspection"}).status_code == 401


def test_wildcards_are_not_wildcards(api: httpx.Client, served: Served) -> None:
    """A search for letters never matches by SQL wildcard: `%` and `_` are refused outright."""
    for name in ("%%", "a_b", "a%"):
        assert api.get("/v1/enterprises", params={"name": name}, headers=headers("clear_all")).status_code == 422
