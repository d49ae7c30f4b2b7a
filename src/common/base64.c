/* Base64 (src/common/base64.h). */
#include "config.h"

#include <string.h>

#include "common/base64.h"
#include "common/secmem.h"

/* Branch-free helpers in the manner of libsodium's sodium/codecs.c: masks are
 * all-ones when the condition holds. */
static unsigned mg_b64_eq(unsigned x, unsigned y) {
  return (0u - (((((x ^ y) & 0xffu) - 1u) >> 8) & 1u)) & 0xffu;
}

static unsigned mg_b64_lt(unsigned x, unsigned y) {
  return (0u - (((x - y) >> 8) & 1u)) & 0xffu;
}

static unsigned mg_b64_ge(unsigned x, unsigned y) {
  return mg_b64_lt(x, y) ^ 0xffu;
}

/* Maps a 6-bit value to its character. */
static char mg_b64_char(unsigned x) {
  unsigned c = 0;
  c |= mg_b64_lt(x, 26) & (x + 'A');
  c |= mg_b64_ge(x, 26) & mg_b64_lt(x, 52) & (x + ('a' - 26));
  c |= mg_b64_ge(x, 52) & mg_b64_lt(x, 62) & (x + ('0' - 52));
  c |= mg_b64_eq(x, 62) & '+';
  c |= mg_b64_eq(x, 63) & '/';
  return (char)c;
}

/* Maps a character to its 6-bit value, or 0xff if outside the alphabet. */
static unsigned mg_b64_val(unsigned c) {
  unsigned x = 0;
  unsigned ok = 0;
  unsigned m;
  m = mg_b64_ge(c, 'A') & mg_b64_lt(c, 'Z' + 1);
  x |= m & (c - 'A');
  ok |= m;
  m = mg_b64_ge(c, 'a') & mg_b64_lt(c, 'z' + 1);
  x |= m & (c - ('a' - 26));
  ok |= m;
  m = mg_b64_ge(c, '0') & mg_b64_lt(c, '9' + 1);
  x |= m & (c - ('0' - 52));
  ok |= m;
  m = mg_b64_eq(c, '+');
  x |= m & 62u;
  ok |= m;
  m = mg_b64_eq(c, '/');
  x |= m & 63u;
  ok |= m;
  return (x & ok & 0x3fu) | (ok ^ 0xffu);
}

/* Lookup tables for public data (mg_base64_encode_public/_decode_public):
 * their memory accesses depend on the data, so they never see secrets. */
static const char kEnc[65] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static unsigned char kDec[256];
static int kDecReady; /* benign race: every writer writes the same bytes */

static void dec_table(void) {
  if (!kDecReady) {
    for (unsigned c = 0; c < 256; c++) {
      kDec[c] = (unsigned char)mg_b64_val(c);
    }
    __atomic_store_n(&kDecReady, 1, __ATOMIC_RELEASE);
  }
}

/* ct: the constant-time character maps; else the tables. */
#define B64_CHAR(x) (ct ? mg_b64_char(x) : kEnc[(x)])
#define B64_VAL(c) (ct ? mg_b64_val(c) : (unsigned)kDec[(c)])

static void b64_encode(char *out, const uint8_t *in, size_t len, int ct);
static int b64_decode(uint8_t *out, size_t out_cap, size_t *out_len,
                      const char *in, size_t in_len, int ct);

void mg_base64_encode(char *out, const uint8_t *in, size_t len) {
  b64_encode(out, in, len, 1);
}

void mg_base64_encode_public(char *out, const uint8_t *in, size_t len) {
  b64_encode(out, in, len, 0);
}

int mg_base64_decode(uint8_t *out, size_t out_cap, size_t *out_len,
                     const char *in, size_t in_len) {
  return b64_decode(out, out_cap, out_len, in, in_len, 1);
}

int mg_base64_decode_public(uint8_t *out, size_t out_cap, size_t *out_len,
                            const char *in, size_t in_len) {
  if (!__atomic_load_n(&kDecReady, __ATOMIC_ACQUIRE)) {
    dec_table();
  }
  return b64_decode(out, out_cap, out_len, in, in_len, 0);
}

static void b64_encode(char *out, const uint8_t *in, size_t len, int ct) {
  size_t i = 0;
  size_t o = 0;
  while (len - i >= 3) {
    unsigned v = ((unsigned)in[i] << 16) | ((unsigned)in[i + 1] << 8) |
                 (unsigned)in[i + 2];
    out[o++] = B64_CHAR((v >> 18) & 0x3f);
    out[o++] = B64_CHAR((v >> 12) & 0x3f);
    out[o++] = B64_CHAR((v >> 6) & 0x3f);
    out[o++] = B64_CHAR(v & 0x3f);
    i += 3;
  }
  if (len - i == 1) {
    unsigned v = (unsigned)in[i] << 16;
    out[o++] = B64_CHAR((v >> 18) & 0x3f);
    out[o++] = B64_CHAR((v >> 12) & 0x3f);
    out[o++] = '=';
    out[o++] = '=';
  } else if (len - i == 2) {
    unsigned v = ((unsigned)in[i] << 16) | ((unsigned)in[i + 1] << 8);
    out[o++] = B64_CHAR((v >> 18) & 0x3f);
    out[o++] = B64_CHAR((v >> 12) & 0x3f);
    out[o++] = B64_CHAR((v >> 6) & 0x3f);
    out[o++] = '=';
  }
  out[o] = '\0';
}

/* The constant-time decoder's fast path, eight characters at a time in
 * the lanes of a 64-bit word (SWAR): the same range checks as mg_b64_val,
 * every lane at once, without branches or tables.  For a lane byte x
 * below 0x80, ((x | 0x80) - k) keeps bit 7 iff x >= k (k <= 0x80), and
 * never borrows from the next lane. */
#define L8(b) (0x0101010101010101ull * (uint64_t)(b))
#define SWAR_GE(x7, k) ((((x7) | L8(0x80)) - L8(k)) & L8(0x80))

/* swar_vals maps eight characters to their 6-bit values (one per lane);
 * a lane outside the alphabet sets bits in |*bad|. */
static uint64_t swar_vals(uint64_t w, uint64_t *bad) {
  uint64_t hi = w & L8(0x80);
  uint64_t x = w & L8(0x7f);
  uint64_t az_up = SWAR_GE(x, 'A') & ~SWAR_GE(x, 'Z' + 1);
  uint64_t az_lo = SWAR_GE(x, 'a') & ~SWAR_GE(x, 'z' + 1);
  uint64_t dig = SWAR_GE(x, '0') & ~SWAR_GE(x, '9' + 1);
  uint64_t plus = SWAR_GE(x, '+') & ~SWAR_GE(x, '+' + 1);
  uint64_t slash = SWAR_GE(x, '/') & ~SWAR_GE(x, '/' + 1);
  uint64_t ok = (az_up | az_lo | dig | plus | slash) & ~hi & L8(0x80);
  /* Bit 7 of a lane -> the whole lane. */
  az_up = (az_up >> 7) * 0xffu;
  az_lo = (az_lo >> 7) * 0xffu;
  dig = (dig >> 7) * 0xffu;
  plus = (plus >> 7) * 0xffu;
  slash = (slash >> 7) * 0xffu;
  uint64_t v = (az_up & ((x | L8(0x80)) - L8('A'))) |
               (az_lo & ((x | L8(0x80)) - L8('a' - 26))) |
               (dig & (x + L8(52 - '0'))) | (plus & L8(62)) |
               (slash & L8(63));
  *bad |= ok ^ L8(0x80);
  return v & L8(0x3f);
}

/* swar_decode decodes |n| characters (a multiple of 8, no padding) of
 * |in| into 3n/4 bytes at |out|; returns the lanes outside the alphabet
 * (0: none). */
static uint64_t swar_decode(uint8_t *out, const char *in, size_t n) {
  uint64_t bad = 0;
  for (size_t i = 0; i < n; i += 8, out += 6) {
    uint64_t w;
    memcpy(&w, in + i, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w); /* lane 0 = the first character */
#endif
    uint64_t v = swar_vals(w, &bad);
    uint64_t q0 = ((v & 0x3f) << 18) | (((v >> 8) & 0x3f) << 12) |
                  (((v >> 16) & 0x3f) << 6) | ((v >> 24) & 0x3f);
    uint64_t q1 = (((v >> 32) & 0x3f) << 18) | (((v >> 40) & 0x3f) << 12) |
                  (((v >> 48) & 0x3f) << 6) | ((v >> 56) & 0x3f);
    out[0] = (uint8_t)(q0 >> 16);
    out[1] = (uint8_t)(q0 >> 8);
    out[2] = (uint8_t)q0;
    out[3] = (uint8_t)(q1 >> 16);
    out[4] = (uint8_t)(q1 >> 8);
    out[5] = (uint8_t)q1;
  }
  return bad;
}

static int b64_decode(uint8_t *out, size_t out_cap, size_t *out_len,
                      const char *in, size_t in_len, int ct) {
  size_t pad = 0;
  size_t need;
  size_t o = 0;
  unsigned bad = 0;

  if (out_len == NULL || (in == NULL && in_len != 0) ||
      (out == NULL && out_cap != 0)) {
    return MG_ERR_INVALID_ARG;
  }
  *out_len = 0;
  if (in_len % 4 != 0) {
    return MG_ERR_BASE64;
  }
  if (in_len == 0) {
    return 0;
  }
  /* Padding is public (it only tells the length). */
  if (in[in_len - 1] == '=') {
    pad = 1;
    if (in[in_len - 2] == '=') {
      pad = 2;
    }
  }
  need = in_len / 4 * 3 - pad;
  if (need > out_cap) {
    return MG_ERR_BUFFER_TOO_SMALL;
  }
  size_t start = 0;
  if (ct && in_len > 4) {
    /* All but the last quad (which may hold padding), 8 at a time. */
    start = (in_len - 4) / 8 * 8;
    bad |= swar_decode(out, in, start) != 0 ? 0x80u : 0u;
    o = start / 4 * 3;
  }
  for (size_t i = start; i < in_len; i += 4) {
    unsigned a = B64_VAL((unsigned char)in[i]);
    unsigned b = B64_VAL((unsigned char)in[i + 1]);
    unsigned c;
    unsigned d;
    unsigned v;
    int last = i + 4 == in_len;
    /* '=' is allowed only as the last one or two characters. */
    c = (last && pad == 2) ? 0u : B64_VAL((unsigned char)in[i + 2]);
    d = (last && pad >= 1) ? 0u : B64_VAL((unsigned char)in[i + 3]);
    bad |= (a | b | c | d) & 0x80u;
    v = ((a & 0x3fu) << 18) | ((b & 0x3fu) << 12) | ((c & 0x3fu) << 6) |
        (d & 0x3fu);
    if (last && pad == 2) {
      bad |= v & 0xffffu;               /* non-canonical unused bits */
      out[o++] = (uint8_t)(v >> 16);
    } else if (last && pad == 1) {
      bad |= v & 0xffu;
      out[o++] = (uint8_t)(v >> 16);
      out[o++] = (uint8_t)(v >> 8);
    } else {
      out[o++] = (uint8_t)(v >> 16);
      out[o++] = (uint8_t)(v >> 8);
      out[o++] = (uint8_t)v;
    }
  }
  if (bad != 0) {
    mg_memzero(out, o);
    return MG_ERR_BASE64;
  }
  *out_len = o;
  return 0;
}
