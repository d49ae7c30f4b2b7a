#!/bin/sh
# Downloads the upstream test vectors listed in vectors/MANIFEST into DIR
# (default: vectors/upstream beside this script) and verifies every sha256.
# Then run:  MLSGATE_VECTORS=DIR make check   or   mlsgatectl selftest --vectors DIR
# With --verify-only, checks an existing DIR against the manifest.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
manifest="$here/MANIFEST"
verify_only=0
if [ "${1:-}" = "--verify-only" ]; then verify_only=1; shift; fi
dest="${1:-$here/upstream}"
if command -v curl >/dev/null 2>&1; then
  get() { curl -fsSL --retry 3 -o "$2" "$1"; }
elif command -v wget >/dev/null 2>&1; then
  get() { wget -q -O "$2" "$1"; }
else
  echo "fetch.sh: need curl or wget" >&2; exit 1
fi
sha() { sha256sum "$1" | cut -c1-64; }
grep -v '^#' "$manifest" | while read -r sum path url; do
  [ -n "$sum" ] || continue
  out="$dest/$path"
  if [ "$verify_only" -eq 0 ]; then
    mkdir -p "$(dirname "$out")"
    case "$url" in
      *.gz) get "$url" "$out.gz.tmp" && gunzip -c "$out.gz.tmp" > "$out.tmp" && rm -f "$out.gz.tmp" ;;
      *) get "$url" "$out.tmp" ;;
    esac
    mv "$out.tmp" "$out"
  fi
  if [ ! -f "$out" ]; then
    echo "MISSING  $path"; echo x >> "$dest/.bad"
  elif [ "$(sha "$out")" != "$sum" ]; then
    echo "BAD SHA  $path"; echo x >> "$dest/.bad"
  else
    echo "ok       $path"
  fi
done
if [ -f "$dest/.bad" ]; then
  rm -f "$dest/.bad"
  echo "fetch.sh: some files are missing or do not match the manifest" >&2
  exit 1
fi
echo "fetch.sh: all files match; use MLSGATE_VECTORS=$dest"
