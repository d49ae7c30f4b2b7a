/* Error names and classes (STYLE.md §7; include/mlsgate/err.h). */
#include "config.h"

#include <stddef.h>

#include "common/guard.h"
#include "mlsgate/err.h"

/* One row per code: adding a code to err.h means adding one row here.
 * tests/check_common.c checks that every code has a distinct name. */
typedef struct {
  int code;
  const char *name;
  const char *text;
} mg_err_entry;

#define MG_ERR_ROW(sym, text) {sym, #sym, text}

static const mg_err_entry mg_err_table[] = {
    MG_ERR_ROW(MG_OK, "success"),

    MG_ERR_ROW(MG_ERR_DECODE, "malformed encoding"),
    MG_ERR_ROW(MG_ERR_TRUNCATED, "input truncated"),
    MG_ERR_ROW(MG_ERR_TRAILING, "trailing bytes after value"),
    MG_ERR_ROW(MG_ERR_VARINT_PREFIX, "varint with reserved 0b11 prefix"),
    MG_ERR_ROW(MG_ERR_VARINT_NONMINIMAL, "varint not minimally encoded"),
    MG_ERR_ROW(MG_ERR_LENGTH, "length exceeds the permitted maximum"),
    MG_ERR_ROW(MG_ERR_OPTIONAL, "optional presence octet not 0 or 1"),
    MG_ERR_ROW(MG_ERR_HEX, "invalid hexadecimal"),
    MG_ERR_ROW(MG_ERR_BASE64, "invalid base64"),

    MG_ERR_ROW(MG_ERR_PROTOCOL, "MLS protocol rule violated"),
    MG_ERR_ROW(MG_ERR_UNSUPPORTED, "unsupported suite, algorithm or version"),
    MG_ERR_ROW(MG_ERR_WIRE_FORMAT, "unknown or disallowed wire format"),
    MG_ERR_ROW(MG_ERR_VERSION, "protocol version is not mls10"),
    MG_ERR_ROW(MG_ERR_DUPLICATE_EXTENSION, "duplicate extension type"),
    MG_ERR_ROW(MG_ERR_EXTENSION, "extension not allowed here or not supported"),
    MG_ERR_ROW(MG_ERR_PARENT_HASH, "parent hash does not verify"),
    MG_ERR_ROW(MG_ERR_TREE_HASH, "tree hash does not match"),
    MG_ERR_ROW(MG_ERR_TREE_INVALID, "malformed ratchet tree"),
    MG_ERR_ROW(MG_ERR_LEAF_SIGNATURE, "leaf node signature does not verify"),
    MG_ERR_ROW(MG_ERR_LEAF_NODE_SOURCE, "leaf node source not allowed here"),
    MG_ERR_ROW(MG_ERR_DUPLICATE_KEY, "encryption or signature key already in the tree"),
    MG_ERR_ROW(MG_ERR_CREDENTIAL, "credential rejected"),
    MG_ERR_ROW(MG_ERR_CAPABILITIES, "capabilities do not support what the group requires"),
    MG_ERR_ROW(MG_ERR_LIFETIME, "lifetime not valid at this time"),
    MG_ERR_ROW(MG_ERR_KEY_PACKAGE, "invalid key package"),
    MG_ERR_ROW(MG_ERR_SENDER, "sender type or index not allowed"),
    MG_ERR_ROW(MG_ERR_EPOCH, "message is for another epoch"),
    MG_ERR_ROW(MG_ERR_GROUP_ID, "message is for another group"),
    MG_ERR_ROW(MG_ERR_CONTENT_TYPE, "content type not allowed for this wire format"),
    MG_ERR_ROW(MG_ERR_MEMBERSHIP_TAG, "membership tag does not verify"),
    MG_ERR_ROW(MG_ERR_CONFIRMATION_TAG, "confirmation tag does not verify"),
    MG_ERR_ROW(MG_ERR_SIGNATURE, "message signature does not verify"),
    MG_ERR_ROW(MG_ERR_GENERATION, "ratchet generation too old, reused or too far ahead"),
    MG_ERR_ROW(MG_ERR_PADDING, "non-zero padding"),
    MG_ERR_ROW(MG_ERR_PROPOSAL, "invalid proposal or proposal list (RFC 9420 §12.2)"),
    MG_ERR_ROW(MG_ERR_PSK, "pre-shared key unknown or invalid"),
    MG_ERR_ROW(MG_ERR_PATH, "update path invalid"),
    MG_ERR_ROW(MG_ERR_WELCOME, "Welcome has no secrets for this key package"),
    MG_ERR_ROW(MG_ERR_STATE, "the group state does not allow this operation"),

    MG_ERR_ROW(MG_ERR_CRYPTO, "cryptographic failure"),
    MG_ERR_ROW(MG_ERR_CRYPTO_LIB, "crypto library error"),
    MG_ERR_ROW(MG_ERR_BAD_KEY, "invalid key"),
    MG_ERR_ROW(MG_ERR_VERIFY, "signature or MAC verification failed"),
    MG_ERR_ROW(MG_ERR_AUTH, "AEAD authentication failed"),
    MG_ERR_ROW(MG_ERR_PARAM, "invalid nonce, tag or output length"),
    MG_ERR_ROW(MG_ERR_DH_ZERO, "DH output is the identity"),
    MG_ERR_ROW(MG_ERR_SEQ_OVERFLOW, "HPKE sequence number exhausted"),
    MG_ERR_ROW(MG_ERR_DERIVE_KEYPAIR, "DeriveKeyPair found no valid key"),
    MG_ERR_ROW(MG_ERR_EXPORT_ONLY, "seal/open on an export-only HPKE context"),

    MG_ERR_ROW(MG_ERR_NOT_FOUND, "not found"),

    MG_ERR_ROW(MG_ERR_CONFLICT, "conflict: the state changed meanwhile"),
    MG_ERR_ROW(MG_ERR_EXISTS, "already exists"),

    MG_ERR_ROW(MG_ERR_STORE, "store unavailable"),
    MG_ERR_ROW(MG_ERR_RETRY, "transient store condition: retry"),
    MG_ERR_ROW(MG_ERR_UNKNOWN_OUTCOME,
               "commit outcome unknown (it may or may not be durable)"),
    MG_ERR_ROW(MG_ERR_TAMPERED, "stored record fails to open (altered or moved)"),
    MG_ERR_ROW(MG_ERR_SCHEMA, "unknown store schema version"),
    MG_ERR_ROW(MG_ERR_KEK, "key-encryption key missing, unsafe or wrong"),

    MG_ERR_ROW(MG_ERR_INTERNAL, "internal error"),
    MG_ERR_ROW(MG_ERR_NOMEM, "out of memory"),
    MG_ERR_ROW(MG_ERR_INVALID_ARG, "invalid argument"),
    MG_ERR_ROW(MG_ERR_IO, "I/O error"),
    MG_ERR_ROW(MG_ERR_BUFFER_TOO_SMALL, "buffer or writer maximum too small"),
    MG_ERR_ROW(MG_ERR_LOCK, "secure memory could not be locked"),
};

/* Class ranges, err.h: each class owns [lo, hi] (both negative). */
typedef struct {
  int lo;
  int hi;
  mg_err_class cls;
} mg_err_range;

static const mg_err_range mg_err_ranges[] = {
    {-199, -100, MG_ERRCLASS_DECODE},    {-299, -200, MG_ERRCLASS_PROTOCOL},
    {-399, -300, MG_ERRCLASS_CRYPTO},    {-499, -400, MG_ERRCLASS_NOT_FOUND},
    {-599, -500, MG_ERRCLASS_CONFLICT},  {-699, -600, MG_ERRCLASS_STORE},
    {-999, -900, MG_ERRCLASS_INTERNAL},
};

static const char *const mg_err_class_names[] = {
    [MG_ERRCLASS_NONE] = "none",           [MG_ERRCLASS_DECODE] = "decode",
    [MG_ERRCLASS_PROTOCOL] = "protocol",   [MG_ERRCLASS_CRYPTO] = "crypto",
    [MG_ERRCLASS_NOT_FOUND] = "not_found", [MG_ERRCLASS_CONFLICT] = "conflict",
    [MG_ERRCLASS_STORE] = "store",         [MG_ERRCLASS_INTERNAL] = "internal",
};

static const mg_err_entry *mg_err_lookup(int err) {
  for (size_t i = 0; i < MG_ARRAY_LEN(mg_err_table); i++) {
    if (mg_err_table[i].code == err) {
      return &mg_err_table[i];
    }
  }
  return NULL;
}

const char *mg_strerror(int err) {
  const mg_err_entry *e = mg_err_lookup(err);
  return e != NULL ? e->text : "unknown error";
}

const char *mg_err_name(int err) {
  const mg_err_entry *e = mg_err_lookup(err);
  return e != NULL ? e->name : "MG_ERR_?";
}

mg_err_class mg_err_class_of(int err) {
  if (err == 0) {
    return MG_ERRCLASS_NONE;
  }
  if (err > 0) {
    /* Positive values are outside the convention: a bug, so fail closed. */
    return MG_ERRCLASS_INTERNAL;
  }
  for (size_t i = 0; i < MG_ARRAY_LEN(mg_err_ranges); i++) {
    if (err >= mg_err_ranges[i].lo && err <= mg_err_ranges[i].hi) {
      return mg_err_ranges[i].cls;
    }
  }
  /* Unknown negative codes are treated as fatal (err.h). */
  return MG_ERRCLASS_INTERNAL;
}

const char *mg_err_class_name(mg_err_class c) {
  size_t i = (size_t)c;
  if (i < MG_ARRAY_LEN(mg_err_class_names) && mg_err_class_names[i] != NULL) {
    return mg_err_class_names[i];
  }
  return "unknown";
}
