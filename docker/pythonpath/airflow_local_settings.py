"""Airflow cluster policy for the deployment: each agency's tasks go to the Celery queue named for its pool.

The sync DAGs put every task that calls an agency in that agency's pool (`lienthong_<agency>`); this
policy routes the same tasks to the queue of the same name, so an operator decides which workers may
call which agency (a worker in the agency's network zone, say) with `airflow celery worker -q ...`,
without the DAGs knowing about Celery. The LocalExecutor ignores queues, so nothing changes there.
Airflow imports this module from its PYTHONPATH (the image puts docker/pythonpath on it).
"""

from __future__ import annotations

from typing import Any

POOL_PREFIX = "lienthong_"


def task_policy(task: Any) -> None:
    pool = getattr(task, "pool", None)
    if isinstance(pool, str) and pool.startswith(POOL_PREFIX) and task.queue in (None, "default"):
        task.queue = pool
