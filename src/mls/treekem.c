/* TreeKEM (see treekem.h; RFC 9420 §7.4-§7.6, §7.9). */
#include "config.h"

#include "mls/treekem.h"

#include <stdlib.h>
#include <string.h>

#include "common/guard.h"
#include "common/secmem.h"
#include "crypto/mls_crypto.h"
#include "mls/constants.h"

#define UPDATE_PATH_LABEL "UpdatePathNode"

/* ------------------------------------------------------- private view */

void mls_tree_priv_zero(mls_tree_priv *p) {
  memset(p, 0, sizeof(*p));
  mg_hpke_key_zero(&p->leaf_key);
  for (size_t i = 0; i < MLS_TREE_MAX_DEPTH; i++) {
    mg_hpke_key_zero(&p->path_keys[i]);
  }
}

void mls_tree_priv_cleanup(mls_tree_priv *p) {
  if (p == NULL) {
    return;
  }
  mg_hpke_key_cleanup(&p->leaf_key);
  for (size_t i = 0; i < MLS_TREE_MAX_DEPTH; i++) {
    mg_hpke_key_cleanup(&p->path_keys[i]);
  }
  mg_memzero(p, sizeof(*p));
  mls_tree_priv_zero(p);
}

int mls_tree_priv_init(mls_tree_priv *p, const mls_suite *suite,
                       mls_leaf_idx leaf, const uint8_t *enc_priv,
                       size_t enc_priv_len) {
  MG_ENSURE(p != NULL && suite != NULL && enc_priv != NULL, MG_ERR_INVALID_ARG);
  MG_ENSURE(leaf.v < MLS_TM_MAX_LEAVES, MG_ERR_INVALID_ARG);
  mls_tree_priv_zero(p);
  p->suite = suite;
  p->leaf = leaf;
  int rc = mg_hpke_key_init(&p->leaf_key, suite->kem, enc_priv, enc_priv_len);
  if (rc < 0) {
    mls_tree_priv_cleanup(p);
  }
  return rc;
}

/* RFC 9420 §7.4: node_secret = DeriveSecret(path_secret, "node");
 * node_priv, node_pub = KEM.DeriveKeyPair(node_secret). */
static int derive_node_key(const mls_suite *s, mg_hpke_key *key,
                           const uint8_t *path_secret) {
  uint8_t ns[MG_MAX_HASH_LEN];
  size_t nh = s->kdf->nh;
  int rc;
  MG_CHECK(mls_derive_secret(s, ns, path_secret, nh, "node"));
  MG_CHECK(mg_hpke_key_derive(key, s->kem, ns, nh));
out:
  mg_memzero(ns, sizeof(ns));
  return rc;
}

static int priv_find(const mls_tree_priv *p, uint32_t x) {
  for (uint32_t i = 0; i < p->num_path; i++) {
    if (p->path_nodes[i].v == x) {
      return (int)i;
    }
  }
  return -1;
}

static int is_ancestor(uint32_t anc, uint32_t x) {
  mls_node_idx a = {anc}, n = {x};
  uint32_t ka = mls_tm_level(a), kx = mls_tm_level(n);
  if (ka <= kx) {
    return 0;
  }
  /* Same prefix above level ka: anc covers [anc - (2^ka - 1), anc + 2^ka - 1]. */
  uint32_t half = ((uint32_t)1 << ka) - 1u;
  return x + half >= anc && x <= anc + half;
}

/* Stores |key| (moved; the source is wiped) for node |x|. */
static int priv_put(mls_tree_priv *p, uint32_t x, mg_hpke_key *key) {
  int i = priv_find(p, x);
  if (i < 0) {
    MG_ENSURE(p->num_path < MLS_TREE_MAX_DEPTH, MG_ERR_LENGTH);
    i = (int)p->num_path++;
    p->path_nodes[i].v = x;
  }
  mg_hpke_key_cleanup(&p->path_keys[i]);
  p->path_keys[i] = *key;
  mg_hpke_key_cleanup(key);
  return 0;
}

int mls_tree_priv_set_path_secret(mls_tree_priv *p, mls_node_idx x,
                                  const uint8_t *path_secret,
                                  size_t path_secret_len) {
  mg_hpke_key key;
  int rc;
  MG_ENSURE(p != NULL && p->suite != NULL && path_secret != NULL,
            MG_ERR_INVALID_ARG);
  MG_ENSURE(path_secret_len == p->suite->kdf->nh, MG_ERR_INVALID_ARG);
  MG_ENSURE((x.v & 1u) == 1u && is_ancestor(x.v, 2u * p->leaf.v),
            MG_ERR_INVALID_ARG);
  MG_ENSURE(priv_find(p, x.v) >= 0 || p->num_path < MLS_TREE_MAX_DEPTH,
            MG_ERR_LENGTH);
  mg_hpke_key_zero(&key);
  MG_CHECK(derive_node_key(p->suite, &key, path_secret));
  MG_CHECK(priv_put(p, x.v, &key));
out:
  mg_hpke_key_cleanup(&key);
  return rc;
}

const mg_hpke_key *mls_tree_priv_key(const mls_tree_priv *p, mls_node_idx x) {
  if (p == NULL) {
    return NULL;
  }
  if (x.v == 2u * p->leaf.v) {
    return p->leaf_key.kem != NULL ? &p->leaf_key : NULL;
  }
  int i = priv_find(p, x.v);
  return i < 0 ? NULL : &p->path_keys[i];
}

static int key_matches(const mg_hpke_key *key, const mls_bytes *pub) {
  size_t len;
  const uint8_t *pk = mg_hpke_key_pub(key, &len);
  return pub->len == len && len > 0 && memcmp(pub->data, pk, len) == 0;
}

int mls_tree_priv_check(const mls_tree_priv *p, const mls_tree *t) {
  MG_ENSURE(p != NULL && t != NULL, MG_ERR_INVALID_ARG);
  if (p->leaf_key.kem != NULL) {
    const mls_leaf_node *ln = mls_tree_leaf(t, p->leaf);
    MG_ENSURE(ln != NULL && key_matches(&p->leaf_key, &ln->encryption_key),
              MG_ERR_BAD_KEY);
  }
  for (uint32_t i = 0; i < p->num_path; i++) {
    const mls_node *n = mls_tree_node(t, p->path_nodes[i]);
    MG_ENSURE(n != NULL && n->node_type == MLS_NODE_PARENT &&
                  key_matches(&p->path_keys[i], &n->u.parent.encryption_key),
              MG_ERR_BAD_KEY);
  }
  return 0;
}

void mls_tree_priv_prune(mls_tree_priv *p, const mls_tree *t) {
  if (p == NULL || t == NULL) {
    return;
  }
  if (p->leaf_key.kem != NULL) {
    const mls_leaf_node *ln = mls_tree_leaf(t, p->leaf);
    if (ln == NULL || !key_matches(&p->leaf_key, &ln->encryption_key)) {
      mg_hpke_key_cleanup(&p->leaf_key);
    }
  }
  uint32_t k = 0;
  for (uint32_t i = 0; i < p->num_path; i++) {
    const mls_node *n = mls_tree_node(t, p->path_nodes[i]);
    if (n != NULL && n->node_type == MLS_NODE_PARENT &&
        key_matches(&p->path_keys[i], &n->u.parent.encryption_key)) {
      if (k != i) {
        p->path_nodes[k] = p->path_nodes[i];
        p->path_keys[k] = p->path_keys[i];
        mg_hpke_key_cleanup(&p->path_keys[i]);
      }
      k++;
    } else {
      mg_hpke_key_cleanup(&p->path_keys[i]);
    }
  }
  p->num_path = k;
}

void mls_path_secrets_cleanup(mls_path_secrets *s) {
  if (s != NULL) {
    mg_memzero(s, sizeof(*s));
  }
}

/* ----------------------------------------------- installing a path */

/* The old leaf and direct path nodes, kept to undo a failed merge. */
typedef struct path_journal {
  mls_leaf_idx leaf;
  uint32_t n_dp;
  mls_node_idx dp[MLS_TREE_MAX_DEPTH];
  mls_node saved[MLS_TREE_MAX_DEPTH + 1]; /* [0]: the leaf */
} path_journal;

static void journal_discard(path_journal *j) {
  for (uint32_t i = 0; i <= j->n_dp; i++) {
    mls_node_cleanup(&j->saved[i]);
  }
}

/* Puts the old nodes back and frees the new ones. */
static void journal_rollback(mls_tree *t, path_journal *j) {
  mls_tree_swap_node(t, mls_tm_leaf_to_node(j->leaf), &j->saved[0]);
  for (uint32_t i = 0; i < j->n_dp; i++) {
    mls_tree_swap_node(t, j->dp[i], &j->saved[i + 1]);
  }
  journal_discard(j);
}

/* Blanks the leaf |l| and its direct path, moving the old nodes into |j|,
 * installs parent nodes with |keys| on the filtered direct path |fdp| (with
 * copath children |fcp|), and sets their parent hashes top down (RFC 9420
 * §7.5, §7.9).  Writes the parent hash the leaf must carry to |leaf_ph|
 * (empty when the path is empty).  On failure the tree is restored. */
static int path_install(mls_tree *t, path_journal *j, mls_leaf_idx l,
                        const mls_node_idx *fdp, const mls_node_idx *fcp,
                        uint32_t n, const mls_bytes *const *keys,
                        uint8_t *leaf_ph, size_t *leaf_ph_len) {
  mls_node fresh[MLS_TREE_MAX_DEPTH];
  int rc = 0;
  memset(fresh, 0, sizeof(fresh));
  memset(j, 0, sizeof(*j));
  j->leaf = l;
  MG_GUARD(mls_tm_direct_path(j->dp, &j->n_dp, MLS_TREE_MAX_DEPTH,
                              mls_tm_leaf_to_node(l), t->n_leaves));
  for (uint32_t i = 0; i < n; i++) {
    fresh[i].node_type = MLS_NODE_PARENT;
    rc = mls_bytes_copy(&fresh[i].u.parent.encryption_key, keys[i]);
    if (rc < 0) {
      for (uint32_t k = 0; k <= i; k++) {
        mls_node_cleanup(&fresh[k]);
      }
      return rc;
    }
  }
  /* Move the old nodes out (the journal starts blank); cannot fail. */
  mls_tree_swap_node(t, mls_tm_leaf_to_node(l), &j->saved[0]);
  for (uint32_t i = 0; i < j->n_dp; i++) {
    mls_tree_swap_node(t, j->dp[i], &j->saved[i + 1]);
  }
  /* The filtered direct path is part of the direct path, now blank: the
   * swap leaves |fresh| blank. */
  for (uint32_t i = 0; i < n; i++) {
    mls_tree_swap_node(t, fdp[i], &fresh[i]);
  }
  /* Parent hashes from the root down: each node's parent_hash is the
   * parent hash of the next node of the filtered direct path. */
  uint8_t ph[MG_MAX_HASH_LEN];
  size_t ph_len = 0;
  for (uint32_t i = n; i-- > 0;) {
    mls_parent_node *p = &t->nodes[fdp[i].v].u.parent;
    if (i + 1 < n) {
      MG_CHECK(mls_tree_parent_hash(t, fdp[i + 1], fcp[i + 1], ph, sizeof(ph),
                                    &ph_len));
      MG_CHECK(mls_bytes_dup(&p->parent_hash, ph, ph_len));
      mls_tree_invalidate(t, fdp[i]);
    }
  }
  *leaf_ph_len = 0;
  if (n > 0) {
    MG_CHECK(mls_tree_parent_hash(t, fdp[0], fcp[0], leaf_ph, MG_MAX_HASH_LEN,
                                  leaf_ph_len));
  }
  return 0;
out:
  journal_rollback(t, j);
  return rc;
}

/* Puts the (moved) leaf node |ln| at leaf |l|. */
static void place_leaf(mls_tree *t, mls_leaf_idx l, mls_leaf_node *ln) {
  mls_node nn;
  memset(&nn, 0, sizeof(nn));
  nn.node_type = MLS_NODE_LEAF;
  nn.u.leaf = *ln;
  memset(ln, 0, sizeof(*ln));
  /* The leaf slot is blank (path_install): |nn| comes back blank. */
  mls_tree_swap_node(t, mls_tm_leaf_to_node(l), &nn);
}

/* --------------------------------------------------------- committer */

int mls_treekem_generate(mls_tree *t, mls_tree_priv *out_priv,
                         mls_path_secrets *out_secrets,
                         mls_update_path *out_path, mls_leaf_idx from,
                         const mls_leaf_node *leaf_template,
                         const uint8_t *sig_priv, size_t sig_priv_len,
                         const uint8_t *group_id, size_t group_id_len) {
  mg_sig_key *key = NULL;
  MG_ENSURE(t != NULL && t->suite != NULL && sig_priv != NULL,
            MG_ERR_INVALID_ARG);
  int rc = t->suite->sig->key_from_priv(t->suite->sig, &key, sig_priv,
                                        sig_priv_len);
  if (rc < 0) {
    return rc == MG_ERR_NOMEM ? rc : MG_ERR_BAD_KEY;
  }
  rc = mls_treekem_generate_key(t, out_priv, out_secrets, out_path, from,
                                leaf_template, key, group_id, group_id_len);
  mg_sig_key_free(key);
  return rc;
}

int mls_treekem_generate_key(mls_tree *t, mls_tree_priv *out_priv,
                             mls_path_secrets *out_secrets,
                             mls_update_path *out_path, mls_leaf_idx from,
                             const mls_leaf_node *leaf_template,
                             const mg_sig_key *sig_key,
                             const uint8_t *group_id, size_t group_id_len) {
  mls_tree_priv priv;
  mls_path_secrets sec;
  mls_leaf_node ln;
  mls_update_path up;
  mls_node_idx fdp[MLS_TREE_MAX_DEPTH], fcp[MLS_TREE_MAX_DEPTH];
  mls_bytes pubs[MLS_TREE_MAX_DEPTH];
  const mls_bytes *pubp[MLS_TREE_MAX_DEPTH];
  path_journal j;
  uint8_t leaf_ph[MG_MAX_HASH_LEN];
  size_t leaf_ph_len = 0;
  uint32_t n = 0;
  int rc, installed = 0;

  MG_ENSURE(t != NULL && out_priv != NULL && out_secrets != NULL &&
                out_path != NULL && leaf_template != NULL && sig_key != NULL,
            MG_ERR_INVALID_ARG);
  MG_ENSURE(mls_tree_leaf(t, from) != NULL, MG_ERR_NOT_FOUND);
  const mls_suite *s = t->suite;
  size_t nh = s->kdf->nh;
  mls_tree_priv_zero(&priv);
  memset(&sec, 0, sizeof(sec));
  memset(&ln, 0, sizeof(ln));
  memset(&up, 0, sizeof(up));
  memset(pubs, 0, sizeof(pubs));
  priv.suite = s;
  priv.leaf = from;

  MG_CHECK(mls_tree_filtered_direct_path(t, from, fdp, fcp, &n));
  /* RFC 9420 §7.4: path_secret[0] is random, path_secret[i] =
   * DeriveSecret(path_secret[i-1], "path"); the commit secret is
   * path_secret[n]. */
  sec.nh = nh;
  sec.n = n;
  MG_CHECK(mg_random_bytes(n > 0 ? sec.secrets[0] : sec.commit_secret, nh));
  for (uint32_t i = 0; i < n; i++) {
    sec.nodes[i] = fdp[i];
    uint8_t *next = i + 1 < n ? sec.secrets[i + 1] : sec.commit_secret;
    MG_CHECK(mls_derive_secret(s, next, sec.secrets[i], nh, "path"));
    MG_CHECK(derive_node_key(s, &priv.path_keys[i], sec.secrets[i]));
    priv.path_nodes[i] = fdp[i];
    size_t pl;
    const uint8_t *pk = mg_hpke_key_pub(&priv.path_keys[i], &pl);
    MG_CHECK(mls_bytes_dup(&pubs[i], pk, pl));
    pubp[i] = &pubs[i];
  }
  priv.num_path = n;
  /* A fresh leaf key pair (RFC 9420 §7.4). */
  MG_CHECK(mg_hpke_key_generate(&priv.leaf_key, s->kem));

  MG_CHECK(mls_leaf_node_copy(&ln, leaf_template));
  {
    size_t pl;
    const uint8_t *pk = mg_hpke_key_pub(&priv.leaf_key, &pl);
    mls_bytes_cleanup(&ln.encryption_key);
    MG_CHECK(mls_bytes_dup(&ln.encryption_key, pk, pl));
  }
  ln.leaf_node_source = MLS_LEAF_SOURCE_COMMIT;
  memset(&ln.lifetime, 0, sizeof(ln.lifetime));
  mls_bytes_cleanup(&ln.parent_hash);

  /* The UpdatePath's public keys. */
  if (n > 0) {
    up.nodes = calloc(n, sizeof(*up.nodes));
    if (up.nodes == NULL) {
      MG_FAIL(MG_ERR_NOMEM);
    }
    up.num_nodes = n;
    for (uint32_t i = 0; i < n; i++) {
      MG_CHECK(mls_bytes_copy(&up.nodes[i].encryption_key, &pubs[i]));
    }
  }

  MG_CHECK(path_install(t, &j, from, fdp, fcp, n, pubp, leaf_ph, &leaf_ph_len));
  installed = 1;
  MG_CHECK(mls_bytes_dup(&ln.parent_hash, leaf_ph, leaf_ph_len));
  MG_CHECK(mls_leaf_node_sign_key(s, &ln, sig_key, group_id, group_id_len,
                                  from.v));
  MG_CHECK(mls_leaf_node_copy(&up.leaf_node, &ln));
  place_leaf(t, from, &ln);
  journal_discard(&j);
  installed = 0;
  mg_memzero(&j, sizeof(j));

  mls_update_path_cleanup(out_path);
  *out_path = up;
  memset(&up, 0, sizeof(up));
  *out_secrets = sec;
  *out_priv = priv;
  mls_tree_priv_zero(&priv);
  rc = 0;
out:
  if (installed) {
    journal_rollback(t, &j);
  }
  mls_update_path_cleanup(&up);
  mls_leaf_node_cleanup(&ln);
  for (uint32_t i = 0; i < MLS_TREE_MAX_DEPTH; i++) {
    mls_bytes_cleanup(&pubs[i]);
  }
  mls_path_secrets_cleanup(&sec);
  mls_tree_priv_cleanup(&priv);
  mg_memzero(leaf_ph, sizeof(leaf_ph));
  return rc;
}

static int is_excluded(uint32_t node, const mls_leaf_idx *excl, size_t n) {
  if ((node & 1u) != 0) {
    return 0;
  }
  for (size_t i = 0; i < n; i++) {
    if (excl[i].v == node / 2u) {
      return 1;
    }
  }
  return 0;
}

static const mls_bytes *node_encryption_key(const mls_tree *t, mls_node_idx x) {
  const mls_node *n = mls_tree_node(t, x);
  if (n == NULL) {
    return NULL;
  }
  return n->node_type == MLS_NODE_LEAF ? &n->u.leaf.encryption_key
                                       : &n->u.parent.encryption_key;
}

/* Resolution of |x| minus the excluded leaves, into |res| (capacity
 * t->n_leaves). */
static int copath_resolution(const mls_tree *t, mls_node_idx x,
                             const mls_leaf_idx *excl, size_t n_excl,
                             mls_node_idx *res, size_t *out_n) {
  size_t n = 0, k = 0;
  MG_GUARD(mls_tree_resolution(t, x, res, t->n_leaves, &n));
  for (size_t i = 0; i < n; i++) {
    if (!is_excluded(res[i].v, excl, n_excl)) {
      res[k++] = res[i];
    }
  }
  *out_n = k;
  return 0;
}

int mls_treekem_encrypt(const mls_tree *t, const mls_path_secrets *secrets,
                        mls_update_path *path, mls_leaf_idx from,
                        const uint8_t *ctx, size_t ctx_len,
                        const mls_leaf_idx *excluded, size_t num_excluded) {
  mls_node_idx fdp[MLS_TREE_MAX_DEPTH], fcp[MLS_TREE_MAX_DEPTH];
  mls_hpke_ciphertext *cts[MLS_TREE_MAX_DEPTH] = {0};
  size_t n_cts[MLS_TREE_MAX_DEPTH] = {0};
  mls_node_idx *res = NULL;
  uint32_t n = 0;
  int rc;
  MG_ENSURE(t != NULL && secrets != NULL && path != NULL &&
                (ctx != NULL || ctx_len == 0) &&
                (excluded != NULL || num_excluded == 0),
            MG_ERR_INVALID_ARG);
  const mls_suite *s = t->suite;
  MG_GUARD(mls_tree_filtered_direct_path(t, from, fdp, fcp, &n));
  MG_ENSURE(n == secrets->n && n == path->num_nodes &&
                secrets->nh == s->kdf->nh,
            MG_ERR_INVALID_ARG);
  for (uint32_t i = 0; i < n; i++) {
    MG_ENSURE(fdp[i].v == secrets->nodes[i].v, MG_ERR_INVALID_ARG);
  }
  res = malloc((size_t)t->n_leaves * sizeof(*res));
  if (res == NULL) {
    return MG_ERR_NOMEM;
  }
  for (uint32_t i = 0; i < n; i++) {
    size_t m = 0;
    MG_CHECK(copath_resolution(t, fcp[i], excluded, num_excluded, res, &m));
    if (m == 0) {
      continue;
    }
    cts[i] = calloc(m, sizeof(*cts[i]));
    if (cts[i] == NULL) {
      MG_FAIL(MG_ERR_NOMEM);
    }
    n_cts[i] = m;
    for (size_t r = 0; r < m; r++) {
      uint8_t enc[MG_HPKE_MAX_ENC_LEN];
      uint8_t ct[MG_MAX_HASH_LEN + MG_MAX_AEAD_TAG_LEN];
      size_t enc_len = 0, ct_len = 0;
      const mls_bytes *pk = node_encryption_key(t, res[r]);
      if (pk == NULL) {
        MG_FAIL(MG_ERR_INTERNAL);
      }
      /* RFC 9420 §7.6: EncryptWithLabel(pk, "UpdatePathNode",
       * group_context, path_secret). */
      MG_CHECK(mls_encrypt_with_label(s, enc, sizeof(enc), &enc_len, ct,
                                      sizeof(ct), &ct_len, pk->data, pk->len,
                                      UPDATE_PATH_LABEL, ctx, ctx_len,
                                      secrets->secrets[i], secrets->nh));
      MG_CHECK(mls_bytes_dup(&cts[i][r].kem_output, enc, enc_len));
      MG_CHECK(mls_bytes_dup(&cts[i][r].ciphertext, ct, ct_len));
    }
  }
  for (uint32_t i = 0; i < n; i++) {
    mls_update_path_node *pn = &path->nodes[i];
    for (size_t r = 0; r < pn->num_encrypted_path_secret; r++) {
      mls_hpke_ciphertext_cleanup(&pn->encrypted_path_secret[r]);
    }
    free(pn->encrypted_path_secret);
    pn->encrypted_path_secret = cts[i];
    pn->num_encrypted_path_secret = n_cts[i];
    cts[i] = NULL;
    n_cts[i] = 0;
  }
  rc = 0;
out:
  for (uint32_t i = 0; i < MLS_TREE_MAX_DEPTH; i++) {
    for (size_t r = 0; r < n_cts[i] && cts[i] != NULL; r++) {
      mls_hpke_ciphertext_cleanup(&cts[i][r]);
    }
    free(cts[i]);
  }
  free(res);
  return rc;
}

/* ---------------------------------------------------------- receiver */

int mls_treekem_merge(mls_tree *t, mls_leaf_idx sender,
                      const mls_update_path *path, const uint8_t *group_id,
                      size_t group_id_len) {
  mls_node_idx fdp[MLS_TREE_MAX_DEPTH], fcp[MLS_TREE_MAX_DEPTH];
  const mls_bytes *keys[MLS_TREE_MAX_DEPTH];
  mls_leaf_node ln;
  path_journal j;
  uint8_t leaf_ph[MG_MAX_HASH_LEN];
  size_t leaf_ph_len = 0;
  uint32_t n = 0;
  int rc;
  MG_ENSURE(t != NULL && path != NULL && (group_id != NULL || group_id_len == 0),
            MG_ERR_INVALID_ARG);
  MG_ENSURE(mls_tree_leaf(t, sender) != NULL, MG_ERR_SENDER);
  /* RFC 9420 §7.3: a leaf in an UpdatePath has source commit. */
  MG_ENSURE(path->leaf_node.leaf_node_source == MLS_LEAF_SOURCE_COMMIT,
            MG_ERR_LEAF_NODE_SOURCE);
  MG_GUARD(mls_tree_filtered_direct_path(t, sender, fdp, fcp, &n));
  /* RFC 9420 §7.6: one UpdatePathNode per filtered direct path node. */
  MG_ENSURE(path->num_nodes == n, MG_ERR_PATH);
  for (uint32_t i = 0; i < n; i++) {
    MG_ENSURE(path->nodes[i].encryption_key.len == t->suite->kem->pub_len,
              MG_ERR_PATH);
    keys[i] = &path->nodes[i].encryption_key;
  }
  MG_ENSURE(path->leaf_node.encryption_key.len == t->suite->kem->pub_len,
            MG_ERR_PATH);
  memset(&ln, 0, sizeof(ln));
  MG_GUARD(mls_leaf_node_copy(&ln, &path->leaf_node));
  rc = path_install(t, &j, sender, fdp, fcp, n, keys, leaf_ph, &leaf_ph_len);
  if (rc < 0) {
    mls_leaf_node_cleanup(&ln);
    return rc;
  }
  /* RFC 9420 §7.9.2: the leaf's parent_hash must be the parent hash of
   * the first node of its filtered direct path. */
  if (ln.parent_hash.len != leaf_ph_len ||
      (leaf_ph_len > 0 && memcmp(ln.parent_hash.data, leaf_ph, leaf_ph_len) != 0)) {
    MG_FAIL(MG_ERR_PARENT_HASH);
  }
  rc = mls_leaf_node_verify(t->suite, &ln, group_id, group_id_len, sender.v);
  if (rc == MG_ERR_VERIFY || rc == MG_ERR_BAD_KEY) {
    rc = MG_ERR_LEAF_SIGNATURE;
  }
  MG_CHECK(rc);
  place_leaf(t, sender, &ln);
  journal_discard(&j);
  return 0;
out:
  journal_rollback(t, &j);
  mls_leaf_node_cleanup(&ln);
  return rc;
}

int mls_treekem_decrypt(const mls_tree *t, mls_tree_priv *priv,
                        uint8_t *commit_secret, size_t cs_cap, size_t *cs_len,
                        uint8_t *path_secret, size_t ps_cap, size_t *ps_len,
                        mls_leaf_idx sender, const mls_update_path *path,
                        const uint8_t *ctx, size_t ctx_len,
                        const mls_leaf_idx *excluded, size_t num_excluded) {
  mls_node_idx fdp[MLS_TREE_MAX_DEPTH], fcp[MLS_TREE_MAX_DEPTH];
  mg_hpke_key keys[MLS_TREE_MAX_DEPTH];
  uint8_t ps[MG_MAX_HASH_LEN], first[MG_MAX_HASH_LEN], next[MG_MAX_HASH_LEN];
  mls_node_idx *res = NULL;
  uint32_t n = 0, k = 0;
  size_t m = 0, pt_len = 0;
  int rc;
  MG_ENSURE(t != NULL && priv != NULL && path != NULL &&
                commit_secret != NULL && cs_len != NULL &&
                (path_secret == NULL || ps_len != NULL) &&
                (ctx != NULL || ctx_len == 0) &&
                (excluded != NULL || num_excluded == 0),
            MG_ERR_INVALID_ARG);
  const mls_suite *s = t->suite;
  size_t nh = s->kdf->nh;
  MG_ENSURE(priv->suite == s && priv->leaf.v != sender.v, MG_ERR_INVALID_ARG);
  MG_ENSURE(cs_cap >= nh && (path_secret == NULL || ps_cap >= nh),
            MG_ERR_BUFFER_TOO_SMALL);
  for (uint32_t i = 0; i < MLS_TREE_MAX_DEPTH; i++) {
    mg_hpke_key_zero(&keys[i]);
  }
  MG_GUARD(mls_tree_filtered_direct_path(t, sender, fdp, fcp, &n));
  MG_ENSURE(path->num_nodes == n, MG_ERR_PATH);
  /* The lowest common ancestor: the filtered path node whose copath child
   * holds the receiver's leaf. */
  for (k = 0; k < n; k++) {
    if (is_ancestor(fcp[k].v, 2u * priv->leaf.v) ||
        fcp[k].v == 2u * priv->leaf.v) {
      break;
    }
  }
  MG_ENSURE(k < n, MG_ERR_PATH);
  res = malloc((size_t)t->n_leaves * sizeof(*res));
  if (res == NULL) {
    return MG_ERR_NOMEM;
  }
  MG_CHECK(copath_resolution(t, fcp[k], excluded, num_excluded, res, &m));
  const mls_update_path_node *pn = &path->nodes[k];
  if (pn->num_encrypted_path_secret != m) {
    MG_FAIL(MG_ERR_PATH);
  }
  const mg_hpke_key *dk = NULL;
  size_t r;
  for (r = 0; r < m; r++) {
    dk = mls_tree_priv_key(priv, res[r]);
    if (dk != NULL) {
      break;
    }
  }
  if (dk == NULL) {
    MG_FAIL(MG_ERR_PATH);
  }
  const mls_hpke_ciphertext *hc = &pn->encrypted_path_secret[r];
  if (hc->ciphertext.len != nh + s->aead->tag_len) {
    MG_FAIL(MG_ERR_PATH);
  }
  MG_CHECK(mls_decrypt_with_label_key(
      s, ps, sizeof(ps), &pt_len, dk, UPDATE_PATH_LABEL, ctx, ctx_len,
      hc->kem_output.data, hc->kem_output.len, hc->ciphertext.data,
      hc->ciphertext.len));
  if (pt_len != nh) {
    MG_FAIL(MG_ERR_PATH);
  }
  memcpy(first, ps, nh);
  /* Derive upward and check every public key (RFC 9420 §7.5). */
  for (uint32_t i = k; i < n; i++) {
    MG_CHECK(derive_node_key(s, &keys[i], ps));
    if (!key_matches(&keys[i], &path->nodes[i].encryption_key)) {
      MG_FAIL(MG_ERR_PATH);
    }
    MG_CHECK(mls_derive_secret(s, next, ps, nh, "path"));
    memcpy(ps, next, nh);
  }
  /* Commit: forget the keys at and above the common ancestor, keep the
   * derived ones. */
  {
    mls_node_idx ca = fdp[k];
    uint32_t ca_level = mls_tm_level(ca);
    uint32_t w = 0;
    for (uint32_t i = 0; i < priv->num_path; i++) {
      if (mls_tm_level(priv->path_nodes[i]) >= ca_level) {
        mg_hpke_key_cleanup(&priv->path_keys[i]);
        continue;
      }
      if (w != i) {
        priv->path_nodes[w] = priv->path_nodes[i];
        priv->path_keys[w] = priv->path_keys[i];
        mg_hpke_key_cleanup(&priv->path_keys[i]);
      }
      w++;
    }
    priv->num_path = w;
    for (uint32_t i = k; i < n; i++) {
      MG_CHECK(priv_put(priv, fdp[i].v, &keys[i]));
    }
  }
  memcpy(commit_secret, ps, nh);
  *cs_len = nh;
  if (path_secret != NULL) {
    memcpy(path_secret, first, nh);
    *ps_len = nh;
  }
  rc = 0;
out:
  for (uint32_t i = 0; i < MLS_TREE_MAX_DEPTH; i++) {
    mg_hpke_key_cleanup(&keys[i]);
  }
  mg_memzero(ps, sizeof(ps));
  mg_memzero(first, sizeof(first));
  mg_memzero(next, sizeof(next));
  free(res);
  return rc;
}
