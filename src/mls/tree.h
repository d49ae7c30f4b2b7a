/*
 * The in-memory ratchet tree (RFC 9420 §4, §7).
 *
 * An mls_tree holds the public state of a group's tree as an array of
 * nodes indexed by mls_node_idx (RFC 9420 Appendix C): leaf L at node 2L,
 * parents at odd indices, blank nodes with node_type MLS_NODE_BLANK.  The
 * array always has 2^(d+1)-1 entries (the tree is complete, §7.7); the wire
 * form (`optional<Node> ratchet_tree<V>`, §12.4.3.3, mls/msg_leaf.h) drops
 * the trailing blanks and is padded back on decode.
 *
 * Tree hashes (§7.8) are cached per node.  Every change to a node marks it
 * and its ancestors stale, so after changing one leaf and its direct path
 * the root hash costs O(log n) hash computations, not O(n).  Because of the
 * cache, functions that compute hashes take a non-const tree; they never
 * change the tree's contents.
 *
 * Every function returns 0 or a negative mg_err and, unless it says
 * otherwise, leaves the tree unchanged when it fails.
 */
#ifndef MG_HEADER_MLS_TREE_H
#define MG_HEADER_MLS_TREE_H

#include <stddef.h>
#include <stdint.h>

#include "common/codec.h"
#include "crypto/suite.h"
#include "mls/msg_leaf.h"
#include "mls/tree_math.h"
#include "mlsgate/err.h"

/* The deepest supported tree: direct paths are at most this long. */
#define MLS_TREE_MAX_DEPTH 32

typedef struct mls_tree {
  const mls_suite *suite;
  uint32_t n_leaves;  /* a power of two; 0 only in the zero state */
  mls_node *nodes;    /* 2 * n_leaves - 1 entries (owned) */
  uint8_t *th;        /* cached tree hashes: node i at th + i * Nh */
  uint8_t *th_ok;     /* 1 if th for node i is current */
  uint32_t cap_leaves; /* allocated capacity (leaves) of the three arrays */
} mls_tree;

/* mls_tree_zero puts |t| in the zero state (cleanup is then safe). */
void mls_tree_zero(mls_tree *t);

/* mls_tree_cleanup frees what |t| owns and returns it to the zero state. */
void mls_tree_cleanup(mls_tree *t);

/* mls_tree_init_one makes a one-leaf tree holding a copy of |leaf| (group
 * creation, RFC 9420 §11).  Errors: MG_ERR_NOMEM, MG_ERR_INVALID_ARG. */
MG_MUST_USE int mls_tree_init_one(mls_tree *t, const mls_suite *suite,
                                  const mls_leaf_node *leaf);

/* mls_tree_from_ratchet_tree builds |t| from a decoded ratchet tree,
 * taking ownership of |rt|'s nodes on success (|rt| is then empty); on
 * failure |rt| is unchanged and |t| is in the zero state.  Checks the
 * structural rules of §7.1 and §12.4.3.1 (see mls_tree_check_structure).
 * Errors: MG_ERR_TREE_INVALID, MG_ERR_LENGTH, MG_ERR_NOMEM,
 * MG_ERR_INVALID_ARG. */
MG_MUST_USE int mls_tree_from_ratchet_tree(mls_tree *t, const mls_suite *suite,
                                           mls_ratchet_tree *rt);

/* mls_tree_decode decodes a complete `optional<Node> ratchet_tree<V>` from
 * |len| bytes at |buf| (trailing bytes: MG_ERR_TRAILING) into |t|.  Errors:
 * those of mls_ratchet_tree_decode and mls_tree_from_ratchet_tree. */
MG_MUST_USE int mls_tree_decode(mls_tree *t, const mls_suite *suite,
                                const uint8_t *buf, size_t len);

/* mls_tree_encode writes |t| as `optional<Node> ratchet_tree<V>` without
 * trailing blanks.  Errors: writer errors, MG_ERR_TREE_INVALID (all
 * blank). */
MG_MUST_USE int mls_tree_encode(mg_writer *w, const mls_tree *t);

/* mls_tree_copy deep-copies |in| (with its hash cache) into |out|.
 * Errors: MG_ERR_NOMEM, MG_ERR_INVALID_ARG.  |out| is zeroed on failure. */
MG_MUST_USE int mls_tree_copy(mls_tree *out, const mls_tree *in);

/* mls_tree_width returns the number of nodes (2 * n_leaves - 1). */
uint32_t mls_tree_width(const mls_tree *t);

/* mls_tree_node returns node |x|, or NULL when it is blank or outside the
 * tree. */
const mls_node *mls_tree_node(const mls_tree *t, mls_node_idx x);

/* mls_tree_leaf returns the LeafNode at leaf |l|, or NULL when blank or
 * outside the tree. */
const mls_leaf_node *mls_tree_leaf(const mls_tree *t, mls_leaf_idx l);

/* mls_tree_resolution writes the resolution of |x| (RFC 9420 §4.1.1) to
 * |out| (capacity |cap|; n_leaves + 1 always suffices in a tree that passes
 * mls_tree_check_structure, n_leaves below the root): a non-blank node is
 * itself followed by its unmerged leaves, a blank leaf has none, a blank
 * parent is the resolution of its left then its right child.  Errors:
 * MG_ERR_INVALID_ARG (x outside the tree), MG_ERR_BUFFER_TOO_SMALL. */
MG_MUST_USE int mls_tree_resolution(const mls_tree *t, mls_node_idx x,
                                    mls_node_idx *out, size_t cap,
                                    size_t *out_n);

/* mls_tree_filtered_direct_path writes the filtered direct path of leaf |l|
 * (§4.1.2: the direct path without the nodes whose copath child has an
 * empty resolution) to |out| (capacity MLS_TREE_MAX_DEPTH) and, if
 * |out_copath| is not NULL, the corresponding copath children.  Errors:
 * MG_ERR_INVALID_ARG. */
MG_MUST_USE int mls_tree_filtered_direct_path(const mls_tree *t,
                                              mls_leaf_idx l,
                                              mls_node_idx *out,
                                              mls_node_idx *out_copath,
                                              uint32_t *out_n);

/* mls_tree_add_leaf places a copy of |leaf| in the leftmost blank leaf,
 * extending (doubling) the tree if there is none, and adds the leaf to the
 * unmerged_leaves of every non-blank parent above it (RFC 9420 §12.1.1).
 * Writes the new leaf index to |*out|.  Errors: MG_ERR_LENGTH (tree full),
 * MG_ERR_NOMEM, MG_ERR_INVALID_ARG. */
MG_MUST_USE int mls_tree_add_leaf(mls_tree *t, mls_leaf_idx *out,
                                  const mls_leaf_node *leaf);

/* mls_tree_update_leaf replaces the non-blank leaf |l| with a copy of
 * |leaf| and blanks its direct path (RFC 9420 §12.1.2).  Errors:
 * MG_ERR_NOT_FOUND (leaf blank or outside the tree), MG_ERR_NOMEM,
 * MG_ERR_INVALID_ARG. */
MG_MUST_USE int mls_tree_update_leaf(mls_tree *t, mls_leaf_idx l,
                                     const mls_leaf_node *leaf);

/* mls_tree_remove_leaf blanks the non-blank leaf |l| and its direct path,
 * then truncates the tree (RFC 9420 §12.1.3).  Errors: MG_ERR_NOT_FOUND. */
MG_MUST_USE int mls_tree_remove_leaf(mls_tree *t, mls_leaf_idx l);

/* mls_tree_truncate removes right subtrees without a non-blank leaf: the
 * tree ends up with the fewest leaves 2^d > the rightmost non-blank leaf
 * (RFC 9420 §7.7, §12.1.3).  An all-blank tree keeps one leaf. */
void mls_tree_truncate(mls_tree *t);

/* mls_tree_blank_path blanks the direct path of leaf |l| (not the leaf).
 * Errors: MG_ERR_INVALID_ARG. */
MG_MUST_USE int mls_tree_blank_path(mls_tree *t, mls_leaf_idx l);

/* mls_tree_set_node replaces node |x| with |*node| (taking ownership; the
 * caller's struct is zeroed) and marks the hashes above it stale.  The node
 * type must fit the position.  Errors: MG_ERR_INVALID_ARG. */
MG_MUST_USE int mls_tree_set_node(mls_tree *t, mls_node_idx x, mls_node *node);

/* mls_tree_swap_node exchanges node |x| with |*node| and marks the hashes
 * of |x| and its ancestors stale.  The caller guarantees that |x| is inside
 * the tree and that the node type fits the position (blank anywhere, leaf
 * at even, parent at odd indices); otherwise nothing happens. */
void mls_tree_swap_node(mls_tree *t, mls_node_idx x, mls_node *node);

/* mls_tree_invalidate marks node |x| and its ancestors stale in the hash
 * cache; call it after changing t->nodes[x] in place. */
void mls_tree_invalidate(mls_tree *t, mls_node_idx x);

/* mls_tree_node_hash writes the tree hash of node |x| (RFC 9420 §7.8,
 * Hash.Nh bytes) to |out| (capacity |cap|).  Errors: MG_ERR_INVALID_ARG,
 * MG_ERR_BUFFER_TOO_SMALL, MG_ERR_NOMEM, MG_ERR_CRYPTO_LIB. */
MG_MUST_USE int mls_tree_node_hash(mls_tree *t, mls_node_idx x, uint8_t *out,
                                   size_t cap, size_t *out_len);

/* mls_tree_hash is mls_tree_node_hash of the root. */
MG_MUST_USE int mls_tree_hash(mls_tree *t, uint8_t *out, size_t cap,
                              size_t *out_len);

/* mls_tree_parent_hash computes the parent hash of the non-blank parent |p|
 * with copath child |s| (RFC 9420 §7.9): Hash(ParentHashInput) with
 * original_sibling_tree_hash the tree hash of |s| with p's unmerged leaves
 * blanked and removed from every unmerged_leaves list.  Errors:
 * MG_ERR_INVALID_ARG (p blank, or s not a child of p), MG_ERR_NOMEM,
 * MG_ERR_CRYPTO_LIB, MG_ERR_BUFFER_TOO_SMALL. */
MG_MUST_USE int mls_tree_parent_hash(mls_tree *t, mls_node_idx p,
                                     mls_node_idx s, uint8_t *out, size_t cap,
                                     size_t *out_len);

/* mls_tree_verify_parent_hashes checks that every non-blank parent node is
 * parent-hash valid (RFC 9420 §7.9.2, top down): exactly one descendant D
 * in the resolution of one child C has parent_hash equal to the parent hash
 * of P with the other child, with P's unmerged leaves under C equal to
 * res(C) without D.  Errors: MG_ERR_PARENT_HASH, MG_ERR_NOMEM,
 * MG_ERR_CRYPTO_LIB. */
MG_MUST_USE int mls_tree_verify_parent_hashes(mls_tree *t);

/* mls_tree_verify_leaf_signatures checks the signature of every non-blank
 * leaf (RFC 9420 §7.3), with |group_id| and the leaf index as context for
 * the update and commit sources.  Errors: MG_ERR_LEAF_SIGNATURE,
 * MG_ERR_NOMEM, MG_ERR_CRYPTO_LIB. */
MG_MUST_USE int mls_tree_verify_leaf_signatures(const mls_tree *t,
                                                const uint8_t *group_id,
                                                size_t group_id_len);

/* mls_tree_check_structure checks the rules that need no cryptography:
 * node types fit their positions, unmerged_leaves sorted strictly
 * increasing, each naming a non-blank leaf below the parent and listed by
 * every non-blank parent between them (RFC 9420 §7.1, §12.4.3.1).
 * Errors: MG_ERR_TREE_INVALID. */
MG_MUST_USE int mls_tree_check_structure(const mls_tree *t);

/* mls_tree_check_unique_keys checks that no encryption key appears in two
 * nodes and no signature key in two leaves (RFC 9420 §7.3, §12.4.3.1).
 * Errors: MG_ERR_DUPLICATE_KEY, MG_ERR_NOMEM. */
MG_MUST_USE int mls_tree_check_unique_keys(const mls_tree *t);

/* mls_tree_validate runs every tree-level check a joiner must do
 * (RFC 9420 §12.4.3.1) except the tree hash comparison: structure, unique
 * keys, parent hashes and leaf signatures.  Errors: those of the checks. */
MG_MUST_USE int mls_tree_validate(mls_tree *t, const uint8_t *group_id,
                                  size_t group_id_len);

/* mls_tree_find_leaf returns in |*out| the first non-blank leaf whose
 * encryption key is |key|.  Errors: MG_ERR_NOT_FOUND. */
MG_MUST_USE int mls_tree_find_leaf(const mls_tree *t, mls_leaf_idx *out,
                                   const uint8_t *key, size_t key_len);

#endif
