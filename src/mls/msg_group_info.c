/* GroupInfo and GroupInfoTBS (RFC 9420 §12.4.3).  See msg_framing.h. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/guard.h"
#include "mls/msg_framing.h"

/* RFC 9420 §12.4.3
 *   struct {
 *       GroupContext group_context;
 *       Extension extensions<V>;
 *       MAC confirmation_tag;
 *       uint32 signer;
 *       // SignWithLabel(., "GroupInfoTBS", GroupInfoTBS)
 *       opaque signature<V>;
 *   } GroupInfo;
 * Unknown (and GREASE) extensions are kept and ignored (§12.4.3, §13.5). */
int mls_group_info_decode(mg_reader *r, mls_group_info *out) {
  mg_reader tmp;
  mls_group_info v;
  int rc;

  MG_ENSURE(r != NULL && out != NULL, MG_ERR_INVALID_ARG);
  memset(&v, 0, sizeof(v));
  tmp = *r;
  MG_CHECK(mls_group_context_decode(&tmp, &v.group_context));
  MG_CHECK(mls_extension_list_decode(&tmp, &v.extensions));
  MG_CHECK(mls_bytes_read(&tmp, &v.confirmation_tag));
  if (v.confirmation_tag.len == 0) {
    /* A MAC is Hash.Nh bytes under every suite. */
    MG_FAIL(MG_ERR_CONFIRMATION_TAG);
  }
  MG_CHECK(mg_read_u32(&tmp, &v.signer));
  MG_CHECK(mls_bytes_read(&tmp, &v.signature));
  *r = tmp;
  *out = v;
  return 0;
out:
  mls_group_info_cleanup(&v);
  return rc;
}

/* RFC 9420 §12.4.3
 *   struct {
 *       GroupContext group_context;
 *       Extension extensions<V>;
 *       MAC confirmation_tag;
 *       uint32 signer;
 *   } GroupInfoTBS; */
int mls_group_info_tbs_encode(mg_writer *w, const mls_group_info *in) {
  MG_ENSURE_REF(in);
  MG_GUARD(mls_group_context_encode(w, &in->group_context));
  MG_GUARD(mls_extension_list_encode(w, &in->extensions));
  MG_GUARD(mls_bytes_write(w, &in->confirmation_tag));
  return mg_write_u32(w, in->signer);
}

int mls_group_info_encode(mg_writer *w, const mls_group_info *in) {
  MG_GUARD(mls_group_info_tbs_encode(w, in));
  return mls_bytes_write(w, &in->signature);
}

void mls_group_info_cleanup(mls_group_info *x) {
  if (x == NULL) {
    return;
  }
  mls_group_context_cleanup(&x->group_context);
  mls_extension_list_cleanup(&x->extensions);
  mls_bytes_cleanup(&x->confirmation_tag);
  mls_bytes_cleanup(&x->signature);
  memset(x, 0, sizeof(*x));
}

int mls_group_info_serialize(const mls_group_info *in, uint8_t **out,
                             size_t *out_len) {
  mg_writer w;
  int rc;
  MG_ENSURE(in != NULL && out != NULL && out_len != NULL, MG_ERR_INVALID_ARG);
  MG_GUARD(mg_writer_init(&w, 512, 0));
  rc = mls_group_info_encode(&w, in);
  if (rc < 0) {
    mg_writer_cleanup(&w);
    return rc;
  }
  return mg_writer_finish(&w, out, out_len);
}
