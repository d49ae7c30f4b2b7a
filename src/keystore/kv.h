/*
 * The keystore's storage interface (issue 5): named tables of byte-string
 * records, transactions that commit only once durable, sealed records, and
 * the key-encryption key.  LMDB is the first backend (kv_lmdb.c); a later
 * PostgreSQL backend implements the same functions, and the contract tests
 * (tests/check_kv.c) run against both.  Nothing outside src/keystore sees
 * this header, and nothing outside kv_lmdb.c sees an LMDB type.
 *
 * Transactions.  Work runs inside a callback so that the backend owns the
 * transaction's life: mg_kv_write(kv, fn, arg) begins a write transaction,
 * calls fn(txn, arg), and commits only if fn returned 0; any error from fn
 * aborts and is returned unchanged.  When the store is full the backend
 * aborts, grows the map and calls fn AGAIN from the start, so fn must not
 * have effects outside the transaction before it returns (collect outputs
 * in |arg| and overwrite them on each run).  A commit or sync failure is
 * MG_ERR_UNKNOWN_OUTCOME and is never retried silently.  Write transactions
 * are serialized; read transactions (mg_kv_read) see a consistent snapshot
 * and run in parallel with a writer.
 *
 * Inside fn, an operation that hits the full map returns MG_ERR_RETRY and
 * every later operation of that run fails the same way; fn should simply
 * return the error.  The backend re-runs fn whatever it returned (at most
 * 24 times, doubling the map each time; then MG_ERR_STORE).  An
 * operation error that leaves the transaction unusable (MG_ERR_STORE,
 * MG_ERR_NOMEM) is returned by mg_kv_write even if fn returns 0, and
 * nothing is committed; MG_ERR_NOT_FOUND and MG_ERR_EXISTS leave the
 * transaction usable.  A transaction too large for the backend (LMDB:
 * MDB_TXN_FULL, more dirty pages than it tracks) is MG_ERR_STORE: a larger
 * map would not help.
 *
 * Threads and processes.  One mg_kv may be shared by threads.  Transactions
 * on one store must not be nested in a thread (MG_ERR_INVALID_ARG), and a
 * callback must not wait for another thread's transaction (growing the
 * map waits for every transaction of the process to end).  A
 * process opens a store once (a second mg_kv_open of the same directory is
 * MG_ERR_STORE: LMDB's locks are per process); other processes may open it
 * at the same time, and the backend serializes their writers.
 *
 * Result codes (include/mlsgate/err.h): MG_ERR_NOT_FOUND (no such record),
 * MG_ERR_EXISTS (insert over an existing key), MG_ERR_CONFLICT
 * (compare-and-swap lost), MG_ERR_RETRY (transient: may be retried by the
 * caller), MG_ERR_UNKNOWN_OUTCOME, MG_ERR_STORE (I/O, environment, fail
 * closed), MG_ERR_TAMPERED (a sealed record does not open),
 * MG_ERR_SCHEMA, MG_ERR_KEK, MG_ERR_NOMEM, MG_ERR_INVALID_ARG.
 *
 * Sealing.  Each store has a random 32-byte data key, kept in the meta
 * table ("data_key") wrapped by the KEK:
 *   struct { uint8 format = 1; uint32 key_id = 1; opaque nonce[24];
 *            opaque wrapped[32 + 16]; }
 * XChaCha20-Poly1305 under the KEK, associated data
 *   "mlsgate data key v1" || uint32 key_id.
 * In memory the data key lives in mg_secure_alloc memory, wiped by
 * mg_kv_close.  A sealed record's stored value is
 *   struct { uint8 format = 1; uint64 version; opaque nonce[24];
 *            opaque ciphertext[rest of the value]; }   (ciphertext || tag)
 * with XChaCha20-Poly1305 under the data key and associated data
 *   "mlsgate record v1" || uint8 table || opaque key<V> || uint64 version
 * (key<V> with the RFC 9420 varint length), so a record moved to another
 * key or table, or given another version, fails to open (MG_ERR_TAMPERED),
 * as does any flipped, missing or added byte.  Nonces are random (192
 * bits): no (key, nonce) pair repeats across crashes.
 *
 * The KEK is exactly 32 raw bytes (no hex, no trailing newline), read at
 * open from a file or a file descriptor (systemd LoadCredential).  A file
 * must be a regular file that neither group nor other may access (any of
 * the mode bits 077 set: MG_ERR_KEK); a descriptor is read to its end and
 * left open, and if it refers to a regular file the same mode rule
 * applies.  The KEK is wiped once the data key is unwrapped; it never
 * touches the store.
 *
 * Schema.  meta "schema" holds the version (uint32 BE).  mg_kv_open
 * refuses a newer or unknown version (MG_ERR_SCHEMA) and upgrades an
 * older one in its write transaction through the backend's migration
 * table (kv_lmdb.c: ks_migrations[v] upgrades v to v + 1; version 1 is the
 * first, so the table is empty).
 */
#ifndef MG_HEADER_KEYSTORE_KV_H
#define MG_HEADER_KEYSTORE_KV_H

#include <stddef.h>
#include <stdint.h>

#include "mlsgate/err.h"

/* The tables.  Their names in the store are fixed ("meta", "identities",
 * ...); adding one is a schema change. */
typedef enum mg_kv_table {
  MG_KV_META = 0,      /* schema version, wrapped data key, audit key */
  MG_KV_IDENTITIES,    /* name -> identity record */
  MG_KV_SIGNING_KEYS,  /* (identity, version) -> sealed signing key */
  MG_KV_KEY_PACKAGES,  /* (identity, suite, ref) -> sealed KeyPackage+keys */
  MG_KV_GROUPS,        /* conversation id -> sealed group state */
  MG_KV_LEASES,        /* conversation id -> generation lease */
  MG_KV_AUDIT,         /* sequence number (uint64 BE) -> audit entry */
  MG_KV_AUDIT_TREE,    /* Merkle tree state and subtree hashes */
  MG_KV_TOKENS,        /* API token hashes (issue 6) */
  MG_KV_IDEMPOTENCY,   /* idempotency keys (issue 6) */
  MG_KV_NUM_TABLES
} mg_kv_table;

/* The current schema version of the store (meta "schema"). */
#define MG_KV_SCHEMA_VERSION 1

#define MG_KV_KEK_LEN 32
#define MG_KV_MAX_KEY_LEN 511 /* LMDB's default maximum key size */

typedef struct mg_kv mg_kv;
typedef struct mg_kv_txn mg_kv_txn;

/* One value a transaction's user keeps for the transaction's life (the
 * audit log's size: read once, written once at the end however many
 * entries the transaction appends): mg_kv_txn_slot returns it, with
 * |*set| 0 the first time (the caller fills it).  One user per store. */
uint64_t *mg_kv_txn_slot(mg_kv_txn *t, int *set);

/* mg_kv_txn_precommit has |fn| called once, after the transaction's
 * function succeeded and before the commit (its error aborts the
 * transaction); one function per transaction (setting it again is a
 * no-op).  Errors: MG_ERR_INVALID_ARG (read-only, another function). */
typedef int (*mg_kv_precommit_fn)(mg_kv_txn *t, void *arg);
MG_MUST_USE int mg_kv_txn_precommit(mg_kv_txn *t, mg_kv_precommit_fn fn,
                                    void *arg);

typedef struct mg_kv_options {
  const char *dir;       /* the store directory */
  /* The KEK: the file |kek_path| if it is not NULL, otherwise the file
   * descriptor |kek_fd| (>= 0; -1: no KEK, MG_ERR_KEK). */
  const char *kek_path;
  int kek_fd;
  /* Non-zero: create the store (the directory may exist but must not hold
   * a store: MG_ERR_EXISTS), with a fresh data key wrapped by the KEK. */
  int create;
  /* Map size in bytes at open (0: 16 MiB for a new store, the size it
   * grew to for an existing one); the map grows by itself. */
  size_t map_size;
} mg_kv_options;

/* mg_kv_open opens (or creates) the store; the directory is created with
 * mode 0700 and the store files with 0600.  A directory whose store was
 * never committed (a create that crashed) counts as empty.  Errors:
 * MG_ERR_KEK (missing, wrong length, unsafe permissions, or it does not
 * unwrap the data key), MG_ERR_SCHEMA (unknown schema), MG_ERR_NOT_FOUND
 * (no store and not create; nothing is created then), MG_ERR_EXISTS,
 * MG_ERR_TAMPERED (the wrapped data key is malformed), MG_ERR_STORE (also:
 * already open in this process), MG_ERR_UNKNOWN_OUTCOME (create or
 * migration commit failed), MG_ERR_NOMEM, MG_ERR_INVALID_ARG. */
MG_MUST_USE int mg_kv_open(mg_kv **out, const mg_kv_options *opt);

/* mg_kv_close closes the store and wipes the data key.  NULL is accepted. */
void mg_kv_close(mg_kv *kv);

typedef int (*mg_kv_fn)(mg_kv_txn *txn, void *arg);

/* mg_kv_write runs |fn| in a write transaction (see above) and returns
 * 0, fn's error, an operation's error, MG_ERR_RETRY (the backend is busy),
 * MG_ERR_UNKNOWN_OUTCOME or MG_ERR_STORE. */
MG_MUST_USE int mg_kv_write(mg_kv *kv, mg_kv_fn fn, void *arg);

/* mg_kv_read runs |fn| in a read-only snapshot; writes inside fail with
 * MG_ERR_INVALID_ARG. */
MG_MUST_USE int mg_kv_read(mg_kv *kv, mg_kv_fn fn, void *arg);

/* ---------------------------------------------------------- records */

/* mg_kv_get copies the value of |key| into a new heap buffer |*val| (free
 * with free(); mg_free_secret for secrets).  MG_ERR_NOT_FOUND if absent. */
MG_MUST_USE int mg_kv_get(mg_kv_txn *t, mg_kv_table tb, const uint8_t *key,
                          size_t key_len, uint8_t **val, size_t *val_len);

#define MG_KV_PUT_INSERT 1 /* fail with MG_ERR_EXISTS if the key exists */

/* mg_kv_put stores |val| under |key| (replacing, unless |flags| has
 * MG_KV_PUT_INSERT). */
MG_MUST_USE int mg_kv_put(mg_kv_txn *t, mg_kv_table tb, const uint8_t *key,
                          size_t key_len, const uint8_t *val, size_t val_len,
                          int flags);

/* mg_kv_del deletes |key|.  MG_ERR_NOT_FOUND if absent. */
MG_MUST_USE int mg_kv_del(mg_kv_txn *t, mg_kv_table tb, const uint8_t *key,
                          size_t key_len);

/* mg_kv_put_sealed seals |pt| for (tb, key, version) and stores it. */
MG_MUST_USE int mg_kv_put_sealed(mg_kv_txn *t, mg_kv_table tb,
                                 const uint8_t *key, size_t key_len,
                                 uint64_t version, const uint8_t *pt,
                                 size_t pt_len, int flags);

/* mg_kv_get_sealed opens the sealed record of |key| into a new buffer
 * |*pt| (free with mg_free_secret) and its version.  MG_ERR_TAMPERED when
 * it does not open; MG_ERR_NOT_FOUND when absent. */
MG_MUST_USE int mg_kv_get_sealed(mg_kv_txn *t, mg_kv_table tb,
                                 const uint8_t *key, size_t key_len,
                                 uint64_t *version, uint8_t **pt,
                                 size_t *pt_len);

/* mg_kv_scan calls |fn| for every record whose key starts with |prefix|
 * (all records when prefix_len is 0), in key order; fn returns 0 to go on,
 * > 0 to stop (mg_kv_scan then returns 0), < 0 to fail with that error.
 * The pointers are valid during the call only, and only until the table
 * is modified. */
typedef int (*mg_kv_scan_fn)(void *arg, const uint8_t *key, size_t key_len,
                             const uint8_t *val, size_t val_len);
MG_MUST_USE int mg_kv_scan(mg_kv_txn *t, mg_kv_table tb,
                           const uint8_t *prefix, size_t prefix_len,
                           mg_kv_scan_fn fn, void *arg);

/* mg_kv_last writes the greatest key of |tb| (a copy, free()), or
 * MG_ERR_NOT_FOUND when the table is empty (for sequence numbers). */
MG_MUST_USE int mg_kv_last(mg_kv_txn *t, mg_kv_table tb, uint8_t **key,
                           size_t *key_len);

/* mg_kv_count sets |*n| to the number of records of |tb|. */
MG_MUST_USE int mg_kv_count(mg_kv_txn *t, mg_kv_table tb, uint64_t *n);

/* ------------------------------------------------------------ admin */

/* mg_kv_kek_rotate rewraps the data key under |new_kek| in one
 * transaction (records are not rewritten); the open store goes on working.
 * Once it returns only |new_kek| opens the store, so keep the new KEK
 * durable before rotating and install it after:
 *   mg_kv_kek_replace("kek.next", new)   (a crash here: old KEK still good)
 *   mg_kv_kek_rotate(kv, new)            (a crash here: kek.next opens it)
 *   rename("kek.next", "kek") + fsync of the directory.
 * Errors: MG_ERR_KEK (|new_kek_len| is not 32), mg_kv_write's errors. */
MG_MUST_USE int mg_kv_kek_rotate(mg_kv *kv, const uint8_t *new_kek,
                                 size_t new_kek_len);

/* mg_kv_kek_generate writes 32 fresh random bytes to |path| with mode 0600
 * (O_EXCL: MG_ERR_EXISTS if it exists), fsyncs the file and its
 * directory.  mg_kv_kek_replace atomically replaces |path| (write to
 * |path|.new, mode 0600, fsync, rename, fsync dir; a leftover |path|.new is
 * overwritten).  Errors: MG_ERR_EXISTS, MG_ERR_KEK (a length other than
 * 32), MG_ERR_IO, MG_ERR_NOMEM, MG_ERR_CRYPTO_LIB. */
MG_MUST_USE int mg_kv_kek_generate(const char *path);
MG_MUST_USE int mg_kv_kek_replace(const char *path, const uint8_t *kek,
                                  size_t kek_len);

/* mg_kv_backup writes a compacted, consistent copy of the store to the
 * file |path| (created with mode 0600, must not exist: MG_ERR_EXISTS)
 * while the store stays in use; the file and its directory are fsynced,
 * and a failed copy is removed.  Records stay sealed and the data key
 * wrapped in it.  mg_kv_restore installs such a copy as the store of |dir|
 * (created if missing; MG_ERR_EXISTS if it holds a store): it copies the
 * file to |dir|/data.mdb.restore, fsyncs it and links it as data.mdb.  It
 * does not check the copy: mg_kv_open with the KEK of the backed-up store
 * (at the time of the backup) does.  Errors: MG_ERR_EXISTS,
 * MG_ERR_NOT_FOUND (no backup file), MG_ERR_RETRY (a restore into |dir|
 * is under way or was interrupted: remove data.mdb.restore), MG_ERR_IO,
 * MG_ERR_STORE, MG_ERR_NOMEM. */
MG_MUST_USE int mg_kv_backup(mg_kv *kv, const char *path);
MG_MUST_USE int mg_kv_restore(const char *backup_path, const char *dir);

#endif
