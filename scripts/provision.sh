#!/usr/bin/env bash
# Provision a Debian machine for chaoskit's container tests and demo stack. Idempotent: installs only what is
# absent, starts dockerd only when no engine answers, and waits (bounded) for it.
#
#   scripts/provision.sh            install docker.io, docker-compose, debootstrap, iptables, stress-ng; start dockerd
#   scripts/provision.sh --images   ... then build the base and demo images (scripts/build-images.sh)
#
# Needs root (apt-get, dockerd). Exit status is non-zero when the engine cannot be brought up.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'provision: %s\n' "$*" >&2; }

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    log "not root: cannot $1"
    exit 1
  fi
}

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
command -v iptables >/dev/null 2>&1 || missing+=(iptables)
command -v nsenter >/dev/null 2>&1 || missing+=(util-linux)
# stress.* faults use chaoskit's own hog; stress-ng is what benchmarks/stress_accuracy.py measures it against
command -v stress-ng >/dev/null 2>&1 || missing+=(stress-ng)
if [ "${#missing[@]}" -gt 0 ]; then
  need_root "install ${missing[*]}"
  log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

engine_up() { timeout 10 docker info >/dev/null 2>&1; }

if ! engine_up; then
  if pgrep -x dockerd >/dev/null 2>&1; then
    log "dockerd is running but does not answer yet; waiting"
  else
    need_root "start dockerd"
    log "starting dockerd (log: /var/log/chaoskit-dockerd.log)"
    # No init system is assumed (CI machines and containers have none): dockerd runs detached and starts its
    # own containerd.
    setsid nohup dockerd </dev/null >/var/log/chaoskit-dockerd.log 2>&1 &
  fi
  for _ in $(seq 1 120); do
    engine_up && break
    sleep 0.5
  done
  if ! engine_up; then
    log "the Docker engine did not come up within 60s; last lines of its log:"
    tail -n 20 /var/log/chaoskit-dockerd.log >&2 || true
    exit 1
  fi
fi
log "Docker engine $(docker version --format '{{.Server.Version}}' 2>/dev/null) is up"

if [ "${1:-}" = "--images" ]; then
  scripts/build-images.sh
fi
