/*
 * Self-test kind for mls/passive-client-welcome.json (mlswg/mls-implementations,
 * "Passive Client Scenarios"): join the group from the Welcome with the
 * KeyPackage and its private keys, the out-of-band ratchet tree if given and
 * the external PSKs, through mls_group_join (every check of RFC 9420
 * §12.4.3.1), and compare the epoch authenticator with
 * initial_epoch_authenticator.  The cases of this file carry no epochs
 * (commits are the handling-commit file's); a case with epochs fails.
 *
 * The vector KeyPackages' lifetimes ended in 2024: the lifetime checks run
 * at a fixed clock inside their window, MG_ST_PASSIVE_CLIENT_NOW, never
 * disabled.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/hex.h"
#include "common/secmem.h"
#include "mls/constants.h"
#include "mls/group.h"
#include "mls/msg_framing.h"
#include "mls/msg_leaf.h"
#include "selftest/selftest.h"
#include "selftest/st_mls_util.h"

/* Fixed clocks inside the lifetimes of each file's leaves:
 * passive-client-welcome.json 2023-11-14T22:13:20Z; the leaves of
 * passive-client-handling-commit.json are valid from 2024-03-14 to
 * 2025-03-14, so 2024-07-03T09:46:40Z. */
#define MG_ST_PASSIVE_CLIENT_NOW ((uint64_t)1700000000)
#define MG_ST_PASSIVE_COMMIT_NOW ((uint64_t)1720000000)

static int pw_match(const char *base) {
  return strcmp(base, "passive-client-welcome.json") == 0;
}

static int pc_match(const char *base) {
  return strcmp(base, "passive-client-handling-commit.json") == 0;
}

static size_t pw_count(const json_t *root) {
  if (!json_is_array(root)) {
    return 0;
  }
  const json_t *first = json_array_get(root, 0);
  if (!json_is_object(first) || json_object_get(first, "welcome") == NULL ||
      json_object_get(first, "initial_epoch_authenticator") == NULL) {
    return 0;
  }
  return json_array_size(root);
}

/* The case's external PSKs, for the lookup callback. */
typedef struct pw_psks {
  size_t n;
  const uint8_t *id[16];
  size_t id_len[16];
  const uint8_t *psk[16];
  size_t psk_len[16];
} pw_psks;

static int pw_lookup(void *arg, const mls_psk_id *id, mls_bytes *out) {
  const pw_psks *ps = arg;
  if (id->psktype != MLS_PSK_EXTERNAL) {
    return MG_ERR_PSK;
  }
  for (size_t i = 0; i < ps->n; i++) {
    if (ps->id_len[i] == id->psk_id.len &&
        memcmp(ps->id[i], id->psk_id.data, id->psk_id.len) == 0) {
      return mls_bytes_dup(out, ps->psk[i], ps->psk_len[i]);
    }
  }
  return MG_ERR_PSK;
}

/* The vectors write P-521 private keys as integers without leading zero
 * octets (65 bytes instead of 66); the library takes the fixed-length form
 * (RFC 9180 §7.1.2 SerializePrivateKey, SEC 1 Field-Element-to-Octet-String),
 * so left-pad a short key to |want| bytes in |buf|. */
static void pw_pad(const uint8_t **key, size_t *len, uint8_t *buf,
                   size_t want) {
  if (*len < want && want <= MG_MAX_SIG_PRIV_LEN && want <= MG_MAX_DH_PRIV_LEN) {
    size_t pad = want - *len;
    memset(buf, 0, pad);
    memcpy(buf + pad, *key, *len);
    *key = buf;
    *len = want;
  }
}

static int pw_decode(mg_st_case *cc, const json_t *c, const char *key,
                     uint16_t wire_format, mls_message *out) {
  uint8_t *b = NULL;
  size_t n = 0;
  if (!mg_st_case_hex(cc, c, "case", key, &b, &n)) {
    return 0;
  }
  int rc = mls_message_decode_bytes(b, n, out);
  if (!mg_st_case_rc(cc, key, "MLSMessage decode", rc)) {
    return 0;
  }
  if (out->wire_format != wire_format) {
    mg_st_fail(cc->rep, "case %zu: suite %u: %s has wire format %u", cc->i,
               cc->suite_id, key, (unsigned)out->wire_format);
    return 0;
  }
  return 1;
}

/* Decodes the hex string |v| into a new buffer (0 or a negative error). */
static int pc_hex(const json_t *v, uint8_t **out, size_t *out_len) {
  if (!json_is_string(v)) {
    return MG_ERR_NOT_FOUND;
  }
  return mg_hex_decode(out, out_len, json_string_value(v),
                       json_string_length(v));
}

/* One entry of "epochs": process its proposals and its Commit with the
 * passive client's state |*g|, move to the new epoch and compare the epoch
 * authenticator.  Returns 1, or 0 after recording the failure. */
static int pc_epoch(mg_st_case *cc, const json_t *ep, size_t e,
                    pw_psks *psks, uint64_t now, mls_group **g) {
  const json_t *props = json_object_get(ep, "proposals");
  mls_process_params pp;
  mls_processed pr;
  uint8_t *b = NULL, *want = NULL;
  size_t blen = 0, want_len = 0, ea_len = 0;
  uint8_t ea[MG_MAX_HASH_LEN];
  int ok = 0, rc;
  memset(&pp, 0, sizeof(pp));
  memset(&pr, 0, sizeof(pr));
  pp.psk_lookup = pw_lookup;
  pp.psk_arg = psks;
  pp.now = now;
  for (size_t k = 0; props != NULL && k < json_array_size(props); k++) {
    rc = pc_hex(json_array_get(props, k), &b, &blen);
    if (rc == 0) {
      rc = mls_group_process(*g, b, blen, &pp, &pr);
    }
    free(b);
    b = NULL;
    mls_processed_cleanup(&pr);
    if (rc < 0) {
      mg_st_fail(cc->rep, "case %zu: suite %u: epochs[%zu].proposals[%zu]: "
                 "%s (%s)", cc->i, cc->suite_id, e, k, mg_err_name(rc),
                 mg_strerror(rc));
      goto out;
    }
  }
  rc = pc_hex(json_object_get(ep, "commit"), &b, &blen);
  if (rc == 0) {
    rc = pc_hex(json_object_get(ep, "epoch_authenticator"), &want, &want_len);
  }
  if (rc == 0) {
    rc = mls_group_process(*g, b, blen, &pp, &pr);
  }
  if (rc < 0) {
    mg_st_fail(cc->rep, "case %zu: suite %u: epochs[%zu].commit: %s (%s)",
               cc->i, cc->suite_id, e, mg_err_name(rc), mg_strerror(rc));
    goto out;
  }
  if (pr.next == NULL) {
    mg_st_fail(cc->rep, "case %zu: suite %u: epochs[%zu].commit: no new "
               "state (removed: %d)", cc->i, cc->suite_id, e, pr.removed);
    goto out;
  }
  mls_group_free(*g);
  *g = pr.next;
  pr.next = NULL;
  rc = mls_group_epoch_authenticator(*g, ea, sizeof(ea), &ea_len);
  if (rc < 0 || ea_len != want_len || memcmp(ea, want, ea_len) != 0) {
    mg_st_fail(cc->rep, "case %zu: suite %u: epochs[%zu].epoch_authenticator "
               "differs (epoch %llu)", cc->i, cc->suite_id, e,
               (unsigned long long)mls_group_epoch(*g));
    goto out;
  }
  ok = 1;
out:
  mls_processed_cleanup(&pr);
  free(b);
  free(want);
  return ok;
}

static void pw_run_at(const json_t *root, size_t i, mg_st_report *rep,
                      uint64_t now) {
  mg_st_case cc;
  const json_t *c = json_array_get(root, i);
  mls_message kp, wm;
  mls_join_params jp;
  pw_psks psks;
  mls_group *g = NULL;
  uint8_t *want = NULL, *init_priv = NULL, *enc_priv = NULL, *sig_priv = NULL;
  uint8_t *tree = NULL;
  size_t want_len = 0;
  uint8_t ea[MG_MAX_HASH_LEN];
  uint8_t pad_init[MG_MAX_DH_PRIV_LEN], pad_enc[MG_MAX_DH_PRIV_LEN];
  uint8_t pad_sig[MG_MAX_SIG_PRIV_LEN];
  size_t ea_len = 0;

  memset(&kp, 0, sizeof(kp));
  memset(&wm, 0, sizeof(wm));
  memset(&jp, 0, sizeof(jp));
  memset(&psks, 0, sizeof(psks));
  if (!mg_st_case_begin(&cc, c, i, rep)) {
    return;
  }
  if (!mg_st_case_hex(&cc, c, "case", "init_priv", &init_priv,
                      &jp.init_priv_len) ||
      !mg_st_case_hex(&cc, c, "case", "encryption_priv",
                      &enc_priv, &jp.enc_priv_len) ||
      !mg_st_case_hex(&cc, c, "case", "signature_priv",
                      &sig_priv, &jp.sig_priv_len) ||
      !mg_st_case_hex(&cc, c, "case", "initial_epoch_authenticator", &want,
                      &want_len) ||
      !pw_decode(&cc, c, "key_package", MLS_WIRE_KEY_PACKAGE, &kp) ||
      !pw_decode(&cc, c, "welcome", MLS_WIRE_WELCOME, &wm)) {
    goto out;
  }
  jp.init_priv = init_priv;
  jp.enc_priv = enc_priv;
  jp.sig_priv = sig_priv;
  pw_pad(&jp.init_priv, &jp.init_priv_len, pad_init, cc.suite->kem->priv_len);
  pw_pad(&jp.enc_priv, &jp.enc_priv_len, pad_enc, cc.suite->kem->priv_len);
  pw_pad(&jp.sig_priv, &jp.sig_priv_len, pad_sig, cc.suite->sig->priv_len);
  const json_t *rt = json_object_get(c, "ratchet_tree");
  if (rt != NULL && !json_is_null(rt)) {
    if (!mg_st_case_hex(&cc, c, "case", "ratchet_tree",
                        &tree, &jp.ratchet_tree_len)) {
      goto out;
    }
    jp.ratchet_tree = tree;
  }
  const json_t *ext = json_object_get(c, "external_psks");
  if (!json_is_array(ext) || json_array_size(ext) > 16) {
    mg_st_fail(rep, "case %zu: suite %u: external_psks missing or too long", i,
               cc.suite_id);
    goto out;
  }
  for (size_t k = 0; k < json_array_size(ext); k++) {
    const json_t *e = json_array_get(ext, k);
    uint8_t *id = NULL, *psk = NULL;
    if (!mg_st_case_hex(&cc, e, "external_psks", "psk_id", &id,
                        &psks.id_len[k]) ||
        !mg_st_case_hex(&cc, e, "external_psks", "psk", &psk,
                        &psks.psk_len[k])) {
      goto out;
    }
    psks.id[k] = id;
    psks.psk[k] = psk;
    psks.n = k + 1;
  }
  jp.welcome = &wm.welcome;
  jp.key_package = &kp.key_package;
  jp.psk_lookup = pw_lookup;
  jp.psk_arg = &psks;
  jp.now = now;
  int rc = mls_group_join(&g, cc.suite, &jp);
  if (!mg_st_case_rc(&cc, "welcome", "join", rc)) {
    goto out;
  }
  rc = mls_group_epoch_authenticator(g, ea, sizeof(ea), &ea_len);
  if (!mg_st_case_rc(&cc, "group", "epoch authenticator", rc) ||
      !mg_st_case_eq(&cc, "case", "initial_epoch_authenticator", ea, ea_len,
                     want, want_len)) {
    goto out;
  }
  /* Each epoch: the proposals, then the Commit that may cover them by
   * reference; the epoch authenticator after every Commit.  Exactly one
   * result per case: the first failure names the epoch and step. */
  const json_t *epochs = json_object_get(c, "epochs");
  for (size_t e = 0; epochs != NULL && e < json_array_size(epochs); e++) {
    if (!pc_epoch(&cc, json_array_get(epochs, e), e, &psks, now, &g)) {
      goto out;
    }
  }
  mg_st_pass(rep);
out:
  mls_group_free(g);
  mls_message_cleanup(&kp);
  mls_message_cleanup(&wm);
  mg_memzero(pad_init, sizeof(pad_init));
  mg_memzero(pad_enc, sizeof(pad_enc));
  mg_memzero(pad_sig, sizeof(pad_sig));
  mg_st_case_end(&cc);
}

static void pw_run(const json_t *root, size_t i, mg_st_report *rep) {
  pw_run_at(root, i, rep, MG_ST_PASSIVE_CLIENT_NOW);
}

static void pc_run(const json_t *root, size_t i, mg_st_report *rep) {
  pw_run_at(root, i, rep, MG_ST_PASSIVE_COMMIT_NOW);
}

const mg_st_kind mg_st_kind_passive_client_welcome = {
    "passive-client-welcome", pw_match, pw_count, pw_run,
};

const mg_st_kind mg_st_kind_passive_client_commit = {
    "passive-client-handling-commit", pc_match, pw_count, pc_run,
};
