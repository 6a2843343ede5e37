"""SOAP through zeep: the WSDL drives messages; our HTTP caller carries them (retries, size bound).

zeep builds each envelope (WS-Security UsernameToken applied, X-Road headers added) and reads each
reply (hardened: no DTD, no entities, no external references). A stream marked `bulk: true` reads its
replies with the lxml bulk path instead (connectors/bulk.py), and falls back to zeep for a Fault, or
for a whole stream whose types the bulk path cannot mirror exactly (it says so once, in the log).
SOAP 1.1 or 1.2 is whatever the chosen port's binding says; `soap.version` picks the port when a
service offers both; only SOAP bindings are chosen (an HTTP GET/POST binding is skipped).

Every reply is checked before it is read (connectors/soapreply.py) and after: a SOAP envelope whose
Body holds the operation's response element (or a Fault), the records path matching something unless
the response is empty, the X-Road `id` echoed unchanged. Each failure names source, operation and page.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from lxml import etree

from connectors import xroad
from connectors.auth import value_of
from connectors.bulk import (
    ENVELOPE_TAGS,
    FAULT_TAGS,
    BulkPlan,
    HasFault,
    ShapeError,
    Step,
    Unsupported,
    body_children,
    record_path,
)
from connectors.config import Pagination, SourceConfig, StreamConfig, WsseUsernameAuth, XRoadAuth
from connectors.errors import (
    AuthRefused,
    ConnectorError,
    HeaderMismatch,
    HostileResponse,
    MalformedResponse,
    MissingResponseElement,
    NotSoapReply,
    RecordsNotFound,
    RequestRejected,
    SoapServerFault,
)
from connectors.http import HttpCaller, Response
from connectors.keypages import listed_keys
from connectors.pagination import Follow, Page, PageRequest, paginator, walk
from connectors.secrets import Redactor
from connectors.soapreply import Where, decode_reply, too_many_bad_records
from connectors.types import RawPage
from connectors.wsdl import localiser_for, serve_builtin, wsdl_location, zeep_settings
from core.errors import ConfigError

log = logging.getLogger(__name__)
XROAD_NS = xroad.XROAD_NS
T = TypeVar("T")
_SHAPE_ERRORS: dict[str, type[ConnectorError]] = {
    "not_envelope": NotSoapReply, "no_response": MissingResponseElement, "no_records": RecordsNotFound}


class _Reply:
    """The bits of a requests.Response that zeep's `process_reply` reads."""

    def __init__(self, response: Response, content: bytes) -> None:
        self.status_code = response.status
        self.content = content
        self.headers = response.headers
        self.encoding = "utf-8"


def _local_only_transport() -> Any:
    from zeep.transports import Transport

    class LocalOnly(Transport):
        """zeep loads only the local files the localiser wrote, and the built-in schemas."""

        def _load_remote_data(self, url: str) -> bytes:
            data = serve_builtin(url)
            if data is None:
                raise ConfigError(f"zeep tried to fetch {url!r}; WSDLs and XSDs load through the catalog")
            return data

    return LocalOnly()  # type: ignore[no-untyped-call]


def load_client(where: str, location: str, localise: Callable[[str], Path | None], wsse: Any = None,
                source: str | None = None) -> Any:
    """A zeep Client over the local copy of `location`; zeep's and lxml's errors as ConfigErrors."""
    import zeep
    from zeep import exceptions as zx

    path = localise(location)
    if path is None:
        raise ConfigError(f"{where}: cannot load {location!r}", source=source)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            client = zeep.Client(  # type: ignore[no-untyped-call]
                str(path), transport=_local_only_transport(), settings=zeep_settings(), wsse=wsse)
        for warning in caught:  # zeep warns of WSDL parts it could not read: say whose WSDL
            log.warning("%s: WSDL %s: %s", where, location, warning.message)
        return client
    except (zx.Error, etree.XMLSyntaxError, etree.XMLSchemaError, LookupError, ValueError) as exc:
        raise ConfigError(f"{where}: WSDL {location!r} cannot be loaded: {type(exc).__name__}: "
                          f"{str(exc)[:300]}", source=source) from None


def soap_ports(client: Any) -> Iterator[tuple[str, str, Any]]:
    """(service, port, binding) of every port, SOAP or not."""
    for sname, service in client.wsdl.services.items():
        for pname, port in service.ports.items():
            yield sname, pname, port.binding


def pick_binding(client: Any, where: str, service: str | None, port: str | None, version: str,
                 notes: list[str] | None = None) -> tuple[str, str, Any]:
    """The SOAP port to use: the named service/port, else the first of the wanted SOAP version."""
    from zeep.wsdl.bindings.soap import Soap12Binding, SoapBinding

    found = []
    notes = [] if notes is None else notes
    for sname, pname, binding in soap_ports(client):
        if (service and sname != service) or (port and pname != port):
            continue
        if not isinstance(binding, SoapBinding):
            notes.append(f"skipped port {sname}/{pname}: {type(binding).__name__} is not a SOAP binding")
            continue
        found.append((sname, pname, binding))
    for sname, pname, binding in found:
        if isinstance(binding, Soap12Binding) == (version == "1.2"):
            return sname, pname, binding
    have = ", ".join(f"{s}/{p} ({'1.2' if isinstance(b, Soap12Binding) else '1.1'})" for s, p, b in found)
    skipped = "".join(f"; {n}" for n in (notes or []))
    raise ConfigError(f"{where}: soap.version: the WSDL has no SOAP {version} port"
                      + (f" (SOAP ports: {have})" if have else " (it has no SOAP port at all)") + skipped)


def at_path(data: Any, steps: list[Step]) -> list[Any]:
    """The values at a path of element names in zeep's serialized reply, repeated steps flattened."""
    values = [data]
    for step in steps:
        found: list[Any] = []
        for value in values:
            child = value.get(step.name) if isinstance(value, Mapping) else None
            if isinstance(child, list):
                found.extend(child)
            elif child is not None:
                found.append(child)
        values = found
    return values


class SoapReader:
    def __init__(self, source: SourceConfig, caller: HttpCaller, redactor: Redactor,
                 environ: Mapping[str, str] | None = None) -> None:
        from zeep.wsse.username import UsernameToken

        assert source.soap is not None
        self.source, self.caller, self.redactor = source, caller, redactor
        auth = source.auth
        wsse = None
        if isinstance(auth, WsseUsernameAuth):
            user = value_of(auth.username, source, redactor, environ) or ""
            wsse = UsernameToken(user, value_of(auth.secret, source, redactor, environ))  # type: ignore[no-untyped-call]
        where = source.path.name
        with tempfile.TemporaryDirectory(prefix="lienthong-wsdl-") as workdir:
            localiser = localiser_for(source, Path(workdir), self._fetch)
            self.client = load_client(where, wsdl_location(source), localiser.localise, wsse, source.name)
        soap = source.soap
        _, _, self.binding = pick_binding(self.client, where, soap.service, soap.port, soap.version)
        self._plans: dict[tuple[str, str, str | None], BulkPlan | None] = {}
        self._paths: dict[tuple[str, str], tuple[Any, list[Step]]] = {}
        self.request_ids: list[str] = []  # the X-Road ids sent, in order (kept with the run)
        self._xroad = self._xroad_identifiers()

    def _xroad_identifiers(self) -> tuple[xroad.Identifier, xroad.Identifier] | None:
        auth = self.source.auth
        if not isinstance(auth, XRoadAuth):
            return None
        try:
            return (xroad.Identifier.parse(str(auth.xroad_client), "auth.xroad_client"),
                    xroad.Identifier.parse(str(auth.xroad_service_prefix), "auth.xroad_service_prefix"))
        except ValueError as exc:
            raise ConfigError(f"{self.source.path.name}: {exc}", source=self.source.name) from None

    def _fetch(self, url: str) -> bytes:
        return self.caller.call("GET", url, operation="wsdl", page="-", parse=lambda r: r.content)

    # --- one call ---------------------------------------------------------------------------------

    def _headers(self, operation: str, request_id: str) -> list[etree._Element]:
        if self._xroad is None:
            return []
        auth = self.source.auth
        assert isinstance(auth, XRoadAuth)
        client, service = self._xroad
        if auth.xroad_headers == "5":
            name = f"{service.subsystem or service.member_code}.{operation}.{auth.xroad_service_version or 'v1'}"
            return xroad.headers_v5({"asutus": client.member_code, "andmekogu": service.subsystem,
                                     "isikukood": auth.xroad_user_id, "nimi": name, "toimik": auth.xroad_issue},
                                    request_id)
        return xroad.headers_v4(client, service, operation, request_id=request_id,
                                user_id=auth.xroad_user_id, issue=auth.xroad_issue,
                                protocol_version=auth.xroad_protocol_version,
                                service_version=auth.xroad_service_version)

    def envelope(self, operation: str, args: Mapping[str, Any],
                 request_id: str | None = None) -> tuple[bytes, dict[str, str]]:
        from zeep import exceptions as zx

        kwargs = _nest(args)
        headers = self._headers(operation, request_id or xroad.new_request_id())
        if headers:
            kwargs["_soapheaders"] = headers
        try:
            envelope, http_headers = self.binding._create(operation, (), kwargs, client=self.client)
        except (zx.Error, TypeError, ValueError) as exc:
            raise ConfigError(f"{self.source.path.name}: operation {operation}: the request cannot be built "
                              f"from the declared params ({type(exc).__name__}: {str(exc)[:200]})",
                              source=self.source.name) from None
        return etree.tostring(envelope, encoding="utf-8", xml_declaration=True), dict(http_headers)

    def _error(self, exc: Exception, operation: str, page: str, content: bytes) -> ConnectorError:
        from zeep import exceptions as zx

        name, excerpt = self.source.name, self.redactor.excerpt(content)
        if isinstance(exc, zx.Fault):
            code = str(exc.code or "")
            text = f"SOAP Fault {code}: {self.redactor(str(exc.message))}"
            if "Authentication" in code or "AccessDenied" in code:
                return AuthRefused(text, source=name, operation=operation, page=page)
            if code.rpartition(":")[2].startswith(("Server", "Receiver")):
                return SoapServerFault(text, source=name, operation=operation, page=page)
            return RequestRejected(text, source=name, operation=operation, page=page)
        if isinstance(exc, (zx.DTDForbidden, zx.EntitiesForbidden, zx.ExternalReferenceForbidden)):
            return HostileResponse(f"refused XML with {type(exc).__name__}", source=name, operation=operation,
                                   page=page, excerpt=excerpt)
        return MalformedResponse(f"unreadable reply ({type(exc).__name__}: {self.redactor(str(exc))[:200]})",
                                 source=name, operation=operation, page=page, excerpt=excerpt[-200:])

    def _path(self, operation: str, path: str) -> tuple[Any, list[Step]]:
        key = (operation, path)
        if key not in self._paths:
            try:
                response, steps, _ = record_path(self.binding, operation, path)
            except (ValueError, KeyError) as exc:
                raise ConfigError(f"{self.source.path.name}: operation {operation}: {exc}",
                                  source=self.source.name) from None
            self._paths[key] = (response, steps)
        return self._paths[key]

    def _shape_error(self, exc: ShapeError, operation: str, page: str, content: bytes) -> ConnectorError:
        return _SHAPE_ERRORS[exc.kind](str(exc), source=self.source.name, operation=operation, page=page,
                                       excerpt=self.redactor.excerpt(content[:300]))

    def _zeep_read(self, operation: str, response: Response, content: bytes, page: str, records: str,
                   token: str | None) -> tuple[list[Any], str | None, etree._Element | None]:
        from zeep import exceptions as zx
        from zeep.helpers import serialize_object
        from zeep.loader import parse_xml
        from zeep.xsd.context import XmlParserContext

        try:
            root = parse_xml(content, self.client.transport, settings=self.client.settings)  # type: ignore[arg-type]
        except (zx.Error, etree.XMLSyntaxError, ValueError) as exc:
            raise self._error(exc, operation, page, content) from None
        try:
            if root.tag not in ENVELOPE_TAGS:
                raise ShapeError("not_envelope", f"an XML document <{etree.QName(root).localname}>, "
                                                 "not a SOAP envelope")
            body = root.find("{*}Body")
            first = next((c for c in body if isinstance(c.tag, str)), None) if body is not None else None
            if (first is not None and first.tag in FAULT_TAGS) or response.status != 200:
                self.binding.process_reply(self.client, self.binding.get(operation), _Reply(response, content))
                raise MalformedResponse(f"HTTP {response.status} without a SOAP Fault", source=self.source.name,
                                        operation=operation, page=page, excerpt=self.redactor.excerpt(content))
            element, steps = self._path(operation, records)
            if first is None or first.tag != element.qname.text:
                raise ShapeError("no_response", f"the Body holds {body_children(root) or 'nothing'}, not the "
                                                f"operation's response <{element.qname.localname}>")
            stray = _stray(first, element, steps)
            if stray:
                raise ShapeError("no_records", f"records path {records!r} matched nothing, and the response "
                                               f"holds <{'>, <'.join(stray)}>")
            value = element.parse(first, self.client.wsdl.types,
                                  context=XmlParserContext(settings=self.client.settings))  # type: ignore[no-untyped-call]
        except ShapeError as exc:
            raise self._shape_error(exc, operation, page, content) from None
        except (zx.Error, etree.XMLSyntaxError, ValueError, TypeError) as exc:
            raise self._error(exc, operation, page, content) from None
        data = serialize_object(value, dict)  # type: ignore[no-untyped-call]
        items = at_path(data, steps)
        next_token = None
        if token:
            found = at_path(data, self._path(operation, token)[1])
            next_token = str(found[0]) if found else None
        return items, next_token, root

    def plan(self, operation: str, records: str, token: str | None) -> BulkPlan | None:
        """The bulk plan, or None (zeep) when the bulk path cannot mirror this operation's types."""
        key = (operation, records, token)
        if key not in self._plans:
            self._path(operation, records)  # a records path the WSDL lacks is a config error either way
            try:
                self._plans[key] = BulkPlan(self.binding, operation, records, token)
            except Unsupported as exc:
                log.warning("[%s] operation %s: the bulk path cannot read %s (%s); reading it with zeep",
                            self.source.name, operation, records, exc)
                self._plans[key] = None
        return self._plans[key]

    def call(self, operation: str, args: Mapping[str, Any], page: str, bulk: bool, records: str,
             token: str | None, then: Callable[[list[Any], str | None, bool], T]) -> T:
        """One operation, retried as the source says. `then` gets the records, the next token and whether
        the reply had bad UTF-8; it runs inside the retry, so a Retriable it raises is retried."""
        request_id = xroad.new_request_id()
        body, headers = self.envelope(operation, args, request_id)
        plan = self.plan(operation, records, token) if bulk else None
        where = Where(self.source.name, operation, page, self.redactor)

        def parse(response: Response) -> T:
            content, bad_utf8 = decode_reply(response.content, response.headers.get("content-type"), where)
            # Refuse a DTD before any parser sees it: zeep checks only after lxml has parsed (and
            # lxml may fail first on entity amplification, which would read as a mere malformed body).
            if b"<!DOCTYPE" in content or b"<!ENTITY" in content:
                raise HostileResponse("refused XML with a DTD or entity declaration", source=self.source.name,
                                      operation=operation, page=page, excerpt=where.excerpt(content))
            items, next_token = self._read(plan, operation, response, content, page, records, token)
            if bad_utf8:
                too_many_bad_records(items, where, content)
            self._check_echo(content, request_id, operation, page)
            return then(items, next_token, bad_utf8)

        self.request_ids.append(request_id)
        return self.caller.call("POST", self.source.endpoint, operation=operation, page=page, parse=parse,
                                ok_statuses=(200, 500), content=body, headers=headers)

    def _read(self, plan: BulkPlan | None, operation: str, response: Response, content: bytes, page: str,
              records: str, token: str | None) -> tuple[list[Any], str | None]:
        if plan is not None and response.status == 200:
            try:
                return plan.parse(content)
            except HasFault:
                pass
            except ShapeError as exc:
                raise self._shape_error(exc, operation, page, content) from None
            except etree.XMLSyntaxError as exc:
                raise self._error(exc, operation, page, content) from None
        items, next_token, _ = self._zeep_read(operation, response, content, page, records, token)
        return items, next_token

    def read_reply(self, operation: str, response: Response, records: str, token: str | None, *,
                   bulk: bool) -> tuple[list[Any], str | None]:
        """One reply's records and next token, by the bulk path or by zeep (for tests and benchmarks)."""
        plan = self.plan(operation, records, token) if bulk else None
        return self._read(plan, operation, response, response.content, "-", records, token)

    def _check_echo(self, content: bytes, request_id: str, operation: str, page: str) -> None:
        if self._xroad is None:
            return
        head = content[:content.find(b"Body>") + 5 if b"Body>" in content else 8192]
        try:
            root = etree.fromstring(head + b"</soap:Body></soap:Envelope>" if b"Body>" in content else content,
                                    etree.XMLParser(recover=True, resolve_entities=False, no_network=True))
        except etree.XMLSyntaxError:
            root = None
        echoed = xroad.echoed_id(root) if root is not None else None
        if echoed != request_id:
            raise HeaderMismatch(f"the reply's X-Road id {echoed!r} is not the request's {request_id!r}: it "
                                 "answers another request" if echoed else
                                 f"the reply does not echo the X-Road id {request_id!r}",
                                 source=self.source.name, operation=operation, page=page)

    # --- streams ----------------------------------------------------------------------------------

    def _walk(self, operation: str, args: Mapping[str, Any], records: str, pagination: Pagination,
              bulk: bool) -> Iterator[tuple[PageRequest, tuple[list[Any], bool, str | None]]]:
        """(request, (records, bad_utf8, X-Road id or None)) of every page of `operation`."""
        # What the next page depends on, read from the reply: a token, or the declared total pages.
        meta: str | None = getattr(pagination, "cursor_field", None) or getattr(pagination, "total_pages_field", None)

        def fetch(current: PageRequest, follow: Follow) -> tuple[tuple[list[Any], bool, str | None],
                                                                  PageRequest | None]:
            def then(items: list[Any], token: str | None, bad_utf8: bool) -> tuple[tuple[list[Any], bool],
                                                                                    PageRequest | None]:
                body = _nest({meta: token}) if meta else {}
                return (items, bad_utf8), follow(Page(body, None, len(items)))

            (items, bad_utf8), after = self.call(operation, current.params, current.label, bulk, records,
                                                 meta.replace(".", "/") if meta else None, then)
            return (items, bad_utf8, self.request_ids[-1] if self._xroad else None), after

        return walk(paginator(pagination, self.source.name, operation), fetch, operation, args)

    def pages(self, stream: StreamConfig, since: datetime | None) -> Iterator[RawPage]:
        assert stream.operation is not None
        args: dict[str, Any] = dict(stream.params)
        if stream.incremental is not None and since is not None:
            args[stream.incremental.param] = since
        for request, (items, bad_utf8, request_id) in self._walk(stream.operation, args, stream.records,
                                                               stream.pagination, stream.bulk):
            # The X-Road message id travels with the page label into `_page` and the quarantine's provenance.
            label = f"{request.label} xroad-id={request_id}" if request_id else request.label
            yield RawPage(label, items, bad_utf8)

    def keys(self, stream: StreamConfig) -> Iterator[list[str]]:
        d = stream.deletes
        assert d.operation is not None and d.records is not None
        for request, (items, _, _) in self._walk(d.operation, {}, d.records, d.pagination, stream.bulk):
            yield listed_keys(items, source=self.source.name, operation=d.operation, page=request.label)


def _nest(args: Mapping[str, Any]) -> dict[str, Any]:
    """Dotted parameter names as nested structures: `keha.kuupaev` -> {"keha": {"kuupaev": ...}}."""
    out: dict[str, Any] = {}
    for name, value in args.items():
        *parents, leaf = name.split(".")
        target = out
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = value
    return out


def _stray(response_el: etree._Element, response: Any, steps: list[Step]) -> list[str]:
    """When no record is at the path: the undeclared child elements where the path gave out."""
    level, xsd = [response_el], response
    for step in steps:
        declared = {el.qname.text: el for _, el in (getattr(xsd.type, "elements", None) or [])}
        nxt = [c for el in level for c in el if c.tag == step.tag]
        if not nxt:
            return list(dict.fromkeys(etree.QName(c).localname for el in level for c in el
                                      if isinstance(c.tag, str) and c.tag not in declared))
        level, xsd = nxt, declared[step.tag]
    return []
