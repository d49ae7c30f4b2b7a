/* GroupContext (RFC 9420 §8.1).  See msg_context.h. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/guard.h"
#include "mls/constants.h"
#include "mls/msg_context.h"

/*
 *   struct {
 *       ProtocolVersion version = mls10;
 *       CipherSuite cipher_suite;
 *       opaque group_id<V>;
 *       uint64 epoch;
 *       opaque tree_hash<V>;
 *       opaque confirmed_transcript_hash<V>;
 *       Extension extensions<V>;
 *   } GroupContext;
 */

int mls_group_context_decode(mg_reader *r, mls_group_context *out) {
  mg_reader tmp;
  mls_group_context v;
  int rc;

  memset(&v, 0, sizeof(v));
  if (r == NULL || out == NULL) {
    return MG_ERR_INVALID_ARG;
  }
  tmp = *r;
  MG_CHECK(mg_read_u16(&tmp, &v.version));
  if (v.version != MLS_VERSION_MLS10) {
    MG_FAIL(MG_ERR_VERSION);
  }
  MG_CHECK(mg_read_u16(&tmp, &v.cipher_suite));
  MG_CHECK(mls_bytes_read(&tmp, &v.group_id));
  MG_CHECK(mg_read_u64(&tmp, &v.epoch));
  MG_CHECK(mls_bytes_read(&tmp, &v.tree_hash));
  MG_CHECK(mls_bytes_read(&tmp, &v.confirmed_transcript_hash));
  MG_CHECK(mls_extension_list_decode(&tmp, &v.extensions));
  *out = v;
  *r = tmp;
  return 0;
out:
  mls_group_context_cleanup(&v);
  return rc;
}

int mls_group_context_encode(mg_writer *w, const mls_group_context *in) {
  MG_ENSURE(w != NULL && in != NULL, MG_ERR_INVALID_ARG);
  MG_GUARD(mg_write_u16(w, in->version));
  MG_GUARD(mg_write_u16(w, in->cipher_suite));
  MG_GUARD(mls_bytes_write(w, &in->group_id));
  MG_GUARD(mg_write_u64(w, in->epoch));
  MG_GUARD(mls_bytes_write(w, &in->tree_hash));
  MG_GUARD(mls_bytes_write(w, &in->confirmed_transcript_hash));
  return mls_extension_list_encode(w, &in->extensions);
}

int mls_group_context_serialize(const mls_group_context *in, uint8_t **out,
                                size_t *out_len) {
  mg_writer w;
  int rc;

  mg_writer_zero(&w);
  MG_ENSURE(in != NULL && out != NULL && out_len != NULL, MG_ERR_INVALID_ARG);
  MG_CHECK(mg_writer_init(&w, 128, 0));
  MG_CHECK(mls_group_context_encode(&w, in));
  return mg_writer_finish(&w, out, out_len);
out:
  mg_writer_cleanup(&w);
  return rc;
}

int mls_group_context_copy(mls_group_context *out,
                           const mls_group_context *in) {
  mls_group_context v;
  int rc;

  memset(&v, 0, sizeof(v));
  MG_ENSURE(out != NULL && in != NULL, MG_ERR_INVALID_ARG);
  v.version = in->version;
  v.cipher_suite = in->cipher_suite;
  v.epoch = in->epoch;
  MG_CHECK(mls_bytes_copy(&v.group_id, &in->group_id));
  MG_CHECK(mls_bytes_copy(&v.tree_hash, &in->tree_hash));
  MG_CHECK(mls_bytes_copy(&v.confirmed_transcript_hash,
                          &in->confirmed_transcript_hash));
  MG_CHECK(mls_extension_list_copy(&v.extensions, &in->extensions));
  *out = v;
  return 0;
out:
  mls_group_context_cleanup(&v);
  return rc;
}

void mls_group_context_cleanup(mls_group_context *x) {
  if (x == NULL) {
    return;
  }
  mls_bytes_cleanup(&x->group_id);
  mls_bytes_cleanup(&x->tree_hash);
  mls_bytes_cleanup(&x->confirmed_transcript_hash);
  mls_extension_list_cleanup(&x->extensions);
  memset(x, 0, sizeof(*x));
}
