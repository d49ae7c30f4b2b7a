/*
 * Self-test kind for the Wycheproof vector files (C2SP/wycheproof, "v1"
 * schemas): AEAD (AES-GCM, ChaCha20-Poly1305, XChaCha20-Poly1305), ECDH with
 * SEC1 point encodings, ECDSA and EdDSA verification, HKDF, HMAC and XDH.
 *
 * One case is one test; tests are numbered across all test groups of a file
 * in order.  The kind dispatches on the file's "algorithm" and "schema" and
 * runs each test through the exported algorithm objects of crypto.h (the
 * objects the MLS suites use), never through a library directly.
 *
 *   valid       the operation must succeed with exactly the listed output;
 *   invalid     the operation must be rejected (a crypto-class error other
 *               than MG_ERR_CRYPTO_LIB);
 *   acceptable  decided per flag below; a case behaving otherwise fails, a
 *               passing one is also counted in rep->acceptable.  A flag with
 *               no row here fails the case, so that a new upstream flag is
 *               never passed silently.
 *
 * Decisions for "acceptable" cases (a case is rejected if any of its flags
 * says so, otherwise the listed value must be computed):
 *
 *   file  flag                    decision              reason
 *   XDH   ZeroSharedSecret        reject, DH_ZERO       RFC 9180 §7.1.4 and
 *                                                       RFC 7748 §6.1: an
 *                                                       all-zero DH output
 *                                                       must be refused
 *   XDH   LowOrderPublic          compute               we filter outputs, not
 *                                                       points (RFC 7748 §6.1);
 *                                                       every low-order case
 *                                                       with a zero output
 *                                                       also has the flag
 *                                                       above.  X448 tcId
 *                                                       67-69 are low order
 *                                                       only if bit 447 were
 *                                                       masked; X448 uses all
 *                                                       448 bits (RFC 7748 §5)
 *   XDH   Twist                   compute               RFC 7748 §5 defines
 *                                                       the functions on the
 *                                                       twist too; the result
 *                                                       must be exact
 *   XDH   NonCanonicalPublic      compute               RFC 7748 §5: X25519
 *                                                       masks bit 255, values
 *                                                       >= p are used mod p
 *                                                       (§7 recommends
 *                                                       accepting them)
 *   XDH   SmallPublicKey,         compute               ordinary inputs of
 *         SpecialPublicKey,                             RFC 7748 §5; only the
 *         EdgeCaseShared,                               result matters
 *         EdgeCaseMultiplication,
 *         Ktv
 *   ECDH  CompressedPublic,       reject, BAD_KEY       HPKE/MLS public keys
 *         CompressedPoint                               are Npk-byte
 *                                                       uncompressed points
 *                                                       (RFC 9180 §7.1.1);
 *                                                       our dh() takes only
 *                                                       that form
 *
 * Public keys whose length differs from the group's fixed Npk (compressed
 * points, empty encodings, a 57-byte X448 key) are rejected with
 * MG_ERR_BAD_KEY before dh() is called: the DH interface takes Npk bytes, so
 * the length check is part of using it (RFC 9180 §7.1.1
 * DeserializePublicKey).
 *
 * MAC tests (mac_test_schema): "tag" is the MAC truncated to the group's
 * tagSize bits; the leading tagSize/8 bytes of our full HMAC are compared with
 * it in constant time, and a mismatch is a rejection.
 *
 * Failure messages name the case, the file's tcId and the field, e.g.
 * "case 16: tcId 17 shared differs (got ..., want ...)".
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/secmem.h"
#include "crypto/crypto.h"
#include "mlsgate/err.h"
#include "selftest/selftest.h"

/* The Wycheproof files this kind knows (all of them run without skips). */
static const char *const wp_files[] = {
    "aes_gcm_test.json",
    "chacha20_poly1305_test.json",
    "xchacha20_poly1305_test.json",
    "ecdh_secp256r1_ecpoint_test.json",
    "ecdh_secp384r1_ecpoint_test.json",
    "ecdh_secp521r1_ecpoint_test.json",
    "ecdsa_secp256r1_sha256_test.json",
    "ecdsa_secp384r1_sha384_test.json",
    "ecdsa_secp521r1_sha512_test.json",
    "ed25519_test.json",
    "ed448_test.json",
    "hkdf_sha256_test.json",
    "hkdf_sha384_test.json",
    "hkdf_sha512_test.json",
    "hmac_sha256_test.json",
    "hmac_sha384_test.json",
    "hmac_sha512_test.json",
    "x25519_test.json",
    "x448_test.json",
};

typedef enum {
  WP_AEAD,
  WP_ECDH,
  WP_ECDSA,
  WP_EDDSA,
  WP_HKDF,
  WP_HMAC,
  WP_XDH
} wp_type;

/* File shapes, by the file's "algorithm" and "schema". */
static const struct {
  const char *algorithm;
  const char *schema;
  wp_type type;
  const void *alg; /* NULL: chosen per test group */
} wp_shapes[] = {
    {"AES-GCM", "aead_test_schema_v1.json", WP_AEAD, NULL},
    {"CHACHA20-POLY1305", "aead_test_schema_v1.json", WP_AEAD,
     &mg_chacha20poly1305},
    {"XCHACHA20-POLY1305", "aead_test_schema_v1.json", WP_AEAD,
     &mg_xchacha20poly1305},
    {"ECDH", "ecdh_ecpoint_test_schema_v1.json", WP_ECDH, NULL},
    {"ECDSA", "ecdsa_verify_schema_v1.json", WP_ECDSA, NULL},
    {"EDDSA", "eddsa_verify_schema_v1.json", WP_EDDSA, NULL},
    {"HKDF-SHA-256", "hkdf_test_schema_v1.json", WP_HKDF, &mg_hkdf_sha256},
    {"HKDF-SHA-384", "hkdf_test_schema_v1.json", WP_HKDF, &mg_hkdf_sha384},
    {"HKDF-SHA-512", "hkdf_test_schema_v1.json", WP_HKDF, &mg_hkdf_sha512},
    {"HMACSHA256", "mac_test_schema_v1.json", WP_HMAC, &mg_sha256},
    {"HMACSHA384", "mac_test_schema_v1.json", WP_HMAC, &mg_sha384},
    {"HMACSHA512", "mac_test_schema_v1.json", WP_HMAC, &mg_sha512},
    {"XDH", "xdh_comp_schema_v1.json", WP_XDH, NULL},
};

/* The decision table above, as data.  want_err is the error a rejected case
 * must return. */
static const struct {
  wp_type type;
  const char *flag;
  int reject;
  int want_err;
} wp_decisions[] = {
    {WP_XDH, "ZeroSharedSecret", 1, MG_ERR_DH_ZERO},
    {WP_XDH, "LowOrderPublic", 0, 0},
    {WP_XDH, "Twist", 0, 0},
    {WP_XDH, "NonCanonicalPublic", 0, 0},
    {WP_XDH, "SmallPublicKey", 0, 0},
    {WP_XDH, "SpecialPublicKey", 0, 0},
    {WP_XDH, "EdgeCaseShared", 0, 0},
    {WP_XDH, "EdgeCaseMultiplication", 0, 0},
    {WP_XDH, "Ktv", 0, 0},
    {WP_ECDH, "CompressedPublic", 1, MG_ERR_BAD_KEY},
    {WP_ECDH, "CompressedPoint", 1, MG_ERR_BAD_KEY},
};

static int wp_match(const char *base) {
  for (size_t i = 0; i < sizeof(wp_files) / sizeof(wp_files[0]); i++) {
    if (strcmp(base, wp_files[i]) == 0) {
      return 1;
    }
  }
  return 0;
}

static int wp_shape(const json_t *root) {
  const char *algorithm =
      json_string_value(json_object_get(root, "algorithm"));
  const char *schema = json_string_value(json_object_get(root, "schema"));
  if (algorithm == NULL || schema == NULL) {
    return -1;
  }
  for (size_t i = 0; i < sizeof(wp_shapes) / sizeof(wp_shapes[0]); i++) {
    if (strcmp(algorithm, wp_shapes[i].algorithm) == 0 &&
        strcmp(schema, wp_shapes[i].schema) == 0) {
      return (int)i;
    }
  }
  return -1;
}

static size_t wp_count(const json_t *root) {
  const json_t *groups = json_object_get(root, "testGroups");
  if (wp_shape(root) < 0 || !json_is_array(groups)) {
    return 0;
  }
  size_t n = 0;
  for (size_t g = 0; g < json_array_size(groups); g++) {
    const json_t *tests = json_object_get(json_array_get(groups, g), "tests");
    if (!json_is_array(tests)) {
      return 0;
    }
    n += json_array_size(tests);
  }
  return n;
}

/* ------------------------------------------------------------ one case */

#define WP_MAX_BUFS 12

typedef struct wp_case {
  size_t i;
  long long tcid;
  mg_st_report *rep;
  const json_t *group;
  const json_t *test;
  wp_type type;
  const void *alg;
  uint8_t *bufs[WP_MAX_BUFS];
  size_t n_bufs;
  /* outcome of the operation */
  int err;            /* 0: it succeeded; else the rejection */
  int differs;        /* it succeeded but the output differs */
  char field[64];     /* what differed */
  const uint8_t *got; /* ... and the two values */
  size_t got_len;
  const uint8_t *want;
  size_t want_len;
} wp_case;

/* wp_keep takes ownership of |p| (freed when the case ends). */
static uint8_t *wp_keep(wp_case *cc, uint8_t *p) {
  if (p == NULL || cc->n_bufs >= WP_MAX_BUFS) {
    free(p);
    return NULL;
  }
  cc->bufs[cc->n_bufs++] = p;
  return p;
}

static uint8_t *wp_alloc(wp_case *cc, size_t len) {
  return wp_keep(cc, calloc(1, len > 0 ? len : 1));
}

/* wp_hex decodes a hex member; on error the case fails naming the field. */
static int wp_hex(wp_case *cc, const json_t *obj, const char *key,
                  uint8_t **out, size_t *out_len) {
  uint8_t *p = NULL;
  int rc = mg_st_hex(obj, key, &p, out_len);
  if (rc < 0 || wp_keep(cc, p) == NULL) {
    mg_st_fail(cc->rep, "case %zu: tcId %lld %s %s", cc->i, cc->tcid, key,
               rc == MG_ERR_NOT_FOUND ? "missing" : "not decodable");
    return 0;
  }
  *out = p;
  return 1;
}

/* wp_compare records whether an output equals the expected value. */
static void wp_compare(wp_case *cc, const char *field, const uint8_t *got,
                       size_t got_len, const uint8_t *want, size_t want_len) {
  if (got_len == want_len &&
      (want_len == 0 || memcmp(got, want, want_len) == 0)) {
    return;
  }
  if (!cc->differs) {
    cc->differs = 1;
    snprintf(cc->field, sizeof(cc->field), "tcId %lld %s", cc->tcid, field);
    cc->got = got;
    cc->got_len = got_len;
    cc->want = want;
    cc->want_len = want_len;
  }
}

static int wp_all_zero(const uint8_t *p, size_t len) {
  uint8_t acc = 0;
  for (size_t i = 0; i < len; i++) {
    acc |= p[i];
  }
  return acc == 0;
}

/* A rejection must be a crypto-class refusal, not a library failure. */
static int wp_is_rejection(int err) {
  switch (err) {
  case MG_ERR_BAD_KEY:
  case MG_ERR_VERIFY:
  case MG_ERR_AUTH:
  case MG_ERR_PARAM:
  case MG_ERR_DH_ZERO:
    return 1;
  default:
    return 0;
  }
}

/* ---- AEAD: aead_test_schema_v1 ---- */

static const mg_aead_alg *wp_aead_alg(const wp_case *cc) {
  if (cc->alg != NULL) {
    return cc->alg;
  }
  switch (json_integer_value(json_object_get(cc->group, "keySize"))) {
  case 128:
    return &mg_aes128gcm;
  case 192:
    return &mg_aes192gcm;
  case 256:
    return &mg_aes256gcm;
  default:
    return NULL;
  }
}

static int wp_run_aead(wp_case *cc, int expect_ok) {
  const mg_aead_alg *alg = wp_aead_alg(cc);
  uint8_t *key, *iv, *aad, *msg, *ct, *tag;
  size_t key_len, iv_len, aad_len, msg_len, ct_len, tag_len;
  if (alg == NULL) {
    mg_st_skip(cc->rep, "case %zu: tcId %lld: no AEAD for keySize %lld",
               cc->i, cc->tcid,
               json_integer_value(json_object_get(cc->group, "keySize")));
    return 0;
  }
  if (!wp_hex(cc, cc->test, "key", &key, &key_len) ||
      !wp_hex(cc, cc->test, "iv", &iv, &iv_len) ||
      !wp_hex(cc, cc->test, "aad", &aad, &aad_len) ||
      !wp_hex(cc, cc->test, "msg", &msg, &msg_len) ||
      !wp_hex(cc, cc->test, "ct", &ct, &ct_len) ||
      !wp_hex(cc, cc->test, "tag", &tag, &tag_len)) {
    return 0;
  }
  if (key_len != alg->key_len) {
    cc->err = MG_ERR_BAD_KEY;
    return 1;
  }
  if (tag_len != alg->tag_len) {
    cc->err = MG_ERR_PARAM; /* only full-length tags are supported */
    return 1;
  }
  /* open(ct || tag) */
  uint8_t *sealed = wp_alloc(cc, ct_len + tag_len);
  uint8_t *opened = wp_alloc(cc, ct_len);
  if (sealed == NULL || opened == NULL) {
    mg_st_fail(cc->rep, "case %zu: out of memory", cc->i);
    return 0;
  }
  if (ct_len > 0) {
    memcpy(sealed, ct, ct_len);
  }
  memcpy(sealed + ct_len, tag, tag_len);
  memset(opened, 0xa5, ct_len);
  int rc = alg->open(alg, opened, key, iv, iv_len, aad, aad_len, sealed,
                     ct_len + tag_len);
  if (rc < 0) {
    if (!wp_all_zero(opened, ct_len) && rc == MG_ERR_AUTH) {
      mg_st_fail(cc->rep,
                 "case %zu: tcId %lld msg: open failed but left output "
                 "that is not zeroed",
                 cc->i, cc->tcid);
      return 0;
    }
    cc->err = rc;
    return 1;
  }
  wp_compare(cc, "msg (open)", opened, ct_len, msg, msg_len);
  if (!expect_ok) {
    return 1;
  }
  /* seal(msg) must give ct || tag */
  uint8_t *out = wp_alloc(cc, msg_len + alg->tag_len);
  if (out == NULL) {
    mg_st_fail(cc->rep, "case %zu: out of memory", cc->i);
    return 0;
  }
  rc = alg->seal(alg, out, key, iv, iv_len, aad, aad_len, msg, msg_len);
  if (rc < 0) {
    cc->err = rc;
    return 1;
  }
  wp_compare(cc, "ct (seal)", out, msg_len, ct, ct_len);
  wp_compare(cc, "tag (seal)", out + msg_len, alg->tag_len, tag, tag_len);
  return 1;
}

/* ---- ECDH: ecdh_ecpoint_test_schema_v1 ---- */

static const mg_dh_alg *wp_ecdh_alg(const char *curve) {
  if (curve == NULL) {
    return NULL;
  }
  if (strcmp(curve, "secp256r1") == 0) {
    return &mg_dh_p256;
  }
  if (strcmp(curve, "secp384r1") == 0) {
    return &mg_dh_p384;
  }
  if (strcmp(curve, "secp521r1") == 0) {
    return &mg_dh_p521;
  }
  return NULL;
}

static const mg_dh_alg *wp_xdh_alg(const char *curve) {
  if (curve == NULL) {
    return NULL;
  }
  if (strcmp(curve, "curve25519") == 0) {
    return &mg_dh_x25519;
  }
  if (strcmp(curve, "curve448") == 0) {
    return &mg_dh_x448;
  }
  return NULL;
}

/* wp_run_dh runs ECDH (|nist|: the private key is an ASN.1-style integer,
 * normalized to the fixed scalar length) or XDH (raw keys). */
static int wp_run_dh(wp_case *cc, int nist) {
  const char *curve = json_string_value(json_object_get(cc->group, "curve"));
  const mg_dh_alg *alg = nist ? wp_ecdh_alg(curve) : wp_xdh_alg(curve);
  uint8_t *priv, *pub, *shared;
  size_t priv_len, pub_len, shared_len;
  if (alg == NULL) {
    mg_st_skip(cc->rep, "case %zu: tcId %lld: curve %s not supported", cc->i,
               cc->tcid, curve != NULL ? curve : "(none)");
    return 0;
  }
  if (nist) {
    const char *enc =
        json_string_value(json_object_get(cc->group, "encoding"));
    if (enc == NULL || strcmp(enc, "ecpoint") != 0) {
      mg_st_skip(cc->rep, "case %zu: tcId %lld: encoding %s not supported",
                 cc->i, cc->tcid, enc != NULL ? enc : "(none)");
      return 0;
    }
  }
  if (!wp_hex(cc, cc->test, "private", &priv, &priv_len) ||
      !wp_hex(cc, cc->test, "public", &pub, &pub_len) ||
      !wp_hex(cc, cc->test, "shared", &shared, &shared_len)) {
    return 0;
  }
  uint8_t sk[MG_MAX_DH_PRIV_LEN] = {0};
  if (nist) {
    /* An integer: drop leading zero octets, left-pad to Nsk. */
    while (priv_len > 0 && priv[0] == 0) {
      priv++;
      priv_len--;
    }
    if (priv_len > alg->priv_len) {
      cc->err = MG_ERR_BAD_KEY;
      return 1;
    }
    memcpy(sk + alg->priv_len - priv_len, priv, priv_len);
  } else {
    if (priv_len != alg->priv_len) {
      cc->err = MG_ERR_BAD_KEY;
      return 1;
    }
    memcpy(sk, priv, priv_len);
  }
  if (pub_len != alg->pub_len) {
    cc->err = MG_ERR_BAD_KEY; /* RFC 9180 §7.1.1: exactly Npk bytes */
    mg_memzero(sk, sizeof(sk));
    return 1;
  }
  uint8_t *out = wp_alloc(cc, alg->secret_len);
  if (out == NULL) {
    mg_memzero(sk, sizeof(sk));
    mg_st_fail(cc->rep, "case %zu: out of memory", cc->i);
    return 0;
  }
  int rc = alg->dh(alg, out, sk, pub);
  mg_memzero(sk, sizeof(sk));
  if (rc < 0) {
    cc->err = rc;
    return 1;
  }
  wp_compare(cc, "shared", out, alg->secret_len, shared, shared_len);
  return 1;
}

/* ---- signatures: ecdsa_verify_schema_v1, eddsa_verify_schema_v1 ---- */

static const mg_sig_alg *wp_sig_alg(const wp_case *cc, const json_t *pk) {
  const char *curve = json_string_value(json_object_get(pk, "curve"));
  if (curve == NULL) {
    return NULL;
  }
  if (cc->type == WP_EDDSA) {
    if (strcmp(curve, "edwards25519") == 0) {
      return &mg_sig_ed25519;
    }
    if (strcmp(curve, "edwards448") == 0) {
      return &mg_sig_ed448;
    }
    return NULL;
  }
  const char *sha = json_string_value(json_object_get(cc->group, "sha"));
  if (sha == NULL) {
    return NULL;
  }
  /* RFC 8446 §4.2.3 pairs each curve with one hash. */
  if (strcmp(curve, "secp256r1") == 0 && strcmp(sha, "SHA-256") == 0) {
    return &mg_sig_ecdsa_p256_sha256;
  }
  if (strcmp(curve, "secp384r1") == 0 && strcmp(sha, "SHA-384") == 0) {
    return &mg_sig_ecdsa_p384_sha384;
  }
  if (strcmp(curve, "secp521r1") == 0 && strcmp(sha, "SHA-512") == 0) {
    return &mg_sig_ecdsa_p521_sha512;
  }
  return NULL;
}

static int wp_run_sig(wp_case *cc) {
  const json_t *pk = json_object_get(cc->group, "publicKey");
  const mg_sig_alg *alg = wp_sig_alg(cc, pk);
  uint8_t *pub, *msg, *sig;
  size_t pub_len, msg_len, sig_len;
  if (alg == NULL) {
    mg_st_skip(cc->rep, "case %zu: tcId %lld: signature key/hash not "
                        "supported",
               cc->i, cc->tcid);
    return 0;
  }
  if (!wp_hex(cc, pk, cc->type == WP_EDDSA ? "pk" : "uncompressed", &pub,
              &pub_len) ||
      !wp_hex(cc, cc->test, "msg", &msg, &msg_len) ||
      !wp_hex(cc, cc->test, "sig", &sig, &sig_len)) {
    return 0;
  }
  mg_sig_key *key = NULL;
  int rc = alg->key_from_pub(alg, &key, pub, pub_len);
  if (rc == 0) {
    rc = alg->verify(alg, key, msg, msg_len, sig, sig_len);
  }
  mg_sig_key_free(key);
  cc->err = rc;
  return 1;
}

/* ---- HKDF: hkdf_test_schema_v1 ---- */

static int wp_run_hkdf(wp_case *cc) {
  const mg_kdf_alg *alg = cc->alg;
  uint8_t *ikm, *salt, *info, *okm;
  size_t ikm_len, salt_len, info_len, okm_len;
  const json_t *size = json_object_get(cc->test, "size");
  if (!wp_hex(cc, cc->test, "ikm", &ikm, &ikm_len) ||
      !wp_hex(cc, cc->test, "salt", &salt, &salt_len) ||
      !wp_hex(cc, cc->test, "info", &info, &info_len) ||
      !wp_hex(cc, cc->test, "okm", &okm, &okm_len)) {
    return 0;
  }
  if (!json_is_integer(size) || json_integer_value(size) < 0) {
    mg_st_fail(cc->rep, "case %zu: tcId %lld size missing", cc->i, cc->tcid);
    return 0;
  }
  size_t n = (size_t)json_integer_value(size);
  uint8_t prk[MG_MAX_HASH_LEN];
  uint8_t *out = wp_alloc(cc, n);
  if (out == NULL) {
    mg_st_fail(cc->rep, "case %zu: out of memory", cc->i);
    return 0;
  }
  int rc = alg->extract(alg, prk, salt, salt_len, ikm, ikm_len);
  if (rc == 0) {
    rc = alg->expand(alg, out, n, prk, alg->nh, info, info_len);
  }
  mg_memzero(prk, sizeof(prk));
  if (rc < 0) {
    cc->err = rc;
    return 1;
  }
  wp_compare(cc, "okm", out, n, okm, okm_len);
  return 1;
}

/* ---- HMAC: mac_test_schema_v1 ---- */

static int wp_run_hmac(wp_case *cc) {
  const mg_hash_alg *alg = cc->alg;
  uint8_t *key, *msg, *tag;
  size_t key_len, msg_len, tag_len;
  json_int_t bits = json_integer_value(json_object_get(cc->group, "tagSize"));
  if (!wp_hex(cc, cc->test, "key", &key, &key_len) ||
      !wp_hex(cc, cc->test, "msg", &msg, &msg_len) ||
      !wp_hex(cc, cc->test, "tag", &tag, &tag_len)) {
    return 0;
  }
  if (bits <= 0 || bits % 8 != 0 || (size_t)bits / 8 > alg->digest_len) {
    mg_st_skip(cc->rep, "case %zu: tcId %lld: tagSize %lld not supported",
               cc->i, cc->tcid, (long long)bits);
    return 0;
  }
  uint8_t mac[MG_MAX_HASH_LEN];
  int rc = alg->hmac(alg, mac, key, key_len, msg, msg_len);
  if (rc < 0) {
    cc->err = rc;
    return 1;
  }
  /* The expected tag is the MAC truncated to tagSize bits; anything else
   * (other length, other bytes) does not verify. */
  size_t n = (size_t)bits / 8;
  if (tag_len != n || !mg_ct_memeq(mac, tag, n)) {
    cc->err = MG_ERR_VERIFY;
  }
  mg_memzero(mac, sizeof(mac));
  return 1;
}

/* ---- driver ---- */

/* wp_locate finds test |i| (numbered across groups). */
static int wp_locate(const json_t *root, size_t i, const json_t **group,
                     const json_t **test) {
  const json_t *groups = json_object_get(root, "testGroups");
  for (size_t g = 0; g < json_array_size(groups); g++) {
    const json_t *grp = json_array_get(groups, g);
    const json_t *tests = json_object_get(grp, "tests");
    size_t n = json_array_size(tests);
    if (i < n) {
      *group = grp;
      *test = json_array_get(tests, i);
      return 1;
    }
    i -= n;
  }
  return 0;
}

typedef enum { WP_EXPECT_OK, WP_EXPECT_REJECT } wp_expect;

/* wp_decide returns the expected behaviour of an acceptable case and the
 * error a rejection must carry (0: any rejection); -1 with the case failed if
 * a flag has no decision. */
static int wp_decide(wp_case *cc, wp_expect *out, int *want_err) {
  const json_t *flags = json_object_get(cc->test, "flags");
  *out = WP_EXPECT_OK;
  *want_err = 0;
  for (size_t f = 0; f < json_array_size(flags); f++) {
    const char *flag = json_string_value(json_array_get(flags, f));
    size_t d = 0;
    for (; d < sizeof(wp_decisions) / sizeof(wp_decisions[0]); d++) {
      if (wp_decisions[d].type == cc->type && flag != NULL &&
          strcmp(wp_decisions[d].flag, flag) == 0) {
        break;
      }
    }
    if (d == sizeof(wp_decisions) / sizeof(wp_decisions[0])) {
      mg_st_fail(cc->rep,
                 "case %zu: tcId %lld: acceptable case with flag %s, for "
                 "which there is no decision",
                 cc->i, cc->tcid, flag != NULL ? flag : "(not a string)");
      return -1;
    }
    if (wp_decisions[d].reject) {
      *out = WP_EXPECT_REJECT;
      *want_err = wp_decisions[d].want_err;
    }
  }
  return 0;
}

static void wp_run_case(const json_t *root, size_t i, mg_st_report *rep) {
  wp_case cc;
  memset(&cc, 0, sizeof(cc));
  cc.i = i;
  cc.rep = rep;
  int shape = wp_shape(root);
  if (shape < 0 || !wp_locate(root, i, &cc.group, &cc.test) ||
      !json_is_object(cc.test)) {
    mg_st_fail(rep, "case %zu: no such test", i);
    return;
  }
  cc.type = wp_shapes[shape].type;
  cc.alg = wp_shapes[shape].alg;
  cc.tcid = (long long)json_integer_value(json_object_get(cc.test, "tcId"));
  const char *result = json_string_value(json_object_get(cc.test, "result"));
  wp_expect expect;
  int want_err = 0;
  int acceptable = 0;
  if (mg_crypto_init() < 0) {
    mg_st_fail(rep, "case %zu: mg_crypto_init failed", i);
    return;
  }
  if (result == NULL) {
    mg_st_fail(rep, "case %zu: tcId %lld result missing", i, cc.tcid);
    return;
  }
  if (strcmp(result, "valid") == 0) {
    expect = WP_EXPECT_OK;
  } else if (strcmp(result, "invalid") == 0) {
    expect = WP_EXPECT_REJECT;
  } else if (strcmp(result, "acceptable") == 0) {
    acceptable = 1;
    if (wp_decide(&cc, &expect, &want_err) < 0) {
      return;
    }
  } else {
    mg_st_fail(rep, "case %zu: tcId %lld result \"%s\" unknown", i, cc.tcid,
               result);
    return;
  }

  int ran = 0;
  switch (cc.type) {
  case WP_AEAD:
    ran = wp_run_aead(&cc, expect == WP_EXPECT_OK);
    break;
  case WP_ECDH:
    ran = wp_run_dh(&cc, 1);
    break;
  case WP_XDH:
    ran = wp_run_dh(&cc, 0);
    break;
  case WP_ECDSA:
  case WP_EDDSA:
    ran = wp_run_sig(&cc);
    break;
  case WP_HKDF:
    ran = wp_run_hkdf(&cc);
    break;
  case WP_HMAC:
    ran = wp_run_hmac(&cc);
    break;
  default:
    mg_st_skip(rep, "case %zu: tcId %lld: no runner", i, cc.tcid);
    break;
  }

  if (ran) {
    const char *what = acceptable ? "acceptable" : result;
    if (expect == WP_EXPECT_OK) {
      if (cc.err != 0) {
        mg_st_fail(rep, "case %zu: tcId %lld (%s): rejected with %s", i,
                   cc.tcid, what, mg_err_name(cc.err));
      } else if (cc.differs) {
        (void)mg_st_eq(rep, i, cc.field, cc.got, cc.got_len, cc.want,
                       cc.want_len);
      } else {
        mg_st_pass(rep);
        rep->acceptable += (unsigned)acceptable;
      }
    } else {
      if (cc.err == 0) {
        mg_st_fail(rep, "case %zu: tcId %lld (%s): accepted, must be "
                        "rejected%s",
                   i, cc.tcid, what, cc.differs ? " (and output differs)" : "");
      } else if (!wp_is_rejection(cc.err) ||
                 (want_err != 0 && cc.err != want_err)) {
        mg_st_fail(rep, "case %zu: tcId %lld (%s): rejected with %s, want %s",
                   i, cc.tcid, what, mg_err_name(cc.err),
                   want_err != 0 ? mg_err_name(want_err)
                                 : "a verification/key/parameter error");
      } else {
        mg_st_pass(rep);
        rep->acceptable += (unsigned)acceptable;
      }
    }
  }
  for (size_t b = 0; b < cc.n_bufs; b++) {
    free(cc.bufs[b]);
  }
}

const mg_st_kind mg_st_kind_wycheproof = {
    "wycheproof", wp_match, wp_count, wp_run_case};
