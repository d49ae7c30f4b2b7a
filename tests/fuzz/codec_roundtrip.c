/*
 * libFuzzer target for the codec (src/common/codec.c): decode, re-encode,
 * compare (the BoringSSL fuzz/der_roundtrip.cc property, STYLE.md §10).
 *
 * The input is read as a sequence of tagged fields built from the codec's
 * primitives (RFC 9420 §2.1):
 *
 *   tag 0  u8            tag 5  opaque<V>            (mg_read_vec)
 *   tag 1  u16           tag 6  optional<Field>      (presence octet)
 *   tag 2  u32           tag 7  Field<V>: a nested vector holding a
 *   tag 3  u64                  sequence of fields (vec_begin/vec_end)
 *   tag 4  varint        tag 8  u8 n, then n bytes   (mg_read_copy)
 *
 * Any other tag, a truncated field, a bad varint or optional, or nesting
 * deeper than MAX_DEPTH rejects the input (that is fine).  An input that
 * decodes completely is re-encoded from the decoded values, once with a
 * growable writer whose maximum is exactly the input size and once into a
 * fixed buffer of that size, and both must reproduce the input byte for
 * byte.  Since the codec rejects every non-canonical form (0b11 prefix,
 * non-minimal varint, presence octet other than 0/1), any difference is a
 * bug.  In addition, every failed read must leave its reader unchanged.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/guard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
  TAG_U8 = 0,
  TAG_U16,
  TAG_U32,
  TAG_U64,
  TAG_VARINT,
  TAG_OPAQUE,
  TAG_OPTIONAL,
  TAG_NESTED,
  TAG_FIXED
};

#define MAX_DEPTH 32

/* A read that failed must not have moved the reader (codec.h contract). */
static int checked(int rc, const mg_reader *before, const mg_reader *after) {
  if (rc < 0 &&
      (before->data != after->data || before->len != after->len)) {
    abort();
  }
  return rc;
}

static int transcode_seq(mg_reader *r, mg_writer *w, unsigned depth);

static int transcode_field(mg_reader *r, mg_writer *w, unsigned depth) {
  mg_reader saved;
  uint8_t tag = 0;

  if (depth > MAX_DEPTH) {
    return MG_ERR_LENGTH;
  }
  MG_GUARD(mg_read_u8(r, &tag));
  MG_GUARD(mg_write_u8(w, tag));
  saved = *r;
  switch (tag) {
  case TAG_U8: {
    uint8_t v = 0;
    MG_GUARD(checked(mg_read_u8(r, &v), &saved, r));
    return mg_write_u8(w, v);
  }
  case TAG_U16: {
    uint16_t v = 0;
    MG_GUARD(checked(mg_read_u16(r, &v), &saved, r));
    return mg_write_u16(w, v);
  }
  case TAG_U32: {
    uint32_t v = 0;
    MG_GUARD(checked(mg_read_u32(r, &v), &saved, r));
    return mg_write_u32(w, v);
  }
  case TAG_U64: {
    uint64_t v = 0;
    MG_GUARD(checked(mg_read_u64(r, &v), &saved, r));
    return mg_write_u64(w, v);
  }
  case TAG_VARINT: {
    uint32_t v = 0;
    MG_GUARD(checked(mg_read_varint(r, &v), &saved, r));
    return mg_write_varint(w, v);
  }
  case TAG_OPAQUE: {
    mg_reader body;
    MG_GUARD(checked(mg_read_vec(r, &body), &saved, r));
    return mg_write_opaque(w, mg_reader_data(&body), mg_reader_len(&body));
  }
  case TAG_OPTIONAL: {
    int present = 0;
    MG_GUARD(checked(mg_read_optional(r, &present), &saved, r));
    MG_GUARD(mg_write_optional(w, present));
    if (!present) {
      return 0;
    }
    return transcode_field(r, w, depth + 1);
  }
  case TAG_NESTED: {
    mg_reader body;
    size_t mark = 0;
    MG_GUARD(checked(mg_read_vec(r, &body), &saved, r));
    MG_GUARD(mg_write_vec_begin(w, &mark));
    MG_GUARD(transcode_seq(&body, w, depth + 1));
    return mg_write_vec_end(w, mark);
  }
  case TAG_FIXED: {
    uint8_t n = 0;
    uint8_t buf[255];
    mg_reader child;
    MG_GUARD(checked(mg_read_u8(r, &n), &saved, r));
    saved = *r;
    /* Alternate between the copying and the borrowing reads. */
    if (n % 2 == 0) {
      MG_GUARD(checked(mg_read_copy(r, buf, n), &saved, r));
    } else {
      MG_GUARD(checked(mg_read_fixed(r, &child, n), &saved, r));
      memcpy(buf, mg_reader_data(&child), n);
    }
    MG_GUARD(mg_write_u8(w, n));
    return mg_write_bytes(w, buf, n);
  }
  default:
    return MG_ERR_DECODE;
  }
}

static int transcode_seq(mg_reader *r, mg_writer *w, unsigned depth) {
  while (mg_reader_len(r) > 0) {
    MG_GUARD(transcode_field(r, w, depth));
  }
  return mg_reader_done(r);
}

/* Transcodes |data| into |w|; aborts if the result is wrong.  The output of
 * a (partial) transcoding never exceeds the input consumed, so the writer
 * itself must never fail. */
static void roundtrip(mg_writer *w, const uint8_t *data, size_t size) {
  mg_reader r;
  mg_reader_init(&r, data, size);
  int rc = transcode_seq(&r, w, 0);
  if (mg_writer_error(w) != 0) {
    abort();
  }
  if (rc == 0 && (mg_writer_len(w) != size ||
                  (size > 0 && memcmp(mg_writer_data(w), data, size) != 0))) {
    abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mg_writer w;
  uint8_t *fixed = NULL;

  /* Growable, starting empty so that growth and back-patching shifts are
   * exercised, with the input size as the maximum. */
  if (mg_writer_init(&w, 0, size > 0 ? size : 1) != 0) {
    return 0;
  }
  roundtrip(&w, data, size);
  mg_writer_cleanup(&w);

  /* Fixed buffer of exactly the input size. */
  fixed = malloc(size > 0 ? size : 1);
  if (fixed == NULL) {
    return 0;
  }
  mg_writer_init_fixed(&w, fixed, size);
  roundtrip(&w, data, size);
  mg_writer_cleanup(&w);
  free(fixed);
  return 0;
}
