/*
 * Transcript hashes (RFC 9420 §8.2).
 *
 *   confirmed_transcript_hash_[epoch] =
 *       Hash(interim_transcript_hash_[epoch - 1] ||
 *            ConfirmedTranscriptHashInput_[epoch]);
 *   interim_transcript_hash_[epoch] =
 *       Hash(confirmed_transcript_hash_[epoch] ||
 *            InterimTranscriptHashInput_[epoch]);
 *
 * with
 *   struct {
 *       WireFormat wire_format;
 *       FramedContent content; // with content_type == commit
 *       opaque signature<V>;
 *   } ConfirmedTranscriptHashInput;
 *
 *   struct {
 *       MAC confirmation_tag;
 *   } InterimTranscriptHashInput;
 *
 * The pair of hashes is a value (mls_transcript); updating it writes a new
 * value and leaves the old one alone (STYLE.md §4).  The confirmed hash is
 * computed first, because the Commit's confirmation tag (key_schedule.h) is a
 * MAC over it and the interim hash covers that tag.
 */
#ifndef MG_HEADER_MLS_TRANSCRIPT_H
#define MG_HEADER_MLS_TRANSCRIPT_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "common/codec.h"
#include "crypto/suite.h"
#include "mls/msg_framing.h"
#include "mlsgate/err.h"

typedef struct mls_transcript {
  size_t confirmed_len; /* 0 (epoch 0) or Hash.Nh */
  size_t interim_len;
  uint8_t confirmed[MG_MAX_HASH_LEN];
  uint8_t interim[MG_MAX_HASH_LEN];
} mls_transcript;

/* mls_transcript_init sets both hashes to the empty string (epoch 0). */
void mls_transcript_init(mls_transcript *t);

/* mls_transcript_confirmed computes confirmed_transcript_hash_[epoch] into
 * |out| (digest_len bytes; |out_cap| at least that) from
 * |interim_before| (interim_transcript_hash_[epoch-1], possibly empty) and
 * the serialized ConfirmedTranscriptHashInput |input|.  Errors:
 * MG_ERR_INVALID_ARG, MG_ERR_BUFFER_TOO_SMALL, MG_ERR_NOMEM,
 * MG_ERR_CRYPTO_LIB. */
MG_MUST_USE int mls_transcript_confirmed(const mls_suite *suite, uint8_t *out,
                                         size_t out_cap,
                                         const uint8_t *interim_before,
                                         size_t interim_before_len,
                                         const uint8_t *input,
                                         size_t input_len);

/* mls_transcript_interim computes interim_transcript_hash_[epoch] into |out|
 * (digest_len bytes) from |confirmed| and the confirmation tag (encoded as
 * InterimTranscriptHashInput, i.e. `opaque confirmation_tag<V>`).  Errors as
 * mls_transcript_confirmed, MG_ERR_LENGTH. */
MG_MUST_USE int mls_transcript_interim(const mls_suite *suite, uint8_t *out,
                                       size_t out_cap,
                                       const uint8_t *confirmed,
                                       size_t confirmed_len,
                                       const uint8_t *confirmation_tag,
                                       size_t confirmation_tag_len);

/* mls_transcript_next computes the transcript of the next epoch from |cur|
 * (left untouched), the serialized ConfirmedTranscriptHashInput of the
 * Commit and its confirmation tag, writing it to |out| (which may not alias
 * |cur|).  Errors as mls_transcript_interim; |out| is zeroed on error. */
MG_MUST_USE int mls_transcript_next(const mls_suite *suite,
                                    mls_transcript *out,
                                    const mls_transcript *cur,
                                    const uint8_t *confirmed_input,
                                    size_t confirmed_input_len,
                                    const uint8_t *confirmation_tag,
                                    size_t confirmation_tag_len);

/* mls_transcript_from_confirmed sets |out| from a known confirmed hash and
 * the confirmation tag that goes with it (a new member: both come from the
 * GroupInfo, RFC 9420 §12.4.3.1).  Errors as mls_transcript_interim,
 * MG_ERR_PARAM (confirmed hash longer than MG_MAX_HASH_LEN). */
MG_MUST_USE int mls_transcript_from_confirmed(const mls_suite *suite,
                                              mls_transcript *out,
                                              const uint8_t *confirmed,
                                              size_t confirmed_len,
                                              const uint8_t *confirmation_tag,
                                              size_t confirmation_tag_len);

/* mls_confirmed_transcript_input_encode writes the
 * ConfirmedTranscriptHashInput of |ac| (wire_format, content, signature).
 * The content must be a commit: MG_ERR_CONTENT_TYPE otherwise.  Errors:
 * MG_ERR_INVALID_ARG, MG_ERR_CONTENT_TYPE, writer errors. */
MG_MUST_USE int mls_confirmed_transcript_input_encode(
    mg_writer *w, const mls_authenticated_content *ac);

/* mls_transcript_next_commit is mls_transcript_next for the Commit |ac|:
 * its ConfirmedTranscriptHashInput and its auth.confirmation_tag.  Errors
 * as mls_transcript_next and mls_confirmed_transcript_input_encode. */
MG_MUST_USE int mls_transcript_next_commit(const mls_suite *suite,
                                           mls_transcript *out,
                                           const mls_transcript *cur,
                                           const mls_authenticated_content *ac);

#endif
