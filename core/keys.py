"""Secret keys that must live outside the database: the audit MAC keys and the webhook signing key.

A key ring is read from `LIENTHONG_<NAME>_KEYS` (`id=hex[,id=hex...]`) or from the file that
`LIENTHONG_<NAME>_KEYS_FILE` names (one `id=hex` a line). Without either, a file under
`./var/keys/<name>.keys` is created on first use (mode 0600), so the embedded default works and a
production deployment mounts its own file or secret. The last key of the ring signs; every key in it
verifies, so rotating is appending a key (`add_key`), and old entries stay verifiable.
Key material never appears in an error message.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from core.errors import SettingsError

_LINE = re.compile(r"^([A-Za-z0-9_.-]{1,40})=([0-9a-fA-F]{32,256})$")


@dataclass(frozen=True, slots=True)
class KeyRing:
    name: str
    keys: tuple[tuple[str, bytes], ...]  # (id, key), oldest first
    path: Path | None  # where it was read from, when a file

    @property
    def current(self) -> tuple[str, bytes]:
        return self.keys[-1]

    def get(self, key_id: str) -> bytes | None:
        return next((k for i, k in self.keys if i == key_id), None)


def _parse(name: str, text: str, where: str) -> tuple[tuple[str, bytes], ...]:
    keys = []
    for n, raw in enumerate(re.split(r"[\n,]", text), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        found = _LINE.match(line)
        if not found:
            raise SettingsError(f"{where}: entry {n} is not `id=hex` (at least 16 bytes of hex)")
        keys.append((found.group(1), bytes.fromhex(found.group(2))))
    if not keys:
        raise SettingsError(f"{where}: no key in it")
    if len({i for i, _ in keys}) != len(keys):
        raise SettingsError(f"{where}: a key id appears twice")
    return tuple(keys)


def default_path(name: str) -> Path:
    return Path("var/keys").resolve() / f"{name}.keys"


def key_ring(name: str, environ: Mapping[str, str] | None = None) -> KeyRing:
    env = os.environ if environ is None else environ
    var = f"LIENTHONG_{name.upper()}_KEYS"
    if env.get(var):
        return KeyRing(name, _parse(name, env[var], var), None)
    path = Path(env[f"{var}_FILE"]) if env.get(f"{var}_FILE") else default_path(name)
    if not path.exists():
        if env.get(f"{var}_FILE"):
            raise SettingsError(f"{var}_FILE={path}: no such file")
        add_key(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read the {name} keys ({exc.strerror})") from None
    return KeyRing(name, _parse(name, text, str(path)), path)


def add_key(path: Path, key_id: str | None = None) -> str:
    """Append a new random key to the ring file (created 0600); its id. The new key signs from now on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = path.read_text(encoding="utf-8").split() if path.exists() else []
    new_id = key_id or f"k{len(existing) + 1}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as out:
        out.write(f"{new_id}={secrets.token_hex(32)}\n")
    return new_id
