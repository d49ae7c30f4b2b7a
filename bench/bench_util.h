/*
 * bench/bench_util: the timing core shared by the benchmark programs
 * (bench/crypto, bench/mls).
 *
 * An operation is a bench_fn called in a loop.  bench_calibrate picks an
 * iteration count so that one run lasts about a target time; bench_timed_run
 * runs that many iterations in BENCH_CHUNKS_PER_RUN chunks timed with
 * CLOCK_MONOTONIC, and counts only the chunks in which this thread held the
 * CPU for at least BENCH_MIN_CPU_SHARE of the wall-clock time
 * (CLOCK_THREAD_CPUTIME_ID): on a shared machine the others measure the
 * other processes, not the code.  The programs interleave the runs of the
 * implementations they compare and keep the best run of each.
 */
#ifndef MG_HEADER_BENCH_BENCH_UTIL_H
#define MG_HEADER_BENCH_BENCH_UTIL_H

#include <stdint.h>

/* One iteration of a benchmarked operation; returns 0 on success. */
typedef int (*bench_fn)(void *ctx);

#define BENCH_CHUNKS_PER_RUN 20
#define BENCH_MIN_CPU_SHARE 0.97

typedef struct bench_run_result {
  double rate;   /* ops/s over the counted chunks */
  int contended; /* too few uncontended chunks: rate includes them all */
  int chunks, dropped;
  /* ops per second of this thread's CPU time over the whole run: on a
   * machine so busy that few chunks had the CPU, the better estimate of the
   * uncontended rate (it still includes cache and memory-bandwidth
   * interference from the other processes). */
  double cpu_rate;
} bench_run_result;

/* bench_now_sec returns CLOCK_MONOTONIC in seconds. */
double bench_now_sec(void);

/* bench_thread_cpu_sec returns the CPU time this thread has used. */
double bench_thread_cpu_sec(void);

/* bench_calibrate sets |*iters| so that |iters| calls of |fn| last about
 * |target| seconds.  Returns 0, or -1 if |fn| failed. */
int bench_calibrate(bench_fn fn, void *ctx, double target, uint64_t *iters);

/* bench_timed_run calls |fn| |iters| times in BENCH_CHUNKS_PER_RUN chunks
 * and computes the rate over the chunks that had the CPU (at least a
 * quarter of the run's time, else over all chunks, and then marks the run
 * contended).  Returns 0, or -1 if |fn| failed. */
int bench_timed_run(bench_fn fn, void *ctx, uint64_t iters,
                    bench_run_result *res);

/* bench_ossl_md_name / bench_ossl_cipher_name give the OpenSSL 3.0 fetch
 * names of our hash and AEAD objects (for the raw baselines), or NULL. */
struct mg_hash_alg;
struct mg_aead_alg;
const char *bench_ossl_md_name(const struct mg_hash_alg *h);
const char *bench_ossl_cipher_name(const struct mg_aead_alg *a);

#endif
