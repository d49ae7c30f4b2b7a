/*
 * Small helpers shared by the MLS protocol-core vector kinds (key schedule,
 * PSK secret, secret tree, transcript hashes, message protection): a case
 * context that owns the buffers decoded from the JSON, and field readers
 * that fail the case naming the suite and the field.
 */
#ifndef MG_HEADER_SELFTEST_ST_MLS_UTIL_H
#define MG_HEADER_SELFTEST_ST_MLS_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/suite.h"
#include "selftest/selftest.h"

#define MG_ST_CASE_MAX_BUFS 512

typedef struct mg_st_case {
  size_t i;
  unsigned suite_id;
  const mls_suite *suite;
  mg_st_report *rep;
  uint8_t *bufs[MG_ST_CASE_MAX_BUFS];
  size_t bufs_len[MG_ST_CASE_MAX_BUFS];
  size_t n_bufs;
} mg_st_case;

/* mg_st_case_begin initializes |cc| for case |i| of |c|: runs
 * mg_crypto_init, reads "cipher_suite" and looks the suite up.  Returns 1,
 * or 0 after recording a failure. */
int mg_st_case_begin(mg_st_case *cc, const json_t *c, size_t i,
                     mg_st_report *rep);

/* mg_st_case_end wipes and frees every buffer the case holds. */
void mg_st_case_end(mg_st_case *cc);

/* mg_st_case_hex decodes hex field |key| of |obj| into a buffer owned by
 * |cc|.  |what| names the object in messages (e.g. "epochs[2]").  Returns 1,
 * or 0 after recording a failure. */
int mg_st_case_hex(mg_st_case *cc, const json_t *obj, const char *what,
                   const char *key, uint8_t **out, size_t *out_len);

/* mg_st_case_u64 reads the non-negative integer field |key|.  Returns 1, or
 * 0 after recording a failure. */
int mg_st_case_u64(mg_st_case *cc, const json_t *obj, const char *what,
                   const char *key, uint64_t *out);

/* mg_st_case_eq compares |got| with |want|, failing the case with
 * "case N: suite S: WHAT.FIELD differs (...)" if they differ.  Returns 1 if
 * equal. */
int mg_st_case_eq(mg_st_case *cc, const char *what, const char *field,
                  const uint8_t *got, size_t got_len, const uint8_t *want,
                  size_t want_len);

/* mg_st_case_rc fails the case naming |step| and the error if |rc| < 0.
 * Returns 1 if rc >= 0. */
int mg_st_case_rc(mg_st_case *cc, const char *what, const char *step, int rc);

#endif
