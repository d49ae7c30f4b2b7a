#!/usr/bin/env python3
"""Write the seed corpus of the secret_tree fuzz target
(tests/fuzz/secret_tree_corpus/): one byte naming the cipher suite, then a
SecretTreeState (the format in src/mls/secret_tree.h), built here by hand
so that the seeds also check the documented format.  The decoder checks
structure only, so the secrets are fill bytes.

usage: seed_secret_tree.py [OUT_DIR]
"""
import os
import struct
import sys

# suite id -> (KDF.Nh, AEAD.Nk, AEAD.Nn)
SUITES = {1: (32, 16, 12), 3: (32, 32, 12), 5: (64, 32, 12)}
EXHAUSTED = 1 << 32


def varint(v):
    if v < 0x40:
        return bytes([v])
    if v < 0x4000:
        return struct.pack(">H", 0x4000 | v)
    assert v < 0x40000000
    return struct.pack(">I", 0x80000000 | v)


def opaque(b):
    return varint(len(b)) + b


def ratchet(suite, nxt, retained, fill):
    nh, nk, nn = SUITES[suite]
    secret = b"" if nxt == EXHAUSTED else bytes([fill]) * nh
    body = b"".join(struct.pack(">I", g) + opaque(bytes([fill ^ 1]) * nk) +
                    opaque(bytes([fill ^ 2]) * nn) for g in retained)
    return struct.pack(">Q", nxt) + opaque(secret) + opaque(body)


def state(suite, n_leaves, nodes, leaves):
    """nodes: node indices; leaves: {leaf: ((next, retained), (next, retained))}."""
    nh = SUITES[suite][0]
    nb = b"".join(varint(x) + opaque(bytes([0xa0 + x]) * nh) for x in nodes)
    lb = b""
    for leaf in sorted(leaves):
        (hn, hr), (an, ar) = leaves[leaf]
        lb += varint(leaf) + ratchet(suite, hn, hr, 0x10 + leaf) + \
            ratchet(suite, an, ar, 0x20 + leaf)
    return bytes([suite]) + varint(n_leaves) + opaque(nb) + opaque(lb)


SEEDS = {
    # A fresh tree of one leaf: the root secret only.
    "fresh-suite1": state(1, 1, [0], {}),
    # Five leaves (padded to eight): leaves 0 and 2 derived, with retained
    # keys; nodes 2 (leaf 1), 6 (leaf 3) and 11 (leaves 4..7) held.
    "used-suite5": state(5, 5, [2, 6, 11], {
        0: ((3, []), (6, [1, 3, 4])),
        2: ((1, []), (13, [7, 8, 10, 11])),
    }),
    # Two leaves: leaf 1's handshake ratchet exhausted (no secret) with two
    # retained keys; leaf 0 still a node secret.
    "exhausted-suite3": state(3, 2, [0], {
        1: ((EXHAUSTED, [0xfffffffd, 0xfffffffe]), (7, [])),
    }),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "secret_tree_corpus")
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
