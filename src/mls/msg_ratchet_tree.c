/*
 * ParentNode (RFC 9420 §7.1), Node and the ratchet_tree encoding
 * `optional<Node> ratchet_tree<V>` (§12.4.3.3).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/guard.h"
#include "mls/constants.h"
#include "mls/msg_leaf.h"
#include "mls/msg_leaf_internal.h"

/* ------------------------------------------------------------ ParentNode */

/* RFC 9420 §7.1
 *   struct {
 *       HPKEPublicKey encryption_key;
 *       opaque parent_hash<V>;
 *       uint32 unmerged_leaves<V>;
 *   } ParentNode;
 */
static int u32_list_decode(mg_reader *r, uint32_t **out, size_t *out_n) {
  mg_reader tmp, body;
  uint32_t *v = NULL;
  size_t n;
  tmp = *r;
  MG_GUARD(mg_read_vec(&tmp, &body));
  MG_ENSURE(mg_reader_len(&body) % 4 == 0, MG_ERR_TRUNCATED);
  n = mg_reader_len(&body) / 4;
  if (n > 0) {
    v = calloc(n, sizeof(*v));
    MG_ENSURE(v != NULL, MG_ERR_NOMEM);
    for (size_t i = 0; i < n; i++) {
      int rc = mg_read_u32(&body, &v[i]);
      if (rc < 0) {
        free(v);
        return rc;
      }
    }
  }
  *out = v;
  *out_n = n;
  *r = tmp;
  return 0;
}

int mls_parent_node_decode(mg_reader *r, mls_parent_node *out) {
  mls_parent_node p;
  mg_reader tmp;
  int rc;
  MG_ENSURE(r != NULL && out != NULL, MG_ERR_INVALID_ARG);
  memset(&p, 0, sizeof(p));
  tmp = *r;
  MG_CHECK(mls_bytes_read(&tmp, &p.encryption_key));
  MG_CHECK(mls_bytes_read(&tmp, &p.parent_hash));
  MG_CHECK(u32_list_decode(&tmp, &p.unmerged_leaves, &p.num_unmerged_leaves));
  *out = p;
  *r = tmp;
  return 0;
out:
  mls_parent_node_cleanup(&p);
  return rc;
}

int mls_parent_node_encode(mg_writer *w, const mls_parent_node *in) {
  size_t mark;
  MG_ENSURE(in != NULL &&
                (in->unmerged_leaves != NULL || in->num_unmerged_leaves == 0),
            MG_ERR_INVALID_ARG);
  MG_GUARD(mls_bytes_write(w, &in->encryption_key));
  MG_GUARD(mls_bytes_write(w, &in->parent_hash));
  MG_GUARD(mg_write_vec_begin(w, &mark));
  for (size_t i = 0; i < in->num_unmerged_leaves; i++) {
    MG_GUARD(mg_write_u32(w, in->unmerged_leaves[i]));
  }
  return mg_write_vec_end(w, mark);
}

int mls_parent_node_copy(mls_parent_node *out, const mls_parent_node *in) {
  int rc;
  MG_ENSURE(out != NULL && in != NULL, MG_ERR_INVALID_ARG);
  memset(out, 0, sizeof(*out));
  /* Field by field (copied for every node at every epoch change). */
  rc = mls_bytes_copy(&out->encryption_key, &in->encryption_key);
  if (rc == 0) {
    rc = mls_bytes_copy(&out->parent_hash, &in->parent_hash);
  }
  if (rc == 0 && in->num_unmerged_leaves > 0) {
    out->unmerged_leaves = malloc(in->num_unmerged_leaves * sizeof(uint32_t));
    if (out->unmerged_leaves == NULL) {
      rc = MG_ERR_NOMEM;
    } else {
      memcpy(out->unmerged_leaves, in->unmerged_leaves,
             in->num_unmerged_leaves * sizeof(uint32_t));
      out->num_unmerged_leaves = in->num_unmerged_leaves;
    }
  }
  if (rc < 0) {
    mls_parent_node_cleanup(out);
  }
  return rc;
}

void mls_parent_node_cleanup(mls_parent_node *x) {
  if (x == NULL) {
    return;
  }
  mls_bytes_cleanup(&x->encryption_key);
  mls_bytes_cleanup(&x->parent_hash);
  free(x->unmerged_leaves);
  memset(x, 0, sizeof(*x));
}

/* ------------------------------------------------------------------ Node */

/* RFC 9420 §12.4.3.3
 *   struct {
 *       NodeType node_type;
 *       select (Node.node_type) {
 *           case leaf:   LeafNode leaf_node;
 *           case parent: ParentNode parent_node;
 *       };
 *   } Node;
 */
int mls_node_decode(mg_reader *r, mls_node *out) {
  mls_node n;
  mg_reader tmp;
  uint8_t type;
  MG_ENSURE(r != NULL && out != NULL, MG_ERR_INVALID_ARG);
  memset(&n, 0, sizeof(n));
  tmp = *r;
  MG_GUARD(mg_read_u8(&tmp, &type));
  switch (type) {
  case MLS_NODE_LEAF:
    MG_GUARD(mls_leaf_node_decode(&tmp, &n.u.leaf));
    break;
  case MLS_NODE_PARENT:
    MG_GUARD(mls_parent_node_decode(&tmp, &n.u.parent));
    break;
  default:
    return MG_ERR_TREE_INVALID;
  }
  n.node_type = type;
  *out = n;
  *r = tmp;
  return 0;
}

int mls_node_encode(mg_writer *w, const mls_node *in) {
  MG_ENSURE_REF(in);
  switch (in->node_type) {
  case MLS_NODE_LEAF:
    MG_GUARD(mg_write_u8(w, MLS_NODE_LEAF));
    return mls_leaf_node_encode(w, &in->u.leaf);
  case MLS_NODE_PARENT:
    MG_GUARD(mg_write_u8(w, MLS_NODE_PARENT));
    return mls_parent_node_encode(w, &in->u.parent);
  default:
    return MG_ERR_INVALID_ARG;
  }
}

int mls_node_copy(mls_node *out, const mls_node *in) {
  MG_ENSURE(out != NULL && in != NULL, MG_ERR_INVALID_ARG);
  memset(out, 0, sizeof(*out));
  switch (in->node_type) {
  case MLS_NODE_BLANK:
    return 0;
  case MLS_NODE_LEAF:
    MG_GUARD(mls_leaf_node_copy(&out->u.leaf, &in->u.leaf));
    break;
  case MLS_NODE_PARENT:
    MG_GUARD(mls_parent_node_copy(&out->u.parent, &in->u.parent));
    break;
  default:
    return MG_ERR_INVALID_ARG;
  }
  out->node_type = in->node_type;
  return 0;
}

void mls_node_cleanup(mls_node *x) {
  if (x == NULL) {
    return;
  }
  switch (x->node_type) {
  case MLS_NODE_LEAF:
    mls_leaf_node_cleanup(&x->u.leaf);
    break;
  case MLS_NODE_PARENT:
    mls_parent_node_cleanup(&x->u.parent);
    break;
  default:
    break;
  }
  memset(x, 0, sizeof(*x));
}

/* ---------------------------------------------------------- ratchet tree */

/* Each entry of the vector is an optional<Node>. */
static int optional_node_decode(mg_reader *r, void *p) {
  mg_reader tmp = *r;
  int present;
  MG_GUARD(mg_read_optional(&tmp, &present));
  if (present) {
    MG_GUARD(mls_node_decode(&tmp, p));
  }
  *r = tmp;
  return 0;
}

static int optional_node_encode(mg_writer *w, const void *p) {
  const mls_node *n = p;
  if (n->node_type == MLS_NODE_BLANK) {
    return mg_write_optional(w, 0);
  }
  MG_GUARD(mg_write_optional(w, 1));
  return mls_node_encode(w, n);
}

static void node_cleanup_v(void *p) { mls_node_cleanup(p); }

/* check_shape enforces RFC 9420 §12.4.3.3 on the first |n| entries. */
static int check_shape(const mls_node *nodes, size_t n) {
  MG_ENSURE(n > 0, MG_ERR_TREE_INVALID);
  /* The last entry MUST be non-blank. */
  MG_ENSURE(nodes[n - 1].node_type != MLS_NODE_BLANK, MG_ERR_TREE_INVALID);
  /* A tree has 2^(d+1)-1 nodes, so with trailing blanks removed the last
   * non-blank entry is a leaf; an even count would end on a parent whose
   * right subtree is all blank (and could not be padded to a tree whose
   * leaves sit at even positions). */
  MG_ENSURE(n % 2 == 1, MG_ERR_TREE_INVALID);
  for (size_t i = 0; i < n; i++) {
    uint8_t want = (i % 2 == 0) ? MLS_NODE_LEAF : MLS_NODE_PARENT;
    MG_ENSURE(nodes[i].node_type == MLS_NODE_BLANK ||
                  nodes[i].node_type == want,
              MG_ERR_TREE_INVALID);
  }
  return 0;
}

int mls_ratchet_tree_decode(mg_reader *r, mls_ratchet_tree *out) {
  mg_reader tmp;
  void *arr = NULL;
  size_t n = 0;
  int rc;
  MG_ENSURE(r != NULL && out != NULL, MG_ERR_INVALID_ARG);
  tmp = *r;
  MG_GUARD(mls_vec_decode(&tmp, &arr, &n, sizeof(mls_node),
                          MLS_MAX_TREE_NODES, optional_node_decode,
                          node_cleanup_v));
  rc = check_shape(arr, n);
  if (rc < 0) {
    mls_vec_free(arr, n, sizeof(mls_node), node_cleanup_v);
    return rc;
  }
  out->nodes = arr;
  out->n = n;
  *r = tmp;
  return 0;
}

/* used_len returns the number of entries up to the last non-blank one. */
static size_t used_len(const mls_ratchet_tree *t) {
  size_t n = t->n;
  while (n > 0 && t->nodes[n - 1].node_type == MLS_NODE_BLANK) {
    n--;
  }
  return n;
}

int mls_ratchet_tree_encode(mg_writer *w, const mls_ratchet_tree *in) {
  size_t n;
  MG_ENSURE(in != NULL && (in->nodes != NULL || in->n == 0),
            MG_ERR_INVALID_ARG);
  /* RFC 9420 §12.4.3.3: the sender MUST NOT include trailing blanks. */
  n = used_len(in);
  MG_GUARD(check_shape(in->nodes, n));
  return mls_vec_encode(w, in->nodes, n, sizeof(mls_node),
                        optional_node_encode);
}

static int ratchet_tree_encode_v(mg_writer *w, const void *p) {
  return mls_ratchet_tree_encode(w, p);
}

static int ratchet_tree_decode_v(mg_reader *r, void *p) {
  return mls_ratchet_tree_decode(r, p);
}

int mls_ratchet_tree_serialize(const mls_ratchet_tree *in, uint8_t **out,
                               size_t *out_len) {
  return mls_leaf_serialize_with(ratchet_tree_encode_v, in, out, out_len);
}

int mls_ratchet_tree_copy(mls_ratchet_tree *out, const mls_ratchet_tree *in) {
  MG_ENSURE(out != NULL && in != NULL, MG_ERR_INVALID_ARG);
  memset(out, 0, sizeof(*out));
  return mls_leaf_copy_with(ratchet_tree_encode_v, ratchet_tree_decode_v, in,
                            out);
}

uint32_t mls_ratchet_tree_num_leaves(const mls_ratchet_tree *t) {
  size_t leaves, p = 1;
  if (t == NULL || t->n == 0) {
    return 0;
  }
  leaves = (t->n + 1) / 2;
  while (p < leaves) {
    p *= 2;
  }
  return (uint32_t)p;
}

uint32_t mls_ratchet_tree_width(const mls_ratchet_tree *t) {
  uint32_t l = mls_ratchet_tree_num_leaves(t);
  return l == 0 ? 0 : 2 * l - 1;
}

const mls_node *mls_ratchet_tree_node(const mls_ratchet_tree *t, size_t i) {
  if (t == NULL || i >= t->n || t->nodes[i].node_type == MLS_NODE_BLANK) {
    return NULL;
  }
  return &t->nodes[i];
}

void mls_ratchet_tree_cleanup(mls_ratchet_tree *x) {
  if (x == NULL) {
    return;
  }
  mls_vec_free(x->nodes, x->n, sizeof(mls_node), node_cleanup_v);
  x->nodes = NULL;
  x->n = 0;
}

/* RFC 9420 §12.4.3.3: the ratchet_tree extension carries the tree. */
int mls_ext_ratchet_tree_decode(const mls_extension *ext,
                                mls_ratchet_tree *out) {
  mg_reader r;
  int rc;
  MG_ENSURE(ext != NULL && out != NULL &&
                ext->extension_type == MLS_EXT_RATCHET_TREE,
            MG_ERR_INVALID_ARG);
  mg_reader_init(&r, ext->extension_data.data, ext->extension_data.len);
  MG_GUARD(mls_ratchet_tree_decode(&r, out));
  rc = mg_reader_done(&r);
  if (rc < 0) {
    mls_ratchet_tree_cleanup(out);
  }
  return rc;
}
