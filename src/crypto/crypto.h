/*
 * Cryptographic algorithm objects (STYLE.md §3).
 *
 * Each primitive is a const object holding its sizes and function pointers,
 * in the manner of picotls' ptls_aead_algorithm_t.  An MLS cipher suite
 * (RFC 9420 §17.1) is a const table pointing at them (see suite.h).  The
 * backends (OpenSSL 3.0 in crypto_openssl.c, libsodium in crypto_sodium.c) are
 * the only files that include their libraries' headers; nothing outside
 * src/crypto ever sees an OpenSSL or libsodium type.
 *
 * Conventions: every function returns 0 or a negative mg_err.  A backend
 * failure is MG_ERR_CRYPTO_LIB.  Output buffers are caller-provided and sized
 * by the object's *_len fields (or the MG_MAX_* macros below).  Private keys
 * are raw byte strings in the encodings RFC 9420/RFC 9180 use:
 *   X25519/X448/Ed25519/Ed448: the raw RFC 7748 / RFC 8032 private key;
 *   P-256/P-384/P-521 (ECDH and ECDSA): the big-endian scalar, fixed length
 *   (32/48/66 bytes); public keys are uncompressed SEC1 points (0x04||X||Y).
 * ECDSA signatures are DER-encoded (RFC 9420 §5.1.2).
 *
 * mg_crypto_init() must have succeeded before any other function is called;
 * it is idempotent and thread-safe.
 */
#ifndef MG_HEADER_CRYPTO_CRYPTO_H
#define MG_HEADER_CRYPTO_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "mlsgate/err.h"

#define MG_MAX_HASH_LEN 64     /* SHA-512 */
#define MG_MAX_AEAD_KEY_LEN 32
#define MG_MAX_AEAD_NONCE_LEN 24 /* XChaCha20-Poly1305 */
#define MG_MAX_AEAD_TAG_LEN 16
#define MG_MAX_DH_PRIV_LEN 66  /* P-521 scalar */
#define MG_MAX_DH_PUB_LEN 133  /* P-521 uncompressed point */
#define MG_MAX_DH_SECRET_LEN 66
#define MG_MAX_SIG_PRIV_LEN 66
#define MG_MAX_SIG_PUB_LEN 133
#define MG_MAX_SIG_LEN 141     /* DER ECDSA P-521 upper bound */

/* mg_crypto_init initializes the backends (libsodium, fetched OpenSSL
 * algorithm objects).  Idempotent, thread-safe.  Errors: MG_ERR_CRYPTO_LIB. */
MG_MUST_USE int mg_crypto_init(void);

/* mg_random_bytes fills |out| with |len| bytes from the system CSPRNG.
 * Errors: MG_ERR_CRYPTO_LIB. */
MG_MUST_USE int mg_random_bytes(uint8_t *out, size_t len);

/* ------------------------------------------------------------------ hash */

typedef struct mg_hash_alg {
  const char *name;
  size_t digest_len;
  size_t block_len;
  /* digest writes digest_len bytes to |out|. */
  int (*digest)(const struct mg_hash_alg *alg, uint8_t *out, const uint8_t *in,
                size_t in_len);
  /* hmac writes digest_len bytes to |out|. */
  int (*hmac)(const struct mg_hash_alg *alg, uint8_t *out, const uint8_t *key,
              size_t key_len, const uint8_t *in, size_t in_len);
} mg_hash_alg;

extern const mg_hash_alg mg_sha256, mg_sha384, mg_sha512;

/* ------------------------------------------------------------------- kdf */

typedef struct mg_kdf_alg {
  uint16_t id;       /* HPKE KDF identifier, RFC 9180 §7.2 */
  const char *name;
  size_t nh;         /* Nh: output length of extract */
  const mg_hash_alg *hash;
  /* extract writes nh bytes: HKDF-Extract(salt, ikm) (RFC 5869). */
  int (*extract)(const struct mg_kdf_alg *alg, uint8_t *out_prk,
                 const uint8_t *salt, size_t salt_len, const uint8_t *ikm,
                 size_t ikm_len);
  /* expand writes out_len bytes; out_len > 255*nh is MG_ERR_PARAM. */
  int (*expand)(const struct mg_kdf_alg *alg, uint8_t *out, size_t out_len,
                const uint8_t *prk, size_t prk_len, const uint8_t *info,
                size_t info_len);
} mg_kdf_alg;

extern const mg_kdf_alg mg_hkdf_sha256, mg_hkdf_sha384, mg_hkdf_sha512;

/* ------------------------------------------------------------------ aead */

typedef struct mg_aead_alg {
  uint16_t id;       /* HPKE AEAD identifier (RFC 9180 §7.3); 0 if none */
  const char *name;
  size_t key_len;
  size_t nonce_len;  /* the nonce length protocols use (Nn) */
  size_t tag_len;
  /* seal writes pt_len + tag_len bytes (ciphertext || tag) to |out|.  |out|
   * may equal |pt|.  A nonce length the algorithm does not accept is
   * MG_ERR_PARAM (GCM accepts any length >= 1; ChaCha20-Poly1305 exactly 12;
   * XChaCha20-Poly1305 exactly 24). */
  int (*seal)(const struct mg_aead_alg *alg, uint8_t *out, const uint8_t *key,
              const uint8_t *nonce, size_t nonce_len, const uint8_t *aad,
              size_t aad_len, const uint8_t *pt, size_t pt_len);
  /* open takes ciphertext || tag (ct_len >= tag_len, else MG_ERR_AUTH) and
   * writes ct_len - tag_len bytes.  MG_ERR_AUTH if the tag does not verify;
   * then |out| holds no plaintext (it is zeroed).  |out| may equal |ct|. */
  int (*open)(const struct mg_aead_alg *alg, uint8_t *out, const uint8_t *key,
              const uint8_t *nonce, size_t nonce_len, const uint8_t *aad,
              size_t aad_len, const uint8_t *ct, size_t ct_len);
} mg_aead_alg;

/* mg_aes192gcm is in no suite; it exists so Wycheproof's AES-GCM file can be
 * run through the same wrapper.  mg_xchacha20poly1305 seals records at rest. */
extern const mg_aead_alg mg_aes128gcm, mg_aes192gcm, mg_aes256gcm,
    mg_chacha20poly1305, mg_xchacha20poly1305;

/* -------------------------------------------------------------------- dh */

typedef struct mg_dh_alg {
  const char *name;
  size_t priv_len;   /* Nsk */
  size_t pub_len;    /* Npk */
  size_t secret_len; /* Ndh */
  /* For DeriveKeyPair on NIST curves (RFC 9180 §7.1.3): the mask applied to
   * the first byte of each candidate; 0 for X25519/X448 (no rejection). */
  uint8_t derive_bitmask;
  /* generate writes a fresh key pair. */
  int (*generate)(const struct mg_dh_alg *alg, uint8_t *priv, uint8_t *pub);
  /* pub_from_priv validates |priv| (NIST: 0 < scalar < order, else
   * MG_ERR_BAD_KEY) and writes its public key. */
  int (*pub_from_priv)(const struct mg_dh_alg *alg, uint8_t *pub,
                       const uint8_t *priv);
  /* dh writes secret_len bytes: the X coordinate (NIST) or the X25519/X448
   * output.  |pub| must be pub_len bytes, uncompressed, on the curve
   * (MG_ERR_BAD_KEY).  An all-zero X25519/X448 output is MG_ERR_DH_ZERO
   * (RFC 9180 §7.1.4). */
  int (*dh)(const struct mg_dh_alg *alg, uint8_t *out, const uint8_t *priv,
            const uint8_t *pub);
} mg_dh_alg;

extern const mg_dh_alg mg_dh_x25519, mg_dh_x448, mg_dh_p256, mg_dh_p384,
    mg_dh_p521;

/* ------------------------------------------------------------------- kem */

/* A DHKEM (RFC 9180 §4.1).  The operations are in hpke.h. */
typedef struct mg_kem_alg {
  uint16_t id;       /* RFC 9180 §7.1 */
  const char *name;
  const mg_dh_alg *dh;
  const mg_kdf_alg *kdf; /* the KEM's own KDF */
  size_t secret_len; /* Nsecret */
  size_t enc_len;    /* Nenc */
  size_t pub_len;    /* Npk */
  size_t priv_len;   /* Nsk */
} mg_kem_alg;

extern const mg_kem_alg mg_kem_p256_sha256, mg_kem_p384_sha384,
    mg_kem_p521_sha512, mg_kem_x25519_sha256, mg_kem_x448_sha512;

/* -------------------------------------------------------------- signature */

/* A prepared key (backend object); build once, sign/verify many times. */
typedef struct mg_sig_key mg_sig_key;

typedef struct mg_sig_alg {
  uint16_t scheme;   /* TLS SignatureScheme (RFC 8446 §4.2.3) */
  const char *name;
  size_t priv_len;
  size_t pub_len;
  size_t max_sig_len;
  int (*generate)(const struct mg_sig_alg *alg, uint8_t *priv, uint8_t *pub);
  /* pub_from_priv validates |priv| (MG_ERR_BAD_KEY) and derives its pub. */
  int (*pub_from_priv)(const struct mg_sig_alg *alg, uint8_t *pub,
                       const uint8_t *priv);
  /* key_from_priv/key_from_pub parse raw keys (MG_ERR_BAD_KEY for wrong
   * length, off-curve point, out-of-range scalar). */
  int (*key_from_priv)(const struct mg_sig_alg *alg, mg_sig_key **out,
                       const uint8_t *priv, size_t priv_len);
  int (*key_from_pub)(const struct mg_sig_alg *alg, mg_sig_key **out,
                      const uint8_t *pub, size_t pub_len);
  /* sign writes at most max_sig_len bytes and sets |*sig_len|; needs a
   * private key (MG_ERR_BAD_KEY otherwise). */
  int (*sign)(const struct mg_sig_alg *alg, const mg_sig_key *key,
              uint8_t *sig, size_t *sig_len, const uint8_t *msg,
              size_t msg_len);
  /* verify returns 0 or MG_ERR_VERIFY (also for a malformed signature). */
  int (*verify)(const struct mg_sig_alg *alg, const mg_sig_key *key,
                const uint8_t *msg, size_t msg_len, const uint8_t *sig,
                size_t sig_len);
} mg_sig_alg;

/* mg_sig_key_ref adds an owner to |key| (keys are immutable once prepared,
 * so states of consecutive epochs share one instead of preparing it again);
 * each owner calls mg_sig_key_free.  Returns |key|. */
mg_sig_key *mg_sig_key_ref(mg_sig_key *key);

/* mg_sig_key_free releases a key from key_from_priv/key_from_pub, wiping
 * private material.  NULL is accepted. */
void mg_sig_key_free(mg_sig_key *key);

/* One-shot conveniences over raw keys (parse, sign/verify, free). */
MG_MUST_USE int mg_sig_sign_raw(const mg_sig_alg *alg, uint8_t *sig,
                                size_t *sig_len, const uint8_t *priv,
                                size_t priv_len, const uint8_t *msg,
                                size_t msg_len);
MG_MUST_USE int mg_sig_verify_raw(const mg_sig_alg *alg, const uint8_t *pub,
                                  size_t pub_len, const uint8_t *msg,
                                  size_t msg_len, const uint8_t *sig,
                                  size_t sig_len);

extern const mg_sig_alg mg_sig_ed25519, mg_sig_ed448, mg_sig_ecdsa_p256_sha256,
    mg_sig_ecdsa_p384_sha384, mg_sig_ecdsa_p521_sha512;

#endif
