/*
 * Tests of the keystore's domain operations (src/keystore/keystore.h) over
 * the LMDB backend, each in a fresh store in a temporary directory:
 *  - open/create/reopen, wrong KEK, missing store, the audit keys kept
 *    across reopening and refusing to open when altered;
 *  - identities: names, suites, key IDs, rotation, revocation (private key
 *    and signed KeyPackages erased, a new active key when the active one
 *    goes), rotate_due at injected times, the session layer's signer;
 *  - key packages: generation (MLSMessage, refs, signatures, credential),
 *    stats over time, prune, single-use take with the right private keys,
 *    last resort;
 *  - group state compare-and-swap and generation leases;
 *  - sealing of every record kind: each byte of each stored value flipped
 *    through the raw interface makes the operation fail with
 *    MG_ERR_TAMPERED, as does a record moved under another key;
 *  - a failed operation (also one failing half-way through its
 *    transaction) leaves every table but the audit log's byte for byte as
 *    it was; one that owns its transaction (create, rotate, revoke,
 *    rotate_due, generate, prune) appends exactly one audit entry naming
 *    the action, the object and the error, a transaction-scoped one (take,
 *    group save and delete, lease: their caller records) and a read none;
 *  - each changing operation appends exactly its audit entry (action,
 *    object, key IDs), reads and leases none.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include "config.h"

#include <check.h>
#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/secmem.h"
#include "crypto/crypto.h"
#include "crypto/hpke.h"
#include "crypto/suite.h"
#include "common/hex.h"
#include "keystore/audit.h"
#include "keystore/keystore.h"
#include "keystore/keystore_int.h"
#include "keystore/kv.h"
#include "mls/constants.h"
#include "mls/keypackage.h"

#define T0 ((uint64_t)1800000000) /* the injected clock */
#define DAY ((uint64_t)86400)

static char store_dir[256];
static char kek_path[300];
static mg_keystore *ks;
static mg_kv *rawkv; /* the store opened without the keystore, or NULL */

static mg_kv *kv_of(void) {
  return rawkv != NULL ? rawkv : ks->kv;
}

static void raw_open(void) {
  mg_kv_options o;
  memset(&o, 0, sizeof(o));
  o.dir = store_dir;
  o.kek_path = kek_path;
  o.kek_fd = -1;
  ck_assert_int_eq(mg_kv_open(&rawkv, &o), 0);
}

static void raw_close(void) {
  mg_kv_close(rawkv);
  rawkv = NULL;
}

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static void open_store(int create) {
  mg_ks_options o;
  memset(&o, 0, sizeof(o));
  o.dir = store_dir;
  o.kek_path = kek_path;
  o.kek_fd = -1;
  o.create = create;
  ck_assert_int_eq(mg_ks_open(&ks, &o), 0);
}

static void setup(void) {
  const char *tmp = getenv("TMPDIR");
  snprintf(store_dir, sizeof(store_dir), "%s/mlsgate-ks-XXXXXX",
           tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
  ck_assert_ptr_nonnull(mkdtemp(store_dir));
  snprintf(kek_path, sizeof(kek_path), "%s/kek", store_dir);
  ck_assert_int_eq(mg_kv_kek_generate(kek_path), 0);
  open_store(1);
}

static void teardown(void) {
  raw_close();
  mg_ks_close(ks);
  ks = NULL;
  (void)nftw(store_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static mg_ks_ctx ctx_at(uint64_t now) {
  mg_ks_ctx c;
  c.actor = "test";
  c.now = now;
  return c;
}

static void make_identity(const char *name, uint16_t suite, uint64_t every,
                          uint64_t now) {
  mg_ks_ctx c = ctx_at(now);
  ck_assert_int_eq(mg_ks_identity_create(ks, &c, name, suite, every, NULL), 0);
}

/* ------------------------------------------------------ raw access */

typedef struct raw_arg {
  mg_kv_table tb;
  const uint8_t *key;
  size_t key_len;
  size_t pos;     /* byte to flip */
  size_t val_len; /* out */
  uint8_t *put;
  size_t put_len;
} raw_arg;

static int flip_txn(mg_kv_txn *txn, void *p) {
  raw_arg *a = p;
  uint8_t *v = NULL;
  size_t n = 0;
  int rc = mg_kv_get(txn, a->tb, a->key, a->key_len, &v, &n);
  if (rc < 0) {
    return rc;
  }
  a->val_len = n;
  if (a->pos < n) {
    v[a->pos] ^= 0x01;
    rc = mg_kv_put(txn, a->tb, a->key, a->key_len, v, n, 0);
  }
  free(v);
  return rc;
}

/* raw_flip flips byte |pos| of the stored value of (tb, key) and returns
 * the value's length (nothing flipped when pos >= length). */
static size_t raw_flip(mg_kv_table tb, const uint8_t *key, size_t key_len,
                       size_t pos) {
  raw_arg a;
  memset(&a, 0, sizeof(a));
  a.tb = tb;
  a.key = key;
  a.key_len = key_len;
  a.pos = pos;
  ck_assert_int_eq(mg_kv_write(kv_of(), flip_txn, &a), 0);
  return a.val_len;
}

static int get_raw_txn(mg_kv_txn *txn, void *p) {
  raw_arg *a = p;
  uint8_t *v = NULL;
  size_t n = 0;
  int rc = mg_kv_get(txn, a->tb, a->key, a->key_len, &v, &n);
  if (rc == 0) {
    a->put = v;
    a->put_len = n;
  }
  return rc;
}

static int put_raw_txn(mg_kv_txn *txn, void *p) {
  raw_arg *a = p;
  return mg_kv_put(txn, a->tb, a->key, a->key_len, a->put, a->put_len, 0);
}

/* raw_copy stores the raw value of (tb, from) under (tb, to). */
static void raw_copy(mg_kv_table tb, const uint8_t *from, size_t from_len,
                     const uint8_t *to, size_t to_len) {
  raw_arg a;
  memset(&a, 0, sizeof(a));
  a.tb = tb;
  a.key = from;
  a.key_len = from_len;
  ck_assert_int_eq(mg_kv_read(kv_of(), get_raw_txn, &a), 0);
  a.key = to;
  a.key_len = to_len;
  ck_assert_int_eq(mg_kv_write(kv_of(), put_raw_txn, &a), 0);
  free(a.put);
}

/* A snapshot of every table: (table, key, value) in key order. */
typedef struct snap {
  uint8_t *buf;
  size_t len, cap;
} snap;

static void snap_add(snap *s, const void *p, size_t n) {
  if (s->len + n > s->cap) {
    size_t cap = (s->cap + n) * 2;
    uint8_t *b = realloc(s->buf, cap);
    ck_assert_ptr_nonnull(b);
    s->buf = b;
    s->cap = cap;
  }
  memcpy(s->buf + s->len, p, n);
  s->len += n;
}

static int snap_fn(void *arg, const uint8_t *key, size_t key_len,
                   const uint8_t *val, size_t val_len) {
  snap *s = arg;
  snap_add(s, &key_len, sizeof(key_len));
  snap_add(s, key, key_len);
  snap_add(s, &val_len, sizeof(val_len));
  snap_add(s, val, val_len);
  return 0;
}

static int snap_txn(mg_kv_txn *txn, void *p) {
  snap *s = p;
  s->len = 0;
  for (int tb = 0; tb < MG_KV_NUM_TABLES; tb++) {
    int rc;
    snap_add(s, &tb, sizeof(tb));
    rc = mg_kv_scan(txn, (mg_kv_table)tb, NULL, 0, snap_fn, s);
    if (rc < 0) {
      return rc;
    }
  }
  return 0;
}

static snap take_snap(void) {
  snap s;
  memset(&s, 0, sizeof(s));
  ck_assert_int_eq(mg_kv_read(ks->kv, snap_txn, &s), 0);
  return s;
}

static void assert_unchanged(snap *before) {
  snap after = take_snap();
  ck_assert_uint_eq(before->len, after.len);
  ck_assert(memcmp(before->buf, after.buf, after.len) == 0);
  free(after.buf);
}

/* ------------------------------------------------------------- audit */

static int count_txn(mg_kv_txn *txn, void *p) {
  return mg_kv_count(txn, MG_KV_AUDIT, p);
}

static uint64_t audit_count(void) {
  uint64_t n = 0;
  ck_assert_int_eq(mg_kv_read(ks->kv, count_txn, &n), 0);
  return n;
}

typedef struct audit_seen {
  char action[16][32];
  char object[16][160];
  size_t num_key_ids[16];
  char key_id0[16][2 * MG_KS_KEY_ID_LEN + 1]; /* the first, or "" */
  char result[16][32];
  size_t n;
} audit_seen;

static int audit_seen_fn(void *arg, uint64_t seq, const char *entry,
                         size_t entry_len,
                         const uint8_t leaf_hash[MG_TLOG_HASH_LEN]) {
  audit_seen *a = arg;
  json_error_t jerr;
  json_t *j = json_loadb(entry, entry_len, 0, &jerr);
  (void)seq;
  (void)leaf_hash;
  ck_assert_ptr_nonnull(j);
  ck_assert_uint_lt(a->n, 16);
  snprintf(a->action[a->n], sizeof(a->action[0]), "%s",
           json_string_value(json_object_get(j, "action")));
  snprintf(a->object[a->n], sizeof(a->object[0]), "%s",
           json_string_value(json_object_get(j, "object")));
  snprintf(a->result[a->n], sizeof(a->result[0]), "%s",
           json_string_value(json_object_get(j, "result")));
  a->num_key_ids[a->n] = json_array_size(json_object_get(j, "key_ids"));
  snprintf(a->key_id0[a->n], sizeof(a->key_id0[0]), "%s",
           a->num_key_ids[a->n] > 0
               ? json_string_value(
                     json_array_get(json_object_get(j, "key_ids"), 0))
               : "");
  ck_assert_str_eq(json_string_value(json_object_get(j, "actor")), "test");
  a->n++;
  json_decref(j);
  return 0;
}


/* A snapshot of every table but the audit log's (MG_KV_AUDIT and
 * MG_KV_AUDIT_TREE): what a failed operation must leave as it was. */
static int state_snap_txn(mg_kv_txn *txn, void *p) {
  snap *s = p;
  s->len = 0;
  for (int tb = 0; tb < MG_KV_NUM_TABLES; tb++) {
    int rc;
    if (tb == MG_KV_AUDIT || tb == MG_KV_AUDIT_TREE) {
      continue;
    }
    snap_add(s, &tb, sizeof(tb));
    rc = mg_kv_scan(txn, (mg_kv_table)tb, NULL, 0, snap_fn, s);
    if (rc < 0) {
      return rc;
    }
  }
  return 0;
}

/* Failed operations, one after the other: the store's state (every table
 * but the audit log's) and the audit log's size before them. */
typedef struct failures {
  snap state;
  uint64_t audit_n;
} failures;

static failures failures_begin(void) {
  failures f;
  memset(&f, 0, sizeof(f));
  ck_assert_int_eq(mg_kv_read(ks->kv, state_snap_txn, &f.state), 0);
  f.audit_n = audit_count();
  return f;
}

static void assert_state_unchanged(const failures *f) {
  snap after;
  memset(&after, 0, sizeof(after));
  ck_assert_int_eq(mg_kv_read(ks->kv, state_snap_txn, &after), 0);
  ck_assert_uint_eq(f->state.len, after.len);
  ck_assert(memcmp(f->state.buf, after.buf, after.len) == 0);
  free(after.buf);
}

/* assert_audited: the operation that just failed with |err| changed
 * nothing but the audit log, which gained exactly one entry: |action| on
 * |object|, result the name of |err|, |num_key_ids| key IDs, the first
 * |key_id0| (hex) when not NULL.  The log verifies as a Merkle tree. */
static void assert_audited(failures *f, const char *action, const char *object,
                           int err, size_t num_key_ids, const char *key_id0) {
  audit_seen seen;
  uint64_t size = 0;
  assert_state_unchanged(f);
  memset(&seen, 0, sizeof(seen));
  ck_assert_int_eq(mg_ks_audit_entries(ks, f->audit_n, UINT64_MAX,
                                       audit_seen_fn, &seen, &size),
                   0);
  ck_assert_uint_eq(size, f->audit_n + 1);
  ck_assert_uint_eq(seen.n, 1);
  ck_assert_str_eq(seen.action[0], action);
  ck_assert_str_eq(seen.object[0], object);
  ck_assert_str_eq(seen.result[0], mg_err_name(err));
  ck_assert_uint_eq(seen.num_key_ids[0], num_key_ids);
  if (key_id0 != NULL) {
    ck_assert_str_eq(seen.key_id0[0], key_id0);
  }
  f->audit_n = size;
}

/* assert_not_audited: the failure changed nothing at all (a read, a
 * transaction-scoped operation whose caller records its failure, or a call
 * without a context to record with). */
static void assert_not_audited(const failures *f) {
  assert_state_unchanged(f);
  ck_assert_uint_eq(audit_count(), f->audit_n);
}

static void failures_end(failures *f) {
  assert_not_audited(f);
  free(f->state.buf);
  memset(f, 0, sizeof(*f));
}

static size_t sk_key(uint8_t *buf, const char *name, uint32_t version) {
  size_t n = strlen(name);
  memcpy(buf, name, n);
  buf[n++] = 0;
  buf[n++] = (uint8_t)(version >> 24);
  buf[n++] = (uint8_t)(version >> 16);
  buf[n++] = (uint8_t)(version >> 8);
  buf[n++] = (uint8_t)version;
  return n;
}

static size_t kp_key(uint8_t *buf, const char *name, uint16_t suite,
                     const uint8_t *ref, size_t ref_len) {
  size_t n = strlen(name);
  memcpy(buf, name, n);
  buf[n++] = 0;
  buf[n++] = (uint8_t)(suite >> 8);
  buf[n++] = (uint8_t)suite;
  memcpy(buf + n, ref, ref_len);
  return n + ref_len;
}

/* -------------------------------------------------------- key packages
 * collected from mg_ks_kp_generate */

typedef struct kps {
  uint8_t ref[8][MG_MAX_HASH_LEN];
  size_t ref_len[8];
  uint8_t *msg[8];
  size_t msg_len[8];
  size_t n;
} kps;

static int collect_kp(void *arg, const uint8_t *ref, size_t ref_len,
                      const uint8_t *kp, size_t kp_len) {
  kps *k = arg;
  ck_assert_uint_lt(k->n, 8);
  memcpy(k->ref[k->n], ref, ref_len);
  k->ref_len[k->n] = ref_len;
  k->msg[k->n] = malloc(kp_len);
  ck_assert_ptr_nonnull(k->msg[k->n]);
  memcpy(k->msg[k->n], kp, kp_len);
  k->msg_len[k->n] = kp_len;
  k->n++;
  return 0;
}

static void kps_free(kps *k) {
  for (size_t i = 0; i < k->n; i++) {
    free(k->msg[i]);
  }
  memset(k, 0, sizeof(*k));
}

typedef struct take_arg {
  const mg_ks_ctx *ctx;
  const char *name;
  const uint8_t *ref;
  size_t ref_len;
  mls_key_package kp;
  mls_key_package_priv priv;
} take_arg;

static int take_txn(mg_ks_txn *txn, void *p) {
  take_arg *a = p;
  mls_key_package_cleanup(&a->kp);
  mls_key_package_priv_cleanup(&a->priv);
  return mg_ks_kp_take(ks, txn, a->ctx, a->name, a->ref, a->ref_len, &a->kp,
                       &a->priv);
}

static int take(const char *name, const uint8_t *ref, size_t ref_len,
                uint64_t now, mls_key_package *kp, mls_key_package_priv *priv) {
  take_arg a;
  mg_ks_ctx c = ctx_at(now);
  int rc;
  memset(&a, 0, sizeof(a));
  a.ctx = &c;
  a.name = name;
  a.ref = ref;
  a.ref_len = ref_len;
  rc = mg_ks_transact(ks, take_txn, &a);
  if (rc == 0 && kp != NULL) {
    *kp = a.kp;
    memset(&a.kp, 0, sizeof(a.kp));
  }
  if (rc == 0 && priv != NULL) {
    *priv = a.priv;
    memset(&a.priv, 0, sizeof(a.priv));
  }
  mls_key_package_cleanup(&a.kp);
  mls_key_package_priv_cleanup(&a.priv);
  return rc;
}

/* ------------------------------------------------- groups and leases */

typedef struct grp_arg {
  const char *conv;
  uint64_t expected, next;
  const uint8_t *state;
  size_t state_len;
  uint64_t epoch;  /* load out */
  uint8_t *loaded; /* load out */
  size_t loaded_len;
  uint32_t count, first;
} grp_arg;

static int save_txn(mg_ks_txn *txn, void *p) {
  grp_arg *a = p;
  mg_ks_ctx c = ctx_at(T0);
  return mg_ks_group_save(ks, txn, &c, a->conv, a->expected, a->next, a->state,
                          a->state_len);
}

static int put_txn(mg_ks_txn *txn, void *p) {
  grp_arg *a = p;
  return mg_ks_group_put(txn, a->conv, a->expected, a->next, a->state,
                         a->state_len);
}

static int load_txn(mg_ks_txn *txn, void *p) {
  grp_arg *a = p;
  mg_free_secret(a->loaded, a->loaded_len);
  a->loaded = NULL;
  a->loaded_len = 0;
  return mg_ks_group_load(txn, a->conv, &a->epoch, &a->loaded, &a->loaded_len);
}

static int delete_txn(mg_ks_txn *txn, void *p) {
  grp_arg *a = p;
  mg_ks_ctx c = ctx_at(T0);
  return mg_ks_group_delete(ks, txn, &c, a->conv);
}

static int lease_txn(mg_ks_txn *txn, void *p) {
  grp_arg *a = p;
  return mg_ks_lease_reserve(txn, a->conv, a->epoch, a->count, &a->first);
}

/* group_write runs |fn| (put_txn or save_txn) over one group state. */
static int group_write(mg_ks_txn_fn fn, const char *conv, uint64_t expected,
                       uint64_t next, const char *state) {
  grp_arg a;
  memset(&a, 0, sizeof(a));
  a.conv = conv;
  a.expected = expected;
  a.next = next;
  a.state = (const uint8_t *)state;
  a.state_len = strlen(state);
  return mg_ks_transact(ks, fn, &a);
}

static int group_put(const char *conv, uint64_t expected, uint64_t next,
                     const char *state) {
  return group_write(put_txn, conv, expected, next, state);
}

static int group_save(const char *conv, uint64_t expected, uint64_t next,
                      const char *state) {
  return group_write(save_txn, conv, expected, next, state);
}

/* group_load returns the error, or checks the state and epoch. */
static int group_load(const char *conv, uint64_t epoch, const char *state) {
  grp_arg a;
  int rc;
  memset(&a, 0, sizeof(a));
  a.conv = conv;
  rc = mg_ks_view(ks, load_txn, &a);
  if (rc == 0) {
    ck_assert_uint_eq(a.epoch, epoch);
    ck_assert_uint_eq(a.loaded_len, strlen(state));
    ck_assert(memcmp(a.loaded, state, a.loaded_len) == 0);
  }
  mg_free_secret(a.loaded, a.loaded_len);
  return rc;
}

static int group_delete(const char *conv) {
  grp_arg a;
  memset(&a, 0, sizeof(a));
  a.conv = conv;
  return mg_ks_transact(ks, delete_txn, &a);
}

static int lease(const char *conv, uint64_t epoch, uint32_t count,
                 uint32_t *first) {
  grp_arg a;
  int rc;
  memset(&a, 0, sizeof(a));
  a.conv = conv;
  a.epoch = epoch;
  a.count = count;
  a.first = 0xdeadbeef;
  rc = mg_ks_transact(ks, lease_txn, &a);
  if (first != NULL) {
    *first = a.first;
  }
  return rc;
}

/* ============================================================== tests */

START_TEST(test_open_reopen) {
  uint8_t pub[MG_KS_AUDIT_SIGN_PUB_LEN], hmac[MG_KS_AUDIT_HMAC_KEY_LEN];
  mg_keystore *other = NULL;
  mg_ks_options o;
  char missing[400], kek2[400];

  memcpy(pub, ks->audit_sign_pub, sizeof(pub));
  memcpy(hmac, ks->audit_hmac_key, sizeof(hmac));
  make_identity("acme", 1, 0, T0);
  mg_ks_close(ks);
  ks = NULL;

  /* Creating over an existing store is refused. */
  memset(&o, 0, sizeof(o));
  o.dir = store_dir;
  o.kek_path = kek_path;
  o.kek_fd = -1;
  o.create = 1;
  ck_assert_int_eq(mg_ks_open(&other, &o), MG_ERR_EXISTS);
  ck_assert_ptr_null(other);

  /* Another KEK does not open it. */
  snprintf(kek2, sizeof(kek2), "%s/kek2", store_dir);
  ck_assert_int_eq(mg_kv_kek_generate(kek2), 0);
  o.create = 0;
  o.kek_path = kek2;
  ck_assert_int_eq(mg_ks_open(&other, &o), MG_ERR_KEK);
  ck_assert_ptr_null(other);

  /* No store there. */
  snprintf(missing, sizeof(missing), "%s/nothing-here", store_dir);
  o.dir = missing;
  o.kek_path = kek_path;
  ck_assert_int_eq(mg_ks_open(&other, &o), MG_ERR_NOT_FOUND);
  ck_assert_int_eq(access(missing, F_OK), -1);

  /* Reopened: same audit keys, same identity. */
  open_store(0);
  ck_assert(memcmp(pub, ks->audit_sign_pub, sizeof(pub)) == 0);
  ck_assert(memcmp(hmac, ks->audit_hmac_key, sizeof(hmac)) == 0);
  {
    mg_ks_identity id;
    uint8_t derived[32];
    ck_assert_int_eq(mg_ks_identity_get(ks, "acme", &id), 0);
    mg_ks_identity_cleanup(&id);
    ck_assert_int_eq(mg_sig_ed25519.pub_from_priv(&mg_sig_ed25519, derived,
                                                  ks->audit_sign_priv),
                     0);
    ck_assert(memcmp(derived, ks->audit_sign_pub, 32) == 0);
  }
  ck_assert_int_eq(mg_ks_open(NULL, &o), MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mg_ks_open(&other, NULL), MG_ERR_INVALID_ARG);
}
END_TEST

/* Each byte of each audit key record, flipped: the store does not open. */
START_TEST(test_audit_keys_sealed) {
  static const char *const keys[] = {MG_KS_META_AUDIT_HMAC,
                                     MG_KS_META_AUDIT_SIGN};
  mg_ks_options o;
  memset(&o, 0, sizeof(o));
  o.dir = store_dir;
  o.kek_path = kek_path;
  o.kek_fd = -1;
  mg_ks_close(ks); /* one handle on the environment at a time */
  ks = NULL;
  for (size_t k = 0; k < 2; k++) {
    const uint8_t *key = (const uint8_t *)keys[k];
    size_t key_len = strlen(keys[k]);
    size_t len;
    raw_open();
    len = raw_flip(MG_KV_META, key, key_len, SIZE_MAX);
    ck_assert_uint_gt(len, 0);
    for (size_t pos = 0; pos < len; pos++) {
      if (rawkv == NULL) {
        raw_open();
      }
      raw_flip(MG_KV_META, key, key_len, pos);
      raw_close();
      ck_assert_msg(mg_ks_open(&ks, &o) == MG_ERR_TAMPERED, "%s byte %zu",
                    keys[k], pos);
      ck_assert_ptr_null(ks);
      raw_open();
      raw_flip(MG_KV_META, key, key_len, pos);
    }
    raw_close();
    ck_assert_int_eq(mg_ks_open(&ks, &o), 0);
    mg_ks_close(ks);
    ks = NULL;
  }
  /* The HMAC key moved under the signing key's name. */
  raw_open();
  raw_copy(MG_KV_META, (const uint8_t *)MG_KS_META_AUDIT_HMAC,
           strlen(MG_KS_META_AUDIT_HMAC),
           (const uint8_t *)MG_KS_META_AUDIT_SIGN,
           strlen(MG_KS_META_AUDIT_SIGN));
  raw_close();
  ck_assert_int_eq(mg_ks_open(&ks, &o), MG_ERR_TAMPERED);
  ck_assert_ptr_null(ks);
}
END_TEST

START_TEST(test_names_and_suites) {
  static const char *const good[] = {
      "a", "acme", "Acme-Corp_1.eu", "0",
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-"};
  static const char *const bad[] = {
      "",
      "a b",
      "a/b",
      "a\nb",
      "ä",
      "a:b",
      "a\\b",
      "*",
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_"};
  mg_ks_ctx c = ctx_at(T0);
  mg_ks_identity id;
  failures f;
  memset(&id, 0, sizeof(id));
  for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
    ck_assert_msg(mg_ks_name_valid(good[i]), "%s", good[i]);
  }
  /* Each refused create is audited (an invalid name is not copied into
   * the log); reads are not. */
  f = failures_begin();
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    ck_assert_msg(!mg_ks_name_valid(bad[i]), "%s", bad[i]);
    ck_assert_int_eq(mg_ks_identity_create(ks, &c, bad[i], 1, 0, &id),
                     MG_ERR_INVALID_ARG);
    assert_audited(&f, "identity.create", "", MG_ERR_INVALID_ARG, 0, NULL);
    ck_assert_int_eq(mg_ks_identity_get(ks, bad[i], &id), MG_ERR_INVALID_ARG);
    assert_not_audited(&f);
  }
  ck_assert(!mg_ks_name_valid(NULL));
  ck_assert_int_eq(mg_ks_identity_create(ks, &c, NULL, 1, 0, &id),
                   MG_ERR_INVALID_ARG);
  assert_audited(&f, "identity.create", "", MG_ERR_INVALID_ARG, 0, NULL);
  ck_assert_int_eq(mg_ks_identity_create(ks, &c, "acme", 0, 0, &id),
                   MG_ERR_UNSUPPORTED);
  assert_audited(&f, "identity.create", "acme", MG_ERR_UNSUPPORTED, 0, NULL);
  ck_assert_int_eq(mg_ks_identity_create(ks, &c, "acme", 8, 0, &id),
                   MG_ERR_UNSUPPORTED);
  assert_audited(&f, "identity.create", "acme", MG_ERR_UNSUPPORTED, 0, NULL);
  ck_assert_int_eq(mg_ks_identity_create(ks, &c, "acme", 0xffff, 0, &id),
                   MG_ERR_UNSUPPORTED);
  assert_audited(&f, "identity.create", "acme", MG_ERR_UNSUPPORTED, 0, NULL);
  /* Without a context there is no actor or time to record. */
  ck_assert_int_eq(mg_ks_identity_create(ks, NULL, "acme", 1, 0, &id),
                   MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mg_ks_identity_create(NULL, &c, "acme", 1, 0, &id),
                   MG_ERR_INVALID_ARG);
  failures_end(&f);
  ck_assert_int_eq(mg_ks_identity_get(ks, "acme", &id), MG_ERR_NOT_FOUND);
}
END_TEST

/* Every suite: the key's algorithm, ID and public key. */
START_TEST(test_identity_create_get) {
  uint16_t suite = (uint16_t)(_i + 1);
  const mls_suite *s = mls_suite_by_id(suite);
  mg_ks_ctx c = ctx_at(T0);
  mg_ks_identity id, got;
  uint8_t kid[MG_KS_KEY_ID_LEN];
  char name[16];
  snprintf(name, sizeof(name), "id%u", (unsigned)suite);

  ck_assert_int_eq(mg_ks_identity_create(ks, &c, name, suite, 30 * DAY, &id),
                   0);
  ck_assert_str_eq(id.name, name);
  ck_assert_uint_eq(id.cipher_suite, suite);
  ck_assert_uint_eq(id.rotate_every, 30 * DAY);
  ck_assert_uint_eq(id.created_at, T0);
  ck_assert_uint_eq(id.active_version, 1);
  ck_assert_uint_eq(id.num_keys, 1);
  ck_assert_uint_eq(id.keys[0].version, 1);
  ck_assert_int_eq(id.keys[0].state, MG_KS_KEY_ACTIVE);
  ck_assert_uint_eq(id.keys[0].created_at, T0);
  ck_assert_uint_eq(id.keys[0].not_after, T0 + 30 * DAY);
  ck_assert_uint_eq(id.keys[0].pub_len, s->sig->pub_len);

  /* key ID = SHA-256("mlsgate key id v1" || uint16 suite || pub)[0..16) */
  {
    uint8_t buf[17 + 2 + MG_MAX_SIG_PUB_LEN], d[32];
    memcpy(buf, "mlsgate key id v1", 17);
    buf[17] = (uint8_t)(suite >> 8);
    buf[18] = (uint8_t)suite;
    memcpy(buf + 19, id.keys[0].pub, id.keys[0].pub_len);
    ck_assert_int_eq(
        mg_sha256.digest(&mg_sha256, d, buf, 19 + id.keys[0].pub_len), 0);
    memcpy(kid, d, sizeof(kid));
    ck_assert(memcmp(kid, id.keys[0].key_id, sizeof(kid)) == 0);
    memset(kid, 0, sizeof(kid));
    ck_assert_int_eq(
        mg_ks_key_id(kid, suite, id.keys[0].pub, id.keys[0].pub_len), 0);
    ck_assert(memcmp(kid, id.keys[0].key_id, sizeof(kid)) == 0);
    ck_assert_int_eq(
        mg_ks_key_id(kid, suite, id.keys[0].pub, MG_MAX_SIG_PUB_LEN + 1),
        MG_ERR_INVALID_ARG);
  }

  ck_assert_int_eq(mg_ks_identity_get(ks, name, &got), 0);
  ck_assert_str_eq(got.name, name);
  ck_assert_uint_eq(got.num_keys, 1);
  ck_assert(memcmp(got.keys, id.keys, sizeof(*id.keys)) == 0);
  mg_ks_identity_cleanup(&got);

  /* The same name again: refused, audited, nothing else changed. */
  {
    failures f = failures_begin();
    ck_assert_int_eq(mg_ks_identity_create(ks, &c, name, suite, 0, NULL),
                     MG_ERR_EXISTS);
    assert_audited(&f, "identity.create", name, MG_ERR_EXISTS, 0, NULL);
    ck_assert_int_eq(mg_ks_identity_create(ks, &c, name, 1, 0, NULL),
                     MG_ERR_EXISTS);
    assert_audited(&f, "identity.create", name, MG_ERR_EXISTS, 0, NULL);
    failures_end(&f);
  }

  ck_assert_int_eq(mg_ks_view(ks, NULL, NULL), MG_ERR_INVALID_ARG);
  mg_ks_identity_cleanup(&id);
}
END_TEST

typedef struct signer_arg {
  const char *name;
  mg_ks_signer s;
} signer_arg;

static int signer_txn(mg_ks_txn *txn, void *p) {
  signer_arg *a = p;
  mg_ks_signer_cleanup(&a->s);
  return mg_ks_signer_load(txn, a->name, &a->s);
}

static int load_signer(const char *name, mg_ks_signer *out) {
  signer_arg a;
  int rc;
  memset(&a, 0, sizeof(a));
  a.name = name;
  rc = mg_ks_view(ks, signer_txn, &a);
  *out = a.s;
  return rc;
}

/* The signer of the session layer: the active key, in secure memory, and
 * it signs what the public key verifies. */
static void check_signer(const char *name, uint16_t suite,
                         const mg_ks_key_info *active) {
  const mls_suite *s = mls_suite_by_id(suite);
  mg_ks_signer sg;
  uint8_t sig[MG_MAX_SIG_LEN];
  size_t sig_len = 0;
  static const uint8_t msg[] = "signed by the keystore's signer";
  ck_assert_int_eq(load_signer(name, &sg), 0);
  ck_assert_uint_eq(sg.cipher_suite, suite);
  ck_assert_uint_eq(sg.version, active->version);
  ck_assert(memcmp(sg.key_id, active->key_id, MG_KS_KEY_ID_LEN) == 0);
  ck_assert_uint_eq(sg.pub_len, active->pub_len);
  ck_assert(memcmp(sg.pub, active->pub, sg.pub_len) == 0);
  ck_assert_ptr_nonnull(sg.priv);
  ck_assert_uint_eq(sg.priv_len, s->sig->priv_len);
  ck_assert_int_eq(mg_sig_sign_raw(s->sig, sig, &sig_len, sg.priv, sg.priv_len,
                                   msg, sizeof(msg)),
                   0);
  ck_assert_int_eq(mg_sig_verify_raw(s->sig, active->pub, active->pub_len, msg,
                                     sizeof(msg), sig, sig_len),
                   0);
  mg_ks_signer_cleanup(&sg);
  ck_assert_ptr_null(sg.priv);
}

START_TEST(test_signer) {
  uint16_t suite = (uint16_t)(_i + 1);
  mg_ks_identity id;
  mg_ks_signer sg;
  make_identity("signer", suite, 0, T0);
  ck_assert_int_eq(mg_ks_identity_get(ks, "signer", &id), 0);
  check_signer("signer", suite, &id.keys[0]);
  mg_ks_identity_cleanup(&id);
  memset(&sg, 0, sizeof(sg));
  ck_assert_int_eq(load_signer("nobody", &sg), MG_ERR_NOT_FOUND);
  ck_assert_ptr_null(sg.priv);
  ck_assert_int_eq(load_signer("bad name", &sg), MG_ERR_INVALID_ARG);
}
END_TEST

typedef struct list_acc {
  char names[8][MG_KS_NAME_MAX + 1];
  size_t n;
  int stop_at;
} list_acc;

static int list_fn(void *arg, const mg_ks_identity *id) {
  list_acc *a = arg;
  ck_assert_uint_lt(a->n, 8);
  memcpy(a->names[a->n], id->name, sizeof(id->name));
  a->n++;
  if (a->stop_at > 0 && (int)a->n == a->stop_at) {
    return 7;
  }
  return 0;
}

/* ------------------------ answers committed with an operation (mg_ks_hook)
 * Identity creation and KeyPackage generation call the hook inside their
 * own transaction: a failing hook fails the operation (audited as a
 * failure, nothing else changed); a succeeding one's write (here an
 * idempotent answer) commits with it, and it saw the caller's result. */

typedef struct ks_hook_arg {
  int calls, fail, kp;
  const char *key;
  char name[MG_KS_NAME_MAX + 1];
  size_t n;
  uint8_t ref0[MG_MAX_HASH_LEN];
  size_t ref0_len;
} ks_hook_arg;

static int ks_hook(mg_ks_txn *txn, void *arg, const void *result) {
  ks_hook_arg *h = arg;
  char body[128];
  h->calls++;
  if (h->kp) {
    const mg_ks_kp_made_list *l = result;
    h->n = l->n;
    ck_assert_uint_ge(l->n, 1);
    ck_assert_uint_le(l->items[0].ref_len, sizeof(h->ref0));
    memcpy(h->ref0, l->items[0].ref, l->items[0].ref_len);
    h->ref0_len = l->items[0].ref_len;
    snprintf(body, sizeof(body), "{\"n\":%zu}", l->n);
  } else {
    const mg_ks_identity *id = result;
    snprintf(h->name, sizeof(h->name), "%s", id->name);
    snprintf(body, sizeof(body), "{\"name\":\"%s\"}", id->name);
  }
  if (h->fail) {
    return MG_ERR_TAMPERED;
  }
  return mg_ks_idem_finish_txn(txn, "tok", "POST /x", h->key, 201,
                               "application/json", (const uint8_t *)body,
                               strlen(body));
}

static int idem_state(const char *key, const char *want_body) {
  uint8_t hash[32];
  mg_ks_idem idem;
  memset(hash, 7, sizeof(hash));
  memset(&idem, 0, sizeof(idem));
  int rc = mg_ks_idem_begin(ks, "tok", "POST /x", key, hash, 1000, 0, &idem);
  if (rc == MG_KS_IDEM_REPLAY) {
    ck_assert_uint_eq(idem.status, 201);
    ck_assert_uint_eq(idem.body_len, strlen(want_body));
    ck_assert(memcmp(idem.body, want_body, idem.body_len) == 0);
  }
  mg_ks_idem_cleanup(&idem);
  return rc;
}

START_TEST(test_hooks_commit_with_operation) {
  mg_ks_ctx c = ctx_at(1000);
  mg_ks_identity id;
  mg_ks_kp_counts counts;
  ks_hook_arg h;
  mg_ks_hook hook = {ks_hook, &h};
  kps k;
  failures f;

  /* Identity creation. */
  ck_assert_int_eq(idem_state("k1", NULL), MG_KS_IDEM_NEW);
  memset(&h, 0, sizeof(h));
  h.key = "k1";
  h.fail = 1;
  memset(&id, 0, sizeof(id));
  f = failures_begin();
  ck_assert_int_eq(mg_ks_identity_create_h(ks, &c, "acme", 1, 0, &id, &hook),
                   MG_ERR_TAMPERED);
  ck_assert_int_eq(h.calls, 1);
  ck_assert_str_eq(h.name, "acme");
  assert_audited(&f, "identity.create", "acme", MG_ERR_TAMPERED, 0, NULL);
  free(f.state.buf);
  ck_assert_int_eq(idem_state("k1", NULL), MG_KS_IDEM_IN_PROGRESS);

  memset(&h, 0, sizeof(h));
  h.key = "k1";
  ck_assert_int_eq(mg_ks_identity_create_h(ks, &c, "acme", 1, 0, &id, &hook),
                   0);
  ck_assert_int_ge(h.calls, 1);
  ck_assert_str_eq(h.name, "acme");
  ck_assert_str_eq(id.name, "acme");
  mg_ks_identity_cleanup(&id);
  ck_assert_int_eq(idem_state("k1", "{\"name\":\"acme\"}"),
                   MG_KS_IDEM_REPLAY);

  /* KeyPackage generation: |fn| runs only after a commit. */
  ck_assert_int_eq(idem_state("k2", NULL), MG_KS_IDEM_NEW);
  memset(&h, 0, sizeof(h));
  memset(&k, 0, sizeof(k));
  h.key = "k2";
  h.kp = 1;
  h.fail = 1;
  f = failures_begin();
  ck_assert_int_eq(
      mg_ks_kp_generate_h(ks, &c, "acme", 3, 0, collect_kp, &k, &hook),
      MG_ERR_TAMPERED);
  ck_assert_int_eq(h.calls, 1);
  ck_assert_uint_eq(h.n, 3);
  ck_assert_uint_eq(k.n, 0);
  assert_audited(&f, "keypackage.generate", "acme", MG_ERR_TAMPERED, 0, NULL);
  free(f.state.buf);
  ck_assert_int_eq(mg_ks_kp_stats(ks, "acme", 1000, &counts), 0);
  ck_assert_uint_eq(counts.unused, 0);
  ck_assert_int_eq(idem_state("k2", NULL), MG_KS_IDEM_IN_PROGRESS);

  h.fail = 0;
  h.calls = 0;
  ck_assert_int_eq(
      mg_ks_kp_generate_h(ks, &c, "acme", 3, 0, collect_kp, &k, &hook), 0);
  ck_assert_int_ge(h.calls, 1);
  ck_assert_uint_eq(h.n, 3);
  ck_assert_uint_eq(k.n, 3);
  ck_assert_uint_eq(h.ref0_len, k.ref_len[0]);
  ck_assert(memcmp(h.ref0, k.ref[0], h.ref0_len) == 0);
  kps_free(&k);
  ck_assert_int_eq(mg_ks_kp_stats(ks, "acme", 1000, &counts), 0);
  ck_assert_uint_eq(counts.unused, 3);
  ck_assert_int_eq(idem_state("k2", "{\"n\":3}"), MG_KS_IDEM_REPLAY);
}
END_TEST

START_TEST(test_identity_list) {
  list_acc acc;
  memset(&acc, 0, sizeof(acc));
  ck_assert_int_eq(mg_ks_identity_list(ks, list_fn, &acc), 0);
  ck_assert_uint_eq(acc.n, 0);
  make_identity("zeta", 1, 0, T0);
  make_identity("alpha", 2, 0, T0);
  make_identity("mid", 3, 0, T0);
  ck_assert_int_eq(mg_ks_identity_list(ks, list_fn, &acc), 0);
  ck_assert_uint_eq(acc.n, 3);
  ck_assert_str_eq(acc.names[0], "alpha");
  ck_assert_str_eq(acc.names[1], "mid");
  ck_assert_str_eq(acc.names[2], "zeta");
  memset(&acc, 0, sizeof(acc));
  acc.stop_at = 2;
  ck_assert_int_eq(mg_ks_identity_list(ks, list_fn, &acc), 7);
  ck_assert_uint_eq(acc.n, 2);
  ck_assert_int_eq(mg_ks_identity_list(ks, NULL, &acc), MG_ERR_INVALID_ARG);
}
END_TEST

START_TEST(test_rotate) {
  mg_ks_ctx c = ctx_at(T0 + 10);
  mg_ks_key_info k2, k3;
  mg_ks_identity id;
  make_identity("acme", 1, 0, T0);
  ck_assert_int_eq(mg_ks_identity_rotate(ks, &c, "acme", &k2), 0);
  ck_assert_uint_eq(k2.version, 2);
  ck_assert_int_eq(k2.state, MG_KS_KEY_ACTIVE);
  ck_assert_uint_eq(k2.created_at, T0 + 10);
  ck_assert_uint_eq(k2.not_after, 0);
  c.now = T0 + 20;
  ck_assert_int_eq(mg_ks_identity_rotate(ks, &c, "acme", &k3), 0);
  ck_assert_uint_eq(k3.version, 3);
  ck_assert(memcmp(k2.key_id, k3.key_id, MG_KS_KEY_ID_LEN) != 0);

  ck_assert_int_eq(mg_ks_identity_get(ks, "acme", &id), 0);
  ck_assert_uint_eq(id.num_keys, 3);
  ck_assert_uint_eq(id.active_version, 3);
  ck_assert_int_eq(id.keys[0].state, MG_KS_KEY_RETIRED);
  ck_assert_int_eq(id.keys[1].state, MG_KS_KEY_RETIRED);
  ck_assert_int_eq(id.keys[2].state, MG_KS_KEY_ACTIVE);
  ck_assert(memcmp(id.keys[1].key_id, k2.key_id, MG_KS_KEY_ID_LEN) == 0);
  ck_assert(memcmp(&id.keys[2], &k3, sizeof(k3)) == 0);
  check_signer("acme", 1, &id.keys[2]);
  mg_ks_identity_cleanup(&id);

  {
    failures f = failures_begin();
    ck_assert_int_eq(mg_ks_identity_rotate(ks, &c, "nobody", NULL),
                     MG_ERR_NOT_FOUND);
    assert_audited(&f, "identity.rotate", "nobody", MG_ERR_NOT_FOUND, 0, NULL);
    ck_assert_int_eq(mg_ks_identity_rotate(ks, &c, "no body", NULL),
                     MG_ERR_INVALID_ARG);
    assert_audited(&f, "identity.rotate", "", MG_ERR_INVALID_ARG, 0, NULL);
    ck_assert_int_eq(mg_ks_identity_rotate(ks, NULL, "acme", NULL),
                     MG_ERR_INVALID_ARG);
    failures_end(&f);
  }
  ck_assert_int_eq(mg_ks_identity_rotate(ks, &c, "acme", NULL), 0);
}
END_TEST

START_TEST(test_revoke) {
  mg_ks_ctx c = ctx_at(T0 + 100);
  mg_ks_identity id;
  mg_ks_key_info k2;
  uint8_t v1[MG_KS_KEY_ID_LEN], key[MG_KS_KEY_BUF];
  uint8_t unknown[MG_KS_KEY_ID_LEN];
  kps gen;
  mg_ks_kp_counts st;

  memset(&gen, 0, sizeof(gen));
  make_identity("acme", 1, 0, T0);
  ck_assert_int_eq(mg_ks_identity_get(ks, "acme", &id), 0);
  memcpy(v1, id.keys[0].key_id, sizeof(v1));
  mg_ks_identity_cleanup(&id);

  /* Two packages signed by v1, then v2 active and one more by v2. */
  ck_assert_int_eq(mg_ks_kp_generate(ks, &c, "acme", 2, 0, collect_kp, &gen),
                   0);
  ck_assert_int_eq(mg_ks_identity_rotate(ks, &c, "acme", &k2), 0);
  ck_assert_int_eq(mg_ks_kp_generate(ks, &c, "acme", 1, 0, collect_kp, &gen),
                   0);
  ck_assert_int_eq(mg_ks_kp_stats(ks, "acme", T0 + 100, &st), 0);
  ck_assert_uint_eq(st.unused, 3);

  /* Revoking the retired v1: its private key and packages go. */
  ck_assert_int_eq(mg_ks_identity_revoke(ks, &c, "acme", v1), 0);
  ck_assert_int_eq(mg_ks_identity_get(ks, "acme", &id), 0);
  ck_assert_uint_eq(id.num_keys, 2);
  ck_assert_int_eq(id.keys[0].state, MG_KS_KEY_REVOKED);
  ck_assert_int_eq(id.keys[1].state, MG_KS_KEY_ACTIVE);
  mg_ks_identity_cleanup(&id);
  {
    raw_arg a;
    memset(&a, 0, sizeof(a));
    a.tb = MG_KV_SIGNING_KEYS;
    a.key = key;
    a.key_len = sk_key(key, "acme", 1);
    ck_assert_int_eq(mg_kv_read(ks->kv, get_raw_txn, &a), MG_ERR_NOT_FOUND);
    a.key_len = sk_key(key, "acme", 2);
    ck_assert_int_eq(mg_kv_read(ks->kv, get_raw_txn, &a), 0);
    free(a.put);
  }
  ck_assert_int_eq(mg_ks_kp_stats(ks, "acme", T0 + 100, &st), 0);
  ck_assert_uint_eq(st.unused, 1);
  ck_assert_int_eq(
      take("acme", gen.ref[0], gen.ref_len[0], T0 + 100, NULL, NULL),
      MG_ERR_NOT_FOUND);

  /* Again: a conflict; an unknown key or identity: not found; nothing
   * changes. */
  memset(unknown, 0x5a, sizeof(unknown));
  {
    failures f = failures_begin();
    char hex[2 * MG_KS_KEY_ID_LEN + 1];
    mg_hex_encode(hex, v1, MG_KS_KEY_ID_LEN);
    ck_assert_int_eq(mg_ks_identity_revoke(ks, &c, "acme", v1),
                     MG_ERR_CONFLICT);
    assert_audited(&f, "identity.revoke", "acme", MG_ERR_CONFLICT, 1, hex);
    mg_hex_encode(hex, unknown, MG_KS_KEY_ID_LEN);
    ck_assert_int_eq(mg_ks_identity_revoke(ks, &c, "acme", unknown),
                     MG_ERR_NOT_FOUND);
    assert_audited(&f, "identity.revoke", "acme", MG_ERR_NOT_FOUND, 1, hex);
    mg_hex_encode(hex, k2.key_id, MG_KS_KEY_ID_LEN);
    ck_assert_int_eq(mg_ks_identity_revoke(ks, &c, "other", k2.key_id),
                     MG_ERR_NOT_FOUND);
    assert_audited(&f, "identity.revoke", "other", MG_ERR_NOT_FOUND, 1, hex);
    ck_assert_int_eq(mg_ks_identity_revoke(ks, &c, "acme", NULL),
                     MG_ERR_INVALID_ARG);
    assert_audited(&f, "identity.revoke", "acme", MG_ERR_INVALID_ARG, 0, NULL);
    ck_assert_int_eq(mg_ks_identity_revoke(ks, NULL, "acme", v1),
                     MG_ERR_INVALID_ARG);
    failures_end(&f);
  }

  /* Revoking the active v2: v3 becomes active; v2's package goes. */
  ck_assert_int_eq(mg_ks_identity_revoke(ks, &c, "acme", k2.key_id), 0);
  ck_assert_int_eq(mg_ks_identity_get(ks, "acme", &id), 0);
  ck_assert_uint_eq(id.num_keys, 3);
  ck_assert_uint_eq(id.active_version, 3);
  ck_assert_int_eq(id.keys[1].state, MG_KS_KEY_REVOKED);
  ck_assert_int_eq(id.keys[2].state, MG_KS_KEY_ACTIVE);
  ck_assert_uint_eq(id.keys[2].created_at, T0 + 100);
  check_signer("acme", 1, &id.keys[2]);
  mg_ks_identity_cleanup(&id);
  ck_assert_int_eq(mg_ks_kp_stats(ks, "acme", T0 + 100, &st), 0);
  ck_assert_uint_eq(st.unused, 0);
  kps_free(&gen);
}
END_TEST

START_TEST(test_rotate_due) {
  mg_ks_ctx c;
  mg_ks_identity id;
  size_t n = 99;
  make_identity("fast", 1, 100, T0);
  make_identity("slow", 2, 1000, T0);
  make_identity("never", 3, 0, T0);

  c = ctx_at(T0 + 99);
  ck_assert_int_eq(mg_ks_identity_rotate_due(ks, &c, &n), 0);
  ck_assert_uint_eq(n, 0);
  c.now = T0 + 100; /* exactly due */
  ck_assert_int_eq(mg_ks_identity_rotate_due(ks, &c, &n), 0);
  ck_assert_uint_eq(n, 1);
  ck_assert_int_eq(mg_ks_identity_get(ks, "fast", &id), 0);
  ck_assert_uint_eq(id.active_version, 2);
  ck_assert_uint_eq(id.keys[1].created_at, T0 + 100);
  ck_assert_uint_eq(id.keys[1].not_after, T0 + 200);
  ck_assert_int_eq(id.keys[0].state, MG_KS_KEY_RETIRED);
  mg_ks_identity_cleanup(&id);
  c.now = T0 + 150; /* nothing new is due */
  ck_assert_int_eq(mg_ks_identity_rotate_due(ks, &c, &n), 0);
  ck_assert_uint_eq(n, 0);
  c.now = T0 + 5000; /* both scheduled ones, once each */
  ck_assert_int_eq(mg_ks_identity_rotate_due(ks, &c, &n), 0);
  ck_assert_uint_eq(n, 2);
  ck_assert_int_eq(mg_ks_identity_get(ks, "fast", &id), 0);
  ck_assert_uint_eq(id.active_version, 3);
  mg_ks_identity_cleanup(&id);
  ck_assert_int_eq(mg_ks_identity_get(ks, "slow", &id), 0);
  ck_assert_uint_eq(id.active_version, 2);
  mg_ks_identity_cleanup(&id);
  ck_assert_int_eq(mg_ks_identity_get(ks, "never", &id), 0);
  ck_assert_uint_eq(id.active_version, 1);
  mg_ks_identity_cleanup(&id);
  ck_assert_int_eq(mg_ks_identity_rotate_due(ks, &c, &n), 0);
  ck_assert_uint_eq(n, 0);
}
END_TEST

/* A failure half-way through rotate_due (the second identity's record does
 * not open) rolls back the first identity's rotation and its audit entry;
 * the failure gets one entry of its own. */
START_TEST(test_rotate_due_atomic) {
  mg_ks_ctx c = ctx_at(T0 + 1000);
  size_t n = 7;
  failures f;
  make_identity("a-first", 1, 10, T0);
  make_identity("b-second", 1, 10, T0);
  raw_flip(MG_KV_IDENTITIES, (const uint8_t *)"b-second", 8, 30);
  f = failures_begin();
  ck_assert_int_eq(mg_ks_identity_rotate_due(ks, &c, &n), MG_ERR_TAMPERED);
  ck_assert_uint_eq(n, 0);
  assert_audited(&f, "identity.rotate_due", "", MG_ERR_TAMPERED, 0, NULL);
  failures_end(&f);
}
END_TEST

START_TEST(test_kp_generate_take) {
  uint16_t suite = (uint16_t)(_i + 1);
  const mls_suite *s = mls_suite_by_id(suite);
  mg_ks_ctx c = ctx_at(T0);
  kps gen;
  mg_ks_kp_counts st;
  mls_key_package kp;
  mls_key_package_priv priv;
  mg_ks_identity id;

  memset(&gen, 0, sizeof(gen));
  make_identity("acme", suite, 0, T0);
  ck_assert_int_eq(mg_ks_identity_get(ks, "acme", &id), 0);
  ck_assert_int_eq(mg_ks_kp_generate(ks, &c, "acme", 3, 0, collect_kp, &gen),
                   0);
  ck_assert_uint_eq(gen.n, 3);
  for (size_t i = 0; i < 3; i++) {
    mg_reader r;
    mls_key_package dec;
    uint8_t ref[MG_MAX_HASH_LEN];
    size_t ref_len = 0;
    ck_assert_uint_eq(gen.ref_len[i], s->hash->digest_len);
    /* MLSMessage: version mls10 (1), wire_format mls_key_package (5). */
    ck_assert_uint_gt(gen.msg_len[i], 4);
    ck_assert(memcmp(gen.msg[i], "\x00\x01\x00\x05", 4) == 0);
    mg_reader_init(&r, gen.msg[i] + 4, gen.msg_len[i] - 4);
    memset(&dec, 0, sizeof(dec));
    ck_assert_int_eq(mls_key_package_decode(&r, &dec), 0);
    ck_assert_int_eq(mg_reader_done(&r), 0);
    ck_assert_int_eq(mls_key_package_verify(&dec), 0);
    ck_assert_uint_eq(dec.cipher_suite, suite);
    ck_assert_uint_eq(dec.leaf_node.credential.identity.len, 4);
    ck_assert(memcmp(dec.leaf_node.credential.identity.data, "acme", 4) == 0);
    ck_assert_uint_eq(dec.leaf_node.signature_key.len, id.keys[0].pub_len);
    ck_assert(memcmp(dec.leaf_node.signature_key.data, id.keys[0].pub,
                     id.keys[0].pub_len) == 0);
    ck_assert_uint_eq(dec.leaf_node.lifetime.not_before, T0);
    ck_assert_uint_eq(dec.leaf_node.lifetime.not_after,
                      T0 + MLS_KEY_PACKAGE_DEFAULT_VALIDITY);
    ck_assert_int_eq(mls_key_package_is_last_resort(&dec), 0);
    ck_assert_int_eq(mls_key_package_ref(&dec, ref, sizeof(ref), &ref_len), 0);
    ck_assert_uint_eq(ref_len, gen.ref_len[i]);
    ck_assert(memcmp(ref, gen.ref[i], ref_len) == 0);
    mls_key_package_cleanup(&dec);
  }

  ck_assert_int_eq(mg_ks_kp_stats(ks, "acme", T0, &st), 0);
  ck_assert_uint_eq(st.unused, 3);
  ck_assert_uint_eq(st.valid, 3);
  ck_assert_uint_eq(st.last_resort, 0);

  /* Take the second: the same KeyPackage and matching private keys. */
  memset(&kp, 0, sizeof(kp));
  memset(&priv, 0, sizeof(priv));
  ck_assert_int_eq(take("acme", gen.ref[1], gen.ref_len[1], T0, &kp, &priv), 0);
  {
    uint8_t *enc = NULL;
    size_t enc_len = 0, pub_len = 0;
    const uint8_t *pub;
    uint8_t derived[MG_MAX_SIG_PUB_LEN];
    ck_assert_int_eq(mls_key_package_serialize(&kp, &enc, &enc_len), 0);
    ck_assert_uint_eq(enc_len, gen.msg_len[1] - 4);
    ck_assert(memcmp(enc, gen.msg[1] + 4, enc_len) == 0);
    free(enc);
    ck_assert_ptr_eq(priv.suite, s);
    pub = mg_hpke_key_pub(&priv.init_key, &pub_len);
    ck_assert_uint_eq(pub_len, kp.init_key.len);
    ck_assert(memcmp(pub, kp.init_key.data, pub_len) == 0);
    pub = mg_hpke_key_pub(&priv.encryption_key, &pub_len);
    ck_assert(memcmp(pub, kp.leaf_node.encryption_key.data, pub_len) == 0);
    /* The stored private keys really are the pairs' (public from private). */
    {
      mg_hpke_key chk;
      mg_hpke_key_zero(&chk);
      ck_assert_int_eq(
          mg_hpke_key_init(&chk, s->kem, mg_hpke_key_priv(&priv.init_key),
                           s->kem->priv_len),
          0);
      pub = mg_hpke_key_pub(&chk, &pub_len);
      ck_assert(memcmp(pub, kp.init_key.data, pub_len) == 0);
      mg_hpke_key_cleanup(&chk);
      ck_assert_int_eq(
          mg_hpke_key_init(&chk, s->kem, mg_hpke_key_priv(&priv.encryption_key),
                           s->kem->priv_len),
          0);
      pub = mg_hpke_key_pub(&chk, &pub_len);
      ck_assert(memcmp(pub, kp.leaf_node.encryption_key.data, pub_len) == 0);
      mg_hpke_key_cleanup(&chk);
    }
    ck_assert_uint_eq(priv.sig_priv_len, s->sig->priv_len);
    ck_assert_int_eq(s->sig->pub_from_priv(s->sig, derived, priv.sig_priv), 0);
    ck_assert(memcmp(derived, id.keys[0].pub, id.keys[0].pub_len) == 0);
    ck_assert_uint_eq(priv.sig_pub_len, id.keys[0].pub_len);
  }
  mls_key_package_cleanup(&kp);
  mls_key_package_priv_cleanup(&priv);

  /* Single use: a second take finds nothing and changes nothing. */
  {
    snap before = take_snap();
    ck_assert_int_eq(take("acme", gen.ref[1], gen.ref_len[1], T0, NULL, NULL),
                     MG_ERR_NOT_FOUND);
    ck_assert_int_eq(take("other", gen.ref[0], gen.ref_len[0], T0, NULL, NULL),
                     MG_ERR_NOT_FOUND);
    ck_assert_int_eq(
        take("acme", gen.ref[0], gen.ref_len[0] - 1, T0, NULL, NULL),
        MG_ERR_NOT_FOUND);
    ck_assert_int_eq(take("acme", gen.ref[0], 0, T0, NULL, NULL),
                     MG_ERR_INVALID_ARG);
    assert_unchanged(&before);
    free(before.buf);
  }
  ck_assert_int_eq(mg_ks_kp_stats(ks, "acme", T0, &st), 0);
  ck_assert_uint_eq(st.unused, 2);

  /* Packages signed by a key since rotated are still taken, with that
   * key's private part. */
  {
    mg_ks_key_info k2;
    uint8_t derived[MG_MAX_SIG_PUB_LEN];
    ck_assert_int_eq(mg_ks_identity_rotate(ks, &c, "acme", &k2), 0);
    memset(&kp, 0, sizeof(kp));
    memset(&priv, 0, sizeof(priv));
    ck_assert_int_eq(take("acme", gen.ref[0], gen.ref_len[0], T0, &kp, &priv),
                     0);
    ck_assert_int_eq(s->sig->pub_from_priv(s->sig, derived, priv.sig_priv), 0);
    ck_assert(memcmp(derived, id.keys[0].pub, id.keys[0].pub_len) == 0);
    mls_key_package_cleanup(&kp);
    mls_key_package_priv_cleanup(&priv);
  }

  /* Errors of generate: each audited; stats is a read. */
  {
    failures f = failures_begin();
    ck_assert_int_eq(mg_ks_kp_generate(ks, &c, "nobody", 1, 0, NULL, NULL),
                     MG_ERR_NOT_FOUND);
    assert_audited(&f, "keypackage.generate", "nobody", MG_ERR_NOT_FOUND, 0,
                   NULL);
    ck_assert_int_eq(mg_ks_kp_generate(ks, &c, "acme", 0, 0, NULL, NULL),
                     MG_ERR_INVALID_ARG);
    assert_audited(&f, "keypackage.generate", "acme", MG_ERR_INVALID_ARG, 0,
                   NULL);
    ck_assert_int_eq(mg_ks_kp_generate(ks, &c, "acme", MG_KS_KP_MAX_BATCH + 1,
                                       0, NULL, NULL),
                     MG_ERR_INVALID_ARG);
    assert_audited(&f, "keypackage.generate", "acme", MG_ERR_INVALID_ARG, 0,
                   NULL);
    ck_assert_int_eq(mg_ks_kp_generate(ks, &c, "a b", 1, 0, NULL, NULL),
                     MG_ERR_INVALID_ARG);
    assert_audited(&f, "keypackage.generate", "", MG_ERR_INVALID_ARG, 0, NULL);
    ck_assert_int_eq(mg_ks_kp_generate(ks, NULL, "acme", 1, 0, NULL, NULL),
                     MG_ERR_INVALID_ARG);
    ck_assert_int_eq(mg_ks_kp_stats(ks, "nobody", T0, &st), MG_ERR_NOT_FOUND);
    failures_end(&f);
  }
  mg_ks_identity_cleanup(&id);
  kps_free(&gen);
}
END_TEST

START_TEST(test_kp_last_resort) {
  mg_ks_ctx c = ctx_at(T0);
  kps gen;
  mg_ks_kp_counts st;
  mls_key_package kp;
  memset(&gen, 0, sizeof(gen));
  make_identity("acme", 1, 0, T0);
  ck_assert_int_eq(mg_ks_kp_generate(ks, &c, "acme", 1, 1, collect_kp, &gen),
                   0);
  ck_assert_int_eq(mg_ks_kp_generate(ks, &c, "acme", 2, 0, collect_kp, &gen),
                   0);
  ck_assert_int_eq(mg_ks_kp_stats(ks, "acme", T0, &st), 0);
  ck_assert_uint_eq(st.unused, 3);
  ck_assert_uint_eq(st.last_resort, 1);
  for (int round = 0; round < 3; round++) {
    memset(&kp, 0, sizeof(kp));
    ck_assert_int_eq(take("acme", gen.ref[0], gen.ref_len[0], T0, &kp, NULL),
                     0);
    ck_assert_int_eq(mls_key_package_is_last_resort(&kp), 1);
    mls_key_package_cleanup(&kp);
  }
  ck_assert_int_eq(mg_ks_kp_stats(ks, "acme", T0, &st), 0);
  ck_assert_uint_eq(st.unused, 3);
  ck_assert_uint_eq(st.last_resort, 1);
  kps_free(&gen);
}
END_TEST

START_TEST(test_kp_stats_prune) {
  mg_ks_ctx c = ctx_at(T0);
  mg_ks_kp_counts st;
  uint64_t n = 99;
  uint64_t life = MLS_KEY_PACKAGE_DEFAULT_VALIDITY;
  make_identity("acme", 1, 0, T0);
  make_identity("beta", 1, 0, T0);
  ck_assert_int_eq(mg_ks_kp_generate(ks, &c, "acme", 2, 0, NULL, NULL), 0);
  ck_assert_int_eq(mg_ks_kp_generate(ks, &c, "acme", 1, 1, NULL, NULL), 0);
  c.now = T0 + 10 * DAY;
  ck_assert_int_eq(mg_ks_kp_generate(ks, &c, "acme", 1, 0, NULL, NULL), 0);
  ck_assert_int_eq(mg_ks_kp_generate(ks, &c, "beta", 2, 0, NULL, NULL), 0);

  ck_assert_int_eq(mg_ks_kp_stats(ks, "acme", T0 - 1, &st), 0);
  ck_assert_uint_eq(st.unused, 4);
  ck_assert_uint_eq(st.valid, 0); /* not yet valid */
  ck_assert_int_eq(mg_ks_kp_stats(ks, "acme", T0 + life, &st), 0);
  ck_assert_uint_eq(st.valid, 4); /* not_after itself is still valid */
  ck_assert_int_eq(mg_ks_kp_stats(ks, "acme", T0 + life + 1, &st), 0);
  ck_assert_uint_eq(st.unused, 4);
  ck_assert_uint_eq(st.valid, 1);
  ck_assert_uint_eq(st.last_resort, 1);

  c.now = T0 + life; /* nothing expired yet */
  ck_assert_int_eq(mg_ks_kp_prune(ks, &c, &n), 0);
  ck_assert_uint_eq(n, 0);
  c.now = T0 + life + 1;
  ck_assert_int_eq(mg_ks_kp_prune(ks, &c, &n), 0);
  ck_assert_uint_eq(n, 3);
  ck_assert_int_eq(mg_ks_kp_stats(ks, "acme", T0 + life + 1, &st), 0);
  ck_assert_uint_eq(st.unused, 1);
  ck_assert_uint_eq(st.valid, 1);
  ck_assert_uint_eq(st.last_resort, 0);
  ck_assert_int_eq(mg_ks_kp_stats(ks, "beta", T0 + life + 1, &st), 0);
  ck_assert_uint_eq(st.unused, 2);
  c.now = T0 + 11 * DAY + life;
  ck_assert_int_eq(mg_ks_kp_prune(ks, &c, NULL), 0);
  ck_assert_int_eq(mg_ks_kp_stats(ks, "beta", c.now, &st), 0);
  ck_assert_uint_eq(st.unused, 0);
  ck_assert_int_eq(mg_ks_kp_prune(ks, NULL, &n), MG_ERR_INVALID_ARG);
}
END_TEST

START_TEST(test_group_cas) {
  snap before;
  ck_assert_int_eq(group_load("conv-1", 0, ""), MG_ERR_NOT_FOUND);
  ck_assert_int_eq(group_save("conv-1", MG_KS_EPOCH_NONE, 0, "state-0"), 0);
  ck_assert_int_eq(group_load("conv-1", 0, "state-0"), 0);

  before = take_snap();
  /* Creating twice, a stale writer, a writer from the future: conflicts. */
  ck_assert_int_eq(group_save("conv-1", MG_KS_EPOCH_NONE, 0, "other"),
                   MG_ERR_CONFLICT);
  ck_assert_int_eq(group_save("conv-1", 5, 6, "other"), MG_ERR_CONFLICT);
  /* Bad arguments. */
  ck_assert_int_eq(group_save("conv-1", 0, MG_KS_EPOCH_NONE, "x"),
                   MG_ERR_INVALID_ARG);
  ck_assert_int_eq(group_save("conv 1", MG_KS_EPOCH_NONE, 0, "x"),
                   MG_ERR_INVALID_ARG);
  ck_assert_int_eq(group_save("conv-1", 0, 0, ""), MG_ERR_INVALID_ARG);
  ck_assert_int_eq(group_save("conv-2", 0, 1, "x"), MG_ERR_NOT_FOUND);
  assert_unchanged(&before);
  free(before.buf);

  /* The same epoch again (a secret tree moved on), then the next ones. */
  ck_assert_int_eq(group_save("conv-1", 0, 0, "state-0b"), 0);
  ck_assert_int_eq(group_save("conv-1", 0, 1, "state-1"), 0);
  ck_assert_int_eq(group_load("conv-1", 1, "state-1"), 0);
  ck_assert_int_eq(group_save("conv-1", 0, 2, "stale"), MG_ERR_CONFLICT);
  ck_assert_int_eq(group_save("conv-1", 2, 1, "backwards"), MG_ERR_INVALID_ARG);
  ck_assert_int_eq(group_save("conv-1", 1, 7, "state-7"), 0);
  ck_assert_int_eq(group_load("conv-1", 7, "state-7"), 0);
  ck_assert_int_eq(group_save("a:b.c_d-E", MG_KS_EPOCH_NONE, 3, "s"), 0);
  ck_assert_int_eq(group_load("a:b.c_d-E", 3, "s"), 0);

  /* Delete: the state and its lease go; then it can be created anew. */
  ck_assert_int_eq(lease("conv-1", 7, 10, NULL), 0);
  ck_assert_int_eq(group_delete("conv-1"), 0);
  ck_assert_int_eq(group_delete("conv-1"), MG_ERR_NOT_FOUND);
  ck_assert_int_eq(group_load("conv-1", 0, ""), MG_ERR_NOT_FOUND);
  {
    uint32_t first = 1;
    ck_assert_int_eq(lease("conv-1", 7, 1, &first), 0);
    ck_assert_uint_eq(first, 0);
  }
  ck_assert_int_eq(group_save("conv-1", MG_KS_EPOCH_NONE, 8, "again"), 0);
  ck_assert_int_eq(group_load("conv-1", 8, "again"), 0);
}
END_TEST

/* mg_ks_group_put: mg_ks_group_save's compare-and-swap and checks, with
 * no audit entry of its own (its caller writes the operation's). */
START_TEST(test_group_put) {
  uint64_t n0 = audit_count();
  ck_assert_int_eq(group_put("conv-p", MG_KS_EPOCH_NONE, 0, "state-0"), 0);
  ck_assert_int_eq(group_load("conv-p", 0, "state-0"), 0);
  ck_assert_int_eq(group_put("conv-p", MG_KS_EPOCH_NONE, 0, "other"),
                   MG_ERR_CONFLICT);
  ck_assert_int_eq(group_put("conv-p", 5, 6, "other"), MG_ERR_CONFLICT);
  ck_assert_int_eq(group_put("conv-p", 0, MG_KS_EPOCH_NONE, "x"),
                   MG_ERR_INVALID_ARG);
  ck_assert_int_eq(group_put("conv p", MG_KS_EPOCH_NONE, 0, "x"),
                   MG_ERR_INVALID_ARG);
  ck_assert_int_eq(group_put("conv-p", 0, 0, ""), MG_ERR_INVALID_ARG);
  ck_assert_int_eq(group_put("conv-p", 1, 0, "x"), MG_ERR_INVALID_ARG);
  ck_assert_int_eq(group_put("conv-q", 0, 1, "x"), MG_ERR_NOT_FOUND);
  ck_assert_int_eq(group_put("conv-p", 0, 1, "state-1"), 0);
  ck_assert_int_eq(group_load("conv-p", 1, "state-1"), 0);
  ck_assert_int_eq(mg_ks_group_put(NULL, "conv-p", 1, 2,
                                   (const uint8_t *)"x", 1),
                   MG_ERR_INVALID_ARG);
  ck_assert_uint_eq(audit_count(), n0);
  /* mg_ks_group_save of the same record does write its "group.save". */
  ck_assert_int_eq(group_save("conv-p", 1, 2, "state-2"), 0);
  ck_assert_uint_eq(audit_count(), n0 + 1);
}
END_TEST

START_TEST(test_lease) {
  uint32_t first = 0;
  snap before;
  ck_assert_int_eq(lease("c", 1, 10, &first), 0);
  ck_assert_uint_eq(first, 0);
  ck_assert_int_eq(lease("c", 1, 5, &first), 0);
  ck_assert_uint_eq(first, 10);
  ck_assert_int_eq(lease("c", 1, 1, &first), 0);
  ck_assert_uint_eq(first, 15);
  /* Other conversations are independent. */
  ck_assert_int_eq(lease("d", 1, 3, &first), 0);
  ck_assert_uint_eq(first, 0);

  before = take_snap();
  ck_assert_int_eq(lease("c", 0, 1, &first), MG_ERR_CONFLICT);
  ck_assert_int_eq(lease("c", 1, 0, &first), MG_ERR_INVALID_ARG);
  ck_assert_int_eq(lease("c c", 1, 1, &first), MG_ERR_INVALID_ARG);
  /* 2^32 generations at most per epoch (RFC 9420 §9.1). */
  ck_assert_int_eq(lease("c", 1, UINT32_MAX, &first), MG_ERR_GENERATION);
  assert_unchanged(&before);
  free(before.buf);

  /* A new epoch starts at 0; the old one is gone for good. */
  ck_assert_int_eq(lease("c", 2, 4, &first), 0);
  ck_assert_uint_eq(first, 0);
  ck_assert_int_eq(lease("c", 1, 1, &first), MG_ERR_CONFLICT);

  /* The lease survives reopening: no generation is handed out twice. */
  mg_ks_close(ks);
  ks = NULL;
  open_store(0);
  ck_assert_int_eq(lease("c", 2, 1, &first), 0);
  ck_assert_uint_eq(first, 4);

  /* Up to the last generation exactly. */
  ck_assert_int_eq(lease("e", 3, UINT32_MAX, &first), 0);
  ck_assert_uint_eq(first, 0);
  ck_assert_int_eq(lease("e", 3, 1, &first), 0);
  ck_assert_uint_eq(first, UINT32_MAX);
  ck_assert_int_eq(lease("e", 3, 1, &first), MG_ERR_GENERATION);
}
END_TEST

/* ------------------------------------------------ tampering, per kind */

/* One operation that reads a record kind, returning its error. */
typedef int (*probe_fn)(const void *arg);

static void flip_every_byte(mg_kv_table tb, const uint8_t *key, size_t key_len,
                            probe_fn probe, const void *arg) {
  size_t len = raw_flip(tb, key, key_len, SIZE_MAX);
  ck_assert_uint_gt(len, 0);
  ck_assert_int_eq(probe(arg), 0);
  for (size_t pos = 0; pos < len; pos++) {
    raw_flip(tb, key, key_len, pos);
    ck_assert_msg(probe(arg) == MG_ERR_TAMPERED, "table %d byte %zu of %zu",
                  (int)tb, pos, len);
    raw_flip(tb, key, key_len, pos);
  }
  ck_assert_int_eq(probe(arg), 0);
}

static int probe_identity(const void *arg) {
  mg_ks_identity id;
  int rc = mg_ks_identity_get(ks, arg, &id);
  if (rc == 0) {
    mg_ks_identity_cleanup(&id);
  }
  return rc;
}

static int probe_signer(const void *arg) {
  mg_ks_signer s;
  int rc = load_signer(arg, &s);
  mg_ks_signer_cleanup(&s);
  return rc;
}

typedef struct kp_probe {
  const char *name;
  const uint8_t *ref;
  size_t ref_len;
} kp_probe;

static int probe_kp_stats(const void *arg) {
  const kp_probe *p = arg;
  mg_ks_kp_counts st;
  return mg_ks_kp_stats(ks, p->name, T0, &st);
}

static int probe_kp_take(const void *arg) {
  const kp_probe *p = arg;
  /* Last resort: a successful take keeps it, so the probe repeats. */
  return take(p->name, p->ref, p->ref_len, T0, NULL, NULL);
}

static int probe_group(const void *arg) {
  return group_load(arg, 4, "group-state-bytes");
}

static int probe_lease(const void *arg) {
  uint32_t first;
  return lease(arg, 9, 1, &first);
}

START_TEST(test_tamper_each_kind) {
  mg_ks_ctx c = ctx_at(T0);
  kps gen;
  uint8_t key[MG_KS_KEY_BUF];
  size_t key_len;
  kp_probe kpp;

  memset(&gen, 0, sizeof(gen));
  make_identity("acme", 1, 0, T0);
  ck_assert_int_eq(mg_ks_kp_generate(ks, &c, "acme", 1, 1, collect_kp, &gen),
                   0);

  /* IdentityRecord: get and everything built on it. */
  flip_every_byte(MG_KV_IDENTITIES, (const uint8_t *)"acme", 4, probe_identity,
                  "acme");
  /* SigningKeyRecord: the signer. */
  key_len = sk_key(key, "acme", 1);
  flip_every_byte(MG_KV_SIGNING_KEYS, key, key_len, probe_signer, "acme");
  /* KeyPackageRecord: stats and take. */
  kpp.name = "acme";
  kpp.ref = gen.ref[0];
  kpp.ref_len = gen.ref_len[0];
  key_len = kp_key(key, "acme", 1, gen.ref[0], gen.ref_len[0]);
  flip_every_byte(MG_KV_KEY_PACKAGES, key, key_len, probe_kp_stats, &kpp);
  flip_every_byte(MG_KV_KEY_PACKAGES, key, key_len, probe_kp_take, &kpp);
  /* GroupRecord. */
  ck_assert_int_eq(group_save("conv", MG_KS_EPOCH_NONE, 4, "group-state-bytes"),
                   0);
  flip_every_byte(MG_KV_GROUPS, (const uint8_t *)"conv", 4, probe_group,
                  "conv");
  /* LeaseRecord (each successful probe moves the lease on; fine). */
  ck_assert_int_eq(lease("conv", 9, 1, NULL), 0);
  flip_every_byte(MG_KV_LEASES, (const uint8_t *)"conv", 4, probe_lease,
                  "conv");
  kps_free(&gen);
}
END_TEST

/* A record moved under another key (same table) or into another table
 * does not open either. */
START_TEST(test_tamper_moved) {
  uint8_t k1[MG_KS_KEY_BUF], k2[MG_KS_KEY_BUF];
  size_t k1_len, k2_len;
  mg_ks_identity id;
  mg_ks_signer sg;
  mg_ks_ctx c = ctx_at(T0);
  make_identity("acme", 1, 0, T0);
  make_identity("beta", 1, 0, T0);
  ck_assert_int_eq(mg_ks_identity_rotate(ks, &c, "beta", NULL), 0);

  raw_copy(MG_KV_IDENTITIES, (const uint8_t *)"acme", 4,
           (const uint8_t *)"beta", 4);
  ck_assert_int_eq(mg_ks_identity_get(ks, "beta", &id), MG_ERR_TAMPERED);
  ck_assert_int_eq(mg_ks_identity_get(ks, "acme", &id), 0);
  mg_ks_identity_cleanup(&id);

  /* beta's v1 key record put where acme's v1 is. */
  k1_len = sk_key(k1, "beta", 1);
  k2_len = sk_key(k2, "acme", 1);
  raw_copy(MG_KV_SIGNING_KEYS, k1, k1_len, k2, k2_len);
  ck_assert_int_eq(load_signer("acme", &sg), MG_ERR_TAMPERED);
  mg_ks_signer_cleanup(&sg);

  /* A group state under another conversation. */
  ck_assert_int_eq(group_save("one", MG_KS_EPOCH_NONE, 4, "group-state-bytes"),
                   0);
  ck_assert_int_eq(group_save("two", MG_KS_EPOCH_NONE, 4, "group-state-bytes"),
                   0);
  raw_copy(MG_KV_GROUPS, (const uint8_t *)"one", 3, (const uint8_t *)"two", 3);
  ck_assert_int_eq(group_load("two", 4, "group-state-bytes"), MG_ERR_TAMPERED);
  ck_assert_int_eq(group_load("one", 4, "group-state-bytes"), 0);
  ck_assert_int_eq(group_save("two", 4, 5, "x"), MG_ERR_TAMPERED);
}
END_TEST

/* A failing operation of each kind changes nothing but the audit log,
 * including those that fail on a record that does not open after other
 * reads: an operation that owns its transaction records its failure (one
 * entry, result = the error); a transaction-scoped one (take, group save
 * and delete, lease) leaves that to its caller and changes nothing. */
START_TEST(test_failures_change_nothing) {
  mg_ks_ctx c = ctx_at(T0 + 5);
  kps gen;
  failures f;
  uint8_t key[MG_KS_KEY_BUF];
  size_t key_len;
  mg_ks_identity id;
  uint8_t v1[MG_KS_KEY_ID_LEN];
  char v1_hex[2 * MG_KS_KEY_ID_LEN + 1];

  memset(&gen, 0, sizeof(gen));
  make_identity("acme", 1, 10, T0);
  make_identity("beta", 1, 10, T0);
  ck_assert_int_eq(mg_ks_kp_generate(ks, &c, "acme", 2, 0, collect_kp, &gen),
                   0);
  ck_assert_int_eq(group_save("conv", MG_KS_EPOCH_NONE, 1, "s1"), 0);
  ck_assert_int_eq(lease("conv", 1, 3, NULL), 0);
  ck_assert_int_eq(mg_ks_identity_get(ks, "acme", &id), 0);
  memcpy(v1, id.keys[0].key_id, sizeof(v1));
  mg_ks_identity_cleanup(&id);

  /* acme's signing key record does not open: rotation still works (it
   * does not need the old private key), but revocation of v1... also does
   * not read it; the operations that need it fail, leaving no trace. */
  key_len = sk_key(key, "acme", 1);
  raw_flip(MG_KV_SIGNING_KEYS, key, key_len, 40);
  /* One KeyPackage does not open: stats, take of it, prune and revoke
   * (which walks the pool) fail. */
  key_len = kp_key(key, "acme", 1, gen.ref[1], gen.ref_len[1]);
  raw_flip(MG_KV_KEY_PACKAGES, key, key_len, 40);

  f = failures_begin();
  ck_assert_int_eq(mg_ks_kp_generate(ks, &c, "acme", 3, 0, NULL, NULL),
                   MG_ERR_TAMPERED);
  assert_audited(&f, "keypackage.generate", "acme", MG_ERR_TAMPERED, 0, NULL);
  ck_assert_int_eq(take("acme", gen.ref[0], gen.ref_len[0], T0, NULL, NULL),
                   MG_ERR_TAMPERED);
  assert_not_audited(&f);
  ck_assert_int_eq(take("acme", gen.ref[1], gen.ref_len[1], T0, NULL, NULL),
                   MG_ERR_TAMPERED);
  assert_not_audited(&f);
  ck_assert_int_eq(mg_ks_identity_revoke(ks, &c, "acme", v1), MG_ERR_TAMPERED);
  mg_hex_encode(v1_hex, v1, sizeof(v1));
  assert_audited(&f, "identity.revoke", "acme", MG_ERR_TAMPERED, 1, v1_hex);
  c.now = T0 + 200 * DAY;
  ck_assert_int_eq(mg_ks_kp_prune(ks, &c, NULL), MG_ERR_TAMPERED);
  assert_audited(&f, "keypackage.prune", "", MG_ERR_TAMPERED, 0, NULL);
  c.now = T0 + 5;
  ck_assert_int_eq(mg_ks_identity_create(ks, &c, "acme", 1, 0, NULL),
                   MG_ERR_EXISTS);
  assert_audited(&f, "identity.create", "acme", MG_ERR_EXISTS, 0, NULL);
  ck_assert_int_eq(mg_ks_identity_rotate(ks, &c, "nobody", NULL),
                   MG_ERR_NOT_FOUND);
  assert_audited(&f, "identity.rotate", "nobody", MG_ERR_NOT_FOUND, 0, NULL);
  ck_assert_int_eq(group_save("conv", 0, 2, "s2"), MG_ERR_CONFLICT);
  ck_assert_int_eq(group_save("conv", MG_KS_EPOCH_NONE, 2, "s2"),
                   MG_ERR_CONFLICT);
  ck_assert_int_eq(group_delete("none"), MG_ERR_NOT_FOUND);
  ck_assert_int_eq(lease("conv", 0, 1, NULL), MG_ERR_CONFLICT);
  failures_end(&f);
  kps_free(&gen);
}
END_TEST

/* mg_ks_transact commits only when the function succeeds. */
typedef struct two_step {
  int fail;
} two_step;

static int two_step_txn(mg_ks_txn *txn, void *p) {
  two_step *a = p;
  mg_ks_ctx c = ctx_at(T0);
  uint32_t first;
  static const uint8_t st[] = "state";
  int rc =
      mg_ks_group_save(ks, txn, &c, "g", MG_KS_EPOCH_NONE, 0, st, sizeof(st));
  if (rc == 0) {
    rc = mg_ks_lease_reserve(txn, "g", 0, 10, &first);
  }
  if (rc == 0 && a->fail) {
    rc = MG_ERR_PROTOCOL;
  }
  return rc;
}

START_TEST(test_transact_atomic) {
  two_step a;
  snap before = take_snap();
  a.fail = 1;
  ck_assert_int_eq(mg_ks_transact(ks, two_step_txn, &a), MG_ERR_PROTOCOL);
  assert_unchanged(&before);
  free(before.buf);
  a.fail = 0;
  ck_assert_int_eq(mg_ks_transact(ks, two_step_txn, &a), 0);
  ck_assert_int_eq(mg_ks_transact(ks, two_step_txn, &a), MG_ERR_CONFLICT);
  ck_assert_int_eq(mg_ks_transact(ks, NULL, &a), MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mg_ks_transact(NULL, two_step_txn, &a), MG_ERR_INVALID_ARG);
}
END_TEST

/* ------------------------------------------------------------- audit */

/* Every operation that changes something appends its audit entry in its
 * own transaction; reads and leases append none. */
START_TEST(test_audit_entries) {
  mg_ks_ctx c = ctx_at(T0);
  kps gen;
  mg_ks_identity id;
  uint64_t n0;
  size_t due = 0;
  uint64_t pruned = 0;
  uint32_t first;

  memset(&gen, 0, sizeof(gen));
  n0 = audit_count();
  make_identity("acme", 1, 10, T0);
  ck_assert_uint_eq(audit_count(), n0 + 1);
  ck_assert_int_eq(mg_ks_identity_rotate(ks, &c, "acme", NULL), 0);
  ck_assert_uint_eq(audit_count(), n0 + 2);
  ck_assert_int_eq(mg_ks_identity_get(ks, "acme", &id), 0);
  ck_assert_int_eq(mg_ks_identity_revoke(ks, &c, "acme", id.keys[0].key_id), 0);
  mg_ks_identity_cleanup(&id);
  ck_assert_uint_eq(audit_count(), n0 + 3);
  c.now = T0 + 100;
  ck_assert_int_eq(mg_ks_identity_rotate_due(ks, &c, &due), 0);
  ck_assert_uint_eq(due, 1);
  ck_assert_uint_eq(audit_count(), n0 + 4);
  ck_assert_int_eq(mg_ks_kp_generate(ks, &c, "acme", 2, 0, collect_kp, &gen),
                   0);
  ck_assert_uint_eq(audit_count(), n0 + 5);
  ck_assert_int_eq(
      take("acme", gen.ref[0], gen.ref_len[0], T0 + 100, NULL, NULL), 0);
  ck_assert_uint_eq(audit_count(), n0 + 6);
  c.now = T0 + 100 + MLS_KEY_PACKAGE_DEFAULT_VALIDITY + 1;
  ck_assert_int_eq(mg_ks_kp_prune(ks, &c, &pruned), 0);
  ck_assert_uint_eq(pruned, 1);
  ck_assert_uint_eq(audit_count(), n0 + 7);
  ck_assert_int_eq(group_save("g", MG_KS_EPOCH_NONE, 0, "s"), 0);
  ck_assert_uint_eq(audit_count(), n0 + 8);
  ck_assert_int_eq(group_delete("g"), 0);
  ck_assert_uint_eq(audit_count(), n0 + 9);
  /* Reads and leases write no entry (the session layer audits the
   * operation that reserves). */
  ck_assert_int_eq(lease("g", 0, 1, &first), 0);
  ck_assert_int_eq(mg_ks_identity_get(ks, "acme", &id), 0);
  mg_ks_identity_cleanup(&id);
  ck_assert_uint_eq(audit_count(), n0 + 9);

  /* What they say: action, object, key IDs involved. */
  {
    static const char *const actions[] = {
        "identity.create",     "identity.rotate",     "identity.revoke",
        "identity.rotate_due", "keypackage.generate", "keypackage.take",
        "keypackage.prune",    "group.save",          "group.delete"};
    static const size_t num_ids[] = {1, 2, 1, 2, 1, 1, 0, 0, 0};
    char take_object[160];
    audit_seen seen;
    uint64_t size = 0;
    memset(&seen, 0, sizeof(seen));
    memcpy(take_object, "acme/", 5);
    mg_hex_encode(take_object + 5, gen.ref[0], gen.ref_len[0]);
    ck_assert_int_eq(
        mg_ks_audit_entries(ks, n0, UINT64_MAX, audit_seen_fn, &seen, &size),
        0);
    ck_assert_uint_eq(size, n0 + 9);
    ck_assert_uint_eq(seen.n, 9);
    for (size_t i = 0; i < 9; i++) {
      ck_assert_str_eq(seen.action[i], actions[i]);
      ck_assert_str_eq(seen.result[i], "ok");
      ck_assert_uint_eq(seen.num_key_ids[i], num_ids[i]);
      ck_assert_str_eq(seen.object[i], i == 5   ? take_object
                                       : i >= 7 ? "g"
                                                : "acme");
    }
  }
  kps_free(&gen);
}
END_TEST

/* A generate whose callback stops the calls succeeded all the same: its
 * packages stay, with its one success entry and no failure entry. */
static int stop_kp(void *arg, const uint8_t *ref, size_t ref_len,
                   const uint8_t *kp, size_t kp_len) {
  (void)arg;
  (void)ref;
  (void)ref_len;
  (void)kp;
  (void)kp_len;
  return 7;
}

START_TEST(test_kp_generate_callback_stops) {
  mg_ks_ctx c = ctx_at(T0);
  mg_ks_kp_counts st;
  audit_seen seen;
  uint64_t n0, size = 0;
  make_identity("acme", 1, 0, T0);
  n0 = audit_count();
  ck_assert_int_eq(mg_ks_kp_generate(ks, &c, "acme", 2, 0, stop_kp, NULL), 7);
  ck_assert_int_eq(mg_ks_kp_stats(ks, "acme", T0, &st), 0);
  ck_assert_uint_eq(st.unused, 2);
  memset(&seen, 0, sizeof(seen));
  ck_assert_int_eq(
      mg_ks_audit_entries(ks, n0, UINT64_MAX, audit_seen_fn, &seen, &size), 0);
  ck_assert_uint_eq(size, n0 + 1);
  ck_assert_str_eq(seen.action[0], "keypackage.generate");
  ck_assert_str_eq(seen.result[0], "ok");
}
END_TEST

/* ---------------------------------------------------------------- main */

int main(void) {
  if (mg_crypto_init() < 0) {
    fprintf(stderr, "crypto init failed\n");
    return 1;
  }
  int quick = getenv("MLSGATE_QUICK") != NULL;
  int num_suites = quick ? 2 : MLS_SUITE_MAX;
  Suite *s = suite_create("keystore");
  TCase *tc = tcase_create("keystore");
  tcase_set_timeout(tc, 600);
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_open_reopen);
  tcase_add_test(tc, test_audit_keys_sealed);
  tcase_add_test(tc, test_names_and_suites);
  tcase_add_loop_test(tc, test_identity_create_get, 0, num_suites);
  tcase_add_loop_test(tc, test_signer, 0, num_suites);
  tcase_add_test(tc, test_identity_list);
  tcase_add_test(tc, test_hooks_commit_with_operation);
  tcase_add_test(tc, test_rotate);
  tcase_add_test(tc, test_revoke);
  tcase_add_test(tc, test_rotate_due);
  tcase_add_test(tc, test_rotate_due_atomic);
  tcase_add_loop_test(tc, test_kp_generate_take, 0, num_suites);
  tcase_add_test(tc, test_kp_last_resort);
  tcase_add_test(tc, test_kp_stats_prune);
  tcase_add_test(tc, test_group_cas);
  tcase_add_test(tc, test_group_put);
  tcase_add_test(tc, test_lease);
  tcase_add_test(tc, test_tamper_each_kind);
  tcase_add_test(tc, test_tamper_moved);
  tcase_add_test(tc, test_failures_change_nothing);
  tcase_add_test(tc, test_transact_atomic);
  tcase_add_test(tc, test_audit_entries);
  tcase_add_test(tc, test_kp_generate_callback_stops);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? 0 : 1;
}
