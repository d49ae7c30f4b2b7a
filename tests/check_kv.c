/*
 * Contract tests of the keystore's storage interface (src/keystore/kv.h),
 * run here against the LMDB backend (kv_lmdb.c):
 *  - open: create/open/close; a wrong KEK, a KEK file readable by group
 *    or other, a KEK of the wrong length and a missing KEK are MG_ERR_KEK;
 *    the KEK from a descriptor (file and pipe); no store without create is
 *    MG_ERR_NOT_FOUND; create over a store is MG_ERR_EXISTS; a newer or
 *    unknown schema is MG_ERR_SCHEMA; a store open twice in one process;
 *  - records: get/put/del, insert over an existing key, prefix scans,
 *    last, count; an error from the callback aborts (nothing written);
 *    a read transaction cannot write; nested transactions are refused;
 *  - sealed records: round trips (empty and large); every byte of a stored
 *    record flipped (three masks), every truncation and an appended byte
 *    are MG_ERR_TAMPERED, never a wrong value; a record copied to another
 *    key or table, or given another version, is MG_ERR_TAMPERED;
 *  - map growth from a 64 KiB map: several MB in one transaction and in
 *    many, with the re-runs of the callback counted;
 *  - KEK rotation (old KEK refused, new KEK opens, records readable) and
 *    mg_kv_kek_generate/replace;
 *  - backup of a store in use and restore into an empty directory.
 * Every test works in a fresh directory from mkdtemp under $TMPDIR (or
 * /tmp), removed afterwards.  The crash test is tests/kv_crash.c.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/secmem.h"
#include "crypto/crypto.h"
#include "keystore/kv.h"

/* ------------------------------------------------------------ fixture */

static char root[3800];
static char store_dir[4000];
static char kek_path[4000];
static uint8_t kek1[MG_KV_KEK_LEN];

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static void write_file(const char *path, const uint8_t *p, size_t len,
                       mode_t mode) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(fchmod(fd, mode), 0);
  ck_assert_int_eq((int)write(fd, p, len), (int)len);
  ck_assert_int_eq(close(fd), 0);
}

static void setup(void) {
  const char *tmp = getenv("TMPDIR");
  ck_assert_int_eq(mg_crypto_init(), 0);
  snprintf(root, sizeof(root), "%s/mlsgate-kv-XXXXXX",
           tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
  ck_assert_ptr_nonnull(mkdtemp(root));
  snprintf(store_dir, sizeof(store_dir), "%s/store", root);
  snprintf(kek_path, sizeof(kek_path), "%s/kek", root);
  ck_assert_int_eq(mg_random_bytes(kek1, sizeof(kek1)), 0);
  write_file(kek_path, kek1, sizeof(kek1), 0600);
}

static void teardown(void) {
  if (root[0] != '\0') {
    (void)nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    root[0] = '\0';
  }
}

static mg_kv_options opts(int create) {
  mg_kv_options o;
  memset(&o, 0, sizeof(o));
  o.dir = store_dir;
  o.kek_path = kek_path;
  o.kek_fd = -1;
  o.create = create;
  return o;
}

static mg_kv *open_store(int create) {
  mg_kv *kv = NULL;
  mg_kv_options o = opts(create);
  int rc = mg_kv_open(&kv, &o);
  ck_assert_msg(rc == 0, "mg_kv_open: %s", mg_err_name(rc));
  return kv;
}

static void path_in_root(char *out, size_t out_len, const char *name) {
  snprintf(out, out_len, "%s/%s", root, name);
}

static int fail_fn(mg_kv_txn *t, void *varg) {
  (void)t;
  (void)varg;
  return MG_ERR_INTERNAL;
}

/* ------------------------------------------------- small transactions */

typedef struct {
  mg_kv_table tb;
  const char *key;
  const char *val;
  int flags;
} put_arg;

static int put_fn(mg_kv_txn *t, void *varg) {
  const put_arg *a = varg;
  return mg_kv_put(t, a->tb, (const uint8_t *)a->key, strlen(a->key),
                   (const uint8_t *)a->val, strlen(a->val), a->flags);
}

static int put_str(mg_kv *kv, mg_kv_table tb, const char *key,
                   const char *val) {
  put_arg a = {tb, key, val, 0};
  return mg_kv_write(kv, put_fn, &a);
}

typedef struct {
  mg_kv_table tb;
  const char *key;
  uint8_t *val;
  size_t val_len;
} get_arg;

static int get_fn(mg_kv_txn *t, void *varg) {
  get_arg *a = varg;
  free(a->val);
  a->val = NULL;
  return mg_kv_get(t, a->tb, (const uint8_t *)a->key, strlen(a->key), &a->val,
                   &a->val_len);
}

/* get_eq asserts |key| holds |want| (NULL: absent). */
static void get_eq(mg_kv *kv, mg_kv_table tb, const char *key,
                   const char *want) {
  get_arg a = {tb, key, NULL, 0};
  int rc = mg_kv_read(kv, get_fn, &a);
  if (want == NULL) {
    ck_assert_int_eq(rc, MG_ERR_NOT_FOUND);
    ck_assert_ptr_null(a.val);
  } else {
    ck_assert_msg(rc == 0, "get %s: %s", key, mg_err_name(rc));
    ck_assert_uint_eq(a.val_len, strlen(want));
    ck_assert_mem_eq(a.val, want, a.val_len);
  }
  free(a.val);
}

static int count_fn(mg_kv_txn *t, void *varg) {
  uint64_t *n = varg;
  return mg_kv_count(t, MG_KV_GROUPS, n);
}

static uint64_t count_groups(mg_kv *kv) {
  uint64_t n = 99;
  ck_assert_int_eq(mg_kv_read(kv, count_fn, &n), 0);
  return n;
}

/* ------------------------------------------------------------- opening */

START_TEST(test_create_open_close) {
  mg_kv *kv = open_store(1);
  ck_assert_int_eq(put_str(kv, MG_KV_IDENTITIES, "acme", "v1"), 0);
  mg_kv_close(kv);
  mg_kv_close(NULL);
  kv = open_store(0);
  get_eq(kv, MG_KV_IDENTITIES, "acme", "v1");
  get_eq(kv, MG_KV_GROUPS, "acme", NULL);
  mg_kv_close(kv);
  /* Store files are private to the owner. */
  char data[4300];
  struct stat st;
  snprintf(data, sizeof(data), "%s/data.mdb", store_dir);
  ck_assert_int_eq(stat(data, &st), 0);
  ck_assert_int_eq(st.st_mode & 077, 0);
}
END_TEST

START_TEST(test_open_errors) {
  mg_kv *kv = NULL;
  mg_kv_options o = opts(0);
  /* No store, not create: NOT_FOUND, and nothing is created. */
  ck_assert_int_eq(mg_kv_open(&kv, &o), MG_ERR_NOT_FOUND);
  ck_assert_ptr_null(kv);
  ck_assert_int_eq(mkdir(store_dir, 0700), 0);
  ck_assert_int_eq(mg_kv_open(&kv, &o), MG_ERR_NOT_FOUND);
  char data[4300];
  snprintf(data, sizeof(data), "%s/data.mdb", store_dir);
  ck_assert_int_ne(access(data, F_OK), 0);

  kv = open_store(1);
  /* Open twice in one process: refused (LMDB's locks are per process). */
  mg_kv *kv2 = NULL;
  ck_assert_int_eq(mg_kv_open(&kv2, &o), MG_ERR_STORE);
  ck_assert_ptr_null(kv2);
  mg_kv_close(kv);

  /* Create over a store. */
  mg_kv_options oc = opts(1);
  ck_assert_int_eq(mg_kv_open(&kv, &oc), MG_ERR_EXISTS);
  ck_assert_ptr_null(kv);

  /* Bad arguments. */
  ck_assert_int_eq(mg_kv_open(NULL, &o), MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mg_kv_open(&kv, NULL), MG_ERR_INVALID_ARG);
  mg_kv_options od = opts(0);
  od.dir = NULL;
  ck_assert_int_eq(mg_kv_open(&kv, &od), MG_ERR_INVALID_ARG);

  /* Still opens. */
  kv = open_store(0);
  mg_kv_close(kv);
}
END_TEST

START_TEST(test_kek_errors) {
  mg_kv *kv = open_store(1);
  ck_assert_int_eq(put_str(kv, MG_KV_IDENTITIES, "a", "b"), 0);
  mg_kv_close(kv);
  kv = NULL;
  mg_kv_options o = opts(0);

  /* Wrong KEK. */
  uint8_t other[MG_KV_KEK_LEN];
  memcpy(other, kek1, sizeof(other));
  other[7] ^= 0x01;
  write_file(kek_path, other, sizeof(other), 0600);
  ck_assert_int_eq(mg_kv_open(&kv, &o), MG_ERR_KEK);
  ck_assert_ptr_null(kv);

  /* Readable or writable by group or other. */
  static const mode_t bad_modes[] = {0644, 0640, 0604, 0620, 0602,
                                     0610, 0601, 0660, 0666};
  for (size_t i = 0; i < sizeof(bad_modes) / sizeof(bad_modes[0]); i++) {
    write_file(kek_path, kek1, sizeof(kek1), bad_modes[i]);
    ck_assert_msg(mg_kv_open(&kv, &o) == MG_ERR_KEK, "mode %o", bad_modes[i]);
  }
  /* 0400 is fine. */
  write_file(kek_path, kek1, sizeof(kek1), 0400);
  kv = open_store(0);
  mg_kv_close(kv);
  kv = NULL;
  ck_assert_int_eq(chmod(kek_path, 0600), 0);

  /* Wrong lengths: 0, 31, 33 bytes, 64 hex characters. */
  uint8_t big[65];
  memset(big, 'a', sizeof(big));
  static const size_t lens[] = {0, 31, 33, 64, 65};
  for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
    write_file(kek_path, big, lens[i], 0600);
    ck_assert_msg(mg_kv_open(&kv, &o) == MG_ERR_KEK, "len %zu", lens[i]);
  }
  /* Missing, a directory, and neither path nor descriptor. */
  ck_assert_int_eq(unlink(kek_path), 0);
  ck_assert_int_eq(mg_kv_open(&kv, &o), MG_ERR_KEK);
  ck_assert_int_eq(mkdir(kek_path, 0700), 0);
  ck_assert_int_eq(mg_kv_open(&kv, &o), MG_ERR_KEK);
  ck_assert_int_eq(rmdir(kek_path), 0);
  mg_kv_options on = opts(0);
  on.kek_path = NULL;
  on.kek_fd = -1;
  ck_assert_int_eq(mg_kv_open(&kv, &on), MG_ERR_KEK);
  ck_assert_ptr_null(kv);

  /* The right KEK again. */
  write_file(kek_path, kek1, sizeof(kek1), 0600);
  kv = open_store(0);
  get_eq(kv, MG_KV_IDENTITIES, "a", "b");
  mg_kv_close(kv);
}
END_TEST

typedef struct {
  size_t byte;
  uint8_t mask;
} wrap_edit;

static int edit_wrap_fn(mg_kv_txn *t, void *varg) {
  const wrap_edit *e = varg;
  uint8_t *v = NULL;
  size_t v_len = 0;
  int rc = mg_kv_get(t, MG_KV_META, (const uint8_t *)"data_key", 8, &v, &v_len);
  if (rc == 0) {
    ck_assert_uint_eq(v_len, 1 + 4 + 24 + 32 + 16);
    v[e->byte] ^= e->mask;
    rc = mg_kv_put(t, MG_KV_META, (const uint8_t *)"data_key", 8, v, v_len, 0);
  }
  free(v);
  return rc;
}

/* The wrapped data key: a flipped byte fails to open (MG_ERR_KEK: it is
 * what a wrong KEK looks like), an unknown format is MG_ERR_TAMPERED. */
START_TEST(test_wrapped_key_tampered) {
  static const struct {
    wrap_edit e;
    int want;
  } cases[] = {{{0, 0x03}, MG_ERR_TAMPERED},
               {{2, 0x01}, MG_ERR_KEK},
               {{10, 0x80}, MG_ERR_KEK},
               {{40, 0x01}, MG_ERR_KEK},
               {{76, 0x01}, MG_ERR_KEK}};
  mg_kv *kv = open_store(1);
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    wrap_edit e = cases[i].e;
    ck_assert_int_eq(mg_kv_write(kv, edit_wrap_fn, &e), 0);
    mg_kv_close(kv);
    kv = NULL;
    mg_kv_options o = opts(0);
    ck_assert_msg(mg_kv_open(&kv, &o) == cases[i].want, "case %zu", i);
    ck_assert_ptr_null(kv);
    /* Undo it with a fresh store of the same directory name. */
    snprintf(store_dir, sizeof(store_dir), "%s/store%zu", root, i);
    kv = open_store(1);
  }
  mg_kv_close(kv);
}
END_TEST

START_TEST(test_kek_fd) {
  mg_kv *kv = open_store(1);
  ck_assert_int_eq(put_str(kv, MG_KV_IDENTITIES, "x", "y"), 0);
  mg_kv_close(kv);
  kv = NULL;

  /* A regular file descriptor (systemd LoadCredential). */
  mg_kv_options o = opts(0);
  o.kek_path = NULL;
  o.kek_fd = open(kek_path, O_RDONLY);
  ck_assert_int_ge(o.kek_fd, 0);
  ck_assert_int_eq(mg_kv_open(&kv, &o), 0);
  ck_assert_int_eq(close(o.kek_fd), 0); /* the caller's descriptor */
  get_eq(kv, MG_KV_IDENTITIES, "x", "y");
  mg_kv_close(kv);
  kv = NULL;

  /* A pipe, read to its end. */
  int p[2];
  ck_assert_int_eq(pipe(p), 0);
  ck_assert_int_eq((int)write(p[1], kek1, 16), 16);
  ck_assert_int_eq((int)write(p[1], kek1 + 16, 16), 16);
  ck_assert_int_eq(close(p[1]), 0);
  o.kek_fd = p[0];
  ck_assert_int_eq(mg_kv_open(&kv, &o), 0);
  ck_assert_int_eq(close(p[0]), 0);
  mg_kv_close(kv);
  kv = NULL;

  /* A pipe with one byte too many. */
  ck_assert_int_eq(pipe(p), 0);
  ck_assert_int_eq((int)write(p[1], kek1, 32), 32);
  ck_assert_int_eq((int)write(p[1], "z", 1), 1);
  ck_assert_int_eq(close(p[1]), 0);
  o.kek_fd = p[0];
  ck_assert_int_eq(mg_kv_open(&kv, &o), MG_ERR_KEK);
  ck_assert_int_eq(close(p[0]), 0);

  /* A file descriptor to a file others can read. */
  ck_assert_int_eq(chmod(kek_path, 0644), 0);
  o.kek_fd = open(kek_path, O_RDONLY);
  ck_assert_int_ge(o.kek_fd, 0);
  ck_assert_int_eq(mg_kv_open(&kv, &o), MG_ERR_KEK);
  ck_assert_int_eq(close(o.kek_fd), 0);
  ck_assert_ptr_null(kv);
}
END_TEST

typedef struct {
  mg_kv_table tb;
  const uint8_t *key;
  size_t key_len;
  const uint8_t *val;
  size_t val_len;
} raw_put_arg;

static int raw_put_fn(mg_kv_txn *t, void *varg) {
  const raw_put_arg *a = varg;
  return mg_kv_put(t, a->tb, a->key, a->key_len, a->val, a->val_len, 0);
}

START_TEST(test_schema) {
  static const uint8_t newer[4] = {0, 0, 0, MG_KV_SCHEMA_VERSION + 1};
  static const uint8_t zero[4] = {0, 0, 0, 0};
  static const uint8_t big[4] = {0xff, 0xff, 0xff, 0xff};
  static const uint8_t shortv[3] = {0, 0, 1};
  static const uint8_t current[4] = {0, 0, 0, MG_KV_SCHEMA_VERSION};
  const struct {
    const uint8_t *v;
    size_t len;
  } bad[] = {{newer, 4}, {zero, 4}, {big, 4}, {shortv, 3}};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    snprintf(store_dir, sizeof(store_dir), "%s/store%zu", root, i);
    mg_kv *kv = open_store(1);
    /* Written through the interface: the meta table is a table. */
    raw_put_arg a = {MG_KV_META, (const uint8_t *)"schema", 6, bad[i].v,
                     bad[i].len};
    ck_assert_int_eq(mg_kv_write(kv, raw_put_fn, &a), 0);
    mg_kv_close(kv);
    kv = NULL;
    mg_kv_options o = opts(0);
    ck_assert_msg(mg_kv_open(&kv, &o) == MG_ERR_SCHEMA, "case %zu", i);
    ck_assert_ptr_null(kv);
    /* Creating over it is refused all the same. */
    mg_kv_options oc = opts(1);
    ck_assert_int_eq(mg_kv_open(&kv, &oc), MG_ERR_EXISTS);
    ck_assert_ptr_null(kv);
  }
  /* The current version written back opens. */
  snprintf(store_dir, sizeof(store_dir), "%s/store-current", root);
  mg_kv *kv = open_store(1);
  raw_put_arg a = {MG_KV_META, (const uint8_t *)"schema", 6, current, 4};
  ck_assert_int_eq(mg_kv_write(kv, raw_put_fn, &a), 0);
  mg_kv_close(kv);
  kv = open_store(0);
  mg_kv_close(kv);
}
END_TEST

/* ------------------------------------------------------------- records */

static int ops_fn(mg_kv_txn *t, void *varg) {
  (void)varg;
  const uint8_t *k = (const uint8_t *)"k1";
  uint8_t *v = NULL;
  size_t v_len = 0;
  ck_assert_int_eq(
      mg_kv_put(t, MG_KV_GROUPS, k, 2, (const uint8_t *)"one", 3, 0), 0);
  /* Inside the transaction the write is visible. */
  ck_assert_int_eq(mg_kv_get(t, MG_KV_GROUPS, k, 2, &v, &v_len), 0);
  ck_assert_uint_eq(v_len, 3);
  ck_assert_mem_eq(v, "one", 3);
  free(v);
  /* Insert over an existing key; replace. */
  ck_assert_int_eq(mg_kv_put(t, MG_KV_GROUPS, k, 2, (const uint8_t *)"two", 3,
                             MG_KV_PUT_INSERT),
                   MG_ERR_EXISTS);
  ck_assert_int_eq(
      mg_kv_put(t, MG_KV_GROUPS, k, 2, (const uint8_t *)"three", 5, 0), 0);
  /* An empty value. */
  ck_assert_int_eq(mg_kv_put(t, MG_KV_GROUPS, (const uint8_t *)"e", 1, NULL, 0,
                             MG_KV_PUT_INSERT),
                   0);
  ck_assert_int_eq(
      mg_kv_get(t, MG_KV_GROUPS, (const uint8_t *)"e", 1, &v, &v_len), 0);
  ck_assert_ptr_nonnull(v);
  ck_assert_uint_eq(v_len, 0);
  free(v);
  /* Deleting. */
  ck_assert_int_eq(mg_kv_put(t, MG_KV_GROUPS, (const uint8_t *)"gone", 4,
                             (const uint8_t *)"x", 1, 0),
                   0);
  ck_assert_int_eq(mg_kv_del(t, MG_KV_GROUPS, (const uint8_t *)"gone", 4), 0);
  ck_assert_int_eq(mg_kv_del(t, MG_KV_GROUPS, (const uint8_t *)"gone", 4),
                   MG_ERR_NOT_FOUND);
  ck_assert_int_eq(
      mg_kv_get(t, MG_KV_GROUPS, (const uint8_t *)"gone", 4, &v, &v_len),
      MG_ERR_NOT_FOUND);
  ck_assert_ptr_null(v);
  /* Keys: empty, too long, the longest; bad table; bad flags. */
  uint8_t longkey[MG_KV_MAX_KEY_LEN + 1];
  memset(longkey, 'L', sizeof(longkey));
  ck_assert_int_eq(mg_kv_put(t, MG_KV_GROUPS, k, 0, k, 1, 0),
                   MG_ERR_INVALID_ARG);
  ck_assert_int_eq(
      mg_kv_put(t, MG_KV_GROUPS, longkey, sizeof(longkey), k, 1, 0),
      MG_ERR_INVALID_ARG);
  ck_assert_int_eq(
      mg_kv_put(t, MG_KV_AUDIT, longkey, MG_KV_MAX_KEY_LEN, k, 1, 0), 0);
  ck_assert_int_eq(mg_kv_put(t, MG_KV_NUM_TABLES, k, 2, k, 1, 0),
                   MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mg_kv_put(t, MG_KV_GROUPS, k, 2, k, 1, 4),
                   MG_ERR_INVALID_ARG);
  /* The table is separate from the others. */
  ck_assert_int_eq(mg_kv_get(t, MG_KV_LEASES, k, 2, &v, &v_len),
                   MG_ERR_NOT_FOUND);
  return 0;
}

START_TEST(test_records) {
  mg_kv *kv = open_store(1);
  ck_assert_int_eq(mg_kv_write(kv, ops_fn, NULL), 0);
  get_eq(kv, MG_KV_GROUPS, "k1", "three");
  get_eq(kv, MG_KV_GROUPS, "e", "");
  get_eq(kv, MG_KV_GROUPS, "gone", NULL);
  ck_assert_uint_eq(count_groups(kv), 2);
  mg_kv_close(kv);
  kv = open_store(0);
  get_eq(kv, MG_KV_GROUPS, "k1", "three");
  ck_assert_int_eq(mg_kv_write(kv, NULL, NULL), MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mg_kv_read(NULL, fail_fn, NULL), MG_ERR_INVALID_ARG);
  mg_kv_close(kv);
}
END_TEST

typedef struct {
  char keys[16][16];
  size_t n;
  size_t stop_after;
} scan_acc;

static int scan_cb(void *arg, const uint8_t *key, size_t key_len,
                   const uint8_t *val, size_t val_len) {
  scan_acc *a = arg;
  ck_assert_uint_lt(a->n, 16);
  ck_assert_uint_lt(key_len, 16);
  /* Values are "v" || key. */
  ck_assert_uint_eq(val_len, key_len + 1);
  ck_assert_int_eq(val[0], 'v');
  ck_assert_mem_eq(val + 1, key, key_len);
  memcpy(a->keys[a->n], key, key_len);
  a->keys[a->n][key_len] = '\0';
  a->n++;
  if (a->stop_after != 0 && a->n == a->stop_after) {
    return 1;
  }
  return 0;
}

static int scan_fail_cb(void *arg, const uint8_t *key, size_t key_len,
                        const uint8_t *val, size_t val_len) {
  (void)arg;
  (void)key;
  (void)key_len;
  (void)val;
  (void)val_len;
  return MG_ERR_CONFLICT;
}

static const char *const scan_keys[] = {"a",      "ab", "abc", "abd",
                                        "ab\xff", "ac", "b",   "ba"};

static int fill_fn(mg_kv_txn *t, void *varg) {
  (void)varg;
  for (size_t i = 0; i < sizeof(scan_keys) / sizeof(scan_keys[0]); i++) {
    char v[16];
    size_t n = strlen(scan_keys[i]);
    v[0] = 'v';
    memcpy(v + 1, scan_keys[i], n);
    int rc = mg_kv_put(t, MG_KV_AUDIT, (const uint8_t *)scan_keys[i], n,
                       (const uint8_t *)v, n + 1, MG_KV_PUT_INSERT);
    if (rc != 0) {
      return rc;
    }
  }
  return 0;
}

static int scan_check_fn(mg_kv_txn *t, void *varg) {
  (void)varg;
  scan_acc a;
  memset(&a, 0, sizeof(a));
  ck_assert_int_eq(
      mg_kv_scan(t, MG_KV_AUDIT, (const uint8_t *)"ab", 2, scan_cb, &a), 0);
  ck_assert_uint_eq(a.n, 4);
  ck_assert_str_eq(a.keys[0], "ab");
  ck_assert_str_eq(a.keys[1], "abc");
  ck_assert_str_eq(a.keys[2], "abd");
  ck_assert_str_eq(a.keys[3], "ab\xff");
  /* All records, in key order. */
  memset(&a, 0, sizeof(a));
  ck_assert_int_eq(mg_kv_scan(t, MG_KV_AUDIT, NULL, 0, scan_cb, &a), 0);
  ck_assert_uint_eq(a.n, 8);
  ck_assert_str_eq(a.keys[0], "a");
  ck_assert_str_eq(a.keys[7], "ba");
  /* Stop early. */
  memset(&a, 0, sizeof(a));
  a.stop_after = 2;
  ck_assert_int_eq(
      mg_kv_scan(t, MG_KV_AUDIT, (const uint8_t *)"a", 1, scan_cb, &a), 0);
  ck_assert_uint_eq(a.n, 2);
  /* No match: past the end, and between keys. */
  memset(&a, 0, sizeof(a));
  ck_assert_int_eq(
      mg_kv_scan(t, MG_KV_AUDIT, (const uint8_t *)"c", 1, scan_cb, &a), 0);
  ck_assert_int_eq(
      mg_kv_scan(t, MG_KV_AUDIT, (const uint8_t *)"aa", 2, scan_cb, &a), 0);
  ck_assert_int_eq(mg_kv_scan(t, MG_KV_GROUPS, NULL, 0, scan_cb, &a), 0);
  ck_assert_uint_eq(a.n, 0);
  /* A failing callback. */
  ck_assert_int_eq(mg_kv_scan(t, MG_KV_AUDIT, NULL, 0, scan_fail_cb, NULL),
                   MG_ERR_CONFLICT);
  /* last and count. */
  uint8_t *k = NULL;
  size_t k_len = 0;
  ck_assert_int_eq(mg_kv_last(t, MG_KV_AUDIT, &k, &k_len), 0);
  ck_assert_uint_eq(k_len, 2);
  ck_assert_mem_eq(k, "ba", 2);
  free(k);
  k = NULL;
  ck_assert_int_eq(mg_kv_last(t, MG_KV_GROUPS, &k, &k_len), MG_ERR_NOT_FOUND);
  ck_assert_ptr_null(k);
  uint64_t n = 0;
  ck_assert_int_eq(mg_kv_count(t, MG_KV_AUDIT, &n), 0);
  ck_assert_uint_eq(n, 8);
  ck_assert_int_eq(mg_kv_count(t, MG_KV_GROUPS, &n), 0);
  ck_assert_uint_eq(n, 0);
  return 0;
}

START_TEST(test_scan_last_count) {
  mg_kv *kv = open_store(1);
  ck_assert_int_eq(mg_kv_write(kv, fill_fn, NULL), 0);
  ck_assert_int_eq(mg_kv_read(kv, scan_check_fn, NULL), 0);
  /* Inside a write transaction too. */
  ck_assert_int_eq(mg_kv_write(kv, scan_check_fn, NULL), 0);
  /* A second fill: every insert exists, nothing changes. */
  ck_assert_int_eq(mg_kv_write(kv, fill_fn, NULL), MG_ERR_EXISTS);
  ck_assert_int_eq(mg_kv_read(kv, scan_check_fn, NULL), 0);
  mg_kv_close(kv);
}
END_TEST

/* Writes two records, then fails: nothing is stored. */
static int write_then_fail_fn(mg_kv_txn *t, void *varg) {
  int *runs = varg;
  (*runs)++;
  ck_assert_int_eq(mg_kv_put(t, MG_KV_GROUPS, (const uint8_t *)"a", 1,
                             (const uint8_t *)"1", 1, 0),
                   0);
  ck_assert_int_eq(mg_kv_put_sealed(t, MG_KV_GROUPS, (const uint8_t *)"b", 1, 7,
                                    (const uint8_t *)"2", 1, 0),
                   0);
  ck_assert_int_eq(mg_kv_del(t, MG_KV_GROUPS, (const uint8_t *)"keep", 4), 0);
  return MG_ERR_CONFLICT;
}

static int read_writes_fn(mg_kv_txn *t, void *varg) {
  (void)varg;
  const uint8_t *k = (const uint8_t *)"keep";
  ck_assert_int_eq(mg_kv_put(t, MG_KV_GROUPS, k, 4, k, 4, 0),
                   MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mg_kv_put_sealed(t, MG_KV_GROUPS, k, 4, 1, k, 4, 0),
                   MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mg_kv_del(t, MG_KV_GROUPS, k, 4), MG_ERR_INVALID_ARG);
  return 0;
}

typedef struct {
  mg_kv *kv;
  int inner;
} nest_arg;

static int nest_fn(mg_kv_txn *t, void *varg) {
  nest_arg *a = varg;
  (void)t;
  a->inner = mg_kv_read(a->kv, fail_fn, NULL);
  ck_assert_int_eq(a->inner, MG_ERR_INVALID_ARG);
  a->inner = mg_kv_write(a->kv, fail_fn, NULL);
  ck_assert_int_eq(a->inner, MG_ERR_INVALID_ARG);
  return 0;
}

START_TEST(test_abort_and_readonly) {
  mg_kv *kv = open_store(1);
  ck_assert_int_eq(put_str(kv, MG_KV_GROUPS, "keep", "kept"), 0);
  int runs = 0;
  ck_assert_int_eq(mg_kv_write(kv, write_then_fail_fn, &runs), MG_ERR_CONFLICT);
  ck_assert_int_eq(runs, 1); /* an error is never re-run */
  get_eq(kv, MG_KV_GROUPS, "a", NULL);
  get_eq(kv, MG_KV_GROUPS, "b", NULL);
  get_eq(kv, MG_KV_GROUPS, "keep", "kept");
  ck_assert_uint_eq(count_groups(kv), 1);
  ck_assert_int_eq(mg_kv_read(kv, read_writes_fn, NULL), 0);
  get_eq(kv, MG_KV_GROUPS, "keep", "kept");
  /* Nested transactions on one store are refused. */
  nest_arg na = {kv, 0};
  ck_assert_int_eq(mg_kv_write(kv, nest_fn, &na), 0);
  ck_assert_int_eq(mg_kv_read(kv, nest_fn, &na), 0);
  mg_kv_close(kv);
}
END_TEST

/* ------------------------------------------------------ sealed records */

typedef struct {
  mg_kv_table tb;
  const char *key;
  uint64_t version;
  const uint8_t *pt;
  size_t pt_len;
} sealed_arg;

static int put_sealed_fn(mg_kv_txn *t, void *varg) {
  const sealed_arg *a = varg;
  return mg_kv_put_sealed(t, a->tb, (const uint8_t *)a->key, strlen(a->key),
                          a->version, a->pt, a->pt_len, 0);
}

/* check_sealed asserts that (tb, key) opens to |pt| at |version|. */
static void check_sealed_txn(mg_kv_txn *t, mg_kv_table tb, const char *key,
                             uint64_t version, const uint8_t *pt,
                             size_t pt_len) {
  uint8_t *out = NULL;
  size_t out_len = 0;
  uint64_t ver = 0;
  int rc = mg_kv_get_sealed(t, tb, (const uint8_t *)key, strlen(key), &ver,
                            &out, &out_len);
  ck_assert_msg(rc == 0, "get_sealed %s: %s", key, mg_err_name(rc));
  ck_assert_ptr_nonnull(out);
  ck_assert_uint_eq(ver, version);
  ck_assert_uint_eq(out_len, pt_len);
  if (pt_len > 0) {
    ck_assert_mem_eq(out, pt, pt_len);
  }
  mg_free_secret(out, out_len);
}

static int check_sealed_fn(mg_kv_txn *t, void *varg) {
  const sealed_arg *a = varg;
  check_sealed_txn(t, a->tb, a->key, a->version, a->pt, a->pt_len);
  return 0;
}

static void expect_tampered(mg_kv_txn *t, mg_kv_table tb, const uint8_t *key,
                            size_t key_len, const char *what, size_t i) {
  static uint8_t sentinel[1];
  uint8_t *out = sentinel;
  size_t out_len = 77;
  uint64_t ver = 77;
  int rc = mg_kv_get_sealed(t, tb, key, key_len, &ver, &out, &out_len);
  ck_assert_msg(rc == MG_ERR_TAMPERED, "%s %zu: %s", what, i, mg_err_name(rc));
  ck_assert_ptr_null(out);
  ck_assert_uint_eq(out_len, 0);
  ck_assert_uint_eq(ver, 0);
}

/* tamper_fn alters the stored record of "rec" every way, checking each,
 * then puts it back. */
static int tamper_fn(mg_kv_txn *t, void *varg) {
  const sealed_arg *a = varg;
  const uint8_t *key = (const uint8_t *)a->key;
  size_t key_len = strlen(a->key);
  uint8_t *orig = NULL;
  size_t orig_len = 0;
  ck_assert_int_eq(mg_kv_get(t, a->tb, key, key_len, &orig, &orig_len), 0);
  ck_assert_uint_eq(orig_len, 1 + 8 + 24 + a->pt_len + 16);
  uint8_t *buf = malloc(orig_len + 1);
  ck_assert_ptr_nonnull(buf);
  static const uint8_t masks[] = {0x01, 0x80, 0xff};
  for (size_t i = 0; i < orig_len; i++) {
    for (size_t m = 0; m < sizeof(masks); m++) {
      memcpy(buf, orig, orig_len);
      buf[i] ^= masks[m];
      ck_assert_int_eq(mg_kv_put(t, a->tb, key, key_len, buf, orig_len, 0), 0);
      expect_tampered(t, a->tb, key, key_len, "flip", i);
    }
  }
  /* Every truncation, and one byte more. */
  for (size_t n = 0; n < orig_len; n++) {
    ck_assert_int_eq(mg_kv_put(t, a->tb, key, key_len, orig, n, 0), 0);
    expect_tampered(t, a->tb, key, key_len, "truncate", n);
  }
  memcpy(buf, orig, orig_len);
  buf[orig_len] = 0;
  ck_assert_int_eq(mg_kv_put(t, a->tb, key, key_len, buf, orig_len + 1, 0), 0);
  expect_tampered(t, a->tb, key, key_len, "append", 0);
  /* Another version in the header (the AAD binds it). */
  memcpy(buf, orig, orig_len);
  uint64_t v = a->version + 1;
  for (int i = 7; i >= 0; i--) {
    buf[1 + i] = (uint8_t)v;
    v >>= 8;
  }
  ck_assert_int_eq(mg_kv_put(t, a->tb, key, key_len, buf, orig_len, 0), 0);
  expect_tampered(t, a->tb, key, key_len, "version", 0);
  /* Moved to another key of the same table, and to another table. */
  ck_assert_int_eq(mg_kv_put(t, a->tb, key, key_len, orig, orig_len, 0), 0);
  ck_assert_int_eq(
      mg_kv_put(t, a->tb, (const uint8_t *)"other", 5, orig, orig_len, 0), 0);
  expect_tampered(t, a->tb, (const uint8_t *)"other", 5, "moved key", 0);
  ck_assert_int_eq(
      mg_kv_put(t, a->tb, (const uint8_t *)"rec\0", 4, orig, orig_len, 0), 0);
  expect_tampered(t, a->tb, (const uint8_t *)"rec\0", 4, "key suffix", 0);
  ck_assert_int_eq(
      mg_kv_put(t, MG_KV_SIGNING_KEYS, key, key_len, orig, orig_len, 0), 0);
  expect_tampered(t, MG_KV_SIGNING_KEYS, key, key_len, "moved table", 0);
  /* The original still opens. */
  check_sealed_txn(t, a->tb, a->key, a->version, a->pt, a->pt_len);
  free(buf);
  free(orig);
  return 0;
}

static int not_found_sealed_fn(mg_kv_txn *t, void *varg) {
  (void)varg;
  uint8_t *out = NULL;
  size_t out_len = 5;
  uint64_t ver = 5;
  ck_assert_int_eq(mg_kv_get_sealed(t, MG_KV_GROUPS, (const uint8_t *)"nope", 4,
                                    &ver, &out, &out_len),
                   MG_ERR_NOT_FOUND);
  ck_assert_ptr_null(out);
  ck_assert_uint_eq(out_len, 0);
  /* The version is optional. */
  ck_assert_int_eq(mg_kv_get_sealed(t, MG_KV_GROUPS, (const uint8_t *)"rec", 3,
                                    NULL, &out, &out_len),
                   0);
  ck_assert_uint_eq(out_len, 40);
  mg_free_secret(out, out_len);
  return 0;
}

START_TEST(test_sealed) {
  mg_kv *kv = open_store(1);
  uint8_t pt[40];
  for (size_t i = 0; i < sizeof(pt); i++) {
    pt[i] = (uint8_t)(i * 7 + 1);
  }
  sealed_arg a = {MG_KV_GROUPS, "rec", 0x0102030405060708ull, pt, sizeof(pt)};
  ck_assert_int_eq(mg_kv_write(kv, put_sealed_fn, &a), 0);
  ck_assert_int_eq(mg_kv_read(kv, check_sealed_fn, &a), 0);
  /* An empty plaintext and a large one. */
  sealed_arg e = {MG_KV_SIGNING_KEYS, "empty", 0, NULL, 0};
  ck_assert_int_eq(mg_kv_write(kv, put_sealed_fn, &e), 0);
  size_t big_len = 300000;
  uint8_t *big = malloc(big_len);
  ck_assert_ptr_nonnull(big);
  ck_assert_int_eq(mg_random_bytes(big, big_len), 0);
  sealed_arg b = {MG_KV_KEY_PACKAGES, "big", UINT64_MAX, big, big_len};
  ck_assert_int_eq(mg_kv_write(kv, put_sealed_fn, &b), 0);
  mg_kv_close(kv);

  kv = open_store(0);
  ck_assert_int_eq(mg_kv_read(kv, check_sealed_fn, &a), 0);
  ck_assert_int_eq(mg_kv_read(kv, check_sealed_fn, &e), 0);
  ck_assert_int_eq(mg_kv_read(kv, check_sealed_fn, &b), 0);
  free(big);
  /* The stored record is not the plaintext. */
  get_arg g = {MG_KV_GROUPS, "rec", NULL, 0};
  ck_assert_int_eq(mg_kv_read(kv, get_fn, &g), 0);
  for (size_t i = 0; i + 8 <= g.val_len; i++) {
    ck_assert_int_ne(memcmp(g.val + i, pt, 8), 0);
  }
  free(g.val);
  /* Tampering, inside a write transaction that is then aborted. */
  ck_assert_int_eq(mg_kv_write(kv, tamper_fn, &a), 0);
  ck_assert_int_eq(mg_kv_read(kv, check_sealed_fn, &a), 0);
  /* Not found. */
  ck_assert_int_eq(mg_kv_read(kv, not_found_sealed_fn, NULL), 0);
  mg_kv_close(kv);
}
END_TEST

/* Record nonces (kv_lmdb.c: a random prefix per process and a counter)
 * never repeat: 200 records of the same plaintext, each nonce distinct,
 * and a forked child's records (its own store) share no nonce prefix with
 * the parent's. */
static void nonce_of(mg_kv *kv, const char *key, uint8_t out[24]) {
  get_arg g = {MG_KV_GROUPS, key, NULL, 0};
  ck_assert_int_eq(mg_kv_read(kv, get_fn, &g), 0);
  ck_assert_uint_ge(g.val_len, 9 + 24);
  memcpy(out, g.val + 9, 24); /* format, version, nonce */
  free(g.val);
}

START_TEST(test_sealed_nonces_unique) {
  mg_kv *kv = open_store(1);
  static uint8_t nonces[200][24];
  uint8_t pt[16] = {1, 2, 3};
  char key[16];
  int fds[2];
  pid_t pid;
  int status = 0;
  for (int i = 0; i < 200; i++) {
    snprintf(key, sizeof(key), "n%03d", i);
    sealed_arg a = {MG_KV_GROUPS, key, 1, pt, sizeof(pt)};
    ck_assert_int_eq(mg_kv_write(kv, put_sealed_fn, &a), 0);
    nonce_of(kv, key, nonces[i]);
    for (int j = 0; j < i; j++) {
      ck_assert_int_ne(memcmp(nonces[i], nonces[j], 24), 0);
    }
  }
  mg_kv_close(kv);
  /* A child seals into a store of its own and sends back its nonce. */
  ck_assert_int_eq(pipe(fds), 0);
  pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    uint8_t n[24] = {0};
    char dir[sizeof(root) + 16];
    mg_kv_options o = opts(1);
    mg_kv *ckv = NULL;
    sealed_arg a = {MG_KV_GROUPS, "child", 1, pt, sizeof(pt)};
    path_in_root(dir, sizeof(dir), "child");
    o.dir = dir;
    if (mg_kv_open(&ckv, &o) == 0 && mg_kv_write(ckv, put_sealed_fn, &a) == 0) {
      nonce_of(ckv, "child", n);
    }
    mg_kv_close(ckv);
    _exit(write(fds[1], n, sizeof(n)) == (ssize_t)sizeof(n) ? 0 : 1);
  }
  close(fds[1]);
  uint8_t child[24];
  ck_assert_int_eq(read(fds[0], child, sizeof(child)), (ssize_t)sizeof(child));
  close(fds[0]);
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ck_assert_int_ne(memcmp(child, nonces[0], 16), 0);
}
END_TEST

/* ---------------------------------------------------------- map growth */

typedef struct {
  int runs;
  uint32_t first;
  uint32_t num;
  size_t val_len;
  int sealed;
} bulk_arg;

static void bulk_value(uint8_t *v, size_t len, uint32_t i) {
  for (size_t j = 0; j < len; j++) {
    v[j] = (uint8_t)(i * 31 + j);
  }
}

static void bulk_key(uint8_t k[8], uint32_t i) {
  memcpy(k, "blk", 3);
  k[3] = (uint8_t)(i >> 24);
  k[4] = (uint8_t)(i >> 16);
  k[5] = (uint8_t)(i >> 8);
  k[6] = (uint8_t)i;
  k[7] = 'z';
}

static int bulk_fn(mg_kv_txn *t, void *varg) {
  bulk_arg *a = varg;
  uint8_t *v = malloc(a->val_len);
  uint8_t k[8];
  int rc = 0;
  ck_assert_ptr_nonnull(v);
  a->runs++;
  for (uint32_t i = a->first; i < a->first + a->num && rc == 0; i++) {
    bulk_key(k, i);
    bulk_value(v, a->val_len, i);
    if (a->sealed) {
      rc = mg_kv_put_sealed(t, MG_KV_AUDIT, k, sizeof(k), i, v, a->val_len,
                            MG_KV_PUT_INSERT);
    } else {
      rc = mg_kv_put(t, MG_KV_AUDIT, k, sizeof(k), v, a->val_len,
                     MG_KV_PUT_INSERT);
    }
  }
  free(v);
  return rc;
}

/* Records [0, num) exist; those in [sealed_from, sealed_to) are sealed. */
typedef struct {
  uint32_t num;
  size_t val_len;
  uint32_t sealed_from;
  uint32_t sealed_to;
} verify_arg;

static int bulk_verify_fn(mg_kv_txn *t, void *varg) {
  const verify_arg *a = varg;
  uint8_t *want = malloc(a->val_len);
  ck_assert_ptr_nonnull(want);
  uint64_t n = 0;
  ck_assert_int_eq(mg_kv_count(t, MG_KV_AUDIT, &n), 0);
  ck_assert_uint_eq(n, a->num);
  for (uint32_t i = 0; i < a->num; i++) {
    uint8_t k[8];
    uint8_t *v = NULL;
    size_t v_len = 0;
    uint64_t ver = 0;
    bulk_key(k, i);
    bulk_value(want, a->val_len, i);
    if (i >= a->sealed_from && i < a->sealed_to) {
      ck_assert_int_eq(
          mg_kv_get_sealed(t, MG_KV_AUDIT, k, sizeof(k), &ver, &v, &v_len), 0);
      ck_assert_uint_eq(ver, i);
    } else {
      ck_assert_int_eq(mg_kv_get(t, MG_KV_AUDIT, k, sizeof(k), &v, &v_len), 0);
    }
    ck_assert_uint_eq(v_len, a->val_len);
    ck_assert_mem_eq(v, want, v_len);
    mg_free_secret(v, v_len);
  }
  free(want);
  return 0;
}

START_TEST(test_map_growth) {
  mg_kv *kv = NULL;
  mg_kv_options o = opts(1);
  o.map_size = 64 << 10;
  ck_assert_int_eq(mg_kv_open(&kv, &o), 0);
  /* 2 MiB in 128 sealed transactions of 16 KiB (records 1024..1535). */
  int total_runs = 0;
  for (uint32_t i = 0; i < 128; i++) {
    bulk_arg many = {0, 1024 + i * 4, 4, 4096, 1};
    ck_assert_int_eq(mg_kv_write(kv, bulk_fn, &many), 0);
    ck_assert_int_ge(many.runs, 1);
    total_runs += many.runs;
  }
  ck_assert_int_gt(total_runs, 128 + 3); /* 64 KiB -> 2 MiB: 5 doublings */
  /* 4 MiB in one transaction: 1024 values of 4 KiB (records 0..1023). */
  bulk_arg one = {0, 0, 1024, 4096, 0};
  ck_assert_int_eq(mg_kv_write(kv, bulk_fn, &one), 0);
  ck_assert_int_ge(one.runs, 2); /* the map had to grow */
  verify_arg va = {1024 + 512, 4096, 1024, 1536};
  ck_assert_int_eq(mg_kv_read(kv, bulk_verify_fn, &va), 0);
  mg_kv_close(kv);
  /* Reopened without a size: the grown map is kept. */
  kv = open_store(0);
  ck_assert_int_eq(mg_kv_read(kv, bulk_verify_fn, &va), 0);
  bulk_arg more = {0, 1536, 64, 4096, 0};
  ck_assert_int_eq(mg_kv_write(kv, bulk_fn, &more), 0);
  mg_kv_close(kv);
  /* Reopened with a tiny map again: LMDB keeps what the data needs,
   * and the map grows again on demand. */
  kv = NULL;
  o.create = 0;
  ck_assert_int_eq(mg_kv_open(&kv, &o), 0);
  verify_arg vb = {1600, 4096, 1024, 1536};
  ck_assert_int_eq(mg_kv_read(kv, bulk_verify_fn, &vb), 0);
  bulk_arg last = {0, 1600, 256, 4096, 0};
  ck_assert_int_eq(mg_kv_write(kv, bulk_fn, &last), 0);
  verify_arg vc = {1856, 4096, 1024, 1536};
  ck_assert_int_eq(mg_kv_read(kv, bulk_verify_fn, &vc), 0);
  mg_kv_close(kv);
}
END_TEST

/* Readers in other threads while the writer grows the map: the remap
 * waits for them, and they never see a torn or missing record. */
typedef struct {
  mg_kv *kv;
  atomic_int stop;
  atomic_int reads;
  atomic_int err;
} reader_ctx;

static const uint8_t fixed_pt[] = "a record every reader checks";

static int reader_fn(mg_kv_txn *t, void *varg) {
  uint64_t *last = varg;
  uint8_t *pt = NULL;
  size_t pt_len = 0;
  uint64_t ver = 0;
  uint64_t n = 0;
  int rc = mg_kv_get_sealed(t, MG_KV_GROUPS, (const uint8_t *)"fixed", 5, &ver,
                            &pt, &pt_len);
  if (rc == 0 && (ver != 9 || pt_len != sizeof(fixed_pt) ||
                  memcmp(pt, fixed_pt, pt_len) != 0)) {
    rc = MG_ERR_INTERNAL;
  }
  mg_free_secret(pt, pt_len);
  if (rc == 0) {
    rc = mg_kv_count(t, MG_KV_AUDIT, &n);
  }
  /* Snapshots only move forward, by whole transactions of 4 records. */
  if (rc == 0 && (n < *last || n % 4 != 0)) {
    rc = MG_ERR_INTERNAL;
  }
  *last = n;
  return rc;
}

static void *reader_thread(void *varg) {
  reader_ctx *c = varg;
  uint64_t last = 0;
  while (!atomic_load(&c->stop)) {
    int rc = mg_kv_read(c->kv, reader_fn, &last);
    if (rc != 0) {
      atomic_store(&c->err, rc);
      break;
    }
    atomic_fetch_add(&c->reads, 1);
  }
  return NULL;
}

START_TEST(test_growth_with_readers) {
  mg_kv *kv = NULL;
  mg_kv_options o = opts(1);
  o.map_size = 64 << 10;
  ck_assert_int_eq(mg_kv_open(&kv, &o), 0);
  sealed_arg f = {MG_KV_GROUPS, "fixed", 9, fixed_pt, sizeof(fixed_pt)};
  ck_assert_int_eq(mg_kv_write(kv, put_sealed_fn, &f), 0);
  reader_ctx c;
  c.kv = kv;
  atomic_init(&c.stop, 0);
  atomic_init(&c.reads, 0);
  atomic_init(&c.err, 0);
  pthread_t th[3];
  for (int i = 0; i < 3; i++) {
    ck_assert_int_eq(pthread_create(&th[i], NULL, reader_thread, &c), 0);
  }
  /* Valgrind runs one thread at a time: fewer transactions there. */
  uint32_t num_txns = getenv("MLSGATE_QUICK") != NULL ? 40 : 200;
  int runs = 0;
  for (uint32_t i = 0; i < num_txns; i++) {
    bulk_arg b = {0, i * 4, 4, 5000, 1};
    ck_assert_int_eq(mg_kv_write(kv, bulk_fn, &b), 0);
    runs += b.runs;
  }
  atomic_store(&c.stop, 1);
  for (int i = 0; i < 3; i++) {
    ck_assert_int_eq(pthread_join(th[i], NULL), 0);
  }
  ck_assert_msg(atomic_load(&c.err) == 0, "reader: %s",
                mg_err_name(atomic_load(&c.err)));
  ck_assert_int_gt(atomic_load(&c.reads), 0);
  /* 64 KiB -> 4 MiB (1 MiB quick) while they read */
  ck_assert_int_gt(runs, (int)num_txns);
  verify_arg va = {num_txns * 4, 5000, 0, num_txns * 4};
  ck_assert_int_eq(mg_kv_read(kv, bulk_verify_fn, &va), 0);
  mg_kv_close(kv);
}
END_TEST

/* Another process grows the map beyond this one's: this process adopts
 * the new size (LMDB's MDB_MAP_RESIZED) and goes on reading and writing. */
START_TEST(test_growth_by_other_process) {
  mg_kv *kv = open_store(1);
  mg_kv_close(kv);
  kv = NULL;
  int go[2];
  ck_assert_int_eq(pipe(go), 0);
  fflush(NULL);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    /* The child: wait for the parent to open, then write 6 MB. */
    char c;
    close(go[1]);
    mg_kv_options oc = opts(0);
    mg_kv *ckv = NULL;
    if (mg_kv_open(&ckv, &oc) != 0 || read(go[0], &c, 1) != 1) {
      _exit(2);
    }
    bulk_arg b = {0, 0, 1500, 4096, 0};
    int rc = mg_kv_write(ckv, bulk_fn, &b);
    mg_kv_close(ckv);
    _exit(rc == 0 ? 0 : 1);
  }
  close(go[0]);
  /* This process maps 64 KiB only. */
  mg_kv_options o = opts(0);
  o.map_size = 64 << 10;
  ck_assert_int_eq(mg_kv_open(&kv, &o), 0);
  ck_assert_int_eq(put_str(kv, MG_KV_GROUPS, "before", "x"), 0);
  ck_assert_int_eq((int)write(go[1], "g", 1), 1);
  close(go[1]);
  int status = 0;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  verify_arg va = {1500, 4096, 0, 0};
  ck_assert_int_eq(mg_kv_read(kv, bulk_verify_fn, &va), 0);
  ck_assert_int_eq(put_str(kv, MG_KV_GROUPS, "after", "y"), 0);
  bulk_arg more = {0, 1500, 100, 4096, 1};
  ck_assert_int_eq(mg_kv_write(kv, bulk_fn, &more), 0);
  get_eq(kv, MG_KV_GROUPS, "before", "x");
  get_eq(kv, MG_KV_GROUPS, "after", "y");
  mg_kv_close(kv);
}
END_TEST

/* ------------------------------------------------------------------ KEK */

START_TEST(test_kek_rotate) {
  mg_kv *kv = open_store(1);
  uint8_t pt[3][50];
  const char *names[3] = {"s0", "s1", "s2"};
  sealed_arg sa[3];
  for (int i = 0; i < 3; i++) {
    ck_assert_int_eq(mg_random_bytes(pt[i], sizeof(pt[i])), 0);
    sealed_arg a = {(mg_kv_table)(MG_KV_SIGNING_KEYS + i), names[i],
                    (uint64_t)i + 10, pt[i], sizeof(pt[i])};
    sa[i] = a;
    ck_assert_int_eq(mg_kv_write(kv, put_sealed_fn, &sa[i]), 0);
  }
  uint8_t kek2[MG_KV_KEK_LEN];
  ck_assert_int_eq(mg_random_bytes(kek2, sizeof(kek2)), 0);
  ck_assert_int_eq(mg_kv_kek_rotate(kv, kek2, 31), MG_ERR_KEK);
  ck_assert_int_eq(mg_kv_kek_rotate(kv, kek2, sizeof(kek2)), 0);
  /* The open store goes on working. */
  ck_assert_int_eq(mg_kv_read(kv, check_sealed_fn, &sa[0]), 0);
  mg_kv_close(kv);
  kv = NULL;

  /* The old KEK no longer opens it. */
  mg_kv_options o = opts(0);
  ck_assert_int_eq(mg_kv_open(&kv, &o), MG_ERR_KEK);
  /* Replace the file: the new one does, and every record opens. */
  ck_assert_int_eq(mg_kv_kek_replace(kek_path, kek2, 31), MG_ERR_KEK);
  ck_assert_int_eq(mg_kv_kek_replace(kek_path, kek2, sizeof(kek2)), 0);
  struct stat st;
  ck_assert_int_eq(stat(kek_path, &st), 0);
  ck_assert_int_eq(st.st_mode & 0777, 0600);
  ck_assert_int_eq((int)st.st_size, MG_KV_KEK_LEN);
  kv = open_store(0);
  for (int i = 0; i < 3; i++) {
    ck_assert_int_eq(mg_kv_read(kv, check_sealed_fn, &sa[i]), 0);
  }
  mg_kv_close(kv);
  mg_memzero(kek2, sizeof(kek2));
}
END_TEST

START_TEST(test_kek_generate) {
  char p[4300];
  path_in_root(p, sizeof(p), "gen.kek");
  ck_assert_int_eq(mg_kv_kek_generate(p), 0);
  ck_assert_int_eq(mg_kv_kek_generate(p), MG_ERR_EXISTS);
  struct stat st;
  ck_assert_int_eq(stat(p, &st), 0);
  ck_assert_int_eq(st.st_mode & 0777, 0600);
  ck_assert_int_eq((int)st.st_size, MG_KV_KEK_LEN);
  /* A store made with it. */
  mg_kv *kv = NULL;
  mg_kv_options o = opts(1);
  o.kek_path = p;
  ck_assert_int_eq(mg_kv_open(&kv, &o), 0);
  mg_kv_close(kv);
  kv = NULL;
  o.create = 0;
  ck_assert_int_eq(mg_kv_open(&kv, &o), 0);
  mg_kv_close(kv);
  kv = NULL;
  /* Another key does not open it. */
  char q[4300];
  path_in_root(q, sizeof(q), "gen2.kek");
  ck_assert_int_eq(mg_kv_kek_generate(q), 0);
  o.kek_path = q;
  ck_assert_int_eq(mg_kv_open(&kv, &o), MG_ERR_KEK);
  char bad[4300];
  path_in_root(bad, sizeof(bad), "no/such/dir/k");
  ck_assert_int_lt(mg_kv_kek_generate(bad), 0);
}
END_TEST

/* ------------------------------------------------------ backup/restore */

typedef struct {
  uint8_t digest[MG_MAX_HASH_LEN];
  uint8_t acc[MG_MAX_HASH_LEN];
  uint64_t n;
} dump_acc;

static int dump_cb(void *arg, const uint8_t *key, size_t key_len,
                   const uint8_t *val, size_t val_len) {
  dump_acc *d = arg;
  /* A running hash over (key, value) pairs: H(prev || key || value). */
  size_t len = 32 + 2 + key_len + 4 + val_len;
  uint8_t *buf = malloc(len);
  ck_assert_ptr_nonnull(buf);
  memcpy(buf, d->acc, 32);
  buf[32] = (uint8_t)(key_len >> 8);
  buf[33] = (uint8_t)key_len;
  memcpy(buf + 34, key, key_len);
  buf[34 + key_len] = (uint8_t)(val_len >> 24);
  buf[35 + key_len] = (uint8_t)(val_len >> 16);
  buf[36 + key_len] = (uint8_t)(val_len >> 8);
  buf[37 + key_len] = (uint8_t)val_len;
  memcpy(buf + 38 + key_len, val, val_len);
  ck_assert_int_eq(mg_sha256.digest(&mg_sha256, d->acc, buf, len), 0);
  free(buf);
  d->n++;
  return 0;
}

/* dump_fn hashes every table except meta (whose data key wrapping is
 * the same bytes anyway). */
static int dump_fn(mg_kv_txn *t, void *varg) {
  dump_acc *d = varg;
  for (int tb = 0; tb < MG_KV_NUM_TABLES; tb++) {
    ck_assert_int_eq(mg_kv_scan(t, (mg_kv_table)tb, NULL, 0, dump_cb, d), 0);
  }
  return 0;
}

/* A restored file that is not a store: the open fails closed. */
START_TEST(test_restore_garbage) {
  char bk[3900];
  char dir[3900];
  uint8_t junk[8192];
  path_in_root(bk, sizeof(bk), "junk.mdb");
  path_in_root(dir, sizeof(dir), "junkstore");
  memset(junk, 0x5a, sizeof(junk));
  write_file(bk, junk, sizeof(junk), 0600);
  ck_assert_int_eq(mg_kv_restore(bk, dir), 0);
  snprintf(store_dir, sizeof(store_dir), "%s", dir);
  mg_kv *kv = NULL;
  mg_kv_options o = opts(0);
  ck_assert_int_eq(mg_kv_open(&kv, &o), MG_ERR_STORE);
  ck_assert_ptr_null(kv);
}
END_TEST

START_TEST(test_backup_restore) {
  mg_kv *kv = NULL;
  mg_kv_options o = opts(1);
  o.map_size = 64 << 10;
  ck_assert_int_eq(mg_kv_open(&kv, &o), 0);
  bulk_arg b = {0, 0, 200, 1000, 1};
  ck_assert_int_eq(mg_kv_write(kv, bulk_fn, &b), 0);
  ck_assert_int_eq(put_str(kv, MG_KV_GROUPS, "g", "state"), 0);
  sealed_arg s = {MG_KV_SIGNING_KEYS, "sk", 3, (const uint8_t *)"secret", 6};
  ck_assert_int_eq(mg_kv_write(kv, put_sealed_fn, &s), 0);
  dump_acc before;
  memset(&before, 0, sizeof(before));
  ck_assert_int_eq(mg_kv_read(kv, dump_fn, &before), 0);

  char bk[4300];
  path_in_root(bk, sizeof(bk), "backup.mdb");
  ck_assert_int_eq(mg_kv_backup(kv, bk), 0);
  ck_assert_int_eq(mg_kv_backup(kv, bk), MG_ERR_EXISTS);
  struct stat st;
  ck_assert_int_eq(stat(bk, &st), 0);
  ck_assert_int_eq(st.st_mode & 077, 0);
  /* The store goes on after the backup; the later write is not in it. */
  ck_assert_int_eq(put_str(kv, MG_KV_GROUPS, "after", "x"), 0);
  mg_kv_close(kv);

  /* Restore: not over a store. */
  ck_assert_int_eq(mg_kv_restore(bk, store_dir), MG_ERR_EXISTS);
  char missing[4300];
  path_in_root(missing, sizeof(missing), "nope.mdb");
  char dir2[3900];
  path_in_root(dir2, sizeof(dir2), "restored");
  ck_assert_int_eq(mg_kv_restore(missing, dir2), MG_ERR_NOT_FOUND);
  ck_assert_int_eq(mg_kv_restore(bk, dir2), 0);
  ck_assert_int_eq(mg_kv_restore(bk, dir2), MG_ERR_EXISTS);

  snprintf(store_dir, sizeof(store_dir), "%s", dir2);
  kv = open_store(0);
  dump_acc after;
  memset(&after, 0, sizeof(after));
  ck_assert_int_eq(mg_kv_read(kv, dump_fn, &after), 0);
  ck_assert_uint_eq(after.n, before.n);
  ck_assert_mem_eq(after.acc, before.acc, 32);
  get_eq(kv, MG_KV_GROUPS, "after", NULL);
  ck_assert_int_eq(mg_kv_read(kv, check_sealed_fn, &s), 0);
  verify_arg va = {200, 1000, 0, 200};
  ck_assert_int_eq(mg_kv_read(kv, bulk_verify_fn, &va), 0);
  /* The restored store is writable and grows. */
  bulk_arg more = {0, 200, 300, 1000, 0};
  ck_assert_int_eq(mg_kv_write(kv, bulk_fn, &more), 0);
  mg_kv_close(kv);
}
END_TEST

/* -------------------------------------------------------------- main */

int main(void) {
  Suite *s = suite_create("kv");
  TCase *tc = tcase_create("open");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_create_open_close);
  tcase_add_test(tc, test_open_errors);
  tcase_add_test(tc, test_kek_errors);
  tcase_add_test(tc, test_kek_fd);
  tcase_add_test(tc, test_schema);
  tcase_add_test(tc, test_wrapped_key_tampered);
  suite_add_tcase(s, tc);

  tc = tcase_create("records");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_records);
  tcase_add_test(tc, test_scan_last_count);
  tcase_add_test(tc, test_abort_and_readonly);
  suite_add_tcase(s, tc);

  tc = tcase_create("sealed");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_sealed);
  tcase_add_test(tc, test_sealed_nonces_unique);
  suite_add_tcase(s, tc);

  tc = tcase_create("growth");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_map_growth);
  tcase_add_test(tc, test_growth_with_readers);
  tcase_add_test(tc, test_growth_by_other_process);
  suite_add_tcase(s, tc);

  tc = tcase_create("admin");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_kek_rotate);
  tcase_add_test(tc, test_kek_generate);
  tcase_add_test(tc, test_backup_restore);
  tcase_add_test(tc, test_restore_garbage);
  suite_add_tcase(s, tc);

  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
