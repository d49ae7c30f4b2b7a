/* PreSharedKeyID and PSKLabel (RFC 9420 §8.4).  See msg_context.h. */
#include "config.h"

#include <string.h>

#include "common/guard.h"
#include "mls/constants.h"
#include "mls/msg_context.h"

/*
 *   struct {
 *     PSKType psktype;
 *     select (PreSharedKeyID.psktype) {
 *       case external:
 *         opaque psk_id<V>;
 *       case resumption:
 *         ResumptionPSKUsage usage;
 *         opaque psk_group_id<V>;
 *         uint64 psk_epoch;
 *     };
 *     opaque psk_nonce<V>;
 *   } PreSharedKeyID;
 */

static int psk_usage_valid(uint8_t usage) {
  return usage == MLS_RESUMPTION_APPLICATION ||
         usage == MLS_RESUMPTION_REINIT || usage == MLS_RESUMPTION_BRANCH;
}

int mls_psk_id_decode(mg_reader *r, mls_psk_id *out) {
  mg_reader tmp;
  mls_psk_id v;
  int rc;

  memset(&v, 0, sizeof(v));
  if (r == NULL || out == NULL) {
    return MG_ERR_INVALID_ARG;
  }
  tmp = *r;
  MG_CHECK(mg_read_u8(&tmp, &v.psktype));
  switch (v.psktype) {
    case MLS_PSK_EXTERNAL:
      MG_CHECK(mls_bytes_read(&tmp, &v.psk_id));
      break;
    case MLS_PSK_RESUMPTION:
      MG_CHECK(mg_read_u8(&tmp, &v.usage));
      if (!psk_usage_valid(v.usage)) {
        MG_FAIL(MG_ERR_PSK);
      }
      MG_CHECK(mls_bytes_read(&tmp, &v.psk_group_id));
      MG_CHECK(mg_read_u64(&tmp, &v.psk_epoch));
      break;
    default:
      /* reserved(0) and unknown types: the select has no arm to decode. */
      MG_FAIL(MG_ERR_PSK);
  }
  MG_CHECK(mls_bytes_read(&tmp, &v.psk_nonce));
  *out = v;
  *r = tmp;
  return 0;
out:
  mls_psk_id_cleanup(&v);
  return rc;
}

int mls_psk_id_encode(mg_writer *w, const mls_psk_id *in) {
  MG_ENSURE(w != NULL && in != NULL, MG_ERR_INVALID_ARG);
  switch (in->psktype) {
    case MLS_PSK_EXTERNAL:
      MG_GUARD(mg_write_u8(w, in->psktype));
      MG_GUARD(mls_bytes_write(w, &in->psk_id));
      break;
    case MLS_PSK_RESUMPTION:
      MG_ENSURE(psk_usage_valid(in->usage), MG_ERR_PSK);
      MG_GUARD(mg_write_u8(w, in->psktype));
      MG_GUARD(mg_write_u8(w, in->usage));
      MG_GUARD(mls_bytes_write(w, &in->psk_group_id));
      MG_GUARD(mg_write_u64(w, in->psk_epoch));
      break;
    default:
      return MG_ERR_PSK;
  }
  return mls_bytes_write(w, &in->psk_nonce);
}

int mls_psk_id_copy(mls_psk_id *out, const mls_psk_id *in) {
  mls_psk_id v;
  int rc;

  memset(&v, 0, sizeof(v));
  MG_ENSURE(out != NULL && in != NULL, MG_ERR_INVALID_ARG);
  v.psktype = in->psktype;
  v.usage = in->usage;
  v.psk_epoch = in->psk_epoch;
  MG_CHECK(mls_bytes_copy(&v.psk_id, &in->psk_id));
  MG_CHECK(mls_bytes_copy(&v.psk_group_id, &in->psk_group_id));
  MG_CHECK(mls_bytes_copy(&v.psk_nonce, &in->psk_nonce));
  *out = v;
  return 0;
out:
  mls_psk_id_cleanup(&v);
  return rc;
}

int mls_psk_id_eq(const mls_psk_id *a, const mls_psk_id *b) {
  if (a->psktype != b->psktype || !mls_bytes_eq(&a->psk_nonce, &b->psk_nonce)) {
    return 0;
  }
  switch (a->psktype) {
    case MLS_PSK_EXTERNAL:
      return mls_bytes_eq(&a->psk_id, &b->psk_id);
    case MLS_PSK_RESUMPTION:
      return a->usage == b->usage && a->psk_epoch == b->psk_epoch &&
             mls_bytes_eq(&a->psk_group_id, &b->psk_group_id);
    default:
      return 0;
  }
}

void mls_psk_id_cleanup(mls_psk_id *x) {
  if (x == NULL) {
    return;
  }
  mls_bytes_cleanup(&x->psk_id);
  mls_bytes_cleanup(&x->psk_group_id);
  mls_bytes_cleanup(&x->psk_nonce);
  memset(x, 0, sizeof(*x));
}

/*
 *   struct {
 *       PreSharedKeyID id;
 *       uint16 index;
 *       uint16 count;
 *   } PSKLabel;
 */
int mls_psk_label_encode(mg_writer *w, const mls_psk_id *id, uint16_t index,
                         uint16_t count) {
  MG_GUARD(mls_psk_id_encode(w, id));
  MG_GUARD(mg_write_u16(w, index));
  return mg_write_u16(w, count);
}
