#!/usr/bin/env python3
"""Extract the seed corpora of the framing fuzz targets from messages.json.

    tests/fuzz/seed_framing_from_vectors.py [VECTORS_DIR]

VECTORS_DIR defaults to $MLSGATE_VECTORS.  Writes a few small binaries to
tests/fuzz/{mls_message,welcome,group_info}_corpus/ (the vectors themselves
are never copied into the repository, only these derived inputs):

  mls_message: the seven MLSMessage fields of two entries (welcome, group
               info, key package, three public messages, private message),
               an AuthenticatedContent cut from a public message and two
               PrivateMessageContent plaintexts (first byte: content type);
  welcome:     the Welcome body (MLSMessage header cut off) of two entries
               and one GroupSecrets;
  group_info:  the GroupInfo body of two entries.
"""
import json
import os
import sys

ENTRIES = (0, 1)
MSG_FIELDS = ("mls_welcome", "mls_group_info", "mls_key_package",
              "public_message_application", "public_message_proposal",
              "public_message_commit", "private_message")


def main():
    vdir = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("MLSGATE_VECTORS")
    if not vdir:
        sys.exit("usage: seed_framing_from_vectors.py VECTORS_DIR")
    with open(os.path.join(vdir, "mls", "messages.json")) as f:
        msgs = json.load(f)
    here = os.path.dirname(os.path.abspath(__file__))

    def put(target, name, data):
        d = os.path.join(here, target + "_corpus")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, name), "wb") as out:
            out.write(data)

    for i in ENTRIES:
        e = msgs[i]
        for k in MSG_FIELDS:
            put("mls_message", "v%d-%s" % (i, k), bytes.fromhex(e[k]))
        # MLSMessage = version(2) || wire_format(2) || body
        put("welcome", "v%d-welcome" % i, bytes.fromhex(e["mls_welcome"])[4:])
        put("group_info", "v%d-group_info" % i,
            bytes.fromhex(e["mls_group_info"])[4:])
    put("welcome", "v0-group_secrets", bytes.fromhex(msgs[0]["group_secrets"]))

    # AuthenticatedContent = wire_format || FramedContent || auth: the
    # PublicMessage without the version and the member's membership_tag<V>
    # (a 32-byte MAC for the suite of entry 0, checked here).
    pm = bytes.fromhex(msgs[0]["public_message_proposal"])
    if pm[-33] == 32:
        put("mls_message", "v0-authenticated_content", pm[2:-33])
    # PrivateMessageContent: application_data<V> "hey", signature<V>, padding.
    put("mls_message", "private_content-application",
        b"\x01" + b"\x03hey" + b"\x02\x5a\x5b" + bytes(5))
    # A commit without proposals or path, signature, confirmation tag.
    put("mls_message", "private_content-commit",
        b"\x03" + b"\x00\x00" + b"\x02\x5a\x5b" + b"\x02\xcc\xcd")


if __name__ == "__main__":
    main()
