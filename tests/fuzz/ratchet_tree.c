/*
 * libFuzzer target for the ratchet tree decoder (mls_ratchet_tree_decode,
 * src/mls/msg_ratchet_tree.c: `optional<Node> ratchet_tree<V>`, RFC 9420
 * §12.4.3.3) and the ParentNode/LeafNode decoders it reaches.
 *
 * Properties (STYLE.md §10):
 *  - a failed decode leaves the reader unchanged and the output empty;
 *  - a decoded tree has the shape the RFC requires (odd count, last entry
 *    present, leaves at even and parents at odd positions) and its padded
 *    width is 2^(d+1)-1;
 *  - it re-encodes to exactly the bytes consumed, and so does a deep copy.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "mls/constants.h"
#include "mls/msg_leaf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int encodes_to(const mls_ratchet_tree *t, const uint8_t *want,
                      size_t want_len) {
  mg_writer w;
  int eq;
  if (mg_writer_init(&w, want_len + 1, 0) < 0) {
    abort();
  }
  eq = mls_ratchet_tree_encode(&w, t) == 0 && mg_writer_len(&w) == want_len &&
       memcmp(mg_writer_data(&w), want, want_len) == 0;
  mg_writer_cleanup(&w);
  return eq;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mls_ratchet_tree t, cp;
  mg_reader r;
  size_t used;
  uint32_t width;

  memset(&t, 0, sizeof(t));
  mg_reader_init(&r, data, size);
  if (mls_ratchet_tree_decode(&r, &t) < 0) {
    if (r.data != data || r.len != size || t.nodes != NULL || t.n != 0) {
      abort();
    }
    return 0;
  }
  if (t.n == 0 || t.n % 2 != 1 ||
      t.nodes[t.n - 1].node_type == MLS_NODE_BLANK) {
    abort();
  }
  for (size_t i = 0; i < t.n; i++) {
    uint8_t ty = t.nodes[i].node_type;
    if (ty != MLS_NODE_BLANK &&
        ty != (i % 2 == 0 ? MLS_NODE_LEAF : MLS_NODE_PARENT)) {
      abort();
    }
  }
  width = mls_ratchet_tree_width(&t);
  if (width < t.n || ((width + 1) & width) != 0) {
    abort();
  }
  used = size - mg_reader_len(&r);
  if (!encodes_to(&t, data, used)) {
    abort();
  }
  if (mls_ratchet_tree_copy(&cp, &t) == 0) {
    if (!encodes_to(&cp, data, used)) {
      abort();
    }
    mls_ratchet_tree_cleanup(&cp);
  }
  mls_ratchet_tree_cleanup(&t);
  return 0;
}
