#!/usr/bin/env python3
"""Extract a few small fuzz seeds for the key_package and ratchet_tree
targets from the official MLS vectors (tests/fuzz/<target>_corpus/).

usage: seed_leaf_from_vectors.py VECTORS_DIR [OUT_DIR]

key_package: the KeyPackage inside mls_key_package of messages.json (the
MLSMessage header of 4 bytes removed), the smallest of each cipher suite.
ratchet_tree: the smallest trees of messages.json, tree-validation.json and
treekem.json.  Seeds are kept few and small on purpose.
"""
import json
import os
import sys


def load(vdir, name):
    with open(os.path.join(vdir, "mls", name)) as f:
        return json.load(f)


def main():
    vdir = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.dirname(os.path.abspath(__file__))
    kp_dir = os.path.join(out, "key_package_corpus")
    rt_dir = os.path.join(out, "ratchet_tree_corpus")
    os.makedirs(kp_dir, exist_ok=True)
    os.makedirs(rt_dir, exist_ok=True)

    # key packages: smallest per suite (suite = bytes 2..3 of the KeyPackage)
    best = {}
    for c in load(vdir, "messages.json"):
        b = bytes.fromhex(c["mls_key_package"])[4:]
        suite = int.from_bytes(b[2:4], "big")
        if suite not in best or len(b) < len(best[suite]):
            best[suite] = b
    for suite, b in sorted(best.items())[:4]:
        with open(os.path.join(kp_dir, "messages-suite%d" % suite), "wb") as f:
            f.write(b)

    # ratchet trees: the two smallest of each file
    for name, key in (("messages.json", "ratchet_tree"),
                      ("tree-validation.json", "tree"),
                      ("treekem.json", "ratchet_tree")):
        trees = sorted((bytes.fromhex(c[key]) for c in load(vdir, name)), key=len)
        for i, b in enumerate(trees[:2]):
            base = name.replace(".json", "")
            with open(os.path.join(rt_dir, "%s-%d" % (base, i)), "wb") as f:
                f.write(b)


if __name__ == "__main__":
    main()
