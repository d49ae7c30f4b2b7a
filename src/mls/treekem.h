/*
 * TreeKEM (RFC 9420 §7.4-§7.6): creating an UpdatePath from a leaf and
 * merging / decrypting one as another member.
 *
 * The public tree (mls_tree) and a member's private view (mls_tree_priv: its
 * leaf's HPKE private key and the private keys it knows on its direct path)
 * are separate; the private view is wiped by mls_tree_priv_cleanup.
 *
 * Committer:
 *   mls_treekem_generate   blanks the committer's direct path, derives fresh
 *                          path secrets and node keys, installs them with
 *                          their parent hashes, re-signs the leaf (source
 *                          commit) and fills the UpdatePath's public keys;
 *   (caller computes the provisional GroupContext with the new tree hash)
 *   mls_treekem_encrypt    encrypts each path secret to the copath
 *                          resolutions, minus the newly added leaves.
 * Receiver:
 *   mls_treekem_merge      checks the path (lengths, source, parent hash,
 *                          signature) and merges it into the tree;
 *   (caller computes the provisional GroupContext with the new tree hash)
 *   mls_treekem_decrypt    decrypts the path secret at the common ancestor,
 *                          derives upward, checks the public keys and
 *                          returns the commit secret.
 *
 * Every function returns 0 or a negative mg_err and leaves its inputs
 * unchanged on failure.
 */
#ifndef MG_HEADER_MLS_TREEKEM_H
#define MG_HEADER_MLS_TREEKEM_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/hpke.h"
#include "crypto/suite.h"
#include "mls/msg_leaf.h"
#include "mls/tree.h"
#include "mlsgate/err.h"

/* A member's private view of the tree.  Holds secrets. */
typedef struct mls_tree_priv {
  const mls_suite *suite;
  mls_leaf_idx leaf;
  mg_hpke_key leaf_key;                        /* zero state if unknown */
  uint32_t num_path;
  mls_node_idx path_nodes[MLS_TREE_MAX_DEPTH]; /* ancestors with a key */
  mg_hpke_key path_keys[MLS_TREE_MAX_DEPTH];
} mls_tree_priv;

/* mls_tree_priv_zero puts |p| in the zero state (cleanup is then safe). */
void mls_tree_priv_zero(mls_tree_priv *p);

/* mls_tree_priv_cleanup wipes every private key and zeroes |p|. */
void mls_tree_priv_cleanup(mls_tree_priv *p);

/* mls_tree_priv_init starts the private view of leaf |leaf| from its HPKE
 * private key |enc_priv|.  Errors: MG_ERR_BAD_KEY, MG_ERR_INVALID_ARG,
 * MG_ERR_CRYPTO_LIB. */
MG_MUST_USE int mls_tree_priv_init(mls_tree_priv *p, const mls_suite *suite,
                                   mls_leaf_idx leaf, const uint8_t *enc_priv,
                                   size_t enc_priv_len);

/* mls_tree_priv_set_path_secret sets the key of ancestor |x| of the leaf to
 * DeriveKeyPair(DeriveSecret(path_secret, "node")) (RFC 9420 §7.4).
 * Errors: MG_ERR_INVALID_ARG (x not a parent, or wrong secret length),
 * MG_ERR_LENGTH (too many keys), MG_ERR_DERIVE_KEYPAIR, MG_ERR_CRYPTO_LIB. */
MG_MUST_USE int mls_tree_priv_set_path_secret(mls_tree_priv *p,
                                              mls_node_idx x,
                                              const uint8_t *path_secret,
                                              size_t path_secret_len);

/* mls_tree_priv_prune drops the path keys of |p| whose node in |t| is
 * blank or carries another public key (after Updates and Removes blanked
 * part of the direct path), and the leaf key when the leaf no longer
 * carries it. */
void mls_tree_priv_prune(mls_tree_priv *p, const mls_tree *t);

/* mls_tree_priv_key returns the private key |p| holds for node |x|, or NULL. */
const mg_hpke_key *mls_tree_priv_key(const mls_tree_priv *p, mls_node_idx x);

/* mls_tree_priv_check checks that |p| is consistent with |t|: every node it
 * holds a key for is a non-blank node of |t| on the leaf's direct path (or
 * the leaf) whose encryption key is the key's public key.  Errors:
 * MG_ERR_BAD_KEY (mismatch or blank), MG_ERR_INVALID_ARG. */
MG_MUST_USE int mls_tree_priv_check(const mls_tree_priv *p, const mls_tree *t);

/* The path secrets of a generated UpdatePath.  Holds secrets. */
typedef struct mls_path_secrets {
  size_t nh;
  uint32_t n;                              /* filtered direct path length */
  mls_node_idx nodes[MLS_TREE_MAX_DEPTH];  /* the filtered direct path */
  uint8_t secrets[MLS_TREE_MAX_DEPTH][MG_MAX_HASH_LEN];
  uint8_t commit_secret[MG_MAX_HASH_LEN];  /* path_secret[n] */
} mls_path_secrets;

/* mls_path_secrets_cleanup wipes |s|. */
void mls_path_secrets_cleanup(mls_path_secrets *s);

/* mls_treekem_generate creates a fresh UpdatePath for leaf |from| of |t|
 * (RFC 9420 §7.4, §7.5) and merges it into |t|.  The new LeafNode is a copy
 * of |leaf_template| (credential, capabilities, extensions, signature key)
 * with a fresh encryption key, leaf_node_source commit, the parent hash of
 * §7.9, signed with |sig_priv| over |group_id| and |from|.  |out_path|
 * receives the leaf and the public keys (no ciphertexts yet: see
 * mls_treekem_encrypt), |out_secrets| the path and commit secrets,
 * |out_priv| the committer's new private view.  |leaf_template| may point
 * at the tree's own leaf (it is copied first).  Errors: MG_ERR_NOT_FOUND
 * (from blank), MG_ERR_INVALID_ARG, MG_ERR_NOMEM, MG_ERR_CRYPTO_LIB,
 * MG_ERR_DERIVE_KEYPAIR, the signing errors. */
MG_MUST_USE int mls_treekem_generate(mls_tree *t, mls_tree_priv *out_priv,
                                     mls_path_secrets *out_secrets,
                                     mls_update_path *out_path,
                                     mls_leaf_idx from,
                                     const mls_leaf_node *leaf_template,
                                     const uint8_t *sig_priv,
                                     size_t sig_priv_len,
                                     const uint8_t *group_id,
                                     size_t group_id_len);

/* mls_treekem_generate_key is mls_treekem_generate with the committer's
 * prepared signature key. */
MG_MUST_USE int mls_treekem_generate_key(mls_tree *t, mls_tree_priv *out_priv,
                                         mls_path_secrets *out_secrets,
                                         mls_update_path *out_path,
                                         mls_leaf_idx from,
                                         const mls_leaf_node *leaf_template,
                                         const mg_sig_key *sig_key,
                                         const uint8_t *group_id,
                                         size_t group_id_len);

/* mls_treekem_encrypt fills the encrypted_path_secret lists of |path|
 * (generated for leaf |from| of the merged tree |t|): for each node of the
 * filtered direct path, EncryptWithLabel(pk, "UpdatePathNode", |ctx|,
 * path_secret) to every node of the copath child's resolution except the
 * leaves in |excluded| (RFC 9420 §7.6).  |ctx| is the serialized
 * provisional GroupContext.  Errors: MG_ERR_INVALID_ARG, MG_ERR_NOMEM, the
 * HPKE errors. */
MG_MUST_USE int mls_treekem_encrypt(const mls_tree *t,
                                    const mls_path_secrets *secrets,
                                    mls_update_path *path, mls_leaf_idx from,
                                    const uint8_t *ctx, size_t ctx_len,
                                    const mls_leaf_idx *excluded,
                                    size_t num_excluded);

/* mls_treekem_merge merges |path| sent by leaf |sender| into |t| (RFC 9420
 * §7.5): blanks the sender's direct path, installs the path's keys on the
 * filtered direct path with empty unmerged_leaves and the parent hashes of
 * §7.9, and replaces the sender's leaf.  Checks: the sender's leaf is
 * non-blank (MG_ERR_SENDER), the leaf source is commit
 * (MG_ERR_LEAF_NODE_SOURCE), one
 * UpdatePathNode per filtered direct path node and keys of the KEM's size
 * (MG_ERR_PATH), the leaf's parent_hash (MG_ERR_PARENT_HASH), the leaf's
 * signature over |group_id| and |sender| (MG_ERR_LEAF_SIGNATURE).  Other
 * errors: MG_ERR_NOMEM, MG_ERR_CRYPTO_LIB, MG_ERR_INVALID_ARG. */
MG_MUST_USE int mls_treekem_merge(mls_tree *t, mls_leaf_idx sender,
                                  const mls_update_path *path,
                                  const uint8_t *group_id,
                                  size_t group_id_len);

/* mls_treekem_decrypt processes |path| from |sender|, already merged into
 * |t|, as the member |priv| (RFC 9420 §7.5): decrypts the path secret of
 * the lowest common ancestor with the key |priv| holds for a node of the
 * copath child's resolution (minus |excluded|), derives the secrets above
 * it, checks each derived public key against the path (MG_ERR_PATH), and
 * on success replaces |priv|'s keys at and above the common ancestor.
 * Writes the commit secret (Nh bytes) to |commit_secret| and, if
 * |path_secret| is not NULL, the decrypted path secret.  Errors:
 * MG_ERR_PATH (wrong number of ciphertexts, no usable key, bad plaintext
 * length, key mismatch), MG_ERR_AUTH (decryption failed),
 * MG_ERR_BUFFER_TOO_SMALL, MG_ERR_INVALID_ARG, MG_ERR_CRYPTO_LIB. */
MG_MUST_USE int mls_treekem_decrypt(const mls_tree *t, mls_tree_priv *priv,
                                    uint8_t *commit_secret, size_t cs_cap,
                                    size_t *cs_len, uint8_t *path_secret,
                                    size_t ps_cap, size_t *ps_len,
                                    mls_leaf_idx sender,
                                    const mls_update_path *path,
                                    const uint8_t *ctx, size_t ctx_len,
                                    const mls_leaf_idx *excluded,
                                    size_t num_excluded);

#endif
