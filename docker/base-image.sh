#!/usr/bin/env bash
# Builds a base image without a registry: a minimal Debian from the mirror apt already uses
# (debootstrap), Debian packages installed into it with chroot (a Java 17 runtime by default),
# then `docker import`. For machines that cannot pull eclipse-temurin (or prom/prometheus:
# --name diloco-prometheus:bookworm --packages prometheus).
#   sudo docker/base-image.sh [--name diloco-base:bookworm] [--packages "PKG ..."]
# Needs root, debootstrap and a running Docker engine. Skips the build when the image exists.
set -euo pipefail

name=diloco-base:bookworm
packages=openjdk-17-jre-headless
while [ $# -gt 0 ]; do
  case "$1" in
    --name) name="$2"; shift 2 ;;
    --packages) packages="$2"; shift 2 ;;
    *) echo "base-image.sh: unknown option '$1' (takes --name NAME, --packages \"PKG ...\")" >&2
       exit 2 ;;
  esac
done

if docker image inspect "$name" > /dev/null 2>&1; then
  echo "base image $name exists"
  exit 0
fi
mirror=$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null \
  | head -1)
mirror=${mirror:-http://deb.debian.org/debian}
root=$(mktemp -d /tmp/diloco-base.XXXXXX)
cleanup() {
  for fs in proc sys dev; do umount "$root/$fs" 2> /dev/null || true; done
  rm -rf "$root"
}
trap cleanup EXIT

echo "debootstrap bookworm from $mirror into $root"
debootstrap --variant=minbase bookworm "$root" "$mirror" > "$root.log" 2>&1 \
  || { tail -20 "$root.log" >&2; rm -f "$root.log"; exit 1; }
rm -f "$root.log"
mount -t proc proc "$root/proc"
echo "installing $packages"
chroot "$root" /bin/sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends $packages && apt-get clean \
  && rm -rf /var/lib/apt/lists/*" > "$root.log" 2>&1 \
  || { tail -20 "$root.log" >&2; rm -f "$root.log"; exit 1; }
rm -f "$root.log"
umount "$root/proc"
tar -C "$root" -c . | docker import - "$name" > /dev/null
echo "base image $name built ($(docker image inspect -f '{{.Size}}' "$name" | numfmt --to=iec))"
