/*
 * The MLS group state and joining from a Welcome (RFC 9420 §12.4.3.1).
 */
#include "config.h"

#include "mls/group.h"

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

/* A past epoch kept so late application messages still decrypt (issue 4:
 * "retention of secret trees for a configurable number of past epochs").
 * Not filled yet; mls_group_free already releases it. */
typedef struct mls_group_past_epoch {
  uint64_t epoch;
  size_t nh;
  uint8_t sender_data_secret[MG_MAX_HASH_LEN];
  mls_secret_tree *st;
} mls_group_past_epoch;

/* A proposal received in this epoch, kept until a Commit covers it
 * (RFC 9420 §12.2).  Not filled yet. */
typedef struct mls_group_pending_proposal {
  mls_bytes ref; /* ProposalRef */
  mls_leaf_idx sender;
  mls_proposal proposal;
} mls_group_pending_proposal;

struct mls_group {
  const mls_suite *suite;
  mls_group_context ctx;
  mls_tree tree;        /* public ratchet tree */
  mls_tree_priv priv;   /* our private view (secrets) */
  mls_leaf_idx self;
  mg_sig_key *sig_key;  /* prepared signature key */
  mls_bytes sig_priv;   /* its private bytes (secret; for serialization) */
  mls_epoch_secrets *ep;
  mls_secret_tree *st;
  mls_secret_tree_config st_cfg;
  mls_transcript transcript; /* confirmed and interim transcript hashes */
  mls_group_past_epoch *past;
  size_t num_past;
  mls_group_pending_proposal *pending;
  size_t num_pending;
};

static mls_group *group_alloc(const mls_suite *suite) {
  mls_group *g = calloc(1, sizeof(*g));
  if (g == NULL) {
    return NULL;
  }
  g->suite = suite;
  mls_tree_zero(&g->tree);
  mls_tree_priv_zero(&g->priv);
  mls_transcript_init(&g->transcript);
  g->st_cfg.max_forward = MLS_SECRET_TREE_DEFAULT_MAX_FORWARD;
  g->st_cfg.max_retained = MLS_SECRET_TREE_DEFAULT_MAX_RETAINED;
  return g;
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
    mls_secret_tree_free(g->past[i].st);
  }
  if (g->past != NULL) {
    mg_memzero(g->past, g->num_past * sizeof(*g->past));
  }
  free(g->past);
  for (size_t i = 0; i < g->num_pending; i++) {
    mls_bytes_cleanup(&g->pending[i].ref);
    mls_proposal_cleanup(&g->pending[i].proposal);
  }
  free(g->pending);
  mg_memzero(g, sizeof(*g));
  free(g);
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
static int check_leaves(const mls_tree *t, const mls_group_context *ctx,
                        uint64_t now) {
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
    if (x->leaf_node_source == MLS_LEAF_SOURCE_KEY_PACKAGE) {
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
  /* Our KeyPackage and its private keys (RFC 9420 §10.1). */
  MG_GUARD(mls_key_package_verify(kp));
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

  g = group_alloc(suite);
  MG_ENSURE(g != NULL, MG_ERR_NOMEM);
  if (p->st_cfg != NULL) {
    g->st_cfg = *p->st_cfg;
  }
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
  MG_CHECK(check_leaves(&g->tree, &gi.group_context, p->now));

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
                               g->tree.n_leaves, &g->st_cfg));
  MG_CHECK(mls_bytes_dup(&g->sig_priv, p->sig_priv, p->sig_priv_len));
  rc = suite->sig->key_from_priv(suite->sig, &g->sig_key, p->sig_priv,
                                 p->sig_priv_len);
  if (rc < 0) {
    MG_FAIL(rc == MG_ERR_NOMEM ? rc : MG_ERR_BAD_KEY);
  }
  MG_CHECK(mls_group_context_copy(&g->ctx, &gi.group_context));

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
