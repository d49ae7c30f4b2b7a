/*
 * The HTTP/2 server of mlsgated (src/api/server.c): its own epoll event
 * loop on one I/O thread, nghttp2 for the framing (h2c with prior
 * knowledge, or TLS 1.3 with ALPN "h2"), and a pool of worker threads that
 * run the request handler, so that crypto and store work never blocks the
 * I/O thread.
 *
 * A request is handed to the handler once its body is complete; the
 * handler fills a response, which the I/O thread then sends.  The server
 * itself answers what never reaches a handler (in application/problem+json,
 * RFC 9457, with the same stable codes as the routes): 413 body_too_large,
 * 431 headers_too_large, 400 bad_request (missing pseudo-headers), 503
 * overloaded (the cap of handlers executing or queued is reached) and 503
 * shutting_down.
 *
 * Every response carries x-request-id (16 random bytes in hex, the
 * request's request_id).
 *
 * Limits, and what a peer past them gets:
 *  - max_body: a content-length above it, or DATA beyond it, gets 413 at
 *    once (the body so far is dropped).  The rest of the upload is read and
 *    discarded, so that clients that finish sending before they read see
 *    the answer; past another max_body (or header_timeout) the stream is
 *    reset (RST_STREAM CANCEL).
 *  - max_headers / max_header_bytes (fields, and RFC 7541 §4.1 sizes, of
 *    the request's header list, pseudo-headers included): 431 once the
 *    header block is complete; fields past the limit are counted, not
 *    kept.  CONTINUATION frames are capped at 8 per header block (nghttp2:
 *    the connection ends with GOAWAY), a single field at 64 KiB (HPACK).
 *  - max_streams: SETTINGS_MAX_CONCURRENT_STREAMS; nghttp2 refuses a
 *    stream beyond it (RST_STREAM REFUSED_STREAM while our SETTINGS are not
 *    acknowledged; after that the peer broke the protocol: GOAWAY
 *    PROTOCOL_ERROR).
 *  - max_connections: beyond, a connection is accepted and closed.
 *  - max_queued: handlers executing plus queued; beyond, 503 overloaded
 *    with retry-after: 1, answered by the I/O thread.
 *  - max_total_body, max_conn_output, max_total_output: below.
 *  - header_timeout_ms: a request whose headers and body are not complete
 *    in time is reset (RST_STREAM CANCEL); a TLS handshake not done in time
 *    closes the connection.
 *  - idle_timeout_ms: a connection with no bytes received or sent for that
 *    long, and no handler running for it, is closed (also a peer that
 *    stopped reading: its output stays buffered, and it is not read while
 *    its buffered output is over 64 KiB).
 *  - floods: RST_STREAM from the peer beyond a burst of 1000 and 33/s
 *    (Rapid Reset, CVE-2023-44487), more than 1000 queued SETTINGS/PING
 *    ACKs, more than 16 entries in one SETTINGS frame: nghttp2 ends the
 *    connection (GOAWAY, counted in protocol_errors).  Closed streams are
 *    not kept (no RFC 7540 priorities).
 *
 * Nothing here knows routes, tokens or JSON beyond those fixed bodies.
 */
#ifndef MG_HEADER_API_HTTP_H
#define MG_HEADER_API_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "mlsgate/err.h"

typedef struct mg_http_server mg_http_server;

typedef struct mg_http_header {
  const char *name; /* lower case, NUL-terminated */
  const char *value;
} mg_http_header;

/* One complete request.  Everything is borrowed from the server and valid
 * only during the handler call. */
typedef struct mg_http_request {
  const char *method; /* ":method" */
  const char *path;   /* ":path" up to '?', not decoded */
  const char *query;  /* after '?', or NULL */
  const mg_http_header *headers; /* regular headers, in arrival order */
  size_t num_headers;
  const uint8_t *body; /* never NULL (empty: "") */
  size_t body_len;
  char request_id[33]; /* 32 hex digits, also sent as x-request-id */
  uint64_t received_ns; /* CLOCK_MONOTONIC when the headers completed */
  const char *peer;     /* "ADDR:PORT" of the client */
  /* With client-certificate authentication: the verified certificate's
   * subject (one-line form), else NULL. */
  const char *client_subject;
  /* The server's, for mg_http_defer; NULL when the request did not come
   * from a server (a handler called directly) and cannot be deferred. */
  void *defer_ctx;
} mg_http_request;

#define MG_HTTP_MAX_EXTRA_HEADERS 4

/* What a handler answers.  The server zeroes it before the call; the
 * handler sets |status|, |content_type| and |body| (malloc'd, the server
 * frees it; NULL for none) and may add up to MG_HTTP_MAX_EXTRA_HEADERS
 * headers (copied into |extra|, lower-case names). */
typedef struct mg_http_response {
  int status;
  const char *content_type; /* a static string, or NULL */
  uint8_t *body;            /* malloc'd, owned by the server afterwards */
  size_t body_len;
  struct {
    char name[32];
    char value[128];
  } extra[MG_HTTP_MAX_EXTRA_HEADERS]; /* e.g. "retry-after", "location" */
  size_t num_extra;
  /* The handler's own label for this request (e.g. its route), handed
   * back to the done callback; 0 for the server's own answers. */
  int tag;
} mg_http_response;

/* mg_http_handler_fn runs on a worker thread, any number at once. */
typedef void (*mg_http_handler_fn)(void *arg, const mg_http_request *req,
                                   mg_http_response *resp);

/* A handler may answer later, from any thread: it calls mg_http_defer
 * during its call (|req| is then valid until the answer), returns, and
 * whoever has the answer fills mg_http_deferred_response and calls
 * mg_http_finish, exactly once (it may do so before the handler returns).
 * The request counts among the executing handlers (the server's cap)
 * until then, and mg_http_server_free waits for every deferred answer. */
typedef struct mg_http_deferred mg_http_deferred;
/* NULL when |req| cannot be deferred (req->defer_ctx is NULL): the
 * handler answers in |resp| as usual. */
mg_http_deferred *mg_http_defer(const mg_http_request *req);
mg_http_response *mg_http_deferred_response(mg_http_deferred *d);
const mg_http_request *mg_http_deferred_request(mg_http_deferred *d);
void mg_http_finish(mg_http_deferred *d);

/* mg_http_done_fn (may be NULL) is called on the I/O thread once a
 * response was handed to nghttp2 (or the stream died first: |status| is
 * then the status it would have had), for metrics.  For the server's own
 * answers (413, 431, 400, 503) |req| has the method, the path (up to '?'),
 * the query, request_id, received_ns, peer and client_subject, but no
 * headers and an empty body.  A request reset by the peer (or whose
 * connection closed) before it was complete, or before a worker took it
 * (it is then dropped from the queue, never run), gets no call.  |tag| is
 * the handler's mg_http_response.tag (0 for the server's own answers). */
typedef void (*mg_http_done_fn)(void *arg, const mg_http_request *req,
                                int status, int tag, uint64_t latency_ns);

typedef struct mg_http_server_options {
  const char *listen; /* "ADDR:PORT", IPv4 or [IPv6]; port 0: any free */
  /* TLS 1.3 with ALPN h2 when both are set (PEM files). */
  const char *tls_cert;
  const char *tls_key;
  /* With TLS: require a client certificate that chains to this CA file
   * (PEM), else NULL. */
  const char *client_ca;

  size_t max_body;             /* bytes (default 1 MiB) */
  size_t max_header_bytes;     /* a request's header list (default 16 KiB) */
  uint32_t max_headers;        /* header fields per request (default 64) */
  uint32_t max_streams;        /* SETTINGS_MAX_CONCURRENT_STREAMS (128) */
  uint32_t max_connections;    /* beyond: accept and close (default 1024) */
  uint32_t workers;            /* handler threads (default 32) */
  uint32_t max_queued;         /* handlers executing + queued (default 1024) */
  uint32_t idle_timeout_ms;    /* no frame received (default 60 s) */
  uint32_t header_timeout_ms;  /* headers+body of one request (default 10 s) */
  uint32_t shutdown_grace_ms;  /* in-flight requests on stop (default 10 s) */
  /* Response bytes submitted but not yet taken by the peer (flow control,
   * or a peer that does not read).  Past max_conn_output on a connection,
   * its next complete requests wait until it reads (default 4 MiB); past
   * max_total_output over all connections, new requests get 503
   * overloaded (default 256 MiB).  Responses of handlers already running
   * come on top: a connection holds at most about max_conn_output plus
   * max_streams responses. */
  size_t max_conn_output;
  size_t max_total_output;
  /* Request body bytes being received or held by queued and running
   * handlers, all connections (default 256 MiB): a body that would pass
   * it gets 503 overloaded. */
  size_t max_total_body;

  mg_http_handler_fn handler;
  mg_http_done_fn done;
  void *arg;
} mg_http_server_options;

/* mg_http_server_options_default fills every field with its default
 * (listen "127.0.0.1:8420", no TLS, no handler). */
void mg_http_server_options_default(mg_http_server_options *o);

/* mg_http_server_new binds and listens (so that the address is known and
 * errors are reported before the loop runs) and starts the workers.
 * Errors: MG_ERR_INVALID_ARG (bad address, no handler), MG_ERR_IO (bind,
 * listen, a certificate or key that does not load), MG_ERR_NOMEM. */
MG_MUST_USE int mg_http_server_new(mg_http_server **out,
                                   const mg_http_server_options *o);

/* mg_http_server_address writes the bound "ADDR:PORT". */
const char *mg_http_server_address(const mg_http_server *s);

/* mg_http_server_run runs the event loop until mg_http_server_stop: then
 * it stops accepting, sends GOAWAY, lets in-flight requests finish (at most
 * shutdown_grace_ms), closes every connection and returns 0. */
MG_MUST_USE int mg_http_server_run(mg_http_server *s);

/* mg_http_server_stop asks the loop to stop; async-signal-safe (a write to
 * an eventfd), callable from any thread or a signal handler. */
void mg_http_server_stop(mg_http_server *s);

/* mg_http_server_free joins the workers and frees everything: a handler
 * still running (past the grace period) is waited for, queued ones never
 * run.  Call it before freeing what the handler uses.  NULL is accepted. */
void mg_http_server_free(mg_http_server *s);

/* Counters for /metrics (read without locks: monotonic, approximate). */
typedef struct mg_http_stats {
  uint64_t connections_open;
  uint64_t connections_total;
  uint64_t connections_rejected;
  uint64_t streams_reset_by_peer;
  uint64_t requests_rejected_overload;
  uint64_t handlers_running;
  uint64_t handlers_queued;
  uint64_t protocol_errors; /* sessions ended by nghttp2 (floods ...) */
} mg_http_stats;

void mg_http_server_stats(const mg_http_server *s, mg_http_stats *out);

/* mg_http_problem fills |resp| with an application/problem+json body
 * (RFC 9457): {"type":"https://mlsgate.dev/problems/<code>","title":...,
 * "status":...,"code":"<code>","detail":...,"request_id":...}.  |detail|
 * may be NULL.  Never fails: without memory the body is empty. */
void mg_http_problem(mg_http_response *resp, int status, const char *code,
                     const char *title, const char *detail,
                     const char *request_id);

#endif
