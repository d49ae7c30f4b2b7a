/* Owned byte strings and vectors of structs (see bytes.h). */
#include "config.h"

#include "mls/bytes.h"

#include <stdlib.h>
#include <string.h>

#include "common/guard.h"
#include "common/secmem.h"

int mls_bytes_dup(mls_bytes *out, const uint8_t *p, size_t n) {
  MG_ENSURE_REF(out);
  MG_ENSURE(p != NULL || n == 0, MG_ERR_INVALID_ARG);
  out->data = NULL;
  out->len = 0;
  if (n == 0) {
    return 0;
  }
  out->data = malloc(n);
  if (out->data == NULL) {
    return MG_ERR_NOMEM;
  }
  memcpy(out->data, p, n);
  out->len = n;
  return 0;
}

int mls_bytes_copy(mls_bytes *out, const mls_bytes *in) {
  MG_ENSURE_REF(in);
  return mls_bytes_dup(out, in->data, in->len);
}

int mls_bytes_read(mg_reader *r, mls_bytes *out) {
  mg_reader tmp, body;
  MG_ENSURE_REF(r);
  tmp = *r;
  MG_GUARD(mg_read_vec(&tmp, &body));
  MG_GUARD(mls_bytes_dup(out, mg_reader_data(&body), mg_reader_len(&body)));
  *r = tmp;
  return 0;
}

int mls_bytes_read_fixed(mg_reader *r, mls_bytes *out, size_t n) {
  mg_reader tmp;
  const uint8_t *p = NULL;
  MG_ENSURE_REF(r);
  tmp = *r;
  MG_GUARD(mg_read_bytes(&tmp, &p, n));
  MG_GUARD(mls_bytes_dup(out, p, n));
  *r = tmp;
  return 0;
}

int mls_bytes_write(mg_writer *w, const mls_bytes *b) {
  static const uint8_t empty[1] = {0};
  MG_ENSURE_REF(b);
  return mg_write_opaque(w, b->len > 0 ? b->data : empty, b->len);
}

int mls_bytes_eq(const mls_bytes *a, const mls_bytes *b) {
  return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

void mls_bytes_cleanup(mls_bytes *b) {
  if (b == NULL) {
    return;
  }
  free(b->data);
  b->data = NULL;
  b->len = 0;
}

void mls_bytes_cleanup_secret(mls_bytes *b) {
  if (b == NULL) {
    return;
  }
  mg_free_secret(b->data, b->len);
  b->data = NULL;
  b->len = 0;
}

void mls_vec_free(void *arr, size_t n, size_t elem_size,
                  mls_elem_cleanup_fn cleanup) {
  if (arr == NULL) {
    return;
  }
  if (cleanup != NULL) {
    for (size_t i = 0; i < n; i++) {
      cleanup((uint8_t *)arr + i * elem_size);
    }
  }
  free(arr);
}

int mls_vec_decode(mg_reader *r, void **out, size_t *out_n, size_t elem_size,
                   size_t max_n, mls_elem_decode_fn dec,
                   mls_elem_cleanup_fn cleanup) {
  mg_reader tmp, body;
  uint8_t *arr = NULL;
  size_t n = 0, cap = 0;
  int rc;

  MG_ENSURE(r != NULL && out != NULL && out_n != NULL && dec != NULL &&
                elem_size > 0,
            MG_ERR_INVALID_ARG);
  tmp = *r;
  MG_GUARD(mg_read_vec(&tmp, &body));
  while (mg_reader_len(&body) > 0) {
    if (max_n > 0 && n == max_n) {
      MG_FAIL(MG_ERR_LENGTH);
    }
    if (n == cap) {
      /* Every element takes at least one byte of the (already present)
       * body, so the count is bounded by the input length. */
      size_t ncap = cap ? cap * 2 : 4;
      if (ncap > mg_reader_len(&body) + n) {
        ncap = mg_reader_len(&body) + n;
      }
      if (ncap > SIZE_MAX / elem_size) {
        MG_FAIL(MG_ERR_LENGTH);
      }
      uint8_t *narr = malloc(ncap * elem_size);
      if (narr == NULL) {
        MG_FAIL(MG_ERR_NOMEM);
      }
      if (n > 0) {
        memcpy(narr, arr, n * elem_size);
      }
      free(arr);
      arr = narr;
      cap = ncap;
    }
    size_t before = mg_reader_len(&body);
    memset(arr + n * elem_size, 0, elem_size);
    MG_CHECK(dec(&body, arr + n * elem_size));
    n++;
    if (mg_reader_len(&body) == before) {
      /* An element that consumes nothing would loop forever. */
      MG_FAIL(MG_ERR_DECODE);
    }
  }
  *out = arr;
  *out_n = n;
  *r = tmp;
  return 0;
out:
  mls_vec_free(arr, n, elem_size, cleanup);
  return rc;
}

int mls_vec_encode(mg_writer *w, const void *arr, size_t n, size_t elem_size,
                   mls_elem_encode_fn enc) {
  size_t mark;
  MG_ENSURE(enc != NULL && (arr != NULL || n == 0), MG_ERR_INVALID_ARG);
  MG_GUARD(mg_write_vec_begin(w, &mark));
  for (size_t i = 0; i < n; i++) {
    MG_GUARD(enc(w, (const uint8_t *)arr + i * elem_size));
  }
  return mg_write_vec_end(w, mark);
}
