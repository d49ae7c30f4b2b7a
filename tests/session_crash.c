/*
 * Crash safety of the session layer's encryption (issue 6: "no (epoch,
 * sender, generation) -- hence no (key, nonce) -- is ever used twice,
 * across any number of crashes"; src/session/session.h).
 *
 * The parent creates a store, an identity and NUM_CONV conversations
 * (mg_session_open_conversation), each joined by a device played by the
 * MLS engine in the parent.  Then, for each cycle, it forks a child that
 * opens the store and a session and encrypts in a loop from NUM_THREADS
 * threads over the conversations; after mg_session_encrypt returned (the
 * message is "acknowledged") the child writes (conversation, epoch,
 * generation, plaintext, message) to a pipe in one write of less than
 * PIPE_BUF bytes.  The parent SIGKILLs the child at a random moment (a
 * quarter of the cycles 0-5 ms after the fork, during start-up, the others
 * 5-150 ms after the child is ready) and then, for each conversation in
 * generation order, has the device decrypt every message acknowledged in
 * that cycle: each must decrypt to its plaintext at its generation, and no
 * (conversation, epoch, generation) may appear twice over the whole run.
 * Every third cycle the parent also commits an update of one conversation
 * (the device follows), so that leases of new epochs are crashed too, and
 * before each cycle every device sends DEV_MSGS messages which the
 * child's thread 0 decrypts in order between its encrypts (each decrypt
 * stores the group state, our sending ratchet's position included, while
 * the other threads lease and send).
 *
 * At least CYCLES cycles and MIN_ACKS acknowledged messages (stopping at
 * MAX_SECONDS once there were CYCLES cycles).  The seed is printed;
 * MLSGATE_CRASH_SEED repeats a run.  Everything lives in a directory from
 * mkdtemp under $TMPDIR (or /tmp), removed at the end.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include "config.h"

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
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
#include "crypto/hpke.h"
#include "crypto/suite.h"
#include "keystore/keystore.h"
#include "keystore/kv.h"
#include "mls/constants.h"
#include "mls/group.h"
#include "mls/keypackage.h"
#include "mls/msg_framing.h"
#include "session/session.h"

#define CYCLES 20
#define MIN_ACKS 2000
#define MAX_SECONDS 25.0
#define HARD_SECONDS 120.0
#define NUM_CONV 3
#define NUM_THREADS 4
#define SUITE 1
#define T_NOW ((uint64_t)1800000000)
#define MAX_MSG 400

enum { REC_READY = 1, REC_MSG = 2 };

/* One acknowledgement, written whole (less than PIPE_BUF bytes). */
typedef struct ack_rec {
  uint32_t kind;
  uint32_t conv;
  uint64_t epoch;
  uint32_t generation;
  uint32_t msg_len;
  char text[32];
  uint8_t msg[MAX_MSG];
} ack_rec;

/* Messages each device sent before the cycle's fork, for the child's
 * thread 0 to decrypt in order (its state saves race the other threads'
 * leases and the kill). */
#define DEV_MSGS 8
static mls_bytes dev_msgs[NUM_CONV][DEV_MSGS];
static char dev_text[NUM_CONV][DEV_MSGS][32];

static char root[3800];
static char store_dir[4000];
static char kek_path[4000];
static uint64_t rng_state;

static uint64_t rng_next(void) {
  uint64_t x = rng_state; /* xorshift64* */
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  rng_state = x;
  return x * 0x2545F4914F6CDD1Dull;
}

static double now_s(void) {
  struct timespec ts;
  (void)clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static const mg_ks_ctx CTX = {"crash", T_NOW};

static int open_store(mg_keystore **ks, int create) {
  mg_ks_options o;
  memset(&o, 0, sizeof(o));
  o.dir = store_dir;
  o.kek_path = kek_path;
  o.kek_fd = -1;
  o.create = create;
  return mg_ks_open(ks, &o);
}

static void conv_name(char *out, size_t cap, uint32_t i) {
  snprintf(out, cap, "crash-%u", i);
}

/* ------------------------------------------------------------- child */

typedef struct child_arg {
  mg_session *s;
  int fd;
  int t;
  pthread_mutex_t *wmu;
} child_arg;

/* Thread 0 decrypts the next message of |conv|'s device, if any left. */
static void child_decrypt(mg_session *s, uint32_t conv, int *next) {
  mg_decrypted d;
  char name[32];
  if (next[conv] >= DEV_MSGS) {
    return;
  }
  int i = next[conv]++;
  conv_name(name, sizeof(name), conv);
  int rc = mg_session_decrypt(s, &CTX, name, dev_msgs[conv][i].data,
                              dev_msgs[conv][i].len, &d);
  if (rc < 0 || d.content_type != MLS_CONTENT_APPLICATION ||
      d.plaintext.len != strlen(dev_text[conv][i]) ||
      memcmp(d.plaintext.data, dev_text[conv][i], d.plaintext.len) != 0) {
    fprintf(stderr, "session_crash child: decrypt: %s\n", mg_err_name(rc));
    _exit(6);
  }
  mg_decrypted_cleanup(&d);
}

static void *child_thread(void *p) {
  child_arg *a = p;
  int next[NUM_CONV] = {0};
  for (uint64_t k = 0;; k++) {
    if (a->t == 0 && k % 4 == 0) {
      child_decrypt(a->s, (uint32_t)((k / 4) % NUM_CONV), next);
    }
    ack_rec r;
    mg_encrypted e;
    char conv[32];
    memset(&r, 0, sizeof(r));
    r.kind = REC_MSG;
    r.conv = (uint32_t)(((uint64_t)a->t + k) % NUM_CONV);
    conv_name(conv, sizeof(conv), r.conv);
    snprintf(r.text, sizeof(r.text), "t%d-%" PRIu64 "-%u", a->t, k,
             (unsigned)getpid());
    int rc = mg_session_encrypt(a->s, &CTX, conv, (const uint8_t *)r.text,
                                strlen(r.text), NULL, 0, &e);
    if (rc < 0) {
      fprintf(stderr, "session_crash child: encrypt: %s\n", mg_err_name(rc));
      _exit(3);
    }
    if (e.message.len > MAX_MSG) {
      _exit(4);
    }
    r.epoch = e.epoch;
    r.generation = e.generation;
    r.msg_len = (uint32_t)e.message.len;
    memcpy(r.msg, e.message.data, e.message.len);
    mg_encrypted_cleanup(&e);
    /* Acknowledged: the call returned. */
    if (write(a->fd, &r, sizeof(r)) != (ssize_t)sizeof(r)) {
      _exit(0);
    }
  }
  return NULL;
}

static void child_main(int fd) {
  mg_keystore *ks = NULL;
  mg_session *s = NULL;
  pthread_t th[NUM_THREADS];
  child_arg a[NUM_THREADS];
  ack_rec ready;
  int rc = open_store(&ks, 0);
  if (rc == 0) {
    rc = mg_session_new(&s, ks, NULL);
  }
  if (rc != 0) {
    fprintf(stderr, "session_crash child: start: %s\n", mg_err_name(rc));
    _exit(2);
  }
  memset(&ready, 0, sizeof(ready));
  ready.kind = REC_READY;
  if (write(fd, &ready, sizeof(ready)) != (ssize_t)sizeof(ready)) {
    _exit(0);
  }
  for (int t = 0; t < NUM_THREADS; t++) {
    a[t].s = s;
    a[t].fd = fd;
    a[t].t = t;
    a[t].wmu = NULL;
    if (pthread_create(&th[t], NULL, child_thread, &a[t]) != 0) {
      _exit(2);
    }
  }
  for (;;) {
    pause(); /* until SIGKILL */
  }
}

/* ------------------------------------------------------------ device */

typedef struct device {
  const mls_suite *suite;
  mls_key_package kp;
  mls_key_package_priv kpp;
  mls_group *g;
} device;

static int device_open(mg_session *s, device *d, uint32_t i) {
  mls_key_package_params p;
  mls_bytes enc = {0};
  mg_conv_opened o;
  mls_message wm;
  mls_join_params jp;
  uint8_t *msg = NULL;
  char conv[32];
  int rc;
  memset(d, 0, sizeof(*d));
  memset(&wm, 0, sizeof(wm));
  memset(&o, 0, sizeof(o));
  d->suite = mls_suite_by_id(SUITE);
  memset(&p, 0, sizeof(p));
  p.cipher_suite = SUITE;
  p.identity = (const uint8_t *)"device";
  p.identity_len = 6;
  p.now = T_NOW - 10;
  rc = mls_key_package_generate(&d->kp, &d->kpp, &enc, NULL, 0, NULL, &p);
  if (rc < 0) {
    return rc;
  }
  msg = malloc(enc.len + 4);
  if (msg == NULL) {
    mls_bytes_cleanup(&enc);
    return MG_ERR_NOMEM;
  }
  msg[0] = 0;
  msg[1] = 1;
  msg[2] = 0;
  msg[3] = 5;
  memcpy(msg + 4, enc.data, enc.len);
  conv_name(conv, sizeof(conv), i);
  rc = mg_session_open_conversation(s, &CTX, "acme", msg, enc.len + 4, conv,
                                    &o);
  free(msg);
  mls_bytes_cleanup(&enc);
  if (rc < 0) {
    return rc;
  }
  rc = mls_message_decode_bytes(o.welcome.data, o.welcome.len, &wm);
  if (rc == 0) {
    memset(&jp, 0, sizeof(jp));
    jp.welcome = &wm.welcome;
    jp.key_package = &d->kp;
    jp.init_priv = mg_hpke_key_priv(&d->kpp.init_key);
    jp.init_priv_len = d->suite->kem->priv_len;
    jp.enc_priv = mg_hpke_key_priv(&d->kpp.encryption_key);
    jp.enc_priv_len = d->suite->kem->priv_len;
    jp.sig_priv = d->kpp.sig_priv;
    jp.sig_priv_len = d->kpp.sig_priv_len;
    jp.ratchet_tree = o.ratchet_tree.data;
    jp.ratchet_tree_len = o.ratchet_tree.len;
    jp.now = T_NOW;
    rc = mls_group_join(&d->g, d->suite, &jp);
  }
  mls_message_cleanup(&wm);
  mg_conv_opened_cleanup(&o);
  return rc;
}

static void device_cleanup(device *d) {
  mls_key_package_cleanup(&d->kp);
  mls_key_package_priv_cleanup(&d->kpp);
  mls_group_free(d->g);
}

static int device_process(device *d, const uint8_t *m, size_t len,
                          mls_processed *out) {
  mls_process_params pp;
  memset(&pp, 0, sizeof(pp));
  pp.now = T_NOW;
  int rc = mls_group_process(d->g, m, len, &pp, out);
  if (rc == 0 && out->content_type == MLS_CONTENT_COMMIT) {
    mls_group_free(d->g);
    d->g = out->next;
    out->next = NULL;
  }
  return rc;
}

/* ------------------------------------------------------------ checks */

typedef struct seen_key {
  uint32_t conv;
  uint32_t gen;
  uint64_t epoch;
} seen_key;

typedef struct run {
  ack_rec *acks; /* this cycle's */
  size_t num_acks, cap_acks;
  seen_key *seen; /* every acknowledged (conv, epoch, gen) so far */
  size_t num_seen, cap_seen;
} run;

static int cmp_seen(const void *a, const void *b) {
  const seen_key *x = a, *y = b;
  if (x->conv != y->conv) {
    return x->conv < y->conv ? -1 : 1;
  }
  if (x->epoch != y->epoch) {
    return x->epoch < y->epoch ? -1 : 1;
  }
  return x->gen < y->gen ? -1 : x->gen > y->gen ? 1 : 0;
}

static int cmp_ack(const void *a, const void *b) {
  const ack_rec *x = a, *y = b;
  seen_key kx = {x->conv, x->generation, x->epoch};
  seen_key ky = {y->conv, y->generation, y->epoch};
  return cmp_seen(&kx, &ky);
}

static int add_ack(run *r, const ack_rec *a) {
  if (r->num_acks == r->cap_acks) {
    size_t cap = r->cap_acks ? 2 * r->cap_acks : 1024;
    ack_rec *n = realloc(r->acks, cap * sizeof(*n));
    if (n == NULL) {
      return -1;
    }
    r->acks = n;
    r->cap_acks = cap;
  }
  r->acks[r->num_acks++] = *a;
  return 0;
}

/* The devices decrypt this cycle's acknowledged messages in generation
 * order; every (conv, epoch, gen) is new. */
static int check_cycle(run *r, device *dev, int cycle) {
  if (r->num_acks == 0) {
    return 0; /* killed before anything was acknowledged */
  }
  qsort(r->acks, r->num_acks, sizeof(ack_rec), cmp_ack);
  if (r->num_seen + r->num_acks > r->cap_seen) {
    size_t cap = 2 * (r->num_seen + r->num_acks) + 1024;
    seen_key *n = realloc(r->seen, cap * sizeof(*n));
    if (n == NULL) {
      return -1;
    }
    r->seen = n;
    r->cap_seen = cap;
  }
  for (size_t i = 0; i < r->num_acks; i++) {
    const ack_rec *a = &r->acks[i];
    seen_key k = {a->conv, a->generation, a->epoch};
    if ((r->num_seen > 0 && bsearch(&k, r->seen, r->num_seen,
                                    sizeof(seen_key), cmp_seen) != NULL) ||
        (i > 0 && cmp_ack(a, &r->acks[i - 1]) == 0)) {
      fprintf(stderr,
              "session_crash: cycle %d: conversation %u epoch %" PRIu64
              " generation %u used twice\n",
              cycle, a->conv, a->epoch, a->generation);
      return -1;
    }
    if (a->conv >= NUM_CONV) {
      return -1;
    }
    mls_processed pr;
    int rc = device_process(&dev[a->conv], a->msg, a->msg_len, &pr);
    if (rc < 0) {
      fprintf(stderr,
              "session_crash: cycle %d: conversation %u epoch %" PRIu64
              " generation %u does not decrypt: %s\n",
              cycle, a->conv, a->epoch, a->generation, mg_err_name(rc));
      return -1;
    }
    int bad = pr.content_type != MLS_CONTENT_APPLICATION ||
              pr.generation != a->generation || pr.epoch != a->epoch ||
              pr.application_data.len != strlen(a->text) ||
              memcmp(pr.application_data.data, a->text,
                     pr.application_data.len) != 0;
    mls_processed_cleanup(&pr);
    if (bad) {
      fprintf(stderr, "session_crash: cycle %d: message %s decrypted wrong\n",
              cycle, a->text);
      return -1;
    }
  }
  for (size_t i = 0; i < r->num_acks; i++) {
    seen_key k = {r->acks[i].conv, r->acks[i].generation, r->acks[i].epoch};
    r->seen[r->num_seen++] = k;
  }
  qsort(r->seen, r->num_seen, sizeof(seen_key), cmp_seen);
  r->num_acks = 0;
  return 0;
}

/* The parent commits an update of |conv|; the device follows. */
static int parent_commit(device *dev, uint32_t conv) {
  mg_keystore *ks = NULL;
  mg_session *s = NULL;
  mg_committed cm;
  char name[32];
  int rc = open_store(&ks, 0);
  memset(&cm, 0, sizeof(cm));
  if (rc == 0) {
    rc = mg_session_new(&s, ks, NULL);
  }
  if (rc == 0) {
    conv_name(name, sizeof(name), conv);
    rc = mg_session_commit_update(s, &CTX, name, &cm);
  }
  if (rc == 0) {
    mls_processed pr;
    rc = device_process(&dev[conv], cm.commit.data, cm.commit.len, &pr);
    if (rc == 0) {
      mls_processed_cleanup(&pr);
    }
  }
  mg_committed_cleanup(&cm);
  mg_session_free(s);
  mg_ks_close(ks);
  return rc;
}

/* Reads whole records from |fd| (waiting at most |wait_ms|). */
typedef struct ack_buf {
  uint8_t buf[16 * sizeof(ack_rec)];
  size_t have;
} ack_buf;

static int read_acks(int fd, int wait_ms, ack_buf *b, run *r, int *ready,
                     uint64_t *acks, int *eof) {
  struct pollfd pfd = {fd, POLLIN, 0};
  if (poll(&pfd, 1, wait_ms) <= 0) {
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
    if (a.kind == REC_READY) {
      *ready = 1;
    } else if (a.kind == REC_MSG) {
      if (add_ack(r, &a) < 0) {
        return -1;
      }
      (*acks)++;
    } else {
      return -1;
    }
  }
  memmove(b->buf, b->buf + whole, b->have - whole);
  b->have -= whole;
  return 0;
}

int main(void) {
  int ok = 0;
  double t0 = now_s();
  uint64_t total_acks = 0;
  int cycles = 0, commits = 0;
  const char *tmp = getenv("TMPDIR");
  const char *seed_env = getenv("MLSGATE_CRASH_SEED");
  device dev[NUM_CONV];
  run r;
  int rc;

  memset(&r, 0, sizeof(r));
  memset(dev, 0, sizeof(dev));
  if (mg_crypto_init() != 0) {
    fprintf(stderr, "session_crash: crypto init failed\n");
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
  printf("session_crash: seed 0x%016" PRIx64 "\n", rng_state);
  snprintf(root, sizeof(root), "%s/mlsgate-sesscrash-XXXXXX",
           tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
  if (mkdtemp(root) == NULL) {
    perror("session_crash: mkdtemp");
    return 1;
  }
  snprintf(store_dir, sizeof(store_dir), "%s/store", root);
  snprintf(kek_path, sizeof(kek_path), "%s/kek", root);

  /* The store, the identity, the conversations and their devices. */
  {
    mg_keystore *ks = NULL;
    mg_session *s = NULL;
    rc = mg_kv_kek_generate(kek_path);
    if (rc == 0) {
      rc = open_store(&ks, 1);
    }
    if (rc == 0) {
      rc = mg_ks_identity_create(ks, &CTX, "acme", SUITE, 0, NULL);
    }
    if (rc == 0) {
      rc = mg_session_new(&s, ks, NULL);
    }
    for (uint32_t i = 0; rc == 0 && i < NUM_CONV; i++) {
      rc = device_open(s, &dev[i], i);
    }
    mg_session_free(s);
    mg_ks_close(ks);
    if (rc != 0) {
      fprintf(stderr, "session_crash: setup: %s\n", mg_err_name(rc));
      goto out;
    }
  }
  signal(SIGPIPE, SIG_IGN);

  for (cycles = 0; cycles < CYCLES || (total_acks < MIN_ACKS &&
                                       now_s() - t0 < MAX_SECONDS);
       cycles++) {
    int p[2];
    ack_buf ab;
    int ready = 0, eof = 0;
    if (now_s() - t0 > HARD_SECONDS) {
      fprintf(stderr, "session_crash: only %d cycles in %.0f s\n", cycles,
              HARD_SECONDS);
      goto out;
    }
    if (cycles % 3 == 2) {
      rc = parent_commit(dev, (uint32_t)(cycles / 3) % NUM_CONV);
      if (rc != 0) {
        fprintf(stderr, "session_crash: cycle %d: commit: %s\n", cycles,
                mg_err_name(rc));
        goto out;
      }
      commits++;
    }
    /* The devices' messages of this cycle. */
    for (uint32_t v = 0; v < NUM_CONV; v++) {
      for (int i = 0; i < DEV_MSGS; i++) {
        mls_bytes_cleanup(&dev_msgs[v][i]);
        snprintf(dev_text[v][i], sizeof(dev_text[v][i]), "dev-%d-%u-%d",
                 cycles, v, i);
        rc = mls_group_protect(dev[v].g, (const uint8_t *)dev_text[v][i],
                               strlen(dev_text[v][i]), NULL, 0, 0,
                               &dev_msgs[v][i], NULL);
        if (rc < 0) {
          fprintf(stderr, "session_crash: device protect: %s\n",
                  mg_err_name(rc));
          goto out;
        }
      }
    }
    if (pipe(p) != 0) {
      perror("session_crash: pipe");
      goto out;
    }
    uint64_t x = rng_next();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
      perror("session_crash: fork");
      goto out;
    }
    if (pid == 0) {
      close(p[0]);
      child_main(p[1]);
      _exit(5);
    }
    close(p[1]);
    ab.have = 0;
    double delay_ms;
    if (x % 4 == 0) {
      delay_ms = (double)((x >> 8) % 6);
    } else {
      double give_up = now_s() + 30.0;
      while (!ready && !eof && now_s() < give_up) {
        if (read_acks(p[0], 100, &ab, &r, &ready, &total_acks, &eof) < 0) {
          break;
        }
      }
      delay_ms = 5.0 + (double)((x >> 8) % 146);
    }
    double deadline = now_s() + delay_ms / 1e3;
    for (;;) {
      double left = deadline - now_s();
      if (left <= 0 || eof) {
        break;
      }
      if (read_acks(p[0], (int)(left * 1e3) + 1, &ab, &r, &ready, &total_acks,
                    &eof) < 0) {
        break;
      }
    }
    kill(pid, SIGKILL);
    while (!eof) {
      if (read_acks(p[0], 1000, &ab, &r, &ready, &total_acks, &eof) < 0) {
        fprintf(stderr, "session_crash: cycle %d: bad record\n", cycles);
        (void)waitpid(pid, NULL, 0);
        goto out;
      }
    }
    close(p[0]);
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) {
      perror("session_crash: waitpid");
      goto out;
    }
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
      fprintf(stderr, "session_crash: cycle %d: the child failed (status %d)\n",
              cycles, status);
      goto out;
    }
    if (check_cycle(&r, dev, cycles) != 0) {
      goto out;
    }
  }
  ok = 1;
  printf("session_crash: %d kills, %d commits between them, %" PRIu64
         " acknowledged messages over %d conversations from %d threads, "
         "%.1f s: every acknowledged message decrypts on its device, no "
         "(conversation, epoch, generation) used twice\n",
         cycles, commits, total_acks, NUM_CONV, NUM_THREADS, now_s() - t0);
out:
  for (int i = 0; i < NUM_CONV; i++) {
    device_cleanup(&dev[i]);
    for (int k = 0; k < DEV_MSGS; k++) {
      mls_bytes_cleanup(&dev_msgs[i][k]);
    }
  }
  free(r.acks);
  free(r.seen);
  (void)nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  return ok ? 0 : 1;
}
