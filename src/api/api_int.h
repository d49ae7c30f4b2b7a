/*
 * Internals of the API layer shared by api.c (routing, authentication,
 * rate limits, idempotency), h_identities.c, h_conversations.c, h_audit.c
 * and metrics.c.  Nothing outside src/api includes this.
 */
#ifndef MG_HEADER_API_API_INT_H
#define MG_HEADER_API_API_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "api/api.h"
#include "mls/bytes.h"

/* Route indices (the order of the route table in api.c). */
enum {
  API_R_HEALTH = 0,
  API_R_IDENTITY_CREATE,
  API_R_IDENTITY_LIST,
  API_R_IDENTITY_GET,
  API_R_IDENTITY_ROTATE,
  API_R_KEY_REVOKE,
  API_R_KP_GENERATE,
  API_R_KP_STATS,
  API_R_CONV_OPEN,
  API_R_CONV_JOIN,
  API_R_CONV_GET,
  API_R_CONV_ENCRYPT,
  API_R_CONV_DECRYPT,
  API_R_CONV_COMMIT,
  API_R_CONV_CLOSE,
  API_R_AUDIT_CHECKPOINT,
  API_R_AUDIT_ENTRIES,
  API_R_AUDIT_INCLUSION,
  API_R_AUDIT_CONSISTENCY,
  API_R_METRICS,
  API_R_NUM,
  API_R_UNMATCHED = API_R_NUM /* metrics label "unmatched" */
};

#define API_MAX_PARAMS 2
#define API_LATENCY_BUCKETS 12
#define API_NUM_STATUS 17

/* Per-route figures for /metrics. */
typedef struct api_route_stats {
  _Atomic uint64_t by_status[API_NUM_STATUS]; /* api_status_slot order */
  _Atomic uint64_t latency_buckets[API_LATENCY_BUCKETS];
  _Atomic uint64_t latency_ns_sum;
  _Atomic uint64_t count;
} api_route_stats;

typedef struct api_bucket {
  char name[MG_KS_NAME_MAX + 1]; /* a token's name or a client address */
  double tokens;
  uint64_t last_ns;
  int used;
} api_bucket;

#define API_BUCKETS 1024 /* open addressing; tokens beyond share none */

struct mg_api {
  mg_keystore *ks;
  mg_session *sess;
  const mg_http_server *server;
  mg_api_options opt;
  api_route_stats routes[API_R_NUM + 1];
  _Atomic uint64_t denials;
  _Atomic uint64_t rate_limited;
  pthread_mutex_t rl_lock;
  api_bucket buckets[API_BUCKETS];      /* per token */
  api_bucket peer_buckets[API_BUCKETS]; /* failed authentications per
                                           client address */
  _Atomic uint64_t denials_suppressed;
  pthread_mutex_t ckpt_lock; /* one checkpoint signer at a time */
};

/* One request being handled. */
typedef struct api_call {
  mg_api *api;
  const mg_http_request *req;
  mg_http_response *resp;
  int route;
  const char *params[API_MAX_PARAMS]; /* path parameters, NUL-terminated */
  char param_buf[2][192];
  mg_ks_ctx ctx;            /* actor "token:<name>", now */
  char actor[MG_KS_NAME_MAX + 8];
  json_t *body;             /* the parsed JSON body, or NULL */
  /* The handler answers later (mg_http_defer): mg_api_handle leaves the
   * response alone, and the answer's api_call_finish tags and logs it. */
  int deferred;
  /* Under an Idempotency-Key (run_idempotent): its route and key, and
   * whether the operation stored its answer in its own transaction. */
  const char *idem_route;
  const char *idem_key;
  int idem_stored;
} api_call;

/* An operation whose answer commits with it under an Idempotency-Key:
 * |answer| writes the response from the operation's result (inside the
 * operation's transaction, maybe more than once), and the hook stores it
 * as the key's response in that transaction.  api_idem_hook_init returns
 * the hook to pass to the session's or keystore's _h operation
 * (mg_session_hook is mg_ks_hook), or NULL when the
 * request has no Idempotency-Key.  After a success with c->idem_stored
 * set, c->resp already holds the answer. */
typedef struct api_idem_hook {
  mg_session_hook h;
  api_call *c;
  void (*answer)(api_call *c, const void *result);
} api_idem_hook;
const mg_session_hook *api_idem_hook_init(
    api_idem_hook *ih, api_call *c,
    void (*answer)(api_call *c, const void *result));

/* api_call_finish ends a request's handling: tags the response with its
 * route (for mg_api_done) and writes the access log line.  mg_api_handle
 * calls it, or whoever answers a deferred request, just before
 * mg_http_finish. */
void api_call_finish(api_call *c);

/* ---- responses (api.c) */

/* api_problem answers an RFC 9457 problem; api_error maps an mg_err of an
 * operation to its problem (store failures: 503 store_unavailable; MLS
 * rejections: 422 mls_rejected with "mls_error"; ...). */
void api_problem(api_call *c, int status, const char *code, const char *detail);
void api_error(api_call *c, int err, const char *what);
/* api_json answers |status| with |j| (stolen; NULL → 500). */
void api_json(api_call *c, int status, json_t *j);
void api_text(api_call *c, int status, const char *ctype, char *text,
              size_t len); /* |text| malloc'd, stolen */
void api_empty(api_call *c, int status);

/* ---- request bodies (api.c).  Each answers the problem itself and
 * returns < 0 when the field is missing or malformed. */
int api_body_object(api_call *c); /* parses the body into c->body */
int api_get_string(api_call *c, const char *key, int required,
                   const char **out);
int api_get_uint(api_call *c, const char *key, int required, uint64_t max,
                 uint64_t *out);
int api_get_bool(api_call *c, const char *key, int *out);
/* Decodes a base64 field into |out| (owned; empty when absent and not
 * required).  |secret|: the constant-time decoder (plaintext), else the
 * table one (public data); the caller wipes secrets on cleanup. */
int api_get_b64(api_call *c, const char *key, int required, int secret,
                mls_bytes *out);
/* The body {"KEY":"<base64>"} without a JSON tree: 1 decoded, 0 another
 * form (parse it with api_body_object), -1 answered. */
int api_body_b64_only(api_call *c, const char *key, int secret,
                      mls_bytes *out);
/* Query parameter |name| as an unsigned decimal; |*present| 0 if absent. */
int api_query_uint(api_call *c, const char *name, int *present,
                   uint64_t *out);

/* ---- JSON values: api_b64 for public data, api_b64_secret (the
 * constant-time encoder) for plaintext. */
json_t *api_b64(const uint8_t *p, size_t n);
json_t *api_b64_secret(const uint8_t *p, size_t n);

/* ---- hand-written JSON bodies for the hot routes (encrypt, decrypt):
 * numbers, base64 and hex need no escaping.  The buffer is wiped when it
 * grows (it may hold plaintext); api_out_send hands it to the response. */
typedef struct api_out {
  char *p;
  size_t len, cap;
  int failed;
} api_out;
int api_out_init(api_out *o, size_t cap);
void api_out_str(api_out *o, const char *lit);
void api_out_u64(api_out *o, uint64_t v);
void api_out_b64(api_out *o, const uint8_t *p, size_t n, int secret);
void api_out_hex(api_out *o, const uint8_t *p, size_t n);
void api_out_send(api_call *c, int status, api_out *o);
json_t *api_hex(const uint8_t *p, size_t n);

/* ---- handlers (h_*.c) */
void api_h_identity_create(api_call *c);
void api_h_identity_list(api_call *c);
void api_h_identity_get(api_call *c);
void api_h_identity_rotate(api_call *c);
void api_h_key_revoke(api_call *c);
void api_h_kp_generate(api_call *c);
void api_h_kp_stats(api_call *c);
void api_h_conv_open(api_call *c);
void api_h_conv_join(api_call *c);
void api_h_conv_get(api_call *c);
void api_h_conv_encrypt(api_call *c);
void api_h_conv_decrypt(api_call *c);
void api_h_conv_commit(api_call *c);
void api_h_conv_close(api_call *c);
void api_h_audit_checkpoint(api_call *c);
void api_h_audit_entries(api_call *c);
void api_h_audit_inclusion(api_call *c);
void api_h_audit_consistency(api_call *c);
void api_h_metrics(api_call *c);

/* api.c: the route of a method and path (API_R_UNMATCHED if none) and
 * its metrics label ("METHOD /template"). */
int api_route_of(const char *method, const char *path);
const char *api_route_label(int r);

/* h_audit.c: the audit log's size (entries). */
MG_MUST_USE int api_audit_size(mg_keystore *ks, uint64_t *size);

/* metrics.c */
int api_status_slot(int status);
extern const int api_status_codes[API_NUM_STATUS];
extern const uint64_t api_latency_bounds_ns[API_LATENCY_BUCKETS - 1];

#endif
