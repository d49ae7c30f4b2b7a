/*
 * Check suite over the official vector files: one Check test case per file,
 * one loop iteration per vector case (tcase_add_loop_test), running the same
 * kinds as `mlsgatectl selftest`.  A failure prints the kind's message, which
 * names the case and the field that differed.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "selftest/selftest.h"

typedef struct {
  const char *rel;      /* path under $MLSGATE_VECTORS */
  size_t expect_cases;  /* 0: take the count from the file (Wycheproof) */
  json_t *root;
  const mg_st_kind *kind;
} vec_file;

static vec_file files[] = {
    {"mls/deserialization.json", 14, NULL, NULL},
    {"mls/tree-math.json", 10, NULL, NULL},
};

static void run_one(vec_file *vf, int i) {
  mg_st_report rep;
  memset(&rep, 0, sizeof(rep));
  rep.file = vf->rel;
  vf->kind->run_case(vf->root, (size_t)i, &rep);
  ck_assert_msg(rep.failed == 0, "%s: %s", vf->rel, rep.last_msg);
  ck_assert_msg(rep.skipped == 0, "%s skipped: %s", vf->rel, rep.last_msg);
  ck_assert_msg(rep.passed == 1, "%s case %d recorded no result", vf->rel, i);
}

#define VEC_TEST(idx)                                                          \
  START_TEST(test_file_##idx) { run_one(&files[idx], _i); }                   \
  END_TEST

VEC_TEST(0)
VEC_TEST(1)

static const TTest *const *const vec_tests[] = {&test_file_0, &test_file_1};

START_TEST(test_counts) {
  for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
    ck_assert_msg(files[f].root != NULL, "%s not loaded", files[f].rel);
    ck_assert_msg(files[f].kind != NULL, "%s has no kind", files[f].rel);
    size_t n = files[f].kind->count(files[f].root);
    ck_assert_msg(n == files[f].expect_cases, "%s: %zu cases, want %zu",
                  files[f].rel, n, files[f].expect_cases);
  }
}
END_TEST

int main(void) {
  _Static_assert(sizeof(vec_tests) / sizeof(vec_tests[0]) ==
                     sizeof(files) / sizeof(files[0]),
                 "one test per file");
  if (mg_crypto_init() < 0) {
    fprintf(stderr, "crypto init failed\n");
    return 1;
  }
  const char *dir = mg_st_default_dir();
  Suite *s = suite_create("vectors");
  TCase *tc = tcase_create("counts");
  tcase_add_test(tc, test_counts);
  suite_add_tcase(s, tc);
  for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, files[f].rel);
    json_error_t jerr;
    files[f].root = json_load_file(path, 0, &jerr);
    files[f].kind = mg_st_kind_for_file(path);
    size_t n = 0;
    if (files[f].root != NULL && files[f].kind != NULL) {
      n = files[f].kind->count(files[f].root);
    } else {
      fprintf(stderr, "cannot load %s: %s\n", path, jerr.text);
    }
    TCase *t = tcase_create(files[f].rel);
    tcase_set_timeout(t, 120);
    tcase_add_loop_test(t, *vec_tests[f], 0, (int)n);
    suite_add_tcase(s, t);
  }
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
    json_decref(files[f].root);
  }
  return failed == 0 ? 0 : 1;
}
