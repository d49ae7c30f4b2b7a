/*
 * Proposals (RFC 9420 §12.1) and ProposalOrRef (§12.4).  See msg_framing.h.
 *
 * Every decoder works on a copy of the reader and a zeroed local value, and
 * hands both back only on success, so a failure leaves |r| unchanged and
 * |*out| owning nothing.
 */
#include "config.h"

#include <string.h>

#include "common/guard.h"
#include "mls/msg_framing.h"

int mls_proposal_type_known(uint16_t proposal_type) {
  switch (proposal_type) {
  case MLS_PROPOSAL_ADD:
  case MLS_PROPOSAL_UPDATE:
  case MLS_PROPOSAL_REMOVE:
  case MLS_PROPOSAL_PSK:
  case MLS_PROPOSAL_REINIT:
  case MLS_PROPOSAL_EXTERNAL_INIT:
  case MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS:
    return 1;
  default:
    return 0;
  }
}

int mls_proposal_type_requires_path(uint16_t proposal_type) {
  /* RFC 9420 §12.4: only add, psk and reinit may go without a path. */
  switch (proposal_type) {
  case MLS_PROPOSAL_ADD:
  case MLS_PROPOSAL_PSK:
  case MLS_PROPOSAL_REINIT:
    return 0;
  default:
    return 1;
  }
}

/* ------------------------------------------------------------------ Add */

/* RFC 9420 §12.1.1
 *   struct { KeyPackage key_package; } Add; */
int mls_add_decode(mg_reader *r, mls_add *out) {
  MG_ENSURE(r != NULL && out != NULL, MG_ERR_INVALID_ARG);
  memset(out, 0, sizeof(*out));
  /* mls_key_package_decode already leaves |r| and its output untouched on
   * failure. */
  return mls_key_package_decode(r, &out->key_package);
}

int mls_add_encode(mg_writer *w, const mls_add *in) {
  MG_ENSURE_REF(in);
  return mls_key_package_encode(w, &in->key_package);
}

void mls_add_cleanup(mls_add *x) {
  if (x != NULL) {
    mls_key_package_cleanup(&x->key_package);
  }
}

/* --------------------------------------------------------------- Update */

/* RFC 9420 §12.1.2
 *   struct { LeafNode leaf_node; } Update;
 * The leaf_node_source (must be update, §7.3) is checked when the proposal
 * is validated against the group. */
int mls_update_decode(mg_reader *r, mls_update *out) {
  MG_ENSURE(r != NULL && out != NULL, MG_ERR_INVALID_ARG);
  memset(out, 0, sizeof(*out));
  return mls_leaf_node_decode(r, &out->leaf_node);
}

int mls_update_encode(mg_writer *w, const mls_update *in) {
  MG_ENSURE_REF(in);
  return mls_leaf_node_encode(w, &in->leaf_node);
}

void mls_update_cleanup(mls_update *x) {
  if (x != NULL) {
    mls_leaf_node_cleanup(&x->leaf_node);
  }
}

/* --------------------------------------------------------------- Remove */

/* RFC 9420 §12.1.3
 *   struct { uint32 removed; } Remove; */
int mls_remove_decode(mg_reader *r, mls_remove *out) {
  uint32_t removed = 0;
  MG_ENSURE(r != NULL && out != NULL, MG_ERR_INVALID_ARG);
  MG_GUARD(mg_read_u32(r, &removed));
  out->removed = removed;
  return 0;
}

int mls_remove_encode(mg_writer *w, const mls_remove *in) {
  MG_ENSURE_REF(in);
  return mg_write_u32(w, in->removed);
}

void mls_remove_cleanup(mls_remove *x) {
  if (x != NULL) {
    x->removed = 0;
  }
}

/* --------------------------------------------------------- PreSharedKey */

/* RFC 9420 §12.1.4
 *   struct { PreSharedKeyID psk; } PreSharedKey; */
int mls_pre_shared_key_decode(mg_reader *r, mls_pre_shared_key *out) {
  MG_ENSURE(r != NULL && out != NULL, MG_ERR_INVALID_ARG);
  memset(out, 0, sizeof(*out));
  return mls_psk_id_decode(r, &out->psk);
}

int mls_pre_shared_key_encode(mg_writer *w, const mls_pre_shared_key *in) {
  MG_ENSURE_REF(in);
  return mls_psk_id_encode(w, &in->psk);
}

void mls_pre_shared_key_cleanup(mls_pre_shared_key *x) {
  if (x != NULL) {
    mls_psk_id_cleanup(&x->psk);
  }
}

/* --------------------------------------------------------------- ReInit */

/* RFC 9420 §12.1.5
 *   struct {
 *       opaque group_id<V>;
 *       ProtocolVersion version;
 *       CipherSuite cipher_suite;
 *       Extension extensions<V>;
 *   } ReInit;
 * The version and suite are those of the group to create; whether they are
 * acceptable (not lower than the current version, supported) is decided by
 * the group code. */
int mls_reinit_decode(mg_reader *r, mls_reinit *out) {
  mg_reader tmp;
  mls_reinit v;
  int rc;

  MG_ENSURE(r != NULL && out != NULL, MG_ERR_INVALID_ARG);
  memset(&v, 0, sizeof(v));
  tmp = *r;
  MG_CHECK(mls_bytes_read(&tmp, &v.group_id));
  MG_CHECK(mg_read_u16(&tmp, &v.version));
  MG_CHECK(mg_read_u16(&tmp, &v.cipher_suite));
  MG_CHECK(mls_extension_list_decode(&tmp, &v.extensions));
  *r = tmp;
  *out = v;
  return 0;
out:
  mls_reinit_cleanup(&v);
  return rc;
}

int mls_reinit_encode(mg_writer *w, const mls_reinit *in) {
  MG_ENSURE_REF(in);
  MG_GUARD(mls_bytes_write(w, &in->group_id));
  MG_GUARD(mg_write_u16(w, in->version));
  MG_GUARD(mg_write_u16(w, in->cipher_suite));
  return mls_extension_list_encode(w, &in->extensions);
}

void mls_reinit_cleanup(mls_reinit *x) {
  if (x == NULL) {
    return;
  }
  mls_bytes_cleanup(&x->group_id);
  mls_extension_list_cleanup(&x->extensions);
  memset(x, 0, sizeof(*x));
}

/* --------------------------------------------------------- ExternalInit */

/* RFC 9420 §12.1.6
 *   struct { opaque kem_output<V>; } ExternalInit; */
int mls_external_init_decode(mg_reader *r, mls_external_init *out) {
  MG_ENSURE(r != NULL && out != NULL, MG_ERR_INVALID_ARG);
  memset(out, 0, sizeof(*out));
  return mls_bytes_read(r, &out->kem_output);
}

int mls_external_init_encode(mg_writer *w, const mls_external_init *in) {
  MG_ENSURE_REF(in);
  return mls_bytes_write(w, &in->kem_output);
}

void mls_external_init_cleanup(mls_external_init *x) {
  if (x != NULL) {
    mls_bytes_cleanup(&x->kem_output);
  }
}

/* ----------------------------------------------- GroupContextExtensions */

/* RFC 9420 §12.1.7
 *   struct { Extension extensions<V>; } GroupContextExtensions;
 * GREASE is not allowed here (§13.5) but, like any extension the group
 * does not support, that is decided against the members' capabilities. */
int mls_group_context_extensions_decode(mg_reader *r,
                                        mls_group_context_extensions *out) {
  MG_ENSURE(r != NULL && out != NULL, MG_ERR_INVALID_ARG);
  memset(out, 0, sizeof(*out));
  return mls_extension_list_decode(r, &out->extensions);
}

int mls_group_context_extensions_encode(
    mg_writer *w, const mls_group_context_extensions *in) {
  MG_ENSURE_REF(in);
  return mls_extension_list_encode(w, &in->extensions);
}

void mls_group_context_extensions_cleanup(mls_group_context_extensions *x) {
  if (x != NULL) {
    mls_extension_list_cleanup(&x->extensions);
  }
}

/* ------------------------------------------------------------- Proposal */

/* RFC 9420 §12.1
 *   struct {
 *       ProposalType proposal_type;
 *       select (Proposal.proposal_type) {
 *           case add:                      Add;
 *           case update:                   Update;
 *           case remove:                   Remove;
 *           case psk:                      PreSharedKey;
 *           case reinit:                   ReInit;
 *           case external_init:            ExternalInit;
 *           case group_context_extensions: GroupContextExtensions;
 *       };
 *   } Proposal;
 * The body of any other type has no length prefix and cannot be skipped;
 * §13.5 rejects the enclosing message (MG_ERR_PROPOSAL). */
int mls_proposal_decode(mg_reader *r, mls_proposal *out) {
  mg_reader tmp;
  mls_proposal v;
  int rc;

  MG_ENSURE(r != NULL && out != NULL, MG_ERR_INVALID_ARG);
  memset(&v, 0, sizeof(v));
  tmp = *r;
  MG_CHECK(mg_read_u16(&tmp, &v.proposal_type));
  switch (v.proposal_type) {
  case MLS_PROPOSAL_ADD:
    MG_CHECK(mls_add_decode(&tmp, &v.add));
    break;
  case MLS_PROPOSAL_UPDATE:
    MG_CHECK(mls_update_decode(&tmp, &v.update));
    break;
  case MLS_PROPOSAL_REMOVE:
    MG_CHECK(mls_remove_decode(&tmp, &v.remove));
    break;
  case MLS_PROPOSAL_PSK:
    MG_CHECK(mls_pre_shared_key_decode(&tmp, &v.psk));
    break;
  case MLS_PROPOSAL_REINIT:
    MG_CHECK(mls_reinit_decode(&tmp, &v.reinit));
    break;
  case MLS_PROPOSAL_EXTERNAL_INIT:
    MG_CHECK(mls_external_init_decode(&tmp, &v.external_init));
    break;
  case MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS:
    MG_CHECK(mls_group_context_extensions_decode(&tmp,
                                                 &v.group_context_extensions));
    break;
  default:
    MG_FAIL(MG_ERR_PROPOSAL);
  }
  *r = tmp;
  *out = v;
  return 0;
out:
  mls_proposal_cleanup(&v);
  return rc;
}

int mls_proposal_encode(mg_writer *w, const mls_proposal *in) {
  MG_ENSURE_REF(in);
  MG_ENSURE(mls_proposal_type_known(in->proposal_type), MG_ERR_INVALID_ARG);
  MG_GUARD(mg_write_u16(w, in->proposal_type));
  switch (in->proposal_type) {
  case MLS_PROPOSAL_ADD:
    return mls_add_encode(w, &in->add);
  case MLS_PROPOSAL_UPDATE:
    return mls_update_encode(w, &in->update);
  case MLS_PROPOSAL_REMOVE:
    return mls_remove_encode(w, &in->remove);
  case MLS_PROPOSAL_PSK:
    return mls_pre_shared_key_encode(w, &in->psk);
  case MLS_PROPOSAL_REINIT:
    return mls_reinit_encode(w, &in->reinit);
  case MLS_PROPOSAL_EXTERNAL_INIT:
    return mls_external_init_encode(w, &in->external_init);
  case MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS:
    return mls_group_context_extensions_encode(w, &in->group_context_extensions);
  default:
    return MG_ERR_INVALID_ARG;
  }
}

void mls_proposal_cleanup(mls_proposal *x) {
  if (x == NULL) {
    return;
  }
  /* The bodies share storage: clean up the one the type names. */
  switch (x->proposal_type) {
  case MLS_PROPOSAL_ADD:
    mls_add_cleanup(&x->add);
    break;
  case MLS_PROPOSAL_UPDATE:
    mls_update_cleanup(&x->update);
    break;
  case MLS_PROPOSAL_REMOVE:
    mls_remove_cleanup(&x->remove);
    break;
  case MLS_PROPOSAL_PSK:
    mls_pre_shared_key_cleanup(&x->psk);
    break;
  case MLS_PROPOSAL_REINIT:
    mls_reinit_cleanup(&x->reinit);
    break;
  case MLS_PROPOSAL_EXTERNAL_INIT:
    mls_external_init_cleanup(&x->external_init);
    break;
  case MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS:
    mls_group_context_extensions_cleanup(&x->group_context_extensions);
    break;
  default:
    break;
  }
  memset(x, 0, sizeof(*x));
}

/* -------------------------------------------------------- ProposalOrRef */

/* RFC 9420 §12.4
 *   struct {
 *     ProposalOrRefType type;
 *     select (ProposalOrRef.type) {
 *       case proposal:  Proposal proposal;
 *       case reference: ProposalRef reference;
 *     };
 *   } ProposalOrRef;
 * ProposalRef is `opaque HashReference<V>` (§5.2). */
int mls_proposal_or_ref_decode(mg_reader *r, mls_proposal_or_ref *out) {
  mg_reader tmp;
  mls_proposal_or_ref v;
  int rc;

  MG_ENSURE(r != NULL && out != NULL, MG_ERR_INVALID_ARG);
  memset(&v, 0, sizeof(v));
  tmp = *r;
  MG_CHECK(mg_read_u8(&tmp, &v.type));
  switch (v.type) {
  case MLS_PROPOSAL_OR_REF_PROPOSAL:
    MG_CHECK(mls_proposal_decode(&tmp, &v.proposal));
    break;
  case MLS_PROPOSAL_OR_REF_REFERENCE:
    MG_CHECK(mls_bytes_read(&tmp, &v.reference));
    if (v.reference.len == 0) {
      /* A ProposalRef is RefHash output, Hash.Nh bytes under any suite. */
      MG_FAIL(MG_ERR_PROPOSAL);
    }
    break;
  default:
    MG_FAIL(MG_ERR_PROPOSAL);
  }
  *r = tmp;
  *out = v;
  return 0;
out:
  mls_proposal_or_ref_cleanup(&v);
  return rc;
}

int mls_proposal_or_ref_encode(mg_writer *w, const mls_proposal_or_ref *in) {
  MG_ENSURE_REF(in);
  switch (in->type) {
  case MLS_PROPOSAL_OR_REF_PROPOSAL:
    MG_GUARD(mg_write_u8(w, in->type));
    return mls_proposal_encode(w, &in->proposal);
  case MLS_PROPOSAL_OR_REF_REFERENCE:
    MG_ENSURE(in->reference.len > 0, MG_ERR_INVALID_ARG);
    MG_GUARD(mg_write_u8(w, in->type));
    return mls_bytes_write(w, &in->reference);
  default:
    return MG_ERR_INVALID_ARG;
  }
}

void mls_proposal_or_ref_cleanup(mls_proposal_or_ref *x) {
  if (x == NULL) {
    return;
  }
  mls_proposal_cleanup(&x->proposal);
  mls_bytes_cleanup(&x->reference);
  x->type = 0;
}
