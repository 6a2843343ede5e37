"""The host name Airflow records for this process (AIRFLOW__CORE__HOSTNAME_CALLABLE=lienthong_hostname.name).

A Celery worker is named by LIENTHONG_WORKER_NAME (compose sets airflow-worker-1, -2): with host networking
every container has the machine's host name, and the task instances must still say which worker ran them
(and the scheduler's log links which worker to ask). Any other process: the fully qualified host name.
"""

from __future__ import annotations

import os
import socket


def name() -> str:
    return os.environ.get("LIENTHONG_WORKER_NAME") or socket.getfqdn()
