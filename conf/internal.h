/*
 * conf/internal.h: what the loader's files share and nothing else sees: the
 * load context, the error list, typed access to YAML nodes, and the entry
 * points of the schema walk, the JSON renderer and the environment pass.
 */
#ifndef LLG_CONF_INTERNAL_H
#define LLG_CONF_INTERNAL_H

#include <setjmp.h>
#include <yaml.h>

#include "arena.h"
#include "conf.h"

/* Upper bounds that are sanity checks rather than SPEC requirements; the
 * documentation lists them. */
#define CONF_MAX_WORKERS       1024
#define CONF_MAX_ATTEMPTS      100
#define CONF_MAX_PROVIDER_NAME 64
#define CONF_MAX_FILE_BYTES    (16u << 20)
#define CONF_MAX_PARAM_DEPTH   32
#define CONF_MAX_PARAM_BYTES   (1u << 20)

typedef struct conf_error {
    unsigned line, column; /* sort key: 0 sorts first (file-level), UINT_MAX last (environment) */
    size_t seq;            /* keeps insertion order among errors at one position */
    char *msg;             /* malloc'ed: errors outlive the arena of a failed load */
} conf_error_t;

typedef struct conf_ctx {
    jmp_buf oom; /* every allocation failure lands here (see conf.c) */
    llg_arena_t *arena;
    llg_conf_t *conf;
    const char *source;
    const char *dir; /* relative TLS paths are resolved against it; NULL: the cwd */
    llg_env_t env;
    yaml_document_t *doc;

    conf_error_t *errors;
    size_t error_count, error_cap;

    char *jbuf; /* the JSON renderer's scratch buffer (malloc'ed) */
    size_t jlen, jcap;

    /* Per provider, the nodes that the checks after the walk point at. */
    yaml_node_t **provider_name_nodes;
    yaml_node_t **provider_fallback_nodes;

    bool cluster_in_file; /* the file has a `cluster:` section (LLMGATE_REDIS_URL is then ignored) */
} conf_ctx_t;

/* ---- errors (errors.c) --------------------------------------------------- */

#define CONF_PRINTF(f, a) __attribute__((format(printf, f, a)))

void conf_error_mark(conf_ctx_t *c, yaml_mark_t mark, const char *fmt, ...) CONF_PRINTF(3, 4);
void conf_error_node(conf_ctx_t *c, const yaml_node_t *node, const char *fmt, ...) CONF_PRINTF(3, 4);
/* `environment variable NAME: message`, listed after the file's errors. */
void conf_error_env(conf_ctx_t *c, const char *var, const char *fmt, ...) CONF_PRINTF(3, 4);
/* `SOURCE: message`, for errors about the file as a whole. */
void conf_error_file(conf_ctx_t *c, const char *fmt, ...) CONF_PRINTF(2, 3);
/* Sorts the errors into file order and moves them to the end of `out`
 * (or frees them when `out` is NULL). */
void conf_errors_finish(conf_ctx_t *c, llg_conf_errors_t *out);

/* ---- YAML nodes (node.c) ------------------------------------------------- */

enum {
    CONF_STR_NONEMPTY = 1, /* "" is an error */
    CONF_STR_SECRET = 2,   /* a token or key: no space or control character; never printed */
    CONF_STR_NOCTRL = 4,   /* no control character */
};

yaml_node_t *conf_node(conf_ctx_t *c, int index);
bool conf_is_null(const yaml_node_t *n);
/* For messages: `a list`, `a mapping`, `null` or the scalar quoted (cut). */
const char *conf_describe_kind(const yaml_node_t *n);
const char *conf_describe(const yaml_node_t *n, char *buf, size_t size);

/* Walks mapping `n` (named `path` in messages; "" is the top level) whose
 * allowed keys are known[0..count): reports non-scalar, duplicate and unknown
 * keys, and sets vals[i] (and keys[i] when keys is not NULL) to the nodes of
 * known[i], or NULL when absent. A null value counts as absent. Returns false,
 * with an error, when `n` is not a mapping. */
/* A provider's `tls:` mapping (conf/tls.c); `provider_path` like "providers[0]". */
void conf_parse_tls(conf_ctx_t *c, yaml_node_t *n, const char *provider_path, llg_conf_tls_t *t);

bool conf_map(conf_ctx_t *c, yaml_node_t *n, const char *path, const char *const *known, size_t count, yaml_node_t **vals,
              yaml_node_t **keys);

#define CONF_COUNTOF(a) (sizeof(a) / sizeof((a)[0]))

size_t conf_seq_len(const yaml_node_t *n);
yaml_node_t *conf_seq_item(conf_ctx_t *c, const yaml_node_t *n, size_t i);
/* Reports an error unless `n` is a sequence. */
bool conf_expect_list(conf_ctx_t *c, yaml_node_t *n, const char *path);
llg_conf_mark_t conf_mark_of(const yaml_node_t *n);
/* Reports `path: missing required key "key"` at the mapping. */
void conf_missing(conf_ctx_t *c, yaml_node_t *map, const char *path, const char *key);

/* Reports and returns true when the key of pair `pair_index` of mapping `map`
 * repeats an earlier key. */
bool conf_dup_key(conf_ctx_t *c, yaml_node_t *map, size_t pair_index, const char *path);

/* The typed getters report an error at `n` and return false when the value is
 * not acceptable; a NULL `n` (absent key) returns false silently, leaving *out
 * as it was (the default). */
const char *conf_scalar(conf_ctx_t *c, yaml_node_t *n, const char *path, const char *expected);
bool conf_get_string(conf_ctx_t *c, yaml_node_t *n, const char *path, int flags, char **out);
/* Fills the buffered-body budgets left unset (0) from max_body_bytes. */
void conf_derive_limits(llg_conf_t *conf);

bool conf_get_uint(conf_ctx_t *c, yaml_node_t *n, const char *path, uint64_t min, uint64_t max, uint64_t *out);
bool conf_get_duration(conf_ctx_t *c, yaml_node_t *n, const char *path, uint64_t *out_ms);
bool conf_get_enum(conf_ctx_t *c, yaml_node_t *n, const char *path, const char *const *names, size_t count, int *out);
bool conf_get_strv(conf_ctx_t *c, yaml_node_t *n, const char *path, int flags, llg_conf_strv_t *out);
bool conf_get_kvv(conf_ctx_t *c, yaml_node_t *n, const char *path, bool headers, llg_conf_kvv_t *out);

/* Checks a string already taken from a node against CONF_STR_* flags. */
bool conf_check_string(conf_ctx_t *c, const yaml_node_t *n, const char *path, const char *s, int flags);
bool conf_is_header_name(const char *s);

/* Index in cands[0..count) of the closest candidate to `word` (a typo of it),
 * or SIZE_MAX when none is close. */
size_t conf_suggest(const char *word, const char *const *cands, size_t count);

/* Parses a decimal integer (optional sign) into *neg and *abs. False when the
 * text is not one or does not fit 64 bits. */
bool conf_parse_int(const char *s, bool *neg, uint64_t *abs);

/* ---- string sets (strset.c) ------------------------------------------------ */

typedef struct conf_strset {
    const char **keys;
    size_t *vals;
    size_t cap;
} conf_strset_t;

/* Room for `expected` strings; adding more than that is a bug. */
void conf_strset_init(conf_ctx_t *c, conf_strset_t *set, size_t expected);
/* Adds `s` (not copied) with `val`; returns SIZE_MAX, or the value stored
 * with an equal string already present (then nothing is added). */
size_t conf_strset_add(conf_strset_t *set, const char *s, size_t val);

/* ---- the rest -------------------------------------------------------------- */

/* json.c: the value of a `defaults.params` entry as JSON text (arena), or NULL
 * after reporting an error. */
char *conf_yaml_to_json(conf_ctx_t *c, yaml_node_t *n, const char *path);

/* schema.c: fills c->conf from the document root (SPEC section 3). */
void conf_walk(conf_ctx_t *c, yaml_node_t *root);
/* listen.c: the `listen` list; the clash check runs after the environment. */
void conf_parse_listen(conf_ctx_t *c, yaml_node_t *n);
void conf_check_listeners(conf_ctx_t *c);
/* provider.c: the `providers` list, fallback names included. */
void conf_parse_providers(conf_ctx_t *c, yaml_node_t *n);
/* The config index of provider `name`, or -1 after an error at `n`
 * (`path: unknown provider "x"`, with a suggestion when one is close). */
int conf_provider_index(conf_ctx_t *c, yaml_node_t *n, const char *path, const char *name);
/* group.c: the `model_groups` list; after the providers and `retry`. */
void conf_parse_groups(conf_ctx_t *c, yaml_node_t *n);

/* cluster.c: the `cluster` section, and LLMGATE_REDIS_URL when the file has none. */
void conf_parse_cluster(conf_ctx_t *c, yaml_node_t *n);
void conf_cluster_env(conf_ctx_t *c);

/* observe.c: the `access_log` and `otel` sections. */
void conf_parse_access_log(conf_ctx_t *c, yaml_node_t *n);
void conf_parse_otel(conf_ctx_t *c, yaml_node_t *n);

/* env.c: the value of NAME in the environment passed to the loader. */
const char *conf_env_get(llg_env_t env, const char *name);
void conf_apply_env(conf_ctx_t *c);
unsigned conf_online_cpus(void);

#endif
