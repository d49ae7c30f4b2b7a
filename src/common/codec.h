/*
 * Codec for the TLS presentation language as used by MLS (RFC 9420 §2.1).
 *
 * mg_reader follows BoringSSL's CBS: it borrows bytes and never owns them.
 * Every read goes through one bounds-checked primitive, and a failed read
 * leaves the reader unchanged.  A length-prefixed field becomes a child
 * reader that the caller must consume completely (mg_reader_done).
 *
 * mg_writer follows BoringSSL's CBB: a growable buffer with a maximum size
 * and a sticky error.  Once a write fails every later write fails with the
 * same code, so a serializer may check only once at the end.
 * mg_writer_zero/mg_writer_cleanup are always safe.
 *
 * MLS variable-length integers (RFC 9420 §2.1.2) are 1, 2 or 4 bytes with a
 * 2-bit length prefix (00, 01, 10); the prefix 0b11 is invalid, as is any
 * encoding that is not the shortest for its value.  The maximum is 2^30-1.
 */
#ifndef MG_HEADER_COMMON_CODEC_H
#define MG_HEADER_COMMON_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "mlsgate/err.h"

#define MG_VARINT_MAX ((uint32_t)0x3fffffff)

typedef struct mg_reader {
  const uint8_t *data;
  size_t len;
} mg_reader;

/* mg_reader_init points |r| at |len| bytes of |data| (borrowed). */
void mg_reader_init(mg_reader *r, const uint8_t *data, size_t len);

static inline size_t mg_reader_len(const mg_reader *r) { return r->len; }
static inline const uint8_t *mg_reader_data(const mg_reader *r) { return r->data; }

/* Fixed-width big-endian integers.  Errors: MG_ERR_TRUNCATED. */
MG_MUST_USE int mg_read_u8(mg_reader *r, uint8_t *out);
MG_MUST_USE int mg_read_u16(mg_reader *r, uint16_t *out);
MG_MUST_USE int mg_read_u32(mg_reader *r, uint32_t *out);
MG_MUST_USE int mg_read_u64(mg_reader *r, uint64_t *out);

/* mg_read_bytes borrows the next |n| bytes into |*out|.  MG_ERR_TRUNCATED. */
MG_MUST_USE int mg_read_bytes(mg_reader *r, const uint8_t **out, size_t n);

/* mg_read_copy copies the next |n| bytes into |out|.  MG_ERR_TRUNCATED. */
MG_MUST_USE int mg_read_copy(mg_reader *r, uint8_t *out, size_t n);

/* mg_read_fixed makes |*out| a child reader over the next |n| bytes. */
MG_MUST_USE int mg_read_fixed(mg_reader *r, mg_reader *out, size_t n);

/* mg_read_varint reads an MLS variable-length integer.
 * Errors: MG_ERR_TRUNCATED, MG_ERR_VARINT_PREFIX, MG_ERR_VARINT_NONMINIMAL. */
MG_MUST_USE int mg_read_varint(mg_reader *r, uint32_t *out);

/* mg_read_vec reads `opaque x<V>` (varint length, then body) and makes
 * |*out| a child reader over the body.  Errors: those of mg_read_varint,
 * MG_ERR_TRUNCATED when the body is shorter than its length. */
MG_MUST_USE int mg_read_vec(mg_reader *r, mg_reader *out);

/* mg_read_vec_max is mg_read_vec with an upper bound |max| on the body
 * length; a longer body is MG_ERR_LENGTH. */
MG_MUST_USE int mg_read_vec_max(mg_reader *r, mg_reader *out, size_t max);

/* mg_read_optional reads the presence octet of `optional<T>`: |*present| is
 * set to 0 or 1.  Any other value is MG_ERR_OPTIONAL.  The caller then reads
 * T if present (and should restore a saved copy of the reader on failure). */
MG_MUST_USE int mg_read_optional(mg_reader *r, int *present);

/* mg_reader_done returns 0 if |r| is empty, else MG_ERR_TRAILING. */
MG_MUST_USE int mg_reader_done(const mg_reader *r);

/* ------------------------------------------------------------------ */

typedef struct mg_writer {
  uint8_t *buf;  /* owned unless |fixed| */
  size_t len;    /* bytes written */
  size_t cap;    /* allocated bytes */
  size_t max;    /* maximum total size */
  int err;       /* sticky: first error, 0 if none */
  int fixed;     /* 1: |buf| is caller-provided and never reallocated */
} mg_writer;

/* The default maximum size of a writer (16 MiB). */
#define MG_WRITER_DEFAULT_MAX ((size_t)16 * 1024 * 1024)

/* mg_writer_zero puts |w| in the zero state: cleanup is safe, writes fail
 * with MG_ERR_INVALID_ARG until mg_writer_init. */
void mg_writer_zero(mg_writer *w);

/* mg_writer_init prepares a growable writer with |initial_cap| bytes
 * preallocated and at most |max| bytes in total (0 selects
 * MG_WRITER_DEFAULT_MAX).  Errors: MG_ERR_NOMEM. */
MG_MUST_USE int mg_writer_init(mg_writer *w, size_t initial_cap, size_t max);

/* mg_writer_init_fixed writes into caller memory |buf| of |cap| bytes;
 * writing past it is MG_ERR_BUFFER_TOO_SMALL.  No allocation ever happens. */
void mg_writer_init_fixed(mg_writer *w, uint8_t *buf, size_t cap);

/* mg_writer_cleanup zeroizes and frees an owned buffer; puts |w| in the zero
 * state.  A fixed buffer is zeroized up to len but not freed. */
void mg_writer_cleanup(mg_writer *w);

/* mg_writer_error returns the sticky error (0 if none). */
static inline int mg_writer_error(const mg_writer *w) { return w->err; }
static inline size_t mg_writer_len(const mg_writer *w) { return w->len; }
static inline const uint8_t *mg_writer_data(const mg_writer *w) { return w->buf; }

/* Writes.  Errors: MG_ERR_NOMEM, MG_ERR_BUFFER_TOO_SMALL (maximum reached),
 * MG_ERR_LENGTH (value does not fit the encoding), or the sticky error. */
MG_MUST_USE int mg_write_u8(mg_writer *w, uint8_t v);
MG_MUST_USE int mg_write_u16(mg_writer *w, uint16_t v);
MG_MUST_USE int mg_write_u32(mg_writer *w, uint32_t v);
MG_MUST_USE int mg_write_u64(mg_writer *w, uint64_t v);
MG_MUST_USE int mg_write_bytes(mg_writer *w, const uint8_t *p, size_t n);
MG_MUST_USE int mg_write_varint(mg_writer *w, uint64_t v);
/* `opaque x<V>`: varint length then bytes. */
MG_MUST_USE int mg_write_opaque(mg_writer *w, const uint8_t *p, size_t n);
/* optional<T> presence octet. */
MG_MUST_USE int mg_write_optional(mg_writer *w, int present);

/* Vector whose length is known only after its body is written:
 *   size_t mark; mg_write_vec_begin(w, &mark); ...body...; mg_write_vec_end(w, mark);
 * begin reserves one length byte; end back-patches the varint, shifting the
 * body once if it needs a 2- or 4-byte header.  Vectors may nest. */
MG_MUST_USE int mg_write_vec_begin(mg_writer *w, size_t *out_mark);
MG_MUST_USE int mg_write_vec_end(mg_writer *w, size_t mark);

/* mg_writer_finish hands the written bytes to the caller (to free with
 * free(), or mg_free_secret if they are secret) and zeroes |w|.  For a fixed
 * writer it returns the caller's buffer.  Returns the sticky error if set,
 * then nothing is transferred and |w| is cleaned up. */
MG_MUST_USE int mg_writer_finish(mg_writer *w, uint8_t **out, size_t *out_len);

#endif
