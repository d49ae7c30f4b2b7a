/*
 * The session layer: conversation operations over the MLS engine and the
 * keystore (session.h).  Layout:
 *   - the stored conversation record (encode/decode);
 *   - the conversation cache: a hash table of entries, each with its own
 *     mutex serializing the operations on one conversation; the table's
 *     lock (s->mu) only guards the table, the LRU list and reference
 *     counts, and is never held while waiting for a conversation's mutex
 *     or the store;
 *   - the operations, each one write job (or transaction) of the store;
 *   - failure auditing and counters.
 *
 * The cache holds only committed state: an operation changes its entry
 * only after its job committed, and drops the entry (it reloads from the
 * store) when the job failed after the engine changed the group in place.
 */
#include "config.h"

#include "session/session.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/codec.h"
#include "common/guard.h"
#include "common/secmem.h"
#include "crypto/hpke.h"
#include "crypto/suite.h"
#include "mls/constants.h"
#include "mls/group.h"
#include "mls/keypackage.h"
#include "mls/msg_framing.h"
#include "session/session_int.h"

#define REC_MAGIC "MGSC"
#define REC_FORMAT 1

enum { OP_OPEN, OP_JOIN, OP_ENCRYPT, OP_DECRYPT, OP_COMMIT, OP_CLOSE };

/* ------------------------------------------------------------ cache */

typedef struct sess_conv {
  /* Under s->mu. */
  struct sess_conv *hnext;
  struct sess_conv *lru_prev, *lru_next; /* most recent first */
  uint32_t hash;
  unsigned refs;
  int in_table;
  /* The conversation's lock: serializes its operations. */
  pthread_mutex_t mu;
  /* Under mu. */
  int dead; /* dropped from the table: the next user makes a new entry */
  mls_group *g; /* NULL until loaded */
  char identity[MG_KS_NAME_MAX + 1];
  uint64_t created_at;
  int have_lease; /* [lease_next, lease_end) reserved in g's epoch */
  uint32_t lease_next, lease_end;
  uint8_t key_id[MG_KS_KEY_ID_LEN]; /* our leaf's signature key */
  char id[MG_KS_CONV_ID_MAX + 1];
} sess_conv;

struct mg_session {
  mg_keystore *ks;
  mg_session_options opt;
  sess_committer com;
  pthread_mutex_t mu; /* the table, the LRU list, refs, counters */
  sess_conv **buckets;
  size_t num_buckets;
  size_t count;
  sess_conv *lru_head, *lru_tail;
  /* Counters: atomic (__atomic builtins), not under s->mu. */
  uint64_t ops[6], op_errors[6];
  uint64_t lease_writes, cache_hits, cache_misses;
};

void mg_session_options_default(mg_session_options *o) {
  if (o == NULL) {
    return;
  }
  memset(o, 0, sizeof(*o));
  o->lease_block = MG_SESSION_DEFAULT_LEASE_BLOCK;
  o->cache_max = 4096;
  o->batch_max = 256;
}

static void counter_add(uint64_t *c) {
  (void)__atomic_add_fetch(c, 1, __ATOMIC_RELAXED);
}

static uint32_t hash_id(const char *id) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (; *id != '\0'; id++) {
    h ^= (uint8_t)*id;
    h *= 16777619u;
  }
  return h;
}

static void lru_unlink(mg_session *s, sess_conv *c) {
  if (c->lru_prev != NULL) {
    c->lru_prev->lru_next = c->lru_next;
  } else {
    s->lru_head = c->lru_next;
  }
  if (c->lru_next != NULL) {
    c->lru_next->lru_prev = c->lru_prev;
  } else {
    s->lru_tail = c->lru_prev;
  }
  c->lru_prev = c->lru_next = NULL;
}

static void lru_push_front(mg_session *s, sess_conv *c) {
  c->lru_prev = NULL;
  c->lru_next = s->lru_head;
  if (s->lru_head != NULL) {
    s->lru_head->lru_prev = c;
  }
  s->lru_head = c;
  if (s->lru_tail == NULL) {
    s->lru_tail = c;
  }
}

static void conv_free(sess_conv *c) {
  mls_group_free(c->g);
  pthread_mutex_destroy(&c->mu);
  mg_free_secret(c, sizeof(*c));
}

/* Removes |c| from the table and the LRU list (under s->mu). */
static void table_remove(mg_session *s, sess_conv *c) {
  sess_conv **pp = &s->buckets[c->hash % s->num_buckets];
  while (*pp != NULL && *pp != c) {
    pp = &(*pp)->hnext;
  }
  if (*pp == c) {
    *pp = c->hnext;
  }
  c->hnext = NULL;
  lru_unlink(s, c);
  c->in_table = 0;
  s->count--;
}

/* Drops least recently used entries nobody holds while the table is over
 * cache_max (under s->mu). */
static void evict(mg_session *s) {
  sess_conv *c = s->lru_tail;
  while (s->count > s->opt.cache_max && c != NULL) {
    sess_conv *prev = c->lru_prev;
    if (c->refs == 0) {
      table_remove(s, c);
      conv_free(c);
    }
    c = prev;
  }
}

static void conv_release(mg_session *s, sess_conv *c) {
  pthread_mutex_lock(&s->mu);
  c->refs--;
  if (c->refs == 0 && !c->in_table) {
    conv_free(c);
  } else if (c->refs == 0) {
    evict(s);
  }
  pthread_mutex_unlock(&s->mu);
}

static void conv_unlock(mg_session *s, sess_conv *c) {
  pthread_mutex_unlock(&c->mu);
  conv_release(s, c);
}

/* conv_drop forgets the cached state of |c| (its lock held): the next
 * operation reloads the conversation from the store. */
static void conv_drop(mg_session *s, sess_conv *c) {
  c->dead = 1;
  mls_group_free(c->g);
  c->g = NULL;
  pthread_mutex_lock(&s->mu);
  if (c->in_table) {
    table_remove(s, c);
  }
  pthread_mutex_unlock(&s->mu);
}

/* ------------------------------------------------ conversation record */

/* rec_encode writes the stored record of a conversation (session.h) to a
 * new buffer |*out| (secret: free with mg_free_secret). */
static int rec_encode(const mls_group *g, const char *identity,
                      uint64_t created_at, uint8_t **out, size_t *out_len) {
  mg_writer w;
  size_t mark = 0;
  int rc;
  mg_writer_zero(&w);
  MG_CHECK(mg_writer_init(&w, 4096, 0));
  MG_CHECK(mg_write_bytes(&w, (const uint8_t *)REC_MAGIC, 4));
  MG_CHECK(mg_write_u8(&w, REC_FORMAT));
  MG_CHECK(mg_write_opaque(&w, (const uint8_t *)identity, strlen(identity)));
  MG_CHECK(mg_write_u64(&w, created_at));
  MG_CHECK(mg_write_vec_begin(&w, &mark));
  MG_CHECK(mls_group_encode(&w, g));
  MG_CHECK(mg_write_vec_end(&w, mark));
  return mg_writer_finish(&w, out, out_len);
out:
  mg_writer_cleanup(&w);
  return rc;
}

/* rec_decode reads a stored record into |c| (g, identity, created_at).
 * Errors: MG_ERR_SCHEMA (not a record of ours or a newer format), decode
 * errors of the record and of mls_group_decode. */
static int rec_decode(sess_conv *c, const uint8_t *rec, size_t len) {
  mg_reader r, id, st;
  const uint8_t *magic = NULL;
  uint8_t format = 0;
  mls_group *g = NULL;
  mg_reader_init(&r, rec, len);
  MG_GUARD(mg_read_bytes(&r, &magic, 4));
  MG_ENSURE(memcmp(magic, REC_MAGIC, 4) == 0, MG_ERR_SCHEMA);
  MG_GUARD(mg_read_u8(&r, &format));
  MG_ENSURE(format == REC_FORMAT, MG_ERR_SCHEMA);
  MG_GUARD(mg_read_vec(&r, &id));
  MG_ENSURE(mg_reader_len(&id) >= 1 && mg_reader_len(&id) <= MG_KS_NAME_MAX,
            MG_ERR_DECODE);
  MG_GUARD(mg_read_u64(&r, &c->created_at));
  MG_GUARD(mg_read_vec(&r, &st));
  MG_GUARD(mg_reader_done(&r));
  memcpy(c->identity, mg_reader_data(&id), mg_reader_len(&id));
  c->identity[mg_reader_len(&id)] = '\0';
  MG_ENSURE(mg_ks_name_valid(c->identity), MG_ERR_DECODE);
  MG_GUARD(mls_group_decode(&g, mg_reader_data(&st), mg_reader_len(&st)));
  c->g = g;
  return 0;
}

/* The key ID of leaf |leaf|'s signature key. */
static int leaf_key_id(const mls_group *g, uint32_t leaf,
                       uint8_t out[MG_KS_KEY_ID_LEN]) {
  const mls_leaf_node *ln = mls_group_member(g, leaf);
  MG_ENSURE(ln != NULL, MG_ERR_INTERNAL);
  return mg_ks_key_id(out, mls_group_suite(g)->id, ln->signature_key.data,
                      ln->signature_key.len);
}

static int self_key_id(const mls_group *g, uint8_t out[MG_KS_KEY_ID_LEN]) {
  return leaf_key_id(g, mls_group_self(g).v, out);
}

/* sess_view runs |fn| in a read snapshot, retrying for up to ~1 s while
 * the store says MG_ERR_RETRY (LMDB's reader table is full: more threads
 * read at once than it has slots, 126 by default). */
static int sess_view(mg_session *s, mg_ks_txn_fn fn, void *arg) {
  for (int i = 0;; i++) {
    int rc = mg_ks_view(s->ks, fn, arg);
    if (rc != MG_ERR_RETRY || i == 1000) {
      return rc;
    }
    struct timespec ts = {0, 1000000}; /* 1 ms */
    (void)nanosleep(&ts, NULL);
  }
}

typedef struct load_arg {
  const char *id;
  uint64_t epoch;
  uint8_t *state;
  size_t state_len;
} load_arg;

static int load_fn(mg_ks_txn *txn, void *arg) {
  load_arg *a = arg;
  mg_free_secret(a->state, a->state_len);
  a->state = NULL;
  a->state_len = 0;
  return mg_ks_group_load(txn, a->id, &a->epoch, &a->state, &a->state_len);
}

/* conv_load reads |c| from the store (its lock held).  The lease starts
 * empty: the first encrypt reserves a block and moves the sending ratchet
 * to its start, past whatever a previous run may have used. */
static int conv_load(mg_session *s, sess_conv *c) {
  load_arg a;
  int rc;
  memset(&a, 0, sizeof(a));
  a.id = c->id;
  MG_CHECK(sess_view(s, load_fn, &a));
  MG_CHECK(rec_decode(c, a.state, a.state_len));
  if (mls_group_epoch(c->g) != a.epoch) {
    MG_FAIL(MG_ERR_TAMPERED);
  }
  MG_CHECK(self_key_id(c->g, c->key_id));
  c->have_lease = 0;
  rc = 0;
out:
  if (rc < 0) {
    mls_group_free(c->g);
    c->g = NULL;
  }
  mg_free_secret(a.state, a.state_len);
  return rc;
}

/* conv_acquire returns the entry of |id| locked (release with
 * conv_unlock), loaded from the store when |load| and not cached.
 * Errors: those of the load (MG_ERR_NOT_FOUND, ...), MG_ERR_NOMEM. */
static int conv_acquire(mg_session *s, const char *id, int load,
                        sess_conv **out) {
  uint32_t h = hash_id(id);
  for (;;) {
    sess_conv *c;
    int hit = 1;
    pthread_mutex_lock(&s->mu);
    for (c = s->buckets[h % s->num_buckets]; c != NULL; c = c->hnext) {
      if (c->hash == h && strcmp(c->id, id) == 0) {
        break;
      }
    }
    if (c == NULL) {
      c = calloc(1, sizeof(*c));
      if (c == NULL) {
        pthread_mutex_unlock(&s->mu);
        return MG_ERR_NOMEM;
      }
      pthread_mutex_init(&c->mu, NULL);
      memcpy(c->id, id, strlen(id) + 1);
      c->hash = h;
      c->hnext = s->buckets[h % s->num_buckets];
      s->buckets[h % s->num_buckets] = c;
      c->in_table = 1;
      s->count++;
      lru_push_front(s, c);
    } else {
      lru_unlink(s, c);
      lru_push_front(s, c);
    }
    c->refs++;
    evict(s);
    pthread_mutex_unlock(&s->mu);

    pthread_mutex_lock(&c->mu);
    if (c->dead) {
      conv_unlock(s, c);
      continue;
    }
    if (load && c->g == NULL) {
      hit = 0;
      int rc = conv_load(s, c);
      if (rc < 0) {
        conv_drop(s, c);
        conv_unlock(s, c);
        return rc;
      }
    }
    if (load) {
      counter_add(hit ? &s->cache_hits : &s->cache_misses);
    }
    *out = c;
    return 0;
  }
}

/* cache_adopt puts the committed state |*g| of a conversation just
 * created into the cache (taking it: *g becomes NULL), so that its first
 * operation need not load it.  Best effort: on any failure the state is
 * left to the caller and the conversation loads from the store later. */
static void cache_adopt(mg_session *s, const char *id, mls_group **g,
                        const char *identity, uint64_t created_at) {
  sess_conv *c = NULL;
  uint8_t key_id[MG_KS_KEY_ID_LEN];
  if (self_key_id(*g, key_id) < 0 || conv_acquire(s, id, 0, &c) < 0) {
    return;
  }
  if (c->g == NULL) {
    c->g = *g;
    *g = NULL;
    memcpy(c->identity, identity, strlen(identity) + 1);
    c->created_at = created_at;
    memcpy(c->key_id, key_id, sizeof(key_id));
    c->have_lease = 0;
  }
  conv_unlock(s, c);
}

/* --------------------------------------------------------- lifecycle */

int mg_session_new(mg_session **out, mg_keystore *ks,
                   const mg_session_options *opt) {
  mg_session *s;
  mg_session_options o;
  int rc;
  MG_ENSURE(out != NULL && ks != NULL, MG_ERR_INVALID_ARG);
  *out = NULL;
  if (opt != NULL) {
    o = *opt;
  } else {
    mg_session_options_default(&o);
  }
  MG_ENSURE(o.lease_block >= 1 && o.lease_block <= MG_SESSION_MAX_LEASE_BLOCK,
            MG_ERR_INVALID_ARG);
  MG_ENSURE(o.cache_max >= 1 && o.batch_max >= 1 && o.batch_max <= 65536,
            MG_ERR_INVALID_ARG);
  s = calloc(1, sizeof(*s));
  MG_ENSURE(s != NULL, MG_ERR_NOMEM);
  s->ks = ks;
  s->opt = o;
  s->num_buckets = 1024;
  while (s->num_buckets < o.cache_max && s->num_buckets < ((size_t)1 << 20)) {
    s->num_buckets <<= 1;
  }
  s->buckets = calloc(s->num_buckets, sizeof(*s->buckets));
  if (s->buckets == NULL) {
    free(s);
    return MG_ERR_NOMEM;
  }
  pthread_mutex_init(&s->mu, NULL);
  rc = sess_committer_start(&s->com, ks, o.batch_max);
  if (rc < 0) {
    pthread_mutex_destroy(&s->mu);
    free(s->buckets);
    free(s);
    return rc;
  }
  *out = s;
  return 0;
}

void mg_session_free(mg_session *s) {
  if (s == NULL) {
    return;
  }
  sess_committer_stop(&s->com);
  for (size_t i = 0; i < s->num_buckets; i++) {
    sess_conv *c = s->buckets[i];
    while (c != NULL) {
      sess_conv *next = c->hnext;
      conv_free(c);
      c = next;
    }
  }
  free(s->buckets);
  pthread_mutex_destroy(&s->mu);
  free(s);
}

/* ---------------------------------------------------------- counters */

static void count_op(mg_session *s, int op, int rc) {
  counter_add(rc < 0 ? &s->op_errors[op] : &s->ops[op]);
}

void mg_session_get_stats(mg_session *s, mg_session_stats *out) {
  if (out == NULL) {
    return;
  }
  memset(out, 0, sizeof(*out));
  if (s == NULL) {
    return;
  }
  sess_committer_stats(&s->com, out);
  for (size_t i = 0; i < 6; i++) {
    out->ops[i] = __atomic_load_n(&s->ops[i], __ATOMIC_RELAXED);
    out->op_errors[i] = __atomic_load_n(&s->op_errors[i], __ATOMIC_RELAXED);
  }
  out->lease_writes = __atomic_load_n(&s->lease_writes, __ATOMIC_RELAXED);
  out->cache_hits = __atomic_load_n(&s->cache_hits, __ATOMIC_RELAXED);
  out->cache_misses = __atomic_load_n(&s->cache_misses, __ATOMIC_RELAXED);
  pthread_mutex_lock(&s->mu);
  out->cache_size = s->count;
  pthread_mutex_unlock(&s->mu);
}

/* ------------------------------------------------------------- audit */

/* Failures of the store or the process are not recorded (keystore.h). */
static int is_store_failure(int err) {
  return err == MG_ERR_STORE || err == MG_ERR_UNKNOWN_OUTCOME ||
         err == MG_ERR_RETRY || err == MG_ERR_NOMEM;
}

typedef struct audit_arg {
  mg_session *s;
  const mg_ks_ctx *ctx;
  mg_ks_audit a;
  uint8_t *hmac_out; /* or NULL */
} audit_arg;

/* audit_init fills the operation's audit record: |action| on |object|
 * with our signing key's ID (|key_id| may be NULL: none). */
static void audit_init(mg_ks_audit *a, const char *action, const char *object,
                       uint8_t *key_id) {
  memset(a, 0, sizeof(*a));
  a->action = action;
  a->object = object;
  if (key_id != NULL) {
    a->key_ids = (const uint8_t(*)[MG_KS_KEY_ID_LEN])key_id;
    a->num_key_ids = 1;
  }
}

static int audit_fn(mg_ks_txn *txn, void *arg) {
  audit_arg *a = arg;
  return mg_ks_audit_append(a->s->ks, txn, a->ctx, &a->a, a->hmac_out);
}

/* audit_failure records that |action| on |conv_id| (NULL or invalid: "")
 * failed with |err|, unless it is a failure of the store or the process
 * or there is no context to record with.  Best effort: an error here does
 * not replace the operation's. */
static void audit_failure(mg_session *s, const mg_ks_ctx *ctx,
                          const char *action, const char *conv_id,
                          uint8_t *key_id, int err) {
  audit_arg a;
  int ignored;
  if (s == NULL || ctx == NULL || err >= 0 || is_store_failure(err)) {
    return;
  }
  memset(&a, 0, sizeof(a));
  a.s = s;
  a.ctx = ctx;
  audit_init(&a.a, action, mg_ks_conv_id_valid(conv_id) ? conv_id : "",
             key_id);
  a.a.result = err;
  ignored = sess_run(&s->com, audit_fn, &a);
  (void)ignored;
}

/* ----------------------------------------------------------- helpers */

/* A save of a conversation's state with its audit entry, as one job. */
typedef struct save_arg {
  mg_session *s;
  const mg_ks_ctx *ctx;
  const char *conv_id;
  uint64_t expected, new_epoch;
  const uint8_t *rec;
  size_t rec_len;
  int del; /* delete instead of saving */
  mg_ks_audit a;
  const mg_session_hook *hook; /* or NULL */
  const void *result;          /* for hook->in_txn */
} save_arg;

static int save_fn(mg_ks_txn *txn, void *arg) {
  save_arg *a = arg;
  if (a->del) {
    /* No "group.delete" entry: the operation's own entry below
     * ("conversation.close", "message.decrypt") records the deletion. */
    MG_GUARD(mg_ks_group_remove(txn, a->conv_id));
  } else {
    /* No "group.save" entry: the operation's own entry (|a->a|) below is
     * the save's record, in the same transaction. */
    MG_GUARD(mg_ks_group_put(txn, a->conv_id, a->expected, a->new_epoch,
                             a->rec, a->rec_len));
  }
  MG_GUARD(mg_ks_audit_append(a->s->ks, txn, a->ctx, &a->a, NULL));
  if (a->hook != NULL) {
    MG_GUARD(a->hook->in_txn(txn, a->hook->arg, a->result));
  }
  return 0;
}

typedef struct signer_arg {
  const char *identity;
  mg_ks_signer signer;
} signer_arg;

static int signer_fn(mg_ks_txn *txn, void *arg) {
  signer_arg *a = arg;
  mg_ks_signer_cleanup(&a->signer);
  return mg_ks_signer_load(txn, a->identity, &a->signer);
}

/* 16 random bytes in lowercase base32 (RFC 4648 §6 alphabet): 26
 * characters. */
static int random_conv_id(char out[MG_KS_CONV_ID_MAX + 1]) {
  static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
  uint8_t rnd[16];
  uint32_t acc = 0;
  int bits = 0;
  size_t n = 0;
  MG_GUARD(mg_random_bytes(rnd, sizeof(rnd)));
  for (size_t i = 0; i < sizeof(rnd); i++) {
    acc = (acc << 8) | rnd[i];
    bits += 8;
    while (bits >= 5) {
      out[n++] = alphabet[(acc >> (bits - 5)) & 31u];
      bits -= 5;
    }
  }
  if (bits > 0) {
    out[n++] = alphabet[(acc << (5 - bits)) & 31u];
  }
  out[n] = '\0';
  return 0;
}

static int valid_ctx(const mg_ks_ctx *ctx) {
  return ctx != NULL && ctx->actor != NULL;
}

/* -------------------------------------------------------------- open */

void mg_conv_opened_cleanup(mg_conv_opened *o) {
  if (o == NULL) {
    return;
  }
  mls_bytes_cleanup(&o->welcome);
  mls_bytes_cleanup(&o->ratchet_tree);
  memset(o, 0, sizeof(*o));
}

static int open_conv(mg_session *s, const mg_ks_ctx *ctx, const char *identity,
                     const uint8_t *kp, size_t kp_len, const char *id,
                     mg_conv_opened *out, uint8_t *key_id, int *have_key_id,
                     const mg_session_hook *hook) {
  mg_conv_opened view;
  mls_message m;
  signer_arg sa;
  mls_key_package own;
  mls_key_package_priv own_priv;
  mls_key_package_params kpp;
  mls_group_create_params gp;
  mls_commit_params cp;
  mls_commit_result res;
  mls_group *g0 = NULL;
  const mls_suite *suite;
  uint8_t *rec = NULL;
  size_t rec_len = 0;
  save_arg sv;
  int rc;

  memset(&m, 0, sizeof(m));
  memset(&sa, 0, sizeof(sa));
  memset(&own, 0, sizeof(own));
  memset(&own_priv, 0, sizeof(own_priv));
  memset(&res, 0, sizeof(res));

  MG_CHECK(mls_message_decode_bytes(kp, kp_len, &m));
  if (m.wire_format != MLS_WIRE_KEY_PACKAGE) {
    MG_FAIL(MG_ERR_WIRE_FORMAT);
  }
  sa.identity = identity;
  MG_CHECK(sess_view(s, signer_fn, &sa));
  memcpy(key_id, sa.signer.key_id, MG_KS_KEY_ID_LEN);
  *have_key_id = 1;
  if (m.key_package.cipher_suite != sa.signer.cipher_suite) {
    MG_FAIL(MG_ERR_UNSUPPORTED);
  }
  suite = mls_suite_by_id(sa.signer.cipher_suite);
  if (suite == NULL) {
    MG_FAIL(MG_ERR_UNSUPPORTED);
  }

  /* Our first leaf: a KeyPackage of the identity's active key. */
  memset(&kpp, 0, sizeof(kpp));
  kpp.cipher_suite = suite->id;
  kpp.identity = (const uint8_t *)identity;
  kpp.identity_len = strlen(identity);
  kpp.sig_priv = sa.signer.priv;
  kpp.sig_priv_len = sa.signer.priv_len;
  kpp.now = ctx->now;
  MG_CHECK(mls_key_package_generate(&own, &own_priv, NULL, NULL, 0, NULL, &kpp));
  memset(&gp, 0, sizeof(gp));
  gp.key_package = &own;
  gp.priv = &own_priv;
  MG_CHECK(mls_group_create(&g0, suite, &gp));

  /* RFC 9420 §12.4.1: Add the device's KeyPackage (validated per §10.1
   * at ctx->now); the tree goes out of band next to the Welcome. */
  memset(&cp, 0, sizeof(cp));
  cp.adds = &m.key_package;
  cp.num_adds = 1;
  cp.ratchet_tree_in_welcome = 0;
  cp.now = ctx->now;
  MG_CHECK(mls_group_commit(g0, &cp, &res));

  MG_CHECK(rec_encode(res.next, identity, ctx->now, &rec, &rec_len));
  memset(&sv, 0, sizeof(sv));
  sv.s = s;
  sv.ctx = ctx;
  sv.conv_id = id;
  sv.expected = MG_KS_EPOCH_NONE;
  sv.new_epoch = mls_group_epoch(res.next);
  sv.rec = rec;
  sv.rec_len = rec_len;
  audit_init(&sv.a, "conversation.open", id, key_id);
  /* The result, borrowed, for the hook inside the transaction. */
  memset(&view, 0, sizeof(view));
  memcpy(view.conversation_id, id, strlen(id) + 1);
  view.cipher_suite = suite->id;
  view.epoch = mls_group_epoch(res.next);
  view.welcome = res.welcome;
  view.ratchet_tree = res.ratchet_tree;
  sv.hook = hook;
  sv.result = &view;
  rc = sess_run(&s->com, save_fn, &sv);
  if (rc == MG_ERR_CONFLICT) {
    rc = MG_ERR_EXISTS;
  }
  MG_CHECK(rc);

  memcpy(out->conversation_id, id, strlen(id) + 1);
  out->cipher_suite = suite->id;
  out->epoch = mls_group_epoch(res.next);
  out->welcome = res.welcome;
  out->ratchet_tree = res.ratchet_tree;
  memset(&res.welcome, 0, sizeof(res.welcome));
  memset(&res.ratchet_tree, 0, sizeof(res.ratchet_tree));
  cache_adopt(s, id, &res.next, identity, ctx->now);
  rc = 0;
out:
  mg_free_secret(rec, rec_len);
  mls_commit_result_cleanup(&res);
  mls_group_free(g0);
  mls_key_package_cleanup(&own);
  mls_key_package_priv_cleanup(&own_priv);
  mg_ks_signer_cleanup(&sa.signer);
  mls_message_cleanup(&m);
  return rc;
}

int mg_session_open_conversation(mg_session *s, const mg_ks_ctx *ctx,
                                 const char *identity, const uint8_t *kp,
                                 size_t kp_len, const char *conv_id,
                                 mg_conv_opened *out) {
  return mg_session_open_conversation_h(s, ctx, identity, kp, kp_len, conv_id,
                                        out, NULL);
}

int mg_session_open_conversation_h(mg_session *s, const mg_ks_ctx *ctx,
                                   const char *identity, const uint8_t *kp,
                                   size_t kp_len, const char *conv_id,
                                   mg_conv_opened *out,
                                   const mg_session_hook *hook) {
  char id[MG_KS_CONV_ID_MAX + 1];
  uint8_t key_id[MG_KS_KEY_ID_LEN];
  int have_key_id = 0;
  int rc;
  MG_ENSURE(s != NULL && valid_ctx(ctx) && out != NULL, MG_ERR_INVALID_ARG);
  memset(out, 0, sizeof(*out));
  if (!mg_ks_name_valid(identity) || kp == NULL || kp_len == 0 ||
      (conv_id != NULL && !mg_ks_conv_id_valid(conv_id))) {
    rc = MG_ERR_INVALID_ARG;
    audit_failure(s, ctx, "conversation.open", conv_id, NULL, rc);
    count_op(s, OP_OPEN, rc);
    return rc;
  }
  if (conv_id != NULL) {
    memcpy(id, conv_id, strlen(conv_id) + 1);
    rc = 0;
  } else {
    rc = random_conv_id(id);
  }
  if (rc == 0) {
    rc = open_conv(s, ctx, identity, kp, kp_len, id, out, key_id,
                   &have_key_id, hook);
  }
  if (rc < 0) {
    mg_conv_opened_cleanup(out);
    /* A random id that was never stored names nothing: the entry names
     * the caller's id, if any. */
    audit_failure(s, ctx, "conversation.open", conv_id,
                  have_key_id ? key_id : NULL, rc);
  }
  count_op(s, OP_OPEN, rc);
  return rc;
}

/* -------------------------------------------------------------- join */

typedef struct join_arg {
  mg_session *s;
  const mg_ks_ctx *ctx;
  const char *identity;
  const mls_suite *suite;
  const mls_welcome *welcome;
  const uint8_t *tree;
  size_t tree_len;
  const char *conv_id;
  const mg_session_hook *hook; /* or NULL */
  /* Outputs, overwritten on every run. */
  mls_key_package kp;
  mls_key_package_priv priv;
  int have_kp;
  mls_group *g;
  uint8_t *rec;
  size_t rec_len;
  uint8_t key_id[MG_KS_KEY_ID_LEN];
  int have_key_id;
} join_arg;

static void join_arg_reset(join_arg *a) {
  if (a->have_kp) {
    mls_key_package_cleanup(&a->kp);
  }
  memset(&a->kp, 0, sizeof(a->kp));
  a->have_kp = 0;
  mls_key_package_priv_cleanup(&a->priv);
  mls_group_free(a->g);
  a->g = NULL;
  mg_free_secret(a->rec, a->rec_len);
  a->rec = NULL;
  a->rec_len = 0;
}

/* Inside one transaction: take our KeyPackage named in the Welcome, join,
 * store the state and the audit entry. */
static int join_fn(mg_ks_txn *txn, void *arg) {
  join_arg *a = arg;
  mls_join_params jp;
  mg_ks_audit au;
  int rc = MG_ERR_NOT_FOUND;
  join_arg_reset(a);
  for (size_t i = 0; i < a->welcome->num_secrets; i++) {
    const mls_bytes *ref = &a->welcome->secrets[i].new_member;
    if (ref->len == 0) {
      continue;
    }
    rc = mg_ks_kp_take(a->s->ks, txn, a->ctx, a->identity, ref->data, ref->len,
                       &a->kp, &a->priv);
    if (rc == 0) {
      a->have_kp = 1;
      break;
    }
    if (rc != MG_ERR_NOT_FOUND) {
      return rc;
    }
  }
  MG_GUARD(rc);
  MG_GUARD(mg_ks_key_id(a->key_id, a->kp.cipher_suite, a->priv.sig_pub,
                        a->priv.sig_pub_len));
  a->have_key_id = 1;
  memset(&jp, 0, sizeof(jp));
  jp.welcome = a->welcome;
  jp.key_package = &a->kp;
  jp.init_priv = mg_hpke_key_priv(&a->priv.init_key);
  jp.init_priv_len = a->suite->kem->priv_len;
  jp.enc_priv = mg_hpke_key_priv(&a->priv.encryption_key);
  jp.enc_priv_len = a->suite->kem->priv_len;
  jp.sig_priv = a->priv.sig_priv;
  jp.sig_priv_len = a->priv.sig_priv_len;
  jp.ratchet_tree = a->tree;
  jp.ratchet_tree_len = a->tree_len;
  jp.now = a->ctx->now;
  MG_GUARD(mls_group_join(&a->g, a->suite, &jp));
  MG_GUARD(rec_encode(a->g, a->identity, a->ctx->now, &a->rec, &a->rec_len));
  /* Recorded by the "conversation.join" entry below (same transaction). */
  MG_GUARD(mg_ks_group_put(txn, a->conv_id, MG_KS_EPOCH_NONE,
                           mls_group_epoch(a->g), a->rec, a->rec_len));
  audit_init(&au, "conversation.join", a->conv_id, a->key_id);
  MG_GUARD(mg_ks_audit_append(a->s->ks, txn, a->ctx, &au, NULL));
  if (a->hook != NULL) {
    mg_conv_opened view;
    memset(&view, 0, sizeof(view));
    memcpy(view.conversation_id, a->conv_id, strlen(a->conv_id) + 1);
    view.cipher_suite = a->suite->id;
    view.epoch = mls_group_epoch(a->g);
    MG_GUARD(a->hook->in_txn(txn, a->hook->arg, &view));
  }
  return 0;
}

int mg_session_join(mg_session *s, const mg_ks_ctx *ctx, const char *identity,
                    const uint8_t *welcome, size_t welcome_len,
                    const uint8_t *tree, size_t tree_len,
                    mg_conv_opened *out) {
  return mg_session_join_h(s, ctx, identity, welcome, welcome_len, tree,
                           tree_len, out, NULL);
}

int mg_session_join_h(mg_session *s, const mg_ks_ctx *ctx,
                      const char *identity, const uint8_t *welcome,
                      size_t welcome_len, const uint8_t *tree,
                      size_t tree_len, mg_conv_opened *out,
                      const mg_session_hook *hook) {
  mls_message m;
  join_arg a;
  char id[MG_KS_CONV_ID_MAX + 1];
  int rc;
  MG_ENSURE(s != NULL && valid_ctx(ctx) && out != NULL, MG_ERR_INVALID_ARG);
  memset(out, 0, sizeof(*out));
  memset(&m, 0, sizeof(m));
  memset(&a, 0, sizeof(a));
  id[0] = '\0';
  if (!mg_ks_name_valid(identity) || welcome == NULL || welcome_len == 0 ||
      (tree == NULL && tree_len != 0)) {
    MG_FAIL(MG_ERR_INVALID_ARG);
  }
  MG_CHECK(mls_message_decode_bytes(welcome, welcome_len, &m));
  if (m.wire_format != MLS_WIRE_WELCOME) {
    MG_FAIL(MG_ERR_WIRE_FORMAT);
  }
  a.suite = mls_suite_by_id(m.welcome.cipher_suite);
  if (a.suite == NULL) {
    MG_FAIL(MG_ERR_UNSUPPORTED);
  }
  MG_CHECK(random_conv_id(id));
  a.s = s;
  a.ctx = ctx;
  a.identity = identity;
  a.welcome = &m.welcome;
  a.tree = tree_len > 0 ? tree : NULL;
  a.tree_len = tree_len;
  a.conv_id = id;
  a.hook = hook;
  /* Its own transaction (not the group commit): the join's crypto runs
   * inside it, and joins are rare. */
  MG_CHECK(mg_ks_transact(s->ks, join_fn, &a));
  memcpy(out->conversation_id, id, strlen(id) + 1);
  out->cipher_suite = a.suite->id;
  out->epoch = mls_group_epoch(a.g);
  cache_adopt(s, id, &a.g, identity, ctx->now);
  rc = 0;
out:
  if (rc < 0) {
    /* The random id was never stored: the entry names none. */
    audit_failure(s, ctx, "conversation.join", NULL,
                  a.have_key_id ? a.key_id : NULL, rc);
  }
  join_arg_reset(&a);
  mls_message_cleanup(&m);
  count_op(s, OP_JOIN, rc);
  return rc;
}

/* -------------------------------------------------------------- info */

void mg_conv_info_cleanup(mg_conv_info *i) {
  if (i == NULL) {
    return;
  }
  for (size_t k = 0; k < i->num_members && k < MG_SESSION_MAX_MEMBERS; k++) {
    mls_bytes_cleanup(&i->members[k].credential);
  }
  memset(i, 0, sizeof(*i));
}

static int fill_info(const sess_conv *c, mg_conv_info *out) {
  const mls_group *g = c->g;
  uint32_t width = mls_group_width(g);
  memcpy(out->conversation_id, c->id, strlen(c->id) + 1);
  memcpy(out->identity, c->identity, strlen(c->identity) + 1);
  out->cipher_suite = mls_group_suite(g)->id;
  out->epoch = mls_group_epoch(g);
  out->self_leaf = mls_group_self(g).v;
  for (uint32_t leaf = 0; leaf < width; leaf++) {
    const mls_leaf_node *ln = mls_group_member(g, leaf);
    mg_conv_member *mb;
    mg_writer w;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (ln == NULL) {
      continue;
    }
    MG_ENSURE(out->num_members < MG_SESSION_MAX_MEMBERS, MG_ERR_STATE);
    mb = &out->members[out->num_members];
    mb->leaf_index = leaf;
    MG_GUARD(leaf_key_id(g, leaf, mb->signature_key_id));
    mg_writer_zero(&w);
    MG_GUARD(mg_writer_init(&w, 256, 0));
    int rc = mls_credential_encode(&w, &ln->credential);
    if (rc < 0) {
      mg_writer_cleanup(&w);
      return rc;
    }
    MG_GUARD(mg_writer_finish(&w, &buf, &len));
    mb->credential.data = buf;
    mb->credential.len = len;
    out->num_members++;
  }
  return mls_group_epoch_authenticator(g, out->epoch_authenticator,
                                       sizeof(out->epoch_authenticator),
                                       &out->epoch_authenticator_len);
}

int mg_session_info(mg_session *s, const char *conv_id, mg_conv_info *out) {
  sess_conv *c = NULL;
  int rc;
  MG_ENSURE(s != NULL && out != NULL, MG_ERR_INVALID_ARG);
  memset(out, 0, sizeof(*out));
  MG_ENSURE(mg_ks_conv_id_valid(conv_id), MG_ERR_INVALID_ARG);
  MG_GUARD(conv_acquire(s, conv_id, 1, &c));
  rc = fill_info(c, out);
  conv_unlock(s, c);
  if (rc < 0) {
    mg_conv_info_cleanup(out);
  }
  return rc;
}

/* ----------------------------------------------------------- encrypt */

void mg_encrypted_cleanup(mg_encrypted *e) {
  if (e == NULL) {
    return;
  }
  mls_bytes_cleanup(&e->message);
  memset(e, 0, sizeof(*e));
}

typedef struct lease_arg {
  const char *conv_id;
  uint64_t epoch;
  uint32_t count;
  uint32_t first;
} lease_arg;

static int lease_fn(mg_ks_txn *txn, void *arg) {
  lease_arg *a = arg;
  return mg_ks_lease_reserve(txn, a->conv_id, a->epoch, a->count, &a->first);
}

/* take_generation makes sure the next sending generation of |c| (its lock
 * held) is covered by a durable lease: reserves a new block when the
 * current one is used up (or none was reserved since the entry was
 * loaded or its epoch began) and moves the sending ratchet to the block's
 * start.  Errors: the store's, MG_ERR_GENERATION (no generation left),
 * MG_ERR_STATE. */
static int take_generation(mg_session *s, sess_conv *c) {
  lease_arg la;
  if (c->have_lease && c->lease_next < c->lease_end) {
    return 0;
  }
  memset(&la, 0, sizeof(la));
  la.conv_id = c->id;
  la.epoch = mls_group_epoch(c->g);
  la.count = s->opt.lease_block;
  MG_GUARD(sess_run(&s->com, lease_fn, &la));
  counter_add(&s->lease_writes);
  /* From here on [first, first + count) is ours; the ratchet jumps to
   * its start past anything a previous run may have used. */
  MG_GUARD(mls_group_advance_sending(c->g, la.first));
  c->have_lease = 1;
  c->lease_next = la.first;
  c->lease_end = la.first + la.count;
  return 0;
}

/* encrypt_make makes the message of an encrypt (everything but its audit
 * entry): the next leased generation, the message, and the HMAC its
 * audit entry records.  |key_id| gets our signature key ID (|*have_key_id|
 * set) once the conversation is found.  On error |out| is cleaned. */
static int encrypt_make(mg_session *s, const char *conv_id, const uint8_t *pt,
                        size_t pt_len, const uint8_t *aad, size_t aad_len,
                        mg_encrypted *out, uint8_t key_id[MG_KS_KEY_ID_LEN],
                        int *have_key_id) {
  sess_conv *c = NULL;
  uint32_t gen = 0;
  int rc;
  memset(out, 0, sizeof(*out));
  *have_key_id = 0;
  if (!mg_ks_conv_id_valid(conv_id) || (pt == NULL && pt_len != 0) ||
      (aad == NULL && aad_len != 0)) {
    return MG_ERR_INVALID_ARG;
  }
  MG_GUARD(conv_acquire(s, conv_id, 1, &c));
  memcpy(key_id, c->key_id, MG_KS_KEY_ID_LEN);
  *have_key_id = 1;
  rc = take_generation(s, c);
  if (rc == 0) {
    rc = mls_group_protect(c->g, pt, pt_len, aad, aad_len, 0, &out->message,
                           &gen);
    if (rc == 0 && gen != c->lease_next) {
      rc = MG_ERR_INTERNAL; /* the ratchet left the lease: never send */
    }
  }
  if (rc < 0) {
    /* The group may have moved (a lease taken, a generation consumed):
     * forget it; it reloads from the store and leases afresh. */
    mg_encrypted_cleanup(out);
    conv_drop(s, c);
    conv_unlock(s, c);
    return rc;
  }
  c->lease_next = gen + 1;
  out->epoch = mls_group_epoch(c->g);
  out->generation = gen;
  memcpy(out->signature_key_id, c->key_id, MG_KS_KEY_ID_LEN);
  conv_unlock(s, c);
  /* The audit entry's HMAC is computed here, not inside the shared
   * transaction (whose jobs run one after the other). */
  rc = mg_ks_audit_content_hmac(s->ks, pt, pt_len, out->content_hmac);
  if (rc < 0) {
    mg_encrypted_cleanup(out);
  }
  return rc;
}

int mg_session_encrypt(mg_session *s, const mg_ks_ctx *ctx,
                       const char *conv_id, const uint8_t *pt, size_t pt_len,
                       const uint8_t *aad, size_t aad_len, mg_encrypted *out) {
  audit_arg au;
  uint8_t key_id[MG_KS_KEY_ID_LEN];
  int have_key_id = 0;
  int rc;
  MG_ENSURE(s != NULL && valid_ctx(ctx) && out != NULL, MG_ERR_INVALID_ARG);
  MG_CHECK(encrypt_make(s, conv_id, pt, pt_len, aad, aad_len, out, key_id,
                        &have_key_id));
  /* The audit entry (HMAC of the plaintext) is durable before the message
   * is returned.  If it is not, the message is dropped; its generation
   * is never used again (the ratchet moved past it). */
  memset(&au, 0, sizeof(au));
  au.s = s;
  au.ctx = ctx;
  audit_init(&au.a, "message.encrypt", conv_id, out->signature_key_id);
  au.a.content_hmac = out->content_hmac;
  MG_CHECK(sess_run(&s->com, audit_fn, &au));
  rc = 0;
out:
  if (rc < 0) {
    mg_encrypted_cleanup(out);
    audit_failure(s, ctx, "message.encrypt", conv_id,
                  have_key_id ? key_id : NULL, rc);
  }
  count_op(s, OP_ENCRYPT, rc);
  return rc;
}

/* An asynchronous encrypt's audit job: everything it refers to is its
 * own (the caller's context and strings are gone by the time it runs). */
typedef struct encrypt_job {
  sess_job job; /* first: the committer hands back this pointer */
  audit_arg au;
  mg_ks_ctx ctx;
  char actor[MG_KS_NAME_MAX + 16];
  char conv_id[MG_KS_CONV_ID_MAX + 1];
  uint8_t key_id[MG_KS_KEY_ID_LEN];
  uint8_t hmac[32];
  mg_encrypt_cb cb;
} encrypt_job;

static void encrypt_job_done(sess_job *j) {
  encrypt_job *e = (encrypt_job *)(void *)j;
  int rc = j->rc;
  mg_encrypt_cb cb = e->cb;
  /* A failure here is the audit append's: the store's or the process's
   * (the entry's strings were valid when the message was made), which
   * audit_failure does not record -- and it could not: this may run on
   * the committer thread, where a sess_run would wait on itself. */
  count_op(e->au.s, OP_ENCRYPT, rc);
  mg_memzero(e->hmac, sizeof(e->hmac));
  free(e);
  cb.done(cb.arg, rc);
}

int mg_session_encrypt_async(mg_session *s, const mg_ks_ctx *ctx,
                             const char *conv_id, const uint8_t *pt,
                             size_t pt_len, const uint8_t *aad,
                             size_t aad_len, mg_encrypted *out,
                             const mg_encrypt_cb *cb) {
  uint8_t key_id[MG_KS_KEY_ID_LEN];
  int have_key_id = 0;
  encrypt_job *e = NULL;
  int rc;
  MG_ENSURE(s != NULL && valid_ctx(ctx) && out != NULL && cb != NULL &&
                cb->ready != NULL && cb->done != NULL,
            MG_ERR_INVALID_ARG);
  if (strlen(ctx->actor) >= sizeof(e->actor)) {
    return MG_ERR_INVALID_ARG;
  }
  e = calloc(1, sizeof(*e));
  MG_ENSURE(e != NULL, MG_ERR_NOMEM);
  rc = encrypt_make(s, conv_id, pt, pt_len, aad, aad_len, out, key_id,
                    &have_key_id);
  if (rc < 0) {
    free(e);
    audit_failure(s, ctx, "message.encrypt", conv_id,
                  have_key_id ? key_id : NULL, rc);
    count_op(s, OP_ENCRYPT, rc);
    return rc;
  }
  rc = cb->ready(cb->arg, out);
  if (rc < 0) {
    /* The caller's failure, not the operation's: the message is dropped
     * (its generation is never used again), nothing is recorded. */
    free(e);
    mg_encrypted_cleanup(out);
    count_op(s, OP_ENCRYPT, rc);
    return rc;
  }
  strcpy(e->actor, ctx->actor);
  e->ctx.actor = e->actor;
  e->ctx.now = ctx->now;
  strcpy(e->conv_id, conv_id);
  memcpy(e->key_id, out->signature_key_id, MG_KS_KEY_ID_LEN);
  memcpy(e->hmac, out->content_hmac, sizeof(e->hmac));
  e->cb = *cb;
  e->au.s = s;
  e->au.ctx = &e->ctx;
  audit_init(&e->au.a, "message.encrypt", e->conv_id, e->key_id);
  e->au.a.content_hmac = e->hmac;
  e->job.fn = audit_fn;
  e->job.arg = &e->au;
  e->job.complete = encrypt_job_done;
  rc = sess_submit(&s->com, &e->job);
  if (rc < 0) {
    /* Stopping: the failure is the answer, through |done| as promised
     * once |ready| accepted the message. */
    e->job.rc = rc;
    encrypt_job_done(&e->job);
  }
  return 0; /* |done| is called (or was) */
}

/* ----------------------------------------------------------- decrypt */

void mg_decrypted_cleanup(mg_decrypted *d) {
  if (d == NULL) {
    return;
  }
  mls_bytes_cleanup_secret(&d->plaintext);
  memset(d, 0, sizeof(*d));
}

int mg_session_decrypt(mg_session *s, const mg_ks_ctx *ctx,
                       const char *conv_id, const uint8_t *msg, size_t msg_len,
                       mg_decrypted *out) {
  sess_conv *c = NULL;
  mls_process_params pp;
  mls_processed r;
  uint8_t *rec = NULL;
  size_t rec_len = 0;
  save_arg sv;
  uint8_t key_id[MG_KS_KEY_ID_LEN];
  uint8_t hmac[32];
  int have_key_id = 0, processed = 0;
  int rc;
  MG_ENSURE(s != NULL && valid_ctx(ctx) && out != NULL, MG_ERR_INVALID_ARG);
  memset(out, 0, sizeof(*out));
  memset(&r, 0, sizeof(r));
  if (!mg_ks_conv_id_valid(conv_id) || msg == NULL || msg_len == 0) {
    MG_FAIL(MG_ERR_INVALID_ARG);
  }
  MG_CHECK(conv_acquire(s, conv_id, 1, &c));
  memcpy(key_id, c->key_id, sizeof(key_id));
  have_key_id = 1;
  memset(&pp, 0, sizeof(pp));
  pp.now = ctx->now;
  /* On failure the engine changed nothing. */
  MG_CHECK(mls_group_process(c->g, msg, msg_len, &pp, &r));
  processed = 1; /* c->g may now hold uncommitted changes (a consumed key) */

  memset(&sv, 0, sizeof(sv));
  sv.s = s;
  sv.ctx = ctx;
  sv.conv_id = conv_id;
  sv.expected = mls_group_epoch(c->g);
  audit_init(&sv.a, "message.decrypt", conv_id, key_id);
  if (r.content_type == MLS_CONTENT_APPLICATION) {
    /* Computed here, not inside the shared transaction (as encrypt). */
    MG_CHECK(mg_ks_audit_content_hmac(s->ks, r.application_data.data,
                                      r.application_data.len, hmac));
    sv.a.content_hmac = hmac;
  }
  if (r.content_type == MLS_CONTENT_COMMIT && r.removed) {
    sv.del = 1;
  } else {
    /* An application message consumed its key in c->g, a proposal was
     * added to its pending list: c->g is the state to store; a Commit's
     * new epoch is r.next. */
    const mls_group *next =
        r.content_type == MLS_CONTENT_COMMIT ? r.next : c->g;
    MG_CHECK(rec_encode(next, c->identity, c->created_at, &rec, &rec_len));
    sv.new_epoch = mls_group_epoch(next);
    sv.rec = rec;
    sv.rec_len = rec_len;
  }
  MG_CHECK(sess_run(&s->com, save_fn, &sv));
  out->content_type = r.content_type;
  out->epoch = r.epoch;
  out->sender_leaf = r.sender.leaf_index;
  if (r.content_type == MLS_CONTENT_APPLICATION) {
    out->plaintext = r.application_data;
    memset(&r.application_data, 0, sizeof(r.application_data));
  }
  if (sv.del) {
    out->removed = 1;
    out->new_epoch = r.epoch;
    conv_drop(s, c);
  } else if (r.content_type == MLS_CONTENT_COMMIT) {
    mls_group_free(c->g);
    c->g = r.next;
    r.next = NULL;
    c->have_lease = 0; /* the new epoch's ratchets start at 0 */
    if (self_key_id(c->g, c->key_id) < 0) {
      conv_drop(s, c);
    }
    out->new_epoch = sv.new_epoch;
  } else {
    out->new_epoch = sv.new_epoch;
  }
  rc = 0;
out:
  if (c != NULL) {
    if (rc < 0 && processed) {
      /* Not saved: forget the changed group; it reloads from the store. */
      conv_drop(s, c);
    }
    conv_unlock(s, c);
  }
  mg_memzero(hmac, sizeof(hmac));
  mg_free_secret(rec, rec_len);
  mls_processed_cleanup(&r);
  if (rc < 0) {
    mg_decrypted_cleanup(out);
    audit_failure(s, ctx, "message.decrypt", conv_id,
                  have_key_id ? key_id : NULL, rc);
  }
  count_op(s, OP_DECRYPT, rc);
  return rc;
}

/* ------------------------------------------------------------ commit */

void mg_committed_cleanup(mg_committed *c) {
  if (c == NULL) {
    return;
  }
  mls_bytes_cleanup(&c->commit);
  memset(c, 0, sizeof(*c));
}

int mg_session_commit_update(mg_session *s, const mg_ks_ctx *ctx,
                             const char *conv_id, mg_committed *out) {
  return mg_session_commit_update_h(s, ctx, conv_id, out, NULL);
}

int mg_session_commit_update_h(mg_session *s, const mg_ks_ctx *ctx,
                               const char *conv_id, mg_committed *out,
                               const mg_session_hook *hook) {
  mg_committed view;
  sess_conv *c = NULL;
  signer_arg sa;
  mls_commit_params cp;
  mls_commit_result res;
  uint8_t *rec = NULL;
  size_t rec_len = 0;
  uint8_t new_key_id[MG_KS_KEY_ID_LEN];
  uint8_t key_id[MG_KS_KEY_ID_LEN];
  int have_key_id = 0;
  save_arg sv;
  int rc;
  MG_ENSURE(s != NULL && valid_ctx(ctx) && out != NULL, MG_ERR_INVALID_ARG);
  memset(out, 0, sizeof(*out));
  memset(&sa, 0, sizeof(sa));
  memset(&res, 0, sizeof(res));
  if (!mg_ks_conv_id_valid(conv_id)) {
    MG_FAIL(MG_ERR_INVALID_ARG);
  }
  MG_CHECK(conv_acquire(s, conv_id, 1, &c));
  memcpy(key_id, c->key_id, sizeof(key_id));
  have_key_id = 1;
  sa.identity = c->identity;
  MG_CHECK(sess_view(s, signer_fn, &sa));

  /* RFC 9420 §12.4.1: a fresh UpdatePath, every pending proposal; after
   * a rotation our leaf moves to the identity's active key. */
  memset(&cp, 0, sizeof(cp));
  cp.force_path = 1;
  cp.include_pending = 1;
  cp.now = ctx->now;
  if (sa.signer.cipher_suite == mls_group_suite(c->g)->id &&
      memcmp(sa.signer.key_id, c->key_id, MG_KS_KEY_ID_LEN) != 0) {
    cp.new_sig_priv = sa.signer.priv;
    cp.new_sig_priv_len = sa.signer.priv_len;
  }
  MG_CHECK(mls_group_commit(c->g, &cp, &res));
  MG_CHECK(self_key_id(res.next, new_key_id));
  MG_CHECK(rec_encode(res.next, c->identity, c->created_at, &rec, &rec_len));

  memset(&sv, 0, sizeof(sv));
  sv.s = s;
  sv.ctx = ctx;
  sv.conv_id = conv_id;
  sv.expected = mls_group_epoch(c->g);
  sv.new_epoch = mls_group_epoch(res.next);
  sv.rec = rec;
  sv.rec_len = rec_len;
  audit_init(&sv.a, "conversation.commit", conv_id, new_key_id);
  memset(&view, 0, sizeof(view));
  view.commit = res.commit; /* borrowed */
  view.epoch = sv.new_epoch;
  memcpy(view.signature_key_id, new_key_id, MG_KS_KEY_ID_LEN);
  sv.hook = hook;
  sv.result = &view;
  rc = sess_run(&s->com, save_fn, &sv);
  if (rc < 0) {
    conv_drop(s, c);
    goto out;
  }
  mls_group_free(c->g);
  c->g = res.next;
  res.next = NULL;
  memcpy(c->key_id, new_key_id, MG_KS_KEY_ID_LEN);
  c->have_lease = 0; /* the new epoch leases from generation 0 */
  out->commit = res.commit;
  memset(&res.commit, 0, sizeof(res.commit));
  out->epoch = sv.new_epoch;
  memcpy(out->signature_key_id, new_key_id, MG_KS_KEY_ID_LEN);
  rc = 0;
out:
  if (c != NULL) {
    conv_unlock(s, c);
  }
  mg_free_secret(rec, rec_len);
  mls_commit_result_cleanup(&res);
  mg_ks_signer_cleanup(&sa.signer);
  if (rc < 0) {
    mg_committed_cleanup(out);
    audit_failure(s, ctx, "conversation.commit", conv_id,
                  have_key_id ? key_id : NULL, rc);
  }
  count_op(s, OP_COMMIT, rc);
  return rc;
}

/* ------------------------------------------------------------- close */

int mg_session_close(mg_session *s, const mg_ks_ctx *ctx,
                     const char *conv_id) {
  sess_conv *c = NULL;
  save_arg sv;
  uint8_t key_id[MG_KS_KEY_ID_LEN];
  int have_key_id = 0;
  int rc;
  MG_ENSURE(s != NULL && valid_ctx(ctx), MG_ERR_INVALID_ARG);
  if (!mg_ks_conv_id_valid(conv_id)) {
    rc = MG_ERR_INVALID_ARG;
    goto out;
  }
  /* Not loaded: a conversation whose state no longer opens can still be
   * closed. */
  MG_CHECK(conv_acquire(s, conv_id, 0, &c));
  if (c->g != NULL) {
    memcpy(key_id, c->key_id, sizeof(key_id));
    have_key_id = 1;
  }
  memset(&sv, 0, sizeof(sv));
  sv.s = s;
  sv.ctx = ctx;
  sv.conv_id = conv_id;
  sv.del = 1;
  audit_init(&sv.a, "conversation.close", conv_id,
             have_key_id ? key_id : NULL);
  rc = sess_run(&s->com, save_fn, &sv);
  /* Gone, or possibly gone (a store failure): reload next time. */
  conv_drop(s, c);
  conv_unlock(s, c);
out:
  if (rc < 0) {
    audit_failure(s, ctx, "conversation.close", conv_id,
                  have_key_id ? key_id : NULL, rc);
  }
  count_op(s, OP_CLOSE, rc);
  return rc;
}
