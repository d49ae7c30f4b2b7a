/*
 * /v1/identities: enterprise signing identities, their key versions and
 * KeyPackage pools (docs/api.md).  Every change goes through the
 * keystore, which audits it (failures too).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "common/hex.h"
#include "crypto/suite.h"

static json_t *identity_json(const mg_ks_identity *id) {
  json_t *keys = json_array(), *j;
  const uint8_t *active = NULL;
  size_t i;
  if (keys == NULL) {
    return NULL;
  }
  for (i = 0; i < id->num_keys; i++) {
    const mg_ks_key_info *k = &id->keys[i];
    if (k->version == id->active_version) {
      active = k->key_id;
    }
    if (json_array_append_new(
            keys, json_pack("{s:I, s:o, s:s, s:I, s:I, s:o}", "version",
                            (json_int_t)k->version, "key_id",
                            api_hex(k->key_id, MG_KS_KEY_ID_LEN), "state",
                            mg_ks_key_state_name(k->state), "created_at",
                            (json_int_t)k->created_at, "not_after",
                            (json_int_t)k->not_after, "public_key",
                            api_b64(k->pub, k->pub_len))) < 0) {
      json_decref(keys);
      return NULL;
    }
  }
  j = json_pack("{s:s, s:i, s:I, s:I, s:o, s:o}", "name", id->name,
                "cipher_suite", (int)id->cipher_suite, "rotate_every",
                (json_int_t)id->rotate_every, "created_at",
                (json_int_t)id->created_at, "active_key_id",
                active != NULL ? api_hex(active, MG_KS_KEY_ID_LEN)
                               : json_null(),
                "keys", keys);
  return j;
}

static int name_param(api_call *c) {
  if (!mg_ks_name_valid(c->params[0])) {
    api_problem(c, 404, "not_found", "no such identity");
    return -1;
  }
  return 0;
}

static void answer_identity(api_call *c, int status) {
  mg_ks_identity id;
  int rc;
  memset(&id, 0, sizeof(id));
  rc = mg_ks_identity_get(c->api->ks, c->params[0], &id);
  if (rc < 0) {
    api_error(c, rc, "identity");
    return;
  }
  api_json(c, status, identity_json(&id));
  mg_ks_identity_cleanup(&id);
}

static void create_answer(api_call *c, const void *result) {
  api_json(c, 201, identity_json(result));
}

void api_h_identity_create(api_call *c) {
  api_idem_hook ih;
  const char *name = NULL;
  uint64_t suite = 0, rotate_every = 0;
  mg_ks_identity id;
  int rc;
  if (api_body_object(c) < 0 || api_get_string(c, "name", 1, &name) < 0 ||
      api_get_uint(c, "cipher_suite", 1, 0xffff, &suite) < 0 ||
      api_get_uint(c, "rotate_every", 0, (uint64_t)10 * 365 * 86400,
                   &rotate_every) < 0) {
    return;
  }
  if (!mg_ks_name_valid(name)) {
    api_problem(c, 400, "invalid_argument",
                "name must be 1 to 64 characters of [A-Za-z0-9._-]");
    return;
  }
  if (mls_suite_by_id((uint16_t)suite) == NULL) {
    api_problem(c, 400, "invalid_argument",
                "cipher_suite must be one of the seven MLS suites (1..7)");
    return;
  }
  memset(&id, 0, sizeof(id));
  /* Under an Idempotency-Key the answer is stored in the creation's own
   * transaction (mg_ks_hook). */
  rc = mg_ks_identity_create_h(c->api->ks, &c->ctx, name, (uint16_t)suite,
                               rotate_every, &id,
                               api_idem_hook_init(&ih, c, create_answer));
  if (rc < 0) {
    c->idem_stored = 0;
    api_error(c, rc, "identity create");
    return;
  }
  if (!c->idem_stored) {
    create_answer(c, &id);
  }
  mg_ks_identity_cleanup(&id);
}

static int list_one(void *arg, const mg_ks_identity *id) {
  json_t *arr = arg;
  return json_array_append_new(arr, identity_json(id)) < 0 ? MG_ERR_NOMEM : 0;
}

void api_h_identity_list(api_call *c) {
  json_t *arr = json_array();
  int rc;
  if (arr == NULL) {
    api_problem(c, 503, "overloaded", "out of memory");
    return;
  }
  rc = mg_ks_identity_list(c->api->ks, list_one, arr);
  if (rc < 0) {
    json_decref(arr);
    api_error(c, rc, "identity list");
    return;
  }
  api_json(c, 200, json_pack("{s:o}", "identities", arr));
}

void api_h_identity_get(api_call *c) {
  if (name_param(c) < 0) {
    return;
  }
  answer_identity(c, 200);
}

void api_h_identity_rotate(api_call *c) {
  int rc;
  if (name_param(c) < 0 || api_body_object(c) < 0) {
    return;
  }
  rc = mg_ks_identity_rotate(c->api->ks, &c->ctx, c->params[0], NULL);
  if (rc < 0) {
    api_error(c, rc, "identity rotate");
    return;
  }
  answer_identity(c, 200);
}

void api_h_key_revoke(api_call *c) {
  uint8_t *kid = NULL;
  size_t kid_len = 0;
  int rc;
  if (name_param(c) < 0 || api_body_object(c) < 0) {
    return;
  }
  if (strlen(c->params[1]) != 2 * MG_KS_KEY_ID_LEN ||
      mg_hex_decode(&kid, &kid_len, c->params[1], strlen(c->params[1])) < 0 ||
      kid_len != MG_KS_KEY_ID_LEN) {
    free(kid);
    api_problem(c, 404, "not_found", "no such key (key IDs are 32 hex digits)");
    return;
  }
  rc = mg_ks_identity_revoke(c->api->ks, &c->ctx, c->params[0], kid);
  free(kid);
  if (rc < 0) {
    api_error(c, rc, "key revoke");
    return;
  }
  answer_identity(c, 200);
}

static int kp_one(void *arg, const uint8_t *ref, size_t ref_len,
                  const uint8_t *kp, size_t kp_len) {
  json_t *arr = arg;
  return json_array_append_new(arr, json_pack("{s:o, s:o}", "ref",
                                              api_b64(ref, ref_len),
                                              "key_package",
                                              api_b64(kp, kp_len))) < 0
             ? MG_ERR_NOMEM
             : 0;
}

static void kp_answer(api_call *c, const void *result) {
  const mg_ks_kp_made_list *l = result;
  json_t *arr = json_array();
  for (size_t i = 0; arr != NULL && i < l->n; i++) {
    if (kp_one(arr, l->items[i].ref, l->items[i].ref_len, l->items[i].kp,
               l->items[i].kp_len) < 0) {
      json_decref(arr);
      arr = NULL;
    }
  }
  if (arr == NULL) {
    api_problem(c, 503, "overloaded", "out of memory");
    return;
  }
  api_json(c, 201, json_pack("{s:o}", "key_packages", arr));
}

void api_h_kp_generate(api_call *c) {
  api_idem_hook ih;
  uint64_t count = 0;
  int last_resort = 0, rc;
  json_t *arr;
  if (name_param(c) < 0 || api_body_object(c) < 0 ||
      api_get_uint(c, "count", 1, MG_KS_KP_MAX_BATCH, &count) < 0 ||
      api_get_bool(c, "last_resort", &last_resort) < 0) {
    return;
  }
  if (count == 0) {
    api_problem(c, 400, "invalid_argument", "count must be 1 to 10000");
    return;
  }
  arr = json_array();
  if (arr == NULL) {
    api_problem(c, 503, "overloaded", "out of memory");
    return;
  }
  /* Under an Idempotency-Key the answer is stored in the generation's own
   * transaction (mg_ks_hook); otherwise |fn| collects it after. */
  const mg_ks_hook *h = api_idem_hook_init(&ih, c, kp_answer);
  rc = mg_ks_kp_generate_h(c->api->ks, &c->ctx, c->params[0],
                           (uint32_t)count, last_resort,
                           h != NULL ? NULL : kp_one, arr, h);
  if (rc < 0) {
    c->idem_stored = 0;
    json_decref(arr);
    api_error(c, rc, "key-package generate");
    return;
  }
  if (c->idem_stored) {
    json_decref(arr); /* c->resp holds the answer */
    return;
  }
  api_json(c, 201, json_pack("{s:o}", "key_packages", arr));
}

void api_h_kp_stats(api_call *c) {
  mg_ks_kp_counts k;
  int rc;
  if (name_param(c) < 0) {
    return;
  }
  rc = mg_ks_kp_stats(c->api->ks, c->params[0], c->ctx.now, &k);
  if (rc < 0) {
    api_error(c, rc, "key-package stats");
    return;
  }
  api_json(c, 200, json_pack("{s:I, s:I, s:I}", "unused", (json_int_t)k.unused,
                             "valid", (json_int_t)k.valid, "last_resort",
                             (json_int_t)k.last_resort));
}
