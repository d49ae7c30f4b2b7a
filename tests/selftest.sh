#!/bin/sh
# Runs `mlsgatectl selftest` over the vector directory, as a user would, and
# requires 0 failed and 0 skipped on the final line.
set -u
bin="${top_builddir:-.}/mlsgatectl"
out=$("$bin" selftest --vectors "${MLSGATE_VECTORS:?MLSGATE_VECTORS must be set}")
rc=$?
printf '%s\n' "$out"
[ $rc -eq 0 ] || { echo "selftest.sh: mlsgatectl selftest exited $rc"; exit 1; }
last=$(printf '%s\n' "$out" | tail -n 1)
case "$last" in
  "selftest: "*" passed, 0 failed, 0 skipped") ;;
  *) echo "selftest.sh: unexpected summary: $last"; exit 1 ;;
esac
# Every file this issue requires must have been run, with nothing failed or skipped.
for f in hpke/test-vectors.json mls/crypto-basics.json mls/deserialization.json \
         mls/tree-math.json; do
  printf '%s\n' "$out" | grep -q "/$f: [0-9]* passed, 0 failed, 0 skipped" ||
    { echo "selftest.sh: $f was not run cleanly"; exit 1; }
done
n=$(printf '%s\n' "$out" | grep -c '/wycheproof/.*: [0-9]* passed, 0 failed, 0 skipped')
[ "$n" -eq 19 ] || { echo "selftest.sh: $n of 19 Wycheproof files ran cleanly"; exit 1; }
# messages.json (message codecs): every one of the 300 entries.
printf '%s\n' "$out" | grep -q "/mls/messages.json: 300 passed, 0 failed, 0 skipped" ||
  { echo "selftest.sh: mls/messages.json did not pass all 300 entries"; exit 1; }
exit 0
