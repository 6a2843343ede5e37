"""What a JSON reply must be before any of it is read: the declared media type, UTF-8, whole, the declared shape.

A 200 is not a promise: a gateway's HTML maintenance page, a body cut off by a proxy, `null` where the
list should be, or an object of another shape must never be read as an empty page (on a reconciled
stream an empty key listing deletes every record). Each check raises `MalformedResponse` naming the
source, operation and page, with a redacted excerpt. The checks are functions of the response alone,
so every JSON reader (records at a path, bare lists, key listings) can call them.
"""

from __future__ import annotations

import json
from typing import Any

from connectors.errors import MalformedResponse, UnexpectedShape
from connectors.http import Response
from connectors.secrets import Redactor

JSON_MEDIA_TYPES = frozenset({"application/json", "text/json"})
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")


def _long_digits(content: bytes) -> bool:
    """A run of 19 digits or more (0.5 ms for a 360 KB page; a regular expression takes 4 ms)."""
    return b"0" * 19 in content.translate(_DIGITS_AS_ZERO)


def media_type(response: Response) -> str:
    return str(response.headers.get("Content-Type", "")).split(";", 1)[0].strip().lower()


def is_json_media_type(value: str) -> bool:
    """`application/json`, `text/json`, or a structured suffix such as `application/problem+json` (RFC 6839)."""
    return value in JSON_MEDIA_TYPES or (value.startswith("application/") and value.endswith("+json"))


def json_body(response: Response, *, source: str, operation: str, page: str, redactor: Redactor,
              strict_utf8: bool = True) -> tuple[Any, bool, bool]:
    """The parsed body of a JSON reply, whether it had to be decoded with surrogate escapes, and whether
    orjson parsed it (then every value is one orjson writes back as it read it: coerce.raw_json_native).

    `strict_utf8=False` keeps a page whose string values carry bytes that are not UTF-8 (the values are
    flagged and quarantined, coerce.py); a key listing is strict, since a mangled key reads as a delete.
    """
    def fail(message: str, excerpt: bytes) -> MalformedResponse:
        return MalformedResponse(message, source=source, operation=operation, page=page,
                                 excerpt=redactor.excerpt(excerpt))

    kind = media_type(response)
    if not is_json_media_type(kind):
        raise fail(f"a {response.status} reply of content type {kind or '(none)'!r}, not the declared JSON",
                   response.content[:200])
    if not response.content.strip():
        raise fail("an empty body, not the declared JSON", b"")
    # orjson: a third of the time json takes (valid UTF-8 only); anything it refuses goes the long way, and
    # so does a body with a run of 19 digits or more: orjson reads an integer beyond 64 bits as a float,
    # rounded (a 25-digit account number would change without a word), where json keeps it whole.
    if not _long_digits(response.content):
        try:
            import orjson

            return orjson.loads(response.content), False, True
        except (ImportError, ValueError):
            pass
    bad_utf8 = False
    try:
        text = response.content.decode("utf-8")
    except UnicodeDecodeError as exc:
        if strict_utf8:
            where = max(0, exc.start - 60)
            raise fail(f"the body is not valid UTF-8 (byte {exc.start})",
                       response.content[where:exc.start + 20]) from None
        text = response.content.decode("utf-8", "surrogateescape")
        bad_utf8 = True
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise fail(f"body is not valid JSON ({exc.__class__.__name__}: {exc})", response.content[-200:]) from None
    return body, bad_utf8, False


BARE_LIST = "$"  # `records: $`: the body itself is the list


def list_at(body: Any, field: str, *, source: str, operation: str, page: str, redactor: Redactor,
            content: bytes = b"") -> list[Any]:
    """The list at `field` of the body: a field, a dotted path (`data.items`), or `$` for a bare list.

    `null`, a missing field, an object or a bare value are errors. They are permanent (`UnexpectedShape`,
    fatal at once): a valid JSON reply of another shape will not be right on a retry.
    """
    if field == BARE_LIST:
        if isinstance(body, list):
            return body
        raise UnexpectedShape(f"expected a bare JSON list, got a JSON {type(body).__name__}", source=source,
                              operation=operation, page=page, excerpt=redactor.excerpt(content[:200]))
    if "." in field and isinstance(body, dict) and field not in body:
        head, rest = field.split(".", 1)
        if isinstance(body.get(head), dict):
            return list_at(body[head], rest, source=source, operation=operation, page=page, redactor=redactor,
                           content=content)
    if not isinstance(body, dict):
        raise UnexpectedShape(
            f"expected an object with a list {field!r}, got a JSON {type(body).__name__}", source=source,
            operation=operation, page=page, excerpt=redactor.excerpt(content[:200]))
    if field not in body:
        raise UnexpectedShape(
            f"expected an object with a list {field!r}; the reply has no {field!r} (keys: {sorted(body)[:10]})",
            source=source, operation=operation, page=page, excerpt=redactor.excerpt(content[:200]))
    value = body[field]
    if not isinstance(value, list):
        shown = "null" if value is None else f"a JSON {type(value).__name__}"
        raise UnexpectedShape(
            f"expected a list at {field!r}, got {shown}", source=source, operation=operation, page=page,
            excerpt=redactor.excerpt(content[:200]))
    return value
