"""The SOAP front end as an ASGI app: WSDL at `?wsdl`, operations dispatched on the Body's element.

Order of a POST: bounded read, hardened parse, auth, then one seeded request-fault draw, then the
operation. Request-level faults never change the data: a retry sees the same records.
"""

from __future__ import annotations

import asyncio
import logging
import re
from functools import cache
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from agencies.base import Simulator
from agencies.soap import hostile, operations
from agencies.soap.render import escape, render_fault, xroad_header
from agencies.soap.request import MAX_REQUEST_BYTES, SoapFault, SoapRequest, check_wsse, check_xroad, parse
from agencies.soap.services import SERVICES, Service

log = logging.getLogger(__name__)

WSDL_DIR = Path(__file__).parent / "wsdl"
XML_CONTENT_TYPE = "text/xml; charset=utf-8"
_ADDRESS = re.compile(rb'(<soap:address\s+location=")[^"]*(")')


@cache
def wsdl_template(file_name: str) -> bytes:
    return (WSDL_DIR / file_name).read_bytes()


def wsdl_for(service: Service, base_url: str) -> bytes:
    """The service's WSDL with its soap:address pointing at `base_url` (scheme://host:port)."""
    location = escape(base_url.rstrip("/") + service.path).encode()
    return _ADDRESS.sub(lambda m: m.group(1) + location + m.group(2), wsdl_template(service.wsdl_file), count=1)


def _xml(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(body, status_code=status, media_type=XML_CONTENT_TYPE, headers=headers)


async def _read_bounded(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_REQUEST_BYTES:
        raise SoapFault("soap:Client", f"request of {declared} bytes exceeds {MAX_REQUEST_BYTES} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_REQUEST_BYTES:
            raise SoapFault("soap:Client", f"request exceeds {MAX_REQUEST_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class SoapEndpoint:
    """One service (`/ws/land` or `/ws/business`) of one simulator."""

    def __init__(self, sim: Simulator, service: Service) -> None:
        self.sim = sim
        self.service = service

    async def handle(self, request: Request) -> Response:
        if request.method == "GET":
            if any(name.lower() == "wsdl" for name in request.query_params):
                return _xml(wsdl_for(self.service, f"{request.url.scheme}://{request.url.netloc}"))
            return PlainTextResponse(
                f"POST a SOAP 1.1 envelope here; the WSDL is at {self.service.path}?wsdl",
                status_code=405, headers={"Allow": "GET, POST"},
            )
        try:
            return await self._post(request)
        except SoapFault as fault:
            echo = xroad_header(fault.headers) if fault.headers else ""
            return _xml(render_fault(fault.faultcode, fault.message, echo), status=fault.status)
        except Exception:
            log.exception("%s: unexpected error serving a request", self.service.path)
            return _xml(render_fault("soap:Server", "internal error in the simulator"), status=500)

    async def _post(self, request: Request) -> Response:
        soap = parse(await _read_bounded(request), self.service)
        if self.service.agency == "land":
            check_wsse(soap, self.sim.credentials)
            return await self._answer(soap, "")
        echoed = check_xroad(soap, self.sim.credentials)
        try:
            return await self._answer(soap, xroad_header(echoed))
        except SoapFault as fault:
            fault.headers = fault.headers or echoed  # a Fault echoes the X-Road headers too
            raise

    async def _answer(self, soap: SoapRequest, echo: str) -> Response:
        """An authenticated request: one seeded request-fault draw, then the operation."""
        fault = self.sim.faults.request_fault()
        if fault in ("http_500", "http_503", "soap_fault"):
            status = 503 if fault == "http_503" else 500
            message = "service unavailable" if fault == "http_503" else "the registry database did not answer"
            return _xml(render_fault("soap:Server", f"{message} (injected fault {fault})", echo), status=status)
        if fault == "rate_limit":
            body = render_fault("soap:Server", "rate limit exceeded, retry later (injected fault)", echo)
            return _xml(body, status=429, headers={"Retry-After": "1"})
        if fault == "slow":
            await asyncio.sleep(self.sim.faults.slow_seconds)

        op = self.service.operations[soap.operation]
        if op.kind == "changes":
            body = operations.changes(self.sim, self.service, op, soap.params, fault, echo)
        elif op.kind == "keys":
            body = operations.keys(self.sim, self.service, op, soap.params, fault, echo)
        else:
            body = operations.get(self.sim, self.service, op, soap.params, echo)

        if fault == "truncated":
            body = hostile.truncated(body)
        elif fault == "malformed":
            body = hostile.malformed(body)
        elif fault == "xxe":
            body = hostile.xxe(body)
        elif fault == "billion_laughs":
            body = hostile.billion_laughs(body)
        elif fault == "html_200":
            return Response(hostile.html_200(body), media_type="text/html; charset=utf-8")
        elif fault == "not_xml":
            return Response(hostile.not_xml(body), media_type="text/plain")
        elif fault == "wrong_element":
            body = hostile.wrong_element(body)
        elif fault == "records_renamed":
            body = hostile.records_renamed(body, op.item)
        elif fault == "cp1258_body":
            body = hostile.cp1258_body(body)
        elif fault == "lying_encoding":
            # no charset parameter to contradict it: the declaration alone lies
            return Response(hostile.lying_encoding(body), headers={"Content-Type": "text/xml"})
        elif fault == "wrong_id":
            body = hostile.wrong_id(body)
        return _xml(body)


def routes(sim: Simulator) -> list[BaseRoute]:
    """The SOAP routes of `sim` (its one service), for an app that adds its own (admin) routes."""
    if sim.agency not in SERVICES:
        raise ValueError(f"{sim.agency} does not speak SOAP; the SOAP simulators are {', '.join(SERVICES)}")
    service = SERVICES[sim.agency]  # type: ignore[index]
    out: list[BaseRoute] = [Route(service.path, SoapEndpoint(sim, service).handle, methods=["GET", "POST"])]
    if sim.agency == "business":  # the same register as an X-Road 4.x provider (agencies/soap/xroad_business.py)
        from agencies.soap import xroad_business

        out.extend(xroad_business.routes(sim))
    return out


def build_app(sim: Simulator) -> Starlette:
    """An ASGI app serving `sim`'s SOAP service and its WSDL."""
    return Starlette(routes=routes(sim))
