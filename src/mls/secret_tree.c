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

int mls_secret_tree_new(mls_secret_tree **out, const mls_suite *suite,
                        const uint8_t *encryption_secret,
                        size_t encryption_secret_len, uint32_t n_leaves,
                        const mls_secret_tree_config *cfg) {
  mls_secret_tree *st = NULL;
  int rc;

  MG_ENSURE(out != NULL && suite != NULL && suite->kdf != NULL &&
                suite->aead != NULL && encryption_secret != NULL,
            MG_ERR_INVALID_ARG);
  MG_ENSURE(suite->kdf->nh <= MG_MAX_HASH_LEN &&
                suite->aead->key_len <= MG_MAX_AEAD_KEY_LEN &&
                suite->aead->nonce_len <= MG_MAX_AEAD_NONCE_LEN,
            MG_ERR_INVALID_ARG);
  MG_ENSURE(encryption_secret_len == suite->kdf->nh, MG_ERR_PARAM);
  MG_ENSURE(n_leaves >= 1 && n_leaves <= MLS_SECRET_TREE_MAX_LEAVES,
            MG_ERR_PARAM);
  st = calloc(1, sizeof(*st));
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
    MG_FAIL(MG_ERR_NOMEM);
  }
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

int mls_secret_tree_get(mls_secret_tree *st, mls_key_nonce *out,
                        mls_leaf_idx leaf, mls_ratchet_type type,
                        uint32_t generation) {
  st_ratchet *r = NULL;
  uint8_t cur[MG_MAX_HASH_LEN];
  uint8_t nxt[MG_MAX_HASH_LEN];
  int rc;

  MG_ENSURE(st != NULL && out != NULL, MG_ERR_INVALID_ARG);
  mls_key_nonce_cleanup(out);
  out->key_len = st->suite->aead->key_len;
  out->nonce_len = st->suite->aead->nonce_len;
  out->generation = generation;
  MG_CHECK(st_ratchet_of(st, &r, leaf, type));
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
