/*
 * Tests of the secret tree's copy and serialization (src/mls/secret_tree.h:
 * mls_secret_tree_copy, mls_secret_tree_encode/_decode/_encoded_size_hint).
 *
 * Suites 1, 3 and 5 (Nh 32/32/64, Nk 16/32/32, Nn 12/12/12).  A reference
 * tree is driven through sends, in-order and out-of-order receives on both
 * ratchets of several leaves (leaving retained keys, dropped keys and
 * untouched leaves and padding subtrees), then:
 *  - copy: the copy gives the same answer (key or error) for every
 *    generation of every ratchet, and consuming in either leaves the other
 *    unchanged, also after the original is freed;
 *  - encode -> decode -> encode is byte-identical, the size hint is exact,
 *    a fixed buffer of exactly that size suffices, the decoded tree gives
 *    the original's keys and refuses consumed generations, and takes its
 *    configuration from the caller;
 *  - an exhausted ratchet (2^32 generations used) and a fresh tree
 *    round-trip (the smallest encoding checked byte for byte);
 *  - every truncation fails with a decode error, the reader unchanged and
 *    nothing held; bytes after the value are left to the caller;
 *  - one hand-built mutation per decoder rule, each with its error code.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/secmem.h"
#include "crypto/crypto.h"
#include "crypto/suite.h"
#include "mls/secret_tree.h"

static const uint16_t suite_ids[] = {1, 3, 5};
#define NUM_SUITES ((int)(sizeof(suite_ids) / sizeof(suite_ids[0])))

static const mls_secret_tree_config test_cfg = {64, 4};

/* Generations compared per ratchet: the exercised ones are all below. */
#define GEN_SPAN 40u

static const mls_suite *suite_at(int i) {
  const mls_suite *s = mls_suite_by_id(suite_ids[i]);
  ck_assert_ptr_nonnull(s);
  return s;
}

static mls_secret_tree *new_tree(const mls_suite *s, uint32_t n,
                                 const mls_secret_tree_config *cfg) {
  uint8_t enc[MG_MAX_HASH_LEN];
  mls_secret_tree *st = NULL;
  for (size_t i = 0; i < sizeof(enc); i++) {
    enc[i] = (uint8_t)(0x40 + i);
  }
  ck_assert_int_eq(mls_secret_tree_new(&st, s, enc, s->kdf->nh, n, cfg), 0);
  return st;
}

static void st_recv(mls_secret_tree *st, uint32_t leaf, mls_ratchet_type t,
                    uint32_t gen) {
  mls_leaf_idx l = {leaf};
  mls_key_nonce kn;
  /* The receiver's two steps. */
  ck_assert_int_eq(mls_secret_tree_get(st, &kn, l, t, gen), 0);
  ck_assert_int_eq(mls_secret_tree_consume(st, l, t, gen), 0);
  mls_key_nonce_cleanup(&kn);
}

static void st_send(mls_secret_tree *st, uint32_t leaf, mls_ratchet_type t,
                 uint32_t want_gen) {
  mls_leaf_idx l = {leaf};
  mls_key_nonce kn;
  ck_assert_int_eq(mls_secret_tree_next(st, &kn, l, t), 0);
  ck_assert_uint_eq(kn.generation, want_gen);
  mls_key_nonce_cleanup(&kn);
}

/* Five leaves (padded to eight; leaves 5..7 only ever exist as a node
 * secret), cfg max_retained 4. */
#define EX_LEAVES 5u

static mls_secret_tree *exercised_tree(const mls_suite *s) {
  mls_secret_tree *st = new_tree(s, EX_LEAVES, &test_cfg);
  /* Leaf 0: three sends on the handshake ratchet; the application ratchet
   * receives 5 (keeps 1..4), then 2 out of order. */
  st_send(st, 0, MLS_RATCHET_HANDSHAKE, 0);
  st_send(st, 0, MLS_RATCHET_HANDSHAKE, 1);
  st_send(st, 0, MLS_RATCHET_HANDSHAKE, 2);
  st_recv(st, 0, MLS_RATCHET_APPLICATION, 5);
  st_recv(st, 0, MLS_RATCHET_APPLICATION, 2);
  /* Leaf 2: 9 (keeps 5..8, drops 0..4), 6 out of order (5, 7, 8 left),
   * then 12 (adds 10 and 11, drops 5: 7, 8, 10, 11); handshake 0 in
   * order. */
  st_recv(st, 2, MLS_RATCHET_APPLICATION, 9);
  st_recv(st, 2, MLS_RATCHET_APPLICATION, 6);
  st_recv(st, 2, MLS_RATCHET_APPLICATION, 12);
  st_recv(st, 2, MLS_RATCHET_HANDSHAKE, 0);
  /* Leaf 4: handshake jumps to 20 and takes 18 out of order; its
   * application ratchet is derived but unused. */
  st_recv(st, 4, MLS_RATCHET_HANDSHAKE, 20);
  st_recv(st, 4, MLS_RATCHET_HANDSHAKE, 18);
  /* Leaves 1 and 3 stay underived (their node secrets are held). */
  return st;
}

/* Asserts that |a| and |b| answer alike (error code, or key and nonce) for
 * generations 0..GEN_SPAN-1 of both ratchets of every leaf and one leaf
 * past the end.  Only gets: nothing is consumed (leaves may be derived, the
 * same in both). */
static void assert_same_answers(mls_secret_tree *a, mls_secret_tree *b,
                                uint32_t n_leaves) {
  mls_key_nonce ka, kb;
  int num_ok = 0;
  for (uint32_t leaf = 0; leaf <= n_leaves; leaf++) {
    for (int t = 0; t < 2; t++) {
      for (uint32_t g = 0; g < GEN_SPAN; g++) {
        mls_leaf_idx l = {leaf};
        int ra = mls_secret_tree_get(a, &ka, l, (mls_ratchet_type)t, g);
        int rb = mls_secret_tree_get(b, &kb, l, (mls_ratchet_type)t, g);
        ck_assert_msg(ra == rb, "leaf %u type %d gen %u: %d vs %d", leaf, t,
                      g, ra, rb);
        if (ra == 0) {
          num_ok++;
          ck_assert_uint_eq(ka.generation, g);
          ck_assert_uint_eq(kb.generation, g);
          ck_assert_uint_eq(ka.key_len, kb.key_len);
          ck_assert_mem_eq(ka.key, kb.key, ka.key_len);
          ck_assert_mem_eq(ka.nonce, kb.nonce, ka.nonce_len);
        } else if (leaf < n_leaves) {
          ck_assert_int_eq(ra, MG_ERR_GENERATION);
        } else {
          ck_assert_int_eq(ra, MG_ERR_SENDER);
        }
      }
    }
  }
  ck_assert_int_gt(num_ok, 0);
  mls_key_nonce_cleanup(&ka);
  mls_key_nonce_cleanup(&kb);
}

static int get_rc(mls_secret_tree *st, uint32_t leaf, mls_ratchet_type t,
                  uint32_t gen) {
  mls_leaf_idx l = {leaf};
  mls_key_nonce kn;
  int rc = mls_secret_tree_get(st, &kn, l, t, gen);
  mls_key_nonce_cleanup(&kn);
  return rc;
}

/* The exercised tree's state, as a receiver sees it. */
static void assert_exercised_state(mls_secret_tree *st) {
  /* Consumed or dropped. */
  for (uint32_t g = 0; g < 3; g++) {
    ck_assert_int_eq(get_rc(st, 0, MLS_RATCHET_HANDSHAKE, g), MG_ERR_GENERATION);
  }
  ck_assert_int_eq(get_rc(st, 0, MLS_RATCHET_APPLICATION, 0), MG_ERR_GENERATION);
  ck_assert_int_eq(get_rc(st, 0, MLS_RATCHET_APPLICATION, 2), MG_ERR_GENERATION);
  ck_assert_int_eq(get_rc(st, 0, MLS_RATCHET_APPLICATION, 5), MG_ERR_GENERATION);
  ck_assert_int_eq(get_rc(st, 2, MLS_RATCHET_APPLICATION, 6), MG_ERR_GENERATION);
  ck_assert_int_eq(get_rc(st, 2, MLS_RATCHET_APPLICATION, 9), MG_ERR_GENERATION);
  ck_assert_int_eq(get_rc(st, 2, MLS_RATCHET_APPLICATION, 5), MG_ERR_GENERATION);
  ck_assert_int_eq(get_rc(st, 2, MLS_RATCHET_APPLICATION, 12), MG_ERR_GENERATION);
  ck_assert_int_eq(get_rc(st, 4, MLS_RATCHET_HANDSHAKE, 18), MG_ERR_GENERATION);
  ck_assert_int_eq(get_rc(st, 4, MLS_RATCHET_HANDSHAKE, 15), MG_ERR_GENERATION);
  /* Retained. */
  ck_assert_int_eq(get_rc(st, 0, MLS_RATCHET_APPLICATION, 1), 0);
  ck_assert_int_eq(get_rc(st, 0, MLS_RATCHET_APPLICATION, 4), 0);
  ck_assert_int_eq(get_rc(st, 2, MLS_RATCHET_APPLICATION, 7), 0);
  ck_assert_int_eq(get_rc(st, 2, MLS_RATCHET_APPLICATION, 11), 0);
  ck_assert_int_eq(get_rc(st, 4, MLS_RATCHET_HANDSHAKE, 16), 0);
  ck_assert_int_eq(get_rc(st, 4, MLS_RATCHET_HANDSHAKE, 19), 0);
  /* Next. */
  ck_assert_int_eq(get_rc(st, 0, MLS_RATCHET_HANDSHAKE, 3), 0);
  ck_assert_int_eq(get_rc(st, 4, MLS_RATCHET_HANDSHAKE, 21), 0);
}

/* Encodes |st| into a fresh buffer (free with mg_free_secret). */
static uint8_t *encode(const mls_secret_tree *st, size_t *out_len) {
  mg_writer w;
  uint8_t *buf = NULL;
  ck_assert_int_eq(mg_writer_init(&w, 16, 0), 0);
  ck_assert_int_eq(mls_secret_tree_encode(&w, st), 0);
  ck_assert_int_eq(mg_writer_finish(&w, &buf, out_len), 0);
  ck_assert_uint_eq(*out_len, mls_secret_tree_encoded_size_hint(st));
  return buf;
}

static mls_secret_tree *decode_all(const uint8_t *buf, size_t len,
                                   const mls_suite *s,
                                   const mls_secret_tree_config *cfg) {
  mg_reader r;
  mls_secret_tree *st = NULL;
  mg_reader_init(&r, buf, len);
  ck_assert_int_eq(mls_secret_tree_decode(&r, &st, s, cfg), 0);
  ck_assert_ptr_nonnull(st);
  ck_assert_int_eq(mg_reader_done(&r), 0);
  return st;
}

static void assert_encodes_to(const mls_secret_tree *st, const uint8_t *want,
                              size_t want_len) {
  size_t len;
  uint8_t *got = encode(st, &len);
  ck_assert_uint_eq(len, want_len);
  ck_assert_mem_eq(got, want, len);
  mg_free_secret(got, len);
}

/* ---------------------------------------------------------------- copy */

START_TEST(test_copy_same_keys_and_independent) {
  const mls_suite *s = suite_at(_i);
  mls_secret_tree *orig = exercised_tree(s);
  mls_secret_tree *cp = NULL;
  mls_secret_tree *cp2 = NULL;
  mls_key_nonce ka, kb;

  ck_assert_int_eq(mls_secret_tree_copy(&cp, orig), 0);
  ck_assert_ptr_nonnull(cp);
  ck_assert_ptr_ne(cp, orig);
  assert_exercised_state(cp);
  assert_same_answers(orig, cp, EX_LEAVES);

  /* Consuming in the copy leaves the original as it was: a retained key, a
   * send, and a jump on an underived leaf. */
  ck_assert_int_eq(mls_secret_tree_copy(&cp2, orig), 0);
  mls_leaf_idx l0 = {0};
  ck_assert_int_eq(mls_secret_tree_consume(cp, l0, MLS_RATCHET_APPLICATION, 4),
                   0);
  ck_assert_int_eq(get_rc(cp, 0, MLS_RATCHET_APPLICATION, 4), MG_ERR_GENERATION);
  ck_assert_int_eq(mls_secret_tree_next(cp, &ka, l0, MLS_RATCHET_HANDSHAKE), 0);
  ck_assert_uint_eq(ka.generation, 3);
  st_recv(cp, 3, MLS_RATCHET_APPLICATION, 30);
  assert_same_answers(orig, cp2, EX_LEAVES);
  assert_exercised_state(orig);
  ck_assert_int_eq(get_rc(orig, 3, MLS_RATCHET_APPLICATION, 30), 0);
  /* ... and the original's send is the copy's, generation for generation. */
  ck_assert_int_eq(mls_secret_tree_next(orig, &kb, l0, MLS_RATCHET_HANDSHAKE),
                   0);
  ck_assert_uint_eq(kb.generation, 3);
  ck_assert_mem_eq(ka.key, kb.key, kb.key_len);
  ck_assert_mem_eq(ka.nonce, kb.nonce, kb.nonce_len);
  /* Consuming in the original leaves the copy alone. */
  ck_assert_int_eq(mls_secret_tree_consume(orig, l0, MLS_RATCHET_APPLICATION, 1),
                   0);
  ck_assert_int_eq(get_rc(cp, 0, MLS_RATCHET_APPLICATION, 1), 0);

  /* The copy owns its memory: it outlives the original. */
  mls_secret_tree_free(orig);
  assert_exercised_state(cp2);
  ck_assert_int_eq(mls_secret_tree_consume(cp2, l0, MLS_RATCHET_APPLICATION, 1),
                   0);
  ck_assert_int_eq(get_rc(cp2, 0, MLS_RATCHET_APPLICATION, 1), MG_ERR_GENERATION);
  mls_key_nonce_cleanup(&ka);
  mls_key_nonce_cleanup(&kb);
  mls_secret_tree_free(cp);
  mls_secret_tree_free(cp2);
}
END_TEST

START_TEST(test_copy_fresh_and_args) {
  const mls_suite *s = suite_at(_i);
  mls_secret_tree *orig = new_tree(s, 3, NULL);
  mls_secret_tree *cp = NULL;
  ck_assert_int_eq(mls_secret_tree_copy(&cp, orig), 0);
  assert_same_answers(orig, cp, 3);
  mls_secret_tree_free(cp);

  cp = orig; /* must be reset */
  ck_assert_int_eq(mls_secret_tree_copy(&cp, NULL), MG_ERR_INVALID_ARG);
  ck_assert_ptr_null(cp);
  ck_assert_int_eq(mls_secret_tree_copy(NULL, orig), MG_ERR_INVALID_ARG);
  mls_secret_tree_free(orig);
}
END_TEST

/* ----------------------------------------------------------- roundtrip */

START_TEST(test_roundtrip_exercised) {
  const mls_suite *s = suite_at(_i);
  mls_secret_tree *orig = exercised_tree(s);
  size_t len;
  uint8_t *buf = encode(orig, &len);

  /* Byte-identical re-encoding; the decoded tree answers as the original
   * (retained, consumed, future) and stays in step when both move on. */
  mls_secret_tree *dec = decode_all(buf, len, s, &test_cfg);
  assert_encodes_to(dec, buf, len);
  assert_exercised_state(dec);
  assert_same_answers(orig, dec, EX_LEAVES);
  st_recv(orig, 2, MLS_RATCHET_APPLICATION, 10);
  st_recv(dec, 2, MLS_RATCHET_APPLICATION, 10);
  st_send(orig, 4, MLS_RATCHET_APPLICATION, 0);
  st_send(dec, 4, MLS_RATCHET_APPLICATION, 0);
  assert_same_answers(orig, dec, EX_LEAVES);
  size_t len2;
  uint8_t *buf2 = encode(orig, &len2);
  assert_encodes_to(dec, buf2, len2);

  /* A fixed buffer of exactly the hinted size takes it (the writer
   * allocates nothing); one byte less is too small. */
  uint8_t *fixed = malloc(len2);
  mg_writer w;
  ck_assert_ptr_nonnull(fixed);
  mg_writer_init_fixed(&w, fixed, len2);
  ck_assert_int_eq(mls_secret_tree_encode(&w, orig), 0);
  ck_assert_uint_eq(mg_writer_len(&w), len2);
  ck_assert_mem_eq(fixed, buf2, len2);
  mg_writer_cleanup(&w);
  mg_writer_init_fixed(&w, fixed, len2 - 1);
  ck_assert_int_eq(mls_secret_tree_encode(&w, orig), MG_ERR_BUFFER_TOO_SMALL);
  mg_writer_cleanup(&w);
  free(fixed);
  mg_free_secret(buf2, len2);

  /* The configuration is the caller's, not the encoding's. */
  mls_secret_tree_config narrow = {2, 4};
  mls_secret_tree *dn = decode_all(buf, len, s, &narrow);
  ck_assert_int_eq(get_rc(dn, 0, MLS_RATCHET_HANDSHAKE, 5), 0);
  ck_assert_int_eq(get_rc(dn, 0, MLS_RATCHET_HANDSHAKE, 6), MG_ERR_GENERATION);
  mls_secret_tree_free(dn);
  mls_secret_tree *dd = decode_all(buf, len, s, NULL);
  ck_assert_int_eq(get_rc(dd, 0, MLS_RATCHET_HANDSHAKE, 6), 0);
  mls_secret_tree_free(dd);

  mg_free_secret(buf, len);
  mls_secret_tree_free(orig);
  mls_secret_tree_free(dec);
}
END_TEST

START_TEST(test_roundtrip_exhausted) {
  const mls_suite *s = suite_at(_i);
  mls_secret_tree *orig = new_tree(s, 2, &test_cfg);
  mls_leaf_idx l1 = {1};
  mls_key_nonce ka, kb;

  /* Application: the last generation sent, nothing retained.  Handshake:
   * received up to the last generation, keeping the 4 before it. */
  ck_assert_int_eq(mls_secret_tree_seek_for_testing(orig, l1,
                                                    MLS_RATCHET_APPLICATION,
                                                    0xffffffffu),
                   0);
  st_send(orig, 1, MLS_RATCHET_APPLICATION, 0xffffffffu);
  ck_assert_int_eq(mls_secret_tree_next(orig, &ka, l1, MLS_RATCHET_APPLICATION),
                   MG_ERR_GENERATION);
  ck_assert_int_eq(mls_secret_tree_seek_for_testing(orig, l1,
                                                    MLS_RATCHET_HANDSHAKE,
                                                    0xfffffff0u),
                   0);
  st_recv(orig, 1, MLS_RATCHET_HANDSHAKE, 0xffffffffu);

  size_t len;
  uint8_t *buf = encode(orig, &len);
  mls_secret_tree *dec = decode_all(buf, len, s, &test_cfg);
  assert_encodes_to(dec, buf, len);
  for (int t = 0; t < 2; t++) {
    ck_assert_int_eq(mls_secret_tree_next(dec, &ka, l1, (mls_ratchet_type)t),
                     MG_ERR_GENERATION);
    ck_assert_int_eq(get_rc(dec, 1, (mls_ratchet_type)t, 0xffffffffu),
                     MG_ERR_GENERATION);
  }
  ck_assert_int_eq(get_rc(dec, 1, MLS_RATCHET_HANDSHAKE, 0xfffffffau),
                   MG_ERR_GENERATION);
  for (uint32_t g = 0xfffffffbu; g < 0xffffffffu; g++) {
    ck_assert_int_eq(mls_secret_tree_get(orig, &ka, l1, MLS_RATCHET_HANDSHAKE, g),
                     0);
    ck_assert_int_eq(mls_secret_tree_get(dec, &kb, l1, MLS_RATCHET_HANDSHAKE, g),
                     0);
    ck_assert_mem_eq(ka.key, kb.key, ka.key_len);
    ck_assert_mem_eq(ka.nonce, kb.nonce, ka.nonce_len);
  }
  /* Leaf 0 was never touched: its node secret came along. */
  assert_same_answers(orig, dec, 2);
  /* An exhausted ratchet carries no secret: the encoding ends with leaf
   * 1's application ratchet, next = 2^32, secret<V> and retained<V>
   * empty. */
  static const uint8_t tail[] = {0, 0, 0, 1, 0, 0, 0, 0, 0x00, 0x00};
  ck_assert_uint_gt(len, sizeof(tail));
  ck_assert_mem_eq(buf + len - sizeof(tail), tail, sizeof(tail));
  mls_key_nonce_cleanup(&ka);
  mls_key_nonce_cleanup(&kb);
  mg_free_secret(buf, len);
  mls_secret_tree_free(orig);
  mls_secret_tree_free(dec);
}
END_TEST

START_TEST(test_roundtrip_fresh) {
  const mls_suite *s = suite_at(_i);
  static const uint32_t sizes[] = {1, 2, 3, 5, 8, 33};
  for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
    mls_secret_tree *orig = new_tree(s, sizes[k], NULL);
    size_t len;
    uint8_t *buf = encode(orig, &len);
    mls_secret_tree *dec = decode_all(buf, len, s, NULL);
    assert_encodes_to(dec, buf, len);
    assert_same_answers(orig, dec, sizes[k]);
    mg_free_secret(buf, len);
    mls_secret_tree_free(orig);
    mls_secret_tree_free(dec);
  }
  /* The smallest encoding, byte for byte: n_leaves 1, node_secrets with
   * the root (node 0) and its secret, no leaves.  An Nh of 64 takes 2-byte
   * varint lengths. */
  mls_secret_tree *one = new_tree(s, 1, NULL);
  uint8_t want[8 + MG_MAX_HASH_LEN];
  size_t nh = s->kdf->nh;
  size_t n = 0;
  want[n++] = 0x01; /* n_leaves */
  if (nh < 64) {
    want[n++] = (uint8_t)(1 + 1 + nh); /* node_secrets<V> */
    want[n++] = 0x00;                  /* node 0 */
    want[n++] = (uint8_t)nh;           /* secret<V> */
  } else {
    want[n++] = 0x40;
    want[n++] = (uint8_t)(1 + 2 + nh);
    want[n++] = 0x00;
    want[n++] = 0x40;
    want[n++] = (uint8_t)nh;
  }
  for (size_t i = 0; i < nh; i++) {
    want[n++] = (uint8_t)(0x40 + i);
  }
  want[n++] = 0x00; /* leaves<V> */
  assert_encodes_to(one, want, n);
  mls_secret_tree_free(one);
}
END_TEST

START_TEST(test_roundtrip_max_leaves) {
  /* The largest tree: one root secret, 2^21-1 nodes to scan. */
  const mls_suite *s = suite_at(0);
  mls_secret_tree *orig = new_tree(s, MLS_SECRET_TREE_MAX_LEAVES, NULL);
  size_t len;
  uint8_t *buf = encode(orig, &len);
  mls_secret_tree *dec = decode_all(buf, len, s, NULL);
  assert_encodes_to(dec, buf, len);
  mls_leaf_idx last = {MLS_SECRET_TREE_MAX_LEAVES - 1};
  mls_key_nonce ka, kb;
  ck_assert_int_eq(mls_secret_tree_get(orig, &ka, last, MLS_RATCHET_HANDSHAKE, 0),
                   0);
  ck_assert_int_eq(mls_secret_tree_get(dec, &kb, last, MLS_RATCHET_HANDSHAKE, 0),
                   0);
  ck_assert_mem_eq(ka.key, kb.key, ka.key_len);
  mls_key_nonce_cleanup(&ka);
  mls_key_nonce_cleanup(&kb);
  mg_free_secret(buf, len);
  mls_secret_tree_free(orig);
  mls_secret_tree_free(dec);
}
END_TEST

/* ---------------------------------------------- truncation and trailing */

START_TEST(test_truncations_and_trailing) {
  const mls_suite *s = suite_at(_i);
  mls_secret_tree *orig = exercised_tree(s);
  size_t len;
  uint8_t *buf = encode(orig, &len);

  for (size_t cut = 0; cut < len; cut++) {
    /* Exactly |cut| bytes, so a sanitizer sees any read past them. */
    uint8_t *p = malloc(cut > 0 ? cut : 1);
    ck_assert_ptr_nonnull(p);
    memcpy(p, buf, cut);
    mg_reader r;
    mls_secret_tree *st = orig; /* must be reset */
    mg_reader_init(&r, p, cut);
    int rc = mls_secret_tree_decode(&r, &st, s, &test_cfg);
    ck_assert_msg(rc < 0 && mg_err_class_of(rc) == MG_ERRCLASS_DECODE,
                  "cut at %zu of %zu: %d", cut, len, rc);
    ck_assert_ptr_null(st);
    ck_assert_ptr_eq(r.data, p);
    ck_assert_uint_eq(r.len, cut);
    mg_free_secret(p, cut > 0 ? cut : 1);
  }

  /* Bytes after the value are the caller's: the reader stops before them
   * and mg_reader_done reports them. */
  uint8_t *more = malloc(len + 3);
  ck_assert_ptr_nonnull(more);
  memcpy(more, buf, len);
  memcpy(more + len, "\x01\x02\x03", 3);
  mg_reader r;
  mls_secret_tree *st = NULL;
  mg_reader_init(&r, more, len + 3);
  ck_assert_int_eq(mls_secret_tree_decode(&r, &st, s, &test_cfg), 0);
  ck_assert_uint_eq(mg_reader_len(&r), 3);
  ck_assert_int_eq(mg_reader_done(&r), MG_ERR_TRAILING);
  mls_secret_tree_free(st);
  mg_free_secret(more, len + 3);

  mg_free_secret(buf, len);
  mls_secret_tree_free(orig);
}
END_TEST

/* ----------------------------------------------------- mutations by hand */

/*
 * A hand-built SecretTreeState for suite 1 (Nh 32, Nk 16, Nn 12) with
 * max_retained 3: n_leaves 3 (padded to 4), leaf 0 derived, node 2 (leaf
 * 1) and node 5 (leaves 2 and 3) held.  Leaf 0's handshake ratchet is at 5
 * and keeps 1 and 3; its application ratchet is at 0.  Each mutation breaks
 * one rule.
 */
enum {
  M_NONE,
  M_NLEAVES_0,
  M_NLEAVES_BIG,
  M_NLEAVES_NONMINIMAL,
  M_NODE_OUT_OF_RANGE,
  M_NODE_DUPLICATE,
  M_NODE_DESCENDING,
  M_NODE_SECRET_SHORT,
  M_NODE_SECRET_LONG,
  M_NODE_TRAILING_BYTE,
  M_LEAF_OUT_OF_RANGE,
  M_LEAF_DUPLICATE,
  M_RATCHET_SECRET_SHORT,
  M_RATCHET_NEXT_TOO_BIG,
  M_RATCHET_EXHAUSTED_WITH_SECRET,
  M_RATCHET_EMPTY_SECRET,
  M_RETAINED_DESCENDING,
  M_RETAINED_DUPLICATE,
  M_RETAINED_AT_NEXT,
  M_RETAINED_TOO_MANY,
  M_RETAINED_KEY_SHORT,
  M_RETAINED_NONCE_LONG,
  M_RETAINED_TRAILING_BYTE,
  M_COVER_OVERLAP,
  M_COVER_GAP,
  M_COVER_LEAF_AND_NODE,
  M_COVER_ROOT_AND_LEAF,
  M_COVER_EMPTY,
  M_COUNT
};

static const int mutation_err[M_COUNT] = {
    [M_NONE] = 0,
    [M_NLEAVES_0] = MG_ERR_DECODE,
    [M_NLEAVES_BIG] = MG_ERR_DECODE,
    [M_NLEAVES_NONMINIMAL] = MG_ERR_VARINT_NONMINIMAL,
    [M_NODE_OUT_OF_RANGE] = MG_ERR_DECODE,
    [M_NODE_DUPLICATE] = MG_ERR_DECODE,
    [M_NODE_DESCENDING] = MG_ERR_DECODE,
    [M_NODE_SECRET_SHORT] = MG_ERR_LENGTH,
    [M_NODE_SECRET_LONG] = MG_ERR_LENGTH,
    [M_NODE_TRAILING_BYTE] = MG_ERR_TRUNCATED,
    [M_LEAF_OUT_OF_RANGE] = MG_ERR_DECODE,
    [M_LEAF_DUPLICATE] = MG_ERR_DECODE,
    [M_RATCHET_SECRET_SHORT] = MG_ERR_LENGTH,
    [M_RATCHET_NEXT_TOO_BIG] = MG_ERR_DECODE,
    [M_RATCHET_EXHAUSTED_WITH_SECRET] = MG_ERR_LENGTH,
    [M_RATCHET_EMPTY_SECRET] = MG_ERR_LENGTH,
    [M_RETAINED_DESCENDING] = MG_ERR_DECODE,
    [M_RETAINED_DUPLICATE] = MG_ERR_DECODE,
    [M_RETAINED_AT_NEXT] = MG_ERR_DECODE,
    [M_RETAINED_TOO_MANY] = MG_ERR_LENGTH,
    [M_RETAINED_KEY_SHORT] = MG_ERR_LENGTH,
    [M_RETAINED_NONCE_LONG] = MG_ERR_LENGTH,
    [M_RETAINED_TRAILING_BYTE] = MG_ERR_TRUNCATED,
    [M_COVER_OVERLAP] = MG_ERR_DECODE,
    [M_COVER_GAP] = MG_ERR_DECODE,
    [M_COVER_LEAF_AND_NODE] = MG_ERR_DECODE,
    [M_COVER_ROOT_AND_LEAF] = MG_ERR_DECODE,
    [M_COVER_EMPTY] = MG_ERR_DECODE,
};

static const mls_secret_tree_config hand_cfg = {64, 3};

static void w_ok(int rc) { ck_assert_int_eq(rc, 0); }

static void w_opaque(mg_writer *w, size_t len, uint8_t fill) {
  uint8_t b[80];
  ck_assert_uint_le(len, sizeof(b));
  memset(b, fill, sizeof(b));
  w_ok(mg_write_opaque(w, b, len));
}

static void w_node(mg_writer *w, uint32_t x, size_t len) {
  w_ok(mg_write_varint(w, x));
  w_opaque(w, len, (uint8_t)(0xa0 + x));
}

static void w_retained(mg_writer *w, uint32_t gen, size_t klen, size_t nlen) {
  w_ok(mg_write_u32(w, gen));
  w_opaque(w, klen, (uint8_t)(0x10 + gen));
  w_opaque(w, nlen, (uint8_t)(0x20 + gen));
}

static void build(mg_writer *w, int m) {
  size_t nodes, leaves, ret;

  switch (m) {
    case M_NLEAVES_0:
      w_ok(mg_write_varint(w, 0));
      break;
    case M_NLEAVES_BIG:
      w_ok(mg_write_varint(w, MLS_SECRET_TREE_MAX_LEAVES + 1));
      break;
    case M_NLEAVES_NONMINIMAL:
      w_ok(mg_write_u16(w, 0x4003));
      break;
    default:
      w_ok(mg_write_varint(w, 3));
      break;
  }

  /* node_secrets */
  w_ok(mg_write_vec_begin(w, &nodes));
  switch (m) {
    case M_COVER_LEAF_AND_NODE:
      w_node(w, 0, 32); /* leaf 0's secret, though leaf 0 is derived */
      break;
    case M_COVER_ROOT_AND_LEAF:
      w_node(w, 3, 32); /* the root, though leaf 0 is derived */
      break;
    default:
      break;
  }
  if (m != M_COVER_EMPTY && m != M_COVER_ROOT_AND_LEAF) {
    if (m == M_NODE_DESCENDING) {
      w_node(w, 5, 32);
    }
    w_node(w, 2, m == M_NODE_SECRET_SHORT ? 31 : 32);
    if (m == M_NODE_DUPLICATE) {
      w_node(w, 2, 32);
    }
    if (m == M_COVER_OVERLAP) {
      w_node(w, 4, 32); /* leaf 2, below node 5 */
    }
    if (m == M_NODE_OUT_OF_RANGE) {
      w_node(w, 7, 32); /* a tree of 4 leaves has nodes 0..6 */
    } else if (m != M_COVER_GAP && m != M_NODE_DESCENDING) {
      w_node(w, 5, m == M_NODE_SECRET_LONG ? 33 : 32);
    }
    if (m == M_NODE_TRAILING_BYTE) {
      w_ok(mg_write_u8(w, 0x06));
    }
  }
  w_ok(mg_write_vec_end(w, nodes));

  /* leaves */
  w_ok(mg_write_vec_begin(w, &leaves));
  if (m != M_COVER_EMPTY) {
    for (int rep = 0; rep < (m == M_LEAF_DUPLICATE ? 2 : 1); rep++) {
      w_ok(mg_write_varint(w, m == M_LEAF_OUT_OF_RANGE ? 3 : 0));
      /* handshake */
      uint64_t next = 5;
      if (m == M_RATCHET_NEXT_TOO_BIG) {
        next = ((uint64_t)1 << 32) + 1;
      } else if (m == M_RATCHET_EXHAUSTED_WITH_SECRET) {
        next = (uint64_t)1 << 32;
      }
      w_ok(mg_write_u64(w, next));
      w_opaque(w,
               m == M_RATCHET_SECRET_SHORT ? 31
               : m == M_RATCHET_EMPTY_SECRET ? 0
                                             : 32,
               0x77);
      w_ok(mg_write_vec_begin(w, &ret));
      switch (m) {
        case M_RETAINED_DESCENDING:
          w_retained(w, 3, 16, 12);
          w_retained(w, 1, 16, 12);
          break;
        case M_RETAINED_DUPLICATE:
          w_retained(w, 3, 16, 12);
          w_retained(w, 3, 16, 12);
          break;
        case M_RETAINED_AT_NEXT:
          w_retained(w, 1, 16, 12);
          w_retained(w, 5, 16, 12);
          break;
        case M_RETAINED_TOO_MANY:
          for (uint32_t g = 0; g < 4; g++) {
            w_retained(w, g, 16, 12);
          }
          break;
        default:
          w_retained(w, 1, 16, 12);
          w_retained(w, 3, m == M_RETAINED_KEY_SHORT ? 15 : 16,
                     m == M_RETAINED_NONCE_LONG ? 13 : 12);
          break;
      }
      if (m == M_RETAINED_TRAILING_BYTE) {
        w_ok(mg_write_u8(w, 0x00));
      }
      w_ok(mg_write_vec_end(w, ret));
      /* application */
      w_ok(mg_write_u64(w, 0));
      w_opaque(w, 32, 0x88);
      w_ok(mg_write_vec_begin(w, &ret));
      w_ok(mg_write_vec_end(w, ret));
    }
  }
  w_ok(mg_write_vec_end(w, leaves));
}

START_TEST(test_mutation) {
  const mls_suite *s = mls_suite_by_id(1);
  mg_writer w;
  uint8_t *buf = NULL;
  size_t len;
  ck_assert_ptr_nonnull(s);
  ck_assert_uint_eq(s->kdf->nh, 32);
  ck_assert_uint_eq(s->aead->key_len, 16);
  ck_assert_uint_eq(s->aead->nonce_len, 12);
  ck_assert_int_eq(mg_writer_init(&w, 64, 0), 0);
  build(&w, _i);
  ck_assert_int_eq(mg_writer_finish(&w, &buf, &len), 0);

  mg_reader r;
  mls_secret_tree *st = NULL;
  mg_reader_init(&r, buf, len);
  int rc = mls_secret_tree_decode(&r, &st, s, &hand_cfg);
  ck_assert_msg(rc == mutation_err[_i], "mutation %d: got %s (%d), want %s",
                _i, mg_err_name(rc), rc, mg_err_name(mutation_err[_i]));
  if (_i == M_NONE) {
    ck_assert_int_eq(mg_reader_done(&r), 0);
    assert_encodes_to(st, buf, len);
    /* The retained and the future keys are there, the rest refused. */
    ck_assert_int_eq(get_rc(st, 0, MLS_RATCHET_HANDSHAKE, 1), 0);
    ck_assert_int_eq(get_rc(st, 0, MLS_RATCHET_HANDSHAKE, 2), MG_ERR_GENERATION);
    ck_assert_int_eq(get_rc(st, 0, MLS_RATCHET_HANDSHAKE, 3), 0);
    ck_assert_int_eq(get_rc(st, 0, MLS_RATCHET_HANDSHAKE, 4), MG_ERR_GENERATION);
    ck_assert_int_eq(get_rc(st, 0, MLS_RATCHET_HANDSHAKE, 5), 0);
    ck_assert_int_eq(get_rc(st, 0, MLS_RATCHET_APPLICATION, 0), 0);
    /* The held node secrets derive the other leaves. */
    ck_assert_int_eq(get_rc(st, 1, MLS_RATCHET_APPLICATION, 0), 0);
    ck_assert_int_eq(get_rc(st, 2, MLS_RATCHET_APPLICATION, 0), 0);
    ck_assert_int_eq(get_rc(st, 3, MLS_RATCHET_APPLICATION, 0), MG_ERR_SENDER);
    mls_secret_tree_free(st);
  } else {
    ck_assert_ptr_null(st);
    ck_assert_ptr_eq(r.data, buf);
    ck_assert_uint_eq(r.len, len);
  }
  if (_i == M_RETAINED_TOO_MANY) {
    /* Four are allowed when the caller allows four. */
    mls_secret_tree_config four = {64, 4};
    ck_assert_int_eq(mls_secret_tree_decode(&r, &st, s, &four), 0);
    mls_secret_tree_free(st);
  }
  free(buf);
}
END_TEST


/* mls_secret_tree_get changes nothing, not even the lazy derivation of a
 * leaf's ratchets: the encoding before and after is the same, and the key
 * it returns for a leaf never used is the one the sender derives. */
START_TEST(test_get_leaves_no_trace) {
  const mls_suite *s = suite_at(_i);
  mls_secret_tree *st = new_tree(s, 5, NULL);
  mls_secret_tree *snd = new_tree(s, 5, NULL);
  size_t len0, len1;
  uint8_t *before = encode(st, &len0);
  mls_key_nonce got, want;
  for (uint32_t leaf = 0; leaf < 5; leaf++) {
    mls_leaf_idx li = {leaf};
    for (int t = 0; t < 2; t++) {
      ck_assert_int_eq(mls_secret_tree_get(st, &got, li, (mls_ratchet_type)t, 3),
                       0);
    }
  }
  uint8_t *after = encode(st, &len1);
  ck_assert_uint_eq(len0, len1);
  ck_assert_mem_eq(before, after, len0);
  /* Same key as a sender at generation 3 of leaf 4's application ratchet. */
  mls_leaf_idx l4 = {4};
  ck_assert_int_eq(mls_secret_tree_get(st, &got, l4, MLS_RATCHET_APPLICATION, 3),
                   0);
  for (int g = 0; g <= 3; g++) {
    ck_assert_int_eq(mls_secret_tree_next(snd, &want, l4,
                                          MLS_RATCHET_APPLICATION),
                     0);
  }
  ck_assert_uint_eq(want.generation, 3);
  ck_assert_mem_eq(got.key, want.key, got.key_len);
  ck_assert_mem_eq(got.nonce, want.nonce, got.nonce_len);
  mls_key_nonce_cleanup(&got);
  mls_key_nonce_cleanup(&want);
  mg_free_secret(before, len0);
  mg_free_secret(after, len1);
  mls_secret_tree_free(st);
  mls_secret_tree_free(snd);
}
END_TEST

START_TEST(test_args) {
  const mls_suite *s = suite_at(0);
  mls_secret_tree *st = new_tree(s, 2, NULL);
  mls_secret_tree *out = NULL;
  mg_writer w;
  mg_reader r;
  uint8_t b[4] = {0x01, 0x00, 0x00, 0x00};

  ck_assert_int_eq(mg_writer_init(&w, 16, 0), 0);
  ck_assert_int_eq(mls_secret_tree_encode(&w, NULL), MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mls_secret_tree_encode(NULL, st), MG_ERR_INVALID_ARG);
  mg_writer_cleanup(&w);
  ck_assert_uint_eq(mls_secret_tree_encoded_size_hint(NULL), 0);

  mg_reader_init(&r, b, sizeof(b));
  ck_assert_int_eq(mls_secret_tree_decode(&r, &out, NULL, NULL),
                   MG_ERR_INVALID_ARG);
  ck_assert_ptr_null(out);
  ck_assert_int_eq(mls_secret_tree_decode(NULL, &out, s, NULL),
                   MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mls_secret_tree_decode(&r, NULL, s, NULL),
                   MG_ERR_INVALID_ARG);
  ck_assert_uint_eq(r.len, sizeof(b));
  mls_secret_tree_free(st);
}
END_TEST

/* --------------------------------------------------------------- main */

int main(void) {
  if (mg_crypto_init() < 0) {
    fprintf(stderr, "crypto init failed\n");
    return 1;
  }
  Suite *s = suite_create("secret_tree");
  TCase *tc = tcase_create("copy and serialization");
  tcase_set_timeout(tc, 300);
  tcase_add_loop_test(tc, test_copy_same_keys_and_independent, 0, NUM_SUITES);
  tcase_add_loop_test(tc, test_copy_fresh_and_args, 0, NUM_SUITES);
  tcase_add_loop_test(tc, test_roundtrip_exercised, 0, NUM_SUITES);
  tcase_add_loop_test(tc, test_roundtrip_exhausted, 0, NUM_SUITES);
  tcase_add_loop_test(tc, test_roundtrip_fresh, 0, NUM_SUITES);
  tcase_add_test(tc, test_roundtrip_max_leaves);
  tcase_add_loop_test(tc, test_truncations_and_trailing, 0, NUM_SUITES);
  tcase_add_loop_test(tc, test_mutation, 0, M_COUNT);
  tcase_add_loop_test(tc, test_get_leaves_no_trace, 0, NUM_SUITES);
  tcase_add_test(tc, test_args);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? 0 : 1;
}
