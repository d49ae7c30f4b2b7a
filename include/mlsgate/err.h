/*
 * mlsgate error convention (STYLE.md §7).
 *
 * Every fallible function returns 0 (MG_OK) on success or a negative
 * mg_err code.  Codes are grouped into classes by range so that callers (and
 * later the HTTP layer) can map a whole class at once:
 *
 *   DECODE     -100 .. -199   malformed encoding (bad length, trailing bytes)
 *   PROTOCOL   -200 .. -299   well-formed but violates an MLS rule
 *   CRYPTO     -300 .. -399   verification/decryption failure, bad key
 *   NOT_FOUND  -400 .. -499
 *   CONFLICT   -500 .. -599
 *   STORE      -600 .. -699   the keystore cannot do it (fail closed)
 *   INTERNAL   -900 .. -999   fatal: allocation failure, library failure, bug
 */
#ifndef MG_HEADER_MLSGATE_ERR_H
#define MG_HEADER_MLSGATE_ERR_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define MG_MUST_USE __attribute__((warn_unused_result))
#else
#define MG_MUST_USE
#endif

typedef enum mg_err {
  MG_OK = 0,

  /* DECODE */
  MG_ERR_DECODE = -100,            /* generic malformed input */
  MG_ERR_TRUNCATED = -101,         /* input ends before the field does */
  MG_ERR_TRAILING = -102,          /* bytes left after a complete value */
  MG_ERR_VARINT_PREFIX = -103,     /* varint with the reserved 0b11 prefix */
  MG_ERR_VARINT_NONMINIMAL = -104, /* varint not in its shortest form */
  MG_ERR_LENGTH = -105,            /* length exceeds the permitted maximum */
  MG_ERR_OPTIONAL = -106,          /* optional<T> presence byte not 0 or 1 */
  MG_ERR_HEX = -107,               /* not valid hexadecimal */
  MG_ERR_BASE64 = -108,            /* not valid base64 */

  /* PROTOCOL */
  MG_ERR_PROTOCOL = -200,          /* generic MLS rule violation */
  MG_ERR_UNSUPPORTED = -201,       /* unknown suite / algorithm / version */
  MG_ERR_WIRE_FORMAT = -202,      /* unknown or disallowed wire format */
  MG_ERR_VERSION = -203,          /* protocol version is not mls10 */
  MG_ERR_DUPLICATE_EXTENSION = -204, /* duplicate extension type */
  MG_ERR_EXTENSION = -205,        /* extension not allowed here or not supported */
  MG_ERR_PARENT_HASH = -206,      /* parent hash does not verify */
  MG_ERR_TREE_HASH = -207,        /* tree hash does not match */
  MG_ERR_TREE_INVALID = -208,     /* malformed ratchet tree */
  MG_ERR_LEAF_SIGNATURE = -209,   /* leaf node signature does not verify */
  MG_ERR_LEAF_NODE_SOURCE = -210, /* leaf node source not allowed here */
  MG_ERR_DUPLICATE_KEY = -211,    /* encryption or signature key already in the tree */
  MG_ERR_CREDENTIAL = -212,       /* credential rejected */
  MG_ERR_CAPABILITIES = -213,     /* capabilities do not support what the group requires */
  MG_ERR_LIFETIME = -214,         /* lifetime not valid at this time */
  MG_ERR_KEY_PACKAGE = -215,      /* invalid key package */
  MG_ERR_SENDER = -216,           /* sender type or index not allowed */
  MG_ERR_EPOCH = -217,            /* message is for another epoch */
  MG_ERR_GROUP_ID = -218,         /* message is for another group */
  MG_ERR_CONTENT_TYPE = -219,     /* content type not allowed for this wire format */
  MG_ERR_MEMBERSHIP_TAG = -220,   /* membership tag does not verify */
  MG_ERR_CONFIRMATION_TAG = -221, /* confirmation tag does not verify */
  MG_ERR_SIGNATURE = -222,        /* message signature does not verify */
  MG_ERR_GENERATION = -223,       /* ratchet generation too old, reused or too far ahead */
  MG_ERR_PADDING = -224,          /* non-zero padding */
  MG_ERR_PROPOSAL = -225,         /* invalid proposal or proposal list (RFC 9420 §12.2) */
  MG_ERR_PSK = -226,              /* pre-shared key unknown or invalid */
  MG_ERR_PATH = -227,             /* update path invalid */
  MG_ERR_WELCOME = -228,          /* Welcome has no secrets for this key package */
  MG_ERR_STATE = -229,            /* the group state does not allow this (after ReInit) */

  /* CRYPTO */
  MG_ERR_CRYPTO = -300,            /* generic cryptographic failure */
  MG_ERR_CRYPTO_LIB = -301,        /* the backend library reported an error */
  MG_ERR_BAD_KEY = -302,           /* key has the wrong size or is invalid */
  MG_ERR_VERIFY = -303,            /* signature or MAC did not verify */
  MG_ERR_AUTH = -304,              /* AEAD authentication failed */
  MG_ERR_PARAM = -305,             /* nonce/tag/output length not allowed */
  MG_ERR_DH_ZERO = -306,           /* DH produced the all-zero / identity value */
  MG_ERR_SEQ_OVERFLOW = -307,      /* HPKE sequence number exhausted */
  MG_ERR_DERIVE_KEYPAIR = -308,    /* DeriveKeyPair found no valid scalar */
  MG_ERR_EXPORT_ONLY = -309,       /* seal/open on an export-only HPKE context */

  /* NOT_FOUND */
  MG_ERR_NOT_FOUND = -400,

  /* CONFLICT */
  MG_ERR_CONFLICT = -500,          /* stale write: compare-and-swap lost */
  MG_ERR_EXISTS = -501,            /* the object already exists */

  /* STORE */
  MG_ERR_STORE = -600,             /* store unavailable (I/O, environment) */
  MG_ERR_RETRY = -601,             /* transient: the operation may be retried */
  MG_ERR_UNKNOWN_OUTCOME = -602,   /* commit/sync failed: durable or not */
  MG_ERR_TAMPERED = -603,          /* a stored record fails to open */
  MG_ERR_SCHEMA = -604,            /* unknown or newer store schema */
  MG_ERR_KEK = -605,               /* key-encryption key missing, unsafe or wrong */

  /* INTERNAL */
  MG_ERR_INTERNAL = -900,          /* a bug: an invariant did not hold */
  MG_ERR_NOMEM = -901,             /* allocation failed */
  MG_ERR_INVALID_ARG = -902,       /* caller passed an invalid argument */
  MG_ERR_IO = -903,                /* read/write/open failed */
  MG_ERR_BUFFER_TOO_SMALL = -904,  /* output buffer or writer maximum too small */
  MG_ERR_LOCK = -905               /* secure memory could not be locked */
} mg_err;

typedef enum mg_err_class {
  MG_ERRCLASS_NONE = 0,
  MG_ERRCLASS_DECODE,
  MG_ERRCLASS_PROTOCOL,
  MG_ERRCLASS_CRYPTO,
  MG_ERRCLASS_NOT_FOUND,
  MG_ERRCLASS_CONFLICT,
  MG_ERRCLASS_STORE,
  MG_ERRCLASS_INTERNAL
} mg_err_class;

/* mg_strerror returns a static, human-readable name for |err|.  Unknown
 * codes yield "unknown error".  Never NULL. */
const char *mg_strerror(int err);

/* mg_err_name returns the symbolic name ("MG_ERR_TRUNCATED") of |err|, or
 * "MG_ERR_?" for an unknown code.  Never NULL. */
const char *mg_err_name(int err);

/* mg_err_class_of returns the class of |err| (MG_ERRCLASS_NONE for 0;
 * unknown negative codes are MG_ERRCLASS_INTERNAL). */
mg_err_class mg_err_class_of(int err);

/* mg_err_class_name names a class ("decode", "protocol", ...). */
const char *mg_err_class_name(mg_err_class c);

#ifdef __cplusplus
}
#endif
#endif /* MG_HEADER_MLSGATE_ERR_H */
