#!/usr/bin/env bash
# `make demo-compose`: provision Docker, build the images, bring up docker-compose.yml and wait until it serves.
#   scripts/demo-compose.sh up | down | ps
set -euo pipefail
cd "$(dirname "$0")/.."

PROJECT=${CHAOSKIT_DEMO_PROJECT:-chaoskit-demo}
if command -v docker-compose >/dev/null 2>&1; then
  compose=(docker-compose -p "$PROJECT")
else
  compose=(docker compose -p "$PROJECT")
fi

case "${1:-up}" in
  up)
    scripts/provision.sh --images
    "${compose[@]}" up -d --no-build
    # Bounded wait: both API replicas answer a deep health check (store reached through the proxy).
    python3 - <<'PY'
import sys, time, urllib.request
urls = [f"http://127.0.0.1:{p}/health" for p in (28081, 28082)]
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        for url in urls:
            urllib.request.urlopen(url, timeout=1).read()
        break
    except OSError:
        time.sleep(0.5)
else:
    sys.exit("demo stack not healthy after 60s: see `docker-compose -p chaoskit-demo logs`")
print("demo stack up: api http://127.0.0.1:28081 and :28082, store 127.0.0.1:27001, "
      "store via proxy 127.0.0.1:27002, proxy API http://127.0.0.1:28474")
PY
    ;;
  down) "${compose[@]}" down --remove-orphans ;;
  ps) "${compose[@]}" ps ;;
  *) echo "usage: $0 up|down|ps" >&2; exit 2 ;;
esac
