/* TEMPORARY: replaced by audit.c */
/*
 * A stand-in for the audit module so that the keystore links and its tests
 * run before src/keystore/audit.c lands: it records nothing.
 */
#include "keystore/keystore_int.h"

int mg_ks_audit_append(mg_keystore *ks, mg_ks_txn *txn, const mg_ks_ctx *ctx,
                       const mg_ks_audit *a, uint8_t *hmac_out) {
  (void)ks;
  (void)txn;
  (void)ctx;
  (void)a;
  (void)hmac_out;
  return 0;
}

int mg_ks_audit_record(mg_keystore *ks, const mg_ks_ctx *ctx,
                       const mg_ks_audit *a) {
  (void)ks;
  (void)ctx;
  (void)a;
  return 0;
}
