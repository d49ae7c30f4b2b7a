#!/bin/sh
# The HTTP/2 abuse test (tests/h2_abuse.py: rapid reset, CONTINUATION
# flood, oversized headers, slow clients, huge bodies, SETTINGS and PING
# floods, timeouts) against mlsgated itself over a fresh store: it must stay
# up, keep answering an authenticated well-behaved client within 2 s (GET
# /v1/identities, which reads the store), keep its RSS growth bounded, and
# still stop gracefully (exit 0) afterwards.
set -u

bin="${top_builddir:-.}/mlsgated"
ctl="${top_builddir:-.}/mlsgatectl"
srcdir="${top_srcdir:-.}"
[ -x "$bin" ] || { echo "api_abuse.sh: $bin not built"; exit 1; }
command -v python3 >/dev/null 2>&1 || { echo "api_abuse.sh: SKIP: no python3"; exit 77; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mlsgate-api-abuse.XXXXXX") || exit 1
dpid=
cleanup() {
  [ -n "$dpid" ] && kill -9 "$dpid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

"$ctl" --store "$tmp/store" init >/dev/null || exit 1
token=$("$ctl" --store "$tmp/store" token create --name abuse \
  --scopes keys:admin,metrics --json |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])') || exit 1

ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=16"
export ASAN_OPTIONS
"$bin" --store "$tmp/store" --listen 127.0.0.1:0 --idle-timeout-ms 4000 \
  --header-timeout-ms 3000 --max-body 1048576 --rate-limit 0 \
  2>"$tmp/err" &
dpid=$!
i=0
addr=
while [ $i -lt 200 ] && [ -z "$addr" ]; do
  addr=$(sed -n 's/.*"event":"listening","address":"\([^"]*\)".*/\1/p' "$tmp/err" | head -n 1)
  [ -n "$addr" ] || sleep 0.05
  i=$((i + 1))
done
if [ -z "$addr" ]; then
  echo "api_abuse.sh: mlsgated did not log its address: $(cat "$tmp/err")"
  exit 1
fi

python3 "$srcdir/tests/h2_abuse.py" "$addr" --pid "$dpid" \
  --ok-path /v1/identities --probe-header "authorization: Bearer $token" \
  --big-path /metrics --echo-path /v1/identities --max-body 1048576 \
  --header-timeout-ms 3000 --idle-timeout-ms 4000
rc=$?

kill -TERM "$dpid"
wait "$dpid"
src=$?
dpid=
if [ $src -ne 0 ]; then
  echo "api_abuse.sh: FAIL: mlsgated exited $src after the attacks"
  tail -n 20 "$tmp/err"
  rc=1
fi
exit $rc
