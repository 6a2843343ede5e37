"""Subscriptions: agencies registered to hear when a dataset they may read has changed.

An agency registers (dataset, optional filter, callback URL) within its grant. Each publish that makes a
new version writes one notification per matching subscription into `lt_outbox`, inside the publish's own
transaction (`notify`), so a notification exists exactly when its version does. The deliverer
(`sharing.deliver`) sends them later, signed, and at least once.

A notification is thin on purpose: the dataset, the version, what changed in counts, and the change-feed
address to pull from. The subscriber then reads `/v1/datasets/{name}/changes` under its own grant and
masking, so no personal data travels in a webhook and a grant narrowed later applies at once.

The signing secret of a subscription is derived from the server's signing key and the subscription id
(HMAC), shown once at registration and never stored: the database holds nothing that signs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from core.errors import ConfigError
from core.keys import key_ring

metadata = sa.MetaData()

subscriptions = sa.Table(
    "lt_subscriptions", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("client", sa.String(100), nullable=False),
    sa.Column("dataset", sa.String(100), nullable=False, index=True),
    sa.Column("filter", sa.Text, nullable=False),  # JSON {column: value}: notify only when such a row changed
    sa.Column("callback_url", sa.Text, nullable=False),
    sa.Column("key_id", sa.String(40), nullable=False),  # which signing key derives its secret
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
)

outbox = sa.Table(
    "lt_outbox", metadata,
    sa.Column("id", sa.String(36), primary_key=True),  # the idempotency key the subscriber sees
    sa.Column("subscription_id", sa.String(36), nullable=False, index=True),
    sa.Column("dataset", sa.String(100), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("status", sa.String(10), nullable=False),  # pending | delivered | dead
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_error", sa.String(300)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("delivered_at", sa.DateTime(timezone=True)),
    sa.UniqueConstraint("subscription_id", "dataset", "version", name="ux_outbox_once"),
)


class SubscriptionError(ConfigError):
    """A registration that cannot be accepted (bad URL, column outside the grant, unknown id)."""


def create_tables(engine: Engine) -> None:
    metadata.create_all(engine)


def signing_secret(subscription_id: str, key_id: str | None = None) -> bytes:
    """The secret a subscriber verifies signatures with: HMAC(server key, subscription id)."""
    ring = key_ring("signing")
    kid, key = ring.current if key_id is None else (key_id, ring.get(key_id) or b"")
    if not key:
        raise SubscriptionError(f"signing key {kid!r} is no longer in the key ring")
    return hmac.new(key, f"subscription:{subscription_id}".encode(), hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class Registered:
    id: str
    secret: str  # hex; shown once


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 2000:
        raise SubscriptionError("callback_url must be an http(s) URL with a host, at most 2000 characters")
    if parts.username or parts.password:
        raise SubscriptionError("callback_url must not carry credentials: verify our signature instead")
    try:
        parts.port  # noqa: B018  # a port out of range raises here, not at delivery
    except ValueError as exc:
        raise SubscriptionError(f"callback_url has a bad port: {exc}") from None
    return url


def _origin(url: str) -> tuple[str, str, int | None, str]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port, parts.path or "/"


def _declared(url: str, prefixes: Sequence[str]) -> bool:
    """`url` is under one of `prefixes`: same scheme, host and port, and the path below the prefix's at a
    segment boundary (`/hooks/` does not admit `/hooksx`; `host.gov.vn` does not admit `host.gov.vn.evil`)."""
    scheme, host, port, path = _origin(url)
    for prefix in prefixes:
        p_scheme, p_host, p_port, p_path = _origin(prefix)
        if (scheme, host, port) != (p_scheme, p_host, p_port):
            continue
        base = p_path.rstrip("/")
        if path == base or path.startswith(base + "/"):
            return True
    return False


def register(engine: Engine, *, client: str, dataset: str, callback_url: str,
             filter: Mapping[str, Any] | None = None, allowed_columns: set[str] | None = None,
             allowed_callbacks: Sequence[str] | None = None) -> Registered:
    """Add a subscription; `allowed_columns` is the caller's grant (a filter may name only those) and
    `allowed_callbacks` the URL prefixes its policy declares (None: an operator's own registration)."""
    wanted = dict(filter or {})
    for column, value in wanted.items():
        if allowed_columns is not None and column not in allowed_columns:
            raise SubscriptionError(f"filter column {column!r} is not in your grant for {dataset}")
        if not isinstance(value, str | int | bool) or isinstance(value, float):
            raise SubscriptionError(f"filter value of {column!r} must be a string, a whole number or a boolean")
    _check_url(callback_url)
    if allowed_callbacks is not None and not _declared(callback_url, allowed_callbacks):
        where = ", ".join(allowed_callbacks) or "none: an operator adds `callbacks:` to the client in the policy"
        raise SubscriptionError(f"callback_url {callback_url[:200]!r} is not under a callback declared for "
                                f"{client} ({where})")
    create_tables(engine)
    sub_id = str(uuid.uuid4())
    key_id = key_ring("signing").current[0]
    with engine.begin() as conn:
        conn.execute(subscriptions.insert().values(
            id=sub_id, client=client, dataset=dataset, filter=json.dumps(wanted, sort_keys=True),
            callback_url=_check_url(callback_url), key_id=key_id, created_at=datetime.now(UTC), active=True,
        ))
    return Registered(sub_id, signing_secret(sub_id, key_id).hex())


def list_for(engine: Engine, client: str | None = None) -> list[dict[str, Any]]:
    create_tables(engine)
    query = sa.select(subscriptions).order_by(subscriptions.c.created_at)
    if client is not None:
        query = query.where(subscriptions.c.client == client)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def cancel(engine: Engine, sub_id: str, client: str) -> bool:
    create_tables(engine)
    with engine.begin() as conn:
        done = conn.execute(subscriptions.update().where(
            subscriptions.c.id == sub_id, subscriptions.c.client == client, subscriptions.c.active
        ).values(active=False)).rowcount
    return bool(done)


def notify(conn: Connection, dataset: str, version: int, table: sa.Table, now: datetime,
           counts: Mapping[str, int]) -> int:
    """Inside a publish's transaction: one outbox row per active subscription this version concerns."""
    if not sa.inspect(conn).has_table(subscriptions.name):
        return 0
    subs = conn.execute(sa.select(subscriptions).where(
        subscriptions.c.dataset == dataset, subscriptions.c.active
    )).mappings().all()
    written = 0
    for sub in subs:
        wanted = json.loads(sub["filter"] or "{}")
        matched: int | None = None
        if wanted:
            known = {c.name for c in table.columns}
            if not set(wanted) <= known:
                continue  # a column the contract no longer has: nothing can match
            matched = int(conn.execute(sa.select(sa.func.count()).select_from(table).where(
                table.c.version_from == version, *[table.c[c] == v for c, v in wanted.items()]
            )).scalar_one())
            if not matched:
                continue
        note_id = str(uuid.uuid4())
        payload = {
            "id": note_id, "type": "dataset.version", "dataset": dataset, "version": version,
            "published_at": now.isoformat(), "changes": dict(counts),
            "matching_rows": matched, "filter": wanted or None, "subscription": sub["id"],
            "changes_url": f"/v1/datasets/{dataset}/changes?since={version - 1}",
        }
        conn.execute(outbox.insert().values(
            id=note_id, subscription_id=sub["id"], dataset=dataset, version=version,
            payload=json.dumps(payload, sort_keys=True, ensure_ascii=False), status="pending", attempts=0,
            next_attempt_at=now, created_at=now,
        ))
        written += 1
    return written
