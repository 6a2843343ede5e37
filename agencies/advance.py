"""What happens to an agency's records while the simulated clock moves: inserts, updates, deletes.

Deterministic: the batch is drawn from an RNG seeded by (seed, agency, old clock, minutes), and rows
are picked by rowid from the file's own state, so the same seed, N and sequence of advances give the
same bytes. About 1% of N changes per advance (at least 10); each change is stamped inside
(old clock, new clock]. Deletes follow PROTOCOL.md: a tombstone for land and tax, a removed row
(absence) for business and construction.
"""

from __future__ import annotations

import json
import random
import sqlite3
from datetime import datetime, timedelta
from typing import Any

from agencies import names
from agencies.base import DATASETS, AgencyName, Record
from agencies.datasets import DatasetSpec, spec
from agencies.generate import build, initial_count
from agencies.world import World, iso, parse_iso

_KINDS = ("insert", "update", "delete")
_KIND_WEIGHTS = (40, 45, 15)


def _dumps(record: Record) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def _mutate(rng: random.Random, world: World, ds: DatasetSpec, record: Record, when: datetime) -> None:
    """Change what such a system changes in such a record (a status, a use, a date)."""
    name = ds.name
    if name == "parcels":
        if rng.random() < 0.5:
            record["landUseCode"] = rng.choice(("ONT", "ODT", "CLN", "TMD", "SKC"))
        else:
            record["areaM2"] = f"{float(record['areaM2']) * rng.uniform(0.9, 1.1):.2f}"
    elif name == "land_certificates":
        record["issuedDate"] = when.strftime("%Y-%m-%d")
    elif name == "enterprises":
        if rng.random() < 0.5:
            record["status"] = rng.choice(("active", "suspended", "dissolving", "dissolved"))
        else:
            commune = rng.choice(world.province.communes)
            record["communeCode"] = commune.code
            record["address"] = names.street_address(rng, commune.name, world.province.name)
    elif name == "branches":
        record["status"] = "suspended" if record["status"] == "active" else "active"
    elif name == "permits":
        record["status"] = rng.choice(("revoked", "expired", "granted"))
    elif name == "taxpayers":
        record["status_code"] = rng.choice(("00", "01", "02", "03", "04", "05", "06"))
    elif name == "land_tax_notices":
        record["status"] = rng.choice(("paid", "overdue", "cancelled"))
    elif name == "payment_receipts":
        record["ma_kho_bac"] = rng.choice(("0311", "0312", "0315", "0318"))  # moved to another office's books
    elif name == "district_permits":
        record["trang_thai"] = rng.choice(("Đã cấp", "Hết hiệu lực", "Thu hồi"))
    record[ds.updated_field] = ds.wire_time(when)


def _pick_live(conn: sqlite3.Connection, rng: random.Random, dataset: str) -> tuple[int, str, str] | None:
    """A live row chosen by rowid: (rowid, key, body)."""
    top = conn.execute("SELECT max(rowid) FROM records").fetchone()[0] or 0
    start = rng.randint(1, max(1, top))
    for sql in (
        "SELECT rowid, key, body FROM records WHERE rowid >= ? AND dataset = ? AND deleted = 0 ORDER BY rowid LIMIT 1",
        "SELECT rowid, key, body FROM records WHERE rowid < ? AND dataset = ? AND deleted = 0 ORDER BY rowid LIMIT 1",
    ):
        row = conn.execute(sql, (start, dataset)).fetchone()
        if row is not None:
            return int(row[0]), str(row[1]), str(row[2])
    return None


def _tombstone(ds: DatasetSpec, record: Record, when: datetime) -> Record:
    if ds.deletes == "tombstone_key_only":
        return {ds.key_fields[0]: record[ds.key_fields[0]], "deleted": True, ds.updated_field: iso(when)}
    return {**record, ds.tombstone_field: True, ds.updated_field: ds.wire_time(when)}


def apply_advance(conn: sqlite3.Connection, world: World, agency: AgencyName, minutes: int) -> dict[str, Any]:
    """Apply one advance inside the caller's transaction; returns the new clock and what changed."""
    if minutes < 1:
        raise ValueError(f"minutes={minutes}: the clock only moves forward, by at least one minute")
    meta = dict(conn.execute("SELECT name, value FROM meta").fetchall())
    old = parse_iso(meta["clock"])
    new = old + timedelta(minutes=minutes)
    rng = random.Random(f"{world.seed}:advance:{agency}:{meta['clock']}:{minutes}")
    datasets = DATASETS[agency]
    sizes = {d: initial_count(world, d) for d in datasets}
    total = max(10, world.records // 100)
    changed = {"inserted": 0, "updated": 0, "deleted": 0}
    for dataset in datasets:
        ds = spec(dataset)
        n = max(1, round(total * sizes[dataset] / sum(sizes.values())))
        next_index = int(meta[f"next:{dataset}"])
        for _ in range(n):
            kind = rng.choices(_KINDS, _KIND_WEIGHTS)[0]
            when = old + timedelta(seconds=rng.randint(1, minutes * 60))
            picked = None if kind == "insert" else _pick_live(conn, rng, dataset)
            if picked is None:
                kind = "insert"
            if kind == "insert":
                record = build(world, dataset, next_index)
                next_index += 1
                record[ds.updated_field] = ds.wire_time(when)
                conn.execute(
                    "INSERT OR REPLACE INTO records (dataset, key, updated_at, deleted, body) VALUES (?, ?, ?, 0, ?)",
                    (dataset, ds.key_of(record), iso(when), _dumps(record)),
                )
                changed["inserted"] += 1
                continue
            assert picked is not None
            rowid, _, body = picked
            record = json.loads(body)
            if kind == "update":
                _mutate(rng, world, ds, record, when)
                conn.execute("UPDATE records SET updated_at = ?, body = ? WHERE rowid = ?",
                             (iso(when), _dumps(record), rowid))
                changed["updated"] += 1
            elif ds.deletes == "absence":
                conn.execute("DELETE FROM records WHERE rowid = ?", (rowid,))
                changed["deleted"] += 1
            else:
                conn.execute("UPDATE records SET updated_at = ?, deleted = 1, body = ? WHERE rowid = ?",
                             (iso(when), _dumps(_tombstone(ds, record, when)), rowid))
                changed["deleted"] += 1
        conn.execute("UPDATE meta SET value = ? WHERE name = ?", (str(next_index), f"next:{dataset}"))
    advances = int(meta.get("advances", "0")) + 1
    conn.execute("UPDATE meta SET value = ? WHERE name = 'clock'", (iso(new),))
    conn.execute("UPDATE meta SET value = ? WHERE name = 'advances'", (str(advances),))
    return {"agency": agency, "clock": iso(new), "previous_clock": iso(old), "minutes": minutes, **changed}
