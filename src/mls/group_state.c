/*
 * The persistent encoding of a group state (docs/group-state.md):
 * mls_group_encode and its exact inverse mls_group_decode.
 *
 * Version 1, in the TLS presentation language (RFC 9420 §2.1; <V> is a
 * varint-length vector; Nh = KDF.Nh of the suite):
 *
 *   struct {
 *     opaque magic[4] = "MGGS";
 *     uint16 version = 1;
 *     uint16 cipher_suite;
 *     uint32 max_forward, max_retained, max_past_epochs,
 *            max_resumption_psks;                     // mls_group_config
 *     GroupContext context;                           // RFC 9420 §8.1
 *     opaque ratchet_tree<V>;                         // optional<Node> <V>
 *     uint32 self;                                    // our leaf index
 *     opaque leaf_priv<V>;                            // HPKE private key
 *     PathKey path_keys<V>;   struct { uint32 node; opaque priv<V>; }
 *     opaque signature_priv<V>;
 *     opaque epoch_secrets[11 * Nh];                  // key_schedule.h order
 *     opaque confirmed_transcript_hash<V>;
 *     opaque interim_transcript_hash<V>;
 *     opaque secret_tree<V>;                          // SecretTreeState
 *     PastEpoch past<V>;
 *     Resumption resumption<V>;  struct { uint64 epoch; opaque psk[Nh]; }
 *     Pending pending<V>;
 *     optional<ReInit> reinit;
 *   } GroupState;
 *
 *   struct {
 *     GroupContext context;
 *     opaque sender_data_secret[Nh];
 *     opaque secret_tree<V>;
 *     opaque signature_keys<V><V>;     // per leaf; empty for a blank leaf
 *   } PastEpoch;
 *
 *   struct {
 *     opaque ref<V>; Sender sender; Proposal proposal;
 *     opaque update_priv<V>;           // our own Update's key, else empty
 *   } Pending;
 *
 * The decoder rebuilds and re-checks what it can: the tree hash against the
 * GroupContext, our private keys against the tree, our signature key
 * against our leaf.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/guard.h"
#include "common/secmem.h"
#include "mls/constants.h"
#include "mls/group.h"
#include "mls/group_int.h"

#define GS_MAGIC "MGGS"
#define GS_VERSION 1

/* The epoch secrets in their encoded order. */
static uint8_t *ep_field(mls_epoch_secrets *ep, int i) {
  uint8_t *f[] = {ep->joiner_secret,     ep->welcome_secret,
                  ep->sender_data_secret, ep->encryption_secret,
                  ep->exporter_secret,   ep->external_secret,
                  ep->confirmation_key,  ep->membership_key,
                  ep->resumption_psk,    ep->epoch_authenticator,
                  ep->init_secret};
  return f[i];
}
#define EP_FIELDS 11

static int write_tree(mg_writer *w, const mls_tree *t) {
  size_t mark;
  MG_GUARD(mg_write_vec_begin(w, &mark));
  MG_GUARD(mls_tree_encode(w, t));
  return mg_write_vec_end(w, mark);
}

static int write_st(mg_writer *w, const mls_secret_tree *st) {
  size_t mark;
  MG_GUARD(mg_write_vec_begin(w, &mark));
  MG_GUARD(mls_secret_tree_encode(w, st));
  return mg_write_vec_end(w, mark);
}

int mls_group_encode(mg_writer *w, const mls_group *g) {
  const mls_suite *s;
  size_t nh, mark, mark2;
  MG_ENSURE(w != NULL && g != NULL && g->ep != NULL, MG_ERR_INVALID_ARG);
  s = g->suite;
  nh = s->kdf->nh;
  MG_GUARD(mg_write_bytes(w, (const uint8_t *)GS_MAGIC, 4));
  MG_GUARD(mg_write_u16(w, GS_VERSION));
  MG_GUARD(mg_write_u16(w, s->id));
  MG_GUARD(mg_write_u32(w, g->cfg.st.max_forward));
  MG_GUARD(mg_write_u32(w, g->cfg.st.max_retained));
  MG_GUARD(mg_write_u32(w, g->cfg.max_past_epochs));
  MG_GUARD(mg_write_u32(w, g->cfg.max_resumption_psks));
  MG_GUARD(mls_group_context_encode(w, &g->ctx));
  MG_GUARD(write_tree(w, &g->tree));
  MG_GUARD(mg_write_u32(w, g->self.v));
  MG_GUARD(mg_write_opaque(w, mg_hpke_key_priv(&g->priv.leaf_key),
                           g->priv.leaf_key.kem != NULL ? s->kem->priv_len
                                                        : 0));
  MG_GUARD(mg_write_vec_begin(w, &mark));
  for (uint32_t i = 0; i < g->priv.num_path; i++) {
    MG_GUARD(mg_write_u32(w, g->priv.path_nodes[i].v));
    MG_GUARD(mg_write_opaque(w, mg_hpke_key_priv(&g->priv.path_keys[i]),
                             s->kem->priv_len));
  }
  MG_GUARD(mg_write_vec_end(w, mark));
  MG_GUARD(mg_write_opaque(w, g->sig_priv.data, g->sig_priv.len));
  for (int i = 0; i < EP_FIELDS; i++) {
    MG_GUARD(mg_write_bytes(w, ep_field(g->ep, i), nh));
  }
  MG_GUARD(mg_write_opaque(w, g->transcript.confirmed,
                           g->transcript.confirmed_len));
  MG_GUARD(mg_write_opaque(w, g->transcript.interim, g->transcript.interim_len));
  MG_GUARD(write_st(w, g->st));
  MG_GUARD(mg_write_vec_begin(w, &mark));
  for (size_t i = 0; i < g->num_past; i++) {
    const mls_group_past_epoch *pe = &g->past[i];
    MG_GUARD(mls_group_context_encode(w, &pe->ctx));
    MG_GUARD(mg_write_bytes(w, pe->sender_data_secret, nh));
    MG_GUARD(write_st(w, pe->st));
    MG_GUARD(mg_write_vec_begin(w, &mark2));
    for (uint32_t l = 0; l < pe->n_leaves; l++) {
      const uint8_t *pub = mls_group_past_pub_(pe, l);
      MG_GUARD(mg_write_opaque(w, pub, pub != NULL ? pe->pub_len : 0));
    }
    MG_GUARD(mg_write_vec_end(w, mark2));
  }
  MG_GUARD(mg_write_vec_end(w, mark));
  MG_GUARD(mg_write_vec_begin(w, &mark));
  for (size_t i = 0; i < g->num_res; i++) {
    MG_GUARD(mg_write_u64(w, g->res[i].epoch));
    MG_GUARD(mg_write_bytes(w, g->res[i].psk, nh));
  }
  MG_GUARD(mg_write_vec_end(w, mark));
  MG_GUARD(mg_write_vec_begin(w, &mark));
  for (size_t i = 0; i < g->num_pending; i++) {
    const mls_group_pending *pd = &g->pending[i];
    MG_GUARD(mg_write_opaque(w, pd->ref, pd->ref_len));
    MG_GUARD(mls_sender_encode(w, &pd->sender));
    MG_GUARD(mls_proposal_encode(w, &pd->proposal));
    MG_GUARD(mg_write_opaque(w, mg_hpke_key_priv(&pd->update_key),
                             pd->update_key.kem != NULL ? s->kem->priv_len
                                                        : 0));
  }
  MG_GUARD(mg_write_vec_end(w, mark));
  MG_GUARD(mg_write_optional(w, g->has_reinit));
  if (g->has_reinit) {
    MG_GUARD(mls_reinit_encode(w, &g->reinit));
  }
  return mg_writer_error(w);
}

/* ------------------------------------------------------------ decode */

static int read_hpke_priv(mg_reader *r, const mls_suite *s, mg_hpke_key *k,
                          int optional) {
  mg_reader v;
  MG_GUARD(mg_read_vec(r, &v));
  if (mg_reader_len(&v) == 0 && optional) {
    mg_hpke_key_zero(k);
    return 0;
  }
  MG_ENSURE(mg_reader_len(&v) == s->kem->priv_len, MG_ERR_DECODE);
  int rc = mg_hpke_key_init(k, s->kem, mg_reader_data(&v), mg_reader_len(&v));
  return rc < 0 && rc != MG_ERR_NOMEM ? MG_ERR_DECODE : rc;
}

static int read_st(mg_reader *r, const mls_group *g, mls_secret_tree **out) {
  mg_reader v;
  MG_GUARD(mg_read_vec(r, &v));
  MG_GUARD(mls_secret_tree_decode(&v, out, g->suite, &g->cfg.st));
  int rc = mg_reader_done(&v);
  if (rc < 0) {
    mls_secret_tree_free(*out);
    *out = NULL;
  }
  return rc;
}

static int read_past(mg_reader *r, mls_group *g, mls_group_past_epoch *pe) {
  size_t nh = g->suite->kdf->nh;
  mg_reader v;
  int rc;
  memset(pe, 0, sizeof(*pe));
  MG_CHECK(mls_group_context_decode(r, &pe->ctx));
  MG_REQUIRE(pe->ctx.cipher_suite == g->suite->id &&
                 mls_bytes_eq(&pe->ctx.group_id, &g->ctx.group_id) &&
                 pe->ctx.epoch < g->ctx.epoch,
             MG_ERR_DECODE);
  MG_CHECK(mg_read_copy(r, pe->sender_data_secret, nh));
  MG_CHECK(read_st(r, g, &pe->st));
  MG_CHECK(mg_read_vec(r, &v));
  /* Count the entries first (each is opaque<V>: empty or one key). */
  {
    mg_reader c = v;
    uint32_t n = 0;
    size_t pl = g->suite->sig->pub_len;
    while (mg_reader_len(&c) > 0) {
      mg_reader e;
      MG_CHECK(mg_read_vec(&c, &e));
      MG_REQUIRE(mg_reader_len(&e) == 0 || mg_reader_len(&e) == pl,
                 MG_ERR_DECODE);
      MG_REQUIRE(n < MLS_SECRET_TREE_MAX_LEAVES, MG_ERR_LENGTH);
      n++;
    }
    MG_CHECK(mls_group_past_alloc_pubs_(pe, n, pl));
    for (uint32_t l = 0; l < n; l++) {
      mg_reader e;
      MG_CHECK(mg_read_vec(&v, &e));
      if (mg_reader_len(&e) == pl) {
        memcpy(pe->sig_pubs + (size_t)l * pl, mg_reader_data(&e), pl);
        pe->sig_present[l] = 1;
      }
    }
  }
  MG_REQUIRE(pe->n_leaves > 0, MG_ERR_DECODE);
  rc = 0;
out:
  if (rc < 0) {
    mls_group_past_cleanup_(pe);
  }
  return rc;
}

int mls_group_decode(mls_group **out, const uint8_t *buf, size_t len) {
  mls_group *g = NULL;
  mg_reader r, v;
  const mls_suite *s;
  uint8_t magic[4], th[MG_MAX_HASH_LEN];
  uint16_t version, suite_id;
  mls_group_config cfg;
  size_t nh, th_len = 0;
  int rc, present;

  MG_ENSURE(out != NULL && (buf != NULL || len == 0), MG_ERR_INVALID_ARG);
  *out = NULL;
  mg_reader_init(&r, buf, len);
  MG_GUARD(mg_read_copy(&r, magic, 4));
  MG_ENSURE(memcmp(magic, GS_MAGIC, 4) == 0, MG_ERR_DECODE);
  MG_GUARD(mg_read_u16(&r, &version));
  MG_ENSURE(version == GS_VERSION, MG_ERR_VERSION);
  MG_GUARD(mg_read_u16(&r, &suite_id));
  s = mls_suite_by_id(suite_id);
  MG_ENSURE(s != NULL, MG_ERR_UNSUPPORTED);
  nh = s->kdf->nh;
  MG_GUARD(mg_read_u32(&r, &cfg.st.max_forward));
  MG_GUARD(mg_read_u32(&r, &cfg.st.max_retained));
  MG_GUARD(mg_read_u32(&r, &cfg.max_past_epochs));
  MG_GUARD(mg_read_u32(&r, &cfg.max_resumption_psks));
  MG_ENSURE(cfg.st.max_forward > 0 && cfg.st.max_retained > 0 &&
                cfg.max_past_epochs <= MLS_GROUP_MAX_PAST_EPOCHS &&
                cfg.max_resumption_psks >= 1 &&
                cfg.max_resumption_psks <= MLS_GROUP_MAX_RESUMPTION_PSKS,
            MG_ERR_DECODE);
  g = mls_group_alloc_(s, &cfg);
  MG_ENSURE(g != NULL, MG_ERR_NOMEM);

  MG_CHECK(mls_group_context_decode(&r, &g->ctx));
  MG_REQUIRE(g->ctx.cipher_suite == suite_id, MG_ERR_DECODE);
  MG_CHECK(mg_read_vec(&r, &v));
  MG_CHECK(mls_tree_decode(&g->tree, s, mg_reader_data(&v), mg_reader_len(&v)));
  MG_CHECK(mls_tree_hash(&g->tree, th, sizeof(th), &th_len));
  MG_REQUIRE(th_len == g->ctx.tree_hash.len &&
                 memcmp(th, g->ctx.tree_hash.data, th_len) == 0,
             MG_ERR_TREE_HASH);
  MG_CHECK(mg_read_u32(&r, &g->self.v));
  const mls_leaf_node *own = mls_tree_leaf(&g->tree, g->self);
  MG_REQUIRE(own != NULL, MG_ERR_DECODE);
  g->priv.suite = s;
  g->priv.leaf = g->self;
  MG_CHECK(read_hpke_priv(&r, s, &g->priv.leaf_key, 0));
  MG_CHECK(mg_read_vec(&r, &v));
  while (mg_reader_len(&v) > 0) {
    MG_REQUIRE(g->priv.num_path < MLS_TREE_MAX_DEPTH, MG_ERR_LENGTH);
    uint32_t node;
    MG_CHECK(mg_read_u32(&v, &node));
    g->priv.path_nodes[g->priv.num_path].v = node;
    MG_CHECK(read_hpke_priv(&v, s, &g->priv.path_keys[g->priv.num_path], 0));
    g->priv.num_path++;
  }
  rc = mls_tree_priv_check(&g->priv, &g->tree);
  MG_REQUIRE(rc >= 0, MG_ERR_DECODE);
  MG_CHECK(mg_read_vec(&r, &v));
  MG_REQUIRE(mg_reader_len(&v) == s->sig->priv_len, MG_ERR_DECODE);
  {
    uint8_t pub[MG_MAX_SIG_PUB_LEN];
    rc = s->sig->pub_from_priv(s->sig, pub, mg_reader_data(&v));
    MG_REQUIRE(rc >= 0 && own->signature_key.len == s->sig->pub_len &&
                   memcmp(pub, own->signature_key.data, s->sig->pub_len) == 0,
               MG_ERR_DECODE);
    MG_CHECK(mls_group_set_sig_key_(g, mg_reader_data(&v), mg_reader_len(&v)));
  }
  g->ep = calloc(1, sizeof(*g->ep));
  MG_REQUIRE(g->ep != NULL, MG_ERR_NOMEM);
  g->ep->suite = s;
  g->ep->nh = nh;
  for (int i = 0; i < EP_FIELDS; i++) {
    MG_CHECK(mg_read_copy(&r, ep_field(g->ep, i), nh));
  }
  MG_CHECK(mg_read_vec(&r, &v));
  MG_REQUIRE(mg_reader_len(&v) == 0 || mg_reader_len(&v) == s->hash->digest_len,
             MG_ERR_DECODE);
  g->transcript.confirmed_len = mg_reader_len(&v);
  memcpy(g->transcript.confirmed, mg_reader_data(&v), mg_reader_len(&v));
  MG_REQUIRE(g->transcript.confirmed_len == g->ctx.confirmed_transcript_hash.len &&
                 memcmp(g->transcript.confirmed,
                        g->ctx.confirmed_transcript_hash.data,
                        g->transcript.confirmed_len) == 0,
             MG_ERR_DECODE);
  MG_CHECK(mg_read_vec(&r, &v));
  MG_REQUIRE(mg_reader_len(&v) == s->hash->digest_len, MG_ERR_DECODE);
  g->transcript.interim_len = mg_reader_len(&v);
  memcpy(g->transcript.interim, mg_reader_data(&v), mg_reader_len(&v));
  MG_CHECK(read_st(&r, g, &g->st));

  /* Past epochs: ascending, before the current one, at most the max. */
  MG_CHECK(mg_read_vec(&r, &v));
  while (mg_reader_len(&v) > 0) {
    MG_REQUIRE(g->num_past < g->cfg.max_past_epochs, MG_ERR_LENGTH);
    mls_group_past_epoch *np = calloc(g->num_past + 1, sizeof(*np));
    MG_REQUIRE(np != NULL, MG_ERR_NOMEM);
    if (g->num_past > 0) {
      memcpy(np, g->past, g->num_past * sizeof(*np));
    }
    free(g->past);
    g->past = np;
    MG_CHECK(read_past(&v, g, &g->past[g->num_past]));
    g->num_past++;
    MG_REQUIRE(g->num_past == 1 || g->past[g->num_past - 2].ctx.epoch <
                                       g->past[g->num_past - 1].ctx.epoch,
               MG_ERR_DECODE);
  }
  /* Resumption PSKs: ascending epochs up to the current one. */
  MG_CHECK(mg_read_vec(&r, &v));
  {
    size_t n = mg_reader_len(&v) / (8 + nh);
    MG_REQUIRE(n * (8 + nh) == mg_reader_len(&v) && n >= 1 &&
                   n <= g->cfg.max_resumption_psks,
               MG_ERR_DECODE);
    g->res = calloc(n, sizeof(*g->res));
    MG_REQUIRE(g->res != NULL, MG_ERR_NOMEM);
    for (size_t i = 0; i < n; i++) {
      MG_CHECK(mg_read_u64(&v, &g->res[i].epoch));
      MG_CHECK(mg_read_copy(&v, g->res[i].psk, nh));
      g->num_res = i + 1;
      MG_REQUIRE(g->res[i].epoch <= g->ctx.epoch &&
                     (i == 0 || g->res[i - 1].epoch < g->res[i].epoch),
                 MG_ERR_DECODE);
    }
    MG_REQUIRE(g->res[n - 1].epoch == g->ctx.epoch, MG_ERR_DECODE);
  }
  /* Pending proposals. */
  MG_CHECK(mg_read_vec(&r, &v));
  while (mg_reader_len(&v) > 0) {
    MG_REQUIRE(g->num_pending < 65536, MG_ERR_LENGTH);
    mls_group_pending *np = calloc(g->num_pending + 1, sizeof(*np));
    MG_REQUIRE(np != NULL, MG_ERR_NOMEM);
    if (g->num_pending > 0) {
      memcpy(np, g->pending, g->num_pending * sizeof(*np));
    }
    free(g->pending);
    g->pending = np;
    mls_group_pending *pd = &g->pending[g->num_pending];
    mg_hpke_key_zero(&pd->update_key);
    g->num_pending++;
    mg_reader rv;
    MG_CHECK(mg_read_vec(&v, &rv));
    MG_REQUIRE(mg_reader_len(&rv) == s->hash->digest_len, MG_ERR_DECODE);
    pd->ref_len = mg_reader_len(&rv);
    memcpy(pd->ref, mg_reader_data(&rv), pd->ref_len);
    MG_CHECK(mls_sender_decode(&v, &pd->sender));
    MG_CHECK(mls_proposal_decode(&v, &pd->proposal));
    MG_CHECK(read_hpke_priv(&v, s, &pd->update_key, 1));
  }
  MG_CHECK(mg_read_optional(&r, &present));
  if (present) {
    MG_CHECK(mls_reinit_decode(&r, &g->reinit));
    g->has_reinit = 1;
  }
  MG_CHECK(mg_reader_done(&r));
  *out = g;
  g = NULL;
  rc = 0;
out:
  mls_group_free(g);
  return rc;
}
