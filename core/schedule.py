"""How often each source is synced: written once, for the sync DAGs and for the dashboard's "late" mark.

`SYNC_SCHEDULE` is the Airflow schedule of every sync DAG; `SYNC_EVERY` is its period, from which the
dashboard judges a source late (two periods without a successful sync).
"""

from __future__ import annotations

from datetime import timedelta

SYNC_SCHEDULE = "@hourly"
SYNC_EVERY = timedelta(hours=1)
