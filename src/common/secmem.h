/*
 * Secret memory (STYLE.md §8).
 *
 * mg_secure_alloc is for long-lived secrets (identity keys, epoch secrets,
 * unsealed records): each allocation sits between PROT_NONE guard pages, is
 * mlock()ed and excluded from core dumps (MADV_DONTDUMP), and is zeroized on
 * free.  If locking fails the allocation fails (fail closed) rather than
 * handing out swappable memory.  It costs at least three pages: never use it
 * for per-message buffers.
 *
 * mg_free_secret is for ordinary heap buffers that held secrets: it zeroizes
 * |len| bytes and then frees.
 */
#ifndef MG_HEADER_COMMON_SECMEM_H
#define MG_HEADER_COMMON_SECMEM_H

#include <stddef.h>
#include <stdint.h>

#include "mlsgate/err.h"

/* mg_secure_alloc returns |len| bytes of locked, guard-paged, zeroed memory,
 * or NULL (allocation or locking failed; errno is preserved). */
void *mg_secure_alloc(size_t len);

/* mg_secure_free zeroizes and releases memory from mg_secure_alloc.
 * NULL is accepted. */
void mg_secure_free(void *p);

/* mg_memzero zeroizes |len| bytes in a way the compiler cannot elide. */
void mg_memzero(void *p, size_t len);

/* mg_free_secret zeroizes |len| bytes of heap memory |p| and frees it.
 * NULL is accepted. */
void mg_free_secret(void *p, size_t len);

/* mg_ct_memeq compares |len| bytes in time independent of their contents.
 * Returns 1 if equal, 0 otherwise. */
int mg_ct_memeq(const void *a, const void *b, size_t len);

/* mg_secmem_disable_dump_for_process turns off core dumps for the whole
 * process (RLIMIT_CORE = 0 and PR_SET_DUMPABLE = 0 where available).
 * Programs that hold secrets call it at start.  Errors: MG_ERR_IO. */
MG_MUST_USE int mg_secmem_disable_dump_for_process(void);

#endif
