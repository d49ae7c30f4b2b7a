/*
 * Self-test kind for mls/message-protection.json (mlswg/mls-implementations,
 * "Message Protection"), both directions, for each of the proposal, the
 * commit and the application data of a case:
 *   - the given PublicMessage (proposal, commit) unprotects with
 *     membership_key and signature_pub to the raw content;
 *   - protecting the raw content as a PublicMessage with signature_priv and
 *     membership_key gives a message that (after MLSMessage encode/decode)
 *     unprotects to the raw content; for application data, protecting as a
 *     PublicMessage must fail with MG_ERR_CONTENT_TYPE;
 *   - the given PrivateMessage unprotects with a fresh two-leaf secret tree
 *     (encryption_secret), sender_data_secret and signature_pub (sender leaf
 *     1) to the raw content;
 *   - protecting the raw content as a PrivateMessage (fresh secret tree,
 *     some padding) gives a message that unprotects with another fresh tree.
 * The GroupContext is built from the case (empty extensions).  A failure
 * names the suite, the content and the step.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/secmem.h"
#include "mls/constants.h"
#include "mls/framing.h"
#include "mls/key_schedule.h"
#include "mls/msg_context.h"
#include "mls/msg_framing.h"
#include "mls/secret_tree.h"
#include "selftest/selftest.h"
#include "selftest/st_mls_util.h"

#define MP_SENDER_LEAF 1u

static int mp_match(const char *base) {
  return strcmp(base, "message-protection.json") == 0;
}

static size_t mp_count(const json_t *root) {
  if (!json_is_array(root)) {
    return 0;
  }
  const json_t *first = json_array_get(root, 0);
  if (!json_is_object(first) || json_object_get(first, "proposal_priv") == NULL) {
    return 0;
  }
  return json_array_size(root);
}

/* The case's material. */
typedef struct mp_case {
  mg_st_case cc;
  mls_group_context gc; /* borrows the case's buffers; never cleaned up */
  uint8_t *sig_priv, *sig_pub, *enc_secret, *sds, *mkey;
  size_t sig_priv_len, sig_pub_len, enc_secret_len, sds_len, mkey_len;
  mg_sig_key *pub_key; /* sig_pub, prepared for the PrivateMessage lookup */
} mp_case;

static int mp_lookup(void *arg, uint32_t leaf, const mg_sig_key **key) {
  const mp_case *mc = arg;
  if (leaf != MP_SENDER_LEAF) {
    return MG_ERR_SENDER;
  }
  *key = mc->pub_key;
  return 0;
}

/* Encodes the body of |fc| (the select arm) for comparison with the raw
 * value of the vector. */
static int mp_body_eq(mp_case *mc, const char *what, const char *step,
                      const mls_framed_content *fc, uint8_t content_type,
                      const uint8_t *raw, size_t raw_len) {
  mg_writer w;
  int rc;
  char field[96];

  snprintf(field, sizeof(field), "%s content", step);
  if (fc->content_type != content_type) {
    mg_st_fail(mc->cc.rep, "case %zu: suite %u: %s: %s: content type %u",
               mc->cc.i, mc->cc.suite_id, what, step,
               (unsigned)fc->content_type);
    return 0;
  }
  if (content_type == MLS_CONTENT_APPLICATION) {
    return mg_st_case_eq(&mc->cc, what, field, fc->application_data.data,
                         fc->application_data.len, raw, raw_len);
  }
  mg_writer_zero(&w);
  rc = mg_writer_init(&w, raw_len + 16, 0);
  if (rc == 0) {
    rc = content_type == MLS_CONTENT_PROPOSAL
             ? mls_proposal_encode(&w, &fc->proposal)
             : mls_commit_encode(&w, &fc->commit);
  }
  int ok = mg_st_case_rc(&mc->cc, what, "content encoding", rc) &&
           mg_st_case_eq(&mc->cc, what, field, mg_writer_data(&w),
                         mg_writer_len(&w), raw, raw_len);
  mg_writer_cleanup(&w);
  return ok;
}

/* Builds a signed AuthenticatedContent from the raw value. */
static int mp_build(mp_case *mc, const char *what, mls_authenticated_content *ac,
                    uint16_t wire_format, uint8_t content_type,
                    const uint8_t *raw, size_t raw_len) {
  mg_reader r;
  int rc = 0;

  memset(ac, 0, sizeof(*ac));
  ac->wire_format = wire_format;
  ac->content.epoch = mc->gc.epoch;
  ac->content.sender.sender_type = MLS_SENDER_MEMBER;
  ac->content.sender.leaf_index = MP_SENDER_LEAF;
  ac->content.content_type = content_type;
  rc = mls_bytes_copy(&ac->content.group_id, &mc->gc.group_id);
  mg_reader_init(&r, raw, raw_len);
  if (rc == 0) {
    switch (content_type) {
      case MLS_CONTENT_APPLICATION:
        rc = mls_bytes_dup(&ac->content.application_data, raw, raw_len);
        mg_reader_init(&r, NULL, 0);
        break;
      case MLS_CONTENT_PROPOSAL:
        rc = mls_proposal_decode(&r, &ac->content.proposal);
        break;
      default:
        rc = mls_commit_decode(&r, &ac->content.commit);
        break;
    }
  }
  if (rc == 0) {
    rc = mg_reader_done(&r);
  }
  if (!mg_st_case_rc(&mc->cc, what, "raw content decode", rc)) {
    return 0;
  }
  if (content_type == MLS_CONTENT_COMMIT) {
    /* Any MAC will do: the tag is checked against the next epoch, which
     * this vector does not have. */
    uint8_t tag[MG_MAX_HASH_LEN];
    size_t tag_len = 0;
    rc = mls_confirmation_tag_compute(mc->cc.suite, tag, sizeof(tag), &tag_len,
                                      mc->mkey, mc->mkey_len,
                                      mc->gc.tree_hash.data,
                                      mc->gc.tree_hash.len);
    if (rc == 0) {
      rc = mls_bytes_dup(&ac->auth.confirmation_tag, tag, tag_len);
    }
    if (!mg_st_case_rc(&mc->cc, what, "confirmation tag", rc)) {
      return 0;
    }
  }
  rc = mls_authenticated_content_sign(mc->cc.suite, ac, &mc->gc, mc->sig_priv,
                                      mc->sig_priv_len);
  return mg_st_case_rc(&mc->cc, what, "signing", rc);
}

/* MLSMessage encode then decode (the protected message goes over the
 * wire). */
static int mp_wire(mp_case *mc, const char *what, const mls_message *in,
                   mls_message *out) {
  uint8_t *bytes = NULL;
  size_t len = 0;
  int rc = mls_message_serialize(in, &bytes, &len);
  if (rc == 0) {
    rc = mls_message_decode_bytes(bytes, len, out);
  }
  free(bytes);
  return mg_st_case_rc(&mc->cc, what, "MLSMessage round trip", rc);
}

static int mp_decode_msg(mp_case *mc, const json_t *c, const char *key,
                         uint16_t wire_format, mls_message *out) {
  uint8_t *b = NULL;
  size_t n = 0;
  if (!mg_st_case_hex(&mc->cc, c, "case", key, &b, &n)) {
    return 0;
  }
  int rc = mls_message_decode_bytes(b, n, out);
  if (!mg_st_case_rc(&mc->cc, key, "MLSMessage decode", rc)) {
    return 0;
  }
  if (out->wire_format != wire_format) {
    mg_st_fail(mc->cc.rep, "case %zu: suite %u: %s has wire format %u",
               mc->cc.i, mc->cc.suite_id, key, (unsigned)out->wire_format);
    return 0;
  }
  return 1;
}

static int mp_new_tree(mp_case *mc, const char *what, mls_secret_tree **st) {
  int rc = mls_secret_tree_new(st, mc->cc.suite, mc->enc_secret,
                               mc->enc_secret_len, 2, NULL);
  return mg_st_case_rc(&mc->cc, what, "secret tree", rc);
}

static int mp_public(mp_case *mc, const json_t *c, const char *what,
                     uint8_t type, const uint8_t *raw, size_t raw_len) {
  char key[32];
  mls_message msg, back;
  mls_authenticated_content ac, mine;
  int ok = 0;

  memset(&msg, 0, sizeof(msg));
  memset(&back, 0, sizeof(back));
  memset(&ac, 0, sizeof(ac));
  memset(&mine, 0, sizeof(mine));
  /* The vector's PublicMessage. */
  snprintf(key, sizeof(key), "%s_pub", what);
  if (!mp_decode_msg(mc, c, key, MLS_WIRE_PUBLIC_MESSAGE, &msg)) {
    goto out;
  }
  int rc = mls_public_message_unprotect(mc->cc.suite, &ac, &msg.public_message,
                                        &mc->gc, mc->mkey, mc->mkey_len,
                                        mc->sig_pub, mc->sig_pub_len);
  if (!mg_st_case_rc(&mc->cc, what, "unprotect given PublicMessage", rc) ||
      !mp_body_eq(mc, what, "given PublicMessage", &ac.content, type, raw,
                  raw_len)) {
    goto out;
  }
  mls_authenticated_content_cleanup(&ac);
  mls_message_cleanup(&msg);
  /* Our PublicMessage. */
  if (!mp_build(mc, what, &mine, MLS_WIRE_PUBLIC_MESSAGE, type, raw, raw_len)) {
    goto out;
  }
  msg.version = MLS_VERSION_MLS10;
  msg.wire_format = MLS_WIRE_PUBLIC_MESSAGE;
  rc = mls_public_message_protect(mc->cc.suite, &msg.public_message, &mine,
                                  &mc->gc, mc->mkey, mc->mkey_len);
  if (!mg_st_case_rc(&mc->cc, what, "protect as PublicMessage", rc) ||
      !mp_wire(mc, what, &msg, &back)) {
    goto out;
  }
  rc = mls_public_message_unprotect(mc->cc.suite, &ac, &back.public_message,
                                    &mc->gc, mc->mkey, mc->mkey_len,
                                    mc->sig_pub, mc->sig_pub_len);
  if (!mg_st_case_rc(&mc->cc, what, "unprotect own PublicMessage", rc) ||
      !mp_body_eq(mc, what, "own PublicMessage", &ac.content, type, raw,
                  raw_len)) {
    goto out;
  }
  ok = 1;
out:
  mls_message_cleanup(&msg);
  mls_message_cleanup(&back);
  mls_authenticated_content_cleanup(&ac);
  mls_authenticated_content_cleanup(&mine);
  return ok;
}

static int mp_application_public_refused(mp_case *mc, const uint8_t *raw,
                                         size_t raw_len) {
  mls_authenticated_content mine;
  mls_public_message pm;
  int ok = 0;

  memset(&pm, 0, sizeof(pm));
  if (!mp_build(mc, "application", &mine, MLS_WIRE_PUBLIC_MESSAGE,
                MLS_CONTENT_APPLICATION, raw, raw_len)) {
    goto out;
  }
  int rc = mls_public_message_protect(mc->cc.suite, &pm, &mine, &mc->gc,
                                      mc->mkey, mc->mkey_len);
  if (rc != MG_ERR_CONTENT_TYPE) {
    mg_st_fail(mc->cc.rep,
               "case %zu: suite %u: application: protecting as PublicMessage "
               "gave %s, want MG_ERR_CONTENT_TYPE",
               mc->cc.i, mc->cc.suite_id, mg_err_name(rc));
    goto out;
  }
  ok = 1;
out:
  mls_public_message_cleanup(&pm);
  mls_authenticated_content_cleanup(&mine);
  return ok;
}

static int mp_private(mp_case *mc, const json_t *c, const char *what,
                      uint8_t type, const uint8_t *raw, size_t raw_len) {
  char key[32];
  mls_message msg, back;
  mls_authenticated_content ac, mine;
  mls_secret_tree *st = NULL;
  mls_secret_tree *st2 = NULL;
  int ok = 0;

  memset(&msg, 0, sizeof(msg));
  memset(&back, 0, sizeof(back));
  memset(&ac, 0, sizeof(ac));
  memset(&mine, 0, sizeof(mine));
  /* The vector's PrivateMessage. */
  snprintf(key, sizeof(key), "%s_priv", what);
  if (!mp_decode_msg(mc, c, key, MLS_WIRE_PRIVATE_MESSAGE, &msg) ||
      !mp_new_tree(mc, what, &st)) {
    goto out;
  }
  int rc = mls_private_message_unprotect(
      mc->cc.suite, &ac, &msg.private_message, &mc->gc, st, mc->sds,
      mc->sds_len, mp_lookup, mc);
  if (!mg_st_case_rc(&mc->cc, what, "unprotect given PrivateMessage", rc) ||
      !mp_body_eq(mc, what, "given PrivateMessage", &ac.content, type, raw,
                  raw_len)) {
    goto out;
  }
  if (ac.content.sender.sender_type != MLS_SENDER_MEMBER ||
      ac.content.sender.leaf_index != MP_SENDER_LEAF) {
    mg_st_fail(mc->cc.rep, "case %zu: suite %u: %s: sender is not leaf 1",
               mc->cc.i, mc->cc.suite_id, what);
    goto out;
  }
  mls_authenticated_content_cleanup(&ac);
  mls_message_cleanup(&msg);
  mls_secret_tree_free(st);
  st = NULL;
  /* Our PrivateMessage, unprotected by a receiver with its own tree. */
  if (!mp_build(mc, what, &mine, MLS_WIRE_PRIVATE_MESSAGE, type, raw,
                raw_len) ||
      !mp_new_tree(mc, what, &st) || !mp_new_tree(mc, what, &st2)) {
    goto out;
  }
  msg.version = MLS_VERSION_MLS10;
  msg.wire_format = MLS_WIRE_PRIVATE_MESSAGE;
  rc = mls_private_message_protect(mc->cc.suite, &msg.private_message, &mine,
                                   st, mc->sds, mc->sds_len, 13, NULL);
  if (!mg_st_case_rc(&mc->cc, what, "protect as PrivateMessage", rc) ||
      !mp_wire(mc, what, &msg, &back)) {
    goto out;
  }
  rc = mls_private_message_unprotect(mc->cc.suite, &ac, &back.private_message,
                                     &mc->gc, st2, mc->sds, mc->sds_len,
                                     mp_lookup, mc);
  if (!mg_st_case_rc(&mc->cc, what, "unprotect own PrivateMessage", rc) ||
      !mp_body_eq(mc, what, "own PrivateMessage", &ac.content, type, raw,
                  raw_len)) {
    goto out;
  }
  ok = 1;
out:
  mls_message_cleanup(&msg);
  mls_message_cleanup(&back);
  mls_authenticated_content_cleanup(&ac);
  mls_authenticated_content_cleanup(&mine);
  mls_secret_tree_free(st);
  mls_secret_tree_free(st2);
  return ok;
}

static void mp_run(const json_t *root, size_t i, mg_st_report *rep) {
  mp_case mc;
  const json_t *c = json_array_get(root, i);
  uint8_t *gid = NULL, *th = NULL, *cth = NULL;
  uint8_t *prop = NULL, *commit = NULL, *app = NULL;
  size_t gid_len = 0, th_len = 0, cth_len = 0, prop_len = 0, commit_len = 0,
         app_len = 0;
  uint64_t epoch = 0;
  uint8_t sig_priv[MG_MAX_SIG_PRIV_LEN];

  memset(&mc, 0, sizeof(mc));
  memset(sig_priv, 0, sizeof(sig_priv));
  if (!mg_st_case_begin(&mc.cc, c, i, rep)) {
    return;
  }
  mg_st_case *cc = &mc.cc;
  if (!mg_st_case_hex(cc, c, "case", "group_id", &gid, &gid_len) ||
      !mg_st_case_u64(cc, c, "case", "epoch", &epoch) ||
      !mg_st_case_hex(cc, c, "case", "tree_hash", &th, &th_len) ||
      !mg_st_case_hex(cc, c, "case", "confirmed_transcript_hash", &cth,
                      &cth_len) ||
      !mg_st_case_hex(cc, c, "case", "signature_priv", &mc.sig_priv,
                      &mc.sig_priv_len) ||
      !mg_st_case_hex(cc, c, "case", "signature_pub", &mc.sig_pub,
                      &mc.sig_pub_len) ||
      !mg_st_case_hex(cc, c, "case", "encryption_secret", &mc.enc_secret,
                      &mc.enc_secret_len) ||
      !mg_st_case_hex(cc, c, "case", "sender_data_secret", &mc.sds,
                      &mc.sds_len) ||
      !mg_st_case_hex(cc, c, "case", "membership_key", &mc.mkey,
                      &mc.mkey_len) ||
      !mg_st_case_hex(cc, c, "case", "proposal", &prop, &prop_len) ||
      !mg_st_case_hex(cc, c, "case", "commit", &commit, &commit_len) ||
      !mg_st_case_hex(cc, c, "case", "application", &app, &app_len)) {
    goto out;
  }
  /* The vector writes the ECDSA private key as an integer without leading
   * zero octets (a P-521 key may come as 65 bytes); the library takes the
   * fixed-length Field-Element-to-Octet-String form, so left-pad it. */
  size_t want_priv = cc->suite->sig->priv_len;
  if (mc.sig_priv_len < want_priv && want_priv <= sizeof(sig_priv)) {
    size_t pad = want_priv - mc.sig_priv_len;
    memset(sig_priv, 0, pad);
    memcpy(sig_priv + pad, mc.sig_priv, mc.sig_priv_len);
    mc.sig_priv = sig_priv;
    mc.sig_priv_len = want_priv;
  }
  int krc = cc->suite->sig->key_from_pub(cc->suite->sig, &mc.pub_key,
                                         mc.sig_pub, mc.sig_pub_len);
  if (!mg_st_case_rc(cc, "case", "signature_pub", krc)) {
    goto out;
  }
  mc.gc.version = MLS_VERSION_MLS10;
  mc.gc.cipher_suite = (uint16_t)cc->suite_id;
  mc.gc.group_id.data = gid;
  mc.gc.group_id.len = gid_len;
  mc.gc.epoch = epoch;
  mc.gc.tree_hash.data = th;
  mc.gc.tree_hash.len = th_len;
  mc.gc.confirmed_transcript_hash.data = cth;
  mc.gc.confirmed_transcript_hash.len = cth_len;
  if (!mp_public(&mc, c, "proposal", MLS_CONTENT_PROPOSAL, prop, prop_len) ||
      !mp_public(&mc, c, "commit", MLS_CONTENT_COMMIT, commit, commit_len) ||
      !mp_application_public_refused(&mc, app, app_len) ||
      !mp_private(&mc, c, "proposal", MLS_CONTENT_PROPOSAL, prop, prop_len) ||
      !mp_private(&mc, c, "commit", MLS_CONTENT_COMMIT, commit, commit_len) ||
      !mp_private(&mc, c, "application", MLS_CONTENT_APPLICATION, app,
                  app_len)) {
    goto out;
  }
  mg_st_pass(rep);
out:
  mg_sig_key_free(mc.pub_key);
  mg_memzero(sig_priv, sizeof(sig_priv));
  mg_st_case_end(cc);
}

const mg_st_kind mg_st_kind_message_protection = {
    "message-protection", mp_match, mp_count, mp_run,
};
