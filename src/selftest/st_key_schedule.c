/*
 * Self-test kind for mls/key-schedule.json (mlswg/mls-implementations, "Key
 * Schedule"): one case per cipher suite, a chain of epochs.  For every epoch
 * it checks the serialized GroupContext, every secret of RFC 9420 §8
 * (joiner, welcome, init, sender data, encryption, exporter, epoch
 * authenticator, external, confirmation, membership, resumption),
 * external_pub = KEM.DeriveKeyPair(external_secret) and the MLS-Exporter
 * output; it also checks that a joiner starting from joiner_secret reaches
 * the same epoch.  A failure names the suite, the epoch and the field.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/hpke.h"
#include "mls/constants.h"
#include "mls/key_schedule.h"
#include "mls/msg_context.h"
#include "selftest/selftest.h"
#include "selftest/st_mls_util.h"

static int ks_match(const char *base) {
  return strcmp(base, "key-schedule.json") == 0;
}

static size_t ks_count(const json_t *root) {
  if (!json_is_array(root)) {
    return 0;
  }
  const json_t *first = json_array_get(root, 0);
  if (!json_is_object(first) || !json_is_array(json_object_get(first, "epochs"))) {
    return 0;
  }
  return json_array_size(root);
}

/* The secrets compared field by field. */
typedef struct ks_field {
  const char *name;
  size_t offset;
} ks_field;

static const ks_field k_fields[] = {
    {"joiner_secret", offsetof(mls_epoch_secrets, joiner_secret)},
    {"welcome_secret", offsetof(mls_epoch_secrets, welcome_secret)},
    {"init_secret", offsetof(mls_epoch_secrets, init_secret)},
    {"sender_data_secret", offsetof(mls_epoch_secrets, sender_data_secret)},
    {"encryption_secret", offsetof(mls_epoch_secrets, encryption_secret)},
    {"exporter_secret", offsetof(mls_epoch_secrets, exporter_secret)},
    {"epoch_authenticator", offsetof(mls_epoch_secrets, epoch_authenticator)},
    {"external_secret", offsetof(mls_epoch_secrets, external_secret)},
    {"confirmation_key", offsetof(mls_epoch_secrets, confirmation_key)},
    {"membership_key", offsetof(mls_epoch_secrets, membership_key)},
    {"resumption_psk", offsetof(mls_epoch_secrets, resumption_psk)},
};

static int ks_check_secrets(mg_st_case *cc, const json_t *e, const char *what,
                            const mls_epoch_secrets *ep) {
  for (size_t k = 0; k < sizeof(k_fields) / sizeof(k_fields[0]); k++) {
    uint8_t *want = NULL;
    size_t want_len = 0;
    if (!mg_st_case_hex(cc, e, what, k_fields[k].name, &want, &want_len)) {
      return 0;
    }
    const uint8_t *got = (const uint8_t *)ep + k_fields[k].offset;
    if (!mg_st_case_eq(cc, what, k_fields[k].name, got, ep->nh, want,
                       want_len)) {
      return 0;
    }
  }
  return 1;
}

static int ks_check_external_pub(mg_st_case *cc, const json_t *e,
                                 const char *what,
                                 const mls_epoch_secrets *ep) {
  uint8_t *want = NULL;
  size_t want_len = 0;
  mg_hpke_key key;
  mg_hpke_key_zero(&key);
  if (!mg_st_case_hex(cc, e, what, "external_pub", &want, &want_len)) {
    return 0;
  }
  int rc = mls_epoch_external_key(ep, &key);
  int ok = mg_st_case_rc(cc, what, "external key derivation", rc);
  if (ok) {
    size_t pub_len = 0;
    const uint8_t *pub = mg_hpke_key_pub(&key, &pub_len);
    ok = mg_st_case_eq(cc, what, "external_pub", pub, pub_len, want, want_len);
  }
  mg_hpke_key_cleanup(&key);
  return ok;
}

static int ks_check_exporter(mg_st_case *cc, const json_t *e, const char *what,
                             const mls_epoch_secrets *ep) {
  const json_t *x = json_object_get(e, "exporter");
  const json_t *label = json_object_get(x, "label");
  uint8_t *context = NULL, *want = NULL;
  size_t context_len = 0, want_len = 0;
  uint64_t length = 0;
  uint8_t got[1024];

  if (!json_is_object(x) || !json_is_string(label)) {
    mg_st_fail(cc->rep, "case %zu: suite %u: %s.exporter missing or malformed",
               cc->i, cc->suite_id, what);
    return 0;
  }
  /* The label is used as a (text) string, as its JSON type says. */
  if (!mg_st_case_hex(cc, x, what, "context", &context, &context_len) ||
      !mg_st_case_hex(cc, x, what, "secret", &want, &want_len) ||
      !mg_st_case_u64(cc, x, what, "length", &length)) {
    return 0;
  }
  if (length > sizeof(got) || length != want_len ||
      strlen(json_string_value(label)) != json_string_length(label)) {
    mg_st_fail(cc->rep,
               "case %zu: suite %u: %s.exporter.length %llu unusable", cc->i,
               cc->suite_id, what, (unsigned long long)length);
    return 0;
  }
  int rc = mls_epoch_exporter(ep, got, (size_t)length, json_string_value(label),
                              context, context_len);
  int ok = mg_st_case_rc(cc, what, "MLS-Exporter", rc) &&
           mg_st_case_eq(cc, what, "exporter.secret", got, (size_t)length,
                         want, want_len);
  return ok;
}

static int ks_epoch(mg_st_case *cc, const json_t *e, size_t n,
                    const uint8_t *group_id, size_t group_id_len,
                    const uint8_t *init_secret, size_t init_secret_len,
                    mls_epoch_secrets **out) {
  char what[32];
  uint8_t *tree_hash = NULL, *commit = NULL, *psk = NULL, *cth = NULL;
  uint8_t *want_gc = NULL;
  size_t tree_hash_len = 0, commit_len = 0, psk_len = 0, cth_len = 0;
  size_t want_gc_len = 0;
  mls_group_context gc;
  uint8_t *gc_bytes = NULL;
  size_t gc_len = 0;
  mls_epoch_secrets *ep = NULL;
  mls_epoch_secrets *joined = NULL;
  int ok = 0;

  memset(&gc, 0, sizeof(gc));
  snprintf(what, sizeof(what), "epochs[%zu]", n);
  if (!mg_st_case_hex(cc, e, what, "tree_hash", &tree_hash, &tree_hash_len) ||
      !mg_st_case_hex(cc, e, what, "commit_secret", &commit, &commit_len) ||
      !mg_st_case_hex(cc, e, what, "psk_secret", &psk, &psk_len) ||
      !mg_st_case_hex(cc, e, what, "confirmed_transcript_hash", &cth,
                      &cth_len) ||
      !mg_st_case_hex(cc, e, what, "group_context", &want_gc, &want_gc_len)) {
    return 0;
  }
  /* GroupContext with epoch = n and no extensions (the vector's recipe). */
  gc.version = MLS_VERSION_MLS10;
  gc.cipher_suite = (uint16_t)cc->suite_id;
  gc.epoch = n;
  gc.group_id.data = (uint8_t *)(uintptr_t)group_id;
  gc.group_id.len = group_id_len;
  gc.tree_hash.data = tree_hash;
  gc.tree_hash.len = tree_hash_len;
  gc.confirmed_transcript_hash.data = cth;
  gc.confirmed_transcript_hash.len = cth_len;
  int rc = mls_group_context_serialize(&gc, &gc_bytes, &gc_len);
  if (!mg_st_case_rc(cc, what, "GroupContext encoding", rc) ||
      !mg_st_case_eq(cc, what, "group_context", gc_bytes, gc_len, want_gc,
                     want_gc_len)) {
    goto out;
  }
  rc = mls_epoch_secrets_from_init(cc->suite, &ep, init_secret,
                                   init_secret_len, commit, commit_len, psk,
                                   psk_len, gc_bytes, gc_len);
  if (!mg_st_case_rc(cc, what, "key schedule", rc) ||
      !ks_check_secrets(cc, e, what, ep)) {
    goto out;
  }
  /* A new member starting from joiner_secret reaches the same epoch. */
  rc = mls_epoch_secrets_from_joiner(cc->suite, &joined, ep->joiner_secret,
                                     ep->nh, psk, psk_len, gc_bytes, gc_len);
  if (!mg_st_case_rc(cc, what, "key schedule from joiner_secret", rc) ||
      !ks_check_secrets(cc, e, what, joined) ||
      !ks_check_external_pub(cc, e, what, ep) ||
      !ks_check_exporter(cc, e, what, ep)) {
    goto out;
  }
  *out = ep;
  ep = NULL;
  ok = 1;
out:
  free(gc_bytes);
  mls_epoch_secrets_free(ep);
  mls_epoch_secrets_free(joined);
  return ok;
}

static void ks_run(const json_t *root, size_t i, mg_st_report *rep) {
  mg_st_case cc;
  const json_t *c = json_array_get(root, i);
  uint8_t *group_id = NULL, *init0 = NULL;
  size_t group_id_len = 0, init0_len = 0;
  mls_epoch_secrets *prev = NULL;

  if (!mg_st_case_begin(&cc, c, i, rep)) {
    return;
  }
  const json_t *epochs = json_object_get(c, "epochs");
  if (!json_is_array(epochs) || json_array_size(epochs) == 0) {
    mg_st_fail(rep, "case %zu: suite %u: epochs missing or empty", i,
               cc.suite_id);
    goto out;
  }
  if (!mg_st_case_hex(&cc, c, "case", "group_id", &group_id, &group_id_len) ||
      !mg_st_case_hex(&cc, c, "case", "initial_init_secret", &init0,
                      &init0_len)) {
    goto out;
  }
  for (size_t n = 0; n < json_array_size(epochs); n++) {
    mls_epoch_secrets *next = NULL;
    const uint8_t *init = prev != NULL ? prev->init_secret : init0;
    size_t init_len = prev != NULL ? prev->nh : init0_len;
    if (!ks_epoch(&cc, json_array_get(epochs, n), n, group_id, group_id_len,
                  init, init_len, &next)) {
      goto out;
    }
    mls_epoch_secrets_free(prev);
    prev = next;
  }
  mg_st_pass(rep);
out:
  mls_epoch_secrets_free(prev);
  mg_st_case_end(&cc);
}

const mg_st_kind mg_st_kind_key_schedule = {
    "key-schedule", ks_match, ks_count, ks_run,
};
