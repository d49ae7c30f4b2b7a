/*
 * mlsgatectl: the administration and audit command-line tool.
 *
 *   mlsgatectl [--store DIR] [--kek FILE] [--json] COMMAND [ARGS]
 *
 * Commands are a const table (words, handler, flags, usage, summary); each
 * handler parses its own options with ctl_parse.  The global options may
 * also follow the command words.  --store defaults to ./var; --kek
 * defaults to DIR/kek (`init` creates it, mode 0600, unless it exists).
 * Keeping the KEK beside the store is the simple default; production should
 * point --kek at a file outside the store (or a systemd credential), so a
 * copy of the store alone opens nothing.
 *
 * Output is human-readable by default and one JSON document with --json.
 * Errors go to stderr with a non-zero exit (2: usage, 1: anything else),
 * and a failed command leaves the store as it was.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/base64.h"
#include "common/hex.h"
#include "common/secmem.h"
#include "crypto/crypto.h"
#include "crypto/suite.h"
#include "keystore/audit.h"
#include "keystore/keystore.h"
#include "keystore/kv.h"
#include "selftest/selftest.h"

/* What every keystore command gets: the global options. */
typedef struct ctl_env {
  const char *store; /* --store, default ./var */
  const char *kek;   /* --kek, default STORE/kek */
  int json;          /* --json */
  char kek_buf[4096];
} ctl_env;

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

/* ============================================================ keystore */

#define CTL_USAGE 2 /* exit status for bad usage */

/* One option of a command: "--name" with or without a value. */
typedef struct ctl_optdef {
  const char *name;
  int has_value;
} ctl_optdef;

/* ctl_parse splits argv into the options |defs| (values[i] set to the
 * option's value, or "1" for a flag; NULL when absent) and at most
 * |max_pos| positional arguments.  Prints a message and returns -1 on an
 * unknown or repeated option, a missing value or too many arguments. */
static int ctl_parse(const char *cmd, int argc, char **argv,
                     const ctl_optdef *defs, size_t num_defs,
                     const char **values, const char **pos, size_t max_pos,
                     size_t *num_pos) {
  int only_pos = 0;
  *num_pos = 0;
  for (size_t d = 0; d < num_defs; d++) {
    values[d] = NULL;
  }
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (!only_pos && strcmp(a, "--") == 0) {
      only_pos = 1;
      continue;
    }
    if (!only_pos && a[0] == '-' && a[1] != '\0') {
      size_t d;
      const char *eq = strchr(a, '=');
      size_t nlen = eq != NULL ? (size_t)(eq - a) : strlen(a);
      for (d = 0; d < num_defs; d++) {
        if (strlen(defs[d].name) == nlen &&
            strncmp(defs[d].name, a, nlen) == 0) {
          break;
        }
      }
      if (d == num_defs) {
        fprintf(stderr, "mlsgatectl %s: unknown option %s\n", cmd, a);
        return -1;
      }
      if (values[d] != NULL) {
        fprintf(stderr, "mlsgatectl %s: %s given twice\n", cmd, defs[d].name);
        return -1;
      }
      if (!defs[d].has_value) {
        if (eq != NULL) {
          fprintf(stderr, "mlsgatectl %s: %s takes no value\n", cmd,
                  defs[d].name);
          return -1;
        }
        values[d] = "1";
      } else if (eq != NULL) {
        values[d] = eq + 1;
      } else if (i + 1 < argc) {
        values[d] = argv[++i];
      } else {
        fprintf(stderr, "mlsgatectl %s: %s needs a value\n", cmd, defs[d].name);
        return -1;
      }
      continue;
    }
    if (*num_pos >= max_pos) {
      fprintf(stderr, "mlsgatectl %s: unexpected argument '%s'\n", cmd, a);
      return -1;
    }
    pos[(*num_pos)++] = a;
  }
  return 0;
}

/* ctl_parse_duration reads a positive duration "<digits><unit>", unit one
 * of s, m, h, d, w, into seconds.  Returns -1 if malformed or too large. */
static int ctl_parse_duration(const char *s, uint64_t *out) {
  uint64_t v = 0, mult;
  size_t i = 0;
  if (s == NULL || s[0] < '0' || s[0] > '9') {
    return -1;
  }
  for (; s[i] >= '0' && s[i] <= '9'; i++) {
    if (v > (UINT64_MAX - 9) / 10) {
      return -1;
    }
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  switch (s[i]) {
    case 's':
      mult = 1;
      break;
    case 'm':
      mult = 60;
      break;
    case 'h':
      mult = 3600;
      break;
    case 'd':
      mult = 86400;
      break;
    case 'w':
      mult = 7 * 86400;
      break;
    default:
      return -1;
  }
  /* At most 100 years: anything longer is a typo, not a schedule. */
  if (s[i + 1] != '\0' || v == 0 || v > (uint64_t)100 * 366 * 86400 / mult) {
    return -1;
  }
  *out = v * mult;
  return 0;
}

/* ctl_parse_uint reads a decimal (or 0x hex) number <= max. */
static int ctl_parse_uint(const char *s, uint64_t max, uint64_t *out) {
  char *end = NULL;
  unsigned long long v;
  if (s == NULL || s[0] == '\0' || s[0] == '-' || s[0] == '+' || s[0] == ' ') {
    return -1;
  }
  errno = 0;
  v = strtoull(s, &end, 0);
  if (errno != 0 || end == NULL || *end != '\0' || v > max) {
    return -1;
  }
  *out = (uint64_t)v;
  return 0;
}

static void ctl_format_duration(char *buf, size_t cap, uint64_t secs) {
  if (secs % 86400 == 0) {
    snprintf(buf, cap, "%" PRIu64 "d", secs / 86400);
  } else if (secs % 3600 == 0) {
    snprintf(buf, cap, "%" PRIu64 "h", secs / 3600);
  } else if (secs % 60 == 0) {
    snprintf(buf, cap, "%" PRIu64 "m", secs / 60);
  } else {
    snprintf(buf, cap, "%" PRIu64 "s", secs);
  }
}

static void ctl_format_time(char *buf, size_t cap, uint64_t t) {
  time_t tt = (time_t)t;
  struct tm tm;
  if ((uint64_t)tt != t || gmtime_r(&tt, &tm) == NULL ||
      strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
    snprintf(buf, cap, "@%" PRIu64, t);
  }
}

/* ctl_now is the clock of every command: time(NULL), or $MLSGATE_NOW
 * (seconds since the epoch) so that tests can move time. */
static uint64_t ctl_now(void) {
  const char *s = getenv("MLSGATE_NOW");
  uint64_t v;
  if (s != NULL && ctl_parse_uint(s, UINT64_MAX, &v) == 0) {
    return v;
  }
  return (uint64_t)time(NULL);
}

static const char *ctl_suite_name(uint16_t id) {
  const mls_suite *s = mls_suite_by_id(id);
  return s != NULL ? s->name : "unknown";
}

static void ctl_err(const char *cmd, const char *what, int rc) {
  fprintf(stderr, "mlsgatectl %s: %s: %s\n", cmd, what, mg_strerror(rc));
}

/* ctl_print_json writes |j| (stolen) to stdout; returns 0 or 1. */
static int ctl_print_json(json_t *j) {
  int rc = 1;
  if (j != NULL &&
      json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS) == 0) {
    fputc('\n', stdout);
    rc = 0;
  } else {
    fprintf(stderr, "mlsgatectl: cannot write JSON output\n");
  }
  json_decref(j);
  return rc;
}

static void ctl_env_finish(ctl_env *env) {
  if (env->store == NULL) {
    env->store = "./var";
  }
  if (env->kek == NULL) {
    snprintf(env->kek_buf, sizeof(env->kek_buf), "%s/kek", env->store);
    env->kek = env->kek_buf;
  }
}

static int ctl_init_crypto(const char *cmd) {
  int rc = mg_crypto_init();
  if (rc < 0) {
    ctl_err(cmd, "crypto initialization failed", rc);
    return 1;
  }
  if (mg_secmem_disable_dump_for_process() < 0) {
    fprintf(stderr, "mlsgatectl %s: cannot disable core dumps\n", cmd);
    return 1;
  }
  return 0;
}

/* ctl_open opens the existing store of |env| (never creates anything). */
static int ctl_open(const char *cmd, const ctl_env *env, mg_keystore **ks) {
  struct stat st;
  mg_ks_options opt;
  int rc;
  *ks = NULL;
  if (ctl_init_crypto(cmd) != 0) {
    return 1;
  }
  if (stat(env->store, &st) != 0 || !S_ISDIR(st.st_mode)) {
    fprintf(stderr,
            "mlsgatectl %s: no store at %s (create one with 'mlsgatectl "
            "--store %s init')\n",
            cmd, env->store, env->store);
    return 1;
  }
  if (stat(env->kek, &st) != 0) {
    fprintf(stderr, "mlsgatectl %s: cannot read the KEK file %s: %s\n", cmd,
            env->kek, strerror(errno));
    return 1;
  }
  memset(&opt, 0, sizeof(opt));
  opt.dir = env->store;
  opt.kek_path = env->kek;
  opt.kek_fd = -1;
  opt.create = 0;
  rc = mg_ks_open(ks, &opt);
  if (rc == MG_ERR_NOT_FOUND) {
    fprintf(stderr,
            "mlsgatectl %s: no store at %s (create one with 'mlsgatectl "
            "--store %s init')\n",
            cmd, env->store, env->store);
    return 1;
  }
  if (rc == MG_ERR_KEK) {
    fprintf(stderr,
            "mlsgatectl %s: the KEK file %s does not open the store %s "
            "(wrong key, wrong length, or readable by group/other)\n",
            cmd, env->kek, env->store);
    return 1;
  }
  if (rc < 0) {
    ctl_err(cmd, "cannot open the store", rc);
    return 1;
  }
  return 0;
}

static void ctl_ctx(mg_ks_ctx *ctx) {
  ctx->actor = "cli";
  ctx->now = ctl_now();
}

/* --------------------------------------------------------------- init */

/* init_report_extras adds what other modules print at init (the lead adds
 * the audit verifier key here); |j| is the JSON object of the report, or
 * NULL for human output. */
static int init_report_extras(const ctl_env *env, mg_keystore *ks, json_t *j) {
  char *vk = NULL;
  char origin[MG_KS_AUDIT_ORIGIN_MAX];
  (void)env;
  int rc = mg_ks_audit_verifier(ks, &vk);
  if (rc == 0) {
    rc = mg_ks_audit_origin(ks, origin, sizeof(origin));
  }
  if (rc < 0) {
    free(vk);
    ctl_err("init", "cannot derive the audit verifier key", rc);
    return -1;
  }
  if (j != NULL) {
    json_object_set_new(j, "audit_origin", json_string(origin));
    json_object_set_new(j, "audit_verifier_key", json_string(vk));
  } else {
    printf("audit log %s\n", origin);
    printf("audit verifier key (give it to your auditors):\n  %s\n", vk);
  }
  free(vk);
  return 0;
}

static int cmd_init(const ctl_env *env, int argc, char **argv) {
  const char *pos[1];
  size_t npos;
  struct stat st;
  int made_dir = 0, made_kek = 0, status = 1, rc;
  mg_keystore *ks = NULL;
  mg_ks_options opt;
  json_t *j = NULL;

  if (ctl_parse("init", argc, argv, NULL, 0, NULL, pos, 0, &npos) < 0) {
    return CTL_USAGE;
  }
  if (ctl_init_crypto("init") != 0) {
    return 1;
  }
  if (stat(env->store, &st) != 0) {
    if (mkdir(env->store, 0700) != 0) {
      fprintf(stderr, "mlsgatectl init: cannot create %s: %s\n", env->store,
              strerror(errno));
      return 1;
    }
    made_dir = 1;
  } else if (!S_ISDIR(st.st_mode)) {
    fprintf(stderr, "mlsgatectl init: %s exists and is not a directory\n",
            env->store);
    return 1;
  }
  if (stat(env->kek, &st) != 0) {
    rc = mg_kv_kek_generate(env->kek);
    if (rc < 0) {
      fprintf(stderr, "mlsgatectl init: cannot create the KEK file %s: %s\n",
              env->kek, mg_strerror(rc));
      goto out;
    }
    made_kek = 1;
  }
  memset(&opt, 0, sizeof(opt));
  opt.dir = env->store;
  opt.kek_path = env->kek;
  opt.kek_fd = -1;
  opt.create = 1;
  rc = mg_ks_open(&ks, &opt);
  if (rc == MG_ERR_EXISTS) {
    fprintf(stderr, "mlsgatectl init: %s already holds a store\n", env->store);
    goto out;
  }
  if (rc == MG_ERR_KEK) {
    fprintf(stderr,
            "mlsgatectl init: the KEK file %s is not usable (32 bytes, "
            "readable by its owner only)\n",
            env->kek);
    goto out;
  }
  if (rc < 0) {
    ctl_err("init", "cannot create the store", rc);
    goto out;
  }
  if (env->json) {
    j = json_pack("{s:s, s:s, s:b}", "store", env->store, "kek", env->kek,
                  "kek_created", made_kek);
  } else {
    printf("initialized store %s\n", env->store);
    printf("KEK %s (%s)\n", env->kek,
           made_kek ? "created, mode 0600" : "existing file");
  }
  if (init_report_extras(env, ks, j) != 0) {
    json_decref(j);
    j = NULL;
    goto out;
  }
  status = env->json ? ctl_print_json(j) : 0;
  j = NULL;
out:
  mg_ks_close(ks);
  if (status != 0) {
    /* Leave nothing behind: the store files are the backend's (it
     * refused or failed), the KEK and directory are ours. */
    if (made_kek) {
      (void)unlink(env->kek);
    }
    if (made_dir) {
      (void)rmdir(env->store);
    }
  }
  return status;
}

/* ----------------------------------------------------------- identity */

static json_t *key_json(const mg_ks_key_info *k) {
  char id[2 * MG_KS_KEY_ID_LEN + 1];
  char pub[2 * MG_MAX_SIG_PUB_LEN + 1];
  mg_hex_encode(id, k->key_id, MG_KS_KEY_ID_LEN);
  mg_hex_encode(pub, k->pub, k->pub_len);
  return json_pack(
      "{s:I, s:s, s:s, s:I, s:o, s:s}", "version", (json_int_t)k->version,
      "key_id", id, "state", mg_ks_key_state_name(k->state), "created_at",
      (json_int_t)k->created_at, "not_after",
      k->not_after != 0 ? json_integer((json_int_t)k->not_after) : json_null(),
      "public_key", pub);
}

static json_t *identity_json(const mg_ks_identity *id) {
  json_t *keys = json_array();
  json_t *j;
  for (size_t i = 0; keys != NULL && i < id->num_keys; i++) {
    if (json_array_append_new(keys, key_json(&id->keys[i])) != 0) {
      json_decref(keys);
      keys = NULL;
    }
  }
  if (keys == NULL) {
    return NULL;
  }
  j = json_pack(
      "{s:s, s:i, s:s, s:I, s:o, s:I, s:o}", "name", id->name, "cipher_suite",
      (int)id->cipher_suite, "suite_name", ctl_suite_name(id->cipher_suite),
      "created_at", (json_int_t)id->created_at, "rotate_every",
      id->rotate_every != 0 ? json_integer((json_int_t)id->rotate_every)
                            : json_null(),
      "active_version", (json_int_t)id->active_version, "keys", keys);
  return j;
}

static const mg_ks_key_info *identity_active(const mg_ks_identity *id) {
  for (size_t i = 0; i < id->num_keys; i++) {
    if (id->keys[i].version == id->active_version) {
      return &id->keys[i];
    }
  }
  return NULL;
}

static void print_key_line(const mg_ks_key_info *k, int with_pub) {
  char id[2 * MG_KS_KEY_ID_LEN + 1];
  char t[32], na[32];
  mg_hex_encode(id, k->key_id, MG_KS_KEY_ID_LEN);
  ctl_format_time(t, sizeof(t), k->created_at);
  printf("  v%-4" PRIu32 " %s  %-7s  created %s", k->version, id,
         mg_ks_key_state_name(k->state), t);
  if (k->not_after != 0) {
    ctl_format_time(na, sizeof(na), k->not_after);
    printf("  not-after %s", na);
  }
  printf("\n");
  if (with_pub) {
    char pub[2 * MG_MAX_SIG_PUB_LEN + 1];
    mg_hex_encode(pub, k->pub, k->pub_len);
    printf("        public key %s\n", pub);
  }
}

static void print_identity(const mg_ks_identity *id) {
  char t[32], d[32];
  ctl_format_time(t, sizeof(t), id->created_at);
  printf("identity %s\n", id->name);
  printf("  suite    %u (%s)\n", (unsigned)id->cipher_suite,
         ctl_suite_name(id->cipher_suite));
  printf("  created  %s\n", t);
  if (id->rotate_every != 0) {
    ctl_format_duration(d, sizeof(d), id->rotate_every);
    printf("  rotate   every %s\n", d);
  } else {
    printf("  rotate   on demand only\n");
  }
  printf("  keys (%zu):\n", id->num_keys);
  for (size_t i = 0; i < id->num_keys; i++) {
    print_key_line(&id->keys[i], 1);
  }
}

static int check_name(const char *cmd, const char *name) {
  if (!mg_ks_name_valid(name)) {
    fprintf(stderr,
            "mlsgatectl %s: invalid identity name '%s' (1-%d characters of "
            "A-Z a-z 0-9 . _ -)\n",
            cmd, name, MG_KS_NAME_MAX);
    return -1;
  }
  return 0;
}

static int report_lookup(const char *cmd, const char *name, int rc) {
  if (rc == MG_ERR_NOT_FOUND) {
    fprintf(stderr, "mlsgatectl %s: no identity '%s'\n", cmd, name);
  } else {
    ctl_err(cmd, name, rc);
  }
  return 1;
}

static int cmd_identity_create(const ctl_env *env, int argc, char **argv) {
  static const ctl_optdef defs[] = {{"--suite", 1}, {"--rotate-every", 1}};
  const char *v[2], *pos[1];
  size_t npos;
  uint64_t suite = 0, every = 0;
  mg_keystore *ks = NULL;
  mg_ks_identity id;
  mg_ks_ctx ctx;
  int rc, status;
  const char *cmd = "identity create";

  memset(&id, 0, sizeof(id));
  if (ctl_parse(cmd, argc, argv, defs, 2, v, pos, 1, &npos) < 0) {
    return CTL_USAGE;
  }
  if (npos != 1 || v[0] == NULL) {
    fprintf(stderr,
            "usage: mlsgatectl identity create NAME --suite N "
            "[--rotate-every DURATION]\n");
    return CTL_USAGE;
  }
  if (check_name(cmd, pos[0]) < 0) {
    return CTL_USAGE;
  }
  if (ctl_parse_uint(v[0], 0xffff, &suite) < 0 ||
      mls_suite_by_id((uint16_t)suite) == NULL) {
    fprintf(stderr,
            "mlsgatectl %s: unsupported cipher suite '%s' (one of %d..%d, "
            "RFC 9420 §17.1)\n",
            cmd, v[0], MLS_SUITE_MIN, MLS_SUITE_MAX);
    return CTL_USAGE;
  }
  if (v[1] != NULL && ctl_parse_duration(v[1], &every) < 0) {
    fprintf(stderr,
            "mlsgatectl %s: bad duration '%s' (a positive number with a unit "
            "s, m, h, d or w: 90d, 12h, 30m, 3600s)\n",
            cmd, v[1]);
    return CTL_USAGE;
  }
  if (ctl_open(cmd, env, &ks) != 0) {
    return 1;
  }
  ctl_ctx(&ctx);
  rc = mg_ks_identity_create(ks, &ctx, pos[0], (uint16_t)suite, every, &id);
  if (rc == MG_ERR_EXISTS) {
    fprintf(stderr, "mlsgatectl %s: identity '%s' already exists\n", cmd,
            pos[0]);
    status = 1;
  } else if (rc < 0) {
    ctl_err(cmd, pos[0], rc);
    status = 1;
  } else if (env->json) {
    status = ctl_print_json(identity_json(&id));
  } else {
    printf("created identity %s\n", id.name);
    print_identity(&id);
    status = 0;
  }
  mg_ks_identity_cleanup(&id);
  mg_ks_close(ks);
  return status;
}

static int list_one(void *arg, const mg_ks_identity *id) {
  json_t *arr = arg;
  if (arr != NULL) {
    return json_array_append_new(arr, identity_json(id)) == 0 ? 0
                                                              : MG_ERR_NOMEM;
  }
  {
    const mg_ks_key_info *k = identity_active(id);
    char kid[2 * MG_KS_KEY_ID_LEN + 1] = "-";
    char d[32] = "-";
    if (k != NULL) {
      mg_hex_encode(kid, k->key_id, MG_KS_KEY_ID_LEN);
    }
    if (id->rotate_every != 0) {
      ctl_format_duration(d, sizeof(d), id->rotate_every);
    }
    printf("%-20s suite %u  active v%" PRIu32 " %s  keys %zu  rotate %s\n",
           id->name, (unsigned)id->cipher_suite, id->active_version, kid,
           id->num_keys, d);
  }
  return 0;
}

static int cmd_identity_list(const ctl_env *env, int argc, char **argv) {
  const char *pos[1];
  size_t npos;
  mg_keystore *ks = NULL;
  json_t *arr = NULL;
  int rc, status = 1;
  if (ctl_parse("identity list", argc, argv, NULL, 0, NULL, pos, 0, &npos) <
      0) {
    return CTL_USAGE;
  }
  if (ctl_open("identity list", env, &ks) != 0) {
    return 1;
  }
  if (env->json) {
    arr = json_array();
  }
  rc = mg_ks_identity_list(ks, list_one, arr);
  if (rc < 0) {
    ctl_err("identity list", "cannot list identities", rc);
  } else if (env->json) {
    status = ctl_print_json(json_pack("{s:O}", "identities", arr));
  } else {
    status = 0;
  }
  json_decref(arr);
  mg_ks_close(ks);
  return status;
}

static int cmd_identity_show(const ctl_env *env, int argc, char **argv) {
  const char *pos[1];
  size_t npos;
  mg_keystore *ks = NULL;
  mg_ks_identity id;
  int rc, status = 1;
  const char *cmd = "identity show";
  memset(&id, 0, sizeof(id));
  if (ctl_parse(cmd, argc, argv, NULL, 0, NULL, pos, 1, &npos) < 0) {
    return CTL_USAGE;
  }
  if (npos != 1) {
    fprintf(stderr, "usage: mlsgatectl identity show NAME\n");
    return CTL_USAGE;
  }
  if (check_name(cmd, pos[0]) < 0) {
    return CTL_USAGE;
  }
  if (ctl_open(cmd, env, &ks) != 0) {
    return 1;
  }
  rc = mg_ks_identity_get(ks, pos[0], &id);
  if (rc < 0) {
    status = report_lookup(cmd, pos[0], rc);
  } else if (env->json) {
    status = ctl_print_json(identity_json(&id));
  } else {
    print_identity(&id);
    status = 0;
  }
  mg_ks_identity_cleanup(&id);
  mg_ks_close(ks);
  return status;
}

static int cmd_identity_rotate(const ctl_env *env, int argc, char **argv) {
  const char *pos[1];
  size_t npos;
  mg_keystore *ks = NULL;
  mg_ks_key_info k;
  mg_ks_ctx ctx;
  int rc, status = 1;
  const char *cmd = "identity rotate";
  if (ctl_parse(cmd, argc, argv, NULL, 0, NULL, pos, 1, &npos) < 0) {
    return CTL_USAGE;
  }
  if (npos != 1) {
    fprintf(stderr, "usage: mlsgatectl identity rotate NAME\n");
    return CTL_USAGE;
  }
  if (check_name(cmd, pos[0]) < 0) {
    return CTL_USAGE;
  }
  if (ctl_open(cmd, env, &ks) != 0) {
    return 1;
  }
  ctl_ctx(&ctx);
  rc = mg_ks_identity_rotate(ks, &ctx, pos[0], &k);
  if (rc < 0) {
    status = report_lookup(cmd, pos[0], rc);
  } else if (env->json) {
    status = ctl_print_json(
        json_pack("{s:s, s:o}", "name", pos[0], "key", key_json(&k)));
  } else {
    printf("rotated %s: new active key\n", pos[0]);
    print_key_line(&k, 0);
    status = 0;
  }
  mg_ks_close(ks);
  return status;
}

static int cmd_identity_revoke(const ctl_env *env, int argc, char **argv) {
  const char *pos[2];
  size_t npos;
  mg_keystore *ks = NULL;
  mg_ks_identity id;
  mg_ks_ctx ctx;
  uint8_t *kid = NULL;
  size_t kid_len = 0;
  int rc, status = 1;
  const char *cmd = "identity revoke";
  memset(&id, 0, sizeof(id));
  if (ctl_parse(cmd, argc, argv, NULL, 0, NULL, pos, 2, &npos) < 0) {
    return CTL_USAGE;
  }
  if (npos != 2) {
    fprintf(stderr, "usage: mlsgatectl identity revoke NAME KEYID\n");
    return CTL_USAGE;
  }
  if (check_name(cmd, pos[0]) < 0) {
    return CTL_USAGE;
  }
  if (mg_hex_decode(&kid, &kid_len, pos[1], strlen(pos[1])) < 0 ||
      kid_len != MG_KS_KEY_ID_LEN) {
    fprintf(stderr,
            "mlsgatectl %s: bad key ID '%s' (%d hex digits, as 'identity "
            "show' prints them)\n",
            cmd, pos[1], 2 * MG_KS_KEY_ID_LEN);
    free(kid);
    return CTL_USAGE;
  }
  if (ctl_open(cmd, env, &ks) != 0) {
    free(kid);
    return 1;
  }
  ctl_ctx(&ctx);
  rc = mg_ks_identity_revoke(ks, &ctx, pos[0], kid);
  if (rc == MG_ERR_NOT_FOUND) {
    fprintf(stderr, "mlsgatectl %s: no identity '%s' with key %s\n", cmd,
            pos[0], pos[1]);
  } else if (rc == MG_ERR_CONFLICT) {
    fprintf(stderr, "mlsgatectl %s: key %s of '%s' is already revoked\n", cmd,
            pos[1], pos[0]);
  } else if (rc < 0) {
    ctl_err(cmd, pos[0], rc);
  } else if ((rc = mg_ks_identity_get(ks, pos[0], &id)) < 0) {
    ctl_err(cmd, pos[0], rc);
  } else if (env->json) {
    status = ctl_print_json(identity_json(&id));
  } else {
    printf("revoked key %s of %s\n", pos[1], pos[0]);
    print_identity(&id);
    status = 0;
  }
  mg_ks_identity_cleanup(&id);
  free(kid);
  mg_ks_close(ks);
  return status;
}

static int cmd_identity_rotate_due(const ctl_env *env, int argc, char **argv) {
  const char *pos[1];
  size_t npos, n = 0;
  mg_keystore *ks = NULL;
  mg_ks_ctx ctx;
  int rc, status = 1;
  const char *cmd = "identity rotate-due";
  if (ctl_parse(cmd, argc, argv, NULL, 0, NULL, pos, 0, &npos) < 0) {
    return CTL_USAGE;
  }
  if (ctl_open(cmd, env, &ks) != 0) {
    return 1;
  }
  ctl_ctx(&ctx);
  rc = mg_ks_identity_rotate_due(ks, &ctx, &n);
  if (rc < 0) {
    ctl_err(cmd, "rotation failed (nothing rotated)", rc);
  } else if (env->json) {
    status = ctl_print_json(json_pack("{s:I}", "rotated", (json_int_t)n));
  } else {
    printf("rotated %zu identit%s\n", n, n == 1 ? "y" : "ies");
    status = 0;
  }
  mg_ks_close(ks);
  return status;
}

/* -------------------------------------------------------- keypackages */

static int kp_print(void *arg, const uint8_t *ref, size_t ref_len,
                    const uint8_t *kp, size_t kp_len) {
  json_t *arr = arg;
  char hex[2 * MG_MAX_HASH_LEN + 1];
  mg_hex_encode(hex, ref, ref_len);
  if (arr == NULL) {
    printf("%s\n", hex);
    return 0;
  }
  {
    char *b64 = malloc(MG_BASE64_ENCODED_LEN(kp_len) + 1);
    int rc;
    if (b64 == NULL) {
      return MG_ERR_NOMEM;
    }
    mg_base64_encode(b64, kp, kp_len);
    rc = json_array_append_new(
        arr, json_pack("{s:s, s:s}", "ref", hex, "key_package", b64));
    free(b64);
    return rc == 0 ? 0 : MG_ERR_NOMEM;
  }
}

static int cmd_kp_generate(const ctl_env *env, int argc, char **argv) {
  static const ctl_optdef defs[] = {{"--count", 1}, {"--last-resort", 0}};
  const char *v[2], *pos[1];
  size_t npos;
  uint64_t count = 0;
  mg_keystore *ks = NULL;
  mg_ks_ctx ctx;
  json_t *arr = NULL;
  int rc, status = 1;
  const char *cmd = "keypackages generate";
  if (ctl_parse(cmd, argc, argv, defs, 2, v, pos, 1, &npos) < 0) {
    return CTL_USAGE;
  }
  if (npos != 1 || v[0] == NULL) {
    fprintf(stderr,
            "usage: mlsgatectl keypackages generate NAME --count N "
            "[--last-resort]\n");
    return CTL_USAGE;
  }
  if (check_name(cmd, pos[0]) < 0) {
    return CTL_USAGE;
  }
  if (ctl_parse_uint(v[0], MG_KS_KP_MAX_BATCH, &count) < 0 || count == 0) {
    fprintf(stderr, "mlsgatectl %s: bad count '%s' (1..%d)\n", cmd, v[0],
            MG_KS_KP_MAX_BATCH);
    return CTL_USAGE;
  }
  if (ctl_open(cmd, env, &ks) != 0) {
    return 1;
  }
  ctl_ctx(&ctx);
  if (env->json) {
    arr = json_array();
  }
  rc = mg_ks_kp_generate(ks, &ctx, pos[0], (uint32_t)count, v[1] != NULL,
                         kp_print, arr);
  if (rc < 0) {
    status = report_lookup(cmd, pos[0], rc);
  } else if (env->json) {
    status = ctl_print_json(json_pack("{s:s, s:b, s:O}", "identity", pos[0],
                                      "last_resort", v[1] != NULL,
                                      "key_packages", arr));
  } else {
    status = 0;
  }
  json_decref(arr);
  mg_ks_close(ks);
  return status;
}

static int cmd_kp_stats(const ctl_env *env, int argc, char **argv) {
  const char *pos[1];
  size_t npos;
  mg_keystore *ks = NULL;
  mg_ks_kp_counts c;
  uint64_t now = ctl_now();
  int rc, status = 1;
  const char *cmd = "keypackages stats";
  if (ctl_parse(cmd, argc, argv, NULL, 0, NULL, pos, 1, &npos) < 0) {
    return CTL_USAGE;
  }
  if (npos != 1) {
    fprintf(stderr, "usage: mlsgatectl keypackages stats NAME\n");
    return CTL_USAGE;
  }
  if (check_name(cmd, pos[0]) < 0) {
    return CTL_USAGE;
  }
  if (ctl_open(cmd, env, &ks) != 0) {
    return 1;
  }
  rc = mg_ks_kp_stats(ks, pos[0], now, &c);
  if (rc < 0) {
    status = report_lookup(cmd, pos[0], rc);
  } else if (env->json) {
    status = ctl_print_json(json_pack(
        "{s:s, s:I, s:I, s:I, s:I}", "identity", pos[0], "at", (json_int_t)now,
        "unused", (json_int_t)c.unused, "valid", (json_int_t)c.valid,
        "last_resort", (json_int_t)c.last_resort));
  } else {
    printf("key packages of %s\n", pos[0]);
    printf("  unused       %" PRIu64 "\n", c.unused);
    printf("  valid now    %" PRIu64 "\n", c.valid);
    printf("  last resort  %" PRIu64 "\n", c.last_resort);
    status = 0;
  }
  mg_ks_close(ks);
  return status;
}

/* ============================================================ commands */


/* -------------------------------------------------------------- audit */

/* audit key: the verifier key auditors need (printed by init, again here;
 * public, read-only). */
static int cmd_audit_key(const ctl_env *env, int argc, char **argv) {
  const char *pos[1];
  size_t npos;
  mg_keystore *ks = NULL;
  char *vk = NULL;
  int rc, status = 1;
  const char *cmd = "audit key";
  if (ctl_parse(cmd, argc, argv, NULL, 0, NULL, pos, 0, &npos) < 0) {
    return CTL_USAGE;
  }
  if (ctl_open(cmd, env, &ks) != 0) {
    return 1;
  }
  rc = mg_ks_audit_verifier(ks, &vk);
  if (rc < 0) {
    ctl_err(cmd, "cannot derive the audit verifier key", rc);
  } else if (env->json) {
    status = ctl_print_json(json_pack("{s:s}", "audit_verifier_key", vk));
  } else {
    printf("%s\n", vk);
    status = 0;
  }
  free(vk);
  mg_ks_close(ks);
  return status;
}

static int cmd_audit_checkpoint(const ctl_env *env, int argc, char **argv) {
  const char *pos[1];
  size_t npos;
  mg_keystore *ks = NULL;
  mg_ks_ctx ctx;
  char *note = NULL;
  size_t len = 0;
  uint64_t size = 0;
  int rc, status = 1;
  const char *cmd = "audit checkpoint";
  if (ctl_parse(cmd, argc, argv, NULL, 0, NULL, pos, 0, &npos) < 0) {
    return CTL_USAGE;
  }
  if (ctl_open(cmd, env, &ks) != 0) {
    return 1;
  }
  ctl_ctx(&ctx);
  rc = mg_ks_audit_checkpoint(ks, &ctx, &note, &len, &size);
  if (rc < 0) {
    ctl_err(cmd, "cannot sign a checkpoint", rc);
  } else if (env->json) {
    status = ctl_print_json(json_pack("{s:I, s:s%}", "size", (json_int_t)size,
                                      "checkpoint", note, len));
  } else {
    fwrite(note, 1, len, stdout);
    status = 0;
  }
  free(note);
  mg_ks_close(ks);
  return status;
}

static int cmd_audit_export(const ctl_env *env, int argc, char **argv) {
  static const ctl_optdef defs[] = {{"--out", 1}};
  const char *vals[1], *pos[1];
  size_t npos;
  mg_keystore *ks = NULL;
  mg_ks_ctx ctx;
  uint64_t size = 0;
  int rc, fd, status = 1;
  FILE *f = NULL;
  const char *cmd = "audit export";
  if (ctl_parse(cmd, argc, argv, defs, 1, vals, pos, 0, &npos) < 0) {
    return CTL_USAGE;
  }
  if (vals[0] == NULL) {
    fprintf(stderr, "usage: mlsgatectl audit export --out FILE\n");
    return CTL_USAGE;
  }
  if (ctl_open(cmd, env, &ks) != 0) {
    return 1;
  }
  fd = open(vals[0], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
    fprintf(stderr, "mlsgatectl %s: cannot create %s: %s\n", cmd, vals[0],
            strerror(errno));
    if (fd >= 0) {
      close(fd);
    }
    mg_ks_close(ks);
    return 1;
  }
  ctl_ctx(&ctx);
  rc = mg_ks_audit_export(ks, &ctx, f, &size);
  if (fclose(f) != 0 && rc == 0) {
    rc = MG_ERR_IO;
  }
  if (rc < 0) {
    ctl_err(cmd, "export failed", rc);
    (void)unlink(vals[0]);
  } else if (env->json) {
    status = ctl_print_json(json_pack("{s:s, s:I}", "file", vals[0], "size",
                                      (json_int_t)size));
  } else {
    printf("exported %" PRIu64 " audit entries and a checkpoint to %s\n",
           size, vals[0]);
    status = 0;
  }
  mg_ks_close(ks);
  return status;
}

/* Reads a whole (small) file into a NUL-terminated buffer. */
static char *read_small_file(const char *cmd, const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  char *buf = NULL;
  size_t n = 0, cap = 0;
  int c;
  if (f == NULL) {
    fprintf(stderr, "mlsgatectl %s: cannot read %s: %s\n", cmd, path,
            strerror(errno));
    return NULL;
  }
  while ((c = fgetc(f)) != EOF) {
    if (n + 1 >= cap) {
      if (cap >= (size_t)1 << 20) {
        fprintf(stderr, "mlsgatectl %s: %s is too large\n", cmd, path);
        free(buf);
        fclose(f);
        return NULL;
      }
      char *nb = realloc(buf, cap == 0 ? 1024 : cap * 2);
      if (nb == NULL) {
        free(buf);
        fclose(f);
        return NULL;
      }
      buf = nb;
      cap = cap == 0 ? 1024 : cap * 2;
    }
    buf[n++] = (char)c;
  }
  fclose(f);
  if (buf == NULL) {
    buf = calloc(1, 1);
  }
  if (buf != NULL) {
    buf[n] = '\0';
    *len = n;
  }
  return buf;
}

/* audit verify needs no store and no KEK: only the export and the key. */
static int cmd_audit_verify(const ctl_env *env, int argc, char **argv) {
  static const ctl_optdef defs[] = {{"--key", 1}, {"--since", 1}};
  const char *vals[2], *pos[1];
  size_t npos, since_len = 0;
  char *since = NULL;
  mg_audit_verify_result res;
  FILE *f;
  int rc, status = 1;
  const char *cmd = "audit verify";
  if (ctl_parse(cmd, argc, argv, defs, 2, vals, pos, 1, &npos) < 0) {
    return CTL_USAGE;
  }
  if (npos != 1 || vals[0] == NULL) {
    fprintf(stderr, "usage: mlsgatectl audit verify FILE --key VKEY "
                    "[--since CHECKPOINT_FILE]\n");
    return CTL_USAGE;
  }
  if (mg_crypto_init() < 0) {
    return 1;
  }
  if (vals[1] != NULL) {
    since = read_small_file(cmd, vals[1], &since_len);
    if (since == NULL) {
      return 1;
    }
  }
  f = fopen(pos[0], "r");
  if (f == NULL) {
    fprintf(stderr, "mlsgatectl %s: cannot read %s: %s\n", cmd, pos[0],
            strerror(errno));
    free(since);
    return 1;
  }
  rc = mg_audit_verify(f, vals[0], since, since_len, &res);
  fclose(f);
  if (rc < 0) {
    fprintf(stderr, "mlsgatectl %s: %s is not a usable export or the key is "
                    "malformed: %s\n", cmd, pos[0], mg_strerror(rc));
  } else if (env->json) {
    json_t *j = json_pack("{s:b, s:I, s:s}", "ok", res.ok, "size",
                          (json_int_t)res.size, "reason", res.reason);
    if (j != NULL && res.bad_entry >= 0) {
      json_object_set_new(j, "bad_entry", json_integer(res.bad_entry));
    }
    status = ctl_print_json(j) != 0 ? 1 : (res.ok ? 0 : 1);
  } else if (res.ok) {
    printf("OK: %" PRIu64 " entries verify against the signed checkpoint%s\n",
           res.size, since != NULL ? " and extend the earlier one" : "");
    status = 0;
  } else {
    if (res.bad_entry >= 0) {
      printf("FAILED at entry %" PRId64 ": %s\n", res.bad_entry, res.reason);
    } else {
      printf("FAILED: %s\n", res.reason);
    }
  }
  if (rc == 0 && !res.ok) {
    fprintf(stderr, "mlsgatectl %s: %s does not verify\n", cmd, pos[0]);
  }
  free(since);
  return status;
}


/* audit proof: one entry with a C2SP tlog-proof against a fresh checkpoint
 * (the entry travels as the proof's extra data: not trusted by itself, the
 * verifier recomputes its leaf hash). */
typedef struct one_entry {
  char *entry;
  size_t len;
} one_entry;

static int grab_entry(void *arg, uint64_t seq, const char *entry,
                      size_t entry_len, const uint8_t leaf[MG_TLOG_HASH_LEN]) {
  one_entry *o = arg;
  (void)seq;
  (void)leaf;
  o->entry = malloc(entry_len + 1);
  if (o->entry == NULL) {
    return MG_ERR_NOMEM;
  }
  memcpy(o->entry, entry, entry_len);
  o->entry[entry_len] = '\0';
  o->len = entry_len;
  return 1;
}

static int cmd_audit_proof(const ctl_env *env, int argc, char **argv) {
  static const ctl_optdef defs[] = {{"--index", 1}};
  const char *vals[1], *pos[1];
  size_t npos, note_len = 0;
  mg_keystore *ks = NULL;
  mg_ks_ctx ctx;
  uint64_t index = 0, size = 0;
  char *note = NULL;
  one_entry e = {NULL, 0};
  mg_tlog_proof_text *pt = NULL;
  mg_writer w;
  int rc, status = 1;
  const char *cmd = "audit proof";
  mg_writer_zero(&w);
  if (ctl_parse(cmd, argc, argv, defs, 1, vals, pos, 0, &npos) < 0) {
    return CTL_USAGE;
  }
  if (vals[0] == NULL || ctl_parse_uint(vals[0], UINT64_MAX, &index) < 0) {
    fprintf(stderr, "usage: mlsgatectl audit proof --index N\n");
    return CTL_USAGE;
  }
  if (ctl_open(cmd, env, &ks) != 0) {
    return 1;
  }
  ctl_ctx(&ctx);
  rc = mg_ks_audit_checkpoint(ks, &ctx, &note, &note_len, &size);
  if (rc < 0) {
    ctl_err(cmd, "cannot sign a checkpoint", rc);
    goto out;
  }
  if (index >= size) {
    fprintf(stderr, "mlsgatectl %s: no entry %" PRIu64 " (the log has %" PRIu64
                    " entries)\n", cmd, index, size);
    goto out;
  }
  pt = calloc(1, sizeof(*pt));
  if (pt == NULL) {
    goto out;
  }
  rc = mg_ks_audit_entries(ks, index, index + 1, grab_entry, &e, NULL);
  if (rc == 0 && e.entry != NULL && e.len <= sizeof(pt->extra)) {
    pt->has_extra = 1;
    pt->extra_len = e.len;
    memcpy(pt->extra, e.entry, e.len);
  }
  if (rc == 0) {
    rc = mg_ks_audit_prove_inclusion(ks, index, size, &pt->proof);
  }
  pt->index = index;
  pt->checkpoint = note;
  pt->checkpoint_len = note_len;
  if (rc == 0) {
    rc = mg_writer_init(&w, 1024, 0);
  }
  if (rc == 0) {
    rc = mg_tlog_proof_format(&w, pt);
  }
  if (rc < 0) {
    ctl_err(cmd, "cannot build the proof", rc);
    goto out;
  }
  if (env->json) {
    status = ctl_print_json(json_pack(
        "{s:I, s:s, s:s%}", "index", (json_int_t)index, "entry",
        e.entry != NULL ? e.entry : "", "proof",
        (const char *)mg_writer_data(&w), mg_writer_len(&w)));
  } else {
    fwrite(mg_writer_data(&w), 1, mg_writer_len(&w), stdout);
    status = 0;
  }
out:
  mg_writer_cleanup(&w);
  free(pt);
  free(e.entry);
  free(note);
  mg_ks_close(ks);
  return status;
}

/* audit verify-proof: offline check of one entry's proof. */
static int cmd_audit_verify_proof(const ctl_env *env, int argc, char **argv) {
  static const ctl_optdef defs[] = {{"--key", 1}};
  const char *vals[1], *pos[1];
  size_t npos, len = 0;
  char *text = NULL;
  mg_tlog_proof_text *pt = NULL;
  mg_note_verifier v;
  mg_checkpoint cp;
  uint8_t leaf[MG_TLOG_HASH_LEN];
  int rc, status = 1;
  const char *cmd = "audit verify-proof";
  if (ctl_parse(cmd, argc, argv, defs, 1, vals, pos, 1, &npos) < 0) {
    return CTL_USAGE;
  }
  if (npos != 1 || vals[0] == NULL) {
    fprintf(stderr, "usage: mlsgatectl audit verify-proof FILE --key VKEY\n");
    return CTL_USAGE;
  }
  if (mg_crypto_init() < 0) {
    return 1;
  }
  text = read_small_file(cmd, pos[0], &len);
  if (text == NULL) {
    return 1;
  }
  rc = mg_note_verifier_parse(&v, vals[0], strlen(vals[0]));
  if (rc < 0) {
    fprintf(stderr, "mlsgatectl %s: malformed verifier key\n", cmd);
    goto out;
  }
  pt = calloc(1, sizeof(*pt));
  if (pt == NULL) {
    goto out;
  }
  rc = mg_tlog_proof_parse(pt, text, len);
  if (rc < 0 || !pt->has_extra) {
    fprintf(stderr, "mlsgatectl %s: %s is not an mlsgate tlog proof\n", cmd,
            pos[0]);
    goto out;
  }
  rc = mg_tlog_leaf_hash(leaf, pt->extra, pt->extra_len);
  if (rc == 0) {
    rc = mg_tlog_proof_verify(pt, leaf, v.name, v.name_len, &v, 1, &cp);
  }
  if (rc < 0) {
    fprintf(stderr, "mlsgatectl %s: the proof does not verify (%s)\n", cmd,
            mg_err_name(rc));
    if (!env->json) {
      printf("FAILED: entry %" PRIu64 " is not in the signed log\n", pt->index);
    }
    goto out;
  }
  if (env->json) {
    status = ctl_print_json(json_pack("{s:b, s:I, s:I, s:s%}", "ok", 1,
                                      "index", (json_int_t)pt->index, "size",
                                      (json_int_t)cp.size, "entry",
                                      (const char *)pt->extra, pt->extra_len));
  } else {
    printf("OK: entry %" PRIu64 " is in the signed log of %" PRIu64
           " entries:\n%.*s\n", pt->index, cp.size, (int)pt->extra_len,
           (const char *)pt->extra);
    status = 0;
  }
out:
  free(pt);
  free(text);
  return status;
}

/* ------------------------------------------------- backup, restore, kek */

static int cmd_backup(const ctl_env *env, int argc, char **argv) {
  static const ctl_optdef defs[] = {{"--out", 1}};
  const char *vals[1], *pos[1];
  size_t npos;
  mg_keystore *ks = NULL;
  mg_ks_ctx ctx;
  int rc, status = 1;
  if (ctl_parse("backup", argc, argv, defs, 1, vals, pos, 0, &npos) < 0) {
    return CTL_USAGE;
  }
  if (vals[0] == NULL) {
    fprintf(stderr, "usage: mlsgatectl backup --out FILE\n");
    return CTL_USAGE;
  }
  if (ctl_open("backup", env, &ks) != 0) {
    return 1;
  }
  ctl_ctx(&ctx);
  rc = mg_ks_backup(ks, &ctx, vals[0]);
  if (rc < 0) {
    ctl_err("backup", rc == MG_ERR_EXISTS ? vals[0] : "backup failed", rc);
  } else if (env->json) {
    status = ctl_print_json(json_pack("{s:s}", "backup", vals[0]));
  } else {
    printf("backup written to %s (it opens with the current KEK)\n", vals[0]);
    status = 0;
  }
  mg_ks_close(ks);
  return status;
}

static int cmd_restore(const ctl_env *env, int argc, char **argv) {
  static const ctl_optdef defs[] = {{"--from", 1}};
  const char *vals[1], *pos[1];
  size_t npos;
  mg_keystore *ks = NULL;
  int rc;
  if (ctl_parse("restore", argc, argv, defs, 1, vals, pos, 0, &npos) < 0) {
    return CTL_USAGE;
  }
  if (vals[0] == NULL) {
    fprintf(stderr, "usage: mlsgatectl --store DIR restore --from FILE\n");
    return CTL_USAGE;
  }
  if (ctl_init_crypto("restore") != 0) {
    return 1;
  }
  rc = mg_ks_restore(vals[0], env->store);
  if (rc < 0) {
    ctl_err("restore", rc == MG_ERR_EXISTS ? "the target already holds a store"
                                          : "restore failed",
            rc);
    return 1;
  }
  /* The restored store must open with the KEK (else it is useless). */
  if (ctl_open("restore", env, &ks) != 0) {
    fprintf(stderr, "mlsgatectl restore: the backup was installed in %s but "
                    "does not open with %s\n", env->store, env->kek);
    return 1;
  }
  mg_ks_close(ks);
  if (env->json) {
    return ctl_print_json(json_pack("{s:s}", "restored", env->store));
  }
  printf("restored %s into %s\n", vals[0], env->store);
  return 0;
}

static int cmd_kek_rotate(const ctl_env *env, int argc, char **argv) {
  const char *pos[1];
  size_t npos;
  mg_keystore *ks = NULL;
  mg_ks_ctx ctx;
  int rc, status = 1;
  if (ctl_parse("kek rotate", argc, argv, NULL, 0, NULL, pos, 0, &npos) < 0) {
    return CTL_USAGE;
  }
  if (ctl_open("kek rotate", env, &ks) != 0) {
    return 1;
  }
  ctl_ctx(&ctx);
  rc = mg_ks_kek_rotate(ks, &ctx, env->kek);
  if (rc < 0) {
    ctl_err("kek rotate", "rotation failed (if " "the store no longer opens "
            "with the KEK file, use KEKFILE.next)", rc);
  } else if (env->json) {
    status = ctl_print_json(json_pack("{s:s}", "kek", env->kek));
  } else {
    printf("KEK rotated: %s now holds the new key\n", env->kek);
    status = 0;
  }
  mg_ks_close(ks);
  return status;
}

/* ------------------------------------------------------------- tokens */

#define CTL_SCOPES_HELP                                              \
  "a comma-separated list of: conversations, messages, keys:admin, " \
  "audit:read, metrics"

static int check_token_name(const char *cmd, const char *name) {
  if (!mg_ks_name_valid(name)) {
    fprintf(stderr,
            "mlsgatectl %s: invalid token name '%s' (1-%d characters of "
            "A-Z a-z 0-9 . _ -)\n",
            cmd, name, MG_KS_NAME_MAX);
    return -1;
  }
  return 0;
}

/* token_expiry reads --expires: a duration with a unit (as
 * ctl_parse_duration) or plain seconds. */
static int token_expiry(const char *s, uint64_t *out) {
  size_t i = 0;
  while (s[i] >= '0' && s[i] <= '9') {
    i++;
  }
  if (i > 0 && s[i] == '\0') {
    return ctl_parse_uint(s, (uint64_t)100 * 366 * 86400, out) == 0 &&
                   *out > 0 && s[0] != '0'
               ? 0
               : -1;
  }
  return ctl_parse_duration(s, out);
}

static const char *token_state(const mg_ks_token_info *t, uint64_t now) {
  if (t->revoked_at != 0) {
    return "revoked";
  }
  if (t->expires_at != 0 && now >= t->expires_at) {
    return "expired";
  }
  return "active";
}

/* scopes_json makes the array of |scopes|' names. */
static json_t *scopes_json(uint32_t scopes) {
  char buf[MG_KS_SCOPES_TEXT_MAX];
  json_t *arr = json_array();
  char *p = buf;
  if (arr == NULL || mg_ks_scopes_format(scopes, buf, sizeof(buf)) < 0) {
    json_decref(arr);
    return NULL;
  }
  while (*p != '\0') {
    char *comma = strchr(p, ',');
    if (comma != NULL) {
      *comma = '\0';
    }
    if (json_array_append_new(arr, json_string(p)) != 0) {
      json_decref(arr);
      return NULL;
    }
    if (comma == NULL) {
      break;
    }
    p = comma + 1;
  }
  return arr;
}

static json_t *time_or_null(uint64_t t) {
  return t != 0 ? json_integer((json_int_t)t) : json_null();
}

static json_t *token_json(const mg_ks_token_info *t, uint64_t now) {
  return json_pack("{s:s, s:s, s:o, s:I, s:o, s:o, s:s}", "name", t->name, "id",
                   t->id, "scopes", scopes_json(t->scopes), "created_at",
                   (json_int_t)t->created_at, "expires_at",
                   time_or_null(t->expires_at), "revoked_at",
                   time_or_null(t->revoked_at), "state", token_state(t, now));
}

static int cmd_token_create(const ctl_env *env, int argc, char **argv) {
  static const ctl_optdef defs[] = {
      {"--name", 1}, {"--scopes", 1}, {"--expires", 1}};
  const char *v[3], *pos[1];
  size_t npos;
  uint64_t dur = 0, expires_at = 0;
  uint32_t scopes = 0;
  mg_keystore *ks = NULL;
  mg_ks_token_info info;
  mg_ks_ctx ctx;
  char secret[MG_KS_TOKEN_LEN + 1];
  char scopes_text[MG_KS_SCOPES_TEXT_MAX], t[32];
  int rc, status = 1;
  const char *cmd = "token create";

  memset(secret, 0, sizeof(secret));
  if (ctl_parse(cmd, argc, argv, defs, 3, v, pos, 0, &npos) < 0) {
    return CTL_USAGE;
  }
  if (v[0] == NULL || v[1] == NULL) {
    fprintf(stderr,
            "usage: mlsgatectl token create --name NAME --scopes "
            "S1,S2 [--expires DURATION]\n");
    return CTL_USAGE;
  }
  if (check_token_name(cmd, v[0]) < 0) {
    return CTL_USAGE;
  }
  if (mg_ks_scopes_parse(v[1], &scopes) < 0) {
    fprintf(stderr, "mlsgatectl %s: bad scopes '%s' (%s)\n", cmd, v[1],
            CTL_SCOPES_HELP);
    return CTL_USAGE;
  }
  if (v[2] != NULL && token_expiry(v[2], &dur) < 0) {
    fprintf(stderr,
            "mlsgatectl %s: bad duration '%s' (a positive number of seconds, "
            "or with a unit s, m, h, d or w: 30d, 12h, 90m, 3600s)\n",
            cmd, v[2]);
    return CTL_USAGE;
  }
  if (ctl_open(cmd, env, &ks) != 0) {
    return 1;
  }
  ctl_ctx(&ctx);
  if (v[2] != NULL) {
    expires_at = ctx.now + dur;
  }
  rc = mg_ks_token_create(ks, &ctx, v[0], scopes, expires_at, secret, &info);
  if (rc == MG_ERR_EXISTS) {
    fprintf(stderr, "mlsgatectl %s: a token named '%s' already exists\n", cmd,
            v[0]);
  } else if (rc < 0) {
    ctl_err(cmd, v[0], rc);
  } else if (env->json) {
    status = ctl_print_json(
        json_pack("{s:s, s:s, s:s, s:o, s:I, s:o}", "name", info.name, "token",
                  secret, "id", info.id, "scopes", scopes_json(info.scopes),
                  "created_at", (json_int_t)info.created_at, "expires_at",
                  time_or_null(info.expires_at)));
  } else if (mg_ks_scopes_format(info.scopes, scopes_text,
                                 sizeof(scopes_text)) == 0) {
    if (info.expires_at != 0) {
      ctl_format_time(t, sizeof(t), info.expires_at);
    } else {
      snprintf(t, sizeof(t), "never");
    }
    printf("created token %s (id %s, scopes %s, expires %s)\n", info.name,
           info.id, scopes_text, t);
    printf("%s\n", secret);
    printf(
        "This is the only time the token is shown: the store keeps only "
        "its hash.\n");
    status = 0;
  }
  mg_memzero(secret, sizeof(secret));
  mg_ks_close(ks);
  return status;
}

typedef struct token_list_arg {
  json_t *arr; /* --json, else NULL */
  uint64_t now;
} token_list_arg;

static int token_list_one(void *arg, const mg_ks_token_info *tk) {
  token_list_arg *a = arg;
  char scopes[MG_KS_SCOPES_TEXT_MAX], c[32], e[32] = "never";
  if (a->arr != NULL) {
    return json_array_append_new(a->arr, token_json(tk, a->now)) == 0
               ? 0
               : MG_ERR_NOMEM;
  }
  if (mg_ks_scopes_format(tk->scopes, scopes, sizeof(scopes)) < 0) {
    return MG_ERR_TAMPERED;
  }
  ctl_format_time(c, sizeof(c), tk->created_at);
  if (tk->expires_at != 0) {
    ctl_format_time(e, sizeof(e), tk->expires_at);
  }
  printf("%-20s %s  %-7s  created %s  expires %-20s  %s\n", tk->name, tk->id,
         token_state(tk, a->now), c, e, scopes);
  return 0;
}

static int cmd_token_list(const ctl_env *env, int argc, char **argv) {
  const char *pos[1];
  size_t npos;
  mg_keystore *ks = NULL;
  token_list_arg a;
  int rc, status = 1;
  const char *cmd = "token list";
  if (ctl_parse(cmd, argc, argv, NULL, 0, NULL, pos, 0, &npos) < 0) {
    return CTL_USAGE;
  }
  if (ctl_open(cmd, env, &ks) != 0) {
    return 1;
  }
  memset(&a, 0, sizeof(a));
  a.now = ctl_now();
  if (env->json) {
    a.arr = json_array();
  }
  rc = mg_ks_token_list(ks, token_list_one, &a);
  if (rc < 0) {
    ctl_err(cmd, "cannot list tokens", rc);
  } else if (env->json) {
    status = ctl_print_json(json_pack("{s:O}", "tokens", a.arr));
  } else {
    status = 0;
  }
  json_decref(a.arr);
  mg_ks_close(ks);
  return status;
}

static int cmd_token_revoke(const ctl_env *env, int argc, char **argv) {
  const char *pos[1];
  size_t npos;
  mg_keystore *ks = NULL;
  mg_ks_ctx ctx;
  int rc, status = 1;
  const char *cmd = "token revoke";
  if (ctl_parse(cmd, argc, argv, NULL, 0, NULL, pos, 1, &npos) < 0) {
    return CTL_USAGE;
  }
  if (npos != 1) {
    fprintf(stderr, "usage: mlsgatectl token revoke NAME\n");
    return CTL_USAGE;
  }
  if (check_token_name(cmd, pos[0]) < 0) {
    return CTL_USAGE;
  }
  if (ctl_open(cmd, env, &ks) != 0) {
    return 1;
  }
  ctl_ctx(&ctx);
  rc = mg_ks_token_revoke(ks, &ctx, pos[0]);
  if (rc == MG_ERR_NOT_FOUND) {
    fprintf(stderr, "mlsgatectl %s: no token '%s'\n", cmd, pos[0]);
  } else if (rc == MG_ERR_CONFLICT) {
    fprintf(stderr, "mlsgatectl %s: token '%s' is already revoked\n", cmd,
            pos[0]);
  } else if (rc < 0) {
    ctl_err(cmd, pos[0], rc);
  } else if (env->json) {
    status = ctl_print_json(json_pack("{s:s, s:I}", "name", pos[0],
                                      "revoked_at", (json_int_t)ctx.now));
  } else {
    printf("revoked token %s\n", pos[0]);
    status = 0;
  }
  mg_ks_close(ks);
  return status;
}

/* A command is one or two words.  Store commands take the global options
 * (ctl_env); the others get their raw arguments. */
typedef struct ctl_command {
  const char *name;
  const char *sub;                   /* NULL: a one-word command */
  int (*run)(int argc, char **argv); /* plain */
  int (*run_store)(const ctl_env *env, int argc, char **argv); /* store */
  const char *usage;
  const char *summary;
} ctl_command;

static const ctl_command commands[] = {
    {"init", NULL, NULL, cmd_init, "init",
     "create the store (and the KEK file unless it exists)"},
    {"identity", "create", NULL, cmd_identity_create,
     "identity create NAME --suite N [--rotate-every DURATION]",
     "new identity with an active signing key"},
    {"identity", "list", NULL, cmd_identity_list, "identity list",
     "all identities"},
    {"identity", "show", NULL, cmd_identity_show, "identity show NAME",
     "key versions, key IDs, states, public keys"},
    {"identity", "rotate", NULL, cmd_identity_rotate, "identity rotate NAME",
     "new active key; the old one is retired"},
    {"identity", "revoke", NULL, cmd_identity_revoke,
     "identity revoke NAME KEYID", "revoke a key (its private key is erased)"},
    {"identity", "rotate-due", NULL, cmd_identity_rotate_due,
     "identity rotate-due", "rotate every key whose period has passed"},
    {"keypackages", "generate", NULL, cmd_kp_generate,
     "keypackages generate NAME --count N [--last-resort]",
     "new KeyPackages (prints their refs)"},
    {"keypackages", "stats", NULL, cmd_kp_stats, "keypackages stats NAME",
     "unused, valid and last-resort KeyPackages"},
    {"audit", "key", NULL, cmd_audit_key, "audit key",
     "print the audit verifier key (for audit verify --key)"},
    {"audit", "checkpoint", NULL, cmd_audit_checkpoint, "audit checkpoint",
     "sign a checkpoint of the audit log (C2SP signed note)"},
    {"audit", "export", NULL, cmd_audit_export, "audit export --out FILE",
     "entries, leaf hashes and a fresh signed checkpoint"},
    {"audit", "verify", NULL, cmd_audit_verify,
     "audit verify FILE --key VKEY [--since CHECKPOINT_FILE]",
     "check an export offline (no store, no KEK)"},
    {"audit", "proof", NULL, cmd_audit_proof, "audit proof --index N",
     "one entry with its inclusion proof (C2SP tlog-proof)"},
    {"audit", "verify-proof", NULL, cmd_audit_verify_proof,
     "audit verify-proof FILE --key VKEY", "check one entry's proof offline"},
    {"token", "create", NULL, cmd_token_create,
     "token create --name N --scopes S1,S2 [--expires DURATION]",
     "new API token (its secret is printed once)"},
    {"token", "list", NULL, cmd_token_list, "token list",
     "API tokens: id, state, expiry, scopes (never secrets)"},
    {"token", "revoke", NULL, cmd_token_revoke, "token revoke NAME",
     "the token never authenticates again"},
    {"backup", NULL, NULL, cmd_backup, "backup --out FILE",
     "compacting hot copy of the store"},
    {"restore", NULL, NULL, cmd_restore, "restore --from FILE",
     "install a backup as the store of --store"},
    {"kek", "rotate", NULL, cmd_kek_rotate, "kek rotate",
     "new KEK: rewrap the data key, replace the KEK file"},
    {"selftest", NULL, cmd_selftest, NULL, "selftest [--vectors DIR] [FILE...]",
     "check this build against the official test vectors"},
    {"version", NULL, cmd_version, NULL, "version", "print the version"},
    {"help", NULL, cmd_help, NULL, "help", "this list"},
};

static int cmd_help(int argc, char **argv) {
  (void)argc;
  (void)argv;
  printf(
      "usage: mlsgatectl [--store DIR] [--kek FILE] [--json] COMMAND "
      "[ARGS]\n\n"
      "  --store DIR   the store directory (default ./var)\n"
      "  --kek FILE    the key-encryption key file (default DIR/kek)\n"
      "  --json        print one JSON document instead of text\n"
      "\ncommands:\n");
  for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
    printf("  %-56s %s\n", commands[i].usage, commands[i].summary);
  }
  printf(
      "\nDURATION: a number and a unit, s m h d w (90d, 12h, 30m, "
      "3600s);\n"
      "  token create --expires also takes plain seconds.\n"
      "SCOPES: conversations, messages, keys:admin, audit:read, metrics.\n");
  return 0;
}

/* take_global consumes a global option at argv[*i] into |env|: returns 1
 * if it was one, 0 if not, -1 on error. */
static int take_global(ctl_env *env, int argc, char **argv, int *i) {
  const char *a = argv[*i];
  const char **slot = NULL;
  const char *name = NULL;
  if (strcmp(a, "--json") == 0) {
    env->json = 1;
    return 1;
  }
  if (strncmp(a, "--store", 7) == 0 && (a[7] == '\0' || a[7] == '=')) {
    slot = &env->store;
    name = "--store";
  } else if (strncmp(a, "--kek", 5) == 0 && (a[5] == '\0' || a[5] == '=')) {
    slot = &env->kek;
    name = "--kek";
  } else {
    return 0;
  }
  if (*slot != NULL) {
    fprintf(stderr, "mlsgatectl: %s given twice\n", name);
    return -1;
  }
  if (a[strlen(name)] == '=') {
    *slot = a + strlen(name) + 1;
  } else if (*i + 1 < argc) {
    *slot = argv[++*i];
  } else {
    fprintf(stderr, "mlsgatectl: %s needs a value\n", name);
    return -1;
  }
  if ((*slot)[0] == '\0') {
    fprintf(stderr, "mlsgatectl: %s needs a non-empty value\n", name);
    return -1;
  }
  return 1;
}

int main(int argc, char **argv) {
  ctl_env env;
  int i = 1, r;
  memset(&env, 0, sizeof(env));
  /* Global options before the command. */
  while (i < argc && (r = take_global(&env, argc, argv, &i)) != 0) {
    if (r < 0) {
      return CTL_USAGE;
    }
    i++;
  }
  if (i >= argc) {
    cmd_help(0, NULL);
    return CTL_USAGE;
  }
  const char *name = argv[i];
  if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0) {
    return cmd_help(0, NULL);
  }
  if (strcmp(name, "--version") == 0) {
    return cmd_version(0, NULL);
  }
  const char *sub = i + 1 < argc ? argv[i + 1] : NULL;
  int known_group = 0;
  for (size_t c = 0; c < sizeof(commands) / sizeof(commands[0]); c++) {
    const ctl_command *cmd = &commands[c];
    if (strcmp(cmd->name, name) != 0) {
      continue;
    }
    if (cmd->sub != NULL) {
      known_group = 1;
      if (sub == NULL || strcmp(cmd->sub, sub) != 0) {
        continue;
      }
    }
    int first = i + (cmd->sub != NULL ? 2 : 1);
    if (cmd->run != NULL) {
      if (env.store != NULL || env.kek != NULL || env.json) {
        fprintf(stderr, "mlsgatectl %s: takes no --store, --kek or --json\n",
                name);
        return CTL_USAGE;
      }
      return cmd->run(argc - first + 1, argv + first - 1);
    }
    /* The global options may follow the command words too. */
    char **rest = calloc((size_t)argc + 1, sizeof(*rest));
    int n = 0;
    if (rest == NULL) {
      fprintf(stderr, "mlsgatectl: out of memory\n");
      return 1;
    }
    for (int k = first; k < argc; k++) {
      if (strcmp(argv[k], "--") == 0) {
        while (k < argc) {
          rest[n++] = argv[k++];
        }
        break;
      }
      r = take_global(&env, argc, argv, &k);
      if (r < 0) {
        free(rest);
        return CTL_USAGE;
      }
      if (r == 0) {
        rest[n++] = argv[k];
      }
    }
    for (int k = 0; k < n && strcmp(rest[k], "--") != 0; k++) {
      if (strcmp(rest[k], "-h") == 0 || strcmp(rest[k], "--help") == 0) {
        printf("usage: mlsgatectl [--store DIR] [--kek FILE] [--json] %s\n"
               "\n%s\n",
               cmd->usage, cmd->summary);
        free(rest);
        return 0;
      }
    }
    ctl_env_finish(&env);
    r = cmd->run_store(&env, n, rest);
    free(rest);
    return r;
  }
  if (known_group) {
    fprintf(stderr,
            "mlsgatectl: unknown command '%s %s' (try 'mlsgatectl help')\n",
            name, sub != NULL ? sub : "");
  } else {
    fprintf(stderr,
            "mlsgatectl: unknown command '%s' (try 'mlsgatectl help')\n", name);
  }
  return CTL_USAGE;
}
