#!/bin/sh
# Installs the Debian 12 packages mlsgate needs to build and test, if any are
# missing.  Runs apt-get (through sudo when not root).
set -eu
pkgs="gcc make autoconf automake libtool autoconf-archive pkg-config \
libssl-dev libsodium-dev liblmdb-dev libnghttp2-dev libjansson-dev check"
# The test suite also needs valgrind and clang with its libFuzzer runtime.
if [ "${MLSGATE_NO_TEST_TOOLS:-0}" != 1 ]; then
  pkgs="$pkgs valgrind clang libclang-rt-14-dev"
  # tests/tlog_interop.sh cross-checks the audit log's Merkle proofs and
  # signed checkpoints against Go's golang.org/x/mod/sumdb (offline, from
  # Debian's packages): the only independent consistency-proof verifier.
  pkgs="$pkgs golang-go golang-golang-x-mod-dev python3"
  # tests/http.sh and tests/http_abuse.sh drive the HTTP/2 server with curl,
  # nghttp and h2load (nghttp2-client), and make certificates with openssl.
  pkgs="$pkgs curl nghttp2-client openssl"
  # tests/openapi_check.sh reads docs/openapi.yaml with PyYAML.
  pkgs="$pkgs python3-yaml"
  # tests/interop.sh runs ts-mls on Node.js (>= 20.19, tests/interop/README.md).
  # Debian's nodejs (18 on Debian 12) only when there is no node at all: a
  # newer Node already on the machine is left alone.
  if ! command -v node >/dev/null 2>&1; then
    pkgs="$pkgs nodejs npm"
  fi
fi
missing=
for p in $pkgs; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing="$missing $p"
  fi
done
if [ -z "$missing" ]; then
  echo "install-deps: all packages present"
  exit 0
fi
echo "install-deps: installing:$missing"
sudo=
if [ "$(id -u)" -ne 0 ]; then sudo=sudo; fi
$sudo apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
