/*
 * /v1/audit: the read side of the audit log for auditors (issue 5's
 * log): signed checkpoints (C2SP signed notes), entries with their leaf
 * hashes, and RFC 9162 inclusion and consistency proofs.  Offline
 * verification stays `mlsgatectl audit verify`.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "keystore/audit.h"

#define MAX_ENTRIES 1000

static int no_entry(void *arg, uint64_t seq, const char *entry,
                    size_t entry_len,
                    const uint8_t leaf_hash[MG_TLOG_HASH_LEN]) {
  (void)arg;
  (void)seq;
  (void)entry;
  (void)entry_len;
  (void)leaf_hash;
  return 0;
}

int api_audit_size(mg_keystore *ks, uint64_t *size) {
  return mg_ks_audit_entries(ks, 0, 0, no_entry, NULL, size);
}

void api_h_audit_checkpoint(api_call *c) {
  char *note = NULL;
  size_t len = 0;
  uint64_t size = 0, last_size = 0, cur = 0;
  int rc;
  /* Sign a new checkpoint only when the log grew past the last one (a
   * checkpoint is itself an entry, so "grew" means more than that entry). */
  pthread_mutex_lock(&c->api->ckpt_lock);
  rc = mg_ks_audit_last_checkpoint(c->api->ks, &note, &len, &last_size);
  if (rc == 0 || rc == MG_ERR_NOT_FOUND) {
    rc = api_audit_size(c->api->ks, &cur);
  }
  if (rc == 0 && note != NULL && cur <= last_size + 1) {
    pthread_mutex_unlock(&c->api->ckpt_lock);
    api_text(c, 200, "text/plain; charset=utf-8", note, len);
    return;
  }
  free(note);
  note = NULL;
  if (rc == 0 || rc == MG_ERR_NOT_FOUND) {
    rc = mg_ks_audit_checkpoint(c->api->ks, &c->ctx, &note, &len, &size);
  }
  pthread_mutex_unlock(&c->api->ckpt_lock);
  if (rc < 0) {
    api_error(c, rc, "checkpoint");
    return;
  }
  api_text(c, 200, "text/plain; charset=utf-8", note, len);
}

static int entry_one(void *arg, uint64_t seq, const char *entry,
                     size_t entry_len,
                     const uint8_t leaf_hash[MG_TLOG_HASH_LEN]) {
  json_t *arr = arg;
  return json_array_append_new(
             arr, json_pack("{s:I, s:o, s:s%}", "seq", (json_int_t)seq,
                            "leaf_hash", api_hex(leaf_hash, MG_TLOG_HASH_LEN),
                            "entry", entry, entry_len)) < 0
             ? MG_ERR_NOMEM
             : 0;
}

void api_h_audit_entries(api_call *c) {
  uint64_t start = 0, end = 0, size = 0;
  int has_start, has_end, rc;
  json_t *arr;
  if (api_query_uint(c, "start", &has_start, &start) < 0 ||
      api_query_uint(c, "end", &has_end, &end) < 0) {
    return;
  }
  if (!has_end) {
    end = start + MAX_ENTRIES;
  }
  if (end < start || end - start > MAX_ENTRIES) {
    api_problem(c, 400, "invalid_argument",
                "end must be at least start and at most start + 1000");
    return;
  }
  arr = json_array();
  if (arr == NULL) {
    api_problem(c, 503, "overloaded", "out of memory");
    return;
  }
  rc = mg_ks_audit_entries(c->api->ks, start, end, entry_one, arr, &size);
  if (rc < 0) {
    json_decref(arr);
    api_error(c, rc, "audit entries");
    return;
  }
  api_json(c, 200, json_pack("{s:I, s:o}", "size", (json_int_t)size,
                             "entries", arr));
}

static json_t *proof_json(const mg_tlog_proof *p) {
  json_t *arr = json_array();
  size_t i;
  for (i = 0; arr != NULL && i < p->num_hashes; i++) {
    json_array_append_new(arr, api_b64(p->hashes[i], MG_TLOG_HASH_LEN));
  }
  return arr;
}

void api_h_audit_inclusion(api_call *c) {
  uint64_t index = 0, size = 0;
  int has_i, has_n, rc;
  mg_tlog_proof p;
  json_t *hashes, *leaf;
  if (api_query_uint(c, "index", &has_i, &index) < 0 ||
      api_query_uint(c, "tree_size", &has_n, &size) < 0) {
    return;
  }
  if (!has_i || !has_n || index >= size) {
    api_problem(c, 400, "invalid_argument",
                "index and tree_size are required, index < tree_size");
    return;
  }
  memset(&p, 0, sizeof(p));
  rc = mg_ks_audit_prove_inclusion(c->api->ks, index, size, &p);
  if (rc < 0) {
    api_error(c, rc, "inclusion proof");
    return;
  }
  leaf = json_array();
  if (leaf == NULL) {
    api_problem(c, 503, "overloaded", "out of memory");
    return;
  }
  rc = mg_ks_audit_entries(c->api->ks, index, index + 1, entry_one, leaf,
                           NULL);
  if (rc < 0 || json_array_size(leaf) != 1) {
    json_decref(leaf);
    api_error(c, rc < 0 ? rc : MG_ERR_NOT_FOUND, "inclusion proof");
    return;
  }
  hashes = proof_json(&p);
  api_json(c, 200,
           json_pack("{s:I, s:I, s:O, s:o}", "index", (json_int_t)index,
                     "tree_size", (json_int_t)size, "leaf_hash",
                     json_object_get(json_array_get(leaf, 0), "leaf_hash"),
                     "hashes", hashes));
  json_decref(leaf);
}

void api_h_audit_consistency(api_call *c) {
  uint64_t first = 0, second = 0;
  int has_f, has_s, rc;
  mg_tlog_proof p;
  if (api_query_uint(c, "first", &has_f, &first) < 0 ||
      api_query_uint(c, "second", &has_s, &second) < 0) {
    return;
  }
  if (!has_f || !has_s || first > second) {
    api_problem(c, 400, "invalid_argument",
                "first and second are required, first <= second");
    return;
  }
  memset(&p, 0, sizeof(p));
  rc = mg_ks_audit_prove_consistency(c->api->ks, first, second, &p);
  if (rc < 0) {
    api_error(c, rc, "consistency proof");
    return;
  }
  api_json(c, 200, json_pack("{s:I, s:I, s:o}", "first", (json_int_t)first,
                             "second", (json_int_t)second, "hashes",
                             proof_json(&p)));
}
