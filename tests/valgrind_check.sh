#!/bin/sh
# Runs Check suites under valgrind, two at a time (the machine's cores), for
# `make valgrind-check`.  Each suite's output is kept whole and printed in
# order; any valgrind error, leak or failing check fails the run.
# Usage: LIBTOOL=... tests/valgrind_check.sh SUITE...
set -u
if [ $# -eq 0 ]; then
  echo "usage: LIBTOOL=... tests/valgrind_check.sh SUITE..." >&2
  exit 2
fi
: "${LIBTOOL:=libtool}"
export LIBTOOL
jobs=${MLSGATE_VALGRIND_JOBS:-2}
logs=$(mktemp -d "${TMPDIR:-/tmp}/mlsgate-vg.XXXXXX") || exit 1
trap 'rm -rf "$logs"' EXIT INT TERM
export CK_FORK=no MLSGATE_QUICK=1
i=0
for t in "$@"; do
  i=$((i + 1))
  printf '%03d %s\n' "$i" "$t"
done | xargs -P "$jobs" -n 2 sh -c '
  n=$1; t=$2
  if $LIBTOOL --mode=execute valgrind --error-exitcode=1 --leak-check=full \
       --errors-for-leak-kinds=definite,indirect -q "./$t" \
       >"'"$logs"'/$n.log" 2>&1; then :; else echo "$t" >"'"$logs"'/$n.fail"; fi
' sh
status=0
for f in "$logs"/*.log; do
  n=$(basename "$f" .log)
  echo "valgrind: $(head -n 1 "$f" | sed 's/Running suite(s): //')"
  cat "$f"
  if [ -e "$logs/$n.fail" ]; then
    echo "valgrind: FAIL $(cat "$logs/$n.fail")"
    status=1
  fi
done
[ $status -eq 0 ] && echo "valgrind: $# suites clean"
exit $status
