/* Self-test kind for mls/tree-math.json (RFC 9420 Appendix C). */
#include "config.h"

#include <string.h>

#include "mls/tree_math.h"
#include "selftest/selftest.h"

static int tm_match(const char *base) { return strcmp(base, "tree-math.json") == 0; }

static size_t tm_count(const json_t *root) {
  return json_is_array(root) ? json_array_size(root) : 0;
}

typedef int (*tm_rel_fn)(mls_node_idx *out, mls_node_idx x, uint32_t n);

static int tm_left(mls_node_idx *out, mls_node_idx x, uint32_t n) {
  (void)n;
  return mls_tm_left(out, x);
}

static int tm_right(mls_node_idx *out, mls_node_idx x, uint32_t n) {
  (void)n;
  return mls_tm_right(out, x);
}

/* Checks relation |name| for every node; returns 1 if all match. */
static int tm_check_rel(mg_st_report *rep, size_t i, const json_t *c,
                        const char *name, tm_rel_fn fn, uint32_t n_leaves,
                        uint32_t n_nodes) {
  const json_t *arr = json_object_get(c, name);
  if (!json_is_array(arr) || json_array_size(arr) != n_nodes) {
    mg_st_fail(rep, "case %zu: field %s missing or not %u long", i, name, n_nodes);
    return 0;
  }
  for (uint32_t x = 0; x < n_nodes; x++) {
    const json_t *want = json_array_get(arr, x);
    mls_node_idx out = {0};
    mls_node_idx node = {x};
    int rc = fn(&out, node, n_leaves);
    if (json_is_null(want)) {
      if (rc == 0) {
        mg_st_fail(rep, "case %zu (n_leaves=%u): %s[%u] = %u, want none", i,
                   n_leaves, name, x, out.v);
        return 0;
      }
    } else if (!json_is_integer(want)) {
      mg_st_fail(rep, "case %zu: %s[%u] is not an integer", i, name, x);
      return 0;
    } else if (rc != 0 || (json_int_t)out.v != json_integer_value(want)) {
      mg_st_fail(rep, "case %zu (n_leaves=%u): %s[%u] = %s%u, want %lld", i,
                 n_leaves, name, x, rc != 0 ? "error " : "",
                 rc != 0 ? 0u : out.v, (long long)json_integer_value(want));
      return 0;
    }
  }
  return 1;
}

static void tm_run(const json_t *root, size_t i, mg_st_report *rep) {
  const json_t *c = json_array_get(root, i);
  const json_t *jl = json_object_get(c, "n_leaves");
  const json_t *jn = json_object_get(c, "n_nodes");
  const json_t *jr = json_object_get(c, "root");
  if (!json_is_integer(jl) || !json_is_integer(jn) || !json_is_integer(jr) ||
      json_integer_value(jl) < 1 ||
      json_integer_value(jl) > (json_int_t)MLS_TM_MAX_LEAVES ||
      json_integer_value(jn) > 1 << 20) {
    mg_st_fail(rep, "case %zu: n_leaves/n_nodes/root missing or out of range", i);
    return;
  }
  uint32_t n_leaves = (uint32_t)json_integer_value(jl);
  uint32_t n_nodes = (uint32_t)json_integer_value(jn);
  if (mls_tm_node_width(n_leaves) != n_nodes) {
    mg_st_fail(rep, "case %zu: n_nodes = %u, want %u", i,
               mls_tm_node_width(n_leaves), n_nodes);
    return;
  }
  if ((json_int_t)mls_tm_root(n_leaves).v != json_integer_value(jr)) {
    mg_st_fail(rep, "case %zu: root = %u, want %lld", i, mls_tm_root(n_leaves).v,
               (long long)json_integer_value(jr));
    return;
  }
  if (!tm_check_rel(rep, i, c, "left", tm_left, n_leaves, n_nodes) ||
      !tm_check_rel(rep, i, c, "right", tm_right, n_leaves, n_nodes) ||
      !tm_check_rel(rep, i, c, "parent", mls_tm_parent, n_leaves, n_nodes) ||
      !tm_check_rel(rep, i, c, "sibling", mls_tm_sibling, n_leaves, n_nodes)) {
    return;
  }
  mg_st_pass(rep);
}

const mg_st_kind mg_st_kind_tree_math = {
    "tree-math", tm_match, tm_count, tm_run,
};
