"""SOAP 1.1 front ends of the land registry and business registration simulators.

`build_app(sim)` serves `/ws/land` or `/ws/business` (and `?wsdl`) for a `Simulator` (agencies/base.py);
`routes(sim)` gives the same routes to an app that adds its own. The serialisers in
`agencies.soap.render` are plain functions (records in, bytes out) for benchmarks.

What a zeep client sees (zeep 4.3, `Settings(strict=True, forbid_dtd=True, forbid_entities=True)`):
- land: `Client(url + "?wsdl", wsse=UsernameToken(user, password))`, then
  `client.service.GetParcelChanges(since=..., pageToken=..., pageSize=...)` returns `parcel` and
  `nextPageToken`.
- business: pass the X-Road headers as `_soapheaders={"client": ..., "service": ..., "userId": ...,
  "id": ..., "protocolVersion": "4.0"}`; because the WSDL declares them on the output too (as X-Road
  WSDLs do), the result is `result.header` (the echo) and `result.body` (`enterprise`, `nextPageToken`).
- an empty element (`districtCode` of a current-code record) reads as None, not "".
- a value that does not parse as its XSD type: zeep logs and returns None for xsd:date / xsd:int /
  xsd:dateTime, reads any xsd:boolean other than "true"/"1" as False, and raises
  `decimal.InvalidOperation` for xsd:decimal; an element the schema does not
  know (drift) raises `zeep.exceptions.XMLParseError` in strict mode.
- a SOAP Fault raises `zeep.exceptions.Fault` with `.code` (`soap:Client.Authentication`,
  `soap:Client.AccessDenied`, `soap:Client`, `soap:Server`); truncated or malformed bodies raise
  `zeep.exceptions.TransportError`; a DOCTYPE raises `DTDForbidden`.
"""

from __future__ import annotations

from agencies.soap.app import build_app, routes, wsdl_for
from agencies.soap.render import render_codes, render_fault, render_response
from agencies.soap.services import SERVICES

__all__ = ["SERVICES", "build_app", "render_codes", "render_fault", "render_response", "routes", "wsdl_for"]
