"""Data provision beyond single lookups (Circular 13/2017/TT-BTTTT): only what changed since a version or a
time, pushed to registered subscribers, and the data subject's view of who processed their data.

- `GET /v1/datasets/{name}/changes?since=VERSION|TIME`: inserts, updates and deletes in order, paged by a
  signed cursor, under the caller's grant and masking (`sharing.history`).
- `POST/GET/DELETE /v1/subscriptions`: a callback for a dataset (and an optional filter on columns the
  grant shows unmasked); notifications come from the outbox (`sharing.subscriptions`, `sharing.deliver`).
- `GET /v1/audit/subjects/{identifier}`: every lookup that disclosed that citizen ID or tax code, for an
  auditor or for a clerk stating the purpose `data_subject_request` (`sharing.api.subjects`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from sharing.api import cursor as cursors
from sharing.api import labels, masking, queries
from sharing.api.contract import SHAPES
from sharing.api.problems import Problem
from sharing.api.responses import iso
from sharing.api.routes import PARTY_ID, CallerDep, DatasetName, _dataset_grant
from sharing.api.state import entry_of, state_of
from sharing.history import POINT_PATTERN

router = APIRouter(prefix="/v1")
SUBJECT_PURPOSE = "data_subject_request"
Limit = Annotated[int, Query(ge=1, le=1000)]
Point = Annotated[str, Query(max_length=40, pattern=POINT_PATTERN,
                             description="A dataset version (`12`) or an ISO-8601 time (a zone-less time is UTC)")]


def _json_value(value: Any) -> Any:
    from datetime import datetime
    from decimal import Decimal

    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


_CHANGE = {"type": "object", "additionalProperties": False, "required": ["version", "op", "key", "at", "row"],
           "properties": {"version": {"type": "integer"},
                          "op": {"type": "string", "enum": ["insert", "update", "delete"]},
                          "key": {"type": "array", "items": {}}, "at": {"type": "string", "format": "date-time"},
                          "row": {"type": "object"}}}
SHAPES["/v1/datasets/{name}/changes"] = (
    {"type": "object", "additionalProperties": False,
     "required": ["dataset", "since", "upto", "changes", "has_more", "next_cursor"],
     "properties": {"dataset": {"type": "string"}, "since": {"type": "integer"}, "upto": {"type": "integer"},
                    "changes": {"type": "array", "items": _CHANGE}, "has_more": {"type": "boolean"},
                    "next_cursor": {"type": "string", "nullable": True}}},
    {"dataset": "permits", "since": 3, "upto": 5, "has_more": False, "next_cursor": None, "changes": [
        {"version": 4, "op": "update", "key": ["12/GPXD"], "at": "2026-11-30T02:00:00Z",
         "row": {"permit_no": "12/GPXD", "floors": 5}},
        {"version": 5, "op": "delete", "key": ["13/GPXD"], "at": "2026-11-30T03:00:00Z",
         "row": {"permit_no": "13/GPXD", "floors": 2}}]})


@router.get(
    "/datasets/{name}/changes", operation_id="changes", summary="What changed in a dataset since a version or time",
    description="Inserts, updates and deletes after `since`, in order of (version, key), with the columns the "
                "grant allows, masked as it says. Resume with `cursor` (signed): no change is skipped or repeated, "
                "even while new versions are published.",
)
def changes(request: Request, who: CallerDep, name: DatasetName, since: Point = "0", cursor: str | None = None,
            limit: Limit = 500) -> dict[str, Any]:
    from sharing import history

    grant = _dataset_grant(who, name)
    state = state_of(request)
    try:
        point = history.parse_point(since)
    except ValueError as exc:  # the declared pattern holds, yet the calendar has no such day
        raise Problem("no-such-resource", f"since: {exc}") from exc
    scope = f"changes|{name}|{since}"
    after: tuple[int, list[Any]] | None = None
    if cursor is not None:
        try:
            position = cursors.decode(scope, cursor)
        except cursors.BadCursor as exc:
            raise Problem("bad-cursor", f"cursor: {exc}") from exc
        if len(position) < 2 or not isinstance(position[0], int):
            raise Problem("bad-cursor", "cursor: malformed cursor")
        after = (position[0], position[1:])
    key = queries.specs()[name].primary_key
    with state.engine.connect() as conn:
        upto = history.current_version(conn, name)
        if upto == 0:
            raise Problem("no-such-resource", f"dataset {name} has no published version")
        try:
            # resolve refuses a point below what retention keeps; from 0 (every change) nothing may be pruned
            start = 0 if point == 0 else history.resolve(conn, name, point).version
            if start == 0 and history.keep_from(conn, name) > 1:
                history.check_kept(conn, name, 0, "since 0 (every change)")
        except history.VersionPruned as exc:
            raise Problem("version-pruned", str(exc)) from exc
        except history.NoSuchVersion as exc:
            raise Problem("no-such-resource", str(exc)) from exc
        found = history.changes(conn, queries.table(name), key, queries.columns(name), since=start, after=after,
                                upto=upto, limit=limit + 1)
    more = len(found) > limit
    found = found[:limit]
    entry = entry_of(request)
    entry.row_keys[name] = [list(c.key) for c in found]
    from sharing.api import subjects

    entry.subjects |= subjects.of_rows(c.row for c in found)
    out = [{
        "version": c.version, "op": c.kind, "key": [_json_value(k) for k in c.key], "at": iso(c.at),
        "row": {k: _json_value(v)
                for k, v in labels.add_labels(name, masking.apply(name, grant, c.row, who.client)).items()},
    } for c in found]
    nxt = cursors.encode(scope, [found[-1].version, *[_json_value(k) for k in found[-1].key]]) if more else None
    return {"dataset": name, "since": start, "upto": upto, "changes": out, "has_more": more, "next_cursor": nxt}


class NewSubscription(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dataset: str = Field(pattern=r"^[a-z][a-z0-9_]{1,59}$", examples=["permits"])
    callback_url: str = Field(min_length=8, max_length=2000, examples=["https://dossier.example.gov.vn/hooks/lt"])
    filter: dict[str, str | int | bool] = Field(default_factory=dict, max_length=5,
                                                examples=[{"province_code": "31"}])


_SUB = {"type": "object", "additionalProperties": False,
        "required": ["id", "dataset", "callback_url", "filter", "created_at", "active"],
        "properties": {"id": {"type": "string"}, "dataset": {"type": "string"}, "callback_url": {"type": "string"},
                       "filter": {"type": "object"}, "created_at": {"type": "string", "format": "date-time"},
                       "active": {"type": "boolean"}, "secret": {"type": "string"},
                       "signature": {"type": "string"}}}
_SUB_EXAMPLE = {"id": "5b2e0c1a-8f5e-4c7b-9d1e-2f3a4b5c6d7e", "dataset": "permits",
                "callback_url": "https://dossier.example.gov.vn/hooks/lt", "filter": {"province_code": "31"},
                "created_at": "2026-11-30T02:00:00Z", "active": True}
SHAPES["/v1/subscriptions"] = ({"type": "object", "additionalProperties": False, "required": ["subscriptions"],
                                "properties": {"subscriptions": {"type": "array", "items": _SUB}}},
                               {"subscriptions": [_SUB_EXAMPLE]})


def _public(row: dict[str, Any]) -> dict[str, Any]:
    import json

    return {"id": row["id"], "dataset": row["dataset"], "callback_url": row["callback_url"],
            "filter": json.loads(row["filter"] or "{}"), "created_at": iso(row["created_at"]), "active": row["active"]}


@router.post(
    "/subscriptions", operation_id="subscribe", status_code=201, summary="Be notified when a dataset changes",
    description="Registers a callback for a dataset the grant covers for the stated purpose. Each new version "
                "that concerns it is POSTed there (Standard Webhooks signature, `webhook-id` as idempotency key, "
                "at least once); the body names the change feed to read. The `secret` is shown once.",
    responses={201: {"description": "Registered", "content": {"application/json": {
        "schema": _SUB, "example": {**_SUB_EXAMPLE, "secret": "9c1f...", "signature": "Standard Webhooks v1"}}}}},
)
def subscribe(request: Request, who: CallerDep, new: Annotated[NewSubscription, Body()]) -> dict[str, Any]:
    from sharing import subscriptions

    grant = _dataset_grant(who, new.dataset)
    shown = masking.visible_columns(new.dataset, grant, queries.columns(new.dataset), who.client)
    state = state_of(request)
    try:
        made = subscriptions.register(state.engine, client=who.client.name, dataset=new.dataset,
                                      callback_url=new.callback_url, filter=new.filter,
                                      allowed_columns={c for c, masked in shown if not masked},
                                      allowed_callbacks=who.client.callbacks)
    except subscriptions.SubscriptionError as exc:
        raise Problem("invalid-input", str(exc), errors=[{"field": "body", "rule": str(exc)}]) from exc
    entry_of(request).row_keys["lt_subscriptions"] = [made.id]
    row = next(r for r in subscriptions.list_for(state.engine, who.client.name) if r["id"] == made.id)
    return {**_public(row), "secret": made.secret, "signature": "Standard Webhooks v1 (HMAC-SHA256)"}


@router.get("/subscriptions", operation_id="subscriptions", summary="The caller's subscriptions")
def list_subscriptions(request: Request, who: CallerDep) -> dict[str, Any]:
    from sharing import subscriptions

    rows = subscriptions.list_for(state_of(request).engine, who.client.name)
    entry_of(request).row_keys["lt_subscriptions"] = [r["id"] for r in rows]
    return {"subscriptions": [_public(r) for r in rows]}


@router.delete("/subscriptions/{subscription_id}", operation_id="unsubscribe", status_code=204,
               summary="Cancel a subscription", responses={204: {"description": "Cancelled"}})
def unsubscribe(request: Request, who: CallerDep,
                subscription_id: Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$")]) -> Response:
    from sharing import subscriptions

    if not subscriptions.cancel(state_of(request).engine, subscription_id, who.client.name):
        raise Problem("no-such-resource", f"no active subscription {subscription_id} of {who.client.name}")
    entry_of(request).row_keys["lt_subscriptions"] = [subscription_id]
    return Response(status_code=204)


_LOOKUP = {"type": "object", "additionalProperties": False,
           "required": ["seq", "at", "client", "purpose", "method", "endpoint", "outcome", "status", "intact"],
           "properties": {"seq": {"type": "integer"}, "at": {"type": "string"},
                          "client": {"type": "string", "nullable": True},
                          "purpose": {"type": "string", "nullable": True},
                          "method": {"type": "string"}, "endpoint": {"type": "string"}, "outcome": {"type": "string"},
                          "status": {"type": "integer"}, "intact": {"type": "boolean"}}}
SHAPES["/v1/audit/subjects/{identifier}"] = (
    {"type": "object", "additionalProperties": False, "required": ["lookups"],
     "properties": {"lookups": {"type": "array", "items": _LOOKUP}}},
    {"lookups": [{"seq": 812, "at": "2026-11-30T02:00:00.123456+00:00", "client": "tax_office",
                  "purpose": "tax_assessment", "method": "GET", "endpoint": "/v1/enterprises/0100109106",
                  "outcome": "allowed", "status": 200, "intact": True}]})


@router.get(
    "/audit/subjects/{identifier}", operation_id="subject_report",
    summary="Who looked up this citizen ID or tax code, when, and why",
    description=f"For auditors, and for clerks stating the purpose `{SUBJECT_PURPOSE}` on a person's request: "
                "every audited answer that disclosed the identifier, oldest first, each with its seal checked.",
)
def subject_report(request: Request, who: CallerDep,
                   identifier: Annotated[str, Path(pattern=PARTY_ID, examples=["001085012345"])]) -> dict[str, Any]:
    from sharing.api import subjects

    entry = entry_of(request)
    # The report processes the person's data too; the identifier itself is never kept in clear.
    entry.endpoint = "/v1/audit/subjects/{identifier}"
    entry.subjects.add(subjects.subject_hash(identifier))
    allowed = who.client.auditor or (who.purpose == SUBJECT_PURPOSE and SUBJECT_PURPOSE in who.client.purposes)
    if not allowed:
        raise Problem("not-permitted", f"client {who.client.name} is not an auditor and may not state "
                                       f"{SUBJECT_PURPOSE}")
    found = subjects.report(state_of(request).url, identifier)
    entry.row_keys["lt_audit_log"] = [f["seq"] for f in found]
    return {"lookups": found}
