/*
 * The audit log's reading side and checkpoints (src/keystore/audit.c), and
 * the offline verification of an export (src/keystore/audit_verify.c),
 * which needs no store and no KEK: only the export file and the store's
 * verifier key (printed by `mlsgatectl init`).
 *
 * Export format (`mlsgatectl audit export`), JSON Lines, UTF-8:
 *   line 1:  {"format":"mlsgate-audit-export/v1","origin":O,"size":N,
 *             "checkpoint":"<signed note, a C2SP tlog checkpoint of size N>",
 *             "previous_checkpoint":"<the checkpoint signed before it>",
 *             "consistency_proof":["<hex>", ...]}
 *            (the last two only when an earlier checkpoint exists: RFC 9162
 *            §2.1.4 proof that the new tree extends the previous one)
 *   line 2+: {"seq":i,"leaf_hash":"<hex SHA-256(0x00||entry)>",
 *             "entry":"<the entry's exact bytes, as a JSON string>"}
 *            for i = 0 .. N-1, in order.
 * The leaf hashes let the verifier name an altered entry exactly: when the
 * listed hashes rebuild the signed root they are authentic, and the first
 * entry whose bytes do not hash to its listed hash is the altered one.
 */
#ifndef MG_HEADER_KEYSTORE_AUDIT_H
#define MG_HEADER_KEYSTORE_AUDIT_H

#include <stdint.h>
#include <stdio.h>

#include "keystore/keystore.h"
#include "keystore/note.h"
#include "keystore/tlog.h"

#define MG_KS_AUDIT_ORIGIN_MAX 64
#define MG_AUDIT_EXPORT_FORMAT "mlsgate-audit-export/v1"

/* mg_ks_audit_origin writes the log's origin ("mlsgate.audit/<hex of the
 * first 8 bytes of SHA-256 of the audit public key>"), also the key name
 * of its signer. */
MG_MUST_USE int mg_ks_audit_origin(const mg_keystore *ks, char *out,
                                   size_t cap);

/* mg_ks_audit_signer builds the note signer of the store's audit key
 * (wipe with mg_note_signer_cleanup). */
MG_MUST_USE int mg_ks_audit_signer(const mg_keystore *ks, mg_note_signer *out);

/* mg_ks_audit_verifier writes the verifier key string (NUL-terminated,
 * free()). */
MG_MUST_USE int mg_ks_audit_verifier(const mg_keystore *ks, char **out);

/* mg_ks_audit_checkpoint signs a checkpoint of the whole log in one
 * transaction, after checking that it extends the last signed one (never
 * two inconsistent checkpoints: MG_ERR_CONFLICT otherwise), and records it
 * as an audit entry (which the next checkpoint covers).  |*note| is the
 * signed note (NUL-terminated, free()), |*size| its tree size. */
MG_MUST_USE int mg_ks_audit_checkpoint(mg_keystore *ks, const mg_ks_ctx *ctx,
                                       char **note, size_t *note_len,
                                       uint64_t *size);

/* mg_ks_audit_last_checkpoint copies the last signed checkpoint note
 * (NUL-terminated, free()) and its size.  MG_ERR_NOT_FOUND if none was
 * ever signed. */
MG_MUST_USE int mg_ks_audit_last_checkpoint(mg_keystore *ks, char **note,
                                            size_t *len, uint64_t *size);

/* mg_ks_audit_entries calls |fn| for entries [start, min(end, size)) in
 * one snapshot, with each entry's bytes and leaf hash; |*size| (may be
 * NULL) is the log size of the snapshot. */
typedef int (*mg_ks_audit_entry_fn)(void *arg, uint64_t seq, const char *entry,
                                    size_t entry_len,
                                    const uint8_t leaf_hash[MG_TLOG_HASH_LEN]);
MG_MUST_USE int mg_ks_audit_entries(mg_keystore *ks, uint64_t start,
                                    uint64_t end, mg_ks_audit_entry_fn fn,
                                    void *arg, uint64_t *size);

MG_MUST_USE int mg_ks_audit_prove_inclusion(mg_keystore *ks, uint64_t index,
                                            uint64_t size, mg_tlog_proof *out);
MG_MUST_USE int mg_ks_audit_prove_consistency(mg_keystore *ks, uint64_t size1,
                                              uint64_t size2,
                                              mg_tlog_proof *out);

/* mg_ks_audit_export signs a checkpoint and writes the export of every
 * entry it covers to |out|. */
MG_MUST_USE int mg_ks_audit_export(mg_keystore *ks, const mg_ks_ctx *ctx,
                                   FILE *out, uint64_t *size);

/* The outcome of an offline verification. */
typedef struct mg_audit_verify_result {
  uint64_t size;        /* entries in the export */
  int ok;               /* 1: everything verified */
  int64_t bad_entry;    /* the first bad entry's seq, or -1 */
  char reason[256];     /* what failed, for humans */
} mg_audit_verify_result;

/* mg_audit_verify checks an export read from |in| against the verifier key
 * |vkey|: the checkpoint's signature and origin, the sequence numbers, the
 * tree recomputed from the entries against the checkpoint's root, and, with
 * |since| (an earlier signed checkpoint, may be NULL), that the export's
 * tree extends it.  Returns 0 when the file could be processed (then
 * res->ok says whether it verified), or a negative error for unusable
 * input (MG_ERR_DECODE, MG_ERR_NOMEM, MG_ERR_IO, a bad verifier key). */
MG_MUST_USE int mg_audit_verify(FILE *in, const char *vkey, const char *since,
                                size_t since_len, mg_audit_verify_result *res);

#endif
