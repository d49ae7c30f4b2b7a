/*
 * libFuzzer target for the MLSMessage decoder (mls_message_decode,
 * src/mls/msg_message.c; RFC 9420 §6) and for the two framing structures
 * that never travel alone: AuthenticatedContent (the input of ProposalRef
 * and the transcript hash) and the decrypted PrivateMessageContent with
 * its padding.
 *
 * Properties (BoringSSL fuzz/der_roundtrip.cc, STYLE.md §10):
 *   - a failed decode leaves the reader unchanged;
 *   - a value that decodes re-encodes to exactly the bytes it was read from;
 *   - mls_message_decode_bytes accepts exactly the inputs that decode with
 *     nothing left over;
 *   - PrivateMessageContent consumes the whole plaintext and re-encodes to
 *     it (the padding being all zeros).
 * Any violation aborts.
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

static void fuzz_message(const uint8_t *data, size_t size) {
  mg_reader r;
  mls_message m;
  uint8_t *out = NULL;
  size_t out_len = 0, used;
  int rc, rc_bytes;

  mg_reader_init(&r, data, size);
  rc = mls_message_decode(&r, &m);
  if (rc < 0) {
    if (r.data != data || r.len != size) {
      abort();
    }
  } else {
    used = size - r.len;
    if (mls_message_serialize(&m, &out, &out_len) != 0) {
      abort();
    }
    check_same(out, out_len, data, used);
    free(out);
    mls_message_cleanup(&m);
  }
  rc_bytes = mls_message_decode_bytes(data, size, &m);
  if ((rc_bytes == 0) != (rc == 0 && r.len == 0)) {
    abort();
  }
  if (rc_bytes == 0) {
    mls_message_cleanup(&m);
  }
}

static void fuzz_authenticated_content(const uint8_t *data, size_t size) {
  mg_reader r;
  mls_authenticated_content ac;
  uint8_t *out = NULL;
  size_t out_len = 0;

  mg_reader_init(&r, data, size);
  if (mls_authenticated_content_decode(&r, &ac) < 0) {
    if (r.data != data || r.len != size) {
      abort();
    }
    return;
  }
  if (mls_authenticated_content_serialize(&ac, &out, &out_len) != 0) {
    abort();
  }
  check_same(out, out_len, data, size - r.len);
  free(out);
  mls_authenticated_content_cleanup(&ac);
}

static void fuzz_private_content(const uint8_t *data, size_t size,
                                 uint8_t content_type) {
  mg_reader r;
  mls_private_message_content c;
  uint8_t *out = NULL;
  size_t out_len = 0;

  mg_reader_init(&r, data, size);
  if (mls_private_message_content_decode(&r, content_type, &c) < 0) {
    if (r.data != data || r.len != size) {
      abort();
    }
    return;
  }
  if (r.len != 0 ||
      mls_private_message_content_serialize(&c, &out, &out_len) != 0) {
    abort();
  }
  check_same(out, out_len, data, size);
  mg_free_secret(out, out_len);
  mls_private_message_content_cleanup(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_message(data, size);
  fuzz_authenticated_content(data, size);
  /* The plaintext's content type comes from the PrivateMessage header; let
   * the first byte choose it, the rest is the plaintext. */
  if (size > 0) {
    fuzz_private_content(data + 1, size - 1, (uint8_t)(data[0] % 4));
  }
  return 0;
}
