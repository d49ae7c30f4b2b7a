/* Guard macros in the style of s2n-tls utils/s2n_safety_macros.h (STYLE.md §7).
 * Use them only where the function owns nothing that needs cleanup; otherwise
 * use a single `out:` label. */
#ifndef MG_HEADER_COMMON_GUARD_H
#define MG_HEADER_COMMON_GUARD_H

#include "mlsgate/err.h"

#define MG_GUARD(x)                                                            \
  do {                                                                         \
    int mg_guard_rc_ = (x);                                                    \
    if (mg_guard_rc_ < 0) {                                                    \
      return mg_guard_rc_;                                                     \
    }                                                                          \
  } while (0)

#define MG_ENSURE(cond, err)                                                   \
  do {                                                                         \
    if (!(cond)) {                                                             \
      return (err);                                                            \
    }                                                                          \
  } while (0)

#define MG_ENSURE_REF(p) MG_ENSURE((p) != NULL, MG_ERR_INVALID_ARG)

/* Jump to `out` with rc set, for functions that own resources. */
#define MG_CHECK(x)                                                            \
  do {                                                                         \
    rc = (x);                                                                  \
    if (rc < 0) {                                                              \
      goto out;                                                                \
    }                                                                          \
  } while (0)

#define MG_FAIL(err)                                                           \
  do {                                                                         \
    rc = (err);                                                                \
    goto out;                                                                  \
  } while (0)

#define MG_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
