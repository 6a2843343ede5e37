"""Opaque page cursors: the position after the last row, signed so a client cannot forge or reuse one.

A cursor is `base64url(json).base64url(hmac)`; the HMAC covers the position and the query it belongs to
(endpoint and filters), so a cursor from one query is refused by another. The key comes from
`LIENTHONG_API_SECRET`, or is random per process (cursors then die with the process).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from functools import cache
from typing import Any

MAX_CURSOR_LENGTH = 1000


class BadCursor(ValueError):
    pass


@cache
def _key() -> bytes:
    secret = os.environ.get("LIENTHONG_API_SECRET")
    return secret.encode() if secret else secrets.token_bytes(32)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(scope: str, body: bytes) -> bytes:
    return hmac.new(_key(), scope.encode() + b"\0" + body, hashlib.sha256).digest()[:16]


def encode(scope: str, position: list[Any]) -> str:
    body = json.dumps(position, separators=(",", ":")).encode()
    return f"{_b64(body)}.{_b64(_mac(scope, body))}"


def decode(scope: str, cursor: str) -> list[Any]:
    if len(cursor) > MAX_CURSOR_LENGTH or cursor.count(".") != 1:
        raise BadCursor("malformed cursor")
    body_text, mac_text = cursor.split(".")
    try:
        body, mac = _unb64(body_text), _unb64(mac_text)
    except ValueError as exc:
        raise BadCursor("malformed cursor") from exc
    if not hmac.compare_digest(mac, _mac(scope, body)):
        raise BadCursor("cursor not valid for this query")
    position = json.loads(body)
    if not isinstance(position, list):
        raise BadCursor("malformed cursor")
    return position
