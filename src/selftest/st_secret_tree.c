/*
 * Self-test kind for mls/secret-tree.json (mlswg/mls-implementations,
 * "Secret Tree"): the sender data key and nonce of RFC 9420 §6.3.2, and for
 * every leaf and listed generation the handshake and application keys and
 * nonces of the secret tree (§9).  Each generation is consumed after it is
 * checked, so the ratchets move forward exactly as a receiver's would.  A
 * failure names the suite, the leaf, the generation and the field.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "mls/secret_tree.h"
#include "selftest/selftest.h"
#include "selftest/st_mls_util.h"

static int stt_match(const char *base) {
  return strcmp(base, "secret-tree.json") == 0;
}

static size_t stt_count(const json_t *root) {
  if (!json_is_array(root)) {
    return 0;
  }
  const json_t *first = json_array_get(root, 0);
  if (!json_is_object(first) || !json_is_array(json_object_get(first, "leaves"))) {
    return 0;
  }
  return json_array_size(root);
}

static int stt_sender_data(mg_st_case *cc, const json_t *c) {
  const json_t *sd = json_object_get(c, "sender_data");
  uint8_t *secret = NULL, *ct = NULL, *key = NULL, *nonce = NULL;
  size_t secret_len = 0, ct_len = 0, key_len = 0, nonce_len = 0;
  mls_key_nonce kn;

  if (!mg_st_case_hex(cc, sd, "sender_data", "sender_data_secret", &secret,
                      &secret_len) ||
      !mg_st_case_hex(cc, sd, "sender_data", "ciphertext", &ct, &ct_len) ||
      !mg_st_case_hex(cc, sd, "sender_data", "key", &key, &key_len) ||
      !mg_st_case_hex(cc, sd, "sender_data", "nonce", &nonce, &nonce_len)) {
    return 0;
  }
  int rc = mls_sender_data_key_nonce(cc->suite, &kn, secret, secret_len, ct,
                                     ct_len);
  int ok = mg_st_case_rc(cc, "sender_data", "key/nonce derivation", rc) &&
           mg_st_case_eq(cc, "sender_data", "key", kn.key, kn.key_len, key,
                         key_len) &&
           mg_st_case_eq(cc, "sender_data", "nonce", kn.nonce, kn.nonce_len,
                         nonce, nonce_len);
  mls_key_nonce_cleanup(&kn);
  return ok;
}

static int stt_check(mg_st_case *cc, mls_secret_tree *st, const json_t *g,
                     const char *what, uint32_t leaf, mls_ratchet_type type,
                     const char *key_field, const char *nonce_field) {
  uint8_t *key = NULL, *nonce = NULL;
  size_t key_len = 0, nonce_len = 0;
  uint64_t gen = 0;
  mls_key_nonce kn;
  mls_leaf_idx li = {leaf};

  memset(&kn, 0, sizeof(kn));
  if (!mg_st_case_u64(cc, g, what, "generation", &gen) ||
      !mg_st_case_hex(cc, g, what, key_field, &key, &key_len) ||
      !mg_st_case_hex(cc, g, what, nonce_field, &nonce, &nonce_len)) {
    return 0;
  }
  if (gen > 0xffffffffu) {
    mg_st_fail(cc->rep, "case %zu: suite %u: %s.generation out of range",
               cc->i, cc->suite_id, what);
    return 0;
  }
  int rc = mls_secret_tree_get(st, &kn, li, type, (uint32_t)gen);
  int ok = mg_st_case_rc(cc, what, "secret tree get", rc) &&
           mg_st_case_eq(cc, what, key_field, kn.key, kn.key_len, key,
                         key_len) &&
           mg_st_case_eq(cc, what, nonce_field, kn.nonce, kn.nonce_len, nonce,
                         nonce_len) &&
           mg_st_case_rc(cc, what, "secret tree consume",
                         mls_secret_tree_consume(st, li, type, (uint32_t)gen));
  mls_key_nonce_cleanup(&kn);
  return ok;
}

static void stt_run(const json_t *root, size_t i, mg_st_report *rep) {
  mg_st_case cc;
  const json_t *c = json_array_get(root, i);
  uint8_t *enc = NULL;
  size_t enc_len = 0;
  mls_secret_tree *st = NULL;
  /* Every generation in the vectors must be reachable from the start. */
  mls_secret_tree_config cfg = {0xffffffffu, MLS_SECRET_TREE_DEFAULT_MAX_RETAINED};

  if (!mg_st_case_begin(&cc, c, i, rep)) {
    return;
  }
  const json_t *leaves = json_object_get(c, "leaves");
  size_t n = json_is_array(leaves) ? json_array_size(leaves) : 0;
  if (n == 0 || n > MLS_SECRET_TREE_MAX_LEAVES) {
    mg_st_fail(rep, "case %zu: suite %u: leaves missing or out of range", i,
               cc.suite_id);
    goto out;
  }
  if (!stt_sender_data(&cc, c) ||
      !mg_st_case_hex(&cc, c, "case", "encryption_secret", &enc, &enc_len)) {
    goto out;
  }
  int rc = mls_secret_tree_new(&st, cc.suite, enc, enc_len, (uint32_t)n, &cfg);
  if (!mg_st_case_rc(&cc, "case", "secret tree creation", rc)) {
    goto out;
  }
  for (size_t l = 0; l < n; l++) {
    const json_t *gens = json_array_get(leaves, l);
    if (!json_is_array(gens)) {
      mg_st_fail(rep, "case %zu: suite %u: leaves[%zu] not an array", i,
                 cc.suite_id, l);
      goto out;
    }
    for (size_t k = 0; k < json_array_size(gens); k++) {
      char what[48];
      const json_t *g = json_array_get(gens, k);
      snprintf(what, sizeof(what), "leaves[%zu][%zu]", l, k);
      if (!stt_check(&cc, st, g, what, (uint32_t)l, MLS_RATCHET_HANDSHAKE,
                     "handshake_key", "handshake_nonce") ||
          !stt_check(&cc, st, g, what, (uint32_t)l, MLS_RATCHET_APPLICATION,
                     "application_key", "application_nonce")) {
        goto out;
      }
    }
  }
  mg_st_pass(rep);
out:
  mls_secret_tree_free(st);
  mg_st_case_end(&cc);
}

const mg_st_kind mg_st_kind_secret_tree = {
    "secret-tree", stt_match, stt_count, stt_run,
};
