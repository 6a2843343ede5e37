"""X-Road message protocol 4.x SOAP headers (../shared/reference/xroad/pr-mess_x-road_message_protocol.md).

`client` and `service` are structured identifiers: an `objectType` attribute and the `xRoadInstance`,
`memberClass`, `memberCode`, `subsystemCode` (and for a service `serviceCode`, `serviceVersion`)
elements in the identifiers namespace. `id` is unique per request; the security server and the
provider echo every header in the response, and a reply whose `id` differs answers another request.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from lxml import etree

XROAD_NS = "http://x-road.eu/xsd/xroad.xsd"
IDENTIFIERS_NS = "http://x-road.eu/xsd/identifiers"
_ID_PARTS = ("xRoadInstance", "memberClass", "memberCode", "subsystemCode")


@dataclass(frozen=True, slots=True)
class Identifier:
    """`INSTANCE/CLASS/CODE[/SUBSYSTEM]`, the X-Road identifier written as in its documentation."""

    instance: str
    member_class: str
    member_code: str
    subsystem: str | None = None

    @classmethod
    def parse(cls, text: str, what: str) -> Identifier:
        parts = text.strip().split("/")
        if len(parts) not in (3, 4) or not all(parts):
            raise ValueError(f"{what} {text!r}: expected INSTANCE/CLASS/MEMBER_CODE[/SUBSYSTEM]")
        return cls(*parts)

    def text(self) -> str:
        return "/".join(p for p in (self.instance, self.member_class, self.member_code, self.subsystem) if p)


def _id(parent: etree._Element, name: str, value: str) -> None:
    etree.SubElement(parent, f"{{{IDENTIFIERS_NS}}}{name}").text = value


def _identifier(tag: str, ident: Identifier, object_type: str) -> etree._Element:
    element = etree.Element(f"{{{XROAD_NS}}}{tag}", nsmap={"xrd": XROAD_NS, "id": IDENTIFIERS_NS})
    element.set(f"{{{IDENTIFIERS_NS}}}objectType", object_type)
    for name, value in zip(_ID_PARTS, (ident.instance, ident.member_class, ident.member_code, ident.subsystem),
                           strict=True):
        if value:
            _id(element, name, value)
    return element


def _text(tag: str, value: str) -> etree._Element:
    element = etree.Element(f"{{{XROAD_NS}}}{tag}", nsmap={"xrd": XROAD_NS})
    element.text = value
    return element


def new_request_id() -> str:
    return uuid.uuid4().hex


def headers_v4(client: Identifier, service: Identifier, service_code: str, *, request_id: str,
               user_id: str | None, issue: str | None, protocol_version: str,
               service_version: str | None = None) -> list[etree._Element]:
    """The 4.x header elements, in the order the protocol's examples give them."""
    out = [_identifier("client", client, "SUBSYSTEM" if client.subsystem else "MEMBER")]
    svc = _identifier("service", service, "SERVICE")
    _id(svc, "serviceCode", service_code)
    if service_version:
        _id(svc, "serviceVersion", service_version)
    out.append(svc)
    out.append(_text("id", request_id))
    if user_id:
        out.append(_text("userId", user_id))
    if issue:
        out.append(_text("issue", issue))
    out.append(_text("protocolVersion", protocol_version))
    return out


XROAD5_NS = "http://x-road.ee/xsd/x-road.xsd"


def headers_v5(values: Mapping[str, str | None], request_id: str) -> list[etree._Element]:
    """The older X-Road 5 header set (`asutus`, `andmekogu`, `isikukood`, `nimi`, `id`, `toimik`)."""
    out = []
    for name in ("asutus", "andmekogu", "isikukood", "nimi", "id", "toimik"):
        value = request_id if name == "id" else values.get(name)
        if value:
            element = etree.Element(f"{{{XROAD5_NS}}}{name}", nsmap={"xtee": XROAD5_NS})
            element.text = value
            out.append(element)
    return out


def echoed_id(envelope: etree._Element) -> str | None:
    """The `id` header of a reply (4.x or 5), None when the reply has none."""
    for ns in (XROAD_NS, XROAD5_NS):
        found = envelope.find(f"{{*}}Header/{{{ns}}}id")
        if found is not None:
            return (found.text or "").strip()
    return None
