/*
 * Tests of the ratchet tree (src/mls/tree.h) and TreeKEM
 * (src/mls/treekem.h).
 *
 * Vector loops: every case of tree-validation.json (resolutions, tree
 * hashes, parent hashes, leaf signatures), treekem.json (merge, tree hash
 * after, decryption by every member, and our own UpdatePath decrypted by
 * every member) and tree-operations.json (Add, Update, Remove applied:
 * tree and tree hashes before and after), through the selftest kinds.
 *
 * Unit tests: add/update/remove with blanking, unmerged leaves and
 * truncation on synthetic trees; the tree hash cache against a fresh
 * recomputation after every change, and its O(log n) invalidation; one
 * mutation per rule the tree and TreeKEM enforce (parent hash, leaf
 * signature, duplicate keys, unmerged-leaf structure, path length, leaf
 * source, ciphertext, context), each leaving the tree and the private
 * state unchanged; excluded (newly added) leaves; wiping of the private
 * view.
 */
#include "config.h"

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/hex.h"
#include "common/secmem.h"
#include "crypto/crypto.h"
#include "crypto/suite.h"
#include "mls/constants.h"
#include "mls/msg_leaf.h"
#include "mls/tree.h"
#include "mls/treekem.h"
#include "selftest/selftest.h"
#include "vec_loop.h"

/* ------------------------------------------------------------ vectors */

static mg_vec_file files[] = {
    {"mls/tree-validation.json", 98, NULL, NULL},
    {"mls/treekem.json", 77, NULL, NULL},
    {"mls/tree-operations.json", 5, NULL, NULL},
};

/* ------------------------------------------------------------ helpers */

static const mls_suite *suite1(void) {
  const mls_suite *s = mls_suite_by_id(1);
  ck_assert_ptr_nonnull(s);
  return s;
}

/* A synthetic leaf (keys made of |tag|; the signature is not valid). */
static void mk_leaf(mls_leaf_node *ln, uint8_t tag) {
  uint8_t k[32];
  memset(ln, 0, sizeof(*ln));
  memset(k, tag, sizeof(k));
  k[0] = 0xe0;
  ck_assert_int_eq(mls_bytes_dup(&ln->encryption_key, k, sizeof(k)), 0);
  k[0] = 0x50;
  ck_assert_int_eq(mls_bytes_dup(&ln->signature_key, k, sizeof(k)), 0);
  ln->credential.credential_type = MLS_CREDENTIAL_BASIC;
  ck_assert_int_eq(mls_bytes_dup(&ln->credential.identity, &tag, 1), 0);
  ln->leaf_node_source = MLS_LEAF_SOURCE_KEY_PACKAGE;
  ln->lifetime.not_after = UINT64_MAX;
  ck_assert_int_eq(mls_bytes_dup(&ln->signature, &tag, 1), 0);
}

/* A synthetic parent node with key |tag|. */
static void mk_parent(mls_node *n, uint8_t tag) {
  uint8_t k[32];
  memset(n, 0, sizeof(*n));
  memset(k, tag, sizeof(k));
  k[0] = 0xa0;
  n->node_type = MLS_NODE_PARENT;
  ck_assert_int_eq(mls_bytes_dup(&n->u.parent.encryption_key, k, sizeof(k)), 0);
}

static void add_leaf(mls_tree *t, uint8_t tag, uint32_t want_index) {
  mls_leaf_node ln;
  mls_leaf_idx idx = {999};
  mk_leaf(&ln, tag);
  ck_assert_int_eq(mls_tree_add_leaf(t, &idx, &ln), 0);
  ck_assert_uint_eq(idx.v, want_index);
  mls_leaf_node_cleanup(&ln);
}

static void encode_tree(const mls_tree *t, uint8_t **out, size_t *len) {
  mg_writer w;
  ck_assert_int_eq(mg_writer_init(&w, 1024, 0), 0);
  ck_assert_int_eq(mls_tree_encode(&w, t), 0);
  ck_assert_int_eq(mg_writer_finish(&w, out, len), 0);
}

/* The cached root hash equals the hash of a freshly decoded copy (no
 * cache), and the encoding round-trips. */
static void assert_hash_fresh(mls_tree *t) {
  uint8_t *enc = NULL, *enc2 = NULL;
  size_t len = 0, len2 = 0, h1l = 0, h2l = 0;
  uint8_t h1[MG_MAX_HASH_LEN], h2[MG_MAX_HASH_LEN];
  mls_tree u;
  encode_tree(t, &enc, &len);
  ck_assert_int_eq(mls_tree_decode(&u, t->suite, enc, len), 0);
  ck_assert_uint_eq(u.n_leaves, t->n_leaves);
  encode_tree(&u, &enc2, &len2);
  ck_assert_uint_eq(len, len2);
  ck_assert_mem_eq(enc, enc2, len);
  ck_assert_int_eq(mls_tree_hash(t, h1, sizeof(h1), &h1l), 0);
  ck_assert_int_eq(mls_tree_hash(&u, h2, sizeof(h2), &h2l), 0);
  ck_assert_uint_eq(h1l, h2l);
  ck_assert_mem_eq(h1, h2, h1l);
  mls_tree_cleanup(&u);
  free(enc);
  free(enc2);
}

/* A case of a vector file as a decoded tree. */
static json_t *vec_case(size_t f, size_t i) {
  ck_assert_ptr_nonnull(files[f].root);
  json_t *c = json_array_get(files[f].root, i);
  ck_assert_ptr_nonnull(c);
  return c;
}

static void hex_of(const json_t *obj, const char *key, uint8_t **out,
                   size_t *len) {
  const char *h = json_string_value(json_object_get(obj, key));
  ck_assert_ptr_nonnull(h);
  ck_assert_int_eq(mg_hex_decode(out, len, h, strlen(h)), 0);
}

static void load_tree(mls_tree *t, size_t f, size_t i, const char *key,
                      uint8_t **gid, size_t *gid_len) {
  json_t *c = vec_case(f, i);
  uint8_t *b = NULL;
  size_t bl = 0;
  hex_of(c, key, &b, &bl);
  const mls_suite *s =
      mls_suite_by_id((uint16_t)json_integer_value(json_object_get(c, "cipher_suite")));
  ck_assert_ptr_nonnull(s);
  ck_assert_int_eq(mls_tree_decode(t, s, b, bl), 0);
  free(b);
  if (gid != NULL) {
    hex_of(c, "group_id", gid, gid_len);
  }
}

/* -------------------------------------------------- tree operations */

START_TEST(test_add_extend_remove_truncate) {
  mls_tree t;
  mls_leaf_node ln;
  mk_leaf(&ln, 1);
  ck_assert_int_eq(mls_tree_init_one(&t, suite1(), &ln), 0);
  mls_leaf_node_cleanup(&ln);
  ck_assert_uint_eq(t.n_leaves, 1);
  assert_hash_fresh(&t);
  /* Full trees double: 1 -> 2 -> 4 -> 8 leaves. */
  add_leaf(&t, 2, 1);
  ck_assert_uint_eq(t.n_leaves, 2);
  add_leaf(&t, 3, 2);
  ck_assert_uint_eq(t.n_leaves, 4);
  assert_hash_fresh(&t);
  add_leaf(&t, 4, 3);
  add_leaf(&t, 5, 4);
  ck_assert_uint_eq(t.n_leaves, 8);
  assert_hash_fresh(&t);
  /* Removing an inner leaf keeps the size; the leftmost blank is reused. */
  mls_leaf_idx l1 = {1}, l4 = {4}, l3 = {3}, l9 = {9};
  ck_assert_int_eq(mls_tree_remove_leaf(&t, l1), 0);
  ck_assert_ptr_null(mls_tree_leaf(&t, l1));
  ck_assert_uint_eq(t.n_leaves, 8);
  assert_hash_fresh(&t);
  add_leaf(&t, 6, 1);
  /* Removing the rightmost leaf (4) truncates to 4 leaves (2^d > 3). */
  ck_assert_int_eq(mls_tree_remove_leaf(&t, l4), 0);
  ck_assert_uint_eq(t.n_leaves, 4);
  assert_hash_fresh(&t);
  /* Removing leaf 3 too leaves leaves 0..2: still 4 leaves. */
  ck_assert_int_eq(mls_tree_remove_leaf(&t, l3), 0);
  ck_assert_uint_eq(t.n_leaves, 4);
  /* A blank or absent leaf cannot be removed or updated; nothing changes. */
  ck_assert_int_eq(mls_tree_remove_leaf(&t, l3), MG_ERR_NOT_FOUND);
  ck_assert_int_eq(mls_tree_remove_leaf(&t, l9), MG_ERR_NOT_FOUND);
  mk_leaf(&ln, 7);
  ck_assert_int_eq(mls_tree_update_leaf(&t, l3, &ln), MG_ERR_NOT_FOUND);
  ck_assert_uint_eq(t.n_leaves, 4);
  /* Removing leaf 2 then 1 truncates down to 1 leaf. */
  mls_leaf_idx l2 = {2};
  ck_assert_int_eq(mls_tree_remove_leaf(&t, l2), 0);
  ck_assert_uint_eq(t.n_leaves, 2);
  ck_assert_int_eq(mls_tree_remove_leaf(&t, l1), 0);
  ck_assert_uint_eq(t.n_leaves, 1);
  assert_hash_fresh(&t);
  /* Update replaces the leaf. */
  mls_leaf_idx l0 = {0};
  ck_assert_int_eq(mls_tree_update_leaf(&t, l0, &ln), 0);
  ck_assert(mls_bytes_eq(&mls_tree_leaf(&t, l0)->encryption_key, &ln.encryption_key));
  assert_hash_fresh(&t);
  mls_leaf_node_cleanup(&ln);
  mls_tree_cleanup(&t);
}
END_TEST

START_TEST(test_unmerged_and_resolution) {
  mls_tree t;
  mls_leaf_node ln;
  mls_node p;
  mls_node_idx res[8];
  size_t n = 0;
  mk_leaf(&ln, 1);
  ck_assert_int_eq(mls_tree_init_one(&t, suite1(), &ln), 0);
  mls_leaf_node_cleanup(&ln);
  add_leaf(&t, 2, 1);
  add_leaf(&t, 3, 2);
  add_leaf(&t, 4, 3);
  /* Give nodes 1 and 3 keys, as after a commit by leaf 0. */
  mls_node_idx n1 = {1}, n3 = {3}, n5 = {5}, n4 = {4};
  mk_parent(&p, 1);
  ck_assert_int_eq(mls_tree_set_node(&t, n1, &p), 0);
  mk_parent(&p, 3);
  ck_assert_int_eq(mls_tree_set_node(&t, n3, &p), 0);
  /* A leaf cannot go in a parent position. */
  mk_leaf(&ln, 9);
  p.node_type = MLS_NODE_LEAF;
  p.u.leaf = ln;
  ck_assert_int_eq(mls_tree_set_node(&t, n1, &p), MG_ERR_INVALID_ARG);
  mls_node_cleanup(&p);
  /* Remove leaf 2 (blanks 5 and 3) and re-add: 3 is blank, so no unmerged. */
  mls_leaf_idx l2 = {2};
  ck_assert_int_eq(mls_tree_remove_leaf(&t, l2), 0);
  /* res(3) of a blank root: res(1) = {1}, then res(5) = res(4) + res(6) =
   * {6} (leaf 2 blank). */
  ck_assert_int_eq(mls_tree_resolution(&t, n3, res, 8, &n), 0);
  ck_assert_uint_eq(n, 2);
  ck_assert_uint_eq(res[0].v, 1);
  ck_assert_uint_eq(res[1].v, 6);
  mk_parent(&p, 3);
  ck_assert_int_eq(mls_tree_set_node(&t, n3, &p), 0);
  /* Remove leaf 1 (blanks 1 and 3); keys on 3 again, then add: leaf 1
   * becomes unmerged at 3 (1 is blank). */
  mls_leaf_idx l1 = {1};
  ck_assert_int_eq(mls_tree_remove_leaf(&t, l1), 0);
  mk_parent(&p, 33);
  ck_assert_int_eq(mls_tree_set_node(&t, n3, &p), 0);
  add_leaf(&t, 7, 1);
  const mls_node *root = mls_tree_node(&t, n3);
  ck_assert_ptr_nonnull(root);
  ck_assert_uint_eq(root->u.parent.num_unmerged_leaves, 1);
  ck_assert_uint_eq(root->u.parent.unmerged_leaves[0], 1);
  add_leaf(&t, 8, 2);
  ck_assert_uint_eq(root->u.parent.num_unmerged_leaves, 2);
  ck_assert_uint_eq(root->u.parent.unmerged_leaves[1], 2);
  ck_assert_int_eq(mls_tree_check_structure(&t), 0);
  /* res(3) = 3 plus its unmerged leaves 1 and 2 (nodes 2, 4). */
  ck_assert_int_eq(mls_tree_resolution(&t, n3, res, 8, &n), 0);
  ck_assert_uint_eq(n, 3);
  ck_assert_uint_eq(res[0].v, 3);
  ck_assert_uint_eq(res[1].v, 2);
  ck_assert_uint_eq(res[2].v, 4);
  /* res(5) (blank) = leaves 2 and 3. */
  ck_assert_int_eq(mls_tree_resolution(&t, n5, res, 8, &n), 0);
  ck_assert_uint_eq(n, 2);
  ck_assert_uint_eq(res[0].v, 4);
  ck_assert_uint_eq(res[1].v, 6);
  ck_assert_int_eq(mls_tree_resolution(&t, n5, res, 1, &n),
                   MG_ERR_BUFFER_TOO_SMALL);
  /* A blank leaf has an empty resolution. */
  mls_leaf_idx l3 = {3};
  ck_assert_int_eq(mls_tree_remove_leaf(&t, l3), 0);
  ck_assert_uint_eq(t.n_leaves, 4);
  mls_node_idx n6 = {6};
  ck_assert_int_eq(mls_tree_resolution(&t, n6, res, 8, &n), 0);
  ck_assert_uint_eq(n, 0);
  (void)n4;
  assert_hash_fresh(&t);
  /* Structure rules (RFC 9420 §12.4.3.1): root 3 lists leaf 1 as unmerged,
   * but the non-blank parent 1 between them does not. */
  mk_parent(&p, 11);
  ck_assert_int_eq(mls_tree_set_node(&t, n1, &p), 0);
  mk_parent(&p, 12);
  p.u.parent.unmerged_leaves = malloc(2 * sizeof(uint32_t));
  ck_assert_ptr_nonnull(p.u.parent.unmerged_leaves);
  p.u.parent.unmerged_leaves[0] = 1;
  p.u.parent.num_unmerged_leaves = 1;
  ck_assert_int_eq(mls_tree_set_node(&t, n3, &p), 0);
  ck_assert_int_eq(mls_tree_check_structure(&t), MG_ERR_TREE_INVALID);
  mls_parent_node *rp = &t.nodes[3].u.parent;
  /* Blank leaf 3 as an unmerged leaf; an out-of-range leaf; unsorted. */
  rp->unmerged_leaves[0] = 3;
  ck_assert_int_eq(mls_tree_check_structure(&t), MG_ERR_TREE_INVALID);
  rp->unmerged_leaves[0] = 4;
  ck_assert_int_eq(mls_tree_check_structure(&t), MG_ERR_TREE_INVALID);
  rp->unmerged_leaves[0] = 2;
  ck_assert_int_eq(mls_tree_check_structure(&t), 0);
  rp->unmerged_leaves[1] = 2;
  rp->num_unmerged_leaves = 2;
  ck_assert_int_eq(mls_tree_check_structure(&t), MG_ERR_TREE_INVALID);
  rp->num_unmerged_leaves = 1;
  ck_assert_int_eq(mls_tree_check_structure(&t), 0);
  mls_tree_cleanup(&t);
}
END_TEST

/* The filtered direct path skips nodes whose copath child is all blank
 * (RFC 9420 §4.1.2 example: leaf G in a 5-member tree). */
START_TEST(test_filtered_direct_path) {
  mls_tree t;
  mls_leaf_node ln;
  mls_node_idx fdp[MLS_TREE_MAX_DEPTH], fcp[MLS_TREE_MAX_DEPTH];
  uint32_t n = 0;
  mk_leaf(&ln, 1);
  ck_assert_int_eq(mls_tree_init_one(&t, suite1(), &ln), 0);
  mls_leaf_node_cleanup(&ln);
  for (uint8_t i = 1; i < 7; i++) {
    add_leaf(&t, (uint8_t)(i + 1), i);
  }
  mls_leaf_idx c = {2}, d = {3}, g = {6}, a = {0};
  ck_assert_int_eq(mls_tree_remove_leaf(&t, c), 0);
  ck_assert_int_eq(mls_tree_remove_leaf(&t, d), 0);
  ck_assert_uint_eq(t.n_leaves, 8);
  /* A: direct path 1, 3, 7; copath 2, 5 (blank leaves), 11 -> 1, 7. */
  ck_assert_int_eq(mls_tree_filtered_direct_path(&t, a, fdp, fcp, &n), 0);
  ck_assert_uint_eq(n, 2);
  ck_assert_uint_eq(fdp[0].v, 1);
  ck_assert_uint_eq(fdp[1].v, 7);
  ck_assert_uint_eq(fcp[1].v, 11);
  /* G: direct path 13, 11, 7; copath 14 (blank H), 9, 3 -> 11, 7. */
  ck_assert_int_eq(mls_tree_filtered_direct_path(&t, g, fdp, fcp, &n), 0);
  ck_assert_uint_eq(n, 2);
  ck_assert_uint_eq(fdp[0].v, 11);
  ck_assert_uint_eq(fcp[0].v, 9);
  ck_assert_uint_eq(fdp[1].v, 7);
  mls_tree_cleanup(&t);
}
END_TEST

/* ------------------------------------------- validation mutations */

START_TEST(test_validation_mutations) {
  /* Case 13: unmerged leaves and parent-hash links that skip blanks. */
  for (size_t ci = 12; ci <= 13; ci++) {
    mls_tree t;
    uint8_t *gid = NULL;
    size_t gid_len = 0;
    load_tree(&t, 0, ci, "tree", &gid, &gid_len);
    ck_assert_int_eq(mls_tree_validate(&t, gid, gid_len), 0);
    uint32_t w = mls_tree_width(&t);
    /* Every parent's parent_hash and encryption_key matter. */
    int parents = 0, unmerged = 0;
    for (uint32_t x = 1; x < w; x += 2) {
      mls_node_idx xi = {x};
      if (t.nodes[x].node_type != MLS_NODE_PARENT) {
        continue;
      }
      parents++;
      mls_parent_node *p = &t.nodes[x].u.parent;
      p->encryption_key.data[3] ^= 1;
      mls_tree_invalidate(&t, xi);
      ck_assert_int_eq(mls_tree_verify_parent_hashes(&t), MG_ERR_PARENT_HASH);
      p->encryption_key.data[3] ^= 1;
      mls_tree_invalidate(&t, xi);
      if (p->parent_hash.len > 0) {
        p->parent_hash.data[0] ^= 0x80;
        mls_tree_invalidate(&t, xi);
        ck_assert_int_eq(mls_tree_verify_parent_hashes(&t), MG_ERR_PARENT_HASH);
        p->parent_hash.data[0] ^= 0x80;
        mls_tree_invalidate(&t, xi);
      }
      /* Unmerged leaves: outside the tree / repeated. */
      if (p->num_unmerged_leaves > 0) {
        uint32_t keep = p->unmerged_leaves[0];
        p->unmerged_leaves[0] = t.n_leaves;
        ck_assert_int_eq(mls_tree_check_structure(&t), MG_ERR_TREE_INVALID);
        p->unmerged_leaves[0] = keep;
        unmerged++;
      }
      if (p->num_unmerged_leaves > 1) {
        uint32_t keep = p->unmerged_leaves[1];
        p->unmerged_leaves[1] = p->unmerged_leaves[0];
        ck_assert_int_eq(mls_tree_check_structure(&t), MG_ERR_TREE_INVALID);
        p->unmerged_leaves[1] = keep;
      }
    }
    ck_assert_int_gt(parents, 0);
    ck_assert_int_gt(unmerged, 0);
    ck_assert_int_eq(mls_tree_validate(&t, gid, gid_len), 0);
    /* A leaf's signature, and its group context. */
    mls_leaf_idx l0 = {0};
    mls_leaf_node *ln = &t.nodes[0].u.leaf;
    ck_assert_ptr_nonnull(mls_tree_leaf(&t, l0));
    ln->signature.data[ln->signature.len - 1] ^= 1;
    ck_assert_int_eq(mls_tree_verify_leaf_signatures(&t, gid, gid_len),
                     MG_ERR_LEAF_SIGNATURE);
    ln->signature.data[ln->signature.len - 1] ^= 1;
    if (ln->leaf_node_source != MLS_LEAF_SOURCE_KEY_PACKAGE) {
      gid[0] ^= 1;
      ck_assert_int_eq(mls_tree_verify_leaf_signatures(&t, gid, gid_len),
                       MG_ERR_LEAF_SIGNATURE);
      gid[0] ^= 1;
    }
    /* Duplicate encryption key, duplicate signature key. */
    uint32_t other = 1;
    while (other < t.n_leaves && t.nodes[2u * other].node_type != MLS_NODE_LEAF) {
      other++;
    }
    ck_assert_uint_lt(other, t.n_leaves);
    mls_leaf_node *ln1 = &t.nodes[2u * other].u.leaf;
    mls_bytes save = ln1->encryption_key;
    ck_assert_int_eq(mls_bytes_copy(&ln1->encryption_key, &ln->encryption_key), 0);
    ck_assert_int_eq(mls_tree_check_unique_keys(&t), MG_ERR_DUPLICATE_KEY);
    mls_bytes_cleanup(&ln1->encryption_key);
    ln1->encryption_key = save;
    save = ln1->signature_key;
    ck_assert_int_eq(mls_bytes_copy(&ln1->signature_key, &ln->signature_key), 0);
    ck_assert_int_eq(mls_tree_check_unique_keys(&t), MG_ERR_DUPLICATE_KEY);
    mls_bytes_cleanup(&ln1->signature_key);
    ln1->signature_key = save;
    ck_assert_int_eq(mls_tree_validate(&t, gid, gid_len), 0);
    mls_tree_cleanup(&t);
    free(gid);
  }
}
END_TEST

/* Random byte flips of vector trees: whatever still decodes must go
 * through every tree function without a memory error (ASan/valgrind) and
 * with a defined result; validation of a changed tree never passes unless
 * the change left the encoding identical. */
START_TEST(test_mutated_trees) {
  uint64_t rng = 0x9e3779b97f4a7c15ull;
  unsigned decoded = 0;
  for (size_t ci = 0; ci < 14; ci++) {
    json_t *c = vec_case(0, ci);
    uint8_t *b = NULL, *gid = NULL;
    size_t bl = 0, gid_len = 0;
    hex_of(c, "tree", &b, &bl);
    hex_of(c, "group_id", &gid, &gid_len);
    for (int k = 0; k < 40; k++) {
      rng ^= rng << 13;
      rng ^= rng >> 7;
      rng ^= rng << 17;
      size_t pos = (size_t)(rng % bl);
      uint8_t flip = (uint8_t)(1u << ((rng >> 32) % 8));
      b[pos] ^= flip;
      mls_tree t;
      if (mls_tree_decode(&t, suite1(), b, bl) == 0) {
        mls_node_idx res[64];
        size_t n = 0;
        uint8_t h[MG_MAX_HASH_LEN];
        size_t hl = 0;
        decoded++;
        for (uint32_t x = 0; x < mls_tree_width(&t); x++) {
          mls_node_idx xi = {x};
          ck_assert_int_eq(mls_tree_resolution(&t, xi, res, t.n_leaves + 1u, &n), 0);
        }
        ck_assert_int_eq(mls_tree_hash(&t, h, sizeof(h), &hl), 0);
        int rc = mls_tree_check_unique_keys(&t);
        ck_assert(rc == 0 || rc == MG_ERR_DUPLICATE_KEY);
        rc = mls_tree_validate(&t, gid, gid_len);
        /* Every bit of these trees is covered by a signature or a parent
         * hash, or by the structure rules. */
        ck_assert_msg(rc < 0, "case %zu: flip at %zu accepted", ci, pos);
        assert_hash_fresh(&t);
        mls_tree_cleanup(&t);
      }
      b[pos] ^= flip;
    }
    free(b);
    free(gid);
  }
  ck_assert_uint_gt(decoded, 200); /* most flips hit keys and signatures */
}
END_TEST

/* ---------------------------------------------------------- TreeKEM */

typedef struct {
  mls_tree tree;
  mls_tree_priv priv[8];
  uint8_t *sig[8];
  size_t sig_len[8];
  uint8_t *gid;
  size_t gid_len;
  mls_update_path up;
  mls_leaf_idx sender;
} tk_fixture;

/* treekem.json case 9: 8 leaves of suite 1 with parents, all members'
 * private states, and update_paths[0]. */
static void tk_load(tk_fixture *f) {
  json_t *c = vec_case(1, 9);
  ck_assert_int_eq(json_integer_value(json_object_get(c, "cipher_suite")), 1);
  memset(f, 0, sizeof(*f));
  load_tree(&f->tree, 1, 9, "ratchet_tree", &f->gid, &f->gid_len);
  ck_assert_uint_eq(f->tree.n_leaves, 8);
  const json_t *lp = json_object_get(c, "leaves_private");
  for (size_t k = 0; k < json_array_size(lp); k++) {
    const json_t *e = json_array_get(lp, k);
    uint32_t l = (uint32_t)json_integer_value(json_object_get(e, "index"));
    uint8_t *enc = NULL;
    size_t el = 0;
    mls_leaf_idx li = {l};
    ck_assert_uint_lt(l, 8);
    hex_of(e, "encryption_priv", &enc, &el);
    ck_assert_int_eq(mls_tree_priv_init(&f->priv[l], f->tree.suite, li, enc, el), 0);
    free(enc);
    hex_of(e, "signature_priv", &f->sig[l], &f->sig_len[l]);
    const json_t *ps = json_object_get(e, "path_secrets");
    for (size_t m = 0; m < json_array_size(ps); m++) {
      const json_t *pe = json_array_get(ps, m);
      mls_node_idx x = {(uint32_t)json_integer_value(json_object_get(pe, "node"))};
      uint8_t *sec = NULL;
      size_t sl = 0;
      hex_of(pe, "path_secret", &sec, &sl);
      ck_assert_int_eq(mls_tree_priv_set_path_secret(&f->priv[l], x, sec, sl), 0);
      free(sec);
    }
    ck_assert_int_eq(mls_tree_priv_check(&f->priv[l], &f->tree), 0);
  }
  const json_t *u = json_array_get(json_object_get(c, "update_paths"), 0);
  uint8_t *b = NULL;
  size_t bl = 0;
  mg_reader r;
  hex_of(u, "update_path", &b, &bl);
  mg_reader_init(&r, b, bl);
  ck_assert_int_eq(mls_update_path_decode(&r, &f->up), 0);
  free(b);
  f->sender.v = (uint32_t)json_integer_value(json_object_get(u, "sender"));
}

static void tk_free(tk_fixture *f) {
  for (int i = 0; i < 8; i++) {
    mls_tree_priv_cleanup(&f->priv[i]);
    free(f->sig[i]);
  }
  free(f->gid);
  mls_update_path_cleanup(&f->up);
  mls_tree_cleanup(&f->tree);
}

/* The merge fails with |want| and leaves the tree as it was. */
static void assert_merge_fails(tk_fixture *f, const mls_update_path *up,
                               int want) {
  uint8_t *before = NULL, *after = NULL;
  size_t bl = 0, al = 0, h1l = 0, h2l = 0;
  uint8_t h1[MG_MAX_HASH_LEN], h2[MG_MAX_HASH_LEN];
  encode_tree(&f->tree, &before, &bl);
  ck_assert_int_eq(mls_tree_hash(&f->tree, h1, sizeof(h1), &h1l), 0);
  ck_assert_int_eq(mls_treekem_merge(&f->tree, f->sender, up, f->gid, f->gid_len),
                   want);
  encode_tree(&f->tree, &after, &al);
  ck_assert_uint_eq(bl, al);
  ck_assert_mem_eq(before, after, bl);
  ck_assert_int_eq(mls_tree_hash(&f->tree, h2, sizeof(h2), &h2l), 0);
  ck_assert_mem_eq(h1, h2, h1l);
  assert_hash_fresh(&f->tree);
  free(before);
  free(after);
}

START_TEST(test_merge_mutations) {
  tk_fixture f;
  mls_update_path up;
  tk_load(&f);
  /* Wrong number of path nodes. */
  ck_assert_int_eq(mls_update_path_copy(&up, &f.up), 0);
  ck_assert_uint_gt(up.num_nodes, 1);
  up.num_nodes--;
  assert_merge_fails(&f, &up, MG_ERR_PATH);
  up.num_nodes++;
  /* A node key of the wrong size. */
  up.nodes[0].encryption_key.len--;
  assert_merge_fails(&f, &up, MG_ERR_PATH);
  up.nodes[0].encryption_key.len++;
  /* A changed node key breaks the parent hash chain. */
  up.nodes[up.num_nodes - 1].encryption_key.data[5] ^= 1;
  assert_merge_fails(&f, &up, MG_ERR_PARENT_HASH);
  up.nodes[up.num_nodes - 1].encryption_key.data[5] ^= 1;
  /* Leaf source other than commit. */
  up.leaf_node.leaf_node_source = MLS_LEAF_SOURCE_UPDATE;
  assert_merge_fails(&f, &up, MG_ERR_LEAF_NODE_SOURCE);
  up.leaf_node.leaf_node_source = MLS_LEAF_SOURCE_COMMIT;
  /* Leaf signature; and signed for another group. */
  up.leaf_node.signature.data[0] ^= 1;
  assert_merge_fails(&f, &up, MG_ERR_LEAF_SIGNATURE);
  up.leaf_node.signature.data[0] ^= 1;
  f.gid[0] ^= 1;
  assert_merge_fails(&f, &up, MG_ERR_LEAF_SIGNATURE);
  f.gid[0] ^= 1;
  /* A blank sender. */
  mls_leaf_idx far = {8};
  ck_assert_int_eq(mls_treekem_merge(&f.tree, far, &up, f.gid, f.gid_len),
                   MG_ERR_SENDER);
  /* The untouched copy still merges, and only the path's hashes went stale
   * (the cache is invalidated along one path: O(log n)). */
  uint8_t h[MG_MAX_HASH_LEN];
  size_t hl = 0;
  ck_assert_int_eq(mls_tree_hash(&f.tree, h, sizeof(h), &hl), 0);
  ck_assert_int_eq(mls_treekem_merge(&f.tree, f.sender, &up, f.gid, f.gid_len), 0);
  uint32_t stale = 0;
  for (uint32_t x = 0; x < mls_tree_width(&f.tree); x++) {
    stale += f.tree.th_ok[x] == 0;
  }
  ck_assert_uint_le(stale, 1 + 3); /* the leaf and its direct path */
  assert_hash_fresh(&f.tree);
  ck_assert_int_eq(mls_tree_verify_parent_hashes(&f.tree), 0);
  mls_update_path_cleanup(&up);
  tk_free(&f);
}
END_TEST

static void ctx_for(mls_tree *t, uint8_t **ctx, size_t *len) {
  uint8_t h[MG_MAX_HASH_LEN];
  size_t hl = 0;
  ck_assert_int_eq(mls_tree_hash(t, h, sizeof(h), &hl), 0);
  /* Any byte string serves as context here; bind it to the tree hash. */
  *ctx = malloc(hl + 3);
  ck_assert_ptr_nonnull(*ctx);
  memcpy(*ctx, "ctx", 3);
  memcpy(*ctx + 3, h, hl);
  *len = hl + 3;
}

START_TEST(test_decrypt_mutations) {
  tk_fixture f;
  mls_tree ours;
  mls_tree_priv cpriv;
  mls_path_secrets sec;
  mls_update_path up;
  uint8_t *ctx = NULL;
  size_t ctx_len = 0;
  uint8_t cs[MG_MAX_HASH_LEN];
  size_t cs_len = 0;
  tk_load(&f);
  memset(&up, 0, sizeof(up));
  /* Our own path from leaf 5, with leaf 7 excluded as if just added (in
   * this tree leaf 7 is unmerged at 11 and 7, so it appears in res(13), the
   * copath child of 11 on leaf 5's path 9, 11, 7). */
  mls_leaf_idx from = {5}, excl = {7};
  ck_assert_int_eq(mls_tree_copy(&ours, &f.tree), 0);
  ck_assert_int_eq(mls_treekem_generate(&ours, &cpriv, &sec, &up, from,
                                        mls_tree_leaf(&f.tree, from), f.sig[5],
                                        f.sig_len[5], f.gid, f.gid_len),
                   0);
  ctx_for(&ours, &ctx, &ctx_len);
  ck_assert_int_eq(mls_treekem_encrypt(&ours, &sec, &up, from, ctx, ctx_len, &excl, 1), 0);
  ck_assert_int_eq(mls_tree_verify_parent_hashes(&ours), 0);
  ck_assert_int_eq(mls_tree_verify_leaf_signatures(&ours, f.gid, f.gid_len), 0);
  ck_assert_int_eq(mls_tree_check_unique_keys(&ours), 0);
  ck_assert_int_eq(mls_tree_priv_check(&cpriv, &ours), 0);
  assert_hash_fresh(&ours);
  /* Merge as the others would. */
  f.sender = from;
  ck_assert_int_eq(mls_treekem_merge(&f.tree, from, &up, f.gid, f.gid_len), 0);
  const int rx = 6; /* decrypts at node 11 from res(13) minus leaf 7 */
  ck_assert_uint_eq(up.num_nodes, 3);
  mls_tree_priv before = f.priv[rx];
  mls_update_path_node *mid = &up.nodes[1], *top = &up.nodes[2];
  ck_assert_uint_eq(mid->num_encrypted_path_secret, 1);
  /* Tampered ciphertext, wrong context: MG_ERR_AUTH, state unchanged. */
  mid->encrypted_path_secret[0].ciphertext.data[0] ^= 1;
  ck_assert_int_eq(mls_treekem_decrypt(&f.tree, &f.priv[rx], cs, sizeof(cs),
                                       &cs_len, NULL, 0, NULL, from, &up, ctx,
                                       ctx_len, &excl, 1),
                   MG_ERR_AUTH);
  mid->encrypted_path_secret[0].ciphertext.data[0] ^= 1;
  ck_assert_mem_eq(&before, &f.priv[rx], sizeof(before));
  ctx[0] ^= 1;
  ck_assert_int_eq(mls_treekem_decrypt(&f.tree, &f.priv[rx], cs, sizeof(cs),
                                       &cs_len, NULL, 0, NULL, from, &up, ctx,
                                       ctx_len, &excl, 1),
                   MG_ERR_AUTH);
  ctx[0] ^= 1;
  /* A missing ciphertext, an unexcluded leaf: MG_ERR_PATH. */
  mid->num_encrypted_path_secret--;
  ck_assert_int_eq(mls_treekem_decrypt(&f.tree, &f.priv[rx], cs, sizeof(cs),
                                       &cs_len, NULL, 0, NULL, from, &up, ctx,
                                       ctx_len, &excl, 1),
                   MG_ERR_PATH);
  mid->num_encrypted_path_secret++;
  ck_assert_int_eq(mls_treekem_decrypt(&f.tree, &f.priv[rx], cs, sizeof(cs),
                                       &cs_len, NULL, 0, NULL, from, &up, ctx,
                                       ctx_len, NULL, 0),
                   MG_ERR_PATH);
  /* A path key that does not match the decrypted secret. */
  top->encryption_key.data[1] ^= 1;
  ck_assert_int_eq(mls_treekem_decrypt(&f.tree, &f.priv[rx], cs, sizeof(cs),
                                       &cs_len, NULL, 0, NULL, from, &up, ctx,
                                       ctx_len, &excl, 1),
                   MG_ERR_PATH);
  top->encryption_key.data[1] ^= 1;
  ck_assert_mem_eq(&before, &f.priv[rx], sizeof(before));
  /* The excluded leaf has no ciphertext it can open. */
  ck_assert_int_eq(mls_treekem_decrypt(&f.tree, &f.priv[7], cs, sizeof(cs),
                                       &cs_len, NULL, 0, NULL, from, &up, ctx,
                                       ctx_len, &excl, 1),
                   MG_ERR_PATH);
  /* Everyone else gets the commit secret, and then holds keys consistent
   * with the merged tree. */
  for (uint32_t l = 0; l < 8; l++) {
    if (l == 5 || l == 7) {
      continue;
    }
    ck_assert_int_eq(mls_treekem_decrypt(&f.tree, &f.priv[l], cs, sizeof(cs),
                                         &cs_len, NULL, 0, NULL, from, &up, ctx,
                                         ctx_len, &excl, 1),
                     0);
    ck_assert_uint_eq(cs_len, sec.nh);
    ck_assert_mem_eq(cs, sec.commit_secret, cs_len);
    ck_assert_int_eq(mls_tree_priv_check(&f.priv[l], &f.tree), 0);
  }
  /* The sender cannot process its own path. */
  ck_assert_int_eq(mls_treekem_decrypt(&f.tree, &cpriv, cs, sizeof(cs), &cs_len,
                                       NULL, 0, NULL, from, &up, ctx, ctx_len,
                                       NULL, 0),
                   MG_ERR_INVALID_ARG);
  /* Cleanup wipes the private view. */
  mls_tree_priv_cleanup(&cpriv);
  static const uint8_t zero[sizeof(mls_tree_priv)];
  ck_assert_mem_eq(&cpriv, zero, sizeof(cpriv));
  mls_path_secrets_cleanup(&sec);
  ck_assert_mem_eq(&sec, zero, sizeof(sec));
  mg_memzero(&before, sizeof(before));
  free(ctx);
  mls_update_path_cleanup(&up);
  mls_tree_cleanup(&ours);
  tk_free(&f);
}
END_TEST

int main(void) {
  if (mg_crypto_init() < 0) {
    fprintf(stderr, "crypto init failed\n");
    return 1;
  }
  Suite *s = suite_create("tree");
  mg_vec_add(s, "tree vectors", files, sizeof(files) / sizeof(files[0]));
  TCase *tu = tcase_create("units");
  tcase_set_timeout(tu, 60);
  tcase_add_test(tu, test_add_extend_remove_truncate);
  tcase_add_test(tu, test_unmerged_and_resolution);
  tcase_add_test(tu, test_filtered_direct_path);
  tcase_add_test(tu, test_validation_mutations);
  tcase_add_test(tu, test_mutated_trees);
  tcase_add_test(tu, test_merge_mutations);
  tcase_add_test(tu, test_decrypt_mutations);
  suite_add_tcase(s, tu);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  mg_vec_release();
  return failed == 0 ? 0 : 1;
}
