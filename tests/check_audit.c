/*
 * Tests for the audit log (src/keystore/audit.c, audit_verify.c): entries
 * appended in transactions, the stored Merkle tree against one rebuilt from
 * the entries, inclusion and consistency proofs, signed checkpoints that
 * always extend the previous one, keyed content hashes, and the offline
 * verification of an export, which names the entry that was altered,
 * removed or reordered.
 */
#define _GNU_SOURCE /* memmem, strndup, getline */
#include "config.h"

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/guard.h"
#include "common/hex.h"
#include "crypto/crypto.h"
#include "keystore/audit.h"
#include "keystore/keystore.h"
#include "keystore/kv.h"
#include "keystore/note.h"
#include "keystore/tlog.h"

static char dir[256];
static char kek[300];

static mg_keystore *open_store(void) {
  mg_keystore *ks = NULL;
  mg_ks_options o;
  ck_assert_int_eq(mg_crypto_init(), 0);
  snprintf(dir, sizeof(dir), "/tmp/mg-audit-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(kek, sizeof(kek), "%s/kek", dir);
  ck_assert_int_eq(mg_kv_kek_generate(kek), 0);
  memset(&o, 0, sizeof(o));
  o.dir = dir;
  o.kek_path = kek;
  o.kek_fd = -1;
  o.create = 1;
  ck_assert_int_eq(mg_ks_open(&ks, &o), 0);
  return ks;
}

static void remove_store(void) {
  char cmd[400];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
}

static void append_n(mg_keystore *ks, int n, int with_content) {
  mg_ks_ctx ctx = {"test", 1800000000};
  for (int i = 0; i < n; i++) {
    mg_ks_audit a;
    char obj[32];
    uint8_t kid[1][MG_KS_KEY_ID_LEN];
    memset(kid, i & 0xff, sizeof(kid));
    snprintf(obj, sizeof(obj), "conv-%d", i);
    memset(&a, 0, sizeof(a));
    a.action = "test.op";
    a.object = obj;
    a.key_ids = (const uint8_t(*)[MG_KS_KEY_ID_LEN])kid;
    a.num_key_ids = 1;
    if (with_content) {
      a.content = (const uint8_t *)"123456";
      a.content_len = 6;
    }
    a.result = (i % 7 == 3) ? MG_ERR_CONFLICT : 0;
    ck_assert_int_eq(mg_ks_audit_record(ks, &ctx, &a), 0);
  }
}

/* Appends |n| entries several to a transaction (the log's size is read
 * once per transaction and written before its commit), the content HMAC
 * computed beforehand for every other one; then a transaction that
 * appends and fails leaves nothing. */
typedef struct batch_arg {
  mg_keystore *ks;
  int first, count, fail;
} batch_arg;

static int batch_fn(mg_ks_txn *txn, void *arg) {
  batch_arg *b = arg;
  mg_ks_ctx ctx = {"test", 1800000000};
  for (int i = b->first; i < b->first + b->count; i++) {
    char obj[32];
    uint8_t hmac[32], out[32];
    mg_ks_audit a;
    snprintf(obj, sizeof(obj), "batch-%d", i);
    memset(&a, 0, sizeof(a));
    a.action = "test.batch";
    a.object = obj;
    if (i % 2 == 0) {
      a.content = (const uint8_t *)"123456";
      a.content_len = 6;
    } else {
      ck_assert_int_eq(mg_ks_audit_content_hmac(b->ks, (const uint8_t *)"123456",
                                                6, hmac),
                       0);
      a.content_hmac = hmac;
    }
    MG_GUARD(mg_ks_audit_append(b->ks, txn, &ctx, &a, out));
    if (i % 2 == 1) {
      ck_assert_mem_eq(out, hmac, 32);
    }
  }
  return b->fail ? MG_ERR_CONFLICT : 0;
}

static void append_batched(mg_keystore *ks, int n) {
  int done = 0;
  for (int k = 1; done < n; k++) {
    batch_arg b = {ks, done, k < n - done ? k : n - done, 0};
    ck_assert_int_eq(mg_ks_transact(ks, batch_fn, &b), 0);
    done += b.count;
  }
  batch_arg bad = {ks, 1000, 5, 1};
  ck_assert_int_eq(mg_ks_transact(ks, batch_fn, &bad), MG_ERR_CONFLICT);
}

/* Rebuilds the tree from the stored entries. */
typedef struct rebuild {
  mg_tlog_memtree t;
  uint64_t n;
} rebuild;

static int rebuild_fn(void *arg, uint64_t seq, const char *entry,
                      size_t entry_len, const uint8_t leaf[MG_TLOG_HASH_LEN]) {
  rebuild *r = arg;
  uint8_t h[MG_TLOG_HASH_LEN];
  ck_assert_uint_eq(seq, r->n);
  ck_assert_int_eq(mg_tlog_leaf_hash(h, (const uint8_t *)entry, entry_len), 0);
  ck_assert_mem_eq(h, leaf, MG_TLOG_HASH_LEN);
  /* Canonical JSON: no plaintext, keyed hash when content was given. */
  ck_assert_ptr_null(memmem(entry, entry_len, "123456", 6));
  ck_assert_int_eq(mg_tlog_memtree_append(&r->t, h), 0);
  r->n++;
  return 0;
}

static void open_checkpoint(mg_keystore *ks, const char *note, size_t len,
                            mg_checkpoint *cp) {
  char *vk = NULL;
  mg_note_verifier v;
  ck_assert_int_eq(mg_ks_audit_verifier(ks, &vk), 0);
  ck_assert_int_eq(mg_note_verifier_parse(&v, vk, strlen(vk)), 0);
  ck_assert_int_eq(mg_checkpoint_open(cp, note, len, v.name, v.name_len, &v, 1),
                   0);
  free(vk);
}

START_TEST(test_tree_proofs_checkpoints) {
  mg_keystore *ks = open_store();
  mg_ks_ctx ctx = {"test", 1800000000};
  append_n(ks, 300, 1);
  char *n1 = NULL, *n2 = NULL;
  size_t l1 = 0, l2 = 0;
  uint64_t s1 = 0, s2 = 0;
  ck_assert_int_eq(mg_ks_audit_checkpoint(ks, &ctx, &n1, &l1, &s1), 0);
  ck_assert_uint_eq(s1, 300);
  append_batched(ks, 77);
  ck_assert_int_eq(mg_ks_audit_checkpoint(ks, &ctx, &n2, &l2, &s2), 0);
  /* 300 + the first checkpoint's own entry + 77. */
  ck_assert_uint_eq(s2, 378);
  mg_checkpoint c1, c2;
  open_checkpoint(ks, n1, l1, &c1);
  open_checkpoint(ks, n2, l2, &c2);

  rebuild r;
  memset(&r, 0, sizeof(r));
  mg_tlog_memtree_init(&r.t);
  uint64_t size = 0;
  ck_assert_int_eq(mg_ks_audit_entries(ks, 0, UINT64_MAX, rebuild_fn, &r, &size),
                   0);
  ck_assert_uint_eq(size, 379); /* and the second checkpoint's entry */
  uint8_t root[MG_TLOG_HASH_LEN];
  ck_assert_int_eq(mg_tlog_root(root, mg_tlog_memtree_get, &r.t, 300), 0);
  ck_assert_mem_eq(root, c1.root, MG_TLOG_HASH_LEN);
  ck_assert_int_eq(mg_tlog_root(root, mg_tlog_memtree_get, &r.t, 378), 0);
  ck_assert_mem_eq(root, c2.root, MG_TLOG_HASH_LEN);

  /* Inclusion proofs from the store verify against the signed roots. */
  for (uint64_t i = 0; i < 378; i += 13) {
    mg_tlog_proof p;
    uint8_t leaf[MG_TLOG_HASH_LEN];
    ck_assert_int_eq(mg_tlog_memtree_get(&r.t, 0, i, leaf), 0);
    ck_assert_int_eq(mg_ks_audit_prove_inclusion(ks, i, 378, &p), 0);
    ck_assert_int_eq(mg_tlog_verify_inclusion(leaf, i, 378, &p, c2.root), 0);
    if (i < 300) {
      ck_assert_int_eq(mg_ks_audit_prove_inclusion(ks, i, 300, &p), 0);
      ck_assert_int_eq(mg_tlog_verify_inclusion(leaf, i, 300, &p, c1.root), 0);
    }
  }
  mg_tlog_proof cpf;
  ck_assert_int_eq(mg_ks_audit_prove_consistency(ks, 300, 378, &cpf), 0);
  ck_assert_int_eq(mg_tlog_verify_consistency(300, 378, &cpf, c1.root, c2.root),
                   0);
  /* Proofs beyond the log are refused. */
  ck_assert_int_eq(mg_ks_audit_prove_inclusion(ks, 5, 100000, &cpf),
                   MG_ERR_NOT_FOUND);
  mg_tlog_memtree_cleanup(&r.t);
  free(n1);
  free(n2);
  mg_ks_close(ks);
  remove_store();
}
END_TEST

/* Stores written before the current node keys ('t' || n || level) keep
 * their subtree hashes under the keys of their version: 'h' || level ||
 * index (the first), 'p' || in-order position (the second).  They still
 * answer proofs, and keep appending (new nodes under the current keys).
 * to_layout moves the nodes of the first |size| entries that are under
 * the current keys to those of |layout| ('h' or 'p'). */
typedef struct layout_arg {
  uint64_t size;
  char layout;
  uint64_t moved;
} layout_arg;

static void be64_put(uint8_t *p, uint64_t v) {
  for (int i = 7; i >= 0; i--) {
    p[i] = (uint8_t)v;
    v >>= 8;
  }
}

static int to_layout_fn(mg_ks_txn *txn, void *arg) {
  layout_arg *a = arg;
  a->moved = 0;
  for (uint64_t l = 0; l < 62 && ((uint64_t)1 << l) <= a->size; l++) {
    for (uint64_t i = 0; ((i + 1) << l) <= a->size; i++) {
      uint8_t kt[10], ko[10], *v = NULL;
      size_t vl = 0, kol;
      uint64_t ver = 0;
      kt[0] = 't';
      be64_put(kt + 1, ((i + 1) << l) - 1);
      kt[9] = (uint8_t)l;
      if (a->layout == 'h') {
        ko[0] = 'h';
        ko[1] = (uint8_t)l;
        be64_put(ko + 2, i);
        kol = 10;
      } else {
        ko[0] = 'p';
        be64_put(ko + 1, (i << (l + 1)) + (((uint64_t)1 << l) - 1));
        kol = 9;
      }
      int rc = mg_kv_get_sealed(txn, MG_KV_AUDIT_TREE, kt, 10, &ver, &v, &vl);
      if (rc == MG_ERR_NOT_FOUND) {
        continue; /* in an older layout already */
      }
      MG_GUARD(rc);
      ck_assert_uint_eq(ver, i);
      rc = mg_kv_put_sealed(txn, MG_KV_AUDIT_TREE, ko, kol, ver, v, vl,
                            MG_KV_PUT_INSERT);
      free(v);
      MG_GUARD(rc);
      MG_GUARD(mg_kv_del(txn, MG_KV_AUDIT_TREE, kt, 10));
      a->moved++;
    }
  }
  return 0;
}

static uint64_t to_layout(mg_keystore *ks, uint64_t size, char layout) {
  layout_arg a = {size, layout, 0};
  ck_assert_int_eq(mg_ks_transact(ks, to_layout_fn, &a), 0);
  return a.moved;
}

static void check_proofs(mg_keystore *ks, uint64_t size) {
  rebuild r;
  memset(&r, 0, sizeof(r));
  mg_tlog_memtree_init(&r.t);
  uint64_t got = 0;
  ck_assert_int_eq(mg_ks_audit_entries(ks, 0, UINT64_MAX, rebuild_fn, &r, &got),
                   0);
  ck_assert_uint_eq(got, size);
  uint8_t root[MG_TLOG_HASH_LEN], half[MG_TLOG_HASH_LEN];
  ck_assert_int_eq(mg_tlog_root(root, mg_tlog_memtree_get, &r.t, size), 0);
  ck_assert_int_eq(mg_tlog_root(half, mg_tlog_memtree_get, &r.t, size / 2), 0);
  for (uint64_t i = 0; i < size; i += 7) {
    mg_tlog_proof p;
    uint8_t leaf[MG_TLOG_HASH_LEN];
    ck_assert_int_eq(mg_tlog_memtree_get(&r.t, 0, i, leaf), 0);
    ck_assert_int_eq(mg_ks_audit_prove_inclusion(ks, i, size, &p), 0);
    ck_assert_int_eq(mg_tlog_verify_inclusion(leaf, i, size, &p, root), 0);
  }
  mg_tlog_proof cpf;
  ck_assert_int_eq(mg_ks_audit_prove_consistency(ks, size / 2, size, &cpf), 0);
  ck_assert_int_eq(
      mg_tlog_verify_consistency(size / 2, size, &cpf, half, root), 0);
  mg_tlog_memtree_cleanup(&r.t);
}

START_TEST(test_tree_v1_keys) {
  mg_keystore *ks = open_store();
  append_n(ks, 200, 0);
  /* Every node of 200 entries: 200 + 100 + 50 + 25 + 12 + 6 + 3 + 1. */
  ck_assert_uint_eq(to_layout(ks, 200, 'h'), 397);
  check_proofs(ks, 200);
  /* Appends over the first layout: new nodes under the current keys,
   * proofs across both. */
  append_batched(ks, 77);
  check_proofs(ks, 277);
  /* Those new nodes moved to the second layout: all three in one store. */
  ck_assert_uint_gt(to_layout(ks, 277, 'p'), 77);
  check_proofs(ks, 277);
  append_batched(ks, 100);
  check_proofs(ks, 377);
  /* Nothing of the current layout left below 277 entries: everything
   * there is in the two old ones, yet read. */
  ck_assert_uint_eq(to_layout(ks, 277, 'p'), 0);
  mg_ks_close(ks);
  remove_store();
}
END_TEST

/* The content hash is keyed: the same code gives different hashes in two
 * stores and none equals a plain SHA-256 of it. */
static int grab_fn(void *arg, uint64_t seq, const char *entry, size_t len,
                   const uint8_t leaf[MG_TLOG_HASH_LEN]) {
  (void)seq;
  (void)leaf;
  char **out = arg;
  *out = strndup(entry, len);
  return 1;
}

START_TEST(test_keyed_content_hash) {
  char *e1 = NULL, *e2 = NULL;
  mg_keystore *ks = open_store();
  append_n(ks, 1, 1);
  ck_assert_int_eq(mg_ks_audit_entries(ks, 0, 1, grab_fn, &e1, NULL), 0);
  mg_ks_close(ks);
  remove_store();
  ks = open_store();
  append_n(ks, 1, 1);
  ck_assert_int_eq(mg_ks_audit_entries(ks, 0, 1, grab_fn, &e2, NULL), 0);
  mg_ks_close(ks);
  remove_store();
  json_t *j1 = json_loads(e1, 0, NULL), *j2 = json_loads(e2, 0, NULL);
  const char *h1 = json_string_value(json_object_get(j1, "content_hmac"));
  const char *h2 = json_string_value(json_object_get(j2, "content_hmac"));
  ck_assert_ptr_nonnull(h1);
  ck_assert_ptr_nonnull(h2);
  ck_assert_str_ne(h1, h2);
  uint8_t d[32];
  char hx[65];
  ck_assert_int_eq(mg_sha256.digest(&mg_sha256, d, (const uint8_t *)"123456", 6),
                   0);
  mg_hex_encode(hx, d, 32);
  ck_assert_str_ne(h1, hx);
  ck_assert_str_eq(json_string_value(json_object_get(j1, "action")), "test.op");
  json_decref(j1);
  json_decref(j2);
  free(e1);
  free(e2);
}
END_TEST

/* ------------------------------------------------------ export/verify */

typedef struct lines {
  char **v;
  size_t n;
} lines;

static lines read_lines(const char *path) {
  lines l = {NULL, 0};
  FILE *f = fopen(path, "r");
  char *buf = NULL;
  size_t cap = 0;
  ssize_t r;
  ck_assert_ptr_nonnull(f);
  while ((r = getline(&buf, &cap, f)) > 0) {
    l.v = realloc(l.v, (l.n + 1) * sizeof(*l.v));
    l.v[l.n++] = strndup(buf, (size_t)r);
  }
  free(buf);
  fclose(f);
  return l;
}

static void write_lines(const char *path, const lines *l) {
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  for (size_t i = 0; i < l->n; i++) {
    if (l->v[i] != NULL) {
      fputs(l->v[i], f);
    }
  }
  fclose(f);
}

static void free_lines(lines *l) {
  for (size_t i = 0; i < l->n; i++) {
    free(l->v[i]);
  }
  free(l->v);
}

static mg_audit_verify_result verify_file(const char *path, const char *vk,
                                          const char *since) {
  mg_audit_verify_result res;
  FILE *f = fopen(path, "r");
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(mg_audit_verify(f, vk, since, since ? strlen(since) : 0,
                                   &res),
                   0);
  fclose(f);
  return res;
}

/* Replaces the "entry" of export line |i| (entry seq i-1) with a version
 * whose action is changed; |fix_hash| also recomputes its leaf_hash. */
static void alter_entry(lines *l, size_t i, int fix_hash) {
  json_t *o = json_loads(l->v[i], 0, NULL);
  ck_assert_ptr_nonnull(o);
  json_t *e = json_loads(json_string_value(json_object_get(o, "entry")), 0, NULL);
  json_object_set_new(e, "action", json_string("test.forged"));
  char *es = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);
  json_object_set_new(o, "entry", json_string(es));
  if (fix_hash) {
    uint8_t h[MG_TLOG_HASH_LEN];
    char hx[65];
    ck_assert_int_eq(mg_tlog_leaf_hash(h, (const uint8_t *)es, strlen(es)), 0);
    mg_hex_encode(hx, h, 32);
    json_object_set_new(o, "leaf_hash", json_string(hx));
  }
  char *ls = json_dumps(o, JSON_COMPACT);
  free(l->v[i]);
  size_t n = strlen(ls);
  l->v[i] = malloc(n + 2);
  memcpy(l->v[i], ls, n);
  l->v[i][n] = '\n';
  l->v[i][n + 1] = '\0';
  free(ls);
  free(es);
  json_decref(e);
  json_decref(o);
}

/* The entry bytes are written without jansson (audit.c, entry_encode):
 * they must stay exactly what json_dumps(JSON_COMPACT | JSON_SORT_KEYS |
 * JSON_ENSURE_ASCII) gives for the same object -- the canonical form the
 * Merkle leaves and offline verifiers were built on -- for strings with
 * every kind of escape, and strings jansson refuses (not UTF-8) are
 * refused too. */
static const char *const tricky[] = {
    "",
    "\"",
    "\\",
    "a\"b\\c\"\"\\\\",
    "/path/to/x",
    "\b\f\n\r\t",
    "\x01\x02\x1e\x1f\x7f",
    " ~plain ASCII 0123456789 {}[]:,",
    "caf\xC3\xA9",                           /* U+00E9 */
    "\xC2\x80\xC2\xA0\xDF\xBF",               /* U+0080 U+00A0 U+07FF */
    "\xE0\xA0\x80\xE2\x82\xAC\xED\x9F\xBF",   /* U+0800 U+20AC U+D7FF */
    "\xEE\x80\x80\xEF\xBB\xBF\xEF\xBF\xBF",   /* U+E000 U+FEFF U+FFFF */
    "\xF0\x90\x80\x80",                       /* U+10000 */
    "x\xF0\x9F\x98\x80y\xF0\x9F\x91\x8D",     /* U+1F600, U+1F44D */
    "\xF4\x8F\xBF\xBF",                       /* U+10FFFF */
    "\xE6\x97\xA5\xE6\x9C\xAC\x0a\"\xF0\xA0\x80\x8B/\\",
};

static const char *const not_utf8[] = {
    "\x80",             /* a continuation byte first */
    "\xC0\x80",         /* overlong NUL */
    "\xC1\xBF",         /* overlong */
    "\xE0\x9F\xBF",     /* overlong U+07FF */
    "\xF0\x8F\xBF\xBF", /* overlong U+FFFF */
    "\xED\xA0\x80",     /* a surrogate */
    "\xED\xBF\xBF",     /* a surrogate */
    "\xF4\x90\x80\x80", /* above U+10FFFF */
    "\xF5\x80\x80\x80", /* above U+10FFFF */
    "\xFF",
    "\xE2\x82",         /* cut short */
    "ok\xC3",           /* cut short at the end */
    "\xC3\x28",         /* a bad continuation byte */
};

static void check_canonical(mg_keystore *ks, uint64_t seq, const char *actor,
                            const char *action, const char *object,
                            uint64_t now) {
  char *e = NULL;
  json_error_t err;
  ck_assert_int_eq(mg_ks_audit_entries(ks, seq, seq + 1, grab_fn, &e, NULL),
                   0);
  ck_assert_ptr_nonnull(e);
  json_t *o = json_loads(e, 0, &err);
  ck_assert_msg(o != NULL, "entry %llu does not parse: %s",
                (unsigned long long)seq, err.text);
  ck_assert_str_eq(json_string_value(json_object_get(o, "actor")), actor);
  ck_assert_str_eq(json_string_value(json_object_get(o, "action")), action);
  ck_assert_str_eq(json_string_value(json_object_get(o, "object")), object);
  ck_assert_uint_eq((uint64_t)json_integer_value(json_object_get(o, "seq")),
                    seq);
  ck_assert_uint_eq((uint64_t)json_integer_value(json_object_get(o, "time")),
                    now);
  char *j = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
  ck_assert_ptr_nonnull(j);
  ck_assert_str_eq(e, j);
  free(j);
  json_decref(o);
  free(e);
}

START_TEST(test_entry_bytes_as_jansson) {
  mg_keystore *ks = open_store();
  uint64_t seq = 0, size = 0;
  const size_t nt = sizeof(tricky) / sizeof(tricky[0]);
  for (size_t i = 0; i < nt; i++) {
    for (int variant = 0; variant < 3; variant++) {
      /* Each tricky string as the actor, the action and the object in
       * turn, with 0, 1 or 2 key IDs, with and without content, with a
       * success and a failure. */
      const char *actor = variant == 0 ? tricky[i] : "api:token-1";
      const char *action = variant == 1 ? tricky[i] : "test.op";
      const char *object = variant == 2 ? tricky[i] : tricky[nt - 1 - i];
      uint64_t now = 1800000000 + i * 3 + (uint64_t)variant;
      mg_ks_ctx ctx = {actor, now};
      uint8_t kid[2][MG_KS_KEY_ID_LEN];
      mg_ks_audit a;
      memset(kid, (int)(0x30 + i), sizeof(kid));
      kid[1][0] = 0xff;
      memset(&a, 0, sizeof(a));
      a.action = action;
      a.object = object;
      a.key_ids = (const uint8_t(*)[MG_KS_KEY_ID_LEN])kid;
      a.num_key_ids = (size_t)variant;
      if ((i + (size_t)variant) % 2 == 0) {
        a.content = (const uint8_t *)"payload";
        a.content_len = 7;
      }
      a.result = variant == 1 ? MG_ERR_CONFLICT : 0;
      ck_assert_int_eq(mg_ks_audit_record(ks, &ctx, &a), 0);
      check_canonical(ks, seq, actor, action, object, now);
      seq++;
    }
  }
  /* A NULL actor and object are "". */
  {
    mg_ks_ctx ctx = {NULL, 7};
    mg_ks_audit a;
    memset(&a, 0, sizeof(a));
    a.action = "test.null";
    ck_assert_int_eq(mg_ks_audit_record(ks, &ctx, &a), 0);
    check_canonical(ks, seq, "", "test.null", "", 7);
    seq++;
  }
  /* Times at the edges of the decimal writer (jansson prints them as
   * long long: past INT64_MAX they come out negative). */
  {
    static const uint64_t times[] = {0, 9, 10, 99, 100, 1000000007ull,
                                     (uint64_t)INT64_MAX,
                                     (uint64_t)INT64_MAX + 1, UINT64_MAX};
    for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
      mg_ks_ctx ctx = {"edge", times[i]};
      mg_ks_audit a;
      memset(&a, 0, sizeof(a));
      a.action = "test.time";
      ck_assert_int_eq(mg_ks_audit_record(ks, &ctx, &a), 0);
      check_canonical(ks, seq, "edge", "test.time", "", times[i]);
      seq++;
    }
  }
  /* Not UTF-8: jansson refuses the string, and so does the log. */
  for (size_t i = 0; i < sizeof(not_utf8) / sizeof(not_utf8[0]); i++) {
    json_t *js = json_string(not_utf8[i]);
    ck_assert_ptr_null(js);
    mg_ks_ctx ctx = {not_utf8[i], 9};
    mg_ks_ctx ok_ctx = {"actor", 9};
    mg_ks_audit a;
    memset(&a, 0, sizeof(a));
    a.action = "test.bad";
    ck_assert_int_eq(mg_ks_audit_record(ks, &ctx, &a), MG_ERR_INVALID_ARG);
    a.object = not_utf8[i];
    ck_assert_int_eq(mg_ks_audit_record(ks, &ok_ctx, &a), MG_ERR_INVALID_ARG);
    a.object = NULL;
    a.action = not_utf8[i];
    ck_assert_int_eq(mg_ks_audit_record(ks, &ok_ctx, &a), MG_ERR_INVALID_ARG);
  }
  ck_assert_int_eq(mg_ks_audit_entries(ks, 0, 0, grab_fn, NULL, &size), 0);
  ck_assert_uint_eq(size, seq);
  mg_ks_close(ks);
  remove_store();
}
END_TEST

START_TEST(test_export_verify) {
  mg_keystore *ks = open_store();
  mg_ks_ctx ctx = {"auditor", 1800000000};
  char path[400], path2[400];
  char *vk = NULL, *early = NULL;
  size_t early_len = 0;
  append_n(ks, 40, 1);
  ck_assert_int_eq(mg_ks_audit_checkpoint(ks, &ctx, &early, &early_len, NULL), 0);
  append_n(ks, 60, 0);
  snprintf(path, sizeof(path), "%s/export.jsonl", dir);
  snprintf(path2, sizeof(path2), "%s/export2.jsonl", dir);
  FILE *f = fopen(path, "w");
  uint64_t n = 0;
  ck_assert_int_eq(mg_ks_audit_export(ks, &ctx, f, &n), 0);
  fclose(f);
  ck_assert_uint_eq(n, 101);
  ck_assert_int_eq(mg_ks_audit_verifier(ks, &vk), 0);

  mg_audit_verify_result res = verify_file(path, vk, NULL);
  ck_assert_msg(res.ok, "%s", res.reason);
  ck_assert_uint_eq(res.size, 101);
  res = verify_file(path, vk, early);
  ck_assert_msg(res.ok, "%s", res.reason);

  lines l = read_lines(path);
  ck_assert_uint_eq(l.n, 102);
  /* An altered entry is named. */
  {
    lines m = read_lines(path);
    alter_entry(&m, 1 + 57, 0);
    write_lines(path2, &m);
    res = verify_file(path2, vk, NULL);
    ck_assert(!res.ok);
    ck_assert_int_eq(res.bad_entry, 57);
    free_lines(&m);
  }
  /* Altered with its leaf hash recomputed: detected (not nameable). */
  {
    lines m = read_lines(path);
    alter_entry(&m, 1 + 20, 1);
    write_lines(path2, &m);
    res = verify_file(path2, vk, NULL);
    ck_assert(!res.ok);
    /* ... and with the earlier checkpoint, it is inside its prefix. */
    res = verify_file(path2, vk, early);
    ck_assert(!res.ok);
    free_lines(&m);
  }
  /* A removed entry is named. */
  {
    lines m = read_lines(path);
    free(m.v[1 + 33]);
    m.v[1 + 33] = NULL;
    write_lines(path2, &m);
    res = verify_file(path2, vk, NULL);
    ck_assert(!res.ok);
    ck_assert_int_eq(res.bad_entry, 33);
    free_lines(&m);
  }
  /* Reordered entries are named. */
  {
    lines m = read_lines(path);
    char *t = m.v[1 + 70];
    m.v[1 + 70] = m.v[1 + 71];
    m.v[1 + 71] = t;
    write_lines(path2, &m);
    res = verify_file(path2, vk, NULL);
    ck_assert(!res.ok);
    ck_assert_int_eq(res.bad_entry, 70);
    free_lines(&m);
  }
  /* The tail dropped. */
  {
    lines m = read_lines(path);
    free(m.v[m.n - 1]);
    m.v[m.n - 1] = NULL;
    write_lines(path2, &m);
    res = verify_file(path2, vk, NULL);
    ck_assert(!res.ok);
    ck_assert_int_eq(res.bad_entry, 100);
    free_lines(&m);
  }
  /* Another store's key does not verify it. */
  {
    char *vk2 = NULL;
    mg_ks_close(ks);
    char keep[256];
    snprintf(keep, sizeof(keep), "%s", dir);
    mg_keystore *ks2 = open_store();
    ck_assert_int_eq(mg_ks_audit_verifier(ks2, &vk2), 0);
    mg_ks_close(ks2);
    remove_store();
    snprintf(dir, sizeof(dir), "%s", keep);
    res = verify_file(path, vk2, NULL);
    ck_assert(!res.ok);
    free(vk2);
    ks = NULL;
  }
  free_lines(&l);
  free(vk);
  free(early);
  mg_ks_close(ks);
  remove_store();
}
END_TEST

int main(void) {
  Suite *s = suite_create("audit");
  TCase *tc = tcase_create("audit");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_tree_proofs_checkpoints);
  tcase_add_test(tc, test_tree_v1_keys);
  tcase_add_test(tc, test_keyed_content_hash);
  tcase_add_test(tc, test_entry_bytes_as_jansson);
  tcase_add_test(tc, test_export_verify);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
