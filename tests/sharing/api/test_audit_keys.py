"""An audit chain no one can quietly rewrite: keyed seals, signed checkpoints outside the database, rotation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from core.keys import add_key
from sharing import db
from sharing.api import audit, checkpoints
from sharing.api.audit import GENESIS, AuditWriter, Entry, audit_head, audit_log, entry_hash, verify
from sharing.api.cli import audit as audit_cli

pytestmark = pytest.mark.integration


@pytest.fixture
def url(db_url: str) -> Iterator[str]:
    yield db_url
    db.engine_for(db_url).dispose()


@pytest.fixture
def ring_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The audit key ring in a file of this test's (so it can be rotated), read afresh by the writer."""
    path = tmp_path / "audit.keys"
    add_key(path, "2026a")
    monkeypatch.delenv("LIENTHONG_AUDIT_KEYS", raising=False)
    monkeypatch.setenv("LIENTHONG_AUDIT_KEYS_FILE", str(path))
    monkeypatch.setattr(audit, "_RING", None)
    yield path
    audit._RING = None


def _fill(url: str, first: int, n: int) -> None:
    writer = AuditWriter(url)
    try:
        for i in range(first, first + n):
            writer.submit(Entry(method="GET", endpoint=f"/v1/test/{i}", client="c", purpose="p",
                                row_keys={"d": [i]}, outcome="allowed", status=200)).result(timeout=30)
    finally:
        writer.close()  # and a signed checkpoint of the head


def _rewrite_from(url: str, k: int) -> None:
    """What someone with database access but no key can do: rewrite entries k.. and the head, relinked,
    each sealed the only way they can (plain sha256, or HMAC under a key of their own)."""
    with db.engine_for(url).begin() as conn:
        rows = [dict(r) for r in conn.execute(sa.select(audit_log).order_by(audit_log.c.seq)).mappings()]
        prev = rows[k - 2]["hash"] if k > 1 else GENESIS
        for row in rows[k - 1:]:
            row["client"], row["prev_hash"] = "someone_else", prev
            row["hash"] = entry_hash(row, b"a key of the forger's own")
            conn.execute(audit_log.update().where(audit_log.c.seq == row["seq"]).values(
                client=row["client"], prev_hash=prev, hash=row["hash"]))
            prev = row["hash"]
        conn.execute(audit_head.update().values(hash=prev))


def test_rewriting_the_chain_from_entry_k_with_its_head_is_named_at_k(url: str, ring_file: Path) -> None:
    _fill(url, 1, 12)
    assert verify(url) == (12, [])
    _rewrite_from(url, 7)
    _, problems = verify(url)
    assert problems and problems[0].seq == 7 and problems[0].kind == "changed", problems
    assert {p.seq for p in problems if p.kind == "changed"} == set(range(7, 13))
    result = CliRunner().invoke(audit_cli, ["verify", "--database-url", url])
    assert result.exit_code == 1 and "entry 7 changed" in result.output


def test_downgrading_to_unkeyed_seals_is_named(url: str, ring_file: Path) -> None:
    _fill(url, 1, 6)
    with db.engine_for(url).begin() as conn:
        rows = [dict(r) for r in conn.execute(sa.select(audit_log).order_by(audit_log.c.seq)).mappings()]
        prev = GENESIS
        for row in rows:  # the whole chain, from the first entry, as a legacy sha256 chain
            row.update(key_id=None, prev_hash=prev, client="someone_else")
            row["hash"] = entry_hash(row)
            conn.execute(audit_log.update().where(audit_log.c.seq == row["seq"]).values(
                key_id=None, prev_hash=prev, client="someone_else", hash=row["hash"]))
            prev = row["hash"]
        conn.execute(audit_head.update().values(hash=prev))
    _, problems = verify(url)
    # The checkpoint outside the database knew the chain was keyed from entry 1 and ended at entry 6.
    assert [(p.seq, p.kind) for p in problems if p.seq == 1] == [(1, "unkeyed")]
    assert (6, "checkpoint") in [(p.seq, p.kind) for p in problems]


def test_cutting_off_the_newest_entries_and_the_head_is_seen_by_the_checkpoint(url: str, ring_file: Path) -> None:
    _fill(url, 1, 10)
    with db.engine_for(url).begin() as conn:
        eight = conn.execute(sa.select(audit_log.c.hash).where(audit_log.c.seq == 8)).scalar_one()
        conn.execute(audit_log.delete().where(audit_log.c.seq > 8))
        conn.execute(audit_head.update().values(seq=8, hash=eight))
    _, problems = verify(url)
    assert [(p.seq, p.kind) for p in problems] == [(10, "checkpoint")]
    assert "gone" in problems[0].message


def test_a_forged_checkpoint_is_refused(url: str, ring_file: Path) -> None:
    _fill(url, 1, 3)
    path = checkpoints.path_for(url)
    line = json.loads(path.read_text().splitlines()[-1])
    path.write_text(path.read_text() + json.dumps({**line, "seq": 99}) + "\n")
    _, problems = verify(url)
    assert [(p.seq, p.kind) for p in problems] == [(99, "checkpoint")]
    assert "signature does not verify" in problems[0].message


def test_rotating_the_key_keeps_old_entries_verifiable(url: str, ring_file: Path) -> None:
    _fill(url, 1, 5)
    result = CliRunner().invoke(audit_cli, ["rotate-key"])
    assert result.exit_code == 0, result.output
    assert "k2" in result.output and "restart" in result.output
    audit._RING = None  # the restarted API reads the ring again
    _fill(url, 6, 5)
    with db.engine_for(url).connect() as conn:
        used = dict(conn.execute(sa.select(audit_log.c.seq, audit_log.c.key_id)).all())
    assert {used[s] for s in range(1, 6)} == {"2026a"} and {used[s] for s in range(6, 11)} == {"k2"}
    assert verify(url) == (10, [])
    # A ring that lost the old key can no longer vouch for the old entries, and says so.
    ring_file.write_text("\n".join(line for line in ring_file.read_text().splitlines() if line.startswith("k2")))
    _, problems = verify(url)
    assert {(p.seq, p.kind) for p in problems if p.kind == "unknown_key"} == {(s, "unknown_key") for s in range(1, 6)}


def test_a_chain_from_before_keys_verifies_and_continues_keyed(url: str, ring_file: Path) -> None:
    with db.engine_for(url).begin() as conn:
        audit.create_tables(db.engine_for(url))
        rows = [Entry(method="GET", endpoint=f"/old/{i}", status=200, outcome="allowed").row(i, GENESIS)
                for i in (1,)]
        conn.execute(audit_log.insert(), rows)
        conn.execute(audit_head.update().values(seq=1, hash=rows[0]["hash"]))
    _fill(url, 2, 3)
    assert verify(url) == (4, [])
    result = CliRunner().invoke(audit_cli, ["checkpoint", "--database-url", url])
    assert result.exit_code == 0 and "entry 4" in result.output


def test_a_drift_approved_at_the_console_is_in_the_chain_under_the_os_user(url: str, ring_file: Path) -> None:
    from datetime import UTC, datetime

    from core.actions import os_user
    from lienthong.cli import main
    from schemas.drift import drift_log

    engine = db.engine_for(url)
    drift_log.metadata.create_all(engine, tables=[drift_log])
    now = datetime.now(UTC)
    with engine.begin() as conn:
        drift_id = conn.execute(drift_log.insert().values(
            source="land", dataset="parcels", field="holderName_v2", kind="new_field", first_seen=now,
            last_seen=now, rows_seen=3, sample="x", status="open").returning(drift_log.c.id)).scalar_one()
    result = CliRunner().invoke(main, ["drift", "approve", str(drift_id), "--database-url", url])
    assert result.exit_code == 0, result.output
    with engine.connect() as conn:
        (entry,) = conn.execute(sa.select(audit_log).where(audit_log.c.endpoint == "cli:drift.approve")).mappings()
    assert entry["client"] == f"os:{os_user()}" and entry["method"] == "CLI"
    assert json.loads(entry["params"]) == {"drift_id": drift_id} and f"drift {drift_id}" in entry["detail"]
    assert verify(url) == (1, [])
