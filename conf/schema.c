/*
 * conf/schema.c: the top level of the config file (SPEC section 3) and its
 * small sections, walked over a libyaml document into an llg_conf_t whose
 * defaults are already set; `listen` and `providers` have files of their own.
 * Every check that can be made on one value is made at its node, and the walk
 * goes on after an error so that one run reports them all.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

/* ---- access tokens --------------------------------------------------------- */

/* quota: {requests_per_day, tokens_per_day, tokens_per_month}, each a
 * positive integer; an empty mapping is refused (leave it out). */
static void parse_quota(conf_ctx_t *c, yaml_node_t *n, const char *p, llg_conf_token_t *t)
{
    static const char *const known[] = {"requests_per_day", "tokens_per_day", "tokens_per_month"};
    if (n == NULL)
        return;
    char path[96], sub[128];
    snprintf(path, sizeof(path), "%s.quota", p);
    yaml_node_t *v[CONF_COUNTOF(known)];
    if (!conf_map(c, n, path, known, CONF_COUNTOF(known), v, NULL))
        return;
    uint64_t *out[] = {&t->quota.requests_per_day, &t->quota.tokens_per_day, &t->quota.tokens_per_month};
    bool any = false;
    for (size_t i = 0; i < CONF_COUNTOF(known); i++) {
        snprintf(sub, sizeof(sub), "%s.%s", path, known[i]);
        any |= v[i] != NULL;
        if (v[i] != NULL)
            conf_get_uint(c, v[i], sub, 1, (UINT64_C(1) << 40) - 1, out[i]);
    }
    /* only an empty mapping: an unknown key alone is reported by conf_map */
    if (!any && n->data.mapping.pairs.top == n->data.mapping.pairs.start)
        conf_error_node(c, n, "%s: name at least one of requests_per_day, tokens_per_day, tokens_per_month (or leave it out)",
                        path);
}

static void parse_tokens(conf_ctx_t *c, yaml_node_t *n)
{
    static const char *const known[] = {"token", "name", "rpm", "models", "quota"};
    if (!conf_expect_list(c, n, "access_tokens"))
        return;
    size_t count = conf_seq_len(n);
    llg_conf_token_t *ts = llg_arena_calloc(c->arena, count + 1, sizeof(*ts));
    conf_strset_t seen;
    conf_strset_init(c, &seen, count);
    size_t used = 0;

    for (size_t i = 0; i < count; i++) {
        yaml_node_t *item = conf_seq_item(c, n, i), *tnode = NULL;
        llg_conf_token_t *t = &ts[used];
        memset(t, 0, sizeof(*t)); /* may hold the leftovers of a refused entry */
        char p[64], sub[96];
        snprintf(p, sizeof(p), "access_tokens[%zu]", i);
        if (item->type == YAML_SCALAR_NODE) {
            tnode = item;
        } else if (item->type == YAML_MAPPING_NODE) {
            yaml_node_t *v[CONF_COUNTOF(known)];
            conf_map(c, item, p, known, CONF_COUNTOF(known), v, NULL);
            if (v[0] == NULL)
                conf_missing(c, item, p, "token");
            tnode = v[0];
            snprintf(sub, sizeof(sub), "%s.name", p);
            conf_get_string(c, v[1], sub, CONF_STR_NONEMPTY | CONF_STR_NOCTRL, &t->name);
            snprintf(sub, sizeof(sub), "%s.rpm", p);
            uint64_t rpm;
            if (conf_get_uint(c, v[2], sub, 0, UINT32_MAX, &rpm))
                t->rpm = (uint32_t)rpm;
            snprintf(sub, sizeof(sub), "%s.models", p);
            if (conf_get_strv(c, v[3], sub, CONF_STR_NONEMPTY | CONF_STR_NOCTRL, &t->models) && t->models.count == 0 &&
                conf_seq_len(v[3]) == 0)
                conf_error_node(c, v[3], "%s: must list at least one model glob (leave it out to allow every model)", sub);
            parse_quota(c, v[4], p, t);
            snprintf(sub, sizeof(sub), "%s.token", p);
        } else {
            conf_error_node(c, item, "%s: expected a token string or a mapping, got %s", p, conf_describe_kind(item));
            continue;
        }
        if (tnode == NULL)
            continue;
        const char *tp = item == tnode ? p : sub;
        if (!conf_get_string(c, tnode, tp, CONF_STR_NONEMPTY | CONF_STR_SECRET, &t->token))
            continue;
        size_t first = conf_strset_add(&seen, t->token, i);
        if (first != SIZE_MAX) {
            conf_error_node(c, tnode, "%s: duplicate access token (same as access_tokens[%zu])", tp, first);
            continue;
        }
        used++;
    }
    c->conf->tokens = ts;
    c->conf->token_count = used;
}

/* ---- the small sections -------------------------------------------------------- */

static void parse_workers(conf_ctx_t *c, yaml_node_t *n)
{
    const char *s = conf_scalar(c, n, "workers", "an integer or auto");
    if (s == NULL)
        return;
    bool neg;
    uint64_t w;
    if (strcmp(s, "auto") == 0) {
        c->conf->workers = conf_online_cpus();
    } else if (!conf_parse_int(s, &neg, &w) && strspn(s, "+-0123456789") != strlen(s)) {
        char db[64];
        conf_error_node(c, n, "workers: expected an integer or auto, got %s", conf_describe(n, db, sizeof(db)));
    } else if (conf_get_uint(c, n, "workers", 1, CONF_MAX_WORKERS, &w)) {
        c->conf->workers = (unsigned)w;
    }
}

/* A client-side timeout: 0 cannot mean "off" there (h2o would close every
 * connection at once), and a huge one only holds sockets open. */
static void get_client_timeout(conf_ctx_t *c, yaml_node_t *n, const char *path, uint64_t *out_ms)
{
    uint64_t ms;
    if (!conf_get_duration(c, n, path, &ms))
        return;
    char db[64];
    if (ms == 0)
        conf_error_node(c, n, "%s: must be greater than 0, got %s", path, conf_describe(n, db, sizeof(db)));
    else if (ms > LLG_CONF_MAX_CLIENT_TIMEOUT_MS)
        conf_error_node(c, n, "%s: must be at most 24h, got %s", path, conf_describe(n, db, sizeof(db)));
    else
        *out_ms = ms;
}

static void parse_timeouts(conf_ctx_t *c, yaml_node_t *n, yaml_node_t **request_node)
{
    static const char *const known[] = {"connect", "request", "idle", "ping", "drain", "client_header", "client_idle"};
    enum { UPSTREAM_KEYS = 5 }; /* the first five: 0 is allowed */
    yaml_node_t *v[CONF_COUNTOF(known)];
    if (!conf_map(c, n, "timeouts", known, CONF_COUNTOF(known), v, NULL))
        return;
    uint64_t *dst[] = {&c->conf->timeouts.connect_ms,    &c->conf->timeouts.request_ms, &c->conf->timeouts.idle_ms,
                       &c->conf->timeouts.ping_ms,       &c->conf->timeouts.drain_ms,   &c->conf->timeouts.client_header_ms,
                       &c->conf->timeouts.client_idle_ms};
    for (size_t i = 0; i < CONF_COUNTOF(known); i++) {
        char p[64];
        snprintf(p, sizeof(p), "timeouts.%s", known[i]);
        if (i < UPSTREAM_KEYS)
            conf_get_duration(c, v[i], p, dst[i]);
        else
            get_client_timeout(c, v[i], p, dst[i]);
    }
    *request_node = v[1];
}

/* The buffered-body budgets default to what max_body_bytes needs: one client
 * address may hold 16 bodies of the largest size at once (at least 64 MiB),
 * the worker three such clients (at least 192 MiB). */
#define LIMITS_MIN_PER_CLIENT ((uint64_t)64 << 20)

void conf_derive_limits(llg_conf_t *conf)
{
    uint64_t body = conf->max_body_bytes;
    uint64_t *per = &conf->limits.max_buffered_body_bytes_per_client, *all = &conf->limits.max_buffered_body_bytes;
    if (*per == 0) {
        *per = body <= UINT64_MAX / 64 && body * 16 > LIMITS_MIN_PER_CLIENT ? body * 16 : LIMITS_MIN_PER_CLIENT;
        if (*all != 0 && *per > *all)
            *per = *all;
    }
    if (*all == 0)
        *all = *per <= UINT64_MAX / 8 ? *per * 3 : *per;
}

static void parse_limits(conf_ctx_t *c, yaml_node_t *n)
{
    static const char *const known[] = {"max_connections", "max_connections_per_client", "max_buffered_body_bytes",
                                        "max_buffered_body_bytes_per_client"};
    yaml_node_t *v[CONF_COUNTOF(known)];
    llg_conf_t *conf = c->conf;
    if (n != NULL && !conf_map(c, n, "limits", known, CONF_COUNTOF(known), v, NULL))
        return;
    if (n == NULL)
        memset(v, 0, sizeof(v));
    conf_get_uint(c, v[0], "limits.max_connections", 1, 1000000, &conf->limits.max_connections);
    conf_get_uint(c, v[1], "limits.max_connections_per_client", 0, 1000000, &conf->limits.max_connections_per_client);
    conf_get_uint(c, v[2], "limits.max_buffered_body_bytes", 1, UINT64_MAX / 4, &conf->limits.max_buffered_body_bytes);
    conf_get_uint(c, v[3], "limits.max_buffered_body_bytes_per_client", 1, UINT64_MAX / 4,
                  &conf->limits.max_buffered_body_bytes_per_client);
    conf_derive_limits(conf);
    uint64_t body = conf->max_body_bytes;
    uint64_t *per = &conf->limits.max_buffered_body_bytes_per_client, *all = &conf->limits.max_buffered_body_bytes;
    if (v[1] != NULL && conf->limits.max_connections_per_client > conf->limits.max_connections)
        conf_error_node(c, v[1], "limits.max_connections_per_client (%llu) is larger than limits.max_connections (%llu)",
                        (unsigned long long)conf->limits.max_connections_per_client,
                        (unsigned long long)conf->limits.max_connections);
    if (*per < body)
        conf_error_node(c, v[3] != NULL ? v[3] : v[2],
                        "limits.max_buffered_body_bytes_per_client (%llu) is smaller than max_body_bytes (%llu): a body of "
                        "the largest size could never be admitted",
                        (unsigned long long)*per, (unsigned long long)body);
    else if (*per > *all)
        conf_error_node(c, v[3] != NULL ? v[3] : v[2],
                        "limits.max_buffered_body_bytes_per_client (%llu) is larger than limits.max_buffered_body_bytes (%llu)",
                        (unsigned long long)*per, (unsigned long long)*all);
}

static void parse_cors(conf_ctx_t *c, yaml_node_t *n)
{
    static const char *const known[] = {"allow_origins"};
    yaml_node_t *v[1];
    if (conf_map(c, n, "cors", known, 1, v, NULL))
        conf_get_strv(c, v[0], "cors.allow_origins", CONF_STR_NONEMPTY | CONF_STR_SECRET, &c->conf->cors_allow_origins);
}

static void parse_defaults(conf_ctx_t *c, yaml_node_t *n)
{
    static const char *const known[] = {"model", "params"};
    yaml_node_t *v[CONF_COUNTOF(known)];
    if (!conf_map(c, n, "defaults", known, CONF_COUNTOF(known), v, NULL))
        return;
    conf_get_string(c, v[0], "defaults.model", CONF_STR_NONEMPTY | CONF_STR_NOCTRL, &c->conf->defaults.model);
    yaml_node_t *params = v[1];
    if (params == NULL)
        return;
    if (params->type != YAML_MAPPING_NODE) {
        char db[64];
        conf_error_node(c, params, "defaults.params: expected a mapping, got %s", conf_describe(params, db, sizeof(db)));
        return;
    }
    yaml_node_pair_t *pairs = params->data.mapping.pairs.start;
    size_t count = (size_t)(params->data.mapping.pairs.top - pairs);
    llg_conf_param_t *ps = llg_arena_calloc(c->arena, count + 1, sizeof(*ps));
    size_t used = 0;
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *k = conf_node(c, pairs[i].key);
        char *key;
        if (!conf_get_string(c, k, "defaults.params key", CONF_STR_NONEMPTY | CONF_STR_NOCTRL, &key) ||
            conf_dup_key(c, params, i, "defaults.params"))
            continue;
        char p[300];
        snprintf(p, sizeof(p), "defaults.params.%.200s", key);
        char *json = conf_yaml_to_json(c, conf_node(c, pairs[i].value), p);
        if (json == NULL)
            continue;
        ps[used].key = key;
        ps[used].json = json;
        used++;
    }
    c->conf->defaults.params = ps;
    c->conf->defaults.param_count = used;
}

static void parse_retry(conf_ctx_t *c, yaml_node_t *n)
{
    static const char *const known[] = {"attempts"};
    yaml_node_t *v[1];
    uint64_t a;
    if (conf_map(c, n, "retry", known, 1, v, NULL) && conf_get_uint(c, v[0], "retry.attempts", 1, CONF_MAX_ATTEMPTS, &a))
        c->conf->retry_attempts = (unsigned)a;
}

static void parse_keys(conf_ctx_t *c, yaml_node_t *n)
{
    static const char *const known[] = {"cooldown", "max_cooldown", "probe_after"};
    yaml_node_t *v[CONF_COUNTOF(known)];
    if (!conf_map(c, n, "keys", known, CONF_COUNTOF(known), v, NULL))
        return;
    bool ok = true;
    ok &= v[0] == NULL || conf_get_duration(c, v[0], "keys.cooldown", &c->conf->keys.cooldown_ms);
    ok &= v[1] == NULL || conf_get_duration(c, v[1], "keys.max_cooldown", &c->conf->keys.max_cooldown_ms);
    ok &= v[2] == NULL || conf_get_duration(c, v[2], "keys.probe_after", &c->conf->keys.probe_after_ms);
    if (ok && c->conf->keys.max_cooldown_ms < c->conf->keys.cooldown_ms) {
        yaml_node_t *at = v[1] != NULL ? v[1] : v[0];
        conf_error_node(c, at, "keys.max_cooldown (%llu ms) must not be shorter than keys.cooldown (%llu ms)",
                        (unsigned long long)c->conf->keys.max_cooldown_ms, (unsigned long long)c->conf->keys.cooldown_ms);
    }
}

/* ---- the top level ---------------------------------------------------------- */

enum {
    T_LISTEN,
    T_WORKERS,
    T_MAX_BODY,
    T_MAX_HEADER,
    T_TIMEOUT,
    T_TIMEOUTS,
    T_TOKENS,
    T_ADMIN,
    T_METRICS,
    T_CORS,
    T_DEFAULTS,
    T_RETRY,
    T_KEYS,
    T_PROVIDERS,
    T_LIMITS,
    T_CLUSTER,
    T_GROUPS,
    T_ACCESS_LOG,
    T_OTEL,
    T_COUNT
};

static const char *const top_keys[T_COUNT] = {"listen",   "workers",       "max_body_bytes", "max_header_bytes", "timeout",
                                              "timeouts", "access_tokens", "admin_token",    "metrics_token",    "cors",
                                              "defaults", "retry",         "keys",           "providers",        "limits",
                                              "cluster",  "model_groups",  "access_log",     "otel"};

static bool mark_before(yaml_mark_t a, yaml_mark_t b)
{
    return a.line < b.line || (a.line == b.line && a.column < b.column);
}

void conf_walk(conf_ctx_t *c, yaml_node_t *root)
{
    yaml_node_t *v[T_COUNT], *k[T_COUNT];
    if (root->type != YAML_MAPPING_NODE) {
        char db[64];
        conf_error_node(c, root, "the configuration must be a mapping of keys (listen, providers, ...), got %s",
                        conf_describe(root, db, sizeof(db)));
        return;
    }
    conf_map(c, root, "", top_keys, T_COUNT, v, k);
    llg_conf_t *conf = c->conf;

    if (v[T_LISTEN] != NULL)
        conf_parse_listen(c, v[T_LISTEN]);
    if (v[T_WORKERS] != NULL)
        parse_workers(c, v[T_WORKERS]);
    conf_get_uint(c, v[T_MAX_BODY], "max_body_bytes", 1, UINT64_MAX, &conf->max_body_bytes);
    conf_get_uint(c, v[T_MAX_HEADER], "max_header_bytes", LLG_CONF_MIN_HEADER_BYTES, LLG_CONF_MAX_HEADER_BYTES,
                  &conf->max_header_bytes);

    yaml_node_t *request_node = NULL;
    if (v[T_TIMEOUTS] != NULL)
        parse_timeouts(c, v[T_TIMEOUTS], &request_node);
    uint64_t alias_ms;
    if (conf_get_duration(c, v[T_TIMEOUT], "timeout", &alias_ms)) {
        if (request_node == NULL) {
            conf->timeouts.request_ms = alias_ms;
        } else {
            /* Both spellings of one setting: refuse rather than pick one. */
            bool alias_first = mark_before(k[T_TIMEOUT]->start_mark, request_node->start_mark);
            yaml_node_t *second = alias_first ? request_node : k[T_TIMEOUT];
            yaml_node_t *first = alias_first ? k[T_TIMEOUT] : request_node;
            conf_error_node(c, second, "%s: \"timeout\" is an alias of \"timeouts.request\", and both are set (first at line %lu)",
                            alias_first ? "timeouts.request" : "timeout", (unsigned long)first->start_mark.line + 1);
        }
    }

    if (v[T_TOKENS] != NULL)
        parse_tokens(c, v[T_TOKENS]);
    conf_get_string(c, v[T_ADMIN], "admin_token", CONF_STR_NONEMPTY | CONF_STR_SECRET, &conf->admin_token);
    conf_get_string(c, v[T_METRICS], "metrics_token", CONF_STR_NONEMPTY | CONF_STR_SECRET, &conf->metrics_token);
    if (v[T_CORS] != NULL)
        parse_cors(c, v[T_CORS]);
    if (v[T_DEFAULTS] != NULL)
        parse_defaults(c, v[T_DEFAULTS]);
    if (v[T_RETRY] != NULL)
        parse_retry(c, v[T_RETRY]);
    if (v[T_KEYS] != NULL)
        parse_keys(c, v[T_KEYS]);
    if (v[T_PROVIDERS] != NULL)
        conf_parse_providers(c, v[T_PROVIDERS]);
    /* after the providers, which targets name, and retry, which sets their default attempts */
    if (v[T_GROUPS] != NULL)
        conf_parse_groups(c, v[T_GROUPS]);
    /* after max_body_bytes, which its defaults and checks depend on */
    parse_limits(c, v[T_LIMITS]);
    if (v[T_CLUSTER] != NULL)
        conf_parse_cluster(c, v[T_CLUSTER]);
    if (v[T_ACCESS_LOG] != NULL)
        conf_parse_access_log(c, v[T_ACCESS_LOG]);
    if (v[T_OTEL] != NULL)
        conf_parse_otel(c, v[T_OTEL]);
}
