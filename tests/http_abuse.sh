#!/bin/sh
# The HTTP/2 abuse test (tests/h2_abuse.py: rapid reset, CONTINUATION
# flood, oversized headers, slow clients, huge bodies, SETTINGS and PING
# floods) against tests/http_test_server on 127.0.0.1:0: the server must
# stay up, keep answering a well-behaved client within 2 s, keep its RSS
# growth under 200 MB, and still stop gracefully (exit 0) afterwards.
set -u

bin="${top_builddir:-.}/tests/http_test_server"
srcdir="${top_srcdir:-.}"
[ -x "$bin" ] || { echo "http_abuse.sh: $bin not built"; exit 1; }
command -v python3 >/dev/null 2>&1 || { echo "http_abuse.sh: SKIP: no python3"; exit 77; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mlsgate-abuse.XXXXXX") || exit 1
spid=
cleanup() {
  [ -n "$spid" ] && kill -9 "$spid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ASan keeps freed memory in quarantine (256 MB by default), which would
# read as RSS growth: keep it small.  No effect without ASan.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=16"
export ASAN_OPTIONS
# Short timeouts so that slow clients are dropped within the test.
"$bin" --idle-ms 4000 --header-timeout-ms 3000 --max-body 1048576 \
  >"$tmp/out" 2>"$tmp/err" &
spid=$!
i=0
addr=
while [ $i -lt 100 ] && [ -z "$addr" ]; do
  addr=$(head -n 1 "$tmp/out" 2>/dev/null)
  [ -n "$addr" ] || sleep 0.05
  i=$((i + 1))
done
[ -n "$addr" ] || { echo "http_abuse.sh: server did not start: $(cat "$tmp/err")"; exit 1; }

python3 "$srcdir/tests/h2_abuse.py" "$addr" --pid "$spid" --ok-path /health \
  --big-path /big --echo-path /echo --max-body 1048576 \
  --header-timeout-ms 3000 --idle-timeout-ms 4000
rc=$?

kill -TERM "$spid"
wait "$spid"
src=$?
spid=
if [ $src -ne 0 ]; then
  echo "http_abuse.sh: FAIL: the server exited $src after the attacks"
  tail -n 20 "$tmp/err"
  rc=1
fi
grep '"event":"stats"' "$tmp/err" | sed 's/^/http_abuse.sh: server /'
exit $rc
