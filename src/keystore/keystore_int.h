/*
 * Keystore internals shared by keystore.c, identity.c, keypackages.c,
 * groups.c and audit.c.  Nothing outside src/keystore includes this.
 *
 * Record keys per table (all records are sealed with mg_kv_put_sealed; the
 * sealed version is noted where it is not 1):
 *
 *   META          "audit_hmac_key"     32 random bytes
 *                 "audit_signing_key"  struct { uint8 format = 1;
 *                                        opaque priv<V>; opaque pub<V>; }
 *                                      (Ed25519, RFC 8032 raw keys)
 *   IDENTITIES    name                 IdentityRecord (identity.c); the
 *                                      sealed version counts rewrites
 *   SIGNING_KEYS  name || 0x00 || uint32 version (BE)
 *                                      SigningKeyRecord (identity.c)
 *   KEY_PACKAGES  name || 0x00 || uint16 suite || KeyPackageRef
 *                                      KeyPackageRecord (keypackages.c)
 *   GROUPS        conversation id      GroupRecord (groups.c); sealed
 *                                      version = epoch
 *   LEASES        conversation id      LeaseRecord (groups.c)
 *   TOKENS        "h:" || SHA-256(secret)
 *                                      TokenRecord (tokens.c); sealed
 *                                      version 1, 2 once revoked
 *                 "n:" || name         TokenNameRecord: the hash
 *                                      (tokens.c)
 *   IDEMPOTENCY   principal || 0x00 || route || 0x00 || key
 *                                      IdemRecord (idempotency.c)
 *
 * Names never contain 0x00, so "name || 0x00" is a prefix that selects
 * exactly one identity's records in a scan.
 */
#ifndef MG_HEADER_KEYSTORE_KEYSTORE_INT_H
#define MG_HEADER_KEYSTORE_KEYSTORE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "keystore/keystore.h"
#include "keystore/kv.h"

#define MG_KS_AUDIT_HMAC_KEY_LEN 32
#define MG_KS_AUDIT_SIGN_PRIV_LEN 32 /* Ed25519 (mg_sig_ed25519.priv_len) */
#define MG_KS_AUDIT_SIGN_PUB_LEN 32

/* The meta-table keys of the audit keys. */
#define MG_KS_META_AUDIT_HMAC "audit_hmac_key"
#define MG_KS_META_AUDIT_SIGN "audit_signing_key"

/* An open keystore.  The audit keys live in mg_secure_alloc memory for the
 * life of the handle; audit.c uses them (HMAC of message content, checkpoint
 * signatures). */
struct mg_keystore {
  mg_kv *kv;
  uint8_t *audit_hmac_key;  /* MG_KS_AUDIT_HMAC_KEY_LEN, secure memory */
  uint8_t *audit_sign_priv; /* MG_KS_AUDIT_SIGN_PRIV_LEN, secure memory */
  uint8_t audit_sign_pub[MG_KS_AUDIT_SIGN_PUB_LEN];
};

/* The longest record key we build: an identity prefix, a suite and a
 * KeyPackageRef (Hash.Nh <= 64). */
#define MG_KS_KEY_BUF (MG_KS_NAME_MAX + 1 + 2 + MG_MAX_HASH_LEN)

/* ks_prefix writes "name || 0x00" into |buf| (MG_KS_KEY_BUF bytes) and
 * returns its length.  |name| must be valid. */
size_t ks_prefix(uint8_t *buf, const char *name);

/* Identity record access inside a transaction (identity.c). */
MG_MUST_USE int ks_identity_load(mg_kv_txn *txn, const char *name,
                                 mg_ks_identity *out, uint64_t *rec_version);

/* ks_signing_key_load opens the private key of (name, version) into secure
 * memory (|*priv|, mg_secure_free) after checking it against |pub|.
 * MG_ERR_NOT_FOUND when the key has no private part (revoked). */
MG_MUST_USE int ks_signing_key_load(mg_kv_txn *txn, const char *name,
                                    uint32_t version, uint16_t suite,
                                    const uint8_t *pub, size_t pub_len,
                                    uint8_t **priv, size_t *priv_len);

/* ks_kp_delete_signed_by deletes |name|'s KeyPackages signed by key
 * |version| (keypackages.c; on revocation). */
MG_MUST_USE int ks_kp_delete_signed_by(mg_kv_txn *txn, const char *name,
                                       uint32_t version, uint64_t *n);

/* ks_audit_failure records that the operation |action| on the identity
 * |name| failed with |err|: one audit entry, result = |err|, in its own
 * transaction (issue 5: one entry per operation, "success, failure and
 * denial alike"; the failed operation's transaction, its success entry
 * included, was rolled back, so only the audit log grows).  The object is
 * |name| when it is a valid identity name, else "" (an invalid name is
 * the caller's input, not copied into the log).  Nothing is recorded for
 * |err| >= 0, without |ks| or |ctx|, or for failures of the store or the
 * process (MG_ERR_STORE, MG_ERR_UNKNOWN_OUTCOME: the operation may have
 * committed, MG_ERR_RETRY, MG_ERR_NOMEM).  Returns |err|, also when the
 * entry could not be written. */
MG_MUST_USE int ks_audit_failure(mg_keystore *ks, const mg_ks_ctx *ctx,
                                 const char *action, const char *name,
                                 const uint8_t (*key_ids)[MG_KS_KEY_ID_LEN],
                                 size_t num_key_ids, int err);

/* A growable list of record keys collected by a scan (a scan callback may
 * not touch the table it walks). */
typedef struct ks_keylist {
  uint8_t **keys;
  size_t *lens;
  size_t n, cap;
} ks_keylist;

MG_MUST_USE int ks_keylist_collect(mg_kv_txn *txn, mg_kv_table tb,
                                   const uint8_t *prefix, size_t prefix_len,
                                   ks_keylist *out);
void ks_keylist_free(ks_keylist *l);

#endif
