/* Message protection (RFC 9420 §6).  See framing.h. */
#include "config.h"

#include "mls/framing.h"

#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/guard.h"
#include "common/secmem.h"
#include "crypto/crypto.h"
#include "crypto/mls_crypto.h"
#include "mls/constants.h"

static const uint8_t k_empty[1] = {0};

static const uint8_t *fr_ptr(const mls_bytes *b) {
  return b->len > 0 ? b->data : k_empty;
}

static int fr_suite_ok(const mls_suite *suite) {
  return suite != NULL && suite->hash != NULL && suite->sig != NULL &&
         suite->aead != NULL && suite->kdf != NULL;
}

/* Deep copies through the codec: encode |in|, decode into |out|. */
static int fr_content_clone(mls_framed_content *out,
                            const mls_framed_content *in) {
  mg_writer w;
  mg_reader r;
  int rc;

  mg_writer_zero(&w);
  MG_CHECK(mg_writer_init(&w, 256, 0));
  MG_CHECK(mls_framed_content_encode(&w, in));
  mg_reader_init(&r, mg_writer_data(&w), mg_writer_len(&w));
  MG_CHECK(mls_framed_content_decode(&r, out));
  rc = mg_reader_done(&r);
  if (rc < 0) {
    mls_framed_content_cleanup(out);
  }
out:
  mg_writer_cleanup(&w);
  return rc;
}

static int fr_auth_clone(mls_framed_content_auth_data *out, uint8_t content_type,
                         const mls_framed_content_auth_data *in) {
  mls_framed_content_auth_data v;
  int rc;

  memset(&v, 0, sizeof(v));
  MG_CHECK(mls_bytes_copy(&v.signature, &in->signature));
  MG_CHECK(mls_bytes_copy(&v.confirmation_tag, &in->confirmation_tag));
  /* The same rule as the codec: a tag exactly on commits. */
  if ((content_type == MLS_CONTENT_COMMIT) != (v.confirmation_tag.len > 0)) {
    MG_FAIL(MG_ERR_INVALID_ARG);
  }
  *out = v;
  return 0;
out:
  mls_framed_content_auth_data_cleanup(&v);
  return rc;
}

/* ------------------------------------------------------ RFC 9420 §6.1 */

int mls_authenticated_content_sign_key(const mls_suite *suite,
                                       mls_authenticated_content *ac,
                                       const mls_group_context *ctx,
                                       const mg_sig_key *sig_key) {
  mg_writer w;
  uint8_t sig[MG_MAX_SIG_LEN];
  size_t sig_len = 0;
  mls_bytes s = {NULL, 0};
  int rc;

  mg_writer_zero(&w);
  MG_ENSURE(fr_suite_ok(suite) && ac != NULL && sig_key != NULL,
            MG_ERR_INVALID_ARG);
  MG_CHECK(mg_writer_init(&w, 256, 0));
  MG_CHECK(mls_framed_content_tbs_encode(&w, ac->wire_format, &ac->content, ctx));
  MG_CHECK(mls_sign_with_label_key(suite, sig, sizeof(sig), &sig_len, sig_key,
                                   MLS_FRAMED_CONTENT_TBS_LABEL,
                                   mg_writer_data(&w), mg_writer_len(&w)));
  MG_CHECK(mls_bytes_dup(&s, sig, sig_len));
  mls_bytes_cleanup(&ac->auth.signature);
  ac->auth.signature = s;
out:
  mg_writer_cleanup(&w);
  return rc;
}

int mls_authenticated_content_sign(const mls_suite *suite,
                                   mls_authenticated_content *ac,
                                   const mls_group_context *ctx,
                                   const uint8_t *sig_priv,
                                   size_t sig_priv_len) {
  mg_sig_key *key = NULL;
  MG_ENSURE(fr_suite_ok(suite) && sig_priv != NULL, MG_ERR_INVALID_ARG);
  MG_GUARD(suite->sig->key_from_priv(suite->sig, &key, sig_priv, sig_priv_len));
  int rc = mls_authenticated_content_sign_key(suite, ac, ctx, key);
  mg_sig_key_free(key);
  return rc;
}

int mls_authenticated_content_verify_key(const mls_suite *suite,
                                         const mls_authenticated_content *ac,
                                         const mls_group_context *ctx,
                                         const mg_sig_key *sig_key) {
  mg_writer w;
  int rc;

  mg_writer_zero(&w);
  MG_ENSURE(fr_suite_ok(suite) && ac != NULL && sig_key != NULL,
            MG_ERR_INVALID_ARG);
  MG_CHECK(mg_writer_init(&w, 256, 0));
  MG_CHECK(mls_framed_content_tbs_encode(&w, ac->wire_format, &ac->content, ctx));
  rc = mls_verify_with_label_key(suite, sig_key, MLS_FRAMED_CONTENT_TBS_LABEL,
                                 mg_writer_data(&w), mg_writer_len(&w),
                                 fr_ptr(&ac->auth.signature),
                                 ac->auth.signature.len);
  if (rc == MG_ERR_VERIFY) {
    rc = MG_ERR_SIGNATURE;
  }
out:
  mg_writer_cleanup(&w);
  return rc;
}

int mls_authenticated_content_verify(const mls_suite *suite,
                                     const mls_authenticated_content *ac,
                                     const mls_group_context *ctx,
                                     const uint8_t *sig_pub,
                                     size_t sig_pub_len) {
  mg_sig_key *key = NULL;
  MG_ENSURE(fr_suite_ok(suite) && sig_pub != NULL, MG_ERR_INVALID_ARG);
  MG_GUARD(suite->sig->key_from_pub(suite->sig, &key, sig_pub, sig_pub_len));
  int rc = mls_authenticated_content_verify_key(suite, ac, ctx, key);
  mg_sig_key_free(key);
  return rc;
}

/* ------------------------------------------------------ RFC 9420 §6.2 */

int mls_membership_tag_compute(const mls_suite *suite, uint8_t *out,
                               size_t out_cap, size_t *out_len,
                               const mls_authenticated_content *ac,
                               const mls_group_context *ctx,
                               const uint8_t *membership_key,
                               size_t membership_key_len) {
  mg_writer w;
  int rc;

  mg_writer_zero(&w);
  MG_ENSURE(fr_suite_ok(suite) && out != NULL && out_len != NULL &&
                ac != NULL && ctx != NULL && membership_key != NULL,
            MG_ERR_INVALID_ARG);
  MG_ENSURE(out_cap >= suite->hash->digest_len, MG_ERR_BUFFER_TOO_SMALL);
  MG_CHECK(mg_writer_init(&w, 256, 0));
  /* membership_tag = MAC(membership_key, AuthenticatedContentTBM) */
  MG_CHECK(mls_authenticated_content_tbm_encode(&w, ac, ctx));
  MG_CHECK(suite->hash->hmac(suite->hash, out, membership_key,
                             membership_key_len, mg_writer_data(&w),
                             mg_writer_len(&w)));
  *out_len = suite->hash->digest_len;
out:
  mg_writer_cleanup(&w);
  return rc;
}

int mls_public_message_protect(const mls_suite *suite, mls_public_message *out,
                               const mls_authenticated_content *ac,
                               const mls_group_context *ctx,
                               const uint8_t *membership_key,
                               size_t membership_key_len) {
  mls_public_message v;
  uint8_t tag[MG_MAX_HASH_LEN];
  size_t tag_len = 0;
  int rc;

  memset(&v, 0, sizeof(v));
  MG_ENSURE(fr_suite_ok(suite) && out != NULL && ac != NULL && ctx != NULL,
            MG_ERR_INVALID_ARG);
  MG_ENSURE(ac->wire_format == MLS_WIRE_PUBLIC_MESSAGE, MG_ERR_WIRE_FORMAT);
  /* RFC 9420 §6.2: application data is never sent as a PublicMessage. */
  MG_ENSURE(ac->content.content_type != MLS_CONTENT_APPLICATION,
            MG_ERR_CONTENT_TYPE);
  MG_CHECK(fr_content_clone(&v.content, &ac->content));
  MG_CHECK(fr_auth_clone(&v.auth, ac->content.content_type, &ac->auth));
  if (ac->content.sender.sender_type == MLS_SENDER_MEMBER) {
    if (membership_key == NULL) {
      MG_FAIL(MG_ERR_INVALID_ARG);
    }
    MG_CHECK(mls_membership_tag_compute(suite, tag, sizeof(tag), &tag_len, ac,
                                        ctx, membership_key,
                                        membership_key_len));
    MG_CHECK(mls_bytes_dup(&v.membership_tag, tag, tag_len));
  }
  *out = v;
  return 0;
out:
  mls_public_message_cleanup(&v);
  return rc;
}

/* Group and epoch of a received message (RFC 9420 §6). */
static int fr_check_epoch(const mls_group_context *ctx, const mls_bytes *group_id,
                          uint64_t epoch) {
  if (!mls_bytes_eq(group_id, &ctx->group_id)) {
    return MG_ERR_GROUP_ID;
  }
  if (epoch != ctx->epoch) {
    return MG_ERR_EPOCH;
  }
  return 0;
}

int mls_public_message_unprotect(const mls_suite *suite,
                                 mls_authenticated_content *out,
                                 const mls_public_message *pm,
                                 const mls_group_context *ctx,
                                 const uint8_t *membership_key,
                                 size_t membership_key_len,
                                 const uint8_t *sig_pub, size_t sig_pub_len) {
  mg_sig_key *key = NULL;
  MG_ENSURE(fr_suite_ok(suite) && sig_pub != NULL, MG_ERR_INVALID_ARG);
  MG_GUARD(suite->sig->key_from_pub(suite->sig, &key, sig_pub, sig_pub_len));
  int rc = mls_public_message_unprotect_key(suite, out, pm, ctx, membership_key,
                                            membership_key_len, key);
  mg_sig_key_free(key);
  return rc;
}

int mls_public_message_unprotect_key(const mls_suite *suite,
                                     mls_authenticated_content *out,
                                     const mls_public_message *pm,
                                     const mls_group_context *ctx,
                                     const uint8_t *membership_key,
                                     size_t membership_key_len,
                                     const mg_sig_key *sig_key) {
  mls_authenticated_content view;
  mls_authenticated_content v;
  uint8_t tag[MG_MAX_HASH_LEN];
  size_t tag_len = 0;
  int rc;

  memset(&v, 0, sizeof(v));
  MG_ENSURE(fr_suite_ok(suite) && out != NULL && pm != NULL && ctx != NULL,
            MG_ERR_INVALID_ARG);
  MG_GUARD(fr_check_epoch(ctx, &pm->content.group_id, pm->content.epoch));
  MG_ENSURE(pm->content.content_type != MLS_CONTENT_APPLICATION,
            MG_ERR_CONTENT_TYPE);
  MG_GUARD(mls_framed_content_check_sender(&pm->content));
  /* A borrowed view of the message as AuthenticatedContent. */
  view.wire_format = MLS_WIRE_PUBLIC_MESSAGE;
  view.content = pm->content;
  view.auth = pm->auth;
  if (pm->content.sender.sender_type == MLS_SENDER_MEMBER) {
    MG_ENSURE(membership_key != NULL, MG_ERR_INVALID_ARG);
    MG_GUARD(mls_membership_tag_compute(suite, tag, sizeof(tag), &tag_len,
                                        &view, ctx, membership_key,
                                        membership_key_len));
    if (pm->membership_tag.len != tag_len ||
        !mg_ct_memeq(tag, pm->membership_tag.data, tag_len)) {
      return MG_ERR_MEMBERSHIP_TAG;
    }
  } else if (pm->membership_tag.len != 0) {
    return MG_ERR_MEMBERSHIP_TAG;
  }
  MG_GUARD(mls_authenticated_content_verify_key(suite, &view, ctx, sig_key));
  v.wire_format = MLS_WIRE_PUBLIC_MESSAGE;
  MG_CHECK(fr_content_clone(&v.content, &pm->content));
  MG_CHECK(fr_auth_clone(&v.auth, pm->content.content_type, &pm->auth));
  *out = v;
  return 0;
out:
  mls_authenticated_content_cleanup(&v);
  return rc;
}

/* ------------------------------------------------------ RFC 9420 §6.3 */

static mls_ratchet_type fr_ratchet_for(uint8_t content_type) {
  return content_type == MLS_CONTENT_APPLICATION ? MLS_RATCHET_APPLICATION
                                                 : MLS_RATCHET_HANDSHAKE;
}

/* The content nonce: the key schedule nonce with its first four bytes XORed
 * with the reuse guard (RFC 9420 §6.3.1). */
static void fr_guard_nonce(mls_key_nonce *kn, const uint8_t *guard) {
  for (size_t k = 0; k < MLS_REUSE_GUARD_LEN && k < kn->nonce_len; k++) {
    kn->nonce[k] ^= guard[k];
  }
}

/* AEAD seal of |pt| into a new mls_bytes. */
static int fr_seal(const mls_suite *suite, mls_bytes *out, const uint8_t *key,
                   const uint8_t *nonce, size_t nonce_len, const mg_writer *aad,
                   const uint8_t *pt, size_t pt_len) {
  const mg_aead_alg *aead = suite->aead;
  MG_ENSURE(pt_len <= SIZE_MAX - aead->tag_len, MG_ERR_LENGTH);
  uint8_t *ct = malloc(pt_len + aead->tag_len);
  if (ct == NULL) {
    return MG_ERR_NOMEM;
  }
  int rc = aead->seal(aead, ct, key, nonce, nonce_len, mg_writer_data(aad),
                      mg_writer_len(aad), pt, pt_len);
  if (rc < 0) {
    free(ct);
    return rc;
  }
  out->data = ct;
  out->len = pt_len + aead->tag_len;
  return 0;
}

int mls_private_message_protect(const mls_suite *suite,
                                mls_private_message *out,
                                const mls_authenticated_content *ac,
                                mls_secret_tree *st,
                                const uint8_t *sender_data_secret,
                                size_t sender_data_secret_len,
                                size_t padding_len,
                                const uint8_t *reuse_guard) {
  return mls_private_message_protect_gen(suite, out, NULL, ac, st,
                                         sender_data_secret,
                                         sender_data_secret_len, padding_len,
                                         reuse_guard);
}

int mls_private_message_protect_gen(const mls_suite *suite,
                                    mls_private_message *out,
                                    uint32_t *generation,
                                    const mls_authenticated_content *ac,
                                    mls_secret_tree *st,
                                    const uint8_t *sender_data_secret,
                                    size_t sender_data_secret_len,
                                    size_t padding_len,
                                    const uint8_t *reuse_guard) {
  mls_private_message v;
  mls_private_message_content pmc;
  mls_sender_data sd;
  mls_key_nonce kn, sdkn;
  mg_writer pt, aad, sdw;
  int rc;

  memset(&v, 0, sizeof(v));
  memset(&sd, 0, sizeof(sd));
  memset(&kn, 0, sizeof(kn));
  memset(&sdkn, 0, sizeof(sdkn));
  mg_writer_zero(&pt);
  mg_writer_zero(&aad);
  mg_writer_zero(&sdw);
  MG_ENSURE(fr_suite_ok(suite) && out != NULL && ac != NULL && st != NULL &&
                sender_data_secret != NULL,
            MG_ERR_INVALID_ARG);
  MG_ENSURE(ac->wire_format == MLS_WIRE_PRIVATE_MESSAGE, MG_ERR_WIRE_FORMAT);
  /* RFC 9420 §6.3.2: only members send PrivateMessages. */
  MG_ENSURE(ac->content.sender.sender_type == MLS_SENDER_MEMBER, MG_ERR_SENDER);
  MG_ENSURE(sender_data_secret_len == suite->kdf->nh, MG_ERR_PARAM);

  /* Everything that can fail on bad input happens before a generation is
   * taken from the ratchet. */
  v.epoch = ac->content.epoch;
  v.content_type = ac->content.content_type;
  MG_CHECK(mls_bytes_copy(&v.group_id, &ac->content.group_id));
  MG_CHECK(mls_bytes_copy(&v.authenticated_data,
                          &ac->content.authenticated_data));
  /* PrivateMessageContent: a borrowed view of the content and auth. */
  memset(&pmc, 0, sizeof(pmc));
  pmc.content_type = ac->content.content_type;
  pmc.application_data = ac->content.application_data;
  pmc.proposal = ac->content.proposal;
  pmc.commit = ac->content.commit;
  pmc.auth = ac->auth;
  pmc.padding_len = padding_len;
  MG_CHECK(mg_writer_init(&pt, 256 + padding_len, 0));
  MG_CHECK(mls_private_message_content_encode(&pt, &pmc));
  MG_CHECK(mg_writer_init(&aad, 64, 0));
  MG_CHECK(mls_private_content_aad_encode(&aad, &v));

  sd.leaf_index = ac->content.sender.leaf_index;
  if (reuse_guard != NULL) {
    memcpy(sd.reuse_guard, reuse_guard, MLS_REUSE_GUARD_LEN);
  } else {
    MG_CHECK(mg_random_bytes(sd.reuse_guard, MLS_REUSE_GUARD_LEN));
  }
  mls_leaf_idx leaf = {sd.leaf_index};
  MG_CHECK(mls_secret_tree_next(st, &kn, leaf, fr_ratchet_for(v.content_type)));
  sd.generation = kn.generation;
  fr_guard_nonce(&kn, sd.reuse_guard);
  MG_CHECK(fr_seal(suite, &v.ciphertext, kn.key, kn.nonce, kn.nonce_len, &aad,
                   mg_writer_data(&pt), mg_writer_len(&pt)));

  /* Sender data (RFC 9420 §6.3.2), keyed by a sample of the ciphertext. */
  MG_CHECK(mls_sender_data_key_nonce(suite, &sdkn, sender_data_secret,
                                     sender_data_secret_len, v.ciphertext.data,
                                     v.ciphertext.len));
  MG_CHECK(mg_writer_init(&sdw, 16, 0));
  MG_CHECK(mls_sender_data_encode(&sdw, &sd));
  mg_writer_cleanup(&aad);
  MG_CHECK(mg_writer_init(&aad, 64, 0));
  MG_CHECK(mls_sender_data_aad_encode(&aad, &v));
  MG_CHECK(fr_seal(suite, &v.encrypted_sender_data, sdkn.key, sdkn.nonce,
                   sdkn.nonce_len, &aad, mg_writer_data(&sdw),
                   mg_writer_len(&sdw)));
  *out = v;
  memset(&v, 0, sizeof(v));
  if (generation != NULL) {
    *generation = sd.generation;
  }
  rc = 0;
out:
  mls_private_message_cleanup(&v);
  mls_key_nonce_cleanup(&kn);
  mls_key_nonce_cleanup(&sdkn);
  mg_writer_cleanup(&pt);
  mg_writer_cleanup(&aad);
  mg_writer_cleanup(&sdw);
  mg_memzero(&sd, sizeof(sd));
  return rc;
}

/* AEAD open of |ct| into a new secret buffer |*out| (mg_free_secret). */
static int fr_open(const mls_suite *suite, uint8_t **out, size_t *out_len,
                   const uint8_t *key, const uint8_t *nonce, size_t nonce_len,
                   const mg_writer *aad, const mls_bytes *ct) {
  const mg_aead_alg *aead = suite->aead;
  *out = NULL;
  *out_len = 0;
  if (ct->len < aead->tag_len) {
    return MG_ERR_AUTH;
  }
  size_t n = ct->len - aead->tag_len;
  uint8_t *pt = malloc(n > 0 ? n : 1);
  if (pt == NULL) {
    return MG_ERR_NOMEM;
  }
  int rc = aead->open(aead, pt, key, nonce, nonce_len, mg_writer_data(aad),
                      mg_writer_len(aad), ct->data, ct->len);
  if (rc < 0) {
    mg_free_secret(pt, n);
    return rc;
  }
  *out = pt;
  *out_len = n;
  return 0;
}

int mls_private_message_unprotect(const mls_suite *suite,
                                  mls_authenticated_content *out,
                                  const mls_private_message *pm,
                                  const mls_group_context *ctx,
                                  mls_secret_tree *st,
                                  const uint8_t *sender_data_secret,
                                  size_t sender_data_secret_len,
                                  mls_sig_key_lookup_fn lookup,
                                  void *lookup_arg) {
  return mls_private_message_unprotect_gen(suite, out, NULL, pm, ctx, st,
                                           sender_data_secret,
                                           sender_data_secret_len, lookup,
                                           lookup_arg);
}

int mls_private_message_unprotect_gen(const mls_suite *suite,
                                      mls_authenticated_content *out,
                                      uint32_t *generation,
                                      const mls_private_message *pm,
                                      const mls_group_context *ctx,
                                      mls_secret_tree *st,
                                      const uint8_t *sender_data_secret,
                                      size_t sender_data_secret_len,
                                      mls_sig_key_lookup_fn lookup,
                                      void *lookup_arg) {
  mls_authenticated_content v;
  mls_private_message_content pmc;
  mls_sender_data sd;
  mls_key_nonce kn, sdkn;
  mg_writer aad;
  mg_reader r;
  uint8_t *sdpt = NULL, *pt = NULL;
  size_t sdpt_len = 0, pt_len = 0;
  const mg_sig_key *sig_key = NULL;
  int rc;

  memset(&v, 0, sizeof(v));
  memset(&pmc, 0, sizeof(pmc));
  memset(&sd, 0, sizeof(sd));
  memset(&kn, 0, sizeof(kn));
  memset(&sdkn, 0, sizeof(sdkn));
  mg_writer_zero(&aad);
  MG_ENSURE(fr_suite_ok(suite) && out != NULL && pm != NULL && ctx != NULL &&
                st != NULL && sender_data_secret != NULL && lookup != NULL,
            MG_ERR_INVALID_ARG);
  MG_GUARD(fr_check_epoch(ctx, &pm->group_id, pm->epoch));
  MG_ENSURE(sender_data_secret_len == suite->kdf->nh, MG_ERR_PARAM);

  /* Sender data (RFC 9420 §6.3.2). */
  MG_CHECK(mls_sender_data_key_nonce(suite, &sdkn, sender_data_secret,
                                     sender_data_secret_len,
                                     fr_ptr(&pm->ciphertext), pm->ciphertext.len));
  MG_CHECK(mg_writer_init(&aad, 64, 0));
  MG_CHECK(mls_sender_data_aad_encode(&aad, pm));
  MG_CHECK(fr_open(suite, &sdpt, &sdpt_len, sdkn.key, sdkn.nonce,
                   sdkn.nonce_len, &aad, &pm->encrypted_sender_data));
  mg_reader_init(&r, sdpt, sdpt_len);
  MG_CHECK(mls_sender_data_decode(&r, &sd));
  MG_CHECK(mg_reader_done(&r));
  /* The leaf must hold a member (non-blank): the lookup says so. */
  MG_CHECK(lookup(lookup_arg, sd.leaf_index, &sig_key));

  /* Content (RFC 9420 §6.3.1). */
  mls_leaf_idx leaf = {sd.leaf_index};
  mls_ratchet_type type = fr_ratchet_for(pm->content_type);
  MG_CHECK(mls_secret_tree_get(st, &kn, leaf, type, sd.generation));
  fr_guard_nonce(&kn, sd.reuse_guard);
  mg_writer_cleanup(&aad);
  MG_CHECK(mg_writer_init(&aad, 64 + pm->authenticated_data.len, 0));
  MG_CHECK(mls_private_content_aad_encode(&aad, pm));
  MG_CHECK(fr_open(suite, &pt, &pt_len, kn.key, kn.nonce, kn.nonce_len, &aad,
                   &pm->ciphertext));
  mg_reader_init(&r, pt, pt_len);
  MG_CHECK(mls_private_message_content_decode(&r, pm->content_type, &pmc));

  /* Rebuild the AuthenticatedContent; the content and auth move out of
   * |pmc|. */
  v.wire_format = MLS_WIRE_PRIVATE_MESSAGE;
  MG_CHECK(mls_bytes_copy(&v.content.group_id, &pm->group_id));
  v.content.epoch = pm->epoch;
  v.content.sender.sender_type = MLS_SENDER_MEMBER;
  v.content.sender.leaf_index = sd.leaf_index;
  MG_CHECK(mls_bytes_copy(&v.content.authenticated_data,
                          &pm->authenticated_data));
  v.content.content_type = pm->content_type;
  v.content.application_data = pmc.application_data;
  v.content.proposal = pmc.proposal;
  v.content.commit = pmc.commit;
  v.auth = pmc.auth;
  memset(&pmc, 0, sizeof(pmc));
  MG_CHECK(mls_framed_content_check_sender(&v.content));
  MG_CHECK(mls_authenticated_content_verify_key(suite, &v, ctx, sig_key));
  /* Authenticated: only now is the key deleted (RFC 9420 §9.2). */
  MG_CHECK(mls_secret_tree_consume(st, leaf, type, sd.generation));
  *out = v;
  memset(&v, 0, sizeof(v));
  if (generation != NULL) {
    *generation = sd.generation;
  }
  rc = 0;
out:
  mls_authenticated_content_cleanup(&v);
  mls_private_message_content_cleanup(&pmc);
  mls_key_nonce_cleanup(&kn);
  mls_key_nonce_cleanup(&sdkn);
  mg_writer_cleanup(&aad);
  mg_free_secret(sdpt, sdpt_len);
  mg_free_secret(pt, pt_len);
  mg_memzero(&sd, sizeof(sd));
  return rc;
}
