"""The audit log: every request recorded without secrets; a changed or deleted entry is found and named."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import psycopg
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from sharing import db
from sharing.api.audit import (
    AuditWriter,
    Entry,
    append,
    append_if_head,
    audit_log,
    create_tables,
    psycopg_dsn,
    read,
    verify,
)
from sharing.api.cli import audit as audit_cli
from tests.sharing.api.conftest import CLIENTS, Served, headers, key
from tests.sharing.api.samples import pick

pytestmark = pytest.mark.integration


@pytest.fixture
def url(db_url: str) -> Iterator[str]:
    """A fresh database (each backend), whose pooled connections are closed before it is dropped."""
    yield db_url
    db.engine_for(db_url).dispose()


def _fill(url: str, n: int) -> None:
    writer = AuditWriter(url)
    try:
        for i in range(n):
            writer.submit(Entry(method="GET", endpoint=f"/v1/test/{i}", client="c", purpose="p",
                                row_keys={"d": [i]}, outcome="allowed", status=200)).result(timeout=30)
    finally:
        writer.close()


def _verify_cli(url: str) -> tuple[int, str]:
    result = CliRunner().invoke(audit_cli, ["verify", "--database-url", url])
    return result.exit_code, result.output


def test_intact_chain_verifies(url: str) -> None:
    _fill(url, 20)
    assert verify(url) == (20, [])
    code, out = _verify_cli(url)
    assert code == 0 and "20 entries, chain intact" in out


def test_changed_entry_is_named(url: str) -> None:
    _fill(url, 20)
    with db.engine_for(url).begin() as conn:
        conn.execute(audit_log.update().where(audit_log.c.seq == 7).values(client="someone_else"))
    _, problems = verify(url)
    assert [(p.seq, p.kind) for p in problems] == [(7, "changed")]
    code, out = _verify_cli(url)
    assert code == 1 and "entry 7 changed" in out


def test_rehashed_entry_is_named(url: str) -> None:
    """A forger without the key cannot reseal a changed entry; one holding it still breaks the next link."""
    _fill(url, 10)
    from sharing.api.audit import audit_keys, entry_hash

    with db.engine_for(url).begin() as conn:
        row = dict(conn.execute(sa.select(audit_log).where(audit_log.c.seq == 4)).mappings().one())
        row["row_keys"] = "{}"
        conn.execute(audit_log.update().where(audit_log.c.seq == 4).values(row_keys="{}", hash=entry_hash(row)))
    _, problems = verify(url)
    assert [(p.seq, p.kind) for p in problems] == [(4, "changed"), (5, "relinked")]
    with db.engine_for(url).begin() as conn:
        conn.execute(audit_log.update().where(audit_log.c.seq == 4).values(
            hash=entry_hash(row, audit_keys().get(row["key_id"]))))
    _, problems = verify(url)
    assert [(p.seq, p.kind) for p in problems] == [(5, "relinked")]
    assert "entry 5: prev_hash does not match entry 4" in problems[0].message


def test_deleted_entry_is_named(url: str) -> None:
    _fill(url, 20)
    with db.engine_for(url).begin() as conn:
        conn.execute(audit_log.delete().where(audit_log.c.seq == 12))
    _, problems = verify(url)
    assert [(p.seq, p.kind) for p in problems] == [(12, "deleted")]
    code, out = _verify_cli(url)
    assert code == 1 and "entry 12 missing: deleted" in out


def test_deleted_newest_entry_is_named(url: str) -> None:
    _fill(url, 5)
    with db.engine_for(url).begin() as conn:
        conn.execute(audit_log.delete().where(audit_log.c.seq == 5))
    _, problems = verify(url)
    # The head row names it, and so does the checkpoint the writer signed when it closed.
    assert [(p.seq, p.kind) for p in problems] == [(5, "checkpoint"), (5, "deleted")]


def test_concurrent_writers_keep_one_chain(url: str) -> None:
    """Two writers (as two server processes would be), each fed by several threads: one valid chain."""
    create_tables(db.engine_for(url))
    writers = [AuditWriter(url), AuditWriter(url)]

    def feed(w: AuditWriter, t: int) -> None:
        futures = [w.submit(Entry(method="GET", endpoint=f"/t{t}/{i}", outcome="allowed", status=200))
                   for i in range(50)]
        for f in futures:
            f.result(timeout=60)

    threads = [threading.Thread(target=feed, args=(writers[t % 2], t)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for w in writers:
        w.close()
    assert verify(url) == (400, [])


def test_a_writer_whose_head_moved_writes_nothing_and_chains_after_the_new_head(pg_url: str) -> None:
    """PostgreSQL's one-statement append is conditional on the head being the writer's own: after another
    process appended, it writes nothing, and the writer's next group goes in after locking the new head."""
    engine = db.engine_for(pg_url)
    create_tables(engine)
    with engine.begin() as conn:
        conn.execute(audit_log.delete())
        conn.execute(sa.text("UPDATE lt_audit_head SET seq = 0, hash = :g"), {"g": "0" * 64})
    writer = AuditWriter(pg_url)
    try:
        # Texts PostgreSQL cannot store as they are, through the one-statement path (the second group).
        odd = Entry(method="GET", endpoint="/v1/x\x00y", detail="Nguyễn \udcff\x00", outcome="denied", status=400)
        assert [writer.submit(Entry(method="GET", endpoint=f"/w/{i}", outcome="allowed", status=200))
                .result(timeout=30) for i in range(3)] == [1, 2, 3]
        assert writer.submit(odd).result(timeout=30) == 4
        mine = writer._head
        assert mine is not None and mine[0] == 4
        with engine.begin() as conn:  # another server process appends
            assert append(conn, [Entry(method="GET", endpoint="/other", outcome="allowed", status=200)]) == [5]
        with psycopg.connect(psycopg_dsn(pg_url), autocommit=True) as auto:
            assert append_if_head(auto, [Entry(method="GET", endpoint="/stale", status=200)], mine)[0] is None
        assert writer.submit(Entry(method="GET", endpoint="/after", outcome="allowed", status=200)
                             ).result(timeout=30) == 6
    finally:
        writer.close()
    with engine.connect() as conn:
        endpoints = conn.execute(sa.select(audit_log.c.endpoint).order_by(audit_log.c.seq)).scalars().all()
        detail = conn.execute(sa.select(audit_log.c.detail).where(audit_log.c.seq == 4)).scalar_one()
    assert endpoints == ["/w/0", "/w/1", "/w/2", "/v1/x\\x00y", "/other", "/after"]
    assert detail == "Nguyễn \\udcff\\x00"
    assert verify(pg_url)[1] == []


def test_a_writer_waits_for_the_head_another_process_holds(pg_url: str) -> None:
    """While another process's append holds the head, a writer whose head moved waits on its lock (no
    retries) and chains after it once it commits."""
    engine = db.engine_for(pg_url)
    create_tables(engine)
    writer = AuditWriter(pg_url)
    try:
        first = writer.submit(Entry(method="GET", endpoint="/mine", outcome="allowed", status=200)).result(timeout=30)
        with engine.begin() as conn:  # another server process, in the middle of its append
            (other,) = append(conn, [Entry(method="GET", endpoint="/other", outcome="allowed", status=200)])
            waiting = writer.submit(Entry(method="GET", endpoint="/next", outcome="allowed", status=200))
            time.sleep(0.5)
            assert not waiting.done(), "written while another process held the head"
        assert (other, waiting.result(timeout=30)) == (first + 1, first + 2)
    finally:
        writer.close()
    assert verify(pg_url)[1] == []


def test_requests_are_logged_without_secrets(api: httpx.Client, served: Served) -> None:
    s = pick(served.url)
    before = max([r["seq"] for r in read(served.url, limit=1_000_000)], default=0)
    ok = api.get(f"/v1/enterprises/{s.tax_code}", headers=headers("clear_all"))
    denied = api.get(f"/v1/enterprises/{s.tax_code}", headers=headers("no_grant"))
    anonymous = api.get(f"/v1/enterprises/{s.tax_code}", headers={"X-API-Key": "lt_wrong_secret_value"})
    assert (ok.status_code, denied.status_code, anonymous.status_code) == (200, 403, 401)
    entries = read(served.url, after=before)
    mine = [e for e in entries if e["endpoint"] == "/v1/enterprises/{tax_code}"][-3:]
    assert [(e["client"], e["purpose"], e["outcome"], e["status"]) for e in mine] == [
        ("clear_all", "inspection", "allowed", 200), ("no_grant", "inspection", "denied", 403),
        (None, None, "denied", 401)]
    assert f'"{s.tax_code}"' in mine[0]["row_keys"]
    assert mine[1]["row_keys"] == "{}" and "no grant" in mine[1]["detail"]
    every = " ".join(str(v) for e in read(served.url, limit=1_000_000) for v in e.values())
    assert "lt_wrong_secret_value" not in every
    assert not any(key(c) in every for c in CLIENTS)
    assert verify(served.url)[1] == []


def test_audit_endpoint_is_for_auditors(api: httpx.Client, served: Served) -> None:
    assert api.get("/v1/audit", headers=headers("clear_all")).status_code == 403
    first = api.get("/v1/audit", params={"limit": 2}, headers=headers("auditor"))
    assert first.status_code == 200
    page = first.json()
    assert len(page["entries"]) == 2 and page["next_cursor"]
    nxt = api.get("/v1/audit", params={"limit": 2, "cursor": page["next_cursor"]}, headers=headers("auditor")).json()
    assert nxt["entries"][0]["seq"] == page["entries"][-1]["seq"] + 1
    denied = read(served.url, client="clear_all", limit=1_000_000)
    assert any(e["endpoint"] == "/v1/audit" and e["status"] == 403 for e in denied)
