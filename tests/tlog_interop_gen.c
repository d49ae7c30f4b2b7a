/*
 * Writes Merkle proofs and signed checkpoints made by our code
 * (src/keystore/tlog.h, note.h) as JSON, for tests/tlog-interop/verify.mjs
 * to check with an independent implementation (tests/tlog_interop.sh).
 *
 *   tlog_interop_gen OUT.json
 *
 * The log has 5000 entries whose data is "mlsgate audit entry <i>"; it is
 * signed by a fixed Ed25519 key named after the origin.  Trees of every size
 * 1..40 carry every inclusion and consistency proof; sizes 100, 1000, 4097
 * and 5000 carry a sample.  Every tree has its signed checkpoint and one
 * C2SP tlog proof per inclusion proof.  The signer key string is included
 * (a test key from a fixed seed) so that a checker can sign the same
 * checkpoints.  No Check: a failure is an exit 1.
 */
#include "config.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/codec.h"
#include "crypto/crypto.h"
#include "keystore/note.h"
#include "keystore/tlog.h"

#define NUM_ENTRIES 5000
#define ORIGIN "mlsgate.example/audit-interop"

static void die(const char *what, int rc) {
  fprintf(stderr, "tlog_interop_gen: %s: %s\n", what, mg_strerror(rc));
  exit(1);
}

static json_t *b64(const uint8_t *p, size_t len) {
  char buf[MG_BASE64_ENCODED_LEN(256) + 1];
  if (len > 256) {
    die("b64", MG_ERR_INTERNAL);
  }
  mg_base64_encode(buf, p, len);
  return json_string(buf);
}

static json_t *proof_json(const mg_tlog_proof *p) {
  json_t *a = json_array();
  for (size_t i = 0; i < p->num_hashes; i++) {
    json_array_append_new(a, b64(p->hashes[i], MG_TLOG_HASH_LEN));
  }
  return a;
}

static void entry_data(char *buf, size_t cap, size_t *len, uint64_t i) {
  int n = snprintf(buf, cap, "mlsgate audit entry %llu", (unsigned long long)i);
  *len = (size_t)n;
}

static json_t *tree_json(mg_tlog_memtree *t, const mg_note_signer *s,
                         uint64_t size, int all) {
  json_t *o = json_object();
  json_t *incl = json_array();
  json_t *cons = json_array();
  json_t *tps = json_array();
  mg_checkpoint cp = {ORIGIN, strlen(ORIGIN), size, {0}, NULL, 0};
  mg_writer body;
  mg_writer note;
  int rc;
  uint64_t step = all ? 1 : (size / 17 + 1);

  if ((rc = mg_tlog_root(cp.root, mg_tlog_memtree_get, t, size)) < 0) {
    die("root", rc);
  }
  mg_writer_zero(&body);
  mg_writer_zero(&note);
  if ((rc = mg_writer_init(&body, 256, 0)) < 0 ||
      (rc = mg_checkpoint_format(&body, &cp)) < 0 ||
      (rc = mg_writer_init(&note, 512, 0)) < 0 ||
      (rc = mg_note_sign(&note, (const char *)mg_writer_data(&body),
                         mg_writer_len(&body), s, 1)) < 0) {
    die("checkpoint", rc);
  }
  json_object_set_new(o, "size", json_integer((json_int_t)size));
  json_object_set_new(o, "root", b64(cp.root, MG_TLOG_HASH_LEN));
  json_object_set_new(o, "checkpoint",
                      json_stringn((const char *)mg_writer_data(&note),
                                   mg_writer_len(&note)));
  for (uint64_t i = 0; i < size; i += step) {
    uint64_t idx = all ? i : (i * 7919) % size;
    mg_tlog_proof_text *pt = calloc(1, sizeof(*pt));
    mg_writer out;
    json_t *e = json_object();
    if (pt == NULL) {
      die("calloc", MG_ERR_NOMEM);
    }
    pt->index = idx;
    if ((rc = mg_tlog_prove_inclusion(&pt->proof, mg_tlog_memtree_get, t, idx,
                                      size)) < 0) {
      die("inclusion", rc);
    }
    json_object_set_new(e, "index", json_integer((json_int_t)idx));
    json_object_set_new(e, "hashes", proof_json(&pt->proof));
    json_array_append_new(incl, e);
    pt->checkpoint = (const char *)mg_writer_data(&note);
    pt->checkpoint_len = mg_writer_len(&note);
    if ((rc = mg_writer_init(&out, 1024, 0)) < 0 ||
        (rc = mg_tlog_proof_format(&out, pt)) < 0) {
      die("tlog proof", rc);
    }
    json_array_append_new(tps, json_stringn((const char *)mg_writer_data(&out),
                                            mg_writer_len(&out)));
    mg_writer_cleanup(&out);
    free(pt);
  }
  for (uint64_t m = 1; m < size; m += step) {
    mg_tlog_proof p;
    uint8_t r1[MG_TLOG_HASH_LEN];
    json_t *e = json_object();
    if ((rc = mg_tlog_prove_consistency(&p, mg_tlog_memtree_get, t, m,
                                        size)) < 0 ||
        (rc = mg_tlog_root(r1, mg_tlog_memtree_get, t, m)) < 0) {
      die("consistency", rc);
    }
    json_object_set_new(e, "size1", json_integer((json_int_t)m));
    json_object_set_new(e, "root1", b64(r1, MG_TLOG_HASH_LEN));
    json_object_set_new(e, "hashes", proof_json(&p));
    json_array_append_new(cons, e);
  }
  json_object_set_new(o, "inclusion", incl);
  json_object_set_new(o, "consistency", cons);
  json_object_set_new(o, "tlog_proofs", tps);
  mg_writer_cleanup(&body);
  mg_writer_cleanup(&note);
  return o;
}

int main(int argc, char **argv) {
  mg_tlog_memtree t;
  mg_note_signer s;
  uint8_t seed[32];
  json_t *root;
  json_t *trees;
  json_t *entries;
  mg_writer vk;
  int rc;
  static const uint64_t sampled[] = {100, 1000, 4097, NUM_ENTRIES};

  if (argc != 2) {
    fprintf(stderr, "usage: tlog_interop_gen OUT.json\n");
    return 2;
  }
  if ((rc = mg_crypto_init()) < 0) {
    die("crypto init", rc);
  }
  for (size_t i = 0; i < sizeof(seed); i++) {
    seed[i] = (uint8_t)(0xa0 + i);
  }
  if ((rc = mg_note_signer_from_seed(&s, ORIGIN, strlen(ORIGIN), seed)) < 0) {
    die("signer", rc);
  }
  root = json_object();
  entries = json_array();
  trees = json_array();
  mg_tlog_memtree_init(&t);
  for (uint64_t i = 0; i < NUM_ENTRIES; i++) {
    char data[64];
    size_t len;
    uint8_t leaf[MG_TLOG_HASH_LEN];
    entry_data(data, sizeof(data), &len, i);
    if ((rc = mg_tlog_leaf_hash(leaf, (const uint8_t *)data, len)) < 0 ||
        (rc = mg_tlog_memtree_append(&t, leaf)) < 0) {
      die("append", rc);
    }
    json_array_append_new(entries, json_stringn(data, len));
  }
  for (uint64_t n = 1; n <= 40; n++) {
    json_array_append_new(trees, tree_json(&t, &s, n, 1));
  }
  for (size_t i = 0; i < sizeof(sampled) / sizeof(sampled[0]); i++) {
    json_array_append_new(trees, tree_json(&t, &s, sampled[i], 0));
  }
  if ((rc = mg_writer_init(&vk, 128, 0)) < 0 ||
      (rc = mg_note_verifier_format(&vk, &s.v)) < 0) {
    die("vkey", rc);
  }
  json_object_set_new(root, "origin", json_string(ORIGIN));
  json_object_set_new(root, "vkey", json_stringn((const char *)mg_writer_data(&vk),
                                                 mg_writer_len(&vk)));
  json_object_set_new(root, "public_key", b64(s.v.pub, sizeof(s.v.pub)));
  /* A test key (fixed seed above): the Go check signs with it too. */
  mg_writer_cleanup(&vk);
  if ((rc = mg_writer_init(&vk, 128, 0)) < 0 ||
      (rc = mg_note_signer_format(&vk, &s)) < 0) {
    die("skey", rc);
  }
  json_object_set_new(root, "signer_key",
                      json_stringn((const char *)mg_writer_data(&vk),
                                   mg_writer_len(&vk)));
  json_object_set_new(root, "entries", entries);
  json_object_set_new(root, "trees", trees);
  if (json_dump_file(root, argv[1], JSON_COMPACT) != 0) {
    fprintf(stderr, "tlog_interop_gen: cannot write %s\n", argv[1]);
    return 1;
  }
  mg_writer_cleanup(&vk);
  json_decref(root);
  mg_tlog_memtree_cleanup(&t);
  mg_note_signer_cleanup(&s);
  return 0;
}
