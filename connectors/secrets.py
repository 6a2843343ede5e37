"""Resolving secret references, and keeping their values out of logs and errors.

A secret is resolved when a connector is opened, never when a source file is loaded, and an Airflow
connection is looked up (importing Airflow) only when a reference names one.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping

from connectors.config import SecretRef
from core.errors import ConfigError

_MASK = "***"


def resolve(ref: SecretRef, source: str, environ: Mapping[str, str] | None = None) -> str:
    """The secret's value. Errors name the reference, never a value."""
    env = os.environ if environ is None else environ
    if ref.env:
        value = env.get(ref.env) or ref.default
        if not value:
            raise ConfigError(f"secret {ref.describe()} is not set", source=source)
        return value
    return _from_airflow(ref, source)


def _from_airflow(ref: SecretRef, source: str) -> str:
    from airflow.sdk import BaseHook  # Airflow only when a reference names it

    try:
        conn = BaseHook.get_connection(str(ref.airflow_conn))
    except Exception as exc:  # Airflow raises its own not-found type, which varies by version
        raise ConfigError(
            f"secret {ref.describe()}: Airflow connection not found ({type(exc).__name__})", source=source
        ) from None
    if ref.conn_field == "password":
        value = conn.password
    elif ref.conn_field == "login":
        value = conn.login
    else:
        extra = json.loads(conn.extra or "{}")
        value = extra.get(ref.extra_key or "")
    if not value:
        raise ConfigError(f"secret {ref.describe()} is empty", source=source)
    return str(value)


class Redactor:
    """Replaces every known secret value (and Authorization-like values) with `***`."""

    _AUTH_HEADER = re.compile(
        r"(?i)(authorization|x-api-key|password|client_secret|access_token)"
        r"([\"']?\s*[:=]\s*[\"']?)((?:bearer|basic)\s+)?([^\s\"'&,<]+)")

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = {s for s in secrets if s}

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= 3:
            self._secrets.add(secret)

    def __call__(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, _MASK)
        return self._AUTH_HEADER.sub(lambda m: m.group(1) + m.group(2) + (m.group(3) or "") + _MASK, text)

    def excerpt(self, data: bytes | str, limit: int = 300) -> str:
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        text = self(text)
        return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"
