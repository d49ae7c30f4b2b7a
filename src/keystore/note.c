/* C2SP signed notes, checkpoints and tlog proofs (src/keystore/note.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/guard.h"
#include "common/hex.h"
#include "common/secmem.h"
#include "crypto/crypto.h"
#include "keystore/note.h"

/* "— " : U+2014 EM DASH, then a space. */
static const char sig_prefix[] = "\xe2\x80\x94 ";
#define SIG_PREFIX_LEN 4
static const char private_prefix[] = "PRIVATE+KEY+";
#define PRIVATE_PREFIX_LEN 12

/* ------------------------------------------------------------- helpers */

/* Decodes one UTF-8 sequence at |s| (|len| > 0 bytes available): sets
 * |*cp| and returns its length, or 0 if invalid (overlong, surrogate,
 * above U+10FFFF, truncated). */
static size_t utf8_next(const unsigned char *s, size_t len, uint32_t *cp) {
  uint32_t c = s[0];
  size_t n;
  uint32_t min;
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
    c &= 0x1f;
    min = 0x80;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    c &= 0x0f;
    min = 0x800;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    c &= 0x07;
    min = 0x10000;
  } else {
    return 0;
  }
  if (len < n) {
    return 0;
  }
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xc0) != 0x80) {
      return 0;
    }
    c = (c << 6) | (s[i] & 0x3fu);
  }
  if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
    return 0;
  }
  *cp = c;
  return n;
}

/* Unicode White_Space (what Go's unicode.IsSpace, used by the reference
 * implementation of signed notes, reports). */
static int is_unicode_space(uint32_t c) {
  switch (c) {
  case 0x09: case 0x0a: case 0x0b: case 0x0c: case 0x0d: case 0x20:
  case 0x85: case 0xa0: case 0x1680: case 0x2028: case 0x2029:
  case 0x202f: case 0x205f: case 0x3000:
    return 1;
  default:
    return c >= 0x2000 && c <= 0x200a;
  }
}

/* 1 if |s| is valid UTF-8 with no control character below U+0020 other than
 * newline (and no newline at all unless |allow_nl|). */
static int chars_valid(const char *s, size_t len, int allow_nl) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;
  while (i < len) {
    uint32_t cp;
    size_t n = utf8_next(p + i, len - i, &cp);
    if (n == 0) {
      return 0;
    }
    if (cp < 0x20 && !(cp == '\n' && allow_nl)) {
      return 0;
    }
    i += n;
  }
  return 1;
}

/* Parses a decimal with no leading zero (unless it is "0") and no sign,
 * at most |max|.  Errors: MG_ERR_DECODE, MG_ERR_LENGTH (above max). */
static int parse_dec(uint64_t *out, const char *s, size_t len, uint64_t max) {
  uint64_t v = 0;
  MG_ENSURE(len > 0 && len <= 20, len > 20 ? MG_ERR_LENGTH : MG_ERR_DECODE);
  MG_ENSURE(!(s[0] == '0' && len > 1), MG_ERR_DECODE);
  for (size_t i = 0; i < len; i++) {
    MG_ENSURE(s[i] >= '0' && s[i] <= '9', MG_ERR_DECODE);
    MG_ENSURE(v <= (UINT64_MAX - 9) / 10, MG_ERR_LENGTH);
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  MG_ENSURE(v <= max, MG_ERR_LENGTH);
  *out = v;
  return 0;
}

static int write_dec(mg_writer *w, uint64_t v) {
  char buf[21];
  size_t i = sizeof(buf);
  do {
    buf[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  return mg_write_bytes(w, (const uint8_t *)buf + i, sizeof(buf) - i);
}

static int write_str(mg_writer *w, const char *s, size_t len) {
  return mg_write_bytes(w, (const uint8_t *)s, len);
}

static int write_b64(mg_writer *w, const uint8_t *data, size_t len) {
  char buf[MG_BASE64_ENCODED_LEN(4 + MG_TLOG_HASH_LEN + MG_NOTE_ED25519_SIG_LEN) + 1];
  char *p = buf;
  size_t n = MG_BASE64_ENCODED_LEN(len);
  int rc;
  if (n + 1 > sizeof(buf)) {
    p = malloc(n + 1);
    if (p == NULL) {
      return MG_ERR_NOMEM;
    }
  }
  mg_base64_encode(p, data, len);
  rc = write_str(w, p, n);
  mg_memzero(p, n);
  if (p != buf) {
    free(p);
  }
  return rc;
}

/* Parses 8 lowercase hex digits. */
static int parse_hex32(uint32_t *out, const char *s, size_t len) {
  uint32_t v = 0;
  MG_ENSURE(len == 8, MG_ERR_DECODE);
  for (size_t i = 0; i < 8; i++) {
    char c = s[i];
    uint32_t d;
    if (c >= '0' && c <= '9') {
      d = (uint32_t)(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      d = (uint32_t)(c - 'a' + 10);
    } else {
      return MG_ERR_DECODE;
    }
    v = (v << 4) | d;
  }
  *out = v;
  return 0;
}

static int write_hex32(mg_writer *w, uint32_t v) {
  uint8_t be[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8),
                   (uint8_t)v};
  char hex[9];
  mg_hex_encode(hex, be, 4);
  return write_str(w, hex, 8);
}

static uint32_t load_be32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
         ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

/* Finds |c| in s[0:len); returns its offset or len. */
static size_t find_char(const char *s, size_t len, char c) {
  const char *p = memchr(s, c, len);
  return p == NULL ? len : (size_t)(p - s);
}

/* ------------------------------------------------------------------ keys */

int mg_note_name_valid(const char *name, size_t name_len) {
  const unsigned char *p = (const unsigned char *)name;
  size_t i = 0;
  if (name == NULL || name_len == 0 || name_len > MG_NOTE_MAX_NAME_LEN) {
    return 0;
  }
  while (i < name_len) {
    uint32_t cp;
    size_t n = utf8_next(p + i, name_len - i, &cp);
    if (n == 0 || cp < 0x20 || cp == '+' || is_unicode_space(cp)) {
      return 0;
    }
    i += n;
  }
  return 1;
}

int mg_note_key_id(uint32_t *out, const char *name, size_t name_len,
                   uint8_t type, const uint8_t *key, size_t key_len) {
  uint8_t buf[MG_NOTE_MAX_NAME_LEN + 2 + 64];
  uint8_t digest[32];
  size_t n = 0;
  int rc;

  MG_ENSURE(out != NULL && name != NULL && key != NULL, MG_ERR_INVALID_ARG);
  MG_ENSURE(name_len <= MG_NOTE_MAX_NAME_LEN && key_len <= 64,
            MG_ERR_INVALID_ARG);
  /* key ID = SHA-256(key name || 0x0A || signature type || public key)[:4] */
  memcpy(buf, name, name_len);
  n = name_len;
  buf[n++] = 0x0a;
  buf[n++] = type;
  memcpy(buf + n, key, key_len);
  n += key_len;
  rc = mg_sha256.digest(&mg_sha256, digest, buf, n);
  if (rc == 0) {
    *out = load_be32(digest);
  }
  return rc;
}

/* Parses "<name>+<hex id>+<base64(type || key)>" into |name|, |key_id| and
 * |key| (32 bytes after the type byte 0x01). */
static int parse_key_parts(mg_note_verifier *v, uint8_t key[32], const char *s,
                           size_t len) {
  uint8_t raw[1 + MG_NOTE_ED25519_KEY_LEN];
  size_t raw_len = 0;
  size_t p1;
  size_t p2;
  const char *rest;
  size_t rest_len;
  int rc;

  p1 = find_char(s, len, '+');
  MG_ENSURE(p1 < len, MG_ERR_DECODE);
  MG_ENSURE(mg_note_name_valid(s, p1), MG_ERR_DECODE);
  rest = s + p1 + 1;
  rest_len = len - p1 - 1;
  p2 = find_char(rest, rest_len, '+');
  MG_ENSURE(p2 < rest_len, MG_ERR_DECODE);
  MG_GUARD(parse_hex32(&v->key_id, rest, p2));
  rc = mg_base64_decode(raw, sizeof(raw), &raw_len, rest + p2 + 1,
                        rest_len - p2 - 1);
  if (rc == MG_ERR_BUFFER_TOO_SMALL) {
    /* Longer material: another signature type, or an Ed25519 key of the
     * wrong length (the type is the first byte: the first 4 characters). */
    uint8_t head[3];
    size_t head_len = 0;
    rc = mg_base64_decode(head, sizeof(head), &head_len, rest + p2 + 1, 4);
    return rc == 0 && head[0] != MG_NOTE_SIG_ED25519 ? MG_ERR_UNSUPPORTED
                                                      : MG_ERR_DECODE;
  }
  MG_ENSURE(rc == 0, MG_ERR_DECODE);
  MG_ENSURE(raw_len >= 1, MG_ERR_DECODE);
  if (raw[0] != MG_NOTE_SIG_ED25519 || raw_len != sizeof(raw)) {
    rc = raw[0] != MG_NOTE_SIG_ED25519 ? MG_ERR_UNSUPPORTED : MG_ERR_DECODE;
    mg_memzero(raw, sizeof(raw));
    return rc;
  }
  memcpy(v->name, s, p1);
  v->name[p1] = '\0';
  v->name_len = p1;
  memcpy(key, raw + 1, MG_NOTE_ED25519_KEY_LEN);
  mg_memzero(raw, sizeof(raw));
  return 0;
}

static int check_key_id(const mg_note_verifier *v) {
  uint32_t id;
  MG_GUARD(mg_note_key_id(&id, v->name, v->name_len, MG_NOTE_SIG_ED25519,
                          v->pub, MG_NOTE_ED25519_KEY_LEN));
  MG_ENSURE(id == v->key_id, MG_ERR_BAD_KEY);
  return 0;
}

int mg_note_verifier_parse(mg_note_verifier *out, const char *s, size_t len) {
  mg_note_verifier v;
  mg_sig_key *key = NULL;
  int rc;

  MG_ENSURE(out != NULL && s != NULL, MG_ERR_INVALID_ARG);
  memset(&v, 0, sizeof(v));
  MG_GUARD(parse_key_parts(&v, v.pub, s, len));
  MG_GUARD(check_key_id(&v));
  rc = mg_sig_ed25519.key_from_pub(&mg_sig_ed25519, &key, v.pub,
                                   sizeof(v.pub));
  mg_sig_key_free(key);
  MG_ENSURE(rc == 0, rc == MG_ERR_CRYPTO_LIB ? rc : MG_ERR_BAD_KEY);
  *out = v;
  return 0;
}

int mg_note_verifier_format(mg_writer *w, const mg_note_verifier *v) {
  uint8_t raw[1 + MG_NOTE_ED25519_KEY_LEN];
  MG_ENSURE(w != NULL && v != NULL, MG_ERR_INVALID_ARG);
  MG_ENSURE(mg_note_name_valid(v->name, v->name_len), MG_ERR_INVALID_ARG);
  raw[0] = MG_NOTE_SIG_ED25519;
  memcpy(raw + 1, v->pub, MG_NOTE_ED25519_KEY_LEN);
  MG_GUARD(write_str(w, v->name, v->name_len));
  MG_GUARD(mg_write_u8(w, '+'));
  MG_GUARD(write_hex32(w, v->key_id));
  MG_GUARD(mg_write_u8(w, '+'));
  return write_b64(w, raw, sizeof(raw));
}

void mg_note_signer_cleanup(mg_note_signer *s) {
  if (s != NULL) {
    mg_memzero(s, sizeof(*s));
  }
}

int mg_note_signer_from_seed(mg_note_signer *out, const char *name,
                             size_t name_len,
                             const uint8_t seed[MG_NOTE_ED25519_KEY_LEN]) {
  int rc;
  MG_ENSURE(out != NULL && name != NULL && seed != NULL, MG_ERR_INVALID_ARG);
  MG_ENSURE(mg_note_name_valid(name, name_len), MG_ERR_DECODE);
  memset(out, 0, sizeof(*out));
  memcpy(out->v.name, name, name_len);
  out->v.name_len = name_len;
  memcpy(out->seed, seed, MG_NOTE_ED25519_KEY_LEN);
  rc = mg_sig_ed25519.pub_from_priv(&mg_sig_ed25519, out->v.pub, out->seed);
  if (rc == 0) {
    rc = mg_note_key_id(&out->v.key_id, name, name_len, MG_NOTE_SIG_ED25519,
                        out->v.pub, MG_NOTE_ED25519_KEY_LEN);
  }
  if (rc < 0) {
    mg_note_signer_cleanup(out);
  }
  return rc;
}

int mg_note_signer_generate(mg_note_signer *out, const char *name,
                            size_t name_len) {
  uint8_t seed[MG_NOTE_ED25519_KEY_LEN];
  int rc = mg_random_bytes(seed, sizeof(seed));
  if (rc == 0) {
    rc = mg_note_signer_from_seed(out, name, name_len, seed);
  }
  mg_memzero(seed, sizeof(seed));
  return rc;
}

int mg_note_signer_parse(mg_note_signer *out, const char *s, size_t len) {
  mg_note_signer tmp;
  uint32_t want;
  int rc;

  MG_ENSURE(out != NULL, MG_ERR_INVALID_ARG);
  mg_note_signer_cleanup(out);
  MG_ENSURE(s != NULL, MG_ERR_INVALID_ARG);
  memset(&tmp, 0, sizeof(tmp));
  MG_ENSURE(len > PRIVATE_PREFIX_LEN &&
                memcmp(s, private_prefix, PRIVATE_PREFIX_LEN) == 0,
            MG_ERR_DECODE);
  rc = parse_key_parts(&tmp.v, tmp.seed, s + PRIVATE_PREFIX_LEN,
                       len - PRIVATE_PREFIX_LEN);
  if (rc == 0) {
    want = tmp.v.key_id;
    rc = mg_note_signer_from_seed(out, tmp.v.name, tmp.v.name_len, tmp.seed);
    if (rc == 0 && out->v.key_id != want) {
      mg_note_signer_cleanup(out);
      rc = MG_ERR_BAD_KEY;
    }
  }
  mg_note_signer_cleanup(&tmp);
  return rc;
}

int mg_note_signer_format(mg_writer *w, const mg_note_signer *s) {
  uint8_t raw[1 + MG_NOTE_ED25519_KEY_LEN];
  int rc;
  MG_ENSURE(w != NULL && s != NULL, MG_ERR_INVALID_ARG);
  MG_ENSURE(mg_note_name_valid(s->v.name, s->v.name_len), MG_ERR_INVALID_ARG);
  raw[0] = MG_NOTE_SIG_ED25519;
  memcpy(raw + 1, s->seed, MG_NOTE_ED25519_KEY_LEN);
  rc = write_str(w, private_prefix, PRIVATE_PREFIX_LEN);
  if (rc == 0) {
    rc = write_str(w, s->v.name, s->v.name_len);
  }
  if (rc == 0) {
    rc = mg_write_u8(w, '+');
  }
  if (rc == 0) {
    rc = write_hex32(w, s->v.key_id);
  }
  if (rc == 0) {
    rc = mg_write_u8(w, '+');
  }
  if (rc == 0) {
    rc = write_b64(w, raw, sizeof(raw));
  }
  mg_memzero(raw, sizeof(raw));
  return rc;
}

/* ----------------------------------------------------------------- notes */

int mg_note_text_valid(const char *text, size_t len) {
  return text != NULL && len > 0 && len <= MG_NOTE_MAX_LEN &&
         text[len - 1] == '\n' && chars_valid(text, len, 1);
}

/* Parses one signature line (without its newline). */
static int parse_sig_line(mg_note_sig *out, const char *line, size_t len) {
  uint8_t raw[4 + MG_NOTE_MAX_SIG_LEN];
  size_t raw_len = 0;
  size_t sp;
  int rc;

  MG_ENSURE(len > SIG_PREFIX_LEN &&
                memcmp(line, sig_prefix, SIG_PREFIX_LEN) == 0,
            MG_ERR_DECODE);
  line += SIG_PREFIX_LEN;
  len -= SIG_PREFIX_LEN;
  sp = find_char(line, len, ' ');
  MG_ENSURE(sp < len, MG_ERR_DECODE);
  MG_ENSURE(mg_note_name_valid(line, sp), MG_ERR_DECODE);
  out->name = line;
  out->name_len = sp;
  out->b64 = line + sp + 1;
  out->b64_len = len - sp - 1;
  MG_ENSURE(out->b64_len > 0, MG_ERR_DECODE);
  rc = mg_base64_decode(raw, sizeof(raw), &raw_len, out->b64, out->b64_len);
  MG_ENSURE(rc != MG_ERR_BUFFER_TOO_SMALL, MG_ERR_LENGTH);
  MG_ENSURE(rc == 0, MG_ERR_DECODE);
  /* 4-byte key ID and a non-empty signature. */
  MG_ENSURE(raw_len >= 5, MG_ERR_DECODE);
  out->key_id = load_be32(raw);
  return 0;
}

int mg_note_parse(mg_note *out, const char *msg, size_t len) {
  size_t split;
  size_t pos;
  mg_note n;

  MG_ENSURE(out != NULL && (msg != NULL || len == 0), MG_ERR_INVALID_ARG);
  out->num_sigs = 0;
  out->text = NULL;
  out->text_len = 0;
  MG_ENSURE(len <= MG_NOTE_MAX_LEN, MG_ERR_LENGTH);
  MG_ENSURE(len >= 2 && msg[len - 1] == '\n', MG_ERR_DECODE);
  MG_ENSURE(chars_valid(msg, len, 1), MG_ERR_DECODE);
  /* The text ends at the last empty line. */
  split = len - 1;
  while (split > 0 && !(msg[split - 1] == '\n' && msg[split] == '\n')) {
    split--;
  }
  MG_ENSURE(split > 0, MG_ERR_DECODE);
  n.text = msg;
  n.text_len = split; /* includes the text's final newline */
  n.num_sigs = 0;
  pos = split + 1;
  MG_ENSURE(pos < len, MG_ERR_DECODE); /* at least one signature */
  while (pos < len) {
    size_t eol = pos + find_char(msg + pos, len - pos, '\n');
    MG_ENSURE(n.num_sigs < MG_NOTE_MAX_SIGS, MG_ERR_LENGTH);
    MG_GUARD(parse_sig_line(&n.sigs[n.num_sigs], msg + pos, eol - pos));
    n.num_sigs++;
    pos = eol + 1;
  }
  *out = n;
  return 0;
}

int mg_note_format(mg_writer *w, const mg_note *note) {
  MG_ENSURE(w != NULL && note != NULL, MG_ERR_INVALID_ARG);
  MG_ENSURE(mg_note_text_valid(note->text, note->text_len), MG_ERR_INVALID_ARG);
  MG_ENSURE(note->num_sigs > 0 && note->num_sigs <= MG_NOTE_MAX_SIGS,
            MG_ERR_INVALID_ARG);
  MG_GUARD(write_str(w, note->text, note->text_len));
  MG_GUARD(mg_write_u8(w, '\n'));
  for (size_t i = 0; i < note->num_sigs; i++) {
    const mg_note_sig *s = &note->sigs[i];
    MG_ENSURE(mg_note_name_valid(s->name, s->name_len), MG_ERR_INVALID_ARG);
    MG_ENSURE(s->b64 != NULL && s->b64_len > 0 &&
                  find_char(s->b64, s->b64_len, '\n') == s->b64_len,
              MG_ERR_INVALID_ARG);
    MG_GUARD(write_str(w, sig_prefix, SIG_PREFIX_LEN));
    MG_GUARD(write_str(w, s->name, s->name_len));
    MG_GUARD(mg_write_u8(w, ' '));
    MG_GUARD(write_str(w, s->b64, s->b64_len));
    MG_GUARD(mg_write_u8(w, '\n'));
  }
  return 0;
}

int mg_note_verify(const mg_note *note, const mg_note_verifier *verifiers,
                   size_t num_verifiers, size_t *out_num_verified) {
  size_t verified = 0;
  size_t matched[MG_NOTE_MAX_SIGS];

  if (out_num_verified != NULL) {
    *out_num_verified = 0;
  }
  MG_ENSURE(note != NULL && (verifiers != NULL || num_verifiers == 0),
            MG_ERR_INVALID_ARG);
  MG_ENSURE(note->num_sigs <= MG_NOTE_MAX_SIGS, MG_ERR_DECODE);
  for (size_t i = 0; i < note->num_sigs; i++) {
    const mg_note_sig *s = &note->sigs[i];
    const mg_note_verifier *v = NULL;
    size_t vi = 0;
    uint8_t raw[4 + MG_NOTE_ED25519_SIG_LEN];
    size_t raw_len = 0;
    int seen = 0;

    for (size_t j = 0; j < num_verifiers; j++) {
      if (verifiers[j].key_id == s->key_id &&
          verifiers[j].name_len == s->name_len &&
          memcmp(verifiers[j].name, s->name, s->name_len) == 0) {
        v = &verifiers[j];
        vi = j;
        break;
      }
    }
    if (v == NULL) {
      continue; /* unknown key: ignored (name or ID may collide, not both) */
    }
    /* A known key's signature must verify; an Ed25519 signature of any
     * other length cannot. */
    if (mg_base64_decode(raw, sizeof(raw), &raw_len, s->b64, s->b64_len) != 0 ||
        raw_len != sizeof(raw)) {
      return MG_ERR_VERIFY;
    }
    MG_GUARD(mg_sig_verify_raw(&mg_sig_ed25519, v->pub, sizeof(v->pub),
                               (const uint8_t *)note->text, note->text_len,
                               raw + 4, MG_NOTE_ED25519_SIG_LEN));
    for (size_t k = 0; k < verified; k++) {
      if (matched[k] == vi) {
        seen = 1;
      }
    }
    if (!seen) {
      matched[verified++] = vi;
    }
  }
  if (out_num_verified != NULL) {
    *out_num_verified = verified;
  }
  return verified > 0 ? 0 : MG_ERR_NOT_FOUND;
}

int mg_note_open(mg_note *out, const char *msg, size_t len,
                 const mg_note_verifier *verifiers, size_t num_verifiers) {
  int rc = mg_note_parse(out, msg, len);
  if (rc == 0) {
    rc = mg_note_verify(out, verifiers, num_verifiers, NULL);
  }
  if (rc < 0 && out != NULL) {
    out->text = NULL;
    out->text_len = 0;
    out->num_sigs = 0;
  }
  return rc;
}

int mg_note_sign(mg_writer *w, const char *text, size_t text_len,
                 const mg_note_signer *signers, size_t num_signers) {
  MG_ENSURE(w != NULL && (signers != NULL || num_signers == 0),
            MG_ERR_INVALID_ARG);
  MG_ENSURE(num_signers > 0 && num_signers <= MG_NOTE_MAX_SIGS,
            MG_ERR_INVALID_ARG);
  MG_ENSURE(mg_note_text_valid(text, text_len), MG_ERR_DECODE);
  MG_GUARD(write_str(w, text, text_len));
  MG_GUARD(mg_write_u8(w, '\n'));
  for (size_t i = 0; i < num_signers; i++) {
    const mg_note_signer *s = &signers[i];
    uint8_t raw[4 + MG_NOTE_MAX_SIG_LEN];
    size_t sig_len = 0;
    MG_ENSURE(mg_note_name_valid(s->v.name, s->v.name_len), MG_ERR_INVALID_ARG);
    raw[0] = (uint8_t)(s->v.key_id >> 24);
    raw[1] = (uint8_t)(s->v.key_id >> 16);
    raw[2] = (uint8_t)(s->v.key_id >> 8);
    raw[3] = (uint8_t)s->v.key_id;
    MG_GUARD(mg_sig_sign_raw(&mg_sig_ed25519, raw + 4, &sig_len, s->seed,
                             sizeof(s->seed), (const uint8_t *)text, text_len));
    MG_ENSURE(sig_len == MG_NOTE_ED25519_SIG_LEN, MG_ERR_INTERNAL);
    MG_GUARD(write_str(w, sig_prefix, SIG_PREFIX_LEN));
    MG_GUARD(write_str(w, s->v.name, s->v.name_len));
    MG_GUARD(mg_write_u8(w, ' '));
    MG_GUARD(write_b64(w, raw, 4 + sig_len));
    MG_GUARD(mg_write_u8(w, '\n'));
  }
  return 0;
}

/* ------------------------------------------------------------ checkpoints */

/* Reads the line at |*pos| (without its '\n'; the line must end in one).
 * Errors: MG_ERR_DECODE (no newline). */
static int next_line(const char *s, size_t len, size_t *pos, const char **line,
                     size_t *line_len) {
  size_t eol;
  MG_ENSURE(*pos < len, MG_ERR_DECODE);
  eol = *pos + find_char(s + *pos, len - *pos, '\n');
  MG_ENSURE(eol < len, MG_ERR_DECODE);
  *line = s + *pos;
  *line_len = eol - *pos;
  *pos = eol + 1;
  return 0;
}

static int parse_hash_b64(uint8_t out[MG_TLOG_HASH_LEN], const char *s,
                          size_t len) {
  /* 44 characters are 31, 32 or 33 bytes depending on the padding. */
  uint8_t buf[MG_BASE64_DECODED_MAX(MG_BASE64_ENCODED_LEN(MG_TLOG_HASH_LEN))];
  size_t n = 0;
  MG_ENSURE(len == MG_BASE64_ENCODED_LEN(MG_TLOG_HASH_LEN), MG_ERR_BASE64);
  MG_GUARD(mg_base64_decode(buf, sizeof(buf), &n, s, len));
  MG_ENSURE(n == MG_TLOG_HASH_LEN, MG_ERR_BASE64);
  memcpy(out, buf, MG_TLOG_HASH_LEN);
  return 0;
}

/* Extension lines: empty, or non-empty lines each ending in '\n'. */
static int ext_valid(const char *ext, size_t len) {
  if (len == 0) {
    return 1;
  }
  if (ext == NULL || ext[0] == '\n' || ext[len - 1] != '\n' ||
      !chars_valid(ext, len, 1)) {
    return 0;
  }
  for (size_t i = 0; i + 1 < len; i++) {
    if (ext[i] == '\n' && ext[i + 1] == '\n') {
      return 0;
    }
  }
  return 1;
}

int mg_checkpoint_parse(mg_checkpoint *out, const char *text, size_t len) {
  mg_checkpoint cp;
  const char *line;
  size_t line_len;
  size_t pos = 0;

  MG_ENSURE(out != NULL && (text != NULL || len == 0), MG_ERR_INVALID_ARG);
  MG_ENSURE(mg_note_text_valid(text, len), MG_ERR_DECODE);
  memset(&cp, 0, sizeof(cp));
  MG_GUARD(next_line(text, len, &pos, &line, &line_len));
  MG_ENSURE(line_len > 0, MG_ERR_DECODE);
  cp.origin = line;
  cp.origin_len = line_len;
  MG_GUARD(next_line(text, len, &pos, &line, &line_len));
  MG_GUARD(parse_dec(&cp.size, line, line_len, MG_TLOG_MAX_SIZE));
  MG_GUARD(next_line(text, len, &pos, &line, &line_len));
  MG_GUARD(parse_hash_b64(cp.root, line, line_len));
  cp.ext = text + pos;
  cp.ext_len = len - pos;
  MG_ENSURE(ext_valid(cp.ext, cp.ext_len), MG_ERR_DECODE);
  *out = cp;
  return 0;
}

int mg_checkpoint_format(mg_writer *w, const mg_checkpoint *cp) {
  MG_ENSURE(w != NULL && cp != NULL, MG_ERR_INVALID_ARG);
  MG_ENSURE(cp->origin != NULL && cp->origin_len > 0 &&
                chars_valid(cp->origin, cp->origin_len, 0),
            MG_ERR_INVALID_ARG);
  MG_ENSURE(cp->size <= MG_TLOG_MAX_SIZE, MG_ERR_INVALID_ARG);
  MG_ENSURE(ext_valid(cp->ext, cp->ext_len), MG_ERR_INVALID_ARG);
  MG_GUARD(write_str(w, cp->origin, cp->origin_len));
  MG_GUARD(mg_write_u8(w, '\n'));
  MG_GUARD(write_dec(w, cp->size));
  MG_GUARD(mg_write_u8(w, '\n'));
  MG_GUARD(write_b64(w, cp->root, MG_TLOG_HASH_LEN));
  MG_GUARD(mg_write_u8(w, '\n'));
  if (cp->ext_len > 0) {
    MG_GUARD(write_str(w, cp->ext, cp->ext_len));
  }
  return 0;
}

int mg_checkpoint_open(mg_checkpoint *out, const char *msg, size_t len,
                       const char *origin, size_t origin_len,
                       const mg_note_verifier *verifiers,
                       size_t num_verifiers) {
  mg_note note;
  mg_checkpoint cp;
  MG_ENSURE(out != NULL, MG_ERR_INVALID_ARG);
  MG_GUARD(mg_note_open(&note, msg, len, verifiers, num_verifiers));
  MG_GUARD(mg_checkpoint_parse(&cp, note.text, note.text_len));
  if (origin != NULL) {
    MG_ENSURE(cp.origin_len == origin_len &&
                  memcmp(cp.origin, origin, origin_len) == 0,
              MG_ERR_VERIFY);
  }
  *out = cp;
  return 0;
}

/* ------------------------------------------------------------ tlog proofs */

static int starts_with(const char *s, size_t len, const char *prefix) {
  size_t n = strlen(prefix);
  return len >= n && memcmp(s, prefix, n) == 0;
}

int mg_tlog_proof_parse(mg_tlog_proof_text *out, const char *s, size_t len) {
  const char *line;
  size_t line_len;
  size_t pos = 0;
  mg_note note;
  mg_checkpoint cp;
  int rc;

  MG_ENSURE(out != NULL && (s != NULL || len == 0), MG_ERR_INVALID_ARG);
  out->has_extra = 0;
  out->extra_len = 0;
  out->index = 0;
  out->proof.num_hashes = 0;
  out->checkpoint = NULL;
  out->checkpoint_len = 0;
  MG_GUARD(next_line(s, len, &pos, &line, &line_len));
  MG_ENSURE(line_len == strlen(MG_TLOG_PROOF_HEADER) &&
                memcmp(line, MG_TLOG_PROOF_HEADER, line_len) == 0,
            MG_ERR_DECODE);
  MG_GUARD(next_line(s, len, &pos, &line, &line_len));
  if (starts_with(line, line_len, "extra ")) {
    MG_ENSURE(line_len > 6, MG_ERR_DECODE);
    MG_ENSURE(line_len - 6 <= MG_BASE64_ENCODED_LEN(MG_TLOG_PROOF_MAX_EXTRA),
              MG_ERR_LENGTH);
    rc = mg_base64_decode(out->extra, sizeof(out->extra), &out->extra_len,
                          line + 6, line_len - 6);
    MG_ENSURE(rc != MG_ERR_BUFFER_TOO_SMALL, MG_ERR_LENGTH);
    MG_GUARD(rc);
    out->has_extra = 1;
    MG_GUARD(next_line(s, len, &pos, &line, &line_len));
  }
  MG_ENSURE(starts_with(line, line_len, "index "), MG_ERR_DECODE);
  /* An index must be below the tree size, itself at most the maximum. */
  MG_GUARD(parse_dec(&out->index, line + 6, line_len - 6,
                     MG_TLOG_MAX_SIZE - 1));
  for (;;) {
    MG_GUARD(next_line(s, len, &pos, &line, &line_len));
    if (line_len == 0) {
      break;
    }
    MG_ENSURE(out->proof.num_hashes < MG_TLOG_MAX_PROOF, MG_ERR_LENGTH);
    MG_GUARD(parse_hash_b64(out->proof.hashes[out->proof.num_hashes], line,
                            line_len));
    out->proof.num_hashes++;
  }
  /* The rest is the checkpoint, verbatim. */
  MG_GUARD(mg_note_parse(&note, s + pos, len - pos));
  MG_GUARD(mg_checkpoint_parse(&cp, note.text, note.text_len));
  out->checkpoint = s + pos;
  out->checkpoint_len = len - pos;
  return 0;
}

int mg_tlog_proof_format(mg_writer *w, const mg_tlog_proof_text *p) {
  mg_note note;
  MG_ENSURE(w != NULL && p != NULL, MG_ERR_INVALID_ARG);
  MG_ENSURE(p->proof.num_hashes <= MG_TLOG_MAX_PROOF, MG_ERR_INVALID_ARG);
  MG_ENSURE(!p->has_extra ||
                (p->extra_len > 0 && p->extra_len <= MG_TLOG_PROOF_MAX_EXTRA),
            MG_ERR_INVALID_ARG);
  MG_ENSURE(p->index < MG_TLOG_MAX_SIZE, MG_ERR_INVALID_ARG);
  MG_ENSURE(mg_note_parse(&note, p->checkpoint, p->checkpoint_len) == 0,
            MG_ERR_INVALID_ARG);
  MG_GUARD(write_str(w, MG_TLOG_PROOF_HEADER "\n",
                     strlen(MG_TLOG_PROOF_HEADER) + 1));
  if (p->has_extra) {
    MG_GUARD(write_str(w, "extra ", 6));
    MG_GUARD(write_b64(w, p->extra, p->extra_len));
    MG_GUARD(mg_write_u8(w, '\n'));
  }
  MG_GUARD(write_str(w, "index ", 6));
  MG_GUARD(write_dec(w, p->index));
  MG_GUARD(mg_write_u8(w, '\n'));
  for (size_t i = 0; i < p->proof.num_hashes; i++) {
    MG_GUARD(write_b64(w, p->proof.hashes[i], MG_TLOG_HASH_LEN));
    MG_GUARD(mg_write_u8(w, '\n'));
  }
  MG_GUARD(mg_write_u8(w, '\n'));
  return write_str(w, p->checkpoint, p->checkpoint_len);
}

int mg_tlog_proof_verify(const mg_tlog_proof_text *p,
                         const uint8_t leaf_hash[MG_TLOG_HASH_LEN],
                         const char *origin, size_t origin_len,
                         const mg_note_verifier *verifiers,
                         size_t num_verifiers, mg_checkpoint *out_cp) {
  mg_checkpoint cp;
  MG_ENSURE(p != NULL && leaf_hash != NULL, MG_ERR_INVALID_ARG);
  /* c2sp-tlog-proof.md "Verifying": the checkpoint first, then inclusion. */
  MG_GUARD(mg_checkpoint_open(&cp, p->checkpoint, p->checkpoint_len, origin,
                              origin_len, verifiers, num_verifiers));
  MG_GUARD(mg_tlog_verify_inclusion(leaf_hash, p->index, cp.size, &p->proof,
                                    cp.root));
  if (out_cp != NULL) {
    *out_cp = cp;
  }
  return 0;
}
