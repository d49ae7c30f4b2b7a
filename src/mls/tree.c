/* The in-memory ratchet tree (see tree.h; RFC 9420 §4, §7). */
#include "config.h"

#include "mls/tree.h"

#include <stdlib.h>
#include <string.h>

#include "common/guard.h"
#include "common/secmem.h"
#include "crypto/mls_crypto.h"
#include "mls/constants.h"

/* ------------------------------------------------------------- helpers */

static size_t tree_nh(const mls_tree *t) { return t->suite->hash->digest_len; }

uint32_t mls_tree_width(const mls_tree *t) {
  return t->n_leaves == 0 ? 0 : 2u * t->n_leaves - 1u;
}

static int node_blank(const mls_tree *t, uint32_t x) {
  return t->nodes[x].node_type == MLS_NODE_BLANK;
}

/* First leaf and number of leaves under node |x|. */
static void subtree_leaves(uint32_t x, uint32_t *first, uint32_t *count) {
  mls_node_idx n = {x};
  uint32_t k = mls_tm_level(n);
  *first = (x >> (k + 1u)) << k;
  *count = (uint32_t)1 << k;
}

static int leaf_in_subtree(uint32_t leaf, uint32_t x) {
  uint32_t first, count;
  subtree_leaves(x, &first, &count);
  return leaf >= first && leaf - first < count;
}

/* Marks node |x| and its ancestors stale in the hash cache. */
static void tree_invalidate(mls_tree *t, uint32_t x) {
  mls_node_idx cur = {x};
  for (;;) {
    t->th_ok[cur.v] = 0;
    if (mls_tm_parent(&cur, cur, t->n_leaves) != 0) {
      break;
    }
  }
}

/* Grows the three arrays to hold |n_leaves| leaves (new entries zeroed:
 * blank nodes, stale hashes).  Does not change t->n_leaves. */
static int tree_reserve(mls_tree *t, uint32_t n_leaves) {
  size_t nh = tree_nh(t);
  if (n_leaves <= t->cap_leaves) {
    return 0;
  }
  size_t old_w = t->cap_leaves == 0 ? 0 : 2u * (size_t)t->cap_leaves - 1u;
  size_t new_w = 2u * (size_t)n_leaves - 1u;
  MG_ENSURE(new_w <= MLS_MAX_TREE_NODES, MG_ERR_LENGTH);
  mls_node *nodes = realloc(t->nodes, new_w * sizeof(*nodes));
  if (nodes == NULL) {
    return MG_ERR_NOMEM;
  }
  t->nodes = nodes;
  memset(nodes + old_w, 0, (new_w - old_w) * sizeof(*nodes));
  uint8_t *th = realloc(t->th, new_w * nh);
  if (th == NULL) {
    return MG_ERR_NOMEM;
  }
  t->th = th;
  memset(th + old_w * nh, 0, (new_w - old_w) * nh);
  uint8_t *ok = realloc(t->th_ok, new_w);
  if (ok == NULL) {
    return MG_ERR_NOMEM;
  }
  t->th_ok = ok;
  memset(ok + old_w, 0, new_w - old_w);
  t->cap_leaves = n_leaves;
  return 0;
}

void mls_tree_zero(mls_tree *t) { memset(t, 0, sizeof(*t)); }

void mls_tree_cleanup(mls_tree *t) {
  if (t == NULL) {
    return;
  }
  if (t->nodes != NULL) {
    uint32_t w = t->cap_leaves == 0 ? 0 : 2u * t->cap_leaves - 1u;
    for (uint32_t i = 0; i < w; i++) {
      mls_node_cleanup(&t->nodes[i]);
    }
  }
  free(t->nodes);
  free(t->th);
  free(t->th_ok);
  mls_tree_zero(t);
}

int mls_tree_init_one(mls_tree *t, const mls_suite *suite,
                      const mls_leaf_node *leaf) {
  int rc;
  MG_ENSURE(t != NULL && suite != NULL && leaf != NULL, MG_ERR_INVALID_ARG);
  mls_tree_zero(t);
  t->suite = suite;
  MG_CHECK(tree_reserve(t, 1));
  MG_CHECK(mls_leaf_node_copy(&t->nodes[0].u.leaf, leaf));
  t->nodes[0].node_type = MLS_NODE_LEAF;
  t->n_leaves = 1;
  return 0;
out:
  mls_tree_cleanup(t);
  return rc;
}

int mls_tree_from_ratchet_tree(mls_tree *t, const mls_suite *suite,
                               mls_ratchet_tree *rt) {
  int rc;
  MG_ENSURE(t != NULL && suite != NULL && rt != NULL, MG_ERR_INVALID_ARG);
  mls_tree_zero(t);
  MG_ENSURE(rt->n > 0 && (rt->n & 1u) == 1u, MG_ERR_TREE_INVALID);
  MG_ENSURE(rt->n <= MLS_MAX_TREE_NODES, MG_ERR_LENGTH);
  t->suite = suite;
  uint32_t n_leaves = mls_ratchet_tree_num_leaves(rt);
  MG_ENSURE(n_leaves > 0 && (size_t)2 * n_leaves - 1 >= rt->n,
            MG_ERR_TREE_INVALID);
  rc = tree_reserve(t, n_leaves);
  if (rc < 0) {
    free(t->nodes);
    free(t->th);
    free(t->th_ok);
    mls_tree_zero(t);
    return rc;
  }
  /* Shallow move; undone below if the checks fail. */
  memcpy(t->nodes, rt->nodes, rt->n * sizeof(*t->nodes));
  t->n_leaves = n_leaves;
  rc = mls_tree_check_structure(t);
  if (rc < 0) {
    free(t->nodes);
    free(t->th);
    free(t->th_ok);
    mls_tree_zero(t);
    return rc;
  }
  free(rt->nodes);
  rt->nodes = NULL;
  rt->n = 0;
  return 0;
}

int mls_tree_decode(mls_tree *t, const mls_suite *suite, const uint8_t *buf,
                    size_t len) {
  mg_reader r;
  mls_ratchet_tree rt = {0};
  int rc;
  MG_ENSURE(t != NULL && suite != NULL && (buf != NULL || len == 0),
            MG_ERR_INVALID_ARG);
  mls_tree_zero(t);
  mg_reader_init(&r, buf, len);
  MG_CHECK(mls_ratchet_tree_decode(&r, &rt));
  MG_CHECK(mg_reader_done(&r));
  MG_CHECK(mls_tree_from_ratchet_tree(t, suite, &rt));
out:
  mls_ratchet_tree_cleanup(&rt);
  return rc;
}

int mls_tree_encode(mg_writer *w, const mls_tree *t) {
  MG_ENSURE(t != NULL && t->n_leaves > 0, MG_ERR_INVALID_ARG);
  mls_ratchet_tree rt;
  rt.nodes = t->nodes;
  rt.n = mls_tree_width(t);
  return mls_ratchet_tree_encode(w, &rt);
}

int mls_tree_copy(mls_tree *out, const mls_tree *in) {
  int rc;
  MG_ENSURE(out != NULL && in != NULL && in->n_leaves > 0, MG_ERR_INVALID_ARG);
  mls_tree_zero(out);
  out->suite = in->suite;
  MG_CHECK(tree_reserve(out, in->n_leaves));
  uint32_t w = mls_tree_width(in);
  for (uint32_t i = 0; i < w; i++) {
    MG_CHECK(mls_node_copy(&out->nodes[i], &in->nodes[i]));
  }
  memcpy(out->th, in->th, (size_t)w * tree_nh(in));
  memcpy(out->th_ok, in->th_ok, w);
  out->n_leaves = in->n_leaves;
  return 0;
out:
  mls_tree_cleanup(out);
  return rc;
}

const mls_node *mls_tree_node(const mls_tree *t, mls_node_idx x) {
  if (t == NULL || x.v >= mls_tree_width(t) || node_blank(t, x.v)) {
    return NULL;
  }
  return &t->nodes[x.v];
}

const mls_leaf_node *mls_tree_leaf(const mls_tree *t, mls_leaf_idx l) {
  if (t == NULL || l.v >= t->n_leaves) {
    return NULL;
  }
  const mls_node *n = mls_tree_node(t, mls_tm_leaf_to_node(l));
  return n == NULL ? NULL : &n->u.leaf;
}

/* ---------------------------------------------------------- resolution */

static int res_rec(const mls_tree *t, uint32_t x, mls_node_idx *out,
                   size_t cap, size_t *n) {
  const mls_node *node = &t->nodes[x];
  if (node->node_type != MLS_NODE_BLANK) {
    MG_ENSURE(*n < cap, MG_ERR_BUFFER_TOO_SMALL);
    out[(*n)++].v = x;
    if (node->node_type == MLS_NODE_PARENT) {
      const mls_parent_node *p = &node->u.parent;
      for (size_t i = 0; i < p->num_unmerged_leaves; i++) {
        MG_ENSURE(*n < cap, MG_ERR_BUFFER_TOO_SMALL);
        out[(*n)++].v = 2u * p->unmerged_leaves[i];
      }
    }
    return 0;
  }
  if ((x & 1u) == 0) {
    return 0;
  }
  mls_node_idx xi = {x}, l, r;
  MG_GUARD(mls_tm_left(&l, xi));
  MG_GUARD(mls_tm_right(&r, xi));
  MG_GUARD(res_rec(t, l.v, out, cap, n));
  return res_rec(t, r.v, out, cap, n);
}

int mls_tree_resolution(const mls_tree *t, mls_node_idx x, mls_node_idx *out,
                        size_t cap, size_t *out_n) {
  MG_ENSURE(t != NULL && out_n != NULL && (out != NULL || cap == 0),
            MG_ERR_INVALID_ARG);
  MG_ENSURE(x.v < mls_tree_width(t), MG_ERR_INVALID_ARG);
  size_t n = 0;
  MG_GUARD(res_rec(t, x.v, out, cap, &n));
  *out_n = n;
  return 0;
}

/* Returns 1 if the subtree under |x| has a non-blank leaf (equivalently, in
 * a well-formed tree, a non-empty resolution). */
static int subtree_has_member(const mls_tree *t, uint32_t x) {
  uint32_t first, count;
  subtree_leaves(x, &first, &count);
  for (uint32_t i = 0; i < count; i++) {
    if (!node_blank(t, 2u * (first + i))) {
      return 1;
    }
  }
  return 0;
}

int mls_tree_filtered_direct_path(const mls_tree *t, mls_leaf_idx l,
                                  mls_node_idx *out, mls_node_idx *out_copath,
                                  uint32_t *out_n) {
  mls_node_idx dp[MLS_TREE_MAX_DEPTH], cp[MLS_TREE_MAX_DEPTH];
  uint32_t n_dp = 0, n_cp = 0, k = 0;
  MG_ENSURE(t != NULL && out != NULL && out_n != NULL && l.v < t->n_leaves,
            MG_ERR_INVALID_ARG);
  mls_node_idx x = mls_tm_leaf_to_node(l);
  MG_GUARD(mls_tm_direct_path(dp, &n_dp, MLS_TREE_MAX_DEPTH, x, t->n_leaves));
  MG_GUARD(mls_tm_copath(cp, &n_cp, MLS_TREE_MAX_DEPTH, x, t->n_leaves));
  MG_ENSURE(n_dp == n_cp, MG_ERR_INTERNAL);
  for (uint32_t i = 0; i < n_dp; i++) {
    /* RFC 9420 §4.1.2: keep the node if its copath child's resolution is
     * non-empty (unmerged leaves are non-blank leaves, so they count). */
    if (subtree_has_member(t, cp[i].v)) {
      out[k] = dp[i];
      if (out_copath != NULL) {
        out_copath[k] = cp[i];
      }
      k++;
    }
  }
  *out_n = k;
  return 0;
}

/* ---------------------------------------------------------- tree hash */

/* RFC 9420 §7.8
 *   struct { uint32 leaf_index; optional<LeafNode> leaf_node; }
 *     LeafNodeHashInput;
 *   struct { optional<ParentNode> parent_node; opaque left_hash<V>;
 *            opaque right_hash<V>; } ParentNodeHashInput;
 *   struct { NodeType node_type; select (...) {...}; } TreeHashInput;
 */
static int hash_writer(const mls_tree *t, mg_writer *w, uint8_t *out) {
  int rc = mg_writer_error(w);
  if (rc < 0) {
    return rc;
  }
  return t->suite->hash->digest(t->suite->hash, out, mg_writer_data(w),
                                mg_writer_len(w));
}

static int leaf_hash_input(mg_writer *w, uint32_t leaf_index,
                           const mls_leaf_node *ln) {
  int rc = 0;
  rc |= mg_write_u8(w, MLS_NODE_LEAF);
  rc |= mg_write_u32(w, leaf_index);
  rc |= mg_write_optional(w, ln != NULL);
  if (ln != NULL) {
    MG_GUARD(mls_leaf_node_encode(w, ln));
  }
  return rc < 0 ? mg_writer_error(w) : 0;
}

static int parent_hash_input(mg_writer *w, const mls_parent_node *p,
                             const uint8_t *lh, const uint8_t *rh, size_t nh) {
  int rc = 0;
  rc |= mg_write_u8(w, MLS_NODE_PARENT);
  rc |= mg_write_optional(w, p != NULL);
  if (p != NULL) {
    MG_GUARD(mls_parent_node_encode(w, p));
  }
  rc |= mg_write_opaque(w, lh, nh);
  rc |= mg_write_opaque(w, rh, nh);
  return rc < 0 ? mg_writer_error(w) : 0;
}

static int th_compute(mls_tree *t, uint32_t x) {
  size_t nh = tree_nh(t);
  mg_writer w;
  int rc;
  if (t->th_ok[x]) {
    return 0;
  }
  const mls_node *node = &t->nodes[x];
  if ((x & 1u) == 0) {
    MG_GUARD(mg_writer_init(&w, 256, 0));
    MG_CHECK(leaf_hash_input(&w, x / 2u,
                             node->node_type == MLS_NODE_LEAF ? &node->u.leaf
                                                              : NULL));
  } else {
    mls_node_idx xi = {x}, l, r;
    MG_GUARD(mls_tm_left(&l, xi));
    MG_GUARD(mls_tm_right(&r, xi));
    MG_GUARD(th_compute(t, l.v));
    MG_GUARD(th_compute(t, r.v));
    MG_GUARD(mg_writer_init(&w, 128, 0));
    MG_CHECK(parent_hash_input(
        &w, node->node_type == MLS_NODE_PARENT ? &node->u.parent : NULL,
        t->th + (size_t)l.v * nh, t->th + (size_t)r.v * nh, nh));
  }
  MG_CHECK(hash_writer(t, &w, t->th + (size_t)x * nh));
  t->th_ok[x] = 1;
out:
  mg_writer_cleanup(&w);
  return rc;
}

int mls_tree_node_hash(mls_tree *t, mls_node_idx x, uint8_t *out, size_t cap,
                       size_t *out_len) {
  MG_ENSURE(t != NULL && out != NULL && out_len != NULL, MG_ERR_INVALID_ARG);
  MG_ENSURE(x.v < mls_tree_width(t), MG_ERR_INVALID_ARG);
  size_t nh = tree_nh(t);
  MG_ENSURE(cap >= nh, MG_ERR_BUFFER_TOO_SMALL);
  MG_GUARD(th_compute(t, x.v));
  memcpy(out, t->th + (size_t)x.v * nh, nh);
  *out_len = nh;
  return 0;
}

int mls_tree_hash(mls_tree *t, uint8_t *out, size_t cap, size_t *out_len) {
  MG_ENSURE(t != NULL && t->n_leaves > 0, MG_ERR_INVALID_ARG);
  return mls_tree_node_hash(t, mls_tm_root(t->n_leaves), out, cap, out_len);
}

static int sorted_contains(const uint32_t *v, size_t n, uint32_t x) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (v[mid] == x) {
      return 1;
    }
    if (v[mid] < x) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return 0;
}

/* Tree hash of |x| with the leaves |excl| (sorted) blanked and removed from
 * every unmerged_leaves list (the original sibling tree hash of §7.9). */
static int th_excluding(mls_tree *t, uint32_t x, const uint32_t *excl,
                        size_t n_excl, uint8_t *out) {
  size_t nh = tree_nh(t);
  int any = 0, rc;
  mg_writer w;
  for (size_t i = 0; i < n_excl && !any; i++) {
    any = leaf_in_subtree(excl[i], x);
  }
  if (!any) {
    MG_GUARD(th_compute(t, x));
    memcpy(out, t->th + (size_t)x * nh, nh);
    return 0;
  }
  if ((x & 1u) == 0) {
    MG_GUARD(mg_writer_init(&w, 16, 0));
    MG_CHECK(leaf_hash_input(&w, x / 2u, NULL));
    MG_CHECK(hash_writer(t, &w, out));
    goto out;
  }
  uint8_t lh[MG_MAX_HASH_LEN], rh[MG_MAX_HASH_LEN];
  mls_node_idx xi = {x}, l, r;
  MG_GUARD(mls_tm_left(&l, xi));
  MG_GUARD(mls_tm_right(&r, xi));
  MG_GUARD(th_excluding(t, l.v, excl, n_excl, lh));
  MG_GUARD(th_excluding(t, r.v, excl, n_excl, rh));
  const mls_node *node = &t->nodes[x];
  mls_parent_node tmp;
  uint32_t *kept = NULL;
  memset(&tmp, 0, sizeof(tmp));
  if (node->node_type == MLS_NODE_PARENT) {
    const mls_parent_node *p = &node->u.parent;
    tmp = *p;
    if (p->num_unmerged_leaves > 0) {
      kept = malloc(p->num_unmerged_leaves * sizeof(*kept));
      if (kept == NULL) {
        return MG_ERR_NOMEM;
      }
    }
    tmp.unmerged_leaves = kept;
    tmp.num_unmerged_leaves = 0;
    for (size_t i = 0; i < p->num_unmerged_leaves; i++) {
      if (!sorted_contains(excl, n_excl, p->unmerged_leaves[i])) {
        kept[tmp.num_unmerged_leaves++] = p->unmerged_leaves[i];
      }
    }
    if (tmp.num_unmerged_leaves == 0) {
      tmp.unmerged_leaves = NULL;
    }
  }
  rc = mg_writer_init(&w, 128, 0);
  if (rc < 0) {
    free(kept);
    return rc;
  }
  rc = parent_hash_input(&w, node->node_type == MLS_NODE_PARENT ? &tmp : NULL,
                         lh, rh, nh);
  free(kept);
  MG_CHECK(rc);
  MG_CHECK(hash_writer(t, &w, out));
out:
  mg_writer_cleanup(&w);
  return rc;
}

/* -------------------------------------------------------- parent hash */

/* RFC 9420 §7.9
 *   struct {
 *       HPKEPublicKey encryption_key;
 *       opaque parent_hash<V>;
 *       opaque original_sibling_tree_hash<V>;
 *   } ParentHashInput;
 */
static int parent_hash_raw(const mls_tree *t, const mls_parent_node *p,
                           const uint8_t *osth, uint8_t *out) {
  size_t nh = tree_nh(t);
  mg_writer w;
  int rc;
  MG_GUARD(mg_writer_init(&w, 256, 0));
  rc = mls_bytes_write(&w, &p->encryption_key);
  if (rc == 0) {
    rc = mls_bytes_write(&w, &p->parent_hash);
  }
  if (rc == 0) {
    rc = mg_write_opaque(&w, osth, nh);
  }
  if (rc == 0) {
    rc = hash_writer(t, &w, out);
  }
  mg_writer_cleanup(&w);
  return rc;
}

int mls_tree_parent_hash(mls_tree *t, mls_node_idx p, mls_node_idx s,
                         uint8_t *out, size_t cap, size_t *out_len) {
  MG_ENSURE(t != NULL && out != NULL && out_len != NULL, MG_ERR_INVALID_ARG);
  MG_ENSURE(p.v < mls_tree_width(t) &&
                t->nodes[p.v].node_type == MLS_NODE_PARENT,
            MG_ERR_INVALID_ARG);
  mls_node_idx l, r;
  MG_GUARD(mls_tm_left(&l, p));
  MG_GUARD(mls_tm_right(&r, p));
  MG_ENSURE(s.v == l.v || s.v == r.v, MG_ERR_INVALID_ARG);
  size_t nh = tree_nh(t);
  MG_ENSURE(cap >= nh, MG_ERR_BUFFER_TOO_SMALL);
  const mls_parent_node *pn = &t->nodes[p.v].u.parent;
  uint8_t osth[MG_MAX_HASH_LEN];
  /* unmerged_leaves is sorted (checked by mls_tree_check_structure). */
  MG_GUARD(th_excluding(t, s.v, pn->unmerged_leaves, pn->num_unmerged_leaves,
                        osth));
  MG_GUARD(parent_hash_raw(t, pn, osth, out));
  *out_len = nh;
  return 0;
}

/* The parent_hash field of node |x|, or NULL if it has none (blank, or a
 * leaf whose source is not commit). */
static const mls_bytes *node_parent_hash_field(const mls_tree *t, uint32_t x) {
  const mls_node *n = &t->nodes[x];
  if (n->node_type == MLS_NODE_PARENT) {
    return &n->u.parent.parent_hash;
  }
  if (n->node_type == MLS_NODE_LEAF &&
      n->u.leaf.leaf_node_source == MLS_LEAF_SOURCE_COMMIT) {
    return &n->u.leaf.parent_hash;
  }
  return NULL;
}

/* Counts the descendants D in res(c) for which P (= |p|) is parent-hash
 * valid with copath child |s| (RFC 9420 §7.9.2). */
static int count_valid_descendants(mls_tree *t, mls_node_idx p,
                                   mls_node_idx c, mls_node_idx s,
                                   mls_node_idx *res, size_t *count) {
  uint8_t ph[MG_MAX_HASH_LEN];
  size_t ph_len, n_res;
  const mls_parent_node *pn = &t->nodes[p.v].u.parent;
  *count = 0;
  MG_GUARD(mls_tree_parent_hash(t, p, s, ph, sizeof(ph), &ph_len));
  MG_GUARD(mls_tree_resolution(t, c, res, t->n_leaves, &n_res));
  /* P's unmerged leaves under C. */
  size_t n_um = 0;
  for (size_t i = 0; i < pn->num_unmerged_leaves; i++) {
    if (leaf_in_subtree(pn->unmerged_leaves[i], c.v)) {
      n_um++;
    }
  }
  for (size_t d = 0; d < n_res; d++) {
    const mls_bytes *f = node_parent_hash_field(t, res[d].v);
    if (f == NULL || f->len != ph_len || memcmp(f->data, ph, ph_len) != 0) {
      continue;
    }
    /* res(C) \ {D} must equal P.unmerged_leaves ∩ subtree(C). */
    if (n_res - 1 != n_um) {
      continue;
    }
    int ok = 1;
    for (size_t j = 0; j < n_res && ok; j++) {
      if (j == d) {
        continue;
      }
      ok = (res[j].v & 1u) == 0 &&
           sorted_contains(pn->unmerged_leaves, pn->num_unmerged_leaves,
                           res[j].v / 2u);
    }
    if (ok) {
      (*count)++;
    }
  }
  return 0;
}

int mls_tree_verify_parent_hashes(mls_tree *t) {
  int rc = 0;
  MG_ENSURE(t != NULL && t->n_leaves > 0, MG_ERR_INVALID_ARG);
  mls_node_idx *res = malloc((size_t)t->n_leaves * sizeof(*res));
  if (res == NULL) {
    return MG_ERR_NOMEM;
  }
  uint32_t w = mls_tree_width(t);
  for (uint32_t x = 1; x < w; x += 2) {
    if (t->nodes[x].node_type != MLS_NODE_PARENT) {
      continue;
    }
    mls_node_idx p = {x}, l, r;
    size_t nl = 0, nr = 0;
    MG_CHECK(mls_tm_left(&l, p));
    MG_CHECK(mls_tm_right(&r, p));
    MG_CHECK(count_valid_descendants(t, p, l, r, res, &nl));
    MG_CHECK(count_valid_descendants(t, p, r, l, res, &nr));
    if (nl + nr != 1) {
      MG_FAIL(MG_ERR_PARENT_HASH);
    }
  }
out:
  free(res);
  return rc;
}

/* ------------------------------------------------------ other checks */

int mls_tree_verify_leaf_signatures(const mls_tree *t, const uint8_t *group_id,
                                    size_t group_id_len) {
  MG_ENSURE(t != NULL && (group_id != NULL || group_id_len == 0),
            MG_ERR_INVALID_ARG);
  for (uint32_t l = 0; l < t->n_leaves; l++) {
    const mls_node *n = &t->nodes[2u * l];
    if (n->node_type != MLS_NODE_LEAF) {
      continue;
    }
    int rc = mls_leaf_node_verify(t->suite, &n->u.leaf, group_id, group_id_len,
                                  l);
    if (rc == MG_ERR_VERIFY || rc == MG_ERR_BAD_KEY) {
      rc = MG_ERR_LEAF_SIGNATURE;
    }
    MG_GUARD(rc);
  }
  return 0;
}

int mls_tree_check_structure(const mls_tree *t) {
  MG_ENSURE(t != NULL && t->n_leaves > 0, MG_ERR_INVALID_ARG);
  uint32_t w = mls_tree_width(t);
  for (uint32_t x = 0; x < w; x++) {
    uint8_t ty = t->nodes[x].node_type;
    if (ty == MLS_NODE_BLANK) {
      continue;
    }
    MG_ENSURE(ty == ((x & 1u) ? MLS_NODE_PARENT : MLS_NODE_LEAF),
              MG_ERR_TREE_INVALID);
    if (ty != MLS_NODE_PARENT) {
      continue;
    }
    const mls_parent_node *p = &t->nodes[x].u.parent;
    for (size_t i = 0; i < p->num_unmerged_leaves; i++) {
      uint32_t l = p->unmerged_leaves[i];
      /* §7.1: sorted in increasing order (and so no duplicates). */
      MG_ENSURE(i == 0 || p->unmerged_leaves[i - 1] < l, MG_ERR_TREE_INVALID);
      /* §12.4.3.1: a non-blank leaf below P ... */
      MG_ENSURE(l < t->n_leaves && leaf_in_subtree(l, x) &&
                    !node_blank(t, 2u * l),
                MG_ERR_TREE_INVALID);
      /* ... listed by every non-blank parent between it and P. */
      mls_node_idx cur = {2u * l};
      for (;;) {
        MG_ENSURE(mls_tm_parent(&cur, cur, t->n_leaves) == 0,
                  MG_ERR_TREE_INVALID);
        if (cur.v == x) {
          break;
        }
        const mls_node *mid = &t->nodes[cur.v];
        if (mid->node_type == MLS_NODE_PARENT &&
            !sorted_contains(mid->u.parent.unmerged_leaves,
                             mid->u.parent.num_unmerged_leaves, l)) {
          return MG_ERR_TREE_INVALID;
        }
      }
    }
  }
  return 0;
}

static int cmp_bytes_ptr(const void *a, const void *b) {
  const mls_bytes *x = *(const mls_bytes *const *)a;
  const mls_bytes *y = *(const mls_bytes *const *)b;
  if (x->len != y->len) {
    return x->len < y->len ? -1 : 1;
  }
  if (x->len == 0) {
    return 0;
  }
  return memcmp(x->data, y->data, x->len);
}

static int check_unique(const mls_bytes **v, size_t n) {
  if (n < 2) {
    return 0;
  }
  qsort(v, n, sizeof(*v), cmp_bytes_ptr);
  for (size_t i = 1; i < n; i++) {
    if (cmp_bytes_ptr(&v[i - 1], &v[i]) == 0) {
      return MG_ERR_DUPLICATE_KEY;
    }
  }
  return 0;
}

int mls_tree_check_unique_keys(const mls_tree *t) {
  int rc;
  MG_ENSURE(t != NULL && t->n_leaves > 0, MG_ERR_INVALID_ARG);
  uint32_t w = mls_tree_width(t);
  const mls_bytes **v = malloc((size_t)w * sizeof(*v));
  if (v == NULL) {
    return MG_ERR_NOMEM;
  }
  size_t n = 0;
  for (uint32_t x = 0; x < w; x++) {
    const mls_node *nd = &t->nodes[x];
    if (nd->node_type == MLS_NODE_LEAF) {
      v[n++] = &nd->u.leaf.encryption_key;
    } else if (nd->node_type == MLS_NODE_PARENT) {
      v[n++] = &nd->u.parent.encryption_key;
    }
  }
  MG_CHECK(check_unique(v, n));
  n = 0;
  for (uint32_t l = 0; l < t->n_leaves; l++) {
    const mls_node *nd = &t->nodes[2u * l];
    if (nd->node_type == MLS_NODE_LEAF) {
      v[n++] = &nd->u.leaf.signature_key;
    }
  }
  MG_CHECK(check_unique(v, n));
out:
  free(v);
  return rc;
}

int mls_tree_validate(mls_tree *t, const uint8_t *group_id,
                      size_t group_id_len) {
  MG_GUARD(mls_tree_check_structure(t));
  MG_GUARD(mls_tree_check_unique_keys(t));
  MG_GUARD(mls_tree_verify_parent_hashes(t));
  return mls_tree_verify_leaf_signatures(t, group_id, group_id_len);
}

int mls_tree_find_leaf(const mls_tree *t, mls_leaf_idx *out, const uint8_t *key,
                       size_t key_len) {
  MG_ENSURE(t != NULL && out != NULL && (key != NULL || key_len == 0),
            MG_ERR_INVALID_ARG);
  for (uint32_t l = 0; l < t->n_leaves; l++) {
    const mls_node *nd = &t->nodes[2u * l];
    if (nd->node_type == MLS_NODE_LEAF &&
        nd->u.leaf.encryption_key.len == key_len &&
        (key_len == 0 || memcmp(nd->u.leaf.encryption_key.data, key, key_len) == 0)) {
      out->v = l;
      return 0;
    }
  }
  return MG_ERR_NOT_FOUND;
}

/* ----------------------------------------------------------- changes */

int mls_tree_blank_path(mls_tree *t, mls_leaf_idx l) {
  MG_ENSURE(t != NULL && l.v < t->n_leaves, MG_ERR_INVALID_ARG);
  mls_node_idx cur = mls_tm_leaf_to_node(l);
  t->th_ok[cur.v] = 0;
  while (mls_tm_parent(&cur, cur, t->n_leaves) == 0) {
    mls_node_cleanup(&t->nodes[cur.v]);
    t->th_ok[cur.v] = 0;
  }
  return 0;
}

int mls_tree_set_node(mls_tree *t, mls_node_idx x, mls_node *node) {
  MG_ENSURE(t != NULL && node != NULL && x.v < mls_tree_width(t),
            MG_ERR_INVALID_ARG);
  MG_ENSURE(node->node_type == MLS_NODE_BLANK ||
                node->node_type == ((x.v & 1u) ? MLS_NODE_PARENT : MLS_NODE_LEAF),
            MG_ERR_INVALID_ARG);
  mls_node_cleanup(&t->nodes[x.v]);
  t->nodes[x.v] = *node;
  memset(node, 0, sizeof(*node));
  tree_invalidate(t, x.v);
  return 0;
}

void mls_tree_swap_node(mls_tree *t, mls_node_idx x, mls_node *node) {
  if (t == NULL || node == NULL || x.v >= mls_tree_width(t) ||
      (node->node_type != MLS_NODE_BLANK &&
       node->node_type != ((x.v & 1u) ? MLS_NODE_PARENT : MLS_NODE_LEAF))) {
    return;
  }
  mls_node tmp = t->nodes[x.v];
  t->nodes[x.v] = *node;
  *node = tmp;
  tree_invalidate(t, x.v);
}

void mls_tree_invalidate(mls_tree *t, mls_node_idx x) {
  if (t != NULL && x.v < mls_tree_width(t)) {
    tree_invalidate(t, x.v);
  }
}

/* Doubles the tree: the old tree becomes the left subtree of a new blank
 * root, with an all-blank right subtree (RFC 9420 §7.7). */
static int tree_extend(mls_tree *t) {
  MG_ENSURE(t->n_leaves <= MLS_TM_MAX_LEAVES / 2, MG_ERR_LENGTH);
  uint32_t n = t->n_leaves * 2u;
  MG_GUARD(tree_reserve(t, n));
  uint32_t old_w = mls_tree_width(t), new_w = 2u * n - 1u;
  for (uint32_t x = old_w; x < new_w; x++) {
    mls_node_cleanup(&t->nodes[x]);
    t->th_ok[x] = 0;
  }
  t->n_leaves = n;
  return 0;
}

void mls_tree_truncate(mls_tree *t) {
  if (t == NULL || t->n_leaves == 0) {
    return;
  }
  uint32_t last = 0;
  int found = 0;
  for (uint32_t l = t->n_leaves; l-- > 0;) {
    if (!node_blank(t, 2u * l)) {
      last = l;
      found = 1;
      break;
    }
  }
  uint32_t target = 1;
  while (found && target <= last) {
    target *= 2u;
  }
  while (t->n_leaves > target) {
    uint32_t old_w = mls_tree_width(t);
    t->n_leaves /= 2u;
    for (uint32_t x = mls_tree_width(t); x < old_w; x++) {
      mls_node_cleanup(&t->nodes[x]);
      t->th_ok[x] = 0;
    }
  }
}

static int insert_sorted_u32(const mls_parent_node *p, uint32_t v,
                             uint32_t **out) {
  size_t n = p->num_unmerged_leaves;
  uint32_t *a = malloc((n + 1) * sizeof(*a));
  if (a == NULL) {
    return MG_ERR_NOMEM;
  }
  size_t k = 0, i = 0;
  while (i < n && p->unmerged_leaves[i] < v) {
    a[k++] = p->unmerged_leaves[i++];
  }
  a[k++] = v;
  while (i < n) {
    a[k++] = p->unmerged_leaves[i++];
  }
  *out = a;
  return 0;
}

int mls_tree_add_leaf(mls_tree *t, mls_leaf_idx *out,
                      const mls_leaf_node *leaf) {
  mls_node nn;
  uint32_t *um[MLS_TREE_MAX_DEPTH] = {0};
  mls_node_idx dp[MLS_TREE_MAX_DEPTH];
  uint32_t n_dp = 0, target = 0, n_leaves;
  int rc, found = 0;
  MG_ENSURE(t != NULL && out != NULL && leaf != NULL && t->n_leaves > 0,
            MG_ERR_INVALID_ARG);
  memset(&nn, 0, sizeof(nn));
  for (uint32_t l = 0; l < t->n_leaves; l++) {
    if (node_blank(t, 2u * l)) {
      target = l;
      found = 1;
      break;
    }
  }
  n_leaves = t->n_leaves;
  if (!found) {
    MG_ENSURE(t->n_leaves <= MLS_TM_MAX_LEAVES / 2, MG_ERR_LENGTH);
    target = t->n_leaves;
    n_leaves = t->n_leaves * 2u;
    MG_GUARD(tree_reserve(t, n_leaves));
  }
  MG_CHECK(mls_leaf_node_copy(&nn.u.leaf, leaf));
  nn.node_type = MLS_NODE_LEAF;
  /* In an extended tree every parent above the new leaf is blank. */
  if (found) {
    mls_node_idx x = {2u * target};
    MG_CHECK(mls_tm_direct_path(dp, &n_dp, MLS_TREE_MAX_DEPTH, x, n_leaves));
    for (uint32_t i = 0; i < n_dp; i++) {
      if (t->nodes[dp[i].v].node_type == MLS_NODE_PARENT) {
        MG_CHECK(insert_sorted_u32(&t->nodes[dp[i].v].u.parent, target, &um[i]));
      }
    }
  }
  /* Nothing fails from here on. */
  if (!found) {
    rc = tree_extend(t);
    if (rc < 0) {
      goto out;
    }
  }
  for (uint32_t i = 0; i < n_dp; i++) {
    if (um[i] != NULL) {
      mls_parent_node *p = &t->nodes[dp[i].v].u.parent;
      free(p->unmerged_leaves);
      p->unmerged_leaves = um[i];
      p->num_unmerged_leaves++;
      um[i] = NULL;
    }
  }
  mls_node_idx x = {2u * target};
  rc = mls_tree_set_node(t, x, &nn);
  if (rc < 0) {
    goto out;
  }
  out->v = target;
  rc = 0;
out:
  for (uint32_t i = 0; i < MLS_TREE_MAX_DEPTH; i++) {
    free(um[i]);
  }
  mls_node_cleanup(&nn);
  return rc;
}

int mls_tree_update_leaf(mls_tree *t, mls_leaf_idx l,
                         const mls_leaf_node *leaf) {
  mls_node nn;
  MG_ENSURE(t != NULL && leaf != NULL, MG_ERR_INVALID_ARG);
  MG_ENSURE(mls_tree_leaf(t, l) != NULL, MG_ERR_NOT_FOUND);
  memset(&nn, 0, sizeof(nn));
  MG_GUARD(mls_leaf_node_copy(&nn.u.leaf, leaf));
  nn.node_type = MLS_NODE_LEAF;
  MG_GUARD(mls_tree_blank_path(t, l));
  return mls_tree_set_node(t, mls_tm_leaf_to_node(l), &nn);
}

int mls_tree_remove_leaf(mls_tree *t, mls_leaf_idx l) {
  MG_ENSURE(t != NULL, MG_ERR_INVALID_ARG);
  MG_ENSURE(mls_tree_leaf(t, l) != NULL, MG_ERR_NOT_FOUND);
  mls_node blank;
  memset(&blank, 0, sizeof(blank));
  MG_GUARD(mls_tree_blank_path(t, l));
  MG_GUARD(mls_tree_set_node(t, mls_tm_leaf_to_node(l), &blank));
  mls_tree_truncate(t);
  return 0;
}
