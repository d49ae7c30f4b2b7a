/*
 * Message protection (RFC 9420 §6): signing and verifying FramedContent
 * (§6.1), PublicMessage with its membership tag (§6.2), and PrivateMessage
 * with content encryption, padding, reuse guard and sender data encryption
 * (§6.3).
 *
 * The functions work on one epoch's material: its suite, its GroupContext
 * and, for PrivateMessage, its secret tree (secret_tree.h) and
 * sender_data_secret; they keep no state of their own.  The signature and
 * confirmation tag of a Commit come from the caller in the order the RFC
 * needs them: sign the content (mls_authenticated_content_sign), update the
 * transcript and compute the confirmation tag with the new epoch's key
 * (transcript.h, key_schedule.h), store it in ac->auth.confirmation_tag, and
 * only then protect.
 *
 * Every function returns 0 or a negative mg_err.  Unprotecting checks, in
 * this order: group id (MG_ERR_GROUP_ID), epoch (MG_ERR_EPOCH), content type
 * and sender rules (MG_ERR_CONTENT_TYPE, MG_ERR_SENDER), then the MACs, AEADs
 * and the signature (MG_ERR_MEMBERSHIP_TAG, MG_ERR_AUTH, MG_ERR_SIGNATURE).
 * On failure the output owns nothing and no ratchet moves.
 */
#ifndef MG_HEADER_MLS_FRAMING_H
#define MG_HEADER_MLS_FRAMING_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/suite.h"
#include "mls/msg_context.h"
#include "mls/msg_framing.h"
#include "mls/secret_tree.h"
#include "mlsgate/err.h"

/* The signature label of FramedContentTBS (RFC 9420 §6.1). */
#define MLS_FRAMED_CONTENT_TBS_LABEL "FramedContentTBS"

/* mls_authenticated_content_sign sets ac->auth.signature to
 * SignWithLabel(sig_priv, "FramedContentTBS", FramedContentTBS) over
 * ac->wire_format, ac->content and |ctx| (RFC 9420 §6.1); any previous
 * signature is released.  Errors: MG_ERR_INVALID_ARG, MG_ERR_BAD_KEY, those
 * of mls_sign_with_label and the encoders. */
MG_MUST_USE int mls_authenticated_content_sign(const mls_suite *suite,
                                               mls_authenticated_content *ac,
                                               const mls_group_context *ctx,
                                               const uint8_t *sig_priv,
                                               size_t sig_priv_len);

/* mls_authenticated_content_sign_key is mls_authenticated_content_sign with
 * a prepared private key (suite->sig->key_from_priv): the form for the hot
 * path, where parsing the key per message would cost as much as signing. */
MG_MUST_USE int mls_authenticated_content_sign_key(
    const mls_suite *suite, mls_authenticated_content *ac,
    const mls_group_context *ctx, const mg_sig_key *sig_key);

/* mls_authenticated_content_verify checks ac->auth.signature with the
 * sender's public key |sig_pub|.  Returns 0, MG_ERR_SIGNATURE if it does not
 * verify, or MG_ERR_BAD_KEY / encoder errors. */
MG_MUST_USE int mls_authenticated_content_verify(
    const mls_suite *suite, const mls_authenticated_content *ac,
    const mls_group_context *ctx, const uint8_t *sig_pub, size_t sig_pub_len);

/* mls_authenticated_content_verify_key is the same with a prepared public
 * key (suite->sig->key_from_pub). */
MG_MUST_USE int mls_authenticated_content_verify_key(
    const mls_suite *suite, const mls_authenticated_content *ac,
    const mls_group_context *ctx, const mg_sig_key *sig_key);

/* mls_membership_tag_compute writes MAC(membership_key,
 * AuthenticatedContentTBM) (RFC 9420 §6.2): suite->hash->digest_len bytes
 * into |out| (|out_cap| at least that), length in |*out_len|.  Errors:
 * MG_ERR_INVALID_ARG, MG_ERR_BUFFER_TOO_SMALL, encoder errors,
 * MG_ERR_CRYPTO_LIB. */
MG_MUST_USE int mls_membership_tag_compute(const mls_suite *suite,
                                           uint8_t *out, size_t out_cap,
                                           size_t *out_len,
                                           const mls_authenticated_content *ac,
                                           const mls_group_context *ctx,
                                           const uint8_t *membership_key,
                                           size_t membership_key_len);

/* mls_public_message_protect builds the PublicMessage of the signed |ac|
 * (wire format mls_public_message) into |out|, with the membership tag when
 * the sender is a member.  Application data may not be sent as a
 * PublicMessage (RFC 9420 §6.2): MG_ERR_CONTENT_TYPE.  A commit needs its
 * confirmation tag, other content must have none: MG_ERR_INVALID_ARG.
 * Errors: MG_ERR_CONTENT_TYPE, MG_ERR_WIRE_FORMAT, MG_ERR_INVALID_ARG,
 * MG_ERR_NOMEM, encoder and MAC errors. */
MG_MUST_USE int mls_public_message_protect(const mls_suite *suite,
                                           mls_public_message *out,
                                           const mls_authenticated_content *ac,
                                           const mls_group_context *ctx,
                                           const uint8_t *membership_key,
                                           size_t membership_key_len);

/* mls_public_message_unprotect checks |pm| against the epoch (|ctx|),
 * verifies the membership tag of a member sender with |membership_key| and
 * the signature with |sig_pub| (the sender's key, found by the caller from
 * pm->content.sender), and on success writes the AuthenticatedContent to
 * |out|.  Errors: MG_ERR_GROUP_ID, MG_ERR_EPOCH, MG_ERR_CONTENT_TYPE
 * (application data), MG_ERR_MEMBERSHIP_TAG, MG_ERR_SIGNATURE,
 * MG_ERR_BAD_KEY, MG_ERR_NOMEM, MG_ERR_INVALID_ARG. */
MG_MUST_USE int mls_public_message_unprotect(
    const mls_suite *suite, mls_authenticated_content *out,
    const mls_public_message *pm, const mls_group_context *ctx,
    const uint8_t *membership_key, size_t membership_key_len,
    const uint8_t *sig_pub, size_t sig_pub_len);

/* mls_public_message_unprotect_key is the same with the sender's prepared
 * public key. */
MG_MUST_USE int mls_public_message_unprotect_key(
    const mls_suite *suite, mls_authenticated_content *out,
    const mls_public_message *pm, const mls_group_context *ctx,
    const uint8_t *membership_key, size_t membership_key_len,
    const mg_sig_key *sig_key);

/* mls_private_message_protect encrypts the signed |ac| (wire format
 * mls_private_message, member sender) into |out| (RFC 9420 §6.3): the next
 * generation of the sender's handshake ratchet (proposal, commit) or
 * application ratchet is taken from |st| and consumed, |padding_len| zero
 * bytes are appended to the PrivateMessageContent, the nonce is XORed with a
 * reuse guard (|reuse_guard|, or fresh random bytes when NULL), and the
 * SenderData is encrypted under the key derived from |sender_data_secret|
 * and the ciphertext sample.  Errors: MG_ERR_SENDER (not a member),
 * MG_ERR_WIRE_FORMAT, MG_ERR_INVALID_ARG, MG_ERR_GENERATION,
 * MG_ERR_LENGTH, MG_ERR_NOMEM, MG_ERR_CRYPTO_LIB. */
MG_MUST_USE int mls_private_message_protect(
    const mls_suite *suite, mls_private_message *out,
    const mls_authenticated_content *ac, mls_secret_tree *st,
    const uint8_t *sender_data_secret, size_t sender_data_secret_len,
    size_t padding_len, const uint8_t *reuse_guard);

/* mls_private_message_protect_gen is mls_private_message_protect that also
 * reports the generation used in |*generation| (may be NULL). */
MG_MUST_USE int mls_private_message_protect_gen(
    const mls_suite *suite, mls_private_message *out, uint32_t *generation,
    const mls_authenticated_content *ac, mls_secret_tree *st,
    const uint8_t *sender_data_secret, size_t sender_data_secret_len,
    size_t padding_len, const uint8_t *reuse_guard);

/* mls_sig_key_lookup_fn gives the prepared signature public key of the
 * member at |leaf_index| (borrowed until the call returns), or MG_ERR_SENDER
 * when the leaf is blank or outside the tree (RFC 9420 §6.3.2).  Keys are
 * prepared once per member, not per message: parsing a key costs about as
 * much as verifying with it. */
typedef int (*mls_sig_key_lookup_fn)(void *arg, uint32_t leaf_index,
                                     const mg_sig_key **sig_key);

/* mls_private_message_unprotect decrypts |pm| (RFC 9420 §6.3): checks group
 * id and epoch against |ctx|, decrypts the SenderData, finds the sender's
 * key through |lookup|, gets the key/nonce of the sender's generation from
 * |st|, decrypts and parses the content (padding must be zero), verifies the
 * signature, and only then consumes the generation.  On success |out| holds
 * the AuthenticatedContent (wire format mls_private_message, member
 * sender).  Errors: MG_ERR_GROUP_ID, MG_ERR_EPOCH, MG_ERR_AUTH (either
 * AEAD), MG_ERR_SENDER, MG_ERR_GENERATION, MG_ERR_PADDING,
 * MG_ERR_SIGNATURE, decode errors, MG_ERR_NOMEM, MG_ERR_INVALID_ARG. */
MG_MUST_USE int mls_private_message_unprotect(
    const mls_suite *suite, mls_authenticated_content *out,
    const mls_private_message *pm, const mls_group_context *ctx,
    mls_secret_tree *st, const uint8_t *sender_data_secret,
    size_t sender_data_secret_len, mls_sig_key_lookup_fn lookup,
    void *lookup_arg);

/* mls_private_message_unprotect_gen is mls_private_message_unprotect that
 * also reports the sender's generation in |*generation| (may be NULL). */
MG_MUST_USE int mls_private_message_unprotect_gen(
    const mls_suite *suite, mls_authenticated_content *out,
    uint32_t *generation, const mls_private_message *pm,
    const mls_group_context *ctx, mls_secret_tree *st,
    const uint8_t *sender_data_secret, size_t sender_data_secret_len,
    mls_sig_key_lookup_fn lookup, void *lookup_arg);

#endif
