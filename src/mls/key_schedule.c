/* The MLS key schedule (RFC 9420 §8).  See key_schedule.h. */
#include "config.h"

#include "mls/key_schedule.h"

#include <stdlib.h>
#include <string.h>

#include "common/guard.h"
#include "common/secmem.h"
#include "crypto/mls_crypto.h"

static const uint8_t k_zero[MG_MAX_HASH_LEN] = {0};

static int ks_suite_ok(const mls_suite *suite) {
  return suite != NULL && suite->kdf != NULL && suite->hash != NULL &&
         suite->aead != NULL && suite->kem != NULL &&
         suite->kdf->nh <= MG_MAX_HASH_LEN;
}

/* A schedule input: NULL means the zero vector; otherwise exactly Nh bytes. */
static int ks_input(const uint8_t **p, size_t len, size_t nh) {
  if (*p == NULL) {
    if (len != 0) {
      return MG_ERR_INVALID_ARG;
    }
    *p = k_zero;
    return 0;
  }
  return len == nh ? 0 : MG_ERR_PARAM;
}

/* One row of the table "Epoch-Derived Secrets" (RFC 9420 §8). */
typedef struct ks_derived {
  const char *label;
  size_t offset;
} ks_derived;

static const ks_derived k_derived[] = {
    {"sender data", offsetof(mls_epoch_secrets, sender_data_secret)},
    {"encryption", offsetof(mls_epoch_secrets, encryption_secret)},
    {"exporter", offsetof(mls_epoch_secrets, exporter_secret)},
    {"external", offsetof(mls_epoch_secrets, external_secret)},
    {"confirm", offsetof(mls_epoch_secrets, confirmation_key)},
    {"membership", offsetof(mls_epoch_secrets, membership_key)},
    {"resumption", offsetof(mls_epoch_secrets, resumption_psk)},
    {"authentication", offsetof(mls_epoch_secrets, epoch_authenticator)},
    {"init", offsetof(mls_epoch_secrets, init_secret)},
};

/* Fills |ep| (suite, nh, joiner_secret set) from joiner_secret onwards. */
static int ks_from_joiner(mls_epoch_secrets *ep, const uint8_t *psk_secret,
                          const uint8_t *gc, size_t gc_len) {
  const mls_suite *suite = ep->suite;
  size_t nh = ep->nh;
  uint8_t member[MG_MAX_HASH_LEN];
  uint8_t epoch_secret[MG_MAX_HASH_LEN];
  int rc;

  /* member_secret = Extract(joiner_secret, psk_secret): salt is the joiner
   * secret, IKM the PSK secret (RFC 9420 §8, figure "The MLS Key Schedule"). */
  MG_CHECK(suite->kdf->extract(suite->kdf, member, ep->joiner_secret, nh,
                               psk_secret, nh));
  MG_CHECK(mls_derive_secret(suite, ep->welcome_secret, member, nh, "welcome"));
  MG_CHECK(mls_expand_with_label(suite, epoch_secret, nh, member, nh, "epoch",
                                 gc, gc_len));
  for (size_t i = 0; i < MG_ARRAY_LEN(k_derived); i++) {
    uint8_t *dst = (uint8_t *)ep + k_derived[i].offset;
    MG_CHECK(mls_derive_secret(suite, dst, epoch_secret, nh, k_derived[i].label));
  }
  rc = 0;
out:
  mg_memzero(member, sizeof(member));
  mg_memzero(epoch_secret, sizeof(epoch_secret));
  return rc;
}

static int ks_alloc(const mls_suite *suite, mls_epoch_secrets **out) {
  mls_epoch_secrets *ep = calloc(1, sizeof(*ep));
  if (ep == NULL) {
    return MG_ERR_NOMEM;
  }
  ep->suite = suite;
  ep->nh = suite->kdf->nh;
  *out = ep;
  return 0;
}

int mls_epoch_secrets_from_init(const mls_suite *suite, mls_epoch_secrets **out,
                                const uint8_t *init_secret,
                                size_t init_secret_len,
                                const uint8_t *commit_secret,
                                size_t commit_secret_len,
                                const uint8_t *psk_secret,
                                size_t psk_secret_len,
                                const uint8_t *group_context,
                                size_t group_context_len) {
  mls_epoch_secrets *ep = NULL;
  uint8_t prk[MG_MAX_HASH_LEN];
  int rc;

  MG_ENSURE(ks_suite_ok(suite) && out != NULL && init_secret != NULL &&
                group_context != NULL,
            MG_ERR_INVALID_ARG);
  size_t nh = suite->kdf->nh;
  MG_ENSURE(init_secret_len == nh, MG_ERR_PARAM);
  MG_GUARD(ks_input(&commit_secret, commit_secret_len, nh));
  MG_GUARD(ks_input(&psk_secret, psk_secret_len, nh));
  MG_GUARD(ks_alloc(suite, &ep));
  /* RFC 9420 §8: Extract(init_secret_[n-1], commit_secret). */
  MG_CHECK(suite->kdf->extract(suite->kdf, prk, init_secret, nh,
                               commit_secret, nh));
  MG_CHECK(mls_expand_with_label(suite, ep->joiner_secret, nh, prk, nh,
                                 "joiner", group_context, group_context_len));
  MG_CHECK(ks_from_joiner(ep, psk_secret, group_context, group_context_len));
  *out = ep;
  ep = NULL;
  rc = 0;
out:
  mg_memzero(prk, sizeof(prk));
  mls_epoch_secrets_free(ep);
  return rc;
}

int mls_epoch_secrets_next(const mls_epoch_secrets *cur,
                           mls_epoch_secrets **out,
                           const uint8_t *commit_secret,
                           size_t commit_secret_len,
                           const uint8_t *psk_secret, size_t psk_secret_len,
                           const uint8_t *group_context,
                           size_t group_context_len) {
  MG_ENSURE_REF(cur);
  return mls_epoch_secrets_from_init(cur->suite, out, cur->init_secret,
                                     cur->nh, commit_secret, commit_secret_len,
                                     psk_secret, psk_secret_len, group_context,
                                     group_context_len);
}

int mls_epoch_secrets_from_joiner(const mls_suite *suite,
                                  mls_epoch_secrets **out,
                                  const uint8_t *joiner_secret,
                                  size_t joiner_secret_len,
                                  const uint8_t *psk_secret,
                                  size_t psk_secret_len,
                                  const uint8_t *group_context,
                                  size_t group_context_len) {
  mls_epoch_secrets *ep = NULL;
  int rc;

  MG_ENSURE(ks_suite_ok(suite) && out != NULL && joiner_secret != NULL &&
                group_context != NULL,
            MG_ERR_INVALID_ARG);
  size_t nh = suite->kdf->nh;
  MG_ENSURE(joiner_secret_len == nh, MG_ERR_PARAM);
  MG_GUARD(ks_input(&psk_secret, psk_secret_len, nh));
  MG_GUARD(ks_alloc(suite, &ep));
  memcpy(ep->joiner_secret, joiner_secret, nh);
  MG_CHECK(ks_from_joiner(ep, psk_secret, group_context, group_context_len));
  *out = ep;
  ep = NULL;
  rc = 0;
out:
  mls_epoch_secrets_free(ep);
  return rc;
}

void mls_epoch_secrets_free(mls_epoch_secrets *ep) {
  mg_free_secret(ep, sizeof(*ep));
}

int mls_epoch_exporter(const mls_epoch_secrets *ep, uint8_t *out,
                       size_t out_len, const char *label,
                       const uint8_t *context, size_t context_len) {
  uint8_t derived[MG_MAX_HASH_LEN];
  uint8_t ctx_hash[MG_MAX_HASH_LEN];
  int rc;

  MG_ENSURE(ep != NULL && out != NULL && label != NULL &&
                (context != NULL || context_len == 0),
            MG_ERR_INVALID_ARG);
  const mls_suite *suite = ep->suite;
  MG_ENSURE(suite->hash->digest_len <= sizeof(ctx_hash), MG_ERR_INTERNAL);
  MG_CHECK(mls_derive_secret(suite, derived, ep->exporter_secret, ep->nh,
                             label));
  MG_CHECK(suite->hash->digest(suite->hash, ctx_hash,
                               context != NULL ? context : k_zero, context_len));
  MG_CHECK(mls_expand_with_label(suite, out, out_len, derived, ep->nh,
                                 "exported", ctx_hash,
                                 suite->hash->digest_len));
out:
  mg_memzero(derived, sizeof(derived));
  return rc;
}

int mls_epoch_external_key(const mls_epoch_secrets *ep, mg_hpke_key *key) {
  MG_ENSURE(ep != NULL && key != NULL, MG_ERR_INVALID_ARG);
  return mg_hpke_key_derive(key, ep->suite->kem, ep->external_secret, ep->nh);
}

int mls_external_init_send(const mls_suite *suite, uint8_t *kem_output,
                           size_t kem_cap, size_t *kem_output_len,
                           uint8_t *init_secret, const uint8_t *external_pub,
                           size_t external_pub_len) {
  MG_ENSURE(ks_suite_ok(suite), MG_ERR_INVALID_ARG);
  mg_hpke_suite hs = mls_hpke_suite(suite);
  static const uint8_t empty[1] = {0};
  return mg_hpke_send_export(
      kem_output, kem_cap, kem_output_len, init_secret, suite->kdf->nh, &hs,
      external_pub, external_pub_len, empty, 0, NULL,
      (const uint8_t *)MLS_EXTERNAL_INIT_LABEL,
      sizeof(MLS_EXTERNAL_INIT_LABEL) - 1);
}

int mls_external_init_receive(const mls_epoch_secrets *ep,
                              uint8_t *init_secret, const uint8_t *kem_output,
                              size_t kem_output_len) {
  mg_hpke_key key;
  static const uint8_t empty[1] = {0};
  int rc;

  mg_hpke_key_zero(&key);
  MG_ENSURE(ep != NULL && init_secret != NULL && kem_output != NULL,
            MG_ERR_INVALID_ARG);
  mg_hpke_suite hs = mls_hpke_suite(ep->suite);
  MG_CHECK(mls_epoch_external_key(ep, &key));
  MG_CHECK(mg_hpke_receive_export(
      init_secret, ep->nh, &hs, &key, kem_output, kem_output_len, empty, 0,
      NULL, (const uint8_t *)MLS_EXTERNAL_INIT_LABEL,
      sizeof(MLS_EXTERNAL_INIT_LABEL) - 1));
out:
  mg_hpke_key_cleanup(&key);
  return rc;
}

int mls_welcome_key_nonce(const mls_suite *suite, uint8_t *key, uint8_t *nonce,
                          const uint8_t *welcome_secret,
                          size_t welcome_secret_len) {
  MG_ENSURE(ks_suite_ok(suite) && key != NULL && nonce != NULL &&
                welcome_secret != NULL,
            MG_ERR_INVALID_ARG);
  MG_ENSURE(welcome_secret_len == suite->kdf->nh, MG_ERR_PARAM);
  /* RFC 9420 §12.4.3.1 */
  MG_GUARD(mls_expand_with_label(suite, nonce, suite->aead->nonce_len,
                                 welcome_secret, welcome_secret_len, "nonce",
                                 NULL, 0));
  int rc = mls_expand_with_label(suite, key, suite->aead->key_len,
                                 welcome_secret, welcome_secret_len, "key",
                                 NULL, 0);
  if (rc < 0) {
    mg_memzero(nonce, suite->aead->nonce_len);
  }
  return rc;
}

int mls_confirmation_tag_compute(const mls_suite *suite, uint8_t *out,
                                 size_t out_cap, size_t *out_len,
                                 const uint8_t *confirmation_key,
                                 size_t confirmation_key_len,
                                 const uint8_t *confirmed_transcript_hash,
                                 size_t cth_len) {
  MG_ENSURE(ks_suite_ok(suite) && out != NULL && out_len != NULL &&
                confirmation_key != NULL &&
                (confirmed_transcript_hash != NULL || cth_len == 0),
            MG_ERR_INVALID_ARG);
  MG_ENSURE(out_cap >= suite->hash->digest_len, MG_ERR_BUFFER_TOO_SMALL);
  /* RFC 9420 §6.1: confirmation_tag = MAC(confirmation_key,
   * GroupContext.confirmed_transcript_hash); MAC is HMAC (§5.1). */
  MG_GUARD(suite->hash->hmac(
      suite->hash, out, confirmation_key, confirmation_key_len,
      confirmed_transcript_hash != NULL ? confirmed_transcript_hash : k_zero,
      cth_len));
  *out_len = suite->hash->digest_len;
  return 0;
}

int mls_confirmation_tag_verify(const mls_suite *suite,
                                const uint8_t *confirmation_key,
                                size_t confirmation_key_len,
                                const uint8_t *confirmed_transcript_hash,
                                size_t cth_len, const uint8_t *tag,
                                size_t tag_len) {
  uint8_t want[MG_MAX_HASH_LEN];
  size_t want_len = 0;
  MG_ENSURE(tag != NULL || tag_len == 0, MG_ERR_INVALID_ARG);
  MG_GUARD(mls_confirmation_tag_compute(suite, want, sizeof(want), &want_len,
                                        confirmation_key, confirmation_key_len,
                                        confirmed_transcript_hash, cth_len));
  int ok = tag_len == want_len && mg_ct_memeq(want, tag, want_len);
  mg_memzero(want, sizeof(want));
  return ok ? 0 : MG_ERR_CONFIRMATION_TAG;
}

int mls_psk_secret(const mls_suite *suite, uint8_t *out, const mls_psk_id *ids,
                   const mls_bytes *psks, size_t n) {
  uint8_t secret[MG_MAX_HASH_LEN];
  uint8_t extracted[MG_MAX_HASH_LEN];
  uint8_t input[MG_MAX_HASH_LEN];
  mg_writer w;
  int rc;

  mg_writer_zero(&w);
  memset(secret, 0, sizeof(secret));
  MG_ENSURE(ks_suite_ok(suite) && out != NULL &&
                ((ids != NULL && psks != NULL) || n == 0),
            MG_ERR_INVALID_ARG);
  MG_ENSURE(n <= 0xffff, MG_ERR_PSK);
  size_t nh = suite->kdf->nh;
  /* RFC 9420 §8.4: psk_nonce MUST be KDF.Nh bytes. */
  for (size_t i = 0; i < n; i++) {
    MG_ENSURE(ids[i].psk_nonce.len == nh, MG_ERR_PSK);
  }
  for (size_t i = 0; i < n; i++) {
    MG_CHECK(mg_writer_init(&w, 128, 0));
    MG_CHECK(mls_psk_label_encode(&w, &ids[i], (uint16_t)i, (uint16_t)n));
    /* KDF.Extract(0, psk_[i]): the salt is Nh zero bytes. */
    MG_CHECK(suite->kdf->extract(suite->kdf, extracted, k_zero, nh,
                                 psks[i].len > 0 ? psks[i].data : k_zero,
                                 psks[i].len));
    MG_CHECK(mls_expand_with_label(suite, input, nh, extracted, nh,
                                   "derived psk", mg_writer_data(&w),
                                   mg_writer_len(&w)));
    /* psk_secret_[i+1] = KDF.Extract(psk_input_[i], psk_secret_[i]); the
     * output goes through |extracted| so that it never aliases the IKM. */
    MG_CHECK(suite->kdf->extract(suite->kdf, extracted, input, nh, secret, nh));
    memcpy(secret, extracted, nh);
    mg_writer_cleanup(&w);
  }
  memcpy(out, secret, nh);
  rc = 0;
out:
  mg_writer_cleanup(&w);
  mg_memzero(secret, sizeof(secret));
  mg_memzero(extracted, sizeof(extracted));
  mg_memzero(input, sizeof(input));
  return rc;
}

int mls_epoch_secrets_copy(mls_epoch_secrets **out,
                           const mls_epoch_secrets *in) {
  MG_ENSURE(out != NULL && in != NULL, MG_ERR_INVALID_ARG);
  mls_epoch_secrets *ep = calloc(1, sizeof(*ep));
  if (ep == NULL) {
    return MG_ERR_NOMEM;
  }
  memcpy(ep, in, sizeof(*ep));
  *out = ep;
  return 0;
}
