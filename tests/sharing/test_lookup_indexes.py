"""The lookup API's indexes: B-trees for the exact lookups, and on PostgreSQL a trigram index that name
search (`LIKE '%word%'` for every word) is answered from instead of reading the whole table."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
import sqlalchemy as sa

from schemas.contract import get_contract
from sharing import db
from sharing.publish import publish
from sharing.spec import dataset_spec
from sharing.views import ensure_lookup_indexes
from tests.sharing.tables import filled

pytestmark = pytest.mark.integration


def _enterprises(n: int) -> pa.Table:
    return filled("enterprises", n, {"enterprise_code": [f"01{i:08d}" for i in range(n)],
                                     "name_search": [f"cong ty tnhh thuong mai {i} hoa binh" for i in range(n)]})


def test_name_search_is_answered_from_a_trigram_index_on_postgresql(db_url: str, tmp_path: Path) -> None:
    from sharing.api import queries

    publish(db_url, dataset_spec(get_contract("enterprises")), [_enterprises(3000)], data_dir=tmp_path / "data")
    engine = db.engine_for(db_url)
    try:
        with engine.begin() as conn:
            ensure_lookup_indexes(conn)
            ensure_lookup_indexes(conn)  # again: nothing to do, no error
        with engine.connect() as conn:
            present = queries.Published.read(conn)
            found = queries.search_enterprises(conn, present, "mai 1234", after=None, limit=5)
            assert [r["enterprise_code"] for r in found] == ["0100001234"]
            if engine.dialect.name != "postgresql":
                return
            names = set(conn.execute(sa.text("SELECT indexname FROM pg_indexes WHERE tablename = 'ds_enterprises'"))
                        .scalars())
            assert {"ix_ds_enterprises_enterprise_code", "ix_ds_enterprises_name_search_trgm"} <= names
            conn.execute(sa.text("ANALYZE ds_enterprises"))
            plan = "\n".join(conn.execute(sa.text(
                "EXPLAIN SELECT enterprise_code FROM ds_enterprises WHERE valid_to IS NULL AND NOT is_deleted "
                "AND name_search LIKE :w ESCAPE '\\' ORDER BY name_search, enterprise_code LIMIT 20"),
                {"w": "%mai 1234%"}).scalars())
            assert "ix_ds_enterprises_name_search_trgm" in plan, plan
    finally:
        engine.dispose()
