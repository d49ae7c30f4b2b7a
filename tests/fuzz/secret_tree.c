/*
 * libFuzzer target for the secret tree state decoder
 * (mls_secret_tree_decode, src/mls/secret_tree.c: SecretTreeState, the
 * format documented in src/mls/secret_tree.h).
 *
 * Input: one byte naming the cipher suite (its id, 1..7; anything else is
 * ignored), then the encoding.  The configuration is fixed (max_forward 16,
 * max_retained 8).
 *
 * Properties (STYLE.md §10):
 *  - a failed decode is a decode-class error, leaves the reader unchanged
 *    and hands out nothing;
 *  - a decoded tree re-encodes to exactly the bytes consumed, as does its
 *    deep copy, and the size hint is exact;
 *  - every leaf of a decoded tree can derive its ratchets (the partition
 *    the decoder checks is the one the tree relies on): never
 *    MG_ERR_INTERNAL, checked on the first, middle and last leaf.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "crypto/crypto.h"
#include "crypto/suite.h"
#include "mls/secret_tree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int encodes_to(const mls_secret_tree *st, const uint8_t *want,
                      size_t want_len) {
  mg_writer w;
  int eq;
  if (mg_writer_init(&w, want_len + 1, 0) < 0) {
    abort();
  }
  eq = mls_secret_tree_encode(&w, st) == 0 && mg_writer_len(&w) == want_len &&
       memcmp(mg_writer_data(&w), want, want_len) == 0 &&
       mls_secret_tree_encoded_size_hint(st) == want_len;
  mg_writer_cleanup(&w);
  return eq;
}

/* Derives |leaf|'s ratchets through a get far beyond max_forward (refused
 * after the derivation, so nothing is computed per generation). */
static void derive_leaf(mls_secret_tree *st, uint32_t leaf) {
  mls_leaf_idx l = {leaf};
  mls_key_nonce kn;
  int rc = mls_secret_tree_get(st, &kn, l, MLS_RATCHET_APPLICATION,
                               0xffffffffu);
  if (rc == MG_ERR_INTERNAL || (rc < 0 && rc != MG_ERR_GENERATION &&
                                rc != MG_ERR_NOMEM && rc != MG_ERR_SENDER)) {
    abort();
  }
  mls_key_nonce_cleanup(&kn);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int initialized;
  static const mls_secret_tree_config cfg = {16, 8};
  mls_secret_tree *st = NULL;
  mls_secret_tree *cp = NULL;
  const mls_suite *suite;
  mg_reader r;
  size_t used;
  uint32_t n_leaves;

  if (!initialized) {
    if (mg_crypto_init() < 0) {
      abort();
    }
    initialized = 1;
  }
  if (size < 1) {
    return 0;
  }
  suite = mls_suite_by_id(data[0]);
  if (suite == NULL) {
    return 0;
  }
  data++;
  size--;
  mg_reader_init(&r, data, size);
  int rc = mls_secret_tree_decode(&r, &st, suite, &cfg);
  if (rc < 0) {
    if ((mg_err_class_of(rc) != MG_ERRCLASS_DECODE && rc != MG_ERR_NOMEM) ||
        st != NULL || r.data != data || r.len != size) {
      abort();
    }
    return 0;
  }
  used = size - mg_reader_len(&r);
  if (!encodes_to(st, data, used)) {
    abort();
  }
  if (mls_secret_tree_copy(&cp, st) == 0) {
    if (!encodes_to(cp, data, used)) {
      abort();
    }
    mls_secret_tree_free(cp);
  }
  /* n_leaves is the first field: a minimal varint decoded successfully. */
  mg_reader_init(&r, data, used);
  if (mg_read_varint(&r, &n_leaves) < 0 || n_leaves == 0) {
    abort();
  }
  derive_leaf(st, 0);
  derive_leaf(st, n_leaves / 2);
  derive_leaf(st, n_leaves - 1);
  mls_secret_tree_free(st);
  return 0;
}
