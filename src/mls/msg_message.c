/*
 * PublicMessage (RFC 9420 §6.2), PrivateMessage with its AADs and
 * SenderData (§6.3), and MLSMessage with its five wire formats (§6).  See
 * msg_framing.h.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/guard.h"
#include "mls/msg_framing.h"

/* -------------------------------------------------------- PublicMessage */

/* RFC 9420 §6.2
 *   struct {
 *       FramedContent content;
 *       FramedContentAuthData auth;
 *       select (PublicMessage.content.sender.sender_type) {
 *           case member:              MAC membership_tag;
 *           case external:
 *           case new_member_commit:
 *           case new_member_proposal: struct{};
 *       };
 *   } PublicMessage;
 * A tag sent for a non-member is not part of the struct: it is left over,
 * and a complete decode (mls_message_decode_bytes) rejects it as trailing
 * bytes. */
int mls_public_message_decode(mg_reader *r, mls_public_message *out) {
  mg_reader tmp;
  mls_public_message v;
  int rc;

  MG_ENSURE(r != NULL && out != NULL, MG_ERR_INVALID_ARG);
  memset(&v, 0, sizeof(v));
  tmp = *r;
  MG_CHECK(mls_framed_content_decode(&tmp, &v.content));
  MG_CHECK(mls_framed_content_auth_data_decode(&tmp, v.content.content_type,
                                               &v.auth));
  if (v.content.sender.sender_type == MLS_SENDER_MEMBER) {
    MG_CHECK(mls_bytes_read(&tmp, &v.membership_tag));
    if (v.membership_tag.len == 0) {
      MG_FAIL(MG_ERR_MEMBERSHIP_TAG);
    }
  }
  *r = tmp;
  *out = v;
  return 0;
out:
  mls_public_message_cleanup(&v);
  return rc;
}

int mls_public_message_encode(mg_writer *w, const mls_public_message *in) {
  int member;
  MG_ENSURE_REF(in);
  member = in->content.sender.sender_type == MLS_SENDER_MEMBER;
  MG_ENSURE(member == (in->membership_tag.len > 0), MG_ERR_INVALID_ARG);
  MG_GUARD(mls_framed_content_encode(w, &in->content));
  MG_GUARD(mls_framed_content_auth_data_encode(w, in->content.content_type,
                                               &in->auth));
  if (member) {
    MG_GUARD(mls_bytes_write(w, &in->membership_tag));
  }
  return 0;
}

void mls_public_message_cleanup(mls_public_message *x) {
  if (x == NULL) {
    return;
  }
  mls_framed_content_cleanup(&x->content);
  mls_framed_content_auth_data_cleanup(&x->auth);
  mls_bytes_cleanup(&x->membership_tag);
}

/* ------------------------------------------------------- PrivateMessage */

static int content_type_valid(uint8_t t) {
  return t == MLS_CONTENT_APPLICATION || t == MLS_CONTENT_PROPOSAL ||
         t == MLS_CONTENT_COMMIT;
}

/* RFC 9420 §6.3
 *   struct {
 *       opaque group_id<V>;
 *       uint64 epoch;
 *       ContentType content_type;
 *       opaque authenticated_data<V>;
 *       opaque encrypted_sender_data<V>;
 *       opaque ciphertext<V>;
 *   } PrivateMessage; */
int mls_private_message_decode(mg_reader *r, mls_private_message *out) {
  mg_reader tmp;
  mls_private_message v;
  int rc;

  MG_ENSURE(r != NULL && out != NULL, MG_ERR_INVALID_ARG);
  memset(&v, 0, sizeof(v));
  tmp = *r;
  MG_CHECK(mls_bytes_read(&tmp, &v.group_id));
  MG_CHECK(mg_read_u64(&tmp, &v.epoch));
  MG_CHECK(mg_read_u8(&tmp, &v.content_type));
  if (!content_type_valid(v.content_type)) {
    MG_FAIL(MG_ERR_CONTENT_TYPE);
  }
  MG_CHECK(mls_bytes_read(&tmp, &v.authenticated_data));
  MG_CHECK(mls_bytes_read(&tmp, &v.encrypted_sender_data));
  MG_CHECK(mls_bytes_read(&tmp, &v.ciphertext));
  *r = tmp;
  *out = v;
  return 0;
out:
  mls_private_message_cleanup(&v);
  return rc;
}

/* The first fields, shared by PrivateMessage and both AADs (§6.3.1,
 * §6.3.2): group_id, epoch, content_type. */
static int private_message_head_encode(mg_writer *w,
                                       const mls_private_message *pm) {
  MG_ENSURE_REF(pm);
  MG_ENSURE(content_type_valid(pm->content_type), MG_ERR_INVALID_ARG);
  MG_GUARD(mls_bytes_write(w, &pm->group_id));
  MG_GUARD(mg_write_u64(w, pm->epoch));
  return mg_write_u8(w, pm->content_type);
}

int mls_private_message_encode(mg_writer *w, const mls_private_message *in) {
  MG_GUARD(private_message_head_encode(w, in));
  MG_GUARD(mls_bytes_write(w, &in->authenticated_data));
  MG_GUARD(mls_bytes_write(w, &in->encrypted_sender_data));
  return mls_bytes_write(w, &in->ciphertext);
}

void mls_private_message_cleanup(mls_private_message *x) {
  if (x == NULL) {
    return;
  }
  mls_bytes_cleanup(&x->group_id);
  mls_bytes_cleanup(&x->authenticated_data);
  mls_bytes_cleanup(&x->encrypted_sender_data);
  mls_bytes_cleanup(&x->ciphertext);
  memset(x, 0, sizeof(*x));
}

/* RFC 9420 §6.3.1
 *   struct {
 *       opaque group_id<V>;
 *       uint64 epoch;
 *       ContentType content_type;
 *       opaque authenticated_data<V>;
 *   } PrivateContentAAD; */
int mls_private_content_aad_encode(mg_writer *w, const mls_private_message *pm) {
  MG_GUARD(private_message_head_encode(w, pm));
  return mls_bytes_write(w, &pm->authenticated_data);
}

/* RFC 9420 §6.3.2
 *   struct {
 *       opaque group_id<V>;
 *       uint64 epoch;
 *       ContentType content_type;
 *   } SenderDataAAD; */
int mls_sender_data_aad_encode(mg_writer *w, const mls_private_message *pm) {
  return private_message_head_encode(w, pm);
}

/* ----------------------------------------------------------- SenderData */

/* RFC 9420 §6.3.2
 *   struct {
 *       uint32 leaf_index;
 *       uint32 generation;
 *       opaque reuse_guard[4];
 *   } SenderData; */
int mls_sender_data_decode(mg_reader *r, mls_sender_data *out) {
  mg_reader tmp;
  mls_sender_data v;

  MG_ENSURE(r != NULL && out != NULL, MG_ERR_INVALID_ARG);
  memset(&v, 0, sizeof(v));
  tmp = *r;
  MG_GUARD(mg_read_u32(&tmp, &v.leaf_index));
  MG_GUARD(mg_read_u32(&tmp, &v.generation));
  MG_GUARD(mg_read_copy(&tmp, v.reuse_guard, sizeof(v.reuse_guard)));
  *r = tmp;
  *out = v;
  return 0;
}

int mls_sender_data_encode(mg_writer *w, const mls_sender_data *in) {
  MG_ENSURE_REF(in);
  MG_GUARD(mg_write_u32(w, in->leaf_index));
  MG_GUARD(mg_write_u32(w, in->generation));
  return mg_write_bytes(w, in->reuse_guard, sizeof(in->reuse_guard));
}

/* ----------------------------------------------------------- MLSMessage */

/* RFC 9420 §6
 *   struct {
 *       ProtocolVersion version = mls10;
 *       WireFormat wire_format;
 *       select (MLSMessage.wire_format) {
 *           case mls_public_message:  PublicMessage public_message;
 *           case mls_private_message: PrivateMessage private_message;
 *           case mls_welcome:         Welcome welcome;
 *           case mls_group_info:      GroupInfo group_info;
 *           case mls_key_package:     KeyPackage key_package;
 *       };
 *   } MLSMessage;
 * The body of an unknown wire format has no length prefix, so it cannot be
 * skipped (MG_ERR_WIRE_FORMAT). */
int mls_message_decode(mg_reader *r, mls_message *out) {
  mg_reader tmp;
  mls_message v;
  int rc;

  MG_ENSURE(r != NULL && out != NULL, MG_ERR_INVALID_ARG);
  memset(&v, 0, sizeof(v));
  tmp = *r;
  MG_CHECK(mg_read_u16(&tmp, &v.version));
  if (v.version != MLS_VERSION_MLS10) {
    MG_FAIL(MG_ERR_VERSION);
  }
  MG_CHECK(mg_read_u16(&tmp, &v.wire_format));
  switch (v.wire_format) {
  case MLS_WIRE_PUBLIC_MESSAGE:
    MG_CHECK(mls_public_message_decode(&tmp, &v.public_message));
    break;
  case MLS_WIRE_PRIVATE_MESSAGE:
    MG_CHECK(mls_private_message_decode(&tmp, &v.private_message));
    break;
  case MLS_WIRE_WELCOME:
    MG_CHECK(mls_welcome_decode(&tmp, &v.welcome));
    break;
  case MLS_WIRE_GROUP_INFO:
    MG_CHECK(mls_group_info_decode(&tmp, &v.group_info));
    break;
  case MLS_WIRE_KEY_PACKAGE:
    MG_CHECK(mls_key_package_decode(&tmp, &v.key_package));
    break;
  default:
    MG_FAIL(MG_ERR_WIRE_FORMAT);
  }
  *r = tmp;
  *out = v;
  return 0;
out:
  mls_message_cleanup(&v);
  return rc;
}

int mls_message_decode_bytes(const uint8_t *data, size_t len, mls_message *out) {
  mg_reader r;
  mls_message v;
  int rc;

  MG_ENSURE(out != NULL && (data != NULL || len == 0), MG_ERR_INVALID_ARG);
  mg_reader_init(&r, data, len);
  MG_GUARD(mls_message_decode(&r, &v));
  rc = mg_reader_done(&r);
  if (rc < 0) {
    mls_message_cleanup(&v);
    return rc;
  }
  *out = v;
  return 0;
}

int mls_message_encode(mg_writer *w, const mls_message *in) {
  MG_ENSURE_REF(in);
  MG_ENSURE(in->version == MLS_VERSION_MLS10, MG_ERR_INVALID_ARG);
  switch (in->wire_format) {
  case MLS_WIRE_PUBLIC_MESSAGE:
  case MLS_WIRE_PRIVATE_MESSAGE:
  case MLS_WIRE_WELCOME:
  case MLS_WIRE_GROUP_INFO:
  case MLS_WIRE_KEY_PACKAGE:
    break;
  default:
    return MG_ERR_INVALID_ARG;
  }
  MG_GUARD(mg_write_u16(w, in->version));
  MG_GUARD(mg_write_u16(w, in->wire_format));
  switch (in->wire_format) {
  case MLS_WIRE_PUBLIC_MESSAGE:
    return mls_public_message_encode(w, &in->public_message);
  case MLS_WIRE_PRIVATE_MESSAGE:
    return mls_private_message_encode(w, &in->private_message);
  case MLS_WIRE_WELCOME:
    return mls_welcome_encode(w, &in->welcome);
  case MLS_WIRE_GROUP_INFO:
    return mls_group_info_encode(w, &in->group_info);
  case MLS_WIRE_KEY_PACKAGE:
    return mls_key_package_encode(w, &in->key_package);
  default:
    return MG_ERR_INVALID_ARG;
  }
}

void mls_message_cleanup(mls_message *x) {
  if (x == NULL) {
    return;
  }
  mls_public_message_cleanup(&x->public_message);
  mls_private_message_cleanup(&x->private_message);
  mls_welcome_cleanup(&x->welcome);
  mls_group_info_cleanup(&x->group_info);
  mls_key_package_cleanup(&x->key_package);
  x->version = 0;
  x->wire_format = 0;
}

int mls_message_serialize(const mls_message *in, uint8_t **out,
                          size_t *out_len) {
  mg_writer w;
  int rc;
  MG_ENSURE(in != NULL && out != NULL && out_len != NULL, MG_ERR_INVALID_ARG);
  MG_GUARD(mg_writer_init(&w, 512, 0));
  rc = mls_message_encode(&w, in);
  if (rc < 0) {
    mg_writer_cleanup(&w);
    return rc;
  }
  return mg_writer_finish(&w, out, out_len);
}
