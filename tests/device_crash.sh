#!/bin/sh
# Crash safety (tests/device/README.md): SIGKILL mlsgated repeatedly under
# concurrent encrypt load; every acknowledged message decrypts on its ts-mls
# device and no (conversation, epoch, sender, generation) is used twice.
# MLSGATE_DEVICE_SEED=N replays the kill times of an earlier run.
set -eu
# shellcheck source=tests/device/common.sh
. "${top_srcdir:-${srcdir:-.}}/tests/device/common.sh"
device_setup device_crash
device_run crash.mjs
