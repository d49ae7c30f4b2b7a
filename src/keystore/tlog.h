/*
 * Merkle tree of the audit log: RFC 6962 §2.1 / RFC 9162 §2.1 over SHA-256.
 *
 * Leaves are hashed as SHA-256(0x00 || data), interior nodes as
 * SHA-256(0x01 || left || right), the empty tree is SHA-256("").
 *
 * Storage model.  The tree for a log of n entries is never held whole.  A
 * storage layer supplies the hashes of *complete* subtrees through an
 * mg_tlog_get_fn: (level, index) names the subtree covering leaves
 * [index * 2^level, (index + 1) * 2^level), so level 0 is the leaf hashes.
 * A store that keeps only leaf hashes can answer any level by recursion
 * (mg_tlog_get_via_leaves); one that also keeps tiles or selected levels
 * answers those directly.  Every incomplete subtree on the right edge of a
 * tree is computed here from complete ones.  A proof for a log of size n asks
 * for O(log^2 n) complete-subtree hashes.
 *
 * Appending uses the frontier (the compact range [0, n)): the hashes of the
 * complete subtrees whose sizes are the set bits of n, O(log n) state that
 * gives the root after every append and serializes to 8 + 32 * popcount(n)
 * bytes for the store to persist beside the leaves.
 *
 * Sizes.  Tree sizes and indices are uint64_t and bounded by MG_TLOG_MAX_SIZE
 * (2^62), so proofs have at most MG_TLOG_MAX_PROOF hashes and every proof
 * fits a fixed struct; verification does a bounded amount of work whatever
 * the input.
 *
 * mg_crypto_init() must have succeeded before any function here is called.
 */
#ifndef MG_HEADER_KEYSTORE_TLOG_H
#define MG_HEADER_KEYSTORE_TLOG_H

#include <stddef.h>
#include <stdint.h>

#include "common/codec.h"
#include "mlsgate/err.h"

#define MG_TLOG_HASH_LEN 32
/* The largest tree size (and one past the largest index) accepted. */
#define MG_TLOG_MAX_SIZE ((uint64_t)1 << 62)
/* Inclusion and consistency proofs for trees up to MG_TLOG_MAX_SIZE have at
 * most 63 hashes; one spare. */
#define MG_TLOG_MAX_PROOF 64
/* Levels of complete subtrees: 0 (leaves) .. 62. */
#define MG_TLOG_MAX_LEVELS 63

/* mg_tlog_get_fn writes the hash of the complete subtree at (|level|,
 * |index|) to |out|: the leaf hash when |level| is 0.  Returns 0 or a
 * negative mg_err (MG_ERR_NOT_FOUND if the subtree is not complete in the
 * store); the error is passed through to the caller of the proof function. */
typedef int (*mg_tlog_get_fn)(void *arg, uint64_t level, uint64_t index,
                              uint8_t out[MG_TLOG_HASH_LEN]);

/* A proof: |num_hashes| hashes, ordered from the leaf (or the smaller tree)
 * upwards as in RFC 9162 §2.1.3 and §2.1.4. */
typedef struct mg_tlog_proof {
  size_t num_hashes;
  uint8_t hashes[MG_TLOG_MAX_PROOF][MG_TLOG_HASH_LEN];
} mg_tlog_proof;

/* ------------------------------------------------------------ hashing */

/* mg_tlog_leaf_hash writes SHA-256(0x00 || |data|).  Errors: MG_ERR_NOMEM
 * (inputs above 1 KiB are copied to the heap), MG_ERR_CRYPTO_LIB,
 * MG_ERR_INVALID_ARG. */
MG_MUST_USE int mg_tlog_leaf_hash(uint8_t out[MG_TLOG_HASH_LEN],
                                  const uint8_t *data, size_t len);

/* mg_tlog_node_hash writes SHA-256(0x01 || |left| || |right|).  |out| may
 * alias either input.  Errors: MG_ERR_CRYPTO_LIB. */
MG_MUST_USE int mg_tlog_node_hash(uint8_t out[MG_TLOG_HASH_LEN],
                                  const uint8_t left[MG_TLOG_HASH_LEN],
                                  const uint8_t right[MG_TLOG_HASH_LEN]);

/* mg_tlog_empty_root writes the root of the empty tree, SHA-256(""). */
MG_MUST_USE int mg_tlog_empty_root(uint8_t out[MG_TLOG_HASH_LEN]);

/* ------------------------------------------------ ranges and proofs */

/* mg_tlog_range_hash writes MTH(D[|start|:|end|]), the Merkle Tree Hash of
 * the leaves in [start, end) taken as a tree of their own (RFC 9162
 * §2.1.1), from complete-subtree hashes supplied by |get|.  An empty range
 * gives SHA-256("").  Aligned ranges (the subtrees of any RFC 6962 tree)
 * take O(log n) calls to |get|.  Errors: MG_ERR_INVALID_ARG (start > end,
 * end > MG_TLOG_MAX_SIZE), MG_ERR_CRYPTO_LIB, or |get|'s error. */
MG_MUST_USE int mg_tlog_range_hash(uint8_t out[MG_TLOG_HASH_LEN],
                                   mg_tlog_get_fn get, void *arg,
                                   uint64_t start, uint64_t end);

/* mg_tlog_root writes the root of the tree of the first |size| leaves
 * (MTH(D[0:size])). Errors: as mg_tlog_range_hash. */
MG_MUST_USE int mg_tlog_root(uint8_t out[MG_TLOG_HASH_LEN], mg_tlog_get_fn get,
                             void *arg, uint64_t size);

/* mg_tlog_prove_inclusion writes PATH(|index|, D[0:|size|]) (RFC 9162
 * §2.1.3.1) to |out|.  Errors: MG_ERR_INVALID_ARG (index >= size, size >
 * MG_TLOG_MAX_SIZE), MG_ERR_CRYPTO_LIB, or |get|'s error; |out| is then
 * empty. */
MG_MUST_USE int mg_tlog_prove_inclusion(mg_tlog_proof *out, mg_tlog_get_fn get,
                                        void *arg, uint64_t index,
                                        uint64_t size);

/* mg_tlog_prove_consistency writes PROOF(|size1|, D[0:|size2|]) (RFC 9162
 * §2.1.4.1) to |out|: empty when size1 == size2 or size1 == 0 (every tree
 * extends the empty one).  Errors: MG_ERR_INVALID_ARG (size1 > size2, size2
 * > MG_TLOG_MAX_SIZE), MG_ERR_CRYPTO_LIB, or |get|'s error; |out| is then
 * empty. */
MG_MUST_USE int mg_tlog_prove_consistency(mg_tlog_proof *out,
                                          mg_tlog_get_fn get, void *arg,
                                          uint64_t size1, uint64_t size2);

/* mg_tlog_verify_inclusion checks that |proof| binds |leaf_hash| at |index|
 * to |root| in a tree of |size| leaves (RFC 9162 §2.1.3.2).  Errors:
 * MG_ERR_VERIFY (index >= size, size > MG_TLOG_MAX_SIZE, wrong number of
 * hashes, root mismatch), MG_ERR_INVALID_ARG, MG_ERR_CRYPTO_LIB. */
MG_MUST_USE int mg_tlog_verify_inclusion(const uint8_t leaf_hash[MG_TLOG_HASH_LEN],
                                         uint64_t index, uint64_t size,
                                         const mg_tlog_proof *proof,
                                         const uint8_t root[MG_TLOG_HASH_LEN]);

/* mg_tlog_verify_consistency checks that the tree of |size2| leaves with
 * root |root2| extends the tree of |size1| leaves with root |root1| (RFC 9162
 * §2.1.4.2).  size1 == size2 needs an empty proof and equal roots; size1 == 0
 * needs an empty proof and |root1| = SHA-256("").  Errors: MG_ERR_VERIFY
 * (size1 > size2, a size above MG_TLOG_MAX_SIZE, a malformed proof, a root
 * mismatch), MG_ERR_INVALID_ARG, MG_ERR_CRYPTO_LIB. */
MG_MUST_USE int mg_tlog_verify_consistency(uint64_t size1, uint64_t size2,
                                           const mg_tlog_proof *proof,
                                           const uint8_t root1[MG_TLOG_HASH_LEN],
                                           const uint8_t root2[MG_TLOG_HASH_LEN]);

/* ------------------------------------------------------------ frontier */

/* The right-hand frontier (compact range [0, size)): |hashes[i]| is the hash
 * of the i-th complete subtree from the left, one per set bit of |size|,
 * largest first. */
typedef struct mg_tlog_frontier {
  uint64_t size;
  size_t num_hashes;
  uint8_t hashes[MG_TLOG_MAX_LEVELS][MG_TLOG_HASH_LEN];
} mg_tlog_frontier;

/* The length of mg_tlog_frontier_encode's output. */
#define MG_TLOG_FRONTIER_MAX_ENCODED (8 + MG_TLOG_MAX_LEVELS * MG_TLOG_HASH_LEN)

/* mg_tlog_frontier_init sets |f| to the empty tree. */
void mg_tlog_frontier_init(mg_tlog_frontier *f);

/* mg_tlog_frontier_append adds one leaf hash.  Errors: MG_ERR_CONFLICT (the
 * tree is at MG_TLOG_MAX_SIZE), MG_ERR_CRYPTO_LIB; |f| is unchanged on
 * failure. */
MG_MUST_USE int mg_tlog_frontier_append(mg_tlog_frontier *f,
                                        const uint8_t leaf_hash[MG_TLOG_HASH_LEN]);

/* mg_tlog_frontier_root writes the root of the tree of f->size leaves.
 * Errors: MG_ERR_CRYPTO_LIB. */
MG_MUST_USE int mg_tlog_frontier_root(const mg_tlog_frontier *f,
                                      uint8_t out[MG_TLOG_HASH_LEN]);

/* mg_tlog_frontier_load builds the frontier of a tree of |size| leaves from
 * the store (popcount(size) calls to |get|).  Errors: MG_ERR_INVALID_ARG
 * (size > MG_TLOG_MAX_SIZE) or |get|'s error. */
MG_MUST_USE int mg_tlog_frontier_load(mg_tlog_frontier *f, mg_tlog_get_fn get,
                                      void *arg, uint64_t size);

/* mg_tlog_frontier_encode writes size (uint64, big-endian) then the hashes,
 * 8 + 32 * popcount(size) bytes.  Errors: the writer's. */
MG_MUST_USE int mg_tlog_frontier_encode(mg_writer *w, const mg_tlog_frontier *f);

/* mg_tlog_frontier_decode reads one encoded frontier from |r|.  On failure
 * |r| is unchanged.  Errors: MG_ERR_TRUNCATED, MG_ERR_DECODE (size above
 * MG_TLOG_MAX_SIZE). */
MG_MUST_USE int mg_tlog_frontier_decode(mg_reader *r, mg_tlog_frontier *f);

/* ------------------------------------------------- in-memory tree */

/* A whole tree in memory: every complete subtree hash of every level (about
 * 2n hashes for n leaves).  Its mg_tlog_memtree_get is an mg_tlog_get_fn
 * (|arg| is the tree); used by tests and by `audit verify`, which rebuilds
 * the tree from an exported entry list. */
typedef struct mg_tlog_memtree {
  uint64_t size;
  uint8_t (*levels[MG_TLOG_MAX_LEVELS])[MG_TLOG_HASH_LEN];
  uint64_t caps[MG_TLOG_MAX_LEVELS];
} mg_tlog_memtree;

/* mg_tlog_memtree_init puts |t| in the empty state (cleanup is safe). */
void mg_tlog_memtree_init(mg_tlog_memtree *t);

/* mg_tlog_memtree_cleanup frees |t|'s storage and empties it. */
void mg_tlog_memtree_cleanup(mg_tlog_memtree *t);

/* mg_tlog_memtree_append adds one leaf hash.  Errors: MG_ERR_NOMEM,
 * MG_ERR_CONFLICT (full), MG_ERR_CRYPTO_LIB; the tree is unchanged on
 * failure. */
MG_MUST_USE int mg_tlog_memtree_append(mg_tlog_memtree *t,
                                       const uint8_t leaf_hash[MG_TLOG_HASH_LEN]);

/* mg_tlog_memtree_get is the mg_tlog_get_fn of a memtree (|arg|).
 * Errors: MG_ERR_NOT_FOUND (no such complete subtree). */
MG_MUST_USE int mg_tlog_memtree_get(void *arg, uint64_t level, uint64_t index,
                                    uint8_t out[MG_TLOG_HASH_LEN]);

/* A store that keeps only leaf hashes: |get_leaf| answers level 0 and
 * mg_tlog_get_via_leaves (|arg| points at this struct) computes every higher
 * level from 2^level leaves. */
typedef struct mg_tlog_leaf_source {
  mg_tlog_get_fn get_leaf;
  void *arg;
} mg_tlog_leaf_source;

/* mg_tlog_get_via_leaves is an mg_tlog_get_fn over an mg_tlog_leaf_source.
 * Errors: MG_ERR_INVALID_ARG (level too high), MG_ERR_CRYPTO_LIB, or the
 * leaf getter's error. */
MG_MUST_USE int mg_tlog_get_via_leaves(void *arg, uint64_t level,
                                       uint64_t index,
                                       uint8_t out[MG_TLOG_HASH_LEN]);

#endif
