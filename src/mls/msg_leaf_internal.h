/*
 * Helpers shared by the leaf-side message codecs (the msg_*.c files of
 * msg_leaf.h).  Not for use outside src/mls.
 */
#ifndef MG_HEADER_MLS_MSG_LEAF_INTERNAL_H
#define MG_HEADER_MLS_MSG_LEAF_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "common/codec.h"
#include "mls/bytes.h"
#include "mls/msg_leaf.h"
#include "mlsgate/err.h"

/* mls_u16_list_decode reads `uint16 x<V>`.  Errors: decode errors (an odd
 * body length is MG_ERR_TRUNCATED), MG_ERR_NOMEM. */
MG_MUST_USE int mls_u16_list_decode(mg_reader *r, mls_u16_list *out);

/* mls_u16_list_encode writes `uint16 x<V>`. */
MG_MUST_USE int mls_u16_list_encode(mg_writer *w, const mls_u16_list *in);

/* mls_leaf_serialize_with encodes |in| with |enc| into a new heap buffer
 * (free()).  Errors: those of |enc|, MG_ERR_NOMEM. */
MG_MUST_USE int mls_leaf_serialize_with(mls_elem_encode_fn enc,
                                        const void *in, uint8_t **out,
                                        size_t *out_len);

/* mls_leaf_copy_with deep-copies |in| into the zeroed-on-entry |out| by
 * encoding it with |enc| and decoding the bytes with |dec| (which must use
 * them up).  |out| owns nothing on failure. */
MG_MUST_USE int mls_leaf_copy_with(mls_elem_encode_fn enc,
                                   mls_elem_decode_fn dec, const void *in,
                                   void *out);

#endif
