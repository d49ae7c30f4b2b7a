/*
 * Tests of the API tokens and the idempotency store (issue 6;
 * src/keystore/tokens.c, src/keystore/idempotency.c), each in a fresh
 * store in a temporary directory:
 *  - scopes: parse and format, every combination round-trips, unknown and
 *    empty names, empty items, unknown bits, short buffers;
 *  - tokens: create, list (name order), authenticate, revoke; expired (by
 *    the injected clock), revoked, unknown and malformed tokens (wrong
 *    prefix, wrong length, characters outside base64url, non-canonical
 *    last character, every one-character change of a valid token) are
 *    refused with their documented codes; a duplicate name is
 *    MG_ERR_EXISTS; bad arguments change nothing;
 *  - the secret never reaches the disk nor the audit log: the store file
 *    holds neither the token, nor its base64url part, nor its hash in hex,
 *    and the audit entries hold none of them nor the public id;
 *  - the audit log holds token.create / token.revoke entries (failures
 *    too), and authentication writes none;
 *  - idempotency: new, replay, mismatch, in progress, abort, finish (also
 *    inside the caller's transaction), TTL expiry and prune, argument
 *    checks, a large response, concurrent begins with one key (exactly one
 *    NEW);
 *  - a flipped byte in any token or idempotency record, or a record moved
 *    under another key, is MG_ERR_TAMPERED for every operation.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#define _GNU_SOURCE       /* memmem */
#include "config.h"

#include <check.h>
#include <ftw.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/hex.h"
#include "common/secmem.h"
#include "crypto/crypto.h"
#include "keystore/audit.h"
#include "keystore/keystore.h"
#include "keystore/keystore_int.h"
#include "keystore/kv.h"

#define T0 ((uint64_t)1800000000) /* the injected clock */
#define DAY ((uint64_t)86400)

static char store_dir[256];
static char kek_path[300];
static mg_keystore *ks;

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static void open_store(int create) {
  mg_ks_options o;
  memset(&o, 0, sizeof(o));
  o.dir = store_dir;
  o.kek_path = kek_path;
  o.kek_fd = -1;
  o.create = create;
  ck_assert_int_eq(mg_ks_open(&ks, &o), 0);
}

static void setup(void) {
  const char *tmp = getenv("TMPDIR");
  snprintf(store_dir, sizeof(store_dir), "%s/mlsgate-tok-XXXXXX",
           tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
  ck_assert_ptr_nonnull(mkdtemp(store_dir));
  snprintf(kek_path, sizeof(kek_path), "%s/kek", store_dir);
  ck_assert_int_eq(mg_kv_kek_generate(kek_path), 0);
  open_store(1);
}

static void teardown(void) {
  mg_ks_close(ks);
  ks = NULL;
  (void)nftw(store_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static mg_ks_ctx ctx_at(uint64_t now) {
  mg_ks_ctx c;
  c.actor = "test";
  c.now = now;
  return c;
}

/* ------------------------------------------------------------- audit */

static int count_txn(mg_kv_txn *txn, void *p) {
  return mg_kv_count(txn, MG_KV_AUDIT, p);
}

static uint64_t audit_count(void) {
  uint64_t n = 0;
  ck_assert_int_eq(mg_kv_read(ks->kv, count_txn, &n), 0);
  return n;
}

typedef struct audit_seen {
  char action[16][32];
  char object[16][80];
  char result[16][32];
  size_t n;
  const char *forbidden[4]; /* strings no entry may contain */
  size_t num_forbidden;
} audit_seen;

static int audit_seen_fn(void *arg, uint64_t seq, const char *entry,
                         size_t entry_len,
                         const uint8_t leaf_hash[MG_TLOG_HASH_LEN]) {
  audit_seen *a = arg;
  json_error_t jerr;
  json_t *j = json_loadb(entry, entry_len, 0, &jerr);
  (void)seq;
  (void)leaf_hash;
  ck_assert_ptr_nonnull(j);
  for (size_t i = 0; i < a->num_forbidden; i++) {
    ck_assert_ptr_null(
        memmem(entry, entry_len, a->forbidden[i], strlen(a->forbidden[i])));
  }
  if (a->n < 16) {
    snprintf(a->action[a->n], sizeof(a->action[0]), "%s",
             json_string_value(json_object_get(j, "action")));
    snprintf(a->object[a->n], sizeof(a->object[0]), "%s",
             json_string_value(json_object_get(j, "object")));
    snprintf(a->result[a->n], sizeof(a->result[0]), "%s",
             json_string_value(json_object_get(j, "result")));
  }
  a->n++;
  json_decref(j);
  return 0;
}

static void audit_since(uint64_t start, audit_seen *seen) {
  uint64_t size = 0;
  ck_assert_int_eq(
      mg_ks_audit_entries(ks, start, UINT64_MAX, audit_seen_fn, seen, &size),
      0);
}

/* ------------------------------------------------------------ scopes */

START_TEST(test_scopes) {
  uint32_t s = 0xffffffffu;
  char buf[MG_KS_SCOPES_TEXT_MAX];
  static const char *const bad[] = {"",
                                    ",",
                                    "messages,",
                                    ",messages",
                                    "messages,,metrics",
                                    "message",
                                    "messagesx",
                                    "Messages",
                                    " messages",
                                    "messages ",
                                    "keys",
                                    "keys:admin:",
                                    "audit",
                                    "audit:write",
                                    "all",
                                    "metrics;x",
                                    "conversations, messages"};

  ck_assert_int_eq(mg_ks_scopes_parse("conversations", &s), 0);
  ck_assert_uint_eq(s, MG_KS_SCOPE_CONVERSATIONS);
  ck_assert_int_eq(mg_ks_scopes_parse("metrics,keys:admin,audit:read", &s), 0);
  ck_assert_uint_eq(
      s, MG_KS_SCOPE_METRICS | MG_KS_SCOPE_KEYS_ADMIN | MG_KS_SCOPE_AUDIT_READ);
  ck_assert_int_eq(mg_ks_scopes_parse("messages,messages", &s), 0);
  ck_assert_uint_eq(s, MG_KS_SCOPE_MESSAGES);
  ck_assert_int_eq(
      mg_ks_scopes_parse("conversations,messages,keys:admin,audit:read,metrics",
                         &s),
      0);
  ck_assert_uint_eq(s, MG_KS_SCOPE_ALL);
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    s = 7;
    ck_assert_msg(mg_ks_scopes_parse(bad[i], &s) == MG_ERR_INVALID_ARG,
                  "accepted '%s'", bad[i]);
    ck_assert_uint_eq(s, 0);
  }
  ck_assert_int_eq(mg_ks_scopes_parse(NULL, &s), MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mg_ks_scopes_parse("metrics", NULL), MG_ERR_INVALID_ARG);

  ck_assert_int_eq(mg_ks_scopes_format(MG_KS_SCOPE_ALL, buf, sizeof(buf)), 0);
  ck_assert_str_eq(buf, "conversations,messages,keys:admin,audit:read,metrics");
  ck_assert_int_eq(mg_ks_scopes_format(0, buf, sizeof(buf)), 0);
  ck_assert_str_eq(buf, "");
  ck_assert_int_eq(
      mg_ks_scopes_format(MG_KS_SCOPE_METRICS | MG_KS_SCOPE_MESSAGES, buf,
                          sizeof(buf)),
      0);
  ck_assert_str_eq(buf, "messages,metrics");
  /* Every combination round-trips. */
  for (uint32_t m = 1; m <= MG_KS_SCOPE_ALL; m++) {
    ck_assert_int_eq(mg_ks_scopes_format(m, buf, sizeof(buf)), 0);
    ck_assert_int_eq(mg_ks_scopes_parse(buf, &s), 0);
    ck_assert_uint_eq(s, m);
  }
  ck_assert_int_eq(mg_ks_scopes_format(0x20, buf, sizeof(buf)),
                   MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mg_ks_scopes_format(0x80000001u, buf, sizeof(buf)),
                   MG_ERR_INVALID_ARG);
  /* "messages,metrics" needs 17 bytes. */
  ck_assert_int_eq(
      mg_ks_scopes_format(MG_KS_SCOPE_METRICS | MG_KS_SCOPE_MESSAGES, buf, 16),
      MG_ERR_BUFFER_TOO_SMALL);
  ck_assert_str_eq(buf, "");
  ck_assert_int_eq(
      mg_ks_scopes_format(MG_KS_SCOPE_METRICS | MG_KS_SCOPE_MESSAGES, buf, 17),
      0);
  ck_assert_int_eq(mg_ks_scopes_format(MG_KS_SCOPE_METRICS, NULL, 8),
                   MG_ERR_INVALID_ARG);
}
END_TEST

/* ------------------------------------------------------------ tokens */

static void hash_hex(char out[65], const char *secret) {
  uint8_t h[32];
  ck_assert_int_eq(
      mg_sha256.digest(&mg_sha256, h, (const uint8_t *)secret, strlen(secret)),
      0);
  mg_hex_encode(out, h, 32);
}

static int is_b64url(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static void make_token(const char *name, uint32_t scopes, uint64_t expires,
                       char secret[MG_KS_TOKEN_LEN + 1],
                       mg_ks_token_info *info) {
  mg_ks_ctx c = ctx_at(T0);
  ck_assert_int_eq(
      mg_ks_token_create(ks, &c, name, scopes, expires, secret, info), 0);
}

typedef struct listed {
  mg_ks_token_info t[8];
  size_t n;
} listed;

static int list_fn(void *arg, const mg_ks_token_info *t) {
  listed *l = arg;
  ck_assert_uint_lt(l->n, 8);
  l->t[l->n++] = *t;
  return 0;
}

START_TEST(test_token_lifecycle) {
  char secret[MG_KS_TOKEN_LEN + 1], s2[MG_KS_TOKEN_LEN + 1],
      s3[MG_KS_TOKEN_LEN + 1];
  char hex[65];
  mg_ks_token_info info, got;
  mg_ks_ctx c = ctx_at(T0 + 50);
  listed l;
  uint64_t n0 = audit_count();
  audit_seen seen;

  make_token("alpha", MG_KS_SCOPE_CONVERSATIONS | MG_KS_SCOPE_MESSAGES, 0,
             secret, &info);
  ck_assert_uint_eq(strlen(secret), MG_KS_TOKEN_LEN);
  ck_assert(memcmp(secret, "mgt_", 4) == 0);
  for (size_t i = 4; i < MG_KS_TOKEN_LEN; i++) {
    ck_assert(is_b64url(secret[i]));
  }
  ck_assert_str_eq(info.name, "alpha");
  ck_assert_uint_eq(info.scopes,
                    MG_KS_SCOPE_CONVERSATIONS | MG_KS_SCOPE_MESSAGES);
  ck_assert_uint_eq(info.created_at, T0);
  ck_assert_uint_eq(info.expires_at, 0);
  ck_assert_uint_eq(info.revoked_at, 0);
  hash_hex(hex, secret);
  ck_assert_uint_eq(strlen(info.id), MG_KS_TOKEN_ID_LEN);
  ck_assert(memcmp(info.id, hex, MG_KS_TOKEN_ID_LEN) == 0);

  make_token("zeta", MG_KS_SCOPE_METRICS, T0 + DAY, s2, NULL);
  make_token("beta", MG_KS_SCOPE_ALL, 0, s3, NULL);
  ck_assert_str_ne(secret, s2);
  ck_assert_str_ne(s2, s3);

  /* Authenticate: each token is itself, far in the future too. */
  ck_assert_int_eq(
      mg_ks_token_authenticate(ks, secret, strlen(secret), T0 + 1, &got), 0);
  ck_assert_str_eq(got.name, "alpha");
  ck_assert_str_eq(got.id, info.id);
  ck_assert_uint_eq(got.scopes, info.scopes);
  ck_assert_int_eq(mg_ks_token_authenticate(ks, secret, strlen(secret),
                                            T0 + 1000 * DAY, &got),
                   0);
  ck_assert_int_eq(mg_ks_token_authenticate(ks, s3, strlen(s3), T0, &got), 0);
  ck_assert_str_eq(got.name, "beta");
  ck_assert_uint_eq(got.scopes, MG_KS_SCOPE_ALL);
  /* Not NUL-terminated: the length counts. */
  {
    char padded[MG_KS_TOKEN_LEN + 4];
    memcpy(padded, s2, MG_KS_TOKEN_LEN);
    memcpy(padded + MG_KS_TOKEN_LEN, "xyz", 4);
    ck_assert_int_eq(
        mg_ks_token_authenticate(ks, padded, MG_KS_TOKEN_LEN, T0, &got), 0);
    ck_assert_str_eq(got.name, "zeta");
    ck_assert_int_eq(
        mg_ks_token_authenticate(ks, padded, MG_KS_TOKEN_LEN + 3, T0, &got),
        MG_ERR_NOT_FOUND);
  }

  /* Listing: name order, no secrets. */
  memset(&l, 0, sizeof(l));
  ck_assert_int_eq(mg_ks_token_list(ks, list_fn, &l), 0);
  ck_assert_uint_eq(l.n, 3);
  ck_assert_str_eq(l.t[0].name, "alpha");
  ck_assert_str_eq(l.t[1].name, "beta");
  ck_assert_str_eq(l.t[2].name, "zeta");
  ck_assert_str_eq(l.t[0].id, info.id);
  ck_assert_uint_eq(l.t[2].expires_at, T0 + DAY);
  ck_assert_uint_eq(l.t[2].scopes, MG_KS_SCOPE_METRICS);

  /* Revoke. */
  ck_assert_int_eq(mg_ks_token_revoke(ks, &c, "alpha"), 0);
  ck_assert_int_eq(
      mg_ks_token_authenticate(ks, secret, strlen(secret), T0 + 60, &got),
      MG_ERR_STATE);
  ck_assert_str_eq(got.name, "alpha");
  ck_assert_uint_eq(got.revoked_at, T0 + 50);
  ck_assert_int_eq(mg_ks_token_revoke(ks, &c, "alpha"), MG_ERR_CONFLICT);
  ck_assert_int_eq(mg_ks_token_revoke(ks, &c, "nobody"), MG_ERR_NOT_FOUND);
  ck_assert_int_eq(mg_ks_token_revoke(ks, &c, "a b"), MG_ERR_INVALID_ARG);
  /* The others still work; the name stays taken. */
  ck_assert_int_eq(mg_ks_token_authenticate(ks, s3, strlen(s3), T0, &got), 0);
  ck_assert_int_eq(
      mg_ks_token_create(ks, &c, "alpha", MG_KS_SCOPE_METRICS, 0, s2, NULL),
      MG_ERR_EXISTS);
  ck_assert_str_eq(s2, "");
  memset(&l, 0, sizeof(l));
  ck_assert_int_eq(mg_ks_token_list(ks, list_fn, &l), 0);
  ck_assert_uint_eq(l.n, 3);
  ck_assert_uint_eq(l.t[0].revoked_at, T0 + 50);
  ck_assert_uint_eq(l.t[1].revoked_at, 0);

  /* The audit log: 3 creates, 1 revoke, the 4 failures. */
  memset(&seen, 0, sizeof(seen));
  audit_since(n0, &seen);
  ck_assert_uint_eq(seen.n, 8);
  {
    static const char *const act[] = {
        "token.create", "token.create", "token.create", "token.revoke",
        "token.revoke", "token.revoke", "token.revoke", "token.create"};
    static const char *const obj[] = {"alpha", "zeta",   "beta", "alpha",
                                      "alpha", "nobody", "",     "alpha"};
    static const char *const res[] = {"ok",
                                      "ok",
                                      "ok",
                                      "ok",
                                      "MG_ERR_CONFLICT",
                                      "MG_ERR_NOT_FOUND",
                                      "MG_ERR_INVALID_ARG",
                                      "MG_ERR_EXISTS"};
    for (size_t i = 0; i < 8; i++) {
      ck_assert_str_eq(seen.action[i], act[i]);
      ck_assert_str_eq(seen.object[i], obj[i]);
      ck_assert_str_eq(seen.result[i], res[i]);
    }
  }
  /* Authentication and listing write nothing. */
  n0 = audit_count();
  ck_assert_int_eq(mg_ks_token_authenticate(ks, s3, strlen(s3), T0, &got), 0);
  ck_assert_int_eq(
      mg_ks_token_authenticate(ks, secret, strlen(secret), T0, &got),
      MG_ERR_STATE);
  ck_assert_int_eq(mg_ks_token_authenticate(ks, "mgt_x", 5, T0, &got),
                   MG_ERR_NOT_FOUND);
  memset(&l, 0, sizeof(l));
  ck_assert_int_eq(mg_ks_token_list(ks, list_fn, &l), 0);
  ck_assert_uint_eq(audit_count(), n0);

  /* Tokens survive reopening. */
  mg_ks_close(ks);
  ks = NULL;
  open_store(0);
  ck_assert_int_eq(mg_ks_token_authenticate(ks, s3, strlen(s3), T0, &got), 0);
  ck_assert_str_eq(got.name, "beta");
}
END_TEST

START_TEST(test_token_expiry) {
  char secret[MG_KS_TOKEN_LEN + 1];
  mg_ks_token_info got;
  mg_ks_ctx c = ctx_at(T0);
  make_token("short", MG_KS_SCOPE_MESSAGES, T0 + 100, secret, NULL);
  ck_assert_int_eq(
      mg_ks_token_authenticate(ks, secret, MG_KS_TOKEN_LEN, T0, &got), 0);
  ck_assert_int_eq(
      mg_ks_token_authenticate(ks, secret, MG_KS_TOKEN_LEN, T0 + 99, &got), 0);
  ck_assert_int_eq(
      mg_ks_token_authenticate(ks, secret, MG_KS_TOKEN_LEN, T0 + 100, &got),
      MG_ERR_LIFETIME);
  ck_assert_str_eq(got.name, "short");
  ck_assert_uint_eq(got.expires_at, T0 + 100);
  ck_assert_int_eq(
      mg_ks_token_authenticate(ks, secret, MG_KS_TOKEN_LEN, T0 + DAY, &got),
      MG_ERR_LIFETIME);
  /* Revoked and expired: revoked is what it says. */
  c.now = T0 + 200;
  ck_assert_int_eq(mg_ks_token_revoke(ks, &c, "short"), 0);
  ck_assert_int_eq(
      mg_ks_token_authenticate(ks, secret, MG_KS_TOKEN_LEN, T0 + 300, &got),
      MG_ERR_STATE);
  /* An expiry not after the creation time is refused. */
  c.now = T0;
  ck_assert_int_eq(mg_ks_token_create(ks, &c, "past", MG_KS_SCOPE_MESSAGES, T0,
                                      secret, NULL),
                   MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mg_ks_token_create(ks, &c, "past", MG_KS_SCOPE_MESSAGES,
                                      T0 - 1, secret, NULL),
                   MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mg_ks_token_create(ks, &c, "past", MG_KS_SCOPE_MESSAGES,
                                      T0 + 1, secret, NULL),
                   0);
}
END_TEST

START_TEST(test_token_bad_arguments) {
  char secret[MG_KS_TOKEN_LEN + 1];
  mg_ks_ctx c = ctx_at(T0);
  listed l;
  static const char *const bad_names[] = {"", "a b", "a/b", "ä",
                                          /* 65 characters */
                                          "0123456789012345678901234567890123"
                                          "4567890123456789012345678901234"};
  for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
    memset(secret, 'x', sizeof(secret));
    ck_assert_int_eq(mg_ks_token_create(ks, &c, bad_names[i],
                                        MG_KS_SCOPE_MESSAGES, 0, secret, NULL),
                     MG_ERR_INVALID_ARG);
    ck_assert_str_eq(secret, "");
  }
  ck_assert_int_eq(
      mg_ks_token_create(ks, &c, NULL, MG_KS_SCOPE_MESSAGES, 0, secret, NULL),
      MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mg_ks_token_create(ks, &c, "t", 0, 0, secret, NULL),
                   MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mg_ks_token_create(ks, &c, "t", 0x40, 0, secret, NULL),
                   MG_ERR_INVALID_ARG);
  ck_assert_int_eq(
      mg_ks_token_create(ks, &c, "t", MG_KS_SCOPE_MESSAGES, 0, NULL, NULL),
      MG_ERR_INVALID_ARG);
  ck_assert_int_eq(
      mg_ks_token_create(ks, NULL, "t", MG_KS_SCOPE_MESSAGES, 0, secret, NULL),
      MG_ERR_INVALID_ARG);
  ck_assert_int_eq(
      mg_ks_token_create(NULL, &c, "t", MG_KS_SCOPE_MESSAGES, 0, secret, NULL),
      MG_ERR_INVALID_ARG);
  /* A 64-character name is fine. */
  ck_assert_int_eq(
      mg_ks_token_create(
          ks, &c,
          "0123456789012345678901234567890123456789012345678901234567890123",
          MG_KS_SCOPE_MESSAGES, 0, secret, NULL),
      0);
  memset(&l, 0, sizeof(l));
  ck_assert_int_eq(mg_ks_token_list(ks, list_fn, &l), 0);
  ck_assert_uint_eq(l.n, 1);
  ck_assert_int_eq(mg_ks_token_list(ks, NULL, NULL), MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mg_ks_token_revoke(ks, NULL, "t"), MG_ERR_INVALID_ARG);
  ck_assert_int_eq(
      mg_ks_token_authenticate(ks, secret, MG_KS_TOKEN_LEN, T0, NULL),
      MG_ERR_INVALID_ARG);
}
END_TEST

static int stop_fn(void *arg, const mg_ks_token_info *t) {
  (void)t;
  ++*(int *)arg;
  return 9;
}

START_TEST(test_token_list_stops) {
  char secret[MG_KS_TOKEN_LEN + 1];
  int calls = 0;
  make_token("a", MG_KS_SCOPE_MESSAGES, 0, secret, NULL);
  make_token("b", MG_KS_SCOPE_MESSAGES, 0, secret, NULL);
  ck_assert_int_eq(mg_ks_token_list(ks, stop_fn, &calls), 9);
  ck_assert_int_eq(calls, 1);
}
END_TEST

/* A one-character change anywhere, a wrong prefix or length, or a
 * character outside base64url: never a token. */
START_TEST(test_token_malformed) {
  char secret[MG_KS_TOKEN_LEN + 1], t[MG_KS_TOKEN_LEN + 2];
  mg_ks_token_info got;
  static const char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  static const char outside[] = "+/= .~\x01\x7f\xff";

  make_token("victim", MG_KS_SCOPE_ALL, 0, secret, NULL);
  ck_assert_int_eq(
      mg_ks_token_authenticate(ks, secret, MG_KS_TOKEN_LEN, T0, &got), 0);

  for (size_t i = 0; i < MG_KS_TOKEN_LEN; i++) {
    /* Every position (every character of a token, its prefix's too, is in
     * the alphabet), changed to three other alphabet characters. */
    for (size_t k = 0; k < 3; k++) {
      size_t idx = (size_t)(strchr(alphabet, secret[i]) - alphabet);
      char r = alphabet[(idx + 1 + 7 * k) % 64];
      memcpy(t, secret, sizeof(secret));
      t[i] = r;
      memset(&got, 0x55, sizeof(got));
      ck_assert_msg(mg_ks_token_authenticate(ks, t, MG_KS_TOKEN_LEN, T0,
                                             &got) == MG_ERR_NOT_FOUND,
                    "a change at %zu was accepted", i);
      ck_assert_str_eq(got.name, "");
    }
    /* Characters outside the alphabet. */
    for (size_t k = 0; k + 1 < sizeof(outside); k++) {
      memcpy(t, secret, sizeof(secret));
      t[i] = outside[k];
      ck_assert_int_eq(
          mg_ks_token_authenticate(ks, t, MG_KS_TOKEN_LEN, T0, &got),
          MG_ERR_NOT_FOUND);
    }
  }
  /* Wrong length: one short, one long, empty, prefix only. */
  ck_assert_int_eq(
      mg_ks_token_authenticate(ks, secret, MG_KS_TOKEN_LEN - 1, T0, &got),
      MG_ERR_NOT_FOUND);
  memcpy(t, secret, sizeof(secret));
  t[MG_KS_TOKEN_LEN] = 'A';
  t[MG_KS_TOKEN_LEN + 1] = '\0';
  ck_assert_int_eq(
      mg_ks_token_authenticate(ks, t, MG_KS_TOKEN_LEN + 1, T0, &got),
      MG_ERR_NOT_FOUND);
  ck_assert_int_eq(mg_ks_token_authenticate(ks, "", 0, T0, &got),
                   MG_ERR_NOT_FOUND);
  ck_assert_int_eq(mg_ks_token_authenticate(ks, "mgt_", 4, T0, &got),
                   MG_ERR_NOT_FOUND);
  ck_assert_int_eq(mg_ks_token_authenticate(ks, NULL, 47, T0, &got),
                   MG_ERR_NOT_FOUND);
  /* Wrong prefix with the right body. */
  memcpy(t, secret, sizeof(secret));
  memcpy(t, "Mgt_", 4);
  ck_assert_int_eq(mg_ks_token_authenticate(ks, t, MG_KS_TOKEN_LEN, T0, &got),
                   MG_ERR_NOT_FOUND);
  memcpy(t, "mgt-", 4);
  ck_assert_int_eq(mg_ks_token_authenticate(ks, t, MG_KS_TOKEN_LEN, T0, &got),
                   MG_ERR_NOT_FOUND);
  /* Non-canonical: the last character's two unused bits set (RFC 4648
   * §3.5), although it would decode to the same bytes. */
  {
    const char *p = strchr(alphabet, secret[MG_KS_TOKEN_LEN - 1]);
    size_t v = (size_t)(p - alphabet);
    ck_assert_uint_eq(v & 3, 0);
    for (size_t low = 1; low < 4; low++) {
      memcpy(t, secret, sizeof(secret));
      t[MG_KS_TOKEN_LEN - 1] = alphabet[v | low];
      ck_assert_int_eq(
          mg_ks_token_authenticate(ks, t, MG_KS_TOKEN_LEN, T0, &got),
          MG_ERR_NOT_FOUND);
    }
  }
  /* A well-formed token that was never issued. */
  memcpy(t, "mgt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 48);
  ck_assert_int_eq(mg_ks_token_authenticate(ks, t, MG_KS_TOKEN_LEN, T0, &got),
                   MG_ERR_NOT_FOUND);
  /* And the real one still works. */
  ck_assert_int_eq(
      mg_ks_token_authenticate(ks, secret, MG_KS_TOKEN_LEN, T0, &got), 0);
}
END_TEST

/* The secret is nowhere on disk and nowhere in the audit log. */
static int file_contains(const char *path, const char *needle) {
  FILE *f = fopen(path, "rb");
  long len;
  char *buf;
  int found;
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
  len = ftell(f);
  ck_assert_int_ge(len, 0);
  ck_assert_int_eq(fseek(f, 0, SEEK_SET), 0);
  buf = malloc((size_t)len + 1);
  ck_assert_ptr_nonnull(buf);
  ck_assert_uint_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
  fclose(f);
  found = memmem(buf, (size_t)len, needle, strlen(needle)) != NULL;
  free(buf);
  return found;
}

START_TEST(test_token_secret_not_stored) {
  char secret[MG_KS_TOKEN_LEN + 1], hex[65], data[300], id[17];
  mg_ks_token_info info;
  mg_ks_ctx c = ctx_at(T0 + 1);
  audit_seen seen;
  char scratch[64];

  make_token("secretive", MG_KS_SCOPE_ALL, T0 + DAY, secret, &info);
  ck_assert_int_eq(mg_ks_token_revoke(ks, &c, "secretive"), 0);
  hash_hex(hex, secret);
  memcpy(id, info.id, sizeof(id));
  snprintf(data, sizeof(data), "%s/data.mdb", store_dir);
  mg_ks_close(ks);
  ks = NULL;

  ck_assert(!file_contains(data, secret));
  ck_assert(!file_contains(data, secret + 4)); /* the base64url part */
  snprintf(scratch, sizeof(scratch), "%.20s", secret + 10);
  ck_assert(!file_contains(data, scratch));
  ck_assert(!file_contains(data, hex));
  /* The scan itself works: the token's name is in a record key. */
  ck_assert(file_contains(data, "secretive"));

  open_store(0);
  memset(&seen, 0, sizeof(seen));
  seen.forbidden[0] = secret + 4;
  seen.forbidden[1] = hex;
  seen.forbidden[2] = id;
  seen.num_forbidden = 3;
  audit_since(0, &seen);
  ck_assert_uint_ge(seen.n, 2);
}
END_TEST

/* ------------------------------------------------------ idempotency */

#define ROUTE "POST /v1/conversations"
#define CT "application/json"

static void fill_hash(uint8_t h[MG_KS_IDEM_HASH_LEN], uint8_t v) {
  memset(h, v, MG_KS_IDEM_HASH_LEN);
}

static int begin(const char *principal, const char *route, const char *key,
                 uint8_t hv, uint64_t now, uint64_t ttl, mg_ks_idem *r) {
  uint8_t h[MG_KS_IDEM_HASH_LEN];
  fill_hash(h, hv);
  return mg_ks_idem_begin(ks, principal, route, key, h, now, ttl, r);
}

static int finish(const char *key, uint16_t status, const char *body) {
  return mg_ks_idem_finish(ks, "ci", ROUTE, key, status, CT,
                           (const uint8_t *)body,
                           body != NULL ? strlen(body) : 0);
}

static void expect_replay(const char *key, uint8_t hv, uint64_t now,
                          uint16_t status, const char *body) {
  mg_ks_idem r;
  ck_assert_int_eq(begin("ci", ROUTE, key, hv, now, 0, &r), MG_KS_IDEM_REPLAY);
  ck_assert_uint_eq(r.status, status);
  ck_assert_str_eq(r.content_type, CT);
  ck_assert_uint_eq(r.body_len, strlen(body));
  if (r.body_len > 0) {
    ck_assert(memcmp(r.body, body, r.body_len) == 0);
  } else {
    ck_assert_ptr_null(r.body);
  }
  mg_ks_idem_cleanup(&r);
  ck_assert_ptr_null(r.content_type);
}

START_TEST(test_idem_flow) {
  mg_ks_idem r;
  uint64_t n0 = audit_count();
  static const char reply[] = "{\"conversation_id\":\"c-1\",\"epoch\":1}";

  memset(&r, 0x55, sizeof(r));
  ck_assert_int_eq(begin("ci", ROUTE, "key-1", 1, T0, 0, &r), MG_KS_IDEM_NEW);
  ck_assert_uint_eq(r.created_at, T0);
  ck_assert_ptr_null(r.content_type);
  ck_assert_ptr_null(r.body);
  /* Until it finishes: in progress with the same body, mismatch with
   * another. */
  ck_assert_int_eq(begin("ci", ROUTE, "key-1", 1, T0 + 1, 0, &r),
                   MG_KS_IDEM_IN_PROGRESS);
  ck_assert_uint_eq(r.created_at, T0);
  ck_assert_int_eq(begin("ci", ROUTE, "key-1", 2, T0 + 1, 0, &r),
                   MG_KS_IDEM_MISMATCH);
  /* Another principal, route or key is another record. */
  ck_assert_int_eq(begin("other", ROUTE, "key-1", 2, T0, 0, &r),
                   MG_KS_IDEM_NEW);
  ck_assert_int_eq(begin("ci", "POST /v1/identities", "key-1", 2, T0, 0, &r),
                   MG_KS_IDEM_NEW);
  ck_assert_int_eq(begin("ci", ROUTE, "key-1 ", 2, T0, 0, &r), MG_KS_IDEM_NEW);

  /* Finish; then the same request replays, another body mismatches. */
  ck_assert_int_eq(finish("key-1", 201, reply), 0);
  ck_assert_int_eq(finish("key-1", 201, reply), MG_ERR_CONFLICT);
  expect_replay("key-1", 1, T0 + 10, 201, reply);
  expect_replay("key-1", 1, T0 + 20, 201, reply);
  ck_assert_int_eq(begin("ci", ROUTE, "key-1", 2, T0 + 10, 0, &r),
                   MG_KS_IDEM_MISMATCH);
  ck_assert_ptr_null(r.body);
  /* A done record is never aborted. */
  ck_assert_int_eq(mg_ks_idem_abort(ks, "ci", ROUTE, "key-1"), MG_ERR_CONFLICT);
  expect_replay("key-1", 1, T0 + 30, 201, reply);

  /* Abort: the client may retry, with any body. */
  ck_assert_int_eq(begin("ci", ROUTE, "key-2", 3, T0, 0, &r), MG_KS_IDEM_NEW);
  ck_assert_int_eq(mg_ks_idem_abort(ks, "ci", ROUTE, "key-2"), 0);
  ck_assert_int_eq(mg_ks_idem_abort(ks, "ci", ROUTE, "key-2"),
                   MG_ERR_NOT_FOUND);
  ck_assert_int_eq(finish("key-2", 201, reply), MG_ERR_NOT_FOUND);
  ck_assert_int_eq(begin("ci", ROUTE, "key-2", 4, T0 + 5, 0, &r),
                   MG_KS_IDEM_NEW);
  ck_assert_int_eq(begin("ci", ROUTE, "key-2", 4, T0 + 5, 0, &r),
                   MG_KS_IDEM_IN_PROGRESS);
  /* An empty body and an error status replay too. */
  ck_assert_int_eq(finish("key-2", 409, NULL), 0);
  expect_replay("key-2", 4, T0 + 6, 409, "");
  ck_assert_int_eq(finish("never", 201, reply), MG_ERR_NOT_FOUND);
  ck_assert_int_eq(mg_ks_idem_abort(ks, "ci", ROUTE, "never"),
                   MG_ERR_NOT_FOUND);

  /* Not audited: the operations are. */
  ck_assert_uint_eq(audit_count(), n0);
}
END_TEST

START_TEST(test_idem_ttl_prune) {
  mg_ks_idem r;
  uint64_t n = 99;

  ck_assert_int_eq(begin("ci", ROUTE, "a", 1, T0, 0, &r), MG_KS_IDEM_NEW);
  ck_assert_int_eq(finish("a", 201, "first"), 0);
  ck_assert_int_eq(begin("ci", ROUTE, "b", 1, T0 + 100, 0, &r),
                   MG_KS_IDEM_NEW); /* stays in progress */
  ck_assert_int_eq(begin("ci", ROUTE, "c", 1, T0 + DAY, 0, &r), MG_KS_IDEM_NEW);
  ck_assert_int_eq(finish("c", 200, "third"), 0);

  /* The default TTL is 24 h: a second before, the record holds. */
  expect_replay("a", 1, T0 + DAY - 1, 201, "first");
  /* A clock that went back does not expire anything. */
  expect_replay("a", 1, T0 - 1000, 201, "first");
  /* At 24 h it is gone: the same key is new (another body too). */
  ck_assert_int_eq(begin("ci", ROUTE, "a", 2, T0 + DAY, 0, &r), MG_KS_IDEM_NEW);
  ck_assert_uint_eq(r.created_at, T0 + DAY);
  ck_assert_int_eq(begin("ci", ROUTE, "a", 2, T0 + DAY, 0, &r),
                   MG_KS_IDEM_IN_PROGRESS);
  ck_assert_int_eq(finish("a", 201, "again"), 0);
  /* An in-progress record expires too. */
  ck_assert_int_eq(begin("ci", ROUTE, "b", 1, T0 + 100 + DAY - 1, 0, &r),
                   MG_KS_IDEM_IN_PROGRESS);
  /* A TTL of its own. */
  ck_assert_int_eq(begin("ci", ROUTE, "b", 1, T0 + 100 + 59, 60, &r),
                   MG_KS_IDEM_IN_PROGRESS);
  ck_assert_int_eq(begin("ci", ROUTE, "x", 1, T0, 60, &r), MG_KS_IDEM_NEW);
  ck_assert_int_eq(begin("ci", ROUTE, "x", 1, T0 + 59, 60, &r),
                   MG_KS_IDEM_IN_PROGRESS);
  ck_assert_int_eq(begin("ci", ROUTE, "x", 1, T0 + 60, 60, &r), MG_KS_IDEM_NEW);
  ck_assert_uint_eq(r.created_at, T0 + 60);

  /* Records: a (T0+DAY, done), b (T0+100, in progress), c (T0+DAY, done),
   * x (T0+60, in progress).  Pruning at T0+100+DAY drops b and x. */
  ck_assert_int_eq(mg_ks_idem_prune(ks, T0 + 100 + DAY, 0, &n), 0);
  ck_assert_uint_eq(n, 2);
  ck_assert_int_eq(mg_ks_idem_prune(ks, T0 + 100 + DAY, 0, &n), 0);
  ck_assert_uint_eq(n, 0);
  ck_assert_int_eq(finish("b", 201, "late"), MG_ERR_NOT_FOUND);
  expect_replay("a", 2, T0 + DAY + 1, 201, "again");
  expect_replay("c", 1, T0 + DAY + 1, 200, "third");
  /* A shorter TTL prunes the rest; n may be NULL. */
  ck_assert_int_eq(mg_ks_idem_prune(ks, T0 + DAY + 10, 10, NULL), 0);
  ck_assert_int_eq(begin("ci", ROUTE, "a", 2, T0 + DAY + 11, 0, &r),
                   MG_KS_IDEM_NEW);
  ck_assert_int_eq(begin("ci", ROUTE, "c", 1, T0 + DAY + 11, 0, &r),
                   MG_KS_IDEM_NEW);
  ck_assert_int_eq(mg_ks_idem_prune(NULL, T0, 0, &n), MG_ERR_INVALID_ARG);
}
END_TEST

START_TEST(test_idem_arguments) {
  mg_ks_idem r;
  uint8_t h[MG_KS_IDEM_HASH_LEN];
  char long_key[MG_KS_IDEM_KEY_MAX + 2];
  char long_route[MG_KS_IDEM_ROUTE_MAX + 2];
  static const char *const bad_keys[] = {"", "a\nb", "tab\there", "\x7f",
                                         "caf\xc3\xa9"};
  uint8_t body[4] = {1, 2, 3, 4};

  fill_hash(h, 1);
  memset(long_key, 'k', sizeof(long_key));
  long_key[MG_KS_IDEM_KEY_MAX] = '\0';
  memset(long_route, 'r', sizeof(long_route));
  long_route[MG_KS_IDEM_ROUTE_MAX] = '\0';
  /* The longest key, route and principal fit LMDB's key limit. */
  ck_assert_int_eq(
      mg_ks_idem_begin(
          ks,
          "0123456789012345678901234567890123456789012345678901234567890123",
          long_route, long_key, h, T0, 0, &r),
      MG_KS_IDEM_NEW);
  ck_assert_int_eq(
      mg_ks_idem_finish(
          ks,
          "0123456789012345678901234567890123456789012345678901234567890123",
          long_route, long_key, 201, CT, body, sizeof(body)),
      0);
  ck_assert_int_eq(begin("ci", ROUTE, " spaces are printable ~", 1, T0, 0, &r),
                   MG_KS_IDEM_NEW);
  long_key[MG_KS_IDEM_KEY_MAX] = 'k';
  long_key[MG_KS_IDEM_KEY_MAX + 1] = '\0';
  long_route[MG_KS_IDEM_ROUTE_MAX] = 'r';
  long_route[MG_KS_IDEM_ROUTE_MAX + 1] = '\0';
  ck_assert_int_eq(begin("ci", ROUTE, long_key, 1, T0, 0, &r),
                   MG_ERR_INVALID_ARG);
  ck_assert_int_eq(begin("ci", long_route, "k", 1, T0, 0, &r),
                   MG_ERR_INVALID_ARG);
  for (size_t i = 0; i < sizeof(bad_keys) / sizeof(bad_keys[0]); i++) {
    ck_assert_int_eq(begin("ci", ROUTE, bad_keys[i], 1, T0, 0, &r),
                     MG_ERR_INVALID_ARG);
    ck_assert_int_eq(begin("ci", bad_keys[i], "k", 1, T0, 0, &r),
                     MG_ERR_INVALID_ARG);
    ck_assert_int_eq(mg_ks_idem_abort(ks, "ci", ROUTE, bad_keys[i]),
                     MG_ERR_INVALID_ARG);
  }
  ck_assert_int_eq(begin("a b", ROUTE, "k", 1, T0, 0, &r), MG_ERR_INVALID_ARG);
  ck_assert_int_eq(begin("", ROUTE, "k", 1, T0, 0, &r), MG_ERR_INVALID_ARG);
  ck_assert_int_eq(begin(NULL, ROUTE, "k", 1, T0, 0, &r), MG_ERR_INVALID_ARG);
  ck_assert_int_eq(begin("ci", NULL, "k", 1, T0, 0, &r), MG_ERR_INVALID_ARG);
  ck_assert_int_eq(begin("ci", ROUTE, NULL, 1, T0, 0, &r), MG_ERR_INVALID_ARG);
  ck_assert_int_eq(begin("ci", ROUTE, "k", 1, T0, 0, NULL), MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mg_ks_idem_begin(ks, "ci", ROUTE, "k", NULL, T0, 0, &r),
                   MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mg_ks_idem_begin(NULL, "ci", ROUTE, "k", h, T0, 0, &r),
                   MG_ERR_INVALID_ARG);

  /* finish: status, content type, body. */
  ck_assert_int_eq(begin("ci", ROUTE, "k", 1, T0, 0, &r), MG_KS_IDEM_NEW);
  ck_assert_int_eq(mg_ks_idem_finish(ks, "ci", ROUTE, "k", 99, CT, body, 4),
                   MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mg_ks_idem_finish(ks, "ci", ROUTE, "k", 600, CT, body, 4),
                   MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mg_ks_idem_finish(ks, "ci", ROUTE, "k", 201, "", body, 4),
                   MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mg_ks_idem_finish(ks, "ci", ROUTE, "k", 201, NULL, body, 4),
                   MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mg_ks_idem_finish(ks, "ci", ROUTE, "k", 201,
                                     "text/plain\r\nX: y", body, 4),
                   MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mg_ks_idem_finish(ks, "ci", ROUTE, "k", 201, CT, NULL, 4),
                   MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mg_ks_idem_finish(ks, "ci", ROUTE, "k", 201, CT, body,
                                     MG_KS_IDEM_BODY_MAX + 1),
                   MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mg_ks_idem_finish(NULL, "ci", ROUTE, "k", 201, CT, body, 4),
                   MG_ERR_INVALID_ARG);
  /* None of that changed the record. */
  ck_assert_int_eq(begin("ci", ROUTE, "k", 1, T0, 0, &r),
                   MG_KS_IDEM_IN_PROGRESS);
  mg_ks_idem_cleanup(NULL);
}
END_TEST

/* A large response round-trips, and response bodies are sealed. */
START_TEST(test_idem_large_sealed) {
  mg_ks_idem r;
  size_t len = (size_t)1 << 20;
  uint8_t *body = malloc(len);
  static const char marker[] = "idempotent-response-marker-3f9a";
  char data[300];
  ck_assert_ptr_nonnull(body);
  for (size_t i = 0; i < len; i++) {
    body[i] = (uint8_t)(i * 7 + 3);
  }
  memcpy(body + 1000, marker, sizeof(marker) - 1);
  ck_assert_int_eq(begin("ci", ROUTE, "big", 9, T0, 0, &r), MG_KS_IDEM_NEW);
  ck_assert_int_eq(
      mg_ks_idem_finish(ks, "ci", ROUTE, "big", 201, CT, body, len), 0);
  ck_assert_int_eq(begin("ci", ROUTE, "big", 9, T0, 0, &r), MG_KS_IDEM_REPLAY);
  ck_assert_uint_eq(r.body_len, len);
  ck_assert(memcmp(r.body, body, len) == 0);
  mg_ks_idem_cleanup(&r);
  free(body);
  snprintf(data, sizeof(data), "%s/data.mdb", store_dir);
  mg_ks_close(ks);
  ks = NULL;
  ck_assert(!file_contains(data, marker));
  ck_assert(!file_contains(data, "idempotent-response"));
  open_store(0);
  /* And it outlives the process's handle. */
  ck_assert_int_eq(begin("ci", ROUTE, "big", 9, T0 + 1, 0, &r),
                   MG_KS_IDEM_REPLAY);
  ck_assert_uint_eq(r.body_len, len);
  mg_ks_idem_cleanup(&r);
}
END_TEST

/* mg_ks_idem_finish_txn commits with the caller's transaction, or not at
 * all. */
typedef struct op_arg {
  const char *key;
  int fail_after;
} op_arg;

static int op_txn(mg_ks_txn *txn, void *p) {
  op_arg *a = p;
  static const char body[] = "{\"ok\":true}";
  int rc = mg_ks_idem_finish_txn(txn, "ci", ROUTE, a->key, 201, CT,
                                 (const uint8_t *)body, sizeof(body) - 1);
  if (rc < 0) {
    return rc;
  }
  return a->fail_after ? MG_ERR_CONFLICT : 0;
}

START_TEST(test_idem_finish_in_txn) {
  mg_ks_idem r;
  op_arg a;
  a.key = "t1";
  a.fail_after = 1;
  ck_assert_int_eq(begin("ci", ROUTE, "t1", 5, T0, 0, &r), MG_KS_IDEM_NEW);
  ck_assert_int_eq(mg_ks_transact(ks, op_txn, &a), MG_ERR_CONFLICT);
  ck_assert_int_eq(begin("ci", ROUTE, "t1", 5, T0, 0, &r),
                   MG_KS_IDEM_IN_PROGRESS);
  a.fail_after = 0;
  ck_assert_int_eq(mg_ks_transact(ks, op_txn, &a), 0);
  expect_replay("t1", 5, T0 + 1, 201, "{\"ok\":true}");
  ck_assert_int_eq(mg_ks_transact(ks, op_txn, &a), MG_ERR_CONFLICT);
  a.key = "none";
  ck_assert_int_eq(mg_ks_transact(ks, op_txn, &a), MG_ERR_NOT_FOUND);
  ck_assert_int_eq(
      mg_ks_idem_finish_txn(NULL, "ci", ROUTE, "t1", 201, CT, NULL, 0),
      MG_ERR_INVALID_ARG);
}
END_TEST

/* ---------------------------------------------------------- tamper */

/* Flips one byte of every record of |tb| (through the raw interface), or
 * with |move| set, swaps the values of the first two records. */
typedef struct tamper_arg {
  mg_kv_table tb;
  size_t pos;
  int move;
} tamper_arg;

static int tamper_txn(mg_kv_txn *txn, void *p) {
  tamper_arg *a = p;
  ks_keylist keys;
  uint8_t *v[2] = {NULL, NULL};
  size_t n[2] = {0, 0};
  int rc;
  memset(&keys, 0, sizeof(keys));
  rc = ks_keylist_collect(txn, a->tb, NULL, 0, &keys);
  ck_assert_int_eq(rc, 0);
  if (a->move) {
    ck_assert_uint_ge(keys.n, 2);
    for (size_t i = 0; i < 2; i++) {
      ck_assert_int_eq(
          mg_kv_get(txn, a->tb, keys.keys[i], keys.lens[i], &v[i], &n[i]), 0);
    }
    for (size_t i = 0; i < 2; i++) {
      ck_assert_int_eq(mg_kv_put(txn, a->tb, keys.keys[i], keys.lens[i],
                                 v[1 - i], n[1 - i], 0),
                       0);
    }
    free(v[0]);
    free(v[1]);
  } else {
    for (size_t i = 0; i < keys.n; i++) {
      ck_assert_int_eq(
          mg_kv_get(txn, a->tb, keys.keys[i], keys.lens[i], &v[0], &n[0]), 0);
      v[0][a->pos % n[0]] ^= 0x01;
      ck_assert_int_eq(
          mg_kv_put(txn, a->tb, keys.keys[i], keys.lens[i], v[0], n[0], 0), 0);
      free(v[0]);
      v[0] = NULL;
    }
  }
  ks_keylist_free(&keys);
  return 0;
}

static void tamper(mg_kv_table tb, size_t pos, int move) {
  tamper_arg a;
  a.tb = tb;
  a.pos = pos;
  a.move = move;
  ck_assert_int_eq(mg_kv_write(ks->kv, tamper_txn, &a), 0);
}

START_TEST(test_tamper) {
  char s1[MG_KS_TOKEN_LEN + 1], s2[MG_KS_TOKEN_LEN + 1];
  mg_ks_token_info got;
  mg_ks_ctx c = ctx_at(T0);
  listed l;
  mg_ks_idem r;
  uint64_t n = 0;
  size_t pos = (size_t)_i * 13 + 1;

  make_token("one", MG_KS_SCOPE_MESSAGES, 0, s1, NULL);
  make_token("two", MG_KS_SCOPE_ALL, 0, s2, NULL);
  ck_assert_int_eq(begin("ci", ROUTE, "k1", 1, T0, 0, &r), MG_KS_IDEM_NEW);
  ck_assert_int_eq(begin("ci", ROUTE, "k2", 1, T0, 0, &r), MG_KS_IDEM_NEW);
  ck_assert_int_eq(finish("k2", 201, "{}"), 0);

  if (_i == 0) {
    /* A record moved under another key (a token's scopes given to the
     * other, a response to another key) does not open. */
    tamper(MG_KV_TOKENS, 0, 1);
    tamper(MG_KV_IDEMPOTENCY, 0, 1);
  } else {
    tamper(MG_KV_TOKENS, pos, 0);
    tamper(MG_KV_IDEMPOTENCY, pos, 0);
  }
  ck_assert_int_eq(mg_ks_token_authenticate(ks, s1, MG_KS_TOKEN_LEN, T0, &got),
                   MG_ERR_TAMPERED);
  ck_assert_str_eq(got.name, "");
  ck_assert_int_eq(mg_ks_token_authenticate(ks, s2, MG_KS_TOKEN_LEN, T0, &got),
                   MG_ERR_TAMPERED);
  memset(&l, 0, sizeof(l));
  ck_assert_int_eq(mg_ks_token_list(ks, list_fn, &l), MG_ERR_TAMPERED);
  ck_assert_int_eq(mg_ks_token_revoke(ks, &c, "one"), MG_ERR_TAMPERED);
  ck_assert_int_eq(begin("ci", ROUTE, "k1", 1, T0, 0, &r), MG_ERR_TAMPERED);
  ck_assert_int_eq(begin("ci", ROUTE, "k2", 1, T0, 0, &r), MG_ERR_TAMPERED);
  ck_assert_ptr_null(r.body);
  ck_assert_int_eq(finish("k1", 201, "{}"), MG_ERR_TAMPERED);
  ck_assert_int_eq(mg_ks_idem_abort(ks, "ci", ROUTE, "k1"), MG_ERR_TAMPERED);
  ck_assert_int_eq(mg_ks_idem_prune(ks, T0 + 2 * DAY, 0, &n), MG_ERR_TAMPERED);
  ck_assert_uint_eq(n, 0);
}
END_TEST

/* -------------------------------------------------------- concurrency */

#define RACERS 8

typedef struct racer {
  pthread_t th;
  int outcome;
} racer;

static void *race_begin(void *p) {
  racer *me = p;
  mg_ks_idem r;
  uint8_t h[MG_KS_IDEM_HASH_LEN];
  fill_hash(h, 7);
  me->outcome = mg_ks_idem_begin(ks, "ci", ROUTE, "race", h, T0, 0, &r);
  mg_ks_idem_cleanup(&r);
  return NULL;
}

/* Concurrent requests with one key: exactly one runs the operation. */
START_TEST(test_idem_race) {
  racer rs[RACERS];
  int news = 0, busy = 0;
  for (size_t i = 0; i < RACERS; i++) {
    ck_assert_int_eq(pthread_create(&rs[i].th, NULL, race_begin, &rs[i]), 0);
  }
  for (size_t i = 0; i < RACERS; i++) {
    ck_assert_int_eq(pthread_join(rs[i].th, NULL), 0);
    news += rs[i].outcome == MG_KS_IDEM_NEW;
    busy += rs[i].outcome == MG_KS_IDEM_IN_PROGRESS;
  }
  ck_assert_int_eq(news, 1);
  ck_assert_int_eq(busy, RACERS - 1);
}
END_TEST

/* ------------------------------------------------------------ main */

int main(void) {
  if (mg_crypto_init() < 0) {
    fprintf(stderr, "crypto init failed\n");
    return 1;
  }
  Suite *s = suite_create("tokens");
  TCase *tc = tcase_create("tokens");
  tcase_set_timeout(tc, 300);
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_scopes);
  tcase_add_test(tc, test_token_lifecycle);
  tcase_add_test(tc, test_token_expiry);
  tcase_add_test(tc, test_token_bad_arguments);
  tcase_add_test(tc, test_token_list_stops);
  tcase_add_test(tc, test_token_malformed);
  tcase_add_test(tc, test_token_secret_not_stored);
  tcase_add_test(tc, test_idem_flow);
  tcase_add_test(tc, test_idem_ttl_prune);
  tcase_add_test(tc, test_idem_arguments);
  tcase_add_test(tc, test_idem_large_sealed);
  tcase_add_test(tc, test_idem_finish_in_txn);
  tcase_add_loop_test(tc, test_tamper, 0, 4);
  tcase_add_test(tc, test_idem_race);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? 0 : 1;
}
