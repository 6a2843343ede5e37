#!/bin/sh
# PostgreSQL's start, the official image's way: at the first start (empty PGDATA) initdb with the superuser's
# password from POSTGRES_PASSWORD_FILE, run /docker-entrypoint-initdb.d/*.sh against a server that listens on
# its socket only, stop it; then exec the server with the command's arguments (`postgres -c port=...`).
set -eu

: "${POSTGRES_USER:=postgres}"
export POSTGRES_USER
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "${POSTGRES_PASSWORD_FILE:-}" ] || [ ! -r "$POSTGRES_PASSWORD_FILE" ]; then
        echo "postgres-entrypoint: POSTGRES_PASSWORD_FILE must name a readable file" >&2
        exit 78
    fi
    initdb --username="$POSTGRES_USER" --pwfile="$POSTGRES_PASSWORD_FILE" --auth-local=trust \
        --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 -D "$PGDATA" >/dev/null
    # every host connection needs a password (scram); the socket inside the container is trusted
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' -c unix_socket_directories=/var/run/postgresql" start >/dev/null
    for script in /docker-entrypoint-initdb.d/*.sh; do
        [ -e "$script" ] || continue
        echo "postgres-entrypoint: running $script"
        sh "$script"
    done
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    echo "postgres-entrypoint: cluster initialised in $PGDATA"
fi
if [ "${1:-}" = postgres ]; then
    shift
    exec postgres -D "$PGDATA" -c unix_socket_directories=/var/run/postgresql "$@"
fi
exec "$@"
