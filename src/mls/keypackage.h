/*
 * KeyPackage generation with its private keys, and validation of a received
 * KeyPackage (RFC 9420 §10, §10.1, §7.3).
 *
 * The codecs, TBS encodings, signing/verification and KeyPackageRef live in
 * mls/msg_leaf.h; this module composes them:
 *
 *   mls_key_package_generate: fresh init and leaf encryption key pairs (and a
 *     signature key pair unless one is given), a basic credential, the leaf's
 *     capabilities and lifetime, the optional last_resort extension, both
 *     signatures, the encoding and the KeyPackageRef.
 *   mls_key_package_validate: every check of §10.1 (and the leaf checks of
 *     §7.3 that need no ratchet tree) against a caller policy: the group's
 *     suite, an injected clock, required capabilities, the credential types
 *     the members use, and a credential callback.  Uniqueness of the keys in
 *     the tree is the group's check (it needs the tree).
 */
#ifndef MG_HEADER_MLS_KEYPACKAGE_H
#define MG_HEADER_MLS_KEYPACKAGE_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "crypto/hpke.h"
#include "crypto/suite.h"
#include "mls/bytes.h"
#include "mls/msg_leaf.h"
#include "mlsgate/err.h"

/* ExtensionType last_resort_key_package, 0x000A (IANA "MLS Extension
 * Types", registered by draft-ietf-mls-extensions, Message(s): KP; RFC 9420
 * §16.8 describes last-resort KeyPackage reuse).  Its extension_data is
 * empty; it appears in a KeyPackage's extensions, and the leaf lists it in
 * capabilities.extensions (RFC 9420 §10: extensions of the KeyPackage MUST
 * be included in leaf_node.capabilities). */
#define MLS_EXT_LAST_RESORT ((uint16_t)0x000A)

/* Default validity of a generated KeyPackage when the caller gives none:
 * 90 days. */
#define MLS_KEY_PACKAGE_DEFAULT_VALIDITY ((uint64_t)90 * 24 * 3600)

/* The private half of a generated KeyPackage.  Holds secrets:
 * mls_key_package_priv_cleanup wipes everything (the struct is all zero
 * afterwards).  A zeroed struct is the valid empty state. */
typedef struct mls_key_package_priv {
  const mls_suite *suite;   /* NULL in the empty state */
  mg_hpke_key init_key;     /* init_key pair (decrypts the Welcome) */
  mg_hpke_key encryption_key; /* leaf encryption_key pair */
  uint8_t sig_priv[MG_MAX_SIG_PRIV_LEN];
  size_t sig_priv_len;
  uint8_t sig_pub[MG_MAX_SIG_PUB_LEN];
  size_t sig_pub_len;
} mls_key_package_priv;

/* mls_key_package_priv_cleanup wipes |p| to all zero bytes.  NULL ok. */
void mls_key_package_priv_cleanup(mls_key_package_priv *p);

/* Parameters of mls_key_package_generate. */
typedef struct mls_key_package_params {
  uint16_t cipher_suite; /* one of MLS_SUITE_MIN..MLS_SUITE_MAX */
  /* Basic credential identity (RFC 9420 §5.3.1); may be empty. */
  const uint8_t *identity;
  size_t identity_len;
  /* Signature private key of the suite's algorithm, or NULL to generate a
   * fresh pair.  Its public key is derived (a bad key: MG_ERR_BAD_KEY). */
  const uint8_t *sig_priv;
  size_t sig_priv_len;
  /* Lifetime (§7.2): not_before = now, not_after = now + validity
   * (validity 0: MLS_KEY_PACKAGE_DEFAULT_VALIDITY); seconds since the
   * epoch, from the caller's clock. */
  uint64_t now;
  uint64_t validity;
  /* Non-zero: add the last_resort extension to the KeyPackage. */
  int last_resort;
} mls_key_package_params;

/* mls_key_package_generate creates a KeyPackage (RFC 9420 §10) for
 * |params|: fresh init and leaf encryption key pairs (distinct, §10.1), the
 * leaf node with source key_package, the basic credential, the lifetime and
 * capabilities {versions: mls10; cipher_suites: the suite; extensions:
 * last_resort (the default types 1..5 are implied, §7.2); proposals: none
 * beyond the defaults 1..7; credentials: basic}, the leaf signature
 * (LeafNodeTBS) and then the KeyPackage signature (KeyPackageTBS).
 *
 * Outputs: |out_kp| (required) the KeyPackage; |out_priv| (required) its
 * private keys; |out_encoded| (may be NULL) the encoded KeyPackage;
 * |out_ref| (may be NULL; capacity |ref_cap| >= Hash.Nh) its KeyPackageRef
 * (§5.2) with the length in |*out_ref_len| (may be NULL).  On failure no
 * output is written.
 *
 * Errors: MG_ERR_UNSUPPORTED (unknown suite), MG_ERR_BAD_KEY (given
 * signature key invalid), MG_ERR_INVALID_ARG (NULL, lifetime overflow),
 * MG_ERR_BUFFER_TOO_SMALL, MG_ERR_NOMEM, MG_ERR_CRYPTO_LIB. */
MG_MUST_USE int mls_key_package_generate(mls_key_package *out_kp,
                                         mls_key_package_priv *out_priv,
                                         mls_bytes *out_encoded,
                                         uint8_t *out_ref, size_t ref_cap,
                                         size_t *out_ref_len,
                                         const mls_key_package_params *params);

/* A credential check supplied by the caller (RFC 9420 §5.3.1: the
 * application decides whether the credential and the signature key are
 * acceptable for the identity).  Returns 0 to accept; any non-zero value
 * rejects (validation then fails with MG_ERR_CREDENTIAL). */
typedef int (*mls_credential_check_fn)(void *arg, const mls_credential *cred,
                                       const uint8_t *sig_pub,
                                       size_t sig_pub_len);

/* What a received KeyPackage is validated against. */
typedef struct mls_key_package_policy {
  /* The group's cipher suite (§10.1: MUST match); 0 accepts any suite we
   * support. */
  uint16_t cipher_suite;
  /* The caller's clock, seconds since the epoch, for the lifetime check. */
  uint64_t now;
  /* The group's required_capabilities extension, or NULL for none. */
  const mls_required_capabilities *required;
  /* The credential types the current members use (§7.3: the new leaf must
   * support each), or NULL. */
  const mls_u16_list *member_credential_types;
  /* The GroupContext extensions (§13: the new member's capabilities MUST
   * support each of them), or NULL. */
  const mls_extension_list *group_extensions;
  /* Credential check; NULL means the caller accepts every credential (it
   * must then have checked it by other means). */
  mls_credential_check_fn credential_check;
  void *credential_arg;
  /* Non-zero: also require the KeyPackage's own suite in
   * capabilities.cipher_suites.  Off by default: RFC 9420 §7.2 makes
   * listing every supported suite the creator's duty but names no receiver
   * check, and the official welcome.json vector (case 6, suite 7) lists
   * suites 1..6 only in a suite-7 KeyPackage. */
  int require_suite_in_capabilities;
} mls_key_package_policy;

/* mls_key_package_validate validates |kp| per RFC 9420 §10.1 and the leaf
 * rules of §7.3 that need no tree, in this order, each with its own error:
 *   version mls10                                   MG_ERR_VERSION
 *   a supported suite, equal to the policy's suite  MG_ERR_UNSUPPORTED
 *   leaf_node_source key_package                    MG_ERR_LEAF_NODE_SOURCE
 *   leaf signature (LeafNodeTBS)                    MG_ERR_LEAF_SIGNATURE
 *   KeyPackage signature (KeyPackageTBS)            MG_ERR_SIGNATURE
 *   init_key != leaf encryption_key                 MG_ERR_KEY_PACKAGE
 *   lifetime contains policy->now                   MG_ERR_LIFETIME
 *   capabilities list mls10 (and the suite, if the
 *     policy asks for it)                           MG_ERR_CAPABILITIES
 *   leaf extensions listed in its capabilities      MG_ERR_EXTENSION
 *   its credential type listed                      MG_ERR_CAPABILITIES
 *   the members' credential types listed            MG_ERR_CAPABILITIES
 *   the group's required capabilities               MG_ERR_CAPABILITIES
 *   the group's extensions (policy->group_extensions) MG_ERR_CAPABILITIES
 *   KeyPackage extensions of a non-default type
 *     listed in the leaf's capabilities             MG_ERR_EXTENSION
 *   the credential callback accepts                 MG_ERR_CREDENTIAL
 * Other errors: MG_ERR_INVALID_ARG (NULL), MG_ERR_NOMEM, MG_ERR_CRYPTO_LIB.
 * |kp| is not modified. */
MG_MUST_USE int mls_key_package_validate(const mls_key_package *kp,
                                         const mls_key_package_policy *policy);

/* mls_key_package_is_last_resort returns 1 if |kp| carries the last_resort
 * extension, else 0. */
int mls_key_package_is_last_resort(const mls_key_package *kp);

#endif
