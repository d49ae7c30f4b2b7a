/* The secret tree (RFC 9420 §9) and sender data keys (§6.3.2).  See
 * secret_tree.h. */
#include "config.h"

#include "mls/secret_tree.h"

#include <stdlib.h>
#include <string.h>

#include "common/guard.h"
#include "common/secmem.h"
#include "crypto/mls_crypto.h"

/* A key kept for a generation the ratchet has moved past. */
typedef struct st_retained {
  uint32_t generation;
  uint8_t key[MG_MAX_AEAD_KEY_LEN];
  uint8_t nonce[MG_MAX_AEAD_NONCE_LEN];
} st_retained;

/* One hash ratchet (RFC 9420 §9.1).  |secret| is ratchet_secret_[next]; a
 * |next| of 2^32 means every generation has been used. */
typedef struct st_ratchet {
  uint64_t next;
  uint8_t secret[MG_MAX_HASH_LEN];
  st_retained *retained; /* ascending generations, all < next */
  size_t num_retained;
} st_ratchet;

typedef struct st_leaf {
  st_ratchet ratchet[2]; /* indexed by mls_ratchet_type */
} st_leaf;

struct mls_secret_tree {
  const mls_suite *suite;
  size_t nh;
  mls_secret_tree_config cfg;
  uint32_t n_leaves;    /* as given */
  uint32_t width_leaves; /* rounded up to a power of two */
  uint8_t **node;       /* node secrets (Nh bytes each) or NULL; 2w-1 */
  st_leaf **leaf;       /* leaf ratchets once derived, or NULL; n_leaves */
};

#define ST_GEN_EXHAUSTED ((uint64_t)1 << 32)

void mls_key_nonce_cleanup(mls_key_nonce *kn) {
  if (kn != NULL) {
    mg_memzero(kn, sizeof(*kn));
  }
}

static void st_ratchet_wipe(st_ratchet *r) {
  mg_free_secret(r->retained, r->num_retained * sizeof(st_retained));
  mg_memzero(r, sizeof(*r));
}

void mls_secret_tree_free(mls_secret_tree *st) {
  if (st == NULL) {
    return;
  }
  uint32_t width = st->width_leaves * 2 - 1;
  if (st->node != NULL) {
    for (uint32_t i = 0; i < width; i++) {
      mg_free_secret(st->node[i], st->nh);
    }
    free(st->node);
  }
  if (st->leaf != NULL) {
    for (uint32_t i = 0; i < st->n_leaves; i++) {
      if (st->leaf[i] != NULL) {
        st_ratchet_wipe(&st->leaf[i]->ratchet[0]);
        st_ratchet_wipe(&st->leaf[i]->ratchet[1]);
        free(st->leaf[i]);
      }
    }
    free(st->leaf);
  }
  mg_free_secret(st, sizeof(*st));
}

/* The suite sizes the tree's fixed buffers rely on. */
static int st_suite_ok(const mls_suite *suite) {
  return suite != NULL && suite->kdf != NULL && suite->aead != NULL &&
         suite->kdf->nh <= MG_MAX_HASH_LEN &&
         suite->aead->key_len <= MG_MAX_AEAD_KEY_LEN &&
         suite->aead->nonce_len <= MG_MAX_AEAD_NONCE_LEN;
}

/* Allocates a tree of |n_leaves| (checked by the caller) with no node secret
 * and no leaf ratchets. */
static int st_alloc(mls_secret_tree **out, const mls_suite *suite,
                    uint32_t n_leaves, const mls_secret_tree_config *cfg) {
  mls_secret_tree *st = calloc(1, sizeof(*st));
  if (st == NULL) {
    return MG_ERR_NOMEM;
  }
  st->suite = suite;
  st->nh = suite->kdf->nh;
  st->n_leaves = n_leaves;
  st->width_leaves = 1;
  while (st->width_leaves < n_leaves) {
    st->width_leaves <<= 1;
  }
  if (cfg != NULL) {
    st->cfg = *cfg;
  } else {
    st->cfg.max_forward = MLS_SECRET_TREE_DEFAULT_MAX_FORWARD;
    st->cfg.max_retained = MLS_SECRET_TREE_DEFAULT_MAX_RETAINED;
  }
  st->node = calloc((size_t)st->width_leaves * 2 - 1, sizeof(uint8_t *));
  st->leaf = calloc(n_leaves, sizeof(st_leaf *));
  if (st->node == NULL || st->leaf == NULL) {
    mls_secret_tree_free(st);
    return MG_ERR_NOMEM;
  }
  *out = st;
  return 0;
}

int mls_secret_tree_new(mls_secret_tree **out, const mls_suite *suite,
                        const uint8_t *encryption_secret,
                        size_t encryption_secret_len, uint32_t n_leaves,
                        const mls_secret_tree_config *cfg) {
  mls_secret_tree *st = NULL;
  int rc;

  MG_ENSURE(out != NULL && encryption_secret != NULL && st_suite_ok(suite),
            MG_ERR_INVALID_ARG);
  MG_ENSURE(encryption_secret_len == suite->kdf->nh, MG_ERR_PARAM);
  MG_ENSURE(n_leaves >= 1 && n_leaves <= MLS_SECRET_TREE_MAX_LEAVES,
            MG_ERR_PARAM);
  MG_GUARD(st_alloc(&st, suite, n_leaves, cfg));
  mls_node_idx root = mls_tm_root(st->width_leaves);
  st->node[root.v] = malloc(st->nh);
  if (st->node[root.v] == NULL) {
    MG_FAIL(MG_ERR_NOMEM);
  }
  memcpy(st->node[root.v], encryption_secret, st->nh);
  *out = st;
  return 0;
out:
  mls_secret_tree_free(st);
  return rc;
}

/* Derives both children of node |x| from its secret and deletes it
 * (RFC 9420 §9: tree_node_[left(N)]_secret = ExpandWithLabel(
 * tree_node_[N]_secret, "tree", "left", KDF.Nh), likewise "right"). */
static int st_split(mls_secret_tree *st, mls_node_idx x) {
  mls_node_idx l, r;
  uint8_t *ls = NULL;
  uint8_t *rs = NULL;
  int rc;

  MG_GUARD(mls_tm_left(&l, x));
  MG_GUARD(mls_tm_right(&r, x));
  ls = malloc(st->nh);
  rs = malloc(st->nh);
  if (ls == NULL || rs == NULL) {
    MG_FAIL(MG_ERR_NOMEM);
  }
  MG_CHECK(mls_expand_with_label(st->suite, ls, st->nh, st->node[x.v], st->nh,
                                 "tree", (const uint8_t *)"left", 4));
  MG_CHECK(mls_expand_with_label(st->suite, rs, st->nh, st->node[x.v], st->nh,
                                 "tree", (const uint8_t *)"right", 5));
  st->node[l.v] = ls;
  st->node[r.v] = rs;
  mg_free_secret(st->node[x.v], st->nh);
  st->node[x.v] = NULL;
  return 0;
out:
  mg_free_secret(ls, st->nh);
  mg_free_secret(rs, st->nh);
  return rc;
}

/* Returns the ratchets of |leaf|, deriving them (and the node secrets on the
 * path from the root) on first use. */
static int st_leaf_get(mls_secret_tree *st, st_leaf **out, mls_leaf_idx leaf) {
  st_leaf *lf = NULL;
  int rc;

  if (leaf.v >= st->n_leaves) {
    return MG_ERR_SENDER;
  }
  if (st->leaf[leaf.v] != NULL) {
    *out = st->leaf[leaf.v];
    return 0;
  }
  mls_node_idx target = mls_tm_leaf_to_node(leaf);
  mls_node_idx x = mls_tm_root(st->width_leaves);
  while (x.v != target.v) {
    if (st->node[x.v] != NULL) {
      MG_GUARD(st_split(st, x));
    }
    if (target.v < x.v) {
      MG_GUARD(mls_tm_left(&x, x));
    } else {
      MG_GUARD(mls_tm_right(&x, x));
    }
  }
  /* Every leaf whose ratchets do not exist yet has an ancestor-or-self secret
   * on its path (secrets are only deleted after their children exist). */
  MG_ENSURE(st->node[x.v] != NULL, MG_ERR_INTERNAL);
  lf = calloc(1, sizeof(*lf));
  if (lf == NULL) {
    return MG_ERR_NOMEM;
  }
  /* RFC 9420 §9.1: handshake/application_ratchet_secret_[N]_[0] =
   * ExpandWithLabel(tree_node_[N]_secret, "handshake"/"application", "",
   * KDF.Nh). */
  MG_CHECK(mls_expand_with_label(st->suite, lf->ratchet[MLS_RATCHET_HANDSHAKE].secret,
                                 st->nh, st->node[x.v], st->nh, "handshake",
                                 NULL, 0));
  MG_CHECK(mls_expand_with_label(st->suite,
                                 lf->ratchet[MLS_RATCHET_APPLICATION].secret,
                                 st->nh, st->node[x.v], st->nh, "application",
                                 NULL, 0));
  mg_free_secret(st->node[x.v], st->nh);
  st->node[x.v] = NULL;
  st->leaf[leaf.v] = lf;
  *out = lf;
  return 0;
out:
  mg_free_secret(lf, sizeof(*lf));
  return rc;
}

/* RFC 9420 §9.1: key/nonce of generation |gen| from ratchet_secret_[gen]. */
static int st_key_nonce(const mls_secret_tree *st, uint8_t *key, uint8_t *nonce,
                        const uint8_t *secret, uint32_t gen) {
  MG_GUARD(mls_derive_tree_secret(st->suite, key, st->suite->aead->key_len,
                                  secret, st->nh, "key", gen));
  return mls_derive_tree_secret(st->suite, nonce, st->suite->aead->nonce_len,
                                secret, st->nh, "nonce", gen);
}

/* ratchet_secret_[gen+1] = DeriveTreeSecret(ratchet_secret_[gen], "secret",
 * gen, KDF.Nh); |out| may not alias |secret|. */
static int st_advance(const mls_secret_tree *st, uint8_t *out,
                      const uint8_t *secret, uint32_t gen) {
  return mls_derive_tree_secret(st->suite, out, st->nh, secret, st->nh,
                                "secret", gen);
}

static int st_ratchet_of(mls_secret_tree *st, st_ratchet **out,
                         mls_leaf_idx leaf, mls_ratchet_type type) {
  st_leaf *lf = NULL;
  switch (type) {
    case MLS_RATCHET_HANDSHAKE:
    case MLS_RATCHET_APPLICATION:
      break;
    default:
      return MG_ERR_INVALID_ARG;
  }
  MG_GUARD(st_leaf_get(st, &lf, leaf));
  *out = &lf->ratchet[type];
  return 0;
}

static st_retained *st_find_retained(st_ratchet *r, uint32_t gen) {
  for (size_t i = 0; i < r->num_retained; i++) {
    if (r->retained[i].generation == gen) {
      return &r->retained[i];
    }
  }
  return NULL;
}

/* The ratchet secret of generation 0 of |type| for a leaf whose ratchets
 * have not been derived yet, computed into |out| from the one node secret
 * held on its path without storing anything: a get() must not change the
 * tree (a message that then fails to authenticate leaves no trace). */
#define MG_REQUIRE_ST(c) \
  do {                   \
    if (!(c)) {          \
      MG_FAIL(MG_ERR_INTERNAL); \
    }                    \
  } while (0)

static int st_peek_fresh(const mls_secret_tree *st, uint8_t *out,
                         mls_leaf_idx leaf, mls_ratchet_type type) {
  uint8_t cur[MG_MAX_HASH_LEN], nxt[MG_MAX_HASH_LEN];
  int have = 0, rc;
  mls_node_idx target = mls_tm_leaf_to_node(leaf);
  mls_node_idx x = mls_tm_root(st->width_leaves);
  for (;;) {
    if (!have && st->node[x.v] != NULL) {
      memcpy(cur, st->node[x.v], st->nh);
      have = 1;
    }
    if (x.v == target.v) {
      break;
    }
    mls_node_idx child;
    int left = target.v < x.v;
    MG_CHECK(left ? mls_tm_left(&child, x) : mls_tm_right(&child, x));
    if (have) {
      MG_CHECK(mls_expand_with_label(st->suite, nxt, st->nh, cur, st->nh,
                                     "tree",
                                     (const uint8_t *)(left ? "left" : "right"),
                                     left ? 4 : 5));
      memcpy(cur, nxt, st->nh);
    }
    x = child;
  }
  MG_REQUIRE_ST(have);
  MG_CHECK(mls_expand_with_label(
      st->suite, out, st->nh, cur, st->nh,
      type == MLS_RATCHET_HANDSHAKE ? "handshake" : "application", NULL, 0));
  rc = 0;
out:
  mg_memzero(cur, sizeof(cur));
  mg_memzero(nxt, sizeof(nxt));
  return rc;
}

int mls_secret_tree_get(mls_secret_tree *st, mls_key_nonce *out,
                        mls_leaf_idx leaf, mls_ratchet_type type,
                        uint32_t generation) {
  st_ratchet *r = NULL;
  st_ratchet fresh;
  uint8_t cur[MG_MAX_HASH_LEN];
  uint8_t nxt[MG_MAX_HASH_LEN];
  int rc;

  MG_ENSURE(st != NULL && out != NULL, MG_ERR_INVALID_ARG);
  MG_ENSURE(type == MLS_RATCHET_HANDSHAKE || type == MLS_RATCHET_APPLICATION,
            MG_ERR_INVALID_ARG);
  memset(&fresh, 0, sizeof(fresh));
  mls_key_nonce_cleanup(out);
  out->key_len = st->suite->aead->key_len;
  out->nonce_len = st->suite->aead->nonce_len;
  out->generation = generation;
  if (leaf.v >= st->n_leaves) {
    MG_FAIL(MG_ERR_SENDER);
  }
  if (st->leaf[leaf.v] != NULL) {
    r = &st->leaf[leaf.v]->ratchet[type];
  } else {
    MG_CHECK(st_peek_fresh(st, fresh.secret, leaf, type));
    r = &fresh;
  }
  if ((uint64_t)generation < r->next) {
    st_retained *kept = st_find_retained(r, generation);
    if (kept == NULL) {
      MG_FAIL(MG_ERR_GENERATION); /* consumed or dropped */
    }
    memcpy(out->key, kept->key, out->key_len);
    memcpy(out->nonce, kept->nonce, out->nonce_len);
    rc = 0;
    goto out;
  }
  if ((uint64_t)generation - r->next > st->cfg.max_forward) {
    MG_FAIL(MG_ERR_GENERATION);
  }
  memcpy(cur, r->secret, st->nh);
  for (uint64_t g = r->next; g < generation; g++) {
    MG_CHECK(st_advance(st, nxt, cur, (uint32_t)g));
    memcpy(cur, nxt, st->nh);
  }
  MG_CHECK(st_key_nonce(st, out->key, out->nonce, cur, generation));
out:
  mg_memzero(cur, sizeof(cur));
  mg_memzero(nxt, sizeof(nxt));
  mg_memzero(&fresh, sizeof(fresh));
  if (rc < 0) {
    mls_key_nonce_cleanup(out);
  }
  return rc;
}

static void st_retained_remove(st_ratchet *r, st_retained *kept) {
  size_t i = (size_t)(kept - r->retained);
  mg_memzero(kept, sizeof(*kept));
  memmove(&r->retained[i], &r->retained[i + 1],
          (r->num_retained - i - 1) * sizeof(st_retained));
  r->num_retained--;
  mg_memzero(&r->retained[r->num_retained], sizeof(st_retained));
}

int mls_secret_tree_consume(mls_secret_tree *st, mls_leaf_idx leaf,
                            mls_ratchet_type type, uint32_t generation) {
  st_ratchet *r = NULL;
  uint8_t cur[MG_MAX_HASH_LEN];
  uint8_t nxt[MG_MAX_HASH_LEN];
  st_retained *fresh = NULL; /* skipped keys to keep, ascending */
  size_t num_fresh = 0;
  size_t fresh_cap = 0;
  int rc;

  MG_ENSURE(st != NULL, MG_ERR_INVALID_ARG);
  MG_CHECK(st_ratchet_of(st, &r, leaf, type));
  if ((uint64_t)generation < r->next) {
    st_retained *kept = st_find_retained(r, generation);
    if (kept == NULL) {
      MG_FAIL(MG_ERR_GENERATION);
    }
    st_retained_remove(r, kept);
    rc = 0;
    goto out;
  }
  uint64_t skip = (uint64_t)generation - r->next;
  if (skip > st->cfg.max_forward) {
    MG_FAIL(MG_ERR_GENERATION);
  }
  /* Everything is computed into temporaries first, so a failure part-way
   * leaves the ratchet as it was. */
  fresh_cap = skip < st->cfg.max_retained ? (size_t)skip : st->cfg.max_retained;
  if (fresh_cap > 0) {
    fresh = calloc(fresh_cap, sizeof(st_retained));
    if (fresh == NULL) {
      MG_FAIL(MG_ERR_NOMEM);
    }
  }
  memcpy(cur, r->secret, st->nh);
  for (uint64_t g = r->next; g <= generation; g++) {
    if (g < generation && generation - g <= fresh_cap) {
      st_retained *e = &fresh[num_fresh++];
      e->generation = (uint32_t)g;
      MG_CHECK(st_key_nonce(st, e->key, e->nonce, cur, (uint32_t)g));
    }
    if (g == 0xffffffffu) {
      break; /* no ratchet_secret_[2^32] */
    }
    MG_CHECK(st_advance(st, nxt, cur, (uint32_t)g));
    memcpy(cur, nxt, st->nh);
  }
  /* Merge: old retained keys then the fresh ones, keeping the newest
   * max_retained. */
  size_t total = r->num_retained + num_fresh;
  size_t keep = total < st->cfg.max_retained ? total : st->cfg.max_retained;
  st_retained *merged = NULL;
  if (keep > 0) {
    merged = calloc(keep, sizeof(st_retained));
    if (merged == NULL) {
      MG_FAIL(MG_ERR_NOMEM);
    }
    size_t drop = total - keep;
    size_t k = 0;
    for (size_t i = 0; i < r->num_retained; i++) {
      if (i >= drop) {
        merged[k++] = r->retained[i];
      }
    }
    for (size_t i = 0; i < num_fresh; i++) {
      if (r->num_retained + i >= drop) {
        merged[k++] = fresh[i];
      }
    }
  }
  mg_free_secret(r->retained, r->num_retained * sizeof(st_retained));
  r->retained = merged;
  r->num_retained = keep;
  r->next = (uint64_t)generation + 1;
  if (r->next == ST_GEN_EXHAUSTED) {
    mg_memzero(r->secret, sizeof(r->secret));
  } else {
    memcpy(r->secret, cur, st->nh);
  }
  rc = 0;
out:
  mg_memzero(cur, sizeof(cur));
  mg_memzero(nxt, sizeof(nxt));
  mg_free_secret(fresh, fresh_cap * sizeof(st_retained));
  return rc;
}

int mls_secret_tree_next(mls_secret_tree *st, mls_key_nonce *out,
                         mls_leaf_idx leaf, mls_ratchet_type type) {
  st_ratchet *r = NULL;
  MG_ENSURE(st != NULL && out != NULL, MG_ERR_INVALID_ARG);
  mls_key_nonce_cleanup(out);
  MG_GUARD(st_ratchet_of(st, &r, leaf, type));
  MG_ENSURE(r->next < ST_GEN_EXHAUSTED, MG_ERR_GENERATION);
  uint32_t gen = (uint32_t)r->next;
  MG_GUARD(mls_secret_tree_get(st, out, leaf, type, gen));
  int rc = mls_secret_tree_consume(st, leaf, type, gen);
  if (rc < 0) {
    mls_key_nonce_cleanup(out);
  }
  return rc;
}

int mls_secret_tree_advance(mls_secret_tree *st, mls_leaf_idx leaf,
                            mls_ratchet_type type, uint32_t next) {
  st_ratchet *r = NULL;
  uint8_t cur[MG_MAX_HASH_LEN];
  uint8_t nxt[MG_MAX_HASH_LEN];
  int rc;
  MG_ENSURE(st != NULL, MG_ERR_INVALID_ARG);
  MG_GUARD(st_ratchet_of(st, &r, leaf, type));
  if ((uint64_t)next <= r->next) {
    return 0;
  }
  /* r->next < next <= 2^32 - 1: every step below has a successor. */
  memcpy(cur, r->secret, st->nh);
  for (uint64_t g = r->next; g < next; g++) {
    MG_CHECK(st_advance(st, nxt, cur, (uint32_t)g));
    memcpy(cur, nxt, st->nh);
  }
  memcpy(r->secret, cur, st->nh);
  r->next = next;
  rc = 0;
out:
  mg_memzero(cur, sizeof(cur));
  mg_memzero(nxt, sizeof(nxt));
  return rc;
}

/* ------------------------------------------------------- copy */

int mls_secret_tree_copy(mls_secret_tree **out, const mls_secret_tree *in) {
  mls_secret_tree *st = NULL;
  int rc;

  MG_ENSURE_REF(out);
  *out = NULL;
  MG_ENSURE(in != NULL && st_suite_ok(in->suite), MG_ERR_INVALID_ARG);
  MG_GUARD(st_alloc(&st, in->suite, in->n_leaves, &in->cfg));
  for (uint32_t i = 0; i < st->width_leaves * 2 - 1; i++) {
    if (in->node[i] != NULL) {
      st->node[i] = malloc(st->nh);
      if (st->node[i] == NULL) {
        MG_FAIL(MG_ERR_NOMEM);
      }
      memcpy(st->node[i], in->node[i], st->nh);
    }
  }
  for (uint32_t i = 0; i < st->n_leaves; i++) {
    if (in->leaf[i] == NULL) {
      continue;
    }
    st_leaf *lf = calloc(1, sizeof(*lf));
    if (lf == NULL) {
      MG_FAIL(MG_ERR_NOMEM);
    }
    st->leaf[i] = lf;
    for (size_t t = 0; t < 2; t++) {
      const st_ratchet *src = &in->leaf[i]->ratchet[t];
      st_ratchet *dst = &lf->ratchet[t];
      dst->next = src->next;
      memcpy(dst->secret, src->secret, sizeof(dst->secret));
      if (src->num_retained > 0) {
        dst->retained = calloc(src->num_retained, sizeof(st_retained));
        if (dst->retained == NULL) {
          MG_FAIL(MG_ERR_NOMEM);
        }
        dst->num_retained = src->num_retained;
        memcpy(dst->retained, src->retained,
               src->num_retained * sizeof(st_retained));
      }
    }
  }
  *out = st;
  return 0;
out:
  mls_secret_tree_free(st);
  return rc;
}

/* ------------------------------------------------ serialization */

/* Bytes of the MLS varint for |v| (RFC 9420 §2.1.2); 4 beyond its range,
 * where the writer fails anyway. */
static size_t st_varint_len(size_t v) {
  if (v < 0x40) {
    return 1;
  }
  if (v < 0x4000) {
    return 2;
  }
  return 4;
}

/* The secret<V> of a ratchet is empty once every generation is used. */
static size_t st_ratchet_secret_len(const mls_secret_tree *st,
                                    const st_ratchet *r) {
  return r->next == ST_GEN_EXHAUSTED ? 0 : st->nh;
}

/* One SecretTreeRetained: uint32, then key<V> and nonce<V> whose lengths
 * (Nk <= 32, Nn <= 24) take one varint byte each. */
static size_t st_retained_enc_len(const mls_secret_tree *st) {
  return 4 + 1 + st->suite->aead->key_len + 1 + st->suite->aead->nonce_len;
}

static int st_encode_ratchet(mg_writer *w, const mls_secret_tree *st,
                             const st_ratchet *r) {
  size_t mark;
  size_t nk = st->suite->aead->key_len;
  size_t nn = st->suite->aead->nonce_len;

  MG_GUARD(mg_write_u64(w, r->next));
  MG_GUARD(mg_write_opaque(w, r->secret, st_ratchet_secret_len(st, r)));
  MG_GUARD(mg_write_vec_begin(w, &mark));
  for (size_t i = 0; i < r->num_retained; i++) {
    MG_GUARD(mg_write_u32(w, r->retained[i].generation));
    MG_GUARD(mg_write_opaque(w, r->retained[i].key, nk));
    MG_GUARD(mg_write_opaque(w, r->retained[i].nonce, nn));
  }
  return mg_write_vec_end(w, mark);
}

int mls_secret_tree_encode(mg_writer *w, const mls_secret_tree *st) {
  size_t mark;

  MG_ENSURE(w != NULL && st != NULL, MG_ERR_INVALID_ARG);
  MG_GUARD(mg_write_varint(w, st->n_leaves));
  MG_GUARD(mg_write_vec_begin(w, &mark));
  for (uint32_t i = 0; i < st->width_leaves * 2 - 1; i++) {
    if (st->node[i] != NULL) {
      MG_GUARD(mg_write_varint(w, i));
      MG_GUARD(mg_write_opaque(w, st->node[i], st->nh));
    }
  }
  MG_GUARD(mg_write_vec_end(w, mark));
  MG_GUARD(mg_write_vec_begin(w, &mark));
  for (uint32_t i = 0; i < st->n_leaves; i++) {
    if (st->leaf[i] != NULL) {
      MG_GUARD(mg_write_varint(w, i));
      MG_GUARD(st_encode_ratchet(w, st, &st->leaf[i]->ratchet[0]));
      MG_GUARD(st_encode_ratchet(w, st, &st->leaf[i]->ratchet[1]));
    }
  }
  return mg_write_vec_end(w, mark);
}

size_t mls_secret_tree_encoded_size_hint(const mls_secret_tree *st) {
  size_t nodes = 0;
  size_t leaves = 0;

  if (st == NULL) {
    return 0;
  }
  for (uint32_t i = 0; i < st->width_leaves * 2 - 1; i++) {
    if (st->node[i] != NULL) {
      nodes += st_varint_len(i) + st_varint_len(st->nh) + st->nh;
    }
  }
  for (uint32_t i = 0; i < st->n_leaves; i++) {
    if (st->leaf[i] == NULL) {
      continue;
    }
    leaves += st_varint_len(i);
    for (size_t t = 0; t < 2; t++) {
      const st_ratchet *r = &st->leaf[i]->ratchet[t];
      size_t slen = st_ratchet_secret_len(st, r);
      size_t rlen = r->num_retained * st_retained_enc_len(st);
      leaves += 8 + st_varint_len(slen) + slen + st_varint_len(rlen) + rlen;
    }
  }
  return st_varint_len(st->n_leaves) + st_varint_len(nodes) + nodes +
         st_varint_len(leaves) + leaves;
}

/* Reads `opaque x<V>` of exactly |len| bytes into |dst|. */
static int st_read_exact(mg_reader *r, uint8_t *dst, size_t len) {
  mg_reader body;
  MG_GUARD(mg_read_vec(r, &body));
  MG_ENSURE(mg_reader_len(&body) == len, MG_ERR_LENGTH);
  return mg_read_copy(&body, dst, len);
}

/* Reads one SecretTreeRetained into |e|. */
static int st_decode_retained(mg_reader *r, const mls_secret_tree *st,
                              st_retained *e) {
  MG_GUARD(mg_read_u32(r, &e->generation));
  MG_GUARD(st_read_exact(r, e->key, st->suite->aead->key_len));
  return st_read_exact(r, e->nonce, st->suite->aead->nonce_len);
}

/* Decodes a SecretTreeRatchet into |rt| (zeroed, owned by the tree, so that
 * whatever was read is wiped with the tree on failure). */
static int st_decode_ratchet(mg_reader *r, const mls_secret_tree *st,
                             st_ratchet *rt) {
  mg_reader body;

  MG_GUARD(mg_read_u64(r, &rt->next));
  MG_ENSURE(rt->next <= ST_GEN_EXHAUSTED, MG_ERR_DECODE);
  MG_GUARD(st_read_exact(r, rt->secret, st_ratchet_secret_len(st, rt)));
  MG_GUARD(mg_read_vec(r, &body));
  /* Every valid entry takes exactly st_retained_enc_len bytes, so the count
   * is known before any entry is read and the array is allocated once,
   * bounded by the input and by max_retained. */
  size_t n = mg_reader_len(&body) / st_retained_enc_len(st);
  MG_ENSURE(n <= st->cfg.max_retained, MG_ERR_LENGTH);
  if (n > 0) {
    rt->retained = calloc(n, sizeof(st_retained));
    if (rt->retained == NULL) {
      return MG_ERR_NOMEM;
    }
    rt->num_retained = n;
  }
  for (size_t i = 0; i < n; i++) {
    st_retained *e = &rt->retained[i];
    MG_GUARD(st_decode_retained(&body, st, e));
    MG_ENSURE(i == 0 || e->generation > rt->retained[i - 1].generation,
              MG_ERR_DECODE);
    MG_ENSURE((uint64_t)e->generation < rt->next, MG_ERR_DECODE);
  }
  if (mg_reader_len(&body) > 0) {
    /* Fewer bytes than an entry are left: decode one into a temporary to
     * name the fault (a length, or a truncation). */
    st_retained extra;
    int rc = st_decode_retained(&body, st, &extra);
    mg_memzero(&extra, sizeof(extra));
    return rc < 0 ? rc : MG_ERR_TRUNCATED; /* rc < 0: it is too short */
  }
  return 0;
}

static int st_decode_nodes(mg_reader *r, mls_secret_tree *st,
                           size_t *num_items) {
  mg_reader body;
  uint32_t width = st->width_leaves * 2 - 1;
  uint64_t next_min = 0; /* strictly ascending */

  MG_GUARD(mg_read_vec(r, &body));
  while (mg_reader_len(&body) > 0) {
    uint32_t x;
    MG_GUARD(mg_read_varint(&body, &x));
    MG_ENSURE(x < width && x >= next_min, MG_ERR_DECODE);
    next_min = (uint64_t)x + 1;
    st->node[x] = malloc(st->nh);
    if (st->node[x] == NULL) {
      return MG_ERR_NOMEM;
    }
    MG_GUARD(st_read_exact(&body, st->node[x], st->nh));
    (*num_items)++;
  }
  return 0;
}

static int st_decode_leaves(mg_reader *r, mls_secret_tree *st,
                            size_t *num_items) {
  mg_reader body;
  uint64_t next_min = 0; /* strictly ascending */

  MG_GUARD(mg_read_vec(r, &body));
  while (mg_reader_len(&body) > 0) {
    uint32_t l;
    MG_GUARD(mg_read_varint(&body, &l));
    MG_ENSURE(l < st->n_leaves && l >= next_min, MG_ERR_DECODE);
    next_min = (uint64_t)l + 1;
    st->leaf[l] = calloc(1, sizeof(st_leaf));
    if (st->leaf[l] == NULL) {
      return MG_ERR_NOMEM;
    }
    MG_GUARD(st_decode_ratchet(&body, st, &st->leaf[l]->ratchet[0]));
    MG_GUARD(st_decode_ratchet(&body, st, &st->leaf[l]->ratchet[1]));
    (*num_items)++;
  }
  return 0;
}

/* Checks that the node secrets and derived leaves tile the padded tree:
 * walking the leaves left to right, the item covering leaf |pos| is a
 * derived leaf or a node whose subtree starts at |pos| (node 2*pos + 2^k - 1
 * at level k), exactly one of them is present, and the walk continues after
 * its subtree.  Every item found is distinct, so the items tile the tree
 * if and only if the walk meets all |num_items| of them (an item nested in
 * another is never met).  O(items * log w). */
static int st_check_cover(const mls_secret_tree *st, size_t num_items) {
  uint64_t pos = 0;
  size_t met = 0;

  while (pos < st->width_leaves) {
    int found = 0;
    uint64_t span = 0;
    if (pos < st->n_leaves && st->leaf[pos] != NULL) {
      found++;
      span = 1;
    }
    for (uint64_t size = 1; pos % size == 0 && pos + size <= st->width_leaves;
         size <<= 1) {
      if (st->node[2 * pos + size - 1] != NULL) {
        found++;
        span = size;
      }
    }
    MG_ENSURE(found == 1, MG_ERR_DECODE);
    met++;
    pos += span;
  }
  MG_ENSURE(met == num_items, MG_ERR_DECODE);
  return 0;
}

int mls_secret_tree_decode(mg_reader *r, mls_secret_tree **out,
                           const mls_suite *suite,
                           const mls_secret_tree_config *cfg) {
  mls_secret_tree *st = NULL;
  mg_reader tmp;
  uint32_t n_leaves;
  size_t num_items = 0;
  int rc;

  MG_ENSURE_REF(out);
  *out = NULL;
  MG_ENSURE(r != NULL && st_suite_ok(suite), MG_ERR_INVALID_ARG);
  tmp = *r;
  MG_GUARD(mg_read_varint(&tmp, &n_leaves));
  MG_ENSURE(n_leaves >= 1 && n_leaves <= MLS_SECRET_TREE_MAX_LEAVES,
            MG_ERR_DECODE);
  MG_GUARD(st_alloc(&st, suite, n_leaves, cfg));
  MG_CHECK(st_decode_nodes(&tmp, st, &num_items));
  MG_CHECK(st_decode_leaves(&tmp, st, &num_items));
  MG_CHECK(st_check_cover(st, num_items));
  *r = tmp;
  *out = st;
  return 0;
out:
  mls_secret_tree_free(st);
  return rc;
}

int mls_sender_data_key_nonce(const mls_suite *suite, mls_key_nonce *out,
                              const uint8_t *sender_data_secret,
                              size_t sender_data_secret_len,
                              const uint8_t *ciphertext,
                              size_t ciphertext_len) {
  MG_ENSURE(suite != NULL && suite->kdf != NULL && suite->aead != NULL &&
                out != NULL && sender_data_secret != NULL &&
                (ciphertext != NULL || ciphertext_len == 0),
            MG_ERR_INVALID_ARG);
  MG_ENSURE(sender_data_secret_len == suite->kdf->nh, MG_ERR_PARAM);
  mls_key_nonce_cleanup(out);
  out->key_len = suite->aead->key_len;
  out->nonce_len = suite->aead->nonce_len;
  size_t sample_len =
      ciphertext_len < suite->kdf->nh ? ciphertext_len : suite->kdf->nh;
  int rc = mls_expand_with_label(suite, out->key, out->key_len,
                                 sender_data_secret, sender_data_secret_len,
                                 "key", ciphertext, sample_len);
  if (rc == 0) {
    rc = mls_expand_with_label(suite, out->nonce, out->nonce_len,
                               sender_data_secret, sender_data_secret_len,
                               "nonce", ciphertext, sample_len);
  }
  if (rc < 0) {
    mls_key_nonce_cleanup(out);
  }
  return rc;
}

int mls_secret_tree_seek_for_testing(mls_secret_tree *st, mls_leaf_idx leaf,
                                     mls_ratchet_type type, uint32_t next) {
  st_ratchet *r = NULL;
  MG_ENSURE(st != NULL, MG_ERR_INVALID_ARG);
  MG_GUARD(st_ratchet_of(st, &r, leaf, type));
  mg_free_secret(r->retained, r->num_retained * sizeof(st_retained));
  r->retained = NULL;
  r->num_retained = 0;
  r->next = next;
  return 0;
}
