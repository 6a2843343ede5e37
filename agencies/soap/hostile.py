"""Response bodies damaged on purpose, for the request-level faults that break the XML itself."""

from __future__ import annotations

_XXE_DOCTYPE = b'<!DOCTYPE soap:Envelope [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
_LAUGHS_DOCTYPE = (
    b'<!DOCTYPE soap:Envelope [<!ENTITY lol0 "lol">'
    + b"".join(
        b"<!ENTITY lol%d \"%s\">" % (i, b"".join(b"&lol%d;" % (i - 1) for _ in range(10))) for i in range(1, 10)
    )
    + b"]>\n"
)  # &lol9; expands to 10**9 "lol"s, 3 GB, in a parser that expands entities
_BODY_OPEN = b"<soap:Body>"


def _with_doctype(body: bytes, doctype: bytes, reference: bytes) -> bytes:
    declaration, newline, rest = body.partition(b"\n")  # the XML declaration stays first
    return declaration + newline + doctype + rest.replace(_BODY_OPEN, _BODY_OPEN + reference, 1)


def truncated(body: bytes) -> bytes:
    return body[: len(body) // 2]


def malformed(body: bytes) -> bytes:
    """An element opened and never closed: the envelope is no longer well-formed."""
    return body.replace(b"</soap:Body>", b"<unclosed></soap:Body>", 1)


def xxe(body: bytes) -> bytes:
    """A DOCTYPE declaring an external entity, referenced in the Body."""
    return _with_doctype(body, _XXE_DOCTYPE, b"&xxe;")


def billion_laughs(body: bytes) -> bytes:
    """Nested entities whose expansion would take gigabytes, referenced in the Body."""
    return _with_doctype(body, _LAUGHS_DOCTYPE, b"&lol9;")


def html_200(body: bytes) -> bytes:
    return (b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1>"
            b"<p>The upstream registry did not answer. Please try again later.</p></body></html>\n")


def not_xml(body: bytes) -> bytes:
    return b"Service temporarily unavailable: scheduled maintenance until 02:00.\n"


def wrong_element(body: bytes) -> bytes:
    """The Body's element swapped for another one (a gateway answering with its own message)."""
    start = body.find(b"<soap:Body>") + len(b"<soap:Body>")
    end = body.rfind(b"</soap:Body>")
    return body[:start] + b'<gw:Notice xmlns:gw="urn:gateway:v1"><gw:text>queued</gw:text></gw:Notice>' + body[end:]


def records_renamed(body: bytes, item: str) -> bytes:
    old, new = item.encode(), b"doanhNghiep"
    return body.replace(b"<" + old + b">", b"<" + new + b">").replace(b"</" + old + b">", b"</" + new + b">")


def cp1258_body(body: bytes) -> bytes:
    """The text re-encoded in Windows-1258 (Vietnamese letters outside it become '?'); the declaration
    still says UTF-8."""
    return body.decode("utf-8").encode("cp1258", "replace")


def lying_encoding(body: bytes) -> bytes:
    return body.replace(b'encoding="utf-8"', b'encoding="ISO-8859-1"', 1).replace(
        b"encoding='utf-8'", b"encoding='ISO-8859-1'", 1)


def wrong_id(body: bytes) -> bytes:
    import re

    pattern = rb"(<(?:[\w.-]+:)?id(?:\s[^>]*)?>)[^<]*(</(?:[\w.-]+:)?id>)"
    return re.sub(pattern, rb"\g<1>0000aaaa0000aaaa0000aaaa0000aaaa\g<2>", body, count=1)
