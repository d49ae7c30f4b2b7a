#!/bin/sh
# Quick start: install what is missing, build in ./build, run the
# known-answer self-test against the official vectors, initialize the local
# store ./var if it is absent (the store with its audit verifier key, a demo
# identity "demo" on cipher suite 1, and an API token printed once, saved
# in ./var/demo-token with mode 0600), then run mlsgated on 127.0.0.1:8420
# in the foreground (Ctrl-C stops it gracefully) after printing a working
# curl example.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
MLSGATE_NO_TEST_TOOLS=1 "$top/scripts/install-deps.sh"
cd "$top"
[ -x configure ] || autoreconf -fi
mkdir -p build
cd build
[ -f Makefile ] || ../configure -q
make -j"$(nproc)" -s
./mlsgatectl selftest
cd "$top"
ctl="./build/mlsgatectl --store ./var"
listen="${MLSGATE_LISTEN:-127.0.0.1:8420}"
if [ ! -e var/data.mdb ]; then
  $ctl init
  $ctl identity create demo --suite 1
  umask 077
  token=$($ctl token create --name demo --scopes \
    conversations,messages,keys:admin,audit:read,metrics --json |
    sed -n 's/.*"token": *"\([^"]*\)".*/\1/p')
  printf '%s\n' "$token" > var/demo-token
  echo "API token (shown once; also in ./var/demo-token): $token"
else
  $ctl identity list
fi
token=$(cat var/demo-token 2>/dev/null || echo '<your token>')
cat <<EOT

mlsgated is starting on http://$listen (HTTP/2, h2c).  Try, in another shell:

  curl --http2-prior-knowledge http://$listen/v1/health
  curl --http2-prior-knowledge -H "Authorization: Bearer $token" \\
       http://$listen/v1/identities/demo
  curl --http2-prior-knowledge -H "Authorization: Bearer $token" \\
       -d '{"count": 1}' http://$listen/v1/identities/demo/key-packages

(docs/api.md has every route.)  Ctrl-C stops it.
EOT
exec ./build/mlsgated --store ./var --listen "$listen"
