/*
 * GET /metrics: Prometheus text exposition format 0.0.4.  Requests by
 * route and status with latency histograms (recorded by mg_api_done on the
 * I/O thread), MLS operations and store transactions (session layer),
 * key-package pool levels and the audit log's size (read from the store
 * at scrape time), HTTP connection figures (server).
 */
#include "config.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "keystore/audit.h"

const int api_status_codes[API_NUM_STATUS] = {200, 201, 204, 400, 401, 403,
                                              404, 405, 409, 413, 422, 429,
                                              431, 500, 503, 0 /* other */};

/* Upper bounds of the latency buckets (the last bucket is +Inf). */
const uint64_t api_latency_bounds_ns[API_LATENCY_BUCKETS - 1] = {
    100000,   250000,    500000,    1000000,   2500000,   5000000,
    10000000, 25000000, 50000000, 100000000, 1000000000};

int api_status_slot(int status) {
  int i;
  for (i = 0; i < API_NUM_STATUS - 1; i++) {
    if (api_status_codes[i] == status) {
      return i;
    }
  }
  return API_NUM_STATUS - 1;
}


void mg_api_done(void *arg, const mg_http_request *req, int status, int tag,
                 uint64_t latency_ns) {
  mg_api *api = arg;
  /* The handler tagged its route (route + 1); the server's own answers
   * (413, 431, 503 ...) are matched here. */
  int r = tag > 0 && tag <= API_R_NUM + 1 ? tag - 1
                                           : api_route_of(req->method, req->path);
  api_route_stats *rs = &api->routes[r];
  int b;
  atomic_fetch_add(&rs->by_status[api_status_slot(status)], 1);
  for (b = 0; b < API_LATENCY_BUCKETS - 1; b++) {
    if (latency_ns <= api_latency_bounds_ns[b]) {
      break;
    }
  }
  atomic_fetch_add(&rs->latency_buckets[b], 1);
  atomic_fetch_add(&rs->latency_ns_sum, latency_ns);
  atomic_fetch_add(&rs->count, 1);
}

/* A growing text buffer. */
typedef struct mbuf {
  char *p;
  size_t len, cap;
  int failed;
} mbuf;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void out(mbuf *b, const char *fmt, ...) {
  va_list ap;
  int n;
  if (b->failed) {
    return;
  }
  for (;;) {
    va_start(ap, fmt);
    n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
      b->failed = 1;
      return;
    }
    if ((size_t)n < b->cap - b->len) {
      b->len += (size_t)n;
      return;
    }
    {
      size_t cap = b->cap * 2 + (size_t)n + 1;
      char *q = realloc(b->p, cap);
      if (q == NULL) {
        b->failed = 1;
        return;
      }
      b->p = q;
      b->cap = cap;
    }
  }
}


static void histogram(mbuf *b, const char *name, const char *labels,
                      const _Atomic uint64_t *buckets, uint64_t sum_ns,
                      uint64_t count, int cumulative_input) {
  uint64_t acc = 0;
  int i;
  for (i = 0; i < API_LATENCY_BUCKETS; i++) {
    acc = cumulative_input ? atomic_load(&buckets[i])
                           : acc + atomic_load(&buckets[i]);
    if (i < API_LATENCY_BUCKETS - 1) {
      out(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels,
          labels[0] != '\0' ? "," : "",
          (double)api_latency_bounds_ns[i] / 1e9, (unsigned long long)acc);
    } else {
      out(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels,
          labels[0] != '\0' ? "," : "", (unsigned long long)count);
    }
  }
  out(b, "%s_sum{%s} %.9f\n%s_count{%s} %llu\n", name, labels,
      (double)sum_ns / 1e9, name, labels, (unsigned long long)count);
}

typedef struct kp_arg {
  mg_api *api;
  mbuf *b;
  uint64_t now;
  int n;
} kp_arg;

static int kp_one(void *arg, const mg_ks_identity *id) {
  kp_arg *a = arg;
  mg_ks_kp_counts k;
  if (a->n++ >= 256) { /* bounded scrape */
    return 0;
  }
  if (mg_ks_kp_stats(a->api->ks, id->name, a->now, &k) == 0) {
    out(a->b, "mlsgate_keypackages_unused{identity=\"%s\"} %llu\n", id->name,
        (unsigned long long)k.unused);
    out(a->b, "mlsgate_keypackages_valid{identity=\"%s\"} %llu\n", id->name,
        (unsigned long long)k.valid);
  }
  return 0;
}

void api_h_metrics(api_call *c) {
  static const char *const kOps[6] = {"open",    "join",   "encrypt",
                                      "decrypt", "commit", "close"};
  mg_api *api = c->api;
  mbuf b = {NULL, 0, 0, 0};
  mg_session_stats ss;
  uint64_t audit_size = 0;
  kp_arg ka;
  int r, i;
  b.cap = 16384;
  b.p = malloc(b.cap);
  if (b.p == NULL) {
    api_problem(c, 503, "overloaded", "out of memory");
    return;
  }
  out(&b, "# HELP mlsgate_http_requests_total HTTP requests by route and "
          "status.\n# TYPE mlsgate_http_requests_total counter\n");
  for (r = 0; r <= API_R_NUM; r++) {
    for (i = 0; i < API_NUM_STATUS; i++) {
      uint64_t v = atomic_load(&api->routes[r].by_status[i]);
      if (v == 0) {
        continue;
      }
      if (api_status_codes[i] != 0) {
        out(&b, "mlsgate_http_requests_total{route=\"%s\",status=\"%d\"} "
                "%llu\n",
            api_route_label(r), api_status_codes[i], (unsigned long long)v);
      } else {
        out(&b, "mlsgate_http_requests_total{route=\"%s\",status=\"other\"} "
                "%llu\n",
            api_route_label(r), (unsigned long long)v);
      }
    }
  }
  out(&b, "# HELP mlsgate_http_request_duration_seconds Time from a "
          "request's headers to its response.\n# TYPE "
          "mlsgate_http_request_duration_seconds histogram\n");
  for (r = 0; r <= API_R_NUM; r++) {
    char labels[96];
    uint64_t n = atomic_load(&api->routes[r].count);
    if (n == 0) {
      continue;
    }
    snprintf(labels, sizeof(labels), "route=\"%s\"", api_route_label(r));
    histogram(&b, "mlsgate_http_request_duration_seconds", labels,
              api->routes[r].latency_buckets,
              atomic_load(&api->routes[r].latency_ns_sum), n, 0);
  }
  mg_session_get_stats(api->sess, &ss);
  out(&b, "# HELP mlsgate_mls_operations_total MLS operations of the "
          "session layer.\n# TYPE mlsgate_mls_operations_total counter\n");
  for (i = 0; i < 6; i++) {
    out(&b, "mlsgate_mls_operations_total{op=\"%s\",result=\"ok\"} %llu\n",
        kOps[i], (unsigned long long)ss.ops[i]);
    out(&b, "mlsgate_mls_operations_total{op=\"%s\",result=\"error\"} %llu\n",
        kOps[i], (unsigned long long)ss.op_errors[i]);
  }
  out(&b, "# HELP mlsgate_store_txns_total Group-commit write transactions."
          "\n# TYPE mlsgate_store_txns_total counter\n"
          "mlsgate_store_txns_total %llu\n",
      (unsigned long long)ss.txns);
  out(&b, "# HELP mlsgate_store_txn_operations_total Operations those "
          "transactions carried.\n# TYPE mlsgate_store_txn_operations_total "
          "counter\nmlsgate_store_txn_operations_total %llu\n",
      (unsigned long long)ss.txn_ops);
  {
    /* The session's histogram is cumulative over its own bounds (0.25 ms
     * .. 1 s); exposed as such. */
    static const double kBounds[11] = {0.00025, 0.0005, 0.001, 0.0025,
                                       0.005,   0.01,   0.025, 0.05,
                                       0.1,     0.25,   1.0};
    out(&b, "# HELP mlsgate_store_txn_duration_seconds Group-commit "
            "transaction latency (commit and sync included).\n# TYPE "
            "mlsgate_store_txn_duration_seconds histogram\n");
    for (i = 0; i < 11; i++) {
      out(&b, "mlsgate_store_txn_duration_seconds_bucket{le=\"%g\"} %llu\n",
          kBounds[i], (unsigned long long)ss.txn_ns_buckets[i]);
    }
    out(&b,
        "mlsgate_store_txn_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
        "mlsgate_store_txn_duration_seconds_sum %.9f\n"
        "mlsgate_store_txn_duration_seconds_count %llu\n",
        (unsigned long long)ss.txns, (double)ss.txn_ns_total / 1e9,
        (unsigned long long)ss.txns);
  }
  out(&b, "# TYPE mlsgate_lease_writes_total counter\n"
          "mlsgate_lease_writes_total %llu\n"
          "# TYPE mlsgate_group_cache_size gauge\n"
          "mlsgate_group_cache_size %llu\n"
          "# TYPE mlsgate_group_cache_hits_total counter\n"
          "mlsgate_group_cache_hits_total %llu\n"
          "# TYPE mlsgate_group_cache_misses_total counter\n"
          "mlsgate_group_cache_misses_total %llu\n",
      (unsigned long long)ss.lease_writes, (unsigned long long)ss.cache_size,
      (unsigned long long)ss.cache_hits, (unsigned long long)ss.cache_misses);
  out(&b, "# HELP mlsgate_keypackages_unused Unused KeyPackages per "
          "identity.\n# TYPE mlsgate_keypackages_unused gauge\n# TYPE "
          "mlsgate_keypackages_valid gauge\n");
  ka.api = api;
  ka.b = &b;
  ka.now = c->ctx.now;
  ka.n = 0;
  if (mg_ks_identity_list(api->ks, kp_one, &ka) < 0) {
    out(&b, "# key-package pools unavailable (store error)\n");
  }
  if (api_audit_size(api->ks, &audit_size) == 0) {
    out(&b, "# HELP mlsgate_audit_entries Entries in the audit log.\n# TYPE "
            "mlsgate_audit_entries gauge\nmlsgate_audit_entries %llu\n",
        (unsigned long long)audit_size);
  }
  out(&b, "# TYPE mlsgate_api_denials_total counter\n"
          "mlsgate_api_denials_total %llu\n"
          "# TYPE mlsgate_api_rate_limited_total counter\n"
          "mlsgate_api_rate_limited_total %llu\n"
          "# HELP mlsgate_api_denials_suppressed_total Failed "
          "authentications past a client address's budget (429, not "
          "audited).\n"
          "# TYPE mlsgate_api_denials_suppressed_total counter\n"
          "mlsgate_api_denials_suppressed_total %llu\n",
      (unsigned long long)atomic_load(&api->denials),
      (unsigned long long)atomic_load(&api->rate_limited),
      (unsigned long long)atomic_load(&api->denials_suppressed));
  if (api->server != NULL) {
    mg_http_stats hs;
    mg_http_server_stats(api->server, &hs);
    out(&b,
        "# TYPE mlsgate_http_connections_open gauge\n"
        "mlsgate_http_connections_open %llu\n"
        "# TYPE mlsgate_http_connections_total counter\n"
        "mlsgate_http_connections_total %llu\n"
        "# TYPE mlsgate_http_connections_rejected_total counter\n"
        "mlsgate_http_connections_rejected_total %llu\n"
        "# TYPE mlsgate_http_streams_reset_by_peer_total counter\n"
        "mlsgate_http_streams_reset_by_peer_total %llu\n"
        "# TYPE mlsgate_http_requests_rejected_overload_total counter\n"
        "mlsgate_http_requests_rejected_overload_total %llu\n"
        "# TYPE mlsgate_http_handlers_running gauge\n"
        "mlsgate_http_handlers_running %llu\n"
        "# TYPE mlsgate_http_handlers_queued gauge\n"
        "mlsgate_http_handlers_queued %llu\n"
        "# TYPE mlsgate_http_protocol_errors_total counter\n"
        "mlsgate_http_protocol_errors_total %llu\n",
        (unsigned long long)hs.connections_open,
        (unsigned long long)hs.connections_total,
        (unsigned long long)hs.connections_rejected,
        (unsigned long long)hs.streams_reset_by_peer,
        (unsigned long long)hs.requests_rejected_overload,
        (unsigned long long)hs.handlers_running,
        (unsigned long long)hs.handlers_queued,
        (unsigned long long)hs.protocol_errors);
  }
  if (b.failed) {
    free(b.p);
    api_problem(c, 503, "overloaded", "out of memory");
    return;
  }
  api_text(c, 200, "text/plain; version=0.0.4; charset=utf-8", b.p, b.len);
}
