/*
 * bench/keystore: cost of the keystore's durable operations and of the
 * audit log (issue 5, "Benchmarks") against what a durable commit costs on
 * the store's filesystem, measured in the same run.
 *
 * Two fresh stores in one temporary directory (mkdtemp under $TMPDIR, else
 * /tmp; removed at the end), default durable sync (kv_lmdb.c: every commit
 * fsync'ed).  Store A holds the durable-operation figures, store B only the
 * audit logs of figures 4 and 5, so their sizes are exact.
 *
 *   1, 2. durable operations per second with k = 1, 4, 16, 64 operations
 *      per transaction (one mg_ks_transact running k of them), and the
 *      speed-up against k = 1:
 *        group save S / L: mg_ks_group_save, a compare-and-swap of epoch
 *          n -> n + 1 of a 1,300 B / 250,000 B state (k conversations, one
 *          save each); the save appends its own "group.save" audit entry in
 *          the same transaction (groups.c), so that entry is included and
 *          no second one is written;
 *        kp take: mg_ks_kp_take of KeyPackages generated beforehand (not
 *          timed), which deletes the package and appends its
 *          "keypackage.take" entry;
 *        audit append: k = 1 is mg_ks_audit_record (its own transaction),
 *          k > 1 is k mg_ks_audit_append with 256 B of HMAC'd content.
 *   3. the baseline, interleaved with the runs of 1 and 2 (a short run of
 *      each before every run of a figure, best kept; after a run of 250 KB
 *      states, a syncfs and a wait of at most 2 s until an fdatasync is
 *      back within 1.5x of its best, so that the next figure does not pay
 *      their write-back): an fdatasync of
 *      a small file in the store's directory (pwrite of 64 B + fdatasync)
 *      and an LMDB write transaction with one tiny put (mg_kv_write through
 *      mg_ks_transact: the cheapest durable commit of the store).  Every
 *      durable figure is also printed as time per transaction in units of
 *      one fdatasync ("x fsync").
 *   4. mg_ks_audit_checkpoint (one write transaction: the tree's root read
 *      in O(log n), the consistency check against the last checkpoint, one
 *      Ed25519 signature, the checkpoint's own audit entry) on logs of
 *      10^3, 10^4, 10^5 (and 10^6) entries, ms (best of --runs runs of 8,
 *      after one untimed checkpoint at that size), next to one raw Ed25519
 *      signature (libsodium), one empty LMDB commit and one fdatasync
 *      measured right before (after a syncfs, once the disk has finished
 *      writing back what came before), and this thread's CPU time per
 *      checkpoint (best run of each; a last point that looks grown is
 *      measured up to twice more).  Verdict "O(log n)" when the largest
 *      log's wall and CPU times are within 1.5x of the smallest's times the
 *      growth of log2 n: the root and the consistency proof are ~2 log2 n
 *      tree lookups (page cache) and the commit rewrites one B-tree path
 *      per table touched, one level deeper per ~x100 records, so some
 *      growth from 10^3 to 10^6 is expected, where an O(n) read would grow
 *      1000x; "flat within 1.5x" is printed too.  The wall time also
 *      follows the disk, which other processes share ('fsync now').
 *   5. mg_audit_verify of exports (mg_ks_audit_export) of 10^4, 10^5 and
 *      10^6 entries, entries/s and export size, against the SHA-256 the
 *      verification cannot avoid: one leaf hash per entry
 *      (SHA-256(0x00 || entry) of the log's mean entry size, OpenSSL
 *      EVP_Digest) and, for the whole tree, n - 1 node hashes of 65 B; and
 *      `mlsgatectl audit verify` end to end once at 10^5 when the program
 *      is built.  The logs are built fast (5,000 mg_ks_audit_append per
 *      transaction); the build rate is printed too.
 *
 * Timing.  Durable operations wait for the disk, not the CPU, so
 * bench_util's CPU-share filter does not apply to them: each run repeats
 * the transaction for about --time seconds of wall clock, runs of all
 * figures are interleaved with the baseline's, and the best run counts.
 * The CPU-bound bounds (Ed25519, SHA-256) use bench_util
 * (bench_calibrate, bench_timed_run, best of --runs).
 *
 * Every result is checked before it is timed (and the durable ones again
 * after): each conversation's stored epoch and state, a taken KeyPackage
 * cannot be taken twice, the audit log grows by exactly the entries
 * written, checkpoints cover the whole log, exports verify (ok, size), the
 * raw leaf hash equals the log's, the raw signature verifies.
 *
 * Options: --quick (small logs and short runs: seconds), --max-entries N
 * (largest audit log of 4 and 5; default 10^6), --runs N, --time S.
 * Exit status 0 whatever the figures, 1 if an operation or check fails,
 * 2 for a usage error.
 */
#include "config.h"

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "common/secmem.h"
#include "crypto/crypto.h"
#include "keystore/audit.h"
#include "keystore/keystore.h"
#include "keystore/kv.h"
#include "mls/keypackage.h"
#include "mls/msg_leaf.h"

#include "bench_util.h"

#ifndef BENCH_BUILDDIR
#define BENCH_BUILDDIR "."
#endif

#define NOW ((uint64_t)1800000000)
#define SUITE 1 /* MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519 */
#define SMALL_STATE 1300
#define LARGE_STATE 250000
#define MAX_K 64
#define AUDIT_CONTENT 256
#define BUILD_BATCH 5000
#define CP_PER_RUN 8
#define FLAT_TOLERANCE 1.5
#define NUM_KS 4

static const int ks_k[NUM_KS] = {1, 4, 16, 64};

typedef struct opts {
  double time;
  int runs;
  int quick;
  uint64_t max_entries;
} opts;

static mg_ks_ctx g_ctx = {"bench", NOW};
static int g_failed;

#define FAIL(...)                                                              \
  do {                                                                         \
    fprintf(stderr, "bench/keystore: " __VA_ARGS__);                           \
    fprintf(stderr, "\n");                                                     \
    g_failed = 1;                                                              \
  } while (0)

/* ---------------------------------------------------------- durable ops */

enum fig_kind { F_FSYNC, F_LMDB, F_SAVE_S, F_SAVE_L, F_KP, F_AUDIT };

typedef struct fig {
  enum fig_kind kind;
  int k;
  double best; /* transactions per second, best run */
} fig;

typedef struct dur_ctx {
  mg_keystore *ks;
  const char *dir; /* the store's directory */
  int fd;          /* the fdatasync file */
  /* group saves: MAX_K conversations of each size */
  uint8_t *state[2];
  size_t state_len[2];
  uint64_t epoch[2][MAX_K];
  /* key packages: refs of generated, untaken packages (stack) */
  uint8_t (*refs)[MG_MAX_HASH_LEN];
  size_t ref_len, nrefs, cap;
  uint64_t taken;
  uint8_t last_taken[MG_MAX_HASH_LEN];
  uint64_t audit_written; /* audit entries we expect in the log */
} dur_ctx;

typedef struct txn_arg {
  dur_ctx *d;
  enum fig_kind kind;
  int k;
} txn_arg;

static void conv_name(char *buf, size_t cap, int large, int i) {
  snprintf(buf, cap, "bench-%c-%d", large ? 'l' : 's', i);
}

static int ops_txn(mg_ks_txn *txn, void *p) {
  txn_arg *a = p;
  dur_ctx *d = a->d;
  switch (a->kind) {
  case F_LMDB: {
    static const uint8_t v[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    return mg_kv_put(txn, MG_KV_IDEMPOTENCY, (const uint8_t *)"bench", 5, v,
                     sizeof(v), 0);
  }
  case F_SAVE_S:
  case F_SAVE_L: {
    int l = a->kind == F_SAVE_L;
    for (int i = 0; i < a->k; i++) {
      char conv[32];
      uint64_t e = d->epoch[l][i];
      conv_name(conv, sizeof(conv), l, i);
      /* The state names its epoch in its first bytes (checked on load). */
      memcpy(d->state[l], &e, sizeof(e));
      d->state[l][sizeof(e)] = (uint8_t)i;
      int rc = mg_ks_group_save(d->ks, txn, &g_ctx, conv, e, e + 1,
                                d->state[l], d->state_len[l]);
      if (rc != 0) {
        return rc;
      }
    }
    return 0;
  }
  case F_KP:
    for (int i = 0; i < a->k; i++) {
      mls_key_package kp;
      mls_key_package_priv priv;
      memset(&kp, 0, sizeof(kp));
      memset(&priv, 0, sizeof(priv));
      int rc = mg_ks_kp_take(d->ks, txn, &g_ctx, "alice",
                             d->refs[d->nrefs - 1 - (size_t)i], d->ref_len,
                             &kp, &priv);
      if (rc == 0 && priv.suite == NULL) {
        rc = MG_ERR_INTERNAL;
      }
      mls_key_package_cleanup(&kp);
      mls_key_package_priv_cleanup(&priv);
      if (rc != 0) {
        return rc;
      }
    }
    return 0;
  case F_AUDIT: {
    static uint8_t content[AUDIT_CONTENT];
    mg_ks_audit au;
    memset(&au, 0, sizeof(au));
    au.action = "bench.append";
    au.object = "bench";
    au.content = content;
    au.content_len = sizeof(content);
    for (int i = 0; i < a->k; i++) {
      int rc = mg_ks_audit_append(d->ks, txn, &g_ctx, &au, NULL);
      if (rc != 0) {
        return rc;
      }
    }
    return 0;
  }
  case F_FSYNC:
    break;
  }
  return MG_ERR_INTERNAL;
}

/* one_txn runs one transaction of figure |f| and records its effects. */
static int one_txn(dur_ctx *d, const fig *f) {
  txn_arg a = {d, f->kind, f->k};
  int rc;
  if (f->kind == F_FSYNC) {
    static const uint8_t buf[64] = {0};
    if (pwrite(d->fd, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf) ||
        fdatasync(d->fd) != 0) {
      return -1;
    }
    return 0;
  }
  if (f->kind == F_KP && d->nrefs < (size_t)f->k) {
    return MG_ERR_NOT_FOUND;
  }
  if (f->kind == F_AUDIT && f->k == 1) {
    static uint8_t content[AUDIT_CONTENT];
    mg_ks_audit au;
    memset(&au, 0, sizeof(au));
    au.action = "bench.record";
    au.object = "bench";
    au.content = content;
    au.content_len = sizeof(content);
    rc = mg_ks_audit_record(d->ks, &g_ctx, &au);
  } else {
    rc = mg_ks_transact(d->ks, ops_txn, &a);
  }
  if (rc != 0) {
    return rc;
  }
  switch (f->kind) {
  case F_SAVE_S:
  case F_SAVE_L:
    for (int i = 0; i < f->k; i++) {
      d->epoch[f->kind == F_SAVE_L][i]++;
    }
    d->audit_written += (uint64_t)f->k;
    break;
  case F_KP:
    memcpy(d->last_taken, d->refs[d->nrefs - 1], d->ref_len);
    d->nrefs -= (size_t)f->k;
    d->taken += (uint64_t)f->k;
    d->audit_written += (uint64_t)f->k;
    break;
  case F_AUDIT:
    d->audit_written += (uint64_t)f->k;
    break;
  case F_FSYNC:
  case F_LMDB:
    break;
  }
  return 0;
}

static int kp_collect(void *arg, const uint8_t *ref, size_t ref_len,
                      const uint8_t *kp, size_t kp_len) {
  dur_ctx *d = arg;
  (void)kp;
  (void)kp_len;
  if (ref_len > MG_MAX_HASH_LEN || d->nrefs >= d->cap) {
    return MG_ERR_INTERNAL;
  }
  d->ref_len = ref_len;
  memcpy(d->refs[d->nrefs++], ref, ref_len);
  return 0;
}

/* kp_top_up makes sure |want| untaken KeyPackages are there (not timed). */
static int kp_top_up(dur_ctx *d, size_t want) {
  if (want > d->cap) {
    size_t cap = want + want / 2 + 1024;
    void *n = realloc(d->refs, cap * sizeof(*d->refs));
    if (n == NULL) {
      return MG_ERR_NOMEM;
    }
    d->refs = n;
    d->cap = cap;
  }
  while (d->nrefs < want) {
    size_t need = want - d->nrefs;
    uint32_t batch = need > MG_KS_KP_MAX_BATCH ? MG_KS_KP_MAX_BATCH
                                               : (uint32_t)need;
    int rc = mg_ks_kp_generate(d->ks, &g_ctx, "alice", batch, 0, kp_collect, d);
    if (rc != 0) {
      return rc;
    }
    d->audit_written++;
  }
  return 0;
}

typedef struct size_arg {
  uint64_t size;
} size_arg;

static int nop_entry(void *arg, uint64_t seq, const char *entry,
                     size_t entry_len, const uint8_t *leaf_hash) {
  (void)arg;
  (void)seq;
  (void)entry;
  (void)entry_len;
  (void)leaf_hash;
  return 0;
}

static int audit_size(mg_keystore *ks, uint64_t *size) {
  return mg_ks_audit_entries(ks, 0, 0, nop_entry, NULL, size);
}

typedef struct load_arg {
  const char *conv;
  uint64_t epoch;
  uint8_t *st;
  size_t st_len;
} load_arg;

static int load_txn(mg_ks_txn *txn, void *p) {
  load_arg *a = p;
  mg_free_secret(a->st, a->st_len);
  a->st = NULL;
  a->st_len = 0;
  return mg_ks_group_load(txn, a->conv, &a->epoch, &a->st, &a->st_len);
}

static int take_again_txn(mg_ks_txn *txn, void *p) {
  dur_ctx *d = p;
  mls_key_package kp;
  mls_key_package_priv priv;
  memset(&kp, 0, sizeof(kp));
  memset(&priv, 0, sizeof(priv));
  int rc = mg_ks_kp_take(d->ks, txn, &g_ctx, "alice", d->last_taken,
                         d->ref_len, &kp, &priv);
  mls_key_package_cleanup(&kp);
  mls_key_package_priv_cleanup(&priv);
  return rc;
}

/* check_durable checks the stored effects of everything run so far. */
static int check_durable(dur_ctx *d, mg_keystore *ks0, uint64_t log0) {
  for (int l = 0; l < 2; l++) {
    for (int i = 0; i < MAX_K; i++) {
      char conv[32];
      load_arg a;
      memset(&a, 0, sizeof(a));
      conv_name(conv, sizeof(conv), l, i);
      a.conv = conv;
      int rc = mg_ks_view(d->ks, load_txn, &a);
      uint64_t e = 0;
      if (rc == 0 && a.st_len == d->state_len[l]) {
        memcpy(&e, a.st, sizeof(e));
      }
      int ok = rc == 0 && a.epoch == d->epoch[l][i] &&
               a.st_len == d->state_len[l] && e + 1 == a.epoch &&
               a.st[sizeof(e)] == (uint8_t)i &&
               memcmp(a.st + 9, d->state[l] + 9, a.st_len - 9) == 0;
      mg_free_secret(a.st, a.st_len);
      if (!ok) {
        FAIL("group state %s: wrong epoch or bytes (rc %d)", conv, rc);
        return -1;
      }
    }
  }
  if (d->taken > 0) {
    int rc = mg_ks_transact(d->ks, take_again_txn, d);
    if (rc != MG_ERR_NOT_FOUND) {
      FAIL("a taken KeyPackage was taken again (rc %d)", rc);
      return -1;
    }
  }
  uint64_t size = 0;
  if (audit_size(ks0, &size) != 0 || size != log0 + d->audit_written) {
    FAIL("audit log has %" PRIu64 " entries, expected %" PRIu64, size,
         log0 + d->audit_written);
    return -1;
  }
  return 0;
}

static const char *kind_name(enum fig_kind k) {
  switch (k) {
  case F_FSYNC:
    return "fdatasync (pwrite 64 B)";
  case F_LMDB:
    return "LMDB commit, tiny put";
  case F_SAVE_S:
    return "group save 1.3 KB";
  case F_SAVE_L:
    return "group save 250 KB";
  case F_KP:
    return "kp take";
  case F_AUDIT:
    return "audit append";
  }
  return "?";
}

/* fsync_now: best of 3 runs of 50 fdatasyncs of a small file in |dir|,
 * seconds per fdatasync, or -1. */
static double fsync_now(const char *dir) {
  char path[700];
  static const uint8_t buf[64] = {0};
  double best = 1e9;
  snprintf(path, sizeof(path), "%s/settle.dat", dir);
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) {
    return -1;
  }
  for (int r = 0; r < 3; r++) {
    double t0 = bench_now_sec();
    for (int i = 0; i < 50; i++) {
      if (pwrite(fd, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf) ||
          fdatasync(fd) != 0) {
        close(fd);
        unlink(path);
        return -1;
      }
    }
    double el = (bench_now_sec() - t0) / 50;
    best = el < best ? el : best;
  }
  close(fd);
  unlink(path);
  return best;
}

/* settle flushes the filesystem of |dir| and waits (at most |tries| x
 * 0.2 s) until an fdatasync costs at most 1.5x |target| seconds: writing
 * hundreds of MB (large group states, a log just built) leaves the disk
 * writing back for a while, which the next figure would otherwise pay.
 * Returns the last fdatasync time, or -1. */
static double settle(const char *dir, double target, int tries) {
  double f = -1;
  int dfd = open(dir, O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    (void)syncfs(dfd);
    close(dfd);
  }
  for (int w = 0; w < tries; w++) {
    f = fsync_now(dir);
    if (f < 0 || f <= 1.5 * target) {
      break;
    }
    usleep(200000);
  }
  return f;
}

/* timed_durable runs figure |f| for about |t| seconds (at least 2
 * transactions) and returns transactions per second, or -1. */
static double timed_durable(dur_ctx *d, fig *f, double t) {
  if (f->kind == F_KP) {
    /* enough packages for this run: the best rate so far, 2x margin */
    double est = f->best > 0 ? f->best * t * 2.5 + 4 : 400.0 / f->k + 4;
    if (kp_top_up(d, (size_t)(est * f->k)) != 0) {
      return -1;
    }
  }
  uint64_t n = 0;
  double t0 = bench_now_sec(), el = 0;
  do {
    if (f->kind == F_KP && d->nrefs < (size_t)f->k) {
      break; /* ran out: the rate so far counts */
    }
    if (one_txn(d, f) != 0) {
      return -1;
    }
    n++;
    el = bench_now_sec() - t0;
  } while (el < t || n < 2);
  return (double)n / el;
}

static int bench_durable(const opts *o, dur_ctx *d, mg_keystore *ks,
                         uint64_t log0, double *fsync_sec,
                         double *lmdb_sec) {
  fig figs[2 + 4 * NUM_KS];
  size_t nf = 0;
  figs[nf++] = (fig){F_FSYNC, 1, 0};
  figs[nf++] = (fig){F_LMDB, 1, 0};
  static const enum fig_kind kinds[] = {F_SAVE_S, F_SAVE_L, F_KP, F_AUDIT};
  for (size_t i = 0; i < 4; i++) {
    for (int j = 0; j < NUM_KS; j++) {
      figs[nf++] = (fig){kinds[i], ks_k[j], 0};
    }
  }
  /* Check before timing: one transaction of each figure, then the store. */
  for (size_t i = 0; i < nf; i++) {
    if (figs[i].kind == F_KP && kp_top_up(d, (size_t)figs[i].k) != 0) {
      FAIL("KeyPackage generation failed");
      return -1;
    }
    int rc = one_txn(d, &figs[i]);
    if (rc != 0) {
      FAIL("%s, k = %d: error %d (%s)", kind_name(figs[i].kind), figs[i].k,
           rc, mg_err_name(rc));
      return -1;
    }
  }
  if (check_durable(d, ks, log0) != 0) {
    return -1;
  }
  for (int r = 0; r < o->runs; r++) {
    for (size_t i = 0; i < nf; i++) {
      /* The disk is shared: a short run of both baselines before each
       * figure, so that their best is taken over as many moments as the
       * figures' are. */
      for (size_t b = 0; i >= 2 && b < 2; b++) {
        double br = timed_durable(d, &figs[b], o->time / 4);
        if (br < 0) {
          FAIL("%s failed", kind_name(figs[b].kind));
          return -1;
        }
        figs[b].best = br > figs[b].best ? br : figs[b].best;
      }
      double rate = timed_durable(d, &figs[i], o->time);
      if (rate < 0) {
        FAIL("%s, k = %d failed", kind_name(figs[i].kind), figs[i].k);
        return -1;
      }
      if (rate > figs[i].best) {
        figs[i].best = rate;
      }
      if (figs[i].kind == F_SAVE_L &&
          settle(d->dir, 1.0 / figs[0].best, 10) < 0) {
        FAIL("fdatasync failed");
        return -1;
      }
    }
  }
  if (check_durable(d, ks, log0) != 0) {
    return -1;
  }
  double fs = 1.0 / figs[0].best;
  *fsync_sec = fs;
  printf("\n1-3. durable operations (default sync), best of %d interleaved "
         "runs of ~%.2f s\n",
         o->runs, o->time);
  printf("  'x fsync' = time per transaction / time of one fdatasync; "
         "'x k=1' = ops/s / ops/s at k = 1\n");
  printf("  %-26s %4s %10s %10s %10s %9s %8s\n", "operation", "k", "txn/s",
         "ops/s", "ms/txn", "x fsync", "x k=1");
  double base_ops = 0;
  for (size_t i = 0; i < nf; i++) {
    fig *f = &figs[i];
    double ops = f->best * f->k;
    if (f->k == 1) {
      base_ops = ops;
    }
    if (i == 2) {
      printf("  %s\n", "--");
    }
    printf("  %-26s %4d %10.1f %10.1f %10.3f %8.2fx", kind_name(f->kind), f->k,
           f->best, ops, 1e3 / f->best, (1.0 / f->best) / fs);
    if (i >= 2) {
      printf(" %7.2fx", ops / base_ops);
    }
    printf("\n");
  }
  /* verdicts */
  printf("  verdicts:\n");
  for (size_t i = 2; i < nf; i += NUM_KS) {
    double r1 = figs[i].best * figs[i].k;
    double one = (1.0 / figs[i].best) / fs;
    size_t bj = i;
    for (size_t j = i; j < i + NUM_KS; j++) {
      if (figs[j].best * figs[j].k > figs[bj].best * figs[bj].k) {
        bj = j;
      }
    }
    double rb = figs[bj].best * figs[bj].k;
    printf("    %-18s k=1: %.2f fdatasync = %.2f empty LMDB commits; "
           "best batch k=%d: %.1fx the ops/s of k=1 -> %s",
           kind_name(figs[i].kind), one, figs[1].best / figs[i].best,
           figs[bj].k, rb / r1,
           rb > 1.5 * r1 ? "batching speeds up"
           : figs[i].kind == F_SAVE_L
               ? "NO speed-up: bound by the bytes written, not the commit"
               : "NO speed-up");
    if (figs[i].kind == F_SAVE_S || figs[i].kind == F_SAVE_L) {
      double len = (double)d->state_len[figs[i].kind == F_SAVE_L];
      printf(" (%.0f MB/s of state at k=%d)", rb * len / 1e6, figs[bj].k);
    }
    printf("\n");
  }
  *lmdb_sec = 1.0 / figs[1].best;
  return 0;
}

/* ------------------------------------------------------ audit log sizes */

typedef struct build_arg {
  mg_keystore *ks;
  uint64_t n;
} build_arg;

static int build_txn(mg_ks_txn *txn, void *p) {
  build_arg *b = p;
  mg_ks_audit au;
  memset(&au, 0, sizeof(au));
  au.action = "group.save";
  au.object = "conversation-0123456789";
  for (uint64_t i = 0; i < b->n; i++) {
    int rc = mg_ks_audit_append(b->ks, txn, &g_ctx, &au, NULL);
    if (rc != 0) {
      return rc;
    }
  }
  return 0;
}

/* grow_to appends entries to the log of |ks| until it holds |n|. */
static int grow_to(mg_keystore *ks, uint64_t n, double *sec, uint64_t *added) {
  uint64_t size = 0;
  double t0 = bench_now_sec();
  *added = 0;
  if (audit_size(ks, &size) != 0) {
    return -1;
  }
  while (size < n) {
    build_arg b = {ks, n - size > BUILD_BATCH ? BUILD_BATCH : n - size};
    int rc = mg_ks_transact(ks, build_txn, &b);
    if (rc != 0) {
      FAIL("building the log: %s", mg_err_name(rc));
      return -1;
    }
    size += b.n;
    *added += b.n;
  }
  *sec = bench_now_sec() - t0;
  return 0;
}

typedef struct sig_ctx {
  uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
  uint8_t msg[120], sig[crypto_sign_BYTES];
} sig_ctx;

static int sig_once(void *p) {
  sig_ctx *s = p;
  return crypto_sign_detached(s->sig, NULL, s->msg, sizeof(s->msg), s->sk);
}

typedef struct hash_ctx {
  EVP_MD *md;
  uint8_t buf[1024];
  size_t len;
  uint8_t out[32];
} hash_ctx;

static int hash_once(void *p) {
  hash_ctx *h = p;
  return EVP_Digest(h->buf, h->len, h->out, NULL, h->md, NULL) == 1 ? 0 : -1;
}

/* best_rate: best of |runs| bench_util runs of ~|t| s. */
static double best_rate(bench_fn fn, void *ctx, int runs, double t) {
  uint64_t iters = 0;
  double best = 0;
  if (bench_calibrate(fn, ctx, t, &iters) != 0) {
    return -1;
  }
  for (int r = 0; r < runs; r++) {
    bench_run_result res;
    if (bench_timed_run(fn, ctx, iters, &res) != 0) {
      return -1;
    }
    double rate = res.contended ? res.cpu_rate : res.rate;
    if (rate > best) {
      best = rate;
    }
  }
  return best;
}

typedef struct sample_arg {
  double total;
  size_t n;
  int bad;
  uint8_t first[1024];
  size_t first_len;
} sample_arg;

static int sample_entry(void *arg, uint64_t seq, const char *entry,
                        size_t entry_len, const uint8_t *leaf_hash) {
  sample_arg *s = arg;
  uint8_t buf[2048], h[32];
  (void)seq;
  if (entry_len + 1 > sizeof(buf)) {
    s->bad = 1;
    return 0;
  }
  buf[0] = 0;
  memcpy(buf + 1, entry, entry_len);
  if (EVP_Digest(buf, entry_len + 1, h, NULL, EVP_sha256(), NULL) != 1 ||
      memcmp(h, leaf_hash, 32) != 0) {
    s->bad = 1;
  }
  s->total += (double)entry_len;
  s->n++;
  return 0;
}

static int run_cli(const char *exe, const char *file, const char *vkey,
                   double *sec) {
  double t0 = bench_now_sec();
  pid_t pid = fork();
  if (pid < 0) {
    return -1;
  }
  if (pid == 0) {
    int nul = open("/dev/null", O_WRONLY);
    if (nul >= 0) {
      dup2(nul, 1);
    }
    execl(exe, exe, "audit", "verify", file, "--key", vkey, (char *)NULL);
    _exit(127);
  }
  int st = 0;
  if (waitpid(pid, &st, 0) != pid) {
    return -1;
  }
  *sec = bench_now_sec() - t0;
  return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* cp_measure times mg_ks_audit_checkpoint on the log of |ks| as it is:
 * one untimed checkpoint first, so that every timed one also proves
 * consistency with a previous checkpoint of this size; then, once the disk
 * has settled, --runs runs of CP_PER_RUN.  Lowers |*ms| and |*cpu| (per
 * checkpoint, wall and this thread's CPU) to the best run's; sets
 * |*fs_now| and |*size| (the log size the checkpoints covered). */
static int cp_measure(const opts *o, mg_keystore *ks, const char *dir,
                      double fsync_sec, double *ms, double *cpu,
                      double *fs_now, uint64_t *size) {
  char *note = NULL;
  size_t note_len = 0;
  uint64_t cs = 0;
  int rc = mg_ks_audit_checkpoint(ks, &g_ctx, &note, &note_len, &cs);
  free(note);
  if (rc != 0) {
    FAIL("checkpoint: %s", mg_err_name(rc));
    return -1;
  }
  /* the log just built (and 1-3 before) left the disk writing back */
  *fs_now = settle(dir, fsync_sec, 25);
  if (*fs_now < 0) {
    FAIL("fdatasync failed");
    return -1;
  }
  for (int r = 0; r < o->runs; r++) {
    double c0 = bench_thread_cpu_sec();
    double t0 = bench_now_sec();
    for (int c = 0; c < CP_PER_RUN; c++) {
      uint64_t before = 0;
      if (audit_size(ks, &before) != 0) {
        return -1;
      }
      note = NULL;
      rc = mg_ks_audit_checkpoint(ks, &g_ctx, &note, &note_len, &cs);
      /* the checkpoint covers the whole log (its own entry comes after) */
      if (rc == 0 && (note == NULL || cs != before)) {
        FAIL("checkpoint of size %" PRIu64 " on a log of %" PRIu64, cs,
             before);
        free(note);
        return -1;
      }
      free(note);
      if (rc != 0) {
        FAIL("checkpoint: %s", mg_err_name(rc));
        return -1;
      }
      *size = before;
    }
    double el = (bench_now_sec() - t0) / CP_PER_RUN * 1e3;
    double ce = (bench_thread_cpu_sec() - c0) / CP_PER_RUN * 1e3;
    *ms = el < *ms ? el : *ms;
    *cpu = ce < *cpu ? ce : *cpu;
  }
  return 0;
}

/* ilog2: floor(log2(x)) for x >= 2 (without libm), as a double. */
static double ilog2(uint64_t x) {
  double r = 0;
  while (x > 1) {
    x >>= 1;
    r += 1;
  }
  return r;
}

/* cp_logn: the checkpoint verdict over sizes [0, n): the wall and CPU
 * times of the largest log within FLAT_TOLERANCE times the growth of
 * log2(size) of the smallest's (the tree reads and the B-tree pages a
 * commit rewrites are O(log n); an O(n) read would grow like the size). */
static int cp_logn(const double *ms, const double *cpu, const uint64_t *size,
                   size_t n) {
  double gl = ilog2(size[n - 1]) / ilog2(size[0]);
  return ms[n - 1] <= FLAT_TOLERANCE * gl * ms[0] &&
         cpu[n - 1] <= FLAT_TOLERANCE * gl * cpu[0];
}

static int bench_audit(const opts *o, mg_keystore *ks, const char *dir,
                       double fsync_sec, double lmdb_sec) {
  uint64_t sizes[4] = {1000, 10000, 100000, 1000000};
  size_t nsz = 0;
  for (size_t i = 0; i < 4; i++) {
    if (sizes[i] <= o->max_entries) {
      nsz = i + 1;
    }
  }
  if (nsz == 0) {
    nsz = 1;
    sizes[0] = o->max_entries;
  }
  /* the bounds */
  sig_ctx sc;
  crypto_sign_keypair(sc.pk, sc.sk);
  randombytes_buf(sc.msg, sizeof(sc.msg));
  double sig_rate = best_rate(sig_once, &sc, o->runs, 0.1);
  if (sig_rate <= 0 ||
      crypto_sign_verify_detached(sc.sig, sc.msg, sizeof(sc.msg), sc.pk) != 0) {
    FAIL("Ed25519 bound failed");
    return -1;
  }
  char *vkey = NULL;
  if (mg_ks_audit_verifier(ks, &vkey) != 0) {
    FAIL("no verifier key");
    return -1;
  }
  char cli[600];
  snprintf(cli, sizeof(cli), "%s/mlsgatectl", BENCH_BUILDDIR);
  int have_cli = access(cli, X_OK) == 0;

  double cp_ms[4] = {0}, cp_fsync[4] = {0}, cp_cpu[4] = {0};
  uint64_t cp_size[4] = {0};
  double build_rate[4] = {0};
  double ver_rate[4] = {0}, exp_sec[4] = {0}, leaf_sec[4] = {0},
         tree_sec[4] = {0}, cli_sec = -1;
  long long exp_bytes[4] = {0};
  int have_ver[4] = {0};
  double leaf_rate = 0, node_rate = 0, mean_entry = 0;

  for (size_t i = 0; i < nsz; i++) {
    double sec = 0;
    uint64_t added = 0;
    if (grow_to(ks, sizes[i], &sec, &added) != 0) {
      goto fail;
    }
    build_rate[i] = added > 0 && sec > 0 ? (double)added / sec : 0;
    fprintf(stderr, "  [log of %" PRIu64 " entries built: %" PRIu64
                    " in %.1f s]\n",
            sizes[i], added, sec);
    if (i == 0) {
      /* the leaf-hash bound from the log's own entries (checked equal) */
      sample_arg sa;
      memset(&sa, 0, sizeof(sa));
      if (mg_ks_audit_entries(ks, 0, 256, sample_entry, &sa, NULL) != 0 ||
          sa.bad || sa.n == 0) {
        FAIL("leaf hashes differ from SHA-256(0x00 || entry)");
        goto fail;
      }
      mean_entry = sa.total / (double)sa.n;
      hash_ctx hc;
      memset(&hc, 0, sizeof(hc));
      hc.md = EVP_MD_fetch(NULL, "SHA256", NULL);
      hc.len = (size_t)(mean_entry + 0.5) + 1;
      if (hc.md == NULL || hc.len > sizeof(hc.buf)) {
        FAIL("no SHA-256");
        goto fail;
      }
      leaf_rate = best_rate(hash_once, &hc, o->runs, 0.1);
      hc.len = 65;
      node_rate = best_rate(hash_once, &hc, o->runs, 0.1);
      EVP_MD_free(hc.md);
      if (leaf_rate <= 0 || node_rate <= 0) {
        FAIL("SHA-256 bound failed");
        goto fail;
      }
    }
    /* 4: checkpoints; a last point that looks grown is measured up to
     * twice more, the best kept (contention only slows them down) */
    cp_ms[i] = cp_cpu[i] = 1e18;
    for (int m = 0; m < 3; m++) {
      if (cp_measure(o, ks, dir, fsync_sec, &cp_ms[i], &cp_cpu[i],
                     &cp_fsync[i], &cp_size[i]) != 0) {
        goto fail;
      }
      if (i + 1 < nsz || i == 0 || cp_logn(cp_ms, cp_cpu, cp_size, i + 1)) {
        break;
      }
    }
    /* 5: export and verify */
    if (sizes[i] < 10000 && sizes[i] != o->max_entries) {
      continue;
    }
    char path[700];
    snprintf(path, sizeof(path), "%s/export.jsonl", dir);
    FILE *f = fopen(path, "w");
    if (f == NULL) {
      FAIL("cannot create %s", path);
      goto fail;
    }
    uint64_t esize = 0;
    double t0 = bench_now_sec();
    int rc = mg_ks_audit_export(ks, &g_ctx, f, &esize);
    if (fflush(f) != 0) {
      rc = MG_ERR_IO;
    }
    exp_sec[i] = bench_now_sec() - t0;
    exp_bytes[i] = (long long)ftell(f);
    fclose(f);
    if (rc != 0) {
      FAIL("export: %s", mg_err_name(rc));
      goto fail;
    }
    int vruns = sizes[i] >= 1000000 ? 1 : (sizes[i] >= 100000 ? 2 : o->runs);
    double vbest = 1e18;
    for (int r = 0; r < vruns; r++) {
      mg_audit_verify_result res;
      f = fopen(path, "r");
      if (f == NULL) {
        goto fail;
      }
      double v0 = bench_now_sec();
      rc = mg_audit_verify(f, vkey, NULL, 0, &res);
      double el = bench_now_sec() - v0;
      fclose(f);
      if (rc != 0 || !res.ok || res.size != esize) {
        FAIL("export of %" PRIu64 " does not verify: %d %s", esize, rc,
             rc == 0 ? res.reason : mg_err_name(rc));
        goto fail;
      }
      if (el < vbest) {
        vbest = el;
      }
    }
    ver_rate[i] = (double)esize / vbest;
    leaf_sec[i] = (double)esize / leaf_rate;
    tree_sec[i] = leaf_sec[i] + (double)(esize - 1) / node_rate;
    have_ver[i] = 1;
    sizes[i] = esize;
    if (have_cli && sizes[i] >= 100000 && sizes[i] < 1000000) {
      if (run_cli(cli, path, vkey, &cli_sec) != 0) {
        FAIL("mlsgatectl audit verify failed on the 10^5 export");
        unlink(path);
        goto fail;
      }
    }
    unlink(path);
  }

  printf("\n4. checkpoint signing (mg_ks_audit_checkpoint: one durable write "
         "transaction), best of %d runs of %d\n",
         o->runs, CP_PER_RUN);
  printf("  bound: one Ed25519 signature = %.3f ms (libsodium); one fdatasync "
         "= %.3f ms; one empty LMDB commit = %.3f ms (from 1-3)\n",
         1e3 / sig_rate, fsync_sec * 1e3, lmdb_sec * 1e3);
  printf("  ('fsync now' = one fdatasync measured right before that size's "
         "checkpoints; 'x fsync' against it)\n");
  printf("  %-12s %10s %10s %10s %10s %10s %10s\n", "log entries", "ms",
         "cpu ms", "x Ed25519", "fsync now", "x fsync", "x LMDB");
  for (size_t i = 0; i < nsz; i++) {
    printf("  %-12" PRIu64 " %10.3f %10.3f %10.2f %10.3f %10.2f %10.2f\n",
           cp_size[i], cp_ms[i], cp_cpu[i], cp_ms[i] / (1e3 / sig_rate),
           cp_fsync[i] * 1e3, cp_ms[i] / (cp_fsync[i] * 1e3),
           cp_ms[i] / (lmdb_sec * 1e3));
  }
  if (nsz > 1) {
    double gc = cp_cpu[nsz - 1] / cp_cpu[0];
    double g = cp_ms[nsz - 1] / cp_ms[0];
    double gl = ilog2(cp_size[nsz - 1]) / ilog2(cp_size[0]);
    double gn = (double)cp_size[nsz - 1] / (double)cp_size[0];
    printf("  verdict: %" PRIu64 " -> %" PRIu64 " entries (%.0fx; log2 n "
           "%.2fx): wall %.2fx, cpu %.2fx -> %s (flat within %.1fx: %s)\n",
           cp_size[0], cp_size[nsz - 1], gn, gl, g, gc,
           cp_logn(cp_ms, cp_cpu, cp_size, nsz)
               ? "O(log n): grows no faster than log2 n, not with the log"
               : "GROWS faster than log n",
           FLAT_TOLERANCE,
           g <= FLAT_TOLERANCE && gc <= FLAT_TOLERANCE ? "yes" : "no");
  }
  printf("\n5. audit verify (mg_audit_verify of an mg_ks_audit_export file; "
         "mean entry %.0f B)\n",
         mean_entry);
  printf("  bound: SHA-256 of one leaf (%.0f B) = %.3f us, of one node (65 "
         "B) = %.3f us (OpenSSL EVP_Digest)\n",
         mean_entry + 1, 1e6 / leaf_rate, 1e6 / node_rate);
  printf("  %-9s %9s %11s %9s %11s %9s %9s %9s %9s\n", "entries", "export",
         "build e/s", "export s", "verify e/s", "verify s", "leaves s",
         "x leaves", "x tree");
  for (size_t i = 0; i < nsz; i++) {
    if (!have_ver[i]) {
      continue;
    }
    double vs = (double)sizes[i] / ver_rate[i];
    printf("  %-9" PRIu64 " %8.1fM %11.0f %9.2f %11.0f %9.3f %9.3f %8.1fx "
           "%8.1fx\n",
           sizes[i], (double)exp_bytes[i] / 1e6, build_rate[i], exp_sec[i],
           ver_rate[i], vs, leaf_sec[i], vs / leaf_sec[i], vs / tree_sec[i]);
  }
  printf("  ('x leaves' = verify time / SHA-256 of the leaves alone; 'x tree' "
         "= / leaves + n-1 node hashes)\n");
  if (cli_sec >= 0) {
    printf("  mlsgatectl audit verify, 10^5 entries, end to end (fork, exec, "
           "verify): %.3f s\n",
           cli_sec);
  } else if (!have_cli) {
    printf("  mlsgatectl audit verify: not run (%s not built)\n", cli);
  } else {
    printf("  mlsgatectl audit verify: not run (no 10^5 export)\n");
  }
  free(vkey);
  return 0;
fail:
  free(vkey);
  return -1;
}

/* ------------------------------------------------------------------ main */

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static int parse_args(int argc, char **argv, opts *o) {
  o->time = 0.4;
  o->runs = 5;
  o->quick = 0;
  o->max_entries = 1000000;
  int max_set = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0) {
      o->quick = 1;
    } else if (strcmp(argv[i], "--max-entries") == 0 && i + 1 < argc) {
      char *end = NULL;
      o->max_entries = strtoull(argv[++i], &end, 10);
      if (end == NULL || *end != '\0' || o->max_entries < 10) {
        goto usage;
      }
      max_set = 1;
    } else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
      o->runs = atoi(argv[++i]);
      if (o->runs < 1) {
        goto usage;
      }
    } else if (strcmp(argv[i], "--time") == 0 && i + 1 < argc) {
      o->time = atof(argv[++i]);
      if (!(o->time > 0)) {
        goto usage;
      }
    } else {
      goto usage;
    }
  }
  if (o->quick) {
    o->time = o->time < 0.1 ? o->time : 0.1;
    o->runs = 2;
    if (!max_set) {
      o->max_entries = 10000;
    }
  }
  return 0;
usage:
  fprintf(stderr, "usage: bench/keystore [--quick] [--max-entries N] "
                  "[--runs N] [--time SECONDS]\n");
  return -1;
}

static int open_store(mg_keystore **ks, const char *dir, const char *kek) {
  mg_ks_options so;
  memset(&so, 0, sizeof(so));
  so.dir = dir;
  so.kek_path = kek;
  so.kek_fd = -1;
  so.create = 1;
  return mg_ks_open(ks, &so);
}

int main(int argc, char **argv) {
  opts o;
  double t_start = bench_now_sec();
  if (parse_args(argc, argv, &o) != 0) {
    return 2;
  }
  if (mg_crypto_init() != 0 || sodium_init() < 0) {
    fprintf(stderr, "bench: crypto initialization failed\n");
    return 1;
  }
  if (mg_secmem_disable_dump_for_process() != 0) {
    fprintf(stderr, "bench: cannot disable core dumps\n");
    return 1;
  }
  const char *tmp = getenv("TMPDIR");
  char base[256], kek[400], da[400], db[400], fpath[400];
  snprintf(base, sizeof(base), "%s/mlsgate-bench-ks-XXXXXX",
           tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
  if (mkdtemp(base) == NULL) {
    fprintf(stderr, "bench: mkdtemp %s: %s\n", base, strerror(errno));
    return 1;
  }
  snprintf(kek, sizeof(kek), "%s/kek", base);
  snprintf(da, sizeof(da), "%s/a", base);
  snprintf(db, sizeof(db), "%s/b", base);
  snprintf(fpath, sizeof(fpath), "%s/a/fsync.dat", base);

  mg_keystore *ksa = NULL, *ksb = NULL;
  dur_ctx d;
  memset(&d, 0, sizeof(d));
  d.fd = -1;
  int rc;
  if ((rc = mg_kv_kek_generate(kek)) != 0 ||
      (rc = open_store(&ksa, da, kek)) != 0 ||
      (rc = open_store(&ksb, db, kek)) != 0) {
    FAIL("cannot create the stores: %s", mg_err_name(rc));
    goto out;
  }
  struct statfs sfs;
  const char *fstype = "?";
  char fsbuf[32];
  if (statfs(base, &sfs) == 0) {
    snprintf(fsbuf, sizeof(fsbuf), "0x%lx", (unsigned long)sfs.f_type);
    fstype = sfs.f_type == 0xEF53 ? "ext2/3/4"
             : sfs.f_type == 0x58465342 ? "xfs"
             : sfs.f_type == 0x9123683E ? "btrfs"
             : sfs.f_type == 0x01021994 ? "tmpfs (NOT durable)"
             : sfs.f_type == 0x794c7630 ? "overlayfs"
                                        : fsbuf;
  }
  printf("bench/keystore: durable keystore operations and the audit log "
         "against a durable commit on the same filesystem, in the same run "
         "(see the header of bench/keystore.c).\n"
         "store: %s (filesystem %s; durability figures depend on the disk "
         "under it), default sync (every commit fsync'ed).\n"
         "best-of runs; the machine is shared (2 cores, other builds "
         "running): figures are noisy.%s\n",
         base, fstype, o.quick ? "  --quick: short runs, small logs." : "");
  fflush(stdout);

  d.ks = ksa;
  d.dir = da;
  d.fd = open(fpath, O_RDWR | O_CREAT | O_TRUNC, 0600);
  d.state_len[0] = SMALL_STATE;
  d.state_len[1] = LARGE_STATE;
  d.state[0] = malloc(SMALL_STATE);
  d.state[1] = malloc(LARGE_STATE);
  if (d.fd < 0 || d.state[0] == NULL || d.state[1] == NULL) {
    FAIL("setup failed");
    goto out;
  }
  randombytes_buf(d.state[0], SMALL_STATE);
  randombytes_buf(d.state[1], LARGE_STATE);
  if ((rc = mg_ks_identity_create(ksa, &g_ctx, "alice", SUITE, 0, NULL)) != 0) {
    FAIL("identity: %s", mg_err_name(rc));
    goto out;
  }
  /* the conversations, epoch 0 (not timed) */
  for (int l = 0; l < 2; l++) {
    for (int i = 0; i < MAX_K; i++) {
      d.epoch[l][i] = MG_KS_EPOCH_NONE;
    }
  }
  {
    /* epoch NONE -> 0: the save is a CAS from "absent"; ops_txn saves
     * e -> e + 1, so create them directly here. */
    for (int l = 0; l < 2; l++) {
      for (int i = 0; i < MAX_K; i++) {
        d.epoch[l][i] = (uint64_t)-1; /* NONE; NONE + 1 == 0 */
      }
      fig f = {l ? F_SAVE_L : F_SAVE_S, MAX_K, 0};
      if ((rc = one_txn(&d, &f)) != 0) {
        FAIL("creating conversations: %s", mg_err_name(rc));
        goto out;
      }
    }
  }
  uint64_t log0 = 0;
  if (audit_size(ksa, &log0) != 0) {
    FAIL("audit size");
    goto out;
  }
  d.audit_written = 0;
  double fsync_sec = 0, lmdb_sec = 0;
  if (bench_durable(&o, &d, ksa, log0, &fsync_sec, &lmdb_sec) != 0) {
    goto out;
  }
  fflush(stdout);
  if (bench_audit(&o, ksb, db, fsync_sec, lmdb_sec) != 0) {
    goto out;
  }

out:
  if (d.fd >= 0) {
    close(d.fd);
  }
  free(d.state[0]);
  free(d.state[1]);
  free(d.refs);
  mg_ks_close(ksa);
  mg_ks_close(ksb);
  nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  printf("\ntotal %.0f s; store directory removed\n",
         bench_now_sec() - t_start);
  if (g_failed) {
    printf("FAILED: at least one operation or check failed (see stderr)\n");
  }
  return g_failed ? 1 : 0;
}
