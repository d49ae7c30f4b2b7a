/*
 * Welcome, EncryptedGroupSecrets, GroupSecrets and PathSecret
 * (RFC 9420 §12.4.3.1).  See msg_framing.h.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/guard.h"
#include "mls/msg_framing.h"

/* --------------------------------------------------------- GroupSecrets */

static int gs_psk_decode(mg_reader *r, void *elem) {
  return mls_psk_id_decode(r, elem);
}

static int gs_psk_encode(mg_writer *w, const void *elem) {
  return mls_psk_id_encode(w, elem);
}

static void gs_psk_cleanup(void *elem) { mls_psk_id_cleanup(elem); }

/* RFC 9420 §12.4.3.1
 *   struct {
 *     opaque path_secret<V>;
 *   } PathSecret;
 *
 *   struct {
 *     opaque joiner_secret<V>;
 *     optional<PathSecret> path_secret;
 *     PreSharedKeyID psks<V>;
 *   } GroupSecrets; */
int mls_group_secrets_decode(mg_reader *r, mls_group_secrets *out) {
  mg_reader tmp;
  mls_group_secrets v;
  void *arr = NULL;
  int present = 0;
  int rc;

  MG_ENSURE(r != NULL && out != NULL, MG_ERR_INVALID_ARG);
  memset(&v, 0, sizeof(v));
  tmp = *r;
  MG_CHECK(mls_bytes_read(&tmp, &v.joiner_secret));
  MG_CHECK(mg_read_optional(&tmp, &present));
  if (present) {
    MG_CHECK(mls_bytes_read(&tmp, &v.path_secret));
    v.has_path_secret = 1;
  }
  MG_CHECK(mls_vec_decode(&tmp, &arr, &v.num_psks, sizeof(mls_psk_id), 0,
                          gs_psk_decode, gs_psk_cleanup));
  v.psks = arr;
  *r = tmp;
  *out = v;
  return 0;
out:
  mls_group_secrets_cleanup(&v);
  return rc;
}

int mls_group_secrets_encode(mg_writer *w, const mls_group_secrets *in) {
  MG_ENSURE_REF(in);
  MG_ENSURE(in->has_path_secret == 0 || in->has_path_secret == 1,
            MG_ERR_INVALID_ARG);
  MG_GUARD(mls_bytes_write(w, &in->joiner_secret));
  MG_GUARD(mg_write_optional(w, in->has_path_secret));
  if (in->has_path_secret) {
    MG_GUARD(mls_bytes_write(w, &in->path_secret));
  }
  return mls_vec_encode(w, in->psks, in->num_psks, sizeof(mls_psk_id),
                        gs_psk_encode);
}

void mls_group_secrets_cleanup(mls_group_secrets *x) {
  if (x == NULL) {
    return;
  }
  mls_bytes_cleanup_secret(&x->joiner_secret);
  mls_bytes_cleanup_secret(&x->path_secret);
  mls_vec_free(x->psks, x->num_psks, sizeof(mls_psk_id), gs_psk_cleanup);
  memset(x, 0, sizeof(*x));
}

int mls_group_secrets_serialize(const mls_group_secrets *in, uint8_t **out,
                                size_t *out_len) {
  mg_writer w;
  int rc;
  MG_ENSURE(in != NULL && out != NULL && out_len != NULL, MG_ERR_INVALID_ARG);
  MG_GUARD(mg_writer_init(&w, 256, 0));
  rc = mls_group_secrets_encode(&w, in);
  if (rc < 0) {
    /* mg_writer_cleanup wipes the buffer before freeing it. */
    mg_writer_cleanup(&w);
    return rc;
  }
  return mg_writer_finish(&w, out, out_len);
}

/* ------------------------------------------------ EncryptedGroupSecrets */

/* RFC 9420 §12.4.3.1
 *   struct {
 *     KeyPackageRef new_member;
 *     HPKECiphertext encrypted_group_secrets;
 *   } EncryptedGroupSecrets; */
int mls_encrypted_group_secrets_decode(mg_reader *r,
                                       mls_encrypted_group_secrets *out) {
  mg_reader tmp;
  mls_encrypted_group_secrets v;
  int rc;

  MG_ENSURE(r != NULL && out != NULL, MG_ERR_INVALID_ARG);
  memset(&v, 0, sizeof(v));
  tmp = *r;
  MG_CHECK(mls_bytes_read(&tmp, &v.new_member));
  MG_CHECK(mls_hpke_ciphertext_decode(&tmp, &v.encrypted_group_secrets));
  *r = tmp;
  *out = v;
  return 0;
out:
  mls_encrypted_group_secrets_cleanup(&v);
  return rc;
}

int mls_encrypted_group_secrets_encode(mg_writer *w,
                                       const mls_encrypted_group_secrets *in) {
  MG_ENSURE_REF(in);
  MG_GUARD(mls_bytes_write(w, &in->new_member));
  return mls_hpke_ciphertext_encode(w, &in->encrypted_group_secrets);
}

void mls_encrypted_group_secrets_cleanup(mls_encrypted_group_secrets *x) {
  if (x == NULL) {
    return;
  }
  mls_bytes_cleanup(&x->new_member);
  mls_hpke_ciphertext_cleanup(&x->encrypted_group_secrets);
}

/* -------------------------------------------------------------- Welcome */

static int wl_egs_decode(mg_reader *r, void *elem) {
  return mls_encrypted_group_secrets_decode(r, elem);
}

static int wl_egs_encode(mg_writer *w, const void *elem) {
  return mls_encrypted_group_secrets_encode(w, elem);
}

static void wl_egs_cleanup(void *elem) {
  mls_encrypted_group_secrets_cleanup(elem);
}

/* RFC 9420 §12.4.3.1
 *   struct {
 *     CipherSuite cipher_suite;
 *     EncryptedGroupSecrets secrets<V>;
 *     opaque encrypted_group_info<V>;
 *   } Welcome; */
int mls_welcome_decode(mg_reader *r, mls_welcome *out) {
  mg_reader tmp;
  mls_welcome v;
  void *arr = NULL;
  int rc;

  MG_ENSURE(r != NULL && out != NULL, MG_ERR_INVALID_ARG);
  memset(&v, 0, sizeof(v));
  tmp = *r;
  MG_CHECK(mg_read_u16(&tmp, &v.cipher_suite));
  MG_CHECK(mls_vec_decode(&tmp, &arr, &v.num_secrets,
                          sizeof(mls_encrypted_group_secrets), 0, wl_egs_decode,
                          wl_egs_cleanup));
  v.secrets = arr;
  MG_CHECK(mls_bytes_read(&tmp, &v.encrypted_group_info));
  *r = tmp;
  *out = v;
  return 0;
out:
  mls_welcome_cleanup(&v);
  return rc;
}

int mls_welcome_encode(mg_writer *w, const mls_welcome *in) {
  MG_ENSURE_REF(in);
  MG_GUARD(mg_write_u16(w, in->cipher_suite));
  MG_GUARD(mls_vec_encode(w, in->secrets, in->num_secrets,
                          sizeof(mls_encrypted_group_secrets), wl_egs_encode));
  return mls_bytes_write(w, &in->encrypted_group_info);
}

void mls_welcome_cleanup(mls_welcome *x) {
  if (x == NULL) {
    return;
  }
  mls_vec_free(x->secrets, x->num_secrets, sizeof(mls_encrypted_group_secrets),
               wl_egs_cleanup);
  mls_bytes_cleanup(&x->encrypted_group_info);
  memset(x, 0, sizeof(*x));
}

int mls_welcome_serialize(const mls_welcome *in, uint8_t **out,
                          size_t *out_len) {
  mg_writer w;
  int rc;
  MG_ENSURE(in != NULL && out != NULL && out_len != NULL, MG_ERR_INVALID_ARG);
  MG_GUARD(mg_writer_init(&w, 512, 0));
  rc = mls_welcome_encode(&w, in);
  if (rc < 0) {
    mg_writer_cleanup(&w);
    return rc;
  }
  return mg_writer_finish(&w, out, out_len);
}
