/*
 * Extensions (RFC 9420 §7.2, §13) and the typed payloads of the extension
 * types of §17.3; code-point lists `uint16 x<V>`; the shared
 * serialize/copy helpers of msg_leaf_internal.h.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/guard.h"
#include "mls/constants.h"
#include "mls/msg_leaf.h"
#include "mls/msg_leaf_internal.h"

/* ------------------------------------------------------------ helpers */

int mls_leaf_serialize_with(mls_elem_encode_fn enc, const void *in,
                            uint8_t **out, size_t *out_len) {
  mg_writer w;
  int rc;
  MG_ENSURE(enc != NULL && in != NULL && out != NULL && out_len != NULL,
            MG_ERR_INVALID_ARG);
  MG_GUARD(mg_writer_init(&w, 256, 0));
  rc = enc(&w, in);
  if (rc < 0) {
    mg_writer_cleanup(&w);
    return rc;
  }
  return mg_writer_finish(&w, out, out_len);
}

int mls_leaf_copy_with(mls_elem_encode_fn enc, mls_elem_decode_fn dec,
                       const void *in, void *out) {
  uint8_t *buf = NULL;
  size_t len = 0;
  mg_reader r;
  int rc;
  MG_ENSURE(dec != NULL && out != NULL, MG_ERR_INVALID_ARG);
  MG_GUARD(mls_leaf_serialize_with(enc, in, &buf, &len));
  mg_reader_init(&r, buf, len);
  rc = dec(&r, out);
  if (rc == 0 && mg_reader_len(&r) != 0) {
    /* An encoder and decoder that disagree: a bug, not bad input. */
    rc = MG_ERR_INTERNAL;
  }
  free(buf);
  return rc;
}

/* --------------------------------------------------------- uint16 lists */

int mls_u16_list_contains(const mls_u16_list *l, uint16_t v) {
  if (l == NULL) {
    return 0;
  }
  for (size_t i = 0; i < l->n; i++) {
    if (l->v[i] == v) {
      return 1;
    }
  }
  return 0;
}

void mls_u16_list_cleanup(mls_u16_list *l) {
  if (l == NULL) {
    return;
  }
  free(l->v);
  l->v = NULL;
  l->n = 0;
}

int mls_u16_list_decode(mg_reader *r, mls_u16_list *out) {
  mg_reader tmp, body;
  uint16_t *v = NULL;
  size_t n;
  MG_ENSURE(r != NULL && out != NULL, MG_ERR_INVALID_ARG);
  tmp = *r;
  MG_GUARD(mg_read_vec(&tmp, &body));
  /* RFC 9420 §2.1.2: the length counts bytes; a partial element at the end
   * of the body is a truncated element. */
  MG_ENSURE(mg_reader_len(&body) % 2 == 0, MG_ERR_TRUNCATED);
  n = mg_reader_len(&body) / 2;
  if (n > 0) {
    v = calloc(n, sizeof(*v));
    MG_ENSURE(v != NULL, MG_ERR_NOMEM);
    for (size_t i = 0; i < n; i++) {
      int rc = mg_read_u16(&body, &v[i]);
      if (rc < 0) {
        free(v);
        return rc;
      }
    }
  }
  out->v = v;
  out->n = n;
  *r = tmp;
  return 0;
}

int mls_u16_list_encode(mg_writer *w, const mls_u16_list *in) {
  size_t mark;
  MG_ENSURE(in != NULL && (in->v != NULL || in->n == 0), MG_ERR_INVALID_ARG);
  MG_GUARD(mg_write_vec_begin(w, &mark));
  for (size_t i = 0; i < in->n; i++) {
    MG_GUARD(mg_write_u16(w, in->v[i]));
  }
  return mg_write_vec_end(w, mark);
}

/* ----------------------------------------------------------- Extension */

/* RFC 9420 §7.2
 *   struct {
 *       ExtensionType extension_type;
 *       opaque extension_data<V>;
 *   } Extension;
 */
static void extension_cleanup(void *p) {
  mls_extension *e = p;
  mls_bytes_cleanup(&e->extension_data);
  e->extension_type = 0;
}

static int extension_decode(mg_reader *r, void *p) {
  mls_extension *e = p;
  mg_reader tmp = *r;
  uint16_t type;
  MG_GUARD(mg_read_u16(&tmp, &type));
  MG_GUARD(mls_bytes_read(&tmp, &e->extension_data));
  e->extension_type = type;
  *r = tmp;
  return 0;
}

static int extension_encode(mg_writer *w, const void *p) {
  const mls_extension *e = p;
  MG_GUARD(mg_write_u16(w, e->extension_type));
  return mls_bytes_write(w, &e->extension_data);
}

/* has_duplicate returns 1 if a type occurs twice in |items| (a 64 Kib
 * bitmap keeps this linear for adversarial lists). */
static int has_duplicate(const mls_extension *items, size_t n) {
  uint64_t seen[65536 / 64];
  if (n < 2) {
    return 0;
  }
  memset(seen, 0, sizeof(seen));
  for (size_t i = 0; i < n; i++) {
    uint16_t t = items[i].extension_type;
    uint64_t bit = (uint64_t)1 << (t % 64);
    if (seen[t / 64] & bit) {
      return 1;
    }
    seen[t / 64] |= bit;
  }
  return 0;
}

int mls_extension_list_decode(mg_reader *r, mls_extension_list *out) {
  void *arr = NULL;
  size_t n = 0;
  MG_ENSURE(r != NULL && out != NULL, MG_ERR_INVALID_ARG);
  mg_reader tmp = *r;
  MG_GUARD(mls_vec_decode(&tmp, &arr, &n, sizeof(mls_extension), 0,
                          extension_decode, extension_cleanup));
  /* RFC 9420 §13: a list MUST NOT contain more than one extension of a
   * given type. */
  if (has_duplicate(arr, n)) {
    mls_vec_free(arr, n, sizeof(mls_extension), extension_cleanup);
    return MG_ERR_DUPLICATE_EXTENSION;
  }
  out->items = arr;
  out->n = n;
  *r = tmp;
  return 0;
}

int mls_extension_list_encode(mg_writer *w, const mls_extension_list *in) {
  MG_ENSURE(in != NULL, MG_ERR_INVALID_ARG);
  MG_ENSURE(!has_duplicate(in->items, in->n), MG_ERR_DUPLICATE_EXTENSION);
  return mls_vec_encode(w, in->items, in->n, sizeof(mls_extension),
                        extension_encode);
}

static int extension_list_decode_v(mg_reader *r, void *p) {
  return mls_extension_list_decode(r, p);
}

static int extension_list_encode_v(mg_writer *w, const void *p) {
  return mls_extension_list_encode(w, p);
}

int mls_extension_list_copy(mls_extension_list *out,
                            const mls_extension_list *in) {
  MG_ENSURE(out != NULL && in != NULL, MG_ERR_INVALID_ARG);
  memset(out, 0, sizeof(*out));
  return mls_leaf_copy_with(extension_list_encode_v, extension_list_decode_v,
                            in, out);
}

const mls_extension *mls_extension_list_find(const mls_extension_list *l,
                                             uint16_t type) {
  if (l == NULL) {
    return NULL;
  }
  for (size_t i = 0; i < l->n; i++) {
    if (l->items[i].extension_type == type) {
      return &l->items[i];
    }
  }
  return NULL;
}

int mls_extension_list_add(mls_extension_list *l, uint16_t type,
                           const uint8_t *data, size_t len) {
  mls_extension e;
  mls_extension *items;
  MG_ENSURE(l != NULL && (data != NULL || len == 0), MG_ERR_INVALID_ARG);
  MG_ENSURE(mls_extension_list_find(l, type) == NULL,
            MG_ERR_DUPLICATE_EXTENSION);
  MG_ENSURE(l->n < SIZE_MAX / sizeof(mls_extension) - 1, MG_ERR_LENGTH);
  memset(&e, 0, sizeof(e));
  e.extension_type = type;
  MG_GUARD(mls_bytes_dup(&e.extension_data, data, len));
  items = realloc(l->items, (l->n + 1) * sizeof(mls_extension));
  if (items == NULL) {
    mls_bytes_cleanup(&e.extension_data);
    return MG_ERR_NOMEM;
  }
  items[l->n] = e;
  l->items = items;
  l->n++;
  return 0;
}

void mls_extension_list_cleanup(mls_extension_list *l) {
  if (l == NULL) {
    return;
  }
  mls_vec_free(l->items, l->n, sizeof(mls_extension), extension_cleanup);
  l->items = NULL;
  l->n = 0;
}

/* ------------------------------------------------------ typed payloads */

/* payload_reader points |r| at the extension data of |ext| after checking
 * its type. */
static int payload_reader(const mls_extension *ext, uint16_t type,
                          mg_reader *r) {
  MG_ENSURE(ext != NULL && ext->extension_type == type, MG_ERR_INVALID_ARG);
  mg_reader_init(r, ext->extension_data.data, ext->extension_data.len);
  return 0;
}

/* decode_opaque_payload reads a payload that is one `opaque x<V>`. */
static int decode_opaque_payload(const mls_extension *ext, uint16_t type,
                                 mls_bytes *out) {
  mg_reader r;
  mls_bytes b = {NULL, 0};
  int rc;
  MG_ENSURE_REF(out);
  MG_GUARD(payload_reader(ext, type, &r));
  MG_GUARD(mls_bytes_read(&r, &b));
  rc = mg_reader_done(&r);
  if (rc < 0) {
    mls_bytes_cleanup(&b);
    return rc;
  }
  *out = b;
  return 0;
}

/* RFC 9420 §5.3.3: opaque application_id<V>; */
int mls_ext_application_id_decode(const mls_extension *ext, mls_bytes *out) {
  return decode_opaque_payload(ext, MLS_EXT_APPLICATION_ID, out);
}

/* RFC 9420 §12.4.3.2: struct { HPKEPublicKey external_pub; } ExternalPub; */
int mls_ext_external_pub_decode(const mls_extension *ext, mls_bytes *out) {
  return decode_opaque_payload(ext, MLS_EXT_EXTERNAL_PUB, out);
}

/* RFC 9420 §11.1 RequiredCapabilities */
int mls_required_capabilities_decode(mg_reader *r,
                                     mls_required_capabilities *out) {
  mls_required_capabilities rc_;
  mg_reader tmp;
  int rc;
  MG_ENSURE(r != NULL && out != NULL, MG_ERR_INVALID_ARG);
  memset(&rc_, 0, sizeof(rc_));
  tmp = *r;
  MG_CHECK(mls_u16_list_decode(&tmp, &rc_.extension_types));
  MG_CHECK(mls_u16_list_decode(&tmp, &rc_.proposal_types));
  MG_CHECK(mls_u16_list_decode(&tmp, &rc_.credential_types));
  *out = rc_;
  *r = tmp;
  return 0;
out:
  mls_required_capabilities_cleanup(&rc_);
  return rc;
}

int mls_required_capabilities_encode(mg_writer *w,
                                     const mls_required_capabilities *in) {
  MG_ENSURE_REF(in);
  MG_GUARD(mls_u16_list_encode(w, &in->extension_types));
  MG_GUARD(mls_u16_list_encode(w, &in->proposal_types));
  return mls_u16_list_encode(w, &in->credential_types);
}

void mls_required_capabilities_cleanup(mls_required_capabilities *x) {
  if (x == NULL) {
    return;
  }
  mls_u16_list_cleanup(&x->extension_types);
  mls_u16_list_cleanup(&x->proposal_types);
  mls_u16_list_cleanup(&x->credential_types);
}

int mls_ext_required_capabilities_decode(const mls_extension *ext,
                                         mls_required_capabilities *out) {
  mg_reader r;
  int rc;
  MG_ENSURE_REF(out);
  MG_GUARD(payload_reader(ext, MLS_EXT_REQUIRED_CAPABILITIES, &r));
  MG_GUARD(mls_required_capabilities_decode(&r, out));
  rc = mg_reader_done(&r);
  if (rc < 0) {
    mls_required_capabilities_cleanup(out);
  }
  return rc;
}

/* RFC 9420 §12.1.8.1
 *   struct {
 *       SignaturePublicKey signature_key;
 *       Credential credential;
 *   } ExternalSender;
 */
static void external_sender_cleanup(void *p) {
  mls_external_sender *s = p;
  mls_bytes_cleanup(&s->signature_key);
  mls_credential_cleanup(&s->credential);
}

static int external_sender_decode(mg_reader *r, void *p) {
  mls_external_sender *s = p;
  mg_reader tmp = *r;
  int rc;
  MG_GUARD(mls_bytes_read(&tmp, &s->signature_key));
  rc = mls_credential_decode(&tmp, &s->credential);
  if (rc < 0) {
    mls_bytes_cleanup(&s->signature_key);
    return rc;
  }
  *r = tmp;
  return 0;
}

static int external_sender_encode(mg_writer *w, const void *p) {
  const mls_external_sender *s = p;
  MG_GUARD(mls_bytes_write(w, &s->signature_key));
  return mls_credential_encode(w, &s->credential);
}

int mls_external_senders_decode(mg_reader *r, mls_external_senders *out) {
  void *arr = NULL;
  size_t n = 0;
  MG_ENSURE(r != NULL && out != NULL, MG_ERR_INVALID_ARG);
  MG_GUARD(mls_vec_decode(r, &arr, &n, sizeof(mls_external_sender), 0,
                          external_sender_decode, external_sender_cleanup));
  out->items = arr;
  out->n = n;
  return 0;
}

int mls_external_senders_encode(mg_writer *w, const mls_external_senders *in) {
  MG_ENSURE_REF(in);
  return mls_vec_encode(w, in->items, in->n, sizeof(mls_external_sender),
                        external_sender_encode);
}

void mls_external_senders_cleanup(mls_external_senders *x) {
  if (x == NULL) {
    return;
  }
  mls_vec_free(x->items, x->n, sizeof(mls_external_sender),
               external_sender_cleanup);
  x->items = NULL;
  x->n = 0;
}

int mls_ext_external_senders_decode(const mls_extension *ext,
                                    mls_external_senders *out) {
  mg_reader r;
  int rc;
  MG_ENSURE_REF(out);
  MG_GUARD(payload_reader(ext, MLS_EXT_EXTERNAL_SENDERS, &r));
  MG_GUARD(mls_external_senders_decode(&r, out));
  rc = mg_reader_done(&r);
  if (rc < 0) {
    mls_external_senders_cleanup(out);
  }
  return rc;
}
