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
#include "vec_loop.h"

static mg_vec_file files[] = {
    {"mls/deserialization.json", 14, NULL, NULL},
    {"mls/tree-math.json", 10, NULL, NULL},
};

int main(void) {
  if (mg_crypto_init() < 0) {
    fprintf(stderr, "crypto init failed\n");
    return 1;
  }
  Suite *s = suite_create("vectors");
  mg_vec_add(s, "codec and tree math", files, sizeof(files) / sizeof(files[0]));
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  mg_vec_release();
  return failed == 0 ? 0 : 1;
}
