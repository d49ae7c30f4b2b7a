/*
 * MLS cipher suites (RFC 9420 §17.1) as const tables of algorithm objects.
 */
#ifndef MG_HEADER_CRYPTO_SUITE_H
#define MG_HEADER_CRYPTO_SUITE_H

#include "crypto/crypto.h"

typedef struct mls_suite {
  uint16_t id;
  const char *name;
  const mg_kem_alg *kem;
  const mg_kdf_alg *kdf;
  const mg_aead_alg *aead;
  const mg_hash_alg *hash; /* also the MAC's hash */
  const mg_sig_alg *sig;
} mls_suite;

#define MLS_SUITE_MIN 0x0001
#define MLS_SUITE_MAX 0x0007

/* mls_suite_by_id returns the suite with identifier |id|, or NULL. */
const mls_suite *mls_suite_by_id(uint16_t id);

#endif
