"""Reading a SOAP request safely: bounded size, no DTD, no entities, no network; then its auth headers.

Anything wrong becomes a `SoapFault` carrying the faultcode of PROTOCOL.md; the app turns it into a
Fault response, so a hostile request never reaches the store and never takes the server down.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field

from lxml import etree

from agencies.base import Credentials
from agencies.soap.services import SOAP_ENV_NS, WSSE_NS, XROAD_HEADERS, XROAD_NS, XROAD_REQUIRED, Service

MAX_REQUEST_BYTES = 64 * 1024  # a feed request is a few hundred bytes
_SOAP12_ENV_NS = "http://www.w3.org/2003/05/soap-envelope"
_WSS_TOKEN_PROFILE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"  # noqa: S105
_PASSWORD_TEXT = _WSS_TOKEN_PROFILE + "#PasswordText"  # the password type URI, not a password


@dataclass(slots=True)
class SoapFault(Exception):
    """A request refused with a SOAP Fault (HTTP 500 unless `status` says otherwise)."""

    faultcode: str
    message: str
    status: int = 500
    headers: Mapping[str, str] = field(default_factory=dict)  # X-Road headers to echo, when known

    def __str__(self) -> str:
        return f"{self.faultcode}: {self.message}"


@dataclass(frozen=True, slots=True)
class SoapRequest:
    operation: str
    params: Mapping[str, str]  # the operation element's children by local name, as text
    header: etree._Element | None


def _parser() -> etree.XMLParser:
    # A fresh parser per request: lxml parsers are not safe to share between threads.
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True
    )


def parse(body: bytes, service: Service) -> SoapRequest:
    """The operation and its parameters, or a soap:Client Fault naming what is wrong."""
    if len(body) > MAX_REQUEST_BYTES:
        raise SoapFault("soap:Client", f"request of {len(body)} bytes exceeds {MAX_REQUEST_BYTES} bytes")
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise SoapFault("soap:Client", "a DOCTYPE or entity declaration is not accepted")
    try:
        root = etree.fromstring(body, _parser())
    except etree.XMLSyntaxError as e:
        raise SoapFault("soap:Client", f"request is not well-formed XML: {e}") from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:  # e.g. declared in a UTF-16 body
        raise SoapFault("soap:Client", "a DOCTYPE or entity declaration is not accepted")
    if root.tag == f"{{{_SOAP12_ENV_NS}}}Envelope":
        raise SoapFault("soap:VersionMismatch", "SOAP 1.2 is not supported; send a SOAP 1.1 envelope")
    if root.tag != f"{{{SOAP_ENV_NS}}}Envelope":
        raise SoapFault("soap:Client", "the document is not a SOAP 1.1 Envelope")
    header = root.find(f"{{{SOAP_ENV_NS}}}Header")
    body_el = root.find(f"{{{SOAP_ENV_NS}}}Body")
    if body_el is None:
        raise SoapFault("soap:Client", "the Envelope has no Body")
    children = [child for child in body_el if isinstance(child.tag, str)]
    if len(children) != 1:
        raise SoapFault("soap:Client", f"the Body must hold one operation element, found {len(children)}")
    op = etree.QName(children[0])
    if op.namespace != service.namespace or op.localname not in service.operations:
        raise SoapFault(
            "soap:Client",
            f"unknown operation {op.text}; {service.path} serves "
            + ", ".join(f"{{{service.namespace}}}{name}" for name in service.operations),
        )
    params: dict[str, str] = {}
    for child in children[0]:
        if isinstance(child.tag, str):
            params[etree.QName(child).localname] = child.text or ""
    return SoapRequest(operation=op.localname, params=params, header=header)


def _header_text(header: etree._Element | None, path: str) -> str | None:
    if header is None:
        return None
    found = header.find(path)
    return None if found is None else (found.text or "").strip()


def check_wsse(request: SoapRequest, credentials: Credentials) -> None:
    """WS-Security UsernameToken, PasswordText, against the simulator's land credentials."""
    token = f"{{{WSSE_NS}}}Security/{{{WSSE_NS}}}UsernameToken"
    username = _header_text(request.header, f"{token}/{{{WSSE_NS}}}Username")
    password_el = None if request.header is None else request.header.find(f"{token}/{{{WSSE_NS}}}Password")
    if username is None or password_el is None:
        raise SoapFault("soap:Client.Authentication", "a WS-Security UsernameToken is required")
    if password_el.get("Type", _PASSWORD_TEXT) != _PASSWORD_TEXT:
        raise SoapFault("soap:Client.Authentication", "only the PasswordText password type is accepted")
    user_ok = hmac.compare_digest(username.encode(), credentials.land_username.encode())
    password_ok = hmac.compare_digest((password_el.text or "").encode(), credentials.land_password.encode())
    if not (user_ok and password_ok):
        raise SoapFault("soap:Client.Authentication", "the username or password is wrong")


ECHO_KEY = "__echo__"  # the request's X-Road header elements as sent, to echo verbatim


def _xroad_value(header: etree._Element | None, name: str) -> str | None:
    """A header's value: its text, or for a structured identifier (X-Road 4.x `client`, `service`) its
    identifier parts joined with "/" (INSTANCE/CLASS/CODE/SUBSYSTEM[/SERVICE[/VERSION]])."""
    found = None if header is None else header.find(f"{{{XROAD_NS}}}{name}")
    if found is None:
        return None
    parts = [(c.text or "").strip() for c in found if isinstance(c.tag, str)]
    return "/".join(parts) if parts else (found.text or "").strip()


def check_xroad(request: SoapRequest, credentials: Credentials) -> dict[str, str]:
    """The X-Road headers, when the client is on the allow-list; they are echoed in the response.

    Accepts the 4.x structured identifiers and, for older clients, identifiers written as text."""
    values: dict[str, str] = {}
    for name in XROAD_HEADERS:
        text = _xroad_value(request.header, name)
        if text is not None:
            values[name] = text
    if request.header is not None:
        values[ECHO_KEY] = "".join(etree.tostring(el, encoding="unicode") for el in request.header
                                   if isinstance(el.tag, str) and etree.QName(el).namespace == XROAD_NS)
    missing = [name for name in XROAD_REQUIRED if not values.get(name)]
    if "client" in missing:
        raise SoapFault("soap:Client.AccessDenied", "the X-Road client header is missing", headers=values)
    if values["client"] not in credentials.business_allowed_clients:
        raise SoapFault(
            "soap:Client.AccessDenied", f"client {values['client']!r} is not on the allow-list", headers=values
        )
    if missing:
        raise SoapFault("soap:Client", "missing X-Road header(s): " + ", ".join(missing), headers=values)
    return values
