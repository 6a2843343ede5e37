#!/usr/bin/env bash
# The Debian base image, built from the Debian archive alone (no image registry needed):
# debootstrap makes a minimal bookworm root file system, `docker import` turns it into an image.
#
#   docker/base/build-base.sh            prints the image name (lienthong/debian:bookworm)
#
# Cached by content: the key is a hash of everything that shapes the root file system (suite, variant,
# mirror, packages, this script); the tarball is kept under LIENTHONG_BASE_CACHE (machine-level, default
# /var/cache/lienthong/base) and imported once per engine. A registry-backed machine does not need this
# script: build with --build-arg BASE_IMAGE=debian:bookworm-slim instead.
set -euo pipefail

SUITE=${LIENTHONG_BASE_SUITE:-bookworm}
MIRROR=${LIENTHONG_DEBIAN_MIRROR:-http://deb.debian.org/debian}
VARIANT=minbase
INCLUDE=ca-certificates
CACHE=${LIENTHONG_BASE_CACHE:-/var/cache/lienthong/base}
IMAGE=${LIENTHONG_BASE_IMAGE:-lienthong/debian:$SUITE}
DOCKER=${DOCKER:-docker}

key=$( { printf '%s\n' "$SUITE" "$VARIANT" "$MIRROR" "$INCLUDE"; cat "$0"; } | sha256sum | cut -c1-16)
tarball="$CACHE/debian-$SUITE-$key.tar"

if [ "$($DOCKER image inspect --format '{{ index .Config.Labels "org.lienthong.base-key" }}' "$IMAGE" 2>/dev/null)" = "$key" ]; then
    echo "$IMAGE"
    exit 0
fi

if [ ! -s "$tarball" ]; then
    command -v debootstrap >/dev/null || { echo "build-base: debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }
    mkdir -p "$CACHE"
    work=$(mktemp -d "$CACHE/rootfs.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    echo "build-base: debootstrap $SUITE ($VARIANT) from $MIRROR into $work" >&2
    debootstrap --variant="$VARIANT" --include="$INCLUDE" "$SUITE" "$work/rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 \
        || { tail -n 20 "$work/debootstrap.log" >&2; echo "build-base: debootstrap failed" >&2; exit 1; }
    rootfs="$work/rootfs"
    # like Debian's official slim images: no documentation or man pages, no apt caches, apt keeps nothing
    cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
CFG
    cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'CFG'
APT::Install-Recommends "false";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
CFG
    printf 'deb %s %s main\ndeb %s %s-updates main\ndeb http://deb.debian.org/debian-security %s-security main\n' \
        "$MIRROR" "$SUITE" "$MIRROR" "$SUITE" "$SUITE" >"$rootfs/etc/apt/sources.list"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/*
    : >"$rootfs/etc/hostname"
    tar --numeric-owner -C "$rootfs" -cf "$tarball.partial" .
    mv "$tarball.partial" "$tarball"
fi

$DOCKER import \
    --change "LABEL org.lienthong.base-key=$key" \
    --change 'CMD ["bash"]' \
    --change 'ENV LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "$tarball" "$IMAGE" >/dev/null
echo "$IMAGE"
