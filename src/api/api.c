/*
 * The API's front: the route table, matching, bearer-token authentication
 * and scopes, per-token rate limits, idempotent creating POSTs, JSON body
 * helpers and RFC 9457 problem responses (docs/api.md).
 *
 * Order of checks for every request: route (404/405), token (401), scope
 * (403), rate limit (429), idempotency (replay / 409 / 422), then the
 * handler.  A denial (401/403) is written to the audit log as "api.denied"
 * with the route template as object: never the token.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api_int.h"
#include "api/log.h"
#include "common/base64.h"
#include "common/guard.h"
#include "common/hex.h"
#include "common/secmem.h"
#include "crypto/crypto.h"

typedef void (*api_handler)(api_call *c);

typedef struct api_route {
  const char *method;
  const char *path; /* template: "{x}" matches one segment */
  uint32_t scope;   /* 0: public */
  const char *scope_name;
  int creates;      /* accepts Idempotency-Key (creating POSTs, and commit:
                       its Commit message exists only in the response) */
  api_handler fn;
} api_route;

/* The order is the API_R_* order of api_int.h. */
static const api_route kRoutes[API_R_NUM] = {
    {"GET", "/v1/health", 0, "-", 0, NULL},
    {"POST", "/v1/identities", MG_KS_SCOPE_KEYS_ADMIN, "keys:admin", 1,
     api_h_identity_create},
    {"GET", "/v1/identities", MG_KS_SCOPE_KEYS_ADMIN, "keys:admin", 0,
     api_h_identity_list},
    {"GET", "/v1/identities/{name}", MG_KS_SCOPE_KEYS_ADMIN, "keys:admin", 0,
     api_h_identity_get},
    {"POST", "/v1/identities/{name}/rotate", MG_KS_SCOPE_KEYS_ADMIN,
     "keys:admin", 0, api_h_identity_rotate},
    {"POST", "/v1/identities/{name}/keys/{key_id}/revoke",
     MG_KS_SCOPE_KEYS_ADMIN, "keys:admin", 0, api_h_key_revoke},
    {"POST", "/v1/identities/{name}/key-packages", MG_KS_SCOPE_KEYS_ADMIN,
     "keys:admin", 1, api_h_kp_generate},
    {"GET", "/v1/identities/{name}/key-packages/stats",
     MG_KS_SCOPE_KEYS_ADMIN, "keys:admin", 0, api_h_kp_stats},
    {"POST", "/v1/conversations", MG_KS_SCOPE_CONVERSATIONS, "conversations",
     1, api_h_conv_open},
    {"POST", "/v1/conversations/join", MG_KS_SCOPE_CONVERSATIONS,
     "conversations", 1, api_h_conv_join},
    {"GET", "/v1/conversations/{id}", MG_KS_SCOPE_CONVERSATIONS,
     "conversations", 0, api_h_conv_get},
    {"POST", "/v1/conversations/{id}/encrypt", MG_KS_SCOPE_MESSAGES,
     "messages", 0, api_h_conv_encrypt},
    {"POST", "/v1/conversations/{id}/decrypt", MG_KS_SCOPE_MESSAGES,
     "messages", 0, api_h_conv_decrypt},
    {"POST", "/v1/conversations/{id}/commit", MG_KS_SCOPE_CONVERSATIONS,
     "conversations", 1, api_h_conv_commit},
    {"DELETE", "/v1/conversations/{id}", MG_KS_SCOPE_CONVERSATIONS,
     "conversations", 0, api_h_conv_close},
    {"GET", "/v1/audit/checkpoint", MG_KS_SCOPE_AUDIT_READ, "audit:read", 0,
     api_h_audit_checkpoint},
    {"GET", "/v1/audit/entries", MG_KS_SCOPE_AUDIT_READ, "audit:read", 0,
     api_h_audit_entries},
    {"GET", "/v1/audit/proofs/inclusion", MG_KS_SCOPE_AUDIT_READ,
     "audit:read", 0, api_h_audit_inclusion},
    {"GET", "/v1/audit/proofs/consistency", MG_KS_SCOPE_AUDIT_READ,
     "audit:read", 0, api_h_audit_consistency},
    {"GET", "/metrics", MG_KS_SCOPE_METRICS, "metrics", 0, api_h_metrics},
};

void mg_api_print_routes(FILE *out) {
  size_t i;
  for (i = 0; i < API_R_NUM; i++) {
    fprintf(out, "%s %s %s\n", kRoutes[i].method, kRoutes[i].path,
            kRoutes[i].scope_name);
  }
}

static int match(const char *tmpl, const char *path, api_call *c);

int api_route_of(const char *method, const char *path) {
  size_t i;
  for (i = 0; i < API_R_NUM; i++) {
    api_call probe;
    memset(&probe, 0, sizeof(probe));
    if (strcmp(kRoutes[i].method, method) == 0 &&
        match(kRoutes[i].path, path, &probe)) {
      return (int)i;
    }
  }
  return API_R_UNMATCHED;
}

static char route_labels[API_R_NUM][72];
static pthread_once_t route_labels_once = PTHREAD_ONCE_INIT;

static void route_labels_init(void) {
  size_t i;
  for (i = 0; i < API_R_NUM; i++) {
    snprintf(route_labels[i], sizeof(route_labels[i]), "%s %s",
             kRoutes[i].method, kRoutes[i].path);
  }
}

const char *api_route_label(int r) {
  pthread_once(&route_labels_once, route_labels_init);
  return r >= 0 && r < API_R_NUM ? route_labels[r] : "unmatched";
}

void mg_api_options_default(mg_api_options *o) {
  o->rate_limit_rps = 1000.0;
  o->rate_limit_burst = 0; /* 2 x rps */
  o->idempotency_ttl = 24 * 3600;
  o->denial_rps = 20;
  o->denial_burst = 100;
}

int mg_api_new(mg_api **out, mg_keystore *ks, mg_session *sess,
               const mg_api_options *opt) {
  mg_api *api;
  if (out == NULL || ks == NULL || sess == NULL) {
    return MG_ERR_INVALID_ARG;
  }
  *out = NULL;
  api = calloc(1, sizeof(*api));
  if (api == NULL) {
    return MG_ERR_NOMEM;
  }
  api->ks = ks;
  api->sess = sess;
  if (opt != NULL) {
    api->opt = *opt;
  } else {
    mg_api_options_default(&api->opt);
  }
  if (api->opt.rate_limit_burst <= 0) {
    api->opt.rate_limit_burst = 2 * api->opt.rate_limit_rps;
  }
  if (api->opt.idempotency_ttl == 0) {
    api->opt.idempotency_ttl = 24 * 3600;
  }
  pthread_mutex_init(&api->rl_lock, NULL);
  pthread_mutex_init(&api->ckpt_lock, NULL);
  *out = api;
  return 0;
}

void mg_api_set_server(mg_api *api, const mg_http_server *server) {
  api->server = server;
}

void mg_api_free(mg_api *api) {
  if (api == NULL) {
    return;
  }
  pthread_mutex_destroy(&api->rl_lock);
  pthread_mutex_destroy(&api->ckpt_lock);
  free(api);
}

/* ------------------------------------------------------------ responses */

void api_problem(api_call *c, int status, const char *code,
                 const char *detail) {
  const char *title;
  switch (status) {
    case 400: title = "Bad Request"; break;
    case 401: title = "Unauthorized"; break;
    case 403: title = "Forbidden"; break;
    case 404: title = "Not Found"; break;
    case 405: title = "Method Not Allowed"; break;
    case 409: title = "Conflict"; break;
    case 413: title = "Content Too Large"; break;
    case 422: title = "Unprocessable Content"; break;
    case 429: title = "Too Many Requests"; break;
    case 503: title = "Service Unavailable"; break;
    default: title = "Internal Server Error"; break;
  }
  mg_free_secret(c->resp->body, c->resp->body_len);
  c->resp->body = NULL;
  c->resp->body_len = 0;
  mg_http_problem(c->resp, status, code, title, detail, c->req->request_id);
}

static void add_header(mg_http_response *r, const char *name,
                       const char *value) {
  if (r->num_extra >= MG_HTTP_MAX_EXTRA_HEADERS) {
    return;
  }
  snprintf(r->extra[r->num_extra].name, sizeof(r->extra[0].name), "%s", name);
  snprintf(r->extra[r->num_extra].value, sizeof(r->extra[0].value), "%s",
           value);
  r->num_extra++;
}

/* mls_error_name: "MG_ERR_SIGNATURE" -> "signature". */
static void mls_error_name(int err, char *out, size_t cap) {
  const char *n = mg_err_name(err);
  size_t i;
  if (strncmp(n, "MG_ERR_", 7) == 0) {
    n += 7;
  }
  for (i = 0; n[i] != '\0' && i + 1 < cap; i++) {
    char ch = n[i];
    out[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
  }
  out[i] = '\0';
}

void api_error(api_call *c, int err, const char *what) {
  char detail[256];
  char name[48];
  mls_error_name(err, name, sizeof(name));
  snprintf(detail, sizeof(detail), "%s: %s", what, mg_strerror(err));
  switch (err) {
    case MG_ERR_NOT_FOUND:
      api_problem(c, 404, "not_found", detail);
      return;
    case MG_ERR_CONFLICT:
      if (c->route == API_R_KEY_REVOKE) {
        api_problem(c, 409, "conflict", detail);
      } else {
        api_problem(c, 409, "epoch_conflict", detail);
      }
      return;
    case MG_ERR_EXISTS:
      api_problem(c, 409, "already_exists", detail);
      return;
    case MG_ERR_INVALID_ARG:
      api_problem(c, 400, "invalid_argument", detail);
      return;
    case MG_ERR_BASE64:
      api_problem(c, 400, "invalid_base64", detail);
      return;
    case MG_ERR_STORE:
    case MG_ERR_RETRY:
    case MG_ERR_UNKNOWN_OUTCOME:
    case MG_ERR_TAMPERED:
    case MG_ERR_SCHEMA:
    case MG_ERR_KEK:
    case MG_ERR_IO:
      api_problem(c, 503, "store_unavailable", detail);
      add_header(c->resp, "retry-after", "1");
      return;
    default:
      break;
  }
  switch (mg_err_class_of(err)) {
    case MG_ERRCLASS_DECODE:
      api_problem(c, 400, "malformed_mls", detail);
      break;
    case MG_ERRCLASS_PROTOCOL:
    case MG_ERRCLASS_CRYPTO: {
      json_t *j;
      api_problem(c, 422, "mls_rejected", detail);
      /* Add "mls_error" to the problem body. */
      j = json_loadb((const char *)c->resp->body, c->resp->body_len, 0, NULL);
      if (j != NULL) {
        json_object_set_new(j, "mls_error", json_string(name));
        mg_free_secret(c->resp->body, c->resp->body_len);
        c->resp->body = NULL;
        c->resp->body_len = 0;
        api_json(c, 422, j);
        c->resp->content_type = "application/problem+json";
      }
      break;
    }
    case MG_ERRCLASS_NONE:
    case MG_ERRCLASS_NOT_FOUND:
    case MG_ERRCLASS_CONFLICT:
    case MG_ERRCLASS_STORE:
    case MG_ERRCLASS_INTERNAL:
      mg_log(MG_LOG_ERROR, "internal_error", "request_id",
             c->req->request_id, "error", mg_err_name(err), (char *)NULL);
      api_problem(c, 500, "internal", "internal error");
      break;
  }
}

void api_json(api_call *c, int status, json_t *j) {
  size_t n;
  char *buf;
  if (j == NULL) {
    api_problem(c, 500, "internal", "out of memory");
    return;
  }
  /* One serialization into a guess; a second only when it was too small
   * (json_dumpb returns the size it needs). */
  {
    size_t cap = 4096;
    buf = malloc(cap);
    n = buf != NULL ? json_dumpb(j, buf, cap - 1, JSON_COMPACT) : 0;
    if (buf != NULL && n >= cap - 1) {
      char *big = malloc(n + 1);
      free(buf);
      buf = big;
      if (buf != NULL && json_dumpb(j, buf, n, JSON_COMPACT) != n) {
        free(buf);
        buf = NULL;
      }
    }
  }
  if (buf == NULL || n == 0) {
    free(buf);
    json_decref(j);
    api_problem(c, 500, "internal", "out of memory");
    return;
  }
  buf[n] = '\n';
  json_decref(j);
  mg_free_secret(c->resp->body, c->resp->body_len);
  c->resp->status = status;
  c->resp->content_type = "application/json";
  c->resp->body = (uint8_t *)buf;
  c->resp->body_len = n + 1;
}

void api_text(api_call *c, int status, const char *ctype, char *text,
              size_t len) {
  mg_free_secret(c->resp->body, c->resp->body_len);
  c->resp->status = status;
  c->resp->content_type = ctype;
  c->resp->body = (uint8_t *)text;
  c->resp->body_len = len;
}

void api_empty(api_call *c, int status) {
  mg_free_secret(c->resp->body, c->resp->body_len);
  c->resp->status = status;
  c->resp->content_type = NULL;
  c->resp->body = NULL;
  c->resp->body_len = 0;
}

static json_t *b64_string(const uint8_t *p, size_t n, int secret) {
  char *s = malloc(MG_BASE64_ENCODED_LEN(n) + 1);
  json_t *j;
  if (s == NULL) {
    return NULL;
  }
  if (secret) {
    mg_base64_encode(s, p, n);
  } else {
    mg_base64_encode_public(s, p, n);
  }
  j = json_stringn(s, MG_BASE64_ENCODED_LEN(n));
  mg_free_secret(s, MG_BASE64_ENCODED_LEN(n) + 1);
  return j;
}

json_t *api_b64(const uint8_t *p, size_t n) { return b64_string(p, n, 0); }

json_t *api_b64_secret(const uint8_t *p, size_t n) {
  return b64_string(p, n, 1);
}

/* ------------------------------------------------- hand-written bodies */

int api_out_init(api_out *o, size_t cap) {
  o->len = 0;
  o->cap = cap;
  o->failed = 0;
  o->p = malloc(cap);
  if (o->p == NULL) {
    o->failed = 1;
    return -1;
  }
  return 0;
}

static void out_need(api_out *o, size_t n) {
  char *q;
  size_t cap;
  if (o->failed || o->cap - o->len >= n) {
    return;
  }
  cap = o->cap * 2 + n;
  q = malloc(cap);
  if (q == NULL) {
    o->failed = 1;
    return;
  }
  memcpy(q, o->p, o->len);
  mg_free_secret(o->p, o->cap); /* may hold plaintext */
  o->p = q;
  o->cap = cap;
}

void api_out_str(api_out *o, const char *lit) {
  size_t n = strlen(lit);
  out_need(o, n);
  if (!o->failed) {
    memcpy(o->p + o->len, lit, n);
    o->len += n;
  }
}

void api_out_u64(api_out *o, uint64_t v) {
  char buf[24];
  snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
  api_out_str(o, buf);
}

void api_out_b64(api_out *o, const uint8_t *p, size_t n, int secret) {
  size_t m = MG_BASE64_ENCODED_LEN(n);
  out_need(o, m + 1);
  if (o->failed) {
    return;
  }
  if (secret) {
    mg_base64_encode(o->p + o->len, p, n);
  } else {
    mg_base64_encode_public(o->p + o->len, p, n);
  }
  o->len += m;
}

void api_out_hex(api_out *o, const uint8_t *p, size_t n) {
  out_need(o, 2 * n + 1);
  if (!o->failed) {
    mg_hex_encode(o->p + o->len, p, n);
    o->len += 2 * n;
  }
}

void api_out_send(api_call *c, int status, api_out *o) {
  if (o->failed) {
    mg_free_secret(o->p, o->cap);
    o->p = NULL;
    api_problem(c, 500, "internal", "out of memory");
    return;
  }
  api_out_str(o, "\n");
  mg_free_secret(c->resp->body, c->resp->body_len);
  c->resp->status = status;
  c->resp->content_type = "application/json";
  c->resp->body = (uint8_t *)o->p;
  c->resp->body_len = o->len;
  o->p = NULL;
}

/* decode_field decodes the base64 value |s| (|n| characters) of field
 * |key| into |out| (owned): 0, or -1 with the problem answered. */
static int decode_field(api_call *c, const char *key, const char *s, size_t n,
                        int secret, mls_bytes *out) {
  size_t cap = MG_BASE64_DECODED_MAX(n);
  int rc;
  out->len = 0;
  out->data = malloc(cap > 0 ? cap : 1);
  if (out->data == NULL) {
    api_problem(c, 503, "overloaded", "out of memory");
    return -1;
  }
  rc = secret ? mg_base64_decode(out->data, cap, &out->len, s, n)
              : mg_base64_decode_public(out->data, cap, &out->len, s, n);
  if (rc < 0) {
    char detail[160];
    free(out->data);
    out->data = NULL;
    out->len = 0;
    snprintf(detail, sizeof(detail), "field \"%s\" is not standard base64",
             key);
    api_problem(c, 400, "invalid_base64", detail);
    return -1;
  }
  return 0;
}

/* api_body_b64_only recognizes the body {"KEY":"<base64>"} exactly
 * (whitespace allowed between tokens) and decodes it without building a
 * JSON tree: 1 done (|out| filled), 0 not that form (the caller parses it
 * with jansson, which decides), -1 a problem was answered.  A base64 string
 * has no escapes, so a string that needs any is not matched here. */
int api_body_b64_only(api_call *c, const char *key, int secret,
                      mls_bytes *out) {
  const char *p = (const char *)c->req->body;
  const char *end = p + c->req->body_len;
  size_t kl = strlen(key);
  const char *v, *ve;
#define SKIP_WS()                                                   \
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) \
  p++
  out->data = NULL;
  out->len = 0;
  SKIP_WS();
  if (p >= end || *p++ != '{') {
    return 0;
  }
  SKIP_WS();
  if ((size_t)(end - p) < kl + 2 || p[0] != '"' ||
      memcmp(p + 1, key, kl) != 0 || p[kl + 1] != '"') {
    return 0;
  }
  p += kl + 2;
  SKIP_WS();
  if (p >= end || *p++ != ':') {
    return 0;
  }
  SKIP_WS();
  if (p >= end || *p++ != '"') {
    return 0;
  }
  v = p;
  /* The closing quote, and no escape before it (memchr: vectorized). */
  p = memchr(v, '"', (size_t)(end - v));
  if (p == NULL || memchr(v, '\\', (size_t)(p - v)) != NULL) {
    return 0;
  }
  ve = p++;
  SKIP_WS();
  if (p >= end || *p++ != '}') {
    return 0;
  }
  SKIP_WS();
  if (p != end) {
    return 0;
  }
#undef SKIP_WS
  return decode_field(c, key, v, (size_t)(ve - v), secret, out) < 0 ? -1 : 1;
}

json_t *api_hex(const uint8_t *p, size_t n) {
  char buf[2 * 64 + 1];
  if (n > 64) {
    return NULL;
  }
  mg_hex_encode(buf, p, n);
  return json_stringn(buf, 2 * n);
}

/* --------------------------------------------------------- request body */

int api_body_object(api_call *c) {
  json_error_t e;
  if (c->req->body_len == 0) {
    c->body = json_object();
    return c->body != NULL ? 0 : -1;
  }
  c->body = json_loadb((const char *)c->req->body, c->req->body_len,
                       JSON_REJECT_DUPLICATES, &e);
  if (c->body == NULL || !json_is_object(c->body)) {
    char detail[200];
    snprintf(detail, sizeof(detail), "the body is not a JSON object%s%s",
             c->body == NULL ? ": " : "", c->body == NULL ? e.text : "");
    json_decref(c->body);
    c->body = NULL;
    api_problem(c, 400, "malformed_json", detail);
    return -1;
  }
  return 0;
}

static int missing(api_call *c, const char *key, const char *type) {
  char detail[160];
  snprintf(detail, sizeof(detail), "field \"%s\" must be %s", key, type);
  api_problem(c, 400, "malformed_json", detail);
  return -1;
}

int api_get_string(api_call *c, const char *key, int required,
                   const char **out) {
  json_t *v = json_object_get(c->body, key);
  *out = NULL;
  if (v == NULL || json_is_null(v)) {
    return required ? missing(c, key, "a string") : 0;
  }
  if (!json_is_string(v)) {
    return missing(c, key, "a string");
  }
  *out = json_string_value(v);
  return 0;
}

int api_get_uint(api_call *c, const char *key, int required, uint64_t max,
                 uint64_t *out) {
  json_t *v = json_object_get(c->body, key);
  if (v == NULL || json_is_null(v)) {
    return required ? missing(c, key, "an integer") : 0;
  }
  if (!json_is_integer(v) || json_integer_value(v) < 0 ||
      (uint64_t)json_integer_value(v) > max) {
    char detail[160];
    snprintf(detail, sizeof(detail),
             "field \"%s\" must be an integer from 0 to %llu", key,
             (unsigned long long)max);
    api_problem(c, 400, json_is_integer(v) ? "invalid_argument"
                                           : "malformed_json",
                detail);
    return -1;
  }
  *out = (uint64_t)json_integer_value(v);
  return 0;
}

int api_get_bool(api_call *c, const char *key, int *out) {
  json_t *v = json_object_get(c->body, key);
  if (v == NULL || json_is_null(v)) {
    return 0;
  }
  if (!json_is_boolean(v)) {
    return missing(c, key, "a boolean");
  }
  *out = json_is_true(v);
  return 0;
}

int api_get_b64(api_call *c, const char *key, int required, int secret,
                mls_bytes *out) {
  json_t *v = json_object_get(c->body, key);
  out->data = NULL;
  out->len = 0;
  if (v == NULL || json_is_null(v)) {
    return required ? missing(c, key, "a base64 string") : 0;
  }
  if (!json_is_string(v)) {
    return missing(c, key, "a base64 string");
  }
  return decode_field(c, key, json_string_value(v), json_string_length(v),
                      secret, out);
}

int api_query_uint(api_call *c, const char *name, int *present,
                   uint64_t *out) {
  const char *q = c->req->query;
  size_t nl = strlen(name);
  *present = 0;
  *out = 0;
  while (q != NULL && *q != '\0') {
    const char *amp = strchr(q, '&');
    size_t seg = amp != NULL ? (size_t)(amp - q) : strlen(q);
    if (seg > nl && strncmp(q, name, nl) == 0 && q[nl] == '=') {
      const char *v = q + nl + 1;
      size_t vl = seg - nl - 1, i;
      uint64_t x = 0;
      if (vl == 0 || vl > 19) {
        goto bad;
      }
      for (i = 0; i < vl; i++) {
        if (v[i] < '0' || v[i] > '9') {
          goto bad;
        }
        x = x * 10 + (uint64_t)(v[i] - '0');
      }
      *present = 1;
      *out = x;
      return 0;
    }
    q = amp != NULL ? amp + 1 : NULL;
  }
  return 0;
bad: {
  char detail[120];
  snprintf(detail, sizeof(detail),
           "query parameter \"%s\" must be an unsigned integer", name);
  api_problem(c, 400, "invalid_argument", detail);
  return -1;
}
}

/* --------------------------------------------------------------- routing */

/* match compares |path| with |tmpl|; captures "{x}" segments. */
static int match(const char *tmpl, const char *path, api_call *c) {
  size_t np = 0;
  while (*tmpl != '\0' && *path != '\0') {
    if (*tmpl == '{') {
      const char *te = strchr(tmpl, '}');
      const char *pe = strchr(path, '/');
      size_t n = pe != NULL ? (size_t)(pe - path) : strlen(path);
      if (te == NULL || n == 0 || n >= sizeof(c->param_buf[0]) ||
          np >= API_MAX_PARAMS) {
        return 0;
      }
      memcpy(c->param_buf[np], path, n);
      c->param_buf[np][n] = '\0';
      c->params[np] = c->param_buf[np];
      np++;
      tmpl = te + 1;
      path += n;
      continue;
    }
    if (*tmpl != *path) {
      return 0;
    }
    tmpl++;
    path++;
  }
  return *tmpl == '\0' && *path == '\0';
}

static const char *header(const mg_http_request *req, const char *name) {
  size_t i;
  for (i = 0; i < req->num_headers; i++) {
    if (strcmp(req->headers[i].name, name) == 0) {
      return req->headers[i].value;
    }
  }
  return NULL;
}

static void audit_denial(api_call *c, int err) {
  mg_ks_audit a;
  mg_ks_ctx ctx;
  memset(&a, 0, sizeof(a));
  a.action = "api.denied";
  a.object = kRoutes[c->route].path;
  a.result = err;
  ctx.actor = c->actor[0] != '\0' ? c->actor : "anonymous";
  ctx.now = (uint64_t)time(NULL);
  atomic_fetch_add(&c->api->denials, 1);
  /* A denial that cannot be recorded is still a denial (and logged). */
  if (mg_ks_audit_record(c->api->ks, &ctx, &a) < 0) {
    mg_log(MG_LOG_WARN, "audit_denial_failed", "request_id",
           c->req->request_id, "route", kRoutes[c->route].path,
           (char *)NULL);
  }
}

static int denial_ok(api_call *c);

/* too_many_denials answers a client past its failed-authentication budget
 * (denial_ok): 429, counted, not audited. */
static int too_many_denials(api_call *c) {
  atomic_fetch_add(&c->api->denials_suppressed, 1);
  api_problem(c, 429, "rate_limited",
              "too many failed authentications from this address");
  add_header(c->resp, "retry-after", "1");
  return -1;
}

/* authenticate: 0 and c->ctx set, or the 401/403 answered. */
static int authenticate(api_call *c, uint32_t scope) {
  const char *h = header(c->req, "authorization");
  mg_ks_token_info info;
  int rc;
  if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0) {
    if (!denial_ok(c)) {
      return too_many_denials(c);
    }
    audit_denial(c, MG_ERR_NOT_FOUND);
    api_problem(c, 401, "unauthenticated", "a bearer token is required");
    add_header(c->resp, "www-authenticate", "Bearer realm=\"mlsgate\"");
    return -1;
  }
  h += 7;
  while (*h == ' ') {
    h++;
  }
  memset(&info, 0, sizeof(info));
  rc = mg_ks_token_authenticate(c->api->ks, h, strlen(h), c->ctx.now, &info);
  if (rc < 0) {
    const char *why = rc == MG_ERR_LIFETIME ? "the token has expired"
                      : rc == MG_ERR_STATE  ? "the token was revoked"
                                            : "unknown token";
    if (mg_err_class_of(rc) == MG_ERRCLASS_STORE) {
      api_error(c, rc, "token check");
      return -1;
    }
    if (!denial_ok(c)) {
      return too_many_denials(c);
    }
    audit_denial(c, rc);
    api_problem(c, 401, "unauthenticated", why);
    add_header(c->resp, "www-authenticate",
               "Bearer realm=\"mlsgate\", error=\"invalid_token\"");
    return -1;
  }
  snprintf(c->actor, sizeof(c->actor), "token:%s", info.name);
  c->ctx.actor = c->actor;
  if ((info.scopes & scope) != scope) {
    char detail[120];
    snprintf(detail, sizeof(detail), "the token lacks the scope %s",
             kRoutes[c->route].scope_name);
    audit_denial(c, MG_ERR_CREDENTIAL);
    api_problem(c, 403, "forbidden", detail);
    return -1;
  }
  return 0;
}

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* bucket_take takes one token from |name|'s bucket in |tab| (FNV-1a
 * slot, linear probing).  A slot held by another name whose bucket has
 * refilled to |burst| is taken over (such a bucket is indistinguishable
 * from a new one), so the table never fills with stale names; when every
 * slot is busy the name shares the home slot, which only makes limits
 * stricter.  Returns 1 if a token was taken. */
static int bucket_take(mg_api *api, api_bucket *tab, const char *name,
                       double rps, double burst) {
  uint64_t h = 1469598103934665603ull, now = mono_ns();
  size_t i, home, slot;
  api_bucket *b;
  int ok;
  for (i = 0; name[i] != '\0'; i++) {
    h = (h ^ (uint8_t)name[i]) * 1099511628211ull;
  }
  pthread_mutex_lock(&api->rl_lock);
  home = slot = (size_t)(h % API_BUCKETS);
  for (i = 0; i < API_BUCKETS; i++) {
    api_bucket *t = &tab[(home + i) % API_BUCKETS];
    if (!t->used || strcmp(t->name, name) == 0 ||
        t->tokens + (double)(now - t->last_ns) / 1e9 * rps >= burst) {
      slot = (home + i) % API_BUCKETS;
      break;
    }
  }
  b = &tab[slot];
  if (!b->used || strcmp(b->name, name) != 0) {
    b->used = 1;
    snprintf(b->name, sizeof(b->name), "%s", name);
    b->tokens = burst;
    b->last_ns = now;
  }
  b->tokens += (double)(now - b->last_ns) / 1e9 * rps;
  if (b->tokens > burst) {
    b->tokens = burst;
  }
  b->last_ns = now;
  ok = b->tokens >= 1.0;
  if (ok) {
    b->tokens -= 1.0;
  }
  pthread_mutex_unlock(&api->rl_lock);
  return ok;
}

/* rate_ok: the per-token request limit. */
static int rate_ok(api_call *c) {
  mg_api *api = c->api;
  if (api->opt.rate_limit_rps <= 0) {
    return 1;
  }
  return bucket_take(api, api->buckets, c->actor + 6 /* after "token:" */,
                     api->opt.rate_limit_rps, api->opt.rate_limit_burst);
}

/* denial_ok: the per-client-address budget of failed authentications
 * (each one is an audit entry, a durable write): past it, requests that
 * fail authentication get 429 without touching the store, so that a flood
 * of bad tokens can neither fill the audit log nor starve the workers. */
static int denial_ok(api_call *c) {
  char ip[64];
  const char *colon;
  size_t n;
  if (c->api->opt.denial_rps <= 0) {
    return 1;
  }
  colon = strrchr(c->req->peer != NULL ? c->req->peer : "", ':');
  n = colon != NULL ? (size_t)(colon - c->req->peer) : 0;
  if (n >= sizeof(ip)) {
    n = sizeof(ip) - 1;
  }
  memcpy(ip, c->req->peer != NULL ? c->req->peer : "", n);
  ip[n] = '\0';
  return bucket_take(c->api, c->api->peer_buckets, ip, c->api->opt.denial_rps,
                     c->api->opt.denial_burst);
}

/* ---------------------------------------------------------- idempotency */

static int idem_key_ok(const char *k) {
  size_t n;
  for (n = 0; k[n] != '\0'; n++) {
    if (k[n] < 0x21 || k[n] > 0x7e || n >= 255) {
      return 0;
    }
  }
  return n > 0;
}

static int idem_in_txn(mg_ks_txn *txn, void *arg, const void *result) {
  api_idem_hook *ih = arg;
  api_call *c = ih->c;
  c->idem_stored = 0; /* a re-run */
  ih->answer(c, result);
  if (c->resp->status < 200 || c->resp->status >= 300) {
    return MG_ERR_NOMEM; /* the answer could not be written */
  }
  MG_GUARD(mg_ks_idem_finish_txn(
      txn, c->actor + 6, c->idem_route, c->idem_key,
      (uint16_t)c->resp->status,
      c->resp->content_type != NULL ? c->resp->content_type
                                    : "application/json",
      c->resp->body, c->resp->body_len));
  c->idem_stored = 1;
  return 0;
}

const mg_session_hook *api_idem_hook_init(
    api_idem_hook *ih, api_call *c,
    void (*answer)(api_call *c, const void *result)) {
  if (c->idem_key == NULL) {
    return NULL;
  }
  memset(ih, 0, sizeof(*ih));
  ih->c = c;
  ih->answer = answer;
  ih->h.in_txn = idem_in_txn;
  ih->h.arg = ih;
  return &ih->h;
}

/* run_idempotent runs the handler under an Idempotency-Key: a new key runs
 * it and stores its response (2xx and 4xx; a 5xx releases the key so that
 * the client may retry, except an unknown outcome, which keeps it in
 * progress), a known one replays the stored response. */
static void run_idempotent(api_call *c, const char *key) {
  const api_route *r = &kRoutes[c->route];
  char route[128];
  uint8_t hash[32];
  mg_ks_idem idem;
  int rc;
  snprintf(route, sizeof(route), "%s %s", r->method, r->path);
  if (!idem_key_ok(key)) {
    api_problem(c, 400, "invalid_argument",
                "Idempotency-Key must be 1 to 255 printable ASCII characters");
    return;
  }
  if (mg_sha256.digest(&mg_sha256, hash, c->req->body, c->req->body_len) < 0) {
    api_problem(c, 500, "internal", "hash failed");
    return;
  }
  memset(&idem, 0, sizeof(idem));
  rc = mg_ks_idem_begin(c->api->ks, c->actor + 6, route, key, hash, c->ctx.now,
                        c->api->opt.idempotency_ttl, &idem);
  if (rc < 0) {
    api_error(c, rc, "idempotency");
    return;
  }
  switch (rc) {
    case MG_KS_IDEM_REPLAY:
      mg_free_secret(c->resp->body, c->resp->body_len);
      c->resp->status = idem.status;
      /* The response's content type must outlive this call: ours are one
       * of two static strings. */
      c->resp->content_type =
          idem.content_type != NULL &&
                  strcmp(idem.content_type, "application/json") == 0
              ? "application/json"
              : "application/problem+json";
      c->resp->body = idem.body;
      c->resp->body_len = idem.body_len;
      idem.body = NULL;
      idem.body_len = 0;
      add_header(c->resp, "idempotent-replayed", "true");
      mg_ks_idem_cleanup(&idem);
      return;
    case MG_KS_IDEM_MISMATCH:
      mg_ks_idem_cleanup(&idem);
      api_problem(c, 422, "idempotency_key_reused",
                  "this Idempotency-Key was used with another request body");
      return;
    case MG_KS_IDEM_IN_PROGRESS:
      mg_ks_idem_cleanup(&idem);
      api_problem(c, 409, "idempotency_in_progress",
                  "a request with this Idempotency-Key is in progress or its "
                  "outcome is unknown");
      return;
    default:
      break;
  }
  mg_ks_idem_cleanup(&idem);
  c->idem_route = route;
  c->idem_key = key;
  r->fn(c);
  if (c->idem_stored) {
    return; /* stored with the operation, in its transaction */
  }
  if (c->resp->status >= 500) {
    /* 503 store_unavailable may be an unknown outcome: keep the key
     * reserved then (a retry gets 409), release it otherwise. */
    if (c->resp->status != 503 &&
        mg_ks_idem_abort(c->api->ks, c->actor + 6, route, key) < 0) {
      mg_log(MG_LOG_WARN, "idempotency_abort_failed", "request_id",
             c->req->request_id, (char *)NULL);
    }
    return;
  }
  rc = mg_ks_idem_finish(
      c->api->ks, c->actor + 6, route, key, (uint16_t)c->resp->status,
      c->resp->content_type != NULL ? c->resp->content_type
                                    : "application/json",
      c->resp->body, c->resp->body_len);
  (void)rc; /* the operation committed; its response goes out regardless */
}

/* ------------------------------------------------------------- dispatch */

static void dispatch(api_call *c);

/* access_log writes one JSON line per request (on the worker thread, never
 * the I/O thread): request ID, method, route template (never the path's
 * identifiers), status, the token's name, duration. */
static void access_log(const api_call *c) {
  char status[8], ms[32];
  snprintf(status, sizeof(status), "%d", c->resp->status);
  snprintf(ms, sizeof(ms), "%.3f",
           (double)(mono_ns() - c->req->received_ns) / 1e6);
  mg_log(c->resp->status >= 500 ? MG_LOG_WARN : MG_LOG_INFO, "request",
         "request_id", c->req->request_id, "method", c->req->method, "route",
         c->route < API_R_NUM ? kRoutes[c->route].path : "unmatched",
         "status", status, "actor", c->ctx.actor, "duration_ms", ms,
         (char *)NULL);
}

void mg_api_handle(void *arg, const mg_http_request *req,
                   mg_http_response *resp) {
  api_call c;
  memset(&c, 0, sizeof(c));
  c.api = arg;
  c.req = req;
  c.resp = resp;
  c.route = API_R_UNMATCHED;
  c.ctx.actor = "anonymous";
  c.ctx.now = (uint64_t)time(NULL);
  dispatch(&c);
  json_decref(c.body);
  c.body = NULL;
  if (!c.deferred) {
    /* A deferred answer may already be on its way: |resp| is not ours. */
    api_call_finish(&c);
  }
}

void api_call_finish(api_call *c) {
  c->resp->tag = c->route + 1; /* for mg_api_done: no second route match */
  access_log(c);
}

static void dispatch(api_call *c) {
  const mg_http_request *req = c->req;
  mg_http_response *resp = c->resp;
  size_t i;
  int path_known = 0;
  char allow[64] = "";
  for (i = 0; i < API_R_NUM; i++) {
    api_call probe;
    memset(&probe, 0, sizeof(probe));
    if (!match(kRoutes[i].path, req->path, &probe)) {
      continue;
    }
    if (strcmp(kRoutes[i].method, req->method) != 0) {
      path_known = 1;
      if (strlen(allow) + strlen(kRoutes[i].method) + 3 < sizeof(allow)) {
        if (allow[0] != '\0') {
          strcat(allow, ", ");
        }
        strcat(allow, kRoutes[i].method);
      }
      continue;
    }
    c->route = (int)i;
    memcpy(c->param_buf, probe.param_buf, sizeof(c->param_buf));
    c->params[0] = probe.params[0] != NULL ? c->param_buf[0] : NULL;
    c->params[1] = probe.params[1] != NULL ? c->param_buf[1] : NULL;
    break;
  }
  /* "/v1/conversations/join" also matches "/v1/conversations/{id}" for
   * other methods; the table order puts the literal route first. */
  if (c->route == API_R_UNMATCHED) {
    if (path_known) {
      api_problem(c, 405, "method_not_allowed",
                  "the route does not accept this method");
      add_header(resp, "allow", allow);
    } else {
      api_problem(c, 404, "not_found", "no such route");
    }
    return;
  }
  if (c->route == API_R_HEALTH) {
    api_json(c, 200, json_pack("{s:s}", "status", "ok"));
    return;
  }
  if (authenticate(c, kRoutes[c->route].scope) < 0) {
    return;
  }
  if (!rate_ok(c)) {
    atomic_fetch_add(&c->api->rate_limited, 1);
    api_problem(c, 429, "rate_limited", "the token's request rate is over "
                                         "its limit");
    add_header(resp, "retry-after", "1");
    return;
  }
  if (kRoutes[c->route].creates) {
    const char *key = header(req, "idempotency-key");
    if (key != NULL) {
      run_idempotent(c, key);
      return;
    }
  }
  kRoutes[c->route].fn(c);
}
