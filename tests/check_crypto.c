/*
 * Check suite for the algorithm objects of src/crypto (crypto.h, suite.h).
 *
 * Every test that has a loop index runs once per object, and the object
 * tables include both backends wherever both libraries implement the
 * primitive (the *_openssl / *_sodium alternates of backend.h, picotls
 * t/openssl.c style), so the same assertions hold for each backend:
 *
 *  - hashes and HMAC: FIPS 180 "abc" and RFC 4231 test case 2 known answers;
 *    both backends identical over many lengths and key sizes;
 *  - HKDF: RFC 5869 A.1 and A.3 known answers, the 255*Nh limit, in-place
 *    expand, empty salt = zero salt;
 *  - AEAD: round trips (in place too), tampered tag/ct/aad/nonce/key give
 *    MG_ERR_AUTH with the output zeroed, short input, nonce lengths
 *    (MG_ERR_PARAM), GCM with long IVs, a GCM known answer, both backends
 *    identical;
 *  - DH: agreement both ways, pub_from_priv = generate, invalid points and
 *    scalars (MG_ERR_BAD_KEY), all-zero X25519/X448 output (MG_ERR_DH_ZERO),
 *    both X25519 backends identical (non-canonical inputs too);
 *  - signatures: round trips, every flipped signature byte / flipped message /
 *    truncated or extended signature gives MG_ERR_VERIFY, wrong-length and
 *    out-of-range keys give MG_ERR_BAD_KEY, RFC 8032 test 1, both Ed25519
 *    backends identical;
 *  - the KEM and MLS suite tables (RFC 9180 §7.1, RFC 9420 §17.1);
 *  - per-thread backend state and a shared prepared key under concurrent
 *    use;
 *  - every Wycheproof file under $MLSGATE_VECTORS/wycheproof through the
 *    self-test kind (one loop iteration per file): 0 failed, 0 skipped,
 *    passed == numberOfTests.
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hex.h"
#include "crypto/backend.h"
#include "crypto/crypto.h"
#include "crypto/suite.h"
#include "mlsgate/err.h"
#include "selftest/selftest.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* unhex decodes a hex literal into |out| (at most |max| bytes) and returns
 * its length; the literal is trusted test data. */
static size_t unhex(uint8_t *out, size_t max, const char *hex) {
  uint8_t *p = NULL;
  size_t len = 0;
  ck_assert_int_eq(mg_hex_decode(&p, &len, hex, strlen(hex)), 0);
  ck_assert_uint_le(len, max);
  if (len > 0) {
    memcpy(out, p, len);
  }
  free(p);
  return len;
}

static int all_equal(const uint8_t *p, size_t len, uint8_t v) {
  for (size_t i = 0; i < len; i++) {
    if (p[i] != v) {
      return 0;
    }
  }
  return 1;
}

static void rnd(uint8_t *p, size_t len) {
  ck_assert_int_eq(mg_random_bytes(p, len), 0);
}

/* ------------------------------------------------------------- objects */

typedef struct {
  const mg_hash_alg *alg;
  const char *backend;
} hash_obj;

static const hash_obj hashes[] = {
    {&mg_sha256, "exported"},          {&mg_sha384, "exported"},
    {&mg_sha512, "exported"},          {&mg_sha256_openssl, "openssl"},
    {&mg_sha256_sodium, "sodium"},     {&mg_sha512_openssl, "openssl"},
    {&mg_sha512_sodium, "sodium"},
};

typedef struct {
  const mg_kdf_alg *alg;
  const char *backend;
} kdf_obj;

static const kdf_obj kdfs[] = {
    {&mg_hkdf_sha256, "exported"},         {&mg_hkdf_sha384, "exported"},
    {&mg_hkdf_sha512, "exported"},         {&mg_hkdf_sha256_openssl, "openssl"},
    {&mg_hkdf_sha256_sodium, "sodium"},    {&mg_hkdf_sha512_openssl, "openssl"},
    {&mg_hkdf_sha512_sodium, "sodium"},
};

typedef struct {
  const mg_aead_alg *alg;
  const char *backend;
  int any_gcm_nonce; /* accepts every nonce length >= 1 */
} aead_obj;

static const aead_obj aeads[] = {
    {&mg_aes128gcm, "exported", 1},
    {&mg_aes192gcm, "exported", 1},
    {&mg_aes256gcm, "exported", 1},
    {&mg_chacha20poly1305, "exported", 0},
    {&mg_xchacha20poly1305, "exported", 0},
    {&mg_aes256gcm_openssl, "openssl", 1},
    {&mg_aes256gcm_sodium, "sodium", 0},
    {&mg_chacha20poly1305_openssl, "openssl", 0},
    {&mg_chacha20poly1305_sodium, "sodium", 0},
};

typedef struct {
  const mg_dh_alg *alg;
  const char *backend;
} dh_obj;

static const dh_obj dhs[] = {
    {&mg_dh_x25519, "exported"},       {&mg_dh_x448, "exported"},
    {&mg_dh_p256, "exported"},         {&mg_dh_p384, "exported"},
    {&mg_dh_p521, "exported"},         {&mg_dh_x25519_openssl, "openssl"},
    {&mg_dh_x25519_sodium, "sodium"},
};

typedef struct {
  const mg_sig_alg *alg;
  const char *backend;
  int ecdsa;
} sig_obj;

static const sig_obj sigs[] = {
    {&mg_sig_ed25519, "exported", 0},
    {&mg_sig_ed448, "exported", 0},
    {&mg_sig_ecdsa_p256_sha256, "exported", 1},
    {&mg_sig_ecdsa_p384_sha384, "exported", 1},
    {&mg_sig_ecdsa_p521_sha512, "exported", 1},
    {&mg_sig_ed25519_openssl, "openssl", 0},
    {&mg_sig_ed25519_sodium, "sodium", 0},
};

/* Group orders (SEC 2 / FIPS 186-5), big-endian at the scalar length. */
static const char *order_hex(size_t priv_len) {
  switch (priv_len) {
  case 32:
    return "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";
  case 48:
    return "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf"
           "581a0db248b0a77aecec196accc52973";
  case 66:
    return "01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
           "fffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e9138"
           "6409";
  default:
    return NULL;
  }
}

/* -------------------------------------------------------------- init */

START_TEST(test_init_random) {
  ck_assert_int_eq(mg_crypto_init(), 0);
  ck_assert_int_eq(mg_crypto_init(), 0); /* idempotent */
  uint8_t a[32] = {0}, b[32] = {0};
  rnd(a, sizeof(a));
  rnd(b, sizeof(b));
  ck_assert_mem_ne(a, b, sizeof(a));
  ck_assert_int_eq(mg_random_bytes(a, 0), 0);
  ck_assert_int_eq(mg_random_bytes(NULL, 0), 0);
}
END_TEST

/* -------------------------------------------------------------- hashes */

START_TEST(test_hash_kat) {
  const mg_hash_alg *h = hashes[_i].alg;
  /* FIPS 180-4 examples ("abc") and RFC 4231 §4.3 (test case 2). */
  const char *abc = NULL, *tc2 = NULL;
  switch (h->digest_len) {
  case 32:
    abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    tc2 = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
    ck_assert_uint_eq(h->block_len, 64);
    break;
  case 48:
    abc = "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed"
          "8086072ba1e7cc2358baeca134c825a7";
    tc2 = "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e"
          "8e2240ca5e69e2c78b3239ecfab21649";
    ck_assert_uint_eq(h->block_len, 128);
    break;
  case 64:
    abc = "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
          "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f";
    tc2 = "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
          "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737";
    ck_assert_uint_eq(h->block_len, 128);
    break;
  default:
    ck_abort_msg("unexpected digest length %zu", h->digest_len);
  }
  uint8_t want[MG_MAX_HASH_LEN], got[MG_MAX_HASH_LEN];
  ck_assert_uint_eq(unhex(want, sizeof(want), abc), h->digest_len);
  ck_assert_int_eq(h->digest(h, got, (const uint8_t *)"abc", 3), 0);
  ck_assert_mem_eq(got, want, h->digest_len);
  const char *msg = "what do ya want for nothing?";
  ck_assert_uint_eq(unhex(want, sizeof(want), tc2), h->digest_len);
  ck_assert_int_eq(h->hmac(h, got, (const uint8_t *)"Jefe", 4,
                           (const uint8_t *)msg, strlen(msg)),
                   0);
  ck_assert_mem_eq(got, want, h->digest_len);
}
END_TEST

/* Both backends' SHA-256 and SHA-512 give the same digests and MACs, for
 * lengths around the block size and keys shorter/longer than a block. */
START_TEST(test_hash_backends_agree) {
  const mg_hash_alg *pairs[2][2] = {{&mg_sha256_openssl, &mg_sha256_sodium},
                                    {&mg_sha512_openssl, &mg_sha512_sodium}};
  const mg_hash_alg *exported[2] = {&mg_sha256, &mg_sha512};
  const mg_hash_alg *a = pairs[_i][0], *b = pairs[_i][1];
  static const size_t lens[] = {0, 1, 55, 56, 63, 64, 65, 111, 112, 127,
                                128, 129, 200, 1000};
  uint8_t buf[1000], key[300];
  rnd(buf, sizeof(buf));
  rnd(key, sizeof(key));
  for (size_t l = 0; l < ARRAY_LEN(lens); l++) {
    uint8_t da[64], db[64], de[64];
    ck_assert_int_eq(a->digest(a, da, buf, lens[l]), 0);
    ck_assert_int_eq(b->digest(b, db, buf, lens[l]), 0);
    ck_assert_int_eq(exported[_i]->digest(exported[_i], de, buf, lens[l]), 0);
    ck_assert_mem_eq(da, db, a->digest_len);
    ck_assert_mem_eq(da, de, a->digest_len);
    size_t klen = lens[l] < sizeof(key) ? lens[l] : sizeof(key);
    ck_assert_int_eq(a->hmac(a, da, key, klen, buf, lens[l]), 0);
    ck_assert_int_eq(b->hmac(b, db, key, klen, buf, lens[l]), 0);
    ck_assert_mem_eq(da, db, a->digest_len);
  }
  /* A key longer than the block is hashed first (RFC 2104 §2). */
  uint8_t k1[64], k2[64];
  ck_assert_int_eq(a->digest(a, k1, key, 300), 0);
  ck_assert_int_eq(a->hmac(a, k2, key, 300, buf, 10), 0);
  uint8_t k3[64];
  ck_assert_int_eq(a->hmac(a, k3, k1, a->digest_len, buf, 10), 0);
  ck_assert_mem_eq(k2, k3, a->digest_len);
}
END_TEST

/* ---------------------------------------------------------------- HKDF */

START_TEST(test_hkdf_rfc5869) {
  /* RFC 5869 A.1 and A.3 (SHA-256), for every SHA-256 HKDF object. */
  const mg_kdf_alg *objs[] = {&mg_hkdf_sha256, &mg_hkdf_sha256_openssl,
                              &mg_hkdf_sha256_sodium};
  const mg_kdf_alg *k = objs[_i];
  uint8_t ikm[22], salt[13], info[10], prk[32], okm[42], want[42];
  memset(ikm, 0x0b, sizeof(ikm));
  for (size_t j = 0; j < sizeof(salt); j++) {
    salt[j] = (uint8_t)j;
  }
  for (size_t j = 0; j < sizeof(info); j++) {
    info[j] = (uint8_t)(0xf0 + j);
  }
  ck_assert_int_eq(k->extract(k, prk, salt, 13, ikm, 22), 0);
  unhex(want, sizeof(want),
        "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5");
  ck_assert_mem_eq(prk, want, 32);
  ck_assert_int_eq(k->expand(k, okm, 42, prk, 32, info, 10), 0);
  unhex(want, sizeof(want),
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34"
        "007208d5b887185865");
  ck_assert_mem_eq(okm, want, 42);
  /* A.3: zero-length salt and info. */
  ck_assert_int_eq(k->extract(k, prk, NULL, 0, ikm, 22), 0);
  unhex(want, sizeof(want),
        "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04");
  ck_assert_mem_eq(prk, want, 32);
  ck_assert_int_eq(k->expand(k, okm, 42, prk, 32, NULL, 0), 0);
  unhex(want, sizeof(want),
        "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d"
        "201395faa4b61a96c8");
  ck_assert_mem_eq(okm, want, 42);
  ck_assert_uint_eq(k->id, 0x0001);
  ck_assert_uint_eq(k->nh, 32);
}
END_TEST

START_TEST(test_hkdf_limits) {
  const mg_kdf_alg *k = kdfs[_i].alg;
  size_t nh = k->nh;
  ck_assert_uint_eq(nh, k->hash->digest_len);
  uint8_t prk[64], info[40];
  rnd(prk, sizeof(prk));
  rnd(info, sizeof(info));
  size_t max = 255 * nh;
  uint8_t *out = malloc(max + 1);
  ck_assert_ptr_nonnull(out);
  /* RFC 5869 §2.3: L <= 255*HashLen. */
  ck_assert_int_eq(k->expand(k, out, max, prk, nh, info, sizeof(info)), 0);
  uint8_t first[64];
  memcpy(first, out, nh);
  ck_assert_int_eq(k->expand(k, out, max + 1, prk, nh, info, sizeof(info)),
                   MG_ERR_PARAM);
  ck_assert_int_eq(k->expand(k, out, SIZE_MAX / 2, prk, nh, NULL, 0),
                   MG_ERR_PARAM);
  ck_assert_int_eq(k->expand(k, out, 0, prk, nh, info, sizeof(info)), 0);
  /* A shorter output is a prefix of a longer one. */
  uint8_t short_out[70];
  ck_assert_int_eq(k->expand(k, short_out, nh + 1, prk, nh, info, 40), 0);
  ck_assert_mem_eq(short_out, first, nh);
  /* In place: |out| == |prk|. */
  uint8_t inplace[64];
  memcpy(inplace, prk, nh);
  ck_assert_int_eq(k->expand(k, inplace, nh, inplace, nh, info, 40), 0);
  ck_assert_mem_eq(inplace, first, nh);
  /* RFC 5869 §2.2: an absent salt is HashLen zero octets. */
  uint8_t zero[64] = {0}, p1[64], p2[64];
  ck_assert_int_eq(k->extract(k, p1, NULL, 0, info, 40), 0);
  ck_assert_int_eq(k->extract(k, p2, zero, nh, info, 40), 0);
  ck_assert_mem_eq(p1, p2, nh);
  free(out);
}
END_TEST

START_TEST(test_hkdf_backends_agree) {
  const mg_kdf_alg *pairs[2][2] = {
      {&mg_hkdf_sha256_openssl, &mg_hkdf_sha256_sodium},
      {&mg_hkdf_sha512_openssl, &mg_hkdf_sha512_sodium}};
  const mg_kdf_alg *a = pairs[_i][0], *b = pairs[_i][1];
  uint8_t salt[200], ikm[100], info[300], pa[64], pb[64];
  rnd(salt, sizeof(salt));
  rnd(ikm, sizeof(ikm));
  rnd(info, sizeof(info));
  static const size_t salt_lens[] = {0, 1, 64, 128, 129, 200};
  static const size_t out_lens[] = {1, 31, 32, 33, 64, 65, 500};
  for (size_t s = 0; s < ARRAY_LEN(salt_lens); s++) {
    ck_assert_int_eq(a->extract(a, pa, salt, salt_lens[s], ikm, 100), 0);
    ck_assert_int_eq(b->extract(b, pb, salt, salt_lens[s], ikm, 100), 0);
    ck_assert_mem_eq(pa, pb, a->nh);
    for (size_t o = 0; o < ARRAY_LEN(out_lens); o++) {
      uint8_t oa[500], ob[500];
      ck_assert_int_eq(a->expand(a, oa, out_lens[o], pa, a->nh, info,
                                 salt_lens[s]),
                       0);
      ck_assert_int_eq(b->expand(b, ob, out_lens[o], pb, b->nh, info,
                                 salt_lens[s]),
                       0);
      ck_assert_mem_eq(oa, ob, out_lens[o]);
    }
  }
}
END_TEST

/* ---------------------------------------------------------------- AEAD */

#define AEAD_MAX 1100

static int aead_usable(const mg_aead_alg *a) {
  /* libsodium's AES-256-GCM needs hardware AES. */
  return a != &mg_aes256gcm_sodium || mg_sodium_aes256gcm_available();
}

START_TEST(test_aead_roundtrip) {
  const mg_aead_alg *a = aeads[_i].alg;
  if (!aead_usable(a)) {
    return;
  }
  ck_assert_uint_eq(a->tag_len, 16);
  ck_assert_uint_le(a->key_len, MG_MAX_AEAD_KEY_LEN);
  ck_assert_uint_le(a->nonce_len, MG_MAX_AEAD_NONCE_LEN);
  static const size_t lens[] = {0, 1, 15, 16, 17, 100, 1024};
  uint8_t key[32], nonce[24], aad[50], pt[1024], ct[1024 + 16], back[1024];
  for (size_t l = 0; l < ARRAY_LEN(lens); l++) {
    size_t n = lens[l];
    rnd(key, sizeof(key));
    rnd(nonce, sizeof(nonce));
    rnd(aad, sizeof(aad));
    rnd(pt, sizeof(pt));
    size_t aad_len = l % 2 ? 0 : sizeof(aad);
    ck_assert_int_eq(a->seal(a, ct, key, nonce, a->nonce_len, aad, aad_len,
                             pt, n),
                     0);
    ck_assert_int_eq(a->open(a, back, key, nonce, a->nonce_len, aad, aad_len,
                             ct, n + 16),
                     0);
    ck_assert_mem_eq(back, pt, n);
    /* In place: out == pt for seal, out == ct for open. */
    uint8_t buf[1024 + 16];
    memcpy(buf, pt, n);
    ck_assert_int_eq(a->seal(a, buf, key, nonce, a->nonce_len, aad, aad_len,
                             buf, n),
                     0);
    ck_assert_mem_eq(buf, ct, n + 16);
    ck_assert_int_eq(a->open(a, buf, key, nonce, a->nonce_len, aad, aad_len,
                             buf, n + 16),
                     0);
    ck_assert_mem_eq(buf, pt, n);
  }
}
END_TEST

/* tamper_case flips one bit of one input and checks MG_ERR_AUTH with the
 * output zeroed. */
START_TEST(test_aead_tamper) {
  const mg_aead_alg *a = aeads[_i].alg;
  if (!aead_usable(a)) {
    return;
  }
  uint8_t key[32], nonce[24], aad[20], pt[64], ct[64 + 16], out[64];
  rnd(key, sizeof(key));
  rnd(nonce, sizeof(nonce));
  rnd(aad, sizeof(aad));
  rnd(pt, sizeof(pt));
  ck_assert_int_eq(
      a->seal(a, ct, key, nonce, a->nonce_len, aad, sizeof(aad), pt, 64), 0);
  for (int what = 0; what < 6; what++) {
    uint8_t *target = NULL;
    switch (what) {
    case 0:
      target = ct + 64; /* tag */
      break;
    case 1:
      target = ct + 79; /* last tag byte */
      break;
    case 2:
      target = ct + 3; /* ciphertext */
      break;
    case 3:
      target = aad + 7;
      break;
    case 4:
      target = nonce + a->nonce_len - 1;
      break;
    default:
      target = key + a->key_len - 1;
      break;
    }
    *target ^= 0x01;
    memset(out, 0xa5, sizeof(out));
    ck_assert_int_eq(a->open(a, out, key, nonce, a->nonce_len, aad,
                             sizeof(aad), ct, sizeof(ct)),
                     MG_ERR_AUTH);
    ck_assert_msg(all_equal(out, sizeof(out), 0),
                  "%s/%s: output not zeroed after tamper %d", a->name,
                  aeads[_i].backend, what);
    *target ^= 0x01;
  }
  /* Wrong AAD length. */
  ck_assert_int_eq(a->open(a, out, key, nonce, a->nonce_len, aad,
                           sizeof(aad) - 1, ct, sizeof(ct)),
                   MG_ERR_AUTH);
  /* Shorter than a tag. */
  ck_assert_int_eq(
      a->open(a, out, key, nonce, a->nonce_len, aad, sizeof(aad), ct, 15),
      MG_ERR_AUTH);
  ck_assert_int_eq(
      a->open(a, out, key, nonce, a->nonce_len, aad, sizeof(aad), ct, 0),
      MG_ERR_AUTH);
  /* Untampered still opens. */
  ck_assert_int_eq(a->open(a, out, key, nonce, a->nonce_len, aad,
                           sizeof(aad), ct, sizeof(ct)),
                   0);
  ck_assert_mem_eq(out, pt, 64);
}
END_TEST

START_TEST(test_aead_nonce_lengths) {
  const mg_aead_alg *a = aeads[_i].alg;
  if (!aead_usable(a)) {
    return;
  }
  static uint8_t nonce[300];
  uint8_t key[32] = {7}, pt[33] = {1}, ct[33 + 16], back[33];
  rnd(nonce, sizeof(nonce));
  static const size_t lens[] = {0, 1, 8, 11, 12, 13, 16, 23, 24, 25, 128, 129,
                                257, 300};
  for (size_t l = 0; l < ARRAY_LEN(lens); l++) {
    size_t n = lens[l];
    int ok = aeads[_i].any_gcm_nonce ? n >= 1 : n == a->nonce_len;
    int rc = a->seal(a, ct, key, nonce, n, NULL, 0, pt, sizeof(pt));
    int rc2 = a->open(a, back, key, nonce, n, NULL, 0, ct, sizeof(ct));
    if (ok) {
      ck_assert_msg(rc == 0 && rc2 == 0, "%s/%s nonce %zu: %d %d", a->name,
                    aeads[_i].backend, n, rc, rc2);
      ck_assert_mem_eq(back, pt, sizeof(pt));
    } else {
      ck_assert_msg(rc == MG_ERR_PARAM && rc2 == MG_ERR_PARAM,
                    "%s/%s nonce %zu: %d %d, want MG_ERR_PARAM", a->name,
                    aeads[_i].backend, n, rc, rc2);
    }
  }
}
END_TEST

START_TEST(test_aead_gcm_kat) {
  /* The GCM specification's test case 2 (McGrew & Viega): K = 0^128,
   * IV = 0^96, P = 0^128. */
  uint8_t key[16] = {0}, iv[12] = {0}, pt[16] = {0}, ct[32], want[32];
  unhex(want, sizeof(want),
        "0388dace60b6a392f328c2b971b2fe78ab6e47d42cec13bdf53a67b21257bddf");
  ck_assert_int_eq(mg_aes128gcm.seal(&mg_aes128gcm, ct, key, iv, 12, NULL, 0,
                                     pt, 16),
                   0);
  ck_assert_mem_eq(ct, want, 32);
  ck_assert_uint_eq(mg_aes128gcm.id, 0x0001);
  ck_assert_uint_eq(mg_aes256gcm.id, 0x0002);
  ck_assert_uint_eq(mg_chacha20poly1305.id, 0x0003);
  ck_assert_uint_eq(mg_aes192gcm.id, 0);
  ck_assert_uint_eq(mg_xchacha20poly1305.id, 0);
  ck_assert_uint_eq(mg_xchacha20poly1305.nonce_len, 24);
}
END_TEST

START_TEST(test_aead_backends_agree) {
  const mg_aead_alg *pairs[2][2] = {
      {&mg_aes256gcm_openssl, &mg_aes256gcm_sodium},
      {&mg_chacha20poly1305_openssl, &mg_chacha20poly1305_sodium}};
  const mg_aead_alg *a = pairs[_i][0], *b = pairs[_i][1];
  if (!aead_usable(b)) {
    return;
  }
  for (int iter = 0; iter < 20; iter++) {
    uint8_t key[32], nonce[12], aad[64], pt[300], ca[316], cb[316], back[300];
    rnd(key, sizeof(key));
    rnd(nonce, sizeof(nonce));
    rnd(aad, sizeof(aad));
    rnd(pt, sizeof(pt));
    size_t n = (size_t)iter * 15, alen = (size_t)iter * 3;
    ck_assert_int_eq(a->seal(a, ca, key, nonce, 12, aad, alen, pt, n), 0);
    ck_assert_int_eq(b->seal(b, cb, key, nonce, 12, aad, alen, pt, n), 0);
    ck_assert_mem_eq(ca, cb, n + 16);
    ck_assert_int_eq(a->open(a, back, key, nonce, 12, aad, alen, cb, n + 16),
                     0);
    ck_assert_int_eq(b->open(b, back, key, nonce, 12, aad, alen, ca, n + 16),
                     0);
    ck_assert_mem_eq(back, pt, n);
  }
}
END_TEST

/* ------------------------------------------------------------------ DH */

static int is_nist(const mg_dh_alg *d) { return d->derive_bitmask != 0; }

START_TEST(test_dh_agree) {
  const mg_dh_alg *d = dhs[_i].alg;
  ck_assert_uint_le(d->priv_len, MG_MAX_DH_PRIV_LEN);
  ck_assert_uint_le(d->pub_len, MG_MAX_DH_PUB_LEN);
  ck_assert_uint_le(d->secret_len, MG_MAX_DH_SECRET_LEN);
  for (int iter = 0; iter < 3; iter++) {
    uint8_t a[66], b[66], pa[133], pb[133], p2[133], s1[66], s2[66];
    ck_assert_int_eq(d->generate(d, a, pa), 0);
    ck_assert_int_eq(d->generate(d, b, pb), 0);
    ck_assert_mem_ne(a, b, d->priv_len);
    ck_assert_int_eq(d->pub_from_priv(d, p2, a), 0);
    ck_assert_mem_eq(p2, pa, d->pub_len);
    ck_assert_int_eq(d->dh(d, s1, a, pb), 0);
    ck_assert_int_eq(d->dh(d, s2, b, pa), 0);
    ck_assert_mem_eq(s1, s2, d->secret_len);
    if (is_nist(d)) {
      ck_assert_uint_eq(pa[0], 0x04);
      ck_assert_uint_eq(d->pub_len, 1 + 2 * d->priv_len);
      ck_assert_uint_eq(d->secret_len, d->priv_len);
    }
  }
}
END_TEST

START_TEST(test_dh_invalid_pub) {
  const mg_dh_alg *d = dhs[_i].alg;
  uint8_t a[66], pa[133], bad[133], out[66];
  ck_assert_int_eq(d->generate(d, a, pa), 0);
  if (is_nist(d)) {
    /* RFC 9180 §7.1.1: only the uncompressed form; SEC1 §3.2.2: on the
     * curve. */
    static const uint8_t prefixes[] = {0x00, 0x02, 0x03, 0x05, 0x06, 0x07};
    for (size_t p = 0; p < ARRAY_LEN(prefixes); p++) {
      memcpy(bad, pa, d->pub_len);
      bad[0] = prefixes[p];
      memset(out, 0xa5, sizeof(out));
      ck_assert_int_eq(d->dh(d, out, a, bad), MG_ERR_BAD_KEY);
      ck_assert(all_equal(out, d->secret_len, 0));
    }
    memcpy(bad, pa, d->pub_len);
    bad[d->pub_len - 1] ^= 0x01; /* y changed: off the curve */
    ck_assert_int_eq(d->dh(d, out, a, bad), MG_ERR_BAD_KEY);
    memset(bad, 0, d->pub_len);
    bad[0] = 0x04; /* (0, 0) */
    ck_assert_int_eq(d->dh(d, out, a, bad), MG_ERR_BAD_KEY);
    /* Coordinates >= p: all-ones for P-256/P-384; for P-521 the 66-byte
     * value 01ff..ff is 2^521 - 1 = p. */
    memset(bad + 1, 0xff, d->pub_len - 1);
    if (d->priv_len == 66) {
      bad[1] = 0x01;
      bad[1 + 66] = 0x01;
    }
    ck_assert_int_eq(d->dh(d, out, a, bad), MG_ERR_BAD_KEY);
    ck_assert(all_equal(out, d->secret_len, 0));
  } else {
    /* RFC 7748 §6.1 / RFC 9180 §7.1.4: u = 0 gives an all-zero output. */
    memset(bad, 0, d->pub_len);
    memset(out, 0xa5, sizeof(out));
    ck_assert_int_eq(d->dh(d, out, a, bad), MG_ERR_DH_ZERO);
    ck_assert(all_equal(out, d->secret_len, 0));
    if (d->priv_len == 32) {
      bad[0] = 1; /* u = 1: a point of order 4 on Curve25519 */
      memset(out, 0xa5, sizeof(out));
      ck_assert_int_eq(d->dh(d, out, a, bad), MG_ERR_DH_ZERO);
      ck_assert(all_equal(out, d->secret_len, 0));
    }
  }
  /* The key pair still works. */
  ck_assert_int_eq(d->dh(d, out, a, pa), 0);
}
END_TEST

START_TEST(test_dh_invalid_priv) {
  const mg_dh_alg *d = dhs[_i].alg;
  uint8_t b[66], pb[133], out[66], pub[133], s[66];
  ck_assert_int_eq(d->generate(d, b, pb), 0);
  if (!is_nist(d)) {
    /* Every Nsk-byte string is an X25519/X448 private key (RFC 7748 §5). */
    memset(s, 0, sizeof(s));
    ck_assert_int_eq(d->pub_from_priv(d, pub, s), 0);
    memset(s, 0xff, sizeof(s));
    ck_assert_int_eq(d->pub_from_priv(d, pub, s), 0);
    return;
  }
  const char *order = order_hex(d->priv_len);
  ck_assert_ptr_nonnull(order);
  uint8_t n[66];
  ck_assert_uint_eq(unhex(n, sizeof(n), order), d->priv_len);
  /* 0, n, n + 1 and all-ones are out of range (RFC 9180 §7.1.3 rejects
   * them in DeriveKeyPair; we reject them everywhere). */
  for (int which = 0; which < 4; which++) {
    switch (which) {
    case 0:
      memset(s, 0, d->priv_len);
      break;
    case 1:
      memcpy(s, n, d->priv_len);
      break;
    case 2:
      memcpy(s, n, d->priv_len);
      s[d->priv_len - 1]++; /* n ends in ...51/73/09: no carry */
      break;
    default:
      memset(s, 0xff, d->priv_len);
      break;
    }
    memset(out, 0xa5, sizeof(out));
    ck_assert_int_eq(d->pub_from_priv(d, pub, s), MG_ERR_BAD_KEY);
    ck_assert_int_eq(d->dh(d, out, s, pb), MG_ERR_BAD_KEY);
    ck_assert(all_equal(out, d->secret_len, 0));
  }
  /* n - 1 and 1 are valid; (n-1)G = -G has G's x coordinate. */
  uint8_t g[133], mg[133];
  memcpy(s, n, d->priv_len);
  s[d->priv_len - 1]--;
  ck_assert_int_eq(d->pub_from_priv(d, mg, s), 0);
  memset(s, 0, d->priv_len);
  s[d->priv_len - 1] = 1;
  ck_assert_int_eq(d->pub_from_priv(d, g, s), 0);
  ck_assert_mem_eq(g + 1, mg + 1, d->priv_len);
  ck_assert_mem_ne(g + 1 + d->priv_len, mg + 1 + d->priv_len, d->priv_len);
  /* dh(1, B) = x(B) */
  ck_assert_int_eq(d->dh(d, out, s, pb), 0);
  ck_assert_mem_eq(out, pb + 1, d->secret_len);
}
END_TEST

START_TEST(test_x25519_backends_agree) {
  const mg_dh_alg *a = &mg_dh_x25519_openssl, *b = &mg_dh_x25519_sodium;
  for (int iter = 0; iter < 10; iter++) {
    uint8_t sk[32], peer[32], pa[32], pb[32], sa[32], sb[32];
    rnd(sk, sizeof(sk));
    rnd(peer, sizeof(peer));
    ck_assert_int_eq(a->pub_from_priv(a, pa, sk), 0);
    ck_assert_int_eq(b->pub_from_priv(b, pb, sk), 0);
    ck_assert_mem_eq(pa, pb, 32);
    /* Random u (half of them on the twist, bit 255 set half the time):
     * RFC 7748 §5 masks bit 255; the results must agree. */
    int ra = a->dh(a, sa, sk, peer), rb = b->dh(b, sb, sk, peer);
    ck_assert_int_eq(ra, 0);
    ck_assert_int_eq(rb, 0);
    ck_assert_mem_eq(sa, sb, 32);
    /* Non-canonical u = p + 3 .. p + 18 (p = 2^255 - 19) equals u - p. */
    uint8_t nc[32], canon[32] = {0};
    memset(nc, 0xff, sizeof(nc));
    nc[31] = 0x7f;
    nc[0] = (uint8_t)(0xed + 3 + iter);
    canon[0] = (uint8_t)(3 + iter);
    ck_assert_int_eq(a->dh(a, sa, sk, nc), 0);
    ck_assert_int_eq(b->dh(b, sb, sk, nc), 0);
    ck_assert_mem_eq(sa, sb, 32);
    ck_assert_int_eq(b->dh(b, sb, sk, canon), 0);
    ck_assert_mem_eq(sa, sb, 32);
  }
}
END_TEST

START_TEST(test_kem_table) {
  /* RFC 9180 §7.1: id, Nsecret, Nenc, Npk, Nsk, and the KEM's KDF. */
  const struct {
    const mg_kem_alg *kem;
    uint16_t id;
    const mg_dh_alg *dh;
    const mg_kdf_alg *kdf;
    size_t nsecret, nenc, npk, nsk;
    uint8_t bitmask;
  } t[] = {
      {&mg_kem_p256_sha256, 0x0010, &mg_dh_p256, &mg_hkdf_sha256, 32, 65, 65,
       32, 0xff},
      {&mg_kem_p384_sha384, 0x0011, &mg_dh_p384, &mg_hkdf_sha384, 48, 97, 97,
       48, 0xff},
      {&mg_kem_p521_sha512, 0x0012, &mg_dh_p521, &mg_hkdf_sha512, 64, 133,
       133, 66, 0x01},
      {&mg_kem_x25519_sha256, 0x0020, &mg_dh_x25519, &mg_hkdf_sha256, 32, 32,
       32, 32, 0x00},
      {&mg_kem_x448_sha512, 0x0021, &mg_dh_x448, &mg_hkdf_sha512, 64, 56, 56,
       56, 0x00},
  };
  for (size_t i = 0; i < ARRAY_LEN(t); i++) {
    const mg_kem_alg *k = t[i].kem;
    ck_assert_uint_eq(k->id, t[i].id);
    ck_assert_ptr_eq(k->dh, t[i].dh);
    ck_assert_ptr_eq(k->kdf, t[i].kdf);
    ck_assert_uint_eq(k->secret_len, t[i].nsecret);
    ck_assert_uint_eq(k->enc_len, t[i].nenc);
    ck_assert_uint_eq(k->pub_len, t[i].npk);
    ck_assert_uint_eq(k->priv_len, t[i].nsk);
    ck_assert_uint_eq(k->dh->pub_len, t[i].npk);
    ck_assert_uint_eq(k->dh->priv_len, t[i].nsk);
    ck_assert_uint_eq(k->dh->derive_bitmask, t[i].bitmask);
    ck_assert_ptr_nonnull(k->name);
  }
  ck_assert_uint_eq(mg_hkdf_sha256.id, 1);
  ck_assert_uint_eq(mg_hkdf_sha384.id, 2);
  ck_assert_uint_eq(mg_hkdf_sha512.id, 3);
}
END_TEST

/* ---------------------------------------------------------- signatures */

START_TEST(test_sig_roundtrip) {
  const mg_sig_alg *s = sigs[_i].alg;
  ck_assert_uint_le(s->priv_len, MG_MAX_SIG_PRIV_LEN);
  ck_assert_uint_le(s->pub_len, MG_MAX_SIG_PUB_LEN);
  ck_assert_uint_le(s->max_sig_len, MG_MAX_SIG_LEN);
  for (int iter = 0; iter < 5; iter++) {
    uint8_t priv[66], pub[133], pub2[133], sig[141], msg[100];
    size_t sig_len = 0;
    rnd(msg, sizeof(msg));
    size_t msg_len = (size_t)iter * 20;
    ck_assert_int_eq(s->generate(s, priv, pub), 0);
    ck_assert_int_eq(s->pub_from_priv(s, pub2, priv), 0);
    ck_assert_mem_eq(pub, pub2, s->pub_len);
    mg_sig_key *sk = NULL, *pk = NULL;
    ck_assert_int_eq(s->key_from_priv(s, &sk, priv, s->priv_len), 0);
    ck_assert_int_eq(s->key_from_pub(s, &pk, pub, s->pub_len), 0);
    ck_assert_int_eq(s->sign(s, sk, sig, &sig_len, msg, msg_len), 0);
    ck_assert_uint_le(sig_len, s->max_sig_len);
    if (!sigs[_i].ecdsa) {
      ck_assert_uint_eq(sig_len, s->max_sig_len);
    } else {
      ck_assert_uint_eq(sig[0], 0x30); /* DER SEQUENCE */
    }
    ck_assert_int_eq(s->verify(s, pk, msg, msg_len, sig, sig_len), 0);
    ck_assert_int_eq(s->verify(s, sk, msg, msg_len, sig, sig_len), 0);
    /* One-shot forms. */
    uint8_t sig2[141];
    size_t sig2_len = 0;
    ck_assert_int_eq(mg_sig_sign_raw(s, sig2, &sig2_len, priv, s->priv_len,
                                     msg, msg_len),
                     0);
    ck_assert_int_eq(
        mg_sig_verify_raw(s, pub, s->pub_len, msg, msg_len, sig2, sig2_len),
        0);
    if (!sigs[_i].ecdsa) { /* EdDSA is deterministic (RFC 8032 §5.1.6) */
      ck_assert_uint_eq(sig2_len, sig_len);
      ck_assert_mem_eq(sig2, sig, sig_len);
    }
    /* A public key cannot sign. */
    ck_assert_int_eq(s->sign(s, pk, sig2, &sig2_len, msg, msg_len),
                     MG_ERR_BAD_KEY);
    mg_sig_key_free(sk);
    mg_sig_key_free(pk);
  }
  mg_sig_key_free(NULL);
}
END_TEST

START_TEST(test_sig_tamper) {
  const mg_sig_alg *s = sigs[_i].alg;
  uint8_t priv[66], pub[133], sig[142], msg[64];
  size_t sig_len = 0;
  rnd(msg, sizeof(msg));
  ck_assert_int_eq(s->generate(s, priv, pub), 0);
  ck_assert_int_eq(
      mg_sig_sign_raw(s, sig, &sig_len, priv, s->priv_len, msg, sizeof(msg)),
      0);
  mg_sig_key *pk = NULL;
  ck_assert_int_eq(s->key_from_pub(s, &pk, pub, s->pub_len), 0);
  ck_assert_int_eq(s->verify(s, pk, msg, sizeof(msg), sig, sig_len), 0);
  /* Every byte of the signature, two different bits. */
  for (size_t i = 0; i < sig_len; i++) {
    for (int bit = 0; bit < 8; bit += 7) {
      sig[i] ^= (uint8_t)(1u << bit);
      ck_assert_msg(s->verify(s, pk, msg, sizeof(msg), sig, sig_len) ==
                        MG_ERR_VERIFY,
                    "%s/%s: flipped bit %d of byte %zu verifies", s->name,
                    sigs[_i].backend, bit, i);
      sig[i] ^= (uint8_t)(1u << bit);
    }
  }
  msg[10] ^= 0x80;
  ck_assert_int_eq(s->verify(s, pk, msg, sizeof(msg), sig, sig_len),
                   MG_ERR_VERIFY);
  msg[10] ^= 0x80;
  ck_assert_int_eq(s->verify(s, pk, msg, sizeof(msg) - 1, sig, sig_len),
                   MG_ERR_VERIFY);
  ck_assert_int_eq(s->verify(s, pk, msg, sizeof(msg), sig, sig_len - 1),
                   MG_ERR_VERIFY);
  sig[sig_len] = 0;
  ck_assert_int_eq(s->verify(s, pk, msg, sizeof(msg), sig, sig_len + 1),
                   MG_ERR_VERIFY);
  ck_assert_int_eq(s->verify(s, pk, msg, sizeof(msg), sig, 0), MG_ERR_VERIFY);
  /* Another key's signature. */
  uint8_t priv2[66], pub2[133];
  ck_assert_int_eq(s->generate(s, priv2, pub2), 0);
  ck_assert_int_eq(
      mg_sig_verify_raw(s, pub2, s->pub_len, msg, sizeof(msg), sig, sig_len),
      MG_ERR_VERIFY);
  ck_assert_int_eq(s->verify(s, pk, msg, sizeof(msg), sig, sig_len), 0);
  mg_sig_key_free(pk);
}
END_TEST

START_TEST(test_sig_bad_keys) {
  const mg_sig_alg *s = sigs[_i].alg;
  uint8_t priv[67], pub[134], sig[141];
  size_t sig_len = 0;
  mg_sig_key dummy;
  mg_sig_key *k = &dummy; /* must be reset to NULL */
  ck_assert_int_eq(s->generate(s, priv, pub), 0);
  priv[s->priv_len] = 0;
  pub[s->pub_len] = 0;
  ck_assert_int_eq(s->key_from_priv(s, &k, priv, s->priv_len - 1),
                   MG_ERR_BAD_KEY);
  ck_assert_ptr_null(k);
  ck_assert_int_eq(s->key_from_priv(s, &k, priv, s->priv_len + 1),
                   MG_ERR_BAD_KEY);
  ck_assert_int_eq(s->key_from_priv(s, &k, priv, 0), MG_ERR_BAD_KEY);
  ck_assert_int_eq(s->key_from_pub(s, &k, pub, s->pub_len - 1),
                   MG_ERR_BAD_KEY);
  ck_assert_int_eq(s->key_from_pub(s, &k, pub, s->pub_len + 1),
                   MG_ERR_BAD_KEY);
  ck_assert_int_eq(s->key_from_pub(s, &k, pub, 0), MG_ERR_BAD_KEY);
  ck_assert_ptr_null(k);
  ck_assert_int_eq(mg_sig_sign_raw(s, sig, &sig_len, priv, s->priv_len - 1,
                                   pub, 10),
                   MG_ERR_BAD_KEY);
  ck_assert_int_eq(mg_sig_verify_raw(s, pub, s->pub_len - 1, pub, 10, sig,
                                     s->max_sig_len),
                   MG_ERR_BAD_KEY);
  if (!sigs[_i].ecdsa) {
    return;
  }
  /* ECDSA: scalar range and point validity. */
  uint8_t n[66], bad[133];
  ck_assert_uint_eq(unhex(n, sizeof(n), order_hex(s->priv_len)), s->priv_len);
  ck_assert_int_eq(s->key_from_priv(s, &k, n, s->priv_len), MG_ERR_BAD_KEY);
  ck_assert_int_eq(s->pub_from_priv(s, bad, n), MG_ERR_BAD_KEY);
  memset(bad, 0, s->priv_len);
  ck_assert_int_eq(s->key_from_priv(s, &k, bad, s->priv_len), MG_ERR_BAD_KEY);
  ck_assert_int_eq(s->pub_from_priv(s, pub + 1, bad), MG_ERR_BAD_KEY);
  ck_assert_int_eq(s->pub_from_priv(s, pub, priv), 0);
  memcpy(bad, pub, s->pub_len);
  bad[0] = 0x02;
  ck_assert_int_eq(s->key_from_pub(s, &k, bad, s->pub_len), MG_ERR_BAD_KEY);
  memcpy(bad, pub, s->pub_len);
  bad[s->pub_len - 1] ^= 0x01;
  ck_assert_int_eq(s->key_from_pub(s, &k, bad, s->pub_len), MG_ERR_BAD_KEY);
  ck_assert_ptr_null(k);
}
END_TEST

START_TEST(test_ed25519_rfc8032) {
  /* RFC 8032 §7.1 TEST 1 (empty message), for every Ed25519 object. */
  const mg_sig_alg *objs[] = {&mg_sig_ed25519, &mg_sig_ed25519_openssl,
                              &mg_sig_ed25519_sodium};
  const mg_sig_alg *s = objs[_i];
  uint8_t priv[32], pub[32], want_pub[32], sig[64], want_sig[64];
  size_t sig_len = 0;
  unhex(priv, sizeof(priv),
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
  unhex(want_pub, sizeof(want_pub),
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  unhex(want_sig, sizeof(want_sig),
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
  ck_assert_int_eq(s->pub_from_priv(s, pub, priv), 0);
  ck_assert_mem_eq(pub, want_pub, 32);
  ck_assert_int_eq(mg_sig_sign_raw(s, sig, &sig_len, priv, 32, NULL, 0), 0);
  ck_assert_uint_eq(sig_len, 64);
  ck_assert_mem_eq(sig, want_sig, 64);
  ck_assert_int_eq(mg_sig_verify_raw(s, pub, 32, NULL, 0, sig, 64), 0);
  ck_assert_uint_eq(s->scheme, 0x0807);
}
END_TEST

START_TEST(test_ed25519_backends_agree) {
  const mg_sig_alg *a = &mg_sig_ed25519_openssl, *b = &mg_sig_ed25519_sodium;
  for (int iter = 0; iter < 10; iter++) {
    uint8_t priv[32], pa[32], pb[32], msg[200], sa[64], sb[64];
    size_t la = 0, lb = 0, n = (size_t)iter * 20;
    rnd(priv, sizeof(priv));
    rnd(msg, sizeof(msg));
    ck_assert_int_eq(a->pub_from_priv(a, pa, priv), 0);
    ck_assert_int_eq(b->pub_from_priv(b, pb, priv), 0);
    ck_assert_mem_eq(pa, pb, 32);
    ck_assert_int_eq(mg_sig_sign_raw(a, sa, &la, priv, 32, msg, n), 0);
    ck_assert_int_eq(mg_sig_sign_raw(b, sb, &lb, priv, 32, msg, n), 0);
    ck_assert_uint_eq(la, lb);
    ck_assert_mem_eq(sa, sb, 64);
    ck_assert_int_eq(mg_sig_verify_raw(a, pb, 32, msg, n, sb, 64), 0);
    ck_assert_int_eq(mg_sig_verify_raw(b, pa, 32, msg, n, sa, 64), 0);
  }
}
END_TEST

START_TEST(test_sig_schemes) {
  ck_assert_uint_eq(mg_sig_ed25519.scheme, 0x0807);
  ck_assert_uint_eq(mg_sig_ed448.scheme, 0x0808);
  ck_assert_uint_eq(mg_sig_ecdsa_p256_sha256.scheme, 0x0403);
  ck_assert_uint_eq(mg_sig_ecdsa_p384_sha384.scheme, 0x0503);
  ck_assert_uint_eq(mg_sig_ecdsa_p521_sha512.scheme, 0x0603);
  ck_assert_uint_eq(mg_sig_ed25519.priv_len, 32);
  ck_assert_uint_eq(mg_sig_ed448.priv_len, 57);
  ck_assert_uint_eq(mg_sig_ed448.pub_len, 57);
  ck_assert_uint_eq(mg_sig_ed448.max_sig_len, 114);
  ck_assert_uint_eq(mg_sig_ecdsa_p256_sha256.pub_len, 65);
  ck_assert_uint_eq(mg_sig_ecdsa_p384_sha384.pub_len, 97);
  ck_assert_uint_eq(mg_sig_ecdsa_p521_sha512.pub_len, 133);
  ck_assert_uint_eq(mg_sig_ecdsa_p521_sha512.priv_len, 66);
}
END_TEST

/* -------------------------------------------------------------- suites */

START_TEST(test_suites) {
  /* RFC 9420 §17.1. */
  const struct {
    uint16_t id;
    const mg_kem_alg *kem;
    const mg_aead_alg *aead;
    const mg_hash_alg *hash;
    const mg_kdf_alg *kdf;
    const mg_sig_alg *sig;
  } t[] = {
      {1, &mg_kem_x25519_sha256, &mg_aes128gcm, &mg_sha256, &mg_hkdf_sha256,
       &mg_sig_ed25519},
      {2, &mg_kem_p256_sha256, &mg_aes128gcm, &mg_sha256, &mg_hkdf_sha256,
       &mg_sig_ecdsa_p256_sha256},
      {3, &mg_kem_x25519_sha256, &mg_chacha20poly1305, &mg_sha256,
       &mg_hkdf_sha256, &mg_sig_ed25519},
      {4, &mg_kem_x448_sha512, &mg_aes256gcm, &mg_sha512, &mg_hkdf_sha512,
       &mg_sig_ed448},
      {5, &mg_kem_p521_sha512, &mg_aes256gcm, &mg_sha512, &mg_hkdf_sha512,
       &mg_sig_ecdsa_p521_sha512},
      {6, &mg_kem_x448_sha512, &mg_chacha20poly1305, &mg_sha512,
       &mg_hkdf_sha512, &mg_sig_ed448},
      {7, &mg_kem_p384_sha384, &mg_aes256gcm, &mg_sha384, &mg_hkdf_sha384,
       &mg_sig_ecdsa_p384_sha384},
  };
  ck_assert_uint_eq(ARRAY_LEN(t), MLS_SUITE_MAX - MLS_SUITE_MIN + 1);
  for (size_t i = 0; i < ARRAY_LEN(t); i++) {
    const mls_suite *s = mls_suite_by_id(t[i].id);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(s->id, t[i].id);
    ck_assert_ptr_eq(s->kem, t[i].kem);
    ck_assert_ptr_eq(s->aead, t[i].aead);
    ck_assert_ptr_eq(s->hash, t[i].hash);
    ck_assert_ptr_eq(s->kdf, t[i].kdf);
    ck_assert_ptr_eq(s->sig, t[i].sig);
    ck_assert_ptr_eq(s->kdf->hash, s->hash);
    ck_assert_ptr_nonnull(s->name);
  }
  ck_assert_ptr_null(mls_suite_by_id(0));
  ck_assert_ptr_null(mls_suite_by_id(8));
  ck_assert_ptr_null(mls_suite_by_id(0xffff));
}
END_TEST

/* ------------------------------------------------------------- threads */

#define N_THREADS 4

typedef struct {
  uint8_t mac[32];
  uint8_t sealed[200 + 16];
  uint8_t dh[32];
  int ok;
} thread_result;

static const uint8_t t_key[32] = {1, 2, 3};
static const uint8_t t_nonce[12] = {4, 5, 6};
static uint8_t t_msg[200];
static uint8_t t_priv[32], t_peer[32];
static mg_sig_key *t_sign_key, *t_verify_key; /* shared by all threads */

static void *thread_main(void *arg) {
  thread_result *r = arg;
  r->ok = 1;
  for (int iter = 0; iter < 100; iter++) {
    uint8_t mac[32], sealed[216], back[200], dh[32];
    if (mg_sha256.hmac(&mg_sha256, mac, t_key, 32, t_msg, 200) != 0 ||
        mg_aes256gcm.seal(&mg_aes256gcm, sealed, t_key, t_nonce, 12, NULL, 0,
                          t_msg, 200) != 0 ||
        mg_aes256gcm.open(&mg_aes256gcm, back, t_key, t_nonce, 12, NULL, 0,
                          sealed, 216) != 0 ||
        memcmp(back, t_msg, 200) != 0) {
      r->ok = 0;
    }
    if (iter % 10 == 0) {
      /* One prepared ECDSA key used concurrently (its cached contexts). */
      const mg_sig_alg *s = &mg_sig_ecdsa_p256_sha256;
      uint8_t sig[72];
      size_t sig_len = 0;
      if (s->sign(s, t_sign_key, sig, &sig_len, t_msg, 200) != 0 ||
          s->verify(s, t_verify_key, t_msg, 200, sig, sig_len) != 0 ||
          s->verify(s, t_sign_key, t_msg, 200, sig, sig_len) != 0 ||
          s->verify(s, t_verify_key, t_msg, 199, sig, sig_len) !=
              MG_ERR_VERIFY) {
        r->ok = 0;
      }
    }
    if (iter == 0) {
      memcpy(r->mac, mac, 32);
      memcpy(r->sealed, sealed, 216);
      if (mg_dh_x25519_openssl.dh(&mg_dh_x25519_openssl, dh, t_priv,
                                  t_peer) != 0) {
        r->ok = 0;
      }
      memcpy(r->dh, dh, 32);
    } else if (memcmp(mac, r->mac, 32) != 0 ||
               memcmp(sealed, r->sealed, 216) != 0) {
      r->ok = 0;
    }
  }
  return NULL;
}

/* The OpenSSL backend keeps per-thread contexts; concurrent use must give
 * the same results as the main thread, and thread exit frees them (ASan's
 * leak check covers that). */
START_TEST(test_threads) {
  rnd(t_msg, sizeof(t_msg));
  ck_assert_int_eq(mg_dh_x25519.generate(&mg_dh_x25519, t_priv, t_peer), 0);
  rnd(t_priv, sizeof(t_priv));
  uint8_t sk[32], pk[65];
  const mg_sig_alg *s = &mg_sig_ecdsa_p256_sha256;
  ck_assert_int_eq(s->generate(s, sk, pk), 0);
  ck_assert_int_eq(s->key_from_priv(s, &t_sign_key, sk, 32), 0);
  ck_assert_int_eq(s->key_from_pub(s, &t_verify_key, pk, 65), 0);
  thread_result want, got[N_THREADS];
  memset(&want, 0, sizeof(want));
  thread_main(&want);
  ck_assert(want.ok);
  pthread_t th[N_THREADS];
  for (int t = 0; t < N_THREADS; t++) {
    memset(&got[t], 0, sizeof(got[t]));
    ck_assert_int_eq(pthread_create(&th[t], NULL, thread_main, &got[t]), 0);
  }
  for (int t = 0; t < N_THREADS; t++) {
    ck_assert_int_eq(pthread_join(th[t], NULL), 0);
    ck_assert(got[t].ok);
    ck_assert_mem_eq(got[t].mac, want.mac, 32);
    ck_assert_mem_eq(got[t].sealed, want.sealed, 216);
    ck_assert_mem_eq(got[t].dh, want.dh, 32);
  }
  mg_sig_key_free(t_sign_key);
  mg_sig_key_free(t_verify_key);
}
END_TEST

/* ----------------------------------------------------------- wycheproof */

#define MAX_WP_FILES 64

static char *wp_paths[MAX_WP_FILES];
static size_t wp_n;
static int wp_dir_error;

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void wp_list_files(void) {
  char dir[4096];
  snprintf(dir, sizeof(dir), "%s/wycheproof", mg_st_default_dir());
  DIR *d = opendir(dir);
  if (d == NULL) {
    wp_dir_error = 1;
    return;
  }
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    size_t len = strlen(e->d_name);
    if (len < 5 || strcmp(e->d_name + len - 5, ".json") != 0) {
      continue;
    }
    if (wp_n == MAX_WP_FILES) {
      wp_dir_error = 1;
      break;
    }
    size_t plen = strlen(dir) + 1 + len + 1;
    char *p = malloc(plen);
    if (p == NULL) {
      wp_dir_error = 1;
      break;
    }
    snprintf(p, plen, "%s/%s", dir, e->d_name);
    wp_paths[wp_n++] = p;
  }
  closedir(d);
  qsort(wp_paths, wp_n, sizeof(wp_paths[0]), cmp_str);
}

START_TEST(test_wycheproof_dir) {
  ck_assert_msg(!wp_dir_error, "cannot list %s/wycheproof",
                mg_st_default_dir());
  ck_assert_msg(wp_n > 0, "no Wycheproof files under %s/wycheproof",
                mg_st_default_dir());
}
END_TEST

/* One iteration per file: every test of the file through the kind. */
START_TEST(test_wycheproof_file) {
  const char *path = wp_paths[_i];
  ck_assert_msg(mg_st_kind_for_file(path) == &mg_st_kind_wycheproof,
                "%s is not handled by the wycheproof kind", path);
  json_error_t jerr;
  json_t *root = json_load_file(path, 0, &jerr);
  ck_assert_msg(root != NULL, "%s: %s", path, jerr.text);
  const json_t *num = json_object_get(root, "numberOfTests");
  ck_assert_msg(json_is_integer(num), "%s: numberOfTests missing", path);
  size_t n = mg_st_kind_wycheproof.count(root);
  ck_assert_msg(n == (size_t)json_integer_value(num),
                "%s: %zu tests found, numberOfTests %lld", path, n,
                (long long)json_integer_value(num));
  mg_st_report rep;
  memset(&rep, 0, sizeof(rep));
  rep.file = path;
  for (size_t i = 0; i < n; i++) {
    unsigned before = rep.passed + rep.failed + rep.skipped;
    mg_st_kind_wycheproof.run_case(root, i, &rep);
    ck_assert_msg(rep.passed + rep.failed + rep.skipped == before + 1,
                  "%s case %zu recorded %u results", path, i,
                  rep.passed + rep.failed + rep.skipped - before);
    ck_assert_msg(rep.failed == 0, "%s: %s", path, rep.last_msg);
    ck_assert_msg(rep.skipped == 0, "%s skipped: %s", path, rep.last_msg);
  }
  ck_assert_uint_eq(rep.passed, (unsigned)json_integer_value(num));
  ck_assert_uint_le(rep.acceptable, rep.passed);
  json_decref(root);
}
END_TEST

/* ---------------------------------------------------------------- main */

static Suite *crypto_suite(void) {
  Suite *s = suite_create("crypto");
  TCase *tc = tcase_create("init");
  tcase_add_test(tc, test_init_random);
  suite_add_tcase(s, tc);

  tc = tcase_create("hash");
  tcase_add_loop_test(tc, test_hash_kat, 0, (int)ARRAY_LEN(hashes));
  tcase_add_loop_test(tc, test_hash_backends_agree, 0, 2);
  suite_add_tcase(s, tc);

  tc = tcase_create("hkdf");
  tcase_add_loop_test(tc, test_hkdf_rfc5869, 0, 3);
  tcase_add_loop_test(tc, test_hkdf_limits, 0, (int)ARRAY_LEN(kdfs));
  tcase_add_loop_test(tc, test_hkdf_backends_agree, 0, 2);
  suite_add_tcase(s, tc);

  tc = tcase_create("aead");
  tcase_add_loop_test(tc, test_aead_roundtrip, 0, (int)ARRAY_LEN(aeads));
  tcase_add_loop_test(tc, test_aead_tamper, 0, (int)ARRAY_LEN(aeads));
  tcase_add_loop_test(tc, test_aead_nonce_lengths, 0, (int)ARRAY_LEN(aeads));
  tcase_add_test(tc, test_aead_gcm_kat);
  tcase_add_loop_test(tc, test_aead_backends_agree, 0, 2);
  suite_add_tcase(s, tc);

  tc = tcase_create("dh");
  tcase_set_timeout(tc, 60);
  tcase_add_loop_test(tc, test_dh_agree, 0, (int)ARRAY_LEN(dhs));
  tcase_add_loop_test(tc, test_dh_invalid_pub, 0, (int)ARRAY_LEN(dhs));
  tcase_add_loop_test(tc, test_dh_invalid_priv, 0, (int)ARRAY_LEN(dhs));
  tcase_add_test(tc, test_x25519_backends_agree);
  tcase_add_test(tc, test_kem_table);
  suite_add_tcase(s, tc);

  tc = tcase_create("sig");
  tcase_set_timeout(tc, 120);
  tcase_add_loop_test(tc, test_sig_roundtrip, 0, (int)ARRAY_LEN(sigs));
  tcase_add_loop_test(tc, test_sig_tamper, 0, (int)ARRAY_LEN(sigs));
  tcase_add_loop_test(tc, test_sig_bad_keys, 0, (int)ARRAY_LEN(sigs));
  tcase_add_loop_test(tc, test_ed25519_rfc8032, 0, 3);
  tcase_add_test(tc, test_ed25519_backends_agree);
  tcase_add_test(tc, test_sig_schemes);
  suite_add_tcase(s, tc);

  tc = tcase_create("suites");
  tcase_add_test(tc, test_suites);
  suite_add_tcase(s, tc);

  tc = tcase_create("threads");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_threads);
  suite_add_tcase(s, tc);

  tc = tcase_create("wycheproof");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_wycheproof_dir);
  tcase_add_loop_test(tc, test_wycheproof_file, 0, (int)wp_n);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  if (mg_crypto_init() < 0) {
    fprintf(stderr, "check_crypto: mg_crypto_init failed\n");
    return 1;
  }
  wp_list_files();
  SRunner *sr = srunner_create(crypto_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  for (size_t i = 0; i < wp_n; i++) {
    free(wp_paths[i]);
  }
  return failed == 0 ? 0 : 1;
}
