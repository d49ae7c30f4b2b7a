/*
 * mlsgatectl: the administration and audit command-line tool.
 *
 * Commands are a const table (name, handler, summary); each handler parses
 * its own options.  For now: selftest (known-answer tests against the
 * official vectors), version, help.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crypto/crypto.h"
#include "selftest/selftest.h"

typedef struct {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *usage;
  const char *summary;
} ctl_command;

static int cmd_help(int argc, char **argv);

static void selftest_usage(FILE *f) {
  fprintf(f,
          "usage: mlsgatectl selftest [--vectors DIR] [FILE...]\n"
          "\n"
          "Runs the known-answer tests in the official vector files.  With no\n"
          "FILE, every known file under DIR is run (DIR defaults to\n"
          "$MLSGATE_VECTORS, else %s).  A FILE that does not exist as given is\n"
          "looked up under DIR.  Prints one line per file and a final line\n"
          "\"selftest: N passed, N failed, N skipped\"; exits 0 only if nothing\n"
          "failed.\n",
          MG_DEFAULT_VECTORS_DIR);
}

static int cmd_selftest(int argc, char **argv) {
  const char *dir = NULL;
  int first_file = argc;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--vectors") == 0) {
      if (i + 1 >= argc) {
        fprintf(stderr, "mlsgatectl selftest: --vectors needs a directory\n");
        return 2;
      }
      dir = argv[++i];
    } else if (strncmp(argv[i], "--vectors=", 10) == 0) {
      dir = argv[i] + 10;
    } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      selftest_usage(stdout);
      return 0;
    } else if (strcmp(argv[i], "--") == 0) {
      first_file = i + 1;
      break;
    } else if (argv[i][0] == '-') {
      fprintf(stderr, "mlsgatectl selftest: unknown option %s\n", argv[i]);
      selftest_usage(stderr);
      return 2;
    } else {
      first_file = i;
      break;
    }
  }
  if (dir == NULL) {
    dir = mg_st_default_dir();
  }
  int rc = mg_crypto_init();
  if (rc < 0) {
    fprintf(stderr, "mlsgatectl selftest: crypto initialization failed: %s\n",
            mg_strerror(rc));
    return 1;
  }
  mg_st_report total;
  memset(&total, 0, sizeof(total));
  int err = 0;
  if (first_file >= argc) {
    if (mg_st_run_dir(dir, stdout, &total) < 0) {
      err = 1;
    }
  } else {
    for (int i = first_file; i < argc; i++) {
      const char *path = argv[i];
      char *joined = NULL;
      struct stat st;
      if (stat(path, &st) != 0 && path[0] != '/') {
        size_t n = strlen(dir) + 1 + strlen(path) + 1;
        joined = malloc(n);
        if (joined == NULL) {
          fprintf(stderr, "mlsgatectl selftest: out of memory\n");
          return 1;
        }
        snprintf(joined, n, "%s/%s", dir, path);
        path = joined;
      }
      if (mg_st_run_file(path, stdout, &total) < 0) {
        err = 1;
      }
      free(joined);
    }
  }
  if (total.files_not_run > 0) {
    printf("selftest: %u upstream file(s) not run: their verifiers come with "
           "later work (listed above)\n",
           total.files_not_run);
  }
  printf("selftest: %u passed, %u failed, %u skipped\n", total.passed,
         total.failed, total.skipped);
  return (err || total.failed > 0) ? 1 : 0;
}

static int cmd_version(int argc, char **argv) {
  (void)argc;
  (void)argv;
  printf("mlsgatectl (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
  return 0;
}

static const ctl_command commands[] = {
    {"selftest", cmd_selftest, "selftest [--vectors DIR] [FILE...]",
     "check this build against the official test vectors"},
    {"version", cmd_version, "version", "print the version"},
    {"help", cmd_help, "help", "this list"},
};

static int cmd_help(int argc, char **argv) {
  (void)argc;
  (void)argv;
  printf("usage: mlsgatectl COMMAND [ARGS]\n\ncommands:\n");
  for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
    printf("  %-40s %s\n", commands[i].usage, commands[i].summary);
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    cmd_help(0, NULL);
    return 2;
  }
  const char *name = argv[1];
  if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0) {
    return cmd_help(0, NULL);
  }
  if (strcmp(name, "--version") == 0) {
    return cmd_version(0, NULL);
  }
  for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
    if (strcmp(commands[i].name, name) == 0) {
      return commands[i].run(argc - 1, argv + 1);
    }
  }
  fprintf(stderr, "mlsgatectl: unknown command '%s' (try 'mlsgatectl help')\n",
          name);
  return 2;
}
