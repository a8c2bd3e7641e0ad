#!/usr/bin/env bash
# Builds the container image localhost/dbackup:dev with podman. No
# registry is reachable here, so the base image is made with debootstrap
# from the host's Debian mirror and imported as localhost/debian:bookworm-slim
# (once); the Containerfile keeps the registry's image as its default.
# Quirks of this machine (../shared/notes/containers.md): runc, not crun;
# ulimits within the host's; host networking.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then echo "scripts/image.sh must run as root (podman, debootstrap)" >&2; exit 1; fi
missing=()
for p in podman runc debootstrap; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
export CONTAINERS_CONF="$PWD/scripts/containers.conf"
BASE=localhost/debian:bookworm-slim
IMAGE=${IMAGE:-localhost/dbackup:dev}
if ! podman image exists "$BASE"; then
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  mirror=${mirror:-http://deb.debian.org/debian}
  root=$(mktemp -d /var/tmp/dbackup-rootfs.XXXXXX)
  trap 'rm -rf "$root"' EXIT
  echo "making the base image with debootstrap from $mirror (once, about a minute)"
  debootstrap --variant=minbase bookworm "$root" "$mirror" >/dev/null
  tar -C "$root" -c . | podman import - "$BASE" >/dev/null
fi
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/dbackup/dbackup/internal/version.Version=${VERSION:-dev}" -o "$ctx/dbackup" ./cmd/dbackup
podman build -q --format docker --network=host --build-arg BASE="$BASE" -t "$IMAGE" -f Containerfile "$ctx" >/dev/null
base_size=$(podman image inspect --format '{{.Size}}' "$BASE")
size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
echo "built $IMAGE: $(( (size - base_size) / 1000000 )) MB of layers over the base ($(( size / 1000000 )) MB in all)"
