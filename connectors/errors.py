"""What can go wrong while pulling a source, classed by what the caller should do.

Every error names the source, the operation (REST path or SOAP operation) and the page, and carries a
redacted excerpt of what the agency sent. Retriable errors are retried inside the connector first; one
that reaches the caller has used up its attempts.

| error | class | raised when |
|---|---|---|
| `SourceUnavailable` | Retriable | connection error, timeout, 429, 5xx (after the retries) |
| `MalformedResponse` | Retriable | truncated, not valid JSON/XML, not the declared media type or shape |
| `PaginationLoop` | Retriable | a page hands back a token or link already followed |
| `SoapServerFault` | Retriable | a `soap:Server` Fault |
| `UnexpectedShape` | Fatal | valid JSON of another shape than declared (a retry will not fix it) |
| `HostileResponse` | Fatal | XML with a DTD, entities or external references; a body over the size bound |
| `AuthRefused` | Fatal | 401/403, a `Client.Authentication` or `Client.AccessDenied` Fault |
| `RequestRejected` | Fatal | any other 4xx, any other `soap:Client` Fault |
| `StateError` | Fatal | a state that does not fit the stream, a record without its cursor value |
| `NotSoapReply` | Malformed | a 200 whose body is HTML, plain text, JSON or an XML document that is no SOAP envelope |
| `EncodingError` | Malformed | invalid UTF-8 outside record values, an XML declaration or charset that lies |
| `MissingResponseElement` | Malformed | an envelope whose Body holds neither the operation's response nor a Fault |
| `RecordsNotFound` | Malformed | a non-empty response where the declared records path matches nothing |
| `HeaderMismatch` | Fatal | the echoed X-Road `id` (or client/service) differs from the request's |
"""

from __future__ import annotations

from core.errors import Fatal, LienthongError, Retriable


def _message(message: str, operation: str | None, page: str | None, excerpt: str | None) -> str:
    where = " ".join(p for p in (f"operation {operation}" if operation else "",
                                  f"page {page}" if page else "") if p)
    text = f"{where}: {message}" if where else message
    return f"{text}; excerpt: {excerpt!r}" if excerpt else text


class ConnectorError(LienthongError):
    def __init__(
        self, message: str, *, source: str, operation: str | None = None, page: str | None = None,
        excerpt: str | None = None, status: int | None = None,
    ) -> None:
        super().__init__(_message(message, operation, page, excerpt), source=source,
                         operation=operation, page=page, excerpt=excerpt, status=status)
        self.operation, self.page, self.excerpt, self.status = operation, page, excerpt, status


class SourceUnavailable(ConnectorError, Retriable):
    pass


class MalformedResponse(ConnectorError, Retriable):
    pass


class PaginationLoop(ConnectorError, Retriable):
    pass


class SoapServerFault(ConnectorError, Retriable):
    pass


class UnexpectedShape(ConnectorError, Fatal):
    pass


class HostileResponse(ConnectorError, Fatal):
    pass


class AuthRefused(ConnectorError, Fatal):
    pass


class RequestRejected(ConnectorError, Fatal):
    pass


class StateError(ConnectorError, Fatal):
    pass


class NotSoapReply(MalformedResponse):
    """A 200 whose body is not a SOAP envelope: an HTML page, plain text, JSON, another XML document."""


class EncodingError(MalformedResponse):
    """A body that is not in the encoding it declares (invalid UTF-8, a lying XML declaration)."""


class MissingResponseElement(MalformedResponse):
    """A SOAP envelope whose Body holds neither the operation's response element nor a Fault."""


class RecordsNotFound(MalformedResponse):
    """A non-empty response in which the declared records path matches nothing."""


class HeaderMismatch(ConnectorError, Fatal):
    """The reply's echoed X-Road headers do not match the request (another request's answer)."""
