/* Self-test kind for mls/tree-operations.json (RFC 9420 §12.1.1-§12.1.3,
 * §7.7, §7.8): apply an Add, Update or Remove proposal to a tree and
 * compare the resulting tree and both tree hashes. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/hex.h"
#include "crypto/crypto.h"
#include "crypto/suite.h"
#include "mls/constants.h"
#include "mls/msg_framing.h"
#include "mls/tree.h"
#include "mlsgate/err.h"
#include "selftest/selftest.h"

static int to_match(const char *base) {
  return strcmp(base, "tree-operations.json") == 0;
}

static size_t to_count(const json_t *root) {
  return json_is_array(root) ? json_array_size(root) : 0;
}

/* Applies |p| sent by leaf |sender| to |t| (RFC 9420 §12.1). */
static int to_apply(mls_tree *t, const mls_proposal *p, uint32_t sender) {
  mls_leaf_idx l = {sender}, added;
  switch (p->proposal_type) {
    case MLS_PROPOSAL_ADD:
      return mls_tree_add_leaf(t, &added, &p->add.key_package.leaf_node);
    case MLS_PROPOSAL_UPDATE:
      return mls_tree_update_leaf(t, l, &p->update.leaf_node);
    case MLS_PROPOSAL_REMOVE: {
      mls_leaf_idx r = {p->remove.removed};
      return mls_tree_remove_leaf(t, r);
    }
    default:
      return MG_ERR_PROPOSAL;
  }
}

static void to_run(const json_t *root, size_t i, mg_st_report *rep) {
  const json_t *c = json_array_get(root, i);
  const json_t *js = json_object_get(c, "cipher_suite");
  const json_t *jsender = json_object_get(c, "proposal_sender");
  static const char *const hex_fields[] = {"tree_before", "proposal",
                                           "tree_hash_before", "tree_after",
                                           "tree_hash_after"};
  uint8_t *b[5] = {NULL, NULL, NULL, NULL, NULL};
  size_t bl[5] = {0, 0, 0, 0, 0};
  uint8_t *enc = NULL;
  size_t enc_len = 0;
  mls_tree t;
  mls_proposal prop;
  mg_writer w;
  char field[64];
  int rc;
  mls_tree_zero(&t);
  memset(&prop, 0, sizeof(prop));
  mg_writer_zero(&w);
  if (mg_crypto_init() < 0) {
    mg_st_fail(rep, "case %zu: crypto init failed", i);
    return;
  }
  if (!json_is_integer(js) || json_integer_value(js) < 0 ||
      json_integer_value(js) > 0xffff || !json_is_integer(jsender) ||
      json_integer_value(jsender) < 0 ||
      json_integer_value(jsender) > (json_int_t)UINT32_MAX) {
    mg_st_fail(rep, "case %zu: cipher_suite/proposal_sender missing", i);
    return;
  }
  unsigned sid = (unsigned)json_integer_value(js);
  const mls_suite *suite = mls_suite_by_id((uint16_t)sid);
  if (suite == NULL) {
    mg_st_fail(rep, "case %zu: unknown cipher suite %u", i, sid);
    return;
  }
  for (size_t k = 0; k < 5; k++) {
    if (mg_st_hex(c, hex_fields[k], &b[k], &bl[k]) < 0) {
      mg_st_fail(rep, "case %zu: suite %u: %s missing or not hex", i, sid,
                 hex_fields[k]);
      goto out;
    }
  }
  rc = mls_tree_decode(&t, suite, b[0], bl[0]);
  if (rc < 0) {
    mg_st_fail(rep, "case %zu: suite %u: tree_before does not decode: %s", i,
               sid, mg_err_name(rc));
    goto out;
  }
  uint8_t h[MG_MAX_HASH_LEN];
  size_t hl = 0;
  rc = mls_tree_hash(&t, h, sizeof(h), &hl);
  snprintf(field, sizeof(field), "suite %u tree_hash_before", sid);
  if (rc < 0 || !mg_st_eq(rep, i, field, h, hl, b[2], bl[2])) {
    if (rc < 0) {
      mg_st_fail(rep, "case %zu: suite %u: tree hash: %s", i, sid,
                 mg_err_name(rc));
    }
    goto out;
  }
  mg_reader r;
  mg_reader_init(&r, b[1], bl[1]);
  rc = mls_proposal_decode(&r, &prop);
  if (rc == 0) {
    rc = mg_reader_done(&r);
  }
  if (rc < 0) {
    mg_st_fail(rep, "case %zu: suite %u: proposal does not decode: %s", i, sid,
               mg_err_name(rc));
    goto out;
  }
  rc = to_apply(&t, &prop, (uint32_t)json_integer_value(jsender));
  if (rc < 0) {
    mg_st_fail(rep, "case %zu: suite %u: applying proposal type %u: %s", i,
               sid, prop.proposal_type, mg_err_name(rc));
    goto out;
  }
  rc = mg_writer_init(&w, 1024, 0);
  if (rc == 0) {
    rc = mls_tree_encode(&w, &t);
  }
  if (rc == 0) {
    rc = mg_writer_finish(&w, &enc, &enc_len);
  }
  if (rc < 0) {
    mg_st_fail(rep, "case %zu: suite %u: encoding tree_after: %s", i, sid,
               mg_err_name(rc));
    goto out;
  }
  snprintf(field, sizeof(field), "suite %u tree_after", sid);
  if (!mg_st_eq(rep, i, field, enc, enc_len, b[3], bl[3])) {
    goto out;
  }
  rc = mls_tree_hash(&t, h, sizeof(h), &hl);
  snprintf(field, sizeof(field), "suite %u tree_hash_after", sid);
  if (rc < 0) {
    mg_st_fail(rep, "case %zu: suite %u: tree hash after: %s", i, sid,
               mg_err_name(rc));
    goto out;
  }
  if (!mg_st_eq(rep, i, field, h, hl, b[4], bl[4])) {
    goto out;
  }
  mg_st_pass(rep);
out:
  mg_writer_cleanup(&w);
  free(enc);
  mls_proposal_cleanup(&prop);
  mls_tree_cleanup(&t);
  for (size_t k = 0; k < 5; k++) {
    free(b[k]);
  }
}

const mg_st_kind mg_st_kind_tree_operations = {
    "tree-operations", to_match, to_count, to_run,
};
