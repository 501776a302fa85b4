/*
 * conf/env.c: the environment overrides of SPEC section 3, applied after the
 * file: PORT, LLMGATE_WORKERS, API_ACCESS_TOKENS and TOKEN, each
 * provider's keys_env, and LLMGATE_REDIS_URL (conf/cluster.c). The environment is the array given to the loader, never
 * the process's own (no getenv here): tests and the SIGHUP path pass theirs.
 *
 * A variable that is unset or empty changes nothing. Values that are lists are
 * comma-separated, spaces around items are trimmed, empty items are skipped,
 * and an item already present (in the file or earlier in the environment) is
 * not added twice.
 */
#include "internal.h"

#include <string.h>
#include <unistd.h>

const char *conf_env_get(llg_env_t env, const char *name)
{
    if (env == NULL)
        return NULL;
    size_t len = strlen(name);
    for (char *const *e = env; *e != NULL; e++) {
        if (strncmp(*e, name, len) == 0 && (*e)[len] == '=')
            return *e + len + 1;
    }
    return NULL;
}

unsigned conf_online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        return 1;
    return n > CONF_MAX_WORKERS ? CONF_MAX_WORKERS : (unsigned)n;
}

/* Splits a comma-separated value into arena strings. Items with a space or a
 * control character inside are reported (by position, never by value). */
static size_t split_list(conf_ctx_t *c, const char *var, const char *value, const char *what, char ***out)
{
    size_t cap = 1;
    for (const char *p = value; *p; p++)
        cap += *p == ',';
    char **items = llg_arena_calloc(c->arena, cap, sizeof(char *));
    size_t count = 0, pos = 0;
    const char *p = value;
    for (;;) {
        const char *end = strchr(p, ',');
        if (end == NULL)
            end = p + strlen(p);
        const char *b = p, *e = end;
        while (b < e && (*b == ' ' || *b == '\t'))
            b++;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (e > b) {
            pos++;
            bool ok = true;
            for (const char *q = b; q < e; q++)
                if ((unsigned char)*q <= 0x20 || *q == 0x7f)
                    ok = false;
            if (ok)
                items[count++] = llg_arena_strndup(c->arena, b, (size_t)(e - b));
            else
                conf_error_env(c, var, "%s %zu must not contain spaces or control characters", what, pos);
        }
        if (*end == '\0')
            break;
        p = end + 1;
    }
    *out = items;
    return count;
}

static void env_port(conf_ctx_t *c)
{
    const char *v = conf_env_get(c->env, "PORT");
    if (v == NULL || *v == '\0')
        return;
    bool neg;
    uint64_t port;
    if (!conf_parse_int(v, &neg, &port) || neg || port < 1 || port > 65535) {
        conf_error_env(c, "PORT", "expected a port number between 1 and 65535, got \"%.40s\"", v);
        return;
    }
    c->conf->listen[0].port = (uint16_t)port;
}

static void env_workers(conf_ctx_t *c)
{
    const char *v = conf_env_get(c->env, "LLMGATE_WORKERS");
    if (v == NULL || *v == '\0')
        return;
    bool neg;
    uint64_t w;
    if (strcmp(v, "auto") == 0)
        c->conf->workers = conf_online_cpus();
    else if (conf_parse_int(v, &neg, &w) && !neg && w >= 1 && w <= CONF_MAX_WORKERS)
        c->conf->workers = (unsigned)w;
    else
        conf_error_env(c, "LLMGATE_WORKERS", "expected auto or an integer between 1 and %d, got \"%.40s\"", CONF_MAX_WORKERS, v);
}

static void env_tokens(conf_ctx_t *c, const char *var)
{
    const char *v = conf_env_get(c->env, var);
    if (v == NULL || *v == '\0')
        return;
    char **items;
    size_t n = split_list(c, var, v, "token", &items);
    llg_conf_t *conf = c->conf;
    llg_conf_token_t *ts = llg_arena_calloc(c->arena, conf->token_count + n + 1, sizeof(*ts));
    if (conf->token_count > 0)
        memcpy(ts, conf->tokens, conf->token_count * sizeof(*ts));
    size_t count = conf->token_count;
    conf_strset_t seen;
    conf_strset_init(c, &seen, count + n);
    for (size_t i = 0; i < count; i++)
        conf_strset_add(&seen, ts[i].token, i);
    for (size_t i = 0; i < n; i++) {
        if (conf_strset_add(&seen, items[i], count) != SIZE_MAX)
            continue;
        ts[count].token = items[i];
        ts[count].from_env = true;
        count++;
    }
    conf->tokens = ts;
    conf->token_count = count;
}

static void env_provider_keys(conf_ctx_t *c, llg_conf_provider_t *p)
{
    const char *v = p->keys_env ? conf_env_get(c->env, p->keys_env) : NULL;
    if (v == NULL || *v == '\0')
        return;
    char **items;
    size_t n = split_list(c, p->keys_env, v, "key", &items);
    char **keys = llg_arena_calloc(c->arena, p->keys.count + n + 1, sizeof(char *));
    if (p->keys.count > 0)
        memcpy(keys, p->keys.items, p->keys.count * sizeof(char *));
    size_t count = p->keys.count;
    conf_strset_t seen;
    conf_strset_init(c, &seen, count + n);
    for (size_t i = 0; i < count; i++)
        conf_strset_add(&seen, keys[i], i);
    for (size_t i = 0; i < n; i++)
        if (conf_strset_add(&seen, items[i], count) == SIZE_MAX)
            keys[count++] = items[i];
    p->keys.items = keys;
    p->keys.count = count;
}

void conf_apply_env(conf_ctx_t *c)
{
    env_port(c);
    env_workers(c);
    env_tokens(c, "API_ACCESS_TOKENS");
    env_tokens(c, "TOKEN");
    /* Two providers may name one variable: each gets the keys (separate pools). */
    for (size_t i = 0; i < c->conf->provider_count; i++)
        env_provider_keys(c, &c->conf->providers[i]);
    conf_cluster_env(c);
}
