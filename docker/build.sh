#!/usr/bin/env bash
# Build lienthong's images: the Debian base (debootstrap, cached by content) unless BASE_IMAGE names one,
# then lienthong, PostgreSQL and Redis on it. Every build uses the host's network (no bridge here).
#
#   docker/build.sh                                   base from debootstrap, images tagged :latest
#   BASE_IMAGE=debian:bookworm-slim docker/build.sh   on a machine with a registry
#   TAG=2026.12 docker/build.sh                       another tag
# Prints one line per image with its build time, e.g. "built lienthong:latest in 412 s".
set -euo pipefail
cd "$(dirname "$0")/.."
DOCKER=${DOCKER:-docker}
TAG=${TAG:-latest}
export DOCKER_BUILDKIT=${DOCKER_BUILDKIT:-0}   # the classic builder: `--network host` without entitlements

# the site's CAs (an inspecting proxy's), so the builds' downloads verify: docker/ca-certificates/README.md
find docker/ca-certificates -name '*.crt' -delete
cp /usr/local/share/ca-certificates/*.crt docker/ca-certificates/ 2>/dev/null || true

base=${BASE_IMAGE:-$(DOCKER=$DOCKER docker/base/build-base.sh)}
build() {  # image dockerfile
    local start=$SECONDS
    $DOCKER build --network host --build-arg "BASE_IMAGE=$base" -f "$2" -t "$1" . >>"${BUILD_LOG:-/dev/stderr}" 2>&1 \
        || { echo "build.sh: building $1 failed${BUILD_LOG:+; see $BUILD_LOG}" >&2; exit 1; }
    echo "built $1 in $((SECONDS - start)) s"
}
build "lienthong/postgres:$TAG" docker/postgres/Dockerfile
build "lienthong/redis:$TAG" docker/redis/Dockerfile
build "lienthong:$TAG" docker/Dockerfile
