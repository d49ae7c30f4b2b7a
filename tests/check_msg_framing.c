/*
 * Tests for the framing codecs (src/mls/msg_framing.h; RFC 9420 §6, §12).
 *
 * - every case of messages.json through the selftest kind (0 failed,
 *   0 skipped, 300 cases);
 * - every field of a spread of entries truncated at every byte (must fail,
 *   reader unchanged) and with a trailing byte (value decodes, the byte is
 *   left over, a complete MLSMessage decode says MG_ERR_TRAILING);
 * - the RFC MUSTs enforced by the decoders, on messages built byte by byte
 *   here: version, wire format, sender types and their content rules,
 *   membership tag only for members, confirmation tag on commits, content
 *   types, proposal types, all-zero padding, optional flags;
 * - the encoders' invariants and the TBS/TBM/AAD layouts.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/hex.h"
#include "common/secmem.h"
#include "crypto/crypto.h"
#include "mls/msg_framing.h"
#include "selftest/selftest.h"

static json_t *msgs_root;
static size_t msgs_n;

#define N_SPREAD 8
/* The entries whose fields the truncation tests take apart. */
static size_t spread_entry(int i) {
  return msgs_n == 0 ? 0 : ((size_t)i * 37u + (size_t)i / 2u) % msgs_n;
}

/* ------------------------------------------------------------- helpers */

/* A decoder that owns nothing afterwards: decode, clean up, return rc. */
typedef int (*dec_fn)(mg_reader *r);

#define DEC_ADAPTER(name, type, dec, clean)                                    \
  static int name(mg_reader *r) {                                              \
    type v;                                                                    \
    int rc;                                                                    \
    memset(&v, 0, sizeof(v));                                                  \
    rc = dec(r, &v);                                                           \
    if (rc == 0) {                                                             \
      clean(&v);                                                               \
    }                                                                          \
    return rc;                                                                 \
  }

DEC_ADAPTER(d_message, mls_message, mls_message_decode, mls_message_cleanup)
DEC_ADAPTER(d_tree, mls_ratchet_tree, mls_ratchet_tree_decode,
            mls_ratchet_tree_cleanup)
DEC_ADAPTER(d_group_secrets, mls_group_secrets, mls_group_secrets_decode,
            mls_group_secrets_cleanup)
DEC_ADAPTER(d_add, mls_add, mls_add_decode, mls_add_cleanup)
DEC_ADAPTER(d_update, mls_update, mls_update_decode, mls_update_cleanup)
DEC_ADAPTER(d_remove, mls_remove, mls_remove_decode, mls_remove_cleanup)
DEC_ADAPTER(d_psk, mls_pre_shared_key, mls_pre_shared_key_decode,
            mls_pre_shared_key_cleanup)
DEC_ADAPTER(d_reinit, mls_reinit, mls_reinit_decode, mls_reinit_cleanup)
DEC_ADAPTER(d_external_init, mls_external_init, mls_external_init_decode,
            mls_external_init_cleanup)
DEC_ADAPTER(d_gce, mls_group_context_extensions,
            mls_group_context_extensions_decode,
            mls_group_context_extensions_cleanup)
DEC_ADAPTER(d_commit, mls_commit, mls_commit_decode, mls_commit_cleanup)
DEC_ADAPTER(d_public, mls_public_message, mls_public_message_decode,
            mls_public_message_cleanup)
DEC_ADAPTER(d_welcome, mls_welcome, mls_welcome_decode, mls_welcome_cleanup)
DEC_ADAPTER(d_group_info, mls_group_info, mls_group_info_decode,
            mls_group_info_cleanup)
DEC_ADAPTER(d_authenticated, mls_authenticated_content,
            mls_authenticated_content_decode, mls_authenticated_content_cleanup)

static const struct {
  const char *field;
  dec_fn dec;
} fields[] = {
    {"mls_welcome", d_message},
    {"mls_group_info", d_message},
    {"mls_key_package", d_message},
    {"ratchet_tree", d_tree},
    {"group_secrets", d_group_secrets},
    {"add_proposal", d_add},
    {"update_proposal", d_update},
    {"remove_proposal", d_remove},
    {"pre_shared_key_proposal", d_psk},
    {"re_init_proposal", d_reinit},
    {"external_init_proposal", d_external_init},
    {"group_context_extensions_proposal", d_gce},
    {"commit", d_commit},
    {"public_message_application", d_message},
    {"public_message_proposal", d_message},
    {"public_message_commit", d_message},
    {"private_message", d_message},
};
#define N_FIELDS (sizeof(fields) / sizeof(fields[0]))

/* Field |name| of entry |i| as bytes (free()). */
static uint8_t *vec_field(size_t i, const char *name, size_t *len) {
  uint8_t *out = NULL;
  const json_t *c = json_array_get(msgs_root, i);
  ck_assert_msg(c != NULL, "entry %zu missing", i);
  ck_assert_msg(mg_st_hex(c, name, &out, len) == 0, "entry %zu: %s", i, name);
  return out;
}

/* Runs |dec| over exactly |len| bytes (a private copy, so that ASan sees any
 * read beyond them); returns rc and, through |left|, what it left unread.  A
 * failure must leave the reader where it was. */
static int run_dec(dec_fn dec, const uint8_t *data, size_t len, size_t *left) {
  uint8_t *copy = malloc(len > 0 ? len : 1);
  mg_reader r;
  int rc;
  ck_assert_ptr_nonnull(copy);
  if (len > 0) {
    memcpy(copy, data, len);
  }
  mg_reader_init(&r, copy, len);
  rc = dec(&r);
  if (rc < 0) {
    ck_assert_ptr_eq(r.data, copy);
    ck_assert_uint_eq(r.len, len);
  }
  if (left != NULL) {
    *left = r.len;
  }
  free(copy);
  return rc;
}

/* Decodes a complete MLSMessage from |b| and returns the rc. */
static int msg_rc(const uint8_t *b, size_t n) {
  mls_message m;
  int rc = mls_message_decode_bytes(b, n, &m);
  if (rc == 0) {
    mls_message_cleanup(&m);
  }
  return rc;
}

/* ---------------------------------------------------------- the vectors */

START_TEST(test_vector_kind_registered) {
  ck_assert_ptr_nonnull(msgs_root);
  ck_assert_ptr_eq(mg_st_kind_for_file("x/messages.json"), &mg_st_kind_messages);
  ck_assert_ptr_eq(mg_st_kind_by_name("messages"), &mg_st_kind_messages);
  ck_assert_uint_eq(mg_st_kind_messages.count(msgs_root), 300);
}
END_TEST

START_TEST(test_vector_case) {
  mg_st_report rep;
  memset(&rep, 0, sizeof(rep));
  rep.file = "messages.json";
  mg_st_kind_messages.run_case(msgs_root, (size_t)_i, &rep);
  ck_assert_msg(rep.failed == 0, "%s", rep.last_msg);
  ck_assert_msg(rep.skipped == 0, "skipped: %s", rep.last_msg);
  ck_assert_uint_eq(rep.passed, 1);
}
END_TEST

/* The kind must notice a changed field and name it. */
START_TEST(test_vector_kind_detects_changes) {
  json_t *c = json_deep_copy(json_array_get(msgs_root, 0));
  json_t *arr = json_array();
  mg_st_report rep;
  char *h;
  ck_assert_ptr_nonnull(c);
  /* A trailing byte on the commit. */
  {
    const char *orig = json_string_value(json_object_get(c, "commit"));
    size_t olen = strlen(orig);
    h = malloc(olen + 3);
    ck_assert_ptr_nonnull(h);
    memcpy(h, orig, olen);
    memcpy(h + olen, "00", 3);
    json_object_set_new(c, "commit", json_string(h));
    free(h);
  }
  json_array_append_new(arr, c);
  memset(&rep, 0, sizeof(rep));
  mg_st_kind_messages.run_case(arr, 0, &rep);
  ck_assert_uint_eq(rep.failed, 1);
  ck_assert_ptr_nonnull(strstr(rep.last_msg, "commit"));
  /* A public message field holding a private message. */
  json_object_set(c, "public_message_commit", json_object_get(c, "private_message"));
  json_object_set(c, "commit", json_object_get(json_array_get(msgs_root, 0), "commit"));
  memset(&rep, 0, sizeof(rep));
  mg_st_kind_messages.run_case(arr, 0, &rep);
  ck_assert_uint_eq(rep.failed, 1);
  ck_assert_ptr_nonnull(strstr(rep.last_msg, "public_message_commit"));
  json_decref(arr);
}
END_TEST

/* Every strict prefix of every field fails, leaving the reader unchanged;
 * the whole value decodes and uses every byte; one more byte is left over. */
START_TEST(test_truncate_and_trailing) {
  size_t e = spread_entry(_i);
  for (size_t k = 0; k < N_FIELDS; k++) {
    size_t n = 0, left = 0;
    uint8_t *b = vec_field(e, fields[k].field, &n);
    uint8_t *ext = malloc(n + 1);
    ck_assert_ptr_nonnull(ext);
    ck_assert_msg(run_dec(fields[k].dec, b, n, &left) == 0, "entry %zu %s", e,
                  fields[k].field);
    ck_assert_uint_eq(left, 0);
    for (size_t cut = 0; cut < n; cut++) {
      int rc = run_dec(fields[k].dec, b, cut, NULL);
      ck_assert_msg(rc < 0, "entry %zu %s: prefix of %zu/%zu bytes decoded", e,
                    fields[k].field, cut, n);
    }
    memcpy(ext, b, n);
    ext[n] = 0;
    ck_assert_int_eq(run_dec(fields[k].dec, ext, n + 1, &left), 0);
    ck_assert_uint_eq(left, 1);
    if (fields[k].dec == d_message) {
      ck_assert_int_eq(msg_rc(b, n), 0);
      ck_assert_int_eq(msg_rc(ext, n + 1), MG_ERR_TRAILING);
    }
    free(ext);
    free(b);
  }
}
END_TEST

/* The bodies inside the MLSMessage fields, decoded on their own as the fuzz
 * targets do: Welcome and GroupInfo without the 4-byte header. */
START_TEST(test_bare_bodies) {
  size_t e = spread_entry(_i);
  static const struct {
    const char *field;
    dec_fn dec;
  } bodies[] = {{"mls_welcome", d_welcome},
                {"mls_group_info", d_group_info},
                {"public_message_proposal", d_public},
                {"public_message_commit", d_public},
                {"public_message_application", d_public}};
  for (size_t k = 0; k < sizeof(bodies) / sizeof(bodies[0]); k++) {
    size_t n = 0, left = 0;
    uint8_t *b = vec_field(e, bodies[k].field, &n);
    ck_assert_uint_gt(n, 4);
    ck_assert_int_eq(run_dec(bodies[k].dec, b + 4, n - 4, &left), 0);
    ck_assert_uint_eq(left, 0);
    for (size_t cut = 0; cut < n - 4; cut += 7) {
      ck_assert_int_lt(run_dec(bodies[k].dec, b + 4, cut, NULL), 0);
    }
    free(b);
  }
}
END_TEST

/* Serialize gives the same bytes as the encoder (and the vector). */
START_TEST(test_serialize_matches_vector) {
  size_t e = spread_entry(_i);
  static const char *const names[] = {"mls_welcome", "mls_group_info",
                                      "public_message_commit", "private_message"};
  for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
    size_t n = 0, out_len = 0;
    uint8_t *b = vec_field(e, names[k], &n), *out = NULL;
    mls_message m;
    ck_assert_int_eq(mls_message_decode_bytes(b, n, &m), 0);
    ck_assert_int_eq(m.version, MLS_VERSION_MLS10);
    ck_assert_int_eq(mls_message_serialize(&m, &out, &out_len), 0);
    ck_assert_uint_eq(out_len, n);
    ck_assert_mem_eq(out, b, n);
    free(out);
    if (m.wire_format == MLS_WIRE_WELCOME) {
      ck_assert_int_eq(mls_welcome_serialize(&m.welcome, &out, &out_len), 0);
      ck_assert_uint_eq(out_len, n - 4);
      ck_assert_mem_eq(out, b + 4, n - 4);
      free(out);
    } else if (m.wire_format == MLS_WIRE_GROUP_INFO) {
      ck_assert_int_eq(mls_group_info_serialize(&m.group_info, &out, &out_len),
                       0);
      ck_assert_uint_eq(out_len, n - 4);
      ck_assert_mem_eq(out, b + 4, n - 4);
      free(out);
    }
    mls_message_cleanup(&m);
    free(b);
  }
  /* GroupSecrets: serialize into secret memory. */
  {
    size_t n = 0, out_len = 0;
    uint8_t *b = vec_field(e, "group_secrets", &n), *out = NULL;
    mls_group_secrets gs;
    mg_reader r;
    mg_reader_init(&r, b, n);
    ck_assert_int_eq(mls_group_secrets_decode(&r, &gs), 0);
    ck_assert_int_eq(mls_group_secrets_serialize(&gs, &out, &out_len), 0);
    ck_assert_uint_eq(out_len, n);
    ck_assert_mem_eq(out, b, n);
    mg_free_secret(out, out_len);
    mls_group_secrets_cleanup(&gs);
    ck_assert_ptr_null(gs.joiner_secret.data);
    free(b);
  }
}
END_TEST

/* ---------------------------------------------- messages built by hand */

/* Options of a PublicMessage MLSMessage built byte by byte. */
typedef struct {
  uint16_t version;
  uint16_t wire_format;
  uint8_t sender_type;
  uint32_t index;
  uint8_t content_type;
  const uint8_t *body; /* the content's select arm, raw */
  size_t body_len;
  int conf_tag;        /* -1: none, else the length of the tag */
  int mem_tag;         /* -1: none, else the length of the tag */
} pm_opts;

static const uint8_t body_remove[] = {0x00, 0x03, 0x00, 0x00, 0x00, 0x05};
static const uint8_t body_app[] = {0x03, 'a', 'b', 'c'};
static const uint8_t body_commit_empty[] = {0x00, 0x00}; /* no proposals, no path */

static pm_opts pm_default(void) {
  pm_opts o;
  memset(&o, 0, sizeof(o));
  o.version = MLS_VERSION_MLS10;
  o.wire_format = MLS_WIRE_PUBLIC_MESSAGE;
  o.sender_type = MLS_SENDER_MEMBER;
  o.index = 2;
  o.content_type = MLS_CONTENT_PROPOSAL;
  o.body = body_remove;
  o.body_len = sizeof(body_remove);
  o.conf_tag = -1;
  o.mem_tag = 32;
  return o;
}

/* Writes the FramedContent of |o| to |w|. */
static void put_framed_content(mg_writer *w, const pm_opts *o) {
  static const uint8_t gid[] = {'g', 'r', 'o', 'u', 'p'};
  ck_assert_int_eq(mg_write_opaque(w, gid, sizeof(gid)), 0);
  ck_assert_int_eq(mg_write_u64(w, 7), 0);
  ck_assert_int_eq(mg_write_u8(w, o->sender_type), 0);
  if (o->sender_type == MLS_SENDER_MEMBER || o->sender_type == MLS_SENDER_EXTERNAL) {
    ck_assert_int_eq(mg_write_u32(w, o->index), 0);
  }
  ck_assert_int_eq(mg_write_opaque(w, (const uint8_t *)"ad", 2), 0);
  ck_assert_int_eq(mg_write_u8(w, o->content_type), 0);
  ck_assert_int_eq(mg_write_bytes(w, o->body, o->body_len), 0);
}

static void put_tag(mg_writer *w, int len, uint8_t fill) {
  uint8_t tag[64];
  ck_assert_int_le(len, (int)sizeof(tag));
  memset(tag, fill, sizeof(tag));
  ck_assert_int_eq(mg_write_opaque(w, tag, (size_t)len), 0);
}

/* Builds the MLSMessage of |o| into |w| (initialised here). */
static void build_pm(mg_writer *w, const pm_opts *o) {
  ck_assert_int_eq(mg_writer_init(w, 128, 0), 0);
  ck_assert_int_eq(mg_write_u16(w, o->version), 0);
  ck_assert_int_eq(mg_write_u16(w, o->wire_format), 0);
  put_framed_content(w, o);
  put_tag(w, 16, 0x51); /* signature */
  if (o->conf_tag >= 0) {
    put_tag(w, o->conf_tag, 0xc7);
  }
  if (o->mem_tag >= 0) {
    put_tag(w, o->mem_tag, 0x3e);
  }
}

/* Decodes the message of |o| completely; returns the rc.  On success the
 * re-encoding must be identical. */
static int pm_rc(const pm_opts *o) {
  mg_writer w;
  mls_message m;
  uint8_t *out = NULL;
  size_t out_len = 0;
  int rc;
  build_pm(&w, o);
  rc = mls_message_decode_bytes(mg_writer_data(&w), mg_writer_len(&w), &m);
  if (rc == 0) {
    ck_assert_int_eq(mls_message_serialize(&m, &out, &out_len), 0);
    ck_assert_uint_eq(out_len, mg_writer_len(&w));
    ck_assert_mem_eq(out, mg_writer_data(&w), out_len);
    free(out);
    mls_message_cleanup(&m);
  } else {
    /* Same bytes through the reader API: reader unchanged. */
    ck_assert_int_eq(run_dec(d_message, mg_writer_data(&w), mg_writer_len(&w),
                             NULL) < 0 ||
                         rc == MG_ERR_TRAILING,
                     1);
  }
  mg_writer_cleanup(&w);
  return rc;
}

START_TEST(test_pm_valid_shapes) {
  pm_opts o = pm_default();
  ck_assert_int_eq(pm_rc(&o), 0); /* member, remove proposal, membership tag */
  o.content_type = MLS_CONTENT_APPLICATION;
  o.body = body_app;
  o.body_len = sizeof(body_app);
  ck_assert_int_eq(pm_rc(&o), 0); /* the codec allows it; framing refuses */
  o.content_type = MLS_CONTENT_COMMIT;
  o.body = body_commit_empty;
  o.body_len = sizeof(body_commit_empty);
  o.conf_tag = 32;
  ck_assert_int_eq(pm_rc(&o), 0);
  o.sender_type = MLS_SENDER_NEW_MEMBER_COMMIT;
  o.mem_tag = -1;
  ck_assert_int_eq(pm_rc(&o), 0);
  o = pm_default();
  o.sender_type = MLS_SENDER_EXTERNAL;
  o.mem_tag = -1;
  ck_assert_int_eq(pm_rc(&o), 0); /* external remove */
}
END_TEST

START_TEST(test_pm_version_and_wire_format) {
  static const uint16_t bad_versions[] = {0, 2, 0x0100, 0xffff};
  static const uint16_t bad_wf[] = {0, 6, 0x0a0a, 0xffff};
  pm_opts o = pm_default();
  for (size_t k = 0; k < sizeof(bad_versions) / sizeof(bad_versions[0]); k++) {
    o.version = bad_versions[k];
    ck_assert_int_eq(pm_rc(&o), MG_ERR_VERSION);
  }
  o = pm_default();
  for (size_t k = 0; k < sizeof(bad_wf) / sizeof(bad_wf[0]); k++) {
    o.wire_format = bad_wf[k];
    ck_assert_int_eq(pm_rc(&o), MG_ERR_WIRE_FORMAT);
  }
  /* A public message body read as another wire format fails. */
  o = pm_default();
  o.wire_format = MLS_WIRE_PRIVATE_MESSAGE;
  ck_assert_int_lt(pm_rc(&o), 0);
}
END_TEST

START_TEST(test_pm_membership_tag) {
  pm_opts o = pm_default();
  /* Member without a tag: the struct is cut short. */
  o.mem_tag = -1;
  ck_assert_int_eq(pm_rc(&o), MG_ERR_TRUNCATED);
  /* Member with an empty tag. */
  o.mem_tag = 0;
  ck_assert_int_eq(pm_rc(&o), MG_ERR_MEMBERSHIP_TAG);
  /* A tag from a non-member sender is not part of the message. */
  o = pm_default();
  o.sender_type = MLS_SENDER_EXTERNAL;
  ck_assert_int_eq(pm_rc(&o), MG_ERR_TRAILING);
  o.sender_type = MLS_SENDER_NEW_MEMBER_PROPOSAL;
  {
    /* new_member_proposal must carry an Add: use a vector's. */
    size_t n = 0;
    uint8_t *add = vec_field(0, "add_proposal", &n);
    uint8_t *body = malloc(n + 2);
    ck_assert_ptr_nonnull(body);
    body[0] = 0x00;
    body[1] = 0x01;
    memcpy(body + 2, add, n);
    o.body = body;
    o.body_len = n + 2;
    ck_assert_int_eq(pm_rc(&o), MG_ERR_TRAILING);
    o.mem_tag = -1;
    ck_assert_int_eq(pm_rc(&o), 0);
    free(body);
    free(add);
  }
  o = pm_default();
  o.content_type = MLS_CONTENT_COMMIT;
  o.body = body_commit_empty;
  o.body_len = sizeof(body_commit_empty);
  o.conf_tag = 32;
  o.sender_type = MLS_SENDER_NEW_MEMBER_COMMIT;
  ck_assert_int_eq(pm_rc(&o), MG_ERR_TRAILING);
}
END_TEST

START_TEST(test_pm_confirmation_tag) {
  pm_opts o = pm_default();
  o.content_type = MLS_CONTENT_COMMIT;
  o.body = body_commit_empty;
  o.body_len = sizeof(body_commit_empty);
  /* Commit without a confirmation tag: the membership tag is taken for it
   * and the membership tag is then missing. */
  o.conf_tag = -1;
  ck_assert_int_eq(pm_rc(&o), MG_ERR_TRUNCATED);
  o.sender_type = MLS_SENDER_NEW_MEMBER_COMMIT;
  o.mem_tag = -1;
  ck_assert_int_eq(pm_rc(&o), MG_ERR_TRUNCATED);
  /* An empty tag is no MAC. */
  o.conf_tag = 0;
  ck_assert_int_eq(pm_rc(&o), MG_ERR_CONFIRMATION_TAG);
  /* A confirmation tag on a proposal is not part of the message: it is
   * read as the membership tag, and the real one is left over. */
  o = pm_default();
  o.conf_tag = 32;
  ck_assert_int_eq(pm_rc(&o), MG_ERR_TRAILING);
}
END_TEST

START_TEST(test_pm_sender_rules) {
  static const uint8_t bad_types[] = {0, 5, 0xff};
  static const uint8_t body_psk_ext[] = {0x00, 0x04, 0x01, 0x01, 'k', 0x01, 0x00};
  static const uint8_t body_extinit[] = {0x00, 0x06, 0x02, 0xaa, 0xbb};
  pm_opts o = pm_default();
  for (size_t k = 0; k < sizeof(bad_types); k++) {
    o.sender_type = bad_types[k];
    ck_assert_int_eq(pm_rc(&o), MG_ERR_SENDER);
  }
  /* external: proposals only, and only add/remove/psk/reinit/gce. */
  o = pm_default();
  o.sender_type = MLS_SENDER_EXTERNAL;
  o.mem_tag = -1;
  o.body = body_psk_ext;
  o.body_len = sizeof(body_psk_ext);
  ck_assert_int_eq(pm_rc(&o), 0);
  o.body = body_extinit;
  o.body_len = sizeof(body_extinit);
  ck_assert_int_eq(pm_rc(&o), MG_ERR_SENDER);
  {
    size_t n = 0;
    uint8_t *upd = vec_field(0, "update_proposal", &n);
    uint8_t *body = malloc(n + 2);
    ck_assert_ptr_nonnull(body);
    body[0] = 0x00;
    body[1] = 0x02;
    memcpy(body + 2, upd, n);
    o.body = body;
    o.body_len = n + 2;
    ck_assert_int_eq(pm_rc(&o), MG_ERR_SENDER);
    o.sender_type = MLS_SENDER_MEMBER;
    o.mem_tag = 32;
    ck_assert_int_eq(pm_rc(&o), 0); /* a member may send an Update */
    free(body);
    free(upd);
  }
  o = pm_default();
  o.sender_type = MLS_SENDER_EXTERNAL;
  o.mem_tag = -1;
  o.content_type = MLS_CONTENT_APPLICATION;
  o.body = body_app;
  o.body_len = sizeof(body_app);
  ck_assert_int_eq(pm_rc(&o), MG_ERR_SENDER);
  o.content_type = MLS_CONTENT_COMMIT;
  o.body = body_commit_empty;
  o.body_len = sizeof(body_commit_empty);
  o.conf_tag = 32;
  ck_assert_int_eq(pm_rc(&o), MG_ERR_SENDER);
  /* new_member_proposal: an Add proposal only. */
  o = pm_default();
  o.sender_type = MLS_SENDER_NEW_MEMBER_PROPOSAL;
  o.mem_tag = -1;
  ck_assert_int_eq(pm_rc(&o), MG_ERR_SENDER); /* remove */
  o.content_type = MLS_CONTENT_COMMIT;
  o.body = body_commit_empty;
  o.body_len = sizeof(body_commit_empty);
  o.conf_tag = 32;
  ck_assert_int_eq(pm_rc(&o), MG_ERR_SENDER);
  /* new_member_commit: a commit only. */
  o = pm_default();
  o.sender_type = MLS_SENDER_NEW_MEMBER_COMMIT;
  o.mem_tag = -1;
  ck_assert_int_eq(pm_rc(&o), MG_ERR_SENDER);
  o.content_type = MLS_CONTENT_APPLICATION;
  o.body = body_app;
  o.body_len = sizeof(body_app);
  ck_assert_int_eq(pm_rc(&o), MG_ERR_SENDER);
}
END_TEST

START_TEST(test_pm_content_and_proposal_types) {
  static const uint8_t bad_ct[] = {0, 4, 0xff};
  static const uint8_t body_unknown[] = {0x00, 0x08, 0x00};
  static const uint8_t body_grease[] = {0x0a, 0x0a, 0x00};
  static const uint8_t body_reserved[] = {0x00, 0x00, 0x00};
  static const uint8_t commit_bad_por[] = {0x02, 0x00, 0x00, 0x00};
  static const uint8_t commit_por3[] = {0x02, 0x03, 0x00, 0x00};
  static const uint8_t commit_ref[] = {0x03, 0x02, 0x01, 0xaa, 0x00};
  static const uint8_t commit_opt2[] = {0x00, 0x02};
  static const uint8_t commit_empty_ref[] = {0x02, 0x02, 0x00, 0x00};
  pm_opts o = pm_default();
  for (size_t k = 0; k < sizeof(bad_ct); k++) {
    o.content_type = bad_ct[k];
    ck_assert_int_eq(pm_rc(&o), MG_ERR_CONTENT_TYPE);
  }
  o = pm_default();
  o.body = body_unknown;
  o.body_len = sizeof(body_unknown);
  ck_assert_int_eq(pm_rc(&o), MG_ERR_PROPOSAL);
  o.body = body_grease;
  ck_assert_int_eq(pm_rc(&o), MG_ERR_PROPOSAL);
  o.body = body_reserved;
  ck_assert_int_eq(pm_rc(&o), MG_ERR_PROPOSAL);
  o = pm_default();
  o.content_type = MLS_CONTENT_COMMIT;
  o.conf_tag = 32;
  o.body = commit_bad_por;
  o.body_len = sizeof(commit_bad_por);
  ck_assert_int_eq(pm_rc(&o), MG_ERR_PROPOSAL);
  o.body = commit_por3;
  o.body_len = sizeof(commit_por3);
  ck_assert_int_eq(pm_rc(&o), MG_ERR_PROPOSAL);
  o.body = commit_ref; /* one proposal by reference, no path */
  o.body_len = sizeof(commit_ref);
  ck_assert_int_eq(pm_rc(&o), 0);
  o.body = commit_opt2;
  o.body_len = sizeof(commit_opt2);
  ck_assert_int_eq(pm_rc(&o), MG_ERR_OPTIONAL);
  o.body = commit_empty_ref; /* a ProposalRef is never empty */
  o.body_len = sizeof(commit_empty_ref);
  ck_assert_int_eq(pm_rc(&o), MG_ERR_PROPOSAL);
}
END_TEST

/* A PrivateMessage with a bad content type; the AADs' layouts. */
START_TEST(test_private_message) {
  static const uint8_t pm_ok[] = {0x00, 0x01, 0x00, 0x02, 0x02, 'g', 'i',
                                  0,    0,    0,    0,    0,    0,   0,
                                  9,    0x01, 0x01, 'a',  0x02, 0xe1, 0xe2,
                                  0x03, 0xc1, 0xc2, 0xc3};
  uint8_t b[sizeof(pm_ok)];
  mls_message m;
  mg_writer w;
  memcpy(b, pm_ok, sizeof(b));
  ck_assert_int_eq(mls_message_decode_bytes(b, sizeof(b), &m), 0);
  ck_assert_uint_eq(m.private_message.epoch, 9);
  ck_assert_uint_eq(m.private_message.content_type, MLS_CONTENT_APPLICATION);
  ck_assert_uint_eq(m.private_message.ciphertext.len, 3);
  /* SenderDataAAD = group_id, epoch, content_type; PrivateContentAAD adds
   * authenticated_data: both are prefixes of the PrivateMessage body. */
  ck_assert_int_eq(mg_writer_init(&w, 64, 0), 0);
  ck_assert_int_eq(mls_sender_data_aad_encode(&w, &m.private_message), 0);
  ck_assert_uint_eq(mg_writer_len(&w), 3 + 8 + 1);
  ck_assert_mem_eq(mg_writer_data(&w), b + 4, 12);
  mg_writer_cleanup(&w);
  ck_assert_int_eq(mg_writer_init(&w, 64, 0), 0);
  ck_assert_int_eq(mls_private_content_aad_encode(&w, &m.private_message), 0);
  ck_assert_uint_eq(mg_writer_len(&w), 12 + 2);
  ck_assert_mem_eq(mg_writer_data(&w), b + 4, 14);
  mg_writer_cleanup(&w);
  mls_message_cleanup(&m);
  for (unsigned ct = 0; ct < 256; ct += 1) {
    b[15] = (uint8_t)ct;
    if (ct >= 1 && ct <= 3) {
      ck_assert_int_eq(msg_rc(b, sizeof(b)), 0);
    } else {
      ck_assert_int_eq(msg_rc(b, sizeof(b)), MG_ERR_CONTENT_TYPE);
    }
  }
}
END_TEST

START_TEST(test_sender_data) {
  static const uint8_t sd[] = {0, 0, 0, 3, 0, 0, 1, 0, 0xde, 0xad, 0xbe, 0xef};
  mls_sender_data v;
  mg_reader r;
  mg_writer w;
  uint8_t buf[16];
  mg_reader_init(&r, sd, sizeof(sd));
  ck_assert_int_eq(mls_sender_data_decode(&r, &v), 0);
  ck_assert_int_eq(mg_reader_done(&r), 0);
  ck_assert_uint_eq(v.leaf_index, 3);
  ck_assert_uint_eq(v.generation, 256);
  ck_assert_mem_eq(v.reuse_guard, sd + 8, 4);
  mg_writer_init_fixed(&w, buf, sizeof(buf));
  ck_assert_int_eq(mls_sender_data_encode(&w, &v), 0);
  ck_assert_uint_eq(mg_writer_len(&w), sizeof(sd));
  ck_assert_mem_eq(buf, sd, sizeof(sd));
  for (size_t cut = 0; cut < sizeof(sd); cut++) {
    mg_reader_init(&r, sd, cut);
    ck_assert_int_eq(mls_sender_data_decode(&r, &v), MG_ERR_TRUNCATED);
    ck_assert_uint_eq(r.len, cut);
  }
}
END_TEST

/* PrivateMessageContent: any amount of zero padding round-trips; any
 * non-zero byte in it is MG_ERR_PADDING (RFC 9420 §6.3.1). */
START_TEST(test_private_content_padding) {
  static const uint8_t base_app[] = {0x03, 'h', 'e', 'y', 0x02, 0x5a, 0x5b};
  static const uint8_t base_commit[] = {0x00, 0x00, 0x02, 0x5a, 0x5b, 0x02, 0xcc, 0xcd};
  static const size_t pads[] = {0, 1, 7, 64, 65, 300};
  const struct {
    uint8_t ct;
    const uint8_t *b;
    size_t n;
  } bases[] = {{MLS_CONTENT_APPLICATION, base_app, sizeof(base_app)},
               {MLS_CONTENT_COMMIT, base_commit, sizeof(base_commit)}};
  for (size_t bi = 0; bi < 2; bi++) {
    for (size_t p = 0; p < sizeof(pads) / sizeof(pads[0]); p++) {
      size_t n = bases[bi].n + pads[p];
      uint8_t *buf = calloc(1, n);
      uint8_t *out = NULL;
      size_t out_len = 0;
      mls_private_message_content c;
      mg_reader r;
      ck_assert_ptr_nonnull(buf);
      memcpy(buf, bases[bi].b, bases[bi].n);
      mg_reader_init(&r, buf, n);
      ck_assert_int_eq(mls_private_message_content_decode(&r, bases[bi].ct, &c),
                       0);
      ck_assert_uint_eq(r.len, 0);
      ck_assert_uint_eq(c.padding_len, pads[p]);
      ck_assert_int_eq(mls_private_message_content_serialize(&c, &out, &out_len),
                       0);
      ck_assert_uint_eq(out_len, n);
      ck_assert_mem_eq(out, buf, n);
      mg_free_secret(out, out_len);
      mls_private_message_content_cleanup(&c);
      /* Any non-zero padding byte, wherever it is. */
      for (size_t at = bases[bi].n; at < n; at++) {
        buf[at] = (uint8_t)(1u << (at % 8));
        mg_reader_init(&r, buf, n);
        ck_assert_int_eq(mls_private_message_content_decode(&r, bases[bi].ct, &c),
                         MG_ERR_PADDING);
        ck_assert_uint_eq(r.len, n);
        buf[at] = 0;
      }
      free(buf);
    }
  }
  /* The wrong content type for the plaintext, or an invalid one. */
  {
    mls_private_message_content c;
    mg_reader r;
    mg_reader_init(&r, base_app, sizeof(base_app));
    ck_assert_int_eq(mls_private_message_content_decode(&r, 0, &c),
                     MG_ERR_CONTENT_TYPE);
    mg_reader_init(&r, base_commit, 2);
    ck_assert_int_lt(mls_private_message_content_decode(&r, MLS_CONTENT_COMMIT,
                                                        &c),
                     0);
    ck_assert_uint_eq(r.len, 2);
  }
}
END_TEST

/* AuthenticatedContent: only the two framed wire formats; a private one
 * comes from a member. */
START_TEST(test_authenticated_content) {
  pm_opts o = pm_default();
  mg_writer w;
  uint8_t *out = NULL;
  size_t out_len = 0;
  mls_authenticated_content ac;
  mg_reader r;
  ck_assert_int_eq(mg_writer_init(&w, 128, 0), 0);
  ck_assert_int_eq(mg_write_u16(&w, MLS_WIRE_PRIVATE_MESSAGE), 0);
  put_framed_content(&w, &o);
  put_tag(&w, 16, 0x51);
  mg_reader_init(&r, mg_writer_data(&w), mg_writer_len(&w));
  ck_assert_int_eq(mls_authenticated_content_decode(&r, &ac), 0);
  ck_assert_int_eq(mg_reader_done(&r), 0);
  ck_assert_int_eq(mls_authenticated_content_serialize(&ac, &out, &out_len), 0);
  ck_assert_uint_eq(out_len, mg_writer_len(&w));
  ck_assert_mem_eq(out, mg_writer_data(&w), out_len);
  free(out);
  mls_authenticated_content_cleanup(&ac);
  /* Other wire formats. */
  w.buf[1] = MLS_WIRE_WELCOME;
  ck_assert_int_eq(run_dec(d_authenticated, mg_writer_data(&w),
                           mg_writer_len(&w), NULL),
                   MG_ERR_WIRE_FORMAT);
  w.buf[1] = 0;
  ck_assert_int_eq(run_dec(d_authenticated, mg_writer_data(&w),
                           mg_writer_len(&w), NULL),
                   MG_ERR_WIRE_FORMAT);
  mg_writer_cleanup(&w);
  /* A private message from an external sender. */
  o.sender_type = MLS_SENDER_EXTERNAL;
  ck_assert_int_eq(mg_writer_init(&w, 128, 0), 0);
  ck_assert_int_eq(mg_write_u16(&w, MLS_WIRE_PRIVATE_MESSAGE), 0);
  put_framed_content(&w, &o);
  put_tag(&w, 16, 0x51);
  ck_assert_int_eq(run_dec(d_authenticated, mg_writer_data(&w),
                           mg_writer_len(&w), NULL),
                   MG_ERR_SENDER);
  w.buf[1] = MLS_WIRE_PUBLIC_MESSAGE;
  ck_assert_int_eq(run_dec(d_authenticated, mg_writer_data(&w),
                           mg_writer_len(&w), NULL),
                   0);
  mg_writer_cleanup(&w);
}
END_TEST

/* FramedContentTBS and AuthenticatedContentTBM laid out as §6.1/§6.2 say,
 * checked against bytes assembled here (the GroupContext's bytes are cut
 * from a vector GroupInfo with the GroupContext decoder). */
START_TEST(test_tbs_tbm_layout) {
  size_t gi_n = 0;
  uint8_t *gi = vec_field(0, "mls_group_info", &gi_n);
  mls_group_context gc;
  mg_reader r;
  size_t gc_len;
  pm_opts o = pm_default();
  mg_writer fc_w, tbs_w, want_w;
  mls_authenticated_content ac;

  mg_reader_init(&r, gi + 4, gi_n - 4);
  ck_assert_int_eq(mls_group_context_decode(&r, &gc), 0);
  gc_len = gi_n - 4 - r.len;

  for (int member = 0; member < 2; member++) {
    o.sender_type = member ? MLS_SENDER_MEMBER : MLS_SENDER_EXTERNAL;
    ck_assert_int_eq(mg_writer_init(&fc_w, 128, 0), 0);
    ck_assert_int_eq(mg_write_u16(&fc_w, MLS_WIRE_PUBLIC_MESSAGE), 0);
    put_framed_content(&fc_w, &o);
    put_tag(&fc_w, 16, 0x51);
    mg_reader_init(&r, mg_writer_data(&fc_w), mg_writer_len(&fc_w));
    ck_assert_int_eq(mls_authenticated_content_decode(&r, &ac), 0);

    /* want = 0001 || 0001 || FramedContent || [GroupContext] */
    ck_assert_int_eq(mg_writer_init(&want_w, 512, 0), 0);
    ck_assert_int_eq(mg_write_u16(&want_w, MLS_VERSION_MLS10), 0);
    ck_assert_int_eq(mg_write_bytes(&want_w, mg_writer_data(&fc_w),
                                    mg_writer_len(&fc_w) - 17),
                     0);
    if (member) {
      ck_assert_int_eq(mg_write_bytes(&want_w, gi + 4, gc_len), 0);
    }
    ck_assert_int_eq(mg_writer_init(&tbs_w, 512, 0), 0);
    ck_assert_int_eq(mls_framed_content_tbs_encode(&tbs_w, MLS_WIRE_PUBLIC_MESSAGE,
                                                   &ac.content, &gc),
                     0);
    ck_assert_uint_eq(mg_writer_len(&tbs_w), mg_writer_len(&want_w));
    ck_assert_mem_eq(mg_writer_data(&tbs_w), mg_writer_data(&want_w),
                     mg_writer_len(&want_w));
    mg_writer_cleanup(&tbs_w);
    /* TBM = TBS || auth (the 17 signature bytes). */
    ck_assert_int_eq(mg_write_bytes(&want_w,
                                    mg_writer_data(&fc_w) + mg_writer_len(&fc_w) - 17,
                                    17),
                     0);
    ck_assert_int_eq(mg_writer_init(&tbs_w, 512, 0), 0);
    ck_assert_int_eq(mls_authenticated_content_tbm_encode(&tbs_w, &ac, &gc), 0);
    ck_assert_uint_eq(mg_writer_len(&tbs_w), mg_writer_len(&want_w));
    ck_assert_mem_eq(mg_writer_data(&tbs_w), mg_writer_data(&want_w),
                     mg_writer_len(&want_w));
    mg_writer_cleanup(&tbs_w);
    /* A member's TBS needs the context; an external one ignores it. */
    ck_assert_int_eq(mg_writer_init(&tbs_w, 512, 0), 0);
    ck_assert_int_eq(mls_framed_content_tbs_encode(&tbs_w, MLS_WIRE_PUBLIC_MESSAGE,
                                                   &ac.content, NULL),
                     member ? MG_ERR_INVALID_ARG : 0);
    mg_writer_cleanup(&tbs_w);
    ck_assert_int_eq(mg_writer_init(&tbs_w, 512, 0), 0);
    ck_assert_int_eq(mls_framed_content_tbs_encode(&tbs_w, MLS_WIRE_WELCOME,
                                                   &ac.content, &gc),
                     MG_ERR_INVALID_ARG);
    mg_writer_cleanup(&tbs_w);
    mg_writer_cleanup(&want_w);
    mg_writer_cleanup(&fc_w);
    mls_authenticated_content_cleanup(&ac);
  }
  mls_group_context_cleanup(&gc);
  free(gi);
}
END_TEST

/* GroupInfo: an empty confirmation tag; GroupInfoTBS is GroupInfo without
 * its signature. */
START_TEST(test_group_info) {
  size_t n = 0;
  uint8_t *b = vec_field(spread_entry(_i), "mls_group_info", &n);
  mls_message m;
  mg_writer w;
  size_t sig_len;
  ck_assert_int_eq(mls_message_decode_bytes(b, n, &m), 0);
  sig_len = m.group_info.signature.len;
  ck_assert_int_eq(mg_writer_init(&w, 512, 0), 0);
  ck_assert_int_eq(mls_group_info_tbs_encode(&w, &m.group_info), 0);
  /* signature<V> takes 1 or 2 length bytes for these sizes. */
  ck_assert_uint_eq(mg_writer_len(&w) + sig_len + (sig_len < 64 ? 1 : 2), n - 4);
  ck_assert_mem_eq(mg_writer_data(&w), b + 4, mg_writer_len(&w));
  mg_writer_cleanup(&w);
  /* Re-encode with an empty confirmation tag: rejected on decode. */
  mls_bytes_cleanup(&m.group_info.confirmation_tag);
  ck_assert_int_eq(mg_writer_init(&w, 512, 0), 0);
  ck_assert_int_eq(mls_message_encode(&w, &m), 0);
  ck_assert_int_eq(msg_rc(mg_writer_data(&w), mg_writer_len(&w)),
                   MG_ERR_CONFIRMATION_TAG);
  mg_writer_cleanup(&w);
  mls_message_cleanup(&m);
  free(b);
}
END_TEST

/* Welcome and GroupSecrets edge cases. */
START_TEST(test_welcome_and_group_secrets) {
  /* A Welcome with no secrets and an empty group info is well formed. */
  static const uint8_t w_empty[] = {0x00, 0x01, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00};
  /* GroupSecrets with an optional flag of 2. */
  static const uint8_t gs_bad_opt[] = {0x01, 0xaa, 0x02, 0x01, 0xbb, 0x00};
  static const uint8_t gs_ok[] = {0x01, 0xaa, 0x01, 0x01, 0xbb, 0x00};
  static const uint8_t gs_bad_psk[] = {0x01, 0xaa, 0x00, 0x03, 0x03, 0x00, 0x00};
  mls_group_secrets gs;
  mg_reader r;
  ck_assert_int_eq(msg_rc(w_empty, sizeof(w_empty)), 0);
  mg_reader_init(&r, gs_bad_opt, sizeof(gs_bad_opt));
  ck_assert_int_eq(mls_group_secrets_decode(&r, &gs), MG_ERR_OPTIONAL);
  ck_assert_uint_eq(r.len, sizeof(gs_bad_opt));
  mg_reader_init(&r, gs_ok, sizeof(gs_ok));
  ck_assert_int_eq(mls_group_secrets_decode(&r, &gs), 0);
  ck_assert_int_eq(gs.has_path_secret, 1);
  ck_assert_uint_eq(gs.path_secret.len, 1);
  ck_assert_uint_eq(gs.num_psks, 0);
  mls_group_secrets_cleanup(&gs);
  mg_reader_init(&r, gs_bad_psk, sizeof(gs_bad_psk));
  ck_assert_int_eq(mls_group_secrets_decode(&r, &gs), MG_ERR_PSK);
  ck_assert_uint_eq(r.len, sizeof(gs_bad_psk));
}
END_TEST

/* The encoders refuse structures that break their own invariants. */
START_TEST(test_encoder_invariants) {
  mg_writer w;
  mls_public_message pm;
  mls_framed_content_auth_data ad;
  mls_proposal p;
  mls_message m;
  mls_sender s;
  mls_private_message_content pc;
  uint8_t tag[4] = {1, 2, 3, 4};

  ck_assert_int_eq(mg_writer_init(&w, 64, 0), 0);
  memset(&pm, 0, sizeof(pm));
  pm.content.content_type = MLS_CONTENT_APPLICATION;
  pm.content.sender.sender_type = MLS_SENDER_MEMBER;
  ck_assert_int_eq(mls_public_message_encode(&w, &pm), MG_ERR_INVALID_ARG);
  pm.content.sender.sender_type = MLS_SENDER_EXTERNAL;
  pm.membership_tag.data = tag;
  pm.membership_tag.len = sizeof(tag);
  ck_assert_int_eq(mls_public_message_encode(&w, &pm), MG_ERR_INVALID_ARG);

  memset(&ad, 0, sizeof(ad));
  ck_assert_int_eq(mls_framed_content_auth_data_encode(&w, MLS_CONTENT_COMMIT, &ad),
                   MG_ERR_INVALID_ARG);
  ad.confirmation_tag.data = tag;
  ad.confirmation_tag.len = sizeof(tag);
  ck_assert_int_eq(mls_framed_content_auth_data_encode(&w, MLS_CONTENT_PROPOSAL, &ad),
                   MG_ERR_INVALID_ARG);
  ck_assert_int_eq(mls_framed_content_auth_data_encode(&w, 0, &ad),
                   MG_ERR_INVALID_ARG);

  memset(&p, 0, sizeof(p));
  p.proposal_type = 0x0a0a;
  ck_assert_int_eq(mls_proposal_encode(&w, &p), MG_ERR_INVALID_ARG);
  {
    mls_proposal_or_ref por;
    memset(&por, 0, sizeof(por));
    por.type = MLS_PROPOSAL_OR_REF_REFERENCE;
    ck_assert_int_eq(mls_proposal_or_ref_encode(&w, &por), MG_ERR_INVALID_ARG);
    por.type = 3;
    ck_assert_int_eq(mls_proposal_or_ref_encode(&w, &por), MG_ERR_INVALID_ARG);
  }
  /* The proposal bodies share storage, so a decoded Commit costs a few
   * hundred bytes per entry, not the sum of every body type. */
  ck_assert_uint_lt(sizeof(mls_proposal),
                    sizeof(mls_key_package) + sizeof(mls_leaf_node));

  memset(&m, 0, sizeof(m));
  m.version = 2;
  m.wire_format = MLS_WIRE_WELCOME;
  ck_assert_int_eq(mls_message_encode(&w, &m), MG_ERR_INVALID_ARG);
  m.version = MLS_VERSION_MLS10;
  m.wire_format = 9;
  ck_assert_int_eq(mls_message_encode(&w, &m), MG_ERR_INVALID_ARG);

  memset(&s, 0, sizeof(s));
  ck_assert_int_eq(mls_sender_encode(&w, &s), MG_ERR_INVALID_ARG);
  memset(&pc, 0, sizeof(pc));
  ck_assert_int_eq(mls_private_message_content_encode(&w, &pc), MG_ERR_INVALID_ARG);
  /* Nothing was written by the refused calls. */
  ck_assert_uint_eq(mg_writer_len(&w), 0);
  mg_writer_cleanup(&w);

  /* Zeroed structures clean up safely. */
  mls_message_cleanup(&m);
  mls_commit_cleanup(NULL);
  {
    mls_commit c;
    mls_welcome wl;
    mls_group_info gi;
    mls_group_secrets gs;
    memset(&c, 0, sizeof(c));
    memset(&wl, 0, sizeof(wl));
    memset(&gi, 0, sizeof(gi));
    memset(&gs, 0, sizeof(gs));
    mls_commit_cleanup(&c);
    mls_welcome_cleanup(&wl);
    mls_group_info_cleanup(&gi);
    mls_group_secrets_cleanup(&gs);
  }
}
END_TEST

START_TEST(test_path_required_table) {
  /* RFC 9420 §12.4: add, psk and reinit need no path. */
  ck_assert_int_eq(mls_proposal_type_requires_path(MLS_PROPOSAL_ADD), 0);
  ck_assert_int_eq(mls_proposal_type_requires_path(MLS_PROPOSAL_PSK), 0);
  ck_assert_int_eq(mls_proposal_type_requires_path(MLS_PROPOSAL_REINIT), 0);
  ck_assert_int_eq(mls_proposal_type_requires_path(MLS_PROPOSAL_UPDATE), 1);
  ck_assert_int_eq(mls_proposal_type_requires_path(MLS_PROPOSAL_REMOVE), 1);
  ck_assert_int_eq(mls_proposal_type_requires_path(MLS_PROPOSAL_EXTERNAL_INIT), 1);
  ck_assert_int_eq(
      mls_proposal_type_requires_path(MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS), 1);
  ck_assert_int_eq(mls_proposal_type_requires_path(0x0a0a), 1);
  for (uint32_t t = 0; t <= 0xffff; t++) {
    ck_assert_int_eq(mls_proposal_type_known((uint16_t)t), t >= 1 && t <= 7);
  }
}
END_TEST

/* The path rule of RFC 9420 §12.4. */
static int commit_path_rc(const uint8_t *b, size_t n, const uint16_t *types) {
  mls_commit c;
  mg_reader r;
  int rc;
  mg_reader_init(&r, b, n);
  ck_assert_int_eq(mls_commit_decode(&r, &c), 0);
  ck_assert_int_eq(mg_reader_done(&r), 0);
  rc = mls_commit_check_path(&c, types);
  mls_commit_cleanup(&c);
  return rc;
}

START_TEST(test_commit_path_rule) {
  static const uint8_t empty[] = {0x00, 0x00};
  static const uint8_t remove_v[] = {0x07, 0x01, 0x00, 0x03, 0, 0, 0, 5, 0x00};
  static const uint8_t psk_v[] = {0x08, 0x01, 0x00, 0x04, 0x01, 0x01, 'k', 0x01, 0x00, 0x00};
  static const uint8_t ref[] = {0x03, 0x02, 0x01, 0xaa, 0x00};
  static const uint16_t t_add[] = {MLS_PROPOSAL_ADD};
  static const uint16_t t_update[] = {MLS_PROPOSAL_UPDATE};
  static const uint16_t t_gce[] = {MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS};
  ck_assert_int_eq(commit_path_rc(empty, sizeof(empty), NULL), MG_ERR_PATH);
  ck_assert_int_eq(commit_path_rc(remove_v, sizeof(remove_v), NULL), MG_ERR_PATH);
  ck_assert_int_eq(commit_path_rc(psk_v, sizeof(psk_v), NULL), 0);
  ck_assert_int_eq(commit_path_rc(ref, sizeof(ref), NULL), MG_ERR_INVALID_ARG);
  ck_assert_int_eq(commit_path_rc(ref, sizeof(ref), t_add), 0);
  ck_assert_int_eq(commit_path_rc(ref, sizeof(ref), t_update), MG_ERR_PATH);
  ck_assert_int_eq(commit_path_rc(ref, sizeof(ref), t_gce), MG_ERR_PATH);
  /* Every vector commit with a path passes; without one, it covers only
   * path-optional proposals (when all are by value). */
  for (size_t e = 0; e < msgs_n; e += 13) {
    size_t n = 0;
    uint8_t *b = vec_field(e, "commit", &n);
    mls_commit c;
    mg_reader r;
    int by_value = 1;
    mg_reader_init(&r, b, n);
    ck_assert_int_eq(mls_commit_decode(&r, &c), 0);
    for (size_t k = 0; k < c.num_proposals; k++) {
      by_value &= c.proposals[k].type == MLS_PROPOSAL_OR_REF_PROPOSAL;
    }
    if (c.has_path && by_value) {
      ck_assert_int_eq(mls_commit_check_path(&c, NULL), 0);
    }
    mls_commit_cleanup(&c);
    free(b);
  }
}
END_TEST

static Suite *framing_suite(void) {
  Suite *s = suite_create("msg_framing");
  TCase *tc = tcase_create("vectors");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_vector_kind_registered);
  tcase_add_loop_test(tc, test_vector_case, 0, (int)msgs_n);
  tcase_add_test(tc, test_vector_kind_detects_changes);
  tcase_add_loop_test(tc, test_truncate_and_trailing, 0, N_SPREAD);
  tcase_add_loop_test(tc, test_bare_bodies, 0, N_SPREAD);
  tcase_add_loop_test(tc, test_serialize_matches_vector, 0, N_SPREAD);
  tcase_add_loop_test(tc, test_group_info, 0, N_SPREAD);
  suite_add_tcase(s, tc);

  tc = tcase_create("musts");
  tcase_add_test(tc, test_pm_valid_shapes);
  tcase_add_test(tc, test_pm_version_and_wire_format);
  tcase_add_test(tc, test_pm_membership_tag);
  tcase_add_test(tc, test_pm_confirmation_tag);
  tcase_add_test(tc, test_pm_sender_rules);
  tcase_add_test(tc, test_pm_content_and_proposal_types);
  tcase_add_test(tc, test_private_message);
  tcase_add_test(tc, test_sender_data);
  tcase_add_test(tc, test_private_content_padding);
  tcase_add_test(tc, test_authenticated_content);
  tcase_add_test(tc, test_tbs_tbm_layout);
  tcase_add_test(tc, test_welcome_and_group_secrets);
  tcase_add_test(tc, test_encoder_invariants);
  tcase_add_test(tc, test_path_required_table);
  tcase_add_test(tc, test_commit_path_rule);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  char path[4096];
  json_error_t jerr;
  int failed;
  if (mg_crypto_init() < 0) {
    fprintf(stderr, "crypto init failed\n");
    return 1;
  }
  snprintf(path, sizeof(path), "%s/mls/messages.json", mg_st_default_dir());
  msgs_root = json_load_file(path, 0, &jerr);
  if (msgs_root == NULL) {
    fprintf(stderr, "cannot load %s: %s\n", path, jerr.text);
    return 1;
  }
  msgs_n = mg_st_kind_messages.count(msgs_root);
  SRunner *sr = srunner_create(framing_suite());
  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  json_decref(msgs_root);
  return failed == 0 ? 0 : 1;
}
