/*
 * The algorithm objects of crypto.h, the alternates of backend.h and the MLS
 * cipher suite table (suite.h).
 *
 * Backend choice (STYLE.md §3: per primitive, the fastest correct backend of
 * OpenSSL 3.0 and libsodium 1.0.18, measured).  Figures: ns per call, best of
 * 3 runs of a throwaway timing loop over these wrappers (and over the raw
 * calls for the OpenSSL calling strategies), on the build host (x86-64 with
 * SHA-NI, AES-NI, AVX-512; a shared, noisy machine), at the sizes MLS uses:
 *
 *   primitive              size     OpenSSL         libsodium     picked
 *   SHA-256                100 B      122             638          OpenSSL
 *                          1 KiB      688            3395
 *   SHA-512                100 B      241             293          OpenSSL
 *                          1 KiB     1577            2363
 *   HMAC-SHA256 [1]        100 B      318-375        1061-1222     OpenSSL
 *   HMAC-SHA512 [1]        100 B      908-1326       1225-1628     OpenSSL
 *   HKDF-SHA256 expand     32 B       407            1393          OpenSSL
 *   HKDF-SHA512 expand     32 B      1229            1762          OpenSSL
 *   AES-256-GCM seal [2]   1 KiB      584             726          OpenSSL
 *   AES-256-GCM open       1 KiB      582             739          OpenSSL
 *   ChaCha20-Poly1305 seal 1 KiB      674             870          OpenSSL
 *   ChaCha20-Poly1305 open 1 KiB      672             895          OpenSSL
 *   X25519 DH [3]          one      75481           45660          libsodium
 *   X25519 pub_from_priv   one      40104           28843          libsodium
 *   Ed25519 sign           100 B    52256           20806          libsodium
 *   Ed25519 verify         100 B   137084           61414          libsodium
 *
 *   [1] OpenSSL: RFC 2104 over the fetched EVP_MD with a per-thread
 *       EVP_MD_CTX.  EVP_MAC costs 450 (context reused) or 1029 (context per
 *       call), HMAC() 1250, so neither is used.
 *   [2] OpenSSL: per-thread EVP_CIPHER_CTX re-initialized with a NULL cipher;
 *       a new context per call costs 737 (AES-256-GCM) / 786 (ChaCha20).
 *   [3] OpenSSL's EVP import of a raw X25519 private key also computes its
 *       public key, so an EVP DH costs two scalar multiplications.
 *
 * Only OpenSSL has SHA-384, AES-128/192-GCM, X448, P-256/384/521 and Ed448;
 * only libsodium has XChaCha20-Poly1305.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>

#include "common/guard.h"
#include "common/secmem.h"
#include "crypto/backend.h"
#include "crypto/crypto.h"
#include "crypto/suite.h"

/* ------------------------------------------------------------------ init */

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_init_rc = MG_ERR_CRYPTO_LIB;

static void crypto_init_once(void) {
  int rc = mg_sodium_init();
  if (rc == 0) {
    rc = mg_ossl_init();
  }
  g_init_rc = rc;
}

int mg_crypto_init(void) {
  if (pthread_once(&g_once, crypto_init_once) != 0) {
    return MG_ERR_CRYPTO_LIB;
  }
  return g_init_rc;
}

int mg_random_bytes(uint8_t *out, size_t len) {
  MG_ENSURE(out != NULL || len == 0, MG_ERR_INVALID_ARG);
  mg_sodium_random(out, len);
  return 0;
}

/* ---------------------------------------------------------------- hashes */

/* RFC 6234: SHA-256 has a 64-byte block, SHA-384/512 a 128-byte block. */
#define HASH(var, nm, dlen, blen, dig, mac)                                    \
  const mg_hash_alg var = {                                                    \
      .name = nm,                                                              \
      .digest_len = dlen,                                                      \
      .block_len = blen,                                                       \
      .digest = dig,                                                           \
      .hmac = mac,                                                             \
  }

HASH(mg_sha256, "SHA-256", 32, 64, mg_ossl_digest, mg_ossl_hmac);
HASH(mg_sha384, "SHA-384", 48, 128, mg_ossl_digest, mg_ossl_hmac);
HASH(mg_sha512, "SHA-512", 64, 128, mg_ossl_digest, mg_ossl_hmac);
HASH(mg_sha256_openssl, "SHA-256", 32, 64, mg_ossl_digest, mg_ossl_hmac);
HASH(mg_sha256_sodium, "SHA-256", 32, 64, mg_sodium_digest, mg_sodium_hmac);
HASH(mg_sha512_openssl, "SHA-512", 64, 128, mg_ossl_digest, mg_ossl_hmac);
HASH(mg_sha512_sodium, "SHA-512", 64, 128, mg_sodium_digest, mg_sodium_hmac);

/* ------------------------------------------------------------------ KDFs */

/* RFC 9180 §7.2: HKDF-SHA256 0x0001, HKDF-SHA384 0x0002, HKDF-SHA512
 * 0x0003. */
#define KDF(var, kid, nm, hlen, h, ext, exp)                                   \
  const mg_kdf_alg var = {                                                     \
      .id = kid,                                                               \
      .name = nm,                                                              \
      .nh = hlen,                                                              \
      .hash = &h,                                                              \
      .extract = ext,                                                          \
      .expand = exp,                                                           \
  }

KDF(mg_hkdf_sha256, 0x0001, "HKDF-SHA256", 32, mg_sha256, mg_ossl_hkdf_extract,
    mg_ossl_hkdf_expand);
KDF(mg_hkdf_sha384, 0x0002, "HKDF-SHA384", 48, mg_sha384, mg_ossl_hkdf_extract,
    mg_ossl_hkdf_expand);
KDF(mg_hkdf_sha512, 0x0003, "HKDF-SHA512", 64, mg_sha512, mg_ossl_hkdf_extract,
    mg_ossl_hkdf_expand);
KDF(mg_hkdf_sha256_openssl, 0x0001, "HKDF-SHA256", 32, mg_sha256_openssl,
    mg_ossl_hkdf_extract, mg_ossl_hkdf_expand);
KDF(mg_hkdf_sha256_sodium, 0x0001, "HKDF-SHA256", 32, mg_sha256_sodium,
    mg_sodium_hkdf_extract, mg_sodium_hkdf_expand);
KDF(mg_hkdf_sha512_openssl, 0x0003, "HKDF-SHA512", 64, mg_sha512_openssl,
    mg_ossl_hkdf_extract, mg_ossl_hkdf_expand);
KDF(mg_hkdf_sha512_sodium, 0x0003, "HKDF-SHA512", 64, mg_sha512_sodium,
    mg_sodium_hkdf_extract, mg_sodium_hkdf_expand);

/* ----------------------------------------------------------------- AEADs */

/* RFC 9180 §7.3: AES-128-GCM 0x0001, AES-256-GCM 0x0002, ChaCha20Poly1305
 * 0x0003.  AES-192-GCM and XChaCha20-Poly1305 have no HPKE id (0). */
#define AEAD(var, aid, nm, klen, nlen, s, o)                                   \
  const mg_aead_alg var = {                                                    \
      .id = aid,                                                               \
      .name = nm,                                                              \
      .key_len = klen,                                                         \
      .nonce_len = nlen,                                                       \
      .tag_len = 16,                                                           \
      .seal = s,                                                               \
      .open = o,                                                               \
  }

AEAD(mg_aes128gcm, 0x0001, "AES-128-GCM", 16, 12, mg_ossl_gcm_seal,
     mg_ossl_gcm_open);
AEAD(mg_aes192gcm, 0x0000, "AES-192-GCM", 24, 12, mg_ossl_gcm_seal,
     mg_ossl_gcm_open);
AEAD(mg_aes256gcm, 0x0002, "AES-256-GCM", 32, 12, mg_ossl_gcm_seal,
     mg_ossl_gcm_open);
AEAD(mg_chacha20poly1305, 0x0003, "ChaCha20-Poly1305", 32, 12,
     mg_ossl_chacha_seal, mg_ossl_chacha_open);
AEAD(mg_xchacha20poly1305, 0x0000, "XChaCha20-Poly1305", 32, 24,
     mg_sodium_xchacha_seal, mg_sodium_xchacha_open);
AEAD(mg_aes256gcm_openssl, 0x0002, "AES-256-GCM", 32, 12, mg_ossl_gcm_seal,
     mg_ossl_gcm_open);
AEAD(mg_aes256gcm_sodium, 0x0002, "AES-256-GCM", 32, 12,
     mg_sodium_aes256gcm_seal, mg_sodium_aes256gcm_open);
AEAD(mg_chacha20poly1305_openssl, 0x0003, "ChaCha20-Poly1305", 32, 12,
     mg_ossl_chacha_seal, mg_ossl_chacha_open);
AEAD(mg_chacha20poly1305_sodium, 0x0003, "ChaCha20-Poly1305", 32, 12,
     mg_sodium_chacha_seal, mg_sodium_chacha_open);

/* ------------------------------------------------------------- DH groups */

/* RFC 9180 §7.1: Nsk/Npk/Ndh; §7.1.3 DeriveKeyPair bitmask (0xff for P-256
 * and P-384, 0x01 for P-521). */
#define DH(var, nm, sk, pk, dh_len, mask, gen, p2p, dhf)                       \
  const mg_dh_alg var = {                                                      \
      .name = nm,                                                              \
      .priv_len = sk,                                                          \
      .pub_len = pk,                                                           \
      .secret_len = dh_len,                                                    \
      .derive_bitmask = mask,                                                  \
      .generate = gen,                                                         \
      .pub_from_priv = p2p,                                                    \
      .dh = dhf,                                                               \
  }

DH(mg_dh_x25519, "X25519", 32, 32, 32, 0x00, mg_sodium_x25519_generate,
   mg_sodium_x25519_pub_from_priv, mg_sodium_x25519_dh);
DH(mg_dh_x448, "X448", 56, 56, 56, 0x00, mg_ossl_xdh_generate,
   mg_ossl_xdh_pub_from_priv, mg_ossl_xdh_dh);
DH(mg_dh_p256, "P-256", 32, 65, 32, 0xff, mg_ossl_ecdh_generate,
   mg_ossl_ecdh_pub_from_priv, mg_ossl_ecdh_dh);
DH(mg_dh_p384, "P-384", 48, 97, 48, 0xff, mg_ossl_ecdh_generate,
   mg_ossl_ecdh_pub_from_priv, mg_ossl_ecdh_dh);
DH(mg_dh_p521, "P-521", 66, 133, 66, 0x01, mg_ossl_ecdh_generate,
   mg_ossl_ecdh_pub_from_priv, mg_ossl_ecdh_dh);
DH(mg_dh_x25519_openssl, "X25519", 32, 32, 32, 0x00, mg_ossl_xdh_generate,
   mg_ossl_xdh_pub_from_priv, mg_ossl_xdh_dh);
DH(mg_dh_x25519_sodium, "X25519", 32, 32, 32, 0x00, mg_sodium_x25519_generate,
   mg_sodium_x25519_pub_from_priv, mg_sodium_x25519_dh);

/* ------------------------------------------------------------------ KEMs */

/* RFC 9180 §7.1 table: Nsecret, Nenc, Npk, Nsk (Nenc = Npk for a DHKEM). */
#define KEM(var, kid, nm, group, k, nsecret, npk, nsk)                         \
  const mg_kem_alg var = {                                                     \
      .id = kid,                                                               \
      .name = nm,                                                              \
      .dh = &group,                                                            \
      .kdf = &k,                                                               \
      .secret_len = nsecret,                                                   \
      .enc_len = npk,                                                          \
      .pub_len = npk,                                                          \
      .priv_len = nsk,                                                         \
  }

KEM(mg_kem_p256_sha256, 0x0010, "DHKEM(P-256, HKDF-SHA256)", mg_dh_p256,
    mg_hkdf_sha256, 32, 65, 32);
KEM(mg_kem_p384_sha384, 0x0011, "DHKEM(P-384, HKDF-SHA384)", mg_dh_p384,
    mg_hkdf_sha384, 48, 97, 48);
KEM(mg_kem_p521_sha512, 0x0012, "DHKEM(P-521, HKDF-SHA512)", mg_dh_p521,
    mg_hkdf_sha512, 64, 133, 66);
KEM(mg_kem_x25519_sha256, 0x0020, "DHKEM(X25519, HKDF-SHA256)", mg_dh_x25519,
    mg_hkdf_sha256, 32, 32, 32);
KEM(mg_kem_x448_sha512, 0x0021, "DHKEM(X448, HKDF-SHA512)", mg_dh_x448,
    mg_hkdf_sha512, 64, 56, 56);

/* ------------------------------------------------------------ signatures */

int mg_sig_key_new(const mg_sig_alg *alg, mg_sig_key **out) {
  mg_sig_key *k = calloc(1, sizeof(*k));
  *out = NULL;
  MG_ENSURE(k != NULL, MG_ERR_NOMEM);
  k->alg = alg;
  *out = k;
  return 0;
}

mg_sig_key *mg_sig_key_ref(mg_sig_key *key) {
  if (key != NULL) {
    atomic_fetch_add(&key->extra_refs, 1u);
  }
  return key;
}

void mg_sig_key_free(mg_sig_key *key) {
  if (key == NULL) {
    return;
  }
  /* Another owner still holds it: drop this reference only. */
  if (atomic_fetch_sub(&key->extra_refs, 1u) != 0) {
    return;
  }
  if (key->release != NULL) {
    key->release(key);
  }
  mg_free_secret(key, sizeof(*key));
}

int mg_sig_sign_raw(const mg_sig_alg *alg, uint8_t *sig, size_t *sig_len,
                    const uint8_t *priv, size_t priv_len, const uint8_t *msg,
                    size_t msg_len) {
  mg_sig_key *k = NULL;
  MG_GUARD(alg->key_from_priv(alg, &k, priv, priv_len));
  int rc = alg->sign(alg, k, sig, sig_len, msg, msg_len);
  mg_sig_key_free(k);
  return rc;
}

int mg_sig_verify_raw(const mg_sig_alg *alg, const uint8_t *pub,
                      size_t pub_len, const uint8_t *msg, size_t msg_len,
                      const uint8_t *sig, size_t sig_len) {
  mg_sig_key *k = NULL;
  MG_GUARD(alg->key_from_pub(alg, &k, pub, pub_len));
  int rc = alg->verify(alg, k, msg, msg_len, sig, sig_len);
  mg_sig_key_free(k);
  return rc;
}

/* RFC 8446 §4.2.3 SignatureScheme values.  Maximum DER ECDSA sizes: a
 * SEQUENCE of two INTEGERs of at most (order bytes + 1) each: 72, 104, 141
 * (the latter with a two-byte length). */
#define SIG(var, sch, nm, sk, pk, maxs, pfx)                                   \
  const mg_sig_alg var = {                                                     \
      .scheme = sch,                                                           \
      .name = nm,                                                              \
      .priv_len = sk,                                                          \
      .pub_len = pk,                                                           \
      .max_sig_len = maxs,                                                     \
      .generate = pfx##_generate,                                              \
      .pub_from_priv = pfx##_pub_from_priv,                                    \
      .key_from_priv = pfx##_key_from_priv,                                    \
      .key_from_pub = pfx##_key_from_pub,                                      \
      .sign = pfx##_sign,                                                      \
      .verify = pfx##_verify,                                                  \
  }

SIG(mg_sig_ed25519, 0x0807, "Ed25519", 32, 32, 64, mg_sodium_ed25519);
SIG(mg_sig_ed448, 0x0808, "Ed448", 57, 57, 114, mg_ossl_eddsa);
SIG(mg_sig_ecdsa_p256_sha256, 0x0403, "ECDSA-P256-SHA256", 32, 65, 72,
    mg_ossl_ecdsa);
SIG(mg_sig_ecdsa_p384_sha384, 0x0503, "ECDSA-P384-SHA384", 48, 97, 104,
    mg_ossl_ecdsa);
SIG(mg_sig_ecdsa_p521_sha512, 0x0603, "ECDSA-P521-SHA512", 66, 133, 141,
    mg_ossl_ecdsa);
SIG(mg_sig_ed25519_openssl, 0x0807, "Ed25519", 32, 32, 64, mg_ossl_eddsa);
SIG(mg_sig_ed25519_sodium, 0x0807, "Ed25519", 32, 32, 64, mg_sodium_ed25519);

/* ---------------------------------------------------------------- suites */

/* RFC 9420 §17.1. */
static const mls_suite g_suites[] = {
    {0x0001, "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519",
     &mg_kem_x25519_sha256, &mg_hkdf_sha256, &mg_aes128gcm, &mg_sha256,
     &mg_sig_ed25519},
    {0x0002, "MLS_128_DHKEMP256_AES128GCM_SHA256_P256", &mg_kem_p256_sha256,
     &mg_hkdf_sha256, &mg_aes128gcm, &mg_sha256, &mg_sig_ecdsa_p256_sha256},
    {0x0003, "MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519",
     &mg_kem_x25519_sha256, &mg_hkdf_sha256, &mg_chacha20poly1305, &mg_sha256,
     &mg_sig_ed25519},
    {0x0004, "MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448", &mg_kem_x448_sha512,
     &mg_hkdf_sha512, &mg_aes256gcm, &mg_sha512, &mg_sig_ed448},
    {0x0005, "MLS_256_DHKEMP521_AES256GCM_SHA512_P521", &mg_kem_p521_sha512,
     &mg_hkdf_sha512, &mg_aes256gcm, &mg_sha512, &mg_sig_ecdsa_p521_sha512},
    {0x0006, "MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_Ed448",
     &mg_kem_x448_sha512, &mg_hkdf_sha512, &mg_chacha20poly1305, &mg_sha512,
     &mg_sig_ed448},
    {0x0007, "MLS_256_DHKEMP384_AES256GCM_SHA384_P384", &mg_kem_p384_sha384,
     &mg_hkdf_sha384, &mg_aes256gcm, &mg_sha384, &mg_sig_ecdsa_p384_sha384},
};

const mls_suite *mls_suite_by_id(uint16_t id) {
  for (size_t i = 0; i < MG_ARRAY_LEN(g_suites); i++) {
    if (g_suites[i].id == id) {
      return &g_suites[i];
    }
  }
  return NULL;
}
