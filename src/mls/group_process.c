/*
 * Receiving and sending framed messages in a group (RFC 9420 §6, §12.1,
 * §12.4.2): mls_group_process, mls_group_protect, mls_group_propose and
 * mls_group_group_info.
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

void mls_processed_cleanup(mls_processed *r) {
  if (r == NULL) {
    return;
  }
  mls_bytes_cleanup(&r->authenticated_data);
  mls_bytes_cleanup_secret(&r->application_data);
  mls_group_free(r->next);
  memset(r, 0, sizeof(*r));
}

/* Signature keys of the current epoch's members, for PrivateMessage. */
static int lookup_member(void *arg, uint32_t leaf, const mg_sig_key **out) {
  return mls_group_member_key_((mls_group *)arg, leaf, out);
}

/* Signature keys of a past epoch (prepared per message: late messages are
 * rare). */
typedef struct past_lookup {
  const mls_suite *suite;
  const mls_group_past_epoch *pe;
  mg_sig_key *key;
} past_lookup;

static int lookup_past(void *arg, uint32_t leaf, const mg_sig_key **out) {
  past_lookup *pl = arg;
  const uint8_t *pub = mls_group_past_pub_(pl->pe, leaf);
  if (pub == NULL) {
    return MG_ERR_SENDER;
  }
  mg_sig_key_free(pl->key);
  pl->key = NULL;
  int rc = pl->suite->sig->key_from_pub(pl->suite->sig, &pl->key,
                                        pub, pl->pe->pub_len);
  if (rc < 0) {
    return rc == MG_ERR_NOMEM ? rc : MG_ERR_SIGNATURE;
  }
  *out = pl->key;
  return 0;
}

/* Fills |res| from a verified application message. */
static int take_application(mls_processed *res, mls_authenticated_content *ac,
                            uint32_t generation) {
  res->content_type = MLS_CONTENT_APPLICATION;
  res->sender = ac->content.sender;
  res->epoch = ac->content.epoch;
  res->generation = generation;
  res->authenticated_data = ac->content.authenticated_data;
  memset(&ac->content.authenticated_data, 0,
         sizeof(ac->content.authenticated_data));
  res->application_data = ac->content.application_data;
  memset(&ac->content.application_data, 0,
         sizeof(ac->content.application_data));
  return 0;
}

/* The signature key of a PublicMessage's sender (RFC 9420 §6.2): a
 * member's leaf, an external sender of the external_senders extension, the
 * KeyPackage of a new_member_proposal Add, or the UpdatePath leaf of a
 * new_member_commit.  |tmp| receives a key that the caller frees. */
static int public_sender_key(mls_group *g, const mls_framed_content *fc,
                             const mg_sig_key **out, mg_sig_key **tmp) {
  const mls_suite *s = g->suite;
  const mls_bytes *pub = NULL;
  mls_external_senders es;
  int rc;
  memset(&es, 0, sizeof(es));
  switch (fc->sender.sender_type) {
  case MLS_SENDER_MEMBER:
    return mls_group_member_key_(g, fc->sender.leaf_index, out);
  case MLS_SENDER_EXTERNAL: {
    const mls_extension *e =
        mls_extension_list_find(&g->ctx.extensions, MLS_EXT_EXTERNAL_SENDERS);
    MG_ENSURE(e != NULL, MG_ERR_SENDER);
    MG_GUARD(mls_ext_external_senders_decode(e, &es));
    if (fc->sender.sender_index >= es.n) {
      mls_external_senders_cleanup(&es);
      return MG_ERR_SENDER;
    }
    pub = &es.items[fc->sender.sender_index].signature_key;
    break;
  }
  case MLS_SENDER_NEW_MEMBER_PROPOSAL:
    MG_ENSURE(fc->content_type == MLS_CONTENT_PROPOSAL &&
                  fc->proposal.proposal_type == MLS_PROPOSAL_ADD,
              MG_ERR_SENDER);
    pub = &fc->proposal.add.key_package.leaf_node.signature_key;
    break;
  case MLS_SENDER_NEW_MEMBER_COMMIT:
    MG_ENSURE(fc->content_type == MLS_CONTENT_COMMIT && fc->commit.has_path,
              MG_ERR_SENDER);
    pub = &fc->commit.path.leaf_node.signature_key;
    break;
  default:
    return MG_ERR_SENDER;
  }
  rc = s->sig->key_from_pub(s->sig, tmp, pub->data, pub->len);
  mls_external_senders_cleanup(&es);
  if (rc < 0) {
    return rc == MG_ERR_NOMEM ? rc : MG_ERR_SIGNATURE;
  }
  *out = *tmp;
  return 0;
}

/* The proposal types an external sender may send (RFC 9420 §12.1.8). */
static int external_may_propose(uint16_t t) {
  return t == MLS_PROPOSAL_ADD || t == MLS_PROPOSAL_REMOVE ||
         t == MLS_PROPOSAL_PSK || t == MLS_PROPOSAL_REINIT ||
         t == MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS;
}

/* Appends a verified proposal to the pending list. */
static int add_pending(mls_group *g, const mls_authenticated_content *ac,
                       const mg_hpke_key *update_key) {
  const mls_suite *s = g->suite;
  uint8_t *enc = NULL;
  size_t enc_len = 0;
  mls_group_pending pd;
  int rc;
  memset(&pd, 0, sizeof(pd));
  mg_hpke_key_zero(&pd.update_key);
  MG_CHECK(mls_authenticated_content_serialize(ac, &enc, &enc_len));
  MG_CHECK(mls_make_proposal_ref(s, pd.ref, sizeof(pd.ref), &pd.ref_len, enc,
                                 enc_len));
  /* The same proposal twice (a replay) is kept once. */
  for (size_t i = 0; i < g->num_pending; i++) {
    if (g->pending[i].ref_len == pd.ref_len &&
        memcmp(g->pending[i].ref, pd.ref, pd.ref_len) == 0) {
      MG_FAIL(MG_ERR_PROPOSAL);
    }
  }
  pd.sender = ac->content.sender;
  MG_CHECK(mls_proposal_copy_(&pd.proposal, &ac->content.proposal));
  if (update_key != NULL) {
    pd.update_key = *update_key;
  }
  mls_group_pending *np = calloc(g->num_pending + 1, sizeof(*np));
  MG_REQUIRE(np != NULL, MG_ERR_NOMEM);
  if (g->num_pending > 0) {
    memcpy(np, g->pending, g->num_pending * sizeof(*np));
    mg_memzero(g->pending, g->num_pending * sizeof(*np));
  }
  free(g->pending);
  np[g->num_pending] = pd;
  memset(&pd, 0, sizeof(pd));
  g->pending = np;
  g->num_pending++;
  rc = 0;
out:
  free(enc);
  mls_group_pending_cleanup_(&pd);
  return rc;
}

static int process_proposal(mls_group *g, const mls_authenticated_content *ac,
                            const mls_process_params *pp,
                            mls_processed *res) {
  const mls_sender *snd = &ac->content.sender;
  const mls_proposal *p = &ac->content.proposal;
  if (snd->sender_type == MLS_SENDER_EXTERNAL) {
    MG_ENSURE(external_may_propose(p->proposal_type), MG_ERR_PROPOSAL);
  }
  MG_ENSURE(p->proposal_type != MLS_PROPOSAL_EXTERNAL_INIT, MG_ERR_PROPOSAL);
  MG_GUARD(mls_group_check_proposal_(g, p, snd, pp));
  MG_GUARD(add_pending(g, ac, NULL));
  res->content_type = MLS_CONTENT_PROPOSAL;
  res->sender = *snd;
  res->epoch = ac->content.epoch;
  return 0;
}

/* Unprotects a PrivateMessage of a retained past epoch (application data
 * only). */
static int process_past(mls_group *g, const mls_private_message *pm,
                        mls_processed *res) {
  mls_group_past_epoch *pe = NULL;
  mls_authenticated_content ac;
  past_lookup pl;
  int rc;
  for (size_t i = 0; i < g->num_past; i++) {
    if (g->past[i].ctx.epoch == pm->epoch) {
      pe = &g->past[i];
    }
  }
  MG_ENSURE(pe != NULL, MG_ERR_EPOCH);
  MG_ENSURE(pm->content_type == MLS_CONTENT_APPLICATION, MG_ERR_EPOCH);
  memset(&ac, 0, sizeof(ac));
  memset(&pl, 0, sizeof(pl));
  pl.suite = g->suite;
  pl.pe = pe;
  uint32_t gen = 0;
  rc = mls_private_message_unprotect_gen(g->suite, &ac, &gen, pm, &pe->ctx,
                                         pe->st, pe->sender_data_secret,
                                         g->ep->nh, lookup_past, &pl);
  mg_sig_key_free(pl.key);
  if (rc < 0) {
    return rc;
  }
  take_application(res, &ac, gen);
  mls_authenticated_content_cleanup(&ac);
  return 0;
}

int mls_group_process(mls_group *g, const uint8_t *msg, size_t len,
                      const mls_process_params *pp, mls_processed *out) {
  mls_message m;
  mls_authenticated_content ac;
  mls_secret_tree *st_copy = NULL;
  mg_sig_key *tmp = NULL;
  uint32_t gen = 0;
  int rc;

  MG_ENSURE(out != NULL, MG_ERR_INVALID_ARG);
  memset(out, 0, sizeof(*out));
  MG_ENSURE(g != NULL && (msg != NULL || len == 0), MG_ERR_INVALID_ARG);
  memset(&m, 0, sizeof(m));
  memset(&ac, 0, sizeof(ac));
  MG_CHECK(mls_message_decode_bytes(msg, len, &m));

  if (m.wire_format == MLS_WIRE_PUBLIC_MESSAGE) {
    const mls_public_message *pm = &m.public_message;
    const mg_sig_key *key = NULL;
    MG_REQUIRE(mls_bytes_eq(&pm->content.group_id, &g->ctx.group_id),
               MG_ERR_GROUP_ID);
    MG_REQUIRE(pm->content.epoch == g->ctx.epoch, MG_ERR_EPOCH);
    MG_CHECK(public_sender_key(g, &pm->content, &key, &tmp));
    MG_CHECK(mls_public_message_unprotect_key(
        g->suite, &ac, pm, &g->ctx, g->ep->membership_key, g->ep->nh, key));
  } else if (m.wire_format == MLS_WIRE_PRIVATE_MESSAGE) {
    const mls_private_message *pm = &m.private_message;
    MG_REQUIRE(mls_bytes_eq(&pm->group_id, &g->ctx.group_id),
               MG_ERR_GROUP_ID);
    if (pm->epoch != g->ctx.epoch) {
      MG_CHECK(process_past(g, pm, out));
      rc = 0;
      goto out;
    }
    mls_secret_tree *st = g->st;
    if (pm->content_type != MLS_CONTENT_APPLICATION) {
      /* A Commit must leave |g| unchanged, also its handshake ratchet:
       * decrypt with a copy, which the new epoch retains.  A proposal may
       * still be rejected after decryption (§12.1): decrypt with a copy
       * that replaces |g|'s tree only once the proposal is accepted. */
      MG_CHECK(mls_secret_tree_copy(&st_copy, g->st));
      st = st_copy;
    }
    MG_CHECK(mls_private_message_unprotect_gen(
        g->suite, &ac, &gen, pm, &g->ctx, st, g->ep->sender_data_secret,
        g->ep->nh, lookup_member, g));
  } else {
    MG_FAIL(MG_ERR_WIRE_FORMAT);
  }

  switch (ac.content.content_type) {
  case MLS_CONTENT_APPLICATION:
    MG_REQUIRE(m.wire_format == MLS_WIRE_PRIVATE_MESSAGE, MG_ERR_WIRE_FORMAT);
    take_application(out, &ac, gen);
    break;
  case MLS_CONTENT_PROPOSAL:
    MG_CHECK(process_proposal(g, &ac, pp, out));
    if (st_copy != NULL) {
      /* Accepted: the consumed handshake generation becomes ours. */
      mls_secret_tree_free(g->st);
      g->st = st_copy;
      st_copy = NULL;
    }
    break;
  case MLS_CONTENT_COMMIT:
    out->content_type = MLS_CONTENT_COMMIT;
    out->sender = ac.content.sender;
    out->epoch = ac.content.epoch;
    MG_REQUIRE(!g->has_reinit, MG_ERR_STATE);
    rc = mls_group_process_commit_(g, &ac, st_copy, pp, out);
    st_copy = NULL; /* owned by the callee */
    MG_CHECK(rc);
    break;
  default:
    MG_FAIL(MG_ERR_CONTENT_TYPE);
  }
  rc = 0;
out:
  if (rc < 0) {
    mls_processed_cleanup(out);
  }
  mls_secret_tree_free(st_copy);
  mg_sig_key_free(tmp);
  mls_authenticated_content_cleanup(&ac);
  mls_message_cleanup(&m);
  return rc;
}

/* ------------------------------------------------------------ sending */

/* Encodes |ac| for the wire as a PublicMessage or (|encrypt|) a
 * PrivateMessage of the current epoch into |out|. */
int mls_group_frame_(mls_group *g, const mls_authenticated_content *ac,
                     int encrypt, size_t padding, mls_bytes *out,
                     uint32_t *generation) {
  mls_message m;
  uint8_t *buf = NULL;
  size_t blen = 0;
  int rc;
  memset(&m, 0, sizeof(m));
  m.version = MLS_VERSION_MLS10;
  if (encrypt) {
    m.wire_format = MLS_WIRE_PRIVATE_MESSAGE;
    MG_CHECK(mls_private_message_protect_gen(
        g->suite, &m.private_message, generation, ac, g->st,
        g->ep->sender_data_secret, g->ep->nh, padding, NULL));
  } else {
    m.wire_format = MLS_WIRE_PUBLIC_MESSAGE;
    MG_CHECK(mls_public_message_protect(g->suite, &m.public_message, ac,
                                        &g->ctx, g->ep->membership_key,
                                        g->ep->nh));
  }
  MG_CHECK(mls_message_serialize(&m, &buf, &blen));
  out->data = buf;
  out->len = blen;
  buf = NULL;
out:
  free(buf);
  mls_message_cleanup(&m);
  return rc;
}

/* Starts the FramedContent of a message from us in the current epoch. */
int mls_group_content_init_(const mls_group *g, mls_authenticated_content *ac,
                            int encrypt, uint8_t content_type,
                            const uint8_t *aad, size_t aad_len) {
  memset(ac, 0, sizeof(*ac));
  ac->wire_format = encrypt ? MLS_WIRE_PRIVATE_MESSAGE : MLS_WIRE_PUBLIC_MESSAGE;
  MG_GUARD(mls_bytes_copy(&ac->content.group_id, &g->ctx.group_id));
  ac->content.epoch = g->ctx.epoch;
  ac->content.sender.sender_type = MLS_SENDER_MEMBER;
  ac->content.sender.leaf_index = g->self.v;
  ac->content.content_type = content_type;
  if (aad_len > 0) {
    MG_GUARD(mls_bytes_dup(&ac->content.authenticated_data, aad, aad_len));
  }
  return 0;
}

int mls_group_protect(mls_group *g, const uint8_t *data, size_t data_len,
                      const uint8_t *aad, size_t aad_len, size_t padding,
                      mls_bytes *out, uint32_t *generation) {
  mls_authenticated_content ac;
  int rc;
  MG_ENSURE(g != NULL && out != NULL && (data != NULL || data_len == 0) &&
                (aad != NULL || aad_len == 0),
            MG_ERR_INVALID_ARG);
  memset(out, 0, sizeof(*out));
  MG_ENSURE(!g->has_reinit, MG_ERR_STATE);
  MG_GUARD(mls_group_content_init_(g, &ac, 1, MLS_CONTENT_APPLICATION, aad,
                                   aad_len));
  if (data_len > 0) {
    MG_CHECK(mls_bytes_dup(&ac.content.application_data, data, data_len));
  }
  MG_CHECK(mls_authenticated_content_sign_key(g->suite, &ac, &g->ctx,
                                              g->sig_key));
  MG_CHECK(mls_group_frame_(g, &ac, 1, padding, out, generation));
out:
  mls_bytes_cleanup_secret(&ac.content.application_data);
  mls_authenticated_content_cleanup(&ac);
  return rc;
}

int mls_group_propose(mls_group *g, const mls_proposal *prop, int encrypt,
                      uint64_t now, mls_bytes *out) {
  const mls_suite *s;
  mls_authenticated_content ac;
  mg_hpke_key upd;
  mls_process_params pp;
  int rc;
  MG_ENSURE(g != NULL && prop != NULL && out != NULL, MG_ERR_INVALID_ARG);
  memset(out, 0, sizeof(*out));
  MG_ENSURE(!g->has_reinit, MG_ERR_STATE);
  s = g->suite;
  mg_hpke_key_zero(&upd);
  memset(&pp, 0, sizeof(pp));
  pp.now = now;
  MG_GUARD(mls_group_content_init_(g, &ac, encrypt, MLS_CONTENT_PROPOSAL, NULL,
                                   0));
  switch (prop->proposal_type) {
  case MLS_PROPOSAL_UPDATE: {
    /* A fresh encryption key in a copy of our leaf (§12.1.2). */
    const mls_leaf_node *cur = mls_tree_leaf(&g->tree, g->self);
    MG_REQUIRE(cur != NULL, MG_ERR_STATE);
    ac.content.proposal.proposal_type = MLS_PROPOSAL_UPDATE;
    mls_leaf_node *ln = &ac.content.proposal.update.leaf_node;
    MG_CHECK(mls_leaf_node_copy(ln, cur));
    MG_CHECK(mg_hpke_key_generate(&upd, s->kem));
    size_t pl = 0;
    const uint8_t *pub = mg_hpke_key_pub(&upd, &pl);
    mls_bytes_cleanup(&ln->encryption_key);
    MG_CHECK(mls_bytes_dup(&ln->encryption_key, pub, pl));
    ln->leaf_node_source = MLS_LEAF_SOURCE_UPDATE;
    memset(&ln->lifetime, 0, sizeof(ln->lifetime));
    mls_bytes_cleanup(&ln->parent_hash);
    MG_CHECK(mls_leaf_node_sign_key(s, ln, g->sig_key, g->ctx.group_id.data,
                                    g->ctx.group_id.len, g->self.v));
    break;
  }
  case MLS_PROPOSAL_ADD:
  case MLS_PROPOSAL_REMOVE:
  case MLS_PROPOSAL_PSK:
  case MLS_PROPOSAL_REINIT:
  case MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS:
    MG_CHECK(mls_proposal_copy_(&ac.content.proposal, prop));
    if (prop->proposal_type == MLS_PROPOSAL_PSK &&
        ac.content.proposal.psk.psk.psk_nonce.len == 0) {
      uint8_t nonce[MG_MAX_HASH_LEN];
      MG_CHECK(mg_random_bytes(nonce, s->kdf->nh));
      MG_CHECK(mls_bytes_dup(&ac.content.proposal.psk.psk.psk_nonce, nonce,
                             s->kdf->nh));
    }
    if (prop->proposal_type == MLS_PROPOSAL_REMOVE) {
      MG_REQUIRE(prop->remove.removed != g->self.v, MG_ERR_PROPOSAL);
    }
    break;
  default:
    MG_FAIL(MG_ERR_PROPOSAL);
  }
  if (prop->proposal_type != MLS_PROPOSAL_UPDATE) {
    MG_CHECK(mls_group_check_proposal_(g, &ac.content.proposal,
                                       &ac.content.sender, &pp));
  }
  MG_CHECK(mls_authenticated_content_sign_key(s, &ac, &g->ctx, g->sig_key));
  MG_CHECK(mls_group_frame_(g, &ac, encrypt, 0, out, NULL));
  /* The pending entry's ref is over the AuthenticatedContent, the same
   * bytes a receiver hashes. */
  MG_CHECK(add_pending(g, &ac, upd.kem != NULL ? &upd : NULL));
  rc = 0;
out:
  if (rc < 0) {
    mls_bytes_cleanup(out);
  }
  mg_hpke_key_cleanup(&upd);
  mls_authenticated_content_cleanup(&ac);
  return rc;
}

/* Builds and signs a GroupInfo of |g|'s current epoch. */
int mls_group_make_group_info_(const mls_group *g, int with_tree,
                               int with_external_pub, mls_group_info *gi) {
  const mls_suite *s = g->suite;
  mg_writer w;
  mg_hpke_key ext;
  uint8_t tag[MG_MAX_HASH_LEN];
  size_t tag_len = 0;
  int rc;
  memset(gi, 0, sizeof(*gi));
  mg_writer_zero(&w);
  mg_hpke_key_zero(&ext);
  MG_CHECK(mls_group_context_copy(&gi->group_context, &g->ctx));
  if (with_external_pub) {
    size_t pl = 0;
    MG_CHECK(mls_epoch_external_key(g->ep, &ext));
    const uint8_t *pub = mg_hpke_key_pub(&ext, &pl);
    MG_CHECK(mg_writer_init(&w, 256, 0));
    MG_CHECK(mg_write_opaque(&w, pub, pl));
    MG_CHECK(mls_extension_list_add(&gi->extensions, MLS_EXT_EXTERNAL_PUB,
                                    mg_writer_data(&w), mg_writer_len(&w)));
    mg_writer_cleanup(&w);
  }
  if (with_tree) {
    mg_writer_zero(&w);
    MG_CHECK(mg_writer_init(&w, 1024, 0));
    MG_CHECK(mls_tree_encode(&w, &g->tree));
    MG_CHECK(mls_extension_list_add(&gi->extensions, MLS_EXT_RATCHET_TREE,
                                    mg_writer_data(&w), mg_writer_len(&w)));
  }
  /* The confirmation tag of the current epoch: recomputed from the
   * confirmed transcript hash. */
  MG_CHECK(mls_confirmation_tag_compute(
      s, tag, sizeof(tag), &tag_len, g->ep->confirmation_key, g->ep->nh,
      g->transcript.confirmed, g->transcript.confirmed_len));
  MG_CHECK(mls_bytes_dup(&gi->confirmation_tag, tag, tag_len));
  gi->signer = g->self.v;
  MG_CHECK(mls_group_info_sign_key(s, gi, g->sig_key));
out:
  if (rc < 0) {
    mls_group_info_cleanup(gi);
  }
  mg_writer_cleanup(&w);
  mg_hpke_key_cleanup(&ext);
  return rc;
}

int mls_group_group_info(mls_group *g, int with_tree, mls_bytes *out) {
  mls_message m;
  uint8_t *buf = NULL;
  size_t blen = 0;
  int rc;
  MG_ENSURE(g != NULL && out != NULL, MG_ERR_INVALID_ARG);
  memset(out, 0, sizeof(*out));
  memset(&m, 0, sizeof(m));
  m.version = MLS_VERSION_MLS10;
  m.wire_format = MLS_WIRE_GROUP_INFO;
  MG_CHECK(mls_group_make_group_info_(g, with_tree, 1, &m.group_info));
  MG_CHECK(mls_message_serialize(&m, &buf, &blen));
  out->data = buf;
  out->len = blen;
out:
  mls_message_cleanup(&m);
  return rc;
}
