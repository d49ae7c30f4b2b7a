/*
 * Tests of the session layer (src/session/session.h) over a keystore in a
 * temporary directory, with the recipient's device played by the MLS
 * engine directly (its own KeyPackage, join from our Welcome and ratchet
 * tree, its own commits), for every suite (suites 1 and 3 under
 * MLSGATE_QUICK=1):
 *  - open, the device joins, messages both ways, a device commit (epoch
 *    moves), a commit update after the identity's key rotation (our leaf
 *    moves to the new key ID), the device follows and messages still
 *    flow; info (members, key IDs, epoch authenticator equal to the
 *    device's); close;
 *  - join from a device's Welcome for a KeyPackage we published; a second
 *    join with the same Welcome is MG_ERR_NOT_FOUND;
 *  - failures (bad message, replay, a message of another conversation,
 *    unknown ids, a KeyPackage of another suite, an id taken) leave the
 *    stored state byte for byte as it was and are audited;
 *  - reloading after mg_session_free: encrypt continues past the lease
 *    block (no generation reused) and the device still decrypts;
 *  - concurrency: threads encrypting over several conversations; every
 *    message decrypts exactly once on the devices, generations distinct;
 *  - the audit entries name the right actions.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* memmem */
#endif
#include "config.h"

#include <check.h>
#include <ftw.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/hex.h"
#include "common/secmem.h"
#include "crypto/crypto.h"
#include "crypto/hpke.h"
#include "crypto/suite.h"
#include "keystore/audit.h"
#include "keystore/keystore.h"
#include "keystore/kv.h"
#include "mls/constants.h"
#include "mls/group.h"
#include "mls/keypackage.h"
#include "mls/msg_framing.h"
#include "session/session.h"
#include "session/session_int.h"

#define T0 ((uint64_t)1800000000)

static char store_dir[256];
static char kek_path[300];
static mg_keystore *ks;
static mg_session *sess;
static const mg_ks_ctx CTX = {"test", T0};

static int quick(void) {
  const char *q = getenv("MLSGATE_QUICK");
  return q != NULL && strcmp(q, "1") == 0;
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

static void new_session(uint32_t lease_block) {
  mg_session_options o;
  mg_session_options_default(&o);
  o.lease_block = lease_block;
  ck_assert_int_eq(mg_session_new(&sess, ks, &o), 0);
}

static void setup(void) {
  const char *tmp = getenv("TMPDIR");
  ck_assert_int_eq(mg_crypto_init(), 0);
  snprintf(store_dir, sizeof(store_dir), "%s/mlsgate-sess-XXXXXX",
           tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
  ck_assert_ptr_nonnull(mkdtemp(store_dir));
  snprintf(kek_path, sizeof(kek_path), "%s/kek", store_dir);
  ck_assert_int_eq(mg_kv_kek_generate(kek_path), 0);
  open_store(1);
  new_session(MG_SESSION_DEFAULT_LEASE_BLOCK);
}

static void teardown(void) {
  mg_session_free(sess);
  sess = NULL;
  mg_ks_close(ks);
  ks = NULL;
  (void)nftw(store_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static uint16_t suite_id(int i) {
  static const uint16_t q[] = {1, 3};
  return quick() ? q[i] : (uint16_t)(i + 1);
}

static void make_identity(const char *name, uint16_t suite) {
  ck_assert_int_eq(mg_ks_identity_create(ks, &CTX, name, suite, 0, NULL), 0);
}

/* ------------------------------------------------------------ device */

typedef struct device {
  const mls_suite *suite;
  mls_key_package kp;
  mls_key_package_priv kpp;
  int has_kp;
  mls_group *g;
} device;

static void device_init(device *d, uint16_t suite) {
  memset(d, 0, sizeof(*d));
  d->suite = mls_suite_by_id(suite);
  ck_assert_ptr_nonnull(d->suite);
}

static void device_cleanup(device *d) {
  if (d->has_kp) {
    mls_key_package_cleanup(&d->kp);
  }
  mls_key_package_priv_cleanup(&d->kpp);
  mls_group_free(d->g);
  memset(d, 0, sizeof(*d));
}

/* A fresh KeyPackage of the device as an MLSMessage in |*msg|. */
static void device_kp(device *d, uint8_t **msg, size_t *msg_len) {
  mls_key_package_params p;
  mls_bytes enc = {0};
  memset(&p, 0, sizeof(p));
  p.cipher_suite = d->suite->id;
  p.identity = (const uint8_t *)"phone";
  p.identity_len = 5;
  p.now = T0 - 10;
  ck_assert_int_eq(
      mls_key_package_generate(&d->kp, &d->kpp, &enc, NULL, 0, NULL, &p), 0);
  d->has_kp = 1;
  *msg_len = 4 + enc.len;
  *msg = malloc(*msg_len);
  ck_assert_ptr_nonnull(*msg);
  (*msg)[0] = 0;
  (*msg)[1] = 1; /* mls10 */
  (*msg)[2] = 0;
  (*msg)[3] = 5; /* mls_key_package */
  memcpy(*msg + 4, enc.data, enc.len);
  mls_bytes_cleanup(&enc);
}

static void device_join(device *d, const mls_bytes *welcome,
                        const mls_bytes *tree) {
  mls_message wm;
  mls_join_params jp;
  memset(&wm, 0, sizeof(wm));
  ck_assert_int_eq(mls_message_decode_bytes(welcome->data, welcome->len, &wm),
                   0);
  memset(&jp, 0, sizeof(jp));
  jp.welcome = &wm.welcome;
  jp.key_package = &d->kp;
  jp.init_priv = mg_hpke_key_priv(&d->kpp.init_key);
  jp.init_priv_len = d->suite->kem->priv_len;
  jp.enc_priv = mg_hpke_key_priv(&d->kpp.encryption_key);
  jp.enc_priv_len = d->suite->kem->priv_len;
  jp.sig_priv = d->kpp.sig_priv;
  jp.sig_priv_len = d->kpp.sig_priv_len;
  jp.ratchet_tree = tree->data;
  jp.ratchet_tree_len = tree->len;
  jp.now = T0;
  ck_assert_int_eq(mls_group_join(&d->g, d->suite, &jp), 0);
  mls_message_cleanup(&wm);
}

/* The device processes |msg|: returns the engine's result; a Commit moves
 * it to the next epoch; |pt| (may be NULL) gets application data. */
static int device_process(device *d, const uint8_t *msg, size_t len,
                          mls_bytes *pt, uint32_t *gen) {
  mls_process_params pp;
  mls_processed r;
  memset(&pp, 0, sizeof(pp));
  pp.now = T0;
  int rc = mls_group_process(d->g, msg, len, &pp, &r);
  if (rc < 0) {
    return rc;
  }
  if (r.content_type == MLS_CONTENT_COMMIT) {
    ck_assert_ptr_nonnull(r.next);
    mls_group_free(d->g);
    d->g = r.next;
    r.next = NULL;
  }
  if (gen != NULL) {
    *gen = r.generation;
  }
  if (pt != NULL) {
    *pt = r.application_data;
    memset(&r.application_data, 0, sizeof(r.application_data));
  }
  mls_processed_cleanup(&r);
  return 0;
}

/* We encrypt |text| in |conv|; the device decrypts it. */
static void send_to_device(const char *conv, device *d, const char *text) {
  mg_encrypted e;
  mls_bytes pt = {0};
  uint32_t gen = 0;
  ck_assert_int_eq(mg_session_encrypt(sess, &CTX, conv, (const uint8_t *)text,
                                      strlen(text), NULL, 0, &e),
                   0);
  ck_assert_uint_eq(e.epoch, mls_group_epoch(d->g));
  ck_assert_int_eq(device_process(d, e.message.data, e.message.len, &pt, &gen),
                   0);
  ck_assert_uint_eq(gen, e.generation);
  ck_assert_uint_eq(pt.len, strlen(text));
  ck_assert_mem_eq(pt.data, text, pt.len);
  mls_bytes_cleanup_secret(&pt);
  /* A replay is refused by the device. */
  ck_assert_int_eq(device_process(d, e.message.data, e.message.len, NULL, NULL),
                   MG_ERR_GENERATION);
  mg_encrypted_cleanup(&e);
}

/* The device encrypts |text|; we decrypt it. */
static void send_from_device(const char *conv, device *d, const char *text) {
  mls_bytes m = {0};
  mg_decrypted dec;
  ck_assert_int_eq(mls_group_protect(d->g, (const uint8_t *)text, strlen(text),
                                     NULL, 0, 0, &m, NULL),
                   0);
  ck_assert_int_eq(mg_session_decrypt(sess, &CTX, conv, m.data, m.len, &dec),
                   0);
  ck_assert_uint_eq(dec.content_type, MLS_CONTENT_APPLICATION);
  ck_assert_uint_eq(dec.plaintext.len, strlen(text));
  ck_assert_mem_eq(dec.plaintext.data, text, dec.plaintext.len);
  ck_assert_uint_eq(dec.sender_leaf, mls_group_self(d->g).v);
  ck_assert_uint_eq(dec.epoch, mls_group_epoch(d->g));
  mg_decrypted_cleanup(&dec);
  /* A replay is refused. */
  ck_assert_int_eq(mg_session_decrypt(sess, &CTX, conv, m.data, m.len, &dec),
                   MG_ERR_GENERATION);
  mls_bytes_cleanup(&m);
}

/* Our info agrees with the device's view. */
static void check_info(const char *conv, device *d) {
  mg_conv_info info;
  uint8_t ea[64];
  size_t ea_len = 0;
  ck_assert_int_eq(mg_session_info(sess, conv, &info), 0);
  ck_assert_str_eq(info.conversation_id, conv);
  ck_assert_uint_eq(info.epoch, mls_group_epoch(d->g));
  ck_assert_uint_eq(info.cipher_suite, d->suite->id);
  ck_assert_uint_eq(info.num_members, 2);
  ck_assert_int_eq(
      mls_group_epoch_authenticator(d->g, ea, sizeof(ea), &ea_len), 0);
  ck_assert_uint_eq(info.epoch_authenticator_len, ea_len);
  ck_assert_mem_eq(info.epoch_authenticator, ea, ea_len);
  mg_conv_info_cleanup(&info);
}

/* The key ID our leaf has in |conv|. */
static void our_key_id(const char *conv, uint8_t out[MG_KS_KEY_ID_LEN]) {
  mg_conv_info info;
  ck_assert_int_eq(mg_session_info(sess, conv, &info), 0);
  for (size_t i = 0; i < info.num_members; i++) {
    if (info.members[i].leaf_index == info.self_leaf) {
      memcpy(out, info.members[i].signature_key_id, MG_KS_KEY_ID_LEN);
    }
  }
  mg_conv_info_cleanup(&info);
}

static void active_key_id(const char *name, uint8_t out[MG_KS_KEY_ID_LEN]) {
  mg_ks_identity id;
  memset(&id, 0, sizeof(id));
  ck_assert_int_eq(mg_ks_identity_get(ks, name, &id), 0);
  for (size_t i = 0; i < id.num_keys; i++) {
    if (id.keys[i].version == id.active_version) {
      memcpy(out, id.keys[i].key_id, MG_KS_KEY_ID_LEN);
    }
  }
  mg_ks_identity_cleanup(&id);
}

/* Opens |conv| of |identity| with device |d|, which joins. */
static void open_with(const char *identity, const char *conv, device *d) {
  uint8_t *kp = NULL;
  size_t kp_len = 0;
  mg_conv_opened o;
  device_kp(d, &kp, &kp_len);
  ck_assert_int_eq(mg_session_open_conversation(sess, &CTX, identity, kp,
                                                kp_len, conv, &o),
                   0);
  ck_assert_str_eq(o.conversation_id, conv);
  ck_assert_uint_eq(o.epoch, 1);
  ck_assert_uint_eq(o.cipher_suite, d->suite->id);
  device_join(d, &o.welcome, &o.ratchet_tree);
  mg_conv_opened_cleanup(&o);
  free(kp);
}

/* ------------------------------------------------------ stored state */

typedef struct snap_arg {
  const char *conv;
  uint64_t epoch;
  uint8_t *state;
  size_t len;
  int rc;
} snap_arg;

static int snap_fn(mg_ks_txn *txn, void *arg) {
  snap_arg *a = arg;
  a->rc = mg_ks_group_load(txn, a->conv, &a->epoch, &a->state, &a->len);
  return 0;
}

static snap_arg snapshot(const char *conv) {
  snap_arg a;
  memset(&a, 0, sizeof(a));
  a.conv = conv;
  ck_assert_int_eq(mg_ks_view(ks, snap_fn, &a), 0);
  return a;
}

static void snap_free(snap_arg *a) {
  mg_free_secret(a->state, a->len);
  memset(a, 0, sizeof(*a));
}

static void assert_same_state(snap_arg *before) {
  snap_arg now = snapshot(before->conv);
  ck_assert_int_eq(now.rc, before->rc);
  ck_assert_uint_eq(now.epoch, before->epoch);
  ck_assert_uint_eq(now.len, before->len);
  if (now.len > 0) {
    ck_assert(memcmp(now.state, before->state, now.len) == 0);
  }
  snap_free(&now);
}

/* ------------------------------------------------------------- audit */

typedef struct audit_list {
  size_t n;
  char action[1024][40];
  char object[1024][40];
  char result[1024][40];
} audit_list;

static int audit_collect(void *arg, uint64_t seq, const char *entry,
                         size_t entry_len,
                         const uint8_t leaf_hash[MG_TLOG_HASH_LEN]) {
  audit_list *a = arg;
  json_error_t jerr;
  json_t *j = json_loadb(entry, entry_len, 0, &jerr);
  (void)seq;
  (void)leaf_hash;
  ck_assert_ptr_nonnull(j);
  if (a->n < 1024) {
    snprintf(a->action[a->n], sizeof(a->action[0]), "%s",
             json_string_value(json_object_get(j, "action")));
    snprintf(a->object[a->n], sizeof(a->object[0]), "%s",
             json_string_value(json_object_get(j, "object")));
    snprintf(a->result[a->n], sizeof(a->result[0]), "%s",
             json_string_value(json_object_get(j, "result")));
    a->n++;
  }
  json_decref(j);
  return 0;
}

static uint64_t audit_size(void) {
  audit_list *l = calloc(1, sizeof(*l));
  uint64_t size = 0;
  ck_assert_int_eq(mg_ks_audit_entries(ks, UINT64_MAX - 1, UINT64_MAX,
                                       audit_collect, l, &size),
                   0);
  free(l);
  return size;
}

/* The entries appended since |from|. */
static audit_list *audit_since(uint64_t from) {
  audit_list *l = calloc(1, sizeof(*l));
  ck_assert_ptr_nonnull(l);
  ck_assert_int_eq(
      mg_ks_audit_entries(ks, from, UINT64_MAX, audit_collect, l, NULL), 0);
  return l;
}

static size_t audit_count(const audit_list *l, const char *action,
                          const char *result) {
  size_t n = 0;
  for (size_t i = 0; i < l->n; i++) {
    if (strcmp(l->action[i], action) == 0 &&
        (result == NULL || strcmp(l->result[i], result) == 0)) {
      n++;
    }
  }
  return n;
}

/* The one entry appended since |*from| is a failure of |action| with
 * |err|; *from moves past it. */
static void assert_failure_audited(uint64_t *from, const char *action,
                                   const char *object, int err) {
  audit_list *l = audit_since(*from);
  ck_assert_uint_eq(l->n, 1);
  ck_assert_str_eq(l->action[0], action);
  ck_assert_str_eq(l->object[0], object);
  ck_assert_str_eq(l->result[0], mg_err_name(err));
  *from += l->n;
  free(l);
}

/* --------------------------------------------------------- lifecycle */

START_TEST(test_lifecycle) {
  uint16_t suite = suite_id(_i);
  device d;
  uint8_t k1[MG_KS_KEY_ID_LEN], k2[MG_KS_KEY_ID_LEN], kid[MG_KS_KEY_ID_LEN];
  uint64_t a0;
  make_identity("acme", suite);
  active_key_id("acme", k1);
  device_init(&d, suite);
  a0 = audit_size();
  open_with("acme", "conv-1", &d);
  check_info("conv-1", &d);
  our_key_id("conv-1", kid);
  ck_assert_mem_eq(kid, k1, MG_KS_KEY_ID_LEN);

  send_to_device("conv-1", &d, "hello device");
  send_to_device("conv-1", &d, "second");
  send_from_device("conv-1", &d, "hello service");

  /* The device commits (a fresh path): we follow. */
  {
    mls_commit_params p;
    mls_commit_result res;
    mg_decrypted dec;
    memset(&p, 0, sizeof(p));
    p.force_path = 1;
    p.now = T0;
    ck_assert_int_eq(mls_group_commit(d.g, &p, &res), 0);
    ck_assert_int_eq(mg_session_decrypt(sess, &CTX, "conv-1", res.commit.data,
                                        res.commit.len, &dec),
                     0);
    ck_assert_uint_eq(dec.content_type, MLS_CONTENT_COMMIT);
    ck_assert_uint_eq(dec.epoch, 1);
    ck_assert_uint_eq(dec.new_epoch, 2);
    ck_assert_int_eq(dec.removed, 0);
    mg_decrypted_cleanup(&dec);
    mls_group_free(d.g);
    d.g = res.next;
    res.next = NULL;
    mls_commit_result_cleanup(&res);
  }
  check_info("conv-1", &d);
  send_to_device("conv-1", &d, "after the device's commit");
  send_from_device("conv-1", &d, "device after its commit");

  /* The identity's key rotates; our commit moves the leaf to it. */
  ck_assert_int_eq(mg_ks_identity_rotate(ks, &CTX, "acme", NULL), 0);
  active_key_id("acme", k2);
  ck_assert(memcmp(k1, k2, MG_KS_KEY_ID_LEN) != 0);
  {
    mg_committed cm;
    ck_assert_int_eq(mg_session_commit_update(sess, &CTX, "conv-1", &cm), 0);
    ck_assert_uint_eq(cm.epoch, 3);
    ck_assert_mem_eq(cm.signature_key_id, k2, MG_KS_KEY_ID_LEN);
    ck_assert_int_eq(
        device_process(&d, cm.commit.data, cm.commit.len, NULL, NULL), 0);
    mg_committed_cleanup(&cm);
  }
  our_key_id("conv-1", kid);
  ck_assert_mem_eq(kid, k2, MG_KS_KEY_ID_LEN);
  check_info("conv-1", &d);
  send_to_device("conv-1", &d, "signed with the new key");
  send_from_device("conv-1", &d, "device to the new key");
  {
    /* Without a rotation the leaf keeps its key. */
    mg_committed cm;
    ck_assert_int_eq(mg_session_commit_update(sess, &CTX, "conv-1", &cm), 0);
    ck_assert_uint_eq(cm.epoch, 4);
    ck_assert_mem_eq(cm.signature_key_id, k2, MG_KS_KEY_ID_LEN);
    ck_assert_int_eq(
        device_process(&d, cm.commit.data, cm.commit.len, NULL, NULL), 0);
    mg_committed_cleanup(&cm);
  }
  send_to_device("conv-1", &d, "epoch 4");

  /* The audit log: every operation's entry. */
  {
    audit_list *l = audit_since(a0);
    ck_assert_uint_eq(audit_count(l, "conversation.open", "ok"), 1);
    ck_assert_uint_eq(audit_count(l, "message.encrypt", "ok"), 5);
    ck_assert_uint_eq(audit_count(l, "message.decrypt", "ok"), 4);
    ck_assert_uint_eq(audit_count(l, "conversation.commit", "ok"), 2);
    /* the replays we refused */
    ck_assert_uint_eq(
        audit_count(l, "message.decrypt", mg_err_name(MG_ERR_GENERATION)), 3);
    /* One entry per operation: the saves of open, decrypt and commit are
     * recorded by the operation's own entry, not by a "group.save". */
    ck_assert_uint_eq(audit_count(l, "group.save", NULL), 0);
    ck_assert_uint_eq(audit_count(l, "identity.rotate", "ok"), 1);
    ck_assert_uint_eq(l->n, 1 + 5 + 4 + 2 + 3 + 1);
    free(l);
  }

  /* Close: gone from the store and the cache, one audit entry. */
  uint64_t before_close = audit_size();
  ck_assert_int_eq(mg_session_close(sess, &CTX, "conv-1"), 0);
  {
    audit_list *l = audit_since(before_close);
    ck_assert_uint_eq(l->n, 1);
    ck_assert_uint_eq(audit_count(l, "conversation.close", "ok"), 1);
    free(l);
  }
  {
    mg_conv_info info;
    mg_encrypted e;
    ck_assert_int_eq(mg_session_info(sess, "conv-1", &info), MG_ERR_NOT_FOUND);
    ck_assert_int_eq(mg_session_encrypt(sess, &CTX, "conv-1",
                                        (const uint8_t *)"x", 1, NULL, 0, &e),
                     MG_ERR_NOT_FOUND);
    ck_assert_int_eq(mg_session_close(sess, &CTX, "conv-1"), MG_ERR_NOT_FOUND);
  }
  {
    mg_session_stats st;
    mg_session_get_stats(sess, &st);
    ck_assert_uint_eq(st.ops[0], 1);
    ck_assert_uint_eq(st.ops[2], 5);
    ck_assert_uint_eq(st.op_errors[2], 1);
    ck_assert_uint_ge(st.txns, 1);
    ck_assert_uint_ge(st.txn_ops, st.txns);
    ck_assert_uint_eq(st.txn_ns_buckets[11], st.txns);
    ck_assert_uint_ge(st.lease_writes, 4);
  }
  device_cleanup(&d);
}
END_TEST

/* -------------------------------------------------------------- join */

typedef struct kp_pub {
  uint8_t *msg;
  size_t len;
} kp_pub;

static int collect_kp(void *arg, const uint8_t *ref, size_t ref_len,
                      const uint8_t *kp, size_t kp_len) {
  kp_pub *p = arg;
  (void)ref;
  (void)ref_len;
  p->msg = malloc(kp_len);
  ck_assert_ptr_nonnull(p->msg);
  memcpy(p->msg, kp, kp_len);
  p->len = kp_len;
  return 0;
}

START_TEST(test_join) {
  uint16_t suite = suite_id(_i);
  device d;
  kp_pub pub;
  mls_message km;
  mls_commit_params p;
  mls_commit_result res;
  mg_conv_opened o;
  mls_group_create_params gp;
  uint64_t a0;
  make_identity("acme", suite);
  device_init(&d, suite);
  memset(&pub, 0, sizeof(pub));
  ck_assert_int_eq(mg_ks_kp_generate(ks, &CTX, "acme", 1, 0, collect_kp, &pub),
                   0);
  /* The device creates a group and adds us. */
  {
    uint8_t *own = NULL;
    size_t own_len = 0;
    device_kp(&d, &own, &own_len);
    free(own);
  }
  memset(&gp, 0, sizeof(gp));
  gp.key_package = &d.kp;
  gp.priv = &d.kpp;
  ck_assert_int_eq(mls_group_create(&d.g, d.suite, &gp), 0);
  memset(&km, 0, sizeof(km));
  ck_assert_int_eq(mls_message_decode_bytes(pub.msg, pub.len, &km), 0);
  memset(&p, 0, sizeof(p));
  p.adds = &km.key_package;
  p.num_adds = 1;
  p.now = T0;
  ck_assert_int_eq(mls_group_commit(d.g, &p, &res), 0);
  mls_group_free(d.g);
  d.g = res.next;
  res.next = NULL;

  a0 = audit_size();
  ck_assert_int_eq(mg_session_join(sess, &CTX, "acme", res.welcome.data,
                                   res.welcome.len, res.ratchet_tree.data,
                                   res.ratchet_tree.len, &o),
                   0);
  ck_assert_uint_eq(strlen(o.conversation_id), 26);
  ck_assert_uint_eq(o.epoch, 1);
  ck_assert_uint_eq(o.cipher_suite, suite);
  check_info(o.conversation_id, &d);
  send_from_device(o.conversation_id, &d, "welcome aboard");
  send_to_device(o.conversation_id, &d, "thanks");
  {
    audit_list *l = audit_since(a0);
    ck_assert_uint_eq(audit_count(l, "conversation.join", "ok"), 1);
    ck_assert_uint_eq(audit_count(l, "keypackage.take", "ok"), 1);
    ck_assert_uint_eq(audit_count(l, "group.save", NULL), 0);
    free(l);
  }
  /* The KeyPackage is used up: a second join finds none of ours. */
  {
    mg_conv_opened o2;
    uint64_t from = audit_size();
    ck_assert_int_eq(mg_session_join(sess, &CTX, "acme", res.welcome.data,
                                     res.welcome.len, res.ratchet_tree.data,
                                     res.ratchet_tree.len, &o2),
                     MG_ERR_NOT_FOUND);
    audit_list *l = audit_since(from);
    ck_assert_uint_eq(l->n, 1);
    ck_assert_str_eq(l->action[0], "conversation.join");
    ck_assert_str_eq(l->object[0], "");
    ck_assert_str_eq(l->result[0], mg_err_name(MG_ERR_NOT_FOUND));
    free(l);
    /* Another identity has no such KeyPackage either. */
    ck_assert_int_eq(mg_session_join(sess, &CTX, "nobody", res.welcome.data,
                                     res.welcome.len, res.ratchet_tree.data,
                                     res.ratchet_tree.len, &o2),
                     MG_ERR_NOT_FOUND);
    /* Not a Welcome. */
    ck_assert_int_eq(mg_session_join(sess, &CTX, "acme", pub.msg, pub.len,
                                     NULL, 0, &o2),
                     MG_ERR_WIRE_FORMAT);
  }
  mg_conv_opened_cleanup(&o);
  mls_commit_result_cleanup(&res);
  mls_message_cleanup(&km);
  free(pub.msg);
  device_cleanup(&d);
}
END_TEST

/* ------------------------------------------------------------ errors */

START_TEST(test_errors_change_nothing) {
  uint16_t suite = suite_id(_i);
  device d, d2;
  snap_arg s1, s2, none;
  uint64_t from;
  mls_bytes m = {0}, m2 = {0};
  mg_decrypted dec;
  mg_encrypted e;
  mg_conv_opened o;
  make_identity("acme", suite);
  device_init(&d, suite);
  device_init(&d2, suite);
  open_with("acme", "conv-a", &d);
  open_with("acme", "conv-b", &d2);
  send_to_device("conv-a", &d, "one");
  send_from_device("conv-a", &d, "two");
  s1 = snapshot("conv-a");
  s2 = snapshot("conv-b");
  ck_assert_int_eq(s1.rc, 0);
  from = audit_size();

  /* A message of conversation a given to conversation b. */
  ck_assert_int_eq(mls_group_protect(d.g, (const uint8_t *)"for a", 5, NULL, 0,
                                     0, &m, NULL),
                   0);
  ck_assert_int_eq(mg_session_decrypt(sess, &CTX, "conv-b", m.data, m.len, &dec),
                   MG_ERR_GROUP_ID);
  assert_failure_audited(&from, "message.decrypt", "conv-b", MG_ERR_GROUP_ID);
  /* A corrupted message (one ciphertext byte flipped). */
  ck_assert_int_eq(mls_bytes_dup(&m2, m.data, m.len), 0);
  m2.data[m2.len - 3] ^= 1;
  ck_assert_int_lt(
      mg_session_decrypt(sess, &CTX, "conv-a", m2.data, m2.len, &dec), 0);
  {
    audit_list *l = audit_since(from);
    ck_assert_uint_eq(l->n, 1);
    ck_assert_str_eq(l->action[0], "message.decrypt");
    from += l->n;
    free(l);
  }
  /* Garbage. */
  ck_assert_int_lt(mg_session_decrypt(sess, &CTX, "conv-a",
                                      (const uint8_t *)"\x00\x01\x00", 3, &dec),
                   0);
  from = audit_size();
  /* Unknown conversation, invalid id. */
  ck_assert_int_eq(mg_session_decrypt(sess, &CTX, "conv-x", m.data, m.len, &dec),
                   MG_ERR_NOT_FOUND);
  assert_failure_audited(&from, "message.decrypt", "conv-x", MG_ERR_NOT_FOUND);
  ck_assert_int_eq(mg_session_encrypt(sess, &CTX, "conv-x",
                                      (const uint8_t *)"x", 1, NULL, 0, &e),
                   MG_ERR_NOT_FOUND);
  assert_failure_audited(&from, "message.encrypt", "conv-x", MG_ERR_NOT_FOUND);
  {
    mg_committed cm;
    ck_assert_int_eq(mg_session_commit_update(sess, &CTX, "conv-x", &cm),
                     MG_ERR_NOT_FOUND);
  }
  assert_failure_audited(&from, "conversation.commit", "conv-x",
                         MG_ERR_NOT_FOUND);
  ck_assert_int_eq(mg_session_encrypt(sess, &CTX, "bad id!",
                                      (const uint8_t *)"x", 1, NULL, 0, &e),
                   MG_ERR_INVALID_ARG);
  assert_failure_audited(&from, "message.encrypt", "", MG_ERR_INVALID_ARG);
  none = snapshot("conv-x");
  ck_assert_int_eq(none.rc, MG_ERR_NOT_FOUND);
  snap_free(&none);
  /* Opening an id that is taken; a KeyPackage of another suite; an
   * unknown identity; not a KeyPackage. */
  {
    device d3;
    uint8_t *kp = NULL;
    size_t kp_len = 0;
    device_init(&d3, suite == 1 ? 3 : 1);
    device_kp(&d3, &kp, &kp_len);
    ck_assert_int_eq(mg_session_open_conversation(sess, &CTX, "acme", kp,
                                                  kp_len, "conv-a", &o),
                     MG_ERR_UNSUPPORTED);
    assert_failure_audited(&from, "conversation.open", "conv-a",
                           MG_ERR_UNSUPPORTED);
    free(kp);
    device_cleanup(&d3);
    device_init(&d3, suite);
    device_kp(&d3, &kp, &kp_len);
    ck_assert_int_eq(mg_session_open_conversation(sess, &CTX, "acme", kp,
                                                  kp_len, "conv-a", &o),
                     MG_ERR_EXISTS);
    assert_failure_audited(&from, "conversation.open", "conv-a",
                           MG_ERR_EXISTS);
    ck_assert_int_eq(mg_session_open_conversation(sess, &CTX, "nobody", kp,
                                                  kp_len, "conv-n", &o),
                     MG_ERR_NOT_FOUND);
    assert_failure_audited(&from, "conversation.open", "conv-n",
                           MG_ERR_NOT_FOUND);
    ck_assert_int_eq(mg_session_open_conversation(sess, &CTX, "acme", m.data,
                                                  m.len, "conv-n", &o),
                     MG_ERR_WIRE_FORMAT);
    assert_failure_audited(&from, "conversation.open", "conv-n",
                           MG_ERR_WIRE_FORMAT);
    /* A random id that was never stored is not named. */
    ck_assert_int_eq(mg_session_open_conversation(sess, &CTX, "nobody", kp,
                                                  kp_len, NULL, &o),
                     MG_ERR_NOT_FOUND);
    assert_failure_audited(&from, "conversation.open", "", MG_ERR_NOT_FOUND);
    free(kp);
    device_cleanup(&d3);
  }
  assert_same_state(&s1);
  assert_same_state(&s2);
  none = snapshot("conv-n");
  ck_assert_int_eq(none.rc, MG_ERR_NOT_FOUND);
  snap_free(&none);

  /* After all that, conversation a still works, the good message too. */
  ck_assert_int_eq(mg_session_decrypt(sess, &CTX, "conv-a", m.data, m.len, &dec),
                   0);
  ck_assert_uint_eq(dec.plaintext.len, 5);
  mg_decrypted_cleanup(&dec);
  send_to_device("conv-a", &d, "still fine");
  send_to_device("conv-b", &d2, "b too");
  mls_bytes_cleanup(&m);
  mls_bytes_cleanup(&m2);
  snap_free(&s1);
  snap_free(&s2);
  device_cleanup(&d);
  device_cleanup(&d2);
}
END_TEST

/* ------------------------------------------- proposals and removal */

START_TEST(test_proposal_and_removal) {
  device d;
  mls_bytes m = {0};
  mg_decrypted dec;
  uint64_t a0;
  make_identity("acme", 1);
  device_init(&d, 1);
  open_with("acme", "conv-p", &d);
  /* The device proposes an Update; we keep it pending and our commit
   * covers it. */
  {
    mls_proposal prop;
    memset(&prop, 0, sizeof(prop));
    prop.proposal_type = MLS_PROPOSAL_UPDATE;
    ck_assert_int_eq(mls_group_propose(d.g, &prop, 0, T0, &m), 0);
  }
  ck_assert_int_eq(mg_session_decrypt(sess, &CTX, "conv-p", m.data, m.len, &dec),
                   0);
  ck_assert_uint_eq(dec.content_type, MLS_CONTENT_PROPOSAL);
  ck_assert_uint_eq(dec.new_epoch, 1);
  ck_assert_uint_eq(dec.plaintext.len, 0);
  mg_decrypted_cleanup(&dec);
  mls_bytes_cleanup(&m);
  /* The pending proposal survives a reload (it is in the stored state). */
  mg_session_free(sess);
  new_session(MG_SESSION_DEFAULT_LEASE_BLOCK);
  {
    mg_committed cm;
    ck_assert_int_eq(mg_session_commit_update(sess, &CTX, "conv-p", &cm), 0);
    ck_assert_uint_eq(cm.epoch, 2);
    ck_assert_int_eq(
        device_process(&d, cm.commit.data, cm.commit.len, NULL, NULL), 0);
    mg_committed_cleanup(&cm);
  }
  check_info("conv-p", &d);
  send_to_device("conv-p", &d, "after the update");
  /* The device removes us: the conversation is closed. */
  a0 = audit_size();
  {
    mls_commit_params p;
    mls_commit_result res;
    uint32_t us = 0;
    memset(&p, 0, sizeof(p));
    p.removes = &us;
    p.num_removes = 1;
    p.now = T0;
    ck_assert_int_eq(mls_group_commit(d.g, &p, &res), 0);
    ck_assert_int_eq(mg_session_decrypt(sess, &CTX, "conv-p", res.commit.data,
                                        res.commit.len, &dec),
                     0);
    ck_assert_uint_eq(dec.content_type, MLS_CONTENT_COMMIT);
    ck_assert_int_eq(dec.removed, 1);
    mg_decrypted_cleanup(&dec);
    mls_commit_result_cleanup(&res);
  }
  {
    mg_conv_info info;
    snap_arg gone = snapshot("conv-p");
    ck_assert_int_eq(gone.rc, MG_ERR_NOT_FOUND);
    snap_free(&gone);
    ck_assert_int_eq(mg_session_info(sess, "conv-p", &info), MG_ERR_NOT_FOUND);
    audit_list *l = audit_since(a0);
    /* One entry for the operation, the deletion included. */
    ck_assert_uint_eq(audit_count(l, "message.decrypt", "ok"), 1);
    ck_assert_uint_eq(audit_count(l, "group.delete", "ok"), 0);
    ck_assert_uint_eq(l->n, 1);
    free(l);
  }
  device_cleanup(&d);
}
END_TEST

/* Two sessions over one store (two processes, say): their leases never
 * overlap, and a stale cache loses the compare-and-swap, drops its state
 * and reloads. */
START_TEST(test_two_sessions) {
  device d;
  mg_session *other = NULL;
  mg_encrypted e1, e2;
  mls_bytes m = {0};
  mg_decrypted dec;
  uint32_t g1 = 0, g2 = 0;
  make_identity("acme", 1);
  device_init(&d, 1);
  open_with("acme", "conv-2", &d);
  ck_assert_int_eq(mg_session_new(&other, ks, NULL), 0);
  ck_assert_int_eq(mg_session_encrypt(sess, &CTX, "conv-2",
                                      (const uint8_t *)"a", 1, NULL, 0, &e1),
                   0);
  ck_assert_int_eq(mg_session_encrypt(other, &CTX, "conv-2",
                                      (const uint8_t *)"b", 1, NULL, 0, &e2),
                   0);
  ck_assert_uint_eq(e1.generation, 0);
  ck_assert_uint_eq(e2.generation, MG_SESSION_DEFAULT_LEASE_BLOCK);
  ck_assert_int_eq(
      device_process(&d, e1.message.data, e1.message.len, NULL, &g1), 0);
  ck_assert_int_eq(
      device_process(&d, e2.message.data, e2.message.len, NULL, &g2), 0);
  mg_encrypted_cleanup(&e1);
  mg_encrypted_cleanup(&e2);
  /* The device sends in epoch 1; |sess| commits (epoch 2); |other| still
   * caches epoch 1: it decrypts, loses the compare-and-swap, keeps
   * nothing. */
  ck_assert_int_eq(mls_group_protect(d.g, (const uint8_t *)"late", 4, NULL, 0,
                                     0, &m, NULL),
                   0);
  {
    mg_committed cm;
    ck_assert_int_eq(mg_session_commit_update(sess, &CTX, "conv-2", &cm), 0);
    ck_assert_int_eq(mg_session_decrypt(other, &CTX, "conv-2", m.data, m.len,
                                        &dec),
                     MG_ERR_CONFLICT);
    ck_assert_int_eq(
        device_process(&d, cm.commit.data, cm.commit.len, NULL, NULL), 0);
    mg_committed_cleanup(&cm);
  }
  {
    mg_conv_info info;
    ck_assert_int_eq(mg_session_info(other, "conv-2", &info), 0);
    ck_assert_uint_eq(info.epoch, 2); /* reloaded */
    mg_conv_info_cleanup(&info);
  }
  /* The late message of epoch 1 still decrypts (a retained past epoch),
   * in the session whose cache was right. */
  ck_assert_int_eq(mg_session_decrypt(sess, &CTX, "conv-2", m.data, m.len,
                                      &dec),
                   0);
  ck_assert_uint_eq(dec.epoch, 1);
  ck_assert_uint_eq(dec.new_epoch, 2);
  mg_decrypted_cleanup(&dec);
  mls_bytes_cleanup(&m);
  mg_session_free(other);
  device_cleanup(&d);
}
END_TEST

/* ------------------------------------------------------------ reload */

START_TEST(test_reload_skips_lease) {
  device d;
  mg_encrypted e;
  uint32_t gen = 0;
  mls_bytes pt = {0};
  make_identity("acme", 1);
  device_init(&d, 1);
  open_with("acme", "conv-r", &d);
  send_to_device("conv-r", &d, "g0");
  send_to_device("conv-r", &d, "g1");
  /* A restart (or a crash: the state in the store never saw g0 and g1). */
  mg_session_free(sess);
  new_session(MG_SESSION_DEFAULT_LEASE_BLOCK);
  ck_assert_int_eq(mg_session_encrypt(sess, &CTX, "conv-r",
                                      (const uint8_t *)"g64", 3, NULL, 0, &e),
                   0);
  ck_assert_uint_eq(e.generation, MG_SESSION_DEFAULT_LEASE_BLOCK);
  ck_assert_int_eq(
      device_process(&d, e.message.data, e.message.len, &pt, &gen), 0);
  ck_assert_uint_eq(gen, MG_SESSION_DEFAULT_LEASE_BLOCK);
  mls_bytes_cleanup_secret(&pt);
  mg_encrypted_cleanup(&e);
  /* A restart without sending reserves nothing: the next block. */
  mg_session_free(sess);
  new_session(MG_SESSION_DEFAULT_LEASE_BLOCK);
  mg_session_free(sess);
  new_session(MG_SESSION_DEFAULT_LEASE_BLOCK);
  ck_assert_int_eq(mg_session_encrypt(sess, &CTX, "conv-r",
                                      (const uint8_t *)"g128", 4, NULL, 0, &e),
                   0);
  ck_assert_uint_eq(e.generation, 2 * MG_SESSION_DEFAULT_LEASE_BLOCK);
  ck_assert_int_eq(
      device_process(&d, e.message.data, e.message.len, NULL, NULL), 0);
  mg_encrypted_cleanup(&e);
  /* A decrypt stores the state (its ratchet position too); a reload
   * still leases past the block in use. */
  send_from_device("conv-r", &d, "from the device");
  mg_session_free(sess);
  new_session(8);
  ck_assert_int_eq(mg_session_encrypt(sess, &CTX, "conv-r",
                                      (const uint8_t *)"g192", 4, NULL, 0, &e),
                   0);
  ck_assert_uint_eq(e.generation, 3 * MG_SESSION_DEFAULT_LEASE_BLOCK);
  ck_assert_int_eq(
      device_process(&d, e.message.data, e.message.len, NULL, NULL), 0);
  mg_encrypted_cleanup(&e);
  /* Small blocks: a lease write every 8 messages. */
  for (int i = 0; i < 20; i++) {
    send_to_device("conv-r", &d, "small blocks");
  }
  {
    mg_session_stats st;
    mg_session_get_stats(sess, &st);
    ck_assert_uint_eq(st.lease_writes, 3);
  }
  device_cleanup(&d);
}
END_TEST

/* The epoch's generations used up (the lease at the end of the 32-bit
 * space, RFC 9420 §9.1): encrypt refuses with MG_ERR_GENERATION, audited,
 * nothing sent; a commit update starts a new epoch and messages flow. */
typedef struct exhaust_arg {
  uint32_t first;
} exhaust_arg;

static int exhaust_fn(mg_ks_txn *txn, void *arg) {
  exhaust_arg *a = arg;
  return mg_ks_lease_reserve(txn, "conv-g", 1, 0xffffffffu - 10, &a->first);
}

START_TEST(test_generations_exhausted) {
  device d;
  mg_encrypted e;
  exhaust_arg xa;
  uint64_t from;
  make_identity("acme", 1);
  device_init(&d, 1);
  open_with("acme", "conv-g", &d);
  ck_assert_int_eq(mg_ks_transact(ks, exhaust_fn, &xa), 0);
  from = audit_size();
  ck_assert_int_eq(mg_session_encrypt(sess, &CTX, "conv-g",
                                      (const uint8_t *)"x", 1, NULL, 0, &e),
                   MG_ERR_GENERATION);
  ck_assert_ptr_null(e.message.data);
  assert_failure_audited(&from, "message.encrypt", "conv-g",
                         MG_ERR_GENERATION);
  {
    mg_committed cm;
    ck_assert_int_eq(mg_session_commit_update(sess, &CTX, "conv-g", &cm), 0);
    ck_assert_int_eq(
        device_process(&d, cm.commit.data, cm.commit.len, NULL, NULL), 0);
    mg_committed_cleanup(&cm);
  }
  send_to_device("conv-g", &d, "a new epoch, generation 0");
  device_cleanup(&d);
}
END_TEST

/* ------------------------------------------------------- concurrency */

#define NCONV 4
#define NTHREADS 8

typedef struct sent {
  uint32_t conv;
  uint32_t gen;
  uint64_t epoch;
  mls_bytes msg;
  char text[32];
} sent;

typedef struct worker {
  int t;
  int n;
  int async; /* mg_session_encrypt_async, every call in flight at once */
  sent *out;
} worker;

/* One asynchronous encrypt's callbacks: |ready| then |done|, once each. */
typedef struct async_call {
  pthread_mutex_t *mu;
  pthread_cond_t *cv;
  int *pending;
  mg_encrypted e;
  int ready_calls, done_calls, rc;
  int ready_fail; /* |ready| refuses the message */
  size_t msg_len_at_ready;
} async_call;

static int async_ready(void *arg, const mg_encrypted *e) {
  async_call *a = arg;
  a->ready_calls++;
  a->msg_len_at_ready = e->message.len;
  return a->ready_fail ? MG_ERR_NOMEM : 0;
}

static void async_done(void *arg, int rc) {
  async_call *a = arg;
  pthread_mutex_lock(a->mu);
  a->done_calls++;
  a->rc = rc;
  if (--*a->pending == 0) {
    pthread_cond_broadcast(a->cv);
  }
  pthread_mutex_unlock(a->mu);
}

static void async_worker(worker *w) {
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
  int pending = 0;
  async_call *calls = calloc((size_t)w->n, sizeof(*calls));
  if (calls == NULL) {
    return;
  }
  for (int k = 0; k < w->n; k++) {
    sent *s = &w->out[k];
    char conv[16];
    mg_encrypt_cb cb = {async_ready, async_done, &calls[k]};
    calls[k].mu = &mu;
    calls[k].cv = &cv;
    calls[k].pending = &pending;
    s->conv = (uint32_t)((w->t + k) % NCONV);
    snprintf(conv, sizeof(conv), "conv-%u", s->conv);
    snprintf(s->text, sizeof(s->text), "t%d m%d", w->t, k);
    pthread_mutex_lock(&mu);
    pending++;
    pthread_mutex_unlock(&mu);
    int rc = mg_session_encrypt_async(sess, &CTX, conv,
                                      (const uint8_t *)s->text,
                                      strlen(s->text), NULL, 0, &calls[k].e,
                                      &cb);
    if (rc < 0) {
      pthread_mutex_lock(&mu);
      pending--;
      pthread_mutex_unlock(&mu);
      calls[k].rc = rc;
    }
  }
  pthread_mutex_lock(&mu);
  while (pending > 0) {
    pthread_cond_wait(&cv, &mu);
  }
  pthread_mutex_unlock(&mu);
  for (int k = 0; k < w->n; k++) {
    sent *s = &w->out[k];
    async_call *a = &calls[k];
    if (a->rc < 0 || a->ready_calls != 1 || a->done_calls != 1 ||
        a->msg_len_at_ready != a->e.message.len) {
      s->conv = UINT32_MAX; /* the test fails on it */
      mg_encrypted_cleanup(&a->e);
      continue;
    }
    s->gen = a->e.generation;
    s->epoch = a->e.epoch;
    s->msg = a->e.message;
    memset(&a->e.message, 0, sizeof(a->e.message));
    mg_encrypted_cleanup(&a->e);
  }
  free(calls);
}

static void *worker_main(void *arg) {
  worker *w = arg;
  if (w->async) {
    async_worker(w);
    return NULL;
  }
  for (int k = 0; k < w->n; k++) {
    sent *s = &w->out[k];
    char conv[16];
    mg_encrypted e;
    s->conv = (uint32_t)((w->t + k) % NCONV);
    snprintf(conv, sizeof(conv), "conv-%u", s->conv);
    snprintf(s->text, sizeof(s->text), "t%d m%d", w->t, k);
    int rc = mg_session_encrypt(sess, &CTX, conv, (const uint8_t *)s->text,
                                strlen(s->text), NULL, 0, &e);
    if (rc < 0) {
      s->conv = UINT32_MAX;
      continue;
    }
    s->gen = e.generation;
    s->epoch = e.epoch;
    s->msg = e.message;
    memset(&e.message, 0, sizeof(e.message));
    mg_encrypted_cleanup(&e);
  }
  return NULL;
}

static int by_conv_gen(const void *a, const void *b) {
  const sent *x = a, *y = b;
  if (x->conv != y->conv) {
    return x->conv < y->conv ? -1 : 1;
  }
  return x->gen < y->gen ? -1 : x->gen > y->gen ? 1 : 0;
}

/* _i = 0: mg_session_encrypt; 1: mg_session_encrypt_async, each thread
 * with all its calls in flight at once. */
START_TEST(test_concurrent_encrypt) {
  device d[NCONV];
  pthread_t th[NTHREADS];
  worker w[NTHREADS];
  int per = quick() ? 25 : 100;
  size_t total = (size_t)per * NTHREADS;
  sent *all = calloc(total, sizeof(sent));
  uint64_t a0;
  ck_assert_ptr_nonnull(all);
  make_identity("acme", 1);
  for (int i = 0; i < NCONV; i++) {
    char conv[16];
    snprintf(conv, sizeof(conv), "conv-%d", i);
    device_init(&d[i], 1);
    open_with("acme", conv, &d[i]);
  }
  /* Drop the cache so that the threads race on loading too. */
  mg_session_free(sess);
  new_session(MG_SESSION_DEFAULT_LEASE_BLOCK);
  a0 = audit_size();
  for (int t = 0; t < NTHREADS; t++) {
    w[t].t = t;
    w[t].n = per;
    w[t].async = _i;
    w[t].out = all + (size_t)t * (size_t)per;
    ck_assert_int_eq(pthread_create(&th[t], NULL, worker_main, &w[t]), 0);
  }
  for (int t = 0; t < NTHREADS; t++) {
    ck_assert_int_eq(pthread_join(th[t], NULL), 0);
  }
  qsort(all, total, sizeof(sent), by_conv_gen);
  for (size_t i = 0; i < total; i++) {
    mls_bytes pt = {0};
    uint32_t gen = 0;
    ck_assert_uint_ne(all[i].conv, UINT32_MAX);
    if (i > 0 && all[i].conv == all[i - 1].conv) {
      ck_assert_uint_gt(all[i].gen, all[i - 1].gen); /* distinct */
    }
    ck_assert_uint_eq(all[i].epoch, 1);
    ck_assert_int_eq(device_process(&d[all[i].conv], all[i].msg.data,
                                    all[i].msg.len, &pt, &gen),
                     0);
    ck_assert_uint_eq(gen, all[i].gen);
    ck_assert_uint_eq(pt.len, strlen(all[i].text));
    ck_assert_mem_eq(pt.data, all[i].text, pt.len);
    mls_bytes_cleanup_secret(&pt);
    /* exactly once */
    ck_assert_int_eq(device_process(&d[all[i].conv], all[i].msg.data,
                                    all[i].msg.len, NULL, NULL),
                     MG_ERR_GENERATION);
  }
  {
    audit_list *l = audit_since(a0);
    ck_assert_uint_eq(audit_count(l, "message.encrypt", "ok"), total);
    free(l);
    mg_session_stats st;
    mg_session_get_stats(sess, &st);
    ck_assert_uint_eq(st.ops[2], total);
    ck_assert_uint_eq(st.op_errors[2], 0);
    fprintf(stderr,
            "check_session: %zu encrypts in %llu transactions (%llu ops)\n",
            total, (unsigned long long)st.txns,
            (unsigned long long)st.txn_ops);
  }
  for (size_t i = 0; i < total; i++) {
    mls_bytes_cleanup(&all[i].msg);
  }
  free(all);
  for (int i = 0; i < NCONV; i++) {
    device_cleanup(&d[i]);
  }
}
END_TEST

/* An asynchronous encrypt whose |ready| refuses the message: its error is
 * the result, |done| is never called, nothing is recorded, and the
 * generation it used is never used again. */
START_TEST(test_encrypt_async_refused) {
  device d;
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
  int pending = 1;
  async_call a;
  mg_encrypt_cb cb = {async_ready, async_done, &a};
  mg_encrypted e;
  mls_bytes pt = {0};
  uint32_t gen = 0;
  make_identity("acme", 1);
  device_init(&d, 1);
  open_with("acme", "conv-r", &d);
  uint64_t a0 = audit_size();
  memset(&a, 0, sizeof(a));
  a.mu = &mu;
  a.cv = &cv;
  a.pending = &pending;
  a.ready_fail = 1;
  ck_assert_int_eq(mg_session_encrypt_async(sess, &CTX, "conv-r",
                                            (const uint8_t *)"x", 1, NULL, 0,
                                            &a.e, &cb),
                   MG_ERR_NOMEM);
  ck_assert_int_eq(a.ready_calls, 1);
  ck_assert_int_eq(a.done_calls, 0);
  ck_assert_ptr_null(a.e.message.data); /* dropped */
  ck_assert_uint_eq(audit_size(), a0);
  /* Bad arguments: neither callback. */
  memset(&a, 0, sizeof(a));
  a.mu = &mu;
  a.cv = &cv;
  a.pending = &pending;
  ck_assert_int_eq(mg_session_encrypt_async(sess, &CTX, "no-such-conv",
                                            (const uint8_t *)"x", 1, NULL, 0,
                                            &a.e, &cb),
                   MG_ERR_NOT_FOUND);
  ck_assert_int_eq(mg_session_encrypt_async(sess, &CTX, "conv-r", NULL, 1,
                                            NULL, 0, &a.e, &cb),
                   MG_ERR_INVALID_ARG);
  ck_assert_int_eq(a.ready_calls + a.done_calls, 0);
  /* The next message skips the refused one's generation. */
  a0 = audit_size();
  memset(&a, 0, sizeof(a));
  a.mu = &mu;
  a.cv = &cv;
  a.pending = &pending;
  ck_assert_int_eq(mg_session_encrypt_async(sess, &CTX, "conv-r",
                                            (const uint8_t *)"next", 4, NULL,
                                            0, &a.e, &cb),
                   0);
  pthread_mutex_lock(&mu);
  while (pending > 0) {
    pthread_cond_wait(&cv, &mu);
  }
  pthread_mutex_unlock(&mu);
  ck_assert_int_eq(a.rc, 0);
  ck_assert_int_eq(a.ready_calls, 1);
  ck_assert_int_eq(a.done_calls, 1);
  ck_assert_uint_eq(a.e.generation, 1);
  ck_assert_int_eq(device_process(&d, a.e.message.data, a.e.message.len,
                                  &pt, &gen),
                   0);
  ck_assert_uint_eq(gen, 1);
  ck_assert_mem_eq(pt.data, "next", 4);
  mls_bytes_cleanup_secret(&pt);
  audit_list *l = audit_since(a0);
  ck_assert_uint_eq(l->n, 1);
  ck_assert_uint_eq(audit_count(l, "message.encrypt", "ok"), 1);
  free(l);
  /* The synchronous call agrees on the content HMAC it records. */
  ck_assert_int_eq(mg_session_encrypt(sess, &CTX, "conv-r",
                                      (const uint8_t *)"next", 4, NULL, 0,
                                      &e),
                   0);
  ck_assert_mem_eq(e.content_hmac, a.e.content_hmac, 32);
  mg_encrypted_cleanup(&e);
  mg_encrypted_cleanup(&a.e);
  device_cleanup(&d);
}
END_TEST

/* Hooks that commit with the operation (mg_session_*_h): |in_txn| sees
 * the result inside the operation's transaction and what it writes (an
 * idempotent request's stored answer) commits with it; its failure fails
 * the operation, which then changes nothing. */
typedef struct hook_arg {
  int calls;
  int fail;
  const char *key;
  char seen_conv[MG_KS_CONV_ID_MAX + 1];
  size_t seen_welcome;
  uint64_t seen_epoch;
  int commit;
} hook_arg;

static int hook_in_txn(mg_ks_txn *txn, void *arg, const void *result) {
  hook_arg *h = arg;
  char body[256];
  h->calls++;
  if (h->commit) {
    const mg_committed *m = result;
    h->seen_epoch = m->epoch;
    h->seen_welcome = m->commit.len;
    snprintf(body, sizeof(body), "{\"epoch\":%llu}",
             (unsigned long long)m->epoch);
  } else {
    const mg_conv_opened *o = result;
    snprintf(h->seen_conv, sizeof(h->seen_conv), "%s", o->conversation_id);
    h->seen_welcome = o->welcome.len;
    h->seen_epoch = o->epoch;
    snprintf(body, sizeof(body), "{\"conversation_id\":\"%s\"}",
             o->conversation_id);
  }
  if (h->fail) {
    return MG_ERR_TAMPERED;
  }
  return mg_ks_idem_finish_txn(txn, "tok", "POST /x", h->key, 201,
                               "application/json", (const uint8_t *)body,
                               strlen(body));
}

/* idem_begin: mg_ks_idem_begin of |key| under the test's principal,
 * route and body hash; |idem| is the caller's to clean up. */
static int idem_begin(const char *key, mg_ks_idem *idem) {
  uint8_t hash[32];
  memset(hash, 7, sizeof(hash));
  memset(idem, 0, sizeof(*idem));
  return mg_ks_idem_begin(ks, "tok", "POST /x", key, hash, T0, 0, idem);
}

START_TEST(test_hooks_commit_with_operation) {
  device d, d2;
  uint8_t *kp = NULL;
  size_t kp_len = 0;
  mg_ks_idem idem;
  mg_conv_opened o;
  mg_committed m;
  mg_conv_info info;
  hook_arg h;
  mg_session_hook hook = {hook_in_txn, &h};
  make_identity("acme", 1);
  device_init(&d, 1);
  device_init(&d2, 1);
  ck_assert_int_eq(idem_begin("k1", &idem), MG_KS_IDEM_NEW);
  mg_ks_idem_cleanup(&idem);

  /* A failing hook: the operation fails with its error, nothing stored. */
  memset(&h, 0, sizeof(h));
  h.key = "k1";
  h.fail = 1;
  device_kp(&d, &kp, &kp_len);
  uint64_t a0 = audit_size();
  ck_assert_int_eq(mg_session_open_conversation_h(sess, &CTX, "acme", kp,
                                                  kp_len, "conv-h", &o, &hook),
                   MG_ERR_TAMPERED);
  ck_assert_int_eq(h.calls, 1);
  ck_assert_int_eq(mg_session_info(sess, "conv-h", &info), MG_ERR_NOT_FOUND);
  audit_list *l = audit_since(a0);
  ck_assert_uint_eq(audit_count(l, "conversation.open", "ok"), 0);
  free(l);
  ck_assert_int_eq(idem_begin("k1", &idem), MG_KS_IDEM_IN_PROGRESS);
  mg_ks_idem_cleanup(&idem);

  /* A succeeding hook saw the result; its write committed with the open. */
  memset(&h, 0, sizeof(h));
  h.key = "k1";
  ck_assert_int_eq(mg_session_open_conversation_h(sess, &CTX, "acme", kp,
                                                  kp_len, "conv-h", &o, &hook),
                   0);
  free(kp);
  ck_assert_int_ge(h.calls, 1);
  ck_assert_str_eq(h.seen_conv, "conv-h");
  ck_assert_uint_eq(h.seen_welcome, o.welcome.len);
  ck_assert_uint_eq(h.seen_epoch, o.epoch);
  device_join(&d, &o.welcome, &o.ratchet_tree);
  mg_conv_opened_cleanup(&o);
  ck_assert_int_eq(idem_begin("k1", &idem), MG_KS_IDEM_REPLAY);
  ck_assert_uint_eq(idem.status, 201);
  ck_assert_ptr_nonnull(memmem(idem.body, idem.body_len, "conv-h", 6));
  mg_ks_idem_cleanup(&idem);

  /* Commit: a failing hook leaves the epoch; a succeeding one stores the
   * answer with the new epoch. */
  ck_assert_int_eq(idem_begin("k2", &idem), MG_KS_IDEM_NEW);
  mg_ks_idem_cleanup(&idem);
  memset(&h, 0, sizeof(h));
  h.key = "k2";
  h.commit = 1;
  h.fail = 1;
  ck_assert_int_eq(mg_session_commit_update_h(sess, &CTX, "conv-h", &m, &hook),
                   MG_ERR_TAMPERED);
  ck_assert_int_eq(mg_session_info(sess, "conv-h", &info), 0);
  ck_assert_uint_eq(info.epoch, 1);
  mg_conv_info_cleanup(&info);
  h.fail = 0;
  ck_assert_int_eq(mg_session_commit_update_h(sess, &CTX, "conv-h", &m, &hook),
                   0);
  ck_assert_uint_eq(m.epoch, 2);
  ck_assert_uint_eq(h.seen_epoch, 2);
  ck_assert_uint_eq(h.seen_welcome, m.commit.len);
  mg_committed_cleanup(&m);
  ck_assert_int_eq(idem_begin("k2", &idem), MG_KS_IDEM_REPLAY);
  ck_assert_ptr_nonnull(memmem(idem.body, idem.body_len, "\"epoch\":2", 9));
  mg_ks_idem_cleanup(&idem);
  device_cleanup(&d);
  device_cleanup(&d2);
}
END_TEST

/* A tiny cache: conversations are evicted and reloaded as they are used;
 * every message still decrypts, no generation repeats. */
START_TEST(test_small_cache) {
  device d[3];
  mg_session_options o;
  make_identity("acme", 1);
  mg_session_free(sess);
  mg_session_options_default(&o);
  o.cache_max = 1;
  ck_assert_int_eq(mg_session_new(&sess, ks, &o), 0);
  for (int i = 0; i < 3; i++) {
    char conv[16];
    snprintf(conv, sizeof(conv), "conv-%d", i);
    device_init(&d[i], 1);
    open_with("acme", conv, &d[i]);
  }
  for (int k = 0; k < 4; k++) {
    for (int i = 0; i < 3; i++) {
      char conv[16];
      snprintf(conv, sizeof(conv), "conv-%d", i);
      send_to_device(conv, &d[i], "round robin");
    }
  }
  {
    mg_session_stats st;
    mg_session_get_stats(sess, &st);
    ck_assert_uint_le(st.cache_size, 1);
    ck_assert_uint_ge(st.cache_misses, 12);
  }
  for (int i = 0; i < 3; i++) {
    device_cleanup(&d[i]);
  }
}
END_TEST

/* ------------------------------------------------------ group commit */

/* Jobs given to one committer from many threads at once, some failing
 * after writing: each gets its own result, the failing ones leave
 * nothing (their audit entries are rolled back), the others commit, and
 * they share transactions. */
typedef struct gc_job {
  int id;
  int fail; /* return MG_ERR_CONFLICT after appending */
  int runs;
} gc_job;

static int gc_fn(mg_ks_txn *txn, void *arg) {
  gc_job *j = arg;
  mg_ks_audit a;
  char obj[32];
  j->runs++;
  snprintf(obj, sizeof(obj), "job-%d", j->id);
  memset(&a, 0, sizeof(a));
  a.action = j->fail ? "test.bad" : "test.good";
  a.object = obj;
  int rc = mg_ks_audit_append(ks, txn, &CTX, &a, NULL);
  if (rc < 0) {
    return rc;
  }
  return j->fail ? MG_ERR_CONFLICT : 0;
}

typedef struct gc_thread {
  sess_committer *c;
  pthread_barrier_t *bar;
  gc_job jobs[8];
  int rcs[8];
} gc_thread;

static void *gc_main(void *p) {
  gc_thread *t = p;
  pthread_barrier_wait(t->bar);
  for (int k = 0; k < 8; k++) {
    t->rcs[k] = sess_run(t->c, gc_fn, &t->jobs[k]);
  }
  return NULL;
}

START_TEST(test_group_commit_isolation) {
  sess_committer c;
  pthread_barrier_t bar;
  gc_thread th[16];
  pthread_t tid[16];
  uint64_t a0 = audit_size();
  mg_session_stats st;
  ck_assert_int_eq(sess_committer_start(&c, ks, 64), 0);
  ck_assert_int_eq(pthread_barrier_init(&bar, NULL, 16), 0);
  for (int t = 0; t < 16; t++) {
    th[t].c = &c;
    th[t].bar = &bar;
    for (int k = 0; k < 8; k++) {
      th[t].jobs[k].id = t * 8 + k;
      th[t].jobs[k].fail = (t * 8 + k) % 5 == 3;
      th[t].jobs[k].runs = 0;
    }
    ck_assert_int_eq(pthread_create(&tid[t], NULL, gc_main, &th[t]), 0);
  }
  for (int t = 0; t < 16; t++) {
    ck_assert_int_eq(pthread_join(tid[t], NULL), 0);
  }
  size_t good = 0;
  for (int t = 0; t < 16; t++) {
    for (int k = 0; k < 8; k++) {
      if (th[t].jobs[k].fail) {
        ck_assert_int_eq(th[t].rcs[k], MG_ERR_CONFLICT);
      } else {
        ck_assert_int_eq(th[t].rcs[k], 0);
        good++;
      }
    }
  }
  audit_list *l = audit_since(a0);
  ck_assert_uint_eq(l->n, good);
  ck_assert_uint_eq(audit_count(l, "test.good", "ok"), good);
  ck_assert_uint_eq(audit_count(l, "test.bad", NULL), 0);
  free(l);
  memset(&st, 0, sizeof(st));
  sess_committer_stats(&c, &st);
  ck_assert_uint_ge(st.txns, 1);
  sess_committer_stop(&c);
  pthread_barrier_destroy(&bar);
  /* A stopped committer refuses work; stopping twice is harmless. */
  ck_assert_int_eq(sess_run(&c, gc_fn, &th[0].jobs[0]), MG_ERR_INVALID_ARG);
  sess_committer_stop(&c);
  fprintf(stderr, "check_session: 128 jobs (%zu failing) in %llu "
                  "transactions\n",
          128 - good, (unsigned long long)st.txns);
}
END_TEST

/* Leader path: a job submitted while no batch runs is run by the
 * submitting thread itself (no hand-over to the committer thread), in its
 * own transaction, with its own result; the committer still works after
 * it (jobs queued behind a leader). */
typedef struct leader_job {
  pthread_t ran_on;
  int fail;
} leader_job;

static int leader_fn(mg_ks_txn *txn, void *arg) {
  leader_job *j = arg;
  mg_ks_audit a;
  j->ran_on = pthread_self();
  memset(&a, 0, sizeof(a));
  a.action = "test.leader";
  a.object = "leader";
  int rc = mg_ks_audit_append(ks, txn, &CTX, &a, NULL);
  if (rc < 0) {
    return rc;
  }
  return j->fail ? MG_ERR_CONFLICT : 0;
}

START_TEST(test_group_commit_leader) {
  sess_committer c;
  mg_session_stats st;
  leader_job j;
  uint64_t a0 = audit_size();
  ck_assert_int_eq(sess_committer_start(&c, ks, 8), 0);
  memset(&j, 0, sizeof(j));
  ck_assert_int_eq(sess_run(&c, leader_fn, &j), 0);
  ck_assert(pthread_equal(j.ran_on, pthread_self()));
  j.fail = 1;
  ck_assert_int_eq(sess_run(&c, leader_fn, &j), MG_ERR_CONFLICT);
  ck_assert(pthread_equal(j.ran_on, pthread_self()));
  memset(&st, 0, sizeof(st));
  sess_committer_stats(&c, &st);
  ck_assert_uint_eq(st.txns, 2);
  ck_assert_uint_eq(st.txn_ops, 2);
  audit_list *l = audit_since(a0);
  ck_assert_uint_eq(l->n, 1); /* the failing job's entry rolled back */
  ck_assert_uint_eq(audit_count(l, "test.leader", "ok"), 1);
  free(l);
  sess_committer_stop(&c);
  ck_assert_int_eq(sess_run(&c, leader_fn, &j), MG_ERR_INVALID_ARG);
}
END_TEST

/* 140 threads load 140 conversations at once after a restart (more
 * threads than LMDB's 126 reader slots, although on this machine their
 * short read transactions rarely overlap that much): every load
 * succeeds. */
#define NREADERS 140

typedef struct reader_arg {
  pthread_barrier_t *bar;
  int i;
  int rc;
} reader_arg;

static void *reader_main(void *p) {
  reader_arg *a = p;
  char conv[32];
  mg_conv_info info;
  snprintf(conv, sizeof(conv), "conv-%d", a->i);
  pthread_barrier_wait(a->bar);
  a->rc = mg_session_info(sess, conv, &info);
  if (a->rc == 0) {
    mg_conv_info_cleanup(&info);
  }
  return NULL;
}

START_TEST(test_many_readers) {
  pthread_t th[NREADERS];
  reader_arg ra[NREADERS];
  pthread_barrier_t bar;
  make_identity("acme", 1);
  for (int i = 0; i < NREADERS; i++) {
    char conv[32];
    device d;
    uint8_t *kp = NULL;
    size_t kp_len = 0;
    mg_conv_opened o;
    snprintf(conv, sizeof(conv), "conv-%d", i);
    device_init(&d, 1);
    device_kp(&d, &kp, &kp_len);
    ck_assert_int_eq(mg_session_open_conversation(sess, &CTX, "acme", kp,
                                                  kp_len, conv, &o),
                     0);
    mg_conv_opened_cleanup(&o);
    free(kp);
    device_cleanup(&d);
  }
  mg_session_free(sess);
  new_session(MG_SESSION_DEFAULT_LEASE_BLOCK);
  ck_assert_int_eq(pthread_barrier_init(&bar, NULL, NREADERS), 0);
  for (int i = 0; i < NREADERS; i++) {
    ra[i].bar = &bar;
    ra[i].i = i;
    ra[i].rc = 1;
    ck_assert_int_eq(pthread_create(&th[i], NULL, reader_main, &ra[i]), 0);
  }
  for (int i = 0; i < NREADERS; i++) {
    ck_assert_int_eq(pthread_join(th[i], NULL), 0);
    ck_assert_int_eq(ra[i].rc, 0);
  }
  pthread_barrier_destroy(&bar);
}
END_TEST

START_TEST(test_args) {
  mg_session *s2 = NULL;
  mg_session_options o;
  mg_session_options_default(&o);
  ck_assert_uint_eq(o.lease_block, 64);
  ck_assert_int_eq(mg_session_new(NULL, ks, &o), MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mg_session_new(&s2, NULL, &o), MG_ERR_INVALID_ARG);
  o.lease_block = MG_SESSION_MAX_LEASE_BLOCK + 1;
  ck_assert_int_eq(mg_session_new(&s2, ks, &o), MG_ERR_INVALID_ARG);
  o.lease_block = 0;
  ck_assert_int_eq(mg_session_new(&s2, ks, &o), MG_ERR_INVALID_ARG);
  ck_assert_ptr_null(s2);
  mg_session_free(NULL);
  {
    mg_encrypted e;
    ck_assert_int_eq(mg_session_encrypt(sess, NULL, "c", (const uint8_t *)"x",
                                        1, NULL, 0, &e),
                     MG_ERR_INVALID_ARG);
  }
}
END_TEST

int main(void) {
  SRunner *sr;
  Suite *s = suite_create("session");
  TCase *tc = tcase_create("session");
  int n = quick() ? 2 : MLS_SUITE_MAX;
  tcase_set_timeout(tc, 600);
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_args);
  tcase_add_test(tc, test_group_commit_isolation);
  tcase_add_test(tc, test_group_commit_leader);
  tcase_add_loop_test(tc, test_lifecycle, 0, n);
  tcase_add_loop_test(tc, test_join, 0, n);
  tcase_add_loop_test(tc, test_errors_change_nothing, 0, quick() ? 1 : n);
  tcase_add_test(tc, test_proposal_and_removal);
  tcase_add_test(tc, test_two_sessions);
  tcase_add_test(tc, test_reload_skips_lease);
  tcase_add_test(tc, test_generations_exhausted);
  tcase_add_loop_test(tc, test_concurrent_encrypt, 0, 2);
  tcase_add_test(tc, test_encrypt_async_refused);
  tcase_add_test(tc, test_hooks_commit_with_operation);
  tcase_add_test(tc, test_small_cache);
  if (!quick()) {
    tcase_add_test(tc, test_many_readers);
  }
  suite_add_tcase(s, tc);
  sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
