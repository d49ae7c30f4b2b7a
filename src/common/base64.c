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
  for (size_t i = 0; i < in_len; i += 4) {
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
