/* Vector loops for the Check suites (see vec_loop.h). */
#include "config.h"

#include "vec_loop.h"

#include <stdio.h>
#include <string.h>

static mg_vec_file *slots[MG_VEC_MAX_FILES];
static size_t num_slots;
/* Check keeps the pointer to a test case's name, so names must outlive the
 * runner. */
static char tcase_names[MG_VEC_MAX_FILES][128];
static size_t num_names;

static void vec_run(size_t slot, int i) {
  const mg_vec_file *vf = slots[slot];
  ck_assert_msg(vf->root != NULL && vf->kind != NULL, "%s not loaded", vf->rel);
  mg_st_report rep;
  memset(&rep, 0, sizeof(rep));
  rep.file = vf->rel;
  vf->kind->run_case(vf->root, (size_t)i, &rep);
  ck_assert_msg(rep.failed == 0, "%s: %s", vf->rel, rep.last_msg);
  ck_assert_msg(rep.skipped == 0, "%s skipped: %s", vf->rel, rep.last_msg);
  ck_assert_msg(rep.passed == 1, "%s case %d recorded %u results", vf->rel, i,
                rep.passed);
}

/* Check loop tests receive only the iteration index, so each slot has its
 * own test function. */
#define VEC_SLOT_TEST(k)                                                       \
  START_TEST(vec_slot_##k) { vec_run(k, _i); }                                \
  END_TEST

VEC_SLOT_TEST(0)
VEC_SLOT_TEST(1)
VEC_SLOT_TEST(2)
VEC_SLOT_TEST(3)
VEC_SLOT_TEST(4)
VEC_SLOT_TEST(5)
VEC_SLOT_TEST(6)
VEC_SLOT_TEST(7)

static const TTest *const *const slot_tests[MG_VEC_MAX_FILES] = {
    &vec_slot_0, &vec_slot_1, &vec_slot_2, &vec_slot_3,
    &vec_slot_4, &vec_slot_5, &vec_slot_6, &vec_slot_7,
};

START_TEST(vec_files_loaded) {
  for (size_t k = 0; k < num_slots; k++) {
    const mg_vec_file *vf = slots[k];
    ck_assert_msg(vf->root != NULL, "%s not loaded (MLSGATE_VECTORS=%s)",
                  vf->rel, mg_st_default_dir());
    ck_assert_msg(vf->kind != NULL, "%s has no kind", vf->rel);
    size_t n = vf->kind->count(vf->root);
    ck_assert_msg(n == vf->expect_cases, "%s: %zu cases, want %zu", vf->rel, n,
                  vf->expect_cases);
  }
}
END_TEST

void mg_vec_add(Suite *s, const char *name, mg_vec_file *files, size_t n) {
  if (num_names == MG_VEC_MAX_FILES) {
    fprintf(stderr, "vec_loop: mg_vec_add called too often\n");
    return;
  }
  char *tname = tcase_names[num_names++];
  snprintf(tname, sizeof(tcase_names[0]), "%s files", name);
  TCase *tc = tcase_create(tname);
  tcase_add_test(tc, vec_files_loaded);
  suite_add_tcase(s, tc);
  for (size_t f = 0; f < n; f++) {
    if (num_slots == MG_VEC_MAX_FILES) {
      fprintf(stderr, "vec_loop: more than %d vector files\n", MG_VEC_MAX_FILES);
      break;
    }
    mg_vec_file *vf = &files[f];
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", mg_st_default_dir(), vf->rel);
    json_error_t jerr;
    vf->root = json_load_file(path, 0, &jerr);
    vf->kind = mg_st_kind_for_file(path);
    size_t cases = 0;
    if (vf->root != NULL && vf->kind != NULL) {
      cases = vf->kind->count(vf->root);
    } else {
      fprintf(stderr, "vec_loop: cannot load %s: %s\n", path, jerr.text);
    }
    size_t k = num_slots++;
    slots[k] = vf;
    TCase *t = tcase_create(vf->rel);
    tcase_set_timeout(t, 300);
    tcase_add_loop_test(t, *slot_tests[k], 0, (int)cases);
    suite_add_tcase(s, t);
  }
}

void mg_vec_release(void) {
  for (size_t k = 0; k < num_slots; k++) {
    json_decref(slots[k]->root);
    slots[k]->root = NULL;
  }
  num_slots = 0;
  num_names = 0;
}
