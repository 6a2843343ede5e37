"""Retention: pruning a dataset's history without breaking an as-of read inside its retention window.

The oldest version to keep, K, is the latest of: the version `versions - 1` before the current one, and
the version that was current at the start of the `days` window; then it moves back to the version that
was current `legal_minimum_days` ago if that is older. Every as-of read at or after K's publication
reads rows that were current at some version >= K, so what prune removes is exactly what no such read
needs: serving-table rows closed at or before K (`version_to <= K`), and the snapshot directories of
versions below K. The catalog rows of pruned versions stay (small; they say what was published and
when) with `snapshot_path` cleared. Each prune is written to the audit log under the OS user.
"""


from __future__ import annotations

import getpass
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from sharing import db, snapshots

if TYPE_CHECKING:
    from schemas.contract import Retention


@dataclass(frozen=True, slots=True)
class PruneReport:
    dataset: str
    keep_from: int  # the oldest version still readable
    current: int
    removed_versions: list[int]
    history_rows: int
    dry_run: bool

    def line(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        gone = f"v{self.removed_versions[0]}..v{self.removed_versions[-1]}" if self.removed_versions else "none"
        return (f"{self.dataset}: keeps v{self.keep_from}..v{self.current}; {verb} snapshots {gone} and "
                f"{self.history_rows:,} history row(s)")


def _current_at(versions: list[tuple[int, datetime]], at: datetime) -> int:
    """The version current at time `at` (the oldest one when `at` is before every version)."""
    chosen = versions[0][0]
    for number, published in versions:
        if published <= at:
            chosen = number
    return chosen


def keep_from(versions: list[tuple[int, datetime]], rule: Retention, now: datetime) -> int:
    """The oldest version the rule keeps, from (version, published_at) in version order."""
    current = versions[-1][0]
    candidates = []
    if rule.versions is not None:
        candidates.append(max(versions[0][0], current - rule.versions + 1))
    if rule.days is not None:
        candidates.append(_current_at(versions, now - timedelta(days=rule.days)))
    oldest = max(candidates)
    if rule.legal_minimum_days:
        oldest = min(oldest, _current_at(versions, now - timedelta(days=rule.legal_minimum_days)))
    return oldest


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def prune(url: str, data_dir: Path, dataset: str, rule: Retention, *, dry_run: bool = False,
          user: str | None = None, now: datetime | None = None) -> PruneReport:
    """Remove what `rule` no longer keeps of `dataset`, under the dataset's lock; audited."""
    from sharing.api import audit

    engine = db.engine_for(url)
    db.create_system_tables(engine)
    now = now or datetime.now(UTC)
    t, v = db.datasets, db.dataset_versions
    audit.create_tables(engine)
    with engine.begin() as conn:
        conn.execute(sa.update(t).where(t.c.name == dataset).values(name=t.c.name))  # the publishers' lock
        rows = conn.execute(sa.select(v.c.version, v.c.published_at).where(v.c.dataset == dataset)
                            .order_by(v.c.version)).all()
        if not rows:
            return PruneReport(dataset, 0, 0, [], 0, dry_run)
        versions = [(int(n), _aware(at)) for n, at in rows]
        oldest = keep_from(versions, rule, now)
        current = versions[-1][0]
        removed = [n for n, _ in versions if n < oldest
                   and snapshots.version_dir(data_dir, dataset, n).exists()]
        quote = conn.dialect.identifier_preparer.quote
        table = quote(f"ds_{dataset}")
        closed = f"FROM {table} WHERE version_to IS NOT NULL AND version_to <= :oldest"
        history = int(conn.execute(sa.text(f"SELECT COUNT(*) {closed}"), {"oldest": oldest}).scalar_one())
        report = PruneReport(dataset, oldest, current, removed, history, dry_run)
        if dry_run:
            return report
        conn.execute(sa.text(f"DELETE {closed}"), {"oldest": oldest})
        conn.execute(sa.update(v).where(v.c.dataset == dataset, v.c.version < oldest).values(snapshot_path=None))
        marks = db.retention_marks
        conn.execute(sa.delete(marks).where(marks.c.dataset == dataset))
        conn.execute(sa.insert(marks).values(dataset=dataset, keep_from=oldest, pruned_at=now))
        audit.append(conn, [audit.Entry(
            method="CLI", endpoint="datasets prune", client=user or getpass.getuser(), purpose="retention",
            params={"dataset": dataset, "keep_from": oldest, "current": current, "removed_versions": removed,
                    "history_rows": history, "rule": {"versions": rule.versions, "days": rule.days,
                                                       "legal_minimum_days": rule.legal_minimum_days}},
            outcome="allowed", status=0, detail=report.line(),
        )])
    for number in removed:  # after the commit: a failed removal leaves a directory no catalog row points to
        shutil.rmtree(snapshots.version_dir(data_dir, dataset, number), ignore_errors=True)
    return report
