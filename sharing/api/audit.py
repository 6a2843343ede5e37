"""The audit log: every request, allowed or denied, as one row of a hash chain in the database.

Each entry stores who asked (client), why (purpose), what (endpoint), which rows came back (their keys),
the outcome and the time, plus the previous entry's hash and its own: `hash = sha256(canonical JSON of
the entry and prev_hash)`. Changing an entry breaks its hash; deleting one leaves a gap in `seq` (and a
`prev_hash` that points at nothing); deleting the newest ones leaves the chain short of `lt_audit_head`,
which holds the last seq and hash. `verify` walks the chain and names each broken entry.

Appends are serialised: in one process by a single writer thread doing group commit (the entries that
arrive while one transaction commits go together in the next: one commit for many requests, and no entry
waits for more than the one commit ahead of it); across processes by the row lock that the
`UPDATE lt_audit_head` at the start of each transaction takes (PostgreSQL row lock, SQLite write lock).
If a group's transaction fails, its entries are retried one per transaction, so an entry that cannot be
written fails its own request only. Every text is stored escaped (NUL and unpaired surrogates, which
PostgreSQL cannot store, as `\\x00` / `\\udcff`), and hashed as stored.
Entries never hold a secret: the API key is not part of a request's record. `context` holds the request id
and, behind an X-Road security server, the X-Road message id and request hash; it is hashed when present
(entries written before it existed have none, and keep their hash).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import queue
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from sharing import db

Outcome = Literal["allowed", "not_found", "denied", "error"]
GENESIS = "0" * 64
BATCH_MAX = 500
DURABLE_TIMEOUT = 10.0  # seconds a request waits for its entry's commit before it is refused

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
)

audit_head = sa.Table(
    "lt_audit_head", audit_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

HASHED = ("seq", "at", "client", "purpose", "method", "endpoint", "params", "outcome", "status", "detail",
          "row_keys", "prev_hash")


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass(slots=True)
class Entry:
    """One request's record, before it has a place in the chain."""

    method: str
    endpoint: str
    client: str | None = None
    purpose: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    row_keys: dict[str, list[Any]] = field(default_factory=dict)
    outcome: Outcome = "denied"
    status: int = 0
    detail: str = ""
    at: str = field(default_factory=now_text)
    context: dict[str, Any] = field(default_factory=dict)

    def row(self, seq: int, prev_hash: str) -> dict[str, Any]:
        row = {
            "seq": seq, "at": self.at, "client": safe(self.client), "purpose": safe(self.purpose),
            "method": safe(self.method)[:10], "endpoint": safe(self.endpoint)[:300],
            "params": safe(_json(self.params)), "outcome": self.outcome, "status": self.status,
            "detail": safe(self.detail)[:300], "row_keys": safe(_json(self.row_keys)), "prev_hash": prev_hash,
            "context": safe(_json(self.context)) if self.context else None,
        }
        row["hash"] = entry_hash(row)
        return row


def safe(text: Any) -> Any:
    """Text any database stores: NUL and unpaired surrogates (from invalid UTF-8) as backslash escapes."""
    if not isinstance(text, str):
        return text
    if text.isascii():
        return text.replace("\x00", "\\x00")
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def entry_hash(row: Any) -> str:
    """sha256 over the hashed fields of a stored row (a mapping), in a fixed order; `context` when present."""
    fields = [row[k] for k in HASHED]
    if row.get("context") is not None:
        fields.append(row["context"])
    return hashlib.sha256(_json(fields).encode()).hexdigest()


def create_tables(engine: Engine) -> None:
    audit_metadata.create_all(engine)
    if "context" not in {c["name"] for c in sa.inspect(engine).get_columns("lt_audit_log")}:
        with engine.begin() as conn:  # a log created before the column existed
            conn.execute(sa.text("ALTER TABLE lt_audit_log ADD COLUMN context TEXT"))
    with engine.begin() as conn:
        if conn.execute(sa.select(audit_head.c.id)).first() is None:
            try:
                with conn.begin_nested():
                    conn.execute(audit_head.insert().values(id=1, seq=0, hash=GENESIS))
            except sa.exc.IntegrityError:  # another process made it first
                pass


def append(conn: Connection, entries: Sequence[Entry]) -> list[int]:
    """Chain `entries` onto the log inside the caller's transaction; their seqs."""
    # The UPDATE comes first: it takes the lock that orders this transaction after every other append.
    seq, prev = conn.execute(
        audit_head.update().where(audit_head.c.id == 1).values(seq=audit_head.c.seq + len(entries))
        .returning(audit_head.c.seq, audit_head.c.hash)
    ).one()
    first = int(seq) - len(entries) + 1
    rows = []
    for i, entry in enumerate(entries):
        rows.append(entry.row(first + i, prev))
        prev = rows[-1]["hash"]
    conn.execute(audit_log.insert(), rows)
    conn.execute(audit_head.update().where(audit_head.c.id == 1).values(hash=prev))
    return [r["seq"] for r in rows]


class AuditWriter:
    """The one writer of this process: callers enqueue, a thread writes batches, futures say when durable."""

    def __init__(self, url: str) -> None:
        # Its own connection on PostgreSQL, so a burst of lookups never keeps the log waiting for one.
        self.engine = db.engine_for(url) if url.startswith("sqlite") else sa.create_engine(url, pool_size=1)
        create_tables(self.engine)
        self._queue: queue.Queue[tuple[Entry, Future[int]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()

    def submit(self, entry: Entry) -> Future[int]:
        done: Future[int] = Future()
        self._queue.put((entry, done))
        return done

    async def write(self, entry: Entry) -> int:
        """Append `entry` and wait until it is committed (at most DURABLE_TIMEOUT); its seq."""
        return await asyncio.wait_for(asyncio.wrap_future(self.submit(entry)), DURABLE_TIMEOUT)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)
        if self.engine.dialect.name != "sqlite":
            self.engine.dispose()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < BATCH_MAX:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)  # finish this batch, then stop
                    break
                batch.append(nxt)
            self._commit(batch)

    def _commit(self, batch: list[tuple[Entry, Future[int]]]) -> None:
        """One transaction for the group; if it fails, one each, so only the entries that fail fail."""
        try:
            with self.engine.begin() as conn:
                seqs = append(conn, [e for e, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                batch[0][1].set_exception(exc)
                return
            for item in batch:
                self._commit([item])
            return
        for (_, done), seq in zip(batch, seqs, strict=True):
            done.set_result(seq)


# --- reading and verifying ----------------------------------------------------------------------

def read(url: str, *, after: int = 0, limit: int = 100, client: str | None = None) -> list[dict[str, Any]]:
    engine = db.engine_for(url)
    create_tables(engine)
    query = sa.select(audit_log).where(audit_log.c.seq > after).order_by(audit_log.c.seq).limit(limit)
    if client is not None:
        query = query.where(audit_log.c.client == client)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


@dataclass(frozen=True, slots=True)
class Problem:
    seq: int
    kind: Literal["changed", "deleted", "relinked", "head"]
    message: str


def _rows(conn: Connection) -> Iterator[Any]:
    result = conn.execution_options(yield_per=5000).execute(sa.select(audit_log).order_by(audit_log.c.seq))
    yield from result.mappings()


def verify(url: str) -> tuple[int, list[Problem]]:
    """(entries checked, problems): each changed, deleted or re-linked entry, named by its seq."""
    engine = db.engine_for(url)
    create_tables(engine)
    problems: list[Problem] = []
    expected_seq, prev_hash, checked = 1, GENESIS, 0
    with engine.connect() as conn:
        head_seq, head_hash = conn.execute(sa.select(audit_head.c.seq, audit_head.c.hash)).one()
        for row in _rows(conn):
            checked += 1
            seq = int(row["seq"])
            if seq > expected_seq:
                missing = f"{expected_seq}" if seq == expected_seq + 1 else f"{expected_seq}..{seq - 1}"
                problems.append(Problem(expected_seq, "deleted", f"entry {missing} missing: deleted"))
            elif row["prev_hash"] != prev_hash:
                problems.append(Problem(seq, "relinked",
                                        f"entry {seq}: prev_hash does not match entry {seq - 1}'s hash"))
            if entry_hash(row) != row["hash"]:
                problems.append(Problem(seq, "changed", f"entry {seq} changed: its contents do not match its hash"))
            expected_seq, prev_hash = seq + 1, row["hash"]
    if int(head_seq) >= expected_seq:
        missing = f"{expected_seq}" if int(head_seq) == expected_seq else f"{expected_seq}..{head_seq}"
        problems.append(Problem(expected_seq, "deleted", f"entry {missing} missing: deleted (newest entries)"))
    elif int(head_seq) < expected_seq - 1 or head_hash != prev_hash:
        problems.append(Problem(int(head_seq), "head", "the chain head does not match the last entry"))
    return checked, problems
