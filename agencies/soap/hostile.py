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
