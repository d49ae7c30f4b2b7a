/*
 * Self-test driver: finds the kind of each vector file, runs its cases and
 * reports "FILE: N passed, N failed, N skipped".
 */
#include "config.h"

#include "selftest/selftest.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/hex.h"

static const mg_st_kind *const kinds[] = {
    &mg_st_kind_hpke,       &mg_st_kind_crypto_basics, &mg_st_kind_deserialization,
    &mg_st_kind_tree_math,  &mg_st_kind_wycheproof,
    &mg_st_kind_messages,
    &mg_st_kind_tree_validation, &mg_st_kind_treekem,
    &mg_st_kind_tree_operations,
    &mg_st_kind_key_schedule, &mg_st_kind_psk_secret, &mg_st_kind_secret_tree,
    &mg_st_kind_transcript_hashes, &mg_st_kind_message_protection,
    &mg_st_kind_welcome,
    &mg_st_kind_passive_client_welcome,
    &mg_st_kind_passive_client_commit,
};

/* Upstream vector files that no kind verifies yet, with the issue that adds
 * them.  A directory run names them as "not run"; naming one explicitly is an
 * error.  Remove an entry when its kind lands. */
static const struct {
  const char *base;
  const char *why;
} pending[] = {
    {NULL, NULL}, /* none: every upstream file has a kind */
};

static const char *st_pending_reason(const char *base) {
  for (size_t i = 0; pending[i].base != NULL; i++) {
    if (strcmp(pending[i].base, base) == 0) {
      return pending[i].why;
    }
  }
  return NULL;
}

void mg_st_pass(mg_st_report *rep) { rep->passed++; }

static void st_vrecord(mg_st_report *rep, const char *what, const char *fmt,
                       va_list ap) __attribute__((format(printf, 3, 0)));

static void st_vrecord(mg_st_report *rep, const char *what, const char *fmt,
                       va_list ap) {
  vsnprintf(rep->last_msg, sizeof(rep->last_msg), fmt, ap);
  if (rep->log != NULL) {
    fprintf(rep->log, "  %s %s: %s\n", what, rep->file ? rep->file : "-",
            rep->last_msg);
  }
}

void mg_st_fail(mg_st_report *rep, const char *fmt, ...) {
  va_list ap;
  rep->failed++;
  va_start(ap, fmt);
  st_vrecord(rep, "FAIL", fmt, ap);
  va_end(ap);
}

void mg_st_skip(mg_st_report *rep, const char *fmt, ...) {
  va_list ap;
  rep->skipped++;
  va_start(ap, fmt);
  st_vrecord(rep, "SKIP", fmt, ap);
  va_end(ap);
}

static const char *st_basename(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash != NULL ? slash + 1 : path;
}

const mg_st_kind *mg_st_kind_for_file(const char *path) {
  const char *base = st_basename(path);
  for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
    if (kinds[i]->match(base)) {
      return kinds[i];
    }
  }
  return NULL;
}

const mg_st_kind *mg_st_kind_by_name(const char *name) {
  for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
    if (strcmp(kinds[i]->name, name) == 0) {
      return kinds[i];
    }
  }
  return NULL;
}

const char *mg_st_default_dir(void) {
  const char *env = getenv("MLSGATE_VECTORS");
  if (env != NULL && env[0] != '\0') {
    return env;
  }
  return MG_DEFAULT_VECTORS_DIR;
}

int mg_st_run_file(const char *path, FILE *out, mg_st_report *total) {
  const mg_st_kind *kind = mg_st_kind_for_file(path);
  if (kind == NULL) {
    const char *why = st_pending_reason(st_basename(path));
    if (why != NULL) {
      fprintf(out, "%s: no verifier yet for %s\n", path, why);
    } else {
      fprintf(out, "%s: not a known vector file\n", path);
    }
    total->failed++;
    return MG_ERR_UNSUPPORTED;
  }
  json_error_t jerr;
  json_t *root = json_load_file(path, 0, &jerr);
  if (root == NULL) {
    fprintf(out, "%s: cannot load: %s (line %d)\n", path, jerr.text, jerr.line);
    total->failed++;
    return MG_ERR_IO;
  }
  size_t n = kind->count(root);
  if (n == 0) {
    fprintf(out, "%s: no cases of kind %s found (unexpected shape)\n", path,
            kind->name);
    json_decref(root);
    total->failed++;
    return MG_ERR_DECODE;
  }
  mg_st_report rep;
  memset(&rep, 0, sizeof(rep));
  rep.log = out;
  rep.file = st_basename(path);
  for (size_t i = 0; i < n; i++) {
    unsigned before = rep.passed + rep.failed + rep.skipped;
    kind->run_case(root, i, &rep);
    unsigned after = rep.passed + rep.failed + rep.skipped;
    if (after != before + 1) {
      /* A kind must record exactly one result per case. */
      mg_st_fail(&rep, "case %zu: recorded %u results (internal error)", i,
                 after - before);
    }
  }
  json_decref(root);
  fprintf(out, "%s: %u passed, %u failed, %u skipped", path, rep.passed,
          rep.failed, rep.skipped);
  if (rep.acceptable > 0) {
    fprintf(out, " (%u Wycheproof \"acceptable\" cases decided per flag)",
            rep.acceptable);
  }
  fputc('\n', out);
  total->passed += rep.passed;
  total->failed += rep.failed;
  total->skipped += rep.skipped;
  total->acceptable += rep.acceptable;
  return 0;
}

static int st_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Collects regular *.json files under |dir| (recursively) into |*list|. */
static int st_collect(const char *dir, char ***list, size_t *n, size_t *cap) {
  DIR *d = opendir(dir);
  if (d == NULL) {
    return MG_ERR_IO;
  }
  int rc = 0;
  struct dirent *e;
  for (;;) {
    e = readdir(d);
    if (e == NULL) {
      break;
    }
    if (e->d_name[0] == '.') {
      continue;
    }
    size_t plen = strlen(dir) + 1 + strlen(e->d_name) + 1;
    char *path = malloc(plen);
    if (path == NULL) {
      rc = MG_ERR_NOMEM;
      break;
    }
    snprintf(path, plen, "%s/%s", dir, e->d_name);
    struct stat st;
    if (stat(path, &st) != 0) {
      free(path);
      continue;
    }
    if (S_ISDIR(st.st_mode)) {
      rc = st_collect(path, list, n, cap);
      free(path);
      if (rc < 0) {
        break;
      }
      continue;
    }
    size_t nl = strlen(e->d_name);
    if (!S_ISREG(st.st_mode) || nl < 5 ||
        strcmp(e->d_name + nl - 5, ".json") != 0) {
      free(path);
      continue;
    }
    if (*n == *cap) {
      size_t ncap = *cap ? *cap * 2 : 32;
      char **nlist = realloc(*list, ncap * sizeof(char *));
      if (nlist == NULL) {
        free(path);
        rc = MG_ERR_NOMEM;
        break;
      }
      *list = nlist;
      *cap = ncap;
    }
    (*list)[(*n)++] = path;
  }
  closedir(d);
  return rc;
}

int mg_st_run_dir(const char *dir, FILE *out, mg_st_report *total) {
  char **list = NULL;
  size_t n = 0, cap = 0;
  int rc = st_collect(dir, &list, &n, &cap);
  if (rc < 0) {
    fprintf(out, "%s: cannot read vector directory\n", dir);
    total->failed++;
    goto out;
  }
  if (n == 0) {
    fprintf(out, "%s: no vector files found\n", dir);
    total->failed++;
    rc = MG_ERR_NOT_FOUND;
    goto out;
  }
  qsort(list, n, sizeof(char *), st_cmp);
  for (size_t i = 0; i < n; i++) {
    const char *why = st_pending_reason(st_basename(list[i]));
    if (why != NULL && mg_st_kind_for_file(list[i]) == NULL) {
      fprintf(out, "%s: not run: no verifier yet for %s\n", list[i], why);
      total->files_not_run++;
      continue;
    }
    int frc = mg_st_run_file(list[i], out, total);
    if (frc < 0 && rc == 0) {
      rc = frc;
    }
  }
out:
  for (size_t i = 0; i < n; i++) {
    free(list[i]);
  }
  free(list);
  return rc;
}

int mg_st_hex(const json_t *obj, const char *key, uint8_t **out,
              size_t *out_len) {
  const json_t *v = json_object_get(obj, key);
  if (v == NULL || !json_is_string(v)) {
    return MG_ERR_NOT_FOUND;
  }
  return mg_hex_decode(out, out_len, json_string_value(v),
                       json_string_length(v));
}

int mg_st_eq(mg_st_report *rep, size_t i, const char *field,
             const uint8_t *got, size_t got_len, const uint8_t *want,
             size_t want_len) {
  if (got_len == want_len && (want_len == 0 || memcmp(got, want, want_len) == 0)) {
    return 1;
  }
  char g[41], w[41];
  mg_hex_encode(g, got, got_len < 20 ? got_len : 20);
  mg_hex_encode(w, want, want_len < 20 ? want_len : 20);
  mg_st_fail(rep, "case %zu: %s differs (got %zu bytes %s%s, want %zu bytes %s%s)",
             i, field, got_len, g, got_len > 20 ? "..." : "", want_len, w,
             want_len > 20 ? "..." : "");
  return 0;
}
