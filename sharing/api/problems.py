"""Errors as RFC 9457 problem details (`application/problem+json`), one stable `type` per kind of error.

A handler raises `Problem(kind, detail, ...)`; the app renders it as
`{"type", "title", "status", "detail", "instance", "request_id", ...extensions}`. `type` is a URN that never
changes (`urn:lienthong:problem:rate-limited`): clients branch on it, never on `title` or `detail`, which are
for people and may be translated. `title_of(kind, lang)` is the one place a translation plugs in: the
project's Babel catalogs (`sharing.i18n`) when they hold the title, else this module's own Vietnamese.
Vietnamese first, as everywhere in the project: English when the client asks for it (`Accept-Language: en`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:lienthong:problem:"


@dataclass(frozen=True, slots=True)
class Kind:
    slug: str
    status: int
    title: str
    title_vi: str


KINDS: dict[str, Kind] = {k.slug: k for k in (
    Kind("bad-request", 400, "The request is malformed", "Yêu cầu không hợp lệ"),
    Kind("nul-byte", 400, "The request contains a NUL byte", "Yêu cầu chứa ký tự NUL"),
    Kind("invalid-utf8", 400, "The request is not valid UTF-8", "Yêu cầu không phải UTF-8 hợp lệ"),
    Kind("body-not-allowed", 400, "A GET request carries no body", "Yêu cầu GET không được có nội dung"),
    Kind("purpose-required", 400, "The X-Purpose header is required", "Thiếu tiêu đề X-Purpose"),
    Kind("bad-cursor", 400, "The page cursor is malformed", "Con trỏ trang không hợp lệ"),
    Kind("unauthenticated", 401, "Missing or unknown API key", "Thiếu hoặc sai khóa API"),
    Kind("not-permitted", 403, "Not permitted", "Không được phép"),
    Kind("purpose-not-allowed", 403, "This purpose is not granted to the client",
         "Mục đích này không được cấp cho đơn vị"),
    Kind("not-found", 404, "No such record", "Không có bản ghi"),
    Kind("no-such-resource", 404, "No such resource", "Không có tài nguyên"),
    Kind("unknown-cursor", 404, "The cursor names no page of this query", "Con trỏ không trỏ tới trang nào"),
    Kind("version-pruned", 410, "That version is older than the dataset's retention keeps",
         "Phiên bản này cũ hơn thời hạn lưu trữ của tập dữ liệu"),
    Kind("method-not-allowed", 405, "Method not allowed", "Phương thức không được phép"),
    Kind("not-acceptable", 406, "Not acceptable", "Không có định dạng phù hợp"),
    Kind("uri-too-long", 414, "The request URL is too long", "Địa chỉ yêu cầu quá dài"),
    Kind("invalid-input", 422, "An input is not valid", "Dữ liệu đầu vào không hợp lệ"),
    Kind("rate-limited", 429, "Too many requests", "Quá nhiều yêu cầu"),
    Kind("header-too-large", 431, "A request header is too large", "Tiêu đề yêu cầu quá lớn"),
    Kind("internal-error", 500, "Internal error", "Lỗi nội bộ"),
    Kind("audit-unavailable", 503, "The audit log cannot record this request, so it is not answered",
         "Không ghi được nhật ký kiểm toán nên yêu cầu không được trả lời"),
)}
BY_STATUS = {400: "bad-request", 401: "unauthenticated", 403: "not-permitted", 404: "no-such-resource",
             405: "method-not-allowed", 406: "not-acceptable", 410: "version-pruned", 414: "uri-too-long",
             422: "invalid-input",
             429: "rate-limited", 431: "header-too-large", 500: "internal-error", 503: "audit-unavailable"}


class Problem(Exception):
    """An error answer: its kind (which fixes status and type), a detail for people, extension members."""

    def __init__(self, slug: str, detail: str, *, headers: Mapping[str, str] | None = None, **extensions: Any):
        super().__init__(detail)
        self.kind = KINDS[slug]
        self.detail = detail
        self.headers = dict(headers or {})
        self.extensions = extensions

    @property
    def status(self) -> int:
        return self.kind.status


def title_of(kind: Kind, lang: str = "vi") -> str:
    """The title in `lang`: the catalog's translation if it has one, else the Vietnamese kept here."""
    if lang != "vi":
        return kind.title
    from sharing.i18n import translator

    translated = translator("vi")(kind.title)
    return translated if translated != kind.title else kind.title_vi


def language(accept_language: str | None) -> str:
    """vi or en, as the project chooses it (sharing.i18n): the first of Accept-Language we have, else vi."""
    from sharing.i18n import choose_language

    return choose_language(accept_language=accept_language)


def body(problem: Problem, request_id: str, instance: str, lang: str = "vi") -> dict[str, Any]:
    return {"type": TYPE_PREFIX + problem.kind.slug, "title": title_of(problem.kind, lang),
            "status": problem.status, "detail": problem.detail, "instance": instance, "request_id": request_id,
            **problem.extensions}


def schema() -> dict[str, Any]:
    """The problem document's JSON schema, for the OpenAPI components."""
    return {
        "type": "object", "required": ["type", "title", "status", "detail", "request_id"],
        "properties": {
            "type": {"type": "string", "format": "uri", "description": "Stable identifier of the kind of error",
                     "enum": [TYPE_PREFIX + k for k in KINDS]},
            "title": {"type": "string", "description": "Short summary of the kind (Vietnamese, or English "
                                                        "with Accept-Language: en)"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string", "description": "What was wrong with this request"},
            "instance": {"type": "string", "description": "The path of the request"},
            "request_id": {"type": "string", "description": "As in the X-Request-Id header and the audit log"},
            "allowed_purposes": {"type": "array", "items": {"type": "string"},
                                 "description": "purpose-not-allowed: the purposes this client may state"},
            "errors": {"type": "array", "items": {"type": "object"},
                       "description": "invalid-input: each field and rule that failed"},
            "refusal": {"type": "object", "description": "not-permitted, purpose-not-allowed: the refusal in "
                        "writing: what was asked, the reason (vi, en) and its legal basis",
                        "properties": {"asked": {"type": "string"}, "purpose": {"type": ["string", "null"]},
                                       "reason": {"type": "object"},
                                       "legal_basis": {"type": ["object", "null"]},
                                       "purpose_basis": {"type": ["object", "null"]}}},
        },
        "additionalProperties": True,
    }
