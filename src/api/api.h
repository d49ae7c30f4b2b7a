/*
 * The HTTP API of mlsgated (issue 6; docs/api.md, docs/openapi.yaml): the
 * route table, bearer-token authentication with scopes (deny by default,
 * every denial audited), per-token rate limits, idempotent creating POSTs,
 * JSON bodies and RFC 9457 problem responses, and the Prometheus metrics.
 * It plugs into the server of http.h as its handler: every function here
 * runs on a worker thread, never on the I/O thread.
 */
#ifndef MG_HEADER_API_API_H
#define MG_HEADER_API_API_H

#include <stdint.h>
#include <stdio.h>

#include "api/http.h"
#include "keystore/keystore.h"
#include "session/session.h"

typedef struct mg_api mg_api;

typedef struct mg_api_options {
  double rate_limit_rps;   /* per token (default 1000; 0: no limit) */
  double rate_limit_burst; /* bucket size (default 2 x rps) */
  uint64_t idempotency_ttl; /* seconds a response is replayed (24 h) */
  /* Failed authentications per client address (each is audited): past
   * this budget they get 429 without being audited (default 20/s, burst
   * 100; 0: no budget). */
  double denial_rps;
  double denial_burst;
} mg_api_options;

void mg_api_options_default(mg_api_options *o);

/* mg_api_new makes the API over an open keystore and session layer (both
 * borrowed; they must outlive it).  |server| may be set later with
 * mg_api_set_server (for the HTTP figures of /metrics). */
MG_MUST_USE int mg_api_new(mg_api **out, mg_keystore *ks, mg_session *sess,
                           const mg_api_options *opt);
void mg_api_set_server(mg_api *api, const mg_http_server *server);
void mg_api_free(mg_api *api);

/* The handler and completion hook for mg_http_server_options (arg = the
 * mg_api). */
void mg_api_handle(void *arg, const mg_http_request *req,
                   mg_http_response *resp);
void mg_api_done(void *arg, const mg_http_request *req, int status, int tag,
                 uint64_t latency_ns);

/* mg_api_print_routes writes "METHOD PATH SCOPE" per route ("-" when no
 * token is needed), the list docs/api.md and docs/openapi.yaml must match
 * (tests/openapi_check.sh). */
void mg_api_print_routes(FILE *out);

#endif
