#!/usr/bin/env bash
# Build chaoskit's container images locally; no registry is needed (or reachable).
#
#   chaoskit-base:<recipe hash>   debootstrap of a minimal Debian bookworm with python3 (+ python3-click for the
#                                 proxy's CLI), imported with `docker import`; also tagged chaoskit-base:bookworm
#   chaoskit/shop:local           targets/shop/Dockerfile, FROM the base (the demo shop's API and store)
#   chaoskit/proxy:local          images/proxy.Dockerfile, FROM the base (chaoskit's Toxiproxy-compatible proxy)
#
# The base is cached twice: by its tag (the hash of its recipe: suite, variant, packages, recipe version), and as
# a tarball in $CHAOSKIT_IMAGE_CACHE (default /var/cache/chaoskit), so a wiped engine re-imports in seconds.
# The Debian mirror is the one this machine's apt uses. `--base-only` stops after the base.
set -euo pipefail
cd "$(dirname "$0")/.."

SUITE=bookworm
VARIANT=minbase
PACKAGES=python3,python3-click
RECIPE_VERSION=1
CACHE_DIR=${CHAOSKIT_IMAGE_CACHE:-/var/cache/chaoskit}

log() { printf 'build-images: %s\n' "$*" >&2; }

recipe_hash=$(printf '%s\n' "suite=$SUITE" "variant=$VARIANT" "packages=$PACKAGES" "recipe=$RECIPE_VERSION" \
  | sha256sum | cut -c1-12)
BASE=chaoskit-base:$recipe_hash

apt_mirror() {
  # The first source of the suite in this machine's apt configuration (deb822 or one-line format).
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    awk -v suite="$SUITE" '
      /^[[:space:]]*$/ { if (uri != "" && ok) { print uri; exit } uri = ""; ok = 0; next }
      /^URIs:/ { uri = $2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) ok = 1 }
      END { if (uri != "" && ok) print uri }' "$f" | head -n1
  done
  if [ -r /etc/apt/sources.list ]; then
    awk -v suite="$SUITE" '$1 == "deb" && $3 == suite { print $2; exit }' /etc/apt/sources.list
  fi
}

build_base() {
  if docker image inspect "$BASE" >/dev/null 2>&1; then
    log "$BASE is cached in the engine"
  else
    local tarball=$CACHE_DIR/base-$recipe_hash.tar
    if [ ! -s "$tarball" ]; then
      command -v debootstrap >/dev/null || { log "debootstrap is missing: run scripts/provision.sh"; exit 1; }
      local mirror root
      mirror=$(apt_mirror | head -n1)
      root=$(mktemp -d /var/tmp/chaoskit-base.XXXXXX)
      trap 'rm -rf "$root"' EXIT
      log "debootstrap $SUITE ($VARIANT, +$PACKAGES) from ${mirror:-the default mirror of debootstrap}"
      debootstrap --variant="$VARIANT" --include="$PACKAGES" "$SUITE" "$root" ${mirror:+"$mirror"} \
        >"$root.log" 2>&1 || { tail -n 30 "$root.log" >&2; exit 1; }
      rm -f "$root.log"
      # Caches and logs only make the image bigger and its bytes less repeatable.
      rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/* \
        "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/tmp/*
      mkdir -p "$CACHE_DIR"
      tar --numeric-owner --sort=name -C "$root" -cf "$tarball.part" .
      mv "$tarball.part" "$tarball"
      rm -rf "$root"
      trap - EXIT
    fi
    log "importing $tarball as $BASE"
    docker import \
      --change 'ENV LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1' \
      --change 'CMD ["python3"]' \
      --change "LABEL chaoskit.image=base chaoskit.recipe=$recipe_hash" \
      "$tarball" "$BASE" >/dev/null
  fi
  docker tag "$BASE" chaoskit-base:$SUITE
}

build_base
if [ "${1:-}" = "--base-only" ]; then
  exit 0
fi
log "building chaoskit/shop:local and chaoskit/proxy:local FROM $BASE"
docker build -q --build-arg BASE="$BASE" -t chaoskit/shop:local -f targets/shop/Dockerfile . >/dev/null
docker build -q --build-arg BASE="$BASE" -t chaoskit/proxy:local -f images/proxy.Dockerfile . >/dev/null
log "images ready: $BASE, chaoskit/shop:local, chaoskit/proxy:local"
