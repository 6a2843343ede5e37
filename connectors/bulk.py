"""The bulk path: large SOAP list responses parsed with lxml iterparse, driven by the WSDL's types.

zeep builds an object per record and per value, which is most of its cost. Here the response element's
type (from the WSDL, through zeep's schema) gives, for each child element of a record, its field name
and its XSD type's conversion; records come out as plain dicts holding exactly the values zeep would
give (`zeep.helpers.serialize_object` of its result), one element at a time, freed as it is read.

Two deliberate differences, both where zeep would lose data: where zeep silently returns None for a
value its type cannot convert, this keeps the text, so the coercion step flags the row with an `_error`;
and an element the WSDL does not declare (schema drift), which zeep in strict mode refuses with the whole
page, is kept as text under its local name, so the drift shows in `_raw` for the drift checks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from io import BytesIO
from typing import Any

from lxml import etree

SOAP11_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
FAULT_TAGS = (f"{{{SOAP11_ENV}}}Fault", f"{{{SOAP12_ENV}}}Fault")

Converter = Callable[[str], Any] | None  # None: the text as it is


class HasFault(Exception):
    """The body holds a SOAP Fault: the caller lets zeep read it into a proper error."""


def _datetime(xsd_type: Any) -> Callable[[str], Any]:
    slow = xsd_type.pythonvalue

    def convert(text: str) -> Any:
        text = text.strip()
        if len(text) > 10:  # fromisoformat agrees with isodate on full timestamps, and is ~10x faster
            try:
                return datetime.fromisoformat(text)
            except ValueError:
                pass
        return slow(text)

    return convert


def _date(xsd_type: Any) -> Callable[[str], Any]:
    slow = xsd_type.pythonvalue

    def convert(text: str) -> Any:
        text = text.strip()
        if len(text) == 10:
            try:
                return date.fromisoformat(text)
            except ValueError:
                pass
        return slow(text)

    return convert


def converter_for(xsd_type: Any) -> Converter:
    """The fastest conversion that gives what `xsd_type.pythonvalue` gives."""
    from zeep.xsd.types import builtins as b

    if isinstance(xsd_type, b.String):
        return None
    if isinstance(xsd_type, b.Boolean):
        return lambda text: text.strip() in ("true", "1")
    if isinstance(xsd_type, b.Integer):
        return int
    if isinstance(xsd_type, b.Decimal):
        return lambda text: Decimal(text.strip())
    if isinstance(xsd_type, b.DateTime):
        return _datetime(xsd_type)
    if isinstance(xsd_type, b.Date):
        return _date(xsd_type)
    return xsd_type.pythonvalue  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    convert: Converter


class BulkPlan:
    """How to read one operation's response: the record element, its fields, the page-token element."""

    def __init__(self, binding: Any, operation: str, records: str, token: str | None) -> None:
        response = binding.get(operation).output.body
        children = dict(response.type.elements)
        if records not in children:
            raise ValueError(f"{operation}'s response has no element {records!r}; it has {', '.join(children)}")
        record = children[records]
        self.record_tag = record.qname.text
        self.records_name = records
        self.token_tag = children[token].qname.text if token and token in children else None
        self.token_name = token
        elements = getattr(record.type, "elements", None)
        # A record of simple type (a key listing: code*) is one value; a complex one is a dict of fields.
        self.simple: Converter = converter_for(record.type) if not elements else None
        self.is_simple = not elements
        self.fields: dict[str, Field] = {
            el.qname.text: Field(name, converter_for(el.type)) for name, el in (elements or [])
        }
        self.names = [f.name for f in self.fields.values()]

    @staticmethod
    def _value(element: Any, convert: Converter) -> Any:
        text = element.text
        if text is None or element.get(XSI_NIL) in ("true", "1"):
            return None
        if convert is None:
            return text
        try:
            return convert(text)
        except (TypeError, ValueError, ArithmeticError):
            return text  # zeep would give None; keep the text so coercion flags it

    def parse(self, content: bytes) -> tuple[list[Any], str | None]:
        """The records and the next page token. Raises HasFault, or lxml's XMLSyntaxError."""
        records: list[Any] = []
        token: str | None = None
        tags = (self.record_tag, *FAULT_TAGS) + ((self.token_tag,) if self.token_tag else ())
        context = etree.iterparse(BytesIO(content), events=("end",), tag=tags, resolve_entities=False,
                                  no_network=True, load_dtd=False, huge_tree=False, remove_comments=True)
        fields, names, value = self.fields, self.names, self._value
        for _, element in context:
            tag = element.tag
            if tag == self.record_tag:
                if self.is_simple:
                    records.append(value(element, self.simple))
                else:
                    record = dict.fromkeys(names)
                    for child in element:
                        f = fields.get(child.tag)
                        if f is not None:
                            record[f.name] = value(child, f.convert)
                        elif isinstance(child.tag, str):  # not in the WSDL: drift, kept as text for `_raw`
                            record[etree.QName(child).localname] = child.text
                    records.append(record)
            elif tag == self.token_tag:
                token = element.text
            else:
                raise HasFault(tag)
            element.clear()
            parent = element.getparent()
            if parent is not None:  # drop what is read, so memory stays at one record
                while element.getprevious() is not None:
                    del parent[0]
        return records, token
