/*
 * HPKECiphertext, UpdatePathNode and UpdatePath (RFC 9420 §7.6).
 */
#include "config.h"

#include <string.h>

#include "common/guard.h"
#include "mls/msg_leaf.h"
#include "mls/msg_leaf_internal.h"

/* RFC 9420 §7.6
 *   struct {
 *       opaque kem_output<V>;
 *       opaque ciphertext<V>;
 *   } HPKECiphertext;
 */
int mls_hpke_ciphertext_decode(mg_reader *r, mls_hpke_ciphertext *out) {
  mls_hpke_ciphertext c;
  mg_reader tmp;
  int rc;
  MG_ENSURE(r != NULL && out != NULL, MG_ERR_INVALID_ARG);
  memset(&c, 0, sizeof(c));
  tmp = *r;
  MG_CHECK(mls_bytes_read(&tmp, &c.kem_output));
  MG_CHECK(mls_bytes_read(&tmp, &c.ciphertext));
  *out = c;
  *r = tmp;
  return 0;
out:
  mls_hpke_ciphertext_cleanup(&c);
  return rc;
}

int mls_hpke_ciphertext_encode(mg_writer *w, const mls_hpke_ciphertext *in) {
  MG_ENSURE_REF(in);
  MG_GUARD(mls_bytes_write(w, &in->kem_output));
  return mls_bytes_write(w, &in->ciphertext);
}

void mls_hpke_ciphertext_cleanup(mls_hpke_ciphertext *x) {
  if (x == NULL) {
    return;
  }
  mls_bytes_cleanup(&x->kem_output);
  mls_bytes_cleanup(&x->ciphertext);
}

static int hpke_ct_decode_v(mg_reader *r, void *p) {
  return mls_hpke_ciphertext_decode(r, p);
}

static int hpke_ct_encode_v(mg_writer *w, const void *p) {
  return mls_hpke_ciphertext_encode(w, p);
}

static void hpke_ct_cleanup_v(void *p) { mls_hpke_ciphertext_cleanup(p); }

/* RFC 9420 §7.6
 *   struct {
 *       HPKEPublicKey encryption_key;
 *       HPKECiphertext encrypted_path_secret<V>;
 *   } UpdatePathNode;
 */
int mls_update_path_node_decode(mg_reader *r, mls_update_path_node *out) {
  mls_update_path_node n;
  mg_reader tmp;
  void *arr = NULL;
  int rc;
  MG_ENSURE(r != NULL && out != NULL, MG_ERR_INVALID_ARG);
  memset(&n, 0, sizeof(n));
  tmp = *r;
  MG_CHECK(mls_bytes_read(&tmp, &n.encryption_key));
  MG_CHECK(mls_vec_decode(&tmp, &arr, &n.num_encrypted_path_secret,
                          sizeof(mls_hpke_ciphertext), 0, hpke_ct_decode_v,
                          hpke_ct_cleanup_v));
  n.encrypted_path_secret = arr;
  *out = n;
  *r = tmp;
  return 0;
out:
  mls_update_path_node_cleanup(&n);
  return rc;
}

int mls_update_path_node_encode(mg_writer *w, const mls_update_path_node *in) {
  MG_ENSURE_REF(in);
  MG_GUARD(mls_bytes_write(w, &in->encryption_key));
  return mls_vec_encode(w, in->encrypted_path_secret,
                        in->num_encrypted_path_secret,
                        sizeof(mls_hpke_ciphertext), hpke_ct_encode_v);
}

void mls_update_path_node_cleanup(mls_update_path_node *x) {
  if (x == NULL) {
    return;
  }
  mls_bytes_cleanup(&x->encryption_key);
  mls_vec_free(x->encrypted_path_secret, x->num_encrypted_path_secret,
               sizeof(mls_hpke_ciphertext), hpke_ct_cleanup_v);
  x->encrypted_path_secret = NULL;
  x->num_encrypted_path_secret = 0;
}

static int upn_decode_v(mg_reader *r, void *p) {
  return mls_update_path_node_decode(r, p);
}

static int upn_encode_v(mg_writer *w, const void *p) {
  return mls_update_path_node_encode(w, p);
}

static void upn_cleanup_v(void *p) { mls_update_path_node_cleanup(p); }

/* RFC 9420 §7.6
 *   struct {
 *       LeafNode leaf_node;
 *       UpdatePathNode nodes<V>;
 *   } UpdatePath;
 */
int mls_update_path_decode(mg_reader *r, mls_update_path *out) {
  mls_update_path p;
  mg_reader tmp;
  void *arr = NULL;
  int rc;
  MG_ENSURE(r != NULL && out != NULL, MG_ERR_INVALID_ARG);
  memset(&p, 0, sizeof(p));
  tmp = *r;
  MG_CHECK(mls_leaf_node_decode(&tmp, &p.leaf_node));
  MG_CHECK(mls_vec_decode(&tmp, &arr, &p.num_nodes,
                          sizeof(mls_update_path_node), 0, upn_decode_v,
                          upn_cleanup_v));
  p.nodes = arr;
  *out = p;
  *r = tmp;
  return 0;
out:
  mls_update_path_cleanup(&p);
  return rc;
}

int mls_update_path_encode(mg_writer *w, const mls_update_path *in) {
  MG_ENSURE_REF(in);
  MG_GUARD(mls_leaf_node_encode(w, &in->leaf_node));
  return mls_vec_encode(w, in->nodes, in->num_nodes,
                        sizeof(mls_update_path_node), upn_encode_v);
}

static int update_path_encode_v(mg_writer *w, const void *p) {
  return mls_update_path_encode(w, p);
}

static int update_path_decode_v(mg_reader *r, void *p) {
  return mls_update_path_decode(r, p);
}

int mls_update_path_copy(mls_update_path *out, const mls_update_path *in) {
  MG_ENSURE(out != NULL && in != NULL, MG_ERR_INVALID_ARG);
  memset(out, 0, sizeof(*out));
  return mls_leaf_copy_with(update_path_encode_v, update_path_decode_v, in,
                            out);
}

void mls_update_path_cleanup(mls_update_path *x) {
  if (x == NULL) {
    return;
  }
  mls_leaf_node_cleanup(&x->leaf_node);
  mls_vec_free(x->nodes, x->num_nodes, sizeof(mls_update_path_node),
               upn_cleanup_v);
  x->nodes = NULL;
  x->num_nodes = 0;
}
