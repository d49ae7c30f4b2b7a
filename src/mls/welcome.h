/*
 * Welcome processing (RFC 9420 §12.4.3): sealing and opening the group
 * secrets of a new member and the encrypted GroupInfo, and signing and
 * verifying the GroupInfo.
 *
 * A new member joins in steps, because each step needs what the previous
 * one revealed:
 *   1. mls_welcome_open_secrets: find the EncryptedGroupSecrets for its
 *      KeyPackageRef and decrypt them with its init key;
 *   2. resolve the PSKs named in GroupSecrets.psks and compute psk_secret
 *      (key_schedule.h: mls_psk_secret), or use NULL when there are none;
 *   3. mls_welcome_open_info: decrypt the GroupInfo, run the key schedule
 *      from joiner_secret and verify the confirmation tag;
 *   4. verify the GroupInfo signature with the signer's key from the
 *      ratchet tree (mls_group_info_verify), then the tree itself.
 */
#ifndef MG_HEADER_MLS_WELCOME_H
#define MG_HEADER_MLS_WELCOME_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/hpke.h"
#include "crypto/suite.h"
#include "mls/key_schedule.h"
#include "mls/msg_framing.h"
#include "mlsgate/err.h"

/* The labels of RFC 9420 §12.4.3 and §12.4.3.1. */
#define MLS_WELCOME_LABEL "Welcome"
#define MLS_GROUP_INFO_TBS_LABEL "GroupInfoTBS"

/* mls_welcome_secret computes welcome_secret = DeriveSecret(
 * KDF.Extract(joiner_secret, psk_secret), "welcome") (RFC 9420 §8) into
 * |out| (Nh bytes); |psk_secret| NULL is the zero vector.  Errors:
 * MG_ERR_INVALID_ARG, MG_ERR_PARAM (a secret not Nh bytes),
 * MG_ERR_CRYPTO_LIB. */
MG_MUST_USE int mls_welcome_secret(const mls_suite *suite, uint8_t *out,
                                   const uint8_t *joiner_secret,
                                   size_t joiner_secret_len,
                                   const uint8_t *psk_secret,
                                   size_t psk_secret_len);

/* mls_welcome_seal_info encrypts the GroupInfo |gi| for a Welcome:
 * encrypted_group_info = AEAD.Seal(welcome_key, welcome_nonce, "", GroupInfo)
 * with key and nonce from |welcome_secret| (RFC 9420 §12.4.3.1), into
 * |out| (owned; released with mls_bytes_cleanup).  Errors: those of
 * mls_welcome_key_nonce and the encoder, MG_ERR_NOMEM, MG_ERR_CRYPTO_LIB. */
MG_MUST_USE int mls_welcome_seal_info(const mls_suite *suite, mls_bytes *out,
                                      const mls_group_info *gi,
                                      const uint8_t *welcome_secret,
                                      size_t welcome_secret_len);

/* mls_welcome_seal_secrets encrypts |gs| to a new member (RFC 9420
 * §12.4.3.1): encrypted_group_secrets = EncryptWithLabel(init_key,
 * "Welcome", encrypted_group_info, group_secrets), with new_member = the
 * member's KeyPackageRef |kp_ref|.  |out| receives owned data.  Errors:
 * those of mls_encrypt_with_label and the encoder, MG_ERR_NOMEM. */
MG_MUST_USE int mls_welcome_seal_secrets(
    const mls_suite *suite, mls_encrypted_group_secrets *out,
    const uint8_t *kp_ref, size_t kp_ref_len, const uint8_t *init_pub,
    size_t init_pub_len, const mls_group_secrets *gs,
    const mls_bytes *encrypted_group_info);

/* mls_welcome_open_secrets finds the entry of |w| for |kp_ref| and decrypts
 * its GroupSecrets with |init_key| into |out|.  The Welcome's cipher suite
 * must be |suite| (MG_ERR_UNSUPPORTED).  Errors: MG_ERR_WELCOME (no entry
 * for this KeyPackage), MG_ERR_UNSUPPORTED, MG_ERR_AUTH (decryption
 * failed), decode errors of GroupSecrets, MG_ERR_NOMEM,
 * MG_ERR_INVALID_ARG. */
MG_MUST_USE int mls_welcome_open_secrets(const mls_suite *suite,
                                         mls_group_secrets *out,
                                         const mls_welcome *w,
                                         const uint8_t *kp_ref,
                                         size_t kp_ref_len,
                                         const mg_hpke_key *init_key);

/* mls_welcome_open_info decrypts the GroupInfo of |w| with the welcome key
 * derived from |joiner_secret| and |psk_secret| (NULL: no PSKs), checks
 * that its GroupContext uses |suite| (MG_ERR_UNSUPPORTED), runs the key
 * schedule of the new epoch from joiner_secret and verifies the GroupInfo's
 * confirmation tag with its confirmation_key (MG_ERR_CONFIRMATION_TAG).  On
 * success |gi| holds the GroupInfo and |*ep| the epoch secrets (both owned
 * by the caller).  The signature is not checked here (the signer's key is
 * in the ratchet tree): call mls_group_info_verify.  Errors:
 * MG_ERR_AUTH, MG_ERR_UNSUPPORTED, MG_ERR_CONFIRMATION_TAG, decode errors,
 * those of the key schedule, MG_ERR_NOMEM, MG_ERR_INVALID_ARG. */
MG_MUST_USE int mls_welcome_open_info(const mls_suite *suite,
                                      mls_group_info *gi,
                                      mls_epoch_secrets **ep,
                                      const mls_welcome *w,
                                      const uint8_t *joiner_secret,
                                      size_t joiner_secret_len,
                                      const uint8_t *psk_secret,
                                      size_t psk_secret_len);

/* mls_group_info_sign sets gi->signature to SignWithLabel(signer_priv,
 * "GroupInfoTBS", GroupInfoTBS) (RFC 9420 §12.4.3).  Errors: those of
 * mls_sign_with_label and the encoder, MG_ERR_NOMEM. */
MG_MUST_USE int mls_group_info_sign(const mls_suite *suite, mls_group_info *gi,
                                    const uint8_t *signer_priv,
                                    size_t signer_priv_len);

/* mls_group_info_sign_key is mls_group_info_sign with a prepared key. */
MG_MUST_USE int mls_group_info_sign_key(const mls_suite *suite,
                                        mls_group_info *gi,
                                        const mg_sig_key *key);

/* mls_group_info_verify checks gi->signature with |signer_pub|.  Returns
 * 0, MG_ERR_SIGNATURE, or MG_ERR_BAD_KEY / encoder errors. */
MG_MUST_USE int mls_group_info_verify(const mls_suite *suite,
                                      const mls_group_info *gi,
                                      const uint8_t *signer_pub,
                                      size_t signer_pub_len);

#endif
