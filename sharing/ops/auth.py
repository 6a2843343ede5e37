"""Operator login for the dashboard: scrypt password hashes, an HMAC-signed session cookie, CSRF tokens.

Operators are declared in a YAML file named by `LIENTHONG_OPS_OPERATORS`:

    operators:
      an_operator: {password_hash: "scrypt$16384$8$1$<salt hex>$<hash hex>"}

Make a hash with `python -m sharing.ops.auth` (it asks for the password). The session secret is
`LIENTHONG_OPS_SECRET`, or a random one per process (sessions then end when the service restarts).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from core.errors import ConfigError

SESSION_COOKIE = "lt_ops_session"
LOGIN_COOKIE = "lt_ops_login"
SESSION_SECONDS = 8 * 3600
_N, _R, _P = 2**14, 8, 1


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(digest) // 2)
    except ValueError:
        return False
    return hmac.compare_digest(got.hex(), digest)


def load_operators(path: Path) -> dict[str, str]:
    """name -> password hash, from an operators file."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the operators file: {exc}", source="ops") from exc
    nodes = document.get("operators") if isinstance(document, Mapping) else None
    if not isinstance(nodes, Mapping):
        raise ConfigError(f"{path}: an operators file is a mapping with an `operators` mapping", source="ops")
    out: dict[str, str] = {}
    for name, node in nodes.items():
        digest = node.get("password_hash") if isinstance(node, Mapping) else None
        if not isinstance(digest, str) or not digest.startswith("scrypt$"):
            raise ConfigError(f"{path}: operators.{name}.password_hash: expected a scrypt hash", source="ops")
        out[str(name)] = digest
    return out


@dataclass(slots=True)
class OpsState:
    operators: dict[str, str] = field(default_factory=dict)
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    airflow_url: str = "http://127.0.0.1:8080"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> OpsState:
        env = os.environ if environ is None else environ
        path = env.get("LIENTHONG_OPS_OPERATORS")
        secret = env.get("LIENTHONG_OPS_SECRET")
        return cls(operators=load_operators(Path(path)) if path else {},
                   secret=secret.encode() if secret else secrets.token_bytes(32),
                   airflow_url=(env.get("LIENTHONG_AIRFLOW_URL") or "http://127.0.0.1:8080").rstrip("/"))

    def sign(self, payload: Mapping[str, Any]) -> str:
        body = base64.urlsafe_b64encode(json.dumps(payload, sort_keys=True).encode()).decode()
        mac = hmac.new(self.secret, body.encode(), hashlib.sha256).hexdigest()
        return f"{body}.{mac}"

    def unsign(self, token: str | None) -> dict[str, Any] | None:
        """The payload of a token this process signed and that has not expired; None otherwise."""
        if not token or "." not in token:
            return None
        body, mac = token.rsplit(".", 1)
        if not hmac.compare_digest(mac, hmac.new(self.secret, body.encode(), hashlib.sha256).hexdigest()):
            return None
        try:
            payload = json.loads(base64.urlsafe_b64decode(body.encode()))
        except ValueError:
            return None
        if not isinstance(payload, dict) or float(payload.get("exp", 0)) < time.time():
            return None
        return payload

    def login(self, name: str, password: str) -> str | None:
        """A session token for a right name and password; None otherwise (the same answer for both wrongs)."""
        stored = self.operators.get(name)
        # Hash even for an unknown name, so the answer's timing does not tell which names exist.
        ok = check_password(password, stored or hash_password("-", b"0" * 16))
        if not (ok and stored):
            return None
        return self.sign({"op": name, "csrf": secrets.token_hex(16), "exp": time.time() + SESSION_SECONDS})


def main(argv: list[str] | None = None) -> None:
    """`python -m sharing.ops.auth [NAME]`: ask a password, print its hash (or a whole operators entry)."""
    import argparse
    import getpass

    parser = argparse.ArgumentParser(
        prog="python -m sharing.ops.auth",
        description="Make a scrypt password hash for the dashboard's operators file (LIENTHONG_OPS_OPERATORS). "
                    "Asks the password twice; nothing is stored.")
    parser.add_argument("name", nargs="?", help="print a whole `operators:` entry for this operator name")
    args = parser.parse_args(argv)
    password = getpass.getpass("operator password: ")
    if getpass.getpass("again: ") != password or not password:
        parser.exit(1, "error: the passwords differ or are empty\n")
    digest = hash_password(password)
    print(f"operators:\n  {args.name}: {{password_hash: \"{digest}\"}}" if args.name else digest)


if __name__ == "__main__":
    main()
