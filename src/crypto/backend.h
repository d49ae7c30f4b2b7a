/*
 * Internal interface between the algorithm tables (algs.c) and the two
 * backends (crypto_openssl.c, crypto_sodium.c).  Private to src/crypto and to
 * the crypto tests; it names no OpenSSL or libsodium type.
 *
 * Where both libraries implement a primitive, both implementations exist and
 * the exported object in crypto.h points at the faster one (the measurement is
 * recorded beside the choice in algs.c).  The other is reachable through the
 * alternate objects below, so that tests/check_crypto.c runs the same tests
 * against both backends (picotls t/openssl.c style).  An alternate is a
 * complete object: it can be used anywhere the exported one can.
 */
#ifndef MG_HEADER_CRYPTO_BACKEND_H
#define MG_HEADER_CRYPTO_BACKEND_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"

/* The prepared signature key behind the opaque mg_sig_key.  Each backend
 * fills it in its key_from_* functions and sets |release|, which frees the
 * backend object; mg_sig_key_free (algs.c) calls |release|, then wipes and
 * frees the struct. */
struct mg_sig_key {
  const mg_sig_alg *alg;
  void (*release)(struct mg_sig_key *key);
  void *handle;   /* OpenSSL: EVP_PKEY *; NULL for libsodium */
  void *cache;    /* backend-private (OpenSSL: reusable EVP_PKEY_CTXs) */
  int has_priv;   /* 1 if the key can sign */
  size_t raw_len; /* bytes of |raw| in use */
  uint8_t raw[64]; /* libsodium Ed25519: secret key (seed||pk) or public key */
  /* Owners beyond the first (mg_sig_key_ref); zero from allocation. */
  _Atomic unsigned extra_refs;
};

/* mg_ossl_init / mg_sodium_init are called once by mg_crypto_init.
 * Errors: MG_ERR_CRYPTO_LIB. */
MG_MUST_USE int mg_ossl_init(void);
MG_MUST_USE int mg_sodium_init(void);

/* mg_sodium_random fills |out| from the system CSPRNG (libsodium
 * randombytes_buf: getrandom(2)); deterministic in fuzzing builds
 * (FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION). */
void mg_sodium_random(uint8_t *out, size_t len);

/* ---- OpenSSL 3.0 backend (crypto_openssl.c) ----
 * Each function implements the crypto.h function pointer of the same name
 * and has its contract and error codes (MG_ERR_PARAM, MG_ERR_AUTH,
 * MG_ERR_BAD_KEY, MG_ERR_VERIFY, MG_ERR_DH_ZERO, MG_ERR_CRYPTO_LIB;
 * MG_ERR_INVALID_ARG for an object of a size the backend does not have).
 * The object is selected by its sizes: hash by digest_len (32/48/64), AES-GCM
 * by key_len (16/24/32), X25519/X448 and EdDSA by priv_len (32/56, 32/57),
 * NIST curves by priv_len (32/48/66). */
MG_MUST_USE int mg_ossl_digest(const mg_hash_alg *alg, uint8_t *out,
                               const uint8_t *in, size_t in_len);
MG_MUST_USE int mg_ossl_hmac(const mg_hash_alg *alg, uint8_t *out,
                             const uint8_t *key, size_t key_len,
                             const uint8_t *in, size_t in_len);
MG_MUST_USE int mg_ossl_hkdf_extract(const mg_kdf_alg *alg, uint8_t *out_prk,
                                     const uint8_t *salt, size_t salt_len,
                                     const uint8_t *ikm, size_t ikm_len);
MG_MUST_USE int mg_ossl_hkdf_expand(const mg_kdf_alg *alg, uint8_t *out,
                                    size_t out_len, const uint8_t *prk,
                                    size_t prk_len, const uint8_t *info,
                                    size_t info_len);

MG_MUST_USE int mg_ossl_gcm_seal(const mg_aead_alg *alg, uint8_t *out,
                                 const uint8_t *key, const uint8_t *nonce,
                                 size_t nonce_len, const uint8_t *aad,
                                 size_t aad_len, const uint8_t *pt,
                                 size_t pt_len);
MG_MUST_USE int mg_ossl_gcm_open(const mg_aead_alg *alg, uint8_t *out,
                                 const uint8_t *key, const uint8_t *nonce,
                                 size_t nonce_len, const uint8_t *aad,
                                 size_t aad_len, const uint8_t *ct,
                                 size_t ct_len);
MG_MUST_USE int mg_ossl_chacha_seal(const mg_aead_alg *alg, uint8_t *out,
                                    const uint8_t *key, const uint8_t *nonce,
                                    size_t nonce_len, const uint8_t *aad,
                                    size_t aad_len, const uint8_t *pt,
                                    size_t pt_len);
MG_MUST_USE int mg_ossl_chacha_open(const mg_aead_alg *alg, uint8_t *out,
                                    const uint8_t *key, const uint8_t *nonce,
                                    size_t nonce_len, const uint8_t *aad,
                                    size_t aad_len, const uint8_t *ct,
                                    size_t ct_len);

MG_MUST_USE int mg_ossl_xdh_generate(const mg_dh_alg *alg, uint8_t *priv,
                                     uint8_t *pub);
MG_MUST_USE int mg_ossl_xdh_pub_from_priv(const mg_dh_alg *alg, uint8_t *pub,
                                          const uint8_t *priv);
MG_MUST_USE int mg_ossl_xdh_dh(const mg_dh_alg *alg, uint8_t *out,
                               const uint8_t *priv, const uint8_t *pub);
MG_MUST_USE int mg_ossl_ecdh_generate(const mg_dh_alg *alg, uint8_t *priv,
                                      uint8_t *pub);
MG_MUST_USE int mg_ossl_ecdh_pub_from_priv(const mg_dh_alg *alg, uint8_t *pub,
                                           const uint8_t *priv);
MG_MUST_USE int mg_ossl_ecdh_dh(const mg_dh_alg *alg, uint8_t *out,
                                const uint8_t *priv, const uint8_t *pub);

MG_MUST_USE int mg_ossl_eddsa_generate(const mg_sig_alg *alg, uint8_t *priv,
                                       uint8_t *pub);
MG_MUST_USE int mg_ossl_eddsa_pub_from_priv(const mg_sig_alg *alg,
                                            uint8_t *pub, const uint8_t *priv);
MG_MUST_USE int mg_ossl_eddsa_key_from_priv(const mg_sig_alg *alg,
                                            mg_sig_key **out,
                                            const uint8_t *priv,
                                            size_t priv_len);
MG_MUST_USE int mg_ossl_eddsa_key_from_pub(const mg_sig_alg *alg,
                                           mg_sig_key **out,
                                           const uint8_t *pub, size_t pub_len);
MG_MUST_USE int mg_ossl_eddsa_sign(const mg_sig_alg *alg,
                                   const mg_sig_key *key, uint8_t *sig,
                                   size_t *sig_len, const uint8_t *msg,
                                   size_t msg_len);
MG_MUST_USE int mg_ossl_eddsa_verify(const mg_sig_alg *alg,
                                     const mg_sig_key *key, const uint8_t *msg,
                                     size_t msg_len, const uint8_t *sig,
                                     size_t sig_len);
MG_MUST_USE int mg_ossl_ecdsa_generate(const mg_sig_alg *alg, uint8_t *priv,
                                       uint8_t *pub);
MG_MUST_USE int mg_ossl_ecdsa_pub_from_priv(const mg_sig_alg *alg,
                                            uint8_t *pub, const uint8_t *priv);
MG_MUST_USE int mg_ossl_ecdsa_key_from_priv(const mg_sig_alg *alg,
                                            mg_sig_key **out,
                                            const uint8_t *priv,
                                            size_t priv_len);
MG_MUST_USE int mg_ossl_ecdsa_key_from_pub(const mg_sig_alg *alg,
                                           mg_sig_key **out,
                                           const uint8_t *pub, size_t pub_len);
MG_MUST_USE int mg_ossl_ecdsa_sign(const mg_sig_alg *alg,
                                   const mg_sig_key *key, uint8_t *sig,
                                   size_t *sig_len, const uint8_t *msg,
                                   size_t msg_len);
MG_MUST_USE int mg_ossl_ecdsa_verify(const mg_sig_alg *alg,
                                     const mg_sig_key *key, const uint8_t *msg,
                                     size_t msg_len, const uint8_t *sig,
                                     size_t sig_len);

/* ---- libsodium 1.0.18 backend (crypto_sodium.c) ----
 * Same contracts and errors as the OpenSSL backend.  Hashes: SHA-256 and SHA-512 only (digest_len 32/64).  AES-256-GCM needs
 * hardware AES (MG_ERR_UNSUPPORTED otherwise) and a 12-byte nonce. */
MG_MUST_USE int mg_sodium_digest(const mg_hash_alg *alg, uint8_t *out,
                                 const uint8_t *in, size_t in_len);
MG_MUST_USE int mg_sodium_hmac(const mg_hash_alg *alg, uint8_t *out,
                               const uint8_t *key, size_t key_len,
                               const uint8_t *in, size_t in_len);
MG_MUST_USE int mg_sodium_hkdf_extract(const mg_kdf_alg *alg, uint8_t *out_prk,
                                       const uint8_t *salt, size_t salt_len,
                                       const uint8_t *ikm, size_t ikm_len);
MG_MUST_USE int mg_sodium_hkdf_expand(const mg_kdf_alg *alg, uint8_t *out,
                                      size_t out_len, const uint8_t *prk,
                                      size_t prk_len, const uint8_t *info,
                                      size_t info_len);

/* mg_sodium_aes256gcm_available returns 1 if libsodium's AES-256-GCM can run
 * on this CPU. */
int mg_sodium_aes256gcm_available(void);
MG_MUST_USE int mg_sodium_aes256gcm_seal(const mg_aead_alg *alg, uint8_t *out,
                                         const uint8_t *key,
                                         const uint8_t *nonce,
                                         size_t nonce_len, const uint8_t *aad,
                                         size_t aad_len, const uint8_t *pt,
                                         size_t pt_len);
MG_MUST_USE int mg_sodium_aes256gcm_open(const mg_aead_alg *alg, uint8_t *out,
                                         const uint8_t *key,
                                         const uint8_t *nonce,
                                         size_t nonce_len, const uint8_t *aad,
                                         size_t aad_len, const uint8_t *ct,
                                         size_t ct_len);
MG_MUST_USE int mg_sodium_chacha_seal(const mg_aead_alg *alg, uint8_t *out,
                                      const uint8_t *key, const uint8_t *nonce,
                                      size_t nonce_len, const uint8_t *aad,
                                      size_t aad_len, const uint8_t *pt,
                                      size_t pt_len);
MG_MUST_USE int mg_sodium_chacha_open(const mg_aead_alg *alg, uint8_t *out,
                                      const uint8_t *key, const uint8_t *nonce,
                                      size_t nonce_len, const uint8_t *aad,
                                      size_t aad_len, const uint8_t *ct,
                                      size_t ct_len);
MG_MUST_USE int mg_sodium_xchacha_seal(const mg_aead_alg *alg, uint8_t *out,
                                       const uint8_t *key,
                                       const uint8_t *nonce, size_t nonce_len,
                                       const uint8_t *aad, size_t aad_len,
                                       const uint8_t *pt, size_t pt_len);
MG_MUST_USE int mg_sodium_xchacha_open(const mg_aead_alg *alg, uint8_t *out,
                                       const uint8_t *key,
                                       const uint8_t *nonce, size_t nonce_len,
                                       const uint8_t *aad, size_t aad_len,
                                       const uint8_t *ct, size_t ct_len);

MG_MUST_USE int mg_sodium_x25519_generate(const mg_dh_alg *alg, uint8_t *priv,
                                          uint8_t *pub);
MG_MUST_USE int mg_sodium_x25519_pub_from_priv(const mg_dh_alg *alg,
                                               uint8_t *pub,
                                               const uint8_t *priv);
MG_MUST_USE int mg_sodium_x25519_dh(const mg_dh_alg *alg, uint8_t *out,
                                    const uint8_t *priv, const uint8_t *pub);

MG_MUST_USE int mg_sodium_ed25519_generate(const mg_sig_alg *alg,
                                           uint8_t *priv, uint8_t *pub);
MG_MUST_USE int mg_sodium_ed25519_pub_from_priv(const mg_sig_alg *alg,
                                                uint8_t *pub,
                                                const uint8_t *priv);
MG_MUST_USE int mg_sodium_ed25519_key_from_priv(const mg_sig_alg *alg,
                                                mg_sig_key **out,
                                                const uint8_t *priv,
                                                size_t priv_len);
MG_MUST_USE int mg_sodium_ed25519_key_from_pub(const mg_sig_alg *alg,
                                               mg_sig_key **out,
                                               const uint8_t *pub,
                                               size_t pub_len);
MG_MUST_USE int mg_sodium_ed25519_sign(const mg_sig_alg *alg,
                                       const mg_sig_key *key, uint8_t *sig,
                                       size_t *sig_len, const uint8_t *msg,
                                       size_t msg_len);
MG_MUST_USE int mg_sodium_ed25519_verify(const mg_sig_alg *alg,
                                         const mg_sig_key *key,
                                         const uint8_t *msg, size_t msg_len,
                                         const uint8_t *sig, size_t sig_len);

/* ---- alternate objects (algs.c) ----
 * For each primitive both libraries have, one object per backend.  Exactly
 * one of each pair has the same function pointers as the exported object. */
extern const mg_hash_alg mg_sha256_openssl, mg_sha256_sodium;
extern const mg_hash_alg mg_sha512_openssl, mg_sha512_sodium;
extern const mg_kdf_alg mg_hkdf_sha256_openssl, mg_hkdf_sha256_sodium;
extern const mg_kdf_alg mg_hkdf_sha512_openssl, mg_hkdf_sha512_sodium;
extern const mg_aead_alg mg_aes256gcm_openssl, mg_aes256gcm_sodium;
extern const mg_aead_alg mg_chacha20poly1305_openssl,
    mg_chacha20poly1305_sodium;
extern const mg_dh_alg mg_dh_x25519_openssl, mg_dh_x25519_sodium;
extern const mg_sig_alg mg_sig_ed25519_openssl, mg_sig_ed25519_sodium;

/* mg_sig_key_new allocates a zeroed key for |alg| (backends only).
 * Errors: MG_ERR_NOMEM. */
MG_MUST_USE int mg_sig_key_new(const mg_sig_alg *alg, mg_sig_key **out);

#endif
