#!/bin/sh
# Replays the codec fuzz corpus through the fuzz target without libFuzzer
# (STYLE.md §10).  top_srcdir/top_builddir come from the test environment;
# the serial-tests harness exports only srcdir (the same directory in this
# non-recursive build), and runs tests from the build directory.
set -eu
top_srcdir=${top_srcdir:-${srcdir:-.}}
top_builddir=${top_builddir:-.}
corpus="$top_srcdir/tests/fuzz/codec_roundtrip_corpus"
if [ ! -d "$corpus" ]; then
  echo "fuzz_replay.sh: corpus $corpus not found" >&2
  exit 1
fi
"$top_builddir/tests/fuzz_replay_codec" "$corpus"
"$top_builddir/tests/fuzz_replay_key_package" "$top_srcdir/tests/fuzz/key_package_corpus"
"$top_builddir/tests/fuzz_replay_ratchet_tree" "$top_srcdir/tests/fuzz/ratchet_tree_corpus"
"$top_builddir/tests/fuzz_replay_secret_tree" "$top_srcdir/tests/fuzz/secret_tree_corpus"
"$top_builddir/tests/fuzz_replay_group" "$top_srcdir/tests/fuzz/group_corpus"
# The framing targets (MLSMessage, Welcome, GroupInfo).
for t in mls_message welcome group_info; do
  "$top_builddir/tests/fuzz_replay_$t" "$top_srcdir/tests/fuzz/${t}_corpus"
done
# The signed-note, checkpoint, tlog-proof and key-string parsers.
"$top_builddir/tests/fuzz_replay_note" "$top_srcdir/tests/fuzz/note_corpus"
# The HTTP API's request handling over a live store.
"$top_builddir/tests/fuzz_replay_api_request" "$top_srcdir/tests/fuzz/api_request_corpus"
