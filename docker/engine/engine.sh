#!/usr/bin/env bash
# A Docker engine of lienthong's own, beside anything else on the machine: its own data root, exec root,
# socket and pidfile (so it never collides with a system dockerd), no default bridge and no iptables rules
# (containers and builds use the host's network, so every connection stays on the machine's interfaces).
#
#   docker/engine/engine.sh start     start the daemon when it is not answering; prints DOCKER_HOST
#   docker/engine/engine.sh stop      stop the daemon this script started
#   docker/engine/engine.sh status    exit 0 when the daemon answers
#   docker/engine/engine.sh env       print the export line for DOCKER_HOST
#   docker/engine/engine.sh check     exit 0 when this machine can run an engine, else print why
#
# LIENTHONG_ENGINE_ROOT (default /var/cache/lienthong/engine) is machine-level on purpose: the data root holds
# the base image and the build cache, so a clean clone (CI) reuses them instead of building them again.
set -euo pipefail

ROOT=${LIENTHONG_ENGINE_ROOT:-/var/cache/lienthong/engine}
SOCK="$ROOT/run/docker.sock"
PIDFILE="$ROOT/run/docker.pid"
LOG="$ROOT/dockerd.log"
export DOCKER_HOST="unix://$SOCK"

answers() { timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

why_not() {
    # the reasons an engine cannot run here, one line each; nothing printed when it can
    command -v dockerd >/dev/null || echo "no dockerd on PATH (apt-get install docker.io)"
    [ "$(id -u)" = 0 ] || echo "dockerd needs root (running as uid $(id -u))"
    grep -qw overlay /proc/filesystems || echo "the kernel has no overlay file system"
    { [ -d /sys/fs/cgroup/memory ] || [ -f /sys/fs/cgroup/cgroup.controllers ]; } || echo "no cgroup hierarchy under /sys/fs/cgroup"
}

case "${1:-}" in
    check)
        reasons=$(why_not)
        [ -z "$reasons" ] || { echo "$reasons"; exit 1; }
        ;;
    status)
        answers
        ;;
    env)
        echo "export DOCKER_HOST=$DOCKER_HOST"
        ;;
    start)
        if answers; then echo "$DOCKER_HOST"; exit 0; fi
        reasons=$(why_not)
        [ -z "$reasons" ] || { echo "engine cannot start: $reasons" >&2; exit 1; }
        mkdir -p "$ROOT/data" "$ROOT/exec" "$ROOT/run"
        # a pidfile left by a daemon that died (machine restart) would stop the new one from starting
        if [ -f "$PIDFILE" ] && ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then rm -f "$PIDFILE"; fi
        setsid dockerd \
            --data-root "$ROOT/data" --exec-root "$ROOT/exec" \
            --host "$DOCKER_HOST" --pidfile "$PIDFILE" \
            --bridge=none --iptables=false --ip6tables=false --ip-masq=false \
            --storage-driver overlay2 --log-driver json-file --log-opt max-size=10m \
            </dev/null >>"$LOG" 2>&1 &
        for _ in $(seq 60); do answers && { echo "$DOCKER_HOST"; exit 0; }; sleep 1; done
        echo "engine did not answer within 60 s; the last lines of $LOG:" >&2
        tail -n 20 "$LOG" >&2
        exit 1
        ;;
    stop)
        [ -f "$PIDFILE" ] || exit 0
        pid=$(cat "$PIDFILE")
        kill "$pid" 2>/dev/null || exit 0
        for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || exit 0; sleep 1; done
        echo "dockerd $pid still running after 60 s" >&2
        exit 1
        ;;
    *)
        sed -n '2,13p' "$0" >&2
        exit 2
        ;;
esac
