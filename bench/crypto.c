/*
 * bench/crypto: throughput of the src/crypto wrappers next to the same
 * operation called directly on OpenSSL 3.0 and on libsodium.
 *
 * For every MLS cipher suite (RFC 9420 §17.1) it measures, in operations per
 * second: sign and verify, HPKE single-shot seal/open of 32 bytes (RFC 9180
 * §6.1, base mode, the way RFC 9420 §5.1.3 EncryptWithLabel uses it), AEAD
 * seal/open of 1 KiB, ExpandWithLabel (RFC 9420 §8) and, to tell the label
 * serialization apart from the KDF, the wrapper's plain HKDF-Expand.  Each
 * row shows our wrapper, the best raw OpenSSL call, the best raw libsodium
 * call (where libsodium has the algorithm) and ours / fastest raw.
 *
 * The raw calls are written the way a competent user of each library would
 * write them, and are given exactly what our wrappers are given; where there
 * are several reasonable ways, each is measured and the fastest counts:
 *   - OpenSSL: algorithms fetched once (EVP_MD, EVP_CIPHER, EVP_MAC, EVP_KDF),
 *     contexts (EVP_MD_CTX, EVP_CIPHER_CTX, EVP_MAC_CTX, EVP_KDF_CTX,
 *     EVP_PKEY_CTX) created once and re-initialized per call; signing keys
 *     prepared once as EVP_PKEY (our sign/verify take a prepared mg_sig_key).
 *     HKDF-Expand three ways: HMAC on the EVP_MD (RFC 2104), EVP_MAC, EVP_KDF.
 *   - AEAD and HKDF take the key bytes on every call, as our API does (in MLS
 *     every message key is fresh, RFC 9420 §9), so the raw side sets the key
 *     on every call too.  ExpandWithLabel's raw baseline is HKDF-Expand of
 *     the already serialized KDFLabel (RFC 9420 §8).
 *   - HPKE: neither library has it, so the baseline is the RFC 9180 base-mode
 *     composition (GenerateKeyPair, DH, LabeledExtract/LabeledExpand written
 *     as HMAC calls, AEAD) over raw OpenSSL primitives, and over libsodium
 *     where libsodium has all four primitives (suite 3).  Our seal takes pkR
 *     as bytes and our open takes the serialized key pair (mg_hpke_key), so
 *     the raw side parses them on every call as well.  Rows marked "info"
 *     additionally show raw variants with keys prepared once: they are not
 *     counted in the ratio (they measure an API choice, not the wrapper).
 *
 * Timing: CLOCK_MONOTONIC; every implementation is first calibrated to run
 * for about --time seconds, then measured --runs times (default 3), the runs
 * of the implementations of one row being interleaved so that frequency or
 * load drift hits all of them alike; the best run counts.  Each run is cut
 * into chunks, and chunks in which this thread held the CPU for less than
 * 97% of the wall-clock time (CLOCK_THREAD_CPUTIME_ID) are not counted: on a
 * shared machine they time the other processes.  Rows where a whole run was
 * contended are marked '~'.  Taking the best of several raw variants favours
 * the raw side slightly when the machine is noisy.
 *
 * Before anything is timed, every path is checked once (what one side seals
 * the other opens, signatures cross-verify, HKDF outputs agree, forgeries
 * are refused), so a failing path is never benchmarked.  Exit status: 0
 * whatever the ratios are (this is a benchmark, not a test); 1 if any
 * operation fails; 2 for a usage error.
 *
 * Unlike src/, this program includes OpenSSL and libsodium headers directly:
 * measuring them raw is its purpose.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <sodium.h>

#include "common/guard.h"
#include "crypto/crypto.h"
#include "crypto/hpke.h"
#include "crypto/mls_crypto.h"
#include "crypto/suite.h"

#include "bench_util.h"

#define SIG_MSG_LEN 128    /* a small TBS structure */
#define AEAD_PT_LEN 1024   /* the issue: AEAD seal/open of 1 KiB */
#define AEAD_AAD_LEN 32    /* a PrivateContentAAD-sized AAD */
#define HPKE_PT_LEN 32     /* the issue: HPKE seal/open of 32 bytes */
#define HPKE_CTX_LEN 64    /* EncryptContext.context (RFC 9420 §5.1.3) */
#define HPKE_INFO_MAX 128
#define EWL_LABEL "secret" /* DeriveTreeSecret(…, "secret", generation, Nh) */
#define EWL_CONTEXT_LEN 4  /* uint32 generation (RFC 9420 §9.1) */
#define KDF_LABEL_MAX 64
#define RATIO_FLAG 0.95    /* the target: within 5% */

/* ------------------------------------------------------------- options */

typedef struct bench_opts {
  double time;  /* seconds per timed run */
  int runs;     /* best of */
  int suite;    /* 0: all */
  int verbose;  /* print every raw variant */
  const char *op; /* only rows whose name contains this; NULL: all */
} bench_opts;

/* ------------------------------------------------------------ framework */

typedef enum bench_who { WHO_OURS = 0, WHO_OPENSSL, WHO_SODIUM } bench_who;

typedef struct bench_impl {
  bench_who who;
  int info_only; /* shown, but not part of the ratio */
  const char *how;
  bench_fn fn;
  void *ctx;
  uint64_t iters;
  double best; /* ops/s */
} bench_impl;

#define MAX_IMPLS 6

typedef struct bench_op {
  char name[48];
  const char *note;
  int contended; /* runs that never got the CPU to themselves */
  bench_impl impl[MAX_IMPLS];
  size_t num_impl;
} bench_op;

typedef struct bench_summary {
  double worst;
  char worst_what[128];
  int flagged;
  int rows;
  long chunks, dropped; /* timing chunks, and those dropped (contention) */
  char flags[64][128];
} bench_summary;

static const char *who_name(bench_who w) {
  switch (w) {
  case WHO_OURS:
    return "ours";
  case WHO_OPENSSL:
    return "OpenSSL";
  case WHO_SODIUM:
    return "libsodium";
  default:
    return "?";
  }
}

static void op_init(bench_op *op, const char *what, const char *alg) {
  memset(op, 0, sizeof(*op));
  snprintf(op->name, sizeof(op->name), "%s %s", what, alg);
}

static void op_add(bench_op *op, bench_who who, int info_only,
                   const char *how, bench_fn fn, void *ctx) {
  if (op->num_impl >= MAX_IMPLS) {
    fprintf(stderr, "bench: too many implementations for %s\n", op->name);
    abort();
  }
  bench_impl *im = &op->impl[op->num_impl++];
  im->who = who;
  im->info_only = info_only;
  im->how = how;
  im->fn = fn;
  im->ctx = ctx;
  im->iters = 0;
  im->best = 0.0;
}

static void report_failure(const bench_op *op, const bench_impl *im) {
  fprintf(stderr, "bench: FAILED: %s [%s: %s]\n", op->name, who_name(im->who),
          im->how);
  ERR_print_errors_fp(stderr);
}

/* measure_op calibrates every implementation, then runs them interleaved
 * |runs| times (alternating the order) and keeps each one's best rate. */
static int measure_op(bench_op *op, const bench_opts *o, bench_summary *sum) {
  for (size_t i = 0; i < op->num_impl; i++) {
    if (bench_calibrate(op->impl[i].fn, op->impl[i].ctx, o->time,
                        &op->impl[i].iters) != 0) {
      report_failure(op, &op->impl[i]);
      return -1;
    }
  }
  for (int r = 0; r < o->runs; r++) {
    for (size_t k = 0; k < op->num_impl; k++) {
      size_t i = (r % 2 == 0) ? k : op->num_impl - 1 - k;
      bench_impl *im = &op->impl[i];
      bench_run_result res;
      if (bench_timed_run(im->fn, im->ctx, im->iters, &res) != 0) {
        report_failure(op, im);
        return -1;
      }
      sum->chunks += res.chunks;
      sum->dropped += res.dropped;
      if (res.contended) {
        op->contended++;
      }
      if (res.rate > im->best) {
        im->best = res.rate;
      }
    }
  }
  return 0;
}

static void print_table_header(void) {
  printf("  %-30s %11s %11s %11s %11s  %s\n", "operation", "ours/s",
         "OpenSSL/s", "libsodium/s", "ours/best", "fastest raw");
}

static void fmt_rate(char *buf, size_t cap, double rate) {
  if (rate <= 0.0) {
    snprintf(buf, cap, "%s", "-");
  } else {
    snprintf(buf, cap, "%.0f", rate);
  }
}

/* print_op prints one row and folds it into |sum|. */
static void print_op(const bench_op *op, const mls_suite *s,
                     const bench_opts *o, bench_summary *sum) {
  double ours = 0.0, best_ossl = 0.0, best_sod = 0.0, best_raw = 0.0;
  const bench_impl *fastest = NULL;
  for (size_t i = 0; i < op->num_impl; i++) {
    const bench_impl *im = &op->impl[i];
    if (im->who == WHO_OURS) {
      ours = im->best;
      continue;
    }
    if (im->info_only) {
      continue;
    }
    if (im->who == WHO_OPENSSL && im->best > best_ossl) {
      best_ossl = im->best;
    }
    if (im->who == WHO_SODIUM && im->best > best_sod) {
      best_sod = im->best;
    }
    if (im->best > best_raw) {
      best_raw = im->best;
      fastest = im;
    }
  }
  char c_ours[24], c_ossl[24], c_sod[24], c_ratio[24];
  fmt_rate(c_ours, sizeof(c_ours), ours);
  fmt_rate(c_ossl, sizeof(c_ossl), best_ossl);
  fmt_rate(c_sod, sizeof(c_sod), best_sod);
  int flag = 0;
  double ratio = 0.0;
  if (best_raw > 0.0) {
    ratio = ours / best_raw;
    flag = ratio < RATIO_FLAG;
    snprintf(c_ratio, sizeof(c_ratio), "%5.1f%%%s%s", 100.0 * ratio,
             flag ? " !" : "  ", op->contended > 0 ? "~" : " ");
  } else {
    snprintf(c_ratio, sizeof(c_ratio), "%s", "n/a  ");
  }
  printf("  %-30s %11s %11s %11s %11s  %s%s%s\n", op->name, c_ours, c_ossl,
         c_sod, c_ratio, fastest != NULL ? who_name(fastest->who) : "",
         fastest != NULL ? ": " : "", fastest != NULL ? fastest->how : "");
  if (op->note != NULL) {
    printf("  %-30s   (%s)\n", "", op->note);
  }
  for (size_t i = 0; i < op->num_impl; i++) {
    const bench_impl *im = &op->impl[i];
    if (im->info_only && ours > 0.0) {
      printf("  %-30s   info: %s %s: %.0f/s (ours = %.1f%% of it)\n", "",
             who_name(im->who), im->how, im->best,
             100.0 * ours / im->best);
    } else if (o->verbose && im->who != WHO_OURS) {
      printf("  %-30s   %s %s: %.0f/s\n", "", who_name(im->who), im->how,
             im->best);
    }
  }
  if (best_raw <= 0.0) {
    return;
  }
  sum->rows++;
  char what[128];
  snprintf(what, sizeof(what), "suite %u %s: %.1f%% of %s %s%s", s->id,
           op->name, 100.0 * ratio, who_name(fastest->who), fastest->how,
           op->contended > 0 ? " (noisy)" : "");
  if (sum->rows == 1 || ratio < sum->worst) {
    sum->worst = ratio;
    snprintf(sum->worst_what, sizeof(sum->worst_what), "%s", what);
  }
  if (flag) {
    if ((size_t)sum->flagged < MG_ARRAY_LEN(sum->flags)) {
      snprintf(sum->flags[sum->flagged], sizeof(sum->flags[0]), "%s", what);
    }
    sum->flagged++;
  }
}

/* ------------------------------------------------------ OpenSSL helpers */

typedef struct ossl_keyspec {
  const char *type; /* EVP_PKEY type name */
  char *group;      /* EC group name, NULL for X25519/X448/Ed25519/Ed448 */
  const char *md;   /* ECDSA digest, NULL otherwise */
} ossl_keyspec;

/* Non-const because OSSL_PARAM_construct_utf8_string takes char *. */
static char g_p256[] = "P-256";
static char g_p384[] = "P-384";
static char g_p521[] = "P-521";

static int ossl_dh_spec(const mg_dh_alg *d, ossl_keyspec *out) {
  memset(out, 0, sizeof(*out));
  if (d == &mg_dh_x25519) {
    out->type = "X25519";
  } else if (d == &mg_dh_x448) {
    out->type = "X448";
  } else if (d == &mg_dh_p256) {
    out->type = "EC";
    out->group = g_p256;
  } else if (d == &mg_dh_p384) {
    out->type = "EC";
    out->group = g_p384;
  } else if (d == &mg_dh_p521) {
    out->type = "EC";
    out->group = g_p521;
  } else {
    return -1;
  }
  return 0;
}

static int ossl_sig_spec(const mg_sig_alg *a, ossl_keyspec *out) {
  memset(out, 0, sizeof(*out));
  if (a == &mg_sig_ed25519) {
    out->type = "ED25519";
  } else if (a == &mg_sig_ed448) {
    out->type = "ED448";
  } else if (a == &mg_sig_ecdsa_p256_sha256) {
    out->type = "EC";
    out->group = g_p256;
    out->md = "SHA256";
  } else if (a == &mg_sig_ecdsa_p384_sha384) {
    out->type = "EC";
    out->group = g_p384;
    out->md = "SHA384";
  } else if (a == &mg_sig_ecdsa_p521_sha512) {
    out->type = "EC";
    out->group = g_p521;
    out->md = "SHA512";
  } else {
    return -1;
  }
  return 0;
}


/* ossl_fromdata_ctx returns a reusable EVP_PKEY_fromdata context. */
static EVP_PKEY_CTX *ossl_fromdata_ctx(const char *type) {
  EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
  if (c != NULL && EVP_PKEY_fromdata_init(c) != 1) {
    EVP_PKEY_CTX_free(c);
    c = NULL;
  }
  return c;
}

/* ossl_key_from_raw builds an EVP_PKEY from serialized keys through a
 * reusable fromdata context, the cheapest per-call parse OpenSSL 3.0 offers:
 * no name lookup, and with both halves given no public key is recomputed.
 * |priv| may be NULL (public key only); |pub| may be NULL when |priv| is
 * given (OpenSSL then derives it).  EC scalars are big-endian (RFC 9180
 * §7.1.2); OSSL_PARAM BNs are native-endian, hence the reversal. */
static EVP_PKEY *ossl_key_from_raw(EVP_PKEY_CTX *fctx, const ossl_keyspec *ks,
                                   const uint8_t *priv, size_t priv_len,
                                   uint8_t *pub, size_t pub_len) {
  OSSL_PARAM p[4];
  size_t n = 0;
  uint8_t sk[MG_MAX_DH_PRIV_LEN > MG_MAX_SIG_PRIV_LEN ? MG_MAX_DH_PRIV_LEN
                                                      : MG_MAX_SIG_PRIV_LEN];
  EVP_PKEY *k = NULL;
  if (priv != NULL && priv_len > sizeof(sk)) {
    return NULL;
  }
  if (ks->group != NULL) {
    p[n++] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                              ks->group, 0);
  }
  if (pub != NULL) {
    p[n++] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pub,
                                               pub_len);
  }
  if (priv != NULL) {
    if (ks->group != NULL) {
      for (size_t i = 0; i < priv_len; i++) {
        sk[i] = priv[priv_len - 1 - i];
      }
      p[n++] = OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_PRIV_KEY, sk, priv_len);
    } else {
      memcpy(sk, priv, priv_len);
      p[n++] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PRIV_KEY, sk,
                                                 priv_len);
    }
  }
  p[n] = OSSL_PARAM_construct_end();
  if (EVP_PKEY_fromdata(fctx, &k,
                        priv != NULL ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
                        p) != 1) {
    k = NULL;
  }
  if (priv != NULL) {
    OPENSSL_cleanse(sk, priv_len);
  }
  return k;
}

/* ossl_pub_encode serializes a public key (RFC 9180 §7.1.1). */
static int ossl_pub_encode(const EVP_PKEY *k, const ossl_keyspec *ks,
                           uint8_t *out, size_t want) {
  size_t len = want;
  if (ks->group == NULL) {
    if (EVP_PKEY_get_raw_public_key(k, out, &len) != 1) {
      return -1;
    }
  } else if (EVP_PKEY_get_octet_string_param(
                 k, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, out, want, &len) !=
             1) {
    return -1;
  }
  return len == want ? 0 : -1;
}

/* ossl_aead_seal: one AEAD seal on a reused EVP_CIPHER_CTX that was
 * initialized once with its (fetched) cipher; key and nonce set per call.
 * Writes pt_len + tag_len bytes (ciphertext || tag). */
static int ossl_aead_seal(EVP_CIPHER_CTX *c, uint8_t *out, const uint8_t *key,
                          const uint8_t *nonce, const uint8_t *aad,
                          size_t aad_len, const uint8_t *pt, size_t pt_len,
                          size_t tag_len) {
  int n = 0, fin = 0;
  if (EVP_EncryptInit_ex2(c, NULL, key, nonce, NULL) != 1) {
    return -1;
  }
  if (aad_len > 0 &&
      EVP_EncryptUpdate(c, NULL, &n, aad, (int)aad_len) != 1) {
    return -1;
  }
  if (EVP_EncryptUpdate(c, out, &n, pt, (int)pt_len) != 1) {
    return -1;
  }
  if (EVP_EncryptFinal_ex(c, out + n, &fin) != 1) {
    return -1;
  }
  if ((size_t)n + (size_t)fin != pt_len) {
    return -1;
  }
  if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, (int)tag_len,
                          out + pt_len) != 1) {
    return -1;
  }
  return 0;
}

/* ossl_aead_open: the inverse; |ct| is ciphertext || tag.  Non-const |ct|
 * because EVP_CTRL_AEAD_SET_TAG takes void *. */
static int ossl_aead_open(EVP_CIPHER_CTX *c, uint8_t *out, const uint8_t *key,
                          const uint8_t *nonce, const uint8_t *aad,
                          size_t aad_len, uint8_t *ct, size_t ct_len,
                          size_t tag_len) {
  int n = 0, fin = 0;
  size_t pt_len = ct_len - tag_len;
  if (ct_len < tag_len) {
    return -1;
  }
  if (EVP_DecryptInit_ex2(c, NULL, key, nonce, NULL) != 1) {
    return -1;
  }
  if (aad_len > 0 &&
      EVP_DecryptUpdate(c, NULL, &n, aad, (int)aad_len) != 1) {
    return -1;
  }
  if (EVP_DecryptUpdate(c, out, &n, ct, (int)pt_len) != 1) {
    return -1;
  }
  if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, (int)tag_len,
                          ct + pt_len) != 1) {
    return -1;
  }
  if (EVP_DecryptFinal_ex(c, out + n, &fin) != 1) {
    return -1;
  }
  return 0;
}

static EVP_CIPHER_CTX *ossl_cipher_ctx(const EVP_CIPHER *cipher, int enc) {
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  if (c == NULL) {
    return NULL;
  }
  if (EVP_CipherInit_ex2(c, cipher, NULL, NULL, enc, NULL) != 1) {
    EVP_CIPHER_CTX_free(c);
    return NULL;
  }
  return c;
}

/* ossl_hmac_ctx returns an EVP_MAC_CTX for HMAC-|md|, digest set once. */
static EVP_MAC_CTX *ossl_hmac_ctx(EVP_MAC *mac, const char *md) {
  char mdbuf[16];
  OSSL_PARAM p[2];
  EVP_MAC_CTX *c = EVP_MAC_CTX_new(mac);
  if (c == NULL) {
    return NULL;
  }
  snprintf(mdbuf, sizeof(mdbuf), "%s", md);
  p[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, mdbuf, 0);
  p[1] = OSSL_PARAM_construct_end();
  if (EVP_MAC_CTX_set_params(c, p) != 1) {
    EVP_MAC_CTX_free(c);
    return NULL;
  }
  return c;
}

/* A scatter list for HMAC input. */
typedef struct bench_iov {
  const uint8_t *p;
  size_t n;
} bench_iov;

/* An HMAC provider for the raw HKDF / HPKE compositions. */
typedef struct raw_mac {
  int (*fn)(void *self, uint8_t *out, const uint8_t *key, size_t key_len,
            const bench_iov *v, size_t nv);
  void *self;
  size_t nh;
} raw_mac;

static int ossl_hmac_fn(void *self, uint8_t *out, const uint8_t *key,
                        size_t key_len, const bench_iov *v, size_t nv) {
  EVP_MAC_CTX *m = self;
  size_t len = 0;
  if (EVP_MAC_init(m, key, key_len, NULL) != 1) {
    return -1;
  }
  for (size_t i = 0; i < nv; i++) {
    if (v[i].n > 0 && EVP_MAC_update(m, v[i].p, v[i].n) != 1) {
      return -1;
    }
  }
  return EVP_MAC_final(m, out, &len, MG_MAX_HASH_LEN) == 1 ? 0 : -1;
}

static int sodium_hmac256_fn(void *self, uint8_t *out, const uint8_t *key,
                             size_t key_len, const bench_iov *v, size_t nv) {
  crypto_auth_hmacsha256_state st;
  (void)self;
  if (crypto_auth_hmacsha256_init(&st, key, key_len) != 0) {
    return -1;
  }
  for (size_t i = 0; i < nv; i++) {
    if (crypto_auth_hmacsha256_update(&st, v[i].p, v[i].n) != 0) {
      return -1;
    }
  }
  int rc = crypto_auth_hmacsha256_final(&st, out);
  sodium_memzero(&st, sizeof(st));
  return rc == 0 ? 0 : -1;
}

static int sodium_hmac512_fn(void *self, uint8_t *out, const uint8_t *key,
                             size_t key_len, const bench_iov *v, size_t nv) {
  crypto_auth_hmacsha512_state st;
  (void)self;
  if (crypto_auth_hmacsha512_init(&st, key, key_len) != 0) {
    return -1;
  }
  for (size_t i = 0; i < nv; i++) {
    if (crypto_auth_hmacsha512_update(&st, v[i].p, v[i].n) != 0) {
      return -1;
    }
  }
  int rc = crypto_auth_hmacsha512_final(&st, out);
  sodium_memzero(&st, sizeof(st));
  return rc == 0 ? 0 : -1;
}

/* HMAC written directly on a fetched EVP_MD (RFC 2104) with one EVP_MD_CTX
 * bound to it once and re-initialized with a NULL digest per use, which
 * reuses the provider context: for MLS-sized inputs this is faster than
 * EVP_MAC even with a reused EVP_MAC_CTX. */
typedef struct md_hmac {
  EVP_MD *md;
  EVP_MD_CTX *c;
  size_t block, nh;
} md_hmac;

static int md_hmac_init(md_hmac *h, const char *mdname) {
  memset(h, 0, sizeof(*h));
  h->md = EVP_MD_fetch(NULL, mdname, NULL);
  h->c = EVP_MD_CTX_new();
  if (h->md == NULL || h->c == NULL ||
      EVP_DigestInit_ex2(h->c, h->md, NULL) != 1) {
    return -1;
  }
  h->block = (size_t)EVP_MD_get_block_size(h->md);
  h->nh = (size_t)EVP_MD_get_size(h->md);
  return h->block <= 128 && h->nh <= MG_MAX_HASH_LEN ? 0 : -1;
}

static void md_hmac_cleanup(md_hmac *h) {
  EVP_MD_CTX_free(h->c);
  EVP_MD_free(h->md);
  memset(h, 0, sizeof(*h));
}

static int md_hmac_fn(void *self, uint8_t *out, const uint8_t *key,
                      size_t key_len, const bench_iov *v, size_t nv) {
  md_hmac *h = self;
  uint8_t pad[128], inner[MG_MAX_HASH_LEN];
  int rc = -1;
  memset(pad, 0, sizeof(pad));
  if (key_len > h->block) {
    if (EVP_DigestInit_ex2(h->c, NULL, NULL) != 1 ||
        EVP_DigestUpdate(h->c, key, key_len) != 1 ||
        EVP_DigestFinal_ex(h->c, pad, NULL) != 1) {
      goto out;
    }
  } else if (key_len > 0) {
    memcpy(pad, key, key_len);
  }
  for (size_t i = 0; i < h->block; i++) {
    pad[i] ^= 0x36;
  }
  if (EVP_DigestInit_ex2(h->c, NULL, NULL) != 1 ||
      EVP_DigestUpdate(h->c, pad, h->block) != 1) {
    goto out;
  }
  for (size_t i = 0; i < nv; i++) {
    if (v[i].n > 0 && EVP_DigestUpdate(h->c, v[i].p, v[i].n) != 1) {
      goto out;
    }
  }
  if (EVP_DigestFinal_ex(h->c, inner, NULL) != 1) {
    goto out;
  }
  for (size_t i = 0; i < h->block; i++) {
    pad[i] ^= 0x36 ^ 0x5c;
  }
  if (EVP_DigestInit_ex2(h->c, NULL, NULL) != 1 ||
      EVP_DigestUpdate(h->c, pad, h->block) != 1 ||
      EVP_DigestUpdate(h->c, inner, h->nh) != 1 ||
      EVP_DigestFinal_ex(h->c, out, NULL) != 1) {
    goto out;
  }
  rc = 0;
out:
  OPENSSL_cleanse(pad, sizeof(pad));
  OPENSSL_cleanse(inner, sizeof(inner));
  return rc;
}

/* hkdf_expand_block is HKDF-Expand(prk, info, L) for L <= Nh (RFC 5869
 * §2.3): a single block T(1) = HMAC(prk, info || 0x01), truncated.  Every
 * expansion this program needs fits in one block. */
static int hkdf_expand_block(const raw_mac *m, uint8_t *out, size_t out_len,
                             const uint8_t *prk, size_t prk_len,
                             const bench_iov *info, size_t ninfo) {
  static const uint8_t one = 0x01;
  bench_iov v[8];
  uint8_t t[MG_MAX_HASH_LEN];
  if (out_len > m->nh || ninfo + 1 > MG_ARRAY_LEN(v)) {
    return -1;
  }
  memcpy(v, info, ninfo * sizeof(v[0]));
  v[ninfo].p = &one;
  v[ninfo].n = 1;
  if (m->fn(m->self, t, prk, prk_len, v, ninfo + 1) != 0) {
    return -1;
  }
  memcpy(out, t, out_len);
  sodium_memzero(t, sizeof(t));
  return 0;
}

/* ------------------------------------------------------------ signatures */

typedef struct sig_bench {
  const mg_sig_alg *alg;
  ossl_keyspec ks;
  mg_sig_key *key_priv, *key_pub;
  uint8_t msg[SIG_MSG_LEN];
  uint8_t sig[MG_MAX_SIG_LEN]; /* a valid signature over msg, for verify */
  size_t sig_len;
  uint8_t out[MG_MAX_SIG_LEN + 16];
  size_t out_len;
  /* OpenSSL */
  EVP_PKEY *pk_priv, *pk_pub;
  EVP_MD *md;                       /* ECDSA only */
  /* Re-initialized per call.  One per key: OpenSSL 3.0 re-initializes a
   * used EVP_MD_CTX with the EVP_PKEY_CTX (and key) it already holds. */
  EVP_MD_CTX *mctx_sign, *mctx_ver;
  EVP_MD_CTX *copy_sign, *copy_ver; /* EdDSA: targets of the copies */
  EVP_MD_CTX *tmpl_sign, *tmpl_ver; /* EdDSA: initialized once, copied */
  EVP_MD_CTX *hctx;                 /* ECDSA pre-hash */
  EVP_PKEY_CTX *sign_pctx, *ver_pctx; /* ECDSA: initialized once */
  /* libsodium (Ed25519) */
  int have_sodium;
  uint8_t sod_sk[crypto_sign_SECRETKEYBYTES];
  uint8_t sod_pk[crypto_sign_PUBLICKEYBYTES];
} sig_bench;

static int sig_ours_sign(void *arg) {
  sig_bench *b = arg;
  b->out_len = sizeof(b->out);
  return b->alg->sign(b->alg, b->key_priv, b->out, &b->out_len, b->msg,
                      sizeof(b->msg));
}

static int sig_ours_verify(void *arg) {
  sig_bench *b = arg;
  return b->alg->verify(b->alg, b->key_pub, b->msg, sizeof(b->msg), b->sig,
                        b->sig_len);
}

/* OpenSSL, the documented one-shot: EVP_DigestSignInit_ex on a reused
 * EVP_MD_CTX (with the prepared EVP_PKEY), then EVP_DigestSign. */
static int sig_ossl_sign_init(void *arg) {
  sig_bench *b = arg;
  b->out_len = sizeof(b->out);
  if (EVP_DigestSignInit_ex(b->mctx_sign, NULL, b->ks.md, NULL, NULL,
                            b->pk_priv, NULL) != 1) {
    return -1;
  }
  return EVP_DigestSign(b->mctx_sign, b->out, &b->out_len, b->msg,
                        sizeof(b->msg)) == 1
             ? 0
             : -1;
}

static int sig_ossl_verify_init(void *arg) {
  sig_bench *b = arg;
  if (EVP_DigestVerifyInit_ex(b->mctx_ver, NULL, b->ks.md, NULL, NULL,
                              b->pk_pub, NULL) != 1) {
    return -1;
  }
  return EVP_DigestVerify(b->mctx_ver, b->sig, b->sig_len, b->msg,
                          sizeof(b->msg)) == 1
             ? 0
             : -1;
}

/* OpenSSL EdDSA: copy a context initialized once, then EVP_DigestSign. */
static int sig_ossl_sign_copy(void *arg) {
  sig_bench *b = arg;
  b->out_len = sizeof(b->out);
  if (EVP_MD_CTX_copy_ex(b->copy_sign, b->tmpl_sign) != 1) {
    return -1;
  }
  return EVP_DigestSign(b->copy_sign, b->out, &b->out_len, b->msg,
                        sizeof(b->msg)) == 1
             ? 0
             : -1;
}

static int sig_ossl_verify_copy(void *arg) {
  sig_bench *b = arg;
  if (EVP_MD_CTX_copy_ex(b->copy_ver, b->tmpl_ver) != 1) {
    return -1;
  }
  return EVP_DigestVerify(b->copy_ver, b->sig, b->sig_len, b->msg,
                          sizeof(b->msg)) == 1
             ? 0
             : -1;
}

static int sig_prehash(sig_bench *b, uint8_t *h, unsigned int *h_len) {
  if (EVP_DigestInit_ex2(b->hctx, b->md, NULL) != 1 ||
      EVP_DigestUpdate(b->hctx, b->msg, sizeof(b->msg)) != 1 ||
      EVP_DigestFinal_ex(b->hctx, h, h_len) != 1) {
    return -1;
  }
  return 0;
}

/* OpenSSL ECDSA: hash with a fetched EVP_MD on a reused EVP_MD_CTX, then
 * EVP_PKEY_sign on an EVP_PKEY_CTX initialized once. */
static int sig_ossl_sign_prehash(void *arg) {
  sig_bench *b = arg;
  uint8_t h[EVP_MAX_MD_SIZE];
  unsigned int hl = 0;
  if (sig_prehash(b, h, &hl) != 0) {
    return -1;
  }
  b->out_len = sizeof(b->out);
  return EVP_PKEY_sign(b->sign_pctx, b->out, &b->out_len, h, hl) == 1 ? 0
                                                                      : -1;
}

static int sig_ossl_verify_prehash(void *arg) {
  sig_bench *b = arg;
  uint8_t h[EVP_MAX_MD_SIZE];
  unsigned int hl = 0;
  if (sig_prehash(b, h, &hl) != 0) {
    return -1;
  }
  return EVP_PKEY_verify(b->ver_pctx, b->sig, b->sig_len, h, hl) == 1 ? 0
                                                                      : -1;
}

static int sig_sodium_sign(void *arg) {
  sig_bench *b = arg;
  unsigned long long len = 0;
  if (crypto_sign_detached(b->out, &len, b->msg, sizeof(b->msg), b->sod_sk) !=
      0) {
    return -1;
  }
  b->out_len = (size_t)len;
  return 0;
}

static int sig_sodium_verify(void *arg) {
  sig_bench *b = arg;
  return crypto_sign_verify_detached(b->sig, b->msg, sizeof(b->msg),
                                     b->sod_pk) == 0
             ? 0
             : -1;
}

static void sig_cleanup(sig_bench *b) {
  mg_sig_key_free(b->key_priv);
  mg_sig_key_free(b->key_pub);
  EVP_PKEY_free(b->pk_priv);
  EVP_PKEY_free(b->pk_pub);
  EVP_MD_free(b->md);
  EVP_MD_CTX_free(b->mctx_sign);
  EVP_MD_CTX_free(b->mctx_ver);
  EVP_MD_CTX_free(b->copy_sign);
  EVP_MD_CTX_free(b->copy_ver);
  EVP_MD_CTX_free(b->tmpl_sign);
  EVP_MD_CTX_free(b->tmpl_ver);
  EVP_MD_CTX_free(b->hctx);
  EVP_PKEY_CTX_free(b->sign_pctx);
  EVP_PKEY_CTX_free(b->ver_pctx);
  sodium_memzero(b, sizeof(*b));
}

/* sig_check: the signature made by each implementation verifies under
 * ours, and ours verifies under each raw verifier. */
static int sig_check(sig_bench *b, const char *where) {
  static const struct {
    bench_fn sign;
    const char *name;
  } signers[] = {{sig_ours_sign, "ours"},
                 {sig_ossl_sign_init, "OpenSSL DigestSign"},
                 {sig_ossl_sign_copy, "OpenSSL DigestSign (copy)"},
                 {sig_ossl_sign_prehash, "OpenSSL PKEY_sign"},
                 {sig_sodium_sign, "libsodium"}};
  uint8_t keep[MG_MAX_SIG_LEN];
  size_t keep_len = b->sig_len;
  memcpy(keep, b->sig, b->sig_len);
  for (size_t i = 0; i < MG_ARRAY_LEN(signers); i++) {
    if ((signers[i].sign == sig_ossl_sign_copy && b->tmpl_sign == NULL) ||
        (signers[i].sign == sig_ossl_sign_prehash && b->sign_pctx == NULL) ||
        (signers[i].sign == sig_sodium_sign && !b->have_sodium)) {
      continue;
    }
    if (signers[i].sign(b) != 0 || b->out_len > sizeof(b->sig)) {
      fprintf(stderr, "bench: %s: %s sign failed\n", where, signers[i].name);
      return -1;
    }
    memcpy(b->sig, b->out, b->out_len);
    b->sig_len = b->out_len;
    int bad = sig_ours_verify(b) != 0 || sig_ossl_verify_init(b) != 0;
    if (!bad && b->have_sodium) {
      bad = sig_sodium_verify(b) != 0;
    }
    if (!bad && b->ver_pctx != NULL) {
      bad = sig_ossl_verify_prehash(b) != 0;
    }
    if (!bad && b->tmpl_ver != NULL) {
      bad = sig_ossl_verify_copy(b) != 0;
    }
    if (bad) {
      fprintf(stderr, "bench: %s: signature by %s does not cross-verify\n",
              where, signers[i].name);
      ERR_print_errors_fp(stderr);
      return -1;
    }
  }
  /* A corrupted signature must be rejected by ours. */
  b->sig[b->sig_len / 2] ^= 0x01;
  int accepted = sig_ours_verify(b) == 0;
  memcpy(b->sig, keep, keep_len);
  b->sig_len = keep_len;
  if (accepted) {
    fprintf(stderr, "bench: %s: ours accepted a corrupted signature\n", where);
    return -1;
  }
  ERR_clear_error();
  return sig_ours_verify(b);
}

static int sig_setup(sig_bench *b, const mls_suite *s) {
  uint8_t priv[MG_MAX_SIG_PRIV_LEN], pub[MG_MAX_SIG_PUB_LEN];
  EVP_PKEY_CTX *fctx = NULL;
  int rc = -1;
  memset(b, 0, sizeof(*b));
  b->alg = s->sig;
  if (ossl_sig_spec(b->alg, &b->ks) != 0) {
    fprintf(stderr, "bench: unknown signature algorithm %s\n", b->alg->name);
    return -1;
  }
  for (size_t i = 0; i < sizeof(b->msg); i++) {
    b->msg[i] = (uint8_t)(i * 7 + 1);
  }
  if (b->alg->generate(b->alg, priv, pub) != 0 ||
      b->alg->key_from_priv(b->alg, &b->key_priv, priv, b->alg->priv_len) !=
          0 ||
      b->alg->key_from_pub(b->alg, &b->key_pub, pub, b->alg->pub_len) != 0) {
    fprintf(stderr, "bench: %s: our key generation/import failed\n",
            b->alg->name);
    goto out;
  }
  fctx = ossl_fromdata_ctx(b->ks.type);
  if (fctx == NULL) {
    goto out;
  }
  b->pk_priv = ossl_key_from_raw(fctx, &b->ks, priv, b->alg->priv_len,
                                 b->ks.group != NULL ? pub : NULL,
                                 b->alg->pub_len);
  b->pk_pub = ossl_key_from_raw(fctx, &b->ks, NULL, 0, pub, b->alg->pub_len);
  b->mctx_sign = EVP_MD_CTX_new();
  b->mctx_ver = EVP_MD_CTX_new();
  if (b->pk_priv == NULL || b->pk_pub == NULL || b->mctx_sign == NULL ||
      b->mctx_ver == NULL) {
    goto out;
  }
  if (b->ks.md == NULL) {
    b->tmpl_sign = EVP_MD_CTX_new();
    b->tmpl_ver = EVP_MD_CTX_new();
    b->copy_sign = EVP_MD_CTX_new();
    b->copy_ver = EVP_MD_CTX_new();
    if (b->tmpl_sign == NULL || b->tmpl_ver == NULL || b->copy_sign == NULL ||
        b->copy_ver == NULL ||
        EVP_DigestSignInit_ex(b->tmpl_sign, NULL, NULL, NULL, NULL,
                              b->pk_priv, NULL) != 1 ||
        EVP_DigestVerifyInit_ex(b->tmpl_ver, NULL, NULL, NULL, NULL,
                                b->pk_pub, NULL) != 1) {
      goto out;
    }
  } else {
    b->md = EVP_MD_fetch(NULL, b->ks.md, NULL);
    b->hctx = EVP_MD_CTX_new();
    b->sign_pctx = EVP_PKEY_CTX_new_from_pkey(NULL, b->pk_priv, NULL);
    b->ver_pctx = EVP_PKEY_CTX_new_from_pkey(NULL, b->pk_pub, NULL);
    if (b->md == NULL || b->hctx == NULL || b->sign_pctx == NULL ||
        b->ver_pctx == NULL || EVP_PKEY_sign_init(b->sign_pctx) != 1 ||
        EVP_PKEY_CTX_set_signature_md(b->sign_pctx, b->md) != 1 ||
        EVP_PKEY_verify_init(b->ver_pctx) != 1 ||
        EVP_PKEY_CTX_set_signature_md(b->ver_pctx, b->md) != 1) {
      goto out;
    }
  }
  if (b->alg == &mg_sig_ed25519) {
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    if (crypto_sign_seed_keypair(pk, b->sod_sk, priv) != 0 ||
        memcmp(pk, pub, sizeof(pk)) != 0) {
      fprintf(stderr, "bench: libsodium derives another Ed25519 key\n");
      goto out;
    }
    memcpy(b->sod_pk, pk, sizeof(pk));
    b->have_sodium = 1;
  }
  /* The verify benches check a signature made by ours. */
  if (sig_ours_sign(b) != 0) {
    fprintf(stderr, "bench: %s: our sign failed\n", b->alg->name);
    goto out;
  }
  memcpy(b->sig, b->out, b->out_len);
  b->sig_len = b->out_len;
  rc = sig_check(b, b->alg->name);
out:
  if (rc != 0) {
    ERR_print_errors_fp(stderr);
  }
  EVP_PKEY_CTX_free(fctx);
  sodium_memzero(priv, sizeof(priv));
  return rc;
}

/* ------------------------------------------------------------------ AEAD */

typedef enum sodium_aead {
  SOD_AEAD_NONE = 0,
  SOD_AEAD_CHACHA,
  SOD_AEAD_AES256GCM
} sodium_aead;

typedef struct aead_bench {
  const mg_aead_alg *alg;
  uint8_t key[MG_MAX_AEAD_KEY_LEN];
  uint8_t nonce[12];
  uint8_t aad[AEAD_AAD_LEN];
  uint8_t pt[AEAD_PT_LEN];
  uint8_t ct[AEAD_PT_LEN + MG_MAX_AEAD_TAG_LEN]; /* sealed by ours */
  uint8_t out[AEAD_PT_LEN + MG_MAX_AEAD_TAG_LEN];
  EVP_CIPHER *cipher;
  EVP_CIPHER_CTX *ectx, *dctx;
  sodium_aead sod;
} aead_bench;

static int aead_ours_seal(void *arg) {
  aead_bench *b = arg;
  return b->alg->seal(b->alg, b->out, b->key, b->nonce, b->alg->nonce_len,
                      b->aad, sizeof(b->aad), b->pt, sizeof(b->pt));
}

static int aead_ours_open(void *arg) {
  aead_bench *b = arg;
  return b->alg->open(b->alg, b->out, b->key, b->nonce, b->alg->nonce_len,
                      b->aad, sizeof(b->aad), b->ct,
                      sizeof(b->pt) + b->alg->tag_len);
}

static int aead_ossl_seal(void *arg) {
  aead_bench *b = arg;
  return ossl_aead_seal(b->ectx, b->out, b->key, b->nonce, b->aad,
                        sizeof(b->aad), b->pt, sizeof(b->pt),
                        b->alg->tag_len);
}

static int aead_ossl_open(void *arg) {
  aead_bench *b = arg;
  return ossl_aead_open(b->dctx, b->out, b->key, b->nonce, b->aad,
                        sizeof(b->aad), b->ct, sizeof(b->pt) + b->alg->tag_len,
                        b->alg->tag_len);
}

static int aead_sodium_seal(void *arg) {
  aead_bench *b = arg;
  unsigned long long len = 0;
  int rc = -1;
  switch (b->sod) {
  case SOD_AEAD_CHACHA:
    rc = crypto_aead_chacha20poly1305_ietf_encrypt(
        b->out, &len, b->pt, sizeof(b->pt), b->aad, sizeof(b->aad), NULL,
        b->nonce, b->key);
    break;
  case SOD_AEAD_AES256GCM:
    rc = crypto_aead_aes256gcm_encrypt(b->out, &len, b->pt, sizeof(b->pt),
                                       b->aad, sizeof(b->aad), NULL, b->nonce,
                                       b->key);
    break;
  case SOD_AEAD_NONE:
  default:
    break;
  }
  return rc == 0 ? 0 : -1;
}

static int aead_sodium_open(void *arg) {
  aead_bench *b = arg;
  unsigned long long len = 0;
  int rc = -1;
  switch (b->sod) {
  case SOD_AEAD_CHACHA:
    rc = crypto_aead_chacha20poly1305_ietf_decrypt(
        b->out, &len, NULL, b->ct, sizeof(b->pt) + b->alg->tag_len, b->aad,
        sizeof(b->aad), b->nonce, b->key);
    break;
  case SOD_AEAD_AES256GCM:
    rc = crypto_aead_aes256gcm_decrypt(b->out, &len, NULL, b->ct,
                                       sizeof(b->pt) + b->alg->tag_len,
                                       b->aad, sizeof(b->aad), b->nonce,
                                       b->key);
    break;
  case SOD_AEAD_NONE:
  default:
    break;
  }
  return rc == 0 ? 0 : -1;
}

static void aead_cleanup(aead_bench *b) {
  EVP_CIPHER_free(b->cipher);
  EVP_CIPHER_CTX_free(b->ectx);
  EVP_CIPHER_CTX_free(b->dctx);
  sodium_memzero(b, sizeof(*b));
}

static int aead_setup(aead_bench *b, const mls_suite *s) {
  const size_t ct_len = AEAD_PT_LEN + s->aead->tag_len;
  memset(b, 0, sizeof(*b));
  b->alg = s->aead;
  const char *cname = bench_ossl_cipher_name(b->alg);
  if (cname == NULL || b->alg->nonce_len != sizeof(b->nonce) ||
      b->alg->key_len > sizeof(b->key) ||
      b->alg->tag_len > MG_MAX_AEAD_TAG_LEN) {
    fprintf(stderr, "bench: unexpected AEAD %s\n", b->alg->name);
    return -1;
  }
  randombytes_buf(b->key, sizeof(b->key));
  randombytes_buf(b->nonce, sizeof(b->nonce));
  randombytes_buf(b->aad, sizeof(b->aad));
  randombytes_buf(b->pt, sizeof(b->pt));
  b->cipher = EVP_CIPHER_fetch(NULL, cname, NULL);
  if (b->cipher == NULL) {
    goto fail;
  }
  b->ectx = ossl_cipher_ctx(b->cipher, 1);
  b->dctx = ossl_cipher_ctx(b->cipher, 0);
  if (b->ectx == NULL || b->dctx == NULL) {
    goto fail;
  }
  if (b->alg == &mg_chacha20poly1305) {
    b->sod = SOD_AEAD_CHACHA;
  } else if (b->alg == &mg_aes256gcm && crypto_aead_aes256gcm_is_available()) {
    b->sod = SOD_AEAD_AES256GCM;
  }
  /* ours seals; OpenSSL and libsodium must produce the same bytes (the
   * AEADs are deterministic) and every opener must recover the plaintext. */
  if (aead_ours_seal(b) != 0) {
    fprintf(stderr, "bench: %s: our seal failed\n", b->alg->name);
    goto fail;
  }
  memcpy(b->ct, b->out, ct_len);
  if (aead_ossl_seal(b) != 0 || memcmp(b->out, b->ct, ct_len) != 0) {
    fprintf(stderr, "bench: %s: OpenSSL seal differs from ours\n",
            b->alg->name);
    goto fail;
  }
  if (b->sod != SOD_AEAD_NONE &&
      (aead_sodium_seal(b) != 0 || memcmp(b->out, b->ct, ct_len) != 0)) {
    fprintf(stderr, "bench: %s: libsodium seal differs from ours\n",
            b->alg->name);
    goto fail;
  }
  static const bench_fn openers[] = {aead_ours_open, aead_ossl_open,
                                     aead_sodium_open};
  for (size_t i = 0; i < MG_ARRAY_LEN(openers); i++) {
    if (openers[i] == aead_sodium_open && b->sod == SOD_AEAD_NONE) {
      continue;
    }
    memset(b->out, 0, sizeof(b->out));
    if (openers[i](b) != 0 || memcmp(b->out, b->pt, sizeof(b->pt)) != 0) {
      fprintf(stderr, "bench: %s: open #%zu failed\n", b->alg->name, i);
      goto fail;
    }
  }
  /* A flipped tag bit must be refused by ours. */
  b->ct[ct_len - 1] ^= 0x80;
  int accepted = aead_ours_open(b) == 0;
  b->ct[ct_len - 1] ^= 0x80;
  if (accepted) {
    fprintf(stderr, "bench: %s: ours opened a forged ciphertext\n",
            b->alg->name);
    goto fail;
  }
  return 0;
fail:
  ERR_print_errors_fp(stderr);
  return -1;
}

/* ------------------------------------------------------- ExpandWithLabel */

typedef struct ewl_bench {
  const mls_suite *suite;
  size_t nh;
  uint8_t secret[MG_MAX_HASH_LEN];
  uint8_t context[EWL_CONTEXT_LEN];
  uint8_t info[KDF_LABEL_MAX]; /* the serialized KDFLabel */
  size_t info_len;
  uint8_t out[MG_MAX_HASH_LEN];
  /* OpenSSL */
  EVP_MAC *mac;
  EVP_MAC_CTX *mctx;
  EVP_KDF *kdf;
  EVP_KDF_CTX *kctx;
  md_hmac mh;
  /* libsodium: 256, 512 or 0 */
  int sod_bits;
} ewl_bench;

/* kdf_label_encode serializes RFC 9420 §8 KDFLabel { uint16 length;
 * opaque label<V> = "MLS 1.0 " + Label; opaque context<V>; }, with the
 * lengths here always below 64 (one-byte varints, RFC 9000 §16). */
static int kdf_label_encode(uint8_t *out, size_t cap, size_t *out_len,
                            size_t length, const char *label,
                            const uint8_t *ctx, size_t ctx_len) {
  static const char prefix[] = "MLS 1.0 ";
  size_t llen = strlen(label);
  size_t full = sizeof(prefix) - 1 + llen;
  size_t n = 0;
  if (full > 63 || ctx_len > 63 || 2 + 1 + full + 1 + ctx_len > cap ||
      length > 0xffff) {
    return -1;
  }
  out[n++] = (uint8_t)(length >> 8);
  out[n++] = (uint8_t)length;
  out[n++] = (uint8_t)full;
  memcpy(out + n, prefix, sizeof(prefix) - 1);
  n += sizeof(prefix) - 1;
  memcpy(out + n, label, llen);
  n += llen;
  out[n++] = (uint8_t)ctx_len;
  memcpy(out + n, ctx, ctx_len);
  n += ctx_len;
  *out_len = n;
  return 0;
}

static int ewl_ours(void *arg) {
  ewl_bench *b = arg;
  return mls_expand_with_label(b->suite, b->out, b->nh, b->secret, b->nh,
                               EWL_LABEL, b->context, sizeof(b->context));
}

/* The wrapper's own KDF.Expand on the pre-serialized label: the difference
 * to ewl_ours is the cost of building KDFLabel. */
static int ewl_ours_kdf_expand(void *arg) {
  ewl_bench *b = arg;
  return b->suite->kdf->expand(b->suite->kdf, b->out, b->nh, b->secret, b->nh,
                               b->info, b->info_len);
}

static int ewl_ossl_hmac(void *arg) {
  ewl_bench *b = arg;
  raw_mac m = {ossl_hmac_fn, b->mctx, b->nh};
  bench_iov v = {b->info, b->info_len};
  return hkdf_expand_block(&m, b->out, b->nh, b->secret, b->nh, &v, 1);
}

static int ewl_ossl_mdhmac(void *arg) {
  ewl_bench *b = arg;
  raw_mac m = {md_hmac_fn, &b->mh, b->nh};
  bench_iov v = {b->info, b->info_len};
  return hkdf_expand_block(&m, b->out, b->nh, b->secret, b->nh, &v, 1);
}

/* EVP_KDF HKDF in expand-only mode; mode and digest set once, key and info
 * per call. */
static int ewl_ossl_kdf(void *arg) {
  ewl_bench *b = arg;
  OSSL_PARAM p[3];
  p[0] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, b->secret,
                                           b->nh);
  p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, b->info,
                                           b->info_len);
  p[2] = OSSL_PARAM_construct_end();
  return EVP_KDF_derive(b->kctx, b->out, b->nh, p) == 1 ? 0 : -1;
}

static int ewl_sodium(void *arg) {
  ewl_bench *b = arg;
  raw_mac m = {b->sod_bits == 256 ? sodium_hmac256_fn : sodium_hmac512_fn,
               NULL, b->nh};
  bench_iov v = {b->info, b->info_len};
  return hkdf_expand_block(&m, b->out, b->nh, b->secret, b->nh, &v, 1);
}

static void ewl_cleanup(ewl_bench *b) {
  EVP_MAC_CTX_free(b->mctx);
  EVP_MAC_free(b->mac);
  EVP_KDF_CTX_free(b->kctx);
  EVP_KDF_free(b->kdf);
  md_hmac_cleanup(&b->mh);
  sodium_memzero(b, sizeof(*b));
}

static int ewl_setup(ewl_bench *b, const mls_suite *s) {
  uint8_t want[MG_MAX_HASH_LEN];
  memset(b, 0, sizeof(*b));
  b->suite = s;
  b->nh = s->kdf->nh;
  const char *md = bench_ossl_md_name(s->kdf->hash);
  if (md == NULL || b->nh > MG_MAX_HASH_LEN) {
    fprintf(stderr, "bench: unexpected KDF %s\n", s->kdf->name);
    return -1;
  }
  randombytes_buf(b->secret, sizeof(b->secret));
  b->context[3] = 7; /* generation 7 */
  if (kdf_label_encode(b->info, sizeof(b->info), &b->info_len, b->nh,
                       EWL_LABEL, b->context, sizeof(b->context)) != 0) {
    return -1;
  }
  b->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  b->kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
  if (b->mac == NULL || b->kdf == NULL) {
    goto fail;
  }
  b->mctx = ossl_hmac_ctx(b->mac, md);
  b->kctx = EVP_KDF_CTX_new(b->kdf);
  if (b->mctx == NULL || b->kctx == NULL || md_hmac_init(&b->mh, md) != 0) {
    goto fail;
  }
  {
    char mdbuf[16];
    int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
    OSSL_PARAM p[3];
    snprintf(mdbuf, sizeof(mdbuf), "%s", md);
    p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, mdbuf, 0);
    p[1] = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
    p[2] = OSSL_PARAM_construct_end();
    if (EVP_KDF_CTX_set_params(b->kctx, p) != 1) {
      goto fail;
    }
  }
  if (b->nh == 32) {
    b->sod_bits = 256;
  } else if (b->nh == 64) {
    b->sod_bits = 512;
  }
  /* All paths must give the same Nh bytes. */
  if (ewl_ossl_kdf(b) != 0) {
    goto fail;
  }
  memcpy(want, b->out, b->nh);
  static const struct {
    bench_fn fn;
    const char *name;
  } paths[] = {{ewl_ours, "ours ExpandWithLabel"},
               {ewl_ours_kdf_expand, "ours kdf->expand"},
               {ewl_ossl_hmac, "OpenSSL EVP_MAC"},
               {ewl_ossl_mdhmac, "OpenSSL EVP_MD HMAC"},
               {ewl_sodium, "libsodium HMAC"}};
  for (size_t i = 0; i < MG_ARRAY_LEN(paths); i++) {
    if (paths[i].fn == ewl_sodium && b->sod_bits == 0) {
      continue;
    }
    memset(b->out, 0, sizeof(b->out));
    if (paths[i].fn(b) != 0 || memcmp(b->out, want, b->nh) != 0) {
      fprintf(stderr, "bench: %s: %s disagrees with OpenSSL HKDF\n",
              s->kdf->name, paths[i].name);
      goto fail;
    }
  }
  return 0;
fail:
  ERR_print_errors_fp(stderr);
  return -1;
}

/* ------------------------------------------------------------------ HPKE */

typedef struct hpke_bench {
  const mls_suite *suite;
  mg_hpke_suite hs;
  size_t npk, nsk, ndh, nsecret, nk, nn, nt;
  uint8_t kem_sid[5];  /* "KEM" || I2OSP(kem_id, 2), RFC 9180 §4.1 */
  uint8_t hpke_sid[10]; /* "HPKE" || kem_id || kdf_id || aead_id, §5.1 */
  mg_hpke_key key_r;
  uint8_t pk_r[MG_HPKE_MAX_PUB_LEN]; /* serialized copies (non-const) */
  uint8_t sk_r[MG_HPKE_MAX_PRIV_LEN];
  uint8_t info[HPKE_INFO_MAX];
  size_t info_len;
  uint8_t pt[HPKE_PT_LEN];
  /* a valid (enc, ct) made by ours: what every open bench opens */
  uint8_t enc[MG_HPKE_MAX_ENC_LEN];
  uint8_t ct[HPKE_PT_LEN + MG_MAX_AEAD_TAG_LEN];
  /* outputs */
  uint8_t out_enc[MG_HPKE_MAX_ENC_LEN];
  uint8_t out_ct[HPKE_PT_LEN + MG_MAX_AEAD_TAG_LEN];
  uint8_t out_pt[HPKE_PT_LEN + MG_MAX_AEAD_TAG_LEN];
  /* OpenSSL */
  ossl_keyspec ks;
  EVP_PKEY_CTX *kg;        /* key generation, initialized once */
  EVP_PKEY_CTX *fd;        /* fromdata, initialized once */
  EVP_PKEY *pkey_r_pub;    /* prepared keys (info-only variants) */
  EVP_PKEY_CTX *derive_r;  /* derive context on skR, initialized once */
  md_hmac hmac_kem, hmac_kdf; /* the fastest raw HMAC (see md_hmac) */
  EVP_CIPHER *cipher;
  EVP_CIPHER_CTX *ectx, *dctx;
  int have_sodium; /* suite 3: X25519, HKDF-SHA256, ChaCha20-Poly1305 */
} hpke_bench;

static int ours_hpke_seal(void *arg) {
  hpke_bench *b = arg;
  size_t enc_len = 0, ct_len = 0;
  return mg_hpke_seal_single(b->out_enc, sizeof(b->out_enc), &enc_len,
                             b->out_ct, sizeof(b->out_ct), &ct_len, &b->hs,
                             b->pk_r, b->npk, b->info, b->info_len, NULL, NULL,
                             0, b->pt, sizeof(b->pt));
}

static int ours_hpke_open(void *arg) {
  hpke_bench *b = arg;
  size_t pt_len = 0;
  return mg_hpke_open_single(b->out_pt, sizeof(b->out_pt), &pt_len, &b->hs,
                             &b->key_r, b->enc, b->npk, b->info, b->info_len,
                             NULL, NULL, 0, b->ct, sizeof(b->pt) + b->nt);
}

/* LabeledExtract(salt, label, ikm) = Extract(salt, "HPKE-v1" || suite_id ||
 * label || ikm) (RFC 9180 §4); an empty salt is Nh zero bytes (RFC 5869). */
static int labeled_extract(const raw_mac *m, uint8_t *out, const uint8_t *salt,
                           size_t salt_len, const uint8_t *sid, size_t sid_len,
                           const char *label, const uint8_t *ikm,
                           size_t ikm_len) {
  static const uint8_t zeros[MG_MAX_HASH_LEN];
  bench_iov v[4] = {{(const uint8_t *)"HPKE-v1", 7},
                    {sid, sid_len},
                    {(const uint8_t *)label, strlen(label)},
                    {ikm, ikm_len}};
  if (salt_len == 0) {
    salt = zeros;
    salt_len = m->nh;
  }
  return m->fn(m->self, out, salt, salt_len, v, 4);
}

/* LabeledExpand(prk, label, info, L) = Expand(prk, I2OSP(L, 2) || "HPKE-v1"
 * || suite_id || label || info, L) (RFC 9180 §4). */
static int labeled_expand(const raw_mac *m, uint8_t *out, size_t out_len,
                          const uint8_t *prk, const uint8_t *sid,
                          size_t sid_len, const char *label,
                          const uint8_t *info, size_t info_len) {
  uint8_t l2[2] = {(uint8_t)(out_len >> 8), (uint8_t)out_len};
  bench_iov v[5] = {{l2, 2},
                    {(const uint8_t *)"HPKE-v1", 7},
                    {sid, sid_len},
                    {(const uint8_t *)label, strlen(label)},
                    {info, info_len}};
  return hkdf_expand_block(m, out, out_len, prk, m->nh, v, 5);
}

/* hpke_raw_schedule: DHKEM ExtractAndExpand (§4.1) and the base-mode
 * KeySchedule (§5.1) up to key and base_nonce (a single-shot seal never
 * needs the exporter secret). */
static int hpke_raw_schedule(const hpke_bench *b, const raw_mac *km,
                             const raw_mac *fm, uint8_t *key, uint8_t *nonce,
                             const uint8_t *dh, const uint8_t *enc) {
  uint8_t kem_ctx[2 * MG_HPKE_MAX_PUB_LEN];
  uint8_t prk[MG_MAX_HASH_LEN], ss[MG_MAX_HASH_LEN], secret[MG_MAX_HASH_LEN];
  uint8_t ksc[MG_HPKE_MAX_KS_CONTEXT_LEN];
  int rc = -1;
  memcpy(kem_ctx, enc, b->npk);
  memcpy(kem_ctx + b->npk, b->pk_r, b->npk);
  if (labeled_extract(km, prk, NULL, 0, b->kem_sid, sizeof(b->kem_sid),
                      "eae_prk", dh, b->ndh) != 0 ||
      labeled_expand(km, ss, b->nsecret, prk, b->kem_sid, sizeof(b->kem_sid),
                     "shared_secret", kem_ctx, 2 * b->npk) != 0) {
    goto out;
  }
  ksc[0] = 0x00; /* mode_base */
  if (labeled_extract(fm, ksc + 1, NULL, 0, b->hpke_sid, sizeof(b->hpke_sid),
                      "psk_id_hash", NULL, 0) != 0 ||
      labeled_extract(fm, ksc + 1 + fm->nh, NULL, 0, b->hpke_sid,
                      sizeof(b->hpke_sid), "info_hash", b->info,
                      b->info_len) != 0 ||
      labeled_extract(fm, secret, ss, b->nsecret, b->hpke_sid,
                      sizeof(b->hpke_sid), "secret", NULL, 0) != 0 ||
      labeled_expand(fm, key, b->nk, secret, b->hpke_sid, sizeof(b->hpke_sid),
                     "key", ksc, 1 + 2 * fm->nh) != 0 ||
      labeled_expand(fm, nonce, b->nn, secret, b->hpke_sid,
                     sizeof(b->hpke_sid), "base_nonce", ksc,
                     1 + 2 * fm->nh) != 0) {
    goto out;
  }
  rc = 0;
out:
  sodium_memzero(prk, sizeof(prk));
  sodium_memzero(ss, sizeof(ss));
  sodium_memzero(secret, sizeof(secret));
  return rc;
}

/* ossl_derive: DH(sk, peer) on a fresh context.  The peer was parsed by
 * EVP_PKEY_fromdata, which already rejects points off the curve, so the
 * extra full public-key check of EVP_PKEY_derive_set_peer is skipped (the
 * NIST curves have cofactor 1; OpenSSL's X25519/X448 refuse an all-zero
 * output by themselves). */
static int ossl_derive(EVP_PKEY_CTX *dctx, uint8_t *out, size_t want,
                       EVP_PKEY *peer) {
  size_t len = want;
  if (EVP_PKEY_derive_set_peer_ex(dctx, peer, 0) != 1 ||
      EVP_PKEY_derive(dctx, out, &len) != 1) {
    return -1;
  }
  return len == want ? 0 : -1;
}

/* Encap over OpenSSL: fresh ephemeral key, serialize pkE, DH with pkR. */
static int hpke_ossl_encap(hpke_bench *b, uint8_t *dh, int prepared) {
  EVP_PKEY *e = NULL, *pk_r = NULL;
  EVP_PKEY_CTX *d = NULL;
  int rc = -1;
  if (prepared) {
    pk_r = b->pkey_r_pub;
  } else {
    pk_r = ossl_key_from_raw(b->fd, &b->ks, NULL, 0, b->pk_r, b->npk);
    if (pk_r == NULL) {
      goto out;
    }
  }
  if (EVP_PKEY_generate(b->kg, &e) != 1 ||
      ossl_pub_encode(e, &b->ks, b->out_enc, b->npk) != 0) {
    goto out;
  }
  d = EVP_PKEY_CTX_new_from_pkey(NULL, e, NULL);
  if (d == NULL || EVP_PKEY_derive_init(d) != 1 ||
      ossl_derive(d, dh, b->ndh, pk_r) != 0) {
    goto out;
  }
  rc = 0;
out:
  EVP_PKEY_CTX_free(d);
  EVP_PKEY_free(e);
  if (!prepared) {
    EVP_PKEY_free(pk_r);
  }
  return rc;
}

static int hpke_ossl_seal_impl(hpke_bench *b, int prepared) {
  uint8_t dh[MG_MAX_DH_SECRET_LEN], key[MG_MAX_AEAD_KEY_LEN], nonce[12];
  raw_mac km = {md_hmac_fn, &b->hmac_kem, b->hs.kem->kdf->nh};
  raw_mac fm = {md_hmac_fn, &b->hmac_kdf, b->hs.kdf->nh};
  int rc = -1;
  if (hpke_ossl_encap(b, dh, prepared) == 0 &&
      hpke_raw_schedule(b, &km, &fm, key, nonce, dh, b->out_enc) == 0 &&
      ossl_aead_seal(b->ectx, b->out_ct, key, nonce, NULL, 0, b->pt,
                     sizeof(b->pt), b->nt) == 0) {
    rc = 0;
  }
  sodium_memzero(dh, sizeof(dh));
  sodium_memzero(key, sizeof(key));
  return rc;
}

static int hpke_ossl_seal(void *arg) { return hpke_ossl_seal_impl(arg, 0); }
static int hpke_ossl_seal_prep(void *arg) {
  return hpke_ossl_seal_impl(arg, 1);
}

/* Decap over OpenSSL.  Not prepared: skR (with its public key, as in
 * mg_hpke_key) goes through fromdata on every call, like our open. */
static int hpke_ossl_open_impl(hpke_bench *b, int prepared) {
  uint8_t dh[MG_MAX_DH_SECRET_LEN], key[MG_MAX_AEAD_KEY_LEN], nonce[12];
  raw_mac km = {md_hmac_fn, &b->hmac_kem, b->hs.kem->kdf->nh};
  raw_mac fm = {md_hmac_fn, &b->hmac_kdf, b->hs.kdf->nh};
  EVP_PKEY *pk_e = NULL, *sk_r = NULL;
  EVP_PKEY_CTX *d = NULL;
  int rc = -1;
  pk_e = ossl_key_from_raw(b->fd, &b->ks, NULL, 0, b->enc, b->npk);
  if (pk_e == NULL) {
    goto out;
  }
  if (prepared) {
    d = b->derive_r;
  } else {
    sk_r = ossl_key_from_raw(b->fd, &b->ks, b->sk_r, b->nsk, b->pk_r, b->npk);
    if (sk_r == NULL) {
      goto out;
    }
    d = EVP_PKEY_CTX_new_from_pkey(NULL, sk_r, NULL);
    if (d == NULL || EVP_PKEY_derive_init(d) != 1) {
      goto out;
    }
  }
  if (ossl_derive(d, dh, b->ndh, pk_e) != 0 ||
      hpke_raw_schedule(b, &km, &fm, key, nonce, dh, b->enc) != 0 ||
      ossl_aead_open(b->dctx, b->out_pt, key, nonce, NULL, 0, b->ct,
                     sizeof(b->pt) + b->nt, b->nt) != 0) {
    goto out;
  }
  rc = 0;
out:
  if (!prepared) {
    EVP_PKEY_CTX_free(d);
    EVP_PKEY_free(sk_r);
  }
  EVP_PKEY_free(pk_e);
  sodium_memzero(dh, sizeof(dh));
  sodium_memzero(key, sizeof(key));
  return rc;
}

static int hpke_ossl_open(void *arg) { return hpke_ossl_open_impl(arg, 0); }
static int hpke_ossl_open_prep(void *arg) {
  return hpke_ossl_open_impl(arg, 1);
}

/* The same composition over libsodium (suite 3 only). */
static int hpke_sodium_seal(void *arg) {
  hpke_bench *b = arg;
  uint8_t sk_e[crypto_scalarmult_SCALARBYTES], dh[crypto_scalarmult_BYTES];
  uint8_t key[crypto_aead_chacha20poly1305_ietf_KEYBYTES];
  uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];
  raw_mac m = {sodium_hmac256_fn, NULL, 32};
  unsigned long long len = 0;
  int rc = -1;
  randombytes_buf(sk_e, sizeof(sk_e));
  if (crypto_scalarmult_base(b->out_enc, sk_e) == 0 &&
      crypto_scalarmult(dh, sk_e, b->pk_r) == 0 &&
      hpke_raw_schedule(b, &m, &m, key, nonce, dh, b->out_enc) == 0 &&
      crypto_aead_chacha20poly1305_ietf_encrypt(b->out_ct, &len, b->pt,
                                                sizeof(b->pt), NULL, 0, NULL,
                                                nonce, key) == 0) {
    rc = 0;
  }
  sodium_memzero(sk_e, sizeof(sk_e));
  sodium_memzero(dh, sizeof(dh));
  sodium_memzero(key, sizeof(key));
  return rc;
}

static int hpke_sodium_open(void *arg) {
  hpke_bench *b = arg;
  uint8_t dh[crypto_scalarmult_BYTES];
  uint8_t key[crypto_aead_chacha20poly1305_ietf_KEYBYTES];
  uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];
  raw_mac m = {sodium_hmac256_fn, NULL, 32};
  unsigned long long len = 0;
  int rc = -1;
  if (crypto_scalarmult(dh, b->sk_r, b->enc) == 0 &&
      hpke_raw_schedule(b, &m, &m, key, nonce, dh, b->enc) == 0 &&
      crypto_aead_chacha20poly1305_ietf_decrypt(
          b->out_pt, &len, NULL, b->ct, sizeof(b->pt) + b->nt, NULL, 0, nonce,
          key) == 0) {
    rc = 0;
  }
  sodium_memzero(dh, sizeof(dh));
  sodium_memzero(key, sizeof(key));
  return rc;
}

static void hpke_cleanup(hpke_bench *b) {
  mg_hpke_key_cleanup(&b->key_r);
  EVP_PKEY_CTX_free(b->kg);
  EVP_PKEY_CTX_free(b->fd);
  EVP_PKEY_free(b->pkey_r_pub);
  EVP_PKEY_CTX_free(b->derive_r);
  md_hmac_cleanup(&b->hmac_kem);
  md_hmac_cleanup(&b->hmac_kdf);
  EVP_CIPHER_CTX_free(b->ectx);
  EVP_CIPHER_CTX_free(b->dctx);
  EVP_CIPHER_free(b->cipher);
  sodium_memzero(b, sizeof(*b));
}

/* hpke_check_open: every opener recovers pt from (enc, ct) in |b|. */
static int hpke_check_open(hpke_bench *b, const char *made_by) {
  static const struct {
    bench_fn fn;
    const char *name;
  } openers[] = {{ours_hpke_open, "ours"},
                 {hpke_ossl_open, "OpenSSL"},
                 {hpke_ossl_open_prep, "OpenSSL (prepared)"},
                 {hpke_sodium_open, "libsodium"}};
  for (size_t i = 0; i < MG_ARRAY_LEN(openers); i++) {
    if (openers[i].fn == hpke_sodium_open && !b->have_sodium) {
      continue;
    }
    memset(b->out_pt, 0, sizeof(b->out_pt));
    if (openers[i].fn(b) != 0 ||
        memcmp(b->out_pt, b->pt, sizeof(b->pt)) != 0) {
      fprintf(stderr, "bench: HPKE suite %u: %s cannot open what %s sealed\n",
              b->suite->id, openers[i].name, made_by);
      return -1;
    }
  }
  return 0;
}

static int hpke_setup(hpke_bench *b, const mls_suite *s) {
  static const char enc_label[] = "MLS 1.0 UpdatePathNode";
  memset(b, 0, sizeof(*b));
  mg_hpke_key_zero(&b->key_r);
  b->suite = s;
  b->hs.kem = s->kem;
  b->hs.kdf = s->kdf;
  b->hs.aead = s->aead;
  b->npk = s->kem->pub_len;
  b->nsk = s->kem->priv_len;
  b->ndh = s->kem->dh->secret_len;
  b->nsecret = s->kem->secret_len;
  b->nk = s->aead->key_len;
  b->nn = s->aead->nonce_len;
  b->nt = s->aead->tag_len;
  if (s->kem->enc_len != b->npk || b->nn != 12 ||
      b->npk > sizeof(b->pk_r) || b->nsk > sizeof(b->sk_r) ||
      ossl_dh_spec(s->kem->dh, &b->ks) != 0) {
    fprintf(stderr, "bench: unexpected KEM %s\n", s->kem->name);
    return -1;
  }
  const uint16_t kem_id = s->kem->id, kdf_id = s->kdf->id,
                 aead_id = s->aead->id;
  memcpy(b->kem_sid, "KEM", 3);
  b->kem_sid[3] = (uint8_t)(kem_id >> 8);
  b->kem_sid[4] = (uint8_t)kem_id;
  memcpy(b->hpke_sid, "HPKE", 4);
  b->hpke_sid[4] = (uint8_t)(kem_id >> 8);
  b->hpke_sid[5] = (uint8_t)kem_id;
  b->hpke_sid[6] = (uint8_t)(kdf_id >> 8);
  b->hpke_sid[7] = (uint8_t)kdf_id;
  b->hpke_sid[8] = (uint8_t)(aead_id >> 8);
  b->hpke_sid[9] = (uint8_t)aead_id;
  /* info = EncryptContext { label<V>, context<V> } (RFC 9420 §5.1.3). */
  b->info[0] = (uint8_t)(sizeof(enc_label) - 1);
  memcpy(b->info + 1, enc_label, sizeof(enc_label) - 1);
  b->info_len = 1 + sizeof(enc_label) - 1;
  b->info[b->info_len++] = HPKE_CTX_LEN;
  randombytes_buf(b->info + b->info_len, HPKE_CTX_LEN);
  b->info_len += HPKE_CTX_LEN;
  randombytes_buf(b->pt, sizeof(b->pt));

  if (mg_hpke_key_generate(&b->key_r, s->kem) != 0) {
    fprintf(stderr, "bench: %s: our key generation failed\n", s->kem->name);
    return -1;
  }
  size_t pub_len = 0;
  const uint8_t *pub = mg_hpke_key_pub(&b->key_r, &pub_len);
  if (pub_len != b->npk) {
    return -1;
  }
  memcpy(b->pk_r, pub, b->npk);
  memcpy(b->sk_r, b->key_r.priv, b->nsk);

  const char *kem_md = bench_ossl_md_name(s->kem->kdf->hash);
  const char *kdf_md = bench_ossl_md_name(s->kdf->hash);
  const char *cname = bench_ossl_cipher_name(s->aead);
  if (kem_md == NULL || kdf_md == NULL || cname == NULL) {
    return -1;
  }
  b->kg = EVP_PKEY_CTX_new_from_name(NULL, b->ks.type, NULL);
  if (b->kg == NULL || EVP_PKEY_keygen_init(b->kg) != 1) {
    goto fail;
  }
  if (b->ks.group != NULL) {
    OSSL_PARAM p[2];
    p[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                            b->ks.group, 0);
    p[1] = OSSL_PARAM_construct_end();
    if (EVP_PKEY_CTX_set_params(b->kg, p) != 1) {
      goto fail;
    }
  }
  b->fd = ossl_fromdata_ctx(b->ks.type);
  if (b->fd == NULL) {
    goto fail;
  }
  b->pkey_r_pub = ossl_key_from_raw(b->fd, &b->ks, NULL, 0, b->pk_r, b->npk);
  EVP_PKEY *sk = ossl_key_from_raw(b->fd, &b->ks, b->sk_r, b->nsk, b->pk_r,
                                   b->npk);
  if (sk != NULL) {
    b->derive_r = EVP_PKEY_CTX_new_from_pkey(NULL, sk, NULL);
    EVP_PKEY_free(sk); /* the context holds its own reference */
  }
  if (b->pkey_r_pub == NULL || b->derive_r == NULL ||
      EVP_PKEY_derive_init(b->derive_r) != 1) {
    goto fail;
  }
  b->cipher = EVP_CIPHER_fetch(NULL, cname, NULL);
  if (md_hmac_init(&b->hmac_kem, kem_md) != 0 ||
      md_hmac_init(&b->hmac_kdf, kdf_md) != 0 || b->cipher == NULL) {
    goto fail;
  }
  b->ectx = ossl_cipher_ctx(b->cipher, 1);
  b->dctx = ossl_cipher_ctx(b->cipher, 0);
  if (b->ectx == NULL || b->dctx == NULL) {
    goto fail;
  }
  b->have_sodium = s->kem->dh == &mg_dh_x25519 && s->kdf == &mg_hkdf_sha256 &&
                   s->kem->kdf == &mg_hkdf_sha256 &&
                   s->aead == &mg_chacha20poly1305;

  /* Each sealer's output must open under every opener. */
  static const struct {
    bench_fn fn;
    const char *name;
  } sealers[] = {{ours_hpke_seal, "ours"},
                 {hpke_ossl_seal, "OpenSSL"},
                 {hpke_ossl_seal_prep, "OpenSSL (prepared)"},
                 {hpke_sodium_seal, "libsodium"}};
  for (size_t i = 0; i < MG_ARRAY_LEN(sealers); i++) {
    if (sealers[i].fn == hpke_sodium_seal && !b->have_sodium) {
      continue;
    }
    if (sealers[i].fn(b) != 0) {
      fprintf(stderr, "bench: HPKE suite %u: %s seal failed\n", s->id,
              sealers[i].name);
      goto fail;
    }
    memcpy(b->enc, b->out_enc, b->npk);
    memcpy(b->ct, b->out_ct, sizeof(b->pt) + b->nt);
    if (hpke_check_open(b, sealers[i].name) != 0) {
      goto fail;
    }
  }
  /* Leave a ciphertext of ours for the open benches, and make sure ours
   * refuses it once tampered with. */
  if (ours_hpke_seal(b) != 0) {
    goto fail;
  }
  memcpy(b->enc, b->out_enc, b->npk);
  memcpy(b->ct, b->out_ct, sizeof(b->pt) + b->nt);
  b->ct[0] ^= 0x01;
  int accepted = ours_hpke_open(b) == 0;
  b->ct[0] ^= 0x01;
  if (accepted) {
    fprintf(stderr, "bench: HPKE suite %u: ours opened a forgery\n", s->id);
    goto fail;
  }
  ERR_clear_error();
  return hpke_check_open(b, "ours");
fail:
  ERR_print_errors_fp(stderr);
  return -1;
}

/* ----------------------------------------------------------------- suite */

static int bench_suite(const mls_suite *s, const bench_opts *o,
                       bench_summary *sum) {
  sig_bench *sb = calloc(1, sizeof(*sb));
  aead_bench *ab = calloc(1, sizeof(*ab));
  ewl_bench *eb = calloc(1, sizeof(*eb));
  hpke_bench *hb = calloc(1, sizeof(*hb));
  bench_op *ops = calloc(8, sizeof(*ops));
  size_t nops = 0;
  int rc = -1;
  if (sb == NULL || ab == NULL || eb == NULL || hb == NULL || ops == NULL) {
    fprintf(stderr, "bench: out of memory\n");
    goto out;
  }
  printf("\nsuite 0x%04x %s\n", s->id, s->name);
  fflush(stdout);
  if (sig_setup(sb, s) != 0 || aead_setup(ab, s) != 0 ||
      ewl_setup(eb, s) != 0 || hpke_setup(hb, s) != 0) {
    fprintf(stderr, "bench: suite 0x%04x: self-check failed\n", s->id);
    goto out;
  }

  bench_op *op = &ops[nops++];
  op_init(op, "sign", s->sig->name);
  op_add(op, WHO_OURS, 0, "alg->sign", sig_ours_sign, sb);
  op_add(op, WHO_OPENSSL, 0, "DigestSignInit_ex+DigestSign", sig_ossl_sign_init,
         sb);
  if (sb->tmpl_sign != NULL) {
    op_add(op, WHO_OPENSSL, 0, "MD_CTX_copy+DigestSign", sig_ossl_sign_copy,
           sb);
  }
  if (sb->sign_pctx != NULL) {
    op_add(op, WHO_OPENSSL, 0, "digest+PKEY_sign", sig_ossl_sign_prehash, sb);
  }
  if (sb->have_sodium) {
    op_add(op, WHO_SODIUM, 0, "crypto_sign_detached", sig_sodium_sign, sb);
  }

  op = &ops[nops++];
  op_init(op, "verify", s->sig->name);
  op_add(op, WHO_OURS, 0, "alg->verify", sig_ours_verify, sb);
  op_add(op, WHO_OPENSSL, 0, "DigestVerifyInit_ex+DigestVerify",
         sig_ossl_verify_init, sb);
  if (sb->tmpl_ver != NULL) {
    op_add(op, WHO_OPENSSL, 0, "MD_CTX_copy+DigestVerify",
           sig_ossl_verify_copy, sb);
  }
  if (sb->ver_pctx != NULL) {
    op_add(op, WHO_OPENSSL, 0, "digest+PKEY_verify", sig_ossl_verify_prehash,
           sb);
  }
  if (sb->have_sodium) {
    op_add(op, WHO_SODIUM, 0, "crypto_sign_verify_detached",
           sig_sodium_verify, sb);
  }

  op = &ops[nops++];
  op_init(op, "HPKE seal 32B", s->kem->dh->name);
  op->note = "raw = RFC 9180 base-mode composition of raw primitives";
  op_add(op, WHO_OURS, 0, "mg_hpke_seal_single", ours_hpke_seal, hb);
  op_add(op, WHO_OPENSSL, 0, "composition, pkR parsed per call",
         hpke_ossl_seal, hb);
  op_add(op, WHO_OPENSSL, 1, "composition, pkR prepared once",
         hpke_ossl_seal_prep, hb);
  if (hb->have_sodium) {
    op_add(op, WHO_SODIUM, 0, "composition", hpke_sodium_seal, hb);
  }

  op = &ops[nops++];
  op_init(op, "HPKE open 32B", s->kem->dh->name);
  op_add(op, WHO_OURS, 0, "mg_hpke_open_single", ours_hpke_open, hb);
  op_add(op, WHO_OPENSSL, 0, "composition, skR parsed per call",
         hpke_ossl_open, hb);
  op_add(op, WHO_OPENSSL, 1, "composition, skR prepared once",
         hpke_ossl_open_prep, hb);
  if (hb->have_sodium) {
    op_add(op, WHO_SODIUM, 0, "composition", hpke_sodium_open, hb);
  }

  op = &ops[nops++];
  op_init(op, "AEAD seal 1KiB", s->aead->name);
  op_add(op, WHO_OURS, 0, "alg->seal", aead_ours_seal, ab);
  op_add(op, WHO_OPENSSL, 0, "EVP_CIPHER_CTX reused", aead_ossl_seal, ab);
  if (ab->sod != SOD_AEAD_NONE) {
    op_add(op, WHO_SODIUM, 0, "crypto_aead_*_encrypt", aead_sodium_seal, ab);
  }

  op = &ops[nops++];
  op_init(op, "AEAD open 1KiB", s->aead->name);
  op_add(op, WHO_OURS, 0, "alg->open", aead_ours_open, ab);
  op_add(op, WHO_OPENSSL, 0, "EVP_CIPHER_CTX reused", aead_ossl_open, ab);
  if (ab->sod != SOD_AEAD_NONE) {
    op_add(op, WHO_SODIUM, 0, "crypto_aead_*_decrypt", aead_sodium_open, ab);
  }

  op = &ops[nops++];
  op_init(op, "ExpandWithLabel", s->kdf->name);
  op_add(op, WHO_OURS, 0, "mls_expand_with_label", ewl_ours, eb);
  op_add(op, WHO_OPENSSL, 0, "EVP_MD HMAC (RFC 2104)", ewl_ossl_mdhmac, eb);
  op_add(op, WHO_OPENSSL, 0, "EVP_MAC HMAC", ewl_ossl_hmac, eb);
  op_add(op, WHO_OPENSSL, 0, "EVP_KDF HKDF expand-only", ewl_ossl_kdf, eb);
  if (eb->sod_bits != 0) {
    op_add(op, WHO_SODIUM, 0, "crypto_auth_hmacsha*", ewl_sodium, eb);
  }

  op = &ops[nops++];
  op_init(op, "HKDF-Expand Nh", s->kdf->name);
  op->note = "our kdf->expand on the same serialized KDFLabel";
  op_add(op, WHO_OURS, 0, "kdf->expand", ewl_ours_kdf_expand, eb);
  op_add(op, WHO_OPENSSL, 0, "EVP_MD HMAC (RFC 2104)", ewl_ossl_mdhmac, eb);
  op_add(op, WHO_OPENSSL, 0, "EVP_MAC HMAC", ewl_ossl_hmac, eb);
  op_add(op, WHO_OPENSSL, 0, "EVP_KDF HKDF expand-only", ewl_ossl_kdf, eb);
  if (eb->sod_bits != 0) {
    op_add(op, WHO_SODIUM, 0, "crypto_auth_hmacsha*", ewl_sodium, eb);
  }

  print_table_header();
  rc = 0;
  for (size_t i = 0; i < nops; i++) {
    if (o->op != NULL && strstr(ops[i].name, o->op) == NULL) {
      continue;
    }
    if (measure_op(&ops[i], o, sum) != 0) {
      rc = -1;
      continue;
    }
    print_op(&ops[i], s, o, sum);
    fflush(stdout);
  }
out:
  if (sb != NULL) {
    sig_cleanup(sb);
  }
  if (ab != NULL) {
    aead_cleanup(ab);
  }
  if (eb != NULL) {
    ewl_cleanup(eb);
  }
  if (hb != NULL) {
    hpke_cleanup(hb);
  }
  free(sb);
  free(ab);
  free(eb);
  free(hb);
  free(ops);
  return rc;
}

/* ------------------------------------------------------------------ main */

static void usage(FILE *f) {
  fprintf(f,
          "usage: bench/crypto [--suite N] [--time SECONDS] [--runs N] "
          "[--op TEXT] [--quick] [--verbose]\n"
          "  --suite N       only MLS cipher suite N (1..7; default: all)\n"
          "  --time S        seconds per timed run (default 0.2)\n"
          "  --runs N        timed runs per implementation, best kept "
          "(default 3)\n"
          "  --quick         smoke run: --time 0.02 --runs 1\n"
          "  --op TEXT       only the rows whose name contains TEXT "
          "(e.g. sign, HPKE, AEAD open)\n"
          "  --verbose       show every raw variant, not only the best\n");
}

static int parse_args(int argc, char **argv, bench_opts *o) {
  o->time = 0.2;
  o->runs = 3;
  o->suite = 0;
  o->verbose = 0;
  o->op = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    char *end = NULL;
    if (strcmp(a, "--quick") == 0) {
      o->time = 0.02;
      o->runs = 1;
    } else if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) {
      o->verbose = 1;
    } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      exit(0);
    } else if (strcmp(a, "--time") == 0 && i + 1 < argc) {
      o->time = strtod(argv[++i], &end);
      if (end == argv[i] || *end != '\0' || !(o->time > 0.0) ||
          o->time > 60.0) {
        fprintf(stderr, "bench: --time wants seconds in (0, 60]\n");
        return -1;
      }
    } else if (strcmp(a, "--op") == 0 && i + 1 < argc) {
      o->op = argv[++i];
    } else if (strcmp(a, "--runs") == 0 && i + 1 < argc) {
      long v = strtol(argv[++i], &end, 10);
      if (end == argv[i] || *end != '\0' || v < 1 || v > 100) {
        fprintf(stderr, "bench: --runs wants 1..100\n");
        return -1;
      }
      o->runs = (int)v;
    } else if (strcmp(a, "--suite") == 0 && i + 1 < argc) {
      long v = strtol(argv[++i], &end, 0);
      if (end == argv[i] || *end != '\0' || v < MLS_SUITE_MIN ||
          v > MLS_SUITE_MAX) {
        fprintf(stderr, "bench: --suite wants %d..%d\n", MLS_SUITE_MIN,
                MLS_SUITE_MAX);
        return -1;
      }
      o->suite = (int)v;
    } else {
      usage(stderr);
      return -1;
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  bench_opts o;
  bench_summary *sum = NULL;
  int failed = 0;
  if (parse_args(argc, argv, &o) != 0) {
    return 2;
  }
  if (mg_crypto_init() != 0 || sodium_init() < 0) {
    fprintf(stderr, "bench: crypto initialization failed\n");
    return 1;
  }
  sum = calloc(1, sizeof(*sum));
  if (sum == NULL) {
    return 1;
  }
  printf("bench/crypto: %s, libsodium %s (AES-256-GCM %savailable)\n",
         OpenSSL_version(OPENSSL_VERSION), sodium_version_string(),
         crypto_aead_aes256gcm_is_available() ? "" : "not ");
  printf("ops/s, best of %d run%s of ~%.2f s each, runs interleaved; "
         "ours/best = ours / fastest raw, '!' below %.0f%%,\n"
         "'~' some run never had the CPU to itself (noisy); chunks of a run "
         "with < %.0f%% CPU share are not counted\n",
         o.runs, o.runs == 1 ? "" : "s", o.time, 100.0 * RATIO_FLAG,
         100.0 * BENCH_MIN_CPU_SHARE);
  printf("inputs: sign %d B message; HPKE %d B pt, no aad, %d B-context "
         "EncryptContext info; AEAD %d B pt + %d B aad; ExpandWithLabel("
         "\"%s\", %d B context, Nh)\n",
         SIG_MSG_LEN, HPKE_PT_LEN, HPKE_CTX_LEN, AEAD_PT_LEN, AEAD_AAD_LEN,
         EWL_LABEL, EWL_CONTEXT_LEN);
  for (uint16_t id = MLS_SUITE_MIN; id <= MLS_SUITE_MAX; id++) {
    if (o.suite != 0 && id != o.suite) {
      continue;
    }
    const mls_suite *s = mls_suite_by_id(id);
    if (s == NULL) {
      fprintf(stderr, "bench: mls_suite_by_id(%u) is NULL\n", id);
      failed = 1;
      continue;
    }
    if (bench_suite(s, &o, sum) != 0) {
      failed = 1;
    }
  }
  printf("\nsummary: %d rows with a raw baseline", sum->rows);
  if (sum->rows > 0) {
    printf("; worst: %s", sum->worst_what);
  }
  printf("\n");
  if (sum->chunks > 0) {
    printf("timing chunks dropped for CPU contention: %ld of %ld (%.0f%%)\n",
           sum->dropped, sum->chunks,
           100.0 * (double)sum->dropped / (double)sum->chunks);
  }
  if (sum->flagged == 0) {
    printf("all wrappers within %.0f%% of the fastest raw backend\n",
           100.0 * (1.0 - RATIO_FLAG));
  } else {
    printf("%d row%s below %.0f%%:\n", sum->flagged,
           sum->flagged == 1 ? "" : "s", 100.0 * RATIO_FLAG);
    for (int i = 0; i < sum->flagged && (size_t)i < MG_ARRAY_LEN(sum->flags);
         i++) {
      printf("  %s\n", sum->flags[i]);
    }
  }
  if (failed) {
    printf("FAILED: at least one operation failed (see stderr)\n");
  }
  free(sum);
  return failed ? 1 : 0;
}
