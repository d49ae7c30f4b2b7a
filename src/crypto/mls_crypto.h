/*
 * The MLS cryptographic helpers of RFC 9420 §5 and §8, written once above the
 * provider (STYLE.md §3): ExpandWithLabel, DeriveSecret, DeriveTreeSecret,
 * SignWithLabel/VerifyWithLabel, EncryptWithLabel/DecryptWithLabel, RefHash,
 * MakeKeyPackageRef and MakeProposalRef.  All take the group's cipher suite.
 *
 * Labels are NUL-terminated ASCII strings given without the "MLS 1.0 "
 * prefix (the functions add it), except RefHash, whose label is used as is
 * (RFC 9420 §5.2).  The labelled structures are serialized with the codec
 * into a fixed stack buffer; only unusually long labels/contents/contexts
 * (more than a few hundred bytes) use a heap buffer.
 *
 * Every function returns 0 or a negative mg_err.
 */
#ifndef MG_HEADER_CRYPTO_MLS_CRYPTO_H
#define MG_HEADER_CRYPTO_MLS_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/hpke.h"
#include "crypto/suite.h"
#include "mlsgate/err.h"

/* The label prefix of RFC 9420 §5.1.2, §5.1.3 and §8. */
#define MLS_LABEL_PREFIX "MLS 1.0 "

/* mls_expand_with_label is ExpandWithLabel(secret, label, context, out_len)
 * (RFC 9420 §8): KDF.Expand(secret, KDFLabel, out_len) with
 *   struct { uint16 length; opaque label<V> = "MLS 1.0 " + label;
 *            opaque context<V>; } KDFLabel;
 * Errors: MG_ERR_PARAM (out_len > 255*Nh or > 65535), MG_ERR_INVALID_ARG,
 * MG_ERR_LENGTH (label/context longer than a varint allows), MG_ERR_NOMEM
 * (long label/context only), MG_ERR_CRYPTO_LIB. */
MG_MUST_USE int mls_expand_with_label(const mls_suite *suite, uint8_t *out,
                                      size_t out_len, const uint8_t *secret,
                                      size_t secret_len, const char *label,
                                      const uint8_t *context,
                                      size_t context_len);

/* mls_derive_secret is DeriveSecret(secret, label) =
 * ExpandWithLabel(secret, label, "", Nh) (RFC 9420 §8): writes
 * suite->kdf->nh bytes to |out|.  Errors as mls_expand_with_label. */
MG_MUST_USE int mls_derive_secret(const mls_suite *suite, uint8_t *out,
                                  const uint8_t *secret, size_t secret_len,
                                  const char *label);

/* mls_derive_tree_secret is DeriveTreeSecret(secret, label, generation,
 * out_len) = ExpandWithLabel(secret, label, generation, out_len) with the
 * generation as a big-endian uint32 (RFC 9420 §9.1).  Errors as
 * mls_expand_with_label. */
MG_MUST_USE int mls_derive_tree_secret(const mls_suite *suite, uint8_t *out,
                                       size_t out_len, const uint8_t *secret,
                                       size_t secret_len, const char *label,
                                       uint32_t generation);

/* mls_sign_with_label is SignWithLabel(priv, label, content) (RFC 9420
 * §5.1.2): signs struct { opaque label<V> = "MLS 1.0 " + label;
 * opaque content<V>; } SignContent with the suite's signature algorithm.
 * Writes at most suite->sig->max_sig_len bytes (|sig_cap| must be at least
 * that: MG_ERR_BUFFER_TOO_SMALL) and sets |*sig_len|.  Errors:
 * MG_ERR_BAD_KEY, MG_ERR_INVALID_ARG, MG_ERR_LENGTH, MG_ERR_NOMEM,
 * MG_ERR_CRYPTO_LIB. */
MG_MUST_USE int mls_sign_with_label(const mls_suite *suite, uint8_t *sig,
                                    size_t sig_cap, size_t *sig_len,
                                    const uint8_t *priv, size_t priv_len,
                                    const char *label, const uint8_t *content,
                                    size_t content_len);

/* mls_sign_with_label_key is mls_sign_with_label with a key prepared by
 * suite->sig->key_from_priv (saves parsing the key for every signature). */
MG_MUST_USE int mls_sign_with_label_key(const mls_suite *suite, uint8_t *sig,
                                        size_t sig_cap, size_t *sig_len,
                                        const mg_sig_key *key,
                                        const char *label,
                                        const uint8_t *content,
                                        size_t content_len);

/* mls_verify_with_label is VerifyWithLabel(pub, label, content, sig)
 * (RFC 9420 §5.1.2).  Returns 0 if the signature verifies, MG_ERR_VERIFY if
 * not (also for a malformed signature), MG_ERR_BAD_KEY for an invalid public
 * key, MG_ERR_INVALID_ARG, MG_ERR_LENGTH, MG_ERR_NOMEM, MG_ERR_CRYPTO_LIB. */
MG_MUST_USE int mls_verify_with_label(const mls_suite *suite,
                                      const uint8_t *pub, size_t pub_len,
                                      const char *label,
                                      const uint8_t *content,
                                      size_t content_len, const uint8_t *sig,
                                      size_t sig_len);

/* mls_verify_with_label_key is mls_verify_with_label with a prepared key. */
MG_MUST_USE int mls_verify_with_label_key(const mls_suite *suite,
                                          const mg_sig_key *key,
                                          const char *label,
                                          const uint8_t *content,
                                          size_t content_len,
                                          const uint8_t *sig, size_t sig_len);

/* mls_encrypt_with_label is EncryptWithLabel(pub, label, context, pt)
 * (RFC 9420 §5.1.3): SealBase(pub, EncryptContext, "", pt) with
 *   struct { opaque label<V> = "MLS 1.0 " + label; opaque context<V>; }
 *   EncryptContext
 * as the HPKE info.  Writes suite->kem->enc_len bytes of kem_output and
 * pt_len + Nt bytes of ciphertext.  Errors: MG_ERR_BUFFER_TOO_SMALL,
 * MG_ERR_BAD_KEY, MG_ERR_DH_ZERO, MG_ERR_INVALID_ARG, MG_ERR_LENGTH,
 * MG_ERR_NOMEM, MG_ERR_CRYPTO_LIB. */
MG_MUST_USE int mls_encrypt_with_label(const mls_suite *suite,
                                       uint8_t *kem_output, size_t kem_cap,
                                       size_t *kem_output_len, uint8_t *ct,
                                       size_t ct_cap, size_t *ct_len,
                                       const uint8_t *pub, size_t pub_len,
                                       const char *label,
                                       const uint8_t *context,
                                       size_t context_len, const uint8_t *pt,
                                       size_t pt_len);

/* mls_decrypt_with_label is DecryptWithLabel(priv, label, context,
 * kem_output, ct) (RFC 9420 §5.1.3): OpenBase(kem_output, priv,
 * EncryptContext, "", ct).  Writes ct_len - Nt bytes.  Errors: MG_ERR_AUTH
 * (wrong key, label, context or tampered input), MG_ERR_BAD_KEY,
 * MG_ERR_BUFFER_TOO_SMALL, MG_ERR_DH_ZERO, MG_ERR_INVALID_ARG, MG_ERR_LENGTH,
 * MG_ERR_NOMEM, MG_ERR_CRYPTO_LIB. */
MG_MUST_USE int mls_decrypt_with_label(const mls_suite *suite, uint8_t *pt,
                                       size_t pt_cap, size_t *pt_len,
                                       const uint8_t *priv, size_t priv_len,
                                       const char *label,
                                       const uint8_t *context,
                                       size_t context_len,
                                       const uint8_t *kem_output,
                                       size_t kem_output_len,
                                       const uint8_t *ct, size_t ct_len);

/* mls_decrypt_with_label_key is mls_decrypt_with_label with a loaded HPKE
 * key pair (no public-key recomputation); |key| must use suite->kem. */
MG_MUST_USE int mls_decrypt_with_label_key(const mls_suite *suite, uint8_t *pt,
                                           size_t pt_cap, size_t *pt_len,
                                           const mg_hpke_key *key,
                                           const char *label,
                                           const uint8_t *context,
                                           size_t context_len,
                                           const uint8_t *kem_output,
                                           size_t kem_output_len,
                                           const uint8_t *ct, size_t ct_len);

/* mls_hpke_suite returns the HPKE suite {kem, kdf, aead} of an MLS suite. */
mg_hpke_suite mls_hpke_suite(const mls_suite *suite);

/* mls_ref_hash is RefHash(label, value) = Hash(RefHashInput) with
 *   struct { opaque label<V>; opaque value<V>; } RefHashInput
 * (RFC 9420 §5.2); |label| is used as given (no prefix).  Writes
 * suite->hash->digest_len bytes (|out_cap| must be at least that).  Errors:
 * MG_ERR_BUFFER_TOO_SMALL, MG_ERR_INVALID_ARG, MG_ERR_LENGTH, MG_ERR_NOMEM,
 * MG_ERR_CRYPTO_LIB. */
MG_MUST_USE int mls_ref_hash(const mls_suite *suite, uint8_t *out,
                             size_t out_cap, size_t *out_len,
                             const char *label, const uint8_t *value,
                             size_t value_len);

/* mls_make_key_package_ref is MakeKeyPackageRef(value) =
 * RefHash("MLS 1.0 KeyPackage Reference", value).  Errors as mls_ref_hash. */
MG_MUST_USE int mls_make_key_package_ref(const mls_suite *suite, uint8_t *out,
                                         size_t out_cap, size_t *out_len,
                                         const uint8_t *value,
                                         size_t value_len);

/* mls_make_proposal_ref is MakeProposalRef(value) =
 * RefHash("MLS 1.0 Proposal Reference", value).  Errors as mls_ref_hash. */
MG_MUST_USE int mls_make_proposal_ref(const mls_suite *suite, uint8_t *out,
                                      size_t out_cap, size_t *out_len,
                                      const uint8_t *value, size_t value_len);

#endif
