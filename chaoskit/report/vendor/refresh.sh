#!/usr/bin/env bash
# Re-vendor the chart libraries the HTML report inlines (Vega, Vega-Lite, vega-embed) from the npm registry.
# Run by hand when bumping a version; the build never downloads anything. Versions are pinned below and
# recorded in README.md with each tarball's integrity hash.
set -euo pipefail
cd "$(dirname "$0")"
VERSIONS=(vega-lite@5.23.0 vega@5.33.1 vega-embed@6.29.0)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
{
  echo "# Vendored chart libraries"
  echo
  echo "Inlined into every HTML report so it opens offline. Refresh with \`./refresh.sh\` (needs npm)."
  echo
  echo "| file | npm package | license | tarball integrity |"
  echo "|---|---|---|---|"
} > README.md
: > LICENSES.txt
for spec in "${VERSIONS[@]}"; do
  name=${spec%@*}
  (cd "$work" && npm pack --silent "$spec" > /dev/null)
  tarball=$(ls "$work"/"$name"-[0-9]*.tgz)
  mkdir -p "$work/$name" && tar xzf "$tarball" -C "$work/$name"
  # No source-map comment (the map is not shipped) and no "</script" inside an inline <script>.
  sed -e '/^\/\/# sourceMappingURL=/d' -e 's#</script#<\\/script#g' "$work/$name/package/build/$name.min.js" > "$name.min.js"
  integrity=$(cd "$work" && npm view --silent "$spec" dist.integrity)
  license=$(node -p "require('$work/$name/package/package.json').license")
  echo "| $name.min.js | $spec | $license | \`$integrity\` |" >> README.md
  {
    echo "==== $spec ($license) ===="
    if [[ -f "$work/$name/package/LICENSE" ]]; then cat "$work/$name/package/LICENSE"; else cat "$work/vega-lite/package/LICENSE" 2>/dev/null || true; fi
    echo
  } >> LICENSES.txt
done
