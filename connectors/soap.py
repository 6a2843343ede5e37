"""SOAP through zeep: the WSDL drives messages; our HTTP caller carries them (retries, size bound).

zeep builds each envelope (WS-Security UsernameToken applied, X-Road headers added) and reads each
reply (hardened: no DTD, no entities, no external references). A stream marked `bulk: true` reads its
replies with the lxml bulk path instead (connectors/bulk.py), and falls back to zeep for a Fault.
SOAP 1.1 or 1.2 is whatever the chosen port's binding says; `soap.version` picks the port when a
service offers both.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from lxml import etree

from connectors.auth import value_of
from connectors.bulk import BulkPlan, HasFault
from connectors.config import Pagination, SourceConfig, StreamConfig
from connectors.errors import (
    AuthRefused,
    ConnectorError,
    HostileResponse,
    MalformedResponse,
    RequestRejected,
    SoapServerFault,
)
from connectors.http import HttpCaller, Response
from connectors.pagination import Page, PageRequest, paginator
from connectors.secrets import Redactor
from connectors.types import RawPage
from connectors.wsdl import WsdlLocaliser, wsdl_location, zeep_settings
from core.errors import ConfigError

XROAD_NS = "http://x-road.eu/xsd/xroad.xsd"
T = TypeVar("T")


class _Reply:
    """The bits of a requests.Response that zeep's `process_reply` reads."""

    def __init__(self, response: Response, content: bytes) -> None:
        self.status_code = response.status
        self.content = content
        self.headers = response.headers
        self.encoding = "utf-8"


def unwrap(data: Any) -> Any:
    """zeep's reply without the SOAP headers the WSDL declares for the output (X-Road echoes them)."""
    if isinstance(data, dict) and set(data) == {"header", "body"}:
        return data["body"]
    return data


def clean_utf8(content: bytes) -> tuple[bytes, bool]:
    """The body, with any bytes that are not UTF-8 replaced by U+FFFD (flagged later), and whether any were."""
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return content.decode("utf-8", "replace").encode("utf-8"), True
    return content, False


def _local_only_transport() -> Any:
    from zeep.transports import Transport

    class LocalOnly(Transport):
        """zeep loads only the local files the localiser wrote; any network fetch is a bug."""

        def _load_remote_data(self, url: str) -> bytes:
            raise ConfigError(f"zeep tried to fetch {url!r}; WSDLs and XSDs load through the catalog")

    return LocalOnly()  # type: ignore[no-untyped-call]


class SoapReader:
    def __init__(self, source: SourceConfig, caller: HttpCaller, redactor: Redactor,
                 environ: Mapping[str, str] | None = None) -> None:
        import zeep
        from zeep.wsse.username import UsernameToken

        assert source.soap is not None
        self.source, self.caller, self.redactor = source, caller, redactor
        auth = source.auth
        wsse = None
        if auth.type == "wsse_username":
            user = value_of(auth.username, source, redactor, environ) or ""
            wsse = UsernameToken(user, value_of(auth.secret, source, redactor, environ))  # type: ignore[no-untyped-call]
        with tempfile.TemporaryDirectory(prefix="lienthong-wsdl-") as workdir:
            path = WsdlLocaliser(source, Path(workdir), self._fetch).localise(wsdl_location(source))
            self.client = zeep.Client(  # type: ignore[no-untyped-call]
                str(path), transport=_local_only_transport(), settings=zeep_settings(), wsse=wsse)
        self.binding = self._pick_binding()
        self._plans: dict[tuple[str, str], BulkPlan] = {}

    def _fetch(self, url: str) -> bytes:
        return self.caller.call("GET", url, operation="wsdl", page="-", parse=lambda r: r.content)

    def _pick_binding(self) -> Any:
        soap = self.source.soap
        assert soap is not None
        from zeep.wsdl.bindings.soap import Soap12Binding

        services = self.client.wsdl.services
        service = services[soap.service] if soap.service else next(iter(services.values()))
        ports = [service.ports[soap.port]] if soap.port else list(service.ports.values())
        want_12 = soap.version == "1.2"
        for port in ports:
            if isinstance(port.binding, Soap12Binding) == want_12:
                return port.binding
        raise ConfigError(f"{self.source.path.name}: soap.version: the WSDL has no SOAP {soap.version} port",
                          source=self.source.name)

    # --- one call ---------------------------------------------------------------------------------

    def _headers(self, operation: str) -> list[etree._Element]:
        auth = self.source.auth
        if auth.type != "xroad":
            return []
        values = {"client": str(auth.xroad_client), "service": f"{auth.xroad_service_prefix}/{operation}",
                  "userId": auth.xroad_user_id or "lienthong", "id": uuid.uuid4().hex,
                  "protocolVersion": auth.xroad_protocol_version}
        out = []
        for name, value in values.items():
            element = etree.Element(f"{{{XROAD_NS}}}{name}", nsmap={"xrd": XROAD_NS})
            element.text = value
            out.append(element)
        return out

    def envelope(self, operation: str, args: Mapping[str, Any]) -> tuple[bytes, dict[str, str]]:
        kwargs = dict(args)
        headers = self._headers(operation)
        if headers:
            kwargs["_soapheaders"] = headers
        envelope, http_headers = self.binding._create(operation, (), kwargs, client=self.client)
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

    def _zeep_read(self, operation: str, response: Response, content: bytes, page: str) -> dict[str, Any]:
        from zeep import exceptions as zx
        from zeep.helpers import serialize_object

        try:
            result = self.binding.process_reply(self.client, self.binding.get(operation), _Reply(response, content))
        except (zx.Error, etree.XMLSyntaxError, ValueError) as exc:
            raise self._error(exc, operation, page, content) from None
        data = unwrap(serialize_object(result, dict))  # type: ignore[no-untyped-call]
        return data if isinstance(data, dict) else {}

    def _bulk_read(self, plan: BulkPlan, operation: str, response: Response, content: bytes,
                   page: str) -> dict[str, Any]:
        try:
            records, token = plan.parse(content)
        except HasFault:
            return self._zeep_read(operation, response, content, page)
        except etree.XMLSyntaxError as exc:
            raise self._error(exc, operation, page, content) from None
        if response.status != 200:
            return self._zeep_read(operation, response, content, page)
        return {plan.records_name: records, str(plan.token_name): token}

    def plan(self, operation: str, records: str, token: str | None) -> BulkPlan:
        key = (operation, records)
        if key not in self._plans:
            self._plans[key] = BulkPlan(self.binding, operation, records, token)
        return self._plans[key]

    def call(self, operation: str, args: Mapping[str, Any], page: str, bulk: bool, records: str,
             token: str | None, then: Callable[[dict[str, Any], bool], T]) -> T:
        """One operation, retried as the source says. `then` gets the reply as a dict and whether it had
        bad UTF-8; it runs inside the retry, so a Retriable it raises (a pagination loop) is retried."""
        body, headers = self.envelope(operation, args)
        plan = self.plan(operation, records, token) if bulk else None

        def parse(response: Response) -> T:
            content, bad_utf8 = clean_utf8(response.content)
            # Refuse a DTD before any parser sees it: zeep checks only after lxml has parsed (and
            # lxml may fail first on entity amplification, which would read as a mere malformed body).
            if b"<!DOCTYPE" in content or b"<!ENTITY" in content:
                raise HostileResponse("refused XML with a DTD or entity declaration", source=self.source.name,
                                      operation=operation, page=page,
                                      excerpt=self.redactor.excerpt(content[:300]))
            if plan is not None:
                return then(self._bulk_read(plan, operation, response, content, page), bad_utf8)
            return then(self._zeep_read(operation, response, content, page), bad_utf8)

        return self.caller.call("POST", self.source.endpoint, operation=operation, page=page, parse=parse,
                                ok_statuses=(200, 500), content=body, headers=headers)

    # --- streams ----------------------------------------------------------------------------------

    def _walk(self, operation: str, args: Mapping[str, Any], records: str, pagination: Pagination,
              bulk: bool) -> Iterator[tuple[PageRequest, list[Any], bool]]:
        strategy = paginator(pagination, self.source.name, operation)
        request: PageRequest | None = strategy.first(operation, args)
        followed: set[str] = set()
        while request is not None:
            current = request

            def then(data: dict[str, Any], bad_utf8: bool, current: PageRequest = current) -> tuple[
                    list[Any], bool, PageRequest | None]:
                items = data.get(records) or []
                if not isinstance(items, list):
                    items = [items]
                return items, bad_utf8, strategy.next(current, Page(data, None, len(items)), followed)

            items, bad_utf8, request = self.call(operation, current.params, current.label, bulk, records,
                                                 pagination.cursor_field, then)
            followed.add(current.label)
            yield current, items, bad_utf8

    def pages(self, stream: StreamConfig, since: datetime | None) -> Iterator[RawPage]:
        assert stream.operation is not None
        args: dict[str, Any] = dict(stream.params)
        if stream.incremental is not None and since is not None:
            args[stream.incremental.param] = since
        for request, items, bad_utf8 in self._walk(stream.operation, args, stream.records, stream.pagination,
                                                   stream.bulk):
            yield RawPage(request.label, items, bad_utf8)

    def keys(self, stream: StreamConfig) -> Iterator[list[str]]:
        d = stream.deletes
        assert d.operation is not None and d.records is not None
        for _, items, _ in self._walk(d.operation, {}, d.records, d.pagination, stream.bulk):
            yield [str(k) for k in items]

