/*
 * Self-test kind for mls/messages.json (README "Messages"): every field of
 * every entry must decode as its structure and re-encode to the same bytes.
 *
 * One case is one entry of the file (300 upstream); a case passes when all
 * 17 fields of its entry round-trip, and a failure names the field.  The
 * MLSMessage fields must also carry the wire format (and, for the
 * PublicMessage fields, the content type) their name says.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "mls/msg_framing.h"
#include "mls/msg_leaf.h"
#include "selftest/selftest.h"

/* Decodes one value of some type from |r| and re-encodes it to |w|;
 * |why| receives a short reason when the decoded value is not the kind
 * the field promises. */
typedef int (*msg_rt_fn)(mg_reader *r, mg_writer *w, const char **why);

#define MSG_RT_PLAIN(name, type, dec, enc, clean)                              \
  static int name(mg_reader *r, mg_writer *w, const char **why) {              \
    type v;                                                                    \
    int rc;                                                                    \
    (void)why;                                                                 \
    memset(&v, 0, sizeof(v));                                                  \
    rc = dec(r, &v);                                                           \
    if (rc == 0) {                                                             \
      rc = enc(w, &v);                                                         \
      clean(&v);                                                               \
    }                                                                          \
    return rc;                                                                 \
  }

MSG_RT_PLAIN(rt_ratchet_tree, mls_ratchet_tree, mls_ratchet_tree_decode,
             mls_ratchet_tree_encode, mls_ratchet_tree_cleanup)
MSG_RT_PLAIN(rt_group_secrets, mls_group_secrets, mls_group_secrets_decode,
             mls_group_secrets_encode, mls_group_secrets_cleanup)
MSG_RT_PLAIN(rt_add, mls_add, mls_add_decode, mls_add_encode, mls_add_cleanup)
MSG_RT_PLAIN(rt_update, mls_update, mls_update_decode, mls_update_encode,
             mls_update_cleanup)
MSG_RT_PLAIN(rt_remove, mls_remove, mls_remove_decode, mls_remove_encode,
             mls_remove_cleanup)
MSG_RT_PLAIN(rt_psk, mls_pre_shared_key, mls_pre_shared_key_decode,
             mls_pre_shared_key_encode, mls_pre_shared_key_cleanup)
MSG_RT_PLAIN(rt_reinit, mls_reinit, mls_reinit_decode, mls_reinit_encode,
             mls_reinit_cleanup)
MSG_RT_PLAIN(rt_external_init, mls_external_init, mls_external_init_decode,
             mls_external_init_encode, mls_external_init_cleanup)
MSG_RT_PLAIN(rt_gce, mls_group_context_extensions,
             mls_group_context_extensions_decode,
             mls_group_context_extensions_encode,
             mls_group_context_extensions_cleanup)
MSG_RT_PLAIN(rt_commit, mls_commit, mls_commit_decode, mls_commit_encode,
             mls_commit_cleanup)

/* An MLSMessage of wire format |wf|; for public messages also of content
 * type |ct| (0: any). */
static int rt_message(mg_reader *r, mg_writer *w, const char **why,
                      uint16_t wf, uint8_t ct) {
  mls_message m;
  int rc;
  memset(&m, 0, sizeof(m));
  rc = mls_message_decode(r, &m);
  if (rc < 0) {
    return rc;
  }
  if (m.wire_format != wf) {
    *why = "wrong wire_format";
    rc = MG_ERR_WIRE_FORMAT;
  } else if (ct != 0 && m.public_message.content.content_type != ct) {
    *why = "wrong content_type";
    rc = MG_ERR_CONTENT_TYPE;
  } else {
    rc = mls_message_encode(w, &m);
  }
  mls_message_cleanup(&m);
  return rc;
}

static int rt_mls_welcome(mg_reader *r, mg_writer *w, const char **why) {
  return rt_message(r, w, why, MLS_WIRE_WELCOME, 0);
}
static int rt_mls_group_info(mg_reader *r, mg_writer *w, const char **why) {
  return rt_message(r, w, why, MLS_WIRE_GROUP_INFO, 0);
}
static int rt_mls_key_package(mg_reader *r, mg_writer *w, const char **why) {
  return rt_message(r, w, why, MLS_WIRE_KEY_PACKAGE, 0);
}
static int rt_pub_application(mg_reader *r, mg_writer *w, const char **why) {
  return rt_message(r, w, why, MLS_WIRE_PUBLIC_MESSAGE, MLS_CONTENT_APPLICATION);
}
static int rt_pub_proposal(mg_reader *r, mg_writer *w, const char **why) {
  return rt_message(r, w, why, MLS_WIRE_PUBLIC_MESSAGE, MLS_CONTENT_PROPOSAL);
}
static int rt_pub_commit(mg_reader *r, mg_writer *w, const char **why) {
  return rt_message(r, w, why, MLS_WIRE_PUBLIC_MESSAGE, MLS_CONTENT_COMMIT);
}
static int rt_private(mg_reader *r, mg_writer *w, const char **why) {
  return rt_message(r, w, why, MLS_WIRE_PRIVATE_MESSAGE, 0);
}

static const struct {
  const char *field;
  msg_rt_fn fn;
} msg_fields[] = {
    {"mls_welcome", rt_mls_welcome},
    {"mls_group_info", rt_mls_group_info},
    {"mls_key_package", rt_mls_key_package},
    {"ratchet_tree", rt_ratchet_tree},
    {"group_secrets", rt_group_secrets},
    {"add_proposal", rt_add},
    {"update_proposal", rt_update},
    {"remove_proposal", rt_remove},
    {"pre_shared_key_proposal", rt_psk},
    {"re_init_proposal", rt_reinit},
    {"external_init_proposal", rt_external_init},
    {"group_context_extensions_proposal", rt_gce},
    {"commit", rt_commit},
    {"public_message_application", rt_pub_application},
    {"public_message_proposal", rt_pub_proposal},
    {"public_message_commit", rt_pub_commit},
    {"private_message", rt_private},
};

static int msg_match(const char *base) {
  return strcmp(base, "messages.json") == 0;
}

static size_t msg_count(const json_t *root) {
  return json_is_array(root) ? json_array_size(root) : 0;
}

/* Round-trips field |k| of entry |c|; returns 1 if it passed (else the case
 * has been failed, naming the field). */
static int msg_check_field(const json_t *c, size_t i, size_t k,
                           mg_st_report *rep) {
  const char *field = msg_fields[k].field;
  const char *why = NULL;
  uint8_t *want = NULL;
  size_t want_len = 0;
  mg_reader r;
  mg_writer w;
  int ok = 0;
  int rc;

  mg_writer_zero(&w);
  rc = mg_st_hex(c, field, &want, &want_len);
  if (rc < 0) {
    mg_st_fail(rep, "case %zu: field %s missing or not hex", i, field);
    goto out;
  }
  rc = mg_writer_init(&w, want_len > 0 ? want_len : 1, 0);
  if (rc < 0) {
    mg_st_fail(rep, "case %zu: %s: %s", i, field, mg_strerror(rc));
    goto out;
  }
  mg_reader_init(&r, want, want_len);
  rc = msg_fields[k].fn(&r, &w, &why);
  if (rc < 0) {
    mg_st_fail(rep, "case %zu: %s does not decode/encode: %s%s%s", i, field,
               mg_err_name(rc), why != NULL ? ": " : "", why != NULL ? why : "");
    goto out;
  }
  if (mg_reader_done(&r) < 0) {
    mg_st_fail(rep, "case %zu: %s has %zu trailing bytes after its value", i,
               field, mg_reader_len(&r));
    goto out;
  }
  if (!mg_st_eq(rep, i, field, mg_writer_data(&w), mg_writer_len(&w), want,
                want_len)) {
    goto out;
  }
  ok = 1;
out:
  mg_writer_cleanup(&w);
  free(want);
  return ok;
}

static void msg_run(const json_t *root, size_t i, mg_st_report *rep) {
  const json_t *c = json_array_get(root, i);
  if (!json_is_object(c)) {
    mg_st_fail(rep, "case %zu: not an object", i);
    return;
  }
  for (size_t k = 0; k < sizeof(msg_fields) / sizeof(msg_fields[0]); k++) {
    if (!msg_check_field(c, i, k, rep)) {
      return;
    }
  }
  mg_st_pass(rep);
}

const mg_st_kind mg_st_kind_messages = {
    "messages",
    msg_match,
    msg_count,
    msg_run,
};
