"""Credentials: API keys, stored only as SHA-256 digests, and the stated purpose of each request.

A key is 32 random bytes (`lt_` + 43 base64url characters), so an unsalted SHA-256 is enough: there is
nothing to guess by dictionary, and the digest lookup is one dictionary access per request.
"""

from __future__ import annotations

import hashlib
import secrets

from sharing.api.policy import Client, Policy

KEY_HEADER = "X-API-Key"
PURPOSE_HEADER = "X-Purpose"
MAX_KEY_LENGTH = 200


def new_key() -> str:
    return "lt_" + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def authenticate(policy: Policy, key: str | None) -> Client | None:
    if not key or len(key) > MAX_KEY_LENGTH:
        return None
    return policy.by_key_hash.get(hash_key(key))
