/*
 * Tests of the leaf-side message codecs (src/mls/msg_leaf.h) and of the
 * vector-of-struct helpers in src/mls/bytes.c.
 *
 * Vector loops (one iteration per case): every ratchet tree in
 * tree-validation.json, treekem.json, tree-operations.json and
 * messages.json decodes and re-encodes byte for byte; every UpdatePath in
 * treekem.json likewise; every leaf node signature in tree-validation.json
 * and treekem.json (trees and update paths) verifies with the case's group
 * id and the leaf's index; every KeyPackage of messages.json, welcome.json
 * and passive-client-welcome.json round-trips and passes
 * mls_key_package_verify (both signatures, RFC 9420 §10.1).
 *
 * Negative tests: truncation at every byte and a trailing byte for each
 * decoder on vector encodings, and one mutation per rule the decoders and
 * verifiers enforce.
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
#include "mls/bytes.h"
#include "mls/constants.h"
#include "mls/msg_leaf.h"
#include "selftest/selftest.h"

/* ------------------------------------------------------------ helpers */

typedef struct {
  uint8_t *p;
  size_t n;
} buf;

static void buf_free(buf *b) {
  free(b->p);
  b->p = NULL;
  b->n = 0;
}

static buf hexbuf(const char *hex) {
  buf b = {NULL, 0};
  ck_assert_int_eq(mg_hex_decode(&b.p, &b.n, hex, strlen(hex)), 0);
  return b;
}

/* json_hex decodes member |key| of |obj| (must be a string). */
static buf json_hex(const json_t *obj, const char *key) {
  const json_t *v = json_object_get(obj, key);
  ck_assert_msg(json_is_string(v), "member %s missing", key);
  return hexbuf(json_string_value(v));
}

typedef int (*enc_fn)(mg_writer *w, const void *in);
typedef int (*dec_fn)(mg_reader *r, void *out);
typedef void (*clean_fn)(void *x);

static int kp_dec(mg_reader *r, void *o) { return mls_key_package_decode(r, o); }
static int kp_enc(mg_writer *w, const void *i) {
  return mls_key_package_encode(w, i);
}
static void kp_clean(void *x) { mls_key_package_cleanup(x); }
static int ln_dec(mg_reader *r, void *o) { return mls_leaf_node_decode(r, o); }
static int ln_enc(mg_writer *w, const void *i) {
  return mls_leaf_node_encode(w, i);
}
static void ln_clean(void *x) { mls_leaf_node_cleanup(x); }
static int rt_dec(mg_reader *r, void *o) {
  return mls_ratchet_tree_decode(r, o);
}
static int rt_enc(mg_writer *w, const void *i) {
  return mls_ratchet_tree_encode(w, i);
}
static void rt_clean(void *x) { mls_ratchet_tree_cleanup(x); }
static int up_dec(mg_reader *r, void *o) { return mls_update_path_decode(r, o); }
static int up_enc(mg_writer *w, const void *i) {
  return mls_update_path_encode(w, i);
}
static void up_clean(void *x) { mls_update_path_cleanup(x); }
static int cred_dec(mg_reader *r, void *o) {
  return mls_credential_decode(r, o);
}
static int cred_enc(mg_writer *w, const void *i) {
  return mls_credential_encode(w, i);
}
static void cred_clean(void *x) { mls_credential_cleanup(x); }
static int ext_dec(mg_reader *r, void *o) {
  return mls_extension_list_decode(r, o);
}
static int ext_enc(mg_writer *w, const void *i) {
  return mls_extension_list_encode(w, i);
}
static void ext_clean(void *x) { mls_extension_list_cleanup(x); }
static int caps_dec(mg_reader *r, void *o) {
  return mls_capabilities_decode(r, o);
}
static int caps_enc(mg_writer *w, const void *i) {
  return mls_capabilities_encode(w, i);
}
static void caps_clean(void *x) { mls_capabilities_cleanup(x); }
static int pn_dec(mg_reader *r, void *o) { return mls_parent_node_decode(r, o); }
static int pn_enc(mg_writer *w, const void *i) {
  return mls_parent_node_encode(w, i);
}
static void pn_clean(void *x) { mls_parent_node_cleanup(x); }
static int node_dec(mg_reader *r, void *o) { return mls_node_decode(r, o); }
static int node_enc(mg_writer *w, const void *i) {
  return mls_node_encode(w, i);
}
static void node_clean(void *x) { mls_node_cleanup(x); }

/* The largest struct decoded through the generic helpers below. */
typedef union {
  mls_key_package kp;
  mls_leaf_node ln;
  mls_ratchet_tree rt;
  mls_update_path up;
  mls_credential cred;
  mls_extension_list ext;
  mls_capabilities caps;
  mls_parent_node pn;
  mls_node node;
} any_msg;

/* decode_all decodes |in| completely into |out|; returns the error. */
static int decode_all(dec_fn dec, const uint8_t *p, size_t n, void *out) {
  mg_reader r;
  mg_reader_init(&r, p, n);
  int rc = dec(&r, out);
  if (rc == 0) {
    rc = mg_reader_done(&r);
  }
  return rc;
}

/* encode_eq encodes |in| and compares with |want|; returns 1 if equal. */
static int encode_eq(enc_fn enc, const void *in, const uint8_t *want,
                     size_t want_len) {
  mg_writer w;
  ck_assert_int_eq(mg_writer_init(&w, 64, 0), 0);
  int rc = enc(&w, in);
  int eq = rc == 0 && mg_writer_len(&w) == want_len &&
           memcmp(mg_writer_data(&w), want, want_len) == 0;
  mg_writer_cleanup(&w);
  return eq;
}

/* roundtrip: decode |p| completely, re-encode, compare bytes. */
static void roundtrip(const char *what, dec_fn dec, enc_fn enc, clean_fn clean,
                      const uint8_t *p, size_t n) {
  any_msg m;
  memset(&m, 0, sizeof(m));
  int rc = decode_all(dec, p, n, &m);
  ck_assert_msg(rc == 0, "%s: decode failed: %s", what, mg_err_name(rc));
  ck_assert_msg(encode_eq(enc, &m, p, n), "%s: re-encoding differs", what);
  clean(&m);
}

/* truncation_and_trailing: every proper prefix of |p| fails to decode and
 * leaves the reader unchanged; |p| plus one byte decodes but leaves exactly
 * that byte (MG_ERR_TRAILING for a complete decode). */
static void truncation_and_trailing(const char *what, dec_fn dec,
                                    clean_fn clean, const uint8_t *p,
                                    size_t n) {
  for (size_t k = 0; k < n; k++) {
    any_msg m;
    mg_reader r;
    memset(&m, 0, sizeof(m));
    mg_reader_init(&r, p, k);
    int rc = dec(&r, &m);
    ck_assert_msg(rc < 0, "%s: prefix of %zu/%zu bytes decoded", what, k, n);
    ck_assert_msg(r.data == p && r.len == k,
                  "%s: reader moved on failure at %zu", what, k);
    /* |m| must own nothing: a zeroed struct (ASan would also catch leaks). */
    any_msg zero;
    memset(&zero, 0, sizeof(zero));
    ck_assert_msg(memcmp(&m, &zero, sizeof(m)) == 0,
                  "%s: output not empty after failure at %zu", what, k);
  }
  uint8_t *q = malloc(n + 1);
  ck_assert_ptr_nonnull(q);
  memcpy(q, p, n);
  q[n] = 0x00;
  any_msg m;
  memset(&m, 0, sizeof(m));
  ck_assert_int_eq(decode_all(dec, q, n + 1, &m), MG_ERR_TRAILING);
  clean(&m);
  free(q);
}

/* ------------------------------------------------------- vector files */

typedef struct {
  const char *rel;
  size_t expect;
  json_t *root;
} vfile;

enum { F_MESSAGES, F_TREE_VALIDATION, F_TREEKEM, F_TREE_OPS, F_WELCOME,
       F_PASSIVE_WELCOME, F_COUNT };

static vfile files[F_COUNT] = {
    {"mls/messages.json", 300, NULL},
    {"mls/tree-validation.json", 98, NULL},
    {"mls/treekem.json", 77, NULL},
    {"mls/tree-operations.json", 5, NULL},
    {"mls/welcome.json", 7, NULL},
    {"mls/passive-client-welcome.json", 56, NULL},
};

static const json_t *vcase(int f, int i) {
  ck_assert_msg(files[f].root != NULL, "%s not loaded", files[f].rel);
  const json_t *c = json_array_get(files[f].root, (size_t)i);
  ck_assert_ptr_nonnull(c);
  return c;
}

static const mls_suite *vsuite(const json_t *c) {
  const json_t *cs = json_object_get(c, "cipher_suite");
  ck_assert(json_is_integer(cs));
  const mls_suite *s = mls_suite_by_id((uint16_t)json_integer_value(cs));
  ck_assert_ptr_nonnull(s);
  return s;
}

/* check_tree_leaves verifies the signature of every leaf of |t|. */
static void check_tree_leaves(const char *what, const mls_suite *suite,
                              const mls_ratchet_tree *t, const buf *gid) {
  size_t leaves = 0;
  for (size_t i = 0; i < t->n; i += 2) {
    const mls_node *nd = mls_ratchet_tree_node(t, i);
    if (nd == NULL) {
      continue;
    }
    ck_assert_uint_eq(nd->node_type, MLS_NODE_LEAF);
    int rc = mls_leaf_node_verify(suite, &nd->u.leaf, gid->p, gid->n,
                                  (uint32_t)(i / 2));
    ck_assert_msg(rc == 0, "%s: leaf %zu signature: %s", what, i / 2,
                  mg_err_name(rc));
    rc = mls_leaf_node_check_capabilities(&nd->u.leaf);
    ck_assert_msg(rc == 0, "%s: leaf %zu capabilities: %s", what, i / 2,
                  mg_err_name(rc));
    leaves++;
  }
  ck_assert_uint_gt(leaves, 0);
}

/* decode_tree decodes a vector tree, checks the round trip, returns it. */
static void decode_tree(const char *what, const buf *b, mls_ratchet_tree *t) {
  roundtrip(what, rt_dec, rt_enc, rt_clean, b->p, b->n);
  memset(t, 0, sizeof(*t));
  ck_assert_int_eq(decode_all(rt_dec, b->p, b->n, t), 0);
  uint32_t w = mls_ratchet_tree_width(t);
  ck_assert_uint_ge(w, t->n);
  ck_assert_uint_eq((w + 1) & w, 0); /* 2^k - 1 */
}

START_TEST(test_vec_tree_validation) {
  const json_t *c = vcase(F_TREE_VALIDATION, _i);
  const mls_suite *suite = vsuite(c);
  buf tree = json_hex(c, "tree"), gid = json_hex(c, "group_id");
  mls_ratchet_tree t;
  decode_tree("tree-validation tree", &tree, &t);
  /* tree_hashes lists one hash per node of the padded tree. */
  const json_t *th = json_object_get(c, "tree_hashes");
  ck_assert_uint_eq(json_array_size(th), mls_ratchet_tree_width(&t));
  check_tree_leaves("tree-validation", suite, &t, &gid);
  mls_ratchet_tree_cleanup(&t);
  buf_free(&tree);
  buf_free(&gid);
}
END_TEST

START_TEST(test_vec_treekem) {
  const json_t *c = vcase(F_TREEKEM, _i);
  const mls_suite *suite = vsuite(c);
  buf tree = json_hex(c, "ratchet_tree"), gid = json_hex(c, "group_id");
  mls_ratchet_tree t;
  decode_tree("treekem ratchet_tree", &tree, &t);
  check_tree_leaves("treekem", suite, &t, &gid);
  const json_t *ups = json_object_get(c, "update_paths");
  ck_assert_uint_gt(json_array_size(ups), 0);
  for (size_t j = 0; j < json_array_size(ups); j++) {
    const json_t *u = json_array_get(ups, j);
    buf b = json_hex(u, "update_path");
    uint32_t sender = (uint32_t)json_integer_value(json_object_get(u, "sender"));
    roundtrip("treekem update_path", up_dec, up_enc, up_clean, b.p, b.n);
    mls_update_path up;
    memset(&up, 0, sizeof(up));
    ck_assert_int_eq(decode_all(up_dec, b.p, b.n, &up), 0);
    ck_assert_uint_eq(up.leaf_node.leaf_node_source, MLS_LEAF_SOURCE_COMMIT);
    int rc = mls_leaf_node_verify(suite, &up.leaf_node, gid.p, gid.n, sender);
    ck_assert_msg(rc == 0, "update path %zu leaf signature: %s", j,
                  mg_err_name(rc));
    /* Bound to its position: another leaf index must not verify. */
    ck_assert_int_eq(
        mls_leaf_node_verify(suite, &up.leaf_node, gid.p, gid.n, sender + 1),
        MG_ERR_LEAF_SIGNATURE);
    if (j == 0 && _i == 0) {
      truncation_and_trailing("update_path", up_dec, up_clean, b.p, b.n);
    }
    mls_update_path_cleanup(&up);
    buf_free(&b);
  }
  mls_ratchet_tree_cleanup(&t);
  buf_free(&tree);
  buf_free(&gid);
}
END_TEST

START_TEST(test_vec_tree_operations) {
  const json_t *c = vcase(F_TREE_OPS, _i);
  static const char *const keys[] = {"tree_before", "tree_after"};
  for (size_t k = 0; k < 2; k++) {
    buf b = json_hex(c, keys[k]);
    mls_ratchet_tree t;
    decode_tree(keys[k], &b, &t);
    mls_ratchet_tree_cleanup(&t);
    buf_free(&b);
  }
}
END_TEST

START_TEST(test_vec_counts) {
  for (size_t f = 0; f < F_COUNT; f++) {
    ck_assert_msg(files[f].root != NULL, "%s not loaded", files[f].rel);
    ck_assert_msg(json_array_size(files[f].root) == files[f].expect,
                  "%s: %zu cases, want %zu", files[f].rel,
                  json_array_size(files[f].root), files[f].expect);
  }
}
END_TEST

/* kp_from_message strips the MLSMessage header of a mls_key_package
 * message (RFC 9420 §6: version, wire_format). */
static void kp_from_message(const buf *msg, const uint8_t **p, size_t *n) {
  ck_assert_uint_gt(msg->n, 4);
  ck_assert_msg(msg->p[0] == 0 && msg->p[1] == 1, "version not mls10");
  ck_assert_msg(msg->p[2] == 0 && msg->p[3] == MLS_WIRE_KEY_PACKAGE,
                "wire format not mls_key_package");
  *p = msg->p + 4;
  *n = msg->n - 4;
}

static void check_key_package(const char *what, const uint8_t *p, size_t n) {
  roundtrip(what, kp_dec, kp_enc, kp_clean, p, n);
  mls_key_package kp;
  memset(&kp, 0, sizeof(kp));
  ck_assert_int_eq(decode_all(kp_dec, p, n, &kp), 0);
  int rc = mls_key_package_verify(&kp);
  ck_assert_msg(rc == 0, "%s: verify: %s", what, mg_err_name(rc));
  rc = mls_leaf_node_check_capabilities(&kp.leaf_node);
  ck_assert_msg(rc == 0, "%s: capabilities: %s", what, mg_err_name(rc));
  /* The ref is Hash.Nh bytes and depends on every byte of the package. */
  uint8_t ref[MG_MAX_HASH_LEN], ref2[MG_MAX_HASH_LEN];
  size_t ref_len = 0, ref2_len = 0;
  ck_assert_int_eq(mls_key_package_ref(&kp, ref, sizeof(ref), &ref_len), 0);
  ck_assert_uint_eq(ref_len, mls_suite_by_id(kp.cipher_suite)->hash->digest_len);
  ck_assert_uint_gt(kp.signature.len, 0);
  kp.signature.data[0] ^= 1;
  ck_assert_int_eq(mls_key_package_ref(&kp, ref2, sizeof(ref2), &ref2_len), 0);
  ck_assert(memcmp(ref, ref2, ref_len) != 0);
  ck_assert_int_eq(mls_key_package_verify(&kp), MG_ERR_SIGNATURE);
  kp.signature.data[0] ^= 1;
  ck_assert_uint_gt(kp.leaf_node.signature.len, 0);
  kp.leaf_node.signature.data[0] ^= 1;
  ck_assert_int_eq(mls_key_package_verify(&kp), MG_ERR_LEAF_SIGNATURE);
  kp.leaf_node.signature.data[0] ^= 1;
  ck_assert_int_eq(mls_key_package_verify(&kp), 0);
  mls_key_package_cleanup(&kp);
}

START_TEST(test_vec_messages) {
  const json_t *c = vcase(F_MESSAGES, _i);
  buf msg = json_hex(c, "mls_key_package");
  const uint8_t *p;
  size_t n;
  kp_from_message(&msg, &p, &n);
  check_key_package("messages mls_key_package", p, n);
  buf tree = json_hex(c, "ratchet_tree");
  mls_ratchet_tree t;
  decode_tree("messages ratchet_tree", &tree, &t);
  mls_ratchet_tree_cleanup(&t);
  if (_i == 0) {
    truncation_and_trailing("key_package", kp_dec, kp_clean, p, n);
    truncation_and_trailing("ratchet_tree", rt_dec, rt_clean, tree.p, tree.n);
  }
  buf_free(&tree);
  buf_free(&msg);
}
END_TEST

START_TEST(test_vec_welcome_key_packages) {
  const json_t *c = vcase(F_WELCOME, _i);
  buf msg = json_hex(c, "key_package");
  const uint8_t *p;
  size_t n;
  kp_from_message(&msg, &p, &n);
  check_key_package("welcome key_package", p, n);
  buf_free(&msg);
}
END_TEST

START_TEST(test_vec_passive_key_packages) {
  const json_t *c = vcase(F_PASSIVE_WELCOME, _i);
  buf msg = json_hex(c, "key_package");
  const uint8_t *p;
  size_t n;
  kp_from_message(&msg, &p, &n);
  check_key_package("passive-client-welcome key_package", p, n);
  buf_free(&msg);
}
END_TEST

/* Truncation/trailing for the inner decoders, on pieces cut from the first
 * messages.json key package (re-encoded from the decoded structure). */
START_TEST(test_inner_truncation) {
  const json_t *c = vcase(F_MESSAGES, 0);
  buf msg = json_hex(c, "mls_key_package");
  const uint8_t *p;
  size_t n;
  kp_from_message(&msg, &p, &n);
  mls_key_package kp;
  memset(&kp, 0, sizeof(kp));
  ck_assert_int_eq(decode_all(kp_dec, p, n, &kp), 0);
  struct {
    const char *what;
    enc_fn enc;
    dec_fn dec;
    clean_fn clean;
    const void *in;
  } parts[] = {
      {"leaf_node", ln_enc, ln_dec, ln_clean, &kp.leaf_node},
      {"credential", cred_enc, cred_dec, cred_clean, &kp.leaf_node.credential},
      {"capabilities", caps_enc, caps_dec, caps_clean,
       &kp.leaf_node.capabilities},
      {"extensions", ext_enc, ext_dec, ext_clean, &kp.leaf_node.extensions},
  };
  for (size_t k = 0; k < sizeof(parts) / sizeof(parts[0]); k++) {
    mg_writer w;
    ck_assert_int_eq(mg_writer_init(&w, 64, 0), 0);
    ck_assert_int_eq(parts[k].enc(&w, parts[k].in), 0);
    roundtrip(parts[k].what, parts[k].dec, parts[k].enc, parts[k].clean,
              mg_writer_data(&w), mg_writer_len(&w));
    truncation_and_trailing(parts[k].what, parts[k].dec, parts[k].clean,
                            mg_writer_data(&w), mg_writer_len(&w));
    mg_writer_cleanup(&w);
  }
  mls_key_package_cleanup(&kp);
  buf_free(&msg);

  /* ParentNode and Node from the first tree-validation tree. */
  const json_t *tv = vcase(F_TREE_VALIDATION, 0);
  buf tree = json_hex(tv, "tree");
  mls_ratchet_tree t;
  memset(&t, 0, sizeof(t));
  ck_assert_int_eq(decode_all(rt_dec, tree.p, tree.n, &t), 0);
  int seen_parent = 0;
  for (size_t i = 1; i < t.n; i += 2) {
    const mls_node *nd = mls_ratchet_tree_node(&t, i);
    if (nd == NULL) {
      continue;
    }
    mg_writer w;
    ck_assert_int_eq(mg_writer_init(&w, 64, 0), 0);
    ck_assert_int_eq(mls_parent_node_encode(&w, &nd->u.parent), 0);
    roundtrip("parent_node", pn_dec, pn_enc, pn_clean, mg_writer_data(&w),
              mg_writer_len(&w));
    truncation_and_trailing("parent_node", pn_dec, pn_clean,
                            mg_writer_data(&w), mg_writer_len(&w));
    mg_writer_cleanup(&w);
    ck_assert_int_eq(mg_writer_init(&w, 64, 0), 0);
    ck_assert_int_eq(mls_node_encode(&w, nd), 0);
    roundtrip("node", node_dec, node_enc, node_clean, mg_writer_data(&w),
              mg_writer_len(&w));
    truncation_and_trailing("node", node_dec, node_clean, mg_writer_data(&w),
                            mg_writer_len(&w));
    mg_writer_cleanup(&w);
    seen_parent = 1;
    break;
  }
  ck_assert(seen_parent);
  mls_ratchet_tree_cleanup(&t);
  buf_free(&tree);
}
END_TEST

/* ------------------------------------------------- hand-made encodings */

/* A minimal LeafNode with source update:
 *   encryption_key 01aa, signature_key 01bb, credential basic 0001 01cc,
 *   capabilities 00 00 00 00 00, source 02, extensions 00, signature 01dd */
#define LN_UPDATE "01aa" "01bb" "000101cc" "0000000000" "02" "00" "01dd"
#define LN_SOURCE_OFFSET 13
/* A minimal ParentNode: encryption_key 01ee, parent_hash 00, unmerged 00. */
#define PN "01ee" "00" "00"

START_TEST(test_leaf_node_source) {
  buf b = hexbuf(LN_UPDATE);
  ck_assert_uint_eq(b.p[LN_SOURCE_OFFSET], MLS_LEAF_SOURCE_UPDATE);
  roundtrip("update leaf", ln_dec, ln_enc, ln_clean, b.p, b.n);
  /* RFC 9420 §7.2: LeafNodeSource is key_package, update or commit. */
  static const uint8_t bad[] = {0, 4, 0xff};
  for (size_t k = 0; k < sizeof(bad); k++) {
    mls_leaf_node ln;
    memset(&ln, 0, sizeof(ln));
    b.p[LN_SOURCE_OFFSET] = bad[k];
    ck_assert_int_eq(decode_all(ln_dec, b.p, b.n, &ln),
                     MG_ERR_LEAF_NODE_SOURCE);
  }
  /* key_package needs a 16-byte Lifetime: here it is missing. */
  b.p[LN_SOURCE_OFFSET] = MLS_LEAF_SOURCE_KEY_PACKAGE;
  mls_leaf_node ln;
  memset(&ln, 0, sizeof(ln));
  ck_assert_int_lt(decode_all(ln_dec, b.p, b.n, &ln), 0);
  /* commit reads parent_hash<V> = 00, then extensions 01 (length 1, dd)
   * which is a truncated Extension. */
  b.p[LN_SOURCE_OFFSET] = MLS_LEAF_SOURCE_COMMIT;
  ck_assert_int_lt(decode_all(ln_dec, b.p, b.n, &ln), 0);
  buf_free(&b);
  /* The encoder refuses an invalid source too. */
  buf ok = hexbuf(LN_UPDATE);
  memset(&ln, 0, sizeof(ln));
  ck_assert_int_eq(decode_all(ln_dec, ok.p, ok.n, &ln), 0);
  ln.leaf_node_source = 7;
  mg_writer w;
  ck_assert_int_eq(mg_writer_init(&w, 64, 0), 0);
  ck_assert_int_eq(mls_leaf_node_encode(&w, &ln), MG_ERR_LEAF_NODE_SOURCE);
  mg_writer_cleanup(&w);
  mls_leaf_node_cleanup(&ln);
  buf_free(&ok);
  /* The commit and key_package layouts. */
  buf c = hexbuf("01aa01bb000101cc0000000000" "03" "02abcd" "00" "01dd");
  roundtrip("commit leaf", ln_dec, ln_enc, ln_clean, c.p, c.n);
  memset(&ln, 0, sizeof(ln));
  ck_assert_int_eq(decode_all(ln_dec, c.p, c.n, &ln), 0);
  ck_assert_uint_eq(ln.parent_hash.len, 2);
  mls_leaf_node_cleanup(&ln);
  buf_free(&c);
  buf k = hexbuf("01aa01bb000101cc0000000000" "01"
                 "0000000000000001" "ffffffffffffffff" "00" "01dd");
  roundtrip("key_package leaf", ln_dec, ln_enc, ln_clean, k.p, k.n);
  memset(&ln, 0, sizeof(ln));
  ck_assert_int_eq(decode_all(ln_dec, k.p, k.n, &ln), 0);
  ck_assert_uint_eq(ln.lifetime.not_before, 1);
  ck_assert_uint_eq(ln.lifetime.not_after, UINT64_MAX);
  ck_assert_int_eq(mls_lifetime_check(&ln.lifetime, 1), 0);
  ck_assert_int_eq(mls_lifetime_check(&ln.lifetime, 0), MG_ERR_LIFETIME);
  mls_leaf_node_cleanup(&ln);
  buf_free(&k);
}
END_TEST

/* set_list replaces |l| with |n| values. */
static void set_list(mls_u16_list *l, const uint16_t *v, size_t n) {
  mls_u16_list_cleanup(l);
  l->v = calloc(n, sizeof(uint16_t));
  ck_assert_ptr_nonnull(l->v);
  memcpy(l->v, v, n * sizeof(uint16_t));
  l->n = n;
}

START_TEST(test_capabilities_rules) {
  buf b = hexbuf(LN_UPDATE);
  mls_leaf_node ln;
  memset(&ln, 0, sizeof(ln));
  ck_assert_int_eq(decode_all(ln_dec, b.p, b.n, &ln), 0);
  /* RFC 9420 §7.2: the credential type must be listed. */
  ck_assert_int_eq(mls_leaf_node_check_capabilities(&ln), MG_ERR_CAPABILITIES);
  static const uint16_t creds[] = {MLS_CREDENTIAL_BASIC};
  set_list(&ln.capabilities.credentials, creds, 1);
  ck_assert_int_eq(mls_leaf_node_check_capabilities(&ln), 0);
  /* Default extensions need not be listed; others must be. */
  ck_assert_int_eq(
      mls_extension_list_add(&ln.extensions, MLS_EXT_APPLICATION_ID, NULL, 0),
      0);
  ck_assert_int_eq(mls_leaf_node_check_capabilities(&ln), 0);
  ck_assert_int_eq(mls_extension_list_add(&ln.extensions, 0xbeef, NULL, 0), 0);
  ck_assert_int_eq(mls_leaf_node_check_capabilities(&ln), MG_ERR_EXTENSION);
  static const uint16_t exts[] = {0x0a0a, 0xbeef};
  set_list(&ln.capabilities.extensions, exts, 2);
  ck_assert_int_eq(mls_leaf_node_check_capabilities(&ln), 0);

  /* Required capabilities (RFC 9420 §11.1). */
  mls_required_capabilities req;
  memset(&req, 0, sizeof(req));
  ck_assert_int_eq(mls_capabilities_check_required(&ln.capabilities, &req), 0);
  static const uint16_t rext[] = {MLS_EXT_EXTERNAL_SENDERS, 0xbeef};
  set_list(&req.extension_types, rext, 2);
  ck_assert_int_eq(mls_capabilities_check_required(&ln.capabilities, &req), 0);
  static const uint16_t rext2[] = {0xbeee};
  set_list(&req.extension_types, rext2, 1);
  ck_assert_int_eq(mls_capabilities_check_required(&ln.capabilities, &req),
                   MG_ERR_CAPABILITIES);
  mls_u16_list_cleanup(&req.extension_types);
  static const uint16_t rprop[] = {MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS};
  set_list(&req.proposal_types, rprop, 1);
  ck_assert_int_eq(mls_capabilities_check_required(&ln.capabilities, &req), 0);
  static const uint16_t rprop2[] = {0x0008};
  set_list(&req.proposal_types, rprop2, 1);
  ck_assert_int_eq(mls_capabilities_check_required(&ln.capabilities, &req),
                   MG_ERR_CAPABILITIES);
  ck_assert(!mls_capabilities_supports_proposal(&ln.capabilities, 8));
  set_list(&ln.capabilities.proposals, rprop2, 1);
  ck_assert(mls_capabilities_supports_proposal(&ln.capabilities, 8));
  ck_assert_int_eq(mls_capabilities_check_required(&ln.capabilities, &req), 0);
  static const uint16_t rcred[] = {MLS_CREDENTIAL_X509};
  set_list(&req.credential_types, rcred, 1);
  ck_assert_int_eq(mls_capabilities_check_required(&ln.capabilities, &req),
                   MG_ERR_CAPABILITIES);
  mls_required_capabilities_cleanup(&req);
  mls_leaf_node_cleanup(&ln);
  buf_free(&b);
}
END_TEST

START_TEST(test_extensions) {
  mls_extension_list l;
  /* GREASE and unknown types are kept, in order. */
  buf b = hexbuf("08" "0a0a00" "beef0201ff");
  memset(&l, 0, sizeof(l));
  ck_assert_int_eq(decode_all(ext_dec, b.p, b.n, &l), 0);
  ck_assert_uint_eq(l.n, 2);
  ck_assert_uint_eq(l.items[0].extension_type, 0x0a0a);
  ck_assert_uint_eq(l.items[1].extension_type, 0xbeef);
  ck_assert_uint_eq(l.items[1].extension_data.len, 2);
  ck_assert_ptr_eq(mls_extension_list_find(&l, 0xbeef), &l.items[1]);
  ck_assert_ptr_null(mls_extension_list_find(&l, 1));
  ck_assert(encode_eq(ext_enc, &l, b.p, b.n));
  /* add: new type appended, duplicate refused without change. */
  ck_assert_int_eq(mls_extension_list_add(&l, MLS_EXT_APPLICATION_ID,
                                          (const uint8_t *)"\x02hi", 3),
                   0);
  ck_assert_uint_eq(l.n, 3);
  ck_assert_int_eq(mls_extension_list_add(&l, 0xbeef, NULL, 0),
                   MG_ERR_DUPLICATE_EXTENSION);
  ck_assert_uint_eq(l.n, 3);
  mls_bytes app = {NULL, 0};
  ck_assert_int_eq(mls_ext_application_id_decode(&l.items[2], &app), 0);
  ck_assert_uint_eq(app.len, 2);
  ck_assert_int_eq(memcmp(app.data, "hi", 2), 0);
  mls_bytes_cleanup(&app);
  /* Wrong type for the accessor. */
  ck_assert_int_eq(mls_ext_external_pub_decode(&l.items[2], &app),
                   MG_ERR_INVALID_ARG);
  /* A copy encodes identically. */
  mls_extension_list cp;
  ck_assert_int_eq(mls_extension_list_copy(&cp, &l), 0);
  ck_assert_uint_eq(cp.n, 3);
  ck_assert_int_eq(mls_bytes_eq(&cp.items[2].extension_data,
                                &l.items[2].extension_data),
                   1);
  /* The encoder refuses a list made duplicate by hand. */
  cp.items[1].extension_type = cp.items[0].extension_type;
  mg_writer w;
  ck_assert_int_eq(mg_writer_init(&w, 64, 0), 0);
  ck_assert_int_eq(mls_extension_list_encode(&w, &cp),
                   MG_ERR_DUPLICATE_EXTENSION);
  mg_writer_cleanup(&w);
  mls_extension_list_cleanup(&cp);
  mls_extension_list_cleanup(&l);
  buf_free(&b);

  /* RFC 9420 §13: a repeated extension type is rejected. */
  buf d = hexbuf("09" "000500" "0a0a00" "000500");
  memset(&l, 0, sizeof(l));
  mg_reader r;
  mg_reader_init(&r, d.p, d.n);
  ck_assert_int_eq(mls_extension_list_decode(&r, &l),
                   MG_ERR_DUPLICATE_EXTENSION);
  ck_assert_uint_eq(r.len, d.n);
  ck_assert_ptr_null(l.items);
  buf_free(&d);

  /* Application id payload with trailing bytes. */
  uint8_t trailing[] = {0x01, 'x', '!'};
  mls_extension e = {MLS_EXT_APPLICATION_ID, {trailing, sizeof(trailing)}};
  ck_assert_int_eq(mls_ext_application_id_decode(&e, &app), MG_ERR_TRAILING);
  ck_assert_ptr_null(app.data);
}
END_TEST

START_TEST(test_ext_payloads) {
  /* required_capabilities: extensions {5}, proposals {}, credentials {1,2} */
  buf rc = hexbuf("020005" "00" "0400010002");
  mls_extension e = {MLS_EXT_REQUIRED_CAPABILITIES, {rc.p, rc.n}};
  mls_required_capabilities req;
  memset(&req, 0, sizeof(req));
  ck_assert_int_eq(mls_ext_required_capabilities_decode(&e, &req), 0);
  ck_assert_uint_eq(req.extension_types.n, 1);
  ck_assert(mls_u16_list_contains(&req.extension_types, 5));
  ck_assert_uint_eq(req.proposal_types.n, 0);
  ck_assert(mls_u16_list_contains(&req.credential_types, 2));
  ck_assert(!mls_u16_list_contains(&req.credential_types, 3));
  mg_writer w;
  ck_assert_int_eq(mg_writer_init(&w, 64, 0), 0);
  ck_assert_int_eq(mls_required_capabilities_encode(&w, &req), 0);
  ck_assert_uint_eq(mg_writer_len(&w), rc.n);
  ck_assert_int_eq(memcmp(mg_writer_data(&w), rc.p, rc.n), 0);
  mg_writer_cleanup(&w);
  mls_required_capabilities_cleanup(&req);
  /* An odd-length code point list is truncated. */
  rc.p[0] = 0x01;
  ck_assert_int_lt(mls_ext_required_capabilities_decode(&e, &req), 0);
  buf_free(&rc);

  /* external_senders: one sender with key 02abcd and a basic credential. */
  buf es = hexbuf("08" "02abcd" "000102eeff");
  mls_extension e2 = {MLS_EXT_EXTERNAL_SENDERS, {es.p, es.n}};
  mls_external_senders s;
  memset(&s, 0, sizeof(s));
  ck_assert_int_eq(mls_ext_external_senders_decode(&e2, &s), 0);
  ck_assert_uint_eq(s.n, 1);
  ck_assert_uint_eq(s.items[0].signature_key.len, 2);
  ck_assert_uint_eq(s.items[0].credential.credential_type,
                    MLS_CREDENTIAL_BASIC);
  ck_assert_uint_eq(s.items[0].credential.identity.len, 2);
  ck_assert_int_eq(mg_writer_init(&w, 64, 0), 0);
  ck_assert_int_eq(mls_external_senders_encode(&w, &s), 0);
  ck_assert_uint_eq(mg_writer_len(&w), es.n);
  ck_assert_int_eq(memcmp(mg_writer_data(&w), es.p, es.n), 0);
  mg_writer_cleanup(&w);
  mls_external_senders_cleanup(&s);
  buf_free(&es);

  /* external_pub */
  buf ep = hexbuf("03010203");
  mls_extension e3 = {MLS_EXT_EXTERNAL_PUB, {ep.p, ep.n}};
  mls_bytes pub = {NULL, 0};
  ck_assert_int_eq(mls_ext_external_pub_decode(&e3, &pub), 0);
  ck_assert_uint_eq(pub.len, 3);
  mls_bytes_cleanup(&pub);
  buf_free(&ep);

  /* ratchet_tree delegates to the tree codec (one leaf). */
  buf rt = hexbuf("13" "01" "01" LN_UPDATE);
  mls_extension e4 = {MLS_EXT_RATCHET_TREE, {rt.p, rt.n}};
  mls_ratchet_tree t;
  memset(&t, 0, sizeof(t));
  ck_assert_int_eq(mls_ext_ratchet_tree_decode(&e4, &t), 0);
  ck_assert_uint_eq(t.n, 1);
  ck_assert_uint_eq(mls_ratchet_tree_num_leaves(&t), 1);
  mls_ratchet_tree_cleanup(&t);
  e4.extension_type = MLS_EXT_EXTERNAL_PUB;
  ck_assert_int_eq(mls_ext_ratchet_tree_decode(&e4, &t), MG_ERR_INVALID_ARG);
  buf_free(&rt);
}
END_TEST

START_TEST(test_credentials) {
  /* basic */
  buf b = hexbuf("0001" "03616c69");
  roundtrip("basic", cred_dec, cred_enc, cred_clean, b.p, b.n);
  mls_credential c1, c2;
  memset(&c1, 0, sizeof(c1));
  ck_assert_int_eq(decode_all(cred_dec, b.p, b.n, &c1), 0);
  ck_assert_uint_eq(c1.identity.len, 3);
  ck_assert_int_eq(mls_credential_copy(&c2, &c1), 0);
  ck_assert(mls_credential_eq(&c1, &c2));
  c2.identity.data[0] ^= 1;
  ck_assert(!mls_credential_eq(&c1, &c2));
  mls_credential_cleanup(&c2);
  mls_credential_cleanup(&c1);
  buf_free(&b);
  /* x509 chain of two certificates */
  buf x = hexbuf("0002" "07" "02aabb" "03ccddee");
  roundtrip("x509", cred_dec, cred_enc, cred_clean, x.p, x.n);
  memset(&c1, 0, sizeof(c1));
  ck_assert_int_eq(decode_all(cred_dec, x.p, x.n, &c1), 0);
  ck_assert_uint_eq(c1.num_certificates, 2);
  ck_assert_uint_eq(c1.certificates[1].len, 3);
  ck_assert_int_eq(mls_credential_copy(&c2, &c1), 0);
  ck_assert(mls_credential_eq(&c1, &c2));
  mls_credential_cleanup(&c2);
  mls_credential_cleanup(&c1);
  /* a certificate that overruns the chain vector */
  x.p[2] = 0x06;
  memset(&c1, 0, sizeof(c1));
  ck_assert_int_lt(decode_all(cred_dec, x.p, x.n, &c1), 0);
  buf_free(&x);
  /* unknown (GREASE) type: body kept as opaque<V> */
  buf g = hexbuf("3a3a" "0201ff");
  roundtrip("grease credential", cred_dec, cred_enc, cred_clean, g.p, g.n);
  memset(&c1, 0, sizeof(c1));
  ck_assert_int_eq(decode_all(cred_dec, g.p, g.n, &c1), 0);
  ck_assert_uint_eq(c1.credential_type, 0x3a3a);
  ck_assert_uint_eq(c1.opaque.len, 2);
  mls_credential_cleanup(&c1);
  buf_free(&g);
}
END_TEST

/* tree_hex wraps |body| (hex) in a varint-1 vector. */
static buf tree_hex(const char *body) {
  size_t hl = strlen(body);
  ck_assert_uint_lt(hl / 2, 16384);
  char *s = malloc(hl + 5);
  ck_assert_ptr_nonnull(s);
  if (hl / 2 < 64) {
    snprintf(s, hl + 5, "%02zx%s", hl / 2, body);
  } else {
    snprintf(s, hl + 5, "%04zx%s", (size_t)0x4000 | (hl / 2), body);
  }
  buf b = hexbuf(s);
  free(s);
  return b;
}

#define L "01" "01" LN_UPDATE /* present leaf node */
#define P "01" "02" PN        /* present parent node */
#define B "00"                /* blank */

START_TEST(test_ratchet_tree_shape) {
  static const struct {
    const char *body;
    int want;
    size_t n, leaves;
  } cases[] = {
      {L, 0, 1, 1},
      {L B L, 0, 3, 2},
      {L P L, 0, 3, 2},
      {L B B, MG_ERR_TREE_INVALID, 0, 0},      /* trailing blank */
      {L B, MG_ERR_TREE_INVALID, 0, 0},        /* trailing blank, even */
      {L P, MG_ERR_TREE_INVALID, 0, 0},        /* even count */
      {L P L P, MG_ERR_TREE_INVALID, 0, 0},    /* even count */
      {P, MG_ERR_TREE_INVALID, 0, 0},          /* parent at a leaf slot */
      {L L L, MG_ERR_TREE_INVALID, 0, 0},      /* leaf at a parent slot */
      {L B P, MG_ERR_TREE_INVALID, 0, 0},      /* parent at leaf slot 2 */
      {"", MG_ERR_TREE_INVALID, 0, 0},         /* empty tree */
      {B, MG_ERR_TREE_INVALID, 0, 0},          /* only blank */
      {L B L B L, 0, 5, 4},                    /* 3 leaves pad to 4 */
      {L B L B L B L B L, 0, 9, 8},            /* 5 leaves pad to 8 */
      {"0101" LN_UPDATE, 0, 1, 1},
      {"02", MG_ERR_OPTIONAL, 0, 0},           /* presence octet 2 */
      {"0103" PN, MG_ERR_TREE_INVALID, 0, 0},  /* node type 3 */
      {"0100" PN, MG_ERR_TREE_INVALID, 0, 0},  /* node type 0 */
  };
  for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
    buf b = tree_hex(cases[k].body);
    mls_ratchet_tree t;
    memset(&t, 0, sizeof(t));
    mg_reader r;
    mg_reader_init(&r, b.p, b.n);
    int rc = mls_ratchet_tree_decode(&r, &t);
    ck_assert_msg(rc == cases[k].want, "case %zu: got %s want %s", k,
                  mg_err_name(rc), mg_err_name(cases[k].want));
    if (rc == 0) {
      ck_assert_uint_eq(r.len, 0);
      ck_assert_uint_eq(t.n, cases[k].n);
      ck_assert_uint_eq(mls_ratchet_tree_num_leaves(&t), cases[k].leaves);
      ck_assert_uint_eq(mls_ratchet_tree_width(&t), 2 * cases[k].leaves - 1);
      ck_assert_ptr_null(mls_ratchet_tree_node(&t, t.n));
      ck_assert(encode_eq(rt_enc, &t, b.p, b.n));
      mls_ratchet_tree cp;
      ck_assert_int_eq(mls_ratchet_tree_copy(&cp, &t), 0);
      ck_assert(encode_eq(rt_enc, &cp, b.p, b.n));
      mls_ratchet_tree_cleanup(&cp);
    } else {
      ck_assert_uint_eq(r.len, b.n);
      ck_assert_ptr_null(t.nodes);
    }
    mls_ratchet_tree_cleanup(&t);
    buf_free(&b);
  }
}
END_TEST

START_TEST(test_ratchet_tree_encode_strips_blanks) {
  buf want = tree_hex(L B L);
  mls_ratchet_tree t;
  memset(&t, 0, sizeof(t));
  ck_assert_int_eq(decode_all(rt_dec, want.p, want.n, &t), 0);
  /* Pad to 7 nodes by hand: the encoder drops the trailing blanks. */
  mls_node *nodes = calloc(7, sizeof(mls_node));
  ck_assert_ptr_nonnull(nodes);
  memcpy(nodes, t.nodes, 3 * sizeof(mls_node));
  free(t.nodes);
  t.nodes = nodes;
  t.n = 7;
  ck_assert(encode_eq(rt_enc, &t, want.p, want.n));
  /* A leaf moved to a parent slot is refused by the encoder. */
  t.nodes[3] = t.nodes[2];
  memset(&t.nodes[2], 0, sizeof(mls_node));
  mg_writer w;
  ck_assert_int_eq(mg_writer_init(&w, 64, 0), 0);
  ck_assert_int_eq(mls_ratchet_tree_encode(&w, &t), MG_ERR_TREE_INVALID);
  mg_writer_cleanup(&w);
  mls_ratchet_tree_cleanup(&t);
  /* All blank: nothing to encode. */
  mls_node blank[3];
  memset(blank, 0, sizeof(blank));
  mls_ratchet_tree bt = {blank, 3};
  ck_assert_int_eq(mg_writer_init(&w, 64, 0), 0);
  ck_assert_int_eq(mls_ratchet_tree_encode(&w, &bt), MG_ERR_TREE_INVALID);
  mg_writer_cleanup(&w);
  buf_free(&want);
}
END_TEST

START_TEST(test_update_path_handmade) {
  /* leaf; nodes: {01a1, [ {01b1, 02c1c2}, {00, 00} ]}, {01a2, []} */
  buf b = hexbuf(LN_UPDATE "0d" "01a1" "07" "01b1" "02c1c2" "0000"
                 "01a2" "00");
  roundtrip("update_path", up_dec, up_enc, up_clean, b.p, b.n);
  mls_update_path up, cp;
  memset(&up, 0, sizeof(up));
  ck_assert_int_eq(decode_all(up_dec, b.p, b.n, &up), 0);
  ck_assert_uint_eq(up.num_nodes, 2);
  ck_assert_uint_eq(up.nodes[0].num_encrypted_path_secret, 2);
  ck_assert_uint_eq(up.nodes[0].encrypted_path_secret[0].ciphertext.len, 2);
  ck_assert_uint_eq(up.nodes[0].encrypted_path_secret[1].kem_output.len, 0);
  ck_assert_uint_eq(up.nodes[1].num_encrypted_path_secret, 0);
  ck_assert_int_eq(mls_update_path_copy(&cp, &up), 0);
  ck_assert(encode_eq(up_enc, &cp, b.p, b.n));
  mls_update_path_cleanup(&cp);
  mls_update_path_cleanup(&up);
  truncation_and_trailing("update_path", up_dec, up_clean, b.p, b.n);
  buf_free(&b);
}
END_TEST

/* ------------------------------------------------------ sign / verify */

/* make_leaf fills |ln| with a fresh signature key of |suite| and fixed
 * encryption key and credential; |priv| receives the private key. */
static void make_leaf(const mls_suite *suite, mls_leaf_node *ln,
                      uint8_t source, uint8_t *priv) {
  uint8_t pub[MG_MAX_SIG_PUB_LEN];
  memset(ln, 0, sizeof(*ln));
  ck_assert_int_eq(suite->sig->generate(suite->sig, priv, pub), 0);
  ck_assert_int_eq(mls_bytes_dup(&ln->signature_key, pub, suite->sig->pub_len),
                   0);
  ck_assert_int_eq(mls_bytes_dup(&ln->encryption_key,
                                 (const uint8_t *)"enc-key-0123456789", 18),
                   0);
  ln->credential.credential_type = MLS_CREDENTIAL_BASIC;
  ck_assert_int_eq(
      mls_bytes_dup(&ln->credential.identity, (const uint8_t *)"alice", 5), 0);
  ln->leaf_node_source = source;
  if (source == MLS_LEAF_SOURCE_KEY_PACKAGE) {
    ln->lifetime.not_before = 0;
    ln->lifetime.not_after = UINT64_MAX;
  } else if (source == MLS_LEAF_SOURCE_COMMIT) {
    ck_assert_int_eq(mls_bytes_dup(&ln->parent_hash,
                                   (const uint8_t *)"parent-hash", 11),
                     0);
  }
}

START_TEST(test_leaf_sign_verify) {
  const mls_suite *suite = mls_suite_by_id((uint16_t)_i);
  ck_assert_ptr_nonnull(suite);
  static const uint8_t sources[] = {MLS_LEAF_SOURCE_KEY_PACKAGE,
                                    MLS_LEAF_SOURCE_UPDATE,
                                    MLS_LEAF_SOURCE_COMMIT};
  const uint8_t gid[] = {1, 2, 3, 4}, gid2[] = {1, 2, 3, 5};
  for (size_t k = 0; k < sizeof(sources); k++) {
    uint8_t priv[MG_MAX_SIG_PRIV_LEN];
    mls_leaf_node ln;
    make_leaf(suite, &ln, sources[k], priv);
    ck_assert_int_eq(mls_leaf_node_sign(suite, &ln, priv, suite->sig->priv_len,
                                        gid, sizeof(gid), 7),
                     0);
    ck_assert_int_eq(mls_leaf_node_verify(suite, &ln, gid, sizeof(gid), 7), 0);
    int bound = sources[k] != MLS_LEAF_SOURCE_KEY_PACKAGE;
    /* RFC 9420 §7.2: update/commit leaves are bound to group and index. */
    ck_assert_int_eq(mls_leaf_node_verify(suite, &ln, gid, sizeof(gid), 8),
                     bound ? MG_ERR_LEAF_SIGNATURE : 0);
    ck_assert_int_eq(mls_leaf_node_verify(suite, &ln, gid2, sizeof(gid2), 7),
                     bound ? MG_ERR_LEAF_SIGNATURE : 0);
    /* Any change to a signed field breaks the signature. */
    ln.credential.identity.data[0] ^= 1;
    ck_assert_int_eq(mls_leaf_node_verify(suite, &ln, gid, sizeof(gid), 7),
                     MG_ERR_LEAF_SIGNATURE);
    ln.credential.identity.data[0] ^= 1;
    ck_assert_int_eq(mls_extension_list_add(&ln.extensions, 0x0a0a, NULL, 0),
                     0);
    ck_assert_int_eq(mls_leaf_node_verify(suite, &ln, gid, sizeof(gid), 7),
                     MG_ERR_LEAF_SIGNATURE);
    /* A copy round-trips and still verifies once re-signed. */
    ck_assert_int_eq(mls_leaf_node_sign(suite, &ln, priv, suite->sig->priv_len,
                                        gid, sizeof(gid), 7),
                     0);
    mls_leaf_node cp;
    ck_assert_int_eq(mls_leaf_node_copy(&cp, &ln), 0);
    ck_assert_int_eq(mls_leaf_node_verify(suite, &cp, gid, sizeof(gid), 7), 0);
    /* A garbage signature key. */
    mls_bytes_cleanup(&cp.signature_key);
    ck_assert_int_eq(mls_leaf_node_verify(suite, &cp, gid, sizeof(gid), 7),
                     MG_ERR_LEAF_SIGNATURE);
    ck_assert_int_eq(mls_bytes_dup(&cp.signature_key, (const uint8_t *)"x", 1),
                     0);
    ck_assert_int_eq(mls_leaf_node_verify(suite, &cp, gid, sizeof(gid), 7),
                     MG_ERR_LEAF_SIGNATURE);
    mls_leaf_node_cleanup(&cp);
    mls_leaf_node_cleanup(&ln);
  }
}
END_TEST

START_TEST(test_key_package_sign_verify) {
  const mls_suite *suite = mls_suite_by_id((uint16_t)_i);
  ck_assert_ptr_nonnull(suite);
  uint8_t priv[MG_MAX_SIG_PRIV_LEN];
  mls_key_package kp;
  memset(&kp, 0, sizeof(kp));
  kp.version = MLS_VERSION_MLS10;
  kp.cipher_suite = suite->id;
  make_leaf(suite, &kp.leaf_node, MLS_LEAF_SOURCE_KEY_PACKAGE, priv);
  ck_assert_int_eq(
      mls_bytes_dup(&kp.init_key, (const uint8_t *)"init-key-987654", 15), 0);
  ck_assert_int_eq(mls_leaf_node_sign(suite, &kp.leaf_node, priv,
                                      suite->sig->priv_len, NULL, 0, 0),
                   0);
  ck_assert_int_eq(mls_key_package_sign(&kp, priv, suite->sig->priv_len), 0);
  ck_assert_int_eq(mls_key_package_verify(&kp), 0);

  /* Round trip through the wire format. */
  uint8_t *enc = NULL;
  size_t enc_len = 0;
  ck_assert_int_eq(mls_key_package_serialize(&kp, &enc, &enc_len), 0);
  roundtrip("made key package", kp_dec, kp_enc, kp_clean, enc, enc_len);
  mls_key_package cp;
  ck_assert_int_eq(mls_key_package_copy(&cp, &kp), 0);
  ck_assert_int_eq(mls_key_package_verify(&cp), 0);
  mls_key_package_cleanup(&cp);

  /* RFC 9420 §10.1: version mls10 (decoder and verifier). */
  enc[1] = 2;
  mls_key_package bad;
  memset(&bad, 0, sizeof(bad));
  ck_assert_int_eq(decode_all(kp_dec, enc, enc_len, &bad), MG_ERR_VERSION);
  enc[1] = 1;
  free(enc);
  kp.version = 2;
  ck_assert_int_eq(mls_key_package_verify(&kp), MG_ERR_VERSION);
  kp.version = MLS_VERSION_MLS10;
  /* Unknown suite. */
  kp.cipher_suite = 0x0a0a;
  ck_assert_int_eq(mls_key_package_verify(&kp), MG_ERR_UNSUPPORTED);
  ck_assert_int_eq(mls_key_package_sign(&kp, priv, suite->sig->priv_len),
                   MG_ERR_UNSUPPORTED);
  kp.cipher_suite = suite->id;
  /* The KeyPackage signature covers the extensions. */
  ck_assert_int_eq(mls_extension_list_add(&kp.extensions, 0xf000, NULL, 0), 0);
  ck_assert_int_eq(mls_key_package_verify(&kp), MG_ERR_SIGNATURE);
  ck_assert_int_eq(mls_key_package_sign(&kp, priv, suite->sig->priv_len), 0);
  ck_assert_int_eq(mls_key_package_verify(&kp), 0);
  /* init_key MUST differ from the leaf's encryption_key. */
  mls_bytes_cleanup(&kp.init_key);
  ck_assert_int_eq(mls_bytes_copy(&kp.init_key, &kp.leaf_node.encryption_key),
                   0);
  ck_assert_int_eq(mls_key_package_sign(&kp, priv, suite->sig->priv_len), 0);
  ck_assert_int_eq(mls_key_package_verify(&kp), MG_ERR_KEY_PACKAGE);
  /* leaf_node_source MUST be key_package. */
  kp.leaf_node.leaf_node_source = MLS_LEAF_SOURCE_UPDATE;
  ck_assert_int_eq(mls_key_package_verify(&kp), MG_ERR_LEAF_NODE_SOURCE);
  mls_key_package_cleanup(&kp);
}
END_TEST

/* ------------------------------------------------- bytes.c: vectors */

static int live_elems; /* decoded and not yet cleaned up */

typedef struct {
  uint8_t v;
  mls_bytes b; /* owned, so that a leak would show under ASan/valgrind */
} test_elem;

/* test_elem_decode reads u8 v, then opaque b<V>; v == 0xff fails after
 * reading (and freeing) b, v == 0xfe consumes nothing. */
static int test_elem_decode(mg_reader *r, void *p) {
  test_elem *e = p;
  mg_reader tmp = *r;
  if (mg_reader_len(r) > 0 && mg_reader_data(r)[0] == 0xfe) {
    e->v = 0xfe;
    live_elems++;
    return 0;
  }
  int rc = mg_read_u8(&tmp, &e->v);
  if (rc < 0) {
    return rc;
  }
  rc = mls_bytes_read(&tmp, &e->b);
  if (rc < 0) {
    return rc;
  }
  if (e->v == 0xff) {
    mls_bytes_cleanup(&e->b);
    return MG_ERR_DECODE;
  }
  live_elems++;
  *r = tmp;
  return 0;
}

static int test_elem_encode(mg_writer *w, const void *p) {
  const test_elem *e = p;
  int rc = mg_write_u8(w, e->v);
  if (rc < 0) {
    return rc;
  }
  return mls_bytes_write(w, &e->b);
}

static void test_elem_cleanup(void *p) {
  test_elem *e = p;
  if (e->v != 0 || e->b.data != NULL) {
    live_elems--;
  }
  mls_bytes_cleanup(&e->b);
  memset(e, 0, sizeof(*e));
}

static int vec_decode_hex(const char *hex, size_t max_n, void **arr,
                          size_t *n, buf *b, mg_reader *r) {
  *b = hexbuf(hex);
  mg_reader_init(r, b->p, b->n);
  live_elems = 0;
  return mls_vec_decode(r, arr, n, sizeof(test_elem), max_n, test_elem_decode,
                        test_elem_cleanup);
}

START_TEST(test_vec_decode_ok_and_max_n) {
  /* three elements: (1,"a"), (2,""), (3,"bc") then one byte left over */
  const char *hex = "09" "0101" "61" "0200" "0302" "6263" "99";
  void *arr = NULL;
  size_t n = 99;
  buf b;
  mg_reader r;
  ck_assert_int_eq(vec_decode_hex(hex, 0, &arr, &n, &b, &r), 0);
  ck_assert_uint_eq(n, 3);
  ck_assert_uint_eq(r.len, 1); /* the vector ends where its length says */
  test_elem *e = arr;
  ck_assert_uint_eq(e[0].v, 1);
  ck_assert_uint_eq(e[2].b.len, 2);
  ck_assert_int_eq(live_elems, 3);
  /* encode gives back the vector */
  mg_writer w;
  ck_assert_int_eq(mg_writer_init(&w, 16, 0), 0);
  ck_assert_int_eq(mls_vec_encode(&w, arr, n, sizeof(test_elem),
                                  test_elem_encode),
                   0);
  ck_assert_uint_eq(mg_writer_len(&w), b.n - 1);
  ck_assert_int_eq(memcmp(mg_writer_data(&w), b.p, b.n - 1), 0);
  mg_writer_cleanup(&w);
  mls_vec_free(arr, n, sizeof(test_elem), test_elem_cleanup);
  ck_assert_int_eq(live_elems, 0);
  buf_free(&b);

  /* max_n: exactly 3 allowed; 2 is MG_ERR_LENGTH, reader unchanged. */
  ck_assert_int_eq(vec_decode_hex(hex, 3, &arr, &n, &b, &r), 0);
  mls_vec_free(arr, n, sizeof(test_elem), test_elem_cleanup);
  buf_free(&b);
  arr = NULL;
  n = 42;
  ck_assert_int_eq(vec_decode_hex(hex, 2, &arr, &n, &b, &r), MG_ERR_LENGTH);
  ck_assert_ptr_null(arr);
  ck_assert_uint_eq(n, 42);
  ck_assert(r.data == b.p && r.len == b.n);
  ck_assert_int_eq(live_elems, 0);
  buf_free(&b);

  /* An empty vector. */
  ck_assert_int_eq(vec_decode_hex("00", 1, &arr, &n, &b, &r), 0);
  ck_assert_uint_eq(n, 0);
  ck_assert_ptr_null(arr);
  ck_assert_uint_eq(r.len, 0);
  buf_free(&b);
}
END_TEST

START_TEST(test_vec_decode_failure_cleanup) {
  static const struct {
    const char *hex;
    int want;
  } cases[] = {
      /* third element fails after two were decoded */
      {"08" "0101" "61" "0200" "ff0162", MG_ERR_DECODE},
      /* last element truncated inside the body */
      {"07" "0101" "61" "0200" "0302" "62", MG_ERR_TRUNCATED},
      /* body shorter than its length */
      {"09" "0101" "61", MG_ERR_TRUNCATED},
      /* an element that consumes nothing would loop forever */
      {"04" "0101" "61" "fe", MG_ERR_DECODE},
      /* non-minimal varint length */
      {"4003" "0101" "61", MG_ERR_VARINT_NONMINIMAL},
      /* 0b11 prefix */
      {"c0", MG_ERR_VARINT_PREFIX},
      /* nothing at all */
      {"", MG_ERR_TRUNCATED},
  };
  for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
    void *arr = NULL;
    size_t n = 77;
    buf b;
    mg_reader r;
    if (cases[k].hex[0] == '\0') {
      b.p = NULL;
      b.n = 0;
      mg_reader_init(&r, (const uint8_t *)"", 0);
      live_elems = 0;
      ck_assert_int_eq(mls_vec_decode(&r, &arr, &n, sizeof(test_elem), 0,
                                      test_elem_decode, test_elem_cleanup),
                       cases[k].want);
      ck_assert_uint_eq(r.len, 0);
      continue;
    }
    int rc = vec_decode_hex(cases[k].hex, 0, &arr, &n, &b, &r);
    ck_assert_msg(rc == cases[k].want, "case %zu: %s", k, mg_err_name(rc));
    ck_assert_ptr_null(arr);
    ck_assert_uint_eq(n, 77);
    ck_assert_msg(r.data == b.p && r.len == b.n, "case %zu: reader moved", k);
    /* every element decoded before the failure was cleaned up */
    ck_assert_msg(live_elems == 0, "case %zu: %d elements leaked", k,
                  live_elems);
    buf_free(&b);
  }
}
END_TEST

START_TEST(test_vec_decode_args) {
  void *arr = NULL;
  size_t n = 0;
  mg_reader r;
  mg_reader_init(&r, (const uint8_t *)"\x00", 1);
  ck_assert_int_eq(mls_vec_decode(&r, &arr, &n, 0, 0, test_elem_decode, NULL),
                   MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mls_vec_decode(&r, &arr, &n, 1, 0, NULL, NULL),
                   MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mls_vec_decode(NULL, &arr, &n, 1, 0, test_elem_decode,
                                  NULL),
                   MG_ERR_INVALID_ARG);
  ck_assert_uint_eq(r.len, 1);
  mg_writer w;
  ck_assert_int_eq(mg_writer_init(&w, 16, 0), 0);
  ck_assert_int_eq(mls_vec_encode(&w, NULL, 1, 1, test_elem_encode),
                   MG_ERR_INVALID_ARG);
  mg_writer_cleanup(&w);
  mls_vec_free(NULL, 3, 8, test_elem_cleanup); /* accepts NULL */
}
END_TEST

START_TEST(test_bytes_read) {
  buf b = hexbuf("03abcdef" "11");
  mg_reader r;
  mls_bytes x = {NULL, 0};
  mg_reader_init(&r, b.p, b.n);
  ck_assert_int_eq(mls_bytes_read(&r, &x), 0);
  ck_assert_uint_eq(x.len, 3);
  ck_assert_uint_eq(r.len, 1);
  mls_bytes y = {NULL, 0};
  ck_assert_int_eq(mls_bytes_read_fixed(&r, &y, 2), MG_ERR_TRUNCATED);
  ck_assert_uint_eq(r.len, 1);
  ck_assert_ptr_null(y.data);
  ck_assert_int_eq(mls_bytes_read_fixed(&r, &y, 1), 0);
  ck_assert_uint_eq(y.data[0], 0x11);
  ck_assert(!mls_bytes_eq(&x, &y));
  mls_bytes z;
  ck_assert_int_eq(mls_bytes_copy(&z, &x), 0);
  ck_assert(mls_bytes_eq(&x, &z));
  mls_bytes_cleanup_secret(&z);
  ck_assert_ptr_null(z.data);
  ck_assert_uint_eq(z.len, 0);
  /* body shorter than the length: reader unchanged, nothing allocated */
  mg_reader_init(&r, b.p, 3);
  ck_assert_int_eq(mls_bytes_read(&r, &z), MG_ERR_TRUNCATED);
  ck_assert_uint_eq(r.len, 3);
  mls_bytes_cleanup(&x);
  mls_bytes_cleanup(&y);
  buf_free(&b);
}
END_TEST

/* --------------------------------------------------------------- main */

int main(void) {
  if (mg_crypto_init() < 0) {
    fprintf(stderr, "crypto init failed\n");
    return 1;
  }
  const char *dir = mg_st_default_dir();
  for (size_t f = 0; f < F_COUNT; f++) {
    char path[4096];
    json_error_t jerr;
    snprintf(path, sizeof(path), "%s/%s", dir, files[f].rel);
    files[f].root = json_load_file(path, 0, &jerr);
    if (files[f].root == NULL) {
      fprintf(stderr, "cannot load %s: %s\n", path, jerr.text);
    }
  }
  Suite *s = suite_create("msg_leaf");
  TCase *tc = tcase_create("codec");
  tcase_add_test(tc, test_leaf_node_source);
  tcase_add_test(tc, test_extensions);
  tcase_add_test(tc, test_capabilities_rules);
  tcase_add_test(tc, test_ext_payloads);
  tcase_add_test(tc, test_credentials);
  tcase_add_test(tc, test_ratchet_tree_shape);
  tcase_add_test(tc, test_ratchet_tree_encode_strips_blanks);
  tcase_add_test(tc, test_update_path_handmade);
  tcase_add_test(tc, test_inner_truncation);
  suite_add_tcase(s, tc);

  tc = tcase_create("sign");
  tcase_set_timeout(tc, 60);
  tcase_add_loop_test(tc, test_leaf_sign_verify, MLS_SUITE_MIN,
                      MLS_SUITE_MAX + 1);
  tcase_add_loop_test(tc, test_key_package_sign_verify, MLS_SUITE_MIN,
                      MLS_SUITE_MAX + 1);
  suite_add_tcase(s, tc);

  tc = tcase_create("bytes");
  tcase_add_test(tc, test_vec_decode_ok_and_max_n);
  tcase_add_test(tc, test_vec_decode_failure_cleanup);
  tcase_add_test(tc, test_vec_decode_args);
  tcase_add_test(tc, test_bytes_read);
  suite_add_tcase(s, tc);

  tc = tcase_create("vectors");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_vec_counts);
  tcase_add_loop_test(tc, test_vec_tree_validation, 0,
                      (int)files[F_TREE_VALIDATION].expect);
  tcase_add_loop_test(tc, test_vec_treekem, 0, (int)files[F_TREEKEM].expect);
  tcase_add_loop_test(tc, test_vec_tree_operations, 0,
                      (int)files[F_TREE_OPS].expect);
  tcase_add_loop_test(tc, test_vec_messages, 0, (int)files[F_MESSAGES].expect);
  tcase_add_loop_test(tc, test_vec_welcome_key_packages, 0,
                      (int)files[F_WELCOME].expect);
  tcase_add_loop_test(tc, test_vec_passive_key_packages, 0,
                      (int)files[F_PASSIVE_WELCOME].expect);
  suite_add_tcase(s, tc);

  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  for (size_t f = 0; f < F_COUNT; f++) {
    json_decref(files[f].root);
  }
  return failed == 0 ? 0 : 1;
}
