"""uvicorn's HTTP protocol for the API: an over-long URL reaches the app, which refuses it (414) and audits it.

uvicorn's httptools protocol answers a URL over 64 KiB (httptools parses URL offsets as 16-bit) with its own
plain-text 400, which no middleware sees, so no audit entry. This protocol keeps the first bytes of such a
URL and records its true length in the scope (`URL_BYTES_KEY`); the gateway then answers 414 and audits it.
`lienthong serve`, the benchmark and the tests run uvicorn with `http=PROTOCOL`.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

URL_BYTES_KEY = "lienthong.url_bytes"
PEER_CERT_KEY = "lienthong.peer_cert_sha256"  # the TLS client certificate's fingerprint (mTLS), hex
KEEP_BYTES = 16_384  # more than the gateway's limit, so a kept URL is still refused as too long
PROTOCOL = "sharing.api.server:HttpProtocol"


class HttpProtocol(HttpToolsProtocol):
    """Also puts the SHA-256 of the TLS client certificate (uvicorn with --ssl-cert-reqs 2) in each scope,
    so a security server can be trusted by its certificate."""

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._peer_cert: str | None = None
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if der:
            import hashlib

            self._peer_cert = hashlib.sha256(der).hexdigest()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._peer_cert is not None:
            scope: dict[str, Any] = self.scope  # type: ignore[assignment]
            scope[PEER_CERT_KEY] = self._peer_cert

    def on_url(self, url: bytes) -> None:
        scope: dict[str, Any] = self.scope  # type: ignore[assignment]
        total = int(scope.get(URL_BYTES_KEY, len(self.url))) + len(url)
        if total > KEEP_BYTES:
            scope[URL_BYTES_KEY] = total
            url = url[:max(0, KEEP_BYTES - len(self.url))]
        self.url += url
