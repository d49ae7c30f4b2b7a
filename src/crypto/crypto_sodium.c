/*
 * libsodium 1.0.18 backend (STYLE.md §3): SHA-256/512 and HMAC/HKDF over
 * them, AES-256-GCM (hardware AES only), ChaCha20-Poly1305 (IETF),
 * XChaCha20-Poly1305, X25519, Ed25519, and the system CSPRNG.  The only file
 * besides crypto_openssl.c that includes a crypto library header.
 */
#include "config.h"

#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/guard.h"
#include "common/secmem.h"
#include "crypto/backend.h"

int mg_sodium_init(void) {
  /* 0: initialized now, 1: already initialized. */
  return sodium_init() < 0 ? MG_ERR_CRYPTO_LIB : 0;
}

#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
/* Fuzzing builds: deterministic randomness (STYLE.md §10; BoringSSL
 * FUZZING.md), a ChaCha20 stream keyed by a fixed seed and a call counter. */
static _Atomic uint64_t g_fuzz_ctr;

void mg_sodium_random(uint8_t *out, size_t len) {
  uint8_t seed[randombytes_SEEDBYTES] = {0};
  uint64_t c = atomic_fetch_add(&g_fuzz_ctr, 1);
  memcpy(seed, &c, sizeof(c));
  if (len > 0) {
    randombytes_buf_deterministic(out, len, seed);
  }
}
#else
void mg_sodium_random(uint8_t *out, size_t len) {
  if (len > 0) {
    randombytes_buf(out, len);
  }
}
#endif

/* ------------------------------------------------------------------ hash */

int mg_sodium_digest(const mg_hash_alg *alg, uint8_t *out, const uint8_t *in,
                     size_t in_len) {
  switch (alg->digest_len) {
  case crypto_hash_sha256_BYTES:
    return crypto_hash_sha256(out, in, in_len) == 0 ? 0 : MG_ERR_CRYPTO_LIB;
  case crypto_hash_sha512_BYTES:
    return crypto_hash_sha512(out, in, in_len) == 0 ? 0 : MG_ERR_CRYPTO_LIB;
  default:
    return MG_ERR_INVALID_ARG;
  }
}

/* A keyed HMAC state for SHA-256 or SHA-512 (libsodium's streaming API,
 * which hashes keys longer than the block as RFC 2104 requires). */
typedef struct {
  size_t len;
  union {
    crypto_auth_hmacsha256_state s256;
    crypto_auth_hmacsha512_state s512;
  } u;
} hmac_state;

static int hmac_init(hmac_state *st, size_t digest_len, const uint8_t *key,
                     size_t key_len) {
  static const uint8_t empty[1] = {0};
  if (key_len == 0) {
    key = empty;
  }
  st->len = digest_len;
  switch (digest_len) {
  case crypto_auth_hmacsha256_BYTES:
    return crypto_auth_hmacsha256_init(&st->u.s256, key, key_len) == 0
               ? 0
               : MG_ERR_CRYPTO_LIB;
  case crypto_auth_hmacsha512_BYTES:
    return crypto_auth_hmacsha512_init(&st->u.s512, key, key_len) == 0
               ? 0
               : MG_ERR_CRYPTO_LIB;
  default:
    return MG_ERR_INVALID_ARG;
  }
}

static void hmac_update(hmac_state *st, const uint8_t *in, size_t in_len) {
  if (in_len == 0) {
    return;
  }
  if (st->len == crypto_auth_hmacsha256_BYTES) {
    (void)crypto_auth_hmacsha256_update(&st->u.s256, in, in_len);
  } else {
    (void)crypto_auth_hmacsha512_update(&st->u.s512, in, in_len);
  }
}

static void hmac_final(hmac_state *st, uint8_t *out) {
  if (st->len == crypto_auth_hmacsha256_BYTES) {
    (void)crypto_auth_hmacsha256_final(&st->u.s256, out);
  } else {
    (void)crypto_auth_hmacsha512_final(&st->u.s512, out);
  }
}

int mg_sodium_hmac(const mg_hash_alg *alg, uint8_t *out, const uint8_t *key,
                   size_t key_len, const uint8_t *in, size_t in_len) {
  hmac_state st;
  int rc = hmac_init(&st, alg->digest_len, key, key_len);
  if (rc == 0) {
    hmac_update(&st, in, in_len);
    hmac_final(&st, out);
  }
  sodium_memzero(&st, sizeof(st));
  return rc;
}

/* RFC 5869 §2.2 */
int mg_sodium_hkdf_extract(const mg_kdf_alg *alg, uint8_t *out_prk,
                           const uint8_t *salt, size_t salt_len,
                           const uint8_t *ikm, size_t ikm_len) {
  return mg_sodium_hmac(alg->hash, out_prk, salt, salt_len, ikm, ikm_len);
}

/* RFC 5869 §2.3.  The keyed state is built once from |prk| and copied for
 * each block, so |out| may equal |prk|. */
int mg_sodium_hkdf_expand(const mg_kdf_alg *alg, uint8_t *out, size_t out_len,
                          const uint8_t *prk, size_t prk_len,
                          const uint8_t *info, size_t info_len) {
  size_t nh = alg->hash->digest_len;
  MG_ENSURE(out_len <= 255 * nh, MG_ERR_PARAM);
  hmac_state keyed, st;
  uint8_t t[crypto_auth_hmacsha512_BYTES];
  int rc = hmac_init(&keyed, nh, prk, prk_len);
  size_t done = 0;
  uint8_t ctr = 1;
  while (rc == 0 && done < out_len) {
    st = keyed;
    if (done > 0) {
      hmac_update(&st, t, nh);
    }
    hmac_update(&st, info, info_len);
    hmac_update(&st, &ctr, 1);
    hmac_final(&st, t);
    size_t take = out_len - done < nh ? out_len - done : nh;
    memcpy(out + done, t, take);
    done += take;
    ctr++;
  }
  sodium_memzero(&keyed, sizeof(keyed));
  sodium_memzero(&st, sizeof(st));
  sodium_memzero(t, sizeof(t));
  return rc;
}

/* ------------------------------------------------------------------ aead */

/* The detached libsodium calls, one row per construction. */
typedef struct {
  size_t nonce_len;
  int (*enc)(unsigned char *c, unsigned char *mac, unsigned long long *maclen,
             const unsigned char *m, unsigned long long mlen,
             const unsigned char *ad, unsigned long long adlen,
             const unsigned char *nsec, const unsigned char *npub,
             const unsigned char *k);
  int (*dec)(unsigned char *m, unsigned char *nsec, const unsigned char *c,
             unsigned long long clen, const unsigned char *mac,
             const unsigned char *ad, unsigned long long adlen,
             const unsigned char *npub, const unsigned char *k);
} sodium_aead;

static const sodium_aead aes256gcm = {
    crypto_aead_aes256gcm_NPUBBYTES, crypto_aead_aes256gcm_encrypt_detached,
    crypto_aead_aes256gcm_decrypt_detached};
static const sodium_aead chacha = {
    crypto_aead_chacha20poly1305_ietf_NPUBBYTES,
    crypto_aead_chacha20poly1305_ietf_encrypt_detached,
    crypto_aead_chacha20poly1305_ietf_decrypt_detached};
static const sodium_aead xchacha = {
    crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
    crypto_aead_xchacha20poly1305_ietf_encrypt_detached,
    crypto_aead_xchacha20poly1305_ietf_decrypt_detached};

#define SODIUM_TAG_LEN 16

static int sodium_seal(const sodium_aead *a, uint8_t *out, const uint8_t *key,
                       const uint8_t *nonce, size_t nonce_len,
                       const uint8_t *aad, size_t aad_len, const uint8_t *pt,
                       size_t pt_len) {
  MG_ENSURE(nonce_len == a->nonce_len, MG_ERR_PARAM);
  /* libsodium's message limits are far above this; keep both backends'
   * limits the same. */
  MG_ENSURE(pt_len <= INT_MAX && aad_len <= INT_MAX, MG_ERR_PARAM);
  unsigned long long tag_len = 0;
  if (a->enc(out, out + pt_len, &tag_len, pt, pt_len, aad, aad_len, NULL,
             nonce, key) != 0 ||
      tag_len != SODIUM_TAG_LEN) {
    sodium_memzero(out, pt_len + SODIUM_TAG_LEN);
    return MG_ERR_CRYPTO_LIB;
  }
  return 0;
}

static int sodium_open(const sodium_aead *a, uint8_t *out, const uint8_t *key,
                       const uint8_t *nonce, size_t nonce_len,
                       const uint8_t *aad, size_t aad_len, const uint8_t *ct,
                       size_t ct_len) {
  MG_ENSURE(nonce_len == a->nonce_len, MG_ERR_PARAM);
  MG_ENSURE(ct_len >= SODIUM_TAG_LEN, MG_ERR_AUTH);
  size_t n = ct_len - SODIUM_TAG_LEN;
  MG_ENSURE(n <= INT_MAX && aad_len <= INT_MAX, MG_ERR_PARAM);
  uint8_t tag[SODIUM_TAG_LEN];
  memcpy(tag, ct + n, SODIUM_TAG_LEN);
  /* libsodium verifies the tag before decrypting and leaves |out| untouched
   * on failure; zero it anyway so the contract does not depend on that. */
  if (a->dec(out, NULL, ct, n, tag, aad, aad_len, nonce, key) != 0) {
    sodium_memzero(out, n);
    return MG_ERR_AUTH;
  }
  return 0;
}

int mg_sodium_aes256gcm_available(void) {
  return crypto_aead_aes256gcm_is_available();
}

int mg_sodium_aes256gcm_seal(const mg_aead_alg *alg, uint8_t *out,
                             const uint8_t *key, const uint8_t *nonce,
                             size_t nonce_len, const uint8_t *aad,
                             size_t aad_len, const uint8_t *pt,
                             size_t pt_len) {
  (void)alg;
  MG_ENSURE(crypto_aead_aes256gcm_is_available(), MG_ERR_UNSUPPORTED);
  return sodium_seal(&aes256gcm, out, key, nonce, nonce_len, aad, aad_len, pt,
                     pt_len);
}

int mg_sodium_aes256gcm_open(const mg_aead_alg *alg, uint8_t *out,
                             const uint8_t *key, const uint8_t *nonce,
                             size_t nonce_len, const uint8_t *aad,
                             size_t aad_len, const uint8_t *ct,
                             size_t ct_len) {
  (void)alg;
  MG_ENSURE(crypto_aead_aes256gcm_is_available(), MG_ERR_UNSUPPORTED);
  return sodium_open(&aes256gcm, out, key, nonce, nonce_len, aad, aad_len, ct,
                     ct_len);
}

int mg_sodium_chacha_seal(const mg_aead_alg *alg, uint8_t *out,
                          const uint8_t *key, const uint8_t *nonce,
                          size_t nonce_len, const uint8_t *aad, size_t aad_len,
                          const uint8_t *pt, size_t pt_len) {
  (void)alg;
  return sodium_seal(&chacha, out, key, nonce, nonce_len, aad, aad_len, pt,
                     pt_len);
}

int mg_sodium_chacha_open(const mg_aead_alg *alg, uint8_t *out,
                          const uint8_t *key, const uint8_t *nonce,
                          size_t nonce_len, const uint8_t *aad, size_t aad_len,
                          const uint8_t *ct, size_t ct_len) {
  (void)alg;
  return sodium_open(&chacha, out, key, nonce, nonce_len, aad, aad_len, ct,
                     ct_len);
}

int mg_sodium_xchacha_seal(const mg_aead_alg *alg, uint8_t *out,
                           const uint8_t *key, const uint8_t *nonce,
                           size_t nonce_len, const uint8_t *aad,
                           size_t aad_len, const uint8_t *pt, size_t pt_len) {
  (void)alg;
  return sodium_seal(&xchacha, out, key, nonce, nonce_len, aad, aad_len, pt,
                     pt_len);
}

int mg_sodium_xchacha_open(const mg_aead_alg *alg, uint8_t *out,
                           const uint8_t *key, const uint8_t *nonce,
                           size_t nonce_len, const uint8_t *aad,
                           size_t aad_len, const uint8_t *ct, size_t ct_len) {
  (void)alg;
  return sodium_open(&xchacha, out, key, nonce, nonce_len, aad, aad_len, ct,
                     ct_len);
}

/* ---------------------------------------------------------------- X25519 */

int mg_sodium_x25519_pub_from_priv(const mg_dh_alg *alg, uint8_t *pub,
                                   const uint8_t *priv) {
  (void)alg;
  return crypto_scalarmult_curve25519_base(pub, priv) == 0
             ? 0
             : MG_ERR_CRYPTO_LIB;
}

int mg_sodium_x25519_generate(const mg_dh_alg *alg, uint8_t *priv,
                              uint8_t *pub) {
  mg_sodium_random(priv, crypto_scalarmult_curve25519_SCALARBYTES);
  int rc = mg_sodium_x25519_pub_from_priv(alg, pub, priv);
  if (rc < 0) {
    sodium_memzero(priv, crypto_scalarmult_curve25519_SCALARBYTES);
  }
  return rc;
}

/* RFC 7748 §5.  libsodium returns -1 for an all-zero result (RFC 7748 §6.1)
 * and for the small-order inputs it blacklists, all of which give zero. */
int mg_sodium_x25519_dh(const mg_dh_alg *alg, uint8_t *out,
                        const uint8_t *priv, const uint8_t *pub) {
  (void)alg;
  if (crypto_scalarmult_curve25519(out, priv, pub) != 0) {
    sodium_memzero(out, crypto_scalarmult_curve25519_BYTES);
    return MG_ERR_DH_ZERO; /* RFC 9180 §7.1.4 */
  }
  return 0;
}

/* --------------------------------------------------------------- Ed25519 */

int mg_sodium_ed25519_pub_from_priv(const mg_sig_alg *alg, uint8_t *pub,
                                    const uint8_t *priv) {
  (void)alg;
  uint8_t sk[crypto_sign_ed25519_SECRETKEYBYTES];
  int rc = crypto_sign_ed25519_seed_keypair(pub, sk, priv) == 0
               ? 0
               : MG_ERR_CRYPTO_LIB;
  sodium_memzero(sk, sizeof(sk));
  return rc;
}

int mg_sodium_ed25519_generate(const mg_sig_alg *alg, uint8_t *priv,
                               uint8_t *pub) {
  mg_sodium_random(priv, crypto_sign_ed25519_SEEDBYTES);
  int rc = mg_sodium_ed25519_pub_from_priv(alg, pub, priv);
  if (rc < 0) {
    sodium_memzero(priv, crypto_sign_ed25519_SEEDBYTES);
  }
  return rc;
}

int mg_sodium_ed25519_key_from_priv(const mg_sig_alg *alg, mg_sig_key **out,
                                    const uint8_t *priv, size_t priv_len) {
  *out = NULL;
  MG_ENSURE(priv_len == crypto_sign_ed25519_SEEDBYTES, MG_ERR_BAD_KEY);
  mg_sig_key *k = NULL;
  MG_GUARD(mg_sig_key_new(alg, &k));
  uint8_t pk[crypto_sign_ed25519_PUBLICKEYBYTES];
  if (crypto_sign_ed25519_seed_keypair(pk, k->raw, priv) != 0) {
    mg_sig_key_free(k);
    return MG_ERR_CRYPTO_LIB;
  }
  k->raw_len = crypto_sign_ed25519_SECRETKEYBYTES;
  k->has_priv = 1;
  *out = k;
  return 0;
}

/* Like the OpenSSL backend, the point is decoded at verification. */
int mg_sodium_ed25519_key_from_pub(const mg_sig_alg *alg, mg_sig_key **out,
                                   const uint8_t *pub, size_t pub_len) {
  *out = NULL;
  MG_ENSURE(pub_len == crypto_sign_ed25519_PUBLICKEYBYTES, MG_ERR_BAD_KEY);
  mg_sig_key *k = NULL;
  MG_GUARD(mg_sig_key_new(alg, &k));
  memcpy(k->raw, pub, pub_len);
  k->raw_len = pub_len;
  *out = k;
  return 0;
}

int mg_sodium_ed25519_sign(const mg_sig_alg *alg, const mg_sig_key *key,
                           uint8_t *sig, size_t *sig_len, const uint8_t *msg,
                           size_t msg_len) {
  MG_ENSURE(key != NULL && key->alg == alg && key->has_priv &&
                key->raw_len == crypto_sign_ed25519_SECRETKEYBYTES,
            MG_ERR_BAD_KEY);
  unsigned long long len = 0;
  if (crypto_sign_ed25519_detached(sig, &len, msg, msg_len, key->raw) != 0) {
    return MG_ERR_CRYPTO_LIB;
  }
  *sig_len = (size_t)len;
  return 0;
}

/* libsodium 1.0.18 also rejects a non-canonical S, small-order R or A, and a
 * non-canonical A (RFC 8032 §5.1.7 plus the usual strictness). */
int mg_sodium_ed25519_verify(const mg_sig_alg *alg, const mg_sig_key *key,
                             const uint8_t *msg, size_t msg_len,
                             const uint8_t *sig, size_t sig_len) {
  MG_ENSURE(key != NULL && key->alg == alg, MG_ERR_BAD_KEY);
  const uint8_t *pk = key->raw;
  if (key->has_priv) {
    pk = key->raw + crypto_sign_ed25519_SEEDBYTES; /* sk = seed || pk */
  } else if (key->raw_len != crypto_sign_ed25519_PUBLICKEYBYTES) {
    return MG_ERR_BAD_KEY;
  }
  if (sig_len != crypto_sign_ed25519_BYTES) {
    return MG_ERR_VERIFY;
  }
  return crypto_sign_ed25519_verify_detached(sig, msg, msg_len, pk) == 0
             ? 0
             : MG_ERR_VERIFY;
}
