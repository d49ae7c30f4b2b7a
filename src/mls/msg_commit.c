/* Commit (RFC 9420 §12.4).  See msg_framing.h. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/guard.h"
#include "mls/msg_framing.h"

/* Adapters for mls_vec_decode/mls_vec_encode (no function pointer casts). */
static int commit_por_decode(mg_reader *r, void *elem) {
  return mls_proposal_or_ref_decode(r, elem);
}

static int commit_por_encode(mg_writer *w, const void *elem) {
  return mls_proposal_or_ref_encode(w, elem);
}

static void commit_por_cleanup(void *elem) { mls_proposal_or_ref_cleanup(elem); }

/* RFC 9420 §12.4
 *   struct {
 *       ProposalOrRef proposals<V>;
 *       optional<UpdatePath> path;
 *   } Commit; */
int mls_commit_decode(mg_reader *r, mls_commit *out) {
  mg_reader tmp;
  mls_commit v;
  void *arr = NULL;
  int present = 0;
  int rc;

  MG_ENSURE(r != NULL && out != NULL, MG_ERR_INVALID_ARG);
  memset(&v, 0, sizeof(v));
  tmp = *r;
  MG_CHECK(mls_vec_decode(&tmp, &arr, &v.num_proposals,
                          sizeof(mls_proposal_or_ref), 0, commit_por_decode,
                          commit_por_cleanup));
  v.proposals = arr;
  MG_CHECK(mg_read_optional(&tmp, &present));
  if (present) {
    MG_CHECK(mls_update_path_decode(&tmp, &v.path));
    v.has_path = 1;
  }
  *r = tmp;
  *out = v;
  return 0;
out:
  mls_commit_cleanup(&v);
  return rc;
}

int mls_commit_encode(mg_writer *w, const mls_commit *in) {
  MG_ENSURE_REF(in);
  MG_ENSURE(in->has_path == 0 || in->has_path == 1, MG_ERR_INVALID_ARG);
  MG_GUARD(mls_vec_encode(w, in->proposals, in->num_proposals,
                          sizeof(mls_proposal_or_ref), commit_por_encode));
  MG_GUARD(mg_write_optional(w, in->has_path));
  if (in->has_path) {
    MG_GUARD(mls_update_path_encode(w, &in->path));
  }
  return 0;
}

/* RFC 9420 §12.4:
 *   if len(commit.proposals) == 0 || pathRequired:
 *       assert(commit.path != null) */
int mls_commit_check_path(const mls_commit *c, const uint16_t *types) {
  int required;
  MG_ENSURE_REF(c);
  required = c->num_proposals == 0;
  for (size_t i = 0; i < c->num_proposals; i++) {
    uint16_t t;
    if (types != NULL) {
      t = types[i];
    } else if (c->proposals[i].type == MLS_PROPOSAL_OR_REF_PROPOSAL) {
      t = c->proposals[i].proposal.proposal_type;
    } else {
      return MG_ERR_INVALID_ARG;
    }
    required |= mls_proposal_type_requires_path(t);
  }
  MG_ENSURE(!required || c->has_path, MG_ERR_PATH);
  return 0;
}

void mls_commit_cleanup(mls_commit *x) {
  if (x == NULL) {
    return;
  }
  mls_vec_free(x->proposals, x->num_proposals, sizeof(mls_proposal_or_ref),
               commit_por_cleanup);
  mls_update_path_cleanup(&x->path);
  memset(x, 0, sizeof(*x));
}
