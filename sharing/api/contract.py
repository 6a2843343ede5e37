"""The OpenAPI contract, made true: security schemes, every status each operation can return, response
schemas (built from the dataset contracts) with examples, errors as problem+json; and the docs (Swagger UI
from the `swagger-ui-bundle-v2` package, so `/docs` works on a network without internet).

`install(app)` replaces FastAPI's generated document with `document(app)` and serves the docs. `xroad(doc)`
is the same contract as OpenAPI 3.0, for registering the API as an X-Road REST service (the security
server passes X-Road-Client on, so the API key is not part of that description).
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from sharing.api import problems

DESCRIPTION = (
    "Shared records of the province's agencies, for agencies. Every request carries an API key (`X-API-Key`) "
    "and the purpose it is made for (`X-Purpose`); what a client may read, and what it sees unmasked, is "
    "its grant in the policy file (`GET /v1/me` lists it). Every request is written to the audit log before "
    "its answer leaves. Errors are RFC 9457 problem details (`application/problem+json`): branch on `type`. "
    "Every response carries `X-Request-Id` and the `X-RateLimit-*` headers of the caller's bucket."
)

# path -> (200 schema, example): each route module registers its answer's shape here (routes imports this
# module, never the other way round)
SHAPES: dict[str, tuple[dict[str, Any], Any]] = {}

_ERRORS: dict[int, str] = {
    400: "Malformed request: NUL byte or invalid UTF-8 in the URL, a body on a GET, a missing or malformed "
         "X-Purpose, a cursor from another query",
    401: "Missing or unknown API key",
    403: "Not permitted: no grant on these datasets, or a purpose the client is not granted "
         "(`allowed_purposes` lists its purposes)",
    404: "No such record, no such dataset or version, or a cursor that names no page of this query",
    410: "The as-of point or `since` is older than the dataset's retention keeps (the detail names the oldest "
         "version still readable)",
    414: "The URL is too long",
    422: "An input does not follow its rule (`errors` names each field)",
    429: "Over the client's rate limit (see Retry-After)",
    500: "Internal error (the request id names it in the server's log)",
    503: "The audit log could not record the request, so it is not answered",
}
_HEADERS = {
    "X-Request-Id": {"description": "This request's id (also in the audit log)", "schema": {"type": "string"}},
    "X-RateLimit-Limit": {"description": "The caller's bucket size", "schema": {"type": "integer"}},
    "X-RateLimit-Remaining": {"description": "Requests left in the bucket now", "schema": {"type": "integer"}},
    "X-RateLimit-Reset": {"description": "Seconds until the bucket is full", "schema": {"type": "integer"}},
}
_NO_404 = {"/v1/me", "/v1/datasets", "/v1/permits", "/v1/enterprises", "/v1/audit", "/v1/subscriptions",
           "/v1/audit/subjects/{identifier}"}


def _arrow_schema(type_name: str) -> dict[str, Any]:
    if type_name.startswith(("int", "uint")):
        return {"type": "integer"}
    if type_name.startswith(("double", "float", "decimal")):
        return {"type": "number"}
    if type_name == "bool":
        return {"type": "boolean"}
    if type_name.startswith("date"):
        return {"type": "string", "format": "date"}
    if type_name.startswith("timestamp"):
        return {"type": "string", "format": "date-time"}
    return {"type": "string"}


def row_schema(dataset: str) -> dict[str, Any]:
    """One row as a grant may show it: any column may be left out (the grant's columns) or null (masked)."""
    from sharing.api import labels, queries

    props: dict[str, Any] = {}
    for f in queries.specs()[dataset].schema:
        props[f.name] = {**_arrow_schema(str(f.type)), "nullable": True}
        if (dataset, f.name) in labels.CODED:
            props[f.name + "_label"] = {**labels.LABEL_SCHEMA, "nullable": True}
    return {"type": "object", "properties": props, "additionalProperties": False}


def _meta_schema() -> dict[str, Any]:
    return {"type": "object", "additionalProperties": {
        "type": "object", "required": ["version", "as_of"], "properties": {
            "version": {"type": "integer", "nullable": True, "description": "The dataset version read"},
            "as_of": {"type": "string", "format": "date-time", "nullable": True,
                      "description": "When that version was published"}}}}


def lookup_schema(datasets: tuple[str, ...], paged: bool) -> dict[str, Any]:
    props: dict[str, Any] = {
        "data": {"type": "object", "description": "Rows by dataset: only the datasets the caller's grants cover",
                 "properties": {d: {"type": "array", "items": {"$ref": f"#/components/schemas/row_{d}"}}
                                for d in datasets}, "additionalProperties": False},
        "datasets": {"$ref": "#/components/schemas/DatasetsRead"},
        "has_more": {"type": "boolean", "description": "Whether another page follows"},
    }
    if paged:
        props["next_cursor"] = {"type": "string", "nullable": True,
                                "description": "Pass as `cursor` for the next page; null on the last"}
    return {"type": "object", "required": list(props), "properties": props, "additionalProperties": False}


def _schemas() -> dict[str, Any]:
    from sharing.api import queries

    out: dict[str, Any] = {f"row_{name}": row_schema(name) for name in queries.specs()}
    out["Problem"] = problems.schema()
    out["DatasetsRead"] = _meta_schema()
    return out


def _nullable_to_31(node: Any) -> Any:
    """`nullable: true` (3.0) as 3.1's type list: the served document is 3.1, xroad() turns it back."""
    if isinstance(node, dict):
        out = {k: _nullable_to_31(v) for k, v in node.items() if k != "nullable"}
        if node.get("nullable") is True and isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        return out
    if isinstance(node, list):
        return [_nullable_to_31(v) for v in node]
    return node


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    branches = schema.get("anyOf")
    if not isinstance(branches, list):
        return schema
    rest = [b for b in branches if b != {"type": "null"}]
    if len(rest) != 1 or len(rest) == len(branches):
        return schema
    out = {k: v for k, v in schema.items() if k != "anyOf"}
    out.update(rest[0])
    return out


def document(app: FastAPI) -> dict[str, Any]:
    doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    comps = doc.setdefault("components", {})
    comps["schemas"] = {**comps.get("schemas", {}), **_nullable_to_31(_schemas())}
    comps["securitySchemes"] = {
        "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key",
                   "description": "The client's API key (`lienthong serve --new-key` makes one)"},
        "Purpose": {"type": "apiKey", "in": "header", "name": "X-Purpose",
                    "description": "Why this request is made, e.g. `tax_assessment`: one of the purposes "
                                   "the client's grants allow (required)"},
    }
    for name in list(comps["schemas"]):  # FastAPI's own error models are not what this API answers
        if name in ("HTTPValidationError", "ValidationError"):
            del comps["schemas"][name]
    for path, item in doc["paths"].items():
        for op in item.values():
            for param in op.get("parameters", []):  # a query parameter is absent or a value, never null
                param["schema"] = _without_null(param.get("schema", {}))
            op["security"] = [{"ApiKey": []}] if path == "/v1/me" else [{"ApiKey": [], "Purpose": []}]
            success = next((c for c in op["responses"] if c.startswith("2")), "200")
            ok = op["responses"].get(success, {"description": "OK"})
            spec = SHAPES.get(path) if success == "200" else None
            if spec is not None:
                schema, example = spec
                ok["content"] = {"application/json": {"schema": _nullable_to_31(schema), "example": example}}
            ok["headers"] = _HEADERS
            if success == "204":
                ok.pop("content", None)
            responses: dict[str, Any] = {success: ok}
            for status, why in _ERRORS.items():
                if status == 404 and path in _NO_404:
                    why = "No such resource, or a cursor that names no page"  # an empty list is a 200
                responses[str(status)] = {
                    "description": why, "headers": _HEADERS,
                    "content": {problems.MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"},
                                                      "example": _problem_example(status)}}}
            op["responses"] = responses
    return doc


def _problem_example(status: int) -> dict[str, Any]:
    slug = problems.BY_STATUS[status]
    return {"type": problems.TYPE_PREFIX + slug, "title": problems.KINDS[slug].title, "status": status,
            "detail": _ERRORS[status].split(":")[0], "instance": "/v1/enterprises/0100109106",
            "request_id": "3f2b8c1e9a4d4e0f8b7a6c5d4e3f2a1b"}


def _to_30(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _to_30(v) for k, v in node.items()}
        kind = out.get("type")
        if isinstance(kind, list):
            rest = [t for t in kind if t != "null"]
            out["type"] = rest[0] if len(rest) == 1 else rest
            if "null" in kind:
                out["nullable"] = True
        any_of = out.get("anyOf")
        if isinstance(any_of, list) and {"type": "null"} in any_of:
            others = [s for s in any_of if s != {"type": "null"}]
            if len(others) == 1:
                del out["anyOf"]
                out.update(others[0])
                out["nullable"] = True
        if "examples" in out and isinstance(out["examples"], list) and "schema" not in out:
            if out["examples"]:
                out["example"] = out["examples"][0]
            del out["examples"]
        return out
    if isinstance(node, list):
        return [_to_30(v) for v in node]
    return node


def xroad(doc: dict[str, Any], server_url: str = "http://localhost:8300") -> dict[str, Any]:
    """The contract as OpenAPI 3.0.3 for an X-Road REST service description: the security server
    authenticates the client (X-Road-Client), so only the purpose header remains required."""
    out: dict[str, Any] = _to_30(copy.deepcopy(doc))
    out["openapi"] = "3.0.3"
    out["info"]["description"] = (
        "Shared records of the province's agencies, as an X-Road REST service: the security server names the "
        "calling subsystem (X-Road-Client), which the API's policy maps to its grants; every request states "
        "its purpose (`X-Purpose`). Every request is written to the audit log, with its X-Road-Id, before its "
        "answer leaves. Errors are RFC 9457 problem details (`application/problem+json`).")
    out["servers"] = [{"url": server_url}]
    out["components"]["securitySchemes"] = {"Purpose": doc["components"]["securitySchemes"]["Purpose"]}
    for item in out["paths"].values():
        for op in item.values():
            op["security"] = [] if op.get("operationId", "").startswith("me") else [{"Purpose": []}]
            op["responses"]["401"]["description"] = "The X-Road client maps to no client of the policy"
    return out


_DOCS = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lienthong lookup API</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script></body></html>"""
_INIT = """window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true});"""


def install(app: FastAPI) -> None:
    from swagger_ui_bundle import swagger_ui_path

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/openapi.xroad.json", include_in_schema=False)
    def openapi_xroad() -> dict[str, Any]:
        return xroad(openapi())

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(_DOCS)

    @app.get("/docs/init.js", include_in_schema=False)
    def docs_init() -> HTMLResponse:
        return HTMLResponse(_INIT, media_type="text/javascript")

    app.mount("/docs/static", StaticFiles(directory=str(swagger_ui_path)), name="docs-static")
