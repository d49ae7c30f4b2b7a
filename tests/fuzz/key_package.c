/*
 * libFuzzer target for the KeyPackage decoder (mls_key_package_decode,
 * src/mls/msg_key_package.c) and everything it reaches: LeafNode,
 * Credential, Capabilities, Lifetime, extension lists.
 *
 * Properties (STYLE.md §10):
 *  - a failed decode leaves the reader unchanged and the output empty;
 *  - a successful decode re-encodes to exactly the bytes it consumed (every
 *    accepted encoding is canonical: minimal varints, known leaf sources,
 *    no duplicate extensions), and so does a deep copy;
 *  - mls_key_package_verify, mls_key_package_ref and
 *    mls_leaf_node_check_capabilities never crash on whatever keys,
 *    signatures and lists were decoded, and fail only with their documented
 *    error classes.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "crypto/crypto.h"
#include "mls/msg_leaf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int encodes_to(const mls_key_package *kp, const uint8_t *want,
                      size_t want_len) {
  mg_writer w;
  int eq;
  if (mg_writer_init(&w, want_len + 1, 0) < 0) {
    abort();
  }
  eq = mls_key_package_encode(&w, kp) == 0 && mg_writer_len(&w) == want_len &&
       memcmp(mg_writer_data(&w), want, want_len) == 0;
  mg_writer_cleanup(&w);
  return eq;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int init_done;
  static const mls_key_package zero;
  mls_key_package kp, cp;
  mg_reader r;
  size_t used;

  if (!init_done) {
    if (mg_crypto_init() < 0) {
      abort();
    }
    init_done = 1;
  }
  memset(&kp, 0, sizeof(kp));
  mg_reader_init(&r, data, size);
  if (mls_key_package_decode(&r, &kp) < 0) {
    if (r.data != data || r.len != size ||
        memcmp(&kp, &zero, sizeof(kp)) != 0) {
      abort();
    }
    return 0;
  }
  used = size - mg_reader_len(&r);
  if (!encodes_to(&kp, data, used)) {
    abort();
  }
  if (mls_key_package_copy(&cp, &kp) == 0) {
    if (!encodes_to(&cp, data, used)) {
      abort();
    }
    mls_key_package_cleanup(&cp);
  }
  {
    /* The verdict depends on the input; only the error convention is
     * checked (0 or a negative mg_err, and a protocol or crypto class
     * for bad content). */
    int vr = mls_key_package_verify(&kp);
    if (vr > 0 || (vr < 0 && mg_err_class_of(vr) != MG_ERRCLASS_PROTOCOL &&
                   mg_err_class_of(vr) != MG_ERRCLASS_CRYPTO)) {
      abort();
    }
    int cr = mls_leaf_node_check_capabilities(&kp.leaf_node);
    if (cr != 0 && cr != MG_ERR_EXTENSION && cr != MG_ERR_CAPABILITIES) {
      abort();
    }
    uint8_t ref[64];
    size_t ref_len = 0;
    int rr = mls_key_package_ref(&kp, ref, sizeof(ref), &ref_len);
    if (rr > 0 || (rr == 0 && (ref_len == 0 || ref_len > sizeof(ref)))) {
      abort();
    }
  }
  mls_key_package_cleanup(&kp);
  return 0;
}
