"""The audit log: every request, allowed or denied, as one row of a MAC chain in the database.

Each entry is sealed with HMAC-SHA256 under a key that lives outside the database (`core.keys`, ring
`audit`; the entry names its key id, so rotating the key keeps old entries verifiable). Someone with
write access to the database but not the key cannot rewrite the chain from some entry on, head row
included, without `verify` naming that entry. Signed checkpoints of the head go to a file outside the
database as well (`sharing.api.checkpoints`), so cutting the newest entries off is seen too. Entries
written before keys existed have `key_id` NULL and a plain sha256; they are accepted only as the chain's
leading entries.

Each entry also records which data subjects the answer disclosed, as keyed hashes of their identifiers
(`sharing.api.subjects`), never in clear: the data-subject report finds a person's lookups from them.

Each entry stores who asked (client), why (purpose), what (endpoint), which rows came back (their keys),
the outcome and the time, plus the previous entry's hash and its own: `hash = sha256(canonical JSON of
the entry and prev_hash)`. Changing an entry breaks its hash; deleting one leaves a gap in `seq` (and a
`prev_hash` that points at nothing); deleting the newest ones leaves the chain short of `lt_audit_head`,
which holds the last seq and hash. `verify` walks the chain and names each broken entry.

Appends are serialised: in one process by a single writer thread doing group commit (the entries that
arrive while one transaction commits go together in the next: one commit for many requests, and no entry
waits for more than the one commit ahead of it); across processes by the row lock that the
`UPDATE lt_audit_head` at the start of each transaction takes (PostgreSQL row lock, SQLite write lock).
On PostgreSQL a writer that wrote the head last appends its next group in one autocommit statement
conditional on the head being still its own (one round trip, the lock held only while it commits); when
another process appended in between, nothing is written, and the group goes in a transaction that locks
the head first (`SELECT ... FOR UPDATE`): the other process's next group waits on that lock, not retrying.
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
import hmac
import json
import logging
import queue
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from core.keys import KeyRing, key_ring
from sharing import db
from sharing.api.audit_tables import Problem as Problem
from sharing.api.audit_tables import audit_head as audit_head
from sharing.api.audit_tables import audit_log as audit_log
from sharing.api.audit_tables import audit_metadata as audit_metadata

Outcome = Literal["allowed", "not_found", "denied", "error"]
GENESIS = "0" * 64
BATCH_MAX = 500
DURABLE_TIMEOUT = 10.0  # seconds a request waits for its entry's commit before it is refused

log = logging.getLogger(__name__)
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
    subjects: set[str] = field(default_factory=set)

    def row(self, seq: int, prev_hash: str, key: tuple[str, bytes] | None = None) -> dict[str, Any]:
        row = {
            "seq": seq, "at": self.at, "client": safe(self.client), "purpose": safe(self.purpose),
            "method": safe(self.method)[:10], "endpoint": safe(self.endpoint)[:300],
            "params": safe(_json(self.params)), "outcome": self.outcome, "status": self.status,
            "detail": safe(self.detail)[:300], "row_keys": safe(_json(self.row_keys)), "prev_hash": prev_hash,
            "context": safe(_json(self.context)) if self.context else None,
            "subjects": _json(sorted(self.subjects)) if self.subjects else None,
            "key_id": key[0] if key else None,
        }
        row["hash"] = entry_hash(row, key[1] if key else None)
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


def entry_hash(row: Any, key: bytes | None = None) -> str:
    """The seal of a stored row (a mapping): HMAC-SHA256 under `key` over the hashed fields, its subjects
    and its key id; without a key (legacy entries) sha256 over the hashed fields and `context` when present."""
    fields = [row[k] for k in HASHED]
    if key is None:
        if row.get("context") is not None:
            fields.append(row["context"])
        return hashlib.sha256(_json(fields).encode()).hexdigest()
    fields += [row.get("context"), row.get("subjects"), row.get("key_id")]
    return hmac.new(key, _json(fields).encode(), hashlib.sha256).hexdigest()


def audit_keys() -> KeyRing:
    """The MAC key ring, read when first needed in this process (restart to sign with a rotated key)."""
    global _RING
    if _RING is None:
        _RING = key_ring("audit")
    return _RING


_RING: KeyRing | None = None


def create_tables(engine: Engine) -> None:
    audit_metadata.create_all(engine)
    have = {c["name"] for c in sa.inspect(engine).get_columns("lt_audit_log")}
    for name, kind in (("context", "TEXT"), ("subjects", "TEXT"), ("key_id", "VARCHAR(40)")):
        if name not in have:
            with engine.begin() as conn:  # a log created before the column existed
                conn.execute(sa.text(f"ALTER TABLE lt_audit_log ADD COLUMN {name} {kind}"))
    with engine.begin() as conn:
        if conn.execute(sa.select(audit_head.c.id)).first() is None:
            try:
                with conn.begin_nested():
                    conn.execute(audit_head.insert().values(id=1, seq=0, hash=GENESIS))
            except sa.exc.IntegrityError:  # another process made it first
                pass


def append(conn: Connection, entries: Sequence[Entry], key: tuple[str, bytes] | None = None) -> list[int]:
    """Chain `entries` onto the log inside the caller's transaction, sealed with `key` (default: the
    ring's current key); their seqs."""
    return [r["seq"] for r in _append_locked(conn, entries, key or audit_keys().current)]


def _append_locked(conn: Connection, entries: Sequence[Entry], key: tuple[str, bytes]) -> list[dict[str, Any]]:
    # The UPDATE comes first: it takes the lock that orders this transaction after every other append.
    seq, prev = conn.execute(
        audit_head.update().where(audit_head.c.id == 1).values(seq=audit_head.c.seq + len(entries))
        .returning(audit_head.c.seq, audit_head.c.hash)
    ).one()
    rows = chain(entries, (int(seq) - len(entries), prev), key)
    conn.execute(audit_log.insert(), rows)
    conn.execute(audit_head.update().where(audit_head.c.id == 1).values(hash=rows[-1]["hash"]))
    return rows


# PostgreSQL's one-statement append: the head moves from the seq and hash this writer last wrote to the
# batch's last ones, and the rows go in only if it did (`h` is empty when another process appended since).
# It answers how many rows went in and the head as the statement's snapshot saw it (the one to try next).
_APPEND_IF_HEAD = (
    "WITH h AS (UPDATE lt_audit_head SET seq = %(last_seq)s, hash = %(last_hash)s"
    " WHERE id = 1 AND seq = %(seq)s AND hash = %(hash)s RETURNING id),"
    " ins AS (INSERT INTO lt_audit_log (seq, at, client, purpose, method, endpoint, params, outcome, status, detail,"
    " row_keys, prev_hash, hash, context, subjects, key_id)"
    " SELECT v.seq, v.at, v.client, v.purpose, v.method, v.endpoint, v.params, v.outcome, v.status, v.detail,"
    " v.row_keys, v.prev_hash, v.hash, v.context, v.subjects, v.key_id"
    " FROM jsonb_to_recordset(%(rows)s::jsonb) AS v(seq bigint, at text, client text, purpose text,"
    " method text, endpoint text, params text, outcome text, status integer, detail text, row_keys text,"
    " prev_hash text, hash text, context text, subjects text, key_id text)"
    " WHERE EXISTS (SELECT 1 FROM h) RETURNING 1)"
    " SELECT (SELECT count(*) FROM ins), seq, hash FROM lt_audit_head WHERE id = 1"
)
_LOCK_HEAD = "SELECT seq, hash FROM lt_audit_head WHERE id = 1 FOR UPDATE"


def chain(entries: Sequence[Entry], after: tuple[int, str], key: tuple[str, bytes]) -> list[dict[str, Any]]:
    """The rows of `entries` sealed onto a chain whose head is `after` (seq, hash)."""
    rows, (seq, prev) = [], after
    for i, entry in enumerate(entries):
        rows.append(entry.row(seq + 1 + i, prev, key))
        prev = rows[-1]["hash"]
    return rows


def append_if_head(conn: psycopg.Connection[Any], entries: Sequence[Entry], head: tuple[int, str],
                   key: tuple[str, bytes] | None = None) -> tuple[list[dict[str, Any]] | None, tuple[int, str]]:
    """PostgreSQL, on a psycopg connection in autocommit: chain `entries` after `head` in one statement,
    which is its own transaction (one round trip; the head's row lock is held only while it runs and
    commits). Their rows, or None when the head is no longer `head` (another process appended): then
    nothing was written; and the head the statement saw, to chain after next time. psycopg itself, prepared
    on the server: through SQLAlchemy the statement cost the writer more CPU than the entries' seals."""
    rows = chain(entries, head, key or audit_keys().current)
    found = conn.execute(_APPEND_IF_HEAD, {
        "seq": head[0], "hash": head[1], "last_seq": rows[-1]["seq"], "last_hash": rows[-1]["hash"],
        "rows": _json(rows)}, prepare=True).fetchone()
    if found is None:
        raise RuntimeError("lt_audit_head has no row: the audit tables were not created")
    written, seq, hash_ = found
    if written == len(rows):
        return rows, (rows[-1]["seq"], rows[-1]["hash"])
    return None, (int(seq), hash_)


def append_locked(conn: psycopg.Connection[Any], entries: Sequence[Entry], key: tuple[str, bytes] | None = None
                  ) -> list[dict[str, Any]]:
    """PostgreSQL, on a psycopg connection in autocommit: chain `entries` after the head, in a transaction
    that locks the head first (another process's append waits on the lock, instead of failing and trying
    again: with two workers interleaving, three one-statement tries missed in turn and cost 60-100 ms)."""
    with conn.transaction():
        head = conn.execute(_LOCK_HEAD, prepare=True).fetchone()
        if head is None:
            raise RuntimeError("lt_audit_head has no row: the audit tables were not created")
        rows, _ = append_if_head(conn, entries, (int(head[0]), head[1]), key)
    if rows is None:
        raise RuntimeError("lt_audit_head moved while locked")
    return rows


def psycopg_dsn(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as psycopg's own connection string."""
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _writer_engine(url: str) -> Engine:
    from core.dbfaults import retry_connect

    # No pre-ping (a round trip per batch): a batch that meets a dropped connection is written again on a
    # new one (`AuditWriter._commit`), so the first entries after a PostgreSQL restart are still written.
    engine = sa.create_engine(url, pool_size=1)
    retry_connect(engine)
    return engine


class AuditWriter:
    """The one writer of this process: callers enqueue, a thread writes batches, futures say when durable."""

    def __init__(self, url: str) -> None:
        # Its own connection on PostgreSQL, so a burst of lookups never keeps the log waiting for one.
        # Pinged before each batch (one round trip a batch, not a request) and a refused connect retried, so
        # the first entries after a PostgreSQL restart are written, not answered 503.
        self.engine = db.engine_for(url) if url.startswith("sqlite") else _writer_engine(url)
        # The one-statement appends' own connection (PostgreSQL), in autocommit, opened when first needed.
        self._dsn = None if url.startswith("sqlite") else psycopg_dsn(url)
        self._raw: psycopg.Connection[Any] | None = None
        create_tables(self.engine)
        self.url = url
        self._dirty = False  # entries written since the last checkpoint
        self._head: tuple[int, str] | None = None  # (seq, hash) this writer last wrote (PostgreSQL)
        self._last_mark = time.monotonic()
        # SimpleQueue (C): a put does not take a Condition and wake it through Python (10% of the CPU).
        self._queue: queue.SimpleQueue[tuple[Entry, Future[int]] | None] = queue.SimpleQueue()
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
        self.checkpoint()
        if self._dsn is not None:
            self.engine.dispose()
            if self._raw is not None:
                self._raw.close()

    def checkpoint(self) -> None:
        """A signed checkpoint of the head outside the database, when the chain moved since the last one.
        A failure is logged, never a request's failure: the chain itself is intact without it."""
        from sharing.api import checkpoints

        if not self._dirty:
            return
        try:
            with self.engine.connect() as conn:
                checkpoints.take(conn, self.url, audit_keys())
            self._dirty = False
        except Exception as exc:  # a full disk must not stop the lookups
            log.warning("audit checkpoint not written: %s", exc)
        self._last_mark = time.monotonic()

    def _run(self) -> None:
        from sharing.api.checkpoints import EVERY

        while True:
            if self._dirty and time.monotonic() - self._last_mark >= EVERY:
                self.checkpoint()
            try:
                item = self._queue.get(timeout=EVERY)
            except queue.Empty:
                continue
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

    def _commit(self, batch: list[tuple[Entry, Future[int]]], *, again: bool = True) -> None:
        """One transaction for the group; if it fails, one each, so only the entries that fail fail.
        A batch that met a dropped connection (PostgreSQL restarted) is written once more on a new one."""
        entries = [e for e, _ in batch]
        try:
            seqs = self._append(entries)
        except (sa.exc.DBAPIError, psycopg.OperationalError) as exc:
            lost = exc.connection_invalidated if isinstance(exc, sa.exc.DBAPIError) else True
            if isinstance(exc, psycopg.OperationalError) and self._raw is not None:
                self._raw.close()  # a new one next time
                self._raw = None
            if lost and again:
                return self._commit(batch, again=False)
            return self._one_each(batch, exc)
        except Exception as exc:
            return self._one_each(batch, exc)
        self._dirty = True
        for (_, done), seq in zip(batch, seqs, strict=True):
            done.set_result(seq)

    def _one_each(self, batch: list[tuple[Entry, Future[int]]], exc: Exception) -> None:
        self._head = None
        if len(batch) == 1:
            batch[0][1].set_exception(exc)
            return
        for item in batch:
            self._commit([item], again=False)

    def _append(self, entries: list[Entry]) -> list[int]:
        """On PostgreSQL, one statement after the head this writer last wrote, else (another worker
        appended since, or the first batch) the transaction that locks the head; on SQLite, the locking
        transaction."""
        if self._dsn is None:
            with self.engine.begin() as conn:
                return [r["seq"] for r in _append_locked(conn, entries, audit_keys().current)]
        if self._raw is None or self._raw.closed:
            self._raw = psycopg.connect(self._dsn, autocommit=True)
        rows = None
        if self._head is not None:
            rows, self._head = append_if_head(self._raw, entries, self._head)
        if rows is None:
            rows = append_locked(self._raw, entries)
        self._head = (rows[-1]["seq"], rows[-1]["hash"])
        return [r["seq"] for r in rows]


# --- reading and verifying ----------------------------------------------------------------------

def read(url: str, *, after: int = 0, limit: int = 100, client: str | None = None) -> list[dict[str, Any]]:
    engine = db.engine_for(url)
    create_tables(engine)
    query = sa.select(audit_log).where(audit_log.c.seq > after).order_by(audit_log.c.seq).limit(limit)
    if client is not None:
        query = query.where(audit_log.c.client == client)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def _rows(conn: Connection) -> Iterator[Any]:
    result = conn.execution_options(yield_per=5000).execute(sa.select(audit_log).order_by(audit_log.c.seq))
    yield from result.mappings()


def _seal_problem(row: Any, ring: KeyRing, legacy_upto: int | None, keyed_seen: bool) -> Problem | None:
    seq = int(row["seq"])
    if row["key_id"] is None:
        if keyed_seen or (legacy_upto is not None and seq > legacy_upto):
            return Problem(seq, "unkeyed", f"entry {seq} has no MAC key where the chain is keyed: rewritten")
        key = None
    else:
        key = ring.get(row["key_id"])
        if key is None:
            return Problem(seq, "unknown_key", f"entry {seq} is sealed with key {row['key_id']!r}, "
                                               "which the audit key ring does not hold")
    if entry_hash(row, key) != row["hash"]:
        return Problem(seq, "changed", f"entry {seq} changed: its contents do not match its seal")
    return None


def verify(url: str, environ: Mapping[str, str] | None = None) -> tuple[int, list[Problem]]:
    """(entries checked, problems): each changed, deleted, re-linked or re-sealed entry, named by its seq,
    and each signed checkpoint outside the database that the chain no longer matches."""
    from sharing.api import checkpoints

    engine = db.engine_for(url)
    create_tables(engine)
    ring = key_ring("audit", environ)
    marks, problems = checkpoints.read(url, ring, environ)
    legacy_upto = min((m.legacy_upto for m in marks), default=None)
    at_mark = {m.seq: m for m in marks}
    expected_seq, prev_hash, checked, keyed_seen = 1, GENESIS, 0, False
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
            sealed = _seal_problem(row, ring, legacy_upto, keyed_seen)
            if sealed:
                problems.append(sealed)
            keyed_seen = keyed_seen or row["key_id"] is not None
            mark = at_mark.pop(seq, None)
            if mark is not None and mark.hash != row["hash"]:
                problems.append(Problem(seq, "checkpoint", f"entry {seq} differs from the signed checkpoint of "
                                                           f"{mark.at}: rewritten after it"))
            expected_seq, prev_hash = seq + 1, row["hash"]
    for mark in sorted(at_mark.values(), key=lambda m: m.seq):
        problems.append(Problem(mark.seq, "checkpoint", f"entry {mark.seq} is gone, though the signed "
                                                        f"checkpoint of {mark.at} saw it: deleted"))
    if int(head_seq) >= expected_seq:
        missing = f"{expected_seq}" if int(head_seq) == expected_seq else f"{expected_seq}..{head_seq}"
        problems.append(Problem(expected_seq, "deleted", f"entry {missing} missing: deleted (newest entries)"))
    elif int(head_seq) < expected_seq - 1 or head_hash != prev_hash:
        problems.append(Problem(int(head_seq), "head", "the chain head does not match the last entry"))
    return checked, sorted(problems, key=lambda p: p.seq)


def record_action(url: str, user: str, action: str, detail: str, params: Mapping[str, Any]) -> int:
    """A console action (`core.actions.record`) as an entry of the chain: method CLI, client `os:<user>`."""
    engine = db.engine_for(url)
    create_tables(engine)
    entry = Entry(method="CLI", endpoint=f"cli:{action}", client=f"os:{user}"[:100], purpose="operations",
                  params=dict(params), outcome="allowed", status=0, detail=detail)
    with engine.begin() as conn:
        return append(conn, [entry])[0]
