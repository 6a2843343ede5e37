"""SOAP 1.1 responses rendered from string templates: records in, response bytes out.

Plain functions, so a benchmark can time serialisation alone. Records are rendered as the store and
the value faults hand them over: the known elements in xsd:sequence order, None omitted, then any
element the schema does not know (schema drift on purpose) in the record's own order. A `bytes` value
(the invalid-UTF-8 fault) goes out as those bytes: it travels through the page as surrogate escapes
and is turned back into the original bytes by the final encode.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from itertools import chain, repeat
from operator import contains, eq, itemgetter
from typing import Any

from agencies.base import Record
from agencies.soap.services import SOAP_ENV_NS, XROAD_NS

_XML_DECL = '<?xml version="1.0" encoding="utf-8"?>\n'
_ENVELOPE_OPEN = f'<soap:Envelope xmlns:soap="{SOAP_ENV_NS}">'
_ENVELOPE_CLOSE = "</soap:Body></soap:Envelope>"


def _needs_escaping(text: str) -> bool:
    return "&" in text or "<" in text or ">" in text or '"' in text


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


def lexical(value: object) -> str:
    """The XML Schema lexical form of a record value, not yet escaped."""
    if isinstance(value, str):
        return value
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
        return value.decode("utf-8", "surrogateescape")
    return str(value)


def text_of(value: object) -> str:
    """The XML Schema lexical form of a record value, escaped for character data."""
    return escape(lexical(value))


def render_record(item: str, fields: Sequence[str], record: Record) -> str:
    """One record, any shape: known elements in order (None omitted), then unknown ones (drift)."""
    parts = [f"<{item}>"]
    append = parts.append
    for name in fields:
        value = record.get(name)
        if value is not None:
            append(f"<{name}>{text_of(value)}</{name}>")
    known = set(fields)
    for name, value in record.items():
        if name not in known and value is not None:
            append(f"<{name}>{text_of(value)}</{name}>")
    append(f"</{item}>")
    return "".join(parts)


@dataclass(frozen=True, slots=True)
class _Shape:
    template: str  # one record with %s for each value, in field order
    keys: frozenset[str]
    getter: Callable[[Record], tuple[object, ...]]
    head: str  # the markup before a page's first value
    separators: list[str]  # the markup after each value of a record, the last one opening the next record
    tail: str  # the markup after a page's last value


@cache
def _shape(item: str, fields: tuple[str, ...]) -> _Shape:
    template = f"<{item}>" + "".join(f"<{name}>%s</{name}>" for name in fields) + f"</{item}>"
    getter = itemgetter(*fields)
    pieces = template.split("%s")
    return _Shape(
        template, frozenset(fields), getter if len(fields) > 1 else lambda r: (getter(r),),
        head=pieces[0], separators=[*pieces[1:-1], pieces[-1] + pieces[0]], tail=pieces[-1],
    )


_BOOL_TEXT = {True: "true", False: "false"}


def _column_to_text(column: list[Any]) -> list[str]:
    kinds = set(map(type, column))  # the loops here run in C: this is the serving rate
    if kinds == {str}:
        return column
    if kinds == {int}:
        return list(map(str, column))
    if kinds == {bool}:
        return list(map(_BOOL_TEXT.__getitem__, column))
    return list(map(lexical, column))


def render_records(item: str, fields: Sequence[str], records: Sequence[Record]) -> str:
    """Records as `<item>` elements, the hot path of every feed page.

    A record with exactly the schema's fields and no None (nearly all) takes the fast path: the page's
    values are gathered and converted column by column, escaped in one pass and joined with the
    markup once, all in C loops. Any other record (drift, missing values) is rendered by
    `render_record` in its place.
    """
    shape = _shape(item, tuple(fields))
    keys = shape.keys
    regular: Sequence[Record] = records
    odd: dict[int, str] = {}  # position in the page -> a record rendered on its own
    # one C-level pass over the page decides whether every record is regular (the usual case)
    if not (all(map(eq, map(dict.keys, records), repeat(keys)))
            and not any(map(contains, map(dict.values, records), repeat(None)))):
        regular = []
        for position, record in enumerate(records):
            if record.keys() == keys and None not in record.values():
                regular.append(record)
            else:
                odd[position] = render_record(item, fields, record)
    width = len(fields)
    values: list[Any] = list(chain.from_iterable(map(shape.getter, regular)))
    for i in range(width):
        values[i::width] = _column_to_text(values[i::width])
    joined = "\x00".join(values)  # NUL cannot occur in XML text, so it cannot occur in a value
    if _needs_escaping(joined):
        escaped = escape(joined).split("\x00")
        if len(escaped) != len(values):  # a value carried NUL after all: render each record on its own
            return "".join(render_record(item, fields, r) for r in records)
        values = escaped
    if not odd:
        if not values:
            return ""
        # values and markup interleaved, joined once: twice as fast as one big %-format
        out = [""] * (2 * len(values))
        out[0::2] = values
        out[1::2] = shape.separators * len(regular)
        out[-1] = shape.tail
        return shape.head + "".join(out)
    out, at = [], 0
    for position in range(len(records)):
        if position in odd:
            out.append(odd[position])
        else:
            out.append(shape.template % tuple(values[at:at + width]))
            at += width
    return "".join(out)


def _envelope(body: str, header: str = "") -> bytes:
    head = f"<soap:Header>{header}</soap:Header>" if header else ""
    page = f"{_XML_DECL}{_ENVELOPE_OPEN}{head}<soap:Body>{body}{_ENVELOPE_CLOSE}"
    return page.encode("utf-8", "surrogateescape")


def render_response(
    operation: str,
    namespace: str,
    item: str,
    fields: Sequence[str],
    records: Sequence[Record],
    next_token: str | None = None,
    header: str = "",
) -> bytes:
    """A feed page or a get-by-key answer: `<{operation}Response>` with the records and the token."""
    rendered = render_records(item, fields, records)
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
    """The X-Road headers of a request, to echo in its response (and its Faults): as sent when known."""
    if values.get("__echo__"):
        return values["__echo__"]
    return "".join(
        f'<xrd:{name} xmlns:xrd="{XROAD_NS}">{escape(value)}</xrd:{name}>'
        for name, value in values.items() if name != "__echo__"
    )
