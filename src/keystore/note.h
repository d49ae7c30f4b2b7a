/*
 * C2SP signed notes with Ed25519, tlog checkpoints and tlog proofs
 * (../shared/ref/c2sp-signed-note.md, c2sp-tlog-checkpoint.md,
 * c2sp-tlog-proof.md).
 *
 * A signed note is text ending in a newline, a blank line, and one or more
 * signature lines "— <name> base64(key ID || signature)\n".  Only signature
 * type 0x01 (Ed25519 over the note text) is implemented; signatures of any
 * other key are parsed and ignored, as the spec requires.
 *
 * Strictness (one accepted encoding per value, so that parse then format
 * gives back the input): base64 is canonical (src/common/base64.h), key IDs
 * are 8 lowercase hex digits, decimals have no leading zero, names are
 * non-empty with no Unicode space and no '+'.  Limits: a note is at most
 * MG_NOTE_MAX_LEN bytes with at most MG_NOTE_MAX_SIGS signature lines (the
 * spec asks for at least 16), a key name at most MG_NOTE_MAX_NAME_LEN bytes,
 * one signature at most MG_NOTE_MAX_SIG_LEN bytes (room for post-quantum
 * signatures of other keys).
 *
 * Parsed structures borrow from the input (pointer and length) except where
 * noted; the input must outlive them.  mg_crypto_init() must have succeeded.
 */
#ifndef MG_HEADER_KEYSTORE_NOTE_H
#define MG_HEADER_KEYSTORE_NOTE_H

#include <stddef.h>
#include <stdint.h>

#include "common/codec.h"
#include "keystore/tlog.h"
#include "mlsgate/err.h"

#define MG_NOTE_MAX_LEN ((size_t)64 * 1024)
#define MG_NOTE_MAX_SIGS 32
#define MG_NOTE_MAX_NAME_LEN 256
#define MG_NOTE_MAX_SIG_LEN 8192
#define MG_NOTE_SIG_ED25519 0x01
#define MG_NOTE_ED25519_KEY_LEN 32
#define MG_NOTE_ED25519_SIG_LEN 64

/* ------------------------------------------------------------------ keys */

/* A verifier key: "<name>+<hex key ID>+base64(0x01 || public key)". */
typedef struct mg_note_verifier {
  char name[MG_NOTE_MAX_NAME_LEN + 1]; /* NUL-terminated copy */
  size_t name_len;
  uint32_t key_id;
  uint8_t pub[MG_NOTE_ED25519_KEY_LEN];
} mg_note_verifier;

/* A signer key: "PRIVATE+KEY+<name>+<hex key ID>+base64(0x01 || seed)".
 * Holds the Ed25519 seed: mg_note_signer_cleanup wipes it. */
typedef struct mg_note_signer {
  mg_note_verifier v;
  uint8_t seed[MG_NOTE_ED25519_KEY_LEN];
} mg_note_signer;

/* mg_note_key_id computes SHA-256(name || 0x0A || type || key)[:4] as a
 * big-endian uint32.  Errors: MG_ERR_CRYPTO_LIB, MG_ERR_NOMEM,
 * MG_ERR_INVALID_ARG. */
MG_MUST_USE int mg_note_key_id(uint32_t *out, const char *name,
                               size_t name_len, uint8_t type,
                               const uint8_t *key, size_t key_len);

/* mg_note_name_valid returns 1 if |name| is a valid key name: non-empty, at
 * most MG_NOTE_MAX_NAME_LEN bytes of UTF-8 with no control character, no
 * Unicode space and no '+'. */
int mg_note_name_valid(const char *name, size_t name_len);

/* mg_note_verifier_parse parses a verifier key string (no trailing newline).
 * The key ID must be the one computed from the name and key.  Errors:
 * MG_ERR_DECODE (malformed), MG_ERR_UNSUPPORTED (signature type not 0x01),
 * MG_ERR_BAD_KEY (key ID does not match, not a valid Ed25519 point),
 * MG_ERR_CRYPTO_LIB. */
MG_MUST_USE int mg_note_verifier_parse(mg_note_verifier *out, const char *s,
                                       size_t len);

/* mg_note_verifier_format writes the verifier key string (no newline).
 * Errors: the writer's. */
MG_MUST_USE int mg_note_verifier_format(mg_writer *w, const mg_note_verifier *v);

/* mg_note_signer_parse parses a signer key string; the key ID must match
 * the public key derived from the seed.  Errors: as mg_note_verifier_parse.
 * |out| is wiped on failure. */
MG_MUST_USE int mg_note_signer_parse(mg_note_signer *out, const char *s,
                                     size_t len);

/* mg_note_signer_format writes the signer key string (a secret: use a
 * writer that is wiped, e.g. mg_writer_cleanup).  Errors: the writer's. */
MG_MUST_USE int mg_note_signer_format(mg_writer *w, const mg_note_signer *s);

/* mg_note_signer_from_seed builds a signer named |name| from an Ed25519
 * seed.  Errors: MG_ERR_DECODE (invalid name), MG_ERR_BAD_KEY,
 * MG_ERR_CRYPTO_LIB. */
MG_MUST_USE int mg_note_signer_from_seed(mg_note_signer *out, const char *name,
                                         size_t name_len,
                                         const uint8_t seed[MG_NOTE_ED25519_KEY_LEN]);

/* mg_note_signer_generate builds a signer with a fresh random seed.
 * Errors: as mg_note_signer_from_seed. */
MG_MUST_USE int mg_note_signer_generate(mg_note_signer *out, const char *name,
                                        size_t name_len);

/* mg_note_signer_cleanup wipes |s|. */
void mg_note_signer_cleanup(mg_note_signer *s);

/* ----------------------------------------------------------------- notes */

/* One signature line, borrowed from the note. */
typedef struct mg_note_sig {
  const char *name;
  size_t name_len;
  uint32_t key_id;
  const char *b64;      /* base64(key ID || signature) */
  size_t b64_len;
} mg_note_sig;

/* A parsed, not yet verified, note.  |text| includes its final newline. */
typedef struct mg_note {
  const char *text;
  size_t text_len;
  size_t num_sigs;
  mg_note_sig sigs[MG_NOTE_MAX_SIGS];
} mg_note;

/* mg_note_text_valid returns 1 if |text| is acceptable note text: non-empty,
 * ends in a newline, valid UTF-8 without control characters other than
 * newline, at most MG_NOTE_MAX_LEN bytes. */
int mg_note_text_valid(const char *text, size_t len);

/* mg_note_parse splits a signed note into text and signature lines, checking
 * the format only (no signature is verified: the text must not be trusted
 * yet).  Errors: MG_ERR_DECODE (malformed), MG_ERR_LENGTH (over a limit). */
MG_MUST_USE int mg_note_parse(mg_note *out, const char *msg, size_t len);

/* mg_note_format writes |note|'s text, the blank line and its signature
 * lines, the exact inverse of mg_note_parse.  Errors: MG_ERR_INVALID_ARG,
 * the writer's. */
MG_MUST_USE int mg_note_format(mg_writer *w, const mg_note *note);

/* mg_note_verify applies the spec's rules to a parsed note: signatures from
 * keys not in |verifiers| (name and key ID not both matching) are ignored;
 * every signature from a known key must verify; at least one must.
 * |*out_num_verified| (may be NULL) counts distinct known keys that signed.
 * Errors: MG_ERR_VERIFY (a known key's signature does not verify),
 * MG_ERR_NOT_FOUND (no signature from a known key), MG_ERR_DECODE,
 * MG_ERR_CRYPTO_LIB. */
MG_MUST_USE int mg_note_verify(const mg_note *note,
                               const mg_note_verifier *verifiers,
                               size_t num_verifiers, size_t *out_num_verified);

/* mg_note_open = mg_note_parse then mg_note_verify.  On success |out| holds
 * the verified text.  Errors: as those two. */
MG_MUST_USE int mg_note_open(mg_note *out, const char *msg, size_t len,
                             const mg_note_verifier *verifiers,
                             size_t num_verifiers);

/* mg_note_sign writes a signed note of |text| signed by each of |signers|
 * (in order).  Errors: MG_ERR_DECODE (invalid text), MG_ERR_INVALID_ARG (no
 * signer), MG_ERR_CRYPTO_LIB, the writer's. */
MG_MUST_USE int mg_note_sign(mg_writer *w, const char *text, size_t text_len,
                             const mg_note_signer *signers, size_t num_signers);

/* ------------------------------------------------------------ checkpoints */

/* A checkpoint body (c2sp-tlog-checkpoint.md), borrowed from the text. */
typedef struct mg_checkpoint {
  const char *origin;
  size_t origin_len;
  uint64_t size;
  uint8_t root[MG_TLOG_HASH_LEN];
  const char *ext;      /* extension lines, each ending in '\n'; may be empty */
  size_t ext_len;
} mg_checkpoint;

/* mg_checkpoint_parse parses checkpoint note text (origin, size, root hash,
 * optional non-empty extension lines; each line ends in '\n').  Errors:
 * MG_ERR_DECODE, MG_ERR_BASE64, MG_ERR_LENGTH (size above
 * MG_TLOG_MAX_SIZE). */
MG_MUST_USE int mg_checkpoint_parse(mg_checkpoint *out, const char *text,
                                    size_t len);

/* mg_checkpoint_format writes the checkpoint text.  Errors:
 * MG_ERR_INVALID_ARG (empty origin, a control character, malformed
 * extension lines), the writer's. */
MG_MUST_USE int mg_checkpoint_format(mg_writer *w, const mg_checkpoint *cp);

/* mg_checkpoint_open verifies a signed checkpoint note with |verifiers| and
 * parses its text; the origin must equal |origin| (when not NULL).  |out|
 * borrows from |msg|.  Errors: mg_note_open's, mg_checkpoint_parse's,
 * MG_ERR_VERIFY (origin differs). */
MG_MUST_USE int mg_checkpoint_open(mg_checkpoint *out, const char *msg,
                                   size_t len, const char *origin,
                                   size_t origin_len,
                                   const mg_note_verifier *verifiers,
                                   size_t num_verifiers);

/* ------------------------------------------------------------ tlog proofs */

#define MG_TLOG_PROOF_HEADER "c2sp.org/tlog-proof@v1"
#define MG_TLOG_PROOF_MAX_EXTRA ((size_t)16 * 1024)

/* A parsed tlog proof (c2sp-tlog-proof.md).  |extra| is decoded into the
 * struct's own buffer; |checkpoint| borrows the signed checkpoint note. */
typedef struct mg_tlog_proof_text {
  int has_extra;
  size_t extra_len;
  uint8_t extra[MG_TLOG_PROOF_MAX_EXTRA];
  uint64_t index;
  mg_tlog_proof proof;
  const char *checkpoint;
  size_t checkpoint_len;
} mg_tlog_proof_text;

/* mg_tlog_proof_parse parses a tlog proof (format only).  Errors:
 * MG_ERR_DECODE, MG_ERR_BASE64, MG_ERR_LENGTH (too many hashes, extra data
 * too long, index above MG_TLOG_MAX_SIZE), or mg_note_parse's for the
 * embedded checkpoint. */
MG_MUST_USE int mg_tlog_proof_parse(mg_tlog_proof_text *out, const char *s,
                                    size_t len);

/* mg_tlog_proof_format writes a tlog proof (the exact inverse of parse).
 * Errors: MG_ERR_INVALID_ARG, the writer's. */
MG_MUST_USE int mg_tlog_proof_format(mg_writer *w, const mg_tlog_proof_text *p);

/* mg_tlog_proof_verify verifies a parsed proof for the entry whose leaf hash
 * is |leaf_hash|: the checkpoint is signed by one of |verifiers| (and no
 * known key's signature fails), its origin is |origin| (when not NULL), and
 * the inclusion proof binds the leaf at p->index to its root.  |*out_cp|
 * (may be NULL) receives the checkpoint.  Errors: as mg_checkpoint_open,
 * mg_tlog_verify_inclusion. */
MG_MUST_USE int mg_tlog_proof_verify(const mg_tlog_proof_text *p,
                                     const uint8_t leaf_hash[MG_TLOG_HASH_LEN],
                                     const char *origin, size_t origin_len,
                                     const mg_note_verifier *verifiers,
                                     size_t num_verifiers,
                                     mg_checkpoint *out_cp);

#endif
