"""Checks on a SOAP reply's bytes before any parser reads them: never an empty page from a broken body.

A body is read as XML only when it is XML in the encoding it declares. Refused, each naming source,
operation and page with a redacted excerpt:
- an HTML page, plain text or JSON behind a 200 (a proxy's error page, a maintenance notice);
- an XML declaration and an HTTP charset that disagree, or a declaration that lies (it says
  ISO-8859-1 and the bytes are UTF-8 with Vietnamese text, which would be read as mojibake);
- bytes that are not UTF-8 anywhere but inside text values (in a tag, the body is not UTF-8 at all).
A few invalid bytes inside text values are replaced by U+FFFD and the page flagged, so the rows they are
in are quarantined with an `_error` rather than the whole page lost (`bad_utf8`); a page where most
records carry one is refused too (`too_many_bad_records`).
A body in another encoding that it declares honestly is transcoded to UTF-8 for the readers.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connectors.errors import EncodingError, NotSoapReply
from connectors.secrets import Redactor

_DECLARATION = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_CHARSET = re.compile(r"charset\s*=\s*\"?([A-Za-z0-9._:-]+)", re.I)
_HTML = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html[\s>]|head[\s>]|body[\s>])", re.I | re.S)
_UTF8 = "utf-8"


@dataclass(frozen=True, slots=True)
class Where:
    source: str
    operation: str
    page: str
    redactor: Redactor

    def excerpt(self, content: bytes) -> str:
        return self.redactor.excerpt(content[:300])


def _codec(name: str) -> str | None:
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _bad_utf8_positions(content: bytes, limit: int = 64) -> list[int]:
    positions: list[int] = []
    start = 0
    while len(positions) < limit:
        try:
            content[start:].decode(_UTF8)
            break
        except UnicodeDecodeError as exc:
            positions.append(start + exc.start)
            start += exc.end
    return positions


def _in_text(content: bytes, position: int) -> bool:
    """Whether a byte lies in character data (after a '>' and before the next '<')."""
    return content.rfind(b">", 0, position) > content.rfind(b"<", 0, position)


def decode_reply(content: bytes, content_type: str | None, where: Where) -> tuple[bytes, bool]:
    """The body as UTF-8 XML bytes and whether invalid bytes inside text values were replaced."""
    ctype = (content_type or "").lower()
    if content.startswith(codecs.BOM_UTF8):
        content = content[len(codecs.BOM_UTF8):]
    elif content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        content = _transcode(content, "utf-16", where)
    head = content.lstrip()[:512]
    if "html" in ctype or _HTML.match(head):
        raise NotSoapReply(f"an HTML page (Content-Type {content_type or 'none'}), not a SOAP envelope",
                           source=where.source, operation=where.operation, page=where.page,
                           excerpt=where.excerpt(content))
    if not head.startswith(b"<"):
        what = "empty" if not head else "JSON" if head[:1] in (b"{", b"[") else "not XML"
        raise NotSoapReply(f"the body is {what}, not a SOAP envelope", source=where.source,
                           operation=where.operation, page=where.page, excerpt=where.excerpt(content))
    declared_match = _DECLARATION.match(head)
    declared = declared_match.group(1).decode("ascii") if declared_match else None
    charset_match = _CHARSET.search(ctype)
    charset = charset_match.group(1) if charset_match else None
    declared_codec = _codec(declared) if declared else None
    charset_codec = _codec(charset) if charset else None
    if declared and declared_codec is None:
        raise EncodingError(f"the XML declaration names an unknown encoding {declared!r}", source=where.source,
                            operation=where.operation, page=where.page, excerpt=where.excerpt(content))
    if declared_codec and charset_codec and declared_codec != charset_codec:
        raise EncodingError(f"the Content-Type says charset={charset} and the XML declaration says {declared}",
                            source=where.source, operation=where.operation, page=where.page,
                            excerpt=where.excerpt(content))
    codec = declared_codec or charset_codec or _UTF8
    if codec != _UTF8:
        return _transcode(content, codec, where, declared=declared or charset or codec), False
    positions = _bad_utf8_positions(content)
    if not positions:
        return content, False
    if not all(_in_text(content, p) for p in positions):
        first = next(p for p in positions if not _in_text(content, p))
        raise EncodingError(f"not valid UTF-8 (byte {first} lies in the markup: the body is not in the "
                            f"encoding it declares, {declared or 'UTF-8 by default'})", source=where.source,
                            operation=where.operation, page=where.page,
                            excerpt=where.redactor.excerpt(content[max(0, first - 120):first + 60]))
    return content.decode(_UTF8, "replace").encode(_UTF8), True


def _transcode(content: bytes, codec: str, where: Where, declared: str | None = None) -> bytes:
    if declared is not None and not content.isascii():
        try:
            content.decode(_UTF8)
        except UnicodeDecodeError:
            pass
        else:  # valid UTF-8 with multi-byte text: a single-byte reading would be mojibake
            raise EncodingError(f"the body declares {declared} but is UTF-8; reading it as {declared} would "
                                "garble every non-ASCII character", source=where.source,
                                operation=where.operation, page=where.page, excerpt=where.excerpt(content))
    try:
        text = content.decode(codec)
    except UnicodeDecodeError as exc:
        raise EncodingError(f"not valid {declared or codec} at byte {exc.start}", source=where.source,
                            operation=where.operation, page=where.page,
                            excerpt=where.redactor.excerpt(content[max(0, exc.start - 120):exc.start + 60])) from None
    text = re.sub(r"""^<\?xml([^>]*?)encoding\s*=\s*["'][^"']*["']""", r'<?xml\1encoding="utf-8"', text, count=1)
    return text.encode(_UTF8)


def too_many_bad_records(records: Sequence[Any], where: Where, excerpt: bytes) -> None:
    """A page where most records carry replaced bytes: the body is not UTF-8, whatever it says."""
    def bad(value: Any) -> bool:
        if isinstance(value, str):
            return "\ufffd" in value
        if isinstance(value, Mapping):
            return any(bad(v) for v in value.values())
        if isinstance(value, list):
            return any(bad(v) for v in value)
        return False

    flagged = sum(1 for r in records if bad(r))
    if records and flagged * 2 > len(records):
        raise EncodingError(f"not valid UTF-8 in {flagged} of {len(records)} records: the body is not in "
                            "the encoding it declares", source=where.source, operation=where.operation,
                            page=where.page, excerpt=where.excerpt(excerpt))
