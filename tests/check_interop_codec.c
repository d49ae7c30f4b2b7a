/*
 * Interop cross-check against ts-mls, an independent RFC 9420 implementation
 * (TypeScript; tests/interop/tsmls_vectors.mjs).  The Node script makes a
 * group history per cipher suite and writes every wire message it produced
 * as hex into a JSON file named by MLSGATE_INTEROP_JSON (tests/interop.sh
 * runs both).  Here, with our code only:
 *   - every MLSMessage (KeyPackages, Welcomes, PublicMessage and
 *     PrivateMessage commits and proposals, application messages, GroupInfo)
 *     and every ratchet tree decodes and re-encodes byte for byte;
 *   - KeyPackage and leaf signatures verify (RFC 9420 §10.1, §7.3), and a
 *     flipped bit in either is rejected;
 *   - every ratchet tree passes mls_tree_validate (structure, unique keys,
 *     parent hashes §7.9.2, leaf signatures);
 *   - the GroupInfo's ratchet_tree extension hashes to its GroupContext's
 *     tree_hash (§7.8) and its signature verifies (§12.4.3);
 *   - each Welcome opens with the joiner's init key (§12.4.3.1): GroupSecrets,
 *     GroupInfo with its confirmation tag, tree hash and signature; with the
 *     epoch secrets it yields, the application messages of that epoch (one
 *     from each member) decrypt and verify (§6.3) to the bytes ts-mls sent;
 *   - the leaf node of each PublicMessage commit's UpdatePath verifies and
 *     is the committer's leaf in the next epoch's tree.
 * Without MLSGATE_INTEROP_JSON the program exits 77 (automake's skip).
 */
#include "config.h"

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/hex.h"
#include "crypto/crypto.h"
#include "crypto/hpke.h"
#include "crypto/suite.h"
#include "mls/bytes.h"
#include "mls/constants.h"
#include "mls/framing.h"
#include "mls/key_schedule.h"
#include "mls/msg_context.h"
#include "mls/msg_framing.h"
#include "mls/msg_leaf.h"
#include "mls/secret_tree.h"
#include "mls/tree.h"
#include "mls/welcome.h"

static json_t *g_root;

/* The suites ts-mls 1.6.4 supports with the packages pinned in
 * tests/interop/package.json: all seven of RFC 9420. */
#define ALL_SUITES 0xfeu

static const json_t *get_case(int i) {
  const json_t *c = json_array_get(json_object_get(g_root, "cases"), (size_t)i);
  ck_assert_ptr_nonnull(c);
  return c;
}

static void unhex(const json_t *v, uint8_t **p, size_t *n) {
  ck_assert_msg(json_is_string(v), "hex string expected");
  ck_assert_int_eq(
      mg_hex_decode(p, n, json_string_value(v), json_string_length(v)), 0);
}

static const mls_suite *case_suite(const json_t *c) {
  json_int_t id = json_integer_value(json_object_get(c, "cipher_suite"));
  const mls_suite *s = mls_suite_by_id((uint16_t)id);
  ck_assert_msg(s != NULL, "suite %d unknown", (int)id);
  return s;
}

/* ts-mls's group id for the suite (see tsmls_vectors.mjs). */
static size_t case_group_id(const json_t *c, char *buf, size_t cap) {
  int n = snprintf(buf, cap, "interop-%d",
                   (int)json_integer_value(json_object_get(c, "cipher_suite")));
  ck_assert(n > 0 && (size_t)n < cap);
  return (size_t)n;
}

/* Decodes the MLSMessage in hex |v| into |m| and checks that it re-encodes
 * to the same bytes and has wire format |wf|. */
static void decode_roundtrip(const json_t *v, uint16_t wf, mls_message *m) {
  uint8_t *b = NULL, *e = NULL;
  size_t n = 0, en = 0;
  unhex(v, &b, &n);
  memset(m, 0, sizeof(*m));
  int rc = mls_message_decode_bytes(b, n, m);
  ck_assert_msg(rc == 0, "decode of a %zu-byte message (wire format %u): %d",
                n, (unsigned)wf, rc);
  ck_assert_uint_eq(m->wire_format, wf);
  ck_assert_int_eq(mls_message_serialize(m, &e, &en), 0);
  ck_assert_uint_eq(en, n);
  ck_assert_mem_eq(e, b, n);
  free(b);
  free(e);
}

/* Content type of a decoded PublicMessage or PrivateMessage. */
static uint8_t content_type(const mls_message *m) {
  if (m->wire_format == MLS_WIRE_PUBLIC_MESSAGE) {
    return m->public_message.content.content_type;
  }
  ck_assert_uint_eq(m->wire_format, MLS_WIRE_PRIVATE_MESSAGE);
  return m->private_message.content_type;
}

static uint16_t framed_wire_format(const json_t *v) {
  uint8_t *b = NULL;
  size_t n = 0;
  unhex(v, &b, &n);
  ck_assert_uint_ge(n, 4);
  uint16_t wf = (uint16_t)((b[2] << 8) | b[3]);
  free(b);
  ck_assert(wf == MLS_WIRE_PUBLIC_MESSAGE || wf == MLS_WIRE_PRIVATE_MESSAGE);
  return wf;
}

/* Decodes the ratchet tree in hex |v| into |t| (validated), checking that
 * both the raw codec and the tree re-encode byte for byte. */
static void load_tree(const json_t *c, const json_t *v, mls_tree *t) {
  uint8_t *b = NULL;
  size_t n = 0;
  char gid[32];
  size_t gid_len = case_group_id(c, gid, sizeof(gid));
  unhex(v, &b, &n);
  mls_ratchet_tree rt;
  memset(&rt, 0, sizeof(rt));
  mg_reader r;
  mg_reader_init(&r, b, n);
  ck_assert_int_eq(mls_ratchet_tree_decode(&r, &rt), 0);
  ck_assert_int_eq(mg_reader_done(&r), 0);
  mg_writer w;
  ck_assert_int_eq(mg_writer_init(&w, n, n + 64), 0);
  ck_assert_int_eq(mls_ratchet_tree_encode(&w, &rt), 0);
  ck_assert_uint_eq(mg_writer_len(&w), n);
  ck_assert_mem_eq(mg_writer_data(&w), b, n);
  mg_writer_cleanup(&w);
  mls_ratchet_tree_cleanup(&rt);

  mls_tree_zero(t);
  ck_assert_int_eq(mls_tree_decode(t, case_suite(c), b, n), 0);
  int rc = mls_tree_validate(t, (const uint8_t *)gid, gid_len);
  ck_assert_msg(rc == 0, "suite %d: tree of %zu bytes does not validate: %d",
                (int)case_suite(c)->id, n, rc);
  ck_assert_int_eq(mg_writer_init(&w, n, n + 64), 0);
  ck_assert_int_eq(mls_tree_encode(&w, t), 0);
  ck_assert_uint_eq(mg_writer_len(&w), n);
  ck_assert_mem_eq(mg_writer_data(&w), b, n);
  mg_writer_cleanup(&w);
  free(b);
}

/* Checks a GroupInfo against |t|: tree hash and signature. */
static void check_group_info(const mls_suite *suite, const mls_group_info *gi,
                             mls_tree *t) {
  uint8_t th[MG_MAX_HASH_LEN];
  size_t th_len = 0;
  ck_assert_uint_eq(gi->group_context.cipher_suite, suite->id);
  ck_assert_int_eq(mls_tree_hash(t, th, sizeof(th), &th_len), 0);
  ck_assert_uint_eq(th_len, gi->group_context.tree_hash.len);
  ck_assert_mem_eq(th, gi->group_context.tree_hash.data, th_len);
  const mls_leaf_node *signer = mls_tree_leaf(t, (mls_leaf_idx){gi->signer});
  ck_assert_ptr_nonnull(signer);
  ck_assert_int_eq(mls_group_info_verify(suite, gi, signer->signature_key.data,
                                         signer->signature_key.len),
                   0);
  /* A flipped bit in the signature is caught. */
  mls_group_info bad;
  memset(&bad, 0, sizeof(bad));
  bad = *gi;
  ck_assert_int_eq(mls_bytes_copy(&bad.signature, &gi->signature), 0);
  bad.signature.data[bad.signature.len / 2] ^= 0x10;
  ck_assert_int_eq(mls_group_info_verify(suite, &bad, signer->signature_key.data,
                                         signer->signature_key.len),
                   MG_ERR_SIGNATURE);
  mls_bytes_cleanup(&bad.signature);
}

/* ts-mls ran every suite we asked for (1..7). */
START_TEST(test_suites) {
  const json_t *cases = json_object_get(g_root, "cases");
  const json_t *uns = json_object_get(g_root, "unsupported");
  size_t k;
  const json_t *u;
  json_array_foreach(uns, k, u) {
    fprintf(stderr, "ts-mls: suite %d unsupported: %s\n",
            (int)json_integer_value(json_object_get(u, "cipher_suite")),
            json_string_value(json_object_get(u, "reason")));
  }
  unsigned seen = 0;
  const json_t *c;
  json_array_foreach(cases, k, c) {
    json_int_t id = json_integer_value(json_object_get(c, "cipher_suite"));
    ck_assert(id >= 1 && id <= 7);
    seen |= 1u << id;
  }
  ck_assert_uint_eq(seen, ALL_SUITES);
}
END_TEST

/* Every message decodes, has the expected wire format and content type, and
 * re-encodes byte for byte. */
START_TEST(test_codec) {
  const json_t *c = get_case(_i);
  static const struct {
    const char *field;
    uint16_t wf; /* 0: framed (public or private) */
    uint8_t ct;
  } kinds[] = {
      {"key_packages", MLS_WIRE_KEY_PACKAGE, 0},
      {"commits", 0, MLS_CONTENT_COMMIT},
      {"proposals", 0, MLS_CONTENT_PROPOSAL},
      {"application", MLS_WIRE_PRIVATE_MESSAGE, MLS_CONTENT_APPLICATION},
      {"group_infos", MLS_WIRE_GROUP_INFO, 0},
  };
  size_t total = 0;
  for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
    const json_t *arr = json_object_get(c, kinds[k].field);
    ck_assert_msg(json_array_size(arr) > 0, "no %s", kinds[k].field);
    size_t j;
    const json_t *v;
    json_array_foreach(arr, j, v) {
      uint16_t wf = kinds[k].wf != 0 ? kinds[k].wf : framed_wire_format(v);
      mls_message m;
      decode_roundtrip(v, wf, &m);
      if (kinds[k].ct != 0) {
        ck_assert_uint_eq(content_type(&m), kinds[k].ct);
      }
      mls_message_cleanup(&m);
      total++;
    }
  }
  size_t j;
  const json_t *v;
  json_array_foreach(json_object_get(c, "welcomes"), j, v) {
    mls_message m;
    decode_roundtrip(json_object_get(v, "welcome"), MLS_WIRE_WELCOME, &m);
    ck_assert_uint_eq(m.welcome.cipher_suite, case_suite(c)->id);
    mls_message_cleanup(&m);
    total++;
  }
  ck_assert_uint_ge(total, 12);
}
END_TEST

/* KeyPackages verify (§10.1) and satisfy the capability rules (§7.2); a
 * flipped bit in either signature is rejected. */
START_TEST(test_key_packages) {
  const json_t *c = get_case(_i);
  const mls_suite *suite = case_suite(c);
  size_t j;
  const json_t *v;
  json_array_foreach(json_object_get(c, "key_packages"), j, v) {
    mls_message m;
    decode_roundtrip(v, MLS_WIRE_KEY_PACKAGE, &m);
    mls_key_package *kp = &m.key_package;
    ck_assert_uint_eq(kp->cipher_suite, suite->id);
    ck_assert_uint_eq(kp->leaf_node.leaf_node_source, MLS_LEAF_SOURCE_KEY_PACKAGE);
    ck_assert_int_eq(mls_key_package_verify(kp), 0);
    ck_assert_int_eq(mls_leaf_node_check_capabilities(&kp->leaf_node), 0);
    ck_assert_int_eq(mls_leaf_node_verify(suite, &kp->leaf_node, NULL, 0, 0), 0);
    kp->signature.data[0] ^= 1;
    ck_assert_int_eq(mls_key_package_verify(kp), MG_ERR_SIGNATURE);
    kp->signature.data[0] ^= 1;
    kp->leaf_node.signature.data[0] ^= 1;
    ck_assert_int_eq(mls_key_package_verify(kp), MG_ERR_LEAF_SIGNATURE);
    mls_message_cleanup(&m);
  }
}
END_TEST

/* A KeyPackage made with ts-mls's own signature key generation: ts-mls
 * 1.6.4 gives ECDSA keys in compressed form, which RFC 9420 §5.1.1 does not
 * allow (UncompressedPointRepresentation, RFC 8446 §4.2.8.2); we reject
 * such a leaf.  A key of the right form must verify. */
START_TEST(test_default_key_package) {
  const json_t *c = get_case(_i);
  const mls_suite *suite = case_suite(c);
  mls_message m;
  decode_roundtrip(json_object_get(c, "default_key_package"),
                   MLS_WIRE_KEY_PACKAGE, &m);
  size_t len = m.key_package.leaf_node.signature_key.len;
  if (len == suite->sig->pub_len) {
    ck_assert_int_eq(mls_key_package_verify(&m.key_package), 0);
  } else {
    fprintf(stderr,
            "NOTE: suite %d: ts-mls's default signature key is %zu bytes "
            "(%s needs %zu, RFC 9420 §5.1.1); KeyPackage rejected\n",
            (int)suite->id, len, suite->sig->name, suite->sig->pub_len);
    ck_assert_int_eq(mls_key_package_verify(&m.key_package),
                     MG_ERR_LEAF_SIGNATURE);
  }
  mls_message_cleanup(&m);
}
END_TEST

/* Every ratchet tree ts-mls had after a commit validates with our tree code
 * (parent hashes, leaf signatures, structure, unique keys). */
START_TEST(test_trees) {
  const json_t *c = get_case(_i);
  size_t j;
  const json_t *v;
  json_array_foreach(json_object_get(c, "ratchet_trees"), j, v) {
    mls_tree t;
    load_tree(c, v, &t);
    mls_tree_cleanup(&t);
  }
  ck_assert_uint_ge(json_array_size(json_object_get(c, "ratchet_trees")), 4);
}
END_TEST

/* The published GroupInfo: its ratchet_tree extension is ts-mls's tree,
 * which hashes to GroupContext.tree_hash; signature; external_pub. */
START_TEST(test_group_info) {
  const json_t *c = get_case(_i);
  const mls_suite *suite = case_suite(c);
  mls_message m;
  decode_roundtrip(json_array_get(json_object_get(c, "group_infos"), 0),
                   MLS_WIRE_GROUP_INFO, &m);
  const mls_group_info *gi = &m.group_info;
  char gid[32];
  size_t gid_len = case_group_id(c, gid, sizeof(gid));
  ck_assert_uint_eq(gi->group_context.group_id.len, gid_len);
  ck_assert_mem_eq(gi->group_context.group_id.data, gid, gid_len);
  ck_assert_uint_eq(gi->group_context.epoch,
                    (uint64_t)json_integer_value(json_object_get(c, "epoch")));

  const mls_extension *ext =
      mls_extension_list_find(&gi->extensions, MLS_EXT_RATCHET_TREE);
  ck_assert_ptr_nonnull(ext);
  uint8_t *tb = NULL;
  size_t tn = 0;
  unhex(json_object_get(c, "group_info_tree"), &tb, &tn);
  ck_assert_uint_eq(ext->extension_data.len, tn);
  ck_assert_mem_eq(ext->extension_data.data, tb, tn);
  free(tb);
  mls_tree t;
  load_tree(c, json_object_get(c, "group_info_tree"), &t);
  check_group_info(suite, gi, &t);

  /* external_pub (§12.4.3.2) is struct { HPKEPublicKey external_pub; },
   * HPKEPublicKey being opaque<V> (§5.1.1): a length prefix, then Npk bytes.
   * ts-mls 1.6.4 writes (and reads) the bare key instead: then our decoder
   * must not accept it as a key of the right length. */
  ext = mls_extension_list_find(&gi->extensions, MLS_EXT_EXTERNAL_PUB);
  ck_assert_ptr_nonnull(ext);
  mls_bytes pub;
  memset(&pub, 0, sizeof(pub));
  int rc = mls_ext_external_pub_decode(ext, &pub);
  if (ext->extension_data.len == suite->kem->pub_len) {
    fprintf(stderr,
            "NOTE: suite %d: ts-mls's external_pub extension is the bare key "
            "(%zu bytes) without the opaque<V> length of RFC 9420 "
            "§12.4.3.2; rejected\n",
            (int)suite->id, ext->extension_data.len);
    ck_assert(rc < 0 || pub.len != suite->kem->pub_len);
  } else {
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(pub.len, suite->kem->pub_len);
  }
  mls_bytes_cleanup(&pub);
  mls_tree_cleanup(&t);
  mls_message_cleanup(&m);
}
END_TEST

typedef struct {
  mls_tree *tree;
  const mls_suite *suite;
  mg_sig_key *keys[8];
} key_lookup;

static int lookup_key(void *arg, uint32_t leaf, const mg_sig_key **out) {
  key_lookup *kl = arg;
  if (leaf >= 8) {
    return MG_ERR_SENDER;
  }
  const mls_leaf_node *ln = mls_tree_leaf(kl->tree, (mls_leaf_idx){leaf});
  if (ln == NULL) {
    return MG_ERR_SENDER;
  }
  if (kl->keys[leaf] == NULL) {
    int rc = kl->suite->sig->key_from_pub(kl->suite->sig, &kl->keys[leaf],
                                          ln->signature_key.data,
                                          ln->signature_key.len);
    if (rc < 0) {
      return rc;
    }
  }
  *out = kl->keys[leaf];
  return 0;
}

/* Decrypts application message |idx| of |c| in the epoch given by |gc|,
 * |ep| and |t|, expecting sender |leaf| and plaintext |want|. */
static void check_application(const json_t *c, size_t idx, const mls_suite *suite,
                              const mls_group_context *gc,
                              const mls_epoch_secrets *ep, mls_secret_tree *st,
                              key_lookup *kl, uint32_t leaf, const char *want) {
  mls_message m;
  decode_roundtrip(json_array_get(json_object_get(c, "application"), idx),
                   MLS_WIRE_PRIVATE_MESSAGE, &m);
  mls_authenticated_content ac;
  memset(&ac, 0, sizeof(ac));
  int rc = mls_private_message_unprotect(suite, &ac, &m.private_message, gc, st,
                                         ep->sender_data_secret, ep->nh,
                                         lookup_key, kl);
  ck_assert_msg(rc == 0, "suite %d: application message %zu: %d",
                (int)suite->id, idx, rc);
  ck_assert_uint_eq(ac.content.content_type, MLS_CONTENT_APPLICATION);
  ck_assert_uint_eq(ac.content.sender.sender_type, MLS_SENDER_MEMBER);
  ck_assert_uint_eq(ac.content.sender.leaf_index, leaf);
  ck_assert_uint_eq(ac.content.application_data.len, strlen(want));
  ck_assert_mem_eq(ac.content.application_data.data, want, strlen(want));
  mls_authenticated_content_cleanup(&ac);
  /* The same message again: its generation is consumed. */
  rc = mls_private_message_unprotect(suite, &ac, &m.private_message, gc, st,
                                     ep->sender_data_secret, ep->nh, lookup_key,
                                     kl);
  ck_assert_int_eq(rc, MG_ERR_GENERATION);
  mls_authenticated_content_cleanup(&ac);
  mls_message_cleanup(&m);
}

/* Each Welcome opens with the joiner's init private key (§12.4.3.1); the
 * GroupInfo inside checks out against ts-mls's tree; in the first epoch the
 * application messages of both members decrypt. */
START_TEST(test_welcome) {
  const json_t *c = get_case(_i);
  const mls_suite *suite = case_suite(c);
  const json_t *ws = json_object_get(c, "welcomes");
  ck_assert_uint_ge(json_array_size(ws), 2);
  size_t j;
  const json_t *v;
  json_array_foreach(ws, j, v) {
    mls_message kpm, wm;
    decode_roundtrip(json_object_get(v, "key_package"), MLS_WIRE_KEY_PACKAGE,
                     &kpm);
    decode_roundtrip(json_object_get(v, "welcome"), MLS_WIRE_WELCOME, &wm);
    uint8_t ref[MG_MAX_HASH_LEN];
    size_t ref_len = 0;
    ck_assert_int_eq(
        mls_key_package_ref(&kpm.key_package, ref, sizeof(ref), &ref_len), 0);
    uint8_t *b = NULL;
    size_t n = 0;
    unhex(json_object_get(v, "init_priv"), &b, &n);
    mg_hpke_key key;
    mg_hpke_key_zero(&key);
    ck_assert_int_eq(mg_hpke_key_init(&key, suite->kem, b, n), 0);
    free(b);
    size_t pub_len = 0;
    const uint8_t *pub = mg_hpke_key_pub(&key, &pub_len);
    ck_assert_uint_eq(pub_len, kpm.key_package.init_key.len);
    ck_assert_mem_eq(pub, kpm.key_package.init_key.data, pub_len);

    mls_group_secrets gs;
    memset(&gs, 0, sizeof(gs));
    ck_assert_int_eq(mls_welcome_open_secrets(suite, &gs, &wm.welcome, ref,
                                              ref_len, &key),
                     0);
    ck_assert_uint_eq(gs.num_psks, 0);
    mls_group_info gi;
    memset(&gi, 0, sizeof(gi));
    mls_epoch_secrets *ep = NULL;
    ck_assert_int_eq(mls_welcome_open_info(suite, &gi, &ep, &wm.welcome,
                                           gs.joiner_secret.data,
                                           gs.joiner_secret.len, NULL, 0),
                     0);
    mls_tree t;
    load_tree(c, json_object_get(v, "ratchet_tree"), &t);
    check_group_info(suite, &gi, &t);
    /* The joiner is in the tree with its KeyPackage's leaf. */
    mls_leaf_idx me;
    ck_assert_int_eq(mls_tree_find_leaf(&t, &me,
                                        kpm.key_package.leaf_node.encryption_key.data,
                                        kpm.key_package.leaf_node.encryption_key.len),
                     0);
    /* A tree in the GroupInfo's extension is the same tree. */
    const mls_extension *ext =
        mls_extension_list_find(&gi.extensions, MLS_EXT_RATCHET_TREE);
    if (ext != NULL) {
      unhex(json_object_get(v, "ratchet_tree"), &b, &n);
      ck_assert_uint_eq(ext->extension_data.len, n);
      ck_assert_mem_eq(ext->extension_data.data, b, n);
      free(b);
    }
    if (j == 0) {
      /* Epoch 1: "hello bob" from alice (leaf 0), "hello alice" from bob
       * (leaf 1). */
      ck_assert_uint_eq(gi.group_context.epoch, 1);
      mls_secret_tree *st = NULL;
      ck_assert_int_eq(mls_secret_tree_new(&st, suite, ep->encryption_secret,
                                           ep->nh, t.n_leaves, NULL),
                       0);
      key_lookup kl;
      memset(&kl, 0, sizeof(kl));
      kl.tree = &t;
      kl.suite = suite;
      check_application(c, 0, suite, &gi.group_context, ep, st, &kl, 0,
                        "hello bob");
      check_application(c, 1, suite, &gi.group_context, ep, st, &kl, 1,
                        "hello alice");
      for (size_t k = 0; k < 8; k++) {
        mg_sig_key_free(kl.keys[k]);
      }
      mls_secret_tree_free(st);
    }
    mls_tree_cleanup(&t);
    mls_epoch_secrets_free(ep);
    mls_group_info_cleanup(&gi);
    mls_group_secrets_cleanup(&gs);
    mg_hpke_key_cleanup(&key);
    mls_message_cleanup(&kpm);
    mls_message_cleanup(&wm);
  }
}
END_TEST

/* PublicMessage commits with a path: the new leaf node is signed by the
 * committer (§7.3, source commit) and is its leaf in the next tree. */
START_TEST(test_commit_paths) {
  const json_t *c = get_case(_i);
  const mls_suite *suite = case_suite(c);
  const json_t *commits = json_object_get(c, "commits");
  const json_t *trees = json_object_get(c, "ratchet_trees");
  ck_assert_uint_eq(json_array_size(commits), json_array_size(trees));
  char gid[32];
  size_t gid_len = case_group_id(c, gid, sizeof(gid));
  size_t checked = 0;
  for (size_t j = 0; j < json_array_size(commits); j++) {
    const json_t *v = json_array_get(commits, j);
    if (framed_wire_format(v) != MLS_WIRE_PUBLIC_MESSAGE) {
      continue;
    }
    mls_message m;
    decode_roundtrip(v, MLS_WIRE_PUBLIC_MESSAGE, &m);
    const mls_framed_content *fc = &m.public_message.content;
    ck_assert_uint_eq(fc->sender.sender_type, MLS_SENDER_MEMBER);
    ck_assert_uint_gt(m.public_message.membership_tag.len, 0);
    if (fc->commit.has_path) {
      const mls_leaf_node *ln = &fc->commit.path.leaf_node;
      ck_assert_uint_eq(ln->leaf_node_source, MLS_LEAF_SOURCE_COMMIT);
      ck_assert_int_eq(mls_leaf_node_verify(suite, ln, (const uint8_t *)gid,
                                            gid_len, fc->sender.leaf_index),
                       0);
      /* Signed for this leaf index only. */
      ck_assert_int_eq(mls_leaf_node_verify(suite, ln, (const uint8_t *)gid,
                                            gid_len, fc->sender.leaf_index + 1),
                       MG_ERR_LEAF_SIGNATURE);
      mls_tree t;
      load_tree(c, json_array_get(trees, j), &t);
      const mls_leaf_node *got =
          mls_tree_leaf(&t, (mls_leaf_idx){fc->sender.leaf_index});
      ck_assert_ptr_nonnull(got);
      ck_assert_uint_eq(got->signature.len, ln->signature.len);
      ck_assert_mem_eq(got->signature.data, ln->signature.data, ln->signature.len);
      ck_assert_uint_eq(got->encryption_key.len, ln->encryption_key.len);
      ck_assert_mem_eq(got->encryption_key.data, ln->encryption_key.data,
                       ln->encryption_key.len);
      mls_tree_cleanup(&t);
      checked++;
    }
    mls_message_cleanup(&m);
  }
  /* At least the remove commit carries a path (§12.4). */
  ck_assert_uint_ge(checked, 1);
}
END_TEST

int main(void) {
  const char *path = getenv("MLSGATE_INTEROP_JSON");
  if (path == NULL || path[0] == '\0') {
    fprintf(stderr, "check_interop_codec: SKIP: MLSGATE_INTEROP_JSON not set "
                    "(run tests/interop.sh)\n");
    return 77;
  }
  if (mg_crypto_init() < 0) {
    fprintf(stderr, "crypto init failed\n");
    return 1;
  }
  json_error_t jerr;
  g_root = json_load_file(path, 0, &jerr);
  if (g_root == NULL) {
    fprintf(stderr, "cannot load %s: %s\n", path, jerr.text);
    return 1;
  }
  int n = (int)json_array_size(json_object_get(g_root, "cases"));
  Suite *s = suite_create("interop_codec");
  TCase *tc = tcase_create("ts-mls");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_suites);
  tcase_add_loop_test(tc, test_codec, 0, n);
  tcase_add_loop_test(tc, test_key_packages, 0, n);
  tcase_add_loop_test(tc, test_default_key_package, 0, n);
  tcase_add_loop_test(tc, test_trees, 0, n);
  tcase_add_loop_test(tc, test_group_info, 0, n);
  tcase_add_loop_test(tc, test_welcome, 0, n);
  tcase_add_loop_test(tc, test_commit_paths, 0, n);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  json_decref(g_root);
  return failed == 0 ? 0 : 1;
}
