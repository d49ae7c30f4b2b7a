/* Helpers for the MLS protocol-core vector kinds.  See st_mls_util.h. */
#include "config.h"

#include "selftest/st_mls_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/secmem.h"
#include "crypto/crypto.h"
#include "mlsgate/err.h"

int mg_st_case_begin(mg_st_case *cc, const json_t *c, size_t i,
                     mg_st_report *rep) {
  memset(cc, 0, sizeof(*cc));
  cc->i = i;
  cc->rep = rep;
  int rc = mg_crypto_init();
  if (rc < 0) {
    mg_st_fail(rep, "case %zu: mg_crypto_init failed: %s", i, mg_err_name(rc));
    return 0;
  }
  const json_t *js = json_object_get(c, "cipher_suite");
  if (!json_is_integer(js) || json_integer_value(js) < 0 ||
      json_integer_value(js) > 0xffff) {
    mg_st_fail(rep, "case %zu: cipher_suite missing or out of range", i);
    return 0;
  }
  cc->suite_id = (unsigned)json_integer_value(js);
  cc->suite = mls_suite_by_id((uint16_t)cc->suite_id);
  if (cc->suite == NULL) {
    /* All seven RFC 9420 suites are implemented: an unknown one is a
     * failure, never a silent skip. */
    mg_st_fail(rep, "case %zu: cipher suite %u not supported", i, cc->suite_id);
    return 0;
  }
  return 1;
}

void mg_st_case_end(mg_st_case *cc) {
  for (size_t k = 0; k < cc->n_bufs; k++) {
    /* Vector values include secrets; wipe like any other secret buffer. */
    mg_free_secret(cc->bufs[k], cc->bufs_len[k]);
    cc->bufs[k] = NULL;
  }
  cc->n_bufs = 0;
}

int mg_st_case_hex(mg_st_case *cc, const json_t *obj, const char *what,
                   const char *key, uint8_t **out, size_t *out_len) {
  uint8_t *p = NULL;
  size_t len = 0;
  int rc = mg_st_hex(obj, key, &p, &len);
  if (rc < 0) {
    mg_st_fail(cc->rep, "case %zu: suite %u: %s.%s %s", cc->i, cc->suite_id,
               what, key, rc == MG_ERR_NOT_FOUND ? "missing" : "not hex");
    return 0;
  }
  if (cc->n_bufs >= MG_ST_CASE_MAX_BUFS) {
    mg_free_secret(p, len);
    mg_st_fail(cc->rep, "case %zu: suite %u: too many fields", cc->i,
               cc->suite_id);
    return 0;
  }
  cc->bufs[cc->n_bufs] = p;
  cc->bufs_len[cc->n_bufs] = len;
  cc->n_bufs++;
  *out = p;
  *out_len = len;
  return 1;
}

int mg_st_case_u64(mg_st_case *cc, const json_t *obj, const char *what,
                   const char *key, uint64_t *out) {
  const json_t *v = json_object_get(obj, key);
  if (!json_is_integer(v) || json_integer_value(v) < 0) {
    mg_st_fail(cc->rep, "case %zu: suite %u: %s.%s missing or negative",
               cc->i, cc->suite_id, what, key);
    return 0;
  }
  *out = (uint64_t)json_integer_value(v);
  return 1;
}

int mg_st_case_eq(mg_st_case *cc, const char *what, const char *field,
                  const uint8_t *got, size_t got_len, const uint8_t *want,
                  size_t want_len) {
  char name[160];
  snprintf(name, sizeof(name), "suite %u: %s.%s", cc->suite_id, what, field);
  return mg_st_eq(cc->rep, cc->i, name, got, got_len, want, want_len);
}

int mg_st_case_rc(mg_st_case *cc, const char *what, const char *step, int rc) {
  if (rc >= 0) {
    return 1;
  }
  mg_st_fail(cc->rep, "case %zu: suite %u: %s: %s failed: %s", cc->i,
             cc->suite_id, what, step, mg_err_name(rc));
  return 0;
}
