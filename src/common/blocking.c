#include "config.h"

#include "common/blocking.h"

#include <stddef.h>

static _Thread_local const mg_blocking_hooks *tl_hooks;

void mg_blocking_set(const mg_blocking_hooks *h) { tl_hooks = h; }

void mg_blocking_begin(void) {
  const mg_blocking_hooks *h = tl_hooks;
  if (h != NULL) {
    h->begin(h->arg);
  }
}

void mg_blocking_end(void) {
  const mg_blocking_hooks *h = tl_hooks;
  if (h != NULL) {
    h->end(h->arg);
  }
}
