/*
 * The keystore's storage interface on LMDB (contract: kv.h, issue 5).
 *
 * This is the only file that includes <lmdb.h>.  Layout of a store
 * directory: data.mdb and lock.mdb of one LMDB environment, opened in
 * LMDB's default durable mode (a commit returns once data and meta page
 * are fsync'ed; no MDB_NOSYNC, MDB_NOMETASYNC, MDB_WRITEMAP or
 * MDB_NOMEMINIT), with MDB_NOTLS so that read transactions belong to the
 * transaction object rather than the thread.  Each mg_kv_table is a named
 * database.  LMDB's lock file serializes writers across processes and
 * threads; several processes may have the store open at once.
 *
 * The meta table holds
 *   "schema"    uint32 BE, MG_KV_SCHEMA_VERSION
 *   "data_key"  struct { uint8 format = 1; uint32 key_id;
 *                        opaque nonce[24]; opaque wrapped[32 + 16]; }
 *               the data key sealed by the KEK with XChaCha20-Poly1305,
 *               associated data "mlsgate data key v1" || uint32 key_id.
 *
 * Map growth.  mdb_env_set_mapsize remaps the file, so no transaction of
 * this process may be active meanwhile.  Every transaction therefore runs
 * under the read side of |map_lock|; growing (and adopting a size grown by
 * another process, MDB_MAP_RESIZED) takes the write side.  The lock
 * prefers writers where glibc allows, so a stream of readers cannot starve
 * a growing writer.  Transactions on one store must not be nested in one
 * thread (MG_ERR_INVALID_ARG): LMDB's writer lock is not recursive and a
 * nested read would deadlock against a waiting grower.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* pthread_rwlockattr_setkind_np */
#endif
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "common/guard.h"
#include "common/secmem.h"
#include "crypto/crypto.h"
#include "keystore/kv.h"

#define KS_DATA_KEY_LEN 32
#define KS_NONCE_LEN 24
#define KS_TAG_LEN 16
#define KS_DEFAULT_MAP_SIZE ((size_t)16 << 20)
/* Re-runs of one mg_kv_write after the map filled up: 2^24 times the
 * initial map is more than any store needs. */
#define KS_MAX_RERUNS 24
/* Adoptions of a map grown by another process per transaction. */
#define KS_MAX_RESIZED 8

#define KS_SEAL_FORMAT 1
#define KS_SEAL_HDR_LEN (1 + 8 + KS_NONCE_LEN)
#define KS_WRAP_FORMAT 1
#define KS_WRAP_KEY_ID 1u
#define KS_WRAP_LEN (1 + 4 + KS_NONCE_LEN + KS_DATA_KEY_LEN + KS_TAG_LEN)

static const char ks_record_label[] = "mlsgate record v1";
static const char ks_wrap_label[] = "mlsgate data key v1";
static const char ks_meta_schema[] = "schema";
static const char ks_meta_data_key[] = "data_key";

/* The tables' names in the store: fixed by the schema. */
static const char *const ks_table_names[MG_KV_NUM_TABLES] = {
    [MG_KV_META] = "meta",
    [MG_KV_IDENTITIES] = "identities",
    [MG_KV_SIGNING_KEYS] = "signing_keys",
    [MG_KV_KEY_PACKAGES] = "key_packages",
    [MG_KV_GROUPS] = "groups",
    [MG_KV_LEASES] = "leases",
    [MG_KV_AUDIT] = "audit",
    [MG_KV_AUDIT_TREE] = "audit_tree",
    [MG_KV_TOKENS] = "tokens",
    [MG_KV_IDEMPOTENCY] = "idempotency",
};

struct mg_kv {
  MDB_env *env;
  MDB_dbi dbi[MG_KV_NUM_TABLES];
  uint8_t *data_key; /* mg_secure_alloc, KS_DATA_KEY_LEN */
  pthread_rwlock_t map_lock;
  int map_lock_ready;
  /* The store directory's identity, for the open-stores registry. */
  dev_t dev;
  ino_t ino;
  int registered;
  struct mg_kv *next_open;
};

struct mg_kv_txn {
  mg_kv *kv;
  MDB_txn *txn;
  int rdonly;
  /* Set when LMDB ran out of map: mg_kv_write grows and re-runs. */
  int map_full;
  /* The first error that left the LMDB transaction unusable; a callback
   * that ignores it and returns 0 still gets it (nothing is committed). */
  int failed;
  /* mg_kv_txn_slot / mg_kv_txn_precommit (kv.h). */
  uint64_t slot;
  int slot_set;
  mg_kv_precommit_fn precommit;
  void *precommit_arg;
};

/* Record nonces (XChaCha20-Poly1305, 24 bytes): a 16-byte random prefix
 * drawn once per process, then a 64-bit counter, instead of 24 fresh
 * random bytes (a getrandom(2) call) per sealed record, which the
 * group-commit thread paid several times per operation.  Nonces stay
 * unique under one data key: within a process by the counter, between
 * processes (the daemon and mlsgatectl, restarts after a crash) by the
 * independent random prefixes (a collision has probability 2^-128 per
 * pair).  A forked child draws a prefix of its own before its first seal
 * (pthread_atfork), so parent and child never share one. */
static void ks_put_be64(uint8_t *p, uint64_t v);
static pthread_mutex_t ks_nonce_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t ks_nonce_once = PTHREAD_ONCE_INIT;
static uint8_t ks_nonce_prefix[16];
static uint64_t ks_nonce_counter;
static int ks_nonce_ready;

static void ks_nonce_child(void) {
  /* Single-threaded here: the child's first seal draws a new prefix. */
  ks_nonce_ready = 0;
  pthread_mutex_init(&ks_nonce_lock, NULL);
}

static void ks_nonce_register(void) {
  (void)pthread_atfork(NULL, NULL, ks_nonce_child);
}

static int ks_nonce(uint8_t out[KS_NONCE_LEN]) {
  int rc = 0;
  pthread_once(&ks_nonce_once, ks_nonce_register);
  pthread_mutex_lock(&ks_nonce_lock);
  if (!ks_nonce_ready) {
    rc = mg_random_bytes(ks_nonce_prefix, sizeof(ks_nonce_prefix));
    ks_nonce_counter = 0;
    ks_nonce_ready = rc == 0;
  }
  if (rc == 0) {
    memcpy(out, ks_nonce_prefix, sizeof(ks_nonce_prefix));
    ks_put_be64(out + sizeof(ks_nonce_prefix), ks_nonce_counter++);
    if (ks_nonce_counter == 0) {
      ks_nonce_ready = 0; /* 2^64 seals: a new prefix */
    }
  }
  pthread_mutex_unlock(&ks_nonce_lock);
  return rc;
}

/* The transaction this thread is running, to refuse nesting. */
static _Thread_local const mg_kv *ks_active;

/* Stores open in this process.  LMDB must not open one environment twice
 * in a process: closing either would drop the other's POSIX locks
 * (lmdb.h, "Caveats"). */
static pthread_mutex_t ks_open_mu = PTHREAD_MUTEX_INITIALIZER;
static mg_kv *ks_open_list;

/* ------------------------------------------------------------ helpers */

/* ks_err maps an LMDB or errno code to an mg_err. */
static int ks_err(int rc) {
  switch (rc) {
  case MDB_SUCCESS:
    return 0;
  case MDB_NOTFOUND:
    return MG_ERR_NOT_FOUND;
  case MDB_KEYEXIST:
    return MG_ERR_EXISTS;
  /* LMDB has no MDB_BUSY code; a busy resource is errno's EBUSY/EAGAIN. */
  case EBUSY:
  case EAGAIN:
  case MDB_READERS_FULL:
  case MDB_MAP_RESIZED:
    return MG_ERR_RETRY;
  case ENOMEM:
    return MG_ERR_NOMEM;
  default:
    return MG_ERR_STORE;
  }
}

static void ks_put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static uint32_t ks_get_be32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
         ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static void ks_put_be64(uint8_t *p, uint64_t v) {
  for (int i = 7; i >= 0; i--) {
    p[i] = (uint8_t)v;
    v >>= 8;
  }
}

static uint64_t ks_get_be64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) {
    v = (v << 8) | p[i];
  }
  return v;
}

/* ks_dup copies |len| bytes into a new heap buffer (at least one byte, so
 * an empty value is not a NULL). */
static uint8_t *ks_dup(const void *p, size_t len) {
  uint8_t *out = malloc(len > 0 ? len : 1);
  if (out != NULL && len > 0) {
    memcpy(out, p, len);
  }
  return out;
}

static int ks_check_key(const uint8_t *key, size_t key_len) {
  MG_ENSURE(key != NULL, MG_ERR_INVALID_ARG);
  MG_ENSURE(key_len >= 1 && key_len <= MG_KV_MAX_KEY_LEN, MG_ERR_INVALID_ARG);
  return 0;
}

static int ks_check_table(const mg_kv_txn *t, mg_kv_table tb) {
  MG_ENSURE(t != NULL && t->txn != NULL, MG_ERR_INVALID_ARG);
  MG_ENSURE((unsigned)tb < MG_KV_NUM_TABLES, MG_ERR_INVALID_ARG);
  return 0;
}

/* ks_txn_fail records an LMDB error that ends the transaction's
 * usefulness and returns its mg_err.  MDB_NOTFOUND and MDB_KEYEXIST leave
 * the transaction usable; MDB_MAP_FULL asks mg_kv_write to grow. */
static int ks_txn_fail(mg_kv_txn *t, int mrc) {
  int rc = ks_err(mrc);
  if (mrc == MDB_NOTFOUND || mrc == MDB_KEYEXIST) {
    return rc;
  }
  if (mrc == MDB_MAP_FULL) {
    t->map_full = 1;
    rc = MG_ERR_RETRY;
  }
  if (t->failed == 0) {
    t->failed = rc;
  }
  return rc;
}

/* ks_fsync_dir fsyncs the directory holding |path| (or |path| itself when
 * is_dir), so a created or renamed entry survives a crash. */
static int ks_fsync_dir(const char *path, int is_dir) {
  char *copy = NULL;
  const char *dir = path;
  int rc = 0;
  if (!is_dir) {
    copy = strdup(path);
    if (copy == NULL) {
      return MG_ERR_NOMEM;
    }
    char *slash = strrchr(copy, '/');
    if (slash == NULL) {
      dir = ".";
    } else if (slash == copy) {
      dir = "/";
    } else {
      *slash = '\0';
      dir = copy;
    }
  }
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    rc = MG_ERR_IO;
  } else {
    if (fsync(fd) != 0 && errno != EINVAL) {
      rc = MG_ERR_IO;
    }
    close(fd);
  }
  free(copy);
  return rc;
}

/* ks_join returns "dir/name" in a new buffer, or NULL. */
static char *ks_join(const char *dir, const char *name) {
  size_t a = strlen(dir);
  size_t b = strlen(name);
  char *p = malloc(a + 1 + b + 1);
  if (p == NULL) {
    return NULL;
  }
  memcpy(p, dir, a);
  p[a] = '/';
  memcpy(p + a + 1, name, b + 1);
  return p;
}

static int ks_write_all(int fd, const uint8_t *p, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return MG_ERR_IO;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* ----------------------------------------------------------------- KEK */

/* ks_kek_read_fd reads exactly MG_KV_KEK_LEN bytes and then EOF from |fd|.
 * A regular file must not be accessible to group or other. */
static int ks_kek_read_fd(int fd, uint8_t kek[MG_KV_KEK_LEN],
                          int require_regular) {
  struct stat st;
  uint8_t buf[MG_KV_KEK_LEN + 1];
  size_t got = 0;
  int rc = 0;
  if (fstat(fd, &st) != 0) {
    MG_FAIL(MG_ERR_KEK);
  }
  if (S_ISREG(st.st_mode)) {
    if ((st.st_mode & 077) != 0) {
      MG_FAIL(MG_ERR_KEK);
    }
  } else if (require_regular) {
    MG_FAIL(MG_ERR_KEK);
  }
  for (;;) {
    if (got == sizeof(buf)) {
      MG_FAIL(MG_ERR_KEK); /* longer than a KEK */
    }
    ssize_t n = read(fd, buf + got, sizeof(buf) - got);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      MG_FAIL(MG_ERR_KEK);
    }
    if (n == 0) {
      break;
    }
    got += (size_t)n;
  }
  if (got != MG_KV_KEK_LEN) {
    MG_FAIL(MG_ERR_KEK);
  }
  memcpy(kek, buf, MG_KV_KEK_LEN);
out:
  mg_memzero(buf, sizeof(buf));
  return rc;
}

static int ks_kek_load(const mg_kv_options *opt, uint8_t kek[MG_KV_KEK_LEN]) {
  if (opt->kek_path != NULL) {
    int fd = open(opt->kek_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
      return MG_ERR_KEK;
    }
    int rc = ks_kek_read_fd(fd, kek, 1);
    close(fd);
    return rc;
  }
  MG_ENSURE(opt->kek_fd >= 0, MG_ERR_KEK);
  return ks_kek_read_fd(opt->kek_fd, kek, 0);
}

static void ks_wrap_aad(uint8_t aad[sizeof(ks_wrap_label) - 1 + 4],
                        uint32_t key_id) {
  memcpy(aad, ks_wrap_label, sizeof(ks_wrap_label) - 1);
  ks_put_be32(aad + sizeof(ks_wrap_label) - 1, key_id);
}

/* ks_wrap seals the data key under |kek| into |out| (KS_WRAP_LEN). */
static int ks_wrap(uint8_t out[KS_WRAP_LEN], const uint8_t *kek,
                   const uint8_t *data_key) {
  uint8_t aad[sizeof(ks_wrap_label) - 1 + 4];
  const mg_aead_alg *aead = &mg_xchacha20poly1305;
  out[0] = KS_WRAP_FORMAT;
  ks_put_be32(out + 1, KS_WRAP_KEY_ID);
  MG_GUARD(mg_random_bytes(out + 5, KS_NONCE_LEN));
  ks_wrap_aad(aad, KS_WRAP_KEY_ID);
  return aead->seal(aead, out + 5 + KS_NONCE_LEN, kek, out + 5, KS_NONCE_LEN,
                    aad, sizeof(aad), data_key, KS_DATA_KEY_LEN);
}

/* ks_unwrap opens a wrapped data key into |data_key|: MG_ERR_KEK when the
 * KEK does not open it, MG_ERR_TAMPERED when the record is malformed. */
static int ks_unwrap(uint8_t *data_key, const uint8_t *kek, const uint8_t *w,
                     size_t w_len) {
  uint8_t aad[sizeof(ks_wrap_label) - 1 + 4];
  const mg_aead_alg *aead = &mg_xchacha20poly1305;
  MG_ENSURE(w_len == KS_WRAP_LEN && w[0] == KS_WRAP_FORMAT, MG_ERR_TAMPERED);
  ks_wrap_aad(aad, ks_get_be32(w + 1));
  int rc =
      aead->open(aead, data_key, kek, w + 5, KS_NONCE_LEN, aad, sizeof(aad),
                 w + 5 + KS_NONCE_LEN, KS_DATA_KEY_LEN + KS_TAG_LEN);
  return rc == MG_ERR_AUTH ? MG_ERR_KEK : rc;
}

/* ------------------------------------------------------ open and close */

/* ks_migrations[v] upgrades a version-v store to version v + 1 inside the
 * open's write transaction (after the data key is unwrapped, before the
 * tables are opened); mg_kv_open then writes the new "schema".  A
 * migration that adds a table creates it (mdb_dbi_open with MDB_CREATE)
 * and appends its name to ks_table_names.  Version 1 is the first schema,
 * so there is nothing to migrate yet: entry 0 stays NULL, and version 0
 * is unknown (MG_ERR_SCHEMA). */
typedef int (*ks_migrate_fn)(mg_kv *kv, MDB_txn *txn);
static const ks_migrate_fn ks_migrations[MG_KV_SCHEMA_VERSION] = {NULL};

static int ks_register(mg_kv *kv) {
  int rc = 0;
  pthread_mutex_lock(&ks_open_mu);
  for (const mg_kv *p = ks_open_list; p != NULL; p = p->next_open) {
    if (p->dev == kv->dev && p->ino == kv->ino) {
      rc = MG_ERR_STORE; /* already open in this process */
    }
  }
  if (rc == 0) {
    kv->next_open = ks_open_list;
    ks_open_list = kv;
    kv->registered = 1;
  }
  pthread_mutex_unlock(&ks_open_mu);
  return rc;
}

static void ks_unregister(mg_kv *kv) {
  if (!kv->registered) {
    return;
  }
  pthread_mutex_lock(&ks_open_mu);
  for (mg_kv **pp = &ks_open_list; *pp != NULL; pp = &(*pp)->next_open) {
    if (*pp == kv) {
      *pp = kv->next_open;
      break;
    }
  }
  pthread_mutex_unlock(&ks_open_mu);
  kv->registered = 0;
}

/* ks_prepare_dir checks the store directory: for create, makes it (0700)
 * if missing; otherwise data.mdb must exist (so that LMDB does not create
 * an empty environment).  Records the directory's identity. */
static int ks_prepare_dir(mg_kv *kv, const mg_kv_options *opt) {
  struct stat st;
  char *data = NULL;
  int rc = 0;
  if (opt->create && mkdir(opt->dir, 0700) != 0 && errno != EEXIST) {
    MG_FAIL(MG_ERR_STORE);
  }
  if (stat(opt->dir, &st) != 0) {
    MG_FAIL(errno == ENOENT ? MG_ERR_NOT_FOUND : MG_ERR_STORE);
  }
  if (!S_ISDIR(st.st_mode)) {
    MG_FAIL(MG_ERR_STORE);
  }
  kv->dev = st.st_dev;
  kv->ino = st.st_ino;
  if (!opt->create) {
    data = ks_join(opt->dir, "data.mdb");
    if (data == NULL) {
      MG_FAIL(MG_ERR_NOMEM);
    }
    if (stat(data, &st) != 0) {
      MG_FAIL(errno == ENOENT ? MG_ERR_NOT_FOUND : MG_ERR_STORE);
    }
  }
out:
  free(data);
  return rc;
}

static int ks_meta_get(MDB_txn *txn, MDB_dbi meta, const char *name,
                       MDB_val *val) {
  MDB_val k = {strlen(name), (void *)(uintptr_t)name};
  return mdb_get(txn, meta, &k, val);
}

static int ks_meta_put(MDB_txn *txn, MDB_dbi meta, const char *name,
                       const uint8_t *v, size_t v_len) {
  MDB_val k = {strlen(name), (void *)(uintptr_t)name};
  MDB_val d = {v_len, (void *)(uintptr_t)v};
  return mdb_put(txn, meta, &k, &d, 0);
}

/* ks_init_create writes a new store into an environment whose main
 * database is empty (an existing store: MG_ERR_EXISTS). */
static int ks_init_create(mg_kv *kv, MDB_txn *txn, const uint8_t *kek) {
  MDB_stat ms;
  MDB_dbi main_dbi;
  uint8_t schema[4];
  uint8_t wrapped[KS_WRAP_LEN];
  int mrc = mdb_dbi_open(txn, NULL, 0, &main_dbi);
  if (mrc == 0) {
    mrc = mdb_stat(txn, main_dbi, &ms);
  }
  MG_ENSURE(mrc == 0, ks_err(mrc));
  /* Named databases are records of the main one: a half-created store
   * (crash before the first commit) is empty and may be created again. */
  MG_ENSURE(ms.ms_entries == 0, MG_ERR_EXISTS);
  for (int i = 0; i < MG_KV_NUM_TABLES; i++) {
    mrc = mdb_dbi_open(txn, ks_table_names[i], MDB_CREATE, &kv->dbi[i]);
    MG_ENSURE(mrc == 0, ks_err(mrc));
  }
  MG_GUARD(mg_random_bytes(kv->data_key, KS_DATA_KEY_LEN));
  MG_GUARD(ks_wrap(wrapped, kek, kv->data_key));
  ks_put_be32(schema, MG_KV_SCHEMA_VERSION);
  mrc = ks_meta_put(txn, kv->dbi[MG_KV_META], ks_meta_schema, schema,
                    sizeof(schema));
  if (mrc == 0) {
    mrc = ks_meta_put(txn, kv->dbi[MG_KV_META], ks_meta_data_key, wrapped,
                      sizeof(wrapped));
  }
  return ks_err(mrc);
}

/* ks_init_open checks the schema, unwraps the data key, migrates and
 * opens the tables of an existing store. */
static int ks_init_open(mg_kv *kv, MDB_txn *txn, const uint8_t *kek) {
  MDB_val v;
  MDB_dbi meta;
  int mrc = mdb_dbi_open(txn, ks_table_names[MG_KV_META], 0, &meta);
  MG_ENSURE(mrc != MDB_NOTFOUND, MG_ERR_NOT_FOUND); /* never created */
  MG_ENSURE(mrc == 0, ks_err(mrc));
  mrc = ks_meta_get(txn, meta, ks_meta_schema, &v);
  MG_ENSURE(mrc != MDB_NOTFOUND, MG_ERR_SCHEMA);
  MG_ENSURE(mrc == 0, ks_err(mrc));
  MG_ENSURE(v.mv_size == 4, MG_ERR_SCHEMA);
  uint32_t schema = ks_get_be32(v.mv_data);
  MG_ENSURE(schema >= 1 && schema <= MG_KV_SCHEMA_VERSION, MG_ERR_SCHEMA);

  mrc = ks_meta_get(txn, meta, ks_meta_data_key, &v);
  MG_ENSURE(mrc != MDB_NOTFOUND, MG_ERR_TAMPERED);
  MG_ENSURE(mrc == 0, ks_err(mrc));
  MG_GUARD(ks_unwrap(kv->data_key, kek, v.mv_data, v.mv_size));

  if (schema < MG_KV_SCHEMA_VERSION) {
    for (uint32_t s = schema; s < MG_KV_SCHEMA_VERSION; s++) {
      MG_ENSURE(ks_migrations[s] != NULL, MG_ERR_SCHEMA);
      MG_GUARD(ks_migrations[s](kv, txn));
    }
    uint8_t be[4];
    ks_put_be32(be, MG_KV_SCHEMA_VERSION);
    mrc = ks_meta_put(txn, meta, ks_meta_schema, be, sizeof(be));
    MG_ENSURE(mrc == 0, ks_err(mrc));
  }
  for (int i = 0; i < MG_KV_NUM_TABLES; i++) {
    mrc = mdb_dbi_open(txn, ks_table_names[i], 0, &kv->dbi[i]);
    /* A table of this schema missing: not a store we wrote. */
    MG_ENSURE(mrc != MDB_NOTFOUND, MG_ERR_STORE);
    MG_ENSURE(mrc == 0, ks_err(mrc));
  }
  return 0;
}

int mg_kv_open(mg_kv **out, const mg_kv_options *opt) {
  uint8_t kek[MG_KV_KEK_LEN];
  mg_kv *kv = NULL;
  MDB_txn *txn = NULL;
  int rc = 0;
  MG_ENSURE_REF(out);
  *out = NULL;
  MG_ENSURE_REF(opt);
  MG_ENSURE_REF(opt->dir);
  MG_GUARD(mg_crypto_init());
  /* The KEK first: a store is never touched without one. */
  MG_GUARD(ks_kek_load(opt, kek));

  kv = calloc(1, sizeof(*kv));
  if (kv == NULL) {
    MG_FAIL(MG_ERR_NOMEM);
  }
  kv->data_key = mg_secure_alloc(KS_DATA_KEY_LEN);
  if (kv->data_key == NULL) {
    MG_FAIL(MG_ERR_NOMEM);
  }
  pthread_rwlockattr_t attr;
  if (pthread_rwlockattr_init(&attr) != 0) {
    MG_FAIL(MG_ERR_NOMEM);
  }
#ifdef __GLIBC__ /* an enumerator, not a macro */
  (void)pthread_rwlockattr_setkind_np(
      &attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
  int lrc = pthread_rwlock_init(&kv->map_lock, &attr);
  pthread_rwlockattr_destroy(&attr);
  if (lrc != 0) {
    MG_FAIL(MG_ERR_NOMEM);
  }
  kv->map_lock_ready = 1;

  MG_CHECK(ks_prepare_dir(kv, opt));
  MG_CHECK(ks_register(kv));

  int mrc = mdb_env_create(&kv->env);
  if (mrc == 0) {
    mrc = mdb_env_set_maxdbs(kv->env, MG_KV_NUM_TABLES);
  }
  /* An existing store keeps the size it grew to unless one is given. */
  if (mrc == 0 && (opt->create || opt->map_size != 0)) {
    mrc = mdb_env_set_mapsize(
        kv->env, opt->map_size != 0 ? opt->map_size : KS_DEFAULT_MAP_SIZE);
  }
  if (mrc == 0) {
    mrc = mdb_env_open(kv->env, opt->dir, MDB_NOTLS, 0600);
  }
  if (mrc != 0) {
    MG_FAIL(ks_err(mrc));
  }
  /* MG_KV_MAX_KEY_LEN is the default of LMDB's build-time MDB_MAXKEYSIZE. */
  if (mdb_env_get_maxkeysize(kv->env) < MG_KV_MAX_KEY_LEN) {
    MG_FAIL(MG_ERR_STORE);
  }

  /* Another process may grow the map meanwhile: adopt its size (no other
   * thread can see this environment yet). */
  mrc = mdb_txn_begin(kv->env, NULL, 0, &txn);
  for (int i = 0; mrc == MDB_MAP_RESIZED && i < KS_MAX_RESIZED; i++) {
    mrc = mdb_env_set_mapsize(kv->env, 0);
    if (mrc == 0) {
      mrc = mdb_txn_begin(kv->env, NULL, 0, &txn);
    }
  }
  if (mrc != 0) {
    txn = NULL;
    MG_FAIL(ks_err(mrc));
  }
  if (opt->create) {
    MG_CHECK(ks_init_create(kv, txn, kek));
  } else {
    MG_CHECK(ks_init_open(kv, txn, kek));
  }
  mrc = mdb_txn_commit(txn);
  txn = NULL;
  if (mrc != 0) {
    MG_FAIL(MG_ERR_UNKNOWN_OUTCOME);
  }
  *out = kv;
  kv = NULL;
out:
  if (txn != NULL) {
    mdb_txn_abort(txn);
  }
  mg_memzero(kek, sizeof(kek));
  mg_kv_close(kv);
  return rc;
}

void mg_kv_close(mg_kv *kv) {
  if (kv == NULL) {
    return;
  }
  if (kv->env != NULL) {
    mdb_env_close(kv->env);
  }
  ks_unregister(kv);
  if (kv->map_lock_ready) {
    pthread_rwlock_destroy(&kv->map_lock);
  }
  mg_secure_free(kv->data_key);
  free(kv);
}

/* -------------------------------------------------------- transactions */

/* ks_grow doubles the map (no transaction of this process is active:
 * the caller holds neither side of map_lock). */
static int ks_grow(mg_kv *kv) {
  MDB_envinfo info;
  int rc = 0;
  pthread_rwlock_wrlock(&kv->map_lock);
  int mrc = mdb_env_info(kv->env, &info);
  if (mrc != 0) {
    MG_FAIL(ks_err(mrc));
  }
  if (info.me_mapsize > SIZE_MAX / 2) {
    MG_FAIL(MG_ERR_STORE);
  }
  mrc = mdb_env_set_mapsize(kv->env, info.me_mapsize * 2);
  if (mrc != 0) {
    MG_FAIL(ks_err(mrc));
  }
out:
  pthread_rwlock_unlock(&kv->map_lock);
  return rc;
}

/* ks_adopt_size takes the map size another process grew the file to. */
static int ks_adopt_size(mg_kv *kv) {
  pthread_rwlock_wrlock(&kv->map_lock);
  int mrc = mdb_env_set_mapsize(kv->env, 0);
  pthread_rwlock_unlock(&kv->map_lock);
  return ks_err(mrc);
}

/* ks_begin begins a transaction under the read side of map_lock, which
 * it holds on success. */
static int ks_begin(mg_kv *kv, unsigned flags, MDB_txn **txn) {
  for (int i = 0;; i++) {
    pthread_rwlock_rdlock(&kv->map_lock);
    int mrc = mdb_txn_begin(kv->env, NULL, flags, txn);
    if (mrc == 0) {
      return 0;
    }
    pthread_rwlock_unlock(&kv->map_lock);
    if (mrc != MDB_MAP_RESIZED || i == KS_MAX_RESIZED) {
      return ks_err(mrc);
    }
    MG_GUARD(ks_adopt_size(kv));
  }
}

int mg_kv_write(mg_kv *kv, mg_kv_fn fn, void *arg) {
  MG_ENSURE(kv != NULL && fn != NULL, MG_ERR_INVALID_ARG);
  MG_ENSURE(ks_active != kv, MG_ERR_INVALID_ARG);
  for (int run = 0;; run++) {
    mg_kv_txn t;
    memset(&t, 0, sizeof(t));
    t.kv = kv;
    MG_GUARD(ks_begin(kv, 0, &t.txn));
    ks_active = kv;
    int rc = fn(&t, arg);
    if (rc == 0 && !t.map_full && t.failed == 0 && t.precommit != NULL) {
      rc = t.precommit(&t, t.precommit_arg);
    }
    ks_active = NULL;
    int grow = t.map_full;
    if (!grow && rc == 0 && t.failed != 0) {
      rc = t.failed; /* fn ignored an error that spoilt the transaction */
    }
    if (grow || rc != 0) {
      mdb_txn_abort(t.txn);
    } else {
      int mrc = mdb_txn_commit(t.txn);
      /* mdb_txn_commit returns MDB_MAP_FULL only while it still allocates
       * pages for the database roots and the free list, before it writes
       * anything (mdb.c, mdb_txn_commit): the transaction is aborted and
       * the outcome known, so growing and re-running is safe.  Any other
       * error may come after some or all writes reached the disk. */
      if (mrc == MDB_MAP_FULL) {
        grow = 1;
      } else if (mrc != 0) {
        rc = MG_ERR_UNKNOWN_OUTCOME;
      }
    }
    pthread_rwlock_unlock(&kv->map_lock);
    if (!grow) {
      return rc;
    }
    if (run == KS_MAX_RERUNS) {
      return MG_ERR_STORE;
    }
    MG_GUARD(ks_grow(kv));
  }
}

int mg_kv_read(mg_kv *kv, mg_kv_fn fn, void *arg) {
  MG_ENSURE(kv != NULL && fn != NULL, MG_ERR_INVALID_ARG);
  MG_ENSURE(ks_active != kv, MG_ERR_INVALID_ARG);
  mg_kv_txn t;
  memset(&t, 0, sizeof(t));
  t.kv = kv;
  t.rdonly = 1;
  MG_GUARD(ks_begin(kv, MDB_RDONLY, &t.txn));
  ks_active = kv;
  int rc = fn(&t, arg);
  ks_active = NULL;
  mdb_txn_abort(t.txn);
  pthread_rwlock_unlock(&kv->map_lock);
  return rc;
}

uint64_t *mg_kv_txn_slot(mg_kv_txn *t, int *set) {
  *set = t->slot_set;
  t->slot_set = 1;
  return &t->slot;
}

int mg_kv_txn_precommit(mg_kv_txn *t, mg_kv_precommit_fn fn, void *arg) {
  MG_ENSURE(t != NULL && fn != NULL && !t->rdonly, MG_ERR_INVALID_ARG);
  MG_ENSURE(t->precommit == NULL ||
                (t->precommit == fn && t->precommit_arg == arg),
            MG_ERR_INVALID_ARG);
  t->precommit = fn;
  t->precommit_arg = arg;
  return 0;
}

/* ------------------------------------------------------------- records */

/* ks_get points |*v| at the stored value (valid until the next update or
 * the end of the transaction). */
static int ks_get(mg_kv_txn *t, mg_kv_table tb, const uint8_t *key,
                  size_t key_len, MDB_val *v) {
  MG_GUARD(ks_check_table(t, tb));
  MG_GUARD(ks_check_key(key, key_len));
  MG_ENSURE(t->failed == 0, t->failed);
  MDB_val k = {key_len, (void *)(uintptr_t)key};
  int mrc = mdb_get(t->txn, t->kv->dbi[tb], &k, v);
  return mrc == 0 ? 0 : ks_txn_fail(t, mrc);
}

int mg_kv_get(mg_kv_txn *t, mg_kv_table tb, const uint8_t *key, size_t key_len,
              uint8_t **val, size_t *val_len) {
  MDB_val v;
  MG_ENSURE(val != NULL && val_len != NULL, MG_ERR_INVALID_ARG);
  *val = NULL;
  *val_len = 0;
  MG_GUARD(ks_get(t, tb, key, key_len, &v));
  *val = ks_dup(v.mv_data, v.mv_size);
  MG_ENSURE(*val != NULL, MG_ERR_NOMEM);
  *val_len = v.mv_size;
  return 0;
}

int mg_kv_put(mg_kv_txn *t, mg_kv_table tb, const uint8_t *key, size_t key_len,
              const uint8_t *val, size_t val_len, int flags) {
  MG_GUARD(ks_check_table(t, tb));
  MG_GUARD(ks_check_key(key, key_len));
  MG_ENSURE(val != NULL || val_len == 0, MG_ERR_INVALID_ARG);
  MG_ENSURE((flags & ~MG_KV_PUT_INSERT) == 0, MG_ERR_INVALID_ARG);
  MG_ENSURE(!t->rdonly, MG_ERR_INVALID_ARG);
  MG_ENSURE(t->failed == 0, t->failed);
  MG_ENSURE(val_len <= UINT32_MAX, MG_ERR_INVALID_ARG);
  MDB_val k = {key_len, (void *)(uintptr_t)key};
  MDB_val d = {val_len, (void *)(uintptr_t)(val != NULL ? val : key)};
  unsigned mflags = (flags & MG_KV_PUT_INSERT) ? MDB_NOOVERWRITE : 0;
  int mrc = mdb_put(t->txn, t->kv->dbi[tb], &k, &d, mflags);
  return mrc == 0 ? 0 : ks_txn_fail(t, mrc);
}

int mg_kv_del(mg_kv_txn *t, mg_kv_table tb, const uint8_t *key,
              size_t key_len) {
  MG_GUARD(ks_check_table(t, tb));
  MG_GUARD(ks_check_key(key, key_len));
  MG_ENSURE(!t->rdonly, MG_ERR_INVALID_ARG);
  MG_ENSURE(t->failed == 0, t->failed);
  MDB_val k = {key_len, (void *)(uintptr_t)key};
  int mrc = mdb_del(t->txn, t->kv->dbi[tb], &k, NULL);
  return mrc == 0 ? 0 : ks_txn_fail(t, mrc);
}

/* ks_record_aad lays out "mlsgate record v1" || uint8 table ||
 * opaque key<V> || uint64 version (RFC 9420 §2.1.2 varint) in |aad|. */
#define KS_RECORD_AAD_MAX                                                      \
  (sizeof(ks_record_label) - 1 + 1 + 2 + MG_KV_MAX_KEY_LEN + 8)
static size_t ks_record_aad(uint8_t aad[KS_RECORD_AAD_MAX], mg_kv_table tb,
                            const uint8_t *key, size_t key_len,
                            uint64_t version) {
  size_t n = sizeof(ks_record_label) - 1;
  memcpy(aad, ks_record_label, n);
  aad[n++] = (uint8_t)tb;
  if (key_len < 0x40) {
    aad[n++] = (uint8_t)key_len;
  } else {
    aad[n++] = (uint8_t)(0x40 | (key_len >> 8));
    aad[n++] = (uint8_t)key_len;
  }
  memcpy(aad + n, key, key_len);
  n += key_len;
  ks_put_be64(aad + n, version);
  return n + 8;
}

int mg_kv_put_sealed(mg_kv_txn *t, mg_kv_table tb, const uint8_t *key,
                     size_t key_len, uint64_t version, const uint8_t *pt,
                     size_t pt_len, int flags) {
  uint8_t aad[KS_RECORD_AAD_MAX];
  const mg_aead_alg *aead = &mg_xchacha20poly1305;
  uint8_t small[512];
  uint8_t *rec = NULL;
  size_t rec_len = 0;
  int rc = 0;
  MG_GUARD(ks_check_table(t, tb));
  MG_GUARD(ks_check_key(key, key_len));
  MG_ENSURE(pt != NULL || pt_len == 0, MG_ERR_INVALID_ARG);
  MG_ENSURE(!t->rdonly, MG_ERR_INVALID_ARG);
  MG_ENSURE(pt_len <= UINT32_MAX - KS_SEAL_HDR_LEN - KS_TAG_LEN,
            MG_ERR_INVALID_ARG);
  rec_len = KS_SEAL_HDR_LEN + pt_len + KS_TAG_LEN;
  /* Small records (audit entries, tree nodes, counters) on the stack. */
  rec = rec_len <= sizeof(small) ? small : malloc(rec_len);
  if (rec == NULL) {
    MG_FAIL(MG_ERR_NOMEM);
  }
  rec[0] = KS_SEAL_FORMAT;
  ks_put_be64(rec + 1, version);
  MG_CHECK(ks_nonce(rec + 9));
  size_t aad_len = ks_record_aad(aad, tb, key, key_len, version);
  static const uint8_t empty[1] = {0};
  MG_CHECK(aead->seal(aead, rec + KS_SEAL_HDR_LEN, t->kv->data_key, rec + 9,
                      KS_NONCE_LEN, aad, aad_len, pt != NULL ? pt : empty,
                      pt_len));
  MG_CHECK(mg_kv_put(t, tb, key, key_len, rec, rec_len, flags));
out:
  if (rec != small) {
    free(rec); /* ciphertext only */
  }
  return rc;
}

int mg_kv_get_sealed(mg_kv_txn *t, mg_kv_table tb, const uint8_t *key,
                     size_t key_len, uint64_t *version, uint8_t **pt,
                     size_t *pt_len) {
  uint8_t aad[KS_RECORD_AAD_MAX];
  const mg_aead_alg *aead = &mg_xchacha20poly1305;
  MDB_val v;
  uint8_t *out = NULL;
  size_t out_len = 0;
  int rc = 0;
  MG_ENSURE(pt != NULL && pt_len != NULL, MG_ERR_INVALID_ARG);
  *pt = NULL;
  *pt_len = 0;
  if (version != NULL) {
    *version = 0;
  }
  MG_GUARD(ks_get(t, tb, key, key_len, &v));
  const uint8_t *rec = v.mv_data;
  if (v.mv_size < KS_SEAL_HDR_LEN + KS_TAG_LEN || rec[0] != KS_SEAL_FORMAT) {
    MG_FAIL(MG_ERR_TAMPERED);
  }
  uint64_t ver = ks_get_be64(rec + 1);
  size_t aad_len = ks_record_aad(aad, tb, key, key_len, ver);
  out_len = v.mv_size - KS_SEAL_HDR_LEN - KS_TAG_LEN;
  out = malloc(out_len > 0 ? out_len : 1);
  if (out == NULL) {
    MG_FAIL(MG_ERR_NOMEM);
  }
  rc = aead->open(aead, out, t->kv->data_key, rec + 9, KS_NONCE_LEN, aad,
                  aad_len, rec + KS_SEAL_HDR_LEN, v.mv_size - KS_SEAL_HDR_LEN);
  if (rc == MG_ERR_AUTH) {
    MG_FAIL(MG_ERR_TAMPERED);
  }
  if (rc < 0) {
    goto out;
  }
  *pt = out;
  *pt_len = out_len;
  out = NULL;
  if (version != NULL) {
    *version = ver;
  }
out:
  mg_free_secret(out, out_len);
  return rc;
}

int mg_kv_scan(mg_kv_txn *t, mg_kv_table tb, const uint8_t *prefix,
               size_t prefix_len, mg_kv_scan_fn fn, void *arg) {
  MDB_cursor *cur = NULL;
  MDB_val k = {0, NULL};
  MDB_val v = {0, NULL};
  int rc = 0;
  MG_GUARD(ks_check_table(t, tb));
  MG_ENSURE(fn != NULL, MG_ERR_INVALID_ARG);
  MG_ENSURE(prefix != NULL || prefix_len == 0, MG_ERR_INVALID_ARG);
  MG_ENSURE(prefix_len <= MG_KV_MAX_KEY_LEN, MG_ERR_INVALID_ARG);
  MG_ENSURE(t->failed == 0, t->failed);
  int mrc = mdb_cursor_open(t->txn, t->kv->dbi[tb], &cur);
  if (mrc != 0) {
    return ks_txn_fail(t, mrc);
  }
  if (prefix_len > 0) {
    k.mv_size = prefix_len;
    k.mv_data = (void *)(uintptr_t)prefix;
    mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
  } else {
    mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
  }
  while (mrc == 0) {
    if (prefix_len > 0 && (k.mv_size < prefix_len ||
                           memcmp(k.mv_data, prefix, prefix_len) != 0)) {
      break; /* past the prefix: keys are in memcmp order */
    }
    int frc = fn(arg, k.mv_data, k.mv_size, v.mv_data, v.mv_size);
    if (frc < 0) {
      MG_FAIL(frc);
    }
    if (frc > 0) {
      break;
    }
    mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
  }
  if (mrc != 0 && mrc != MDB_NOTFOUND) {
    MG_FAIL(ks_txn_fail(t, mrc));
  }
out:
  mdb_cursor_close(cur);
  return rc;
}

int mg_kv_last(mg_kv_txn *t, mg_kv_table tb, uint8_t **key, size_t *key_len) {
  MDB_cursor *cur = NULL;
  MDB_val k = {0, NULL};
  MDB_val v = {0, NULL};
  MG_ENSURE(key != NULL && key_len != NULL, MG_ERR_INVALID_ARG);
  *key = NULL;
  *key_len = 0;
  MG_GUARD(ks_check_table(t, tb));
  MG_ENSURE(t->failed == 0, t->failed);
  int mrc = mdb_cursor_open(t->txn, t->kv->dbi[tb], &cur);
  if (mrc != 0) {
    return ks_txn_fail(t, mrc);
  }
  mrc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
  if (mrc == 0) {
    *key = ks_dup(k.mv_data, k.mv_size);
  }
  mdb_cursor_close(cur);
  if (mrc != 0) {
    return ks_txn_fail(t, mrc);
  }
  MG_ENSURE(*key != NULL, MG_ERR_NOMEM);
  *key_len = k.mv_size;
  return 0;
}

int mg_kv_count(mg_kv_txn *t, mg_kv_table tb, uint64_t *n) {
  MDB_stat ms;
  MG_ENSURE_REF(n);
  *n = 0;
  MG_GUARD(ks_check_table(t, tb));
  MG_ENSURE(t->failed == 0, t->failed);
  int mrc = mdb_stat(t->txn, t->kv->dbi[tb], &ms);
  if (mrc != 0) {
    return ks_txn_fail(t, mrc);
  }
  *n = ms.ms_entries;
  return 0;
}

/* --------------------------------------------------------------- admin */

typedef struct {
  const uint8_t *new_kek;
} ks_rotate_arg;

static int ks_rotate_fn(mg_kv_txn *t, void *varg) {
  const ks_rotate_arg *a = varg;
  uint8_t wrapped[KS_WRAP_LEN];
  MG_GUARD(ks_wrap(wrapped, a->new_kek, t->kv->data_key));
  return mg_kv_put(t, MG_KV_META, (const uint8_t *)ks_meta_data_key,
                   sizeof(ks_meta_data_key) - 1, wrapped, sizeof(wrapped), 0);
}

int mg_kv_kek_rotate(mg_kv *kv, const uint8_t *new_kek, size_t new_kek_len) {
  MG_ENSURE(kv != NULL && new_kek != NULL, MG_ERR_INVALID_ARG);
  MG_ENSURE(new_kek_len == MG_KV_KEK_LEN, MG_ERR_KEK);
  ks_rotate_arg a = {new_kek};
  return mg_kv_write(kv, ks_rotate_fn, &a);
}

/* ks_kek_write_new writes |kek| to a new file |path| (O_EXCL, 0600) and
 * fsyncs it. */
static int ks_kek_write_new(const char *path, const uint8_t *kek) {
  int fd =
      open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    return errno == EEXIST ? MG_ERR_EXISTS : MG_ERR_IO;
  }
  int rc = 0;
  if (fchmod(fd, 0600) != 0) {
    rc = MG_ERR_IO;
  }
  if (rc == 0) {
    rc = ks_write_all(fd, kek, MG_KV_KEK_LEN);
  }
  if (rc == 0 && fsync(fd) != 0) {
    rc = MG_ERR_IO;
  }
  if (close(fd) != 0 && rc == 0) {
    rc = MG_ERR_IO;
  }
  if (rc != 0) {
    (void)unlink(path);
  }
  return rc;
}

int mg_kv_kek_generate(const char *path) {
  uint8_t kek[MG_KV_KEK_LEN];
  int rc = 0;
  MG_ENSURE_REF(path);
  MG_GUARD(mg_crypto_init());
  MG_CHECK(mg_random_bytes(kek, sizeof(kek)));
  MG_CHECK(ks_kek_write_new(path, kek));
  MG_CHECK(ks_fsync_dir(path, 0));
out:
  mg_memzero(kek, sizeof(kek));
  return rc;
}

int mg_kv_kek_replace(const char *path, const uint8_t *kek, size_t kek_len) {
  static const char suffix[] = ".new";
  char *tmp = NULL;
  int rc = 0;
  MG_ENSURE(path != NULL && kek != NULL, MG_ERR_INVALID_ARG);
  MG_ENSURE(kek_len == MG_KV_KEK_LEN, MG_ERR_KEK);
  size_t n = strlen(path);
  tmp = malloc(n + sizeof(suffix));
  if (tmp == NULL) {
    MG_FAIL(MG_ERR_NOMEM);
  }
  memcpy(tmp, path, n);
  memcpy(tmp + n, suffix, sizeof(suffix));
  /* A leftover from an interrupted replace holds no KEK the store needs
   * unless the caller kept it (see kv.h): it is replaced. */
  if (unlink(tmp) != 0 && errno != ENOENT) {
    MG_FAIL(MG_ERR_IO);
  }
  MG_CHECK(ks_kek_write_new(tmp, kek));
  if (rename(tmp, path) != 0) {
    (void)unlink(tmp);
    MG_FAIL(MG_ERR_IO);
  }
  MG_CHECK(ks_fsync_dir(path, 0));
out:
  free(tmp);
  return rc;
}

int mg_kv_backup(mg_kv *kv, const char *path) {
  int rc = 0;
  MG_ENSURE(kv != NULL && path != NULL, MG_ERR_INVALID_ARG);
  MG_ENSURE(ks_active != kv, MG_ERR_INVALID_ARG);
  int fd =
      open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    return errno == EEXIST ? MG_ERR_EXISTS : MG_ERR_IO;
  }
  /* The copy runs a read transaction of its own: hold the map steady. */
  pthread_rwlock_rdlock(&kv->map_lock);
  int mrc = mdb_env_copyfd2(kv->env, fd, MDB_CP_COMPACT);
  pthread_rwlock_unlock(&kv->map_lock);
  if (mrc != 0) {
    rc = ks_err(mrc);
  } else if (fsync(fd) != 0) {
    rc = MG_ERR_IO;
  }
  if (close(fd) != 0 && rc == 0) {
    rc = MG_ERR_IO;
  }
  if (rc == 0) {
    rc = ks_fsync_dir(path, 0);
  }
  if (rc != 0) {
    (void)unlink(path);
  }
  return rc;
}

int mg_kv_restore(const char *backup_path, const char *dir) {
  char *data = NULL;
  char *tmp = NULL;
  uint8_t *buf = NULL;
  int in = -1;
  int outfd = -1;
  int made_tmp = 0;
  int rc = 0;
  MG_ENSURE(backup_path != NULL && dir != NULL, MG_ERR_INVALID_ARG);
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
    MG_FAIL(MG_ERR_IO);
  }
  data = ks_join(dir, "data.mdb");
  tmp = ks_join(dir, "data.mdb.restore");
  buf = malloc(1 << 16);
  if (data == NULL || tmp == NULL || buf == NULL) {
    MG_FAIL(MG_ERR_NOMEM);
  }
  struct stat st;
  if (lstat(data, &st) == 0) {
    MG_FAIL(MG_ERR_EXISTS);
  }
  in = open(backup_path, O_RDONLY | O_CLOEXEC);
  if (in < 0) {
    MG_FAIL(errno == ENOENT ? MG_ERR_NOT_FOUND : MG_ERR_IO);
  }
  outfd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (outfd < 0) {
    MG_FAIL(errno == EEXIST ? MG_ERR_RETRY : MG_ERR_IO);
  }
  made_tmp = 1;
  for (;;) {
    ssize_t n = read(in, buf, 1 << 16);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      MG_FAIL(MG_ERR_IO);
    }
    if (n == 0) {
      break;
    }
    MG_CHECK(ks_write_all(outfd, buf, (size_t)n));
  }
  if (fsync(outfd) != 0) {
    MG_FAIL(MG_ERR_IO);
  }
  int crc = close(outfd);
  outfd = -1;
  if (crc != 0) {
    MG_FAIL(MG_ERR_IO);
  }
  /* link() never replaces: a store that appeared meanwhile is kept. */
  if (link(tmp, data) != 0) {
    MG_FAIL(errno == EEXIST ? MG_ERR_EXISTS : MG_ERR_IO);
  }
  (void)unlink(tmp);
  made_tmp = 0;
  MG_CHECK(ks_fsync_dir(dir, 1));
out:
  if (in >= 0) {
    close(in);
  }
  if (outfd >= 0) {
    close(outfd);
  }
  if (made_tmp) {
    (void)unlink(tmp);
  }
  free(buf);
  free(tmp);
  free(data);
  return rc;
}
