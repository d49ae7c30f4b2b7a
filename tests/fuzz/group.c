/*
 * libFuzzer target for the group engine (src/mls/group.h): fuzzed
 * MLSMessages fed to a live two-member group (alice and bob, suite 1).
 *
 * At start-up alice creates the group and adds bob, then makes one valid
 * message of each kind in the current epoch: an application message, an
 * Update proposal (PublicMessage), an Update proposal (PrivateMessage), a
 * path Commit (PublicMessage) and a path Commit (PrivateMessage).
 *
 * Input: the first byte selects a template (0..4) to be mutated by the
 * rest of the input read as (uint16 offset, uint8 xor) triples, or (5..255)
 * says the rest is a raw MLSMessage.  Mutating valid messages reaches the
 * checks behind the decoder (tags, signatures, proposal rules, paths).
 *
 * Properties:
 *  - mls_group_process never crashes (ASan/UBSan);
 *  - on rejection bob's state is byte for byte unchanged (its encoding is
 *    compared with the encoding before the call), and the result owns
 *    nothing;
 *  - an accepted Commit yields a next state that encodes and decodes.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "crypto/crypto.h"
#include "crypto/hpke.h"
#include "crypto/suite.h"
#include "mls/constants.h"
#include "mls/group.h"
#include "mls/keypackage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW ((uint64_t)1800000000)
#define N_TEMPLATES 5

static mls_group *bob;
static uint8_t *bob_state;
static size_t bob_state_len;
static mls_bytes templates[N_TEMPLATES];

static void die_at(int line) {
  fprintf(stderr, "fuzz_group: property violated at line %d\n", line);
  abort();
}
#define die() die_at(__LINE__)

static void check_at(int rc, int line) {
  if (rc < 0) {
    fprintf(stderr, "fuzz_group: rc %d\n", rc);
    die_at(line);
  }
}
#define check(rc) check_at((rc), __LINE__)

static void encode(const mls_group *g, uint8_t **out, size_t *len) {
  mg_writer w;
  mg_writer_zero(&w);
  check(mg_writer_init(&w, 4096, 0));
  check(mls_group_encode(&w, g));
  check(mg_writer_finish(&w, out, len));
}

static void setup(void) {
  const mls_suite *s;
  mls_key_package kpa, kpb;
  mls_key_package_priv pa, pb;
  mls_key_package_params kp;
  mls_group_create_params cp;
  mls_commit_params p;
  mls_commit_result res;
  mls_group *alice = NULL, *a2 = NULL;
  mls_message wm;
  mls_join_params jp;
  mls_proposal prop;

  check(mg_crypto_init());
  s = mls_suite_by_id(1);
  if (s == NULL) {
    die();
  }
  memset(&kp, 0, sizeof(kp));
  kp.cipher_suite = 1;
  kp.now = NOW - 10;
  kp.identity = (const uint8_t *)"alice";
  kp.identity_len = 5;
  memset(&pa, 0, sizeof(pa));
  memset(&pb, 0, sizeof(pb));
  check(mls_key_package_generate(&kpa, &pa, NULL, NULL, 0, NULL, &kp));
  kp.identity = (const uint8_t *)"bob";
  kp.identity_len = 3;
  check(mls_key_package_generate(&kpb, &pb, NULL, NULL, 0, NULL, &kp));
  memset(&cp, 0, sizeof(cp));
  cp.key_package = &kpa;
  cp.priv = &pa;
  check(mls_group_create(&alice, s, &cp));
  memset(&p, 0, sizeof(p));
  p.adds = &kpb;
  p.num_adds = 1;
  p.ratchet_tree_in_welcome = 1;
  p.now = NOW;
  check(mls_group_commit(alice, &p, &res));
  mls_group_free(alice);
  alice = res.next;
  res.next = NULL;
  memset(&wm, 0, sizeof(wm));
  check(mls_message_decode_bytes(res.welcome.data, res.welcome.len, &wm));
  memset(&jp, 0, sizeof(jp));
  jp.welcome = &wm.welcome;
  jp.key_package = &kpb;
  jp.init_priv = mg_hpke_key_priv(&pb.init_key);
  jp.init_priv_len = s->kem->priv_len;
  jp.enc_priv = mg_hpke_key_priv(&pb.encryption_key);
  jp.enc_priv_len = s->kem->priv_len;
  jp.sig_priv = pb.sig_priv;
  jp.sig_priv_len = pb.sig_priv_len;
  jp.now = NOW;
  check(mls_group_join(&bob, s, &jp));
  mls_message_cleanup(&wm);
  mls_commit_result_cleanup(&res);

  /* The templates, all from alice in epoch 1. */
  check(mls_group_protect(alice, (const uint8_t *)"fuzz", 4, NULL, 0, 0,
                          &templates[0], NULL));
  memset(&prop, 0, sizeof(prop));
  prop.proposal_type = MLS_PROPOSAL_UPDATE;
  /* Proposals go to a copy, so that alice's commits below do not cover
   * them (bob sees each template against the same state). */
  check(mls_group_copy(&a2, alice));
  check(mls_group_propose(a2, &prop, 0, NOW, &templates[1]));
  mls_group_free(a2);
  check(mls_group_copy(&a2, alice));
  check(mls_group_propose(a2, &prop, 1, NOW, &templates[2]));
  mls_group_free(a2);
  memset(&p, 0, sizeof(p));
  p.now = NOW;
  check(mls_group_commit(alice, &p, &res));
  templates[3] = res.commit;
  memset(&res.commit, 0, sizeof(res.commit));
  mls_commit_result_cleanup(&res);
  p.encrypt = 1;
  check(mls_group_commit(alice, &p, &res));
  templates[4] = res.commit;
  memset(&res.commit, 0, sizeof(res.commit));
  mls_commit_result_cleanup(&res);
  mls_group_free(alice);
  mls_key_package_cleanup(&kpa);
  mls_key_package_cleanup(&kpb);
  mls_key_package_priv_cleanup(&pa);
  mls_key_package_priv_cleanup(&pb);
  encode(bob, &bob_state, &bob_state_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int ready;
  mls_group *g = NULL;
  uint8_t *msg = NULL, *after = NULL;
  size_t msg_len = 0, after_len = 0;
  mls_processed r;
  mls_process_params pp;

  if (!ready) {
    setup();
    ready = 1;
  }
  if (size == 0) {
    return 0;
  }
  if (data[0] < N_TEMPLATES) {
    const mls_bytes *t = &templates[data[0]];
    msg = malloc(t->len);
    if (msg == NULL) {
      die();
    }
    memcpy(msg, t->data, t->len);
    msg_len = t->len;
    for (size_t i = 1; i + 3 <= size; i += 3) {
      size_t off = ((size_t)data[i] << 8 | data[i + 1]) % msg_len;
      msg[off] ^= data[i + 2];
    }
  } else {
    msg_len = size - 1;
    msg = malloc(msg_len ? msg_len : 1);
    if (msg == NULL) {
      die();
    }
    memcpy(msg, data + 1, msg_len);
  }

  check(mls_group_copy(&g, bob));
  memset(&pp, 0, sizeof(pp));
  pp.now = NOW;
  int rc = mls_group_process(g, msg, msg_len, &pp, &r);
  if (rc < 0) {
    /* Rejected: nothing changed, nothing handed out. */
    if (r.next != NULL || r.application_data.data != NULL) {
      die();
    }
    encode(g, &after, &after_len);
    if (after_len != bob_state_len ||
        memcmp(after, bob_state, after_len) != 0) {
      die();
    }
    free(after);
  } else if (r.next != NULL) {
    mls_group *g2 = NULL;
    encode(r.next, &after, &after_len);
    check(mls_group_decode(&g2, after, after_len));
    mls_group_free(g2);
    free(after);
  }
  mls_processed_cleanup(&r);
  mls_group_free(g);
  free(msg);
  return 0;
}
