"""Data subjects in the audit log: who looked up this citizen ID or tax code, when, and for what purpose.

Each answer's audit entry records the data subjects it disclosed: the values of the identifier columns
(the contract columns normalised as a party or citizen identifier: tax codes, citizen IDs, holders',
investors' and legal representatives' IDs) in the rows it returned, as HMAC-SHA256 under the `subject`
key ring (`core.keys`), never in clear. The report hashes the asked identifier under every key of that
ring and lists the entries that carry it, each re-checked against its seal, so a report never rests on
an entry someone changed. The model is Estonia's Data Tracker: the person, or a clerk acting on their
request, sees every processing of their data.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

import sqlalchemy as sa

from core.keys import KeyRing, key_ring
from sharing import db

IDENTIFIER_TRANSFORMS = frozenset({"party_id", "citizen_id"})
_NOT_DIGIT = re.compile(r"[^0-9A-Za-z]")


def normalise(identifier: str) -> str:
    """One spelling per identifier: `0101234567-001`, `0101234567 001` and `0101234567001` alike."""
    return _NOT_DIGIT.sub("", identifier).upper()


@cache
def identifier_columns() -> frozenset[str]:
    """Every column any contract declares as a party or citizen identifier (views reuse these names)."""
    from schemas.contract import contracts

    return frozenset(
        c.name for contract in contracts().values() for c in contract.columns if c.transform in IDENTIFIER_TRANSFORMS
    )


@cache
def subject_keys() -> KeyRing:
    """The subject key ring, read once per process: every answer hashes with it, so never a file read per request."""
    return key_ring("subject")


def subject_hash(identifier: str, key: bytes | None = None) -> str:
    key = key if key is not None else subject_keys().current[1]
    return hmac.new(key, normalise(identifier).encode(), hashlib.sha256).hexdigest()[:32]


def of_rows(rows: Iterable[Mapping[str, Any]], key: bytes | None = None) -> set[str]:
    """The subjects the rows disclose, as keyed hashes."""
    columns = identifier_columns()
    key = key if key is not None else subject_keys().current[1]
    found: set[str] = set()
    for row in rows:
        for name in columns & row.keys():
            value = row[name]
            if isinstance(value, str) and normalise(value):
                found.add(subject_hash(value, key))
    return found


def scrub(params: Mapping[str, Any]) -> dict[str, Any]:
    """A request's inputs for the audit log: identifiers replaced by `subject:<keyed hash>`."""
    named = identifier_columns() | {"identifier"}
    return {k: f"subject:{subject_hash(v)}" if k in named and isinstance(v, str) else v for k, v in params.items()}


def report(url: str, identifier: str) -> list[dict[str, Any]]:
    """Every audit entry that disclosed `identifier`, oldest first, with its seal checked."""
    from sharing.api.audit import audit_keys, audit_log, create_tables, entry_hash

    engine = db.engine_for(url)
    create_tables(engine)
    hashes = {subject_hash(identifier, k) for _, k in subject_keys().keys}
    ring = audit_keys()
    t = audit_log
    found = []
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(t).where(sa.or_(*[t.c.subjects.contains(h) for h in sorted(hashes)])).order_by(t.c.seq)
        ).mappings()
        for row in rows:
            if not hashes & set(json.loads(row["subjects"] or "[]")):
                continue
            key = ring.get(row["key_id"]) if row["key_id"] else None
            found.append({
                "seq": int(row["seq"]), "at": row["at"], "client": row["client"], "purpose": row["purpose"],
                "method": row["method"], "endpoint": row["endpoint"], "outcome": row["outcome"],
                "status": row["status"], "intact": key is not None and entry_hash(row, key) == row["hash"],
            })
    return found
