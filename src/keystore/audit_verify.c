/*
 * Audit export and its offline verification (format in audit.h).
 *
 * The verifier keeps O(log n) state whatever the log's length: two Merkle
 * frontiers (tlog.h), one over the entries' recomputed leaf hashes and one
 * over the leaf hashes the export lists, and a copy of the first at the
 * size of the earlier checkpoint (--since).
 */
#include "config.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/guard.h"
#include "common/hex.h"
#include "keystore/audit.h"
#include "keystore/keystore_int.h"

#define MG_REQUIRE_V(cond, err) \
  do {                          \
    if (!(cond)) {              \
      MG_FAIL(err);             \
    }                           \
  } while (0)

/* ---------------------------------------------------------- export */

typedef struct export_arg {
  FILE *out;
  uint64_t next;
} export_arg;

static int export_entry(void *arg, uint64_t seq, const char *entry,
                        size_t entry_len,
                        const uint8_t leaf_hash[MG_TLOG_HASH_LEN]) {
  export_arg *e = arg;
  char hex[2 * MG_TLOG_HASH_LEN + 1];
  json_t *o = json_object();
  int rc = MG_ERR_NOMEM;
  if (seq != e->next) {
    json_decref(o);
    return MG_ERR_INTERNAL;
  }
  mg_hex_encode(hex, leaf_hash, MG_TLOG_HASH_LEN);
  if (o != NULL &&
      json_object_set_new(o, "seq", json_integer((json_int_t)seq)) == 0 &&
      json_object_set_new(o, "leaf_hash", json_string(hex)) == 0 &&
      json_object_set_new(o, "entry", json_stringn(entry, entry_len)) == 0) {
    rc = json_dumpf(o, e->out, JSON_COMPACT) == 0 && fputc('\n', e->out) != EOF
             ? 0
             : MG_ERR_IO;
  }
  json_decref(o);
  e->next++;
  return rc;
}

int mg_ks_audit_export(mg_keystore *ks, const mg_ks_ctx *ctx, FILE *out,
                       uint64_t *size) {
  char *note = NULL;
  size_t note_len = 0;
  uint64_t n = 0;
  char origin[MG_KS_AUDIT_ORIGIN_MAX];
  json_t *h = NULL;
  int rc;
  char *prev = NULL;
  size_t prev_len = 0;
  uint64_t prev_size = 0;
  MG_ENSURE(ks != NULL && ctx != NULL && out != NULL, MG_ERR_INVALID_ARG);
  MG_GUARD(mg_ks_audit_origin(ks, origin, sizeof(origin)));
  rc = mg_ks_audit_last_checkpoint(ks, &prev, &prev_len, &prev_size);
  if (rc < 0 && rc != MG_ERR_NOT_FOUND) {
    return rc;
  }
  rc = mg_ks_audit_checkpoint(ks, ctx, &note, &note_len, &n);
  if (rc < 0) {
    free(prev);
    return rc;
  }
  h = json_object();
  if (h == NULL ||
      json_object_set_new(h, "format", json_string(MG_AUDIT_EXPORT_FORMAT)) != 0 ||
      json_object_set_new(h, "origin", json_string(origin)) != 0 ||
      json_object_set_new(h, "size", json_integer((json_int_t)n)) != 0 ||
      json_object_set_new(h, "checkpoint", json_stringn(note, note_len)) != 0) {
    MG_FAIL(MG_ERR_NOMEM);
  }
  if (prev != NULL) {
    mg_tlog_proof pf;
    json_t *arr = json_array();
    MG_CHECK(mg_ks_audit_prove_consistency(ks, prev_size, n, &pf));
    MG_REQUIRE_V(arr != NULL, MG_ERR_NOMEM);
    for (size_t i = 0; i < pf.num_hashes; i++) {
      char hx[2 * MG_TLOG_HASH_LEN + 1];
      mg_hex_encode(hx, pf.hashes[i], MG_TLOG_HASH_LEN);
      json_array_append_new(arr, json_string(hx));
    }
    if (json_object_set_new(h, "previous_checkpoint",
                            json_stringn(prev, prev_len)) != 0 ||
        json_object_set_new(h, "consistency_proof", arr) != 0) {
      MG_FAIL(MG_ERR_NOMEM);
    }
  }
  if (json_dumpf(h, out, JSON_COMPACT) != 0 || fputc('\n', out) == EOF) {
    MG_FAIL(MG_ERR_IO);
  }
  {
    export_arg e = {out, 0};
    MG_CHECK(mg_ks_audit_entries(ks, 0, n, export_entry, &e, NULL));
    if (e.next != n) {
      MG_FAIL(MG_ERR_INTERNAL);
    }
  }
  if (fflush(out) != 0 || ferror(out)) {
    MG_FAIL(MG_ERR_IO);
  }
  if (size != NULL) {
    *size = n;
  }
  rc = 0;
out:
  json_decref(h);
  free(note);
  free(prev);
  return rc;
}

/* ---------------------------------------------------------- verify */

#define MAX_LINE ((size_t)1 << 20)

/* Reads one line (without its '\n') into |*buf|; 0 at end of file. */
static int read_line(FILE *in, char **buf, size_t *cap, size_t *len) {
  size_t n = 0;
  int c;
  while ((c = fgetc(in)) != EOF) {
    if (c == '\n') {
      break;
    }
    if (n + 1 >= *cap) {
      if (*cap >= MAX_LINE) {
        return MG_ERR_LENGTH;
      }
      size_t nc = *cap == 0 ? 4096 : *cap * 2;
      char *nb = realloc(*buf, nc);
      if (nb == NULL) {
        return MG_ERR_NOMEM;
      }
      *buf = nb;
      *cap = nc;
    }
    (*buf)[n++] = (char)c;
  }
  if (ferror(in)) {
    return MG_ERR_IO;
  }
  if (c == EOF && n == 0) {
    *len = 0;
    return 0;
  }
  (*buf)[n] = '\0';
  *len = n;
  return 1;
}

#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 3, 4)))
#endif
static void fail(mg_audit_verify_result *res, int64_t bad, const char *fmt,
                 ...) {
  va_list ap;
  if (!res->ok && res->reason[0] != '\0') {
    return; /* keep the first reason */
  }
  res->ok = 0;
  res->bad_entry = bad;
  va_start(ap, fmt);
  vsnprintf(res->reason, sizeof(res->reason), fmt, ap);
  va_end(ap);
}

int mg_audit_verify(FILE *in, const char *vkey, const char *since,
                    size_t since_len, mg_audit_verify_result *res) {
  mg_note_verifier v;
  mg_checkpoint cp, scp;
  mg_tlog_frontier fr, fl, fsince;
  json_t *h = NULL, *o = NULL;
  char *line = NULL, *note = NULL, *prev_note = NULL;
  size_t cap = 0, len = 0;
  uint8_t root[MG_TLOG_HASH_LEN], root_l[MG_TLOG_HASH_LEN];
  int64_t first_mismatch = -1;
  int have_since = 0, since_snap = 0, rc;

  MG_ENSURE(in != NULL && vkey != NULL && res != NULL, MG_ERR_INVALID_ARG);
  memset(res, 0, sizeof(*res));
  res->ok = 1;
  res->bad_entry = -1;
  memset(&scp, 0, sizeof(scp));
  mg_tlog_frontier_init(&fr);
  mg_tlog_frontier_init(&fl);
  mg_tlog_frontier_init(&fsince);
  MG_CHECK(mg_note_verifier_parse(&v, vkey, strlen(vkey)));

  /* The header and its signed checkpoint. */
  rc = read_line(in, &line, &cap, &len);
  MG_CHECK(rc);
  MG_REQUIRE_V(rc == 1, MG_ERR_DECODE);
  h = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
  MG_REQUIRE_V(h != NULL && json_is_object(h), MG_ERR_DECODE);
  {
    const char *fmt = json_string_value(json_object_get(h, "format"));
    const char *origin = json_string_value(json_object_get(h, "origin"));
    json_t *sz = json_object_get(h, "size");
    json_t *c = json_object_get(h, "checkpoint");
    MG_REQUIRE_V(fmt != NULL && strcmp(fmt, MG_AUDIT_EXPORT_FORMAT) == 0 &&
                     origin != NULL && json_is_integer(sz) &&
                     json_integer_value(sz) >= 0 && json_is_string(c),
                 MG_ERR_DECODE);
    res->size = (uint64_t)json_integer_value(sz);
    size_t nl = json_string_length(c);
    note = malloc(nl + 1);
    MG_REQUIRE_V(note != NULL, MG_ERR_NOMEM);
    memcpy(note, json_string_value(c), nl + 1);
    rc = mg_checkpoint_open(&cp, note, nl, v.name, v.name_len, &v, 1);
    if (rc < 0) {
      fail(res, -1, "the checkpoint does not verify with this key (%s)",
           mg_err_name(rc));
      rc = 0;
      goto out;
    }
    if (strcmp(origin, v.name) != 0 || cp.size != res->size) {
      fail(res, -1, "the header does not match its signed checkpoint");
      rc = 0;
      goto out;
    }
  }
  /* The previous checkpoint the export carries, and the proof that the
   * exported tree extends it (checked with the proof now, and with the
   * recomputed tree below, like --since). */
  {
    json_t *pc = json_object_get(h, "previous_checkpoint");
    json_t *pp = json_object_get(h, "consistency_proof");
    if (pc != NULL || pp != NULL) {
      mg_checkpoint pcp;
      mg_tlog_proof pf;
      MG_REQUIRE_V(json_is_string(pc) && json_is_array(pp) &&
                       json_array_size(pp) <= MG_TLOG_MAX_PROOF,
                   MG_ERR_DECODE);
      prev_note = malloc(json_string_length(pc) + 1);
      MG_REQUIRE_V(prev_note != NULL, MG_ERR_NOMEM);
      memcpy(prev_note, json_string_value(pc), json_string_length(pc) + 1);
      rc = mg_checkpoint_open(&pcp, prev_note, json_string_length(pc), v.name,
                              v.name_len, &v, 1);
      if (rc < 0) {
        fail(res, -1, "the previous checkpoint in the export does not verify "
             "with this key (%s)", mg_err_name(rc));
        rc = 0;
        goto out;
      }
      memset(&pf, 0, sizeof(pf));
      for (size_t i = 0; i < json_array_size(pp); i++) {
        const char *hx = json_string_value(json_array_get(pp, i));
        uint8_t *hb = NULL;
        size_t hl = 0;
        if (hx == NULL || mg_hex_decode(&hb, &hl, hx, strlen(hx)) < 0 ||
            hl != MG_TLOG_HASH_LEN) {
          free(hb);
          MG_FAIL(MG_ERR_DECODE);
        }
        memcpy(pf.hashes[i], hb, MG_TLOG_HASH_LEN);
        free(hb);
        pf.num_hashes = i + 1;
      }
      if (mg_tlog_verify_consistency(pcp.size, cp.size, &pf, pcp.root,
                                     cp.root) != 0) {
        fail(res, -1, "the log is not consistent with its previous checkpoint "
             "(size %llu): history was rewritten",
             (unsigned long long)pcp.size);
        rc = 0;
        goto out;
      }
      if (since == NULL) {
        /* Also check the recomputed tree against it. */
        scp = pcp;
        have_since = 1;
      }
    }
  }
  if (since != NULL) {
    rc = mg_checkpoint_open(&scp, since, since_len, v.name, v.name_len, &v, 1);
    if (rc < 0) {
      fail(res, -1, "the earlier checkpoint does not verify with this key (%s)",
           mg_err_name(rc));
      rc = 0;
      goto out;
    }
    if (scp.size > cp.size) {
      fail(res, -1, "the earlier checkpoint (size %llu) is larger than the "
           "export (size %llu): the log was truncated",
           (unsigned long long)scp.size, (unsigned long long)cp.size);
      rc = 0;
      goto out;
    }
    have_since = 1;
  }

  /* The entries, in order. */
  for (uint64_t i = 0;; i++) {
    if (have_since && !since_snap && fr.size == scp.size) {
      fsince = fr;
      since_snap = 1;
    }
    rc = read_line(in, &line, &cap, &len);
    MG_CHECK(rc);
    if (rc == 0) {
      if (i != res->size) {
        fail(res, (int64_t)i, "the export ends after %llu entries; the "
             "checkpoint covers %llu (entry %llu and later removed)",
             (unsigned long long)i, (unsigned long long)res->size,
             (unsigned long long)i);
      }
      break;
    }
    json_decref(o);
    o = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
    json_t *seq = o != NULL ? json_object_get(o, "seq") : NULL;
    const char *lh = o != NULL ? json_string_value(json_object_get(o, "leaf_hash")) : NULL;
    json_t *entry = o != NULL ? json_object_get(o, "entry") : NULL;
    if (o == NULL || !json_is_integer(seq) || lh == NULL ||
        !json_is_string(entry)) {
      fail(res, (int64_t)i, "line %llu is not an export entry",
           (unsigned long long)i + 2);
      break;
    }
    if (i >= res->size) {
      fail(res, (int64_t)i, "more entries than the checkpoint covers");
      break;
    }
    if (json_integer_value(seq) != (json_int_t)i) {
      fail(res, (int64_t)i, "entry %llu expected, found entry %lld "
           "(entries removed or reordered)",
           (unsigned long long)i, (long long)json_integer_value(seq));
      break;
    }
    /* The entry's own sequence number must agree too. */
    {
      json_t *eo = json_loadb(json_string_value(entry), json_string_length(entry),
                              0, NULL);
      json_t *es = eo != NULL ? json_object_get(eo, "seq") : NULL;
      int good = json_is_integer(es) && json_integer_value(es) == (json_int_t)i;
      json_decref(eo);
      if (!good && first_mismatch < 0) {
        first_mismatch = (int64_t)i;
      }
    }
    uint8_t h_r[MG_TLOG_HASH_LEN], h_l[MG_TLOG_HASH_LEN];
    uint8_t *hb = NULL;
    size_t hl = 0;
    MG_CHECK(mg_tlog_leaf_hash(h_r, (const uint8_t *)json_string_value(entry),
                               json_string_length(entry)));
    if (mg_hex_decode(&hb, &hl, lh, strlen(lh)) < 0 || hl != MG_TLOG_HASH_LEN) {
      free(hb);
      fail(res, (int64_t)i, "entry %llu: bad leaf_hash", (unsigned long long)i);
      break;
    }
    memcpy(h_l, hb, MG_TLOG_HASH_LEN);
    free(hb);
    if (memcmp(h_r, h_l, MG_TLOG_HASH_LEN) != 0 && first_mismatch < 0) {
      first_mismatch = (int64_t)i;
    }
    MG_CHECK(mg_tlog_frontier_append(&fr, h_r));
    MG_CHECK(mg_tlog_frontier_append(&fl, h_l));
  }
  if (!res->ok) {
    rc = 0;
    goto out;
  }
  MG_CHECK(mg_tlog_frontier_root(&fr, root));
  if (memcmp(root, cp.root, MG_TLOG_HASH_LEN) != 0) {
    MG_CHECK(mg_tlog_frontier_root(&fl, root_l));
    if (memcmp(root_l, cp.root, MG_TLOG_HASH_LEN) == 0 && first_mismatch >= 0) {
      fail(res, first_mismatch, "entry %lld was altered (its bytes do not "
           "hash to the signed tree's leaf)", (long long)first_mismatch);
    } else {
      fail(res, -1, "the entries do not rebuild the signed root, and the "
           "export's leaf hashes were altered too: the altered entry cannot "
           "be named");
    }
    rc = 0;
    goto out;
  }
  if (first_mismatch >= 0) {
    fail(res, first_mismatch, "entry %lld does not match its sequence number "
         "or listed hash", (long long)first_mismatch);
    rc = 0;
    goto out;
  }
  if (have_since) {
    uint8_t sroot[MG_TLOG_HASH_LEN];
    if (!since_snap) {
      fsince = fr; /* scp.size == the export's size */
    }
    MG_CHECK(mg_tlog_frontier_root(&fsince, sroot));
    if (fsince.size != scp.size ||
        memcmp(sroot, scp.root, MG_TLOG_HASH_LEN) != 0) {
      fail(res, -1, "the log is not an extension of the earlier checkpoint "
           "(size %llu): its first %llu entries changed",
           (unsigned long long)scp.size, (unsigned long long)scp.size);
      rc = 0;
      goto out;
    }
  }
  rc = 0;
out:
  json_decref(o);
  json_decref(h);
  free(line);
  free(note);
  free(prev_note);
  return rc;
}
