/*
 * bench/session: the session layer's encryption (issue 6, "Benchmarks",
 * without HTTP): how close mg_session_encrypt comes to the engine's
 * in-process protect rate, and how far above one fsync per message.
 *
 * In a fresh store in a temporary directory (mkdtemp under $TMPDIR, else
 * /tmp; removed at the end), default durable sync (every commit
 * fsync'ed), one identity (suite 1) and --convs (1000) conversations,
 * each opened with a device KeyPackage and warmed by one encrypt (its
 * first lease):
 *
 *   protect      mls_group_protect of a 1 KiB payload on one group, in
 *                process, one thread: the engine's rate (nothing stored);
 *   encrypt T    mg_session_encrypt of 1 KiB from T = 1, 16, 128 threads,
 *                thread t taking conversations t, t + T, t + 2T, ... in
 *                turn: the lease (a durable reservation every 64
 *                generations), the protect and the audit entry committed
 *                before the call returns, batched by the group commit;
 *                ops/s, p50 and p99 latency, operations per transaction;
 *   decrypt T    mg_session_decrypt of the devices' 1 KiB application
 *                messages (made beforehand, DEV_MSGS per conversation;
 *                thread t owns conversations t, t + T, ... so each is
 *                decrypted in order): the engine's process, the new state
 *                (the consumed key deleted) saved by compare-and-swap with
 *                its audit entry before the call returns;
 *   fsync/msg    the naive durable design, one thread: per message one
 *                mg_ks_transact holding mls_group_protect and an audit
 *                entry (mg_ks_audit_append, content HMAC'd): one fsync
 *                per message.
 *
 * Each figure runs --seconds (2) of wall time.  Printed as a table with
 * the ratios encrypt / protect and encrypt / fsync-per-message.
 *
 *   bench/session [--seconds S] [--convs N] [--only T | --only-decrypt T]
 *   (--only T, --only-decrypt T: just that figure with T threads, with
 *   the transactions' time, and the process's CPU time (user + system,
 *   getrusage) and context switches (voluntary + involuntary) per
 *   operation: steadier than ops/s on a shared machine; for profiling)
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include "config.h"

#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_util.h"
#include "common/secmem.h"
#include "crypto/crypto.h"
#include "crypto/suite.h"
#include "keystore/keystore.h"
#include "keystore/kv.h"
#include "mls/constants.h"
#include "mls/group.h"
#include "crypto/hpke.h"
#include "mls/keypackage.h"
#include "mls/msg_framing.h"
#include "session/session.h"

#define T_NOW ((uint64_t)1800000000)
#define PAYLOAD 1024

static const mg_ks_ctx CTX = {"bench", T_NOW};
static char root[3800];
static char store_dir[4000];
static char kek_path[4000];
static mg_keystore *ks;
static mg_session *sess;
static uint8_t payload[PAYLOAD];
static double seconds = 2.0;
static int num_convs = 1000;
static int only = 0; /* --only T: just the encrypt figure with T threads */
static int only_decrypt = 0; /* --only-decrypt T: just that decrypt figure */

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static void die(const char *what, int rc) {
  fprintf(stderr, "bench/session: %s: %s\n", what, mg_err_name(rc));
  (void)nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  exit(1);
}

/* The device of each conversation: its group (joined from our Welcome)
 * and the messages it sent for the decrypt figures. */
typedef struct device {
  mls_key_package kp;
  mls_key_package_priv priv;
  mls_group *g;
  mls_bytes *msgs;
  int num_msgs, next_msg;
} device;

static device *devs;
#define DEV_MSGS 80 /* messages per conversation for the decrypt figures */

/* A device KeyPackage as an MLSMessage (its keys kept in |d|). */
static int device_kp(device *d, uint8_t **msg, size_t *len) {
  mls_key_package_params p;
  mls_bytes enc = {0};
  memset(&p, 0, sizeof(p));
  p.cipher_suite = 1;
  p.identity = (const uint8_t *)"device";
  p.identity_len = 6;
  p.now = T_NOW - 10;
  int rc = mls_key_package_generate(&d->kp, &d->priv, &enc, NULL, 0, NULL, &p);
  if (rc < 0) {
    return rc;
  }
  *len = enc.len + 4;
  *msg = malloc(*len);
  if (*msg == NULL) {
    mls_bytes_cleanup(&enc);
    return MG_ERR_NOMEM;
  }
  (*msg)[0] = 0;
  (*msg)[1] = 1;
  (*msg)[2] = 0;
  (*msg)[3] = 5;
  memcpy(*msg + 4, enc.data, enc.len);
  mls_bytes_cleanup(&enc);
  return 0;
}

static int device_join(device *d, const mg_conv_opened *o) {
  mls_message wm;
  mls_join_params jp;
  const mls_suite *suite = mls_suite_by_id(1);
  memset(&wm, 0, sizeof(wm));
  int rc = mls_message_decode_bytes(o->welcome.data, o->welcome.len, &wm);
  if (rc < 0) {
    return rc;
  }
  memset(&jp, 0, sizeof(jp));
  jp.welcome = &wm.welcome;
  jp.key_package = &d->kp;
  jp.init_priv = mg_hpke_key_priv(&d->priv.init_key);
  jp.init_priv_len = suite->kem->priv_len;
  jp.enc_priv = mg_hpke_key_priv(&d->priv.encryption_key);
  jp.enc_priv_len = suite->kem->priv_len;
  jp.sig_priv = d->priv.sig_priv;
  jp.sig_priv_len = d->priv.sig_priv_len;
  jp.ratchet_tree = o->ratchet_tree.data;
  jp.ratchet_tree_len = o->ratchet_tree.len;
  jp.now = T_NOW;
  rc = mls_group_join(&d->g, suite, &jp);
  mls_message_cleanup(&wm);
  return rc;
}

static void device_cleanup(device *d) {
  mls_key_package_cleanup(&d->kp);
  mls_key_package_priv_cleanup(&d->priv);
  mls_group_free(d->g);
  for (int i = 0; i < d->num_msgs; i++) {
    mls_bytes_cleanup(&d->msgs[i]);
  }
  free(d->msgs);
}

static void conv_name(char *out, size_t cap, int i) {
  snprintf(out, cap, "bench-%05d", i);
}

/* ------------------------------------------------------ setup threads */

typedef struct open_arg {
  int first, step;
  int rc;
} open_arg;

static void *open_main(void *p) {
  open_arg *a = p;
  for (int i = a->first; i < num_convs && a->rc == 0; i += a->step) {
    uint8_t *kp = NULL;
    size_t kp_len = 0;
    char conv[32];
    mg_conv_opened o;
    mg_encrypted e;
    conv_name(conv, sizeof(conv), i);
    a->rc = device_kp(&devs[i], &kp, &kp_len);
    if (a->rc == 0) {
      a->rc = mg_session_open_conversation(sess, &CTX, "bench", kp, kp_len,
                                           conv, &o);
      if (a->rc == 0) {
        a->rc = device_join(&devs[i], &o);
      }
      mg_conv_opened_cleanup(&o);
    }
    free(kp);
    /* The device's messages for the decrypt figures. */
    devs[i].msgs = calloc(DEV_MSGS, sizeof(mls_bytes));
    if (a->rc == 0 && devs[i].msgs == NULL) {
      a->rc = MG_ERR_NOMEM;
    }
    for (int k = 0; a->rc == 0 && k < DEV_MSGS; k++) {
      a->rc = mls_group_protect(devs[i].g, payload, PAYLOAD, NULL, 0, 0,
                                &devs[i].msgs[k], NULL);
      devs[i].num_msgs += a->rc == 0;
    }
    if (a->rc == 0) {
      a->rc = mg_session_encrypt(sess, &CTX, conv, payload, PAYLOAD, NULL, 0,
                                 &e);
      mg_encrypted_cleanup(&e);
    }
  }
  return NULL;
}

typedef struct state_arg {
  uint8_t *state;
  size_t len;
} state_arg;

static int state_fn(mg_ks_txn *txn, void *p) {
  state_arg *a = p;
  uint64_t epoch = 0;
  char conv[32];
  conv_name(conv, sizeof(conv), 0);
  mg_free_secret(a->state, a->len);
  a->state = NULL;
  a->len = 0;
  return mg_ks_group_load(txn, conv, &epoch, &a->state, &a->len);
}

/* ------------------------------------------------------------ encrypt */

typedef struct enc_arg {
  int t, nthreads;
  int decrypt; /* decrypt the devices' messages instead */
  double stop_at;
  uint64_t ops;
  double *lat; /* seconds per call */
  size_t num_lat, cap_lat;
  int rc;
} enc_arg;

static void *enc_main(void *p) {
  enc_arg *a = p;
  /* Thread t owns conversations t, t + T, t + 2T, ... (a device's
   * messages are decrypted in order). */
  int i = a->t % num_convs;
  while (bench_now_sec() < a->stop_at) {
    char conv[32];
    int rc;
    double t0, dt;
    conv_name(conv, sizeof(conv), i);
    if (a->decrypt) {
      mg_decrypted d;
      device *dv = &devs[i];
      if (dv->next_msg == dv->num_msgs) {
        break; /* out of messages: the figure ends for this thread */
      }
      const mls_bytes *m = &dv->msgs[dv->next_msg++];
      t0 = bench_now_sec();
      rc = mg_session_decrypt(sess, &CTX, conv, m->data, m->len, &d);
      dt = bench_now_sec() - t0;
      mg_decrypted_cleanup(&d);
    } else {
      mg_encrypted e;
      t0 = bench_now_sec();
      rc = mg_session_encrypt(sess, &CTX, conv, payload, PAYLOAD, NULL, 0,
                              &e);
      dt = bench_now_sec() - t0;
      mg_encrypted_cleanup(&e);
    }
    if (rc < 0) {
      a->rc = rc;
      return NULL;
    }
    a->ops++;
    if (a->num_lat == a->cap_lat) {
      size_t cap = a->cap_lat ? 2 * a->cap_lat : 4096;
      double *n = realloc(a->lat, cap * sizeof(double));
      if (n == NULL) {
        a->rc = MG_ERR_NOMEM;
        return NULL;
      }
      a->lat = n;
      a->cap_lat = cap;
    }
    a->lat[a->num_lat++] = dt;
    i += a->nthreads;
    if (i >= num_convs) {
      i = a->t % num_convs;
    }
  }
  return NULL;
}

static int cmp_double(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return a < b ? -1 : a > b ? 1 : 0;
}

typedef struct enc_result {
  double rate, p50_ms, p99_ms, ops_per_txn, txn_ms, busy;
  double cpu_us, csw; /* the process's CPU time and context switches per op */
} enc_result;

static enc_result run_encrypt(int nthreads, int decrypt) {
  enc_result res;
  pthread_t *th = calloc((size_t)nthreads, sizeof(pthread_t));
  enc_arg *args = calloc((size_t)nthreads, sizeof(enc_arg));
  mg_session_stats s0, s1;
  memset(&res, 0, sizeof(res));
  if (th == NULL || args == NULL) {
    die("calloc", MG_ERR_NOMEM);
  }
  struct rusage ru0, ru1;
  mg_session_get_stats(sess, &s0);
  (void)getrusage(RUSAGE_SELF, &ru0);
  double t0 = bench_now_sec();
  for (int t = 0; t < nthreads; t++) {
    args[t].t = t;
    args[t].nthreads = nthreads;
    args[t].decrypt = decrypt;
    args[t].stop_at = t0 + seconds;
    if (pthread_create(&th[t], NULL, enc_main, &args[t]) != 0) {
      die("pthread_create", MG_ERR_INTERNAL);
    }
  }
  uint64_t ops = 0;
  size_t nl = 0;
  for (int t = 0; t < nthreads; t++) {
    (void)pthread_join(th[t], NULL);
    if (args[t].rc < 0) {
      die(decrypt ? "decrypt" : "encrypt", args[t].rc);
    }
    ops += args[t].ops;
    nl += args[t].num_lat;
  }
  double wall = bench_now_sec() - t0;
  (void)getrusage(RUSAGE_SELF, &ru1);
  mg_session_get_stats(sess, &s1);
  double *all = calloc(nl ? nl : 1, sizeof(double));
  if (all == NULL) {
    die("calloc", MG_ERR_NOMEM);
  }
  size_t k = 0;
  for (int t = 0; t < nthreads; t++) {
    memcpy(all + k, args[t].lat, args[t].num_lat * sizeof(double));
    k += args[t].num_lat;
    free(args[t].lat);
  }
  qsort(all, nl, sizeof(double), cmp_double);
  res.rate = (double)ops / wall;
  if (ops > 0) {
    double cpu =
        (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
        (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
        (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
        (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
    double sw = (double)(ru1.ru_nvcsw - ru0.ru_nvcsw) +
                (double)(ru1.ru_nivcsw - ru0.ru_nivcsw);
    res.cpu_us = cpu * 1e6 / (double)ops;
    res.csw = sw / (double)ops;
  }
  if (nl > 0) {
    res.p50_ms = all[nl / 2] * 1e3;
    res.p99_ms = all[(nl * 99) / 100] * 1e3;
  }
  if (s1.txns > s0.txns) {
    res.ops_per_txn =
        (double)(s1.txn_ops - s0.txn_ops) / (double)(s1.txns - s0.txns);
    res.txn_ms = (double)(s1.txn_ns_total - s0.txn_ns_total) / 1e6 /
                 (double)(s1.txns - s0.txns);
    res.busy = (double)(s1.txn_ns_total - s0.txn_ns_total) / 1e9 / wall;
  }
  free(all);
  free(args);
  free(th);
  return res;
}

/* ------------------------------------------------- protect, fsync/msg */

static mls_group *solo;

static int protect_fn(void *ctx) {
  mls_bytes m = {0};
  uint32_t gen = 0;
  (void)ctx;
  int rc = mls_group_protect(solo, payload, PAYLOAD, NULL, 0, 0, &m, &gen);
  mls_bytes_cleanup(&m);
  return rc < 0 ? -1 : 0;
}

static int make_solo(void) {
  mls_key_package kp;
  mls_key_package_priv priv;
  mls_key_package_params p;
  mls_group_create_params gp;
  memset(&p, 0, sizeof(p));
  p.cipher_suite = 1;
  p.identity = (const uint8_t *)"solo";
  p.identity_len = 4;
  p.now = T_NOW;
  int rc = mls_key_package_generate(&kp, &priv, NULL, NULL, 0, NULL, &p);
  if (rc < 0) {
    return rc;
  }
  memset(&gp, 0, sizeof(gp));
  gp.key_package = &kp;
  gp.priv = &priv;
  rc = mls_group_create(&solo, mls_suite_by_id(1), &gp);
  mls_key_package_cleanup(&kp);
  mls_key_package_priv_cleanup(&priv);
  return rc;
}

typedef struct naive_arg {
  mls_bytes msg;
  uint8_t hmac[32];
} naive_arg;

static int naive_txn(mg_ks_txn *txn, void *p) {
  naive_arg *a = p;
  mg_ks_audit au;
  uint8_t kid[1][MG_KS_KEY_ID_LEN];
  uint32_t gen = 0;
  mls_bytes_cleanup(&a->msg);
  memset(kid, 0, sizeof(kid));
  int rc = mls_group_protect(solo, payload, PAYLOAD, NULL, 0, 0, &a->msg, &gen);
  if (rc < 0) {
    return rc;
  }
  memset(&au, 0, sizeof(au));
  au.action = "message.encrypt";
  au.object = "naive";
  au.key_ids = (const uint8_t(*)[MG_KS_KEY_ID_LEN])kid;
  au.num_key_ids = 1;
  au.content = payload;
  au.content_len = PAYLOAD;
  return mg_ks_audit_append(ks, txn, &CTX, &au, a->hmac);
}

static double run_naive(void) {
  naive_arg a;
  uint64_t ops = 0;
  memset(&a, 0, sizeof(a));
  double t0 = bench_now_sec();
  while (bench_now_sec() - t0 < seconds) {
    int rc = mg_ks_transact(ks, naive_txn, &a);
    if (rc < 0) {
      die("fsync per message", rc);
    }
    ops++;
  }
  double wall = bench_now_sec() - t0;
  mls_bytes_cleanup(&a.msg);
  return (double)ops / wall;
}

static double run_protect(void) {
  uint64_t iters = 0;
  bench_run_result best, r;
  memset(&best, 0, sizeof(best));
  if (bench_calibrate(protect_fn, NULL, seconds / 3, &iters) < 0) {
    die("protect", MG_ERR_INTERNAL);
  }
  for (int i = 0; i < 3; i++) {
    if (bench_timed_run(protect_fn, NULL, iters, &r) < 0) {
      die("protect", MG_ERR_INTERNAL);
    }
    if (r.rate > best.rate) {
      best = r;
    }
  }
  return best.rate;
}

int main(int argc, char **argv) {
  const char *tmp = getenv("TMPDIR");
  int threads[] = {1, 16, 128};
  enc_result er[3], dr[3];
  int rc;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
      seconds = atof(argv[++i]);
    } else if (strcmp(argv[i], "--convs") == 0 && i + 1 < argc) {
      num_convs = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
      only = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--only-decrypt") == 0 && i + 1 < argc) {
      only = atoi(argv[++i]);
      only_decrypt = 1;
    } else {
      fprintf(stderr, "usage: bench/session [--seconds S] [--convs N] "
                      "[--only T | --only-decrypt T]\n");
      return 2;
    }
  }
  if (seconds <= 0 || num_convs < 1) {
    return 2;
  }
  if (mg_crypto_init() != 0) {
    return 1;
  }
  memset(payload, 0x61, sizeof(payload));
  snprintf(root, sizeof(root), "%s/mlsgate-benchsess-XXXXXX",
           tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
  if (mkdtemp(root) == NULL) {
    perror("bench/session: mkdtemp");
    return 1;
  }
  snprintf(store_dir, sizeof(store_dir), "%s/store", root);
  snprintf(kek_path, sizeof(kek_path), "%s/kek", root);
  {
    mg_ks_options o;
    memset(&o, 0, sizeof(o));
    o.dir = store_dir;
    o.kek_path = kek_path;
    o.kek_fd = -1;
    o.create = 1;
    rc = mg_kv_kek_generate(kek_path);
    if (rc == 0) {
      rc = mg_ks_open(&ks, &o);
    }
    if (rc == 0) {
      rc = mg_ks_identity_create(ks, &CTX, "bench", 1, 0, NULL);
    }
    if (rc == 0) {
      rc = mg_session_new(&sess, ks, NULL);
    }
    if (rc == 0) {
      rc = make_solo();
    }
    if (rc != 0) {
      die("setup", rc);
    }
  }
  devs = calloc((size_t)num_convs, sizeof(device));
  if (devs == NULL) {
    die("calloc", MG_ERR_NOMEM);
  }
  /* Open and warm the conversations, 16 at a time; their devices join. */
  {
    double t0 = bench_now_sec();
    pthread_t th[16];
    open_arg oa[16];
    for (int t = 0; t < 16; t++) {
      oa[t].first = t;
      oa[t].step = 16;
      oa[t].rc = 0;
      if (pthread_create(&th[t], NULL, open_main, &oa[t]) != 0) {
        die("pthread_create", MG_ERR_INTERNAL);
      }
    }
    for (int t = 0; t < 16; t++) {
      (void)pthread_join(th[t], NULL);
      if (oa[t].rc < 0) {
        die("open", oa[t].rc);
      }
    }
    printf("bench/session: %d conversations opened and warmed in %.1f s\n",
           num_convs, bench_now_sec() - t0);
    state_arg sa;
    memset(&sa, 0, sizeof(sa));
    if (mg_ks_view(ks, state_fn, &sa) == 0) {
      printf("bench/session: a conversation's stored group state: %zu "
             "bytes\n",
             sa.len);
    }
    mg_free_secret(sa.state, sa.len);
  }

  if (only > 0) {
    enc_result e = run_encrypt(only, only_decrypt);
    printf("mg_session_%s T=%d: %.0f ops/s, p50 %.2f ms, p99 %.2f ms, "
           "%.1f ops/txn, %.2f ms/txn, committer in a transaction %.0f%% of "
           "the time, CPU %.0f us/op, %.1f context switches/op\n",
           only_decrypt ? "decrypt" : "encrypt", only, e.rate, e.p50_ms,
           e.p99_ms, e.ops_per_txn, e.txn_ms, 100.0 * e.busy, e.cpu_us,
           e.csw);
    mg_session_free(sess);
    mls_group_free(solo);
    mg_ks_close(ks);
    (void)nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
  }
  double protect = run_protect();
  for (int i = 0; i < 3; i++) {
    er[i] = run_encrypt(threads[i], 0);
  }
  for (int i = 0; i < 3; i++) {
    dr[i] = run_encrypt(threads[i], 1);
  }
  double naive = run_naive();

  printf("\nbench/session: 1 KiB payload, suite 1, %d conversations, %.1f s "
         "per figure, store on %s (fsync per commit), %ld CPUs\n",
         num_convs, seconds, root, sysconf(_SC_NPROCESSORS_ONLN));
  printf("%-28s %12s %9s %9s %9s %11s %11s\n", "figure", "ops/s", "p50 ms",
         "p99 ms", "ops/txn", "x protect", "x fsync/msg");
  printf("%-28s %12.0f %9s %9s %9s %11.3f %11.1f\n",
         "protect (in process)", protect, "-", "-", "-", 1.0,
         protect / naive);
  for (int i = 0; i < 3; i++) {
    char name[64];
    snprintf(name, sizeof(name), "mg_session_encrypt T=%d", threads[i]);
    printf("%-28s %12.0f %9.2f %9.2f %9.1f %11.3f %11.1f\n", name, er[i].rate,
           er[i].p50_ms, er[i].p99_ms, er[i].ops_per_txn,
           er[i].rate / protect, er[i].rate / naive);
  }
  for (int i = 0; i < 3; i++) {
    char name[64];
    snprintf(name, sizeof(name), "mg_session_decrypt T=%d", threads[i]);
    printf("%-28s %12.0f %9.2f %9.2f %9.1f %11.3f %11.1f\n", name, dr[i].rate,
           dr[i].p50_ms, dr[i].p99_ms, dr[i].ops_per_txn,
           dr[i].rate / protect, dr[i].rate / naive);
  }
  printf("%-28s %12.0f %9s %9s %9s %11.3f %11.1f\n",
         "fsync per message (T=1)", naive, "-", "-", "1.0", naive / protect,
         1.0);

  mg_session_free(sess);
  mls_group_free(solo);
  mg_ks_close(ks);
  for (int i = 0; i < num_convs; i++) {
    device_cleanup(&devs[i]);
  }
  free(devs);
  (void)nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  return 0;
}
