/*
 * Internals shared by the Commit code (src/mls/group_commit.c,
 * src/mls/group_process.c).  Not for use outside src/mls/group*.c.
 */
#ifndef MG_HEADER_MLS_GROUP_COMMIT_INT_H
#define MG_HEADER_MLS_GROUP_COMMIT_INT_H

#include "mls/group_int.h"

/* One entry of a Commit's proposal list, resolved. */
typedef struct mls_cprop {
  const mls_proposal *p;
  mls_sender sender;             /* the proposer */
  const mls_group_pending *pend; /* by reference: the pending entry */
} mls_cprop;

/* A validated proposal list applied to a copy of the tree (§12.3). */
typedef struct mls_applied {
  mls_tree tree;          /* the tree after the proposals */
  mls_extension_list ext; /* the GroupContext extensions after them */
  int has_gce;
  mls_leaf_idx *added;    /* leaf of each Add, in list order */
  size_t num_added;
  const mls_psk_id **psks; /* PreSharedKey ids, in list order */
  size_t num_psks;
  uint16_t *types;        /* type of each list entry (path rule) */
  const mls_external_init *ext_init;
  const mls_reinit *reinit;
  const mls_group_pending *self_update; /* our Update, committed */
  int self_removed;
} mls_applied;

void mls_applied_cleanup_(mls_applied *a);

/* The parts of the next epoch's state, moved into it by
 * mls_group_build_next_. */
typedef struct mls_next_parts {
  mls_group_context ctx;
  mls_tree tree;
  mls_tree_priv priv;
  mls_leaf_idx self;
  mls_epoch_secrets *ep;
  mls_transcript transcript;
  /* The old epoch's secret tree as it must be retained (after a
   * PrivateMessage Commit was decrypted with a copy); NULL: copy g->st. */
  mls_secret_tree *old_st;
  const mls_reinit *reinit;
  const uint8_t *new_sig_priv; /* NULL: keep ours */
  size_t new_sig_priv_len;
} mls_next_parts;

void mls_next_parts_cleanup_(mls_next_parts *np);

MG_MUST_USE int mls_group_check_update_leaf_(const mls_group *g, uint32_t leaf,
                                             const mls_leaf_node *ln,
                                             const mls_process_params *pp);
MG_MUST_USE int mls_group_check_proposal_(const mls_group *g,
                                          const mls_proposal *p,
                                          const mls_sender *sender,
                                          const mls_process_params *pp);
/* mls_group_check_new_leaves_ checks that the encryption and signature
 * keys of |leaves| appear nowhere else in |t| (the keys of a tree that had
 * unique keys before these leaves changed). */
MG_MUST_USE int mls_group_check_new_leaves_(const mls_tree *t,
                                            const mls_leaf_idx *leaves,
                                            size_t n);
MG_MUST_USE int mls_group_validate_and_apply_(const mls_group *g,
                                              const mls_cprop *props, size_t n,
                                              const mls_sender *committer,
                                              const mls_process_params *pp,
                                              mls_applied *a);
MG_MUST_USE int mls_group_psk_secret_(const mls_group *g, const mls_applied *a,
                                      mls_psk_lookup_fn lookup, void *arg,
                                      uint8_t *out);
MG_MUST_USE int mls_group_build_next_(const mls_group *g, mls_next_parts *np,
                                      mls_group **out);
/* Processes a verified Commit |ac| of |g|'s epoch; takes ownership of
 * |old_st| (may be NULL). */
MG_MUST_USE int mls_group_process_commit_(const mls_group *g,
                                          const mls_authenticated_content *ac,
                                          mls_secret_tree *old_st,
                                          const mls_process_params *pp,
                                          mls_processed *res);

/* group_process.c */
MG_MUST_USE int mls_group_frame_(mls_group *g,
                                 const mls_authenticated_content *ac,
                                 int encrypt, size_t padding, mls_bytes *out,
                                 uint32_t *generation);
MG_MUST_USE int mls_group_content_init_(const mls_group *g,
                                        mls_authenticated_content *ac,
                                        int encrypt, uint8_t content_type,
                                        const uint8_t *aad, size_t aad_len);
MG_MUST_USE int mls_group_make_group_info_(const mls_group *g, int with_tree,
                                           int with_external_pub,
                                           mls_group_info *gi);

#endif
