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
 * wiped. */
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
