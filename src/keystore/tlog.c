/* Merkle tree of the audit log (src/keystore/tlog.h): RFC 9162 §2.1. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/guard.h"
#include "common/secmem.h"
#include "crypto/crypto.h"
#include "keystore/tlog.h"

/* Leaves up to this size are hashed from a stack copy. */
#define MG_TLOG_STACK_LEAF 1024

int mg_tlog_leaf_hash(uint8_t out[MG_TLOG_HASH_LEN], const uint8_t *data,
                      size_t len) {
  uint8_t stack_buf[1 + MG_TLOG_STACK_LEAF];
  uint8_t *buf = stack_buf;
  int rc;

  MG_ENSURE_REF(out);
  MG_ENSURE(data != NULL || len == 0, MG_ERR_INVALID_ARG);
  MG_ENSURE(len < SIZE_MAX, MG_ERR_INVALID_ARG);
  if (len > MG_TLOG_STACK_LEAF) {
    buf = malloc(len + 1);
    if (buf == NULL) {
      return MG_ERR_NOMEM;
    }
  }
  buf[0] = 0x00; /* RFC 9162 §2.1.1: leaf prefix */
  if (len > 0) {
    memcpy(buf + 1, data, len);
  }
  rc = mg_sha256.digest(&mg_sha256, out, buf, len + 1);
  if (buf != stack_buf) {
    free(buf);
  }
  return rc;
}

int mg_tlog_node_hash(uint8_t out[MG_TLOG_HASH_LEN],
                      const uint8_t left[MG_TLOG_HASH_LEN],
                      const uint8_t right[MG_TLOG_HASH_LEN]) {
  uint8_t buf[1 + 2 * MG_TLOG_HASH_LEN];
  buf[0] = 0x01; /* RFC 9162 §2.1.1: node prefix */
  memcpy(buf + 1, left, MG_TLOG_HASH_LEN);
  memcpy(buf + 1 + MG_TLOG_HASH_LEN, right, MG_TLOG_HASH_LEN);
  return mg_sha256.digest(&mg_sha256, out, buf, sizeof(buf));
}

int mg_tlog_empty_root(uint8_t out[MG_TLOG_HASH_LEN]) {
  static const uint8_t nothing[1] = {0};
  return mg_sha256.digest(&mg_sha256, out, nothing, 0);
}

/* The largest power of two strictly below |n| (n >= 2): the split point k
 * of RFC 9162 §2.1.1. */
static uint64_t split_point(uint64_t n) {
  uint64_t k = 1;
  while (k << 1 < n) {
    k <<= 1;
  }
  return k;
}

static int is_pow2(uint64_t n) { return n != 0 && (n & (n - 1)) == 0; }

static uint64_t log2_exact(uint64_t n) {
  uint64_t l = 0;
  while (n > 1) {
    n >>= 1;
    l++;
  }
  return l;
}

static int range_hash(uint8_t out[MG_TLOG_HASH_LEN], mg_tlog_get_fn get,
                      void *arg, uint64_t start, uint64_t end) {
  uint64_t n = end - start;
  uint8_t left[MG_TLOG_HASH_LEN];
  uint8_t right[MG_TLOG_HASH_LEN];
  uint64_t k;

  if (n == 0) {
    return mg_tlog_empty_root(out);
  }
  if (is_pow2(n) && start % n == 0) {
    uint64_t level = log2_exact(n);
    return get(arg, level, start >> level, out);
  }
  /* MTH(D[n]) = HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n])); an unaligned
   * power-of-two range splits the same way down to aligned pieces. */
  k = split_point(n);
  MG_GUARD(range_hash(left, get, arg, start, start + k));
  MG_GUARD(range_hash(right, get, arg, start + k, end));
  return mg_tlog_node_hash(out, left, right);
}

int mg_tlog_range_hash(uint8_t out[MG_TLOG_HASH_LEN], mg_tlog_get_fn get,
                       void *arg, uint64_t start, uint64_t end) {
  MG_ENSURE_REF(out);
  MG_ENSURE_REF(get);
  MG_ENSURE(start <= end && end <= MG_TLOG_MAX_SIZE, MG_ERR_INVALID_ARG);
  return range_hash(out, get, arg, start, end);
}

int mg_tlog_root(uint8_t out[MG_TLOG_HASH_LEN], mg_tlog_get_fn get, void *arg,
                 uint64_t size) {
  return mg_tlog_range_hash(out, get, arg, 0, size);
}

/* Reverses out->hashes[first .. num_hashes). */
static void reverse_tail(mg_tlog_proof *p, size_t first) {
  size_t i = first;
  size_t j = p->num_hashes;
  uint8_t tmp[MG_TLOG_HASH_LEN];
  while (j > i + 1) {
    j--;
    memcpy(tmp, p->hashes[i], MG_TLOG_HASH_LEN);
    memcpy(p->hashes[i], p->hashes[j], MG_TLOG_HASH_LEN);
    memcpy(p->hashes[j], tmp, MG_TLOG_HASH_LEN);
    i++;
  }
}

int mg_tlog_prove_inclusion(mg_tlog_proof *out, mg_tlog_get_fn get, void *arg,
                            uint64_t index, uint64_t size) {
  uint64_t lo = 0;
  uint64_t hi = size;
  int rc = 0;

  MG_ENSURE_REF(out);
  out->num_hashes = 0;
  MG_ENSURE_REF(get);
  MG_ENSURE(index < size && size <= MG_TLOG_MAX_SIZE, MG_ERR_INVALID_ARG);
  /* RFC 9162 §2.1.3.1, unrolled from the top: each step adds the sibling
   * subtree's hash; the recursion emits them bottom-up, so reverse. */
  while (hi - lo > 1) {
    uint64_t k = split_point(hi - lo);
    if (out->num_hashes >= MG_TLOG_MAX_PROOF) {
      MG_FAIL(MG_ERR_INTERNAL);
    }
    if (index - lo < k) {
      MG_CHECK(range_hash(out->hashes[out->num_hashes], get, arg, lo + k, hi));
      hi = lo + k;
    } else {
      MG_CHECK(range_hash(out->hashes[out->num_hashes], get, arg, lo, lo + k));
      lo = lo + k;
    }
    out->num_hashes++;
  }
  reverse_tail(out, 0);
out:
  if (rc < 0) {
    out->num_hashes = 0;
  }
  return rc;
}

int mg_tlog_prove_consistency(mg_tlog_proof *out, mg_tlog_get_fn get,
                              void *arg, uint64_t size1, uint64_t size2) {
  uint64_t lo = 0;
  uint64_t hi = size2;
  uint64_t m = size1;
  int b = 1;
  int rc = 0;

  MG_ENSURE_REF(out);
  out->num_hashes = 0;
  MG_ENSURE_REF(get);
  MG_ENSURE(size1 <= size2 && size2 <= MG_TLOG_MAX_SIZE, MG_ERR_INVALID_ARG);
  if (size1 == 0 || size1 == size2) {
    return 0;
  }
  /* RFC 9162 §2.1.4.1 SUBPROOF(m, D[lo:hi], b), unrolled from the top. */
  while (m < hi) {
    uint64_t k = split_point(hi - lo);
    if (out->num_hashes >= MG_TLOG_MAX_PROOF - 1) {
      MG_FAIL(MG_ERR_INTERNAL);
    }
    if (m - lo <= k) {
      MG_CHECK(range_hash(out->hashes[out->num_hashes], get, arg, lo + k, hi));
      hi = lo + k;
    } else {
      MG_CHECK(range_hash(out->hashes[out->num_hashes], get, arg, lo, lo + k));
      lo = lo + k;
      b = 0;
    }
    out->num_hashes++;
  }
  /* m == hi: SUBPROOF(m, D[m], false) = {MTH(D[m])}, listed first. */
  reverse_tail(out, 0);
  if (!b) {
    memmove(out->hashes[1], out->hashes[0], out->num_hashes * MG_TLOG_HASH_LEN);
    MG_CHECK(range_hash(out->hashes[0], get, arg, lo, hi));
    out->num_hashes++;
  }
out:
  if (rc < 0) {
    out->num_hashes = 0;
  }
  return rc;
}

int mg_tlog_verify_inclusion(const uint8_t leaf_hash[MG_TLOG_HASH_LEN],
                             uint64_t index, uint64_t size,
                             const mg_tlog_proof *proof,
                             const uint8_t root[MG_TLOG_HASH_LEN]) {
  uint8_t r[MG_TLOG_HASH_LEN];
  uint64_t fn;
  uint64_t sn;

  MG_ENSURE(leaf_hash != NULL && proof != NULL && root != NULL,
            MG_ERR_INVALID_ARG);
  MG_ENSURE(size <= MG_TLOG_MAX_SIZE, MG_ERR_VERIFY);
  MG_ENSURE(proof->num_hashes <= MG_TLOG_MAX_PROOF, MG_ERR_VERIFY);
  /* RFC 9162 §2.1.3.2 */
  MG_ENSURE(index < size, MG_ERR_VERIFY);                      /* 1 */
  fn = index;                                                  /* 2 */
  sn = size - 1;
  memcpy(r, leaf_hash, MG_TLOG_HASH_LEN);                      /* 3 */
  for (size_t i = 0; i < proof->num_hashes; i++) {             /* 4 */
    const uint8_t *p = proof->hashes[i];
    MG_ENSURE(sn != 0, MG_ERR_VERIFY);                         /* 4a */
    if ((fn & 1) != 0 || fn == sn) {                           /* 4b */
      MG_GUARD(mg_tlog_node_hash(r, p, r));
      if ((fn & 1) == 0) {
        while ((fn & 1) == 0 && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      MG_GUARD(mg_tlog_node_hash(r, r, p));
    }
    fn >>= 1;                                                  /* 4c */
    sn >>= 1;
  }
  MG_ENSURE(sn == 0, MG_ERR_VERIFY);                           /* 5 */
  MG_ENSURE(mg_ct_memeq(r, root, MG_TLOG_HASH_LEN), MG_ERR_VERIFY);
  return 0;
}

int mg_tlog_verify_consistency(uint64_t size1, uint64_t size2,
                               const mg_tlog_proof *proof,
                               const uint8_t root1[MG_TLOG_HASH_LEN],
                               const uint8_t root2[MG_TLOG_HASH_LEN]) {
  uint8_t fr[MG_TLOG_HASH_LEN];
  uint8_t sr[MG_TLOG_HASH_LEN];
  const uint8_t *first;
  size_t next;
  uint64_t fn;
  uint64_t sn;

  MG_ENSURE(proof != NULL && root1 != NULL && root2 != NULL,
            MG_ERR_INVALID_ARG);
  MG_ENSURE(size1 <= size2 && size2 <= MG_TLOG_MAX_SIZE, MG_ERR_VERIFY);
  MG_ENSURE(proof->num_hashes <= MG_TLOG_MAX_PROOF, MG_ERR_VERIFY);
  if (size1 == size2) {
    MG_ENSURE(proof->num_hashes == 0, MG_ERR_VERIFY);
    MG_ENSURE(mg_ct_memeq(root1, root2, MG_TLOG_HASH_LEN), MG_ERR_VERIFY);
    return 0;
  }
  if (size1 == 0) {
    uint8_t empty[MG_TLOG_HASH_LEN];
    MG_ENSURE(proof->num_hashes == 0, MG_ERR_VERIFY);
    MG_GUARD(mg_tlog_empty_root(empty));
    MG_ENSURE(mg_ct_memeq(root1, empty, MG_TLOG_HASH_LEN), MG_ERR_VERIFY);
    return 0;
  }
  /* RFC 9162 §2.1.4.2 */
  MG_ENSURE(proof->num_hashes != 0, MG_ERR_VERIFY);            /* 1 */
  if (is_pow2(size1)) {                                        /* 2 */
    first = root1;
    next = 0;
  } else {
    first = proof->hashes[0];
    next = 1;
  }
  fn = size1 - 1;                                              /* 3 */
  sn = size2 - 1;
  while ((fn & 1) != 0) {                                      /* 4 */
    fn >>= 1;
    sn >>= 1;
  }
  memcpy(fr, first, MG_TLOG_HASH_LEN);                         /* 5 */
  memcpy(sr, first, MG_TLOG_HASH_LEN);
  for (size_t i = next; i < proof->num_hashes; i++) {          /* 6 */
    const uint8_t *c = proof->hashes[i];
    MG_ENSURE(sn != 0, MG_ERR_VERIFY);                         /* 6a */
    if ((fn & 1) != 0 || fn == sn) {                           /* 6b */
      MG_GUARD(mg_tlog_node_hash(fr, c, fr));
      MG_GUARD(mg_tlog_node_hash(sr, c, sr));
      if ((fn & 1) == 0) {
        while ((fn & 1) == 0 && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      MG_GUARD(mg_tlog_node_hash(sr, sr, c));
    }
    fn >>= 1;                                                  /* 6c */
    sn >>= 1;
  }
  /* 7 */
  MG_ENSURE(sn == 0, MG_ERR_VERIFY);
  MG_ENSURE(mg_ct_memeq(fr, root1, MG_TLOG_HASH_LEN), MG_ERR_VERIFY);
  MG_ENSURE(mg_ct_memeq(sr, root2, MG_TLOG_HASH_LEN), MG_ERR_VERIFY);
  return 0;
}

/* ------------------------------------------------------------ frontier */

void mg_tlog_frontier_init(mg_tlog_frontier *f) { memset(f, 0, sizeof(*f)); }

int mg_tlog_frontier_append(mg_tlog_frontier *f,
                            const uint8_t leaf_hash[MG_TLOG_HASH_LEN]) {
  uint8_t h[MG_TLOG_HASH_LEN];
  uint64_t n;
  size_t num;

  MG_ENSURE(f != NULL && leaf_hash != NULL, MG_ERR_INVALID_ARG);
  MG_ENSURE(f->size < MG_TLOG_MAX_SIZE, MG_ERR_CONFLICT);
  memcpy(h, leaf_hash, MG_TLOG_HASH_LEN);
  n = f->size;
  num = f->num_hashes;
  /* Each trailing one bit of the old size is a complete subtree of the
   * same size as the one being built: merge them. */
  while ((n & 1) != 0) {
    MG_ENSURE(num > 0, MG_ERR_INTERNAL);
    num--;
    MG_GUARD(mg_tlog_node_hash(h, f->hashes[num], h));
    n >>= 1;
  }
  MG_ENSURE(num < MG_TLOG_MAX_LEVELS, MG_ERR_INTERNAL);
  memcpy(f->hashes[num], h, MG_TLOG_HASH_LEN);
  f->num_hashes = num + 1;
  f->size++;
  return 0;
}

int mg_tlog_frontier_root(const mg_tlog_frontier *f,
                          uint8_t out[MG_TLOG_HASH_LEN]) {
  uint8_t acc[MG_TLOG_HASH_LEN];
  MG_ENSURE(f != NULL && out != NULL, MG_ERR_INVALID_ARG);
  if (f->num_hashes == 0) {
    return mg_tlog_empty_root(out);
  }
  /* The right edge folds right to left (RFC 9162 §2.1.1's split). */
  memcpy(acc, f->hashes[f->num_hashes - 1], MG_TLOG_HASH_LEN);
  for (size_t i = f->num_hashes - 1; i > 0; i--) {
    MG_GUARD(mg_tlog_node_hash(acc, f->hashes[i - 1], acc));
  }
  memcpy(out, acc, MG_TLOG_HASH_LEN);
  return 0;
}

int mg_tlog_frontier_load(mg_tlog_frontier *f, mg_tlog_get_fn get, void *arg,
                          uint64_t size) {
  mg_tlog_frontier tmp;
  uint64_t start = 0;

  MG_ENSURE(f != NULL && get != NULL, MG_ERR_INVALID_ARG);
  MG_ENSURE(size <= MG_TLOG_MAX_SIZE, MG_ERR_INVALID_ARG);
  mg_tlog_frontier_init(&tmp);
  for (int level = MG_TLOG_MAX_LEVELS - 1; level >= 0; level--) {
    uint64_t bit = (uint64_t)1 << level;
    if ((size & bit) != 0) {
      MG_GUARD(get(arg, (uint64_t)level, start >> level,
                   tmp.hashes[tmp.num_hashes]));
      tmp.num_hashes++;
      start += bit;
    }
  }
  tmp.size = size;
  *f = tmp;
  return 0;
}

static size_t popcount64(uint64_t v) {
  size_t c = 0;
  while (v != 0) {
    v &= v - 1;
    c++;
  }
  return c;
}

int mg_tlog_frontier_encode(mg_writer *w, const mg_tlog_frontier *f) {
  MG_ENSURE(w != NULL && f != NULL, MG_ERR_INVALID_ARG);
  MG_ENSURE(f->num_hashes == popcount64(f->size), MG_ERR_INVALID_ARG);
  MG_GUARD(mg_write_u64(w, f->size));
  for (size_t i = 0; i < f->num_hashes; i++) {
    MG_GUARD(mg_write_bytes(w, f->hashes[i], MG_TLOG_HASH_LEN));
  }
  return 0;
}

int mg_tlog_frontier_decode(mg_reader *r, mg_tlog_frontier *f) {
  mg_reader c;
  mg_tlog_frontier tmp;

  MG_ENSURE(r != NULL && f != NULL, MG_ERR_INVALID_ARG);
  c = *r;
  mg_tlog_frontier_init(&tmp);
  MG_GUARD(mg_read_u64(&c, &tmp.size));
  MG_ENSURE(tmp.size <= MG_TLOG_MAX_SIZE, MG_ERR_DECODE);
  tmp.num_hashes = popcount64(tmp.size);
  for (size_t i = 0; i < tmp.num_hashes; i++) {
    MG_GUARD(mg_read_copy(&c, tmp.hashes[i], MG_TLOG_HASH_LEN));
  }
  *r = c;
  *f = tmp;
  return 0;
}

/* ------------------------------------------------- in-memory tree */

void mg_tlog_memtree_init(mg_tlog_memtree *t) { memset(t, 0, sizeof(*t)); }

void mg_tlog_memtree_cleanup(mg_tlog_memtree *t) {
  if (t == NULL) {
    return;
  }
  for (size_t l = 0; l < MG_TLOG_MAX_LEVELS; l++) {
    free(t->levels[l]);
  }
  memset(t, 0, sizeof(*t));
}

/* Makes room for |count| hashes at |level|. */
static int memtree_reserve(mg_tlog_memtree *t, size_t level, uint64_t count) {
  uint64_t cap = t->caps[level];
  void *p;
  if (count <= cap) {
    return 0;
  }
  cap = cap == 0 ? 16 : cap;
  while (cap < count) {
    cap *= 2;
  }
  if (cap > SIZE_MAX / MG_TLOG_HASH_LEN) {
    return MG_ERR_NOMEM;
  }
  /* Public hashes only: realloc is fine here (design.md's rule is about
   * buffers that held secrets). */
  p = realloc(t->levels[level], (size_t)cap * MG_TLOG_HASH_LEN);
  if (p == NULL) {
    return MG_ERR_NOMEM;
  }
  t->levels[level] = p;
  t->caps[level] = cap;
  return 0;
}

int mg_tlog_memtree_append(mg_tlog_memtree *t,
                           const uint8_t leaf_hash[MG_TLOG_HASH_LEN]) {
  uint64_t n;

  MG_ENSURE(t != NULL && leaf_hash != NULL, MG_ERR_INVALID_ARG);
  MG_ENSURE(t->size < MG_TLOG_MAX_SIZE, MG_ERR_CONFLICT);
  n = t->size + 1;
  /* Reserve first so a failure leaves the tree as it was. */
  for (size_t l = 0; l < MG_TLOG_MAX_LEVELS && (n >> l) != 0; l++) {
    MG_GUARD(memtree_reserve(t, l, n >> l));
  }
  memcpy(t->levels[0][n - 1], leaf_hash, MG_TLOG_HASH_LEN);
  /* Level l + 1 gains a subtree whenever its count grows. */
  for (size_t l = 0; l + 1 < MG_TLOG_MAX_LEVELS; l++) {
    uint64_t j = n >> (l + 1);
    if (j == ((n - 1) >> (l + 1))) {
      break;
    }
    MG_GUARD(mg_tlog_node_hash(t->levels[l + 1][j - 1],
                               t->levels[l][2 * (j - 1)],
                               t->levels[l][2 * (j - 1) + 1]));
  }
  t->size = n;
  return 0;
}

int mg_tlog_memtree_get(void *arg, uint64_t level, uint64_t index,
                        uint8_t out[MG_TLOG_HASH_LEN]) {
  const mg_tlog_memtree *t = arg;
  MG_ENSURE(t != NULL && out != NULL, MG_ERR_INVALID_ARG);
  MG_ENSURE(level < MG_TLOG_MAX_LEVELS, MG_ERR_NOT_FOUND);
  MG_ENSURE(index < (t->size >> level), MG_ERR_NOT_FOUND);
  memcpy(out, t->levels[level][index], MG_TLOG_HASH_LEN);
  return 0;
}

/* Recomputes the complete subtree over leaves [start, start + 2^level). */
static int via_leaves(const mg_tlog_leaf_source *src, uint64_t level,
                      uint64_t start, uint8_t out[MG_TLOG_HASH_LEN]) {
  uint8_t left[MG_TLOG_HASH_LEN];
  uint8_t right[MG_TLOG_HASH_LEN];
  if (level == 0) {
    return src->get_leaf(src->arg, 0, start, out);
  }
  MG_GUARD(via_leaves(src, level - 1, start, left));
  MG_GUARD(via_leaves(src, level - 1, start + ((uint64_t)1 << (level - 1)),
                      right));
  return mg_tlog_node_hash(out, left, right);
}

int mg_tlog_get_via_leaves(void *arg, uint64_t level, uint64_t index,
                           uint8_t out[MG_TLOG_HASH_LEN]) {
  const mg_tlog_leaf_source *src = arg;
  MG_ENSURE(src != NULL && src->get_leaf != NULL && out != NULL,
            MG_ERR_INVALID_ARG);
  MG_ENSURE(level < MG_TLOG_MAX_LEVELS, MG_ERR_INVALID_ARG);
  MG_ENSURE(index < (MG_TLOG_MAX_SIZE >> level), MG_ERR_INVALID_ARG);
  return via_leaves(src, level, index << level, out);
}
