"""Signed checkpoints of the audit chain's head, kept outside the database.

A checkpoint says "at time T the chain ended at entry N with seal H", signed with the audit key ring's
current key (HMAC-SHA256), one JSON line appended to a file per database under
`LIENTHONG_AUDIT_CHECKPOINTS` (default `./var/audit-checkpoints`; in production a volume the database's
administrators cannot write, or an object store synced from it). The API's audit writer appends one every
`EVERY` seconds when the chain moved and on shutdown; `lienthong audit checkpoint` appends one on demand.
`verify` then holds the chain to every checkpoint: an entry the checkpoint saw must still be there with
the same seal, so neither rewriting nor cutting off the newest entries goes unseen, as X-Road's message
log signs and time-stamps its batches.

`legacy_upto` records how many leading entries were sealed before keys existed (plain sha256): past it,
an unkeyed entry is a rewrite.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core.keys import KeyRing, key_ring

if TYPE_CHECKING:
    from sharing.api.audit_tables import Problem

EVERY = 60.0


@dataclass(frozen=True, slots=True)
class Checkpoint:
    seq: int
    hash: str
    at: str
    legacy_upto: int
    key_id: str

    def body(self) -> bytes:
        return json.dumps({k: v for k, v in asdict(self).items()}, sort_keys=True, separators=(",", ":")).encode()


def _fingerprint(url: str) -> str:
    """The file's name for a database: its URL without credentials, hashed."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    bare = parts._replace(netloc=host).geturl()
    return hashlib.sha256(bare.encode()).hexdigest()[:16]


def path_for(url: str, environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    folder = Path(env.get("LIENTHONG_AUDIT_CHECKPOINTS") or "var/audit-checkpoints").resolve()
    return folder / f"{_fingerprint(url)}.jsonl"


def _mac(key: bytes, mark: Checkpoint) -> str:
    return hmac.new(key, mark.body(), hashlib.sha256).hexdigest()


def take(conn: Connection, url: str, ring: KeyRing | None = None,
         environ: Mapping[str, str] | None = None) -> Checkpoint | None:
    """Append a signed checkpoint of the chain's head as it is in `conn`'s view; None for an empty chain."""
    from sharing.api.audit_tables import audit_head, audit_log

    seq, seal = conn.execute(sa.select(audit_head.c.seq, audit_head.c.hash)).one()
    if int(seq) == 0:
        return None
    first_keyed = conn.execute(sa.select(sa.func.min(audit_log.c.seq)).where(audit_log.c.key_id.is_not(None))).scalar()
    legacy = int(first_keyed) - 1 if first_keyed is not None else int(seq)
    ring = ring or key_ring("audit", environ)
    key_id, key = ring.current
    mark = Checkpoint(int(seq), str(seal), datetime.now(UTC).isoformat(timespec="seconds"), legacy, key_id)
    path = path_for(url, environ)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({**asdict(mark), "mac": _mac(key, mark)}, sort_keys=True) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    with os.fdopen(fd, "a", encoding="utf-8") as out:
        out.write(line)
        out.flush()
        os.fsync(out.fileno())
    return mark


def read(url: str, ring: KeyRing, environ: Mapping[str, str] | None = None
         ) -> tuple[list[Checkpoint], list[Problem]]:
    """The checkpoints whose signature holds, and a problem for each line that does not."""
    from sharing.api.audit_tables import Problem

    path = path_for(url, environ)
    if not path.exists():
        return [], []
    marks: list[Checkpoint] = []
    problems: list[Problem] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw: dict[str, Any] = json.loads(line)
            mac = str(raw.pop("mac"))
            mark = Checkpoint(int(raw["seq"]), str(raw["hash"]), str(raw["at"]), int(raw["legacy_upto"]),
                              str(raw["key_id"]))
        except (ValueError, KeyError, TypeError):
            problems.append(Problem(0, "checkpoint", f"{path.name} line {n}: not a checkpoint"))
            continue
        key = ring.get(mark.key_id)
        if key is None or not hmac.compare_digest(_mac(key, mark), mac):
            problems.append(Problem(mark.seq, "checkpoint", f"{path.name} line {n}: signature does not verify"))
            continue
        marks.append(mark)
    return marks, problems
