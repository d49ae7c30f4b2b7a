/*
 * Secret memory (STYLE.md §8; contract: src/common/secmem.h).
 *
 * mg_secure_alloc follows the design of libsodium's sodium_malloc
 * (sodium/utils.c), written here from scratch because src/common must not
 * depend on libsodium:
 *
 *   base                                                         base+map_len
 *   | guard page | data pages ..................... | guard page |
 *     PROT_NONE    mlock()ed, MADV_DONTDUMP            PROT_NONE
 *                               [header][user bytes]
 *                                        ^ returned pointer, 16-byte aligned,
 *                                          as close to the end guard as that
 *                                          alignment allows, so an overflow
 *                                          faults (mostly) at once.
 *
 * The header sits immediately below the returned pointer and records the
 * mapping, so mg_secure_free needs only the pointer.  A magic value catches
 * frees of foreign pointers and underflows that hit the header.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>
#ifdef HAVE_SYS_PRCTL_H
#include <sys/prctl.h>
#endif

#include "common/secmem.h"

#define MG_SECMEM_ALIGN ((size_t)16)
#define MG_SECMEM_MAGIC UINT64_C(0x6d6773656372657a) /* "mgsecrez" */

typedef struct mg_secmem_hdr {
  uint64_t magic;
  uint8_t *base;  /* start of the mapping (first guard page) */
  size_t map_len; /* whole mapping, guard pages included */
  size_t len;     /* bytes requested */
} mg_secmem_hdr;

/* The header size rounded up so the user pointer stays aligned. */
#define MG_SECMEM_HDR_LEN                                                      \
  ((sizeof(mg_secmem_hdr) + MG_SECMEM_ALIGN - 1) & ~(MG_SECMEM_ALIGN - 1))

void mg_memzero(void *p, size_t len) {
  if (p == NULL || len == 0) {
    return;
  }
#ifdef HAVE_EXPLICIT_BZERO
  explicit_bzero(p, len);
#else
  /* Stores through a volatile pointer may not be elided. */
  volatile uint8_t *vp = (volatile uint8_t *)p;
  for (size_t i = 0; i < len; i++) {
    vp[i] = 0;
  }
#endif
}

void mg_free_secret(void *p, size_t len) {
  if (p == NULL) {
    return;
  }
  mg_memzero(p, len);
  free(p);
}

int mg_ct_memeq(const void *a, const void *b, size_t len) {
  const volatile uint8_t *pa = (const volatile uint8_t *)a;
  const volatile uint8_t *pb = (const volatile uint8_t *)b;
  unsigned d = 0;

  /* No early exit: every byte is read whatever the contents. */
  for (size_t i = 0; i < len; i++) {
    d |= (unsigned)(pa[i] ^ pb[i]);
  }
  /* d in [0, 255]: (d - 1) >> 8 is all ones exactly when d == 0. */
  return (int)(1u & ((d - 1u) >> 8));
}

static size_t mg_page_size(void) {
  long ps = sysconf(_SC_PAGESIZE);
  /* Fall back to 4 KiB if sysconf fails or reports nonsense. */
  if (ps <= 0 || ((size_t)ps & ((size_t)ps - 1)) != 0 ||
      (size_t)ps < MG_SECMEM_HDR_LEN + MG_SECMEM_ALIGN) {
    return 4096;
  }
  return (size_t)ps;
}

void *mg_secure_alloc(size_t len) {
  const size_t page = mg_page_size();
  size_t user_len;
  size_t data_len;
  size_t map_len;
  uint8_t *base;
  uint8_t *data;
  uint8_t *user;
  mg_secmem_hdr *hdr;
  int saved_errno;

  /* Every addition below is checked against SIZE_MAX first. */
  if (len > SIZE_MAX - MG_SECMEM_ALIGN - MG_SECMEM_HDR_LEN - 3 * page) {
    errno = ENOMEM;
    return NULL;
  }
  user_len = (len + MG_SECMEM_ALIGN - 1) & ~(MG_SECMEM_ALIGN - 1);
  data_len = (MG_SECMEM_HDR_LEN + user_len + page - 1) & ~(page - 1);
  map_len = data_len + 2 * page;

  base = mmap(NULL, map_len, PROT_READ | PROT_WRITE,
              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) {
    return NULL;
  }
  data = base + page;

  if (mprotect(base, page, PROT_NONE) != 0 ||
      mprotect(data + data_len, page, PROT_NONE) != 0) {
    goto fail;
  }
  /* Fail closed: memory that may be swapped out is not handed out. */
  if (mlock(data, data_len) != 0) {
    goto fail;
  }
#if defined(HAVE_MADVISE) && defined(MADV_DONTDUMP) && !defined(MG_SANITIZE)
  /* Sanitizer runtimes reserve and inspect the address space in ways that do
   * not mix with MADV_DONTDUMP (s2n utils/s2n_mem.c skips it likewise). */
  if (madvise(data, data_len, MADV_DONTDUMP) != 0) {
    saved_errno = errno;
    (void)munlock(data, data_len);
    errno = saved_errno;
    goto fail;
  }
#endif

  /* Anonymous mappings are zero-filled; the user block ends as close to the
   * end guard page as 16-byte alignment allows. */
  user = data + data_len - user_len;
  hdr = (mg_secmem_hdr *)(void *)(user - MG_SECMEM_HDR_LEN);
  hdr->magic = MG_SECMEM_MAGIC;
  hdr->base = base;
  hdr->map_len = map_len;
  hdr->len = len;
  return user;

fail:
  saved_errno = errno;
  (void)munmap(base, map_len);
  errno = saved_errno;
  return NULL;
}

void mg_secure_free(void *p) {
  const size_t page = mg_page_size();
  mg_secmem_hdr *hdr;
  uint8_t *base;
  uint8_t *data;
  size_t map_len;
  size_t data_len;

  if (p == NULL) {
    return;
  }
  hdr = (mg_secmem_hdr *)(void *)((uint8_t *)p - MG_SECMEM_HDR_LEN);
  base = hdr->base;
  map_len = hdr->map_len;
  /* A corrupted header or a pointer from elsewhere: unmapping a guessed
   * range could free unrelated memory, so stop the process instead. */
  if (hdr->magic != MG_SECMEM_MAGIC || map_len < 3 * page ||
      (uint8_t *)hdr < base + page || (uint8_t *)p > base + map_len - page) {
    abort();
  }
  data = base + page;
  data_len = map_len - 2 * page;
  mg_memzero(data, data_len);
  (void)munlock(data, data_len);
  (void)munmap(base, map_len);
}

int mg_secmem_disable_dump_for_process(void) {
  struct rlimit rl;

  rl.rlim_cur = 0;
  rl.rlim_max = 0;
  if (setrlimit(RLIMIT_CORE, &rl) != 0) {
    return MG_ERR_IO;
  }
#if defined(HAVE_PRCTL) && defined(HAVE_SYS_PRCTL_H) && defined(PR_SET_DUMPABLE)
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    return MG_ERR_IO;
  }
#endif
  return 0;
}
