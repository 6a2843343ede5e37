"""The deliverer: sends the outbox's notifications, signed, at least once, with backoff and a dead-letter list.

Each round claims the due notifications by pushing their next attempt one lease ahead (`LEASE`) in a short
transaction (rows locked with SKIP LOCKED on PostgreSQL, so two deliverers never send the same one at
once), then sends them. A deliverer killed after sending but before recording it leaves the claim to
expire: the notification is sent again with the same id. That is the at-least-once promise; the id is
the subscriber's idempotency key.

Signatures follow the Standard Webhooks scheme: headers `webhook-id`, `webhook-timestamp`, and
`webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">` with the subscription's secret, plus
`Idempotency-Key`. A 2xx is delivered; anything else, or no answer, is retried after 2, 4, 8 ... seconds
(capped, with jitter) until `max_attempts`, then the notification is dead: operators list and replay it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sharing.subscriptions import create_tables, outbox, signing_secret, subscriptions

LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 8
BACKOFF_CAP = 600.0


def sign(secret: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def verify(secret: bytes, headers: dict[str, str], body: bytes, *, tolerance: int = 300) -> bool:
    """What a subscriber runs: the signature matches and the timestamp is recent."""
    try:
        stamp = int(headers["webhook-timestamp"])
        expected = sign(secret, headers["webhook-id"], stamp, body)
    except (KeyError, ValueError):
        return False
    fresh = abs(time.time() - stamp) <= tolerance
    return fresh and any(hmac.compare_digest(expected, s) for s in headers.get("webhook-signature", "").split())


def backoff(attempts: int, base: float = 2.0) -> float:
    return min(base ** attempts, BACKOFF_CAP) * random.uniform(0.5, 1.0)


@dataclass(slots=True)
class Round:
    claimed: int = 0
    delivered: int = 0
    failed: int = 0
    dead: int = 0


def _claim(engine: Engine, now: datetime, limit: int, lease: timedelta) -> list[dict[str, Any]]:
    o, s = outbox, subscriptions
    query = (
        sa.select(o.c.id, o.c.payload, o.c.attempts, s.c.id.label("sub_id"), s.c.callback_url, s.c.key_id)
        .select_from(o.join(s, s.c.id == o.c.subscription_id))
        .where(o.c.status == "pending", o.c.next_attempt_at <= now)
        .order_by(o.c.created_at, o.c.id).limit(limit)
    )
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True, of=o)
        rows = [dict(r) for r in conn.execute(query).mappings()]
        if rows:
            conn.execute(o.update().where(o.c.id.in_([r["id"] for r in rows])).values(
                next_attempt_at=now + lease, attempts=o.c.attempts + 1,
            ))
    return rows


def deliver_due(
    engine: Engine,
    client: httpx.Client,
    *,
    limit: int = 100,
    max_attempts: int = MAX_ATTEMPTS,
    lease: timedelta = LEASE,
    delay: Callable[[int], float] = backoff,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Round:
    """One round: claim what is due, send it, record what happened."""
    create_tables(engine)
    done = Round()
    for row in _claim(engine, clock(), limit, lease):
        done.claimed += 1
        body = row["payload"].encode()
        stamp = int(time.time())
        headers = {
            "content-type": "application/json", "webhook-id": row["id"], "idempotency-key": row["id"],
            "webhook-timestamp": str(stamp),
            "webhook-signature": sign(signing_secret(row["sub_id"], row["key_id"]), row["id"], stamp, body),
            "user-agent": "lienthong-deliverer",
        }
        error: str | None = None
        try:
            answer = client.post(row["callback_url"], content=body, headers=headers)
            if not 200 <= answer.status_code < 300:
                error = f"HTTP {answer.status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {str(exc)[:200]}"
        attempts = int(row["attempts"]) + 1
        with engine.begin() as conn:
            if error is None:
                conn.execute(outbox.update().where(outbox.c.id == row["id"]).values(
                    status="delivered", delivered_at=clock(), last_error=None))
                done.delivered += 1
            elif attempts >= max_attempts:
                conn.execute(outbox.update().where(outbox.c.id == row["id"]).values(
                    status="dead", last_error=error[:300]))
                done.dead += 1
            else:
                conn.execute(outbox.update().where(outbox.c.id == row["id"]).values(
                    next_attempt_at=clock() + timedelta(seconds=delay(attempts)), last_error=error[:300]))
                done.failed += 1
    return done


def run(engine: Engine, *, interval: float = 2.0, rounds: int | None = None, timeout: float = 10.0,
        lease: timedelta = LEASE, delay: Callable[[int], float] = backoff,
        on_round: Callable[[Round], None] | None = None) -> None:
    """Deliver until stopped (or for `rounds` rounds): what `lienthong subscriptions deliver` runs."""
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        n = 0
        while rounds is None or n < rounds:
            result = deliver_due(engine, client, lease=lease, delay=delay)
            if on_round:
                on_round(result)
            n += 1
            if not result.claimed:
                time.sleep(interval)


def dead_letters(engine: Engine) -> list[dict[str, Any]]:
    create_tables(engine)
    o = outbox
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(
            sa.select(o.c.id, o.c.subscription_id, o.c.dataset, o.c.version, o.c.attempts, o.c.last_error,
                      o.c.created_at).where(o.c.status == "dead").order_by(o.c.created_at)
        ).mappings()]


def replay(engine: Engine, note_id: str) -> bool:
    """A dead notification back in the queue, due now, with its attempts reset."""
    create_tables(engine)
    with engine.begin() as conn:
        return bool(conn.execute(outbox.update().where(outbox.c.id == note_id, outbox.c.status == "dead").values(
            status="pending", attempts=0, next_attempt_at=datetime.now(UTC), last_error=None,
        )).rowcount)
