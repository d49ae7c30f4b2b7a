#!/bin/sh
# The whole test suite:
#  1. warnings as errors, ASan + UBSan: every Check suite, the fuzz corpus
#     replay, the vector manifest and `mlsgatectl selftest` (in ./build-test);
#  2. the Check suites again under valgrind, on a build without sanitizers
#     (in ./build-valgrind).  MLSGATE_SKIP_VALGRIND=1 skips this phase;
#  3. every libFuzzer target (clang, ASan + UBSan) for a fixed budget of
#     MLSGATE_FUZZ_SECONDS (default 20) seconds each, starting from its seed
#     corpus (in ./build-fuzz).  MLSGATE_SKIP_FUZZ=1 skips this phase.
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
if [ "${MLSGATE_SKIP_FUZZ:-0}" != 1 ]; then
  cd "$top"
  rm -rf build-fuzz
  mkdir build-fuzz
  cd build-fuzz
  CC=clang ../configure -q --enable-werror --enable-asan --enable-fuzz
  make -j2 -s
  secs="${MLSGATE_FUZZ_SECONDS:-20}"
  for t in tests/fuzz/fuzz_*; do
    [ -x "$t" ] || continue
    name=${t#tests/fuzz/fuzz_}
    work=$(mktemp -d)
    cp "$top/tests/fuzz/${name}_corpus/"* "$work/" 2>/dev/null || true
    echo "fuzz: $name for ${secs}s"
    "./$t" -max_total_time="$secs" -print_final_stats=1 "$work" > "fuzz-$name.log" 2>&1 ||
      { tail -n 40 "fuzz-$name.log"; echo "fuzz: $name FAILED"; rm -rf "$work"; exit 1; }
    grep -E '^stat::number_of_executed_units' "fuzz-$name.log" || true
    rm -rf "$work"
  done
  echo "fuzz: every target ran clean"
fi
