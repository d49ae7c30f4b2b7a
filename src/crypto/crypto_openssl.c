/*
 * OpenSSL 3.0 backend (STYLE.md §3): the only file that includes OpenSSL.
 *
 * Performance notes (measured, see algs.c for the figures):
 *  - Algorithm objects (EVP_MD, EVP_CIPHER) are fetched once in mg_ossl_init;
 *    passing EVP_sha256() & co. to *Init re-fetches from the provider on
 *    every call.
 *  - Each thread keeps one EVP_MD_CTX per hash and one EVP_CIPHER_CTX per
 *    AEAD, bound to its algorithm once and re-initialized with a NULL
 *    algorithm, which reuses the provider context (no allocation per call).
 *    They are freed by a pthread key destructor when the thread exits.
 *  - HMAC is computed from the fetched EVP_MD (RFC 2104 directly): EVP_MAC
 *    costs 3x as much per call for MLS-sized inputs.
 *  - NIST ECDH uses EC_POINT_mul on shared, read-only EC_GROUPs (the same
 *    constant-time scalar multiplication the provider's ECDH uses), which
 *    avoids building two EVP_PKEYs per DH.
 *  - X25519/X448 private keys are imported without deriving their public
 *    key, which derivation does not use (xdh_priv_key).
 *  - A prepared ECDSA key keeps one signing and one verification
 *    EVP_PKEY_CTX, lent to one call at a time (ctx_take/ctx_give).
 * With these, bench/crypto puts every wrapper here within 5% of the fastest
 * raw OpenSSL call it knows (HKDF-Expand 100%, ECDSA P-256 sign 100%,
 * X448 HPKE seal/open 99%, AEAD 97-101%).
 *
 * Every EVP failure clears the OpenSSL error queue and is MG_ERR_CRYPTO_LIB.
 */
#include "config.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/modes.h>
#include <openssl/obj_mac.h>
#include <openssl/params.h>
#include <openssl/proverr.h>

#include "common/guard.h"
#include "common/secmem.h"
#include "crypto/backend.h"

enum { H_SHA256, H_SHA384, H_SHA512, H_COUNT };
enum { C_AES128GCM, C_AES192GCM, C_AES256GCM, C_CHACHA, C_COUNT };
enum { E_P256, E_P384, E_P521, E_COUNT };

#define GCM_TAG_LEN 16
#define GCM_PROV_MAX_IV 128 /* the provider's GCM_IV_MAX_SIZE */
#define HMAC_MAX_BLOCK 128

static const char *const md_names[H_COUNT] = {"SHA2-256", "SHA2-384",
                                              "SHA2-512"};
static const size_t md_len[H_COUNT] = {32, 48, 64};
static const size_t md_block[H_COUNT] = {64, 128, 128};
static const char *const cipher_names[C_COUNT] = {
    "AES-128-GCM", "AES-192-GCM", "AES-256-GCM", "ChaCha20-Poly1305"};
static const char *const ecb_names[3] = {"AES-128-ECB", "AES-192-ECB",
                                         "AES-256-ECB"};
static const int ec_nids[E_COUNT] = {NID_X9_62_prime256v1, NID_secp384r1,
                                     NID_secp521r1};
static const char *const ec_group_names[E_COUNT] = {"P-256", "P-384",
                                                    "P-521"};
static const size_t ec_scalar_len[E_COUNT] = {32, 48, 66};
/* RFC 9420 §17.1: ECDSA P-256 with SHA-256, P-384/SHA-384, P-521/SHA-512. */
static const int ec_hash[E_COUNT] = {H_SHA256, H_SHA384, H_SHA512};

/* Fetched once by mg_ossl_init, read-only afterwards. */
static EVP_MD *g_md[H_COUNT];
static EVP_CIPHER *g_cipher[C_COUNT];
static EVP_CIPHER *g_ecb[3];
static EC_GROUP *g_group[E_COUNT];
static uint8_t g_order[E_COUNT][66]; /* big-endian, ec_scalar_len bytes */
static pthread_key_t g_tls_key;

typedef struct ossl_tls {
  EVP_MD_CTX *md[H_COUNT];
  EVP_CIPHER_CTX *cipher[C_COUNT];
  size_t ivlen[C_COUNT]; /* IV length set in cipher[i]; 0 = unknown */
} ossl_tls;

static _Thread_local ossl_tls *t_state;

typedef struct {
  const uint8_t *p;
  size_t len;
} iov;

static int ossl_fail(void) {
  ERR_clear_error();
  return MG_ERR_CRYPTO_LIB;
}

static void tls_free(void *p) {
  ossl_tls *st = p;
  if (st == NULL) {
    return;
  }
  for (size_t i = 0; i < H_COUNT; i++) {
    EVP_MD_CTX_free(st->md[i]);
  }
  for (size_t i = 0; i < C_COUNT; i++) {
    EVP_CIPHER_CTX_free(st->cipher[i]);
  }
  free(st);
  if (t_state == st) {
    t_state = NULL;
  }
}

static ossl_tls *tls_get(void) {
  if (t_state != NULL) {
    return t_state;
  }
  ossl_tls *st = calloc(1, sizeof(*st));
  if (st == NULL) {
    return NULL;
  }
  if (pthread_setspecific(g_tls_key, st) != 0) {
    free(st);
    return NULL;
  }
  t_state = st;
  return st;
}

/* The thread's context for hash |h|, bound to its EVP_MD. */
static EVP_MD_CTX *tls_md(int h) {
  ossl_tls *st = tls_get();
  if (st == NULL) {
    return NULL;
  }
  if (st->md[h] == NULL) {
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (c == NULL) {
      return NULL;
    }
    if (EVP_DigestInit_ex2(c, g_md[h], NULL) != 1) {
      EVP_MD_CTX_free(c);
      return NULL;
    }
    st->md[h] = c;
  }
  return st->md[h];
}

int mg_ossl_init(void) {
  int rc = MG_ERR_CRYPTO_LIB;
  if (OPENSSL_init_crypto(0, NULL) != 1) {
    return ossl_fail();
  }
  if (pthread_key_create(&g_tls_key, tls_free) != 0) {
    return MG_ERR_CRYPTO_LIB;
  }
  for (size_t i = 0; i < H_COUNT; i++) {
    g_md[i] = EVP_MD_fetch(NULL, md_names[i], NULL);
    if (g_md[i] == NULL) {
      goto out;
    }
  }
  for (size_t i = 0; i < C_COUNT; i++) {
    g_cipher[i] = EVP_CIPHER_fetch(NULL, cipher_names[i], NULL);
    if (g_cipher[i] == NULL) {
      goto out;
    }
  }
  for (size_t i = 0; i < 3; i++) {
    g_ecb[i] = EVP_CIPHER_fetch(NULL, ecb_names[i], NULL);
    if (g_ecb[i] == NULL) {
      goto out;
    }
  }
  for (size_t i = 0; i < E_COUNT; i++) {
    g_group[i] = EC_GROUP_new_by_curve_name(ec_nids[i]);
    if (g_group[i] == NULL) {
      goto out;
    }
    const BIGNUM *order = EC_GROUP_get0_order(g_group[i]);
    if (order == NULL ||
        BN_bn2binpad(order, g_order[i], (int)ec_scalar_len[i]) < 0) {
      goto out;
    }
  }
  rc = 0;
out:
  if (rc < 0) {
    ERR_clear_error();
  }
  return rc;
}

/* ------------------------------------------------------------------ hash */

static int hash_index(size_t digest_len, int *out) {
  switch (digest_len) {
  case 32:
    *out = H_SHA256;
    return 0;
  case 48:
    *out = H_SHA384;
    return 0;
  case 64:
    *out = H_SHA512;
    return 0;
  default:
    return MG_ERR_INVALID_ARG;
  }
}

/* md_run hashes the concatenation of |v| with the thread's context for hash
 * |h|.
 *
 * Residue: after a successful run the context holds only the chaining value
 * of the hash just finished, i.e. its output, which the caller has anyway.
 * In HMAC the keyed states (after the ipad/opad blocks) are overwritten by
 * the next step of the same call, so no key-equivalent state outlives it.
 * Re-initializing after every HMAC to clear the output as well cost 12% of
 * an HKDF-Expand (measured with bench/crypto), so it is done only on failure
 * paths, where a keyed state could be left behind.  The context is cleansed
 * when the thread exits (the provider frees it with OPENSSL_clear_free). */
static int md_run(int h, uint8_t *out, const iov *v, size_t n) {
  EVP_MD_CTX *c = tls_md(h);
  if (c == NULL) {
    return ossl_fail();
  }
  if (EVP_DigestInit_ex2(c, NULL, NULL) != 1) {
    return ossl_fail();
  }
  for (size_t i = 0; i < n; i++) {
    if (v[i].len > 0 && EVP_DigestUpdate(c, v[i].p, v[i].len) != 1) {
      goto fail;
    }
  }
  if (EVP_DigestFinal_ex(c, out, NULL) != 1) {
    goto fail;
  }
  return 0;
fail:
  (void)EVP_DigestInit_ex2(c, NULL, NULL); /* drop any keyed state */
  return ossl_fail();
}

int mg_ossl_digest(const mg_hash_alg *alg, uint8_t *out, const uint8_t *in,
                   size_t in_len) {
  int h;
  MG_GUARD(hash_index(alg->digest_len, &h));
  iov v = {in, in_len};
  return md_run(h, out, &v, 1);
}

/* RFC 2104: K0 = key (hashed if longer than the block), zero-padded; the
 * pads are K0 ^ 0x36.. and K0 ^ 0x5c.. */
static int hmac_pads(int h, uint8_t ipad[HMAC_MAX_BLOCK],
                     uint8_t opad[HMAC_MAX_BLOCK], const uint8_t *key,
                     size_t key_len) {
  size_t block = md_block[h];
  memset(ipad, 0, HMAC_MAX_BLOCK);
  if (key_len > block) {
    iov v = {key, key_len};
    MG_GUARD(md_run(h, ipad, &v, 1));
  } else if (key_len > 0) {
    memcpy(ipad, key, key_len);
  }
  for (size_t i = 0; i < block; i++) {
    opad[i] = (uint8_t)(ipad[i] ^ 0x5c);
    ipad[i] ^= 0x36;
  }
  return 0;
}

/* hmac_run computes HMAC over the concatenation of |v| (at most 3 parts). */
static int hmac_run(int h, uint8_t *out, const uint8_t *ipad,
                    const uint8_t *opad, const iov *v, size_t n) {
  int rc = 0;
  uint8_t inner[64];
  iov in[4];
  in[0].p = ipad;
  in[0].len = md_block[h];
  for (size_t i = 0; i < n && i < 3; i++) {
    in[i + 1] = v[i];
  }
  MG_CHECK(md_run(h, inner, in, (n < 3 ? n : 3) + 1));
  iov o[2] = {{opad, md_block[h]}, {inner, md_len[h]}};
  MG_CHECK(md_run(h, out, o, 2));
out:
  mg_memzero(inner, sizeof(inner));
  return rc;
}

int mg_ossl_hmac(const mg_hash_alg *alg, uint8_t *out, const uint8_t *key,
                 size_t key_len, const uint8_t *in, size_t in_len) {
  int rc = 0;
  int h;
  uint8_t ipad[HMAC_MAX_BLOCK], opad[HMAC_MAX_BLOCK];
  MG_GUARD(hash_index(alg->digest_len, &h));
  MG_CHECK(hmac_pads(h, ipad, opad, key, key_len));
  iov v = {in, in_len};
  MG_CHECK(hmac_run(h, out, ipad, opad, &v, 1));
out:
  mg_memzero(ipad, sizeof(ipad));
  mg_memzero(opad, sizeof(opad));
  return rc;
}

/* RFC 5869 §2.2: PRK = HMAC-Hash(salt, IKM); an absent salt is HashLen
 * zeros, which HMAC's zero padding makes equal to the empty key. */
int mg_ossl_hkdf_extract(const mg_kdf_alg *alg, uint8_t *out_prk,
                         const uint8_t *salt, size_t salt_len,
                         const uint8_t *ikm, size_t ikm_len) {
  return mg_ossl_hmac(alg->hash, out_prk, salt, salt_len, ikm, ikm_len);
}

/* RFC 5869 §2.3: T(i) = HMAC-Hash(PRK, T(i-1) | info | i).  The pads are
 * computed from |prk| before anything is written, so |out| may equal |prk|. */
int mg_ossl_hkdf_expand(const mg_kdf_alg *alg, uint8_t *out, size_t out_len,
                        const uint8_t *prk, size_t prk_len,
                        const uint8_t *info, size_t info_len) {
  int rc = 0;
  int h;
  uint8_t ipad[HMAC_MAX_BLOCK], opad[HMAC_MAX_BLOCK], t[64];
  MG_GUARD(hash_index(alg->hash->digest_len, &h));
  size_t nh = md_len[h];
  MG_ENSURE(out_len <= 255 * nh, MG_ERR_PARAM);
  MG_CHECK(hmac_pads(h, ipad, opad, prk, prk_len));
  size_t done = 0;
  uint8_t ctr = 1;
  while (done < out_len) {
    iov v[3] = {{t, done == 0 ? 0 : nh}, {info, info_len}, {&ctr, 1}};
    MG_CHECK(hmac_run(h, t, ipad, opad, v, 3));
    size_t take = out_len - done < nh ? out_len - done : nh;
    memcpy(out + done, t, take);
    done += take;
    ctr++;
  }
out:
  mg_memzero(ipad, sizeof(ipad));
  mg_memzero(opad, sizeof(opad));
  mg_memzero(t, sizeof(t));
  if (rc < 0 && out != NULL) {
    mg_memzero(out, out_len);
  }
  return rc;
}

/* ------------------------------------------------------------------ aead */

static EVP_CIPHER_CTX *tls_cipher(int c, ossl_tls **out_st) {
  ossl_tls *st = tls_get();
  if (st == NULL) {
    return NULL;
  }
  if (st->cipher[c] == NULL) {
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    if (x == NULL) {
      return NULL;
    }
    if (EVP_CipherInit_ex2(x, g_cipher[c], NULL, NULL, 1, NULL) != 1) {
      EVP_CIPHER_CTX_free(x);
      return NULL;
    }
    st->cipher[c] = x;
    st->ivlen[c] = 12; /* both GCM and ChaCha20-Poly1305 default to 96 bits */
  }
  *out_st = st;
  return st->cipher[c];
}

typedef struct {
  EVP_CIPHER_CTX *ecb;
  int *failed;
} ecb_key;

static void ecb_block(const unsigned char in[16], unsigned char out[16],
                      const void *key) {
  const ecb_key *k = key;
  int outl = 0;
  if (EVP_EncryptUpdate(k->ecb, out, &outl, in, 16) != 1 || outl != 16) {
    *k->failed = 1;
    memset(out, 0, 16);
  }
}

/* GCM with an IV longer than the provider accepts (128 bytes): the generic
 * GCM mode (which derives J0 by GHASH for any IV length, NIST SP 800-38D
 * §7.1) over AES-ECB.  Rare and slow; only Wycheproof uses such IVs. */
static int gcm_long_iv(int kidx, int enc, uint8_t *out, const uint8_t *key,
                       const uint8_t *nonce, size_t nonce_len,
                       const uint8_t *aad, size_t aad_len, const uint8_t *in,
                       size_t in_len, uint8_t tag[GCM_TAG_LEN]) {
  int rc = MG_ERR_CRYPTO_LIB;
  int failed = 0;
  GCM128_CONTEXT *g = NULL;
  EVP_CIPHER_CTX *ecb = EVP_CIPHER_CTX_new();
  if (ecb == NULL ||
      EVP_EncryptInit_ex2(ecb, g_ecb[kidx], key, NULL, NULL) != 1 ||
      EVP_CIPHER_CTX_set_padding(ecb, 0) != 1) {
    goto out;
  }
  ecb_key k = {ecb, &failed};
  g = CRYPTO_gcm128_new(&k, ecb_block);
  if (g == NULL) {
    goto out;
  }
  CRYPTO_gcm128_setiv(g, nonce, nonce_len);
  if (aad_len > 0 && CRYPTO_gcm128_aad(g, aad, aad_len) != 0) {
    goto out;
  }
  if (enc) {
    if (in_len > 0 && CRYPTO_gcm128_encrypt(g, in, out, in_len) != 0) {
      goto out;
    }
    CRYPTO_gcm128_tag(g, tag, GCM_TAG_LEN);
    rc = failed ? MG_ERR_CRYPTO_LIB : 0;
  } else {
    if (in_len > 0 && CRYPTO_gcm128_decrypt(g, in, out, in_len) != 0) {
      goto out;
    }
    if (failed) {
      goto out;
    }
    rc = CRYPTO_gcm128_finish(g, tag, GCM_TAG_LEN) == 0 ? 0 : MG_ERR_AUTH;
  }
out:
  CRYPTO_gcm128_release(g);
  EVP_CIPHER_CTX_free(ecb);
  if (rc == MG_ERR_CRYPTO_LIB) {
    ERR_clear_error();
  }
  return rc;
}

/* aead_run encrypts or decrypts |in_len| bytes with the thread's context for
 * cipher |c|; for decryption |tag| is the expected tag, for encryption it
 * receives the tag.  Returns MG_ERR_AUTH if the tag does not verify. */
static int aead_run(int c, int enc, uint8_t *out, const uint8_t *key,
                    const uint8_t *nonce, size_t nonce_len, const uint8_t *aad,
                    size_t aad_len, const uint8_t *in, size_t in_len,
                    uint8_t tag[GCM_TAG_LEN]) {
  MG_ENSURE(in_len <= INT_MAX && aad_len <= INT_MAX, MG_ERR_PARAM);
  if (c != C_CHACHA && nonce_len > GCM_PROV_MAX_IV) {
    return gcm_long_iv(c - C_AES128GCM, enc, out, key, nonce, nonce_len, aad,
                       aad_len, in, in_len, tag);
  }
  ossl_tls *st = NULL;
  EVP_CIPHER_CTX *x = tls_cipher(c, &st);
  int outl = 0;
  if (x == NULL) {
    return ossl_fail();
  }
  if (st->ivlen[c] != nonce_len) {
    st->ivlen[c] = 0;
    if (EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_IVLEN, (int)nonce_len,
                            NULL) != 1) {
      return ossl_fail();
    }
    st->ivlen[c] = nonce_len;
  }
  if (EVP_CipherInit_ex2(x, NULL, key, nonce, enc, NULL) != 1) {
    return ossl_fail();
  }
  if (aad_len > 0 &&
      EVP_CipherUpdate(x, NULL, &outl, aad, (int)aad_len) != 1) {
    return ossl_fail();
  }
  int done = 0;
  if (in_len > 0) {
    if (EVP_CipherUpdate(x, out, &done, in, (int)in_len) != 1) {
      return ossl_fail();
    }
  }
  if (!enc &&
      EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_TAG, GCM_TAG_LEN, tag) != 1) {
    return ossl_fail();
  }
  if (EVP_CipherFinal_ex(x, out + done, &outl) != 1) {
    if (enc) {
      return ossl_fail();
    }
    ERR_clear_error();
    return MG_ERR_AUTH;
  }
  if ((size_t)done + (size_t)outl != in_len) {
    return ossl_fail();
  }
  if (enc &&
      EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_GET_TAG, GCM_TAG_LEN, tag) != 1) {
    return ossl_fail();
  }
  return 0;
}

static int aead_seal(int c, uint8_t *out, const uint8_t *key,
                     const uint8_t *nonce, size_t nonce_len,
                     const uint8_t *aad, size_t aad_len, const uint8_t *pt,
                     size_t pt_len) {
  uint8_t tag[GCM_TAG_LEN];
  /* Checked before anything is written: bad input changes nothing. */
  MG_ENSURE(pt_len <= INT_MAX && aad_len <= INT_MAX, MG_ERR_PARAM);
  int rc = aead_run(c, 1, out, key, nonce, nonce_len, aad, aad_len, pt, pt_len,
                    tag);
  if (rc == 0) {
    memcpy(out + pt_len, tag, GCM_TAG_LEN);
  }
  return rc;
}

static int aead_open(int c, uint8_t *out, const uint8_t *key,
                     const uint8_t *nonce, size_t nonce_len,
                     const uint8_t *aad, size_t aad_len, const uint8_t *ct,
                     size_t ct_len) {
  uint8_t tag[GCM_TAG_LEN];
  MG_ENSURE(ct_len >= GCM_TAG_LEN, MG_ERR_AUTH);
  size_t n = ct_len - GCM_TAG_LEN;
  MG_ENSURE(n <= INT_MAX && aad_len <= INT_MAX, MG_ERR_PARAM);
  /* Copy the tag first: with out == ct the plaintext overwrites nothing past
   * n, but a caller may pass an |out| that overlaps differently. */
  memcpy(tag, ct + n, GCM_TAG_LEN);
  int rc = aead_run(c, 0, out, key, nonce, nonce_len, aad, aad_len, ct, n, tag);
  if (rc < 0) {
    mg_memzero(out, n);
  }
  return rc;
}

static int gcm_index(const mg_aead_alg *alg, int *out) {
  switch (alg->key_len) {
  case 16:
    *out = C_AES128GCM;
    return 0;
  case 24:
    *out = C_AES192GCM;
    return 0;
  case 32:
    *out = C_AES256GCM;
    return 0;
  default:
    return MG_ERR_INVALID_ARG;
  }
}

int mg_ossl_gcm_seal(const mg_aead_alg *alg, uint8_t *out, const uint8_t *key,
                     const uint8_t *nonce, size_t nonce_len,
                     const uint8_t *aad, size_t aad_len, const uint8_t *pt,
                     size_t pt_len) {
  int c;
  MG_GUARD(gcm_index(alg, &c));
  MG_ENSURE(nonce_len >= 1, MG_ERR_PARAM); /* NIST SP 800-38D §5.2.1.1 */
  return aead_seal(c, out, key, nonce, nonce_len, aad, aad_len, pt, pt_len);
}

int mg_ossl_gcm_open(const mg_aead_alg *alg, uint8_t *out, const uint8_t *key,
                     const uint8_t *nonce, size_t nonce_len,
                     const uint8_t *aad, size_t aad_len, const uint8_t *ct,
                     size_t ct_len) {
  int c;
  MG_GUARD(gcm_index(alg, &c));
  MG_ENSURE(nonce_len >= 1, MG_ERR_PARAM);
  return aead_open(c, out, key, nonce, nonce_len, aad, aad_len, ct, ct_len);
}

int mg_ossl_chacha_seal(const mg_aead_alg *alg, uint8_t *out,
                        const uint8_t *key, const uint8_t *nonce,
                        size_t nonce_len, const uint8_t *aad, size_t aad_len,
                        const uint8_t *pt, size_t pt_len) {
  (void)alg;
  MG_ENSURE(nonce_len == 12, MG_ERR_PARAM); /* RFC 8439 §2.8 */
  return aead_seal(C_CHACHA, out, key, nonce, nonce_len, aad, aad_len, pt,
                   pt_len);
}

int mg_ossl_chacha_open(const mg_aead_alg *alg, uint8_t *out,
                        const uint8_t *key, const uint8_t *nonce,
                        size_t nonce_len, const uint8_t *aad, size_t aad_len,
                        const uint8_t *ct, size_t ct_len) {
  (void)alg;
  MG_ENSURE(nonce_len == 12, MG_ERR_PARAM);
  return aead_open(C_CHACHA, out, key, nonce, nonce_len, aad, aad_len, ct,
                   ct_len);
}

/* ------------------------------------------------------- X25519 and X448 */

static const char *xdh_name(const mg_dh_alg *alg) {
  switch (alg->priv_len) {
  case 32:
    return "X25519";
  case 56:
    return "X448";
  default:
    return NULL;
  }
}

/* Derives the raw public key of a raw X25519/X448/Ed25519/Ed448 private key
 * (OpenSSL computes it on import). */
static int raw_pub_from_priv(const char *name, uint8_t *pub, size_t pub_len,
                             const uint8_t *priv, size_t priv_len) {
  int rc = MG_ERR_CRYPTO_LIB;
  MG_ENSURE(name != NULL, MG_ERR_INVALID_ARG);
  EVP_PKEY *k = EVP_PKEY_new_raw_private_key_ex(NULL, name, NULL, priv, priv_len);
  size_t len = pub_len;
  if (k != NULL && EVP_PKEY_get_raw_public_key(k, pub, &len) == 1 &&
      len == pub_len) {
    rc = 0;
  }
  EVP_PKEY_free(k);
  if (rc < 0) {
    ERR_clear_error();
  }
  return rc;
}

int mg_ossl_xdh_pub_from_priv(const mg_dh_alg *alg, uint8_t *pub,
                              const uint8_t *priv) {
  return raw_pub_from_priv(xdh_name(alg), pub, alg->pub_len, priv,
                           alg->priv_len);
}

int mg_ossl_xdh_generate(const mg_dh_alg *alg, uint8_t *priv, uint8_t *pub) {
  /* RFC 7748 §6: any string of Nsk random bytes is a private key. */
  mg_sodium_random(priv, alg->priv_len);
  int rc = mg_ossl_xdh_pub_from_priv(alg, pub, priv);
  if (rc < 0) {
    mg_memzero(priv, alg->priv_len);
  }
  return rc;
}

/* xdh_priv_key imports a raw X25519/X448 private key for derivation.  The
 * public value is passed as a placeholder so that the import does not derive
 * it: that is a full scalar multiplication (measured: 40% of an OpenSSL
 * X25519 DH, half of an X448 HPKE open), and the provider's derive reads only
 * our private key and the peer's public key (ecx_exch.c).  The key object
 * never leaves this file. */
static EVP_PKEY *xdh_priv_key(const char *name, const uint8_t *priv,
                              size_t len) {
  static const uint8_t placeholder[56];
  EVP_PKEY *k = NULL;
  OSSL_PARAM params[3];
  params[0] = OSSL_PARAM_construct_octet_string(
      OSSL_PKEY_PARAM_PRIV_KEY, (void *)(uintptr_t)priv, len);
  params[1] = OSSL_PARAM_construct_octet_string(
      OSSL_PKEY_PARAM_PUB_KEY, (void *)(uintptr_t)placeholder, len);
  params[2] = OSSL_PARAM_construct_end();
  EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, name, NULL);
  if (c == NULL || EVP_PKEY_fromdata_init(c) != 1 ||
      EVP_PKEY_fromdata(c, &k, EVP_PKEY_KEYPAIR, params) != 1) {
    EVP_PKEY_free(k);
    k = NULL;
  }
  EVP_PKEY_CTX_free(c);
  return k;
}

int mg_ossl_xdh_dh(const mg_dh_alg *alg, uint8_t *out, const uint8_t *priv,
                   const uint8_t *pub) {
  int rc = MG_ERR_CRYPTO_LIB;
  const char *name = xdh_name(alg);
  MG_ENSURE(name != NULL, MG_ERR_INVALID_ARG);
  EVP_PKEY *sk = NULL, *pk = NULL;
  EVP_PKEY_CTX *c = NULL;
  sk = xdh_priv_key(name, priv, alg->priv_len);
  pk = EVP_PKEY_new_raw_public_key_ex(NULL, name, NULL, pub, alg->pub_len);
  if (sk == NULL || pk == NULL) {
    goto out;
  }
  c = EVP_PKEY_CTX_new_from_pkey(NULL, sk, NULL);
  /* RFC 7748 §5: every 32/56-byte string is a valid u-coordinate; there is
   * nothing to validate beyond the all-zero output checked below. */
  if (c == NULL || EVP_PKEY_derive_init(c) != 1 ||
      EVP_PKEY_derive_set_peer_ex(c, pk, 0) != 1) {
    goto out;
  }
  size_t len = alg->secret_len;
  if (EVP_PKEY_derive(c, out, &len) != 1) {
    /* The provider (ecx_exch.c) raises FAILED_DURING_DERIVATION only when
     * ossl_x25519/ossl_x448 report an all-zero output (RFC 7748 §6). */
    unsigned long err = ERR_peek_last_error();
    if (ERR_GET_LIB(err) == ERR_LIB_PROV &&
        ERR_GET_REASON(err) == PROV_R_FAILED_DURING_DERIVATION) {
      rc = MG_ERR_DH_ZERO; /* RFC 9180 §7.1.4 */
    }
    goto out;
  }
  if (len != alg->secret_len) {
    goto out;
  }
  rc = 0;
out:
  EVP_PKEY_CTX_free(c);
  EVP_PKEY_free(sk);
  EVP_PKEY_free(pk);
  if (rc < 0) {
    ERR_clear_error();
    mg_memzero(out, alg->secret_len);
  }
  return rc;
}

/* ----------------------------------------------------------- NIST curves */

static int ec_index(size_t scalar_len, int *out) {
  switch (scalar_len) {
  case 32:
    *out = E_P256;
    return 0;
  case 48:
    *out = E_P384;
    return 0;
  case 66:
    *out = E_P521;
    return 0;
  default:
    return MG_ERR_INVALID_ARG;
  }
}

/* scalar_ok returns 1 if 0 < s < order, in time independent of |s|. */
static int scalar_ok(int e, const uint8_t *s) {
  size_t n = ec_scalar_len[e];
  unsigned borrow = 0, nonzero = 0;
  for (size_t i = n; i-- > 0;) {
    unsigned d = (unsigned)s[i] - (unsigned)g_order[e][i] - borrow;
    borrow = (d >> 8) & 1u;
    nonzero |= s[i];
  }
  /* borrow == 1 iff s < order */
  unsigned nz = (nonzero | (0u - nonzero)) >> 8 & 1u;
  return (int)(borrow & nz);
}

/* scalar_bn parses a validated scalar into a constant-time BIGNUM. */
static BIGNUM *scalar_bn(int e, const uint8_t *s) {
  BIGNUM *bn = BN_secure_new();
  if (bn == NULL) {
    return NULL;
  }
  BN_set_flags(bn, BN_FLG_CONSTTIME);
  if (BN_bin2bn(s, (int)ec_scalar_len[e], bn) == NULL) {
    BN_clear_free(bn);
    return NULL;
  }
  return bn;
}

/* ec_pub computes the uncompressed point s*G into |pub| (1 + 2*len bytes). */
static int ec_pub(int e, uint8_t *pub, const uint8_t *priv) {
  int rc = MG_ERR_CRYPTO_LIB;
  size_t pub_len = 1 + 2 * ec_scalar_len[e];
  MG_ENSURE(scalar_ok(e, priv), MG_ERR_BAD_KEY);
  BN_CTX *bnc = BN_CTX_secure_new();
  BIGNUM *s = scalar_bn(e, priv);
  EC_POINT *p = EC_POINT_new(g_group[e]);
  if (bnc == NULL || s == NULL || p == NULL) {
    goto out;
  }
  if (EC_POINT_mul(g_group[e], p, s, NULL, NULL, bnc) != 1) {
    goto out;
  }
  if (EC_POINT_point2oct(g_group[e], p, POINT_CONVERSION_UNCOMPRESSED, pub,
                         pub_len, bnc) != pub_len) {
    goto out;
  }
  rc = 0;
out:
  EC_POINT_clear_free(p);
  BN_clear_free(s);
  BN_CTX_free(bnc);
  if (rc < 0) {
    ERR_clear_error();
  }
  return rc;
}

/* ec_point parses an uncompressed point and checks that it is on the curve
 * (RFC 9180 §7.1.1 serialization; SEC1 §3.2.2 validation: coordinates in
 * range, curve equation; the curves have cofactor 1).  Errors:
 * MG_ERR_BAD_KEY, MG_ERR_CRYPTO_LIB. */
static int ec_point(int e, EC_POINT **out, const uint8_t *pub, size_t pub_len,
                    BN_CTX *bnc) {
  *out = NULL;
  MG_ENSURE(pub_len == 1 + 2 * ec_scalar_len[e] && pub[0] == 0x04,
            MG_ERR_BAD_KEY);
  EC_POINT *p = EC_POINT_new(g_group[e]);
  if (p == NULL) {
    return ossl_fail();
  }
  if (EC_POINT_oct2point(g_group[e], p, pub, pub_len, bnc) != 1 ||
      EC_POINT_is_at_infinity(g_group[e], p) ||
      EC_POINT_is_on_curve(g_group[e], p, bnc) != 1) {
    EC_POINT_free(p);
    ERR_clear_error();
    return MG_ERR_BAD_KEY;
  }
  *out = p;
  return 0;
}

int mg_ossl_ecdh_pub_from_priv(const mg_dh_alg *alg, uint8_t *pub,
                               const uint8_t *priv) {
  int e;
  MG_GUARD(ec_index(alg->priv_len, &e));
  return ec_pub(e, pub, priv);
}

/* ec_generate draws scalars until one is in range (FIPS 186-5 A.4.2
 * rejection sampling; the top byte is masked to the order's bit length). */
static int ec_generate(int e, uint8_t *priv, uint8_t *pub) {
  size_t n = ec_scalar_len[e];
  uint8_t mask = e == E_P521 ? 0x01 : 0xff;
  for (int tries = 0; tries < 64; tries++) {
    mg_sodium_random(priv, n);
    priv[0] &= mask;
    if (scalar_ok(e, priv)) {
      int rc = ec_pub(e, pub, priv);
      if (rc < 0) {
        mg_memzero(priv, n);
      }
      return rc;
    }
  }
  mg_memzero(priv, n);
  return MG_ERR_CRYPTO_LIB;
}

int mg_ossl_ecdh_generate(const mg_dh_alg *alg, uint8_t *priv, uint8_t *pub) {
  int e;
  MG_GUARD(ec_index(alg->priv_len, &e));
  return ec_generate(e, priv, pub);
}

/* SEC1 §3.3.1 ECDH primitive; RFC 9180 §7.1: Ndh is the X coordinate,
 * fixed length. */
int mg_ossl_ecdh_dh(const mg_dh_alg *alg, uint8_t *out, const uint8_t *priv,
                    const uint8_t *pub) {
  int rc = MG_ERR_CRYPTO_LIB;
  int e;
  MG_GUARD(ec_index(alg->priv_len, &e));
  BN_CTX *bnc = NULL;
  BIGNUM *s = NULL, *x = NULL;
  EC_POINT *q = NULL, *r = NULL;
  if (!scalar_ok(e, priv)) {
    rc = MG_ERR_BAD_KEY;
    goto out;
  }
  bnc = BN_CTX_secure_new();
  if (bnc == NULL) {
    goto out;
  }
  MG_CHECK(ec_point(e, &q, pub, alg->pub_len, bnc));
  rc = MG_ERR_CRYPTO_LIB;
  s = scalar_bn(e, priv);
  r = EC_POINT_new(g_group[e]);
  x = BN_secure_new();
  if (s == NULL || r == NULL || x == NULL) {
    goto out;
  }
  if (EC_POINT_mul(g_group[e], r, NULL, q, s, bnc) != 1) {
    goto out;
  }
  if (EC_POINT_is_at_infinity(g_group[e], r)) {
    rc = MG_ERR_DH_ZERO; /* impossible with prime order and 0 < s < n */
    goto out;
  }
  if (EC_POINT_get_affine_coordinates(g_group[e], r, x, NULL, bnc) != 1 ||
      BN_bn2binpad(x, out, (int)alg->secret_len) != (int)alg->secret_len) {
    goto out;
  }
  rc = 0;
out:
  EC_POINT_free(q);
  EC_POINT_clear_free(r);
  BN_clear_free(s);
  BN_clear_free(x);
  BN_CTX_free(bnc);
  if (rc < 0) {
    ERR_clear_error();
    mg_memzero(out, alg->secret_len);
  }
  return rc;
}

/* ------------------------------------------------------------ signatures */

/* Signing and verification contexts of a prepared ECDSA key.  Each slot
 * lends its EVP_PKEY_CTX to one call at a time (atomic exchange), so a key
 * shared between threads needs no lock, and a key used by one thread does not
 * build a context per call (measured: 8% of a P-256 signature). */
typedef struct {
  _Atomic(EVP_PKEY_CTX *) sign;
  _Atomic(EVP_PKEY_CTX *) verify;
} ossl_ctx_cache;

static void ossl_key_release(mg_sig_key *key) {
  ossl_ctx_cache *cc = key->cache;
  if (cc != NULL) {
    EVP_PKEY_CTX_free(atomic_exchange(&cc->sign, NULL));
    EVP_PKEY_CTX_free(atomic_exchange(&cc->verify, NULL));
    free(cc);
    key->cache = NULL;
  }
  EVP_PKEY_free(key->handle);
  key->handle = NULL;
}

static ossl_ctx_cache *ctx_cache_new(void) {
  ossl_ctx_cache *cc = malloc(sizeof(*cc));
  if (cc != NULL) {
    atomic_init(&cc->sign, NULL);
    atomic_init(&cc->verify, NULL);
  }
  return cc;
}

/* ctx_take returns an EVP_PKEY_CTX initialized for signing (|sign|) or
 * verification with |key|: the cached one if free, else a new one. */
static EVP_PKEY_CTX *ctx_take(const mg_sig_key *key, int sign) {
  ossl_ctx_cache *cc = key->cache;
  EVP_PKEY_CTX *c = NULL;
  if (cc != NULL) {
    c = atomic_exchange(sign ? &cc->sign : &cc->verify, NULL);
    if (c != NULL) {
      return c;
    }
  }
  c = EVP_PKEY_CTX_new_from_pkey(NULL, key->handle, NULL);
  if (c == NULL ||
      (sign ? EVP_PKEY_sign_init(c) : EVP_PKEY_verify_init(c)) != 1) {
    EVP_PKEY_CTX_free(c);
    return NULL;
  }
  return c;
}

/* ctx_give puts |c| back in its slot, or frees it if the slot was refilled
 * meanwhile. */
static void ctx_give(const mg_sig_key *key, int sign, EVP_PKEY_CTX *c) {
  ossl_ctx_cache *cc = key->cache;
  EVP_PKEY_CTX *expected = NULL;
  if (cc == NULL || !atomic_compare_exchange_strong(
                        sign ? &cc->sign : &cc->verify, &expected, c)) {
    EVP_PKEY_CTX_free(c);
  }
}

static const char *eddsa_name(const mg_sig_alg *alg) {
  switch (alg->priv_len) {
  case 32:
    return "ED25519";
  case 57:
    return "ED448";
  default:
    return NULL;
  }
}

int mg_ossl_eddsa_pub_from_priv(const mg_sig_alg *alg, uint8_t *pub,
                                const uint8_t *priv) {
  return raw_pub_from_priv(eddsa_name(alg), pub, alg->pub_len, priv,
                           alg->priv_len);
}

int mg_ossl_eddsa_generate(const mg_sig_alg *alg, uint8_t *priv,
                           uint8_t *pub) {
  /* RFC 8032 §5.1.5 / §5.2.5: the private key is b random bits. */
  mg_sodium_random(priv, alg->priv_len);
  int rc = mg_ossl_eddsa_pub_from_priv(alg, pub, priv);
  if (rc < 0) {
    mg_memzero(priv, alg->priv_len);
  }
  return rc;
}

int mg_ossl_eddsa_key_from_priv(const mg_sig_alg *alg, mg_sig_key **out,
                                const uint8_t *priv, size_t priv_len) {
  const char *name = eddsa_name(alg);
  *out = NULL;
  MG_ENSURE(name != NULL, MG_ERR_INVALID_ARG);
  MG_ENSURE(priv_len == alg->priv_len, MG_ERR_BAD_KEY);
  mg_sig_key *k = NULL;
  MG_GUARD(mg_sig_key_new(alg, &k));
  k->handle = EVP_PKEY_new_raw_private_key_ex(NULL, name, NULL, priv, priv_len);
  if (k->handle == NULL) {
    mg_sig_key_free(k);
    return ossl_fail();
  }
  k->release = ossl_key_release;
  k->has_priv = 1;
  *out = k;
  return 0;
}

/* EdDSA public keys are decoded (RFC 8032 §5.1.3) when a signature is
 * verified; an undecodable key then fails verification. */
int mg_ossl_eddsa_key_from_pub(const mg_sig_alg *alg, mg_sig_key **out,
                               const uint8_t *pub, size_t pub_len) {
  const char *name = eddsa_name(alg);
  *out = NULL;
  MG_ENSURE(name != NULL, MG_ERR_INVALID_ARG);
  MG_ENSURE(pub_len == alg->pub_len, MG_ERR_BAD_KEY);
  mg_sig_key *k = NULL;
  MG_GUARD(mg_sig_key_new(alg, &k));
  k->handle = EVP_PKEY_new_raw_public_key_ex(NULL, name, NULL, pub, pub_len);
  if (k->handle == NULL) {
    mg_sig_key_free(k);
    return ossl_fail();
  }
  k->release = ossl_key_release;
  *out = k;
  return 0;
}

int mg_ossl_eddsa_sign(const mg_sig_alg *alg, const mg_sig_key *key,
                       uint8_t *sig, size_t *sig_len, const uint8_t *msg,
                       size_t msg_len) {
  MG_ENSURE(key != NULL && key->alg == alg && key->has_priv &&
                key->handle != NULL,
            MG_ERR_BAD_KEY);
  int rc = MG_ERR_CRYPTO_LIB;
  EVP_MD_CTX *m = EVP_MD_CTX_new();
  size_t len = alg->max_sig_len;
  /* RFC 8032 PureEdDSA: no prehash, empty context. */
  if (m != NULL &&
      EVP_DigestSignInit_ex(m, NULL, NULL, NULL, NULL, key->handle, NULL) ==
          1 &&
      EVP_DigestSign(m, sig, &len, msg, msg_len) == 1) {
    *sig_len = len;
    rc = 0;
  }
  EVP_MD_CTX_free(m);
  if (rc < 0) {
    ERR_clear_error();
  }
  return rc;
}

int mg_ossl_eddsa_verify(const mg_sig_alg *alg, const mg_sig_key *key,
                         const uint8_t *msg, size_t msg_len,
                         const uint8_t *sig, size_t sig_len) {
  MG_ENSURE(key != NULL && key->alg == alg && key->handle != NULL,
            MG_ERR_BAD_KEY);
  if (sig_len != alg->max_sig_len) {
    return MG_ERR_VERIFY;
  }
  EVP_MD_CTX *m = EVP_MD_CTX_new();
  if (m == NULL) {
    return ossl_fail();
  }
  int rc = MG_ERR_VERIFY;
  if (EVP_DigestVerifyInit_ex(m, NULL, NULL, NULL, NULL, key->handle, NULL) !=
      1) {
    rc = MG_ERR_CRYPTO_LIB;
  } else if (EVP_DigestVerify(m, sig, sig_len, msg, msg_len) == 1) {
    rc = 0;
  }
  EVP_MD_CTX_free(m);
  if (rc < 0) {
    ERR_clear_error();
  }
  return rc;
}

static int ecdsa_index(const mg_sig_alg *alg, int *out) {
  return ec_index(alg->priv_len, out);
}

int mg_ossl_ecdsa_pub_from_priv(const mg_sig_alg *alg, uint8_t *pub,
                                const uint8_t *priv) {
  int e;
  MG_GUARD(ecdsa_index(alg, &e));
  return ec_pub(e, pub, priv);
}

int mg_ossl_ecdsa_generate(const mg_sig_alg *alg, uint8_t *priv,
                           uint8_t *pub) {
  int e;
  MG_GUARD(ecdsa_index(alg, &e));
  return ec_generate(e, priv, pub);
}

/* ec_pkey builds an EC EVP_PKEY from an uncompressed public point and, if
 * |priv| is not NULL, the private scalar.  The parameters are built on the
 * stack (the scalar in native byte order, as OSSL_PARAM integers are) so
 * that the copy can be wiped; OpenSSL 3.0 has no OSSL_PARAM_clear_free. */
static int ec_pkey(int e, EVP_PKEY **out, const uint8_t *pub, size_t pub_len,
                   const uint8_t *priv) {
  int rc = MG_ERR_CRYPTO_LIB;
  size_t n = ec_scalar_len[e];
  uint8_t native[66];
  OSSL_PARAM params[4];
  EVP_PKEY_CTX *c = NULL;
  BIGNUM *s = NULL;
  size_t np = 0;
  *out = NULL;
  params[np++] = OSSL_PARAM_construct_utf8_string(
      OSSL_PKEY_PARAM_GROUP_NAME, (char *)(uintptr_t)ec_group_names[e], 0);
  params[np++] = OSSL_PARAM_construct_octet_string(
      OSSL_PKEY_PARAM_PUB_KEY, (void *)(uintptr_t)pub, pub_len);
  if (priv != NULL) {
    s = scalar_bn(e, priv);
    if (s == NULL || BN_bn2nativepad(s, native, (int)n) != (int)n) {
      goto out;
    }
    params[np++] =
        OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_PRIV_KEY, native, n);
  }
  params[np] = OSSL_PARAM_construct_end();
  c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
  if (c == NULL || EVP_PKEY_fromdata_init(c) != 1 ||
      EVP_PKEY_fromdata(c, out,
                        priv != NULL ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
                        params) != 1) {
    goto out;
  }
  rc = 0;
out:
  EVP_PKEY_CTX_free(c);
  BN_clear_free(s);
  mg_memzero(native, sizeof(native));
  if (rc < 0) {
    ERR_clear_error();
  }
  return rc;
}

int mg_ossl_ecdsa_key_from_priv(const mg_sig_alg *alg, mg_sig_key **out,
                                const uint8_t *priv, size_t priv_len) {
  int rc = 0;
  int e;
  uint8_t pub[MG_MAX_SIG_PUB_LEN];
  mg_sig_key *k = NULL;
  *out = NULL;
  MG_GUARD(ecdsa_index(alg, &e));
  MG_ENSURE(priv_len == alg->priv_len, MG_ERR_BAD_KEY);
  MG_CHECK(ec_pub(e, pub, priv)); /* validates 0 < s < n */
  MG_CHECK(mg_sig_key_new(alg, &k));
  EVP_PKEY *pk = NULL;
  MG_CHECK(ec_pkey(e, &pk, pub, alg->pub_len, priv));
  k->handle = pk;
  k->release = ossl_key_release;
  k->cache = ctx_cache_new();
  if (k->cache == NULL) {
    MG_FAIL(MG_ERR_NOMEM);
  }
  k->has_priv = 1;
  *out = k;
  k = NULL;
out:
  mg_sig_key_free(k);
  return rc;
}

int mg_ossl_ecdsa_key_from_pub(const mg_sig_alg *alg, mg_sig_key **out,
                               const uint8_t *pub, size_t pub_len) {
  int rc = 0;
  int e;
  mg_sig_key *k = NULL;
  BN_CTX *bnc = NULL;
  EC_POINT *q = NULL;
  *out = NULL;
  MG_GUARD(ecdsa_index(alg, &e));
  bnc = BN_CTX_new();
  if (bnc == NULL) {
    MG_FAIL(ossl_fail());
  }
  MG_CHECK(ec_point(e, &q, pub, pub_len, bnc));
  MG_CHECK(mg_sig_key_new(alg, &k));
  EVP_PKEY *pk = NULL;
  MG_CHECK(ec_pkey(e, &pk, pub, pub_len, NULL));
  k->handle = pk;
  k->release = ossl_key_release;
  k->cache = ctx_cache_new();
  if (k->cache == NULL) {
    MG_FAIL(MG_ERR_NOMEM);
  }
  *out = k;
  k = NULL;
out:
  EC_POINT_free(q);
  BN_CTX_free(bnc);
  mg_sig_key_free(k);
  return rc;
}

/* RFC 9420 §5.1.2 / RFC 8446 §4.2.3: ECDSA over the named hash of the
 * message; the signature is DER.  The message is hashed with our own digest
 * and the prehash signed, which avoids a digest fetch per call. */
int mg_ossl_ecdsa_sign(const mg_sig_alg *alg, const mg_sig_key *key,
                       uint8_t *sig, size_t *sig_len, const uint8_t *msg,
                       size_t msg_len) {
  int e;
  MG_GUARD(ecdsa_index(alg, &e));
  MG_ENSURE(key != NULL && key->alg == alg && key->has_priv &&
                key->handle != NULL,
            MG_ERR_BAD_KEY);
  uint8_t dgst[64];
  iov v = {msg, msg_len};
  MG_GUARD(md_run(ec_hash[e], dgst, &v, 1));
  EVP_PKEY_CTX *c = ctx_take(key, 1);
  if (c == NULL) {
    return ossl_fail();
  }
  size_t len = alg->max_sig_len;
  if (EVP_PKEY_sign(c, sig, &len, dgst, md_len[ec_hash[e]]) != 1) {
    EVP_PKEY_CTX_free(c);
    return ossl_fail();
  }
  ctx_give(key, 1, c);
  *sig_len = len;
  return 0;
}

int mg_ossl_ecdsa_verify(const mg_sig_alg *alg, const mg_sig_key *key,
                         const uint8_t *msg, size_t msg_len,
                         const uint8_t *sig, size_t sig_len) {
  int e;
  MG_GUARD(ecdsa_index(alg, &e));
  MG_ENSURE(key != NULL && key->alg == alg && key->handle != NULL,
            MG_ERR_BAD_KEY);
  if (sig_len == 0 || sig_len > alg->max_sig_len) {
    return MG_ERR_VERIFY;
  }
  uint8_t dgst[64];
  iov v = {msg, msg_len};
  MG_GUARD(md_run(ec_hash[e], dgst, &v, 1));
  EVP_PKEY_CTX *c = ctx_take(key, 0);
  if (c == NULL) {
    return ossl_fail();
  }
  /* OpenSSL re-encodes the parsed signature and requires the same bytes, so
   * BER variants and trailing data are rejected (strict DER). */
  int rc = EVP_PKEY_verify(c, sig, sig_len, dgst, md_len[ec_hash[e]]) == 1
               ? 0
               : MG_ERR_VERIFY;
  ctx_give(key, 0, c);
  ERR_clear_error();
  return rc;
}
