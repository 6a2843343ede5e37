"""The business register as an X-Road 4.x service provider: `/xroad/business` on the business simulator.

Unlike `/ws/business` (flat, one namespace), this service looks like the X-Road services agencies run:
- the WSDL (`wsdl/xroad/business.wsdl`) imports its types from five XSDs by absolute https URLs on the
  register's own site (`https://xsd.dkkd.example.vn/2025/...`, served here under `/xroad/business/xsd/`)
  and `http://x-road.eu/xsd/xroad.xsd`, so a client loads it only through a catalog;
- parameters inside `request/keha` (`tuThoiDiem`, page number `trang`, page size `soBanGhi`); the reply
  echoes the request and carries the data in `response/keha`, records three levels down
  (`response/keha/doanhNghieps/doanhNghiep`), each with a nested address and legal representative,
  repeated business lines and its status as an attribute; `tongSoTrang` says how many pages there are;
- the X-Road headers are structured identifiers, each validated against xroad.xsd/identifiers.xsd
  (`xsd/`, from nordic-institute/X-Road, MIT): `client` must be on the allow-list, `service` must name
  this provider (`VN/GOV/000.00.00.H02/dkkd`) and the operation, `id` and `protocolVersion` 4.x are
  required; every header is echoed verbatim (a Fault echoes them too).
Request faults are the simulator's (PROTOCOL.md), except duplicate_page and stale_cursor, which page
numbers counted by the client make meaningless.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from functools import cache
from pathlib import Path

from lxml import etree
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from agencies.base import Record, Simulator
from agencies.soap import hostile
from agencies.soap.operations import parse_since
from agencies.soap.render import escape, lexical, render_fault
from agencies.soap.request import SoapFault, _parser
from agencies.soap.services import SOAP_ENV_NS, XROAD_NS

HERE = Path(__file__).parent
WSDL_DIR = HERE / "wsdl" / "xroad"
PATH = "/xroad/business"
NAMESPACE = "http://dkkd.example.vn/producer"
IDENTIFIERS_NS = "http://x-road.eu/xsd/identifiers"
PROVIDER = "VN/GOV/000.00.00.H02/dkkd"
DATASET = "enterprises"
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 100, 1000
_LINES = ("4711", "4620", "6201", "4100", "1071", "5610", "4933", "6810")


def business_lines(code: str) -> list[str]:
    """An enterprise's business lines (not in the world's data: derived from its code, 1 to 3 of them)."""
    digest = hashlib.blake2b(code.encode(), digest_size=4).digest()
    return [_LINES[(digest[0] + 3 * i) % len(_LINES)] for i in range(1 + digest[1] % 3)]


@cache
def _header_schema() -> etree.XMLSchema:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.XMLSchema(etree.parse(str(HERE / "xsd" / "xroad.xsd"), parser))


def wsdl_bytes(base_url: str) -> bytes:
    text = (WSDL_DIR / "business.wsdl").read_text(encoding="utf-8")
    return text.replace("http://localhost:8702/xroad/business", escape(base_url.rstrip("/") + PATH)).encode()


def _fault(code: str, message: str, echo: str = "", status: int = 500) -> Response:
    return Response(render_fault(code, message, echo), status_code=status, media_type="text/xml; charset=utf-8")


def _identifier(element: etree._Element) -> str:
    return "/".join((c.text or "").strip() for c in element if isinstance(c.tag, str))


def check_headers(header: etree._Element | None, operation: str, allowed: tuple[str, ...]) -> str:
    """The headers validated as X-Road 4.x; returns them serialised for the echo."""
    found = {etree.QName(el).localname: el for el in (header if header is not None else [])
             if isinstance(el.tag, str) and etree.QName(el).namespace == XROAD_NS}
    echo = "".join(etree.tostring(el, encoding="unicode") for el in found.values())
    schema = _header_schema()
    for name, element in found.items():
        if not schema.validate(etree.ElementTree(_detached(element))):
            error = schema.error_log.last_error
            raise SoapFault("soap:Client", f"X-Road header {name} does not validate against xroad.xsd: "
                                           f"{error.message if error else 'invalid'}", headers={"__echo__": echo})
    missing = [n for n in ("client", "service", "id", "protocolVersion") if n not in found]
    if missing:
        raise SoapFault("soap:Client", "missing X-Road header(s): " + ", ".join(missing), headers={"__echo__": echo})
    client = _identifier(found["client"])
    if client not in allowed:
        raise SoapFault("soap:Client.AccessDenied", f"client {client!r} is not on the allow-list",
                        headers={"__echo__": echo})
    service = _identifier(found["service"])
    if not service.startswith(f"{PROVIDER}/{operation}"):
        raise SoapFault("soap:Client", f"service {service!r} is not {PROVIDER}/{operation}[/version]",
                        headers={"__echo__": echo})
    if not (found["protocolVersion"].text or "").strip().startswith("4."):
        raise SoapFault("soap:Client", "protocolVersion must be 4.x", headers={"__echo__": echo})
    return echo


def _detached(element: etree._Element) -> etree._Element:
    return etree.fromstring(etree.tostring(element))


def _int(keha: etree._Element | None, name: str, default: int, low: int, high: int) -> int:
    found = None if keha is None else keha.find(name)
    text = (found.text or "").strip() if found is not None else ""
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise SoapFault("soap:Client", f"keha/{name} {text[:40]!r} is not an xsd:int") from None
    if not low <= value <= high:
        raise SoapFault("soap:Client", f"keha/{name} {value} is outside {low}..{high}")
    return value


def _el(name: str, value: object) -> str:
    return "" if value is None else f"<{name}>{escape(lexical(value))}</{name}>"


def render_enterprise(record: Record) -> str:
    status = record.get("status")
    attr = f' trangThai="{escape(lexical(status))}"' if status is not None else ""
    address = "".join((_el("maTinh", record.get("provinceCode")), _el("maXa", record.get("communeCode")),
                       _el("chiTiet", record.get("address"))))
    person = _el("hoTen", record.get("legalRepName")) + _el("soGiayTo", record.get("legalRepId"))
    lines = "".join(_el("maNganh", code) for code in business_lines(str(record.get("enterpriseCode"))))
    return "".join((
        f"<doanhNghiep{attr}>", _el("maSoDoanhNghiep", record.get("enterpriseCode")),
        _el("tenDoanhNghiep", record.get("name")), _el("loaiHinh", record.get("enterpriseType")),
        _el("ngayDangKy", record.get("registeredDate")), _el("vonDieuLe", record.get("charterCapitalVnd")),
        f"<diaChi>{address}</diaChi>" if address else "", f"<nguoiDaiDien>{person}</nguoiDaiDien>" if person else "",
        f"<nganhNghe>{lines}</nganhNghe>", _el("capNhatLuc", record.get("updatedAt")), "</doanhNghiep>"))


def _envelope(echo: str, body: str) -> bytes:
    text = (f'<?xml version="1.0" encoding="utf-8"?>\n<soap:Envelope xmlns:soap="{SOAP_ENV_NS}">'
            f"<soap:Header>{echo}</soap:Header><soap:Body>{body}</soap:Body></soap:Envelope>")
    return text.encode("utf-8", "surrogateescape")


class XRoadBusinessEndpoint:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    async def wsdl(self, request: Request) -> Response:
        if any(name.lower() == "wsdl" for name in request.query_params):
            base = f"{request.url.scheme}://{request.url.netloc}"
            return Response(wsdl_bytes(base), media_type="text/xml; charset=utf-8")
        return PlainTextResponse(f"POST an X-Road 4.x SOAP 1.1 envelope here; the WSDL is at {PATH}?wsdl",
                                 status_code=405)

    async def xsd(self, request: Request) -> Response:
        name = request.path_params["name"]
        path = WSDL_DIR / name
        if "/" in name or not name.endswith(".xsd") or not path.is_file():
            return PlainTextResponse("no such schema", status_code=404)
        return Response(path.read_bytes(), media_type="text/xml; charset=utf-8")

    async def handle(self, request: Request) -> Response:
        if request.method == "GET":
            return await self.wsdl(request)
        echo = ""
        try:
            body = await request.body()
            if len(body) > 64 * 1024 or b"<!DOCTYPE" in body or b"<!ENTITY" in body:
                raise SoapFault("soap:Client", "request too large, or with a DTD")
            try:
                root = etree.fromstring(body, _parser())
            except etree.XMLSyntaxError as exc:
                raise SoapFault("soap:Client", f"request is not well-formed XML: {exc}") from None
            if root.tag != f"{{{SOAP_ENV_NS}}}Envelope":
                raise SoapFault("soap:Client", "the document is not a SOAP 1.1 Envelope")
            body_el = root.find(f"{{{SOAP_ENV_NS}}}Body")
            ops = [c for c in (body_el if body_el is not None else []) if isinstance(c.tag, str)]
            if len(ops) != 1 or etree.QName(ops[0]).namespace != NAMESPACE:
                raise SoapFault("soap:Client", "the Body must hold one operation of " + NAMESPACE)
            operation = etree.QName(ops[0]).localname
            if operation not in ("layThayDoiDoanhNghiep", "layDanhSachMaDoanhNghiep"):
                raise SoapFault("soap:Client", f"unknown operation {operation}")
            echo = check_headers(root.find(f"{{{SOAP_ENV_NS}}}Header"), operation,
                                 self.sim.credentials.business_allowed_clients)
            return await self._answer(operation, ops[0], echo)
        except SoapFault as fault:
            echo = fault.headers.get("__echo__", echo) if fault.headers else echo
            return _fault(fault.faultcode, fault.message, echo, fault.status)

    async def _answer(self, operation: str, op: etree._Element, echo: str) -> Response:
        fault = self.sim.faults.request_fault()
        if fault in ("http_500", "http_503", "soap_fault"):
            return _fault("soap:Server", f"the register did not answer (injected fault {fault})", echo,
                          503 if fault == "http_503" else 500)
        if fault == "rate_limit":
            response = _fault("soap:Server", "rate limit exceeded (injected fault)", echo, 429)
            response.headers["Retry-After"] = "1"
            return response
        if fault == "slow":
            await asyncio.sleep(self.sim.faults.slow_seconds)
        request_el = op.find("request")
        keha = request_el.find("keha") if request_el is not None else None
        page = _int(keha, "trang", 1, 1, 10**9)
        size = _int(keha, "soBanGhi", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
        echoed_request = etree.tostring(request_el, encoding="unicode") if request_el is not None else "<request/>"
        store = self.sim.store
        if operation == "layThayDoiDoanhNghiep":
            since_el = keha.find("tuThoiDiem") if keha is not None else None
            since = parse_since(since_el.text if since_el is not None else None)
            rows = store.page_at_offset(DATASET, since, (page - 1) * size, size)  # type: ignore[attr-defined]
            import json

            records = self.sim.faults.apply(DATASET, [json.loads(b) for _, _, b in rows])
            pages = max(1, math.ceil(store.count(DATASET, since) / size))
            data = f"<doanhNghieps>{''.join(render_enterprise(r) for r in records)}</doanhNghieps>"
        else:
            codes = store.keys_at_offset(DATASET, (page - 1) * size, size)  # type: ignore[attr-defined]
            pages = max(1, math.ceil(store.count_keys(DATASET) / size))  # type: ignore[attr-defined]
            data = f"<maSos>{''.join(_el('maSo', c) for c in codes)}</maSos>"
        body = _envelope(echo, f'<dk:{operation}Response xmlns:dk="{NAMESPACE}">{echoed_request}'
                               f"<response><keha><tongSoTrang>{pages}</tongSoTrang>{data}</keha></response>"
                               f"</dk:{operation}Response>")
        damage = {"truncated": hostile.truncated, "malformed": hostile.malformed, "xxe": hostile.xxe,
                  "billion_laughs": hostile.billion_laughs, "wrong_id": hostile.wrong_id,
                  "cp1258_body": hostile.cp1258_body, "wrong_element": hostile.wrong_element}
        if fault in damage:
            body = damage[fault](body)
        elif fault == "html_200":
            return Response(hostile.html_200(body), media_type="text/html; charset=utf-8")
        elif fault == "not_xml":
            return Response(hostile.not_xml(body), media_type="text/plain")
        elif fault == "records_renamed":
            body = hostile.records_renamed(body, "doanhNghiep")
        elif fault == "lying_encoding":
            return Response(hostile.lying_encoding(body), headers={"Content-Type": "text/xml"})
        return Response(body, media_type="text/xml; charset=utf-8")


def routes(sim: Simulator) -> list[BaseRoute]:
    endpoint = XRoadBusinessEndpoint(sim)
    return [Route(PATH, endpoint.handle, methods=["GET", "POST"]),
            Route(f"{PATH}/xsd/{{name}}", endpoint.xsd, methods=["GET"])]
