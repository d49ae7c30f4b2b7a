#!/bin/sh
# Quick start: install what is missing, build in ./build, run the
# known-answer self-test against the official vectors, and create the local
# store ./var (once; it prints the audit verifier key).  The daemon that
# serves the store comes with the next issue.
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
if [ ! -e var/data.mdb ]; then
  ./build/mlsgatectl --store ./var init
else
  ./build/mlsgatectl --store ./var identity list
fi
