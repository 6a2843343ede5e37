"""Opaque page tokens: where a page ends, carried by the client, checked by the server.

A token is urlsafe base64 of compact JSON with a keyed checksum, so a client cannot forge or garble one
into a crash: anything that does not decode and verify is a `TokenError` (a soap:Client Fault).
Each page is built from the token alone, so tokens stay valid while the clock does not move.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass

from agencies.base import FeedPosition

# Not a secret: the checksum only tells a damaged token from a good one.
_KEY = b"lienthong-agency-simulator-page-token-v1"
_DIGEST_SIZE = 8


class TokenError(ValueError):
    """A page token that did not come from this server, or came back damaged."""


@dataclass(frozen=True, slots=True)
class FeedToken:
    dataset: str
    since: str  # ISO 8601 UTC with Z
    after: FeedPosition | None  # None: from the start of the feed


@dataclass(frozen=True, slots=True)
class KeysToken:
    dataset: str
    after: str | None


def _sign(payload: bytes) -> bytes:
    return hashlib.blake2b(payload, key=_KEY, digest_size=_DIGEST_SIZE).digest()


def _encode(obj: dict[str, object]) -> str:
    payload = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(_sign(payload) + payload).rstrip(b"=").decode("ascii")


def _decode(token: str) -> dict[str, object]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError) as e:
        raise TokenError("page token is not valid base64") from e
    checksum, payload = raw[:_DIGEST_SIZE], raw[_DIGEST_SIZE:]
    if len(checksum) < _DIGEST_SIZE or not hmac.compare_digest(checksum, _sign(payload)):
        raise TokenError("page token checksum does not match: not issued by this server, or damaged")
    obj = json.loads(payload)
    if not isinstance(obj, dict):
        raise TokenError("page token payload is not an object")
    return obj


def encode_feed(token: FeedToken) -> str:
    after = None if token.after is None else [token.after.updated_at, token.after.key]
    return _encode({"d": token.dataset, "s": token.since, "a": after})


def decode_feed(token: str, dataset: str) -> FeedToken:
    obj = _decode(token)
    since, after = obj.get("s"), obj.get("a")
    if obj.get("d") != dataset or not isinstance(since, str):
        raise TokenError(f"page token is not a {dataset} change-feed token")
    if after is None:
        return FeedToken(dataset, since, None)
    if not (isinstance(after, list) and len(after) == 2 and all(isinstance(x, str) for x in after)):
        raise TokenError("page token position is malformed")
    return FeedToken(dataset, since, FeedPosition(updated_at=after[0], key=after[1]))


def encode_keys(token: KeysToken) -> str:
    return _encode({"d": token.dataset, "k": token.after})


def decode_keys(token: str, dataset: str) -> KeysToken:
    obj = _decode(token)
    after = obj.get("k")
    if obj.get("d") != dataset or "k" not in obj or not (after is None or isinstance(after, str)):
        raise TokenError(f"page token is not a {dataset} key-listing token")
    return KeysToken(dataset, after)
