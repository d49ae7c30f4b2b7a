/*
 * Tests of the HTTP/2 server core (src/api/server.c, http.h) and of the
 * JSON-lines log (src/api/log.c), in process, so that they also run under
 * valgrind (VALGRIND_SUITES):
 *  - log: every line is one JSON object (parsed back with jansson) with an
 *    ISO 8601 UTC timestamp with milliseconds; quotes, backslashes and
 *    control characters in names and values are escaped; an oversized
 *    value is cut and the line stays JSON; lines below the level are
 *    dropped;
 *  - problems: mg_http_problem's RFC 9457 body (type, title, status, code,
 *    detail, request_id), escaped, parsed back;
 *  - options and mg_http_server_new's errors: no handler, malformed or
 *    non-numeric addresses, a port out of range, a certificate without a
 *    key, a certificate file that does not exist (MG_ERR_IO); port 0 binds
 *    a free port;
 *  - round trips with an nghttp2 client over loopback against the server
 *    run on a thread: status, body, content-type, x-request-id (32 hex
 *    digits, the request's), extra headers, a POST body, the query split
 *    off the path, the done callback; 413 on a declared content-length over
 *    max_body; 503 overloaded with retry-after past max_queued; a stream
 *    reset and a connection closed while their handler runs (the
 *    completions find nothing and are freed), a stream reset while its
 *    request is queued (dropped, never run); 503 once request bodies
 *    buffered reach max_total_body; max_connections; requests of a peer
 *    that does not read wait once its connection holds max_conn_output
 *    (and get 503 shutting_down on stop); a graceful stop while a
 *    handler runs (its response still arrives, run() returns 0) and the
 *    stats counters.
 * The shell tests (tests/http.sh, tests/http_abuse.sh) drive the same
 * server with curl, nghttp, h2load and raw frames.
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api/http.h"
#include "api/log.h"

/* ------------------------------------------------------------------ log */

/* read_lines captures what mg_log writes through a pipe. */
static size_t read_pipe(int fd, char *buf, size_t cap) {
  size_t len = 0;
  struct pollfd p = {.fd = fd, .events = POLLIN};
  while (len + 1 < cap && poll(&p, 1, 100) > 0) {
    ssize_t n = read(fd, buf + len, cap - 1 - len);
    if (n <= 0) {
      break;
    }
    len += (size_t)n;
  }
  buf[len] = '\0';
  return len;
}

START_TEST(test_log_lines) {
  int p[2];
  ck_assert_int_eq(pipe(p), 0);
  mg_log_set_fd(p[1]);
  mg_log_set_level(MG_LOG_INFO);
  mg_log(MG_LOG_INFO, "listening", "address", "127.0.0.1:1", "tls", "off",
         (char *)NULL);
  mg_log(MG_LOG_DEBUG, "dropped", (char *)NULL);
  mg_log(MG_LOG_WARN, "we\"ird\\", "k\n", "a\"b\\c\n\t\r\x01\x1f\x7f end",
         (char *)NULL);
  static char buf[65536];
  size_t len = read_pipe(p[0], buf, sizeof buf);
  ck_assert_uint_gt(len, 0);
  char *line2 = strchr(buf, '\n');
  ck_assert_ptr_nonnull(line2);
  *line2++ = '\0';
  char *end = strchr(line2, '\n');
  ck_assert_ptr_nonnull(end);
  *end = '\0';
  ck_assert_str_eq(end + 1, ""); /* the debug line was dropped */

  json_error_t err;
  json_t *j = json_loads(buf, 0, &err);
  ck_assert_msg(j != NULL, "not JSON: %s", buf);
  ck_assert_str_eq(json_string_value(json_object_get(j, "level")), "info");
  ck_assert_str_eq(json_string_value(json_object_get(j, "event")),
                   "listening");
  ck_assert_str_eq(json_string_value(json_object_get(j, "address")),
                   "127.0.0.1:1");
  const char *ts = json_string_value(json_object_get(j, "ts"));
  ck_assert_ptr_nonnull(ts);
  /* 2026-11-27T16:00:00.123Z */
  ck_assert_uint_eq(strlen(ts), 24);
  ck_assert_int_eq(ts[4], '-');
  ck_assert_int_eq(ts[10], 'T');
  ck_assert_int_eq(ts[19], '.');
  ck_assert_int_eq(ts[23], 'Z');
  json_decref(j);

  j = json_loads(line2, 0, &err);
  ck_assert_msg(j != NULL, "not JSON: %s", line2);
  ck_assert_str_eq(json_string_value(json_object_get(j, "level")), "warn");
  ck_assert_str_eq(json_string_value(json_object_get(j, "event")),
                   "we\"ird\\");
  ck_assert_str_eq(json_string_value(json_object_get(j, "k\n")),
                   "a\"b\\c\n\t\r\x01\x1f\x7f end");
  json_decref(j);
  /* No raw control character on the line. */
  for (const char *q = line2; *q; q++) {
    ck_assert_int_ge((unsigned char)*q, 0x20);
  }

  /* An oversized value is cut, and the line is still one JSON object. */
  char *big = malloc(20000);
  memset(big, '"', 19999);
  big[19999] = '\0';
  mg_log(MG_LOG_ERROR, "big", "before", "x", "v", big, "after", "y",
         (char *)NULL);
  free(big);
  len = read_pipe(p[0], buf, sizeof buf);
  ck_assert_uint_gt(len, 0);
  ck_assert_uint_le(len, 4096);
  ck_assert_int_eq(buf[len - 1], '\n');
  buf[len - 1] = '\0';
  j = json_loads(buf, 0, &err);
  ck_assert_msg(j != NULL, "cut line not JSON: %s", buf);
  ck_assert_str_eq(json_string_value(json_object_get(j, "before")), "x");
  const char *v = json_string_value(json_object_get(j, "v"));
  ck_assert_ptr_nonnull(v);
  ck_assert_uint_gt(strlen(v), 1000);
  ck_assert_str_eq(v + strlen(v) - 3, "...");
  json_decref(j);

  mg_log_set_level(MG_LOG_DEBUG);
  mg_log(MG_LOG_DEBUG, "now", (char *)NULL);
  len = read_pipe(p[0], buf, sizeof buf);
  ck_assert_ptr_nonnull(strstr(buf, "\"event\":\"now\""));
  mg_log_set_level(MG_LOG_WARN);
  mg_log_set_fd(2);
  close(p[0]);
  close(p[1]);
}
END_TEST

/* Buffered lines: info lines wait for mg_log_flush (or a full buffer), a
 * warn line goes out at once behind them, in order; turning buffering off
 * writes what is left. */
START_TEST(test_log_buffered) {
  int p[2];
  static char buf[65536];
  ck_assert_int_eq(pipe(p), 0);
  mg_log_set_fd(p[1]);
  mg_log_set_level(MG_LOG_INFO);
  mg_log_set_buffered(1);
  mg_log(MG_LOG_INFO, "one", (char *)NULL);
  mg_log(MG_LOG_INFO, "two", (char *)NULL);
  ck_assert_uint_eq(read_pipe(p[0], buf, sizeof buf), 0); /* held */
  mg_log_flush();
  size_t len = read_pipe(p[0], buf, sizeof buf);
  ck_assert_ptr_nonnull(strstr(buf, "\"event\":\"one\""));
  ck_assert_ptr_nonnull(strstr(buf, "\"event\":\"two\""));
  ck_assert(strstr(buf, "\"one\"") < strstr(buf, "\"two\""));
  ck_assert_int_eq(buf[len - 1], '\n');
  mg_log_flush(); /* nothing left: nothing written */
  ck_assert_uint_eq(read_pipe(p[0], buf, sizeof buf), 0);

  /* A warn line is not held, and what was held goes before it. */
  mg_log(MG_LOG_INFO, "three", (char *)NULL);
  mg_log(MG_LOG_WARN, "four", (char *)NULL);
  len = read_pipe(p[0], buf, sizeof buf);
  ck_assert_ptr_nonnull(strstr(buf, "\"three\""));
  ck_assert_ptr_nonnull(strstr(buf, "\"four\""));
  ck_assert(strstr(buf, "\"three\"") < strstr(buf, "\"four\""));

  /* A full buffer is written without waiting for a flush: 40 lines of
   * ~1 KiB are more than it holds; every line arrives whole, in order. */
  char *val = malloc(1001);
  memset(val, 'v', 1000);
  val[1000] = '\0';
  for (int i = 0; i < 40; i++) {
    char n[16];
    snprintf(n, sizeof n, "%d", i);
    mg_log(MG_LOG_INFO, "fill", "i", n, "v", val, (char *)NULL);
  }
  len = read_pipe(p[0], buf, sizeof buf);
  ck_assert_uint_gt(len, 10000); /* some went out unflushed */
  ck_assert_uint_lt(len, 40 * 1000);
  mg_log_set_buffered(0); /* the rest */
  len += read_pipe(p[0], buf + len, sizeof buf - len);
  buf[len] = '\0';
  int lines = 0;
  for (char *q = buf, *e; (e = strchr(q, '\n')) != NULL; q = e + 1) {
    *e = '\0';
    json_error_t err;
    json_t *j = json_loads(q, 0, &err);
    ck_assert_msg(j != NULL, "not JSON: %.80s", q);
    char want[16];
    snprintf(want, sizeof want, "%d", lines);
    ck_assert_str_eq(json_string_value(json_object_get(j, "i")), want);
    json_decref(j);
    lines++;
  }
  ck_assert_int_eq(lines, 40);
  free(val);

  /* Unbuffered again: written at once. */
  mg_log(MG_LOG_INFO, "five", (char *)NULL);
  len = read_pipe(p[0], buf, sizeof buf);
  ck_assert_ptr_nonnull(strstr(buf, "\"five\""));
  mg_log_set_level(MG_LOG_WARN);
  mg_log_set_fd(2);
  close(p[0]);
  close(p[1]);
}
END_TEST

/* ------------------------------------------------------------- problems */

START_TEST(test_problem) {
  mg_http_response r;
  memset(&r, 0, sizeof r);
  mg_http_problem(&r, 413, "body_too_large", "Request body too large",
                  "max \"1\" MiB\n", "00112233445566778899aabbccddeeff");
  ck_assert_int_eq(r.status, 413);
  ck_assert_str_eq(r.content_type, "application/problem+json");
  ck_assert_ptr_nonnull(r.body);
  json_error_t err;
  json_t *j = json_loadb((const char *)r.body, r.body_len, 0, &err);
  ck_assert_msg(j != NULL, "not JSON: %.*s", (int)r.body_len, r.body);
  ck_assert_str_eq(json_string_value(json_object_get(j, "type")),
                   "https://mlsgate.dev/problems/body_too_large");
  ck_assert_str_eq(json_string_value(json_object_get(j, "title")),
                   "Request body too large");
  ck_assert_int_eq(json_integer_value(json_object_get(j, "status")), 413);
  ck_assert_str_eq(json_string_value(json_object_get(j, "code")),
                   "body_too_large");
  ck_assert_str_eq(json_string_value(json_object_get(j, "detail")),
                   "max \"1\" MiB\n");
  ck_assert_str_eq(json_string_value(json_object_get(j, "request_id")),
                   "00112233445566778899aabbccddeeff");
  json_decref(j);

  /* A second call replaces the body; no detail, no request ID. */
  mg_http_problem(&r, 503, "overloaded", "Too busy", NULL, NULL);
  j = json_loadb((const char *)r.body, r.body_len, 0, &err);
  ck_assert_ptr_nonnull(j);
  ck_assert_int_eq(json_integer_value(json_object_get(j, "status")), 503);
  ck_assert_ptr_null(json_object_get(j, "detail"));
  ck_assert_ptr_null(json_object_get(j, "request_id"));
  json_decref(j);
  free(r.body);
}
END_TEST

/* -------------------------------------------------------------- handler */

static atomic_int handler_calls;
static atomic_int done_calls;
static atomic_int last_done_status;
static atomic_int slow_started;
/* The path and query of the last 413 the done callback saw (read by the
 * test after the server thread is joined). */
static char done_413_path[64], done_413_query[64];

/* Deferred answers: "/defer-now" finishes before its handler returns,
 * "/defer-later" from another thread 50 ms later. */
static void *finish_later(void *arg) {
  mg_http_deferred *d = arg;
  struct timespec ts = {0, 50 * 1000000L};
  nanosleep(&ts, NULL);
  mg_http_response *resp = mg_http_deferred_response(d);
  const mg_http_request *req = mg_http_deferred_request(d);
  char buf[64];
  int n = snprintf(buf, sizeof buf, "later %s", req->path);
  resp->status = 202;
  resp->content_type = "text/plain";
  resp->body = malloc((size_t)n);
  if (resp->body != NULL) {
    memcpy(resp->body, buf, (size_t)n);
    resp->body_len = (size_t)n;
  }
  mg_http_finish(d);
  return NULL;
}

static void test_handler(void *arg, const mg_http_request *req,
                         mg_http_response *resp) {
  (void)arg;
  atomic_fetch_add(&handler_calls, 1);
  char buf[512];
  int n;
  if (strcmp(req->path, "/defer-later") == 0) {
    mg_http_deferred *d = mg_http_defer(req);
    pthread_t th;
    if (pthread_create(&th, NULL, finish_later, d) == 0) {
      pthread_detach(th);
    } else {
      finish_later(d);
    }
    return; /* |resp| is the other thread's now */
  }
  if (strcmp(req->path, "/defer-now") == 0) {
    mg_http_deferred *d = mg_http_defer(req);
    resp->status = 201;
    mg_http_finish(d);
    return;
  }
  if (strcmp(req->path, "/hello") == 0) {
    n = snprintf(buf, sizeof buf, "hello %s %s q=%s h=%zu id=%s",
                 req->method, req->path, req->query ? req->query : "-",
                 req->num_headers, req->request_id);
    /* Upper case on purpose: the server lowers it (RFC 9113 §8.2.1). */
    snprintf(resp->extra[0].name, sizeof resp->extra[0].name, "X-Test");
    snprintf(resp->extra[0].value, sizeof resp->extra[0].value, "yes");
    resp->num_extra = 1;
  } else if (strcmp(req->path, "/echo") == 0) {
    n = snprintf(buf, sizeof buf, "len=%zu first=%c", req->body_len,
                 req->body_len ? req->body[0] : '-');
  } else if (strcmp(req->path, "/slow") == 0) {
    atomic_fetch_add(&slow_started, 1);
    struct timespec ts = {0, 400 * 1000000L};
    nanosleep(&ts, NULL);
    n = snprintf(buf, sizeof buf, "slow done");
  } else {
    mg_http_problem(resp, 404, "not_found", "Not found", NULL,
                    req->request_id);
    return;
  }
  resp->status = 200;
  resp->content_type = "text/plain";
  resp->body = malloc((size_t)n);
  if (resp->body != NULL) { /* no ck_assert off the test's thread */
    memcpy(resp->body, buf, (size_t)n);
    resp->body_len = (size_t)n;
  }
}

static void test_done(void *arg, const mg_http_request *req, int status,
                      int tag, uint64_t latency_ns) {
  (void)arg;
  (void)tag;
  (void)latency_ns;
  if (req->method == NULL || strlen(req->request_id) != 32) {
    status = -1; /* seen by the test as a wrong status */
  }
  if (status == 413) {
    snprintf(done_413_path, sizeof done_413_path, "%s", req->path);
    snprintf(done_413_query, sizeof done_413_query, "%s",
             req->query ? req->query : "");
  }
  atomic_store(&last_done_status, status);
  atomic_fetch_add(&done_calls, 1);
}

/* --------------------------------------------------------------- server */

typedef struct srv {
  mg_http_server *s;
  pthread_t th;
  int rc;
  char host[64];
  int port;
} srv;

static void *srv_main(void *arg) {
  srv *v = arg;
  v->rc = mg_http_server_run(v->s);
  return NULL;
}

static void srv_start(srv *v, mg_http_server_options *o) {
  memset(v, 0, sizeof *v);
  o->handler = test_handler;
  o->done = test_done;
  ck_assert_int_eq(mg_http_server_new(&v->s, o), 0);
  const char *addr = mg_http_server_address(v->s);
  const char *colon = strrchr(addr, ':');
  ck_assert_ptr_nonnull(colon);
  memcpy(v->host, addr, (size_t)(colon - addr));
  v->port = atoi(colon + 1);
  ck_assert_int_gt(v->port, 0);
  v->rc = -1;
  ck_assert_int_eq(pthread_create(&v->th, NULL, srv_main, v), 0);
}

static void srv_stop(srv *v) {
  mg_http_server_stop(v->s);
  pthread_join(v->th, NULL);
  ck_assert_int_eq(v->rc, 0);
  mg_http_server_free(v->s);
  v->s = NULL;
}

/* --------------------------------------------------------------- client */

#define TC_MAX 64

typedef struct tstream {
  int status;
  char body[1024];
  size_t body_len;
  char rid[64];
  char ctype[64];
  char retry_after[16];
  char xtest[16];
  bool closed;
  uint32_t error_code;
} tstream;

typedef struct tbody {
  const uint8_t *p;
  size_t len, off;
} tbody;

typedef struct tclient {
  int fd;
  nghttp2_session *h2;
  tstream st[TC_MAX];
  tbody up[TC_MAX]; /* request bodies, one per request made */
  size_t num_up;
} tclient;

static tstream *tc_stream(tclient *c, int32_t id) {
  int32_t i = (id - 1) / 2;
  ck_assert(i >= 0 && i < TC_MAX);
  return &c->st[i];
}

static void copy_str(char *dst, size_t cap, const char *src) {
  size_t n = strlen(src);
  if (n >= cap) {
    n = cap - 1;
  }
  memcpy(dst, src, n);
  dst[n] = '\0';
}

static int tc_on_header(nghttp2_session *h2, const nghttp2_frame *f,
                        const uint8_t *name, size_t namelen,
                        const uint8_t *value, size_t valuelen, uint8_t flags,
                        void *ud) {
  (void)h2;
  (void)flags;
  tclient *c = ud;
  if (f->hd.type != NGHTTP2_HEADERS) {
    return 0;
  }
  tstream *t = tc_stream(c, f->hd.stream_id);
  char v[256];
  snprintf(v, sizeof v, "%.*s", (int)valuelen, (const char *)value);
  if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
    t->status = atoi(v);
  } else if (namelen == 12 && memcmp(name, "x-request-id", 12) == 0) {
    copy_str(t->rid, sizeof t->rid, v);
  } else if (namelen == 12 && memcmp(name, "content-type", 12) == 0) {
    copy_str(t->ctype, sizeof t->ctype, v);
  } else if (namelen == 11 && memcmp(name, "retry-after", 11) == 0) {
    copy_str(t->retry_after, sizeof t->retry_after, v);
  } else if (namelen == 6 && memcmp(name, "x-test", 6) == 0) {
    copy_str(t->xtest, sizeof t->xtest, v);
  }
  return 0;
}

static int tc_on_data(nghttp2_session *h2, uint8_t flags, int32_t id,
                      const uint8_t *data, size_t len, void *ud) {
  (void)h2;
  (void)flags;
  tstream *t = tc_stream(ud, id);
  size_t n = len < sizeof t->body - 1 - t->body_len
                 ? len
                 : sizeof t->body - 1 - t->body_len;
  memcpy(t->body + t->body_len, data, n);
  t->body_len += n;
  t->body[t->body_len] = '\0';
  return 0;
}

static int tc_on_close(nghttp2_session *h2, int32_t id, uint32_t code,
                       void *ud) {
  (void)h2;
  tstream *t = tc_stream(ud, id);
  t->closed = true;
  t->error_code = code;
  return 0;
}

static void tc_connect_settings(tclient *c, const srv *v,
                                const nghttp2_settings_entry *iv, size_t n);

static void tc_connect(tclient *c, const srv *v) {
  tc_connect_settings(c, v, NULL, 0);
}

static void tc_connect_settings(tclient *c, const srv *v,
                                const nghttp2_settings_entry *iv, size_t n) {
  memset(c, 0, sizeof *c);
  c->fd = socket(AF_INET, SOCK_STREAM, 0);
  ck_assert_int_ge(c->fd, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)v->port);
  ck_assert_int_eq(inet_pton(AF_INET, v->host, &a.sin_addr), 1);
  ck_assert_int_eq(connect(c->fd, (struct sockaddr *)&a, sizeof a), 0);
  nghttp2_session_callbacks *cbs;
  ck_assert_int_eq(nghttp2_session_callbacks_new(&cbs), 0);
  nghttp2_session_callbacks_set_on_header_callback(cbs, tc_on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, tc_on_data);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, tc_on_close);
  ck_assert_int_eq(nghttp2_session_client_new(&c->h2, cbs, c), 0);
  nghttp2_session_callbacks_del(cbs);
  ck_assert_int_eq(nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, n), 0);
}

static ssize_t tc_body_read(nghttp2_session *h2, int32_t id, uint8_t *buf,
                            size_t len, uint32_t *flags,
                            nghttp2_data_source *src, void *ud) {
  (void)h2;
  (void)id;
  (void)ud;
  tbody *b = src->ptr;
  size_t n = b->len - b->off < len ? b->len - b->off : len;
  memcpy(buf, b->p + b->off, n);
  b->off += n;
  if (b->off == b->len) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
  }
  return (ssize_t)n;
}

/* tc_request submits a request; |clen| adds a content-length header. */
static int32_t tc_request(tclient *c, const char *method, const char *path,
                          const uint8_t *body, size_t body_len,
                          const char *clen) {
  nghttp2_nv nva[5];
  size_t n = 0;
#define TNV(nm, vl)                                                            \
  nva[n].name = (uint8_t *)(uintptr_t)(nm);                                    \
  nva[n].namelen = strlen(nm);                                                 \
  nva[n].value = (uint8_t *)(uintptr_t)(vl);                                   \
  nva[n].valuelen = strlen(vl);                                                \
  nva[n].flags = NGHTTP2_NV_FLAG_NONE;                                         \
  n++
  TNV(":method", method);
  TNV(":scheme", "http");
  TNV(":path", path);
  TNV(":authority", "localhost");
  if (clen != NULL) {
    TNV("content-length", clen);
  }
#undef TNV
  nghttp2_data_provider prd;
  ck_assert_uint_lt(c->num_up, TC_MAX);
  tbody *b = &c->up[c->num_up++];
  b->p = body;
  b->len = body_len;
  b->off = 0;
  prd.source.ptr = b;
  prd.read_callback = tc_body_read;
  int32_t id =
      nghttp2_submit_request(c->h2, NULL, nva, n, body ? &prd : NULL, NULL);
  ck_assert_int_gt(id, 0);
  return id;
}

/* tc_pump exchanges frames until stream |id| closed (id 0: for |ms|). */
static void tc_pump(tclient *c, int32_t id, int ms) {
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    const uint8_t *data;
    ssize_t n;
    while ((n = nghttp2_session_mem_send(c->h2, &data)) > 0) {
      ck_assert_int_eq(send(c->fd, data, (size_t)n, MSG_NOSIGNAL), n);
    }
    ck_assert_int_ge(n, 0);
    if (id != 0 && tc_stream(c, id)->closed) {
      return;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long el = (t1.tv_sec - t0.tv_sec) * 1000 +
              (t1.tv_nsec - t0.tv_nsec) / 1000000;
    if (el >= ms) {
      ck_assert_msg(id == 0, "stream %d did not close in %d ms", id, ms);
      return;
    }
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    if (poll(&p, 1, (int)(ms - el)) <= 0) {
      continue;
    }
    uint8_t buf[16384];
    ssize_t r = recv(c->fd, buf, sizeof buf, 0);
    if (r <= 0) {
      ck_assert_msg(id == 0, "connection closed before stream %d", id);
      return;
    }
    ck_assert_int_eq(nghttp2_session_mem_recv(c->h2, buf, (size_t)r), r);
  }
}

static void tc_close(tclient *c) {
  nghttp2_session_del(c->h2);
  close(c->fd);
}

/* ---------------------------------------------------------------- tests */

START_TEST(test_new_errors) {
  mg_http_server_options o;
  mg_http_server_options_default(&o);
  ck_assert_str_eq(o.listen, "127.0.0.1:8420");
  ck_assert_uint_eq(o.max_body, 1024 * 1024);
  ck_assert_uint_eq(o.max_streams, 128);
  mg_http_server *s = (mg_http_server *)1;
  ck_assert_int_eq(mg_http_server_new(&s, &o), MG_ERR_INVALID_ARG);
  ck_assert_ptr_null(s);
  o.handler = test_handler;
  static const char *bad[] = {"127.0.0.1", "127.0.0.1:", ":80",
                              "localhost:80", "127.0.0.1:99999",
                              "127.0.0.1:8x", "[::1:80", "::1]:80",
                              "300.1.1.1:80"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    o.listen = bad[i];
    ck_assert_msg(mg_http_server_new(&s, &o) == MG_ERR_INVALID_ARG, "%s",
                  bad[i]);
  }
  o.listen = "127.0.0.1:0";
  o.tls_cert = "/nonexistent/cert.pem";
  ck_assert_int_eq(mg_http_server_new(&s, &o), MG_ERR_INVALID_ARG);
  o.tls_key = "/nonexistent/key.pem";
  mg_log_set_level((mg_log_level)(MG_LOG_ERROR + 1)); /* quiet: the failure is logged */
  ck_assert_int_eq(mg_http_server_new(&s, &o), MG_ERR_IO);
  mg_log_set_level(MG_LOG_WARN);
  o.tls_cert = o.tls_key = NULL;
  o.client_ca = "/nonexistent/ca.pem";
  ck_assert_int_eq(mg_http_server_new(&s, &o), MG_ERR_INVALID_ARG);
  o.client_ca = NULL;
  o.workers = 0;
  ck_assert_int_eq(mg_http_server_new(&s, &o), MG_ERR_INVALID_ARG);
  o.workers = 2;
  /* Port 0: a free port; new + free without run. */
  ck_assert_int_eq(mg_http_server_new(&s, &o), 0);
  ck_assert_ptr_nonnull(strstr(mg_http_server_address(s), "127.0.0.1:"));
  ck_assert_str_ne(mg_http_server_address(s), "127.0.0.1:0");
  mg_http_server_free(s);
  mg_http_server_free(NULL);
}
END_TEST

START_TEST(test_round_trip) {
  mg_http_server_options o;
  mg_http_server_options_default(&o);
  o.listen = "127.0.0.1:0";
  o.workers = 4;
  o.max_body = 4096;
  srv v;
  srv_start(&v, &o);
  atomic_store(&done_calls, 0);

  tclient c;
  tc_connect(&c, &v);
  int32_t a = tc_request(&c, "GET", "/hello?x=1&y=2", NULL, 0, NULL);
  int32_t b = tc_request(&c, "GET", "/nope", NULL, 0, NULL);
  static uint8_t body[5000];
  memset(body, 'B', sizeof body);
  int32_t e = tc_request(&c, "POST", "/echo", body, 4096, NULL);
  /* Declared over max_body: 413 as soon as the headers are in. */
  int32_t big = tc_request(&c, "POST", "/echo?q=1", body, 5000, "5000");
  tc_pump(&c, a, 5000);
  tc_pump(&c, b, 5000);
  tc_pump(&c, e, 5000);
  tc_pump(&c, big, 5000);

  tstream *t = tc_stream(&c, a);
  ck_assert_int_eq(t->status, 200);
  ck_assert_str_eq(t->ctype, "text/plain");
  ck_assert_str_eq(t->xtest, "yes");
  ck_assert_uint_eq(strlen(t->rid), 32);
  ck_assert_uint_eq(strspn(t->rid, "0123456789abcdef"), 32);
  char want[256];
  snprintf(want, sizeof want, "hello GET /hello q=x=1&y=2 h=0 id=%s", t->rid);
  ck_assert_str_eq(t->body, want);

  t = tc_stream(&c, b);
  ck_assert_int_eq(t->status, 404);
  ck_assert_str_eq(t->ctype, "application/problem+json");
  ck_assert_ptr_nonnull(strstr(t->body, "\"code\":\"not_found\""));
  ck_assert_str_ne(t->rid, tc_stream(&c, a)->rid);

  t = tc_stream(&c, e);
  ck_assert_int_eq(t->status, 200);
  ck_assert_str_eq(t->body, "len=4096 first=B");

  t = tc_stream(&c, big);
  ck_assert_int_eq(t->status, 413);
  ck_assert_ptr_nonnull(strstr(t->body, "\"code\":\"body_too_large\""));
  ck_assert_ptr_nonnull(strstr(t->body, t->rid));
  tc_close(&c);
  srv_stop(&v);
  /* Every response was reported, the server's 413 included. */
  ck_assert_int_eq(atomic_load(&done_calls), 4);
  ck_assert_str_eq(done_413_path, "/echo");
  ck_assert_str_eq(done_413_query, "q=1");
}
END_TEST

/* Deferred answers (mg_http_defer) go out whether they are finished
 * before the handler returns or later from another thread; the worker is
 * free meanwhile (one worker serves the rest), and the server is freed
 * only after every deferred answer finished. */
START_TEST(test_deferred) {
  mg_http_server_options o;
  mg_http_server_options_default(&o);
  o.listen = "127.0.0.1:0";
  o.workers = 1;
  srv v;
  srv_start(&v, &o);
  atomic_store(&done_calls, 0);
  tclient c;
  tc_connect(&c, &v);
  int32_t ids[8];
  for (int i = 0; i < 6; i++) {
    ids[i] = tc_request(&c, "GET", "/defer-later", NULL, 0, NULL);
  }
  ids[6] = tc_request(&c, "GET", "/defer-now", NULL, 0, NULL);
  ids[7] = tc_request(&c, "GET", "/hello", NULL, 0, NULL);
  for (int i = 0; i < 8; i++) {
    tc_pump(&c, ids[i], 5000);
  }
  for (int i = 0; i < 6; i++) {
    tstream *t = tc_stream(&c, ids[i]);
    ck_assert_int_eq(t->status, 202);
    ck_assert_str_eq(t->body, "later /defer-later");
  }
  ck_assert_int_eq(tc_stream(&c, ids[6])->status, 201);
  ck_assert_int_eq(tc_stream(&c, ids[7])->status, 200);
  /* A deferred answer still pending when the server stops and is freed
   * lands before the free returns (no use after free under ASan). */
  (void)tc_request(&c, "GET", "/defer-later", NULL, 0, NULL);
  struct timespec ts = {0, 10 * 1000000L};
  nanosleep(&ts, NULL);
  tc_close(&c);
  srv_stop(&v);
  ck_assert_int_ge(atomic_load(&done_calls), 8);
}
END_TEST

START_TEST(test_overload_and_resets) {
  mg_http_server_options o;
  mg_http_server_options_default(&o);
  o.listen = "127.0.0.1:0";
  o.workers = 1;
  o.max_queued = 2;
  srv v;
  srv_start(&v, &o);
  atomic_store(&slow_started, 0);

  tclient c;
  tc_connect(&c, &v);
  int32_t ids[4];
  for (int i = 0; i < 4; i++) {
    ids[i] = tc_request(&c, "GET", "/slow", NULL, 0, NULL);
  }
  for (int i = 0; i < 4; i++) {
    tc_pump(&c, ids[i], 5000);
  }
  int ok = 0, over = 0;
  for (int i = 0; i < 4; i++) {
    tstream *t = tc_stream(&c, ids[i]);
    if (t->status == 200) {
      ok++;
    } else {
      ck_assert_int_eq(t->status, 503);
      ck_assert_str_eq(t->retry_after, "1");
      ck_assert_ptr_nonnull(strstr(t->body, "\"code\":\"overloaded\""));
      over++;
    }
  }
  ck_assert_int_eq(ok, 2);
  ck_assert_int_eq(over, 2);

  /* A stream reset while its handler runs. */
  int before = atomic_load(&slow_started);
  int32_t r = tc_request(&c, "GET", "/slow", NULL, 0, NULL);
  while (atomic_load(&slow_started) == before) {
    tc_pump(&c, 0, 20);
  }
  ck_assert_int_eq(nghttp2_submit_rst_stream(c.h2, NGHTTP2_FLAG_NONE, r,
                                             NGHTTP2_CANCEL),
                   0);
  tc_pump(&c, 0, 600); /* the handler finishes; its completion is dropped */
  int32_t h = tc_request(&c, "GET", "/hello", NULL, 0, NULL);
  tc_pump(&c, h, 5000);
  ck_assert_int_eq(tc_stream(&c, h)->status, 200);

  /* A request reset while queued never runs: one worker, held by /slow. */
  before = atomic_load(&slow_started);
  int calls = atomic_load(&handler_calls);
  int dones = atomic_load(&done_calls);
  int32_t busy = tc_request(&c, "GET", "/slow", NULL, 0, NULL);
  while (atomic_load(&slow_started) == before) {
    tc_pump(&c, 0, 20);
  }
  int32_t q = tc_request(&c, "GET", "/hello", NULL, 0, NULL);
  tc_pump(&c, 0, 50);
  ck_assert_int_eq(nghttp2_submit_rst_stream(c.h2, NGHTTP2_FLAG_NONE, q,
                                             NGHTTP2_CANCEL),
                   0);
  tc_pump(&c, busy, 5000);
  tc_pump(&c, 0, 100);
  ck_assert_int_eq(tc_stream(&c, busy)->status, 200);
  ck_assert_int_eq(tc_stream(&c, q)->status, 0);
  ck_assert_int_eq(atomic_load(&handler_calls), calls + 1);
  ck_assert_int_eq(atomic_load(&done_calls), dones + 1);

  /* A connection closed while its handler runs. */
  before = atomic_load(&slow_started);
  r = tc_request(&c, "GET", "/slow", NULL, 0, NULL);
  while (atomic_load(&slow_started) == before) {
    tc_pump(&c, 0, 20);
  }
  tc_close(&c);
  struct timespec ts = {0, 600 * 1000000L};
  nanosleep(&ts, NULL);

  mg_http_stats st;
  mg_http_server_stats(v.s, &st);
  ck_assert_uint_eq(st.requests_rejected_overload, 2);
  ck_assert_uint_ge(st.streams_reset_by_peer, 1);
  ck_assert_uint_eq(st.connections_total, 1);
  ck_assert_uint_eq(st.connections_open, 0);
  ck_assert_uint_eq(st.handlers_running, 0);
  ck_assert_uint_eq(st.handlers_queued, 0);

  /* Still serving. */
  tc_connect(&c, &v);
  h = tc_request(&c, "GET", "/hello", NULL, 0, NULL);
  tc_pump(&c, h, 5000);
  ck_assert_int_eq(tc_stream(&c, h)->status, 200);
  tc_close(&c);
  srv_stop(&v);
}
END_TEST

/* Request bodies buffered over all connections are capped by
 * max_total_body: a body held by a running handler counts until its
 * response is out. */
START_TEST(test_body_budget) {
  mg_http_server_options o;
  mg_http_server_options_default(&o);
  o.listen = "127.0.0.1:0";
  o.workers = 2;
  o.max_body = 8000;
  o.max_total_body = 8000;
  srv v;
  srv_start(&v, &o);
  atomic_store(&slow_started, 0);
  static uint8_t body[5000];
  memset(body, 'C', sizeof body);
  tclient c;
  tc_connect(&c, &v);
  int32_t a = tc_request(&c, "POST", "/slow", body, sizeof body, NULL);
  while (atomic_load(&slow_started) == 0) {
    tc_pump(&c, 0, 20);
  }
  int32_t b = tc_request(&c, "POST", "/echo", body, sizeof body, NULL);
  tc_pump(&c, b, 5000);
  ck_assert_int_eq(tc_stream(&c, b)->status, 503);
  ck_assert_ptr_nonnull(strstr(tc_stream(&c, b)->body, "overloaded"));
  tc_pump(&c, a, 5000);
  ck_assert_int_eq(tc_stream(&c, a)->status, 200);
  int32_t d = tc_request(&c, "POST", "/echo", body, sizeof body, NULL);
  tc_pump(&c, d, 5000);
  ck_assert_int_eq(tc_stream(&c, d)->status, 200);
  ck_assert_str_eq(tc_stream(&c, d)->body, "len=5000 first=C");
  tc_close(&c);
  srv_stop(&v);
}
END_TEST

/* Past max_connections a connection is accepted and closed at once. */
START_TEST(test_max_connections) {
  mg_http_server_options o;
  mg_http_server_options_default(&o);
  o.listen = "127.0.0.1:0";
  o.workers = 1;
  o.max_connections = 1;
  srv v;
  srv_start(&v, &o);
  tclient c;
  tc_connect(&c, &v);
  int32_t h = tc_request(&c, "GET", "/hello", NULL, 0, NULL);
  tc_pump(&c, h, 5000);
  ck_assert_int_eq(tc_stream(&c, h)->status, 200);

  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)v.port);
  ck_assert_int_eq(inet_pton(AF_INET, v.host, &a.sin_addr), 1);
  ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  struct pollfd p = {.fd = fd, .events = POLLIN};
  ck_assert_int_eq(poll(&p, 1, 5000), 1);
  char b;
  ck_assert_int_le(recv(fd, &b, 1, 0), 0); /* closed (EOF or reset) */
  close(fd);

  mg_http_stats st;
  mg_http_server_stats(v.s, &st);
  ck_assert_uint_eq(st.connections_rejected, 1);
  ck_assert_uint_eq(st.connections_open, 1);
  h = tc_request(&c, "GET", "/hello", NULL, 0, NULL);
  tc_pump(&c, h, 5000);
  ck_assert_int_eq(tc_stream(&c, h)->status, 200);
  tc_close(&c);
  srv_stop(&v);
}
END_TEST

/* A peer that does not take its responses (zero window): once the
 * connection holds max_conn_output bytes, its next request waits, and runs
 * when the peer reads. */
START_TEST(test_slow_reader_parks) {
  mg_http_server_options o;
  mg_http_server_options_default(&o);
  o.listen = "127.0.0.1:0";
  o.workers = 2;
  o.max_conn_output = 50; /* below one /hello response */
  o.shutdown_grace_ms = 1000;
  srv v;
  srv_start(&v, &o);
  tclient c;
  nghttp2_settings_entry iv = {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 0};
  tc_connect_settings(&c, &v, &iv, 1);
  int calls = atomic_load(&handler_calls);
  int32_t r1 = tc_request(&c, "GET", "/hello", NULL, 0, NULL);
  tc_pump(&c, 0, 300);
  ck_assert_int_eq(tc_stream(&c, r1)->status, 200); /* HEADERS, no DATA */
  ck_assert(!tc_stream(&c, r1)->closed);
  int32_t r2 = tc_request(&c, "GET", "/hello", NULL, 0, NULL);
  tc_pump(&c, 0, 300);
  ck_assert_int_eq(tc_stream(&c, r2)->status, 0); /* parked */
  ck_assert_int_eq(atomic_load(&handler_calls), calls + 1);
  /* The peer reads r1: r2 runs, and is held in turn. */
  ck_assert_int_eq(
      nghttp2_submit_window_update(c.h2, NGHTTP2_FLAG_NONE, r1, 65535), 0);
  tc_pump(&c, r1, 5000);
  ck_assert_ptr_nonnull(strstr(tc_stream(&c, r1)->body, "hello GET"));
  tc_pump(&c, 0, 300);
  ck_assert_int_eq(tc_stream(&c, r2)->status, 200);
  ck_assert_int_eq(atomic_load(&handler_calls), calls + 2);
  ck_assert_int_eq(
      nghttp2_submit_window_update(c.h2, NGHTTP2_FLAG_NONE, r2, 65535), 0);
  tc_pump(&c, r2, 5000);
  ck_assert_ptr_nonnull(strstr(tc_stream(&c, r2)->body, "hello GET"));
  /* A parked request at stop is answered 503 shutting_down. */
  int32_t r3 = tc_request(&c, "GET", "/hello", NULL, 0, NULL);
  int32_t r4 = tc_request(&c, "GET", "/hello", NULL, 0, NULL);
  tc_pump(&c, 0, 300);
  ck_assert_int_eq(tc_stream(&c, r3)->status + tc_stream(&c, r4)->status,
                   200);
  mg_http_server_stop(v.s);
  tc_pump(&c, 0, 300);
  ck_assert_int_eq(tc_stream(&c, r3)->status + tc_stream(&c, r4)->status,
                   200 + 503);
  pthread_join(v.th, NULL); /* r3/r4's held response: until the grace ends */
  ck_assert_int_eq(v.rc, 0);
  tc_close(&c);
  mg_http_server_free(v.s);
}
END_TEST

START_TEST(test_graceful_stop) {
  mg_http_server_options o;
  mg_http_server_options_default(&o);
  o.listen = "127.0.0.1:0";
  o.workers = 2;
  o.shutdown_grace_ms = 5000;
  srv v;
  srv_start(&v, &o);
  atomic_store(&slow_started, 0);
  tclient c;
  tc_connect(&c, &v);
  int32_t r = tc_request(&c, "GET", "/slow", NULL, 0, NULL);
  while (atomic_load(&slow_started) == 0) {
    tc_pump(&c, 0, 20);
  }
  mg_http_server_stop(v.s);
  tc_pump(&c, r, 5000);
  ck_assert_int_eq(tc_stream(&c, r)->status, 200);
  ck_assert_str_eq(tc_stream(&c, r)->body, "slow done");
  pthread_join(v.th, NULL);
  ck_assert_int_eq(v.rc, 0);
  tc_close(&c);
  mg_http_server_free(v.s);
}
END_TEST

int main(void) {
  mg_log_set_level(MG_LOG_WARN); /* no listening/shutdown lines */
  Suite *s = suite_create("http");
  TCase *tc = tcase_create("log");
  tcase_add_test(tc, test_log_lines);
  tcase_add_test(tc, test_log_buffered);
  tcase_add_test(tc, test_problem);
  suite_add_tcase(s, tc);

  tc = tcase_create("server");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_new_errors);
  tcase_add_test(tc, test_round_trip);
  tcase_add_test(tc, test_deferred);
  tcase_add_test(tc, test_overload_and_resets);
  tcase_add_test(tc, test_body_budget);
  tcase_add_test(tc, test_max_connections);
  tcase_add_test(tc, test_slow_reader_parks);
  tcase_add_test(tc, test_graceful_stop);
  suite_add_tcase(s, tc);

  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
