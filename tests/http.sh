#!/bin/sh
# End-to-end test of the HTTP/2 server core (src/api/server.c) through
# tests/http_test_server and real clients: curl --http2-prior-knowledge,
# nghttp and h2load (Debian nghttp2-client), openssl for the certificates.
# Covers: requests and responses (x-request-id), 2000 requests over 4
# connections x 32 streams, 413 on a body over max_body (declared and
# streamed), 431 on too many and too large header fields, 503 overloaded
# (with retry-after) past max_queued, TLS 1.3 with ALPN h2 (and refusal of
# HTTP/1.1-only ALPN and of TLS 1.2), required client certificates, and a
# graceful stop during an in-flight request that still completes.
# Servers bind 127.0.0.1:0; every exit path kills them and removes $tmp.
set -u

bin="${top_builddir:-.}/tests/http_test_server"
case "$bin" in
  /*) ;;
  *) bin="$(pwd)/$bin" ;;
esac
[ -x "$bin" ] || { echo "http.sh: $bin not built"; exit 1; }
for tool in curl nghttp h2load openssl; do
  if ! command -v $tool >/dev/null 2>&1; then
    echo "http.sh: SKIP: $tool not found (Debian: curl nghttp2-client openssl)"
    exit 77
  fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mlsgate-http.XXXXXX") || exit 1
pids=
cleanup() {
  for p in $pids; do kill -9 "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fails=0
checks=0
fail() {
  echo "http.sh: FAIL: $*"
  fails=$((fails + 1))
}
ok() { checks=$((checks + 1)); }
check() { # check DESCRIPTION EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then ok; else fail "$1: expected '$2', got '$3'"; fi
}

# start NAME ARGS...: starts a server; sets $addr and $spid.
start() {
  name=$1
  shift
  "$bin" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  spid=$!
  pids="$pids $spid"
  addr=
  i=0
  while [ $i -lt 100 ]; do
    addr=$(head -n 1 "$tmp/$name.out" 2>/dev/null)
    [ -n "$addr" ] && break
    kill -0 "$spid" 2>/dev/null || break
    sleep 0.05
    i=$((i + 1))
  done
  if [ -z "$addr" ]; then
    echo "http.sh: server $name did not start: $(cat "$tmp/$name.err")"
    exit 1
  fi
}

# stop: SIGTERM, wait (at most 10 s), expect exit 0.
stop() {
  kill -TERM "$spid" 2>/dev/null
  i=0
  while kill -0 "$spid" 2>/dev/null && [ $i -lt 200 ]; do
    sleep 0.05
    i=$((i + 1))
  done
  if kill -0 "$spid" 2>/dev/null; then
    fail "server did not stop on SIGTERM"
    kill -9 "$spid"
  fi
  wait "$spid"
  check "server exit status" 0 $?
}

c2() { curl -sS --http2-prior-knowledge --max-time 10 "$@"; }

# --------------------------------------------------------------- basics
start plain
check "GET /health" '{"status":"ok"}' "$(c2 "http://$addr/health")"
c2 -D "$tmp/h" -o /dev/null "http://$addr/health"
check "HTTP/2 status line" "HTTP/2 200" "$(head -n 1 "$tmp/h" | tr -d '\r' | sed 's/ *$//')"
rid=$(grep -i '^x-request-id:' "$tmp/h" | tr -d '\r' | sed 's/^[^:]*: *//')
case "$rid" in
  [0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]*) ok ;;
  *) fail "x-request-id missing or not hex: '$rid'" ;;
esac
check "x-request-id length" 32 "${#rid}"
rid2=$(c2 -D - -o /dev/null "http://$addr/health" | grep -i '^x-request-id:' | tr -d '\r' | sed 's/^[^:]*: *//')
[ "$rid" != "$rid2" ] && ok || fail "two responses with one request ID"
check "POST /echo" '{"len":5}' "$(printf hello | c2 --data-binary @- "http://$addr/echo")"
head -c 300000 /dev/urandom >"$tmp/body"
c2 --data-binary @"$tmp/body" -o "$tmp/body.back" "http://$addr/echo?raw=1"
cmp -s "$tmp/body" "$tmp/body.back" && ok || fail "300 KB echo differs"
check "GET /big size" 1048576 "$(c2 "http://$addr/big" | wc -c | tr -d ' ')"
# HEAD: the headers of the GET (content-length too), no content.
c2 -I -o "$tmp/head" "http://$addr/big"
check "HEAD /big content-length" "content-length: 1048576" \
  "$(grep -i '^content-length:' "$tmp/head" | tr -d '\r')"
check "HEAD /big size" 0 "$(c2 -X HEAD -o - "http://$addr/big" 2>/dev/null | wc -c | tr -d ' ')"
check "404 problem" 404 "$(c2 -o "$tmp/p" -w '%{http_code}' "http://$addr/nope")"
grep -q '"code":"not_found"' "$tmp/p" && ok || fail "404 body: $(cat "$tmp/p")"
# nghttp: the request ID in the body is the one in the header.
nghttp -v "http://$addr/id" >"$tmp/nghttp" 2>&1
hid=$(grep 'x-request-id:' "$tmp/nghttp" | head -n 1 | sed 's/.*x-request-id: *//' | tr -d '\r ')
grep -q "\"request_id\":\"$hid\"" "$tmp/nghttp" && ok || fail "nghttp /id: $(tail -n 3 "$tmp/nghttp")"

# --------------------------------------------------- many streams at once
h2load -n 2000 -c 4 -m 32 "http://$addr/health" >"$tmp/h2load" 2>&1
check "h2load 2000 requests" "status codes: 2000 2xx, 0 3xx, 0 4xx, 0 5xx" \
  "$(grep 'status codes:' "$tmp/h2load")"
h2load -n 400 -c 4 -m 32 -d "$tmp/body" "http://$addr/echo" >"$tmp/h2load" 2>&1
check "h2load 400 POSTs of 300 KB" "status codes: 400 2xx, 0 3xx, 0 4xx, 0 5xx" \
  "$(grep 'status codes:' "$tmp/h2load")"
# The server still answers, and its log has its listening line.
check "health after load" '{"status":"ok"}' "$(c2 "http://$addr/health")"
grep -q '"event":"listening","address":"'"$addr"'","tls":"off"' "$tmp/plain.err" && ok ||
  fail "no listening line: $(head -n 1 "$tmp/plain.err")"
stop
grep -q '"event":"shutdown"' "$tmp/plain.err" && ok || fail "no shutdown line"

# ------------------------------------------------------------------ limits
start limits --max-body 65536 --max-headers 20 --max-header-bytes 4096
head -c 65536 /dev/zero >"$tmp/64k"
head -c 65537 /dev/zero >"$tmp/64k1"
check "body of max_body" '{"len":65536}' "$(c2 --data-binary @"$tmp/64k" "http://$addr/echo")"
check "body over max_body (content-length)" 413 \
  "$(c2 -o "$tmp/p" -w '%{http_code}' --data-binary @"$tmp/64k1" "http://$addr/echo")"
grep -q '"code":"body_too_large"' "$tmp/p" && ok || fail "413 body: $(cat "$tmp/p")"
grep -q '"type":"https://mlsgate.dev/problems/body_too_large"' "$tmp/p" && ok || fail "413 type"
# Streamed without content-length: DATA beyond max_body.
head -c 1000000 /dev/zero >"$tmp/1m"
check "body over max_body (streamed)" 413 \
  "$(c2 -o /dev/null -w '%{http_code}' -H 'content-length:' -T "$tmp/1m" -X POST "http://$addr/echo")"
# nghttp sends the body with content-length too.
nghttp -d "$tmp/1m" "http://$addr/echo" -v >"$tmp/nghttp" 2>&1
grep -q ':status: 413' "$tmp/nghttp" && ok || fail "nghttp huge body: $(grep ':status' "$tmp/nghttp")"
# Header fields: 18 of ours + 3-4 of curl's pass, 30 do not.
hs=
i=0
while [ $i -lt 30 ]; do hs="$hs -H x-h$i:v"; i=$((i + 1)); done
# shellcheck disable=SC2086
check "too many header fields" 431 "$(c2 -o "$tmp/p" -w '%{http_code}' $hs "http://$addr/headers")"
grep -q '"code":"headers_too_large"' "$tmp/p" && ok || fail "431 body: $(cat "$tmp/p")"
hs=
i=0
while [ $i -lt 10 ]; do hs="$hs -H x-h$i:v"; i=$((i + 1)); done
# shellcheck disable=SC2086
check "10 header fields" '{"num_headers":12}' "$(c2 -H 'user-agent: t' $hs "http://$addr/headers")"
big=$(head -c 5000 /dev/zero | tr '\0' a)
check "header list over max_header_bytes" 431 \
  "$(c2 -o /dev/null -w '%{http_code}' -H "x-big: $big" "http://$addr/headers")"
check "health after limits" '{"status":"ok"}' "$(c2 "http://$addr/health")"
stop

# --------------------------------------------------------------- overload
# One worker, at most 2 handlers executing or queued: of 6 concurrent
# /sleep requests, 2 are served and 4 answered 503 at once.
start overload --workers 1 --max-queued 2
for i in 1 2 3 4 5 6; do
  c2 -o "$tmp/ov$i" -D "$tmp/ovh$i" -w '%{http_code}\n' "http://$addr/sleep?ms=2500" >"$tmp/ovc$i" &
done
wait_clients() {
  for i in "$@"; do
    while [ ! -s "$tmp/ovc$i" ]; do sleep 0.05; done
  done
}
wait_clients 1 2 3 4 5 6
n200=$(cat "$tmp"/ovc? | grep -c '^200$')
n503=$(cat "$tmp"/ovc? | grep -c '^503$')
check "overload: served" 2 "$n200"
check "overload: rejected" 4 "$n503"
for i in 1 2 3 4 5 6; do
  if grep -q '^503$' "$tmp/ovc$i"; then
    grep -q '"code":"overloaded"' "$tmp/ov$i" && ok || fail "503 body: $(cat "$tmp/ov$i")"
    grep -qi '^retry-after: *1' "$tmp/ovh$i" && ok || fail "503 without retry-after"
    break
  fi
done
check "after overload" '{"status":"ok"}' "$(c2 "http://$addr/health")"
stop

# ------------------------------------------------------------- graceful stop
# A request in flight when SIGTERM arrives still gets its answer; then the
# server exits 0 and no longer accepts.
start graceful --grace-ms 5000
c2 -o "$tmp/gr" -w '%{http_code}\n' "http://$addr/sleep?ms=2500" >"$tmp/grc" &
cpid=$!
sleep 1
kill -TERM "$spid"
wait "$cpid"
check "in-flight request across stop" 200 "$(cat "$tmp/grc")"
check "in-flight body" '{"slept":2500}' "$(cat "$tmp/gr")"
wait "$spid"
check "graceful exit status" 0 $?
c2 "http://$addr/health" >/dev/null 2>&1 && fail "still accepting after stop" || ok
grep -q '"phase":"done"' "$tmp/graceful.err" && ok || fail "no shutdown done line"

# ---------------------------------------------------------------------- TLS
cd "$tmp" || exit 1
cnf="$tmp/openssl.cnf"
printf '[req]\ndistinguished_name=dn\n[dn]\n' >"$cnf"
mk() { OPENSSL_CONF="$cnf" openssl "$@" >/dev/null 2>&1 || fail "openssl $1"; }
mk req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key \
  -out srv.pem -days 1 -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1
mk req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
  -out ca.pem -days 1 -subj /CN=mlsgate-test-ca
mk req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout cli.key \
  -out cli.csr -subj "/CN=routing-1/O=mlsgate test"
mk x509 -req -in cli.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out cli.pem -days 1
mk req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other.key \
  -out other.pem -days 1 -subj /CN=not-from-the-ca

start tls --tls-cert srv.pem --tls-key srv.key --header-timeout-ms 1500
check "TLS h2" '{"status":"ok"} 2' \
  "$(curl -sS --http2 --cacert srv.pem --max-time 10 -w ' %{http_version}' "https://$addr/health")"
check "TLS nghttp" '{"status":"ok"}' "$(nghttp "https://$addr/health" 2>/dev/null)"
curl -s --http1.1 --cacert srv.pem --max-time 5 -o /dev/null "https://$addr/health" &&
  fail "HTTP/1.1-only ALPN accepted" || ok
curl -s --http2 --tls-max 1.2 --cacert srv.pem --max-time 5 -o /dev/null "https://$addr/health" &&
  fail "TLS 1.2 accepted" || ok
h2load -n 500 -c 2 -m 16 "https://$addr/health" >"$tmp/h2load" 2>&1
check "TLS h2load" "status codes: 500 2xx, 0 3xx, 0 4xx, 0 5xx" "$(grep 'status codes:' "$tmp/h2load")"
grep -q 'TLS Protocol: TLSv1.3' "$tmp/h2load" && ok || fail "h2load did not see TLS 1.3"
# A TLS handshake that never starts is dropped after the header timeout.
if command -v python3 >/dev/null 2>&1; then
  hs=$(python3 -c '
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)))
s.settimeout(6)
t0 = time.monotonic()
try:
    s.recv(1)
except OSError:
    pass
print("%.0f" % (time.monotonic() - t0))' "$addr")
  case "$hs" in
    1 | 2 | 3) ok ;;
    *) fail "silent TLS peer dropped after ${hs}s (header timeout 1.5 s)" ;;
  esac
fi
stop

start mtls --tls-cert srv.pem --tls-key srv.key --client-ca ca.pem
who=$(curl -sS --http2 --cacert srv.pem --cert cli.pem --key cli.key --max-time 10 "https://$addr/whoami")
case "$who" in
  *CN=routing-1*) ok ;;
  *) fail "client subject: $who" ;;
esac
curl -s --http2 --cacert srv.pem --max-time 5 -o /dev/null "https://$addr/health" &&
  fail "no client certificate accepted" || ok
curl -s --http2 --cacert srv.pem --cert other.pem --key other.key --max-time 5 -o /dev/null \
  "https://$addr/health" && fail "client certificate from another CA accepted" || ok
check "mTLS after refusals" '{"status":"ok"}' \
  "$(curl -sS --http2 --cacert srv.pem --cert cli.pem --key cli.key --max-time 10 "https://$addr/health")"
stop

# A certificate that does not load: start fails with a message.
"$bin" --tls-cert "$tmp/missing.pem" --tls-key srv.key >/dev/null 2>"$tmp/bad.err"
[ $? -ne 0 ] && ok || fail "server started with a missing certificate"
"$bin" --listen 127.0.0.1:notaport >/dev/null 2>&1 && fail "bad listen address accepted" || ok

echo "http.sh: $checks checks passed, $fails failed"
[ "$fails" -eq 0 ]
