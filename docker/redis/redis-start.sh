#!/bin/sh
# Start redis-server with the password of REDIS_PASSWORD_FILE (as configuration on stdin, so it is in no
# command line, environment or log); `--ping [port]` is the health check, authenticated the same way.
set -eu
pw=""
if [ -n "${REDIS_PASSWORD_FILE:-}" ]; then
    [ -r "$REDIS_PASSWORD_FILE" ] || { echo "redis-start: $REDIS_PASSWORD_FILE cannot be read" >&2; exit 78; }
    pw=$(cat "$REDIS_PASSWORD_FILE")
fi
if [ "${1:-}" = --ping ]; then
    port=${REDIS_PORT:-6379}
    REDISCLI_AUTH=$pw redis-cli --no-auth-warning -h 127.0.0.1 -p "$port" ping | grep -q PONG
    exit $?
fi
if [ -n "$pw" ]; then
    # a here-document is a pipe in dash: the password is in no file either
    exec redis-server - --dir /data --port "${REDIS_PORT:-6379}" "$@" <<CONF
requirepass "$pw"
CONF
fi
exec redis-server --dir /data --port "${REDIS_PORT:-6379}" "$@"
