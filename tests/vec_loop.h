/*
 * Vector loops for the Check suites: the files of the official vectors that
 * a suite checks, one Check test case per file and one loop iteration per
 * vector case, running the same kinds as `mlsgatectl selftest`.  A failure
 * prints the kind's message, which names the case and the field.
 */
#ifndef MG_HEADER_TESTS_VEC_LOOP_H
#define MG_HEADER_TESTS_VEC_LOOP_H

#include <check.h>
#include <stddef.h>

#include <jansson.h>

#include "selftest/selftest.h"

typedef struct mg_vec_file {
  const char *rel;      /* path under $MLSGATE_VECTORS */
  size_t expect_cases;  /* the number of cases the file must have */
  /* Filled in by mg_vec_add: */
  json_t *root;
  const mg_st_kind *kind;
} mg_vec_file;

/* The most files one test program may register (over all calls). */
#define MG_VEC_MAX_FILES 8

/* mg_vec_add loads |files| from the vector directory and adds to |s| a test
 * case "<name> files" (every file loaded, with a kind and its expected
 * number of cases) and, per file, a test case named after it with one loop
 * iteration per vector case that must pass (not fail, not skip).  The files
 * stay loaded until mg_vec_release, so forked tests see them. */
void mg_vec_add(Suite *s, const char *name, mg_vec_file *files, size_t n);

/* mg_vec_release frees the loaded files. */
void mg_vec_release(void);

#endif
