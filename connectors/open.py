"""Opening a source: resolve its secrets, build (or take) its HTTP client, pick its protocol reader."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import httpx

from connectors.auth import build_auth, tls_options
from connectors.config import SourceConfig
from connectors.http import HttpCaller, build_client
from connectors.secrets import Redactor
from connectors.types import Reader


@contextmanager
def open_reader(source: SourceConfig, redactor: Redactor, client: httpx.Client | None = None,
                environ: Mapping[str, str] | None = None) -> Iterator[tuple[Reader, HttpCaller]]:
    """A reader for the source. A client passed in is used as it is (its auth included) and not closed."""
    own = client is None
    if client is None:
        client = build_client(source, build_auth(source, redactor, environ), tls_options(source, redactor, environ))
    try:
        caller = HttpCaller(source, client, redactor)
        if source.protocol == "rest":
            from connectors.rest import RestReader

            yield RestReader(source, caller), caller
        else:
            from connectors.soap import SoapReader

            yield SoapReader(source, caller, redactor, environ), caller
    finally:
        if own:
            client.close()
