/*
 * Owned byte strings and vectors of structs for the MLS message codecs.
 *
 * Decoded MLS structures own their bytes (a group state outlives the message
 * it came from).  Every allocation here is sized by a length that has already
 * been checked against the input that holds the bytes, so no allocation is
 * sized by an unchecked length.  A failed decode frees what it allocated and
 * leaves the reader unchanged.
 */
#ifndef MG_HEADER_MLS_BYTES_H
#define MG_HEADER_MLS_BYTES_H

#include <stddef.h>
#include <stdint.h>

#include "common/codec.h"
#include "mlsgate/err.h"

typedef struct mls_bytes {
  uint8_t *data; /* owned; NULL when len == 0 */
  size_t len;
} mls_bytes;

/* mls_bytes_read decodes `opaque x<V>` into an owned copy.
 * Errors: those of mg_read_vec, MG_ERR_NOMEM. */
MG_MUST_USE int mls_bytes_read(mg_reader *r, mls_bytes *out);

/* mls_bytes_read_fixed copies exactly |n| bytes (a fixed-size field). */
MG_MUST_USE int mls_bytes_read_fixed(mg_reader *r, mls_bytes *out, size_t n);

/* mls_bytes_write encodes |b| as `opaque x<V>`. */
MG_MUST_USE int mls_bytes_write(mg_writer *w, const mls_bytes *b);

/* mls_bytes_dup copies |n| bytes of |p| into |out|.  Errors: MG_ERR_NOMEM. */
MG_MUST_USE int mls_bytes_dup(mls_bytes *out, const uint8_t *p, size_t n);

/* mls_bytes_copy deep-copies |in| into |out|. */
MG_MUST_USE int mls_bytes_copy(mls_bytes *out, const mls_bytes *in);

/* mls_bytes_eq returns 1 if equal (not constant time: public data only). */
int mls_bytes_eq(const mls_bytes *a, const mls_bytes *b);

/* mls_bytes_cleanup frees public bytes; mls_bytes_cleanup_secret wipes them
 * first.  Both leave |b| empty and accept an empty |b|. */
void mls_bytes_cleanup(mls_bytes *b);
void mls_bytes_cleanup_secret(mls_bytes *b);

/* Vectors of structs `T items<V>` (RFC 9420 §2.1.2): an array of |*out_n|
 * elements of |elem_size| bytes each. */
typedef int (*mls_elem_decode_fn)(mg_reader *r, void *elem);
typedef int (*mls_elem_encode_fn)(mg_writer *w, const void *elem);
typedef void (*mls_elem_cleanup_fn)(void *elem);

/* mls_vec_decode reads a length-prefixed vector and decodes elements with
 * |dec| until the body is used up (an element that does not end exactly at
 * the body's end is an error).  On failure every decoded element is cleaned
 * up, nothing is returned and |r| is unchanged.  |max_n| bounds the count
 * (MG_ERR_LENGTH beyond it; 0 = no bound besides the body length).
 * |dec| receives a zeroed element and must leave it cleaned up (owning
 * nothing) when it fails; |cleanup| must accept a zeroed element.
 * Errors: decode errors, MG_ERR_NOMEM, MG_ERR_LENGTH. */
MG_MUST_USE int mls_vec_decode(mg_reader *r, void **out, size_t *out_n,
                               size_t elem_size, size_t max_n,
                               mls_elem_decode_fn dec,
                               mls_elem_cleanup_fn cleanup);

/* mls_vec_encode writes the elements as a length-prefixed vector. */
MG_MUST_USE int mls_vec_encode(mg_writer *w, const void *arr, size_t n,
                               size_t elem_size, mls_elem_encode_fn enc);

/* mls_vec_free cleans up |n| elements and frees the array. */
void mls_vec_free(void *arr, size_t n, size_t elem_size,
                  mls_elem_cleanup_fn cleanup);

#endif
