/* Self-test kind for mls/tree-validation.json (RFC 9420 §4.1.1, §7.8,
 * §7.9.2, §7.3): resolutions, tree hashes, parent hashes and leaf
 * signatures of each tree. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/hex.h"
#include "crypto/crypto.h"
#include "crypto/suite.h"
#include "mls/tree.h"
#include "mlsgate/err.h"
#include "selftest/selftest.h"

static int tv_match(const char *base) {
  return strcmp(base, "tree-validation.json") == 0;
}

static size_t tv_count(const json_t *root) {
  return json_is_array(root) ? json_array_size(root) : 0;
}

/* Checks resolutions[x] for every node; returns 1 if all match. */
static int tv_check_resolutions(const mls_tree *t, const json_t *arr, size_t i,
                                unsigned sid, mg_st_report *rep) {
  uint32_t w = mls_tree_width(t);
  if (!json_is_array(arr) || json_array_size(arr) > w) {
    mg_st_fail(rep, "case %zu: suite %u: resolutions missing or longer than "
               "the tree (%u nodes)", i, sid, w);
    return 0;
  }
  mls_node_idx *res = malloc(((size_t)t->n_leaves + 1) * sizeof(*res));
  if (res == NULL) {
    mg_st_fail(rep, "case %zu: out of memory", i);
    return 0;
  }
  int ok = 1;
  for (uint32_t x = 0; x < json_array_size(arr) && ok; x++) {
    const json_t *want = json_array_get(arr, x);
    size_t n = 0;
    mls_node_idx xi = {x};
    int rc = mls_tree_resolution(t, xi, res, (size_t)t->n_leaves + 1, &n);
    if (rc < 0 || !json_is_array(want) || json_array_size(want) != n) {
      mg_st_fail(rep, "case %zu: suite %u: resolutions[%u] has %zu nodes "
                 "(rc %s), want %zu", i, sid, x, n, mg_err_name(rc),
                 json_is_array(want) ? json_array_size(want) : 0);
      ok = 0;
      break;
    }
    for (size_t k = 0; k < n; k++) {
      const json_t *e = json_array_get(want, k);
      if (!json_is_integer(e) || json_integer_value(e) != (json_int_t)res[k].v) {
        mg_st_fail(rep, "case %zu: suite %u: resolutions[%u][%zu] = %u differs",
                   i, sid, x, k, res[k].v);
        ok = 0;
        break;
      }
    }
  }
  free(res);
  return ok;
}

static void tv_run(const json_t *root, size_t i, mg_st_report *rep) {
  const json_t *c = json_array_get(root, i);
  const json_t *js = json_object_get(c, "cipher_suite");
  uint8_t *tree_bytes = NULL, *gid = NULL, *want = NULL;
  size_t tree_len = 0, gid_len = 0, want_len = 0;
  mls_tree t;
  mls_tree_zero(&t);
  if (mg_crypto_init() < 0) {
    mg_st_fail(rep, "case %zu: crypto init failed", i);
    return;
  }
  if (!json_is_integer(js)) {
    mg_st_fail(rep, "case %zu: cipher_suite missing", i);
    return;
  }
  unsigned sid = (unsigned)json_integer_value(js);
  const mls_suite *suite = mls_suite_by_id((uint16_t)sid);
  if (suite == NULL || json_integer_value(js) > 0xffff) {
    mg_st_fail(rep, "case %zu: unknown cipher suite %u", i, sid);
    return;
  }
  if (mg_st_hex(c, "tree", &tree_bytes, &tree_len) < 0 ||
      mg_st_hex(c, "group_id", &gid, &gid_len) < 0) {
    mg_st_fail(rep, "case %zu: suite %u: tree/group_id missing or not hex", i,
               sid);
    goto out;
  }
  int rc = mls_tree_decode(&t, suite, tree_bytes, tree_len);
  if (rc < 0) {
    mg_st_fail(rep, "case %zu: suite %u: tree does not decode: %s", i, sid,
               mg_err_name(rc));
    goto out;
  }
  if (!tv_check_resolutions(&t, json_object_get(c, "resolutions"), i, sid,
                            rep)) {
    goto out;
  }
  const json_t *ths = json_object_get(c, "tree_hashes");
  if (!json_is_array(ths) || json_array_size(ths) != mls_tree_width(&t)) {
    mg_st_fail(rep, "case %zu: suite %u: tree_hashes missing or not %u long",
               i, sid, mls_tree_width(&t));
    goto out;
  }
  for (uint32_t x = 0; x < mls_tree_width(&t); x++) {
    uint8_t h[MG_MAX_HASH_LEN];
    size_t hl = 0;
    char field[48];
    const char *hex = json_string_value(json_array_get(ths, x));
    free(want);
    want = NULL;
    rc = hex == NULL ? MG_ERR_NOT_FOUND
                     : mg_hex_decode(&want, &want_len, hex, strlen(hex));
    mls_node_idx xi = {x};
    if (rc < 0 ||
        (rc = mls_tree_node_hash(&t, xi, h, sizeof(h), &hl)) < 0) {
      mg_st_fail(rep, "case %zu: suite %u: tree_hashes[%u]: %s", i, sid, x,
                 mg_err_name(rc));
      goto out;
    }
    snprintf(field, sizeof(field), "suite %u tree_hashes[%u]", sid, x);
    if (!mg_st_eq(rep, i, field, h, hl, want, want_len)) {
      goto out;
    }
  }
  rc = mls_tree_check_structure(&t);
  if (rc == 0) {
    rc = mls_tree_check_unique_keys(&t);
  }
  if (rc < 0) {
    mg_st_fail(rep, "case %zu: suite %u: tree structure rejected: %s", i, sid,
               mg_err_name(rc));
    goto out;
  }
  rc = mls_tree_verify_parent_hashes(&t);
  if (rc < 0) {
    mg_st_fail(rep, "case %zu: suite %u: parent hashes: %s", i, sid,
               mg_err_name(rc));
    goto out;
  }
  rc = mls_tree_verify_leaf_signatures(&t, gid, gid_len);
  if (rc < 0) {
    mg_st_fail(rep, "case %zu: suite %u: leaf signatures: %s", i, sid,
               mg_err_name(rc));
    goto out;
  }
  mg_st_pass(rep);
out:
  mls_tree_cleanup(&t);
  free(tree_bytes);
  free(gid);
  free(want);
}

const mg_st_kind mg_st_kind_tree_validation = {
    "tree-validation", tv_match, tv_count, tv_run,
};
