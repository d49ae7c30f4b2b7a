/*
 * The idempotency store (issue 6): the first response of a creating POST,
 * replayed for a repeated Idempotency-Key
 * (draft-ietf-httpapi-idempotency-key-header).
 *
 * Records (IDEMPOTENCY table, sealed, see keystore_int.h):
 *
 *   struct {
 *       uint8 format = 1;
 *       uint8 state;              // 1: in_progress, 2: done
 *       opaque body_hash[32];     // SHA-256 of the first request's body
 *       uint64 created_at;
 *       uint16 status;            // 0 while in_progress
 *       opaque content_type<V>;   // empty while in_progress
 *       opaque body<V>;           // empty while in_progress
 *   } IdemRecord;   // IDEMPOTENCY[principal 0x00 route 0x00 key]
 *
 * None of the three parts of the key contains 0x00 (a token name, and
 * printable ASCII), so the key is an unambiguous encoding of the triple,
 * and at most 64 + 1 + 128 + 1 + 255 = 449 bytes (LMDB's limit is 511).
 */
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/guard.h"
#include "common/secmem.h"
#include "keystore/keystore_int.h"

#define IDEM_FORMAT 1
#define IDEM_IN_PROGRESS 1
#define IDEM_DONE 2
#define IDEM_KEY_BUF \
  (MG_KS_NAME_MAX + 1 + MG_KS_IDEM_ROUTE_MAX + 1 + MG_KS_IDEM_KEY_MAX)
/* The largest record: the fixed fields, two varint lengths and the two
 * strings. */
#define IDEM_RECORD_MAX (MG_KS_IDEM_BODY_MAX + MG_KS_IDEM_CTYPE_MAX + 64)

typedef struct idem_record {
  uint8_t state;
  uint8_t body_hash[MG_KS_IDEM_HASH_LEN];
  uint64_t created_at;
  uint16_t status;
  mg_reader content_type; /* borrow the opened record */
  mg_reader body;
} idem_record;

void mg_ks_idem_cleanup(mg_ks_idem *r) {
  if (r == NULL) {
    return;
  }
  if (r->content_type != NULL) {
    mg_free_secret(r->content_type, strlen(r->content_type) + 1);
  }
  mg_free_secret(r->body, r->body_len);
  memset(r, 0, sizeof(*r));
}

/* printable_len returns the length of |s| if it is 1..|max| characters of
 * printable ASCII (0x20..0x7e), else 0. */
static size_t printable_len(const char *s, size_t max) {
  size_t n;
  if (s == NULL) {
    return 0;
  }
  for (n = 0; s[n] != '\0'; n++) {
    if (n >= max || (unsigned char)s[n] < 0x20 || (unsigned char)s[n] > 0x7e) {
      return 0;
    }
  }
  return n;
}

/* record_key builds principal 0x00 route 0x00 key into |buf|
 * (IDEM_KEY_BUF bytes).  Errors: MG_ERR_INVALID_ARG. */
static int record_key(uint8_t *buf, size_t *len, const char *principal,
                      const char *route, const char *key) {
  size_t np, nr, nk;
  MG_ENSURE(mg_ks_name_valid(principal), MG_ERR_INVALID_ARG);
  nr = printable_len(route, MG_KS_IDEM_ROUTE_MAX);
  nk = printable_len(key, MG_KS_IDEM_KEY_MAX);
  MG_ENSURE(nr > 0 && nk > 0, MG_ERR_INVALID_ARG);
  np = strlen(principal);
  memcpy(buf, principal, np);
  buf[np] = 0x00;
  memcpy(buf + np + 1, route, nr);
  buf[np + 1 + nr] = 0x00;
  memcpy(buf + np + 1 + nr + 1, key, nk);
  *len = np + 1 + nr + 1 + nk;
  return 0;
}

static int record_encode(const uint8_t hash[MG_KS_IDEM_HASH_LEN], uint8_t state,
                         uint64_t created_at, uint16_t status,
                         const char *content_type, const uint8_t *body,
                         size_t body_len, uint8_t **out, size_t *out_len) {
  mg_writer w;
  int rc;
  mg_writer_zero(&w);
  MG_CHECK(mg_writer_init(&w, 64 + body_len, IDEM_RECORD_MAX));
  MG_CHECK(mg_write_u8(&w, IDEM_FORMAT));
  MG_CHECK(mg_write_u8(&w, state));
  MG_CHECK(mg_write_bytes(&w, hash, MG_KS_IDEM_HASH_LEN));
  MG_CHECK(mg_write_u64(&w, created_at));
  MG_CHECK(mg_write_u16(&w, status));
  MG_CHECK(mg_write_opaque(&w, (const uint8_t *)content_type,
                           content_type != NULL ? strlen(content_type) : 0));
  MG_CHECK(mg_write_opaque(&w, body, body_len));
  return mg_writer_finish(&w, out, out_len);
out:
  mg_writer_cleanup(&w);
  return rc;
}

/* record_decode parses an opened IdemRecord (|r| borrows |p|).  An unknown
 * format is MG_ERR_SCHEMA; anything else wrong is MG_ERR_TAMPERED. */
static int record_decode(const uint8_t *p, size_t len, idem_record *r) {
  mg_reader rd;
  uint8_t format = 0;
  memset(r, 0, sizeof(*r));
  mg_reader_init(&rd, p, len);
  MG_ENSURE(mg_read_u8(&rd, &format) == 0, MG_ERR_TAMPERED);
  MG_ENSURE(format == IDEM_FORMAT, MG_ERR_SCHEMA);
  if (mg_read_u8(&rd, &r->state) < 0 ||
      mg_read_copy(&rd, r->body_hash, MG_KS_IDEM_HASH_LEN) < 0 ||
      mg_read_u64(&rd, &r->created_at) < 0 ||
      mg_read_u16(&rd, &r->status) < 0 ||
      mg_read_vec_max(&rd, &r->content_type, MG_KS_IDEM_CTYPE_MAX) < 0 ||
      mg_read_vec_max(&rd, &r->body, MG_KS_IDEM_BODY_MAX) < 0 ||
      mg_reader_done(&rd) < 0) {
    return MG_ERR_TAMPERED;
  }
  if (r->state == IDEM_IN_PROGRESS) {
    MG_ENSURE(r->status == 0 && mg_reader_len(&r->content_type) == 0 &&
                  mg_reader_len(&r->body) == 0,
              MG_ERR_TAMPERED);
  } else if (r->state == IDEM_DONE) {
    MG_ENSURE(r->status >= 100 && r->status <= 599 &&
                  mg_reader_len(&r->content_type) > 0,
              MG_ERR_TAMPERED);
  } else {
    return MG_ERR_TAMPERED;
  }
  return 0;
}

/* record_load opens the record of |key| (|*pt| owned by the caller, free
 * with mg_free_secret) and parses it into |r|. */
static int record_load(mg_kv_txn *txn, const uint8_t *key, size_t key_len,
                       uint8_t **pt, size_t *pt_len, idem_record *r) {
  uint64_t version = 0;
  int rc;
  *pt = NULL;
  *pt_len = 0;
  MG_GUARD(mg_kv_get_sealed(txn, MG_KV_IDEMPOTENCY, key, key_len, &version, pt,
                            pt_len));
  rc = record_decode(*pt, *pt_len, r);
  if (rc < 0) {
    mg_free_secret(*pt, *pt_len);
    *pt = NULL;
    *pt_len = 0;
  }
  return rc;
}

static uint64_t ttl_or_default(uint64_t ttl) {
  return ttl != 0 ? ttl : MG_KS_IDEM_TTL_DEFAULT;
}

/* expired: created at least |ttl| seconds before |now| (a record "from the
 * future", after the clock went back, is not). */
static int expired(uint64_t created_at, uint64_t now, uint64_t ttl) {
  return now >= created_at && now - created_at >= ttl;
}

/* ------------------------------------------------------------ begin */

typedef struct begin_arg {
  const uint8_t *key;
  size_t key_len;
  const uint8_t *body_hash;
  uint64_t now, ttl;
  int outcome;
  mg_ks_idem result;
} begin_arg;

static int begin_txn(mg_kv_txn *txn, void *p) {
  begin_arg *a = p;
  uint8_t *pt = NULL, *rec = NULL;
  size_t pt_len = 0, rec_len = 0;
  idem_record r;
  int rc;

  mg_ks_idem_cleanup(&a->result); /* a rerun starts afresh */
  a->outcome = 0;
  rc = record_load(txn, a->key, a->key_len, &pt, &pt_len, &r);
  if (rc == 0 && !expired(r.created_at, a->now, a->ttl)) {
    a->result.created_at = r.created_at;
    if (!mg_ct_memeq(r.body_hash, a->body_hash, MG_KS_IDEM_HASH_LEN)) {
      a->outcome = MG_KS_IDEM_MISMATCH;
    } else if (r.state == IDEM_IN_PROGRESS) {
      a->outcome = MG_KS_IDEM_IN_PROGRESS;
    } else {
      size_t ct_len = mg_reader_len(&r.content_type);
      size_t body_len = mg_reader_len(&r.body);
      a->result.status = r.status;
      a->result.content_type = malloc(ct_len + 1);
      a->result.body = body_len > 0 ? malloc(body_len) : NULL;
      if (a->result.content_type == NULL ||
          (body_len > 0 && a->result.body == NULL)) {
        MG_FAIL(MG_ERR_NOMEM);
      }
      memcpy(a->result.content_type, mg_reader_data(&r.content_type), ct_len);
      a->result.content_type[ct_len] = '\0';
      if (body_len > 0) {
        memcpy(a->result.body, mg_reader_data(&r.body), body_len);
      }
      a->result.body_len = body_len;
      a->outcome = MG_KS_IDEM_REPLAY;
    }
    rc = 0;
    goto out;
  }
  if (rc < 0 && rc != MG_ERR_NOT_FOUND) {
    goto out;
  }
  /* Absent or expired: this request is the first. */
  MG_CHECK(record_encode(a->body_hash, IDEM_IN_PROGRESS, a->now, 0, NULL, NULL,
                         0, &rec, &rec_len));
  MG_CHECK(mg_kv_put_sealed(txn, MG_KV_IDEMPOTENCY, a->key, a->key_len, 1, rec,
                            rec_len, 0));
  a->result.created_at = a->now;
  a->outcome = MG_KS_IDEM_NEW;
out:
  mg_free_secret(pt, pt_len);
  free(rec);
  return rc;
}

int mg_ks_idem_begin(mg_keystore *ks, const char *principal, const char *route,
                     const char *key,
                     const uint8_t body_hash[MG_KS_IDEM_HASH_LEN], uint64_t now,
                     uint64_t ttl, mg_ks_idem *out) {
  uint8_t k[IDEM_KEY_BUF];
  begin_arg a;
  int rc;
  MG_ENSURE(out != NULL, MG_ERR_INVALID_ARG);
  memset(out, 0, sizeof(*out));
  MG_ENSURE(ks != NULL && body_hash != NULL, MG_ERR_INVALID_ARG);
  memset(&a, 0, sizeof(a));
  MG_GUARD(record_key(k, &a.key_len, principal, route, key));
  a.key = k;
  a.body_hash = body_hash;
  a.now = now;
  a.ttl = ttl_or_default(ttl);
  rc = mg_kv_write(ks->kv, begin_txn, &a);
  if (rc < 0) {
    mg_ks_idem_cleanup(&a.result);
    return rc;
  }
  *out = a.result;
  return a.outcome;
}

/* ----------------------------------------------------------- finish */

typedef struct finish_arg {
  const char *principal, *route, *key;
  uint16_t status;
  const char *content_type;
  const uint8_t *body;
  size_t len;
} finish_arg;

static int finish_in(mg_kv_txn *txn, const finish_arg *a) {
  uint8_t k[IDEM_KEY_BUF];
  size_t k_len = 0;
  uint8_t *pt = NULL, *rec = NULL;
  size_t pt_len = 0, rec_len = 0;
  idem_record r;
  int rc;
  MG_ENSURE(txn != NULL, MG_ERR_INVALID_ARG);
  MG_GUARD(record_key(k, &k_len, a->principal, a->route, a->key));
  MG_ENSURE(a->status >= 100 && a->status <= 599, MG_ERR_INVALID_ARG);
  MG_ENSURE(printable_len(a->content_type, MG_KS_IDEM_CTYPE_MAX) > 0,
            MG_ERR_INVALID_ARG);
  MG_ENSURE(a->len <= MG_KS_IDEM_BODY_MAX && (a->body != NULL || a->len == 0),
            MG_ERR_INVALID_ARG);
  MG_CHECK(record_load(txn, k, k_len, &pt, &pt_len, &r));
  if (r.state != IDEM_IN_PROGRESS) {
    MG_FAIL(MG_ERR_CONFLICT);
  }
  MG_CHECK(record_encode(r.body_hash, IDEM_DONE, r.created_at, a->status,
                         a->content_type, a->body, a->len, &rec, &rec_len));
  MG_CHECK(
      mg_kv_put_sealed(txn, MG_KV_IDEMPOTENCY, k, k_len, 1, rec, rec_len, 0));
out:
  mg_free_secret(pt, pt_len);
  mg_free_secret(rec, rec_len);
  return rc;
}

static int finish_txn(mg_kv_txn *txn, void *p) { return finish_in(txn, p); }

int mg_ks_idem_finish_txn(mg_ks_txn *txn, const char *principal,
                          const char *route, const char *key, uint16_t status,
                          const char *content_type, const uint8_t *body,
                          size_t len) {
  finish_arg a;
  a.principal = principal;
  a.route = route;
  a.key = key;
  a.status = status;
  a.content_type = content_type;
  a.body = body;
  a.len = len;
  return finish_in(txn, &a);
}

int mg_ks_idem_finish(mg_keystore *ks, const char *principal, const char *route,
                      const char *key, uint16_t status,
                      const char *content_type, const uint8_t *body,
                      size_t len) {
  finish_arg a;
  uint8_t k[IDEM_KEY_BUF];
  size_t k_len = 0;
  MG_ENSURE(ks != NULL, MG_ERR_INVALID_ARG);
  /* Arguments are checked before any transaction. */
  MG_GUARD(record_key(k, &k_len, principal, route, key));
  MG_ENSURE(status >= 100 && status <= 599, MG_ERR_INVALID_ARG);
  MG_ENSURE(printable_len(content_type, MG_KS_IDEM_CTYPE_MAX) > 0,
            MG_ERR_INVALID_ARG);
  MG_ENSURE(len <= MG_KS_IDEM_BODY_MAX && (body != NULL || len == 0),
            MG_ERR_INVALID_ARG);
  a.principal = principal;
  a.route = route;
  a.key = key;
  a.status = status;
  a.content_type = content_type;
  a.body = body;
  a.len = len;
  return mg_kv_write(ks->kv, finish_txn, &a);
}

/* ------------------------------------------------------------ abort */

typedef struct abort_arg {
  const uint8_t *key;
  size_t key_len;
} abort_arg;

static int abort_txn(mg_kv_txn *txn, void *p) {
  abort_arg *a = p;
  uint8_t *pt = NULL;
  size_t pt_len = 0;
  idem_record r;
  int rc;
  MG_CHECK(record_load(txn, a->key, a->key_len, &pt, &pt_len, &r));
  if (r.state != IDEM_IN_PROGRESS) {
    MG_FAIL(MG_ERR_CONFLICT);
  }
  MG_CHECK(mg_kv_del(txn, MG_KV_IDEMPOTENCY, a->key, a->key_len));
out:
  mg_free_secret(pt, pt_len);
  return rc;
}

int mg_ks_idem_abort(mg_keystore *ks, const char *principal, const char *route,
                     const char *key) {
  uint8_t k[IDEM_KEY_BUF];
  abort_arg a;
  MG_ENSURE(ks != NULL, MG_ERR_INVALID_ARG);
  MG_GUARD(record_key(k, &a.key_len, principal, route, key));
  a.key = k;
  return mg_kv_write(ks->kv, abort_txn, &a);
}

/* ------------------------------------------------------------ prune */

typedef struct prune_arg {
  uint64_t now, ttl, n;
} prune_arg;

static int prune_txn(mg_kv_txn *txn, void *p) {
  prune_arg *a = p;
  ks_keylist keys;
  int rc;
  memset(&keys, 0, sizeof(keys));
  a->n = 0;
  MG_CHECK(ks_keylist_collect(txn, MG_KV_IDEMPOTENCY, NULL, 0, &keys));
  for (size_t i = 0; i < keys.n; i++) {
    uint8_t *pt = NULL;
    size_t pt_len = 0;
    idem_record r;
    MG_CHECK(record_load(txn, keys.keys[i], keys.lens[i], &pt, &pt_len, &r));
    mg_free_secret(pt, pt_len);
    if (expired(r.created_at, a->now, a->ttl)) {
      MG_CHECK(mg_kv_del(txn, MG_KV_IDEMPOTENCY, keys.keys[i], keys.lens[i]));
      a->n++;
    }
  }
  rc = 0;
out:
  ks_keylist_free(&keys);
  return rc;
}

int mg_ks_idem_prune(mg_keystore *ks, uint64_t now, uint64_t ttl, uint64_t *n) {
  prune_arg a;
  int rc;
  if (n != NULL) {
    *n = 0;
  }
  MG_ENSURE(ks != NULL, MG_ERR_INVALID_ARG);
  memset(&a, 0, sizeof(a));
  a.now = now;
  a.ttl = ttl_or_default(ttl);
  rc = mg_kv_write(ks->kv, prune_txn, &a);
  if (rc == 0 && n != NULL) {
    *n = a.n;
  }
  return rc;
}
