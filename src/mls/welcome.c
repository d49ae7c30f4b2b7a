/* Welcome processing (RFC 9420 §12.4.3).  See welcome.h. */
#include "config.h"

#include "mls/welcome.h"

#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/guard.h"
#include "common/secmem.h"
#include "crypto/mls_crypto.h"

static const uint8_t k_zero[MG_MAX_HASH_LEN] = {0};

static int wl_suite_ok(const mls_suite *suite) {
  return suite != NULL && suite->kdf != NULL && suite->aead != NULL &&
         suite->kem != NULL && suite->sig != NULL &&
         suite->kdf->nh <= MG_MAX_HASH_LEN;
}

int mls_welcome_secret(const mls_suite *suite, uint8_t *out,
                       const uint8_t *joiner_secret, size_t joiner_secret_len,
                       const uint8_t *psk_secret, size_t psk_secret_len) {
  uint8_t member[MG_MAX_HASH_LEN];
  MG_ENSURE(wl_suite_ok(suite) && out != NULL && joiner_secret != NULL,
            MG_ERR_INVALID_ARG);
  size_t nh = suite->kdf->nh;
  MG_ENSURE(joiner_secret_len == nh, MG_ERR_PARAM);
  if (psk_secret == NULL) {
    MG_ENSURE(psk_secret_len == 0, MG_ERR_INVALID_ARG);
    psk_secret = k_zero;
  } else {
    MG_ENSURE(psk_secret_len == nh, MG_ERR_PARAM);
  }
  int rc = suite->kdf->extract(suite->kdf, member, joiner_secret, nh,
                               psk_secret, nh);
  if (rc == 0) {
    rc = mls_derive_secret(suite, out, member, nh, "welcome");
  }
  mg_memzero(member, sizeof(member));
  return rc;
}

int mls_welcome_seal_info(const mls_suite *suite, mls_bytes *out,
                          const mls_group_info *gi,
                          const uint8_t *welcome_secret,
                          size_t welcome_secret_len) {
  uint8_t key[MG_MAX_AEAD_KEY_LEN], nonce[MG_MAX_AEAD_NONCE_LEN];
  uint8_t *pt = NULL, *ct = NULL;
  size_t pt_len = 0;
  int rc;

  MG_ENSURE(wl_suite_ok(suite) && out != NULL && gi != NULL,
            MG_ERR_INVALID_ARG);
  MG_CHECK(mls_welcome_key_nonce(suite, key, nonce, welcome_secret,
                                 welcome_secret_len));
  MG_CHECK(mls_group_info_serialize(gi, &pt, &pt_len));
  ct = malloc(pt_len + suite->aead->tag_len);
  if (ct == NULL) {
    MG_FAIL(MG_ERR_NOMEM);
  }
  MG_CHECK(suite->aead->seal(suite->aead, ct, key, nonce,
                             suite->aead->nonce_len, k_zero, 0, pt, pt_len));
  out->data = ct;
  out->len = pt_len + suite->aead->tag_len;
  ct = NULL;
out:
  free(ct);
  free(pt);
  mg_memzero(key, sizeof(key));
  mg_memzero(nonce, sizeof(nonce));
  return rc;
}

int mls_welcome_seal_secrets(const mls_suite *suite,
                             mls_encrypted_group_secrets *out,
                             const uint8_t *kp_ref, size_t kp_ref_len,
                             const uint8_t *init_pub, size_t init_pub_len,
                             const mls_group_secrets *gs,
                             const mls_bytes *encrypted_group_info) {
  mls_encrypted_group_secrets v;
  uint8_t *pt = NULL;
  size_t pt_len = 0;
  uint8_t kem[MG_HPKE_MAX_ENC_LEN];
  size_t kem_len = 0, ct_len = 0;
  uint8_t *ct = NULL;
  int rc;

  memset(&v, 0, sizeof(v));
  MG_ENSURE(wl_suite_ok(suite) && out != NULL && kp_ref != NULL &&
                init_pub != NULL && gs != NULL && encrypted_group_info != NULL,
            MG_ERR_INVALID_ARG);
  MG_CHECK(mls_group_secrets_serialize(gs, &pt, &pt_len));
  ct = malloc(pt_len + suite->aead->tag_len);
  if (ct == NULL) {
    MG_FAIL(MG_ERR_NOMEM);
  }
  MG_CHECK(mls_encrypt_with_label(
      suite, kem, sizeof(kem), &kem_len, ct, pt_len + suite->aead->tag_len,
      &ct_len, init_pub, init_pub_len, MLS_WELCOME_LABEL,
      encrypted_group_info->len > 0 ? encrypted_group_info->data : k_zero,
      encrypted_group_info->len, pt, pt_len));
  MG_CHECK(mls_bytes_dup(&v.new_member, kp_ref, kp_ref_len));
  MG_CHECK(mls_bytes_dup(&v.encrypted_group_secrets.kem_output, kem, kem_len));
  v.encrypted_group_secrets.ciphertext.data = ct;
  v.encrypted_group_secrets.ciphertext.len = ct_len;
  ct = NULL;
  *out = v;
  memset(&v, 0, sizeof(v));
out:
  mls_encrypted_group_secrets_cleanup(&v);
  free(ct);
  mg_free_secret(pt, pt_len);
  return rc;
}

int mls_welcome_open_secrets(const mls_suite *suite, mls_group_secrets *out,
                             const mls_welcome *w, const uint8_t *kp_ref,
                             size_t kp_ref_len, const mg_hpke_key *init_key) {
  const mls_encrypted_group_secrets *mine = NULL;
  uint8_t *pt = NULL;
  size_t pt_cap = 0, pt_len = 0;
  mg_reader r;
  int rc;

  MG_ENSURE(wl_suite_ok(suite) && out != NULL && w != NULL && kp_ref != NULL &&
                init_key != NULL,
            MG_ERR_INVALID_ARG);
  MG_ENSURE(w->cipher_suite == suite->id, MG_ERR_UNSUPPORTED);
  for (size_t k = 0; k < w->num_secrets; k++) {
    const mls_bytes *ref = &w->secrets[k].new_member;
    if (ref->len == kp_ref_len && memcmp(ref->data, kp_ref, kp_ref_len) == 0) {
      mine = &w->secrets[k];
      break;
    }
  }
  MG_ENSURE(mine != NULL, MG_ERR_WELCOME);
  const mls_hpke_ciphertext *hc = &mine->encrypted_group_secrets;
  MG_ENSURE(hc->ciphertext.len >= suite->aead->tag_len, MG_ERR_AUTH);
  pt_cap = hc->ciphertext.len - suite->aead->tag_len;
  pt = malloc(pt_cap > 0 ? pt_cap : 1);
  MG_ENSURE(pt != NULL, MG_ERR_NOMEM);
  const mls_bytes *egi = &w->encrypted_group_info;
  MG_CHECK(mls_decrypt_with_label_key(
      suite, pt, pt_cap, &pt_len, init_key, MLS_WELCOME_LABEL,
      egi->len > 0 ? egi->data : k_zero, egi->len,
      hc->kem_output.len > 0 ? hc->kem_output.data : k_zero,
      hc->kem_output.len,
      hc->ciphertext.len > 0 ? hc->ciphertext.data : k_zero,
      hc->ciphertext.len));
  mg_reader_init(&r, pt, pt_len);
  MG_CHECK(mls_group_secrets_decode(&r, out));
  rc = mg_reader_done(&r);
  if (rc < 0) {
    mls_group_secrets_cleanup(out);
  }
out:
  mg_free_secret(pt, pt_cap);
  return rc;
}

int mls_welcome_open_info(const mls_suite *suite, mls_group_info *gi,
                          mls_epoch_secrets **ep, const mls_welcome *w,
                          const uint8_t *joiner_secret,
                          size_t joiner_secret_len, const uint8_t *psk_secret,
                          size_t psk_secret_len) {
  uint8_t welcome_secret[MG_MAX_HASH_LEN];
  uint8_t key[MG_MAX_AEAD_KEY_LEN], nonce[MG_MAX_AEAD_NONCE_LEN];
  uint8_t *pt = NULL, *gc = NULL;
  size_t pt_len = 0, gc_len = 0;
  mls_group_info v;
  mls_epoch_secrets *e = NULL;
  mg_reader r;
  int rc;

  memset(&v, 0, sizeof(v));
  MG_ENSURE(wl_suite_ok(suite) && gi != NULL && ep != NULL && w != NULL,
            MG_ERR_INVALID_ARG);
  MG_ENSURE(w->cipher_suite == suite->id, MG_ERR_UNSUPPORTED);
  MG_CHECK(mls_welcome_secret(suite, welcome_secret, joiner_secret,
                              joiner_secret_len, psk_secret, psk_secret_len));
  MG_CHECK(mls_welcome_key_nonce(suite, key, nonce, welcome_secret,
                                 suite->kdf->nh));
  const mls_bytes *egi = &w->encrypted_group_info;
  if (egi->len < suite->aead->tag_len) {
    MG_FAIL(MG_ERR_AUTH);
  }
  pt_len = egi->len - suite->aead->tag_len;
  pt = malloc(pt_len > 0 ? pt_len : 1);
  if (pt == NULL) {
    MG_FAIL(MG_ERR_NOMEM);
  }
  MG_CHECK(suite->aead->open(suite->aead, pt, key, nonce,
                             suite->aead->nonce_len, k_zero, 0, egi->data,
                             egi->len));
  mg_reader_init(&r, pt, pt_len);
  MG_CHECK(mls_group_info_decode(&r, &v));
  MG_CHECK(mg_reader_done(&r));
  if (v.group_context.cipher_suite != suite->id) {
    MG_FAIL(MG_ERR_UNSUPPORTED);
  }
  /* RFC 9420 §12.4.3.1: the key schedule of the new epoch from
   * joiner_secret, then the confirmation tag over the GroupContext's
   * confirmed transcript hash. */
  MG_CHECK(mls_group_context_serialize(&v.group_context, &gc, &gc_len));
  MG_CHECK(mls_epoch_secrets_from_joiner(suite, &e, joiner_secret,
                                         joiner_secret_len, psk_secret,
                                         psk_secret_len, gc, gc_len));
  MG_CHECK(mls_confirmation_tag_verify(
      suite, e->confirmation_key, e->nh,
      v.group_context.confirmed_transcript_hash.data,
      v.group_context.confirmed_transcript_hash.len,
      v.confirmation_tag.data, v.confirmation_tag.len));
  *gi = v;
  memset(&v, 0, sizeof(v));
  *ep = e;
  e = NULL;
out:
  mls_group_info_cleanup(&v);
  mls_epoch_secrets_free(e);
  mg_free_secret(pt, pt_len);
  free(gc);
  mg_memzero(welcome_secret, sizeof(welcome_secret));
  mg_memzero(key, sizeof(key));
  mg_memzero(nonce, sizeof(nonce));
  return rc;
}

int mls_group_info_sign(const mls_suite *suite, mls_group_info *gi,
                        const uint8_t *signer_priv, size_t signer_priv_len) {
  mg_sig_key *key = NULL;
  MG_ENSURE(wl_suite_ok(suite) && gi != NULL && signer_priv != NULL,
            MG_ERR_INVALID_ARG);
  int rc = suite->sig->key_from_priv(suite->sig, &key, signer_priv,
                                     signer_priv_len);
  if (rc < 0) {
    return rc == MG_ERR_NOMEM ? rc : MG_ERR_BAD_KEY;
  }
  rc = mls_group_info_sign_key(suite, gi, key);
  mg_sig_key_free(key);
  return rc;
}

int mls_group_info_sign_key(const mls_suite *suite, mls_group_info *gi,
                            const mg_sig_key *key) {
  mg_writer w;
  uint8_t sig[MG_MAX_SIG_LEN];
  size_t sig_len = 0;
  mls_bytes s = {NULL, 0};
  int rc;

  mg_writer_zero(&w);
  MG_ENSURE(wl_suite_ok(suite) && gi != NULL && key != NULL,
            MG_ERR_INVALID_ARG);
  MG_CHECK(mg_writer_init(&w, 256, 0));
  MG_CHECK(mls_group_info_tbs_encode(&w, gi));
  MG_CHECK(mls_sign_with_label_key(suite, sig, sizeof(sig), &sig_len, key,
                                   MLS_GROUP_INFO_TBS_LABEL,
                                   mg_writer_data(&w), mg_writer_len(&w)));
  MG_CHECK(mls_bytes_dup(&s, sig, sig_len));
  mls_bytes_cleanup(&gi->signature);
  gi->signature = s;
out:
  mg_writer_cleanup(&w);
  return rc;
}

int mls_group_info_verify(const mls_suite *suite, const mls_group_info *gi,
                          const uint8_t *signer_pub, size_t signer_pub_len) {
  mg_writer w;
  int rc;

  mg_writer_zero(&w);
  MG_ENSURE(wl_suite_ok(suite) && gi != NULL && signer_pub != NULL,
            MG_ERR_INVALID_ARG);
  MG_CHECK(mg_writer_init(&w, 256, 0));
  MG_CHECK(mls_group_info_tbs_encode(&w, gi));
  rc = mls_verify_with_label(suite, signer_pub, signer_pub_len,
                             MLS_GROUP_INFO_TBS_LABEL, mg_writer_data(&w),
                             mg_writer_len(&w),
                             gi->signature.len > 0 ? gi->signature.data : k_zero,
                             gi->signature.len);
  if (rc == MG_ERR_VERIFY) {
    rc = MG_ERR_SIGNATURE;
  }
out:
  mg_writer_cleanup(&w);
  return rc;
}
