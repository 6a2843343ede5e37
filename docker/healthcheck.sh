#!/bin/sh
# Health of one role, for HEALTHCHECK: exit 0 when healthy.
#   healthcheck.sh http URL        an HTTP endpoint answers below 500
#   healthcheck.sh job TYPE        Airflow's job of that type (SchedulerJob, DagProcessorJob, TriggererJob) heartbeats on this host
#   healthcheck.sh celery          this host's Celery worker answers a ping
#   healthcheck.sh python          the interpreter and lienthong import (the image's default)
set -eu
. "$(dirname "$0")/secrets-env.sh"
case "${1:-python}" in
    http)
        exec python -c 'import sys, httpx; sys.exit(0 if httpx.get(sys.argv[1], timeout=5).status_code < 500 else 1)' "$2"
        ;;
    job)
        # what `airflow jobs check --local` checks, without importing Airflow (docker/pythonpath/lienthong_health.py)
        exec python -m lienthong_health job "$2"
        ;;
    celery)
        exec python -m lienthong_health celery
        ;;
    python)
        exec python -c 'import core.settings'
        ;;
    *)
        echo "healthcheck: unknown check $1" >&2
        exit 2
        ;;
esac
