/*
 * The MLS group state and joining from a Welcome (RFC 9420 §12.4.3.1).
 */
#include "config.h"

#include "mls/group.h"
#include "mls/group_int.h"

#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/guard.h"
#include "common/secmem.h"
#include "crypto/hpke.h"
#include "crypto/mls_crypto.h"
#include "mls/constants.h"
#include "mls/key_schedule.h"
#include "mls/transcript.h"
#include "mls/tree.h"
#include "mls/treekem.h"
#include "mls/welcome.h"

void mls_group_config_default(mls_group_config *cfg) {
  if (cfg == NULL) {
    return;
  }
  cfg->st.max_forward = MLS_SECRET_TREE_DEFAULT_MAX_FORWARD;
  cfg->st.max_retained = MLS_SECRET_TREE_DEFAULT_MAX_RETAINED;
  cfg->max_past_epochs = MLS_GROUP_DEFAULT_MAX_PAST_EPOCHS;
  cfg->max_resumption_psks = MLS_GROUP_DEFAULT_MAX_RESUMPTION_PSKS;
}

static int config_ok(const mls_group_config *c) {
  return c->st.max_forward > 0 && c->st.max_retained > 0 &&
         c->max_past_epochs <= MLS_GROUP_MAX_PAST_EPOCHS &&
         c->max_resumption_psks >= 1 &&
         c->max_resumption_psks <= MLS_GROUP_MAX_RESUMPTION_PSKS;
}

mls_group *mls_group_alloc_(const mls_suite *suite,
                            const mls_group_config *cfg) {
  mls_group *g = calloc(1, sizeof(*g));
  if (g == NULL) {
    return NULL;
  }
  g->suite = suite;
  mls_tree_zero(&g->tree);
  mls_tree_priv_zero(&g->priv);
  mls_transcript_init(&g->transcript);
  if (cfg != NULL) {
    g->cfg = *cfg;
  } else {
    mls_group_config_default(&g->cfg);
  }
  return g;
}

const uint8_t *mls_group_past_pub_(const mls_group_past_epoch *pe,
                                   uint32_t l) {
  if (l >= pe->n_leaves || pe->sig_present == NULL || !pe->sig_present[l]) {
    return NULL;
  }
  return pe->sig_pubs + (size_t)l * pe->pub_len;
}

int mls_group_past_alloc_pubs_(mls_group_past_epoch *pe, uint32_t n,
                               size_t pub_len) {
  size_t total = (size_t)n * (pub_len + 1);
  uint8_t *b = calloc(total ? total : 1, 1);
  if (b == NULL) {
    return MG_ERR_NOMEM;
  }
  free(pe->sig_pubs);
  pe->sig_pubs = b;
  pe->sig_present = b + (size_t)n * pub_len;
  pe->n_leaves = n;
  pe->pub_len = pub_len;
  return 0;
}

void mls_group_past_cleanup_(mls_group_past_epoch *p) {
  if (p == NULL) {
    return;
  }
  mls_group_context_cleanup(&p->ctx);
  mls_secret_tree_free(p->st);
  free(p->sig_pubs);
  mg_memzero(p, sizeof(*p));
}

int mls_group_past_copy_(mls_group_past_epoch *out,
                         const mls_group_past_epoch *in) {
  int rc;
  memset(out, 0, sizeof(*out));
  MG_CHECK(mls_group_context_copy(&out->ctx, &in->ctx));
  memcpy(out->sender_data_secret, in->sender_data_secret,
         sizeof(out->sender_data_secret));
  MG_CHECK(mls_secret_tree_copy(&out->st, in->st));
  MG_CHECK(mls_group_past_alloc_pubs_(out, in->n_leaves, in->pub_len));
  memcpy(out->sig_pubs, in->sig_pubs, (size_t)in->n_leaves * (in->pub_len + 1));
  rc = 0;
out:
  if (rc < 0) {
    mls_group_past_cleanup_(out);
  }
  return rc;
}

int mls_proposal_copy_(mls_proposal *out, const mls_proposal *in) {
  mg_writer w;
  mg_reader r;
  int rc;
  mg_writer_zero(&w);
  memset(out, 0, sizeof(*out));
  MG_CHECK(mg_writer_init(&w, 256, 0));
  MG_CHECK(mls_proposal_encode(&w, in));
  mg_reader_init(&r, mg_writer_data(&w), mg_writer_len(&w));
  MG_CHECK(mls_proposal_decode(&r, out));
  rc = 0;
out:
  mg_writer_cleanup(&w);
  return rc;
}

void mls_group_pending_cleanup_(mls_group_pending *p) {
  if (p == NULL) {
    return;
  }
  mls_proposal_cleanup(&p->proposal);
  mg_hpke_key_cleanup(&p->update_key);
  mg_memzero(p, sizeof(*p));
}

int mls_group_pending_copy_(mls_group_pending *out,
                            const mls_group_pending *in) {
  memcpy(out, in, sizeof(*out));
  memset(&out->proposal, 0, sizeof(out->proposal));
  int rc = mls_proposal_copy_(&out->proposal, &in->proposal);
  if (rc < 0) {
    mg_memzero(out, sizeof(*out));
  }
  return rc;
}

static void member_keys_clear(mls_group *g) {
  for (uint32_t i = 0; i < g->num_member_keys; i++) {
    mg_sig_key_free(g->member_keys[i]);
  }
  free(g->member_keys);
  g->member_keys = NULL;
  g->num_member_keys = 0;
}

void mls_group_free(mls_group *g) {
  if (g == NULL) {
    return;
  }
  mls_group_context_cleanup(&g->ctx);
  mls_tree_cleanup(&g->tree);
  mls_tree_priv_cleanup(&g->priv);
  mg_sig_key_free(g->sig_key);
  mls_bytes_cleanup_secret(&g->sig_priv);
  mls_epoch_secrets_free(g->ep);
  mls_secret_tree_free(g->st);
  for (size_t i = 0; i < g->num_past; i++) {
    mls_group_past_cleanup_(&g->past[i]);
  }
  free(g->past);
  mg_free_secret(g->res, g->num_res * sizeof(*g->res));
  for (size_t i = 0; i < g->num_pending; i++) {
    mls_group_pending_cleanup_(&g->pending[i]);
  }
  free(g->pending);
  mls_reinit_cleanup(&g->reinit);
  member_keys_clear(g);
  mg_memzero(g, sizeof(*g));
  free(g);
}

int mls_group_member_key_(mls_group *g, uint32_t leaf,
                          const mg_sig_key **out) {
  mls_leaf_idx li = {leaf};
  const mls_leaf_node *ln = mls_tree_leaf(&g->tree, li);
  if (ln == NULL) {
    return MG_ERR_SENDER;
  }
  if (g->num_member_keys != g->tree.n_leaves) {
    mg_sig_key **k = calloc(g->tree.n_leaves, sizeof(*k));
    if (k == NULL) {
      return MG_ERR_NOMEM;
    }
    member_keys_clear(g);
    g->member_keys = k;
    g->num_member_keys = g->tree.n_leaves;
  }
  if (g->member_keys[leaf] == NULL) {
    int rc = g->suite->sig->key_from_pub(g->suite->sig, &g->member_keys[leaf],
                                         ln->signature_key.data,
                                         ln->signature_key.len);
    if (rc < 0) {
      return rc == MG_ERR_NOMEM ? rc : MG_ERR_SIGNATURE;
    }
  }
  *out = g->member_keys[leaf];
  return 0;
}

int mls_group_set_sig_key_(mls_group *g, const uint8_t *priv,
                           size_t priv_len) {
  mg_sig_key *k = NULL;
  mls_bytes b = {0};
  int rc = g->suite->sig->key_from_priv(g->suite->sig, &k, priv, priv_len);
  if (rc < 0) {
    return rc == MG_ERR_NOMEM ? rc : MG_ERR_BAD_KEY;
  }
  rc = mls_bytes_dup(&b, priv, priv_len);
  if (rc < 0) {
    mg_sig_key_free(k);
    return rc;
  }
  mg_sig_key_free(g->sig_key);
  mls_bytes_cleanup_secret(&g->sig_priv);
  g->sig_key = k;
  g->sig_priv = b;
  return 0;
}

int mls_group_share_sig_key_(mls_group *dst, const mls_group *src) {
  mls_bytes b = {0};
  MG_GUARD(mls_bytes_copy(&b, &src->sig_priv));
  mg_sig_key_free(dst->sig_key);
  mls_bytes_cleanup_secret(&dst->sig_priv);
  dst->sig_key = mg_sig_key_ref(src->sig_key);
  dst->sig_priv = b;
  return 0;
}

const mls_group_resumption *mls_group_find_resumption_(const mls_group *g,
                                                       uint64_t epoch) {
  for (size_t i = 0; i < g->num_res; i++) {
    if (g->res[i].epoch == epoch) {
      return &g->res[i];
    }
  }
  return NULL;
}

int mls_group_push_resumption_(mls_group *g) {
  size_t keep = g->num_res;
  if (keep >= g->cfg.max_resumption_psks) {
    keep = g->cfg.max_resumption_psks - 1;
  }
  mls_group_resumption *r = calloc(keep + 1, sizeof(*r));
  if (r == NULL) {
    return MG_ERR_NOMEM;
  }
  if (keep > 0) {
    memcpy(r, g->res + (g->num_res - keep), keep * sizeof(*r));
  }
  r[keep].epoch = g->ctx.epoch;
  memcpy(r[keep].psk, g->ep->resumption_psk, g->ep->nh);
  mg_free_secret(g->res, g->num_res * sizeof(*g->res));
  g->res = r;
  g->num_res = keep + 1;
  return 0;
}

int mls_group_copy(mls_group **out, const mls_group *g) {
  mls_group *c = NULL;
  int rc;
  MG_ENSURE(out != NULL && g != NULL, MG_ERR_INVALID_ARG);
  *out = NULL;
  c = mls_group_alloc_(g->suite, &g->cfg);
  MG_ENSURE(c != NULL, MG_ERR_NOMEM);
  MG_CHECK(mls_group_context_copy(&c->ctx, &g->ctx));
  MG_CHECK(mls_tree_copy(&c->tree, &g->tree));
  c->priv = g->priv;
  c->self = g->self;
  MG_CHECK(mls_group_share_sig_key_(c, g));
  MG_CHECK(mls_epoch_secrets_copy(&c->ep, g->ep));
  MG_CHECK(mls_secret_tree_copy(&c->st, g->st));
  c->transcript = g->transcript;
  if (g->num_past > 0) {
    c->past = calloc(g->num_past, sizeof(*c->past));
    MG_REQUIRE(c->past != NULL, MG_ERR_NOMEM);
    for (size_t i = 0; i < g->num_past; i++) {
      MG_CHECK(mls_group_past_copy_(&c->past[i], &g->past[i]));
      c->num_past = i + 1;
    }
  }
  if (g->num_res > 0) {
    c->res = calloc(g->num_res, sizeof(*c->res));
    MG_REQUIRE(c->res != NULL, MG_ERR_NOMEM);
    memcpy(c->res, g->res, g->num_res * sizeof(*c->res));
    c->num_res = g->num_res;
  }
  if (g->num_pending > 0) {
    c->pending = calloc(g->num_pending, sizeof(*c->pending));
    MG_REQUIRE(c->pending != NULL, MG_ERR_NOMEM);
    for (size_t i = 0; i < g->num_pending; i++) {
      MG_CHECK(mls_group_pending_copy_(&c->pending[i], &g->pending[i]));
      c->num_pending = i + 1;
    }
  }
  if (g->has_reinit) {
    mls_proposal a, b;
    memset(&a, 0, sizeof(a));
    a.proposal_type = MLS_PROPOSAL_REINIT;
    a.reinit = g->reinit;
    MG_CHECK(mls_proposal_copy_(&b, &a));
    c->reinit = b.reinit;
    c->has_reinit = 1;
  }
  *out = c;
  c = NULL;
  rc = 0;
out:
  mls_group_free(c);
  return rc;
}

/* ------------------------------------------------------------ queries */

const mls_suite *mls_group_suite(const mls_group *g) {
  return g == NULL ? NULL : g->suite;
}

uint64_t mls_group_epoch(const mls_group *g) {
  return g == NULL ? 0 : g->ctx.epoch;
}

const mls_group_context *mls_group_get0_context(const mls_group *g) {
  return g == NULL ? NULL : &g->ctx;
}

int mls_group_epoch_authenticator(const mls_group *g, uint8_t *out, size_t cap,
                                  size_t *out_len) {
  MG_ENSURE(g != NULL && g->ep != NULL && out != NULL && out_len != NULL,
            MG_ERR_INVALID_ARG);
  MG_ENSURE(cap >= g->ep->nh, MG_ERR_BUFFER_TOO_SMALL);
  memcpy(out, g->ep->epoch_authenticator, g->ep->nh);
  *out_len = g->ep->nh;
  return 0;
}

int mls_group_export(const mls_group *g, uint8_t *out, size_t out_len,
                     const char *label, const uint8_t *context,
                     size_t context_len) {
  MG_ENSURE(g != NULL && g->ep != NULL, MG_ERR_INVALID_ARG);
  return mls_epoch_exporter(g->ep, out, out_len, label, context, context_len);
}

uint32_t mls_group_member_count(const mls_group *g) {
  uint32_t n = 0;
  if (g == NULL) {
    return 0;
  }
  for (uint32_t l = 0; l < g->tree.n_leaves; l++) {
    mls_leaf_idx li = {l};
    if (mls_tree_leaf(&g->tree, li) != NULL) {
      n++;
    }
  }
  return n;
}

mls_leaf_idx mls_group_self(const mls_group *g) {
  mls_leaf_idx none = {UINT32_MAX};
  return g == NULL ? none : g->self;
}

int mls_group_advance_sending(mls_group *g, uint32_t next_generation) {
  MG_ENSURE(g != NULL && g->st != NULL, MG_ERR_INVALID_ARG);
  MG_ENSURE(!g->has_reinit, MG_ERR_STATE);
  return mls_secret_tree_advance(g->st, g->self, MLS_RATCHET_APPLICATION,
                                 next_generation);
}

/* ------------------------------------------------------------- join */

/* Checks that |priv| is the private key of the HPKE public key |pub|. */
static int hpke_priv_matches(const mls_suite *s, const uint8_t *priv,
                             size_t priv_len, const mls_bytes *pub) {
  mg_hpke_key k;
  int rc;
  mg_hpke_key_zero(&k);
  MG_CHECK(mg_hpke_key_init(&k, s->kem, priv, priv_len));
  size_t pl = 0;
  const uint8_t *p = mg_hpke_key_pub(&k, &pl);
  if (pl != pub->len || memcmp(p, pub->data, pl) != 0) {
    MG_FAIL(MG_ERR_BAD_KEY);
  }
  rc = 0;
out:
  mg_hpke_key_cleanup(&k);
  return rc < 0 && rc != MG_ERR_NOMEM && rc != MG_ERR_INVALID_ARG
             ? MG_ERR_BAD_KEY
             : rc;
}

/* Resolves the PSKs of |gs| through the caller's lookup and computes
 * psk_secret (RFC 9420 §8.4) into |out| (Nh bytes). */
static int join_psk_secret(const mls_suite *s, const mls_join_params *p,
                           const mls_group_secrets *gs, uint8_t *out) {
  mls_bytes *psks = NULL;
  int rc;
  if (gs->num_psks == 0) {
    return mls_psk_secret(s, out, NULL, NULL, 0);
  }
  MG_ENSURE(p->psk_lookup != NULL, MG_ERR_PSK);
  psks = calloc(gs->num_psks, sizeof(*psks));
  MG_ENSURE(psks != NULL, MG_ERR_NOMEM);
  for (size_t i = 0; i < gs->num_psks; i++) {
    rc = p->psk_lookup(p->psk_arg, &gs->psks[i], &psks[i]);
    if (rc < 0) {
      MG_FAIL(rc == MG_ERR_NOMEM ? rc : MG_ERR_PSK);
    }
  }
  MG_CHECK(mls_psk_secret(s, out, gs->psks, psks, gs->num_psks));
  rc = 0;
out:
  for (size_t i = 0; i < gs->num_psks; i++) {
    mls_bytes_cleanup_secret(&psks[i]);
  }
  free(psks);
  return rc;
}

/* Whether two LeafNodes encode to the same bytes. */
static int leaf_eq(const mls_leaf_node *a, const mls_leaf_node *b, int *eq) {
  mg_writer wa, wb;
  int rc;
  mg_writer_zero(&wa);
  mg_writer_zero(&wb);
  MG_CHECK(mg_writer_init(&wa, 256, 0));
  MG_CHECK(mg_writer_init(&wb, 256, 0));
  MG_CHECK(mls_leaf_node_encode(&wa, a));
  MG_CHECK(mls_leaf_node_encode(&wb, b));
  *eq = mg_writer_len(&wa) == mg_writer_len(&wb) &&
        memcmp(mg_writer_data(&wa), mg_writer_data(&wb), mg_writer_len(&wa)) ==
            0;
  rc = 0;
out:
  mg_writer_cleanup(&wa);
  mg_writer_cleanup(&wb);
  return rc;
}

/* Finds our LeafNode |ln| in |t| (RFC 9420 §12.4.3.1: "Identify a leaf
 * whose LeafNode is identical to the one in the KeyPackage"). */
static int find_own_leaf(const mls_tree *t, const mls_leaf_node *ln,
                         mls_leaf_idx *out) {
  for (uint32_t l = 0; l < t->n_leaves; l++) {
    mls_leaf_idx li = {l};
    const mls_leaf_node *x = mls_tree_leaf(t, li);
    int eq = 0;
    if (x == NULL || !mls_bytes_eq(&x->encryption_key, &ln->encryption_key)) {
      continue;
    }
    MG_GUARD(leaf_eq(x, ln, &eq));
    if (eq) {
      *out = li;
      return 0;
    }
  }
  return MG_ERR_WELCOME;
}

/* The ratchet tree of the group: from the GroupInfo's ratchet_tree
 * extension, else the one handed over out of band (RFC 9420 §12.4.3.3). */
static int join_tree(const mls_suite *s, const mls_join_params *p,
                     const mls_group_info *gi, mls_tree *t) {
  const mls_extension *e =
      mls_extension_list_find(&gi->extensions, MLS_EXT_RATCHET_TREE);
  if (e != NULL) {
    return mls_tree_decode(t, s, e->extension_data.data,
                           e->extension_data.len);
  }
  MG_ENSURE(p->ratchet_tree != NULL && p->ratchet_tree_len > 0,
            MG_ERR_TREE_INVALID);
  return mls_tree_decode(t, s, p->ratchet_tree, p->ratchet_tree_len);
}

/* The checks of RFC 9420 §7.3 on every leaf of the tree a new member
 * joins (§12.4.3.1) that the tree itself does not cover: the group's cipher
 * suite and version in the leaf's capabilities, its own extensions and
 * credential listed, the GroupContext's required capabilities, every
 * member's credential type supported by every member (MG_ERR_CAPABILITIES,
 * MG_ERR_EXTENSION), and the lifetime of key_package leaves at |now| (a
 * joiner is RECOMMENDED to check it; MG_ERR_LIFETIME). */
#define MAX_CRED_TYPES 16
int mls_group_check_leaves_(const mls_tree *t, const mls_group_context *ctx,
                            int check_lifetime, uint64_t now) {
  mls_required_capabilities req;
  const mls_extension *re;
  uint16_t creds[MAX_CRED_TYPES];
  size_t num_creds = 0;
  int has_req = 0;
  int rc;
  memset(&req, 0, sizeof(req));
  re = mls_extension_list_find(&ctx->extensions,
                               MLS_EXT_REQUIRED_CAPABILITIES);
  if (re != NULL) {
    MG_GUARD(mls_ext_required_capabilities_decode(re, &req));
    has_req = 1;
  }
  for (uint32_t l = 0; l < t->n_leaves; l++) {
    mls_leaf_idx li = {l};
    const mls_leaf_node *x = mls_tree_leaf(t, li);
    if (x == NULL) {
      continue;
    }
    uint16_t ct = x->credential.credential_type;
    int seen = 0;
    for (size_t k = 0; k < num_creds; k++) {
      seen |= creds[k] == ct;
    }
    if (!seen) {
      if (num_creds == MAX_CRED_TYPES) {
        MG_FAIL(MG_ERR_CAPABILITIES);
      }
      creds[num_creds++] = ct;
    }
  }
  for (uint32_t l = 0; l < t->n_leaves; l++) {
    mls_leaf_idx li = {l};
    const mls_leaf_node *x = mls_tree_leaf(t, li);
    if (x == NULL) {
      continue;
    }
    if (!mls_u16_list_contains(&x->capabilities.cipher_suites,
                               ctx->cipher_suite) ||
        !mls_u16_list_contains(&x->capabilities.versions, ctx->version)) {
      MG_FAIL(MG_ERR_CAPABILITIES);
    }
    MG_CHECK(mls_leaf_node_check_capabilities(x));
    if (has_req) {
      MG_CHECK(mls_capabilities_check_required(&x->capabilities, &req));
    }
    for (size_t k = 0; k < num_creds; k++) {
      if (!mls_u16_list_contains(&x->capabilities.credentials, creds[k])) {
        MG_FAIL(MG_ERR_CAPABILITIES);
      }
    }
    if (check_lifetime && x->leaf_node_source == MLS_LEAF_SOURCE_KEY_PACKAGE) {
      MG_CHECK(mls_lifetime_check(&x->lifetime, now));
    }
  }
  rc = 0;
out:
  mls_required_capabilities_cleanup(&req);
  return rc;
}

/* Installs the private keys of the signer's path from the Welcome's
 * path_secret (RFC 9420 §12.4.3.1, §7.4): the path secret belongs to the
 * lowest common ancestor of our leaf and the signer's; each node above it
 * on the signer's filtered direct path gets the next DeriveSecret(.,
 * "path"). */
static int join_path_secrets(mls_group *g, mls_leaf_idx signer,
                             const mls_bytes *path_secret) {
  const mls_suite *s = g->suite;
  size_t nh = s->kdf->nh;
  mls_node_idx fdp[MLS_TREE_MAX_DEPTH];
  uint8_t ps[MG_MAX_HASH_LEN], next[MG_MAX_HASH_LEN];
  uint32_t n = 0, k;
  int rc;
  MG_ENSURE(signer.v != g->self.v, MG_ERR_PATH);
  MG_ENSURE(path_secret->len == nh, MG_ERR_PATH);
  MG_GUARD(mls_tree_filtered_direct_path(&g->tree, signer, fdp, NULL, &n));
  mls_node_idx lca = mls_tm_common_ancestor(mls_tm_leaf_to_node(signer),
                                            mls_tm_leaf_to_node(g->self));
  for (k = 0; k < n; k++) {
    if (fdp[k].v == lca.v) {
      break;
    }
  }
  MG_ENSURE(k < n, MG_ERR_PATH);
  memcpy(ps, path_secret->data, nh);
  for (uint32_t i = k; i < n; i++) {
    MG_CHECK(mls_tree_priv_set_path_secret(&g->priv, fdp[i], ps, nh));
    MG_CHECK(mls_derive_secret(s, next, ps, nh, "path"));
    memcpy(ps, next, nh);
  }
  rc = 0;
out:
  mg_memzero(ps, sizeof(ps));
  mg_memzero(next, sizeof(next));
  return rc;
}

int mls_group_join(mls_group **out, const mls_suite *suite,
                   const mls_join_params *p) {
  mls_group *g = NULL;
  mls_group_secrets gs;
  mls_group_info gi;
  mg_hpke_key init_key;
  uint8_t ref[MG_MAX_HASH_LEN], psk_secret[MG_MAX_HASH_LEN];
  uint8_t th[MG_MAX_HASH_LEN], sig_pub[MG_MAX_SIG_PUB_LEN];
  size_t ref_len = 0, th_len = 0;
  int rc;

  MG_ENSURE(out != NULL, MG_ERR_INVALID_ARG);
  *out = NULL;
  MG_ENSURE(suite != NULL && p != NULL && p->welcome != NULL &&
                p->key_package != NULL && p->init_priv != NULL &&
                p->enc_priv != NULL && p->sig_priv != NULL,
            MG_ERR_INVALID_ARG);
  memset(&gs, 0, sizeof(gs));
  memset(&gi, 0, sizeof(gi));
  mg_hpke_key_zero(&init_key);
  const mls_key_package *kp = p->key_package;
  const mls_leaf_node *own = &kp->leaf_node;
  size_t nh = suite->kdf->nh;

  MG_ENSURE(p->welcome->cipher_suite == suite->id &&
                kp->cipher_suite == suite->id,
            MG_ERR_UNSUPPORTED);
  /* Our KeyPackage and its private keys (RFC 9420 §10.1).  Its signatures
   * are not verified again: it is ours (the private keys below must match
   * its public keys), from our own sealed storage, and verifying it cost
   * two signature verifications per join. */
  MG_ENSURE(kp->version == MLS_VERSION_MLS10, MG_ERR_VERSION);
  MG_ENSURE(own->leaf_node_source == MLS_LEAF_SOURCE_KEY_PACKAGE,
            MG_ERR_LEAF_NODE_SOURCE);
  MG_GUARD(mls_lifetime_check(&own->lifetime, p->now));
  MG_GUARD(hpke_priv_matches(suite, p->enc_priv, p->enc_priv_len,
                             &own->encryption_key));
  MG_ENSURE(p->sig_priv_len == suite->sig->priv_len &&
                own->signature_key.len == suite->sig->pub_len &&
                suite->sig->pub_len <= sizeof(sig_pub),
            MG_ERR_BAD_KEY);
  if (suite->sig->pub_from_priv(suite->sig, sig_pub, p->sig_priv) < 0 ||
      mg_ct_memeq(sig_pub, own->signature_key.data, suite->sig->pub_len) ==
          0) {
    return MG_ERR_BAD_KEY;
  }

  MG_ENSURE(p->cfg == NULL || config_ok(p->cfg), MG_ERR_INVALID_ARG);
  g = mls_group_alloc_(suite, p->cfg);
  MG_ENSURE(g != NULL, MG_ERR_NOMEM);
  rc = mg_hpke_key_init(&init_key, suite->kem, p->init_priv, p->init_priv_len);
  if (rc < 0) {
    MG_FAIL(rc == MG_ERR_NOMEM ? rc : MG_ERR_BAD_KEY);
  }
  {
    size_t pl = 0;
    const uint8_t *pub = mg_hpke_key_pub(&init_key, &pl);
    if (pl != kp->init_key.len || memcmp(pub, kp->init_key.data, pl) != 0) {
      MG_FAIL(MG_ERR_BAD_KEY);
    }
  }

  /* 1. GroupSecrets, 2. PSKs, 3. GroupInfo and confirmation tag. */
  MG_CHECK(mls_key_package_ref(kp, ref, sizeof(ref), &ref_len));
  MG_CHECK(mls_welcome_open_secrets(suite, &gs, p->welcome, ref, ref_len,
                                    &init_key));
  MG_CHECK(join_psk_secret(suite, p, &gs, psk_secret));
  MG_CHECK(mls_welcome_open_info(suite, &gi, &g->ep, p->welcome,
                                 gs.joiner_secret.data, gs.joiner_secret.len,
                                 psk_secret, nh));

  /* 4. The ratchet tree: present, matching the GroupContext, valid. */
  /* The tree's own checks come first so that a tampered tree is reported
   * by what is wrong with it (e.g. MG_ERR_PARENT_HASH) rather than as a
   * mere tree hash mismatch. */
  MG_CHECK(join_tree(suite, p, &gi, &g->tree));
  MG_CHECK(mls_tree_validate(&g->tree, gi.group_context.group_id.data,
                             gi.group_context.group_id.len));
  MG_CHECK(mls_tree_hash(&g->tree, th, sizeof(th), &th_len));
  if (th_len != gi.group_context.tree_hash.len ||
      memcmp(th, gi.group_context.tree_hash.data, th_len) != 0) {
    MG_FAIL(MG_ERR_TREE_HASH);
  }
  MG_CHECK(mls_group_check_leaves_(&g->tree, &gi.group_context, 1, p->now));

  /* 5. The GroupInfo signature by the signer's leaf. */
  {
    mls_leaf_idx sl = {gi.signer};
    const mls_leaf_node *signer = mls_tree_leaf(&g->tree, sl);
    if (signer == NULL) {
      MG_FAIL(MG_ERR_SENDER);
    }
    MG_CHECK(mls_group_info_verify(suite, &gi, signer->signature_key.data,
                                   signer->signature_key.len));
  }

  /* 6. Our leaf and our private view of the tree. */
  MG_CHECK(find_own_leaf(&g->tree, own, &g->self));
  MG_CHECK(mls_tree_priv_init(&g->priv, suite, g->self, p->enc_priv,
                              p->enc_priv_len));
  if (gs.has_path_secret) {
    mls_leaf_idx sl = {gi.signer};
    MG_CHECK(join_path_secrets(g, sl, &gs.path_secret));
  }
  MG_CHECK(mls_tree_priv_check(&g->priv, &g->tree));

  /* 7. Transcript hashes, secret tree, signature key, GroupContext. */
  MG_CHECK(mls_transcript_from_confirmed(
      suite, &g->transcript, gi.group_context.confirmed_transcript_hash.data,
      gi.group_context.confirmed_transcript_hash.len, gi.confirmation_tag.data,
      gi.confirmation_tag.len));
  MG_CHECK(mls_secret_tree_new(&g->st, suite, g->ep->encryption_secret, nh,
                               g->tree.n_leaves, &g->cfg.st));
  MG_CHECK(mls_group_set_sig_key_(g, p->sig_priv, p->sig_priv_len));
  MG_CHECK(mls_group_context_copy(&g->ctx, &gi.group_context));
  MG_CHECK(mls_group_push_resumption_(g));

  *out = g;
  g = NULL;
  rc = 0;
out:
  mls_group_free(g);
  mls_group_secrets_cleanup(&gs);
  mls_group_info_cleanup(&gi);
  mg_hpke_key_cleanup(&init_key);
  mg_memzero(psk_secret, sizeof(psk_secret));
  return rc;
}

/* ----------------------------------------------------------- create */

int mls_group_create(mls_group **out, const mls_suite *suite,
                     const mls_group_create_params *p) {
  mls_group *g = NULL;
  uint8_t init_secret[MG_MAX_HASH_LEN], zero[MG_MAX_HASH_LEN];
  uint8_t th[MG_MAX_HASH_LEN], tag[MG_MAX_HASH_LEN];
  uint8_t gid[32];
  uint8_t *gc = NULL;
  size_t gc_len = 0, th_len = 0, tag_len = 0;
  int rc;

  MG_ENSURE(out != NULL, MG_ERR_INVALID_ARG);
  *out = NULL;
  MG_ENSURE(suite != NULL && p != NULL && p->key_package != NULL &&
                p->priv != NULL && p->priv->suite == suite,
            MG_ERR_INVALID_ARG);
  MG_ENSURE(p->cfg == NULL || config_ok(p->cfg), MG_ERR_INVALID_ARG);
  MG_ENSURE(p->key_package->cipher_suite == suite->id, MG_ERR_UNSUPPORTED);
  const mls_leaf_node *leaf = &p->key_package->leaf_node;
  size_t nh = suite->kdf->nh;
  memset(zero, 0, sizeof(zero));

  g = mls_group_alloc_(suite, p->cfg);
  MG_ENSURE(g != NULL, MG_ERR_NOMEM);
  /* Our keys must be the leaf's. */
  {
    size_t pl = 0;
    const uint8_t *pub = mg_hpke_key_pub(&p->priv->encryption_key, &pl);
    MG_REQUIRE(pl == leaf->encryption_key.len &&
                   memcmp(pub, leaf->encryption_key.data, pl) == 0,
               MG_ERR_BAD_KEY);
    MG_REQUIRE(p->priv->sig_pub_len == leaf->signature_key.len &&
                   memcmp(p->priv->sig_pub, leaf->signature_key.data,
                          p->priv->sig_pub_len) == 0,
               MG_ERR_BAD_KEY);
  }
  MG_CHECK(mls_group_set_sig_key_(g, p->priv->sig_priv, p->priv->sig_priv_len));

  /* GroupContext of epoch 0 (RFC 9420 §11). */
  g->ctx.version = MLS_VERSION_MLS10;
  g->ctx.cipher_suite = suite->id;
  if (p->group_id != NULL) {
    MG_REQUIRE(p->group_id_len > 0 && p->group_id_len <= 255,
               MG_ERR_INVALID_ARG);
    MG_CHECK(mls_bytes_dup(&g->ctx.group_id, p->group_id, p->group_id_len));
  } else {
    MG_CHECK(mg_random_bytes(gid, sizeof(gid)));
    MG_CHECK(mls_bytes_dup(&g->ctx.group_id, gid, sizeof(gid)));
  }
  g->ctx.epoch = 0;
  if (p->extensions != NULL) {
    MG_CHECK(mls_extension_list_copy(&g->ctx.extensions, p->extensions));
  }
  MG_CHECK(mls_tree_init_one(&g->tree, suite, leaf));
  MG_CHECK(mls_group_check_leaves_(&g->tree, &g->ctx, 0, 0));
  for (size_t i = 0; i < g->ctx.extensions.n; i++) {
    MG_REQUIRE(mls_capabilities_supports_extension(
                   &leaf->capabilities, g->ctx.extensions.items[i].extension_type),
               MG_ERR_CAPABILITIES);
  }
  MG_CHECK(mls_tree_hash(&g->tree, th, sizeof(th), &th_len));
  MG_CHECK(mls_bytes_dup(&g->ctx.tree_hash, th, th_len));
  g->self.v = 0;
  MG_CHECK(mls_tree_priv_init(&g->priv, suite, g->self,
                              mg_hpke_key_priv(&p->priv->encryption_key),
                              suite->kem->priv_len));

  /* Key schedule from a fresh init_secret with commit_secret and
   * psk_secret zero; the confirmed transcript hash of epoch 0 is empty and
   * the interim one is computed from the epoch-0 confirmation tag. */
  MG_CHECK(mg_random_bytes(init_secret, nh));
  MG_CHECK(mls_group_context_serialize(&g->ctx, &gc, &gc_len));
  MG_CHECK(mls_epoch_secrets_from_init(suite, &g->ep, init_secret, nh, zero,
                                       nh, zero, nh, gc, gc_len));
  MG_CHECK(mls_confirmation_tag_compute(suite, tag, sizeof(tag), &tag_len,
                                        g->ep->confirmation_key, nh, zero, 0));
  MG_CHECK(mls_transcript_from_confirmed(suite, &g->transcript, NULL, 0, tag,
                                         tag_len));
  MG_CHECK(mls_secret_tree_new(&g->st, suite, g->ep->encryption_secret, nh,
                               g->tree.n_leaves, &g->cfg.st));
  MG_CHECK(mls_group_push_resumption_(g));
  *out = g;
  g = NULL;
  rc = 0;
out:
  mls_group_free(g);
  free(gc);
  mg_memzero(init_secret, sizeof(init_secret));
  return rc;
}

/* ---------------------------------------------------------- queries */

const mls_leaf_node *mls_group_member(const mls_group *g, uint32_t leaf) {
  mls_leaf_idx li = {leaf};
  return g == NULL ? NULL : mls_tree_leaf(&g->tree, li);
}

uint32_t mls_group_width(const mls_group *g) {
  return g == NULL ? 0 : g->tree.n_leaves;
}

size_t mls_group_pending_count(const mls_group *g) {
  return g == NULL ? 0 : g->num_pending;
}

const mls_reinit *mls_group_reinit(const mls_group *g) {
  return g != NULL && g->has_reinit ? &g->reinit : NULL;
}

int mls_group_resumption_psk(const mls_group *g, uint64_t epoch, uint8_t *out,
                             size_t cap, size_t *out_len) {
  MG_ENSURE(g != NULL && out != NULL && out_len != NULL, MG_ERR_INVALID_ARG);
  const mls_group_resumption *r = mls_group_find_resumption_(g, epoch);
  MG_ENSURE(r != NULL, MG_ERR_NOT_FOUND);
  MG_ENSURE(cap >= g->ep->nh, MG_ERR_BUFFER_TOO_SMALL);
  memcpy(out, r->psk, g->ep->nh);
  *out_len = g->ep->nh;
  return 0;
}

int mls_group_ratchet_tree(const mls_group *g, mls_bytes *out) {
  mg_writer w;
  int rc;
  MG_ENSURE(g != NULL && out != NULL, MG_ERR_INVALID_ARG);
  mg_writer_zero(&w);
  MG_CHECK(mg_writer_init(&w, 1024, 0));
  MG_CHECK(mls_tree_encode(&w, &g->tree));
  MG_CHECK(mls_bytes_dup(out, mg_writer_data(&w), mg_writer_len(&w)));
out:
  mg_writer_cleanup(&w);
  return rc;
}
