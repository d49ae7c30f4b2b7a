/*
 * Replays a libFuzzer corpus through LLVMFuzzerTestOneInput without
 * libFuzzer, so `make check` runs the fuzz targets' seeds with any compiler.
 *
 *   fuzz_replay_codec [-v] DIR|FILE ...
 *
 * Every regular file in each directory (sorted, hidden files skipped) and
 * every file named is run once.  A target reports failure by aborting; the
 * replay itself fails if an input cannot be read or no input was run.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Inputs larger than this are not corpus seeds. */
#define REPLAY_MAX_INPUT ((size_t)16 * 1024 * 1024)

static int verbose;

static int run_file(const char *path, size_t *count) {
  FILE *f = NULL;
  uint8_t *buf = NULL;
  struct stat st;
  size_t size;
  int rc = -1;

  if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0 ||
      (uintmax_t)st.st_size > REPLAY_MAX_INPUT) {
    fprintf(stderr, "replay: %s: not a readable input\n", path);
    return -1;
  }
  size = (size_t)st.st_size;
  /* Exactly |size| bytes, so a sanitizer sees any read past the input. */
  buf = malloc(size > 0 ? size : 1);
  f = fopen(path, "rb");
  if (buf == NULL || f == NULL) {
    fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
    goto out;
  }
  if (size > 0 && fread(buf, 1, size, f) != size) {
    fprintf(stderr, "replay: %s: short read\n", path);
    goto out;
  }
  if (verbose) {
    fprintf(stderr, "replay: %s (%zu bytes)\n", path, size);
  }
  (void)LLVMFuzzerTestOneInput(buf, size);
  (*count)++;
  rc = 0;

out:
  if (f != NULL) {
    fclose(f);
  }
  free(buf);
  return rc;
}

static int skip_hidden(const struct dirent *d) { return d->d_name[0] != '.'; }

static int run_dir(const char *dir, size_t *count) {
  struct dirent **names = NULL;
  int n = scandir(dir, &names, skip_hidden, alphasort);
  int rc = 0;

  if (n < 0) {
    fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
    return -1;
  }
  for (int i = 0; i < n; i++) {
    size_t len = strlen(dir) + 1 + strlen(names[i]->d_name) + 1;
    char *path = malloc(len);
    struct stat st;
    if (path == NULL) {
      rc = -1;
    } else {
      snprintf(path, len, "%s/%s", dir, names[i]->d_name);
      /* Subdirectories and other non-files are ignored. */
      if (stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
          run_file(path, count) != 0) {
        rc = -1;
      }
    }
    free(path);
    free(names[i]);
  }
  free(names);
  return rc;
}

int main(int argc, char **argv) {
  size_t count = 0;
  int failed = 0;
  int first = 1;
  struct stat st;

  if (argc > 1 && strcmp(argv[1], "-v") == 0) {
    verbose = 1;
    first = 2;
  }
  if (first >= argc) {
    fprintf(stderr, "usage: %s [-v] DIR|FILE ...\n", argv[0]);
    return 2;
  }
  for (int i = first; i < argc; i++) {
    if (stat(argv[i], &st) != 0) {
      fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
      failed = 1;
    } else if (S_ISDIR(st.st_mode)) {
      failed |= run_dir(argv[i], &count) != 0;
    } else {
      failed |= run_file(argv[i], &count) != 0;
    }
  }
  printf("replay: %zu inputs ran\n", count);
  if (count == 0) {
    fprintf(stderr, "replay: no inputs found\n");
    return 1;
  }
  return failed ? 1 : 0;
}
