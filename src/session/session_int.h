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
 * jobs.  It may run more than once (the batch is retried when another job
 * of it fails, and the store re-runs a transaction when its map grows), so
 * it keeps its effects inside the transaction and overwrites its outputs
 * on every run. */
typedef int (*sess_job_fn)(mg_ks_txn *txn, void *arg);

typedef struct sess_job {
  sess_job_fn fn;
  void *arg;
  int rc;   /* the job's result once |done| */
  int done; /* under the committer's lock */
  pthread_cond_t cv; /* signalled when |done| (one waiter: no herd) */
  struct sess_job *next;
} sess_job;

typedef struct sess_committer {
  mg_keystore *ks;
  uint32_t batch_max;
  pthread_t thread;
  int started;
  pthread_mutex_t mu;
  pthread_cond_t work_cv; /* jobs queued or stop */
  sess_job *head, *tail;
  int stop;
  int idle; /* the thread waits on work_cv: a new job must signal it */
  sess_job **batch; /* batch_max slots, the committer's own */
  /* Counters (under |mu|). */
  uint64_t txns, txn_ops, txn_ns_total;
  uint64_t txn_ns_buckets[12];
} sess_committer;

/* sess_committer_start starts the committer thread.  Errors:
 * MG_ERR_NOMEM, MG_ERR_INTERNAL (no thread). */
MG_MUST_USE int sess_committer_start(sess_committer *c, mg_keystore *ks,
                                     uint32_t batch_max);

/* sess_committer_stop runs the queued jobs, stops the thread and frees
 * what it holds.  Safe on a committer that never started. */
void sess_committer_stop(sess_committer *c);

/* sess_run queues |fn| (with |arg|) and waits until the transaction that
 * carried it committed (durable: one fsync for the whole batch) or
 * failed; returns the job's result: |fn|'s error, or the store's
 * (MG_ERR_UNKNOWN_OUTCOME, MG_ERR_STORE, ...). */
MG_MUST_USE int sess_run(sess_committer *c, sess_job_fn fn, void *arg);

/* sess_committer_stats copies the transaction counters. */
void sess_committer_stats(sess_committer *c, mg_session_stats *out);

#endif
