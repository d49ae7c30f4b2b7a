#!/bin/sh
# The vector files the tests read must be exactly the ones in vectors/MANIFEST.
set -eu
exec "${top_srcdir:-.}/vectors/fetch.sh" --verify-only "${MLSGATE_VECTORS:?MLSGATE_VECTORS must be set}" > /dev/null
