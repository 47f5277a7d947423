#!/usr/bin/env bash
# Make this host ready to build and run the deployment without a registry:
#  1. if no Docker engine answers, install Debian's docker.io and start dockerd;
#  2. if the base image the Dockerfiles start FROM is missing and cannot be
#     pulled, make it from Debian packages with debootstrap + docker import.
# Usage: scripts/bootstrap-engine.sh [BASE_IMAGE]   (default debian:trixie-slim)
#   PULL_BASE_IMAGE=no  skip the pull attempt (hosts with no registry at all).
# Safe to run again: every step checks first.
set -euo pipefail

base_image="${1:-${BASE_IMAGE:-debian:trixie-slim}}"
debian_mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
engine_wait_s=60

log() { printf 'bootstrap-engine: %s\n' "$*" >&2; }

engine_answers() { timeout 10 docker info >/dev/null 2>&1; }

apt_updated=false
apt_install() {
  if ! $apt_updated; then
    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
    apt_updated=true
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null
}

start_engine() {
  if engine_answers; then return; fi
  if ! command -v dockerd >/dev/null 2>&1; then
    log "no Docker engine: installing docker.io"
    apt_install docker.io
  fi
  if ! engine_answers; then
    log "starting dockerd (log: /var/log/dockerd.log)"
    nohup dockerd >/var/log/dockerd.log 2>&1 &
    for _ in $(seq "$engine_wait_s"); do
      engine_answers && break
      sleep 1
    done
  fi
  engine_answers || { log "dockerd did not answer within ${engine_wait_s}s; see /var/log/dockerd.log"; exit 1; }
  log "engine: $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})')"
}

make_base_image() {
  if docker image inspect "$base_image" >/dev/null 2>&1; then
    log "base image $base_image present"
    return
  fi
  if [ "${PULL_BASE_IMAGE:-yes}" != no ] && timeout 60 docker pull -q "$base_image" >/dev/null 2>&1; then
    log "pulled $base_image"
    return
  fi
  # debian:<suite>-slim or debian:<suite> -> suite
  local tag="${base_image##*:}"
  local suite="${tag%-slim}"
  case "$base_image" in
    debian:*) ;;
    *) log "cannot pull $base_image and only debian:<suite>[-slim] can be made locally"; exit 1 ;;
  esac
  command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
  local rootfs
  rootfs="$(mktemp -d /var/tmp/base-rootfs.XXXXXX)"
  trap 'rm -rf "$rootfs"' RETURN
  log "making $base_image from Debian $suite packages (debootstrap, ~30 s)"
  debootstrap --variant=minbase "$suite" "$rootfs" "$debian_mirror" >/var/log/debootstrap-"$suite".log 2>&1 \
    || { log "debootstrap failed; see /var/log/debootstrap-$suite.log"; exit 1; }
  # Same clean-up the official slim images do: no apt lists or caches.
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb
  tar -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' - "$base_image" >/dev/null
  log "made $base_image"
}

start_engine
make_base_image
