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


class RestXRoad:
    """A REST source reached through its X-Road security server (the REST message protocol).

    Paths become `/r1/{INSTANCE}/{CLASS}/{MEMBER}/{SUBSYSTEM}/{SERVICE}{path}`, each part
    percent-encoded; every request carries `X-Road-Client` (and `X-Road-Id`, `X-Road-UserId`,
    `X-Road-Issue`); every response must carry the `X-Road-Id` sent and an `X-Road-Request-Hash` (set
    by the provider's security server), both kept with the run."""

    def __init__(self, client: Identifier, service: Identifier, service_code: str, user_id: str | None,
                 issue: str | None) -> None:
        from urllib.parse import quote

        parts = [service.instance, service.member_class, service.member_code, service.subsystem, service_code]
        self.prefix = "/r1/" + "/".join(quote(p, safe="") for p in parts if p)
        self.client = "/".join(quote(p, safe="") for p in client.text().split("/"))
        self.user_id, self.issue = user_id, issue
        self.request_ids: list[str] = []
        self.request_hashes: list[str] = []

    def path(self, path: str) -> str:
        return self.prefix + (path if path.startswith("/") else "/" + path)

    def headers(self, request_id: str) -> dict[str, str]:
        out = {"X-Road-Client": self.client, "X-Road-Id": request_id}
        if self.user_id:
            out["X-Road-UserId"] = self.user_id
        if self.issue:
            out["X-Road-Issue"] = self.issue
        return out

    def check(self, headers: Mapping[str, str], request_id: str) -> str | None:
        """None when the reply is the security server's answer to this request, else what is wrong."""
        echoed = headers.get("x-road-id")
        if echoed != request_id:
            return (f"the reply's X-Road-Id {echoed!r} is not the request's {request_id!r}" if echoed else
                    "the reply has no X-Road-Id header: it did not come through an X-Road security server")
        digest = headers.get("x-road-request-hash")
        if not digest:
            return "the reply has no X-Road-Request-Hash header (the provider's security server sets it)"
        self.request_ids.append(request_id)
        self.request_hashes.append(digest)
        return None
