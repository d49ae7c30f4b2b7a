/*
 * Self-test kind for mls/crypto-basics.json (mlswg/mls-implementations,
 * "Crypto Basics"): one case per cipher suite, checking RefHash,
 * ExpandWithLabel, DeriveSecret, DeriveTreeSecret (RFC 9420 §5.2, §8, §9.1),
 * SignWithLabel/VerifyWithLabel (§5.1.2) and EncryptWithLabel/
 * DecryptWithLabel (§5.1.3).  A failure names the suite and the field, e.g.
 * "suite 3: derive_tree_secret.out differs".
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "crypto/mls_crypto.h"
#include "crypto/suite.h"
#include "mlsgate/err.h"
#include "selftest/selftest.h"

static int cb_match(const char *base) {
  return strcmp(base, "crypto-basics.json") == 0;
}

static size_t cb_count(const json_t *root) {
  if (!json_is_array(root)) {
    return 0;
  }
  const json_t *first = json_array_get(root, 0);
  if (!json_is_object(first) || json_object_get(first, "cipher_suite") == NULL ||
      json_object_get(first, "ref_hash") == NULL) {
    return 0;
  }
  return json_array_size(root);
}

#define CB_MAX_BUFS 32

typedef struct cb_case {
  size_t i;
  unsigned suite_id;
  const mls_suite *suite;
  mg_st_report *rep;
  uint8_t *bufs[CB_MAX_BUFS];
  size_t n_bufs;
} cb_case;

/* Takes ownership of |p| (freed at the end of the case). */
static void *cb_keep(cb_case *cc, void *p) {
  if (p != NULL && cc->n_bufs < CB_MAX_BUFS) {
    cc->bufs[cc->n_bufs++] = p;
    return p;
  }
  free(p);
  return NULL;
}

static const json_t *cb_section(cb_case *cc, const json_t *c,
                                const char *name) {
  const json_t *s = json_object_get(c, name);
  if (!json_is_object(s)) {
    mg_st_fail(cc->rep, "case %zu: suite %u: %s missing", cc->i, cc->suite_id,
               name);
    return NULL;
  }
  return s;
}

static int cb_hex(cb_case *cc, const json_t *sec, const char *sec_name,
                  const char *key, uint8_t **out, size_t *out_len) {
  uint8_t *p = NULL;
  int rc = mg_st_hex(sec, key, &p, out_len);
  if (rc < 0 || cb_keep(cc, p) == NULL) {
    mg_st_fail(cc->rep, "case %zu: suite %u: %s.%s %s", cc->i, cc->suite_id,
               sec_name, key,
               rc == MG_ERR_NOT_FOUND ? "missing" : "not decodable");
    return 0;
  }
  *out = p;
  return 1;
}

static int cb_str(cb_case *cc, const json_t *sec, const char *sec_name,
                  const char *key, const char **out) {
  const json_t *v = json_object_get(sec, key);
  if (!json_is_string(v) ||
      strlen(json_string_value(v)) != json_string_length(v)) {
    mg_st_fail(cc->rep, "case %zu: suite %u: %s.%s missing or not a string",
               cc->i, cc->suite_id, sec_name, key);
    return 0;
  }
  *out = json_string_value(v);
  return 1;
}

static int cb_uint(cb_case *cc, const json_t *sec, const char *sec_name,
                   const char *key, json_int_t max, json_int_t *out) {
  const json_t *v = json_object_get(sec, key);
  if (!json_is_integer(v) || json_integer_value(v) < 0 ||
      json_integer_value(v) > max) {
    mg_st_fail(cc->rep, "case %zu: suite %u: %s.%s missing or out of range",
               cc->i, cc->suite_id, sec_name, key);
    return 0;
  }
  *out = json_integer_value(v);
  return 1;
}

static int cb_eq(cb_case *cc, const char *field, const uint8_t *got,
                 size_t got_len, const uint8_t *want, size_t want_len) {
  char name[96];
  snprintf(name, sizeof(name), "suite %u: %s", cc->suite_id, field);
  return mg_st_eq(cc->rep, cc->i, name, got, got_len, want, want_len);
}

static int cb_rc(cb_case *cc, const char *what, int rc) {
  if (rc < 0) {
    mg_st_fail(cc->rep, "case %zu: suite %u: %s failed: %s", cc->i,
               cc->suite_id, what, mg_err_name(rc));
    return 0;
  }
  return 1;
}

static int cb_ref_hash(cb_case *cc, const json_t *c) {
  const json_t *s = cb_section(cc, c, "ref_hash");
  const char *label;
  uint8_t *value, *want;
  size_t value_len, want_len;
  if (s == NULL || !cb_str(cc, s, "ref_hash", "label", &label) ||
      !cb_hex(cc, s, "ref_hash", "value", &value, &value_len) ||
      !cb_hex(cc, s, "ref_hash", "out", &want, &want_len)) {
    return 0;
  }
  uint8_t out[MG_MAX_HASH_LEN];
  size_t out_len = 0;
  return cb_rc(cc, "ref_hash",
               mls_ref_hash(cc->suite, out, sizeof(out), &out_len, label,
                            value, value_len)) &&
         cb_eq(cc, "ref_hash.out", out, out_len, want, want_len);
}

static int cb_expand_with_label(cb_case *cc, const json_t *c) {
  const json_t *s = cb_section(cc, c, "expand_with_label");
  const char *label;
  uint8_t *secret, *context, *want;
  size_t secret_len, context_len, want_len;
  json_int_t length;
  if (s == NULL ||
      !cb_hex(cc, s, "expand_with_label", "secret", &secret, &secret_len) ||
      !cb_str(cc, s, "expand_with_label", "label", &label) ||
      !cb_hex(cc, s, "expand_with_label", "context", &context, &context_len) ||
      !cb_uint(cc, s, "expand_with_label", "length", 0xffff, &length) ||
      !cb_hex(cc, s, "expand_with_label", "out", &want, &want_len)) {
    return 0;
  }
  uint8_t *out = cb_keep(cc, malloc((size_t)length + 1));
  if (out == NULL) {
    mg_st_fail(cc->rep, "case %zu: out of memory", cc->i);
    return 0;
  }
  return cb_rc(cc, "expand_with_label",
               mls_expand_with_label(cc->suite, out, (size_t)length, secret,
                                     secret_len, label, context,
                                     context_len)) &&
         cb_eq(cc, "expand_with_label.out", out, (size_t)length, want,
               want_len);
}

static int cb_derive_secret(cb_case *cc, const json_t *c) {
  const json_t *s = cb_section(cc, c, "derive_secret");
  const char *label;
  uint8_t *secret, *want;
  size_t secret_len, want_len;
  if (s == NULL ||
      !cb_hex(cc, s, "derive_secret", "secret", &secret, &secret_len) ||
      !cb_str(cc, s, "derive_secret", "label", &label) ||
      !cb_hex(cc, s, "derive_secret", "out", &want, &want_len)) {
    return 0;
  }
  uint8_t out[MG_MAX_HASH_LEN];
  return cb_rc(cc, "derive_secret",
               mls_derive_secret(cc->suite, out, secret, secret_len, label)) &&
         cb_eq(cc, "derive_secret.out", out, cc->suite->kdf->nh, want,
               want_len);
}

static int cb_derive_tree_secret(cb_case *cc, const json_t *c) {
  const json_t *s = cb_section(cc, c, "derive_tree_secret");
  const char *label;
  uint8_t *secret, *want;
  size_t secret_len, want_len;
  json_int_t generation, length;
  if (s == NULL ||
      !cb_hex(cc, s, "derive_tree_secret", "secret", &secret, &secret_len) ||
      !cb_str(cc, s, "derive_tree_secret", "label", &label) ||
      !cb_uint(cc, s, "derive_tree_secret", "generation", 0xffffffff,
               &generation) ||
      !cb_uint(cc, s, "derive_tree_secret", "length", 0xffff, &length) ||
      !cb_hex(cc, s, "derive_tree_secret", "out", &want, &want_len)) {
    return 0;
  }
  uint8_t *out = cb_keep(cc, malloc((size_t)length + 1));
  if (out == NULL) {
    mg_st_fail(cc->rep, "case %zu: out of memory", cc->i);
    return 0;
  }
  return cb_rc(cc, "derive_tree_secret",
               mls_derive_tree_secret(cc->suite, out, (size_t)length, secret,
                                      secret_len, label,
                                      (uint32_t)generation)) &&
         cb_eq(cc, "derive_tree_secret.out", out, (size_t)length, want,
               want_len);
}

static int cb_sign_with_label(cb_case *cc, const json_t *c) {
  const json_t *s = cb_section(cc, c, "sign_with_label");
  const char *label;
  uint8_t *priv, *pub, *content, *sig;
  size_t priv_len, pub_len, content_len, sig_len;
  if (s == NULL || !cb_hex(cc, s, "sign_with_label", "priv", &priv, &priv_len) ||
      !cb_hex(cc, s, "sign_with_label", "pub", &pub, &pub_len) ||
      !cb_hex(cc, s, "sign_with_label", "content", &content, &content_len) ||
      !cb_str(cc, s, "sign_with_label", "label", &label) ||
      !cb_hex(cc, s, "sign_with_label", "signature", &sig, &sig_len)) {
    return 0;
  }
  int rc = mls_verify_with_label(cc->suite, pub, pub_len, label, content,
                                 content_len, sig, sig_len);
  if (rc < 0) {
    mg_st_fail(cc->rep,
               "case %zu: suite %u: sign_with_label.signature does not verify "
               "(%s)",
               cc->i, cc->suite_id, mg_err_name(rc));
    return 0;
  }
  uint8_t fresh[MG_MAX_SIG_LEN];
  size_t fresh_len = 0;
  if (!cb_rc(cc, "sign_with_label (fresh signature)",
             mls_sign_with_label(cc->suite, fresh, sizeof(fresh), &fresh_len,
                                 priv, priv_len, label, content,
                                 content_len))) {
    return 0;
  }
  rc = mls_verify_with_label(cc->suite, pub, pub_len, label, content,
                             content_len, fresh, fresh_len);
  if (rc < 0) {
    mg_st_fail(cc->rep,
               "case %zu: suite %u: sign_with_label: our fresh signature does "
               "not verify (%s)",
               cc->i, cc->suite_id, mg_err_name(rc));
    return 0;
  }
  return 1;
}

static int cb_encrypt_with_label(cb_case *cc, const json_t *c) {
  const json_t *s = cb_section(cc, c, "encrypt_with_label");
  const char *label;
  uint8_t *priv, *pub, *context, *pt, *kem_output, *ct;
  size_t priv_len, pub_len, context_len, pt_len, kem_output_len, ct_len;
  const char *sn = "encrypt_with_label";
  if (s == NULL || !cb_hex(cc, s, sn, "priv", &priv, &priv_len) ||
      !cb_hex(cc, s, sn, "pub", &pub, &pub_len) ||
      !cb_str(cc, s, sn, "label", &label) ||
      !cb_hex(cc, s, sn, "context", &context, &context_len) ||
      !cb_hex(cc, s, sn, "plaintext", &pt, &pt_len) ||
      !cb_hex(cc, s, sn, "kem_output", &kem_output, &kem_output_len) ||
      !cb_hex(cc, s, sn, "ciphertext", &ct, &ct_len)) {
    return 0;
  }
  size_t cap = ct_len + pt_len + MG_MAX_AEAD_TAG_LEN + 1;
  uint8_t *out = cb_keep(cc, malloc(cap));
  uint8_t *fresh_ct = cb_keep(cc, malloc(cap));
  if (out == NULL || fresh_ct == NULL) {
    mg_st_fail(cc->rep, "case %zu: out of memory", cc->i);
    return 0;
  }
  size_t out_len = 0;
  if (!cb_rc(cc, "decrypt_with_label (given ciphertext)",
             mls_decrypt_with_label(cc->suite, out, cap, &out_len, priv,
                                    priv_len, label, context, context_len,
                                    kem_output, kem_output_len, ct, ct_len)) ||
      !cb_eq(cc, "encrypt_with_label.plaintext (decrypting given ciphertext)",
             out, out_len, pt, pt_len)) {
    return 0;
  }
  uint8_t fresh_kem[MG_HPKE_MAX_ENC_LEN];
  size_t fresh_kem_len = 0, fresh_ct_len = 0;
  if (!cb_rc(cc, "encrypt_with_label (fresh)",
             mls_encrypt_with_label(cc->suite, fresh_kem, sizeof(fresh_kem),
                                    &fresh_kem_len, fresh_ct, cap,
                                    &fresh_ct_len, pub, pub_len, label,
                                    context, context_len, pt, pt_len))) {
    return 0;
  }
  out_len = 0;
  return cb_rc(cc, "decrypt_with_label (our fresh ciphertext)",
               mls_decrypt_with_label(cc->suite, out, cap, &out_len, priv,
                                      priv_len, label, context, context_len,
                                      fresh_kem, fresh_kem_len, fresh_ct,
                                      fresh_ct_len)) &&
         cb_eq(cc, "encrypt_with_label.plaintext (decrypting our ciphertext)",
               out, out_len, pt, pt_len);
}

static void cb_run(const json_t *root, size_t i, mg_st_report *rep) {
  const json_t *c = json_array_get(root, i);
  const json_t *js = json_object_get(c, "cipher_suite");
  if (!json_is_integer(js) || json_integer_value(js) < 0 ||
      json_integer_value(js) > 0xffff) {
    mg_st_fail(rep, "case %zu: cipher_suite missing or out of range", i);
    return;
  }
  cb_case cc;
  memset(&cc, 0, sizeof(cc));
  cc.i = i;
  cc.rep = rep;
  cc.suite_id = (unsigned)json_integer_value(js);
  cc.suite = mls_suite_by_id((uint16_t)cc.suite_id);
  if (cc.suite == NULL) {
    mg_st_skip(rep, "case %zu: suite %u: cipher suite not supported", i,
               cc.suite_id);
    return;
  }
  int rc = mg_crypto_init();
  if (rc < 0) {
    mg_st_fail(rep, "case %zu: mg_crypto_init failed: %s", i, mg_err_name(rc));
    return;
  }
  int ok = cb_ref_hash(&cc, c) && cb_expand_with_label(&cc, c) &&
           cb_derive_secret(&cc, c) && cb_derive_tree_secret(&cc, c) &&
           cb_sign_with_label(&cc, c) && cb_encrypt_with_label(&cc, c);
  for (size_t k = 0; k < cc.n_bufs; k++) {
    free(cc.bufs[k]);
  }
  if (ok) {
    mg_st_pass(rep);
  }
}

const mg_st_kind mg_st_kind_crypto_basics = {
    "crypto-basics", cb_match, cb_count, cb_run,
};
