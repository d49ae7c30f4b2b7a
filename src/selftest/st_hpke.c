/*
 * Self-test kind for the RFC 9180 HPKE test vectors (hpke/test-vectors.json,
 * the JSON form of RFC 9180 Appendix A).
 *
 * Each case derives the key pairs from ikmE/ikmR/ikmS (DeriveKeyPair,
 * §7.1.3), runs the sender setup with the derived ephemeral key and the
 * recipient setup with the given enc, checks every intermediate value of the
 * key schedule (§5.1), then every encryption in order (§5.2: the sender's
 * seal must give ct, the recipient's open must give pt) and every export
 * (§5.3) on both sides.  Export-only cases (AEAD 0xFFFF) also check that
 * seal and open are refused.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hex.h"
#include "crypto/crypto.h"
#include "crypto/hpke.h"
#include "mlsgate/err.h"
#include "selftest/selftest.h"

static int hp_match(const char *base) {
  return strcmp(base, "test-vectors.json") == 0;
}

static size_t hp_count(const json_t *root) {
  if (!json_is_array(root)) {
    return 0;
  }
  /* Make sure it is the HPKE shape, not some other array of vectors. */
  const json_t *first = json_array_get(root, 0);
  if (!json_is_object(first) || json_object_get(first, "kem_id") == NULL ||
      json_object_get(first, "encryptions") == NULL) {
    return 0;
  }
  return json_array_size(root);
}

/* The decoded hex fields of one case, freed together. */
#define HP_MAX_BUFS 48

typedef struct hp_bag {
  uint8_t *p[HP_MAX_BUFS];
  size_t n;
} hp_bag;

static void hp_bag_free(hp_bag *b) {
  for (size_t k = 0; k < b->n; k++) {
    free(b->p[k]);
  }
  b->n = 0;
}

/* Per-case state shared by the checking helpers. */
typedef struct hp_case {
  size_t i;
  mg_st_report *rep;
  char tag[64]; /* "mode 1 kem 0x0020 kdf 0x0001 aead 0x0001" */
  hp_bag bag;
} hp_case;

/* Decodes hex member |key| of |obj|; on failure records it and returns 0. */
static int hp_hex(hp_case *hc, const json_t *obj, const char *key,
                  uint8_t **out, size_t *out_len) {
  if (hc->bag.n == HP_MAX_BUFS) {
    mg_st_fail(hc->rep, "case %zu: %s: too many fields (internal)", hc->i,
               hc->tag);
    return 0;
  }
  int rc = mg_st_hex(obj, key, out, out_len);
  if (rc < 0) {
    mg_st_fail(hc->rep, "case %zu: %s: field %s %s", hc->i, hc->tag, key,
               rc == MG_ERR_NOT_FOUND ? "missing" : "is not valid hex");
    return 0;
  }
  hc->bag.p[hc->bag.n++] = *out;
  return 1;
}

/* Compares; on mismatch records "case N: TAG: FIELD differs (...)". */
static int hp_eq(hp_case *hc, const char *field, const uint8_t *got,
                 size_t got_len, const uint8_t *want, size_t want_len) {
  char name[192];
  snprintf(name, sizeof(name), "%s: %s", hc->tag, field);
  return mg_st_eq(hc->rep, hc->i, name, got, got_len, want, want_len);
}

/* Records an unexpected error code of |what|. */
static int hp_rc(hp_case *hc, const char *what, int rc) {
  if (rc < 0) {
    mg_st_fail(hc->rep, "case %zu: %s: %s failed: %s", hc->i, hc->tag, what,
               mg_err_name(rc));
    return 0;
  }
  return 1;
}

static int hp_int(const json_t *c, const char *key, uint16_t *out) {
  const json_t *v = json_object_get(c, key);
  if (!json_is_integer(v) || json_integer_value(v) < 0 ||
      json_integer_value(v) > 0xffff) {
    return 0;
  }
  *out = (uint16_t)json_integer_value(v);
  return 1;
}

/* Derives a key pair from member |ikm_key| and checks it against |sk_key|
 * and |pk_key|; also checks that loading the private key gives the same
 * public key (DeserializePrivateKey). */
static int hp_derive_check(hp_case *hc, const json_t *c, const mg_kem_alg *kem,
                           mg_hpke_key *key, const char *ikm_key,
                           const char *sk_key, const char *pk_key) {
  uint8_t *ikm, *sk, *pk;
  size_t ikm_len, sk_len, pk_len;
  if (!hp_hex(hc, c, ikm_key, &ikm, &ikm_len) ||
      !hp_hex(hc, c, sk_key, &sk, &sk_len) ||
      !hp_hex(hc, c, pk_key, &pk, &pk_len)) {
    return 0;
  }
  char what[64];
  snprintf(what, sizeof(what), "DeriveKeyPair(%s)", ikm_key);
  if (!hp_rc(hc, what, mg_hpke_key_derive(key, kem, ikm, ikm_len))) {
    return 0;
  }
  size_t pub_len;
  const uint8_t *pub = mg_hpke_key_pub(key, &pub_len);
  if (!hp_eq(hc, sk_key, key->priv, kem->priv_len, sk, sk_len) ||
      !hp_eq(hc, pk_key, pub, pub_len, pk, pk_len)) {
    return 0;
  }
  mg_hpke_key loaded;
  int rc = mg_hpke_key_init(&loaded, kem, sk, sk_len);
  snprintf(what, sizeof(what), "loading %s", sk_key);
  if (!hp_rc(hc, what, rc)) {
    return 0;
  }
  char field[64];
  snprintf(field, sizeof(field), "pk(%s)", sk_key);
  int ok = hp_eq(hc, field, loaded.pub, kem->pub_len, pk, pk_len);
  mg_hpke_key_cleanup(&loaded);
  return ok;
}

/* Checks the key schedule outputs of one side. */
static int hp_check_schedule(hp_case *hc, const json_t *c, const char *side,
                             const mg_hpke_ctx *ctx,
                             const mg_hpke_trace_for_testing *tr) {
  static const char *const names[] = {"shared_secret", "key_schedule_context",
                                      "secret", "key", "base_nonce",
                                      "exporter_secret"};
  const mg_hpke_suite *s = &ctx->suite;
  const uint8_t *got[6] = {tr->shared_secret, tr->key_schedule_context,
                           tr->secret, ctx->key, ctx->base_nonce,
                           ctx->exporter_secret};
  size_t got_len[6] = {tr->shared_secret_len, tr->key_schedule_context_len,
                       tr->secret_len, s->aead != NULL ? s->aead->key_len : 0,
                       s->aead != NULL ? s->aead->nonce_len : 0, s->kdf->nh};
  for (size_t k = 0; k < 6; k++) {
    uint8_t *want;
    size_t want_len;
    if (!hp_hex(hc, c, names[k], &want, &want_len)) {
      return 0;
    }
    char field[64];
    snprintf(field, sizeof(field), "%s (%s)", names[k], side);
    if (!hp_eq(hc, field, got[k], got_len[k], want, want_len)) {
      return 0;
    }
  }
  return 1;
}

static int hp_check_encryptions(hp_case *hc, const json_t *c,
                                 mg_hpke_ctx *sender, mg_hpke_ctx *recipient) {
  const json_t *encs = json_object_get(c, "encryptions");
  if (!json_is_array(encs)) {
    mg_st_fail(hc->rep, "case %zu: %s: encryptions missing", hc->i, hc->tag);
    return 0;
  }
  const mg_aead_alg *aead = sender->suite.aead;
  if (aead == NULL) {
    /* Export-only: the file has no encryptions and the context must refuse
     * seal and open without touching the sequence number. */
    uint8_t buf[64];
    size_t len = 0;
    int rc = mg_hpke_seal(sender, buf, sizeof(buf), &len,
                          (const uint8_t *)"x", 1, NULL, 0);
    if (rc != MG_ERR_EXPORT_ONLY) {
      mg_st_fail(hc->rep, "case %zu: %s: seal on export-only context gave %s",
                 hc->i, hc->tag, mg_err_name(rc));
      return 0;
    }
    memset(buf, 0, sizeof(buf));
    rc = mg_hpke_open(recipient, buf, sizeof(buf), &len, buf, 32, NULL, 0);
    if (rc != MG_ERR_EXPORT_ONLY || mg_hpke_ctx_seq(sender) != 0 ||
        mg_hpke_ctx_seq(recipient) != 0) {
      mg_st_fail(hc->rep, "case %zu: %s: open on export-only context gave %s",
                 hc->i, hc->tag, mg_err_name(rc));
      return 0;
    }
    if (json_array_size(encs) != 0) {
      mg_st_fail(hc->rep, "case %zu: %s: export-only case lists encryptions",
                 hc->i, hc->tag);
      return 0;
    }
    return 1;
  }
  for (size_t j = 0; j < json_array_size(encs); j++) {
    const json_t *e = json_array_get(encs, j);
    uint8_t *aad, *ct, *nonce, *pt;
    size_t aad_len, ct_len, nonce_len, pt_len;
    /* Free this entry's buffers after use: keep the bag small. */
    size_t mark = hc->bag.n;
    if (!hp_hex(hc, e, "aad", &aad, &aad_len) ||
        !hp_hex(hc, e, "ct", &ct, &ct_len) ||
        !hp_hex(hc, e, "nonce", &nonce, &nonce_len) ||
        !hp_hex(hc, e, "pt", &pt, &pt_len)) {
      return 0;
    }
    char field[64];
    /* nonce = base_nonce XOR I2OSP(seq, Nn), seq being the entry index */
    uint8_t want_nonce[MG_MAX_AEAD_NONCE_LEN];
    memcpy(want_nonce, sender->base_nonce, aead->nonce_len);
    uint64_t seq = mg_hpke_ctx_seq(sender);
    for (size_t b = 0; b < 8 && b < aead->nonce_len; b++) {
      want_nonce[aead->nonce_len - 1 - b] ^= (uint8_t)(seq >> (8 * b));
    }
    snprintf(field, sizeof(field), "encryptions[%zu].nonce", j);
    if (seq != j || !hp_eq(hc, field, want_nonce, aead->nonce_len, nonce,
                           nonce_len)) {
      if (seq != j) {
        mg_st_fail(hc->rep, "case %zu: %s: sender seq %llu before entry %zu",
                   hc->i, hc->tag, (unsigned long long)seq, j);
      }
      return 0;
    }
    uint8_t *out = malloc(pt_len + aead->tag_len + ct_len + 1);
    if (out == NULL) {
      mg_st_fail(hc->rep, "case %zu: out of memory", hc->i);
      return 0;
    }
    size_t out_len = 0;
    int ok = 1;
    snprintf(field, sizeof(field), "seal of encryptions[%zu]", j);
    ok = hp_rc(hc, field,
               mg_hpke_seal(sender, out, pt_len + aead->tag_len, &out_len, pt,
                            pt_len, aad, aad_len));
    if (ok) {
      snprintf(field, sizeof(field), "encryptions[%zu].ct", j);
      ok = hp_eq(hc, field, out, out_len, ct, ct_len);
    }
    if (ok) {
      snprintf(field, sizeof(field), "open of encryptions[%zu]", j);
      ok = hp_rc(hc, field,
                 mg_hpke_open(recipient, out, ct_len + 1, &out_len, ct,
                              ct_len, aad, aad_len));
    }
    if (ok) {
      snprintf(field, sizeof(field), "encryptions[%zu].pt", j);
      ok = hp_eq(hc, field, out, out_len, pt, pt_len);
    }
    free(out);
    if (!ok) {
      return 0;
    }
    while (hc->bag.n > mark) {
      free(hc->bag.p[--hc->bag.n]);
    }
  }
  return 1;
}

static int hp_check_exports(hp_case *hc, const json_t *c,
                            const mg_hpke_ctx *sender,
                            const mg_hpke_ctx *recipient) {
  const json_t *exps = json_object_get(c, "exports");
  if (!json_is_array(exps) || json_array_size(exps) == 0) {
    mg_st_fail(hc->rep, "case %zu: %s: exports missing", hc->i, hc->tag);
    return 0;
  }
  for (size_t j = 0; j < json_array_size(exps); j++) {
    const json_t *e = json_array_get(exps, j);
    uint8_t *ectx, *want;
    size_t ectx_len, want_len;
    if (!hp_hex(hc, e, "exporter_context", &ectx, &ectx_len) ||
        !hp_hex(hc, e, "exported_value", &want, &want_len)) {
      return 0;
    }
    const json_t *jl = json_object_get(e, "L");
    if (!json_is_integer(jl) || json_integer_value(jl) < 0 ||
        json_integer_value(jl) > 0xffff) {
      mg_st_fail(hc->rep, "case %zu: %s: exports[%zu].L missing", hc->i,
                 hc->tag, j);
      return 0;
    }
    size_t l = (size_t)json_integer_value(jl);
    uint8_t *out = malloc(l + 1);
    if (out == NULL) {
      mg_st_fail(hc->rep, "case %zu: out of memory", hc->i);
      return 0;
    }
    char field[64];
    int ok = 1;
    const mg_hpke_ctx *sides[2] = {sender, recipient};
    for (int s = 0; s < 2 && ok; s++) {
      snprintf(field, sizeof(field), "export %zu (%s)", j,
               s == 0 ? "sender" : "recipient");
      ok = hp_rc(hc, field, mg_hpke_export(sides[s], out, l, ectx, ectx_len));
      if (ok) {
        snprintf(field, sizeof(field), "exports[%zu].exported_value (%s)", j,
                 s == 0 ? "sender" : "recipient");
        ok = hp_eq(hc, field, out, l, want, want_len);
      }
    }
    free(out);
    if (!ok) {
      return 0;
    }
  }
  return 1;
}

static int hp_run_case(hp_case *hc, const json_t *c) {
  uint16_t mode, kem_id, kdf_id, aead_id;
  if (!hp_int(c, "mode", &mode) || !hp_int(c, "kem_id", &kem_id) ||
      !hp_int(c, "kdf_id", &kdf_id) || !hp_int(c, "aead_id", &aead_id) ||
      mode > MG_HPKE_MODE_AUTH_PSK) {
    mg_st_fail(hc->rep, "case %zu: mode/kem_id/kdf_id/aead_id missing or bad",
               hc->i);
    return 0;
  }
  snprintf(hc->tag, sizeof(hc->tag), "mode %u kem 0x%04x kdf 0x%04x aead 0x%04x",
           (unsigned)mode, (unsigned)kem_id, (unsigned)kdf_id,
           (unsigned)aead_id);
  mg_hpke_suite suite;
  if (mg_hpke_suite_init(&suite, kem_id, kdf_id, aead_id) < 0) {
    mg_st_skip(hc->rep, "case %zu: %s: algorithm not supported", hc->i,
               hc->tag);
    return 0;
  }
  int is_psk = mode == MG_HPKE_MODE_PSK || mode == MG_HPKE_MODE_AUTH_PSK;
  int is_auth = mode == MG_HPKE_MODE_AUTH || mode == MG_HPKE_MODE_AUTH_PSK;

  mg_hpke_key key_e, key_r, key_s;
  mg_hpke_ctx sender, recipient;
  mg_hpke_trace_for_testing tr_s, tr_r;
  mg_hpke_key_zero(&key_e);
  mg_hpke_key_zero(&key_r);
  mg_hpke_key_zero(&key_s);
  mg_hpke_ctx_zero(&sender);
  mg_hpke_ctx_zero(&recipient);
  memset(&tr_s, 0, sizeof(tr_s));
  memset(&tr_r, 0, sizeof(tr_r));
  int ok = 0;

  uint8_t *info, *enc, *psk = NULL, *psk_id = NULL, *pk_sm = NULL;
  size_t info_len, enc_len, psk_len = 0, psk_id_len = 0, pk_sm_len = 0;
  if (!hp_hex(hc, c, "info", &info, &info_len) ||
      !hp_hex(hc, c, "enc", &enc, &enc_len)) {
    goto out;
  }
  if (is_psk && (!hp_hex(hc, c, "psk", &psk, &psk_len) ||
                 !hp_hex(hc, c, "psk_id", &psk_id, &psk_id_len))) {
    goto out;
  }
  if (!hp_derive_check(hc, c, suite.kem, &key_e, "ikmE", "skEm", "pkEm") ||
      !hp_derive_check(hc, c, suite.kem, &key_r, "ikmR", "skRm", "pkRm")) {
    goto out;
  }
  if (is_auth &&
      (!hp_derive_check(hc, c, suite.kem, &key_s, "ikmS", "skSm", "pkSm") ||
       !hp_hex(hc, c, "pkSm", &pk_sm, &pk_sm_len))) {
    goto out;
  }

  mg_hpke_opts opts_s, opts_r;
  memset(&opts_s, 0, sizeof(opts_s));
  opts_s.mode = (mg_hpke_mode)mode;
  opts_s.psk = psk;
  opts_s.psk_len = psk_len;
  opts_s.psk_id = psk_id;
  opts_s.psk_id_len = psk_id_len;
  opts_r = opts_s;
  if (is_auth) {
    opts_s.key_s = &key_s;
    opts_r.pk_s = pk_sm;
    opts_r.pk_s_len = pk_sm_len;
  }

  uint8_t our_enc[MG_HPKE_MAX_ENC_LEN];
  size_t our_enc_len = 0;
  size_t pk_r_len;
  const uint8_t *pk_r = mg_hpke_key_pub(&key_r, &pk_r_len);
  if (!hp_rc(hc, "sender setup",
             mg_hpke_setup_sender_for_testing(
                 &sender, our_enc, sizeof(our_enc), &our_enc_len, &suite, pk_r,
                 pk_r_len, info, info_len, &opts_s, &key_e, &tr_s)) ||
      !hp_eq(hc, "enc", our_enc, our_enc_len, enc, enc_len) ||
      !hp_check_schedule(hc, c, "sender", &sender, &tr_s)) {
    goto out;
  }
  if (!hp_rc(hc, "recipient setup",
             mg_hpke_setup_recipient_for_testing(&recipient, &suite, &key_r,
                                                 enc, enc_len, info, info_len,
                                                 &opts_r, &tr_r)) ||
      !hp_check_schedule(hc, c, "recipient", &recipient, &tr_r)) {
    goto out;
  }
  if (!hp_check_encryptions(hc, c, &sender, &recipient) ||
      !hp_check_exports(hc, c, &sender, &recipient)) {
    goto out;
  }
  ok = 1;
out:
  mg_hpke_key_cleanup(&key_e);
  mg_hpke_key_cleanup(&key_r);
  mg_hpke_key_cleanup(&key_s);
  mg_hpke_ctx_cleanup(&sender);
  mg_hpke_ctx_cleanup(&recipient);
  return ok;
}

static void hp_run(const json_t *root, size_t i, mg_st_report *rep) {
  const json_t *c = json_array_get(root, i);
  if (!json_is_object(c)) {
    mg_st_fail(rep, "case %zu: not an object", i);
    return;
  }
  int rc = mg_crypto_init();
  if (rc < 0) {
    mg_st_fail(rep, "case %zu: mg_crypto_init failed: %s", i, mg_err_name(rc));
    return;
  }
  hp_case hc;
  memset(&hc, 0, sizeof(hc));
  hc.i = i;
  hc.rep = rep;
  snprintf(hc.tag, sizeof(hc.tag), "?");
  unsigned before = rep->passed + rep->failed + rep->skipped;
  int ok = hp_run_case(&hc, c);
  hp_bag_free(&hc.bag);
  if (ok) {
    mg_st_pass(rep);
  } else if (rep->passed + rep->failed + rep->skipped == before) {
    mg_st_fail(rep, "case %zu: %s: failed (no detail)", i, hc.tag);
  }
}

const mg_st_kind mg_st_kind_hpke = {
    "hpke", hp_match, hp_count, hp_run,
};
