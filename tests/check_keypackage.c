/*
 * Tests of KeyPackage generation and validation (src/mls/keypackage.h,
 * RFC 9420 §10, §10.1, §7.3):
 *   - generation for all seven suites: the KeyPackage validates, re-encodes
 *     byte for byte after decoding, its KeyPackageRef matches, the private
 *     keys match the public ones; a given signature key is used as is;
 *   - every KeyPackage of messages.json (300), welcome.json (7) and
 *     passive-client-welcome.json (56) validates at a clock inside its
 *     lifetime and fails with MG_ERR_LIFETIME outside it (the passive-client
 *     ones expired in 2024, so today's clock rejects them);
 *   - one mutation per validation rule, each with its own error;
 *   - last_resort round trip; the private bundle is all zero after cleanup;
 *     its init key opens GroupSecrets sealed to the KeyPackage, the leaf key
 *     does not;
 *   - the vectors' private keys (init_priv; passive-client also
 *     encryption_priv and signature_priv) belong to their KeyPackages; the
 *     Add proposals of messages.json validate too.
 */
#include "config.h"

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/codec.h"
#include "common/hex.h"
#include "crypto/crypto.h"
#include "crypto/hpke.h"
#include "crypto/suite.h"
#include "mls/bytes.h"
#include "mls/constants.h"
#include "mls/keypackage.h"
#include "mls/msg_framing.h"
#include "mls/msg_leaf.h"
#include "mls/welcome.h"
#include "selftest/selftest.h"

/* 2026-01-01T00:00:00Z */
#define T_NOW ((uint64_t)1767225600)

static json_t *g_messages, *g_welcome, *g_passive;

/* ------------------------------------------------------------ helpers */

typedef struct gen {
  mls_key_package kp;
  mls_key_package_priv priv;
  mls_bytes enc;
  uint8_t ref[MG_MAX_HASH_LEN];
  size_t ref_len;
} gen;

static void gen_make(gen *g, uint16_t suite, int last_resort) {
  static const uint8_t id[] = "alice";
  mls_key_package_params p;
  memset(g, 0, sizeof(*g));
  memset(&p, 0, sizeof(p));
  p.cipher_suite = suite;
  p.identity = id;
  p.identity_len = sizeof(id) - 1;
  p.now = T_NOW;
  p.validity = 3600;
  p.last_resort = last_resort;
  ck_assert_int_eq(mls_key_package_generate(&g->kp, &g->priv, &g->enc, g->ref,
                                            sizeof(g->ref), &g->ref_len, &p),
                   0);
}

static void gen_free(gen *g) {
  mls_key_package_cleanup(&g->kp);
  mls_key_package_priv_cleanup(&g->priv);
  mls_bytes_cleanup(&g->enc);
}

static mls_key_package_policy policy_at(uint64_t now, uint16_t suite) {
  mls_key_package_policy pol;
  memset(&pol, 0, sizeof(pol));
  pol.now = now;
  pol.cipher_suite = suite;
  return pol;
}

/* Signs the leaf and then the KeyPackage again, so that a mutation is seen
 * by the rule it targets and not by a signature check. */
static void resign(gen *g) {
  const mls_suite *s = mls_suite_by_id(g->kp.cipher_suite);
  ck_assert_ptr_nonnull(s);
  ck_assert_int_eq(mls_leaf_node_sign(s, &g->kp.leaf_node, g->priv.sig_priv,
                                      g->priv.sig_priv_len, NULL, 0, 0),
                   0);
  ck_assert_int_eq(
      mls_key_package_sign(&g->kp, g->priv.sig_priv, g->priv.sig_priv_len), 0);
}

static void list_set(mls_u16_list *l, const uint16_t *v, size_t n) {
  mls_u16_list_cleanup(l);
  l->v = calloc(n, sizeof(*v));
  ck_assert_ptr_nonnull(l->v);
  memcpy(l->v, v, n * sizeof(*v));
  l->n = n;
}

static int all_zero(const void *p, size_t n) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++) {
    if (b[i] != 0) {
      return 0;
    }
  }
  return 1;
}

/* Decodes the hex MLSMessage |hex| that must carry a KeyPackage. */
static void kp_from_message_hex(const char *hex, mls_message *m,
                                uint8_t **raw, size_t *raw_len) {
  ck_assert_ptr_nonnull(hex);
  ck_assert_int_eq(mg_hex_decode(raw, raw_len, hex, strlen(hex)), 0);
  ck_assert_int_eq(mls_message_decode_bytes(*raw, *raw_len, m), 0);
  ck_assert_uint_eq(m->wire_format, MLS_WIRE_KEY_PACKAGE);
}

static const char *str_field(const json_t *c, const char *k) {
  const json_t *v = json_object_get(c, k);
  ck_assert_msg(json_is_string(v), "field %s missing", k);
  return json_string_value(v);
}

/* ------------------------------------------------------- generation */

START_TEST(test_generate_all_suites) {
  uint16_t suite = (uint16_t)(MLS_SUITE_MIN + _i);
  const mls_suite *s = mls_suite_by_id(suite);
  gen g;
  mls_key_package kp2;
  mg_reader r;
  uint8_t *enc2 = NULL;
  size_t enc2_len = 0;
  uint8_t ref2[MG_MAX_HASH_LEN];
  size_t ref2_len = 0;
  mls_key_package_policy pol = policy_at(T_NOW + 10, suite);
  mg_hpke_key k;
  uint8_t pub[MG_MAX_SIG_PUB_LEN];

  ck_assert_ptr_nonnull(s);
  gen_make(&g, suite, 0);
  ck_assert_uint_eq(g.kp.cipher_suite, suite);
  ck_assert_uint_eq(g.kp.leaf_node.lifetime.not_before, T_NOW);
  ck_assert_uint_eq(g.kp.leaf_node.lifetime.not_after, T_NOW + 3600);
  ck_assert_int_eq(mls_key_package_is_last_resort(&g.kp), 0);
  ck_assert_int_eq(mls_key_package_validate(&g.kp, &pol), 0);
  ck_assert_uint_eq(g.ref_len, s->hash->digest_len);

  /* Decode the encoding, validate it, re-encode byte for byte. */
  memset(&kp2, 0, sizeof(kp2));
  r.data = g.enc.data;
  r.len = g.enc.len;
  ck_assert_int_eq(mls_key_package_decode(&r, &kp2), 0);
  ck_assert_int_eq(mg_reader_done(&r), 0);
  ck_assert_int_eq(mls_key_package_validate(&kp2, &pol), 0);
  ck_assert_int_eq(mls_key_package_serialize(&kp2, &enc2, &enc2_len), 0);
  ck_assert_uint_eq(enc2_len, g.enc.len);
  ck_assert_mem_eq(enc2, g.enc.data, enc2_len);
  ck_assert_int_eq(mls_key_package_ref(&kp2, ref2, sizeof(ref2), &ref2_len),
                   0);
  ck_assert_uint_eq(ref2_len, g.ref_len);
  ck_assert_mem_eq(ref2, g.ref, ref2_len);

  /* The private keys belong to the public ones, and differ. */
  mg_hpke_key_zero(&k);
  ck_assert_int_eq(mg_hpke_key_init(&k, s->kem, g.priv.init_key.priv,
                                    s->kem->priv_len),
                   0);
  ck_assert_uint_eq(g.kp.init_key.len, s->kem->pub_len);
  ck_assert_mem_eq(k.pub, g.kp.init_key.data, s->kem->pub_len);
  mg_hpke_key_cleanup(&k);
  ck_assert_int_eq(mg_hpke_key_init(&k, s->kem, g.priv.encryption_key.priv,
                                    s->kem->priv_len),
                   0);
  ck_assert_mem_eq(k.pub, g.kp.leaf_node.encryption_key.data,
                   s->kem->pub_len);
  mg_hpke_key_cleanup(&k);
  ck_assert_int_eq(mls_bytes_eq(&g.kp.init_key, &g.kp.leaf_node.encryption_key),
                   0);
  ck_assert_uint_eq(g.priv.sig_priv_len, s->sig->priv_len);
  ck_assert_int_eq(s->sig->pub_from_priv(s->sig, pub, g.priv.sig_priv), 0);
  ck_assert_uint_eq(g.kp.leaf_node.signature_key.len, s->sig->pub_len);
  ck_assert_mem_eq(pub, g.kp.leaf_node.signature_key.data, s->sig->pub_len);

  /* Our capabilities: mls10, this suite, basic, last_resort listed. */
  ck_assert(mls_u16_list_contains(&g.kp.leaf_node.capabilities.versions,
                                  MLS_VERSION_MLS10));
  ck_assert(mls_u16_list_contains(&g.kp.leaf_node.capabilities.cipher_suites,
                                  suite));
  ck_assert(mls_u16_list_contains(&g.kp.leaf_node.capabilities.credentials,
                                  MLS_CREDENTIAL_BASIC));
  ck_assert(mls_u16_list_contains(&g.kp.leaf_node.capabilities.extensions,
                                  MLS_EXT_LAST_RESORT));

  free(enc2);
  mls_key_package_cleanup(&kp2);
  gen_free(&g);
}
END_TEST

START_TEST(test_generate_given_signature_key) {
  uint16_t suite = (uint16_t)(MLS_SUITE_MIN + _i);
  gen a, b;
  mls_key_package_params p;
  mls_key_package_policy pol = policy_at(T_NOW, suite);
  gen_make(&a, suite, 0);
  memset(&b, 0, sizeof(b));
  memset(&p, 0, sizeof(p));
  p.cipher_suite = suite;
  p.sig_priv = a.priv.sig_priv;
  p.sig_priv_len = a.priv.sig_priv_len;
  p.now = T_NOW;
  /* No encoding, no ref requested; empty identity; default validity. */
  ck_assert_int_eq(
      mls_key_package_generate(&b.kp, &b.priv, NULL, NULL, 0, NULL, &p), 0);
  ck_assert(mls_bytes_eq(&a.kp.leaf_node.signature_key,
                         &b.kp.leaf_node.signature_key));
  ck_assert(!mls_bytes_eq(&a.kp.init_key, &b.kp.init_key));
  ck_assert_uint_eq(b.kp.leaf_node.lifetime.not_after,
                    T_NOW + MLS_KEY_PACKAGE_DEFAULT_VALIDITY);
  ck_assert_uint_eq(b.kp.leaf_node.credential.identity.len, 0);
  ck_assert_int_eq(mls_key_package_validate(&b.kp, &pol), 0);

  /* Bad arguments: wrong key length, unknown suite, lifetime overflow. */
  {
    mls_key_package kp;
    mls_key_package_priv pr;
    memset(&kp, 0, sizeof(kp));
    memset(&pr, 0, sizeof(pr));
    p.sig_priv_len--;
    ck_assert_int_eq(
        mls_key_package_generate(&kp, &pr, NULL, NULL, 0, NULL, &p),
        MG_ERR_BAD_KEY);
    p.sig_priv_len++;
    p.cipher_suite = 0x0042;
    ck_assert_int_eq(
        mls_key_package_generate(&kp, &pr, NULL, NULL, 0, NULL, &p),
        MG_ERR_UNSUPPORTED);
    p.cipher_suite = suite;
    p.now = UINT64_MAX - 5;
    p.validity = 10;
    ck_assert_int_eq(
        mls_key_package_generate(&kp, &pr, NULL, NULL, 0, NULL, &p),
        MG_ERR_INVALID_ARG);
    ck_assert(all_zero(&kp, sizeof(kp)));
    ck_assert(all_zero(&pr, sizeof(pr)));
  }
  gen_free(&a);
  gen_free(&b);
}
END_TEST

START_TEST(test_last_resort_round_trip) {
  uint16_t suite = (uint16_t)(MLS_SUITE_MIN + _i);
  gen g;
  mls_key_package kp2;
  mg_reader r;
  const mls_extension *e;
  mls_key_package_policy pol = policy_at(T_NOW, suite);
  gen_make(&g, suite, 1);
  ck_assert_int_eq(mls_key_package_is_last_resort(&g.kp), 1);
  e = mls_extension_list_find(&g.kp.extensions, MLS_EXT_LAST_RESORT);
  ck_assert_ptr_nonnull(e);
  ck_assert_uint_eq(e->extension_data.len, 0);
  ck_assert_uint_eq(g.kp.extensions.n, 1);
  memset(&kp2, 0, sizeof(kp2));
  r.data = g.enc.data;
  r.len = g.enc.len;
  ck_assert_int_eq(mls_key_package_decode(&r, &kp2), 0);
  ck_assert_int_eq(mg_reader_done(&r), 0);
  ck_assert_int_eq(mls_key_package_is_last_resort(&kp2), 1);
  ck_assert_int_eq(mls_key_package_validate(&kp2, &pol), 0);
  mls_key_package_cleanup(&kp2);
  gen_free(&g);
}
END_TEST

START_TEST(test_private_bundle_wiped) {
  uint16_t suite = (uint16_t)(MLS_SUITE_MIN + _i);
  gen g;
  gen_make(&g, suite, 0);
  ck_assert(!all_zero(g.priv.init_key.priv, sizeof(g.priv.init_key.priv)));
  ck_assert(!all_zero(g.priv.sig_priv, sizeof(g.priv.sig_priv)));
  mls_key_package_priv_cleanup(&g.priv);
  ck_assert(all_zero(&g.priv, sizeof(g.priv)));
  mls_key_package_priv_cleanup(&g.priv); /* idempotent */
  mls_key_package_priv_cleanup(NULL);
  gen_free(&g);
}
END_TEST

/* The private init key opens GroupSecrets sealed to the generated
 * KeyPackage (RFC 9420 §12.4.3.1); the leaf encryption key does not. */
START_TEST(test_init_key_opens_welcome) {
  uint16_t suite = (uint16_t)(MLS_SUITE_MIN + _i);
  const mls_suite *s = mls_suite_by_id(suite);
  static const uint8_t egi[] = "encrypted group info stand-in";
  uint8_t joiner[MG_MAX_HASH_LEN];
  mls_group_secrets gs, got;
  mls_encrypted_group_secrets egs;
  mls_welcome w;
  gen g;

  gen_make(&g, suite, 1);
  memset(&gs, 0, sizeof(gs));
  memset(&got, 0, sizeof(got));
  memset(&egs, 0, sizeof(egs));
  memset(&w, 0, sizeof(w));
  ck_assert_int_eq(mg_random_bytes(joiner, s->hash->digest_len), 0);
  ck_assert_int_eq(mls_bytes_dup(&gs.joiner_secret, joiner,
                                 s->hash->digest_len),
                   0);
  ck_assert_int_eq(mls_bytes_dup(&w.encrypted_group_info, egi,
                                 sizeof(egi) - 1),
                   0);
  ck_assert_int_eq(mls_welcome_seal_secrets(s, &egs, g.ref, g.ref_len,
                                            g.kp.init_key.data,
                                            g.kp.init_key.len, &gs,
                                            &w.encrypted_group_info),
                   0);
  w.cipher_suite = suite;
  w.secrets = &egs;
  w.num_secrets = 1;
  ck_assert_int_eq(mls_welcome_open_secrets(s, &got, &w, g.ref, g.ref_len,
                                            &g.priv.encryption_key),
                   MG_ERR_AUTH);
  ck_assert_int_eq(mls_welcome_open_secrets(s, &got, &w, g.ref, g.ref_len,
                                            &g.priv.init_key),
                   0);
  ck_assert(mls_bytes_eq(&got.joiner_secret, &gs.joiner_secret));
  mls_group_secrets_cleanup(&got);
  mls_group_secrets_cleanup(&gs);
  mls_encrypted_group_secrets_cleanup(&egs);
  mls_bytes_cleanup(&w.encrypted_group_info);
  gen_free(&g);
}
END_TEST

/* ------------------------------------------------------- mutations */

static int reject_all(void *arg, const mls_credential *cred,
                      const uint8_t *sig_pub, size_t len) {
  (void)cred;
  (void)sig_pub;
  (void)len;
  (*(int *)arg)++;
  return -1;
}

typedef struct expect_cred {
  const mls_key_package *kp;
  int calls;
} expect_cred;

static int accept_alice(void *arg, const mls_credential *cred,
                        const uint8_t *sig_pub, size_t len) {
  expect_cred *x = arg;
  x->calls++;
  if (cred->credential_type != MLS_CREDENTIAL_BASIC ||
      cred->identity.len != 5 || memcmp(cred->identity.data, "alice", 5) != 0) {
    return -1;
  }
  if (len != x->kp->leaf_node.signature_key.len ||
      memcmp(sig_pub, x->kp->leaf_node.signature_key.data, len) != 0) {
    return -1;
  }
  return 0;
}

START_TEST(test_mutations) {
  uint16_t suite = (uint16_t)(MLS_SUITE_MIN + _i);
  uint16_t other = suite == 1 ? 2 : 1;
  mls_key_package_policy pol = policy_at(T_NOW + 1, suite);
  gen g;
  int calls = 0;

  /* version */
  gen_make(&g, suite, 0);
  g.kp.version = 2;
  ck_assert_int_eq(mls_key_package_validate(&g.kp, &pol), MG_ERR_VERSION);
  gen_free(&g);

  /* suite: unknown, and not the group's */
  gen_make(&g, suite, 0);
  g.kp.cipher_suite = 0x0042;
  ck_assert_int_eq(mls_key_package_validate(&g.kp, &pol), MG_ERR_UNSUPPORTED);
  gen_free(&g);
  gen_make(&g, suite, 0);
  {
    mls_key_package_policy p2 = policy_at(T_NOW + 1, other);
    ck_assert_int_eq(mls_key_package_validate(&g.kp, &p2), MG_ERR_UNSUPPORTED);
    p2.cipher_suite = 0; /* any supported suite */
    ck_assert_int_eq(mls_key_package_validate(&g.kp, &p2), 0);
  }
  gen_free(&g);

  /* leaf_node_source */
  gen_make(&g, suite, 0);
  g.kp.leaf_node.leaf_node_source = MLS_LEAF_SOURCE_UPDATE;
  ck_assert_int_eq(mls_key_package_validate(&g.kp, &pol),
                   MG_ERR_LEAF_NODE_SOURCE);
  gen_free(&g);

  /* leaf signature */
  gen_make(&g, suite, 0);
  g.kp.leaf_node.signature.data[g.kp.leaf_node.signature.len / 2] ^= 0x01;
  ck_assert_int_eq(mls_key_package_validate(&g.kp, &pol),
                   MG_ERR_LEAF_SIGNATURE);
  gen_free(&g);
  /* a leaf field changed after signing */
  gen_make(&g, suite, 0);
  g.kp.leaf_node.lifetime.not_after++;
  ck_assert_int_eq(mls_key_package_validate(&g.kp, &pol),
                   MG_ERR_LEAF_SIGNATURE);
  gen_free(&g);

  /* KeyPackage signature, and a KeyPackage field changed after signing */
  gen_make(&g, suite, 0);
  g.kp.signature.data[0] ^= 0x80;
  ck_assert_int_eq(mls_key_package_validate(&g.kp, &pol), MG_ERR_SIGNATURE);
  gen_free(&g);
  gen_make(&g, suite, 0);
  g.kp.init_key.data[g.kp.init_key.len - 1] ^= 0x01;
  ck_assert_int_eq(mls_key_package_validate(&g.kp, &pol), MG_ERR_SIGNATURE);
  gen_free(&g);

  /* init_key == encryption_key (re-signed) */
  gen_make(&g, suite, 0);
  mls_bytes_cleanup(&g.kp.init_key);
  ck_assert_int_eq(
      mls_bytes_copy(&g.kp.init_key, &g.kp.leaf_node.encryption_key), 0);
  resign(&g);
  ck_assert_int_eq(mls_key_package_validate(&g.kp, &pol), MG_ERR_KEY_PACKAGE);
  gen_free(&g);

  /* lifetime: the ends are inclusive, one second outside fails */
  gen_make(&g, suite, 0);
  {
    mls_key_package_policy p2 = pol;
    p2.now = T_NOW;
    ck_assert_int_eq(mls_key_package_validate(&g.kp, &p2), 0);
    p2.now = T_NOW + 3600;
    ck_assert_int_eq(mls_key_package_validate(&g.kp, &p2), 0);
    p2.now = T_NOW - 1;
    ck_assert_int_eq(mls_key_package_validate(&g.kp, &p2), MG_ERR_LIFETIME);
    p2.now = T_NOW + 3601;
    ck_assert_int_eq(mls_key_package_validate(&g.kp, &p2), MG_ERR_LIFETIME);
  }
  gen_free(&g);

  /* capabilities without mls10 / without the suite (re-signed) */
  gen_make(&g, suite, 0);
  {
    static const uint16_t v[] = {0x0002};
    list_set(&g.kp.leaf_node.capabilities.versions, v, 1);
  }
  resign(&g);
  ck_assert_int_eq(mls_key_package_validate(&g.kp, &pol),
                   MG_ERR_CAPABILITIES);
  gen_free(&g);
  gen_make(&g, suite, 0);
  list_set(&g.kp.leaf_node.capabilities.cipher_suites, &other, 1);
  resign(&g);
  ck_assert_int_eq(mls_key_package_validate(&g.kp, &pol), 0);
  {
    mls_key_package_policy p2 = pol;
    p2.require_suite_in_capabilities = 1;
    ck_assert_int_eq(mls_key_package_validate(&g.kp, &p2),
                     MG_ERR_CAPABILITIES);
  }
  gen_free(&g);

  /* a leaf extension not listed in the capabilities */
  gen_make(&g, suite, 0);
  ck_assert_int_eq(
      mls_extension_list_add(&g.kp.leaf_node.extensions, 0x0F00, NULL, 0), 0);
  resign(&g);
  ck_assert_int_eq(mls_key_package_validate(&g.kp, &pol), MG_ERR_EXTENSION);
  gen_free(&g);

  /* its own credential type not listed */
  gen_make(&g, suite, 0);
  {
    static const uint16_t c[] = {MLS_CREDENTIAL_X509};
    list_set(&g.kp.leaf_node.capabilities.credentials, c, 1);
  }
  resign(&g);
  ck_assert_int_eq(mls_key_package_validate(&g.kp, &pol),
                   MG_ERR_CAPABILITIES);
  gen_free(&g);

  /* group-dependent: members' credential types, required capabilities,
   * GroupContext extensions */
  gen_make(&g, suite, 0);
  {
    mls_key_package_policy p2 = pol;
    uint16_t basic = MLS_CREDENTIAL_BASIC, x509 = MLS_CREDENTIAL_X509;
    mls_u16_list ok = {&basic, 1}, bad = {&x509, 1};
    uint16_t lr = MLS_EXT_LAST_RESORT, unk = 0x0F01;
    uint16_t prop_unk = 0x0F02;
    mls_required_capabilities req;
    mls_extension_list gx;
    mls_extension gxe;

    p2.member_credential_types = &ok;
    ck_assert_int_eq(mls_key_package_validate(&g.kp, &p2), 0);
    p2.member_credential_types = &bad;
    ck_assert_int_eq(mls_key_package_validate(&g.kp, &p2),
                     MG_ERR_CAPABILITIES);
    p2.member_credential_types = NULL;

    memset(&req, 0, sizeof(req));
    req.extension_types.v = &lr;
    req.extension_types.n = 1;
    req.credential_types = ok;
    p2.required = &req;
    ck_assert_int_eq(mls_key_package_validate(&g.kp, &p2), 0);
    req.extension_types.v = &unk;
    ck_assert_int_eq(mls_key_package_validate(&g.kp, &p2),
                     MG_ERR_CAPABILITIES);
    req.extension_types.n = 0;
    req.proposal_types.v = &prop_unk;
    req.proposal_types.n = 1;
    ck_assert_int_eq(mls_key_package_validate(&g.kp, &p2),
                     MG_ERR_CAPABILITIES);
    req.proposal_types.n = 0;
    req.credential_types = bad;
    ck_assert_int_eq(mls_key_package_validate(&g.kp, &p2),
                     MG_ERR_CAPABILITIES);
    p2.required = NULL;

    memset(&gxe, 0, sizeof(gxe));
    gx.items = &gxe;
    gx.n = 1;
    gxe.extension_type = MLS_EXT_EXTERNAL_SENDERS; /* default type */
    p2.group_extensions = &gx;
    ck_assert_int_eq(mls_key_package_validate(&g.kp, &p2), 0);
    gxe.extension_type = 0x0F03;
    ck_assert_int_eq(mls_key_package_validate(&g.kp, &p2),
                     MG_ERR_CAPABILITIES);
  }
  gen_free(&g);

  /* a KeyPackage extension not listed (GREASE is ignored) */
  gen_make(&g, suite, 0);
  ck_assert_int_eq(mls_extension_list_add(&g.kp.extensions, 0x1A1A, NULL, 0),
                   0);
  resign(&g);
  ck_assert_int_eq(mls_key_package_validate(&g.kp, &pol), 0);
  ck_assert_int_eq(mls_extension_list_add(&g.kp.extensions, 0x0F04, NULL, 0),
                   0);
  resign(&g);
  ck_assert_int_eq(mls_key_package_validate(&g.kp, &pol), MG_ERR_EXTENSION);
  gen_free(&g);

  /* the credential callback: rejection, and acceptance with its inputs */
  gen_make(&g, suite, 0);
  {
    mls_key_package_policy p2 = pol;
    expect_cred x = {&g.kp, 0};
    p2.credential_check = reject_all;
    p2.credential_arg = &calls;
    ck_assert_int_eq(mls_key_package_validate(&g.kp, &p2), MG_ERR_CREDENTIAL);
    ck_assert_int_eq(calls, 1);
    p2.credential_check = accept_alice;
    p2.credential_arg = &x;
    ck_assert_int_eq(mls_key_package_validate(&g.kp, &p2), 0);
    ck_assert_int_eq(x.calls, 1);
    /* An expired KeyPackage is refused before the callback runs. */
    p2.now = T_NOW + 3601;
    ck_assert_int_eq(mls_key_package_validate(&g.kp, &p2), MG_ERR_LIFETIME);
    ck_assert_int_eq(x.calls, 1);
  }
  ck_assert_int_eq(mls_key_package_validate(NULL, &pol), MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mls_key_package_validate(&g.kp, NULL), MG_ERR_INVALID_ARG);
  gen_free(&g);
}
END_TEST

/* ---------------------------------------------------------- vectors */

/* Validates |kp| inside its lifetime (0) and outside it (MG_ERR_LIFETIME);
 * returns 1 if an outside instant exists. */
static int check_vector_kp(const mls_key_package *kp, const char *what,
                           size_t i) {
  const mls_lifetime *lt = &kp->leaf_node.lifetime;
  mls_key_package_policy pol = policy_at(0, kp->cipher_suite);
  int rc;
  int outside = 0;
  pol.now = lt->not_before + (lt->not_after - lt->not_before) / 2;
  rc = mls_key_package_validate(kp, &pol);
  ck_assert_msg(rc == 0, "%s case %zu suite %u: %s", what, i,
                kp->cipher_suite, mg_err_name(rc));
  /* With the suite-in-capabilities check on: only welcome.json case 6
   * (suite 7, capabilities list suites 1..6) fails. */
  pol.require_suite_in_capabilities = 1;
  rc = mls_key_package_validate(kp, &pol);
  if (strcmp(what, "welcome") == 0 && i == 6) {
    ck_assert_int_eq(rc, MG_ERR_CAPABILITIES);
  } else {
    ck_assert_msg(rc == 0, "%s case %zu suite %u (strict): %s", what, i,
                  kp->cipher_suite, mg_err_name(rc));
  }
  pol.require_suite_in_capabilities = 0;
  if (lt->not_after < UINT64_MAX) {
    pol.now = lt->not_after + 1;
    ck_assert_int_eq(mls_key_package_validate(kp, &pol), MG_ERR_LIFETIME);
    outside = 1;
  }
  if (lt->not_before > 0) {
    pol.now = lt->not_before - 1;
    ck_assert_int_eq(mls_key_package_validate(kp, &pol), MG_ERR_LIFETIME);
    outside = 1;
  }
  return outside;
}

/* The KeyPackage of an MLSMessage re-encodes to the message's body. */
static void check_reencode(const mls_key_package *kp, const uint8_t *raw,
                           size_t raw_len) {
  uint8_t *enc = NULL;
  size_t enc_len = 0;
  ck_assert_uint_gt(raw_len, 4); /* version, wire_format */
  ck_assert_int_eq(mls_key_package_serialize(kp, &enc, &enc_len), 0);
  ck_assert_uint_eq(enc_len, raw_len - 4);
  ck_assert_mem_eq(enc, raw + 4, enc_len);
  free(enc);
}

START_TEST(test_vectors_messages) {
  size_t n, with_outside = 0;
  ck_assert_ptr_nonnull(g_messages);
  n = json_array_size(g_messages);
  ck_assert_uint_eq(n, 300);
  for (size_t i = 0; i < n; i++) {
    const json_t *c = json_array_get(g_messages, i);
    mls_message m;
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    memset(&m, 0, sizeof(m));
    kp_from_message_hex(str_field(c, "mls_key_package"), &m, &raw, &raw_len);
    check_reencode(&m.key_package, raw, raw_len);
    with_outside += (size_t)check_vector_kp(&m.key_package, "messages", i);
    mls_message_cleanup(&m);
    free(raw);
    /* add_proposal: struct { KeyPackage key_package; } Add. */
    {
      const char *h = str_field(c, "add_proposal");
      mls_key_package kp;
      mg_reader r;
      memset(&kp, 0, sizeof(kp));
      ck_assert_int_eq(mg_hex_decode(&raw, &raw_len, h, strlen(h)), 0);
      r.data = raw;
      r.len = raw_len;
      ck_assert_int_eq(mls_key_package_decode(&r, &kp), 0);
      ck_assert_int_eq(mg_reader_done(&r), 0);
      (void)check_vector_kp(&kp, "messages add_proposal", i);
      mls_key_package_cleanup(&kp);
      free(raw);
    }
  }
  ck_assert_uint_gt(with_outside, 0);
}
END_TEST

/* welcome.json and passive-client-welcome.json: also the init private key
 * of the vector belongs to the KeyPackage's init_key. */
static void check_file_with_init_priv(json_t *root, size_t expect,
                                      const char *what, int expired_now) {
  size_t n;
  ck_assert_ptr_nonnull(root);
  n = json_array_size(root);
  ck_assert_uint_eq(n, expect);
  for (size_t i = 0; i < n; i++) {
    const json_t *c = json_array_get(root, i);
    mls_message m;
    uint8_t *raw = NULL, *ipriv = NULL;
    size_t raw_len = 0, ipriv_len = 0;
    const mls_suite *s;
    mg_hpke_key k;
    const char *h;
    int rc;
    memset(&m, 0, sizeof(m));
    kp_from_message_hex(str_field(c, "key_package"), &m, &raw, &raw_len);
    ck_assert_int_eq(
        (int)json_integer_value(json_object_get(c, "cipher_suite")),
        m.key_package.cipher_suite);
    s = mls_suite_by_id(m.key_package.cipher_suite);
    ck_assert_ptr_nonnull(s);
    check_reencode(&m.key_package, raw, raw_len);
    (void)check_vector_kp(&m.key_package, what, i);
    if (expired_now) {
      ck_assert_int_eq(check_vector_kp(&m.key_package, what, i), 1);
      /* Expired in 2024: today's clock refuses them. */
      mls_key_package_policy pol = policy_at((uint64_t)time(NULL),
                                             m.key_package.cipher_suite);
      ck_assert_int_eq(mls_key_package_validate(&m.key_package, &pol),
                       MG_ERR_LIFETIME);
    }
    h = str_field(c, "init_priv");
    ck_assert_int_eq(mg_hex_decode(&ipriv, &ipriv_len, h, strlen(h)), 0);
    if (ipriv_len < s->kem->priv_len) {
      /* Some P-521 vectors drop the private key's leading zero bytes;
       * restore the fixed Nsk-byte encoding (RFC 9180 §7.1.2). */
      uint8_t *pad = calloc(1, s->kem->priv_len);
      ck_assert_ptr_nonnull(pad);
      memcpy(pad + (s->kem->priv_len - ipriv_len), ipriv, ipriv_len);
      free(ipriv);
      ipriv = pad;
      ipriv_len = s->kem->priv_len;
    }
    mg_hpke_key_zero(&k);
    rc = mg_hpke_key_init(&k, s->kem, ipriv, ipriv_len);
    ck_assert_msg(rc == 0, "%s case %zu: init_priv (%zu bytes, suite %u): %s",
                  what, i, ipriv_len, s->id, mg_err_name(rc));
    ck_assert_uint_eq(m.key_package.init_key.len, s->kem->pub_len);
    ck_assert_mem_eq(k.pub, m.key_package.init_key.data, s->kem->pub_len);
    mg_hpke_key_cleanup(&k);
    free(ipriv);
    if (expired_now) {
      /* passive-client-welcome also gives the leaf's private keys. */
      uint8_t *p = NULL, pub[MG_MAX_SIG_PUB_LEN];
      size_t p_len = 0;
      h = str_field(c, "encryption_priv");
      ck_assert_int_eq(mg_hex_decode(&p, &p_len, h, strlen(h)), 0);
      if (p_len < s->kem->priv_len) { /* leading zeros dropped, as above */
        uint8_t *pad = calloc(1, s->kem->priv_len);
        ck_assert_ptr_nonnull(pad);
        memcpy(pad + (s->kem->priv_len - p_len), p, p_len);
        free(p);
        p = pad;
        p_len = s->kem->priv_len;
      }
      ck_assert_int_eq(mg_hpke_key_init(&k, s->kem, p, p_len), 0);
      ck_assert_uint_eq(m.key_package.leaf_node.encryption_key.len,
                        s->kem->pub_len);
      ck_assert_mem_eq(k.pub, m.key_package.leaf_node.encryption_key.data,
                       s->kem->pub_len);
      mg_hpke_key_cleanup(&k);
      free(p);
      p = NULL;
      h = str_field(c, "signature_priv");
      ck_assert_int_eq(mg_hex_decode(&p, &p_len, h, strlen(h)), 0);
      if (p_len < s->sig->priv_len) {
        uint8_t *pad = calloc(1, s->sig->priv_len);
        ck_assert_ptr_nonnull(pad);
        memcpy(pad + (s->sig->priv_len - p_len), p, p_len);
        free(p);
        p = pad;
        p_len = s->sig->priv_len;
      }
      ck_assert_uint_eq(p_len, s->sig->priv_len);
      ck_assert_int_eq(s->sig->pub_from_priv(s->sig, pub, p), 0);
      ck_assert_uint_eq(m.key_package.leaf_node.signature_key.len,
                        s->sig->pub_len);
      ck_assert_mem_eq(pub, m.key_package.leaf_node.signature_key.data,
                       s->sig->pub_len);
      free(p);
    }
    mls_message_cleanup(&m);
    free(raw);
  }
}

START_TEST(test_vectors_welcome) {
  check_file_with_init_priv(g_welcome, 7, "welcome", 0);
}
END_TEST

START_TEST(test_vectors_passive_client_welcome) {
  check_file_with_init_priv(g_passive, 56, "passive-client-welcome", 1);
}
END_TEST

static json_t *load(const char *name) {
  char path[4096];
  json_error_t jerr;
  json_t *j;
  snprintf(path, sizeof(path), "%s/mls/%s", mg_st_default_dir(), name);
  j = json_load_file(path, 0, &jerr);
  if (j == NULL) {
    fprintf(stderr, "cannot load %s: %s\n", path, jerr.text);
  }
  return j;
}

int main(void) {
  int nsuites = MLS_SUITE_MAX - MLS_SUITE_MIN + 1;
  if (mg_crypto_init() < 0) {
    fprintf(stderr, "crypto init failed\n");
    return 1;
  }
  g_messages = load("messages.json");
  g_welcome = load("welcome.json");
  g_passive = load("passive-client-welcome.json");
  Suite *s = suite_create("keypackage");
  TCase *tg = tcase_create("generate");
  tcase_set_timeout(tg, 120);
  tcase_add_loop_test(tg, test_generate_all_suites, 0, nsuites);
  tcase_add_loop_test(tg, test_generate_given_signature_key, 0, nsuites);
  tcase_add_loop_test(tg, test_last_resort_round_trip, 0, nsuites);
  tcase_add_loop_test(tg, test_private_bundle_wiped, 0, nsuites);
  tcase_add_loop_test(tg, test_init_key_opens_welcome, 0, nsuites);
  suite_add_tcase(s, tg);
  TCase *tm = tcase_create("validate");
  tcase_set_timeout(tm, 120);
  tcase_add_loop_test(tm, test_mutations, 0, nsuites);
  suite_add_tcase(s, tm);
  TCase *tv = tcase_create("vectors");
  tcase_set_timeout(tv, 240);
  tcase_add_test(tv, test_vectors_messages);
  tcase_add_test(tv, test_vectors_welcome);
  tcase_add_test(tv, test_vectors_passive_client_welcome);
  suite_add_tcase(s, tv);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  json_decref(g_messages);
  json_decref(g_welcome);
  json_decref(g_passive);
  return failed == 0 ? 0 : 1;
}
