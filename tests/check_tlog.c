/*
 * Tests of the audit log's cryptographic core: base64 (src/common/base64.h),
 * the RFC 9162 Merkle tree (src/keystore/tlog.h) and C2SP signed notes,
 * checkpoints and tlog proofs (src/keystore/note.h).
 *
 *  - base64: RFC 4648 §10 strings, every length round trip, a table-driven
 *    check of every byte value against the alphabet, and one rejection per
 *    strictness rule (length, alphabet, padding, non-canonical bits);
 *  - Merkle: the definitions of RFC 9162 §2.1.1, §2.1.3.1 and §2.1.4.1
 *    written out recursively here (MTH, PATH, PROOF over an array) are the
 *    reference; for every size 1..130 (60 under MLSGATE_QUICK) the frontier
 *    root, the memtree root and the leaf-only store agree with MTH, every
 *    inclusion proof equals PATH and verifies, and every mutation (each hash
 *    flipped, index and size off by one, a hash dropped or added) fails;
 *    consistency for every 0 <= m <= n <= 64 likewise, plus random pairs up
 *    to 3000 leaves and proofs in trees near 2^40 and 2^62 over a synthetic
 *    store; the frontier's encoding round-trips and loads from a store;
 *  - signed notes: the Example of c2sp-signed-note.md, read from the spec
 *    file at test time ($MLSGATE_REF, default ../shared/ref), verifies; the
 *    spec gives no private key for it, so signing is checked by verifying
 *    our own signatures, determinism and the key string round trips; the
 *    checkpoint example of c2sp-tlog-checkpoint.md parses and re-formats; the
 *    tlog-proof example (its signatures are elided with "[...]") is refused,
 *    and its proof lines are reused under a checkpoint we sign; every rule
 *    of the formats has a rejection test, and every truncation of a note
 *    either fails or re-formats to itself.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/codec.h"
#include "crypto/crypto.h"
#include "keystore/note.h"
#include "keystore/tlog.h"

#ifndef MG_TEST_REF_DIR
#define MG_TEST_REF_DIR "../shared/ref"
#endif

static int quick(void) {
  const char *q = getenv("MLSGATE_QUICK");
  return q != NULL && strcmp(q, "1") == 0;
}

/* ================================================================ base64 */

START_TEST(test_base64_rfc4648) {
  static const char *const pairs[][2] = {
      {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
      {"foo", "Zm9v"},  {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
    char enc[64];
    uint8_t dec[64];
    size_t n = 99;
    size_t len = strlen(pairs[i][0]);
    mg_base64_encode(enc, (const uint8_t *)pairs[i][0], len);
    ck_assert_str_eq(enc, pairs[i][1]);
    ck_assert_uint_eq(strlen(enc), MG_BASE64_ENCODED_LEN(len));
    ck_assert_int_eq(mg_base64_decode(dec, sizeof(dec), &n, pairs[i][1],
                                      strlen(pairs[i][1])),
                     0);
    ck_assert_uint_eq(n, len);
    ck_assert(memcmp(dec, pairs[i][0], len) == 0);
  }
}
END_TEST

/* The alphabet of RFC 4648 §4, table 1. */
static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

START_TEST(test_base64_every_char) {
  /* "xA==" decodes only when x is in the alphabet ('A' keeps the unused bits
   * zero), to the value of x << 2. */
  for (int c = 0; c < 256; c++) {
    char in[4] = {(char)c, 'A', '=', '='};
    uint8_t out[4];
    size_t n = 0;
    const char *pos = c == 0 ? NULL : strchr(b64_alphabet, c);
    int rc = mg_base64_decode(out, sizeof(out), &n, in, 4);
    if (pos != NULL) {
      ck_assert_int_eq(rc, 0);
      ck_assert_uint_eq(n, 1);
      ck_assert_uint_eq(out[0], (uint8_t)((pos - b64_alphabet) << 2));
    } else {
      ck_assert_int_eq(rc, MG_ERR_BASE64);
      ck_assert_uint_eq(n, 0);
    }
  }
}
END_TEST

START_TEST(test_base64_roundtrip) {
  uint8_t in[200];
  char enc[MG_BASE64_ENCODED_LEN(200) + 1];
  uint8_t out[200];
  for (size_t i = 0; i < sizeof(in); i++) {
    in[i] = (uint8_t)(i * 37 + 11);
  }
  for (size_t len = 0; len <= sizeof(in); len++) {
    size_t n = 0;
    mg_base64_encode(enc, in, len);
    ck_assert_uint_eq(strlen(enc), MG_BASE64_ENCODED_LEN(len));
    ck_assert_int_eq(mg_base64_decode(out, len, &n, enc, strlen(enc)), 0);
    ck_assert_uint_eq(n, len);
    ck_assert(len == 0 || memcmp(in, out, len) == 0);
    if (len > 0) {
      ck_assert_int_eq(mg_base64_decode(out, len - 1, &n, enc, strlen(enc)),
                       MG_ERR_BUFFER_TOO_SMALL);
    }
  }
}
END_TEST

START_TEST(test_base64_strict) {
  static const char *const bad[] = {
      "Zg=",      /* length not a multiple of 4 */
      "Zg",       /* padding missing */
      "Z===",     /* three padding characters */
      "====",     /* only padding */
      "Zh==",     /* non-zero unused bits */
      "Zm9=",     /* non-zero unused bits */
      "Zm9v\n",   /* whitespace */
      " Zm9",     /* whitespace */
      "Zm 9",     /* whitespace */
      "Zm9v====", /* padding after a full group */
      "=Zm9",     /* padding first */
      "Zm=v",     /* padding inside */
      "Zg==Zg==", /* padding in a non-final group */
      "Zm-v",     /* URL alphabet */
      "Zm_v",     /* URL alphabet */
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    uint8_t out[16];
    size_t n = 7;
    ck_assert_msg(mg_base64_decode(out, sizeof(out), &n, bad[i],
                                   strlen(bad[i])) == MG_ERR_BASE64,
                  "accepted \"%s\"", bad[i]);
    ck_assert_uint_eq(n, 0);
  }
  {
    uint8_t out[4];
    size_t n;
    const char nul[4] = {'Z', 'g', '\0', '='};
    ck_assert_int_eq(mg_base64_decode(out, sizeof(out), &n, nul, 4),
                     MG_ERR_BASE64);
    ck_assert_int_eq(mg_base64_decode(out, sizeof(out), NULL, "Zg==", 4),
                     MG_ERR_INVALID_ARG);
  }
}
END_TEST

/* The table codec for public data agrees with the constant-time one on
 * every length, every character and every malformed input above. */
START_TEST(test_base64_public_matches) {
  uint8_t in[200], a[200], b[200];
  char e1[MG_BASE64_ENCODED_LEN(200) + 1], e2[MG_BASE64_ENCODED_LEN(200) + 1];
  static const char *const odd[] = {"Zg=", "Z===", "====", "Zh==", "Zm9=",
                                    "Zm9v\n", "Zm 9", "=Zm9", "Zm=v",
                                    "Zg==Zg==", "Zm-v", "Zm_v", "Zm9vYmFy"};
  for (size_t i = 0; i < sizeof(in); i++) {
    in[i] = (uint8_t)(i * 91 + 7);
  }
  for (size_t len = 0; len <= sizeof(in); len++) {
    size_t n1 = 0, n2 = 0;
    mg_base64_encode(e1, in, len);
    mg_base64_encode_public(e2, in, len);
    ck_assert_str_eq(e1, e2);
    ck_assert_int_eq(mg_base64_decode_public(b, len, &n2, e2, strlen(e2)), 0);
    ck_assert_int_eq(mg_base64_decode(a, len, &n1, e1, strlen(e1)), 0);
    ck_assert_uint_eq(n1, n2);
    ck_assert(len == 0 || memcmp(a, b, len) == 0);
  }
  for (int c = 0; c < 256; c++) {
    char q[4] = {(char)c, 'A', '=', '='};
    size_t n1 = 0, n2 = 0;
    ck_assert_int_eq(mg_base64_decode(a, sizeof(a), &n1, q, 4),
                     mg_base64_decode_public(b, sizeof(b), &n2, q, 4));
    ck_assert_uint_eq(n1, n2);
  }
  for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
    size_t n1 = 0, n2 = 0;
    ck_assert_int_eq(mg_base64_decode(a, sizeof(a), &n1, odd[i], strlen(odd[i])),
                     mg_base64_decode_public(b, sizeof(b), &n2, odd[i],
                                             strlen(odd[i])));
  }
}
END_TEST

/* The constant-time decoder reads all but the last quad eight characters
 * at a time: every character in every lane (and in the scalar tail) is
 * judged as the table decoder judges it, with the same bytes out. */
START_TEST(test_base64_every_char_every_lane) {
  char base[33];
  uint8_t a[24], b[24];
  for (size_t i = 0; i < 32; i++) {
    base[i] = b64_alphabet[(i * 29 + 3) % 64];
  }
  base[32] = '\0';
  for (size_t len = 4; len <= 32; len += 4) {
    for (size_t pos = 0; pos < len; pos++) {
      for (int c = 0; c < 256; c++) {
        char in[32];
        size_t n1 = 99, n2 = 99;
        memcpy(in, base, len);
        in[pos] = (char)c;
        int r1 = mg_base64_decode(a, sizeof(a), &n1, in, len);
        int r2 = mg_base64_decode_public(b, sizeof(b), &n2, in, len);
        ck_assert_msg(r1 == r2, "len %zu pos %zu char %d: %d vs %d", len, pos,
                      c, r1, r2);
        ck_assert_uint_eq(n1, n2);
        ck_assert(r1 != 0 || memcmp(a, b, n1) == 0);
        const char *p = c == 0 ? NULL : strchr(b64_alphabet, c);
        if (pos < len - 4) {
          /* Far from the padding: valid exactly when in the alphabet. */
          ck_assert_int_eq(r1, p != NULL ? 0 : MG_ERR_BASE64);
        }
      }
    }
  }
}
END_TEST

/* ====================================================== Merkle reference */

#define H MG_TLOG_HASH_LEN
#define MAX_LEAVES 3000

static uint8_t leaves[MAX_LEAVES][H];

static void sha256(uint8_t out[H], const uint8_t *in, size_t len) {
  ck_assert_int_eq(mg_sha256.digest(&mg_sha256, out, in, len), 0);
}

/* RFC 9162 §2.1.1, written out: MTH({}) = SHA-256(), MTH({d0}) is the leaf
 * hash (here precomputed in |leaves|), MTH(D[n]) = SHA-256(0x01 ||
 * MTH(D[0:k]) || MTH(D[k:n])) with k the largest power of two < n. */
static void ref_mth(uint8_t out[H], size_t lo, size_t hi) {
  size_t n = hi - lo;
  size_t k = 1;
  uint8_t buf[1 + 2 * H];
  if (n == 0) {
    static const uint8_t nothing[1] = {0};
    sha256(out, nothing, 0);
    return;
  }
  if (n == 1) {
    memcpy(out, leaves[lo], H);
    return;
  }
  while (k * 2 < n) {
    k *= 2;
  }
  buf[0] = 1;
  ref_mth(buf + 1, lo, lo + k);
  ref_mth(buf + 1 + H, lo + k, hi);
  sha256(out, buf, sizeof(buf));
}

/* RFC 9162 §2.1.3.1 PATH(m, D[lo:hi]), appended to |p|. */
static void ref_path(mg_tlog_proof *p, size_t m, size_t lo, size_t hi) {
  size_t n = hi - lo;
  size_t k = 1;
  if (n <= 1) {
    return;
  }
  while (k * 2 < n) {
    k *= 2;
  }
  if (m < k) {
    ref_path(p, m, lo, lo + k);
    ref_mth(p->hashes[p->num_hashes++], lo + k, hi);
  } else {
    ref_path(p, m - k, lo + k, hi);
    ref_mth(p->hashes[p->num_hashes++], lo, lo + k);
  }
}

/* RFC 9162 §2.1.4.1 SUBPROOF(m, D[lo:hi], b). */
static void ref_subproof(mg_tlog_proof *p, size_t m, size_t lo, size_t hi,
                         int b) {
  size_t n = hi - lo;
  size_t k = 1;
  if (m == n) {
    if (!b) {
      ref_mth(p->hashes[p->num_hashes++], lo, hi);
    }
    return;
  }
  while (k * 2 < n) {
    k *= 2;
  }
  if (m <= k) {
    ref_subproof(p, m, lo, lo + k, b);
    ref_mth(p->hashes[p->num_hashes++], lo + k, hi);
  } else {
    ref_subproof(p, m - k, lo + k, hi, 0);
    ref_mth(p->hashes[p->num_hashes++], lo, lo + k);
  }
}

static void make_leaves(void) {
  for (size_t i = 0; i < MAX_LEAVES; i++) {
    char data[32];
    int n = snprintf(data, sizeof(data), "audit entry %zu", i);
    ck_assert_int_eq(mg_tlog_leaf_hash(leaves[i], (const uint8_t *)data,
                                       (size_t)n),
                     0);
  }
}

static void proofs_eq(const mg_tlog_proof *a, const mg_tlog_proof *b) {
  ck_assert_uint_eq(a->num_hashes, b->num_hashes);
  for (size_t i = 0; i < a->num_hashes; i++) {
    ck_assert(memcmp(a->hashes[i], b->hashes[i], H) == 0);
  }
}

/* A leaf-only store over |leaves| for mg_tlog_get_via_leaves. */
static int get_leaf(void *arg, uint64_t level, uint64_t index, uint8_t out[H]) {
  size_t size = *(const size_t *)arg;
  if (level != 0 || index >= size) {
    return MG_ERR_NOT_FOUND;
  }
  memcpy(out, leaves[index], H);
  return 0;
}

/* ========================================================= Merkle tests */

START_TEST(test_hash_prefixes) {
  uint8_t buf[1 + 2 * H];
  uint8_t want[H];
  uint8_t got[H];
  uint8_t l[H];
  uint8_t r[H];
  uint8_t big[3000];
  static uint8_t big_pre[3001];
  /* Leaf: 0x00 || data, short (stack) and long (heap) inputs. */
  buf[0] = 0;
  memcpy(buf + 1, "abc", 3);
  sha256(want, buf, 4);
  ck_assert_int_eq(mg_tlog_leaf_hash(got, (const uint8_t *)"abc", 3), 0);
  ck_assert(memcmp(want, got, H) == 0);
  sha256(want, buf, 1);
  ck_assert_int_eq(mg_tlog_leaf_hash(got, NULL, 0), 0);
  ck_assert(memcmp(want, got, H) == 0);
  memset(big, 0x5a, sizeof(big));
  big_pre[0] = 0;
  memcpy(big_pre + 1, big, sizeof(big));
  sha256(want, big_pre, sizeof(big_pre));
  ck_assert_int_eq(mg_tlog_leaf_hash(got, big, sizeof(big)), 0);
  ck_assert(memcmp(want, got, H) == 0);
  /* Node: 0x01 || left || right, output aliasing an input. */
  memset(l, 1, H);
  memset(r, 2, H);
  buf[0] = 1;
  memcpy(buf + 1, l, H);
  memcpy(buf + 1 + H, r, H);
  sha256(want, buf, sizeof(buf));
  ck_assert_int_eq(mg_tlog_node_hash(l, l, r), 0);
  ck_assert(memcmp(want, l, H) == 0);
  /* Empty tree. */
  sha256(want, buf, 0);
  ck_assert_int_eq(mg_tlog_empty_root(got), 0);
  ck_assert(memcmp(want, got, H) == 0);
}
END_TEST

/* The shape of a proof: for each hash, whether it is a left ('L') or right
 * ('R') sibling, and 'T' for the consistency proof's leading subtree hash
 * (RFC 9162 §2.1.3.1, §2.1.4.1).  Two proofs with the same hashes verify
 * alike exactly when their shapes are equal, so a changed size or index
 * must be refused unless it leaves the shape unchanged (a proof for index 0
 * of 3 leaves is also one for index 0 of 4 leaves, under the same root:
 * only the signed (size, root) pair tells them apart). */
static size_t incl_shape(char out[MG_TLOG_MAX_PROOF + 1], uint64_t m,
                         uint64_t n) {
  uint64_t lo = 0;
  uint64_t hi = n;
  size_t len = 0;
  char tmp[MG_TLOG_MAX_PROOF + 1];
  if (m >= n || n > MG_TLOG_MAX_SIZE) {
    out[0] = '\0';
    return (size_t)-1;
  }
  while (hi - lo > 1) {
    uint64_t k = 1;
    while (k * 2 < hi - lo) {
      k *= 2;
    }
    if (m - lo < k) {
      tmp[len++] = 'R';
      hi = lo + k;
    } else {
      tmp[len++] = 'L';
      lo += k;
    }
  }
  for (size_t i = 0; i < len; i++) {
    out[i] = tmp[len - 1 - i];
  }
  out[len] = '\0';
  return len;
}

static size_t cons_shape(char out[MG_TLOG_MAX_PROOF + 2], uint64_t m,
                         uint64_t n) {
  uint64_t lo = 0;
  uint64_t hi = n;
  size_t len = 0;
  int b = 1;
  char tmp[MG_TLOG_MAX_PROOF + 2];
  if (m == 0 || m >= n || n > MG_TLOG_MAX_SIZE) {
    out[0] = '\0';
    return (size_t)-1;
  }
  while (m < hi) {
    uint64_t k = 1;
    while (k * 2 < hi - lo) {
      k *= 2;
    }
    if (m - lo <= k) {
      tmp[len++] = 'R';
      hi = lo + k;
    } else {
      tmp[len++] = 'L';
      lo += k;
      b = 0;
    }
  }
  if (!b) {
    tmp[len++] = 'T';
  }
  for (size_t i = 0; i < len; i++) {
    out[i] = tmp[len - 1 - i];
  }
  out[len] = '\0';
  return len;
}

/* Verifying inclusion at (index, size) with another pair's proof: accepted
 * exactly when the shapes agree. */
static void incl_other(const uint8_t leaf[H], uint64_t index, uint64_t size,
                       uint64_t index2, uint64_t size2, const mg_tlog_proof *p,
                       const uint8_t root[H]) {
  char a[MG_TLOG_MAX_PROOF + 1];
  char b[MG_TLOG_MAX_PROOF + 1];
  size_t la = incl_shape(a, index, size);
  size_t lb = incl_shape(b, index2, size2);
  int same = lb != (size_t)-1 && la == lb && strcmp(a, b) == 0;
  int rc = mg_tlog_verify_inclusion(leaf, index2, size2, p, root);
  ck_assert_msg(rc == (same ? 0 : MG_ERR_VERIFY),
                "inclusion (%llu, %llu) as (%llu, %llu): %d",
                (unsigned long long)index, (unsigned long long)size,
                (unsigned long long)index2, (unsigned long long)size2, rc);
}

static void cons_other(uint64_t m, uint64_t n, uint64_t m2, uint64_t n2,
                       const mg_tlog_proof *p, const uint8_t r1[H],
                       const uint8_t r2[H]) {
  char a[MG_TLOG_MAX_PROOF + 2];
  char b[MG_TLOG_MAX_PROOF + 2];
  size_t la = cons_shape(a, m, n);
  size_t lb = cons_shape(b, m2, n2);
  int same = lb != (size_t)-1 && la == lb && strcmp(a, b) == 0;
  int rc = mg_tlog_verify_consistency(m2, n2, p, r1, r2);
  ck_assert_msg(rc == (same ? 0 : MG_ERR_VERIFY),
                "consistency %llu->%llu as %llu->%llu: %d",
                (unsigned long long)m, (unsigned long long)n,
                (unsigned long long)m2, (unsigned long long)n2, rc);
}

/* Flips bit |bit| of hash |i|, checks rejection, flips back. */
static void check_incl_mutations(const uint8_t leaf[H], uint64_t index,
                                 uint64_t size, mg_tlog_proof *p,
                                 const uint8_t root[H]) {
  uint8_t bad_leaf[H];
  for (size_t i = 0; i < p->num_hashes; i++) {
    p->hashes[i][i % H] ^= 0x01;
    ck_assert_int_eq(mg_tlog_verify_inclusion(leaf, index, size, p, root),
                     MG_ERR_VERIFY);
    p->hashes[i][i % H] ^= 0x01;
  }
  memcpy(bad_leaf, leaf, H);
  bad_leaf[31] ^= 0x80;
  ck_assert_int_eq(mg_tlog_verify_inclusion(bad_leaf, index, size, p, root),
                   MG_ERR_VERIFY);
  if (index > 0) {
    incl_other(leaf, index, size, index - 1, size, p, root);
  }
  incl_other(leaf, index, size, index + 1, size, p, root);
  incl_other(leaf, index, size, index, size + 1, p, root);
  incl_other(leaf, index, size, index, size - 1, p, root);
  incl_other(leaf, index, size, index, size * 2, p, root);
  ck_assert_int_eq(mg_tlog_verify_inclusion(leaf, index, 0, p, root),
                   MG_ERR_VERIFY);
  if (p->num_hashes > 0) {
    p->num_hashes--;
    ck_assert_int_eq(mg_tlog_verify_inclusion(leaf, index, size, p, root),
                     MG_ERR_VERIFY);
    p->num_hashes++;
  }
  if (p->num_hashes < MG_TLOG_MAX_PROOF) {
    memset(p->hashes[p->num_hashes], 0x33, H);
    p->num_hashes++;
    ck_assert_int_eq(mg_tlog_verify_inclusion(leaf, index, size, p, root),
                     MG_ERR_VERIFY);
    p->num_hashes--;
  }
  ck_assert_int_eq(mg_tlog_verify_inclusion(leaf, index, size, p, root), 0);
}

START_TEST(test_inclusion_all_sizes) {
  size_t max = quick() ? 60 : 130;
  mg_tlog_memtree t;
  mg_tlog_frontier f;
  make_leaves();
  mg_tlog_memtree_init(&t);
  mg_tlog_frontier_init(&f);
  for (size_t size = 1; size <= max; size++) {
    uint8_t want[H];
    uint8_t got[H];
    size_t leaf_size = size;
    mg_tlog_leaf_source src = {get_leaf, &leaf_size};

    ck_assert_int_eq(mg_tlog_memtree_append(&t, leaves[size - 1]), 0);
    ck_assert_int_eq(mg_tlog_frontier_append(&f, leaves[size - 1]), 0);
    ref_mth(want, 0, size);
    ck_assert_int_eq(mg_tlog_frontier_root(&f, got), 0);
    ck_assert_msg(memcmp(want, got, H) == 0, "frontier root, size %zu", size);
    ck_assert_int_eq(mg_tlog_root(got, mg_tlog_memtree_get, &t, size), 0);
    ck_assert_msg(memcmp(want, got, H) == 0, "memtree root, size %zu", size);
    ck_assert_int_eq(mg_tlog_root(got, mg_tlog_get_via_leaves, &src, size), 0);
    ck_assert_msg(memcmp(want, got, H) == 0, "leaf store root, size %zu", size);

    for (size_t m = 0; m < size; m++) {
      mg_tlog_proof p;
      mg_tlog_proof q;
      mg_tlog_proof ref;
      ref.num_hashes = 0;
      ref_path(&ref, m, 0, size);
      ck_assert_int_eq(
          mg_tlog_prove_inclusion(&p, mg_tlog_memtree_get, &t, m, size), 0);
      proofs_eq(&p, &ref);
      if (size <= 40) {
        ck_assert_int_eq(
            mg_tlog_prove_inclusion(&q, mg_tlog_get_via_leaves, &src, m, size),
            0);
        proofs_eq(&q, &ref);
      }
      ck_assert_int_eq(mg_tlog_verify_inclusion(leaves[m], m, size, &p, want),
                       0);
      check_incl_mutations(leaves[m], m, size, &p, want);
    }
  }
  mg_tlog_memtree_cleanup(&t);
}
END_TEST

static void check_cons_mutations(uint64_t m, uint64_t n, mg_tlog_proof *p,
                                 const uint8_t r1[H], const uint8_t r2[H]) {
  for (size_t i = 0; i < p->num_hashes; i++) {
    p->hashes[i][(i * 7) % H] ^= 0x10;
    ck_assert_int_eq(mg_tlog_verify_consistency(m, n, p, r1, r2),
                     MG_ERR_VERIFY);
    p->hashes[i][(i * 7) % H] ^= 0x10;
  }
  ck_assert_int_eq(mg_tlog_verify_consistency(m, n, p, r2, r2), MG_ERR_VERIFY);
  ck_assert_int_eq(mg_tlog_verify_consistency(m, n, p, r1, r1), MG_ERR_VERIFY);
  cons_other(m, n, m + 1, n, p, r1, r2);
  cons_other(m, n, m - 1, n, p, r1, r2);
  cons_other(m, n, m, n + 1, p, r1, r2);
  cons_other(m, n, m, n - 1, p, r1, r2);
  cons_other(m, n, m * 2, n * 2, p, r1, r2);
  ck_assert_int_eq(mg_tlog_verify_consistency(n, m, p, r2, r1), MG_ERR_VERIFY);
  if (p->num_hashes > 0) {
    p->num_hashes--;
    ck_assert_int_eq(mg_tlog_verify_consistency(m, n, p, r1, r2),
                     MG_ERR_VERIFY);
    p->num_hashes++;
  }
  memset(p->hashes[p->num_hashes], 0x44, H);
  p->num_hashes++;
  ck_assert_int_eq(mg_tlog_verify_consistency(m, n, p, r1, r2), MG_ERR_VERIFY);
  p->num_hashes--;
  ck_assert_int_eq(mg_tlog_verify_consistency(m, n, p, r1, r2), 0);
}

START_TEST(test_consistency_all_pairs) {
  mg_tlog_memtree t;
  uint8_t roots[65][H];
  make_leaves();
  mg_tlog_memtree_init(&t);
  for (size_t i = 0; i < 64; i++) {
    ck_assert_int_eq(mg_tlog_memtree_append(&t, leaves[i]), 0);
  }
  for (size_t n = 0; n <= 64; n++) {
    ref_mth(roots[n], 0, n);
  }
  for (size_t n = 0; n <= 64; n++) {
    for (size_t m = 0; m <= n; m++) {
      mg_tlog_proof p;
      mg_tlog_proof ref;
      ref.num_hashes = 0;
      if (m > 0 && m < n) {
        ref_subproof(&ref, m, 0, n, 1);
      }
      ck_assert_int_eq(
          mg_tlog_prove_consistency(&p, mg_tlog_memtree_get, &t, m, n), 0);
      proofs_eq(&p, &ref);
      ck_assert_msg(mg_tlog_verify_consistency(m, n, &p, roots[m], roots[n]) ==
                        0,
                    "consistency %zu -> %zu", m, n);
      if (m > 0 && m < n) {
        check_cons_mutations(m, n, &p, roots[m], roots[n]);
      } else if (m < n) {
        /* From the empty tree: only the empty proof and SHA-256(""). */
        memset(p.hashes[0], 0, H);
        p.num_hashes = 1;
        ck_assert_int_eq(
            mg_tlog_verify_consistency(0, n, &p, roots[0], roots[n]),
            MG_ERR_VERIFY);
        p.num_hashes = 0;
        ck_assert_int_eq(
            mg_tlog_verify_consistency(0, n, &p, roots[n], roots[n]),
            MG_ERR_VERIFY);
      } else if (n > 0) {
        /* Same size: empty proof, equal roots. */
        ck_assert_int_eq(
            mg_tlog_verify_consistency(n, n, &p, roots[n], roots[n - 1]),
            MG_ERR_VERIFY);
      }
    }
  }
  mg_tlog_memtree_cleanup(&t);
}
END_TEST

START_TEST(test_sampled_large) {
  mg_tlog_memtree t;
  mg_tlog_frontier f;
  uint32_t x = 12345;
  size_t rounds = quick() ? 20 : 200;
  make_leaves();
  mg_tlog_memtree_init(&t);
  mg_tlog_frontier_init(&f);
  for (size_t i = 0; i < MAX_LEAVES; i++) {
    ck_assert_int_eq(mg_tlog_memtree_append(&t, leaves[i]), 0);
    ck_assert_int_eq(mg_tlog_frontier_append(&f, leaves[i]), 0);
  }
  {
    uint8_t a[H];
    uint8_t b[H];
    ref_mth(a, 0, MAX_LEAVES);
    ck_assert_int_eq(mg_tlog_frontier_root(&f, b), 0);
    ck_assert(memcmp(a, b, H) == 0);
  }
  for (size_t r = 0; r < rounds; r++) {
    uint64_t n;
    uint64_t m;
    uint64_t idx;
    uint8_t r1[H];
    uint8_t r2[H];
    mg_tlog_proof p;
    mg_tlog_proof ref;
    x = x * 1103515245u + 12345u;
    n = 1 + (x >> 8) % MAX_LEAVES;
    x = x * 1103515245u + 12345u;
    m = 1 + (x >> 8) % n;
    x = x * 1103515245u + 12345u;
    idx = (x >> 8) % n;
    ck_assert_int_eq(mg_tlog_root(r1, mg_tlog_memtree_get, &t, m), 0);
    ck_assert_int_eq(mg_tlog_root(r2, mg_tlog_memtree_get, &t, n), 0);
    ck_assert_int_eq(mg_tlog_prove_consistency(&p, mg_tlog_memtree_get, &t, m,
                                               n),
                     0);
    ref.num_hashes = 0;
    if (m < n) {
      ref_subproof(&ref, m, 0, n, 1);
    }
    proofs_eq(&p, &ref);
    ck_assert_int_eq(mg_tlog_verify_consistency(m, n, &p, r1, r2), 0);
    if (m < n) {
      check_cons_mutations(m, n, &p, r1, r2);
    }
    ck_assert_int_eq(
        mg_tlog_prove_inclusion(&p, mg_tlog_memtree_get, &t, idx, n), 0);
    ref.num_hashes = 0;
    ref_path(&ref, idx, 0, n);
    proofs_eq(&p, &ref);
    check_incl_mutations(leaves[idx], idx, n, &p, r2);
  }
  mg_tlog_memtree_cleanup(&t);
}
END_TEST

/* A synthetic store for huge trees: every leaf hash is the same value except
 * at a few "special" indices; a complete subtree with no special leaf has
 * one hash per level (precomputed), one with special leaves is computed
 * from its children.  The store is a real RFC 6962 tree, cheap at any size. */
#define MAX_SPECIAL 8
typedef struct synth {
  uint64_t special[MAX_SPECIAL];
  size_t num_special;
  uint8_t uniform[MG_TLOG_MAX_LEVELS][H];
} synth;

static void synth_init(synth *st, const uint64_t *special, size_t n) {
  uint8_t zero[1] = {0};
  ck_assert_uint_le(n, MAX_SPECIAL);
  memcpy(st->special, special, n * sizeof(*special));
  st->num_special = n;
  ck_assert_int_eq(mg_tlog_leaf_hash(st->uniform[0], zero, 1), 0);
  for (size_t l = 1; l < MG_TLOG_MAX_LEVELS; l++) {
    ck_assert_int_eq(mg_tlog_node_hash(st->uniform[l], st->uniform[l - 1],
                                       st->uniform[l - 1]),
                     0);
  }
}

static int get_synthetic(void *arg, uint64_t level, uint64_t index,
                         uint8_t out[H]) {
  const synth *st = arg;
  uint64_t lo;
  uint64_t hi;
  int hit = 0;
  if (level >= MG_TLOG_MAX_LEVELS || index >= (MG_TLOG_MAX_SIZE >> level)) {
    return MG_ERR_NOT_FOUND;
  }
  lo = index << level;
  hi = lo + ((uint64_t)1 << level);
  for (size_t i = 0; i < st->num_special; i++) {
    if (st->special[i] >= lo && st->special[i] < hi) {
      hit = 1;
    }
  }
  if (!hit) {
    memcpy(out, st->uniform[level], H);
    return 0;
  }
  if (level == 0) {
    uint8_t data[8];
    for (int i = 0; i < 8; i++) {
      data[i] = (uint8_t)(index >> (56 - 8 * i));
    }
    return mg_tlog_leaf_hash(out, data, sizeof(data));
  }
  {
    uint8_t l[H];
    uint8_t r[H];
    int rc = get_synthetic(arg, level - 1, 2 * index, l);
    if (rc == 0) {
      rc = get_synthetic(arg, level - 1, 2 * index + 1, r);
    }
    return rc == 0 ? mg_tlog_node_hash(out, l, r) : rc;
  }
}

START_TEST(test_huge_trees) {
  static const uint64_t sizes[][3] = {
      /* size1, size2, index */
      {(1ull << 40) - 3, (1ull << 40) + 12345, (1ull << 40) - 7},
      {1ull << 40, (1ull << 40) + 1, 1ull << 40},
      {123456789012ull, 987654321098ull, 555555555555ull},
      {(1ull << 61) + 5, MG_TLOG_MAX_SIZE, MG_TLOG_MAX_SIZE - 1},
      {1, MG_TLOG_MAX_SIZE - 1, 0},
  };
  synth *store = malloc(sizeof(*store));
  ck_assert_ptr_nonnull(store);
  for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
    uint64_t m = sizes[i][0];
    uint64_t n = sizes[i][1];
    uint64_t idx = sizes[i][2];
    const uint64_t special[] = {0, idx, m - 1, m, n - 1, idx ^ 1, n / 3};
    uint8_t r1[H];
    uint8_t r2[H];
    uint8_t leaf[H];
    mg_tlog_proof p;
    mg_tlog_frontier f;
    uint8_t fr[H];
    synth_init(store, special, sizeof(special) / sizeof(special[0]));
    ck_assert_int_eq(mg_tlog_root(r1, get_synthetic, store, m), 0);
    ck_assert_int_eq(mg_tlog_root(r2, get_synthetic, store, n), 0);
    ck_assert_int_eq(mg_tlog_prove_consistency(&p, get_synthetic, store, m, n),
                     0);
    ck_assert_uint_le(p.num_hashes, MG_TLOG_MAX_PROOF);
    ck_assert_int_eq(mg_tlog_verify_consistency(m, n, &p, r1, r2), 0);
    check_cons_mutations(m, n, &p, r1, r2);
    ck_assert_int_eq(get_synthetic(store, 0, idx, leaf), 0);
    ck_assert_int_eq(mg_tlog_prove_inclusion(&p, get_synthetic, store, idx, n),
                     0);
    ck_assert_int_eq(mg_tlog_verify_inclusion(leaf, idx, n, &p, r2), 0);
    check_incl_mutations(leaf, idx, n, &p, r2);
    /* The frontier loaded from the store gives the same root. */
    ck_assert_int_eq(mg_tlog_frontier_load(&f, get_synthetic, store, n), 0);
    ck_assert_int_eq(mg_tlog_frontier_root(&f, fr), 0);
    ck_assert(memcmp(fr, r2, H) == 0);
  }
  /* Beyond the maximum. */
  {
    mg_tlog_proof p;
    uint8_t r[H] = {0};
    ck_assert_int_eq(mg_tlog_prove_inclusion(&p, get_synthetic, store, 0,
                                             MG_TLOG_MAX_SIZE + 1),
                     MG_ERR_INVALID_ARG);
    ck_assert_int_eq(mg_tlog_prove_consistency(&p, get_synthetic, store, 1,
                                               MG_TLOG_MAX_SIZE + 1),
                     MG_ERR_INVALID_ARG);
    p.num_hashes = 0;
    ck_assert_int_eq(mg_tlog_verify_inclusion(r, 0, MG_TLOG_MAX_SIZE + 1, &p,
                                              r),
                     MG_ERR_VERIFY);
    ck_assert_int_eq(mg_tlog_verify_consistency(1, UINT64_MAX, &p, r, r),
                     MG_ERR_VERIFY);
    p.num_hashes = MG_TLOG_MAX_PROOF + 1;
    ck_assert_int_eq(mg_tlog_verify_inclusion(r, 0, 2, &p, r), MG_ERR_VERIFY);
    ck_assert_int_eq(mg_tlog_verify_consistency(1, 2, &p, r, r), MG_ERR_VERIFY);
  }
  free(store);
}
END_TEST

START_TEST(test_frontier_encoding) {
  mg_tlog_memtree t;
  mg_tlog_frontier f;
  make_leaves();
  mg_tlog_memtree_init(&t);
  mg_tlog_frontier_init(&f);
  for (size_t size = 0; size <= 70; size++) {
    mg_writer w;
    mg_reader r;
    mg_tlog_frontier g;
    mg_tlog_frontier l;
    uint8_t a[H];
    uint8_t b[H];
    size_t enc_len;
    if (size > 0) {
      ck_assert_int_eq(mg_tlog_memtree_append(&t, leaves[size - 1]), 0);
      ck_assert_int_eq(mg_tlog_frontier_append(&f, leaves[size - 1]), 0);
    }
    ck_assert_int_eq(mg_writer_init(&w, 64, 0), 0);
    ck_assert_int_eq(mg_tlog_frontier_encode(&w, &f), 0);
    enc_len = mg_writer_len(&w);
    ck_assert_uint_eq(enc_len, 8 + H * (size_t)__builtin_popcountll(size));
    mg_reader_init(&r, mg_writer_data(&w), enc_len);
    ck_assert_int_eq(mg_tlog_frontier_decode(&r, &g), 0);
    ck_assert_uint_eq(mg_reader_len(&r), 0);
    ck_assert_uint_eq(g.size, size);
    ck_assert_int_eq(mg_tlog_frontier_root(&f, a), 0);
    ck_assert_int_eq(mg_tlog_frontier_root(&g, b), 0);
    ck_assert(memcmp(a, b, H) == 0);
    ck_assert_int_eq(mg_tlog_frontier_load(&l, mg_tlog_memtree_get, &t, size),
                     0);
    ck_assert_uint_eq(l.num_hashes, f.num_hashes);
    ck_assert(memcmp(l.hashes, f.hashes, f.num_hashes * H) == 0);
    /* Every truncation fails and leaves the reader unchanged. */
    for (size_t cut = 0; cut < enc_len; cut++) {
      mg_reader_init(&r, mg_writer_data(&w), cut);
      ck_assert_int_eq(mg_tlog_frontier_decode(&r, &g), MG_ERR_TRUNCATED);
      ck_assert_uint_eq(mg_reader_len(&r), cut);
    }
    mg_writer_cleanup(&w);
  }
  {
    uint8_t big[8] = {0x40, 0, 0, 0, 0, 0, 0, 1}; /* 2^62 + 1 */
    mg_reader r;
    mg_tlog_frontier g;
    mg_reader_init(&r, big, sizeof(big));
    ck_assert_int_eq(mg_tlog_frontier_decode(&r, &g), MG_ERR_DECODE);
    ck_assert_uint_eq(mg_reader_len(&r), sizeof(big));
  }
  mg_tlog_memtree_cleanup(&t);
}
END_TEST

START_TEST(test_tlog_args) {
  mg_tlog_memtree t;
  mg_tlog_proof p;
  uint8_t h[H];
  make_leaves();
  mg_tlog_memtree_init(&t);
  for (size_t i = 0; i < 5; i++) {
    ck_assert_int_eq(mg_tlog_memtree_append(&t, leaves[i]), 0);
  }
  ck_assert_int_eq(mg_tlog_memtree_get(&t, 0, 5, h), MG_ERR_NOT_FOUND);
  ck_assert_int_eq(mg_tlog_memtree_get(&t, 1, 2, h), MG_ERR_NOT_FOUND);
  ck_assert_int_eq(mg_tlog_memtree_get(&t, 2, 0, h), 0);
  ck_assert_int_eq(mg_tlog_memtree_get(&t, 3, 0, h), MG_ERR_NOT_FOUND);
  ck_assert_int_eq(mg_tlog_prove_inclusion(&p, mg_tlog_memtree_get, &t, 5, 5),
                   MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mg_tlog_prove_inclusion(&p, mg_tlog_memtree_get, &t, 0, 6),
                   MG_ERR_NOT_FOUND);
  ck_assert_uint_eq(p.num_hashes, 0);
  ck_assert_int_eq(mg_tlog_prove_consistency(&p, mg_tlog_memtree_get, &t, 4, 3),
                   MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mg_tlog_prove_consistency(&p, mg_tlog_memtree_get, &t, 3, 6),
                   MG_ERR_NOT_FOUND);
  ck_assert_int_eq(mg_tlog_range_hash(h, mg_tlog_memtree_get, &t, 3, 2),
                   MG_ERR_INVALID_ARG);
  /* An unaligned range is MTH of those leaves as a tree of their own. */
  {
    uint8_t want[H];
    ck_assert_int_eq(mg_tlog_range_hash(h, mg_tlog_memtree_get, &t, 1, 4), 0);
    ref_mth(want, 1, 4);
    ck_assert(memcmp(h, want, H) == 0);
  }
  mg_tlog_memtree_cleanup(&t);
  mg_tlog_memtree_cleanup(NULL);
}
END_TEST

/* ========================================================= spec examples */

/* Reads $MLSGATE_REF/|name| (default MG_TEST_REF_DIR) into a NUL-terminated
 * buffer. */
static char *read_ref(const char *name) {
  const char *dir = getenv("MLSGATE_REF");
  char path[1024];
  FILE *f;
  char *buf;
  long len;
  if (dir == NULL || dir[0] == '\0') {
    dir = MG_TEST_REF_DIR;
  }
  ck_assert_int_lt(snprintf(path, sizeof(path), "%s/%s", dir, name),
                   (int)sizeof(path));
  f = fopen(path, "rb");
  ck_assert_msg(f != NULL, "cannot open %s (set MLSGATE_REF)", path);
  ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
  len = ftell(f);
  ck_assert_int_gt(len, 0);
  ck_assert_int_eq(fseek(f, 0, SEEK_SET), 0);
  buf = malloc((size_t)len + 1);
  ck_assert_ptr_nonnull(buf);
  ck_assert_uint_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
  buf[len] = '\0';
  fclose(f);
  return buf;
}

/* Copies the body of the first ``` fence at or after |from| in |doc| as note
 * bytes (each line and a final newline).  Returns a malloc'd string. */
static char *fenced_block(const char *from, size_t *out_len) {
  const char *start = strstr(from, "```\n");
  const char *end;
  char *out;
  ck_assert_ptr_nonnull(start);
  start += 4;
  end = strstr(start, "\n```");
  ck_assert_ptr_nonnull(end);
  *out_len = (size_t)(end - start) + 1;
  out = malloc(*out_len + 1);
  ck_assert_ptr_nonnull(out);
  memcpy(out, start, *out_len - 1);
  out[*out_len - 1] = '\n';
  out[*out_len] = '\0';
  return out;
}

/* The first 4-space-indented line at or after |from|. */
static char *indented_line(const char *from, size_t *out_len) {
  const char *p = strstr(from, "\n    ");
  const char *e;
  char *out;
  ck_assert_ptr_nonnull(p);
  p += 5;
  e = strchr(p, '\n');
  ck_assert_ptr_nonnull(e);
  *out_len = (size_t)(e - p);
  out = malloc(*out_len + 1);
  ck_assert_ptr_nonnull(out);
  memcpy(out, p, *out_len);
  out[*out_len] = '\0';
  return out;
}

static void note_roundtrip(const char *msg, size_t len) {
  mg_note n;
  mg_writer w;
  ck_assert_int_eq(mg_note_parse(&n, msg, len), 0);
  ck_assert_int_eq(mg_writer_init(&w, 256, 0), 0);
  ck_assert_int_eq(mg_note_format(&w, &n), 0);
  ck_assert_uint_eq(mg_writer_len(&w), len);
  ck_assert(memcmp(mg_writer_data(&w), msg, len) == 0);
  mg_writer_cleanup(&w);
}

START_TEST(test_spec_signed_note_example) {
  char *doc = read_ref("c2sp-signed-note.md");
  const char *ex = strstr(doc, "### Example");
  char *vkey_s;
  char *note_s;
  char *intro_s;
  size_t vkey_len;
  size_t note_len;
  size_t intro_len;
  mg_note_verifier v;
  mg_note n;
  size_t nv = 0;
  mg_writer w;

  ck_assert_ptr_nonnull(ex);
  vkey_s = indented_line(ex, &vkey_len);
  note_s = fenced_block(ex, &note_len);
  /* The verifier key parses (its key ID is the one computed from its name
   * and key) and formats back to itself. */
  ck_assert_int_eq(mg_note_verifier_parse(&v, vkey_s, vkey_len), 0);
  ck_assert_str_eq(v.name, "example.com/foo");
  ck_assert_int_eq(mg_writer_init(&w, 128, 0), 0);
  ck_assert_int_eq(mg_note_verifier_format(&w, &v), 0);
  ck_assert_uint_eq(mg_writer_len(&w), vkey_len);
  ck_assert(memcmp(mg_writer_data(&w), vkey_s, vkey_len) == 0);
  mg_writer_cleanup(&w);
  /* The note verifies with it. */
  ck_assert_int_eq(mg_note_parse(&n, note_s, note_len), 0);
  ck_assert_uint_eq(n.num_sigs, 1);
  ck_assert_int_eq(mg_note_verify(&n, &v, 1, &nv), 0);
  ck_assert_uint_eq(nv, 1);
  ck_assert_int_eq(mg_note_open(&n, note_s, note_len, &v, 1), 0);
  ck_assert_uint_eq(n.text_len, strlen("This is an example message.\n"));
  note_roundtrip(note_s, note_len);
  /* One changed byte of the text, and the signature fails. */
  note_s[0] ^= 0x20;
  ck_assert_int_eq(mg_note_open(&n, note_s, note_len, &v, 1), MG_ERR_VERIFY);
  note_s[0] ^= 0x20;
  /* The opening example (Quasimodo): well formed, multi-line text with an
   * empty line and non-ASCII; its key is unknown here, so it cannot be
   * opened. */
  intro_s = fenced_block(doc, &intro_len);
  ck_assert_int_eq(mg_note_parse(&n, intro_s, intro_len), 0);
  ck_assert_uint_eq(n.num_sigs, 1);
  ck_assert_uint_eq(n.sigs[0].name_len, strlen("quasimodo.example/salvatore"));
  note_roundtrip(intro_s, intro_len);
  ck_assert_int_eq(mg_note_open(&n, intro_s, intro_len, &v, 1),
                   MG_ERR_NOT_FOUND);
  free(intro_s);
  free(vkey_s);
  free(note_s);
  free(doc);
}
END_TEST

START_TEST(test_spec_checkpoint_example) {
  char *doc = read_ref("c2sp-tlog-checkpoint.md");
  size_t len;
  char *cp_s = fenced_block(doc, &len);
  mg_note n;
  mg_checkpoint cp;
  mg_writer w;

  ck_assert_int_eq(mg_note_parse(&n, cp_s, len), 0);
  ck_assert_uint_eq(n.num_sigs, 1);
  note_roundtrip(cp_s, len);
  ck_assert_int_eq(mg_checkpoint_parse(&cp, n.text, n.text_len), 0);
  ck_assert_uint_eq(cp.origin_len, strlen("example.com/behind-the-sofa"));
  ck_assert(memcmp(cp.origin, "example.com/behind-the-sofa", cp.origin_len) ==
            0);
  ck_assert_uint_eq(cp.size, 20852163);
  ck_assert_uint_eq(cp.ext_len, 0);
  /* The log signs with the origin as key name. */
  ck_assert_uint_eq(n.sigs[0].name_len, cp.origin_len);
  ck_assert_int_eq(mg_writer_init(&w, 128, 0), 0);
  ck_assert_int_eq(mg_checkpoint_format(&w, &cp), 0);
  ck_assert_uint_eq(mg_writer_len(&w), n.text_len);
  ck_assert(memcmp(mg_writer_data(&w), n.text, n.text_len) == 0);
  mg_writer_cleanup(&w);
  free(cp_s);
  free(doc);
}
END_TEST

static void make_signer(mg_note_signer *s, const char *name, uint8_t fill) {
  uint8_t seed[32];
  memset(seed, fill, sizeof(seed));
  ck_assert_int_eq(mg_note_signer_from_seed(s, name, strlen(name), seed), 0);
}

START_TEST(test_spec_proof_example) {
  char *doc = read_ref("c2sp-tlog-proof.md");
  size_t len;
  char *ex = fenced_block(doc, &len);
  mg_tlog_proof_text *pt = malloc(sizeof(*pt));
  mg_tlog_proof_text *pt2 = malloc(sizeof(*pt2));
  const char *cp_at;
  mg_note_signer s;
  mg_writer w;
  mg_writer out;
  const char *own;
  size_t own_len;
  static const char body[] = "example.com/fancylog\n109482\n"
                             "sFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=\n";

  ck_assert_ptr_nonnull(pt);
  ck_assert_ptr_nonnull(pt2);
  /* The spec elides its signatures ("hI2DJw[...]1roloI="): refused. */
  ck_assert_int_eq(mg_tlog_proof_parse(pt, ex, len), MG_ERR_DECODE);
  /* Its proof lines under a checkpoint of the same body that we sign. */
  cp_at = strstr(ex, "\n\nexample.com/fancylog\n");
  ck_assert_ptr_nonnull(cp_at);
  make_signer(&s, "example.com/fancylog", 7);
  ck_assert_int_eq(mg_writer_init(&w, 1024, 0), 0);
  ck_assert_int_eq(mg_write_bytes(&w, (const uint8_t *)ex,
                                  (size_t)(cp_at - ex) + 2),
                   0);
  ck_assert_int_eq(mg_note_sign(&w, body, strlen(body), &s, 1), 0);
  own_len = mg_writer_len(&w);
  own = (const char *)mg_writer_data(&w);
  ck_assert_int_eq(mg_tlog_proof_parse(pt, own, own_len), 0);
  ck_assert_int_eq(pt->has_extra, 1);
  ck_assert_uint_eq(pt->index, 73894);
  ck_assert_uint_eq(pt->proof.num_hashes, 5);
  ck_assert_int_eq(mg_writer_init(&out, 1024, 0), 0);
  ck_assert_int_eq(mg_tlog_proof_format(&out, pt), 0);
  ck_assert_uint_eq(mg_writer_len(&out), own_len);
  ck_assert(memcmp(mg_writer_data(&out), own, own_len) == 0);
  ck_assert_int_eq(mg_tlog_proof_parse(pt2, (const char *)mg_writer_data(&out),
                                       mg_writer_len(&out)),
                   0);
  ck_assert_uint_eq(pt2->extra_len, pt->extra_len);
  ck_assert(memcmp(pt2->extra, pt->extra, pt->extra_len) == 0);
  /* The checkpoint verifies; the made-up inclusion proof cannot. */
  {
    uint8_t leaf[H] = {0};
    mg_checkpoint cp;
    ck_assert_int_eq(mg_checkpoint_open(&cp, pt->checkpoint, pt->checkpoint_len,
                                        "example.com/fancylog", 20, &s.v, 1),
                     0);
    ck_assert_uint_eq(cp.size, 109482);
    ck_assert_int_eq(mg_tlog_proof_verify(pt, leaf, "example.com/fancylog", 20,
                                          &s.v, 1, NULL),
                     MG_ERR_VERIFY);
  }
  mg_writer_cleanup(&out);
  mg_writer_cleanup(&w);
  mg_note_signer_cleanup(&s);
  free(pt);
  free(pt2);
  free(ex);
  free(doc);
}
END_TEST

/* ================================================================ notes */

START_TEST(test_keys) {
  mg_note_signer s;
  mg_note_signer s2;
  mg_note_verifier v;
  mg_writer w;
  uint32_t id;
  uint8_t pre[64];
  uint8_t d[32];

  make_signer(&s, "mlsgate.example/audit", 0x42);
  /* Key ID = SHA-256(name || 0x0A || 0x01 || pub)[:4], computed here. */
  memcpy(pre, "mlsgate.example/audit", 21);
  pre[21] = 0x0a;
  pre[22] = 0x01;
  memcpy(pre + 23, s.v.pub, 32);
  sha256(d, pre, 55);
  id = ((uint32_t)d[0] << 24) | ((uint32_t)d[1] << 16) | ((uint32_t)d[2] << 8) |
       d[3];
  ck_assert_uint_eq(s.v.key_id, id);
  /* Signer string: PRIVATE+KEY+name+id+base64(0x01 || seed), round trip. */
  ck_assert_int_eq(mg_writer_init(&w, 128, 0), 0);
  ck_assert_int_eq(mg_note_signer_format(&w, &s), 0);
  ck_assert(memcmp(mg_writer_data(&w), "PRIVATE+KEY+mlsgate.example/audit+",
                   34) == 0);
  ck_assert_int_eq(mg_note_signer_parse(&s2, (const char *)mg_writer_data(&w),
                                        mg_writer_len(&w)),
                   0);
  ck_assert(memcmp(&s2, &s, sizeof(s)) == 0);
  /* A key ID that is not the seed's: refused, and the output wiped. */
  {
    char *bad = malloc(mg_writer_len(&w));
    static const mg_note_signer zero;
    size_t at = strlen("PRIVATE+KEY+mlsgate.example/audit+");
    memcpy(bad, mg_writer_data(&w), mg_writer_len(&w));
    bad[at] = bad[at] == '0' ? '1' : '0';
    ck_assert_int_eq(mg_note_signer_parse(&s2, bad, mg_writer_len(&w)),
                     MG_ERR_BAD_KEY);
    ck_assert(memcmp(&s2, &zero, sizeof(zero)) == 0);
    free(bad);
  }
  /* A signer string is not a verifier key, and vice versa. */
  ck_assert_int_ne(mg_note_verifier_parse(&v, (const char *)mg_writer_data(&w),
                                          mg_writer_len(&w)),
                   0);
  mg_writer_cleanup(&w);
  ck_assert_int_eq(mg_writer_init(&w, 128, 0), 0);
  ck_assert_int_eq(mg_note_verifier_format(&w, &s.v), 0);
  ck_assert_int_eq(mg_note_verifier_parse(&v, (const char *)mg_writer_data(&w),
                                          mg_writer_len(&w)),
                   0);
  ck_assert(memcmp(&v, &s.v, sizeof(v)) == 0);
  ck_assert_int_eq(mg_note_signer_parse(&s2, (const char *)mg_writer_data(&w),
                                        mg_writer_len(&w)),
                   MG_ERR_DECODE);
  mg_writer_cleanup(&w);
  mg_note_signer_cleanup(&s);
  mg_note_signer_cleanup(&s2);
  ck_assert_int_eq(mg_note_signer_generate(&s, "x", 1), 0);
  ck_assert_int_eq(mg_note_signer_generate(&s2, "x", 1), 0);
  ck_assert(memcmp(s.seed, s2.seed, 32) != 0);
  mg_note_signer_cleanup(&s);
  mg_note_signer_cleanup(&s2);
  ck_assert_int_eq(mg_note_signer_generate(&s, "a b", 3), MG_ERR_DECODE);
}
END_TEST

START_TEST(test_vkey_rejections) {
  /* Built from the spec's example key, one rule broken at a time. */
  static const char *const bad[][2] = {
      {"example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
       "key ID does not match"},
      {"example.com/foo+530D903A+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
       "uppercase hex"},
      {"example.com/foo+530d903+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
       "7 hex digits"},
      {"example.com/bar+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
       "other name"},
      {"+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "empty name"},
      {"example.com/foo+530d903a+AukyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
       "signature type 0x02"},
      {"example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k=",
       "bad base64"},
      {"example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2kAA==",
       "34-byte key"},
      {"example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv",
       "30-byte key"},
      {"example.com/foo+530d903a", "no key"},
      {"example.com/foo", "no plus"},
      {"example.com/foo+530d903a+ AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
       "space"},
      {"example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k\n",
       "newline"},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    mg_note_verifier v;
    int rc = mg_note_verifier_parse(&v, bad[i][0], strlen(bad[i][0]));
    ck_assert_msg(rc < 0 && (mg_err_class_of(rc) == MG_ERRCLASS_DECODE ||
                             rc == MG_ERR_UNSUPPORTED || rc == MG_ERR_BAD_KEY),
                  "%s: %d", bad[i][1], rc);
  }
}
END_TEST

START_TEST(test_names) {
  static const char *const good[] = {"a", "example.com/foo", "x\xc3\xa9y",
                                     "a-b_c.d/e~f"};
  static const char *const bad[] = {
      "",           "a b",           "a+b",         "a\tb",
      "a\nb",       "a\xc2\xa0" "b", /* U+00A0 */
      "a\xe3\x80\x80" "b",           /* U+3000 */
      "a\xe2\x80\x8a" "b",           /* U+200A */
      "a\xe2\x80\xa8" "b",           /* U+2028 */
      "\xc0\xaf",                    /* overlong */
      "\xed\xa0\x80",                /* surrogate */
      "\xff",
  };
  char long_name[MG_NOTE_MAX_NAME_LEN + 2];
  for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
    ck_assert_msg(mg_note_name_valid(good[i], strlen(good[i])), "%s", good[i]);
  }
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    ck_assert_msg(!mg_note_name_valid(bad[i], strlen(bad[i])), "bad %zu", i);
  }
  memset(long_name, 'n', sizeof(long_name));
  ck_assert(mg_note_name_valid(long_name, MG_NOTE_MAX_NAME_LEN));
  ck_assert(!mg_note_name_valid(long_name, MG_NOTE_MAX_NAME_LEN + 1));
}
END_TEST

/* Signs |text| with |s| into a new NUL-terminated string. */
static char *sign_text(const char *text, const mg_note_signer *s, size_t num,
                       size_t *out_len) {
  mg_writer w;
  uint8_t *out = NULL;
  ck_assert_int_eq(mg_writer_init(&w, 256, 0), 0);
  ck_assert_int_eq(mg_note_sign(&w, text, strlen(text), s, num), 0);
  ck_assert_int_eq(mg_write_u8(&w, 0), 0);
  ck_assert_int_eq(mg_writer_finish(&w, &out, out_len), 0);
  (*out_len)--;
  return (char *)out;
}

START_TEST(test_sign_verify) {
  mg_note_signer s[3];
  mg_note_verifier vs[3];
  mg_note n;
  size_t len;
  size_t len2;
  size_t nv;
  char *msg;
  char *msg2;

  make_signer(&s[0], "log.example/a", 1);
  make_signer(&s[1], "witness.example/b", 2);
  make_signer(&s[2], "log.example/a", 3); /* same name, other key */
  for (int i = 0; i < 3; i++) {
    vs[i] = s[i].v;
  }
  msg = sign_text("hello\n\nworld\n", s, 2, &len);
  msg2 = sign_text("hello\n\nworld\n", s, 2, &len2);
  /* Ed25519 is deterministic. */
  ck_assert_uint_eq(len, len2);
  ck_assert(memcmp(msg, msg2, len) == 0);
  note_roundtrip(msg, len);
  ck_assert_int_eq(mg_note_parse(&n, msg, len), 0);
  ck_assert_uint_eq(n.text_len, strlen("hello\n\nworld\n"));
  ck_assert_uint_eq(n.num_sigs, 2);
  ck_assert_int_eq(mg_note_verify(&n, vs, 2, &nv), 0);
  ck_assert_uint_eq(nv, 2);
  ck_assert_int_eq(mg_note_verify(&n, &vs[1], 1, &nv), 0);
  ck_assert_uint_eq(nv, 1);
  /* Same name, other key ID: unknown, ignored. */
  ck_assert_int_eq(mg_note_verify(&n, &vs[2], 1, &nv), MG_ERR_NOT_FOUND);
  ck_assert_int_eq(mg_note_verify(&n, NULL, 0, &nv), MG_ERR_NOT_FOUND);
  /* Same key ID, other name: unknown too. */
  {
    mg_note_verifier odd = vs[0];
    memcpy(odd.name, "log.example/z", 13);
    ck_assert_int_eq(mg_note_verify(&n, &odd, 1, &nv), MG_ERR_NOT_FOUND);
    /* Name and ID match a known key with a different public key: the
     * signature must verify, and does not. */
    odd = vs[0];
    odd.pub[0] ^= 1;
    ck_assert_int_eq(mg_note_verify(&n, &odd, 1, &nv), MG_ERR_VERIFY);
  }
  /* A known key's bad signature rejects the note even if another verifies. */
  {
    char *bad = malloc(len + 1);
    size_t at;
    memcpy(bad, msg, len + 1);
    at = (size_t)(strstr(bad, "log.example/a ") - bad) + 14 + 10;
    bad[at] = bad[at] == 'A' ? 'B' : 'A';
    ck_assert_int_eq(mg_note_parse(&n, bad, len), 0);
    ck_assert_int_eq(mg_note_verify(&n, vs, 2, &nv), MG_ERR_VERIFY);
    ck_assert_int_eq(mg_note_verify(&n, &vs[1], 1, &nv), 0);
    free(bad);
  }
  /* Duplicate lines of one key count once. */
  {
    size_t text_len = strlen("hello\n\nworld\n");
    size_t sig0 = text_len + 1;
    size_t sig0_end = (size_t)(strchr(msg + sig0, '\n') - msg) + 1;
    char *dup = malloc(len + (sig0_end - sig0) + 1);
    memcpy(dup, msg, len);
    memcpy(dup + len, msg + sig0, sig0_end - sig0);
    ck_assert_int_eq(mg_note_parse(&n, dup, len + sig0_end - sig0), 0);
    ck_assert_uint_eq(n.num_sigs, 3);
    ck_assert_int_eq(mg_note_verify(&n, vs, 2, &nv), 0);
    ck_assert_uint_eq(nv, 2);
    free(dup);
  }
  free(msg);
  free(msg2);
  /* Invalid texts are refused by the signer. */
  {
    mg_writer w;
    ck_assert_int_eq(mg_writer_init(&w, 64, 0), 0);
    ck_assert_int_eq(mg_note_sign(&w, "no newline", 10, s, 1), MG_ERR_DECODE);
    ck_assert_int_eq(mg_note_sign(&w, "a\rb\n", 4, s, 1), MG_ERR_DECODE);
    ck_assert_int_eq(mg_note_sign(&w, "", 0, s, 1), MG_ERR_DECODE);
    ck_assert_int_eq(mg_note_sign(&w, "ok\n", 3, s, 0), MG_ERR_INVALID_ARG);
    mg_writer_cleanup(&w);
  }
  for (int i = 0; i < 3; i++) {
    mg_note_signer_cleanup(&s[i]);
  }
}
END_TEST

START_TEST(test_many_signatures) {
  /* The spec: verifiers MUST accept at least 16 signatures. */
  mg_note_signer s[MG_NOTE_MAX_SIGS + 1];
  mg_note n;
  size_t len;
  char *msg;
  char name[32];
  for (int i = 0; i <= MG_NOTE_MAX_SIGS; i++) {
    snprintf(name, sizeof(name), "w%d.example", i);
    make_signer(&s[i], name, (uint8_t)(i + 1));
  }
  msg = sign_text("many\n", s, MG_NOTE_MAX_SIGS, &len);
  ck_assert_int_eq(mg_note_open(&n, msg, len, &s[MG_NOTE_MAX_SIGS - 1].v, 1),
                   0);
  ck_assert_uint_eq(n.num_sigs, MG_NOTE_MAX_SIGS);
  free(msg);
  {
    mg_writer w;
    ck_assert_int_eq(mg_writer_init(&w, 64, 0), 0);
    ck_assert_int_eq(mg_note_sign(&w, "many\n", 5, s, MG_NOTE_MAX_SIGS + 1),
                     MG_ERR_INVALID_ARG);
    mg_writer_cleanup(&w);
  }
  /* One line too many. */
  {
    char *one = sign_text("many\n", s, MG_NOTE_MAX_SIGS, &len);
    size_t text_len = 5;
    size_t l0 = (size_t)(strchr(one + text_len + 1, '\n') - one) + 1 -
                (text_len + 1);
    char *more = malloc(len + l0);
    memcpy(more, one, len);
    memcpy(more + len, one + text_len + 1, l0);
    ck_assert_int_eq(mg_note_parse(&n, more, len + l0), MG_ERR_LENGTH);
    free(more);
    free(one);
  }
  for (int i = 0; i <= MG_NOTE_MAX_SIGS; i++) {
    mg_note_signer_cleanup(&s[i]);
  }
}
END_TEST

START_TEST(test_note_rejections) {
  /* A valid note to break: text "a\n", a 5-byte signature of key ID 1. */
#define SIG_OK "\xe2\x80\x94 k AAAAAQA=\n"
  static const char *const bad[][2] = {
      {"a\n\n" SIG_OK "x", "no final newline"},
      {"a\n" SIG_OK, "no blank line"},
      {"a\n\n", "no signature"},
      {"\n", "only a newline"},
      {"", "empty"},
      {"a\n\n\xe2\x80\x93 k AAAAAQA=\n", "en dash"},
      {"a\n\n- k AAAAAQA=\n", "hyphen"},
      {"a\n\n\xe2\x80\x94k AAAAAQA=\n", "no space after the dash"},
      {"a\n\n\xe2\x80\x94  k AAAAAQA=\n", "empty name"},
      {"a\n\n\xe2\x80\x94 k+1 AAAAAQA=\n", "plus in name"},
      {"a\n\n\xe2\x80\x94 k\xc2\xa0x AAAAAQA=\n", "U+00A0 in name"},
      {"a\n\n\xe2\x80\x94 k AAAAAQ==\n", "4-byte signature"},
      {"a\n\n\xe2\x80\x94 k \n", "empty signature"},
      {"a\n\n\xe2\x80\x94 k\n", "no signature field"},
      {"a\n\n\xe2\x80\x94 k AAAAAQA= \n", "trailing space"},
      {"a\n\n\xe2\x80\x94 k AAAAAQB=\n", "non-canonical base64"},
      {"a\n\n\xe2\x80\x94 k AAAAAQA\n", "unpadded base64"},
      {"a\n\n" SIG_OK "\n", "blank line after signatures"},
      {"a\n\n" SIG_OK "junk\n", "junk after signatures"},
      {"a\r\n\n" SIG_OK, "carriage return"},
      {"a\tb\n\n" SIG_OK, "tab"},
      {"\xc0\x80\n\n" SIG_OK, "overlong NUL"},
      {"\xed\xbf\xbf\n\n" SIG_OK, "surrogate"},
      {"\xf4\x90\x80\x80\n\n" SIG_OK, "above U+10FFFF"},
      {"\xe2\x80\n\n" SIG_OK, "truncated UTF-8"},
  };
  mg_note n;
  ck_assert_int_eq(mg_note_parse(&n, "a\n\n" SIG_OK, strlen("a\n\n" SIG_OK)),
                   0);
  ck_assert_uint_eq(n.sigs[0].key_id, 1);
  /* DEL and non-ASCII are allowed; so is an empty line in the text. */
  ck_assert_int_eq(mg_note_parse(&n, "\x7f\xc3\xa9\n\nb\n\n" SIG_OK,
                                 strlen("\x7f\xc3\xa9\n\nb\n\n" SIG_OK)),
                   0);
  ck_assert_uint_eq(n.text_len, 7);
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    int rc = mg_note_parse(&n, bad[i][0], strlen(bad[i][0]));
    ck_assert_msg(rc < 0 && mg_err_class_of(rc) == MG_ERRCLASS_DECODE,
                  "%s: %d", bad[i][1], rc);
  }
  {
    const char nul[] = "a\0b\n\n" SIG_OK;
    ck_assert_int_eq(mg_note_parse(&n, nul, sizeof(nul) - 1), MG_ERR_DECODE);
  }
  /* Over the size limit. */
  {
    size_t big = MG_NOTE_MAX_LEN + 1;
    char *m = malloc(big);
    memset(m, 'a', big);
    memcpy(m + big - strlen("\n\n" SIG_OK), "\n\n" SIG_OK,
           strlen("\n\n" SIG_OK));
    ck_assert_int_eq(mg_note_parse(&n, m, big), MG_ERR_LENGTH);
    ck_assert_int_eq(mg_note_parse(&n, m + 1, big - 1), 0);
    free(m);
  }
#undef SIG_OK
}
END_TEST

START_TEST(test_note_truncations) {
  mg_note_signer s[2];
  mg_note n;
  size_t len;
  char *msg;
  size_t ok = 0;
  make_signer(&s[0], "a.example", 1);
  make_signer(&s[1], "b.example", 2);
  msg = sign_text("origin\n42\nline\n", s, 2, &len);
  for (size_t cut = 0; cut < len; cut++) {
    if (mg_note_parse(&n, msg, cut) == 0) {
      /* Only the note with the first signature alone. */
      note_roundtrip(msg, cut);
      ok++;
    }
  }
  ck_assert_uint_eq(ok, 1);
  mg_note_signer_cleanup(&s[0]);
  mg_note_signer_cleanup(&s[1]);
  free(msg);
}
END_TEST

START_TEST(test_checkpoints) {
  static const char *const good[] = {
      "o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
      "example.com/log\n18446744073709551\n"
      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\next 1\next 2\n",
  };
  static const char *const bad[][2] = {
      {"o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", "no final newline"},
      {"\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n", "empty origin"},
      {"o\n00\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n", "leading zero"},
      {"o\n01\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n", "leading zero"},
      {"o\n-1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n", "sign"},
      {"o\n+1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n", "sign"},
      {"o\n 1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n", "space"},
      {"o\n\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n", "empty size"},
      {"o\n4611686018427387905\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
       "size above 2^62"},
      {"o\n99999999999999999999999\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
       "size overflows"},
      {"o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuA==\n", "31-byte root"},
      {"o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFUA\n", "33-byte root"},
      {"o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFUAAAAA\n",
       "36-byte root"},
      {"o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFV=\n", "non-canonical"},
      {"o\n1\n", "no root"},
      {"o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n", "empty ext"},
      {"o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\na\n\nb\n",
       "empty ext line"},
      {"o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\na", "unterminated"},
  };
  mg_checkpoint cp;
  for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
    mg_writer w;
    ck_assert_int_eq(mg_checkpoint_parse(&cp, good[i], strlen(good[i])), 0);
    ck_assert_int_eq(mg_writer_init(&w, 128, 0), 0);
    ck_assert_int_eq(mg_checkpoint_format(&w, &cp), 0);
    ck_assert_uint_eq(mg_writer_len(&w), strlen(good[i]));
    ck_assert(memcmp(mg_writer_data(&w), good[i], strlen(good[i])) == 0);
    mg_writer_cleanup(&w);
  }
  ck_assert_int_eq(mg_checkpoint_parse(&cp, good[1], strlen(good[1])), 0);
  ck_assert_uint_eq(cp.size, 18446744073709551ull);
  ck_assert_uint_eq(cp.ext_len, strlen("ext 1\next 2\n"));
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    int rc = mg_checkpoint_parse(&cp, bad[i][0], strlen(bad[i][0]));
    ck_assert_msg(rc < 0 && mg_err_class_of(rc) == MG_ERRCLASS_DECODE,
                  "%s: %d", bad[i][1], rc);
  }
  /* The formatter refuses what the parser would. */
  {
    mg_writer w;
    mg_checkpoint c = {"o\nx", 3, 1, {0}, NULL, 0};
    ck_assert_int_eq(mg_writer_init(&w, 128, 0), 0);
    ck_assert_int_eq(mg_checkpoint_format(&w, &c), MG_ERR_INVALID_ARG);
    c.origin_len = 0;
    ck_assert_int_eq(mg_checkpoint_format(&w, &c), MG_ERR_INVALID_ARG);
    c.origin_len = 1;
    c.ext = "x";
    c.ext_len = 1;
    ck_assert_int_eq(mg_checkpoint_format(&w, &c), MG_ERR_INVALID_ARG);
    c.ext_len = 0;
    c.size = MG_TLOG_MAX_SIZE + 1;
    ck_assert_int_eq(mg_checkpoint_format(&w, &c), MG_ERR_INVALID_ARG);
    mg_writer_cleanup(&w);
  }
}
END_TEST

/* End to end: a log of 37 entries, signed checkpoints, tlog proofs. */
START_TEST(test_tlog_proofs) {
  static const char origin[] = "mlsgate.example/audit";
  mg_tlog_memtree t;
  mg_note_signer s;
  mg_note_signer other;
  mg_tlog_proof_text *pt = malloc(sizeof(*pt));
  mg_tlog_proof_text *pt2 = malloc(sizeof(*pt2));
  const uint64_t size = 37;

  ck_assert_ptr_nonnull(pt);
  ck_assert_ptr_nonnull(pt2);
  make_leaves();
  make_signer(&s, origin, 9);
  make_signer(&other, origin, 10);
  mg_tlog_memtree_init(&t);
  for (size_t i = 0; i < size; i++) {
    ck_assert_int_eq(mg_tlog_memtree_append(&t, leaves[i]), 0);
  }
  for (uint64_t idx = 0; idx < size; idx++) {
    mg_checkpoint cp = {origin, strlen(origin), size, {0}, NULL, 0};
    mg_writer body;
    mg_writer note;
    mg_writer out;
    mg_checkpoint got;
    const char *text;

    ck_assert_int_eq(mg_tlog_root(cp.root, mg_tlog_memtree_get, &t, size), 0);
    ck_assert_int_eq(mg_writer_init(&body, 128, 0), 0);
    ck_assert_int_eq(mg_checkpoint_format(&body, &cp), 0);
    ck_assert_int_eq(mg_writer_init(&note, 256, 0), 0);
    ck_assert_int_eq(mg_note_sign(&note, (const char *)mg_writer_data(&body),
                                  mg_writer_len(&body), &s, 1),
                     0);
    memset(pt, 0, sizeof(*pt));
    pt->has_extra = idx % 2 == 0;
    pt->extra_len = pt->has_extra ? 1 + idx : 0;
    memset(pt->extra, 0xab, pt->extra_len);
    pt->index = idx;
    ck_assert_int_eq(mg_tlog_prove_inclusion(&pt->proof, mg_tlog_memtree_get,
                                             &t, idx, size),
                     0);
    pt->checkpoint = (const char *)mg_writer_data(&note);
    pt->checkpoint_len = mg_writer_len(&note);
    ck_assert_int_eq(mg_writer_init(&out, 1024, 0), 0);
    ck_assert_int_eq(mg_tlog_proof_format(&out, pt), 0);
    text = (const char *)mg_writer_data(&out);
    ck_assert_int_eq(mg_tlog_proof_parse(pt2, text, mg_writer_len(&out)), 0);
    ck_assert_uint_eq(pt2->index, idx);
    ck_assert_int_eq(pt2->has_extra, pt->has_extra);
    proofs_eq(&pt2->proof, &pt->proof);
    ck_assert_int_eq(mg_tlog_proof_verify(pt2, leaves[idx], origin,
                                          strlen(origin), &s.v, 1, &got),
                     0);
    ck_assert_uint_eq(got.size, size);
    /* Another entry's leaf, another origin, another key: refused. */
    ck_assert_int_eq(mg_tlog_proof_verify(pt2, leaves[(idx + 1) % size],
                                          origin, strlen(origin), &s.v, 1,
                                          NULL),
                     MG_ERR_VERIFY);
    ck_assert_int_eq(mg_tlog_proof_verify(pt2, leaves[idx], "other", 5, &s.v,
                                          1, NULL),
                     MG_ERR_VERIFY);
    ck_assert_int_eq(mg_tlog_proof_verify(pt2, leaves[idx], origin,
                                          strlen(origin), &other.v, 1, NULL),
                     MG_ERR_NOT_FOUND);
    /* A changed index line. */
    if (idx > 0) {
      pt2->index = idx - 1;
      ck_assert_int_eq(mg_tlog_proof_verify(pt2, leaves[idx], origin,
                                            strlen(origin), &s.v, 1, NULL),
                       MG_ERR_VERIFY);
    }
    /* Every truncation fails (the checkpoint needs its signature). */
    for (size_t cut = 0; cut < mg_writer_len(&out); cut++) {
      int rc = mg_tlog_proof_parse(pt2, text, cut);
      ck_assert(rc < 0 && mg_err_class_of(rc) == MG_ERRCLASS_DECODE);
    }
    mg_writer_cleanup(&out);
    mg_writer_cleanup(&note);
    mg_writer_cleanup(&body);
  }
  mg_tlog_memtree_cleanup(&t);
  mg_note_signer_cleanup(&s);
  mg_note_signer_cleanup(&other);
  free(pt);
  free(pt2);
}
END_TEST

START_TEST(test_tlog_proof_rejections) {
#define CP "o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n" \
           "\xe2\x80\x94 k AAAAAQA=\n"
#define HASH "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
  static const char *const good[] = {
      "c2sp.org/tlog-proof@v1\nindex 0\n\n" CP,
      "c2sp.org/tlog-proof@v1\nextra AA==\nindex 5\n" HASH HASH "\n" CP,
  };
  static const char *const bad[][2] = {
      {"c2sp.org/tlog-proof@v2\nindex 0\n\n" CP, "header"},
      {"c2sp.org/tlog-proof@v1\nindex 00\n\n" CP, "leading zero"},
      {"c2sp.org/tlog-proof@v1\nindex -0\n\n" CP, "sign"},
      {"c2sp.org/tlog-proof@v1\nindex\n\n" CP, "no index"},
      {"c2sp.org/tlog-proof@v1\nindex  1\n\n" CP, "two spaces"},
      {"c2sp.org/tlog-proof@v1\nindex 4611686018427387904\n\n" CP,
       "index 2^62"},
      {"c2sp.org/tlog-proof@v1\nextra \nindex 0\n\n" CP, "empty extra"},
      {"c2sp.org/tlog-proof@v1\nextra AA=\nindex 0\n\n" CP, "bad extra"},
      {"c2sp.org/tlog-proof@v1\nindex 0\nextra AA==\n\n" CP, "extra late"},
      {"c2sp.org/tlog-proof@v1\nindex 0\n" CP, "no blank line"},
      {"c2sp.org/tlog-proof@v1\nindex 0\nAAAA\n\n" CP, "short hash"},
      {"c2sp.org/tlog-proof@v1\nindex 0\n"
       "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFUA\n\n" CP,
       "33-byte hash"},
      {"c2sp.org/tlog-proof@v1\nindex 0\n" HASH " \n\n" CP, "space line"},
      {"c2sp.org/tlog-proof@v1\nindex 0\n\no\n1\nx\n\n\xe2\x80\x94 k AAAAAQA=\n",
       "bad checkpoint"},
      {"c2sp.org/tlog-proof@v1\nindex 0\n\n", "no checkpoint"},
  };
  mg_tlog_proof_text *pt = malloc(sizeof(*pt));
  ck_assert_ptr_nonnull(pt);
  for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
    mg_writer w;
    ck_assert_int_eq(mg_tlog_proof_parse(pt, good[i], strlen(good[i])), 0);
    ck_assert_int_eq(mg_writer_init(&w, 256, 0), 0);
    ck_assert_int_eq(mg_tlog_proof_format(&w, pt), 0);
    ck_assert_uint_eq(mg_writer_len(&w), strlen(good[i]));
    ck_assert(memcmp(mg_writer_data(&w), good[i], strlen(good[i])) == 0);
    mg_writer_cleanup(&w);
  }
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    int rc = mg_tlog_proof_parse(pt, bad[i][0], strlen(bad[i][0]));
    ck_assert_msg(rc < 0 && mg_err_class_of(rc) == MG_ERRCLASS_DECODE,
                  "%s: %d", bad[i][1], rc);
  }
  /* 65 hash lines. */
  {
    mg_writer w;
    ck_assert_int_eq(mg_writer_init(&w, 4096, 0), 0);
    ck_assert_int_eq(mg_write_bytes(&w,
                                    (const uint8_t *)"c2sp.org/tlog-proof@v1\n"
                                                     "index 0\n",
                                    31),
                     0);
    for (int i = 0; i <= MG_TLOG_MAX_PROOF; i++) {
      ck_assert_int_eq(mg_write_bytes(&w, (const uint8_t *)HASH, 45), 0);
    }
    ck_assert_int_eq(mg_write_bytes(&w, (const uint8_t *)"\n" CP,
                                    strlen("\n" CP)),
                     0);
    ck_assert_int_eq(mg_tlog_proof_parse(pt, (const char *)mg_writer_data(&w),
                                         mg_writer_len(&w)),
                     MG_ERR_LENGTH);
    mg_writer_cleanup(&w);
  }
  free(pt);
#undef CP
#undef HASH
}
END_TEST

int main(void) {
  Suite *s;
  TCase *tc;
  SRunner *sr;
  int failed;
  if (mg_crypto_init() < 0) {
    fprintf(stderr, "crypto init failed\n");
    return 1;
  }
  s = suite_create("tlog");
  tc = tcase_create("base64");
  tcase_add_test(tc, test_base64_rfc4648);
  tcase_add_test(tc, test_base64_every_char);
  tcase_add_test(tc, test_base64_roundtrip);
  tcase_add_test(tc, test_base64_strict);
  tcase_add_test(tc, test_base64_public_matches);
  tcase_add_test(tc, test_base64_every_char_every_lane);
  suite_add_tcase(s, tc);
  tc = tcase_create("merkle");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, test_hash_prefixes);
  tcase_add_test(tc, test_inclusion_all_sizes);
  tcase_add_test(tc, test_consistency_all_pairs);
  tcase_add_test(tc, test_sampled_large);
  tcase_add_test(tc, test_huge_trees);
  tcase_add_test(tc, test_frontier_encoding);
  tcase_add_test(tc, test_tlog_args);
  suite_add_tcase(s, tc);
  tc = tcase_create("notes");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_spec_signed_note_example);
  tcase_add_test(tc, test_spec_checkpoint_example);
  tcase_add_test(tc, test_spec_proof_example);
  tcase_add_test(tc, test_keys);
  tcase_add_test(tc, test_vkey_rejections);
  tcase_add_test(tc, test_names);
  tcase_add_test(tc, test_sign_verify);
  tcase_add_test(tc, test_many_signatures);
  tcase_add_test(tc, test_note_rejections);
  tcase_add_test(tc, test_note_truncations);
  tcase_add_test(tc, test_checkpoints);
  tcase_add_test(tc, test_tlog_proofs);
  tcase_add_test(tc, test_tlog_proof_rejections);
  suite_add_tcase(s, tc);
  sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? 0 : 1;
}
