/*
 * mlsgated: the mlsgate service (issue 6).  Opens the keystore, starts the
 * session layer, the API and the HTTP/2 server, and runs until SIGTERM or
 * SIGINT, then shuts down gracefully: stop accepting, finish in-flight
 * requests, flush queued writes, close the store.
 *
 *   mlsgated --store DIR [--kek FILE] [--listen ADDR:PORT]
 *            [--tls-cert F --tls-key F [--client-ca F]] [--config FILE]
 *            [--workers N] [--max-body BYTES] [--rate-limit RPS]
 *            [--log-level debug|info|warn|error]
 *            [--idle-timeout-ms MS] [--header-timeout-ms MS] [--routes]
 *
 * --config FILE is a JSON object with the long options' names as keys
 * ({"listen": "127.0.0.1:8420", "workers": 32}); flags on the command line
 * win.  Exit status: 0 after a clean stop, 1 on a runtime error, 2 on a
 * usage error (man/mlsgated.8).
 *
 * Secrets never reach a core dump (RLIMIT_CORE 0 and PR_SET_DUMPABLE 0 by
 * mg_secmem_disable_dump_for_process; keys live in locked, MADV_DONTDUMP
 * memory), and every block jansson frees (request bodies carrying
 * plaintext, responses) is wiped first.
 */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "api/http.h"
#include "api/log.h"
#include "common/secmem.h"
#include "crypto/crypto.h"
#include "keystore/keystore.h"
#include "session/session.h"

#define ROTATE_PERIOD_S 60

typedef struct opts {
  const char *store, *kek, *listen, *tls_cert, *tls_key, *client_ca, *config;
  const char *log_level;
  long workers, max_body, idle_ms, header_ms;
  double rate_limit;
  int routes;
  char kek_buf[4096];
} opts;

static mg_http_server *g_server;

static void on_signal(int sig) {
  (void)sig;
  if (g_server != NULL) {
    mg_http_server_stop(g_server);
  }
}

/* jansson allocations carry their size so that they can be wiped. */
static void *json_alloc(size_t n) {
  size_t *p = malloc(sizeof(size_t) + n);
  if (p == NULL) {
    return NULL;
  }
  p[0] = n;
  return p + 1;
}

static void json_release(void *q) {
  size_t *p;
  if (q == NULL) {
    return;
  }
  p = (size_t *)q - 1;
  mg_memzero(p, sizeof(size_t) + p[0]);
  free(p);
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: mlsgated --store DIR [--kek FILE] [--listen ADDR:PORT]\n"
          "                [--tls-cert FILE --tls-key FILE [--client-ca FILE]]"
          "\n                [--config FILE] [--workers N] [--max-body BYTES]"
          "\n                [--rate-limit RPS] [--log-level LEVEL]\n"
          "                [--idle-timeout-ms MS] [--header-timeout-ms MS]\n"
          "       mlsgated --routes\n"
          "Serves the mlsgate HTTP/2 API (docs/api.md).  Defaults: --listen "
          "127.0.0.1:8420,\n--kek DIR/kek, --workers 32, --max-body 1048576, "
          "--rate-limit 1000.\n");
}

static int parse_long(const char *s, long lo, long hi, long *out) {
  char *end = NULL;
  long v;
  errno = 0;
  v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
    return -1;
  }
  *out = v;
  return 0;
}

/* apply_option sets one option by its long name: 0, -1 for a bad value,
 * -2 for an unknown name. */
static int apply_option(opts *o, const char *name, const char *val) {
  long n = 0;
  if (strcmp(name, "store") == 0) {
    o->store = val;
  } else if (strcmp(name, "kek") == 0) {
    o->kek = val;
  } else if (strcmp(name, "listen") == 0) {
    o->listen = val;
  } else if (strcmp(name, "tls-cert") == 0) {
    o->tls_cert = val;
  } else if (strcmp(name, "tls-key") == 0) {
    o->tls_key = val;
  } else if (strcmp(name, "client-ca") == 0) {
    o->client_ca = val;
  } else if (strcmp(name, "log-level") == 0) {
    o->log_level = val;
  } else if (strcmp(name, "workers") == 0) {
    if (parse_long(val, 1, 1024, &n) < 0) {
      return -1;
    }
    o->workers = n;
  } else if (strcmp(name, "max-body") == 0) {
    if (parse_long(val, 1024, 64L << 20, &n) < 0) {
      return -1;
    }
    o->max_body = n;
  } else if (strcmp(name, "idle-timeout-ms") == 0) {
    if (parse_long(val, 100, 86400000L, &n) < 0) {
      return -1;
    }
    o->idle_ms = n;
  } else if (strcmp(name, "header-timeout-ms") == 0) {
    if (parse_long(val, 100, 3600000L, &n) < 0) {
      return -1;
    }
    o->header_ms = n;
  } else if (strcmp(name, "rate-limit") == 0) {
    if (parse_long(val, 0, 10000000, &n) < 0) {
      return -1;
    }
    o->rate_limit = (double)n;
  } else {
    return -2;
  }
  return 0;
}

static int is_numeric_option(const char *name) {
  return strcmp(name, "workers") == 0 || strcmp(name, "max-body") == 0 ||
         strcmp(name, "rate-limit") == 0 ||
         strcmp(name, "idle-timeout-ms") == 0 ||
         strcmp(name, "header-timeout-ms") == 0;
}

/* given_as_flag: was option |name| given on the command line? */
static int given_as_flag(const opts *f, const char *name) {
  return (strcmp(name, "store") == 0 && f->store != NULL) ||
         (strcmp(name, "kek") == 0 && f->kek != NULL) ||
         (strcmp(name, "listen") == 0 && f->listen != NULL) ||
         (strcmp(name, "tls-cert") == 0 && f->tls_cert != NULL) ||
         (strcmp(name, "tls-key") == 0 && f->tls_key != NULL) ||
         (strcmp(name, "client-ca") == 0 && f->client_ca != NULL) ||
         (strcmp(name, "log-level") == 0 && f->log_level != NULL) ||
         (strcmp(name, "workers") == 0 && f->workers != 0) ||
         (strcmp(name, "max-body") == 0 && f->max_body != 0) ||
         (strcmp(name, "idle-timeout-ms") == 0 && f->idle_ms != 0) ||
         (strcmp(name, "header-timeout-ms") == 0 && f->header_ms != 0) ||
         (strcmp(name, "rate-limit") == 0 && f->rate_limit >= 0);
}

/* load_config reads --config: a JSON object whose keys are the long
 * options' names; strings for paths and addresses, integers for numbers.
 * Options given as flags win.  The parsed JSON stays alive (*root) since
 * string options point into it. */
static int load_config(opts *o, const opts *flags, json_t **root) {
  json_error_t e;
  const char *key;
  json_t *v;
  *root = json_load_file(o->config, JSON_REJECT_DUPLICATES, &e);
  if (*root == NULL || !json_is_object(*root)) {
    fprintf(stderr, "mlsgated: --config %s: %s (line %d)\n", o->config,
            *root == NULL ? e.text : "not a JSON object", e.line);
    return -1;
  }
  json_object_foreach(*root, key, v) {
    char num[32];
    const char *val;
    int numeric = is_numeric_option(key);
    if (numeric && json_is_integer(v)) {
      snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
      val = num;
    } else if (!numeric && json_is_string(v)) {
      val = json_string_value(v);
    } else {
      fprintf(stderr, "mlsgated: --config: \"%s\" must be %s\n", key,
              numeric ? "an integer" : "a string");
      return -1;
    }
    if (given_as_flag(flags, key)) {
      continue;
    }
    switch (apply_option(o, key, val)) {
      case 0:
        break;
      case -2:
        fprintf(stderr, "mlsgated: --config: unknown option \"%s\"\n", key);
        return -1;
      default:
        fprintf(stderr, "mlsgated: --config: bad value for \"%s\"\n", key);
        return -1;
    }
  }
  return 0;
}

typedef struct rotator {
  mg_keystore *ks;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int stop;
} rotator;

/* The maintenance timer: every ROTATE_PERIOD_S seconds, rotate every
 * identity whose schedule is due (mg_ks_identity_rotate_due audits each)
 * and drop idempotency records past their TTL. */
static void *rotate_main(void *arg) {
  rotator *r = arg;
  pthread_mutex_lock(&r->lock);
  while (!r->stop) {
    struct timespec ts;
    mg_ks_ctx ctx;
    size_t n = 0;
    int rc;
    pthread_mutex_unlock(&r->lock);
    ctx.actor = "daemon";
    ctx.now = (uint64_t)time(NULL);
    rc = mg_ks_identity_rotate_due(r->ks, &ctx, &n);
    if (rc < 0) {
      mg_log(MG_LOG_ERROR, "rotate_due_failed", "error", mg_err_name(rc),
             (char *)NULL);
    } else if (n > 0) {
      char buf[24];
      snprintf(buf, sizeof(buf), "%zu", n);
      mg_log(MG_LOG_INFO, "keys_rotated", "count", buf, (char *)NULL);
    }
    /* Idempotency records past their TTL. */
    {
      uint64_t pruned = 0;
      rc = mg_ks_idem_prune(r->ks, ctx.now, 0, &pruned);
      if (rc < 0) {
        mg_log(MG_LOG_WARN, "idempotency_prune_failed", "error",
               mg_err_name(rc), (char *)NULL);
      }
    }
    pthread_mutex_lock(&r->lock);
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ROTATE_PERIOD_S;
    while (!r->stop &&
           pthread_cond_timedwait(&r->cond, &r->lock, &ts) != ETIMEDOUT) {
    }
  }
  pthread_mutex_unlock(&r->lock);
  return NULL;
}

int main(int argc, char **argv) {
  opts o, flags;
  json_t *config = NULL;
  mg_keystore *ks = NULL;
  mg_session *sess = NULL;
  mg_api *api = NULL;
  mg_http_server *srv = NULL;
  mg_http_server_options so;
  mg_ks_options ko;
  mg_api_options ao;
  rotator rot;
  pthread_t rot_thread;
  int rot_started = 0, status = 1, i, rc;
  struct sigaction sa;

  /* Before any JSON is parsed: every block jansson frees is wiped. */
  json_set_alloc_funcs(json_alloc, json_release);
  memset(&o, 0, sizeof(o));
  o.rate_limit = -1;
  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--routes") == 0) {
      o.routes = 1;
      continue;
    }
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return 0;
    }
    if (strcmp(a, "--config") == 0 && i + 1 < argc) {
      o.config = argv[++i];
      continue;
    }
    if (strncmp(a, "--", 2) == 0 && i + 1 < argc) {
      rc = apply_option(&o, a + 2, argv[i + 1]);
      if (rc == 0) {
        i++;
        continue;
      }
      fprintf(stderr, rc == -2 ? "mlsgated: unknown option %s\n"
                               : "mlsgated: bad value for %s\n",
              a);
      usage(stderr);
      return 2;
    }
    fprintf(stderr, "mlsgated: unexpected argument %s\n", a);
    usage(stderr);
    return 2;
  }
  if (o.routes) {
    mg_api_print_routes(stdout);
    return 0;
  }
  flags = o;
  if (o.config != NULL && load_config(&o, &flags, &config) < 0) {
    json_decref(config);
    return 2;
  }
  if (o.store == NULL) {
    fprintf(stderr, "mlsgated: --store DIR is required\n");
    usage(stderr);
    json_decref(config);
    return 2;
  }
  if ((o.tls_cert == NULL) != (o.tls_key == NULL) ||
      (o.client_ca != NULL && o.tls_cert == NULL)) {
    fprintf(stderr, "mlsgated: --tls-cert and --tls-key go together; "
                    "--client-ca needs them\n");
    json_decref(config);
    return 2;
  }
  if (o.log_level != NULL) {
    if (strcmp(o.log_level, "debug") == 0) {
      mg_log_set_level(MG_LOG_DEBUG);
    } else if (strcmp(o.log_level, "info") == 0) {
      mg_log_set_level(MG_LOG_INFO);
    } else if (strcmp(o.log_level, "warn") == 0) {
      mg_log_set_level(MG_LOG_WARN);
    } else if (strcmp(o.log_level, "error") == 0) {
      mg_log_set_level(MG_LOG_ERROR);
    } else {
      fprintf(stderr, "mlsgated: --log-level is debug, info, warn or error\n");
      json_decref(config);
      return 2;
    }
  }
  if (o.kek == NULL) {
    snprintf(o.kek_buf, sizeof(o.kek_buf), "%s/kek", o.store);
    o.kek = o.kek_buf;
  }

  if (mg_crypto_init() < 0 || mg_secmem_disable_dump_for_process() < 0) {
    mg_log(MG_LOG_ERROR, "startup_failed", "reason",
           "crypto initialization or core-dump protection failed",
           (char *)NULL);
    goto out;
  }
  memset(&ko, 0, sizeof(ko));
  ko.dir = o.store;
  ko.kek_path = o.kek;
  ko.kek_fd = -1;
  rc = mg_ks_open(&ks, &ko);
  if (rc < 0) {
    mg_log(MG_LOG_ERROR, "store_open_failed", "store", o.store, "error",
           mg_err_name(rc), "hint",
           rc == MG_ERR_NOT_FOUND ? "create it with mlsgatectl init"
                                  : mg_strerror(rc),
           (char *)NULL);
    goto out;
  }
  rc = mg_session_new(&sess, ks, NULL);
  if (rc < 0) {
    mg_log(MG_LOG_ERROR, "session_failed", "error", mg_err_name(rc),
           (char *)NULL);
    goto out;
  }
  mg_api_options_default(&ao);
  if (o.rate_limit >= 0) {
    ao.rate_limit_rps = o.rate_limit;
  }
  rc = mg_api_new(&api, ks, sess, &ao);
  if (rc < 0) {
    goto out;
  }
  mg_http_server_options_default(&so);
  if (o.listen != NULL) {
    so.listen = o.listen;
  }
  so.tls_cert = o.tls_cert;
  so.tls_key = o.tls_key;
  so.client_ca = o.client_ca;
  if (o.workers > 0) {
    so.workers = (uint32_t)o.workers;
  }
  if (o.max_body > 0) {
    so.max_body = (size_t)o.max_body;
  }
  if (o.idle_ms > 0) {
    so.idle_timeout_ms = (uint32_t)o.idle_ms;
  }
  if (o.header_ms > 0) {
    so.header_timeout_ms = (uint32_t)o.header_ms;
  }
  so.handler = mg_api_handle;
  so.done = mg_api_done;
  so.arg = api;
  rc = mg_http_server_new(&srv, &so);
  if (rc < 0) {
    mg_log(MG_LOG_ERROR, "listen_failed", "address", so.listen, "error",
           mg_err_name(rc), (char *)NULL);
    goto out;
  }
  mg_api_set_server(api, srv);

  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  g_server = srv;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  /* A write past a file-size limit (RLIMIT_FSIZE) fails with EFBIG and the
   * store reports it (503 store_unavailable, nothing changed) instead of
   * the signal killing the daemon. */
  signal(SIGXFSZ, SIG_IGN);

  memset(&rot, 0, sizeof(rot));
  rot.ks = ks;
  pthread_mutex_init(&rot.lock, NULL);
  pthread_cond_init(&rot.cond, NULL);
  if (pthread_create(&rot_thread, NULL, rotate_main, &rot) == 0) {
    rot_started = 1;
  }

  /* Access lines are written once per turn of the server's event loop,
   * not one write(2) each (log.h); from here to the loop's end. */
  mg_log_set_buffered(1);
  rc = mg_http_server_run(srv);
  mg_log_set_buffered(0);
  g_server = NULL;
  status = rc < 0 ? 1 : 0;

  if (rot_started) {
    pthread_mutex_lock(&rot.lock);
    rot.stop = 1;
    pthread_cond_signal(&rot.cond);
    pthread_mutex_unlock(&rot.lock);
    pthread_join(rot_thread, NULL);
  }
  pthread_mutex_destroy(&rot.lock);
  pthread_cond_destroy(&rot.cond);
out:
  mg_http_server_free(srv);
  mg_api_free(api);
  mg_session_free(sess); /* flushes queued writes */
  mg_ks_close(ks);
  json_decref(config);
  if (status == 0) {
    mg_log(MG_LOG_NOTICE, "stopped", (char *)NULL);
  }
  return status;
}
