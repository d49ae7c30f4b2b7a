/*
 * Proposals and Commits (RFC 9420 §12): validating a proposal list
 * (§12.1, §12.2), applying it (§12.3), creating a Commit and its Welcome
 * (§12.4.1, §12.4.3) and processing one (§12.4.2).
 *
 * Creating and processing share one path: the committer builds the same
 * proposal list a receiver resolves, and both run validate_and_apply on a
 * copy of the tree, so a committer can never send a Commit that a
 * conforming receiver rejects for a proposal rule.  The caller's state is
 * never changed by a Commit; the new epoch is a new object (build_next).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/guard.h"
#include "common/secmem.h"
#include "crypto/mls_crypto.h"
#include "mls/constants.h"
#include "mls/framing.h"
#include "mls/group.h"
#include "mls/group_commit_int.h"
#include "mls/group_int.h"
#include "mls/welcome.h"

/* ------------------------------------------------------ applied lists */

void mls_applied_cleanup_(mls_applied *a) {
  if (a == NULL) {
    return;
  }
  mls_tree_cleanup(&a->tree);
  mls_extension_list_cleanup(&a->ext);
  free(a->added);
  free(a->psks);
  free(a->types);
  memset(a, 0, sizeof(*a));
}

/* RFC 9420 §7.3 for a LeafNode in an Update proposal from |leaf|:
 * source update, signature over the group id and leaf index, its own
 * capabilities, and an encryption key other than the one it replaces. */
int mls_group_check_update_leaf_(const mls_group *g, uint32_t leaf,
                                 const mls_leaf_node *ln,
                                 const mls_process_params *pp) {
  mls_leaf_idx li = {leaf};
  const mls_leaf_node *cur = mls_tree_leaf(&g->tree, li);
  MG_ENSURE(cur != NULL, MG_ERR_SENDER);
  MG_ENSURE(ln->leaf_node_source == MLS_LEAF_SOURCE_UPDATE,
            MG_ERR_LEAF_NODE_SOURCE);
  MG_GUARD(mls_leaf_node_verify(g->suite, ln, g->ctx.group_id.data,
                                g->ctx.group_id.len, leaf));
  MG_GUARD(mls_leaf_node_check_capabilities(ln));
  MG_ENSURE(!mls_bytes_eq(&ln->encryption_key, &cur->encryption_key),
            MG_ERR_DUPLICATE_KEY);
  if (pp != NULL && pp->credential_check != NULL &&
      pp->credential_check(pp->credential_arg, &ln->credential,
                           ln->signature_key.data,
                           ln->signature_key.len) != 0) {
    return MG_ERR_CREDENTIAL;
  }
  return 0;
}

/* The checks of one proposal on its own (RFC 9420 §12.1) that do not
 * depend on the rest of the list.  |sender| is the proposer. */
int mls_group_check_proposal_(const mls_group *g, const mls_proposal *p,
                              const mls_sender *sender,
                              const mls_process_params *pp) {
  const mls_suite *s = g->suite;
  switch (p->proposal_type) {
  case MLS_PROPOSAL_ADD: {
    mls_key_package_policy pol;
    memset(&pol, 0, sizeof(pol));
    pol.cipher_suite = s->id;
    pol.now = pp != NULL ? pp->now : 0;
    if (pp != NULL) {
      pol.credential_check = pp->credential_check;
      pol.credential_arg = pp->credential_arg;
    }
    /* The group-dependent capability checks run on the whole list
     * (validate_and_apply), after a GroupContextExtensions proposal. */
    return mls_key_package_validate(&p->add.key_package, &pol);
  }
  case MLS_PROPOSAL_UPDATE:
    MG_ENSURE(sender->sender_type == MLS_SENDER_MEMBER, MG_ERR_SENDER);
    return mls_group_check_update_leaf_(g, sender->leaf_index,
                                        &p->update.leaf_node, pp);
  case MLS_PROPOSAL_REMOVE: {
    mls_leaf_idx li = {p->remove.removed};
    MG_ENSURE(mls_tree_leaf(&g->tree, li) != NULL, MG_ERR_PROPOSAL);
    return 0;
  }
  case MLS_PROPOSAL_PSK:
    MG_ENSURE(p->psk.psk.psk_nonce.len == s->kdf->nh, MG_ERR_PSK);
    MG_ENSURE(p->psk.psk.psktype != MLS_PSK_RESUMPTION ||
                  p->psk.psk.usage == MLS_RESUMPTION_APPLICATION,
              MG_ERR_PSK);
    return 0;
  case MLS_PROPOSAL_REINIT:
    MG_ENSURE(p->reinit.version >= g->ctx.version, MG_ERR_PROPOSAL);
    return 0;
  case MLS_PROPOSAL_EXTERNAL_INIT:
    /* Only in an external Commit, by value (§12.2). */
    MG_ENSURE(sender->sender_type == MLS_SENDER_NEW_MEMBER_COMMIT,
              MG_ERR_PROPOSAL);
    return 0;
  case MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS:
    return 0;
  default:
    return MG_ERR_PROPOSAL;
  }
}

/* Whether |key| is the encryption key of any node of |t|. */
static int key_in_tree(const mls_tree *t, const mls_bytes *key) {
  uint32_t w = mls_tree_width(t);
  for (uint32_t x = 0; x < w; x++) {
    const mls_node *n = &t->nodes[x];
    if ((n->node_type == MLS_NODE_LEAF &&
         mls_bytes_eq(&n->u.leaf.encryption_key, key)) ||
        (n->node_type == MLS_NODE_PARENT &&
         mls_bytes_eq(&n->u.parent.encryption_key, key))) {
      return 1;
    }
  }
  return 0;
}

/* Whether |key| is the signature key of any leaf of |t| other than
 * |except|. */
static int sig_key_in_tree(const mls_tree *t, const mls_bytes *key,
                           uint32_t except) {
  for (uint32_t l = 0; l < t->n_leaves; l++) {
    const mls_node *n = &t->nodes[2u * l];
    if (l != except && n->node_type == MLS_NODE_LEAF &&
        mls_bytes_eq(&n->u.leaf.signature_key, key)) {
      return 1;
    }
  }
  return 0;
}

int mls_group_check_new_leaves_(const mls_tree *t, const mls_leaf_idx *leaves,
                                size_t n) {
  uint32_t w = mls_tree_width(t);
  for (size_t k = 0; k < n; k++) {
    const mls_leaf_node *nl = mls_tree_leaf(t, leaves[k]);
    uint32_t self = 2u * leaves[k].v;
    if (nl == NULL) {
      return MG_ERR_INTERNAL;
    }
    for (uint32_t x = 0; x < w; x++) {
      const mls_node *nd = &t->nodes[x];
      if (x == self || nd->node_type == MLS_NODE_BLANK) {
        continue;
      }
      if (nd->node_type == MLS_NODE_LEAF) {
        if (mls_bytes_eq(&nd->u.leaf.encryption_key, &nl->encryption_key) ||
            mls_bytes_eq(&nd->u.leaf.signature_key, &nl->signature_key)) {
          return MG_ERR_DUPLICATE_KEY;
        }
      } else if (mls_bytes_eq(&nd->u.parent.encryption_key,
                              &nl->encryption_key)) {
        return MG_ERR_DUPLICATE_KEY;
      }
    }
  }
  return 0;
}

int mls_group_validate_and_apply_(const mls_group *g, const mls_cprop *props,
                                  size_t n, const mls_sender *committer,
                                  const mls_process_params *pp,
                                  mls_applied *a) {
  size_t n_add = 0, n_upd = 0, n_rem = 0, n_psk = 0, n_reinit = 0;
  size_t n_ext_init = 0, n_gce = 0;
  uint32_t *touched = NULL; /* leaves with an Update or Remove */
  size_t n_touched = 0;
  int external = committer->sender_type == MLS_SENDER_NEW_MEMBER_COMMIT;
  int rc;

  memset(a, 0, sizeof(*a));
  mls_tree_zero(&a->tree);
  if (n > 0) {
    a->types = calloc(n, sizeof(*a->types));
    touched = calloc(n, sizeof(*touched));
    a->added = calloc(n, sizeof(*a->added));
    a->psks = calloc(n, sizeof(*a->psks));
    MG_REQUIRE(a->types != NULL && touched != NULL && a->added != NULL &&
                   a->psks != NULL,
               MG_ERR_NOMEM);
  }

  /* 1. Each proposal on its own (§12.1), and the list rules (§12.2). */
  for (size_t i = 0; i < n; i++) {
    const mls_proposal *p = props[i].p;
    a->types[i] = p->proposal_type;
    MG_CHECK(mls_group_check_proposal_(g, p, &props[i].sender, pp));
    switch (p->proposal_type) {
    case MLS_PROPOSAL_ADD:
      n_add++;
      break;
    case MLS_PROPOSAL_UPDATE:
    case MLS_PROPOSAL_REMOVE: {
      uint32_t leaf = p->proposal_type == MLS_PROPOSAL_UPDATE
                          ? props[i].sender.leaf_index
                          : p->remove.removed;
      if (p->proposal_type == MLS_PROPOSAL_UPDATE) {
        n_upd++;
        /* "an Update proposal generated by the committer" */
        MG_REQUIRE(!(committer->sender_type == MLS_SENDER_MEMBER &&
                     leaf == committer->leaf_index),
                   MG_ERR_PROPOSAL);
      } else {
        n_rem++;
        /* "a Remove proposal that removes the committer" */
        MG_REQUIRE(!(committer->sender_type == MLS_SENDER_MEMBER &&
                     leaf == committer->leaf_index),
                   MG_ERR_PROPOSAL);
      }
      for (size_t k = 0; k < n_touched; k++) {
        MG_REQUIRE(touched[k] != leaf, MG_ERR_PROPOSAL);
      }
      touched[n_touched++] = leaf;
      break;
    }
    case MLS_PROPOSAL_PSK:
      for (size_t k = 0; k < a->num_psks; k++) {
        MG_REQUIRE(!mls_psk_id_eq(a->psks[k], &p->psk.psk), MG_ERR_PROPOSAL);
      }
      a->psks[a->num_psks++] = &p->psk.psk;
      n_psk++;
      break;
    case MLS_PROPOSAL_REINIT:
      n_reinit++;
      a->reinit = &p->reinit;
      break;
    case MLS_PROPOSAL_EXTERNAL_INIT:
      n_ext_init++;
      a->ext_init = &p->external_init;
      /* by value only */
      MG_REQUIRE(props[i].pend == NULL, MG_ERR_PROPOSAL);
      break;
    case MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS:
      n_gce++;
      break;
    default:
      MG_FAIL(MG_ERR_PROPOSAL);
    }
  }
  if (external) {
    /* "The Commit MUST NOT include any proposals by reference, since an
     * external joiner cannot determine the validity of proposals sent
     * within the group" (§12.4.3.2). */
    for (size_t i = 0; i < n; i++) {
      MG_REQUIRE(props[i].pend == NULL, MG_ERR_PROPOSAL);
    }
    MG_REQUIRE(n_ext_init == 1 && n_rem <= 1 &&
                   n_add + n_upd + n_reinit + n_gce == 0,
               MG_ERR_PROPOSAL);
  } else {
    MG_REQUIRE(n_ext_init == 0 && n_gce <= 1 &&
                   (n_reinit == 0 || n == 1),
               MG_ERR_PROPOSAL);
  }

  /* 2. Apply (§12.3): GroupContextExtensions, Updates, Removes, Adds. */
  MG_CHECK(mls_tree_copy(&a->tree, &g->tree));
  const mls_extension_list *new_ext = &g->ctx.extensions;
  for (size_t i = 0; i < n; i++) {
    if (props[i].p->proposal_type == MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS) {
      new_ext = &props[i].p->group_context_extensions.extensions;
      a->has_gce = 1;
    }
  }
  MG_CHECK(mls_extension_list_copy(&a->ext, new_ext));
  for (size_t i = 0; i < n; i++) {
    const mls_proposal *p = props[i].p;
    if (p->proposal_type != MLS_PROPOSAL_UPDATE) {
      continue;
    }
    mls_leaf_idx li = {props[i].sender.leaf_index};
    MG_CHECK(mls_tree_update_leaf(&a->tree, li, &p->update.leaf_node));
    if (li.v == g->self.v) {
      a->self_update = props[i].pend;
    }
  }
  for (size_t i = 0; i < n; i++) {
    const mls_proposal *p = props[i].p;
    if (p->proposal_type != MLS_PROPOSAL_REMOVE) {
      continue;
    }
    mls_leaf_idx li = {p->remove.removed};
    rc = mls_tree_remove_leaf(&a->tree, li);
    MG_REQUIRE(rc >= 0, rc == MG_ERR_NOT_FOUND ? MG_ERR_PROPOSAL : rc);
    if (li.v == g->self.v) {
      a->self_removed = 1;
    }
  }
  for (size_t i = 0; i < n; i++) {
    const mls_proposal *p = props[i].p;
    if (p->proposal_type != MLS_PROPOSAL_ADD) {
      continue;
    }
    const mls_leaf_node *ln = &p->add.key_package.leaf_node;
    /* "a KeyPackage that represents a client already in the group" /
     * "multiple Add proposals ... the same client": same signature key. */
    MG_REQUIRE(!sig_key_in_tree(&a->tree, &ln->signature_key, UINT32_MAX),
               MG_ERR_DUPLICATE_KEY);
    mls_leaf_idx li;
    MG_CHECK(mls_tree_add_leaf(&a->tree, &li, ln));
    a->added[a->num_added++] = li;
  }

  /* 3. The resulting tree and GroupContext (§12.2 last rule, §7.3, §12.1.7,
   * §13): keys unique; every leaf supports the group's suite, the required
   * capabilities, every extension of the GroupContext and every member's
   * credential type. */
  /* The tree before the Commit had unique keys (checked at join, kept by
   * every Commit), so only the leaves this list changed can collide: one
   * pass over the tree, not a sort of every key (O(n k), k small). */
  {
    mls_leaf_idx changed[2 * MLS_TREE_MAX_DEPTH];
    size_t n_changed = 0;
    for (size_t i = 0; i < a->num_added; i++) {
      if (n_changed < MG_ARRAY_LEN(changed)) {
        changed[n_changed++] = a->added[i];
      }
    }
    for (size_t i = 0; i < n; i++) {
      if (props[i].p->proposal_type == MLS_PROPOSAL_UPDATE &&
          n_changed < MG_ARRAY_LEN(changed)) {
        changed[n_changed].v = props[i].sender.leaf_index;
        n_changed++;
      }
    }
    if (a->num_added + n_upd > MG_ARRAY_LEN(changed)) {
      /* Many new leaves: the full check is as cheap. */
      rc = mls_tree_check_unique_keys(&a->tree);
    } else {
      rc = mls_group_check_new_leaves_(&a->tree, changed, n_changed);
    }
    MG_REQUIRE(rc >= 0, rc);
  }
  if (a->has_gce || n_add > 0 || n_upd > 0) {
    mls_group_context tmp = g->ctx;
    tmp.extensions = a->ext;
    MG_CHECK(mls_group_check_leaves_(&a->tree, &tmp, 0, 0));
  }
  if (a->has_gce || n_add > 0) {
    for (uint32_t l = 0; l < a->tree.n_leaves; l++) {
      mls_leaf_idx li = {l};
      const mls_leaf_node *x = mls_tree_leaf(&a->tree, li);
      if (x == NULL) {
        continue;
      }
      for (size_t e = 0; e < a->ext.n; e++) {
        MG_REQUIRE(mls_capabilities_supports_extension(
                       &x->capabilities, a->ext.items[e].extension_type),
                   MG_ERR_CAPABILITIES);
      }
    }
  }
  rc = 0;
out:
  free(touched);
  if (rc < 0) {
    mls_applied_cleanup_(a);
  }
  return rc;
}

/* ------------------------------------------------------------ PSKs */

int mls_group_psk_secret_(const mls_group *g, const mls_applied *a,
                          mls_psk_lookup_fn lookup, void *arg, uint8_t *out) {
  const mls_suite *s = g->suite;
  mls_bytes *psks = NULL;
  mls_psk_id *ids = NULL;
  int rc;
  if (a->num_psks == 0) {
    return mls_psk_secret(s, out, NULL, NULL, 0);
  }
  psks = calloc(a->num_psks, sizeof(*psks));
  ids = calloc(a->num_psks, sizeof(*ids));
  MG_REQUIRE(psks != NULL && ids != NULL, MG_ERR_NOMEM);
  for (size_t i = 0; i < a->num_psks; i++) {
    const mls_psk_id *id = a->psks[i];
    ids[i] = *id; /* shallow: mls_psk_secret only reads */
    if (id->psktype == MLS_PSK_RESUMPTION &&
        mls_bytes_eq(&id->psk_group_id, &g->ctx.group_id)) {
      const mls_group_resumption *r = mls_group_find_resumption_(g, id->psk_epoch);
      MG_REQUIRE(r != NULL, MG_ERR_PSK);
      MG_CHECK(mls_bytes_dup(&psks[i], r->psk, s->kdf->nh));
      continue;
    }
    MG_REQUIRE(lookup != NULL, MG_ERR_PSK);
    rc = lookup(arg, id, &psks[i]);
    if (rc < 0) {
      MG_FAIL(rc == MG_ERR_NOMEM ? rc : MG_ERR_PSK);
    }
  }
  MG_CHECK(mls_psk_secret(s, out, ids, psks, a->num_psks));
  rc = 0;
out:
  if (psks != NULL) {
    for (size_t i = 0; i < a->num_psks; i++) {
      mls_bytes_cleanup_secret(&psks[i]);
    }
  }
  free(psks);
  free(ids);
  return rc;
}

/* ------------------------------------------------------ the new epoch */

/* The members' signature keys of |t|, for a past epoch. */
static int sig_pubs_of(const mls_tree *t, mls_group_past_epoch *pe) {
  size_t pl = t->suite->sig->pub_len;
  MG_GUARD(mls_group_past_alloc_pubs_(pe, t->n_leaves, pl));
  for (uint32_t l = 0; l < t->n_leaves; l++) {
    mls_leaf_idx li = {l};
    const mls_leaf_node *x = mls_tree_leaf(t, li);
    if (x != NULL && x->signature_key.len == pl) {
      memcpy(pe->sig_pubs + (size_t)l * pl, x->signature_key.data, pl);
      pe->sig_present[l] = 1;
    }
  }
  return 0;
}

int mls_group_build_next_(const mls_group *g, mls_next_parts *np,
                          mls_group **out) {
  mls_group *ng = NULL;
  const mls_suite *s = g->suite;
  size_t nh = s->kdf->nh;
  int rc;

  *out = NULL;
  ng = mls_group_alloc_(s, &g->cfg);
  MG_ENSURE(ng != NULL, MG_ERR_NOMEM);
  /* Move the parts in. */
  ng->ctx = np->ctx;
  memset(&np->ctx, 0, sizeof(np->ctx));
  ng->tree = np->tree;
  mls_tree_zero(&np->tree);
  ng->priv = np->priv;
  mls_tree_priv_zero(&np->priv);
  ng->self = np->self;
  ng->ep = np->ep;
  np->ep = NULL;
  ng->transcript = np->transcript;
  if (np->new_sig_priv != NULL) {
    MG_CHECK(mls_group_set_sig_key_(ng, np->new_sig_priv, np->new_sig_priv_len));
  } else {
    /* The same key: shared, not prepared again (that costs a signature). */
    MG_CHECK(mls_group_share_sig_key_(ng, g));
  }
  MG_CHECK(mls_secret_tree_new(&ng->st, s, ng->ep->encryption_secret, nh,
                               ng->tree.n_leaves, &g->cfg.st));
  /* Past epochs: the retained ones of |g| plus |g|'s current epoch,
   * at most max_past_epochs, oldest dropped. */
  {
    size_t total = g->num_past + 1;
    size_t keep = total > g->cfg.max_past_epochs ? g->cfg.max_past_epochs
                                                 : total;
    if (keep > 0) {
      ng->past = calloc(keep, sizeof(*ng->past));
      MG_REQUIRE(ng->past != NULL, MG_ERR_NOMEM);
      size_t from_old = keep - 1; /* how many of g->past to keep */
      for (size_t i = 0; i < from_old; i++) {
        MG_CHECK(mls_group_past_copy_(&ng->past[i],
                                      &g->past[g->num_past - from_old + i]));
        ng->num_past = i + 1;
      }
      mls_group_past_epoch *pe = &ng->past[from_old];
      MG_CHECK(mls_group_context_copy(&pe->ctx, &g->ctx));
      memcpy(pe->sender_data_secret, g->ep->sender_data_secret, nh);
      if (np->old_st != NULL) {
        pe->st = np->old_st;
        np->old_st = NULL;
      } else {
        MG_CHECK(mls_secret_tree_copy(&pe->st, g->st));
      }
      ng->num_past = from_old + 1;
      MG_CHECK(sig_pubs_of(&g->tree, pe));
    }
  }
  if (g->num_res > 0) {
    ng->res = calloc(g->num_res, sizeof(*ng->res));
    MG_REQUIRE(ng->res != NULL, MG_ERR_NOMEM);
    memcpy(ng->res, g->res, g->num_res * sizeof(*ng->res));
    ng->num_res = g->num_res;
  }
  MG_CHECK(mls_group_push_resumption_(ng));
  if (np->reinit != NULL) {
    mls_proposal a, b;
    memset(&a, 0, sizeof(a));
    a.proposal_type = MLS_PROPOSAL_REINIT;
    a.reinit = *np->reinit;
    MG_CHECK(mls_proposal_copy_(&b, &a));
    ng->reinit = b.reinit;
    ng->has_reinit = 1;
  }
  *out = ng;
  ng = NULL;
  rc = 0;
out:
  mls_group_free(ng);
  return rc;
}

void mls_next_parts_cleanup_(mls_next_parts *np) {
  mls_group_context_cleanup(&np->ctx);
  mls_tree_cleanup(&np->tree);
  mls_tree_priv_cleanup(&np->priv);
  mls_epoch_secrets_free(np->ep);
  mls_secret_tree_free(np->old_st);
  mg_memzero(np, sizeof(*np));
}

/* ---------------------------------------------- processing a Commit */

/* Resolves the ProposalOrRef list of |c| against |g|'s pending proposals
 * into |props| (capacity c->num_proposals). */
static int resolve_proposals(const mls_group *g, const mls_commit *c,
                             const mls_sender *committer, mls_cprop *props) {
  for (size_t i = 0; i < c->num_proposals; i++) {
    const mls_proposal_or_ref *por = &c->proposals[i];
    if (por->type == MLS_PROPOSAL_OR_REF_PROPOSAL) {
      props[i].p = &por->proposal;
      props[i].sender = *committer;
      props[i].pend = NULL;
      continue;
    }
    const mls_group_pending *found = NULL;
    for (size_t k = 0; k < g->num_pending; k++) {
      const mls_group_pending *pd = &g->pending[k];
      if (pd->ref_len == por->reference.len &&
          memcmp(pd->ref, por->reference.data, pd->ref_len) == 0) {
        found = pd;
        break;
      }
    }
    if (found == NULL) {
      return MG_ERR_PROPOSAL;
    }
    props[i].p = &found->proposal;
    props[i].sender = found->sender;
    props[i].pend = found;
  }
  return 0;
}

/* Checks that no public key of |path| is already in |t| (RFC 9420
 * §12.4.2: "none of the public keys in the UpdatePath appear in any node
 * of the new ratchet tree"). */
static int path_keys_fresh(const mls_tree *t, const mls_update_path *path,
                           uint32_t committer) {
  if (key_in_tree(t, &path->leaf_node.encryption_key) ||
      sig_key_in_tree(t, &path->leaf_node.signature_key, committer)) {
    return MG_ERR_DUPLICATE_KEY;
  }
  for (size_t i = 0; i < path->num_nodes; i++) {
    if (key_in_tree(t, &path->nodes[i].encryption_key)) {
      return MG_ERR_DUPLICATE_KEY;
    }
  }
  return 0;
}

int mls_group_process_commit_(const mls_group *g,
                              const mls_authenticated_content *ac,
                              mls_secret_tree *old_st,
                              const mls_process_params *pp,
                              mls_processed *res) {
  const mls_suite *s = g->suite;
  const mls_commit *c = &ac->content.commit;
  const mls_sender *sender = &ac->content.sender;
  mls_cprop *props = NULL;
  mls_applied a;
  mls_next_parts np;
  uint8_t commit_secret[MG_MAX_HASH_LEN], psk_secret[MG_MAX_HASH_LEN];
  uint8_t init_secret[MG_MAX_HASH_LEN], th[MG_MAX_HASH_LEN];
  uint8_t *gc = NULL;
  size_t gc_len = 0, th_len = 0, cs_len = 0;
  size_t nh = s->kdf->nh;
  int external = sender->sender_type == MLS_SENDER_NEW_MEMBER_COMMIT;
  int rc;

  memset(&a, 0, sizeof(a));
  memset(&np, 0, sizeof(np));
  mls_tree_zero(&np.tree);
  mls_tree_priv_zero(&np.priv);
  memset(commit_secret, 0, sizeof(commit_secret));
  np.old_st = old_st; /* owned from here on */

  MG_REQUIRE(sender->sender_type == MLS_SENDER_MEMBER || external,
             MG_ERR_SENDER);
  /* A member cannot process its own Commit: it uses the state returned
   * by mls_group_commit. */
  MG_REQUIRE(external || sender->leaf_index != g->self.v, MG_ERR_SENDER);
  if (c->num_proposals > 0) {
    props = calloc(c->num_proposals, sizeof(*props));
    MG_REQUIRE(props != NULL, MG_ERR_NOMEM);
    MG_CHECK(resolve_proposals(g, c, sender, props));
  }
  MG_CHECK(mls_group_validate_and_apply_(g, props, c->num_proposals, sender,
                                         pp, &a));
  MG_CHECK(mls_commit_check_path(c, a.types));
  MG_REQUIRE(!external || c->has_path, MG_ERR_PATH);

  if (a.self_removed) {
    /* We cannot follow into the new epoch (no path secret reaches us);
     * the signature and membership tag have been verified. */
    res->removed = 1;
    rc = 0;
    goto out;
  }

  np.priv = g->priv;
  np.self = g->self;
  if (a.self_update != NULL) {
    /* Another member committed our Update: our leaf key is the one we
     * proposed. */
    mg_hpke_key_cleanup(&np.priv.leaf_key);
    np.priv.leaf_key = a.self_update->update_key;
  }
  mls_tree_priv_prune(&np.priv, &a.tree);
  MG_REQUIRE(np.priv.leaf_key.kem != NULL, MG_ERR_BAD_KEY);

  /* The provisional GroupContext (§12.4.2). */
  MG_CHECK(mls_group_context_copy(&np.ctx, &g->ctx));
  np.ctx.epoch = g->ctx.epoch + 1;
  mls_extension_list_cleanup(&np.ctx.extensions);
  np.ctx.extensions = a.ext;
  memset(&a.ext, 0, sizeof(a.ext));

  if (c->has_path) {
    mls_leaf_idx from;
    if (external) {
      MG_CHECK(mls_tree_add_leaf(&a.tree, &from, &c->path.leaf_node));
      /* The keys checks below see the new leaf itself: check the path's
       * keys against the tree without it. */
    } else {
      from.v = sender->leaf_index;
      mls_leaf_idx li = from;
      const mls_leaf_node *cur = mls_tree_leaf(&g->tree, li);
      MG_REQUIRE(cur != NULL, MG_ERR_SENDER);
      MG_REQUIRE(!mls_bytes_eq(&cur->encryption_key,
                               &c->path.leaf_node.encryption_key),
                 MG_ERR_DUPLICATE_KEY);
    }
    if (!external) {
      MG_CHECK(path_keys_fresh(&a.tree, &c->path, from.v));
    } else {
      /* The new leaf carries the path's leaf key: check only the nodes
       * and the other leaves. */
      for (size_t i = 0; i < c->path.num_nodes; i++) {
        MG_REQUIRE(!key_in_tree(&a.tree, &c->path.nodes[i].encryption_key),
                   MG_ERR_DUPLICATE_KEY);
      }
      for (uint32_t l = 0; l < a.tree.n_leaves; l++) {
        mls_leaf_idx li = {l};
        const mls_leaf_node *x = mls_tree_leaf(&a.tree, li);
        MG_REQUIRE(l == from.v || x == NULL ||
                       !mls_bytes_eq(&x->encryption_key,
                                     &c->path.leaf_node.encryption_key),
                   MG_ERR_DUPLICATE_KEY);
      }
    }
    MG_CHECK(mls_treekem_merge(&a.tree, from, &c->path, g->ctx.group_id.data,
                               g->ctx.group_id.len));
    MG_CHECK(mls_leaf_node_check_capabilities(&c->path.leaf_node));
    if (pp != NULL && pp->credential_check != NULL &&
        pp->credential_check(pp->credential_arg, &c->path.leaf_node.credential,
                             c->path.leaf_node.signature_key.data,
                             c->path.leaf_node.signature_key.len) != 0) {
      MG_FAIL(MG_ERR_CREDENTIAL);
    }
    {
      mls_group_context tmp = np.ctx;
      MG_CHECK(mls_group_check_leaves_(&a.tree, &tmp, 0, 0));
    }
    /* Every key of the path was checked against the tree before the merge
     * (path_keys_fresh, or the external branch above). */
    MG_CHECK(mls_tree_hash(&a.tree, th, sizeof(th), &th_len));
    mls_bytes_cleanup(&np.ctx.tree_hash);
    MG_CHECK(mls_bytes_dup(&np.ctx.tree_hash, th, th_len));
    MG_CHECK(mls_group_context_serialize(&np.ctx, &gc, &gc_len));
    MG_CHECK(mls_treekem_decrypt(&a.tree, &np.priv, commit_secret,
                                 sizeof(commit_secret), &cs_len, NULL, 0,
                                 NULL, from, &c->path, gc, gc_len,
                                 a.added,
                                 a.num_added));
  } else {
    MG_CHECK(mls_tree_hash(&a.tree, th, sizeof(th), &th_len));
    mls_bytes_cleanup(&np.ctx.tree_hash);
    MG_CHECK(mls_bytes_dup(&np.ctx.tree_hash, th, th_len));
  }

  /* Transcript hashes and the new GroupContext. */
  MG_CHECK(mls_transcript_next_commit(s, &np.transcript, &g->transcript, ac));
  mls_bytes_cleanup(&np.ctx.confirmed_transcript_hash);
  MG_CHECK(mls_bytes_dup(&np.ctx.confirmed_transcript_hash,
                         np.transcript.confirmed, np.transcript.confirmed_len));
  free(gc);
  gc = NULL;
  MG_CHECK(mls_group_context_serialize(&np.ctx, &gc, &gc_len));

  /* Key schedule (§8) and the confirmation tag. */
  MG_CHECK(mls_group_psk_secret_(g, &a, pp != NULL ? pp->psk_lookup : NULL,
                                 pp != NULL ? pp->psk_arg : NULL, psk_secret));
  if (external) {
    rc = mls_external_init_receive(g->ep, init_secret,
                                   a.ext_init->kem_output.data,
                                   a.ext_init->kem_output.len);
    MG_REQUIRE(rc >= 0, rc == MG_ERR_NOMEM ? rc : MG_ERR_PROPOSAL);
    MG_CHECK(mls_epoch_secrets_from_init(s, &np.ep, init_secret, nh,
                                         commit_secret, nh, psk_secret, nh, gc,
                                         gc_len));
  } else {
    MG_CHECK(mls_epoch_secrets_next(g->ep, &np.ep, commit_secret, nh,
                                    psk_secret, nh, gc, gc_len));
  }
  rc = mls_confirmation_tag_verify(s, np.ep->confirmation_key, nh,
                                   np.transcript.confirmed,
                                   np.transcript.confirmed_len,
                                   ac->auth.confirmation_tag.data,
                                   ac->auth.confirmation_tag.len);
  MG_REQUIRE(rc >= 0, rc == MG_ERR_NOMEM ? rc : MG_ERR_CONFIRMATION_TAG);

  np.tree = a.tree;
  mls_tree_zero(&a.tree);
  np.reinit = a.reinit;
  MG_CHECK(mls_group_build_next_(g, &np, &res->next));
  rc = 0;
out:
  mls_next_parts_cleanup_(&np);
  mls_applied_cleanup_(&a);
  free(props);
  free(gc);
  mg_memzero(commit_secret, sizeof(commit_secret));
  mg_memzero(psk_secret, sizeof(psk_secret));
  mg_memzero(init_secret, sizeof(init_secret));
  return rc;
}

/* ------------------------------------------------ creating a Commit */

void mls_commit_result_cleanup(mls_commit_result *r) {
  if (r == NULL) {
    return;
  }
  mls_group_free(r->next);
  mls_bytes_cleanup(&r->commit);
  mls_bytes_cleanup(&r->welcome);
  mls_bytes_cleanup(&r->group_info);
  mls_bytes_cleanup(&r->ratchet_tree);
  free(r->added_leaves);
  memset(r, 0, sizeof(*r));
}

/* The by-value proposals of |p|, built into |vals| (capacity: the sum of
 * the counts + 2). */
static int build_value_proposals(const mls_group *g, const mls_commit_params *p,
                                 mls_proposal *vals, size_t *n) {
  const mls_suite *s = g->suite;
  mls_proposal tmp;
  int rc;
  *n = 0;
  for (size_t i = 0; i < p->num_adds; i++) {
    memset(&tmp, 0, sizeof(tmp));
    tmp.proposal_type = MLS_PROPOSAL_ADD;
    tmp.add.key_package = p->adds[i];
    MG_CHECK(mls_proposal_copy_(&vals[(*n)], &tmp));
    (*n)++;
  }
  for (size_t i = 0; i < p->num_removes; i++) {
    vals[*n].proposal_type = MLS_PROPOSAL_REMOVE;
    vals[*n].remove.removed = p->removes[i];
    (*n)++;
  }
  for (size_t i = 0; i < p->num_psks; i++) {
    memset(&tmp, 0, sizeof(tmp));
    tmp.proposal_type = MLS_PROPOSAL_PSK;
    tmp.psk.psk = p->psks[i];
    MG_CHECK(mls_proposal_copy_(&vals[*n], &tmp));
    (*n)++;
    mls_psk_id *id = &vals[*n - 1].psk.psk;
    if (id->psk_nonce.len == 0) {
      uint8_t nonce[MG_MAX_HASH_LEN];
      MG_CHECK(mg_random_bytes(nonce, s->kdf->nh));
      MG_CHECK(mls_bytes_dup(&id->psk_nonce, nonce, s->kdf->nh));
    }
  }
  if (p->gce != NULL) {
    memset(&tmp, 0, sizeof(tmp));
    tmp.proposal_type = MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS;
    tmp.group_context_extensions.extensions = *p->gce;
    MG_CHECK(mls_proposal_copy_(&vals[*n], &tmp));
    (*n)++;
  }
  if (p->reinit != NULL) {
    memset(&tmp, 0, sizeof(tmp));
    tmp.proposal_type = MLS_PROPOSAL_REINIT;
    tmp.reinit = *p->reinit;
    MG_CHECK(mls_proposal_copy_(&vals[*n], &tmp));
    (*n)++;
  }
  rc = 0;
out:
  return rc;
}

/* The path secret a new member at |leaf| needs (RFC 9420 §12.4.3.1): the
 * one of the lowest common ancestor of the committer and the new member. */
static const uint8_t *joiner_path_secret(const mls_path_secrets *ps,
                                         mls_leaf_idx committer,
                                         mls_leaf_idx leaf) {
  mls_node_idx lca = mls_tm_common_ancestor(mls_tm_leaf_to_node(committer),
                                            mls_tm_leaf_to_node(leaf));
  for (uint32_t i = 0; i < ps->n; i++) {
    if (ps->nodes[i].v == lca.v) {
      return ps->secrets[i];
    }
  }
  return NULL;
}

/* Builds the Welcome of a Commit with Adds (RFC 9420 §12.4.3.1). */
static int make_welcome(const mls_group *ng, const mls_applied *a,
                        const mls_cprop *props, size_t n,
                        const mls_path_secrets *ps, int has_path,
                        const uint8_t *psk_secret, int with_tree,
                        mls_bytes *out) {
  const mls_suite *s = ng->suite;
  size_t nh = s->kdf->nh;
  mls_message m;
  mls_group_info gi;
  mls_group_secrets gs;
  uint8_t welcome_secret[MG_MAX_HASH_LEN];
  uint8_t joiner[MG_MAX_HASH_LEN], path_secret[MG_MAX_HASH_LEN];
  uint8_t *buf = NULL;
  size_t blen = 0, k = 0;
  int rc;

  memset(&m, 0, sizeof(m));
  memset(&gi, 0, sizeof(gi));
  memset(&gs, 0, sizeof(gs));
  MG_CHECK(mls_group_make_group_info_(ng, with_tree, 0, &gi));
  MG_CHECK(mls_welcome_secret(s, welcome_secret, ng->ep->joiner_secret, nh,
                              psk_secret, nh));
  m.version = MLS_VERSION_MLS10;
  m.wire_format = MLS_WIRE_WELCOME;
  m.welcome.cipher_suite = s->id;
  MG_CHECK(mls_welcome_seal_info(s, &m.welcome.encrypted_group_info, &gi,
                                 welcome_secret, nh));
  m.welcome.secrets = calloc(a->num_added, sizeof(*m.welcome.secrets));
  MG_REQUIRE(m.welcome.secrets != NULL, MG_ERR_NOMEM);
  /* GroupSecrets: joiner_secret, path_secret, psks. */
  memcpy(joiner, ng->ep->joiner_secret, nh);
  gs.joiner_secret.data = joiner;
  gs.joiner_secret.len = nh;
  if (a->num_psks > 0) {
    gs.psks = calloc(a->num_psks, sizeof(*gs.psks));
    MG_REQUIRE(gs.psks != NULL, MG_ERR_NOMEM);
    for (size_t i = 0; i < a->num_psks; i++) {
      gs.psks[i] = *a->psks[i]; /* shallow */
    }
    gs.num_psks = a->num_psks;
  }
  for (size_t i = 0; i < n; i++) {
    if (props[i].p->proposal_type != MLS_PROPOSAL_ADD) {
      continue;
    }
    const mls_key_package *kp = &props[i].p->add.key_package;
    uint8_t ref[MG_MAX_HASH_LEN];
    size_t ref_len = 0;
    MG_CHECK(mls_key_package_ref(kp, ref, sizeof(ref), &ref_len));
    gs.has_path_secret = 0;
    gs.path_secret.data = NULL;
    gs.path_secret.len = 0;
    if (has_path) {
      const uint8_t *sec = joiner_path_secret(ps, ng->self, a->added[k]);
      MG_REQUIRE(sec != NULL, MG_ERR_INTERNAL);
      gs.has_path_secret = 1;
      memcpy(path_secret, sec, nh);
      gs.path_secret.data = path_secret;
      gs.path_secret.len = nh;
    }
    MG_CHECK(mls_welcome_seal_secrets(s, &m.welcome.secrets[k], ref, ref_len,
                                      kp->init_key.data, kp->init_key.len, &gs,
                                      &m.welcome.encrypted_group_info));
    k++;
    m.welcome.num_secrets = k;
  }
  MG_CHECK(mls_message_serialize(&m, &buf, &blen));
  out->data = buf;
  out->len = blen;
  rc = 0;
out:
  /* gs borrowed its secrets: do not free them. */
  free(gs.psks);
  mls_message_cleanup(&m);
  mls_group_info_cleanup(&gi);
  mg_memzero(welcome_secret, sizeof(welcome_secret));
  mg_memzero(joiner, sizeof(joiner));
  mg_memzero(path_secret, sizeof(path_secret));
  return rc;
}

int mls_group_commit(mls_group *g, const mls_commit_params *p,
                     mls_commit_result *out) {
  const mls_suite *s;
  mls_proposal *vals = NULL;
  mls_cprop *props = NULL;
  size_t n_vals = 0, n_props = 0, n_ref = 0;
  mls_applied a;
  mls_next_parts np;
  mls_path_secrets ps;
  mls_authenticated_content ac;
  mls_process_params pp;
  mls_leaf_node tmpl;
  uint8_t commit_secret[MG_MAX_HASH_LEN], psk_secret[MG_MAX_HASH_LEN];
  uint8_t th[MG_MAX_HASH_LEN], tag[MG_MAX_HASH_LEN];
  uint8_t sig_pub[MG_MAX_SIG_PUB_LEN];
  uint8_t *gc = NULL, *cti = NULL;
  size_t gc_len = 0, th_len = 0, tag_len = 0, cti_len = 0, nh;
  int has_path = 0;
  int rc;

  MG_ENSURE(out != NULL, MG_ERR_INVALID_ARG);
  memset(out, 0, sizeof(*out));
  MG_ENSURE(g != NULL && p != NULL, MG_ERR_INVALID_ARG);
  MG_ENSURE(!g->has_reinit, MG_ERR_STATE);
  s = g->suite;
  nh = s->kdf->nh;
  memset(&a, 0, sizeof(a));
  memset(&np, 0, sizeof(np));
  mls_tree_zero(&np.tree);
  mls_tree_priv_zero(&np.priv);
  memset(&ps, 0, sizeof(ps));
  memset(&ac, 0, sizeof(ac));
  memset(&tmpl, 0, sizeof(tmpl));
  memset(commit_secret, 0, sizeof(commit_secret));
  memset(&pp, 0, sizeof(pp));
  pp.psk_lookup = p->psk_lookup;
  pp.psk_arg = p->psk_arg;
  pp.credential_check = p->credential_check;
  pp.credential_arg = p->credential_arg;
  pp.now = p->now;

  /* 1. The proposal list: pending ones by reference (not our own
   * Updates: §12.2), then ours by value. */
  size_t cap = p->num_adds + p->num_removes + p->num_psks + 2;
  vals = calloc(cap, sizeof(*vals));
  props = calloc(cap + g->num_pending, sizeof(*props));
  MG_REQUIRE(vals != NULL && props != NULL, MG_ERR_NOMEM);
  if (p->include_pending) {
    for (size_t i = 0; i < g->num_pending; i++) {
      const mls_group_pending *pd = &g->pending[i];
      if (pd->proposal.proposal_type == MLS_PROPOSAL_UPDATE &&
          pd->sender.sender_type == MLS_SENDER_MEMBER &&
          pd->sender.leaf_index == g->self.v) {
        continue;
      }
      props[n_props].p = &pd->proposal;
      props[n_props].sender = pd->sender;
      props[n_props].pend = pd;
      n_props++;
    }
  }
  n_ref = n_props;
  MG_CHECK(build_value_proposals(g, p, vals, &n_vals));
  MG_CHECK(mls_group_content_init_(g, &ac, p->encrypt, MLS_CONTENT_COMMIT,
                                   p->authenticated_data,
                                   p->authenticated_data_len));
  for (size_t i = 0; i < n_vals; i++) {
    props[n_props].p = &vals[i];
    props[n_props].sender = ac.content.sender;
    props[n_props].pend = NULL;
    n_props++;
  }

  /* 2. Validate and apply exactly as a receiver will. */
  MG_CHECK(mls_group_validate_and_apply_(g, props, n_props, &ac.content.sender,
                                         &pp, &a));
  /* Adds we make must be valid now (§10.1, MUST for what we send). */
  for (size_t i = 0; i < n_vals; i++) {
    if (vals[i].proposal_type == MLS_PROPOSAL_ADD) {
      MG_CHECK(mls_lifetime_check(&vals[i].add.key_package.leaf_node.lifetime,
                                  p->now));
    }
  }
  has_path = p->force_path || p->new_sig_priv != NULL || n_props == 0;
  for (size_t i = 0; i < n_props; i++) {
    has_path |= mls_proposal_type_requires_path(a.types[i]);
  }

  /* 3. The Commit's proposal list. */
  ac.content.commit.proposals =
      calloc(n_props ? n_props : 1, sizeof(*ac.content.commit.proposals));
  MG_REQUIRE(ac.content.commit.proposals != NULL, MG_ERR_NOMEM);
  ac.content.commit.num_proposals = n_props;
  for (size_t i = 0; i < n_props; i++) {
    mls_proposal_or_ref *por = &ac.content.commit.proposals[i];
    if (i < n_ref) {
      por->type = MLS_PROPOSAL_OR_REF_REFERENCE;
      MG_CHECK(mls_bytes_dup(&por->reference, props[i].pend->ref,
                             props[i].pend->ref_len));
    } else {
      por->type = MLS_PROPOSAL_OR_REF_PROPOSAL;
      MG_CHECK(mls_proposal_copy_(&por->proposal, props[i].p));
    }
  }

  /* 4. The provisional GroupContext and the UpdatePath. */
  MG_CHECK(mls_group_context_copy(&np.ctx, &g->ctx));
  np.ctx.epoch = g->ctx.epoch + 1;
  mls_extension_list_cleanup(&np.ctx.extensions);
  np.ctx.extensions = a.ext;
  memset(&a.ext, 0, sizeof(a.ext));
  np.self = g->self;
  if (has_path) {
    const mls_leaf_node *cur = mls_tree_leaf(&a.tree, g->self);
    MG_REQUIRE(cur != NULL, MG_ERR_STATE);
    MG_CHECK(mls_leaf_node_copy(&tmpl, cur));
    const uint8_t *sp = g->sig_priv.data;
    size_t sp_len = g->sig_priv.len;
    if (p->new_sig_priv != NULL) {
      MG_REQUIRE(p->new_sig_priv_len == s->sig->priv_len, MG_ERR_BAD_KEY);
      rc = s->sig->pub_from_priv(s->sig, sig_pub, p->new_sig_priv);
      MG_REQUIRE(rc >= 0, MG_ERR_BAD_KEY);
      mls_bytes_cleanup(&tmpl.signature_key);
      MG_CHECK(mls_bytes_dup(&tmpl.signature_key, sig_pub, s->sig->pub_len));
      sp = p->new_sig_priv;
      sp_len = p->new_sig_priv_len;
      np.new_sig_priv = p->new_sig_priv;
      np.new_sig_priv_len = p->new_sig_priv_len;
    }
    if (sp == g->sig_priv.data) {
      MG_CHECK(mls_treekem_generate_key(&a.tree, &np.priv, &ps,
                                        &ac.content.commit.path, g->self, &tmpl,
                                        g->sig_key, g->ctx.group_id.data,
                                        g->ctx.group_id.len));
    } else {
      MG_CHECK(mls_treekem_generate(&a.tree, &np.priv, &ps,
                                    &ac.content.commit.path, g->self, &tmpl,
                                    sp, sp_len, g->ctx.group_id.data,
                                    g->ctx.group_id.len));
    }
    ac.content.commit.has_path = 1;
    /* Our new leaf (a rotated signature key may collide with a member's);
     * the node keys are fresh random key pairs. */
    MG_CHECK(mls_group_check_new_leaves_(&a.tree, &g->self, 1));
    MG_CHECK(mls_tree_hash(&a.tree, th, sizeof(th), &th_len));
    mls_bytes_cleanup(&np.ctx.tree_hash);
    MG_CHECK(mls_bytes_dup(&np.ctx.tree_hash, th, th_len));
    MG_CHECK(mls_group_context_serialize(&np.ctx, &gc, &gc_len));
    MG_CHECK(mls_treekem_encrypt(&a.tree, &ps, &ac.content.commit.path, g->self,
                                 gc, gc_len, a.added, a.num_added));
    memcpy(commit_secret, ps.commit_secret, nh);
  } else {
    np.priv = g->priv;
    mls_tree_priv_prune(&np.priv, &a.tree);
    MG_CHECK(mls_tree_hash(&a.tree, th, sizeof(th), &th_len));
    mls_bytes_cleanup(&np.ctx.tree_hash);
    MG_CHECK(mls_bytes_dup(&np.ctx.tree_hash, th, th_len));
  }

  /* 5. Sign, transcript, key schedule, confirmation tag (§6.1, §8). */
  MG_CHECK(mls_authenticated_content_sign_key(s, &ac, &g->ctx, g->sig_key));
  {
    mg_writer w;
    mg_writer_zero(&w);
    rc = mg_writer_init(&w, 256, 0);
    if (rc >= 0) {
      rc = mls_confirmed_transcript_input_encode(&w, &ac);
    }
    if (rc >= 0) {
      rc = mg_writer_finish(&w, &cti, &cti_len);
    }
    mg_writer_cleanup(&w);
    MG_CHECK(rc);
  }
  MG_CHECK(mls_transcript_confirmed(s, np.transcript.confirmed,
                                    sizeof(np.transcript.confirmed),
                                    g->transcript.interim,
                                    g->transcript.interim_len, cti, cti_len));
  np.transcript.confirmed_len = s->hash->digest_len;
  mls_bytes_cleanup(&np.ctx.confirmed_transcript_hash);
  MG_CHECK(mls_bytes_dup(&np.ctx.confirmed_transcript_hash,
                         np.transcript.confirmed, np.transcript.confirmed_len));
  free(gc);
  gc = NULL;
  MG_CHECK(mls_group_context_serialize(&np.ctx, &gc, &gc_len));
  MG_CHECK(mls_group_psk_secret_(g, &a, p->psk_lookup, p->psk_arg, psk_secret));
  MG_CHECK(mls_epoch_secrets_next(g->ep, &np.ep, commit_secret, nh, psk_secret,
                                  nh, gc, gc_len));
  MG_CHECK(mls_confirmation_tag_compute(s, tag, sizeof(tag), &tag_len,
                                        np.ep->confirmation_key, nh,
                                        np.transcript.confirmed,
                                        np.transcript.confirmed_len));
  MG_CHECK(mls_bytes_dup(&ac.auth.confirmation_tag, tag, tag_len));
  MG_CHECK(mls_transcript_interim(s, np.transcript.interim,
                                  sizeof(np.transcript.interim),
                                  np.transcript.confirmed,
                                  np.transcript.confirmed_len, tag, tag_len));
  np.transcript.interim_len = s->hash->digest_len;

  /* 6. Frame it (a PrivateMessage consumes a handshake generation of g),
   * then build the next epoch and the Welcome. */
  MG_CHECK(mls_group_frame_(g, &ac, p->encrypt, 0, &out->commit, NULL));
  np.tree = a.tree;
  mls_tree_zero(&a.tree);
  np.reinit = a.reinit;
  MG_CHECK(mls_group_build_next_(g, &np, &out->next));
  if (a.num_added > 0) {
    MG_CHECK(make_welcome(out->next, &a, props, n_props, &ps, has_path,
                          psk_secret, p->ratchet_tree_in_welcome,
                          &out->welcome));
    out->added_leaves = calloc(a.num_added, sizeof(uint32_t));
    MG_REQUIRE(out->added_leaves != NULL, MG_ERR_NOMEM);
    for (size_t i = 0; i < a.num_added; i++) {
      out->added_leaves[i] = a.added[i].v;
    }
    out->num_added = a.num_added;
  }
  /* Optional outputs (each costs: a signature, an O(n) encoding). */
  if (p->want_group_info) {
    MG_CHECK(mls_group_group_info(out->next, 0, &out->group_info));
  }
  if (a.num_added > 0 || p->want_ratchet_tree) {
    MG_CHECK(mls_group_ratchet_tree(out->next, &out->ratchet_tree));
  }
  rc = 0;
out:
  if (rc < 0) {
    mls_commit_result_cleanup(out);
  }
  if (vals != NULL) {
    for (size_t i = 0; i < cap; i++) {
      mls_proposal_cleanup(&vals[i]);
    }
  }
  free(vals);
  free(props);
  free(gc);
  free(cti);
  mls_leaf_node_cleanup(&tmpl);
  mls_next_parts_cleanup_(&np);
  mls_applied_cleanup_(&a);
  mls_path_secrets_cleanup(&ps);
  mls_authenticated_content_cleanup(&ac);
  mg_memzero(commit_secret, sizeof(commit_secret));
  mg_memzero(psk_secret, sizeof(psk_secret));
  return rc;
}
