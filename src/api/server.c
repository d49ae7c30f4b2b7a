/*
 * The HTTP/2 server of mlsgated (contract: http.h).
 *
 * Threads.  One I/O thread runs mg_http_server_run: an epoll loop (level
 * triggered) over the listening socket, two eventfds (|stop_fd|, written by
 * mg_http_server_stop; |wake_fd|, written by workers when a response is
 * ready) and the connections, all non-blocking.  It owns every connection,
 * nghttp2 session and stream; nothing else touches them.  |workers| threads
 * run the handler on jobs: a job owns copies of everything its request
 * refers to (headers, body, path, peer, client subject), so a worker never
 * touches a connection.  A finished job goes back to the I/O thread on a
 * locked completion list (then |wake_fd|).  The stream a job answers may be
 * gone by then (reset by the peer, connection closed): the stream's close
 * takes a job no worker took yet out of the queue and frees it, and sets a
 * running job's |st| to NULL, so that its completion only frees it.  So
 * connections need no reference count: the job is the request, owned by
 * the queue, then by one worker, then by the I/O thread.
 *
 * Framing follows nghttp2's examples/libevent-server.c (STYLE.md §6):
 * on_begin_headers allocates the stream, on_header collects the header
 * list (bounded), on_frame_recv with END_STREAM dispatches, on_stream_close
 * frees.  Input is fed with nghttp2_session_mem_recv and output taken with
 * nghttp2_session_mem_send into a per-connection buffer of bounded size.
 *
 * Slow readers.  Output is produced from nghttp2 only while the
 * connection's buffer holds less than WBUF_HIGH bytes.  While the buffer
 * cannot be flushed (the peer does not read), the connection is not read
 * either: a peer that does not read gets no more work done for it (no
 * PING/SETTINGS ACKs queued, no new requests), and the idle timeout closes
 * it.  What a stream can hold is one handler response (its body).
 *
 * TLS.  libssl (TLS 1.3 only, ALPN "h2" only) over the same non-blocking
 * sockets.  The project's rule that only src/crypto/crypto_openssl.c
 * includes OpenSSL concerns libcrypto's cryptography; the transport's TLS
 * (libssl, and the X509 name of a verified client certificate) lives here.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* accept4 */
#endif
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "api/http.h"
#include "api/log.h"
#include "common/blocking.h"
#include "common/guard.h"
#include "common/secmem.h"

/* Output buffered per connection before nghttp2 is asked for more. */
#define WBUF_HIGH (64 * 1024)
/* Bytes read from one connection per event (fairness between peers). */
#define READ_BUDGET (256 * 1024)
/* The loop wakes at least this often to enforce timeouts. */
#define TICK_MS 100
/* RST_STREAM frames from a peer (CVE-2023-44487, Rapid Reset): nghttp2's
 * token bucket, |burst| at once then |rate| per second, then GOAWAY. */
#define RST_BURST 1000
#define RST_RATE 33
/* Queued SETTINGS/PING ACKs before the peer is called a flood. */
#define MAX_OUTBOUND_ACK 1000

typedef struct api_conn api_conn;
typedef struct api_stream api_stream;
typedef struct api_job api_job;

struct api_job {
  api_job *next;  /* the queue, then the completion list */
  api_job *prev;  /* the queue */
  bool running;   /* taken by a worker (under the server's mu) */
  bool deferred;  /* the handler called mg_http_defer: mg_http_finish
                     completes it, not the worker (under mu) */
  bool handler_returned; /* a deferred job's handler returned (under mu) */
  bool finished;  /* a deferred job's mg_http_finish ran (under mu) */
  bool pending;   /* in the I/O thread's |pend| list, not yet queued */
  uint64_t queued_ns; /* when it joined the queue */
  mg_http_server *s;
  api_stream *st; /* I/O thread only; NULL once the stream is gone */
  mg_http_request req;
  mg_http_response resp;
  char *hbuf;            /* the stream's header strings, now the job's
                            (the bearer token among them: wiped on free) */
  size_t hbuf_cap;
  mg_http_header *hdrs;  /* pointers into hbuf */
  uint8_t *body;         /* malloc'd, or NULL for an empty body */
  char *path;            /* ":path" copy, split at '?' */
  char *subject;         /* client certificate subject copy, or NULL */
  size_t body_counted;   /* in the server's |body_bytes| */
  char peer[64];
};

struct api_stream {
  api_stream *prev, *next; /* the connection's streams */
  api_conn *c;
  int32_t id;
  uint64_t begin_ns;       /* first HEADERS frame began */
  uint64_t received_ns;    /* the header block completed */
  char request_id[33];

  /* The request: header fields as "name\0value\0" pairs. */
  char *hbuf;
  size_t hbuf_len, hbuf_cap;
  size_t header_bytes;    /* RFC 7541 §4.1 sizes, pseudo-headers too */
  uint32_t num_headers;
  bool headers_too_large;
  bool headers_done;
  bool has_method, has_path;
  bool is_head;           /* HEAD: the response has no DATA */
  int64_t content_length; /* -1: none */
  uint8_t *body;
  size_t body_len, body_cap;
  size_t body_counted;   /* in the server's |body_bytes| */

  api_job *job;        /* its handler's job, while it runs */
  bool responded;      /* a response was submitted */
  bool early;          /* ... before the request was complete */
  bool unsent;         /* counted in c->num_unsent */
  bool rst_sent;
  bool parked;         /* complete, waiting for the connection's output */
  size_t held;         /* response bytes not yet taken by nghttp2 */
  size_t discarded;    /* request DATA ignored after an early response */

  /* The response being sent. */
  mg_http_response resp;
  size_t resp_off;
  char status_str[4];
  char clen_str[24];
};

struct api_conn {
  api_conn *prev, *next; /* the server's connections */
  mg_http_server *s;
  int fd;
  SSL *ssl;          /* NULL for h2c */
  nghttp2_session *h2; /* NULL until the TLS handshake is done */
  uint32_t events;   /* the epoll mask registered */
  bool dead;         /* closed, freed at the end of the loop iteration */
  bool paused;       /* output blocked: not reading */
  bool ssl_write_wants_read;
  bool goaway;
  uint8_t *wbuf;
  size_t wlen, woff, wcap;
  uint64_t accepted_ns;
  uint64_t last_ns;  /* last bytes received or sent */
  char peer[64];
  char *subject;
  api_stream *streams;
  /* Streams whose response is not yet all handed to the socket buffer
   * (a handler runs, or END_STREAM not yet sent). */
  size_t num_unsent;
  size_t held;        /* response bytes not yet taken by nghttp2 */
  size_t num_parked;  /* complete requests waiting for |held| to drop */
  api_conn *dirty_next; /* process_completions: responses submitted */
  bool dirty;
};

struct mg_http_server {
  mg_http_server_options o;
  char *listen_copy, *cert_copy, *key_copy, *ca_copy;
  char addr[80];
  int lfd, epfd, stop_fd, wake_fd;
  bool listening; /* lfd in the epoll set */
  SSL_CTX *ssl_ctx;
  nghttp2_session_callbacks *cbs;
  nghttp2_option *h2opt;

  api_conn *conns;
  api_conn *dead; /* closed, to free */
  bool stopping;
  uint64_t deadline_ns;
  uint64_t jobs_outstanding; /* created, completion not yet processed */
  uint64_t last_accept_err_ns;
  size_t held; /* response bytes not yet taken by nghttp2, all connections */
  size_t body_bytes; /* request bodies received or in handlers */

  uint8_t rnd[512];
  size_t rnd_off;

  /* The worker pool. */
  pthread_t *threads;
  uint32_t num_threads;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool mu_init;
  api_job *q_head, *q_tail;     /* waiting for a worker */
  api_job *done_head, *done_tail; /* finished, for the I/O thread */
  uint32_t inflight;            /* executing + queued (under mu) */
  uint32_t deferred;            /* deferred and not finished (under mu) */
  /* Requests dispatched during one turn of the event loop, queued for
   * the workers all at once at its end (I/O thread only). */
  api_job *pend_head, *pend_tail;
  /* Workers asleep on |cv|, and those signalled that have not woken yet
   * (under mu); |q_len| jobs queued. */
  uint32_t sleeping, waking, q_len;
  uint32_t blocked; /* workers inside a blocking wait (common/blocking.h) */
  mg_blocking_hooks hooks;
  uint32_t eager; /* workers woken at once whatever the queue (CPUs) */
  pthread_cond_t deferred_cv;   /* |deferred| fell to 0 */
  bool workers_exit;

  struct {
    atomic_uint_fast64_t connections_open, connections_total,
        connections_rejected, streams_reset_by_peer,
        requests_rejected_overload, handlers_running, handlers_queued,
        protocol_errors;
  } st;
};

/* epoll tags of the non-connection descriptors. */
static char tag_listen, tag_stop, tag_wake;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void stat_inc(atomic_uint_fast64_t *c) {
  atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static void stat_dec(atomic_uint_fast64_t *c) {
  atomic_fetch_sub_explicit(c, 1, memory_order_relaxed);
}

/* ------------------------------------------------------------ options */

void mg_http_server_options_default(mg_http_server_options *o) {
  memset(o, 0, sizeof *o);
  o->listen = "127.0.0.1:8420";
  o->max_body = 1024 * 1024;
  o->max_header_bytes = 16 * 1024;
  o->max_headers = 64;
  o->max_streams = 128;
  o->max_connections = 1024;
  o->workers = 32;
  o->max_queued = 1024;
  o->idle_timeout_ms = 60000;
  o->header_timeout_ms = 10000;
  o->shutdown_grace_ms = 10000;
  o->max_conn_output = 4 * 1024 * 1024;
  o->max_total_output = 256 * 1024 * 1024;
  o->max_total_body = 256 * 1024 * 1024;
}

/* ----------------------------------------------------------- problems */

/* json_escape_into appends |s| as the inside of a JSON string. */
static size_t json_escape_into(char *out, size_t cap, size_t len,
                               const char *s) {
  static const char hex[] = "0123456789abcdef";
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    char e[6];
    size_t n = 2;
    e[0] = '\\';
    if (*p == '"' || *p == '\\') {
      e[1] = (char)*p;
    } else if (*p == '\n') {
      e[1] = 'n';
    } else if (*p < 0x20 || *p == 0x7f) {
      memcpy(e, "\\u00", 4);
      e[4] = hex[*p >> 4];
      e[5] = hex[*p & 15];
      n = 6;
    } else {
      e[0] = (char)*p;
      n = 1;
    }
    if (len + n < cap) {
      memcpy(out + len, e, n);
    }
    len += n;
  }
  return len;
}

static size_t json_lit(char *out, size_t cap, size_t len, const char *s) {
  size_t n = strlen(s);
  if (len + n < cap) {
    memcpy(out + len, s, n);
  }
  return len + n;
}

void mg_http_problem(mg_http_response *resp, int status, const char *code,
                     const char *title, const char *detail,
                     const char *request_id) {
  mg_free_secret(resp->body, resp->body_len);
  resp->body = NULL;
  resp->body_len = 0;
  resp->status = status;
  resp->content_type = "application/problem+json";
  if (code == NULL) {
    code = "error";
  }
  if (title == NULL) {
    title = code;
  }
  char num[16];
  snprintf(num, sizeof num, "%d", status);
  /* Two passes: measure, then write. */
  char *out = NULL;
  size_t cap = 0;
  for (int pass = 0; pass < 2; pass++) {
    size_t len = 0;
    len = json_lit(out, cap, len, "{\"type\":\"https://mlsgate.dev/problems/");
    len = json_escape_into(out, cap, len, code);
    len = json_lit(out, cap, len, "\",\"title\":\"");
    len = json_escape_into(out, cap, len, title);
    len = json_lit(out, cap, len, "\",\"status\":");
    len = json_lit(out, cap, len, num);
    len = json_lit(out, cap, len, ",\"code\":\"");
    len = json_escape_into(out, cap, len, code);
    len = json_lit(out, cap, len, "\"");
    if (detail != NULL) {
      len = json_lit(out, cap, len, ",\"detail\":\"");
      len = json_escape_into(out, cap, len, detail);
      len = json_lit(out, cap, len, "\"");
    }
    if (request_id != NULL) {
      len = json_lit(out, cap, len, ",\"request_id\":\"");
      len = json_escape_into(out, cap, len, request_id);
      len = json_lit(out, cap, len, "\"");
    }
    len = json_lit(out, cap, len, "}");
    if (pass == 0) {
      cap = len + 1;
      out = malloc(cap);
      if (out == NULL) {
        return;
      }
    } else {
      resp->body = (uint8_t *)out;
      resp->body_len = len;
    }
  }
}

/* --------------------------------------------------------------- misc */

static void request_id_new(mg_http_server *s, char out[33]) {
  static const char hex[] = "0123456789abcdef";
  if (s->rnd_off + 16 > sizeof s->rnd) {
    size_t got = 0;
    while (got < sizeof s->rnd) {
      ssize_t n = getrandom(s->rnd + got, sizeof s->rnd - got, 0);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        /* No randomness: fail closed rather than send guessable IDs. */
        abort();
      }
      got += (size_t)n;
    }
    s->rnd_off = 0;
  }
  for (size_t i = 0; i < 16; i++) {
    out[2 * i] = hex[s->rnd[s->rnd_off + i] >> 4];
    out[2 * i + 1] = hex[s->rnd[s->rnd_off + i] & 15];
  }
  memset(s->rnd + s->rnd_off, 0, 16);
  s->rnd_off += 16;
  out[32] = '\0';
}

static void format_addr(const struct sockaddr *sa, char *out, size_t cap) {
  char host[INET6_ADDRSTRLEN] = "?";
  unsigned port = 0;
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)(const void *)sa;
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    port = ntohs(a->sin_port);
    snprintf(out, cap, "%s:%u", host, port);
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *a =
        (const struct sockaddr_in6 *)(const void *)sa;
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    port = ntohs(a->sin6_port);
    snprintf(out, cap, "[%s]:%u", host, port);
  } else {
    snprintf(out, cap, "?");
  }
}

/* ------------------------------------------------------------ workers */

static void job_free(api_job *j) {
  if (j == NULL) {
    return;
  }
  mg_free_secret(j->hbuf, j->hbuf_cap);
  free(j->hdrs);
  mg_free_secret(j->body, j->req.body_len);
  free(j->path);
  free(j->subject);
  mg_free_secret(j->resp.body, j->resp.body_len);
  free(j);
}

/* job_release frees a job on the I/O thread, giving back its body bytes. */
static void job_release(mg_http_server *s, api_job *j) {
  s->body_bytes -= j->body_counted;
  job_free(j);
}

/* job_detach parts a job from its stream, which is going away (reset by
 * the peer, connection closed): a job no worker took yet leaves the queue
 * and is freed (so a flood of requests reset at once does not fill the
 * queue, CVE-2023-44487); a running one finishes, and its completion
 * finds no stream. */
static void job_detach(mg_http_server *s, api_job *j) {
  j->st = NULL;
  if (j->pending) {
    /* Not yet queued: only the I/O thread knows it. */
    if (j->prev != NULL) {
      j->prev->next = j->next;
    } else {
      s->pend_head = j->next;
    }
    if (j->next != NULL) {
      j->next->prev = j->prev;
    } else {
      s->pend_tail = j->prev;
    }
    pthread_mutex_lock(&s->mu);
    s->inflight--;
    stat_dec(&s->st.handlers_queued);
    pthread_mutex_unlock(&s->mu);
    s->jobs_outstanding--;
    job_release(s, j);
    return;
  }
  pthread_mutex_lock(&s->mu);
  bool queued = !j->running;
  if (queued) {
    if (j->prev != NULL) {
      j->prev->next = j->next;
    } else {
      s->q_head = j->next;
    }
    if (j->next != NULL) {
      j->next->prev = j->prev;
    } else {
      s->q_tail = j->prev;
    }
    s->q_len--;
    s->inflight--;
    stat_dec(&s->st.handlers_queued);
  }
  pthread_mutex_unlock(&s->mu);
  if (queued) {
    s->jobs_outstanding--;
    job_release(s, j);
  }
}

static void wake_workers(mg_http_server *s, uint64_t now);

/* complete_job hands a finished job to the I/O thread: it leaves the
 * count of executing handlers and joins the completion list. */
static void complete_job(mg_http_server *s, api_job *j) {
  pthread_mutex_lock(&s->mu);
  s->inflight--;
  bool first = s->done_head == NULL;
  if (s->done_tail != NULL) {
    s->done_tail->next = j;
  } else {
    s->done_head = j;
  }
  s->done_tail = j;
  pthread_mutex_unlock(&s->mu);
  if (first) {
    /* Whoever made the list non-empty wakes the I/O thread, which takes
     * the whole list at once. */
    uint64_t one = 1;
    ssize_t wr = write(s->wake_fd, &one, sizeof one);
    (void)wr; /* EAGAIN: the counter is already non-zero, a wake is due */
  }
}

mg_http_deferred *mg_http_defer(const mg_http_request *req) {
  api_job *j = req->defer_ctx;
  if (j == NULL) {
    return NULL;
  }
  pthread_mutex_lock(&j->s->mu);
  j->deferred = true;
  j->s->deferred++;
  pthread_mutex_unlock(&j->s->mu);
  return (mg_http_deferred *)j;
}

mg_http_response *mg_http_deferred_response(mg_http_deferred *d) {
  return &((api_job *)d)->resp;
}

const mg_http_request *mg_http_deferred_request(mg_http_deferred *d) {
  return &((api_job *)d)->req;
}

void mg_http_finish(mg_http_deferred *d) {
  api_job *j = (api_job *)d;
  mg_http_server *s = j->s;
  pthread_mutex_lock(&s->mu);
  /* Finished before its handler returned (the operation completed on
   * the handler's own thread): the worker completes it on return. */
  bool handler_returned = j->handler_returned;
  j->finished = true;
  if (--s->deferred == 0) {
    pthread_cond_broadcast(&s->deferred_cv);
  }
  pthread_mutex_unlock(&s->mu);
  if (handler_returned) {
    complete_job(s, j);
  }
}

/* A worker about to block (a handler waiting for its commit): another
 * may take the queue's jobs meanwhile. */
static void worker_block_begin(void *arg) {
  mg_http_server *s = arg;
  pthread_mutex_lock(&s->mu);
  s->blocked++;
  wake_workers(s, now_ns());
  pthread_mutex_unlock(&s->mu);
}

static void worker_block_end(void *arg) {
  mg_http_server *s = arg;
  pthread_mutex_lock(&s->mu);
  s->blocked--;
  pthread_mutex_unlock(&s->mu);
}

static void *worker_main(void *arg) {
  mg_http_server *s = arg;
  mg_blocking_set(&s->hooks);
  pthread_mutex_lock(&s->mu);
  for (;;) {
    while (s->q_head == NULL && !s->workers_exit) {
      s->sleeping++;
      pthread_cond_wait(&s->cv, &s->mu);
      s->sleeping--;
      if (s->waking > 0) {
        s->waking--;
      }
    }
    if (s->workers_exit) {
      break;
    }
    api_job *j = s->q_head;
    s->q_len--;
    s->q_head = j->next;
    if (s->q_head != NULL) {
      s->q_head->prev = NULL;
    } else {
      s->q_tail = NULL;
    }
    j->next = j->prev = NULL;
    j->running = true;
    stat_dec(&s->st.handlers_queued);
    stat_inc(&s->st.handlers_running);
    pthread_mutex_unlock(&s->mu);

    s->o.handler(s->o.arg, &j->req, &j->resp);

    pthread_mutex_lock(&s->mu);
    stat_dec(&s->st.handlers_running);
    if (j->deferred) {
      /* Answered by mg_http_finish: later, or already (it completes
       * the job only once the handler returned, see there). */
      j->handler_returned = true;
      bool finished = j->finished;
      pthread_mutex_unlock(&s->mu);
      if (finished) {
        complete_job(s, j);
      }
      pthread_mutex_lock(&s->mu);
      continue;
    }
    pthread_mutex_unlock(&s->mu);
    complete_job(s, j);
    pthread_mutex_lock(&s->mu);
  }
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

/* --------------------------------------------------- connection output */

static void conn_close(api_conn *c, const char *why);
static void stream_dispatch(api_stream *st);

/* conn_unpark dispatches the requests parked while the connection held
 * max_conn_output bytes of responses, as far as it holds less now. */
static void conn_unpark(api_conn *c) {
  for (api_stream *st = c->streams, *next; st != NULL && c->num_parked > 0;
       st = next) {
    next = st->next;
    if (c->held >= c->s->o.max_conn_output) {
      break;
    }
    if (st->parked) {
      stream_dispatch(st);
    }
  }
}

/* conn_update_events registers what the connection waits for. */
static void conn_update_events(api_conn *c) {
  if (c->dead) {
    return;
  }
  uint32_t ev = 0;
  bool pending = c->woff < c->wlen;
  if (!c->paused && !c->ssl_write_wants_read) {
    ev |= EPOLLIN;
  }
  if (c->ssl_write_wants_read) {
    ev |= EPOLLIN;
  }
  if (pending && !c->ssl_write_wants_read) {
    ev |= EPOLLOUT;
  }
  if (c->ssl != NULL && c->h2 == NULL) {
    /* During the handshake conn_handshake sets the mask itself. */
    return;
  }
  if (ev != c->events) {
    struct epoll_event e = {.events = ev, .data.ptr = c};
    if (epoll_ctl(c->s->epfd, EPOLL_CTL_MOD, c->fd, &e) == 0) {
      c->events = ev;
    }
  }
}

/* conn_flush writes buffered output.  Returns -1 if the connection died. */
static int conn_flush(api_conn *c) {
  c->ssl_write_wants_read = false;
  while (c->woff < c->wlen) {
    size_t left = c->wlen - c->woff;
    ssize_t n;
    if (c->ssl != NULL) {
      ERR_clear_error();
      int r = SSL_write(c->ssl, c->wbuf + c->woff,
                        left > INT32_MAX ? INT32_MAX : (int)left);
      if (r <= 0) {
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_WRITE) {
          break;
        }
        if (e == SSL_ERROR_WANT_READ) {
          c->ssl_write_wants_read = true;
          break;
        }
        conn_close(c, "tls write failed");
        return -1;
      }
      n = r;
    } else {
      n = send(c->fd, c->wbuf + c->woff, left, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          break;
        }
        if (errno == EINTR) {
          continue;
        }
        conn_close(c, "write failed");
        return -1;
      }
    }
    c->woff += (size_t)n;
    c->last_ns = now_ns();
  }
  if (c->woff == c->wlen) {
    /* Sent: wipe it (responses carry decrypted plaintext). */
    mg_memzero(c->wbuf, c->wlen);
    c->woff = c->wlen = 0;
  }
  return 0;
}

/* conn_pump moves nghttp2's output into the buffer, up to WBUF_HIGH, and
 * flushes, while the socket takes it.  Returns -1 if the connection died. */
static int conn_pump(api_conn *c) {
  for (;;) {
    while (c->wlen - c->woff < WBUF_HIGH) {
      const uint8_t *data;
      ssize_t n = nghttp2_session_mem_send(c->h2, &data);
      if (n < 0) {
        conn_close(c, nghttp2_strerror((int)n));
        return -1;
      }
      if (n == 0) {
        break;
      }
      if (c->woff > 0 && c->woff == c->wlen) {
        mg_memzero(c->wbuf, c->wlen);
        c->woff = c->wlen = 0;
      }
      if (c->wlen + (size_t)n > c->wcap) {
        if (c->woff > 0) {
          memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
          mg_memzero(c->wbuf + c->wlen - c->woff, c->woff);
          c->wlen -= c->woff;
          c->woff = 0;
        }
        if (c->wlen + (size_t)n > c->wcap) {
          size_t cap = c->wcap ? c->wcap : 16384;
          while (cap < c->wlen + (size_t)n) {
            cap *= 2;
          }
          /* Grown by copy so that no unwiped copy is left behind. */
          uint8_t *nb = malloc(cap);
          if (nb == NULL) {
            conn_close(c, "out of memory");
            return -1;
          }
          if (c->wlen > 0) {
            memcpy(nb, c->wbuf, c->wlen);
          }
          mg_free_secret(c->wbuf, c->wcap);
          c->wbuf = nb;
          c->wcap = cap;
        }
      }
      memcpy(c->wbuf + c->wlen, data, (size_t)n);
      c->wlen += (size_t)n;
    }
    size_t before = c->wlen - c->woff;
    if (conn_flush(c) < 0) {
      return -1;
    }
    size_t after = c->wlen - c->woff;
    /* Keep going while the socket takes everything and nghttp2 has more. */
    if (after > 0 || before == 0 || !nghttp2_session_want_write(c->h2)) {
      break;
    }
  }
  return 0;
}

/* conn_produce pumps output, dispatches parked requests once the
 * connection holds less than max_conn_output, and registers what the
 * connection waits for; it closes a session that is over.  Returns -1 if
 * the connection died. */
static int conn_produce(api_conn *c) {
  if (c->dead || c->h2 == NULL) {
    return c->dead ? -1 : 0;
  }
  if (conn_pump(c) < 0) {
    return -1;
  }
  if (c->num_parked > 0 && c->held < c->s->o.max_conn_output) {
    conn_unpark(c);
    if (conn_pump(c) < 0) {
      return -1;
    }
  }
  c->paused = c->woff < c->wlen;
  if (!nghttp2_session_want_read(c->h2) && !nghttp2_session_want_write(c->h2) &&
      c->woff == c->wlen) {
    conn_close(c, "session done");
    return -1;
  }
  conn_update_events(c);
  return 0;
}

/* ----------------------------------------------------------- responses */

static void stream_unsent_done(api_stream *st) {
  if (st->unsent) {
    st->unsent = false;
    st->c->num_unsent--;
  }
}

static ssize_t resp_read(nghttp2_session *h2, int32_t id, uint8_t *buf,
                         size_t len, uint32_t *flags,
                         nghttp2_data_source *src, void *ud) {
  (void)h2;
  (void)id;
  (void)ud;
  api_stream *st = src->ptr;
  size_t left = st->resp.body_len - st->resp_off;
  size_t n = left < len ? left : len;
  if (n > 0) {
    memcpy(buf, st->resp.body + st->resp_off, n);
  }
  st->resp_off += n;
  st->held -= n;
  st->c->held -= n;
  st->c->s->held -= n;
  if (st->resp_off == st->resp.body_len) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
  }
  return (ssize_t)n;
}

/* nghttp2_nv takes non-const pointers it never writes through. */
static uint8_t *nv_u8(const char *p) { return (uint8_t *)(uintptr_t)p; }

#define NV(n, v, vl)                                                           \
  { nv_u8(n), nv_u8(v), sizeof(n) - 1, (vl), NGHTTP2_NV_FLAG_NO_COPY_NAME }

/* stream_req_view fills |req| with what the stream holds (no headers, no
 * body; the path up to '?' copied into |path|, cut to its size), for the
 * done callback of a response the server made itself. */
static void stream_req_view(const api_stream *st, mg_http_request *req,
                            char *path, size_t path_cap) {
  memset(req, 0, sizeof *req);
  req->method = "";
  path[0] = '\0';
  for (size_t off = 0; off < st->hbuf_len;) {
    const char *name = st->hbuf + off;
    const char *value = name + strlen(name) + 1;
    off = (size_t)(value - st->hbuf) + strlen(value) + 1;
    if (strcmp(name, ":method") == 0) {
      req->method = value;
    } else if (strcmp(name, ":path") == 0) {
      size_t n = strcspn(value, "?");
      if (value[n] == '?') {
        req->query = value + n + 1;
      }
      if (n >= path_cap) {
        n = path_cap - 1;
      }
      memcpy(path, value, n);
      path[n] = '\0';
    }
  }
  req->path = path;
  req->body = (const uint8_t *)"";
  memcpy(req->request_id, st->request_id, sizeof req->request_id);
  req->received_ns = st->received_ns ? st->received_ns : st->begin_ns;
  req->peer = st->c->peer;
  req->client_subject = st->c->subject;
}

/* stream_respond submits |resp| (taking its body) on the stream.  |req| is
 * passed to the done callback (NULL: a view of the stream is built). */
static void stream_respond(api_stream *st, mg_http_response *resp,
                           const mg_http_request *req) {
  api_conn *c = st->c;
  mg_http_server *s = c->s;
  if (resp->status < 100 || resp->status > 599 ||
      (resp->body_len > 0 && resp->body == NULL)) {
    mg_http_problem(resp, 500, "internal", "Internal server error", NULL,
                    st->request_id);
  }
  st->resp = *resp;
  memset(resp, 0, sizeof *resp);
  st->resp_off = 0;
  st->responded = true;
  if (!nghttp2_session_get_stream_remote_close(c->h2, st->id)) {
    st->early = true;
  }
  snprintf(st->status_str, sizeof st->status_str, "%d", st->resp.status);
  snprintf(st->clen_str, sizeof st->clen_str, "%zu", st->resp.body_len);

  nghttp2_nv nva[4 + MG_HTTP_MAX_EXTRA_HEADERS];
  size_t n = 0;
  nva[n++] = (nghttp2_nv)NV(":status", st->status_str, strlen(st->status_str));
  if (st->resp.content_type != NULL) {
    nva[n++] = (nghttp2_nv)NV("content-type", st->resp.content_type,
                              strlen(st->resp.content_type));
  }
  nva[n++] = (nghttp2_nv)NV("content-length", st->clen_str,
                            strlen(st->clen_str));
  nva[n++] = (nghttp2_nv)NV("x-request-id", st->request_id, 32);
  size_t extra = st->resp.num_extra;
  if (extra > MG_HTTP_MAX_EXTRA_HEADERS) {
    extra = MG_HTTP_MAX_EXTRA_HEADERS;
  }
  for (size_t i = 0; i < extra; i++) {
    st->resp.extra[i].name[sizeof st->resp.extra[i].name - 1] = '\0';
    st->resp.extra[i].value[sizeof st->resp.extra[i].value - 1] = '\0';
    /* RFC 9113 §8.2.1: field names are lower case on HTTP/2. */
    for (char *q = st->resp.extra[i].name; *q != '\0'; q++) {
      if (*q >= 'A' && *q <= 'Z') {
        *q = (char)(*q - 'A' + 'a');
      }
    }
    nva[n].name = nv_u8(st->resp.extra[i].name);
    nva[n].namelen = strlen(st->resp.extra[i].name);
    nva[n].value = nv_u8(st->resp.extra[i].value);
    nva[n].valuelen = strlen(st->resp.extra[i].value);
    nva[n].flags = NGHTTP2_NV_FLAG_NONE;
    n++;
  }
  nghttp2_data_provider prd;
  prd.source.ptr = st;
  prd.read_callback = resp_read;
  /* RFC 9110 §9.3.2: a response to HEAD has the headers of the GET
   * response (content-length included) and no content. */
  bool data = st->resp.body_len > 0 && !st->is_head;
  int rv = nghttp2_submit_response(c->h2, st->id, nva, n, data ? &prd : NULL);
  if (rv == 0 && data) {
    st->held = st->resp.body_len;
    c->held += st->held;
    s->held += st->held;
  }
  if (rv == 0 && !st->unsent) {
    st->unsent = true;
    c->num_unsent++;
  }
  if (rv != 0) {
    mg_log(MG_LOG_DEBUG, "submit_failed", "peer", c->peer, "request_id",
           st->request_id, "error", nghttp2_strerror(rv), (char *)NULL);
  }
  if (s->o.done != NULL) {
    mg_http_request view;
    char path[512];
    if (req == NULL) {
      stream_req_view(st, &view, path, sizeof path);
      req = &view;
    }
    uint64_t t0 = req->received_ns;
    s->o.done(s->o.arg, req, st->resp.status, st->resp.tag, now_ns() - t0);
  }
}

static void stream_problem(api_stream *st, int status, const char *code,
                           const char *title, const char *retry_after) {
  mg_http_response r;
  memset(&r, 0, sizeof r);
  mg_http_problem(&r, status, code, title, NULL, st->request_id);
  if (retry_after != NULL) {
    snprintf(r.extra[0].name, sizeof r.extra[0].name, "retry-after");
    snprintf(r.extra[0].value, sizeof r.extra[0].value, "%s", retry_after);
    r.num_extra = 1;
  }
  stream_respond(st, &r, NULL);
}

/* ------------------------------------------------------------ dispatch */

static api_job *job_from_stream(api_stream *st) {
  api_conn *c = st->c;
  api_job *j = calloc(1, sizeof *j);
  if (j == NULL) {
    return NULL;
  }
  j->s = c->s;
  j->req.defer_ctx = j;
  size_t num = 0;
  for (size_t off = 0; off < st->hbuf_len;) {
    const char *name = st->hbuf + off;
    const char *value = name + strlen(name) + 1;
    off = (size_t)(value - st->hbuf) + strlen(value) + 1;
    if (name[0] != ':') {
      num++;
    }
  }
  j->hdrs = calloc(num ? num : 1, sizeof *j->hdrs);
  if (j->hdrs == NULL) {
    free(j);
    return NULL;
  }
  if (c->subject != NULL && (j->subject = strdup(c->subject)) == NULL) {
    free(j->hdrs);
    free(j);
    return NULL;
  }
  j->hbuf = st->hbuf;
  j->hbuf_cap = st->hbuf_cap;
  st->hbuf = NULL;
  size_t hlen = st->hbuf_len;
  st->hbuf_len = st->hbuf_cap = 0;
  j->body = st->body;
  st->body = NULL;
  j->body_counted = st->body_counted;
  st->body_counted = 0;
  j->req.body = j->body != NULL ? j->body : (const uint8_t *)"";
  j->req.body_len = st->body_len;
  st->body_len = st->body_cap = 0;
  j->req.method = "";
  const char *path = "";
  size_t k = 0;
  for (size_t off = 0; off < hlen;) {
    const char *name = j->hbuf + off;
    const char *value = name + strlen(name) + 1;
    off = (size_t)(value - j->hbuf) + strlen(value) + 1;
    if (name[0] != ':') {
      j->hdrs[k].name = name;
      j->hdrs[k].value = value;
      k++;
    } else if (strcmp(name, ":method") == 0) {
      j->req.method = value;
    } else if (strcmp(name, ":path") == 0) {
      path = value;
    }
  }
  j->path = strdup(path);
  if (j->path == NULL) {
    job_release(c->s, j);
    return NULL;
  }
  char *q = strchr(j->path, '?');
  if (q != NULL) {
    *q = '\0';
    j->req.query = q + 1;
  }
  j->req.path = j->path;
  j->req.headers = j->hdrs;
  j->req.num_headers = k;
  memcpy(j->req.request_id, st->request_id, sizeof j->req.request_id);
  j->req.received_ns = st->received_ns;
  snprintf(j->peer, sizeof j->peer, "%s", c->peer);
  j->req.peer = j->peer;
  j->req.client_subject = j->subject;
  return j;
}

/* stream_dispatch hands a complete request to the workers, or answers it
 * right away (shutting down, overloaded). */
static void stream_dispatch(api_stream *st) {
  api_conn *c = st->c;
  mg_http_server *s = c->s;
  if (st->parked) {
    st->parked = false;
    c->num_parked--;
  }
  if (s->stopping) {
    stream_problem(st, 503, "shutting_down", "The server is shutting down",
                   NULL);
    return;
  }
  if (!st->has_method || !st->has_path) {
    stream_problem(st, 400, "bad_request", "Missing :method or :path", NULL);
    return;
  }
  if (c->held >= s->o.max_conn_output) {
    /* The peer does not take its responses: its next requests wait
     * (conn_unpark) instead of adding to what it holds. */
    st->parked = true;
    c->num_parked++;
    return;
  }
  pthread_mutex_lock(&s->mu);
  bool full = s->inflight >= s->o.max_queued;
  pthread_mutex_unlock(&s->mu);
  if (!full && s->held >= s->o.max_total_output) {
    full = true; /* slow readers hold too much memory already */
  }
  if (full) {
    stat_inc(&s->st.requests_rejected_overload);
    stream_problem(st, 503, "overloaded", "Too many requests in progress",
                   "1");
    return;
  }
  api_job *j = job_from_stream(st);
  if (j == NULL) {
    stat_inc(&s->st.requests_rejected_overload);
    stream_problem(st, 503, "overloaded", "Out of memory", "1");
    return;
  }
  j->st = st;
  st->job = j;
  st->unsent = true;
  st->c->num_unsent++;
  s->jobs_outstanding++;
  pthread_mutex_lock(&s->mu);
  s->inflight++;
  stat_inc(&s->st.handlers_queued);
  pthread_mutex_unlock(&s->mu);
  /* Queued for the workers at the end of this turn of the event loop
   * (flush_dispatch), with the other requests it brought. */
  j->pending = true;
  j->next = NULL;
  j->prev = s->pend_tail;
  if (s->pend_tail != NULL) {
    s->pend_tail->next = j;
  } else {
    s->pend_head = j;
  }
  s->pend_tail = j;
}

/* Workers are woken sparingly: a wake-up and a sleep cost a worker about
 * what a small request does.  Up to |eager| (the CPUs) are woken as soon
 * as there is work; beyond that one more wakes when the queue holds more
 * than QUEUE_PER_WORKER jobs per awake worker, or when its oldest job has
 * waited QUEUE_MAX_WAIT_NS (the awake workers may be blocked: a handler
 * waiting for its commit). */
#define QUEUE_PER_WORKER 4
#define QUEUE_MAX_WAIT_NS 500000u

/* wake_workers, under mu, signals the workers the queue calls for. */
static void wake_workers(mg_http_server *s, uint64_t now) {
  for (;;) {
    if (s->q_len == 0 || s->sleeping <= s->waking) {
      return;
    }
    /* Blocked workers (waiting for a commit) do not count as awake. */
    uint32_t awake = s->num_threads - s->sleeping - s->blocked + s->waking;
    bool want = awake < s->eager ||
                s->q_len > (uint64_t)awake * QUEUE_PER_WORKER ||
                now - s->q_head->queued_ns >= QUEUE_MAX_WAIT_NS;
    if (!want) {
      return;
    }
    s->waking++;
    pthread_cond_signal(&s->cv);
    if (awake >= s->eager) {
      return; /* beyond the eager ones: one at a time */
    }
  }
}

/* flush_dispatch queues the requests dispatched during this turn of the
 * event loop and wakes the workers they call for; returns whether jobs
 * wait in the queue (the loop then comes back within QUEUE_MAX_WAIT_NS). */
static bool flush_dispatch(mg_http_server *s) {
  uint64_t now = now_ns();
  uint32_t n = 0;
  for (api_job *j = s->pend_head; j != NULL; j = j->next) {
    j->pending = false;
    j->queued_ns = now;
    n++;
  }
  pthread_mutex_lock(&s->mu);
  if (s->pend_head != NULL) {
    s->pend_head->prev = s->q_tail;
    if (s->q_tail != NULL) {
      s->q_tail->next = s->pend_head;
    } else {
      s->q_head = s->pend_head;
    }
    s->q_tail = s->pend_tail;
    s->q_len += n;
    s->pend_head = s->pend_tail = NULL;
  }
  wake_workers(s, now);
  bool waiting = s->q_len > 0 && s->sleeping > s->waking;
  pthread_mutex_unlock(&s->mu);
  return waiting;
}

/* process_completions submits the responses of finished handlers. */
static void process_completions(mg_http_server *s) {
  pthread_mutex_lock(&s->mu);
  api_job *j = s->done_head;
  s->done_head = s->done_tail = NULL;
  pthread_mutex_unlock(&s->mu);
  api_conn *dirty = NULL;
  while (j != NULL) {
    api_job *next = j->next;
    s->jobs_outstanding--;
    api_stream *st = j->st;
    if (st == NULL || st->c->dead) {
      /* The stream is gone (reset, connection closed): only metrics. */
      if (st != NULL) {
        st->job = NULL;
      }
      if (s->o.done != NULL) {
        int status = j->resp.status ? j->resp.status : 500;
        s->o.done(s->o.arg, &j->req, status, j->resp.tag,
                  now_ns() - j->req.received_ns);
      }
    } else {
      st->job = NULL;
      stream_unsent_done(st); /* counted again by stream_respond */
      stream_respond(st, &j->resp, &j->req);
      if (!st->c->dirty) {
        st->c->dirty = true;
        st->c->dirty_next = dirty;
        dirty = st->c;
      }
    }
    job_release(s, j);
    j = next;
  }
  /* One write per connection for the whole batch. */
  while (dirty != NULL) {
    api_conn *c = dirty;
    dirty = c->dirty_next;
    c->dirty = false;
    conn_produce(c);
  }
}

/* ------------------------------------------------------ nghttp2 glue */

static int on_begin_headers(nghttp2_session *h2, const nghttp2_frame *f,
                            void *ud) {
  api_conn *c = ud;
  if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) {
    return 0;
  }
  api_stream *st = calloc(1, sizeof *st);
  if (st == NULL) {
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  st->c = c;
  st->id = f->hd.stream_id;
  st->begin_ns = now_ns();
  st->content_length = -1;
  request_id_new(c->s, st->request_id);
  st->next = c->streams;
  if (c->streams != NULL) {
    c->streams->prev = st;
  }
  c->streams = st;
  nghttp2_session_set_stream_user_data(h2, st->id, st);
  return 0;
}

static int hbuf_append(api_stream *st, const uint8_t *p, size_t n) {
  if (st->hbuf_len + n + 1 > st->hbuf_cap) {
    size_t cap = st->hbuf_cap ? st->hbuf_cap : 512;
    while (cap < st->hbuf_len + n + 1) {
      cap *= 2;
    }
    /* Grown by copy: the headers hold the bearer token. */
    char *nb = malloc(cap);
    if (nb == NULL) {
      return -1;
    }
    if (st->hbuf_len > 0) {
      memcpy(nb, st->hbuf, st->hbuf_len);
    }
    mg_free_secret(st->hbuf, st->hbuf_cap);
    st->hbuf = nb;
    st->hbuf_cap = cap;
  }
  memcpy(st->hbuf + st->hbuf_len, p, n);
  st->hbuf[st->hbuf_len + n] = '\0';
  st->hbuf_len += n + 1;
  return 0;
}

static int on_header(nghttp2_session *h2, const nghttp2_frame *f,
                     const uint8_t *name, size_t namelen, const uint8_t *value,
                     size_t valuelen, uint8_t flags, void *ud) {
  (void)flags;
  api_conn *c = ud;
  mg_http_server *s = c->s;
  if (f->hd.type != NGHTTP2_HEADERS) {
    return 0;
  }
  api_stream *st = nghttp2_session_get_stream_user_data(h2, f->hd.stream_id);
  if (st == NULL || st->responded) {
    return 0;
  }
  /* Trailers count toward the limits but are not kept. */
  st->num_headers++;
  st->header_bytes += namelen + valuelen + 32;
  if (st->num_headers > s->o.max_headers ||
      st->header_bytes > s->o.max_header_bytes) {
    st->headers_too_large = true;
  }
  if (st->headers_too_large || f->headers.cat != NGHTTP2_HCAT_REQUEST) {
    return 0;
  }
  if (memchr(name, '\0', namelen) != NULL ||
      memchr(value, '\0', valuelen) != NULL) {
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* nghttp2 refuses these */
  }
  if (namelen == 7 && memcmp(name, ":method", 7) == 0) {
    st->has_method = true;
    st->is_head = valuelen == 4 && memcmp(value, "HEAD", 4) == 0;
  } else if (namelen == 5 && memcmp(name, ":path", 5) == 0) {
    st->has_path = true;
  } else if (namelen == 14 && memcmp(name, "content-length", 14) == 0) {
    int64_t v = 0;
    for (size_t i = 0; i < valuelen; i++) {
      if (value[i] < '0' || value[i] > '9' || v > INT64_MAX / 20) {
        v = INT64_MAX;
        break;
      }
      v = v * 10 + (value[i] - '0');
    }
    st->content_length = v;
  }
  if (hbuf_append(st, name, namelen) < 0 ||
      hbuf_append(st, value, valuelen) < 0) {
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  return 0;
}

static int on_data_chunk(nghttp2_session *h2, uint8_t flags, int32_t id,
                         const uint8_t *data, size_t len, void *ud) {
  (void)flags;
  api_conn *c = ud;
  mg_http_server *s = c->s;
  api_stream *st = nghttp2_session_get_stream_user_data(h2, id);
  if (st == NULL || st->job != NULL) {
    return 0;
  }
  if (st->responded) {
    /* Answered early (413, 431): the rest of the body is read and dropped,
     * so that clients that finish their upload before reading (curl) see
     * the answer; past another max_body, once the answer is out, the
     * stream is reset. */
    st->discarded += len;
    if (st->discarded > s->o.max_body && !st->unsent && !st->rst_sent) {
      st->rst_sent = true;
      nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    }
    return 0;
  }
  if (len > s->o.max_body - st->body_len ||
      len > s->o.max_total_body - s->body_bytes) {
    bool too_large = len > s->o.max_body - st->body_len;
    mg_free_secret(st->body, st->body_len);
    st->body = NULL;
    st->body_len = st->body_cap = 0;
    s->body_bytes -= st->body_counted;
    st->body_counted = 0;
    if (too_large) {
      stream_problem(st, 413, "body_too_large", "Request body too large",
                     NULL);
    } else {
      /* Bodies buffered over all connections are at their cap. */
      stat_inc(&s->st.requests_rejected_overload);
      stream_problem(st, 503, "overloaded", "Too many request bodies buffered",
                     "1");
    }
    return 0;
  }
  if (st->body_len + len > st->body_cap) {
    size_t cap = st->body_cap ? st->body_cap : 1024;
    while (cap < st->body_len + len) {
      cap *= 2;
    }
    if (cap > s->o.max_body) {
      cap = s->o.max_body;
    }
    /* Grown by copy: request bodies carry plaintext, no unwiped copy is
     * left behind. */
    uint8_t *nb = malloc(cap);
    if (nb == NULL) {
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    if (st->body_len > 0) {
      memcpy(nb, st->body, st->body_len);
    }
    mg_free_secret(st->body, st->body_len);
    st->body = nb;
    st->body_cap = cap;
  }
  memcpy(st->body + st->body_len, data, len);
  st->body_len += len;
  st->body_counted += len;
  s->body_bytes += len;
  return 0;
}

static int on_frame_recv(nghttp2_session *h2, const nghttp2_frame *f,
                         void *ud) {
  api_conn *c = ud;
  mg_http_server *s = c->s;
  switch (f->hd.type) {
  case NGHTTP2_RST_STREAM:
    stat_inc(&s->st.streams_reset_by_peer);
    return 0;
  case NGHTTP2_HEADERS:
  case NGHTTP2_DATA:
    break;
  default:
    return 0;
  }
  api_stream *st = nghttp2_session_get_stream_user_data(h2, f->hd.stream_id);
  if (st == NULL || st->responded || st->job != NULL) {
    return 0;
  }
  if (f->hd.type == NGHTTP2_HEADERS && !st->headers_done) {
    st->headers_done = true;
    st->received_ns = now_ns();
    if (st->headers_too_large) {
      stream_problem(st, 431, "headers_too_large",
                     "Request header fields too large", NULL);
      return 0;
    }
    if (st->content_length > (int64_t)s->o.max_body) {
      stream_problem(st, 413, "body_too_large", "Request body too large",
                     NULL);
      return 0;
    }
  }
  if (f->hd.type == NGHTTP2_HEADERS && st->headers_too_large) {
    /* Oversized trailers. */
    stream_problem(st, 431, "headers_too_large",
                   "Request header fields too large", NULL);
    return 0;
  }
  if (f->hd.flags & NGHTTP2_FLAG_END_STREAM) {
    stream_dispatch(st);
  }
  return 0;
}

static int on_frame_send(nghttp2_session *h2, const nghttp2_frame *f,
                         void *ud) {
  api_conn *c = ud;
  if (f->hd.type == NGHTTP2_GOAWAY) {
    if (f->goaway.error_code != NGHTTP2_NO_ERROR) {
      stat_inc(&c->s->st.protocol_errors);
      mg_log(MG_LOG_DEBUG, "goaway", "peer", c->peer, "error",
             nghttp2_http2_strerror(f->goaway.error_code), (char *)NULL);
    }
    return 0;
  }
  if ((f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) ||
      !(f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
    return 0;
  }
  api_stream *st = nghttp2_session_get_stream_user_data(h2, f->hd.stream_id);
  if (st == NULL) {
    return 0;
  }
  stream_unsent_done(st);
  if (st->early && st->discarded > c->s->o.max_body && !st->rst_sent &&
      !nghttp2_session_get_stream_remote_close(h2, st->id)) {
    st->rst_sent = true;
    nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_CANCEL);
  }
  return 0;
}

static void stream_free(api_stream *st) {
  mg_free_secret(st->hbuf, st->hbuf_cap);
  mg_free_secret(st->body, st->body_len);
  mg_free_secret(st->resp.body, st->resp.body_len);
  free(st);
}

static void stream_unlink(api_stream *st) {
  api_conn *c = st->c;
  if (st->prev != NULL) {
    st->prev->next = st->next;
  } else {
    c->streams = st->next;
  }
  if (st->next != NULL) {
    st->next->prev = st->prev;
  }
  if (st->job != NULL) {
    job_detach(c->s, st->job);
    st->job = NULL;
  }
  stream_unsent_done(st);
  c->held -= st->held;
  c->s->held -= st->held;
  st->held = 0;
  c->s->body_bytes -= st->body_counted;
  st->body_counted = 0;
  if (st->parked) {
    st->parked = false;
    c->num_parked--;
  }
}

static int on_stream_close(nghttp2_session *h2, int32_t id, uint32_t code,
                           void *ud) {
  (void)code;
  (void)ud;
  api_stream *st = nghttp2_session_get_stream_user_data(h2, id);
  if (st == NULL) {
    return 0;
  }
  nghttp2_session_set_stream_user_data(h2, id, NULL);
  stream_unlink(st);
  stream_free(st);
  return 0;
}

/* ---------------------------------------------------------- connections */

static void conn_free(api_conn *c) {
  if (c->h2 != NULL) {
    /* nghttp2_session_del calls no stream-close callback. */
    nghttp2_session_del(c->h2);
  }
  while (c->streams != NULL) {
    api_stream *st = c->streams;
    stream_unlink(st);
    stream_free(st);
  }
  if (c->ssl != NULL) {
    SSL_free(c->ssl);
  }
  if (c->fd >= 0) {
    close(c->fd);
  }
  mg_free_secret(c->wbuf, c->wcap);
  free(c->subject);
  free(c);
}

/* conn_close takes the connection out of the loop; it is freed at the end
 * of the loop iteration (events of this batch may still name it). */
static void conn_close(api_conn *c, const char *why) {
  if (c->dead) {
    return;
  }
  mg_http_server *s = c->s;
  c->dead = true;
  mg_log(MG_LOG_DEBUG, "connection_closed", "peer", c->peer, "reason", why,
         (char *)NULL);
  epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
  /* Queued jobs of its streams are dropped; running ones finish, and
   * their completions find no stream. */
  for (api_stream *st = c->streams; st != NULL; st = st->next) {
    if (st->job != NULL) {
      job_detach(s, st->job);
      st->job = NULL;
    }
  }
  if (c->prev != NULL) {
    c->prev->next = c->next;
  } else {
    s->conns = c->next;
  }
  if (c->next != NULL) {
    c->next->prev = c->prev;
  }
  c->prev = NULL;
  c->next = s->dead;
  s->dead = c;
  stat_dec(&s->st.connections_open);
}

static void free_dead(mg_http_server *s) {
  while (s->dead != NULL) {
    api_conn *c = s->dead;
    s->dead = c->next;
    conn_free(c);
  }
}

/* conn_start_h2 creates the nghttp2 session and queues our SETTINGS. */
static int conn_start_h2(api_conn *c) {
  mg_http_server *s = c->s;
  if (nghttp2_session_server_new2(&c->h2, s->cbs, c, s->h2opt) != 0) {
    c->h2 = NULL;
    return -1;
  }
  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, s->o.max_streams},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)s->o.max_header_bytes},
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
  };
  if (nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv,
                              MG_ARRAY_LEN(iv)) != 0) {
    return -1;
  }
  if (s->stopping) {
    nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR, NULL,
                          0);
    c->goaway = true;
  }
  return 0;
}

static void conn_handshake(api_conn *c) {
  mg_http_server *s = c->s;
  ERR_clear_error();
  int r = SSL_do_handshake(c->ssl);
  if (r != 1) {
    int e = SSL_get_error(c->ssl, r);
    uint32_t ev = e == SSL_ERROR_WANT_WRITE ? EPOLLOUT : EPOLLIN;
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
      if (ev != c->events) {
        struct epoll_event ee = {.events = ev, .data.ptr = c};
        if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &ee) == 0) {
          c->events = ev;
        }
      }
      return;
    }
    char why[160];
    unsigned long err = ERR_peek_error();
    snprintf(why, sizeof why, "tls handshake failed: %s",
             err ? ERR_reason_error_string(err) : "connection closed");
    if (why[sizeof "tls handshake failed: " - 1] == '\0') {
      snprintf(why, sizeof why, "tls handshake failed");
    }
    mg_log(MG_LOG_DEBUG, "tls_handshake_failed", "peer", c->peer, "error",
           why, (char *)NULL);
    conn_close(c, "tls handshake failed");
    return;
  }
  const unsigned char *alpn = NULL;
  unsigned int alpn_len = 0;
  SSL_get0_alpn_selected(c->ssl, &alpn, &alpn_len);
  if (alpn_len != 2 || memcmp(alpn, "h2", 2) != 0) {
    conn_close(c, "no ALPN h2");
    return;
  }
  X509 *peer = SSL_get0_peer_certificate(c->ssl);
  if (peer != NULL) {
    char *line = X509_NAME_oneline(X509_get_subject_name(peer), NULL, 0);
    if (line != NULL) {
      c->subject = strdup(line);
      OPENSSL_free(line);
    }
  }
  if (conn_start_h2(c) < 0) {
    conn_close(c, "out of memory");
    return;
  }
  c->events = 0; /* let conn_update_events register the real mask */
  struct epoll_event ee = {.events = EPOLLIN, .data.ptr = c};
  if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &ee) == 0) {
    c->events = EPOLLIN;
  }
}

/* conn_read reads and feeds nghttp2 until EAGAIN, the read budget, or
 * output backs up. */
static void conn_read(api_conn *c) {
  uint8_t buf[16384];
  size_t total = 0;
  while (!c->dead && !c->paused && total < READ_BUDGET) {
    ssize_t n;
    if (c->ssl != NULL) {
      ERR_clear_error();
      int r = SSL_read(c->ssl, buf, sizeof buf);
      if (r <= 0) {
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ) {
          break;
        }
        if (e == SSL_ERROR_WANT_WRITE) {
          break; /* the flush will carry it */
        }
        conn_close(c, e == SSL_ERROR_ZERO_RETURN ? "peer closed"
                                                 : "tls read failed");
        return;
      }
      n = r;
    } else {
      n = recv(c->fd, buf, sizeof buf, 0);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          break;
        }
        if (errno == EINTR) {
          continue;
        }
        conn_close(c, "read failed");
        return;
      }
      if (n == 0) {
        conn_close(c, "peer closed");
        return;
      }
    }
    total += (size_t)n;
    c->last_ns = now_ns();
    ssize_t rv = nghttp2_session_mem_recv(c->h2, buf, (size_t)n);
    if (rv < 0) {
      stat_inc(&c->s->st.protocol_errors);
      mg_log(MG_LOG_DEBUG, "protocol_error", "peer", c->peer, "error",
             nghttp2_strerror((int)rv), (char *)NULL);
      /* Send what nghttp2 queued (a GOAWAY) on a best-effort basis. */
      conn_produce(c);
      conn_close(c, nghttp2_strerror((int)rv));
      return;
    }
    if (conn_produce(c) < 0) {
      return;
    }
  }
}

static void conn_event(api_conn *c, uint32_t ev) {
  if (c->dead) {
    return;
  }
  if (ev & (EPOLLERR | EPOLLHUP)) {
    if (!(ev & EPOLLIN)) {
      conn_close(c, "socket error");
      return;
    }
  }
  if (c->h2 == NULL) {
    conn_handshake(c);
    if (c->dead || c->h2 == NULL) {
      return;
    }
    /* The handshake may have read application data into libssl. */
    ev |= EPOLLIN;
  }
  if (c->woff < c->wlen) {
    bool was_paused = c->paused;
    if (conn_flush(c) < 0) {
      return;
    }
    if (c->woff == c->wlen) {
      c->paused = false;
      if (was_paused) {
        ev |= EPOLLIN; /* libssl may hold bytes epoll does not see */
      }
    }
  }
  if (conn_produce(c) < 0) {
    return;
  }
  if ((ev & EPOLLIN) || c->ssl != NULL) {
    conn_read(c);
  }
  if (!c->dead) {
    conn_update_events(c);
  }
}

static void do_accept(mg_http_server *s) {
  for (int i = 0; i < 64; i++) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int fd = accept4(s->lfd, (struct sockaddr *)&ss, &sl,
                     SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
          errno == ECONNABORTED) {
        return;
      }
      /* EMFILE and the like: stop polling the listener for a tick. */
      uint64_t t = now_ns();
      if (t - s->last_accept_err_ns > 1000000000u) {
        mg_log(MG_LOG_WARN, "accept_failed", "error", strerror(errno),
               (char *)NULL);
        s->last_accept_err_ns = t;
      }
      epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->lfd, NULL);
      s->listening = false;
      return;
    }
    if (atomic_load(&s->st.connections_open) >= s->o.max_connections) {
      stat_inc(&s->st.connections_rejected);
      close(fd);
      continue;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    api_conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
      close(fd);
      continue;
    }
    c->s = s;
    c->fd = fd;
    c->accepted_ns = c->last_ns = now_ns();
    format_addr((struct sockaddr *)&ss, c->peer, sizeof c->peer);
    bool ok = true;
    if (s->ssl_ctx != NULL) {
      c->ssl = SSL_new(s->ssl_ctx);
      ok = c->ssl != NULL && SSL_set_fd(c->ssl, fd) == 1;
      if (ok) {
        SSL_set_accept_state(c->ssl);
        SSL_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
                                 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
      }
    } else {
      ok = conn_start_h2(c) == 0;
    }
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
    if (!ok || epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &e) != 0) {
      if (c->h2 != NULL) {
        nghttp2_session_del(c->h2);
      }
      if (c->ssl != NULL) {
        SSL_free(c->ssl);
      }
      close(fd);
      free(c);
      continue;
    }
    c->events = EPOLLIN;
    c->next = s->conns;
    if (s->conns != NULL) {
      s->conns->prev = c;
    }
    s->conns = c;
    stat_inc(&s->st.connections_open);
    stat_inc(&s->st.connections_total);
    if (c->h2 != NULL) {
      conn_produce(c); /* our SETTINGS */
    }
  }
}

/* ------------------------------------------------------------- timers */

static void check_timeouts(mg_http_server *s) {
  uint64_t t = now_ns();
  uint64_t idle = (uint64_t)s->o.idle_timeout_ms * 1000000u;
  uint64_t hdr = (uint64_t)s->o.header_timeout_ms * 1000000u;
  for (api_conn *c = s->conns, *next; c != NULL; c = next) {
    next = c->next;
    if (c->h2 == NULL) {
      /* TLS handshake: bounded by the header timeout. */
      if (t - c->accepted_ns > hdr) {
        conn_close(c, "tls handshake timeout");
      }
      continue;
    }
    bool busy = false;
    for (api_stream *st = c->streams; st != NULL; st = st->next) {
      if (st->job != NULL) {
        busy = true;
      }
      if (st->job == NULL && !st->rst_sent && t - st->begin_ns > hdr &&
          !nghttp2_session_get_stream_remote_close(c->h2, st->id)) {
        /* Headers or body still incomplete (answered early or not). */
        nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, st->id,
                                  NGHTTP2_CANCEL);
        st->rst_sent = true;
        st->responded = true; /* no later dispatch */
        mg_log(MG_LOG_DEBUG, "request_timeout", "peer", c->peer,
               "request_id", st->request_id, (char *)NULL);
      }
    }
    if (!busy && t - c->last_ns > idle) {
      conn_close(c, "idle timeout");
      continue;
    }
    conn_produce(c);
  }
}

/* ------------------------------------------------------------ lifetime */

static int alpn_select(SSL *ssl, const unsigned char **out,
                       unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg) {
  (void)ssl;
  (void)arg;
  static const unsigned char h2[] = {2, 'h', '2'};
  unsigned char *sel = NULL;
  if (SSL_select_next_proto(&sel, outlen, h2, sizeof h2, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_ALERT_FATAL; /* RFC 7301 §3.2 no_application_protocol */
  }
  *out = sel;
  return SSL_TLSEXT_ERR_OK;
}

static int tls_setup(mg_http_server *s) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == NULL) {
    return MG_ERR_NOMEM;
  }
  s->ssl_ctx = ctx;
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1) {
    return MG_ERR_IO;
  }
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  /* No session tickets: every connection does a full handshake (and a
   * client certificate is always checked afresh). */
  SSL_CTX_set_num_tickets(ctx, 0);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  if (SSL_CTX_use_certificate_chain_file(ctx, s->cert_copy) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, s->key_copy, SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    mg_log(MG_LOG_ERROR, "tls_config_failed", "error",
           "certificate or key does not load", (char *)NULL);
    return MG_ERR_IO;
  }
  if (s->ca_copy != NULL) {
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(s->ca_copy);
    if (names == NULL ||
        SSL_CTX_load_verify_locations(ctx, s->ca_copy, NULL) != 1) {
      if (names != NULL) {
        sk_X509_NAME_pop_free(names, X509_NAME_free);
      }
      mg_log(MG_LOG_ERROR, "tls_config_failed", "error",
             "client CA file does not load", (char *)NULL);
      return MG_ERR_IO;
    }
    SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                       NULL);
  }
  SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
  ERR_clear_error();
  return 0;
}

static int h2_setup(mg_http_server *s) {
  if (nghttp2_session_callbacks_new(&s->cbs) != 0 ||
      nghttp2_option_new(&s->h2opt) != 0) {
    return MG_ERR_NOMEM;
  }
  nghttp2_session_callbacks_set_on_begin_headers_callback(s->cbs,
                                                          on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(s->cbs, on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(s->cbs,
                                                            on_data_chunk);
  nghttp2_session_callbacks_set_on_frame_recv_callback(s->cbs, on_frame_recv);
  nghttp2_session_callbacks_set_on_frame_send_callback(s->cbs, on_frame_send);
  nghttp2_session_callbacks_set_on_stream_close_callback(s->cbs,
                                                         on_stream_close);
  nghttp2_option *o = s->h2opt;
  nghttp2_option_set_no_closed_streams(o, 1);
  nghttp2_option_set_max_outbound_ack(o, MAX_OUTBOUND_ACK);
  nghttp2_option_set_max_settings(o, 16);
  nghttp2_option_set_max_send_header_block_length(o, 16384);
  nghttp2_option_set_max_deflate_dynamic_table_size(o, 4096);
  /* Debian 12's libnghttp2 1.52.0-1+deb12u1 and later carry the backported
   * Rapid Reset (CVE-2023-44487) and CONTINUATION flood (CVE-2024-28182)
   * limits. */
  nghttp2_option_set_stream_reset_rate_limit(o, RST_BURST, RST_RATE);
  nghttp2_option_set_max_continuations(o, 8);
  return 0;
}

static int listen_setup(mg_http_server *s) {
  char host[INET6_ADDRSTRLEN + 2];
  const char *l = s->listen_copy;
  const char *colon = strrchr(l, ':');
  if (colon == NULL || colon == l || colon[1] == '\0') {
    return MG_ERR_INVALID_ARG;
  }
  size_t hl = (size_t)(colon - l);
  if (l[0] == '[') {
    if (hl < 3 || l[hl - 1] != ']') {
      return MG_ERR_INVALID_ARG;
    }
    l++;
    hl -= 2;
  }
  if (hl >= sizeof host) {
    return MG_ERR_INVALID_ARG;
  }
  memcpy(host, l, hl);
  host[hl] = '\0';
  for (const char *p = colon + 1; *p; p++) {
    if (*p < '0' || *p > '9' || p - colon > 5) {
      return MG_ERR_INVALID_ARG;
    }
  }
  if (atoi(colon + 1) > 65535) {
    return MG_ERR_INVALID_ARG;
  }
  struct addrinfo hints, *ai = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(host, colon + 1, &hints, &ai) != 0 || ai == NULL) {
    return MG_ERR_INVALID_ARG;
  }
  int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    freeaddrinfo(ai);
    return MG_ERR_IO;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 511) != 0) {
    mg_log(MG_LOG_ERROR, "listen_failed", "address", s->listen_copy, "error",
           strerror(errno), (char *)NULL);
    freeaddrinfo(ai);
    close(fd);
    return MG_ERR_IO;
  }
  freeaddrinfo(ai);
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
    close(fd);
    return MG_ERR_IO;
  }
  format_addr((struct sockaddr *)&ss, s->addr, sizeof s->addr);
  s->lfd = fd;
  return 0;
}

static char *dup_opt(const char *p, bool *fail) {
  if (p == NULL) {
    return NULL;
  }
  char *d = strdup(p);
  if (d == NULL) {
    *fail = true;
  }
  return d;
}

int mg_http_server_new(mg_http_server **out, const mg_http_server_options *o) {
  int rc = 0;
  MG_ENSURE_REF(out);
  *out = NULL;
  MG_ENSURE_REF(o);
  MG_ENSURE(o->handler != NULL && o->listen != NULL, MG_ERR_INVALID_ARG);
  MG_ENSURE((o->tls_cert == NULL) == (o->tls_key == NULL), MG_ERR_INVALID_ARG);
  MG_ENSURE(o->client_ca == NULL || o->tls_cert != NULL, MG_ERR_INVALID_ARG);
  MG_ENSURE(o->max_body > 0 && o->max_header_bytes > 0 && o->max_headers > 0 &&
                o->max_streams > 0 && o->max_connections > 0 &&
                o->workers > 0 && o->max_queued > 0 &&
                o->max_conn_output > 0 && o->max_total_output > 0 &&
                o->max_total_body > 0 &&
                o->max_header_bytes <= UINT32_MAX,
            MG_ERR_INVALID_ARG);
  mg_http_server *s = calloc(1, sizeof *s);
  if (s == NULL) {
    return MG_ERR_NOMEM;
  }
  s->lfd = s->epfd = s->stop_fd = s->wake_fd = -1;
  s->o = *o;
  s->rnd_off = sizeof s->rnd;
  bool fail = false;
  s->listen_copy = dup_opt(o->listen, &fail);
  s->cert_copy = dup_opt(o->tls_cert, &fail);
  s->key_copy = dup_opt(o->tls_key, &fail);
  s->ca_copy = dup_opt(o->client_ca, &fail);
  if (fail) {
    MG_FAIL(MG_ERR_NOMEM);
  }
  s->o.listen = s->listen_copy;
  s->o.tls_cert = s->cert_copy;
  s->o.tls_key = s->key_copy;
  s->o.client_ca = s->ca_copy;
  if (pthread_mutex_init(&s->mu, NULL) != 0) {
    MG_FAIL(MG_ERR_NOMEM);
  }
  if (pthread_cond_init(&s->cv, NULL) != 0) {
    pthread_mutex_destroy(&s->mu);
    MG_FAIL(MG_ERR_NOMEM);
  }
  if (pthread_cond_init(&s->deferred_cv, NULL) != 0) {
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    MG_FAIL(MG_ERR_NOMEM);
  }
  s->mu_init = true;
  MG_CHECK(h2_setup(s));
  if (s->cert_copy != NULL) {
    MG_CHECK(tls_setup(s));
  }
  MG_CHECK(listen_setup(s));
  s->epfd = epoll_create1(EPOLL_CLOEXEC);
  s->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (s->epfd < 0 || s->stop_fd < 0 || s->wake_fd < 0) {
    MG_FAIL(MG_ERR_IO);
  }
  struct epoll_event e = {.events = EPOLLIN, .data.ptr = &tag_listen};
  if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->lfd, &e) != 0) {
    MG_FAIL(MG_ERR_IO);
  }
  s->listening = true;
  e.data.ptr = &tag_stop;
  if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->stop_fd, &e) != 0) {
    MG_FAIL(MG_ERR_IO);
  }
  e.data.ptr = &tag_wake;
  if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->wake_fd, &e) != 0) {
    MG_FAIL(MG_ERR_IO);
  }
  s->threads = calloc(o->workers, sizeof *s->threads);
  if (s->threads == NULL) {
    MG_FAIL(MG_ERR_NOMEM);
  }
  s->hooks.begin = worker_block_begin;
  s->hooks.end = worker_block_end;
  s->hooks.arg = s;
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  s->eager = cpus < 1 ? 1 : cpus > (long)o->workers ? o->workers : (uint32_t)cpus;
  for (uint32_t i = 0; i < o->workers; i++) {
    if (pthread_create(&s->threads[i], NULL, worker_main, s) != 0) {
      MG_FAIL(MG_ERR_NOMEM);
    }
    s->num_threads++;
  }
  *out = s;
  return 0;
out:
  mg_http_server_free(s);
  return rc;
}

const char *mg_http_server_address(const mg_http_server *s) {
  return s->addr;
}

void mg_http_server_stop(mg_http_server *s) {
  int saved = errno;
  uint64_t one = 1;
  ssize_t n = write(s->stop_fd, &one, sizeof one);
  (void)n;
  errno = saved;
}

/* begin_shutdown: stop accepting, GOAWAY everywhere (RFC 9113 §6.8: the
 * last stream ID we process, so the peer knows what to retry). */
static void begin_shutdown(mg_http_server *s) {
  s->stopping = true;
  s->deadline_ns = now_ns() + (uint64_t)s->o.shutdown_grace_ms * 1000000u;
  if (s->lfd >= 0) {
    epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->lfd, NULL);
    close(s->lfd);
    s->lfd = -1;
    s->listening = false;
  }
  mg_log(MG_LOG_NOTICE, "shutdown", "address", s->addr, "phase", "draining",
         (char *)NULL);
  for (api_conn *c = s->conns, *next; c != NULL; c = next) {
    next = c->next;
    if (c->h2 == NULL) {
      conn_close(c, "shutdown");
      continue;
    }
    nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(c->h2),
                          NGHTTP2_NO_ERROR, NULL, 0);
    c->goaway = true;
    /* Parked requests never started: 503 shutting_down. */
    for (api_stream *st = c->streams; st != NULL; st = st->next) {
      if (st->parked) {
        stream_dispatch(st);
      }
    }
    conn_produce(c);
  }
}

/* drained: every handler's response went out; closes connections that
 * have nothing left to send. */
static bool drained(mg_http_server *s) {
  for (api_conn *c = s->conns, *next; c != NULL; c = next) {
    next = c->next;
    if (c->num_unsent == 0 && c->woff == c->wlen &&
        (c->h2 == NULL || !nghttp2_session_want_write(c->h2))) {
      conn_close(c, "shutdown");
    }
  }
  return s->conns == NULL && s->jobs_outstanding == 0;
}

int mg_http_server_run(mg_http_server *s) {
  MG_ENSURE_REF(s);
  /* libssl writes with write(2): a peer gone away must not kill us. */
  sigset_t pipe_set, old_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);

  mg_log(MG_LOG_NOTICE, "listening", "address", s->addr, "tls",
         s->ssl_ctx != NULL ? "on" : "off", "client_auth",
         s->ca_copy != NULL ? "on" : "off", (char *)NULL);
  struct epoll_event evs[64];
  uint64_t last_tick = now_ns();
  bool queue_waiting = false;
  for (;;) {
    /* Jobs waiting for a worker that may need waking: back in 1 ms. */
    int n = epoll_wait(s->epfd, evs, (int)MG_ARRAY_LEN(evs),
                       queue_waiting ? 1 : TICK_MS);
    if (n < 0 && errno != EINTR) {
      mg_log(MG_LOG_ERROR, "epoll_failed", "error", strerror(errno),
             (char *)NULL);
      break;
    }
    for (int i = 0; i < n; i++) {
      void *p = evs[i].data.ptr;
      if (p == &tag_listen) {
        if (s->lfd >= 0) {
          do_accept(s);
        }
      } else if (p == &tag_stop) {
        uint64_t v;
        ssize_t r = read(s->stop_fd, &v, sizeof v);
        (void)r;
        if (!s->stopping) {
          begin_shutdown(s);
        }
      } else if (p == &tag_wake) {
        uint64_t v;
        ssize_t r = read(s->wake_fd, &v, sizeof v);
        (void)r;
        process_completions(s);
      } else {
        conn_event(p, evs[i].events);
      }
    }
    free_dead(s);
    queue_waiting = flush_dispatch(s);
    mg_log_flush(); /* this turn's access lines (mg_log_set_buffered) */
    uint64_t t = now_ns();
    if (t - last_tick >= (uint64_t)TICK_MS * 1000000u) {
      last_tick = t;
      if (!s->listening && s->lfd >= 0) {
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = &tag_listen};
        if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->lfd, &e) == 0) {
          s->listening = true;
        }
      }
      check_timeouts(s);
      free_dead(s);
    }
    if (s->stopping) {
      bool done = drained(s);
      free_dead(s);
      if (done || t > s->deadline_ns) {
        break;
      }
    }
  }
  (void)flush_dispatch(s);
  /* Past the grace period (or drained): close what is left.  Handlers
   * still running finish into the completion list, freed by _free. */
  while (s->conns != NULL) {
    conn_close(s->conns, "shutdown");
  }
  free_dead(s);
  mg_log(MG_LOG_NOTICE, "shutdown", "address", s->addr, "phase", "done",
         (char *)NULL);

  struct timespec zero = {0, 0};
  while (sigtimedwait(&pipe_set, NULL, &zero) == SIGPIPE) {
  }
  pthread_sigmask(SIG_SETMASK, &old_set, NULL);
  return 0;
}

void mg_http_server_free(mg_http_server *s) {
  if (s == NULL) {
    return;
  }
  if (s->mu_init) {
    pthread_mutex_lock(&s->mu);
    s->workers_exit = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
  }
  for (uint32_t i = 0; i < s->num_threads; i++) {
    pthread_join(s->threads[i], NULL);
  }
  free(s->threads);
  if (s->mu_init) {
    /* Deferred answers still pending (their operations finish on other
     * threads) land in the completion list before it is freed. */
    pthread_mutex_lock(&s->mu);
    while (s->deferred > 0) {
      pthread_cond_wait(&s->deferred_cv, &s->mu);
    }
    pthread_mutex_unlock(&s->mu);
  }
  /* Without run() (or after it), no connection is left; free them anyway. */
  while (s->conns != NULL) {
    conn_close(s->conns, "free");
  }
  free_dead(s);
  for (api_job *j = s->q_head, *next; j != NULL; j = next) {
    next = j->next;
    job_free(j);
  }
  for (api_job *j = s->done_head, *next; j != NULL; j = next) {
    next = j->next;
    job_free(j);
  }
  if (s->mu_init) {
    pthread_cond_destroy(&s->deferred_cv);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
  }
  if (s->cbs != NULL) {
    nghttp2_session_callbacks_del(s->cbs);
  }
  if (s->h2opt != NULL) {
    nghttp2_option_del(s->h2opt);
  }
  if (s->ssl_ctx != NULL) {
    SSL_CTX_free(s->ssl_ctx);
  }
  if (s->lfd >= 0) {
    close(s->lfd);
  }
  if (s->epfd >= 0) {
    close(s->epfd);
  }
  if (s->stop_fd >= 0) {
    close(s->stop_fd);
  }
  if (s->wake_fd >= 0) {
    close(s->wake_fd);
  }
  free(s->listen_copy);
  free(s->cert_copy);
  free(s->key_copy);
  free(s->ca_copy);
  free(s);
}

void mg_http_server_stats(const mg_http_server *s, mg_http_stats *out) {
  mg_http_server *m = (mg_http_server *)(uintptr_t)s;
  out->connections_open = atomic_load(&m->st.connections_open);
  out->connections_total = atomic_load(&m->st.connections_total);
  out->connections_rejected = atomic_load(&m->st.connections_rejected);
  out->streams_reset_by_peer = atomic_load(&m->st.streams_reset_by_peer);
  out->requests_rejected_overload =
      atomic_load(&m->st.requests_rejected_overload);
  out->handlers_running = atomic_load(&m->st.handlers_running);
  out->handlers_queued = atomic_load(&m->st.handlers_queued);
  out->protocol_errors = atomic_load(&m->st.protocol_errors);
}
