/*
 * The audit log (issue 5): append-only entries, the leaves of an RFC
 * 6962/9162 Merkle tree (tlog.h), checkpoints signed as C2SP signed notes
 * with the store's Ed25519 audit key (note.h), proofs, and the export that
 * `mlsgatectl audit verify` checks offline (audit_verify.c).
 *
 * Storage (all sealed, kv.h):
 *   AUDIT       uint64 seq (BE)                -> entry bytes (version seq)
 *   AUDIT_TREE  'h' || uint8 level || uint64 index (BE)
 *                                              -> complete subtree hash
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
 * It carries key IDs and a keyed hash of message content, never content or
 * secrets: the HMAC key is the store's audit HMAC key, so a 6-digit code
 * cannot be recovered from the log by trying all codes.
 */
#include "config.h"

#include <jansson.h>
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

static size_t tree_key(uint8_t *k, uint64_t level, uint64_t index) {
  k[0] = 'h';
  k[1] = (uint8_t)level;
  be64(k + 2, index);
  return 10;
}

/* The tree size (number of entries) inside |txn|. */
static int audit_size(mg_kv_txn *txn, uint64_t *size) {
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
  if (level >= 64) {
    return MG_ERR_INVALID_ARG;
  }
  size_t kl = tree_key(k, level, index);
  MG_GUARD(mg_kv_get_sealed(a->txn, MG_KV_AUDIT_TREE, k, kl, &ver, &v, &vl));
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
  uint8_t h[MG_TLOG_HASH_LEN], l[MG_TLOG_HASH_LEN], szb[8];
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
  be64(szb, n + 1);
  return mg_kv_put_sealed(txn, MG_KV_AUDIT_TREE, (const uint8_t *)KEY_SIZE,
                          strlen(KEY_SIZE), n + 1, szb, 8, 0);
}

static int hex_string(json_t *obj, const char *key, const uint8_t *b,
                      size_t n) {
  char buf[2 * 64 + 1];
  if (n > 64) {
    return MG_ERR_INVALID_ARG;
  }
  mg_hex_encode(buf, b, n);
  return json_object_set_new(obj, key, json_string(buf)) == 0 ? 0
                                                              : MG_ERR_NOMEM;
}

/* Builds the canonical entry bytes (see the top of the file). */
static int entry_encode(const mg_ks_ctx *ctx, const mg_ks_audit *a,
                        uint64_t seq, const uint8_t *hmac, char **out,
                        size_t *out_len) {
  json_t *o = json_object();
  json_t *ids = json_array();
  int rc;
  *out = NULL;
  MG_REQUIRE_KS(o != NULL && ids != NULL, MG_ERR_NOMEM);
  MG_REQUIRE_KS(json_object_set_new(o, "seq", json_integer((json_int_t)seq)) == 0 &&
                    json_object_set_new(o, "time",
                                        json_integer((json_int_t)ctx->now)) == 0 &&
                    json_object_set_new(o, "actor",
                                        json_string(ctx->actor ? ctx->actor : "")) == 0 &&
                    json_object_set_new(o, "action", json_string(a->action)) == 0 &&
                    json_object_set_new(o, "object",
                                        json_string(a->object ? a->object : "")) == 0 &&
                    json_object_set_new(o, "result",
                                        json_string(a->result == 0
                                                        ? "ok"
                                                        : mg_err_name(a->result))) == 0,
                MG_ERR_NOMEM);
  for (size_t i = 0; i < a->num_key_ids; i++) {
    char buf[2 * MG_KS_KEY_ID_LEN + 1];
    mg_hex_encode(buf, a->key_ids[i], MG_KS_KEY_ID_LEN);
    MG_REQUIRE_KS(json_array_append_new(ids, json_string(buf)) == 0,
                  MG_ERR_NOMEM);
  }
  MG_REQUIRE_KS(json_object_set(o, "key_ids", ids) == 0, MG_ERR_NOMEM);
  if (hmac != NULL) {
    MG_CHECK(hex_string(o, "content_hmac", hmac, 32));
  }
  {
    /* json_dumpb into our own buffer (freed with free()): the process may
     * have given jansson other allocation functions (mlsgated wipes what
     * jansson frees). */
    const size_t flags = JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII;
    size_t n = json_dumpb(o, NULL, 0, flags);
    MG_REQUIRE_KS(n > 0, MG_ERR_NOMEM);
    *out = malloc(n + 1);
    MG_REQUIRE_KS(*out != NULL, MG_ERR_NOMEM);
    if (json_dumpb(o, *out, n, flags) != n) {
      free(*out);
      *out = NULL;
      MG_FAIL(MG_ERR_NOMEM);
    }
    (*out)[n] = '\0';
    *out_len = n;
  }
  rc = 0;
out:
  json_decref(ids);
  json_decref(o);
  return rc;
}

int mg_ks_audit_append(mg_keystore *ks, mg_ks_txn *txn, const mg_ks_ctx *ctx,
                       const mg_ks_audit *a, uint8_t *hmac_out) {
  uint8_t hmac[32], k[8];
  char *entry = NULL;
  size_t entry_len = 0;
  uint64_t n = 0;
  int rc;
  MG_ENSURE(ks != NULL && txn != NULL && ctx != NULL && a != NULL &&
                a->action != NULL &&
                (a->key_ids != NULL || a->num_key_ids == 0) &&
                (a->content != NULL || a->content_len == 0),
            MG_ERR_INVALID_ARG);
  if (a->content != NULL) {
    MG_GUARD(mg_sha256.hmac(&mg_sha256, hmac, ks->audit_hmac_key,
                            MG_KS_AUDIT_HMAC_KEY_LEN, a->content,
                            a->content_len));
  }
  MG_CHECK(audit_size(txn, &n));
  MG_CHECK(entry_encode(ctx, a, n, a->content != NULL ? hmac : NULL, &entry,
                        &entry_len));
  be64(k, n);
  MG_CHECK(mg_kv_put_sealed(txn, MG_KV_AUDIT, k, 8, n, (const uint8_t *)entry,
                            entry_len, MG_KV_PUT_INSERT));
  MG_CHECK(tree_append(txn, n, (const uint8_t *)entry, entry_len));
  if (hmac_out != NULL && a->content != NULL) {
    memcpy(hmac_out, hmac, 32);
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
