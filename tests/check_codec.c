/*
 * Unit tests for the codec (src/common/codec.h; RFC 9420 §2.1).
 *
 * Negative tests in the style of s2n tests/unit/s2n_stuffer_test.c: every
 * read is also run on short input, and every failed read must leave the
 * reader exactly as it was (same data pointer, same length).
 */
#include "config.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/guard.h"
#include "mlsgate/err.h"

/* The NOMEM tests ask malloc for absurd sizes; AddressSanitizer must return
 * NULL for them as plain malloc does instead of aborting. */
const char *__asan_default_options(void);
__attribute__((visibility("default"))) const char *
__asan_default_options(void) {
  return "allocator_may_return_null=1";
}

/* Asserts that reader |r| still points at |d0| with |l0| bytes. */
#define ASSERT_READER(r, d0, l0)                                               \
  do {                                                                         \
    ck_assert_ptr_eq((r).data, (d0));                                          \
    ck_assert_uint_eq((r).len, (l0));                                          \
  } while (0)

static const uint8_t seq[] = {0x01, 0x02, 0x03, 0x04, 0x05,
                              0x06, 0x07, 0x08, 0x09, 0xfe};

/* ------------------------------------------------------ fixed-width reads */

START_TEST(test_read_fixed_width_values) {
  mg_reader r;
  uint8_t a = 0;
  uint16_t b = 0;
  uint32_t c = 0;
  uint64_t d = 0;

  mg_reader_init(&r, seq, sizeof(seq));
  ck_assert_int_eq(mg_read_u8(&r, &a), 0);
  ck_assert_uint_eq(a, 0x01);
  ASSERT_READER(r, seq + 1, sizeof(seq) - 1);

  mg_reader_init(&r, seq, sizeof(seq));
  ck_assert_int_eq(mg_read_u16(&r, &b), 0);
  ck_assert_uint_eq(b, 0x0102);
  ASSERT_READER(r, seq + 2, sizeof(seq) - 2);

  mg_reader_init(&r, seq, sizeof(seq));
  ck_assert_int_eq(mg_read_u32(&r, &c), 0);
  ck_assert_uint_eq(c, 0x01020304);
  ASSERT_READER(r, seq + 4, sizeof(seq) - 4);

  mg_reader_init(&r, seq, sizeof(seq));
  ck_assert_int_eq(mg_read_u64(&r, &d), 0);
  ck_assert(d == UINT64_C(0x0102030405060708));
  ASSERT_READER(r, seq + 8, 2);

  /* High bit set: no sign extension anywhere. */
  static const uint8_t ff[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  mg_reader_init(&r, ff, 8);
  ck_assert_int_eq(mg_read_u16(&r, &b), 0);
  ck_assert_uint_eq(b, 0xffff);
  ck_assert_int_eq(mg_read_u8(&r, &a), 0);
  ck_assert_uint_eq(a, 0xff);
  mg_reader_init(&r, ff, 8);
  ck_assert_int_eq(mg_read_u32(&r, &c), 0);
  ck_assert_uint_eq(c, 0xffffffffu);
  mg_reader_init(&r, ff, 8);
  ck_assert_int_eq(mg_read_u64(&r, &d), 0);
  ck_assert(d == UINT64_MAX);
  ck_assert_int_eq(mg_reader_done(&r), 0);
}
END_TEST

START_TEST(test_read_fixed_width_truncated) {
  mg_reader r;
  uint8_t a = 0xaa;
  uint16_t b = 0xaaaa;
  uint32_t c = 0xaaaaaaaau;
  uint64_t d = UINT64_C(0xaaaaaaaaaaaaaaaa);

  /* Every length shorter than the field, including zero. */
  for (size_t n = 0; n < 8; n++) {
    mg_reader_init(&r, seq, n);
    if (n < 1) {
      ck_assert_int_eq(mg_read_u8(&r, &a), MG_ERR_TRUNCATED);
      ASSERT_READER(r, seq, n);
    }
    if (n < 2) {
      ck_assert_int_eq(mg_read_u16(&r, &b), MG_ERR_TRUNCATED);
      ASSERT_READER(r, seq, n);
    }
    if (n < 4) {
      ck_assert_int_eq(mg_read_u32(&r, &c), MG_ERR_TRUNCATED);
      ASSERT_READER(r, seq, n);
    }
    ck_assert_int_eq(mg_read_u64(&r, &d), MG_ERR_TRUNCATED);
    ASSERT_READER(r, seq, n);
  }
  /* Outputs are not written on failure. */
  ck_assert_uint_eq(a, 0xaa);
  ck_assert_uint_eq(b, 0xaaaa);
  ck_assert_uint_eq(c, 0xaaaaaaaau);
  ck_assert(d == UINT64_C(0xaaaaaaaaaaaaaaaa));

  /* A reader over NULL is empty. */
  mg_reader_init(&r, NULL, 5);
  ck_assert_uint_eq(r.len, 0);
  ck_assert_int_eq(mg_read_u8(&r, &a), MG_ERR_TRUNCATED);
  ck_assert_int_eq(mg_reader_done(&r), 0);
}
END_TEST

START_TEST(test_read_bytes_copy_fixed) {
  mg_reader r;
  mg_reader child;
  const uint8_t *p = NULL;
  uint8_t buf[4] = {0};

  mg_reader_init(&r, seq, sizeof(seq));
  ck_assert_int_eq(mg_read_bytes(&r, &p, 3), 0);
  ck_assert_ptr_eq(p, seq);
  ASSERT_READER(r, seq + 3, sizeof(seq) - 3);
  ck_assert_int_eq(mg_read_copy(&r, buf, 4), 0);
  ck_assert_mem_eq(buf, seq + 3, 4);
  ck_assert_int_eq(mg_read_fixed(&r, &child, 2), 0);
  ASSERT_READER(child, seq + 7, 2);
  ASSERT_READER(r, seq + 9, 1);
  /* Zero-length reads succeed and consume nothing. */
  ck_assert_int_eq(mg_read_bytes(&r, &p, 0), 0);
  ck_assert_int_eq(mg_read_copy(&r, NULL, 0), 0);
  ck_assert_int_eq(mg_read_fixed(&r, &child, 0), 0);
  ck_assert_uint_eq(child.len, 0);
  ASSERT_READER(r, seq + 9, 1);

  /* Truncation: asking for one byte more than is left. */
  p = NULL;
  memset(buf, 0x55, sizeof(buf));
  ck_assert_int_eq(mg_read_bytes(&r, &p, 2), MG_ERR_TRUNCATED);
  ck_assert_ptr_null(p);
  ck_assert_int_eq(mg_read_copy(&r, buf, 2), MG_ERR_TRUNCATED);
  ck_assert_uint_eq(buf[0], 0x55);
  ck_assert_int_eq(mg_read_fixed(&r, &child, 2), MG_ERR_TRUNCATED);
  ck_assert_int_eq(mg_read_bytes(&r, &p, SIZE_MAX), MG_ERR_TRUNCATED);
  ASSERT_READER(r, seq + 9, 1);
  ck_assert_int_eq(mg_reader_done(&r), MG_ERR_TRAILING);
  ck_assert_int_eq(mg_read_copy(&r, buf, 1), 0);
  ck_assert_uint_eq(buf[0], 0xfe);
  ck_assert_int_eq(mg_reader_done(&r), 0);

  /* Invalid arguments fail without touching the reader. */
  mg_reader_init(&r, seq, 2);
  ck_assert_int_eq(mg_read_u8(&r, NULL), MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mg_read_bytes(&r, NULL, 1), MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mg_read_copy(&r, NULL, 1), MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mg_read_varint(&r, NULL), MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mg_read_vec(&r, NULL), MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mg_read_optional(&r, NULL), MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mg_reader_done(NULL), MG_ERR_INVALID_ARG);
  ASSERT_READER(r, seq, 2);
}
END_TEST

/* ----------------------------------------------------------------- varint */

typedef struct {
  uint8_t enc[4];
  size_t len;
  uint32_t value;
} varint_case;

/* RFC 9420 §2.1.2 boundaries with their exact encodings. */
static const varint_case varint_ok[] = {
    {{0x00}, 1, 0},
    {{0x01}, 1, 1},
    {{0x25}, 1, 37},
    {{0x3f}, 1, 63},
    {{0x40, 0x40}, 2, 64},
    {{0x7b, 0xbd}, 2, 15293},
    {{0x7f, 0xff}, 2, 16383},
    {{0x80, 0x00, 0x40, 0x00}, 4, 16384},
    {{0x9d, 0x7f, 0x3e, 0x7d}, 4, 494878333},
    {{0xbf, 0xff, 0xff, 0xff}, 4, 0x3fffffff},
};

START_TEST(test_varint_valid) {
  for (size_t i = 0; i < MG_ARRAY_LEN(varint_ok); i++) {
    const varint_case *c = &varint_ok[i];
    uint8_t buf[5];
    mg_reader r;
    uint32_t v = 0;

    /* With one extra byte after it, which must be left alone. */
    memcpy(buf, c->enc, c->len);
    buf[c->len] = 0xee;
    mg_reader_init(&r, buf, c->len + 1);
    ck_assert_int_eq(mg_read_varint(&r, &v), 0);
    ck_assert_uint_eq(v, c->value);
    ASSERT_READER(r, buf + c->len, 1);

    /* The writer produces exactly the same bytes. */
    mg_writer w;
    ck_assert_int_eq(mg_writer_init(&w, 0, 0), 0);
    ck_assert_int_eq(mg_write_varint(&w, c->value), 0);
    ck_assert_uint_eq(mg_writer_len(&w), c->len);
    ck_assert_mem_eq(mg_writer_data(&w), c->enc, c->len);
    mg_writer_cleanup(&w);
  }
}
END_TEST

START_TEST(test_varint_prefix_rejected) {
  /* Every first byte with the 0b11 prefix, with enough bytes following for
   * any length, is rejected without consuming anything. */
  for (unsigned b = 0xc0; b <= 0xff; b++) {
    uint8_t buf[8] = {(uint8_t)b, 0, 0, 0, 0, 0, 0, 0x01};
    mg_reader r;
    uint32_t v = 0x12345;
    mg_reader_init(&r, buf, sizeof(buf));
    ck_assert_int_eq(mg_read_varint(&r, &v), MG_ERR_VARINT_PREFIX);
    ASSERT_READER(r, buf, sizeof(buf));
    ck_assert_uint_eq(v, 0x12345);
    /* Even alone. */
    mg_reader_init(&r, buf, 1);
    ck_assert_int_eq(mg_read_varint(&r, &v), MG_ERR_VARINT_PREFIX);
    ASSERT_READER(r, buf, 1);
  }
}
END_TEST

START_TEST(test_varint_nonminimal_rejected) {
  mg_reader r;
  uint32_t v = 0;
  uint8_t buf[4];

  /* Every 2-byte encoding of 0..63: 0x4000 .. 0x403f. */
  for (uint32_t x = 0; x < 64; x++) {
    buf[0] = 0x40;
    buf[1] = (uint8_t)x;
    mg_reader_init(&r, buf, 2);
    ck_assert_int_eq(mg_read_varint(&r, &v), MG_ERR_VARINT_NONMINIMAL);
    ASSERT_READER(r, buf, 2);
  }
  /* Every 4-byte encoding of 0..16383: 0x80000000 .. 0x80003fff. */
  for (uint32_t x = 0; x < 16384; x++) {
    buf[0] = 0x80;
    buf[1] = 0x00;
    buf[2] = (uint8_t)(x >> 8);
    buf[3] = (uint8_t)x;
    mg_reader_init(&r, buf, 4);
    ck_assert_int_eq(mg_read_varint(&r, &v), MG_ERR_VARINT_NONMINIMAL);
    ASSERT_READER(r, buf, 4);
  }
  /* The first minimal value of each width is accepted (checked above too). */
  static const uint8_t two[] = {0x40, 0x40};
  mg_reader_init(&r, two, 2);
  ck_assert_int_eq(mg_read_varint(&r, &v), 0);
  static const uint8_t four[] = {0x80, 0x00, 0x40, 0x00};
  mg_reader_init(&r, four, 4);
  ck_assert_int_eq(mg_read_varint(&r, &v), 0);
}
END_TEST

START_TEST(test_varint_truncated) {
  static const uint8_t two[] = {0x7f, 0xff};
  static const uint8_t four[] = {0xbf, 0xff, 0xff, 0xff};
  mg_reader r;
  uint32_t v = 7;

  mg_reader_init(&r, two, 0);
  ck_assert_int_eq(mg_read_varint(&r, &v), MG_ERR_TRUNCATED);
  mg_reader_init(&r, two, 1);
  ck_assert_int_eq(mg_read_varint(&r, &v), MG_ERR_TRUNCATED);
  ASSERT_READER(r, two, 1);
  for (size_t n = 1; n < 4; n++) {
    mg_reader_init(&r, four, n);
    ck_assert_int_eq(mg_read_varint(&r, &v), MG_ERR_TRUNCATED);
    ASSERT_READER(r, four, n);
  }
  ck_assert_uint_eq(v, 7);
}
END_TEST

START_TEST(test_varint_roundtrip_range) {
  /* Every value below 2^16 and a spread of larger ones. */
  mg_writer w;
  mg_reader r;
  uint32_t v = 0;

  ck_assert_int_eq(mg_writer_init(&w, 0, 0), 0);
  for (uint32_t x = 0; x < 65536; x++) {
    ck_assert_int_eq(mg_write_varint(&w, x), 0);
  }
  for (uint32_t x = 65536; x <= MG_VARINT_MAX - 9973; x += 9973 * 97) {
    ck_assert_int_eq(mg_write_varint(&w, x), 0);
  }
  ck_assert_int_eq(mg_write_varint(&w, MG_VARINT_MAX), 0);
  /* 64 one-byte + 16320 two-byte + the rest four-byte values. */
  mg_reader_init(&r, mg_writer_data(&w), mg_writer_len(&w));
  for (uint32_t x = 0; x < 65536; x++) {
    ck_assert_int_eq(mg_read_varint(&r, &v), 0);
    ck_assert_uint_eq(v, x);
  }
  for (uint32_t x = 65536; x <= MG_VARINT_MAX - 9973; x += 9973 * 97) {
    ck_assert_int_eq(mg_read_varint(&r, &v), 0);
    ck_assert_uint_eq(v, x);
  }
  ck_assert_int_eq(mg_read_varint(&r, &v), 0);
  ck_assert_uint_eq(v, MG_VARINT_MAX);
  ck_assert_int_eq(mg_reader_done(&r), 0);
  mg_writer_cleanup(&w);
}
END_TEST

START_TEST(test_varint_write_too_large) {
  static const uint64_t big[] = {(uint64_t)MG_VARINT_MAX + 1, 0x40000001,
                                 0xffffffffu, UINT64_MAX};
  for (size_t i = 0; i < MG_ARRAY_LEN(big); i++) {
    mg_writer w;
    ck_assert_int_eq(mg_writer_init(&w, 16, 0), 0);
    ck_assert_int_eq(mg_write_varint(&w, big[i]), MG_ERR_LENGTH);
    ck_assert_uint_eq(mg_writer_len(&w), 0);
    /* Sticky. */
    ck_assert_int_eq(mg_writer_error(&w), MG_ERR_LENGTH);
    ck_assert_int_eq(mg_write_varint(&w, 1), MG_ERR_LENGTH);
    mg_writer_cleanup(&w);
  }
}
END_TEST

/* ------------------------------------------------------------------- vec */

START_TEST(test_vec_read) {
  static const uint8_t in[] = {0x05, 0x03, 'a', 'b', 'c', 0x00, 0x99};
  mg_reader r;
  mg_reader outer;
  mg_reader inner;
  mg_reader empty;
  uint8_t t = 0;

  mg_reader_init(&r, in, sizeof(in));
  ck_assert_int_eq(mg_read_vec(&r, &outer), 0);
  ASSERT_READER(outer, in + 1, 5);
  ASSERT_READER(r, in + 6, 1);
  ck_assert_int_eq(mg_read_vec(&outer, &inner), 0);
  ASSERT_READER(inner, in + 2, 3);
  ck_assert_int_eq(mg_read_vec(&outer, &empty), 0);
  ck_assert_uint_eq(empty.len, 0);
  ck_assert_int_eq(mg_reader_done(&outer), 0);
  /* The inner body was not consumed: done reports it. */
  ck_assert_int_eq(mg_reader_done(&inner), MG_ERR_TRAILING);
  /* Trailing byte after the top-level vector. */
  ck_assert_int_eq(mg_reader_done(&r), MG_ERR_TRAILING);
  ck_assert_int_eq(mg_read_u8(&r, &t), 0);
  ck_assert_int_eq(mg_reader_done(&r), 0);

  /* A 2-byte length header. */
  uint8_t big[2 + 100];
  big[0] = 0x40;
  big[1] = 100;
  memset(big + 2, 0x5a, 100);
  mg_reader_init(&r, big, sizeof(big));
  ck_assert_int_eq(mg_read_vec(&r, &outer), 0);
  ASSERT_READER(outer, big + 2, 100);
  ck_assert_int_eq(mg_reader_done(&r), 0);
}
END_TEST

START_TEST(test_vec_read_errors) {
  mg_reader r;
  mg_reader out = {NULL, 12345};

  /* Body shorter than its length, by one byte and by all of it. */
  static const uint8_t short1[] = {0x04, 1, 2, 3};
  mg_reader_init(&r, short1, sizeof(short1));
  ck_assert_int_eq(mg_read_vec(&r, &out), MG_ERR_TRUNCATED);
  ASSERT_READER(r, short1, sizeof(short1));
  ASSERT_READER(out, NULL, 12345);
  mg_reader_init(&r, short1, 1);
  ck_assert_int_eq(mg_read_vec(&r, &out), MG_ERR_TRUNCATED);
  ASSERT_READER(r, short1, 1);
  /* 2-byte length, body truncated. */
  static const uint8_t short2[] = {0x40, 0x41, 0, 0, 0};
  mg_reader_init(&r, short2, sizeof(short2));
  ck_assert_int_eq(mg_read_vec(&r, &out), MG_ERR_TRUNCATED);
  ASSERT_READER(r, short2, sizeof(short2));
  /* Truncated, bad-prefix and non-minimal length headers. */
  static const uint8_t hdr_trunc[] = {0x80, 0x00, 0x40};
  mg_reader_init(&r, hdr_trunc, sizeof(hdr_trunc));
  ck_assert_int_eq(mg_read_vec(&r, &out), MG_ERR_TRUNCATED);
  ASSERT_READER(r, hdr_trunc, sizeof(hdr_trunc));
  static const uint8_t hdr_prefix[] = {0xc0, 0x00, 0x00, 0x00, 0x00};
  mg_reader_init(&r, hdr_prefix, sizeof(hdr_prefix));
  ck_assert_int_eq(mg_read_vec(&r, &out), MG_ERR_VARINT_PREFIX);
  ASSERT_READER(r, hdr_prefix, sizeof(hdr_prefix));
  static const uint8_t hdr_nonmin[] = {0x40, 0x01, 0xaa};
  mg_reader_init(&r, hdr_nonmin, sizeof(hdr_nonmin));
  ck_assert_int_eq(mg_read_vec(&r, &out), MG_ERR_VARINT_NONMINIMAL);
  ASSERT_READER(r, hdr_nonmin, sizeof(hdr_nonmin));
  ASSERT_READER(out, NULL, 12345);
  /* Empty input. */
  mg_reader_init(&r, NULL, 0);
  ck_assert_int_eq(mg_read_vec(&r, &out), MG_ERR_TRUNCATED);
}
END_TEST

START_TEST(test_vec_read_max) {
  static const uint8_t in[] = {0x03, 'x', 'y', 'z'};
  mg_reader r;
  mg_reader out;

  mg_reader_init(&r, in, sizeof(in));
  ck_assert_int_eq(mg_read_vec_max(&r, &out, 2), MG_ERR_LENGTH);
  ASSERT_READER(r, in, sizeof(in));
  ck_assert_int_eq(mg_read_vec_max(&r, &out, 0), MG_ERR_LENGTH);
  ASSERT_READER(r, in, sizeof(in));
  ck_assert_int_eq(mg_read_vec_max(&r, &out, 3), 0);
  ASSERT_READER(out, in + 1, 3);
  ck_assert_int_eq(mg_reader_done(&r), 0);

  /* The bound is checked before the body: a huge claimed length is LENGTH
   * even though the body is also missing. */
  static const uint8_t huge[] = {0xbf, 0xff, 0xff, 0xff, 0x00};
  mg_reader_init(&r, huge, sizeof(huge));
  ck_assert_int_eq(mg_read_vec_max(&r, &out, 1024), MG_ERR_LENGTH);
  ASSERT_READER(r, huge, sizeof(huge));
  ck_assert_int_eq(mg_read_vec(&r, &out), MG_ERR_TRUNCATED);
  ASSERT_READER(r, huge, sizeof(huge));
}
END_TEST

/* -------------------------------------------------------------- optional */

START_TEST(test_optional) {
  static const uint8_t in[] = {0x00, 0x01, 0x02, 0xff};
  mg_reader r;
  int present = -1;

  mg_reader_init(&r, in, 1);
  ck_assert_int_eq(mg_read_optional(&r, &present), 0);
  ck_assert_int_eq(present, 0);
  ck_assert_int_eq(mg_reader_done(&r), 0);
  mg_reader_init(&r, in + 1, 1);
  ck_assert_int_eq(mg_read_optional(&r, &present), 0);
  ck_assert_int_eq(present, 1);
  for (size_t i = 2; i < 4; i++) {
    present = -1;
    mg_reader_init(&r, in + i, 1);
    ck_assert_int_eq(mg_read_optional(&r, &present), MG_ERR_OPTIONAL);
    ASSERT_READER(r, in + i, 1);
    ck_assert_int_eq(present, -1);
  }
  mg_reader_init(&r, in, 0);
  ck_assert_int_eq(mg_read_optional(&r, &present), MG_ERR_TRUNCATED);

  /* Writer side: any nonzero means present. */
  mg_writer w;
  ck_assert_int_eq(mg_writer_init(&w, 0, 0), 0);
  ck_assert_int_eq(mg_write_optional(&w, 0), 0);
  ck_assert_int_eq(mg_write_optional(&w, 1), 0);
  ck_assert_int_eq(mg_write_optional(&w, 7), 0);
  ck_assert_uint_eq(mg_writer_len(&w), 3);
  ck_assert_mem_eq(mg_writer_data(&w), "\x00\x01\x01", 3);
  mg_writer_cleanup(&w);
}
END_TEST

/* ----------------------------------------------------------------- writer */

START_TEST(test_writer_roundtrip) {
  static const uint8_t blob[] = {0xde, 0xad, 0xbe, 0xef};
  static const uint8_t want[] = {
      0x7f,                                           /* u8 */
      0x12, 0x34,                                     /* u16 */
      0x89, 0xab, 0xcd, 0xef,                         /* u32 */
      0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, /* u64 */
      0xde, 0xad,                                     /* bytes */
      0x40, 0x64,                                     /* varint 100 */
      0x04, 0xde, 0xad, 0xbe, 0xef,                   /* opaque<V> */
      0x00,                                           /* opaque<V> empty */
      0x01,                                           /* optional present */
  };
  mg_writer w;
  uint8_t *out = NULL;
  size_t out_len = 0;

  ck_assert_int_eq(mg_writer_init(&w, 1, 0), 0);
  ck_assert_int_eq(mg_write_u8(&w, 0x7f), 0);
  ck_assert_int_eq(mg_write_u16(&w, 0x1234), 0);
  ck_assert_int_eq(mg_write_u32(&w, 0x89abcdefu), 0);
  ck_assert_int_eq(mg_write_u64(&w, UINT64_C(0x0123456789abcdef)), 0);
  ck_assert_int_eq(mg_write_bytes(&w, blob, 2), 0);
  ck_assert_int_eq(mg_write_bytes(&w, NULL, 0), 0);
  ck_assert_int_eq(mg_write_varint(&w, 100), 0);
  ck_assert_int_eq(mg_write_opaque(&w, blob, sizeof(blob)), 0);
  ck_assert_int_eq(mg_write_opaque(&w, NULL, 0), 0);
  ck_assert_int_eq(mg_write_optional(&w, 1), 0);
  ck_assert_int_eq(mg_writer_error(&w), 0);
  ck_assert_int_eq(mg_writer_finish(&w, &out, &out_len), 0);
  /* Ownership moved: the writer is back in the zero state. */
  ck_assert_ptr_null(w.buf);
  ck_assert_uint_eq(w.len, 0);
  mg_writer_cleanup(&w);
  ck_assert_uint_eq(out_len, sizeof(want));
  ck_assert_mem_eq(out, want, sizeof(want));

  /* And back. */
  mg_reader r;
  mg_reader v;
  uint8_t a;
  uint16_t b;
  uint32_t c;
  uint64_t d;
  const uint8_t *p;
  int present;
  mg_reader_init(&r, out, out_len);
  ck_assert_int_eq(mg_read_u8(&r, &a), 0);
  ck_assert_int_eq(mg_read_u16(&r, &b), 0);
  ck_assert_int_eq(mg_read_u32(&r, &c), 0);
  ck_assert_int_eq(mg_read_u64(&r, &d), 0);
  ck_assert_int_eq(mg_read_bytes(&r, &p, 2), 0);
  ck_assert_int_eq(mg_read_varint(&r, &c), 0);
  ck_assert_uint_eq(c, 100);
  ck_assert_int_eq(mg_read_vec(&r, &v), 0);
  ck_assert_uint_eq(v.len, 4);
  ck_assert_mem_eq(v.data, blob, 4);
  ck_assert_int_eq(mg_read_vec(&r, &v), 0);
  ck_assert_uint_eq(v.len, 0);
  ck_assert_int_eq(mg_read_optional(&r, &present), 0);
  ck_assert_int_eq(present, 1);
  ck_assert_int_eq(mg_reader_done(&r), 0);
  free(out);
}
END_TEST

/* Fills |p| with a pattern that differs from byte to byte and from run to
 * run (|seed|), so a misplaced shift is visible. */
static void pattern(uint8_t *p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++) {
    p[i] = (uint8_t)(i * 31u + (i >> 8) + seed);
  }
}

/* Expected header for a body of |n| bytes (RFC 9420 §2.1.2). */
static size_t expected_header(uint8_t *hdr, size_t n) {
  if (n < 64) {
    hdr[0] = (uint8_t)n;
    return 1;
  }
  if (n < 16384) {
    hdr[0] = (uint8_t)(0x40 | (n >> 8));
    hdr[1] = (uint8_t)n;
    return 2;
  }
  hdr[0] = (uint8_t)(0x80 | (n >> 24));
  hdr[1] = (uint8_t)(n >> 16);
  hdr[2] = (uint8_t)(n >> 8);
  hdr[3] = (uint8_t)n;
  return 4;
}

static const size_t vec_sizes[] = {0, 1, 63, 64, 65, 16383, 16384, 70000};

START_TEST(test_writer_vec_sizes) {
  for (size_t i = 0; i < MG_ARRAY_LEN(vec_sizes); i++) {
    const size_t n = vec_sizes[i];
    uint8_t *body = malloc(n + 1);
    uint8_t hdr[4];
    size_t hdr_len = expected_header(hdr, n);
    mg_writer w;
    mg_writer w2;
    size_t mark = 0;

    ck_assert_ptr_nonnull(body);
    pattern(body, n, (unsigned)i);
    /* A byte before and after the vector checks the mark and the shift. */
    ck_assert_int_eq(mg_writer_init(&w, 0, 0), 0);
    ck_assert_int_eq(mg_write_u8(&w, 0xa1), 0);
    ck_assert_int_eq(mg_write_vec_begin(&w, &mark), 0);
    ck_assert_uint_eq(mark, 1);
    /* Written in uneven pieces, as a serializer would. */
    for (size_t off = 0; off < n;) {
      size_t step = (off % 7) + 1;
      if (step > n - off) {
        step = n - off;
      }
      ck_assert_int_eq(mg_write_bytes(&w, body + off, step), 0);
      off += step;
    }
    ck_assert_int_eq(mg_write_vec_end(&w, mark), 0);
    ck_assert_int_eq(mg_write_u8(&w, 0xb2), 0);

    const uint8_t *out = mg_writer_data(&w);
    ck_assert_uint_eq(mg_writer_len(&w), 1 + hdr_len + n + 1);
    ck_assert_uint_eq(out[0], 0xa1);
    ck_assert_mem_eq(out + 1, hdr, hdr_len);
    if (n > 0) {
      ck_assert_mem_eq(out + 1 + hdr_len, body, n);
    }
    ck_assert_uint_eq(out[1 + hdr_len + n], 0xb2);

    /* Same bytes as mg_write_opaque, which knows the length up front. */
    ck_assert_int_eq(mg_writer_init(&w2, 0, 0), 0);
    ck_assert_int_eq(mg_write_u8(&w2, 0xa1), 0);
    ck_assert_int_eq(mg_write_opaque(&w2, body, n), 0);
    ck_assert_int_eq(mg_write_u8(&w2, 0xb2), 0);
    ck_assert_uint_eq(mg_writer_len(&w2), mg_writer_len(&w));
    ck_assert_mem_eq(mg_writer_data(&w2), out, mg_writer_len(&w));

    /* And the reader gets the body back. */
    mg_reader r;
    mg_reader v;
    uint8_t t;
    mg_reader_init(&r, out, mg_writer_len(&w));
    ck_assert_int_eq(mg_read_u8(&r, &t), 0);
    ck_assert_int_eq(mg_read_vec(&r, &v), 0);
    ck_assert_uint_eq(v.len, n);
    mg_writer_cleanup(&w);
    mg_writer_cleanup(&w2);
    free(body);
  }
}
END_TEST

/* Builds opaque<V>(opaque<V>(...)) by composition with mg_write_opaque; the
 * reference for the nested vec_begin/vec_end test. */
static uint8_t *wrap_opaque(const uint8_t *body, size_t n, size_t *out_len) {
  mg_writer w;
  uint8_t *out = NULL;
  ck_assert_int_eq(mg_writer_init(&w, 0, 0), 0);
  ck_assert_int_eq(mg_write_opaque(&w, body, n), 0);
  ck_assert_int_eq(mg_writer_finish(&w, &out, out_len), 0);
  return out;
}

START_TEST(test_writer_vec_nested) {
  /* Three levels; the innermost body size steps over each header width,
   * so inner and outer headers grow at different times. */
  for (size_t i = 0; i < MG_ARRAY_LEN(vec_sizes); i++) {
    const size_t n = vec_sizes[i];
    uint8_t *body = malloc(n + 1);
    mg_writer w;
    size_t m1 = 0;
    size_t m2 = 0;
    size_t m3 = 0;

    ck_assert_ptr_nonnull(body);
    pattern(body, n, 7u * (unsigned)i);
    ck_assert_int_eq(mg_writer_init(&w, 0, 0), 0);
    ck_assert_int_eq(mg_write_u16(&w, 0xcafe), 0);
    ck_assert_int_eq(mg_write_vec_begin(&w, &m1), 0);
    ck_assert_int_eq(mg_write_vec_begin(&w, &m2), 0);
    ck_assert_int_eq(mg_write_vec_begin(&w, &m3), 0);
    ck_assert_int_eq(mg_write_bytes(&w, body, n), 0);
    ck_assert_int_eq(mg_write_vec_end(&w, m3), 0);
    ck_assert_int_eq(mg_write_vec_end(&w, m2), 0);
    /* A sibling after the middle vector inside the outer one. */
    ck_assert_int_eq(mg_write_opaque(&w, body, n < 50 ? n : 50), 0);
    ck_assert_int_eq(mg_write_vec_end(&w, m1), 0);

    /* Reference: wrap by composition. */
    size_t l3 = 0;
    size_t l2 = 0;
    uint8_t *e3 = wrap_opaque(body, n, &l3);
    uint8_t *e2 = wrap_opaque(e3, l3, &l2);
    mg_writer ref;
    ck_assert_int_eq(mg_writer_init(&ref, 0, 0), 0);
    ck_assert_int_eq(mg_write_bytes(&ref, e2, l2), 0);
    ck_assert_int_eq(mg_write_opaque(&ref, body, n < 50 ? n : 50), 0);
    size_t l1 = 0;
    uint8_t *e1 = wrap_opaque(mg_writer_data(&ref), mg_writer_len(&ref), &l1);

    ck_assert_uint_eq(mg_writer_len(&w), 2 + l1);
    ck_assert_mem_eq(mg_writer_data(&w), "\xca\xfe", 2);
    ck_assert_mem_eq(mg_writer_data(&w) + 2, e1, l1);

    mg_writer_cleanup(&ref);
    mg_writer_cleanup(&w);
    free(e1);
    free(e2);
    free(e3);
    free(body);
  }
}
END_TEST

START_TEST(test_writer_sticky_error) {
  uint8_t buf[6];
  mg_writer w;
  size_t mark = 0;
  uint8_t *out = (uint8_t *)&mark;
  size_t out_len = 99;

  mg_writer_init_fixed(&w, buf, sizeof(buf));
  ck_assert_int_eq(mg_write_u32(&w, 0x01020304), 0);
  ck_assert_int_eq(mg_write_vec_begin(&w, &mark), 0);
  /* Does not fit: fails, and nothing is written. */
  ck_assert_int_eq(mg_write_u16(&w, 0xffff), MG_ERR_BUFFER_TOO_SMALL);
  ck_assert_uint_eq(mg_writer_len(&w), 5);
  ck_assert_int_eq(mg_writer_error(&w), MG_ERR_BUFFER_TOO_SMALL);
  /* Every later write fails with the first error, even ones that fit. */
  ck_assert_int_eq(mg_write_u8(&w, 1), MG_ERR_BUFFER_TOO_SMALL);
  ck_assert_int_eq(mg_write_bytes(&w, buf, 0), MG_ERR_BUFFER_TOO_SMALL);
  ck_assert_int_eq(mg_write_varint(&w, 1), MG_ERR_BUFFER_TOO_SMALL);
  ck_assert_int_eq(mg_write_varint(&w, UINT64_MAX), MG_ERR_BUFFER_TOO_SMALL);
  ck_assert_int_eq(mg_write_opaque(&w, NULL, 0), MG_ERR_BUFFER_TOO_SMALL);
  ck_assert_int_eq(mg_write_optional(&w, 0), MG_ERR_BUFFER_TOO_SMALL);
  ck_assert_int_eq(mg_write_vec_end(&w, mark), MG_ERR_BUFFER_TOO_SMALL);
  size_t mark2 = 0;
  ck_assert_int_eq(mg_write_vec_begin(&w, &mark2), MG_ERR_BUFFER_TOO_SMALL);
  ck_assert_uint_eq(mg_writer_len(&w), 5);
  /* finish reports it, transfers nothing and cleans up (zeroizing). */
  ck_assert_int_eq(mg_writer_finish(&w, &out, &out_len),
                   MG_ERR_BUFFER_TOO_SMALL);
  ck_assert_ptr_null(out);
  ck_assert_uint_eq(out_len, 0);
  ck_assert_ptr_null(w.buf);
  for (size_t i = 0; i < 5; i++) {
    ck_assert_uint_eq(buf[i], 0);
  }
  mg_writer_cleanup(&w);

  /* Same with a growable writer and a different first error. */
  ck_assert_int_eq(mg_writer_init(&w, 0, 0), 0);
  ck_assert_int_eq(mg_write_u8(&w, 1), 0);
  ck_assert_int_eq(mg_write_opaque(&w, buf, (size_t)MG_VARINT_MAX + 1),
                   MG_ERR_LENGTH);
  ck_assert_int_eq(mg_write_u8(&w, 1), MG_ERR_LENGTH);
  ck_assert_uint_eq(mg_writer_len(&w), 1);
  ck_assert_int_eq(mg_writer_finish(&w, &out, &out_len), MG_ERR_LENGTH);
  ck_assert_ptr_null(out);
  mg_writer_cleanup(&w);
}
END_TEST

START_TEST(test_writer_max_enforced) {
  mg_writer w;
  uint8_t ten[10];
  size_t mark = 0;
  memset(ten, 0x33, sizeof(ten));

  /* Exactly the maximum fits; one more byte does not. */
  ck_assert_int_eq(mg_writer_init(&w, 0, 10), 0);
  ck_assert_int_eq(mg_write_bytes(&w, ten, 9), 0);
  ck_assert_int_eq(mg_write_u8(&w, 1), 0);
  ck_assert_uint_eq(mg_writer_len(&w), 10);
  ck_assert_uint_le(w.cap, 10);
  ck_assert_int_eq(mg_write_u8(&w, 1), MG_ERR_BUFFER_TOO_SMALL);
  ck_assert_uint_eq(mg_writer_len(&w), 10);
  mg_writer_cleanup(&w);

  /* A single write larger than the maximum. */
  ck_assert_int_eq(mg_writer_init(&w, 4, 8), 0);
  ck_assert_int_eq(mg_write_bytes(&w, ten, 9), MG_ERR_BUFFER_TOO_SMALL);
  ck_assert_uint_eq(mg_writer_len(&w), 0);
  mg_writer_cleanup(&w);

  /* initial_cap above the maximum is clamped. */
  ck_assert_int_eq(mg_writer_init(&w, 1000, 8), 0);
  ck_assert_uint_le(w.cap, 8);
  mg_writer_cleanup(&w);

  /* The back-patched header is counted: 1 + 64 bytes fit in 65, but the
   * 2-byte header would make 66. */
  uint8_t body[64];
  memset(body, 0x44, sizeof(body));
  ck_assert_int_eq(mg_writer_init(&w, 0, 65), 0);
  ck_assert_int_eq(mg_write_vec_begin(&w, &mark), 0);
  ck_assert_int_eq(mg_write_bytes(&w, body, 64), 0);
  ck_assert_int_eq(mg_write_vec_end(&w, mark), MG_ERR_BUFFER_TOO_SMALL);
  mg_writer_cleanup(&w);
  /* With 66 it works. */
  ck_assert_int_eq(mg_writer_init(&w, 0, 66), 0);
  ck_assert_int_eq(mg_write_vec_begin(&w, &mark), 0);
  ck_assert_int_eq(mg_write_bytes(&w, body, 64), 0);
  ck_assert_int_eq(mg_write_vec_end(&w, mark), 0);
  ck_assert_uint_eq(mg_writer_len(&w), 66);
  mg_writer_cleanup(&w);

  /* Default maximum: 16 MiB. */
  ck_assert_int_eq(mg_writer_init(&w, 0, 0), 0);
  ck_assert_uint_eq(w.max, MG_WRITER_DEFAULT_MAX);
  mg_writer_cleanup(&w);
}
END_TEST

START_TEST(test_writer_growth) {
  /* Many writes of varying size through several reallocations. */
  const size_t total = 1u << 20;
  uint8_t *ref = malloc(total);
  mg_writer w;

  ck_assert_ptr_nonnull(ref);
  pattern(ref, total, 99);
  ck_assert_int_eq(mg_writer_init(&w, 0, total), 0);
  for (size_t off = 0; off < total;) {
    size_t step = (off * 13 % 1000) + 1;
    if (step > total - off) {
      step = total - off;
    }
    ck_assert_int_eq(mg_write_bytes(&w, ref + off, step), 0);
    off += step;
    ck_assert_uint_le(w.len, w.cap);
    ck_assert_uint_le(w.cap, w.max);
  }
  ck_assert_uint_eq(mg_writer_len(&w), total);
  ck_assert_mem_eq(mg_writer_data(&w), ref, total);
  ck_assert_int_eq(mg_write_u8(&w, 0), MG_ERR_BUFFER_TOO_SMALL);
  mg_writer_cleanup(&w);
  free(ref);
}
END_TEST

START_TEST(test_writer_fixed) {
  uint8_t buf[8];
  mg_writer w;
  uint8_t *out = NULL;
  size_t out_len = 0;

  memset(buf, 0xee, sizeof(buf));
  mg_writer_init_fixed(&w, buf, sizeof(buf));
  ck_assert_int_eq(mg_write_u32(&w, 0x0a0b0c0d), 0);
  ck_assert_int_eq(mg_write_u16(&w, 0x0e0f), 0);
  ck_assert_ptr_eq(mg_writer_data(&w), buf);
  ck_assert_mem_eq(buf, "\x0a\x0b\x0c\x0d\x0e\x0f", 6);
  /* 3 bytes do not fit in the remaining 2. */
  ck_assert_int_eq(mg_write_bytes(&w, buf, 3), MG_ERR_BUFFER_TOO_SMALL);
  ck_assert_uint_eq(buf[6], 0xee);
  mg_writer_cleanup(&w);
  /* cleanup zeroizes what was written, leaves the rest, frees nothing
   * (ASan would report a free of stack memory). */
  for (size_t i = 0; i < 6; i++) {
    ck_assert_uint_eq(buf[i], 0);
  }
  ck_assert_uint_eq(buf[6], 0xee);

  /* finish returns the caller's buffer. */
  mg_writer_init_fixed(&w, buf, sizeof(buf));
  ck_assert_int_eq(mg_write_u64(&w, 1), 0);
  ck_assert_int_eq(mg_writer_finish(&w, &out, &out_len), 0);
  ck_assert_ptr_eq(out, buf);
  ck_assert_uint_eq(out_len, 8);
  ck_assert_uint_eq(buf[7], 1);

  /* A back-patched header that overflows a fixed buffer. */
  uint8_t small[65];
  size_t mark = 0;
  mg_writer_init_fixed(&w, small, sizeof(small));
  ck_assert_int_eq(mg_write_vec_begin(&w, &mark), 0);
  for (int i = 0; i < 64; i++) {
    ck_assert_int_eq(mg_write_u8(&w, (uint8_t)i), 0);
  }
  ck_assert_int_eq(mg_write_vec_end(&w, mark), MG_ERR_BUFFER_TOO_SMALL);
  mg_writer_cleanup(&w);

  /* A NULL buffer with a capacity is misuse. */
  mg_writer_init_fixed(&w, NULL, 4);
  ck_assert_int_eq(mg_write_u8(&w, 1), MG_ERR_INVALID_ARG);
  mg_writer_cleanup(&w);
  /* An empty fixed writer accepts empty writes only. */
  mg_writer_init_fixed(&w, NULL, 0);
  ck_assert_int_eq(mg_write_bytes(&w, NULL, 0), 0);
  ck_assert_int_eq(mg_write_u8(&w, 1), MG_ERR_BUFFER_TOO_SMALL);
  mg_writer_cleanup(&w);
}
END_TEST

START_TEST(test_writer_zero_state) {
  mg_writer w;
  mg_writer z = {0};
  uint8_t *out = NULL;
  size_t out_len = 0;
  size_t mark = 0;

  mg_writer_zero(&w);
  mg_writer_cleanup(&w);
  mg_writer_cleanup(&w);
  ck_assert_int_eq(mg_write_u8(&w, 1), MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mg_write_vec_begin(&w, &mark), MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mg_writer_finish(&w, &out, &out_len), MG_ERR_INVALID_ARG);
  ck_assert_ptr_null(out);
  mg_writer_cleanup(&w);

  /* An all-zero struct behaves the same. */
  ck_assert_int_eq(mg_write_u32(&z, 1), MG_ERR_INVALID_ARG);
  mg_writer_cleanup(&z);
  mg_writer_cleanup(&z);

  /* cleanup twice after real use, and after finish. */
  ck_assert_int_eq(mg_writer_init(&w, 32, 0), 0);
  ck_assert_int_eq(mg_write_u8(&w, 1), 0);
  mg_writer_cleanup(&w);
  mg_writer_cleanup(&w);
  ck_assert_int_eq(mg_writer_init(&w, 0, 0), 0);
  ck_assert_int_eq(mg_writer_finish(&w, &out, &out_len), 0);
  /* Nothing written: still a buffer, of length 0. */
  ck_assert_ptr_nonnull(out);
  ck_assert_uint_eq(out_len, 0);
  free(out);
  mg_writer_cleanup(&w);

  /* Invalid arguments. */
  ck_assert_int_eq(mg_writer_init(NULL, 0, 0), MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mg_write_u8(NULL, 0), MG_ERR_INVALID_ARG);
  mg_writer_cleanup(NULL);
  mg_writer_zero(NULL);
  ck_assert_int_eq(mg_writer_init(&w, 0, 0), 0);
  ck_assert_int_eq(mg_write_bytes(&w, NULL, 3), MG_ERR_INVALID_ARG);
  mg_writer_cleanup(&w);
  ck_assert_int_eq(mg_writer_init(&w, 0, 0), 0);
  ck_assert_int_eq(mg_writer_finish(&w, NULL, &out_len), MG_ERR_INVALID_ARG);
  mg_writer_cleanup(&w);
}
END_TEST

START_TEST(test_writer_bad_mark) {
  mg_writer w;
  size_t mark = 0;

  ck_assert_int_eq(mg_writer_init(&w, 0, 0), 0);
  /* A mark at or past the end cannot have come from vec_begin. */
  ck_assert_int_eq(mg_write_vec_end(&w, 0), MG_ERR_INVALID_ARG);
  mg_writer_cleanup(&w);
  ck_assert_int_eq(mg_writer_init(&w, 0, 0), 0);
  ck_assert_int_eq(mg_write_vec_begin(&w, &mark), 0);
  ck_assert_int_eq(mg_write_vec_end(&w, mark + 1), MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mg_writer_error(&w), MG_ERR_INVALID_ARG);
  mg_writer_cleanup(&w);
}
END_TEST

START_TEST(test_writer_nomem) {
  mg_writer w;
  static const uint8_t one = 0x42;
  /* 1 PiB: beyond any user address space here, yet a plausible size (a
   * value >= 2^63 would upset valgrind's malloc argument check). */
  const size_t huge = (size_t)1 << 50;

  /* The initial allocation fails: NOMEM and a writer safe to clean up. */
  ck_assert_int_eq(mg_writer_init(&w, huge, huge), MG_ERR_NOMEM);
  ck_assert_ptr_null(w.buf);
  ck_assert_int_eq(mg_write_u8(&w, 1), MG_ERR_INVALID_ARG);
  mg_writer_cleanup(&w);

  /* Growth fails: the old buffer and its contents are kept, the error is
   * sticky.  The huge write is refused before |one| would be read past its
   * first byte. */
  ck_assert_int_eq(mg_writer_init(&w, 0, huge), 0);
  ck_assert_int_eq(mg_write_u8(&w, 0x11), 0);
  ck_assert_int_eq(mg_write_bytes(&w, &one, huge / 2), MG_ERR_NOMEM);
  ck_assert_int_eq(mg_writer_error(&w), MG_ERR_NOMEM);
  ck_assert_uint_eq(mg_writer_len(&w), 1);
  ck_assert_uint_eq(mg_writer_data(&w)[0], 0x11);
  ck_assert_int_eq(mg_write_u8(&w, 1), MG_ERR_NOMEM);
  mg_writer_cleanup(&w);
}
END_TEST

/* ------------------------------------------------- truncate at every byte
 *
 * A structure in the TLS presentation language (RFC 9420 §2.1):
 *
 *   struct {
 *     uint16 a;
 *     opaque b<V>;
 *     optional<uint32> c;
 *     opaque d<V>;            -- a vector of opaque<V> elements
 *   } Sample;
 *
 * with a strict decoder and an encoder that uses vec_begin/vec_end for d.
 */

#define SAMPLE_MAX_ITEMS 8

typedef struct {
  uint16_t a;
  const uint8_t *b;
  size_t b_len;
  int has_c;
  uint32_t c;
  size_t num_items;
  const uint8_t *items[SAMPLE_MAX_ITEMS];
  size_t item_len[SAMPLE_MAX_ITEMS];
} sample;

static int sample_decode(sample *s, const uint8_t *in, size_t in_len) {
  mg_reader r;
  mg_reader b;
  mg_reader d;
  mg_reader item;

  memset(s, 0, sizeof(*s));
  mg_reader_init(&r, in, in_len);
  MG_GUARD(mg_read_u16(&r, &s->a));
  MG_GUARD(mg_read_vec(&r, &b));
  s->b = mg_reader_data(&b);
  s->b_len = mg_reader_len(&b);
  MG_GUARD(mg_read_optional(&r, &s->has_c));
  if (s->has_c) {
    MG_GUARD(mg_read_u32(&r, &s->c));
  }
  MG_GUARD(mg_read_vec(&r, &d));
  while (mg_reader_len(&d) > 0) {
    MG_ENSURE(s->num_items < SAMPLE_MAX_ITEMS, MG_ERR_LENGTH);
    MG_GUARD(mg_read_vec(&d, &item));
    s->items[s->num_items] = mg_reader_data(&item);
    s->item_len[s->num_items] = mg_reader_len(&item);
    s->num_items++;
  }
  return mg_reader_done(&r);
}

/* Discards a write's result: the writer's sticky error carries it. */
static void sticky(int rc) { (void)rc; }

static int sample_encode(mg_writer *w, const sample *s) {
  size_t mark = 0;
  sticky(mg_write_u16(w, s->a));
  sticky(mg_write_opaque(w, s->b, s->b_len));
  sticky(mg_write_optional(w, s->has_c));
  if (s->has_c) {
    sticky(mg_write_u32(w, s->c));
  }
  sticky(mg_write_vec_begin(w, &mark));
  for (size_t i = 0; i < s->num_items; i++) {
    sticky(mg_write_opaque(w, s->items[i], s->item_len[i]));
  }
  sticky(mg_write_vec_end(w, mark));
  /* The sticky error makes one check at the end enough. */
  return mg_writer_error(w);
}

static uint8_t filler[20000];

static void make_sample(sample *s, unsigned k) {
  /* Sizes chosen to cross the 1/2/4-byte header boundaries. */
  static const size_t b_sizes[] = {0, 3, 63, 64, 300, 16383, 16384, 17000};
  static const size_t n_items[] = {0, 1, 3, 8, 2, 5, 1, 4};
  memset(s, 0, sizeof(*s));
  s->a = (uint16_t)(0x1000 * k + 7);
  s->b = filler;
  s->b_len = b_sizes[k % MG_ARRAY_LEN(b_sizes)];
  s->has_c = (int)(k % 2);
  s->c = 0xdead0000u + k;
  s->num_items = n_items[k % MG_ARRAY_LEN(n_items)];
  for (size_t i = 0; i < s->num_items; i++) {
    s->items[i] = filler + 100 * i;
    s->item_len[i] = (i * 37 + k) % 80; /* some 1-byte, some 2-byte */
  }
}

static int sample_equal(const sample *x, const sample *y) {
  if (x->a != y->a || x->b_len != y->b_len || x->has_c != y->has_c ||
      x->num_items != y->num_items) {
    return 0;
  }
  if (x->b_len > 0 && memcmp(x->b, y->b, x->b_len) != 0) {
    return 0;
  }
  if (x->has_c && x->c != y->c) {
    return 0;
  }
  for (size_t i = 0; i < x->num_items; i++) {
    if (x->item_len[i] != y->item_len[i] ||
        (x->item_len[i] > 0 &&
         memcmp(x->items[i], y->items[i], x->item_len[i]) != 0)) {
      return 0;
    }
  }
  return 1;
}

START_TEST(test_sample_known_encoding) {
  /* Written by hand from the RFC rules, independent of the writer. */
  static const uint8_t want[] = {
      0x01, 0x02,                   /* a */
      0x03, 'a',  'b',  'c',        /* b<V> */
      0x01, 0xde, 0xad, 0xbe, 0xef, /* optional<uint32> present */
      0x03, 0x01, 'x',  0x00,       /* d<V> = [ "x", "" ] */
  };
  sample s;
  sample t;
  mg_writer w;

  memset(&s, 0, sizeof(s));
  s.a = 0x0102;
  s.b = (const uint8_t *)"abc";
  s.b_len = 3;
  s.has_c = 1;
  s.c = 0xdeadbeef;
  s.num_items = 2;
  s.items[0] = (const uint8_t *)"x";
  s.item_len[0] = 1;
  s.items[1] = NULL;
  s.item_len[1] = 0;
  ck_assert_int_eq(mg_writer_init(&w, 0, 0), 0);
  ck_assert_int_eq(sample_encode(&w, &s), 0);
  ck_assert_uint_eq(mg_writer_len(&w), sizeof(want));
  ck_assert_mem_eq(mg_writer_data(&w), want, sizeof(want));
  mg_writer_cleanup(&w);
  ck_assert_int_eq(sample_decode(&t, want, sizeof(want)), 0);
  ck_assert(sample_equal(&s, &t));

  /* Mutations of single fields give the specific error. */
  uint8_t bad[sizeof(want)];
  memcpy(bad, want, sizeof(want));
  bad[6] = 0x02; /* presence octet */
  ck_assert_int_eq(sample_decode(&t, bad, sizeof(bad)), MG_ERR_OPTIONAL);
  memcpy(bad, want, sizeof(want));
  bad[2] = 0xc3; /* b's length with the 0b11 prefix */
  ck_assert_int_eq(sample_decode(&t, bad, sizeof(bad)), MG_ERR_VARINT_PREFIX);
  memcpy(bad, want, sizeof(want));
  bad[11] = 0x02; /* d claims 2 bytes: its last element is left over */
  ck_assert_int_eq(sample_decode(&t, bad, sizeof(bad)), MG_ERR_TRAILING);
  memcpy(bad, want, sizeof(want));
  bad[12] = 0x03; /* the first element of d runs past d's end */
  ck_assert_int_eq(sample_decode(&t, bad, sizeof(bad)), MG_ERR_TRUNCATED);
}
END_TEST

START_TEST(test_sample_truncate_every_byte) {
  pattern(filler, sizeof(filler), 5);
  for (unsigned k = 0; k < 8; k++) {
    sample s;
    sample t;
    mg_writer w;
    uint8_t *enc = NULL;
    size_t enc_len = 0;

    make_sample(&s, k);
    ck_assert_int_eq(mg_writer_init(&w, 0, 0), 0);
    ck_assert_int_eq(sample_encode(&w, &s), 0);
    ck_assert_int_eq(mg_writer_finish(&w, &enc, &enc_len), 0);

    /* The full encoding decodes to the same value ... */
    ck_assert_int_eq(sample_decode(&t, enc, enc_len), 0);
    ck_assert(sample_equal(&s, &t));
    /* ... and re-encodes byte for byte. */
    ck_assert_int_eq(mg_writer_init(&w, 0, 0), 0);
    ck_assert_int_eq(sample_encode(&w, &t), 0);
    ck_assert_uint_eq(mg_writer_len(&w), enc_len);
    ck_assert_mem_eq(mg_writer_data(&w), enc, enc_len);
    mg_writer_cleanup(&w);

    /* Every strict prefix fails with a decode error.  The prefix is copied
     * into an exact-size buffer so ASan/valgrind catch any overread. */
    for (size_t n = 0; n < enc_len; n++) {
      uint8_t *pre = malloc(n > 0 ? n : 1);
      ck_assert_ptr_nonnull(pre);
      if (n > 0) {
        memcpy(pre, enc, n);
      }
      int rc = sample_decode(&t, pre, n);
      ck_assert_msg(mg_err_class_of(rc) == MG_ERRCLASS_DECODE,
                    "sample %u prefix %zu/%zu: rc %d", k, n, enc_len, rc);
      ck_assert_int_eq(rc, MG_ERR_TRUNCATED);
      free(pre);
    }

    /* One trailing byte is rejected. */
    uint8_t *longer = malloc(enc_len + 1);
    ck_assert_ptr_nonnull(longer);
    memcpy(longer, enc, enc_len);
    longer[enc_len] = 0;
    ck_assert_int_eq(sample_decode(&t, longer, enc_len + 1), MG_ERR_TRAILING);
    free(longer);
    free(enc);
  }
}
END_TEST

static Suite *codec_suite(void) {
  Suite *s = suite_create("codec");
  TCase *tc;

  tc = tcase_create("reader");
  tcase_add_test(tc, test_read_fixed_width_values);
  tcase_add_test(tc, test_read_fixed_width_truncated);
  tcase_add_test(tc, test_read_bytes_copy_fixed);
  tcase_add_test(tc, test_optional);
  suite_add_tcase(s, tc);

  tc = tcase_create("varint");
  tcase_add_test(tc, test_varint_valid);
  tcase_add_test(tc, test_varint_prefix_rejected);
  tcase_add_test(tc, test_varint_nonminimal_rejected);
  tcase_add_test(tc, test_varint_truncated);
  tcase_add_test(tc, test_varint_roundtrip_range);
  tcase_add_test(tc, test_varint_write_too_large);
  suite_add_tcase(s, tc);

  tc = tcase_create("vec");
  tcase_add_test(tc, test_vec_read);
  tcase_add_test(tc, test_vec_read_errors);
  tcase_add_test(tc, test_vec_read_max);
  suite_add_tcase(s, tc);

  tc = tcase_create("writer");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_writer_roundtrip);
  tcase_add_test(tc, test_writer_vec_sizes);
  tcase_add_test(tc, test_writer_vec_nested);
  tcase_add_test(tc, test_writer_sticky_error);
  tcase_add_test(tc, test_writer_max_enforced);
  tcase_add_test(tc, test_writer_growth);
  tcase_add_test(tc, test_writer_fixed);
  tcase_add_test(tc, test_writer_zero_state);
  tcase_add_test(tc, test_writer_bad_mark);
  tcase_add_test(tc, test_writer_nomem);
  suite_add_tcase(s, tc);

  tc = tcase_create("structure");
  /* Every prefix of encodings up to ~17 KB: quadratic, slow under valgrind. */
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_sample_known_encoding);
  tcase_add_test(tc, test_sample_truncate_every_byte);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(codec_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failures = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failures ? 1 : 0;
}
