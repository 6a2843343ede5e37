"""HTTP auth for REST and SOAP sources: API key, bearer, basic, OAuth2 client credentials, mTLS.

Each is an `httpx.Auth`, so the client is built once with it and every request (retries included)
goes through it. Secrets are resolved here, when a connector opens, and registered with the redactor.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator, Mapping
from typing import Any

import httpx

from connectors.config import ApiKeyAuth, BasicAuth, BearerAuth, OAuth2Auth, SecretRef, SourceConfig
from connectors.errors import AuthRefused, MalformedResponse, SourceUnavailable
from connectors.secrets import Redactor, resolve


def value_of(ref: str | SecretRef | None, source: SourceConfig, redactor: Redactor,
             environ: Mapping[str, str] | None = None) -> str | None:
    if ref is None or isinstance(ref, str):
        return ref
    value = resolve(ref, source.name, environ)
    redactor.add(value)
    return value


class HeaderAuth(httpx.Auth):
    """A fixed header: `X-API-Key: ...` or `Authorization: Bearer ...`."""

    def __init__(self, header: str, value: str) -> None:
        self._header, self._value = header, value

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[self._header] = self._value
        yield request


class OAuth2ClientCredentials(httpx.Auth):
    """Client-credentials grant: fetch a token, reuse it until shortly before expiry, and fetch a new
    one (then resend once) when the server answers 401 to it."""

    requires_response_body = True
    _EARLY = 10.0  # seconds before expiry to renew, so a token does not die in flight

    def __init__(self, source: str, token_url: str, client_id: str, client_secret: str,
                 client_auth: str = "basic", scope: str | None = None) -> None:
        self._source, self._token_url = source, token_url
        self._client_id, self._client_secret = client_id, client_secret
        self._client_auth, self._scope = client_auth, scope
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()

    def _token_request(self) -> httpx.Request:
        data = {"grant_type": "client_credentials"}
        if self._scope:
            data["scope"] = self._scope
        if self._client_auth == "form":
            data |= {"client_id": self._client_id, "client_secret": self._client_secret}
            return httpx.Request("POST", self._token_url, data=data)
        request = httpx.Request("POST", self._token_url, data=data)
        return next(httpx.BasicAuth(self._client_id, self._client_secret).auth_flow(request))

    def _take(self, response: httpx.Response) -> None:
        if response.status_code == 429 or response.status_code >= 500:
            raise SourceUnavailable(f"token endpoint answered {response.status_code}", source=self._source,
                                    operation="token", status=response.status_code)
        if response.status_code != 200:
            raise AuthRefused(f"token endpoint refused the client ({response.status_code})",
                              source=self._source, operation="token", status=response.status_code)
        try:
            body: dict[str, Any] = response.json()
            token = str(body["access_token"])
        except (ValueError, KeyError, TypeError):
            raise MalformedResponse("token endpoint answered without a readable access_token",
                                    source=self._source, operation="token", status=200) from None
        self._token = token
        lifetime = float(body.get("expires_in") or 300)
        self._expires_at = time.monotonic() + lifetime - min(self._EARLY, lifetime / 10)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self._token is None or time.monotonic() >= self._expires_at:
            self._take((yield self._token_request()))
        request.headers["Authorization"] = f"Bearer {self._token}"
        response = yield request
        if response.status_code == 401:
            self._take((yield self._token_request()))
            request.headers["Authorization"] = f"Bearer {self._token}"
            yield request


def build_auth(source: SourceConfig, redactor: Redactor,
               environ: Mapping[str, str] | None = None) -> httpx.Auth | None:
    """The httpx auth for a source (None for SOAP header-based auth, which zeep adds)."""
    auth = source.auth
    secret = value_of(getattr(auth, "secret", None), source, redactor, environ)
    if isinstance(auth, ApiKeyAuth):
        return HeaderAuth(auth.header, str(secret))
    if isinstance(auth, BearerAuth):
        return HeaderAuth("Authorization", f"Bearer {secret}")
    if isinstance(auth, BasicAuth):
        return httpx.BasicAuth(value_of(auth.username, source, redactor, environ) or "", str(secret))
    if isinstance(auth, OAuth2Auth):
        token_url = str(auth.token_url)
        if token_url.startswith("/"):
            token_url = source.endpoint + token_url
        client_id = value_of(auth.client_id, source, redactor, environ) or ""
        return OAuth2ClientCredentials(source.name, token_url, client_id, str(secret), auth.client_auth,
                                       auth.scope)
    return None


def tls_options(source: SourceConfig, redactor: Redactor,
                environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """httpx client options for server verification and mutual TLS."""
    import ssl

    tls = source.tls
    if tls.client_cert is None and tls.verify is True:
        return {}
    if tls.verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif isinstance(tls.verify, str):
        context = ssl.create_default_context(cafile=tls.verify)
    else:
        context = ssl.create_default_context()
    if tls.client_cert:
        key = value_of(tls.client_key, source, redactor, environ)
        context.load_cert_chain(tls.client_cert, keyfile=key)
    return {"verify": context}
