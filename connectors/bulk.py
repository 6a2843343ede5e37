"""The bulk path: large SOAP list responses parsed with lxml iterparse, driven by the WSDL's types.

zeep builds an object per record and per value, which is most of its cost. Here the response element's
type (from the WSDL, through zeep's schema) gives, for each child element of a record, its field name
and its XSD type's conversion, recursively for nested complex children (dicts) and repeated ones
(lists); records come out as plain dicts holding exactly the values zeep would give
(`zeep.helpers.serialize_object` of its result), one element at a time, freed as it is read.

The records live at a path under the operation's response element, `enterprise` or
`response/keha/kanded/kanne`; the path's steps are declared elements of the WSDL. A type the plan cannot
mirror exactly (xsd:choice, xsd:any, simple content with attributes, mixed content) raises
`Unsupported` when the plan is built, and the reader falls back to zeep, saying so once.

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
ENVELOPE_TAGS = (f"{{{SOAP11_ENV}}}Envelope", f"{{{SOAP12_ENV}}}Envelope")

Converter = Callable[[str], Any] | None  # None: the text as it is
# Replies up to this size are parsed into a whole tree (see BulkPlan.parse); bigger ones stream.
TREE_BYTES = 16 * 2**20
_TREE_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                               remove_comments=True)


class HasFault(Exception):
    """The body holds a SOAP Fault: the caller lets zeep read it into a proper error."""


class Unsupported(Exception):
    """A response type the bulk path cannot mirror exactly; the reader uses zeep instead."""


class ShapeError(Exception):
    """The reply does not have the shape the WSDL declares (the reader names source, operation, page)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind  # "not_envelope", "no_response", "no_records"


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


def _repeated(element: Any) -> bool:
    return element.max_occurs == "unbounded" or (isinstance(element.max_occurs, int) and element.max_occurs > 1)


@dataclass(slots=True)
class Field:
    name: str
    convert: Converter
    shape: Shape | None = None  # a complex child: read recursively
    repeated: bool = False


class Shape:
    """How one complex type reads: its child elements (by qualified tag) and attributes."""

    def __init__(self, xsd_type: Any, where: str, depth: int = 0) -> None:
        from zeep.xsd.elements.any import Any as XsdAny
        from zeep.xsd.elements.indicators import All, Choice, Group, Sequence

        if depth > 12:
            raise Unsupported(f"{where}: nested more than 12 levels (a recursive type?)")
        if any(name.startswith("_value_") for name, _ in getattr(xsd_type, "elements", [])):
            raise Unsupported(f"{where}: simple content with attributes, or an anonymous model group")
        for _, nested in getattr(xsd_type, "elements_nested", []):
            if isinstance(nested, (Choice, XsdAny)):
                raise Unsupported(f"{where}: an xsd:{type(nested).__name__.lower()}")
            if isinstance(nested, (Sequence, All, Group)):
                for child in nested:
                    if isinstance(child, (Choice, XsdAny)):
                        raise Unsupported(f"{where}: an xsd:{type(child).__name__.lower()}")
                    if isinstance(child, (Sequence, Group)):
                        raise Unsupported(f"{where}: a nested model group")
        self.fields: dict[str, Field] = {}
        for name, el in getattr(xsd_type, "elements", []):
            shape = Shape(el.type, f"{where}/{name}", depth + 1) if getattr(el.type, "elements", None) else None
            convert = None if shape else converter_for(el.type)
            self.fields[el.qname.text] = Field(name, convert, shape, _repeated(el))
        self.attributes: list[tuple[str, str, Converter]] = []
        for name, attr in getattr(xsd_type, "attributes", []):
            if not hasattr(attr, "qname") or attr.qname is None:
                raise Unsupported(f"{where}: an xsd:anyAttribute")
            self.attributes.append((name, attr.qname.text if attr.qname.namespace else attr.qname.localname,
                                    converter_for(attr.type)))
        self.defaults = [(f.name, f.repeated) for f in self.fields.values()]

    def empty(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: None for name, _, _ in self.attributes}
        for name, repeated in self.defaults:
            out[name] = [] if repeated else None
        return out

    def read(self, element: Any, nil: bool = True) -> dict[str, Any]:
        """One element's fields. `nil`: the page may hold xsi:nil (False skips the attribute look-ups)."""
        record = self.empty()
        for name, tag, convert in self.attributes:
            text = element.get(tag)
            record[name] = None if text is None else _convert(text, convert)
        fields = self.fields
        for child in element:
            f = fields.get(child.tag)
            if f is not None:
                if f.shape is not None:
                    value = f.shape.read_value(child, nil)
                else:
                    text = child.text
                    if text is None or (nil and child.get(XSI_NIL) in ("true", "1")):
                        value = None
                    elif f.convert is None:
                        value = text
                    else:
                        value = _convert(text, f.convert)
                if f.repeated:
                    record[f.name].append(value)
                else:
                    record[f.name] = value
            elif isinstance(child.tag, str):  # not in the WSDL: drift, kept as text for `_raw`
                record[etree.QName(child).localname] = child.text
        return record

    def read_value(self, element: Any, nil: bool = True) -> dict[str, Any] | None:
        if nil and element.get(XSI_NIL) in ("true", "1"):
            return None
        return self.read(element, nil)


def _convert(text: str, convert: Converter) -> Any:
    if convert is None:
        return text
    try:
        return convert(text)
    except (TypeError, ValueError, ArithmeticError):
        return text  # zeep would give None; keep the text so coercion flags it


def value_of(element: Any, convert: Converter) -> Any:
    text = element.text
    if text is None or element.get(XSI_NIL) in ("true", "1"):
        return None
    return _convert(text, convert)


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    tag: str
    repeated: bool


def record_path(binding: Any, operation: str, records: str) -> tuple[Any, list[Step], Any]:
    """The operation's response element, the steps of `records` below it, and the record element.

    Raises ValueError naming the step that the WSDL does not declare."""
    op = binding.get(operation)
    if op.output is None:
        raise ValueError(f"{operation} is one-way: it has no response")
    response = op.output.body
    if not hasattr(response, "type"):
        raise ValueError(f"{operation}'s response is not a single element (rpc style)")
    current, steps = response, list[Step]()
    for part in records.split("/"):
        children = dict(getattr(current.type, "elements", []) or [])
        if part not in children:
            at = "/".join(s.name for s in steps) or etree.QName(response.qname).localname
            raise ValueError(f"{operation}'s response has no element {part!r} under {at}; "
                             f"it has {', '.join(children) or 'no child elements'}")
        current = children[part]
        steps.append(Step(part, current.qname.text, _repeated(current)))
    return response, steps, current


class BulkPlan:
    """How to read one operation's response: the record element, its fields, the page-token element."""

    def __init__(self, binding: Any, operation: str, records: str, token: str | None) -> None:
        response, steps, record = record_path(binding, operation, records)
        self.response_tag = response.qname.text
        self.steps = steps
        self.record_tag = record.qname.text
        self.records_name = records
        container_type = (response if len(steps) == 1 else _element_at(response, steps[:-1])).type
        container_children = dict(container_type.elements)
        self.container_tag = self.response_tag if len(steps) == 1 else steps[-2].tag
        self.declared_siblings = {el.qname.text for _, el in container_children.items()}
        self.token_tag = None
        if token:
            try:
                self.token_tag = record_path(binding, operation, token)[2].qname.text
            except ValueError:
                self.token_tag = None  # not in the body (a header or the HTTP layer carries it)
        self.token_name = token
        elements = getattr(record.type, "elements", None)
        # A record of simple type (a key listing: code*) is one value; a complex one is a dict of fields.
        self.is_simple = not elements
        self.simple: Converter = converter_for(record.type) if self.is_simple else None
        self.shape = None if self.is_simple else Shape(record.type, f"{operation}/{records}")

    def parse(self, content: bytes) -> tuple[list[Any], str | None]:
        """The records and the next page token. Raises HasFault, ShapeError, or lxml's XMLSyntaxError.

        A reply of up to TREE_BYTES is parsed whole (lxml's tree builder is twice as fast as its
        iterparse events, and a page's tree is a few MB); a bigger one streams, one record at a time.
        Malformed XML is read again by the streaming path, so its error is the streaming path's."""
        if len(content) <= TREE_BYTES:
            try:
                root = etree.fromstring(content, _TREE_PARSER)
            except etree.XMLSyntaxError:
                pass
            else:
                return self._from_tree(root, b"nil" in content)
        return self._streamed(content)

    def _from_tree(self, root: Any, nil: bool) -> tuple[list[Any], str | None]:
        if next(root.iter(*FAULT_TAGS), None) is not None:
            raise HasFault(FAULT_TAGS[0])
        if root.tag not in ENVELOPE_TAGS:
            raise ShapeError("not_envelope", f"an XML document <{etree.QName(root).localname}>, not a SOAP envelope")
        if next(root.iter(self.response_tag), None) is None:
            raise ShapeError("no_response", f"the Body holds {body_children(root) or 'nothing'}, not the "
                                            f"operation's response <{etree.QName(self.response_tag).localname}>")
        shape, simple, container = self.shape, self.simple, self.container_tag
        found = [el for el in root.iter(self.record_tag) if el.getparent().tag == container]
        if shape is None:
            records = [value_of(el, simple) for el in found]
        else:
            read = shape.read
            records = [read(el, nil) for el in found]
        token = None
        if self.token_tag:
            for el in root.iter(self.token_tag):
                token = el.text
        if not records:
            stray = [etree.QName(c).localname for el in root.iter(container) for c in el
                     if isinstance(c.tag, str) and c.tag not in self.declared_siblings]
            if stray:
                raise ShapeError("no_records", f"records path {self.records_name!r} matched nothing, and the "
                                               f"response holds <{'>, <'.join(dict.fromkeys(stray))}>")
        return records, token

    def _streamed(self, content: bytes) -> tuple[list[Any], str | None]:
        records: list[Any] = []
        token: str | None = None
        seen_response = False
        stray: list[str] = []
        tags = {self.record_tag, *FAULT_TAGS, self.response_tag, self.container_tag}
        if self.token_tag:
            tags.add(self.token_tag)
        context = etree.iterparse(BytesIO(content), events=("end",), tag=tuple(tags), resolve_entities=False,
                                  no_network=True, load_dtd=False, huge_tree=False, remove_comments=True)
        shape, simple, record_tag = self.shape, self.simple, self.record_tag
        # Without the bytes "nil" the page has no xsi:nil attribute: skip the look-up on every value.
        nil = b"nil" in content
        for _, element in context:
            tag = element.tag
            if tag == record_tag and element.getparent().tag == self.container_tag:
                records.append(value_of(element, simple) if shape is None else shape.read(element, nil))
            else:
                if tag == self.token_tag:
                    token = element.text
                if tag == self.container_tag and not records:
                    stray.extend(etree.QName(c).localname for c in element
                                 if isinstance(c.tag, str) and c.tag not in self.declared_siblings)
                if tag == self.response_tag:
                    seen_response = True
                if tag in FAULT_TAGS:
                    raise HasFault(tag)
                if tag in (self.container_tag, self.response_tag):
                    continue  # cleared by their parent's end, never read twice
            element.clear()
            parent = element.getparent()
            if parent is not None:  # drop what is read, so memory stays at one record
                while element.getprevious() is not None:
                    del parent[0]
        root = context.root
        if root is None or root.tag not in ENVELOPE_TAGS:
            name = etree.QName(root).localname if root is not None else "?"
            raise ShapeError("not_envelope", f"an XML document <{name}>, not a SOAP envelope")
        if not seen_response:
            raise ShapeError("no_response", f"the Body holds {body_children(root) or 'nothing'}, not the "
                                            f"operation's response <{etree.QName(self.response_tag).localname}>")
        if not records and stray:
            raise ShapeError("no_records", f"records path {self.records_name!r} matched nothing, and the "
                                           f"response holds <{'>, <'.join(dict.fromkeys(stray))}>")
        return records, token


def _element_at(response: Any, steps: list[Step]) -> Any:
    current = response
    for step in steps:
        current = dict(current.type.elements)[step.name]
    return current


def body_children(root: Any) -> str:
    for env in (SOAP11_ENV, SOAP12_ENV):
        body = root.find(f"{{{env}}}Body")
        if body is not None:
            return ", ".join(f"<{etree.QName(c).localname}>" for c in body if isinstance(c.tag, str))
    return ""
