"""The audit log's tables and the verifier's `Problem`, apart from `audit`, so that checkpoints use them
without importing the writer (no audit <-> checkpoints cycle)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa

audit_metadata = sa.MetaData()

audit_log = sa.Table(
    "lt_audit_log", audit_metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=False),
    sa.Column("at", sa.String(40), nullable=False),  # ISO-8601 UTC text: hashed exactly as stored
    sa.Column("client", sa.String(100)),
    sa.Column("purpose", sa.String(100)),
    sa.Column("method", sa.String(10), nullable=False),
    sa.Column("endpoint", sa.String(300), nullable=False),
    sa.Column("params", sa.Text, nullable=False),  # JSON: the lookup's inputs
    sa.Column("outcome", sa.String(10), nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("detail", sa.String(300), nullable=False),
    sa.Column("row_keys", sa.Text, nullable=False),  # JSON: {dataset: [key, ...]}
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("context", sa.Text),  # JSON: request id, X-Road ids
    sa.Column("subjects", sa.Text),  # JSON: keyed hashes of the data subjects the answer disclosed
    sa.Column("key_id", sa.String(40)),  # the MAC key; NULL for entries sealed with plain sha256 (legacy)
)

audit_head = sa.Table(
    "lt_audit_head", audit_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)


@dataclass(frozen=True, slots=True)
class Problem:
    seq: int
    kind: Literal["changed", "deleted", "relinked", "head", "unkeyed", "unknown_key", "checkpoint"]
    message: str
