/*
 * The keystore (issue 5): what mlsgate keeps across restarts, on top of
 * the storage interface of kv.h.  Enterprise identities and their signing
 * keys, key-package pools, conversations' group states and generation
 * leases, and the audit log, every change written with its audit entry in
 * the same transaction (fail closed: no audit entry, no change).
 *
 * The audit log has one entry per operation, success, failure and denial
 * alike.  An operation that owns its transaction (identity create, rotate,
 * revoke, rotate_due; KeyPackage generate, prune) and fails records, in a
 * transaction of its own, one entry with its action and result = the
 * error; nothing else changes.  An invalid identity name is not copied
 * into that entry (object "").  Not recorded: failures of the store or the
 * process (MG_ERR_STORE, MG_ERR_UNKNOWN_OUTCOME, MG_ERR_RETRY,
 * MG_ERR_NOMEM) and calls without a store or context.  Reads are not
 * audited, and the transaction-scoped operations (mg_ks_kp_take,
 * mg_ks_group_save, mg_ks_group_delete) leave recording their failures to
 * their caller (mg_ks_audit_record), which knows the whole operation.
 *
 * Every operation is scoped to one identity or one conversation.  The
 * session layer (src/session) runs its MLS operation inside
 * mg_ks_transact so that the new group state, a consumed key package and
 * the audit entry commit together or not at all.
 *
 * Private keys never leave this module except into the caller's group
 * state (the signing key of an identity is handed to the MLS engine in
 * secure memory inside a transaction); listings show public keys and key
 * IDs only.
 */
#ifndef MG_HEADER_KEYSTORE_KEYSTORE_H
#define MG_HEADER_KEYSTORE_KEYSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "mls/keypackage.h"
#include "mlsgate/err.h"

typedef struct mg_keystore mg_keystore;
typedef struct mg_kv_txn mg_ks_txn; /* the storage transaction */

/* Who performs an operation and when (seconds since the Unix epoch), for
 * lifetimes, rotation and the audit log. */
typedef struct mg_ks_ctx {
  const char *actor; /* "cli", "token:<name>", "daemon" ... */
  uint64_t now;
} mg_ks_ctx;

typedef struct mg_ks_options {
  const char *dir;
  const char *kek_path; /* or kek_fd >= 0 */
  int kek_fd;
  int create; /* mlsgatectl init */
} mg_ks_options;

/* mg_ks_open opens the store of |opt->dir| (creating it when
 * |opt->create|: a fresh data key, audit HMAC key and audit Ed25519 signing
 * key, the last two sealed in the meta table).  Errors: those of mg_kv_open
 * (MG_ERR_KEK, MG_ERR_NOT_FOUND when there is no store, MG_ERR_EXISTS,
 * MG_ERR_SCHEMA, MG_ERR_STORE), MG_ERR_TAMPERED (an audit key record does
 * not open), MG_ERR_LOCK (no secure memory), MG_ERR_NOMEM,
 * MG_ERR_INVALID_ARG.  mg_crypto_init must have succeeded. */
MG_MUST_USE int mg_ks_open(mg_keystore **out, const mg_ks_options *opt);

/* mg_ks_close closes the store and wipes its keys.  NULL is accepted. */
void mg_ks_close(mg_keystore *ks);

/* mg_ks_transact runs |fn| in one write transaction of the store: it
 * commits only if |fn| returns 0 (see kv.h: |fn| may run more than once
 * when the map grows, so it must keep its effects inside the transaction
 * and overwrite its outputs on each run).  mg_ks_view runs |fn| in a
 * read-only snapshot.  The session layer runs each MLS operation in one
 * mg_ks_transact: group state, consumed key package and audit entry.
 * Errors: |fn|'s, MG_ERR_UNKNOWN_OUTCOME (commit or sync failed),
 * MG_ERR_STORE. */
typedef int (*mg_ks_txn_fn)(mg_ks_txn *txn, void *arg);
MG_MUST_USE int mg_ks_transact(mg_keystore *ks, mg_ks_txn_fn fn, void *arg);
MG_MUST_USE int mg_ks_view(mg_keystore *ks, mg_ks_txn_fn fn, void *arg);

/* An answer that commits with its operation (the stored response of an
 * idempotent request, so that a crash between the two cannot lose it):
 * the _h forms of operations call |in_txn| inside the operation's own
 * transaction, after its writes, with the result the caller gets on
 * success (borrowed for the call; each _h form names its type).  It may
 * run more than once (each run in a fresh transaction: it overwrites what
 * a previous run left) and on another thread (the session's group
 * commit); its error fails the operation, which then changes nothing
 * (audited as a failure, as any). */
typedef struct mg_ks_hook {
  int (*in_txn)(mg_ks_txn *txn, void *arg, const void *result);
  void *arg;
} mg_ks_hook;

/* ---------------------------------------------------------- identities */

#define MG_KS_NAME_MAX 64   /* [A-Za-z0-9._-], 1..64 */
#define MG_KS_KEY_ID_LEN 16 /* bytes; shown as 32 hex digits */

typedef enum mg_ks_key_state {
  MG_KS_KEY_ACTIVE = 1,  /* signs */
  MG_KS_KEY_RETIRED = 2, /* still verifies */
  MG_KS_KEY_REVOKED = 3  /* neither */
} mg_ks_key_state;

/* mg_ks_key_state_name names a key state: "active", "retired", "revoked"
 * ("unknown" for anything else), as listings and the API show it. */
const char *mg_ks_key_state_name(mg_ks_key_state st);

typedef struct mg_ks_key_info {
  uint32_t version;                 /* 1, 2, ... per identity */
  uint8_t key_id[MG_KS_KEY_ID_LEN]; /* SHA-256("mlsgate key id v1" ||
                                       uint16 suite || public key)[0..16) */
  mg_ks_key_state state;
  uint64_t created_at;
  /* The end of the key's planned signing life: created_at + the
   * identity's rotate_every when it has a schedule, else 0 (none).  An
   * overdue key keeps signing until rotated (mg_ks_identity_rotate_due). */
  uint64_t not_after;
  uint8_t pub[MG_MAX_SIG_PUB_LEN];
  size_t pub_len;
} mg_ks_key_info;

typedef struct mg_ks_identity {
  char name[MG_KS_NAME_MAX + 1];
  uint16_t cipher_suite;
  uint64_t rotate_every; /* seconds; 0: no schedule */
  uint64_t created_at;
  uint32_t active_version;
  mg_ks_key_info *keys; /* every version, oldest first (owned) */
  size_t num_keys;
} mg_ks_identity;

/* mg_ks_key_id computes the key ID of a signature public key |pub| of
 * |suite|: SHA-256("mlsgate key id v1" || uint16 suite || pub)[0..16)
 * (for the session layer's member listings too).  Errors:
 * MG_ERR_INVALID_ARG, MG_ERR_CRYPTO_LIB. */
MG_MUST_USE int mg_ks_key_id(uint8_t out[MG_KS_KEY_ID_LEN], uint16_t suite,
                             const uint8_t *pub, size_t pub_len);

/* mg_ks_identity_cleanup frees |id->keys| and zeroes |id|.  A zeroed
 * identity is valid; NULL is accepted. */
void mg_ks_identity_cleanup(mg_ks_identity *id);

/* mg_ks_name_valid returns 1 if |name| is a valid identity name
 * ([A-Za-z0-9._-], 1..MG_KS_NAME_MAX characters), else 0. */
int mg_ks_name_valid(const char *name);

/* mg_ks_identity_create creates identity |name| with a fresh active
 * signing key (version 1) of |cipher_suite|'s signature algorithm and
 * writes it to |out| (may be NULL).  Audited as "identity.create"
 * (failures too, see the top of the file).  Errors:
 * MG_ERR_INVALID_ARG (bad name), MG_ERR_UNSUPPORTED (suite),
 * MG_ERR_EXISTS, store errors. */
MG_MUST_USE int mg_ks_identity_create(mg_keystore *ks, const mg_ks_ctx *ctx,
                                      const char *name, uint16_t cipher_suite,
                                      uint64_t rotate_every,
                                      mg_ks_identity *out);
/* The same with |hook| (may be NULL; mg_ks_hook), given the new identity
 * (const mg_ks_identity *). */
MG_MUST_USE int mg_ks_identity_create_h(mg_keystore *ks, const mg_ks_ctx *ctx,
                                        const char *name,
                                        uint16_t cipher_suite,
                                        uint64_t rotate_every,
                                        mg_ks_identity *out,
                                        const mg_ks_hook *hook);

/* mg_ks_identity_get reads identity |name| (public keys and key IDs only)
 * into |out| (cleanup with mg_ks_identity_cleanup).  Errors:
 * MG_ERR_INVALID_ARG (bad name), MG_ERR_NOT_FOUND, MG_ERR_TAMPERED, store
 * errors. */
MG_MUST_USE int mg_ks_identity_get(mg_keystore *ks, const char *name,
                                   mg_ks_identity *out);

/* mg_ks_identity_list calls |fn| for each identity in name order, after
 * the read transaction ended (|id| is valid during the call only); a
 * non-zero return from |fn| stops the listing and is returned.  Errors:
 * MG_ERR_TAMPERED, store errors. */
typedef int (*mg_ks_identity_fn)(void *arg, const mg_ks_identity *id);
MG_MUST_USE int mg_ks_identity_list(mg_keystore *ks, mg_ks_identity_fn fn,
                                    void *arg);

/* mg_ks_identity_rotate makes a new active key version; the previous
 * active one becomes retired.  |out| (may be NULL) receives the new key.
 * Audited as "identity.rotate" with the old and new key IDs (a failure
 * with none).  Errors:
 * MG_ERR_INVALID_ARG, MG_ERR_NOT_FOUND, MG_ERR_TAMPERED, store errors. */
MG_MUST_USE int mg_ks_identity_rotate(mg_keystore *ks, const mg_ks_ctx *ctx,
                                      const char *name, mg_ks_key_info *out);

/* mg_ks_identity_revoke revokes the key |key_id| (MG_KS_KEY_ID_LEN bytes)
 * of |name|: its private key and the KeyPackages it signed are deleted.
 * Revoking the active key makes a new one active (an identity always has
 * one).  Audited as "identity.revoke" (a failure names the key asked
 * for).  Errors: MG_ERR_INVALID_ARG,
 * MG_ERR_NOT_FOUND (no such identity or key), MG_ERR_CONFLICT (already
 * revoked), MG_ERR_TAMPERED, store errors. */
MG_MUST_USE int mg_ks_identity_revoke(mg_keystore *ks, const mg_ks_ctx *ctx,
                                      const char *name, const uint8_t *key_id);

/* mg_ks_identity_rotate_due rotates, in one transaction, every identity
 * with a schedule whose active key was created at least rotate_every
 * before ctx->now; |*n| is how many were rotated.  Audited as
 * "identity.rotate_due", one entry per identity rotated (a failure: one
 * entry, object "", nothing rotated).  Errors: as mg_ks_identity_rotate. */
MG_MUST_USE int mg_ks_identity_rotate_due(mg_keystore *ks, const mg_ks_ctx *ctx,
                                          size_t *n);

/* For the session layer: the active signing key of an identity, its
 * private key in mg_secure_alloc memory.  A zeroed struct is the empty
 * state. */
typedef struct mg_ks_signer {
  uint16_t cipher_suite;
  uint32_t version;
  uint8_t key_id[MG_KS_KEY_ID_LEN];
  uint8_t pub[MG_MAX_SIG_PUB_LEN];
  size_t pub_len;
  uint8_t *priv; /* mg_secure_alloc'd, priv_len bytes */
  size_t priv_len;
} mg_ks_signer;

/* mg_ks_signer_load loads the active signing key of |identity| inside
 * |txn| into |out| (release with mg_ks_signer_cleanup).  The private key
 * is decrypted straight into secure memory.  Errors: MG_ERR_INVALID_ARG,
 * MG_ERR_NOT_FOUND, MG_ERR_TAMPERED (a record does not open, or the
 * private key does not match the identity's public key), MG_ERR_LOCK,
 * store errors. */
MG_MUST_USE int mg_ks_signer_load(mg_ks_txn *txn, const char *identity,
                                  mg_ks_signer *out);

/* mg_ks_signer_cleanup wipes and frees the private key; zeroes |s|. */
void mg_ks_signer_cleanup(mg_ks_signer *s);

/* ------------------------------------------------------- key packages */

typedef struct mg_ks_kp_counts {
  uint64_t unused;      /* stored, not consumed (last-resort ones too) */
  uint64_t valid;       /* of those, within their lifetime at the time */
  uint64_t last_resort; /* last-resort packages held */
} mg_ks_kp_counts;

/* mg_ks_kp_generate makes |count| (1..MG_KS_KP_MAX_BATCH) KeyPackages of
 * |identity| (its active key, its suite, its name as the basic
 * credential, the default lifetime from ctx->now), stores each with its
 * private keys, and calls |fn| (may be NULL) with each KeyPackageRef and
 * KeyPackage encoded as an MLSMessage (RFC 9420 §6: version mls10,
 * wire_format mls_key_package) after the transaction committed; a
 * non-zero return from |fn| stops the calls and is returned (the packages
 * stay stored; that is no failure of the operation).  Audited as
 * "keypackage.generate" (failures too).  Errors:
 * MG_ERR_INVALID_ARG, MG_ERR_NOT_FOUND, MG_ERR_TAMPERED, store errors. */
#define MG_KS_KP_MAX_BATCH 10000
typedef int (*mg_ks_kp_fn)(void *arg, const uint8_t *ref, size_t ref_len,
                           const uint8_t *kp, size_t kp_len);
MG_MUST_USE int mg_ks_kp_generate(mg_keystore *ks, const mg_ks_ctx *ctx,
                                  const char *identity, uint32_t count,
                                  int last_resort, mg_ks_kp_fn fn, void *arg);
/* The same with |hook| (may be NULL; mg_ks_hook), given the new packages
 * as a const mg_ks_kp_made_list * (the refs and MLSMessages |fn| gets
 * after the commit). */
typedef struct mg_ks_kp_made {
  const uint8_t *ref;
  size_t ref_len;
  const uint8_t *kp; /* MLSMessage(KeyPackage) */
  size_t kp_len;
} mg_ks_kp_made;
typedef struct mg_ks_kp_made_list {
  const mg_ks_kp_made *items;
  size_t n;
} mg_ks_kp_made_list;
MG_MUST_USE int mg_ks_kp_generate_h(mg_keystore *ks, const mg_ks_ctx *ctx,
                                    const char *identity, uint32_t count,
                                    int last_resort, mg_ks_kp_fn fn, void *arg,
                                    const mg_ks_hook *hook);

/* mg_ks_kp_stats counts the stored KeyPackages of |identity| at |now|.
 * Errors: MG_ERR_INVALID_ARG, MG_ERR_NOT_FOUND (no such identity),
 * MG_ERR_TAMPERED, store errors. */
MG_MUST_USE int mg_ks_kp_stats(mg_keystore *ks, const char *identity,
                               uint64_t now, mg_ks_kp_counts *out);

/* mg_ks_kp_prune deletes the KeyPackages of every identity whose lifetime
 * ended before ctx->now (last-resort ones too), in one transaction, one
 * "keypackage.prune" audit entry per identity concerned (a failure: one
 * entry, object "", nothing pruned); |*n| (may be NULL) is how many.
 * Errors: MG_ERR_TAMPERED, store errors. */
MG_MUST_USE int mg_ks_kp_prune(mg_keystore *ks, const mg_ks_ctx *ctx,
                               uint64_t *n);

/* mg_ks_kp_take, for the session layer (a Welcome for one of our
 * KeyPackages arrived): inside |txn|, finds the KeyPackage |ref| of
 * |identity|, writes it to |out_kp| (cleanup: mls_key_package_cleanup) and
 * its private keys (init key, leaf encryption key, and the signing key of
 * the version that signed it) to |out_priv| (cleanup:
 * mls_key_package_priv_cleanup), and deletes it in the same transaction
 * unless it is a last-resort package: a second take is MG_ERR_NOT_FOUND.
 * Audited as "keypackage.take" (object "identity/ref in hex").  On error
 * nothing is written to the outputs.  Errors: MG_ERR_INVALID_ARG,
 * MG_ERR_NOT_FOUND (no such identity or package, or its signing key was
 * revoked), MG_ERR_TAMPERED, decode errors of a stored package, store
 * errors. */
MG_MUST_USE int mg_ks_kp_take(mg_keystore *ks, mg_ks_txn *txn,
                              const mg_ks_ctx *ctx, const char *identity,
                              const uint8_t *ref, size_t ref_len,
                              mls_key_package *out_kp,
                              mls_key_package_priv *out_priv);

/* --------------------------------------------------------- group state */

#define MG_KS_CONV_ID_MAX 128 /* [A-Za-z0-9._:-], 1..128 */

/* mg_ks_conv_id_valid returns 1 if |conv_id| is a valid conversation ID. */
int mg_ks_conv_id_valid(const char *conv_id);

/* mg_ks_group_load reads the group state of |conv_id| inside |txn|: its
 * epoch and the bytes of mls_group_encode in a new buffer |*state| (free
 * with mg_free_secret(*state, *state_len): it holds the group's secrets).
 * Errors: MG_ERR_INVALID_ARG, MG_ERR_NOT_FOUND, MG_ERR_TAMPERED, store
 * errors. */
MG_MUST_USE int mg_ks_group_load(mg_ks_txn *txn, const char *conv_id,
                                 uint64_t *epoch, uint8_t **state,
                                 size_t *state_len);

/* MG_KS_EPOCH_NONE as |expected_epoch|: the group must not exist yet. */
#define MG_KS_EPOCH_NONE UINT64_MAX

/* mg_ks_group_save stores |state| as the group state of |conv_id| at
 * |new_epoch|, a compare-and-swap on the epoch inside |txn|: the stored
 * epoch must equal |expected_epoch| (MG_KS_EPOCH_NONE: no state stored),
 * else MG_ERR_CONFLICT and nothing is written; a stale writer never
 * overwrites silently.  |new_epoch| >= |expected_epoch| (a state may be
 * saved again in the same epoch, e.g. after its secret tree consumed
 * generations).  Audited as "group.save".  Errors: MG_ERR_INVALID_ARG,
 * MG_ERR_CONFLICT, MG_ERR_NOT_FOUND (expected an epoch, no state),
 * MG_ERR_TAMPERED, store errors. */
MG_MUST_USE int mg_ks_group_save(mg_keystore *ks, mg_ks_txn *txn,
                                 const mg_ks_ctx *ctx, const char *conv_id,
                                 uint64_t expected_epoch, uint64_t new_epoch,
                                 const uint8_t *state, size_t state_len);

/* mg_ks_group_put is mg_ks_group_save (same checks, same compare-and-swap,
 * same errors) without the "group.save" audit entry: for a caller that
 * appends its operation's own audit entry (e.g. "message.decrypt") in the
 * same |txn|, so that every operation still has exactly one entry and the
 * save commits or rolls back with it.  A caller that writes no entry of
 * its own uses mg_ks_group_save. */
MG_MUST_USE int mg_ks_group_put(mg_ks_txn *txn, const char *conv_id,
                                uint64_t expected_epoch, uint64_t new_epoch,
                                const uint8_t *state, size_t state_len);

/* mg_ks_group_delete deletes the group state of |conv_id| and its lease.
 * Audited as "group.delete".  Errors: MG_ERR_INVALID_ARG,
 * MG_ERR_NOT_FOUND, store errors. */
MG_MUST_USE int mg_ks_group_delete(mg_keystore *ks, mg_ks_txn *txn,
                                   const mg_ks_ctx *ctx, const char *conv_id);

/* mg_ks_group_remove is mg_ks_group_delete without the "group.delete"
 * entry, for a caller whose own entry in |txn| records the deletion
 * ("conversation.close", a "message.decrypt" of a Commit removing us), as
 * mg_ks_group_put is to mg_ks_group_save. */
MG_MUST_USE int mg_ks_group_remove(mg_ks_txn *txn, const char *conv_id);

/* mg_ks_lease_reserve reserves |count| (>= 1) sending generations of
 * |conv_id| in |epoch| inside |txn| and sets |*first_generation| to the
 * first one: [first, first + count) may then be used without touching the
 * store again, and survives a crash (a restarted sender continues after
 * the block, never reusing a generation).  A lease for an older epoch is
 * replaced (the block starts at 0); within one epoch reservations only
 * move forward.  Errors: MG_ERR_INVALID_ARG, MG_ERR_CONFLICT (the stored
 * lease is for a newer epoch), MG_ERR_GENERATION (the block would pass
 * generation 2^32 - 1, RFC 9420 §9.1), MG_ERR_TAMPERED, store errors. */
MG_MUST_USE int mg_ks_lease_reserve(mg_ks_txn *txn, const char *conv_id,
                                    uint64_t epoch, uint32_t count,
                                    uint32_t *first_generation);

/* ------------------------------------------------------------- audit */

/* One audit record (the Merkle leaf is its canonical encoding). */
typedef struct mg_ks_audit {
  const char *action; /* "identity.create", "group.save", ... */
  const char *object; /* identity name, conversation id, ... */
  const uint8_t (*key_ids)[MG_KS_KEY_ID_LEN];
  size_t num_key_ids;
  const uint8_t *content; /* message content to HMAC (never stored), or NULL */
  size_t content_len;
  /* Or the content's HMAC already computed by mg_ks_audit_content_hmac
   * (32 bytes; |content| is then NULL), or NULL. */
  const uint8_t *content_hmac;
  int result; /* 0 or the mg_err of a failure / denial */
} mg_ks_audit;

/* mg_ks_audit_append appends |a| inside |txn| (sequence number, time and
 * actor from |ctx|, HMAC-SHA256 of the content under the audit HMAC key).
 * If |hmac_out| is not NULL it receives the HMAC (32 bytes).  Errors:
 * MG_ERR_INVALID_ARG (also: the action, actor or object is not valid
 * UTF-8), MG_ERR_NOMEM, store errors. */
MG_MUST_USE int mg_ks_audit_append(mg_keystore *ks, mg_ks_txn *txn,
                                   const mg_ks_ctx *ctx, const mg_ks_audit *a,
                                   uint8_t *hmac_out);

/* mg_ks_audit_content_hmac computes the HMAC an entry records for
 * |content| (HMAC-SHA256 under the audit HMAC key), outside any
 * transaction: a batch of entries need not compute theirs one after the
 * other inside the writer's transaction.  Errors: MG_ERR_INVALID_ARG,
 * MG_ERR_CRYPTO. */
MG_MUST_USE int mg_ks_audit_content_hmac(mg_keystore *ks,
                                         const uint8_t *content, size_t len,
                                         uint8_t out[32]);

/* mg_ks_audit_record writes |a| in its own transaction (for failures and
 * denials, whose operation wrote nothing; the keystore's own operations
 * record theirs with it). */
MG_MUST_USE int mg_ks_audit_record(mg_keystore *ks, const mg_ks_ctx *ctx,
                                   const mg_ks_audit *a);

/* ------------------------------------------------------------- admin */

/* mg_ks_backup writes a compacted hot copy of the store to |path| (must not
 * exist), recording the backup in the audit log first (so the copy holds
 * its own entry).  The copy opens with the current KEK. */
MG_MUST_USE int mg_ks_backup(mg_keystore *ks, const mg_ks_ctx *ctx,
                             const char *path);

/* mg_ks_restore installs a backup as the store of |dir| (which must not
 * hold one). */
MG_MUST_USE int mg_ks_restore(const char *backup_path, const char *dir);

/* mg_ks_kek_rotate makes a fresh KEK, rewraps the data key under it and
 * replaces the KEK file |kek_path| (crash-safe: the new key is written to
 * |kek_path|.next before the rewrap; after a crash between the rewrap and
 * the rename, |kek_path|.next is the key that opens the store). */
MG_MUST_USE int mg_ks_kek_rotate(mg_keystore *ks, const mg_ks_ctx *ctx,
                                 const char *kek_path);

/* ------------------------------------------------- API tokens (issue 6) */

/* Bearer tokens of the HTTP API (mlsgatectl token create/list/revoke).
 * A token's secret is "mgt_" followed by the base64url encoding, without
 * padding (RFC 4648 §5), of 32 random bytes: 47 characters.  It is shown
 * once, at creation, and the store keeps only SHA-256 of the whole
 * string.  A plain (unsalted, unkeyed) hash is enough here because the
 * secret has 256 bits of entropy: neither a dictionary nor a brute-force
 * search over the hashes can find it, so a slow password hash would only
 * cost every request time.  Records (TOKENS table, see keystore_int.h):
 * "h:" || hash -> the token's sealed TokenRecord; "n:" || name -> its
 * hash (sealed), for listing and revoking by name.
 *
 * Scopes are bit flags; deny by default: a request needs its route's
 * scope in the token. */
#define MG_KS_SCOPE_CONVERSATIONS 0x01u /* "conversations" */
#define MG_KS_SCOPE_MESSAGES 0x02u      /* "messages" */
#define MG_KS_SCOPE_KEYS_ADMIN 0x04u    /* "keys:admin" */
#define MG_KS_SCOPE_AUDIT_READ 0x08u    /* "audit:read" */
#define MG_KS_SCOPE_METRICS 0x10u       /* "metrics" */
#define MG_KS_SCOPE_ALL 0x1fu
/* Room for every scope name, the commas and a NUL. */
#define MG_KS_SCOPES_TEXT_MAX 64

#define MG_KS_TOKEN_PREFIX "mgt_"
#define MG_KS_TOKEN_SECRET_BYTES 32
#define MG_KS_TOKEN_LEN 47      /* "mgt_" + 43 base64url characters */
#define MG_KS_TOKEN_HASH_LEN 32 /* SHA-256 */
#define MG_KS_TOKEN_ID_LEN 16   /* hex digits of the public id */

/* mg_ks_scopes_parse reads a comma-separated list of scope names
 * ("conversations,keys:admin"; no spaces, no empty items; a name given
 * twice counts once) into bit flags.  Errors: MG_ERR_INVALID_ARG (NULL,
 * empty, an empty item or an unknown name; |*out| is then 0). */
MG_MUST_USE int mg_ks_scopes_parse(const char *csv, uint32_t *out);

/* mg_ks_scopes_format writes the names of |scopes| in flag order, comma
 * separated, NUL-terminated, into |buf| ("" for none).  Errors:
 * MG_ERR_INVALID_ARG (a bit outside MG_KS_SCOPE_ALL, NULL buf),
 * MG_ERR_BUFFER_TOO_SMALL (|cap| < the text + 1; MG_KS_SCOPES_TEXT_MAX
 * always suffices). */
MG_MUST_USE int mg_ks_scopes_format(uint32_t scopes, char *buf, size_t cap);

/* What is known about a token: never its secret. */
typedef struct mg_ks_token_info {
  char name[MG_KS_NAME_MAX + 1];
  /* A short public id for display: the first 8 bytes of SHA-256 of the
   * secret in hex.  It identifies a token in listings and logs without
   * helping anyone guess the secret. */
  char id[MG_KS_TOKEN_ID_LEN + 1];
  uint32_t scopes;
  uint64_t created_at;
  uint64_t expires_at; /* 0: never */
  uint64_t revoked_at; /* 0: not revoked */
} mg_ks_token_info;

/* mg_ks_token_create makes token |name| ([A-Za-z0-9._-], 1..64, unique)
 * with |scopes| (non-zero, within MG_KS_SCOPE_ALL), expiring at
 * |expires_at| (0: never; else it must be after ctx->now), created at
 * ctx->now.  The secret is written to |secret_out| (NUL-terminated; the
 * only copy there will ever be: the store keeps its hash) and the token's
 * info to |out| (may be NULL).  Audited as "token.create", object = name
 * (never the secret or its hash; failures too, as identities').  On error
 * |secret_out| is zeroed.  Errors: MG_ERR_INVALID_ARG (name, scopes,
 * expiry), MG_ERR_EXISTS (a token of that name exists, revoked or not),
 * MG_ERR_CRYPTO_LIB, store errors. */
MG_MUST_USE int mg_ks_token_create(mg_keystore *ks, const mg_ks_ctx *ctx,
                                   const char *name, uint32_t scopes,
                                   uint64_t expires_at,
                                   char secret_out[MG_KS_TOKEN_LEN + 1],
                                   mg_ks_token_info *out);

/* mg_ks_token_list calls |fn| for every token (revoked and expired ones
 * too) in name order, after the read transaction ended (|t| is valid
 * during the call only); a non-zero return from |fn| stops the listing and
 * is returned.  Errors: MG_ERR_TAMPERED, store errors. */
typedef int (*mg_ks_token_fn)(void *arg, const mg_ks_token_info *t);
MG_MUST_USE int mg_ks_token_list(mg_keystore *ks, mg_ks_token_fn fn, void *arg);

/* mg_ks_token_revoke revokes token |name| at ctx->now: it never
 * authenticates again (its record stays, for listings).  Audited as
 * "token.revoke" (failures too).  Errors: MG_ERR_INVALID_ARG (bad name),
 * MG_ERR_NOT_FOUND, MG_ERR_CONFLICT (already revoked), MG_ERR_TAMPERED,
 * store errors. */
MG_MUST_USE int mg_ks_token_revoke(mg_keystore *ks, const mg_ks_ctx *ctx,
                                   const char *name);

/* mg_ks_token_authenticate checks the bearer token |presented| (|len|
 * bytes, not necessarily NUL-terminated) at |now|, for the API layer: one
 * read transaction, one SHA-256 and one lookup.  Returns 0 with the
 * token's info in |out|, or:
 *   MG_ERR_NOT_FOUND   no such token, or |presented| is not a token at all
 *                      (wrong prefix or length, not canonical base64url);
 *                      |out| is zeroed;
 *   MG_ERR_STATE       the token was revoked (|out| is filled, so the
 *                      caller can name it in its denial entry);
 *   MG_ERR_LIFETIME    the token expired: now >= expires_at (|out| is
 *                      filled);
 *   MG_ERR_TAMPERED, store errors, MG_ERR_INVALID_ARG (NULL ks or out).
 * The secret is decoded without data-dependent branches and only its hash
 * reaches the store.  Not audited: the API layer records denials. */
MG_MUST_USE int mg_ks_token_authenticate(mg_keystore *ks, const char *presented,
                                         size_t len, uint64_t now,
                                         mg_ks_token_info *out);

/* ------------------------------------------ idempotency keys (issue 6) */

/* The replay store behind the Idempotency-Key header of the POSTs that
 * create (draft-ietf-httpapi-idempotency-key-header).  A record is keyed
 * by (principal = the token's name, route = method and route template such
 * as "POST /v1/conversations", the client's key) and holds the SHA-256 of
 * the first request's body, its state and, once done, the response
 * (status, content type, body); records are sealed (the response may hold
 * key material the client must not lose, e.g. a Welcome).  The HTTP layer
 * calls mg_ks_idem_begin before the operation, then mg_ks_idem_finish
 * with the response (or mg_ks_idem_abort when the operation failed and
 * changed nothing).  A record older than the TTL counts as absent, in
 * either state: an operation interrupted by a crash between its commit and
 * its finish leaves an in_progress record, and repeating it would risk
 * doing it twice, so its key answers MG_KS_IDEM_IN_PROGRESS until the TTL
 * ends (call mg_ks_idem_finish_txn inside the operation's own transaction
 * to close that window).  Not audited: the operations themselves are. */
#define MG_KS_IDEM_TTL_DEFAULT ((uint64_t)86400) /* 24 h */
#define MG_KS_IDEM_KEY_MAX 255   /* printable ASCII (0x20..0x7e) */
#define MG_KS_IDEM_ROUTE_MAX 128 /* printable ASCII (0x20..0x7e) */
#define MG_KS_IDEM_CTYPE_MAX 255 /* printable ASCII (0x20..0x7e) */
#define MG_KS_IDEM_BODY_MAX ((size_t)16 << 20)
#define MG_KS_IDEM_HASH_LEN 32

/* The outcomes of mg_ks_idem_begin (positive; errors are negative). */
typedef enum mg_ks_idem_outcome {
  MG_KS_IDEM_NEW = 1,        /* recorded in_progress: run the operation */
  MG_KS_IDEM_REPLAY = 2,     /* done: send the stored response */
  MG_KS_IDEM_MISMATCH = 3,   /* the key was used with another body */
  MG_KS_IDEM_IN_PROGRESS = 4 /* the first request has not finished */
} mg_ks_idem_outcome;

/* A stored response (REPLAY).  A zeroed struct is the empty state. */
typedef struct mg_ks_idem {
  uint64_t created_at;
  uint16_t status;    /* HTTP status, 100..599 */
  char *content_type; /* NUL-terminated, heap (REPLAY only) */
  uint8_t *body;      /* heap, body_len bytes (REPLAY only; may be NULL
                         when body_len is 0) */
  size_t body_len;
} mg_ks_idem;

/* mg_ks_idem_cleanup wipes and frees the response of |r| and zeroes it.
 * NULL is accepted. */
void mg_ks_idem_cleanup(mg_ks_idem *r);

/* mg_ks_idem_begin looks up (principal, route, key) in one write
 * transaction at |now| and returns its outcome:
 *   absent, or older than |ttl| seconds (0: MG_KS_IDEM_TTL_DEFAULT)
 *      -> writes an in_progress record with |body_hash| and returns
 *         MG_KS_IDEM_NEW (|out->created_at| = now);
 *   present with another body hash -> MG_KS_IDEM_MISMATCH;
 *   present, same body hash, in_progress -> MG_KS_IDEM_IN_PROGRESS;
 *   present, same body hash, done -> MG_KS_IDEM_REPLAY with the response
 *      copied to |out| (release with mg_ks_idem_cleanup).
 * |out| is reset first in every case.  Errors (negative):
 * MG_ERR_INVALID_ARG (principal not a valid name, route 1..128 or key
 * 1..255 printable ASCII characters, NULL arguments), MG_ERR_TAMPERED,
 * store errors. */
MG_MUST_USE int mg_ks_idem_begin(mg_keystore *ks, const char *principal,
                                 const char *route, const char *key,
                                 const uint8_t body_hash[MG_KS_IDEM_HASH_LEN],
                                 uint64_t now, uint64_t ttl, mg_ks_idem *out);

/* mg_ks_idem_finish stores the response of the in_progress record
 * (principal, route, key), which becomes done: later begins with the same
 * body replay it.  |content_type|: 1..255 printable ASCII characters;
 * |body|: up to MG_KS_IDEM_BODY_MAX bytes (may be NULL if |len| is 0).
 * mg_ks_idem_finish_txn does the same inside the caller's transaction
 * (mg_ks_transact), so that the operation and its stored response commit
 * together.  Errors: MG_ERR_INVALID_ARG, MG_ERR_NOT_FOUND (no record: never
 * begun, aborted, or pruned), MG_ERR_CONFLICT (already done),
 * MG_ERR_TAMPERED, store errors. */
MG_MUST_USE int mg_ks_idem_finish(mg_keystore *ks, const char *principal,
                                  const char *route, const char *key,
                                  uint16_t status, const char *content_type,
                                  const uint8_t *body, size_t len);
MG_MUST_USE int mg_ks_idem_finish_txn(mg_ks_txn *txn, const char *principal,
                                      const char *route, const char *key,
                                      uint16_t status, const char *content_type,
                                      const uint8_t *body, size_t len);

/* mg_ks_idem_abort deletes the in_progress record (principal, route, key):
 * the operation failed and changed nothing, so the client may retry with
 * the same key.  Errors: MG_ERR_INVALID_ARG, MG_ERR_NOT_FOUND,
 * MG_ERR_CONFLICT (the record is done: a finished response is never
 * dropped), MG_ERR_TAMPERED, store errors. */
MG_MUST_USE int mg_ks_idem_abort(mg_keystore *ks, const char *principal,
                                 const char *route, const char *key);

/* mg_ks_idem_prune deletes, in one transaction, every record created at
 * least |ttl| seconds (0: MG_KS_IDEM_TTL_DEFAULT) before |now|, in either
 * state; |*n| (may be NULL) is how many.  Errors: MG_ERR_TAMPERED (a
 * record does not open: nothing is deleted), store errors. */
MG_MUST_USE int mg_ks_idem_prune(mg_keystore *ks, uint64_t now, uint64_t ttl,
                                 uint64_t *n);

#endif
