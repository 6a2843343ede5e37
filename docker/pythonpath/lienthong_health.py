"""Light health checks for the Airflow roles (healthcheck.sh job TYPE / celery), in well under a second.

`airflow jobs check` and `celery inspect ping` through Airflow's app import all of Airflow: 5-10 s of CPU per
check, every interval, for every role, which on a loaded machine overran the checks' timeouts. These read the
same facts directly: the role's job heartbeat in the metadata database (psycopg), the worker's answer to a
Celery ping over the broker (celery alone).
"""

from __future__ import annotations

import os
import re
import sys

from lienthong_hostname import name as hostname

HEARTBEAT_SECONDS = int(os.environ.get("LIENTHONG_HEALTH_HEARTBEAT_SECONDS", "90"))


def job(job_type: str) -> int:
    """0 when a running job of this type on this host heartbeat within HEARTBEAT_SECONDS."""
    import psycopg

    url = re.sub(r"^postgresql\+\w+://", "postgresql://", os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT count(*) FROM job WHERE job_type = %s AND state = 'running' AND hostname = %s"
            " AND latest_heartbeat > now() - make_interval(secs => %s)",
            (job_type, hostname(), HEARTBEAT_SECONDS)).fetchone()
    alive = bool(row and row[0])
    print(f"{job_type} on {hostname()}: " + ("alive" if alive else f"no heartbeat within {HEARTBEAT_SECONDS} s"))
    return 0 if alive else 1


def celery() -> int:
    """0 when this container's worker (LIENTHONG_WORKER_NAME@host) answers a ping over the broker."""
    import socket

    from celery import Celery

    node = f"{os.environ.get('LIENTHONG_WORKER_NAME', 'celery')}@{socket.gethostname()}"
    app = Celery(broker=os.environ["AIRFLOW__CELERY__BROKER_URL"])
    replies = app.control.ping(destination=[node], timeout=5)
    ok = any(node in reply for reply in replies)
    print(f"celery worker {node}: {'pong' if ok else 'no answer'}")
    return 0 if ok else 1


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    if what == "job" and len(sys.argv) == 3:
        sys.exit(job(sys.argv[2]))
    if what == "celery":
        sys.exit(celery())
    print("usage: lienthong_health job TYPE | celery", file=sys.stderr)
    sys.exit(2)
