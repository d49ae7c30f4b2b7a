#!/bin/sh
# The whole test suite:
#  1. warnings as errors, ASan + UBSan: every Check suite, the fuzz corpus
#     replay, the vector manifest and `mlsgatectl selftest` (in ./build-test);
#  2. the Check suites again under valgrind, on a build without sanitizers
#     (in ./build-valgrind).  MLSGATE_SKIP_VALGRIND=1 skips this phase.
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
cd "$top"
if [ "${MLSGATE_SKIP_VALGRIND:-0}" != 1 ]; then
  rm -rf build-valgrind
  mkdir build-valgrind
  cd build-valgrind
  ../configure -q --enable-werror
  make -j2 -s
  make -s valgrind-check
  echo "valgrind: all Check suites clean"
fi
