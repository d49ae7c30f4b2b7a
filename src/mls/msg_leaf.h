/*
 * Leaf-side structures of RFC 9420: Credential (§5.3), Extension (§7.2,
 * §13), Capabilities and Lifetime (§7.2), LeafNode and LeafNodeTBS (§7.2),
 * KeyPackage and KeyPackageTBS (§10), ParentNode (§7.1), Node and the
 * ratchet_tree encoding (§12.4.3.3), HPKECiphertext, UpdatePathNode and
 * UpdatePath (§7.6), and the typed payloads of the extensions of §17.3.
 *
 * Conventions (STYLE.md §1, §4): structures own their data; a decoder leaves
 * the reader unchanged and |out| owning nothing when it fails; an encoder
 * writes to a mg_writer (sticky error); a cleanup function accepts a zeroed
 * struct and leaves it zeroed.  `_serialize` encodes into a new heap buffer
 * (free()), `_copy` deep-copies (|out| owns nothing on failure).
 *
 * Decoders check what the RFC constrains at the syntax level (enum values,
 * optional flags, node types and positions, duplicate extensions).  Unknown
 * credential and extension types are kept as opaque data (RFC 9420 §13).
 * Semantic checks that need context (signatures, capabilities, lifetimes,
 * tree invariants) are separate functions.
 */
#ifndef MG_HEADER_MLS_MSG_LEAF_H
#define MG_HEADER_MLS_MSG_LEAF_H

#include <stddef.h>
#include <stdint.h>

#include "common/codec.h"
#include "crypto/suite.h"
#include "mls/bytes.h"
#include "mlsgate/err.h"

/* A blank entry of the ratchet tree (no node; not a wire code point). */
#define MLS_NODE_BLANK ((uint8_t)0)

/* The largest ratchet tree (in nodes) the decoder accepts: 2^(d+1)-1 for
 * 2^20 leaves.  Larger trees are MG_ERR_LENGTH. */
#define MLS_MAX_TREE_NODES ((size_t)((1u << 21) - 1))

/* A list of 16-bit code points (versions, suites, extension/proposal/
 * credential types): `uint16 x<V>`. */
typedef struct mls_u16_list {
  uint16_t *v; /* owned; NULL when n == 0 */
  size_t n;
} mls_u16_list;

/* mls_u16_list_contains returns 1 if |v| is in |l|. */
int mls_u16_list_contains(const mls_u16_list *l, uint16_t v);

/* mls_u16_list_cleanup frees |l| and zeroes it. */
void mls_u16_list_cleanup(mls_u16_list *l);

/* ------------------------------------------------------------ Credential */

/* RFC 9420 §5.3
 *   struct { opaque cert_data<V>; } Certificate;
 *   struct {
 *       CredentialType credential_type;
 *       select (Credential.credential_type) {
 *           case basic: opaque identity<V>;
 *           case x509:  Certificate certificates<V>;
 *       };
 *   } Credential;
 *
 * Other credential types (GREASE, private use) have no body defined by the
 * RFC; like other implementations we read their body as `opaque data<V>`
 * and keep it in |opaque| (re-encoded unchanged). */
typedef struct mls_credential {
  uint16_t credential_type;
  mls_bytes identity;      /* basic */
  mls_bytes *certificates; /* x509: cert_data of each Certificate */
  size_t num_certificates;
  mls_bytes opaque;        /* any other type: the body */
} mls_credential;

/* mls_credential_decode reads a Credential.  Errors: decode errors,
 * MG_ERR_NOMEM. */
MG_MUST_USE int mls_credential_decode(mg_reader *r, mls_credential *out);

/* mls_credential_encode writes |in|.  Errors: writer errors,
 * MG_ERR_INVALID_ARG. */
MG_MUST_USE int mls_credential_encode(mg_writer *w, const mls_credential *in);

/* mls_credential_copy deep-copies |in|.  Errors: MG_ERR_NOMEM,
 * MG_ERR_INVALID_ARG. */
MG_MUST_USE int mls_credential_copy(mls_credential *out,
                                    const mls_credential *in);

/* mls_credential_eq returns 1 if |a| and |b| are the same credential. */
int mls_credential_eq(const mls_credential *a, const mls_credential *b);

/* mls_credential_cleanup frees what |x| owns and zeroes it. */
void mls_credential_cleanup(mls_credential *x);

/* ------------------------------------------------------------ Extensions */

/* RFC 9420 §7.2
 *   struct {
 *       ExtensionType extension_type;
 *       opaque extension_data<V>;
 *   } Extension;
 * A list is `Extension extensions<V>`; the decoder rejects a repeated
 * extension type (MG_ERR_DUPLICATE_EXTENSION, RFC 9420 §13) and keeps
 * unknown and GREASE types. */
typedef struct mls_extension {
  uint16_t extension_type;
  mls_bytes extension_data;
} mls_extension;

typedef struct mls_extension_list {
  mls_extension *items; /* owned; NULL when n == 0 */
  size_t n;
} mls_extension_list;

/* mls_extension_list_decode reads `Extension extensions<V>`.  Errors:
 * decode errors, MG_ERR_DUPLICATE_EXTENSION, MG_ERR_NOMEM. */
MG_MUST_USE int mls_extension_list_decode(mg_reader *r,
                                          mls_extension_list *out);

/* mls_extension_list_encode writes |in| in its order.  Errors: writer
 * errors, MG_ERR_DUPLICATE_EXTENSION (a repeated type), MG_ERR_INVALID_ARG. */
MG_MUST_USE int mls_extension_list_encode(mg_writer *w,
                                          const mls_extension_list *in);

/* mls_extension_list_copy deep-copies |in|.  Errors: MG_ERR_NOMEM,
 * MG_ERR_INVALID_ARG. */
MG_MUST_USE int mls_extension_list_copy(mls_extension_list *out,
                                        const mls_extension_list *in);

/* mls_extension_list_find returns the extension of type |type| in |l| (a
 * pointer into |l|), or NULL. */
const mls_extension *mls_extension_list_find(const mls_extension_list *l,
                                             uint16_t type);

/* mls_extension_list_add appends a copy of |data| as an extension of type
 * |type|.  Errors: MG_ERR_DUPLICATE_EXTENSION (already present; |l| is
 * unchanged), MG_ERR_NOMEM, MG_ERR_INVALID_ARG. */
MG_MUST_USE int mls_extension_list_add(mls_extension_list *l, uint16_t type,
                                       const uint8_t *data, size_t len);

/* mls_extension_list_cleanup frees what |l| owns and zeroes it. */
void mls_extension_list_cleanup(mls_extension_list *l);

/* Typed payloads (RFC 9420 §17.3).  Each `_decode` parses the
 * extension_data of |ext| completely (trailing bytes: MG_ERR_TRAILING);
 * a wrong extension_type is MG_ERR_INVALID_ARG.  Each `_encode` writes the
 * payload (not the Extension wrapper) to |w|. */

/* application_id (§5.3.3): `opaque application_id<V>`. */
MG_MUST_USE int mls_ext_application_id_decode(const mls_extension *ext,
                                              mls_bytes *out);

/* external_pub (§12.4.3.2): struct { HPKEPublicKey external_pub; }. */
MG_MUST_USE int mls_ext_external_pub_decode(const mls_extension *ext,
                                            mls_bytes *out);

/* RFC 9420 §11.1
 *   struct {
 *       ExtensionType extension_types<V>;
 *       ProposalType proposal_types<V>;
 *       CredentialType credential_types<V>;
 *   } RequiredCapabilities;
 */
typedef struct mls_required_capabilities {
  mls_u16_list extension_types;
  mls_u16_list proposal_types;
  mls_u16_list credential_types;
} mls_required_capabilities;

MG_MUST_USE int mls_required_capabilities_decode(
    mg_reader *r, mls_required_capabilities *out);
MG_MUST_USE int mls_required_capabilities_encode(
    mg_writer *w, const mls_required_capabilities *in);
void mls_required_capabilities_cleanup(mls_required_capabilities *x);
MG_MUST_USE int mls_ext_required_capabilities_decode(
    const mls_extension *ext, mls_required_capabilities *out);

/* RFC 9420 §12.1.8.1
 *   struct {
 *       SignaturePublicKey signature_key;
 *       Credential credential;
 *   } ExternalSender;
 *   ExternalSender external_senders<V>;
 */
typedef struct mls_external_sender {
  mls_bytes signature_key;
  mls_credential credential;
} mls_external_sender;

typedef struct mls_external_senders {
  mls_external_sender *items;
  size_t n;
} mls_external_senders;

MG_MUST_USE int mls_external_senders_decode(mg_reader *r,
                                            mls_external_senders *out);
MG_MUST_USE int mls_external_senders_encode(mg_writer *w,
                                            const mls_external_senders *in);
void mls_external_senders_cleanup(mls_external_senders *x);
MG_MUST_USE int mls_ext_external_senders_decode(const mls_extension *ext,
                                                mls_external_senders *out);

/* ratchet_tree (§12.4.3.3): see mls_ratchet_tree below. */
struct mls_ratchet_tree;
MG_MUST_USE int mls_ext_ratchet_tree_decode(const mls_extension *ext,
                                            struct mls_ratchet_tree *out);

/* ---------------------------------------------- Capabilities, Lifetime */

/* RFC 9420 §7.2
 *   struct {
 *       ProtocolVersion versions<V>;
 *       CipherSuite cipher_suites<V>;
 *       ExtensionType extensions<V>;
 *       ProposalType proposals<V>;
 *       CredentialType credentials<V>;
 *   } Capabilities;
 */
typedef struct mls_capabilities {
  mls_u16_list versions;
  mls_u16_list cipher_suites;
  mls_u16_list extensions;
  mls_u16_list proposals;
  mls_u16_list credentials;
} mls_capabilities;

MG_MUST_USE int mls_capabilities_decode(mg_reader *r, mls_capabilities *out);
MG_MUST_USE int mls_capabilities_encode(mg_writer *w,
                                        const mls_capabilities *in);
void mls_capabilities_cleanup(mls_capabilities *x);

/* mls_capabilities_supports_extension returns 1 if |c| supports extension
 * type |type|: the default types 1..5 always (RFC 9420 §7.2 forbids listing
 * them), any other type if listed. */
int mls_capabilities_supports_extension(const mls_capabilities *c,
                                        uint16_t type);

/* mls_capabilities_supports_proposal is the same for proposal types (the
 * default types are 1..7). */
int mls_capabilities_supports_proposal(const mls_capabilities *c,
                                       uint16_t type);

/* mls_capabilities_check_required checks that |c| supports every extension,
 * proposal and credential type of |req| (RFC 9420 §7.3, §11.1).  Returns 0
 * or MG_ERR_CAPABILITIES; MG_ERR_INVALID_ARG for NULL. */
MG_MUST_USE int mls_capabilities_check_required(
    const mls_capabilities *c, const mls_required_capabilities *req);

/* RFC 9420 §7.2
 *   struct { uint64 not_before; uint64 not_after; } Lifetime;
 */
typedef struct mls_lifetime {
  uint64_t not_before;
  uint64_t not_after;
} mls_lifetime;

MG_MUST_USE int mls_lifetime_decode(mg_reader *r, mls_lifetime *out);
MG_MUST_USE int mls_lifetime_encode(mg_writer *w, const mls_lifetime *in);

/* mls_lifetime_check returns 0 if not_before <= |now| <= not_after (seconds
 * since the epoch), else MG_ERR_LIFETIME. */
MG_MUST_USE int mls_lifetime_check(const mls_lifetime *lt, uint64_t now);

/* ------------------------------------------------------------- LeafNode */

/* RFC 9420 §7.2
 *   struct {
 *       HPKEPublicKey encryption_key;
 *       SignaturePublicKey signature_key;
 *       Credential credential;
 *       Capabilities capabilities;
 *
 *       LeafNodeSource leaf_node_source;
 *       select (LeafNode.leaf_node_source) {
 *           case key_package: Lifetime lifetime;
 *           case update:      struct{};
 *           case commit:      opaque parent_hash<V>;
 *       };
 *
 *       Extension extensions<V>;
 *       // SignWithLabel(., "LeafNodeTBS", LeafNodeTBS)
 *       opaque signature<V>;
 *   } LeafNode;
 *
 * |lifetime| is meaningful only for key_package, |parent_hash| only for
 * commit.  The decoder rejects any other leaf_node_source
 * (MG_ERR_LEAF_NODE_SOURCE). */
typedef struct mls_leaf_node {
  mls_bytes encryption_key;
  mls_bytes signature_key;
  mls_credential credential;
  mls_capabilities capabilities;
  uint8_t leaf_node_source; /* MLS_LEAF_SOURCE_* */
  mls_lifetime lifetime;    /* key_package */
  mls_bytes parent_hash;    /* commit */
  mls_extension_list extensions;
  mls_bytes signature;
} mls_leaf_node;

/* mls_leaf_node_decode reads a LeafNode.  Errors: decode errors,
 * MG_ERR_LEAF_NODE_SOURCE, MG_ERR_DUPLICATE_EXTENSION, MG_ERR_NOMEM. */
MG_MUST_USE int mls_leaf_node_decode(mg_reader *r, mls_leaf_node *out);

/* mls_leaf_node_encode writes |in|.  Errors: writer errors,
 * MG_ERR_LEAF_NODE_SOURCE, MG_ERR_DUPLICATE_EXTENSION, MG_ERR_INVALID_ARG. */
MG_MUST_USE int mls_leaf_node_encode(mg_writer *w, const mls_leaf_node *in);

/* mls_leaf_node_serialize encodes |in| into a new heap buffer (free()). */
MG_MUST_USE int mls_leaf_node_serialize(const mls_leaf_node *in,
                                        uint8_t **out, size_t *out_len);

/* mls_leaf_node_copy deep-copies |in|.  Errors: MG_ERR_NOMEM,
 * MG_ERR_INVALID_ARG, MG_ERR_LEAF_NODE_SOURCE. */
MG_MUST_USE int mls_leaf_node_copy(mls_leaf_node *out,
                                   const mls_leaf_node *in);

/* mls_leaf_node_cleanup frees what |x| owns and zeroes it. */
void mls_leaf_node_cleanup(mls_leaf_node *x);

/* mls_leaf_node_check_capabilities checks the context-free rules of RFC
 * 9420 §7.2 on a leaf's own capabilities: every non-default extension type
 * in |ln->extensions| is listed in capabilities.extensions
 * (MG_ERR_EXTENSION), and the credential type is listed in
 * capabilities.credentials (MG_ERR_CAPABILITIES).  Group-dependent checks
 * (required capabilities, the members' credential types) are the caller's:
 * mls_capabilities_check_required.  MG_ERR_INVALID_ARG for NULL. */
MG_MUST_USE int mls_leaf_node_check_capabilities(const mls_leaf_node *ln);

/* RFC 9420 §7.2
 *   struct {
 *       ...the fields of LeafNode up to and including extensions...
 *       select (LeafNodeTBS.leaf_node_source) {
 *           case key_package: struct{};
 *           case update:      opaque group_id<V>; uint32 leaf_index;
 *           case commit:      opaque group_id<V>; uint32 leaf_index;
 *       };
 *   } LeafNodeTBS;
 *
 * mls_leaf_node_tbs_encode writes the LeafNodeTBS of |ln|; |group_id| and
 * |leaf_index| are used for the update and commit sources only (may be
 * NULL/0 for key_package).  Errors: as mls_leaf_node_encode. */
MG_MUST_USE int mls_leaf_node_tbs_encode(mg_writer *w, const mls_leaf_node *ln,
                                         const uint8_t *group_id,
                                         size_t group_id_len,
                                         uint32_t leaf_index);

/* mls_leaf_node_sign sets |ln->signature| to
 * SignWithLabel(priv, "LeafNodeTBS", LeafNodeTBS) (RFC 9420 §7.2) with the
 * suite's signature algorithm.  Errors: those of mls_sign_with_label and
 * mls_leaf_node_tbs_encode, MG_ERR_NOMEM.  On failure |ln| is unchanged. */
MG_MUST_USE int mls_leaf_node_sign(const mls_suite *suite, mls_leaf_node *ln,
                                   const uint8_t *priv, size_t priv_len,
                                   const uint8_t *group_id,
                                   size_t group_id_len, uint32_t leaf_index);

/* mls_leaf_node_sign_key is mls_leaf_node_sign with a prepared private key
 * (suite->sig->key_from_priv): preparing an Ed25519 or ECDSA key costs
 * about as much as signing. */
MG_MUST_USE int mls_leaf_node_sign_key(const mls_suite *suite,
                                       mls_leaf_node *ln,
                                       const mg_sig_key *key,
                                       const uint8_t *group_id,
                                       size_t group_id_len,
                                       uint32_t leaf_index);

/* mls_leaf_node_verify checks |ln->signature| with |ln->signature_key|
 * (RFC 9420 §7.3).  Returns 0, or MG_ERR_LEAF_SIGNATURE if it does not
 * verify (also for a malformed signature key); MG_ERR_INVALID_ARG,
 * MG_ERR_NOMEM, MG_ERR_CRYPTO_LIB. */
MG_MUST_USE int mls_leaf_node_verify(const mls_suite *suite,
                                     const mls_leaf_node *ln,
                                     const uint8_t *group_id,
                                     size_t group_id_len, uint32_t leaf_index);

/* ----------------------------------------------------------- KeyPackage */

/* RFC 9420 §10
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
 *   KeyPackageTBS: the same without the signature.
 */
typedef struct mls_key_package {
  uint16_t version;
  uint16_t cipher_suite;
  mls_bytes init_key;
  mls_leaf_node leaf_node;
  mls_extension_list extensions;
  mls_bytes signature;
} mls_key_package;

/* mls_key_package_decode reads a KeyPackage (not the MLSMessage wrapper).
 * A version other than mls10 is MG_ERR_VERSION; the cipher suite is not
 * checked here.  Errors: decode errors, MG_ERR_VERSION, the leaf node's and
 * extension list's errors, MG_ERR_NOMEM. */
MG_MUST_USE int mls_key_package_decode(mg_reader *r, mls_key_package *out);

/* mls_key_package_encode writes |in|.  Errors: writer errors,
 * MG_ERR_INVALID_ARG, the leaf node's errors. */
MG_MUST_USE int mls_key_package_encode(mg_writer *w,
                                       const mls_key_package *in);

MG_MUST_USE int mls_key_package_serialize(const mls_key_package *in,
                                          uint8_t **out, size_t *out_len);
MG_MUST_USE int mls_key_package_copy(mls_key_package *out,
                                     const mls_key_package *in);
void mls_key_package_cleanup(mls_key_package *x);

/* mls_key_package_tbs_encode writes the KeyPackageTBS of |kp|. */
MG_MUST_USE int mls_key_package_tbs_encode(mg_writer *w,
                                           const mls_key_package *kp);

/* mls_key_package_sign sets |kp->signature| to SignWithLabel(priv,
 * "KeyPackageTBS", KeyPackageTBS) using the suite |kp->cipher_suite|
 * (MG_ERR_UNSUPPORTED if unknown).  It does not sign the leaf node.  On
 * failure |kp| is unchanged. */
MG_MUST_USE int mls_key_package_sign(mls_key_package *kp, const uint8_t *priv,
                                     size_t priv_len);

/* mls_key_package_sign_key is mls_key_package_sign with a prepared key. */
MG_MUST_USE int mls_key_package_sign_key(mls_key_package *kp,
                                         const mg_sig_key *key);

/* mls_key_package_verify validates |kp| as RFC 9420 §10.1 requires, as far
 * as it can without group context: version mls10 (MG_ERR_VERSION), a known
 * cipher suite (MG_ERR_UNSUPPORTED), leaf_node_source key_package
 * (MG_ERR_LEAF_NODE_SOURCE), the leaf node signature
 * (MG_ERR_LEAF_SIGNATURE), the KeyPackage signature with the leaf's
 * signature key (MG_ERR_SIGNATURE), and init_key different from the leaf's
 * encryption_key (MG_ERR_KEY_PACKAGE).  Lifetime and capabilities are left
 * to the caller (mls_lifetime_check).  Other errors: MG_ERR_NOMEM,
 * MG_ERR_CRYPTO_LIB, MG_ERR_INVALID_ARG. */
MG_MUST_USE int mls_key_package_verify(const mls_key_package *kp);

/* mls_key_package_ref computes KeyPackageRef = MakeKeyPackageRef(the
 * encoded KeyPackage) (RFC 9420 §5.2) with the suite |kp->cipher_suite|,
 * writing Hash.Nh bytes to |out| (capacity |out_cap|).  Errors:
 * MG_ERR_UNSUPPORTED, those of mls_make_key_package_ref and the encoder. */
MG_MUST_USE int mls_key_package_ref(const mls_key_package *kp, uint8_t *out,
                                    size_t out_cap, size_t *out_len);

/* ------------------------------------------------- ParentNode, Node, tree */

/* RFC 9420 §7.1
 *   struct {
 *       HPKEPublicKey encryption_key;
 *       opaque parent_hash<V>;
 *       uint32 unmerged_leaves<V>;
 *   } ParentNode;
 */
typedef struct mls_parent_node {
  mls_bytes encryption_key;
  mls_bytes parent_hash;
  uint32_t *unmerged_leaves; /* owned; NULL when num_unmerged_leaves == 0 */
  size_t num_unmerged_leaves;
} mls_parent_node;

MG_MUST_USE int mls_parent_node_decode(mg_reader *r, mls_parent_node *out);
MG_MUST_USE int mls_parent_node_encode(mg_writer *w,
                                       const mls_parent_node *in);
MG_MUST_USE int mls_parent_node_copy(mls_parent_node *out,
                                     const mls_parent_node *in);
void mls_parent_node_cleanup(mls_parent_node *x);

/* RFC 9420 §12.4.3.3
 *   struct {
 *       NodeType node_type;
 *       select (Node.node_type) {
 *           case leaf:   LeafNode leaf_node;
 *           case parent: ParentNode parent_node;
 *       };
 *   } Node;
 *
 * node_type MLS_NODE_BLANK (0) stands for an absent optional<Node>; it is
 * never a valid wire value inside a Node (MG_ERR_TREE_INVALID). */
typedef struct mls_node {
  uint8_t node_type; /* MLS_NODE_BLANK, MLS_NODE_LEAF or MLS_NODE_PARENT */
  union {
    mls_leaf_node leaf;
    mls_parent_node parent;
  } u;
} mls_node;

/* mls_node_decode reads a Node (type byte and body).  Errors: decode
 * errors, MG_ERR_TREE_INVALID (unknown node type), the body's errors. */
MG_MUST_USE int mls_node_decode(mg_reader *r, mls_node *out);

/* mls_node_encode writes a non-blank Node.  MG_ERR_INVALID_ARG for blank. */
MG_MUST_USE int mls_node_encode(mg_writer *w, const mls_node *in);

/* mls_node_copy deep-copies |in| (blank included). */
MG_MUST_USE int mls_node_copy(mls_node *out, const mls_node *in);

/* mls_node_cleanup frees what |x| owns and makes it blank (zeroed). */
void mls_node_cleanup(mls_node *x);

/* RFC 9420 §12.4.3.3: `optional<Node> ratchet_tree<V>`.
 *
 * |nodes[i]| is array node i (leaf L at 2L, parents at odd indices); blank
 * entries have node_type MLS_NODE_BLANK.  The decoded array holds exactly
 * the transmitted entries (|n| odd, last entry non-blank); the logical tree
 * is padded with blanks up to mls_ratchet_tree_width() nodes. */
typedef struct mls_ratchet_tree {
  mls_node *nodes; /* owned; NULL when n == 0 */
  size_t n;
} mls_ratchet_tree;

/* mls_ratchet_tree_decode reads `optional<Node> ratchet_tree<V>` and checks
 * its shape: at least one node, the last entry non-blank, an odd number of
 * entries (so that padding with blanks reaches 2^(d+1)-1 nodes), leaves at
 * even and parents at odd positions (MG_ERR_TREE_INVALID), at most
 * MLS_MAX_TREE_NODES entries (MG_ERR_LENGTH).  Errors: decode errors,
 * MG_ERR_TREE_INVALID, MG_ERR_LENGTH, the node's errors, MG_ERR_NOMEM. */
MG_MUST_USE int mls_ratchet_tree_decode(mg_reader *r, mls_ratchet_tree *out);

/* mls_ratchet_tree_encode writes |in| without its trailing blank entries
 * (RFC 9420 §12.4.3.3: the sender MUST NOT include them); |in| may be
 * padded.  Errors: MG_ERR_TREE_INVALID (no non-blank node, or a node of the
 * wrong type at a position), writer errors, the nodes' errors. */
MG_MUST_USE int mls_ratchet_tree_encode(mg_writer *w,
                                        const mls_ratchet_tree *in);

MG_MUST_USE int mls_ratchet_tree_serialize(const mls_ratchet_tree *in,
                                           uint8_t **out, size_t *out_len);
MG_MUST_USE int mls_ratchet_tree_copy(mls_ratchet_tree *out,
                                      const mls_ratchet_tree *in);

/* mls_ratchet_tree_num_leaves returns the number of leaves of the padded
 * tree (a power of two; 0 for an empty tree). */
uint32_t mls_ratchet_tree_num_leaves(const mls_ratchet_tree *t);

/* mls_ratchet_tree_width returns 2 * num_leaves - 1 (0 for empty). */
uint32_t mls_ratchet_tree_width(const mls_ratchet_tree *t);

/* mls_ratchet_tree_node returns node |i| of the padded tree, or NULL when
 * it is blank or beyond the width. */
const mls_node *mls_ratchet_tree_node(const mls_ratchet_tree *t, size_t i);

void mls_ratchet_tree_cleanup(mls_ratchet_tree *x);

/* ----------------------------------------------------------- UpdatePath */

/* RFC 9420 §7.6
 *   struct {
 *       opaque kem_output<V>;
 *       opaque ciphertext<V>;
 *   } HPKECiphertext;
 */
typedef struct mls_hpke_ciphertext {
  mls_bytes kem_output;
  mls_bytes ciphertext;
} mls_hpke_ciphertext;

MG_MUST_USE int mls_hpke_ciphertext_decode(mg_reader *r,
                                           mls_hpke_ciphertext *out);
MG_MUST_USE int mls_hpke_ciphertext_encode(mg_writer *w,
                                           const mls_hpke_ciphertext *in);
void mls_hpke_ciphertext_cleanup(mls_hpke_ciphertext *x);

/* RFC 9420 §7.6
 *   struct {
 *       HPKEPublicKey encryption_key;
 *       HPKECiphertext encrypted_path_secret<V>;
 *   } UpdatePathNode;
 */
typedef struct mls_update_path_node {
  mls_bytes encryption_key;
  mls_hpke_ciphertext *encrypted_path_secret;
  size_t num_encrypted_path_secret;
} mls_update_path_node;

MG_MUST_USE int mls_update_path_node_decode(mg_reader *r,
                                            mls_update_path_node *out);
MG_MUST_USE int mls_update_path_node_encode(mg_writer *w,
                                            const mls_update_path_node *in);
void mls_update_path_node_cleanup(mls_update_path_node *x);

/* RFC 9420 §7.6
 *   struct {
 *       LeafNode leaf_node;
 *       UpdatePathNode nodes<V>;
 *   } UpdatePath;
 *
 * The decoder does not require leaf_node_source commit; that is checked
 * where the path is processed (MG_ERR_LEAF_NODE_SOURCE). */
typedef struct mls_update_path {
  mls_leaf_node leaf_node;
  mls_update_path_node *nodes;
  size_t num_nodes;
} mls_update_path;

MG_MUST_USE int mls_update_path_decode(mg_reader *r, mls_update_path *out);
MG_MUST_USE int mls_update_path_encode(mg_writer *w,
                                       const mls_update_path *in);
MG_MUST_USE int mls_update_path_copy(mls_update_path *out,
                                     const mls_update_path *in);
void mls_update_path_cleanup(mls_update_path *x);

#endif
