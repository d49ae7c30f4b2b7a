/*
 * Check suite for src/crypto/hpke.c (RFC 9180) and src/crypto/mls_crypto.c
 * (RFC 9420 §5, §8).
 *
 *  - round trip for every KEM x KDF x AEAD x mode, cross-checked between the
 *    context API and the single-shot API and between sender and recipient
 *    (this covers P-384 and HKDF-SHA384, which the RFC vectors do not);
 *  - sequence numbers, the message limit, roles, export-only contexts;
 *  - tampered enc/ct/aad/info/psk/sender key fail (MG_ERR_AUTH) without
 *    advancing the recipient; inconsistent psk/psk_id/mode inputs rejected;
 *  - long inputs (heap fallback) against an independent key schedule;
 *  - every case of hpke/test-vectors.json and mls/crypto-basics.json through
 *    the self-test kinds (one loop iteration per case).
 */
#include "config.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "crypto/crypto.h"
#include "crypto/hpke.h"
#include "crypto/mls_crypto.h"
#include "crypto/suite.h"
#include "mlsgate/err.h"
#include "selftest/selftest.h"
#include "vec_loop.h"

static const uint16_t kem_ids[] = {0x0010, 0x0011, 0x0012, 0x0020, 0x0021};
static const uint16_t kdf_ids[] = {0x0001, 0x0002, 0x0003};
static const uint16_t aead_ids[] = {0x0001, 0x0002, 0x0003, 0xFFFF};
static const mg_hpke_mode modes[] = {MG_HPKE_MODE_BASE, MG_HPKE_MODE_PSK,
                                     MG_HPKE_MODE_AUTH, MG_HPKE_MODE_AUTH_PSK};

#define N_KEM (sizeof(kem_ids) / sizeof(kem_ids[0]))
#define N_KDF (sizeof(kdf_ids) / sizeof(kdf_ids[0]))
#define N_AEAD (sizeof(aead_ids) / sizeof(aead_ids[0]))
#define N_MODE (sizeof(modes) / sizeof(modes[0]))
#define N_COMBOS ((int)(N_KEM * N_KDF * N_AEAD * N_MODE))

/* 32 bytes of PSK (the array also holds the string's NUL). */
static const uint8_t k_psk[33] = "0123456789abcdef0123456789abcdef";
#define K_PSK_LEN 32
static const uint8_t k_psk_id[] = "psk id 1";
static const uint8_t k_info[] = "mlsgate hpke test info";

static int is_psk(mg_hpke_mode m) {
  return m == MG_HPKE_MODE_PSK || m == MG_HPKE_MODE_AUTH_PSK;
}

static int is_auth(mg_hpke_mode m) {
  return m == MG_HPKE_MODE_AUTH || m == MG_HPKE_MODE_AUTH_PSK;
}

static void suite_or_die(mg_hpke_suite *s, uint16_t kem, uint16_t kdf,
                         uint16_t aead) {
  int rc = mg_hpke_suite_init(s, kem, kdf, aead);
  ck_assert_msg(rc == 0, "suite %04x/%04x/%04x: %s", kem, kdf, aead,
                mg_err_name(rc));
}

/* Options for |mode| on each side. */
static void make_opts(mg_hpke_opts *os, mg_hpke_opts *orr, mg_hpke_mode mode,
                      const mg_hpke_key *key_s) {
  memset(os, 0, sizeof(*os));
  os->mode = mode;
  if (is_psk(mode)) {
    os->psk = k_psk;
    os->psk_len = K_PSK_LEN;
    os->psk_id = k_psk_id;
    os->psk_id_len = sizeof(k_psk_id) - 1;
  }
  *orr = *os;
  if (is_auth(mode)) {
    os->key_s = key_s;
    orr->pk_s = key_s->pub;
    orr->pk_s_len = key_s->kem->pub_len;
  }
}

/* A sender/recipient pair for one suite and mode. */
typedef struct pair {
  mg_hpke_suite suite;
  mg_hpke_mode mode;
  mg_hpke_key key_r, key_s;
  mg_hpke_opts os, orr;
  mg_hpke_ctx s, r;
  uint8_t enc[MG_HPKE_MAX_ENC_LEN];
  size_t enc_len;
} pair;

static void pair_setup(pair *p, uint16_t kem, uint16_t kdf, uint16_t aead,
                       mg_hpke_mode mode) {
  memset(p, 0, sizeof(*p));
  suite_or_die(&p->suite, kem, kdf, aead);
  p->mode = mode;
  ck_assert_int_eq(mg_hpke_key_generate(&p->key_r, p->suite.kem), 0);
  ck_assert_int_eq(mg_hpke_key_generate(&p->key_s, p->suite.kem), 0);
  make_opts(&p->os, &p->orr, mode, &p->key_s);
  int rc = mg_hpke_setup_sender(&p->s, p->enc, sizeof(p->enc), &p->enc_len,
                                &p->suite, p->key_r.pub, p->suite.kem->pub_len,
                                k_info, sizeof(k_info), &p->os);
  ck_assert_msg(rc == 0, "setup_sender: %s", mg_err_name(rc));
  ck_assert_uint_eq(p->enc_len, p->suite.kem->enc_len);
  rc = mg_hpke_setup_recipient(&p->r, &p->suite, &p->key_r, p->enc,
                               p->enc_len, k_info, sizeof(k_info), &p->orr);
  ck_assert_msg(rc == 0, "setup_recipient: %s", mg_err_name(rc));
}

static void pair_cleanup(pair *p) {
  mg_hpke_ctx_cleanup(&p->s);
  mg_hpke_ctx_cleanup(&p->r);
  mg_hpke_key_cleanup(&p->key_r);
  mg_hpke_key_cleanup(&p->key_s);
}

/* ------------------------------------------------------------- round trip */

START_TEST(test_roundtrip_combo) {
  int i = _i;
  mg_hpke_mode mode = modes[i % (int)N_MODE];
  uint16_t aead = aead_ids[(i / (int)N_MODE) % (int)N_AEAD];
  uint16_t kdf = kdf_ids[(i / (int)(N_MODE * N_AEAD)) % (int)N_KDF];
  uint16_t kem = kem_ids[i / (int)(N_MODE * N_AEAD * N_KDF)];
  pair p;
  pair_setup(&p, kem, kdf, aead, mode);

  uint8_t pt[3][40], ct[64], out[64];
  size_t ct_len = 0, out_len = 0;
  for (int k = 0; k < 3; k++) {
    memset(pt[k], 'a' + k, sizeof(pt[k]));
  }

  /* Exports agree between sender and recipient, and differ by context. */
  uint8_t ex_s[42], ex_r[42], ex_other[42];
  ck_assert_int_eq(mg_hpke_export(&p.s, ex_s, sizeof(ex_s),
                                  (const uint8_t *)"ctx", 3), 0);
  ck_assert_int_eq(mg_hpke_export(&p.r, ex_r, sizeof(ex_r),
                                  (const uint8_t *)"ctx", 3), 0);
  ck_assert_int_eq(mg_hpke_export(&p.r, ex_other, sizeof(ex_other),
                                  (const uint8_t *)"ctY", 3), 0);
  ck_assert_mem_eq(ex_s, ex_r, sizeof(ex_s));
  ck_assert(memcmp(ex_s, ex_other, sizeof(ex_s)) != 0);

  if (p.suite.aead == NULL) {
    ck_assert_int_eq(mg_hpke_seal(&p.s, ct, sizeof(ct), &ct_len, pt[0],
                                  sizeof(pt[0]), NULL, 0),
                     MG_ERR_EXPORT_ONLY);
    uint8_t enc2[MG_HPKE_MAX_ENC_LEN];
    size_t enc2_len = 0;
    ck_assert_int_eq(mg_hpke_seal_single(enc2, sizeof(enc2), &enc2_len, ct,
                                         sizeof(ct), &ct_len, &p.suite,
                                         p.key_r.pub, p.suite.kem->pub_len,
                                         k_info, sizeof(k_info), &p.os, NULL,
                                         0, pt[0], sizeof(pt[0])),
                     MG_ERR_EXPORT_ONLY);
  } else {
    /* Context API, three messages in order. */
    for (int k = 0; k < 3; k++) {
      uint8_t aad[4] = {'a', 'a', 'd', (uint8_t)k};
      ck_assert_int_eq(mg_hpke_seal(&p.s, ct, sizeof(ct), &ct_len, pt[k],
                                    sizeof(pt[k]), aad, sizeof(aad)), 0);
      ck_assert_uint_eq(ct_len, sizeof(pt[k]) + p.suite.aead->tag_len);
      ck_assert(memcmp(ct, pt[k], sizeof(pt[k])) != 0);
      ck_assert_int_eq(mg_hpke_open(&p.r, out, sizeof(out), &out_len, ct,
                                    ct_len, aad, sizeof(aad)), 0);
      ck_assert_uint_eq(out_len, sizeof(pt[k]));
      ck_assert_mem_eq(out, pt[k], out_len);
      ck_assert_uint_eq(mg_hpke_ctx_seq(&p.s), (uint64_t)k + 1);
      ck_assert_uint_eq(mg_hpke_ctx_seq(&p.r), (uint64_t)k + 1);
    }

    /* Single-shot seal, opened by the context API and by single-shot open. */
    uint8_t enc2[MG_HPKE_MAX_ENC_LEN];
    size_t enc2_len = 0;
    int rc = mg_hpke_seal_single(enc2, sizeof(enc2), &enc2_len, ct, sizeof(ct),
                                 &ct_len, &p.suite, p.key_r.pub,
                                 p.suite.kem->pub_len, k_info, sizeof(k_info),
                                 &p.os, (const uint8_t *)"A", 1, pt[1],
                                 sizeof(pt[1]));
    ck_assert_msg(rc == 0, "seal_single: %s", mg_err_name(rc));
    ck_assert(memcmp(enc2, p.enc, enc2_len) != 0); /* fresh ephemeral */
    mg_hpke_ctx r2;
    ck_assert_int_eq(mg_hpke_setup_recipient(&r2, &p.suite, &p.key_r, enc2,
                                             enc2_len, k_info, sizeof(k_info),
                                             &p.orr), 0);
    ck_assert_int_eq(mg_hpke_open(&r2, out, sizeof(out), &out_len, ct, ct_len,
                                  (const uint8_t *)"A", 1), 0);
    ck_assert_mem_eq(out, pt[1], sizeof(pt[1]));
    mg_hpke_ctx_cleanup(&r2);
    memset(out, 0, sizeof(out));
    rc = mg_hpke_open_single(out, sizeof(out), &out_len, &p.suite, &p.key_r,
                             enc2, enc2_len, k_info, sizeof(k_info), &p.orr,
                             (const uint8_t *)"A", 1, ct, ct_len);
    ck_assert_msg(rc == 0, "open_single: %s", mg_err_name(rc));
    ck_assert_uint_eq(out_len, sizeof(pt[1]));
    ck_assert_mem_eq(out, pt[1], sizeof(pt[1]));

    /* A fresh context's first message opens with single-shot open. */
    mg_hpke_ctx s3;
    uint8_t enc3[MG_HPKE_MAX_ENC_LEN];
    size_t enc3_len = 0;
    ck_assert_int_eq(mg_hpke_setup_sender(&s3, enc3, sizeof(enc3), &enc3_len,
                                          &p.suite, p.key_r.pub,
                                          p.suite.kem->pub_len, k_info,
                                          sizeof(k_info), &p.os), 0);
    ck_assert_int_eq(mg_hpke_seal(&s3, ct, sizeof(ct), &ct_len, pt[2],
                                  sizeof(pt[2]), NULL, 0), 0);
    mg_hpke_ctx_cleanup(&s3);
    ck_assert_int_eq(mg_hpke_open_single(out, sizeof(out), &out_len, &p.suite,
                                         &p.key_r, enc3, enc3_len, k_info,
                                         sizeof(k_info), &p.orr, NULL, 0, ct,
                                         ct_len), 0);
    ck_assert_mem_eq(out, pt[2], sizeof(pt[2]));
  }

  /* Single-shot export agrees with the recipient's context export. */
  uint8_t enc4[MG_HPKE_MAX_ENC_LEN], sec[33], sec_r[33], sec_c[33];
  size_t enc4_len = 0;
  ck_assert_int_eq(mg_hpke_send_export(enc4, sizeof(enc4), &enc4_len, sec,
                                       sizeof(sec), &p.suite, p.key_r.pub,
                                       p.suite.kem->pub_len, k_info,
                                       sizeof(k_info), &p.os,
                                       (const uint8_t *)"E", 1), 0);
  ck_assert_int_eq(mg_hpke_receive_export(sec_r, sizeof(sec_r), &p.suite,
                                          &p.key_r, enc4, enc4_len, k_info,
                                          sizeof(k_info), &p.orr,
                                          (const uint8_t *)"E", 1), 0);
  ck_assert_mem_eq(sec, sec_r, sizeof(sec));
  mg_hpke_ctx r4;
  ck_assert_int_eq(mg_hpke_setup_recipient(&r4, &p.suite, &p.key_r, enc4,
                                           enc4_len, k_info, sizeof(k_info),
                                           &p.orr), 0);
  ck_assert_int_eq(mg_hpke_export(&r4, sec_c, sizeof(sec_c),
                                  (const uint8_t *)"E", 1), 0);
  mg_hpke_ctx_cleanup(&r4);
  ck_assert_mem_eq(sec, sec_c, sizeof(sec));

  /* The KEM layer on its own: (Auth)Encap and (Auth)Decap agree. */
  const mg_kem_alg *k = p.suite.kem;
  uint8_t ss1[MG_HPKE_MAX_SECRET_LEN], ss2[MG_HPKE_MAX_SECRET_LEN];
  uint8_t enc5[MG_HPKE_MAX_ENC_LEN];
  if (is_auth(mode)) {
    ck_assert_int_eq(mg_hpke_kem_auth_encap(k, ss1, enc5, p.key_r.pub,
                                            k->pub_len, &p.key_s), 0);
    ck_assert_int_eq(mg_hpke_kem_auth_decap(k, ss2, &p.key_r, enc5,
                                            k->enc_len, p.key_s.pub,
                                            k->pub_len), 0);
  } else {
    ck_assert_int_eq(mg_hpke_kem_encap(k, ss1, enc5, p.key_r.pub, k->pub_len),
                     0);
    ck_assert_int_eq(mg_hpke_kem_decap(k, ss2, &p.key_r, enc5, k->enc_len), 0);
  }
  ck_assert_mem_eq(ss1, ss2, k->secret_len);
  pair_cleanup(&p);
}
END_TEST

/* ------------------------------------------------- sequence and tampering */

START_TEST(test_sequence_and_tamper) {
  /* _i selects X25519 (enc bytes are always a valid point) or P-256 (a
   * flipped enc bit gives an off-curve point). */
  uint16_t kem = _i == 0 ? 0x0020 : 0x0010;
  pair p;
  pair_setup(&p, kem, 0x0001, 0x0001, MG_HPKE_MODE_BASE);
  uint8_t pt[32], ct[3][48], out[64], bad[48];
  size_t ct_len = 0, out_len = 0;
  memset(pt, 0x5a, sizeof(pt));
  for (int k = 0; k < 3; k++) {
    ck_assert_int_eq(mg_hpke_seal(&p.s, ct[k], sizeof(ct[k]), &ct_len, pt,
                                  sizeof(pt), (const uint8_t *)"aad", 3), 0);
    ck_assert_uint_eq(ct_len, 48);
  }
  ck_assert(memcmp(ct[0], ct[1], 48) != 0); /* different nonces */
  ck_assert_uint_eq(mg_hpke_ctx_seq(&p.s), 3);

  /* Out of order: message 1 at seq 0 fails and does not advance. */
  ck_assert_int_eq(mg_hpke_open(&p.r, out, sizeof(out), &out_len, ct[1], 48,
                                (const uint8_t *)"aad", 3), MG_ERR_AUTH);
  ck_assert_uint_eq(mg_hpke_ctx_seq(&p.r), 0);
  /* Every single-bit flip of ciphertext or tag fails. */
  for (size_t pos = 0; pos < 48; pos++) {
    memcpy(bad, ct[0], 48);
    bad[pos] ^= (uint8_t)(1u << (pos % 8));
    ck_assert_int_eq(mg_hpke_open(&p.r, out, sizeof(out), &out_len, bad, 48,
                                  (const uint8_t *)"aad", 3), MG_ERR_AUTH);
  }
  /* Wrong aad, truncated and too-short ciphertexts fail. */
  ck_assert_int_eq(mg_hpke_open(&p.r, out, sizeof(out), &out_len, ct[0], 48,
                                (const uint8_t *)"aaD", 3), MG_ERR_AUTH);
  ck_assert_int_eq(mg_hpke_open(&p.r, out, sizeof(out), &out_len, ct[0], 48,
                                NULL, 0), MG_ERR_AUTH);
  ck_assert_int_eq(mg_hpke_open(&p.r, out, sizeof(out), &out_len, ct[0], 47,
                                (const uint8_t *)"aad", 3), MG_ERR_AUTH);
  ck_assert_int_eq(mg_hpke_open(&p.r, out, sizeof(out), &out_len, ct[0], 15,
                                (const uint8_t *)"aad", 3), MG_ERR_AUTH);
  ck_assert_int_eq(mg_hpke_open(&p.r, out, sizeof(out), &out_len, ct[0], 0,
                                (const uint8_t *)"aad", 3), MG_ERR_AUTH);
  /* Output buffer too small: refused, nothing advanced. */
  ck_assert_int_eq(mg_hpke_open(&p.r, out, 31, &out_len, ct[0], 48,
                                (const uint8_t *)"aad", 3),
                   MG_ERR_BUFFER_TOO_SMALL);
  ck_assert_uint_eq(mg_hpke_ctx_seq(&p.r), 0);
  /* The genuine messages still open, in order. */
  for (int k = 0; k < 3; k++) {
    out_len = 0;
    ck_assert_int_eq(mg_hpke_open(&p.r, out, sizeof(out), &out_len, ct[k], 48,
                                  (const uint8_t *)"aad", 3), 0);
    ck_assert_uint_eq(out_len, 32);
    ck_assert_mem_eq(out, pt, 32);
    ck_assert_uint_eq(mg_hpke_ctx_seq(&p.r), (uint64_t)k + 1);
  }
  /* Replay of message 0 at seq 3 fails. */
  ck_assert_int_eq(mg_hpke_open(&p.r, out, sizeof(out), &out_len, ct[0], 48,
                                (const uint8_t *)"aad", 3), MG_ERR_AUTH);
  ck_assert_uint_eq(mg_hpke_ctx_seq(&p.r), 3);
  /* Seal into a too-small buffer: refused, seq unchanged. */
  ck_assert_int_eq(mg_hpke_seal(&p.s, out, 47, &ct_len, pt, 32, NULL, 0),
                   MG_ERR_BUFFER_TOO_SMALL);
  ck_assert_uint_eq(mg_hpke_ctx_seq(&p.s), 3);

  /* Tampered enc: the first message of the original context must not open. */
  mg_hpke_ctx s1, r1;
  uint8_t enc[MG_HPKE_MAX_ENC_LEN], enc_bad[MG_HPKE_MAX_ENC_LEN];
  size_t enc_len = 0;
  ck_assert_int_eq(mg_hpke_setup_sender(&s1, enc, sizeof(enc), &enc_len,
                                        &p.suite, p.key_r.pub,
                                        p.suite.kem->pub_len, k_info,
                                        sizeof(k_info), NULL), 0);
  ck_assert_int_eq(mg_hpke_seal(&s1, ct[0], 48, &ct_len, pt, 32, NULL, 0), 0);
  memcpy(enc_bad, enc, enc_len);
  enc_bad[enc_len - 1] ^= 0x01;
  int rc = mg_hpke_setup_recipient(&r1, &p.suite, &p.key_r, enc_bad, enc_len,
                                   k_info, sizeof(k_info), NULL);
  if (kem == 0x0020) {
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(mg_hpke_open(&r1, out, sizeof(out), &out_len, ct[0], 48,
                                  NULL, 0), MG_ERR_AUTH);
    ck_assert_uint_eq(mg_hpke_ctx_seq(&r1), 0);
  } else {
    /* Flipping the last bit of Y leaves the curve. */
    ck_assert_int_eq(rc, MG_ERR_BAD_KEY);
    ck_assert_int_eq(mg_hpke_open(&r1, out, sizeof(out), &out_len, ct[0], 48,
                                  NULL, 0), MG_ERR_INVALID_ARG);
  }
  mg_hpke_ctx_cleanup(&r1);
  /* Tampered info. */
  ck_assert_int_eq(mg_hpke_setup_recipient(&r1, &p.suite, &p.key_r, enc,
                                           enc_len, k_info, sizeof(k_info) - 1,
                                           NULL), 0);
  ck_assert_int_eq(mg_hpke_open(&r1, out, sizeof(out), &out_len, ct[0], 48,
                                NULL, 0), MG_ERR_AUTH);
  ck_assert_uint_eq(mg_hpke_ctx_seq(&r1), 0);
  mg_hpke_ctx_cleanup(&r1);
  /* Untampered: opens. */
  ck_assert_int_eq(mg_hpke_setup_recipient(&r1, &p.suite, &p.key_r, enc,
                                           enc_len, k_info, sizeof(k_info),
                                           NULL), 0);
  ck_assert_int_eq(mg_hpke_open(&r1, out, sizeof(out), &out_len, ct[0], 48,
                                NULL, 0), 0);
  ck_assert_mem_eq(out, pt, 32);
  mg_hpke_ctx_cleanup(&r1);
  mg_hpke_ctx_cleanup(&s1);
  pair_cleanup(&p);
}
END_TEST

/* Wrong psk, psk_id or sender key on the recipient side: setup succeeds
 * (HPKE cannot tell) but the first open fails and does not advance. */
START_TEST(test_wrong_psk_or_sender) {
  pair p;
  pair_setup(&p, 0x0020, 0x0001, 0x0003, MG_HPKE_MODE_AUTH_PSK);
  uint8_t pt[16] = {1, 2, 3}, ct[32], out[32];
  size_t ct_len = 0, out_len = 0;
  ck_assert_int_eq(mg_hpke_seal(&p.s, ct, sizeof(ct), &ct_len, pt, sizeof(pt),
                                NULL, 0), 0);
  mg_hpke_key other;
  ck_assert_int_eq(mg_hpke_key_generate(&other, p.suite.kem), 0);
  uint8_t psk2[32];
  memcpy(psk2, k_psk, 32);
  psk2[31] ^= 1;
  for (int variant = 0; variant < 3; variant++) {
    mg_hpke_opts o = p.orr;
    if (variant == 0) {
      o.psk = psk2;
    } else if (variant == 1) {
      o.psk_id = (const uint8_t *)"psk id 2";
    } else {
      o.pk_s = other.pub;
    }
    mg_hpke_ctx r;
    ck_assert_int_eq(mg_hpke_setup_recipient(&r, &p.suite, &p.key_r, p.enc,
                                             p.enc_len, k_info, sizeof(k_info),
                                             &o), 0);
    ck_assert_msg(mg_hpke_open(&r, out, sizeof(out), &out_len, ct, ct_len,
                               NULL, 0) == MG_ERR_AUTH,
                  "variant %d opened", variant);
    ck_assert_uint_eq(mg_hpke_ctx_seq(&r), 0);
    mg_hpke_ctx_cleanup(&r);
  }
  ck_assert_int_eq(mg_hpke_open(&p.r, out, sizeof(out), &out_len, ct, ct_len,
                                NULL, 0), 0);
  ck_assert_mem_eq(out, pt, sizeof(pt));
  mg_hpke_key_cleanup(&other);
  pair_cleanup(&p);
}
END_TEST

/* --------------------------------------------------------- bad mode inputs */

START_TEST(test_opts_rejected) {
  mg_hpke_suite suite;
  suite_or_die(&suite, 0x0020, 0x0001, 0x0001);
  mg_hpke_key kr, ks;
  ck_assert_int_eq(mg_hpke_key_generate(&kr, suite.kem), 0);
  ck_assert_int_eq(mg_hpke_key_generate(&ks, suite.kem), 0);
  mg_hpke_key kother;
  ck_assert_int_eq(mg_hpke_key_generate(&kother, &mg_kem_p256_sha256), 0);
  /* A valid enc to feed the recipient side. */
  uint8_t enc[MG_HPKE_MAX_ENC_LEN];
  size_t enc_len = 0;
  mg_hpke_ctx ctx;
  ck_assert_int_eq(mg_hpke_setup_sender(&ctx, enc, sizeof(enc), &enc_len,
                                        &suite, kr.pub, 32, NULL, 0, NULL), 0);
  mg_hpke_ctx_cleanup(&ctx);

  typedef struct {
    const char *name;
    mg_hpke_mode mode;
    int psk, psk_id, key_s, pk_s; /* which inputs are present */
    int sender_ok, recipient_ok;
  } opt_case;
  static const opt_case cases[] = {
      /* VerifyPSKInputs (RFC 9180 §5.1) */
      {"base + psk + psk_id", MG_HPKE_MODE_BASE, 1, 1, 0, 0, 0, 0},
      {"psk without psk_id", MG_HPKE_MODE_PSK, 1, 0, 0, 0, 0, 0},
      {"psk_id without psk", MG_HPKE_MODE_PSK, 0, 1, 0, 0, 0, 0},
      {"psk mode without psk", MG_HPKE_MODE_PSK, 0, 0, 0, 0, 0, 0},
      {"base + psk only", MG_HPKE_MODE_BASE, 1, 0, 0, 0, 0, 0},
      {"auth + psk + psk_id", MG_HPKE_MODE_AUTH, 1, 1, 1, 1, 0, 0},
      {"auth_psk without psk", MG_HPKE_MODE_AUTH_PSK, 0, 0, 1, 1, 0, 0},
      /* auth inputs must match the mode */
      {"auth without sender key", MG_HPKE_MODE_AUTH, 0, 0, 0, 0, 0, 0},
      {"base with sender key", MG_HPKE_MODE_BASE, 0, 0, 1, 1, 0, 0},
      {"psk with sender key", MG_HPKE_MODE_PSK, 1, 1, 1, 1, 0, 0},
      /* the good ones, as a control */
      {"base", MG_HPKE_MODE_BASE, 0, 0, 0, 0, 1, 1},
      {"psk", MG_HPKE_MODE_PSK, 1, 1, 0, 0, 1, 1},
      {"auth", MG_HPKE_MODE_AUTH, 0, 0, 1, 1, 1, 1},
      {"auth_psk", MG_HPKE_MODE_AUTH_PSK, 1, 1, 1, 1, 1, 1},
  };
  for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
    const opt_case *oc = &cases[c];
    mg_hpke_opts o;
    memset(&o, 0, sizeof(o));
    o.mode = oc->mode;
    if (oc->psk) {
      o.psk = k_psk;
      o.psk_len = K_PSK_LEN;
    }
    if (oc->psk_id) {
      o.psk_id = k_psk_id;
      o.psk_id_len = 3;
    }
    mg_hpke_opts os = o, orr = o;
    if (oc->key_s) {
      os.key_s = &ks;
    }
    if (oc->pk_s) {
      orr.pk_s = ks.pub;
      orr.pk_s_len = 32;
    }
    uint8_t e[MG_HPKE_MAX_ENC_LEN];
    size_t e_len = 0;
    int rc = mg_hpke_setup_sender(&ctx, e, sizeof(e), &e_len, &suite, kr.pub,
                                  32, NULL, 0, &os);
    ck_assert_msg(oc->sender_ok ? rc == 0 : rc == MG_ERR_INVALID_ARG,
                  "%s: sender gave %s", oc->name, mg_err_name(rc));
    if (!oc->sender_ok) {
      /* The context is left in the zero state: nothing works. */
      uint8_t buf[32];
      size_t n = 0;
      ck_assert_int_eq(mg_hpke_seal(&ctx, buf, sizeof(buf), &n, buf, 1, NULL,
                                    0), MG_ERR_INVALID_ARG);
      ck_assert_int_eq(mg_hpke_export(&ctx, buf, 8, NULL, 0),
                       MG_ERR_INVALID_ARG);
      ck_assert_uint_eq(e_len, 0);
    }
    mg_hpke_ctx_cleanup(&ctx);
    rc = mg_hpke_setup_recipient(&ctx, &suite, &kr, enc, enc_len, NULL, 0,
                                 &orr);
    ck_assert_msg(oc->recipient_ok ? rc == 0 : rc == MG_ERR_INVALID_ARG,
                  "%s: recipient gave %s", oc->name, mg_err_name(rc));
    mg_hpke_ctx_cleanup(&ctx);
  }

  /* Role mix-ups and foreign keys. */
  mg_hpke_opts o;
  memset(&o, 0, sizeof(o));
  o.mode = MG_HPKE_MODE_AUTH;
  o.key_s = &ks;
  ck_assert_int_eq(mg_hpke_setup_recipient(&ctx, &suite, &kr, enc, enc_len,
                                           NULL, 0, &o), MG_ERR_INVALID_ARG);
  o.key_s = &kother; /* P-256 key in an X25519 suite */
  uint8_t e[MG_HPKE_MAX_ENC_LEN];
  size_t e_len = 0;
  ck_assert_int_eq(mg_hpke_setup_sender(&ctx, e, sizeof(e), &e_len, &suite,
                                        kr.pub, 32, NULL, 0, &o),
                   MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mg_hpke_setup_recipient(&ctx, &suite, &kother, enc, enc_len,
                                           NULL, 0, NULL), MG_ERR_INVALID_ARG);
  o.mode = (mg_hpke_mode)7;
  o.key_s = NULL;
  ck_assert_int_eq(mg_hpke_setup_sender(&ctx, e, sizeof(e), &e_len, &suite,
                                        kr.pub, 32, NULL, 0, &o),
                   MG_ERR_INVALID_ARG);
  /* NULL psk pointer with a length. */
  memset(&o, 0, sizeof(o));
  o.mode = MG_HPKE_MODE_PSK;
  o.psk_len = 32;
  o.psk_id = k_psk_id;
  o.psk_id_len = 3;
  ck_assert_int_eq(mg_hpke_setup_sender(&ctx, e, sizeof(e), &e_len, &suite,
                                        kr.pub, 32, NULL, 0, &o),
                   MG_ERR_INVALID_ARG);
  mg_hpke_key_cleanup(&kr);
  mg_hpke_key_cleanup(&ks);
  mg_hpke_key_cleanup(&kother);
}
END_TEST

/* ------------------------------------------------------ contexts and roles */

START_TEST(test_export_only) {
  pair p;
  pair_setup(&p, 0x0020, 0x0001, MG_HPKE_AEAD_EXPORT_ONLY, MG_HPKE_MODE_BASE);
  ck_assert_uint_eq(mg_hpke_suite_aead_id(&p.suite), 0xFFFF);
  uint8_t buf[64], out[64];
  size_t n = 0;
  memset(buf, 7, sizeof(buf));
  ck_assert_int_eq(mg_hpke_seal(&p.s, out, sizeof(out), &n, buf, 16, NULL, 0),
                   MG_ERR_EXPORT_ONLY);
  ck_assert_int_eq(mg_hpke_open(&p.r, out, sizeof(out), &n, buf, 32, NULL, 0),
                   MG_ERR_EXPORT_ONLY);
  ck_assert_uint_eq(mg_hpke_ctx_seq(&p.s), 0);
  ck_assert_uint_eq(mg_hpke_ctx_seq(&p.r), 0);
  ck_assert_uint_eq(mg_hpke_ctx_max_overhead(&p.s), 0);
  /* Export works, up to 255*Nh bytes and no further. */
  size_t max = 255 * 32;
  uint8_t *a = malloc(max + 1), *b = malloc(max + 1);
  ck_assert_ptr_nonnull(a);
  ck_assert_ptr_nonnull(b);
  ck_assert_int_eq(mg_hpke_export(&p.s, a, max, NULL, 0), 0);
  ck_assert_int_eq(mg_hpke_export(&p.r, b, max, NULL, 0), 0);
  ck_assert_mem_eq(a, b, max);
  ck_assert_int_eq(mg_hpke_export(&p.s, a, max + 1, NULL, 0), MG_ERR_PARAM);
  /* L is bound into LabeledExpand (I2OSP(L, 2)): a shorter export is not a
   * prefix of a longer one, as it would be with plain HKDF-Expand. */
  ck_assert_int_eq(mg_hpke_export(&p.s, b, 20, NULL, 0), 0);
  ck_assert(memcmp(a, b, 20) != 0);
  free(a);
  free(b);
  pair_cleanup(&p);
}
END_TEST

START_TEST(test_roles_and_zero_state) {
  pair p;
  pair_setup(&p, 0x0020, 0x0001, 0x0001, MG_HPKE_MODE_BASE);
  uint8_t buf[64], out[64];
  size_t n = 0;
  memset(buf, 1, sizeof(buf));
  ck_assert_uint_eq(mg_hpke_ctx_max_overhead(&p.s), 16);
  ck_assert_int_eq(mg_hpke_open(&p.s, out, sizeof(out), &n, buf, 32, NULL, 0),
                   MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mg_hpke_seal(&p.r, out, sizeof(out), &n, buf, 16, NULL, 0),
                   MG_ERR_INVALID_ARG);
  ck_assert_uint_eq(mg_hpke_ctx_seq(&p.s), 0);
  ck_assert_uint_eq(mg_hpke_ctx_seq(&p.r), 0);
  /* Cleanup wipes the secrets and leaves a context that refuses work. */
  mg_hpke_ctx_cleanup(&p.s);
  static const uint8_t zeros[sizeof(p.s)];
  ck_assert_mem_eq(&p.s, zeros, sizeof(p.s));
  ck_assert_int_eq(mg_hpke_seal(&p.s, out, sizeof(out), &n, buf, 16, NULL, 0),
                   MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mg_hpke_export(&p.s, out, 16, NULL, 0), MG_ERR_INVALID_ARG);
  mg_hpke_key_cleanup(&p.key_r);
  static const uint8_t kzeros[sizeof(p.key_r)];
  ck_assert_mem_eq(&p.key_r, kzeros, sizeof(p.key_r));
  pair_cleanup(&p);
}
END_TEST

START_TEST(test_seq_overflow) {
  pair p;
  pair_setup(&p, 0x0020, 0x0001, 0x0003, MG_HPKE_MODE_BASE);
  uint8_t pt[8] = {9}, ct[24], out[24];
  size_t ct_len = 0, out_len = 0;
  mg_hpke_ctx_set_seq_for_testing(&p.s, UINT64_MAX - 1);
  mg_hpke_ctx_set_seq_for_testing(&p.r, UINT64_MAX - 1);
  /* The last permitted message. */
  ck_assert_int_eq(mg_hpke_seal(&p.s, ct, sizeof(ct), &ct_len, pt, 8, NULL, 0),
                   0);
  ck_assert_int_eq(mg_hpke_open(&p.r, out, sizeof(out), &out_len, ct, ct_len,
                                NULL, 0), 0);
  ck_assert_mem_eq(out, pt, 8);
  ck_assert_uint_eq(mg_hpke_ctx_seq(&p.s), UINT64_MAX);
  /* Then the limit. */
  ck_assert_int_eq(mg_hpke_seal(&p.s, ct, sizeof(ct), &ct_len, pt, 8, NULL, 0),
                   MG_ERR_SEQ_OVERFLOW);
  ck_assert_int_eq(mg_hpke_open(&p.r, out, sizeof(out), &out_len, ct, ct_len,
                                NULL, 0), MG_ERR_SEQ_OVERFLOW);
  ck_assert_uint_eq(mg_hpke_ctx_seq(&p.s), UINT64_MAX);
  ck_assert_uint_eq(mg_hpke_ctx_seq(&p.r), UINT64_MAX);
  /* Exports still work at the limit. */
  ck_assert_int_eq(mg_hpke_export(&p.s, out, 16, NULL, 0), 0);
  pair_cleanup(&p);
}
END_TEST

/* --------------------------------------------------------------- key pairs */

START_TEST(test_derive_keypair_deterministic) {
  const mg_kem_alg *kem = mg_hpke_kem_by_id(kem_ids[_i]);
  ck_assert_ptr_nonnull(kem);
  uint8_t ikm[64], ikm2[64];
  for (size_t k = 0; k < sizeof(ikm); k++) {
    ikm[k] = (uint8_t)(k * 7 + 1);
  }
  memcpy(ikm2, ikm, sizeof(ikm));
  ikm2[63] ^= 0x80;
  mg_hpke_key a, b, c, d, g1, g2;
  ck_assert_int_eq(mg_hpke_key_derive(&a, kem, ikm, sizeof(ikm)), 0);
  ck_assert_int_eq(mg_hpke_key_derive(&b, kem, ikm, sizeof(ikm)), 0);
  ck_assert_int_eq(mg_hpke_key_derive(&c, kem, ikm2, sizeof(ikm2)), 0);
  ck_assert_mem_eq(a.priv, b.priv, kem->priv_len);
  ck_assert_mem_eq(a.pub, b.pub, kem->pub_len);
  ck_assert(memcmp(a.priv, c.priv, kem->priv_len) != 0);
  ck_assert(memcmp(a.pub, c.pub, kem->pub_len) != 0);
  /* The public key is the one pub_from_priv gives (DeserializePrivateKey). */
  ck_assert_int_eq(mg_hpke_key_init(&d, kem, a.priv, kem->priv_len), 0);
  ck_assert_mem_eq(d.pub, a.pub, kem->pub_len);
  if (kem->id == 0x0012) {
    ck_assert_uint_le(a.priv[0], 1); /* bitmask 0x01 */
  }
  if (kem->id < 0x0020) {
    ck_assert_uint_eq(a.pub[0], 0x04); /* uncompressed point */
  }
  /* Derived keys work for encryption. */
  uint8_t ss1[MG_HPKE_MAX_SECRET_LEN], ss2[MG_HPKE_MAX_SECRET_LEN];
  uint8_t enc[MG_HPKE_MAX_ENC_LEN];
  ck_assert_int_eq(mg_hpke_kem_encap(kem, ss1, enc, a.pub, kem->pub_len), 0);
  ck_assert_int_eq(mg_hpke_kem_decap(kem, ss2, &a, enc, kem->enc_len), 0);
  ck_assert_mem_eq(ss1, ss2, kem->secret_len);
  /* Decap with the other key gives a different secret. */
  ck_assert_int_eq(mg_hpke_kem_decap(kem, ss2, &c, enc, kem->enc_len), 0);
  ck_assert(memcmp(ss1, ss2, kem->secret_len) != 0);
  /* Generated keys are fresh. */
  ck_assert_int_eq(mg_hpke_key_generate(&g1, kem), 0);
  ck_assert_int_eq(mg_hpke_key_generate(&g2, kem), 0);
  ck_assert(memcmp(g1.priv, g2.priv, kem->priv_len) != 0);
  /* Empty ikm is allowed (the RFC only recommends Nsk bytes). */
  ck_assert_int_eq(mg_hpke_key_derive(&b, kem, NULL, 0), 0);
  ck_assert(memcmp(a.priv, b.priv, kem->priv_len) != 0);
  mg_hpke_key_cleanup(&a);
  mg_hpke_key_cleanup(&b);
  mg_hpke_key_cleanup(&c);
  mg_hpke_key_cleanup(&d);
  mg_hpke_key_cleanup(&g1);
  mg_hpke_key_cleanup(&g2);
}
END_TEST

START_TEST(test_bad_inputs) {
  mg_hpke_suite s;
  ck_assert_int_eq(mg_hpke_suite_init(&s, 0x0099, 1, 1), MG_ERR_UNSUPPORTED);
  ck_assert_ptr_null(s.kem);
  ck_assert_int_eq(mg_hpke_suite_init(&s, 0x0020, 9, 1), MG_ERR_UNSUPPORTED);
  ck_assert_int_eq(mg_hpke_suite_init(&s, 0x0020, 1, 0), MG_ERR_UNSUPPORTED);
  ck_assert_int_eq(mg_hpke_suite_init(&s, 0x0020, 1, 4), MG_ERR_UNSUPPORTED);
  ck_assert_ptr_null(mg_hpke_aead_by_id(0));
  ck_assert_ptr_null(mg_hpke_aead_by_id(0xFFFF));
  for (size_t k = 0; k < N_KEM; k++) {
    const mg_kem_alg *kem = mg_hpke_kem_by_id(kem_ids[k]);
    ck_assert_ptr_nonnull(kem);
    ck_assert_uint_eq(kem->id, kem_ids[k]);
  }

  mg_hpke_ctx ctx;
  uint8_t enc[MG_HPKE_MAX_ENC_LEN], pk[MG_HPKE_MAX_PUB_LEN];
  size_t enc_len = 0;
  /* X25519: wrong length, low-order point (all-zero shared secret). */
  suite_or_die(&s, 0x0020, 1, 1);
  memset(pk, 0, sizeof(pk));
  ck_assert_int_eq(mg_hpke_setup_sender(&ctx, enc, sizeof(enc), &enc_len, &s,
                                        pk, 31, NULL, 0, NULL),
                   MG_ERR_BAD_KEY);
  ck_assert_int_eq(mg_hpke_setup_sender(&ctx, enc, sizeof(enc), &enc_len, &s,
                                        pk, 32, NULL, 0, NULL),
                   MG_ERR_DH_ZERO);
  mg_hpke_key kr;
  ck_assert_int_eq(mg_hpke_key_generate(&kr, s.kem), 0);
  ck_assert_int_eq(mg_hpke_setup_recipient(&ctx, &s, &kr, pk, 32, NULL, 0,
                                           NULL), MG_ERR_DH_ZERO);
  ck_assert_int_eq(mg_hpke_setup_recipient(&ctx, &s, &kr, pk, 33, NULL, 0,
                                           NULL), MG_ERR_BAD_KEY);
  /* enc buffer too small. */
  ck_assert_int_eq(mg_hpke_setup_sender(&ctx, enc, 31, &enc_len, &s, kr.pub,
                                        32, NULL, 0, NULL),
                   MG_ERR_BUFFER_TOO_SMALL);
  mg_hpke_key_cleanup(&kr);

  /* P-256: point not on the curve, compressed point, bad private keys. */
  suite_or_die(&s, 0x0010, 1, 1);
  memset(pk, 0, sizeof(pk));
  pk[0] = 0x04;
  pk[32] = 1;
  pk[64] = 1;
  ck_assert_int_eq(mg_hpke_setup_sender(&ctx, enc, sizeof(enc), &enc_len, &s,
                                        pk, 65, NULL, 0, NULL),
                   MG_ERR_BAD_KEY);
  ck_assert_int_eq(mg_hpke_key_generate(&kr, s.kem), 0);
  memcpy(pk, kr.pub, 65);
  pk[0] = 0x02;
  ck_assert_int_eq(mg_hpke_setup_sender(&ctx, enc, sizeof(enc), &enc_len, &s,
                                        pk, 65, NULL, 0, NULL),
                   MG_ERR_BAD_KEY);
  ck_assert_int_eq(mg_hpke_setup_sender(&ctx, enc, sizeof(enc), &enc_len, &s,
                                        kr.pub, 33, NULL, 0, NULL),
                   MG_ERR_BAD_KEY);
  mg_hpke_key_cleanup(&kr);
  uint8_t sk[32];
  memset(sk, 0, sizeof(sk));
  ck_assert_int_eq(mg_hpke_key_init(&kr, s.kem, sk, 32), MG_ERR_BAD_KEY);
  ck_assert_ptr_null(kr.kem);
  memset(sk, 0xff, sizeof(sk)); /* above the group order */
  ck_assert_int_eq(mg_hpke_key_init(&kr, s.kem, sk, 32), MG_ERR_BAD_KEY);
  ck_assert_int_eq(mg_hpke_key_init(&kr, s.kem, sk, 31), MG_ERR_BAD_KEY);
  ck_assert_int_eq(mg_hpke_key_init_pair(&kr, s.kem, sk, 32, pk, 64),
                   MG_ERR_BAD_KEY);
}
END_TEST

/* ------------------------------------------- long inputs, independent path */

/* An independent LabeledExtract/LabeledExpand (RFC 9180 §4) built with the
 * codec's growable writer, for checking the stack/heap paths of hpke.c. */
static void ref_labeled(const mg_kdf_alg *kdf, int expand, uint8_t *out,
                        size_t out_len, const uint8_t *salt_or_prk,
                        size_t sp_len, const uint8_t *sid, size_t sid_len,
                        const char *label, const uint8_t *in, size_t in_len) {
  mg_writer w;
  ck_assert_int_eq(mg_writer_init(&w, 64, 0), 0);
  if (expand) {
    ck_assert_int_eq(mg_write_u16(&w, (uint16_t)out_len), 0);
  }
  ck_assert_int_eq(mg_write_bytes(&w, (const uint8_t *)"HPKE-v1", 7), 0);
  ck_assert_int_eq(mg_write_bytes(&w, sid, sid_len), 0);
  ck_assert_int_eq(mg_write_bytes(&w, (const uint8_t *)label, strlen(label)),
                   0);
  if (in_len > 0) {
    ck_assert_int_eq(mg_write_bytes(&w, in, in_len), 0);
  }
  int rc;
  static const uint8_t z[1] = {0};
  if (expand) {
    rc = kdf->expand(kdf, out, out_len, salt_or_prk, sp_len,
                     mg_writer_data(&w), mg_writer_len(&w));
  } else {
    rc = kdf->extract(kdf, out, sp_len ? salt_or_prk : z, sp_len,
                      mg_writer_data(&w), mg_writer_len(&w));
  }
  ck_assert_int_eq(rc, 0);
  mg_writer_cleanup(&w);
}

START_TEST(test_long_inputs_vs_reference) {
  mg_hpke_suite s;
  suite_or_die(&s, 0x0020, 0x0002, 0x0002); /* X25519, HKDF-SHA384 */
  size_t info_len = 3000, psk_len = 1500, psk_id_len = 700, ectx_len = 2500;
  uint8_t *info = malloc(info_len), *psk = malloc(psk_len);
  uint8_t *psk_id = malloc(psk_id_len), *ectx = malloc(ectx_len);
  ck_assert(info && psk && psk_id && ectx);
  for (size_t k = 0; k < info_len; k++) {
    info[k] = (uint8_t)k;
  }
  memset(psk, 0x33, psk_len);
  memset(psk_id, 0x44, psk_id_len);
  memset(ectx, 0x55, ectx_len);
  mg_hpke_key kr, ke;
  ck_assert_int_eq(mg_hpke_key_generate(&kr, s.kem), 0);
  ck_assert_int_eq(mg_hpke_key_generate(&ke, s.kem), 0);
  mg_hpke_opts o;
  memset(&o, 0, sizeof(o));
  o.mode = MG_HPKE_MODE_PSK;
  o.psk = psk;
  o.psk_len = psk_len;
  o.psk_id = psk_id;
  o.psk_id_len = psk_id_len;
  mg_hpke_ctx cs, cr;
  mg_hpke_trace_for_testing tr;
  uint8_t enc[MG_HPKE_MAX_ENC_LEN];
  size_t enc_len = 0;
  ck_assert_int_eq(mg_hpke_setup_sender_for_testing(&cs, enc, sizeof(enc),
                                                    &enc_len, &s, kr.pub, 32,
                                                    info, info_len, &o, &ke,
                                                    &tr), 0);
  ck_assert_mem_eq(enc, ke.pub, 32);
  ck_assert_int_eq(mg_hpke_setup_recipient(&cr, &s, &kr, enc, enc_len, info,
                                           info_len, &o), 0);

  /* The key schedule recomputed independently from the shared secret. */
  const mg_kdf_alg *kdf = s.kdf;
  size_t nh = kdf->nh;
  uint8_t sid[10] = {'H', 'P', 'K', 'E', 0x00, 0x20, 0x00, 0x02, 0x00, 0x02};
  uint8_t ksc[1 + 2 * MG_MAX_HASH_LEN], secret[MG_MAX_HASH_LEN];
  uint8_t key[32], nonce[12], exp[MG_MAX_HASH_LEN];
  ksc[0] = 0x01;
  ref_labeled(kdf, 0, ksc + 1, nh, NULL, 0, sid, 10, "psk_id_hash", psk_id,
              psk_id_len);
  ref_labeled(kdf, 0, ksc + 1 + nh, nh, NULL, 0, sid, 10, "info_hash", info,
              info_len);
  ck_assert_uint_eq(tr.key_schedule_context_len, 1 + 2 * nh);
  ck_assert_mem_eq(tr.key_schedule_context, ksc, 1 + 2 * nh);
  ref_labeled(kdf, 0, secret, nh, tr.shared_secret, tr.shared_secret_len, sid,
              10, "secret", psk, psk_len);
  ck_assert_mem_eq(tr.secret, secret, nh);
  ref_labeled(kdf, 1, key, 32, secret, nh, sid, 10, "key", ksc, 1 + 2 * nh);
  ref_labeled(kdf, 1, nonce, 12, secret, nh, sid, 10, "base_nonce", ksc,
              1 + 2 * nh);
  ref_labeled(kdf, 1, exp, nh, secret, nh, sid, 10, "exp", ksc, 1 + 2 * nh);
  ck_assert_mem_eq(cs.key, key, 32);
  ck_assert_mem_eq(cs.base_nonce, nonce, 12);
  ck_assert_mem_eq(cs.exporter_secret, exp, nh);
  ck_assert_mem_eq(cr.exporter_secret, exp, nh);

  /* A long exporter context (heap path of LabeledExpand). */
  uint8_t e1[100], e2[100], eref[100];
  ck_assert_int_eq(mg_hpke_export(&cs, e1, sizeof(e1), ectx, ectx_len), 0);
  ck_assert_int_eq(mg_hpke_export(&cr, e2, sizeof(e2), ectx, ectx_len), 0);
  ref_labeled(kdf, 1, eref, sizeof(eref), exp, nh, sid, 10, "sec", ectx,
              ectx_len);
  ck_assert_mem_eq(e1, eref, sizeof(e1));
  ck_assert_mem_eq(e2, eref, sizeof(e2));

  /* A long aad and plaintext. */
  size_t big = 70000;
  uint8_t *pt = malloc(big), *ct = malloc(big + 16), *out = malloc(big);
  ck_assert(pt && ct && out);
  memset(pt, 0x11, big);
  size_t ct_len = 0, out_len = 0;
  ck_assert_int_eq(mg_hpke_seal(&cs, ct, big + 16, &ct_len, pt, big, info,
                                info_len), 0);
  ck_assert_int_eq(mg_hpke_open(&cr, out, big, &out_len, ct, ct_len, info,
                                info_len), 0);
  ck_assert_uint_eq(out_len, big);
  ck_assert_mem_eq(out, pt, big);
  /* In-place open. */
  ck_assert_int_eq(mg_hpke_seal(&cs, ct, big + 16, &ct_len, pt, big, NULL, 0),
                   0);
  ck_assert_int_eq(mg_hpke_open(&cr, ct, big + 16, &out_len, ct, ct_len, NULL,
                                0), 0);
  ck_assert_mem_eq(ct, pt, big);
  free(pt);
  free(ct);
  free(out);
  free(info);
  free(psk);
  free(psk_id);
  free(ectx);
  mg_hpke_ctx_cleanup(&cs);
  mg_hpke_ctx_cleanup(&cr);
  mg_hpke_key_cleanup(&kr);
  mg_hpke_key_cleanup(&ke);
}
END_TEST

/* --------------------------------------------------- MLS helpers (§5, §8) */

START_TEST(test_mls_helpers) {
  const mls_suite *suite = mls_suite_by_id((uint16_t)(_i + 1));
  ck_assert_ptr_nonnull(suite);
  size_t nh = suite->kdf->nh;
  uint8_t secret[MG_MAX_HASH_LEN];
  memset(secret, 0x42, sizeof(secret));

  /* ExpandWithLabel against a KDFLabel built by hand, with a short context
   * (stack path) and a long one (heap path). */
  static uint8_t ctxbuf[1200];
  for (size_t k = 0; k < sizeof(ctxbuf); k++) {
    ctxbuf[k] = (uint8_t)(k * 3);
  }
  /* 63/64 straddle the direct-layout / codec boundary of the KDFLabel. */
  size_t ctx_lens[] = {0, 5, 63, 64, 400, sizeof(ctxbuf)};
  for (size_t c = 0; c < sizeof(ctx_lens) / sizeof(ctx_lens[0]); c++) {
    uint8_t got[80], want[80];
    mg_writer w;
    ck_assert_int_eq(mg_writer_init(&w, 64, 0), 0);
    ck_assert_int_eq(mg_write_u16(&w, 80), 0);
    ck_assert_int_eq(mg_write_opaque(&w, (const uint8_t *)"MLS 1.0 test label",
                                     18), 0);
    ck_assert_int_eq(mg_write_opaque(&w, ctxbuf, ctx_lens[c]), 0);
    ck_assert_int_eq(suite->kdf->expand(suite->kdf, want, 80, secret, nh,
                                        mg_writer_data(&w), mg_writer_len(&w)),
                     0);
    mg_writer_cleanup(&w);
    ck_assert_int_eq(mls_expand_with_label(suite, got, 80, secret, nh,
                                           "test label", ctxbuf, ctx_lens[c]),
                     0);
    ck_assert_mem_eq(got, want, 80);
  }
  /* Labels whose "MLS 1.0 " + label is 63 and 64 bytes (varint boundary). */
  for (size_t llen = 54; llen <= 57; llen++) {
    char label[64];
    uint8_t full[8 + 64];
    memset(label, 'L', llen);
    label[llen] = '\0';
    memcpy(full, "MLS 1.0 ", 8);
    memcpy(full + 8, label, llen);
    uint8_t got[40], want[40];
    mg_writer w;
    ck_assert_int_eq(mg_writer_init(&w, 64, 0), 0);
    ck_assert_int_eq(mg_write_u16(&w, 40), 0);
    ck_assert_int_eq(mg_write_opaque(&w, full, 8 + llen), 0);
    ck_assert_int_eq(mg_write_opaque(&w, ctxbuf, 10), 0);
    ck_assert_int_eq(suite->kdf->expand(suite->kdf, want, 40, secret, nh,
                                        mg_writer_data(&w), mg_writer_len(&w)),
                     0);
    mg_writer_cleanup(&w);
    ck_assert_int_eq(mls_expand_with_label(suite, got, 40, secret, nh, label,
                                           ctxbuf, 10),
                     0);
    ck_assert_mem_eq(got, want, 40);
  }
  /* DeriveSecret = ExpandWithLabel(secret, label, "", Nh); DeriveTreeSecret
   * uses the generation as a big-endian uint32 context. */
  uint8_t a[MG_MAX_HASH_LEN], b[MG_MAX_HASH_LEN];
  ck_assert_int_eq(mls_derive_secret(suite, a, secret, nh, "x"), 0);
  ck_assert_int_eq(mls_expand_with_label(suite, b, nh, secret, nh, "x", NULL,
                                         0), 0);
  ck_assert_mem_eq(a, b, nh);
  const uint8_t gen[4] = {0x01, 0x02, 0x03, 0x04};
  ck_assert_int_eq(mls_derive_tree_secret(suite, a, 12, secret, nh, "nonce",
                                          0x01020304u), 0);
  ck_assert_int_eq(mls_expand_with_label(suite, b, 12, secret, nh, "nonce",
                                         gen, 4), 0);
  ck_assert_mem_eq(a, b, 12);
  /* Length limits. */
  uint8_t *big = malloc(255 * nh + 1);
  ck_assert_ptr_nonnull(big);
  ck_assert_int_eq(mls_expand_with_label(suite, big, 255 * nh + 1, secret, nh,
                                         "x", NULL, 0), MG_ERR_PARAM);
  ck_assert_int_eq(mls_expand_with_label(suite, big, 255 * nh, secret, nh, "x",
                                         NULL, 0), 0);
  free(big);

  /* RefHash and the two reference kinds differ only by label. */
  uint8_t r1[MG_MAX_HASH_LEN], r2[MG_MAX_HASH_LEN];
  size_t r1_len = 0, r2_len = 0;
  ck_assert_int_eq(mls_make_key_package_ref(suite, r1, sizeof(r1), &r1_len,
                                            secret, 10), 0);
  ck_assert_int_eq(mls_ref_hash(suite, r2, sizeof(r2), &r2_len,
                                "MLS 1.0 KeyPackage Reference", secret, 10),
                   0);
  ck_assert_uint_eq(r1_len, suite->hash->digest_len);
  ck_assert_mem_eq(r1, r2, r1_len);
  ck_assert_int_eq(mls_make_proposal_ref(suite, r2, sizeof(r2), &r2_len,
                                         secret, 10), 0);
  ck_assert(memcmp(r1, r2, r1_len) != 0);
  ck_assert_int_eq(mls_ref_hash(suite, r2, 8, &r2_len, "x", secret, 10),
                   MG_ERR_BUFFER_TOO_SMALL);

  /* SignWithLabel: label and content are bound. */
  uint8_t priv[MG_MAX_SIG_PRIV_LEN], pub[MG_MAX_SIG_PUB_LEN];
  ck_assert_int_eq(suite->sig->generate(suite->sig, priv, pub), 0);
  uint8_t sig[MG_MAX_SIG_LEN];
  size_t sig_len = 0;
  ck_assert_int_eq(mls_sign_with_label(suite, sig, sizeof(sig), &sig_len, priv,
                                       suite->sig->priv_len, "LeafNodeTBS",
                                       ctxbuf, 700), 0);
  ck_assert_int_eq(mls_verify_with_label(suite, pub, suite->sig->pub_len,
                                         "LeafNodeTBS", ctxbuf, 700, sig,
                                         sig_len), 0);
  ck_assert_int_eq(mls_verify_with_label(suite, pub, suite->sig->pub_len,
                                         "KeyPackageTBS", ctxbuf, 700, sig,
                                         sig_len), MG_ERR_VERIFY);
  ck_assert_int_eq(mls_verify_with_label(suite, pub, suite->sig->pub_len,
                                         "LeafNodeTBS", ctxbuf, 699, sig,
                                         sig_len), MG_ERR_VERIFY);
  mg_sig_key *sk = NULL, *vk = NULL;
  ck_assert_int_eq(suite->sig->key_from_priv(suite->sig, &sk, priv,
                                             suite->sig->priv_len), 0);
  ck_assert_int_eq(suite->sig->key_from_pub(suite->sig, &vk, pub,
                                            suite->sig->pub_len), 0);
  ck_assert_int_eq(mls_sign_with_label_key(suite, sig, sizeof(sig), &sig_len,
                                           sk, "X", ctxbuf, 3), 0);
  ck_assert_int_eq(mls_verify_with_label_key(suite, vk, "X", ctxbuf, 3, sig,
                                             sig_len), 0);
  ck_assert_int_eq(mls_verify_with_label(suite, pub, suite->sig->pub_len, "X",
                                         ctxbuf, 3, sig, sig_len), 0);
  ck_assert_int_eq(mls_verify_with_label_key(suite, vk, "Y", ctxbuf, 3, sig,
                                             sig_len), MG_ERR_VERIFY);
  mg_sig_key_free(sk);
  mg_sig_key_free(vk);

  /* EncryptWithLabel: label and context are bound. */
  mg_hpke_key hk;
  ck_assert_int_eq(mg_hpke_key_generate(&hk, suite->kem), 0);
  uint8_t kem_out[MG_HPKE_MAX_ENC_LEN], ct[64], pt[64];
  size_t kem_len = 0, ct_len = 0, pt_len = 0;
  ck_assert_int_eq(mls_encrypt_with_label(suite, kem_out, sizeof(kem_out),
                                          &kem_len, ct, sizeof(ct), &ct_len,
                                          hk.pub, suite->kem->pub_len,
                                          "UpdatePathNode", ctxbuf, 50,
                                          secret, 32), 0);
  ck_assert_uint_eq(ct_len, 32 + suite->aead->tag_len);
  ck_assert_int_eq(mls_decrypt_with_label(suite, pt, sizeof(pt), &pt_len,
                                          hk.priv, suite->kem->priv_len,
                                          "UpdatePathNode", ctxbuf, 50,
                                          kem_out, kem_len, ct, ct_len), 0);
  ck_assert_uint_eq(pt_len, 32);
  ck_assert_mem_eq(pt, secret, 32);
  ck_assert_int_eq(mls_decrypt_with_label_key(suite, pt, sizeof(pt), &pt_len,
                                              &hk, "Welcome", ctxbuf, 50,
                                              kem_out, kem_len, ct, ct_len),
                   MG_ERR_AUTH);
  ck_assert_int_eq(mls_decrypt_with_label_key(suite, pt, sizeof(pt), &pt_len,
                                              &hk, "UpdatePathNode", ctxbuf,
                                              49, kem_out, kem_len, ct,
                                              ct_len), MG_ERR_AUTH);
  mg_hpke_key_cleanup(&hk);
}
END_TEST

/* ----------------------------------------------------------- vector files */

static mg_vec_file vec_files[] = {
    {"hpke/test-vectors.json", 128, NULL, NULL},
    {"mls/crypto-basics.json", 7, NULL, NULL},
};

static Suite *hpke_suite(void) {
  Suite *s = suite_create("hpke");
  TCase *tc = tcase_create("roundtrip");
  tcase_set_timeout(tc, 120);
  tcase_add_loop_test(tc, test_roundtrip_combo, 0, N_COMBOS);
  suite_add_tcase(s, tc);

  tc = tcase_create("context");
  tcase_add_loop_test(tc, test_sequence_and_tamper, 0, 2);
  tcase_add_test(tc, test_wrong_psk_or_sender);
  tcase_add_test(tc, test_opts_rejected);
  tcase_add_test(tc, test_export_only);
  tcase_add_test(tc, test_roles_and_zero_state);
  tcase_add_test(tc, test_seq_overflow);
  tcase_add_test(tc, test_long_inputs_vs_reference);
  suite_add_tcase(s, tc);

  tc = tcase_create("keys");
  tcase_add_loop_test(tc, test_derive_keypair_deterministic, 0, (int)N_KEM);
  tcase_add_test(tc, test_bad_inputs);
  suite_add_tcase(s, tc);

  tc = tcase_create("mls_crypto");
  tcase_add_loop_test(tc, test_mls_helpers, 0, MLS_SUITE_MAX);
  suite_add_tcase(s, tc);

  mg_vec_add(s, "hpke and crypto-basics", vec_files,
             sizeof(vec_files) / sizeof(vec_files[0]));
  return s;
}

int main(void) {
  if (mg_crypto_init() < 0) {
    fprintf(stderr, "check_hpke: mg_crypto_init failed\n");
    return 1;
  }
  SRunner *sr = srunner_create(hpke_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failures = srunner_ntests_failed(sr);
  srunner_free(sr);
  mg_vec_release();
  return failures ? 1 : 0;
}
