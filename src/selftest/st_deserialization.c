/* Self-test kind for mls/deserialization.json: the MLS variable-length
 * vector header (RFC 9420 §2.1.2). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "selftest/selftest.h"

static int ds_match(const char *base) {
  return strcmp(base, "deserialization.json") == 0;
}

static size_t ds_count(const json_t *root) {
  return json_is_array(root) ? json_array_size(root) : 0;
}

static void ds_run(const json_t *root, size_t i, mg_st_report *rep) {
  const json_t *c = json_array_get(root, i);
  const json_t *jlen = json_object_get(c, "length");
  uint8_t *hdr = NULL;
  size_t hdr_len = 0;
  mg_writer w;
  mg_writer_zero(&w);
  if (!json_is_integer(jlen) || mg_st_hex(c, "vlbytes_header", &hdr, &hdr_len) < 0) {
    mg_st_fail(rep, "case %zu: vlbytes_header/length missing or malformed", i);
    goto out;
  }
  /* Decode: the whole header must be consumed and give |length|. */
  mg_reader r;
  mg_reader_init(&r, hdr, hdr_len);
  uint32_t v = 0;
  int rc = mg_read_varint(&r, &v);
  if (rc < 0) {
    mg_st_fail(rep, "case %zu: header %s rejected: %s", i,
               json_string_value(json_object_get(c, "vlbytes_header")),
               mg_strerror(rc));
    goto out;
  }
  if (mg_reader_done(&r) < 0) {
    mg_st_fail(rep, "case %zu: header has trailing bytes", i);
    goto out;
  }
  if ((json_int_t)v != json_integer_value(jlen)) {
    mg_st_fail(rep, "case %zu: length = %u, want %lld", i, v,
               (long long)json_integer_value(jlen));
    goto out;
  }
  /* Encode: our (minimal) encoding of |length| must be the same header. */
  uint8_t buf[8];
  mg_writer_init_fixed(&w, buf, sizeof(buf));
  if (mg_write_varint(&w, v) < 0) {
    mg_st_fail(rep, "case %zu: cannot encode %u", i, v);
    goto out;
  }
  if (!mg_st_eq(rep, i, "encoded header", mg_writer_data(&w), mg_writer_len(&w),
                hdr, hdr_len)) {
    goto out;
  }
  mg_st_pass(rep);
out:
  mg_writer_cleanup(&w);
  free(hdr);
}

const mg_st_kind mg_st_kind_deserialization = {
    "deserialization", ds_match, ds_count, ds_run,
};
