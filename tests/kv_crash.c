/*
 * Crash safety of the keystore's storage (src/keystore/kv.h; issue 5,
 * "Reliability tests").
 *
 * A child process runs write transactions as fast as it can.  Transaction
 * n stores three sealed records that must agree: "ctr" in MG_KV_GROUPS and
 * in MG_KV_LEASES (version n, value n || filler) and "seq" || n in
 * MG_KV_AUDIT (version n, value n || filler); the filler's length varies
 * with n and every 97th transaction carries 40 KiB more, so pages split,
 * overflow pages come and go and the map (created at 64 KiB) grows while
 * the child is being killed.  After mg_kv_write returned 0 the child
 * writes n to a pipe: the acknowledgement.
 *
 * The parent SIGKILLs the child after a random delay (1 ms to 300 ms,
 * a third of the cycles under 10 ms, so some kills land during open or
 * map growth), then reopens the store and checks:
 *  - both "ctr" records open and hold the same n at version n;
 *  - n is the last acknowledged value or the one after it (a transaction
 *    may have committed just before the kill, without its ack);
 *  - MG_KV_AUDIT holds exactly the records 1..n, each opening to its
 *    value: nothing acknowledged is lost and no transaction is half there.
 * At least 30 cycles and 2000 acknowledged transactions (more cycles when
 * fsync is slow), stopping after 15 s whatever the count.  The seed is printed;
 * set MLSGATE_CRASH_SEED to repeat a run.  Everything happens in a directory
 * from mkdtemp under $TMPDIR (or /tmp), removed at the end.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include "config.h"

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/secmem.h"
#include "crypto/crypto.h"
#include "keystore/kv.h"

#define CYCLES 30
#define MIN_ACKS 2000
#define MAX_SECONDS 15.0
#define BIG_FILLER (40u << 10)

static char root[3800];
static char store_dir[4000];
static char kek_path[4000];

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

static void put_be64(uint8_t *p, uint64_t v) {
  for (int i = 7; i >= 0; i--) {
    p[i] = (uint8_t)v;
    v >>= 8;
  }
}

static uint64_t get_be64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) {
    v = (v << 8) | p[i];
  }
  return v;
}

/* The value of transaction n's records: n || filler. */
static size_t value_len(uint64_t n) {
  return 8 + (size_t)(n % 13) * 61 + (n % 97 == 0 ? BIG_FILLER : 0);
}

static void make_value(uint8_t *v, uint64_t n, uint8_t salt) {
  size_t len = value_len(n);
  put_be64(v, n);
  for (size_t i = 8; i < len; i++) {
    v[i] = (uint8_t)(n * 131 + i + salt);
  }
}

static void seq_key(uint8_t k[11], uint64_t n) {
  memcpy(k, "seq", 3);
  put_be64(k + 3, n);
}

static mg_kv_options store_opts(int create) {
  mg_kv_options o;
  memset(&o, 0, sizeof(o));
  o.dir = store_dir;
  o.kek_path = kek_path;
  o.kek_fd = -1;
  o.create = create;
  o.map_size = create ? (size_t)64 << 10 : 0;
  return o;
}

/* ---------------------------------------------------------------- child */

typedef struct {
  uint64_t n;
  uint8_t *buf; /* value_len(n) bytes at most */
} txn_arg;

static int child_txn(mg_kv_txn *t, void *varg) {
  txn_arg *a = varg;
  static const uint8_t ctr[] = "ctr";
  uint8_t k[11];
  size_t len = value_len(a->n);
  make_value(a->buf, a->n, 0);
  int rc = mg_kv_put_sealed(t, MG_KV_GROUPS, ctr, 3, a->n, a->buf, len, 0);
  if (rc == 0) {
    seq_key(k, a->n);
    make_value(a->buf, a->n, 1);
    rc = mg_kv_put_sealed(t, MG_KV_AUDIT, k, sizeof(k), a->n, a->buf, len,
                          MG_KV_PUT_INSERT);
  }
  if (rc == 0) {
    make_value(a->buf, a->n, 0);
    rc = mg_kv_put_sealed(t, MG_KV_LEASES, ctr, 3, a->n, a->buf, len, 0);
  }
  return rc;
}

typedef struct {
  uint64_t n;
} last_arg;

static int child_last(mg_kv_txn *t, void *varg) {
  last_arg *a = varg;
  uint8_t *k = NULL;
  size_t k_len = 0;
  int rc = mg_kv_last(t, MG_KV_AUDIT, &k, &k_len);
  if (rc == MG_ERR_NOT_FOUND) {
    a->n = 0;
    return 0;
  }
  if (rc == 0) {
    a->n = k_len == 11 ? get_be64(k + 3) : UINT64_MAX;
  }
  free(k);
  return rc;
}

static void child_main(int ack_fd) {
  mg_kv *kv = NULL;
  mg_kv_options o = store_opts(0);
  int rc = mg_kv_open(&kv, &o);
  if (rc != 0) {
    fprintf(stderr, "kv_crash child: open: %s\n", mg_err_name(rc));
    _exit(3);
  }
  last_arg la = {0};
  rc = mg_kv_read(kv, child_last, &la);
  if (rc != 0 || la.n == UINT64_MAX) {
    fprintf(stderr, "kv_crash child: last: %s\n", mg_err_name(rc));
    _exit(3);
  }
  txn_arg ta = {la.n, malloc(8 + 12 * 61 + BIG_FILLER)};
  if (ta.buf == NULL) {
    _exit(3);
  }
  for (;;) {
    ta.n++;
    rc = mg_kv_write(kv, child_txn, &ta);
    if (rc != 0) {
      fprintf(stderr, "kv_crash child: write %" PRIu64 ": %s\n", ta.n,
              mg_err_name(rc));
      _exit(3);
    }
    uint8_t ack[8];
    put_be64(ack, ta.n);
    if (write(ack_fd, ack, sizeof(ack)) != (ssize_t)sizeof(ack)) {
      _exit(4);
    }
  }
}

/* --------------------------------------------------------------- parent */

typedef struct {
  uint64_t max_ack;
  uint64_t found;
  const char *fail;
  uint64_t fail_at;
  int fail_rc;
} verify_arg;

static int verify_fail(verify_arg *a, const char *what, uint64_t at, int rc) {
  a->fail = what;
  a->fail_at = at;
  a->fail_rc = rc;
  return MG_ERR_INTERNAL;
}

/* check_record opens (tb, key) and compares it with transaction n's. */
static int check_record(mg_kv_txn *t, verify_arg *a, mg_kv_table tb,
                        const uint8_t *key, size_t key_len, uint64_t n,
                        uint8_t salt, uint8_t *want, const char *what) {
  uint8_t *pt = NULL;
  size_t pt_len = 0;
  uint64_t ver = 0;
  int rc = mg_kv_get_sealed(t, tb, key, key_len, &ver, &pt, &pt_len);
  if (rc != 0) {
    return verify_fail(a, what, n, rc);
  }
  make_value(want, n, salt);
  int ok = ver == n && pt_len == value_len(n) && memcmp(pt, want, pt_len) == 0;
  mg_free_secret(pt, pt_len);
  return ok ? 0 : verify_fail(a, what, n, 0);
}

static int verify_txn(mg_kv_txn *t, void *varg) {
  verify_arg *a = varg;
  static const uint8_t ctr[] = "ctr";
  uint8_t *pt = NULL;
  size_t pt_len = 0;
  uint64_t ver = 0;
  uint64_t n = 0;
  int rc = mg_kv_get_sealed(t, MG_KV_GROUPS, ctr, 3, &ver, &pt, &pt_len);
  if (rc == MG_ERR_NOT_FOUND) {
    n = 0;
  } else if (rc != 0) {
    return verify_fail(a, "ctr (groups) opens", 0, rc);
  } else {
    n = pt_len >= 8 ? get_be64(pt) : UINT64_MAX;
    mg_free_secret(pt, pt_len);
  }
  if (n < a->max_ack || n > a->max_ack + 1) {
    return verify_fail(a, "counter is the last ack or the next", n, 0);
  }
  uint8_t *want = malloc(8 + 12 * 61 + BIG_FILLER);
  if (want == NULL) {
    return MG_ERR_NOMEM;
  }
  rc = 0;
  if (n > 0) {
    rc = check_record(t, a, MG_KV_GROUPS, ctr, 3, n, 0, want,
                      "ctr (groups) holds n");
    if (rc == 0) {
      rc = check_record(t, a, MG_KV_LEASES, ctr, 3, n, 0, want,
                        "ctr (leases) agrees");
    }
  } else {
    int lrc = mg_kv_get_sealed(t, MG_KV_LEASES, ctr, 3, &ver, &pt, &pt_len);
    mg_free_secret(pt, pt_len);
    if (lrc != MG_ERR_NOT_FOUND) {
      rc = verify_fail(a, "no ctr (leases) before the first commit", 0, lrc);
    }
  }
  uint64_t count = 0;
  if (rc == 0) {
    rc = mg_kv_count(t, MG_KV_AUDIT, &count);
    if (rc == 0 && count != n) {
      rc = verify_fail(a, "seq records are exactly 1..n", count, 0);
    }
  }
  for (uint64_t i = 1; rc == 0 && i <= n; i++) {
    uint8_t k[11];
    seq_key(k, i);
    rc = check_record(t, a, MG_KV_AUDIT, k, sizeof(k), i, 1, want,
                      "seq record present and opens");
  }
  free(want);
  a->found = n;
  return rc;
}

int main(void) {
  int ok = 0;
  double t0 = now_s();
  uint64_t total_acks = 0;
  int cycles = 0;
  int kills_in_open = 0;
  const char *tmp = getenv("TMPDIR");
  const char *seed_env = getenv("MLSGATE_CRASH_SEED");

  if (mg_crypto_init() != 0) {
    fprintf(stderr, "kv_crash: crypto init failed\n");
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
  printf("kv_crash: seed 0x%016" PRIx64 "\n", rng_state);
  snprintf(root, sizeof(root), "%s/mlsgate-kvcrash-XXXXXX",
           tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
  if (mkdtemp(root) == NULL) {
    perror("kv_crash: mkdtemp");
    return 1;
  }
  snprintf(store_dir, sizeof(store_dir), "%s/store", root);
  snprintf(kek_path, sizeof(kek_path), "%s/kek", root);
  mg_kv *kv = NULL;
  mg_kv_options oc = store_opts(1);
  int rc = mg_kv_kek_generate(kek_path);
  if (rc == 0) {
    rc = mg_kv_open(&kv, &oc);
  }
  mg_kv_close(kv);
  kv = NULL;
  if (rc != 0) {
    fprintf(stderr, "kv_crash: create: %s\n", mg_err_name(rc));
    goto out;
  }
  /* A write to a pipe whose reader is gone must fail, not kill. */
  signal(SIGPIPE, SIG_IGN);

  uint64_t max_ack = 0;
  /* At least CYCLES kills and MIN_ACKS acknowledged transactions (more
   * cycles when fsync is slow), within MAX_SECONDS. */
  for (cycles = 0;
       (cycles < CYCLES || total_acks < MIN_ACKS) && now_s() - t0 < MAX_SECONDS;
       cycles++) {
    int p[2];
    if (pipe(p) != 0) {
      perror("kv_crash: pipe");
      goto out;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
      perror("kv_crash: fork");
      goto out;
    }
    if (pid == 0) {
      close(p[0]);
      child_main(p[1]);
      _exit(5);
    }
    close(p[1]);
    /* A third of the kills within 10 ms (during open, or the first
     * transactions), the rest up to 300 ms. */
    uint64_t r = rng_next();
    double delay_ms = (r % 3 == 0) ? 1.0 + (double)((r >> 8) % 10)
                                   : 1.0 + (double)((r >> 8) % 300);
    double deadline = now_s() + delay_ms / 1e3;
    uint64_t acks_before = total_acks;
    uint8_t buf[8 * 512];
    size_t have = 0;
    int eof = 0;
    for (;;) {
      double left = deadline - now_s();
      if (left <= 0) {
        break;
      }
      struct pollfd pfd = {p[0], POLLIN, 0};
      int pr = poll(&pfd, 1, (int)(left * 1e3) + 1);
      if (pr <= 0) {
        continue;
      }
      ssize_t got = read(p[0], buf + have, sizeof(buf) - have);
      if (got <= 0) {
        eof = 1;
        break;
      }
      have += (size_t)got;
      size_t whole = have - have % 8;
      for (size_t i = 0; i < whole; i += 8) {
        uint64_t n = get_be64(buf + i);
        if (n != max_ack + 1) {
          fprintf(stderr, "kv_crash: ack %" PRIu64 " after %" PRIu64 "\n", n,
                  max_ack);
          goto out;
        }
        max_ack = n;
        total_acks++;
      }
      memmove(buf, buf + whole, have - whole);
      have -= whole;
    }
    kill(pid, SIGKILL);
    /* Drain what was acknowledged before the kill. */
    while (!eof) {
      ssize_t got = read(p[0], buf + have, sizeof(buf) - have);
      if (got <= 0) {
        break;
      }
      have += (size_t)got;
      size_t whole = have - have % 8;
      for (size_t i = 0; i < whole; i += 8) {
        uint64_t n = get_be64(buf + i);
        if (n != max_ack + 1) {
          fprintf(stderr, "kv_crash: ack %" PRIu64 " after %" PRIu64 "\n", n,
                  max_ack);
          goto out;
        }
        max_ack = n;
        total_acks++;
      }
      memmove(buf, buf + whole, have - whole);
      have -= whole;
    }
    close(p[0]);
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) {
      perror("kv_crash: waitpid");
      goto out;
    }
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
      fprintf(stderr, "kv_crash: cycle %d: the writer failed (status %d)\n",
              cycles, status);
      goto out;
    }
    if (total_acks == acks_before) {
      kills_in_open++;
    }

    mg_kv_options o = store_opts(0);
    rc = mg_kv_open(&kv, &o);
    if (rc != 0) {
      fprintf(stderr, "kv_crash: cycle %d: reopen: %s\n", cycles,
              mg_err_name(rc));
      goto out;
    }
    verify_arg va = {max_ack, 0, NULL, 0, 0};
    rc = mg_kv_read(kv, verify_txn, &va);
    mg_kv_close(kv);
    kv = NULL;
    if (rc != 0) {
      fprintf(stderr,
              "kv_crash: cycle %d (seed above): %s failed at %" PRIu64
              " (last ack %" PRIu64 "): %s\n",
              cycles, va.fail != NULL ? va.fail : "verification", va.fail_at,
              max_ack, mg_err_name(va.fail_rc != 0 ? va.fail_rc : rc));
      goto out;
    }
    /* The committed-but-unacknowledged transaction counts as done: the
     * next child continues after it. */
    max_ack = va.found;
  }
  ok = 1;
  struct stat st;
  char data[4100];
  snprintf(data, sizeof(data), "%s/data.mdb", store_dir);
  long long size = stat(data, &st) == 0 ? (long long)st.st_size : -1;
  printf("kv_crash: %d cycles, %" PRIu64 " acknowledged transactions (%" PRIu64
         " in the store), %d kills before the first ack, store %lld bytes, "
         "%.1f s: every acknowledged write present, no transaction "
         "half-applied, every sealed record opens\n",
         cycles, total_acks, max_ack, kills_in_open, size, now_s() - t0);
out:
  mg_kv_close(kv);
  (void)nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  return ok ? 0 : 1;
}
