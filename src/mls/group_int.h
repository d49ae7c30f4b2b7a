/*
 * Internals of the group engine shared by src/mls/group*.c.  Nothing
 * outside src/mls/group*.c includes this header.
 */
#ifndef MG_HEADER_MLS_GROUP_INT_H
#define MG_HEADER_MLS_GROUP_INT_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "crypto/hpke.h"
#include "mls/group.h"
#include "mls/key_schedule.h"
#include "mls/msg_framing.h"
#include "mls/secret_tree.h"
#include "mls/transcript.h"
#include "mls/tree.h"
#include "mls/treekem.h"
#include "common/guard.h"

/* MG_FAIL(err) unless |cond| holds (for functions with an out: label). */
#define MG_REQUIRE(cond, err) \
  do {                        \
    if (!(cond)) {            \
      MG_FAIL(err);           \
    }                         \
  } while (0)

/* A past epoch kept so that late application messages still decrypt
 * (RFC 9420 §15.2 leaves the policy to the application; the group's
 * config bounds how many).  Only what unprotecting a PrivateMessage needs:
 * the GroupContext (FramedContentTBS), sender_data_secret, the secret tree
 * as it was left (consumed generations stay consumed) and the members'
 * signature keys. */
typedef struct mls_group_past_epoch {
  mls_group_context ctx;
  uint8_t sender_data_secret[MG_MAX_HASH_LEN];
  mls_secret_tree *st;
  uint32_t n_leaves;
  /* The members' signature keys in one block (copied at every epoch
   * change, so no allocation per member): key of leaf l at
   * sig_pubs + l * sig->pub_len, sig_present[l] = 0 for a blank leaf. */
  size_t pub_len;
  uint8_t *sig_pubs;
  uint8_t *sig_present;
} mls_group_past_epoch;

/* The signature key of leaf |l| of |pe|, or NULL. */
const uint8_t *mls_group_past_pub_(const mls_group_past_epoch *pe, uint32_t l);
/* Allocates |pe|'s key block for |n| leaves of |pub_len| bytes (zeroed). */
MG_MUST_USE int mls_group_past_alloc_pubs_(mls_group_past_epoch *pe, uint32_t n,
                                           size_t pub_len);

/* resumption_psk of an epoch (RFC 9420 §8.6), kept for PreSharedKey
 * proposals of type resumption. */
typedef struct mls_group_resumption {
  uint64_t epoch;
  uint8_t psk[MG_MAX_HASH_LEN];
} mls_group_resumption;

/* A proposal received (or sent) in the current epoch, kept until a Commit
 * covers it (RFC 9420 §12.2). */
typedef struct mls_group_pending {
  uint8_t ref[MG_MAX_HASH_LEN]; /* ProposalRef */
  size_t ref_len;
  mls_sender sender;
  mls_proposal proposal;
  /* Our own Update: the private key of the proposed leaf's encryption key
   * (zero state otherwise). */
  mg_hpke_key update_key;
} mls_group_pending;

struct mls_group {
  const mls_suite *suite;
  mls_group_config cfg;
  mls_group_context ctx;
  mls_tree tree;       /* public ratchet tree */
  mls_tree_priv priv;  /* our private view (secrets) */
  mls_leaf_idx self;
  mg_sig_key *sig_key; /* prepared signature key */
  mls_bytes sig_priv;  /* its private bytes (secret; for serialization) */
  mls_epoch_secrets *ep;
  mls_secret_tree *st;
  mls_transcript transcript; /* confirmed and interim transcript hashes */
  mls_group_past_epoch *past; /* oldest first */
  size_t num_past;
  mls_group_resumption *res; /* oldest first, the current epoch last */
  size_t num_res;
  mls_group_pending *pending;
  size_t num_pending;
  /* A ReInit was committed: the group may not send any more (§12.1.5). */
  int has_reinit;
  mls_reinit reinit;
  /* Prepared signature keys of the members (lazily filled; not part of
   * the state proper). */
  mg_sig_key **member_keys;
  uint32_t num_member_keys;
};

/* group.c */
mls_group *mls_group_alloc_(const mls_suite *suite, const mls_group_config *cfg);
MG_MUST_USE int mls_group_member_key_(mls_group *g, uint32_t leaf,
                                      const mg_sig_key **out);
MG_MUST_USE int mls_group_set_sig_key_(mls_group *g, const uint8_t *priv,
                                       size_t priv_len);
/* Shares |src|'s prepared signature key (and copies its private bytes). */
MG_MUST_USE int mls_group_share_sig_key_(mls_group *dst, const mls_group *src);
MG_MUST_USE int mls_group_past_copy_(mls_group_past_epoch *out,
                                     const mls_group_past_epoch *in);
void mls_group_past_cleanup_(mls_group_past_epoch *p);
MG_MUST_USE int mls_group_pending_copy_(mls_group_pending *out,
                                        const mls_group_pending *in);
void mls_group_pending_cleanup_(mls_group_pending *p);
MG_MUST_USE int mls_proposal_copy_(mls_proposal *out, const mls_proposal *in);
/* Finds the resumption PSK of |epoch|, or NULL. */
const mls_group_resumption *mls_group_find_resumption_(const mls_group *g,
                                                       uint64_t epoch);
/* Appends the current epoch's resumption_psk, dropping the oldest beyond
 * the configured maximum. */
MG_MUST_USE int mls_group_push_resumption_(mls_group *g);
MG_MUST_USE int mls_group_check_leaves_(const mls_tree *t,
                                        const mls_group_context *ctx,
                                        int check_lifetime, uint64_t now);

#endif
