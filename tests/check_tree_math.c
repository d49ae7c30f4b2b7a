/* Unit tests for the array-based tree math (RFC 9420 Appendix C) beyond the
 * official vectors: direct path, copath, common ancestor and the error
 * cases, checked against definitions written independently here. */
#include "config.h"

#include <check.h>
#include <stdlib.h>

#include "mls/tree_math.h"

/* Reference parent by search: the node whose left or right child is x. */
static int ref_parent(uint32_t x, uint32_t n_leaves, uint32_t *out) {
  uint32_t w = mls_tm_node_width(n_leaves);
  for (uint32_t p = 1; p < 2 * w + 2; p += 2) {
    mls_node_idx l, r, pn = {p};
    if (mls_tm_left(&l, pn) == 0 && mls_tm_right(&r, pn) == 0 &&
        (l.v == x || r.v == x) && p < w) {
      *out = p;
      return 0;
    }
  }
  return -1;
}

START_TEST(test_parent_matches_children) {
  for (uint32_t n = 1; n <= 64; n *= 2) {
    uint32_t w = mls_tm_node_width(n);
    for (uint32_t x = 0; x < w; x++) {
      mls_node_idx p, xn = {x};
      uint32_t want;
      int rc = mls_tm_parent(&p, xn, n);
      if (x == mls_tm_root(n).v) {
        ck_assert_int_eq(rc, MG_ERR_INVALID_ARG);
        continue;
      }
      ck_assert_int_eq(rc, 0);
      ck_assert_int_eq(ref_parent(x, n, &want), 0);
      ck_assert_uint_eq(p.v, want);
    }
  }
}
END_TEST

START_TEST(test_direct_path_and_copath) {
  for (uint32_t n = 1; n <= 32; n *= 2) {
    uint32_t w = mls_tm_node_width(n);
    for (uint32_t x = 0; x < w; x += 2) {
      mls_node_idx dp[32], cp[32], xn = {x};
      uint32_t dl = 99, cl = 99;
      ck_assert_int_eq(mls_tm_direct_path(dp, &dl, 32, xn, n), 0);
      ck_assert_int_eq(mls_tm_copath(cp, &cl, 32, xn, n), 0);
      ck_assert_uint_eq(dl, mls_tm_log2(n));
      ck_assert_uint_eq(cl, dl);
      mls_node_idx cur = xn;
      for (uint32_t k = 0; k < dl; k++) {
        mls_node_idx sib, par;
        ck_assert_int_eq(mls_tm_sibling(&sib, cur, n), 0);
        ck_assert_uint_eq(cp[k].v, sib.v);
        ck_assert_int_eq(mls_tm_parent(&par, cur, n), 0);
        ck_assert_uint_eq(dp[k].v, par.v);
        cur = par;
      }
      if (dl > 0) {
        ck_assert_uint_eq(dp[dl - 1].v, mls_tm_root(n).v);
      }
      if (dl > 1) {
        ck_assert_int_eq(mls_tm_direct_path(dp, &dl, dl - 1, xn, n),
                         MG_ERR_BUFFER_TOO_SMALL);
      }
    }
  }
}
END_TEST

/* The lowest node that is x or y or an ancestor of both (the semantic
 * definition of RFC 9420 Appendix C). */
static uint32_t ref_common_ancestor(uint32_t x, uint32_t y, uint32_t n) {
  uint32_t ax[40], na = 0;
  mls_node_idx c = {x};
  ax[na++] = x;
  while (c.v != mls_tm_root(n).v) {
    ck_assert_int_eq(mls_tm_parent(&c, c, n), 0);
    ax[na++] = c.v;
  }
  c.v = y;
  for (;;) {
    for (uint32_t i = 0; i < na; i++) {
      if (ax[i] == c.v) {
        return c.v;
      }
    }
    ck_assert_int_eq(mls_tm_parent(&c, c, n), 0);
  }
}

START_TEST(test_common_ancestor) {
  const uint32_t n = 16;
  uint32_t w = mls_tm_node_width(n);
  for (uint32_t x = 0; x < w; x++) {
    for (uint32_t y = 0; y < w; y++) {
      mls_node_idx a = {x}, b = {y};
      ck_assert_uint_eq(mls_tm_common_ancestor(a, b).v, ref_common_ancestor(x, y, n));
    }
  }
}
END_TEST

START_TEST(test_errors) {
  mls_node_idx out, leaf = {6}, parent = {5}, far = {31};
  mls_leaf_idx l;
  ck_assert_int_eq(mls_tm_left(&out, leaf), MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mls_tm_right(&out, leaf), MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mls_tm_node_to_leaf(&l, parent), MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mls_tm_node_to_leaf(&l, leaf), 0);
  ck_assert_uint_eq(l.v, 3);
  ck_assert_uint_eq(mls_tm_leaf_to_node(l).v, 6);
  ck_assert_int_eq(mls_tm_parent(&out, far, 8), MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mls_tm_sibling(&out, far, 8), MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mls_tm_parent(&out, leaf, 0), MG_ERR_INVALID_ARG);
  ck_assert_uint_eq(mls_tm_node_width(0), 0);
  ck_assert_uint_eq(mls_tm_node_width(MLS_TM_MAX_LEAVES), 0xffffffffu);
  ck_assert_uint_eq(mls_tm_root(MLS_TM_MAX_LEAVES).v, 0x7fffffffu);
  /* The largest tree still has well-defined parents at its right edge. */
  mls_node_idx last = {0xfffffffeu};
  ck_assert_int_eq(mls_tm_parent(&out, last, MLS_TM_MAX_LEAVES), 0);
  ck_assert_uint_eq(out.v, 0xfffffffdu);
}
END_TEST

int main(void) {
  Suite *s = suite_create("tree_math");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, test_parent_matches_children);
  tcase_add_test(tc, test_direct_path_and_copath);
  tcase_add_test(tc, test_common_ancestor);
  tcase_add_test(tc, test_errors);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? 0 : 1;
}
