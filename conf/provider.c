/*
 * conf/provider.c: the `providers` list (SPEC section 3): one upstream each,
 * with its type, URL, keys, routing globs and options. The rules that tie
 * keys to the type (base_url required or refused, delay for echo only) are
 * here, and so are the checks that need every provider: unique names, and
 * fallback names that exist.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

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
    P_RESPONSES_API,
    P_FALLBACK,
    P_DELAY,
    P_TLS,
    P_MAX_CONNECTIONS,
    P_QUEUE_TIMEOUT,
    P_COUNT
};

static const char *const provider_keys[P_COUNT] = {
    "name",          "type",      "base_url",    "keys",    "keys_env",          "auth",
    "models",        "model_map", "list_models", "headers", "client_key_header", "message_mode",
    "responses_api", "fallback",  "delay",       "tls",     "max_connections",   "queue_timeout",
};

static const char *const type_names[] = {"openai", "poe", "puter", "echo", "anthropic"};
static const char *const auth_names[] = {"pool", "passthrough", "none"};
static const char *const mode_names[] = {"raw", "standard", "full"};
static const char *const bool_names[] = {"false", "true"};

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
    if (n == NULL || !conf_expect_list(c, n, path))
        return;
    size_t count = conf_seq_len(n);
    out->items = llg_arena_calloc(c->arena, count + 1, sizeof(char *));
    conf_strset_t seen;
    conf_strset_init(c, &seen, count);
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *item = conf_seq_item(c, n, i);
        char ip[160];
        snprintf(ip, sizeof(ip), "%s[%zu]", path, i);
        char *key;
        if (!conf_get_string(c, item, ip, CONF_STR_NONEMPTY | CONF_STR_SECRET, &key))
            continue;
        size_t first = conf_strset_add(&seen, key, i);
        if (first != SIZE_MAX) {
            conf_error_node(c, item, "%s: duplicate API key (same as %s[%zu])", ip, path, first);
            continue;
        }
        out->items[out->count++] = key;
    }
}

static void parse_provider(conf_ctx_t *c, yaml_node_t *n, size_t idx, llg_conf_provider_t *p)
{
    yaml_node_t *v[P_COUNT], *k[P_COUNT];
    char path[64], sub[128];
    snprintf(path, sizeof(path), "providers[%zu]", idx);
    p->mark = conf_mark_of(n);
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
        conf_missing(c, n, path, "name");
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
        conf_missing(c, n, path, "type");
    else if (!conf_get_enum(c, v[P_TYPE], SUB("type"), type_names, CONF_COUNTOF(type_names), &type))
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
    else if (type == LLG_PROVIDER_ANTHROPIC)
        p->base_url = "https://api.anthropic.com";

    parse_keys_list(c, v[P_KEYS], SUB("keys"), &p->keys);

    if (conf_get_string(c, v[P_KEYS_ENV], SUB("keys_env"), CONF_STR_NONEMPTY, &p->keys_env) && !valid_env_name(p->keys_env)) {
        conf_error_node(c, v[P_KEYS_ENV], "%s: \"%.100s\" is not a valid environment variable name", sub, p->keys_env);
        p->keys_env = NULL;
    }

    int e;
    if (conf_get_enum(c, v[P_AUTH], SUB("auth"), auth_names, CONF_COUNTOF(auth_names), &e))
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

    if (conf_get_enum(c, v[P_MESSAGE_MODE], SUB("message_mode"), mode_names, CONF_COUNTOF(mode_names), &e))
        p->message_mode = (llg_message_mode_t)e;

    /* responses_api: only an OpenAI-compatible upstream can serve OpenAI's Responses API */
    if (v[P_RESPONSES_API] != NULL && type >= 0 && type != LLG_PROVIDER_OPENAI)
        conf_error_node(c, k[P_RESPONSES_API], "%s: only openai providers speak the Responses API", SUB("responses_api"));
    else if (conf_get_enum(c, v[P_RESPONSES_API], SUB("responses_api"), bool_names, CONF_COUNTOF(bool_names), &e))
        p->responses_api = e == 1;

    /* fallback: checked against the other names once every provider is read. */
    if (v[P_FALLBACK] != NULL && conf_expect_list(c, v[P_FALLBACK], SUB("fallback")))
        c->provider_fallback_nodes[idx] = v[P_FALLBACK];

    /* tls: an https:// upstream's settings */
    p->tls.verify = true;
    if (v[P_TLS] != NULL && p->base_url != NULL && strncmp(p->base_url, "https://", 8) != 0)
        conf_error_node(c, k[P_TLS], "%s: only for an https:// base_url", SUB("tls"));
    else if (v[P_TLS] != NULL && type == LLG_PROVIDER_ECHO)
        conf_error_node(c, k[P_TLS], "%s: an echo provider has no upstream", SUB("tls"));
    else if (v[P_TLS] != NULL)
        conf_parse_tls(c, v[P_TLS], path, &p->tls);

    if (v[P_DELAY] != NULL && type >= 0 && type != LLG_PROVIDER_ECHO)
        conf_error_node(c, k[P_DELAY], "%s: only echo providers take a delay", SUB("delay"));
    else
        conf_get_duration(c, v[P_DELAY], SUB("delay"), &p->delay_ms);

    /* max_connections, queue_timeout: the gateway's connections to the
     * upstream, and how long a request may wait for one (docs/upstream-client.md) */
    if (v[P_MAX_CONNECTIONS] != NULL && type == LLG_PROVIDER_ECHO)
        conf_error_node(c, k[P_MAX_CONNECTIONS], "%s: an echo provider has no upstream", SUB("max_connections"));
    else
        conf_get_uint(c, v[P_MAX_CONNECTIONS], SUB("max_connections"), 0, 100000, &p->max_connections);
    if (v[P_QUEUE_TIMEOUT] != NULL && v[P_MAX_CONNECTIONS] == NULL)
        conf_error_node(c, k[P_QUEUE_TIMEOUT], "%s: needs max_connections", SUB("queue_timeout"));
    else
        conf_get_duration(c, v[P_QUEUE_TIMEOUT], SUB("queue_timeout"), &p->queue_timeout_ms);
#undef SUB
}

/* See internal.h: shared by fallbacks here and by model groups (group.c). */
int conf_provider_index(conf_ctx_t *c, yaml_node_t *n, const char *path, const char *name)
{
    const llg_conf_t *conf = c->conf;
    const char **names = llg_arena_calloc(c->arena, conf->provider_count + 1, sizeof(char *));
    for (size_t j = 0; j < conf->provider_count; j++) {
        names[j] = conf->providers[j].name ? conf->providers[j].name : "";
        if (strcmp(names[j], name) == 0)
            return (int)j;
    }
    size_t s = conf_suggest(name, names, conf->provider_count);
    if (s != SIZE_MAX)
        conf_error_node(c, n, "%s: unknown provider \"%.100s\"; did you mean \"%s\"?", path, name, names[s]);
    else
        conf_error_node(c, n, "%s: unknown provider \"%.100s\"", path, name);
    return -1;
}

static void check_fallbacks(conf_ctx_t *c)
{
    llg_conf_t *conf = c->conf;
    for (size_t i = 0; i < conf->provider_count; i++) {
        yaml_node_t *fb = c->provider_fallback_nodes[i];
        if (fb == NULL)
            continue;
        llg_conf_provider_t *p = &conf->providers[i];
        size_t count = conf_seq_len(fb);
        p->fallback.items = llg_arena_calloc(c->arena, count + 1, sizeof(char *));
        for (size_t j = 0; j < count; j++) {
            yaml_node_t *item = conf_seq_item(c, fb, j);
            char ip[96];
            snprintf(ip, sizeof(ip), "providers[%zu].fallback[%zu]", i, j);
            char *name;
            if (!conf_get_string(c, item, ip, CONF_STR_NONEMPTY, &name))
                continue;
            int t = conf_provider_index(c, item, ip, name);
            if (t < 0)
                continue;
            if ((size_t)t == i) {
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

void conf_parse_providers(conf_ctx_t *c, yaml_node_t *n)
{
    if (!conf_expect_list(c, n, "providers"))
        return;
    size_t count = conf_seq_len(n);
    c->conf->providers = llg_arena_calloc(c->arena, count + 1, sizeof(llg_conf_provider_t));
    c->provider_name_nodes = llg_arena_calloc(c->arena, count + 1, sizeof(yaml_node_t *));
    c->provider_fallback_nodes = llg_arena_calloc(c->arena, count + 1, sizeof(yaml_node_t *));
    for (size_t i = 0; i < count; i++) {
        c->conf->provider_count = i;
        parse_provider(c, conf_seq_item(c, n, i), i, &c->conf->providers[i]);
    }
    c->conf->provider_count = count;
    check_fallbacks(c);
}
