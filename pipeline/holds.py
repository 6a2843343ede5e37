"""Held runs in the sync: the guard before publishing, keeping a held run, and a person's decision.

`sync_stream` asks `blocked` first (a stream with a hold waiting does not move), passes `guard_for` to
publish, and hands a `HoldRequired` to `hold_run`. `release` publishes a hold's staged rows with the
state its run would have committed, exactly once (the hold is marked released in the same transaction,
and a second release or a run in between ends in a named error); `discard` drops it. Both decisions go
into the audit log under the OS user who made them.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from sqlalchemy.engine import Connection

from sharing import holds
from sharing.holds import HoldError, HoldRequired
from sharing.publish import MergeCounts, PublishResult, StateCommit, publish

if TYPE_CHECKING:
    from schemas.contract import Contract

__all__ = ["HoldError", "HoldRequired", "blocked", "discard", "guard_for", "hold_run", "release", "who"]


def who() -> str:
    """The OS user deciding, as the audit log names them."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def blocked(url: str, source: str, stream: str) -> holds.Held | None:
    return holds.pending(url, source, stream)


def blocked_message(hold: holds.Held) -> str:
    return (f"[{hold.source}] stream {hold.stream}: held since {hold.held_at:%Y-%m-%d %H:%M:%S} (hold {hold.id}: "
            f"{'; '.join(hold.reasons)}); nothing is published until a person runs "
            f"`lienthong holds release {hold.id}` or `lienthong holds discard {hold.id}`")


def guard_for(contract: Contract, *, fetched: int, full: bool
              ) -> Callable[[Connection, MergeCounts, int], None]:
    return holds.guard(contract.holds, dataset=contract.dataset, stream=contract.stream, fetched=fetched, full=full,
                       scope=contract.scope)  # several sources: a source's change against its own rows


def with_volume(write: Callable[[Connection, PublishResult], None], *, run_id: str, contract: Contract,
                source: str, full: bool, fetched: int, full_reload: bool = False
                ) -> Callable[[Connection, PublishResult], None]:
    """`write`, then this run's volume for the volume rule, in the publish transaction; a declared full
    reload (the hold rules stepped aside) is written to the audit log there too, under the OS user."""
    def both(conn: Connection, result: PublishResult) -> None:
        write(conn, result)
        holds.record_volume(conn, run_id=run_id, dataset=contract.dataset, source=source, stream=contract.stream,
                            full=full, fetched=fetched)
        if full_reload:
            from sharing.api import audit

            audit.append(conn, [audit.Entry(
                method="CLI", endpoint="sync --full-reload", client=who(), purpose="declared full reload",
                params={"dataset": contract.dataset, "source": source, "stream": contract.stream, "run_id": run_id},
                outcome="allowed", status=0,
                detail=f"{contract.dataset} v{result.version} +{result.inserted} ~{result.updated} "
                       f"-{result.deleted}, hold rules overridden",
            )])
    return both


def prepare_audit(url: str) -> None:
    """The audit tables, created before a run's transaction opens (SQLite allows one writer)."""
    from sharing import db
    from sharing.api import audit

    audit.create_tables(db.engine_for(url))


def hold_run(url: str, data_dir: Path, held: HoldRequired, *, source: str, stream: str, run_id: str,
             valid: Iterable[pa.Table], full_refresh: bool, expected_state: dict[str, Any] | None,
             new_state: dict[str, Any], quality: dict[str, Any],
             save_quality: Callable[[Connection, PublishResult], None]) -> tuple[str, str]:
    """Keep the held run; its quarantine and statistics are saved now (evidence of the run). (id, message)"""
    from sharing import db

    hold_id = holds.keep(url, data_dir, held, source=source, stream=stream, run_id=run_id, tables=valid,
                         full_refresh=full_refresh, expected_state=expected_state, new_state=new_state,
                         quality=quality)
    with db.engine_for(url).begin() as conn:
        save_quality(conn, PublishResult(held.dataset, 0, False))
    message = (f"HELD for review as hold {hold_id}: {held}. Nothing was published and the cursor did not move; "
               f"see `lienthong holds show {hold_id}`, then `release` or `discard` it")
    return hold_id, message


def release(url: str, data_dir: Path, hold_id: str, *, user: str | None = None, note: str | None = None
            ) -> PublishResult:
    """Publish a held run as it would have been published, once."""
    from schemas.contract import contract_for_stream
    from sharing import db
    from sharing.api import audit
    from sharing.spec import dataset_spec

    hold = holds.get_hold(url, hold_id)
    if hold.status != "held":
        raise HoldError(f"hold {hold.id} is already {hold.status}"
                        + (f" by {hold.decided_by}" if hold.decided_by else "") + "; nothing was done")
    user = user or who()
    contract = contract_for_stream(hold.source, hold.stream)
    tables = holds.read_staged(data_dir, hold)
    audit.create_tables(db.engine_for(url))

    def decide(conn: Connection, result: PublishResult) -> None:
        holds.decide(conn, hold, "released", user, note, result.version)
        holds.record_volume(conn, run_id=hold.run_id, dataset=hold.dataset, source=hold.source, stream=hold.stream,
                            full=hold.full_refresh or hold.expected_state is None,
                            fetched=int(hold.counts.get("fetched", 0)))
        holds.audit_decision(conn, hold, "release", user,
                             f"released hold {hold.id}: {hold.dataset} v{result.version} "
                             f"+{result.inserted} ~{result.updated} -{result.deleted}")

    quality = {**(hold.quality or {}), "hold": hold.id, "released_by": user}
    result = publish(url, dataset_spec(contract), tables, data_dir=data_dir, full_refresh=hold.full_refresh,
                     state=StateCommit(hold.source, hold.stream, hold.expected_state, hold.new_state),
                     quality=quality, run_id=hold.run_id, in_transaction=decide)
    holds.remove_files(data_dir, hold.id)
    return result


def discard(url: str, data_dir: Path, hold_id: str, *, user: str | None = None, note: str | None = None) -> None:
    """Drop a held run: nothing of it is published, the next sync starts again from the committed state."""
    from sharing import db
    from sharing.api import audit

    hold = holds.get_hold(url, hold_id)
    if hold.status != "held":
        raise HoldError(f"hold {hold.id} is already {hold.status}; nothing was done")
    user = user or who()
    engine = db.engine_for(url)
    audit.create_tables(engine)
    with engine.begin() as conn:
        holds.decide(conn, hold, "discarded", user, note)
        holds.audit_decision(conn, hold, "discard", user, f"discarded hold {hold.id} of {hold.dataset}"
                             + (f": {note}" if note else ""))
    holds.remove_files(data_dir, hold.id)
