/*
 * Sender, FramedContent, FramedContentAuthData, AuthenticatedContent,
 * FramedContentTBS, AuthenticatedContentTBM (RFC 9420 §6, §6.1, §6.2) and
 * the decrypted PrivateMessageContent (§6.3.1), which shares the content
 * body with FramedContent.  See msg_framing.h.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/guard.h"
#include "common/secmem.h"
#include "mls/msg_framing.h"

/* --------------------------------------------------------------- Sender */

/* RFC 9420 §6
 *   struct {
 *       SenderType sender_type;
 *       select (Sender.sender_type) {
 *           case member:              uint32 leaf_index;
 *           case external:            uint32 sender_index;
 *           case new_member_commit:
 *           case new_member_proposal: struct{};
 *       };
 *   } Sender; */
int mls_sender_decode(mg_reader *r, mls_sender *out) {
  mg_reader tmp;
  mls_sender v;

  MG_ENSURE(r != NULL && out != NULL, MG_ERR_INVALID_ARG);
  memset(&v, 0, sizeof(v));
  tmp = *r;
  MG_GUARD(mg_read_u8(&tmp, &v.sender_type));
  switch (v.sender_type) {
  case MLS_SENDER_MEMBER:
    MG_GUARD(mg_read_u32(&tmp, &v.leaf_index));
    break;
  case MLS_SENDER_EXTERNAL:
    MG_GUARD(mg_read_u32(&tmp, &v.sender_index));
    break;
  case MLS_SENDER_NEW_MEMBER_PROPOSAL:
  case MLS_SENDER_NEW_MEMBER_COMMIT:
    break;
  default:
    return MG_ERR_SENDER;
  }
  *r = tmp;
  *out = v;
  return 0;
}

int mls_sender_encode(mg_writer *w, const mls_sender *in) {
  MG_ENSURE_REF(in);
  switch (in->sender_type) {
  case MLS_SENDER_MEMBER:
    MG_GUARD(mg_write_u8(w, in->sender_type));
    return mg_write_u32(w, in->leaf_index);
  case MLS_SENDER_EXTERNAL:
    MG_GUARD(mg_write_u8(w, in->sender_type));
    return mg_write_u32(w, in->sender_index);
  case MLS_SENDER_NEW_MEMBER_PROPOSAL:
  case MLS_SENDER_NEW_MEMBER_COMMIT:
    return mg_write_u8(w, in->sender_type);
  default:
    return MG_ERR_INVALID_ARG;
  }
}

/* ----------------------------------------------------- the content body */

static int content_type_valid(uint8_t t) {
  return t == MLS_CONTENT_APPLICATION || t == MLS_CONTENT_PROPOSAL ||
         t == MLS_CONTENT_COMMIT;
}

/* Decodes the `select (content_type)` arm shared by FramedContent and
 * PrivateMessageContent:
 *   case application: opaque application_data<V>;
 *   case proposal:    Proposal proposal;
 *   case commit:      Commit commit;
 * Each decoder leaves |r| and its output untouched on failure. */
static int content_body_decode(mg_reader *r, uint8_t content_type,
                               mls_bytes *app, mls_proposal *prop,
                               mls_commit *commit) {
  switch (content_type) {
  case MLS_CONTENT_APPLICATION:
    return mls_bytes_read(r, app);
  case MLS_CONTENT_PROPOSAL:
    return mls_proposal_decode(r, prop);
  case MLS_CONTENT_COMMIT:
    return mls_commit_decode(r, commit);
  default:
    return MG_ERR_CONTENT_TYPE;
  }
}

static int content_body_encode(mg_writer *w, uint8_t content_type,
                               const mls_bytes *app, const mls_proposal *prop,
                               const mls_commit *commit) {
  switch (content_type) {
  case MLS_CONTENT_APPLICATION:
    return mls_bytes_write(w, app);
  case MLS_CONTENT_PROPOSAL:
    return mls_proposal_encode(w, prop);
  case MLS_CONTENT_COMMIT:
    return mls_commit_encode(w, commit);
  default:
    return MG_ERR_INVALID_ARG;
  }
}

/* ------------------------------------------------------- FramedContent */

int mls_framed_content_check_sender(const mls_framed_content *fc) {
  MG_ENSURE_REF(fc);
  switch (fc->sender.sender_type) {
  case MLS_SENDER_MEMBER:
    return 0;
  case MLS_SENDER_EXTERNAL:
    /* RFC 9420 §6.1: content_type MUST be proposal; §12.1.8: only add,
     * remove, psk, reinit and group_context_extensions, anything else
     * "MUST be rejected as malformed". */
    MG_ENSURE(fc->content_type == MLS_CONTENT_PROPOSAL, MG_ERR_SENDER);
    switch (fc->proposal.proposal_type) {
    case MLS_PROPOSAL_ADD:
    case MLS_PROPOSAL_REMOVE:
    case MLS_PROPOSAL_PSK:
    case MLS_PROPOSAL_REINIT:
    case MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS:
      return 0;
    default:
      return MG_ERR_SENDER;
    }
  case MLS_SENDER_NEW_MEMBER_PROPOSAL:
    /* RFC 9420 §6.1: a proposal, and an Add. */
    MG_ENSURE(fc->content_type == MLS_CONTENT_PROPOSAL &&
                  fc->proposal.proposal_type == MLS_PROPOSAL_ADD,
              MG_ERR_SENDER);
    return 0;
  case MLS_SENDER_NEW_MEMBER_COMMIT:
    /* RFC 9420 §6.1: content_type MUST be commit. */
    MG_ENSURE(fc->content_type == MLS_CONTENT_COMMIT, MG_ERR_SENDER);
    return 0;
  default:
    return MG_ERR_SENDER;
  }
}

/* RFC 9420 §6
 *   struct {
 *       opaque group_id<V>;
 *       uint64 epoch;
 *       Sender sender;
 *       opaque authenticated_data<V>;
 *
 *       ContentType content_type;
 *       select (FramedContent.content_type) {
 *           case application: opaque application_data<V>;
 *           case proposal:    Proposal proposal;
 *           case commit:      Commit commit;
 *       };
 *   } FramedContent; */
int mls_framed_content_decode(mg_reader *r, mls_framed_content *out) {
  mg_reader tmp;
  mls_framed_content v;
  int rc;

  MG_ENSURE(r != NULL && out != NULL, MG_ERR_INVALID_ARG);
  memset(&v, 0, sizeof(v));
  tmp = *r;
  MG_CHECK(mls_bytes_read(&tmp, &v.group_id));
  MG_CHECK(mg_read_u64(&tmp, &v.epoch));
  MG_CHECK(mls_sender_decode(&tmp, &v.sender));
  MG_CHECK(mls_bytes_read(&tmp, &v.authenticated_data));
  MG_CHECK(mg_read_u8(&tmp, &v.content_type));
  if (!content_type_valid(v.content_type)) {
    MG_FAIL(MG_ERR_CONTENT_TYPE);
  }
  MG_CHECK(content_body_decode(&tmp, v.content_type, &v.application_data,
                               &v.proposal, &v.commit));
  MG_CHECK(mls_framed_content_check_sender(&v));
  *r = tmp;
  *out = v;
  return 0;
out:
  mls_framed_content_cleanup(&v);
  return rc;
}

int mls_framed_content_encode(mg_writer *w, const mls_framed_content *in) {
  MG_ENSURE_REF(in);
  MG_ENSURE(content_type_valid(in->content_type), MG_ERR_INVALID_ARG);
  MG_GUARD(mls_bytes_write(w, &in->group_id));
  MG_GUARD(mg_write_u64(w, in->epoch));
  MG_GUARD(mls_sender_encode(w, &in->sender));
  MG_GUARD(mls_bytes_write(w, &in->authenticated_data));
  MG_GUARD(mg_write_u8(w, in->content_type));
  return content_body_encode(w, in->content_type, &in->application_data,
                             &in->proposal, &in->commit);
}

void mls_framed_content_cleanup(mls_framed_content *x) {
  if (x == NULL) {
    return;
  }
  mls_bytes_cleanup(&x->group_id);
  mls_bytes_cleanup(&x->authenticated_data);
  mls_bytes_cleanup_secret(&x->application_data);
  mls_proposal_cleanup(&x->proposal);
  mls_commit_cleanup(&x->commit);
  memset(x, 0, sizeof(*x));
}

/* ----------------------------------------------- FramedContentAuthData */

/* RFC 9420 §6.1
 *   struct {
 *       opaque signature<V>;
 *       select (FramedContent.content_type) {
 *           case commit:      MAC confirmation_tag;
 *           case application:
 *           case proposal:    struct{};
 *       };
 *   } FramedContentAuthData; */
int mls_framed_content_auth_data_decode(mg_reader *r, uint8_t content_type,
                                        mls_framed_content_auth_data *out) {
  mg_reader tmp;
  mls_framed_content_auth_data v;
  int rc;

  MG_ENSURE(r != NULL && out != NULL, MG_ERR_INVALID_ARG);
  MG_ENSURE(content_type_valid(content_type), MG_ERR_CONTENT_TYPE);
  memset(&v, 0, sizeof(v));
  tmp = *r;
  MG_CHECK(mls_bytes_read(&tmp, &v.signature));
  if (content_type == MLS_CONTENT_COMMIT) {
    MG_CHECK(mls_bytes_read(&tmp, &v.confirmation_tag));
    if (v.confirmation_tag.len == 0) {
      MG_FAIL(MG_ERR_CONFIRMATION_TAG);
    }
  }
  *r = tmp;
  *out = v;
  return 0;
out:
  mls_framed_content_auth_data_cleanup(&v);
  return rc;
}

int mls_framed_content_auth_data_encode(mg_writer *w, uint8_t content_type,
                                        const mls_framed_content_auth_data *in) {
  MG_ENSURE_REF(in);
  MG_ENSURE(content_type_valid(content_type), MG_ERR_INVALID_ARG);
  /* The tag's presence follows the content type; a tag that would be lost
   * or a commit without one is the caller's bug. */
  MG_ENSURE((content_type == MLS_CONTENT_COMMIT) ==
                (in->confirmation_tag.len > 0),
            MG_ERR_INVALID_ARG);
  MG_GUARD(mls_bytes_write(w, &in->signature));
  if (content_type == MLS_CONTENT_COMMIT) {
    MG_GUARD(mls_bytes_write(w, &in->confirmation_tag));
  }
  return 0;
}

void mls_framed_content_auth_data_cleanup(mls_framed_content_auth_data *x) {
  if (x == NULL) {
    return;
  }
  mls_bytes_cleanup(&x->signature);
  mls_bytes_cleanup(&x->confirmation_tag);
}

/* ------------------------------------------------ AuthenticatedContent */

static int wire_format_framed(uint16_t wf) {
  return wf == MLS_WIRE_PUBLIC_MESSAGE || wf == MLS_WIRE_PRIVATE_MESSAGE;
}

/* RFC 9420 §6
 *   struct {
 *       WireFormat wire_format;
 *       FramedContent content;
 *       FramedContentAuthData auth;
 *   } AuthenticatedContent;
 * Only the two framed wire formats can carry content.  A PrivateMessage
 * always comes from a member (§6.3.2: SenderData holds a leaf index). */
int mls_authenticated_content_decode(mg_reader *r,
                                     mls_authenticated_content *out) {
  mg_reader tmp;
  mls_authenticated_content v;
  int rc;

  MG_ENSURE(r != NULL && out != NULL, MG_ERR_INVALID_ARG);
  memset(&v, 0, sizeof(v));
  tmp = *r;
  MG_CHECK(mg_read_u16(&tmp, &v.wire_format));
  if (!wire_format_framed(v.wire_format)) {
    MG_FAIL(MG_ERR_WIRE_FORMAT);
  }
  MG_CHECK(mls_framed_content_decode(&tmp, &v.content));
  if (v.wire_format == MLS_WIRE_PRIVATE_MESSAGE &&
      v.content.sender.sender_type != MLS_SENDER_MEMBER) {
    MG_FAIL(MG_ERR_SENDER);
  }
  MG_CHECK(mls_framed_content_auth_data_decode(&tmp, v.content.content_type,
                                               &v.auth));
  *r = tmp;
  *out = v;
  return 0;
out:
  mls_authenticated_content_cleanup(&v);
  return rc;
}

int mls_authenticated_content_encode(mg_writer *w,
                                     const mls_authenticated_content *in) {
  MG_ENSURE_REF(in);
  MG_ENSURE(wire_format_framed(in->wire_format), MG_ERR_INVALID_ARG);
  MG_GUARD(mg_write_u16(w, in->wire_format));
  MG_GUARD(mls_framed_content_encode(w, &in->content));
  return mls_framed_content_auth_data_encode(w, in->content.content_type,
                                             &in->auth);
}

void mls_authenticated_content_cleanup(mls_authenticated_content *x) {
  if (x == NULL) {
    return;
  }
  mls_framed_content_cleanup(&x->content);
  mls_framed_content_auth_data_cleanup(&x->auth);
  x->wire_format = 0;
}

int mls_authenticated_content_serialize(const mls_authenticated_content *in,
                                        uint8_t **out, size_t *out_len) {
  mg_writer w;
  int rc;
  MG_ENSURE(in != NULL && out != NULL && out_len != NULL, MG_ERR_INVALID_ARG);
  MG_GUARD(mg_writer_init(&w, 256, 0));
  rc = mls_authenticated_content_encode(&w, in);
  if (rc < 0) {
    mg_writer_cleanup(&w);
    return rc;
  }
  return mg_writer_finish(&w, out, out_len);
}

/* ---------------------------------------------------- FramedContentTBS */

/* RFC 9420 §6.1
 *   struct {
 *       ProtocolVersion version = mls10;
 *       WireFormat wire_format;
 *       FramedContent content;
 *       select (FramedContentTBS.content.sender.sender_type) {
 *           case member:
 *           case new_member_commit: GroupContext context;
 *           case external:
 *           case new_member_proposal: struct{};
 *       };
 *   } FramedContentTBS; */
int mls_framed_content_tbs_encode(mg_writer *w, uint16_t wire_format,
                                  const mls_framed_content *content,
                                  const mls_group_context *ctx) {
  int need_ctx;
  MG_ENSURE_REF(content);
  MG_ENSURE(wire_format_framed(wire_format), MG_ERR_INVALID_ARG);
  need_ctx = content->sender.sender_type == MLS_SENDER_MEMBER ||
             content->sender.sender_type == MLS_SENDER_NEW_MEMBER_COMMIT;
  MG_ENSURE(!need_ctx || ctx != NULL, MG_ERR_INVALID_ARG);
  MG_GUARD(mg_write_u16(w, MLS_VERSION_MLS10));
  MG_GUARD(mg_write_u16(w, wire_format));
  MG_GUARD(mls_framed_content_encode(w, content));
  if (need_ctx) {
    MG_GUARD(mls_group_context_encode(w, ctx));
  }
  return 0;
}

/* RFC 9420 §6.2
 *   struct {
 *     FramedContentTBS content_tbs;
 *     FramedContentAuthData auth;
 *   } AuthenticatedContentTBM; */
int mls_authenticated_content_tbm_encode(mg_writer *w,
                                         const mls_authenticated_content *ac,
                                         const mls_group_context *ctx) {
  MG_ENSURE_REF(ac);
  MG_GUARD(mls_framed_content_tbs_encode(w, ac->wire_format, &ac->content, ctx));
  return mls_framed_content_auth_data_encode(w, ac->content.content_type,
                                             &ac->auth);
}

/* ----------------------------------------------- PrivateMessageContent */

/* RFC 9420 §6.3.1
 *   struct {
 *       select (PrivateMessage.content_type) {
 *           case application: opaque application_data<V>;
 *           case proposal:    Proposal proposal;
 *           case commit:      Commit commit;
 *       };
 *       FramedContentAuthData auth;
 *       opaque padding[length_of_padding];
 *   } PrivateMessageContent;
 * "The padding field MUST be filled with all zero bytes.  A receiver MUST
 * verify that there are no non-zero bytes in the padding field, and if this
 * check fails, the enclosing PrivateMessage MUST be rejected as malformed."
 * The padding is scanned without an early exit: the plaintext is secret
 * and its layout should not show in the timing. */
int mls_private_message_content_decode(mg_reader *r, uint8_t content_type,
                                       mls_private_message_content *out) {
  mg_reader tmp;
  mls_private_message_content v;
  const uint8_t *pad = NULL;
  size_t pad_len;
  uint8_t acc = 0;
  int rc;

  MG_ENSURE(r != NULL && out != NULL, MG_ERR_INVALID_ARG);
  MG_ENSURE(content_type_valid(content_type), MG_ERR_CONTENT_TYPE);
  memset(&v, 0, sizeof(v));
  v.content_type = content_type;
  tmp = *r;
  MG_CHECK(content_body_decode(&tmp, content_type, &v.application_data,
                               &v.proposal, &v.commit));
  MG_CHECK(mls_framed_content_auth_data_decode(&tmp, content_type, &v.auth));
  pad_len = mg_reader_len(&tmp);
  MG_CHECK(mg_read_bytes(&tmp, &pad, pad_len));
  for (size_t i = 0; i < pad_len; i++) {
    acc |= pad[i];
  }
  if (acc != 0) {
    MG_FAIL(MG_ERR_PADDING);
  }
  v.padding_len = pad_len;
  *r = tmp;
  *out = v;
  return 0;
out:
  mls_private_message_content_cleanup(&v);
  return rc;
}

int mls_private_message_content_encode(mg_writer *w,
                                       const mls_private_message_content *in) {
  static const uint8_t zeros[64] = {0};
  size_t left;

  MG_ENSURE_REF(in);
  MG_ENSURE(content_type_valid(in->content_type), MG_ERR_INVALID_ARG);
  MG_GUARD(content_body_encode(w, in->content_type, &in->application_data,
                               &in->proposal, &in->commit));
  MG_GUARD(mls_framed_content_auth_data_encode(w, in->content_type, &in->auth));
  left = in->padding_len;
  while (left > 0) {
    size_t n = left < sizeof(zeros) ? left : sizeof(zeros);
    MG_GUARD(mg_write_bytes(w, zeros, n));
    left -= n;
  }
  return 0;
}

void mls_private_message_content_cleanup(mls_private_message_content *x) {
  if (x == NULL) {
    return;
  }
  mls_bytes_cleanup_secret(&x->application_data);
  mls_proposal_cleanup(&x->proposal);
  mls_commit_cleanup(&x->commit);
  mls_framed_content_auth_data_cleanup(&x->auth);
  memset(x, 0, sizeof(*x));
}

int mls_private_message_content_serialize(const mls_private_message_content *in,
                                          uint8_t **out, size_t *out_len) {
  mg_writer w;
  int rc;
  MG_ENSURE(in != NULL && out != NULL && out_len != NULL, MG_ERR_INVALID_ARG);
  MG_GUARD(mg_writer_init(&w, 256, 0));
  rc = mls_private_message_content_encode(&w, in);
  if (rc < 0) {
    /* mg_writer_cleanup wipes the buffer before freeing it. */
    mg_writer_cleanup(&w);
    return rc;
  }
  return mg_writer_finish(&w, out, out_len);
}
