/*
 * libFuzzer target for the Welcome decoder (mls_welcome_decode,
 * src/mls/msg_welcome.c; RFC 9420 §12.4.3.1), without the MLSMessage
 * header, and for the GroupSecrets a Welcome carries encrypted to each new
 * member (mls_group_secrets_decode).
 *
 * Properties: a failed decode leaves the reader unchanged; a value that
 * decodes re-encodes to exactly the bytes it was read from.  Any violation
 * aborts.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/secmem.h"
#include "mls/msg_framing.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_same(const uint8_t *got, size_t got_len, const uint8_t *want,
                       size_t want_len) {
  if (got_len != want_len || (want_len > 0 && memcmp(got, want, want_len) != 0)) {
    abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mg_reader r;
  mls_welcome wl;
  mls_group_secrets gs;
  uint8_t *out = NULL;
  size_t out_len = 0;

  mg_reader_init(&r, data, size);
  if (mls_welcome_decode(&r, &wl) < 0) {
    if (r.data != data || r.len != size) {
      abort();
    }
  } else {
    if (mls_welcome_serialize(&wl, &out, &out_len) != 0) {
      abort();
    }
    check_same(out, out_len, data, size - r.len);
    free(out);
    mls_welcome_cleanup(&wl);
  }

  mg_reader_init(&r, data, size);
  if (mls_group_secrets_decode(&r, &gs) < 0) {
    if (r.data != data || r.len != size) {
      abort();
    }
  } else {
    if (mls_group_secrets_serialize(&gs, &out, &out_len) != 0) {
      abort();
    }
    check_same(out, out_len, data, size - r.len);
    mg_free_secret(out, out_len);
    mls_group_secrets_cleanup(&gs);
  }
  return 0;
}
