"""Plain-httpx clients of the REST simulators, written from PROTOCOL.md, and ground-truth readers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq

from agencies.simulator import AgencySimulator
from agencies.truth import write_truth

CONSTRUCTION_KEY = {"X-API-Key": "construction-dev-key"}


def read_permits(base_url: str, since: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    offset = 0
    with httpx.Client(base_url=base_url, headers=CONSTRUCTION_KEY, timeout=30) as client:
        while True:
            params: dict[str, Any] = {"offset": offset, "limit": limit}
            if since:
                params["updated_since"] = since
            page = client.get("/api/v1/permits", params=params).raise_for_status().json()
            items += page["items"]
            offset += len(page["items"])
            if offset >= page["total"] or not page["items"]:
                return items


def tax_token(client: httpx.Client) -> str:
    response = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                           auth=("lienthong", "tax-dev-secret"))
    return str(response.raise_for_status().json()["access_token"])


def read_tax_feed(base_url: str, path: str, since: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    with httpx.Client(base_url=base_url, timeout=30) as client:
        client.headers["Authorization"] = "Bearer " + tax_token(client)
        params: dict[str, Any] = {"limit": limit}
        if since:
            params["changed_since"] = since
        page = client.get(f"/api/v1/{path}", params=params).raise_for_status().json()
        while True:
            items += page["items"]
            if page["next"] is None:
                return items
            page = client.get(page["next"]).raise_for_status().json()


def truth_records(sim: AgencySimulator, dataset: str, tmp_path: Path) -> list[dict[str, Any]]:
    """The ground truth as the feed serves it (no value faults): non-null wire fields per row."""
    out = tmp_path / f"truth-{dataset}.parquet"
    write_truth(sim, out, dataset)
    rows = pq.read_table(out).to_pylist()
    return [{k: v for k, v in row.items() if not k.startswith("_") and v is not None} for row in rows]
