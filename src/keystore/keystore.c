/*
 * The keystore handle: open/close over the storage interface (kv.h), the
 * audit keys kept sealed in the meta table, transactions for the session
 * layer, and helpers shared by the keystore's modules.
 */
#include "keystore/keystore_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/codec.h"
#include "common/guard.h"
#include "common/secmem.h"
#include "crypto/crypto.h"

/* ------------------------------------------------------------ helpers */

size_t ks_prefix(uint8_t *buf, const char *name) {
  size_t n = strlen(name);
  memcpy(buf, name, n);
  buf[n] = 0x00;
  return n + 1;
}

int mg_ks_key_id(uint8_t out[MG_KS_KEY_ID_LEN], uint16_t suite,
                 const uint8_t *pub, size_t pub_len) {
  static const char label[] = "mlsgate key id v1";
  uint8_t buf[sizeof(label) - 1 + 2 + MG_MAX_SIG_PUB_LEN];
  uint8_t digest[32];
  size_t n = sizeof(label) - 1;
  MG_ENSURE(out != NULL && (pub != NULL || pub_len == 0), MG_ERR_INVALID_ARG);
  MG_ENSURE(pub_len <= MG_MAX_SIG_PUB_LEN, MG_ERR_INVALID_ARG);
  memcpy(buf, label, n);
  buf[n++] = (uint8_t)(suite >> 8);
  buf[n++] = (uint8_t)suite;
  memcpy(buf + n, pub, pub_len);
  n += pub_len;
  MG_GUARD(mg_sha256.digest(&mg_sha256, digest, buf, n));
  memcpy(out, digest, MG_KS_KEY_ID_LEN);
  return 0;
}

int mg_ks_name_valid(const char *name) {
  size_t n;
  if (name == NULL) {
    return 0;
  }
  for (n = 0; name[n] != '\0'; n++) {
    char c = name[n];
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
             (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok || n >= MG_KS_NAME_MAX) {
      return 0;
    }
  }
  return n > 0;
}

static int keylist_add(void *arg, const uint8_t *key, size_t key_len,
                       const uint8_t *val, size_t val_len) {
  ks_keylist *l = arg;
  (void)val;
  (void)val_len;
  if (l->n == l->cap) {
    size_t cap = l->cap == 0 ? 16 : l->cap * 2;
    uint8_t **keys = calloc(cap, sizeof(*keys));
    size_t *lens = calloc(cap, sizeof(*lens));
    if (keys == NULL || lens == NULL) {
      free(keys);
      free(lens);
      return MG_ERR_NOMEM;
    }
    if (l->n > 0) {
      memcpy(keys, l->keys, l->n * sizeof(*keys));
      memcpy(lens, l->lens, l->n * sizeof(*lens));
    }
    free(l->keys);
    free(l->lens);
    l->keys = keys;
    l->lens = lens;
    l->cap = cap;
  }
  l->keys[l->n] = malloc(key_len == 0 ? 1 : key_len);
  if (l->keys[l->n] == NULL) {
    return MG_ERR_NOMEM;
  }
  if (key_len > 0) {
    memcpy(l->keys[l->n], key, key_len);
  }
  l->lens[l->n] = key_len;
  l->n++;
  return 0;
}

void ks_keylist_free(ks_keylist *l) {
  if (l == NULL) {
    return;
  }
  for (size_t i = 0; i < l->n; i++) {
    free(l->keys[i]);
  }
  free(l->keys);
  free(l->lens);
  memset(l, 0, sizeof(*l));
}

int ks_keylist_collect(mg_kv_txn *txn, mg_kv_table tb, const uint8_t *prefix,
                       size_t prefix_len, ks_keylist *out) {
  int rc;
  ks_keylist_free(out);
  rc = mg_kv_scan(txn, tb, prefix, prefix_len, keylist_add, out);
  if (rc < 0) {
    ks_keylist_free(out);
  }
  return rc;
}

/* ------------------------------------------------------ audit keys */

/* The audit keys being created or loaded: written by the transaction
 * functions, moved into the handle once the transaction is over. */
typedef struct audit_keys {
  uint8_t *hmac;      /* secure */
  uint8_t *sign_priv; /* secure */
  uint8_t sign_pub[MG_KS_AUDIT_SIGN_PUB_LEN];
  int missing;
} audit_keys;

static int encode_sign_record(const audit_keys *k, uint8_t **out,
                              size_t *out_len) {
  mg_writer w;
  int rc;
  mg_writer_zero(&w);
  MG_CHECK(mg_writer_init(&w, 128, 0));
  MG_CHECK(mg_write_u8(&w, 1));
  MG_CHECK(mg_write_opaque(&w, k->sign_priv, MG_KS_AUDIT_SIGN_PRIV_LEN));
  MG_CHECK(mg_write_opaque(&w, k->sign_pub, MG_KS_AUDIT_SIGN_PUB_LEN));
  return mg_writer_finish(&w, out, out_len);
out:
  mg_writer_cleanup(&w);
  return rc;
}

static int audit_keys_create_txn(mg_kv_txn *txn, void *arg) {
  audit_keys *k = arg;
  const mg_sig_alg *sig = &mg_sig_ed25519;
  uint8_t *rec = NULL;
  size_t rec_len = 0;
  int rc;

  MG_CHECK(mg_random_bytes(k->hmac, MG_KS_AUDIT_HMAC_KEY_LEN));
  MG_CHECK(sig->generate(sig, k->sign_priv, k->sign_pub));
  MG_CHECK(mg_kv_put_sealed(txn, MG_KV_META,
                            (const uint8_t *)MG_KS_META_AUDIT_HMAC,
                            strlen(MG_KS_META_AUDIT_HMAC), 1, k->hmac,
                            MG_KS_AUDIT_HMAC_KEY_LEN, MG_KV_PUT_INSERT));
  MG_CHECK(encode_sign_record(k, &rec, &rec_len));
  MG_CHECK(mg_kv_put_sealed(
      txn, MG_KV_META, (const uint8_t *)MG_KS_META_AUDIT_SIGN,
      strlen(MG_KS_META_AUDIT_SIGN), 1, rec, rec_len, MG_KV_PUT_INSERT));
  rc = 0;
out:
  mg_free_secret(rec, rec_len);
  return rc;
}

static int audit_keys_load_txn(mg_kv_txn *txn, void *arg) {
  audit_keys *k = arg;
  const mg_sig_alg *sig = &mg_sig_ed25519;
  uint8_t *pt = NULL;
  size_t pt_len = 0;
  uint64_t version = 0;
  uint8_t pub[MG_KS_AUDIT_SIGN_PUB_LEN];
  mg_reader r, priv, pubr;
  uint8_t format = 0;
  int rc;

  k->missing = 0;
  rc = mg_kv_get_sealed(txn, MG_KV_META, (const uint8_t *)MG_KS_META_AUDIT_HMAC,
                        strlen(MG_KS_META_AUDIT_HMAC), &version, &pt, &pt_len);
  if (rc == MG_ERR_NOT_FOUND) {
    k->missing = 1;
    return 0;
  }
  MG_CHECK(rc);
  if (pt_len != MG_KS_AUDIT_HMAC_KEY_LEN || version != 1) {
    MG_FAIL(MG_ERR_TAMPERED);
  }
  memcpy(k->hmac, pt, MG_KS_AUDIT_HMAC_KEY_LEN);
  mg_free_secret(pt, pt_len);
  pt = NULL;
  pt_len = 0;

  rc = mg_kv_get_sealed(txn, MG_KV_META, (const uint8_t *)MG_KS_META_AUDIT_SIGN,
                        strlen(MG_KS_META_AUDIT_SIGN), &version, &pt, &pt_len);
  if (rc == MG_ERR_NOT_FOUND) {
    /* One audit key without the other: not something we ever write. */
    MG_FAIL(MG_ERR_TAMPERED);
  }
  MG_CHECK(rc);
  mg_reader_init(&r, pt, pt_len);
  if (version != 1 || mg_read_u8(&r, &format) < 0 || format != 1 ||
      mg_read_vec(&r, &priv) < 0 || mg_read_vec(&r, &pubr) < 0 ||
      mg_reader_done(&r) < 0 ||
      mg_reader_len(&priv) != MG_KS_AUDIT_SIGN_PRIV_LEN ||
      mg_reader_len(&pubr) != MG_KS_AUDIT_SIGN_PUB_LEN) {
    MG_FAIL(MG_ERR_TAMPERED);
  }
  memcpy(k->sign_priv, mg_reader_data(&priv), MG_KS_AUDIT_SIGN_PRIV_LEN);
  memcpy(k->sign_pub, mg_reader_data(&pubr), MG_KS_AUDIT_SIGN_PUB_LEN);
  MG_CHECK(sig->pub_from_priv(sig, pub, k->sign_priv));
  if (!mg_ct_memeq(pub, k->sign_pub, sizeof(pub))) {
    MG_FAIL(MG_ERR_TAMPERED);
  }
  rc = 0;
out:
  mg_free_secret(pt, pt_len);
  return rc;
}

/* A store whose creation stopped between mg_kv_open and the audit keys has
 * no audit keys and no audit entries: finish it.  Any audit entry without
 * the keys means the keys were removed: refuse. */
static int audit_keys_complete_txn(mg_kv_txn *txn, void *arg) {
  uint64_t n = 0;
  MG_GUARD(mg_kv_count(txn, MG_KV_AUDIT, &n));
  MG_ENSURE(n == 0, MG_ERR_TAMPERED);
  return audit_keys_create_txn(txn, arg);
}

/* --------------------------------------------------------- open/close */

int mg_ks_open(mg_keystore **out, const mg_ks_options *opt) {
  mg_keystore *ks = NULL;
  mg_kv_options kvo;
  audit_keys k;
  int rc;

  MG_ENSURE(out != NULL && opt != NULL && opt->dir != NULL, MG_ERR_INVALID_ARG);
  *out = NULL;
  memset(&k, 0, sizeof(k));
  ks = calloc(1, sizeof(*ks));
  MG_ENSURE(ks != NULL, MG_ERR_NOMEM);
  k.hmac = mg_secure_alloc(MG_KS_AUDIT_HMAC_KEY_LEN);
  k.sign_priv = mg_secure_alloc(MG_KS_AUDIT_SIGN_PRIV_LEN);
  if (k.hmac == NULL || k.sign_priv == NULL) {
    MG_FAIL(MG_ERR_LOCK);
  }

  memset(&kvo, 0, sizeof(kvo));
  kvo.dir = opt->dir;
  kvo.kek_path = opt->kek_path;
  kvo.kek_fd = opt->kek_fd;
  kvo.create = opt->create;
  MG_CHECK(mg_kv_open(&ks->kv, &kvo));

  if (opt->create) {
    MG_CHECK(mg_kv_write(ks->kv, audit_keys_create_txn, &k));
  } else {
    MG_CHECK(mg_kv_read(ks->kv, audit_keys_load_txn, &k));
    if (k.missing) {
      MG_CHECK(mg_kv_write(ks->kv, audit_keys_complete_txn, &k));
    }
  }
  ks->audit_hmac_key = k.hmac;
  ks->audit_sign_priv = k.sign_priv;
  memcpy(ks->audit_sign_pub, k.sign_pub, sizeof(ks->audit_sign_pub));
  k.hmac = NULL;
  k.sign_priv = NULL;
  *out = ks;
  ks = NULL;
  rc = 0;
out:
  mg_secure_free(k.hmac);
  mg_secure_free(k.sign_priv);
  mg_ks_close(ks);
  return rc;
}

void mg_ks_close(mg_keystore *ks) {
  if (ks == NULL) {
    return;
  }
  mg_kv_close(ks->kv);
  mg_secure_free(ks->audit_hmac_key);
  mg_secure_free(ks->audit_sign_priv);
  mg_memzero(ks, sizeof(*ks));
  free(ks);
}

int mg_ks_transact(mg_keystore *ks, mg_ks_txn_fn fn, void *arg) {
  MG_ENSURE(ks != NULL && fn != NULL, MG_ERR_INVALID_ARG);
  return mg_kv_write(ks->kv, fn, arg);
}

int mg_ks_view(mg_keystore *ks, mg_ks_txn_fn fn, void *arg) {
  MG_ENSURE(ks != NULL && fn != NULL, MG_ERR_INVALID_ARG);
  return mg_kv_read(ks->kv, fn, arg);
}

/* ------------------------------------------------------------- admin */

typedef struct admin_audit_arg {
  mg_keystore *ks;
  const mg_ks_ctx *ctx;
  const char *action;
  const char *object;
} admin_audit_arg;

static int admin_audit_fn(mg_kv_txn *txn, void *arg) {
  admin_audit_arg *a = arg;
  mg_ks_audit e;
  memset(&e, 0, sizeof(e));
  e.action = a->action;
  e.object = a->object;
  return mg_ks_audit_append(a->ks, txn, a->ctx, &e, NULL);
}

int mg_ks_backup(mg_keystore *ks, const mg_ks_ctx *ctx, const char *path) {
  MG_ENSURE(ks != NULL && ctx != NULL && path != NULL, MG_ERR_INVALID_ARG);
  /* The backup includes its own audit entry. */
  admin_audit_arg a = {ks, ctx, "store.backup", path};
  MG_GUARD(mg_kv_write(ks->kv, admin_audit_fn, &a));
  return mg_kv_backup(ks->kv, path);
}

int mg_ks_restore(const char *backup_path, const char *dir) {
  return mg_kv_restore(backup_path, dir);
}

int mg_ks_kek_rotate(mg_keystore *ks, const mg_ks_ctx *ctx,
                     const char *kek_path) {
  uint8_t kek[MG_KV_KEK_LEN];
  char next[4096];
  int rc;
  MG_ENSURE(ks != NULL && ctx != NULL && kek_path != NULL, MG_ERR_INVALID_ARG);
  MG_ENSURE(snprintf(next, sizeof(next), "%s.next", kek_path) <
                (int)sizeof(next),
            MG_ERR_INVALID_ARG);
  /* kv.h's crash-safe order: the new KEK durable first, then the rewrap,
   * then the rename. */
  MG_CHECK(mg_random_bytes(kek, sizeof(kek)));
  MG_CHECK(mg_kv_kek_replace(next, kek, sizeof(kek)));
  {
    admin_audit_arg a = {ks, ctx, "kek.rotate", ""};
    MG_CHECK(mg_kv_write(ks->kv, admin_audit_fn, &a));
  }
  MG_CHECK(mg_kv_kek_rotate(ks->kv, kek, sizeof(kek)));
  MG_CHECK(mg_kv_kek_replace(kek_path, kek, sizeof(kek)));
  (void)unlink(next);
  rc = 0;
out:
  mg_memzero(kek, sizeof(kek));
  return rc;
}
