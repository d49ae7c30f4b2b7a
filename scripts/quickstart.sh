#!/bin/sh
# Quick start: install what is missing, build in ./build, and run the
# known-answer self-test against the official vectors.
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
