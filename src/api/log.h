/*
 * JSON-lines logging of mlsgated (src/api/log.c): one object per line on
 * stderr, {"ts":"2026-11-27T16:00:00.123Z","level":"info","event":...,
 * <fields>}.  Fields are string pairs, escaped; callers never pass
 * plaintext, keys or tokens (request IDs, routes, statuses, key IDs,
 * durations only).  Thread-safe: each line is one write(2).
 */
#ifndef MG_HEADER_API_LOG_H
#define MG_HEADER_API_LOG_H

typedef enum mg_log_level {
  MG_LOG_DEBUG = 0,
  MG_LOG_INFO = 1,
  MG_LOG_WARN = 2,
  MG_LOG_ERROR = 3,
  /* Lifecycle lines (listening, shutdown, stopped): never filtered, so
   * that a daemon run with --log-level warn still says where it listens. */
  MG_LOG_NOTICE = 4
} mg_log_level;

/* mg_log_set_level drops lines below |lvl| (default info); mg_log_set_fd
 * sends them to |fd| (default 2). */
void mg_log_set_level(mg_log_level lvl);
void mg_log_set_fd(int fd);

/* mg_log writes one line: |event| and then NULL-terminated pairs of
 * (name, value) strings, e.g.
 *   mg_log(MG_LOG_INFO, "listening", "address", addr, (char *)NULL); */
void mg_log(mg_log_level lvl, const char *event, ...);

#endif
