/*
 * Known-answer self-test against the official vector files (mlsgatectl
 * selftest, and the Check suites in tests/).
 *
 * A "kind" knows one vector file format.  It counts its cases and runs one
 * case at a time, recording pass/fail/skip in a report; a failure names the
 * field that differed.  Both the CLI (all cases of a file) and Check
 * (tcase_add_loop_test, one iteration per case) drive the same code.
 */
#ifndef MG_HEADER_SELFTEST_SELFTEST_H
#define MG_HEADER_SELFTEST_SELFTEST_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "mlsgate/err.h"

typedef struct mg_st_report {
  unsigned passed;
  unsigned failed;
  unsigned skipped;
  unsigned acceptable; /* Wycheproof "acceptable" cases (counted in passed) */
  unsigned files_not_run; /* directory run: upstream files with no verifier yet */
  FILE *log;           /* failure and skip lines go here; NULL: nowhere */
  const char *file;    /* for messages */
  char last_msg[512];  /* the last failure or skip message */
} mg_st_report;

/* mg_st_pass records a passed case. */
void mg_st_pass(mg_st_report *rep);

/* mg_st_fail records a failed case; |fmt| should name the field, e.g.
 * "case 3: expand_with_label.out differs". */
void mg_st_fail(mg_st_report *rep, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* mg_st_skip records a skipped case with its reason. */
void mg_st_skip(mg_st_report *rep, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

typedef struct mg_st_kind {
  const char *name;      /* e.g. "hpke", "crypto-basics", "wycheproof-aead" */
  /* match returns 1 if this kind handles files named |basename|. */
  int (*match)(const char *basename);
  /* count returns the number of cases in |root| (0 if the file is not of
   * this kind's shape). */
  size_t (*count)(const json_t *root);
  /* run_case runs case |i| (0-based), recording exactly one result. */
  void (*run_case)(const json_t *root, size_t i, mg_st_report *rep);
} mg_st_kind;

/* mg_st_kind_for_file returns the kind that handles |path| (by basename), or
 * NULL. */
const mg_st_kind *mg_st_kind_for_file(const char *path);

/* mg_st_kind_by_name returns the kind named |name|, or NULL. */
const mg_st_kind *mg_st_kind_by_name(const char *name);

/* mg_st_run_file loads |path|, runs every case, prints
 * "FILE: N passed, N failed, N skipped" to |out| and adds the counts to
 * |total|.  Errors: MG_ERR_IO (unreadable), MG_ERR_DECODE (bad JSON or a
 * shape the kind does not know), MG_ERR_UNSUPPORTED (no kind for the name). */
MG_MUST_USE int mg_st_run_file(const char *path, FILE *out,
                               mg_st_report *total);

/* mg_st_run_dir runs every known vector file under |dir| (recursively, in a
 * stable order).  Unknown .json files are reported on |out| and counted as
 * failures (a file we do not understand is never a silent pass); upstream
 * files whose verifier a later issue adds are named as "not run" and counted
 * in files_not_run. */
MG_MUST_USE int mg_st_run_dir(const char *dir, FILE *out, mg_st_report *total);

/* The default vector directory: $MLSGATE_VECTORS if set, else the configure
 * time default. */
const char *mg_st_default_dir(void);

/* ---- helpers for kinds ---- */

/* mg_st_hex decodes the hex string member |key| of |obj| into a new buffer
 * (free()).  Errors: MG_ERR_NOT_FOUND (missing/not a string), MG_ERR_HEX. */
MG_MUST_USE int mg_st_hex(const json_t *obj, const char *key, uint8_t **out,
                          size_t *out_len);

/* mg_st_eq compares two byte strings and, if they differ, fails the case
 * with "case N: FIELD differs (got .. want ..)".  Returns 1 if equal. */
int mg_st_eq(mg_st_report *rep, size_t i, const char *field,
             const uint8_t *got, size_t got_len, const uint8_t *want,
             size_t want_len);

/* Registered kinds (each defined in src/selftest/st_<kind>.c). */
extern const mg_st_kind mg_st_kind_hpke;
extern const mg_st_kind mg_st_kind_crypto_basics;
extern const mg_st_kind mg_st_kind_deserialization;
extern const mg_st_kind mg_st_kind_tree_math;
extern const mg_st_kind mg_st_kind_wycheproof;
extern const mg_st_kind mg_st_kind_messages;
extern const mg_st_kind mg_st_kind_tree_validation;
extern const mg_st_kind mg_st_kind_treekem;
extern const mg_st_kind mg_st_kind_tree_operations;
extern const mg_st_kind mg_st_kind_key_schedule;
extern const mg_st_kind mg_st_kind_psk_secret;
extern const mg_st_kind mg_st_kind_secret_tree;
extern const mg_st_kind mg_st_kind_transcript_hashes;
extern const mg_st_kind mg_st_kind_message_protection;
extern const mg_st_kind mg_st_kind_welcome;
extern const mg_st_kind mg_st_kind_passive_client_welcome;
extern const mg_st_kind mg_st_kind_passive_client_commit;

#endif
