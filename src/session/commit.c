/*
 * Group commit for the session layer (session.h): the write jobs of
 * concurrent operations queue, and one runner at a time takes up to
 * batch_max of them, runs them in ONE write transaction of the keystore
 * and commits it (one fsync for all), then wakes every waiter with its
 * own result.
 *
 * The runner is, leader/follower style, the submitting thread itself when
 * no batch is running (it leads: no other thread is woken, no context
 * switch -- one request at a time pays no hand-over), else the committer
 * thread: jobs submitted while a batch runs queue, and the committer
 * thread (woken by the leader that ends with jobs queued, or still
 * running its own previous batch) takes them, back to back under load, so
 * batches stay as large as before.
 *
 * One job's failure must not fail the others: when the batch transaction
 * fails because a job returned an error, that job runs again alone (its
 * own result, its own rolled-back transaction) and the batch is retried
 * without it.  A failure no job returned (the commit or the sync failed:
 * MG_ERR_UNKNOWN_OUTCOME, MG_ERR_STORE) is every job's result: the batch
 * may or may not be durable, so it is not run again.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* pthread_setname_np */
#endif
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/blocking.h"
#include "common/guard.h"
#include "session/session_int.h"

/* Upper bounds of the latency histogram's buckets, in nanoseconds
 * (session.h: 0.25 ms .. 1 s, then +Inf). */
static const uint64_t bucket_ns[11] = {
    250000ull,   500000ull,    1000000ull,   2500000ull,
    5000000ull,  10000000ull,  25000000ull,  50000000ull,
    100000000ull, 250000000ull, 1000000000ull};

static uint64_t now_ns(void) {
  struct timespec ts;
  (void)clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

typedef struct batch_arg {
  sess_job **jobs;
  size_t n;
  ptrdiff_t failed; /* index of the job whose error aborted the run, or -1 */
} batch_arg;

static int batch_fn(mg_ks_txn *txn, void *arg) {
  batch_arg *b = arg;
  b->failed = -1; /* this run may be a re-run */
  for (size_t i = 0; i < b->n; i++) {
    int rc = b->jobs[i]->fn(txn, b->jobs[i]->arg);
    if (rc < 0) {
      b->failed = (ptrdiff_t)i;
      return rc;
    }
  }
  return 0;
}

/* One transaction over |jobs|, timed and counted. */
static int transact(sess_committer *c, batch_arg *b) {
  uint64_t t0 = now_ns();
  int rc = mg_ks_transact(c->ks, batch_fn, b);
  uint64_t dt = now_ns() - t0;
  pthread_mutex_lock(&c->mu);
  c->txns++;
  c->txn_ops += b->n;
  c->txn_ns_total += dt;
  for (size_t i = 0; i < 11; i++) {
    if (dt <= bucket_ns[i]) {
      c->txn_ns_buckets[i]++;
    }
  }
  c->txn_ns_buckets[11]++;
  pthread_mutex_unlock(&c->mu);
  return rc;
}

static void run_batch(sess_committer *c, sess_job **jobs, size_t n) {
  while (n > 0) {
    batch_arg b;
    b.jobs = jobs;
    b.n = n;
    b.failed = -1;
    int rc = transact(c, &b);
    if (rc == 0) {
      for (size_t i = 0; i < n; i++) {
        jobs[i]->rc = 0;
      }
      return;
    }
    if (b.failed < 0 || n == 1) {
      /* Not one job's error (or the job was alone): everyone's result. */
      for (size_t i = 0; i < n; i++) {
        jobs[i]->rc = rc;
      }
      return;
    }
    /* The job that failed runs alone for its own result; the others are
     * retried without it. */
    size_t f = (size_t)b.failed;
    sess_job *bad = jobs[f];
    batch_arg one;
    one.jobs = &bad;
    one.n = 1;
    one.failed = -1;
    bad->rc = transact(c, &one);
    memmove(&jobs[f], &jobs[f + 1], (n - f - 1) * sizeof(*jobs));
    n--;
  }
}

/* One turn of whoever runs batches (the committer thread, or a leader:
 * a submitting thread that found none running): with |c->mu| held and
 * |c->running| set by the caller, takes up to batch_max queued jobs, runs
 * them in one transaction without the lock, publishes every result, and
 * clears |c->running|. */
static void run_turn(sess_committer *c) {
  size_t n = 0;
  while (c->head != NULL && n < c->batch_max) {
    sess_job *j = c->head;
    c->head = j->next;
    j->next = NULL;
    c->batch[n++] = j;
  }
  if (c->head == NULL) {
    c->tail = NULL;
  }
  pthread_mutex_unlock(&c->mu);
  /* run_batch reorders its array; the done flags are set from a copy of
   * the pointers taken here. */
  sess_job *first_done = NULL;
  for (size_t i = n; i > 0; i--) {
    c->batch[i - 1]->next = first_done;
    first_done = c->batch[i - 1];
  }
  run_batch(c, c->batch, n);
  pthread_mutex_lock(&c->mu);
  c->running = 0;
  sess_job *async = NULL, **async_tail = &async;
  while (first_done != NULL) {
    sess_job *j = first_done;
    first_done = j->next;
    j->next = NULL;
    if (j->complete != NULL) {
      *async_tail = j;
      async_tail = &j->next;
      continue;
    }
    j->done = 1;
    pthread_cond_signal(&j->cv);
  }
  if (async == NULL) {
    return;
  }
  /* The asynchronous jobs' completions run without the lock: another
   * thread may lead the next batch meanwhile. */
  if (c->head != NULL && c->idle) {
    pthread_cond_signal(&c->work_cv);
  }
  pthread_mutex_unlock(&c->mu);
  while (async != NULL) {
    sess_job *j = async;
    async = j->next;
    j->next = NULL;
    j->complete(j); /* may free |j| */
  }
  pthread_mutex_lock(&c->mu);
}

static void *committer_main(void *arg) {
  sess_committer *c = arg;
  /* For top -H, perf and debuggers; failure is harmless. */
  (void)pthread_setname_np(pthread_self(), "mg-commit");
  pthread_mutex_lock(&c->mu);
  for (;;) {
    /* Work: jobs queued and no leader running them.  Done: stopping, no
     * job queued and no leader running. */
    while ((c->head == NULL || c->running) &&
           !(c->stop && c->head == NULL && !c->running)) {
      c->idle = 1;
      pthread_cond_wait(&c->work_cv, &c->mu);
      c->idle = 0;
    }
    if (c->head == NULL) {
      break; /* stopping, and every queued job ran */
    }
    c->running = 1;
    run_turn(c);
  }
  pthread_mutex_unlock(&c->mu);
  return NULL;
}

int sess_committer_start(sess_committer *c, mg_keystore *ks,
                         uint32_t batch_max) {
  MG_ENSURE(c != NULL && ks != NULL && batch_max >= 1, MG_ERR_INVALID_ARG);
  memset(c, 0, sizeof(*c));
  c->ks = ks;
  c->batch_max = batch_max;
  c->batch = calloc(batch_max, sizeof(*c->batch));
  MG_ENSURE(c->batch != NULL, MG_ERR_NOMEM);
  pthread_mutex_init(&c->mu, NULL);
  pthread_cond_init(&c->work_cv, NULL);
  pthread_cond_init(&c->quiet_cv, NULL);
  if (pthread_create(&c->thread, NULL, committer_main, c) != 0) {
    pthread_cond_destroy(&c->quiet_cv);
    pthread_cond_destroy(&c->work_cv);
    pthread_mutex_destroy(&c->mu);
    free(c->batch);
    c->batch = NULL;
    return MG_ERR_INTERNAL;
  }
  c->started = 1;
  return 0;
}

void sess_committer_stop(sess_committer *c) {
  if (c == NULL || !c->started) {
    return;
  }
  pthread_mutex_lock(&c->mu);
  c->stop = 1; /* sess_run refuses new jobs from now on */
  pthread_cond_signal(&c->work_cv);
  pthread_mutex_unlock(&c->mu);
  /* The thread ends once the queue is empty and no leader runs. */
  (void)pthread_join(c->thread, NULL);
  pthread_mutex_lock(&c->mu);
  /* Every sess_run returns (has its result and lets go of the lock)
   * before the lock goes away. */
  while (c->inside > 0) {
    pthread_cond_wait(&c->quiet_cv, &c->mu);
  }
  pthread_mutex_unlock(&c->mu);
  pthread_cond_destroy(&c->quiet_cv);
  pthread_cond_destroy(&c->work_cv);
  pthread_mutex_destroy(&c->mu);
  free(c->batch);
  c->batch = NULL;
  c->started = 0;
}

int sess_run(sess_committer *c, sess_job_fn fn, void *arg) {
  sess_job j;
  MG_ENSURE(c != NULL && c->started && fn != NULL, MG_ERR_INVALID_ARG);
  memset(&j, 0, sizeof(j));
  j.fn = fn;
  j.arg = arg;
  pthread_cond_init(&j.cv, NULL);
  /* Leading a batch (its fsync) or waiting for one: a long wait. */
  mg_blocking_begin();
  pthread_mutex_lock(&c->mu);
  if (c->stop) {
    pthread_mutex_unlock(&c->mu);
    mg_blocking_end();
    pthread_cond_destroy(&j.cv);
    return MG_ERR_STATE;
  }
  c->inside++;
  if (c->tail != NULL) {
    c->tail->next = &j;
  } else {
    c->head = &j;
  }
  c->tail = &j;
  if (!c->running) {
    /* No batch running: this thread leads one itself (the queue's oldest
     * jobs, normally just this one) instead of waking the committer
     * thread and sleeping: no hand-over at low concurrency. */
    c->running = 1;
    run_turn(c);
    /* Jobs queued meanwhile (or a stop waiting for the leader to end):
     * the committer thread takes over; under load it keeps running
     * batches back to back without sleeping. */
    if ((c->head != NULL || c->stop) && c->idle) {
      pthread_cond_signal(&c->work_cv);
    }
  }
  /* Else a batch runs: the committer thread takes this job after it
   * (woken by a leader that ends with jobs queued). */
  while (!j.done) {
    pthread_cond_wait(&j.cv, &c->mu);
  }
  if (--c->inside == 0 && c->stop) {
    pthread_cond_signal(&c->quiet_cv);
  }
  pthread_mutex_unlock(&c->mu);
  mg_blocking_end();
  pthread_cond_destroy(&j.cv);
  return j.rc;
}

int sess_submit(sess_committer *c, sess_job *j) {
  MG_ENSURE(c != NULL && c->started && j != NULL && j->fn != NULL &&
                j->complete != NULL,
            MG_ERR_INVALID_ARG);
  j->next = NULL;
  j->done = 0;
  j->rc = 0;
  pthread_mutex_lock(&c->mu);
  if (c->stop) {
    pthread_mutex_unlock(&c->mu);
    return MG_ERR_STATE;
  }
  c->inside++;
  if (c->tail != NULL) {
    c->tail->next = j;
  } else {
    c->head = j;
  }
  c->tail = j;
  if (!c->running) {
    /* As in sess_run: no batch running, this thread leads one (and waits
     * for its fsync: a long wait). */
    c->running = 1;
    pthread_mutex_unlock(&c->mu);
    mg_blocking_begin();
    pthread_mutex_lock(&c->mu);
    run_turn(c);
    pthread_mutex_unlock(&c->mu);
    mg_blocking_end();
    pthread_mutex_lock(&c->mu);
    if ((c->head != NULL || c->stop) && c->idle) {
      pthread_cond_signal(&c->work_cv);
    }
  }
  /* Else a batch runs: the committer thread takes this job after it. */
  if (--c->inside == 0 && c->stop) {
    pthread_cond_signal(&c->quiet_cv);
  }
  pthread_mutex_unlock(&c->mu);
  return 0;
}

void sess_committer_stats(sess_committer *c, mg_session_stats *out) {
  pthread_mutex_lock(&c->mu);
  out->txns = c->txns;
  out->txn_ops = c->txn_ops;
  out->txn_ns_total = c->txn_ns_total;
  memcpy(out->txn_ns_buckets, c->txn_ns_buckets, sizeof(out->txn_ns_buckets));
  pthread_mutex_unlock(&c->mu);
}
