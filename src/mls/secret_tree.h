/*
 * The secret tree (RFC 9420 §9) and the sender data key/nonce (§6.3.2).
 *
 * A secret tree is created per epoch from the epoch's encryption_secret.
 * Node secrets are derived lazily from the root towards a leaf and deleted
 * once their children exist (§9.4); a leaf secret is deleted once its two
 * ratchets (handshake and application) are derived.  Each ratchet moves
 * forward only: the key of a generation is deleted when it is consumed, and
 * the keys of generations a receiver skips over are kept (at most
 * |max_retained| per ratchet, oldest dropped first) for out-of-order
 * messages.
 *
 * Receiving is two steps so that a forged message cannot burn keys:
 * mls_secret_tree_get derives the key/nonce of a generation without moving
 * the ratchet; after the message has been authenticated the caller calls
 * mls_secret_tree_consume, which advances the ratchet and deletes the key.
 * Sending is one step: mls_secret_tree_next returns the key of the next
 * unused generation and consumes it.
 *
 * The tree object is mutable (ratchets advance per message) and is not
 * thread-safe; it belongs to one epoch.  mls_secret_tree_free wipes it.
 */
#ifndef MG_HEADER_MLS_SECRET_TREE_H
#define MG_HEADER_MLS_SECRET_TREE_H

#include <stddef.h>
#include <stdint.h>

#include "common/codec.h"
#include "crypto/crypto.h"
#include "crypto/suite.h"
#include "mls/tree_math.h"
#include "mlsgate/err.h"

typedef enum mls_ratchet_type {
  MLS_RATCHET_HANDSHAKE = 0,  /* proposals and commits */
  MLS_RATCHET_APPLICATION = 1 /* application messages */
} mls_ratchet_type;

/* The largest tree a secret tree accepts (leaves; rounded up to a power of
 * two internally, as the ratchet tree is, RFC 9420 §7.7). */
#define MLS_SECRET_TREE_MAX_LEAVES ((uint32_t)1 << 20)

/* Defaults of mls_secret_tree_config. */
#define MLS_SECRET_TREE_DEFAULT_MAX_FORWARD ((uint32_t)1024)
#define MLS_SECRET_TREE_DEFAULT_MAX_RETAINED ((uint32_t)128)

typedef struct mls_secret_tree_config {
  /* How far past the next unused generation a receiver may ratchet
   * (generation - next <= max_forward); beyond it MG_ERR_GENERATION. */
  uint32_t max_forward;
  /* How many skipped keys each ratchet keeps for out-of-order messages. */
  uint32_t max_retained;
} mls_secret_tree_config;

/* A message key and nonce of one ratchet generation (RFC 9420 §9.1).
 * Holds secrets: wipe with mls_key_nonce_cleanup. */
typedef struct mls_key_nonce {
  uint32_t generation;
  size_t key_len;   /* AEAD.Nk */
  size_t nonce_len; /* AEAD.Nn */
  uint8_t key[MG_MAX_AEAD_KEY_LEN];
  uint8_t nonce[MG_MAX_AEAD_NONCE_LEN];
} mls_key_nonce;

/* mls_key_nonce_cleanup wipes |kn|. */
void mls_key_nonce_cleanup(mls_key_nonce *kn);

typedef struct mls_secret_tree mls_secret_tree;

/* mls_secret_tree_new creates the secret tree of an epoch with |n_leaves|
 * leaves (1 .. MLS_SECRET_TREE_MAX_LEAVES) and |encryption_secret| (Nh bytes)
 * at the root.  |cfg| may be NULL for the defaults.  Errors:
 * MG_ERR_INVALID_ARG, MG_ERR_PARAM (secret length, leaf count), MG_ERR_NOMEM. */
MG_MUST_USE int mls_secret_tree_new(mls_secret_tree **out,
                                    const mls_suite *suite,
                                    const uint8_t *encryption_secret,
                                    size_t encryption_secret_len,
                                    uint32_t n_leaves,
                                    const mls_secret_tree_config *cfg);

/* mls_secret_tree_free wipes and frees |st|.  NULL is accepted. */
void mls_secret_tree_free(mls_secret_tree *st);

/* mls_secret_tree_get writes the key and nonce of |generation| of the
 * |type| ratchet of |leaf| to |out|, without consuming it.  Errors:
 * MG_ERR_SENDER (leaf outside the tree), MG_ERR_GENERATION (generation
 * already consumed, dropped, or more than max_forward ahead),
 * MG_ERR_INVALID_ARG, MG_ERR_NOMEM, MG_ERR_CRYPTO_LIB.  On error |out| is
 * wiped.  The tree is not changed in any way, not even by the lazy
 * derivation of the leaf's ratchets (a leaf not derived yet is peeked from
 * the node secret on its path into temporaries), so a message that fails
 * to authenticate leaves no trace in the state. */
MG_MUST_USE int mls_secret_tree_get(mls_secret_tree *st, mls_key_nonce *out,
                                    mls_leaf_idx leaf, mls_ratchet_type type,
                                    uint32_t generation);

/* mls_secret_tree_consume deletes the key of |generation| (after a message
 * under it was accepted): the ratchet moves past it, keeping the skipped
 * generations' keys (up to max_retained).  Errors as mls_secret_tree_get;
 * on error nothing changes. */
MG_MUST_USE int mls_secret_tree_consume(mls_secret_tree *st, mls_leaf_idx leaf,
                                        mls_ratchet_type type,
                                        uint32_t generation);

/* mls_secret_tree_next is the sender's step: it writes the key and nonce of
 * the next unused generation (out->generation) of the |type| ratchet of
 * |leaf| and consumes it.  Errors as mls_secret_tree_get (MG_ERR_GENERATION
 * once the 2^32 generations are used up). */
MG_MUST_USE int mls_secret_tree_next(mls_secret_tree *st, mls_key_nonce *out,
                                     mls_leaf_idx leaf, mls_ratchet_type type);

/* mls_secret_tree_advance moves the |type| ratchet of |leaf| forward so
 * that its next unused generation is |next|, deriving the ratchet secrets
 * in between and deleting them at once: unlike mls_secret_tree_consume it
 * keeps no key of a skipped generation (it is meant for our own sending
 * ratchet, whose skipped generations are never used: a sender that
 * resumes after a crash past every generation it may have used before,
 * group.h mls_group_advance_sending).  A no-op when the ratchet is already
 * at or past |next|.  The distance is not limited by max_forward (that is
 * a receiver's bound); it costs one KDF call per generation skipped.
 * Errors: MG_ERR_SENDER (leaf outside the tree), MG_ERR_INVALID_ARG,
 * MG_ERR_NOMEM, MG_ERR_CRYPTO_LIB; on error the ratchet is unchanged. */
MG_MUST_USE int mls_secret_tree_advance(mls_secret_tree *st, mls_leaf_idx leaf,
                                        mls_ratchet_type type, uint32_t next);

/* mls_sender_data_key_nonce derives the sender data key and nonce of a
 * PrivateMessage (RFC 9420 §6.3.2):
 *   ciphertext_sample = ciphertext[0..KDF.Nh-1] (all of it if shorter)
 *   sender_data_key   = ExpandWithLabel(sender_data_secret, "key",
 *                                       ciphertext_sample, AEAD.Nk)
 *   sender_data_nonce = ExpandWithLabel(sender_data_secret, "nonce",
 *                                       ciphertext_sample, AEAD.Nn)
 * Errors: MG_ERR_INVALID_ARG, MG_ERR_PARAM, MG_ERR_CRYPTO_LIB; |out| wiped
 * on error. */
MG_MUST_USE int mls_sender_data_key_nonce(const mls_suite *suite,
                                          mls_key_nonce *out,
                                          const uint8_t *sender_data_secret,
                                          size_t sender_data_secret_len,
                                          const uint8_t *ciphertext,
                                          size_t ciphertext_len);

/* mls_secret_tree_copy makes |*out| a deep copy of |in|: node secrets, leaf
 * ratchets, retained keys and configuration.  The copy is independent
 * (consuming in one does not change the other); free it with
 * mls_secret_tree_free.  Errors: MG_ERR_INVALID_ARG, MG_ERR_NOMEM; on error
 * |*out| is NULL. */
MG_MUST_USE int mls_secret_tree_copy(mls_secret_tree **out,
                                     const mls_secret_tree *in);

/*
 * Serialization of the whole mutable state of a secret tree, for the group
 * state a keystore persists.  This is a PERSISTENT FORMAT: it carries no
 * version of its own (the enclosing group-state encoding is versioned), so
 * any change to it needs a version bump there.
 *
 * In the TLS presentation language of RFC 9420 §2.1, where `varint` is an
 * MLS variable-length integer (§2.1.2, 1/2/4 bytes, minimal) used as a
 * number and `<V>` a vector with a varint byte-length prefix:
 *
 *   struct {
 *     varint n_leaves;                  // 1 .. MLS_SECRET_TREE_MAX_LEAVES
 *     SecretTreeNode node_secrets<V>;   // strictly ascending node
 *     SecretTreeLeaf leaves<V>;         // strictly ascending leaf
 *   } SecretTreeState;
 *
 *   struct {
 *     varint node;                      // node index < 2w-1
 *     opaque secret<V>;                 // tree_node_[node]_secret, KDF.Nh
 *   } SecretTreeNode;
 *
 *   struct {
 *     varint leaf;                      // leaf index < n_leaves
 *     SecretTreeRatchet handshake;
 *     SecretTreeRatchet application;
 *   } SecretTreeLeaf;
 *
 *   struct {
 *     uint64 next;                      // next unused generation, 0 .. 2^32
 *                                       // (2^32: all generations used)
 *     opaque secret<V>;                 // ratchet_secret_[next], KDF.Nh;
 *                                       // empty if and only if next == 2^32
 *     SecretTreeRetained retained<V>;   // strictly ascending generation,
 *                                       // each < next; at most max_retained
 *   } SecretTreeRatchet;
 *
 *   struct {
 *     uint32 generation;
 *     opaque key<V>;                    // AEAD.Nk
 *     opaque nonce<V>;                  // AEAD.Nn
 *   } SecretTreeRetained;
 *
 * w is n_leaves rounded up to a power of two (the padded tree, RFC 9420
 * §7.7).  node_secrets lists the node secrets still held (not yet split,
 * §9.4), including those of subtrees that hold only padding leaves;
 * leaves lists the leaves whose ratchets have been derived.  The listed
 * nodes' subtrees and the listed leaves partition the w leaves of the
 * padded tree: every leaf 0..w-1 is below exactly one listed node, or is
 * itself a listed leaf (and then no node on its path is listed).  This is
 * the invariant the tree keeps, and the decoder checks it.
 *
 * Integers are big-endian.  Not encoded: the suite and the
 * mls_secret_tree_config (max_forward, max_retained), which the decoder's
 * caller supplies; its max_retained must be at least the one the tree was
 * kept under (a longer retained list is rejected, not trimmed).  The
 * encoding is canonical: decode then encode yields the same bytes.
 */

/* mls_secret_tree_encode appends SecretTreeState of |st| to |w|.  The
 * output holds secrets: the caller wipes it (mg_writer_cleanup,
 * mg_free_secret).  Nothing is allocated beyond what |w| itself does (none
 * for a fixed-buffer writer).  Errors: MG_ERR_INVALID_ARG, and the writer's
 * (MG_ERR_NOMEM, MG_ERR_BUFFER_TOO_SMALL, MG_ERR_LENGTH when a vector would
 * exceed 2^30-1 bytes). */
MG_MUST_USE int mls_secret_tree_encode(mg_writer *w, const mls_secret_tree *st);

/* mls_secret_tree_encoded_size_hint returns the number of bytes
 * mls_secret_tree_encode writes for |st| (0 for NULL), so that a caller can
 * size a fixed-buffer writer. */
size_t mls_secret_tree_encoded_size_hint(const mls_secret_tree *st);

/* mls_secret_tree_decode reads SecretTreeState from |r| and makes |*out| a
 * new tree of |suite| with configuration |cfg| (NULL for the defaults).  On
 * success |r| is advanced past the value (bytes after it are left to the
 * caller); on error |r| is unchanged, |*out| is NULL and nothing is held.
 * Errors: MG_ERR_INVALID_ARG (NULL argument, unusable suite), MG_ERR_NOMEM;
 * decode errors: MG_ERR_TRUNCATED (also a partial element at the end of a
 * vector), MG_ERR_VARINT_PREFIX, MG_ERR_VARINT_NONMINIMAL, MG_ERR_LENGTH (a
 * secret, key or nonce of the wrong length; more retained keys than
 * cfg->max_retained), MG_ERR_DECODE (n_leaves out of range, node
 * or leaf index out of range or not strictly ascending, next > 2^32,
 * retained generations not strictly ascending or not below next, nodes and
 * leaves not partitioning the padded tree). */
MG_MUST_USE int mls_secret_tree_decode(mg_reader *r, mls_secret_tree **out,
                                       const mls_suite *suite,
                                       const mls_secret_tree_config *cfg);

/* ------------------------------------------------- TEST-ONLY: do not use */

/* mls_secret_tree_seek_for_testing moves the |type| ratchet of |leaf| to
 * generation |next| without deriving (its secret becomes a dummy value), so
 * that tests can reach the end of the 32-bit generation space.  Errors: as
 * mls_secret_tree_get. */
MG_MUST_USE int mls_secret_tree_seek_for_testing(mls_secret_tree *st,
                                                 mls_leaf_idx leaf,
                                                 mls_ratchet_type type,
                                                 uint32_t next);

#endif
