"""One-shot set-up of lienthong's serving database, run as its owner role (`entrypoint.sh init-lienthong`).

Creates the serving catalog (datasets, versions, sync state) and the lookup API's audit tables, and lets
the API's role append to the audit: the API role reads the
published datasets (default privileges from the PostgreSQL init script) and may write nothing else.
"""

from __future__ import annotations

import os

import sqlalchemy as sa

from core.settings import get_settings, mask_url
from sharing import db
from sharing.api.audit import audit_head, audit_log, create_tables


def main() -> None:
    settings = get_settings()
    api_role = os.environ.get("LIENTHONG_API_DB_ROLE", "lienthong_api")
    engine = db.engine_for(settings.database_url)
    # the catalog tables too: the API, a read-only role, would create them at its start when they are missing
    db.create_system_tables(engine)
    create_tables(engine)
    quote = engine.dialect.identifier_preparer.quote
    with engine.begin() as conn:
        for table in (audit_log, audit_head):
            conn.execute(sa.text(f"GRANT SELECT, INSERT, UPDATE ON {quote(table.name)} TO {quote(api_role)}"))
    print(f"lienthong serving database ready at {mask_url(settings.database_url)}; {api_role} may append to the audit")


if __name__ == "__main__":
    main()
