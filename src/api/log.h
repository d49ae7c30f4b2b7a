/*
 * JSON-lines logging of mlsgated (src/api/log.c): one object per line on
 * stderr, {"ts":"2026-11-27T16:00:00.123Z","level":"info","event":...,
 * <fields>}.  Fields are string pairs, escaped; callers never pass
 * plaintext, keys or tokens (request IDs, routes, statuses, key IDs,
 * durations only).  Thread-safe: each line is one write(2), or part of
 * one write of whole buffered lines.
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

/* mg_log_set_buffered(1) gathers debug and info lines (the access log)
 * in a buffer of LOG_BUFFER_BYTES, written by mg_log_flush or when full;
 * a warn, error or notice line is written at once, after what the buffer
 * holds (lines keep their order).  mg_log_set_buffered(0), the default,
 * writes every line at once (and first what the buffer holds).  The
 * server flushes at the end of every turn of its event loop, so a line is
 * written within a turn of being logged; a crash loses at most that. */
void mg_log_set_buffered(int on);
void mg_log_flush(void);

/* mg_log writes one line: |event| and then NULL-terminated pairs of
 * (name, value) strings, e.g.
 *   mg_log(MG_LOG_INFO, "listening", "address", addr, (char *)NULL); */
void mg_log(mg_log_level lvl, const char *event, ...);

#endif
