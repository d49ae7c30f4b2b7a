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
#include "mls/keypackage.h"
#include "mls/msg_leaf.h"
#include "common/codec.h"
#include "mls/secret_tree.h"
#include "mls/tree_math.h"
#include "mlsgate/err.h"

typedef struct mls_group mls_group;

/* Limits of a group's state.  mls_group_config_default fills the
 * defaults; every field must be non-zero. */
typedef struct mls_group_config {
  /* Out-of-order tolerance of the secret tree (secret_tree.h). */
  mls_secret_tree_config st;
  /* How many past epochs keep their secret tree so that late application
   * messages still decrypt (default 2).  Each costs memory and weakens
   * forward secrecy for that long: keep it small. */
  uint32_t max_past_epochs;
  /* How many epochs' resumption_psk are kept for resumption PreSharedKey
   * proposals (default 8, the current epoch included). */
  uint32_t max_resumption_psks;
} mls_group_config;

#define MLS_GROUP_DEFAULT_MAX_PAST_EPOCHS 2u
#define MLS_GROUP_DEFAULT_MAX_RESUMPTION_PSKS 8u
/* Upper bounds accepted for the config (and by the state decoder). */
#define MLS_GROUP_MAX_PAST_EPOCHS 64u
#define MLS_GROUP_MAX_RESUMPTION_PSKS 1024u

void mls_group_config_default(mls_group_config *cfg);

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
  /* State limits; NULL for the defaults. */
  const mls_group_config *cfg;
} mls_join_params;

/* mls_group_join joins a group from a Welcome (RFC 9420 §12.4.3.1) as the
 * member whose KeyPackage is p->key_package, and stores the new state in
 * |*out| (free it with mls_group_free).  Steps and their errors:
 *   - the Welcome and KeyPackage use |suite| (MG_ERR_UNSUPPORTED), the
 *     private keys match the KeyPackage's init, encryption and signature
 *     keys (MG_ERR_BAD_KEY), the KeyPackage is version mls10
 *     (MG_ERR_VERSION) with a key_package leaf (MG_ERR_LEAF_NODE_SOURCE)
 *     within its lifetime at p->now (MG_ERR_LIFETIME) -- its signatures are
 *     not checked again: it is the caller's own, proven by the private
 *     keys;
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

/* ------------------------------------------------------------ creation */

/* What group creation needs (RFC 9420 §11).  Everything is borrowed. */
typedef struct mls_group_create_params {
  /* The group id; NULL for 32 fresh random bytes. */
  const uint8_t *group_id;
  size_t group_id_len;
  /* Our first LeafNode comes from a KeyPackage we generated
   * (mls_key_package_generate) and its private keys: the leaf's
   * encryption and signature keys.  The init key is not used. */
  const mls_key_package *key_package;
  const mls_key_package_priv *priv;
  /* The GroupContext extensions; NULL for none.  Our leaf must support
   * them (MG_ERR_CAPABILITIES). */
  const mls_extension_list *extensions;
  const mls_group_config *cfg; /* NULL for the defaults */
} mls_group_create_params;

/* mls_group_create creates a one-member group at epoch 0 (RFC 9420 §11):
 * the tree holds our leaf, the key schedule starts from a random
 * init_secret, the interim transcript hash is computed from an empty
 * confirmed transcript hash and the epoch-0 confirmation tag.  Errors:
 * MG_ERR_INVALID_ARG, MG_ERR_UNSUPPORTED (suite), MG_ERR_BAD_KEY (private
 * keys do not match), MG_ERR_CAPABILITIES, MG_ERR_NOMEM,
 * MG_ERR_CRYPTO_LIB. */
MG_MUST_USE int mls_group_create(mls_group **out, const mls_suite *suite,
                                 const mls_group_create_params *p);

/* mls_group_copy deep-copies |g| (for callers that want to try an
 * operation that mutates in place on a copy).  Errors: MG_ERR_NOMEM. */
MG_MUST_USE int mls_group_copy(mls_group **out, const mls_group *g);

/* ----------------------------------------------------- receiving */

/* Callbacks and clock for everything a received message may need. */
typedef struct mls_process_params {
  /* External PSKs (resumption PSKs of this group come from the state;
   * those of other groups also go through this lookup). */
  mls_psk_lookup_fn psk_lookup;
  void *psk_arg;
  /* Credential check for new and updated leaves (§5.3.1); NULL accepts
   * every credential. */
  mls_credential_check_fn credential_check;
  void *credential_arg;
  /* Current time (seconds since the Unix epoch) for the lifetime of
   * KeyPackages in Add proposals (RFC 9420 §7.3 makes the check
   * RECOMMENDED for received leaves; we always do it: a KeyPackage outside
   * its lifetime is MG_ERR_LIFETIME, so 0 rejects every Add). */
  uint64_t now;
} mls_process_params;

/* What a processed message was. */
typedef struct mls_processed {
  uint8_t content_type;  /* MLS_CONTENT_APPLICATION / _PROPOSAL / _COMMIT */
  mls_sender sender;
  uint64_t epoch;        /* the epoch the message belongs to */
  uint32_t generation;   /* PrivateMessage: the ratchet generation */
  mls_bytes authenticated_data;
  mls_bytes application_data; /* application messages (wiped on cleanup) */
  /* Commits: the state of the new epoch (owned by the caller), or NULL
   * when the commit removed us (|removed| is then 1). */
  mls_group *next;
  int removed;
} mls_processed;

/* mls_processed_cleanup releases what |r| owns (wiping application data
 * and freeing |r->next|) and zeroes it. */
void mls_processed_cleanup(mls_processed *r);

/* mls_group_process handles one received MLSMessage (|len| bytes at |msg|,
 * a PublicMessage or PrivateMessage of this group), RFC 9420 §6 and
 * §12.4.2:
 *   - an application message of the current or a retained past epoch is
 *     decrypted and its generation consumed (|g| changes: the key is
 *     deleted);
 *   - a proposal is verified, validated on its own (§12.1) and kept in
 *     |g|'s pending list for a Commit by reference;
 *   - a Commit is verified and applied to a copy: out->next is the new
 *     epoch's state and |g| is NOT changed (its caller persists next and
 *     then frees g).  If the Commit removes us, out->removed is set and
 *     out->next is NULL.
 * On failure nothing changes, |out| owns nothing, and the error names the
 * rule: MG_ERR_GROUP_ID, MG_ERR_EPOCH, MG_ERR_WIRE_FORMAT,
 * MG_ERR_CONTENT_TYPE, MG_ERR_SENDER, MG_ERR_MEMBERSHIP_TAG, MG_ERR_AUTH,
 * MG_ERR_SIGNATURE, MG_ERR_GENERATION, MG_ERR_PROPOSAL (§12.2 list rules,
 * unknown reference), MG_ERR_PSK, MG_ERR_PATH, MG_ERR_PARENT_HASH,
 * MG_ERR_LEAF_SIGNATURE, MG_ERR_LEAF_NODE_SOURCE, MG_ERR_DUPLICATE_KEY,
 * MG_ERR_CAPABILITIES, MG_ERR_EXTENSION, MG_ERR_KEY_PACKAGE,
 * MG_ERR_LIFETIME, MG_ERR_CREDENTIAL, MG_ERR_CONFIRMATION_TAG,
 * MG_ERR_TREE_INVALID, decode errors, MG_ERR_NOMEM. */
MG_MUST_USE int mls_group_process(mls_group *g, const uint8_t *msg, size_t len,
                                  const mls_process_params *p,
                                  mls_processed *out);

/* ------------------------------------------------------- sending */

/* mls_group_protect encrypts application data as a PrivateMessage of the
 * current epoch (RFC 9420 §6.3) with the next generation of our
 * application ratchet (consumed before the message is returned, so a
 * (key, nonce) is never used twice) and writes the MLSMessage to |out|
 * (owned by the caller).  |padding| zero bytes are added.  Optional
 * outputs: |generation|.  Errors: MG_ERR_INVALID_ARG, MG_ERR_STATE (after
 * a ReInit), MG_ERR_GENERATION (ratchet exhausted), MG_ERR_NOMEM,
 * MG_ERR_CRYPTO_LIB. */
MG_MUST_USE int mls_group_protect(mls_group *g, const uint8_t *data,
                                  size_t data_len, const uint8_t *aad,
                                  size_t aad_len, size_t padding,
                                  mls_bytes *out, uint32_t *generation);

/* mls_group_advance_sending moves our own application (sending) ratchet
 * of the current epoch forward so that the next mls_group_protect uses
 * |next_generation| (a no-op when it is already at or past it); the
 * generations skipped are never used and no key of theirs is kept.  This
 * is the hook of the session layer's generation leases: a sender resuming
 * from a stored state (after a restart or a crash) first reserves a block
 * of generations durably and moves here to its start, past every
 * generation it may have used before, so no (key, nonce) is used twice.
 * Receivers follow the gap as long as it stays within their maximum
 * forward distance (mls_secret_tree_config.max_forward here).  Errors:
 * MG_ERR_INVALID_ARG, MG_ERR_STATE (after a ReInit: the group may not
 * send), those of mls_secret_tree_advance; on error nothing changes. */
MG_MUST_USE int mls_group_advance_sending(mls_group *g,
                                          uint32_t next_generation);

/* What a Commit we create contains and how it is sent. */
typedef struct mls_commit_params {
  /* Proposals made by value, in this order after the referenced ones:
   * Adds (KeyPackages; validated per §10.1 at |now|), Removes (leaf
   * indices), PreSharedKeys (ids; an empty psk_nonce gets a fresh random
   * one), GroupContextExtensions (NULL for none), ReInit (NULL for none;
   * alone). */
  const mls_key_package *adds;
  size_t num_adds;
  const uint32_t *removes;
  size_t num_removes;
  const mls_psk_id *psks;
  size_t num_psks;
  const mls_extension_list *gce;
  const mls_reinit *reinit;
  /* Non-zero: also commit every pending proposal by reference. */
  int include_pending;
  /* Non-zero: include an UpdatePath even when none is required (a fresh
   * leaf key and path: post-compromise security). */
  int force_path;
  /* Non-zero: send the Commit as a PrivateMessage (default:
   * PublicMessage). */
  int encrypt;
  /* Welcome: put the ratchet_tree extension in its GroupInfo (else hand
   * out mls_commit_result.ratchet_tree out of band). */
  int ratchet_tree_in_welcome;
  /* A new signature key for our leaf (rotation; requires a path; the
   * credential is kept): its private key, or NULL. */
  const uint8_t *new_sig_priv;
  size_t new_sig_priv_len;
  const uint8_t *authenticated_data;
  size_t authenticated_data_len;
  /* Also produce mls_commit_result.group_info (one more signature) and,
   * without Adds, mls_commit_result.ratchet_tree (an O(n) encoding). */
  int want_group_info;
  int want_ratchet_tree;
  mls_psk_lookup_fn psk_lookup;
  void *psk_arg;
  mls_credential_check_fn credential_check;
  void *credential_arg;
  uint64_t now;
} mls_commit_params;

/* What mls_group_commit produces; every field owned by the caller. */
typedef struct mls_commit_result {
  mls_group *next;        /* the new epoch, once the Commit is accepted */
  mls_bytes commit;       /* MLSMessage (PublicMessage or PrivateMessage) */
  mls_bytes welcome;      /* MLSMessage Welcome; empty without Adds */
  mls_bytes group_info;   /* want_group_info: MLSMessage GroupInfo of the
                             new epoch, signed, with external_pub */
  mls_bytes ratchet_tree; /* with Adds or want_ratchet_tree: the new
                             epoch's optional<Node> ratchet_tree<V> */
  uint32_t *added_leaves; /* leaf index of each Add, in order */
  size_t num_added;
} mls_commit_result;

void mls_commit_result_cleanup(mls_commit_result *r);

/* mls_group_commit creates a Commit (RFC 9420 §12.4.1) over the proposals
 * |p| describes and, for Adds, the Welcome.  |g| stays in its epoch (a
 * PrivateMessage Commit consumes one handshake generation of |g|); the new
 * epoch is out->next, to be used once the delivery service accepted the
 * Commit.  The proposal list is validated exactly as a receiver does.
 * Errors: those of mls_group_process for the same rules, MG_ERR_STATE,
 * MG_ERR_INVALID_ARG, MG_ERR_NOMEM. */
MG_MUST_USE int mls_group_commit(mls_group *g, const mls_commit_params *p,
                                 mls_commit_result *out);

/* mls_group_propose creates a proposal of the current epoch as a
 * PublicMessage (or PrivateMessage when |encrypt|), keeps it in |g|'s
 * pending list (so our own Commit can cover it by reference) and writes
 * the MLSMessage to |out|.  |prop| may be Add, Remove, PreSharedKey (an
 * empty psk_nonce gets a random one), GroupContextExtensions or ReInit;
 * for an Update pass prop->proposal_type MLS_PROPOSAL_UPDATE and the
 * leaf is made here (fresh encryption key, our credential).  Errors:
 * MG_ERR_PROPOSAL (a type we may not send), validation errors,
 * MG_ERR_STATE, MG_ERR_NOMEM. */
MG_MUST_USE int mls_group_propose(mls_group *g, const mls_proposal *prop,
                                  int encrypt, uint64_t now, mls_bytes *out);

/* mls_group_group_info writes a signed GroupInfo MLSMessage of the
 * current epoch (with external_pub, and the ratchet_tree extension when
 * |with_tree|) to |out|. */
MG_MUST_USE int mls_group_group_info(mls_group *g, int with_tree,
                                     mls_bytes *out);

/* mls_group_ratchet_tree writes the current tree as optional<Node>
 * ratchet_tree<V> to |out|. */
MG_MUST_USE int mls_group_ratchet_tree(const mls_group *g, mls_bytes *out);

/* ------------------------------------------------ external joins */

/* What an external join needs (RFC 9420 §12.4.3.2). */
typedef struct mls_external_join_params {
  const uint8_t *group_info; /* MLSMessage GroupInfo */
  size_t group_info_len;
  const uint8_t *ratchet_tree; /* when the GroupInfo has no tree */
  size_t ratchet_tree_len;
  /* Our KeyPackage (its leaf's credential, capabilities and signature
   * key become our leaf; a fresh encryption key is made) and keys. */
  const mls_key_package *key_package;
  const mls_key_package_priv *priv;
  /* Resync: remove this leaf (an old version of ourselves); -1 none. */
  int64_t remove_leaf;
  const mls_psk_id *psks;
  size_t num_psks;
  mls_psk_lookup_fn psk_lookup;
  void *psk_arg;
  uint64_t now;
  const mls_group_config *cfg;
} mls_external_join_params;

/* mls_group_join_external joins by an external Commit: checks the
 * GroupInfo (signature, tree, tree hash), makes the ExternalInit and the
 * UpdatePath, writes the Commit MLSMessage (PublicMessage,
 * new_member_commit) to |commit| and our state of the new epoch to
 * |*out|. */
MG_MUST_USE int mls_group_join_external(mls_group **out, mls_bytes *commit,
                                        const mls_suite *suite,
                                        const mls_external_join_params *p);

/* ------------------------------------------------------- queries */

/* mls_group_member returns the LeafNode of leaf |leaf| (owned by |g|), or
 * NULL when blank or outside the tree. */
const mls_leaf_node *mls_group_member(const mls_group *g, uint32_t leaf);

/* mls_group_width returns the number of leaves of the tree (members and
 * blanks). */
uint32_t mls_group_width(const mls_group *g);

/* mls_group_pending_count returns the number of pending proposals. */
size_t mls_group_pending_count(const mls_group *g);

/* mls_group_reinit returns the committed ReInit proposal, or NULL. */
const mls_reinit *mls_group_reinit(const mls_group *g);

/* mls_group_resumption_psk copies the resumption_psk of |epoch| (the
 * current or a retained one) to |out| (capacity |cap|).  Errors:
 * MG_ERR_NOT_FOUND, MG_ERR_BUFFER_TOO_SMALL. */
MG_MUST_USE int mls_group_resumption_psk(const mls_group *g, uint64_t epoch,
                                         uint8_t *out, size_t cap,
                                         size_t *out_len);

/* ------------------------------------------------- serialization */

/* mls_group_encode writes the whole state (public and private parts,
 * retained past epochs, resumption PSKs, pending proposals; versioned,
 * docs/group-state.md) to |w|.  The output holds secrets: the caller seals
 * it and wipes it. */
MG_MUST_USE int mls_group_encode(mg_writer *w, const mls_group *g);

/* mls_group_decode is the exact inverse of mls_group_encode: |len| bytes
 * at |buf| (trailing bytes: MG_ERR_TRAILING).  Every field is checked
 * (versions we do not know: MG_ERR_VERSION; malformed or inconsistent
 * state: MG_ERR_DECODE and the other decode errors). */
MG_MUST_USE int mls_group_decode(mls_group **out, const uint8_t *buf,
                                 size_t len);

#endif
