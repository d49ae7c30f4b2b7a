/*
 * MLS cryptographic helpers (RFC 9420 §5, §8, §9).  See mls_crypto.h.
 *
 * Every labelled structure here has the shape
 *   [uint16 length;] opaque label<V>; opaque body<V>;
 * (KDFLabel, SignContent, EncryptContext, RefHashInput), so one serializer
 * writes them all.  It uses the codec's fixed-buffer writer over a stack
 * buffer and falls back to a heap writer only when the structure is larger.
 */
#include "config.h"

#include "crypto/mls_crypto.h"

#include <string.h>

#include "common/codec.h"
#include "common/guard.h"
#include "common/secmem.h"

/* Stack room for one labelled structure: enough for every KDFLabel of the
 * key schedule (the largest context is a GroupContext) and for the small
 * SignContents/EncryptContexts. */
#define MLS_LABELED_STACK 512

static const uint8_t k_empty[1] = {0};

typedef struct labeled_buf {
  uint8_t stack[MLS_LABELED_STACK];
  size_t fast_len; /* > 0: the structure was written straight into stack */
  mg_writer w;     /* otherwise: written through the codec */
} labeled_buf;

static inline const uint8_t *lb_data(const labeled_buf *lb) {
  return lb->fast_len > 0 ? lb->stack : mg_writer_data(&lb->w);
}

static inline size_t lb_len(const labeled_buf *lb) {
  return lb->fast_len > 0 ? lb->fast_len : mg_writer_len(&lb->w);
}

static int suite_check(const mls_suite *suite) {
  MG_ENSURE_REF(suite);
  MG_ENSURE(suite->kdf != NULL && suite->hash != NULL && suite->kem != NULL &&
                suite->aead != NULL && suite->sig != NULL,
            MG_ERR_INVALID_ARG);
  return 0;
}

/* Serializes
 *   [uint16 length;] opaque label<V> = prefix + label; opaque body<V>;
 * into |lb->w| (set up here; the caller must mg_writer_cleanup it, also on
 * error). */
static int labeled_serialize(labeled_buf *lb, int with_length,
                             uint16_t length, const char *prefix,
                             const char *label, const uint8_t *body,
                             size_t body_len) {
  mg_writer_zero(&lb->w);
  lb->fast_len = 0;
  MG_ENSURE(label != NULL && (body != NULL || body_len == 0),
            MG_ERR_INVALID_ARG);
  size_t prefix_len = strlen(prefix);
  size_t label_len = strlen(label);
  MG_ENSURE(label_len <= MG_VARINT_MAX - prefix_len && body_len <= MG_VARINT_MAX,
            MG_ERR_LENGTH);
  if (prefix_len + label_len < 64 && body_len < 64) {
    /* Hot path (every key-schedule and secret-tree derivation): both
     * vectors take a one-byte varint header (RFC 9420 §2.1.2), so the
     * structure is laid out directly; 2 + 1 + 63 + 1 + 63 bytes fit the
     * stack buffer.  The codec path below gives the same bytes (tested). */
    uint8_t *p = lb->stack;
    if (with_length) {
      *p++ = (uint8_t)(length >> 8);
      *p++ = (uint8_t)length;
    }
    *p++ = (uint8_t)(prefix_len + label_len);
    memcpy(p, prefix, prefix_len);
    p += prefix_len;
    memcpy(p, label, label_len);
    p += label_len;
    *p++ = (uint8_t)body_len;
    if (body_len > 0) {
      memcpy(p, body, body_len);
      p += body_len;
    }
    lb->fast_len = (size_t)(p - lb->stack);
    return 0;
  }
  /* Upper bound: 2 (length) + 4 (varint) + label + 4 (varint) + body. */
  size_t need = 2 + 4 + prefix_len + label_len + 4 + body_len;
  if (need <= sizeof(lb->stack)) {
    mg_writer_init_fixed(&lb->w, lb->stack, sizeof(lb->stack));
  } else {
    MG_GUARD(mg_writer_init(&lb->w, need, need));
  }
  if (with_length) {
    MG_GUARD(mg_write_u16(&lb->w, length));
  }
  MG_GUARD(mg_write_varint(&lb->w, prefix_len + label_len));
  if (prefix_len > 0) {
    MG_GUARD(mg_write_bytes(&lb->w, (const uint8_t *)prefix, prefix_len));
  }
  if (label_len > 0) {
    MG_GUARD(mg_write_bytes(&lb->w, (const uint8_t *)label, label_len));
  }
  MG_GUARD(mg_write_opaque(&lb->w, body != NULL ? body : k_empty, body_len));
  return mg_writer_error(&lb->w);
}

/* ------------------------------------------------------- RFC 9420 §8, §9 */

int mls_expand_with_label(const mls_suite *suite, uint8_t *out, size_t out_len,
                          const uint8_t *secret, size_t secret_len,
                          const char *label, const uint8_t *context,
                          size_t context_len) {
  labeled_buf lb;
  lb.fast_len = 0;
  int rc;

  mg_writer_zero(&lb.w);
  MG_CHECK(suite_check(suite));
  if (out == NULL || secret == NULL) {
    MG_FAIL(MG_ERR_INVALID_ARG);
  }
  /* KDFLabel.length is a uint16; HKDF allows at most 255*Nh. */
  if (out_len > 0xffff || out_len > 255 * suite->kdf->nh) {
    MG_FAIL(MG_ERR_PARAM);
  }
  MG_CHECK(labeled_serialize(&lb, 1, (uint16_t)out_len, MLS_LABEL_PREFIX,
                             label, context, context_len));
  MG_CHECK(suite->kdf->expand(suite->kdf, out, out_len, secret, secret_len,
                              lb_data(&lb), lb_len(&lb)));
out:
  mg_writer_cleanup(&lb.w);
  return rc;
}

int mls_derive_secret(const mls_suite *suite, uint8_t *out,
                      const uint8_t *secret, size_t secret_len,
                      const char *label) {
  MG_GUARD(suite_check(suite));
  return mls_expand_with_label(suite, out, suite->kdf->nh, secret, secret_len,
                               label, NULL, 0);
}

int mls_derive_tree_secret(const mls_suite *suite, uint8_t *out,
                           size_t out_len, const uint8_t *secret,
                           size_t secret_len, const char *label,
                           uint32_t generation) {
  uint8_t gen[4];
  gen[0] = (uint8_t)(generation >> 24);
  gen[1] = (uint8_t)(generation >> 16);
  gen[2] = (uint8_t)(generation >> 8);
  gen[3] = (uint8_t)generation;
  return mls_expand_with_label(suite, out, out_len, secret, secret_len, label,
                               gen, sizeof(gen));
}

/* ------------------------------------------------------- RFC 9420 §5.1.2 */

int mls_sign_with_label(const mls_suite *suite, uint8_t *sig, size_t sig_cap,
                        size_t *sig_len, const uint8_t *priv, size_t priv_len,
                        const char *label, const uint8_t *content,
                        size_t content_len) {
  mg_sig_key *key = NULL;
  MG_GUARD(suite_check(suite));
  MG_ENSURE(priv != NULL, MG_ERR_INVALID_ARG);
  MG_GUARD(suite->sig->key_from_priv(suite->sig, &key, priv, priv_len));
  int rc = mls_sign_with_label_key(suite, sig, sig_cap, sig_len, key, label,
                                   content, content_len);
  mg_sig_key_free(key);
  return rc;
}

int mls_sign_with_label_key(const mls_suite *suite, uint8_t *sig,
                            size_t sig_cap, size_t *sig_len,
                            const mg_sig_key *key, const char *label,
                            const uint8_t *content, size_t content_len) {
  labeled_buf lb;
  lb.fast_len = 0;
  int rc;

  mg_writer_zero(&lb.w);
  MG_CHECK(suite_check(suite));
  if (sig == NULL || sig_len == NULL || key == NULL) {
    MG_FAIL(MG_ERR_INVALID_ARG);
  }
  if (sig_cap < suite->sig->max_sig_len) {
    MG_FAIL(MG_ERR_BUFFER_TOO_SMALL);
  }
  MG_CHECK(labeled_serialize(&lb, 0, 0, MLS_LABEL_PREFIX, label, content,
                             content_len));
  MG_CHECK(suite->sig->sign(suite->sig, key, sig, sig_len,
                            lb_data(&lb), lb_len(&lb)));
out:
  mg_writer_cleanup(&lb.w);
  return rc;
}

int mls_verify_with_label(const mls_suite *suite, const uint8_t *pub,
                          size_t pub_len, const char *label,
                          const uint8_t *content, size_t content_len,
                          const uint8_t *sig, size_t sig_len) {
  mg_sig_key *key = NULL;
  MG_GUARD(suite_check(suite));
  MG_ENSURE(pub != NULL, MG_ERR_INVALID_ARG);
  MG_GUARD(suite->sig->key_from_pub(suite->sig, &key, pub, pub_len));
  int rc = mls_verify_with_label_key(suite, key, label, content, content_len,
                                     sig, sig_len);
  mg_sig_key_free(key);
  return rc;
}

int mls_verify_with_label_key(const mls_suite *suite, const mg_sig_key *key,
                              const char *label, const uint8_t *content,
                              size_t content_len, const uint8_t *sig,
                              size_t sig_len) {
  labeled_buf lb;
  lb.fast_len = 0;
  int rc;

  mg_writer_zero(&lb.w);
  MG_CHECK(suite_check(suite));
  if (key == NULL || (sig == NULL && sig_len > 0)) {
    MG_FAIL(MG_ERR_INVALID_ARG);
  }
  MG_CHECK(labeled_serialize(&lb, 0, 0, MLS_LABEL_PREFIX, label, content,
                             content_len));
  MG_CHECK(suite->sig->verify(suite->sig, key, lb_data(&lb),
                              lb_len(&lb),
                              sig != NULL ? sig : k_empty, sig_len));
out:
  mg_writer_cleanup(&lb.w);
  return rc;
}

/* ------------------------------------------------------- RFC 9420 §5.1.3 */

mg_hpke_suite mls_hpke_suite(const mls_suite *suite) {
  mg_hpke_suite s;
  s.kem = suite->kem;
  s.kdf = suite->kdf;
  s.aead = suite->aead;
  return s;
}

int mls_encrypt_with_label(const mls_suite *suite, uint8_t *kem_output,
                           size_t kem_cap, size_t *kem_output_len, uint8_t *ct,
                           size_t ct_cap, size_t *ct_len, const uint8_t *pub,
                           size_t pub_len, const char *label,
                           const uint8_t *context, size_t context_len,
                           const uint8_t *pt, size_t pt_len) {
  labeled_buf lb;
  lb.fast_len = 0;
  int rc;

  mg_writer_zero(&lb.w);
  MG_CHECK(suite_check(suite));
  MG_CHECK(labeled_serialize(&lb, 0, 0, MLS_LABEL_PREFIX, label, context,
                             context_len));
  mg_hpke_suite hs = mls_hpke_suite(suite);
  /* SealBase(pub, EncryptContext, "", pt) */
  MG_CHECK(mg_hpke_seal_single(kem_output, kem_cap, kem_output_len, ct, ct_cap,
                               ct_len, &hs, pub, pub_len,
                               lb_data(&lb), lb_len(&lb),
                               NULL, NULL, 0, pt, pt_len));
out:
  mg_writer_cleanup(&lb.w);
  return rc;
}

int mls_decrypt_with_label_key(const mls_suite *suite, uint8_t *pt,
                               size_t pt_cap, size_t *pt_len,
                               const mg_hpke_key *key, const char *label,
                               const uint8_t *context, size_t context_len,
                               const uint8_t *kem_output,
                               size_t kem_output_len, const uint8_t *ct,
                               size_t ct_len) {
  labeled_buf lb;
  lb.fast_len = 0;
  int rc;

  mg_writer_zero(&lb.w);
  MG_CHECK(suite_check(suite));
  MG_CHECK(labeled_serialize(&lb, 0, 0, MLS_LABEL_PREFIX, label, context,
                             context_len));
  mg_hpke_suite hs = mls_hpke_suite(suite);
  /* OpenBase(kem_output, priv, EncryptContext, "", ct) */
  MG_CHECK(mg_hpke_open_single(pt, pt_cap, pt_len, &hs, key, kem_output,
                               kem_output_len, lb_data(&lb),
                               lb_len(&lb), NULL, NULL, 0, ct,
                               ct_len));
out:
  mg_writer_cleanup(&lb.w);
  return rc;
}

int mls_decrypt_with_label(const mls_suite *suite, uint8_t *pt, size_t pt_cap,
                           size_t *pt_len, const uint8_t *priv,
                           size_t priv_len, const char *label,
                           const uint8_t *context, size_t context_len,
                           const uint8_t *kem_output, size_t kem_output_len,
                           const uint8_t *ct, size_t ct_len) {
  mg_hpke_key key;
  int rc;

  mg_hpke_key_zero(&key);
  MG_CHECK(suite_check(suite));
  MG_CHECK(mg_hpke_key_init(&key, suite->kem, priv, priv_len));
  MG_CHECK(mls_decrypt_with_label_key(suite, pt, pt_cap, pt_len, &key, label,
                                      context, context_len, kem_output,
                                      kem_output_len, ct, ct_len));
out:
  mg_hpke_key_cleanup(&key);
  return rc;
}

/* --------------------------------------------------------- RFC 9420 §5.2 */

int mls_ref_hash(const mls_suite *suite, uint8_t *out, size_t out_cap,
                 size_t *out_len, const char *label, const uint8_t *value,
                 size_t value_len) {
  labeled_buf lb;
  lb.fast_len = 0;
  int rc;

  mg_writer_zero(&lb.w);
  MG_CHECK(suite_check(suite));
  if (out == NULL || out_len == NULL) {
    MG_FAIL(MG_ERR_INVALID_ARG);
  }
  if (out_cap < suite->hash->digest_len) {
    MG_FAIL(MG_ERR_BUFFER_TOO_SMALL);
  }
  /* RefHashInput: the label is used as given, without "MLS 1.0 ". */
  MG_CHECK(labeled_serialize(&lb, 0, 0, "", label, value, value_len));
  MG_CHECK(suite->hash->digest(suite->hash, out, lb_data(&lb),
                               lb_len(&lb)));
  *out_len = suite->hash->digest_len;
out:
  mg_writer_cleanup(&lb.w);
  return rc;
}

int mls_make_key_package_ref(const mls_suite *suite, uint8_t *out,
                             size_t out_cap, size_t *out_len,
                             const uint8_t *value, size_t value_len) {
  return mls_ref_hash(suite, out, out_cap, out_len,
                      "MLS 1.0 KeyPackage Reference", value, value_len);
}

int mls_make_proposal_ref(const mls_suite *suite, uint8_t *out,
                          size_t out_cap, size_t *out_len,
                          const uint8_t *value, size_t value_len) {
  return mls_ref_hash(suite, out, out_cap, out_len,
                      "MLS 1.0 Proposal Reference", value, value_len);
}
