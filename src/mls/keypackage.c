/*
 * KeyPackage generation and validation (RFC 9420 §10, §10.1, §7.3).  The
 * structures, TBS encodings, signatures and KeyPackageRef come from
 * mls/msg_leaf.h; this file only composes them.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/guard.h"
#include "common/secmem.h"
#include "mls/constants.h"
#include "mls/keypackage.h"

void mls_key_package_priv_cleanup(mls_key_package_priv *p) {
  if (p == NULL) {
    return;
  }
  mg_hpke_key_cleanup(&p->init_key);
  mg_hpke_key_cleanup(&p->encryption_key);
  mg_memzero(p, sizeof(*p));
}

int mls_key_package_is_last_resort(const mls_key_package *kp) {
  if (kp == NULL) {
    return 0;
  }
  return mls_extension_list_find(&kp->extensions, MLS_EXT_LAST_RESORT) != NULL;
}

/* Sets |l| to the |n| code points of |v|. */
static int u16_list_set(mls_u16_list *l, const uint16_t *v, size_t n) {
  MG_ENSURE(l->v == NULL && l->n == 0, MG_ERR_INTERNAL);
  if (n == 0) {
    return 0;
  }
  l->v = calloc(n, sizeof(*l->v));
  MG_ENSURE(l->v != NULL, MG_ERR_NOMEM);
  memcpy(l->v, v, n * sizeof(*v));
  l->n = n;
  return 0;
}

/* The capabilities of a leaf we generate (RFC 9420 §7.2): what we support
 * and advertise in this KeyPackage.  The default extension types 1..5 and
 * proposal types 1..7 are implied and MUST NOT be listed; GREASE is never
 * part of our own capabilities (§13.5). */
static int own_capabilities(mls_capabilities *c, uint16_t suite_id) {
  static const uint16_t versions[] = {MLS_VERSION_MLS10};
  static const uint16_t extensions[] = {MLS_EXT_LAST_RESORT};
  static const uint16_t credentials[] = {MLS_CREDENTIAL_BASIC};
  MG_GUARD(u16_list_set(&c->versions, versions, MG_ARRAY_LEN(versions)));
  MG_GUARD(u16_list_set(&c->cipher_suites, &suite_id, 1));
  MG_GUARD(u16_list_set(&c->extensions, extensions, MG_ARRAY_LEN(extensions)));
  return u16_list_set(&c->credentials, credentials, MG_ARRAY_LEN(credentials));
}

int mls_key_package_generate(mls_key_package *out_kp,
                             mls_key_package_priv *out_priv,
                             mls_bytes *out_encoded, uint8_t *out_ref,
                             size_t ref_cap, size_t *out_ref_len,
                             const mls_key_package_params *params) {
  mg_sig_key *skey = NULL;
  mls_key_package kp;
  mls_key_package_priv priv;
  mls_bytes enc = {NULL, 0};
  const mls_suite *suite;
  const mg_sig_alg *sig;
  size_t pub_len = 0;
  const uint8_t *pub;
  uint64_t validity;
  uint8_t ref[MG_MAX_HASH_LEN];
  size_t ref_len = 0;
  int rc;

  MG_ENSURE(out_kp != NULL && out_priv != NULL && params != NULL,
            MG_ERR_INVALID_ARG);
  MG_ENSURE(params->identity != NULL || params->identity_len == 0,
            MG_ERR_INVALID_ARG);
  MG_ENSURE(out_ref == NULL || ref_cap > 0, MG_ERR_INVALID_ARG);
  memset(&kp, 0, sizeof(kp));
  memset(&priv, 0, sizeof(priv));
  mg_hpke_key_zero(&priv.init_key);
  mg_hpke_key_zero(&priv.encryption_key);

  suite = mls_suite_by_id(params->cipher_suite);
  MG_ENSURE(suite != NULL, MG_ERR_UNSUPPORTED);
  sig = suite->sig;
  validity = params->validity != 0 ? params->validity
                                   : MLS_KEY_PACKAGE_DEFAULT_VALIDITY;
  MG_ENSURE(params->now <= UINT64_MAX - validity, MG_ERR_INVALID_ARG);
  priv.suite = suite;

  /* Signature key pair: given or fresh. */
  if (params->sig_priv != NULL) {
    if (params->sig_priv_len != sig->priv_len) {
      MG_FAIL(MG_ERR_BAD_KEY);
    }
    memcpy(priv.sig_priv, params->sig_priv, sig->priv_len);
    MG_CHECK(sig->pub_from_priv(sig, priv.sig_pub, priv.sig_priv));
  } else {
    MG_CHECK(sig->generate(sig, priv.sig_priv, priv.sig_pub));
  }
  priv.sig_priv_len = sig->priv_len;
  priv.sig_pub_len = sig->pub_len;

  /* RFC 9420 §10: init key and leaf encryption key, two fresh HPKE key
   * pairs; §10.1 requires them to differ (a collision of fresh keys would
   * mean a broken RNG: fail rather than publish it). */
  MG_CHECK(mg_hpke_key_generate(&priv.init_key, suite->kem));
  MG_CHECK(mg_hpke_key_generate(&priv.encryption_key, suite->kem));
  if (mg_ct_memeq(priv.init_key.pub, priv.encryption_key.pub,
                  suite->kem->pub_len)) {
    MG_FAIL(MG_ERR_CRYPTO);
  }

  /* RFC 9420 §7.2: the LeafNode with source key_package. */
  pub = mg_hpke_key_pub(&priv.encryption_key, &pub_len);
  MG_CHECK(mls_bytes_dup(&kp.leaf_node.encryption_key, pub, pub_len));
  MG_CHECK(mls_bytes_dup(&kp.leaf_node.signature_key, priv.sig_pub,
                         priv.sig_pub_len));
  kp.leaf_node.credential.credential_type = MLS_CREDENTIAL_BASIC;
  MG_CHECK(mls_bytes_dup(&kp.leaf_node.credential.identity, params->identity,
                         params->identity_len));
  MG_CHECK(own_capabilities(&kp.leaf_node.capabilities, suite->id));
  kp.leaf_node.leaf_node_source = MLS_LEAF_SOURCE_KEY_PACKAGE;
  kp.leaf_node.lifetime.not_before = params->now;
  kp.leaf_node.lifetime.not_after = params->now + validity;
  /* One prepared key for both signatures (preparing costs a signature). */
  rc = sig->key_from_priv(sig, &skey, priv.sig_priv, priv.sig_priv_len);
  if (rc < 0) {
    MG_FAIL(rc == MG_ERR_NOMEM ? rc : MG_ERR_BAD_KEY);
  }
  MG_CHECK(mls_leaf_node_sign_key(suite, &kp.leaf_node, skey, NULL, 0, 0));

  /* RFC 9420 §10: the KeyPackage around it. */
  kp.version = MLS_VERSION_MLS10;
  kp.cipher_suite = suite->id;
  pub = mg_hpke_key_pub(&priv.init_key, &pub_len);
  MG_CHECK(mls_bytes_dup(&kp.init_key, pub, pub_len));
  if (params->last_resort) {
    /* The last_resort extension has an empty body. */
    MG_CHECK(mls_extension_list_add(&kp.extensions, MLS_EXT_LAST_RESORT, NULL,
                                    0));
  }
  MG_CHECK(mls_key_package_sign_key(&kp, skey));

  if (out_encoded != NULL) {
    MG_CHECK(mls_key_package_serialize(&kp, &enc.data, &enc.len));
  }
  if (out_ref != NULL) {
    MG_CHECK(mls_key_package_ref(&kp, ref, sizeof(ref), &ref_len));
    if (ref_len > ref_cap) {
      MG_FAIL(MG_ERR_BUFFER_TOO_SMALL);
    }
    memcpy(out_ref, ref, ref_len);
    if (out_ref_len != NULL) {
      *out_ref_len = ref_len;
    }
  }
  if (out_encoded != NULL) {
    *out_encoded = enc;
    enc.data = NULL;
    enc.len = 0;
  }
  *out_kp = kp;
  *out_priv = priv;
  mg_memzero(&priv, sizeof(priv));
  mg_sig_key_free(skey);
  return 0;
out:
  mg_sig_key_free(skey);
  mls_key_package_cleanup(&kp);
  mls_key_package_priv_cleanup(&priv);
  mls_bytes_cleanup(&enc);
  return rc;
}

/* RFC 9420 §10.1, §7.3, §13: the capability checks. */
static int check_capabilities(const mls_key_package *kp,
                              const mls_key_package_policy *policy) {
  const mls_leaf_node *ln = &kp->leaf_node;
  const mls_capabilities *c = &ln->capabilities;
  MG_ENSURE(mls_u16_list_contains(&c->versions, kp->version),
            MG_ERR_CAPABILITIES);
  if (policy->require_suite_in_capabilities) {
    MG_ENSURE(mls_u16_list_contains(&c->cipher_suites, kp->cipher_suite),
              MG_ERR_CAPABILITIES);
  }
  /* Leaf extensions listed (MG_ERR_EXTENSION), own credential type listed
   * (MG_ERR_CAPABILITIES). */
  MG_GUARD(mls_leaf_node_check_capabilities(ln));
  if (policy->member_credential_types != NULL) {
    const mls_u16_list *m = policy->member_credential_types;
    for (size_t i = 0; i < m->n; i++) {
      MG_ENSURE(mls_u16_list_contains(&c->credentials, m->v[i]),
                MG_ERR_CAPABILITIES);
    }
  }
  if (policy->required != NULL) {
    MG_GUARD(mls_capabilities_check_required(c, policy->required));
  }
  if (policy->group_extensions != NULL) {
    const mls_extension_list *g = policy->group_extensions;
    for (size_t i = 0; i < g->n; i++) {
      MG_ENSURE(mls_capabilities_supports_extension(
                    c, g->items[i].extension_type),
                MG_ERR_CAPABILITIES);
    }
  }
  /* §10: extensions of the KeyPackage itself MUST be listed too.  GREASE
   * values are exempt: §13.5 has receivers ignore them. */
  for (size_t i = 0; i < kp->extensions.n; i++) {
    uint16_t t = kp->extensions.items[i].extension_type;
    if (mls_is_grease(t)) {
      continue;
    }
    MG_ENSURE(mls_capabilities_supports_extension(c, t), MG_ERR_EXTENSION);
  }
  return 0;
}

int mls_key_package_validate(const mls_key_package *kp,
                             const mls_key_package_policy *policy) {
  const mls_leaf_node *ln;
  MG_ENSURE(kp != NULL && policy != NULL, MG_ERR_INVALID_ARG);
  ln = &kp->leaf_node;
  /* RFC 9420 §10.1: version and suite must be those of the group. */
  MG_ENSURE(kp->version == MLS_VERSION_MLS10, MG_ERR_VERSION);
  MG_ENSURE(mls_suite_by_id(kp->cipher_suite) != NULL, MG_ERR_UNSUPPORTED);
  MG_ENSURE(policy->cipher_suite == 0 ||
                policy->cipher_suite == kp->cipher_suite,
            MG_ERR_UNSUPPORTED);
  /* leaf_node_source, both signatures, init_key != encryption_key. */
  MG_GUARD(mls_key_package_verify(kp));
  /* §7.3: the lifetime, on the caller's clock. */
  MG_GUARD(mls_lifetime_check(&ln->lifetime, policy->now));
  MG_GUARD(check_capabilities(kp, policy));
  /* §5.3.1: the application validates the credential and its binding to
   * the signature key. */
  if (policy->credential_check != NULL) {
    int ok = policy->credential_check(policy->credential_arg, &ln->credential,
                                      ln->signature_key.data,
                                      ln->signature_key.len);
    MG_ENSURE(ok == 0, MG_ERR_CREDENTIAL);
  }
  return 0;
}
