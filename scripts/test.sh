#!/bin/sh
# The whole test suite: warnings as errors, ASan + UBSan, every Check suite,
# the fuzz corpus replay and `mlsgatectl selftest`.  Builds in ./build-test.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh"
cd "$top"
autoreconf -fi
rm -rf build-test
mkdir build-test
cd build-test
../configure -q --enable-werror --enable-asan
make -j2 -s
make -j2 -s check
