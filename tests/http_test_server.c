/*
 * A tiny program around the HTTP/2 server (src/api/server.c) for the tests
 * (tests/http.sh, tests/http_abuse.sh): it prints its bound address on
 * stdout (one line, "ADDR:PORT"), logs JSON lines on stderr, and stops
 * gracefully on SIGTERM or SIGINT.
 *
 * Routes of its handler:
 *   GET  /health            200 {"status":"ok"}
 *   POST /echo              200 {"len":N} (the body's length)
 *   POST /echo?raw=1        200, the body itself
 *   GET  /sleep?ms=N        holds a worker N ms, then 200 {"slept":N}
 *   GET  /big[?n=BYTES]     200, BYTES (default 1 MiB) of 'x'
 *   GET  /headers           200 {"num_headers":N}
 *   GET  /whoami            200 {"subject":"..."} (client certificate)
 *   GET  /id                200 {"request_id":"..."}
 *   anything else           404 problem+json
 *
 * Options: --listen ADDR:PORT (default 127.0.0.1:0), --tls-cert F,
 * --tls-key F, --client-ca F, and the limits --workers N, --max-queued N,
 * --max-body N, --max-header-bytes N, --max-headers N, --max-streams N,
 * --max-connections N, --idle-ms N, --header-timeout-ms N, --grace-ms N,
 * --debug (debug log lines).
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/http.h"
#include "api/log.h"

static mg_http_server *g_server;

static void on_signal(int sig) {
  (void)sig;
  if (g_server != NULL) {
    mg_http_server_stop(g_server);
  }
}

static long query_long(const char *query, const char *key, long dflt) {
  size_t kl = strlen(key);
  for (const char *p = query; p != NULL && *p != '\0';) {
    if (strncmp(p, key, kl) == 0 && p[kl] == '=') {
      return strtol(p + kl + 1, NULL, 10);
    }
    p = strchr(p, '&');
    if (p != NULL) {
      p++;
    }
  }
  return dflt;
}

/* json_body answers |status| with |text| as application/json. */
static void json_body(mg_http_response *resp, int status, const char *text) {
  size_t len = strlen(text);
  resp->status = status;
  resp->content_type = "application/json";
  resp->body = malloc(len + 1);
  if (resp->body != NULL) {
    memcpy(resp->body, text, len);
    resp->body_len = len;
  }
}

static void handler(void *arg, const mg_http_request *req,
                    mg_http_response *resp) {
  (void)arg;
  char buf[512];
  if (strcmp(req->path, "/health") == 0) {
    json_body(resp, 200, "{\"status\":\"ok\"}");
  } else if (strcmp(req->path, "/echo") == 0) {
    if (query_long(req->query, "raw", 0) != 0) {
      resp->status = 200;
      resp->content_type = "application/octet-stream";
      resp->body = malloc(req->body_len ? req->body_len : 1);
      if (resp->body != NULL) {
        memcpy(resp->body, req->body, req->body_len);
        resp->body_len = req->body_len;
      }
    } else {
      snprintf(buf, sizeof buf, "{\"len\":%zu}", req->body_len);
      json_body(resp, 200, buf);
    }
  } else if (strcmp(req->path, "/sleep") == 0) {
    long ms = query_long(req->query, "ms", 100);
    if (ms < 0 || ms > 60000) {
      ms = 100;
    }
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    snprintf(buf, sizeof buf, "{\"slept\":%ld}", ms);
    json_body(resp, 200, buf);
  } else if (strcmp(req->path, "/big") == 0) {
    long n = query_long(req->query, "n", 1024 * 1024);
    if (n < 0 || n > 64L * 1024 * 1024) {
      n = 1024 * 1024;
    }
    resp->status = 200;
    resp->content_type = "application/octet-stream";
    resp->body = malloc((size_t)n + 1);
    if (resp->body != NULL) {
      memset(resp->body, 'x', (size_t)n);
      resp->body_len = (size_t)n;
    }
  } else if (strcmp(req->path, "/headers") == 0) {
    snprintf(buf, sizeof buf, "{\"num_headers\":%zu}", req->num_headers);
    json_body(resp, 200, buf);
  } else if (strcmp(req->path, "/whoami") == 0) {
    /* Test certificates' subjects hold no quotes or backslashes. */
    snprintf(buf, sizeof buf, "{\"subject\":\"%s\"}",
             req->client_subject ? req->client_subject : "");
    json_body(resp, 200, buf);
  } else if (strcmp(req->path, "/id") == 0) {
    snprintf(buf, sizeof buf, "{\"request_id\":\"%s\"}", req->request_id);
    json_body(resp, 200, buf);
  } else {
    mg_http_problem(resp, 404, "not_found", "Not found", NULL,
                    req->request_id);
  }
}

int main(int argc, char **argv) {
  mg_http_server_options o;
  mg_http_server_options_default(&o);
  o.listen = "127.0.0.1:0";
  o.handler = handler;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--debug") == 0) {
      mg_log_set_level(MG_LOG_DEBUG);
      continue;
    }
    if (v == NULL) {
      fprintf(stderr, "http_test_server: %s needs a value\n", a);
      return 2;
    }
    i++;
    unsigned long n = strtoul(v, NULL, 10);
    if (strcmp(a, "--listen") == 0) {
      o.listen = v;
    } else if (strcmp(a, "--tls-cert") == 0) {
      o.tls_cert = v;
    } else if (strcmp(a, "--tls-key") == 0) {
      o.tls_key = v;
    } else if (strcmp(a, "--client-ca") == 0) {
      o.client_ca = v;
    } else if (strcmp(a, "--workers") == 0) {
      o.workers = (uint32_t)n;
    } else if (strcmp(a, "--max-queued") == 0) {
      o.max_queued = (uint32_t)n;
    } else if (strcmp(a, "--max-body") == 0) {
      o.max_body = n;
    } else if (strcmp(a, "--max-header-bytes") == 0) {
      o.max_header_bytes = n;
    } else if (strcmp(a, "--max-headers") == 0) {
      o.max_headers = (uint32_t)n;
    } else if (strcmp(a, "--max-streams") == 0) {
      o.max_streams = (uint32_t)n;
    } else if (strcmp(a, "--max-connections") == 0) {
      o.max_connections = (uint32_t)n;
    } else if (strcmp(a, "--idle-ms") == 0) {
      o.idle_timeout_ms = (uint32_t)n;
    } else if (strcmp(a, "--header-timeout-ms") == 0) {
      o.header_timeout_ms = (uint32_t)n;
    } else if (strcmp(a, "--grace-ms") == 0) {
      o.shutdown_grace_ms = (uint32_t)n;
    } else {
      fprintf(stderr, "http_test_server: unknown option %s\n", a);
      return 2;
    }
  }
  mg_http_server *s = NULL;
  int rc = mg_http_server_new(&s, &o);
  if (rc < 0) {
    fprintf(stderr, "http_test_server: %s\n", mg_strerror(rc));
    return 1;
  }
  g_server = s;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  printf("%s\n", mg_http_server_address(s));
  fflush(stdout);
  rc = mg_http_server_run(s);
  mg_http_stats st;
  mg_http_server_stats(s, &st);
  char buf[8][24];
  snprintf(buf[0], sizeof buf[0], "%llu",
           (unsigned long long)st.connections_total);
  snprintf(buf[1], sizeof buf[1], "%llu",
           (unsigned long long)st.connections_rejected);
  snprintf(buf[2], sizeof buf[2], "%llu",
           (unsigned long long)st.streams_reset_by_peer);
  snprintf(buf[3], sizeof buf[3], "%llu",
           (unsigned long long)st.requests_rejected_overload);
  snprintf(buf[4], sizeof buf[4], "%llu",
           (unsigned long long)st.protocol_errors);
  mg_log(MG_LOG_INFO, "stats", "connections_total", buf[0],
         "connections_rejected", buf[1], "streams_reset_by_peer", buf[2],
         "requests_rejected_overload", buf[3], "protocol_errors", buf[4],
         (char *)NULL);
  g_server = NULL;
  mg_http_server_free(s);
  return rc < 0 ? 1 : 0;
}
