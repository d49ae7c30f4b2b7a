#!/bin/sh
# Interop cross-check against ts-mls (tests/interop/README.md).  Installs the
# ts-mls version pinned by tests/interop/package-lock.json into the build
# directory (npm ci), lets tests/interop/tsmls_vectors.mjs produce a group
# history for every cipher suite, and checks every message with our codecs,
# tree and Welcome code (tests/check_interop_codec).
#
# Exits 77 (automake's skip) with the reason printed when Node.js >= 20.19 or
# npm is missing or the packages cannot be installed (no registry, no cache),
# unless MLSGATE_INTEROP_REQUIRED=1 (set by .ci/run), which makes that a
# failure.
set -eu
top_srcdir=${top_srcdir:-${srcdir:-.}}
top_builddir=${top_builddir:-.}
src="$top_srcdir/tests/interop"
work="$top_builddir/tests/interop-work"

skip() {
  echo "interop.sh: SKIP: $*"
  if [ "${MLSGATE_INTEROP_REQUIRED:-0}" = 1 ]; then
    echo "interop.sh: MLSGATE_INTEROP_REQUIRED=1: failing instead"
    exit 1
  fi
  exit 77
}

command -v node >/dev/null 2>&1 || skip "node not found (scripts/install-deps.sh installs it)"
command -v npm >/dev/null 2>&1 || skip "npm not found (scripts/install-deps.sh installs it)"
# ts-mls needs Node.js 20+; its @noble dependencies declare >= 20.19.
ver=$(node -p 'process.versions.node' 2>/dev/null) || skip "node does not run"
major=${ver%%.*}
rest=${ver#*.}
minor=${rest%%.*}
if [ "$major" -lt 20 ] || { [ "$major" -eq 20 ] && [ "$minor" -lt 19 ]; }; then
  skip "Node.js $ver is too old for ts-mls (needs >= 20.19)"
fi

mkdir -p "$work"
cp "$src/package.json" "$src/package-lock.json" "$src/tsmls_vectors.mjs" "$work/"
# Reinstall only when the lockfile changed since the last install.
if ! cmp -s "$work/package-lock.json" "$work/node_modules/.mlsgate-lock" 2>/dev/null; then
  if ! (cd "$work" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error \
        > npm-ci.log 2>&1); then
    tail -n 20 "$work/npm-ci.log"
    skip "npm ci failed (registry unreachable and no cached packages?)"
  fi
  cp "$work/package-lock.json" "$work/node_modules/.mlsgate-lock"
fi

json="$work/tsmls.json"
rm -f "$json"
node "$work/tsmls_vectors.mjs" "$json"
MLSGATE_INTEROP_JSON="$json" "$top_builddir/tests/check_interop_codec"

# ---- Live scenarios (tests/interop/README.md, "Live scenarios through a
# driver"): ts-mls against our group engine through tests/interop_driver
# (a check program, so `make check` always builds it), line-delimited JSON.
# MLSGATE_INTEROP_REFERENCE=1 runs the scenarios against tsmls_driver.mjs
# instead (the same protocol implemented with ts-mls: validates the scenario
# script itself); it is never a substitute for the C driver.
cp "$src/scenarios.mjs" "$src/tsmls_driver.mjs" "$work/"
driver="$top_builddir/tests/interop_driver"
if [ "${MLSGATE_INTEROP_REFERENCE:-0}" = 1 ]; then
  echo "interop.sh: NOTE: scenarios against the ts-mls reference driver (MLSGATE_INTEROP_REFERENCE=1)"
  node "$work/scenarios.mjs" --driver node "$work/tsmls_driver.mjs"
fi
if [ ! -x "$driver" ]; then
  echo "interop.sh: FAIL: $driver not built" >&2
  exit 1
fi
node "$work/scenarios.mjs" --driver "$driver"
