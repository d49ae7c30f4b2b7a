/* Hexadecimal helpers (test vectors, key IDs, CLI output). */
#ifndef MG_HEADER_COMMON_HEX_H
#define MG_HEADER_COMMON_HEX_H

#include <stddef.h>
#include <stdint.h>

#include "mlsgate/err.h"

/* mg_hex_decode decodes |hex_len| hex digits (upper or lower case) from |hex|
 * into a new buffer |*out| (free with free(); a 1-byte buffer is allocated for
 * an empty input so that *out is never NULL on success).
 * Errors: MG_ERR_HEX (odd length or non-hex digit), MG_ERR_NOMEM. */
MG_MUST_USE int mg_hex_decode(uint8_t **out, size_t *out_len, const char *hex,
                              size_t hex_len);

/* mg_hex_encode writes 2*|len| lowercase digits and a NUL into |out|, which
 * must hold 2*len+1 bytes. */
void mg_hex_encode(char *out, const uint8_t *in, size_t len);

#endif
