/*
 * Tests for the group engine (src/mls/group.h) between our own clients, for
 * every suite: create, add with Welcome (tree in the Welcome or out of
 * band), join, application messages both ways, path and pathless commits
 * as PublicMessage and PrivateMessage, proposals by reference (Update, Add,
 * Remove), external and resumption PSKs, GroupContextExtensions, ReInit,
 * removal, late and out-of-order messages with retained past epochs, state
 * serialization round trips, adversarial commits mutated field by field
 * (each rejected with its own error and the state byte-for-byte unchanged),
 * and a randomized history of hundreds of epochs.
 *
 * White-box where an attack needs a valid signature or MAC around a bad
 * field: the test re-signs and re-tags with the committer's keys through
 * group_int.h.
 */
#include "config.h"

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/codec.h"
#include "common/hex.h"
#include "common/secmem.h"
#include "crypto/crypto.h"
#include "crypto/suite.h"
#include "mls/constants.h"
#include "mls/framing.h"
#include "mls/group.h"
#include "mls/group_commit_int.h"
#include "mls/group_int.h"
#include "mls/keypackage.h"
#include "mls/msg_framing.h"
#include "mlsgate/err.h"

#define NOW ((uint64_t)1800000000)
#define MAX_CLIENTS 24

typedef struct client {
  const mls_suite *suite;
  char name[16];
  mls_key_package kp;
  mls_key_package_priv kpp;
  int has_kp;
  uint8_t sig_priv[MG_MAX_SIG_PRIV_LEN];
  size_t sig_priv_len;
  mls_group *g;
} client;

static void client_init(client *c, const mls_suite *s, const char *name) {
  memset(c, 0, sizeof(*c));
  c->suite = s;
  snprintf(c->name, sizeof(c->name), "%s", name);
}

static void client_cleanup(client *c) {
  if (c->has_kp) {
    mls_key_package_cleanup(&c->kp);
  }
  mls_key_package_priv_cleanup(&c->kpp);
  mls_group_free(c->g);
  mg_memzero(c, sizeof(*c));
}

/* A fresh KeyPackage for |c| (its signature key kept across calls). */
static void client_kp(client *c) {
  mls_key_package_params kp;
  if (c->has_kp) {
    mls_key_package_cleanup(&c->kp);
    mls_key_package_priv_cleanup(&c->kpp);
    c->has_kp = 0;
  }
  memset(&kp, 0, sizeof(kp));
  kp.cipher_suite = c->suite->id;
  kp.identity = (const uint8_t *)c->name;
  kp.identity_len = strlen(c->name);
  kp.sig_priv = c->sig_priv_len ? c->sig_priv : NULL;
  kp.sig_priv_len = c->sig_priv_len;
  kp.now = NOW - 10;
  ck_assert_int_eq(mls_key_package_generate(&c->kp, &c->kpp, NULL, NULL, 0,
                                            NULL, &kp),
                   0);
  c->has_kp = 1;
  memcpy(c->sig_priv, c->kpp.sig_priv, c->kpp.sig_priv_len);
  c->sig_priv_len = c->kpp.sig_priv_len;
}

static void client_create(client *c) {
  mls_group_create_params p;
  client_kp(c);
  memset(&p, 0, sizeof(p));
  p.key_package = &c->kp;
  p.priv = &c->kpp;
  ck_assert_int_eq(mls_group_create(&c->g, c->suite, &p), 0);
  ck_assert_uint_eq(mls_group_epoch(c->g), 0);
}

/* External PSKs known to every client of a test. */
typedef struct psk_store {
  size_t n;
  uint8_t id[8][16];
  uint8_t psk[8][32];
} psk_store;

static int psk_lookup(void *arg, const mls_psk_id *id, mls_bytes *out) {
  const psk_store *ps = arg;
  if (ps == NULL || id->psktype != MLS_PSK_EXTERNAL) {
    return MG_ERR_PSK;
  }
  for (size_t i = 0; i < ps->n; i++) {
    if (id->psk_id.len == 16 && memcmp(id->psk_id.data, ps->id[i], 16) == 0) {
      return mls_bytes_dup(out, ps->psk[i], 32);
    }
  }
  return MG_ERR_PSK;
}

static mls_process_params pparams(psk_store *ps) {
  mls_process_params p;
  memset(&p, 0, sizeof(p));
  p.psk_lookup = psk_lookup;
  p.psk_arg = ps;
  p.now = NOW;
  return p;
}

static void join(client *c, const mls_bytes *welcome, const mls_bytes *tree,
                 psk_store *ps) {
  mls_message wm;
  mls_join_params jp;
  memset(&wm, 0, sizeof(wm));
  ck_assert_int_eq(mls_message_decode_bytes(welcome->data, welcome->len, &wm),
                   0);
  memset(&jp, 0, sizeof(jp));
  jp.welcome = &wm.welcome;
  jp.key_package = &c->kp;
  jp.init_priv = mg_hpke_key_priv(&c->kpp.init_key);
  jp.init_priv_len = c->suite->kem->priv_len;
  jp.enc_priv = mg_hpke_key_priv(&c->kpp.encryption_key);
  jp.enc_priv_len = c->suite->kem->priv_len;
  jp.sig_priv = c->kpp.sig_priv;
  jp.sig_priv_len = c->kpp.sig_priv_len;
  if (tree != NULL) {
    jp.ratchet_tree = tree->data;
    jp.ratchet_tree_len = tree->len;
  }
  jp.psk_lookup = psk_lookup;
  jp.psk_arg = ps;
  jp.now = NOW;
  mls_group_free(c->g);
  c->g = NULL;
  ck_assert_int_eq(mls_group_join(&c->g, c->suite, &jp), 0);
  mls_message_cleanup(&wm);
}

/* |c| processes |msg|; a Commit moves it to the next epoch. */
static int process(client *c, const mls_bytes *msg, psk_store *ps,
                   mls_processed *keep) {
  mls_process_params pp = pparams(ps);
  mls_processed r;
  int rc = mls_group_process(c->g, msg->data, msg->len, &pp, &r);
  if (rc < 0) {
    return rc;
  }
  if (r.content_type == MLS_CONTENT_COMMIT) {
    if (r.removed) {
      ck_assert_ptr_null(r.next);
      mls_group_free(c->g);
      c->g = NULL;
    } else {
      ck_assert_ptr_nonnull(r.next);
      mls_group_free(c->g);
      c->g = r.next;
      r.next = NULL;
    }
  }
  if (keep != NULL) {
    *keep = r;
  } else {
    mls_processed_cleanup(&r);
  }
  return 0;
}

static void ea_of(const mls_group *g, uint8_t *ea, size_t *len) {
  ck_assert_int_eq(mls_group_epoch_authenticator(g, ea, MG_MAX_HASH_LEN, len),
                   0);
}

/* Every client with a group is in the same epoch with the same epoch
 * authenticator and exporter output. */
static void assert_synced(client *cs, size_t n) {
  uint8_t ea0[MG_MAX_HASH_LEN], ea[MG_MAX_HASH_LEN];
  uint8_t x0[32], x[32];
  size_t l0 = 0, l = 0;
  const mls_group *first = NULL;
  for (size_t i = 0; i < n; i++) {
    if (cs[i].g == NULL) {
      continue;
    }
    if (first == NULL) {
      first = cs[i].g;
      ea_of(first, ea0, &l0);
      ck_assert_int_eq(mls_group_export(first, x0, sizeof(x0), "test", NULL, 0), 0);
      continue;
    }
    ck_assert_uint_eq(mls_group_epoch(cs[i].g), mls_group_epoch(first));
    ea_of(cs[i].g, ea, &l);
    ck_assert_mem_eq(ea, ea0, l0);
    ck_assert_int_eq(mls_group_export(cs[i].g, x, sizeof(x), "test", NULL, 0), 0);
    ck_assert_mem_eq(x, x0, sizeof(x));
    ck_assert_uint_eq(mls_group_member_count(cs[i].g),
                      mls_group_member_count(first));
  }
}

/* |from| protects |text|; every other client with a group decrypts it. */
static void app_roundtrip(client *cs, size_t n, size_t from, const char *text) {
  mls_bytes m = {0};
  uint32_t gen = 0;
  ck_assert_int_eq(mls_group_protect(cs[from].g, (const uint8_t *)text,
                                     strlen(text), NULL, 0, 0, &m, &gen),
                   0);
  for (size_t i = 0; i < n; i++) {
    if (i == from || cs[i].g == NULL) {
      continue;
    }
    mls_processed r;
    ck_assert_int_eq(process(&cs[i], &m, NULL, &r), 0);
    ck_assert_uint_eq(r.content_type, MLS_CONTENT_APPLICATION);
    ck_assert_uint_eq(r.sender.leaf_index, mls_group_self(cs[from].g).v);
    ck_assert_uint_eq(r.generation, gen);
    ck_assert_uint_eq(r.application_data.len, strlen(text));
    ck_assert_mem_eq(r.application_data.data, text, strlen(text));
    mls_processed_cleanup(&r);
    /* A replay is refused: the key is gone. */
    ck_assert_int_eq(process(&cs[i], &m, NULL, NULL), MG_ERR_GENERATION);
  }
  mls_bytes_cleanup(&m);
}

/* The encoded state of |g|, for before/after comparisons. */
static mls_bytes state_of(const mls_group *g) {
  mg_writer w;
  mls_bytes b = {0};
  mg_writer_zero(&w);
  ck_assert_int_eq(mg_writer_init(&w, 4096, 0), 0);
  ck_assert_int_eq(mls_group_encode(&w, g), 0);
  ck_assert_int_eq(mls_bytes_dup(&b, mg_writer_data(&w), mg_writer_len(&w)),
                   0);
  mg_writer_cleanup(&w);
  return b;
}

/* |committer| commits with |p| (as given) and every other client with a
 * group processes it; new members join from the Welcome. */
static void commit_all(client *cs, size_t n, size_t committer,
                       mls_commit_params *p, client **joiners,
                       size_t n_join, psk_store *ps) {
  mls_commit_result res;
  p->now = NOW;
  p->psk_lookup = psk_lookup;
  p->psk_arg = ps;
  ck_assert_int_eq(mls_group_commit(cs[committer].g, p, &res), 0);
  for (size_t i = 0; i < n; i++) {
    if (i == committer || cs[i].g == NULL) {
      continue;
    }
    int rc = process(&cs[i], &res.commit, ps, NULL);
    ck_assert_msg(rc == 0, "%s: processing the commit: %s", cs[i].name,
                  mg_err_name(rc));
  }
  mls_group_free(cs[committer].g);
  cs[committer].g = res.next;
  res.next = NULL;
  ck_assert_uint_eq(res.num_added, n_join);
  for (size_t j = 0; j < n_join; j++) {
    join(joiners[j], &res.welcome,
         p->ratchet_tree_in_welcome ? NULL : &res.ratchet_tree, ps);
    ck_assert_uint_eq(mls_group_self(joiners[j]->g).v, res.added_leaves[j]);
  }
  mls_commit_result_cleanup(&res);
}

static const mls_suite *suite_of(int i) {
  const mls_suite *s = mls_suite_by_id((uint16_t)(i + 1));
  ck_assert_ptr_nonnull(s);
  ck_assert_int_eq(mg_crypto_init(), 0);
  return s;
}

/* ------------------------------------------------------- lifecycle */

START_TEST(test_lifecycle) {
  const mls_suite *s = suite_of(_i);
  client cs[4];
  const char *names[] = {"alice", "bob", "carol", "dave"};
  for (int i = 0; i < 4; i++) {
    client_init(&cs[i], s, names[i]);
  }
  client_create(&cs[0]);
  /* Add bob and carol, the tree in the Welcome. */
  client_kp(&cs[1]);
  client_kp(&cs[2]);
  {
    mls_key_package kps[2] = {cs[1].kp, cs[2].kp};
    client *j[2] = {&cs[1], &cs[2]};
    mls_commit_params p;
    memset(&p, 0, sizeof(p));
    p.adds = kps;
    p.num_adds = 2;
    p.ratchet_tree_in_welcome = 1;
    commit_all(cs, 4, 0, &p, j, 2, NULL);
  }
  assert_synced(cs, 4);
  ck_assert_uint_eq(mls_group_epoch(cs[0].g), 1);
  ck_assert_uint_eq(mls_group_member_count(cs[0].g), 3);
  app_roundtrip(cs, 4, 0, "hello from alice");
  app_roundtrip(cs, 4, 1, "hello from bob");

  /* bob: an empty path commit as a PrivateMessage. */
  {
    mls_commit_params p;
    memset(&p, 0, sizeof(p));
    p.encrypt = 1;
    commit_all(cs, 4, 1, &p, NULL, 0, NULL);
  }
  assert_synced(cs, 4);
  app_roundtrip(cs, 4, 2, "carol in epoch 2");

  /* A late message: alice sends in epoch 2, carol commits, bob reads the
   * message in epoch 3 (retained past epoch). */
  mls_bytes late = {0};
  ck_assert_int_eq(mls_group_protect(cs[0].g, (const uint8_t *)"late", 4, NULL,
                                     0, 0, &late, NULL),
                   0);
  {
    mls_commit_params p;
    memset(&p, 0, sizeof(p));
    p.force_path = 1;
    commit_all(cs, 4, 2, &p, NULL, 0, NULL);
  }
  {
    mls_processed r;
    ck_assert_int_eq(process(&cs[1], &late, NULL, &r), 0);
    ck_assert_uint_eq(r.epoch, 2);
    ck_assert_uint_eq(r.application_data.len, 4);
    ck_assert_mem_eq(r.application_data.data, "late", 4);
    mls_processed_cleanup(&r);
    ck_assert_int_eq(process(&cs[1], &late, NULL, NULL), MG_ERR_GENERATION);
  }

  /* alice removes carol (path, PublicMessage) and adds dave (tree out of
   * band) in one commit; carol sees her removal. */
  client_kp(&cs[3]);
  {
    mls_key_package kps[1] = {cs[3].kp};
    client *j[1] = {&cs[3]};
    uint32_t rm = mls_group_self(cs[2].g).v;
    mls_commit_params p;
    memset(&p, 0, sizeof(p));
    p.adds = kps;
    p.num_adds = 1;
    p.removes = &rm;
    p.num_removes = 1;
    commit_all(cs, 4, 0, &p, j, 1, NULL);
  }
  ck_assert_ptr_null(cs[2].g);
  assert_synced(cs, 4);
  ck_assert_uint_eq(mls_group_member_count(cs[0].g), 3);
  app_roundtrip(cs, 4, 3, "dave says hi");
  /* After more epochs than are retained, the late message's epoch is gone. */
  for (int k = 0; k < 3; k++) {
    mls_commit_params p;
    memset(&p, 0, sizeof(p));
    commit_all(cs, 4, (size_t)(k % 2), &p, NULL, 0, NULL);
  }
  ck_assert_int_eq(process(&cs[1], &late, NULL, NULL), MG_ERR_EPOCH);
  assert_synced(cs, 4);
  mls_bytes_cleanup(&late);
  for (int i = 0; i < 4; i++) {
    client_cleanup(&cs[i]);
  }
}
END_TEST

/* Sets up alice (creator), bob and carol in epoch 1. */
static void three(client *cs, const mls_suite *s) {
  const char *names[] = {"alice", "bob", "carol", "dave"};
  for (int i = 0; i < 4; i++) {
    client_init(&cs[i], s, names[i]);
  }
  client_create(&cs[0]);
  client_kp(&cs[1]);
  client_kp(&cs[2]);
  mls_key_package kps[2] = {cs[1].kp, cs[2].kp};
  client *j[2] = {&cs[1], &cs[2]};
  mls_commit_params p;
  memset(&p, 0, sizeof(p));
  p.adds = kps;
  p.num_adds = 2;
  commit_all(cs, 4, 0, &p, j, 2, NULL);
}

/* Everybody but |from| processes |msg|. */
static void all_process(client *cs, size_t n, size_t from,
                        const mls_bytes *msg, psk_store *ps) {
  for (size_t i = 0; i < n; i++) {
    if (i != from && cs[i].g != NULL) {
      int rc = process(&cs[i], msg, ps, NULL);
      ck_assert_msg(rc == 0, "%s: %s", cs[i].name, mg_err_name(rc));
    }
  }
}

START_TEST(test_proposals_by_reference) {
  const mls_suite *s = suite_of(_i);
  client cs[4];
  three(cs, s);
  mls_bytes m = {0};
  mls_proposal prop;

  /* bob proposes an Update (PrivateMessage), carol a Remove of nobody
   * valid is refused at creation, alice commits bob's Update. */
  memset(&prop, 0, sizeof(prop));
  prop.proposal_type = MLS_PROPOSAL_UPDATE;
  ck_assert_int_eq(mls_group_propose(cs[1].g, &prop, 1, NOW, &m), 0);
  all_process(cs, 4, 1, &m, NULL);
  mls_bytes_cleanup(&m);
  ck_assert_uint_eq(mls_group_pending_count(cs[0].g), 1);
  memset(&prop, 0, sizeof(prop));
  prop.proposal_type = MLS_PROPOSAL_REMOVE;
  prop.remove.removed = 7;
  ck_assert_int_eq(mls_group_propose(cs[2].g, &prop, 0, NOW, &m),
                   MG_ERR_PROPOSAL);
  /* carol proposes adding dave (PublicMessage). */
  client_kp(&cs[3]);
  memset(&prop, 0, sizeof(prop));
  prop.proposal_type = MLS_PROPOSAL_ADD;
  prop.add.key_package = cs[3].kp;
  ck_assert_int_eq(mls_group_propose(cs[2].g, &prop, 0, NOW, &m), 0);
  all_process(cs, 4, 2, &m, NULL);
  /* The same PublicMessage proposal twice is refused, nothing changes. */
  {
    mls_bytes before = state_of(cs[0].g);
    ck_assert_int_eq(process(&cs[0], &m, NULL, NULL), MG_ERR_PROPOSAL);
    mls_bytes after = state_of(cs[0].g);
    ck_assert_uint_eq(before.len, after.len);
    ck_assert_mem_eq(before.data, after.data, before.len);
    mls_bytes_cleanup_secret(&before);
    mls_bytes_cleanup_secret(&after);
  }
  mls_bytes_cleanup(&m);
  {
    client *j[1] = {&cs[3]};
    mls_commit_params p;
    memset(&p, 0, sizeof(p));
    p.include_pending = 1;
    commit_all(cs, 4, 0, &p, j, 1, NULL);
  }
  assert_synced(cs, 4);
  ck_assert_uint_eq(mls_group_pending_count(cs[1].g), 0);
  /* bob's leaf now has the key he proposed: a path commit by dave must
   * reach bob through it. */
  {
    mls_commit_params p;
    memset(&p, 0, sizeof(p));
    commit_all(cs, 4, 3, &p, NULL, 0, NULL);
  }
  assert_synced(cs, 4);
  app_roundtrip(cs, 4, 1, "bob after his update");

  /* A Remove by reference: dave proposes removing carol, bob commits. */
  memset(&prop, 0, sizeof(prop));
  prop.proposal_type = MLS_PROPOSAL_REMOVE;
  prop.remove.removed = mls_group_self(cs[2].g).v;
  ck_assert_int_eq(mls_group_propose(cs[3].g, &prop, 1, NOW, &m), 0);
  all_process(cs, 4, 3, &m, NULL);
  /* The same PrivateMessage twice: its key is gone. */
  ck_assert_int_eq(process(&cs[0], &m, NULL, NULL), MG_ERR_GENERATION);
  mls_bytes_cleanup(&m);
  {
    mls_commit_params p;
    memset(&p, 0, sizeof(p));
    p.include_pending = 1;
    p.encrypt = 1;
    commit_all(cs, 4, 1, &p, NULL, 0, NULL);
  }
  ck_assert_ptr_null(cs[2].g);
  assert_synced(cs, 4);
  for (int i = 0; i < 4; i++) {
    client_cleanup(&cs[i]);
  }
}
END_TEST

START_TEST(test_psk_gce_reinit) {
  const mls_suite *s = suite_of(_i);
  client cs[4];
  psk_store ps;
  memset(&ps, 0, sizeof(ps));
  ps.n = 1;
  memset(ps.id[0], 0x42, 16);
  memset(ps.psk[0], 0x17, 32);
  three(cs, s);
  size_t nh = s->kdf->nh;

  /* An external PSK by value. */
  mls_psk_id id;
  memset(&id, 0, sizeof(id));
  id.psktype = MLS_PSK_EXTERNAL;
  id.psk_id.data = ps.id[0];
  id.psk_id.len = 16;
  {
    mls_commit_params p;
    memset(&p, 0, sizeof(p));
    p.psks = &id;
    p.num_psks = 1;
    commit_all(cs, 4, 1, &p, NULL, 0, &ps);
  }
  assert_synced(cs, 4);
  /* Unknown to a receiver: refused, nothing changes. */
  {
    mls_commit_result res;
    mls_commit_params p;
    memset(&p, 0, sizeof(p));
    p.psks = &id;
    p.num_psks = 1;
    p.psk_lookup = psk_lookup;
    p.psk_arg = &ps;
    p.now = NOW;
    ck_assert_int_eq(mls_group_commit(cs[0].g, &p, &res), 0);
    mls_bytes before = state_of(cs[2].g);
    mls_process_params pp = pparams(NULL);
    mls_processed r;
    ck_assert_int_eq(mls_group_process(cs[2].g, res.commit.data,
                                       res.commit.len, &pp, &r),
                     MG_ERR_PSK);
    mls_bytes after = state_of(cs[2].g);
    ck_assert_uint_eq(before.len, after.len);
    ck_assert_mem_eq(before.data, after.data, before.len);
    mls_bytes_cleanup_secret(&before);
    mls_bytes_cleanup_secret(&after);
    mls_commit_result_cleanup(&res);
  }
  /* A resumption PSK of epoch 1, as a proposal by reference. */
  {
    mls_proposal prop;
    mls_bytes m = {0};
    memset(&prop, 0, sizeof(prop));
    prop.proposal_type = MLS_PROPOSAL_PSK;
    prop.psk.psk.psktype = MLS_PSK_RESUMPTION;
    prop.psk.psk.usage = MLS_RESUMPTION_APPLICATION;
    prop.psk.psk.psk_group_id = mls_group_get0_context(cs[0].g)->group_id;
    prop.psk.psk.psk_epoch = 1;
    ck_assert_int_eq(mls_group_propose(cs[2].g, &prop, 0, NOW, &m), 0);
    all_process(cs, 4, 2, &m, &ps);
    mls_bytes_cleanup(&m);
    mls_commit_params p;
    memset(&p, 0, sizeof(p));
    p.include_pending = 1;
    commit_all(cs, 4, 0, &p, NULL, 0, &ps);
    assert_synced(cs, 4);
    /* Our resumption PSK of epoch 1 is still known. */
    uint8_t r1[MG_MAX_HASH_LEN];
    size_t r1_len = 0;
    ck_assert_int_eq(mls_group_resumption_psk(cs[0].g, 1, r1, sizeof(r1),
                                              &r1_len),
                     0);
    ck_assert_uint_eq(r1_len, nh);
  }
  /* A resumption PSK with usage reinit is invalid outside a ReInit. */
  {
    mls_proposal prop;
    mls_bytes m = {0};
    memset(&prop, 0, sizeof(prop));
    prop.proposal_type = MLS_PROPOSAL_PSK;
    prop.psk.psk.psktype = MLS_PSK_RESUMPTION;
    prop.psk.psk.usage = MLS_RESUMPTION_REINIT;
    prop.psk.psk.psk_group_id = mls_group_get0_context(cs[0].g)->group_id;
    prop.psk.psk.psk_epoch = 1;
    ck_assert_int_eq(mls_group_propose(cs[2].g, &prop, 0, NOW, &m),
                     MG_ERR_PSK);
  }
  /* GroupContextExtensions: an application_id every member supports (the
   * default types 1..5 are implied); then one nobody supports. */
  {
    mls_extension_list el;
    memset(&el, 0, sizeof(el));
    /* external_senders with an empty list. */
    static const uint8_t empty_vec[1] = {0};
    ck_assert_int_eq(mls_extension_list_add(&el, MLS_EXT_EXTERNAL_SENDERS,
                                            empty_vec, 1),
                     0);
    mls_commit_params p;
    memset(&p, 0, sizeof(p));
    p.gce = &el;
    commit_all(cs, 4, 2, &p, NULL, 0, &ps);
    assert_synced(cs, 4);
    ck_assert_ptr_nonnull(mls_extension_list_find(
        &mls_group_get0_context(cs[0].g)->extensions, MLS_EXT_EXTERNAL_SENDERS));
    mls_extension_list_cleanup(&el);
    ck_assert_int_eq(mls_extension_list_add(&el, 0xff01, empty_vec, 0), 0);
    mls_commit_result res;
    memset(&p, 0, sizeof(p));
    p.gce = &el;
    p.now = NOW;
    ck_assert_int_eq(mls_group_commit(cs[2].g, &p, &res), MG_ERR_CAPABILITIES);
    mls_extension_list_cleanup(&el);
  }
  /* ReInit: alone in its commit; afterwards nobody may send. */
  {
    mls_reinit ri;
    uint8_t new_gid[9];
    memcpy(new_gid, "new-group", 9);
    memset(&ri, 0, sizeof(ri));
    ri.group_id.data = new_gid;
    ri.group_id.len = 9;
    ri.version = MLS_VERSION_MLS10;
    ri.cipher_suite = s->id;
    mls_commit_params p;
    memset(&p, 0, sizeof(p));
    p.reinit = &ri;
    uint32_t rm = 2;
    p.removes = &rm;
    p.num_removes = 1;
    p.now = NOW;
    mls_commit_result res;
    ck_assert_int_eq(mls_group_commit(cs[0].g, &p, &res), MG_ERR_PROPOSAL);
    memset(&p, 0, sizeof(p));
    p.reinit = &ri;
    commit_all(cs, 4, 0, &p, NULL, 0, &ps);
    assert_synced(cs, 4);
    for (int i = 0; i < 3; i++) {
      const mls_reinit *got = mls_group_reinit(cs[i].g);
      ck_assert_ptr_nonnull(got);
      ck_assert_uint_eq(got->group_id.len, 9);
      mls_bytes m = {0};
      ck_assert_int_eq(mls_group_protect(cs[i].g, (const uint8_t *)"x", 1,
                                         NULL, 0, 0, &m, NULL),
                       MG_ERR_STATE);
      ck_assert_int_eq(mls_group_commit(cs[i].g, &p, &res), MG_ERR_STATE);
    }
  }
  for (int i = 0; i < 4; i++) {
    client_cleanup(&cs[i]);
  }
}
END_TEST

/* ------------------------------------------------------ out of order */

START_TEST(test_out_of_order) {
  const mls_suite *s = suite_of(_i);
  client cs[4];
  three(cs, s);
  mls_bytes m[6];
  uint32_t gen[6];
  for (int k = 0; k < 6; k++) {
    char t[8];
    snprintf(t, sizeof(t), "m%d", k);
    memset(&m[k], 0, sizeof(m[k]));
    ck_assert_int_eq(mls_group_protect(cs[0].g, (const uint8_t *)t, 2, NULL, 0,
                                       (size_t)k, &m[k], &gen[k]),
                     0);
    ck_assert_uint_eq(gen[k], (uint32_t)k);
  }
  int order[5] = {4, 1, 3, 0, 2};
  for (int k = 0; k < 5; k++) {
    mls_processed r;
    ck_assert_int_eq(process(&cs[1], &m[order[k]], NULL, &r), 0);
    ck_assert_uint_eq(r.generation, (uint32_t)order[k]);
    ck_assert_uint_eq(r.application_data.data[1], (uint8_t)('0' + order[k]));
    mls_processed_cleanup(&r);
  }
  ck_assert_int_eq(process(&cs[1], &m[1], NULL, NULL), MG_ERR_GENERATION);
  /* m5 arrives after the next commit. */
  {
    mls_commit_params p;
    memset(&p, 0, sizeof(p));
    commit_all(cs, 4, 2, &p, NULL, 0, NULL);
  }
  ck_assert_int_eq(process(&cs[1], &m[5], NULL, NULL), 0);
  ck_assert_int_eq(process(&cs[1], &m[5], NULL, NULL), MG_ERR_GENERATION);
  for (int k = 0; k < 6; k++) {
    mls_bytes_cleanup(&m[k]);
  }
  for (int i = 0; i < 4; i++) {
    client_cleanup(&cs[i]);
  }
}
END_TEST

/* --------------------------------------------------- serialization */

static void roundtrip_state(client *c) {
  mls_bytes a = state_of(c->g);
  mls_group *g2 = NULL;
  ck_assert_int_eq(mls_group_decode(&g2, a.data, a.len), 0);
  mls_bytes b = state_of(g2);
  ck_assert_uint_eq(a.len, b.len);
  ck_assert_mem_eq(a.data, b.data, a.len);
  /* Every strict prefix fails cleanly. */
  for (size_t cut = 0; cut < a.len; cut += (cut < 64 ? 1 : 97)) {
    mls_group *g3 = NULL;
    ck_assert_int_lt(mls_group_decode(&g3, a.data, cut), 0);
    ck_assert_ptr_null(g3);
  }
  mls_group_free(c->g);
  c->g = g2;
  mls_bytes_cleanup_secret(&a);
  mls_bytes_cleanup_secret(&b);
}

START_TEST(test_state_roundtrip) {
  const mls_suite *s = suite_of(_i);
  client cs[4];
  three(cs, s);
  mls_bytes late = {0}, m = {0};
  mls_proposal prop;
  /* Past epoch, pending proposal, retained keys: all in the state. */
  ck_assert_int_eq(mls_group_protect(cs[0].g, (const uint8_t *)"late", 4, NULL,
                                     0, 0, &late, NULL),
                   0);
  {
    mls_commit_params p;
    memset(&p, 0, sizeof(p));
    commit_all(cs, 4, 1, &p, NULL, 0, NULL);
  }
  memset(&prop, 0, sizeof(prop));
  prop.proposal_type = MLS_PROPOSAL_UPDATE;
  ck_assert_int_eq(mls_group_propose(cs[2].g, &prop, 0, NOW, &m), 0);
  all_process(cs, 4, 2, &m, NULL);
  mls_bytes_cleanup(&m);
  for (int i = 0; i < 3; i++) {
    roundtrip_state(&cs[i]);
  }
  /* The reloaded states keep working: the late message, the pending
   * Update committed by reference, new messages. */
  ck_assert_int_eq(process(&cs[2], &late, NULL, NULL), 0);
  {
    mls_commit_params p;
    memset(&p, 0, sizeof(p));
    p.include_pending = 1;
    commit_all(cs, 4, 0, &p, NULL, 0, NULL);
  }
  assert_synced(cs, 4);
  for (int i = 0; i < 3; i++) {
    roundtrip_state(&cs[i]);
  }
  app_roundtrip(cs, 4, 2, "after reload");
  /* Bad versions and magic. */
  {
    mls_bytes a = state_of(cs[0].g);
    mls_group *g3 = NULL;
    a.data[5] ^= 1; /* version */
    ck_assert_int_eq(mls_group_decode(&g3, a.data, a.len), MG_ERR_VERSION);
    a.data[5] ^= 1;
    a.data[0] ^= 1;
    ck_assert_int_eq(mls_group_decode(&g3, a.data, a.len), MG_ERR_DECODE);
    mls_bytes_cleanup_secret(&a);
  }
  mls_bytes_cleanup(&late);
  for (int i = 0; i < 4; i++) {
    client_cleanup(&cs[i]);
  }
}
END_TEST


/* ------------------------------------------------ persistent fixture */

/* tests/data/group_state_v1.json holds version-1 states of alice and bob
 * (suites 1 and 2) written by this program (MLSGATE_WRITE_FIXTURE=path)
 * when the format was introduced: a past epoch with a late message, a
 * pending Update of bob's, and the values both must still agree on.  Every
 * later version must keep loading them. */

static char *hex_of(const uint8_t *b, size_t n) {
  char *h = malloc(2 * n + 1);
  ck_assert_ptr_nonnull(h);
  mg_hex_encode(h, b, n);
  return h;
}

static void fixture_write(const char *path) {
  json_t *root = json_array();
  for (int si = 0; si < 2; si++) {
    const mls_suite *s = suite_of(si);
    client cs[4];
    three(cs, s);
    mls_bytes late = {0}, m = {0};
    ck_assert_int_eq(mls_group_protect(cs[1].g, (const uint8_t *)"late", 4,
                                       NULL, 0, 0, &late, NULL),
                     0);
    mls_commit_params p;
    memset(&p, 0, sizeof(p));
    commit_all(cs, 4, 0, &p, NULL, 0, NULL);
    mls_proposal prop;
    memset(&prop, 0, sizeof(prop));
    prop.proposal_type = MLS_PROPOSAL_UPDATE;
    ck_assert_int_eq(mls_group_propose(cs[1].g, &prop, 0, NOW, &m), 0);
    all_process(cs, 4, 1, &m, NULL);
    mls_bytes a = state_of(cs[0].g), b = state_of(cs[1].g);
    uint8_t ea[MG_MAX_HASH_LEN], x[32];
    size_t ea_len = 0;
    ea_of(cs[0].g, ea, &ea_len);
    ck_assert_int_eq(mls_group_export(cs[0].g, x, sizeof(x), "fixture", NULL,
                                      0), 0);
    json_t *o = json_object();
    char *h;
    json_object_set_new(o, "cipher_suite", json_integer(s->id));
    json_object_set_new(o, "epoch", json_integer((json_int_t)mls_group_epoch(cs[0].g)));
    json_object_set_new(o, "alice", json_string(h = hex_of(a.data, a.len)));
    free(h);
    json_object_set_new(o, "bob", json_string(h = hex_of(b.data, b.len)));
    free(h);
    json_object_set_new(o, "late_from_bob", json_string(h = hex_of(late.data, late.len)));
    free(h);
    json_object_set_new(o, "epoch_authenticator", json_string(h = hex_of(ea, ea_len)));
    free(h);
    json_object_set_new(o, "exporter_fixture_32", json_string(h = hex_of(x, 32)));
    free(h);
    json_array_append_new(root, o);
    mls_bytes_cleanup_secret(&a);
    mls_bytes_cleanup_secret(&b);
    mls_bytes_cleanup(&late);
    mls_bytes_cleanup(&m);
    for (int i = 0; i < 4; i++) {
      client_cleanup(&cs[i]);
    }
  }
  ck_assert_int_eq(json_dump_file(root, path, JSON_INDENT(1)), 0);
  json_decref(root);
}

START_TEST(test_write_fixture) {
  fixture_write(getenv("MLSGATE_WRITE_FIXTURE"));
}
END_TEST

static mls_group *fixture_state(const json_t *o, const char *key) {
  const char *h = json_string_value(json_object_get(o, key));
  uint8_t *b = NULL;
  size_t n = 0;
  mls_group *g = NULL;
  ck_assert_ptr_nonnull(h);
  ck_assert_int_eq(mg_hex_decode(&b, &n, h, strlen(h)), 0);
  ck_assert_int_eq(mls_group_decode(&g, b, n), 0);
  /* Re-encoding a loaded state gives the same bytes (while the version
   * is current; an upgrade would re-encode to the new version). */
  mls_bytes again = state_of(g);
  ck_assert_uint_eq(again.len, n);
  ck_assert_mem_eq(again.data, b, n);
  mls_bytes_cleanup_secret(&again);
  mg_free_secret(b, n);
  return g;
}

START_TEST(test_state_fixture_v1) {
  char path[4096];
  const char *src = getenv("top_srcdir");
  snprintf(path, sizeof(path), "%s/tests/data/group_state_v1.json",
           src != NULL ? src : ".");
  json_error_t err;
  json_t *root = json_load_file(path, 0, &err);
  ck_assert_msg(root != NULL, "%s: %s", path, err.text);
  ck_assert_uint_eq(json_array_size(root), 2);
  ck_assert_int_eq(mg_crypto_init(), 0);
  for (size_t k = 0; k < json_array_size(root); k++) {
    const json_t *o = json_array_get(root, k);
    const mls_suite *s =
        mls_suite_by_id((uint16_t)json_integer_value(json_object_get(o, "cipher_suite")));
    ck_assert_ptr_nonnull(s);
    client cs[2];
    client_init(&cs[0], s, "alice");
    client_init(&cs[1], s, "bob");
    cs[0].g = fixture_state(o, "alice");
    cs[1].g = fixture_state(o, "bob");
    ck_assert_uint_eq(mls_group_epoch(cs[0].g),
                      (uint64_t)json_integer_value(json_object_get(o, "epoch")));
    uint8_t ea[MG_MAX_HASH_LEN], x[32];
    size_t ea_len = 0;
    ea_of(cs[1].g, ea, &ea_len);
    char *h = hex_of(ea, ea_len);
    ck_assert_str_eq(h, json_string_value(json_object_get(o, "epoch_authenticator")));
    free(h);
    ck_assert_int_eq(mls_group_export(cs[1].g, x, sizeof(x), "fixture", NULL,
                                      0), 0);
    h = hex_of(x, 32);
    ck_assert_str_eq(h, json_string_value(json_object_get(o, "exporter_fixture_32")));
    free(h);
    /* The late message of the retained past epoch still decrypts. */
    {
      const char *lh = json_string_value(json_object_get(o, "late_from_bob"));
      mls_bytes late = {0};
      ck_assert_int_eq(mg_hex_decode(&late.data, &late.len, lh, strlen(lh)), 0);
      mls_processed r;
      ck_assert_int_eq(process(&cs[0], &late, NULL, &r), 0);
      ck_assert_mem_eq(r.application_data.data, "late", 4);
      mls_processed_cleanup(&r);
      mls_bytes_cleanup(&late);
    }
    /* The states keep working together: messages and a commit of bob's
     * pending Update by alice. */
    app_roundtrip(cs, 2, 0, "from the fixture");
    app_roundtrip(cs, 2, 1, "and back");
    {
      mls_commit_result res;
      mls_commit_params p;
      memset(&p, 0, sizeof(p));
      p.include_pending = 1;
      p.now = NOW;
      ck_assert_int_eq(mls_group_commit(cs[0].g, &p, &res), 0);
      ck_assert_int_eq(process(&cs[1], &res.commit, NULL, NULL), 0);
      mls_group_free(cs[0].g);
      cs[0].g = res.next;
      res.next = NULL;
      mls_commit_result_cleanup(&res);
    }
    /* carol (leaf 2) is still a member in both states but not here. */
    app_roundtrip(cs, 2, 1, "after the commit");
    ea_of(cs[0].g, ea, &ea_len);
    uint8_t ea2[MG_MAX_HASH_LEN];
    size_t ea2_len = 0;
    ea_of(cs[1].g, ea2, &ea2_len);
    ck_assert_mem_eq(ea, ea2, ea_len);
    client_cleanup(&cs[0]);
    client_cleanup(&cs[1]);
  }
  json_decref(root);
}
END_TEST

/* ------------------------------------------------------ adversarial */

/* Re-signs |pm|'s content with |sig_priv| and recomputes its membership
 * tag with the sender's epoch keys (the attacker is an insider or the
 * test). */
static void reseal(const mls_group *g, mls_public_message *pm,
                   const uint8_t *sig_priv, size_t sig_priv_len, int resign) {
  mls_authenticated_content ac;
  memset(&ac, 0, sizeof(ac));
  ac.wire_format = MLS_WIRE_PUBLIC_MESSAGE;
  ac.content = pm->content;
  ac.auth = pm->auth;
  if (resign) {
    ac.auth.signature.data = NULL;
    ac.auth.signature.len = 0;
    ck_assert_int_eq(mls_authenticated_content_sign(g->suite, &ac, &g->ctx,
                                                    sig_priv, sig_priv_len),
                     0);
    mls_bytes_cleanup(&pm->auth.signature);
    pm->auth.signature = ac.auth.signature;
  }
  uint8_t tag[MG_MAX_HASH_LEN];
  size_t tag_len = 0;
  ac.auth = pm->auth;
  ck_assert_int_eq(mls_membership_tag_compute(g->suite, tag, sizeof(tag),
                                              &tag_len, &ac, &g->ctx,
                                              g->ep->membership_key,
                                              g->ep->nh),
                   0);
  mls_bytes_cleanup(&pm->membership_tag);
  ck_assert_int_eq(mls_bytes_dup(&pm->membership_tag, tag, tag_len), 0);
}

typedef void (*mutate_fn)(mls_public_message *pm, const mls_group *sender,
                          client *cs);

/* Applies |fn| to a decoded copy of |msg| from |sender|, re-seals it (with
 * |resign|), and checks that |victim| rejects it with |want| and that its
 * state is byte for byte what it was. */
static void expect_reject(client *victim, const mls_bytes *msg,
                          const client *sender, mutate_fn fn, client *cs,
                          int resign, int want, const char *what) {
  mls_message m;
  memset(&m, 0, sizeof(m));
  ck_assert_int_eq(mls_message_decode_bytes(msg->data, msg->len, &m), 0);
  ck_assert_uint_eq(m.wire_format, MLS_WIRE_PUBLIC_MESSAGE);
  fn(&m.public_message, sender->g, cs);
  reseal(sender->g, &m.public_message, sender->sig_priv, sender->sig_priv_len,
         resign);
  uint8_t *buf = NULL;
  size_t blen = 0;
  ck_assert_int_eq(mls_message_serialize(&m, &buf, &blen), 0);
  mls_bytes before = state_of(victim->g);
  mls_process_params pp = pparams(NULL);
  mls_processed r;
  int rc = mls_group_process(victim->g, buf, blen, &pp, &r);
  ck_assert_msg(rc == want, "%s: got %s, want %s", what, mg_err_name(rc),
                mg_err_name(want));
  if (rc == 0) {
    mls_processed_cleanup(&r);
  }
  mls_bytes after = state_of(victim->g);
  ck_assert_uint_eq(before.len, after.len);
  ck_assert_mem_eq(before.data, after.data, before.len);
  mls_bytes_cleanup_secret(&before);
  mls_bytes_cleanup_secret(&after);
  free(buf);
  mls_message_cleanup(&m);
}

static void mut_epoch(mls_public_message *pm, const mls_group *g, client *cs) {
  (void)g;
  (void)cs;
  pm->content.epoch += 1;
}
static void mut_nothing(mls_public_message *pm, const mls_group *g,
                        client *cs) {
  (void)pm;
  (void)g;
  (void)cs;
}
static void mut_signature(mls_public_message *pm, const mls_group *g,
                          client *cs) {
  (void)g;
  (void)cs;
  pm->auth.signature.data[3] ^= 0x10;
}
static void mut_conf_tag(mls_public_message *pm, const mls_group *g,
                         client *cs) {
  (void)g;
  (void)cs;
  pm->auth.confirmation_tag.data[0] ^= 1;
}
static void mut_parent_hash(mls_public_message *pm, const mls_group *g,
                            client *cs) {
  (void)cs;
  mls_leaf_node *ln = &pm->content.commit.path.leaf_node;
  ck_assert(pm->content.commit.has_path && ln->parent_hash.len > 0);
  ln->parent_hash.data[0] ^= 1;
  /* A valid leaf signature over the wrong parent hash. */
  const client *c = NULL;
  for (int i = 0; i < 4; i++) {
    if (cs[i].g == g) {
      c = &cs[i];
    }
  }
  ck_assert_ptr_nonnull(c);
  ck_assert_int_eq(mls_leaf_node_sign(g->suite, ln, c->sig_priv,
                                      c->sig_priv_len, g->ctx.group_id.data,
                                      g->ctx.group_id.len, g->self.v),
                   0);
}
static void mut_path_key(mls_public_message *pm, const mls_group *g,
                         client *cs) {
  (void)g;
  (void)cs;
  ck_assert_uint_gt(pm->content.commit.path.num_nodes, 0);
  /* Another valid point: the next node's key (the path's keys no longer
   * match its secrets: parent hash or decryption fails). */
  mls_update_path *p = &pm->content.commit.path;
  mls_bytes t = p->nodes[0].encryption_key;
  p->nodes[0].encryption_key = p->leaf_node.encryption_key;
  p->leaf_node.encryption_key = t;
}
static void mut_dup_ref(mls_public_message *pm, const mls_group *g,
                        client *cs) {
  (void)g;
  (void)cs;
  mls_commit *c = &pm->content.commit;
  ck_assert_uint_eq(c->num_proposals, 1);
  mls_proposal_or_ref *n = calloc(2, sizeof(*n));
  ck_assert_ptr_nonnull(n);
  n[0] = c->proposals[0];
  n[1].type = n[0].type;
  ck_assert_int_eq(mls_bytes_copy(&n[1].reference, &n[0].reference), 0);
  free(c->proposals);
  c->proposals = n;
  c->num_proposals = 2;
}
static void mut_remove_blank(mls_public_message *pm, const mls_group *g,
                             client *cs) {
  (void)cs;
  mls_commit *c = &pm->content.commit;
  ck_assert_uint_eq(c->proposals[0].proposal.proposal_type,
                    MLS_PROPOSAL_REMOVE);
  c->proposals[0].proposal.remove.removed = g->tree.n_leaves + 5;
}
static void mut_add_duplicate(mls_public_message *pm, const mls_group *g,
                              client *cs) {
  (void)g;
  mls_commit *c = &pm->content.commit;
  ck_assert_uint_eq(c->proposals[0].proposal.proposal_type, MLS_PROPOSAL_ADD);
  /* bob's own (already used) KeyPackage: his signature key is in the
   * tree. */
  mls_key_package_cleanup(&c->proposals[0].proposal.add.key_package);
  ck_assert_int_eq(
      mls_key_package_copy(&c->proposals[0].proposal.add.key_package, &cs[1].kp),
      0);
}


/* A member's PrivateMessage proposal that decrypts and verifies but breaks
 * a §12.1 rule (Remove of a blank leaf, an Update with its current key) is
 * refused and the receiver's state, handshake ratchet included, is
 * unchanged. */
static void send_raw_proposal(client *from, const mls_proposal *prop,
                              int encrypt, mls_bytes *out) {
  mls_authenticated_content ac;
  ck_assert_int_eq(mls_group_content_init_(from->g, &ac, encrypt,
                                           MLS_CONTENT_PROPOSAL, NULL, 0),
                   0);
  ck_assert_int_eq(mls_proposal_copy_(&ac.content.proposal, prop), 0);
  ck_assert_int_eq(mls_authenticated_content_sign_key(
                       from->g->suite, &ac, &from->g->ctx, from->g->sig_key),
                   0);
  ck_assert_int_eq(mls_group_frame_(from->g, &ac, encrypt, 0, out, NULL), 0);
  mls_authenticated_content_cleanup(&ac);
}

START_TEST(test_adversarial_proposals) {
  const mls_suite *s = suite_of(_i);
  client cs[4];
  three(cs, s);
  for (int enc = 0; enc < 2; enc++) {
    mls_proposal prop;
    mls_bytes m = {0};
    memset(&prop, 0, sizeof(prop));
    prop.proposal_type = MLS_PROPOSAL_REMOVE;
    prop.remove.removed = 9;
    send_raw_proposal(&cs[1], &prop, enc, &m);
    mls_bytes before = state_of(cs[0].g);
    ck_assert_int_eq(process(&cs[0], &m, NULL, NULL), MG_ERR_PROPOSAL);
    mls_bytes after = state_of(cs[0].g);
    ck_assert_uint_eq(before.len, after.len);
    ck_assert_mem_eq(before.data, after.data, before.len);
    mls_bytes_cleanup(&m);
    /* An Update whose leaf keeps the current encryption key. */
    memset(&prop, 0, sizeof(prop));
    prop.proposal_type = MLS_PROPOSAL_UPDATE;
    ck_assert_int_eq(mls_leaf_node_copy(&prop.update.leaf_node,
                                        mls_group_member(cs[1].g, 1)),
                     0);
    prop.update.leaf_node.leaf_node_source = MLS_LEAF_SOURCE_UPDATE;
    memset(&prop.update.leaf_node.lifetime, 0, sizeof(prop.update.leaf_node.lifetime));
    mls_bytes_cleanup(&prop.update.leaf_node.parent_hash);
    ck_assert_int_eq(mls_leaf_node_sign(s, &prop.update.leaf_node,
                                        cs[1].sig_priv, cs[1].sig_priv_len,
                                        cs[1].g->ctx.group_id.data,
                                        cs[1].g->ctx.group_id.len, 1),
                     0);
    send_raw_proposal(&cs[1], &prop, enc, &m);
    ck_assert_int_eq(process(&cs[0], &m, NULL, NULL), MG_ERR_DUPLICATE_KEY);
    mls_bytes after2 = state_of(cs[0].g);
    ck_assert_mem_eq(before.data, after2.data, before.len);
    mls_proposal_cleanup(&prop);
    mls_bytes_cleanup(&m);
    mls_bytes_cleanup_secret(&before);
    mls_bytes_cleanup_secret(&after);
    mls_bytes_cleanup_secret(&after2);
  }
  /* Valid traffic still flows (the ratchets are in step). */
  app_roundtrip(cs, 4, 1, "still fine");
  for (int i = 0; i < 4; i++) {
    client_cleanup(&cs[i]);
  }
}
END_TEST

START_TEST(test_adversarial_commits) {
  const mls_suite *s = suite_of(_i);
  client cs[4];
  three(cs, s);
  mls_commit_result res;
  mls_commit_params p;

  /* A valid path commit from bob, as a PublicMessage. */
  memset(&p, 0, sizeof(p));
  p.now = NOW;
  ck_assert_int_eq(mls_group_commit(cs[1].g, &p, &res), 0);
  expect_reject(&cs[2], &res.commit, &cs[1], mut_epoch, cs, 1, MG_ERR_EPOCH,
                "wrong epoch");
  expect_reject(&cs[2], &res.commit, &cs[1], mut_signature, cs, 0,
                MG_ERR_SIGNATURE, "bad signature");
  expect_reject(&cs[2], &res.commit, &cs[1], mut_conf_tag, cs, 0,
                MG_ERR_CONFIRMATION_TAG, "bad confirmation tag");
  expect_reject(&cs[2], &res.commit, &cs[1], mut_parent_hash, cs, 1,
                MG_ERR_PARENT_HASH, "path with a wrong parent hash");
  expect_reject(&cs[2], &res.commit, &cs[1], mut_path_key, cs, 1,
                MG_ERR_PARENT_HASH, "path with swapped keys");
  /* Every single-byte change of the wire message is rejected (membership
   * tag, signature or decoding), the state unchanged. */
  {
    mls_bytes before = state_of(cs[2].g);
    for (size_t k = 0; k < res.commit.len; k++) {
      mls_process_params pp = pparams(NULL);
      mls_processed r;
      res.commit.data[k] ^= 0x01;
      ck_assert_int_lt(mls_group_process(cs[2].g, res.commit.data,
                                         res.commit.len, &pp, &r),
                       0);
      res.commit.data[k] ^= 0x01;
    }
    mls_bytes after = state_of(cs[2].g);
    ck_assert_mem_eq(before.data, after.data, before.len);
    mls_bytes_cleanup_secret(&before);
    mls_bytes_cleanup_secret(&after);
  }
  /* The unmutated commit still applies. */
  expect_reject(&cs[2], &res.commit, &cs[1], mut_nothing, cs, 0, 0,
                "the valid commit (in the harness)");
  ck_assert_int_eq(process(&cs[2], &res.commit, NULL, NULL), 0);
  ck_assert_int_eq(process(&cs[0], &res.commit, NULL, NULL), 0);
  mls_group_free(cs[1].g);
  cs[1].g = res.next;
  res.next = NULL;
  mls_commit_result_cleanup(&res);
  assert_synced(cs, 4);

  /* Proposal-list rules (§12.2), each on a valid commit from alice. */
  {
    uint32_t rm = mls_group_self(cs[2].g).v;
    memset(&p, 0, sizeof(p));
    p.removes = &rm;
    p.num_removes = 1;
    p.now = NOW;
    ck_assert_int_eq(mls_group_commit(cs[0].g, &p, &res), 0);
    expect_reject(&cs[1], &res.commit, &cs[0], mut_remove_blank, cs, 1,
                  MG_ERR_PROPOSAL, "remove a blank leaf");
    mls_commit_result_cleanup(&res);
  }
  {
    client_kp(&cs[3]);
    memset(&p, 0, sizeof(p));
    p.adds = &cs[3].kp;
    p.num_adds = 1;
    p.now = NOW;
    ck_assert_int_eq(mls_group_commit(cs[0].g, &p, &res), 0);
    expect_reject(&cs[1], &res.commit, &cs[0], mut_add_duplicate, cs, 1,
                  MG_ERR_DUPLICATE_KEY, "add a duplicate key");
    mls_commit_result_cleanup(&res);
    /* And our own commit creation refuses it in the first place. */
    memset(&p, 0, sizeof(p));
    p.adds = &cs[1].kp;
    p.num_adds = 1;
    p.now = NOW;
    ck_assert_int_eq(mls_group_commit(cs[0].g, &p, &res), MG_ERR_DUPLICATE_KEY);
  }
  {
    /* Two Updates from one leaf: carol proposes twice, alice's commit of
     * one is mutated to reference it twice. */
    mls_proposal prop;
    mls_bytes m1 = {0};
    memset(&prop, 0, sizeof(prop));
    prop.proposal_type = MLS_PROPOSAL_UPDATE;
    ck_assert_int_eq(mls_group_propose(cs[2].g, &prop, 0, NOW, &m1), 0);
    all_process(cs, 4, 2, &m1, NULL);
    memset(&p, 0, sizeof(p));
    p.include_pending = 1;
    p.now = NOW;
    ck_assert_int_eq(mls_group_commit(cs[0].g, &p, &res), 0);
    expect_reject(&cs[1], &res.commit, &cs[0], mut_dup_ref, cs, 1,
                  MG_ERR_PROPOSAL, "two updates from one leaf");
    expect_reject(&cs[1], &res.commit, &cs[0], mut_nothing, cs, 0, 0,
                  "the valid commit of one update");
    mls_commit_result_cleanup(&res);
    mls_bytes_cleanup(&m1);
  }
  for (int i = 0; i < 4; i++) {
    client_cleanup(&cs[i]);
  }
}
END_TEST


/* ---------------------------------------------------- external joins */

static void external_join(client *cs, size_t n, client *j, size_t gi_from,
                          int with_tree, int64_t remove_leaf) {
  mls_bytes gi = {0}, tree = {0}, commit = {0};
  mls_external_join_params xp;
  mls_group *ng = NULL;
  ck_assert_int_eq(mls_group_group_info(cs[gi_from].g, with_tree, &gi), 0);
  ck_assert_int_eq(mls_group_ratchet_tree(cs[gi_from].g, &tree), 0);
  client_kp(j);
  memset(&xp, 0, sizeof(xp));
  xp.group_info = gi.data;
  xp.group_info_len = gi.len;
  if (!with_tree) {
    xp.ratchet_tree = tree.data;
    xp.ratchet_tree_len = tree.len;
  }
  xp.key_package = &j->kp;
  xp.priv = &j->kpp;
  xp.remove_leaf = remove_leaf;
  xp.now = NOW;
  ck_assert_int_eq(mls_group_join_external(&ng, &commit, j->suite, &xp), 0);
  for (size_t i = 0; i < n; i++) {
    if (&cs[i] != j && cs[i].g != NULL) {
      int rc = process(&cs[i], &commit, NULL, NULL);
      ck_assert_msg(rc == 0, "%s: external commit: %s", cs[i].name,
                    mg_err_name(rc));
    }
  }
  /* A replay of the external commit is for a past epoch now. */
  ck_assert_int_eq(process(&cs[gi_from], &commit, NULL, NULL), MG_ERR_EPOCH);
  mls_group_free(j->g);
  j->g = ng;
  mls_bytes_cleanup(&gi);
  mls_bytes_cleanup(&tree);
  mls_bytes_cleanup(&commit);
}

START_TEST(test_external_join) {
  const mls_suite *s = suite_of(_i);
  client cs[4];
  three(cs, s);
  /* dave joins by external commit (tree in the GroupInfo). */
  external_join(cs, 4, &cs[3], 0, 1, -1);
  assert_synced(cs, 4);
  ck_assert_uint_eq(mls_group_member_count(cs[0].g), 4);
  app_roundtrip(cs, 4, 3, "dave joined externally");
  app_roundtrip(cs, 4, 1, "bob to all");
  /* carol resyncs: an external commit that removes her old leaf (tree out
   * of band). */
  uint32_t old_leaf = mls_group_self(cs[2].g).v;
  external_join(cs, 4, &cs[2], 1, 0, old_leaf);
  assert_synced(cs, 4);
  ck_assert_uint_eq(mls_group_member_count(cs[0].g), 4);
  app_roundtrip(cs, 4, 2, "carol is back");
  /* A GroupInfo whose signature is broken is refused. */
  {
    mls_bytes gi = {0}, commit = {0};
    mls_external_join_params xp;
    mls_group *ng = NULL;
    client e;
    client_init(&e, s, "eve");
    client_kp(&e);
    ck_assert_int_eq(mls_group_group_info(cs[0].g, 1, &gi), 0);
    gi.data[gi.len - 2] ^= 1;
    memset(&xp, 0, sizeof(xp));
    xp.group_info = gi.data;
    xp.group_info_len = gi.len;
    xp.key_package = &e.kp;
    xp.priv = &e.kpp;
    xp.remove_leaf = -1;
    xp.now = NOW;
    ck_assert_int_eq(mls_group_join_external(&ng, &commit, s, &xp),
                     MG_ERR_SIGNATURE);
    ck_assert_ptr_null(ng);
    mls_bytes_cleanup(&gi);
    client_cleanup(&e);
  }
  for (int i = 0; i < 4; i++) {
    client_cleanup(&cs[i]);
  }
}
END_TEST

/* ------------------------------------------------ randomized history */

static uint32_t rnd(uint64_t *st) {
  *st = *st * 6364136223846793005ULL + 1442695040888963407ULL;
  return (uint32_t)(*st >> 33);
}

static void random_history(const mls_suite *s, int epochs, uint64_t seed) {
  client cs[MAX_CLIENTS];
  size_t n = 0;
  uint64_t st = seed;
  char name[16];
  for (int i = 0; i < MAX_CLIENTS; i++) {
    snprintf(name, sizeof(name), "c%d", i);
    client_init(&cs[i], s, name);
  }
  client_create(&cs[0]);
  n = 1;
  size_t active = 1; /* clients with a group */
  for (int e = 0; e < epochs; e++) {
    /* A random member commits. */
    size_t who;
    do {
      who = rnd(&st) % n;
    } while (cs[who].g == NULL);
    mls_commit_params p;
    memset(&p, 0, sizeof(p));
    p.encrypt = (int)(rnd(&st) & 1);
    p.ratchet_tree_in_welcome = (int)(rnd(&st) & 1);
    uint32_t op = rnd(&st) % 10;
    client *joiners[2];
    size_t n_join = 0;
    mls_key_package kps[2];
    uint32_t rm = 0;
    if ((op < 3 || active < 3) && active < 12) {
      /* Add one or two new (or returning) clients, path or not. */
      size_t k = 1 + rnd(&st) % 2;
      for (size_t j = 0; j < MAX_CLIENTS && n_join < k; j++) {
        if (cs[j].g == NULL && (j < n || n < MAX_CLIENTS)) {
          if (j >= n) {
            n = j + 1;
          }
          client_kp(&cs[j]);
          kps[n_join] = cs[j].kp;
          joiners[n_join++] = &cs[j];
        }
      }
      p.adds = kps;
      p.num_adds = n_join;
      p.force_path = (int)(rnd(&st) & 1);
    } else if (op < 5 && active > 2) {
      size_t victim;
      do {
        victim = rnd(&st) % n;
      } while (cs[victim].g == NULL || victim == who);
      rm = mls_group_self(cs[victim].g).v;
      p.removes = &rm;
      p.num_removes = 1;
    } else if (op < 7) {
      /* An Update proposed by another member, committed by reference. */
      size_t other;
      do {
        other = rnd(&st) % n;
      } while (cs[other].g == NULL || (other == who && active > 1));
      if (other != who) {
        mls_proposal prop;
        mls_bytes m = {0};
        memset(&prop, 0, sizeof(prop));
        prop.proposal_type = MLS_PROPOSAL_UPDATE;
        ck_assert_int_eq(mls_group_propose(cs[other].g, &prop,
                                           (int)(rnd(&st) & 1), NOW, &m),
                         0);
        all_process(cs, n, other, &m, NULL);
        mls_bytes_cleanup(&m);
        p.include_pending = 1;
      }
    }
    /* else: an empty path commit */
    commit_all(cs, n, who, &p, joiners, n_join, NULL);
    ck_assert_uint_eq(mls_group_epoch(cs[who].g), (uint64_t)e + 1);
    active = 0;
    for (size_t i = 0; i < n; i++) {
      active += cs[i].g != NULL;
    }
    assert_synced(cs, n);
    if (e % 7 == 0) {
      app_roundtrip(cs, n, who, "tick");
    }
  }
  for (int i = 0; i < MAX_CLIENTS; i++) {
    client_cleanup(&cs[i]);
  }
}

/* ------------------------------------------- advancing the sender */

/* mls_group_advance_sending (the session layer's lease hook): the sender
 * jumps ahead without keeping skipped keys, the peer follows a gap below
 * its max_forward, a jump backwards is a no-op, a gap beyond max_forward
 * is refused by the peer, and the state round-trips canonically. */
START_TEST(test_advance_sending) {
  const mls_suite *s = suite_of(_i);
  client cs[2];
  mls_bytes m = {0};
  mls_bytes st0, st1;
  mls_group *copy = NULL;
  uint32_t gen = 0;
  client_init(&cs[0], s, "alice");
  client_init(&cs[1], s, "bob");
  client_create(&cs[0]);
  client_kp(&cs[1]);
  {
    client *j[1] = {&cs[1]};
    mls_commit_params p;
    memset(&p, 0, sizeof(p));
    p.adds = &cs[1].kp;
    p.num_adds = 1;
    p.ratchet_tree_in_welcome = 1;
    commit_all(cs, 2, 0, &p, j, 1, NULL);
  }
  app_roundtrip(cs, 2, 0, "generation 0");
  /* A gap of 64 (< max_forward 1024). */
  ck_assert_int_eq(mls_group_advance_sending(cs[0].g, 65), 0);
  ck_assert_int_eq(mls_group_protect(cs[0].g, (const uint8_t *)"x", 1, NULL,
                                     0, 0, &m, &gen),
                   0);
  ck_assert_uint_eq(gen, 65);
  {
    mls_processed r;
    ck_assert_int_eq(process(&cs[1], &m, NULL, &r), 0);
    ck_assert_uint_eq(r.generation, 65);
    mls_processed_cleanup(&r);
  }
  mls_bytes_cleanup(&m);
  /* Backwards or to the current position: no-op. */
  ck_assert_int_eq(mls_group_advance_sending(cs[0].g, 3), 0);
  ck_assert_int_eq(mls_group_advance_sending(cs[0].g, 66), 0);
  ck_assert_int_eq(mls_group_protect(cs[0].g, (const uint8_t *)"y", 1, NULL,
                                     0, 0, &m, &gen),
                   0);
  ck_assert_uint_eq(gen, 66);
  ck_assert_int_eq(process(&cs[1], &m, NULL, NULL), 0);
  mls_bytes_cleanup(&m);
  /* The state after a jump encodes canonically and keeps no skipped
   * sending keys: decode, encode gives the same bytes, and the decoded
   * copy continues at the same generation. */
  ck_assert_int_eq(mls_group_advance_sending(cs[0].g, 200), 0);
  st0 = state_of(cs[0].g);
  ck_assert_int_eq(mls_group_decode(&copy, st0.data, st0.len), 0);
  st1 = state_of(copy);
  ck_assert_uint_eq(st0.len, st1.len);
  ck_assert_mem_eq(st0.data, st1.data, st0.len);
  ck_assert_int_eq(mls_group_protect(copy, (const uint8_t *)"z", 1, NULL, 0,
                                     0, &m, &gen),
                   0);
  ck_assert_uint_eq(gen, 200);
  ck_assert_int_eq(process(&cs[1], &m, NULL, NULL), 0);
  mls_bytes_cleanup(&m);
  mls_group_free(copy);
  mls_bytes_cleanup_secret(&st0);
  mls_bytes_cleanup_secret(&st1);
  /* A gap past the receiver's max_forward (1024) is refused. */
  ck_assert_int_eq(mls_group_advance_sending(cs[0].g, 201 + 1025), 0);
  ck_assert_int_eq(mls_group_protect(cs[0].g, (const uint8_t *)"w", 1, NULL,
                                     0, 0, &m, &gen),
                   0);
  ck_assert_int_eq(process(&cs[1], &m, NULL, NULL), MG_ERR_GENERATION);
  mls_bytes_cleanup(&m);
  ck_assert_int_eq(mls_group_advance_sending(NULL, 1), MG_ERR_INVALID_ARG);
  client_cleanup(&cs[0]);
  client_cleanup(&cs[1]);
}
END_TEST

/* MLSGATE_QUICK=1 (the valgrind phase) runs suite 1 only and shorter
 * histories. */
static int quick(void) {
  const char *q = getenv("MLSGATE_QUICK");
  return q != NULL && strcmp(q, "1") == 0;
}

START_TEST(test_random_history_suite1) {
  random_history(suite_of(0), quick() ? 40 : 300, 1);
}
END_TEST

START_TEST(test_random_history_other_suites) {
  random_history(suite_of(_i), quick() ? 10 : 40, (uint64_t)_i + 7);
}
END_TEST

static Suite *engine_suite(void) {
  Suite *s = suite_create("group_engine");
  TCase *tc = tcase_create("engine");
  tcase_set_timeout(tc, 600);
  int n = quick() ? 1 : 7;
  tcase_add_loop_test(tc, test_lifecycle, 0, n);
  tcase_add_loop_test(tc, test_proposals_by_reference, 0, n);
  tcase_add_loop_test(tc, test_psk_gce_reinit, 0, n);
  tcase_add_loop_test(tc, test_out_of_order, 0, n);
  tcase_add_loop_test(tc, test_state_roundtrip, 0, n);
  tcase_add_test(tc, test_state_fixture_v1);
  tcase_add_loop_test(tc, test_adversarial_commits, 0, n);
  tcase_add_loop_test(tc, test_adversarial_proposals, 0, n);
  tcase_add_loop_test(tc, test_external_join, 0, n);
  tcase_add_loop_test(tc, test_advance_sending, 0, n);
  tcase_add_test(tc, test_random_history_suite1);
  tcase_add_loop_test(tc, test_random_history_other_suites, 1, quick() ? 2 : 7);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr;
  if (getenv("MLSGATE_WRITE_FIXTURE") != NULL) {
    Suite *s = suite_create("write_fixture");
    TCase *tc = tcase_create("write");
    tcase_add_test(tc, test_write_fixture);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
  } else {
    sr = srunner_create(engine_suite());
  }
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
