/*
 * Internals of the session layer (session.h): the group-commit writer
 * shared by every operation, the conversation cache and the counters.
 */
#ifndef MG_HEADER_SESSION_SESSION_INT_H
#define MG_HEADER_SESSION_SESSION_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "keystore/keystore.h"
#include "mls/group.h"
#include "session/session.h"

/* ------------------------------------------------------- group commit */

/* A write job: |fn| runs inside a write transaction shared with other
 * jobs, on whichever thread runs that batch (commit.c: the committer
 * thread, or the thread of one of the jobs).  It may run more than once
 * (the batch is retried when another job of it fails, and the store
 * re-runs a transaction when its map grows), so it keeps its effects
 * inside the transaction and overwrites its outputs on every run; and it
 * uses nothing of its submitting thread's own (no thread-local state). */
typedef int (*sess_job_fn)(mg_ks_txn *txn, void *arg);

typedef struct sess_job {
  sess_job_fn fn;
  void *arg;
  int rc;   /* the job's result once |done| */
  int done; /* under the committer's lock */
  pthread_cond_t cv; /* signalled when |done| (one waiter: no herd) */
  /* Asynchronous jobs (sess_submit) have no waiter: |complete| is called
   * with the result in |rc|, without the committer's lock, on the thread
   * that ran the batch; the job is the callee's from then on. */
  void (*complete)(struct sess_job *j);
  struct sess_job *next;
} sess_job;

typedef struct sess_committer {
  mg_keystore *ks;
  uint32_t batch_max;
  pthread_t thread;
  int started;
  pthread_mutex_t mu;
  pthread_cond_t work_cv;  /* jobs queued and none running, or stop */
  pthread_cond_t quiet_cv; /* stopping and the last sess_run returned */
  sess_job *head, *tail;   /* queued jobs, not yet in a batch */
  int stop;
  int idle;    /* the thread waits on work_cv: it must be signalled */
  int running; /* a batch runs (the thread's or a leader's): one at most */
  size_t inside; /* sess_run calls that have not returned */
  sess_job **batch; /* batch_max slots, the running batch's */
  /* Counters (under |mu|). */
  uint64_t txns, txn_ops, txn_ns_total;
  uint64_t txn_ns_buckets[12];
} sess_committer;

/* sess_committer_start starts the committer thread.  Errors:
 * MG_ERR_INVALID_ARG, MG_ERR_NOMEM, MG_ERR_INTERNAL (no thread). */
MG_MUST_USE int sess_committer_start(sess_committer *c, mg_keystore *ks,
                                     uint32_t batch_max);

/* sess_committer_stop refuses new jobs, runs the queued ones, stops the
 * thread, waits until every sess_run returned and frees what it holds.
 * Safe on a committer that never started or already stopped. */
void sess_committer_stop(sess_committer *c);

/* sess_run queues |fn| (with |arg|) and waits until the transaction that
 * carried it committed (durable: one fsync for the whole batch) or
 * failed; returns the job's result: |fn|'s error, or the store's
 * (MG_ERR_UNKNOWN_OUTCOME, MG_ERR_STORE, ...).  When no batch is running
 * the calling thread runs the batch itself (no hand-over to the committer
 * thread), so the caller must not be inside a store transaction (the
 * store refuses nesting).  Errors: MG_ERR_INVALID_ARG (not started),
 * MG_ERR_STATE (stopping). */
MG_MUST_USE int sess_run(sess_committer *c, sess_job_fn fn, void *arg);

/* sess_submit queues |j| (fn, arg and complete set, the rest zero) and
 * returns without waiting: j->complete is called once with the result.
 * When no batch is running the calling thread runs it (and so calls
 * j->complete) before returning.  Errors (j->complete is then not
 * called): MG_ERR_INVALID_ARG, MG_ERR_STATE (stopping). */
MG_MUST_USE int sess_submit(sess_committer *c, sess_job *j);

/* sess_committer_stats copies the transaction counters. */
void sess_committer_stats(sess_committer *c, mg_session_stats *out);

#endif
