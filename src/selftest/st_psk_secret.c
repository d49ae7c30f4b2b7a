/*
 * Self-test kind for mls/psk_secret.json (mlswg/mls-implementations,
 * "Pre-Shared Keys"): each case lists external PSKs (psk_id, psk,
 * psk_nonce); the PreSharedKeyIDs are built with the external PSKType, run
 * through the PSK chain of RFC 9420 §8.4, and the result must equal
 * psk_secret.  Each PreSharedKeyID also goes through encode -> decode ->
 * encode.  A failure names the suite and the field.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "mls/constants.h"
#include "mls/key_schedule.h"
#include "mls/msg_context.h"
#include "selftest/selftest.h"
#include "selftest/st_mls_util.h"

static int psk_match(const char *base) {
  return strcmp(base, "psk_secret.json") == 0;
}

static size_t psk_count(const json_t *root) {
  if (!json_is_array(root)) {
    return 0;
  }
  const json_t *first = json_array_get(root, 0);
  if (!json_is_object(first) || !json_is_array(json_object_get(first, "psks"))) {
    return 0;
  }
  return json_array_size(root);
}

/* The PreSharedKeyID survives encode -> decode -> encode unchanged. */
static int psk_roundtrip(mg_st_case *cc, const char *what,
                         const mls_psk_id *id) {
  mg_writer w1, w2;
  mg_reader r;
  mls_psk_id back;
  int ok = 0;

  mg_writer_zero(&w1);
  mg_writer_zero(&w2);
  memset(&back, 0, sizeof(back));
  int rc = mg_writer_init(&w1, 64, 0);
  if (rc == 0) {
    rc = mls_psk_id_encode(&w1, id);
  }
  if (!mg_st_case_rc(cc, what, "PreSharedKeyID encoding", rc)) {
    goto out;
  }
  mg_reader_init(&r, mg_writer_data(&w1), mg_writer_len(&w1));
  rc = mls_psk_id_decode(&r, &back);
  if (rc == 0) {
    rc = mg_reader_done(&r);
  }
  if (rc == 0) {
    rc = mg_writer_init(&w2, 64, 0);
  }
  if (rc == 0) {
    rc = mls_psk_id_encode(&w2, &back);
  }
  if (!mg_st_case_rc(cc, what, "PreSharedKeyID decoding", rc) ||
      !mg_st_case_eq(cc, what, "PreSharedKeyID re-encoding",
                     mg_writer_data(&w2), mg_writer_len(&w2),
                     mg_writer_data(&w1), mg_writer_len(&w1))) {
    goto out;
  }
  if (!mls_psk_id_eq(&back, id)) {
    mg_st_fail(cc->rep, "case %zu: suite %u: %s decoded PreSharedKeyID differs",
               cc->i, cc->suite_id, what);
    goto out;
  }
  ok = 1;
out:
  mls_psk_id_cleanup(&back);
  mg_writer_cleanup(&w1);
  mg_writer_cleanup(&w2);
  return ok;
}

static void psk_run(const json_t *root, size_t i, mg_st_report *rep) {
  mg_st_case cc;
  const json_t *c = json_array_get(root, i);
  mls_psk_id *ids = NULL;
  mls_bytes *psks = NULL;
  uint8_t *want = NULL;
  size_t want_len = 0;
  uint8_t got[MG_MAX_HASH_LEN];

  if (!mg_st_case_begin(&cc, c, i, rep)) {
    return;
  }
  const json_t *arr = json_object_get(c, "psks");
  size_t n = json_is_array(arr) ? json_array_size(arr) : 0;
  if (!json_is_array(arr) || n > 1000) {
    mg_st_fail(rep, "case %zu: suite %u: psks missing or too long", i,
               cc.suite_id);
    goto out;
  }
  if (!mg_st_case_hex(&cc, c, "case", "psk_secret", &want, &want_len)) {
    goto out;
  }
  ids = calloc(n > 0 ? n : 1, sizeof(*ids));
  psks = calloc(n > 0 ? n : 1, sizeof(*psks));
  if (ids == NULL || psks == NULL) {
    mg_st_fail(rep, "case %zu: out of memory", i);
    goto out;
  }
  for (size_t k = 0; k < n; k++) {
    char what[32];
    const json_t *p = json_array_get(arr, k);
    uint8_t *id = NULL, *nonce = NULL, *secret = NULL;
    size_t id_len = 0, nonce_len = 0, secret_len = 0;
    snprintf(what, sizeof(what), "psks[%zu]", k);
    if (!mg_st_case_hex(&cc, p, what, "psk_id", &id, &id_len) ||
        !mg_st_case_hex(&cc, p, what, "psk_nonce", &nonce, &nonce_len) ||
        !mg_st_case_hex(&cc, p, what, "psk", &secret, &secret_len)) {
      goto out;
    }
    /* Borrowed views into the case's buffers (never cleaned up here). */
    ids[k].psktype = MLS_PSK_EXTERNAL;
    ids[k].psk_id.data = id;
    ids[k].psk_id.len = id_len;
    ids[k].psk_nonce.data = nonce;
    ids[k].psk_nonce.len = nonce_len;
    psks[k].data = secret;
    psks[k].len = secret_len;
    if (!psk_roundtrip(&cc, what, &ids[k])) {
      goto out;
    }
  }
  int rc = mls_psk_secret(cc.suite, got, ids, psks, n);
  if (!mg_st_case_rc(&cc, "case", "psk_secret computation", rc) ||
      !mg_st_case_eq(&cc, "case", "psk_secret", got, cc.suite->kdf->nh, want,
                     want_len)) {
    goto out;
  }
  mg_st_pass(rep);
out:
  free(ids);
  free(psks);
  mg_st_case_end(&cc);
}

const mg_st_kind mg_st_kind_psk_secret = {
    "psk-secret", psk_match, psk_count, psk_run,
};
