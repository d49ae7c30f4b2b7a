/*
 * Joining by an external Commit (RFC 9420 §12.4.3.2): from a GroupInfo
 * with the external_pub extension, the joiner makes an ExternalInit
 * proposal (§8.3), adds itself at the leftmost blank leaf with an
 * UpdatePath, and signs the Commit as a new_member_commit sender.
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

int mls_group_join_external(mls_group **out, mls_bytes *commit,
                            const mls_suite *suite,
                            const mls_external_join_params *p) {
  mls_message gim;
  mls_group *old = NULL, *ng = NULL;
  mls_proposal *vals = NULL;
  mls_cprop *props = NULL;
  size_t n_vals = 0;
  mls_applied a;
  mls_path_secrets ps;
  mls_authenticated_content ac;
  mls_process_params pp;
  mls_public_message pm;
  mls_message cm;
  mls_bytes ext_pub = {0};
  uint8_t kem_output[MG_HPKE_MAX_ENC_LEN];
  uint8_t init_secret[MG_MAX_HASH_LEN], psk_secret[MG_MAX_HASH_LEN];
  uint8_t th[MG_MAX_HASH_LEN], tag[MG_MAX_HASH_LEN];
  uint8_t *gc = NULL, *cti = NULL, *buf = NULL;
  size_t kem_len = 0, th_len = 0, tag_len = 0, gc_len = 0, cti_len = 0;
  size_t blen = 0, nh;
  mls_leaf_idx from;
  int rc;

  MG_ENSURE(out != NULL && commit != NULL, MG_ERR_INVALID_ARG);
  *out = NULL;
  memset(commit, 0, sizeof(*commit));
  MG_ENSURE(suite != NULL && p != NULL && p->group_info != NULL &&
                p->key_package != NULL && p->priv != NULL &&
                p->priv->suite == suite &&
                (p->psks != NULL || p->num_psks == 0),
            MG_ERR_INVALID_ARG);
  nh = suite->kdf->nh;
  memset(&gim, 0, sizeof(gim));
  memset(&a, 0, sizeof(a));
  memset(&ps, 0, sizeof(ps));
  memset(&ac, 0, sizeof(ac));
  memset(&pm, 0, sizeof(pm));
  memset(&cm, 0, sizeof(cm));
  memset(&pp, 0, sizeof(pp));
  pp.psk_lookup = p->psk_lookup;
  pp.psk_arg = p->psk_arg;
  pp.now = p->now;

  /* 1. The GroupInfo, its tree and signature (as a Welcome joiner does). */
  MG_CHECK(mls_message_decode_bytes(p->group_info, p->group_info_len, &gim));
  MG_REQUIRE(gim.wire_format == MLS_WIRE_GROUP_INFO, MG_ERR_WIRE_FORMAT);
  const mls_group_info *gi = &gim.group_info;
  MG_REQUIRE(gi->group_context.cipher_suite == suite->id &&
                 p->key_package->cipher_suite == suite->id,
             MG_ERR_UNSUPPORTED);
  old = mls_group_alloc_(suite, p->cfg);
  MG_REQUIRE(old != NULL, MG_ERR_NOMEM);
  MG_CHECK(mls_group_context_copy(&old->ctx, &gi->group_context));
  {
    const mls_extension *e =
        mls_extension_list_find(&gi->extensions, MLS_EXT_RATCHET_TREE);
    if (e != NULL) {
      MG_CHECK(mls_tree_decode(&old->tree, suite, e->extension_data.data,
                               e->extension_data.len));
    } else {
      MG_REQUIRE(p->ratchet_tree != NULL && p->ratchet_tree_len > 0,
                 MG_ERR_TREE_INVALID);
      MG_CHECK(mls_tree_decode(&old->tree, suite, p->ratchet_tree,
                               p->ratchet_tree_len));
    }
  }
  MG_CHECK(mls_tree_validate(&old->tree, old->ctx.group_id.data,
                             old->ctx.group_id.len));
  MG_CHECK(mls_tree_hash(&old->tree, th, sizeof(th), &th_len));
  MG_REQUIRE(th_len == old->ctx.tree_hash.len &&
                 memcmp(th, old->ctx.tree_hash.data, th_len) == 0,
             MG_ERR_TREE_HASH);
  MG_CHECK(mls_group_check_leaves_(&old->tree, &old->ctx, 0, 0));
  {
    mls_leaf_idx sl = {gi->signer};
    const mls_leaf_node *signer = mls_tree_leaf(&old->tree, sl);
    MG_REQUIRE(signer != NULL, MG_ERR_SENDER);
    MG_CHECK(mls_group_info_verify(suite, gi, signer->signature_key.data,
                                   signer->signature_key.len));
  }
  MG_CHECK(mls_transcript_from_confirmed(
      suite, &old->transcript, gi->group_context.confirmed_transcript_hash.data,
      gi->group_context.confirmed_transcript_hash.len,
      gi->confirmation_tag.data, gi->confirmation_tag.len));
  old->self.v = UINT32_MAX;

  /* 2. ExternalInit (§8.3) from the external_pub extension. */
  {
    const mls_extension *e =
        mls_extension_list_find(&gi->extensions, MLS_EXT_EXTERNAL_PUB);
    MG_REQUIRE(e != NULL, MG_ERR_EXTENSION);
    MG_CHECK(mls_ext_external_pub_decode(e, &ext_pub));
  }
  MG_CHECK(mls_external_init_send(suite, kem_output, sizeof(kem_output),
                                  &kem_len, init_secret, ext_pub.data,
                                  ext_pub.len));

  /* 3. The proposals: ExternalInit, an optional Remove (resync), PSKs. */
  vals = calloc(p->num_psks + 2, sizeof(*vals));
  props = calloc(p->num_psks + 2, sizeof(*props));
  MG_REQUIRE(vals != NULL && props != NULL, MG_ERR_NOMEM);
  vals[n_vals].proposal_type = MLS_PROPOSAL_EXTERNAL_INIT;
  MG_CHECK(mls_bytes_dup(&vals[n_vals].external_init.kem_output, kem_output,
                         kem_len));
  n_vals++;
  if (p->remove_leaf >= 0) {
    MG_REQUIRE(p->remove_leaf <= (int64_t)UINT32_MAX, MG_ERR_INVALID_ARG);
    vals[n_vals].proposal_type = MLS_PROPOSAL_REMOVE;
    vals[n_vals].remove.removed = (uint32_t)p->remove_leaf;
    n_vals++;
  }
  for (size_t i = 0; i < p->num_psks; i++) {
    mls_proposal tmp;
    memset(&tmp, 0, sizeof(tmp));
    tmp.proposal_type = MLS_PROPOSAL_PSK;
    tmp.psk.psk = p->psks[i];
    MG_CHECK(mls_proposal_copy_(&vals[n_vals], &tmp));
    if (vals[n_vals].psk.psk.psk_nonce.len == 0) {
      uint8_t nonce[MG_MAX_HASH_LEN];
      MG_CHECK(mg_random_bytes(nonce, nh));
      MG_CHECK(mls_bytes_dup(&vals[n_vals].psk.psk.psk_nonce, nonce, nh));
    }
    n_vals++;
  }
  ac.wire_format = MLS_WIRE_PUBLIC_MESSAGE;
  MG_CHECK(mls_bytes_copy(&ac.content.group_id, &old->ctx.group_id));
  ac.content.epoch = old->ctx.epoch;
  ac.content.sender.sender_type = MLS_SENDER_NEW_MEMBER_COMMIT;
  ac.content.content_type = MLS_CONTENT_COMMIT;
  for (size_t i = 0; i < n_vals; i++) {
    props[i].p = &vals[i];
    props[i].sender = ac.content.sender;
  }
  MG_CHECK(mls_group_validate_and_apply_(old, props, n_vals,
                                         &ac.content.sender, &pp, &a));

  /* 4. Our leaf at the leftmost blank leaf, and the UpdatePath. */
  MG_CHECK(mls_tree_add_leaf(&a.tree, &from, &p->key_package->leaf_node));
  {
    mls_tree_priv np;
    mls_tree_priv_zero(&np);
    MG_CHECK(mls_treekem_generate(&a.tree, &np, &ps, &ac.content.commit.path,
                                  from, &p->key_package->leaf_node,
                                  p->priv->sig_priv, p->priv->sig_priv_len,
                                  old->ctx.group_id.data,
                                  old->ctx.group_id.len));
    old->priv = np; /* the joiner's keys (moved to the new state below) */
  }
  ac.content.commit.has_path = 1;
  MG_CHECK(mls_group_check_new_leaves_(&a.tree, &from, 1));
  ac.content.commit.proposals = calloc(n_vals, sizeof(mls_proposal_or_ref));
  MG_REQUIRE(ac.content.commit.proposals != NULL, MG_ERR_NOMEM);
  ac.content.commit.num_proposals = n_vals;
  for (size_t i = 0; i < n_vals; i++) {
    ac.content.commit.proposals[i].type = MLS_PROPOSAL_OR_REF_PROPOSAL;
    MG_CHECK(mls_proposal_copy_(&ac.content.commit.proposals[i].proposal,
                                &vals[i]));
  }

  /* 5. The new GroupContext, path encryption, signature, transcript, key
   * schedule from the external init_secret, confirmation tag. */
  ng = mls_group_alloc_(suite, p->cfg);
  MG_REQUIRE(ng != NULL, MG_ERR_NOMEM);
  MG_CHECK(mls_group_context_copy(&ng->ctx, &old->ctx));
  ng->ctx.epoch = old->ctx.epoch + 1;
  mls_extension_list_cleanup(&ng->ctx.extensions);
  ng->ctx.extensions = a.ext;
  memset(&a.ext, 0, sizeof(a.ext));
  MG_CHECK(mls_tree_hash(&a.tree, th, sizeof(th), &th_len));
  mls_bytes_cleanup(&ng->ctx.tree_hash);
  MG_CHECK(mls_bytes_dup(&ng->ctx.tree_hash, th, th_len));
  MG_CHECK(mls_group_context_serialize(&ng->ctx, &gc, &gc_len));
  MG_CHECK(mls_treekem_encrypt(&a.tree, &ps, &ac.content.commit.path, from, gc,
                               gc_len, NULL, 0));
  free(gc);
  gc = NULL;
  MG_CHECK(mls_authenticated_content_sign(suite, &ac, &old->ctx,
                                          p->priv->sig_priv,
                                          p->priv->sig_priv_len));
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
  MG_CHECK(mls_transcript_confirmed(suite, ng->transcript.confirmed,
                                    sizeof(ng->transcript.confirmed),
                                    old->transcript.interim,
                                    old->transcript.interim_len, cti, cti_len));
  ng->transcript.confirmed_len = suite->hash->digest_len;
  mls_bytes_cleanup(&ng->ctx.confirmed_transcript_hash);
  MG_CHECK(mls_bytes_dup(&ng->ctx.confirmed_transcript_hash,
                         ng->transcript.confirmed,
                         ng->transcript.confirmed_len));
  MG_CHECK(mls_group_context_serialize(&ng->ctx, &gc, &gc_len));
  MG_CHECK(mls_group_psk_secret_(old, &a, p->psk_lookup, p->psk_arg,
                                 psk_secret));
  MG_CHECK(mls_epoch_secrets_from_init(suite, &ng->ep, init_secret, nh,
                                       ps.commit_secret, nh, psk_secret, nh,
                                       gc, gc_len));
  MG_CHECK(mls_confirmation_tag_compute(suite, tag, sizeof(tag), &tag_len,
                                        ng->ep->confirmation_key, nh,
                                        ng->transcript.confirmed,
                                        ng->transcript.confirmed_len));
  MG_CHECK(mls_bytes_dup(&ac.auth.confirmation_tag, tag, tag_len));
  MG_CHECK(mls_transcript_interim(suite, ng->transcript.interim,
                                  sizeof(ng->transcript.interim),
                                  ng->transcript.confirmed,
                                  ng->transcript.confirmed_len, tag, tag_len));
  ng->transcript.interim_len = suite->hash->digest_len;

  /* 6. The Commit as a PublicMessage (no membership tag: not a member). */
  cm.version = MLS_VERSION_MLS10;
  cm.wire_format = MLS_WIRE_PUBLIC_MESSAGE;
  MG_CHECK(mls_public_message_protect(suite, &cm.public_message, &ac,
                                      &old->ctx, NULL, 0));
  MG_CHECK(mls_message_serialize(&cm, &buf, &blen));

  /* 7. Our state of the new epoch. */
  ng->tree = a.tree;
  mls_tree_zero(&a.tree);
  ng->priv = old->priv;
  mls_tree_priv_zero(&old->priv);
  ng->self = from;
  MG_CHECK(mls_group_set_sig_key_(ng, p->priv->sig_priv,
                                  p->priv->sig_priv_len));
  MG_CHECK(mls_secret_tree_new(&ng->st, suite, ng->ep->encryption_secret, nh,
                               ng->tree.n_leaves, &ng->cfg.st));
  MG_CHECK(mls_group_push_resumption_(ng));
  commit->data = buf;
  commit->len = blen;
  buf = NULL;
  *out = ng;
  ng = NULL;
  rc = 0;
out:
  free(buf);
  free(gc);
  free(cti);
  mls_group_free(ng);
  mls_group_free(old);
  if (vals != NULL) {
    for (size_t i = 0; i < p->num_psks + 2; i++) {
      mls_proposal_cleanup(&vals[i]);
    }
  }
  free(vals);
  free(props);
  mls_applied_cleanup_(&a);
  mls_path_secrets_cleanup(&ps);
  mls_authenticated_content_cleanup(&ac);
  mls_message_cleanup(&cm);
  mls_message_cleanup(&gim);
  mls_bytes_cleanup(&ext_pub);
  mg_memzero(init_secret, sizeof(init_secret));
  mg_memzero(psk_secret, sizeof(psk_secret));
  return rc;
}
