/*
 * bench/mls: cost of the MLS protocol core (src/mls) as the group grows.
 *
 * Tree scaling (RFC 9420 §7): for trees of 2, 64, 1024 and 16384 leaves it
 * measures
 *   - the tree hash of the whole tree from scratch (§7.8; the per-node hash
 *     cache is invalidated before every call), which must grow like n;
 *   - the tree hash after one leaf changed (the cache re-hashes the leaf and
 *     its direct path only), which must grow like log n;
 *   - creating an UpdatePath (§7.4-§7.6) as the committer: generate (path
 *     secrets, node key pairs, parent hashes, leaf signature) + the tree hash
 *     of the provisional GroupContext + encryption of each path secret to
 *     the copath;
 *   - applying it as another member: merge (checks, parent hashes, leaf
 *     signature verification) + tree hash + GroupContext + decryption of the
 *     path secret and derivation of the keys above it.
 * The receiver is the committer's sibling leaf, so it derives every secret
 * above the lowest common ancestor: the most expensive member to be.
 *
 * The trees are full, as in a group where everyone has committed: every leaf
 * is a real, signed LeafNode (fresh HPKE and signature keys, basic
 * credential), every parent holds a real HPKE key derived from a random path
 * secret (§7.4), so each copath resolution is one node and an UpdatePath
 * carries one ciphertext per level.  (A tree of fresh joiners with blank
 * parents would encrypt to O(n) leaves by design of the protocol, not of the
 * code.)  The parents' parent_hash fields are random Nh-byte strings (empty
 * at the root): only the path being created or applied is parent-hash
 * checked, and the old values only feed the tree hash, where their length
 * is what matters.  Every path is checked once before it is timed: the
 * receiver's tree hash and GroupContext equal the committer's, it gets the
 * same commit secret, its private view matches the merged tree, and the
 * cold tree hash equals the cached one.
 *
 * Verdict: with t(n) the best time per operation, path operations pass as
 * O(log n) when t(16384)/t(64) <= LOG_TOLERANCE * log2(16384)/log2(64)
 * (= 2.33 for pure log n; sqrt(n) would give 16 and n 256), the full hash
 * passes as "not worse than O(n)" when t(16384)/t(64) <= LIN_TOLERANCE *
 * 16383/63.  The per-doubling factor (t(n2)/t(n1))^(1/log2(n2/n1)) is
 * printed for each step: ~2 for O(n), close to 1 for O(log n).
 *
 * Timing: bench/bench_util (shared with bench/crypto): each operation is
 * calibrated to about --time seconds per run, then run --runs times with
 * the operations of one tree size interleaved; chunks in which this thread
 * had less than 97% of the CPU are not counted; the best run counts.  Rows
 * where a whole run was contended are marked '~'.
 *
 * Exit status: 0 whatever the figures are (a benchmark, not a test); 1 if an
 * operation or a check fails; 2 for a usage error.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/guard.h"
#include "common/secmem.h"
#include "crypto/crypto.h"
#include "crypto/hpke.h"
#include "crypto/mls_crypto.h"
#include "crypto/suite.h"
#include "mls/constants.h"
#include "mls/msg_context.h"
#include "mls/msg_leaf.h"
#include "mls/tree.h"
#include "mls/tree_math.h"
#include "mls/treekem.h"

#include "bench_util.h"

#define LOG_TOLERANCE 1.5
#define LIN_TOLERANCE 1.5
#define GID_LEN 16
#define CTX_MAX 512 /* a serialized GroupContext without extensions */

static const uint32_t tree_sizes[] = {2, 64, 1024, 16384};
#define NUM_SIZES (sizeof(tree_sizes) / sizeof(tree_sizes[0]))

/* ------------------------------------------------------------- options */

typedef struct bench_opts {
  double time;          /* seconds per timed run */
  int runs;             /* best of */
  int suite;            /* 0: the defaults */
  uint32_t max_leaves;  /* largest tree */
  int do_tree, do_protect;
} bench_opts;

/* ------------------------------------------------------- measurements */

typedef struct meas {
  const char *name;
  bench_fn fn;
  void *ctx;
  uint64_t iters;
  double best; /* ops/s */
  int contended;
} meas;

/* measure calibrates every entry of |m|, then runs them interleaved
 * |o->runs| times (alternating the order), keeping each one's best rate. */
static int measure(meas *m, size_t n, const bench_opts *o, long *chunks,
                   long *dropped) {
  for (size_t i = 0; i < n; i++) {
    m[i].best = 0.0;
    m[i].contended = 0;
    if (bench_calibrate(m[i].fn, m[i].ctx, o->time, &m[i].iters) != 0) {
      fprintf(stderr, "bench: FAILED: %s\n", m[i].name);
      return -1;
    }
  }
  for (int r = 0; r < o->runs; r++) {
    for (size_t k = 0; k < n; k++) {
      size_t i = (r % 2 == 0) ? k : n - 1 - k;
      bench_run_result res;
      if (bench_timed_run(m[i].fn, m[i].ctx, m[i].iters, &res) != 0) {
        fprintf(stderr, "bench: FAILED: %s\n", m[i].name);
        return -1;
      }
      *chunks += res.chunks;
      *dropped += res.dropped;
      m[i].contended += res.contended;
      if (res.rate > m[i].best) {
        m[i].best = res.rate;
      }
    }
  }
  return 0;
}

/* nth_root returns x^(1/k) for x > 0, k >= 1 (bisection; no libm). */
static double nth_root(double x, unsigned k) {
  double lo = 0.0, hi = x > 1.0 ? x : 1.0;
  for (int it = 0; it < 200; it++) {
    double mid = (lo + hi) / 2, p = 1.0;
    for (unsigned j = 0; j < k; j++) {
      p *= mid;
    }
    if (p > x) {
      hi = mid;
    } else {
      lo = mid;
    }
  }
  return (lo + hi) / 2;
}

static unsigned ilog2(uint32_t x) {
  unsigned r = 0;
  while (x > 1) {
    x >>= 1;
    r++;
  }
  return r;
}

/* ============================================================ tree part */

typedef struct tree_fx {
  const mls_suite *s;
  uint32_t n;
  size_t nh;
  uint8_t gid[GID_LEN];
  mls_group_context gc; /* tree_hash rewritten per use */
  mls_tree tree;        /* the committer's view */
  mls_tree rtree;       /* the receiver's view */
  mls_tree_priv rpriv;  /* the receiver (leaf 1) */
  uint8_t sig_priv[MG_MAX_SIG_PRIV_LEN]; /* the committer (leaf 0) */
  size_t sig_priv_len;
  /* the committer's per-iteration outputs */
  mls_tree_priv cpriv;
  mls_path_secrets csec;
  mls_update_path cup;
  /* the path the receiver applies, its context and commit secret */
  mls_update_path up;
  uint8_t ctx0[CTX_MAX];
  size_t ctx0_len;
  uint8_t cs0[MG_MAX_HASH_LEN];
  uint32_t hash_leaf;
  uint32_t stale; /* nodes a path change leaves to re-hash */
} tree_fx;

static int u16_list_one(mls_u16_list *l, uint16_t v) {
  l->v = malloc(sizeof(*l->v));
  if (l->v == NULL) {
    return MG_ERR_NOMEM;
  }
  l->v[0] = v;
  l->n = 1;
  return 0;
}

/* make_leaf fills |ln| with a signed key_package LeafNode for member |i|
 * with fresh keys; the HPKE key pair goes to |hk|, the signature private
 * key to |sig_priv| (suite->sig->priv_len bytes). */
static int make_leaf(const mls_suite *s, mls_leaf_node *ln, uint32_t i,
                     mg_hpke_key *hk, uint8_t *sig_priv) {
  uint8_t spub[MG_MAX_SIG_PUB_LEN];
  char id[32];
  size_t pub_len = 0;
  int rc = 0;
  memset(ln, 0, sizeof(*ln));
  MG_CHECK(mg_hpke_key_generate(hk, s->kem));
  const uint8_t *pub = mg_hpke_key_pub(hk, &pub_len);
  MG_CHECK(mls_bytes_dup(&ln->encryption_key, pub, pub_len));
  MG_CHECK(s->sig->generate(s->sig, sig_priv, spub));
  MG_CHECK(mls_bytes_dup(&ln->signature_key, spub, s->sig->pub_len));
  ln->credential.credential_type = MLS_CREDENTIAL_BASIC;
  int idn = snprintf(id, sizeof(id), "member-%u", (unsigned)i);
  MG_CHECK(mls_bytes_dup(&ln->credential.identity, (const uint8_t *)id,
                         (size_t)idn));
  MG_CHECK(u16_list_one(&ln->capabilities.versions, MLS_VERSION_MLS10));
  MG_CHECK(u16_list_one(&ln->capabilities.cipher_suites, s->id));
  MG_CHECK(u16_list_one(&ln->capabilities.credentials, MLS_CREDENTIAL_BASIC));
  ln->leaf_node_source = MLS_LEAF_SOURCE_KEY_PACKAGE;
  ln->lifetime.not_before = 0;
  ln->lifetime.not_after = UINT64_MAX;
  MG_CHECK(mls_leaf_node_sign(s, ln, sig_priv, s->sig->priv_len, NULL, 0, 0));
out:
  if (rc != 0) {
    mls_leaf_node_cleanup(ln);
  }
  return rc;
}

/* make_parent fills |node| with a parent whose key is
 * DeriveKeyPair(DeriveSecret(path_secret, "node")) (RFC 9420 §7.4). */
static int make_parent(const mls_suite *s, mls_node *node,
                       const uint8_t *path_secret, int is_root) {
  uint8_t ns[MG_MAX_HASH_LEN], ph[MG_MAX_HASH_LEN];
  mg_hpke_key k;
  size_t pub_len = 0, nh = s->kdf->nh;
  int rc = 0;
  mg_hpke_key_zero(&k);
  memset(node, 0, sizeof(*node));
  node->node_type = MLS_NODE_PARENT;
  MG_CHECK(mls_derive_secret(s, ns, path_secret, nh, "node"));
  MG_CHECK(mg_hpke_key_derive(&k, s->kem, ns, nh));
  const uint8_t *pub = mg_hpke_key_pub(&k, &pub_len);
  MG_CHECK(mls_bytes_dup(&node->u.parent.encryption_key, pub, pub_len));
  if (!is_root) {
    MG_CHECK(mg_random_bytes(ph, nh));
    MG_CHECK(mls_bytes_dup(&node->u.parent.parent_hash, ph, nh));
  }
out:
  if (rc != 0) {
    mls_node_cleanup(node);
  }
  mg_hpke_key_cleanup(&k);
  mg_memzero(ns, sizeof(ns));
  return rc;
}

static void tree_fx_free(tree_fx *f) {
  mls_tree_cleanup(&f->tree);
  mls_tree_cleanup(&f->rtree);
  mls_tree_priv_cleanup(&f->rpriv);
  mls_tree_priv_cleanup(&f->cpriv);
  mls_path_secrets_cleanup(&f->csec);
  mls_update_path_cleanup(&f->cup);
  mls_update_path_cleanup(&f->up);
  mls_bytes_cleanup(&f->gc.group_id);
  mls_bytes_cleanup(&f->gc.tree_hash);
  mls_bytes_cleanup(&f->gc.confirmed_transcript_hash);
  mg_memzero(f->sig_priv, sizeof(f->sig_priv));
  mg_memzero(f->cs0, sizeof(f->cs0));
  free(f);
}

/* ctx_of writes the GroupContext of the current epoch with the tree hash of
 * |t| (the provisional GroupContext of RFC 9420 §12.4.1) into |buf|. */
static int ctx_of(tree_fx *f, mls_tree *t, uint8_t *buf, size_t cap,
                  size_t *len) {
  size_t hl = 0;
  mg_writer w;
  MG_GUARD(mls_tree_hash(t, f->gc.tree_hash.data, f->gc.tree_hash.len, &hl));
  mg_writer_init_fixed(&w, buf, cap);
  MG_GUARD(mls_group_context_encode(&w, &f->gc));
  *len = mg_writer_len(&w);
  return 0;
}

static int tree_fx_new(tree_fx **out, const mls_suite *s, uint32_t n) {
  tree_fx *f = calloc(1, sizeof(*f));
  mls_ratchet_tree rt = {NULL, 0};
  uint8_t *ps = NULL; /* path secrets of the parents, Nh each */
  mg_hpke_key hk, rk;
  uint8_t spriv[MG_MAX_SIG_PRIV_LEN], buf[MG_MAX_HASH_LEN];
  size_t width = 2 * (size_t)n - 1;
  int rc = 0;
  mg_hpke_key_zero(&hk);
  mg_hpke_key_zero(&rk);
  if (f == NULL) {
    return MG_ERR_NOMEM;
  }
  f->s = s;
  f->n = n;
  f->nh = s->kdf->nh;
  mls_tree_zero(&f->tree);
  mls_tree_zero(&f->rtree);
  mls_tree_priv_zero(&f->rpriv);
  mls_tree_priv_zero(&f->cpriv);
  MG_CHECK(mg_random_bytes(f->gid, sizeof(f->gid)));
  f->gc.version = MLS_VERSION_MLS10;
  f->gc.cipher_suite = s->id;
  f->gc.epoch = 1;
  memset(buf, 0, sizeof(buf));
  MG_CHECK(mls_bytes_dup(&f->gc.group_id, f->gid, sizeof(f->gid)));
  MG_CHECK(mls_bytes_dup(&f->gc.tree_hash, buf, s->hash->digest_len));
  MG_CHECK(mg_random_bytes(buf, f->nh));
  MG_CHECK(mls_bytes_dup(&f->gc.confirmed_transcript_hash, buf,
                         s->hash->digest_len));

  rt.nodes = calloc(width, sizeof(*rt.nodes));
  ps = malloc(width * f->nh);
  if (rt.nodes == NULL || ps == NULL) {
    MG_FAIL(MG_ERR_NOMEM);
  }
  rt.n = width;
  for (uint32_t i = 0; i < n; i++) {
    mls_node *node = &rt.nodes[2 * (size_t)i];
    MG_CHECK(make_leaf(s, &node->u.leaf, i, &hk, spriv));
    node->node_type = MLS_NODE_LEAF;
    if (i == 0) {
      memcpy(f->sig_priv, spriv, s->sig->priv_len);
      f->sig_priv_len = s->sig->priv_len;
    }
    if (i == 1) {
      rk = hk;
    }
    mg_hpke_key_cleanup(&hk);
  }
  mls_node_idx root = mls_tm_root(n);
  for (size_t x = 1; x < width; x += 2) {
    MG_CHECK(mg_random_bytes(ps + x * f->nh, f->nh));
    MG_CHECK(make_parent(s, &rt.nodes[x], ps + x * f->nh, x == root.v));
  }
  MG_CHECK(mls_tree_from_ratchet_tree(&f->tree, s, &rt));
  MG_CHECK(mls_tree_copy(&f->rtree, &f->tree));

  /* The receiver's private view: its leaf key and its direct path. */
  mls_leaf_idx r = {1};
  mls_node_idx dp[MLS_TREE_MAX_DEPTH];
  uint32_t ndp = 0;
  MG_CHECK(mls_tree_priv_init(&f->rpriv, s, r, rk.priv, s->kem->priv_len));
  MG_CHECK(mls_tm_direct_path(dp, &ndp, MLS_TREE_MAX_DEPTH,
                              mls_tm_leaf_to_node(r), n));
  for (uint32_t i = 0; i < ndp; i++) {
    MG_CHECK(mls_tree_priv_set_path_secret(&f->rpriv, dp[i],
                                           ps + (size_t)dp[i].v * f->nh,
                                           f->nh));
  }
  MG_CHECK(mls_tree_priv_check(&f->rpriv, &f->rtree));
  *out = f;
  f = NULL;
out:
  if (rt.nodes != NULL) {
    for (size_t i = 0; i < rt.n; i++) {
      mls_node_cleanup(&rt.nodes[i]);
    }
    free(rt.nodes);
  }
  if (ps != NULL) {
    mg_memzero(ps, width * s->kdf->nh);
  }
  free(ps);
  mg_hpke_key_cleanup(&hk);
  mg_hpke_key_cleanup(&rk);
  mg_memzero(spriv, sizeof(spriv));
  if (f != NULL) {
    tree_fx_free(f);
  }
  return rc;
}

/* Committer: UpdatePath from leaf 0, provisional GroupContext, encryption. */
static int tree_create_path(tree_fx *f, uint8_t *ctx, size_t *ctx_len) {
  mls_leaf_idx from = {0};
  mls_tree_priv_cleanup(&f->cpriv);
  mls_path_secrets_cleanup(&f->csec);
  MG_GUARD(mls_treekem_generate(&f->tree, &f->cpriv, &f->csec, &f->cup, from,
                                mls_tree_leaf(&f->tree, from), f->sig_priv,
                                f->sig_priv_len, f->gid, sizeof(f->gid)));
  MG_GUARD(ctx_of(f, &f->tree, ctx, CTX_MAX, ctx_len));
  return mls_treekem_encrypt(&f->tree, &f->csec, &f->cup, from, ctx, *ctx_len,
                             NULL, 0);
}

/* Receiver: merge, provisional GroupContext, decryption; the commit secret
 * must be the committer's. */
static int tree_apply_path(tree_fx *f) {
  mls_leaf_idx from = {0};
  uint8_t ctx[CTX_MAX], cs[MG_MAX_HASH_LEN];
  size_t ctx_len = 0, cs_len = 0;
  int rc = 0;
  MG_CHECK(mls_treekem_merge(&f->rtree, from, &f->up, f->gid, sizeof(f->gid)));
  MG_CHECK(ctx_of(f, &f->rtree, ctx, sizeof(ctx), &ctx_len));
  MG_CHECK(mls_treekem_decrypt(&f->rtree, &f->rpriv, cs, sizeof(cs), &cs_len,
                               NULL, 0, NULL, from, &f->up, ctx, ctx_len, NULL,
                               0));
  if (cs_len != f->nh || mg_ct_memeq(cs, f->cs0, cs_len) != 1) {
    MG_FAIL(MG_ERR_INTERNAL);
  }
out:
  mg_memzero(cs, sizeof(cs));
  return rc;
}

static int op_full_hash(void *arg) {
  tree_fx *f = arg;
  uint8_t h[MG_MAX_HASH_LEN];
  size_t hl = 0;
  memset(f->tree.th_ok, 0, mls_tree_width(&f->tree));
  return mls_tree_hash(&f->tree, h, sizeof(h), &hl) == 0 ? 0 : -1;
}

static int op_path_hash(void *arg) {
  tree_fx *f = arg;
  uint8_t h[MG_MAX_HASH_LEN];
  size_t hl = 0;
  /* A different leaf each time (odd step: every leaf in turn). */
  f->hash_leaf = (f->hash_leaf + 0x9E3779B1u) & (f->n - 1);
  mls_leaf_idx l = {f->hash_leaf};
  mls_tree_invalidate(&f->tree, mls_tm_leaf_to_node(l));
  return mls_tree_hash(&f->tree, h, sizeof(h), &hl) == 0 ? 0 : -1;
}

static int op_path_create(void *arg) {
  tree_fx *f = arg;
  uint8_t ctx[CTX_MAX];
  size_t ctx_len = 0;
  return tree_create_path(f, ctx, &ctx_len) == 0 ? 0 : -1;
}

static int op_path_apply(void *arg) {
  return tree_apply_path(arg) == 0 ? 0 : -1;
}

/* tree_check runs one commit end to end and checks what the receiver
 * gets, and the cold tree hash against the cached one. */
static int tree_check(tree_fx *f) {
  uint8_t h1[MG_MAX_HASH_LEN], h2[MG_MAX_HASH_LEN], rctx[CTX_MAX];
  size_t l1 = 0, l2 = 0, rctx_len = 0;
  MG_GUARD(tree_create_path(f, f->ctx0, &f->ctx0_len));
  memcpy(f->cs0, f->csec.commit_secret, f->nh);
  MG_GUARD(mls_update_path_copy(&f->up, &f->cup));
  MG_GUARD(mls_tree_priv_check(&f->cpriv, &f->tree));
  MG_GUARD(tree_apply_path(f));
  MG_GUARD(ctx_of(f, &f->rtree, rctx, sizeof(rctx), &rctx_len));
  MG_ENSURE(rctx_len == f->ctx0_len &&
                memcmp(rctx, f->ctx0, rctx_len) == 0,
            MG_ERR_INTERNAL);
  MG_GUARD(mls_tree_priv_check(&f->rpriv, &f->rtree));
  /* Applying the same path again is a fixed point (what the timed loop
   * does); and the cold hash equals the cached one. */
  MG_GUARD(tree_apply_path(f));
  MG_GUARD(mls_tree_hash(&f->tree, h1, sizeof(h1), &l1));
  MG_GUARD(op_full_hash(f));
  MG_GUARD(mls_tree_hash(&f->tree, h2, sizeof(h2), &l2));
  MG_ENSURE(l1 == l2 && memcmp(h1, h2, l1) == 0, MG_ERR_INTERNAL);
  /* A path change leaves exactly the leaf and its direct path to re-hash. */
  mls_leaf_idx l = {f->n - 1};
  uint32_t stale = 0, width = mls_tree_width(&f->tree);
  mls_tree_invalidate(&f->tree, mls_tm_leaf_to_node(l));
  for (uint32_t x = 0; x < width; x++) {
    stale += f->tree.th_ok[x] == 0;
  }
  MG_ENSURE(stale == ilog2(f->n) + 1, MG_ERR_INTERNAL);
  f->stale = stale;
  MG_GUARD(mls_tree_hash(&f->tree, h2, sizeof(h2), &l2));
  MG_ENSURE(l1 == l2 && memcmp(h1, h2, l1) == 0, MG_ERR_INTERNAL);
  /* The path touches one node per level. */
  MG_ENSURE(f->up.num_nodes == ilog2(f->n), MG_ERR_INTERNAL);
  for (size_t i = 0; i < f->up.num_nodes; i++) {
    MG_ENSURE(f->up.nodes[i].num_encrypted_path_secret == 1, MG_ERR_INTERNAL);
  }
  return 0;
}

enum { T_FULL = 0, T_PATH_HASH, T_CREATE, T_APPLY, T_NUM };

static const char *const tree_op_names[T_NUM] = {
    "tree hash, whole tree (cold)", "tree hash after a path change",
    "UpdatePath create", "UpdatePath apply"};

static void print_growth(const char *name, const double *us,
                         const int *contended, size_t nsz, int linear) {
  printf("  %-30s", name);
  for (size_t i = 0; i < nsz; i++) {
    printf(" %10.1f%s", us[i], contended[i] ? "~" : " ");
  }
  printf("\n  %-30s", "  per doubling");
  printf(" %11s", "");
  for (size_t i = 1; i < nsz; i++) {
    unsigned d = ilog2(tree_sizes[i]) - ilog2(tree_sizes[i - 1]);
    printf(" %10.3f ", nth_root(us[i] / us[i - 1], d));
  }
  printf("\n  %-30s", linear ? "  per node (us)" : "  per level (us)");
  for (size_t i = 0; i < nsz; i++) {
    double per = linear ? us[i] / (2.0 * tree_sizes[i] - 1.0)
                        : us[i] / (double)ilog2(tree_sizes[i]);
    printf(" %10.3f ", per);
  }
  printf("\n");
}

static int bench_tree_suite(const mls_suite *s, const bench_opts *o,
                            int *verdict_fail, long *chunks, long *dropped) {
  double us[T_NUM][NUM_SIZES];
  int cont[T_NUM][NUM_SIZES];
  size_t nsz = 0;
  memset(us, 0, sizeof(us));
  memset(cont, 0, sizeof(cont));
  printf("\nsuite 0x%04x %s: full trees (every parent holds a key)\n", s->id,
         s->name);
  printf("  %-7s %8s %12s %12s %12s %12s   (us per operation)\n", "leaves",
         "setup s", "hash cold", "hash path", "path create", "path apply");
  fflush(stdout);
  for (size_t k = 0; k < NUM_SIZES; k++) {
    uint32_t n = tree_sizes[k];
    if (n > o->max_leaves) {
      break;
    }
    tree_fx *f = NULL;
    double t0 = bench_now_sec();
    int rc = tree_fx_new(&f, s, n);
    if (rc != 0) {
      fprintf(stderr, "bench: suite %u: building a tree of %u leaves: %s\n",
              s->id, n, mg_strerror(rc));
      return -1;
    }
    rc = tree_check(f);
    if (rc != 0) {
      fprintf(stderr, "bench: suite %u, %u leaves: check failed: %s\n", s->id,
              n, mg_strerror(rc));
      tree_fx_free(f);
      return -1;
    }
    double setup = bench_now_sec() - t0;
    uint32_t stale = f->stale, width = mls_tree_width(&f->tree);
    meas m[T_NUM] = {
        {tree_op_names[T_FULL], op_full_hash, f, 0, 0.0, 0},
        {tree_op_names[T_PATH_HASH], op_path_hash, f, 0, 0.0, 0},
        {tree_op_names[T_CREATE], op_path_create, f, 0, 0.0, 0},
        {tree_op_names[T_APPLY], op_path_apply, f, 0, 0.0, 0},
    };
    rc = measure(m, T_NUM, o, chunks, dropped);
    tree_fx_free(f);
    if (rc != 0) {
      return -1;
    }
    printf("  %-7u %8.2f", n, setup);
    for (size_t i = 0; i < T_NUM; i++) {
      us[i][k] = 1e6 / m[i].best;
      cont[i][k] = m[i].contended > 0;
      printf(" %11.1f%s", us[i][k], cont[i][k] ? "~" : " ");
    }
    printf("   re-hash %u of %u nodes\n", stale, width);
    fflush(stdout);
    nsz = k + 1;
  }
  if (nsz < 2) {
    return 0;
  }
  printf("\n  %-30s", "growth (us; leaves ->)");
  for (size_t i = 0; i < nsz; i++) {
    printf(" %10u ", tree_sizes[i]);
  }
  printf("\n");
  for (size_t i = 0; i < T_NUM; i++) {
    print_growth(tree_op_names[i], us[i], cont[i], nsz, i == T_FULL);
  }
  /* Verdicts against the second size (64: past the fixed costs of n=2). */
  size_t b = nsz >= 3 ? 1 : 0, e = nsz - 1;
  double nb = tree_sizes[b], ne = tree_sizes[e];
  double log_pred = (double)ilog2(tree_sizes[e]) / (double)ilog2(tree_sizes[b]);
  double lin_pred = (2.0 * ne - 1.0) / (2.0 * nb - 1.0);
  printf("\n  verdict (t(%u)/t(%u); pure log n predicts %.2f, n predicts "
         "%.0f):\n",
         tree_sizes[e], tree_sizes[b], log_pred, lin_pred);
  for (size_t i = 0; i < T_NUM; i++) {
    double g = us[i][e] / us[i][b];
    int lin = i == T_FULL;
    int ok = lin ? g <= LIN_TOLERANCE * lin_pred : g <= LOG_TOLERANCE * log_pred;
    printf("    %-30s x%-8.2f %s\n", tree_op_names[i], g,
           ok ? (lin ? "O(n): not worse than linear"
                     : "O(log n)")
              : (lin ? "WORSE than O(n)" : "WORSE than O(log n)"));
    if (!ok) {
      *verdict_fail = 1;
    }
  }
  return 0;
}

/* ================================================================= main */

static void usage(FILE *f) {
  fprintf(f,
          "usage: bench/mls [--suite N] [--time SECONDS] [--runs N] "
          "[--max-leaves N] [--tree-only] [--quick]\n"
          "  --suite N        only MLS cipher suite N (1..7); default: suites "
          "1 and 2 for the trees\n"
          "  --time S         seconds per timed run (default 0.2)\n"
          "  --runs N         timed runs per operation, best kept (default 3)\n"
          "  --max-leaves N   largest tree (default 16384)\n"
          "  --tree-only      only the tree scaling part\n"
          "  --quick          smoke run: --time 0.02 --runs 1, suite 1\n");
}

static int parse_args(int argc, char **argv, bench_opts *o) {
  o->time = 0.2;
  o->runs = 3;
  o->suite = 0;
  o->max_leaves = 16384;
  o->do_tree = 1;
  o->do_protect = 1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    char *end = NULL;
    if (strcmp(a, "--quick") == 0) {
      o->time = 0.02;
      o->runs = 1;
      if (o->suite == 0) {
        o->suite = 1;
      }
    } else if (strcmp(a, "--tree-only") == 0) {
      o->do_protect = 0;
    } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      exit(0);
    } else if (strcmp(a, "--time") == 0 && i + 1 < argc) {
      o->time = strtod(argv[++i], &end);
      if (end == argv[i] || *end != '\0' || !(o->time > 0.0) ||
          o->time > 60.0) {
        fprintf(stderr, "bench: --time wants seconds in (0, 60]\n");
        return -1;
      }
    } else if (strcmp(a, "--runs") == 0 && i + 1 < argc) {
      long v = strtol(argv[++i], &end, 10);
      if (end == argv[i] || *end != '\0' || v < 1 || v > 100) {
        fprintf(stderr, "bench: --runs wants 1..100\n");
        return -1;
      }
      o->runs = (int)v;
    } else if (strcmp(a, "--max-leaves") == 0 && i + 1 < argc) {
      long v = strtol(argv[++i], &end, 10);
      if (end == argv[i] || *end != '\0' || v < 2 || v > 16384) {
        fprintf(stderr, "bench: --max-leaves wants 2..16384\n");
        return -1;
      }
      o->max_leaves = (uint32_t)v;
    } else if (strcmp(a, "--suite") == 0 && i + 1 < argc) {
      long v = strtol(argv[++i], &end, 0);
      if (end == argv[i] || *end != '\0' || v < MLS_SUITE_MIN ||
          v > MLS_SUITE_MAX) {
        fprintf(stderr, "bench: --suite wants %d..%d\n", MLS_SUITE_MIN,
                MLS_SUITE_MAX);
        return -1;
      }
      o->suite = (int)v;
    } else {
      usage(stderr);
      return -1;
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  bench_opts o;
  int failed = 0, verdict_fail = 0;
  long chunks = 0, dropped = 0;
  if (parse_args(argc, argv, &o) != 0) {
    return 2;
  }
  if (mg_crypto_init() != 0) {
    fprintf(stderr, "bench: crypto initialization failed\n");
    return 1;
  }
  printf("bench/mls: best of %d run%s of ~%.2f s each, operations of one "
         "size interleaved; '~' some run never had the CPU to itself; chunks "
         "with < %.0f%% CPU share are not counted\n",
         o.runs, o.runs == 1 ? "" : "s", o.time, 100.0 * BENCH_MIN_CPU_SHARE);
  if (o.do_tree) {
    printf("\n== tree scaling (RFC 9420 §7): committer leaf 0, receiver leaf 1 "
           "(its sibling: the deepest common ancestor)\n"
           "   path create = generate + provisional GroupContext (tree hash) "
           "+ encrypt; path apply = merge + GroupContext + decrypt\n");
    static const uint16_t tree_suites[] = {1, 2};
    for (size_t i = 0; i < MG_ARRAY_LEN(tree_suites); i++) {
      uint16_t id = tree_suites[i];
      if (o.suite != 0) {
        if (i > 0) {
          break;
        }
        id = (uint16_t)o.suite;
      }
      const mls_suite *s = mls_suite_by_id(id);
      if (s == NULL ||
          bench_tree_suite(s, &o, &verdict_fail, &chunks, &dropped) != 0) {
        failed = 1;
      }
    }
  }
  printf("\nsummary:\n");
  if (o.do_tree) {
    printf("  tree: %s\n", verdict_fail ? "SOME OPERATION GROWS FASTER THAN "
                                          "EXPECTED (see verdicts)"
                                        : "path operations O(log n), full "
                                          "tree hash O(n)");
  }
  if (chunks > 0) {
    printf("  timing chunks dropped for CPU contention: %ld of %ld (%.0f%%)\n",
           dropped, chunks, 100.0 * (double)dropped / (double)chunks);
  }
  if (failed) {
    printf("FAILED: at least one operation or check failed (see stderr)\n");
  }
  return failed ? 1 : 0;
}
