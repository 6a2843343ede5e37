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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from io import BytesIO
from itertools import repeat
from typing import Any

from lxml import etree

from connectors.coerce import Decoded, raw_json, raw_rows

SOAP11_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
FAULT_TAGS = (f"{{{SOAP11_ENV}}}Fault", f"{{{SOAP12_ENV}}}Fault")
ENVELOPE_TAGS = (f"{{{SOAP11_ENV}}}Envelope", f"{{{SOAP12_ENV}}}Envelope")

Converter = Callable[[str], Any] | None  # None: the text as it is
_TRUE = ("true", "1")
# Replies up to this size are parsed into a whole tree (see BulkPlan.parse); bigger ones stream.
TREE_BYTES = 16 * 2**20
# The elements whose value is nil, as Shape.read tests each one: xsi:nil="true" or "1".
_NILS = etree.XPath("//*[@xsi:nil='true' or @xsi:nil='1']", namespaces={"xsi": XSI_NIL[1:].partition("}")[0]})
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


def _boolean(text: str) -> bool:
    return text.strip() in _TRUE


def _decimal(text: str) -> Decimal:
    return Decimal(text.strip())


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
    return _typed(xsd_type)[0]


def _typed(xsd_type: Any) -> tuple[Converter, str | None]:
    """The conversion and its kind: how a whole column of it converts at once (see convert_column)."""
    from zeep.xsd.types import builtins as b

    if isinstance(xsd_type, b.String):
        return None, "str"
    if isinstance(xsd_type, b.Boolean):
        return _boolean, "bool"
    if isinstance(xsd_type, b.Integer):
        return int, "int"
    if isinstance(xsd_type, b.Decimal):
        return _decimal, "decimal"
    if isinstance(xsd_type, b.DateTime):
        return _datetime(xsd_type), "datetime"
    if isinstance(xsd_type, b.Date):
        return _date(xsd_type), "date"
    return xsd_type.pythonvalue, None


def _per_value(texts: list[str | None], convert: Converter) -> list[Any]:
    """What Shape.read gives value by value: None for no text, the text where conversion fails."""
    if convert is None:
        return texts
    return [None if t is None else _convert(t, convert) for t in texts]


def convert_column(texts: list[str | None], convert: Converter, kind: str | None) -> tuple[list[Any], str | None]:
    """A column of texts converted as `_per_value` would, and the kind every value then has (None: mixed).

    The fast versions call the same functions on the whole column in C loops (map); any value that
    fails (a None, a bad number) sends the whole column through `_per_value`, so results never differ."""
    try:
        if kind == "str":
            return texts, "str"
        if kind == "int":
            return list(map(int, texts)), "int"  # type: ignore[arg-type]
        if kind == "decimal":
            return list(map(Decimal, map(str.strip, texts))), "decimal"  # type: ignore[arg-type]
        if kind == "bool" and None not in texts:
            return [t in _TRUE for t in map(str.strip, texts)], "bool"  # type: ignore[arg-type]
        if kind == "datetime":
            stripped = list(map(str.strip, texts))  # type: ignore[arg-type]
            if min(map(len, stripped), default=11) > 10:  # the converter's own fast branch, for every value
                return list(map(datetime.fromisoformat, stripped)), "datetime"
        if kind == "date":
            stripped = list(map(str.strip, texts))  # type: ignore[arg-type]
            if set(map(len, stripped)) <= {10}:
                return list(map(date.fromisoformat, stripped)), "date"
    except (TypeError, ValueError, ArithmeticError):
        pass
    return _per_value(texts, convert), None


def _repeated(element: Any) -> bool:
    return element.max_occurs == "unbounded" or (isinstance(element.max_occurs, int) and element.max_occurs > 1)


@dataclass(slots=True)
class Field:
    name: str
    convert: Converter
    shape: Shape | None = None  # a complex child: read recursively
    repeated: bool = False
    kind: str | None = None  # how a column of it converts at once (convert_column); None: value by value


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
            convert, kind = (None, None) if shape else _typed(el.type)
            self.fields[el.qname.text] = Field(name, convert, shape, _repeated(el), kind)
        self.attributes: list[tuple[str, str, Converter]] = []
        for name, attr in getattr(xsd_type, "attributes", []):
            if not hasattr(attr, "qname") or attr.qname is None:
                raise Unsupported(f"{where}: an xsd:anyAttribute")
            self.attributes.append((name, attr.qname.text if attr.qname.namespace else attr.qname.localname,
                                    converter_for(attr.type)))
        self.defaults = [(f.name, f.repeated) for f in self.fields.values()]
        # A flat type (one value per child element, no attributes) can be read a page at a time (read_many).
        self.flat = bool(self.fields) and not self.attributes and not any(
            f.shape or f.repeated for f in self.fields.values())
        self._position = {tag: i for i, tag in enumerate(self.fields)}
        self._names = [f.name for f in self.fields.values()]
        self._kinds = [(f.convert, f.kind) for f in self.fields.values()]

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

    def read_many(self, root: Any, elements: list[Any], nil: bool) -> Decoded:
        """What `[self.read(e, nil) for e in elements]` gives, and each record's `_raw`, read column by column.

        Only for a flat type. `elements`: the page's records in document order, under `root`. Every
        element's tag and text is read in one pass over the tree (lxml makes an object per element read:
        the cost that remains); a record's children are the elements after it, as many as it has, when
        none of them has children of its own (checked below). The records whose children are declared
        ones, each once, are grouped by the order the children come in (one group on a regular page),
        and each group's columns are sliced out and converted a column at a time. Any other record
        (drift: an undeclared child; a child twice; a processing instruction) is read by `read`."""
        tags: list[Any] = []
        texts: list[str | None] = []
        add_tag, add_text = tags.append, texts.append
        if nil:
            # The nil elements' objects are held in `nils` for the pass: lxml hands out those same objects
            # again, and no other element's object can share their id meanwhile.
            nils = _NILS(root)
            nil_ids = {id(e) for e in nils}
            for c in root.iter():
                add_tag(c.tag)
                add_text(None if id(c) in nil_ids else c.text)
            del nils
        else:
            for c in root.iter():
                add_tag(c.tag)
                add_text(c.text)
        n = len(elements)
        lens = list(map(len, elements))
        groups = self._groups(tags, texts, lens, elements)
        if groups is None:  # not the plain shape the columns need: each record its own way
            one_by_one = [self.read(e, nil) for e in elements]
            return Decoded(one_by_one, list(map(raw_json, one_by_one)))
        records: list[Any] = [None] * n
        raws: list[Any] = [None] * n
        position = self._position
        for layout, (idx, group_texts) in groups.items():
            where = [position.get(tag) for tag in layout]
            if None in where or len(set(where)) < len(where):
                for i in idx:  # drift, a child twice, a processing instruction: the record's own way
                    records[i] = record = self.read(elements[i], nil)
                    raws[i] = raw_json(record)
                continue
            m, w = len(idx), len(layout)
            columns: list[list[Any]] = [[None] * m for _ in position]
            kinds: list[str | None] = ["null"] * len(position)
            sent: list[list[Any] | None] = [None] * len(position)
            for j, p in enumerate(where):
                convert, kind = self._kinds[p]  # type: ignore[index]
                sent[p] = group_texts[j::w]  # type: ignore[index]
                columns[p], kinds[p] = convert_column(sent[p], convert, kind)  # type: ignore[index, arg-type]
            rows = map(dict, map(zip, repeat(self._names), zip(*columns, strict=True)))
            for i, record, raw in zip(idx, rows, raw_rows(self._names, columns, kinds, sent), strict=True):
                records[i], raws[i] = record, raw
        return Decoded(records, raws)

    @staticmethod
    def _groups(tags: list[Any], texts: list[str | None], lens: list[int], elements: list[Any]
                ) -> dict[tuple[Any, ...], tuple[Sequence[int], list[str | None]]] | None:
        """The records grouped by the tags of their children, in order: for each group, the records'
        indexes and their children's texts one record after the other. None when a record's children
        are not the `lens[i]` elements after it in `tags` and `texts` (every element, document order).

        They are when: every element with the record tag is a record; each record comes right after
        the previous one's children; and the last record has no deeper elements. Then a record whose
        children have children of their own would push the next record further on, unless that record
        is inside it (under a child with the container's tag, which is not declared: `read` reads it)."""
        n = len(elements)
        if not n:
            return {}
        record_tag = elements[0].tag
        if tags.count(record_tag) != n or sum(1 for _ in elements[-1].iter()) != lens[-1] + 1:
            return None
        at = tags.index(record_tag)
        width = lens[0]
        end = at + n * (width + 1)
        if lens.count(width) == n and tags[at:end] == tags[at:at + width + 1] * n:  # the usual page: all alike
            group_texts = texts[at:end]
            del group_texts[::width + 1]  # the records' own texts
            return {tuple(tags[at + 1:at + width + 1]): (range(n), group_texts)}
        groups: dict[tuple[Any, ...], tuple[Sequence[int], list[str | None]]] = {}
        for i, length in enumerate(lens):
            if at >= len(tags) or tags[at] != record_tag:
                return None
            idx, group_texts = groups.setdefault(tuple(tags[at + 1:at + 1 + length]), ([], []))
            idx.append(i)  # type: ignore[attr-defined]
            group_texts.extend(texts[at + 1:at + 1 + length])
            at += length + 1
        return groups

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
        # False: a page's records one at a time (Shape.read), as before read_many. Also when a record could
        # hold an element with the container's tag as a declared child (see Shape._groups).
        self.columnar = self.shape is None or (self.container_tag not in self.shape.fields
                                               and self.record_tag != self.container_tag)

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
        records: list[Any]
        if shape is None:
            records = [value_of(el, simple) for el in found]
        elif shape.flat and self.columnar:
            records = shape.read_many(root, found, nil)
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
