/*
 * Base64, standard alphabet with padding (RFC 4648 §4), strict.
 *
 * Used for signed notes, checkpoints and tlog proofs (C2SP), where one value
 * must have exactly one encoding: the decoder rejects whitespace, missing or
 * extra padding, characters outside the alphabet, and non-zero unused bits
 * in the last group (RFC 4648 §3.5 "canonical encoding").
 *
 * The character mapping is branch-free in the data (signer keys hold an
 * Ed25519 seed); only lengths and the error decision are visible in timing.
 */
#ifndef MG_HEADER_COMMON_BASE64_H
#define MG_HEADER_COMMON_BASE64_H

#include <stddef.h>
#include <stdint.h>

#include "mlsgate/err.h"

/* MG_BASE64_ENCODED_LEN is the length of the encoding of |n| bytes (no NUL).
 * |n| must be below SIZE_MAX / 4 * 3 - 2. */
#define MG_BASE64_ENCODED_LEN(n) ((((n) + 2) / 3) * 4)

/* MG_BASE64_DECODED_MAX is an upper bound on what |n| characters decode to. */
#define MG_BASE64_DECODED_MAX(n) (((n) / 4) * 3)

/* mg_base64_encode writes MG_BASE64_ENCODED_LEN(len) characters and a NUL
 * into |out|, which must hold MG_BASE64_ENCODED_LEN(len) + 1 bytes. */
void mg_base64_encode(char *out, const uint8_t *in, size_t len);

/* mg_base64_decode decodes |in_len| characters from |in| into |out|
 * (capacity |out_cap|) and sets |*out_len|.  The empty string decodes to
 * zero bytes.  On failure nothing meaningful is left in |out| (it is zeroed
 * up to |out_cap| bytes written so far) and |*out_len| is 0.
 * Errors: MG_ERR_BASE64 (length not a multiple of 4, a character outside the
 * alphabet, misplaced or excess padding, non-zero unused bits),
 * MG_ERR_BUFFER_TOO_SMALL (|out_cap| too small for the decoded bytes),
 * MG_ERR_INVALID_ARG. */
MG_MUST_USE int mg_base64_decode(uint8_t *out, size_t out_cap, size_t *out_len,
                                 const char *in, size_t in_len);

/* The same for PUBLIC data only (MLS messages, key packages, hashes):
 * table lookups, several times faster, but their memory accesses depend on
 * the data.  Never for plaintext or keys. */
void mg_base64_encode_public(char *out, const uint8_t *in, size_t len);
MG_MUST_USE int mg_base64_decode_public(uint8_t *out, size_t out_cap,
                                        size_t *out_len, const char *in,
                                        size_t in_len);

#endif
