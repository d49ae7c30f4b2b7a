/*
 * Capabilities, Lifetime, LeafNode and LeafNodeTBS (RFC 9420 §7.2), with
 * leaf signing and verification (§7.2, §7.3).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/guard.h"
#include "common/secmem.h"
#include "crypto/mls_crypto.h"
#include "mls/constants.h"
#include "mls/msg_leaf.h"
#include "mls/msg_leaf_internal.h"

/* ---------------------------------------------------------- Capabilities */

/* RFC 9420 §7.2
 *   struct {
 *       ProtocolVersion versions<V>;
 *       CipherSuite cipher_suites<V>;
 *       ExtensionType extensions<V>;
 *       ProposalType proposals<V>;
 *       CredentialType credentials<V>;
 *   } Capabilities;
 */
int mls_capabilities_decode(mg_reader *r, mls_capabilities *out) {
  mls_capabilities c;
  mg_reader tmp;
  int rc;
  MG_ENSURE(r != NULL && out != NULL, MG_ERR_INVALID_ARG);
  memset(&c, 0, sizeof(c));
  tmp = *r;
  MG_CHECK(mls_u16_list_decode(&tmp, &c.versions));
  MG_CHECK(mls_u16_list_decode(&tmp, &c.cipher_suites));
  MG_CHECK(mls_u16_list_decode(&tmp, &c.extensions));
  MG_CHECK(mls_u16_list_decode(&tmp, &c.proposals));
  MG_CHECK(mls_u16_list_decode(&tmp, &c.credentials));
  *out = c;
  *r = tmp;
  return 0;
out:
  mls_capabilities_cleanup(&c);
  return rc;
}

int mls_capabilities_encode(mg_writer *w, const mls_capabilities *in) {
  MG_ENSURE_REF(in);
  MG_GUARD(mls_u16_list_encode(w, &in->versions));
  MG_GUARD(mls_u16_list_encode(w, &in->cipher_suites));
  MG_GUARD(mls_u16_list_encode(w, &in->extensions));
  MG_GUARD(mls_u16_list_encode(w, &in->proposals));
  return mls_u16_list_encode(w, &in->credentials);
}

void mls_capabilities_cleanup(mls_capabilities *x) {
  if (x == NULL) {
    return;
  }
  mls_u16_list_cleanup(&x->versions);
  mls_u16_list_cleanup(&x->cipher_suites);
  mls_u16_list_cleanup(&x->extensions);
  mls_u16_list_cleanup(&x->proposals);
  mls_u16_list_cleanup(&x->credentials);
}

/* RFC 9420 §7.2: the default types, which MUST NOT be listed. */
int mls_capabilities_supports_extension(const mls_capabilities *c,
                                        uint16_t type) {
  if (type >= MLS_EXT_APPLICATION_ID && type <= MLS_EXT_EXTERNAL_SENDERS) {
    return 1;
  }
  return c != NULL && mls_u16_list_contains(&c->extensions, type);
}

int mls_capabilities_supports_proposal(const mls_capabilities *c,
                                       uint16_t type) {
  if (type >= MLS_PROPOSAL_ADD &&
      type <= MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS) {
    return 1;
  }
  return c != NULL && mls_u16_list_contains(&c->proposals, type);
}

int mls_capabilities_check_required(const mls_capabilities *c,
                                    const mls_required_capabilities *req) {
  MG_ENSURE(c != NULL && req != NULL, MG_ERR_INVALID_ARG);
  for (size_t i = 0; i < req->extension_types.n; i++) {
    MG_ENSURE(mls_capabilities_supports_extension(c,
                                                  req->extension_types.v[i]),
              MG_ERR_CAPABILITIES);
  }
  for (size_t i = 0; i < req->proposal_types.n; i++) {
    MG_ENSURE(mls_capabilities_supports_proposal(c, req->proposal_types.v[i]),
              MG_ERR_CAPABILITIES);
  }
  for (size_t i = 0; i < req->credential_types.n; i++) {
    MG_ENSURE(mls_u16_list_contains(&c->credentials,
                                    req->credential_types.v[i]),
              MG_ERR_CAPABILITIES);
  }
  return 0;
}

/* -------------------------------------------------------------- Lifetime */

/* RFC 9420 §7.2: struct { uint64 not_before; uint64 not_after; } Lifetime; */
int mls_lifetime_decode(mg_reader *r, mls_lifetime *out) {
  mg_reader tmp;
  mls_lifetime lt;
  MG_ENSURE(r != NULL && out != NULL, MG_ERR_INVALID_ARG);
  tmp = *r;
  MG_GUARD(mg_read_u64(&tmp, &lt.not_before));
  MG_GUARD(mg_read_u64(&tmp, &lt.not_after));
  *out = lt;
  *r = tmp;
  return 0;
}

int mls_lifetime_encode(mg_writer *w, const mls_lifetime *in) {
  MG_ENSURE_REF(in);
  MG_GUARD(mg_write_u64(w, in->not_before));
  return mg_write_u64(w, in->not_after);
}

int mls_lifetime_check(const mls_lifetime *lt, uint64_t now) {
  MG_ENSURE_REF(lt);
  MG_ENSURE(lt->not_before <= now && now <= lt->not_after, MG_ERR_LIFETIME);
  return 0;
}

/* -------------------------------------------------------------- LeafNode */

static int source_valid(uint8_t s) {
  return s == MLS_LEAF_SOURCE_KEY_PACKAGE || s == MLS_LEAF_SOURCE_UPDATE ||
         s == MLS_LEAF_SOURCE_COMMIT;
}

int mls_leaf_node_decode(mg_reader *r, mls_leaf_node *out) {
  mls_leaf_node ln;
  mg_reader tmp;
  int rc;
  MG_ENSURE(r != NULL && out != NULL, MG_ERR_INVALID_ARG);
  memset(&ln, 0, sizeof(ln));
  tmp = *r;
  MG_CHECK(mls_bytes_read(&tmp, &ln.encryption_key));
  MG_CHECK(mls_bytes_read(&tmp, &ln.signature_key));
  MG_CHECK(mls_credential_decode(&tmp, &ln.credential));
  MG_CHECK(mls_capabilities_decode(&tmp, &ln.capabilities));
  MG_CHECK(mg_read_u8(&tmp, &ln.leaf_node_source));
  switch (ln.leaf_node_source) {
  case MLS_LEAF_SOURCE_KEY_PACKAGE:
    MG_CHECK(mls_lifetime_decode(&tmp, &ln.lifetime));
    break;
  case MLS_LEAF_SOURCE_UPDATE:
    break;
  case MLS_LEAF_SOURCE_COMMIT:
    MG_CHECK(mls_bytes_read(&tmp, &ln.parent_hash));
    break;
  default:
    /* LeafNodeSource has no extension point (RFC 9420 §7.2). */
    MG_FAIL(MG_ERR_LEAF_NODE_SOURCE);
  }
  MG_CHECK(mls_extension_list_decode(&tmp, &ln.extensions));
  MG_CHECK(mls_bytes_read(&tmp, &ln.signature));
  *out = ln;
  *r = tmp;
  return 0;
out:
  mls_leaf_node_cleanup(&ln);
  return rc;
}

/* leaf_node_body_encode writes the fields shared by LeafNode and
 * LeafNodeTBS: everything up to and including the extensions except the
 * source-specific tail of the TBS. */
static int leaf_node_body_encode(mg_writer *w, const mls_leaf_node *in) {
  MG_ENSURE_REF(in);
  MG_ENSURE(source_valid(in->leaf_node_source), MG_ERR_LEAF_NODE_SOURCE);
  MG_GUARD(mls_bytes_write(w, &in->encryption_key));
  MG_GUARD(mls_bytes_write(w, &in->signature_key));
  MG_GUARD(mls_credential_encode(w, &in->credential));
  MG_GUARD(mls_capabilities_encode(w, &in->capabilities));
  MG_GUARD(mg_write_u8(w, in->leaf_node_source));
  if (in->leaf_node_source == MLS_LEAF_SOURCE_KEY_PACKAGE) {
    MG_GUARD(mls_lifetime_encode(w, &in->lifetime));
  } else if (in->leaf_node_source == MLS_LEAF_SOURCE_COMMIT) {
    MG_GUARD(mls_bytes_write(w, &in->parent_hash));
  }
  return mls_extension_list_encode(w, &in->extensions);
}

int mls_leaf_node_encode(mg_writer *w, const mls_leaf_node *in) {
  MG_GUARD(leaf_node_body_encode(w, in));
  return mls_bytes_write(w, &in->signature);
}

static int leaf_node_encode_v(mg_writer *w, const void *p) {
  return mls_leaf_node_encode(w, p);
}

int mls_leaf_node_serialize(const mls_leaf_node *in, uint8_t **out,
                            size_t *out_len) {
  return mls_leaf_serialize_with(leaf_node_encode_v, in, out, out_len);
}

/* Field-by-field copies: a LeafNode is copied for every leaf of the tree
 * at every epoch change, so this must not encode and re-parse (it did, at
 * a third of a 1000-member commit's time). */
static int u16_list_copy(mls_u16_list *out, const mls_u16_list *in) {
  out->v = NULL;
  out->n = 0;
  if (in->n == 0) {
    return 0;
  }
  out->v = malloc(in->n * sizeof(*out->v));
  if (out->v == NULL) {
    return MG_ERR_NOMEM;
  }
  memcpy(out->v, in->v, in->n * sizeof(*out->v));
  out->n = in->n;
  return 0;
}

static int credential_copy_fast(mls_credential *out, const mls_credential *in) {
  memset(out, 0, sizeof(*out));
  out->credential_type = in->credential_type;
  MG_GUARD(mls_bytes_copy(&out->identity, &in->identity));
  MG_GUARD(mls_bytes_copy(&out->opaque, &in->opaque));
  if (in->num_certificates > 0) {
    out->certificates = calloc(in->num_certificates, sizeof(mls_bytes));
    if (out->certificates == NULL) {
      return MG_ERR_NOMEM;
    }
    out->num_certificates = in->num_certificates;
    for (size_t i = 0; i < in->num_certificates; i++) {
      MG_GUARD(mls_bytes_copy(&out->certificates[i], &in->certificates[i]));
    }
  }
  return 0;
}

static int extension_list_copy_fast(mls_extension_list *out,
                                    const mls_extension_list *in) {
  memset(out, 0, sizeof(*out));
  if (in->n == 0) {
    return 0;
  }
  out->items = calloc(in->n, sizeof(*out->items));
  if (out->items == NULL) {
    return MG_ERR_NOMEM;
  }
  out->n = in->n;
  for (size_t i = 0; i < in->n; i++) {
    out->items[i].extension_type = in->items[i].extension_type;
    MG_GUARD(mls_bytes_copy(&out->items[i].extension_data,
                            &in->items[i].extension_data));
  }
  return 0;
}

static int leaf_node_copy_fields(mls_leaf_node *out, const mls_leaf_node *in) {
  out->leaf_node_source = in->leaf_node_source;
  out->lifetime = in->lifetime;
  MG_GUARD(mls_bytes_copy(&out->encryption_key, &in->encryption_key));
  MG_GUARD(mls_bytes_copy(&out->signature_key, &in->signature_key));
  MG_GUARD(credential_copy_fast(&out->credential, &in->credential));
  MG_GUARD(u16_list_copy(&out->capabilities.versions, &in->capabilities.versions));
  MG_GUARD(u16_list_copy(&out->capabilities.cipher_suites,
                         &in->capabilities.cipher_suites));
  MG_GUARD(u16_list_copy(&out->capabilities.extensions,
                         &in->capabilities.extensions));
  MG_GUARD(u16_list_copy(&out->capabilities.proposals,
                         &in->capabilities.proposals));
  MG_GUARD(u16_list_copy(&out->capabilities.credentials,
                         &in->capabilities.credentials));
  MG_GUARD(mls_bytes_copy(&out->parent_hash, &in->parent_hash));
  MG_GUARD(extension_list_copy_fast(&out->extensions, &in->extensions));
  return mls_bytes_copy(&out->signature, &in->signature);
}

int mls_leaf_node_copy(mls_leaf_node *out, const mls_leaf_node *in) {
  MG_ENSURE(out != NULL && in != NULL, MG_ERR_INVALID_ARG);
  /* Only what the encoder accepts is copied (as before): a leaf source
   * outside the three is refused. */
  MG_ENSURE(in->leaf_node_source == MLS_LEAF_SOURCE_KEY_PACKAGE ||
                in->leaf_node_source == MLS_LEAF_SOURCE_UPDATE ||
                in->leaf_node_source == MLS_LEAF_SOURCE_COMMIT,
            MG_ERR_LEAF_NODE_SOURCE);
  memset(out, 0, sizeof(*out));
  int rc = leaf_node_copy_fields(out, in);
  if (rc < 0) {
    mls_leaf_node_cleanup(out);
  }
  return rc;
}

void mls_leaf_node_cleanup(mls_leaf_node *x) {
  if (x == NULL) {
    return;
  }
  mls_bytes_cleanup(&x->encryption_key);
  mls_bytes_cleanup(&x->signature_key);
  mls_credential_cleanup(&x->credential);
  mls_capabilities_cleanup(&x->capabilities);
  mls_bytes_cleanup(&x->parent_hash);
  mls_extension_list_cleanup(&x->extensions);
  mls_bytes_cleanup(&x->signature);
  memset(x, 0, sizeof(*x));
}

int mls_leaf_node_check_capabilities(const mls_leaf_node *ln) {
  MG_ENSURE_REF(ln);
  /* RFC 9420 §7.2: non-default extensions of the leaf must be listed. */
  for (size_t i = 0; i < ln->extensions.n; i++) {
    MG_ENSURE(mls_capabilities_supports_extension(
                  &ln->capabilities, ln->extensions.items[i].extension_type),
              MG_ERR_EXTENSION);
  }
  /* ... and so must the leaf's own credential type. */
  MG_ENSURE(mls_u16_list_contains(&ln->capabilities.credentials,
                                  ln->credential.credential_type),
            MG_ERR_CAPABILITIES);
  return 0;
}

/* ----------------------------------------------------------- LeafNodeTBS */

int mls_leaf_node_tbs_encode(mg_writer *w, const mls_leaf_node *ln,
                             const uint8_t *group_id, size_t group_id_len,
                             uint32_t leaf_index) {
  static const uint8_t empty[1] = {0};
  MG_GUARD(leaf_node_body_encode(w, ln));
  /* RFC 9420 §7.2: update and commit leaves are bound to their group and
   * position; key package leaves are not. */
  if (ln->leaf_node_source == MLS_LEAF_SOURCE_KEY_PACKAGE) {
    return 0;
  }
  MG_ENSURE(group_id != NULL || group_id_len == 0, MG_ERR_INVALID_ARG);
  MG_GUARD(mg_write_opaque(w, group_id_len > 0 ? group_id : empty,
                           group_id_len));
  return mg_write_u32(w, leaf_index);
}

/* tbs_serialize encodes the LeafNodeTBS of |ln| into a new buffer. */
static int tbs_serialize(const mls_leaf_node *ln, const uint8_t *group_id,
                         size_t group_id_len, uint32_t leaf_index,
                         uint8_t **out, size_t *out_len) {
  mg_writer w;
  int rc;
  MG_GUARD(mg_writer_init(&w, 256, 0));
  rc = mls_leaf_node_tbs_encode(&w, ln, group_id, group_id_len, leaf_index);
  if (rc < 0) {
    mg_writer_cleanup(&w);
    return rc;
  }
  return mg_writer_finish(&w, out, out_len);
}

int mls_leaf_node_sign(const mls_suite *suite, mls_leaf_node *ln,
                       const uint8_t *priv, size_t priv_len,
                       const uint8_t *group_id, size_t group_id_len,
                       uint32_t leaf_index) {
  mg_sig_key *key = NULL;
  MG_ENSURE(suite != NULL && ln != NULL && priv != NULL, MG_ERR_INVALID_ARG);
  int rc = suite->sig->key_from_priv(suite->sig, &key, priv, priv_len);
  if (rc < 0) {
    return rc == MG_ERR_NOMEM ? rc : MG_ERR_BAD_KEY;
  }
  rc = mls_leaf_node_sign_key(suite, ln, key, group_id, group_id_len,
                              leaf_index);
  mg_sig_key_free(key);
  return rc;
}

int mls_leaf_node_sign_key(const mls_suite *suite, mls_leaf_node *ln,
                           const mg_sig_key *key, const uint8_t *group_id,
                           size_t group_id_len, uint32_t leaf_index) {
  uint8_t sig[MG_MAX_SIG_LEN];
  size_t sig_len = 0;
  uint8_t *tbs = NULL;
  size_t tbs_len = 0;
  mls_bytes nsig = {NULL, 0};
  int rc;
  MG_ENSURE(suite != NULL && ln != NULL && key != NULL, MG_ERR_INVALID_ARG);
  MG_CHECK(tbs_serialize(ln, group_id, group_id_len, leaf_index, &tbs,
                         &tbs_len));
  MG_CHECK(mls_sign_with_label_key(suite, sig, sizeof(sig), &sig_len, key,
                                   "LeafNodeTBS", tbs, tbs_len));
  MG_CHECK(mls_bytes_dup(&nsig, sig, sig_len));
  mls_bytes_cleanup(&ln->signature);
  ln->signature = nsig;
  rc = 0;
out:
  free(tbs);
  return rc;
}

int mls_leaf_node_verify(const mls_suite *suite, const mls_leaf_node *ln,
                         const uint8_t *group_id, size_t group_id_len,
                         uint32_t leaf_index) {
  uint8_t *tbs = NULL;
  size_t tbs_len = 0;
  int rc;
  MG_ENSURE(suite != NULL && ln != NULL, MG_ERR_INVALID_ARG);
  /* An empty key cannot verify anything (and is not a valid key). */
  MG_ENSURE(ln->signature_key.len > 0, MG_ERR_LEAF_SIGNATURE);
  MG_CHECK(tbs_serialize(ln, group_id, group_id_len, leaf_index, &tbs,
                         &tbs_len));
  /* RFC 9420 §7.3: verify with the leaf's own signature key. */
  rc = mls_verify_with_label(suite, ln->signature_key.data,
                             ln->signature_key.len, "LeafNodeTBS", tbs,
                             tbs_len, ln->signature.data, ln->signature.len);
  if (rc == MG_ERR_VERIFY || rc == MG_ERR_BAD_KEY) {
    rc = MG_ERR_LEAF_SIGNATURE;
  }
out:
  free(tbs);
  return rc;
}
