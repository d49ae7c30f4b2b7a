/* Self-test kind for mls/treekem.json (RFC 9420 §7.4-§7.6, §7.9): every
 * member's private state checked against the tree; every UpdatePath merged
 * (parent hashes, signature), its tree hash after, and decrypted by every
 * other member to the given path secret and commit secret; then a fresh
 * UpdatePath of ours from the same sender that every other member merges
 * and decrypts to our commit secret. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/guard.h"
#include "common/hex.h"
#include "common/secmem.h"
#include "crypto/crypto.h"
#include "crypto/suite.h"
#include "mls/constants.h"
#include "mls/tree.h"
#include "mls/treekem.h"
#include "mlsgate/err.h"
#include "selftest/selftest.h"

static int tk_match(const char *base) { return strcmp(base, "treekem.json") == 0; }

static size_t tk_count(const json_t *root) {
  return json_is_array(root) ? json_array_size(root) : 0;
}

/* One case's state. */
typedef struct tk_case {
  size_t i;
  unsigned sid;
  mg_st_report *rep;
  const mls_suite *suite;
  uint8_t *gid;
  size_t gid_len;
  uint8_t *cth;
  size_t cth_len;
  uint64_t epoch;
  mls_tree tree;
  mls_tree_priv *priv;   /* n_leaves entries; suite == NULL: none */
  uint8_t **sig_priv;    /* n_leaves entries */
  size_t *sig_priv_len;
} tk_case;

static void tk_case_cleanup(tk_case *tc) {
  if (tc->priv != NULL) {
    for (uint32_t l = 0; l < tc->tree.n_leaves; l++) {
      mls_tree_priv_cleanup(&tc->priv[l]);
      if (tc->sig_priv[l] != NULL) {
        mg_free_secret(tc->sig_priv[l], tc->sig_priv_len[l]);
      }
    }
  }
  free(tc->priv);
  free(tc->sig_priv);
  free(tc->sig_priv_len);
  mls_tree_cleanup(&tc->tree);
  free(tc->gid);
  free(tc->cth);
}

/* Decodes hex string |hex| (field |what|); fails the case on error. */
static int tk_hex(tk_case *tc, const json_t *v, const char *what, uint8_t **out,
                  size_t *out_len) {
  const char *hex = json_string_value(v);
  int rc = hex == NULL ? MG_ERR_NOT_FOUND
                       : mg_hex_decode(out, out_len, hex, strlen(hex));
  if (rc < 0) {
    mg_st_fail(tc->rep, "case %zu: suite %u: %s missing or not hex", tc->i,
               tc->sid, what);
    return 0;
  }
  return 1;
}

static int tk_rc(tk_case *tc, const char *what, int rc) {
  if (rc < 0) {
    mg_st_fail(tc->rep, "case %zu: suite %u: %s: %s", tc->i, tc->sid, what,
               mg_err_name(rc));
    return 0;
  }
  return 1;
}

/* The provisional GroupContext of the vectors (RFC 9420 §8.1): the case's
 * suite, group_id, epoch and confirmed_transcript_hash, |tree_hash|, no
 * extensions. */
static int tk_group_context(const tk_case *tc, const uint8_t *tree_hash,
                            size_t th_len, uint8_t **out, size_t *out_len) {
  mg_writer w;
  MG_GUARD(mg_writer_init(&w, 256, 0));
  int rc = 0;
  if (mg_write_u16(&w, MLS_VERSION_MLS10) == 0 &&
      mg_write_u16(&w, (uint16_t)tc->sid) == 0 &&
      mg_write_opaque(&w, tc->gid, tc->gid_len) == 0 &&
      mg_write_u64(&w, tc->epoch) == 0 &&
      mg_write_opaque(&w, tree_hash, th_len) == 0 &&
      mg_write_opaque(&w, tc->cth, tc->cth_len) == 0) {
    rc = mg_write_varint(&w, 0);
  }
  if (rc < 0) {
    mg_writer_cleanup(&w);
    return rc;
  }
  return mg_writer_finish(&w, out, out_len);
}

static int tk_load_private(tk_case *tc, const json_t *lp) {
  uint32_t nl = tc->tree.n_leaves;
  tc->priv = calloc(nl, sizeof(*tc->priv));
  tc->sig_priv = calloc(nl, sizeof(*tc->sig_priv));
  tc->sig_priv_len = calloc(nl, sizeof(*tc->sig_priv_len));
  if (tc->priv == NULL || tc->sig_priv == NULL || tc->sig_priv_len == NULL) {
    return tk_rc(tc, "leaves_private", MG_ERR_NOMEM);
  }
  for (uint32_t l = 0; l < nl; l++) {
    mls_tree_priv_zero(&tc->priv[l]);
  }
  if (!json_is_array(lp)) {
    mg_st_fail(tc->rep, "case %zu: suite %u: leaves_private missing", tc->i,
               tc->sid);
    return 0;
  }
  for (size_t k = 0; k < json_array_size(lp); k++) {
    const json_t *e = json_array_get(lp, k);
    const json_t *ji = json_object_get(e, "index");
    uint8_t *enc = NULL;
    size_t enc_len = 0;
    if (!json_is_integer(ji) || json_integer_value(ji) < 0 ||
        json_integer_value(ji) >= (json_int_t)nl) {
      mg_st_fail(tc->rep, "case %zu: suite %u: leaves_private[%zu].index out "
                 "of range", tc->i, tc->sid, k);
      return 0;
    }
    uint32_t l = (uint32_t)json_integer_value(ji);
    mls_leaf_idx li = {l};
    if (!tk_hex(tc, json_object_get(e, "encryption_priv"),
                "leaves_private.encryption_priv", &enc, &enc_len)) {
      return 0;
    }
    int rc = mls_tree_priv_init(&tc->priv[l], tc->suite, li, enc, enc_len);
    mg_free_secret(enc, enc_len);
    if (!tk_rc(tc, "leaves_private.encryption_priv", rc) ||
        !tk_hex(tc, json_object_get(e, "signature_priv"),
                "leaves_private.signature_priv", &tc->sig_priv[l],
                &tc->sig_priv_len[l])) {
      return 0;
    }
    const json_t *ps = json_object_get(e, "path_secrets");
    for (size_t m = 0; m < json_array_size(ps); m++) {
      const json_t *pe = json_array_get(ps, m);
      const json_t *jn = json_object_get(pe, "node");
      uint8_t *sec = NULL;
      size_t sec_len = 0;
      if (!json_is_integer(jn) || json_integer_value(jn) < 0 ||
          json_integer_value(jn) >= (json_int_t)mls_tree_width(&tc->tree)) {
        mg_st_fail(tc->rep, "case %zu: suite %u: path_secrets node out of "
                   "range", tc->i, tc->sid);
        return 0;
      }
      if (!tk_hex(tc, json_object_get(pe, "path_secret"),
                  "leaves_private.path_secrets.path_secret", &sec, &sec_len)) {
        return 0;
      }
      mls_node_idx x = {(uint32_t)json_integer_value(jn)};
      rc = mls_tree_priv_set_path_secret(&tc->priv[l], x, sec, sec_len);
      mg_free_secret(sec, sec_len);
      if (!tk_rc(tc, "leaves_private.path_secrets", rc)) {
        return 0;
      }
    }
    if (!tk_rc(tc, "leaves_private consistent with ratchet_tree",
               mls_tree_priv_check(&tc->priv[l], &tc->tree))) {
      return 0;
    }
  }
  return 1;
}

/* Decrypts |path| from |sender| as every other member that has a private
 * state, against |merged| (the tree with the path merged) and the context
 * |ctx|.  Checks each commit secret against |want_cs| and, if
 * |want_ps| is not NULL, each path secret against want_ps[leaf]. */
static int tk_decrypt_all(tk_case *tc, const mls_tree *merged,
                          mls_leaf_idx sender, const mls_update_path *path,
                          const uint8_t *ctx, size_t ctx_len,
                          const uint8_t *want_cs, size_t want_cs_len,
                          const json_t *want_ps, const char *what) {
  int ok = 1;
  for (uint32_t l = 0; l < tc->tree.n_leaves && ok; l++) {
    if (l == sender.v || tc->priv[l].suite == NULL) {
      continue;
    }
    mls_tree_priv p = tc->priv[l]; /* decrypt updates the copy */
    uint8_t cs[MG_MAX_HASH_LEN], ps[MG_MAX_HASH_LEN];
    size_t cs_len = 0, ps_len = 0;
    char field[96];
    int rc = mls_treekem_decrypt(merged, &p, cs, sizeof(cs), &cs_len, ps,
                                 sizeof(ps), &ps_len, sender, path, ctx,
                                 ctx_len, NULL, 0);
    snprintf(field, sizeof(field), "%s: leaf %u decrypts from %u", what, l,
             sender.v);
    ok = tk_rc(tc, field, rc);
    if (ok && want_ps != NULL) {
      uint8_t *w = NULL;
      size_t wl = 0;
      ok = tk_hex(tc, json_array_get(want_ps, l), "path_secrets[j]", &w, &wl);
      snprintf(field, sizeof(field), "suite %u %s path_secrets[%u]", tc->sid,
               what, l);
      ok = ok && mg_st_eq(tc->rep, tc->i, field, ps, ps_len, w, wl);
      free(w);
    }
    if (ok) {
      snprintf(field, sizeof(field), "suite %u %s commit_secret (leaf %u)",
               tc->sid, what, l);
      ok = mg_st_eq(tc->rep, tc->i, field, cs, cs_len, want_cs, want_cs_len);
    }
    mg_memzero(cs, sizeof(cs));
    mg_memzero(ps, sizeof(ps));
    mls_tree_priv_cleanup(&p);
  }
  return ok;
}

/* Our own UpdatePath from |sender|: every other member merges it into its
 * copy of the tree (same tree hash as ours) and decrypts our commit
 * secret. */
static int tk_own_path(tk_case *tc, mls_leaf_idx sender) {
  mls_tree ours, theirs;
  mls_tree_priv priv;
  mls_path_secrets sec;
  mls_update_path up;
  uint8_t th[MG_MAX_HASH_LEN], th2[MG_MAX_HASH_LEN];
  size_t th_len = 0, th2_len = 0, ctx_len = 0;
  uint8_t *ctx = NULL;
  int ok = 0;
  mls_tree_zero(&ours);
  mls_tree_zero(&theirs);
  mls_tree_priv_zero(&priv);
  memset(&sec, 0, sizeof(sec));
  memset(&up, 0, sizeof(up));
  const mls_leaf_node *tmpl = mls_tree_leaf(&tc->tree, sender);
  if (tmpl == NULL || tc->sig_priv[sender.v] == NULL) {
    mg_st_fail(tc->rep, "case %zu: suite %u: no leaf/signature key for "
               "sender %u", tc->i, tc->sid, sender.v);
    return 0;
  }
  if (!tk_rc(tc, "copy tree", mls_tree_copy(&ours, &tc->tree)) ||
      !tk_rc(tc, "generate UpdatePath",
             mls_treekem_generate(&ours, &priv, &sec, &up, sender, tmpl,
                                  tc->sig_priv[sender.v],
                                  tc->sig_priv_len[sender.v], tc->gid,
                                  tc->gid_len)) ||
      !tk_rc(tc, "our tree hash", mls_tree_hash(&ours, th, sizeof(th), &th_len)) ||
      !tk_rc(tc, "group context", tk_group_context(tc, th, th_len, &ctx, &ctx_len)) ||
      !tk_rc(tc, "encrypt UpdatePath",
             mls_treekem_encrypt(&ours, &sec, &up, sender, ctx, ctx_len, NULL, 0)) ||
      !tk_rc(tc, "our private state consistent", mls_tree_priv_check(&priv, &ours)) ||
      !tk_rc(tc, "copy tree", mls_tree_copy(&theirs, &tc->tree)) ||
      !tk_rc(tc, "merge our UpdatePath",
             mls_treekem_merge(&theirs, sender, &up, tc->gid, tc->gid_len)) ||
      !tk_rc(tc, "their tree hash",
             mls_tree_hash(&theirs, th2, sizeof(th2), &th2_len))) {
    goto out;
  }
  if (!mg_st_eq(tc->rep, tc->i, "own UpdatePath: tree hash after merge", th2,
                th2_len, th, th_len) ||
      !tk_rc(tc, "merged tree parent hashes", mls_tree_verify_parent_hashes(&theirs))) {
    goto out;
  }
  ok = tk_decrypt_all(tc, &theirs, sender, &up, ctx, ctx_len,
                      sec.commit_secret, sec.nh, NULL, "own UpdatePath");
out:
  free(ctx);
  mls_update_path_cleanup(&up);
  mls_path_secrets_cleanup(&sec);
  mls_tree_priv_cleanup(&priv);
  mls_tree_cleanup(&ours);
  mls_tree_cleanup(&theirs);
  return ok;
}

static int tk_update_path(tk_case *tc, const json_t *e, size_t k) {
  const json_t *js = json_object_get(e, "sender");
  uint8_t *upb = NULL, *cs = NULL, *tha = NULL, *ctx = NULL;
  size_t upb_len = 0, cs_len = 0, tha_len = 0, ctx_len = 0;
  mls_update_path up;
  mls_tree merged;
  uint8_t th[MG_MAX_HASH_LEN];
  size_t th_len = 0;
  int ok = 0;
  memset(&up, 0, sizeof(up));
  mls_tree_zero(&merged);
  if (!json_is_integer(js) || json_integer_value(js) < 0 ||
      json_integer_value(js) >= (json_int_t)tc->tree.n_leaves) {
    mg_st_fail(tc->rep, "case %zu: suite %u: update_paths[%zu].sender out of "
               "range", tc->i, tc->sid, k);
    return 0;
  }
  mls_leaf_idx sender = {(uint32_t)json_integer_value(js)};
  if (!tk_hex(tc, json_object_get(e, "update_path"), "update_path", &upb,
              &upb_len) ||
      !tk_hex(tc, json_object_get(e, "commit_secret"), "commit_secret", &cs,
              &cs_len) ||
      !tk_hex(tc, json_object_get(e, "tree_hash_after"), "tree_hash_after",
              &tha, &tha_len)) {
    goto out;
  }
  mg_reader r;
  mg_reader_init(&r, upb, upb_len);
  int rc = mls_update_path_decode(&r, &up);
  if (rc == 0) {
    rc = mg_reader_done(&r);
  }
  if (!tk_rc(tc, "update_path decode", rc) ||
      !tk_rc(tc, "copy tree", mls_tree_copy(&merged, &tc->tree)) ||
      !tk_rc(tc, "update_path merge (parent-hash valid)",
             mls_treekem_merge(&merged, sender, &up, tc->gid, tc->gid_len)) ||
      !tk_rc(tc, "tree hash after", mls_tree_hash(&merged, th, sizeof(th), &th_len))) {
    goto out;
  }
  char field[64];
  snprintf(field, sizeof(field), "suite %u update_paths[%zu].tree_hash_after",
           tc->sid, k);
  if (!mg_st_eq(tc->rep, tc->i, field, th, th_len, tha, tha_len) ||
      !tk_rc(tc, "group context", tk_group_context(tc, th, th_len, &ctx, &ctx_len))) {
    goto out;
  }
  snprintf(field, sizeof(field), "update_paths[%zu]", k);
  if (!tk_decrypt_all(tc, &merged, sender, &up, ctx, ctx_len, cs, cs_len,
                      json_object_get(e, "path_secrets"), field)) {
    goto out;
  }
  ok = tk_own_path(tc, sender);
out:
  mls_update_path_cleanup(&up);
  mls_tree_cleanup(&merged);
  free(upb);
  free(cs);
  free(tha);
  free(ctx);
  return ok;
}

static void tk_run(const json_t *root, size_t i, mg_st_report *rep) {
  const json_t *c = json_array_get(root, i);
  const json_t *js = json_object_get(c, "cipher_suite");
  const json_t *je = json_object_get(c, "epoch");
  tk_case tc;
  uint8_t *tb = NULL;
  size_t tb_len = 0;
  memset(&tc, 0, sizeof(tc));
  mls_tree_zero(&tc.tree);
  tc.i = i;
  tc.rep = rep;
  if (mg_crypto_init() < 0) {
    mg_st_fail(rep, "case %zu: crypto init failed", i);
    return;
  }
  if (!json_is_integer(js) || json_integer_value(js) < 0 ||
      json_integer_value(js) > 0xffff || !json_is_integer(je) ||
      json_integer_value(je) < 0) {
    mg_st_fail(rep, "case %zu: cipher_suite/epoch missing", i);
    return;
  }
  tc.sid = (unsigned)json_integer_value(js);
  tc.epoch = (uint64_t)json_integer_value(je);
  tc.suite = mls_suite_by_id((uint16_t)tc.sid);
  if (tc.suite == NULL) {
    mg_st_fail(rep, "case %zu: unknown cipher suite %u", i, tc.sid);
    return;
  }
  if (!tk_hex(&tc, json_object_get(c, "group_id"), "group_id", &tc.gid,
              &tc.gid_len) ||
      !tk_hex(&tc, json_object_get(c, "confirmed_transcript_hash"),
              "confirmed_transcript_hash", &tc.cth, &tc.cth_len) ||
      !tk_hex(&tc, json_object_get(c, "ratchet_tree"), "ratchet_tree", &tb,
              &tb_len) ||
      !tk_rc(&tc, "ratchet_tree decode",
             mls_tree_decode(&tc.tree, tc.suite, tb, tb_len)) ||
      !tk_load_private(&tc, json_object_get(c, "leaves_private"))) {
    goto out;
  }
  const json_t *ups = json_object_get(c, "update_paths");
  if (!json_is_array(ups) || json_array_size(ups) == 0) {
    mg_st_fail(rep, "case %zu: suite %u: update_paths missing", i, tc.sid);
    goto out;
  }
  for (size_t k = 0; k < json_array_size(ups); k++) {
    if (!tk_update_path(&tc, json_array_get(ups, k), k)) {
      goto out;
    }
  }
  mg_st_pass(rep);
out:
  free(tb);
  tk_case_cleanup(&tc);
}

const mg_st_kind mg_st_kind_treekem = {
    "treekem", tk_match, tk_count, tk_run,
};
