/*
 * Crash safety of the keystore (src/keystore/keystore.h; issue 5,
 * "Reliability tests: Crash safety"), one level above tests/kv_crash.c:
 * the operations are the keystore's own, each with its audit entry.
 *
 * A child process opens the store, learns what is in it (identities,
 * group epochs) and loops over a random mix of operations:
 *  - mg_ks_identity_create of a new name "id-NNNNNN" (suite 1);
 *  - mg_ks_identity_rotate of a known identity;
 *  - mg_ks_kp_generate of 1 to 3 KeyPackages of the identity "pool";
 *  - in one mg_ks_transact: mg_ks_group_save of a conversation at the next
 *    epoch (compare-and-swap on the current one) and mg_ks_kp_take of one
 *    of the pool's packages; the state bytes name the package taken, so a
 *    save without its take, or a take without its save, shows;
 *  - mg_ks_audit_record of a note (some with a failure result);
 *  - mg_ks_identity_rotate of an identity that does not exist, refused
 *    with MG_ERR_NOT_FOUND and audited as such (its own entry).
 * After a call returned 0 (the refused rotation: MG_ERR_NOT_FOUND) the
 * child writes a fixed-size record to a pipe (the acknowledgement: kind,
 * object, new version or epoch, refs).
 *
 * The parent SIGKILLs the child after a random delay (a quarter of the
 * cycles 0-5 ms after the fork, during open and recovery; half 1-20 ms and
 * a quarter 20-150 ms after the child said it was ready), then reopens the
 * store and checks:
 *  - every acknowledged identity exists at its acknowledged key version;
 *    every conversation is at its acknowledged epoch with the state bytes
 *    of that epoch and package; every package acknowledged as taken is
 *    gone and every other acknowledged one is still there;
 *  - besides, at most ONE operation is found done without its ack (the
 *    one in flight at the kill), whole: an identity one version ahead, a
 *    conversation one epoch ahead whose package is gone, a new identity,
 *    up to 3 more packages, a note or a refusal's entry;
 *  - the audit entries appended since the last check are exactly those of
 *    the acknowledged operations, in order (action, object, result), then
 *    those of the one in flight if it committed;
 *  - every record of every table but meta opens (MG_ERR_TAMPERED nowhere),
 *    fully every 8th cycle and at the end, the small tables every cycle;
 *  - a checkpoint is signed, the log exported (mg_ks_audit_export) and
 *    verified offline (mg_audit_verify) with the store's verifier key and,
 *    as --since, the previous cycle's checkpoint: the log after the crash
 *    extends the log before it; its size is at least the number of
 *    audit entries acknowledged so far.
 * Then the parent adopts what it found (the committed in-flight operation
 * counts as done) and starts the next child.
 *
 * At least 30 cycles and 2000 acknowledged operations, stopping after 15 s
 * once there were 30 cycles (more time is taken only to reach 30 kills on a
 * slow machine).  The seed is printed; MLSGATE_CRASH_SEED repeats a run.
 * Everything happens in a directory from mkdtemp under $TMPDIR (or /tmp),
 * removed at the end.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include "config.h"

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/hex.h"
#include "common/secmem.h"
#include "crypto/crypto.h"
#include "keystore/audit.h"
#include "keystore/keystore.h"
#include "keystore/keystore_int.h"
#include "keystore/kv.h"
#include "mls/keypackage.h"

#define CYCLES 30
#define MIN_ACKS 2000
#define MAX_SECONDS 15.0
#define HARD_SECONDS 120.0 /* only to reach CYCLES on a very slow machine */
#define NUM_CONV 4
#define REF_LEN 32 /* suite 1: SHA-256 */
#define SUITE 1
#define POOL "pool"
#define GHOST "ghost" /* never created: rotating it is refused */
#define T_NOW ((uint64_t)1800000000)
#define MAX_REFS 8192
#define MAX_IDS 8192

enum {
  OP_READY = 1,
  OP_CREATE,
  OP_ROTATE,
  OP_GENERATE,
  OP_SAVE,
  OP_NOTE,
  OP_DENIED
};

/* One acknowledgement, written whole (less than PIPE_BUF bytes). */
typedef struct ack_rec {
  uint32_t kind;
  uint32_t idx;   /* identity index, conversation, note number */
  uint64_t value; /* new key version, epoch, note result (negated) */
  uint32_t num_refs;
  uint8_t refs[3][REF_LEN];
} ack_rec;

static char root[3800];
static char store_dir[4000];
static char kek_path[4000];
static char export_path[4000];

static uint64_t rng_state;

static uint64_t rng_next(void) {
  /* xorshift64* */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545F4914F6CDD1Dull;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static mg_ks_options store_opts(int create) {
  mg_ks_options o;
  memset(&o, 0, sizeof(o));
  o.dir = store_dir;
  o.kek_path = kek_path;
  o.kek_fd = -1;
  o.create = create;
  return o;
}

static mg_ks_ctx ctx_now(const char *actor) {
  mg_ks_ctx c;
  c.actor = actor;
  c.now = T_NOW;
  return c;
}

static void id_name(char *buf, size_t cap, uint32_t idx) {
  snprintf(buf, cap, "id-%06u", (unsigned)idx);
}

static void conv_name(char *buf, size_t cap, uint32_t c) {
  snprintf(buf, cap, "conv-%u", (unsigned)c);
}

static void note_name(char *buf, size_t cap, uint32_t n) {
  snprintf(buf, cap, "note-%u", (unsigned)n);
}

/* The group state of (conversation, epoch) that took package |ref|:
 * uint64 epoch || uint32 conversation || ref || filler whose length and
 * bytes depend on both (every 37th epoch 20 KiB more: overflow pages). */
static size_t state_len(uint32_t conv, uint64_t epoch) {
  return 12 + REF_LEN + (size_t)((epoch * 7 + conv) % 11) * 53 +
         (epoch % 37 == 36 ? (size_t)20 << 10 : 0);
}

#define STATE_MAX (12 + REF_LEN + 10 * 53 + (20 << 10))

static void make_state(uint8_t *s, uint32_t conv, uint64_t epoch,
                       const uint8_t *ref) {
  size_t len = state_len(conv, epoch);
  for (int i = 0; i < 8; i++) {
    s[i] = (uint8_t)(epoch >> (56 - 8 * i));
  }
  for (int i = 0; i < 4; i++) {
    s[8 + i] = (uint8_t)(conv >> (24 - 8 * i));
  }
  memcpy(s + 12, ref, REF_LEN);
  for (size_t i = 12 + REF_LEN; i < len; i++) {
    s[i] = (uint8_t)(epoch * 151 + conv * 17 + i);
  }
}

/* ---------------------------------------------------------------- child */

typedef struct child_state {
  mg_keystore *ks;
  uint32_t num_ids;               /* id-000000 .. */
  uint64_t epoch[NUM_CONV];       /* MG_KS_EPOCH_NONE: no state */
  uint8_t (*refs)[REF_LEN];       /* generated in this life, not taken */
  size_t refs_head, refs_tail;    /* queue [head, tail) */
  uint32_t *versions;             /* active version per identity */
  uint32_t notes;
} child_state;

static int count_ids(void *arg, const mg_ks_identity *id) {
  child_state *c = arg;
  unsigned idx = 0;
  char tail = 0;
  if (sscanf(id->name, "id-%6u%c", &idx, &tail) == 1 && idx < MAX_IDS) {
    c->versions[idx] = id->active_version;
    if (idx + 1 > c->num_ids) {
      c->num_ids = idx + 1;
    }
  }
  return 0;
}

typedef struct epoch_arg {
  const char *conv;
  uint64_t epoch;
} epoch_arg;

static int epoch_txn(mg_ks_txn *txn, void *p) {
  epoch_arg *a = p;
  uint8_t *st = NULL;
  size_t st_len = 0;
  int rc = mg_ks_group_load(txn, a->conv, &a->epoch, &st, &st_len);
  mg_free_secret(st, st_len);
  if (rc == MG_ERR_NOT_FOUND) {
    a->epoch = MG_KS_EPOCH_NONE;
    rc = 0;
  }
  return rc;
}

typedef struct gen_collect {
  ack_rec *ack;
} gen_collect;

static int gen_fn(void *arg, const uint8_t *ref, size_t ref_len,
                  const uint8_t *kp, size_t kp_len) {
  gen_collect *g = arg;
  (void)kp;
  (void)kp_len;
  if (ref_len != REF_LEN || g->ack->num_refs >= 3) {
    return MG_ERR_INTERNAL;
  }
  memcpy(g->ack->refs[g->ack->num_refs++], ref, REF_LEN);
  return 0;
}

typedef struct save_arg {
  mg_keystore *ks;
  const char *conv;
  uint64_t expected, next;
  const uint8_t *state;
  size_t state_len;
  const uint8_t *ref;
} save_arg;

static int save_take_txn(mg_ks_txn *txn, void *p) {
  save_arg *a = p;
  mg_ks_ctx ctx = ctx_now("crash-child");
  mls_key_package kp;
  mls_key_package_priv priv;
  int rc;
  memset(&kp, 0, sizeof(kp));
  memset(&priv, 0, sizeof(priv));
  rc = mg_ks_group_save(a->ks, txn, &ctx, a->conv, a->expected, a->next,
                        a->state, a->state_len);
  if (rc == 0) {
    rc = mg_ks_kp_take(a->ks, txn, &ctx, POOL, a->ref, REF_LEN, &kp, &priv);
  }
  if (rc == 0) {
    mls_key_package_cleanup(&kp);
    mls_key_package_priv_cleanup(&priv);
  }
  return rc;
}

static void child_ack(int fd, const ack_rec *a) {
  if (write(fd, a, sizeof(*a)) != (ssize_t)sizeof(*a)) {
    _exit(4);
  }
}

static void child_fail(const char *what, int rc) {
  fprintf(stderr, "keystore_crash child: %s: %s\n", what, mg_err_name(rc));
  _exit(3);
}

static void child_main(int ack_fd) {
  child_state c;
  mg_ks_options o = store_opts(0);
  mg_ks_ctx ctx = ctx_now("crash-child");
  uint8_t *state = malloc(STATE_MAX);
  char name[MG_KS_NAME_MAX + 1];
  char conv[32];
  int rc;

  memset(&c, 0, sizeof(c));
  c.refs = calloc(MAX_REFS, REF_LEN);
  c.versions = calloc(MAX_IDS, sizeof(*c.versions));
  if (state == NULL || c.refs == NULL || c.versions == NULL) {
    _exit(3);
  }
  rc = mg_ks_open(&c.ks, &o);
  if (rc != 0) {
    child_fail("open", rc);
  }
  /* What is in the store: the identities and group epochs. */
  rc = mg_ks_identity_list(c.ks, count_ids, &c);
  if (rc != 0) {
    child_fail("identity list", rc);
  }
  for (uint32_t i = 0; i < NUM_CONV; i++) {
    epoch_arg ea;
    conv_name(conv, sizeof(conv), i);
    ea.conv = conv;
    ea.epoch = 0;
    rc = mg_ks_view(c.ks, epoch_txn, &ea);
    if (rc != 0) {
      child_fail("group load", rc);
    }
    c.epoch[i] = ea.epoch;
  }
  {
    ack_rec a;
    memset(&a, 0, sizeof(a));
    a.kind = OP_READY;
    child_ack(ack_fd, &a);
  }

  for (;;) {
    ack_rec a;
    uint64_t r = rng_next();
    unsigned pick = (unsigned)(r % 100);
    memset(&a, 0, sizeof(a));
    if (pick < 10 || (c.num_ids == 0 && pick < 35)) {
      if (c.num_ids >= MAX_IDS) {
        continue;
      }
      id_name(name, sizeof(name), c.num_ids);
      rc = mg_ks_identity_create(c.ks, &ctx, name, SUITE, 0, NULL);
      if (rc != 0) {
        child_fail("identity create", rc);
      }
      a.kind = OP_CREATE;
      a.idx = c.num_ids;
      a.value = 1;
      c.versions[c.num_ids++] = 1;
    } else if (pick < 35) {
      uint32_t idx = (uint32_t)((r >> 20) % c.num_ids);
      mg_ks_key_info k;
      id_name(name, sizeof(name), idx);
      rc = mg_ks_identity_rotate(c.ks, &ctx, name, &k);
      if (rc != 0) {
        child_fail("identity rotate", rc);
      }
      if (k.version != c.versions[idx] + 1) {
        child_fail("rotate: not the next version", MG_ERR_INTERNAL);
      }
      a.kind = OP_ROTATE;
      a.idx = idx;
      a.value = k.version;
      c.versions[idx] = k.version;
    } else if (pick < 55 || c.refs_head == c.refs_tail) {
      uint32_t count = 1 + (uint32_t)((r >> 24) % 3);
      gen_collect g = {&a};
      if (c.refs_tail + count > MAX_REFS) {
        pause(); /* enough for this life; wait for the kill */
      }
      rc = mg_ks_kp_generate(c.ks, &ctx, POOL, count, 0, gen_fn, &g);
      if (rc != 0 || a.num_refs != count) {
        child_fail("kp generate", rc);
      }
      a.kind = OP_GENERATE;
      a.idx = 0;
      a.value = count;
      /* Usable only once the parent knows them (acknowledged below). */
      memcpy(c.refs[c.refs_tail], a.refs, (size_t)count * REF_LEN);
      c.refs_tail += count;
    } else if (pick < 90) {
      uint32_t ci = (uint32_t)((r >> 20) % NUM_CONV);
      uint64_t cur = c.epoch[ci];
      uint64_t next = cur == MG_KS_EPOCH_NONE ? 0 : cur + 1;
      save_arg sa;
      conv_name(conv, sizeof(conv), ci);
      make_state(state, ci, next, c.refs[c.refs_head]);
      sa.ks = c.ks;
      sa.conv = conv;
      sa.expected = cur;
      sa.next = next;
      sa.state = state;
      sa.state_len = state_len(ci, next);
      sa.ref = c.refs[c.refs_head];
      rc = mg_ks_transact(c.ks, save_take_txn, &sa);
      if (rc != 0) {
        child_fail("group save + kp take", rc);
      }
      a.kind = OP_SAVE;
      a.idx = ci;
      a.value = next;
      a.num_refs = 1;
      memcpy(a.refs[0], c.refs[c.refs_head], REF_LEN);
      c.refs_head++;
      c.epoch[ci] = next;
    } else if (pick >= 95) {
      rc = mg_ks_identity_rotate(c.ks, &ctx, GHOST, NULL);
      if (rc != MG_ERR_NOT_FOUND) {
        child_fail("rotate of a missing identity", rc);
      }
      a.kind = OP_DENIED;
    } else {
      mg_ks_audit au;
      char note[32];
      uint32_t n = c.notes++;
      note_name(note, sizeof(note), n);
      memset(&au, 0, sizeof(au));
      au.action = "crash.note";
      au.object = note;
      au.result = n % 3 == 2 ? MG_ERR_NOT_FOUND : 0;
      rc = mg_ks_audit_record(c.ks, &ctx, &au);
      if (rc != 0) {
        child_fail("audit record", rc);
      }
      a.kind = OP_NOTE;
      a.idx = n;
      a.value = (uint64_t)(-(int64_t)au.result);
    }
    child_ack(ack_fd, &a);
  }
}

/* --------------------------------------------------------------- parent */

/* An expected audit entry. */
typedef struct exp_entry {
  char action[32];
  char object[96];
  char result[32];
} exp_entry;

typedef struct model {
  uint32_t num_ids;
  uint32_t *versions;           /* acknowledged active version */
  uint64_t epoch[NUM_CONV];     /* MG_KS_EPOCH_NONE: none */
  uint8_t conv_ref[NUM_CONV][REF_LEN];
  uint8_t (*refs)[REF_LEN];     /* every acknowledged package */
  uint8_t *taken;               /* per ref */
  size_t num_refs;
  uint64_t orphans;             /* packages committed without their ack */
  exp_entry *exp;               /* entries expected since audit_size */
  size_t num_exp, cap_exp;
  uint64_t audit_size;          /* the log's size after the last check */
  uint64_t acked_entries;       /* audit entries acknowledged, in total */
  char *last_note;              /* the last signed checkpoint */
  size_t last_note_len;
} model;

static int expect(model *m, const char *action, const char *object,
                  const char *result) {
  if (m->num_exp == m->cap_exp) {
    size_t cap = m->cap_exp == 0 ? 256 : 2 * m->cap_exp;
    exp_entry *e = realloc(m->exp, cap * sizeof(*e));
    if (e == NULL) {
      return -1;
    }
    m->exp = e;
    m->cap_exp = cap;
  }
  exp_entry *e = &m->exp[m->num_exp++];
  snprintf(e->action, sizeof(e->action), "%s", action);
  snprintf(e->object, sizeof(e->object), "%s", object);
  snprintf(e->result, sizeof(e->result), "%s", result);
  m->acked_entries++;
  return 0;
}

static void ref_object(char *buf, size_t cap, const uint8_t *ref) {
  char hex[2 * REF_LEN + 1];
  mg_hex_encode(hex, ref, REF_LEN);
  snprintf(buf, cap, "%s/%s", POOL, hex);
}

static long find_ref(const model *m, const uint8_t *ref) {
  for (size_t i = m->num_refs; i-- > 0;) {
    if (memcmp(m->refs[i], ref, REF_LEN) == 0) {
      return (long)i;
    }
  }
  return -1;
}

static char fail_msg[512];

static int failf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(fail_msg, sizeof(fail_msg), fmt, ap);
  va_end(ap);
  return -1;
}

/* apply_ack updates the model with one acknowledgement; -1 if it is not
 * the operation that could come next. */
static int apply_ack(model *m, const ack_rec *a, int *ready) {
  char name[MG_KS_NAME_MAX + 1], obj[96];
  switch (a->kind) {
    case OP_READY:
      *ready = 1;
      return 0;
    case OP_CREATE:
      if (a->idx != m->num_ids || a->idx >= MAX_IDS) {
        return failf("ack: created id %u, expected %u", a->idx, m->num_ids);
      }
      m->versions[m->num_ids++] = 1;
      id_name(name, sizeof(name), a->idx);
      return expect(m, "identity.create", name, "ok");
    case OP_ROTATE:
      if (a->idx >= m->num_ids || a->value != m->versions[a->idx] + 1) {
        return failf("ack: rotate of %u to v%" PRIu64, a->idx, a->value);
      }
      m->versions[a->idx] = (uint32_t)a->value;
      id_name(name, sizeof(name), a->idx);
      return expect(m, "identity.rotate", name, "ok");
    case OP_GENERATE:
      if (a->num_refs != a->value || a->num_refs < 1 || a->num_refs > 3 ||
          m->num_refs + a->num_refs > 4 * (size_t)MAX_REFS) {
        return failf("ack: generate of %u", a->num_refs);
      }
      for (uint32_t i = 0; i < a->num_refs; i++) {
        memcpy(m->refs[m->num_refs], a->refs[i], REF_LEN);
        m->taken[m->num_refs++] = 0;
      }
      return expect(m, "keypackage.generate", POOL, "ok");
    case OP_SAVE: {
      long r = find_ref(m, a->refs[0]);
      uint64_t cur = m->epoch[a->idx < NUM_CONV ? a->idx : 0];
      uint64_t next = cur == MG_KS_EPOCH_NONE ? 0 : cur + 1;
      if (a->idx >= NUM_CONV || a->value != next || r < 0 || m->taken[r]) {
        return failf("ack: save of conv %u at %" PRIu64, a->idx, a->value);
      }
      m->epoch[a->idx] = next;
      memcpy(m->conv_ref[a->idx], a->refs[0], REF_LEN);
      m->taken[r] = 1;
      conv_name(name, sizeof(name), a->idx);
      ref_object(obj, sizeof(obj), a->refs[0]);
      if (expect(m, "group.save", name, "ok") < 0) {
        return -1;
      }
      return expect(m, "keypackage.take", obj, "ok");
    }
    case OP_DENIED:
      return expect(m, "identity.rotate", GHOST, "MG_ERR_NOT_FOUND");
    case OP_NOTE:
      note_name(name, sizeof(name), a->idx);
      return expect(m, "crash.note", name,
                    a->value == 0 ? "ok"
                                  : mg_err_name(-(int)(int64_t)a->value));
    default:
      return failf("ack: unknown kind %u", a->kind);
  }
}

/* ------------------------------------------------- checks after a kill */

/* Every record of the tables in [first, last] opens. */
typedef struct open_all_arg {
  int full;
  uint64_t records;
  int tb_bad;
  int rc_bad;
} open_all_arg;

static int open_all_txn(mg_kv_txn *txn, void *p) {
  open_all_arg *a = p;
  a->records = 0;
  for (int tb = MG_KV_META + 1; tb < MG_KV_NUM_TABLES; tb++) {
    ks_keylist keys;
    int rc;
    if (!a->full && (tb == MG_KV_AUDIT || tb == MG_KV_AUDIT_TREE)) {
      continue;
    }
    memset(&keys, 0, sizeof(keys));
    rc = ks_keylist_collect(txn, (mg_kv_table)tb, NULL, 0, &keys);
    for (size_t i = 0; rc == 0 && i < keys.n; i++) {
      uint8_t *pt = NULL;
      size_t pt_len = 0;
      uint64_t ver = 0;
      rc = mg_kv_get_sealed(txn, (mg_kv_table)tb, keys.keys[i], keys.lens[i],
                            &ver, &pt, &pt_len);
      mg_free_secret(pt, pt_len);
      a->records++;
    }
    ks_keylist_free(&keys);
    if (rc != 0) {
      a->tb_bad = tb;
      a->rc_bad = rc;
      return rc;
    }
  }
  return 0;
}

typedef struct kp_present_arg {
  const uint8_t *ref;
  int present;
} kp_present_arg;

static int kp_present_txn(mg_kv_txn *txn, void *p) {
  kp_present_arg *a = p;
  uint8_t key[MG_KS_KEY_BUF];
  size_t n = ks_prefix(key, POOL);
  uint8_t *v = NULL;
  size_t vl = 0;
  int rc;
  key[n++] = (uint8_t)(SUITE >> 8);
  key[n++] = (uint8_t)SUITE;
  memcpy(key + n, a->ref, REF_LEN);
  n += REF_LEN;
  rc = mg_kv_get(txn, MG_KV_KEY_PACKAGES, key, n, &v, &vl);
  free(v);
  if (rc == MG_ERR_NOT_FOUND) {
    a->present = 0;
    return 0;
  }
  a->present = rc == 0;
  return rc;
}

typedef struct group_arg {
  const char *conv;
  uint64_t epoch;
  uint8_t *state;
  size_t state_len;
} group_arg;

static int group_txn(mg_ks_txn *txn, void *p) {
  group_arg *a = p;
  mg_free_secret(a->state, a->state_len);
  a->state = NULL;
  a->state_len = 0;
  return mg_ks_group_load(txn, a->conv, &a->epoch, &a->state, &a->state_len);
}

typedef struct audit_check {
  const model *m;
  size_t next;        /* the next expected entry */
  exp_entry extra[2]; /* what came after the expected ones */
  size_t num_extra;
  int bad;
} audit_check;

static int audit_check_fn(void *arg, uint64_t seq, const char *entry,
                          size_t entry_len,
                          const uint8_t leaf_hash[MG_TLOG_HASH_LEN]) {
  audit_check *c = arg;
  json_error_t jerr;
  json_t *j = json_loadb(entry, entry_len, 0, &jerr);
  const char *action, *object, *result;
  json_t *jseq;
  (void)leaf_hash;
  if (j == NULL) {
    c->bad = failf("audit entry %" PRIu64 " is not JSON", seq);
    return MG_ERR_INTERNAL;
  }
  action = json_string_value(json_object_get(j, "action"));
  object = json_string_value(json_object_get(j, "object"));
  result = json_string_value(json_object_get(j, "result"));
  jseq = json_object_get(j, "seq");
  if (action == NULL || object == NULL || result == NULL ||
      !json_is_integer(jseq) || (uint64_t)json_integer_value(jseq) != seq) {
    json_decref(j);
    c->bad = failf("audit entry %" PRIu64 " malformed", seq);
    return MG_ERR_INTERNAL;
  }
  if (c->next < c->m->num_exp) {
    const exp_entry *e = &c->m->exp[c->next];
    if (strcmp(e->action, action) != 0 || strcmp(e->object, object) != 0 ||
        strcmp(e->result, result) != 0) {
      c->bad = failf("audit entry %" PRIu64 " is %s %s %s, acknowledged %s "
                     "%s %s",
                     seq, action, object, result, e->action, e->object,
                     e->result);
      json_decref(j);
      return MG_ERR_INTERNAL;
    }
    c->next++;
  } else if (c->num_extra < 2) {
    exp_entry *e = &c->extra[c->num_extra++];
    snprintf(e->action, sizeof(e->action), "%s", action);
    snprintf(e->object, sizeof(e->object), "%s", object);
    snprintf(e->result, sizeof(e->result), "%s", result);
  } else {
    c->bad = failf("audit entry %" PRIu64 " (%s %s): more than one "
                   "unacknowledged operation",
                   seq, action, object);
    json_decref(j);
    return MG_ERR_INTERNAL;
  }
  json_decref(j);
  return 0;
}

/* check_store runs every check after a kill on the reopened store and
 * adopts the operation found committed without its ack.  Returns 0 or -1
 * (fail_msg says why). */
static int check_store(mg_keystore *ks, model *m, int full, uint64_t *records,
                       int *in_flight) {
  char name[MG_KS_NAME_MAX + 1], conv[32], obj[96];
  int extras = 0;
  int extra_create = 0, extra_rotate = -1, extra_save = -1;
  uint64_t extra_kps = 0;
  long extra_save_ref = -1;
  uint8_t *want = malloc(STATE_MAX);
  mg_ks_ctx ctx = ctx_now("crash-parent");
  int rc;

  *in_flight = 0;
  if (want == NULL) {
    return failf("out of memory");
  }
  /* Every record opens. */
  {
    open_all_arg oa;
    memset(&oa, 0, sizeof(oa));
    oa.full = full;
    rc = mg_kv_read(ks->kv, open_all_txn, &oa);
    *records = oa.records;
    if (rc != 0) {
      free(want);
      return failf("a record of table %d does not open: %s", oa.tb_bad,
                   mg_err_name(oa.rc_bad != 0 ? oa.rc_bad : rc));
    }
  }
  /* Identities: each at its acknowledged version, or one ahead. */
  for (uint32_t i = 0; i <= m->num_ids && i < MAX_IDS; i++) {
    mg_ks_identity id;
    memset(&id, 0, sizeof(id));
    id_name(name, sizeof(name), i);
    rc = mg_ks_identity_get(ks, name, &id);
    if (i == m->num_ids) {
      if (rc == 0) {
        extra_create = 1;
        extras++;
        if (id.active_version != 1) {
          rc = failf("%s committed unacknowledged at v%u", name,
                     id.active_version);
        }
      } else if (rc != MG_ERR_NOT_FOUND) {
        rc = failf("%s: %s", name, mg_err_name(rc));
      } else {
        rc = 0;
      }
      mg_ks_identity_cleanup(&id);
      if (rc != 0) {
        free(want);
        return -1;
      }
      break;
    }
    if (rc != 0) {
      free(want);
      return failf("acknowledged %s: %s", name, mg_err_name(rc));
    }
    if (id.active_version == m->versions[i] + 1) {
      extra_rotate = (int)i;
      extras++;
    } else if (id.active_version != m->versions[i]) {
      rc = failf("%s at v%u, acknowledged v%u", name, id.active_version,
                 m->versions[i]);
    }
    if (rc == 0 && id.num_keys != id.active_version) {
      rc = failf("%s has %zu keys at v%u", name, id.num_keys,
                 id.active_version);
    }
    mg_ks_identity_cleanup(&id);
    if (rc != 0) {
      free(want);
      return -1;
    }
  }
  /* Conversations: the acknowledged epoch with its bytes, or one ahead
   * with an acknowledged, untaken package. */
  for (uint32_t ci = 0; ci < NUM_CONV; ci++) {
    group_arg ga;
    uint64_t acked = m->epoch[ci];
    memset(&ga, 0, sizeof(ga));
    conv_name(conv, sizeof(conv), ci);
    ga.conv = conv;
    rc = mg_ks_view(ks, group_txn, &ga);
    if (rc == MG_ERR_NOT_FOUND) {
      if (acked != MG_KS_EPOCH_NONE) {
        free(want);
        return failf("%s lost (acknowledged epoch %" PRIu64 ")", conv, acked);
      }
      continue;
    }
    if (rc != 0) {
      free(want);
      return failf("%s: %s", conv, mg_err_name(rc));
    }
    uint64_t next = acked == MG_KS_EPOCH_NONE ? 0 : acked + 1;
    if (ga.state_len < 12 + REF_LEN) {
      rc = failf("%s: short state", conv);
    } else if (ga.epoch == next) {
      extra_save = (int)ci;
      extras++;
      extra_save_ref = find_ref(m, ga.state + 12);
      if (extra_save_ref < 0 || m->taken[extra_save_ref]) {
        rc = failf("%s at unacknowledged epoch %" PRIu64
                   " with a package not acknowledged or already taken",
                   conv, ga.epoch);
      }
    } else if (acked == MG_KS_EPOCH_NONE || ga.epoch != acked) {
      rc = failf("%s at epoch %" PRIu64 ", acknowledged %" PRIu64, conv,
                 ga.epoch, acked);
    } else if (memcmp(ga.state + 12, m->conv_ref[ci], REF_LEN) != 0) {
      rc = failf("%s epoch %" PRIu64 ": not the acknowledged package", conv,
                 ga.epoch);
    }
    if (rc == 0) {
      make_state(want, ci, ga.epoch, ga.state + 12);
      if (ga.state_len != state_len(ci, ga.epoch) ||
          memcmp(ga.state, want, ga.state_len) != 0) {
        rc = failf("%s epoch %" PRIu64 ": state bytes are not that epoch's",
                   conv, ga.epoch);
      }
    }
    mg_free_secret(ga.state, ga.state_len);
    if (rc != 0) {
      free(want);
      return -1;
    }
  }
  free(want);
  /* Packages: taken ones gone (with the in-flight save's), others there. */
  uint64_t present = 0;
  for (size_t i = 0; i < m->num_refs; i++) {
    kp_present_arg pa = {m->refs[i], 0};
    int gone_expected = m->taken[i] || (long)i == extra_save_ref;
    rc = mg_kv_read(ks->kv, kp_present_txn, &pa);
    if (rc != 0) {
      return failf("package %zu: %s", i, mg_err_name(rc));
    }
    if (pa.present == gone_expected) {
      return failf("package %zu is %s, expected %s (%s): a save and its "
                   "take were not applied together",
                   i, pa.present ? "there" : "gone",
                   gone_expected ? "gone" : "there",
                   m->taken[i]                    ? "acknowledged taken"
                   : (long)i == extra_save_ref ? "the in-flight save's"
                                                  : "never taken");
    }
    present += (uint64_t)pa.present;
  }
  {
    mg_ks_kp_counts st;
    rc = mg_ks_kp_stats(ks, POOL, T_NOW, &st);
    if (rc != 0) {
      return failf("kp stats: %s", mg_err_name(rc));
    }
    if (st.unused < present + m->orphans ||
        st.unused > present + m->orphans + 3) {
      return failf("%" PRIu64 " packages, %" PRIu64 " acknowledged there and "
                   "%" PRIu64 " from unacknowledged generates",
                   st.unused, present, m->orphans);
    }
    extra_kps = st.unused - present - m->orphans;
    if (extra_kps > 0) {
      extras++;
    }
  }
  if (extras > 1) {
    return failf("%d operations committed without their ack", extras);
  }
  /* The audit log: the acknowledged entries in order, then the in-flight
   * operation's, nothing else. */
  {
    audit_check ac;
    uint64_t size = 0;
    memset(&ac, 0, sizeof(ac));
    ac.m = m;
    rc = mg_ks_audit_entries(ks, m->audit_size, UINT64_MAX, audit_check_fn,
                             &ac, &size);
    if (ac.bad != 0) {
      return -1;
    }
    if (rc != 0) {
      return failf("audit entries: %s", mg_err_name(rc));
    }
    if (ac.next != m->num_exp) {
      return failf("audit log has %" PRIu64 " entries: acknowledged entry %zu"
                   " (%s %s) missing",
                   size, ac.next, m->exp[ac.next].action,
                   m->exp[ac.next].object);
    }
    if (extras == 0 && ac.num_extra == 1 &&
        (strcmp(ac.extra[0].action, "crash.note") == 0 ||
         (strcmp(ac.extra[0].action, "identity.rotate") == 0 &&
          strcmp(ac.extra[0].object, GHOST) == 0 &&
          strcmp(ac.extra[0].result, "MG_ERR_NOT_FOUND") == 0))) {
      extras = 1; /* a note or a refusal recorded without its ack */
      rc = 1;
    } else if (extra_create) {
      id_name(name, sizeof(name), m->num_ids);
      rc = ac.num_extra == 1 &&
           strcmp(ac.extra[0].action, "identity.create") == 0 &&
           strcmp(ac.extra[0].object, name) == 0;
    } else if (extra_rotate >= 0) {
      id_name(name, sizeof(name), (uint32_t)extra_rotate);
      rc = ac.num_extra == 1 &&
           strcmp(ac.extra[0].action, "identity.rotate") == 0 &&
           strcmp(ac.extra[0].object, name) == 0;
    } else if (extra_kps > 0) {
      rc = ac.num_extra == 1 &&
           strcmp(ac.extra[0].action, "keypackage.generate") == 0;
    } else if (extra_save >= 0) {
      conv_name(conv, sizeof(conv), (uint32_t)extra_save);
      ref_object(obj, sizeof(obj), m->refs[extra_save_ref]);
      rc = ac.num_extra == 2 &&
           strcmp(ac.extra[0].action, "group.save") == 0 &&
           strcmp(ac.extra[0].object, conv) == 0 &&
           strcmp(ac.extra[1].action, "keypackage.take") == 0 &&
           strcmp(ac.extra[1].object, obj) == 0;
    } else {
      rc = ac.num_extra == 0;
    }
    if (!rc) {
      return failf("the audit log's %zu unacknowledged entries (%s %s) are "
                   "not the in-flight operation's",
                   ac.num_extra, ac.num_extra > 0 ? ac.extra[0].action : "-",
                   ac.num_extra > 0 ? ac.extra[0].object : "-");
    }
  }
  /* Adopt the in-flight operation. */
  *in_flight = extras;
  if (extra_create) {
    m->versions[m->num_ids++] = 1;
  } else if (extra_rotate >= 0) {
    m->versions[extra_rotate]++;
  } else if (extra_save >= 0) {
    m->epoch[extra_save] =
        m->epoch[extra_save] == MG_KS_EPOCH_NONE ? 0 : m->epoch[extra_save] + 1;
    memcpy(m->conv_ref[extra_save], m->refs[extra_save_ref], REF_LEN);
    m->taken[extra_save_ref] = 1;
  }
  m->orphans += extra_kps;

  /* Sign a checkpoint, export, verify offline against the previous
   * cycle's checkpoint. */
  {
    char *note = NULL, *vkey = NULL;
    size_t note_len = 0;
    uint64_t cp_size = 0, exp_size = 0, size = 0;
    mg_audit_verify_result res;
    FILE *f;
    rc = mg_ks_audit_checkpoint(ks, &ctx, &note, &note_len, &cp_size);
    if (rc != 0) {
      return failf("audit checkpoint: %s", mg_err_name(rc));
    }
    rc = mg_ks_audit_verifier(ks, &vkey);
    if (rc != 0) {
      free(note);
      return failf("audit verifier: %s", mg_err_name(rc));
    }
    f = fopen(export_path, "w+");
    if (f == NULL) {
      free(vkey);
      free(note);
      return failf("%s: %s", export_path, strerror(errno));
    }
    rc = mg_ks_audit_export(ks, &ctx, f, &exp_size);
    if (rc == 0) {
      rewind(f);
      memset(&res, 0, sizeof(res));
      rc = mg_audit_verify(f, vkey, m->last_note, m->last_note_len, &res);
    }
    fclose(f);
    free(vkey);
    /* This checkpoint is the next cycle's --since: the log after the next
     * crash must extend it. */
    free(m->last_note);
    m->last_note = note;
    m->last_note_len = note_len;
    if (rc != 0) {
      return failf("audit export/verify: %s", mg_err_name(rc));
    }
    if (!res.ok) {
      return failf("audit verify: %s (entry %" PRId64 ")", res.reason,
                   res.bad_entry);
    }
    if (res.size < m->acked_entries || res.size != exp_size) {
      return failf("audit log of %" PRIu64 " entries, %" PRIu64
                   " acknowledged",
                   res.size, m->acked_entries);
    }
    rc = mg_ks_audit_entries(ks, 0, 0, audit_check_fn, NULL, &size);
    if (rc != 0) {
      return failf("audit size: %s", mg_err_name(rc));
    }
    /* Everything up to |size| is now accounted for: the acknowledged
     * entries, the in-flight operation's, the two checkpoints above. */
    m->acked_entries = size;
    m->audit_size = size;
    m->num_exp = 0;
  }
  return 0;
}

/* read_acks reads what the pipe holds (waiting up to |wait_ms|) and
 * applies each whole record; |*eof| is set at the end of the stream. */
typedef struct ack_buf {
  uint8_t buf[64 * sizeof(ack_rec)];
  size_t have;
} ack_buf;

static int read_acks(int fd, int wait_ms, ack_buf *b, model *m, int *ready,
                     uint64_t *acks, int *eof) {
  struct pollfd pfd = {fd, POLLIN, 0};
  int pr = poll(&pfd, 1, wait_ms);
  if (pr <= 0) {
    return 0;
  }
  ssize_t got = read(fd, b->buf + b->have, sizeof(b->buf) - b->have);
  if (got <= 0) {
    if (got < 0 && errno == EINTR) {
      return 0;
    }
    *eof = 1;
    return 0;
  }
  b->have += (size_t)got;
  size_t whole = b->have - b->have % sizeof(ack_rec);
  for (size_t i = 0; i < whole; i += sizeof(ack_rec)) {
    ack_rec a;
    memcpy(&a, b->buf + i, sizeof(a));
    if (apply_ack(m, &a, ready) < 0) {
      return -1;
    }
    if (a.kind != OP_READY) {
      (*acks)++;
    }
  }
  memmove(b->buf, b->buf + whole, b->have - whole);
  b->have -= whole;
  return 0;
}

int main(void) {
  int ok = 0;
  double t0 = now_s();
  uint64_t total_acks = 0, records = 0;
  int cycles = 0, kills_before_ready = 0, in_flight_found = 0;
  const char *tmp = getenv("TMPDIR");
  const char *seed_env = getenv("MLSGATE_CRASH_SEED");
  mg_keystore *ks = NULL;
  model m;
  int rc;

  memset(&m, 0, sizeof(m));
  if (mg_crypto_init() != 0) {
    fprintf(stderr, "keystore_crash: crypto init failed\n");
    return 1;
  }
  if (seed_env != NULL) {
    rng_state = strtoull(seed_env, NULL, 0);
  } else if (mg_random_bytes((uint8_t *)&rng_state, sizeof(rng_state)) != 0) {
    return 1;
  }
  if (rng_state == 0) {
    rng_state = 1;
  }
  printf("keystore_crash: seed 0x%016" PRIx64 "\n", rng_state);
  m.versions = calloc(MAX_IDS, sizeof(*m.versions));
  m.refs = calloc(4 * (size_t)MAX_REFS, REF_LEN);
  m.taken = calloc(4 * (size_t)MAX_REFS, 1);
  if (m.versions == NULL || m.refs == NULL || m.taken == NULL) {
    return 1;
  }
  for (int i = 0; i < NUM_CONV; i++) {
    m.epoch[i] = MG_KS_EPOCH_NONE;
  }
  snprintf(root, sizeof(root), "%s/mlsgate-kscrash-XXXXXX",
           tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
  if (mkdtemp(root) == NULL) {
    perror("keystore_crash: mkdtemp");
    return 1;
  }
  snprintf(store_dir, sizeof(store_dir), "%s/store", root);
  snprintf(kek_path, sizeof(kek_path), "%s/kek", root);
  snprintf(export_path, sizeof(export_path), "%s/export.jsonl", root);

  /* The store and the identity whose pool the child draws from. */
  {
    mg_ks_options oc = store_opts(1);
    mg_ks_ctx ctx = ctx_now("crash-parent");
    uint64_t size = 0;
    rc = mg_kv_kek_generate(kek_path);
    if (rc == 0) {
      rc = mg_ks_open(&ks, &oc);
    }
    if (rc == 0) {
      rc = mg_ks_identity_create(ks, &ctx, POOL, SUITE, 0, NULL);
    }
    if (rc == 0) {
      rc = mg_ks_audit_entries(ks, 0, 0, audit_check_fn, NULL, &size);
    }
    mg_ks_close(ks);
    ks = NULL;
    if (rc != 0) {
      fprintf(stderr, "keystore_crash: create: %s\n", mg_err_name(rc));
      goto out;
    }
    m.audit_size = size;
    m.acked_entries = size;
  }
  /* A write to a pipe whose reader is gone must fail, not kill. */
  signal(SIGPIPE, SIG_IGN);

  for (cycles = 0; cycles < CYCLES || (total_acks < MIN_ACKS &&
                                       now_s() - t0 < MAX_SECONDS);
       cycles++) {
    int p[2];
    ack_buf ab;
    int ready = 0, eof = 0, in_flight = 0;
    if (now_s() - t0 > HARD_SECONDS) {
      fprintf(stderr, "keystore_crash: only %d cycles in %.0f s\n", cycles,
              HARD_SECONDS);
      goto out;
    }
    if (pipe(p) != 0) {
      perror("keystore_crash: pipe");
      goto out;
    }
    uint64_t r = rng_next();
    uint64_t child_seed = rng_next() | 1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
      perror("keystore_crash: fork");
      goto out;
    }
    if (pid == 0) {
      close(p[0]);
      rng_state = child_seed;
      child_main(p[1]);
      _exit(5);
    }
    close(p[1]);
    ab.have = 0;
    /* A quarter of the kills 0-5 ms after the fork (during open and
     * recovery), half 1-20 ms after the child is ready, a quarter 20-150 ms
     * after (longer lives: more operations per reopening). */
    double delay_ms;
    if (r % 4 == 0) {
      delay_ms = (double)((r >> 8) % 6);
    } else {
      double give_up = now_s() + 30.0; /* a loaded machine */
      while (!ready && !eof && now_s() < give_up) {
        if (read_acks(p[0], 100, &ab, &m, &ready, &total_acks, &eof) < 0) {
          kill(pid, SIGKILL);
          (void)waitpid(pid, NULL, 0);
          fprintf(stderr, "keystore_crash: cycle %d: %s\n", cycles, fail_msg);
          goto out;
        }
      }
      delay_ms = r % 4 == 3 ? 20.0 + (double)((r >> 8) % 131)
                            : 1.0 + (double)((r >> 8) % 20);
    }
    double deadline = now_s() + delay_ms / 1e3;
    for (;;) {
      double left = deadline - now_s();
      if (left <= 0 || eof) {
        break;
      }
      if (read_acks(p[0], (int)(left * 1e3) + 1, &ab, &m, &ready, &total_acks,
                    &eof) < 0) {
        kill(pid, SIGKILL);
        (void)waitpid(pid, NULL, 0);
        fprintf(stderr, "keystore_crash: cycle %d: %s\n", cycles, fail_msg);
        goto out;
      }
    }
    kill(pid, SIGKILL);
    /* What was acknowledged before the kill. */
    while (!eof) {
      if (read_acks(p[0], 1000, &ab, &m, &ready, &total_acks, &eof) < 0) {
        (void)waitpid(pid, NULL, 0);
        fprintf(stderr, "keystore_crash: cycle %d: %s\n", cycles, fail_msg);
        goto out;
      }
    }
    close(p[0]);
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) {
      perror("keystore_crash: waitpid");
      goto out;
    }
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
      fprintf(stderr, "keystore_crash: cycle %d: the child failed (status "
                      "%d)\n",
              cycles, status);
      goto out;
    }
    if (!ready) {
      kills_before_ready++;
    }

    mg_ks_options o = store_opts(0);
    rc = mg_ks_open(&ks, &o);
    if (rc != 0) {
      fprintf(stderr, "keystore_crash: cycle %d: reopen: %s\n", cycles,
              mg_err_name(rc));
      goto out;
    }
    int full = cycles % 8 == 7;
    rc = check_store(ks, &m, full, &records, &in_flight);
    mg_ks_close(ks);
    ks = NULL;
    if (rc != 0) {
      fprintf(stderr, "keystore_crash: cycle %d (seed above): %s\n", cycles,
              fail_msg);
      goto out;
    }
    in_flight_found += in_flight;
  }
  /* A last full check: every record of every table opens. */
  {
    mg_ks_options o = store_opts(0);
    int in_flight = 0;
    rc = mg_ks_open(&ks, &o);
    if (rc != 0) {
      fprintf(stderr, "keystore_crash: final open: %s\n", mg_err_name(rc));
      goto out;
    }
    rc = check_store(ks, &m, 1, &records, &in_flight);
    mg_ks_close(ks);
    ks = NULL;
    if (rc != 0 || in_flight != 0) {
      fprintf(stderr, "keystore_crash: final check: %s\n",
              rc != 0 ? fail_msg : "a change without an operation");
      goto out;
    }
  }
  ok = 1;
  printf("keystore_crash: %d kills, %" PRIu64 " acknowledged operations "
         "(%u identities, %zu packages made, %d in-flight operations found "
         "committed), %d kills before the child was ready, audit log of "
         "%" PRIu64 " entries, %" PRIu64 " records opened, %.1f s: every "
         "acknowledged operation present, none half-applied, every record "
         "opens, the audit log verifies and extends the previous checkpoint\n",
         cycles, total_acks, m.num_ids, m.num_refs, in_flight_found,
         kills_before_ready, m.audit_size, records, now_s() - t0);
out:
  mg_ks_close(ks);
  free(m.versions);
  free(m.refs);
  free(m.taken);
  free(m.exp);
  free(m.last_note);
  (void)nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  return ok ? 0 : 1;
}
