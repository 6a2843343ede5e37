"""SOAP 1.1 responses rendered from string templates: records in, response bytes out.

Plain functions, so a benchmark can time serialisation alone. Records are rendered as the store and
the value faults hand them over: the known elements in xsd:sequence order, None omitted, then any
element the schema does not know (schema drift on purpose) in the record's own order. A `bytes` value
(the invalid-UTF-8 fault) goes out as those bytes: it travels through the page as surrogate escapes
and is turned back into the original bytes by the final encode.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal

from agencies.base import Record
from agencies.soap.services import SOAP_ENV_NS, XROAD_NS

_XML_DECL = '<?xml version="1.0" encoding="utf-8"?>\n'
_ENVELOPE_OPEN = f'<soap:Envelope xmlns:soap="{SOAP_ENV_NS}">'
_ENVELOPE_CLOSE = "</soap:Body></soap:Envelope>"


def escape(text: str) -> str:
    """XML character data (and attribute values in double quotes)."""
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if '"' in text:
        text = text.replace('"', "&quot;")
    return text


def text_of(value: object) -> str:
    """The XML Schema lexical form of a record value (already escaped)."""
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        return format(Decimal(text), "f") if "e" in text or "E" in text else text
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat() + "Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return escape(value.decode("utf-8", "surrogateescape"))
    return escape(str(value))


def render_record(item: str, fields: Sequence[str], record: Record) -> str:
    parts = [f"<{item}>"]
    append = parts.append
    get = record.get
    for name in fields:
        value = get(name)
        if value is None:
            continue
        # the common types first, inline: this loop is the serving rate
        if value.__class__ is str:
            append(f"<{name}>{escape(value)}</{name}>")
        else:
            append(f"<{name}>{text_of(value)}</{name}>")
    if len(record) > len(fields) or any(name not in record for name in fields):
        known = set(fields)
        for name, value in record.items():
            if name not in known and value is not None:
                append(f"<{name}>{text_of(value)}</{name}>")
    append(f"</{item}>")
    return "".join(parts)


def _envelope(body: str, header: str = "") -> bytes:
    head = f"<soap:Header>{header}</soap:Header>" if header else ""
    page = f"{_XML_DECL}{_ENVELOPE_OPEN}{head}<soap:Body>{body}{_ENVELOPE_CLOSE}"
    return page.encode("utf-8", "surrogateescape")


def render_response(
    operation: str,
    namespace: str,
    item: str,
    fields: Sequence[str],
    records: Iterable[Record],
    next_token: str | None = None,
    header: str = "",
) -> bytes:
    """A feed page or a get-by-key answer: `<{operation}Response>` with the records and the token."""
    rendered = "".join([render_record(item, fields, record) for record in records])
    token = f"<nextPageToken>{escape(next_token)}</nextPageToken>" if next_token is not None else ""
    body = f'<{operation}Response xmlns="{namespace}">{rendered}{token}</{operation}Response>'
    return _envelope(body, header)


def render_codes(
    operation: str, namespace: str, codes: Iterable[str], next_token: str | None = None, header: str = ""
) -> bytes:
    """A key-listing page: `<code>` elements and the token."""
    rendered = "".join([f"<code>{escape(code)}</code>" for code in codes])
    token = f"<nextPageToken>{escape(next_token)}</nextPageToken>" if next_token is not None else ""
    body = f'<{operation}Response xmlns="{namespace}">{rendered}{token}</{operation}Response>'
    return _envelope(body, header)


def render_fault(faultcode: str, message: str, header: str = "") -> bytes:
    """A SOAP 1.1 Fault; `faultcode` is a QName in the envelope's namespace, e.g. `soap:Client`."""
    body = (
        f"<soap:Fault><faultcode>{escape(faultcode)}</faultcode>"
        f"<faultstring>{escape(message)}</faultstring></soap:Fault>"
    )
    return _envelope(body, header)


def xroad_header(values: Mapping[str, str]) -> str:
    """The X-Road headers of a request, to echo in its response (and its Faults)."""
    return "".join(
        f'<xrd:{name} xmlns:xrd="{XROAD_NS}">{escape(value)}</xrd:{name}>' for name, value in values.items()
    )
