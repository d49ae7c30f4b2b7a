/*
 * Tests of Welcome processing (src/mls/welcome.h, RFC 9420 §12.4.3) on every
 * case of welcome.json, i.e. on all seven cipher suites.  (The selftest kind
 * itself runs in tests/check_framing; here each step is called directly.)
 *
 * Per vector case:
 *   - the joiner's steps (§12.4.3.1): our entry by KeyPackageRef, the
 *     GroupSecrets decrypted with init_priv (no PSKs), the GroupInfo
 *     decrypted, its signature checked with signer_pub, its confirmation
 *     tag checked by the key schedule run from joiner_secret; the welcome
 *     secret of mls_welcome_secret equals the key schedule's; sealing the
 *     decoded GroupInfo again reproduces the vector's encrypted_group_info
 *     byte for byte (deterministic AEAD, exact re-encoding);
 *   - negative tests, each returning its error and leaving the outputs empty
 *     and the Welcome unchanged: another KeyPackageRef (and a shorter one),
 *     another init key, tampered encrypted_group_info (it is the HPKE
 *     context of the group secrets, so both decryptions fail), tampered or
 *     too short ciphertexts, tampered kem_output, wrong joiner secret or
 *     its length, an unused PSK, another suite, GroupSecrets with a
 *     trailing byte or cut short, a GroupInfo naming another suite, a wrong
 *     confirmation tag, wrong signer key, tampered signature or signer;
 *   - our own Welcome for the vector's KeyPackage and a second recipient,
 *     with a GroupInfo re-signed by a fresh key: encoded, decoded, opened
 *     by both recipients, not openable with each other's reference; and a
 *     Welcome whose key schedule includes a PSK.
 */
#include "config.h"

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/hex.h"
#include "common/secmem.h"
#include "crypto/crypto.h"
#include "crypto/hpke.h"
#include "crypto/mls_crypto.h"
#include "crypto/suite.h"
#include "mls/bytes.h"
#include "mls/constants.h"
#include "mls/key_schedule.h"
#include "mls/msg_context.h"
#include "mls/msg_framing.h"
#include "mls/msg_leaf.h"
#include "mls/welcome.h"
#include "selftest/selftest.h"

#define N_CASES 7

static json_t *g_root;

/* ------------------------------------------------------------ helpers */

typedef struct wcase {
  const mls_suite *suite;
  mls_message kp, wm;
  mg_hpke_key key;
  uint8_t ref[MG_MAX_HASH_LEN];
  size_t ref_len;
  uint8_t *signer_pub;
  size_t signer_pub_len;
  uint8_t *welcome_bytes; /* the Welcome as decoded, re-encoded */
  size_t welcome_len;
} wcase;

static void hex_field(const json_t *c, const char *k, uint8_t **p, size_t *n) {
  const json_t *v = json_object_get(c, k);
  ck_assert_msg(json_is_string(v), "field %s missing", k);
  ck_assert_int_eq(
      mg_hex_decode(p, n, json_string_value(v), json_string_length(v)), 0);
}

/* Loads case |i| of welcome.json into |x|. */
static void wcase_load(wcase *x, int i) {
  uint8_t *b = NULL;
  size_t n = 0;
  memset(x, 0, sizeof(*x));
  mg_hpke_key_zero(&x->key);
  ck_assert_ptr_nonnull(g_root);
  const json_t *c = json_array_get(g_root, (size_t)i);
  ck_assert_ptr_nonnull(c);
  json_int_t id = json_integer_value(json_object_get(c, "cipher_suite"));
  x->suite = mls_suite_by_id((uint16_t)id);
  ck_assert_msg(x->suite != NULL, "case %d: suite %d unknown", i, (int)id);
  hex_field(c, "key_package", &b, &n);
  ck_assert_int_eq(mls_message_decode_bytes(b, n, &x->kp), 0);
  ck_assert_int_eq(x->kp.wire_format, MLS_WIRE_KEY_PACKAGE);
  free(b);
  hex_field(c, "welcome", &b, &n);
  ck_assert_int_eq(mls_message_decode_bytes(b, n, &x->wm), 0);
  ck_assert_int_eq(x->wm.wire_format, MLS_WIRE_WELCOME);
  free(b);
  hex_field(c, "init_priv", &b, &n);
  ck_assert_int_eq(mg_hpke_key_init(&x->key, x->suite->kem, b, n), 0);
  free(b);
  hex_field(c, "signer_pub", &x->signer_pub, &x->signer_pub_len);
  ck_assert_int_eq(mls_key_package_ref(&x->kp.key_package, x->ref,
                                       sizeof(x->ref), &x->ref_len),
                   0);
  ck_assert_uint_eq(x->ref_len, x->suite->kdf->nh);
  ck_assert_int_eq(mls_welcome_serialize(&x->wm.welcome, &x->welcome_bytes,
                                         &x->welcome_len),
                   0);
  /* init_priv belongs to the KeyPackage's init_key. */
  size_t pub_len = 0;
  const uint8_t *pub = mg_hpke_key_pub(&x->key, &pub_len);
  ck_assert_uint_eq(pub_len, x->kp.key_package.init_key.len);
  ck_assert_mem_eq(pub, x->kp.key_package.init_key.data, pub_len);
}

/* Asserts that the Welcome of |x| still encodes as loaded. */
static void wcase_assert_unchanged(const wcase *x) {
  uint8_t *b = NULL;
  size_t n = 0;
  ck_assert_int_eq(mls_welcome_serialize(&x->wm.welcome, &b, &n), 0);
  ck_assert_uint_eq(n, x->welcome_len);
  ck_assert_mem_eq(b, x->welcome_bytes, n);
  free(b);
}

static void wcase_free(wcase *x) {
  mls_message_cleanup(&x->kp);
  mls_message_cleanup(&x->wm);
  mg_hpke_key_cleanup(&x->key);
  free(x->signer_pub);
  free(x->welcome_bytes);
}

static int is_zero(const void *p, size_t n) {
  const uint8_t *b = p;
  for (size_t k = 0; k < n; k++) {
    if (b[k] != 0) {
      return 0;
    }
  }
  return 1;
}

/* The vector's joiner path: opens |w| for |x|'s KeyPackage into |gs|, |gi|
 * and |*ep| and asserts each step succeeds. */
static void open_ok(const wcase *x, const mls_welcome *w, const uint8_t *ref,
                    size_t ref_len, const mg_hpke_key *key,
                    const uint8_t *psk_secret, size_t psk_secret_len,
                    mls_group_secrets *gs, mls_group_info *gi,
                    mls_epoch_secrets **ep) {
  ck_assert_int_eq(mls_welcome_open_secrets(x->suite, gs, w, ref, ref_len, key),
                   0);
  ck_assert_int_eq(mls_welcome_open_info(x->suite, gi, ep, w,
                                         gs->joiner_secret.data,
                                         gs->joiner_secret.len, psk_secret,
                                         psk_secret_len),
                   0);
  ck_assert_ptr_nonnull(*ep);
}

/* Asserts that open_secrets fails with |want| and leaves its output empty. */
static void secrets_fail(const wcase *x, const mls_suite *suite,
                         const mls_welcome *w, const uint8_t *ref,
                         size_t ref_len, const mg_hpke_key *key, int want) {
  mls_group_secrets gs;
  memset(&gs, 0, sizeof(gs));
  int rc = mls_welcome_open_secrets(suite, &gs, w, ref, ref_len, key);
  ck_assert_msg(rc == want, "suite %u: open_secrets returned %s, want %s",
                (unsigned)x->suite->id, mg_err_name(rc), mg_err_name(want));
  ck_assert(is_zero(&gs, sizeof(gs)));
}

/* Asserts that open_info fails with |want| and leaves its outputs empty. */
static void info_fail(const wcase *x, const mls_suite *suite,
                      const mls_welcome *w, const uint8_t *joiner,
                      size_t joiner_len, const uint8_t *psk, size_t psk_len,
                      int want) {
  mls_group_info gi;
  mls_epoch_secrets *ep = NULL;
  memset(&gi, 0, sizeof(gi));
  int rc = mls_welcome_open_info(suite, &gi, &ep, w, joiner, joiner_len, psk,
                                 psk_len);
  ck_assert_msg(rc == want, "suite %u: open_info returned %s, want %s",
                (unsigned)x->suite->id, mg_err_name(rc), mg_err_name(want));
  ck_assert_ptr_null(ep);
  ck_assert(is_zero(&gi, sizeof(gi)));
}

/* Replaces the group secrets of entry 0 of |w| with EncryptWithLabel of
 * |pt| to |pub| (RFC 9420 §12.4.3.1), keeping everything else. */
static void reseal_secrets_raw(const mls_suite *suite, mls_welcome *w,
                               const uint8_t *pub, size_t pub_len,
                               const uint8_t *pt, size_t pt_len) {
  uint8_t kem[MG_HPKE_MAX_ENC_LEN];
  size_t kem_len = 0, ct_len = 0;
  uint8_t *ct = malloc(pt_len + suite->aead->tag_len);
  ck_assert_ptr_nonnull(ct);
  ck_assert_int_eq(mls_encrypt_with_label(
                       suite, kem, sizeof(kem), &kem_len, ct,
                       pt_len + suite->aead->tag_len, &ct_len, pub, pub_len,
                       MLS_WELCOME_LABEL, w->encrypted_group_info.data,
                       w->encrypted_group_info.len, pt, pt_len),
                   0);
  mls_hpke_ciphertext *hc = &w->secrets[0].encrypted_group_secrets;
  mls_hpke_ciphertext_cleanup(hc);
  ck_assert_int_eq(mls_bytes_dup(&hc->kem_output, kem, kem_len), 0);
  hc->ciphertext.data = ct;
  hc->ciphertext.len = ct_len;
}

/* Re-seals |gi| into |w| with |welcome_secret| and re-seals entry 0's group
 * secrets |gs| to |pub| (its HPKE context is the new GroupInfo ciphertext). */
static void reseal_all(const mls_suite *suite, mls_welcome *w,
                       const mls_group_info *gi,
                       const mls_group_secrets *gs,
                       const uint8_t *welcome_secret, const uint8_t *pub,
                       size_t pub_len) {
  mls_bytes egi = {NULL, 0};
  ck_assert_int_eq(mls_welcome_seal_info(suite, &egi, gi, welcome_secret,
                                         suite->kdf->nh),
                   0);
  mls_bytes_cleanup(&w->encrypted_group_info);
  w->encrypted_group_info = egi;
  mls_encrypted_group_secrets e;
  memset(&e, 0, sizeof(e));
  ck_assert_int_eq(mls_welcome_seal_secrets(suite, &e, w->secrets[0].new_member.data,
                                            w->secrets[0].new_member.len, pub,
                                            pub_len, gs,
                                            &w->encrypted_group_info),
                   0);
  mls_encrypted_group_secrets_cleanup(&w->secrets[0]);
  w->secrets[0] = e;
}

/* ------------------------------------------------- vector: joiner path */

START_TEST(test_vector_join) {
  wcase x;
  mls_group_secrets gs;
  mls_group_info gi;
  mls_epoch_secrets *ep = NULL;
  uint8_t ws[MG_MAX_HASH_LEN];
  memset(&gs, 0, sizeof(gs));
  memset(&gi, 0, sizeof(gi));
  wcase_load(&x, _i);
  const mls_suite *suite = x.suite;
  size_t nh = suite->kdf->nh;
  mls_welcome *w = &x.wm.welcome;
  ck_assert_uint_eq(w->cipher_suite, suite->id);

  open_ok(&x, w, x.ref, x.ref_len, &x.key, NULL, 0, &gs, &gi, &ep);
  ck_assert_uint_eq(gs.joiner_secret.len, nh);
  ck_assert_uint_eq(gs.num_psks, 0);
  ck_assert_uint_eq(gi.group_context.cipher_suite, suite->id);
  ck_assert_int_eq(mls_group_info_verify(suite, &gi, x.signer_pub,
                                         x.signer_pub_len),
                   0);
  /* The standalone welcome secret is the key schedule's. */
  ck_assert_int_eq(mls_welcome_secret(suite, ws, gs.joiner_secret.data,
                                      gs.joiner_secret.len, NULL, 0),
                   0);
  ck_assert_mem_eq(ws, ep->welcome_secret, nh);
  ck_assert_mem_eq(ep->joiner_secret, gs.joiner_secret.data, nh);
  /* Sealing the decoded GroupInfo again gives the vector's bytes. */
  mls_bytes egi = {NULL, 0};
  ck_assert_int_eq(mls_welcome_seal_info(suite, &egi, &gi, ws, nh), 0);
  ck_assert(mls_bytes_eq(&egi, &w->encrypted_group_info));
  mls_bytes_cleanup(&egi);
  wcase_assert_unchanged(&x);

  mls_group_secrets_cleanup(&gs);
  mls_group_info_cleanup(&gi);
  mls_epoch_secrets_free(ep);
  wcase_free(&x);
}
END_TEST

/* -------------------------------------------- vector: negative tests */

START_TEST(test_vector_reject) {
  wcase x;
  mls_group_secrets gs;
  mls_group_info gi;
  mls_epoch_secrets *ep = NULL;
  mg_hpke_key other;
  memset(&gs, 0, sizeof(gs));
  memset(&gi, 0, sizeof(gi));
  mg_hpke_key_zero(&other);
  wcase_load(&x, _i);
  const mls_suite *suite = x.suite;
  size_t nh = suite->kdf->nh;
  size_t nt = suite->aead->tag_len;
  mls_welcome *w = &x.wm.welcome;
  ck_assert_uint_ge(w->num_secrets, 1);
  open_ok(&x, w, x.ref, x.ref_len, &x.key, NULL, 0, &gs, &gi, &ep);
  const uint8_t *js = gs.joiner_secret.data;

  /* Another KeyPackage: no entry (RFC 9420 §12.4.3.1). */
  x.ref[0] ^= 0x80;
  secrets_fail(&x, suite, w, x.ref, x.ref_len, &x.key, MG_ERR_WELCOME);
  x.ref[0] ^= 0x80;
  secrets_fail(&x, suite, w, x.ref, x.ref_len - 1, &x.key, MG_ERR_WELCOME);
  /* The right entry, another init key. */
  ck_assert_int_eq(mg_hpke_key_generate(&other, suite->kem), 0);
  secrets_fail(&x, suite, w, x.ref, x.ref_len, &other, MG_ERR_AUTH);
  /* Another suite than the Welcome's. */
  const mls_suite *alt = mls_suite_by_id(suite->id == 1 ? 3 : 1);
  ck_assert_ptr_nonnull(alt);
  secrets_fail(&x, alt, w, x.ref, x.ref_len, &x.key, MG_ERR_UNSUPPORTED);
  info_fail(&x, alt, w, js, nh, NULL, 0, MG_ERR_UNSUPPORTED);

  /* Tampered encrypted_group_info: it is also the HPKE context of the
   * group secrets, so both steps fail. */
  size_t mid = w->encrypted_group_info.len / 2;
  w->encrypted_group_info.data[mid] ^= 1;
  secrets_fail(&x, suite, w, x.ref, x.ref_len, &x.key, MG_ERR_AUTH);
  info_fail(&x, suite, w, js, nh, NULL, 0, MG_ERR_AUTH);
  w->encrypted_group_info.data[mid] ^= 1;
  /* encrypted_group_info shorter than a tag. */
  size_t egi_len = w->encrypted_group_info.len;
  w->encrypted_group_info.len = nt - 1;
  info_fail(&x, suite, w, js, nh, NULL, 0, MG_ERR_AUTH);
  w->encrypted_group_info.len = egi_len;

  /* Tampered group secrets ciphertext, or too short. */
  mls_hpke_ciphertext *hc = &w->secrets[0].encrypted_group_secrets;
  for (size_t k = 0; k < w->num_secrets; k++) {
    if (mls_bytes_eq(&w->secrets[k].new_member,
                     &(mls_bytes){x.ref, x.ref_len})) {
      hc = &w->secrets[k].encrypted_group_secrets;
    }
  }
  hc->ciphertext.data[0] ^= 1;
  secrets_fail(&x, suite, w, x.ref, x.ref_len, &x.key, MG_ERR_AUTH);
  hc->ciphertext.data[0] ^= 1;
  size_t ct_len = hc->ciphertext.len;
  hc->ciphertext.len = nt - 1;
  secrets_fail(&x, suite, w, x.ref, x.ref_len, &x.key, MG_ERR_AUTH);
  hc->ciphertext.len = ct_len;
  /* Tampered kem_output: the shared secret differs (AEAD failure) or the
   * encapsulated key is not a valid point. */
  {
    mls_group_secrets g2;
    memset(&g2, 0, sizeof(g2));
    hc->kem_output.data[hc->kem_output.len - 1] ^= 1;
    int rc = mls_welcome_open_secrets(suite, &g2, w, x.ref, x.ref_len, &x.key);
    ck_assert_msg(rc == MG_ERR_AUTH || rc == MG_ERR_BAD_KEY ||
                      rc == MG_ERR_DH_ZERO,
                  "suite %u: tampered kem_output: %s", (unsigned)suite->id,
                  mg_err_name(rc));
    ck_assert(is_zero(&g2, sizeof(g2)));
    hc->kem_output.data[hc->kem_output.len - 1] ^= 1;
  }
  wcase_assert_unchanged(&x);

  /* Wrong joiner secret, wrong length, an unused PSK. */
  uint8_t bad[MG_MAX_HASH_LEN];
  memcpy(bad, js, nh);
  bad[nh - 1] ^= 1;
  info_fail(&x, suite, w, bad, nh, NULL, 0, MG_ERR_AUTH);
  info_fail(&x, suite, w, js, nh - 1, NULL, 0, MG_ERR_PARAM);
  uint8_t psk[MG_MAX_HASH_LEN];
  memset(psk, 0x5a, sizeof(psk));
  info_fail(&x, suite, w, js, nh, psk, nh, MG_ERR_AUTH);
  wcase_assert_unchanged(&x);

  /* The signature: another key, a tampered signature, another signer
   * index (GroupInfoTBS covers it, §12.4.3). */
  {
    uint8_t priv[MG_MAX_SIG_PRIV_LEN], pub[MG_MAX_SIG_PUB_LEN];
    ck_assert_int_eq(suite->sig->generate(suite->sig, priv, pub), 0);
    ck_assert_int_eq(mls_group_info_verify(suite, &gi, pub,
                                           suite->sig->pub_len),
                     MG_ERR_SIGNATURE);
    gi.signature.data[gi.signature.len / 2] ^= 1;
    ck_assert_int_eq(mls_group_info_verify(suite, &gi, x.signer_pub,
                                           x.signer_pub_len),
                     MG_ERR_SIGNATURE);
    gi.signature.data[gi.signature.len / 2] ^= 1;
    gi.signer ^= 1;
    ck_assert_int_eq(mls_group_info_verify(suite, &gi, x.signer_pub,
                                           x.signer_pub_len),
                     MG_ERR_SIGNATURE);
    gi.signer ^= 1;
    ck_assert_int_eq(mls_group_info_verify(suite, &gi, x.signer_pub,
                                           x.signer_pub_len),
                     0);
  }

  /* From here the Welcome is re-sealed with altered contents. */
  const uint8_t *init_pub = x.kp.key_package.init_key.data;
  size_t init_pub_len = x.kp.key_package.init_key.len;
  /* GroupSecrets with a trailing byte, or cut short. */
  {
    uint8_t *pt = NULL;
    size_t pt_len = 0;
    ck_assert_int_eq(mls_group_secrets_serialize(&gs, &pt, &pt_len), 0);
    uint8_t *longer = calloc(1, pt_len + 1);
    ck_assert_ptr_nonnull(longer);
    memcpy(longer, pt, pt_len);
    reseal_secrets_raw(suite, w, init_pub, init_pub_len, longer, pt_len + 1);
    secrets_fail(&x, suite, w, w->secrets[0].new_member.data,
                 w->secrets[0].new_member.len, &x.key, MG_ERR_TRAILING);
    reseal_secrets_raw(suite, w, init_pub, init_pub_len, pt, pt_len - 1);
    secrets_fail(&x, suite, w, w->secrets[0].new_member.data,
                 w->secrets[0].new_member.len, &x.key, MG_ERR_TRUNCATED);
    /* The untouched plaintext opens again (the harness is sound). */
    reseal_secrets_raw(suite, w, init_pub, init_pub_len, pt, pt_len);
    mls_group_secrets g2;
    memset(&g2, 0, sizeof(g2));
    ck_assert_int_eq(mls_welcome_open_secrets(suite, &g2, w,
                                              w->secrets[0].new_member.data,
                                              w->secrets[0].new_member.len,
                                              &x.key),
                     0);
    ck_assert(mls_bytes_eq(&g2.joiner_secret, &gs.joiner_secret));
    mls_group_secrets_cleanup(&g2);
    mg_free_secret(longer, pt_len + 1);
    mg_free_secret(pt, pt_len);
  }
  /* A GroupInfo whose GroupContext names another suite. */
  gi.group_context.cipher_suite = alt->id;
  reseal_all(suite, w, &gi, &gs, ep->welcome_secret, init_pub, init_pub_len);
  info_fail(&x, suite, w, js, nh, NULL, 0, MG_ERR_UNSUPPORTED);
  gi.group_context.cipher_suite = suite->id;
  /* A wrong confirmation tag (the rest intact). */
  gi.confirmation_tag.data[0] ^= 1;
  reseal_all(suite, w, &gi, &gs, ep->welcome_secret, init_pub, init_pub_len);
  info_fail(&x, suite, w, js, nh, NULL, 0, MG_ERR_CONFIRMATION_TAG);
  gi.confirmation_tag.data[0] ^= 1;
  /* Restored, it opens again. */
  reseal_all(suite, w, &gi, &gs, ep->welcome_secret, init_pub, init_pub_len);
  {
    mls_group_info g2;
    mls_epoch_secrets *e2 = NULL;
    memset(&g2, 0, sizeof(g2));
    ck_assert_int_eq(mls_welcome_open_info(suite, &g2, &e2, w, js, nh, NULL, 0),
                     0);
    ck_assert_mem_eq(e2->epoch_authenticator, ep->epoch_authenticator, nh);
    mls_group_info_cleanup(&g2);
    mls_epoch_secrets_free(e2);
  }

  mg_hpke_key_cleanup(&other);
  mls_group_secrets_cleanup(&gs);
  mls_group_info_cleanup(&gi);
  mls_epoch_secrets_free(ep);
  wcase_free(&x);
}
END_TEST

/* ----------------------------------------------------- our own Welcome */

START_TEST(test_own_welcome) {
  wcase x;
  mls_group_secrets gs, gs2, got1, got2;
  mls_group_info gi, got_gi;
  mls_epoch_secrets *ep = NULL, *got_ep = NULL;
  mls_welcome mine, dec;
  mg_hpke_key k2;
  uint8_t ref2[MG_MAX_HASH_LEN];
  uint8_t priv[MG_MAX_SIG_PRIV_LEN], pub[MG_MAX_SIG_PUB_LEN];
  uint8_t *wire = NULL, *a = NULL, *b = NULL;
  size_t wire_len = 0, a_len = 0, b_len = 0;
  memset(&gs, 0, sizeof(gs));
  memset(&gs2, 0, sizeof(gs2));
  memset(&got1, 0, sizeof(got1));
  memset(&got2, 0, sizeof(got2));
  memset(&gi, 0, sizeof(gi));
  memset(&got_gi, 0, sizeof(got_gi));
  memset(&mine, 0, sizeof(mine));
  memset(&dec, 0, sizeof(dec));
  mg_hpke_key_zero(&k2);
  wcase_load(&x, _i);
  const mls_suite *suite = x.suite;
  size_t nh = suite->kdf->nh;
  open_ok(&x, &x.wm.welcome, x.ref, x.ref_len, &x.key, NULL, 0, &gs, &gi, &ep);

  /* A second recipient: a fresh init key and a reference of its own; its
   * GroupSecrets also carry a path secret. */
  ck_assert_int_eq(mg_hpke_key_generate(&k2, suite->kem), 0);
  size_t pub2_len = 0;
  const uint8_t *pub2 = mg_hpke_key_pub(&k2, &pub2_len);
  memcpy(ref2, x.ref, x.ref_len);
  ref2[x.ref_len - 1] ^= 0xff;
  ck_assert_int_eq(mls_bytes_copy(&gs2.joiner_secret, &gs.joiner_secret), 0);
  gs2.has_path_secret = 1;
  ck_assert_int_eq(mls_bytes_dup(&gs2.path_secret, ep->exporter_secret, nh), 0);

  /* The GroupInfo re-signed by a fresh key. */
  ck_assert_int_eq(suite->sig->generate(suite->sig, priv, pub), 0);
  ck_assert_int_eq(mls_group_info_sign(suite, &gi, priv, suite->sig->priv_len),
                   0);

  mine.cipher_suite = suite->id;
  mine.secrets = calloc(2, sizeof(*mine.secrets));
  ck_assert_ptr_nonnull(mine.secrets);
  mine.num_secrets = 2;
  ck_assert_int_eq(mls_welcome_seal_info(suite, &mine.encrypted_group_info, &gi,
                                         ep->welcome_secret, nh),
                   0);
  ck_assert_int_eq(mls_welcome_seal_secrets(
                       suite, &mine.secrets[0], x.ref, x.ref_len,
                       x.kp.key_package.init_key.data,
                       x.kp.key_package.init_key.len, &gs,
                       &mine.encrypted_group_info),
                   0);
  ck_assert_int_eq(mls_welcome_seal_secrets(suite, &mine.secrets[1], ref2,
                                            x.ref_len, pub2, pub2_len, &gs2,
                                            &mine.encrypted_group_info),
                   0);
  ck_assert_uint_eq(mine.secrets[0].encrypted_group_secrets.kem_output.len,
                    suite->kem->enc_len);

  /* Through the wire: encode, decode, re-encode identically. */
  ck_assert_int_eq(mls_welcome_serialize(&mine, &wire, &wire_len), 0);
  mg_reader r;
  mg_reader_init(&r, wire, wire_len);
  ck_assert_int_eq(mls_welcome_decode(&r, &dec), 0);
  ck_assert_int_eq(mg_reader_done(&r), 0);
  ck_assert_int_eq(mls_welcome_serialize(&dec, &a, &a_len), 0);
  ck_assert_uint_eq(a_len, wire_len);
  ck_assert_mem_eq(a, wire, wire_len);
  free(a);
  a = NULL;

  /* Recipient 1 (the vector's KeyPackage). */
  open_ok(&x, &dec, x.ref, x.ref_len, &x.key, NULL, 0, &got1, &got_gi, &got_ep);
  ck_assert(mls_bytes_eq(&got1.joiner_secret, &gs.joiner_secret));
  ck_assert_int_eq(got1.has_path_secret, 0);
  ck_assert_mem_eq(got_ep->epoch_authenticator, ep->epoch_authenticator, nh);
  ck_assert_int_eq(mls_group_info_serialize(&got_gi, &a, &a_len), 0);
  ck_assert_int_eq(mls_group_info_serialize(&gi, &b, &b_len), 0);
  ck_assert_uint_eq(a_len, b_len);
  ck_assert_mem_eq(a, b, a_len);
  ck_assert_int_eq(mls_group_info_verify(suite, &got_gi, pub,
                                         suite->sig->pub_len),
                   0);
  ck_assert_int_eq(mls_group_info_verify(suite, &got_gi, x.signer_pub,
                                         x.signer_pub_len),
                   MG_ERR_SIGNATURE);
  /* Recipient 2. */
  ck_assert_int_eq(mls_welcome_open_secrets(suite, &got2, &dec, ref2, x.ref_len,
                                            &k2),
                   0);
  ck_assert(mls_bytes_eq(&got2.joiner_secret, &gs.joiner_secret));
  ck_assert_int_eq(got2.has_path_secret, 1);
  ck_assert(mls_bytes_eq(&got2.path_secret, &gs2.path_secret));
  /* Each key opens only its own entry. */
  secrets_fail(&x, suite, &dec, ref2, x.ref_len, &x.key, MG_ERR_AUTH);
  secrets_fail(&x, suite, &dec, x.ref, x.ref_len, &k2, MG_ERR_AUTH);

  mls_group_info_cleanup(&got_gi);
  mls_epoch_secrets_free(got_ep);
  got_ep = NULL;
  mls_group_secrets_cleanup(&got1);

  /* A key schedule with a PSK (§8.4): the GroupInfo needs the tag of that
   * epoch; without the PSK the welcome key differs. */
  {
    uint8_t psk[MG_MAX_HASH_LEN];
    uint8_t tag[MG_MAX_HASH_LEN];
    size_t tag_len = 0;
    uint8_t *gc = NULL;
    size_t gc_len = 0;
    mls_epoch_secrets *eps = NULL;
    memset(psk, 0xa5, sizeof(psk));
    ck_assert_int_eq(mls_group_context_serialize(&gi.group_context, &gc,
                                                 &gc_len),
                     0);
    ck_assert_int_eq(mls_epoch_secrets_from_joiner(suite, &eps,
                                                   gs.joiner_secret.data, nh,
                                                   psk, nh, gc, gc_len),
                     0);
    free(gc);
    ck_assert(memcmp(eps->welcome_secret, ep->welcome_secret, nh) != 0);
    ck_assert_int_eq(mls_confirmation_tag_compute(
                         suite, tag, sizeof(tag), &tag_len,
                         eps->confirmation_key, nh,
                         gi.group_context.confirmed_transcript_hash.data,
                         gi.group_context.confirmed_transcript_hash.len),
                     0);
    mls_bytes_cleanup(&gi.confirmation_tag);
    ck_assert_int_eq(mls_bytes_dup(&gi.confirmation_tag, tag, tag_len), 0);
    ck_assert_int_eq(mls_group_info_sign(suite, &gi, priv, suite->sig->priv_len),
                     0);
    reseal_all(suite, &dec, &gi, &gs, eps->welcome_secret,
               x.kp.key_package.init_key.data, x.kp.key_package.init_key.len);
    open_ok(&x, &dec, x.ref, x.ref_len, &x.key, psk, nh, &got1, &got_gi,
            &got_ep);
    ck_assert_mem_eq(got_ep->epoch_authenticator, eps->epoch_authenticator, nh);
    info_fail(&x, suite, &dec, gs.joiner_secret.data, nh, NULL, 0, MG_ERR_AUTH);
    mls_epoch_secrets_free(eps);
  }

  free(wire);
  free(a);
  free(b);
  mls_welcome_cleanup(&mine);
  mls_welcome_cleanup(&dec);
  mls_group_secrets_cleanup(&gs);
  mls_group_secrets_cleanup(&gs2);
  mls_group_secrets_cleanup(&got1);
  mls_group_secrets_cleanup(&got2);
  mls_group_info_cleanup(&gi);
  mls_group_info_cleanup(&got_gi);
  mls_epoch_secrets_free(ep);
  mls_epoch_secrets_free(got_ep);
  mg_hpke_key_cleanup(&k2);
  wcase_free(&x);
}
END_TEST

/* The file has the seven cases, one per suite. */
START_TEST(test_count) {
  ck_assert_ptr_nonnull(g_root);
  ck_assert_uint_eq(json_array_size(g_root), N_CASES);
  unsigned seen = 0;
  for (size_t i = 0; i < N_CASES; i++) {
    json_int_t id =
        json_integer_value(json_object_get(json_array_get(g_root, i),
                                           "cipher_suite"));
    ck_assert(id >= 1 && id <= 7);
    seen |= 1u << id;
  }
  ck_assert_uint_eq(seen, 0xfeu);
}
END_TEST

int main(void) {
  if (mg_crypto_init() < 0) {
    fprintf(stderr, "crypto init failed\n");
    return 1;
  }
  char path[4096];
  json_error_t jerr;
  snprintf(path, sizeof(path), "%s/mls/welcome.json", mg_st_default_dir());
  g_root = json_load_file(path, 0, &jerr);
  if (g_root == NULL) {
    fprintf(stderr, "cannot load %s: %s\n", path, jerr.text);
  }
  Suite *s = suite_create("welcome");
  TCase *tc = tcase_create("welcome.json");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_count);
  tcase_add_loop_test(tc, test_vector_join, 0, N_CASES);
  tcase_add_loop_test(tc, test_vector_reject, 0, N_CASES);
  tcase_add_loop_test(tc, test_own_welcome, 0, N_CASES);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  json_decref(g_root);
  return failed == 0 ? 0 : 1;
}
