/*
 * conf/group.c: the `model_groups` list (docs/configuration.md): one model
 * name served by several targets (provider + upstream model), each with a
 * weight and a priority, chosen by a strategy. Everything a target names is
 * checked here, once: the provider exists and takes pool keys or none, a
 * target is listed once, the strategy's own settings go with that strategy.
 * Runs after the providers are read.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { G_NAME, G_STRATEGY, G_TARGETS, G_ATTEMPTS, G_FALLBACK, G_BREAKER, G_LATENCY, G_AFFINITY, G_COUNT };
static const char *const group_keys[G_COUNT] = {"name",     "strategy", "targets", "attempts",
                                                "fallback", "breaker",  "latency", "affinity"};
static const char *const strategy_names[] = {"weighted", "least_busy", "latency", "affinity"};

enum { T_PROVIDER, T_MODEL, T_WEIGHT, T_PRIORITY, T_COUNT };
static const char *const target_keys[T_COUNT] = {"provider", "model", "weight", "priority"};

static void parse_target(conf_ctx_t *c, yaml_node_t *n, const char *path, llg_conf_group_t *g)
{
    yaml_node_t *v[T_COUNT];
    char sub[160];
    llg_conf_target_t t = {.weight = 1, .mark = conf_mark_of(n)};
    if (!conf_map(c, n, path, target_keys, T_COUNT, v, NULL))
        return;
#define SUB(key) (snprintf(sub, sizeof(sub), "%s.%s", path, key), sub)
    char *name;
    if (v[T_PROVIDER] == NULL) {
        conf_missing(c, n, path, "provider");
        return;
    }
    if (!conf_get_string(c, v[T_PROVIDER], SUB("provider"), CONF_STR_NONEMPTY, &name))
        return;
    int p = conf_provider_index(c, v[T_PROVIDER], sub, name);
    if (p < 0)
        return;
    if (c->conf->providers[p].auth == LLG_AUTH_PASSTHROUGH) {
        /* the client's credential is the key: it cannot be balanced across upstreams */
        conf_error_node(c, v[T_PROVIDER], "%s: provider \"%s\" has auth: passthrough, which a group cannot use", sub, name);
        return;
    }
    t.provider = (unsigned)p;
    conf_get_string(c, v[T_MODEL], SUB("model"), CONF_STR_NONEMPTY | CONF_STR_NOCTRL, &t.model);
    uint64_t u;
    if (conf_get_uint(c, v[T_WEIGHT], SUB("weight"), 1, LLG_GROUP_MAX_WEIGHT, &u))
        t.weight = (uint32_t)u;
    if (conf_get_uint(c, v[T_PRIORITY], SUB("priority"), 0, LLG_GROUP_MAX_PRIO, &u))
        t.priority = (uint32_t)u;
#undef SUB
    for (size_t i = 0; i < g->target_count; i++) {
        const llg_conf_target_t *o = &g->targets[i];
        if (o->provider == t.provider &&
            ((o->model == NULL && t.model == NULL) || (o->model != NULL && t.model != NULL && strcmp(o->model, t.model) == 0))) {
            conf_error_node(c, n, "%s: the same provider and model as targets[%zu]", path, i);
            return;
        }
    }
    g->targets[g->target_count++] = t;
}

static void parse_fallback(conf_ctx_t *c, yaml_node_t *n, const char *path, llg_conf_group_t *g)
{
    if (n == NULL || !conf_expect_list(c, n, path))
        return;
    size_t count = conf_seq_len(n);
    g->fallback.items = llg_arena_calloc(c->arena, count + 1, sizeof(char *));
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *item = conf_seq_item(c, n, i);
        char ip[160];
        snprintf(ip, sizeof(ip), "%s[%zu]", path, i);
        char *name;
        if (!conf_get_string(c, item, ip, CONF_STR_NONEMPTY, &name))
            continue;
        int p = conf_provider_index(c, item, ip, name);
        if (p < 0)
            continue;
        if (c->conf->providers[p].auth == LLG_AUTH_PASSTHROUGH) {
            conf_error_node(c, item, "%s: provider \"%s\" has auth: passthrough, which a group cannot use", ip, name);
            continue;
        }
        bool dup = false;
        for (size_t j = 0; j < g->fallback.count; j++)
            dup = dup || strcmp(g->fallback.items[j], name) == 0;
        if (dup) {
            conf_error_node(c, item, "%s: \"%s\" is listed twice", ip, name);
            continue;
        }
        g->fallback.items[g->fallback.count++] = name;
    }
}

/* A duration more than 0 at `path`.`key` into *out (left as it is otherwise). */
static void positive_duration(conf_ctx_t *c, yaml_node_t *n, const char *path, const char *key, uint64_t *out)
{
    char sub[160];
    uint64_t u;
    snprintf(sub, sizeof(sub), "%s.%s", path, key);
    if (!conf_get_duration(c, n, sub, &u))
        return;
    if (u == 0)
        conf_error_node(c, n, "%s: must be more than 0", sub);
    else
        *out = u;
}

static void parse_breaker(conf_ctx_t *c, yaml_node_t *n, const char *path, llg_conf_group_t *g)
{
    static const char *const known[] = {"failures", "cooldown"};
    yaml_node_t *v[2];
    char sub[160];
    uint64_t u;
    if (!conf_map(c, n, path, known, 2, v, NULL))
        return;
    snprintf(sub, sizeof(sub), "%s.failures", path);
    if (conf_get_uint(c, v[0], sub, 0, 1000, &u))
        g->breaker.failures = (uint32_t)u;
    positive_duration(c, v[1], path, "cooldown", &g->breaker.cooldown_ms);
}

static void parse_latency(conf_ctx_t *c, yaml_node_t *n, const char *path, llg_conf_group_t *g)
{
    static const char *const known[] = {"decay", "error_penalty"};
    yaml_node_t *v[2];
    char sub[160];
    if (!conf_map(c, n, path, known, 2, v, NULL))
        return;
    positive_duration(c, v[0], path, "decay", &g->latency.decay_ms);
    snprintf(sub, sizeof(sub), "%s.error_penalty", path);
    conf_get_duration(c, v[1], sub, &g->latency.error_penalty_ms);
}

static void parse_affinity(conf_ctx_t *c, yaml_node_t *n, const char *path, llg_conf_group_t *g)
{
    static const char *const known[] = {"header", "load_factor"};
    yaml_node_t *v[2];
    char sub[160];
    if (!conf_map(c, n, path, known, 2, v, NULL))
        return;
    snprintf(sub, sizeof(sub), "%s.header", path);
    char *h;
    if (conf_get_string(c, v[0], sub, CONF_STR_NONEMPTY, &h)) {
        if (!conf_is_header_name(h)) {
            conf_error_node(c, v[0], "%s: \"%.100s\" is not a valid HTTP header name", sub, h);
        } else {
            /* stored lowercase, as HTTP/2 sends names */
            for (char *p = h; *p; p++)
                if (*p >= 'A' && *p <= 'Z')
                    *p = (char)(*p - 'A' + 'a');
            g->affinity.header = h;
        }
    }
    snprintf(sub, sizeof(sub), "%s.load_factor", path);
    const char *s = v[1] != NULL ? conf_scalar(c, v[1], sub, "a number") : NULL;
    if (s != NULL) {
        char *end;
        double d = strtod(s, &end);
        if (end == s || *end != '\0' || !(d >= 1.0 && d <= 100.0))
            conf_error_node(c, v[1], "%s: expected a number between 1 and 100, got \"%.40s\"", sub, s);
        else
            g->affinity.load_factor = d;
    }
}

static void parse_group(conf_ctx_t *c, yaml_node_t *n, size_t idx, llg_conf_group_t *g)
{
    yaml_node_t *v[G_COUNT], *k[G_COUNT];
    char path[64], sub[128];
    snprintf(path, sizeof(path), "model_groups[%zu]", idx);
    g->mark = conf_mark_of(n);
    g->breaker.failures = 5;
    g->breaker.cooldown_ms = 30000;
    g->latency.decay_ms = 10000;
    g->latency.error_penalty_ms = 1000;
    g->affinity.header = "x-session-id";
    g->affinity.load_factor = 1.25;
    if (!conf_map(c, n, path, group_keys, G_COUNT, v, k))
        return;
#define SUB(key) (snprintf(sub, sizeof(sub), "%s.%s", path, key), sub)
    if (v[G_NAME] == NULL) {
        conf_missing(c, n, path, "name");
    } else if (conf_get_string(c, v[G_NAME], SUB("name"), CONF_STR_NONEMPTY | CONF_STR_NOCTRL, &g->name)) {
        for (size_t j = 0; j < idx; j++) {
            if (c->conf->groups[j].name != NULL && strcmp(c->conf->groups[j].name, g->name) == 0) {
                conf_error_node(c, v[G_NAME], "%s: duplicate group name \"%.100s\" (first at line %u)", sub, g->name,
                                c->conf->groups[j].mark.line);
                break;
            }
        }
    }
    int e;
    if (conf_get_enum(c, v[G_STRATEGY], SUB("strategy"), strategy_names, CONF_COUNTOF(strategy_names), &e))
        g->strategy = (llg_group_strategy_t)e;

    if (v[G_TARGETS] == NULL) {
        conf_missing(c, n, path, "targets");
    } else if (conf_expect_list(c, v[G_TARGETS], SUB("targets"))) {
        size_t count = conf_seq_len(v[G_TARGETS]);
        if (count == 0 || count > LLG_GROUP_MAX_TARGETS) {
            conf_error_node(c, v[G_TARGETS], "%s: must list 1 to %d targets, got %zu", sub, LLG_GROUP_MAX_TARGETS, count);
        } else {
            g->targets = llg_arena_calloc(c->arena, count, sizeof(*g->targets));
            for (size_t i = 0; i < count; i++) {
                char tp[96];
                snprintf(tp, sizeof(tp), "%s.targets[%zu]", path, i);
                parse_target(c, conf_seq_item(c, v[G_TARGETS], i), tp, g);
            }
        }
    }

    uint64_t u;
    g->attempts = c->conf->retry_attempts;
    if (conf_get_uint(c, v[G_ATTEMPTS], SUB("attempts"), 1, CONF_MAX_ATTEMPTS, &u))
        g->attempts = (unsigned)u;
    parse_fallback(c, v[G_FALLBACK], SUB("fallback"), g);
    if (v[G_BREAKER] != NULL)
        parse_breaker(c, v[G_BREAKER], SUB("breaker"), g);
    /* a strategy's own settings are refused with another strategy: they would do nothing */
    if (v[G_LATENCY] != NULL && g->strategy != LLG_STRATEGY_LATENCY)
        conf_error_node(c, k[G_LATENCY], "%s: only for strategy latency", SUB("latency"));
    else if (v[G_LATENCY] != NULL)
        parse_latency(c, v[G_LATENCY], SUB("latency"), g);
    if (v[G_AFFINITY] != NULL && g->strategy != LLG_STRATEGY_AFFINITY)
        conf_error_node(c, k[G_AFFINITY], "%s: only for strategy affinity", SUB("affinity"));
    else if (v[G_AFFINITY] != NULL)
        parse_affinity(c, v[G_AFFINITY], SUB("affinity"), g);
#undef SUB
}

void conf_parse_groups(conf_ctx_t *c, yaml_node_t *n)
{
    if (!conf_expect_list(c, n, "model_groups"))
        return;
    size_t count = conf_seq_len(n);
    c->conf->groups = llg_arena_calloc(c->arena, count + 1, sizeof(llg_conf_group_t));
    for (size_t i = 0; i < count; i++) {
        c->conf->group_count = i;
        parse_group(c, conf_seq_item(c, n, i), i, &c->conf->groups[i]);
    }
    c->conf->group_count = count;
    /* the shared state has a slot per target (pool/balance.h) */
    size_t total = 0;
    for (size_t i = 0; i < count; i++)
        total += c->conf->groups[i].target_count;
    if (count > 1024 || total > 4096)
        conf_error_node(c, n, "model_groups: at most 1024 groups and 4096 targets in all, got %zu and %zu", count, total);
}
