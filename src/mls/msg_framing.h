/*
 * Framing structures of RFC 9420: proposals (§12.1), Commit (§12.4),
 * Sender/FramedContent/authentication data (§6, §6.1), PublicMessage
 * (§6.2), PrivateMessage and its plaintext and sender data (§6.3),
 * MLSMessage (§6), Welcome and GroupSecrets (§12.4.3.1) and GroupInfo
 * (§12.4.3).
 *
 * Conventions (STYLE.md §1, §4):
 *   int  mls_<name>_decode(mg_reader *r, mls_<name> *out);
 *   int  mls_<name>_encode(mg_writer *w, const mls_<name> *in);
 *   void mls_<name>_cleanup(mls_<name> *x);
 * A decoder leaves |r| unchanged and |*out| owning nothing when it fails; it
 * expects |*out| to own nothing on entry (it overwrites it).  Cleanup
 * accepts a zeroed struct and wipes secret fields.  Decoders are
 * syntactic: they check everything the encoding itself constrains (enum
 * values, optional flags, select arms, all-zero padding, trailing bytes of
 * a complete message) and the RFC MUSTs that need nothing but the message;
 * checks needing group state (signatures, tags, epochs, tree) belong to the
 * framing and group code.
 *
 * Unknown proposal types cannot be kept opaque: a Proposal carries no length
 * for its body (§12.1), so an unknown type cannot be skipped, and §13.5 says
 * an unsupported proposal_type (GREASE included) causes the enclosing
 * message to be rejected.  The decoders return MG_ERR_PROPOSAL for them.
 *
 * Errors shared by every decoder: MG_ERR_TRUNCATED, MG_ERR_VARINT_PREFIX,
 * MG_ERR_VARINT_NONMINIMAL, MG_ERR_OPTIONAL, MG_ERR_LENGTH, MG_ERR_NOMEM,
 * MG_ERR_INVALID_ARG, plus those of the embedded types (msg_leaf.h,
 * msg_context.h).  Every encoder may return the writer's errors
 * (MG_ERR_NOMEM, MG_ERR_BUFFER_TOO_SMALL, MG_ERR_LENGTH) and
 * MG_ERR_INVALID_ARG for a structure that violates its own invariants (for
 * example a select arm that does not match its tag).
 */
#ifndef MG_HEADER_MLS_MSG_FRAMING_H
#define MG_HEADER_MLS_MSG_FRAMING_H

#include <stddef.h>
#include <stdint.h>

#include "common/codec.h"
#include "mlsgate/err.h"
#include "mls/bytes.h"
#include "mls/constants.h"
#include "mls/msg_context.h"
#include "mls/msg_leaf.h"

/* ------------------------------------------------------------ proposals */

/* RFC 9420 §12.1.1: struct { KeyPackage key_package; } Add; */
typedef struct mls_add {
  mls_key_package key_package;
} mls_add;

/* RFC 9420 §12.1.2: struct { LeafNode leaf_node; } Update; */
typedef struct mls_update {
  mls_leaf_node leaf_node;
} mls_update;

/* RFC 9420 §12.1.3: struct { uint32 removed; } Remove; */
typedef struct mls_remove {
  uint32_t removed;
} mls_remove;

/* RFC 9420 §12.1.4: struct { PreSharedKeyID psk; } PreSharedKey; */
typedef struct mls_pre_shared_key {
  mls_psk_id psk;
} mls_pre_shared_key;

/* RFC 9420 §12.1.5:
 *   struct { opaque group_id<V>; ProtocolVersion version;
 *            CipherSuite cipher_suite; Extension extensions<V>; } ReInit; */
typedef struct mls_reinit {
  mls_bytes group_id;
  uint16_t version;
  uint16_t cipher_suite;
  mls_extension_list extensions;
} mls_reinit;

/* RFC 9420 §12.1.6: struct { opaque kem_output<V>; } ExternalInit; */
typedef struct mls_external_init {
  mls_bytes kem_output;
} mls_external_init;

/* RFC 9420 §12.1.7: struct { Extension extensions<V>; } GroupContextExtensions; */
typedef struct mls_group_context_extensions {
  mls_extension_list extensions;
} mls_group_context_extensions;

/* RFC 9420 §12.1: struct { ProposalType proposal_type; select (...) {...}; }
 * Proposal.  Only the body named by |proposal_type| is meaningful: the
 * bodies share storage (an anonymous union), which keeps a decoded Commit
 * small (a Commit may hold many proposals, and every element of a decoded
 * vector costs its struct size however few bytes it took on the wire).
 * A zeroed struct (type 0) owns nothing. */
typedef struct mls_proposal {
  uint16_t proposal_type; /* MLS_PROPOSAL_* */
  union {
    mls_add add;
    mls_update update;
    mls_remove remove;
    mls_pre_shared_key psk;
    mls_reinit reinit;
    mls_external_init external_init;
    mls_group_context_extensions group_context_extensions;
  };
} mls_proposal;

/* RFC 9420 §12.4:
 *   struct { ProposalOrRefType type; select (...) { case proposal: Proposal
 *            proposal; case reference: ProposalRef reference; }; }
 *   ProposalOrRef;   (ProposalRef is opaque HashReference<V>, §5.2) */
typedef struct mls_proposal_or_ref {
  uint8_t type; /* MLS_PROPOSAL_OR_REF_* */
  mls_proposal proposal;
  mls_bytes reference;
} mls_proposal_or_ref;

/* RFC 9420 §12.4:
 *   struct { ProposalOrRef proposals<V>; optional<UpdatePath> path; } Commit; */
typedef struct mls_commit {
  mls_proposal_or_ref *proposals;
  size_t num_proposals;
  int has_path;
  mls_update_path path;
} mls_commit;

/* ------------------------------------------------------- framed content */

/* RFC 9420 §6: Sender.  |leaf_index| is meaningful for member senders,
 * |sender_index| (an index into the external_senders extension) for
 * external senders; both are zero otherwise. */
typedef struct mls_sender {
  uint8_t sender_type; /* MLS_SENDER_* */
  uint32_t leaf_index;
  uint32_t sender_index;
} mls_sender;

/* RFC 9420 §6:
 *   struct { opaque group_id<V>; uint64 epoch; Sender sender;
 *            opaque authenticated_data<V>; ContentType content_type;
 *            select (content_type) { application_data | proposal | commit }
 *   } FramedContent;
 * Only the member selected by |content_type| is meaningful. */
typedef struct mls_framed_content {
  mls_bytes group_id;
  uint64_t epoch;
  mls_sender sender;
  mls_bytes authenticated_data;
  uint8_t content_type; /* MLS_CONTENT_* */
  mls_bytes application_data;
  mls_proposal proposal;
  mls_commit commit;
} mls_framed_content;

/* RFC 9420 §6.1:
 *   struct { opaque signature<V>;
 *            select (FramedContent.content_type) { case commit: MAC
 *            confirmation_tag; ... }; } FramedContentAuthData;
 * |confirmation_tag| is empty unless the content is a commit. */
typedef struct mls_framed_content_auth_data {
  mls_bytes signature;
  mls_bytes confirmation_tag;
} mls_framed_content_auth_data;

/* RFC 9420 §6:
 *   struct { WireFormat wire_format; FramedContent content;
 *            FramedContentAuthData auth; } AuthenticatedContent; */
typedef struct mls_authenticated_content {
  uint16_t wire_format; /* MLS_WIRE_PUBLIC_MESSAGE or _PRIVATE_MESSAGE */
  mls_framed_content content;
  mls_framed_content_auth_data auth;
} mls_authenticated_content;

/* RFC 9420 §6.2:
 *   struct { FramedContent content; FramedContentAuthData auth;
 *            select (content.sender.sender_type) { case member: MAC
 *            membership_tag; ... }; } PublicMessage;
 * |membership_tag| is empty unless the sender is a member. */
typedef struct mls_public_message {
  mls_framed_content content;
  mls_framed_content_auth_data auth;
  mls_bytes membership_tag;
} mls_public_message;

/* RFC 9420 §6.3:
 *   struct { opaque group_id<V>; uint64 epoch; ContentType content_type;
 *            opaque authenticated_data<V>; opaque encrypted_sender_data<V>;
 *            opaque ciphertext<V>; } PrivateMessage; */
typedef struct mls_private_message {
  mls_bytes group_id;
  uint64_t epoch;
  uint8_t content_type; /* MLS_CONTENT_* */
  mls_bytes authenticated_data;
  mls_bytes encrypted_sender_data;
  mls_bytes ciphertext;
} mls_private_message;

/* RFC 9420 §6.3.1:
 *   struct { select (PrivateMessage.content_type) { application_data |
 *            proposal | commit }; FramedContentAuthData auth;
 *            opaque padding[length_of_padding]; } PrivateMessageContent;
 * The content type is not encoded: it comes from the PrivateMessage. */
typedef struct mls_private_message_content {
  uint8_t content_type; /* MLS_CONTENT_* (not encoded) */
  mls_bytes application_data;
  mls_proposal proposal;
  mls_commit commit;
  mls_framed_content_auth_data auth;
  size_t padding_len; /* number of zero bytes */
} mls_private_message_content;

/* RFC 9420 §6.3.2:
 *   struct { uint32 leaf_index; uint32 generation; opaque reuse_guard[4]; }
 *   SenderData; */
#define MLS_REUSE_GUARD_LEN 4
typedef struct mls_sender_data {
  uint32_t leaf_index;
  uint32_t generation;
  uint8_t reuse_guard[MLS_REUSE_GUARD_LEN];
} mls_sender_data;

/* ------------------------------------------------- Welcome, GroupInfo */

/* RFC 9420 §12.4.3:
 *   struct { GroupContext group_context; Extension extensions<V>;
 *            MAC confirmation_tag; uint32 signer; opaque signature<V>; }
 *   GroupInfo; */
typedef struct mls_group_info {
  mls_group_context group_context;
  mls_extension_list extensions;
  mls_bytes confirmation_tag;
  uint32_t signer;
  mls_bytes signature;
} mls_group_info;

/* RFC 9420 §12.4.3.1:
 *   struct { opaque path_secret<V>; } PathSecret;
 *   struct { opaque joiner_secret<V>; optional<PathSecret> path_secret;
 *            PreSharedKeyID psks<V>; } GroupSecrets;
 * |joiner_secret| and |path_secret| are secret (wiped by cleanup). */
typedef struct mls_group_secrets {
  mls_bytes joiner_secret;
  int has_path_secret;
  mls_bytes path_secret;
  mls_psk_id *psks;
  size_t num_psks;
} mls_group_secrets;

/* RFC 9420 §12.4.3.1:
 *   struct { KeyPackageRef new_member; HPKECiphertext
 *            encrypted_group_secrets; } EncryptedGroupSecrets;
 * (KeyPackageRef is opaque HashReference<V>, §5.2.) */
typedef struct mls_encrypted_group_secrets {
  mls_bytes new_member;
  mls_hpke_ciphertext encrypted_group_secrets;
} mls_encrypted_group_secrets;

/* RFC 9420 §12.4.3.1:
 *   struct { CipherSuite cipher_suite; EncryptedGroupSecrets secrets<V>;
 *            opaque encrypted_group_info<V>; } Welcome; */
typedef struct mls_welcome {
  uint16_t cipher_suite;
  mls_encrypted_group_secrets *secrets;
  size_t num_secrets;
  mls_bytes encrypted_group_info;
} mls_welcome;

/* ----------------------------------------------------------- MLSMessage */

/* RFC 9420 §6:
 *   struct { ProtocolVersion version = mls10; WireFormat wire_format;
 *            select (wire_format) { public_message | private_message |
 *            welcome | group_info | key_package }; } MLSMessage;
 * Only the member selected by |wire_format| is meaningful. */
typedef struct mls_message {
  uint16_t version;     /* always MLS_VERSION_MLS10 once decoded */
  uint16_t wire_format; /* MLS_WIRE_* */
  mls_public_message public_message;
  mls_private_message private_message;
  mls_welcome welcome;
  mls_group_info group_info;
  mls_key_package key_package;
} mls_message;

/* ========================================================== functions */

/* mls_proposal_type_known returns 1 for the seven proposal types defined by
 * RFC 9420 (§12.1), 0 otherwise (including GREASE and reserved(0)). */
int mls_proposal_type_known(uint16_t proposal_type);

/* mls_proposal_type_requires_path returns 1 if a Commit covering a proposal
 * of |proposal_type| must carry an UpdatePath (RFC 9420 §12.4: update,
 * remove, external_init, group_context_extensions; unknown types are
 * treated as requiring one, the conservative reading of §17.4). */
int mls_proposal_type_requires_path(uint16_t proposal_type);

/* Proposal bodies (RFC 9420 §12.1.1 - §12.1.7).  Decoders: errors of the
 * embedded types only. */
MG_MUST_USE int mls_add_decode(mg_reader *r, mls_add *out);
MG_MUST_USE int mls_add_encode(mg_writer *w, const mls_add *in);
void mls_add_cleanup(mls_add *x);

MG_MUST_USE int mls_update_decode(mg_reader *r, mls_update *out);
MG_MUST_USE int mls_update_encode(mg_writer *w, const mls_update *in);
void mls_update_cleanup(mls_update *x);

MG_MUST_USE int mls_remove_decode(mg_reader *r, mls_remove *out);
MG_MUST_USE int mls_remove_encode(mg_writer *w, const mls_remove *in);
void mls_remove_cleanup(mls_remove *x);

MG_MUST_USE int mls_pre_shared_key_decode(mg_reader *r, mls_pre_shared_key *out);
MG_MUST_USE int mls_pre_shared_key_encode(mg_writer *w,
                                          const mls_pre_shared_key *in);
void mls_pre_shared_key_cleanup(mls_pre_shared_key *x);

MG_MUST_USE int mls_reinit_decode(mg_reader *r, mls_reinit *out);
MG_MUST_USE int mls_reinit_encode(mg_writer *w, const mls_reinit *in);
void mls_reinit_cleanup(mls_reinit *x);

MG_MUST_USE int mls_external_init_decode(mg_reader *r, mls_external_init *out);
MG_MUST_USE int mls_external_init_encode(mg_writer *w,
                                         const mls_external_init *in);
void mls_external_init_cleanup(mls_external_init *x);

MG_MUST_USE int mls_group_context_extensions_decode(
    mg_reader *r, mls_group_context_extensions *out);
MG_MUST_USE int mls_group_context_extensions_encode(
    mg_writer *w, const mls_group_context_extensions *in);
void mls_group_context_extensions_cleanup(mls_group_context_extensions *x);

/* mls_proposal_decode decodes a Proposal (§12.1).  Errors: MG_ERR_PROPOSAL
 * for a proposal type this implementation does not know (see above), plus
 * the errors of the body's decoder. */
MG_MUST_USE int mls_proposal_decode(mg_reader *r, mls_proposal *out);
/* mls_proposal_encode: MG_ERR_INVALID_ARG for an unknown type. */
MG_MUST_USE int mls_proposal_encode(mg_writer *w, const mls_proposal *in);
void mls_proposal_cleanup(mls_proposal *x);

/* mls_proposal_or_ref_decode decodes a ProposalOrRef (§12.4).  Errors:
 * MG_ERR_PROPOSAL for a type other than proposal(1)/reference(2) or an empty
 * reference (a ProposalRef is a hash, §5.2), and those of
 * mls_proposal_decode. */
MG_MUST_USE int mls_proposal_or_ref_decode(mg_reader *r,
                                           mls_proposal_or_ref *out);
MG_MUST_USE int mls_proposal_or_ref_encode(mg_writer *w,
                                           const mls_proposal_or_ref *in);
void mls_proposal_or_ref_cleanup(mls_proposal_or_ref *x);

/* mls_commit_decode decodes a Commit (§12.4).  Whether the path is
 * required depends on proposals that may be sent by reference, so it is
 * checked by the group code (see mls_proposal_type_requires_path), not
 * here. */
MG_MUST_USE int mls_commit_decode(mg_reader *r, mls_commit *out);

/* mls_commit_check_path enforces the path rule of RFC 9420 §12.4: the path
 * MUST be present if the Commit covers no proposals or any proposal of a
 * path-required type.  |types| lists the proposal type of each entry of
 * |c->proposals| in order (the caller resolves references); it may be NULL
 * when every entry is by value.  Errors: MG_ERR_PATH (path missing),
 * MG_ERR_INVALID_ARG (|types| NULL with a reference in the list). */
MG_MUST_USE int mls_commit_check_path(const mls_commit *c,
                                      const uint16_t *types);
MG_MUST_USE int mls_commit_encode(mg_writer *w, const mls_commit *in);
void mls_commit_cleanup(mls_commit *x);

/* mls_sender_decode decodes a Sender (§6).  Errors: MG_ERR_SENDER for a
 * sender type outside member(1)..new_member_commit(4). */
MG_MUST_USE int mls_sender_decode(mg_reader *r, mls_sender *out);
MG_MUST_USE int mls_sender_encode(mg_writer *w, const mls_sender *in);

/* mls_framed_content_check_sender checks the content-type rules of §6.1
 * for |fc|'s sender: an external sender MUST send a proposal (of a type
 * allowed for external senders, §12.1.8: add, remove, psk, reinit,
 * group_context_extensions), a new_member_proposal sender MUST send an Add
 * proposal, a new_member_commit sender MUST send a commit.  Returns 0 or
 * MG_ERR_SENDER. */
MG_MUST_USE int mls_framed_content_check_sender(const mls_framed_content *fc);

/* mls_framed_content_decode decodes a FramedContent (§6).  Errors:
 * MG_ERR_SENDER (bad sender type, or the rules of
 * mls_framed_content_check_sender), MG_ERR_CONTENT_TYPE (content type not
 * application/proposal/commit), those of the content's decoder. */
MG_MUST_USE int mls_framed_content_decode(mg_reader *r, mls_framed_content *out);
MG_MUST_USE int mls_framed_content_encode(mg_writer *w,
                                          const mls_framed_content *in);
void mls_framed_content_cleanup(mls_framed_content *x);

/* mls_framed_content_auth_data_decode decodes FramedContentAuthData (§6.1)
 * for content of type |content_type|.  Errors: MG_ERR_CONTENT_TYPE (bad
 * |content_type|), MG_ERR_CONFIRMATION_TAG (a commit's confirmation tag is
 * empty: a MAC is never empty under any cipher suite). */
MG_MUST_USE int mls_framed_content_auth_data_decode(
    mg_reader *r, uint8_t content_type, mls_framed_content_auth_data *out);
/* mls_framed_content_auth_data_encode: MG_ERR_INVALID_ARG if a confirmation
 * tag is present on a non-commit or missing on a commit. */
MG_MUST_USE int mls_framed_content_auth_data_encode(
    mg_writer *w, uint8_t content_type,
    const mls_framed_content_auth_data *in);
void mls_framed_content_auth_data_cleanup(mls_framed_content_auth_data *x);

/* mls_authenticated_content_decode decodes an AuthenticatedContent (§6), the
 * input of ProposalRef (§5.2) and of the transcript hash (§8.2).  Errors:
 * MG_ERR_WIRE_FORMAT unless the wire format is mls_public_message or
 * mls_private_message, plus those of the framed content and auth data. */
MG_MUST_USE int mls_authenticated_content_decode(
    mg_reader *r, mls_authenticated_content *out);
MG_MUST_USE int mls_authenticated_content_encode(
    mg_writer *w, const mls_authenticated_content *in);
void mls_authenticated_content_cleanup(mls_authenticated_content *x);

/* mls_framed_content_tbs_encode writes FramedContentTBS (§6.1): version
 * mls10, |wire_format|, |content|, and |ctx| (GroupContext) when the sender
 * is a member or new_member_commit.  |ctx| may be NULL for the other
 * senders and is ignored for them.  Errors: MG_ERR_INVALID_ARG if |ctx| is
 * needed and NULL, writer errors. */
MG_MUST_USE int mls_framed_content_tbs_encode(mg_writer *w, uint16_t wire_format,
                                              const mls_framed_content *content,
                                              const mls_group_context *ctx);

/* mls_authenticated_content_tbm_encode writes AuthenticatedContentTBM
 * (§6.2): the FramedContentTBS of |ac| (with |ctx|, required for member
 * senders) followed by its auth data; the input of the membership tag MAC. */
MG_MUST_USE int mls_authenticated_content_tbm_encode(
    mg_writer *w, const mls_authenticated_content *ac,
    const mls_group_context *ctx);

/* mls_public_message_decode decodes a PublicMessage (§6.2).  The membership
 * tag is read iff the sender is a member; a member's empty tag is
 * MG_ERR_MEMBERSHIP_TAG (a MAC is never empty).  Errors: those of
 * mls_framed_content_decode and mls_framed_content_auth_data_decode. */
MG_MUST_USE int mls_public_message_decode(mg_reader *r, mls_public_message *out);
/* mls_public_message_encode: MG_ERR_INVALID_ARG if the membership tag's
 * presence does not match the sender type. */
MG_MUST_USE int mls_public_message_encode(mg_writer *w,
                                          const mls_public_message *in);
void mls_public_message_cleanup(mls_public_message *x);

/* mls_private_message_decode decodes a PrivateMessage (§6.3).  Errors:
 * MG_ERR_CONTENT_TYPE for a content type outside 1..3. */
MG_MUST_USE int mls_private_message_decode(mg_reader *r,
                                           mls_private_message *out);
MG_MUST_USE int mls_private_message_encode(mg_writer *w,
                                           const mls_private_message *in);
void mls_private_message_cleanup(mls_private_message *x);

/* mls_private_content_aad_encode writes PrivateContentAAD (§6.3.1), the AAD
 * of the content encryption, from the fields of |pm|. */
MG_MUST_USE int mls_private_content_aad_encode(mg_writer *w,
                                               const mls_private_message *pm);

/* mls_sender_data_aad_encode writes SenderDataAAD (§6.3.2): group_id, epoch
 * and content_type of |pm|. */
MG_MUST_USE int mls_sender_data_aad_encode(mg_writer *w,
                                           const mls_private_message *pm);

/* mls_private_message_content_decode decodes a decrypted
 * PrivateMessageContent (§6.3.1) of type |content_type|: the whole of |r|
 * is consumed, everything after the auth data being padding.  Errors:
 * MG_ERR_CONTENT_TYPE, MG_ERR_PADDING (a non-zero padding byte: the
 * message MUST be rejected), those of the content and auth decoders. */
MG_MUST_USE int mls_private_message_content_decode(
    mg_reader *r, uint8_t content_type, mls_private_message_content *out);
/* mls_private_message_content_encode writes the content, the auth data and
 * |in->padding_len| zero bytes. */
MG_MUST_USE int mls_private_message_content_encode(
    mg_writer *w, const mls_private_message_content *in);
void mls_private_message_content_cleanup(mls_private_message_content *x);

/* mls_sender_data_decode / _encode: SenderData (§6.3.2).  The non-blank
 * leaf check of §6.3.2 needs the tree and is the framing code's. */
MG_MUST_USE int mls_sender_data_decode(mg_reader *r, mls_sender_data *out);
MG_MUST_USE int mls_sender_data_encode(mg_writer *w, const mls_sender_data *in);

/* mls_group_info_decode decodes a GroupInfo (§12.4.3).  Errors:
 * MG_ERR_CONFIRMATION_TAG for an empty confirmation tag, those of the group
 * context and extensions. */
MG_MUST_USE int mls_group_info_decode(mg_reader *r, mls_group_info *out);
MG_MUST_USE int mls_group_info_encode(mg_writer *w, const mls_group_info *in);
/* mls_group_info_tbs_encode writes GroupInfoTBS (§12.4.3): every field of
 * |in| above the signature. */
MG_MUST_USE int mls_group_info_tbs_encode(mg_writer *w,
                                          const mls_group_info *in);
void mls_group_info_cleanup(mls_group_info *x);

/* mls_group_secrets_decode decodes GroupSecrets (§12.4.3.1), as decrypted
 * from a Welcome.  Its secrets are wiped by mls_group_secrets_cleanup and on
 * failure. */
MG_MUST_USE int mls_group_secrets_decode(mg_reader *r, mls_group_secrets *out);
MG_MUST_USE int mls_group_secrets_encode(mg_writer *w,
                                         const mls_group_secrets *in);
void mls_group_secrets_cleanup(mls_group_secrets *x);

MG_MUST_USE int mls_encrypted_group_secrets_decode(
    mg_reader *r, mls_encrypted_group_secrets *out);
MG_MUST_USE int mls_encrypted_group_secrets_encode(
    mg_writer *w, const mls_encrypted_group_secrets *in);
void mls_encrypted_group_secrets_cleanup(mls_encrypted_group_secrets *x);

/* mls_welcome_decode decodes a Welcome (§12.4.3.1).  The cipher suite is
 * kept as sent; whether it is supported is decided when processing it. */
MG_MUST_USE int mls_welcome_decode(mg_reader *r, mls_welcome *out);
MG_MUST_USE int mls_welcome_encode(mg_writer *w, const mls_welcome *in);
void mls_welcome_cleanup(mls_welcome *x);

/* mls_message_decode decodes an MLSMessage (§6).  Errors: MG_ERR_VERSION
 * when the version is not mls10, MG_ERR_WIRE_FORMAT for an unknown wire
 * format, plus those of the body's decoder. */
MG_MUST_USE int mls_message_decode(mg_reader *r, mls_message *out);
/* mls_message_decode_bytes decodes a complete MLSMessage from |len| bytes
 * of |data|: also MG_ERR_TRAILING if bytes follow it. */
MG_MUST_USE int mls_message_decode_bytes(const uint8_t *data, size_t len,
                                         mls_message *out);
/* mls_message_encode: MG_ERR_INVALID_ARG for a version other than mls10 or
 * an unknown wire format. */
MG_MUST_USE int mls_message_encode(mg_writer *w, const mls_message *in);
void mls_message_cleanup(mls_message *x);

/* Serialization into a new heap buffer |*out| of |*out_len| bytes, to be
 * released with free() -- except for GroupSecrets and
 * PrivateMessageContent, which hold secrets and are released with
 * mg_free_secret(*out, *out_len).  Errors: those of the encoder,
 * MG_ERR_NOMEM.  On failure nothing is returned. */
MG_MUST_USE int mls_message_serialize(const mls_message *in, uint8_t **out,
                                      size_t *out_len);
MG_MUST_USE int mls_authenticated_content_serialize(
    const mls_authenticated_content *in, uint8_t **out, size_t *out_len);
MG_MUST_USE int mls_private_message_content_serialize(
    const mls_private_message_content *in, uint8_t **out, size_t *out_len);
MG_MUST_USE int mls_welcome_serialize(const mls_welcome *in, uint8_t **out,
                                      size_t *out_len);
MG_MUST_USE int mls_group_info_serialize(const mls_group_info *in,
                                         uint8_t **out, size_t *out_len);
MG_MUST_USE int mls_group_secrets_serialize(const mls_group_secrets *in,
                                            uint8_t **out, size_t *out_len);

#endif
