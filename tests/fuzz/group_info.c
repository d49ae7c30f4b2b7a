/*
 * libFuzzer target for the GroupInfo decoder (mls_group_info_decode,
 * src/mls/msg_group_info.c; RFC 9420 §12.4.3), without the MLSMessage
 * header.
 *
 * Properties: a failed decode leaves the reader unchanged; a value that
 * decodes re-encodes to exactly the bytes it was read from, and its
 * GroupInfoTBS is those bytes without the trailing signature<V>.  Any
 * violation aborts.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "mls/msg_framing.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mg_reader r;
  mls_group_info gi;
  mg_writer w;
  uint8_t *out = NULL;
  size_t out_len = 0, used;

  mg_reader_init(&r, data, size);
  if (mls_group_info_decode(&r, &gi) < 0) {
    if (r.data != data || r.len != size) {
      abort();
    }
    return 0;
  }
  used = size - r.len;
  if (mls_group_info_serialize(&gi, &out, &out_len) != 0 || out_len != used ||
      (used > 0 && memcmp(out, data, used) != 0)) {
    abort();
  }
  free(out);
  /* The TBS is a prefix: everything but the signature. */
  if (mg_writer_init(&w, 256, 0) != 0) {
    abort();
  }
  if (mls_group_info_tbs_encode(&w, &gi) != 0 || mg_writer_len(&w) >= used ||
      memcmp(mg_writer_data(&w), data, mg_writer_len(&w)) != 0) {
    abort();
  }
  mg_writer_cleanup(&w);
  mls_group_info_cleanup(&gi);
  return 0;
}
