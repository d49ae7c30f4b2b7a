#!/bin/sh
# Device simulator (tests/device/README.md): ts-mls in Node.js plays the
# recipient's phone against a started mlsgated over HTTP/2 (open, join,
# messages both ways, key rotation + update commits from both sides, the
# service joining the device's group, close), for every cipher suite;
# then the audit export verifies and holds no plaintext.
set -eu
# shellcheck source=tests/device/common.sh
. "${top_srcdir:-${srcdir:-.}}/tests/device/common.sh"
device_setup device_sim
device_run sim.mjs ${MLSGATE_DEVICE_SUITES:+--suites "$MLSGATE_DEVICE_SUITES"}
