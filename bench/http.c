/*
 * bench/http: mlsgated over HTTP/2 on loopback against the engine and
 * against one fsync per message, measured in the same run (issue 6,
 * "Benchmarks").
 *
 * What it does, in order:
 *
 *   1. Baselines, before the daemon starts (and again after it stopped;
 *      the best of the two rounds counts):
 *        in-process protect: mls_group_protect of a 1 KiB application
 *          message in a 2-member group of suite 1 built with the engine
 *          (mls_group_create, mls_group_commit with one Add,
 *          mls_group_join), messages/s (bench_util: best of 3 runs, chunks
 *          in which this thread had < 97% of a CPU not counted);
 *        in-process unprotect: mls_group_process of such messages by the
 *          other member (512 protected beforehand from a copy of the
 *          sender, the receiver restarting from a copy of its state after
 *          the last one; one mls_group_copy per 512 messages counted), the
 *          reference of the decrypt figures;
 *        fsync per message: one mg_ks_transact running one
 *          mg_ks_audit_append (1 KiB of HMAC'd content) per message, in a
 *          fresh store in the same temporary directory (default durable
 *          sync: every commit fsync'ed), transactions/s over ~2 s of wall
 *          clock (0.5 s with --quick).
 *   2. A store (`mlsgatectl --store DIR init`), a token with every scope
 *      (`token create --name bench --scopes ... --json`), and mlsgated
 *      (`--store DIR --listen 127.0.0.1:0 --rate-limit 0`, the address
 *      parsed from its {"event":"listening"} log line on stderr, which
 *      goes to daemon.log in the temporary directory; --keep keeps it).
 *   3. Setup over HTTP/2 with our client: identities alice and bob (suite
 *      1), 1,000 KeyPackages of bob (--conversations), 1,000
 *      conversations opened by alice with them (conversation ids
 *      bench-a-NNNNN) and joined by bob from the Welcome and ratchet tree
 *      (POST /v1/conversations/join): alice's conversation i and bob's
 *      conversation j(i) are one group.  Then one warm-up encrypt per
 *      conversation (its first lease) and, later, one warm-up decrypt.
 *   4. Encrypt, our client (bench/http's own nghttp2 client, h2c prior
 *      knowledge, one connection): at 1, 16 and 128 concurrent streams,
 *      POST /v1/conversations/{alice's i}/encrypt {"plaintext": 1 KiB}
 *      round-robin over the conversations, for ~--time seconds each (at
 *      most --max-requests).  Every response must be 200; the messages are
 *      kept (conversation, generation, message).  Each figure of 4, 5 and
 *      6 is run --runs times (default 2), the runs of one kind interleaved
 *      over the levels, and the fastest run counts (with its latencies);
 *      an error in any run invalidates the figure.  Around every encrypt
 *      run (4 and 6) the in-process protect rate is measured again (best
 *      of 2 x ~0.3 s just before and just after; their mean): this
 *      machine's speed drifts by tens of percent within minutes, and the
 *      '/adjacnt' ratio compares the run with the engine on the machine
 *      in the same state.
 *   5. Decrypt, our client: the messages of 3 and 4, sorted by generation
 *      within each conversation and taken round-robin over the
 *      conversations, each POSTed exactly once to bob's matching
 *      conversation at 1, 16 and 128 streams (~--time seconds each, the
 *      next run continues where the last stopped).  Every response must
 *      be 200 {"type":"application", "plaintext": the 1 KiB}; any error
 *      makes the figure invalid (printed as INVALID with the count).
 *   6. Encrypt with h2load (Debian nghttp2-client): `h2load -n N -c 1 -m M
 *      -t 1 -H 'authorization: Bearer T' -H 'content-type:
 *      application/json' -d body.json -i uris.txt --log-file log.tsv`, the
 *      1,000 encrypt URIs of alice in uris.txt (h2load cycles through
 *      them), N = our client's rate at M x --time.  req/s as h2load prints
 *      it ("finished in"), p50/p99 from its per-request log; every status
 *      must be 2xx.
 *   5b. (before 6) The HTTP/2 floor: GET /v1/health (no token check, no
 *      store) with our client at the highest stream count for ~--time / 2
 *      seconds: the CPU the HTTP/2 path alone costs per request.  After
 *      the table, the budget the 10x target leaves: 10 x the fsync rate
 *      needs at most CPUs x 1e6 / that rate us of CPU per request; minus
 *      the floor (that path + the in-process protect) is what the rest of
 *      an encrypt may cost, printed beside what it did cost.
 *
 * Per HTTP run it also prints, per request: the daemon's CPU time (all
 * threads, /proc/PID/stat) and context switches (/proc/PID/task/ * /status),
 * the load generator's CPU time (getrusage), and the deltas of the
 * daemon's metrics (mlsgate_store_txns_total, mlsgate_lease_writes_total,
 * mlsgate_audit_entries): how many durable transactions a message costs,
 * and their mean duration (mlsgate_store_txn_duration_seconds).
 *
 * The table: each figure's value and latencies, the CPU time per request
 * of the daemon and the load generator together and the rate that CPU
 * time allows on this machine's CPUs (the bound when nothing else runs),
 * the ratio to the in-process rate of the same operation (protect for
 * encrypt, unprotect for decrypt), the ratio to the fsync-per-message
 * rate, and for encrypt the targets of issue 6: >= 50% of the in-process
 * protect rate and >= 10x the fsync-per-message rate (PASS/FAIL).  The
 * machine has 2 cores shared by the daemon, the load generator and
 * whatever else runs (the load average is printed).
 *
 * Options: --quick (100 conversations, one 1.5 s run of each figure),
 * --conversations N, --time S, --runs N, --max-requests N, --streams
 * A,B,C, --no-h2load, --workers N (mlsgated --workers), --perf PREFIX
 * (perf record of the daemon, DWARF call graphs at 499 Hz, during the last
 * encrypt and the last decrypt run of our client at the highest stream
 * count: PREFIX.encrypt.data, PREFIX.decrypt.data), --keep (keep the
 * temporary directory), --mlsgated PATH, --mlsgatectl PATH (default: the
 * build directory's).
 * Exit status: 0 when every request succeeded whatever the figures, 1 if
 * a request, a check or the setup failed, 2 for a usage error.
 */
#include "config.h"

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <nghttp2/nghttp2.h>

#include "common/base64.h"
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

#include "bench_util.h"

#ifndef BENCH_BUILDDIR
#define BENCH_BUILDDIR "."
#endif

#define SUITE 1
#define APP_LEN 1024
#define NUM_MSGS 512
#define MAX_LEVELS 8
#define SETUP_STREAMS 32
#define IO_TIMEOUT_MS 60000

/* ------------------------------------------------------------ options */

typedef struct opts {
  int conversations;
  double time;       /* seconds per HTTP run */
  double base_time;  /* seconds per timed run of an in-process baseline */
  double fsync_time; /* seconds per fsync-per-message round */
  long max_requests; /* per HTTP run */
  int runs;          /* runs of each HTTP figure, best kept */
  int levels[MAX_LEVELS];
  int num_levels;
  int h2load;
  int keep;
  long workers;
  const char *perf;
  const char *mlsgated;
  const char *mlsgatectl;
} opts;

static int g_failed;

#define FAIL(...)                                                              \
  do {                                                                         \
    fprintf(stderr, "bench/http: " __VA_ARGS__);                               \
    fprintf(stderr, "\n");                                                     \
    g_failed = 1;                                                              \
  } while (0)

/* ------------------------------------------------------------- helpers */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y ? 1 : 0;
}

/* percentile of |n| sorted values (nearest rank), |p| in (0, 1]. */
static double pct(const double *v, size_t n, double p) {
  if (n == 0) {
    return 0.0;
  }
  double r = p * (double)n;
  size_t k = (size_t)r;
  if ((double)k < r) {
    k++; /* ceil without libm */
  }
  if (k < 1) {
    k = 1;
  }
  if (k > n) {
    k = n;
  }
  return v[k - 1];
}

static void *xmalloc(size_t n) {
  void *p = malloc(n == 0 ? 1 : n);
  if (p == NULL) {
    fprintf(stderr, "bench/http: out of memory\n");
    exit(1);
  }
  return p;
}

static char *xstrdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = xmalloc(n);
  memcpy(p, s, n);
  return p;
}

static char *xprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xprintf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *s = NULL;
  int n = vasprintf(&s, fmt, ap);
  va_end(ap);
  if (n < 0 || s == NULL) {
    fprintf(stderr, "bench/http: out of memory\n");
    exit(1);
  }
  return s;
}

static int rm_cb(const char *path, const struct stat *st, int flag,
                 struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path) == 0 ? 0 : -1;
}

static void rm_rf(const char *dir) {
  if (nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS) != 0) {
    fprintf(stderr, "bench/http: cannot remove %s: %s\n", dir,
            strerror(errno));
  }
}

/* read_file reads a whole file (NUL-terminated); NULL if it cannot. */
static char *read_file(const char *path, size_t *len_out) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    return NULL;
  }
  size_t cap = 4096, len = 0;
  char *buf = xmalloc(cap);
  for (;;) {
    if (len + 1 >= cap) {
      cap *= 2;
      char *nb = realloc(buf, cap);
      if (nb == NULL) {
        free(buf);
        fclose(f);
        return NULL;
      }
      buf = nb;
    }
    size_t n = fread(buf + len, 1, cap - len - 1, f);
    if (n == 0) {
      break;
    }
    len += n;
  }
  fclose(f);
  buf[len] = '\0';
  if (len_out != NULL) {
    *len_out = len;
  }
  return buf;
}

static int write_file(const char *path, const char *data, size_t len) {
  FILE *f = fopen(path, "wb");
  if (f == NULL) {
    return -1;
  }
  int ok = fwrite(data, 1, len, f) == len;
  ok = fclose(f) == 0 && ok;
  return ok ? 0 : -1;
}

/* ------------------------------------------------------------ processes */

static volatile pid_t g_daemon_pid = -1;
static volatile sig_atomic_t g_interrupted;

/* SIGINT/SIGTERM: the daemon is killed at once, the run stops at its next
 * check (a request loop, a phase) and cleans up. */
static void on_signal(int sig) {
  (void)sig;
  pid_t p = g_daemon_pid;
  g_interrupted = 1;
  if (p > 0) {
    kill(p, SIGKILL);
  }
}

/* spawn runs |argv| with stdout to |out_fd| and stderr to |err_fd| (-1:
 * inherited); the child gets SIGTERM if we die.  Returns the pid or -1. */
static pid_t spawn(char *const argv[], int out_fd, int err_fd) {
  pid_t p = fork();
  if (p < 0) {
    return -1;
  }
  if (p == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (out_fd >= 0) {
      dup2(out_fd, 1);
    }
    if (err_fd >= 0) {
      dup2(err_fd, 2);
    }
    execvp(argv[0], argv);
    fprintf(stderr, "bench/http: cannot run %s: %s\n", argv[0],
            strerror(errno));
    _exit(127);
  }
  return p;
}

/* run_capture runs |argv| and returns its stdout (NUL-terminated) in
 * |*out| (may be NULL); returns the exit status, or -1. */
static int run_capture(char *const argv[], char **out) {
  int pfd[2];
  if (pipe(pfd) != 0) {
    return -1;
  }
  pid_t p = spawn(argv, pfd[1], -1);
  close(pfd[1]);
  if (p < 0) {
    close(pfd[0]);
    return -1;
  }
  size_t cap = 4096, len = 0;
  char *buf = xmalloc(cap);
  for (;;) {
    if (len + 1 >= cap) {
      cap *= 2;
      char *nb = realloc(buf, cap);
      if (nb == NULL) {
        exit(1);
      }
      buf = nb;
    }
    ssize_t n = read(pfd[0], buf + len, cap - len - 1);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;
    }
    len += (size_t)n;
  }
  buf[len] = '\0';
  close(pfd[0]);
  int st = 0;
  while (waitpid(p, &st, 0) < 0 && errno == EINTR) {
  }
  if (out != NULL) {
    *out = buf;
  } else {
    free(buf);
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* proc_cpu returns the CPU time (user + system) of process |pid|, s. */
static double proc_cpu(pid_t pid) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
  char *s = read_file(path, NULL);
  if (s == NULL) {
    return 0.0;
  }
  /* fields after the command name (which may hold spaces) */
  const char *p = strrchr(s, ')');
  unsigned long ut = 0, st = 0;
  if (p != NULL) {
    /* state ppid pgrp session tty tpgid flags minflt cminflt majflt
     * cmajflt utime stime */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
               &ut, &st) != 2) {
      ut = st = 0;
    }
  }
  free(s);
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* proc_ctxsw returns the context switches (voluntary and not) of every
 * thread of process |pid| so far. */
static double proc_ctxsw(pid_t pid) {
  char path[64];
  double sum = 0.0;
  snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
  DIR *d = opendir(path);
  if (d == NULL) {
    return 0.0;
  }
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') {
      continue;
    }
    char sp[400];
    snprintf(sp, sizeof(sp), "%s/%s/status", path, e->d_name);
    char *st = read_file(sp, NULL);
    for (const char *p = st; p != NULL && *p != '\0';) {
      unsigned long v = 0;
      if (sscanf(p, "voluntary_ctxt_switches: %lu", &v) == 1 ||
          sscanf(p, "nonvoluntary_ctxt_switches: %lu", &v) == 1) {
        sum += (double)v;
      }
      const char *nl = strchr(p, '\n');
      p = nl ? nl + 1 : NULL;
    }
    free(st);
  }
  closedir(d);
  return sum;
}

static double self_cpu(int who) {
  struct rusage ru;
  if (getrusage(who, &ru) != 0) {
    return 0.0;
  }
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

/* ------------------------------------------------------ HTTP/2 client */

typedef struct req {
  char *path;             /* owned */
  const uint8_t *body;    /* not owned; NULL for GET */
  size_t body_len, body_off;
  char clen[24];
  int method_get;
  int32_t stream_id;
  int status;             /* 0 none, -1 reset / no response */
  double t0, t1;
  char *resp;             /* response body (NUL-terminated), owned */
  size_t resp_len, resp_cap;
  size_t tag;             /* caller's */
} req;

typedef struct h2conn {
  int fd;
  nghttp2_session *s;
  char authority[64];
  char auth[128]; /* "Bearer mgt_..." */
  uint8_t *wbuf;
  size_t wlen, woff, wcap;
  size_t inflight, done;
} h2conn;

static char hn_method[] = ":method", hn_scheme[] = ":scheme",
            hn_authority[] = ":authority", hn_path[] = ":path",
            hn_auth[] = "authorization", hn_ctype[] = "content-type",
            hn_clen[] = "content-length";
static char hv_post[] = "POST", hv_get[] = "GET", hv_http[] = "http",
            hv_json[] = "application/json";

static void req_reset(req *r) {
  r->body_off = 0;
  r->stream_id = 0;
  r->status = 0;
  r->t0 = r->t1 = 0.0;
  r->resp_len = 0;
  if (r->resp != NULL) {
    r->resp[0] = '\0';
  }
}

static void req_free(req *r) {
  free(r->path);
  free(r->resp);
  memset(r, 0, sizeof(*r));
}

static int cb_header(nghttp2_session *s, const nghttp2_frame *frame,
                     const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *ud) {
  (void)flags;
  (void)ud;
  if (frame->hd.type != NGHTTP2_HEADERS || namelen != 7 ||
      memcmp(name, ":status", 7) != 0) {
    return 0;
  }
  req *r = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
  if (r != NULL && valuelen == 3) {
    r->status = (value[0] - '0') * 100 + (value[1] - '0') * 10 +
                (value[2] - '0');
  }
  return 0;
}

static int cb_data(nghttp2_session *s, uint8_t flags, int32_t stream_id,
                   const uint8_t *data, size_t len, void *ud) {
  (void)flags;
  (void)ud;
  req *r = nghttp2_session_get_stream_user_data(s, stream_id);
  if (r == NULL) {
    return 0;
  }
  if (r->resp_len + len + 1 > r->resp_cap) {
    size_t cap = r->resp_cap ? r->resp_cap : 512;
    while (cap < r->resp_len + len + 1) {
      cap *= 2;
    }
    char *nb = realloc(r->resp, cap);
    if (nb == NULL) {
      return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    r->resp = nb;
    r->resp_cap = cap;
  }
  memcpy(r->resp + r->resp_len, data, len);
  r->resp_len += len;
  r->resp[r->resp_len] = '\0';
  return 0;
}

static int cb_close(nghttp2_session *s, int32_t stream_id,
                    uint32_t error_code, void *ud) {
  h2conn *c = ud;
  req *r = nghttp2_session_get_stream_user_data(s, stream_id);
  if (r == NULL) {
    return 0;
  }
  r->t1 = bench_now_sec();
  if (error_code != NGHTTP2_NO_ERROR && r->status == 0) {
    r->status = -1;
  }
  if (r->status == 0) {
    r->status = -1;
  }
  c->inflight--;
  c->done++;
  return 0;
}

static ssize_t cb_read(nghttp2_session *s, int32_t stream_id, uint8_t *buf,
                       size_t len, uint32_t *flags,
                       nghttp2_data_source *src, void *ud) {
  (void)s;
  (void)stream_id;
  (void)ud;
  req *r = src->ptr;
  size_t left = r->body_len - r->body_off;
  size_t n = left < len ? left : len;
  memcpy(buf, r->body + r->body_off, n);
  r->body_off += n;
  if (r->body_off == r->body_len) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
  }
  return (ssize_t)n;
}

static void conn_close(h2conn *c) {
  if (c->s != NULL) {
    nghttp2_session_del(c->s);
  }
  if (c->fd >= 0) {
    close(c->fd);
  }
  free(c->wbuf);
  memset(c, 0, sizeof(*c));
  c->fd = -1;
}

/* conn_open connects to 127.0.0.1:|port| and starts an HTTP/2 session
 * (prior knowledge) with large windows. */
static int conn_open(h2conn *c, int port, const char *token) {
  memset(c, 0, sizeof(*c));
  c->fd = -1;
  snprintf(c->authority, sizeof(c->authority), "127.0.0.1:%d", port);
  snprintf(c->auth, sizeof(c->auth), "Bearer %s", token);
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c->fd < 0) {
    return -1;
  }
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
    conn_close(c);
    return -1;
  }
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK) != 0) {
    conn_close(c);
    return -1;
  }
  nghttp2_session_callbacks *cbs = NULL;
  if (nghttp2_session_callbacks_new(&cbs) != 0) {
    conn_close(c);
    return -1;
  }
  nghttp2_session_callbacks_set_on_header_callback(cbs, cb_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, cb_data);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, cb_close);
  int rv = nghttp2_session_client_new(&c->s, cbs, c);
  nghttp2_session_callbacks_del(cbs);
  if (rv != 0) {
    c->s = NULL;
    conn_close(c);
    return -1;
  }
  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1u << 24},
  };
  if (nghttp2_submit_settings(c->s, NGHTTP2_FLAG_NONE, iv, 2) != 0 ||
      nghttp2_session_set_local_window_size(c->s, NGHTTP2_FLAG_NONE, 0,
                                            1 << 30) != 0) {
    conn_close(c);
    return -1;
  }
  c->wcap = 1 << 18;
  c->wbuf = xmalloc(c->wcap);
  return 0;
}

/* conn_flush writes what nghttp2 has to send until the socket would
 * block.  Returns 0, or -1 on a connection error. */
static int conn_flush(h2conn *c) {
  for (;;) {
    while (c->woff < c->wlen) {
      ssize_t n = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff,
                       MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) {
          continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          return 0;
        }
        return -1;
      }
      c->woff += (size_t)n;
    }
    c->woff = c->wlen = 0;
    for (;;) {
      const uint8_t *d = NULL;
      ssize_t n = nghttp2_session_mem_send(c->s, &d);
      if (n < 0) {
        return -1;
      }
      if (n == 0) {
        break;
      }
      if (c->wlen + (size_t)n > c->wcap) {
        size_t cap = c->wcap * 2;
        while (cap < c->wlen + (size_t)n) {
          cap *= 2;
        }
        uint8_t *nb = realloc(c->wbuf, cap);
        if (nb == NULL) {
          return -1;
        }
        c->wbuf = nb;
        c->wcap = cap;
      }
      memcpy(c->wbuf + c->wlen, d, (size_t)n);
      c->wlen += (size_t)n;
      if (c->wlen >= (1u << 18)) {
        break;
      }
    }
    if (c->wlen == 0) {
      return 0;
    }
  }
}

static int conn_submit(h2conn *c, req *r) {
  nghttp2_nv nv[7];
  size_t n = 0;
#define NV(N, V, VL)                                                           \
  do {                                                                         \
    nv[n].name = (uint8_t *)(N);                                               \
    nv[n].namelen = strlen(N);                                                 \
    nv[n].value = (uint8_t *)(V);                                              \
    nv[n].valuelen = (VL);                                                     \
    nv[n].flags = NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE; \
    n++;                                                                       \
  } while (0)
  NV(hn_method, r->method_get ? hv_get : hv_post,
     strlen(r->method_get ? hv_get : hv_post));
  NV(hn_scheme, hv_http, strlen(hv_http));
  NV(hn_authority, c->authority, strlen(c->authority));
  NV(hn_path, r->path, strlen(r->path));
  NV(hn_auth, c->auth, strlen(c->auth));
  nghttp2_data_provider dp;
  nghttp2_data_provider *dpp = NULL;
  if (!r->method_get) {
    snprintf(r->clen, sizeof(r->clen), "%zu", r->body_len);
    NV(hn_ctype, hv_json, strlen(hv_json));
    NV(hn_clen, r->clen, strlen(r->clen));
    dp.source.ptr = r;
    dp.read_callback = cb_read;
    dpp = &dp;
  }
#undef NV
  req_reset(r);
  r->t0 = bench_now_sec();
  int32_t id = nghttp2_submit_request(c->s, NULL, nv, n, dpp, r);
  if (id < 0) {
    return -1;
  }
  r->stream_id = id;
  c->inflight++;
  return 0;
}

/* conn_run sends |reqs| [0, n) with at most |streams| in flight, stopping
 * submitting new ones after |deadline| (bench_now_sec; 0: none), and
 * waits for every submitted one.  Returns the number submitted (all of
 * them complete, status set), or -1 on a connection error. */
static long conn_run(h2conn *c, req *reqs, size_t n, size_t streams,
                     double deadline) {
  size_t next = 0;
  c->done = 0;
  c->inflight = 0;
  uint8_t buf[1 << 16];
  for (;;) {
    if (g_interrupted) {
      return -1;
    }
    int stop = deadline > 0.0 && next > 0 && bench_now_sec() >= deadline;
    while (!stop && next < n && c->inflight < streams) {
      if (conn_submit(c, &reqs[next]) != 0) {
        return -1;
      }
      next++;
    }
    if (conn_flush(c) != 0) {
      return -1;
    }
    if (c->inflight == 0 && (stop || next == n)) {
      return (long)next;
    }
    struct pollfd p;
    p.fd = c->fd;
    p.events = POLLIN;
    if (c->woff < c->wlen) {
      p.events |= POLLOUT;
    }
    p.revents = 0;
    int pr = poll(&p, 1, IO_TIMEOUT_MS);
    if (pr < 0 && errno == EINTR) {
      continue;
    }
    if (pr <= 0) {
      fprintf(stderr, "bench/http: no answer for %d s (%zu in flight)\n",
              IO_TIMEOUT_MS / 1000, c->inflight);
      return -1;
    }
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      for (;;) {
        ssize_t k = recv(c->fd, buf, sizeof(buf), 0);
        if (k < 0) {
          if (errno == EINTR) {
            continue;
          }
          if (errno == EAGAIN || errno == EWOULDBLOCK) {
            break;
          }
          return -1;
        }
        if (k == 0) {
          fprintf(stderr, "bench/http: the server closed the connection "
                          "(%zu in flight)\n",
                  c->inflight);
          return -1;
        }
        ssize_t used = nghttp2_session_mem_recv(c->s, buf, (size_t)k);
        if (used != k) {
          return -1;
        }
        if ((size_t)k < sizeof(buf)) {
          break;
        }
      }
    }
  }
}

/* ----------------------------------------------------- the daemon side */

typedef struct daemon_env {
  char dir[256];   /* temporary directory */
  char store[300]; /* dir/store */
  char log[300];   /* dir/daemon.log */
  char token[128];
  int port;
  pid_t pid;
} daemon_env;

/* http_one runs one request on a fresh connection; returns its status (and
 * body in |*resp|, owned), or -1. */
static int http_one(const daemon_env *de, int get, const char *path,
                    const char *body, char **resp) {
  h2conn c;
  req r;
  memset(&r, 0, sizeof(r));
  r.path = xstrdup(path);
  r.method_get = get;
  r.body = (const uint8_t *)body;
  r.body_len = body ? strlen(body) : 0;
  int st = -1;
  if (conn_open(&c, de->port, de->token) == 0) {
    if (conn_run(&c, &r, 1, 1, 0.0) == 1) {
      st = r.status;
    }
    conn_close(&c);
  }
  if (resp != NULL) {
    *resp = r.resp;
    r.resp = NULL;
  }
  req_free(&r);
  return st;
}

/* metric returns the value of the first sample line of |name| (exact, or
 * name followed by '{') in Prometheus text |txt|, summed over labels. */
static double metric(const char *txt, const char *name) {
  double sum = 0.0;
  size_t nl = strlen(name);
  for (const char *p = txt; p != NULL && *p != '\0';) {
    const char *e = strchr(p, '\n');
    if (strncmp(p, name, nl) == 0 && (p[nl] == ' ' || p[nl] == '{')) {
      const char *v = p[nl] == ' ' ? p + nl + 1 : strchr(p, '}');
      if (v != NULL && *v == '}') {
        v += 2;
      }
      if (v != NULL) {
        sum += strtod(v, NULL);
      }
    }
    p = e ? e + 1 : NULL;
  }
  return sum;
}

typedef struct msnap {
  double txns, leases, audit, cpu, ctxsw, txn_sum, txn_cnt;
} msnap;

static void snap(const daemon_env *de, msnap *m) {
  char *txt = NULL;
  memset(m, 0, sizeof(*m));
  m->cpu = proc_cpu(de->pid);
  m->ctxsw = proc_ctxsw(de->pid);
  if (http_one(de, 1, "/metrics", NULL, &txt) == 200 && txt != NULL) {
    m->txns = metric(txt, "mlsgate_store_txns_total");
    m->leases = metric(txt, "mlsgate_lease_writes_total");
    m->audit = metric(txt, "mlsgate_audit_entries");
    m->txn_sum = metric(txt, "mlsgate_store_txn_duration_seconds_sum");
    m->txn_cnt = metric(txt, "mlsgate_store_txn_duration_seconds_count");
  }
  free(txt);
}

static int daemon_start(daemon_env *de, const opts *o) {
  char *out = NULL;
  char *a_init[] = {(char *)(uintptr_t)o->mlsgatectl, xstrdup("--store"),
                    de->store, xstrdup("init"), NULL};
  int st = run_capture(a_init, &out);
  free(a_init[1]);
  free(a_init[3]);
  free(out);
  out = NULL;
  if (st != 0) {
    FAIL("mlsgatectl init failed (exit %d)", st);
    return -1;
  }
  char *a_tok[] = {(char *)(uintptr_t)o->mlsgatectl,
                   xstrdup("--store"),
                   de->store,
                   xstrdup("token"),
                   xstrdup("create"),
                   xstrdup("--name"),
                   xstrdup("bench"),
                   xstrdup("--scopes"),
                   xstrdup("conversations,messages,keys:admin,audit:read,"
                           "metrics"),
                   xstrdup("--json"),
                   NULL};
  st = run_capture(a_tok, &out);
  for (int i = 1; a_tok[i] != NULL; i++) {
    if (i != 2) {
      free(a_tok[i]);
    }
  }
  json_t *j = st == 0 ? json_loads(out, 0, NULL) : NULL;
  const char *tok = json_string_value(json_object_get(j, "token"));
  if (tok == NULL || strlen(tok) >= sizeof(de->token)) {
    FAIL("mlsgatectl token create failed (exit %d): %s", st,
         out ? out : "");
    json_decref(j);
    free(out);
    return -1;
  }
  snprintf(de->token, sizeof(de->token), "%s", tok);
  json_decref(j);
  free(out);

  int lfd = open(de->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (lfd < 0) {
    FAIL("cannot create %s", de->log);
    return -1;
  }
  char workers[32];
  snprintf(workers, sizeof(workers), "%ld", o->workers);
  char *a_d[16];
  int k = 0;
  a_d[k++] = (char *)(uintptr_t)o->mlsgated;
  a_d[k++] = xstrdup("--store");
  a_d[k++] = xstrdup(de->store);
  a_d[k++] = xstrdup("--listen");
  a_d[k++] = xstrdup("127.0.0.1:0");
  a_d[k++] = xstrdup("--rate-limit");
  a_d[k++] = xstrdup("0");
  if (o->workers > 0) {
    a_d[k++] = xstrdup("--workers");
    a_d[k++] = xstrdup(workers);
  }
  a_d[k] = NULL;
  printf("daemon:");
  for (int i = 0; i < k; i++) {
    printf(" %s", a_d[i]);
  }
  printf("\n");
  de->pid = spawn(a_d, lfd, lfd);
  g_daemon_pid = de->pid;
  close(lfd);
  for (int i = 1; i < k; i++) {
    free(a_d[i]);
  }
  if (de->pid < 0) {
    FAIL("cannot start mlsgated");
    return -1;
  }
  double t0 = bench_now_sec();
  while (bench_now_sec() - t0 < 30.0 && !g_interrupted) {
    int wst = 0;
    if (waitpid(de->pid, &wst, WNOHANG) == de->pid) {
      de->pid = -1;
      g_daemon_pid = -1;
      char *l = read_file(de->log, NULL);
      FAIL("mlsgated exited (status %d) before listening:\n%s",
           WIFEXITED(wst) ? WEXITSTATUS(wst) : -1, l ? l : "");
      free(l);
      return -1;
    }
    char *l = read_file(de->log, NULL);
    const char *p = l ? strstr(l, "\"listening\"") : NULL;
    if (p != NULL) {
      const char *b = p;
      while (b > l && b[-1] != '\n') {
        b--;
      }
      const char *e = strchr(p, '\n');
      if (e != NULL) {
        json_t *lj = json_loadb(b, (size_t)(e - b), 0, NULL);
        const char *addr = json_string_value(json_object_get(lj, "address"));
        const char *colon = addr ? strrchr(addr, ':') : NULL;
        if (colon != NULL) {
          de->port = atoi(colon + 1);
        }
        json_decref(lj);
        free(l);
        if (de->port <= 0) {
          FAIL("cannot parse the listening address");
          return -1;
        }
        break;
      }
    }
    free(l);
    usleep(20000);
  }
  if (de->port <= 0) {
    FAIL("mlsgated did not log its address in 30 s");
    return -1;
  }
  for (int i = 0; i < 500; i++) {
    char *body = NULL;
    int hs = http_one(de, 1, "/v1/health", NULL, &body);
    free(body);
    if (hs == 200) {
      return 0;
    }
    usleep(20000);
  }
  FAIL("GET /v1/health never answered 200");
  return -1;
}

/* daemon_stop sends SIGTERM and waits (10 s, then SIGKILL); returns the
 * exit status. */
static int daemon_stop(daemon_env *de) {
  if (de->pid <= 0) {
    return -1;
  }
  kill(de->pid, SIGTERM);
  int st = 0;
  double t0 = bench_now_sec();
  for (;;) {
    pid_t p = waitpid(de->pid, &st, WNOHANG);
    if (p == de->pid) {
      break;
    }
    if (bench_now_sec() - t0 > 10.0) {
      fprintf(stderr, "bench/http: mlsgated ignored SIGTERM for 10 s; "
                      "SIGKILL\n");
      kill(de->pid, SIGKILL);
      waitpid(de->pid, &st, 0);
      break;
    }
    usleep(20000);
  }
  de->pid = -1;
  g_daemon_pid = -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ----------------------------------------------------------- the setup */

typedef struct conv {
  char *a_id, *b_id;     /* alice's and bob's conversation ids */
  char *enc_path, *dec_path;
} conv;

typedef struct msg {
  uint32_t conv;
  uint32_t generation;
  char *body; /* the decrypt request body {"message": ...} */
} msg;

typedef struct world {
  daemon_env de;
  conv *convs;
  int nconv;
  msg *msgs;
  size_t nmsgs, msgs_cap;
  size_t *order; /* decrypt order: indices into msgs */
  size_t next_dec;
  char *enc_body; /* {"plaintext": b64(APP_LEN)} */
  char *plain_b64;
} world;

/* run_set runs |n| requests on a new connection with |streams| in flight
 * and checks every status is |want|; returns the number of bad ones (or
 * -1 on a connection error). */
static long run_set(const world *w, req *r, size_t n, size_t streams,
                    int want) {
  h2conn c;
  if (conn_open(&c, w->de.port, w->de.token) != 0) {
    return -1;
  }
  long got = conn_run(&c, r, n, streams, 0.0);
  conn_close(&c);
  if (got != (long)n) {
    return -1;
  }
  long bad = 0;
  for (size_t i = 0; i < n; i++) {
    if (r[i].status != want) {
      if (bad < 3) {
        fprintf(stderr, "bench/http: %s: status %d: %s\n", r[i].path,
                r[i].status, r[i].resp ? r[i].resp : "");
      }
      bad++;
    }
  }
  return bad;
}

static int setup_world(world *w) {
  int n = w->nconv;
  int rc = -1;
  double t0 = bench_now_sec();
  req *r = calloc((size_t)n, sizeof(req));
  char **bodies = calloc((size_t)n, sizeof(char *));
  json_t *kps = NULL, *j = NULL;
  if (r == NULL || bodies == NULL) {
    goto out;
  }
  /* identities */
  {
    req ir[2];
    memset(ir, 0, sizeof(ir));
    static const char *const names[2] = {"alice", "bob"};
    for (int i = 0; i < 2; i++) {
      bodies[i] = xprintf("{\"name\":\"%s\",\"cipher_suite\":%d}", names[i],
                          SUITE);
      ir[i].path = xstrdup("/v1/identities");
      ir[i].body = (const uint8_t *)bodies[i];
      ir[i].body_len = strlen(bodies[i]);
    }
    long bad = run_set(w, ir, 2, 2, 201);
    for (int i = 0; i < 2; i++) {
      req_free(&ir[i]);
      free(bodies[i]);
      bodies[i] = NULL;
    }
    if (bad != 0) {
      FAIL("POST /v1/identities failed");
      goto out;
    }
  }
  /* bob's KeyPackages */
  {
    char *body = xprintf("{\"count\":%d}", n);
    char *resp = NULL;
    int st = http_one(&w->de, 0, "/v1/identities/bob/key-packages", body,
                      &resp);
    free(body);
    kps = st == 201 ? json_loads(resp, 0, NULL) : NULL;
    if (kps == NULL ||
        json_array_size(json_object_get(kps, "key_packages")) != (size_t)n) {
      FAIL("POST /v1/identities/bob/key-packages: status %d %s", st,
           resp ? resp : "");
      free(resp);
      goto out;
    }
    free(resp);
  }
  double t_kp = bench_now_sec();
  /* alice opens the conversations */
  for (int i = 0; i < n; i++) {
    json_t *kp = json_array_get(json_object_get(kps, "key_packages"),
                                (size_t)i);
    const char *kpb = json_string_value(json_object_get(kp, "key_package"));
    if (kpb == NULL) {
      FAIL("key_packages[%d] has no key_package", i);
      goto out;
    }
    w->convs[i].a_id = xprintf("bench-a-%05d", i);
    bodies[i] = xprintf("{\"identity\":\"alice\",\"peer_key_package\":\"%s\","
                        "\"conversation_id\":\"%s\"}",
                        kpb, w->convs[i].a_id);
    r[i].path = xstrdup("/v1/conversations");
    r[i].body = (const uint8_t *)bodies[i];
    r[i].body_len = strlen(bodies[i]);
  }
  if (run_set(w, r, (size_t)n, SETUP_STREAMS, 201) != 0) {
    FAIL("POST /v1/conversations failed");
    goto out;
  }
  double t_open = bench_now_sec();
  /* bob joins */
  for (int i = 0; i < n; i++) {
    j = json_loads(r[i].resp, 0, NULL);
    const char *wel = json_string_value(json_object_get(j, "welcome"));
    const char *tree = json_string_value(json_object_get(j, "ratchet_tree"));
    const char *cid = json_string_value(json_object_get(j, "conversation_id"));
    if (wel == NULL || cid == NULL || strcmp(cid, w->convs[i].a_id) != 0) {
      FAIL("POST /v1/conversations: unexpected answer %s", r[i].resp);
      goto out;
    }
    free(bodies[i]);
    bodies[i] = tree ? xprintf("{\"identity\":\"bob\",\"welcome\":\"%s\","
                               "\"ratchet_tree\":\"%s\"}",
                               wel, tree)
                     : xprintf("{\"identity\":\"bob\",\"welcome\":\"%s\"}",
                               wel);
    json_decref(j);
    j = NULL;
    free(r[i].path);
    r[i].path = xstrdup("/v1/conversations/join");
    r[i].body = (const uint8_t *)bodies[i];
    r[i].body_len = strlen(bodies[i]);
  }
  if (run_set(w, r, (size_t)n, SETUP_STREAMS, 201) != 0) {
    FAIL("POST /v1/conversations/join failed");
    goto out;
  }
  for (int i = 0; i < n; i++) {
    j = json_loads(r[i].resp, 0, NULL);
    const char *cid = json_string_value(json_object_get(j, "conversation_id"));
    if (cid == NULL) {
      FAIL("POST /v1/conversations/join: unexpected answer %s", r[i].resp);
      goto out;
    }
    w->convs[i].b_id = xstrdup(cid);
    json_decref(j);
    j = NULL;
    w->convs[i].enc_path =
        xprintf("/v1/conversations/%s/encrypt", w->convs[i].a_id);
    w->convs[i].dec_path =
        xprintf("/v1/conversations/%s/decrypt", w->convs[i].b_id);
  }
  printf("setup: %d KeyPackages %.2f s, %d conversations opened %.2f s "
         "(%.0f/s at %d streams), joined %.2f s (%.0f/s)\n",
         n, t_kp - t0, n, t_open - t_kp, n / (t_open - t_kp), SETUP_STREAMS,
         bench_now_sec() - t_open, n / (bench_now_sec() - t_open));
  rc = 0;
out:
  json_decref(j);
  json_decref(kps);
  for (int i = 0; i < n && r != NULL; i++) {
    req_free(&r[i]);
  }
  for (int i = 0; i < n && bodies != NULL; i++) {
    free(bodies[i]);
  }
  free(r);
  free(bodies);
  return rc;
}

/* -------------------------------------------------------------- figures */

typedef struct fig {
  char name[64];
  int op; /* 0 encrypt, 1 decrypt, 2 GET /v1/health (the HTTP floor) */
  int streams;
  int h2load;
  double rate, p50, p99; /* req/s, ms */
  long n, errors;
  double dcpu_us, ccpu_us; /* daemon / client CPU per request */
  double txns, leases, audit, ctxsw; /* per request */
  double txn_ms; /* mean store transaction (group commit) time */
  /* Encrypt runs: the in-process protect rate measured just before and
   * just after this run (mean), the machine in the same state. */
  double adj_protect;
  int valid;
} fig;

static void fig_lat(fig *f, double *lat_ms, size_t n) {
  qsort(lat_ms, n, sizeof(double), cmp_double);
  f->p50 = pct(lat_ms, n, 0.50);
  f->p99 = pct(lat_ms, n, 0.99);
}

static void fig_print(const fig *f) {
  printf("  %-22s n %7ld %7.0f req/s  p50 %7.3f ms  p99 %7.3f ms  "
         "errors %ld | daemon %4.0f us CPU, %4.1f ctx sw; client %3.0f us | "
         "txns %.3f (%.3f ms), leases %.4f, audit %.2f\n",
         f->name, f->n, f->rate, f->p50, f->p99, f->errors, f->dcpu_us,
         f->ctxsw, f->ccpu_us, f->txns, f->txn_ms, f->leases, f->audit);
  fflush(stdout);
}

static void fig_deltas(fig *f, const msnap *a, const msnap *b, double c0,
                       double c1) {
  double n = f->n > 0 ? (double)f->n : 1.0;
  f->dcpu_us = (b->cpu - a->cpu) / n * 1e6;
  f->ccpu_us = (c1 - c0) / n * 1e6;
  /* the snapshot's own GET /metrics is not a transaction */
  f->txns = (b->txns - a->txns) / n;
  f->leases = (b->leases - a->leases) / n;
  f->audit = (b->audit - a->audit) / n;
  f->ctxsw = (b->ctxsw - a->ctxsw) / n;
  f->txn_ms = b->txn_cnt > a->txn_cnt
                  ? (b->txn_sum - a->txn_sum) / (b->txn_cnt - a->txn_cnt) * 1e3
                  : 0.0;
}

/* keep_best keeps in |best| the fastest of the runs of one figure (all of
 * its fields), and the errors of every run: one error in any run makes
 * the figure invalid. */
static void keep_best(fig *best, const fig *cur, int first) {
  long errors = (first ? 0 : best->errors) + cur->errors;
  long n = (first ? 0 : best->n) + cur->n;
  if (first || cur->rate > best->rate) {
    *best = *cur;
  }
  best->errors = errors;
  best->n = n;
  best->valid = errors == 0;
}

static pid_t perf_start(const world *w, const opts *o, const char *what) {
  if (o->perf == NULL) {
    return -1;
  }
  char *file = xprintf("%s.%s.data", o->perf, what);
  char pid[32];
  snprintf(pid, sizeof(pid), "%d", (int)w->de.pid);
  /* DWARF unwinding: the libraries have no frame pointers */
  char *argv[] = {xstrdup("perf"),  xstrdup("record"),
                  xstrdup("-F"),    xstrdup("499"),
                  xstrdup("--call-graph"), xstrdup("dwarf,16384"),
                  xstrdup("-q"),    xstrdup("-o"),
                  file,             xstrdup("-p"),
                  xstrdup(pid),     NULL};
  int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
  pid_t p = spawn(argv, devnull, devnull);
  if (devnull >= 0) {
    close(devnull);
  }
  for (int i = 0; argv[i] != NULL; i++) {
    free(argv[i]);
  }
  usleep(300000); /* let perf attach */
  return p;
}

static void perf_stop(pid_t p) {
  if (p <= 0) {
    return;
  }
  kill(p, SIGINT);
  int st;
  waitpid(p, &st, 0);
}

/* timed_run: our client sends r[0, n) with |streams| in flight on one
 * connection, starting no new request after |secs| seconds (0: none),
 * perf-recording the daemon meanwhile as |profile| (NULL: not), and fills
 * |f| with the rate, latencies and per-request deltas (CPU, context
 * switches, the daemon's metrics).  Returns the number sent (each one
 * answered, its status and body in r[i]), or -1 (reported). */
static long timed_run(world *w, const opts *o, req *r, size_t n,
                      int streams, double secs, const char *profile,
                      fig *f) {
  msnap a, b;
  h2conn c;
  snap(&w->de, &a);
  if (conn_open(&c, w->de.port, w->de.token) != 0) {
    FAIL("cannot connect");
    return -1;
  }
  pid_t pp = profile != NULL ? perf_start(w, o, profile) : -1;
  double c0 = self_cpu(RUSAGE_SELF);
  double t0 = bench_now_sec();
  long got =
      conn_run(&c, r, n, (size_t)streams, secs > 0 ? t0 + secs : 0.0);
  double c1 = self_cpu(RUSAGE_SELF);
  perf_stop(pp);
  conn_close(&c);
  if (got <= 0) {
    FAIL("%s run at %d streams: connection failed", f->name, streams);
    return -1;
  }
  snap(&w->de, &b);
  f->n = got;
  f->errors = 0;
  double first = 1e300, last = 0.0;
  double *lat = xmalloc((size_t)got * sizeof(double));
  for (long i = 0; i < got; i++) {
    lat[i] = (r[i].t1 - r[i].t0) * 1e3;
    first = r[i].t0 < first ? r[i].t0 : first;
    last = r[i].t1 > last ? r[i].t1 : last;
  }
  f->rate = (double)got / (last - first);
  fig_lat(f, lat, (size_t)got);
  free(lat);
  fig_deltas(f, &a, &b, c0, c1);
  return got;
}

/* encrypt_run: our client, |streams| in flight, ~o->time seconds; keeps
 * the messages.  |warm|: one request per conversation, not a figure. */
static int encrypt_run(world *w, const opts *o, int streams, int warm,
                       int profile, fig *f) {
  size_t n = warm ? (size_t)w->nconv : (size_t)o->max_requests;
  req *r = calloc(n, sizeof(req));
  if (r == NULL) {
    return -1;
  }
  size_t blen = strlen(w->enc_body);
  for (size_t i = 0; i < n; i++) {
    r[i].path = xstrdup(w->convs[i % (size_t)w->nconv].enc_path);
    r[i].body = (const uint8_t *)w->enc_body;
    r[i].body_len = blen;
    r[i].tag = i % (size_t)w->nconv;
  }
  int rc = -1;
  long got = timed_run(w, o, r, n, streams, warm ? 0.0 : o->time,
                       profile ? "encrypt" : NULL, f);
  if (got < 0) {
    goto out;
  }
  for (long i = 0; i < got; i++) {
    json_t *j = r[i].status == 200 ? json_loads(r[i].resp, 0, NULL) : NULL;
    const char *m = json_string_value(json_object_get(j, "message"));
    json_t *g = json_object_get(j, "generation");
    if (m == NULL || !json_is_integer(g)) {
      if (f->errors < 3) {
        fprintf(stderr, "bench/http: encrypt %s: status %d %s\n", r[i].path,
                r[i].status, r[i].resp ? r[i].resp : "");
      }
      f->errors++;
    } else {
      if (w->nmsgs == w->msgs_cap) {
        w->msgs_cap = w->msgs_cap ? w->msgs_cap * 2 : 4096;
        msg *nm = realloc(w->msgs, w->msgs_cap * sizeof(msg));
        if (nm == NULL) {
          exit(1);
        }
        w->msgs = nm;
      }
      msg *x = &w->msgs[w->nmsgs++];
      x->conv = (uint32_t)r[i].tag;
      x->generation = (uint32_t)json_integer_value(g);
      x->body = xprintf("{\"message\":\"%s\"}", m);
    }
    json_decref(j);
  }
  f->valid = f->errors == 0;
  if (f->errors != 0) {
    FAIL("encrypt at %d streams: %ld of %ld requests failed", streams,
         f->errors, got);
  }
  rc = 0;
out:
  for (size_t i = 0; i < n; i++) {
    req_free(&r[i]);
  }
  free(r);
  return rc;
}

/* floor_run: GET /v1/health (no token check, no store, a 15-byte answer)
 * with our client at |streams|, ~o->time / 2 seconds: what the HTTP/2
 * path alone costs (the daemon's server and our client), the floor under
 * every figure above it. */
static int floor_run(world *w, const opts *o, int streams, fig *f) {
  size_t n = (size_t)o->max_requests;
  req *r = calloc(n, sizeof(req));
  if (r == NULL) {
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    r[i].path = xstrdup("/v1/health");
    r[i].method_get = 1;
  }
  int rc = -1;
  long got = timed_run(w, o, r, n, streams, o->time / 2, NULL, f);
  if (got < 0) {
    goto out;
  }
  for (long i = 0; i < got; i++) {
    if (r[i].status != 200) {
      f->errors++;
    }
  }
  f->valid = f->errors == 0;
  if (f->errors != 0) {
    FAIL("health at %d streams: %ld of %ld requests failed", streams,
         f->errors, got);
  }
  rc = 0;
out:
  for (size_t i = 0; i < n; i++) {
    req_free(&r[i]);
  }
  free(r);
  return rc;
}

static int cmp_msg(const void *a, const void *b) {
  const msg *x = a, *y = b;
  if (x->conv != y->conv) {
    return x->conv < y->conv ? -1 : 1;
  }
  return x->generation < y->generation ? -1 : x->generation > y->generation;
}

/* decrypt_order sorts the messages by (conversation, generation) and
 * builds the round-robin order over the conversations. */
static void decrypt_order(world *w) {
  qsort(w->msgs, w->nmsgs, sizeof(msg), cmp_msg);
  size_t *start = calloc((size_t)w->nconv + 1, sizeof(size_t));
  size_t *pos = calloc((size_t)w->nconv, sizeof(size_t));
  w->order = calloc(w->nmsgs ? w->nmsgs : 1, sizeof(size_t));
  if (start == NULL || pos == NULL || w->order == NULL) {
    exit(1);
  }
  for (size_t i = 0; i < w->nmsgs; i++) {
    start[w->msgs[i].conv + 1]++;
  }
  for (int c = 0; c < w->nconv; c++) {
    start[c + 1] += start[c];
    pos[c] = start[c];
  }
  size_t k = 0;
  while (k < w->nmsgs) {
    for (int c = 0; c < w->nconv; c++) {
      if (pos[c] < start[c + 1]) {
        w->order[k++] = pos[c]++;
      }
    }
  }
  free(start);
  free(pos);
  w->next_dec = 0;
}

/* decrypt_run: our client, the next messages in order, each exactly
 * once; every answer must be 200 application with the plaintext. */
static int decrypt_run(world *w, const opts *o, int streams, int warm,
                       int profile, fig *f) {
  size_t left = w->nmsgs - w->next_dec;
  size_t n = warm ? (size_t)w->nconv : left;
  if (n > left) {
    n = left;
  }
  if (!warm && n > (size_t)o->max_requests) {
    n = (size_t)o->max_requests;
  }
  if (n == 0) {
    FAIL("no messages left to decrypt at %d streams (raise --time of the "
         "encrypt runs)",
         streams);
    return -1;
  }
  req *r = calloc(n, sizeof(req));
  if (r == NULL) {
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    const msg *m = &w->msgs[w->order[w->next_dec + i]];
    r[i].path = xstrdup(w->convs[m->conv].dec_path);
    r[i].body = (const uint8_t *)m->body;
    r[i].body_len = strlen(m->body);
  }
  int rc = -1;
  long got = timed_run(w, o, r, n, streams, warm ? 0.0 : o->time,
                       profile ? "decrypt" : NULL, f);
  if (got < 0) {
    goto out;
  }
  w->next_dec += (size_t)got;
  for (long i = 0; i < got; i++) {
    json_t *j = r[i].status == 200 ? json_loads(r[i].resp, 0, NULL) : NULL;
    const char *ty = json_string_value(json_object_get(j, "type"));
    const char *pt = json_string_value(json_object_get(j, "plaintext"));
    if (ty == NULL || strcmp(ty, "application") != 0 || pt == NULL ||
        strcmp(pt, w->plain_b64) != 0) {
      if (f->errors < 3) {
        fprintf(stderr, "bench/http: decrypt %s: status %d %.300s\n",
                r[i].path, r[i].status, r[i].resp ? r[i].resp : "");
      }
      f->errors++;
    }
    json_decref(j);
  }
  f->valid = f->errors == 0;
  if (f->errors != 0) {
    FAIL("decrypt at %d streams: %ld of %ld requests failed: the figure "
         "is INVALID",
         streams, f->errors, got);
  }
  rc = 0;
out:
  for (size_t i = 0; i < n; i++) {
    req_free(&r[i]);
  }
  free(r);
  return rc;
}

/* h2load_run: encrypt with h2load, |nreq| requests at |streams|. */
static int h2load_run(world *w, int streams, long nreq, fig *f) {
  char *uris = xprintf("%s/uris.txt", w->de.dir);
  char *bodyf = xprintf("%s/body.json", w->de.dir);
  char *logf = xprintf("%s/h2load-%d.tsv", w->de.dir, streams);
  int rc = -1;
  {
    size_t cap = (size_t)w->nconv * 96 + 1, len = 0;
    char *u = xmalloc(cap);
    for (int i = 0; i < w->nconv; i++) {
      len += (size_t)snprintf(u + len, cap - len, "http://127.0.0.1:%d%s\n",
                              w->de.port, w->convs[i].enc_path);
    }
    if (write_file(uris, u, len) != 0 ||
        write_file(bodyf, w->enc_body, strlen(w->enc_body)) != 0) {
      free(u);
      FAIL("cannot write h2load's input files");
      goto out;
    }
    free(u);
  }
  char n_s[32], m_s[32];
  snprintf(n_s, sizeof(n_s), "%ld", nreq);
  snprintf(m_s, sizeof(m_s), "%d", streams);
  char *auth = xprintf("authorization: Bearer %s", w->de.token);
  char *logopt = xprintf("--log-file=%s", logf);
  char *argv[] = {xstrdup("h2load"), xstrdup("-n"), n_s,
                  xstrdup("-c"),     xstrdup("1"),  xstrdup("-m"),
                  m_s,               xstrdup("-t"), xstrdup("1"),
                  xstrdup("-H"),     auth,          xstrdup("-H"),
                  xstrdup("content-type: application/json"),
                  xstrdup("-d"),     bodyf,         xstrdup("-i"),
                  uris,              logopt,        NULL};
  static int printed;
  if (!printed) {
    printed = 1;
    printf("h2load command: h2load -n N -c 1 -m M -t 1 -H 'authorization: "
           "Bearer $TOKEN' -H 'content-type: application/json' -d %s -i %s "
           "--log-file=%s (one URI per conversation)\n",
           bodyf, uris, logf);
  }
  msnap a, b;
  (void)unlink(logf); /* h2load does not truncate it */
  snap(&w->de, &a);
  double c0 = self_cpu(RUSAGE_CHILDREN);
  char *out = NULL;
  int st = run_capture(argv, &out);
  double c1 = self_cpu(RUSAGE_CHILDREN);
  snap(&w->de, &b);
  static const int owned[] = {0, 1, 3, 4, 5, 7, 8, 9, 11, 12, 13, 15};
  for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++) {
    free(argv[owned[i]]);
  }
  free(auth);
  free(logopt);
  const char *fin = out ? strstr(out, "finished in ") : NULL;
  const char *sc = out ? strstr(out, "status codes: ") : NULL;
  double rps = 0.0;
  long s2 = -1, s4 = 0, s5 = 0, s3 = 0;
  if (st != 0 || fin == NULL || sc == NULL ||
      /* "finished in 5.2s, 1234.5 req/s" (or 648.9ms) */
      sscanf(fin, "finished in %*[^,], %lf req/s", &rps) != 1 ||
      sscanf(sc, "status codes: %ld 2xx, %ld 3xx, %ld 4xx, %ld 5xx", &s2, &s3,
             &s4, &s5) != 4) {
    FAIL("h2load failed (exit %d):\n%s", st, out ? out : "");
    free(out);
    goto out;
  }
  free(out);
  f->n = nreq;
  f->rate = rps;
  f->errors = nreq - s2;
  f->valid = f->errors == 0;
  if (f->errors != 0) {
    FAIL("h2load at %d streams: %ld of %ld requests not 2xx (3xx %ld, "
         "4xx %ld, 5xx %ld)",
         streams, f->errors, nreq, s3, s4, s5);
  }
  {
    size_t len = 0;
    char *lg = read_file(logf, &len);
    size_t cap = (size_t)nreq + 16, k = 0;
    double *lat = xmalloc(cap * sizeof(double));
    for (char *p = lg; p != NULL && *p != '\0' && k < cap;) {
      char *e = strchr(p, '\n');
      long long t_start = 0, dur = 0;
      int code = 0;
      if (sscanf(p, "%lld\t%d\t%lld", &t_start, &code, &dur) == 3) {
        lat[k++] = (double)dur / 1e3;
      }
      p = e ? e + 1 : NULL;
    }
    free(lg);
    if (k != (size_t)nreq) {
      fprintf(stderr, "bench/http: h2load's log has %zu of %ld requests\n",
              k, nreq);
    }
    fig_lat(f, lat, k);
    free(lat);
  }
  fig_deltas(f, &a, &b, c0, c1);
  rc = 0;
out:
  free(uris);
  free(bodyf);
  free(logf);
  return rc;
}

/* ------------------------------------------------- in-process baselines */

typedef struct pair {
  const mls_suite *s;
  mls_group *g0, *g1;
  uint8_t data[APP_LEN];
  mls_group *r_base, *r_cur;
  mls_bytes msgs[NUM_MSGS];
  size_t next_msg;
} pair;

static int op_protect(void *arg) {
  pair *f = arg;
  mls_bytes m = {0};
  int rc = mls_group_protect(f->g0, f->data, APP_LEN, NULL, 0, 0, &m, NULL);
  mls_bytes_cleanup(&m);
  return rc == 0 ? 0 : -1;
}

static int op_unprotect(void *arg) {
  pair *f = arg;
  mls_process_params pp;
  mls_processed r;
  memset(&pp, 0, sizeof(pp));
  pp.now = (uint64_t)time(NULL);
  if (f->next_msg == NUM_MSGS) {
    mls_group_free(f->r_cur);
    f->r_cur = NULL;
    if (mls_group_copy(&f->r_cur, f->r_base) != 0) {
      return -1;
    }
    f->next_msg = 0;
  }
  const mls_bytes *m = &f->msgs[f->next_msg++];
  if (mls_group_process(f->r_cur, m->data, m->len, &pp, &r) != 0) {
    return -1;
  }
  mls_processed_cleanup(&r);
  return 0;
}

static int kp_gen(const mls_suite *s, const char *name, mls_key_package *kp,
                  mls_key_package_priv *priv) {
  mls_key_package_params p;
  memset(&p, 0, sizeof(p));
  p.cipher_suite = s->id;
  p.identity = (const uint8_t *)name;
  p.identity_len = strlen(name);
  p.now = (uint64_t)time(NULL) - 10;
  return mls_key_package_generate(kp, priv, NULL, NULL, 0, NULL, &p);
}

static void pair_free(pair *f) {
  mls_group_free(f->g0);
  mls_group_free(f->g1);
  mls_group_free(f->r_base);
  mls_group_free(f->r_cur);
  for (size_t i = 0; i < NUM_MSGS; i++) {
    mls_bytes_cleanup(&f->msgs[i]);
  }
  memset(f, 0, sizeof(*f));
}

/* pair_setup: alice creates, adds bob (ratchet tree in the Welcome), bob
 * joins; NUM_MSGS messages protected from a copy of alice; one checked. */
static int pair_setup(pair *f) {
  mls_key_package ka, kb;
  mls_key_package_priv pa, pb;
  mls_commit_result res;
  mls_message wm;
  mls_group *a = NULL, *snd = NULL;
  int rc = -1;
  memset(f, 0, sizeof(*f));
  memset(&ka, 0, sizeof(ka));
  memset(&kb, 0, sizeof(kb));
  memset(&pa, 0, sizeof(pa));
  memset(&pb, 0, sizeof(pb));
  memset(&res, 0, sizeof(res));
  memset(&wm, 0, sizeof(wm));
  f->s = mls_suite_by_id(SUITE);
  memset(f->data, 0x61, sizeof(f->data));
  if (f->s == NULL || kp_gen(f->s, "alice", &ka, &pa) != 0 ||
      kp_gen(f->s, "bob", &kb, &pb) != 0) {
    goto out;
  }
  {
    mls_group_create_params cp;
    memset(&cp, 0, sizeof(cp));
    cp.key_package = &ka;
    cp.priv = &pa;
    if (mls_group_create(&a, f->s, &cp) != 0) {
      goto out;
    }
  }
  {
    mls_commit_params p;
    memset(&p, 0, sizeof(p));
    p.adds = &kb;
    p.num_adds = 1;
    p.ratchet_tree_in_welcome = 1;
    p.now = (uint64_t)time(NULL);
    if (mls_group_commit(a, &p, &res) != 0 ||
        mls_message_decode_bytes(res.welcome.data, res.welcome.len, &wm) !=
            0) {
      goto out;
    }
  }
  {
    mls_join_params jp;
    memset(&jp, 0, sizeof(jp));
    jp.welcome = &wm.welcome;
    jp.key_package = &kb;
    jp.init_priv = mg_hpke_key_priv(&pb.init_key);
    jp.init_priv_len = f->s->kem->priv_len;
    jp.enc_priv = mg_hpke_key_priv(&pb.encryption_key);
    jp.enc_priv_len = f->s->kem->priv_len;
    jp.sig_priv = pb.sig_priv;
    jp.sig_priv_len = pb.sig_priv_len;
    jp.now = (uint64_t)time(NULL);
    if (mls_group_join(&f->g1, f->s, &jp) != 0) {
      goto out;
    }
  }
  f->g0 = res.next;
  res.next = NULL;
  if (mls_group_copy(&snd, f->g0) != 0) {
    goto out;
  }
  for (size_t i = 0; i < NUM_MSGS; i++) {
    if (mls_group_protect(snd, f->data, APP_LEN, NULL, 0, 0, &f->msgs[i],
                          NULL) != 0) {
      goto out;
    }
  }
  if (mls_group_copy(&f->r_base, f->g1) != 0 ||
      mls_group_copy(&f->r_cur, f->g1) != 0) {
    goto out;
  }
  {
    mls_process_params pp;
    mls_processed r;
    memset(&pp, 0, sizeof(pp));
    pp.now = (uint64_t)time(NULL);
    if (mls_group_process(f->r_cur, f->msgs[0].data, f->msgs[0].len, &pp,
                          &r) != 0) {
      goto out;
    }
    int ok = r.application_data.len == APP_LEN &&
             memcmp(r.application_data.data, f->data, APP_LEN) == 0;
    mls_processed_cleanup(&r);
    if (!ok) {
      goto out;
    }
    f->next_msg = 1;
  }
  rc = 0;
out:
  mls_message_cleanup(&wm);
  mls_commit_result_cleanup(&res);
  mls_group_free(a);
  mls_group_free(snd);
  mls_key_package_cleanup(&ka);
  mls_key_package_cleanup(&kb);
  mls_key_package_priv_cleanup(&pa);
  mls_key_package_priv_cleanup(&pb);
  return rc;
}

/* best_rate: bench_util, best of |runs| runs of ~|t| seconds. */
static double best_rate(bench_fn fn, void *ctx, double t, int runs,
                        int *contended) {
  uint64_t iters = 0;
  double best = 0.0;
  int cont = 0;
  if (bench_calibrate(fn, ctx, t, &iters) != 0) {
    return -1.0;
  }
  for (int i = 0; i < runs; i++) {
    bench_run_result res;
    if (bench_timed_run(fn, ctx, iters, &res) != 0) {
      return -1.0;
    }
    double r = res.contended ? res.cpu_rate : res.rate;
    cont += res.contended;
    if (r > best) {
      best = r;
    }
  }
  *contended = cont == runs;
  return best;
}

typedef struct fsync_fx {
  mg_keystore *ks;
  mg_ks_ctx ctx;
  uint8_t content[APP_LEN];
} fsync_fx;

static int fsync_txn(mg_ks_txn *txn, void *arg) {
  fsync_fx *f = arg;
  mg_ks_audit au;
  memset(&au, 0, sizeof(au));
  au.action = "message.encrypt";
  au.object = "bench-conversation";
  au.content = f->content;
  au.content_len = sizeof(f->content);
  return mg_ks_audit_append(f->ks, txn, &f->ctx, &au, NULL);
}

/* fsync_rate: transactions/s of one audit append each, ~|t| s of wall. */
static double fsync_rate(fsync_fx *f, double t) {
  double t0 = bench_now_sec(), el = 0.0;
  long n = 0;
  do {
    if (mg_ks_transact(f->ks, fsync_txn, f) != 0) {
      return -1.0;
    }
    n++;
    el = bench_now_sec() - t0;
  } while (el < t && !g_interrupted);
  return (double)n / el;
}

/* adjacent_protect: a short in-process protect measurement (best of 2
 * runs of ~0.3 s) taken next to an HTTP run. */
static double adjacent_protect(pair *pr) {
  int cont = 0;
  return best_rate(op_protect, pr, 0.3, 2, &cont);
}

typedef struct baselines {
  double protect, unprotect, fsync;
  int protect_cont, unprotect_cont;
  double round[2][3];
} baselines;

static int baseline_round(pair *pr, fsync_fx *fx, const opts *o,
                          baselines *b, int round) {
  int c1 = 0, c2 = 0;
  if (g_interrupted) {
    return -1;
  }
  double p = best_rate(op_protect, pr, o->base_time, 3, &c1);
  double u = best_rate(op_unprotect, pr, o->base_time, 3, &c2);
  double s = fsync_rate(fx, o->fsync_time);
  if (p <= 0 || u <= 0 || s <= 0) {
    FAIL("a baseline failed");
    return -1;
  }
  b->round[round][0] = p;
  b->round[round][1] = u;
  b->round[round][2] = s;
  printf("baselines, round %d: in-process protect %s%.0f/s, unprotect "
         "%s%.0f/s, fsync per message %.0f/s\n",
         round + 1, c1 ? "~" : "", p, c2 ? "~" : "", u, s);
  fflush(stdout);
  if (p > b->protect) {
    b->protect = p;
    b->protect_cont = c1;
  }
  if (u > b->unprotect) {
    b->unprotect = u;
    b->unprotect_cont = c2;
  }
  if (s > b->fsync) {
    b->fsync = s;
  }
  return 0;
}

/* ----------------------------------------------------------- the table */

static void print_table(const baselines *b, const fig *figs, size_t nf) {
  double ncpu = (double)sysconf(_SC_NPROCESSORS_ONLN);
  printf("\n%-30s %8s %8s %8s %9s %9s %8s %8s %7s  %s\n", "figure",
         "req/s", "p50 ms", "p99 ms", "CPU us/rq", "CPU bnd/s", "/in-proc",
         "/adjacnt", "x fsync",
         "target (>= 0.50 of in-process protect, >= 10x fsync)");
  printf("%-30s %8.0f %8s %8s %9.1f %9s %8s %8s %7.1f\n",
         b->protect_cont ? "in-process protect (~)" : "in-process protect",
         b->protect, "", "", 1e6 / b->protect, "", "1.000", "",
         b->protect / b->fsync);
  printf("%-30s %8.0f %8s %8s %9.1f %9s %8s %8s %7.1f\n",
         b->unprotect_cont ? "in-process unprotect (~)"
                           : "in-process unprotect",
         b->unprotect, "", "", 1e6 / b->unprotect, "", "1.000", "",
         b->unprotect / b->fsync);
  printf("%-30s %8.0f %8s %8s %9s %9s %8.3f %8s %7.1f\n",
         "fsync per message (txn+audit)", b->fsync, "", "", "", "",
         b->fsync / b->protect, "", 1.0);
  for (size_t i = 0; i < nf; i++) {
    const fig *f = &figs[i];
    double base = f->op == 0 ? b->protect : b->unprotect;
    double ofin = f->rate / base, xf = f->rate / b->fsync;
    double cpu = f->dcpu_us + f->ccpu_us;
    char tgt[96];
    if (f->op == 2) {
      printf("%-30s %8.0f %8.3f %8.3f %9.1f %9.0f %8s %8s %7.1f  %s\n",
             f->name, f->rate, f->p50, f->p99, cpu,
             cpu > 0 ? ncpu * 1e6 / cpu : 0.0, "", "", xf,
             f->valid ? "(the HTTP/2 floor)" : "INVALID");
      continue;
    }
    if (!f->valid) {
      snprintf(tgt, sizeof(tgt), "INVALID (%ld errors)", f->errors);
    } else if (f->op == 0) {
      snprintf(tgt, sizeof(tgt), "%s (%s, %s)",
               ofin >= 0.5 && xf >= 10.0 ? "PASS" : "FAIL",
               ofin >= 0.5 ? ">= 0.50" : "< 0.50",
               xf >= 10.0 ? ">= 10x" : "< 10x");
    } else {
      snprintf(tgt, sizeof(tgt), "(no target)");
    }
    char adj[16] = "";
    if (f->adj_protect > 0) {
      snprintf(adj, sizeof(adj), "%.3f", f->rate / f->adj_protect);
    }
    printf("%-30s %8.0f %8.3f %8.3f %9.0f %9.0f %8.3f %8s %7.1f  %s\n",
           f->name, f->rate, f->p50, f->p99, cpu,
           cpu > 0 ? ncpu * 1e6 / cpu : 0.0, ofin, adj, xf, tgt);
  }
  printf("\n'/in-proc': req/s / the in-process rate of the same operation "
         "(protect for encrypt, unprotect for decrypt; best of the two "
         "baseline rounds); '/adjacnt': req/s / the in-process protect "
         "rate measured just before and just after that run (their mean: "
         "the machine in the same state).  'x fsync': req/s / the fsync-per-message rate "
         "(best of the two rounds).  'CPU us/rq': the daemon's CPU (all "
         "threads) plus the load generator's, per request, in the run "
         "kept; 'CPU bnd/s': %.0f CPUs / that, the rate this run would reach "
         "if the daemon and the load generator had the machine to "
         "themselves and nothing but CPU limited them (a bound that other "
         "processes on the machine do not change).\n",
         ncpu);
  /* The budget the 10x target leaves: its rate needs at most B us of CPU
   * per request (daemon + load generator, every CPU busy); the floor is
   * the HTTP/2 path alone (GET /v1/health) plus the engine's protect. */
  const fig *fl = NULL, *enc = NULL;
  for (size_t i = 0; i < nf; i++) {
    if (figs[i].op == 2 && figs[i].valid) {
      fl = &figs[i];
    }
    if (figs[i].op == 0 && !figs[i].h2load && figs[i].valid &&
        (enc == NULL || figs[i].streams > enc->streams)) {
      enc = &figs[i];
    }
  }
  if (fl != NULL && enc != NULL && b->fsync > 0 && b->protect > 0) {
    double need = 10.0 * b->fsync, budget = ncpu * 1e6 / need;
    double http = fl->dcpu_us + fl->ccpu_us, prot = 1e6 / b->protect;
    double floor = http + prot, used = enc->dcpu_us + enc->ccpu_us;
    double bound = used > 0 ? ncpu * 1e6 / used : 0.0;
    printf("\nbudget of the 10x target: %.0f req/s on %.0f CPUs = at most "
           "%.1f us of CPU per request (daemon + load generator, every CPU "
           "busy all the time).  Floor: the HTTP/2 path (GET /v1/health, "
           "%d streams) %.1f us + in-process protect %.1f us = %.1f us, "
           "leaving %.1f us for everything else an encrypt does (token, "
           "JSON and base64, lease, audit entry, group commit, logging); "
           "encrypt at %d streams (our client) used %.1f us, %.1f above the "
           "floor, and reached %.0f%% of the rate its CPU time allows.\n",
           need, ncpu, budget, fl->streams, http, prot, floor,
           budget - floor, enc->streams, used, used - floor,
           bound > 0 ? 100.0 * enc->rate / bound : 0.0);
  }
}

/* ---------------------------------------------------------------- main */

static int parse_levels(const char *s, opts *o) {
  o->num_levels = 0;
  while (*s != '\0') {
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (end == s || v < 1 || v > 1024 || o->num_levels == MAX_LEVELS) {
      return -1;
    }
    o->levels[o->num_levels++] = (int)v;
    s = *end == ',' ? end + 1 : end;
    if (*end != ',' && *end != '\0') {
      return -1;
    }
  }
  return o->num_levels > 0 ? 0 : -1;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: bench/http [--quick] [--conversations N] [--time S] "
          "[--runs N] [--max-requests N]\n"
          "                  [--streams A,B,C] [--no-h2load] [--workers N] "
          "[--perf PREFIX] [--keep]\n"
          "                  [--mlsgated PATH] [--mlsgatectl PATH]\n"
          "  --conversations N  conversations (default 1000)\n"
          "  --time S           seconds per HTTP run (default 6)\n"
          "  --max-requests N   requests per HTTP run at most (default "
          "200000)\n"
          "  --runs N           runs of each HTTP figure, interleaved over "
          "the levels, best kept (default 2)\n"
          "  --streams A,B,C    concurrent streams (default 1,16,128)\n"
          "  --no-h2load        only our client\n"
          "  --workers N        mlsgated --workers N\n"
          "  --perf PREFIX      perf record the daemon during the last "
          "encrypt and decrypt runs\n"
          "  --keep             keep the temporary directory\n"
          "  --quick            100 conversations, 1.5 s runs, 1 run, "
          "short baselines\n");
}

static int parse_args(int argc, char **argv, opts *o) {
  memset(o, 0, sizeof(*o));
  o->conversations = 1000;
  o->time = 6.0;
  o->base_time = 0.3;
  o->fsync_time = 2.0;
  o->max_requests = 200000;
  o->runs = 2;
  o->h2load = 1;
  o->mlsgated = BENCH_BUILDDIR "/mlsgated";
  o->mlsgatectl = BENCH_BUILDDIR "/mlsgatectl";
  (void)parse_levels("1,16,128", o);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    char *end = NULL;
    if (strcmp(a, "--quick") == 0) {
      o->conversations = 100;
      o->time = 1.5;
      o->base_time = 0.1;
      o->fsync_time = 0.5;
      o->runs = 1;
    } else if (strcmp(a, "--no-h2load") == 0) {
      o->h2load = 0;
    } else if (strcmp(a, "--keep") == 0) {
      o->keep = 1;
    } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      exit(0);
    } else if (i + 1 >= argc) {
      usage(stderr);
      return -1;
    } else if (strcmp(a, "--conversations") == 0) {
      long v = strtol(argv[++i], &end, 10);
      if (*end != '\0' || v < 1 || v > 10000) {
        fprintf(stderr, "bench/http: --conversations wants 1..10000\n");
        return -1;
      }
      o->conversations = (int)v;
    } else if (strcmp(a, "--time") == 0) {
      o->time = strtod(argv[++i], &end);
      if (*end != '\0' || !(o->time > 0.0) || o->time > 600.0) {
        fprintf(stderr, "bench/http: --time wants seconds in (0, 600]\n");
        return -1;
      }
    } else if (strcmp(a, "--runs") == 0) {
      long v = strtol(argv[++i], &end, 10);
      if (*end != '\0' || v < 1 || v > 20) {
        fprintf(stderr, "bench/http: --runs wants 1..20\n");
        return -1;
      }
      o->runs = (int)v;
    } else if (strcmp(a, "--max-requests") == 0) {
      o->max_requests = strtol(argv[++i], &end, 10);
      if (*end != '\0' || o->max_requests < 1 ||
          o->max_requests > 10000000) {
        fprintf(stderr, "bench/http: --max-requests wants 1..10^7\n");
        return -1;
      }
    } else if (strcmp(a, "--streams") == 0) {
      if (parse_levels(argv[++i], o) != 0) {
        fprintf(stderr, "bench/http: --streams wants counts 1..1024\n");
        return -1;
      }
    } else if (strcmp(a, "--workers") == 0) {
      o->workers = strtol(argv[++i], &end, 10);
      if (*end != '\0' || o->workers < 1 || o->workers > 1024) {
        fprintf(stderr, "bench/http: --workers wants 1..1024\n");
        return -1;
      }
    } else if (strcmp(a, "--perf") == 0) {
      o->perf = argv[++i];
    } else if (strcmp(a, "--mlsgated") == 0) {
      o->mlsgated = argv[++i];
    } else if (strcmp(a, "--mlsgatectl") == 0) {
      o->mlsgatectl = argv[++i];
    } else {
      usage(stderr);
      return -1;
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  opts o;
  world w;
  pair pr;
  fsync_fx fx;
  baselines b;
  fig figs[3 * MAX_LEVELS + 1];
  size_t nf = 0;
  char *fs_dir = NULL, *kek = NULL;
  double t_start = bench_now_sec();
  memset(&w, 0, sizeof(w));
  memset(&pr, 0, sizeof(pr));
  memset(&fx, 0, sizeof(fx));
  memset(&b, 0, sizeof(b));
  memset(figs, 0, sizeof(figs));
  w.de.pid = -1;
  if (parse_args(argc, argv, &o) != 0) {
    return 2;
  }
  if (access(o.mlsgated, X_OK) != 0 || access(o.mlsgatectl, X_OK) != 0) {
    fprintf(stderr,
            "bench/http: needs %s and %s (make mlsgated mlsgatectl, or "
            "--mlsgated PATH --mlsgatectl PATH)\n",
            o.mlsgated, o.mlsgatectl);
    return 1;
  }
  if (o.h2load && system("h2load --version >/dev/null 2>&1") != 0) {
    printf("h2load not found (Debian nghttp2-client): only our client\n");
    o.h2load = 0;
  }
  if (mg_crypto_init() != 0) {
    fprintf(stderr, "bench/http: crypto initialization failed\n");
    return 1;
  }
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  signal(SIGPIPE, SIG_IGN);

  const char *tmpdir = getenv("TMPDIR");
  snprintf(w.de.dir, sizeof(w.de.dir), "%s/mlsgate-bench-http.XXXXXX",
           tmpdir && *tmpdir ? tmpdir : "/tmp");
  if (mkdtemp(w.de.dir) == NULL) {
    fprintf(stderr, "bench/http: mkdtemp: %s\n", strerror(errno));
    return 1;
  }
  snprintf(w.de.store, sizeof(w.de.store), "%s/store", w.de.dir);
  snprintf(w.de.log, sizeof(w.de.log), "%s/daemon.log", w.de.dir);
  {
    char *la = read_file("/proc/loadavg", NULL);
    printf("bench/http: mlsgated over HTTP/2 (h2c, loopback) against the "
           "engine in process and one fsync per message, same run.\n"
           "%d conversations, 1 KiB plaintexts, suite %d, best of %d "
           "run%s of ~%.1f s at streams",
           o.conversations, SUITE, o.runs, o.runs == 1 ? "" : "s", o.time);
    for (int i = 0; i < o.num_levels; i++) {
      printf("%s%d", i ? "," : " ", o.levels[i]);
    }
    printf("; %ld CPUs online; load average %.*s; temp dir %s\n",
           sysconf(_SC_NPROCESSORS_ONLN),
           la ? (int)strcspn(la, " \n") : 1, la ? la : "?", w.de.dir);
    free(la);
    fflush(stdout);
  }

  /* 1. baselines (round 1) */
  fs_dir = xprintf("%s/fsync-store", w.de.dir);
  kek = xprintf("%s/fsync-kek", w.de.dir);
  {
    mg_ks_options so;
    memset(&so, 0, sizeof(so));
    so.dir = fs_dir;
    so.kek_path = kek;
    so.kek_fd = -1;
    so.create = 1;
    fx.ctx.actor = "bench";
    fx.ctx.now = (uint64_t)time(NULL);
    memset(fx.content, 0x61, sizeof(fx.content));
    if (mg_kv_kek_generate(kek) != 0 || mg_ks_open(&fx.ks, &so) != 0) {
      FAIL("cannot create the fsync-per-message store in %s", fs_dir);
      goto done;
    }
  }
  if (pair_setup(&pr) != 0) {
    FAIL("cannot build the in-process 2-member group");
    goto done;
  }
  if (baseline_round(&pr, &fx, &o, &b, 0) != 0) {
    goto done;
  }

  /* 2, 3. daemon and setup */
  w.nconv = o.conversations;
  w.convs = calloc((size_t)w.nconv, sizeof(conv));
  {
    uint8_t pt[APP_LEN];
    memset(pt, 0x61, sizeof(pt));
    w.plain_b64 = xmalloc(MG_BASE64_ENCODED_LEN(APP_LEN) + 1);
    mg_base64_encode(w.plain_b64, pt, sizeof(pt));
    w.enc_body = xprintf("{\"plaintext\":\"%s\"}", w.plain_b64);
  }
  if (w.convs == NULL || daemon_start(&w.de, &o) != 0) {
    goto done;
  }
  printf("mlsgated pid %d on 127.0.0.1:%d\n", (int)w.de.pid, w.de.port);
  fflush(stdout);
  if (setup_world(&w) != 0) {
    goto done;
  }
  {
    fig warm;
    memset(&warm, 0, sizeof(warm));
    snprintf(warm.name, sizeof(warm.name), "encrypt warm-up");
    if (encrypt_run(&w, &o, SETUP_STREAMS, 1, 0, &warm) != 0 || !warm.valid) {
      FAIL("the warm-up encrypts failed");
      goto done;
    }
    printf("warm-up: one encrypt per conversation at %d streams:\n",
           SETUP_STREAMS);
    fig_print(&warm);
  }

  /* 4. encrypt, our client (runs interleaved over the levels, best kept) */
  printf("encrypt, our client (POST .../encrypt round-robin over %d "
         "conversations):\n",
         w.nconv);
  for (int r = 0; r < o.runs; r++) {
    for (int i = 0; i < o.num_levels; i++) {
      fig cur;
      memset(&cur, 0, sizeof(cur));
      cur.streams = o.levels[i];
      snprintf(cur.name, sizeof(cur.name), "encrypt h2 ours m=%d",
               o.levels[i]);
      int last = r == o.runs - 1 && i == o.num_levels - 1;
      double before = adjacent_protect(&pr);
      if (encrypt_run(&w, &o, o.levels[i], 0, last, &cur) != 0) {
        goto done;
      }
      cur.adj_protect = (before + adjacent_protect(&pr)) / 2;
      fig_print(&cur);
      keep_best(&figs[i], &cur, r == 0);
    }
  }
  nf = (size_t)o.num_levels;

  /* 5. decrypt, our client */
  decrypt_order(&w);
  printf("decrypt, our client (%zu messages, each POSTed once to bob's "
         "conversation, in generation order):\n",
         w.nmsgs);
  {
    fig warm;
    memset(&warm, 0, sizeof(warm));
    snprintf(warm.name, sizeof(warm.name), "decrypt warm-up");
    if (decrypt_run(&w, &o, SETUP_STREAMS, 1, 0, &warm) != 0 || !warm.valid) {
      FAIL("the warm-up decrypts failed");
      goto done;
    }
    fig_print(&warm);
  }
  for (int r = 0; r < o.runs; r++) {
    for (int i = 0; i < o.num_levels; i++) {
      fig cur;
      memset(&cur, 0, sizeof(cur));
      cur.streams = o.levels[i];
      cur.op = 1;
      snprintf(cur.name, sizeof(cur.name), "decrypt h2 ours m=%d",
               o.levels[i]);
      int last = r == o.runs - 1 && i == o.num_levels - 1;
      if (decrypt_run(&w, &o, o.levels[i], 0, last, &cur) != 0) {
        goto done;
      }
      fig_print(&cur);
      keep_best(&figs[nf + (size_t)i], &cur, r == 0);
    }
  }
  nf += (size_t)o.num_levels;

  /* 5b. the HTTP/2 floor: GET /v1/health at the highest level */
  {
    fig *f = &figs[nf];
    memset(f, 0, sizeof(*f));
    f->op = 2;
    for (int i = 0; i < o.num_levels; i++) {
      f->streams = o.levels[i] > f->streams ? o.levels[i] : f->streams;
    }
    snprintf(f->name, sizeof(f->name), "health h2 ours m=%d", f->streams);
    if (floor_run(&w, &o, f->streams, f) != 0) {
      goto done;
    }
    printf("the HTTP/2 floor (GET /v1/health, no token, no store):\n");
    fig_print(f);
    nf++;
  }

  /* 6. encrypt, h2load */
  if (o.h2load) {
    printf("encrypt, h2load (same URIs and body):\n");
    for (int r = 0; r < o.runs; r++) {
      for (int i = 0; i < o.num_levels; i++) {
        fig cur;
        memset(&cur, 0, sizeof(cur));
        cur.streams = o.levels[i];
        cur.h2load = 1;
        snprintf(cur.name, sizeof(cur.name), "encrypt h2load m=%d",
                 o.levels[i]);
        long n = (long)(figs[i].rate * o.time);
        if (n < 200) {
          n = 200;
        }
        if (n > o.max_requests) {
          n = o.max_requests;
        }
        double before = adjacent_protect(&pr);
        if (h2load_run(&w, o.levels[i], n, &cur) != 0) {
          goto done;
        }
        cur.adj_protect = (before + adjacent_protect(&pr)) / 2;
        fig_print(&cur);
        keep_best(&figs[nf + (size_t)i], &cur, r == 0);
      }
    }
    nf += (size_t)o.num_levels;
  }
  {
    int st = daemon_stop(&w.de);
    if (st != 0) {
      FAIL("mlsgated exited with status %d after SIGTERM", st);
    }
  }
  /* baselines, round 2 */
  if (baseline_round(&pr, &fx, &o, &b, 1) != 0) {
    goto done;
  }
  print_table(&b, figs, nf);

done:
  if (w.de.pid > 0) {
    (void)daemon_stop(&w.de);
  }
  pair_free(&pr);
  mg_ks_close(fx.ks);
  for (int i = 0; i < w.nconv && w.convs != NULL; i++) {
    free(w.convs[i].a_id);
    free(w.convs[i].b_id);
    free(w.convs[i].enc_path);
    free(w.convs[i].dec_path);
  }
  free(w.convs);
  for (size_t i = 0; i < w.nmsgs; i++) {
    free(w.msgs[i].body);
  }
  free(w.msgs);
  free(w.order);
  free(w.enc_body);
  free(w.plain_b64);
  free(fs_dir);
  free(kek);
  if (g_interrupted) {
    printf("interrupted\n");
    g_failed = 1;
  } else if (g_failed) {
    printf("FAILED: see stderr%s\n",
           o.keep ? "" : " (the daemon's log is in the temp dir with --keep)");
  }
  if (o.keep) {
    printf("kept %s\n", w.de.dir);
  } else {
    rm_rf(w.de.dir);
  }
  printf("total %.0f s\n", bench_now_sec() - t_start);
  return g_failed ? 1 : 0;
}
