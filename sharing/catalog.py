"""The dataset catalog: what is published, by whom, how fresh, how complete, how clean."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from sharing import db


@dataclass(frozen=True, slots=True)
class DatasetEntry:
    name: str
    owner_agency: str | None
    version: int
    rows: int
    published_at: datetime | None
    contract_version: str | None
    quality_score: float | None  # share of the last run's fetched records that passed, 0..1
    primary_key: str
    description: str | None

    def freshness_seconds(self, now: datetime | None = None) -> float | None:
        if self.published_at is None:
            return None
        published = self.published_at if self.published_at.tzinfo else self.published_at.replace(tzinfo=UTC)
        return ((now or datetime.now(UTC)) - published).total_seconds()


def quality_score(quality: dict[str, Any] | None) -> float | None:
    if not quality:
        return None
    valid, bad = quality.get("valid"), quality.get("quarantined")
    if not isinstance(valid, int) or not isinstance(bad, int) or valid + bad == 0:
        return None
    return valid / (valid + bad)


def list_datasets(url: str) -> list[DatasetEntry]:
    engine = db.engine_for(url)
    db.create_system_tables(engine)
    d, v = db.datasets, db.dataset_versions
    query = (
        sa.select(d, v.c.rows, v.c.published_at, v.c.quality)
        .select_from(d.outerjoin(v, sa.and_(v.c.dataset == d.c.name, v.c.version == d.c.current_version)))
        .order_by(d.c.name)
    )
    with engine.connect() as conn:
        return [
            DatasetEntry(
                name=r.name, owner_agency=r.owner_agency, version=r.current_version, rows=r.rows or 0,
                published_at=r.published_at, contract_version=r.contract_version,
                quality_score=quality_score(r.quality), primary_key=r.primary_key, description=r.description,
            )
            for r in conn.execute(query)
        ]


def list_versions(url: str, name: str) -> list[dict[str, Any]]:
    engine = db.engine_for(url)
    db.create_system_tables(engine)
    v = db.dataset_versions
    with engine.connect() as conn:
        rows = conn.execute(sa.select(v).where(v.c.dataset == name).order_by(v.c.version)).mappings().all()
    return [dict(r) for r in rows]
