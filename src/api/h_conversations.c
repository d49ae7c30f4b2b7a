/*
 * /v1/conversations: one-to-one conversations with recipients' devices,
 * each operation one transaction of the session layer (session.h), which
 * audits it.  Plaintext is wiped from every buffer this file owns.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "common/base64.h"
#include "common/guard.h"
#include "common/secmem.h"
#include "mls/constants.h"

static void bytes_free(mls_bytes *b, int secret) {
  if (b->data != NULL) {
    if (secret) {
      mg_memzero(b->data, b->len);
    }
    free(b->data);
  }
  b->data = NULL;
  b->len = 0;
}

static int conv_param(api_call *c) {
  if (!mg_ks_conv_id_valid(c->params[0])) {
    api_problem(c, 404, "not_found", "no such conversation");
    return -1;
  }
  return 0;
}

static void open_answer(api_call *c, const void *result) {
  const mg_conv_opened *o = result;
  api_json(c, 201,
           json_pack("{s:s, s:i, s:I, s:o, s:o}", "conversation_id",
                     o->conversation_id, "cipher_suite", (int)o->cipher_suite,
                     "epoch", (json_int_t)o->epoch, "welcome",
                     api_b64(o->welcome.data, o->welcome.len), "ratchet_tree",
                     api_b64(o->ratchet_tree.data, o->ratchet_tree.len)));
}

static void join_answer(api_call *c, const void *result) {
  const mg_conv_opened *o = result;
  api_json(c, 201, json_pack("{s:s, s:i, s:I}", "conversation_id",
                             o->conversation_id, "cipher_suite",
                             (int)o->cipher_suite, "epoch",
                             (json_int_t)o->epoch));
}

static void commit_answer(api_call *c, const void *result) {
  const mg_committed *m = result;
  api_json(c, 200, json_pack("{s:o, s:I, s:o}", "commit",
                             api_b64(m->commit.data, m->commit.len), "epoch",
                             (json_int_t)m->epoch, "signature_key_id",
                             api_hex(m->signature_key_id, MG_KS_KEY_ID_LEN)));
}

/* Open, join and commit answer under an Idempotency-Key in their own
 * transaction (api_idem_hook): a crash cannot separate the operation from
 * its stored answer, so a retry after it replays the answer. */
void api_h_conv_open(api_call *c) {
  api_idem_hook ih;
  const char *identity = NULL, *conv_id = NULL;
  mls_bytes kp = {NULL, 0};
  mg_conv_opened o;
  int rc;
  if (api_body_object(c) < 0 ||
      api_get_string(c, "identity", 1, &identity) < 0 ||
      api_get_string(c, "conversation_id", 0, &conv_id) < 0 ||
      api_get_b64(c, "peer_key_package", 1, 0, &kp) < 0) {
    return;
  }
  if (!mg_ks_name_valid(identity)) {
    bytes_free(&kp, 0);
    api_problem(c, 404, "not_found", "no such identity");
    return;
  }
  if (conv_id != NULL && !mg_ks_conv_id_valid(conv_id)) {
    bytes_free(&kp, 0);
    api_problem(c, 400, "invalid_argument",
                "conversation_id must be 1 to 128 characters of "
                "[A-Za-z0-9._:-]");
    return;
  }
  memset(&o, 0, sizeof(o));
  rc = mg_session_open_conversation_h(c->api->sess, &c->ctx, identity,
                                      kp.data, kp.len, conv_id, &o,
                                      api_idem_hook_init(&ih, c, open_answer));
  bytes_free(&kp, 0);
  if (rc < 0) {
    c->idem_stored = 0;
    api_error(c, rc, "open conversation");
    return;
  }
  if (!c->idem_stored) {
    open_answer(c, &o);
  }
  mg_conv_opened_cleanup(&o);
}

void api_h_conv_join(api_call *c) {
  api_idem_hook ih;
  const char *identity = NULL;
  mls_bytes welcome = {NULL, 0}, tree = {NULL, 0};
  mg_conv_opened o;
  int rc;
  if (api_body_object(c) < 0 ||
      api_get_string(c, "identity", 1, &identity) < 0 ||
      api_get_b64(c, "welcome", 1, 0, &welcome) < 0) {
    return;
  }
  if (api_get_b64(c, "ratchet_tree", 0, 0, &tree) < 0) {
    bytes_free(&welcome, 0);
    return;
  }
  if (!mg_ks_name_valid(identity)) {
    bytes_free(&welcome, 0);
    bytes_free(&tree, 0);
    api_problem(c, 404, "not_found", "no such identity");
    return;
  }
  memset(&o, 0, sizeof(o));
  rc = mg_session_join_h(c->api->sess, &c->ctx, identity, welcome.data,
                         welcome.len, tree.len > 0 ? tree.data : NULL,
                         tree.len, &o, api_idem_hook_init(&ih, c, join_answer));
  bytes_free(&welcome, 0);
  bytes_free(&tree, 0);
  if (rc < 0) {
    c->idem_stored = 0;
    api_error(c, rc, "join");
    return;
  }
  if (!c->idem_stored) {
    join_answer(c, &o);
  }
  mg_conv_opened_cleanup(&o);
}

void api_h_conv_get(api_call *c) {
  mg_conv_info info;
  json_t *members;
  size_t i;
  int rc;
  if (conv_param(c) < 0) {
    return;
  }
  memset(&info, 0, sizeof(info));
  rc = mg_session_info(c->api->sess, c->params[0], &info);
  if (rc < 0) {
    api_error(c, rc, "conversation");
    return;
  }
  members = json_array();
  for (i = 0; members != NULL && i < info.num_members; i++) {
    const mg_conv_member *m = &info.members[i];
    json_array_append_new(
        members,
        json_pack("{s:I, s:o, s:o}", "leaf_index", (json_int_t)m->leaf_index,
                  "credential", api_b64(m->credential.data, m->credential.len),
                  "signature_key_id",
                  api_hex(m->signature_key_id, MG_KS_KEY_ID_LEN)));
  }
  api_json(c, 200,
           members == NULL
               ? NULL
               : json_pack("{s:s, s:s, s:i, s:I, s:I, s:o, s:o}",
                           "conversation_id", info.conversation_id,
                           "identity", info.identity, "cipher_suite",
                           (int)info.cipher_suite, "epoch",
                           (json_int_t)info.epoch, "self_leaf",
                           (json_int_t)info.self_leaf, "members", members,
                           "epoch_authenticator",
                           api_b64(info.epoch_authenticator,
                                   info.epoch_authenticator_len)));
  mg_conv_info_cleanup(&info);
}

/* An encrypt answered once its audit entry is durable, without holding
 * the worker meanwhile (mg_session_encrypt_async): the answer is written
 * while the entry waits for its group commit, and sent when it is in. */
typedef struct encrypt_call {
  api_call c; /* a copy of the handler's: it outlives the handler */
  mg_http_deferred *d;
  mg_encrypted e;
} encrypt_call;

/* encrypt_answer writes the answer of an encrypt into c->resp. */
static int encrypt_answer(api_call *c, const mg_encrypted *e) {
  api_out o;
  if (api_out_init(&o, MG_BASE64_ENCODED_LEN(e->message.len) + 256) < 0) {
    return MG_ERR_NOMEM;
  }
  api_out_str(&o, "{\"message\":\"");
  api_out_b64(&o, e->message.data, e->message.len, 0);
  api_out_str(&o, "\",\"epoch\":");
  api_out_u64(&o, e->epoch);
  api_out_str(&o, ",\"generation\":");
  api_out_u64(&o, e->generation);
  api_out_str(&o, ",\"signature_key_id\":\"");
  api_out_hex(&o, e->signature_key_id, MG_KS_KEY_ID_LEN);
  api_out_str(&o, "\",\"content_hmac\":\"");
  api_out_hex(&o, e->content_hmac, 32);
  api_out_str(&o, "\"}");
  if (o.failed) {
    mg_free_secret(o.p, o.cap);
    return MG_ERR_NOMEM;
  }
  api_out_send(c, 200, &o);
  return 0;
}

static int encrypt_ready(void *arg, const mg_encrypted *e) {
  encrypt_call *ec = arg;
  /* Prepared, not sent: the response goes out with mg_http_finish. */
  MG_GUARD(encrypt_answer(&ec->c, e));
  ec->d = mg_http_defer(ec->c.req);
  ec->c.deferred = 1;
  return 0;
}

static void encrypt_done(void *arg, int rc) {
  encrypt_call *ec = arg;
  mg_http_deferred *d = ec->d;
  if (rc < 0) {
    /* Not durable: the message is dropped, the failure answered. */
    api_error(&ec->c, rc, "encrypt");
  }
  mg_encrypted_cleanup(&ec->e);
  api_call_finish(&ec->c);
  free(ec);
  mg_http_finish(d);
}

void api_h_conv_encrypt(api_call *c) {
  mls_bytes pt = {NULL, 0}, aad = {NULL, 0};
  encrypt_call *ec;
  mg_encrypt_cb cb;
  int rc;
  if (conv_param(c) < 0) {
    return;
  }
  /* The common body {"plaintext": "..."} is read without a JSON tree (no
   * copy of the plaintext's base64 in jansson's strings). */
  rc = api_body_b64_only(c, "plaintext", 1, &pt);
  if (rc < 0) {
    return;
  }
  if (rc == 0) {
    if (api_body_object(c) < 0 ||
        api_get_b64(c, "plaintext", 1, 1, &pt) < 0) {
      return;
    }
    if (api_get_b64(c, "authenticated_data", 0, 0, &aad) < 0) {
      bytes_free(&pt, 1);
      return;
    }
    /* The parsed body holds the plaintext's base64: release it now. */
    json_decref(c->body);
    c->body = NULL;
  }
  if (c->req->defer_ctx == NULL) {
    /* Not from the server (a direct call): answered before returning. */
    mg_encrypted e;
    memset(&e, 0, sizeof(e));
    rc = mg_session_encrypt(c->api->sess, &c->ctx, c->params[0], pt.data,
                            pt.len, aad.data, aad.len, &e);
    bytes_free(&pt, 1);
    bytes_free(&aad, 0);
    if (rc < 0) {
      api_error(c, rc, "encrypt");
    } else if (encrypt_answer(c, &e) < 0) {
      api_problem(c, 500, "internal", "out of memory");
    }
    mg_encrypted_cleanup(&e);
    return;
  }
  ec = calloc(1, sizeof(*ec));
  if (ec == NULL) {
    bytes_free(&pt, 1);
    bytes_free(&aad, 0);
    api_problem(c, 503, "overloaded", "out of memory");
    return;
  }
  ec->c = *c;
  /* The copy's pointers into itself. */
  ec->c.ctx.actor = c->ctx.actor == c->actor ? ec->c.actor : c->ctx.actor;
  ec->c.params[0] = c->params[0] != NULL ? ec->c.param_buf[0] : NULL;
  ec->c.params[1] = c->params[1] != NULL ? ec->c.param_buf[1] : NULL;
  ec->c.body = NULL;
  cb.ready = encrypt_ready;
  cb.done = encrypt_done;
  cb.arg = ec;
  rc = mg_session_encrypt_async(c->api->sess, &ec->c.ctx, ec->c.params[0],
                                pt.data, pt.len, aad.data, aad.len, &ec->e,
                                &cb);
  bytes_free(&pt, 1);
  bytes_free(&aad, 0);
  if (rc < 0) {
    free(ec);
    api_error(c, rc, "encrypt");
    return;
  }
  /* Answered by encrypt_done (maybe already). */
  c->deferred = 1;
}

void api_h_conv_decrypt(api_call *c) {
  mls_bytes msg = {NULL, 0};
  mg_decrypted d;
  const char *type;
  api_out o;
  int rc;
  if (conv_param(c) < 0) {
    return;
  }
  rc = api_body_b64_only(c, "message", 0, &msg);
  if (rc < 0) {
    return;
  }
  if (rc == 0 && (api_body_object(c) < 0 ||
                  api_get_b64(c, "message", 1, 0, &msg) < 0)) {
    return;
  }
  memset(&d, 0, sizeof(d));
  rc = mg_session_decrypt(c->api->sess, &c->ctx, c->params[0], msg.data,
                          msg.len, &d);
  bytes_free(&msg, 0);
  if (rc < 0) {
    api_error(c, rc, "decrypt");
    return;
  }
  type = d.content_type == MLS_CONTENT_APPLICATION ? "application"
         : d.content_type == MLS_CONTENT_COMMIT    ? "commit"
                                                   : "proposal";
  if (api_out_init(&o, MG_BASE64_ENCODED_LEN(d.plaintext.len) + 192) == 0) {
    api_out_str(&o, "{\"type\":\"");
    api_out_str(&o, type);
    api_out_str(&o, "\",\"epoch\":");
    api_out_u64(&o, d.epoch);
    api_out_str(&o, ",\"conversation_epoch\":");
    api_out_u64(&o, d.new_epoch);
    api_out_str(&o, ",\"sender_leaf\":");
    api_out_u64(&o, d.sender_leaf);
    if (d.content_type == MLS_CONTENT_APPLICATION) {
      api_out_str(&o, ",\"plaintext\":\"");
      api_out_b64(&o, d.plaintext.data, d.plaintext.len, 1);
      api_out_str(&o, "\"");
    }
    if (d.removed) {
      api_out_str(&o, ",\"removed\":true");
    }
    api_out_str(&o, "}");
  }
  mg_decrypted_cleanup(&d);
  api_out_send(c, 200, &o);
}

void api_h_conv_commit(api_call *c) {
  api_idem_hook ih;
  int update = 0, rc;
  mg_committed m;
  if (conv_param(c) < 0 || api_body_object(c) < 0 ||
      api_get_bool(c, "update", &update) < 0) {
    return;
  }
  if (!update) {
    api_problem(c, 400, "invalid_argument",
                "the only commit offered is {\"update\": true}");
    return;
  }
  memset(&m, 0, sizeof(m));
  rc = mg_session_commit_update_h(c->api->sess, &c->ctx, c->params[0], &m,
                                  api_idem_hook_init(&ih, c, commit_answer));
  if (rc < 0) {
    c->idem_stored = 0;
    api_error(c, rc, "commit");
    return;
  }
  if (!c->idem_stored) {
    commit_answer(c, &m);
  }
  mg_committed_cleanup(&m);
}

void api_h_conv_close(api_call *c) {
  int rc;
  if (conv_param(c) < 0) {
    return;
  }
  rc = mg_session_close(c->api->sess, &c->ctx, c->params[0]);
  if (rc < 0) {
    api_error(c, rc, "close");
    return;
  }
  api_empty(c, 204);
}
