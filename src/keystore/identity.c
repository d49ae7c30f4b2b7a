/*
 * Enterprise identities and their versioned signing keys (issue 5).
 *
 * Records (sealed, see keystore_int.h for the keys):
 *
 *   struct {
 *       uint32 version;
 *       opaque key_id[16];
 *       uint8 state;              // mg_ks_key_state
 *       uint64 created_at;
 *       uint64 not_after;         // 0: none
 *       opaque pub<V>;
 *   } KeyInfo;
 *
 *   struct {
 *       uint8 format = 1;
 *       uint16 cipher_suite;
 *       uint64 rotate_every;
 *       uint64 created_at;
 *       uint32 active_version;
 *       KeyInfo keys<V>;          // versions 1..n in order
 *   } IdentityRecord;             // IDENTITIES[name], sealed version
 *                                 // counts rewrites (1, 2, ...)
 *
 *   struct {
 *       uint8 format = 1;
 *       uint16 cipher_suite;
 *       uint32 version;
 *       opaque pub<V>;
 *       opaque priv<V>;
 *   } SigningKeyRecord;           // SIGNING_KEYS[name 0x00 version]
 *
 * The identity record holds everything public (states, key IDs, public
 * keys) so that get/list never open a private key.  A revoked key's
 * SigningKeyRecord is deleted.
 */
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/guard.h"
#include "common/secmem.h"
#include "crypto/suite.h"
#include "keystore/keystore_int.h"

#define IDENTITY_FORMAT 1
#define SIGNING_KEY_FORMAT 1

void mg_ks_identity_cleanup(mg_ks_identity *id) {
  if (id == NULL) {
    return;
  }
  free(id->keys);
  memset(id, 0, sizeof(*id));
}

void mg_ks_signer_cleanup(mg_ks_signer *s) {
  if (s == NULL) {
    return;
  }
  mg_secure_free(s->priv);
  memset(s, 0, sizeof(*s));
}

/* ----------------------------------------------------------- codec */

static int identity_encode(const mg_ks_identity *id, uint8_t **out,
                           size_t *out_len) {
  mg_writer w;
  size_t mark;
  int rc;
  mg_writer_zero(&w);
  MG_CHECK(mg_writer_init(&w, 256, 0));
  MG_CHECK(mg_write_u8(&w, IDENTITY_FORMAT));
  MG_CHECK(mg_write_u16(&w, id->cipher_suite));
  MG_CHECK(mg_write_u64(&w, id->rotate_every));
  MG_CHECK(mg_write_u64(&w, id->created_at));
  MG_CHECK(mg_write_u32(&w, id->active_version));
  MG_CHECK(mg_write_vec_begin(&w, &mark));
  for (size_t i = 0; i < id->num_keys; i++) {
    const mg_ks_key_info *k = &id->keys[i];
    MG_CHECK(mg_write_u32(&w, k->version));
    MG_CHECK(mg_write_bytes(&w, k->key_id, MG_KS_KEY_ID_LEN));
    MG_CHECK(mg_write_u8(&w, (uint8_t)k->state));
    MG_CHECK(mg_write_u64(&w, k->created_at));
    MG_CHECK(mg_write_u64(&w, k->not_after));
    MG_CHECK(mg_write_opaque(&w, k->pub, k->pub_len));
  }
  MG_CHECK(mg_write_vec_end(&w, mark));
  return mg_writer_finish(&w, out, out_len);
out:
  mg_writer_cleanup(&w);
  return rc;
}

/* identity_decode parses an opened IdentityRecord and checks its
 * invariants (versions 1..n, exactly the active one active, public keys of
 * the suite's length).  An unknown format is MG_ERR_SCHEMA; anything else
 * that is wrong is MG_ERR_TAMPERED. */
static int identity_decode(const char *name, const uint8_t *p, size_t len,
                           mg_ks_identity *out) {
  mg_ks_identity id;
  mg_reader r, keys, pub;
  uint8_t format = 0, state = 0;
  const mls_suite *suite;
  size_t num_active = 0;
  int rc;

  memset(&id, 0, sizeof(id));
  mg_reader_init(&r, p, len);
  MG_CHECK(mg_read_u8(&r, &format));
  if (format != IDENTITY_FORMAT) {
    MG_FAIL(MG_ERR_SCHEMA);
  }
  MG_CHECK(mg_read_u16(&r, &id.cipher_suite));
  MG_CHECK(mg_read_u64(&r, &id.rotate_every));
  MG_CHECK(mg_read_u64(&r, &id.created_at));
  MG_CHECK(mg_read_u32(&r, &id.active_version));
  MG_CHECK(mg_read_vec(&r, &keys));
  MG_CHECK(mg_reader_done(&r));
  suite = mls_suite_by_id(id.cipher_suite);
  if (suite == NULL) {
    MG_FAIL(MG_ERR_TAMPERED);
  }
  while (mg_reader_len(&keys) > 0) {
    mg_ks_key_info k;
    mg_ks_key_info *grown;
    memset(&k, 0, sizeof(k));
    MG_CHECK(mg_read_u32(&keys, &k.version));
    MG_CHECK(mg_read_copy(&keys, k.key_id, MG_KS_KEY_ID_LEN));
    MG_CHECK(mg_read_u8(&keys, &state));
    MG_CHECK(mg_read_u64(&keys, &k.created_at));
    MG_CHECK(mg_read_u64(&keys, &k.not_after));
    MG_CHECK(mg_read_vec(&keys, &pub));
    if (mg_reader_len(&pub) != suite->sig->pub_len ||
        k.version != id.num_keys + 1 || state < MG_KS_KEY_ACTIVE ||
        state > MG_KS_KEY_REVOKED) {
      MG_FAIL(MG_ERR_TAMPERED);
    }
    k.state = (mg_ks_key_state)state;
    k.pub_len = mg_reader_len(&pub);
    memcpy(k.pub, mg_reader_data(&pub), k.pub_len);
    if (k.state == MG_KS_KEY_ACTIVE) {
      num_active++;
      if (k.version != id.active_version) {
        MG_FAIL(MG_ERR_TAMPERED);
      }
    }
    grown = realloc(id.keys, (id.num_keys + 1) * sizeof(*grown));
    if (grown == NULL) {
      MG_FAIL(MG_ERR_NOMEM);
    }
    id.keys = grown;
    id.keys[id.num_keys++] = k;
  }
  if (num_active != 1) {
    MG_FAIL(MG_ERR_TAMPERED);
  }
  memcpy(id.name, name, strlen(name) + 1);
  *out = id;
  return 0;
out:
  mg_ks_identity_cleanup(&id);
  if (rc != MG_ERR_NOMEM && rc != MG_ERR_SCHEMA) {
    rc = MG_ERR_TAMPERED;
  }
  return rc;
}

int ks_identity_load(mg_kv_txn *txn, const char *name, mg_ks_identity *out,
                     uint64_t *rec_version) {
  uint8_t *pt = NULL;
  size_t pt_len = 0;
  uint64_t version = 0;
  int rc;
  MG_ENSURE(mg_ks_name_valid(name), MG_ERR_INVALID_ARG);
  MG_CHECK(mg_kv_get_sealed(txn, MG_KV_IDENTITIES, (const uint8_t *)name,
                            strlen(name), &version, &pt, &pt_len));
  MG_CHECK(identity_decode(name, pt, pt_len, out));
  if (rec_version != NULL) {
    *rec_version = version;
  }
out:
  mg_free_secret(pt, pt_len);
  return rc;
}

static int identity_store(mg_kv_txn *txn, const mg_ks_identity *id,
                          uint64_t rec_version, int flags) {
  uint8_t *rec = NULL;
  size_t rec_len = 0;
  int rc;
  MG_CHECK(identity_encode(id, &rec, &rec_len));
  MG_CHECK(mg_kv_put_sealed(txn, MG_KV_IDENTITIES, (const uint8_t *)id->name,
                            strlen(id->name), rec_version, rec, rec_len,
                            flags));
out:
  free(rec);
  return rc;
}

static size_t signing_key_key(uint8_t *buf, const char *name,
                              uint32_t version) {
  size_t n = ks_prefix(buf, name);
  buf[n++] = (uint8_t)(version >> 24);
  buf[n++] = (uint8_t)(version >> 16);
  buf[n++] = (uint8_t)(version >> 8);
  buf[n++] = (uint8_t)version;
  return n;
}

int ks_signing_key_load(mg_kv_txn *txn, const char *name, uint32_t version,
                        uint16_t suite_id, const uint8_t *pub, size_t pub_len,
                        uint8_t **priv_out, size_t *priv_len_out) {
  uint8_t key[MG_KS_KEY_BUF];
  size_t key_len = signing_key_key(key, name, version);
  const mls_suite *suite = mls_suite_by_id(suite_id);
  uint8_t *pt = NULL, *priv = NULL;
  size_t pt_len = 0;
  uint64_t rec_version = 0;
  uint8_t format = 0;
  uint16_t rec_suite = 0;
  uint32_t rec_key_version = 0;
  uint8_t derived[MG_MAX_SIG_PUB_LEN];
  mg_reader r, rpub, rpriv;
  int rc;

  MG_ENSURE(suite != NULL, MG_ERR_TAMPERED);
  MG_CHECK(mg_kv_get_sealed(txn, MG_KV_SIGNING_KEYS, key, key_len, &rec_version,
                            &pt, &pt_len));
  mg_reader_init(&r, pt, pt_len);
  if (rec_version != 1 || mg_read_u8(&r, &format) < 0 ||
      format != SIGNING_KEY_FORMAT || mg_read_u16(&r, &rec_suite) < 0 ||
      mg_read_u32(&r, &rec_key_version) < 0 || mg_read_vec(&r, &rpub) < 0 ||
      mg_read_vec(&r, &rpriv) < 0 || mg_reader_done(&r) < 0 ||
      rec_suite != suite_id || rec_key_version != version ||
      mg_reader_len(&rpub) != pub_len ||
      mg_reader_len(&rpriv) != suite->sig->priv_len ||
      pub_len != suite->sig->pub_len ||
      memcmp(mg_reader_data(&rpub), pub, pub_len) != 0) {
    MG_FAIL(MG_ERR_TAMPERED);
  }
  priv = mg_secure_alloc(suite->sig->priv_len);
  if (priv == NULL) {
    MG_FAIL(MG_ERR_LOCK);
  }
  memcpy(priv, mg_reader_data(&rpriv), suite->sig->priv_len);
  rc = suite->sig->pub_from_priv(suite->sig, derived, priv);
  if (rc < 0 || memcmp(derived, pub, pub_len) != 0) {
    MG_FAIL(MG_ERR_TAMPERED);
  }
  *priv_out = priv;
  *priv_len_out = suite->sig->priv_len;
  priv = NULL;
  rc = 0;
out:
  mg_secure_free(priv);
  mg_free_secret(pt, pt_len);
  return rc;
}

/* new_key generates version num_keys + 1 of |id|'s signing key, stores its
 * private part and appends its KeyInfo (active) to |id|.  The caller
 * retires or revokes the previous active key and stores |id|. */
static int new_key(mg_kv_txn *txn, mg_ks_identity *id, uint64_t now) {
  const mls_suite *suite = mls_suite_by_id(id->cipher_suite);
  uint8_t priv[MG_MAX_SIG_PRIV_LEN];
  mg_ks_key_info k;
  mg_ks_key_info *grown;
  uint8_t key[MG_KS_KEY_BUF];
  size_t key_len;
  mg_writer w;
  uint8_t *rec = NULL;
  size_t rec_len = 0;
  int rc;

  mg_writer_zero(&w);
  memset(&k, 0, sizeof(k));
  MG_ENSURE(suite != NULL, MG_ERR_UNSUPPORTED);
  MG_ENSURE(id->num_keys < UINT32_MAX, MG_ERR_INVALID_ARG);
  k.version = (uint32_t)id->num_keys + 1;
  k.state = MG_KS_KEY_ACTIVE;
  k.created_at = now;
  k.not_after = 0;
  if (id->rotate_every != 0 && now <= UINT64_MAX - id->rotate_every) {
    k.not_after = now + id->rotate_every;
  }
  k.pub_len = suite->sig->pub_len;
  MG_CHECK(suite->sig->generate(suite->sig, priv, k.pub));
  MG_CHECK(mg_ks_key_id(k.key_id, suite->id, k.pub, k.pub_len));

  MG_CHECK(mg_writer_init(&w, 256, 0));
  MG_CHECK(mg_write_u8(&w, SIGNING_KEY_FORMAT));
  MG_CHECK(mg_write_u16(&w, suite->id));
  MG_CHECK(mg_write_u32(&w, k.version));
  MG_CHECK(mg_write_opaque(&w, k.pub, k.pub_len));
  MG_CHECK(mg_write_opaque(&w, priv, suite->sig->priv_len));
  MG_CHECK(mg_writer_finish(&w, &rec, &rec_len));
  key_len = signing_key_key(key, id->name, k.version);
  MG_CHECK(mg_kv_put_sealed(txn, MG_KV_SIGNING_KEYS, key, key_len, 1, rec,
                            rec_len, MG_KV_PUT_INSERT));

  grown = realloc(id->keys, (id->num_keys + 1) * sizeof(*grown));
  if (grown == NULL) {
    MG_FAIL(MG_ERR_NOMEM);
  }
  id->keys = grown;
  id->keys[id->num_keys++] = k;
  id->active_version = k.version;
  rc = 0;
out:
  mg_memzero(priv, sizeof(priv));
  mg_writer_cleanup(&w);
  mg_free_secret(rec, rec_len);
  return rc;
}

static mg_ks_key_info *active_key(mg_ks_identity *id) {
  if (id->active_version == 0 || id->active_version > id->num_keys) {
    return NULL;
  }
  return &id->keys[id->active_version - 1];
}

static int audit_keys(mg_keystore *ks, mg_kv_txn *txn, const mg_ks_ctx *ctx,
                      const char *action, const char *object,
                      const uint8_t (*ids)[MG_KS_KEY_ID_LEN], size_t n) {
  mg_ks_audit a;
  memset(&a, 0, sizeof(a));
  a.action = action;
  a.object = object;
  a.key_ids = ids;
  a.num_key_ids = n;
  a.result = 0;
  return mg_ks_audit_append(ks, txn, ctx, &a, NULL);
}

/* ----------------------------------------------------------- create */

typedef struct create_arg {
  mg_keystore *ks;
  const mg_ks_ctx *ctx;
  const char *name;
  uint16_t suite;
  uint64_t rotate_every;
  const mg_ks_hook *hook; /* or NULL */
  mg_ks_identity result;
} create_arg;

static int create_txn(mg_kv_txn *txn, void *p) {
  create_arg *a = p;
  mg_ks_identity *id = &a->result;
  int rc;
  mg_ks_identity_cleanup(id); /* a rerun starts afresh */
  memcpy(id->name, a->name, strlen(a->name) + 1);
  id->cipher_suite = a->suite;
  id->rotate_every = a->rotate_every;
  id->created_at = a->ctx->now;
  MG_GUARD(new_key(txn, id, a->ctx->now));
  MG_GUARD(identity_store(txn, id, 1, MG_KV_PUT_INSERT));
  rc = audit_keys(a->ks, txn, a->ctx, "identity.create", id->name,
                  (const uint8_t(*)[MG_KS_KEY_ID_LEN])id->keys[0].key_id, 1);
  if (rc == 0 && a->hook != NULL) {
    rc = a->hook->in_txn(txn, a->hook->arg, id);
  }
  return rc;
}

int mg_ks_identity_create(mg_keystore *ks, const mg_ks_ctx *ctx,
                          const char *name, uint16_t cipher_suite,
                          uint64_t rotate_every, mg_ks_identity *out) {
  return mg_ks_identity_create_h(ks, ctx, name, cipher_suite, rotate_every,
                                 out, NULL);
}

int mg_ks_identity_create_h(mg_keystore *ks, const mg_ks_ctx *ctx,
                            const char *name, uint16_t cipher_suite,
                            uint64_t rotate_every, mg_ks_identity *out,
                            const mg_ks_hook *hook) {
  create_arg a;
  int rc;
  MG_ENSURE(ks != NULL && ctx != NULL, MG_ERR_INVALID_ARG);
  memset(&a, 0, sizeof(a));
  if (!mg_ks_name_valid(name)) {
    rc = MG_ERR_INVALID_ARG;
  } else if (mls_suite_by_id(cipher_suite) == NULL) {
    rc = MG_ERR_UNSUPPORTED;
  } else {
    a.ks = ks;
    a.ctx = ctx;
    a.name = name;
    a.suite = cipher_suite;
    a.rotate_every = rotate_every;
    a.hook = hook;
    rc = mg_kv_write(ks->kv, create_txn, &a);
  }
  if (rc == 0 && out != NULL) {
    *out = a.result;
    memset(&a.result, 0, sizeof(a.result));
  }
  mg_ks_identity_cleanup(&a.result);
  return ks_audit_failure(ks, ctx, "identity.create", name, NULL, 0, rc);
}

/* -------------------------------------------------------- get, list */

typedef struct get_arg {
  const char *name;
  mg_ks_identity result;
} get_arg;

static int get_txn(mg_kv_txn *txn, void *p) {
  get_arg *a = p;
  mg_ks_identity_cleanup(&a->result);
  return ks_identity_load(txn, a->name, &a->result, NULL);
}

int mg_ks_identity_get(mg_keystore *ks, const char *name, mg_ks_identity *out) {
  get_arg a;
  int rc;
  MG_ENSURE(ks != NULL && out != NULL, MG_ERR_INVALID_ARG);
  MG_ENSURE(mg_ks_name_valid(name), MG_ERR_INVALID_ARG);
  memset(&a, 0, sizeof(a));
  a.name = name;
  rc = mg_kv_read(ks->kv, get_txn, &a);
  if (rc == 0) {
    *out = a.result;
  } else {
    mg_ks_identity_cleanup(&a.result);
  }
  return rc;
}

typedef struct list_arg {
  mg_ks_identity *ids;
  size_t n;
} list_arg;

static void list_arg_free(list_arg *a) {
  for (size_t i = 0; i < a->n; i++) {
    mg_ks_identity_cleanup(&a->ids[i]);
  }
  free(a->ids);
  a->ids = NULL;
  a->n = 0;
}

/* A stored key that is not a valid name cannot come from us. */
static int key_to_name(char *name, const uint8_t *key, size_t len) {
  MG_ENSURE(len >= 1 && len <= MG_KS_NAME_MAX, MG_ERR_TAMPERED);
  memcpy(name, key, len);
  name[len] = '\0';
  MG_ENSURE(mg_ks_name_valid(name), MG_ERR_TAMPERED);
  return 0;
}

static int list_txn(mg_kv_txn *txn, void *p) {
  list_arg *a = p;
  ks_keylist keys;
  char name[MG_KS_NAME_MAX + 1];
  int rc;
  memset(&keys, 0, sizeof(keys));
  list_arg_free(a);
  MG_CHECK(ks_keylist_collect(txn, MG_KV_IDENTITIES, NULL, 0, &keys));
  if (keys.n > 0) {
    a->ids = calloc(keys.n, sizeof(*a->ids));
    if (a->ids == NULL) {
      MG_FAIL(MG_ERR_NOMEM);
    }
  }
  for (size_t i = 0; i < keys.n; i++) {
    MG_CHECK(key_to_name(name, keys.keys[i], keys.lens[i]));
    MG_CHECK(ks_identity_load(txn, name, &a->ids[i], NULL));
    a->n++;
  }
  rc = 0;
out:
  ks_keylist_free(&keys);
  return rc;
}

const char *mg_ks_key_state_name(mg_ks_key_state st) {
  switch (st) {
    case MG_KS_KEY_ACTIVE:
      return "active";
    case MG_KS_KEY_RETIRED:
      return "retired";
    case MG_KS_KEY_REVOKED:
      return "revoked";
  }
  return "unknown";
}

int mg_ks_identity_list(mg_keystore *ks, mg_ks_identity_fn fn, void *arg) {
  list_arg a;
  int rc;
  MG_ENSURE(ks != NULL && fn != NULL, MG_ERR_INVALID_ARG);
  memset(&a, 0, sizeof(a));
  rc = mg_kv_read(ks->kv, list_txn, &a);
  for (size_t i = 0; rc == 0 && i < a.n; i++) {
    rc = fn(arg, &a.ids[i]);
  }
  list_arg_free(&a);
  return rc;
}

/* --------------------------------------------------- rotate, revoke */

/* rotate_loaded retires the active key of the loaded |id|, adds a new one
 * and stores |id| (record version |rec_version| + 1), audited. */
static int rotate_loaded(mg_keystore *ks, mg_kv_txn *txn, const mg_ks_ctx *ctx,
                         mg_ks_identity *id, uint64_t rec_version,
                         const char *action) {
  uint8_t ids[2][MG_KS_KEY_ID_LEN];
  mg_ks_key_info *old = active_key(id);
  MG_ENSURE(old != NULL, MG_ERR_TAMPERED);
  MG_ENSURE(rec_version < UINT64_MAX, MG_ERR_TAMPERED);
  old->state = MG_KS_KEY_RETIRED;
  memcpy(ids[0], old->key_id, MG_KS_KEY_ID_LEN);
  /* new_key may move id->keys: |old| is not used after it. */
  MG_GUARD(new_key(txn, id, ctx->now));
  memcpy(ids[1], id->keys[id->num_keys - 1].key_id, MG_KS_KEY_ID_LEN);
  MG_GUARD(identity_store(txn, id, rec_version + 1, 0));
  return audit_keys(ks, txn, ctx, action, id->name,
                    (const uint8_t(*)[MG_KS_KEY_ID_LEN])ids, 2);
}

typedef struct rotate_arg {
  mg_keystore *ks;
  const mg_ks_ctx *ctx;
  const char *name;
  mg_ks_key_info result;
} rotate_arg;

static int rotate_txn(mg_kv_txn *txn, void *p) {
  rotate_arg *a = p;
  mg_ks_identity id;
  uint64_t rec_version = 0;
  int rc;
  memset(&id, 0, sizeof(id));
  memset(&a->result, 0, sizeof(a->result));
  MG_CHECK(ks_identity_load(txn, a->name, &id, &rec_version));
  MG_CHECK(
      rotate_loaded(a->ks, txn, a->ctx, &id, rec_version, "identity.rotate"));
  a->result = id.keys[id.num_keys - 1];
out:
  mg_ks_identity_cleanup(&id);
  return rc;
}

int mg_ks_identity_rotate(mg_keystore *ks, const mg_ks_ctx *ctx,
                          const char *name, mg_ks_key_info *out) {
  rotate_arg a;
  int rc;
  MG_ENSURE(ks != NULL && ctx != NULL, MG_ERR_INVALID_ARG);
  memset(&a, 0, sizeof(a));
  if (!mg_ks_name_valid(name)) {
    rc = MG_ERR_INVALID_ARG;
  } else {
    a.ks = ks;
    a.ctx = ctx;
    a.name = name;
    rc = mg_kv_write(ks->kv, rotate_txn, &a);
  }
  if (rc == 0 && out != NULL) {
    *out = a.result;
  }
  return ks_audit_failure(ks, ctx, "identity.rotate", name, NULL, 0, rc);
}

typedef struct revoke_arg {
  mg_keystore *ks;
  const mg_ks_ctx *ctx;
  const char *name;
  const uint8_t *key_id;
} revoke_arg;

static int revoke_txn(mg_kv_txn *txn, void *p) {
  revoke_arg *a = p;
  mg_ks_identity id;
  uint64_t rec_version = 0;
  mg_ks_key_info *k = NULL;
  uint8_t key[MG_KS_KEY_BUF];
  size_t key_len;
  uint8_t ids[2][MG_KS_KEY_ID_LEN];
  size_t num_ids = 1;
  uint32_t version;
  int was_active;
  int rc;

  memset(&id, 0, sizeof(id));
  MG_CHECK(ks_identity_load(txn, a->name, &id, &rec_version));
  if (rec_version == UINT64_MAX) {
    MG_FAIL(MG_ERR_TAMPERED);
  }
  for (size_t i = 0; i < id.num_keys; i++) {
    if (memcmp(id.keys[i].key_id, a->key_id, MG_KS_KEY_ID_LEN) == 0) {
      k = &id.keys[i];
      break;
    }
  }
  if (k == NULL) {
    MG_FAIL(MG_ERR_NOT_FOUND);
  }
  if (k->state == MG_KS_KEY_REVOKED) {
    MG_FAIL(MG_ERR_CONFLICT);
  }
  version = k->version;
  was_active = k->state == MG_KS_KEY_ACTIVE;
  k->state = MG_KS_KEY_REVOKED;
  memcpy(ids[0], k->key_id, MG_KS_KEY_ID_LEN);
  k = NULL;

  /* The private key goes; so do the KeyPackages it signed (nobody may
   * join with a revoked key). */
  key_len = signing_key_key(key, id.name, version);
  rc = mg_kv_del(txn, MG_KV_SIGNING_KEYS, key, key_len);
  if (rc == MG_ERR_NOT_FOUND) {
    rc = MG_ERR_TAMPERED; /* a non-revoked key always has its record */
  }
  MG_CHECK(rc);
  MG_CHECK(ks_kp_delete_signed_by(txn, id.name, version, NULL));
  if (was_active) {
    MG_CHECK(new_key(txn, &id, a->ctx->now));
    memcpy(ids[1], id.keys[id.num_keys - 1].key_id, MG_KS_KEY_ID_LEN);
    num_ids = 2;
  }
  MG_CHECK(identity_store(txn, &id, rec_version + 1, 0));
  MG_CHECK(audit_keys(a->ks, txn, a->ctx, "identity.revoke", id.name,
                      (const uint8_t(*)[MG_KS_KEY_ID_LEN])ids, num_ids));
out:
  mg_ks_identity_cleanup(&id);
  return rc;
}

int mg_ks_identity_revoke(mg_keystore *ks, const mg_ks_ctx *ctx,
                          const char *name, const uint8_t *key_id) {
  revoke_arg a;
  uint8_t asked[1][MG_KS_KEY_ID_LEN] = {{0}};
  int rc;
  MG_ENSURE(ks != NULL && ctx != NULL, MG_ERR_INVALID_ARG);
  if (key_id != NULL) {
    memcpy(asked[0], key_id, MG_KS_KEY_ID_LEN);
  }
  if (key_id == NULL || !mg_ks_name_valid(name)) {
    rc = MG_ERR_INVALID_ARG;
  } else {
    a.ks = ks;
    a.ctx = ctx;
    a.name = name;
    a.key_id = key_id;
    rc = mg_kv_write(ks->kv, revoke_txn, &a);
  }
  /* The entry of a refused revocation names the key asked for. */
  return ks_audit_failure(ks, ctx, "identity.revoke", name,
                          (const uint8_t(*)[MG_KS_KEY_ID_LEN])asked,
                          key_id != NULL ? 1 : 0, rc);
}

/* -------------------------------------------------------- rotate_due */

typedef struct due_arg {
  mg_keystore *ks;
  const mg_ks_ctx *ctx;
  size_t n;
} due_arg;

static int is_due(mg_ks_identity *id, uint64_t now) {
  mg_ks_key_info *k = active_key(id);
  if (id->rotate_every == 0 || k == NULL) {
    return 0;
  }
  if (k->created_at > UINT64_MAX - id->rotate_every) {
    return 0;
  }
  return now >= k->created_at + id->rotate_every;
}

static int due_txn(mg_kv_txn *txn, void *p) {
  due_arg *a = p;
  ks_keylist keys;
  mg_ks_identity id;
  char name[MG_KS_NAME_MAX + 1];
  uint64_t rec_version = 0;
  int rc;
  memset(&keys, 0, sizeof(keys));
  memset(&id, 0, sizeof(id));
  a->n = 0;
  MG_CHECK(ks_keylist_collect(txn, MG_KV_IDENTITIES, NULL, 0, &keys));
  for (size_t i = 0; i < keys.n; i++) {
    MG_CHECK(key_to_name(name, keys.keys[i], keys.lens[i]));
    MG_CHECK(ks_identity_load(txn, name, &id, &rec_version));
    if (is_due(&id, a->ctx->now)) {
      MG_CHECK(rotate_loaded(a->ks, txn, a->ctx, &id, rec_version,
                             "identity.rotate_due"));
      a->n++;
    }
    mg_ks_identity_cleanup(&id);
  }
  rc = 0;
out:
  mg_ks_identity_cleanup(&id);
  ks_keylist_free(&keys);
  return rc;
}

int mg_ks_identity_rotate_due(mg_keystore *ks, const mg_ks_ctx *ctx,
                              size_t *n) {
  due_arg a;
  int rc;
  MG_ENSURE(ks != NULL && ctx != NULL, MG_ERR_INVALID_ARG);
  memset(&a, 0, sizeof(a));
  a.ks = ks;
  a.ctx = ctx;
  rc = mg_kv_write(ks->kv, due_txn, &a);
  if (n != NULL) {
    *n = rc == 0 ? a.n : 0;
  }
  /* Nothing was rotated: one entry for the whole run, no object. */
  return ks_audit_failure(ks, ctx, "identity.rotate_due", "", NULL, 0, rc);
}

/* ------------------------------------------------------------ signer */

int mg_ks_signer_load(mg_ks_txn *txn, const char *identity, mg_ks_signer *out) {
  mg_ks_identity id;
  mg_ks_key_info *k;
  mg_ks_signer s;
  int rc;
  MG_ENSURE(txn != NULL && out != NULL, MG_ERR_INVALID_ARG);
  MG_ENSURE(mg_ks_name_valid(identity), MG_ERR_INVALID_ARG);
  memset(&id, 0, sizeof(id));
  memset(&s, 0, sizeof(s));
  MG_CHECK(ks_identity_load(txn, identity, &id, NULL));
  k = active_key(&id);
  if (k == NULL) {
    MG_FAIL(MG_ERR_TAMPERED);
  }
  s.cipher_suite = id.cipher_suite;
  s.version = k->version;
  memcpy(s.key_id, k->key_id, MG_KS_KEY_ID_LEN);
  memcpy(s.pub, k->pub, k->pub_len);
  s.pub_len = k->pub_len;
  rc = ks_signing_key_load(txn, identity, k->version, id.cipher_suite, k->pub,
                           k->pub_len, &s.priv, &s.priv_len);
  if (rc == MG_ERR_NOT_FOUND) {
    rc = MG_ERR_TAMPERED; /* the active key always has its record */
  }
  MG_CHECK(rc);
  *out = s;
  memset(&s, 0, sizeof(s));
out:
  mg_ks_signer_cleanup(&s);
  mg_ks_identity_cleanup(&id);
  return rc;
}
