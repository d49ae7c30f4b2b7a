/*
 * tests/interop_driver: our MLS group engine (src/mls/group.h) behind the
 * line-delimited JSON driver protocol of tests/interop/README.md ("Driver
 * protocol"), so that tests/interop/scenarios.mjs can play ts-mls against
 * it.  tests/interop/tsmls_driver.mjs implements the same protocol with
 * ts-mls and is the executable specification of every command.
 *
 * One request object per stdin line (at most DRV_MAX_LINE bytes; a longer
 * line is answered with an error and skipped up to its newline), one
 * response object per stdout line, flushed; stdout carries nothing else,
 * logs go to stderr.  Bytes are lowercase hex.
 *
 * Each client (named by the test) has one suite, one signature key (made
 * with its first KeyPackage and reused for every later one, so the client
 * keeps one identity), its unused KeyPackages with their private keys, its
 * external PSKs and at most one group.  The driver is its own delivery
 * service: a Commit it makes is accepted at once (mls_commit_result.next
 * replaces the state).  A failed command leaves the client as it was; the
 * engine guarantees that for its own operations (group.h), and the driver
 * changes its own records only after the engine succeeded.
 *
 * Secrets (signature keys, KeyPackage private keys, PSKs, group states) are
 * wiped when freed; this is a test program with short-lived test keys, so
 * they live in ordinary heap memory rather than mg_secure_alloc pages.
 */
#include "config.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/hex.h"
#include "common/secmem.h"
#include "crypto/crypto.h"
#include "crypto/suite.h"
#include "mls/bytes.h"
#include "mls/constants.h"
#include "mls/group.h"
#include "mls/keypackage.h"
#include "mls/msg_framing.h"
#include "mls/msg_leaf.h"
#include "mlsgate/err.h"

/* Longest request line accepted (README: lines are at most 1 MiB). */
#define DRV_MAX_LINE ((size_t)1 << 20)
/* Bounds on what one request may ask for. */
#define DRV_MAX_EXPORT_LEN ((json_int_t)1024)

/* ------------------------------------------------------------ state */

typedef struct drv_kp {
  mls_key_package kp;
  mls_key_package_priv priv;
  uint8_t ref[MG_MAX_HASH_LEN]; /* KeyPackageRef */
  size_t ref_len;
} drv_kp;

typedef struct drv_psk {
  mls_bytes id;
  mls_bytes secret; /* wiped */
} drv_psk;

typedef struct drv_client {
  char *name;
  const mls_suite *suite;
  uint8_t sig_priv[MG_MAX_SIG_PRIV_LEN]; /* wiped; sig_priv_len 0: none yet */
  size_t sig_priv_len;
  drv_kp **kps; /* unused KeyPackages, oldest first */
  size_t num_kps;
  drv_psk *psks;
  size_t num_psks;
  mls_group *group; /* NULL: none */
  int removed;      /* the group removed us: every group command fails */
} drv_client;

typedef struct drv {
  drv_client **clients;
  size_t num_clients;
} drv;

static void kp_free(drv_kp *k) {
  if (k == NULL) {
    return;
  }
  mls_key_package_cleanup(&k->kp);
  mls_key_package_priv_cleanup(&k->priv);
  free(k);
}

static void client_free(drv_client *c) {
  if (c == NULL) {
    return;
  }
  free(c->name);
  mg_memzero(c->sig_priv, sizeof(c->sig_priv));
  for (size_t i = 0; i < c->num_kps; i++) {
    kp_free(c->kps[i]);
  }
  free(c->kps);
  for (size_t i = 0; i < c->num_psks; i++) {
    mls_bytes_cleanup(&c->psks[i].id);
    mls_bytes_cleanup_secret(&c->psks[i].secret);
  }
  free(c->psks);
  mls_group_free(c->group);
  free(c);
}

static void drv_cleanup(drv *d) {
  for (size_t i = 0; i < d->num_clients; i++) {
    client_free(d->clients[i]);
  }
  free(d->clients);
  memset(d, 0, sizeof(*d));
}

/* Appends |p| to the pointer array |*arr| of |*n| elements.  Errors:
 * MG_ERR_NOMEM (the array is then unchanged). */
static int ptr_push(void ***arr, size_t *n, void *p) {
  void **na = calloc(*n + 1, sizeof(*na));
  if (na == NULL) {
    return MG_ERR_NOMEM;
  }
  if (*n > 0) {
    memcpy(na, *arr, *n * sizeof(*na));
  }
  na[*n] = p;
  free(*arr);
  *arr = na;
  (*n)++;
  return 0;
}

/* ------------------------------------------------ request arguments */

/* A command fills |why| with a detail for the error response. */
typedef struct drv_req {
  const json_t *o;
  const char *why;
} drv_req;

static int fail(drv_req *r, int rc, const char *why) {
  r->why = why;
  return rc;
}

/* arg_hex decodes the hex string |key| into a new buffer (free()).
 * Optional arguments that are absent (or null) give |*present| 0 and an
 * empty result.  Errors: MG_ERR_INVALID_ARG (missing or not a string),
 * MG_ERR_HEX, MG_ERR_NOMEM. */
static int arg_hex_opt(drv_req *r, const char *key, uint8_t **out,
                       size_t *out_len, int *present) {
  const json_t *v = json_object_get(r->o, key);
  *out = NULL;
  *out_len = 0;
  *present = 0;
  if (v == NULL || json_is_null(v)) {
    return 0;
  }
  if (!json_is_string(v)) {
    return fail(r, MG_ERR_INVALID_ARG, key);
  }
  int rc = mg_hex_decode(out, out_len, json_string_value(v),
                         json_string_length(v));
  if (rc < 0) {
    return fail(r, rc, key);
  }
  *present = 1;
  return 0;
}

static int arg_hex(drv_req *r, const char *key, uint8_t **out,
                   size_t *out_len) {
  int present = 0;
  int rc = arg_hex_opt(r, key, out, out_len, &present);
  if (rc < 0) {
    return rc;
  }
  if (!present) {
    return fail(r, MG_ERR_INVALID_ARG, key);
  }
  return 0;
}

/* arg_int reads the integer |key| within [lo, hi].  Errors:
 * MG_ERR_INVALID_ARG. */
static int arg_int_of(drv_req *r, const json_t *v, const char *key,
                      json_int_t lo, json_int_t hi, json_int_t *out) {
  if (!json_is_integer(v) || json_integer_value(v) < lo ||
      json_integer_value(v) > hi) {
    return fail(r, MG_ERR_INVALID_ARG, key);
  }
  *out = json_integer_value(v);
  return 0;
}

static int arg_int(drv_req *r, const char *key, json_int_t lo, json_int_t hi,
                   json_int_t *out) {
  return arg_int_of(r, json_object_get(r->o, key), key, lo, hi, out);
}

/* arg_bool reads the optional boolean |key| (default |def|).  Errors:
 * MG_ERR_INVALID_ARG. */
static int arg_bool(drv_req *r, const char *key, int def, int *out) {
  const json_t *v = json_object_get(r->o, key);
  if (v == NULL || json_is_null(v)) {
    *out = def;
    return 0;
  }
  if (!json_is_boolean(v)) {
    return fail(r, MG_ERR_INVALID_ARG, key);
  }
  *out = json_is_true(v);
  return 0;
}

/* ------------------------------------------------ response fields */

static int set_new(json_t *resp, const char *key, json_t *v) {
  /* json_object_set_new steals |v|, also on failure. */
  return json_object_set_new(resp, key, v) == 0 ? 0 : MG_ERR_NOMEM;
}

static int set_int(json_t *resp, const char *key, json_int_t v) {
  json_t *j = json_integer(v);
  return j == NULL ? MG_ERR_NOMEM : set_new(resp, key, j);
}

/* hex_json returns a new JSON string of |len| bytes in lowercase hex. */
static json_t *hex_json(const uint8_t *p, size_t len) {
  if (len > (SIZE_MAX - 1) / 2) {
    return NULL;
  }
  char *s = malloc(2 * len + 1);
  if (s == NULL) {
    return NULL;
  }
  mg_hex_encode(s, p, len);
  json_t *j = json_stringn(s, 2 * len);
  free(s);
  return j;
}

static int set_hex(json_t *resp, const char *key, const uint8_t *p,
                   size_t len) {
  json_t *j = hex_json(p, len);
  return j == NULL ? MG_ERR_NOMEM : set_new(resp, key, j);
}

/* ------------------------------------------------ clients */

static drv_client *client_find(const drv *d, const char *name) {
  for (size_t i = 0; i < d->num_clients; i++) {
    if (strcmp(d->clients[i]->name, name) == 0) {
      return d->clients[i];
    }
  }
  return NULL;
}

/* The existing client of the request.  Errors: MG_ERR_INVALID_ARG,
 * MG_ERR_NOT_FOUND. */
static int client_of(drv *d, drv_req *r, drv_client **out) {
  const char *name = json_string_value(json_object_get(r->o, "client"));
  if (name == NULL) {
    return fail(r, MG_ERR_INVALID_ARG, "client");
  }
  *out = client_find(d, name);
  return *out == NULL ? fail(r, MG_ERR_NOT_FOUND, "no such client") : 0;
}

/* The client of the request with a usable group.  Errors: those of
 * client_of, MG_ERR_NOT_FOUND (no group), MG_ERR_STATE (removed). */
static int group_of(drv *d, drv_req *r, drv_client **out) {
  int rc = client_of(d, r, out);
  if (rc < 0) {
    return rc;
  }
  if ((*out)->group == NULL) {
    return fail(r, MG_ERR_NOT_FOUND, "client has no group");
  }
  if ((*out)->removed) {
    return fail(r, MG_ERR_STATE, "client was removed from its group");
  }
  return 0;
}

/* The client of a create_key_package / create_group request, created on
 * first use with the request's suite.  Errors: MG_ERR_INVALID_ARG,
 * MG_ERR_UNSUPPORTED (suite), MG_ERR_CONFLICT (another suite than the
 * client's), MG_ERR_NOMEM. */
static int client_for(drv *d, drv_req *r, drv_client **out) {
  json_int_t suite_id = 0;
  const char *name = json_string_value(json_object_get(r->o, "client"));
  if (name == NULL) {
    return fail(r, MG_ERR_INVALID_ARG, "client");
  }
  int rc = arg_int(r, "suite", 0, UINT16_MAX, &suite_id);
  if (rc < 0) {
    return rc;
  }
  const mls_suite *suite = mls_suite_by_id((uint16_t)suite_id);
  if (suite == NULL) {
    return fail(r, MG_ERR_UNSUPPORTED, "suite");
  }
  drv_client *c = client_find(d, name);
  if (c != NULL) {
    *out = c;
    return c->suite == suite
               ? 0
               : fail(r, MG_ERR_CONFLICT, "client uses another suite");
  }
  c = calloc(1, sizeof(*c));
  if (c == NULL) {
    return MG_ERR_NOMEM;
  }
  size_t n = strlen(name);
  c->name = malloc(n + 1);
  if (c->name == NULL) {
    free(c);
    return MG_ERR_NOMEM;
  }
  memcpy(c->name, name, n + 1);
  c->suite = suite;
  rc = ptr_push((void ***)&d->clients, &d->num_clients, c);
  if (rc < 0) {
    client_free(c);
    return rc;
  }
  *out = c;
  return 0;
}

/* Makes a KeyPackage for |c| with the request's identity.  The client's
 * signature key is made with its first KeyPackage and reused after.
 * Errors: argument errors, those of mls_key_package_generate. */
static int new_key_package(drv_client *c, drv_req *r, drv_kp **out) {
  uint8_t *identity = NULL;
  size_t identity_len = 0;
  drv_kp *k = NULL;
  int rc = arg_hex(r, "identity", &identity, &identity_len);
  if (rc < 0) {
    return rc;
  }
  k = calloc(1, sizeof(*k));
  if (k == NULL) {
    rc = MG_ERR_NOMEM;
    goto out;
  }
  mls_key_package_params kpp;
  memset(&kpp, 0, sizeof(kpp));
  kpp.cipher_suite = c->suite->id;
  kpp.identity = identity;
  kpp.identity_len = identity_len;
  kpp.sig_priv = c->sig_priv_len > 0 ? c->sig_priv : NULL;
  kpp.sig_priv_len = c->sig_priv_len;
  kpp.now = (uint64_t)time(NULL);
  rc = mls_key_package_generate(&k->kp, &k->priv, NULL, k->ref,
                                sizeof(k->ref), &k->ref_len, &kpp);
  if (rc < 0) {
    r->why = "mls_key_package_generate";
    goto out;
  }
  if (c->sig_priv_len == 0) {
    if (k->priv.sig_priv_len > sizeof(c->sig_priv)) {
      rc = MG_ERR_INTERNAL;
      goto out;
    }
    memcpy(c->sig_priv, k->priv.sig_priv, k->priv.sig_priv_len);
    c->sig_priv_len = k->priv.sig_priv_len;
  }
  *out = k;
  k = NULL;
  rc = 0;
out:
  kp_free(k);
  free(identity);
  return rc;
}

/* PSK resolution for the engine: the client's external PSKs.  Resumption
 * PSKs of the client's own group come from the group state. */
static int psk_lookup(void *arg, const mls_psk_id *id, mls_bytes *out) {
  const drv_client *c = arg;
  if (id->psktype != MLS_PSK_EXTERNAL) {
    return MG_ERR_PSK;
  }
  for (size_t i = 0; i < c->num_psks; i++) {
    if (mls_bytes_eq(&c->psks[i].id, &id->psk_id)) {
      return mls_bytes_copy(out, &c->psks[i].secret);
    }
  }
  return MG_ERR_PSK;
}

/* Replaces the client's group with |g| (taking it). */
static void set_group(drv_client *c, mls_group *g) {
  mls_group_free(c->group);
  c->group = g;
  c->removed = 0;
}

/* ------------------------------------------------ message decoding */

/* Decodes the hex MLSMessage argument |key| (|wire_format| required, 0 for
 * any).  Errors: argument errors, decode errors, MG_ERR_WIRE_FORMAT. */
static int arg_message(drv_req *r, const char *key, uint16_t wire_format,
                       mls_message *out) {
  uint8_t *b = NULL;
  size_t len = 0;
  memset(out, 0, sizeof(*out));
  int rc = arg_hex(r, key, &b, &len);
  if (rc < 0) {
    return rc;
  }
  rc = mls_message_decode_bytes(b, len, out);
  free(b);
  if (rc < 0) {
    return fail(r, rc, key);
  }
  if (wire_format != 0 && out->wire_format != wire_format) {
    mls_message_cleanup(out);
    return fail(r, MG_ERR_WIRE_FORMAT, key);
  }
  return 0;
}

/* Moves the KeyPackage of the hex MLSMessage |v| into |out|. */
static int key_package_of(drv_req *r, const json_t *v, const char *what,
                          mls_key_package *out) {
  mls_message m;
  memset(&m, 0, sizeof(m));
  if (!json_is_string(v)) {
    return fail(r, MG_ERR_INVALID_ARG, what);
  }
  uint8_t *b = NULL;
  size_t len = 0;
  int rc = mg_hex_decode(&b, &len, json_string_value(v), json_string_length(v));
  if (rc < 0) {
    return fail(r, rc, what);
  }
  rc = mls_message_decode_bytes(b, len, &m);
  free(b);
  if (rc < 0) {
    return fail(r, rc, what);
  }
  if (m.wire_format != MLS_WIRE_KEY_PACKAGE) {
    mls_message_cleanup(&m);
    return fail(r, MG_ERR_WIRE_FORMAT, what);
  }
  *out = m.key_package;
  memset(&m.key_package, 0, sizeof(m.key_package));
  mls_message_cleanup(&m);
  return 0;
}

/* ------------------------------------------------ proposals */

/* Proposals of a request, sorted into the engine's arrays (mls_commit_params
 * takes Adds, Removes and PreSharedKeys as separate lists).  A zeroed
 * struct owns nothing. */
typedef struct drv_props {
  mls_key_package *adds;
  size_t num_adds;
  uint32_t *removes;
  size_t num_removes;
  mls_psk_id *psks;
  size_t num_psks;
  size_t cap; /* room for this many proposals in all */
} drv_props;

static void props_cleanup(drv_props *p) {
  for (size_t i = 0; i < p->num_adds; i++) {
    mls_key_package_cleanup(&p->adds[i]);
  }
  for (size_t i = 0; i < p->num_psks; i++) {
    mls_psk_id_cleanup(&p->psks[i]);
  }
  free(p->adds);
  free(p->removes);
  free(p->psks);
  memset(p, 0, sizeof(*p));
}

/* props_init makes room for |n| proposals.  Errors: MG_ERR_NOMEM. */
static int props_init(drv_props *p, size_t n) {
  memset(p, 0, sizeof(*p));
  size_t k = n > 0 ? n : 1;
  p->adds = calloc(k, sizeof(*p->adds));
  p->removes = calloc(k, sizeof(*p->removes));
  p->psks = calloc(k, sizeof(*p->psks));
  if (p->adds == NULL || p->removes == NULL || p->psks == NULL) {
    props_cleanup(p);
    return MG_ERR_NOMEM;
  }
  p->cap = n;
  return 0;
}

static int props_full(const drv_props *p) {
  return p->num_adds + p->num_removes + p->num_psks >= p->cap;
}

/* Adds one proposal of the protocol's shapes ({"add": {"key_package"}},
 * {"remove": LEAF}, {"psk": {"id"}}) to |p|.  A PSK gets an empty nonce:
 * the engine draws a fresh one.  Errors: MG_ERR_INVALID_ARG, decode
 * errors, MG_ERR_NOMEM, MG_ERR_INTERNAL (no room left). */
static int props_add(drv_req *r, drv_props *p, const json_t *prop) {
  const json_t *v;
  if (!json_is_object(prop)) {
    return fail(r, MG_ERR_INVALID_ARG, "proposal: not an object");
  }
  if (props_full(p)) {
    return fail(r, MG_ERR_INTERNAL, "proposal list full");
  }
  if ((v = json_object_get(prop, "add")) != NULL) {
    int rc = key_package_of(r, json_object_get(v, "key_package"),
                            "add.key_package", &p->adds[p->num_adds]);
    if (rc < 0) {
      return rc;
    }
    p->num_adds++;
    return 0;
  }
  if ((v = json_object_get(prop, "remove")) != NULL) {
    json_int_t leaf = 0;
    int rc = arg_int_of(r, v, "remove", 0, UINT32_MAX, &leaf);
    if (rc < 0) {
      return rc;
    }
    p->removes[p->num_removes++] = (uint32_t)leaf;
    return 0;
  }
  if ((v = json_object_get(prop, "psk")) != NULL) {
    const json_t *id = json_object_get(v, "id");
    uint8_t *b = NULL;
    size_t len = 0;
    if (!json_is_string(id)) {
      return fail(r, MG_ERR_INVALID_ARG, "psk.id");
    }
    int rc = mg_hex_decode(&b, &len, json_string_value(id),
                           json_string_length(id));
    if (rc < 0) {
      return fail(r, rc, "psk.id");
    }
    mls_psk_id *pid = &p->psks[p->num_psks];
    memset(pid, 0, sizeof(*pid));
    pid->psktype = MLS_PSK_EXTERNAL;
    rc = mls_bytes_dup(&pid->psk_id, b, len);
    free(b);
    if (rc < 0) {
      return rc;
    }
    p->num_psks++;
    return 0;
  }
  return fail(r, MG_ERR_INVALID_ARG, "proposal: unknown kind");
}

/* ------------------------------------------------ commands */

typedef int (*drv_cmd_fn)(drv *d, drv_req *r, json_t *resp);

static int cmd_create_key_package(drv *d, drv_req *r, json_t *resp) {
  drv_client *c = NULL;
  drv_kp *k = NULL;
  uint8_t *enc = NULL;
  size_t enc_len = 0;
  int rc = client_for(d, r, &c);
  if (rc < 0) {
    return rc;
  }
  rc = new_key_package(c, r, &k);
  if (rc < 0) {
    return rc;
  }
  mls_message m;
  memset(&m, 0, sizeof(m));
  m.version = MLS_VERSION_MLS10;
  m.wire_format = MLS_WIRE_KEY_PACKAGE;
  m.key_package = k->kp; /* borrowed for the encoding only */
  rc = mls_message_serialize(&m, &enc, &enc_len);
  if (rc < 0) {
    goto out;
  }
  rc = set_hex(resp, "key_package", enc, enc_len);
  if (rc < 0) {
    goto out;
  }
  rc = ptr_push((void ***)&c->kps, &c->num_kps, k);
  if (rc < 0) {
    goto out;
  }
  k = NULL;
out:
  kp_free(k);
  free(enc);
  return rc;
}

static int cmd_create_group(drv *d, drv_req *r, json_t *resp) {
  drv_client *c = NULL;
  drv_kp *k = NULL;
  mls_group *g = NULL;
  uint8_t *gid = NULL;
  size_t gid_len = 0;
  int rc = client_for(d, r, &c);
  if (rc < 0) {
    return rc;
  }
  rc = arg_hex(r, "group_id", &gid, &gid_len);
  if (rc < 0) {
    return rc;
  }
  rc = new_key_package(c, r, &k);
  if (rc < 0) {
    goto out;
  }
  mls_group_create_params cp;
  memset(&cp, 0, sizeof(cp));
  cp.group_id = gid;
  cp.group_id_len = gid_len;
  cp.key_package = &k->kp;
  cp.priv = &k->priv;
  rc = mls_group_create(&g, c->suite, &cp);
  if (rc < 0) {
    r->why = "mls_group_create";
    goto out;
  }
  if ((rc = set_int(resp, "epoch", (json_int_t)mls_group_epoch(g))) < 0 ||
      (rc = set_int(resp, "my_leaf", mls_group_self(g).v)) < 0) {
    goto out;
  }
  set_group(c, g);
  g = NULL;
out:
  mls_group_free(g);
  kp_free(k);
  free(gid);
  return rc;
}

static int cmd_join(drv *d, drv_req *r, json_t *resp) {
  drv_client *c = NULL;
  mls_message wm;
  mls_group *g = NULL;
  uint8_t *tree = NULL;
  size_t tree_len = 0, which = 0;
  int has_tree = 0;
  memset(&wm, 0, sizeof(wm));
  int rc = client_of(d, r, &c);
  if (rc < 0) {
    return rc;
  }
  rc = arg_message(r, "welcome", MLS_WIRE_WELCOME, &wm);
  if (rc < 0) {
    return rc;
  }
  rc = arg_hex_opt(r, "ratchet_tree", &tree, &tree_len, &has_tree);
  if (rc < 0) {
    goto out;
  }
  /* Our KeyPackage is the one whose KeyPackageRef the Welcome names. */
  const drv_kp *k = NULL;
  for (size_t i = 0; i < c->num_kps && k == NULL; i++) {
    for (size_t j = 0; j < wm.welcome.num_secrets; j++) {
      const mls_bytes *nm = &wm.welcome.secrets[j].new_member;
      if (nm->len == c->kps[i]->ref_len &&
          memcmp(nm->data, c->kps[i]->ref, nm->len) == 0) {
        k = c->kps[i];
        which = i;
        break;
      }
    }
  }
  if (k == NULL) {
    rc = fail(r, MG_ERR_WELCOME, "no KeyPackage of this client in the Welcome");
    goto out;
  }
  mls_join_params jp;
  memset(&jp, 0, sizeof(jp));
  jp.welcome = &wm.welcome;
  jp.key_package = &k->kp;
  jp.init_priv = k->priv.init_key.priv;
  jp.init_priv_len = c->suite->kem->priv_len;
  jp.enc_priv = k->priv.encryption_key.priv;
  jp.enc_priv_len = c->suite->kem->priv_len;
  jp.sig_priv = k->priv.sig_priv;
  jp.sig_priv_len = k->priv.sig_priv_len;
  jp.ratchet_tree = has_tree ? tree : NULL;
  jp.ratchet_tree_len = has_tree ? tree_len : 0;
  jp.psk_lookup = psk_lookup;
  jp.psk_arg = c;
  jp.now = (uint64_t)time(NULL);
  rc = mls_group_join(&g, c->suite, &jp);
  if (rc < 0) {
    r->why = "mls_group_join";
    goto out;
  }
  const mls_group_context *ctx = mls_group_get0_context(g);
  if ((rc = set_hex(resp, "group_id", ctx->group_id.data,
                    ctx->group_id.len)) < 0 ||
      (rc = set_int(resp, "epoch", (json_int_t)mls_group_epoch(g))) < 0 ||
      (rc = set_int(resp, "my_leaf", mls_group_self(g).v)) < 0) {
    goto out;
  }
  /* The KeyPackage is used up (RFC 9420 §16.8). */
  kp_free(c->kps[which]);
  memmove(&c->kps[which], &c->kps[which + 1],
          (c->num_kps - which - 1) * sizeof(c->kps[0]));
  c->num_kps--;
  set_group(c, g);
  g = NULL;
out:
  mls_group_free(g);
  free(tree);
  mls_message_cleanup(&wm);
  return rc;
}

/* Commits |props| (and, with |by_reference|, every stored proposal) and
 * moves the client to the new epoch.  The response has welcome and
 * ratchet_tree when the Commit adds members. */
static int do_commit(drv_client *c, drv_req *r, json_t *resp,
                     const drv_props *props, int by_reference, int encrypt,
                     int tree_in_welcome) {
  mls_commit_result cr;
  memset(&cr, 0, sizeof(cr));
  mls_commit_params p;
  memset(&p, 0, sizeof(p));
  p.adds = props->adds;
  p.num_adds = props->num_adds;
  p.removes = props->removes;
  p.num_removes = props->num_removes;
  p.psks = props->psks;
  p.num_psks = props->num_psks;
  p.include_pending = by_reference;
  p.encrypt = encrypt;
  p.ratchet_tree_in_welcome = tree_in_welcome;
  p.psk_lookup = psk_lookup;
  p.psk_arg = c;
  p.now = (uint64_t)time(NULL);
  int rc = mls_group_commit(c->group, &p, &cr);
  if (rc < 0) {
    r->why = "mls_group_commit";
    return rc;
  }
  if ((rc = set_hex(resp, "commit", cr.commit.data, cr.commit.len)) < 0 ||
      (rc = set_int(resp, "epoch", (json_int_t)mls_group_epoch(cr.next))) < 0) {
    goto out;
  }
  if (cr.num_added > 0) {
    if ((rc = set_hex(resp, "welcome", cr.welcome.data, cr.welcome.len)) < 0 ||
        (rc = set_hex(resp, "ratchet_tree", cr.ratchet_tree.data,
                      cr.ratchet_tree.len)) < 0) {
      goto out;
    }
  }
  /* We are our own delivery service: the Commit is accepted. */
  mls_group_free(c->group);
  c->group = cr.next;
  cr.next = NULL;
out:
  mls_commit_result_cleanup(&cr);
  return rc;
}

static int cmd_add(drv *d, drv_req *r, json_t *resp) {
  drv_client *c = NULL;
  drv_props props;
  int tree_in_welcome = 1, pub = 0;
  memset(&props, 0, sizeof(props));
  int rc = group_of(d, r, &c);
  if (rc < 0) {
    return rc;
  }
  if ((rc = arg_bool(r, "ratchet_tree_ext", 1, &tree_in_welcome)) < 0 ||
      (rc = arg_bool(r, "public", 0, &pub)) < 0) {
    return rc;
  }
  const json_t *list = json_object_get(r->o, "key_packages");
  if (!json_is_array(list) || json_array_size(list) == 0) {
    return fail(r, MG_ERR_INVALID_ARG, "key_packages");
  }
  if ((rc = props_init(&props, json_array_size(list))) < 0) {
    return rc;
  }
  for (size_t i = 0; i < json_array_size(list); i++) {
    rc = key_package_of(r, json_array_get(list, i), "key_packages",
                        &props.adds[props.num_adds]);
    if (rc < 0) {
      goto out;
    }
    props.num_adds++;
  }
  rc = do_commit(c, r, resp, &props, 0, !pub, tree_in_welcome);
out:
  props_cleanup(&props);
  return rc;
}

static int cmd_commit(drv *d, drv_req *r, json_t *resp) {
  drv_client *c = NULL;
  drv_props props;
  int by_ref = 0, pub = 0;
  memset(&props, 0, sizeof(props));
  int rc = group_of(d, r, &c);
  if (rc < 0) {
    return rc;
  }
  if ((rc = arg_bool(r, "by_reference", 0, &by_ref)) < 0 ||
      (rc = arg_bool(r, "public", 0, &pub)) < 0) {
    return rc;
  }
  const json_t *list = json_object_get(r->o, "proposals");
  if (list != NULL && !json_is_null(list) && !json_is_array(list)) {
    return fail(r, MG_ERR_INVALID_ARG, "proposals");
  }
  if ((rc = props_init(&props, json_array_size(list))) < 0) {
    return rc;
  }
  for (size_t i = 0; i < json_array_size(list); i++) {
    rc = props_add(r, &props, json_array_get(list, i));
    if (rc < 0) {
      goto out;
    }
  }
  rc = do_commit(c, r, resp, &props, by_ref, !pub, 1);
out:
  props_cleanup(&props);
  return rc;
}

static int cmd_propose(drv *d, drv_req *r, json_t *resp) {
  drv_client *c = NULL;
  drv_props props;
  mls_proposal prop;
  mls_bytes msg;
  int pub = 0;
  memset(&props, 0, sizeof(props));
  memset(&prop, 0, sizeof(prop));
  memset(&msg, 0, sizeof(msg));
  int rc = group_of(d, r, &c);
  if (rc < 0) {
    return rc;
  }
  if ((rc = arg_bool(r, "public", 0, &pub)) < 0 ||
      (rc = props_init(&props, 1)) < 0) {
    return rc;
  }
  rc = props_add(r, &props, json_object_get(r->o, "proposal"));
  if (rc < 0) {
    goto out;
  }
  /* Borrow the one proposal props_add made; props_cleanup frees it. */
  if (props.num_adds == 1) {
    prop.proposal_type = MLS_PROPOSAL_ADD;
    prop.add.key_package = props.adds[0];
  } else if (props.num_removes == 1) {
    prop.proposal_type = MLS_PROPOSAL_REMOVE;
    prop.remove.removed = props.removes[0];
  } else {
    prop.proposal_type = MLS_PROPOSAL_PSK;
    prop.psk.psk = props.psks[0];
  }
  rc = mls_group_propose(c->group, &prop, !pub, (uint64_t)time(NULL), &msg);
  if (rc < 0) {
    r->why = "mls_group_propose";
    goto out;
  }
  if ((rc = set_hex(resp, "message", msg.data, msg.len)) < 0 ||
      (rc = set_int(resp, "epoch", (json_int_t)mls_group_epoch(c->group))) <
          0) {
    goto out;
  }
out:
  mls_bytes_cleanup(&msg);
  props_cleanup(&props);
  return rc;
}

/* Fills the response of a processed application message. */
static int application_fields(json_t *resp, const mls_processed *pr) {
  int rc;
  if ((rc = set_hex(resp, "data", pr->application_data.data,
                    pr->application_data.len)) < 0 ||
      (rc = set_int(resp, "sender_leaf", pr->sender.leaf_index)) < 0 ||
      (rc = set_int(resp, "generation", pr->generation)) < 0 ||
      (rc = set_int(resp, "epoch", (json_int_t)pr->epoch)) < 0 ||
      (rc = set_hex(resp, "authenticated_data", pr->authenticated_data.data,
                    pr->authenticated_data.len)) < 0) {
    return rc;
  }
  return 0;
}

/* process and unprotect (|app_only|). */
static int process(drv *d, drv_req *r, json_t *resp, int app_only) {
  drv_client *c = NULL;
  mls_processed pr;
  uint8_t *msg = NULL;
  size_t len = 0;
  memset(&pr, 0, sizeof(pr));
  int rc = group_of(d, r, &c);
  if (rc < 0) {
    return rc;
  }
  rc = arg_hex(r, "message", &msg, &len);
  if (rc < 0) {
    return rc;
  }
  if (app_only) {
    /* Look at the outer framing before the engine may act on a
     * handshake message. */
    mls_message m;
    memset(&m, 0, sizeof(m));
    rc = mls_message_decode_bytes(msg, len, &m);
    if (rc >= 0 && m.wire_format != MLS_WIRE_PRIVATE_MESSAGE) {
      rc = fail(r, MG_ERR_WIRE_FORMAT, "not a PrivateMessage");
    } else if (rc >= 0 &&
               m.private_message.content_type != MLS_CONTENT_APPLICATION) {
      rc = fail(r, MG_ERR_CONTENT_TYPE, "not an application message");
    }
    mls_message_cleanup(&m);
    if (rc < 0) {
      goto out;
    }
  }
  mls_process_params pp;
  memset(&pp, 0, sizeof(pp));
  pp.psk_lookup = psk_lookup;
  pp.psk_arg = c;
  pp.now = (uint64_t)time(NULL);
  uint64_t epoch = mls_group_epoch(c->group);
  rc = mls_group_process(c->group, msg, len, &pp, &pr);
  if (rc < 0) {
    r->why = "mls_group_process";
    goto out;
  }
  switch (pr.content_type) {
  case MLS_CONTENT_APPLICATION:
    if (!app_only) {
      rc = set_new(resp, "kind", json_string("application"));
      if (rc < 0) {
        goto out;
      }
    }
    rc = application_fields(resp, &pr);
    break;
  case MLS_CONTENT_PROPOSAL:
    if ((rc = set_new(resp, "kind", json_string("proposal"))) < 0 ||
        (rc = set_int(resp, "epoch", (json_int_t)epoch)) < 0) {
      goto out;
    }
    break;
  case MLS_CONTENT_COMMIT:
    if (pr.removed) {
      if ((rc = set_new(resp, "kind", json_string("removed"))) < 0 ||
          (rc = set_int(resp, "epoch", (json_int_t)epoch)) < 0) {
        goto out;
      }
      c->removed = 1;
    } else {
      if (pr.next == NULL) {
        rc = fail(r, MG_ERR_INTERNAL, "commit without a next state");
        goto out;
      }
      if ((rc = set_new(resp, "kind", json_string("commit"))) < 0 ||
          (rc = set_int(resp, "epoch", (json_int_t)mls_group_epoch(pr.next))) <
              0) {
        goto out;
      }
      mls_group_free(c->group);
      c->group = pr.next;
      pr.next = NULL;
    }
    break;
  default:
    rc = fail(r, MG_ERR_INTERNAL, "unknown content type");
    break;
  }
out:
  mls_processed_cleanup(&pr);
  free(msg);
  return rc;
}

static int cmd_process(drv *d, drv_req *r, json_t *resp) {
  return process(d, r, resp, 0);
}

static int cmd_unprotect(drv *d, drv_req *r, json_t *resp) {
  return process(d, r, resp, 1);
}

static int cmd_protect(drv *d, drv_req *r, json_t *resp) {
  drv_client *c = NULL;
  uint8_t *data = NULL, *aad = NULL;
  size_t data_len = 0, aad_len = 0;
  int has_aad = 0;
  mls_bytes msg;
  memset(&msg, 0, sizeof(msg));
  int rc = group_of(d, r, &c);
  if (rc < 0) {
    return rc;
  }
  if ((rc = arg_hex(r, "data", &data, &data_len)) < 0 ||
      (rc = arg_hex_opt(r, "authenticated_data", &aad, &aad_len, &has_aad)) <
          0) {
    goto out;
  }
  uint64_t epoch = mls_group_epoch(c->group);
  rc = mls_group_protect(c->group, data, data_len, aad, aad_len, 0, &msg,
                         NULL);
  if (rc < 0) {
    r->why = "mls_group_protect";
    goto out;
  }
  if ((rc = set_hex(resp, "message", msg.data, msg.len)) < 0 ||
      (rc = set_int(resp, "epoch", (json_int_t)epoch)) < 0) {
    goto out;
  }
out:
  mls_bytes_cleanup(&msg);
  if (data != NULL) {
    mg_free_secret(data, data_len);
  }
  free(aad);
  return rc;
}

static int cmd_epoch_authenticator(drv *d, drv_req *r, json_t *resp) {
  drv_client *c = NULL;
  uint8_t ea[MG_MAX_HASH_LEN];
  size_t ea_len = 0;
  int rc = group_of(d, r, &c);
  if (rc < 0) {
    return rc;
  }
  rc = mls_group_epoch_authenticator(c->group, ea, sizeof(ea), &ea_len);
  if (rc < 0) {
    return rc;
  }
  if ((rc = set_int(resp, "epoch", (json_int_t)mls_group_epoch(c->group))) <
          0 ||
      (rc = set_hex(resp, "value", ea, ea_len)) < 0) {
    return rc;
  }
  return 0;
}

static int cmd_export_secret(drv *d, drv_req *r, json_t *resp) {
  drv_client *c = NULL;
  uint8_t *context = NULL, *v = NULL;
  size_t context_len = 0;
  json_int_t len = 0;
  int has_context = 0;
  int rc = group_of(d, r, &c);
  if (rc < 0) {
    return rc;
  }
  const char *label = json_string_value(json_object_get(r->o, "label"));
  if (label == NULL) {
    return fail(r, MG_ERR_INVALID_ARG, "label");
  }
  if ((rc = arg_int(r, "length", 0, DRV_MAX_EXPORT_LEN, &len)) < 0 ||
      (rc = arg_hex_opt(r, "context", &context, &context_len, &has_context)) <
          0) {
    return rc;
  }
  v = malloc((size_t)len + 1);
  if (v == NULL) {
    rc = MG_ERR_NOMEM;
    goto out;
  }
  rc = mls_group_export(c->group, v, (size_t)len, label, context, context_len);
  if (rc < 0) {
    r->why = "mls_group_export";
    goto out;
  }
  rc = set_hex(resp, "value", v, (size_t)len);
out:
  if (v != NULL) {
    mg_free_secret(v, (size_t)len + 1);
  }
  free(context);
  return rc;
}

static int cmd_members(drv *d, drv_req *r, json_t *resp) {
  drv_client *c = NULL;
  int rc = group_of(d, r, &c);
  if (rc < 0) {
    return rc;
  }
  json_t *list = json_array();
  if (list == NULL) {
    return MG_ERR_NOMEM;
  }
  for (uint32_t i = 0; i < mls_group_width(c->group); i++) {
    const mls_leaf_node *ln = mls_group_member(c->group, i);
    if (ln == NULL) {
      continue;
    }
    json_t *m = json_object();
    if (m == NULL || json_array_append_new(list, m) < 0) {
      json_decref(list);
      return MG_ERR_NOMEM;
    }
    if ((rc = set_int(m, "leaf", i)) < 0 ||
        (rc = set_hex(m, "identity", ln->credential.identity.data,
                      ln->credential.identity.len)) < 0 ||
        (rc = set_hex(m, "signature_key", ln->signature_key.data,
                      ln->signature_key.len)) < 0) {
      json_decref(list);
      return rc;
    }
  }
  return set_new(resp, "members", list);
}

static int cmd_register_psk(drv *d, drv_req *r, json_t *resp) {
  drv_client *c = NULL;
  uint8_t *id = NULL, *secret = NULL;
  size_t id_len = 0, secret_len = 0;
  drv_psk *np = NULL;
  (void)resp;
  int rc = client_of(d, r, &c);
  if (rc < 0) {
    return rc;
  }
  if ((rc = arg_hex(r, "psk_id", &id, &id_len)) < 0 ||
      (rc = arg_hex(r, "secret", &secret, &secret_len)) < 0) {
    goto out;
  }
  mls_bytes idb = {id, id_len};
  for (size_t i = 0; i < c->num_psks; i++) {
    if (mls_bytes_eq(&c->psks[i].id, &idb)) {
      /* A new secret for a known id replaces the old one. */
      mls_bytes nb;
      memset(&nb, 0, sizeof(nb));
      if ((rc = mls_bytes_dup(&nb, secret, secret_len)) < 0) {
        goto out;
      }
      mls_bytes_cleanup_secret(&c->psks[i].secret);
      c->psks[i].secret = nb;
      goto out;
    }
  }
  np = calloc(c->num_psks + 1, sizeof(*np));
  if (np == NULL) {
    rc = MG_ERR_NOMEM;
    goto out;
  }
  if ((rc = mls_bytes_dup(&np[c->num_psks].id, id, id_len)) < 0 ||
      (rc = mls_bytes_dup(&np[c->num_psks].secret, secret, secret_len)) < 0) {
    mls_bytes_cleanup(&np[c->num_psks].id);
    mls_bytes_cleanup_secret(&np[c->num_psks].secret);
    goto out;
  }
  if (c->num_psks > 0) {
    memcpy(np, c->psks, c->num_psks * sizeof(*np));
    /* The old array held secret pointers, not secrets: no wipe needed. */
  }
  free(c->psks);
  c->psks = np;
  np = NULL;
  c->num_psks++;
out:
  free(np);
  free(id);
  if (secret != NULL) {
    mg_free_secret(secret, secret_len);
  }
  return rc;
}

typedef struct drv_cmd {
  const char *name;
  drv_cmd_fn fn;
} drv_cmd;

static const drv_cmd commands[] = {
    {"create_key_package", cmd_create_key_package},
    {"create_group", cmd_create_group},
    {"join", cmd_join},
    {"add", cmd_add},
    {"commit", cmd_commit},
    {"propose", cmd_propose},
    {"process", cmd_process},
    {"unprotect", cmd_unprotect},
    {"protect", cmd_protect},
    {"epoch_authenticator", cmd_epoch_authenticator},
    {"export_secret", cmd_export_secret},
    {"members", cmd_members},
    {"register_psk", cmd_register_psk},
};

/* ------------------------------------------------ main loop */

/* Writes |resp| as one line and flushes.  Returns -1 when stdout is
 * gone. */
static int emit(json_t *resp) {
  char *s = json_dumps(resp, JSON_COMPACT);
  if (s == NULL) {
    fprintf(stderr, "interop_driver: out of memory for a response\n");
    return -1;
  }
  int ok = fputs(s, stdout) >= 0 && putchar('\n') != EOF && fflush(stdout) == 0;
  free(s);
  return ok ? 0 : -1;
}

/* Writes the error response {"id", "ok": false, "error": rc, "msg"}, msg
 * being "cmd: mg_strerror(rc): detail" (parts that are NULL left out). */
static int emit_error(json_t *id, int rc, const char *cmd, const char *why) {
  char msg[512];
  snprintf(msg, sizeof(msg), "%s%s%s%s%s", cmd != NULL ? cmd : "",
           cmd != NULL ? ": " : "", mg_strerror(rc), why != NULL ? ": " : "",
           why != NULL ? why : "");
  json_t *resp = json_pack("{sOsbsiss}", "id", id != NULL ? id : json_null(),
                           "ok", 0, "error", rc, "msg", msg);
  if (resp == NULL) {
    fprintf(stderr, "interop_driver: out of memory for a response\n");
    return -1;
  }
  int e = emit(resp);
  json_decref(resp);
  return e;
}

/* Handles one request line.  Sets |*quit| for the quit command.  Returns
 * -1 when stdout is gone. */
static int handle(drv *d, const char *line, size_t len, int *quit) {
  json_error_t jerr;
  json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
  if (req == NULL || !json_is_object(req)) {
    json_decref(req);
    return emit_error(NULL, MG_ERR_DECODE, NULL, "request is not a JSON object");
  }
  json_t *id = json_object_get(req, "id");
  if (!json_is_integer(id)) {
    id = NULL;
  }
  const char *cmd = json_string_value(json_object_get(req, "cmd"));
  int e;
  if (cmd != NULL && strcmp(cmd, "quit") == 0) {
    *quit = 1;
    json_t *resp = json_pack("{sOsb}", "id", id != NULL ? id : json_null(),
                             "ok", 1);
    e = resp != NULL ? emit(resp) : -1;
    json_decref(resp);
    json_decref(req);
    return e;
  }
  const drv_cmd *dc = NULL;
  for (size_t i = 0; cmd != NULL && i < sizeof(commands) / sizeof(commands[0]);
       i++) {
    if (strcmp(commands[i].name, cmd) == 0) {
      dc = &commands[i];
    }
  }
  if (dc == NULL) {
    e = emit_error(id, MG_ERR_INVALID_ARG, cmd, "unknown cmd");
    json_decref(req);
    return e;
  }
  drv_req r = {req, NULL};
  json_t *resp = json_pack("{sOsb}", "id", id != NULL ? id : json_null(),
                           "ok", 1);
  int rc = resp != NULL ? dc->fn(d, &r, resp) : MG_ERR_NOMEM;
  if (rc < 0) {
    e = emit_error(id, rc, cmd, r.why);
  } else {
    e = emit(resp);
  }
  json_decref(resp);
  json_decref(req);
  return e;
}

int main(void) {
  drv d;
  memset(&d, 0, sizeof(d));
  if (mg_secmem_disable_dump_for_process() < 0) {
    fprintf(stderr, "interop_driver: cannot disable core dumps\n");
  }
  int rc = mg_crypto_init();
  if (rc < 0) {
    fprintf(stderr, "interop_driver: crypto initialization failed: %s\n",
            mg_strerror(rc));
    return 1;
  }
  char *line = malloc(DRV_MAX_LINE + 1);
  if (line == NULL) {
    fprintf(stderr, "interop_driver: out of memory\n");
    return 1;
  }
  int quit = 0, status = 0;
  while (!quit) {
    size_t len = 0;
    int ch = 0, too_long = 0;
    while ((ch = getchar()) != EOF && ch != '\n') {
      if (len < DRV_MAX_LINE) {
        line[len++] = (char)ch;
      } else {
        too_long = 1; /* read on to the newline, keep nothing */
      }
    }
    if (ch == EOF && len == 0 && !too_long) {
      break;
    }
    if (too_long) {
      if (emit_error(NULL, MG_ERR_LENGTH, NULL, "request line over 1 MiB") <
          0) {
        status = 1;
        break;
      }
      continue;
    }
    if (len > 0 && line[len - 1] == '\r') {
      len--;
    }
    size_t k = 0;
    while (k < len && (line[k] == ' ' || line[k] == '\t')) {
      k++;
    }
    if (k == len) {
      continue; /* blank line */
    }
    if (handle(&d, line, len, &quit) < 0) {
      status = 1;
      break;
    }
    if (ch == EOF) {
      break;
    }
  }
  mg_free_secret(line, DRV_MAX_LINE + 1); /* requests carry PSKs */
  drv_cleanup(&d);
  return status;
}
