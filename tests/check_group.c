/*
 * Tests for the group state (src/mls/group.h): every passive-client-welcome
 * vector case joined through `mlsgatectl selftest`'s kind, then the joiner's
 * rules one by one on vector cases with a distinct error each (wrong private
 * keys, tampered tree, expired lifetime, missing tree, unknown PSK, other
 * suite), the caller's inputs unchanged and no state handed out on failure,
 * and the queries of a joined group.
 */
#include "config.h"

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/hex.h"
#include "crypto/crypto.h"
#include "crypto/suite.h"
#include "mls/constants.h"
#include "mls/group.h"
#include "mls/msg_framing.h"
#include "mls/msg_leaf.h"
#include "mls/tree.h"
#include "mlsgate/err.h"
#include "selftest/selftest.h"
#include "vec_loop.h"

#define N_CASES 56
/* Inside the lifetime of the vectors' leaves (see st_passive_client_welcome.c). */
#define NOW ((uint64_t)1700000000)

static mg_vec_file files[] = {
    {"mls/passive-client-welcome.json", N_CASES, NULL, NULL},
};

/* One vector case, decoded. */
typedef struct tc_case {
  const mls_suite *suite;
  mls_message kp, wm;
  uint8_t init_priv[128], enc_priv[128], sig_priv[128], *tree;
  size_t tree_len;
  size_t n_psks;
  uint8_t psk_id[4][64], psk[4][64];
  size_t psk_id_len[4], psk_len[4];
  uint8_t want_ea[64];
  size_t want_ea_len;
  mls_join_params jp;
} tc_case;

static void hex_field(const json_t *o, const char *key, uint8_t *out,
                      size_t cap, size_t *len) {
  const char *h = json_string_value(json_object_get(o, key));
  ck_assert_msg(h != NULL, "field %s missing", key);
  uint8_t *b = NULL;
  ck_assert_int_eq(mg_hex_decode(&b, len, h, strlen(h)), 0);
  ck_assert_uint_le(*len, cap);
  memcpy(out, b, *len);
  free(b);
}

/* Decodes hex field |key| into a new buffer. */
static uint8_t *hex_alloc(const json_t *o, const char *key, size_t *len) {
  const char *h = json_string_value(json_object_get(o, key));
  ck_assert_msg(h != NULL, "field %s missing", key);
  uint8_t *b = NULL;
  ck_assert_int_eq(mg_hex_decode(&b, len, h, strlen(h)), 0);
  return b;
}

/* Left-pads a P-521 private key written without leading zeros. */
static void pad_key(uint8_t *buf, size_t *len, size_t want) {
  if (*len < want) {
    memmove(buf + (want - *len), buf, *len);
    memset(buf, 0, want - *len);
    *len = want;
  }
}

static int lookup(void *arg, const mls_psk_id *id, mls_bytes *out) {
  const tc_case *c = arg;
  for (size_t i = 0; i < c->n_psks; i++) {
    if (id->psktype == MLS_PSK_EXTERNAL && c->psk_id_len[i] == id->psk_id.len &&
        memcmp(c->psk_id[i], id->psk_id.data, id->psk_id.len) == 0) {
      return mls_bytes_dup(out, c->psk[i], c->psk_len[i]);
    }
  }
  return MG_ERR_PSK;
}

static void case_load(tc_case *c, size_t i) {
  ck_assert_ptr_nonnull(files[0].root);
  const json_t *o = json_array_get(files[0].root, i);
  ck_assert_ptr_nonnull(o);
  memset(c, 0, sizeof(*c));
  c->suite = mls_suite_by_id(
      (uint16_t)json_integer_value(json_object_get(o, "cipher_suite")));
  ck_assert_ptr_nonnull(c->suite);
  size_t n = 0;
  uint8_t *b = hex_alloc(o, "key_package", &n);
  ck_assert_int_eq(mls_message_decode_bytes(b, n, &c->kp), 0);
  free(b);
  b = hex_alloc(o, "welcome", &n);
  ck_assert_int_eq(mls_message_decode_bytes(b, n, &c->wm), 0);
  free(b);
  hex_field(o, "init_priv", c->init_priv, sizeof(c->init_priv),
            &c->jp.init_priv_len);
  hex_field(o, "encryption_priv", c->enc_priv, sizeof(c->enc_priv),
            &c->jp.enc_priv_len);
  hex_field(o, "signature_priv", c->sig_priv, sizeof(c->sig_priv),
            &c->jp.sig_priv_len);
  pad_key(c->init_priv, &c->jp.init_priv_len, c->suite->kem->priv_len);
  pad_key(c->enc_priv, &c->jp.enc_priv_len, c->suite->kem->priv_len);
  pad_key(c->sig_priv, &c->jp.sig_priv_len, c->suite->sig->priv_len);
  hex_field(o, "initial_epoch_authenticator", c->want_ea, sizeof(c->want_ea),
            &c->want_ea_len);
  if (json_string_value(json_object_get(o, "ratchet_tree")) != NULL) {
    c->tree = hex_alloc(o, "ratchet_tree", &c->tree_len);
  }
  const json_t *ps = json_object_get(o, "external_psks");
  c->n_psks = json_array_size(ps);
  ck_assert_uint_le(c->n_psks, 4);
  for (size_t k = 0; k < c->n_psks; k++) {
    hex_field(json_array_get(ps, k), "psk_id", c->psk_id[k],
              sizeof(c->psk_id[k]), &c->psk_id_len[k]);
    hex_field(json_array_get(ps, k), "psk", c->psk[k], sizeof(c->psk[k]),
              &c->psk_len[k]);
  }
  c->jp.welcome = &c->wm.welcome;
  c->jp.key_package = &c->kp.key_package;
  c->jp.init_priv = c->init_priv;
  c->jp.enc_priv = c->enc_priv;
  c->jp.sig_priv = c->sig_priv;
  c->jp.ratchet_tree = c->tree;
  c->jp.ratchet_tree_len = c->tree_len;
  c->jp.psk_lookup = lookup;
  c->jp.psk_arg = c;
  c->jp.now = NOW;
}

static void case_free(tc_case *c) {
  mls_message_cleanup(&c->kp);
  mls_message_cleanup(&c->wm);
  free(c->tree);
}

/* The encoding of every input of the join, to check it is left unchanged. */
static void snapshot(const tc_case *c, mg_writer *w) {
  ck_assert_int_eq(mg_writer_init(w, 4096, 0), 0);
  ck_assert_int_eq(mls_message_encode(w, &c->kp), 0);
  ck_assert_int_eq(mls_message_encode(w, &c->wm), 0);
  ck_assert_int_eq(mg_write_bytes(w, c->init_priv, sizeof(c->init_priv)), 0);
  ck_assert_int_eq(mg_write_bytes(w, c->enc_priv, sizeof(c->enc_priv)), 0);
  ck_assert_int_eq(mg_write_bytes(w, c->sig_priv, sizeof(c->sig_priv)), 0);
  if (c->tree != NULL) {
    ck_assert_int_eq(mg_write_bytes(w, c->tree, c->tree_len), 0);
  }
}

/* Joins with |c->jp| and expects |want| (0 or an error); on failure no
 * state is handed out and the inputs are unchanged. */
static void expect_join(tc_case *c, int want, const char *what) {
  mg_writer before, after;
  mg_writer_zero(&before);
  mg_writer_zero(&after);
  snapshot(c, &before);
  mls_group *g = (mls_group *)(uintptr_t)1;
  int rc = mls_group_join(&g, c->suite, &c->jp);
  ck_assert_msg(rc == want, "%s: got %s, want %s", what, mg_err_name(rc),
                mg_err_name(want));
  if (want < 0) {
    ck_assert_ptr_null(g);
  } else {
    ck_assert_ptr_nonnull(g);
  }
  mls_group_free(g);
  snapshot(c, &after);
  ck_assert_uint_eq(mg_writer_len(&before), mg_writer_len(&after));
  ck_assert_msg(memcmp(mg_writer_data(&before), mg_writer_data(&after),
                       mg_writer_len(&before)) == 0,
                "%s: inputs changed", what);
  mg_writer_cleanup(&before);
  mg_writer_cleanup(&after);
}

START_TEST(test_queries) {
  tc_case c;
  case_load(&c, (size_t)_i);
  mls_group *g = NULL;
  ck_assert_int_eq(mls_group_join(&g, c.suite, &c.jp), 0);
  uint8_t ea[64], x1[32], x2[32];
  size_t ea_len = 0;
  ck_assert_int_eq(mls_group_epoch_authenticator(g, ea, sizeof(ea), &ea_len), 0);
  ck_assert_uint_eq(ea_len, c.want_ea_len);
  ck_assert_mem_eq(ea, c.want_ea, ea_len);
  ck_assert_int_eq(mls_group_epoch_authenticator(g, ea, ea_len - 1, &ea_len),
                   MG_ERR_BUFFER_TOO_SMALL);
  ck_assert_ptr_eq(mls_group_suite(g), c.suite);
  const mls_group_context *ctx = mls_group_get0_context(g);
  ck_assert_uint_eq(mls_group_epoch(g), ctx->epoch);
  ck_assert_uint_ge(mls_group_member_count(g), 2);
  ck_assert_uint_le(mls_group_member_count(g), 1u << 20);
  /* Our leaf index names a leaf holding our KeyPackage's encryption key. */
  mls_leaf_idx self = mls_group_self(g);
  ck_assert_uint_ne(self.v, UINT32_MAX);
  /* The exporter is deterministic and depends on its label. */
  ck_assert_int_eq(mls_group_export(g, x1, sizeof(x1), "a", NULL, 0), 0);
  ck_assert_int_eq(mls_group_export(g, x2, sizeof(x2), "a", NULL, 0), 0);
  ck_assert_mem_eq(x1, x2, sizeof(x1));
  ck_assert_int_eq(mls_group_export(g, x2, sizeof(x2), "b", NULL, 0), 0);
  ck_assert(memcmp(x1, x2, sizeof(x1)) != 0);
  mls_group_free(g);
  case_free(&c);
}
END_TEST

START_TEST(test_wrong_private_keys) {
  tc_case c;
  case_load(&c, (size_t)_i);
  expect_join(&c, 0, "unchanged case");
  /* The init key swapped for the leaf's encryption key: a valid key of the
   * wrong pair. */
  c.jp.init_priv = c.enc_priv;
  expect_join(&c, MG_ERR_BAD_KEY, "init_priv = encryption_priv");
  c.jp.init_priv = c.init_priv;
  c.jp.enc_priv = c.init_priv;
  expect_join(&c, MG_ERR_BAD_KEY, "encryption_priv = init_priv");
  c.jp.enc_priv = c.enc_priv;
  /* A signature key of the wrong pair. */
  uint8_t other[128], pub[256];
  memset(other, 0, sizeof(other));
  ck_assert_int_eq(c.suite->sig->generate(c.suite->sig, other, pub), 0);
  c.jp.sig_priv = other;
  expect_join(&c, MG_ERR_BAD_KEY, "other signature_priv");
  c.jp.sig_priv = c.sig_priv;
  expect_join(&c, 0, "restored case");
  case_free(&c);
}
END_TEST

START_TEST(test_lifetime) {
  tc_case c;
  case_load(&c, (size_t)_i);
  const mls_lifetime *lt = &c.kp.key_package.leaf_node.lifetime;
  ck_assert_uint_lt(lt->not_after, UINT64_MAX);
  c.jp.now = lt->not_after + 1;
  expect_join(&c, MG_ERR_LIFETIME, "after not_after");
  c.jp.now = 0;
  expect_join(&c, MG_ERR_LIFETIME, "clock at 0");
  if (lt->not_before > 0) {
    c.jp.now = lt->not_before - 1;
    expect_join(&c, MG_ERR_LIFETIME, "before not_before");
  }
  c.jp.now = lt->not_after;
  /* Other leaves of the tree may have narrower lifetimes; at our own
   * not_after the join either succeeds or fails on a lifetime. */
  mls_group *g = NULL;
  int rc = mls_group_join(&g, c.suite, &c.jp);
  ck_assert(rc == 0 || rc == MG_ERR_LIFETIME);
  mls_group_free(g);
  case_free(&c);
}
END_TEST

/* Cases whose tree comes out of band. */
static int has_oob_tree(size_t i) {
  const json_t *o = json_array_get(files[0].root, i);
  return json_string_value(json_object_get(o, "ratchet_tree")) != NULL;
}

START_TEST(test_missing_tree) {
  if (!has_oob_tree((size_t)_i)) {
    return;
  }
  tc_case c;
  case_load(&c, (size_t)_i);
  c.jp.ratchet_tree = NULL;
  c.jp.ratchet_tree_len = 0;
  expect_join(&c, MG_ERR_TREE_INVALID, "no ratchet tree");
  case_free(&c);
}
END_TEST

START_TEST(test_tampered_tree) {
  if (!has_oob_tree((size_t)_i)) {
    return;
  }
  tc_case c;
  case_load(&c, (size_t)_i);
  mls_tree t;
  mls_tree_zero(&t);
  ck_assert_int_eq(mls_tree_decode(&t, c.suite, c.tree, c.tree_len), 0);
  /* Change the encryption key of a non-blank parent node: the parent hash
   * of the node below it no longer matches (RFC 9420 §7.9.2). */
  uint32_t x;
  for (x = 1; x < mls_tree_width(&t); x += 2) {
    if (t.nodes[x].node_type == MLS_NODE_PARENT) {
      break;
    }
  }
  int want;
  if (x < mls_tree_width(&t)) {
    mls_bytes *k = &t.nodes[x].u.parent.encryption_key;
    ck_assert_uint_gt(k->len, 0);
    k->data[k->len - 1] ^= 1;
    want = MG_ERR_PARENT_HASH;
  } else {
    /* No parent node, so no parent hash: a leaf signature is the only
     * thing binding the leaves (RFC 9420 §7.3). */
    x = 0;
    ck_assert_uint_eq(t.nodes[x].node_type, MLS_NODE_LEAF);
    mls_bytes *sg = &t.nodes[x].u.leaf.signature;
    ck_assert_uint_gt(sg->len, 0);
    sg->data[sg->len / 2] ^= 1;
    want = MG_ERR_LEAF_SIGNATURE;
  }
  mls_node_idx xi = {x};
  mls_tree_invalidate(&t, xi);
  mg_writer w;
  ck_assert_int_eq(mg_writer_init(&w, 4096, 0), 0);
  ck_assert_int_eq(mls_tree_encode(&w, &t), 0);
  c.jp.ratchet_tree = mg_writer_data(&w);
  c.jp.ratchet_tree_len = mg_writer_len(&w);
  expect_join(&c, want, "tampered tree");
  /* A tree that does not decode at all. */
  c.jp.ratchet_tree_len = c.tree_len - 1;
  c.jp.ratchet_tree = c.tree;
  mls_group *g = NULL;
  ck_assert_int_lt(mls_group_join(&g, c.suite, &c.jp), 0);
  ck_assert_ptr_null(g);
  mg_writer_cleanup(&w);
  mls_tree_cleanup(&t);
  case_free(&c);
}
END_TEST

START_TEST(test_psk_and_suite) {
  tc_case c;
  case_load(&c, (size_t)_i);
  if (c.n_psks > 0) {
    c.jp.psk_lookup = NULL;
    expect_join(&c, MG_ERR_PSK, "no PSK lookup");
    c.jp.psk_lookup = lookup;
    c.psk[0][0] ^= 1; /* a wrong PSK value: the welcome key differs */
    expect_join(&c, MG_ERR_AUTH, "wrong PSK value");
    c.psk[0][0] ^= 1;
    c.psk_id[0][0] ^= 1; /* unknown PSK id */
    expect_join(&c, MG_ERR_PSK, "unknown PSK");
    c.psk_id[0][0] ^= 1;
  }
  const mls_suite *other = mls_suite_by_id(c.suite->id == 1 ? 2 : 1);
  ck_assert_ptr_nonnull(other);
  mls_group *g = NULL;
  ck_assert_int_eq(mls_group_join(&g, other, &c.jp), MG_ERR_UNSUPPORTED);
  ck_assert_ptr_null(g);
  ck_assert_int_eq(mls_group_join(&g, c.suite, NULL), MG_ERR_INVALID_ARG);
  expect_join(&c, 0, "restored case");
  case_free(&c);
}
END_TEST

int main(void) {
  if (mg_crypto_init() < 0) {
    fprintf(stderr, "crypto init failed\n");
    return 1;
  }
  Suite *s = suite_create("group");
  mg_vec_add(s, "passive-client-welcome", files,
             sizeof(files) / sizeof(files[0]));
  TCase *tc = tcase_create("join");
  tcase_set_timeout(tc, 300);
  tcase_add_loop_test(tc, test_queries, 0, N_CASES);
  tcase_add_loop_test(tc, test_wrong_private_keys, 0, N_CASES);
  tcase_add_loop_test(tc, test_lifetime, 0, N_CASES);
  tcase_add_loop_test(tc, test_missing_tree, 0, N_CASES);
  tcase_add_loop_test(tc, test_tampered_tree, 0, N_CASES);
  tcase_add_loop_test(tc, test_psk_and_suite, 0, N_CASES);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  mg_vec_release();
  return failed == 0 ? 0 : 1;
}
