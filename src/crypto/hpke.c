/*
 * HPKE (RFC 9180) on the crypto.h primitives.  See hpke.h.
 *
 * Labels are concatenated into fixed stack buffers; only inputs longer than
 * MG_HPKE_STACK_LABELED bytes (in total) fall back to a heap buffer.
 */
#include "config.h"

#include "crypto/hpke.h"

#include <stdlib.h>
#include <string.h>

#include "common/guard.h"
#include "common/secmem.h"

/* Room for "HPKE-v1" || suite_id || label || ikm-or-info on the stack.  The
 * largest input on the hot paths is the P-521 AuthEncap kem_context
 * (3 * 133 bytes); info/psk/exporter_context of ordinary size fit too. */
#define MG_HPKE_STACK_LABELED 640

#define HPKE_VERSION_LABEL "HPKE-v1"
#define HPKE_VERSION_LABEL_LEN 7

/* suite_id: "KEM" || I2OSP(kem_id, 2) (RFC 9180 §4.1), or
 * "HPKE" || I2OSP(kem_id, 2) || I2OSP(kdf_id, 2) || I2OSP(aead_id, 2)
 * (RFC 9180 §5.1). */
typedef struct hpke_sid {
  uint8_t b[10];
  size_t len;
} hpke_sid;

static const uint8_t k_empty[1] = {0};

static void put_u16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

static void sid_kem(hpke_sid *sid, const mg_kem_alg *kem) {
  memcpy(sid->b, "KEM", 3);
  put_u16(sid->b + 3, kem->id);
  sid->len = 5;
}

static void sid_hpke(hpke_sid *sid, const mg_hpke_suite *suite) {
  memcpy(sid->b, "HPKE", 4);
  put_u16(sid->b + 4, suite->kem->id);
  put_u16(sid->b + 6, suite->kdf->id);
  put_u16(sid->b + 8, mg_hpke_suite_aead_id(suite));
  sid->len = 10;
}

/* Returns a buffer of |len| bytes: |stack| if it fits, else a new heap
 * buffer (NULL on allocation failure). */
static uint8_t *scratch_get(uint8_t *stack, size_t stack_len, size_t len) {
  if (len <= stack_len) {
    return stack;
  }
  return malloc(len);
}

/* Wipes |len| bytes of |buf| and frees it if it is not |stack|. */
static void scratch_put(uint8_t *buf, uint8_t *stack, size_t len) {
  if (buf == NULL) {
    return;
  }
  if (buf == stack) {
    mg_memzero(buf, len);
  } else {
    mg_free_secret(buf, len);
  }
}

/* LabeledExtract(salt, label, ikm) (RFC 9180 §4): writes kdf->nh bytes.
 * labeled_ikm = "HPKE-v1" || suite_id || label || ikm. */
static int labeled_extract(const mg_kdf_alg *kdf, const hpke_sid *sid,
                           uint8_t *out_prk, const uint8_t *salt,
                           size_t salt_len, const char *label,
                           const uint8_t *ikm, size_t ikm_len) {
  uint8_t stack[MG_HPKE_STACK_LABELED];
  size_t label_len = strlen(label);
  size_t fixed = HPKE_VERSION_LABEL_LEN + sid->len + label_len;
  if (ikm_len > SIZE_MAX - fixed) {
    return MG_ERR_PARAM;
  }
  size_t total = fixed + ikm_len;
  uint8_t *buf = scratch_get(stack, sizeof(stack), total);
  if (buf == NULL) {
    return MG_ERR_NOMEM;
  }
  size_t off = 0;
  memcpy(buf + off, HPKE_VERSION_LABEL, HPKE_VERSION_LABEL_LEN);
  off += HPKE_VERSION_LABEL_LEN;
  memcpy(buf + off, sid->b, sid->len);
  off += sid->len;
  memcpy(buf + off, label, label_len);
  off += label_len;
  if (ikm_len > 0) {
    memcpy(buf + off, ikm, ikm_len);
  }
  int rc = kdf->extract(kdf, out_prk, salt != NULL ? salt : k_empty, salt_len,
                        buf, total);
  scratch_put(buf, stack, total);
  return rc;
}

/* LabeledExpand(prk, label, info, L) (RFC 9180 §4): writes |out_len| bytes.
 * labeled_info = I2OSP(L, 2) || "HPKE-v1" || suite_id || label || info.
 * L > 255*Nh (which also bounds it below 2^16) is MG_ERR_PARAM. */
static int labeled_expand(const mg_kdf_alg *kdf, const hpke_sid *sid,
                          uint8_t *out, size_t out_len, const uint8_t *prk,
                          size_t prk_len, const char *label,
                          const uint8_t *info, size_t info_len) {
  if (out_len > 255 * kdf->nh || out_len > 0xffff) {
    return MG_ERR_PARAM;
  }
  if (out_len == 0) {
    return 0;
  }
  uint8_t stack[MG_HPKE_STACK_LABELED];
  size_t label_len = strlen(label);
  size_t fixed = 2 + HPKE_VERSION_LABEL_LEN + sid->len + label_len;
  if (info_len > SIZE_MAX - fixed) {
    return MG_ERR_PARAM;
  }
  size_t total = fixed + info_len;
  uint8_t *buf = scratch_get(stack, sizeof(stack), total);
  if (buf == NULL) {
    return MG_ERR_NOMEM;
  }
  size_t off = 0;
  put_u16(buf, (uint16_t)out_len);
  off += 2;
  memcpy(buf + off, HPKE_VERSION_LABEL, HPKE_VERSION_LABEL_LEN);
  off += HPKE_VERSION_LABEL_LEN;
  memcpy(buf + off, sid->b, sid->len);
  off += sid->len;
  memcpy(buf + off, label, label_len);
  off += label_len;
  if (info_len > 0) {
    memcpy(buf + off, info, info_len);
  }
  int rc = kdf->expand(kdf, out, out_len, prk, prk_len, buf, total);
  scratch_put(buf, stack, total);
  return rc;
}

/* ----------------------------------------------------------------- suite */

static const mg_kem_alg *const k_kems[] = {
    &mg_kem_p256_sha256, &mg_kem_p384_sha384, &mg_kem_p521_sha512,
    &mg_kem_x25519_sha256, &mg_kem_x448_sha512,
};

static const mg_kdf_alg *const k_kdfs[] = {
    &mg_hkdf_sha256,
    &mg_hkdf_sha384,
    &mg_hkdf_sha512,
};

static const mg_aead_alg *const k_aeads[] = {
    &mg_aes128gcm,
    &mg_aes256gcm,
    &mg_chacha20poly1305,
};

const mg_kem_alg *mg_hpke_kem_by_id(uint16_t id) {
  for (size_t i = 0; i < MG_ARRAY_LEN(k_kems); i++) {
    if (k_kems[i]->id == id) {
      return k_kems[i];
    }
  }
  return NULL;
}

const mg_kdf_alg *mg_hpke_kdf_by_id(uint16_t id) {
  for (size_t i = 0; i < MG_ARRAY_LEN(k_kdfs); i++) {
    if (k_kdfs[i]->id == id) {
      return k_kdfs[i];
    }
  }
  return NULL;
}

const mg_aead_alg *mg_hpke_aead_by_id(uint16_t id) {
  if (id == 0) {
    return NULL; /* reserved; AEADs outside HPKE carry id 0 */
  }
  for (size_t i = 0; i < MG_ARRAY_LEN(k_aeads); i++) {
    if (k_aeads[i]->id == id) {
      return k_aeads[i];
    }
  }
  return NULL;
}

int mg_hpke_suite_init(mg_hpke_suite *out, uint16_t kem_id, uint16_t kdf_id,
                       uint16_t aead_id) {
  MG_ENSURE_REF(out);
  memset(out, 0, sizeof(*out));
  const mg_kem_alg *kem = mg_hpke_kem_by_id(kem_id);
  const mg_kdf_alg *kdf = mg_hpke_kdf_by_id(kdf_id);
  const mg_aead_alg *aead = NULL;
  if (aead_id != MG_HPKE_AEAD_EXPORT_ONLY) {
    aead = mg_hpke_aead_by_id(aead_id);
    if (aead == NULL) {
      return MG_ERR_UNSUPPORTED;
    }
  }
  if (kem == NULL || kdf == NULL) {
    return MG_ERR_UNSUPPORTED;
  }
  out->kem = kem;
  out->kdf = kdf;
  out->aead = aead;
  return 0;
}

uint16_t mg_hpke_suite_aead_id(const mg_hpke_suite *suite) {
  return suite->aead != NULL ? suite->aead->id : MG_HPKE_AEAD_EXPORT_ONLY;
}

/* Checks that |kem| is usable with the fixed-size buffers here. */
static int kem_check(const mg_kem_alg *kem) {
  MG_ENSURE_REF(kem);
  MG_ENSURE(kem->dh != NULL && kem->kdf != NULL, MG_ERR_INVALID_ARG);
  MG_ENSURE(kem->priv_len == kem->dh->priv_len &&
                kem->pub_len == kem->dh->pub_len &&
                kem->enc_len == kem->pub_len &&
                kem->priv_len <= MG_HPKE_MAX_PRIV_LEN &&
                kem->pub_len <= MG_HPKE_MAX_PUB_LEN &&
                kem->dh->secret_len <= MG_MAX_DH_SECRET_LEN &&
                kem->secret_len <= MG_HPKE_MAX_SECRET_LEN &&
                kem->kdf->nh <= MG_MAX_HASH_LEN,
            MG_ERR_INVALID_ARG);
  return 0;
}

static int suite_check(const mg_hpke_suite *suite) {
  MG_ENSURE_REF(suite);
  MG_GUARD(kem_check(suite->kem));
  MG_ENSURE(suite->kdf != NULL && suite->kdf->nh <= MG_MAX_HASH_LEN,
            MG_ERR_INVALID_ARG);
  if (suite->aead != NULL) {
    MG_ENSURE(suite->aead->key_len <= MG_MAX_AEAD_KEY_LEN &&
                  suite->aead->nonce_len <= MG_MAX_AEAD_NONCE_LEN &&
                  suite->aead->nonce_len > 0 &&
                  suite->aead->tag_len <= MG_MAX_AEAD_TAG_LEN,
              MG_ERR_INVALID_ARG);
  }
  return 0;
}

/* ------------------------------------------------------------------- keys */

void mg_hpke_key_zero(mg_hpke_key *key) { memset(key, 0, sizeof(*key)); }

void mg_hpke_key_cleanup(mg_hpke_key *key) {
  if (key != NULL) {
    mg_memzero(key, sizeof(*key));
  }
}

int mg_hpke_key_generate(mg_hpke_key *key, const mg_kem_alg *kem) {
  MG_ENSURE_REF(key);
  mg_hpke_key_zero(key);
  MG_GUARD(kem_check(kem));
  int rc = kem->dh->generate(kem->dh, key->priv, key->pub);
  if (rc < 0) {
    mg_hpke_key_cleanup(key);
    return rc;
  }
  key->kem = kem;
  return 0;
}

/* RFC 9180 §7.1.3: the group orders of the NIST curves. */
static const uint8_t k_order_p256[32] = {
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84,
    0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};
static const uint8_t k_order_p384[48] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xc7, 0x63, 0x4d, 0x81, 0xf4, 0x37, 0x2d, 0xdf, 0x58, 0x1a, 0x0d, 0xb2,
    0x48, 0xb0, 0xa7, 0x7a, 0xec, 0xec, 0x19, 0x6a, 0xcc, 0xc5, 0x29, 0x73};
static const uint8_t k_order_p521[66] = {
    0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfa, 0x51, 0x86,
    0x87, 0x83, 0xbf, 0x2f, 0x96, 0x6b, 0x7f, 0xcc, 0x01, 0x48, 0xf7, 0x09,
    0xa5, 0xd0, 0x3b, 0xb5, 0xc9, 0xb8, 0x89, 0x9c, 0x47, 0xae, 0xbb, 0x6f,
    0xb7, 0x1e, 0x91, 0x38, 0x64, 0x09};

static const uint8_t *curve_order(const mg_dh_alg *dh) {
  if (dh == &mg_dh_p256) {
    return k_order_p256;
  }
  if (dh == &mg_dh_p384) {
    return k_order_p384;
  }
  if (dh == &mg_dh_p521) {
    return k_order_p521;
  }
  return NULL;
}

/* Returns 1 if the big-endian |n|-byte integer |a| is in [1, order-1],
 * without branching on its bytes. */
static int scalar_in_range(const uint8_t *a, const uint8_t *order, size_t n) {
  unsigned borrow = 0;
  unsigned any = 0;
  for (size_t i = n; i-- > 0;) {
    unsigned d = (unsigned)a[i] - (unsigned)order[i] - borrow;
    borrow = (d >> 8) & 1u;
    any |= a[i];
  }
  /* borrow == 1 iff a < order */
  return (int)(borrow & (unsigned)(any != 0));
}

int mg_hpke_key_derive(mg_hpke_key *key, const mg_kem_alg *kem,
                       const uint8_t *ikm, size_t ikm_len) {
  MG_ENSURE_REF(key);
  mg_hpke_key_zero(key);
  MG_GUARD(kem_check(kem));
  MG_ENSURE(ikm != NULL || ikm_len == 0, MG_ERR_INVALID_ARG);
  const mg_dh_alg *dh = kem->dh;
  const mg_kdf_alg *kdf = kem->kdf; /* the KEM's own KDF (§7.1.3) */
  hpke_sid sid;
  uint8_t prk[MG_MAX_HASH_LEN];
  int rc;

  sid_kem(&sid, kem);
  MG_CHECK(labeled_extract(kdf, &sid, prk, NULL, 0, "dkp_prk", ikm, ikm_len));
  if (dh->derive_bitmask == 0) {
    /* X25519/X448: sk = LabeledExpand(dkp_prk, "sk", "", Nsk), used as is
     * (clamping happens inside the DH function). */
    MG_CHECK(labeled_expand(kdf, &sid, key->priv, kem->priv_len, prk, kdf->nh,
                            "sk", NULL, 0));
  } else {
    const uint8_t *order = curve_order(dh);
    if (order == NULL) {
      MG_FAIL(MG_ERR_UNSUPPORTED);
    }
    int found = 0;
    for (unsigned counter = 0; counter <= 255; counter++) {
      uint8_t c = (uint8_t)counter;
      MG_CHECK(labeled_expand(kdf, &sid, key->priv, kem->priv_len, prk,
                              kdf->nh, "candidate", &c, 1));
      key->priv[0] &= dh->derive_bitmask;
      if (scalar_in_range(key->priv, order, kem->priv_len)) {
        found = 1;
        break;
      }
    }
    if (!found) {
      MG_FAIL(MG_ERR_DERIVE_KEYPAIR);
    }
  }
  MG_CHECK(dh->pub_from_priv(dh, key->pub, key->priv));
  key->kem = kem;
  rc = 0;
out:
  mg_memzero(prk, sizeof(prk));
  if (rc < 0) {
    mg_hpke_key_cleanup(key);
  }
  return rc;
}

int mg_hpke_key_init(mg_hpke_key *key, const mg_kem_alg *kem,
                     const uint8_t *priv, size_t priv_len) {
  MG_ENSURE_REF(key);
  mg_hpke_key_zero(key);
  MG_GUARD(kem_check(kem));
  MG_ENSURE_REF(priv);
  MG_ENSURE(priv_len == kem->priv_len, MG_ERR_BAD_KEY);
  memcpy(key->priv, priv, priv_len);
  int rc = kem->dh->pub_from_priv(kem->dh, key->pub, key->priv);
  if (rc < 0) {
    mg_hpke_key_cleanup(key);
    return rc;
  }
  key->kem = kem;
  return 0;
}

int mg_hpke_key_init_pair(mg_hpke_key *key, const mg_kem_alg *kem,
                          const uint8_t *priv, size_t priv_len,
                          const uint8_t *pub, size_t pub_len) {
  MG_ENSURE_REF(key);
  mg_hpke_key_zero(key);
  MG_GUARD(kem_check(kem));
  MG_ENSURE(priv != NULL && pub != NULL, MG_ERR_INVALID_ARG);
  MG_ENSURE(priv_len == kem->priv_len && pub_len == kem->pub_len,
            MG_ERR_BAD_KEY);
  memcpy(key->priv, priv, priv_len);
  memcpy(key->pub, pub, pub_len);
  key->kem = kem;
  return 0;
}

const uint8_t *mg_hpke_key_pub(const mg_hpke_key *key, size_t *out_len) {
  *out_len = key->kem != NULL ? key->kem->pub_len : 0;
  return key->pub;
}

/* -------------------------------------------------------------- DHKEM §4.1 */

/* ExtractAndExpand(dh, kem_context) (RFC 9180 §4.1). */
static int extract_and_expand(const mg_kem_alg *kem, uint8_t *out_ss,
                              const uint8_t *dh, size_t dh_len,
                              const uint8_t *kem_context,
                              size_t kem_context_len) {
  hpke_sid sid;
  uint8_t prk[MG_MAX_HASH_LEN];
  int rc;
  sid_kem(&sid, kem);
  MG_CHECK(labeled_extract(kem->kdf, &sid, prk, NULL, 0, "eae_prk", dh,
                           dh_len));
  MG_CHECK(labeled_expand(kem->kdf, &sid, out_ss, kem->secret_len, prk,
                          kem->kdf->nh, "shared_secret", kem_context,
                          kem_context_len));
out:
  mg_memzero(prk, sizeof(prk));
  return rc;
}

/* Encap(pkR) or, with |key_s|, AuthEncap(pkR, skS).  The ephemeral key is
 * |key_e| if given (test vectors only), else freshly generated. */
static int dhkem_encap(const mg_kem_alg *kem, uint8_t *out_ss,
                       uint8_t *out_enc, const uint8_t *pk_r, size_t pk_r_len,
                       const mg_hpke_key *key_s, const mg_hpke_key *key_e) {
  mg_hpke_key eph;
  uint8_t dh[2 * MG_MAX_DH_SECRET_LEN];
  uint8_t kem_context[3 * MG_HPKE_MAX_PUB_LEN];
  const mg_hpke_key *ek = key_e;
  int rc;

  mg_hpke_key_zero(&eph);
  MG_CHECK(kem_check(kem));
  if (out_ss == NULL || out_enc == NULL || pk_r == NULL) {
    MG_FAIL(MG_ERR_INVALID_ARG);
  }
  if (pk_r_len != kem->pub_len) {
    MG_FAIL(MG_ERR_BAD_KEY);
  }
  if (key_s != NULL && key_s->kem != kem) {
    MG_FAIL(MG_ERR_INVALID_ARG);
  }
  if (ek == NULL) {
    MG_CHECK(mg_hpke_key_generate(&eph, kem));
    ek = &eph;
  } else if (ek->kem != kem) {
    MG_FAIL(MG_ERR_INVALID_ARG);
  }

  const mg_dh_alg *g = kem->dh;
  size_t ndh = g->secret_len;
  size_t npk = kem->pub_len;
  /* dh = DH(skE, pkR) [|| DH(skS, pkR)]; the DH function validates pkR
   * (RFC 9180 §7.1.4). */
  MG_CHECK(g->dh(g, dh, ek->priv, pk_r));
  size_t dh_len = ndh;
  /* kem_context = enc || pkRm [|| pkSm] */
  memcpy(kem_context, ek->pub, npk);
  memcpy(kem_context + npk, pk_r, npk);
  size_t kc_len = 2 * npk;
  if (key_s != NULL) {
    MG_CHECK(g->dh(g, dh + ndh, key_s->priv, pk_r));
    dh_len += ndh;
    memcpy(kem_context + kc_len, key_s->pub, npk);
    kc_len += npk;
  }
  MG_CHECK(extract_and_expand(kem, out_ss, dh, dh_len, kem_context, kc_len));
  memcpy(out_enc, ek->pub, kem->enc_len);
out:
  mg_memzero(dh, sizeof(dh));
  mg_hpke_key_cleanup(&eph);
  if (rc < 0 && out_ss != NULL && kem != NULL &&
      kem->secret_len <= MG_HPKE_MAX_SECRET_LEN) {
    mg_memzero(out_ss, kem->secret_len);
  }
  return rc;
}

/* Decap(enc, skR) or, with |pk_s|, AuthDecap(enc, skR, pkS). */
static int dhkem_decap(const mg_kem_alg *kem, uint8_t *out_ss,
                       const mg_hpke_key *key_r, const uint8_t *enc,
                       size_t enc_len, const uint8_t *pk_s, size_t pk_s_len) {
  uint8_t dh[2 * MG_MAX_DH_SECRET_LEN];
  uint8_t kem_context[3 * MG_HPKE_MAX_PUB_LEN];
  int rc;

  MG_CHECK(kem_check(kem));
  if (out_ss == NULL || key_r == NULL || enc == NULL) {
    MG_FAIL(MG_ERR_INVALID_ARG);
  }
  if (key_r->kem != kem) {
    MG_FAIL(MG_ERR_INVALID_ARG);
  }
  if (enc_len != kem->enc_len) {
    MG_FAIL(MG_ERR_BAD_KEY);
  }
  if (pk_s != NULL && pk_s_len != kem->pub_len) {
    MG_FAIL(MG_ERR_BAD_KEY);
  }

  const mg_dh_alg *g = kem->dh;
  size_t ndh = g->secret_len;
  size_t npk = kem->pub_len;
  MG_CHECK(g->dh(g, dh, key_r->priv, enc));
  size_t dh_len = ndh;
  memcpy(kem_context, enc, npk);
  memcpy(kem_context + npk, key_r->pub, npk);
  size_t kc_len = 2 * npk;
  if (pk_s != NULL) {
    MG_CHECK(g->dh(g, dh + ndh, key_r->priv, pk_s));
    dh_len += ndh;
    memcpy(kem_context + kc_len, pk_s, npk);
    kc_len += npk;
  }
  MG_CHECK(extract_and_expand(kem, out_ss, dh, dh_len, kem_context, kc_len));
out:
  mg_memzero(dh, sizeof(dh));
  if (rc < 0 && out_ss != NULL && kem != NULL &&
      kem->secret_len <= MG_HPKE_MAX_SECRET_LEN) {
    mg_memzero(out_ss, kem->secret_len);
  }
  return rc;
}

int mg_hpke_kem_encap(const mg_kem_alg *kem, uint8_t *out_ss, uint8_t *out_enc,
                      const uint8_t *pk_r, size_t pk_r_len) {
  return dhkem_encap(kem, out_ss, out_enc, pk_r, pk_r_len, NULL, NULL);
}

int mg_hpke_kem_auth_encap(const mg_kem_alg *kem, uint8_t *out_ss,
                           uint8_t *out_enc, const uint8_t *pk_r,
                           size_t pk_r_len, const mg_hpke_key *key_s) {
  MG_ENSURE_REF(key_s);
  return dhkem_encap(kem, out_ss, out_enc, pk_r, pk_r_len, key_s, NULL);
}

int mg_hpke_kem_decap(const mg_kem_alg *kem, uint8_t *out_ss,
                      const mg_hpke_key *key_r, const uint8_t *enc,
                      size_t enc_len) {
  return dhkem_decap(kem, out_ss, key_r, enc, enc_len, NULL, 0);
}

int mg_hpke_kem_auth_decap(const mg_kem_alg *kem, uint8_t *out_ss,
                           const mg_hpke_key *key_r, const uint8_t *enc,
                           size_t enc_len, const uint8_t *pk_s,
                           size_t pk_s_len) {
  MG_ENSURE_REF(pk_s);
  return dhkem_decap(kem, out_ss, key_r, enc, enc_len, pk_s, pk_s_len);
}

/* ------------------------------------------------------------ key schedule */

void mg_hpke_ctx_zero(mg_hpke_ctx *ctx) { memset(ctx, 0, sizeof(*ctx)); }

void mg_hpke_ctx_cleanup(mg_hpke_ctx *ctx) {
  if (ctx != NULL) {
    mg_memzero(ctx, sizeof(*ctx));
  }
}

static int mode_is_auth(mg_hpke_mode mode) {
  return mode == MG_HPKE_MODE_AUTH || mode == MG_HPKE_MODE_AUTH_PSK;
}

static int mode_is_psk(mg_hpke_mode mode) {
  return mode == MG_HPKE_MODE_PSK || mode == MG_HPKE_MODE_AUTH_PSK;
}

/* VerifyPSKInputs (RFC 9180 §5.1) plus the checks that the auth inputs
 * match the mode and the role, and that every given key uses suite->kem. */
static int check_opts(const mg_hpke_opts *opts, const mg_hpke_suite *suite,
                      mg_hpke_role role) {
  if (opts == NULL) {
    return 0; /* mode_base */
  }
  switch (opts->mode) {
  case MG_HPKE_MODE_BASE:
  case MG_HPKE_MODE_PSK:
  case MG_HPKE_MODE_AUTH:
  case MG_HPKE_MODE_AUTH_PSK:
    break;
  default:
    return MG_ERR_INVALID_ARG;
  }
  int got_psk = opts->psk_len > 0;
  int got_psk_id = opts->psk_id_len > 0;
  MG_ENSURE(!got_psk || opts->psk != NULL, MG_ERR_INVALID_ARG);
  MG_ENSURE(!got_psk_id || opts->psk_id != NULL, MG_ERR_INVALID_ARG);
  /* "Inconsistent PSK inputs" */
  MG_ENSURE(got_psk == got_psk_id, MG_ERR_INVALID_ARG);
  /* "PSK input provided when not needed" / "Missing required PSK input" */
  MG_ENSURE(got_psk == mode_is_psk(opts->mode), MG_ERR_INVALID_ARG);

  int auth = mode_is_auth(opts->mode);
  if (role == MG_HPKE_ROLE_SENDER) {
    MG_ENSURE((opts->key_s != NULL) == auth, MG_ERR_INVALID_ARG);
    MG_ENSURE(opts->pk_s == NULL, MG_ERR_INVALID_ARG);
    MG_ENSURE(opts->key_s == NULL || opts->key_s->kem == suite->kem,
              MG_ERR_INVALID_ARG);
  } else {
    MG_ENSURE((opts->pk_s != NULL) == auth, MG_ERR_INVALID_ARG);
    MG_ENSURE(opts->key_s == NULL, MG_ERR_INVALID_ARG);
  }
  return 0;
}

/* Which key-schedule outputs a setup derives.  Contexts handed to callers
 * get both; the single-shot functions (§6) derive only what they use, which
 * saves one HKDF-Expand per call (the local context never leaves them). */
#define KS_AEAD 1u   /* key and base_nonce */
#define KS_EXPORT 2u /* exporter_secret */
#define KS_ALL (KS_AEAD | KS_EXPORT)

/* KeySchedule<ROLE> (RFC 9180 §5.1).  |ctx| is filled in only on success. */
static int key_schedule(mg_hpke_ctx *ctx, const mg_hpke_suite *suite,
                        mg_hpke_role role, const mg_hpke_opts *opts,
                        const uint8_t *shared_secret, size_t ss_len,
                        const uint8_t *info, size_t info_len,
                        mg_hpke_trace_for_testing *trace, unsigned what) {
  const mg_kdf_alg *kdf = suite->kdf;
  size_t nh = kdf->nh;
  mg_hpke_mode mode = opts != NULL ? opts->mode : MG_HPKE_MODE_BASE;
  const uint8_t *psk = opts != NULL ? opts->psk : NULL;
  size_t psk_len = opts != NULL ? opts->psk_len : 0;
  const uint8_t *psk_id = opts != NULL ? opts->psk_id : NULL;
  size_t psk_id_len = opts != NULL ? opts->psk_id_len : 0;
  hpke_sid sid;
  uint8_t ksc[MG_HPKE_MAX_KS_CONTEXT_LEN];
  uint8_t secret[MG_MAX_HASH_LEN];
  mg_hpke_ctx tmp;
  int rc;

  mg_hpke_ctx_zero(&tmp);
  sid_hpke(&sid, suite);
  /* key_schedule_context = mode || psk_id_hash || info_hash */
  ksc[0] = (uint8_t)mode;
  MG_CHECK(labeled_extract(kdf, &sid, ksc + 1, NULL, 0, "psk_id_hash", psk_id,
                           psk_id_len));
  MG_CHECK(labeled_extract(kdf, &sid, ksc + 1 + nh, NULL, 0, "info_hash", info,
                           info_len));
  size_t ksc_len = 1 + 2 * nh;
  MG_CHECK(labeled_extract(kdf, &sid, secret, shared_secret, ss_len, "secret",
                           psk, psk_len));
  if (suite->aead != NULL && (what & KS_AEAD) != 0) {
    /* RFC 9180 §5.3: export-only suites skip key and base_nonce. */
    MG_CHECK(labeled_expand(kdf, &sid, tmp.key, suite->aead->key_len, secret,
                            nh, "key", ksc, ksc_len));
    MG_CHECK(labeled_expand(kdf, &sid, tmp.base_nonce, suite->aead->nonce_len,
                            secret, nh, "base_nonce", ksc, ksc_len));
  }
  if ((what & KS_EXPORT) != 0) {
    MG_CHECK(labeled_expand(kdf, &sid, tmp.exporter_secret, nh, secret, nh,
                            "exp", ksc, ksc_len));
  }
  tmp.suite = *suite;
  tmp.role = role;
  tmp.seq = 0;
  if (trace != NULL) {
    memcpy(trace->shared_secret, shared_secret, ss_len);
    trace->shared_secret_len = ss_len;
    memcpy(trace->key_schedule_context, ksc, ksc_len);
    trace->key_schedule_context_len = ksc_len;
    memcpy(trace->secret, secret, nh);
    trace->secret_len = nh;
  }
  *ctx = tmp;
out:
  mg_memzero(secret, sizeof(secret));
  mg_hpke_ctx_cleanup(&tmp);
  return rc;
}

static int setup_sender(mg_hpke_ctx *ctx, uint8_t *out_enc, size_t enc_cap,
                        size_t *out_enc_len, const mg_hpke_suite *suite,
                        const uint8_t *pk_r, size_t pk_r_len,
                        const uint8_t *info, size_t info_len,
                        const mg_hpke_opts *opts, const mg_hpke_key *key_e,
                        mg_hpke_trace_for_testing *trace, unsigned what) {
  uint8_t ss[MG_HPKE_MAX_SECRET_LEN];
  int rc;

  MG_ENSURE_REF(ctx);
  mg_hpke_ctx_zero(ctx);
  MG_CHECK(suite_check(suite));
  if (out_enc == NULL || out_enc_len == NULL || pk_r == NULL ||
      (info == NULL && info_len > 0)) {
    MG_FAIL(MG_ERR_INVALID_ARG);
  }
  MG_CHECK(check_opts(opts, suite, MG_HPKE_ROLE_SENDER));
  if (enc_cap < suite->kem->enc_len) {
    MG_FAIL(MG_ERR_BUFFER_TOO_SMALL);
  }
  const mg_hpke_key *key_s =
      (opts != NULL && mode_is_auth(opts->mode)) ? opts->key_s : NULL;
  MG_CHECK(dhkem_encap(suite->kem, ss, out_enc, pk_r, pk_r_len, key_s, key_e));
  MG_CHECK(key_schedule(ctx, suite, MG_HPKE_ROLE_SENDER, opts, ss,
                        suite->kem->secret_len, info, info_len, trace, what));
  *out_enc_len = suite->kem->enc_len;
out:
  mg_memzero(ss, sizeof(ss));
  if (rc < 0 && ctx != NULL) {
    mg_hpke_ctx_cleanup(ctx);
  }
  return rc;
}

static int setup_recipient(mg_hpke_ctx *ctx, const mg_hpke_suite *suite,
                           const mg_hpke_key *key_r, const uint8_t *enc,
                           size_t enc_len, const uint8_t *info,
                           size_t info_len, const mg_hpke_opts *opts,
                           mg_hpke_trace_for_testing *trace, unsigned what) {
  uint8_t ss[MG_HPKE_MAX_SECRET_LEN];
  int rc;

  MG_ENSURE_REF(ctx);
  mg_hpke_ctx_zero(ctx);
  MG_CHECK(suite_check(suite));
  if (key_r == NULL || enc == NULL || (info == NULL && info_len > 0)) {
    MG_FAIL(MG_ERR_INVALID_ARG);
  }
  MG_CHECK(check_opts(opts, suite, MG_HPKE_ROLE_RECIPIENT));
  if (opts != NULL && mode_is_auth(opts->mode)) {
    MG_CHECK(dhkem_decap(suite->kem, ss, key_r, enc, enc_len, opts->pk_s,
                         opts->pk_s_len));
  } else {
    MG_CHECK(dhkem_decap(suite->kem, ss, key_r, enc, enc_len, NULL, 0));
  }
  MG_CHECK(key_schedule(ctx, suite, MG_HPKE_ROLE_RECIPIENT, opts, ss,
                        suite->kem->secret_len, info, info_len, trace, what));
out:
  mg_memzero(ss, sizeof(ss));
  if (rc < 0 && ctx != NULL) {
    mg_hpke_ctx_cleanup(ctx);
  }
  return rc;
}

int mg_hpke_setup_sender(mg_hpke_ctx *ctx, uint8_t *out_enc, size_t enc_cap,
                         size_t *out_enc_len, const mg_hpke_suite *suite,
                         const uint8_t *pk_r, size_t pk_r_len,
                         const uint8_t *info, size_t info_len,
                         const mg_hpke_opts *opts) {
  return setup_sender(ctx, out_enc, enc_cap, out_enc_len, suite, pk_r,
                      pk_r_len, info, info_len, opts, NULL, NULL, KS_ALL);
}

int mg_hpke_setup_recipient(mg_hpke_ctx *ctx, const mg_hpke_suite *suite,
                            const mg_hpke_key *key_r, const uint8_t *enc,
                            size_t enc_len, const uint8_t *info,
                            size_t info_len, const mg_hpke_opts *opts) {
  return setup_recipient(ctx, suite, key_r, enc, enc_len, info, info_len, opts,
                         NULL, KS_ALL);
}

int mg_hpke_setup_sender_for_testing(
    mg_hpke_ctx *ctx, uint8_t *out_enc, size_t enc_cap, size_t *out_enc_len,
    const mg_hpke_suite *suite, const uint8_t *pk_r, size_t pk_r_len,
    const uint8_t *info, size_t info_len, const mg_hpke_opts *opts,
    const mg_hpke_key *key_e, mg_hpke_trace_for_testing *trace) {
  if (key_e == NULL) {
    if (ctx != NULL) {
      mg_hpke_ctx_zero(ctx);
    }
    return MG_ERR_INVALID_ARG;
  }
  return setup_sender(ctx, out_enc, enc_cap, out_enc_len, suite, pk_r,
                      pk_r_len, info, info_len, opts, key_e, trace, KS_ALL);
}

int mg_hpke_setup_recipient_for_testing(
    mg_hpke_ctx *ctx, const mg_hpke_suite *suite, const mg_hpke_key *key_r,
    const uint8_t *enc, size_t enc_len, const uint8_t *info, size_t info_len,
    const mg_hpke_opts *opts, mg_hpke_trace_for_testing *trace) {
  return setup_recipient(ctx, suite, key_r, enc, enc_len, info, info_len, opts,
                         trace, KS_ALL);
}

void mg_hpke_ctx_set_seq_for_testing(mg_hpke_ctx *ctx, uint64_t seq) {
  ctx->seq = seq;
}

/* -------------------------------------------------------- seal/open/export */

size_t mg_hpke_ctx_max_overhead(const mg_hpke_ctx *ctx) {
  if (ctx == NULL || ctx->role == MG_HPKE_ROLE_NONE || ctx->suite.aead == NULL) {
    return 0;
  }
  return ctx->suite.aead->tag_len;
}

uint64_t mg_hpke_ctx_seq(const mg_hpke_ctx *ctx) { return ctx->seq; }

/* Checks |ctx| for seal/open in |role| and that the message limit is not
 * reached: IncrementSeq (RFC 9180 §5.2) fails once seq = 2^(8*Nn) - 1; our
 * 64-bit counter gives the same bound min(2^64, 2^(8*Nn)) - 1. */
static int ctx_check_aead(const mg_hpke_ctx *ctx, mg_hpke_role role) {
  MG_ENSURE_REF(ctx);
  MG_ENSURE(ctx->role != MG_HPKE_ROLE_NONE, MG_ERR_INVALID_ARG);
  MG_ENSURE(ctx->suite.aead != NULL, MG_ERR_EXPORT_ONLY);
  MG_ENSURE(ctx->role == role, MG_ERR_INVALID_ARG);
  size_t nn = ctx->suite.aead->nonce_len;
  uint64_t limit =
      nn >= 8 ? UINT64_MAX : (((uint64_t)1 << (8 * nn)) - 1);
  MG_ENSURE(ctx->seq < limit, MG_ERR_SEQ_OVERFLOW);
  return 0;
}

/* ComputeNonce(seq) = base_nonce XOR I2OSP(seq, Nn) (RFC 9180 §5.2). */
static void compute_nonce(const mg_hpke_ctx *ctx, uint8_t *nonce) {
  size_t nn = ctx->suite.aead->nonce_len;
  memcpy(nonce, ctx->base_nonce, nn);
  for (size_t i = 0; i < 8 && i < nn; i++) {
    nonce[nn - 1 - i] ^= (uint8_t)(ctx->seq >> (8 * i));
  }
}

int mg_hpke_seal(mg_hpke_ctx *ctx, uint8_t *out, size_t out_cap,
                 size_t *out_len, const uint8_t *pt, size_t pt_len,
                 const uint8_t *aad, size_t aad_len) {
  MG_GUARD(ctx_check_aead(ctx, MG_HPKE_ROLE_SENDER));
  MG_ENSURE(out != NULL && out_len != NULL, MG_ERR_INVALID_ARG);
  MG_ENSURE(pt != NULL || pt_len == 0, MG_ERR_INVALID_ARG);
  MG_ENSURE(aad != NULL || aad_len == 0, MG_ERR_INVALID_ARG);
  const mg_aead_alg *aead = ctx->suite.aead;
  MG_ENSURE(pt_len <= SIZE_MAX - aead->tag_len, MG_ERR_PARAM);
  MG_ENSURE(out_cap >= pt_len + aead->tag_len, MG_ERR_BUFFER_TOO_SMALL);
  uint8_t nonce[MG_MAX_AEAD_NONCE_LEN];
  compute_nonce(ctx, nonce);
  int rc = aead->seal(aead, out, ctx->key, nonce, aead->nonce_len,
                      aad != NULL ? aad : k_empty, aad_len,
                      pt != NULL ? pt : k_empty, pt_len);
  mg_memzero(nonce, sizeof(nonce));
  if (rc < 0) {
    return rc;
  }
  ctx->seq++;
  *out_len = pt_len + aead->tag_len;
  return 0;
}

int mg_hpke_open(mg_hpke_ctx *ctx, uint8_t *out, size_t out_cap,
                 size_t *out_len, const uint8_t *ct, size_t ct_len,
                 const uint8_t *aad, size_t aad_len) {
  MG_GUARD(ctx_check_aead(ctx, MG_HPKE_ROLE_RECIPIENT));
  MG_ENSURE(out != NULL && out_len != NULL, MG_ERR_INVALID_ARG);
  MG_ENSURE(ct != NULL || ct_len == 0, MG_ERR_INVALID_ARG);
  MG_ENSURE(aad != NULL || aad_len == 0, MG_ERR_INVALID_ARG);
  const mg_aead_alg *aead = ctx->suite.aead;
  /* A ciphertext shorter than the tag cannot be authentic. */
  MG_ENSURE(ct_len >= aead->tag_len, MG_ERR_AUTH);
  MG_ENSURE(out_cap >= ct_len - aead->tag_len, MG_ERR_BUFFER_TOO_SMALL);
  uint8_t nonce[MG_MAX_AEAD_NONCE_LEN];
  compute_nonce(ctx, nonce);
  int rc = aead->open(aead, out, ctx->key, nonce, aead->nonce_len,
                      aad != NULL ? aad : k_empty, aad_len, ct, ct_len);
  mg_memzero(nonce, sizeof(nonce));
  if (rc < 0) {
    return rc;
  }
  ctx->seq++;
  *out_len = ct_len - aead->tag_len;
  return 0;
}

int mg_hpke_export(const mg_hpke_ctx *ctx, uint8_t *out, size_t out_len,
                   const uint8_t *exporter_context,
                   size_t exporter_context_len) {
  MG_ENSURE_REF(ctx);
  MG_ENSURE(ctx->role != MG_HPKE_ROLE_NONE, MG_ERR_INVALID_ARG);
  MG_ENSURE(out != NULL || out_len == 0, MG_ERR_INVALID_ARG);
  MG_ENSURE(exporter_context != NULL || exporter_context_len == 0,
            MG_ERR_INVALID_ARG);
  hpke_sid sid;
  sid_hpke(&sid, &ctx->suite);
  /* Export = LabeledExpand(exporter_secret, "sec", exporter_context, L) */
  return labeled_expand(ctx->suite.kdf, &sid, out, out_len,
                        ctx->exporter_secret, ctx->suite.kdf->nh, "sec",
                        exporter_context, exporter_context_len);
}

/* ------------------------------------------------------- single-shot (§6) */

int mg_hpke_seal_single(uint8_t *out_enc, size_t enc_cap, size_t *out_enc_len,
                        uint8_t *out_ct, size_t ct_cap, size_t *out_ct_len,
                        const mg_hpke_suite *suite, const uint8_t *pk_r,
                        size_t pk_r_len, const uint8_t *info, size_t info_len,
                        const mg_hpke_opts *opts, const uint8_t *aad,
                        size_t aad_len, const uint8_t *pt, size_t pt_len) {
  mg_hpke_ctx ctx;
  int rc;
  mg_hpke_ctx_zero(&ctx);
  MG_GUARD(suite_check(suite));
  MG_ENSURE(suite->aead != NULL, MG_ERR_EXPORT_ONLY);
  MG_CHECK(setup_sender(&ctx, out_enc, enc_cap, out_enc_len, suite, pk_r,
                        pk_r_len, info, info_len, opts, NULL, NULL, KS_AEAD));
  MG_CHECK(mg_hpke_seal(&ctx, out_ct, ct_cap, out_ct_len, pt, pt_len, aad,
                        aad_len));
out:
  mg_hpke_ctx_cleanup(&ctx);
  return rc;
}

int mg_hpke_open_single(uint8_t *out_pt, size_t pt_cap, size_t *out_pt_len,
                        const mg_hpke_suite *suite, const mg_hpke_key *key_r,
                        const uint8_t *enc, size_t enc_len,
                        const uint8_t *info, size_t info_len,
                        const mg_hpke_opts *opts, const uint8_t *aad,
                        size_t aad_len, const uint8_t *ct, size_t ct_len) {
  mg_hpke_ctx ctx;
  int rc;
  mg_hpke_ctx_zero(&ctx);
  MG_GUARD(suite_check(suite));
  MG_ENSURE(suite->aead != NULL, MG_ERR_EXPORT_ONLY);
  MG_CHECK(setup_recipient(&ctx, suite, key_r, enc, enc_len, info, info_len,
                           opts, NULL, KS_AEAD));
  MG_CHECK(mg_hpke_open(&ctx, out_pt, pt_cap, out_pt_len, ct, ct_len, aad,
                        aad_len));
out:
  mg_hpke_ctx_cleanup(&ctx);
  return rc;
}

int mg_hpke_send_export(uint8_t *out_enc, size_t enc_cap, size_t *out_enc_len,
                        uint8_t *out_secret, size_t secret_len,
                        const mg_hpke_suite *suite, const uint8_t *pk_r,
                        size_t pk_r_len, const uint8_t *info, size_t info_len,
                        const mg_hpke_opts *opts,
                        const uint8_t *exporter_context,
                        size_t exporter_context_len) {
  mg_hpke_ctx ctx;
  int rc;
  mg_hpke_ctx_zero(&ctx);
  MG_CHECK(setup_sender(&ctx, out_enc, enc_cap, out_enc_len, suite, pk_r,
                        pk_r_len, info, info_len, opts, NULL, NULL, KS_EXPORT));
  MG_CHECK(mg_hpke_export(&ctx, out_secret, secret_len, exporter_context,
                          exporter_context_len));
out:
  mg_hpke_ctx_cleanup(&ctx);
  return rc;
}

int mg_hpke_receive_export(uint8_t *out_secret, size_t secret_len,
                           const mg_hpke_suite *suite,
                           const mg_hpke_key *key_r, const uint8_t *enc,
                           size_t enc_len, const uint8_t *info,
                           size_t info_len, const mg_hpke_opts *opts,
                           const uint8_t *exporter_context,
                           size_t exporter_context_len) {
  mg_hpke_ctx ctx;
  int rc;
  mg_hpke_ctx_zero(&ctx);
  MG_CHECK(setup_recipient(&ctx, suite, key_r, enc, enc_len, info, info_len,
                           opts, NULL, KS_EXPORT));
  MG_CHECK(mg_hpke_export(&ctx, out_secret, secret_len, exporter_context,
                          exporter_context_len));
out:
  mg_hpke_ctx_cleanup(&ctx);
  return rc;
}

const uint8_t *mg_hpke_key_priv(const mg_hpke_key *key) {
  return key == NULL || key->kem == NULL ? NULL : key->priv;
}
