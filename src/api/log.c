/*
 * JSON-lines logging (contract: log.h).
 *
 * A line is built in a buffer on the stack and written with one write(2)
 * (or gathered with others and written with them, see
 * mg_log_set_buffered), so that lines of concurrent threads never
 * interleave (a write of at most PIPE_BUF bytes to a pipe is atomic; to a file or terminal a single write
 * is not split by other writers in practice).  A field that would not fit
 * is cut and marked with "...": a log line is never dropped for its length.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/log.h"

#define LOG_LINE_MAX 4096
/* Room kept at the end of the line for the closing "}\n" and a cut mark. */
#define LOG_TAIL 8

static atomic_int log_level = MG_LOG_INFO;
static atomic_int log_fd = 2;

void mg_log_set_level(mg_log_level lvl) {
  atomic_store(&log_level, (int)lvl);
}

void mg_log_set_fd(int fd) {
  mg_log_flush(); /* what was logged before goes where it was meant to */
  atomic_store(&log_fd, fd);
}

/* The buffer of debug and info lines (mg_log_set_buffered).  Log lines
 * never carry secrets, so nothing here is wiped. */
#define LOG_BUFFER_BYTES 16384
static pthread_mutex_t buf_mu = PTHREAD_MUTEX_INITIALIZER;
static char buf_data[LOG_BUFFER_BYTES];
static size_t buf_len;             /* under buf_mu */
static atomic_int buf_on;          /* buffering enabled */
static atomic_int buf_pending;     /* buf_len > 0, read without the lock */

static void write_all(const char *p, size_t left) {
  int fd = atomic_load(&log_fd);
  while (left > 0) {
    ssize_t n = write(fd, p, left);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;
    }
    p += n;
    left -= (size_t)n;
  }
}

/* Under buf_mu. */
static void buf_drain(void) {
  if (buf_len > 0) {
    write_all(buf_data, buf_len);
    buf_len = 0;
    atomic_store(&buf_pending, 0);
  }
}

void mg_log_flush(void) {
  if (!atomic_load(&buf_pending)) {
    return;
  }
  int saved_errno = errno;
  pthread_mutex_lock(&buf_mu);
  buf_drain();
  pthread_mutex_unlock(&buf_mu);
  errno = saved_errno;
}

void mg_log_set_buffered(int on) {
  atomic_store(&buf_on, on != 0);
  if (!on) {
    mg_log_flush();
  }
}

/* emit writes one finished line: into the buffer (debug and info lines
 * while buffering), or at once after what the buffer holds. */
static void emit(mg_log_level lvl, const char *line, size_t len) {
  bool buffer = atomic_load(&buf_on) &&
                (lvl == MG_LOG_DEBUG || lvl == MG_LOG_INFO);
  if (!buffer && !atomic_load(&buf_pending)) {
    write_all(line, len); /* nothing buffered to keep ahead of it */
    return;
  }
  pthread_mutex_lock(&buf_mu);
  if (!buffer || len > LOG_BUFFER_BYTES - buf_len) {
    buf_drain();
  }
  if (buffer && len <= LOG_BUFFER_BYTES - buf_len) {
    memcpy(buf_data + buf_len, line, len);
    buf_len += len;
    atomic_store(&buf_pending, 1);
  } else {
    write_all(line, len);
  }
  pthread_mutex_unlock(&buf_mu);
}

typedef struct log_buf {
  char b[LOG_LINE_MAX];
  size_t len;
  int cut; /* something did not fit */
} log_buf;

/* lb_raw appends |n| bytes, or nothing and marks the line cut. */
static void lb_raw(log_buf *lb, const char *s, size_t n) {
  if (lb->cut) {
    return;
  }
  if (n > LOG_LINE_MAX - LOG_TAIL - lb->len) {
    lb->cut = 1;
    return;
  }
  memcpy(lb->b + lb->len, s, n);
  lb->len += n;
}

/* lb_str appends |s| as a JSON string (RFC 8259 §7): quotes, backslashes
 * and control characters escaped; other bytes copied as they are.  A
 * string that does not fit ends with "..." and is still closed; one that
 * cannot even start leaves the line unchanged (and cut). */
static void lb_str(log_buf *lb, const char *s) {
  static const char hex[] = "0123456789abcdef";
  if (lb->cut) {
    return;
  }
  if (LOG_LINE_MAX - LOG_TAIL - lb->len < 6) {
    lb->cut = 1;
    return;
  }
  lb->b[lb->len++] = '"';
  /* Invariant: at least 4 bytes of room remain (for "...\""). */
  for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
    char esc[6];
    size_t n = 2;
    esc[0] = '\\';
    switch (*p) {
    case '"':
      esc[1] = '"';
      break;
    case '\\':
      esc[1] = '\\';
      break;
    case '\n':
      esc[1] = 'n';
      break;
    case '\r':
      esc[1] = 'r';
      break;
    case '\t':
      esc[1] = 't';
      break;
    default:
      if (*p < 0x20 || *p == 0x7f) {
        memcpy(esc, "\\u00", 4);
        esc[4] = hex[*p >> 4];
        esc[5] = hex[*p & 15];
        n = 6;
      } else {
        esc[0] = (char)*p;
        n = 1;
      }
      break;
    }
    if (n + 4 > LOG_LINE_MAX - LOG_TAIL - lb->len) {
      memcpy(lb->b + lb->len, "...\"", 4);
      lb->len += 4;
      lb->cut = 1;
      return;
    }
    memcpy(lb->b + lb->len, esc, n);
    lb->len += n;
  }
  lb->b[lb->len++] = '"';
}

static const char *level_name(mg_log_level lvl) {
  switch (lvl) {
  case MG_LOG_DEBUG:
    return "debug";
  case MG_LOG_INFO:
    return "info";
  case MG_LOG_WARN:
    return "warn";
  case MG_LOG_NOTICE:
    return "notice";
  case MG_LOG_ERROR:
    return "error";
  }
  return "info";
}

void mg_log(mg_log_level lvl, const char *event, ...) {
  if ((int)lvl < atomic_load(&log_level)) {
    return;
  }
  int saved_errno = errno;
  log_buf lb;
  lb.len = 0;
  lb.cut = 0;

  /* ISO 8601 UTC with milliseconds; the date and time up to the second
   * are formatted once per second per thread. */
  static _Thread_local time_t tl_sec = (time_t)-1;
  static _Thread_local char tl_prefix[24];
  static _Thread_local size_t tl_prefix_len;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  if (ts.tv_sec != tl_sec) {
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(tl_prefix, sizeof tl_prefix,
                     "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec);
    tl_prefix_len = n > 0 && (size_t)n < sizeof tl_prefix ? (size_t)n : 0;
    tl_sec = ts.tv_sec;
  }
  long ms = ts.tv_nsec / 1000000L;
  const char frac[5] = {'.', (char)('0' + ms / 100),
                        (char)('0' + ms / 10 % 10), (char)('0' + ms % 10),
                        'Z'};

  lb_raw(&lb, "{\"ts\":\"", 7);
  lb_raw(&lb, tl_prefix, tl_prefix_len);
  lb_raw(&lb, frac, sizeof frac);
  lb_raw(&lb, "\",\"level\":\"", 11);
  lb_raw(&lb, level_name(lvl), strlen(level_name(lvl)));
  lb_raw(&lb, "\",\"event\":", 10);
  lb_str(&lb, event != NULL ? event : "");

  va_list ap;
  va_start(ap, event);
  for (;;) {
    const char *name = va_arg(ap, const char *);
    if (name == NULL) {
      break;
    }
    const char *value = va_arg(ap, const char *);
    if (lb.cut) {
      continue;
    }
    /* A field is written whole, or with its value cut, or not at all. */
    size_t before = lb.len;
    lb_raw(&lb, ",", 1);
    lb_str(&lb, name);
    lb_raw(&lb, ":", 1);
    size_t colon_end = lb.len;
    lb_str(&lb, value != NULL ? value : "");
    if (lb.cut && lb.len == colon_end) {
      lb.len = before;
    }
  }
  va_end(ap);

  /* LOG_TAIL keeps room for the end of the line whatever happened. */
  memcpy(lb.b + lb.len, "}\n", 2);
  lb.len += 2;

  emit(lvl, lb.b, lb.len);
  errno = saved_errno;
}
