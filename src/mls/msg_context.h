/*
 * GroupContext (RFC 9420 §8.1), PreSharedKeyID and PSKLabel (RFC 9420 §8.4).
 *
 * Encoders and decoders follow the message-codec conventions: a decoder
 * leaves the reader unchanged and |out| owning nothing when it fails; a
 * cleanup function accepts a zeroed struct.
 */
#ifndef MG_HEADER_MLS_MSG_CONTEXT_H
#define MG_HEADER_MLS_MSG_CONTEXT_H

#include <stddef.h>
#include <stdint.h>

#include "common/codec.h"
#include "mls/bytes.h"
#include "mls/msg_leaf.h" /* mls_extension_list */
#include "mlsgate/err.h"

/* RFC 9420 §8.1
 *   struct {
 *       ProtocolVersion version = mls10;
 *       CipherSuite cipher_suite;
 *       opaque group_id<V>;
 *       uint64 epoch;
 *       opaque tree_hash<V>;
 *       opaque confirmed_transcript_hash<V>;
 *       Extension extensions<V>;
 *   } GroupContext;
 */
typedef struct mls_group_context {
  uint16_t version;
  uint16_t cipher_suite;
  mls_bytes group_id;
  uint64_t epoch;
  mls_bytes tree_hash;
  mls_bytes confirmed_transcript_hash;
  mls_extension_list extensions;
} mls_group_context;

/* mls_group_context_decode reads a GroupContext.  A version other than mls10
 * is MG_ERR_VERSION.  The cipher suite is not checked here (the caller knows
 * which suites it supports).  Errors: decode errors, MG_ERR_VERSION, the
 * errors of the extension list decoder (MG_ERR_DUPLICATE_EXTENSION, ...),
 * MG_ERR_NOMEM. */
MG_MUST_USE int mls_group_context_decode(mg_reader *r, mls_group_context *out);

/* mls_group_context_encode writes |in|.  Errors: writer errors,
 * MG_ERR_INVALID_ARG. */
MG_MUST_USE int mls_group_context_encode(mg_writer *w,
                                         const mls_group_context *in);

/* mls_group_context_serialize encodes |in| into a new heap buffer (free()).
 * Errors: as mls_group_context_encode, MG_ERR_NOMEM. */
MG_MUST_USE int mls_group_context_serialize(const mls_group_context *in,
                                            uint8_t **out, size_t *out_len);

/* mls_group_context_copy deep-copies |in| into |out| (which owns nothing on
 * failure).  Errors: MG_ERR_NOMEM, MG_ERR_INVALID_ARG. */
MG_MUST_USE int mls_group_context_copy(mls_group_context *out,
                                       const mls_group_context *in);

/* mls_group_context_cleanup frees what |x| owns and zeroes it. */
void mls_group_context_cleanup(mls_group_context *x);

/* RFC 9420 §8.4
 *   struct {
 *     PSKType psktype;
 *     select (PreSharedKeyID.psktype) {
 *       case external:
 *         opaque psk_id<V>;
 *       case resumption:
 *         ResumptionPSKUsage usage;
 *         opaque psk_group_id<V>;
 *         uint64 psk_epoch;
 *     };
 *     opaque psk_nonce<V>;
 *   } PreSharedKeyID;
 *
 * psktype is MLS_PSK_EXTERNAL or MLS_PSK_RESUMPTION (mls/constants.h); only
 * the fields of that type are meaningful (the others stay empty/zero). */
typedef struct mls_psk_id {
  uint8_t psktype;
  mls_bytes psk_id;       /* external */
  uint8_t usage;          /* resumption: MLS_RESUMPTION_* */
  mls_bytes psk_group_id; /* resumption */
  uint64_t psk_epoch;     /* resumption */
  mls_bytes psk_nonce;
} mls_psk_id;

/* mls_psk_id_decode reads a PreSharedKeyID.  A psktype other than external
 * or resumption, or a resumption usage other than application, reinit or
 * branch, is MG_ERR_PSK.  (The psk_nonce length, which must be KDF.Nh, is
 * checked where the suite is known: mls_psk_secret.)  Errors: decode
 * errors, MG_ERR_PSK, MG_ERR_NOMEM. */
MG_MUST_USE int mls_psk_id_decode(mg_reader *r, mls_psk_id *out);

/* mls_psk_id_encode writes |in|.  Errors: writer errors, MG_ERR_PSK (bad
 * psktype/usage), MG_ERR_INVALID_ARG. */
MG_MUST_USE int mls_psk_id_encode(mg_writer *w, const mls_psk_id *in);

/* mls_psk_id_copy deep-copies |in| into |out|.  Errors: MG_ERR_NOMEM,
 * MG_ERR_INVALID_ARG. */
MG_MUST_USE int mls_psk_id_copy(mls_psk_id *out, const mls_psk_id *in);

/* mls_psk_id_eq returns 1 if |a| and |b| encode identically. */
int mls_psk_id_eq(const mls_psk_id *a, const mls_psk_id *b);

/* mls_psk_id_cleanup frees what |x| owns and zeroes it. */
void mls_psk_id_cleanup(mls_psk_id *x);

/* RFC 9420 §8.4
 *   struct {
 *       PreSharedKeyID id;
 *       uint16 index;
 *       uint16 count;
 *   } PSKLabel;
 *
 * mls_psk_label_encode writes the PSKLabel of |id| at position |index| of
 * |count| PSKs.  Errors: as mls_psk_id_encode. */
MG_MUST_USE int mls_psk_label_encode(mg_writer *w, const mls_psk_id *id,
                                     uint16_t index, uint16_t count);

#endif
