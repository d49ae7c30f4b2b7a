/*
 * API bearer tokens (issue 6): scopes, creation, listing, revocation and
 * the API layer's authentication check.
 *
 * Records (TOKENS table, sealed, see keystore_int.h):
 *
 *   struct {
 *       uint8 format = 1;
 *       opaque name<V>;
 *       uint32 scopes;            // MG_KS_SCOPE_* flags
 *       uint64 created_at;
 *       uint64 expires_at;        // 0: never
 *       uint64 revoked_at;        // 0: not revoked
 *   } TokenRecord;                // TOKENS["h:" || SHA-256(secret)];
 *                                 // sealed version 1, 2 once revoked
 *
 *   struct {
 *       uint8 format = 1;
 *       opaque hash[32];
 *   } TokenNameRecord;            // TOKENS["n:" || name]
 *
 * The secret itself is never stored.  Its hash appears in a record key
 * (the lookup needs it), which is harmless: it is SHA-256 of 256 random
 * bits, and the sealed record under it binds that key (moving a record
 * under another hash makes it fail to open).
 */
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/guard.h"
#include "common/hex.h"
#include "common/secmem.h"
#include "crypto/crypto.h"
#include "keystore/keystore_int.h"

#define TOKEN_FORMAT 1
#define TOKEN_NAME_FORMAT 1
#define TOKEN_B64_LEN 43 /* ceil(32 * 8 / 6) */
#define TOKEN_PREFIX_LEN 4

/* The scope names, in flag order. */
static const struct {
  uint32_t flag;
  const char *name;
} scope_names[] = {
    {MG_KS_SCOPE_CONVERSATIONS, "conversations"},
    {MG_KS_SCOPE_MESSAGES, "messages"},
    {MG_KS_SCOPE_KEYS_ADMIN, "keys:admin"},
    {MG_KS_SCOPE_AUDIT_READ, "audit:read"},
    {MG_KS_SCOPE_METRICS, "metrics"},
};

int mg_ks_scopes_parse(const char *csv, uint32_t *out) {
  uint32_t scopes = 0;
  const char *p = csv;
  MG_ENSURE(out != NULL, MG_ERR_INVALID_ARG);
  *out = 0;
  MG_ENSURE(csv != NULL && csv[0] != '\0', MG_ERR_INVALID_ARG);
  for (;;) {
    const char *comma = strchr(p, ',');
    size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);
    size_t i;
    for (i = 0; i < MG_ARRAY_LEN(scope_names); i++) {
      if (strlen(scope_names[i].name) == n &&
          memcmp(scope_names[i].name, p, n) == 0) {
        break;
      }
    }
    if (n == 0 || i == MG_ARRAY_LEN(scope_names)) {
      return MG_ERR_INVALID_ARG;
    }
    scopes |= scope_names[i].flag;
    if (comma == NULL) {
      break;
    }
    p = comma + 1;
  }
  *out = scopes;
  return 0;
}

int mg_ks_scopes_format(uint32_t scopes, char *buf, size_t cap) {
  size_t len = 0;
  MG_ENSURE(buf != NULL && cap > 0, MG_ERR_INVALID_ARG);
  buf[0] = '\0';
  MG_ENSURE((scopes & ~(uint32_t)MG_KS_SCOPE_ALL) == 0, MG_ERR_INVALID_ARG);
  for (size_t i = 0; i < MG_ARRAY_LEN(scope_names); i++) {
    size_t n;
    if ((scopes & scope_names[i].flag) == 0) {
      continue;
    }
    n = strlen(scope_names[i].name);
    if (len + (len > 0 ? 1 : 0) + n + 1 > cap) {
      buf[0] = '\0';
      return MG_ERR_BUFFER_TOO_SMALL;
    }
    if (len > 0) {
      buf[len++] = ',';
    }
    memcpy(buf + len, scope_names[i].name, n);
    len += n;
    buf[len] = '\0';
  }
  return 0;
}

/* ------------------------------------------------------- base64url */

/* Branch-free masks (all ones when the condition holds), as in
 * src/common/base64.c: the secret's characters decide no branch. */
static unsigned ct_eq(unsigned x, unsigned y) {
  return (0u - (((((x ^ y) & 0xffu) - 1u) >> 8) & 1u)) & 0xffu;
}

static unsigned ct_lt(unsigned x, unsigned y) {
  return (0u - (((x - y) >> 8) & 1u)) & 0xffu;
}

static unsigned ct_ge(unsigned x, unsigned y) { return ct_lt(x, y) ^ 0xffu; }

/* RFC 4648 §5 alphabet: A-Z a-z 0-9 - _ */
static char b64url_char(unsigned x) {
  unsigned c = 0;
  c |= ct_lt(x, 26) & (x + 'A');
  c |= ct_ge(x, 26) & ct_lt(x, 52) & (x + ('a' - 26));
  c |= ct_ge(x, 52) & ct_lt(x, 62) & (x + ('0' - 52));
  c |= ct_eq(x, 62) & '-';
  c |= ct_eq(x, 63) & '_';
  return (char)c;
}

/* Maps a character to its 6-bit value; |*bad| gains 0xff if it is outside
 * the alphabet. */
static unsigned b64url_val(unsigned c, unsigned *bad) {
  unsigned x = 0, ok = 0, m;
  m = ct_ge(c, 'A') & ct_lt(c, 'Z' + 1);
  x |= m & (c - 'A');
  ok |= m;
  m = ct_ge(c, 'a') & ct_lt(c, 'z' + 1);
  x |= m & (c - ('a' - 26));
  ok |= m;
  m = ct_ge(c, '0') & ct_lt(c, '9' + 1);
  x |= m & (c - ('0' - 52));
  ok |= m;
  m = ct_eq(c, '-');
  x |= m & 62u;
  ok |= m;
  m = ct_eq(c, '_');
  x |= m & 63u;
  ok |= m;
  *bad |= ok ^ 0xffu;
  return x & 0x3fu;
}

/* Encodes the 32 secret bytes as 43 characters (no padding). */
static void secret_encode(char *out,
                          const uint8_t in[MG_KS_TOKEN_SECRET_BYTES]) {
  uint32_t acc = 0;
  unsigned bits = 0;
  size_t o = 0;
  for (size_t i = 0; i < MG_KS_TOKEN_SECRET_BYTES; i++) {
    acc = (acc << 8) | in[i];
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out[o++] = b64url_char((acc >> bits) & 0x3fu);
    }
  }
  /* 256 = 42 * 6 + 4: the last character carries 4 bits and 2 zero bits. */
  out[o++] = b64url_char((acc << (6 - bits)) & 0x3fu);
  out[o] = '\0';
}

/* token_well_formed returns 1 if |p| is "mgt_" and 43 characters of
 * canonical base64url (the last one's 2 unused bits zero), else 0.  The
 * prefix and length are public; the rest is checked without
 * data-dependent branches. */
static int token_well_formed(const char *p, size_t len) {
  unsigned bad = 0, v = 0;
  if (len != MG_KS_TOKEN_LEN ||
      memcmp(p, MG_KS_TOKEN_PREFIX, TOKEN_PREFIX_LEN) != 0) {
    return 0;
  }
  for (size_t i = TOKEN_PREFIX_LEN; i < MG_KS_TOKEN_LEN; i++) {
    v = b64url_val((unsigned char)p[i], &bad);
  }
  bad |= v & 0x03u; /* RFC 4648 §3.5: non-zero unused bits */
  return bad == 0;
}

/* ---------------------------------------------------------- records */

#define TOKEN_KEY_MAX (2 + MG_KS_NAME_MAX)

static size_t hash_key(uint8_t *buf, const uint8_t hash[MG_KS_TOKEN_HASH_LEN]) {
  buf[0] = 'h';
  buf[1] = ':';
  memcpy(buf + 2, hash, MG_KS_TOKEN_HASH_LEN);
  return 2 + MG_KS_TOKEN_HASH_LEN;
}

static size_t name_key(uint8_t *buf, const char *name) {
  size_t n = strlen(name);
  buf[0] = 'n';
  buf[1] = ':';
  memcpy(buf + 2, name, n);
  return 2 + n;
}

static int token_hash(uint8_t out[MG_KS_TOKEN_HASH_LEN], const char *secret,
                      size_t len) {
  return mg_sha256.digest(&mg_sha256, out, (const uint8_t *)secret, len);
}

static void info_set_id(mg_ks_token_info *t,
                        const uint8_t hash[MG_KS_TOKEN_HASH_LEN]) {
  mg_hex_encode(t->id, hash, MG_KS_TOKEN_ID_LEN / 2);
}

static int record_encode(const mg_ks_token_info *t, uint8_t **out,
                         size_t *out_len) {
  mg_writer w;
  int rc;
  mg_writer_zero(&w);
  MG_CHECK(mg_writer_init(&w, 128, 0));
  MG_CHECK(mg_write_u8(&w, TOKEN_FORMAT));
  MG_CHECK(mg_write_opaque(&w, (const uint8_t *)t->name, strlen(t->name)));
  MG_CHECK(mg_write_u32(&w, t->scopes));
  MG_CHECK(mg_write_u64(&w, t->created_at));
  MG_CHECK(mg_write_u64(&w, t->expires_at));
  MG_CHECK(mg_write_u64(&w, t->revoked_at));
  return mg_writer_finish(&w, out, out_len);
out:
  mg_writer_cleanup(&w);
  return rc;
}

/* record_load opens TOKENS["h:" || hash] into |out|.  An unknown format
 * is MG_ERR_SCHEMA; a record that opens but does not parse, or names an
 * invalid token, is MG_ERR_TAMPERED. */
static int record_load(mg_kv_txn *txn, const uint8_t hash[MG_KS_TOKEN_HASH_LEN],
                       mg_ks_token_info *out, uint64_t *rec_version) {
  uint8_t key[2 + MG_KS_TOKEN_HASH_LEN];
  size_t key_len = hash_key(key, hash);
  uint8_t *pt = NULL;
  size_t pt_len = 0;
  uint64_t version = 0;
  uint8_t format = 0;
  mg_reader r, name;
  mg_ks_token_info t;
  int rc;

  memset(&t, 0, sizeof(t));
  MG_CHECK(mg_kv_get_sealed(txn, MG_KV_TOKENS, key, key_len, &version, &pt,
                            &pt_len));
  mg_reader_init(&r, pt, pt_len);
  if (mg_read_u8(&r, &format) < 0) {
    MG_FAIL(MG_ERR_TAMPERED);
  }
  if (format != TOKEN_FORMAT) {
    MG_FAIL(MG_ERR_SCHEMA);
  }
  if (mg_read_vec(&r, &name) < 0 || mg_reader_len(&name) < 1 ||
      mg_reader_len(&name) > MG_KS_NAME_MAX || mg_read_u32(&r, &t.scopes) < 0 ||
      mg_read_u64(&r, &t.created_at) < 0 ||
      mg_read_u64(&r, &t.expires_at) < 0 ||
      mg_read_u64(&r, &t.revoked_at) < 0 || mg_reader_done(&r) < 0) {
    MG_FAIL(MG_ERR_TAMPERED);
  }
  memcpy(t.name, mg_reader_data(&name), mg_reader_len(&name));
  t.name[mg_reader_len(&name)] = '\0';
  if (!mg_ks_name_valid(t.name) || t.scopes == 0 ||
      (t.scopes & ~(uint32_t)MG_KS_SCOPE_ALL) != 0) {
    MG_FAIL(MG_ERR_TAMPERED);
  }
  info_set_id(&t, hash);
  *out = t;
  if (rec_version != NULL) {
    *rec_version = version;
  }
  rc = 0;
out:
  mg_free_secret(pt, pt_len);
  return rc;
}

static int record_store(mg_kv_txn *txn,
                        const uint8_t hash[MG_KS_TOKEN_HASH_LEN],
                        const mg_ks_token_info *t, uint64_t version,
                        int flags) {
  uint8_t key[2 + MG_KS_TOKEN_HASH_LEN];
  size_t key_len = hash_key(key, hash);
  uint8_t *rec = NULL;
  size_t rec_len = 0;
  int rc;
  MG_CHECK(record_encode(t, &rec, &rec_len));
  MG_CHECK(mg_kv_put_sealed(txn, MG_KV_TOKENS, key, key_len, version, rec,
                            rec_len, flags));
out:
  free(rec);
  return rc;
}

/* name_load reads the hash of token |name| (TOKENS["n:" || name]). */
static int name_load(mg_kv_txn *txn, const char *name,
                     uint8_t hash[MG_KS_TOKEN_HASH_LEN]) {
  uint8_t key[TOKEN_KEY_MAX];
  size_t key_len = name_key(key, name);
  uint8_t *pt = NULL;
  size_t pt_len = 0;
  uint64_t version = 0;
  int rc;
  MG_CHECK(mg_kv_get_sealed(txn, MG_KV_TOKENS, key, key_len, &version, &pt,
                            &pt_len));
  if (pt_len != 1 + MG_KS_TOKEN_HASH_LEN) {
    MG_FAIL(MG_ERR_TAMPERED);
  }
  if (pt[0] != TOKEN_NAME_FORMAT) {
    MG_FAIL(MG_ERR_SCHEMA);
  }
  memcpy(hash, pt + 1, MG_KS_TOKEN_HASH_LEN);
out:
  mg_free_secret(pt, pt_len);
  return rc;
}

static int name_store(mg_kv_txn *txn, const char *name,
                      const uint8_t hash[MG_KS_TOKEN_HASH_LEN]) {
  uint8_t key[TOKEN_KEY_MAX];
  size_t key_len = name_key(key, name);
  uint8_t rec[1 + MG_KS_TOKEN_HASH_LEN];
  rec[0] = TOKEN_NAME_FORMAT;
  memcpy(rec + 1, hash, MG_KS_TOKEN_HASH_LEN);
  return mg_kv_put_sealed(txn, MG_KV_TOKENS, key, key_len, 1, rec, sizeof(rec),
                          MG_KV_PUT_INSERT);
}

/* name_record_load reads token |name|'s record through its name index;
 * the record must carry that name. */
static int name_record_load(mg_kv_txn *txn, const char *name,
                            uint8_t hash[MG_KS_TOKEN_HASH_LEN],
                            mg_ks_token_info *out, uint64_t *rec_version) {
  int rc;
  MG_GUARD(name_load(txn, name, hash));
  rc = record_load(txn, hash, out, rec_version);
  if (rc == MG_ERR_NOT_FOUND) {
    rc = MG_ERR_TAMPERED; /* an index entry always has its record */
  }
  MG_GUARD(rc);
  MG_ENSURE(strcmp(out->name, name) == 0, MG_ERR_TAMPERED);
  return 0;
}

static int audit_token(mg_keystore *ks, mg_kv_txn *txn, const mg_ks_ctx *ctx,
                       const char *action, const char *name) {
  mg_ks_audit a;
  memset(&a, 0, sizeof(a));
  a.action = action;
  a.object = name;
  a.result = 0;
  return mg_ks_audit_append(ks, txn, ctx, &a, NULL);
}

/* ----------------------------------------------------------- create */

typedef struct create_arg {
  mg_keystore *ks;
  const mg_ks_ctx *ctx;
  const uint8_t *hash;
  mg_ks_token_info info;
} create_arg;

static int create_txn(mg_kv_txn *txn, void *p) {
  create_arg *a = p;
  MG_GUARD(name_store(txn, a->info.name, a->hash));
  MG_GUARD(record_store(txn, a->hash, &a->info, 1, MG_KV_PUT_INSERT));
  return audit_token(a->ks, txn, a->ctx, "token.create", a->info.name);
}

int mg_ks_token_create(mg_keystore *ks, const mg_ks_ctx *ctx, const char *name,
                       uint32_t scopes, uint64_t expires_at,
                       char secret_out[MG_KS_TOKEN_LEN + 1],
                       mg_ks_token_info *out) {
  uint8_t raw[MG_KS_TOKEN_SECRET_BYTES];
  uint8_t hash[MG_KS_TOKEN_HASH_LEN];
  char secret[MG_KS_TOKEN_LEN + 1];
  create_arg a;
  int rc;

  MG_ENSURE(ks != NULL && ctx != NULL && secret_out != NULL,
            MG_ERR_INVALID_ARG);
  memset(secret_out, 0, MG_KS_TOKEN_LEN + 1);
  memset(&a, 0, sizeof(a));
  if (!mg_ks_name_valid(name) || scopes == 0 ||
      (scopes & ~(uint32_t)MG_KS_SCOPE_ALL) != 0 ||
      (expires_at != 0 && expires_at <= ctx->now)) {
    MG_FAIL(MG_ERR_INVALID_ARG);
  }
  MG_CHECK(mg_random_bytes(raw, sizeof(raw)));
  memcpy(secret, MG_KS_TOKEN_PREFIX, TOKEN_PREFIX_LEN);
  secret_encode(secret + TOKEN_PREFIX_LEN, raw);
  MG_CHECK(token_hash(hash, secret, MG_KS_TOKEN_LEN));

  memcpy(a.info.name, name, strlen(name) + 1);
  info_set_id(&a.info, hash);
  a.info.scopes = scopes;
  a.info.created_at = ctx->now;
  a.info.expires_at = expires_at;
  a.info.revoked_at = 0;
  a.ks = ks;
  a.ctx = ctx;
  a.hash = hash;
  MG_CHECK(mg_kv_write(ks->kv, create_txn, &a));
  memcpy(secret_out, secret, MG_KS_TOKEN_LEN + 1);
  if (out != NULL) {
    *out = a.info;
  }
out:
  mg_memzero(raw, sizeof(raw));
  mg_memzero(secret, sizeof(secret));
  mg_memzero(hash, sizeof(hash));
  return ks_audit_failure(ks, ctx, "token.create", name, NULL, 0, rc);
}

/* ------------------------------------------------------------- list */

typedef struct list_arg {
  mg_ks_token_info *tokens;
  size_t n;
} list_arg;

static int list_txn(mg_kv_txn *txn, void *p) {
  list_arg *a = p;
  ks_keylist keys;
  char name[MG_KS_NAME_MAX + 1];
  uint8_t hash[MG_KS_TOKEN_HASH_LEN];
  int rc;
  memset(&keys, 0, sizeof(keys));
  free(a->tokens);
  a->tokens = NULL;
  a->n = 0;
  MG_CHECK(
      ks_keylist_collect(txn, MG_KV_TOKENS, (const uint8_t *)"n:", 2, &keys));
  if (keys.n > 0) {
    a->tokens = calloc(keys.n, sizeof(*a->tokens));
    if (a->tokens == NULL) {
      MG_FAIL(MG_ERR_NOMEM);
    }
  }
  for (size_t i = 0; i < keys.n; i++) {
    size_t n = keys.lens[i] - 2;
    if (n < 1 || n > MG_KS_NAME_MAX) {
      MG_FAIL(MG_ERR_TAMPERED);
    }
    memcpy(name, keys.keys[i] + 2, n);
    name[n] = '\0';
    if (!mg_ks_name_valid(name)) {
      MG_FAIL(MG_ERR_TAMPERED);
    }
    MG_CHECK(name_record_load(txn, name, hash, &a->tokens[i], NULL));
    a->n++;
  }
  rc = 0;
out:
  ks_keylist_free(&keys);
  return rc;
}

int mg_ks_token_list(mg_keystore *ks, mg_ks_token_fn fn, void *arg) {
  list_arg a;
  int rc;
  MG_ENSURE(ks != NULL && fn != NULL, MG_ERR_INVALID_ARG);
  memset(&a, 0, sizeof(a));
  rc = mg_kv_read(ks->kv, list_txn, &a);
  for (size_t i = 0; rc == 0 && i < a.n; i++) {
    rc = fn(arg, &a.tokens[i]);
  }
  free(a.tokens);
  return rc;
}

/* ----------------------------------------------------------- revoke */

typedef struct revoke_arg {
  mg_keystore *ks;
  const mg_ks_ctx *ctx;
  const char *name;
} revoke_arg;

static int revoke_txn(mg_kv_txn *txn, void *p) {
  revoke_arg *a = p;
  uint8_t hash[MG_KS_TOKEN_HASH_LEN];
  mg_ks_token_info t;
  uint64_t version = 0;
  MG_GUARD(name_record_load(txn, a->name, hash, &t, &version));
  MG_ENSURE(t.revoked_at == 0, MG_ERR_CONFLICT);
  MG_ENSURE(version < UINT64_MAX, MG_ERR_TAMPERED);
  /* A token revoked "at time 0" would read as not revoked. */
  t.revoked_at = a->ctx->now != 0 ? a->ctx->now : 1;
  MG_GUARD(record_store(txn, hash, &t, version + 1, 0));
  return audit_token(a->ks, txn, a->ctx, "token.revoke", a->name);
}

int mg_ks_token_revoke(mg_keystore *ks, const mg_ks_ctx *ctx,
                       const char *name) {
  revoke_arg a;
  int rc;
  MG_ENSURE(ks != NULL && ctx != NULL, MG_ERR_INVALID_ARG);
  if (!mg_ks_name_valid(name)) {
    rc = MG_ERR_INVALID_ARG;
  } else {
    a.ks = ks;
    a.ctx = ctx;
    a.name = name;
    rc = mg_kv_write(ks->kv, revoke_txn, &a);
  }
  return ks_audit_failure(ks, ctx, "token.revoke", name, NULL, 0, rc);
}

/* ----------------------------------------------------- authenticate */

typedef struct auth_arg {
  const uint8_t *hash;
  mg_ks_token_info info;
} auth_arg;

static int auth_txn(mg_kv_txn *txn, void *p) {
  auth_arg *a = p;
  memset(&a->info, 0, sizeof(a->info));
  return record_load(txn, a->hash, &a->info, NULL);
}

int mg_ks_token_authenticate(mg_keystore *ks, const char *presented, size_t len,
                             uint64_t now, mg_ks_token_info *out) {
  uint8_t hash[MG_KS_TOKEN_HASH_LEN];
  auth_arg a;
  int rc;
  MG_ENSURE(ks != NULL && out != NULL, MG_ERR_INVALID_ARG);
  memset(out, 0, sizeof(*out));
  if (presented == NULL || !token_well_formed(presented, len)) {
    return MG_ERR_NOT_FOUND;
  }
  MG_GUARD(token_hash(hash, presented, len));
  memset(&a, 0, sizeof(a));
  a.hash = hash;
  rc = mg_kv_read(ks->kv, auth_txn, &a);
  mg_memzero(hash, sizeof(hash));
  MG_GUARD(rc);
  *out = a.info;
  if (a.info.revoked_at != 0) {
    return MG_ERR_STATE;
  }
  if (a.info.expires_at != 0 && now >= a.info.expires_at) {
    return MG_ERR_LIFETIME;
  }
  return 0;
}
