/*
 * Self-test kind for mls/transcript-hashes.json (mlswg/mls-implementations,
 * "Transcript Hashes"): the AuthenticatedContent must decode (and re-encode
 * byte for byte) and hold a Commit; its confirmation_tag must verify with
 * confirmation_key over confirmed_transcript_hash_after; and updating
 * interim_transcript_hash_before with it (RFC 9420 §8.2) must give
 * confirmed_transcript_hash_after and interim_transcript_hash_after.  The
 * ConfirmedTranscriptHashInput must also be the prefix of the
 * AuthenticatedContent that precedes the confirmation tag.  A failure names
 * the suite and the field.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "mls/constants.h"
#include "mls/key_schedule.h"
#include "mls/msg_framing.h"
#include "mls/transcript.h"
#include "selftest/selftest.h"
#include "selftest/st_mls_util.h"

static int th_match(const char *base) {
  return strcmp(base, "transcript-hashes.json") == 0;
}

static size_t th_count(const json_t *root) {
  if (!json_is_array(root)) {
    return 0;
  }
  const json_t *first = json_array_get(root, 0);
  if (!json_is_object(first) ||
      json_object_get(first, "authenticated_content") == NULL) {
    return 0;
  }
  return json_array_size(root);
}

static void th_run(const json_t *root, size_t i, mg_st_report *rep) {
  mg_st_case cc;
  const json_t *c = json_array_get(root, i);
  uint8_t *key = NULL, *acb = NULL, *before = NULL, *conf = NULL, *interim = NULL;
  size_t key_len = 0, acb_len = 0, before_len = 0, conf_len = 0,
         interim_len = 0;
  mls_authenticated_content ac;
  mg_writer w, input;
  mg_reader r;
  mls_transcript cur, next;

  memset(&ac, 0, sizeof(ac));
  mg_writer_zero(&w);
  mg_writer_zero(&input);
  if (!mg_st_case_begin(&cc, c, i, rep)) {
    return;
  }
  if (!mg_st_case_hex(&cc, c, "case", "confirmation_key", &key, &key_len) ||
      !mg_st_case_hex(&cc, c, "case", "authenticated_content", &acb,
                      &acb_len) ||
      !mg_st_case_hex(&cc, c, "case", "interim_transcript_hash_before",
                      &before, &before_len) ||
      !mg_st_case_hex(&cc, c, "case", "confirmed_transcript_hash_after",
                      &conf, &conf_len) ||
      !mg_st_case_hex(&cc, c, "case", "interim_transcript_hash_after",
                      &interim, &interim_len)) {
    goto out;
  }
  mg_reader_init(&r, acb, acb_len);
  int rc = mls_authenticated_content_decode(&r, &ac);
  if (rc == 0) {
    rc = mg_reader_done(&r);
  }
  if (!mg_st_case_rc(&cc, "authenticated_content", "decode", rc)) {
    goto out;
  }
  rc = mg_writer_init(&w, acb_len, 0);
  if (rc == 0) {
    rc = mls_authenticated_content_encode(&w, &ac);
  }
  if (!mg_st_case_rc(&cc, "authenticated_content", "encode", rc) ||
      !mg_st_case_eq(&cc, "authenticated_content", "re-encoding",
                     mg_writer_data(&w), mg_writer_len(&w), acb, acb_len)) {
    goto out;
  }
  if (ac.content.content_type != MLS_CONTENT_COMMIT) {
    mg_st_fail(rep, "case %zu: suite %u: authenticated_content holds content "
               "type %u, not a commit", i, cc.suite_id,
               (unsigned)ac.content.content_type);
    goto out;
  }
  rc = mls_confirmation_tag_verify(cc.suite, key, key_len, conf, conf_len,
                                   ac.auth.confirmation_tag.data,
                                   ac.auth.confirmation_tag.len);
  if (!mg_st_case_rc(&cc, "authenticated_content",
                     "confirmation_tag verification", rc)) {
    goto out;
  }
  /* The input is the AuthenticatedContent minus its confirmation tag. */
  rc = mg_writer_init(&input, acb_len, 0);
  if (rc == 0) {
    rc = mls_confirmed_transcript_input_encode(&input, &ac);
  }
  if (!mg_st_case_rc(&cc, "case", "ConfirmedTranscriptHashInput", rc)) {
    goto out;
  }
  if (mg_writer_len(&input) > acb_len ||
      memcmp(mg_writer_data(&input), acb, mg_writer_len(&input)) != 0) {
    mg_st_fail(rep, "case %zu: suite %u: ConfirmedTranscriptHashInput is not "
               "a prefix of authenticated_content", i, cc.suite_id);
    goto out;
  }
  mls_transcript_init(&cur);
  if (before_len > sizeof(cur.interim)) {
    mg_st_fail(rep, "case %zu: suite %u: interim_transcript_hash_before too "
               "long", i, cc.suite_id);
    goto out;
  }
  memcpy(cur.interim, before, before_len);
  cur.interim_len = before_len;
  rc = mls_transcript_next_commit(cc.suite, &next, &cur, &ac);
  if (!mg_st_case_rc(&cc, "case", "transcript update", rc) ||
      !mg_st_case_eq(&cc, "case", "confirmed_transcript_hash_after",
                     next.confirmed, next.confirmed_len, conf, conf_len) ||
      !mg_st_case_eq(&cc, "case", "interim_transcript_hash_after",
                     next.interim, next.interim_len, interim, interim_len)) {
    goto out;
  }
  mg_st_pass(rep);
out:
  mls_authenticated_content_cleanup(&ac);
  mg_writer_cleanup(&w);
  mg_writer_cleanup(&input);
  mg_st_case_end(&cc);
}

const mg_st_kind mg_st_kind_transcript_hashes = {
    "transcript-hashes", th_match, th_count, th_run,
};
