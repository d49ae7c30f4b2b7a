/*
 * Conversations' group states and generation leases (issue 5), for the
 * session layer: every function works inside the caller's transaction.
 *
 *   GROUPS[conversation id], sealed with version = epoch:
 *     struct { uint8 format = 1; uint64 epoch; opaque state[rest]; }
 *     (state: the bytes of mls_group_encode, docs/group-state.md)
 *
 *   LEASES[conversation id], sealed:
 *     struct { uint8 format = 1; uint64 epoch; uint64 next_generation; }
 *     next_generation is the first generation not yet handed out in that
 *     epoch (up to 2^32: every generation used).
 */
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/guard.h"
#include "common/secmem.h"
#include "keystore/keystore_int.h"

#define GROUP_FORMAT 1
#define LEASE_FORMAT 1
#define GENERATIONS ((uint64_t)1 << 32) /* RFC 9420 §9.1: uint32 generation */

int mg_ks_conv_id_valid(const char *conv_id) {
  size_t n;
  if (conv_id == NULL) {
    return 0;
  }
  for (n = 0; conv_id[n] != '\0'; n++) {
    char c = conv_id[n];
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
             (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
             c == ':';
    if (!ok || n >= MG_KS_CONV_ID_MAX) {
      return 0;
    }
  }
  return n > 0;
}

/* group_open reads the group record of |conv_id|; |*state| (may be NULL to
 * only learn the epoch) gets a copy of the state bytes. */
static int group_open(mg_kv_txn *txn, const char *conv_id, uint64_t *epoch,
                      uint8_t **state, size_t *state_len) {
  uint8_t *pt = NULL;
  size_t pt_len = 0;
  uint64_t version = 0, rec_epoch = 0;
  uint8_t format = 0;
  mg_reader r;
  int rc;
  MG_CHECK(mg_kv_get_sealed(txn, MG_KV_GROUPS, (const uint8_t *)conv_id,
                            strlen(conv_id), &version, &pt, &pt_len));
  mg_reader_init(&r, pt, pt_len);
  if (mg_read_u8(&r, &format) < 0) {
    MG_FAIL(MG_ERR_TAMPERED);
  }
  if (format != GROUP_FORMAT) {
    MG_FAIL(MG_ERR_SCHEMA);
  }
  if (mg_read_u64(&r, &rec_epoch) < 0 || rec_epoch != version) {
    MG_FAIL(MG_ERR_TAMPERED);
  }
  if (state != NULL) {
    size_t n = mg_reader_len(&r);
    uint8_t *copy = malloc(n == 0 ? 1 : n);
    if (copy == NULL) {
      MG_FAIL(MG_ERR_NOMEM);
    }
    if (n > 0) {
      memcpy(copy, mg_reader_data(&r), n);
    }
    *state = copy;
    *state_len = n;
  }
  *epoch = rec_epoch;
  rc = 0;
out:
  mg_free_secret(pt, pt_len);
  return rc;
}

int mg_ks_group_load(mg_ks_txn *txn, const char *conv_id, uint64_t *epoch,
                     uint8_t **state, size_t *state_len) {
  MG_ENSURE(txn != NULL && epoch != NULL && state != NULL && state_len != NULL,
            MG_ERR_INVALID_ARG);
  MG_ENSURE(mg_ks_conv_id_valid(conv_id), MG_ERR_INVALID_ARG);
  return group_open(txn, conv_id, epoch, state, state_len);
}

static int audit_group(mg_keystore *ks, mg_kv_txn *txn, const mg_ks_ctx *ctx,
                       const char *action, const char *conv_id) {
  mg_ks_audit a;
  memset(&a, 0, sizeof(a));
  a.action = action;
  a.object = conv_id;
  return mg_ks_audit_append(ks, txn, ctx, &a, NULL);
}

/* group_store is mg_ks_group_save; |action| names its audit entry (|ks|
 * and |ctx| then non-NULL), or is NULL for none (mg_ks_group_put: the
 * caller appends the operation's own entry). */
static int group_store(mg_keystore *ks, mg_ks_txn *txn, const mg_ks_ctx *ctx,
                       const char *conv_id, uint64_t expected_epoch,
                       uint64_t new_epoch, const uint8_t *state,
                       size_t state_len, const char *action) {
  uint64_t cur = 0;
  uint8_t *rec = NULL;
  size_t rec_len = 0;
  int rc;

  MG_ENSURE(txn != NULL, MG_ERR_INVALID_ARG);
  MG_ENSURE(action == NULL || (ks != NULL && ctx != NULL), MG_ERR_INVALID_ARG);
  MG_ENSURE(state != NULL && state_len > 0, MG_ERR_INVALID_ARG);
  MG_ENSURE(mg_ks_conv_id_valid(conv_id), MG_ERR_INVALID_ARG);
  MG_ENSURE(new_epoch != MG_KS_EPOCH_NONE, MG_ERR_INVALID_ARG);
  MG_ENSURE(expected_epoch == MG_KS_EPOCH_NONE || new_epoch >= expected_epoch,
            MG_ERR_INVALID_ARG);
  MG_ENSURE(state_len <= SIZE_MAX - 9, MG_ERR_INVALID_ARG);

  rc = group_open(txn, conv_id, &cur, NULL, NULL);
  if (expected_epoch == MG_KS_EPOCH_NONE) {
    if (rc == 0) {
      return MG_ERR_CONFLICT; /* someone created it first */
    }
    if (rc != MG_ERR_NOT_FOUND) {
      return rc;
    }
  } else {
    MG_GUARD(rc);
    MG_ENSURE(cur == expected_epoch, MG_ERR_CONFLICT);
  }

  rec_len = state_len + 9;
  rec = malloc(rec_len);
  MG_ENSURE(rec != NULL, MG_ERR_NOMEM);
  rec[0] = GROUP_FORMAT;
  for (int i = 0; i < 8; i++) {
    rec[1 + i] = (uint8_t)(new_epoch >> (56 - 8 * i));
  }
  memcpy(rec + 9, state, state_len);
  MG_CHECK(mg_kv_put_sealed(
      txn, MG_KV_GROUPS, (const uint8_t *)conv_id, strlen(conv_id), new_epoch,
      rec, rec_len, expected_epoch == MG_KS_EPOCH_NONE ? MG_KV_PUT_INSERT : 0));
  if (action != NULL) {
    MG_CHECK(audit_group(ks, txn, ctx, action, conv_id));
  }
  rc = 0;
out:
  mg_free_secret(rec, rec_len);
  return rc;
}

int mg_ks_group_save(mg_keystore *ks, mg_ks_txn *txn, const mg_ks_ctx *ctx,
                     const char *conv_id, uint64_t expected_epoch,
                     uint64_t new_epoch, const uint8_t *state,
                     size_t state_len) {
  MG_ENSURE(ks != NULL && ctx != NULL, MG_ERR_INVALID_ARG);
  return group_store(ks, txn, ctx, conv_id, expected_epoch, new_epoch, state,
                     state_len, "group.save");
}

int mg_ks_group_put(mg_ks_txn *txn, const char *conv_id,
                    uint64_t expected_epoch, uint64_t new_epoch,
                    const uint8_t *state, size_t state_len) {
  return group_store(NULL, txn, NULL, conv_id, expected_epoch, new_epoch,
                     state, state_len, NULL);
}

int mg_ks_group_remove(mg_ks_txn *txn, const char *conv_id) {
  int rc;
  MG_ENSURE(txn != NULL, MG_ERR_INVALID_ARG);
  MG_ENSURE(mg_ks_conv_id_valid(conv_id), MG_ERR_INVALID_ARG);
  MG_GUARD(
      mg_kv_del(txn, MG_KV_GROUPS, (const uint8_t *)conv_id, strlen(conv_id)));
  rc = mg_kv_del(txn, MG_KV_LEASES, (const uint8_t *)conv_id, strlen(conv_id));
  if (rc < 0 && rc != MG_ERR_NOT_FOUND) {
    return rc;
  }
  return 0;
}

int mg_ks_group_delete(mg_keystore *ks, mg_ks_txn *txn, const mg_ks_ctx *ctx,
                       const char *conv_id) {
  MG_ENSURE(ks != NULL && txn != NULL && ctx != NULL, MG_ERR_INVALID_ARG);
  MG_GUARD(mg_ks_group_remove(txn, conv_id));
  return audit_group(ks, txn, ctx, "group.delete", conv_id);
}

int mg_ks_lease_reserve(mg_ks_txn *txn, const char *conv_id, uint64_t epoch,
                        uint32_t count, uint32_t *first_generation) {
  uint8_t *pt = NULL;
  size_t pt_len = 0;
  uint64_t version = 0, lease_epoch = 0, next = 0;
  uint8_t format = 0;
  uint8_t rec[17];
  mg_reader r;
  mg_writer w;
  int rc;

  MG_ENSURE(txn != NULL && first_generation != NULL && count >= 1,
            MG_ERR_INVALID_ARG);
  MG_ENSURE(mg_ks_conv_id_valid(conv_id), MG_ERR_INVALID_ARG);

  rc = mg_kv_get_sealed(txn, MG_KV_LEASES, (const uint8_t *)conv_id,
                        strlen(conv_id), &version, &pt, &pt_len);
  if (rc == 0) {
    mg_reader_init(&r, pt, pt_len);
    if (version != 1 || mg_read_u8(&r, &format) < 0 || format != LEASE_FORMAT ||
        mg_read_u64(&r, &lease_epoch) < 0 || mg_read_u64(&r, &next) < 0 ||
        mg_reader_done(&r) < 0 || next > GENERATIONS) {
      MG_FAIL(MG_ERR_TAMPERED);
    }
    if (lease_epoch > epoch) {
      MG_FAIL(MG_ERR_CONFLICT); /* a newer epoch already sends */
    }
    if (lease_epoch < epoch) {
      next = 0; /* a new epoch starts its ratchets at generation 0 */
    }
  } else if (rc == MG_ERR_NOT_FOUND) {
    next = 0;
  } else {
    goto out;
  }
  if (next + count > GENERATIONS) {
    MG_FAIL(MG_ERR_GENERATION);
  }
  mg_writer_init_fixed(&w, rec, sizeof(rec));
  MG_CHECK(mg_write_u8(&w, LEASE_FORMAT));
  MG_CHECK(mg_write_u64(&w, epoch));
  MG_CHECK(mg_write_u64(&w, next + count));
  MG_CHECK(mg_kv_put_sealed(txn, MG_KV_LEASES, (const uint8_t *)conv_id,
                            strlen(conv_id), 1, rec, sizeof(rec), 0));
  *first_generation = (uint32_t)next;
  rc = 0;
out:
  mg_free_secret(pt, pt_len);
  return rc;
}
