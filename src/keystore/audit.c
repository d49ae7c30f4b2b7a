/*
 * The audit log (issue 5): append-only entries, the leaves of an RFC
 * 6962/9162 Merkle tree (tlog.h), checkpoints signed as C2SP signed notes
 * with the store's Ed25519 audit key (note.h), proofs, and the export that
 * `mlsgatectl audit verify` checks offline (audit_verify.c).
 *
 * Storage (all sealed, kv.h):
 *   AUDIT       uint64 seq (BE)                -> entry bytes (version seq)
 *   AUDIT_TREE  't' || uint64 n (BE) || uint8 level -> complete subtree
 *                                                 hash (n: the entry whose
 *                                                 append completed it)
 *               (stores written before: 'p' || uint64 in-order position,
 *                and before that 'h' || uint8 level || uint64 index; both
 *                still read, see tree_key; a store this version appended
 *                to is not for older ones, which do not know 't')
 *               "size"                         -> uint64 number of entries
 *               "checkpoint"                   -> uint64 size || the last
 *                                                 signed checkpoint note
 * Appending entry n writes its leaf hash at (0, n) and the hash of every
 * subtree it completes ((l, n >> l) when the low l bits of n are all 1),
 * so proofs and roots take O(log n) reads and appends about two writes.
 *
 * An entry is canonical JSON (sorted keys, no whitespace):
 *   {"action":..., "actor":..., "content_hmac":hex (optional),
 *    "key_ids":[hex...], "object":..., "result":"ok"|"MG_ERR_...",
 *    "seq":n, "time":unix seconds}
 * byte for byte what jansson's json_dumps(JSON_COMPACT | JSON_SORT_KEYS |
 * JSON_ENSURE_ASCII) gives (the form the first logs were written in;
 * tests/check_audit.c compares the two), written directly (entry_encode).
 * It carries key IDs and a keyed hash of message content, never content or
 * secrets: the HMAC key is the store's audit HMAC key, so a 6-digit code
 * cannot be recovered from the log by trying all codes.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/guard.h"
#include "common/hex.h"
#include "common/secmem.h"
#include "crypto/crypto.h"
#include "keystore/audit.h"
#include "keystore/keystore_int.h"
#include "keystore/note.h"
#include "keystore/tlog.h"

#define KEY_SIZE "size"

/* MG_FAIL(err) unless |cond| (functions with an out: label). */
#define MG_REQUIRE_KS(cond, err) \
  do {                           \
    if (!(cond)) {               \
      MG_FAIL(err);              \
    }                            \
  } while (0)
#define KEY_CHECKPOINT "checkpoint"

static void be64(uint8_t *p, uint64_t v) {
  for (int i = 7; i >= 0; i--) {
    p[i] = (uint8_t)v;
    v >>= 8;
  }
}

static uint64_t rd64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) {
    v = v << 8 | p[i];
  }
  return v;
}

/* A subtree hash's key: 't', the entry n whose append completed it (the
 * last leaf it covers: n = (index + 1) * 2^level - 1), then its level.
 * Keys are thus written in increasing order -- every append goes at the
 * end of the table ('t' sorts after "size" and "checkpoint") -- so LMDB
 * continues a full page on a new one instead of splitting it in half:
 * pages are filled (about 39 hashes per page, against 21 with the
 * in-order positions below, which land just before the last key), and
 * the nodes of one group commit share one or two pages.  n stays below
 * 2^62 for any log the store can hold (tree_get's bounds). */
static size_t tree_key(uint8_t *k, uint64_t level, uint64_t index) {
  k[0] = 't';
  be64(k + 1, ((index + 1) << level) - 1);
  k[9] = (uint8_t)level;
  return 10;
}

/* The keys stores written before used, still read: the in-order position
 * (leaf n at 2n, the subtree (level l, index i) at i * 2^(l+1) + 2^l - 1)
 * ... */
static size_t tree_key_v2(uint8_t *k, uint64_t level, uint64_t index) {
  uint64_t pos = (index << (level + 1)) + (((uint64_t)1 << level) - 1);
  k[0] = 'p';
  be64(k + 1, pos);
  return 9;
}

/* ... and, first, (level, index) order. */
static size_t tree_key_v1(uint8_t *k, uint64_t level, uint64_t index) {
  k[0] = 'h';
  k[1] = (uint8_t)level;
  be64(k + 2, index);
  return 10;
}

/* The tree size (number of entries) inside |txn|. */
static int audit_size_read(mg_kv_txn *txn, uint64_t *size) {
  uint8_t *v = NULL;
  size_t vl = 0;
  uint64_t ver = 0;
  int rc = mg_kv_get_sealed(txn, MG_KV_AUDIT_TREE, (const uint8_t *)KEY_SIZE,
                            strlen(KEY_SIZE), &ver, &v, &vl);
  if (rc == MG_ERR_NOT_FOUND) {
    *size = 0;
    return 0;
  }
  MG_GUARD(rc);
  if (vl != 8 || rd64(v) != ver) {
    mg_free_secret(v, vl);
    return MG_ERR_TAMPERED;
  }
  *size = rd64(v);
  mg_free_secret(v, vl);
  return 0;
}

/* The log's size is read once per transaction and kept in its slot;
 * appends move the slot and the size record is written once, just
 * before the commit (size_write). */
static int audit_size(mg_kv_txn *txn, uint64_t *size) {
  int set = 0;
  uint64_t *slot = mg_kv_txn_slot(txn, &set);
  if (!set) {
    int rc = audit_size_read(txn, slot);
    if (rc < 0) {
      *slot = UINT64_MAX; /* unknown: every later use fails the same */
      return rc;
    }
  }
  if (*slot == UINT64_MAX) {
    return MG_ERR_STORE;
  }
  *size = *slot;
  return 0;
}

static int size_write(mg_kv_txn *txn, void *arg) {
  uint8_t szb[8];
  uint64_t n = 0;
  (void)arg;
  MG_GUARD(audit_size(txn, &n));
  be64(szb, n);
  return mg_kv_put_sealed(txn, MG_KV_AUDIT_TREE, (const uint8_t *)KEY_SIZE,
                          strlen(KEY_SIZE), n, szb, 8, 0);
}

typedef struct tree_get_arg {
  mg_kv_txn *txn;
} tree_get_arg;

/* mg_tlog_get_fn over the stored subtree hashes. */
static int tree_get(void *arg, uint64_t level, uint64_t index,
                    uint8_t out[MG_TLOG_HASH_LEN]) {
  tree_get_arg *a = arg;
  uint8_t k[10], *v = NULL;
  size_t vl = 0;
  uint64_t ver = 0;
  if (level >= 63 || index >= ((uint64_t)1 << (62 - level))) {
    return MG_ERR_INVALID_ARG;
  }
  /* The current key, then those of the versions before (a store keeps
   * the nodes it had under their keys; new ones go under the current). */
  static size_t (*const keys[])(uint8_t *, uint64_t, uint64_t) = {
      tree_key, tree_key_v2, tree_key_v1};
  int rc = MG_ERR_NOT_FOUND;
  for (size_t i = 0; rc == MG_ERR_NOT_FOUND && i < MG_ARRAY_LEN(keys); i++) {
    size_t kl = keys[i](k, level, index);
    rc = mg_kv_get_sealed(a->txn, MG_KV_AUDIT_TREE, k, kl, &ver, &v, &vl);
  }
  MG_GUARD(rc);
  if (vl != MG_TLOG_HASH_LEN) {
    mg_free_secret(v, vl);
    return MG_ERR_TAMPERED;
  }
  memcpy(out, v, MG_TLOG_HASH_LEN);
  mg_free_secret(v, vl);
  return 0;
}

/* Writes the hash of (level, index). */
static int tree_put(mg_kv_txn *txn, uint64_t level, uint64_t index,
                    const uint8_t h[MG_TLOG_HASH_LEN]) {
  uint8_t k[10];
  size_t kl = tree_key(k, level, index);
  return mg_kv_put_sealed(txn, MG_KV_AUDIT_TREE, k, kl, index, h,
                          MG_TLOG_HASH_LEN, MG_KV_PUT_INSERT);
}

/* Appends |entry| as leaf |n| = the current size. */
static int tree_append(mg_kv_txn *txn, uint64_t n, const uint8_t *entry,
                       size_t entry_len) {
  uint8_t h[MG_TLOG_HASH_LEN], l[MG_TLOG_HASH_LEN];
  tree_get_arg ga = {txn};
  MG_GUARD(mg_tlog_leaf_hash(h, entry, entry_len));
  MG_GUARD(tree_put(txn, 0, n, h));
  /* Every subtree this leaf completes: (lvl, n >> lvl) while the low lvl
   * bits of n are all ones. */
  for (uint64_t lvl = 1; lvl < 63 && ((n + 1) & (((uint64_t)1 << lvl) - 1)) == 0;
       lvl++) {
    uint64_t idx = n >> lvl;
    MG_GUARD(tree_get(&ga, lvl - 1, 2 * idx, l));
    MG_GUARD(mg_tlog_node_hash(h, l, h));
    MG_GUARD(tree_put(txn, lvl, idx, h));
  }
  /* The new size, written before the commit. */
  int set = 0;
  uint64_t *slot = mg_kv_txn_slot(txn, &set);
  MG_ENSURE(set && *slot == n, MG_ERR_INTERNAL);
  MG_GUARD(mg_kv_txn_precommit(txn, size_write, NULL));
  *slot = n + 1;
  return 0;
}

/* ------------------------------------------------- canonical entries */

/* The entry writer: a buffer sized beforehand (entry_bound), so no write
 * can run past it. */
typedef struct jbuf {
  char *p;
  size_t len;
} jbuf;

static void put_raw(jbuf *b, const char *s, size_t n) {
  memcpy(b->p + b->len, s, n);
  b->len += n;
}

static void put_str(jbuf *b, const char *s) { put_raw(b, s, strlen(s)); }

static void put_hex4(jbuf *b, uint32_t v) {
  static const char hx[] = "0123456789ABCDEF"; /* upper case, as jansson */
  char u[6] = {'\\', 'u', hx[(v >> 12) & 15], hx[(v >> 8) & 15],
               hx[(v >> 4) & 15], hx[v & 15]};
  put_raw(b, u, sizeof(u));
}

/* utf8_next decodes the code point at |s| (|n| bytes left) into |*cp| and
 * returns its length, or 0 if it is not valid UTF-8 (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF) -- the strings jansson's
 * json_string refuses. */
static size_t utf8_next(const uint8_t *s, size_t n, uint32_t *cp) {
  uint8_t c = s[0];
  size_t len;
  uint32_t v;
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
    v = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    v = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    v = c & 0x07;
  } else {
    return 0; /* a continuation byte, an overlong lead, or above F4 */
  }
  if (n < len) {
    return 0;
  }
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80) {
      return 0;
    }
    v = v << 6 | (s[i] & 0x3F);
  }
  if ((len == 3 && v < 0x800) || (len == 4 && v < 0x10000) ||
      v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
    return 0;
  }
  *cp = v;
  return len;
}

/* put_json_str writes |s| as a JSON string exactly as jansson's
 * json_dumps(JSON_ENSURE_ASCII) does: '"' and '\\' escaped, \b \f \n \r
 * \t, every other control character and every non-ASCII code point as
 * \uXXXX (upper-case hex; above U+FFFF a UTF-16 surrogate pair); '/' and
 * DEL as they are.  MG_ERR_INVALID_ARG if |s| is not valid UTF-8.
 * Writes at most 6 bytes per input byte plus the 2 quotes. */
static int put_json_str(jbuf *b, const char *s) {
  const uint8_t *p = (const uint8_t *)s;
  size_t n = strlen(s);
  b->p[b->len++] = '"';
  while (n > 0) {
    uint32_t cp = 0;
    size_t k = utf8_next(p, n, &cp);
    if (k == 0) {
      return MG_ERR_INVALID_ARG;
    }
    p += k;
    n -= k;
    switch (cp) {
    case '"':
      put_raw(b, "\\\"", 2);
      break;
    case '\\':
      put_raw(b, "\\\\", 2);
      break;
    case '\b':
      put_raw(b, "\\b", 2);
      break;
    case '\f':
      put_raw(b, "\\f", 2);
      break;
    case '\n':
      put_raw(b, "\\n", 2);
      break;
    case '\r':
      put_raw(b, "\\r", 2);
      break;
    case '\t':
      put_raw(b, "\\t", 2);
      break;
    default:
      if (cp < 0x20 || (cp > 0x7F && cp < 0x10000)) {
        put_hex4(b, cp);
      } else if (cp >= 0x10000) {
        cp -= 0x10000;
        put_hex4(b, 0xD800 | (cp >> 10));
        put_hex4(b, 0xDC00 | (cp & 0x3FF));
      } else {
        b->p[b->len++] = (char)cp;
      }
    }
  }
  b->p[b->len++] = '"';
  return 0;
}

static void put_int(jbuf *b, uint64_t v) {
  char num[24];
  size_t n = sizeof(num);
  /* As jansson prints a json_integer (json_int_t, long long): values
   * past INT64_MAX come out negative, as they always did. */
  int neg = v > (uint64_t)INT64_MAX;
  uint64_t m = neg ? (uint64_t)0 - v : v;
  do {
    num[--n] = (char)('0' + m % 10);
    m /= 10;
  } while (m != 0);
  if (neg) {
    num[--n] = '-';
  }
  put_raw(b, num + n, sizeof(num) - n);
}

/* Builds the canonical entry bytes (see the top of the file): the bytes
 * json_dumps(JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII) gives for
 * the entry's object (tests/check_audit.c compares the two), written
 * directly with the keys in their sorted order.  |*out| is NUL-terminated
 * (free with free()).  Errors: MG_ERR_INVALID_ARG (a string that is not
 * valid UTF-8), MG_ERR_NOMEM. */
static int entry_encode(const mg_ks_ctx *ctx, const mg_ks_audit *a,
                        uint64_t seq, const uint8_t *hmac, char **out,
                        size_t *out_len) {
  const char *actor = ctx->actor != NULL ? ctx->actor : "";
  const char *object = a->object != NULL ? a->object : "";
  const char *result = a->result == 0 ? "ok" : mg_err_name(a->result);
  size_t text = strlen(a->action) + strlen(actor) + strlen(object) +
                strlen(result);
  char hx[2 * 32 + 1];
  jbuf b;
  int rc;
  *out = NULL;
  /* The keys, punctuation, quotes, numbers and HMAC fit in 224 bytes
   * (198); a string byte becomes at most 6 ("\u00XX"; 4 bytes of UTF-8
   * become 12). */
  MG_ENSURE(text <= SIZE_MAX / 16 &&
                a->num_key_ids <= SIZE_MAX / 16 / (2 * MG_KS_KEY_ID_LEN + 3),
            MG_ERR_INVALID_ARG);
  size_t bound = 160 + 64 + 6 * text +
                 a->num_key_ids * (2 * MG_KS_KEY_ID_LEN + 3);
  b.p = malloc(bound + 1);
  MG_ENSURE(b.p != NULL, MG_ERR_NOMEM);
  b.len = 0;
  put_str(&b, "{\"action\":");
  MG_CHECK(put_json_str(&b, a->action));
  put_str(&b, ",\"actor\":");
  MG_CHECK(put_json_str(&b, actor));
  if (hmac != NULL) {
    put_str(&b, ",\"content_hmac\":\"");
    mg_hex_encode(hx, hmac, 32);
    put_str(&b, hx);
    put_str(&b, "\"");
  }
  put_str(&b, ",\"key_ids\":[");
  for (size_t i = 0; i < a->num_key_ids; i++) {
    put_str(&b, i == 0 ? "\"" : ",\"");
    mg_hex_encode(hx, a->key_ids[i], MG_KS_KEY_ID_LEN);
    put_str(&b, hx);
    put_str(&b, "\"");
  }
  put_str(&b, "],\"object\":");
  MG_CHECK(put_json_str(&b, object));
  put_str(&b, ",\"result\":");
  MG_CHECK(put_json_str(&b, result));
  put_str(&b, ",\"seq\":");
  put_int(&b, seq);
  put_str(&b, ",\"time\":");
  put_int(&b, ctx->now);
  put_str(&b, "}");
  b.p[b.len] = '\0';
  *out = b.p;
  *out_len = b.len;
  b.p = NULL;
  rc = 0;
out:
  free(b.p);
  return rc;
}

int mg_ks_audit_content_hmac(mg_keystore *ks, const uint8_t *content,
                             size_t len, uint8_t out[32]) {
  MG_ENSURE(ks != NULL && out != NULL && (content != NULL || len == 0),
            MG_ERR_INVALID_ARG);
  return mg_sha256.hmac(&mg_sha256, out, ks->audit_hmac_key,
                        MG_KS_AUDIT_HMAC_KEY_LEN, content != NULL ? content
                                                                  : (const uint8_t *)"",
                        len);
}

int mg_ks_audit_append(mg_keystore *ks, mg_ks_txn *txn, const mg_ks_ctx *ctx,
                       const mg_ks_audit *a, uint8_t *hmac_out) {
  uint8_t hmac[32], k[8];
  const uint8_t *h = NULL;
  char *entry = NULL;
  size_t entry_len = 0;
  uint64_t n = 0;
  int rc;
  MG_ENSURE(ks != NULL && txn != NULL && ctx != NULL && a != NULL &&
                a->action != NULL &&
                (a->key_ids != NULL || a->num_key_ids == 0) &&
                (a->content != NULL || a->content_len == 0) &&
                (a->content == NULL || a->content_hmac == NULL),
            MG_ERR_INVALID_ARG);
  if (a->content != NULL) {
    MG_GUARD(mg_sha256.hmac(&mg_sha256, hmac, ks->audit_hmac_key,
                            MG_KS_AUDIT_HMAC_KEY_LEN, a->content,
                            a->content_len));
    h = hmac;
  } else if (a->content_hmac != NULL) {
    h = a->content_hmac;
  }
  MG_CHECK(audit_size(txn, &n));
  MG_CHECK(entry_encode(ctx, a, n, h, &entry, &entry_len));
  be64(k, n);
  MG_CHECK(mg_kv_put_sealed(txn, MG_KV_AUDIT, k, 8, n, (const uint8_t *)entry,
                            entry_len, MG_KV_PUT_INSERT));
  MG_CHECK(tree_append(txn, n, (const uint8_t *)entry, entry_len));
  if (hmac_out != NULL && h != NULL) {
    memcpy(hmac_out, h, 32);
  }
  rc = 0;
out:
  free(entry);
  mg_memzero(hmac, sizeof(hmac));
  return rc;
}

typedef struct record_arg {
  mg_keystore *ks;
  const mg_ks_ctx *ctx;
  const mg_ks_audit *a;
} record_arg;

static int record_fn(mg_kv_txn *txn, void *arg) {
  record_arg *r = arg;
  return mg_ks_audit_append(r->ks, txn, r->ctx, r->a, NULL);
}

int mg_ks_audit_record(mg_keystore *ks, const mg_ks_ctx *ctx,
                       const mg_ks_audit *a) {
  record_arg r = {ks, ctx, a};
  MG_ENSURE(ks != NULL, MG_ERR_INVALID_ARG);
  return mg_kv_write(ks->kv, record_fn, &r);
}

int ks_audit_failure(mg_keystore *ks, const mg_ks_ctx *ctx, const char *action,
                     const char *name,
                     const uint8_t (*key_ids)[MG_KS_KEY_ID_LEN],
                     size_t num_key_ids, int err) {
  mg_ks_audit a;
  int recorded;
  if (err >= 0 || ks == NULL || ctx == NULL || err == MG_ERR_STORE ||
      err == MG_ERR_UNKNOWN_OUTCOME || err == MG_ERR_RETRY ||
      err == MG_ERR_NOMEM) {
    return err;
  }
  memset(&a, 0, sizeof(a));
  a.action = action;
  a.object = mg_ks_name_valid(name) ? name : "";
  a.key_ids = key_ids;
  a.num_key_ids = key_ids != NULL ? num_key_ids : 0;
  a.result = err;
  /* The operation's own error is what the caller acts on; if the entry
   * cannot be written either, the store is failing and the next operation
   * fails closed. */
  recorded = mg_ks_audit_record(ks, ctx, &a);
  (void)recorded;
  return err;
}

/* ------------------------------------------------------ keys, origin */

int mg_ks_audit_signer(const mg_keystore *ks, mg_note_signer *out) {
  char origin[MG_KS_AUDIT_ORIGIN_MAX];
  MG_GUARD(mg_ks_audit_origin(ks, origin, sizeof(origin)));
  return mg_note_signer_from_seed(out, origin, strlen(origin),
                                  ks->audit_sign_priv);
}

int mg_ks_audit_origin(const mg_keystore *ks, char *out, size_t cap) {
  uint8_t d[32];
  char hex[17];
  MG_ENSURE(ks != NULL && out != NULL, MG_ERR_INVALID_ARG);
  MG_GUARD(mg_sha256.digest(&mg_sha256, d, ks->audit_sign_pub,
                            MG_KS_AUDIT_SIGN_PUB_LEN));
  mg_hex_encode(hex, d, 8);
  int n = snprintf(out, cap, "mlsgate.audit/%s", hex);
  MG_ENSURE(n > 0 && (size_t)n < cap, MG_ERR_BUFFER_TOO_SMALL);
  return 0;
}

int mg_ks_audit_verifier(const mg_keystore *ks, char **out) {
  mg_note_signer s;
  mg_writer w;
  int rc;
  MG_ENSURE(out != NULL, MG_ERR_INVALID_ARG);
  *out = NULL;
  memset(&s, 0, sizeof(s));
  mg_writer_zero(&w);
  MG_CHECK(mg_ks_audit_signer(ks, &s));
  MG_CHECK(mg_writer_init(&w, 128, 0));
  MG_CHECK(mg_note_verifier_format(&w, &s.v));
  MG_CHECK(mg_write_u8(&w, 0));
  size_t len = 0;
  MG_CHECK(mg_writer_finish(&w, (uint8_t **)out, &len));
out:
  mg_writer_cleanup(&w);
  mg_note_signer_cleanup(&s);
  return rc;
}

/* ------------------------------------------------------ checkpoints */

typedef struct cp_arg {
  mg_keystore *ks;
  const mg_ks_ctx *ctx;
  char *note;      /* out */
  size_t note_len;
  uint64_t size;
} cp_arg;

static int checkpoint_fn(mg_kv_txn *txn, void *arg) {
  cp_arg *c = arg;
  mg_keystore *ks = c->ks;
  tree_get_arg ga = {txn};
  mg_checkpoint cp;
  mg_note_signer s;
  mg_writer tw, nw;
  uint8_t root[MG_TLOG_HASH_LEN];
  char origin[MG_KS_AUDIT_ORIGIN_MAX];
  uint8_t *prev = NULL;
  size_t prev_len = 0;
  uint64_t ver = 0, n = 0;
  int rc;

  free(c->note); /* a re-run after the map grew */
  c->note = NULL;
  memset(&s, 0, sizeof(s));
  mg_writer_zero(&tw);
  mg_writer_zero(&nw);
  MG_CHECK(audit_size(txn, &n));
  MG_CHECK(mg_tlog_root(root, tree_get, &ga, n));

  /* Never sign two inconsistent checkpoints: the new tree must extend the
   * last signed one (checked with a consistency proof against its root). */
  rc = mg_kv_get_sealed(txn, MG_KV_AUDIT_TREE, (const uint8_t *)KEY_CHECKPOINT,
                        strlen(KEY_CHECKPOINT), &ver, &prev, &prev_len);
  if (rc == 0) {
    mg_note pn;
    mg_checkpoint pcp;
    mg_tlog_proof pf;
    MG_REQUIRE_KS(prev_len > 8, MG_ERR_TAMPERED);
    MG_CHECK(mg_note_parse(&pn, (const char *)prev + 8, prev_len - 8));
    MG_CHECK(mg_checkpoint_parse(&pcp, pn.text, pn.text_len));
    MG_REQUIRE_KS(pcp.size == rd64(prev) && pcp.size <= n, MG_ERR_CONFLICT);
    MG_CHECK(mg_tlog_prove_consistency(&pf, tree_get, &ga, pcp.size, n));
    rc = mg_tlog_verify_consistency(pcp.size, n, &pf, pcp.root, root);
    MG_REQUIRE_KS(rc == 0, MG_ERR_CONFLICT);
  } else if (rc != MG_ERR_NOT_FOUND) {
    goto out;
  }

  MG_CHECK(mg_ks_audit_origin(ks, origin, sizeof(origin)));
  memset(&cp, 0, sizeof(cp));
  cp.origin = origin;
  cp.origin_len = strlen(origin);
  cp.size = n;
  memcpy(cp.root, root, sizeof(root));
  MG_CHECK(mg_writer_init(&tw, 256, 0));
  MG_CHECK(mg_checkpoint_format(&tw, &cp));
  MG_CHECK(mg_ks_audit_signer(ks, &s));
  MG_CHECK(mg_writer_init(&nw, 512, 0));
  MG_CHECK(mg_write_u64(&nw, n));
  MG_CHECK(mg_note_sign(&nw, (const char *)mg_writer_data(&tw),
                        mg_writer_len(&tw), &s, 1));
  MG_CHECK(mg_kv_put_sealed(txn, MG_KV_AUDIT_TREE,
                            (const uint8_t *)KEY_CHECKPOINT,
                            strlen(KEY_CHECKPOINT), n, mg_writer_data(&nw),
                            mg_writer_len(&nw), 0));
  c->note_len = mg_writer_len(&nw) - 8;
  c->note = malloc(c->note_len + 1);
  MG_REQUIRE_KS(c->note != NULL, MG_ERR_NOMEM);
  memcpy(c->note, mg_writer_data(&nw) + 8, c->note_len);
  c->note[c->note_len] = '\0';
  c->size = n;
  {
    mg_ks_audit a;
    memset(&a, 0, sizeof(a));
    a.action = "audit.checkpoint";
    a.object = origin;
    /* The checkpoint covers the entries before this one. */
    MG_CHECK(mg_ks_audit_append(ks, txn, c->ctx, &a, NULL));
  }
  rc = 0;
out:
  mg_free_secret(prev, prev_len);
  mg_writer_cleanup(&tw);
  mg_writer_cleanup(&nw);
  mg_note_signer_cleanup(&s);
  return rc;
}

int mg_ks_audit_checkpoint(mg_keystore *ks, const mg_ks_ctx *ctx, char **note,
                           size_t *note_len, uint64_t *size) {
  cp_arg c;
  MG_ENSURE(ks != NULL && ctx != NULL && note != NULL && note_len != NULL,
            MG_ERR_INVALID_ARG);
  memset(&c, 0, sizeof(c));
  c.ks = ks;
  c.ctx = ctx;
  int rc = mg_kv_write(ks->kv, checkpoint_fn, &c);
  if (rc < 0) {
    free(c.note);
    return rc;
  }
  *note = c.note;
  *note_len = c.note_len;
  if (size != NULL) {
    *size = c.size;
  }
  return 0;
}

/* --------------------------------------------------- entries, proofs */

typedef struct entries_arg {
  uint64_t start, end;
  mg_ks_audit_entry_fn fn;
  void *arg;
  uint64_t size;
} entries_arg;

static int entries_fn(mg_kv_txn *txn, void *arg) {
  entries_arg *e = arg;
  tree_get_arg ga = {txn};
  MG_GUARD(audit_size(txn, &e->size));
  uint64_t end = e->end > e->size ? e->size : e->end;
  for (uint64_t i = e->start; i < end; i++) {
    uint8_t k[8], *v = NULL, h[MG_TLOG_HASH_LEN];
    size_t vl = 0;
    uint64_t ver = 0;
    be64(k, i);
    MG_GUARD(mg_kv_get_sealed(txn, MG_KV_AUDIT, k, 8, &ver, &v, &vl));
    int rc = ver == i ? tree_get(&ga, 0, i, h) : MG_ERR_TAMPERED;
    if (rc == 0) {
      rc = e->fn(e->arg, i, (const char *)v, vl, h);
    }
    mg_free_secret(v, vl);
    MG_GUARD(rc);
  }
  return 0;
}

int mg_ks_audit_entries(mg_keystore *ks, uint64_t start, uint64_t end,
                        mg_ks_audit_entry_fn fn, void *arg, uint64_t *size) {
  entries_arg e = {start, end, fn, arg, 0};
  MG_ENSURE(ks != NULL && fn != NULL && start <= end, MG_ERR_INVALID_ARG);
  MG_GUARD(mg_kv_read(ks->kv, entries_fn, &e));
  if (size != NULL) {
    *size = e.size;
  }
  return 0;
}

typedef struct proof_arg {
  int consistency;
  uint64_t a, b;
  mg_tlog_proof *out;
} proof_arg;

static int proof_fn(mg_kv_txn *txn, void *arg) {
  proof_arg *p = arg;
  tree_get_arg ga = {txn};
  uint64_t n = 0;
  MG_GUARD(audit_size(txn, &n));
  MG_ENSURE(p->b <= n, MG_ERR_NOT_FOUND);
  if (p->consistency) {
    return mg_tlog_prove_consistency(p->out, tree_get, &ga, p->a, p->b);
  }
  return mg_tlog_prove_inclusion(p->out, tree_get, &ga, p->a, p->b);
}

int mg_ks_audit_prove_inclusion(mg_keystore *ks, uint64_t index,
                                uint64_t size, mg_tlog_proof *out) {
  proof_arg p = {0, index, size, out};
  MG_ENSURE(ks != NULL && out != NULL && index < size, MG_ERR_INVALID_ARG);
  return mg_kv_read(ks->kv, proof_fn, &p);
}

int mg_ks_audit_prove_consistency(mg_keystore *ks, uint64_t size1,
                                  uint64_t size2, mg_tlog_proof *out) {
  proof_arg p = {1, size1, size2, out};
  MG_ENSURE(ks != NULL && out != NULL && size1 <= size2, MG_ERR_INVALID_ARG);
  return mg_kv_read(ks->kv, proof_fn, &p);
}

/* ------------------------------------------------ last checkpoint */

typedef struct last_cp_arg {
  char *note;
  size_t len;
  uint64_t size;
} last_cp_arg;

static int last_cp_fn(mg_kv_txn *txn, void *arg) {
  last_cp_arg *l = arg;
  uint8_t *v = NULL;
  size_t vl = 0;
  uint64_t ver = 0;
  free(l->note);
  l->note = NULL;
  MG_GUARD(mg_kv_get_sealed(txn, MG_KV_AUDIT_TREE,
                            (const uint8_t *)KEY_CHECKPOINT,
                            strlen(KEY_CHECKPOINT), &ver, &v, &vl));
  if (vl <= 8 || rd64(v) != ver) {
    mg_free_secret(v, vl);
    return MG_ERR_TAMPERED;
  }
  l->note = malloc(vl - 8 + 1);
  if (l->note == NULL) {
    mg_free_secret(v, vl);
    return MG_ERR_NOMEM;
  }
  memcpy(l->note, v + 8, vl - 8);
  l->note[vl - 8] = '\0';
  l->len = vl - 8;
  l->size = ver;
  mg_free_secret(v, vl);
  return 0;
}

int mg_ks_audit_last_checkpoint(mg_keystore *ks, char **note, size_t *len,
                                uint64_t *size) {
  last_cp_arg l;
  MG_ENSURE(ks != NULL && note != NULL && len != NULL, MG_ERR_INVALID_ARG);
  memset(&l, 0, sizeof(l));
  int rc = mg_kv_read(ks->kv, last_cp_fn, &l);
  if (rc < 0) {
    free(l.note);
    return rc;
  }
  *note = l.note;
  *len = l.len;
  if (size != NULL) {
    *size = l.size;
  }
  return 0;
}
