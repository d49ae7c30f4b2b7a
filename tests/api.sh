#!/bin/sh
# make check wrapper of tests/api_e2e.py: mlsgated's HTTP/2 API end to end
# with curl and nghttp (every route, every error class, the scope matrix).
set -u
srcdir="${top_srcdir:-$(dirname "$0")/..}"
build="${top_builddir:-.}"
for t in python3 curl; do
  command -v "$t" >/dev/null 2>&1 || { echo "api.sh: $t is required"; exit 1; }
done
exec python3 "$srcdir/tests/api_e2e.py" "$build"
