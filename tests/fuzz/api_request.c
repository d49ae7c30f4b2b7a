/*
 * libFuzzer target for the HTTP API's request handling (src/api/api.c and
 * the handlers): fuzzed method, path, query, headers and body handed to
 * mg_api_handle over a live store, as the server's worker threads do.
 *
 * At start-up a store is created in a temporary directory with an
 * all-scopes token, identities alice and bob (suite 1), a conversation
 * "conv-a" opened by alice with one of bob's KeyPackages and joined by
 * bob (its id replaces "@b" in fuzzed paths), so that valid-looking
 * requests reach the session layer and the MLS engine.
 *
 * Input: byte 0 picks the method (low 2 bits: GET, POST, DELETE, PUT),
 * whether the token is sent (bit 2) and an Idempotency-Key (bit 3); then
 * the path (with an optional "?query") up to the first '\n'; the rest is
 * the body.
 *
 * Properties: no crash or sanitizer report; every answer has a status
 * the API documents and is never 500 (internal: a bug); every JSON or
 * problem+json body parses, and a problem's "status" equals the status.
 */
#include "config.h"

#include <dirent.h>
#include <unistd.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "api/log.h"
#include "crypto/crypto.h"
#include "keystore/keystore.h"
#include "keystore/kv.h"
#include "session/session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static mg_keystore *ks;
static mg_session *sess;
static mg_api *api;
static char token[MG_KS_TOKEN_LEN + 1];
static char bob_conv[MG_KS_CONV_ID_MAX + 1];
static char store_dir[] = "/tmp/mlsgate-fuzz-api.XXXXXX";

static void teardown(void) {
  mg_api_free(api);
  mg_session_free(sess);
  mg_ks_close(ks);
  api = NULL;
  {
    /* The store directory holds files only. */
    DIR *d = opendir(store_dir);
    struct dirent *e;
    char p[sizeof(store_dir) + 300];
    while (d != NULL && (e = readdir(d)) != NULL) {
      if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
        snprintf(p, sizeof(p), "%s/%s", store_dir, e->d_name);
        (void)unlink(p);
      }
    }
    if (d != NULL) {
      closedir(d);
    }
    (void)rmdir(store_dir);
  }
}

static void die(const char *what, int rc) {
  fprintf(stderr, "fuzz_api_request: %s (%d)\n", what, rc);
  abort();
}

static int kp_first(void *arg, const uint8_t *ref, size_t ref_len,
                    const uint8_t *kp, size_t kp_len) {
  mls_bytes *out = arg;
  (void)ref;
  (void)ref_len;
  if (out->data == NULL) {
    out->data = malloc(kp_len);
    if (out->data == NULL) {
      return MG_ERR_NOMEM;
    }
    memcpy(out->data, kp, kp_len);
    out->len = kp_len;
  }
  return 0;
}

static void setup(void) {
  char *dir = store_dir;
  char kek[sizeof(store_dir) + 8];
  mg_ks_options o;
  mg_ks_ctx ctx = {"fuzz", (uint64_t)time(NULL)};
  mls_bytes kp = {NULL, 0};
  mg_conv_opened a, b;
  int rc;
  mg_log_set_level(MG_LOG_ERROR);
  if (mg_crypto_init() < 0 || mkdtemp(dir) == NULL) {
    die("setup", -1);
  }
  atexit(teardown);
  snprintf(kek, sizeof(kek), "%s/kek", dir);
  if ((rc = mg_kv_kek_generate(kek)) < 0) {
    die("kek", rc);
  }
  memset(&o, 0, sizeof(o));
  o.dir = dir;
  o.kek_path = kek;
  o.kek_fd = -1;
  o.create = 1;
  if ((rc = mg_ks_open(&ks, &o)) < 0 ||
      (rc = mg_ks_token_create(ks, &ctx, "fuzz", MG_KS_SCOPE_ALL, 0, token,
                               NULL)) < 0 ||
      (rc = mg_ks_identity_create(ks, &ctx, "alice", 1, 0, NULL)) < 0 ||
      (rc = mg_ks_identity_create(ks, &ctx, "bob", 1, 0, NULL)) < 0 ||
      (rc = mg_ks_kp_generate(ks, &ctx, "bob", 1, 0, kp_first, &kp)) < 0 ||
      (rc = mg_session_new(&sess, ks, NULL)) < 0) {
    die("store", rc);
  }
  memset(&a, 0, sizeof(a));
  memset(&b, 0, sizeof(b));
  if ((rc = mg_session_open_conversation(sess, &ctx, "alice", kp.data, kp.len,
                                         "conv-a", &a)) < 0 ||
      (rc = mg_session_join(sess, &ctx, "bob", a.welcome.data, a.welcome.len,
                            a.ratchet_tree.data, a.ratchet_tree.len, &b)) < 0) {
    die("conversation", rc);
  }
  snprintf(bob_conv, sizeof(bob_conv), "%s", b.conversation_id);
  mg_conv_opened_cleanup(&a);
  mg_conv_opened_cleanup(&b);
  free(kp.data);
  if ((rc = mg_api_new(&api, ks, sess, NULL)) < 0) {
    die("api", rc);
  }
}

static int documented(int status) {
  static const int kOk[] = {200, 201, 204, 400, 401, 403, 404, 405,
                            409, 413, 422, 429, 503};
  size_t i;
  for (i = 0; i < sizeof(kOk) / sizeof(kOk[0]); i++) {
    if (kOk[i] == status) {
      return 1;
    }
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char *const kMethods[4] = {"GET", "POST", "DELETE", "PUT"};
  char path[1024], auth[MG_KS_TOKEN_LEN + 16], idem[40];
  mg_http_header headers[2];
  mg_http_request req;
  mg_http_response resp;
  const uint8_t *nl;
  size_t plen, n = 0, i, o = 0;
  char *q;
  if (api == NULL) {
    setup();
  }
  if (size < 1) {
    return 0;
  }
  nl = memchr(data + 1, '\n', size - 1);
  plen = nl != NULL ? (size_t)(nl - data - 1) : size - 1;
  /* The path, with "@b" standing for bob's conversation id. */
  for (i = 0; i < plen && o + MG_KS_CONV_ID_MAX + 1 < sizeof(path); i++) {
    char ch = (char)data[1 + i];
    if (ch == '\0') {
      ch = '_';
    }
    if (ch == '@' && i + 1 < plen && data[2 + i] == 'b') {
      o += (size_t)snprintf(path + o, sizeof(path) - o, "%s", bob_conv);
      i++;
      continue;
    }
    path[o++] = ch;
  }
  path[o] = '\0';
  memset(&req, 0, sizeof(req));
  req.method = kMethods[data[0] & 3];
  q = strchr(path, '?');
  if (q != NULL) {
    *q = '\0';
    req.query = q + 1;
  }
  req.path = path;
  if (data[0] & 4) {
    snprintf(auth, sizeof(auth), "Bearer %s", token);
    headers[n].name = "authorization";
    headers[n].value = auth;
    n++;
  }
  if (data[0] & 8) {
    snprintf(idem, sizeof(idem), "k%u", (unsigned)(size % 7));
    headers[n].name = "idempotency-key";
    headers[n].value = idem;
    n++;
  }
  req.headers = headers;
  req.num_headers = n;
  req.body = nl != NULL ? nl + 1 : (const uint8_t *)"";
  req.body_len = nl != NULL ? size - (size_t)(nl + 1 - data) : 0;
  snprintf(req.request_id, sizeof(req.request_id), "%032x", 0);
  req.peer = "127.0.0.1:1";
  memset(&resp, 0, sizeof(resp));
  mg_api_handle(api, &req, &resp);
  if (!documented(resp.status)) {
    fprintf(stderr, "status %d for %s %s\n", resp.status, req.method, path);
    die("undocumented status", resp.status);
  }
  if (resp.content_type != NULL &&
      (strcmp(resp.content_type, "application/json") == 0 ||
       strcmp(resp.content_type, "application/problem+json") == 0)) {
    json_t *j = json_loadb((const char *)resp.body, resp.body_len, 0, NULL);
    if (j == NULL) {
      die("response is not JSON", resp.status);
    }
    if (strcmp(resp.content_type, "application/problem+json") == 0 &&
        json_integer_value(json_object_get(j, "status")) != resp.status) {
      die("problem status differs", resp.status);
    }
    json_decref(j);
  }
  free(resp.body);
  return 0;
}
