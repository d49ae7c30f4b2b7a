/*
 * bench/bench_util: calibrated, contention-filtered timing (see
 * bench_util.h).
 */
#include "config.h"

#include <string.h>
#include <time.h>

#include "bench_util.h"

#include "crypto/crypto.h"

double bench_now_sec(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double bench_thread_cpu_sec(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int run_iters(bench_fn fn, void *ctx, uint64_t n, double *out_elapsed) {
  double t0 = bench_now_sec();
  for (uint64_t i = 0; i < n; i++) {
    if (fn(ctx) != 0) {
      return -1;
    }
  }
  *out_elapsed = bench_now_sec() - t0;
  return 0;
}

int bench_calibrate(bench_fn fn, void *ctx, double target, uint64_t *iters) {
  uint64_t n = 1;
  double el = 0.0;
  for (;;) {
    if (run_iters(fn, ctx, n, &el) != 0) {
      return -1;
    }
    if (el >= target / 8 || n >= (UINT64_C(1) << 40)) {
      break;
    }
    double f = el > 1e-7 ? (target / 8) / el * 1.3 : 16.0;
    if (f < 2.0) {
      f = 2.0;
    }
    if (f > 16.0) {
      f = 16.0;
    }
    n = (uint64_t)((double)n * f) + 1;
  }
  double want = (double)n / el * target;
  *iters = want < 1.0 ? 1 : (uint64_t)want;
  return 0;
}

int bench_timed_run(bench_fn fn, void *ctx, uint64_t iters,
                    bench_run_result *res) {
  uint64_t per = iters / BENCH_CHUNKS_PER_RUN;
  uint64_t left = iters;
  double good_wall = 0.0, all_wall = 0.0, all_cpu = 0.0;
  uint64_t good_n = 0, all_n = 0;
  memset(res, 0, sizeof(*res));
  if (per == 0) {
    per = 1;
  }
  while (left > 0) {
    uint64_t n = left < per ? left : per;
    double c0 = bench_thread_cpu_sec();
    double t0 = bench_now_sec();
    for (uint64_t i = 0; i < n; i++) {
      if (fn(ctx) != 0) {
        return -1;
      }
    }
    double wall = bench_now_sec() - t0;
    double cpu = bench_thread_cpu_sec() - c0;
    left -= n;
    all_wall += wall;
    all_cpu += cpu;
    all_n += n;
    res->chunks++;
    if (cpu >= BENCH_MIN_CPU_SHARE * wall) {
      good_wall += wall;
      good_n += n;
    } else {
      res->dropped++;
    }
  }
  res->cpu_rate = all_cpu > 0.0 ? (double)all_n / all_cpu : 0.0;
  if (good_n > 0 && good_wall >= 0.25 * all_wall) {
    res->rate = (double)good_n / good_wall;
  } else {
    res->rate = all_wall > 0.0 ? (double)all_n / all_wall : 0.0;
    res->contended = 1;
  }
  return 0;
}

const char *bench_ossl_md_name(const mg_hash_alg *h) {
  if (h == &mg_sha256) {
    return "SHA256";
  }
  if (h == &mg_sha384) {
    return "SHA384";
  }
  if (h == &mg_sha512) {
    return "SHA512";
  }
  return NULL;
}

const char *bench_ossl_cipher_name(const mg_aead_alg *a) {
  if (a == &mg_aes128gcm) {
    return "AES-128-GCM";
  }
  if (a == &mg_aes256gcm) {
    return "AES-256-GCM";
  }
  if (a == &mg_chacha20poly1305) {
    return "ChaCha20-Poly1305";
  }
  return NULL;
}
