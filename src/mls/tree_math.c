/* Array-based tree math (RFC 9420 Appendix C). */
#include "config.h"

#include "mls/tree_math.h"

int mls_tm_node_to_leaf(mls_leaf_idx *out, mls_node_idx x) {
  if (!mls_tm_node_is_leaf(x)) {
    return MG_ERR_INVALID_ARG;
  }
  out->v = x.v / 2u;
  return 0;
}

uint32_t mls_tm_log2(uint32_t x) {
  if (x == 0) {
    return 0;
  }
  uint32_t k = 0;
  while ((x >> k) > 1u) {
    k++;
  }
  return k;
}

uint32_t mls_tm_level(mls_node_idx x) {
  uint32_t k = 0;
  while (k < 32 && ((x.v >> k) & 1u) == 1u) {
    k++;
  }
  return k;
}

uint32_t mls_tm_node_width(uint32_t n_leaves) {
  if (n_leaves == 0) {
    return 0;
  }
  return 2u * (n_leaves - 1u) + 1u;
}

mls_node_idx mls_tm_root(uint32_t n_leaves) {
  uint32_t w = mls_tm_node_width(n_leaves);
  mls_node_idx r = {((uint32_t)1 << mls_tm_log2(w)) - 1u};
  return r;
}

int mls_tm_left(mls_node_idx *out, mls_node_idx x) {
  uint32_t k = mls_tm_level(x);
  if (k == 0) {
    return MG_ERR_INVALID_ARG;
  }
  out->v = x.v ^ ((uint32_t)1 << (k - 1));
  return 0;
}

int mls_tm_right(mls_node_idx *out, mls_node_idx x) {
  uint32_t k = mls_tm_level(x);
  if (k == 0 || k >= 32) {
    return MG_ERR_INVALID_ARG;
  }
  out->v = x.v ^ ((uint32_t)3 << (k - 1));
  return 0;
}

static int tm_in_tree(mls_node_idx x, uint32_t n_leaves) {
  return n_leaves >= 1 && n_leaves <= MLS_TM_MAX_LEAVES &&
         x.v < mls_tm_node_width(n_leaves);
}

int mls_tm_parent(mls_node_idx *out, mls_node_idx x, uint32_t n_leaves) {
  if (!tm_in_tree(x, n_leaves) || x.v == mls_tm_root(n_leaves).v) {
    return MG_ERR_INVALID_ARG;
  }
  uint32_t k = mls_tm_level(x);
  /* k + 1 < 32 because x is not the root of a tree of <= 2^31 leaves. */
  uint32_t b = (x.v >> (k + 1)) & 1u;
  out->v = (x.v | ((uint32_t)1 << k)) ^ (b << (k + 1));
  return 0;
}

int mls_tm_sibling(mls_node_idx *out, mls_node_idx x, uint32_t n_leaves) {
  mls_node_idx p;
  int rc = mls_tm_parent(&p, x, n_leaves);
  if (rc < 0) {
    return rc;
  }
  return x.v < p.v ? mls_tm_right(out, p) : mls_tm_left(out, p);
}

int mls_tm_direct_path(mls_node_idx *out, uint32_t *out_len, uint32_t cap,
                       mls_node_idx x, uint32_t n_leaves) {
  if (!tm_in_tree(x, n_leaves)) {
    return MG_ERR_INVALID_ARG;
  }
  mls_node_idx r = mls_tm_root(n_leaves);
  uint32_t n = 0;
  while (x.v != r.v) {
    int rc = mls_tm_parent(&x, x, n_leaves);
    if (rc < 0) {
      return rc;
    }
    if (n == cap) {
      return MG_ERR_BUFFER_TOO_SMALL;
    }
    out[n++] = x;
  }
  *out_len = n;
  return 0;
}

int mls_tm_copath(mls_node_idx *out, uint32_t *out_len, uint32_t cap,
                  mls_node_idx x, uint32_t n_leaves) {
  if (!tm_in_tree(x, n_leaves)) {
    return MG_ERR_INVALID_ARG;
  }
  mls_node_idx r = mls_tm_root(n_leaves);
  uint32_t n = 0;
  while (x.v != r.v) {
    if (n == cap) {
      return MG_ERR_BUFFER_TOO_SMALL;
    }
    int rc = mls_tm_sibling(&out[n], x, n_leaves);
    if (rc < 0) {
      return rc;
    }
    n++;
    rc = mls_tm_parent(&x, x, n_leaves);
    if (rc < 0) {
      return rc;
    }
  }
  *out_len = n;
  return 0;
}

mls_node_idx mls_tm_common_ancestor(mls_node_idx x, mls_node_idx y) {
  /* RFC 9420 Appendix C, common_ancestor_direct. */
  uint32_t lx = mls_tm_level(x) + 1u, ly = mls_tm_level(y) + 1u;
  if (lx <= ly && ly < 32 && (x.v >> ly) == (y.v >> ly)) {
    return y;
  }
  if (ly <= lx && lx < 32 && (x.v >> lx) == (y.v >> lx)) {
    return x;
  }
  uint32_t xn = x.v, yn = y.v, k = 0;
  while (xn != yn) {
    xn >>= 1;
    yn >>= 1;
    k++;
  }
  mls_node_idx r = {(xn << k) + ((uint32_t)1 << (k - 1)) - 1u};
  return r;
}
