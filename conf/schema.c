/*
 * conf/schema.c: the schema of the config file (SPEC section 3), walked over a
 * libyaml document into an llg_conf_t whose defaults are already set. Every
 * check that can be made on one value is made here, at the node, and the walk
 * goes on after an error so that one run reports them all. The checks that
 * need the whole file (fallback names) run at the end of the walk; those that
 * need the environment too (duplicate listeners) run in conf.c.
 */
#include "internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define countof(a) (sizeof(a) / sizeof((a)[0]))

static size_t seq_len(const yaml_node_t *n)
{
    return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

static yaml_node_t *seq_item(conf_ctx_t *c, const yaml_node_t *n, size_t i)
{
    return conf_node(c, n->data.sequence.items.start[i]);
}

static bool expect_list(conf_ctx_t *c, yaml_node_t *n, const char *path)
{
    if (n->type == YAML_SEQUENCE_NODE)
        return true;
    char db[64];
    conf_error_node(c, n, "%s: expected a list, got %s", path, conf_describe(n, db, sizeof(db)));
    return false;
}

static llg_conf_mark_t mark_of(const yaml_node_t *n)
{
    return (llg_conf_mark_t){(unsigned)n->start_mark.line + 1, (unsigned)n->start_mark.column + 1};
}

static void missing(conf_ctx_t *c, yaml_node_t *map, const char *path, const char *key)
{
    conf_error_node(c, map, "%s: missing required key \"%s\"", path, key);
}

/* ---- listen ---------------------------------------------------------------- */

/* A relative TLS path names a file next to the config file. */
static char *resolve_path(conf_ctx_t *c, const char *p)
{
    if (p[0] == '/' || c->dir == NULL)
        return llg_arena_strdup(c->arena, p);
    size_t dl = strlen(c->dir), pl = strlen(p);
    char *r = llg_arena_alloc(c->arena, dl + pl + 2);
    memcpy(r, c->dir, dl);
    r[dl] = '/';
    memcpy(r + dl + 1, p, pl + 1);
    return r;
}

static bool tls_file(conf_ctx_t *c, yaml_node_t *n, const char *path, char **out)
{
    char *s;
    if (!conf_get_string(c, n, path, CONF_STR_NONEMPTY | CONF_STR_NOCTRL, &s))
        return false;
    char *full = resolve_path(c, s);
    if (access(full, R_OK) != 0) {
        char eb[128];
        conf_error_node(c, n, "%s: cannot read \"%s\": %s", path, full, strerror_r(errno, eb, sizeof(eb)));
        return false;
    }
    *out = full;
    return true;
}

static void parse_listener(conf_ctx_t *c, yaml_node_t *n, const char *path, llg_conf_listen_t *l)
{
    static const char *const known[] = {"address", "port", "tls"};
    yaml_node_t *v[countof(known)];
    l->address = "0.0.0.0";
    l->port = 8080;
    l->mark = mark_of(n);
    if (!conf_map(c, n, path, known, countof(known), v, NULL))
        return;

    char p[300];
    snprintf(p, sizeof(p), "%s.address", path);
    char *addr;
    if (conf_get_string(c, v[0], p, CONF_STR_NONEMPTY, &addr)) {
        unsigned char buf[sizeof(struct in6_addr)];
        if (inet_pton(AF_INET, addr, buf) == 1 || inet_pton(AF_INET6, addr, buf) == 1) {
            l->address = addr;
        } else {
            conf_error_node(c, v[0], "%s: \"%.100s\" is not an IPv4 or IPv6 address (write IPv6 without brackets)", p, addr);
            l->address = NULL; /* refused: kept out of the clash check */
        }
    } else if (v[0] != NULL) {
        l->address = NULL;
    }
    snprintf(p, sizeof(p), "%s.port", path);
    uint64_t port;
    if (conf_get_uint(c, v[1], p, 1, 65535, &port))
        l->port = (uint16_t)port;
    else if (v[1] != NULL)
        l->port = 0; /* refused: kept out of the clash check */

    if (v[2] != NULL) {
        static const char *const tls_known[] = {"certificate", "key"};
        yaml_node_t *t[countof(tls_known)];
        snprintf(p, sizeof(p), "%s.tls", path);
        if (conf_map(c, v[2], p, tls_known, countof(tls_known), t, NULL)) {
            char fp[320];
            for (size_t i = 0; i < countof(tls_known); i++) {
                if (t[i] == NULL)
                    missing(c, v[2], p, tls_known[i]);
            }
            snprintf(fp, sizeof(fp), "%s.certificate", p);
            tls_file(c, t[0], fp, &l->tls_certificate);
            snprintf(fp, sizeof(fp), "%s.key", p);
            tls_file(c, t[1], fp, &l->tls_key);
        }
    }
}

static void parse_listen(conf_ctx_t *c, yaml_node_t *n)
{
    if (!expect_list(c, n, "listen"))
        return;
    size_t count = seq_len(n);
    if (count == 0) {
        conf_error_node(c, n, "listen: must list at least one listener (leave it out for 0.0.0.0:8080)");
        return;
    }
    llg_conf_listen_t *ls = llg_arena_calloc(c->arena, count, sizeof(*ls));
    for (size_t i = 0; i < count; i++) {
        char p[64];
        snprintf(p, sizeof(p), "listen[%zu]", i);
        parse_listener(c, seq_item(c, n, i), p, &ls[i]);
    }
    c->conf->listen = ls;
    c->conf->listen_count = count;
}

/* ---- access tokens --------------------------------------------------------- */

static void parse_tokens(conf_ctx_t *c, yaml_node_t *n)
{
    static const char *const known[] = {"token", "name", "rpm", "models"};
    if (!expect_list(c, n, "access_tokens"))
        return;
    size_t count = seq_len(n);
    llg_conf_token_t *ts = llg_arena_calloc(c->arena, count + 1, sizeof(*ts));
    size_t *first = llg_arena_calloc(c->arena, count + 1, sizeof(size_t));
    size_t used = 0;

    for (size_t i = 0; i < count; i++) {
        yaml_node_t *item = seq_item(c, n, i), *tnode = NULL;
        llg_conf_token_t *t = &ts[used];
        memset(t, 0, sizeof(*t)); /* may hold the leftovers of a refused entry */
        char p[64], sub[96];
        snprintf(p, sizeof(p), "access_tokens[%zu]", i);
        if (item->type == YAML_SCALAR_NODE) {
            tnode = item;
        } else if (item->type == YAML_MAPPING_NODE) {
            yaml_node_t *v[countof(known)];
            conf_map(c, item, p, known, countof(known), v, NULL);
            if (v[0] == NULL)
                missing(c, item, p, "token");
            tnode = v[0];
            snprintf(sub, sizeof(sub), "%s.name", p);
            conf_get_string(c, v[1], sub, CONF_STR_NONEMPTY | CONF_STR_NOCTRL, &t->name);
            snprintf(sub, sizeof(sub), "%s.rpm", p);
            uint64_t rpm;
            if (conf_get_uint(c, v[2], sub, 0, UINT32_MAX, &rpm))
                t->rpm = (uint32_t)rpm;
            snprintf(sub, sizeof(sub), "%s.models", p);
            if (conf_get_strv(c, v[3], sub, CONF_STR_NONEMPTY | CONF_STR_NOCTRL, &t->models) && t->models.count == 0 &&
                seq_len(v[3]) == 0)
                conf_error_node(c, v[3], "%s: must list at least one model glob (leave it out to allow every model)", sub);
            snprintf(sub, sizeof(sub), "%s.token", p);
        } else {
            char db[64];
            conf_error_node(c, item, "%s: expected a token string or a mapping, got %s", p, conf_describe(item, db, sizeof(db)));
            continue;
        }
        if (tnode == NULL)
            continue;
        const char *tp = item == tnode ? p : sub;
        if (!conf_get_string(c, tnode, tp, CONF_STR_NONEMPTY | CONF_STR_SECRET, &t->token))
            continue;
        size_t j = 0;
        while (j < used && strcmp(ts[j].token, t->token) != 0)
            j++;
        if (j < used) {
            conf_error_node(c, tnode, "%s: duplicate access token (same as access_tokens[%zu])", tp, first[j]);
            continue;
        }
        first[used++] = i;
    }
    c->conf->tokens = ts;
    c->conf->token_count = used;
}

/* ---- providers --------------------------------------------------------------- */

enum {
    P_NAME,
    P_TYPE,
    P_BASE_URL,
    P_KEYS,
    P_KEYS_ENV,
    P_AUTH,
    P_MODELS,
    P_MODEL_MAP,
    P_LIST_MODELS,
    P_HEADERS,
    P_CLIENT_KEY_HEADER,
    P_MESSAGE_MODE,
    P_FALLBACK,
    P_DELAY,
    P_COUNT
};

static const char *const provider_keys[P_COUNT] = {
    "name",        "type",    "base_url",          "keys",         "keys_env", "auth",  "models", "model_map",
    "list_models", "headers", "client_key_header", "message_mode", "fallback", "delay",
};

static const char *const type_names[] = {"openai", "poe", "puter", "echo"};
static const char *const auth_names[] = {"pool", "passthrough", "none"};
static const char *const mode_names[] = {"raw", "standard", "full"};

static bool valid_provider_name(const char *s)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
            return false;
    return true;
}

static bool valid_env_name(const char *s)
{
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return false;
    for (s++; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

/* http:// or https://, a host, nothing that cannot be in a URL; the trailing
 * slashes are dropped so that the server can append "/chat/completions". */
static void parse_base_url(conf_ctx_t *c, yaml_node_t *n, const char *path, char **out)
{
    char *s;
    if (!conf_get_string(c, n, path, CONF_STR_NONEMPTY, &s))
        return;
    const char *rest = !strncmp(s, "https://", 8) ? s + 8 : !strncmp(s, "http://", 7) ? s + 7 : NULL;
    if (rest == NULL) {
        conf_error_node(c, n, "%s: must start with http:// or https://", path);
        return;
    }
    if (*rest == '\0' || *rest == '/' || *rest == '?' || *rest == '#') {
        conf_error_node(c, n, "%s: has no host", path);
        return;
    }
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p <= 0x20 || *p == 0x7f) {
            conf_error_node(c, n, "%s: must not contain spaces or control characters", path);
            return;
        }
    }
    size_t len = strlen(s);
    while (len > (size_t)(rest - s) + 1 && s[len - 1] == '/')
        s[--len] = '\0';
    *out = s;
}

/* keys: secrets, each listed once (a repeat would get twice the traffic). */
static void parse_keys_list(conf_ctx_t *c, yaml_node_t *n, const char *path, llg_conf_strv_t *out)
{
    if (n == NULL || !expect_list(c, n, path))
        return;
    size_t count = seq_len(n);
    out->items = llg_arena_calloc(c->arena, count + 1, sizeof(char *));
    size_t *first = llg_arena_calloc(c->arena, count + 1, sizeof(size_t));
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *item = seq_item(c, n, i);
        char ip[160];
        snprintf(ip, sizeof(ip), "%s[%zu]", path, i);
        char *key;
        if (!conf_get_string(c, item, ip, CONF_STR_NONEMPTY | CONF_STR_SECRET, &key))
            continue;
        size_t j = 0;
        while (j < out->count && strcmp(out->items[j], key) != 0)
            j++;
        if (j < out->count) {
            conf_error_node(c, item, "%s: duplicate API key (same as %s[%zu])", ip, path, first[j]);
            continue;
        }
        first[out->count] = i;
        out->items[out->count++] = key;
    }
}

static void parse_provider(conf_ctx_t *c, yaml_node_t *n, size_t idx, llg_conf_provider_t *p)
{
    yaml_node_t *v[P_COUNT], *k[P_COUNT];
    char path[64], sub[128];
    snprintf(path, sizeof(path), "providers[%zu]", idx);
    p->mark = mark_of(n);
    p->auth = LLG_AUTH_POOL;
    p->message_mode = LLG_MESSAGES_RAW;
    p->models.items = llg_arena_calloc(c->arena, 2, sizeof(char *));
    p->models.items[0] = "*";
    p->models.count = 1;
    if (!conf_map(c, n, path, provider_keys, P_COUNT, v, k))
        return;

#define SUB(key) (snprintf(sub, sizeof(sub), "%s.%s", path, key), sub)

    /* name: [a-z0-9_-]+, unique; compared with the providers before it. */
    if (v[P_NAME] == NULL) {
        missing(c, n, path, "name");
    } else if (conf_get_string(c, v[P_NAME], SUB("name"), CONF_STR_NONEMPTY, &p->name)) {
        if (!valid_provider_name(p->name)) {
            conf_error_node(c, v[P_NAME], "%s: \"%.100s\" is not a valid provider name (use a-z, 0-9, _ and -)", sub, p->name);
            p->name = NULL;
        } else if (strlen(p->name) > CONF_MAX_PROVIDER_NAME) {
            conf_error_node(c, v[P_NAME], "%s: longer than %d characters", sub, CONF_MAX_PROVIDER_NAME);
            p->name = NULL;
        } else {
            for (size_t j = 0; j < idx; j++) {
                const char *other = c->conf->providers[j].name;
                if (other != NULL && strcmp(other, p->name) == 0) {
                    conf_error_node(c, v[P_NAME], "%s: duplicate provider name \"%s\" (first at line %lu)", sub, p->name,
                                    (unsigned long)c->provider_name_nodes[j]->start_mark.line + 1);
                    p->name = NULL;
                    break;
                }
            }
        }
        if (p->name != NULL)
            c->provider_name_nodes[idx] = v[P_NAME];
    }

    int type = -1;
    if (v[P_TYPE] == NULL)
        missing(c, n, path, "type");
    else if (!conf_get_enum(c, v[P_TYPE], SUB("type"), type_names, countof(type_names), &type))
        type = -1;
    if (type >= 0)
        p->type = (llg_provider_type_t)type;

    /* base_url: required where there is an upstream, refused where there is none. */
    if (v[P_BASE_URL] != NULL && type == LLG_PROVIDER_ECHO)
        conf_error_node(c, k[P_BASE_URL], "%s: echo providers have no upstream, remove base_url", SUB("base_url"));
    else if (v[P_BASE_URL] != NULL)
        parse_base_url(c, v[P_BASE_URL], SUB("base_url"), &p->base_url);
    else if (type == LLG_PROVIDER_OPENAI || type == LLG_PROVIDER_POE)
        conf_error_node(c, n, "%s: missing required key \"base_url\" (required for type %s)", path, type_names[type]);
    else if (type == LLG_PROVIDER_PUTER)
        p->base_url = "https://api.puter.com";

    parse_keys_list(c, v[P_KEYS], SUB("keys"), &p->keys);

    if (conf_get_string(c, v[P_KEYS_ENV], SUB("keys_env"), CONF_STR_NONEMPTY, &p->keys_env) && !valid_env_name(p->keys_env)) {
        conf_error_node(c, v[P_KEYS_ENV], "%s: \"%.100s\" is not a valid environment variable name", sub, p->keys_env);
        p->keys_env = NULL;
    }

    int e;
    if (conf_get_enum(c, v[P_AUTH], SUB("auth"), auth_names, countof(auth_names), &e))
        p->auth = (llg_auth_mode_t)e;
    conf_get_strv(c, v[P_MODELS], SUB("models"), CONF_STR_NONEMPTY | CONF_STR_NOCTRL, &p->models);
    conf_get_kvv(c, v[P_MODEL_MAP], SUB("model_map"), false, &p->model_map);
    p->list_models_set =
        conf_get_strv(c, v[P_LIST_MODELS], SUB("list_models"), CONF_STR_NONEMPTY | CONF_STR_NOCTRL, &p->list_models);
    conf_get_kvv(c, v[P_HEADERS], SUB("headers"), true, &p->headers);

    /* Header names are case-insensitive: stored lowercase, as HTTP/2 sends them. */
    if (conf_get_string(c, v[P_CLIENT_KEY_HEADER], SUB("client_key_header"), CONF_STR_NONEMPTY, &p->client_key_header)) {
        if (!conf_is_header_name(p->client_key_header)) {
            conf_error_node(c, v[P_CLIENT_KEY_HEADER], "%s: \"%.100s\" is not a valid HTTP header name", sub, p->client_key_header);
            p->client_key_header = NULL;
        } else {
            for (char *h = p->client_key_header; *h; h++)
                if (*h >= 'A' && *h <= 'Z')
                    *h = (char)(*h - 'A' + 'a');
        }
    }

    if (conf_get_enum(c, v[P_MESSAGE_MODE], SUB("message_mode"), mode_names, countof(mode_names), &e))
        p->message_mode = (llg_message_mode_t)e;

    /* fallback: checked against the other names once every provider is read. */
    if (v[P_FALLBACK] != NULL && expect_list(c, v[P_FALLBACK], SUB("fallback")))
        c->provider_fallback_nodes[idx] = v[P_FALLBACK];

    if (v[P_DELAY] != NULL && type >= 0 && type != LLG_PROVIDER_ECHO)
        conf_error_node(c, k[P_DELAY], "%s: only echo providers take a delay", SUB("delay"));
    else
        conf_get_duration(c, v[P_DELAY], SUB("delay"), &p->delay_ms);
#undef SUB
}

static void check_fallbacks(conf_ctx_t *c)
{
    llg_conf_t *conf = c->conf;
    for (size_t i = 0; i < conf->provider_count; i++) {
        yaml_node_t *fb = c->provider_fallback_nodes[i];
        if (fb == NULL)
            continue;
        llg_conf_provider_t *p = &conf->providers[i];
        size_t count = seq_len(fb);
        p->fallback.items = llg_arena_calloc(c->arena, count + 1, sizeof(char *));
        const char **names = llg_arena_calloc(c->arena, conf->provider_count + 1, sizeof(char *));
        for (size_t j = 0; j < conf->provider_count; j++)
            names[j] = conf->providers[j].name ? conf->providers[j].name : "";
        for (size_t j = 0; j < count; j++) {
            yaml_node_t *item = seq_item(c, fb, j);
            char ip[96];
            snprintf(ip, sizeof(ip), "providers[%zu].fallback[%zu]", i, j);
            char *name;
            if (!conf_get_string(c, item, ip, CONF_STR_NONEMPTY, &name))
                continue;
            size_t t = 0;
            while (t < conf->provider_count && strcmp(names[t], name) != 0)
                t++;
            if (t == conf->provider_count) {
                size_t s = conf_suggest(name, names, conf->provider_count);
                if (s != SIZE_MAX)
                    conf_error_node(c, item, "%s: unknown provider \"%.100s\"; did you mean \"%s\"?", ip, name, names[s]);
                else
                    conf_error_node(c, item, "%s: unknown provider \"%.100s\"", ip, name);
                continue;
            }
            if (t == i) {
                conf_error_node(c, item, "%s: a provider cannot fall back to itself", ip);
                continue;
            }
            size_t d = 0;
            while (d < p->fallback.count && strcmp(p->fallback.items[d], name) != 0)
                d++;
            if (d < p->fallback.count) {
                conf_error_node(c, item, "%s: \"%s\" is listed twice", ip, name);
                continue;
            }
            p->fallback.items[p->fallback.count++] = name;
        }
    }
}

static void parse_providers(conf_ctx_t *c, yaml_node_t *n)
{
    if (!expect_list(c, n, "providers"))
        return;
    size_t count = seq_len(n);
    c->conf->providers = llg_arena_calloc(c->arena, count + 1, sizeof(llg_conf_provider_t));
    c->provider_name_nodes = llg_arena_calloc(c->arena, count + 1, sizeof(yaml_node_t *));
    c->provider_fallback_nodes = llg_arena_calloc(c->arena, count + 1, sizeof(yaml_node_t *));
    for (size_t i = 0; i < count; i++) {
        c->conf->provider_count = i;
        parse_provider(c, seq_item(c, n, i), i, &c->conf->providers[i]);
    }
    c->conf->provider_count = count;
    check_fallbacks(c);
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

static void parse_timeouts(conf_ctx_t *c, yaml_node_t *n, yaml_node_t **request_node)
{
    static const char *const known[] = {"connect", "request", "idle", "ping", "drain"};
    yaml_node_t *v[countof(known)];
    if (!conf_map(c, n, "timeouts", known, countof(known), v, NULL))
        return;
    uint64_t *dst[] = {&c->conf->timeouts.connect_ms, &c->conf->timeouts.request_ms, &c->conf->timeouts.idle_ms,
                       &c->conf->timeouts.ping_ms, &c->conf->timeouts.drain_ms};
    for (size_t i = 0; i < countof(known); i++) {
        char p[64];
        snprintf(p, sizeof(p), "timeouts.%s", known[i]);
        conf_get_duration(c, v[i], p, dst[i]);
    }
    *request_node = v[1];
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
    yaml_node_t *v[countof(known)];
    if (!conf_map(c, n, "defaults", known, countof(known), v, NULL))
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
    yaml_node_t *v[countof(known)];
    if (!conf_map(c, n, "keys", known, countof(known), v, NULL))
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
    T_TIMEOUT,
    T_TIMEOUTS,
    T_TOKENS,
    T_ADMIN,
    T_CORS,
    T_DEFAULTS,
    T_RETRY,
    T_KEYS,
    T_PROVIDERS,
    T_COUNT
};

static const char *const top_keys[T_COUNT] = {"listen",      "workers", "max_body_bytes", "timeout", "timeouts", "access_tokens",
                                              "admin_token", "cors",    "defaults",       "retry",   "keys",     "providers"};

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
        parse_listen(c, v[T_LISTEN]);
    if (v[T_WORKERS] != NULL)
        parse_workers(c, v[T_WORKERS]);
    conf_get_uint(c, v[T_MAX_BODY], "max_body_bytes", 1, UINT64_MAX, &conf->max_body_bytes);

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
    if (v[T_CORS] != NULL)
        parse_cors(c, v[T_CORS]);
    if (v[T_DEFAULTS] != NULL)
        parse_defaults(c, v[T_DEFAULTS]);
    if (v[T_RETRY] != NULL)
        parse_retry(c, v[T_RETRY]);
    if (v[T_KEYS] != NULL)
        parse_keys(c, v[T_KEYS]);
    if (v[T_PROVIDERS] != NULL)
        parse_providers(c, v[T_PROVIDERS]);
}
