/*
 * Hybrid Public Key Encryption (RFC 9180), written on the crypto.h
 * primitives (OpenSSL 3.0 has no HPKE API).  The shape follows BoringSSL's
 * include/openssl/hpke.h: a suite of const algorithm objects, a key object
 * holding a private key with its public key, and a context object for the
 * stateful seal/open/export interface (RFC 9180 §5.2, §5.3), plus the
 * single-shot APIs of §6.
 *
 * Only the DHKEMs of RFC 9180 §4.1 are supported (KEM ids 0x0010, 0x0011,
 * 0x0012, 0x0020, 0x0021); KDF ids 1, 2, 3; AEAD ids 1, 2, 3 and the
 * export-only id 0xFFFF.  No function allocates heap memory except for
 * unusually long info/psk/psk_id/exporter_context inputs (more than a few
 * hundred bytes), which are concatenated with their labels in a temporary
 * buffer.
 *
 * Conventions: every function returns 0 or a negative mg_err (include/mlsgate
 * /err.h).  Public keys and enc values are serialized keys (RFC 9180 §7.1.1:
 * uncompressed SEC1 points for P-256/P-384/P-521, raw bytes for X25519/X448);
 * private keys are serialized as in §7.1.2.
 */
#ifndef MG_HEADER_CRYPTO_HPKE_H
#define MG_HEADER_CRYPTO_HPKE_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "mlsgate/err.h"

/* RFC 9180 §7.3: the AEAD id of the export-only "AEAD". */
#define MG_HPKE_AEAD_EXPORT_ONLY 0xFFFF

/* Size bounds for caller buffers. */
#define MG_HPKE_MAX_ENC_LEN MG_MAX_DH_PUB_LEN       /* Nenc (P-521: 133) */
#define MG_HPKE_MAX_PUB_LEN MG_MAX_DH_PUB_LEN       /* Npk */
#define MG_HPKE_MAX_PRIV_LEN MG_MAX_DH_PRIV_LEN     /* Nsk */
#define MG_HPKE_MAX_SECRET_LEN MG_MAX_HASH_LEN      /* Nsecret (<= 64) */
#define MG_HPKE_MAX_OVERHEAD MG_MAX_AEAD_TAG_LEN    /* Nt */
/* key_schedule_context = mode || psk_id_hash || info_hash (RFC 9180 §5.1) */
#define MG_HPKE_MAX_KS_CONTEXT_LEN (1 + 2 * MG_MAX_HASH_LEN)

/* HPKE modes (RFC 9180 §5). */
typedef enum mg_hpke_mode {
  MG_HPKE_MODE_BASE = 0x00,
  MG_HPKE_MODE_PSK = 0x01,
  MG_HPKE_MODE_AUTH = 0x02,
  MG_HPKE_MODE_AUTH_PSK = 0x03
} mg_hpke_mode;

/* ----------------------------------------------------------------- suite */

/* An HPKE ciphersuite.  |aead| is NULL for the export-only AEAD id 0xFFFF:
 * such a suite derives only the exporter secret, and its contexts refuse
 * seal/open with MG_ERR_EXPORT_ONLY. */
typedef struct mg_hpke_suite {
  const mg_kem_alg *kem;
  const mg_kdf_alg *kdf;
  const mg_aead_alg *aead; /* NULL: export-only */
} mg_hpke_suite;

/* mg_hpke_kem_by_id returns the DHKEM with RFC 9180 §7.1 id |id|, or NULL. */
const mg_kem_alg *mg_hpke_kem_by_id(uint16_t id);

/* mg_hpke_kdf_by_id returns the KDF with RFC 9180 §7.2 id |id|, or NULL. */
const mg_kdf_alg *mg_hpke_kdf_by_id(uint16_t id);

/* mg_hpke_aead_by_id returns the AEAD with RFC 9180 §7.3 id |id|, or NULL
 * (also for 0xFFFF, which has no AEAD object: use mg_hpke_suite_init). */
const mg_aead_alg *mg_hpke_aead_by_id(uint16_t id);

/* mg_hpke_suite_init fills |out| from the three RFC 9180 §7 identifiers;
 * |aead_id| may be MG_HPKE_AEAD_EXPORT_ONLY.  Errors: MG_ERR_UNSUPPORTED (an
 * unknown id; |out| is then zeroed), MG_ERR_INVALID_ARG. */
MG_MUST_USE int mg_hpke_suite_init(mg_hpke_suite *out, uint16_t kem_id,
                                   uint16_t kdf_id, uint16_t aead_id);

/* mg_hpke_suite_aead_id returns the AEAD id of |suite| (0xFFFF when
 * export-only). */
uint16_t mg_hpke_suite_aead_id(const mg_hpke_suite *suite);

/* ------------------------------------------------------------------- keys */

/* A KEM key pair: the private key with its public key, so that Decap need not
 * recompute pk(skR).  Holds secret material: mg_hpke_key_cleanup wipes it. */
typedef struct mg_hpke_key {
  const mg_kem_alg *kem; /* NULL in the zero state */
  uint8_t priv[MG_HPKE_MAX_PRIV_LEN];
  uint8_t pub[MG_HPKE_MAX_PUB_LEN];
} mg_hpke_key;

/* mg_hpke_key_zero puts |key| in the zero state (cleanup is then safe). */
void mg_hpke_key_zero(mg_hpke_key *key);

/* mg_hpke_key_cleanup wipes |key| and returns it to the zero state. */
void mg_hpke_key_cleanup(mg_hpke_key *key);

/* mg_hpke_key_generate makes a fresh random key pair for |kem|
 * (GenerateKeyPair).  Errors: MG_ERR_CRYPTO_LIB, MG_ERR_INVALID_ARG.  On
 * error |key| is left in the zero state. */
MG_MUST_USE int mg_hpke_key_generate(mg_hpke_key *key, const mg_kem_alg *kem);

/* mg_hpke_key_derive is DeriveKeyPair(ikm) (RFC 9180 §7.1.3): deterministic
 * in |ikm|.  NIST curves use the rejection loop with the bitmask; X25519/X448
 * use the expanded bytes as the private key.  Errors: MG_ERR_DERIVE_KEYPAIR
 * (no valid candidate in 256 tries), MG_ERR_PARAM, MG_ERR_CRYPTO_LIB,
 * MG_ERR_NOMEM (only for an |ikm| over a few hundred bytes),
 * MG_ERR_INVALID_ARG.  On error |key| is left in the zero state. */
MG_MUST_USE int mg_hpke_key_derive(mg_hpke_key *key, const mg_kem_alg *kem,
                                   const uint8_t *ikm, size_t ikm_len);

/* mg_hpke_key_init loads a serialized private key and computes its public key
 * (DeserializePrivateKey).  Errors: MG_ERR_BAD_KEY (wrong length, zero or out
 * of range scalar), MG_ERR_CRYPTO_LIB, MG_ERR_INVALID_ARG.  On error |key| is
 * left in the zero state. */
MG_MUST_USE int mg_hpke_key_init(mg_hpke_key *key, const mg_kem_alg *kem,
                                 const uint8_t *priv, size_t priv_len);

/* mg_hpke_key_init_pair loads a private key together with its public key
 * without recomputing the public key (saves one scalar multiplication).  The
 * caller vouches that |pub| belongs to |priv| (e.g. both come from its own
 * store); a mismatched pair only makes Decap produce a different shared
 * secret, so decryption fails.  Errors: MG_ERR_BAD_KEY (wrong lengths),
 * MG_ERR_INVALID_ARG. */
MG_MUST_USE int mg_hpke_key_init_pair(mg_hpke_key *key, const mg_kem_alg *kem,
                                      const uint8_t *priv, size_t priv_len,
                                      const uint8_t *pub, size_t pub_len);

/* mg_hpke_key_pub returns the public key of |key| and its length (Npk) in
 * |*out_len|. */
const uint8_t *mg_hpke_key_pub(const mg_hpke_key *key, size_t *out_len);

/* mg_hpke_key_priv returns the serialized private key of |key|
 * (kem->priv_len bytes, borrowed; a secret), or NULL in the zero state. */
const uint8_t *mg_hpke_key_priv(const mg_hpke_key *key);

/* -------------------------------------------------------------- DHKEM §4.1 */

/* mg_hpke_kem_encap is Encap(pkR): writes kem->secret_len bytes of shared
 * secret to |out_ss| and kem->enc_len bytes to |out_enc|.  Errors:
 * MG_ERR_BAD_KEY (|pk_r| of wrong length or not a valid point), MG_ERR_DH_ZERO,
 * MG_ERR_CRYPTO_LIB, MG_ERR_INVALID_ARG. */
MG_MUST_USE int mg_hpke_kem_encap(const mg_kem_alg *kem, uint8_t *out_ss,
                                  uint8_t *out_enc, const uint8_t *pk_r,
                                  size_t pk_r_len);

/* mg_hpke_kem_auth_encap is AuthEncap(pkR, skS).  Errors as
 * mg_hpke_kem_encap; |key_s| must belong to |kem| (MG_ERR_INVALID_ARG). */
MG_MUST_USE int mg_hpke_kem_auth_encap(const mg_kem_alg *kem, uint8_t *out_ss,
                                       uint8_t *out_enc, const uint8_t *pk_r,
                                       size_t pk_r_len,
                                       const mg_hpke_key *key_s);

/* mg_hpke_kem_decap is Decap(enc, skR): writes kem->secret_len bytes to
 * |out_ss|.  Errors: MG_ERR_BAD_KEY (|enc| invalid), MG_ERR_DH_ZERO,
 * MG_ERR_CRYPTO_LIB, MG_ERR_INVALID_ARG. */
MG_MUST_USE int mg_hpke_kem_decap(const mg_kem_alg *kem, uint8_t *out_ss,
                                  const mg_hpke_key *key_r, const uint8_t *enc,
                                  size_t enc_len);

/* mg_hpke_kem_auth_decap is AuthDecap(enc, skR, pkS).  Errors as
 * mg_hpke_kem_decap (MG_ERR_BAD_KEY also for an invalid |pk_s|). */
MG_MUST_USE int mg_hpke_kem_auth_decap(const mg_kem_alg *kem, uint8_t *out_ss,
                                       const mg_hpke_key *key_r,
                                       const uint8_t *enc, size_t enc_len,
                                       const uint8_t *pk_s, size_t pk_s_len);

/* --------------------------------------------------------------- context */

/* The mode-dependent setup inputs (RFC 9180 §5.1).  A NULL mg_hpke_opts
 * pointer means mode_base with no PSK.  |psk| and |psk_id| must both be given
 * (non-empty) in the PSK modes and both be absent (NULL/empty) otherwise;
 * |key_s| (sender side) or |pk_s| (recipient side) must be given in the auth
 * modes and only there.  Violations are MG_ERR_INVALID_ARG. */
typedef struct mg_hpke_opts {
  mg_hpke_mode mode;
  const uint8_t *psk;
  size_t psk_len;
  const uint8_t *psk_id;
  size_t psk_id_len;
  const mg_hpke_key *key_s; /* sender: its static key (auth modes) */
  const uint8_t *pk_s;      /* recipient: the sender's public key */
  size_t pk_s_len;
} mg_hpke_opts;

typedef enum mg_hpke_role {
  MG_HPKE_ROLE_NONE = 0, /* zero state: every operation fails */
  MG_HPKE_ROLE_SENDER = 1,
  MG_HPKE_ROLE_RECIPIENT = 2
} mg_hpke_role;

/* An HPKE context (RFC 9180 §5.2).  No heap; holds secrets, so always end
 * with mg_hpke_ctx_cleanup.  Treat the fields as private. */
typedef struct mg_hpke_ctx {
  mg_hpke_suite suite;
  mg_hpke_role role;
  uint64_t seq;
  uint8_t key[MG_MAX_AEAD_KEY_LEN];
  uint8_t base_nonce[MG_MAX_AEAD_NONCE_LEN];
  uint8_t exporter_secret[MG_MAX_HASH_LEN];
} mg_hpke_ctx;

/* mg_hpke_ctx_zero puts |ctx| in the zero state (cleanup is then safe). */
void mg_hpke_ctx_zero(mg_hpke_ctx *ctx);

/* mg_hpke_ctx_cleanup wipes the key, base nonce and exporter secret and
 * returns |ctx| to the zero state. */
void mg_hpke_ctx_cleanup(mg_hpke_ctx *ctx);

/* mg_hpke_setup_sender is Setup<MODE>S (RFC 9180 §5.1): encapsulates to
 * |pk_r| and derives the sender context.  Writes suite->kem->enc_len bytes to
 * |out_enc| (|enc_cap| must be at least that: MG_ERR_BUFFER_TOO_SMALL).
 * Errors: MG_ERR_INVALID_ARG (inconsistent |opts|, see mg_hpke_opts),
 * MG_ERR_BAD_KEY, MG_ERR_DH_ZERO, MG_ERR_PARAM, MG_ERR_CRYPTO_LIB,
 * MG_ERR_NOMEM (only for very long inputs).  On error |ctx| is in the zero
 * state and |out_enc| holds nothing useful. */
MG_MUST_USE int mg_hpke_setup_sender(mg_hpke_ctx *ctx, uint8_t *out_enc,
                                     size_t enc_cap, size_t *out_enc_len,
                                     const mg_hpke_suite *suite,
                                     const uint8_t *pk_r, size_t pk_r_len,
                                     const uint8_t *info, size_t info_len,
                                     const mg_hpke_opts *opts);

/* mg_hpke_setup_recipient is Setup<MODE>R: decapsulates |enc| with |key_r|
 * and derives the recipient context.  Errors as mg_hpke_setup_sender.  A
 * wrong psk or sender key is not detected here: the first open fails with
 * MG_ERR_AUTH (RFC 9180 §8.2). */
MG_MUST_USE int mg_hpke_setup_recipient(mg_hpke_ctx *ctx,
                                        const mg_hpke_suite *suite,
                                        const mg_hpke_key *key_r,
                                        const uint8_t *enc, size_t enc_len,
                                        const uint8_t *info, size_t info_len,
                                        const mg_hpke_opts *opts);

/* mg_hpke_ctx_max_overhead returns Nt, the bytes seal adds (0 when
 * export-only or in the zero state). */
size_t mg_hpke_ctx_max_overhead(const mg_hpke_ctx *ctx);

/* mg_hpke_ctx_seq returns the current sequence number. */
uint64_t mg_hpke_ctx_seq(const mg_hpke_ctx *ctx);

/* mg_hpke_seal is ContextS.Seal(aad, pt) (RFC 9180 §5.2): writes
 * pt_len + Nt bytes to |out| (may equal |pt|) and advances the sequence
 * number.  Errors: MG_ERR_EXPORT_ONLY, MG_ERR_INVALID_ARG (not a sender
 * context), MG_ERR_BUFFER_TOO_SMALL (|out_cap| < pt_len + Nt),
 * MG_ERR_SEQ_OVERFLOW (message limit reached), MG_ERR_CRYPTO_LIB.  On error
 * the sequence number is unchanged. */
MG_MUST_USE int mg_hpke_seal(mg_hpke_ctx *ctx, uint8_t *out, size_t out_cap,
                             size_t *out_len, const uint8_t *pt, size_t pt_len,
                             const uint8_t *aad, size_t aad_len);

/* mg_hpke_open is ContextR.Open(aad, ct): writes ct_len - Nt bytes to |out|
 * (may equal |ct|) and advances the sequence number.  Errors: MG_ERR_AUTH
 * (tampered or wrong-context ciphertext, or ct_len < Nt; |out| is then
 * zeroed), MG_ERR_EXPORT_ONLY, MG_ERR_INVALID_ARG (not a recipient context),
 * MG_ERR_BUFFER_TOO_SMALL, MG_ERR_SEQ_OVERFLOW, MG_ERR_CRYPTO_LIB.  On error
 * the sequence number is unchanged. */
MG_MUST_USE int mg_hpke_open(mg_hpke_ctx *ctx, uint8_t *out, size_t out_cap,
                             size_t *out_len, const uint8_t *ct, size_t ct_len,
                             const uint8_t *aad, size_t aad_len);

/* mg_hpke_export is Context.Export(exporter_context, L) (RFC 9180 §5.3):
 * writes |out_len| (L) bytes.  Works on sender and recipient contexts,
 * export-only or not.  Errors: MG_ERR_PARAM (L > 255*Nh), MG_ERR_INVALID_ARG,
 * MG_ERR_CRYPTO_LIB, MG_ERR_NOMEM (only for a very long exporter_context). */
MG_MUST_USE int mg_hpke_export(const mg_hpke_ctx *ctx, uint8_t *out,
                               size_t out_len, const uint8_t *exporter_context,
                               size_t exporter_context_len);

/* ------------------------------------------------------- single-shot (§6) */

/* mg_hpke_seal_single is Seal<MODE>(pkR, info, aad, pt) (RFC 9180 §6.1):
 * writes enc (suite->kem->enc_len bytes) and ct (pt_len + Nt bytes).  Errors:
 * those of mg_hpke_setup_sender and mg_hpke_seal. */
MG_MUST_USE int mg_hpke_seal_single(uint8_t *out_enc, size_t enc_cap,
                                    size_t *out_enc_len, uint8_t *out_ct,
                                    size_t ct_cap, size_t *out_ct_len,
                                    const mg_hpke_suite *suite,
                                    const uint8_t *pk_r, size_t pk_r_len,
                                    const uint8_t *info, size_t info_len,
                                    const mg_hpke_opts *opts,
                                    const uint8_t *aad, size_t aad_len,
                                    const uint8_t *pt, size_t pt_len);

/* mg_hpke_open_single is Open<MODE>(enc, skR, info, aad, ct).  Errors: those
 * of mg_hpke_setup_recipient and mg_hpke_open. */
MG_MUST_USE int mg_hpke_open_single(uint8_t *out_pt, size_t pt_cap,
                                    size_t *out_pt_len,
                                    const mg_hpke_suite *suite,
                                    const mg_hpke_key *key_r,
                                    const uint8_t *enc, size_t enc_len,
                                    const uint8_t *info, size_t info_len,
                                    const mg_hpke_opts *opts,
                                    const uint8_t *aad, size_t aad_len,
                                    const uint8_t *ct, size_t ct_len);

/* mg_hpke_send_export is SendExport<MODE> (RFC 9180 §6.2): writes enc and
 * |secret_len| exported bytes.  Errors: those of mg_hpke_setup_sender and
 * mg_hpke_export. */
MG_MUST_USE int mg_hpke_send_export(uint8_t *out_enc, size_t enc_cap,
                                    size_t *out_enc_len, uint8_t *out_secret,
                                    size_t secret_len,
                                    const mg_hpke_suite *suite,
                                    const uint8_t *pk_r, size_t pk_r_len,
                                    const uint8_t *info, size_t info_len,
                                    const mg_hpke_opts *opts,
                                    const uint8_t *exporter_context,
                                    size_t exporter_context_len);

/* mg_hpke_receive_export is ReceiveExport<MODE>.  Errors: those of
 * mg_hpke_setup_recipient and mg_hpke_export. */
MG_MUST_USE int mg_hpke_receive_export(uint8_t *out_secret, size_t secret_len,
                                       const mg_hpke_suite *suite,
                                       const mg_hpke_key *key_r,
                                       const uint8_t *enc, size_t enc_len,
                                       const uint8_t *info, size_t info_len,
                                       const mg_hpke_opts *opts,
                                       const uint8_t *exporter_context,
                                       size_t exporter_context_len);

/* ------------------------------------------------- TEST-ONLY: do not use */

/* Intermediate values of one setup, for the RFC 9180 test vectors. */
typedef struct mg_hpke_trace_for_testing {
  uint8_t shared_secret[MG_HPKE_MAX_SECRET_LEN];
  size_t shared_secret_len;
  uint8_t key_schedule_context[MG_HPKE_MAX_KS_CONTEXT_LEN];
  size_t key_schedule_context_len;
  uint8_t secret[MG_MAX_HASH_LEN];
  size_t secret_len;
} mg_hpke_trace_for_testing;

/* mg_hpke_setup_sender_for_testing is mg_hpke_setup_sender with the
 * ephemeral key pair |key_e| supplied by the caller instead of generated
 * (the vectors give it as DeriveKeyPair(ikmE)), and with the intermediate
 * values written to |trace| (may be NULL).  TEST-ONLY: reusing an ephemeral
 * key destroys HPKE's security; production code must call
 * mg_hpke_setup_sender. */
MG_MUST_USE int mg_hpke_setup_sender_for_testing(
    mg_hpke_ctx *ctx, uint8_t *out_enc, size_t enc_cap, size_t *out_enc_len,
    const mg_hpke_suite *suite, const uint8_t *pk_r, size_t pk_r_len,
    const uint8_t *info, size_t info_len, const mg_hpke_opts *opts,
    const mg_hpke_key *key_e, mg_hpke_trace_for_testing *trace);

/* mg_hpke_setup_recipient_for_testing is mg_hpke_setup_recipient that also
 * writes the intermediate values to |trace| (may be NULL).  TEST-ONLY. */
MG_MUST_USE int mg_hpke_setup_recipient_for_testing(
    mg_hpke_ctx *ctx, const mg_hpke_suite *suite, const mg_hpke_key *key_r,
    const uint8_t *enc, size_t enc_len, const uint8_t *info, size_t info_len,
    const mg_hpke_opts *opts, mg_hpke_trace_for_testing *trace);

/* mg_hpke_ctx_set_seq_for_testing sets the sequence number (to test the
 * message limit).  TEST-ONLY. */
void mg_hpke_ctx_set_seq_for_testing(mg_hpke_ctx *ctx, uint64_t seq);

#endif
