/*
 * Tests of message protection (src/mls/framing.h) and of the transcript
 * hash over an AuthenticatedContent (src/mls/transcript.h).
 *
 * Vector loops (one iteration per case, 0 failed and 0 skipped required):
 * message-protection.json (both directions) and transcript-hashes.json.
 *
 * Negative tests, one per rule: application data refused as PublicMessage
 * (both directions); wrong wire format; group id; epoch; membership tag;
 * signature; sender rules; PrivateMessage replay, tampering (AEAD) without
 * moving the ratchet, wrong signature key without consuming the
 * generation, blank sender leaf, non-zero padding, non-member sender; the
 * reuse guard changes the content nonce; ConfirmedTranscriptHashInput only
 * for commits; Welcome: no entry for the KeyPackage, wrong suite, tampered
 * GroupInfo ciphertext, wrong confirmation tag, wrong GroupInfo signature.
 */
#include "config.h"

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "crypto/crypto.h"
#include "crypto/suite.h"
#include "mls/bytes.h"
#include "mls/constants.h"
#include "mls/framing.h"
#include "mls/msg_context.h"
#include "mls/msg_framing.h"
#include "mls/secret_tree.h"
#include "mls/transcript.h"
#include "mls/welcome.h"
#include "common/hex.h"
#include "selftest/selftest.h"
#include "vec_loop.h"

/* ------------------------------------------------------- vector loops */

static mg_vec_file files[] = {
    {"mls/message-protection.json", 7, NULL, NULL},
    {"mls/transcript-hashes.json", 7, NULL, NULL},
    {"mls/welcome.json", 7, NULL, NULL},
};

/* ------------------------------------------------------------ fixture */

typedef struct fx {
  const mls_suite *suite;
  uint8_t sig_priv[MG_MAX_SIG_PRIV_LEN];
  uint8_t sig_pub[MG_MAX_SIG_PUB_LEN];
  uint8_t other_pub[MG_MAX_SIG_PUB_LEN];
  uint8_t gid[8];
  uint8_t th[32];
  uint8_t mkey[32];
  uint8_t sds[32];
  uint8_t enc[32];
  mls_group_context gc; /* borrows the arrays above */
  int blank_leaf;       /* lookup: report leaf 1 blank */
  int wrong_key;        /* lookup: hand out other_pub */
  mg_sig_key *sig_key;   /* sig_pub and other_pub, prepared for the lookup */
  mg_sig_key *other_key;
} fx;

static fx F;

static void fx_setup(void) {
  uint8_t other_priv[MG_MAX_SIG_PRIV_LEN];
  /* The previous test's keys (the last pair stays reachable until exit). */
  mg_sig_key_free(F.sig_key);
  mg_sig_key_free(F.other_key);
  memset(&F, 0, sizeof(F));
  F.suite = mls_suite_by_id(1);
  ck_assert_ptr_nonnull(F.suite);
  ck_assert_int_eq(F.suite->sig->generate(F.suite->sig, F.sig_priv, F.sig_pub),
                   0);
  ck_assert_int_eq(F.suite->sig->generate(F.suite->sig, other_priv,
                                          F.other_pub),
                   0);
  for (size_t k = 0; k < 32; k++) {
    F.th[k] = (uint8_t)k;
    F.mkey[k] = (uint8_t)(0x40 + k);
    F.sds[k] = (uint8_t)(0x80 + k);
    F.enc[k] = (uint8_t)(0xc0 + k);
  }
  memcpy(F.gid, "group-01", 8);
  F.gc.version = MLS_VERSION_MLS10;
  F.gc.cipher_suite = 1;
  F.gc.group_id.data = F.gid;
  F.gc.group_id.len = sizeof(F.gid);
  F.gc.epoch = 9;
  F.gc.tree_hash.data = F.th;
  F.gc.tree_hash.len = sizeof(F.th);
  ck_assert_int_eq(F.suite->sig->key_from_pub(F.suite->sig, &F.sig_key,
                                              F.sig_pub, F.suite->sig->pub_len),
                   0);
  ck_assert_int_eq(F.suite->sig->key_from_pub(F.suite->sig, &F.other_key,
                                              F.other_pub,
                                              F.suite->sig->pub_len),
                   0);
}

static int fx_lookup(void *arg, uint32_t leaf, const mg_sig_key **key) {
  (void)arg;
  if (leaf != 1 || F.blank_leaf) {
    return MG_ERR_SENDER;
  }
  *key = F.wrong_key ? F.other_key : F.sig_key;
  return 0;
}

/* A signed AuthenticatedContent from leaf 1: application data, a Remove
 * proposal, or an empty Commit (with a confirmation tag). */
static void fx_content(mls_authenticated_content *ac, uint16_t wire_format,
                       uint8_t content_type) {
  static const uint8_t data[] = "hello, group";
  static const uint8_t tag[32] = {7};
  memset(ac, 0, sizeof(*ac));
  ac->wire_format = wire_format;
  ac->content.epoch = F.gc.epoch;
  ac->content.sender.sender_type = MLS_SENDER_MEMBER;
  ac->content.sender.leaf_index = 1;
  ac->content.content_type = content_type;
  ck_assert_int_eq(mls_bytes_copy(&ac->content.group_id, &F.gc.group_id), 0);
  ck_assert_int_eq(mls_bytes_dup(&ac->content.authenticated_data, data, 3), 0);
  switch (content_type) {
    case MLS_CONTENT_APPLICATION:
      ck_assert_int_eq(mls_bytes_dup(&ac->content.application_data, data,
                                     sizeof(data)),
                       0);
      break;
    case MLS_CONTENT_PROPOSAL:
      ac->content.proposal.proposal_type = MLS_PROPOSAL_REMOVE;
      ac->content.proposal.remove.removed = 0;
      break;
    default:
      ck_assert_int_eq(mls_bytes_dup(&ac->auth.confirmation_tag, tag,
                                     sizeof(tag)),
                       0);
      break;
  }
  ck_assert_int_eq(mls_authenticated_content_sign(F.suite, ac, &F.gc,
                                                  F.sig_priv,
                                                  F.suite->sig->priv_len),
                   0);
}

static mls_secret_tree *fx_tree(void) {
  mls_secret_tree *st = NULL;
  ck_assert_int_eq(mls_secret_tree_new(&st, F.suite, F.enc, sizeof(F.enc), 2,
                                       NULL),
                   0);
  return st;
}

/* ----------------------------------------------------- PublicMessage */

START_TEST(test_public_rules) {
  mls_authenticated_content ac, got;
  mls_public_message pm;
  fx_setup();
  memset(&pm, 0, sizeof(pm));
  memset(&got, 0, sizeof(got));

  /* Application data is refused as PublicMessage. */
  fx_content(&ac, MLS_WIRE_PUBLIC_MESSAGE, MLS_CONTENT_APPLICATION);
  ck_assert_int_eq(mls_public_message_protect(F.suite, &pm, &ac, &F.gc, F.mkey,
                                              sizeof(F.mkey)),
                   MG_ERR_CONTENT_TYPE);
  mls_authenticated_content_cleanup(&ac);
  /* Wrong wire format. */
  fx_content(&ac, MLS_WIRE_PRIVATE_MESSAGE, MLS_CONTENT_PROPOSAL);
  ck_assert_int_eq(mls_public_message_protect(F.suite, &pm, &ac, &F.gc, F.mkey,
                                              sizeof(F.mkey)),
                   MG_ERR_WIRE_FORMAT);
  mls_authenticated_content_cleanup(&ac);

  for (int type = MLS_CONTENT_PROPOSAL; type <= MLS_CONTENT_COMMIT; type++) {
    fx_content(&ac, MLS_WIRE_PUBLIC_MESSAGE, (uint8_t)type);
    ck_assert_int_eq(mls_public_message_protect(F.suite, &pm, &ac, &F.gc,
                                                F.mkey, sizeof(F.mkey)),
                     0);
    ck_assert_uint_eq(pm.membership_tag.len, 32);
    ck_assert_int_eq(mls_public_message_unprotect(F.suite, &got, &pm, &F.gc,
                                                  F.mkey, sizeof(F.mkey),
                                                  F.sig_pub,
                                                  F.suite->sig->pub_len),
                     0);
    ck_assert_uint_eq(got.content.content_type, (unsigned)type);
    ck_assert(mls_bytes_eq(&got.auth.signature, &ac.auth.signature));
    mls_authenticated_content_cleanup(&got);
    /* Membership tag */
    pm.membership_tag.data[3] ^= 1;
    ck_assert_int_eq(mls_public_message_unprotect(F.suite, &got, &pm, &F.gc,
                                                  F.mkey, sizeof(F.mkey),
                                                  F.sig_pub,
                                                  F.suite->sig->pub_len),
                     MG_ERR_MEMBERSHIP_TAG);
    pm.membership_tag.data[3] ^= 1;
    /* Another membership key */
    F.mkey[0] ^= 1;
    ck_assert_int_eq(mls_public_message_unprotect(F.suite, &got, &pm, &F.gc,
                                                  F.mkey, sizeof(F.mkey),
                                                  F.sig_pub,
                                                  F.suite->sig->pub_len),
                     MG_ERR_MEMBERSHIP_TAG);
    F.mkey[0] ^= 1;
    /* Signature by another key */
    ck_assert_int_eq(mls_public_message_unprotect(F.suite, &got, &pm, &F.gc,
                                                  F.mkey, sizeof(F.mkey),
                                                  F.other_pub,
                                                  F.suite->sig->pub_len),
                     MG_ERR_SIGNATURE);
    /* Group id and epoch */
    F.gid[0] ^= 1;
    ck_assert_int_eq(mls_public_message_unprotect(F.suite, &got, &pm, &F.gc,
                                                  F.mkey, sizeof(F.mkey),
                                                  F.sig_pub,
                                                  F.suite->sig->pub_len),
                     MG_ERR_GROUP_ID);
    F.gid[0] ^= 1;
    F.gc.epoch++;
    ck_assert_int_eq(mls_public_message_unprotect(F.suite, &got, &pm, &F.gc,
                                                  F.mkey, sizeof(F.mkey),
                                                  F.sig_pub,
                                                  F.suite->sig->pub_len),
                     MG_ERR_EPOCH);
    F.gc.epoch--;
    mls_public_message_cleanup(&pm);
    mls_authenticated_content_cleanup(&ac);
  }

  /* A PublicMessage carrying application data is refused on receipt. */
  fx_content(&ac, MLS_WIRE_PUBLIC_MESSAGE, MLS_CONTENT_PROPOSAL);
  ck_assert_int_eq(mls_public_message_protect(F.suite, &pm, &ac, &F.gc, F.mkey,
                                              sizeof(F.mkey)),
                   0);
  mls_proposal_cleanup(&pm.content.proposal);
  pm.content.content_type = MLS_CONTENT_APPLICATION;
  ck_assert_int_eq(mls_bytes_dup(&pm.content.application_data,
                                 (const uint8_t *)"x", 1),
                   0);
  ck_assert_int_eq(mls_public_message_unprotect(F.suite, &got, &pm, &F.gc,
                                                F.mkey, sizeof(F.mkey),
                                                F.sig_pub,
                                                F.suite->sig->pub_len),
                   MG_ERR_CONTENT_TYPE);
  mls_public_message_cleanup(&pm);
  mls_authenticated_content_cleanup(&ac);
}
END_TEST

/* ---------------------------------------------------- PrivateMessage */

START_TEST(test_private_rules) {
  mls_authenticated_content ac, got;
  mls_private_message pm;
  fx_setup();
  memset(&got, 0, sizeof(got));
  for (int type = MLS_CONTENT_APPLICATION; type <= MLS_CONTENT_COMMIT; type++) {
    mls_secret_tree *snd = fx_tree();
    mls_secret_tree *rcv = fx_tree();
    fx_content(&ac, MLS_WIRE_PRIVATE_MESSAGE, (uint8_t)type);
    ck_assert_int_eq(mls_private_message_protect(F.suite, &pm, &ac, snd, F.sds,
                                                 sizeof(F.sds), 7, NULL),
                     0);
    /* Tampered ciphertext: MG_ERR_AUTH, and nothing is consumed. */
    pm.ciphertext.data[pm.ciphertext.len - 1] ^= 1;
    ck_assert_int_eq(mls_private_message_unprotect(F.suite, &got, &pm, &F.gc,
                                                   rcv, F.sds, sizeof(F.sds),
                                                   fx_lookup, NULL),
                     MG_ERR_AUTH);
    pm.ciphertext.data[pm.ciphertext.len - 1] ^= 1;
    /* Tampered sender data. */
    pm.encrypted_sender_data.data[0] ^= 1;
    ck_assert_int_eq(mls_private_message_unprotect(F.suite, &got, &pm, &F.gc,
                                                   rcv, F.sds, sizeof(F.sds),
                                                   fx_lookup, NULL),
                     MG_ERR_AUTH);
    pm.encrypted_sender_data.data[0] ^= 1;
    /* Blank sender leaf. */
    F.blank_leaf = 1;
    ck_assert_int_eq(mls_private_message_unprotect(F.suite, &got, &pm, &F.gc,
                                                   rcv, F.sds, sizeof(F.sds),
                                                   fx_lookup, NULL),
                     MG_ERR_SENDER);
    F.blank_leaf = 0;
    /* Signature by another key: refused, generation not consumed. */
    F.wrong_key = 1;
    ck_assert_int_eq(mls_private_message_unprotect(F.suite, &got, &pm, &F.gc,
                                                   rcv, F.sds, sizeof(F.sds),
                                                   fx_lookup, NULL),
                     MG_ERR_SIGNATURE);
    F.wrong_key = 0;
    /* Epoch */
    F.gc.epoch++;
    ck_assert_int_eq(mls_private_message_unprotect(F.suite, &got, &pm, &F.gc,
                                                   rcv, F.sds, sizeof(F.sds),
                                                   fx_lookup, NULL),
                     MG_ERR_EPOCH);
    F.gc.epoch--;
    /* The genuine message still decrypts... */
    ck_assert_int_eq(mls_private_message_unprotect(F.suite, &got, &pm, &F.gc,
                                                   rcv, F.sds, sizeof(F.sds),
                                                   fx_lookup, NULL),
                     0);
    ck_assert_uint_eq(got.wire_format, MLS_WIRE_PRIVATE_MESSAGE);
    ck_assert_uint_eq(got.content.sender.leaf_index, 1);
    ck_assert(mls_bytes_eq(&got.content.authenticated_data,
                           &ac.content.authenticated_data));
    ck_assert(mls_bytes_eq(&got.auth.signature, &ac.auth.signature));
    ck_assert(mls_bytes_eq(&got.auth.confirmation_tag,
                           &ac.auth.confirmation_tag));
    if (type == MLS_CONTENT_APPLICATION) {
      ck_assert(mls_bytes_eq(&got.content.application_data,
                             &ac.content.application_data));
    }
    mls_authenticated_content_cleanup(&got);
    /* ...once: a replay finds its key deleted. */
    ck_assert_int_eq(mls_private_message_unprotect(F.suite, &got, &pm, &F.gc,
                                                   rcv, F.sds, sizeof(F.sds),
                                                   fx_lookup, NULL),
                     MG_ERR_GENERATION);
    mls_private_message_cleanup(&pm);
    /* A non-member sender cannot send a PrivateMessage. */
    ac.content.sender.sender_type = MLS_SENDER_NEW_MEMBER_COMMIT;
    ck_assert_int_eq(mls_private_message_protect(F.suite, &pm, &ac, snd, F.sds,
                                                 sizeof(F.sds), 0, NULL),
                     MG_ERR_SENDER);
    mls_authenticated_content_cleanup(&ac);
    mls_secret_tree_free(snd);
    mls_secret_tree_free(rcv);
  }
}
END_TEST

START_TEST(test_private_reuse_guard) {
  static const uint8_t g1[4] = {0, 0, 0, 0};
  static const uint8_t g2[4] = {0, 0, 0, 1};
  mls_authenticated_content ac;
  mls_private_message a, b;
  fx_setup();
  fx_content(&ac, MLS_WIRE_PRIVATE_MESSAGE, MLS_CONTENT_APPLICATION);
  mls_secret_tree *s1 = fx_tree();
  mls_secret_tree *s2 = fx_tree();
  mls_secret_tree *s3 = fx_tree();
  ck_assert_int_eq(mls_private_message_protect(F.suite, &a, &ac, s1, F.sds,
                                               sizeof(F.sds), 0, g1),
                   0);
  ck_assert_int_eq(mls_private_message_protect(F.suite, &b, &ac, s2, F.sds,
                                               sizeof(F.sds), 0, g1),
                   0);
  /* Same generation, same guard: same bytes (deterministic apart from the
   * guard). */
  ck_assert(mls_bytes_eq(&a.ciphertext, &b.ciphertext));
  mls_private_message_cleanup(&b);
  ck_assert_int_eq(mls_private_message_protect(F.suite, &b, &ac, s3, F.sds,
                                               sizeof(F.sds), 0, g2),
                   0);
  /* Another guard changes the nonce, hence the ciphertext. */
  ck_assert(!mls_bytes_eq(&a.ciphertext, &b.ciphertext));
  /* Random guards (NULL) differ between messages of the same generation
   * with overwhelming probability. */
  mls_private_message_cleanup(&a);
  mls_private_message_cleanup(&b);
  mls_secret_tree_free(s1);
  mls_secret_tree_free(s2);
  s1 = fx_tree();
  s2 = fx_tree();
  ck_assert_int_eq(mls_private_message_protect(F.suite, &a, &ac, s1, F.sds,
                                               sizeof(F.sds), 0, NULL),
                   0);
  ck_assert_int_eq(mls_private_message_protect(F.suite, &b, &ac, s2, F.sds,
                                               sizeof(F.sds), 0, NULL),
                   0);
  ck_assert(!mls_bytes_eq(&a.ciphertext, &b.ciphertext));
  mls_private_message_cleanup(&a);
  mls_private_message_cleanup(&b);
  mls_authenticated_content_cleanup(&ac);
  mls_secret_tree_free(s1);
  mls_secret_tree_free(s2);
  mls_secret_tree_free(s3);
}
END_TEST

/* Protects an application message with 4 bytes of padding, then, as a
 * sender knowing the keys could, re-encrypts its content with the padding
 * byte before last set to |pad_byte| (and the sender data, whose key depends
 * on the ciphertext sample), and returns what the receiver says. */
static int forge_padding(uint8_t pad_byte) {
  mls_authenticated_content ac, got;
  mls_private_message pm;
  mls_key_nonce kn, sdkn;
  mg_writer aad, sdw;
  static const uint8_t guard[4] = {0, 0, 0, 0};
  const mg_aead_alg *aead = F.suite->aead;
  mls_leaf_idx l1 = {1};

  memset(&got, 0, sizeof(got));
  fx_content(&ac, MLS_WIRE_PRIVATE_MESSAGE, MLS_CONTENT_APPLICATION);
  mls_secret_tree *snd = fx_tree();
  mls_secret_tree *keys = fx_tree();
  mls_secret_tree *rcv = fx_tree();
  ck_assert_int_eq(mls_private_message_protect(F.suite, &pm, &ac, snd, F.sds,
                                               sizeof(F.sds), 4, guard),
                   0);
  ck_assert_int_eq(mls_secret_tree_get(keys, &kn, l1, MLS_RATCHET_APPLICATION,
                                       0),
                   0);
  ck_assert_int_eq(mg_writer_init(&aad, 64, 0), 0);
  ck_assert_int_eq(mls_private_content_aad_encode(&aad, &pm), 0);
  size_t pt_len = pm.ciphertext.len - aead->tag_len;
  uint8_t *pt = malloc(pt_len);
  ck_assert_ptr_nonnull(pt);
  ck_assert_int_eq(aead->open(aead, pt, kn.key, kn.nonce, kn.nonce_len,
                              mg_writer_data(&aad), mg_writer_len(&aad),
                              pm.ciphertext.data, pm.ciphertext.len),
                   0);
  ck_assert_uint_eq(pt[pt_len - 2], 0);
  pt[pt_len - 2] = pad_byte;
  ck_assert_int_eq(aead->seal(aead, pm.ciphertext.data, kn.key, kn.nonce,
                              kn.nonce_len, mg_writer_data(&aad),
                              mg_writer_len(&aad), pt, pt_len),
                   0);
  mls_sender_data sd = {1, 0, {0, 0, 0, 0}};
  ck_assert_int_eq(mls_sender_data_key_nonce(F.suite, &sdkn, F.sds,
                                             sizeof(F.sds), pm.ciphertext.data,
                                             pm.ciphertext.len),
                   0);
  mg_writer_cleanup(&aad);
  ck_assert_int_eq(mg_writer_init(&aad, 64, 0), 0);
  ck_assert_int_eq(mls_sender_data_aad_encode(&aad, &pm), 0);
  ck_assert_int_eq(mg_writer_init(&sdw, 16, 0), 0);
  ck_assert_int_eq(mls_sender_data_encode(&sdw, &sd), 0);
  ck_assert_uint_eq(pm.encrypted_sender_data.len,
                    mg_writer_len(&sdw) + aead->tag_len);
  ck_assert_int_eq(aead->seal(aead, pm.encrypted_sender_data.data, sdkn.key,
                              sdkn.nonce, sdkn.nonce_len, mg_writer_data(&aad),
                              mg_writer_len(&aad), mg_writer_data(&sdw),
                              mg_writer_len(&sdw)),
                   0);
  int rc = mls_private_message_unprotect(F.suite, &got, &pm, &F.gc, rcv, F.sds,
                                         sizeof(F.sds), fx_lookup, NULL);
  free(pt);
  mg_writer_cleanup(&aad);
  mg_writer_cleanup(&sdw);
  mls_key_nonce_cleanup(&kn);
  mls_key_nonce_cleanup(&sdkn);
  mls_private_message_cleanup(&pm);
  mls_authenticated_content_cleanup(&ac);
  mls_authenticated_content_cleanup(&got);
  mls_secret_tree_free(snd);
  mls_secret_tree_free(keys);
  mls_secret_tree_free(rcv);
  return rc;
}

START_TEST(test_private_padding) {
  fx_setup();
  /* The forging itself is sound: zero padding re-encrypted is accepted. */
  ck_assert_int_eq(forge_padding(0), 0);
  ck_assert_int_eq(forge_padding(1), MG_ERR_PADDING);
  ck_assert_int_eq(forge_padding(0x80), MG_ERR_PADDING);
}
END_TEST

START_TEST(test_transcript_input_commit_only) {
  mls_authenticated_content ac;
  mg_writer w;
  mls_transcript t0, t1;
  fx_setup();
  fx_content(&ac, MLS_WIRE_PUBLIC_MESSAGE, MLS_CONTENT_PROPOSAL);
  ck_assert_int_eq(mg_writer_init(&w, 64, 0), 0);
  ck_assert_int_eq(mls_confirmed_transcript_input_encode(&w, &ac),
                   MG_ERR_CONTENT_TYPE);
  mls_transcript_init(&t0);
  ck_assert_int_eq(mls_transcript_next_commit(F.suite, &t1, &t0, &ac),
                   MG_ERR_CONTENT_TYPE);
  mls_authenticated_content_cleanup(&ac);
  mg_writer_cleanup(&w);
  /* For a commit the input is the AuthenticatedContent without its tag. */
  fx_content(&ac, MLS_WIRE_PUBLIC_MESSAGE, MLS_CONTENT_COMMIT);
  uint8_t *full = NULL;
  size_t full_len = 0;
  ck_assert_int_eq(mls_authenticated_content_serialize(&ac, &full, &full_len),
                   0);
  ck_assert_int_eq(mg_writer_init(&w, 64, 0), 0);
  ck_assert_int_eq(mls_confirmed_transcript_input_encode(&w, &ac), 0);
  ck_assert_uint_eq(mg_writer_len(&w) + 1 + ac.auth.confirmation_tag.len,
                    full_len);
  ck_assert_mem_eq(mg_writer_data(&w), full, mg_writer_len(&w));
  free(full);
  mg_writer_cleanup(&w);
  mls_authenticated_content_cleanup(&ac);
}
END_TEST

/* ------------------------------------------------------------ Welcome */

typedef struct wfx {
  const mls_suite *suite;
  mls_message kp, wm;
  mg_hpke_key key;
  uint8_t ref[MG_MAX_HASH_LEN];
  size_t ref_len;
  uint8_t *signer_pub;
  size_t signer_pub_len;
} wfx;

static void hex_field(const json_t *c, const char *k, uint8_t **p, size_t *n) {
  const json_t *v = json_object_get(c, k);
  ck_assert(json_is_string(v));
  ck_assert_int_eq(mg_hex_decode(p, n, json_string_value(v),
                                 json_string_length(v)),
                   0);
}

/* Loads welcome.json case 0 (suite 1). */
static void wfx_load(wfx *x) {
  char path[4096];
  json_error_t jerr;
  uint8_t *b = NULL;
  size_t n = 0;
  memset(x, 0, sizeof(*x));
  snprintf(path, sizeof(path), "%s/mls/welcome.json", mg_st_default_dir());
  json_t *root = json_load_file(path, 0, &jerr);
  ck_assert_ptr_nonnull(root);
  const json_t *c = json_array_get(root, 0);
  x->suite = mls_suite_by_id(1);
  hex_field(c, "key_package", &b, &n);
  ck_assert_int_eq(mls_message_decode_bytes(b, n, &x->kp), 0);
  free(b);
  hex_field(c, "welcome", &b, &n);
  ck_assert_int_eq(mls_message_decode_bytes(b, n, &x->wm), 0);
  free(b);
  hex_field(c, "init_priv", &b, &n);
  ck_assert_int_eq(mg_hpke_key_init(&x->key, x->suite->kem, b, n), 0);
  free(b);
  hex_field(c, "signer_pub", &x->signer_pub, &x->signer_pub_len);
  ck_assert_int_eq(mls_key_package_ref(&x->kp.key_package, x->ref,
                                       sizeof(x->ref), &x->ref_len),
                   0);
  json_decref(root);
}

static void wfx_free(wfx *x) {
  mls_message_cleanup(&x->kp);
  mls_message_cleanup(&x->wm);
  mg_hpke_key_cleanup(&x->key);
  free(x->signer_pub);
}

START_TEST(test_welcome_rules) {
  wfx x;
  mls_group_secrets gs;
  mls_group_info gi, gi2;
  mls_epoch_secrets *ep = NULL, *ep2 = NULL;
  wfx_load(&x);
  mls_welcome *w = &x.wm.welcome;

  /* No entry for another KeyPackageRef. */
  x.ref[0] ^= 1;
  ck_assert_int_eq(mls_welcome_open_secrets(x.suite, &gs, w, x.ref, x.ref_len,
                                            &x.key),
                   MG_ERR_WELCOME);
  x.ref[0] ^= 1;
  /* The Welcome's suite must be the one we use. */
  ck_assert_int_eq(mls_welcome_open_secrets(mls_suite_by_id(3), &gs, w, x.ref,
                                            x.ref_len, &x.key),
                   MG_ERR_UNSUPPORTED);
  ck_assert_int_eq(mls_welcome_open_secrets(x.suite, &gs, w, x.ref, x.ref_len,
                                            &x.key),
                   0);
  ck_assert_int_eq(mls_welcome_open_info(x.suite, &gi, &ep, w,
                                         gs.joiner_secret.data,
                                         gs.joiner_secret.len, NULL, 0),
                   0);
  ck_assert_int_eq(mls_group_info_verify(x.suite, &gi, x.signer_pub,
                                         x.signer_pub_len),
                   0);
  /* A PSK the sender did not use changes the welcome key. */
  uint8_t psk[32] = {1};
  ck_assert_int_eq(mls_welcome_open_info(x.suite, &gi2, &ep2, w,
                                         gs.joiner_secret.data,
                                         gs.joiner_secret.len, psk, 32),
                   MG_ERR_AUTH);
  /* Tampered GroupInfo ciphertext. */
  w->encrypted_group_info.data[5] ^= 1;
  ck_assert_int_eq(mls_welcome_open_info(x.suite, &gi2, &ep2, w,
                                         gs.joiner_secret.data,
                                         gs.joiner_secret.len, NULL, 0),
                   MG_ERR_AUTH);
  w->encrypted_group_info.data[5] ^= 1;
  /* A GroupInfo with a wrong confirmation tag, sealed properly. */
  gi.confirmation_tag.data[0] ^= 1;
  mls_bytes_cleanup(&w->encrypted_group_info);
  ck_assert_int_eq(mls_welcome_seal_info(x.suite, &w->encrypted_group_info, &gi,
                                         ep->welcome_secret, ep->nh),
                   0);
  ck_assert_int_eq(mls_welcome_open_info(x.suite, &gi2, &ep2, w,
                                         gs.joiner_secret.data,
                                         gs.joiner_secret.len, NULL, 0),
                   MG_ERR_CONFIRMATION_TAG);
  ck_assert_ptr_null(ep2);
  /* The signature covers the tag. */
  ck_assert_int_eq(mls_group_info_verify(x.suite, &gi, x.signer_pub,
                                         x.signer_pub_len),
                   MG_ERR_SIGNATURE);
  gi.confirmation_tag.data[0] ^= 1;
  gi.signature.data[gi.signature.len / 2] ^= 1;
  ck_assert_int_eq(mls_group_info_verify(x.suite, &gi, x.signer_pub,
                                         x.signer_pub_len),
                   MG_ERR_SIGNATURE);
  mls_group_secrets_cleanup(&gs);
  mls_group_info_cleanup(&gi);
  mls_epoch_secrets_free(ep);
  wfx_free(&x);
}
END_TEST

START_TEST(test_group_info_sign) {
  wfx x;
  mls_group_secrets gs;
  mls_group_info gi;
  mls_epoch_secrets *ep = NULL;
  uint8_t priv[MG_MAX_SIG_PRIV_LEN], pub[MG_MAX_SIG_PUB_LEN];
  wfx_load(&x);
  ck_assert_int_eq(mls_welcome_open_secrets(x.suite, &gs, &x.wm.welcome, x.ref,
                                            x.ref_len, &x.key),
                   0);
  ck_assert_int_eq(mls_welcome_open_info(x.suite, &gi, &ep, &x.wm.welcome,
                                         gs.joiner_secret.data,
                                         gs.joiner_secret.len, NULL, 0),
                   0);
  ck_assert_int_eq(x.suite->sig->generate(x.suite->sig, priv, pub), 0);
  ck_assert_int_eq(mls_group_info_sign(x.suite, &gi, priv,
                                       x.suite->sig->priv_len),
                   0);
  ck_assert_int_eq(mls_group_info_verify(x.suite, &gi, pub,
                                         x.suite->sig->pub_len),
                   0);
  ck_assert_int_eq(mls_group_info_verify(x.suite, &gi, x.signer_pub,
                                         x.signer_pub_len),
                   MG_ERR_SIGNATURE);
  mls_group_secrets_cleanup(&gs);
  mls_group_info_cleanup(&gi);
  mls_epoch_secrets_free(ep);
  wfx_free(&x);
}
END_TEST

/* --------------------------------------------------------------- main */

int main(void) {
  if (mg_crypto_init() < 0) {
    fprintf(stderr, "crypto init failed\n");
    return 1;
  }
  Suite *s = suite_create("framing");
  TCase *tc = tcase_create("units");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_public_rules);
  tcase_add_test(tc, test_private_rules);
  tcase_add_test(tc, test_private_reuse_guard);
  tcase_add_test(tc, test_private_padding);
  tcase_add_test(tc, test_transcript_input_commit_only);
  tcase_add_test(tc, test_welcome_rules);
  tcase_add_test(tc, test_group_info_sign);
  suite_add_tcase(s, tc);
  mg_vec_add(s, "framing vectors", files, sizeof(files) / sizeof(files[0]));
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  mg_vec_release();
  return failed == 0 ? 0 : 1;
}
