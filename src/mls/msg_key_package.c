/*
 * KeyPackage and KeyPackageTBS (RFC 9420 §10), validation (§10.1) and
 * KeyPackageRef (§5.2).
 *
 *   struct {
 *       ProtocolVersion version;
 *       CipherSuite cipher_suite;
 *       HPKEPublicKey init_key;
 *       LeafNode leaf_node;
 *       Extension extensions<V>;
 *       // SignWithLabel(., "KeyPackageTBS", KeyPackageTBS)
 *       opaque signature<V>;
 *   } KeyPackage;
 *
 *   struct {
 *       ProtocolVersion version;
 *       CipherSuite cipher_suite;
 *       HPKEPublicKey init_key;
 *       LeafNode leaf_node;
 *       Extension extensions<V>;
 *   } KeyPackageTBS;
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/guard.h"
#include "crypto/mls_crypto.h"
#include "mls/constants.h"
#include "mls/msg_leaf.h"
#include "mls/msg_leaf_internal.h"

int mls_key_package_decode(mg_reader *r, mls_key_package *out) {
  mls_key_package kp;
  mg_reader tmp;
  int rc;
  MG_ENSURE(r != NULL && out != NULL, MG_ERR_INVALID_ARG);
  memset(&kp, 0, sizeof(kp));
  tmp = *r;
  MG_CHECK(mg_read_u16(&tmp, &kp.version));
  /* RFC 9420 §10.1: the version must be one the client supports. */
  if (kp.version != MLS_VERSION_MLS10) {
    MG_FAIL(MG_ERR_VERSION);
  }
  MG_CHECK(mg_read_u16(&tmp, &kp.cipher_suite));
  MG_CHECK(mls_bytes_read(&tmp, &kp.init_key));
  MG_CHECK(mls_leaf_node_decode(&tmp, &kp.leaf_node));
  MG_CHECK(mls_extension_list_decode(&tmp, &kp.extensions));
  MG_CHECK(mls_bytes_read(&tmp, &kp.signature));
  *out = kp;
  *r = tmp;
  return 0;
out:
  mls_key_package_cleanup(&kp);
  return rc;
}

int mls_key_package_tbs_encode(mg_writer *w, const mls_key_package *kp) {
  MG_ENSURE_REF(kp);
  MG_GUARD(mg_write_u16(w, kp->version));
  MG_GUARD(mg_write_u16(w, kp->cipher_suite));
  MG_GUARD(mls_bytes_write(w, &kp->init_key));
  MG_GUARD(mls_leaf_node_encode(w, &kp->leaf_node));
  return mls_extension_list_encode(w, &kp->extensions);
}

int mls_key_package_encode(mg_writer *w, const mls_key_package *in) {
  MG_GUARD(mls_key_package_tbs_encode(w, in));
  return mls_bytes_write(w, &in->signature);
}

static int key_package_encode_v(mg_writer *w, const void *p) {
  return mls_key_package_encode(w, p);
}

static int key_package_decode_v(mg_reader *r, void *p) {
  return mls_key_package_decode(r, p);
}

static int key_package_tbs_encode_v(mg_writer *w, const void *p) {
  return mls_key_package_tbs_encode(w, p);
}

int mls_key_package_serialize(const mls_key_package *in, uint8_t **out,
                              size_t *out_len) {
  return mls_leaf_serialize_with(key_package_encode_v, in, out, out_len);
}

int mls_key_package_copy(mls_key_package *out, const mls_key_package *in) {
  MG_ENSURE(out != NULL && in != NULL, MG_ERR_INVALID_ARG);
  memset(out, 0, sizeof(*out));
  return mls_leaf_copy_with(key_package_encode_v, key_package_decode_v, in,
                            out);
}

void mls_key_package_cleanup(mls_key_package *x) {
  if (x == NULL) {
    return;
  }
  mls_bytes_cleanup(&x->init_key);
  mls_leaf_node_cleanup(&x->leaf_node);
  mls_extension_list_cleanup(&x->extensions);
  mls_bytes_cleanup(&x->signature);
  memset(x, 0, sizeof(*x));
}

int mls_key_package_sign(mls_key_package *kp, const uint8_t *priv,
                         size_t priv_len) {
  const mls_suite *suite;
  mg_sig_key *key = NULL;
  MG_ENSURE(kp != NULL && priv != NULL, MG_ERR_INVALID_ARG);
  suite = mls_suite_by_id(kp->cipher_suite);
  MG_ENSURE(suite != NULL, MG_ERR_UNSUPPORTED);
  int rc = suite->sig->key_from_priv(suite->sig, &key, priv, priv_len);
  if (rc < 0) {
    return rc == MG_ERR_NOMEM ? rc : MG_ERR_BAD_KEY;
  }
  rc = mls_key_package_sign_key(kp, key);
  mg_sig_key_free(key);
  return rc;
}

int mls_key_package_sign_key(mls_key_package *kp, const mg_sig_key *key) {
  uint8_t sig[MG_MAX_SIG_LEN];
  size_t sig_len = 0;
  uint8_t *tbs = NULL;
  size_t tbs_len = 0;
  mls_bytes nsig = {NULL, 0};
  const mls_suite *suite;
  int rc;
  MG_ENSURE(kp != NULL && key != NULL, MG_ERR_INVALID_ARG);
  suite = mls_suite_by_id(kp->cipher_suite);
  MG_ENSURE(suite != NULL, MG_ERR_UNSUPPORTED);
  MG_CHECK(mls_leaf_serialize_with(key_package_tbs_encode_v, kp, &tbs,
                                   &tbs_len));
  MG_CHECK(mls_sign_with_label_key(suite, sig, sizeof(sig), &sig_len, key,
                                   "KeyPackageTBS", tbs, tbs_len));
  MG_CHECK(mls_bytes_dup(&nsig, sig, sig_len));
  mls_bytes_cleanup(&kp->signature);
  kp->signature = nsig;
  rc = 0;
out:
  free(tbs);
  return rc;
}

int mls_key_package_verify(const mls_key_package *kp) {
  const mls_suite *suite;
  uint8_t *tbs = NULL;
  size_t tbs_len = 0;
  int rc;
  MG_ENSURE_REF(kp);
  /* RFC 9420 §10.1 */
  MG_ENSURE(kp->version == MLS_VERSION_MLS10, MG_ERR_VERSION);
  suite = mls_suite_by_id(kp->cipher_suite);
  MG_ENSURE(suite != NULL, MG_ERR_UNSUPPORTED);
  MG_ENSURE(kp->leaf_node.leaf_node_source == MLS_LEAF_SOURCE_KEY_PACKAGE,
            MG_ERR_LEAF_NODE_SOURCE);
  MG_GUARD(mls_leaf_node_verify(suite, &kp->leaf_node, NULL, 0, 0));
  MG_ENSURE(kp->leaf_node.signature_key.len > 0, MG_ERR_SIGNATURE);
  MG_CHECK(mls_leaf_serialize_with(key_package_tbs_encode_v, kp, &tbs,
                                   &tbs_len));
  rc = mls_verify_with_label(suite, kp->leaf_node.signature_key.data,
                             kp->leaf_node.signature_key.len, "KeyPackageTBS",
                             tbs, tbs_len, kp->signature.data,
                             kp->signature.len);
  if (rc == MG_ERR_VERIFY || rc == MG_ERR_BAD_KEY) {
    rc = MG_ERR_SIGNATURE;
  }
  MG_CHECK(rc);
  /* RFC 9420 §10.1: init_key and the leaf's encryption_key MUST differ. */
  if (mls_bytes_eq(&kp->init_key, &kp->leaf_node.encryption_key)) {
    MG_FAIL(MG_ERR_KEY_PACKAGE);
  }
  rc = 0;
out:
  free(tbs);
  return rc;
}

int mls_key_package_ref(const mls_key_package *kp, uint8_t *out,
                        size_t out_cap, size_t *out_len) {
  const mls_suite *suite;
  uint8_t *enc = NULL;
  size_t enc_len = 0;
  int rc;
  MG_ENSURE_REF(kp);
  suite = mls_suite_by_id(kp->cipher_suite);
  MG_ENSURE(suite != NULL, MG_ERR_UNSUPPORTED);
  MG_GUARD(mls_key_package_serialize(kp, &enc, &enc_len));
  /* RFC 9420 §5.2: the ref is over the encoded KeyPackage, not the
   * MLSMessage that carried it. */
  rc = mls_make_key_package_ref(suite, out, out_cap, out_len, enc, enc_len);
  free(enc);
  return rc;
}
