#!/bin/sh
# Build the Dockerfile's base image from Debian packages, for hosts that reach
# Debian's mirror but no container registry (air-gapped hosts, this project's CI).
#
#   packaging/base-image.sh [TAG]      (default: debian:bookworm-slim, the tag the Dockerfile names)
#
# Does nothing when TAG is already present. Needs root, debootstrap and a
# running Docker engine; DEBIAN_MIRROR picks the mirror (default deb.debian.org).
set -eu
tag=${1:-debian:bookworm-slim}
suite=${SUITE:-bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if docker image inspect "$tag" >/dev/null 2>&1; then
    echo "base image $tag is present"
    exit 0
fi
command -v debootstrap >/dev/null || { echo "base-image.sh: debootstrap is needed (apt-get install debootstrap)" >&2; exit 2; }

root=$(mktemp -d /var/tmp/trafficmon-base.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "building $tag from $mirror ($suite, minbase) in $root"
debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$root.log" 2>&1 || {
    tail -20 "$root.log" >&2; rm -f "$root.log"; exit 1; }
rm -f "$root.log"
# What Debian's own slim images leave out: package lists, caches, documentation.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/*
tar -C "$root" --numeric-owner -c . | docker import --change 'CMD ["bash"]' - "$tag" >/dev/null
echo "built $tag: $(docker image inspect --format '{{.Size}}' "$tag") bytes"
