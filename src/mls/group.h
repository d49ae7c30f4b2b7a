/*
 * The MLS group state (RFC 9420 §8, §12): one epoch of one group as seen by
 * one member, and the operations that create it.
 *
 * An mls_group is opaque and lives on the heap.  It owns the GroupContext,
 * the public ratchet tree (tree.h), the member's private view of the tree
 * (treekem.h), its prepared signature key and the signature private key
 * bytes, the epoch secrets (key_schedule.h), the secret tree
 * (secret_tree.h) and the transcript hashes (transcript.h), plus room for
 * retained past epochs and pending proposals.
 *
 * Epoch transitions never modify a state in place (STYLE.md §4): every
 * operation that moves to another epoch returns a NEW object and leaves the
 * caller's state untouched, also on failure.  The caller persists the new
 * state and only then frees the old one.  mls_group_free wipes every
 * secret.
 */
#ifndef MG_HEADER_MLS_GROUP_H
#define MG_HEADER_MLS_GROUP_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/suite.h"
#include "mls/bytes.h"
#include "mls/msg_context.h"
#include "mls/msg_framing.h"
#include "mls/msg_leaf.h"
#include "mls/secret_tree.h"
#include "mls/tree_math.h"
#include "mlsgate/err.h"

typedef struct mls_group mls_group;

/* mls_psk_lookup_fn resolves a PreSharedKeyID (external or resumption,
 * RFC 9420 §8.4) to its secret: on success it fills |out| with an owned
 * copy of the PSK (the caller wipes it with mls_bytes_cleanup_secret) and
 * returns 0; an unknown PSK is MG_ERR_PSK. */
typedef int (*mls_psk_lookup_fn)(void *arg, const mls_psk_id *id,
                                 mls_bytes *out);

/* What a new member needs to join from a Welcome (RFC 9420 §12.4.3.1).
 * Everything is borrowed and left unchanged. */
typedef struct mls_join_params {
  const mls_welcome *welcome;
  /* The KeyPackage the Welcome was made for, and its private keys. */
  const mls_key_package *key_package;
  const uint8_t *init_priv;
  size_t init_priv_len;
  const uint8_t *enc_priv; /* the leaf's HPKE encryption private key */
  size_t enc_priv_len;
  const uint8_t *sig_priv; /* the leaf's signature private key */
  size_t sig_priv_len;
  /* The encoded `optional<Node> ratchet_tree<V>` handed over out of band,
   * used when the GroupInfo has no ratchet_tree extension; NULL if none. */
  const uint8_t *ratchet_tree;
  size_t ratchet_tree_len;
  /* PSK resolution; may be NULL when the Welcome names no PSK. */
  mls_psk_lookup_fn psk_lookup;
  void *psk_arg;
  /* The current time (seconds since the Unix epoch) for the lifetime
   * checks of the KeyPackage and of the tree's key_package leaves. */
  uint64_t now;
  /* Secret tree limits; NULL for the defaults. */
  const mls_secret_tree_config *st_cfg;
} mls_join_params;

/* mls_group_join joins a group from a Welcome (RFC 9420 §12.4.3.1) as the
 * member whose KeyPackage is p->key_package, and stores the new state in
 * |*out| (free it with mls_group_free).  Steps and their errors:
 *   - the Welcome and KeyPackage use |suite| (MG_ERR_UNSUPPORTED), the
 *     private keys match the KeyPackage's init, encryption and signature
 *     keys (MG_ERR_BAD_KEY), the KeyPackage is valid (mls_key_package_verify
 *     errors) and within its lifetime at p->now (MG_ERR_LIFETIME);
 *   - the Welcome has an entry for the KeyPackage (MG_ERR_WELCOME) that
 *     decrypts (MG_ERR_AUTH); every PSK it names resolves (MG_ERR_PSK);
 *   - the GroupInfo decrypts (MG_ERR_AUTH) and its confirmation tag
 *     verifies (MG_ERR_CONFIRMATION_TAG);
 *   - a ratchet tree is present, in the GroupInfo's extension or out of
 *     band (MG_ERR_TREE_INVALID when neither), it decodes, it validates
 *     (mls_tree_validate: MG_ERR_TREE_INVALID, MG_ERR_DUPLICATE_KEY,
 *     MG_ERR_PARENT_HASH, MG_ERR_LEAF_SIGNATURE), its hash equals the
 *     GroupContext's tree_hash (MG_ERR_TREE_HASH), every leaf lists the
 *     group's suite and version, its own extensions and credential, the
 *     required capabilities and every member's credential type
 *     (MG_ERR_CAPABILITIES, MG_ERR_EXTENSION; RFC 9420 §7.3), and every
 *     key_package leaf is within its lifetime at p->now (MG_ERR_LIFETIME);
 *   - the signer is a member (MG_ERR_SENDER) whose key verifies the
 *     GroupInfo signature (MG_ERR_SIGNATURE);
 *   - our LeafNode is in the tree (MG_ERR_WELCOME otherwise), and the
 *     path_secret, if any, yields the public keys of the tree from the
 *     common ancestor with the signer upward (MG_ERR_PATH when there is no
 *     such ancestor, MG_ERR_BAD_KEY when a key differs).
 * Other errors: MG_ERR_INVALID_ARG, MG_ERR_NOMEM, MG_ERR_CRYPTO_LIB and
 * decode errors.  On failure |*out| is NULL. */
MG_MUST_USE int mls_group_join(mls_group **out, const mls_suite *suite,
                               const mls_join_params *p);

/* mls_group_free wipes every secret |g| holds and frees it.  NULL is
 * accepted. */
void mls_group_free(mls_group *g);

/* mls_group_suite returns the group's cipher suite. */
const mls_suite *mls_group_suite(const mls_group *g);

/* mls_group_epoch returns the current epoch number. */
uint64_t mls_group_epoch(const mls_group *g);

/* mls_group_context returns the group's current GroupContext (owned by
 * |g|, valid until it is freed). */
const mls_group_context *mls_group_get0_context(const mls_group *g);

/* mls_group_epoch_authenticator writes the epoch authenticator (RFC 9420
 * §8.7, KDF.Nh bytes) to |out| (capacity |cap|) and sets |*out_len|.
 * Errors: MG_ERR_INVALID_ARG, MG_ERR_BUFFER_TOO_SMALL. */
MG_MUST_USE int mls_group_epoch_authenticator(const mls_group *g, uint8_t *out,
                                              size_t cap, size_t *out_len);

/* mls_group_export is MLS-Exporter(label, context, out_len) of the current
 * epoch (RFC 9420 §8.5).  Errors: those of mls_epoch_exporter. */
MG_MUST_USE int mls_group_export(const mls_group *g, uint8_t *out,
                                 size_t out_len, const char *label,
                                 const uint8_t *context, size_t context_len);

/* mls_group_member_count returns the number of non-blank leaves. */
uint32_t mls_group_member_count(const mls_group *g);

/* mls_group_self returns our own leaf index. */
mls_leaf_idx mls_group_self(const mls_group *g);

#endif
