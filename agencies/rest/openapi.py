"""The OpenAPI 3 documents of the REST simulators, built from the dataset specs (PROTOCOL.md)."""

from __future__ import annotations

from typing import Any

from agencies.datasets import spec

_TYPES = {"str": {"type": "string"}, "int": {"type": "integer"}, "float": {"type": "number"},
          "bool": {"type": "boolean"}}
_ERROR = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}


def _schema(dataset: str) -> dict[str, Any]:
    ds = spec(dataset)
    properties = {name: dict(_TYPES[kind]) for name, kind in ds.fields}
    properties[ds.updated_field]["format"] = "date-time"
    return {"type": "object", "properties": properties,
            "required": [n for n, _ in ds.fields if n != "deleted"]}


def _param(name: str, where: str, schema: dict[str, Any], description: str, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required, "schema": schema, "description": description}


def _json(ref: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}


_LIMIT = _param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 5000, "default": 1000}, "page size")
_OFFSET = _param("offset", "query", {"type": "integer", "minimum": 0, "default": 0}, "records to skip")
_ERRORS = {"400": {"description": "bad parameter", **_json("Error")},
           "401": {"description": "not authenticated", **_json("Error")}}


def construction() -> dict[str, Any]:
    page = {"type": "object", "required": ["total", "offset", "limit", "items"], "properties": {
        "total": {"type": "integer"}, "offset": {"type": "integer"}, "limit": {"type": "integer"},
        "items": {"type": "array", "items": {"$ref": "#/components/schemas/Permit"}}}}
    keys = {"type": "object", "required": ["total", "limit", "items", "next"], "properties": {
        "total": {"type": "integer"}, "offset": {"type": "integer"}, "after": {"type": "string"},
        "limit": {"type": "integer"}, "items": {"type": "array", "items": {"type": "string"}},
        "next": {"type": "string", "nullable": True, "description": "`after` of the next page; null on the last"}}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "Construction permits (simulated)", "version": "1.0.0",
                 "description": "Building permits, changes in (updated_at, permit_no) order. Deletes show "
                                "only as absence: reconcile with /api/v1/permit-keys."},
        "security": [{"apiKey": []}],
        "paths": {
            "/api/v1/permits": {"get": {
                "operationId": "listPermits", "summary": "Permits changed since a time, offset pages",
                "parameters": [_param("updated_since", "query", {"type": "string", "format": "date-time"},
                                      "inclusive lower bound on updated_at"), _OFFSET, _LIMIT],
                "responses": {"200": {"description": "a page", **_json("PermitPage")}, **_ERRORS}}},
            "/api/v1/permits/{permit_no}": {"get": {
                "operationId": "getPermit", "summary": "One permit",
                "parameters": [_param("permit_no", "path", {"type": "string"}, "GPXD-YYYY-NNNNNN", True)],
                "responses": {"200": {"description": "the permit", **_json("Permit")},
                              "404": {"description": "no such permit", **_json("Error")}, **_ERRORS}}},
            "/api/v1/permit-keys": {"get": {
                "operationId": "listPermitKeys", "summary": "Every live permit number, in key order",
                "parameters": [_param("after", "query", {"type": "string"},
                                      "keyset page: the keys after this one (the last page's `next`)"),
                               _OFFSET, _LIMIT],
                "responses": {"200": {"description": "a page of keys", **_json("KeyPage")}, **_ERRORS}}},
        },
        "components": {
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}},
            "schemas": {"Permit": _schema("permits"), "PermitPage": page, "KeyPage": keys, "Error": _ERROR},
        },
    }


def tax() -> dict[str, Any]:
    def feed(op: str, ref: str, what: str) -> dict[str, Any]:
        return {"get": {
            "operationId": op, "summary": f"{what} changed since a time, cursor pages",
            "parameters": [
                _param("changed_since", "query", {"type": "string", "format": "date-time"},
                       "inclusive lower bound on updated_at (first page)"),
                _param("cursor", "query", {"type": "string"}, "opaque; from next_cursor (following pages)"),
                _LIMIT],
            "responses": {"200": {"description": "a page", **_json(ref)}, **_ERRORS}}}

    def page(item: str) -> dict[str, Any]:
        return {"type": "object", "required": ["items", "next_cursor", "next"], "properties": {
            "items": {"type": "array", "items": {"oneOf": [
                {"$ref": f"#/components/schemas/{item}"}, {"$ref": "#/components/schemas/Tombstone"}]}},
            "next_cursor": {"type": "string", "nullable": True}, "next": {"type": "string", "nullable": True}}}

    def one(op: str, param: str, ref: str) -> dict[str, Any]:
        return {"get": {"operationId": op, "parameters": [_param(param, "path", {"type": "string"}, "key", True)],
                        "responses": {"200": {"description": "found", **_json(ref)},
                                      "404": {"description": "not found", **_json("Error")}, **_ERRORS}}}

    tombstone = {"type": "object", "required": ["deleted", "updated_at"], "properties": {
        "tax_code": {"type": "string"}, "notice_no": {"type": "string"}, "deleted": {"type": "boolean"},
        "updated_at": {"type": "string", "format": "date-time"}}}
    token = {"type": "object", "required": ["access_token", "token_type", "expires_in"], "properties": {
        "access_token": {"type": "string"}, "token_type": {"type": "string", "enum": ["Bearer"]},
        "expires_in": {"type": "integer"}}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "Tax department (simulated)", "version": "1.0.0",
                 "description": "Taxpayers and land-use tax notices. Deletes are tombstones in the feed."},
        "security": [{"oauth2": []}],
        "paths": {
            "/oauth/token": {"post": {
                "operationId": "token", "security": [],
                "summary": "OAuth2 client credentials (HTTP Basic or client_id/client_secret form fields)",
                "requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": {
                    "type": "object", "required": ["grant_type"], "properties": {
                        "grant_type": {"type": "string", "enum": ["client_credentials"]},
                        "client_id": {"type": "string"}, "client_secret": {"type": "string"}}}}}},
                "responses": {"200": {"description": "a token", **_json("Token")},
                              "400": {"description": "unsupported grant"}, "401": {"description": "bad client"}}}},
            "/api/v1/taxpayers": feed("listTaxpayers", "TaxpayerPage", "Taxpayers"),
            "/api/v1/taxpayers/{tax_code}": one("getTaxpayer", "tax_code", "Taxpayer"),
            "/api/v1/land-tax-notices": feed("listLandTaxNotices", "NoticePage", "Land-use tax notices"),
            "/api/v1/land-tax-notices/{notice_no}": one("getLandTaxNotice", "notice_no", "LandTaxNotice"),
        },
        "components": {
            "securitySchemes": {"oauth2": {"type": "oauth2", "flows": {"clientCredentials": {
                "tokenUrl": "/oauth/token", "scopes": {}}}}},
            "schemas": {"Taxpayer": _schema("taxpayers"), "LandTaxNotice": _schema("land_tax_notices"),
                        "Tombstone": tombstone, "TaxpayerPage": page("Taxpayer"),
                        "NoticePage": page("LandTaxNotice"), "Token": token, "Error": _ERROR},
        },
    }


def _nested_schema(dataset: str) -> dict[str, Any]:
    """Like `_schema`, with dotted field names (`thua_dat.ma_xa`) as nested objects."""
    ds = spec(dataset)
    root: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
    for name, kind in ds.fields:
        node = root
        *parents, last = name.split(".")
        for part in parents:
            if part not in node["properties"]:
                node["properties"][part] = {"type": "object", "properties": {}, "required": []}
                node["required"].append(part)
            node = node["properties"][part]
        node["properties"][last] = dict(_TYPES[kind])
        if name == ds.updated_field:  # zone-less, in Vietnam's time
            node["properties"][last]["format"] = "date-time"
        if name != ds.tombstone_field:
            node["required"].append(last)
    return root


def treasury() -> dict[str, Any]:
    local_time = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}( \d{2}:\d{2}:\d{2})?$"}
    return {
        "openapi": "3.0.3",
        "info": {"title": "Kho bạc Nhà nước: chứng từ nộp thuế đất (simulated)", "version": "1.0.0",
                 "description": "Receipts of land taxes and land-use fees, keyed to the tax department's notice "
                                "numbers. A bare list per page; `Link: <...>; rel=\"next\"` while pages remain. "
                                "Times are zone-less, Vietnam's time (UTC+7); dates dd/mm/yyyy; amounts as strings. "
                                "A voided receipt is sent again with da_huy = true."},
        "security": [{"basic": []}],
        "paths": {
            "/api/v1/chung-tu": {"get": {
                "operationId": "danhSachChungTu", "summary": "Receipts booked since a time, page numbers",
                "parameters": [
                    _param("tu_thoi_diem", "query", local_time, "inclusive lower bound on thoi_diem_ghi_so"),
                    _param("trang", "query", {"type": "integer", "minimum": 1, "default": 1}, "page number"),
                    _param("so_ban_ghi", "query", {"type": "integer", "minimum": 1, "maximum": 5000,
                                                   "default": 1000}, "page size")],
                "responses": {"200": {"description": "a page", "headers": {"Link": {"schema": {"type": "string"}}},
                                      "content": {"application/json": {"schema": {
                                          "type": "array", "items": {"$ref": "#/components/schemas/ChungTu"}}}}},
                              **_ERRORS}}},
            "/api/v1/chung-tu/{so_chung_tu}": {"get": {
                "operationId": "layChungTu",
                "parameters": [_param("so_chung_tu", "path", {"type": "string"}, "receipt number", True)],
                "responses": {"200": {"description": "found", **_json("ChungTu")},
                              "404": {"description": "not found", **_json("Error")}, **_ERRORS}}},
        },
        "components": {
            "securitySchemes": {"basic": {"type": "http", "scheme": "basic"}},
            "schemas": {"ChungTu": _nested_schema("payment_receipts"), "Error": _ERROR},
        },
    }


def district() -> dict[str, Any]:
    local_time = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}( \d{2}:\d{2}:\d{2})?$"}
    paging = [_param("page", "query", {"type": "integer", "minimum": 1, "default": 1}, "page number"),
              _param("per_page", "query", {"type": "integer", "minimum": 1, "maximum": 5000, "default": 1000},
                     "page size")]

    def envelope(items: dict[str, Any]) -> dict[str, Any]:
        return {"type": "object", "required": ["success", "data"], "properties": {
            "success": {"type": "boolean"},
            "data": {"type": "object", "required": ["items", "page", "total_pages"], "properties": {
                "items": {"type": "array", "items": items}, "page": {"type": "integer"},
                "per_page": {"type": "integer"}, "total_pages": {"type": "integer"}, "total": {"type": "integer"}}}}}

    return {
        "openapi": "3.0.3",
        "info": {"title": "Sổ cấp phép xây dựng cấp huyện (simulated)", "version": "1.0.0",
                 "description": "A district's permit register: its own numbering (05/GPXD-UBND), the parcel "
                                "nested, numbers as strings, dates dd/mm/yyyy, zone-less times (UTC+7); before "
                                "1 July 2025 communes under their pre-2025 codes. Deletes show only as absence."},
        "security": [{"token": []}],
        "paths": {
            "/api/giay-phep": {"get": {
                "operationId": "danhSachGiayPhep", "summary": "Permits changed since a time, page numbers",
                "parameters": [_param("ngay_cap_nhat_tu", "query", local_time,
                                      "inclusive lower bound on ngay_cap_nhat"), *paging],
                "responses": {"200": {"description": "a page", "content": {"application/json": {
                    "schema": envelope({"$ref": "#/components/schemas/GiayPhep"})}}}, **_ERRORS}}},
            "/api/giay-phep/danh-sach-so": {"get": {
                "operationId": "danhSachSoGiayPhep", "summary": "Every live permit number, in order",
                "parameters": paging,
                "responses": {"200": {"description": "a page of numbers", "content": {"application/json": {
                    "schema": envelope({"type": "string"})}}}, **_ERRORS}}},
        },
        "components": {
            "securitySchemes": {"token": {"type": "apiKey", "in": "header", "name": "X-Api-Token"}},
            "schemas": {"GiayPhep": _nested_schema("district_permits"), "Error": _ERROR},
        },
    }
