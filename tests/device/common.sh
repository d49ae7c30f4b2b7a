# Sourced by tests/device_sim.sh and tests/device_crash.sh (POSIX sh; the
# caller calls device_setup NAME, then device_run SCRIPT ARGS...).
# Installs the ts-mls version pinned by tests/device/package-lock.json into
# $top_builddir/tests/device-work (npm ci, only when the lockfile changed;
# the same versions as tests/interop), makes a scratch directory, and makes
# sure no mlsgated it started outlives the test (trap on every exit path).
#
# Skips (exit 77) with the reason printed when Node.js >= 20.19 or npm is
# missing or the packages cannot be installed, unless
# MLSGATE_INTEROP_REQUIRED=1 (set by .ci/run), which makes that a failure.
top_srcdir=${top_srcdir:-${srcdir:-.}}
top_builddir=${top_builddir:-.}
src="$top_srcdir/tests/device"
work="$top_builddir/tests/device-work"
name=device
tmp=
node_pid=

skip() {
  echo "$name: SKIP: $*"
  if [ "${MLSGATE_INTEROP_REQUIRED:-0}" = 1 ]; then
    echo "$name: MLSGATE_INTEROP_REQUIRED=1: failing instead"
    exit 1
  fi
  exit 77
}

device_cleanup() {
  if [ -n "$node_pid" ]; then
    kill "$node_pid" 2>/dev/null || :
    wait "$node_pid" 2>/dev/null || :
  fi
  # The mlsgated the script started last (it writes each pid there).
  if [ -n "$tmp" ] && [ -f "$tmp/mlsgated.pid" ]; then
    pid=$(cat "$tmp/mlsgated.pid")
    case "$pid" in
      *[!0-9]*|'') ;;
      *)
        if grep -q mlsgated "/proc/$pid/cmdline" 2>/dev/null; then
          kill -9 "$pid" 2>/dev/null || :
        fi ;;
    esac
  fi
  [ -z "$tmp" ] || rm -rf "$tmp"
}

device_setup() {
  name=$1
  command -v node >/dev/null 2>&1 || skip "node not found (scripts/install-deps.sh installs it)"
  command -v npm >/dev/null 2>&1 || skip "npm not found (scripts/install-deps.sh installs it)"
  # ts-mls needs Node.js 20+; its @noble dependencies declare >= 20.19.
  ver=$(node -p 'process.versions.node' 2>/dev/null) || skip "node does not run"
  major=${ver%%.*}
  rest=${ver#*.}
  minor=${rest%%.*}
  if [ "$major" -lt 20 ] || { [ "$major" -eq 20 ] && [ "$minor" -lt 19 ]; }; then
    skip "Node.js $ver is too old for ts-mls (needs >= 20.19)"
  fi
  for b in mlsgated mlsgatectl; do
    if [ ! -x "$top_builddir/$b" ]; then
      echo "$name: FAIL: $top_builddir/$b not built" >&2
      exit 1
    fi
  done
  bindir=$(cd "$top_builddir" && pwd)

  mkdir -p "$work"
  cp "$src/package.json" "$src/package-lock.json" "$src/lib.mjs" "$src/sim.mjs" "$src/crash.mjs" "$work/"
  if ! cmp -s "$work/package-lock.json" "$work/node_modules/.mlsgate-lock" 2>/dev/null; then
    if ! (cd "$work" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error \
          > npm-ci.log 2>&1); then
      tail -n 20 "$work/npm-ci.log"
      skip "npm ci failed (registry unreachable and no cached packages?)"
    fi
    cp "$work/package-lock.json" "$work/node_modules/.mlsgate-lock"
  fi

  tmp=$(mktemp -d "${TMPDIR:-/tmp}/mlsgate-$name.XXXXXX")
  trap 'device_cleanup' EXIT
  trap 'exit 1' HUP INT TERM
}

# device_run SCRIPT ARGS...: node $work/SCRIPT --mlsgated ... --dir $tmp
# ARGS, in the background so that the traps can stop it; returns its status.
device_run() {
  script=$1
  shift
  node "$work/$script" --mlsgated "$bindir/mlsgated" --mlsgatectl "$bindir/mlsgatectl" \
    --dir "$tmp" "$@" &
  node_pid=$!
  rc=0
  wait "$node_pid" || rc=$?
  node_pid=
  return "$rc"
}
