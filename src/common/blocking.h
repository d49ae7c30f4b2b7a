/*
 * Blocking hints: a thread about to wait a long time (for a durable
 * commit: an fsync) says so, so that the pool running it can put another
 * thread to work meanwhile -- the scheduler hint Go's runtime takes on
 * entering a system call.  The pool sets its hooks on each of its
 * threads; a thread without hooks pays one thread-local load.
 */
#ifndef MG_HEADER_COMMON_BLOCKING_H
#define MG_HEADER_COMMON_BLOCKING_H

typedef struct mg_blocking_hooks {
  void (*begin)(void *arg); /* the thread is about to block */
  void (*end)(void *arg);   /* it runs again */
  void *arg;
} mg_blocking_hooks;

/* mg_blocking_set sets the calling thread's hooks (|h| must outlive the
 * thread's use of them; NULL: none). */
void mg_blocking_set(const mg_blocking_hooks *h);

/* mg_blocking_begin and mg_blocking_end bracket a wait, not nested. */
void mg_blocking_begin(void);
void mg_blocking_end(void);

#endif
