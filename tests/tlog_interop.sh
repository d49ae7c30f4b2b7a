#!/bin/sh
# Cross-check of the audit log's Merkle trees, proofs and signed checkpoints
# against independent implementations.  tests/tlog_interop_gen writes trees,
# proofs, checkpoints and C2SP tlog proofs made by our code as JSON, then:
#
#  1. golang.org/x/mod/sumdb/{tlog,note} (Debian golang-go and
#     golang-golang-x-mod-dev, GOPATH mode, nothing downloaded) via
#     tests/tlog-interop/verify.go: roots, inclusion and consistency proofs
#     equal Go's and pass its checks, Go opens our checkpoints and signs them
#     to the same bytes.  Without go or the package this part is skipped
#     with a note (scripts/install-deps.sh does not install them).
#  2. sigstore-js (@sigstore/verify, the version pinned by
#     tests/tlog-interop/package-lock.json, installed into the build
#     directory with npm ci) via tests/tlog-interop/verify.mjs: inclusion
#     proofs and checkpoint signatures, and mutations that must fail.
#     sigstore-js has no consistency-proof verifier.
#
# Exits 77 (automake's skip) with the reason printed when Node.js >= 20.17 or
# npm is missing or the packages cannot be installed (no registry, no cache),
# unless MLSGATE_INTEROP_REQUIRED=1 (set by .ci/run), which makes that a
# failure.
set -eu
top_srcdir=${top_srcdir:-${srcdir:-.}}
top_builddir=${top_builddir:-.}
src="$top_srcdir/tests/tlog-interop"
work="$top_builddir/tests/tlog-interop-work"

skip() {
  echo "tlog_interop.sh: SKIP: $*"
  if [ "${MLSGATE_INTEROP_REQUIRED:-0}" = 1 ]; then
    echo "tlog_interop.sh: MLSGATE_INTEROP_REQUIRED=1: failing instead"
    exit 1
  fi
  exit 77
}

gen="$top_builddir/tests/tlog_interop_gen"
if [ ! -x "$gen" ]; then
  echo "tlog_interop.sh: FAIL: $gen not built" >&2
  exit 1
fi

mkdir -p "$work"
json="$work/ours.json"
rm -f "$json"
"$gen" "$json"

gopath=${MLSGATE_GOPATH:-/usr/share/gocode}
if command -v go >/dev/null 2>&1 && [ -d "$gopath/src/golang.org/x/mod/sumdb/tlog" ]; then
  cp "$src/verify.go" "$work/"
  (cd "$work" && GO111MODULE=off GOPATH="$gopath" GOCACHE="$PWD/gocache" \
     GOFLAGS= GOPROXY=off go run verify.go ours.json)
else
  echo "tlog_interop.sh: NOTE: golang.org/x/mod/sumdb part not run (needs the Debian packages golang-go and golang-golang-x-mod-dev, which scripts/install-deps.sh installs); consistency proofs then have no independent check here"
  if [ "${MLSGATE_INTEROP_REQUIRED:-0}" = 1 ]; then
    echo "tlog_interop.sh: MLSGATE_INTEROP_REQUIRED=1: failing instead"
    exit 1
  fi
fi

command -v node >/dev/null 2>&1 || skip "node not found (scripts/install-deps.sh installs it)"
command -v npm >/dev/null 2>&1 || skip "npm not found (scripts/install-deps.sh installs it)"
# @sigstore/verify 3.1.1 declares node ^20.17.0 || >=22.9.0.
ver=$(node -p 'process.versions.node' 2>/dev/null) || skip "node does not run"
major=${ver%%.*}
rest=${ver#*.}
minor=${rest%%.*}
if [ "$major" -lt 20 ] || { [ "$major" -eq 20 ] && [ "$minor" -lt 17 ]; } ||
   { [ "$major" -eq 22 ] && [ "$minor" -lt 9 ]; } || [ "$major" -eq 21 ]; then
  skip "Node.js $ver is too old for @sigstore/verify (needs ^20.17 or >= 22.9)"
fi

mkdir -p "$work"
cp "$src/package.json" "$src/package-lock.json" "$src/verify.mjs" "$work/"
# Reinstall only when the lockfile changed since the last install.
if ! cmp -s "$work/package-lock.json" "$work/node_modules/.mlsgate-lock" 2>/dev/null; then
  if ! (cd "$work" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error \
        > npm-ci.log 2>&1); then
    tail -n 20 "$work/npm-ci.log"
    skip "npm ci failed (registry unreachable and no cached packages?)"
  fi
  cp "$work/package-lock.json" "$work/node_modules/.mlsgate-lock"
fi

node "$work/verify.mjs" "$json"
