/*
 * The session layer (issue 6): one-to-one business conversations between
 * one of our identities and a recipient's device, each MLS operation one
 * write transaction of the keystore (new group state by epoch
 * compare-and-swap, consumed KeyPackage, audit entry: all or nothing).
 *
 * Concurrency: every function may be called from any number of threads
 * at once.  Operations on one conversation are serialized (a lock per
 * conversation); different conversations proceed in parallel.  Hot groups
 * are cached in memory; the cache changes only after the transaction that
 * made the change committed (a failed operation drops nothing it should
 * keep and keeps nothing that was not stored).  Writes of concurrent
 * operations are batched into one transaction (group commit: one fsync
 * for many requests): the submitting thread runs the batch itself when
 * none is running, and while one runs, later jobs queue for the committer
 * thread (leader/follower, commit.c).
 *
 * Encryption without an fsync per message: before our leaf uses a sending
 * generation, a lease covering it is durable (mg_ks_lease_reserve, a block
 * of |lease_block| generations).  The first encrypt of a group loaded
 * from the store (after a restart or a crash), or of a new epoch,
 * reserves a fresh block and moves the sending ratchet to the block's
 * start (mls_group_advance_sending), past every generation that may have
 * been used before, so no (epoch, sender, generation), hence no (key,
 * nonce), is used twice across any number of crashes.  Reserving lazily
 * (not at load) means restarts without sending skip nothing.  The block
 * is smaller than the peer's maximum forward distance, so the peer
 * follows the gap (messages the peer never received widen it).  An
 * encrypt does not rewrite the group state: the stored state's ratchet may
 * lag, the lease is what counts.  Its audit entry (HMAC of the plaintext,
 * the signing key ID) is committed before the call returns.
 *
 * Stored conversation record (the bytes given to mg_ks_group_put):
 *   struct { uint32 magic = "MGSC"; uint8 format = 1;
 *            opaque identity<V>; uint64 created_at;
 *            opaque group_state<V>; }   (group_state: mls_group_encode)
 *
 * Audit actions: "conversation.open", "conversation.join",
 * "message.encrypt", "message.decrypt", "conversation.commit",
 * "conversation.close" (object: the conversation id; key IDs: our
 * signing key's; content HMAC: the plaintext for encrypt/decrypt).
 * Failures other than store/process failures (MG_ERR_STORE,
 * MG_ERR_UNKNOWN_OUTCOME, MG_ERR_RETRY, MG_ERR_NOMEM) get an entry of
 * their own with the error as result, like the keystore's own operations
 * (object "" when the id is invalid or was never stored).  Reads
 * (mg_session_info) are not audited.
 */
#ifndef MG_HEADER_SESSION_SESSION_H
#define MG_HEADER_SESSION_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "keystore/keystore.h"
#include "mls/bytes.h"
#include "mlsgate/err.h"

typedef struct mg_session mg_session;

/* Sending generations reserved per lease write.  A receiver accepts a
 * generation at most its maximum forward distance past the next one it
 * expects: ts-mls 1.6.4 refuses more than 200 steps
 * (defaultKeyRetentionConfig.maximumForwardRatchetSteps, secretTree.js
 * ratchetUntil), our engine more than 1024
 * (MLS_SECRET_TREE_DEFAULT_MAX_FORWARD).  The largest gap a peer that got
 * every message sees after a crash is below two blocks (the block in use
 * when we crashed, plus one reserved and not used yet), so 2 * lease_block
 * must stay below 200: at most MG_SESSION_MAX_LEASE_BLOCK. */
#define MG_SESSION_DEFAULT_LEASE_BLOCK 64u
#define MG_SESSION_MAX_LEASE_BLOCK 96u

typedef struct mg_session_options {
  /* Sending generations reserved per lease write (default 64, at most
   * MG_SESSION_MAX_LEASE_BLOCK; see above). */
  uint32_t lease_block;
  /* Conversations kept in memory (default 4096; least recently used
   * ones are dropped, they reload from the store). */
  size_t cache_max;
  /* Most operations written in one group-commit transaction (default
   * 256). */
  uint32_t batch_max;
} mg_session_options;

void mg_session_options_default(mg_session_options *o);

/* mg_session_new starts the session layer over an open keystore (|ks|
 * stays owned by the caller and must outlive the session).  Errors:
 * MG_ERR_INVALID_ARG, MG_ERR_NOMEM. */
MG_MUST_USE int mg_session_new(mg_session **out, mg_keystore *ks,
                               const mg_session_options *opt);

/* mg_session_free finishes queued writes, stops the committer, wipes and
 * frees the cache.  No call on |s| may be in progress or start after it.
 * NULL is accepted. */
void mg_session_free(mg_session *s);

/* --------------------------------------------------------- operations */

#define MG_SESSION_MAX_MEMBERS 16 /* listed by mg_session_info */

typedef struct mg_conv_opened {
  char conversation_id[MG_KS_CONV_ID_MAX + 1];
  uint16_t cipher_suite;
  uint64_t epoch;
  mls_bytes welcome;      /* MLSMessage Welcome (open only) */
  mls_bytes ratchet_tree; /* optional<Node> ratchet_tree<V> (open only) */
} mg_conv_opened;

void mg_conv_opened_cleanup(mg_conv_opened *o);

/* An answer that commits with its operation (mg_ks_hook, keystore.h):
 * the _h forms of open, join and commit call |in_txn| inside the
 * operation's own transaction, after its writes, with the result the
 * caller gets on success (const mg_conv_opened * for open and join,
 * const mg_committed * for commit; borrowed for the call), possibly more
 * than once and on the group commit's thread; its error fails the
 * operation, which then changes nothing. */
typedef mg_ks_hook mg_session_hook;

/* mg_session_open_conversation opens a conversation of |identity| with
 * the device whose KeyPackage (an MLSMessage, |kp_len| bytes) is given:
 * creates a group from a fresh KeyPackage of the identity's active key,
 * commits an Add of the device's KeyPackage (validated at ctx->now) and
 * stores the state of epoch 1.  |conv_id| may be NULL for a random one
 * (26 characters, base32).  The Welcome carries no ratchet tree; it is
 * returned next to it.  Errors: MG_ERR_INVALID_ARG (bad identity or
 * conversation id), MG_ERR_NOT_FOUND (no such identity), MG_ERR_EXISTS
 * (the conversation id is taken), decode errors and MLS rejections of the
 * KeyPackage (MG_ERR_WIRE_FORMAT when the MLSMessage is not a
 * KeyPackage, MG_ERR_KEY_PACKAGE, MG_ERR_LIFETIME, MG_ERR_UNSUPPORTED when
 * its suite is not the identity's, ...), store errors.  Audited as
 * "conversation.open" (our key ID; a failure names |conv_id|, or nothing
 * when it was NULL). */
MG_MUST_USE int mg_session_open_conversation(mg_session *s,
                                             const mg_ks_ctx *ctx,
                                             const char *identity,
                                             const uint8_t *kp, size_t kp_len,
                                             const char *conv_id,
                                             mg_conv_opened *out);
MG_MUST_USE int mg_session_open_conversation_h(
    mg_session *s, const mg_ks_ctx *ctx, const char *identity,
    const uint8_t *kp, size_t kp_len, const char *conv_id,
    mg_conv_opened *out, const mg_session_hook *hook);

/* mg_session_join joins from a Welcome (MLSMessage) made for one of
 * |identity|'s stored KeyPackages, which it consumes (mg_ks_kp_take) in
 * the same transaction as the new state; |tree| (may be NULL) is the
 * ratchet tree when the Welcome has none.  The conversation id is random.
 * The join (mls_group_join), the take, the save and the audit entry
 * ("conversation.join") are one transaction of their own.  Errors:
 * MG_ERR_INVALID_ARG, MG_ERR_NOT_FOUND (no such identity, or no KeyPackage
 * of ours in the Welcome; nothing is consumed), MG_ERR_WIRE_FORMAT (not a
 * Welcome), MG_ERR_UNSUPPORTED, decode errors, MLS rejections
 * (MG_ERR_WELCOME, ...), store errors. */
MG_MUST_USE int mg_session_join(mg_session *s, const mg_ks_ctx *ctx,
                                const char *identity, const uint8_t *welcome,
                                size_t welcome_len, const uint8_t *tree,
                                size_t tree_len, mg_conv_opened *out);
MG_MUST_USE int mg_session_join_h(mg_session *s, const mg_ks_ctx *ctx,
                                  const char *identity,
                                  const uint8_t *welcome, size_t welcome_len,
                                  const uint8_t *tree, size_t tree_len,
                                  mg_conv_opened *out,
                                  const mg_session_hook *hook);

typedef struct mg_conv_member {
  uint32_t leaf_index;
  mls_bytes credential; /* the Credential's encoding (RFC 9420 §5.3) */
  uint8_t signature_key_id[MG_KS_KEY_ID_LEN];
} mg_conv_member;

typedef struct mg_conv_info {
  char conversation_id[MG_KS_CONV_ID_MAX + 1];
  char identity[MG_KS_NAME_MAX + 1];
  uint16_t cipher_suite;
  uint64_t epoch;
  uint32_t self_leaf;
  mg_conv_member members[MG_SESSION_MAX_MEMBERS];
  size_t num_members;
  uint8_t epoch_authenticator[64];
  size_t epoch_authenticator_len;
} mg_conv_info;

void mg_conv_info_cleanup(mg_conv_info *i);

/* mg_session_info describes conversation |conv_id|.  Errors:
 * MG_ERR_INVALID_ARG, MG_ERR_NOT_FOUND, MG_ERR_TAMPERED, store errors. */
MG_MUST_USE int mg_session_info(mg_session *s, const char *conv_id,
                                mg_conv_info *out);

typedef struct mg_encrypted {
  mls_bytes message; /* MLSMessage PrivateMessage */
  uint64_t epoch;
  uint32_t generation;
  uint8_t signature_key_id[MG_KS_KEY_ID_LEN];
  uint8_t content_hmac[32]; /* as in the audit entry */
} mg_encrypted;

void mg_encrypted_cleanup(mg_encrypted *e);

/* mg_session_encrypt encrypts |pt| (with |aad| as authenticated_data) as
 * an application message of the conversation's current epoch, with the
 * next generation of our lease (reserving a new block first when the
 * current one is used up), and returns once its audit entry
 * ("message.encrypt", the HMAC of |pt|, our signature key ID) is durable.
 * The group state is not rewritten.  Errors: MG_ERR_INVALID_ARG,
 * MG_ERR_NOT_FOUND, MG_ERR_STATE (after a ReInit), MG_ERR_GENERATION (the
 * epoch's generations are used up: commit an update), MG_ERR_CONFLICT
 * (another writer's lease is in a newer epoch), MG_ERR_TAMPERED, store
 * errors (then no message was returned and its generation is never used
 * again). */
MG_MUST_USE int mg_session_encrypt(mg_session *s, const mg_ks_ctx *ctx,
                                   const char *conv_id, const uint8_t *pt,
                                   size_t pt_len, const uint8_t *aad,
                                   size_t aad_len, mg_encrypted *out);

/* The asynchronous form of mg_session_encrypt, for callers that must not
 * hold a thread while the audit entry becomes durable (the HTTP API):
 * the message is made on the calling thread, then |ready| is called
 * there with it -- not yet acknowledged: prepare the answer, never
 * release it -- then the audit entry joins the next group commit and
 * |done| is called once with the outcome (0: durable, the answer may go
 * out; else the store's error or MG_ERR_STATE when the session stops;
 * the message must then be dropped: its generation is never used
 * again).  |done| runs on the thread that ran the commit (the committer,
 * or the caller's own before mg_session_encrypt_async returns) and must
 * not call back into the session.  Returns 0 when |done| is (or was)
 * called, else the error -- |ready| was then not called, or its own
 * error -- and |done| is never called.  |out| belongs to the caller, who
 * may not free it before |done|; |ctx| is copied. */
typedef struct mg_encrypt_cb {
  int (*ready)(void *arg, const mg_encrypted *e);
  void (*done)(void *arg, int rc);
  void *arg;
} mg_encrypt_cb;

MG_MUST_USE int mg_session_encrypt_async(mg_session *s, const mg_ks_ctx *ctx,
                                         const char *conv_id,
                                         const uint8_t *pt, size_t pt_len,
                                         const uint8_t *aad, size_t aad_len,
                                         mg_encrypted *out,
                                         const mg_encrypt_cb *cb);

typedef struct mg_decrypted {
  uint8_t content_type;  /* MLS_CONTENT_APPLICATION / _PROPOSAL / _COMMIT */
  mls_bytes plaintext;   /* application messages (wiped on cleanup) */
  uint64_t epoch;        /* the message's epoch */
  uint64_t new_epoch;    /* the conversation's epoch afterwards */
  uint32_t sender_leaf;
  int removed;           /* a commit removed us: the conversation closed */
} mg_decrypted;

void mg_decrypted_cleanup(mg_decrypted *d);

/* mg_session_decrypt processes an MLSMessage from the device: an
 * application message (decrypted; its key deleted in the stored state),
 * a proposal (kept pending) or a commit (the new epoch is stored; a
 * commit that removes us deletes the conversation, |removed|).  The state
 * is saved with its audit entry ("message.decrypt", the plaintext's HMAC
 * for an application message) in one transaction before the call
 * returns.  On failure nothing is stored (the failure is audited).  Errors: MG_ERR_NOT_FOUND, decode errors and
 * every rejection of mls_group_process, store errors (MG_ERR_CONFLICT when
 * another writer moved the epoch). */
MG_MUST_USE int mg_session_decrypt(mg_session *s, const mg_ks_ctx *ctx,
                                   const char *conv_id, const uint8_t *msg,
                                   size_t msg_len, mg_decrypted *out);

typedef struct mg_committed {
  mls_bytes commit; /* MLSMessage PublicMessage Commit */
  uint64_t epoch;   /* the new epoch */
  uint8_t signature_key_id[MG_KS_KEY_ID_LEN]; /* our leaf's key now */
} mg_committed;

void mg_committed_cleanup(mg_committed *c);

/* mg_session_commit_update commits a fresh UpdatePath (post-compromise
 * security) with every pending proposal; when the identity's active
 * signing key differs from our leaf's (after a rotation) the leaf moves
 * to it.  The new epoch is stored before the call returns.  Errors:
 * MG_ERR_NOT_FOUND, MG_ERR_STATE, store errors. */
MG_MUST_USE int mg_session_commit_update(mg_session *s, const mg_ks_ctx *ctx,
                                         const char *conv_id,
                                         mg_committed *out);
MG_MUST_USE int mg_session_commit_update_h(mg_session *s,
                                           const mg_ks_ctx *ctx,
                                           const char *conv_id,
                                           mg_committed *out,
                                           const mg_session_hook *hook);

/* mg_session_close deletes the conversation's state and lease (our keys
 * of it are gone; nothing more can be decrypted).  Errors:
 * MG_ERR_NOT_FOUND, store errors. */
MG_MUST_USE int mg_session_close(mg_session *s, const mg_ks_ctx *ctx,
                                 const char *conv_id);

/* Counters for /metrics. */
typedef struct mg_session_stats {
  /* By operation: open, join, encrypt, decrypt, commit, close. */
  uint64_t ops[6];       /* that succeeded */
  uint64_t op_errors[6]; /* that failed */
  uint64_t txns;             /* group-commit transactions */
  uint64_t txn_ops;          /* operations they carried */
  uint64_t txn_ns_total;     /* time spent in them */
  uint64_t txn_ns_buckets[12]; /* histogram: <= 0.25,0.5,1,2.5,5,10,25,50,
                                  100,250,1000 ms, +Inf (cumulative) */
  uint64_t lease_writes;
  uint64_t cache_size;
  uint64_t cache_hits, cache_misses;
} mg_session_stats;

void mg_session_get_stats(mg_session *s, mg_session_stats *out);

#endif
