/* Hexadecimal helpers (src/common/hex.h). */
#include "config.h"

#include <stdlib.h>

#include "common/hex.h"
#include "common/secmem.h"

/* Returns the value of one hex digit, or -1.  Branches on the input are fine
 * here: hex is used for vectors, key IDs and CLI output, not for secrets. */
static int mg_hex_digit(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

int mg_hex_decode(uint8_t **out, size_t *out_len, const char *hex,
                  size_t hex_len) {
  uint8_t *buf = NULL;
  size_t n;

  if (out == NULL || out_len == NULL || (hex == NULL && hex_len != 0)) {
    return MG_ERR_INVALID_ARG;
  }
  if (hex_len % 2 != 0) {
    return MG_ERR_HEX;
  }
  n = hex_len / 2;
  /* Always allocate at least one byte so *out is never NULL on success. */
  buf = malloc(n > 0 ? n : 1);
  if (buf == NULL) {
    return MG_ERR_NOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    int hi = mg_hex_digit(hex[2 * i]);
    int lo = mg_hex_digit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      /* The partial output may be key material: wipe it. */
      mg_free_secret(buf, n);
      return MG_ERR_HEX;
    }
    buf[i] = (uint8_t)((hi << 4) | lo);
  }
  if (n == 0) {
    buf[0] = 0;
  }
  *out = buf;
  *out_len = n;
  return 0;
}

void mg_hex_encode(char *out, const uint8_t *in, size_t len) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < len; i++) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 0x0f];
  }
  out[2 * len] = '\0';
}
