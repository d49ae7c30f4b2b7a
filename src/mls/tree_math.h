/*
 * Array-based tree math (RFC 9420 §4.2, Appendix C).
 *
 * Leaves and nodes get distinct one-member struct types so that a leaf index
 * can never be passed where a node index is expected (mlspp LeafIndex /
 * NodeIndex).  The functions are pure.  A tree with n leaves has
 * 2n-1 nodes; leaf i is node 2i.  MLS trees are complete (n is a power of
 * two, RFC 9420 §7.7), but the math is defined for every n >= 1.
 */
#ifndef MG_HEADER_MLS_TREE_MATH_H
#define MG_HEADER_MLS_TREE_MATH_H

#include <stdint.h>

#include "mlsgate/err.h"

typedef struct {
  uint32_t v;
} mls_leaf_idx;

typedef struct {
  uint32_t v;
} mls_node_idx;

/* The largest supported number of leaves: node indices must fit uint32_t. */
#define MLS_TM_MAX_LEAVES ((uint32_t)1 << 31)

static inline mls_node_idx mls_tm_leaf_to_node(mls_leaf_idx l) {
  mls_node_idx n = {l.v * 2u};
  return n;
}

/* mls_tm_node_is_leaf returns 1 for even (leaf) node indices. */
static inline int mls_tm_node_is_leaf(mls_node_idx x) { return (x.v & 1u) == 0; }

/* mls_tm_node_to_leaf converts a leaf node index; MG_ERR_INVALID_ARG for a
 * parent node. */
MG_MUST_USE int mls_tm_node_to_leaf(mls_leaf_idx *out, mls_node_idx x);

/* mls_tm_log2 returns floor(log2(x)), and 0 for x == 0. */
uint32_t mls_tm_log2(uint32_t x);

/* mls_tm_level returns the level of |x|: 0 for leaves. */
uint32_t mls_tm_level(mls_node_idx x);

/* mls_tm_node_width returns the number of nodes of a tree with |n_leaves|
 * leaves (0 for 0).  |n_leaves| must be <= MLS_TM_MAX_LEAVES. */
uint32_t mls_tm_node_width(uint32_t n_leaves);

/* mls_tm_root returns the root of a tree with |n_leaves| >= 1 leaves. */
mls_node_idx mls_tm_root(uint32_t n_leaves);

/* mls_tm_left / mls_tm_right return the children of parent node |x|.
 * Errors: MG_ERR_INVALID_ARG if |x| is a leaf. */
MG_MUST_USE int mls_tm_left(mls_node_idx *out, mls_node_idx x);
MG_MUST_USE int mls_tm_right(mls_node_idx *out, mls_node_idx x);

/* mls_tm_parent / mls_tm_sibling in a tree with |n_leaves| leaves.
 * Errors: MG_ERR_INVALID_ARG if |x| is the root or outside the tree, or
 * n_leaves is 0 or too large. */
MG_MUST_USE int mls_tm_parent(mls_node_idx *out, mls_node_idx x,
                              uint32_t n_leaves);
MG_MUST_USE int mls_tm_sibling(mls_node_idx *out, mls_node_idx x,
                               uint32_t n_leaves);

/* mls_tm_direct_path writes the direct path of |x| (from its parent up to and
 * including the root) into |out| (capacity |cap|, 32 always suffices) and its
 * length into |*out_len|.  The root's direct path is empty.
 * Errors: MG_ERR_INVALID_ARG (x outside the tree), MG_ERR_BUFFER_TOO_SMALL. */
MG_MUST_USE int mls_tm_direct_path(mls_node_idx *out, uint32_t *out_len,
                                   uint32_t cap, mls_node_idx x,
                                   uint32_t n_leaves);

/* mls_tm_copath writes the siblings of |x| and of each node of its direct
 * path except the root, ordered from the leaf up.  Errors as direct_path. */
MG_MUST_USE int mls_tm_copath(mls_node_idx *out, uint32_t *out_len,
                              uint32_t cap, mls_node_idx x, uint32_t n_leaves);

/* mls_tm_common_ancestor returns the lowest node in the direct paths (plus
 * the nodes themselves) of both |x| and |y|. */
mls_node_idx mls_tm_common_ancestor(mls_node_idx x, mls_node_idx y);

#endif
