/*
 * The MLS key schedule (RFC 9420 §8): epoch secrets, PSK chaining (§8.4),
 * the exporter (§8.5), external initialization (§8.3), the Welcome key and
 * nonce (§12.4.3.1) and the confirmation tag (§6.1).
 *
 * One epoch's secrets live in an mls_epoch_secrets object on the heap.  An
 * epoch transition never edits the current object: mls_epoch_secrets_next
 * takes the current epoch as const and returns a new object (STYLE.md §4);
 * the caller stores the new epoch and only then frees the old one.  The
 * secret tree (secret_tree.h) and the transcript hashes (transcript.h) are
 * separate objects.  mls_epoch_secrets_free wipes everything.
 *
 * Secrets are KDF.Nh bytes (suite->kdf->nh); |nh| below.  Inputs that are
 * secrets of the schedule (init_secret, commit_secret, psk_secret,
 * joiner_secret) must be exactly Nh bytes: MG_ERR_PARAM otherwise.
 */
#ifndef MG_HEADER_MLS_KEY_SCHEDULE_H
#define MG_HEADER_MLS_KEY_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "crypto/hpke.h"
#include "crypto/suite.h"
#include "mls/bytes.h"
#include "mls/msg_context.h"
#include "mlsgate/err.h"

/* The secrets of one epoch (RFC 9420 §8, table "Epoch-Derived Secrets"),
 * plus the joiner and welcome secrets of the transition that created it
 * (the committer needs them for the Welcome).  Every array holds |nh|
 * meaningful bytes. */
typedef struct mls_epoch_secrets {
  const mls_suite *suite;
  size_t nh;
  uint8_t joiner_secret[MG_MAX_HASH_LEN];
  uint8_t welcome_secret[MG_MAX_HASH_LEN];
  uint8_t sender_data_secret[MG_MAX_HASH_LEN];
  uint8_t encryption_secret[MG_MAX_HASH_LEN];
  uint8_t exporter_secret[MG_MAX_HASH_LEN];
  uint8_t external_secret[MG_MAX_HASH_LEN];
  uint8_t confirmation_key[MG_MAX_HASH_LEN];
  uint8_t membership_key[MG_MAX_HASH_LEN];
  uint8_t resumption_psk[MG_MAX_HASH_LEN];
  uint8_t epoch_authenticator[MG_MAX_HASH_LEN];
  uint8_t init_secret[MG_MAX_HASH_LEN]; /* init_secret_[n] for the next epoch */
} mls_epoch_secrets;

/* mls_epoch_secrets_from_init runs the key schedule of RFC 9420 §8:
 *   joiner_secret = ExpandWithLabel(Extract(init_secret, commit_secret),
 *                                   "joiner", GroupContext_[n], Nh)
 *   epoch_secret  = ExpandWithLabel(Extract(joiner_secret, psk_secret),
 *                                   "epoch", GroupContext_[n], Nh)
 *   welcome_secret = DeriveSecret(Extract(joiner_secret, psk_secret),
 *                                 "welcome")
 * and derives every epoch secret from epoch_secret.  |commit_secret| and
 * |psk_secret| may be NULL for the all-zero vector of Nh bytes (no path / no
 * PSK).  |group_context| is the serialized GroupContext of the new epoch.
 * On success |*out| is a new object (mls_epoch_secrets_free).
 * Errors: MG_ERR_INVALID_ARG, MG_ERR_PARAM (a secret not Nh bytes),
 * MG_ERR_NOMEM, MG_ERR_LENGTH, MG_ERR_CRYPTO_LIB. */
MG_MUST_USE int mls_epoch_secrets_from_init(
    const mls_suite *suite, mls_epoch_secrets **out,
    const uint8_t *init_secret, size_t init_secret_len,
    const uint8_t *commit_secret, size_t commit_secret_len,
    const uint8_t *psk_secret, size_t psk_secret_len,
    const uint8_t *group_context, size_t group_context_len);

/* mls_epoch_secrets_next is mls_epoch_secrets_from_init with the current
 * epoch's init_secret: it returns the next epoch in a new object and leaves
 * |cur| untouched.  Errors as mls_epoch_secrets_from_init. */
MG_MUST_USE int mls_epoch_secrets_next(
    const mls_epoch_secrets *cur, mls_epoch_secrets **out,
    const uint8_t *commit_secret, size_t commit_secret_len,
    const uint8_t *psk_secret, size_t psk_secret_len,
    const uint8_t *group_context, size_t group_context_len);

/* mls_epoch_secrets_from_joiner runs the key schedule from a joiner_secret
 * (a new member processing a Welcome, RFC 9420 §12.4.3.1).  |psk_secret| may
 * be NULL (no PSKs).  Errors as mls_epoch_secrets_from_init. */
MG_MUST_USE int mls_epoch_secrets_from_joiner(
    const mls_suite *suite, mls_epoch_secrets **out,
    const uint8_t *joiner_secret, size_t joiner_secret_len,
    const uint8_t *psk_secret, size_t psk_secret_len,
    const uint8_t *group_context, size_t group_context_len);

/* mls_epoch_secrets_free wipes and frees |ep|.  NULL is accepted. */
void mls_epoch_secrets_free(mls_epoch_secrets *ep);

/* mls_epoch_secrets_copy makes an owned copy of |in|.  Errors:
 * MG_ERR_NOMEM, MG_ERR_INVALID_ARG. */
MG_MUST_USE int mls_epoch_secrets_copy(mls_epoch_secrets **out,
                                       const mls_epoch_secrets *in);

/* mls_epoch_exporter is MLS-Exporter(label, context, out_len) (RFC 9420
 * §8.5) = ExpandWithLabel(DeriveSecret(exporter_secret, label), "exported",
 * Hash(context), out_len).  Errors: MG_ERR_INVALID_ARG, MG_ERR_PARAM
 * (out_len too large), MG_ERR_LENGTH, MG_ERR_NOMEM, MG_ERR_CRYPTO_LIB. */
MG_MUST_USE int mls_epoch_exporter(const mls_epoch_secrets *ep, uint8_t *out,
                                   size_t out_len, const char *label,
                                   const uint8_t *context, size_t context_len);

/* mls_epoch_external_key derives the group's external key pair
 * KEM.DeriveKeyPair(external_secret) (RFC 9420 §8) into |key| (clean it up
 * with mg_hpke_key_cleanup); external_pub is mg_hpke_key_pub(key).
 * Errors: those of mg_hpke_key_derive. */
MG_MUST_USE int mls_epoch_external_key(const mls_epoch_secrets *ep,
                                       mg_hpke_key *key);

/* The label of the HPKE export that carries an external init_secret
 * (RFC 9420 §8.3). */
#define MLS_EXTERNAL_INIT_LABEL "MLS 1.0 external init secret"

/* mls_external_init_send is the joiner's side of RFC 9420 §8.3:
 *   kem_output, context = SetupBaseS(external_pub, "")
 *   init_secret = context.export("MLS 1.0 external init secret", KDF.Nh)
 * Writes suite->kem->enc_len bytes of kem_output (|kem_cap| at least that)
 * and Nh bytes of init_secret.  Errors: those of mg_hpke_send_export. */
MG_MUST_USE int mls_external_init_send(const mls_suite *suite,
                                       uint8_t *kem_output, size_t kem_cap,
                                       size_t *kem_output_len,
                                       uint8_t *init_secret,
                                       const uint8_t *external_pub,
                                       size_t external_pub_len);

/* mls_external_init_receive is the members' side: SetupBaseR(kem_output,
 * external_priv, "") with the external key of |ep|, writing Nh bytes of
 * init_secret.  Errors: those of mls_epoch_external_key and
 * mg_hpke_receive_export. */
MG_MUST_USE int mls_external_init_receive(const mls_epoch_secrets *ep,
                                          uint8_t *init_secret,
                                          const uint8_t *kem_output,
                                          size_t kem_output_len);

/* mls_welcome_key_nonce derives the Welcome AEAD key and nonce
 * (RFC 9420 §12.4.3.1):
 *   welcome_nonce = ExpandWithLabel(welcome_secret, "nonce", "", AEAD.Nn)
 *   welcome_key   = ExpandWithLabel(welcome_secret, "key", "", AEAD.Nk)
 * |key| receives Nk bytes, |nonce| Nn bytes.  Errors: as
 * mls_expand_with_label, MG_ERR_PARAM (welcome_secret not Nh bytes). */
MG_MUST_USE int mls_welcome_key_nonce(const mls_suite *suite, uint8_t *key,
                                      uint8_t *nonce,
                                      const uint8_t *welcome_secret,
                                      size_t welcome_secret_len);

/* mls_confirmation_tag_compute is MAC(confirmation_key,
 * confirmed_transcript_hash) (RFC 9420 §6.1) with the suite's HMAC; writes
 * suite->hash->digest_len bytes to |out| (|out_cap| at least that) and sets
 * |*out_len|.  Errors: MG_ERR_INVALID_ARG, MG_ERR_BUFFER_TOO_SMALL,
 * MG_ERR_CRYPTO_LIB. */
MG_MUST_USE int mls_confirmation_tag_compute(
    const mls_suite *suite, uint8_t *out, size_t out_cap, size_t *out_len,
    const uint8_t *confirmation_key, size_t confirmation_key_len,
    const uint8_t *confirmed_transcript_hash, size_t cth_len);

/* mls_confirmation_tag_verify recomputes the tag and compares it with |tag|
 * in constant time.  Returns 0 if it matches, MG_ERR_CONFIRMATION_TAG if not
 * (also for a tag of the wrong length), or an error of
 * mls_confirmation_tag_compute. */
MG_MUST_USE int mls_confirmation_tag_verify(
    const mls_suite *suite, const uint8_t *confirmation_key,
    size_t confirmation_key_len, const uint8_t *confirmed_transcript_hash,
    size_t cth_len, const uint8_t *tag, size_t tag_len);

/* mls_psk_secret computes psk_secret from |n| PSKs (RFC 9420 §8.4):
 *   psk_extracted_[i] = KDF.Extract(0, psk_[i])
 *   psk_input_[i]     = ExpandWithLabel(psk_extracted_[i], "derived psk",
 *                                       PSKLabel(ids[i], i, n), KDF.Nh)
 *   psk_secret_[i+1]  = KDF.Extract(psk_input_[i], psk_secret_[i])
 * with psk_secret_[0] the all-zero vector; writes Nh bytes (n = 0 gives the
 * zero vector).  Every psk_nonce must be Nh bytes long (MG_ERR_PSK); more
 * than 65535 PSKs is MG_ERR_PSK.  |psks[i]| is the secret for |ids[i]|.
 * Errors: MG_ERR_INVALID_ARG, MG_ERR_PSK, MG_ERR_NOMEM, MG_ERR_LENGTH,
 * MG_ERR_CRYPTO_LIB. */
MG_MUST_USE int mls_psk_secret(const mls_suite *suite, uint8_t *out,
                               const mls_psk_id *ids, const mls_bytes *psks,
                               size_t n);

#endif
