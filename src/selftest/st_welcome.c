/*
 * Self-test kind for mls/welcome.json (mlswg/mls-implementations,
 * "Welcome"): find the Welcome's entry for the KeyPackage (by
 * KeyPackageRef), decrypt the GroupSecrets with init_priv, decrypt the
 * GroupInfo, verify its signature with signer_pub, and verify its
 * confirmation tag with the confirmation_key of the key schedule run from
 * joiner_secret with no PSKs (RFC 9420 §12.4.3.1).  Then the other
 * direction: the GroupInfo and GroupSecrets are sealed again into a new
 * Welcome for the same KeyPackage, which must open to the same values.  A
 * failure names the suite and the step.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "crypto/hpke.h"
#include "mls/constants.h"
#include "mls/key_schedule.h"
#include "mls/msg_framing.h"
#include "mls/msg_leaf.h"
#include "mls/welcome.h"
#include "selftest/selftest.h"
#include "selftest/st_mls_util.h"

static int wl_match(const char *base) { return strcmp(base, "welcome.json") == 0; }

static size_t wl_count(const json_t *root) {
  if (!json_is_array(root)) {
    return 0;
  }
  const json_t *first = json_array_get(root, 0);
  if (!json_is_object(first) || json_object_get(first, "welcome") == NULL ||
      json_object_get(first, "init_priv") == NULL) {
    return 0;
  }
  return json_array_size(root);
}

static int wl_decode(mg_st_case *cc, const json_t *c, const char *key,
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

/* Opens |w| for the KeyPackage; returns 1 on success. */
static int wl_open(mg_st_case *cc, const char *what, const mls_welcome *w,
                   const uint8_t *ref, size_t ref_len, const mg_hpke_key *key,
                   const uint8_t *signer_pub, size_t signer_pub_len,
                   mls_group_secrets *gs, mls_group_info *gi,
                   mls_epoch_secrets **ep) {
  int rc = mls_welcome_open_secrets(cc->suite, gs, w, ref, ref_len, key);
  if (!mg_st_case_rc(cc, what, "GroupSecrets decryption", rc)) {
    return 0;
  }
  if (gs->num_psks != 0) {
    mg_st_fail(cc->rep, "case %zu: suite %u: %s: GroupSecrets names %zu PSKs, "
               "the vector has none", cc->i, cc->suite_id, what, gs->num_psks);
    return 0;
  }
  rc = mls_welcome_open_info(cc->suite, gi, ep, w, gs->joiner_secret.data,
                             gs->joiner_secret.len, NULL, 0);
  if (!mg_st_case_rc(cc, what, "GroupInfo decryption and confirmation tag", rc)) {
    return 0;
  }
  rc = mls_group_info_verify(cc->suite, gi, signer_pub, signer_pub_len);
  return mg_st_case_rc(cc, what, "GroupInfo signature", rc);
}

static void wl_run(const json_t *root, size_t i, mg_st_report *rep) {
  mg_st_case cc;
  const json_t *c = json_array_get(root, i);
  uint8_t *init_priv = NULL, *signer_pub = NULL;
  size_t init_priv_len = 0, signer_pub_len = 0;
  mls_message kp, wm;
  mls_group_secrets gs, gs2;
  mls_group_info gi, gi2;
  mls_epoch_secrets *ep = NULL, *ep2 = NULL;
  mls_welcome mine;
  mg_hpke_key key;
  uint8_t ref[MG_MAX_HASH_LEN];
  size_t ref_len = 0;

  memset(&kp, 0, sizeof(kp));
  memset(&wm, 0, sizeof(wm));
  memset(&gs, 0, sizeof(gs));
  memset(&gs2, 0, sizeof(gs2));
  memset(&gi, 0, sizeof(gi));
  memset(&gi2, 0, sizeof(gi2));
  memset(&mine, 0, sizeof(mine));
  mg_hpke_key_zero(&key);
  if (!mg_st_case_begin(&cc, c, i, rep)) {
    return;
  }
  if (!mg_st_case_hex(&cc, c, "case", "init_priv", &init_priv,
                      &init_priv_len) ||
      !mg_st_case_hex(&cc, c, "case", "signer_pub", &signer_pub,
                      &signer_pub_len) ||
      !wl_decode(&cc, c, "key_package", MLS_WIRE_KEY_PACKAGE, &kp) ||
      !wl_decode(&cc, c, "welcome", MLS_WIRE_WELCOME, &wm)) {
    goto out;
  }
  int rc = mg_hpke_key_init(&key, cc.suite->kem, init_priv, init_priv_len);
  if (!mg_st_case_rc(&cc, "init_priv", "HPKE key", rc)) {
    goto out;
  }
  size_t pub_len = 0;
  const uint8_t *pub = mg_hpke_key_pub(&key, &pub_len);
  if (!mg_st_case_eq(&cc, "key_package", "init_key (from init_priv)", pub,
                     pub_len, kp.key_package.init_key.data,
                     kp.key_package.init_key.len)) {
    goto out;
  }
  rc = mls_key_package_ref(&kp.key_package, ref, sizeof(ref), &ref_len);
  if (!mg_st_case_rc(&cc, "key_package", "KeyPackageRef", rc) ||
      !wl_open(&cc, "welcome", &wm.welcome, ref, ref_len, &key, signer_pub,
               signer_pub_len, &gs, &gi, &ep)) {
    goto out;
  }
  /* The other direction: seal the same GroupInfo and GroupSecrets into a
   * Welcome of our own. */
  mine.cipher_suite = (uint16_t)cc.suite_id;
  mine.secrets = calloc(1, sizeof(*mine.secrets));
  if (mine.secrets == NULL) {
    mg_st_fail(rep, "case %zu: out of memory", i);
    goto out;
  }
  mine.num_secrets = 1;
  rc = mls_welcome_seal_info(cc.suite, &mine.encrypted_group_info, &gi,
                             ep->welcome_secret, ep->nh);
  if (rc == 0) {
    rc = mls_welcome_seal_secrets(cc.suite, &mine.secrets[0], ref, ref_len,
                                  kp.key_package.init_key.data,
                                  kp.key_package.init_key.len, &gs,
                                  &mine.encrypted_group_info);
  }
  if (!mg_st_case_rc(&cc, "own Welcome", "sealing", rc) ||
      !wl_open(&cc, "own Welcome", &mine, ref, ref_len, &key, signer_pub,
               signer_pub_len, &gs2, &gi2, &ep2) ||
      !mg_st_case_eq(&cc, "own Welcome", "joiner_secret", gs2.joiner_secret.data,
                     gs2.joiner_secret.len, gs.joiner_secret.data,
                     gs.joiner_secret.len) ||
      !mg_st_case_eq(&cc, "own Welcome", "epoch_authenticator",
                     ep2->epoch_authenticator, ep2->nh, ep->epoch_authenticator,
                     ep->nh)) {
    goto out;
  }
  mg_st_pass(rep);
out:
  mls_message_cleanup(&kp);
  mls_message_cleanup(&wm);
  mls_group_secrets_cleanup(&gs);
  mls_group_secrets_cleanup(&gs2);
  mls_group_info_cleanup(&gi);
  mls_group_info_cleanup(&gi2);
  mls_welcome_cleanup(&mine);
  mls_epoch_secrets_free(ep);
  mls_epoch_secrets_free(ep2);
  mg_hpke_key_cleanup(&key);
  mg_st_case_end(&cc);
}

const mg_st_kind mg_st_kind_welcome = {
    "welcome", wl_match, wl_count, wl_run,
};
