/*
 * Key-package pools per identity and suite (issue 5).
 *
 * KEY_PACKAGES[name 0x00 uint16 suite KeyPackageRef], sealed:
 *
 *   struct {
 *       uint8 format = 1;
 *       uint32 sig_version;       // the identity key version that signed it
 *       uint8 last_resort;        // 0 or 1
 *       uint64 not_before;        // the leaf's Lifetime (RFC 9420 §7.2)
 *       uint64 not_after;
 *       opaque key_package<V>;    // the KeyPackage (RFC 9420 §10)
 *       opaque init_priv<V>;      // HPKE private keys (RFC 9180
 *       opaque encryption_priv<V>;//   SerializePrivateKey)
 *   } KeyPackageRecord;
 *
 * The signing private key is not copied into the record: a take loads it
 * from the identity's SigningKeyRecord of sig_version.  Revoking that key
 * deletes the packages it signed (ks_kp_delete_signed_by).
 */
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/guard.h"
#include "common/hex.h"
#include "common/secmem.h"
#include "crypto/suite.h"
#include "keystore/keystore_int.h"
#include "mls/constants.h"

#define KP_FORMAT 1

typedef struct kp_record {
  uint32_t sig_version;
  uint8_t last_resort;
  uint64_t not_before;
  uint64_t not_after;
  mg_reader key_package;
  mg_reader init_priv;
  mg_reader encryption_priv;
} kp_record;

/* kp_record_decode parses an opened record; the readers borrow |p|. */
static int kp_record_decode(const uint8_t *p, size_t len, kp_record *out) {
  mg_reader r;
  uint8_t format = 0;
  mg_reader_init(&r, p, len);
  MG_ENSURE(mg_read_u8(&r, &format) == 0, MG_ERR_TAMPERED);
  MG_ENSURE(format == KP_FORMAT, MG_ERR_SCHEMA);
  if (mg_read_u32(&r, &out->sig_version) < 0 ||
      mg_read_u8(&r, &out->last_resort) < 0 || out->last_resort > 1 ||
      mg_read_u64(&r, &out->not_before) < 0 ||
      mg_read_u64(&r, &out->not_after) < 0 ||
      mg_read_vec(&r, &out->key_package) < 0 ||
      mg_read_vec(&r, &out->init_priv) < 0 ||
      mg_read_vec(&r, &out->encryption_priv) < 0 || mg_reader_done(&r) < 0) {
    return MG_ERR_TAMPERED;
  }
  return 0;
}

static size_t kp_key(uint8_t *buf, const char *name, uint16_t suite,
                     const uint8_t *ref, size_t ref_len) {
  size_t n = ks_prefix(buf, name);
  buf[n++] = (uint8_t)(suite >> 8);
  buf[n++] = (uint8_t)suite;
  memcpy(buf + n, ref, ref_len);
  return n + ref_len;
}

/* open_kp opens the record of |key| into |*pt| (mg_free_secret) and
 * decodes it. */
static int open_kp(mg_kv_txn *txn, const uint8_t *key, size_t key_len,
                   uint8_t **pt, size_t *pt_len, kp_record *rec) {
  uint64_t version = 0;
  int rc;
  MG_GUARD(mg_kv_get_sealed(txn, MG_KV_KEY_PACKAGES, key, key_len, &version, pt,
                            pt_len));
  rc = version == 1 ? kp_record_decode(*pt, *pt_len, rec) : MG_ERR_TAMPERED;
  if (rc < 0) {
    mg_free_secret(*pt, *pt_len);
    *pt = NULL;
    *pt_len = 0;
  }
  return rc;
}

/* ---------------------------------------------------------- generate */

typedef struct gen_out {
  uint8_t ref[MG_MAX_HASH_LEN];
  size_t ref_len;
  uint8_t *msg; /* MLSMessage(KeyPackage) */
  size_t msg_len;
} gen_out;

typedef struct gen_arg {
  mg_keystore *ks;
  const mg_ks_ctx *ctx;
  const char *name;
  uint32_t count;
  int last_resort;
  gen_out *out; /* count entries */
  size_t n;
  const mg_ks_hook *hook; /* or NULL */
} gen_arg;

static void gen_out_reset(gen_arg *a) {
  for (size_t i = 0; i < a->n; i++) {
    free(a->out[i].msg);
  }
  memset(a->out, 0, a->count * sizeof(*a->out));
  a->n = 0;
}

static int kp_record_encode(uint32_t sig_version, int last_resort,
                            const mls_key_package *kp, const uint8_t *kp_enc,
                            size_t kp_enc_len, const mls_key_package_priv *priv,
                            uint8_t **out, size_t *out_len) {
  const mg_kem_alg *kem = priv->suite->kem;
  mg_writer w;
  int rc;
  mg_writer_zero(&w);
  MG_CHECK(mg_writer_init(&w, kp_enc_len + 256, 0));
  MG_CHECK(mg_write_u8(&w, KP_FORMAT));
  MG_CHECK(mg_write_u32(&w, sig_version));
  MG_CHECK(mg_write_u8(&w, last_resort ? 1 : 0));
  MG_CHECK(mg_write_u64(&w, kp->leaf_node.lifetime.not_before));
  MG_CHECK(mg_write_u64(&w, kp->leaf_node.lifetime.not_after));
  MG_CHECK(mg_write_opaque(&w, kp_enc, kp_enc_len));
  MG_CHECK(
      mg_write_opaque(&w, mg_hpke_key_priv(&priv->init_key), kem->priv_len));
  MG_CHECK(mg_write_opaque(&w, mg_hpke_key_priv(&priv->encryption_key),
                           kem->priv_len));
  return mg_writer_finish(&w, out, out_len);
out:
  mg_writer_cleanup(&w);
  return rc;
}

static int gen_txn(mg_kv_txn *txn, void *p) {
  gen_arg *a = p;
  mg_ks_signer signer;
  mls_key_package kp;
  mls_key_package_priv priv;
  mls_bytes enc = {NULL, 0};
  mls_key_package_params params;
  uint8_t *rec = NULL;
  size_t rec_len = 0;
  uint8_t key[MG_KS_KEY_BUF];
  size_t key_len;
  int rc;

  memset(&signer, 0, sizeof(signer));
  memset(&kp, 0, sizeof(kp));
  memset(&priv, 0, sizeof(priv));
  gen_out_reset(a);
  MG_CHECK(mg_ks_signer_load(txn, a->name, &signer));

  memset(&params, 0, sizeof(params));
  params.cipher_suite = signer.cipher_suite;
  params.identity = (const uint8_t *)a->name;
  params.identity_len = strlen(a->name);
  params.sig_priv = signer.priv;
  params.sig_priv_len = signer.priv_len;
  params.now = a->ctx->now;
  params.validity = 0; /* MLS_KEY_PACKAGE_DEFAULT_VALIDITY */
  params.last_resort = a->last_resort;

  for (uint32_t i = 0; i < a->count; i++) {
    gen_out *o = &a->out[i];
    MG_CHECK(mls_key_package_generate(&kp, &priv, &enc, o->ref, sizeof(o->ref),
                                      &o->ref_len, &params));
    MG_CHECK(kp_record_encode(signer.version, a->last_resort, &kp, enc.data,
                              enc.len, &priv, &rec, &rec_len));
    key_len = kp_key(key, a->name, signer.cipher_suite, o->ref, o->ref_len);
    MG_CHECK(mg_kv_put_sealed(txn, MG_KV_KEY_PACKAGES, key, key_len, 1, rec,
                              rec_len, MG_KV_PUT_INSERT));
    /* RFC 9420 §6: MLSMessage { version mls10; wire_format
     * mls_key_package; KeyPackage key_package; } */
    o->msg = malloc(enc.len + 4);
    if (o->msg == NULL) {
      MG_FAIL(MG_ERR_NOMEM);
    }
    o->msg[0] = (uint8_t)(MLS_VERSION_MLS10 >> 8);
    o->msg[1] = (uint8_t)MLS_VERSION_MLS10;
    o->msg[2] = (uint8_t)(MLS_WIRE_KEY_PACKAGE >> 8);
    o->msg[3] = (uint8_t)MLS_WIRE_KEY_PACKAGE;
    memcpy(o->msg + 4, enc.data, enc.len);
    o->msg_len = enc.len + 4;
    a->n++;
    mg_free_secret(rec, rec_len);
    rec = NULL;
    rec_len = 0;
    mls_bytes_cleanup(&enc);
    mls_key_package_cleanup(&kp);
    mls_key_package_priv_cleanup(&priv);
  }
  {
    mg_ks_audit au;
    memset(&au, 0, sizeof(au));
    au.action = "keypackage.generate";
    au.object = a->name;
    au.key_ids = (const uint8_t(*)[MG_KS_KEY_ID_LEN]) & signer.key_id;
    au.num_key_ids = 1;
    MG_CHECK(mg_ks_audit_append(a->ks, txn, a->ctx, &au, NULL));
  }
  if (a->hook != NULL) {
    mg_ks_kp_made *made = calloc(a->n, sizeof(*made));
    if (made == NULL) {
      MG_FAIL(MG_ERR_NOMEM);
    }
    for (size_t i = 0; i < a->n; i++) {
      made[i].ref = a->out[i].ref;
      made[i].ref_len = a->out[i].ref_len;
      made[i].kp = a->out[i].msg;
      made[i].kp_len = a->out[i].msg_len;
    }
    mg_ks_kp_made_list list = {made, a->n};
    rc = a->hook->in_txn(txn, a->hook->arg, &list);
    free(made);
    MG_CHECK(rc);
  }
  rc = 0;
out:
  mg_free_secret(rec, rec_len);
  mls_bytes_cleanup(&enc);
  mls_key_package_cleanup(&kp);
  mls_key_package_priv_cleanup(&priv);
  mg_ks_signer_cleanup(&signer);
  return rc;
}

int mg_ks_kp_generate(mg_keystore *ks, const mg_ks_ctx *ctx,
                      const char *identity, uint32_t count, int last_resort,
                      mg_ks_kp_fn fn, void *arg) {
  return mg_ks_kp_generate_h(ks, ctx, identity, count, last_resort, fn, arg,
                             NULL);
}

int mg_ks_kp_generate_h(mg_keystore *ks, const mg_ks_ctx *ctx,
                        const char *identity, uint32_t count, int last_resort,
                        mg_ks_kp_fn fn, void *arg, const mg_ks_hook *hook) {
  gen_arg a;
  int rc;
  MG_ENSURE(ks != NULL && ctx != NULL, MG_ERR_INVALID_ARG);
  if (!mg_ks_name_valid(identity) || count < 1 ||
      count > MG_KS_KP_MAX_BATCH) {
    return ks_audit_failure(ks, ctx, "keypackage.generate", identity, NULL, 0,
                            MG_ERR_INVALID_ARG);
  }
  memset(&a, 0, sizeof(a));
  a.ks = ks;
  a.ctx = ctx;
  a.name = identity;
  a.count = count;
  a.last_resort = last_resort ? 1 : 0;
  a.hook = hook;
  a.out = calloc(count, sizeof(*a.out));
  MG_ENSURE(a.out != NULL, MG_ERR_NOMEM);
  rc = mg_kv_write(ks->kv, gen_txn, &a);
  /* |fn|'s error after the commit is not a failure of the operation. */
  rc = ks_audit_failure(ks, ctx, "keypackage.generate", identity, NULL, 0, rc);
  for (size_t i = 0; rc == 0 && fn != NULL && i < a.n; i++) {
    rc =
        fn(arg, a.out[i].ref, a.out[i].ref_len, a.out[i].msg, a.out[i].msg_len);
  }
  gen_out_reset(&a);
  free(a.out);
  return rc;
}

/* ------------------------------------------------------------- stats */

typedef struct stats_arg {
  const char *name;
  uint64_t now;
  mg_ks_kp_counts st;
} stats_arg;

static int stats_txn(mg_kv_txn *txn, void *p) {
  stats_arg *a = p;
  mg_ks_identity id;
  ks_keylist keys;
  uint8_t prefix[MG_KS_KEY_BUF];
  size_t prefix_len;
  uint8_t *pt = NULL;
  size_t pt_len = 0;
  kp_record rec;
  int rc;

  memset(&id, 0, sizeof(id));
  memset(&keys, 0, sizeof(keys));
  memset(&a->st, 0, sizeof(a->st));
  MG_CHECK(ks_identity_load(txn, a->name, &id, NULL));
  prefix_len = ks_prefix(prefix, a->name);
  MG_CHECK(
      ks_keylist_collect(txn, MG_KV_KEY_PACKAGES, prefix, prefix_len, &keys));
  for (size_t i = 0; i < keys.n; i++) {
    MG_CHECK(open_kp(txn, keys.keys[i], keys.lens[i], &pt, &pt_len, &rec));
    a->st.unused++;
    if (rec.not_before <= a->now && a->now <= rec.not_after) {
      a->st.valid++;
    }
    if (rec.last_resort) {
      a->st.last_resort++;
    }
    mg_free_secret(pt, pt_len);
    pt = NULL;
    pt_len = 0;
  }
  rc = 0;
out:
  mg_free_secret(pt, pt_len);
  ks_keylist_free(&keys);
  mg_ks_identity_cleanup(&id);
  return rc;
}

int mg_ks_kp_stats(mg_keystore *ks, const char *identity, uint64_t now,
                   mg_ks_kp_counts *out) {
  stats_arg a;
  int rc;
  MG_ENSURE(ks != NULL && out != NULL, MG_ERR_INVALID_ARG);
  MG_ENSURE(mg_ks_name_valid(identity), MG_ERR_INVALID_ARG);
  memset(&a, 0, sizeof(a));
  a.name = identity;
  a.now = now;
  rc = mg_kv_read(ks->kv, stats_txn, &a);
  if (rc == 0) {
    *out = a.st;
  }
  return rc;
}

/* ------------------------------------------------------------- prune */

/* delete_where deletes |name|'s packages for which |pred| holds; |*n|
 * counts them. */
typedef int (*kp_pred)(const kp_record *rec, uint64_t param);

static int delete_where(mg_kv_txn *txn, const char *name, kp_pred pred,
                        uint64_t param, uint64_t *n) {
  ks_keylist keys;
  uint8_t prefix[MG_KS_KEY_BUF];
  size_t prefix_len = ks_prefix(prefix, name);
  uint8_t *pt = NULL;
  size_t pt_len = 0;
  kp_record rec;
  int rc;
  memset(&keys, 0, sizeof(keys));
  *n = 0;
  MG_CHECK(
      ks_keylist_collect(txn, MG_KV_KEY_PACKAGES, prefix, prefix_len, &keys));
  for (size_t i = 0; i < keys.n; i++) {
    MG_CHECK(open_kp(txn, keys.keys[i], keys.lens[i], &pt, &pt_len, &rec));
    if (pred(&rec, param)) {
      MG_CHECK(mg_kv_del(txn, MG_KV_KEY_PACKAGES, keys.keys[i], keys.lens[i]));
      (*n)++;
    }
    mg_free_secret(pt, pt_len);
    pt = NULL;
    pt_len = 0;
  }
  rc = 0;
out:
  mg_free_secret(pt, pt_len);
  ks_keylist_free(&keys);
  return rc;
}

static int expired(const kp_record *rec, uint64_t now) {
  return rec->not_after < now;
}

static int signed_by(const kp_record *rec, uint64_t version) {
  return rec->sig_version == version;
}

int ks_kp_delete_signed_by(mg_kv_txn *txn, const char *name, uint32_t version,
                           uint64_t *n) {
  uint64_t count = 0;
  MG_GUARD(delete_where(txn, name, signed_by, version, &count));
  if (n != NULL) {
    *n = count;
  }
  return 0;
}

typedef struct prune_arg {
  mg_keystore *ks;
  const mg_ks_ctx *ctx;
  uint64_t n;
} prune_arg;

static int prune_txn(mg_kv_txn *txn, void *p) {
  prune_arg *a = p;
  ks_keylist names;
  char name[MG_KS_NAME_MAX + 1];
  uint64_t n = 0;
  int rc;
  memset(&names, 0, sizeof(names));
  a->n = 0;
  MG_CHECK(ks_keylist_collect(txn, MG_KV_IDENTITIES, NULL, 0, &names));
  for (size_t i = 0; i < names.n; i++) {
    mg_ks_audit au;
    if (names.lens[i] < 1 || names.lens[i] > MG_KS_NAME_MAX) {
      MG_FAIL(MG_ERR_TAMPERED);
    }
    memcpy(name, names.keys[i], names.lens[i]);
    name[names.lens[i]] = '\0';
    if (!mg_ks_name_valid(name)) {
      MG_FAIL(MG_ERR_TAMPERED);
    }
    MG_CHECK(delete_where(txn, name, expired, a->ctx->now, &n));
    if (n == 0) {
      continue;
    }
    a->n += n;
    memset(&au, 0, sizeof(au));
    au.action = "keypackage.prune";
    au.object = name;
    MG_CHECK(mg_ks_audit_append(a->ks, txn, a->ctx, &au, NULL));
  }
  rc = 0;
out:
  ks_keylist_free(&names);
  return rc;
}

int mg_ks_kp_prune(mg_keystore *ks, const mg_ks_ctx *ctx, uint64_t *n) {
  prune_arg a;
  int rc;
  MG_ENSURE(ks != NULL && ctx != NULL, MG_ERR_INVALID_ARG);
  memset(&a, 0, sizeof(a));
  a.ks = ks;
  a.ctx = ctx;
  rc = mg_kv_write(ks->kv, prune_txn, &a);
  if (n != NULL) {
    *n = rc == 0 ? a.n : 0;
  }
  /* Nothing was pruned: one entry for the whole run, no object. */
  return ks_audit_failure(ks, ctx, "keypackage.prune", "", NULL, 0, rc);
}

/* -------------------------------------------------------------- take */

int mg_ks_kp_take(mg_keystore *ks, mg_ks_txn *txn, const mg_ks_ctx *ctx,
                  const char *identity, const uint8_t *ref, size_t ref_len,
                  mls_key_package *out_kp, mls_key_package_priv *out_priv) {
  mg_ks_identity id;
  const mls_suite *suite;
  const mg_ks_key_info *k;
  uint8_t key[MG_KS_KEY_BUF];
  size_t key_len;
  uint8_t *pt = NULL, *sig_priv = NULL;
  size_t pt_len = 0, sig_priv_len = 0;
  kp_record rec;
  mg_reader r;
  mls_key_package kp;
  mls_key_package_priv priv;
  mg_ks_audit au;
  char object[MG_KS_NAME_MAX + 1 + 2 * MG_MAX_HASH_LEN + 1];
  int rc;

  MG_ENSURE(ks != NULL && txn != NULL && ctx != NULL && out_kp != NULL &&
                out_priv != NULL && ref != NULL,
            MG_ERR_INVALID_ARG);
  MG_ENSURE(mg_ks_name_valid(identity), MG_ERR_INVALID_ARG);
  MG_ENSURE(ref_len >= 1 && ref_len <= MG_MAX_HASH_LEN, MG_ERR_INVALID_ARG);
  memset(&id, 0, sizeof(id));
  memset(&kp, 0, sizeof(kp));
  memset(&priv, 0, sizeof(priv));
  mg_hpke_key_zero(&priv.init_key);
  mg_hpke_key_zero(&priv.encryption_key);

  MG_CHECK(ks_identity_load(txn, identity, &id, NULL));
  suite = mls_suite_by_id(id.cipher_suite);
  if (suite == NULL) {
    MG_FAIL(MG_ERR_TAMPERED);
  }
  key_len = kp_key(key, identity, id.cipher_suite, ref, ref_len);
  MG_CHECK(open_kp(txn, key, key_len, &pt, &pt_len, &rec));
  if (rec.sig_version == 0 || rec.sig_version > id.num_keys) {
    MG_FAIL(MG_ERR_TAMPERED);
  }
  k = &id.keys[rec.sig_version - 1];
  if (k->state == MG_KS_KEY_REVOKED) {
    MG_FAIL(MG_ERR_NOT_FOUND);
  }

  r = rec.key_package;
  rc = mls_key_package_decode(&r, &kp);
  if (rc == 0) {
    rc = mg_reader_done(&r);
  }
  if (rc < 0 || kp.cipher_suite != id.cipher_suite ||
      kp.leaf_node.signature_key.len != k->pub_len ||
      memcmp(kp.leaf_node.signature_key.data, k->pub, k->pub_len) != 0 ||
      kp.init_key.len != suite->kem->pub_len ||
      kp.leaf_node.encryption_key.len != suite->kem->pub_len) {
    MG_FAIL(MG_ERR_TAMPERED);
  }
  rc = ks_signing_key_load(txn, identity, k->version, id.cipher_suite, k->pub,
                           k->pub_len, &sig_priv, &sig_priv_len);
  if (rc == MG_ERR_NOT_FOUND) {
    rc = MG_ERR_TAMPERED; /* a non-revoked key always has its record */
  }
  MG_CHECK(rc);
  priv.suite = suite;
  rc = mg_hpke_key_init_pair(
      &priv.init_key, suite->kem, mg_reader_data(&rec.init_priv),
      mg_reader_len(&rec.init_priv), kp.init_key.data, kp.init_key.len);
  if (rc == 0) {
    rc = mg_hpke_key_init_pair(
        &priv.encryption_key, suite->kem, mg_reader_data(&rec.encryption_priv),
        mg_reader_len(&rec.encryption_priv), kp.leaf_node.encryption_key.data,
        kp.leaf_node.encryption_key.len);
  }
  if (rc < 0) {
    MG_FAIL(MG_ERR_TAMPERED);
  }
  memcpy(priv.sig_priv, sig_priv, sig_priv_len);
  priv.sig_priv_len = sig_priv_len;
  memcpy(priv.sig_pub, k->pub, k->pub_len);
  priv.sig_pub_len = k->pub_len;

  /* Single use (RFC 9420 §10: a KeyPackage is used once), unless it is
   * the last-resort package (§16.8). */
  if (!rec.last_resort) {
    MG_CHECK(mg_kv_del(txn, MG_KV_KEY_PACKAGES, key, key_len));
  }
  /* The object names the package: "identity/ref" (names have no '/'). */
  {
    size_t n = strlen(identity);
    memcpy(object, identity, n);
    object[n] = '/';
    mg_hex_encode(object + n + 1, ref, ref_len);
  }
  memset(&au, 0, sizeof(au));
  au.action = "keypackage.take";
  au.object = object;
  au.key_ids = (const uint8_t(*)[MG_KS_KEY_ID_LEN]) & k->key_id;
  au.num_key_ids = 1;
  MG_CHECK(mg_ks_audit_append(ks, txn, ctx, &au, NULL));

  *out_kp = kp;
  *out_priv = priv;
  memset(&kp, 0, sizeof(kp));
  mg_memzero(&priv, sizeof(priv));
  rc = 0;
out:
  mls_key_package_cleanup(&kp);
  mls_key_package_priv_cleanup(&priv);
  mg_secure_free(sig_priv);
  mg_free_secret(pt, pt_len);
  mg_ks_identity_cleanup(&id);
  return rc;
}
