/*
 * libFuzzer target for the signed-note parsers (src/keystore/note.h):
 * mg_note_parse, mg_checkpoint_parse, mg_tlog_proof_parse,
 * mg_note_verifier_parse and mg_note_signer_parse.
 *
 * Input: one byte choosing the parser (its value modulo 5: note, checkpoint
 * text, tlog proof, verifier key, signer key), then the text.
 *
 * Properties (STYLE.md §10):
 *  - a failed parse returns a decode-class error (or, for keys, an
 *    unsupported signature type or a bad key), never an internal one;
 *  - every accepted input is canonical: formatting what was parsed gives
 *    back exactly the input;
 *  - verifying a parsed note with a fixed key gives one of the documented
 *    answers (verified, bad signature, no known signature), as does
 *    verifying a parsed proof.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "crypto/crypto.h"
#include "keystore/note.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_fail(int rc, int key) {
  if (rc >= 0) {
    return;
  }
  if (mg_err_class_of(rc) == MG_ERRCLASS_DECODE) {
    return;
  }
  if (key && (rc == MG_ERR_UNSUPPORTED || rc == MG_ERR_BAD_KEY)) {
    return;
  }
  abort();
}

static void same(mg_writer *w, int rc, const char *in, size_t len) {
  if (rc != 0 || mg_writer_len(w) != len ||
      memcmp(mg_writer_data(w), in, len) != 0) {
    abort();
  }
  mg_writer_cleanup(w);
}

/* A fixed key named like the example signers ("k", "a.example"...): the
 * seeds' notes verify, others are unknown or fail. */
static mg_note_verifier fixed_verifiers[2];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int initialized;
  const char *in;
  size_t len;
  mg_writer w;
  int rc;

  if (!initialized) {
    mg_note_signer s;
    uint8_t seed[32];
    if (mg_crypto_init() < 0) {
      abort();
    }
    memset(seed, 1, sizeof(seed));
    if (mg_note_signer_from_seed(&s, "fuzz.example/log", 16, seed) < 0) {
      abort();
    }
    fixed_verifiers[0] = s.v;
    memset(seed, 2, sizeof(seed));
    if (mg_note_signer_from_seed(&s, "k", 1, seed) < 0) {
      abort();
    }
    fixed_verifiers[1] = s.v;
    mg_note_signer_cleanup(&s);
    initialized = 1;
  }
  if (size < 1) {
    return 0;
  }
  in = (const char *)data + 1;
  len = size - 1;
  if (mg_writer_init(&w, len + 16, 0) < 0) {
    abort();
  }
  switch (data[0] % 5) {
  case 0: {
    mg_note n;
    size_t nv;
    rc = mg_note_parse(&n, in, len);
    check_fail(rc, 0);
    if (rc == 0) {
      same(&w, mg_note_format(&w, &n), in, len);
      rc = mg_note_verify(&n, fixed_verifiers, 2, &nv);
      if (rc != 0 && rc != MG_ERR_VERIFY && rc != MG_ERR_NOT_FOUND) {
        abort();
      }
    }
    break;
  }
  case 1: {
    mg_checkpoint cp;
    rc = mg_checkpoint_parse(&cp, in, len);
    check_fail(rc, 0);
    if (rc == 0) {
      same(&w, mg_checkpoint_format(&w, &cp), in, len);
    }
    break;
  }
  case 2: {
    mg_tlog_proof_text *p = malloc(sizeof(*p));
    uint8_t leaf[MG_TLOG_HASH_LEN] = {0};
    if (p == NULL) {
      abort();
    }
    rc = mg_tlog_proof_parse(p, in, len);
    check_fail(rc, 0);
    if (rc == 0) {
      same(&w, mg_tlog_proof_format(&w, p), in, len);
      rc = mg_tlog_proof_verify(p, leaf, NULL, 0, fixed_verifiers, 2, NULL);
      if (rc != 0 && rc != MG_ERR_VERIFY && rc != MG_ERR_NOT_FOUND) {
        abort();
      }
    }
    free(p);
    break;
  }
  case 3: {
    mg_note_verifier v;
    rc = mg_note_verifier_parse(&v, in, len);
    check_fail(rc, 1);
    if (rc == 0) {
      same(&w, mg_note_verifier_format(&w, &v), in, len);
    }
    break;
  }
  default: {
    mg_note_signer s;
    rc = mg_note_signer_parse(&s, in, len);
    check_fail(rc, 1);
    if (rc == 0) {
      same(&w, mg_note_signer_format(&w, &s), in, len);
    }
    mg_note_signer_cleanup(&s);
    break;
  }
  }
  mg_writer_cleanup(&w);
  return 0;
}
