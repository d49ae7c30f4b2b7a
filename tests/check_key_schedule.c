/*
 * Tests of the key schedule (src/mls/key_schedule.h), the secret tree
 * (secret_tree.h), the transcript hashes (transcript.h) and the GroupContext
 * and PreSharedKeyID codecs (msg_context.h).
 *
 * Vector loops (one iteration per case, 0 failed and 0 skipped required):
 * key-schedule.json, psk_secret.json, secret-tree.json.
 *
 * Negative and property tests: truncation at every byte and a trailing byte
 * for the GroupContext and PreSharedKeyID decoders on vector encodings, one
 * mutation per rule they enforce (version, PSK type, resumption usage,
 * duplicate extension); epoch transitions leave the current epoch untouched;
 * secret-length checks; confirmation tag verification; external init both
 * sides; secret-tree generation rules (consumed, too far ahead, out of order
 * within and beyond the retention window, sender sequence, leaf range,
 * padding of the leaf count); sender data sampling; transcript updates.
 */
#include "config.h"

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/hex.h"
#include "crypto/crypto.h"
#include "crypto/mls_crypto.h"
#include "crypto/suite.h"
#include "mls/bytes.h"
#include "mls/constants.h"
#include "mls/key_schedule.h"
#include "mls/msg_context.h"
#include "mls/secret_tree.h"
#include "mls/transcript.h"
#include "selftest/selftest.h"
#include "vec_loop.h"

/* ------------------------------------------------------------ helpers */

typedef struct {
  uint8_t *p;
  size_t n;
} buf;

static void buf_free(buf *b) {
  free(b->p);
  b->p = NULL;
  b->n = 0;
}

static buf json_hex(const json_t *obj, const char *key) {
  buf b = {NULL, 0};
  const json_t *v = json_object_get(obj, key);
  ck_assert_msg(json_is_string(v), "member %s missing", key);
  ck_assert_int_eq(mg_hex_decode(&b.p, &b.n, json_string_value(v),
                                 json_string_length(v)),
                   0);
  return b;
}

static json_t *load_vectors(const char *rel) {
  char path[4096];
  json_error_t jerr;
  snprintf(path, sizeof(path), "%s/%s", mg_st_default_dir(), rel);
  json_t *root = json_load_file(path, 0, &jerr);
  ck_assert_msg(root != NULL, "cannot load %s: %s", path, jerr.text);
  return root;
}

static const mls_suite *suite1(void) {
  const mls_suite *s = mls_suite_by_id(1);
  ck_assert_ptr_nonnull(s);
  return s;
}

/* ------------------------------------------------------- vector loops */

static mg_vec_file files[] = {
    {"mls/key-schedule.json", 7, NULL, NULL},
    {"mls/psk_secret.json", 77, NULL, NULL},
    {"mls/secret-tree.json", 21, NULL, NULL},
};

/* ------------------------------------------------------ GroupContext */

/* The group_context of key-schedule.json case |c|, epoch |e|. */
static buf vector_group_context(size_t c, size_t e) {
  json_t *root = load_vectors("mls/key-schedule.json");
  const json_t *ep =
      json_array_get(json_object_get(json_array_get(root, c), "epochs"), e);
  buf b = json_hex(ep, "group_context");
  json_decref(root);
  return b;
}

START_TEST(test_group_context_roundtrip) {
  for (size_t c = 0; c < 7; c++) {
    buf b = vector_group_context(c, 2);
    mg_reader r;
    mls_group_context gc;
    mg_writer w;
    mg_reader_init(&r, b.p, b.n);
    ck_assert_int_eq(mls_group_context_decode(&r, &gc), 0);
    ck_assert_int_eq(mg_reader_done(&r), 0);
    ck_assert_uint_eq(gc.version, MLS_VERSION_MLS10);
    ck_assert_uint_eq(gc.cipher_suite, c + 1);
    ck_assert_uint_eq(gc.epoch, 2);
    ck_assert_int_eq(mg_writer_init(&w, 16, 0), 0);
    ck_assert_int_eq(mls_group_context_encode(&w, &gc), 0);
    ck_assert_uint_eq(mg_writer_len(&w), b.n);
    ck_assert_mem_eq(mg_writer_data(&w), b.p, b.n);
    mg_writer_cleanup(&w);
    /* A deep copy encodes the same. */
    mls_group_context cp;
    uint8_t *enc = NULL;
    size_t enc_len = 0;
    ck_assert_int_eq(mls_group_context_copy(&cp, &gc), 0);
    ck_assert_int_eq(mls_group_context_serialize(&cp, &enc, &enc_len), 0);
    ck_assert_uint_eq(enc_len, b.n);
    ck_assert_mem_eq(enc, b.p, b.n);
    free(enc);
    mls_group_context_cleanup(&cp);
    mls_group_context_cleanup(&gc);
    buf_free(&b);
  }
}
END_TEST

START_TEST(test_group_context_truncated_trailing) {
  buf b = vector_group_context(1, 0);
  for (size_t n = 0; n < b.n; n++) {
    mg_reader r;
    mls_group_context gc;
    memset(&gc, 0xa5, sizeof(gc));
    mg_reader_init(&r, b.p, n);
    ck_assert_msg(mls_group_context_decode(&r, &gc) < 0, "prefix %zu accepted", n);
    ck_assert_ptr_eq(mg_reader_data(&r), b.p);
    ck_assert_uint_eq(mg_reader_len(&r), n);
  }
  /* A trailing byte is left in the reader; a complete decode rejects it. */
  uint8_t *longer = malloc(b.n + 1);
  ck_assert_ptr_nonnull(longer);
  memcpy(longer, b.p, b.n);
  longer[b.n] = 0;
  mg_reader r;
  mls_group_context gc;
  mg_reader_init(&r, longer, b.n + 1);
  ck_assert_int_eq(mls_group_context_decode(&r, &gc), 0);
  ck_assert_int_eq(mg_reader_done(&r), MG_ERR_TRAILING);
  mls_group_context_cleanup(&gc);
  free(longer);
  buf_free(&b);
}
END_TEST

START_TEST(test_group_context_version) {
  buf b = vector_group_context(0, 1);
  uint16_t bad[] = {0, 2, 0x0a0a, 0xffff};
  for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
    mg_reader r;
    mls_group_context gc;
    b.p[0] = (uint8_t)(bad[k] >> 8);
    b.p[1] = (uint8_t)bad[k];
    mg_reader_init(&r, b.p, b.n);
    ck_assert_int_eq(mls_group_context_decode(&r, &gc), MG_ERR_VERSION);
    ck_assert_uint_eq(mg_reader_len(&r), b.n);
  }
  buf_free(&b);
}
END_TEST

START_TEST(test_group_context_extensions) {
  mls_group_context gc, back;
  mg_writer w;
  mg_reader r;
  static const uint8_t gid[] = {1, 2, 3};
  memset(&gc, 0, sizeof(gc));
  gc.version = MLS_VERSION_MLS10;
  gc.cipher_suite = 1;
  gc.epoch = 0x0102030405060708ULL;
  ck_assert_int_eq(mls_bytes_dup(&gc.group_id, gid, sizeof(gid)), 0);
  ck_assert_int_eq(mls_extension_list_add(&gc.extensions, 0x0a0a, gid, 1), 0);
  ck_assert_int_eq(mls_extension_list_add(&gc.extensions, 0xff00, gid, 3), 0);
  ck_assert_int_eq(mg_writer_init(&w, 16, 0), 0);
  ck_assert_int_eq(mls_group_context_encode(&w, &gc), 0);
  mg_reader_init(&r, mg_writer_data(&w), mg_writer_len(&w));
  ck_assert_int_eq(mls_group_context_decode(&r, &back), 0);
  ck_assert_int_eq(mg_reader_done(&r), 0);
  ck_assert_uint_eq(back.epoch, gc.epoch);
  ck_assert_uint_eq(back.extensions.n, 2);
  ck_assert_uint_eq(back.extensions.items[1].extension_type, 0xff00);
  mls_group_context_cleanup(&back);
  /* Duplicate extension type: the encoding is patched so that the second
   * extension has the first one's type. */
  uint8_t *p = malloc(mg_writer_len(&w));
  ck_assert_ptr_nonnull(p);
  memcpy(p, mg_writer_data(&w), mg_writer_len(&w));
  size_t n = mg_writer_len(&w);
  /* Layout of the tail: ... len(ext list) | 0a0a 01 01 | ff00 03 010203 */
  ck_assert_uint_eq(p[n - 6], 0xff);
  p[n - 6] = 0x0a;
  p[n - 5] = 0x0a;
  mg_reader_init(&r, p, n);
  ck_assert_int_eq(mls_group_context_decode(&r, &back), MG_ERR_DUPLICATE_EXTENSION);
  ck_assert_uint_eq(mg_reader_len(&r), n);
  free(p);
  mg_writer_cleanup(&w);
  mls_group_context_cleanup(&gc);
}
END_TEST

/* ---------------------------------------------------- PreSharedKeyID */

static void psk_encode(const mls_psk_id *id, buf *out) {
  mg_writer w;
  ck_assert_int_eq(mg_writer_init(&w, 16, 0), 0);
  ck_assert_int_eq(mls_psk_id_encode(&w, id), 0);
  ck_assert_int_eq(mg_writer_finish(&w, &out->p, &out->n), 0);
}

static void resumption_id(mls_psk_id *id) {
  static const uint8_t gid[] = {9, 8, 7, 6};
  static const uint8_t nonce[32] = {1};
  memset(id, 0, sizeof(*id));
  id->psktype = MLS_PSK_RESUMPTION;
  id->usage = MLS_RESUMPTION_BRANCH;
  id->psk_epoch = 77;
  ck_assert_int_eq(mls_bytes_dup(&id->psk_group_id, gid, sizeof(gid)), 0);
  ck_assert_int_eq(mls_bytes_dup(&id->psk_nonce, nonce, sizeof(nonce)), 0);
}

START_TEST(test_psk_id_codec) {
  json_t *root = load_vectors("mls/psk_secret.json");
  const json_t *p0 =
      json_array_get(json_object_get(json_array_get(root, 3), "psks"), 1);
  buf pid = json_hex(p0, "psk_id");
  buf nonce = json_hex(p0, "psk_nonce");
  mls_psk_id ids[2];
  memset(ids, 0, sizeof(ids));
  ids[0].psktype = MLS_PSK_EXTERNAL;
  ck_assert_int_eq(mls_bytes_dup(&ids[0].psk_id, pid.p, pid.n), 0);
  ck_assert_int_eq(mls_bytes_dup(&ids[0].psk_nonce, nonce.p, nonce.n), 0);
  resumption_id(&ids[1]);
  for (size_t k = 0; k < 2; k++) {
    buf enc;
    psk_encode(&ids[k], &enc);
    for (size_t n = 0; n < enc.n; n++) {
      mg_reader r;
      mls_psk_id back;
      mg_reader_init(&r, enc.p, n);
      ck_assert_msg(mls_psk_id_decode(&r, &back) < 0, "prefix %zu accepted", n);
      ck_assert_uint_eq(mg_reader_len(&r), n);
    }
    mg_reader r;
    mls_psk_id back, cp;
    mg_reader_init(&r, enc.p, enc.n);
    ck_assert_int_eq(mls_psk_id_decode(&r, &back), 0);
    ck_assert_int_eq(mg_reader_done(&r), 0);
    ck_assert(mls_psk_id_eq(&back, &ids[k]));
    ck_assert_int_eq(mls_psk_id_copy(&cp, &back), 0);
    ck_assert(mls_psk_id_eq(&cp, &ids[k]));
    back.psk_nonce.data[0] ^= 1;
    ck_assert(!mls_psk_id_eq(&back, &ids[k]));
    mls_psk_id_cleanup(&back);
    mls_psk_id_cleanup(&cp);
    /* Trailing byte */
    uint8_t *longer = malloc(enc.n + 1);
    ck_assert_ptr_nonnull(longer);
    memcpy(longer, enc.p, enc.n);
    longer[enc.n] = 0x42;
    mg_reader_init(&r, longer, enc.n + 1);
    ck_assert_int_eq(mls_psk_id_decode(&r, &back), 0);
    ck_assert_int_eq(mg_reader_done(&r), MG_ERR_TRAILING);
    mls_psk_id_cleanup(&back);
    free(longer);
    /* Unknown / reserved PSK types are refused. */
    uint8_t bad_types[] = {0, 3, 0xff};
    for (size_t t = 0; t < sizeof(bad_types); t++) {
      uint8_t saved = enc.p[0];
      enc.p[0] = bad_types[t];
      mg_reader_init(&r, enc.p, enc.n);
      ck_assert_int_eq(mls_psk_id_decode(&r, &back), MG_ERR_PSK);
      ck_assert_uint_eq(mg_reader_len(&r), enc.n);
      enc.p[0] = saved;
    }
    if (ids[k].psktype == MLS_PSK_RESUMPTION) {
      uint8_t bad_usage[] = {0, 4, 0xff};
      for (size_t u = 0; u < sizeof(bad_usage); u++) {
        enc.p[1] = bad_usage[u];
        mg_reader_init(&r, enc.p, enc.n);
        ck_assert_int_eq(mls_psk_id_decode(&r, &back), MG_ERR_PSK);
      }
    }
    buf_free(&enc);
  }
  /* The encoder refuses what the decoder refuses. */
  mg_writer w;
  ck_assert_int_eq(mg_writer_init(&w, 16, 0), 0);
  ids[1].usage = 0;
  ck_assert_int_eq(mls_psk_id_encode(&w, &ids[1]), MG_ERR_PSK);
  ids[1].psktype = 0;
  ck_assert_int_eq(mls_psk_id_encode(&w, &ids[1]), MG_ERR_PSK);
  mg_writer_cleanup(&w);
  /* PSKLabel = id || uint16 index || uint16 count */
  buf idenc;
  psk_encode(&ids[0], &idenc);
  ck_assert_int_eq(mg_writer_init(&w, 16, 0), 0);
  ck_assert_int_eq(mls_psk_label_encode(&w, &ids[0], 0x0102, 0x0304), 0);
  ck_assert_uint_eq(mg_writer_len(&w), idenc.n + 4);
  ck_assert_mem_eq(mg_writer_data(&w), idenc.p, idenc.n);
  const uint8_t tail[] = {1, 2, 3, 4};
  ck_assert_mem_eq(mg_writer_data(&w) + idenc.n, tail, 4);
  mg_writer_cleanup(&w);
  buf_free(&idenc);
  mls_psk_id_cleanup(&ids[0]);
  mls_psk_id_cleanup(&ids[1]);
  buf_free(&pid);
  buf_free(&nonce);
  json_decref(root);
}
END_TEST

START_TEST(test_psk_secret_rules) {
  const mls_suite *s = suite1();
  uint8_t out[MG_MAX_HASH_LEN];
  uint8_t zero[MG_MAX_HASH_LEN] = {0};
  mls_psk_id id;
  uint8_t psk_bytes[6] = {1, 2, 3, 4, 5, 6};
  mls_bytes psk = {psk_bytes, sizeof(psk_bytes)};
  memset(out, 0xee, sizeof(out));
  /* No PSKs: the all-zero vector. */
  ck_assert_int_eq(mls_psk_secret(s, out, NULL, NULL, 0), 0);
  ck_assert_mem_eq(out, zero, s->kdf->nh);
  /* psk_nonce must be KDF.Nh bytes. */
  resumption_id(&id);
  ck_assert_uint_eq(id.psk_nonce.len, s->kdf->nh);
  ck_assert_int_eq(mls_psk_secret(s, out, &id, &psk, 1), 0);
  ck_assert(memcmp(out, zero, s->kdf->nh) != 0);
  id.psk_nonce.len--;
  ck_assert_int_eq(mls_psk_secret(s, out, &id, &psk, 1), MG_ERR_PSK);
  id.psk_nonce.len++;
  /* A 32-byte nonce is wrong for a SHA-384 suite. */
  const mls_suite *s7 = mls_suite_by_id(7);
  ck_assert_int_eq(mls_psk_secret(s7, out, &id, &psk, 1), MG_ERR_PSK);
  mls_psk_id_cleanup(&id);
}
END_TEST

/* ------------------------------------------------------- key schedule */

static void gc_bytes(uint8_t *gc, size_t n, uint8_t seed) {
  for (size_t k = 0; k < n; k++) {
    gc[k] = (uint8_t)(seed + k);
  }
}

START_TEST(test_epoch_next_is_pure) {
  for (uint16_t id = MLS_SUITE_MIN; id <= MLS_SUITE_MAX; id++) {
    const mls_suite *s = mls_suite_by_id(id);
    size_t nh = s->kdf->nh;
    uint8_t init[MG_MAX_HASH_LEN], commit[MG_MAX_HASH_LEN];
    uint8_t zero[MG_MAX_HASH_LEN] = {0};
    uint8_t gc[40];
    mls_epoch_secrets *e0 = NULL, *e1 = NULL, *e1z = NULL, *e1b = NULL;
    gc_bytes(init, sizeof(init), 1);
    gc_bytes(commit, sizeof(commit), 2);
    gc_bytes(gc, sizeof(gc), 3);
    ck_assert_int_eq(mls_epoch_secrets_from_init(s, &e0, init, nh, commit, nh,
                                                 NULL, 0, gc, sizeof(gc)),
                     0);
    mls_epoch_secrets snapshot = *e0;
    ck_assert_int_eq(mls_epoch_secrets_next(e0, &e1, NULL, 0, NULL, 0, gc,
                                            sizeof(gc)),
                     0);
    ck_assert_mem_eq(&snapshot, e0, sizeof(snapshot));
    ck_assert_ptr_ne(e0, e1);
    ck_assert(memcmp(e0->init_secret, e1->init_secret, nh) != 0);
    /* NULL commit/psk secrets are the zero vector. */
    ck_assert_int_eq(mls_epoch_secrets_next(e0, &e1z, zero, nh, zero, nh, gc,
                                            sizeof(gc)),
                     0);
    ck_assert_mem_eq(e1, e1z, sizeof(*e1));
    /* Another GroupContext gives other secrets. */
    gc[5] ^= 1;
    ck_assert_int_eq(mls_epoch_secrets_next(e0, &e1b, NULL, 0, NULL, 0, gc,
                                            sizeof(gc)),
                     0);
    ck_assert(memcmp(e1->joiner_secret, e1b->joiner_secret, nh) != 0);
    ck_assert(memcmp(e1->epoch_authenticator, e1b->epoch_authenticator, nh) != 0);
    mls_epoch_secrets_free(e0);
    mls_epoch_secrets_free(e1);
    mls_epoch_secrets_free(e1z);
    mls_epoch_secrets_free(e1b);
  }
}
END_TEST

START_TEST(test_epoch_lengths) {
  const mls_suite *s = suite1();
  uint8_t sec[64] = {0};
  uint8_t gc[8] = {0};
  mls_epoch_secrets *e = NULL;
  ck_assert_int_eq(mls_epoch_secrets_from_init(s, &e, sec, 31, NULL, 0, NULL, 0,
                                               gc, sizeof(gc)),
                   MG_ERR_PARAM);
  ck_assert_int_eq(mls_epoch_secrets_from_init(s, &e, sec, 32, sec, 33, NULL, 0,
                                               gc, sizeof(gc)),
                   MG_ERR_PARAM);
  ck_assert_int_eq(mls_epoch_secrets_from_init(s, &e, sec, 32, NULL, 0, sec, 64,
                                               gc, sizeof(gc)),
                   MG_ERR_PARAM);
  ck_assert_int_eq(mls_epoch_secrets_from_joiner(s, &e, sec, 48, NULL, 0, gc,
                                                 sizeof(gc)),
                   MG_ERR_PARAM);
  ck_assert_int_eq(mls_epoch_secrets_from_init(NULL, &e, sec, 32, NULL, 0, NULL,
                                               0, gc, sizeof(gc)),
                   MG_ERR_INVALID_ARG);
  ck_assert_ptr_null(e);
  mls_epoch_secrets_free(NULL);
}
END_TEST

START_TEST(test_confirmation_tag) {
  for (uint16_t id = MLS_SUITE_MIN; id <= MLS_SUITE_MAX; id++) {
    const mls_suite *s = mls_suite_by_id(id);
    uint8_t key[MG_MAX_HASH_LEN], cth[MG_MAX_HASH_LEN], tag[MG_MAX_HASH_LEN];
    size_t tag_len = 0, nh = s->kdf->nh;
    gc_bytes(key, sizeof(key), 7);
    gc_bytes(cth, sizeof(cth), 9);
    ck_assert_int_eq(mls_confirmation_tag_compute(s, tag, sizeof(tag), &tag_len,
                                                  key, nh, cth, nh),
                     0);
    ck_assert_uint_eq(tag_len, s->hash->digest_len);
    ck_assert_int_eq(mls_confirmation_tag_verify(s, key, nh, cth, nh, tag,
                                                 tag_len),
                     0);
    tag[tag_len - 1] ^= 0x80;
    ck_assert_int_eq(mls_confirmation_tag_verify(s, key, nh, cth, nh, tag,
                                                 tag_len),
                     MG_ERR_CONFIRMATION_TAG);
    tag[tag_len - 1] ^= 0x80;
    ck_assert_int_eq(mls_confirmation_tag_verify(s, key, nh, cth, nh, tag,
                                                 tag_len - 1),
                     MG_ERR_CONFIRMATION_TAG);
    cth[0] ^= 1;
    ck_assert_int_eq(mls_confirmation_tag_verify(s, key, nh, cth, nh, tag,
                                                 tag_len),
                     MG_ERR_CONFIRMATION_TAG);
    ck_assert_int_eq(mls_confirmation_tag_compute(s, tag, tag_len - 1, &tag_len,
                                                  key, nh, cth, nh),
                     MG_ERR_BUFFER_TOO_SMALL);
  }
}
END_TEST

START_TEST(test_external_init) {
  for (uint16_t id = MLS_SUITE_MIN; id <= MLS_SUITE_MAX; id++) {
    const mls_suite *s = mls_suite_by_id(id);
    size_t nh = s->kdf->nh;
    uint8_t init[MG_MAX_HASH_LEN], gc[16];
    uint8_t kem[MG_HPKE_MAX_ENC_LEN];
    uint8_t sent[MG_MAX_HASH_LEN], got[MG_MAX_HASH_LEN];
    size_t kem_len = 0, pub_len = 0;
    mls_epoch_secrets *ep = NULL;
    mg_hpke_key key;
    mg_hpke_key_zero(&key);
    gc_bytes(init, sizeof(init), 11);
    gc_bytes(gc, sizeof(gc), 12);
    ck_assert_int_eq(mls_epoch_secrets_from_init(s, &ep, init, nh, NULL, 0,
                                                 NULL, 0, gc, sizeof(gc)),
                     0);
    ck_assert_int_eq(mls_epoch_external_key(ep, &key), 0);
    const uint8_t *pub = mg_hpke_key_pub(&key, &pub_len);
    ck_assert_int_eq(mls_external_init_send(s, kem, sizeof(kem), &kem_len, sent,
                                            pub, pub_len),
                     0);
    ck_assert_uint_eq(kem_len, s->kem->enc_len);
    ck_assert_int_eq(mls_external_init_receive(ep, got, kem, kem_len), 0);
    ck_assert_mem_eq(sent, got, nh);
    /* A different kem_output gives a different secret (or is refused). */
    kem[kem_len - 1] ^= 1;
    int rc = mls_external_init_receive(ep, got, kem, kem_len);
    ck_assert(rc < 0 || memcmp(sent, got, nh) != 0);
    mg_hpke_key_cleanup(&key);
    mls_epoch_secrets_free(ep);
  }
}
END_TEST

START_TEST(test_exporter_and_welcome) {
  const mls_suite *s = mls_suite_by_id(3);
  size_t nh = s->kdf->nh;
  uint8_t init[MG_MAX_HASH_LEN], gc[16];
  uint8_t a[40], b[40], c[40];
  mls_epoch_secrets *ep = NULL;
  gc_bytes(init, sizeof(init), 21);
  gc_bytes(gc, sizeof(gc), 22);
  ck_assert_int_eq(mls_epoch_secrets_from_init(s, &ep, init, nh, NULL, 0, NULL,
                                               0, gc, sizeof(gc)),
                   0);
  ck_assert_int_eq(mls_epoch_exporter(ep, a, sizeof(a), "label", gc, 3), 0);
  ck_assert_int_eq(mls_epoch_exporter(ep, b, sizeof(b), "label", gc, 4), 0);
  ck_assert_int_eq(mls_epoch_exporter(ep, c, sizeof(c), "label2", gc, 3), 0);
  ck_assert(memcmp(a, b, sizeof(a)) != 0);
  ck_assert(memcmp(a, c, sizeof(a)) != 0);
  /* A shorter export is not a prefix (the length is in the KDFLabel). */
  ck_assert_int_eq(mls_epoch_exporter(ep, b, 16, "label", gc, 3), 0);
  ck_assert(memcmp(a, b, 16) != 0);
  ck_assert_int_eq(mls_epoch_exporter(ep, a, 0x10000, "label", gc, 3),
                   MG_ERR_PARAM);
  /* Welcome key and nonce have the AEAD's sizes and differ. */
  uint8_t key[MG_MAX_AEAD_KEY_LEN], nonce[MG_MAX_AEAD_NONCE_LEN];
  ck_assert_int_eq(mls_welcome_key_nonce(s, key, nonce, ep->welcome_secret, nh),
                   0);
  ck_assert(memcmp(key, nonce, s->aead->nonce_len) != 0);
  ck_assert_int_eq(mls_welcome_key_nonce(s, key, nonce, ep->welcome_secret,
                                         nh - 1),
                   MG_ERR_PARAM);
  mls_epoch_secrets_free(ep);
}
END_TEST

/* -------------------------------------------------------- secret tree */

static mls_secret_tree *new_tree(const mls_suite *s, uint32_t n,
                                 const mls_secret_tree_config *cfg) {
  uint8_t enc[MG_MAX_HASH_LEN];
  mls_secret_tree *st = NULL;
  gc_bytes(enc, sizeof(enc), 0x30);
  ck_assert_int_eq(mls_secret_tree_new(&st, s, enc, s->kdf->nh, n, cfg), 0);
  return st;
}

START_TEST(test_secret_tree_generations) {
  const mls_suite *s = suite1();
  mls_secret_tree_config cfg = {10, 3};
  mls_secret_tree *st = new_tree(s, 4, &cfg);
  mls_secret_tree *ref = new_tree(s, 4, NULL);
  mls_leaf_idx l2 = {2};
  mls_key_nonce kn, want;

  /* Too far ahead: 11 > max_forward 10, and nothing changes. */
  ck_assert_int_eq(mls_secret_tree_get(st, &kn, l2, MLS_RATCHET_APPLICATION, 11),
                   MG_ERR_GENERATION);
  ck_assert_int_eq(mls_secret_tree_consume(st, l2, MLS_RATCHET_APPLICATION, 11),
                   MG_ERR_GENERATION);
  /* Get does not consume: the same generation can be fetched twice. */
  ck_assert_int_eq(mls_secret_tree_get(st, &kn, l2, MLS_RATCHET_APPLICATION, 10),
                   0);
  ck_assert_int_eq(mls_secret_tree_get(ref, &want, l2, MLS_RATCHET_APPLICATION,
                                       10),
                   0);
  ck_assert_mem_eq(kn.key, want.key, want.key_len);
  ck_assert_mem_eq(kn.nonce, want.nonce, want.nonce_len);
  ck_assert_uint_eq(kn.generation, 10);
  /* Consume 10: 7, 8, 9 are retained (max_retained 3), 0..6 are dropped. */
  ck_assert_int_eq(mls_secret_tree_consume(st, l2, MLS_RATCHET_APPLICATION, 10),
                   0);
  ck_assert_int_eq(mls_secret_tree_get(st, &kn, l2, MLS_RATCHET_APPLICATION, 10),
                   MG_ERR_GENERATION);
  ck_assert_int_eq(mls_secret_tree_get(st, &kn, l2, MLS_RATCHET_APPLICATION, 6),
                   MG_ERR_GENERATION);
  for (uint32_t g = 7; g <= 9; g++) {
    ck_assert_int_eq(mls_secret_tree_get(st, &kn, l2, MLS_RATCHET_APPLICATION, g),
                     0);
    ck_assert_int_eq(mls_secret_tree_get(ref, &want, l2,
                                         MLS_RATCHET_APPLICATION, g),
                     0);
    ck_assert_mem_eq(kn.key, want.key, want.key_len);
    ck_assert_mem_eq(kn.nonce, want.nonce, want.nonce_len);
  }
  ck_assert_int_eq(mls_secret_tree_consume(st, l2, MLS_RATCHET_APPLICATION, 8),
                   0);
  ck_assert_int_eq(mls_secret_tree_get(st, &kn, l2, MLS_RATCHET_APPLICATION, 8),
                   MG_ERR_GENERATION);
  ck_assert_int_eq(mls_secret_tree_consume(st, l2, MLS_RATCHET_APPLICATION, 8),
                   MG_ERR_GENERATION);
  ck_assert_int_eq(mls_secret_tree_get(st, &kn, l2, MLS_RATCHET_APPLICATION, 9),
                   0);
  /* Moving on keeps the newest retained keys: 7 and 9 were kept, now 13
   * adds 11 and 12 and drops 7, the oldest. */
  ck_assert_int_eq(mls_secret_tree_consume(st, l2, MLS_RATCHET_APPLICATION, 13),
                   0);
  ck_assert_int_eq(mls_secret_tree_get(st, &kn, l2, MLS_RATCHET_APPLICATION, 7),
                   MG_ERR_GENERATION);
  for (uint32_t g = 9; g <= 12; g++) {
    int want_rc = g == 10 ? MG_ERR_GENERATION : 0;
    ck_assert_int_eq(mls_secret_tree_get(st, &kn, l2, MLS_RATCHET_APPLICATION, g),
                     want_rc);
  }
  ck_assert_int_eq(mls_secret_tree_get(ref, &want, l2, MLS_RATCHET_APPLICATION,
                                       14),
                   0);
  ck_assert_int_eq(mls_secret_tree_get(st, &kn, l2, MLS_RATCHET_APPLICATION, 14),
                   0);
  ck_assert_mem_eq(kn.key, want.key, want.key_len);
  /* The handshake ratchet of the same leaf is independent. */
  ck_assert_int_eq(mls_secret_tree_get(st, &kn, l2, MLS_RATCHET_HANDSHAKE, 0), 0);
  ck_assert_int_eq(mls_secret_tree_get(ref, &want, l2, MLS_RATCHET_HANDSHAKE, 0),
                   0);
  ck_assert_mem_eq(kn.key, want.key, want.key_len);
  /* Leaf out of range, bad ratchet type. */
  mls_leaf_idx l4 = {4};
  ck_assert_int_eq(mls_secret_tree_get(st, &kn, l4, MLS_RATCHET_HANDSHAKE, 0),
                   MG_ERR_SENDER);
  ck_assert_int_eq(mls_secret_tree_get(st, &kn, l2, (mls_ratchet_type)2, 0),
                   MG_ERR_INVALID_ARG);
  mls_key_nonce_cleanup(&kn);
  mls_key_nonce_cleanup(&want);
  mls_secret_tree_free(st);
  mls_secret_tree_free(ref);
}
END_TEST

START_TEST(test_secret_tree_sender) {
  const mls_suite *s = mls_suite_by_id(2);
  mls_secret_tree *snd = new_tree(s, 3, NULL);
  mls_secret_tree *rcv = new_tree(s, 3, NULL);
  mls_leaf_idx l1 = {1};
  mls_key_nonce kn, want;
  for (uint32_t g = 0; g < 5; g++) {
    ck_assert_int_eq(mls_secret_tree_next(snd, &kn, l1, MLS_RATCHET_HANDSHAKE),
                     0);
    ck_assert_uint_eq(kn.generation, g);
    ck_assert_int_eq(mls_secret_tree_get(rcv, &want, l1, MLS_RATCHET_HANDSHAKE,
                                         g),
                     0);
    ck_assert_mem_eq(kn.key, want.key, want.key_len);
    ck_assert_mem_eq(kn.nonce, want.nonce, want.nonce_len);
  }
  /* Sender's used generations are gone. */
  ck_assert_int_eq(mls_secret_tree_get(snd, &kn, l1, MLS_RATCHET_HANDSHAKE, 4),
                   MG_ERR_GENERATION);
  mls_key_nonce_cleanup(&kn);
  mls_key_nonce_cleanup(&want);
  mls_secret_tree_free(snd);
  mls_secret_tree_free(rcv);
}
END_TEST

START_TEST(test_secret_tree_generation_end) {
  const mls_suite *s = suite1();
  mls_secret_tree *st = new_tree(s, 2, NULL);
  mls_leaf_idx l0 = {0};
  mls_key_nonce kn;
  ck_assert_int_eq(mls_secret_tree_seek_for_testing(st, l0,
                                                    MLS_RATCHET_HANDSHAKE,
                                                    0xfffffffeu),
                   0);
  ck_assert_int_eq(mls_secret_tree_next(st, &kn, l0, MLS_RATCHET_HANDSHAKE), 0);
  ck_assert_uint_eq(kn.generation, 0xfffffffeu);
  ck_assert_int_eq(mls_secret_tree_next(st, &kn, l0, MLS_RATCHET_HANDSHAKE), 0);
  ck_assert_uint_eq(kn.generation, 0xffffffffu);
  /* Every generation is used: the ratchet refuses to wrap around. */
  ck_assert_int_eq(mls_secret_tree_next(st, &kn, l0, MLS_RATCHET_HANDSHAKE),
                   MG_ERR_GENERATION);
  ck_assert_int_eq(mls_secret_tree_get(st, &kn, l0, MLS_RATCHET_HANDSHAKE,
                                       0xffffffffu),
                   MG_ERR_GENERATION);
  ck_assert_int_eq(mls_secret_tree_get(st, &kn, l0, MLS_RATCHET_HANDSHAKE, 0),
                   MG_ERR_GENERATION);
  /* A receiver may skip to the last generation and keep the one before. */
  ck_assert_int_eq(mls_secret_tree_seek_for_testing(st, l0,
                                                    MLS_RATCHET_APPLICATION,
                                                    0xfffffffdu),
                   0);
  ck_assert_int_eq(mls_secret_tree_consume(st, l0, MLS_RATCHET_APPLICATION,
                                           0xffffffffu),
                   0);
  ck_assert_int_eq(mls_secret_tree_get(st, &kn, l0, MLS_RATCHET_APPLICATION,
                                       0xfffffffeu),
                   0);
  ck_assert_int_eq(mls_secret_tree_get(st, &kn, l0, MLS_RATCHET_APPLICATION,
                                       0xffffffffu),
                   MG_ERR_GENERATION);
  mls_key_nonce_cleanup(&kn);
  mls_secret_tree_free(st);
}
END_TEST

START_TEST(test_secret_tree_padding_and_args) {
  const mls_suite *s = suite1();
  /* The leaf count is padded to a power of two like the ratchet tree, so
   * leaves of a 5-leaf tree match those of an 8-leaf tree. */
  mls_secret_tree *t5 = new_tree(s, 5, NULL);
  mls_secret_tree *t8 = new_tree(s, 8, NULL);
  for (uint32_t l = 0; l < 5; l++) {
    mls_key_nonce a, b;
    mls_leaf_idx li = {l};
    ck_assert_int_eq(mls_secret_tree_get(t5, &a, li, MLS_RATCHET_APPLICATION, 1),
                     0);
    ck_assert_int_eq(mls_secret_tree_get(t8, &b, li, MLS_RATCHET_APPLICATION, 1),
                     0);
    ck_assert_mem_eq(a.key, b.key, a.key_len);
  }
  mls_leaf_idx l5 = {5};
  mls_key_nonce kn;
  ck_assert_int_eq(mls_secret_tree_get(t5, &kn, l5, MLS_RATCHET_APPLICATION, 0),
                   MG_ERR_SENDER);
  mls_secret_tree_free(t5);
  mls_secret_tree_free(t8);
  uint8_t enc[64] = {0};
  mls_secret_tree *st = NULL;
  ck_assert_int_eq(mls_secret_tree_new(&st, s, enc, 32, 0, NULL), MG_ERR_PARAM);
  ck_assert_int_eq(mls_secret_tree_new(&st, s, enc, 32,
                                       MLS_SECRET_TREE_MAX_LEAVES + 1, NULL),
                   MG_ERR_PARAM);
  ck_assert_int_eq(mls_secret_tree_new(&st, s, enc, 48, 2, NULL), MG_ERR_PARAM);
  ck_assert_ptr_null(st);
  mls_secret_tree_free(NULL);
}
END_TEST

START_TEST(test_sender_data_sample) {
  const mls_suite *s = mls_suite_by_id(5); /* Nh = 64 */
  uint8_t sds[64], ct[100];
  mls_key_nonce a, b;
  gc_bytes(sds, sizeof(sds), 0x50);
  gc_bytes(ct, sizeof(ct), 0x60);
  /* Only the first Nh bytes of the ciphertext are sampled. */
  ck_assert_int_eq(mls_sender_data_key_nonce(s, &a, sds, 64, ct, 64), 0);
  ck_assert_int_eq(mls_sender_data_key_nonce(s, &b, sds, 64, ct, 100), 0);
  ck_assert_uint_eq(a.key_len, s->aead->key_len);
  ck_assert_uint_eq(a.nonce_len, s->aead->nonce_len);
  ck_assert_mem_eq(a.key, b.key, a.key_len);
  ck_assert_mem_eq(a.nonce, b.nonce, a.nonce_len);
  /* ...and all of them count; a shorter ciphertext is used whole. */
  ck_assert_int_eq(mls_sender_data_key_nonce(s, &b, sds, 64, ct, 63), 0);
  ck_assert(memcmp(a.key, b.key, a.key_len) != 0);
  ct[63] ^= 1;
  ck_assert_int_eq(mls_sender_data_key_nonce(s, &b, sds, 64, ct, 64), 0);
  ck_assert(memcmp(a.key, b.key, a.key_len) != 0);
  ck_assert(memcmp(a.nonce, b.nonce, a.nonce_len) != 0);
  ck_assert_int_eq(mls_sender_data_key_nonce(s, &b, sds, 32, ct, 64),
                   MG_ERR_PARAM);
  mls_key_nonce_cleanup(&a);
  mls_key_nonce_cleanup(&b);
}
END_TEST

/* --------------------------------------------------------- transcript */

START_TEST(test_transcript_update) {
  const mls_suite *s = mls_suite_by_id(5);
  mls_transcript t0, t1, t2, j;
  uint8_t input[50], tag[64];
  gc_bytes(input, sizeof(input), 0x70);
  gc_bytes(tag, sizeof(tag), 0x71);
  mls_transcript_init(&t0);
  ck_assert_uint_eq(t0.confirmed_len, 0);
  ck_assert_uint_eq(t0.interim_len, 0);
  mls_transcript snapshot = t0;
  ck_assert_int_eq(mls_transcript_next(s, &t1, &t0, input, sizeof(input), tag,
                                       sizeof(tag)),
                   0);
  ck_assert_mem_eq(&snapshot, &t0, sizeof(t0));
  ck_assert_uint_eq(t1.confirmed_len, s->hash->digest_len);
  /* Epoch 1 from the empty interim hash: confirmed = Hash(input). */
  uint8_t h[MG_MAX_HASH_LEN];
  ck_assert_int_eq(s->hash->digest(s->hash, h, input, sizeof(input)), 0);
  ck_assert_mem_eq(t1.confirmed, h, t1.confirmed_len);
  /* A joiner given confirmed hash and tag gets the same interim hash. */
  ck_assert_int_eq(mls_transcript_from_confirmed(s, &j, t1.confirmed,
                                                 t1.confirmed_len, tag,
                                                 sizeof(tag)),
                   0);
  ck_assert_mem_eq(&j, &t1, sizeof(j));
  /* InterimTranscriptHashInput carries the tag as opaque<V>: 64 bytes take
   * the two-byte varint 0x4040. */
  uint8_t cat[MG_MAX_HASH_LEN + 2 + sizeof(tag)];
  memcpy(cat, t1.confirmed, t1.confirmed_len);
  cat[t1.confirmed_len] = 0x40;
  cat[t1.confirmed_len + 1] = 0x40;
  memcpy(cat + t1.confirmed_len + 2, tag, sizeof(tag));
  ck_assert_int_eq(s->hash->digest(s->hash, h, cat,
                                   t1.confirmed_len + 2 + sizeof(tag)),
                   0);
  ck_assert_mem_eq(t1.interim, h, t1.interim_len);
  /* The next epoch chains from the interim hash. */
  ck_assert_int_eq(mls_transcript_next(s, &t2, &t1, input, sizeof(input), tag,
                                       sizeof(tag)),
                   0);
  ck_assert(memcmp(t2.confirmed, t1.confirmed, t1.confirmed_len) != 0);
  ck_assert_int_eq(mls_transcript_next(s, &t1, &t1, input, 1, tag, 1),
                   MG_ERR_INVALID_ARG);
}
END_TEST

/* --------------------------------------------------------------- main */

int main(void) {
  if (mg_crypto_init() < 0) {
    fprintf(stderr, "crypto init failed\n");
    return 1;
  }
  Suite *s = suite_create("key_schedule");
  TCase *tc = tcase_create("units");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_group_context_roundtrip);
  tcase_add_test(tc, test_group_context_truncated_trailing);
  tcase_add_test(tc, test_group_context_version);
  tcase_add_test(tc, test_group_context_extensions);
  tcase_add_test(tc, test_psk_id_codec);
  tcase_add_test(tc, test_psk_secret_rules);
  tcase_add_test(tc, test_epoch_next_is_pure);
  tcase_add_test(tc, test_epoch_lengths);
  tcase_add_test(tc, test_confirmation_tag);
  tcase_add_test(tc, test_external_init);
  tcase_add_test(tc, test_exporter_and_welcome);
  tcase_add_test(tc, test_secret_tree_generations);
  tcase_add_test(tc, test_secret_tree_sender);
  tcase_add_test(tc, test_secret_tree_padding_and_args);
  tcase_add_test(tc, test_secret_tree_generation_end);
  tcase_add_test(tc, test_sender_data_sample);
  tcase_add_test(tc, test_transcript_update);
  suite_add_tcase(s, tc);
  mg_vec_add(s, "key_schedule vectors", files, sizeof(files) / sizeof(files[0]));
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  mg_vec_release();
  return failed == 0 ? 0 : 1;
}
