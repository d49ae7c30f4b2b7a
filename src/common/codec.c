/*
 * Codec for the TLS presentation language as used by MLS (RFC 9420 §2.1).
 * Contract: src/common/codec.h.  Model: BoringSSL CBS/CBB (STYLE.md §2).
 *
 * Reader invariants:
 *  - every read goes through mg_reader_take(), the only place that checks a
 *    length against the remaining input and advances the cursor;
 *  - a read that fails leaves the reader unchanged: multi-step reads (varint,
 *    vector, optional) work on a copy and commit it only on success.
 *
 * Writer invariants:
 *  - w->len <= w->cap <= w->max for a growable writer, w->len <= w->max ==
 *    w->cap for a fixed one; every size computation is checked against
 *    w->max before it is made, so none can overflow;
 *  - bytes are only ever appended through mg_writer_reserve(), which fails
 *    without changing w->len and records the first error (sticky);
 *  - the buffer may hold secrets, so it is wiped before it is released,
 *    including when it is grown (new buffer, copy, wipe old, free old;
 *    realloc could leave an unwiped copy behind).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/guard.h"
#include "common/secmem.h"

/* Initial allocation when a growable writer first needs memory. */
#define MG_WRITER_MIN_ALLOC ((size_t)64)

/* ------------------------------------------------------------- reader */

void mg_reader_init(mg_reader *r, const uint8_t *data, size_t len) {
  if (r == NULL) {
    return;
  }
  r->data = data;
  /* A NULL pointer can only describe an empty input. */
  r->len = data != NULL ? len : 0;
}

/* mg_reader_take is the single bounds-checked primitive: it borrows the next
 * |n| bytes into |*out| and advances |r|, or fails with MG_ERR_TRUNCATED and
 * changes nothing. */
static MG_MUST_USE int mg_reader_take(mg_reader *r, const uint8_t **out,
                                      size_t n) {
  if (r == NULL || out == NULL) {
    return MG_ERR_INVALID_ARG;
  }
  if (n > r->len) {
    return MG_ERR_TRUNCATED;
  }
  *out = r->data;
  if (n > 0) {
    /* n == 0 would add 0 to a possibly NULL pointer (UB): skip it. */
    r->data += n;
    r->len -= n;
  }
  return 0;
}

/* Reads an |n|-byte big-endian unsigned integer, 1 <= n <= 8. */
static MG_MUST_USE int mg_read_be(mg_reader *r, size_t n, uint64_t *out) {
  const uint8_t *p = NULL;
  uint64_t v = 0;

  MG_ENSURE_REF(out);
  MG_GUARD(mg_reader_take(r, &p, n));
  for (size_t i = 0; i < n; i++) {
    v = (v << 8) | p[i];
  }
  *out = v;
  return 0;
}

int mg_read_u8(mg_reader *r, uint8_t *out) {
  uint64_t v = 0;
  MG_ENSURE_REF(out);
  MG_GUARD(mg_read_be(r, 1, &v));
  *out = (uint8_t)v;
  return 0;
}

int mg_read_u16(mg_reader *r, uint16_t *out) {
  uint64_t v = 0;
  MG_ENSURE_REF(out);
  MG_GUARD(mg_read_be(r, 2, &v));
  *out = (uint16_t)v;
  return 0;
}

int mg_read_u32(mg_reader *r, uint32_t *out) {
  uint64_t v = 0;
  MG_ENSURE_REF(out);
  MG_GUARD(mg_read_be(r, 4, &v));
  *out = (uint32_t)v;
  return 0;
}

int mg_read_u64(mg_reader *r, uint64_t *out) {
  MG_ENSURE_REF(out);
  return mg_read_be(r, 8, out);
}

int mg_read_bytes(mg_reader *r, const uint8_t **out, size_t n) {
  return mg_reader_take(r, out, n);
}

int mg_read_copy(mg_reader *r, uint8_t *out, size_t n) {
  const uint8_t *p = NULL;

  MG_ENSURE(out != NULL || n == 0, MG_ERR_INVALID_ARG);
  MG_GUARD(mg_reader_take(r, &p, n));
  if (n > 0) {
    memcpy(out, p, n);
  }
  return 0;
}

int mg_read_fixed(mg_reader *r, mg_reader *out, size_t n) {
  const uint8_t *p = NULL;

  MG_ENSURE_REF(out);
  MG_GUARD(mg_reader_take(r, &p, n));
  mg_reader_init(out, p, n);
  return 0;
}

/* RFC 9420 §2.1.2: the top two bits of the first byte give the length
 * (00 -> 1, 01 -> 2, 10 -> 4 bytes; 11 is invalid) and the value must use
 * the shortest form that holds it. */
int mg_read_varint(mg_reader *r, uint32_t *out) {
  mg_reader tmp;
  const uint8_t *first = NULL;
  uint64_t v = 0;
  size_t n;
  uint32_t min;

  MG_ENSURE_REF(r);
  MG_ENSURE_REF(out);
  tmp = *r;
  /* Peek at the prefix on a copy; |r| is only updated on success. */
  MG_GUARD(mg_reader_take(&tmp, &first, 1));
  switch (first[0] >> 6) {
  case 0:
    n = 1;
    min = 0;
    break;
  case 1:
    n = 2;
    min = 1u << 6;
    break;
  case 2:
    n = 4;
    min = 1u << 14;
    break;
  default:
    return MG_ERR_VARINT_PREFIX;
  }
  tmp = *r;
  MG_GUARD(mg_read_be(&tmp, n, &v));
  /* Drop the prefix bits: at most 30 value bits remain. */
  v &= MG_VARINT_MAX >> (8 * (4 - n));
  if (v < min) {
    return MG_ERR_VARINT_NONMINIMAL;
  }
  *out = (uint32_t)v;
  *r = tmp;
  return 0;
}

int mg_read_vec(mg_reader *r, mg_reader *out) {
  return mg_read_vec_max(r, out, (size_t)MG_VARINT_MAX);
}

int mg_read_vec_max(mg_reader *r, mg_reader *out, size_t max) {
  mg_reader tmp;
  uint32_t len = 0;

  MG_ENSURE_REF(r);
  MG_ENSURE_REF(out);
  tmp = *r;
  MG_GUARD(mg_read_varint(&tmp, &len));
  MG_ENSURE((size_t)len <= max, MG_ERR_LENGTH);
  MG_GUARD(mg_read_fixed(&tmp, out, len));
  *r = tmp;
  return 0;
}

/* RFC 9420 §2.1.1 (TLS optional<T>): presence octet 0 or 1. */
int mg_read_optional(mg_reader *r, int *present) {
  mg_reader tmp;
  uint8_t b = 0;

  MG_ENSURE_REF(r);
  MG_ENSURE_REF(present);
  tmp = *r;
  MG_GUARD(mg_read_u8(&tmp, &b));
  MG_ENSURE(b <= 1, MG_ERR_OPTIONAL);
  *present = b;
  *r = tmp;
  return 0;
}

int mg_reader_done(const mg_reader *r) {
  MG_ENSURE_REF(r);
  return r->len == 0 ? 0 : MG_ERR_TRAILING;
}

/* ------------------------------------------------------------- writer */

void mg_writer_zero(mg_writer *w) {
  if (w == NULL) {
    return;
  }
  /* All-zero is the zero state: not fixed and max == 0 (an initialized
   * growable writer always has max > 0), so `mg_writer w = {0}` works too. */
  w->buf = NULL;
  w->len = 0;
  w->cap = 0;
  w->max = 0;
  w->err = 0;
  w->fixed = 0;
}

static int mg_writer_is_zero_state(const mg_writer *w) {
  return !w->fixed && w->max == 0;
}

int mg_writer_init(mg_writer *w, size_t initial_cap, size_t max) {
  MG_ENSURE_REF(w);
  mg_writer_zero(w);
  if (max == 0) {
    max = MG_WRITER_DEFAULT_MAX;
  }
  if (initial_cap > max) {
    initial_cap = max;
  }
  if (initial_cap > 0) {
    w->buf = malloc(initial_cap);
    if (w->buf == NULL) {
      return MG_ERR_NOMEM;
    }
  }
  w->cap = initial_cap;
  w->max = max;
  return 0;
}

void mg_writer_init_fixed(mg_writer *w, uint8_t *buf, size_t cap) {
  if (w == NULL) {
    return;
  }
  mg_writer_zero(w);
  w->fixed = 1;
  if (buf == NULL && cap > 0) {
    /* Fail closed: every write reports the misuse. */
    w->err = MG_ERR_INVALID_ARG;
    return;
  }
  w->buf = buf;
  w->cap = cap;
  w->max = cap;
}

void mg_writer_cleanup(mg_writer *w) {
  if (w == NULL) {
    return;
  }
  if (w->buf != NULL) {
    if (w->fixed) {
      mg_memzero(w->buf, w->len);
    } else {
      mg_free_secret(w->buf, w->cap);
    }
  }
  mg_writer_zero(w);
}

/* Records |err| as the sticky error (if none yet) and returns it. */
static int mg_writer_fail(mg_writer *w, int err) {
  if (w->err == 0) {
    w->err = err;
  }
  return w->err;
}

/* Grows an owned buffer to hold at least |need| <= w->max bytes.  The
 * capacity doubles (bounded by w->max, so it cannot overflow).  The old
 * buffer is wiped and freed only once the copy exists. */
static MG_MUST_USE int mg_writer_grow(mg_writer *w, size_t need) {
  size_t cap = w->cap > 0 ? w->cap : MG_WRITER_MIN_ALLOC;
  uint8_t *nb;

  while (cap < need) {
    if (cap > w->max / 2) {
      cap = w->max;
      break;
    }
    cap *= 2;
  }
  if (cap > w->max) {
    cap = w->max;
  }
  nb = malloc(cap);
  if (nb == NULL) {
    return MG_ERR_NOMEM;
  }
  if (w->len > 0) {
    memcpy(nb, w->buf, w->len);
  }
  if (w->buf != NULL) {
    mg_free_secret(w->buf, w->cap);
  }
  w->buf = nb;
  w->cap = cap;
  return 0;
}

/* mg_writer_reserve appends |n| bytes to |w| and points |*out| at them (the
 * caller fills them in).  On failure nothing changes except the sticky
 * error.  For n == 0 |*out| may be NULL. */
static MG_MUST_USE int mg_writer_reserve(mg_writer *w, size_t n,
                                         uint8_t **out) {
  int rc;

  if (w == NULL || out == NULL) {
    return MG_ERR_INVALID_ARG;
  }
  *out = NULL;
  if (w->err != 0) {
    return w->err;
  }
  if (mg_writer_is_zero_state(w)) {
    return mg_writer_fail(w, MG_ERR_INVALID_ARG);
  }
  if (n == 0) {
    return 0;
  }
  /* w->len <= w->max always holds, so the subtraction cannot wrap. */
  if (n > w->max - w->len) {
    return mg_writer_fail(w, MG_ERR_BUFFER_TOO_SMALL);
  }
  if (w->len + n > w->cap) {
    if (w->fixed) {
      /* Unreachable while cap == max, kept as a guard. */
      return mg_writer_fail(w, MG_ERR_BUFFER_TOO_SMALL);
    }
    rc = mg_writer_grow(w, w->len + n);
    if (rc < 0) {
      return mg_writer_fail(w, rc);
    }
  }
  *out = w->buf + w->len;
  w->len += n;
  return 0;
}

static void mg_put_be(uint8_t *p, uint64_t v, size_t n) {
  for (size_t i = n; i > 0; i--) {
    p[i - 1] = (uint8_t)(v & 0xff);
    v >>= 8;
  }
}

static MG_MUST_USE int mg_write_be(mg_writer *w, uint64_t v, size_t n) {
  uint8_t *p = NULL;
  MG_GUARD(mg_writer_reserve(w, n, &p));
  mg_put_be(p, v, n);
  return 0;
}

int mg_write_u8(mg_writer *w, uint8_t v) { return mg_write_be(w, v, 1); }

int mg_write_u16(mg_writer *w, uint16_t v) { return mg_write_be(w, v, 2); }

int mg_write_u32(mg_writer *w, uint32_t v) { return mg_write_be(w, v, 4); }

int mg_write_u64(mg_writer *w, uint64_t v) { return mg_write_be(w, v, 8); }

int mg_write_bytes(mg_writer *w, const uint8_t *p, size_t n) {
  uint8_t *dst = NULL;

  MG_ENSURE_REF(w);
  if (p == NULL && n > 0) {
    return mg_writer_fail(w, MG_ERR_INVALID_ARG);
  }
  MG_GUARD(mg_writer_reserve(w, n, &dst));
  if (n > 0) {
    memcpy(dst, p, n);
  }
  return 0;
}

/* Size of the MLS varint encoding of |v| (RFC 9420 §2.1.2), 0 if too big. */
static size_t mg_varint_size(uint64_t v) {
  if (v < (1u << 6)) {
    return 1;
  }
  if (v < (1u << 14)) {
    return 2;
  }
  if (v <= MG_VARINT_MAX) {
    return 4;
  }
  return 0;
}

/* Writes the varint of |v| (which must fit) into |n| = mg_varint_size(v)
 * bytes at |p|. */
static void mg_put_varint(uint8_t *p, uint64_t v, size_t n) {
  switch (n) {
  case 1:
    p[0] = (uint8_t)v;
    break;
  case 2:
    mg_put_be(p, 0x4000u | v, 2);
    break;
  default:
    mg_put_be(p, 0x80000000u | v, 4);
    break;
  }
}

int mg_write_varint(mg_writer *w, uint64_t v) {
  size_t n = mg_varint_size(v);
  uint8_t *p = NULL;

  MG_ENSURE_REF(w);
  if (n == 0) {
    return mg_writer_fail(w, MG_ERR_LENGTH);
  }
  MG_GUARD(mg_writer_reserve(w, n, &p));
  mg_put_varint(p, v, n);
  return 0;
}

int mg_write_opaque(mg_writer *w, const uint8_t *p, size_t n) {
  size_t hdr = mg_varint_size(n);
  uint8_t *dst = NULL;

  MG_ENSURE_REF(w);
  if (hdr == 0) {
    return mg_writer_fail(w, MG_ERR_LENGTH);
  }
  if (p == NULL && n > 0) {
    return mg_writer_fail(w, MG_ERR_INVALID_ARG);
  }
  /* One reservation for header and body (hdr + n <= 4 + 2^30 - 1). */
  MG_GUARD(mg_writer_reserve(w, hdr + n, &dst));
  mg_put_varint(dst, n, hdr);
  if (n > 0) {
    memcpy(dst + hdr, p, n);
  }
  return 0;
}

int mg_write_optional(mg_writer *w, int present) {
  return mg_write_u8(w, present ? 1 : 0);
}

int mg_write_vec_begin(mg_writer *w, size_t *out_mark) {
  uint8_t *p = NULL;

  MG_ENSURE_REF(w);
  MG_ENSURE_REF(out_mark);
  /* On failure the mark still names the current end; vec_end then reports
   * the sticky error. */
  *out_mark = w->len;
  MG_GUARD(mg_writer_reserve(w, 1, &p));
  p[0] = 0;
  return 0;
}

/* The body was written after a 1-byte placeholder; once its size is known,
 * widen the placeholder to a 2- or 4-byte varint by shifting the body
 * (picotls ptls_buffer__adjust_quic_blocksize). */
int mg_write_vec_end(mg_writer *w, size_t mark) {
  size_t body_len;
  size_t hdr;
  uint8_t *extra = NULL;

  MG_ENSURE_REF(w);
  if (w->err != 0) {
    return w->err;
  }
  if (mark >= w->len || w->buf == NULL) {
    /* Not a mark from mg_write_vec_begin on this writer. */
    return mg_writer_fail(w, MG_ERR_INVALID_ARG);
  }
  body_len = w->len - mark - 1;
  hdr = mg_varint_size(body_len);
  if (hdr == 0) {
    return mg_writer_fail(w, MG_ERR_LENGTH);
  }
  if (hdr > 1) {
    MG_GUARD(mg_writer_reserve(w, hdr - 1, &extra));
    /* reserve may have moved the buffer: index from w->buf only. */
    memmove(w->buf + mark + hdr, w->buf + mark + 1, body_len);
  }
  mg_put_varint(w->buf + mark, body_len, hdr);
  return 0;
}

int mg_writer_finish(mg_writer *w, uint8_t **out, size_t *out_len) {
  int rc = 0;

  MG_ENSURE_REF(w);
  if (out == NULL || out_len == NULL) {
    /* The writer is still owned by the caller, who must clean it up. */
    return MG_ERR_INVALID_ARG;
  }
  *out = NULL;
  *out_len = 0;
  if (w->err != 0) {
    MG_FAIL(w->err);
  }
  if (mg_writer_is_zero_state(w)) {
    MG_FAIL(MG_ERR_INVALID_ARG);
  }
  if (w->buf == NULL && !w->fixed) {
    /* Nothing was ever written: still hand out a buffer so that success
     * always means *out != NULL. */
    w->buf = malloc(1);
    if (w->buf == NULL) {
      MG_FAIL(MG_ERR_NOMEM);
    }
    w->cap = 1;
  }
  *out = w->buf;
  *out_len = w->len;
  mg_writer_zero(w);
  return 0;

out:
  mg_writer_cleanup(w);
  return rc;
}
