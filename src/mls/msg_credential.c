/*
 * Credential (RFC 9420 §5.3).
 *
 *   struct { opaque cert_data<V>; } Certificate;
 *   struct {
 *       CredentialType credential_type;
 *       select (Credential.credential_type) {
 *           case basic: opaque identity<V>;
 *           case x509:  Certificate certificates<V>;
 *       };
 *   } Credential;
 *
 * The RFC defines no body for other credential types; we read it as one
 * `opaque<V>` (as the extensible types registered so far are laid out) and
 * keep it unchanged.
 */
#include "config.h"

#include <string.h>

#include "common/guard.h"
#include "mls/constants.h"
#include "mls/msg_leaf.h"
#include "mls/msg_leaf_internal.h"

static void cert_cleanup(void *p) { mls_bytes_cleanup(p); }

static int cert_decode(mg_reader *r, void *p) { return mls_bytes_read(r, p); }

static int cert_encode(mg_writer *w, const void *p) {
  return mls_bytes_write(w, p);
}

int mls_credential_decode(mg_reader *r, mls_credential *out) {
  mls_credential c;
  mg_reader tmp;
  void *arr = NULL;
  int rc;
  MG_ENSURE(r != NULL && out != NULL, MG_ERR_INVALID_ARG);
  memset(&c, 0, sizeof(c));
  tmp = *r;
  MG_GUARD(mg_read_u16(&tmp, &c.credential_type));
  switch (c.credential_type) {
  case MLS_CREDENTIAL_BASIC:
    rc = mls_bytes_read(&tmp, &c.identity);
    break;
  case MLS_CREDENTIAL_X509:
    rc = mls_vec_decode(&tmp, &arr, &c.num_certificates, sizeof(mls_bytes), 0,
                        cert_decode, cert_cleanup);
    c.certificates = arr;
    break;
  default:
    rc = mls_bytes_read(&tmp, &c.opaque);
    break;
  }
  MG_GUARD(rc);
  *out = c;
  *r = tmp;
  return 0;
}

int mls_credential_encode(mg_writer *w, const mls_credential *in) {
  MG_ENSURE_REF(in);
  MG_GUARD(mg_write_u16(w, in->credential_type));
  switch (in->credential_type) {
  case MLS_CREDENTIAL_BASIC:
    return mls_bytes_write(w, &in->identity);
  case MLS_CREDENTIAL_X509:
    return mls_vec_encode(w, in->certificates, in->num_certificates,
                          sizeof(mls_bytes), cert_encode);
  default:
    return mls_bytes_write(w, &in->opaque);
  }
}

static int credential_decode_v(mg_reader *r, void *p) {
  return mls_credential_decode(r, p);
}

static int credential_encode_v(mg_writer *w, const void *p) {
  return mls_credential_encode(w, p);
}

int mls_credential_copy(mls_credential *out, const mls_credential *in) {
  MG_ENSURE(out != NULL && in != NULL, MG_ERR_INVALID_ARG);
  memset(out, 0, sizeof(*out));
  return mls_leaf_copy_with(credential_encode_v, credential_decode_v, in, out);
}

int mls_credential_eq(const mls_credential *a, const mls_credential *b) {
  if (a == NULL || b == NULL || a->credential_type != b->credential_type) {
    return 0;
  }
  switch (a->credential_type) {
  case MLS_CREDENTIAL_BASIC:
    return mls_bytes_eq(&a->identity, &b->identity);
  case MLS_CREDENTIAL_X509:
    if (a->num_certificates != b->num_certificates) {
      return 0;
    }
    for (size_t i = 0; i < a->num_certificates; i++) {
      if (!mls_bytes_eq(&a->certificates[i], &b->certificates[i])) {
        return 0;
      }
    }
    return 1;
  default:
    return mls_bytes_eq(&a->opaque, &b->opaque);
  }
}

void mls_credential_cleanup(mls_credential *x) {
  if (x == NULL) {
    return;
  }
  mls_bytes_cleanup(&x->identity);
  mls_vec_free(x->certificates, x->num_certificates, sizeof(mls_bytes),
               cert_cleanup);
  mls_bytes_cleanup(&x->opaque);
  memset(x, 0, sizeof(*x));
}
