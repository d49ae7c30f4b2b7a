/* Transcript hashes (RFC 9420 §8.2).  See transcript.h. */
#include "config.h"

#include "mls/transcript.h"

#include <string.h>

#include "common/codec.h"
#include "common/guard.h"
#include "mls/constants.h"

static const uint8_t k_empty[1] = {0};

void mls_transcript_init(mls_transcript *t) {
  if (t != NULL) {
    memset(t, 0, sizeof(*t));
  }
}

/* Hash(a || b) over a temporary writer (the inputs are public). */
static int tr_hash2(const mls_suite *suite, uint8_t *out, size_t out_cap,
                    const uint8_t *a, size_t a_len, const uint8_t *b,
                    size_t b_len, int b_as_vec) {
  mg_writer w;
  int rc;

  mg_writer_zero(&w);
  MG_ENSURE(suite != NULL && suite->hash != NULL && out != NULL &&
                (a != NULL || a_len == 0) && (b != NULL || b_len == 0),
            MG_ERR_INVALID_ARG);
  MG_ENSURE(out_cap >= suite->hash->digest_len, MG_ERR_BUFFER_TOO_SMALL);
  MG_CHECK(mg_writer_init(&w, a_len + b_len + 4, 0));
  MG_CHECK(mg_write_bytes(&w, a != NULL ? a : k_empty, a_len));
  if (b_as_vec) {
    MG_CHECK(mg_write_opaque(&w, b != NULL ? b : k_empty, b_len));
  } else {
    MG_CHECK(mg_write_bytes(&w, b != NULL ? b : k_empty, b_len));
  }
  MG_CHECK(suite->hash->digest(suite->hash, out, mg_writer_data(&w),
                               mg_writer_len(&w)));
out:
  mg_writer_cleanup(&w);
  return rc;
}

int mls_transcript_confirmed(const mls_suite *suite, uint8_t *out,
                             size_t out_cap, const uint8_t *interim_before,
                             size_t interim_before_len, const uint8_t *input,
                             size_t input_len) {
  return tr_hash2(suite, out, out_cap, interim_before, interim_before_len,
                  input, input_len, 0);
}

int mls_transcript_interim(const mls_suite *suite, uint8_t *out,
                           size_t out_cap, const uint8_t *confirmed,
                           size_t confirmed_len,
                           const uint8_t *confirmation_tag,
                           size_t confirmation_tag_len) {
  /* InterimTranscriptHashInput is struct { MAC confirmation_tag; } with
   * opaque MAC<V> (RFC 9420 §6.1). */
  return tr_hash2(suite, out, out_cap, confirmed, confirmed_len,
                  confirmation_tag, confirmation_tag_len, 1);
}

int mls_transcript_next(const mls_suite *suite, mls_transcript *out,
                        const mls_transcript *cur,
                        const uint8_t *confirmed_input,
                        size_t confirmed_input_len,
                        const uint8_t *confirmation_tag,
                        size_t confirmation_tag_len) {
  mls_transcript t;
  int rc;

  MG_ENSURE(suite != NULL && suite->hash != NULL && out != NULL &&
                cur != NULL && out != cur,
            MG_ERR_INVALID_ARG);
  mls_transcript_init(&t);
  MG_CHECK(mls_transcript_confirmed(suite, t.confirmed, sizeof(t.confirmed),
                                    cur->interim, cur->interim_len,
                                    confirmed_input, confirmed_input_len));
  t.confirmed_len = suite->hash->digest_len;
  MG_CHECK(mls_transcript_interim(suite, t.interim, sizeof(t.interim),
                                  t.confirmed, t.confirmed_len,
                                  confirmation_tag, confirmation_tag_len));
  t.interim_len = suite->hash->digest_len;
  *out = t;
  return 0;
out:
  mls_transcript_init(out);
  return rc;
}

int mls_transcript_from_confirmed(const mls_suite *suite, mls_transcript *out,
                                  const uint8_t *confirmed,
                                  size_t confirmed_len,
                                  const uint8_t *confirmation_tag,
                                  size_t confirmation_tag_len) {
  mls_transcript t;
  int rc;

  MG_ENSURE(suite != NULL && suite->hash != NULL && out != NULL &&
                (confirmed != NULL || confirmed_len == 0),
            MG_ERR_INVALID_ARG);
  MG_ENSURE(confirmed_len <= sizeof(t.confirmed), MG_ERR_PARAM);
  mls_transcript_init(&t);
  if (confirmed_len > 0) {
    memcpy(t.confirmed, confirmed, confirmed_len);
  }
  t.confirmed_len = confirmed_len;
  MG_CHECK(mls_transcript_interim(suite, t.interim, sizeof(t.interim),
                                  t.confirmed, t.confirmed_len,
                                  confirmation_tag, confirmation_tag_len));
  t.interim_len = suite->hash->digest_len;
  *out = t;
  return 0;
out:
  mls_transcript_init(out);
  return rc;
}

/*
 *   struct {
 *       WireFormat wire_format;
 *       FramedContent content; // with content_type == commit
 *       opaque signature<V>;
 *   } ConfirmedTranscriptHashInput;
 */
int mls_confirmed_transcript_input_encode(mg_writer *w,
                                          const mls_authenticated_content *ac) {
  MG_ENSURE(w != NULL && ac != NULL, MG_ERR_INVALID_ARG);
  MG_ENSURE(ac->content.content_type == MLS_CONTENT_COMMIT,
            MG_ERR_CONTENT_TYPE);
  MG_GUARD(mg_write_u16(w, ac->wire_format));
  MG_GUARD(mls_framed_content_encode(w, &ac->content));
  return mls_bytes_write(w, &ac->auth.signature);
}

int mls_transcript_next_commit(const mls_suite *suite, mls_transcript *out,
                               const mls_transcript *cur,
                               const mls_authenticated_content *ac) {
  mg_writer w;
  int rc;

  mg_writer_zero(&w);
  MG_ENSURE(ac != NULL && out != NULL, MG_ERR_INVALID_ARG);
  MG_CHECK(mg_writer_init(&w, 256, 0));
  MG_CHECK(mls_confirmed_transcript_input_encode(&w, ac));
  MG_CHECK(mls_transcript_next(suite, out, cur, mg_writer_data(&w),
                               mg_writer_len(&w), ac->auth.confirmation_tag.data,
                               ac->auth.confirmation_tag.len));
out:
  if (rc < 0) {
    mls_transcript_init(out);
  }
  mg_writer_cleanup(&w);
  return rc;
}
