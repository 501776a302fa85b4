/*
 * conf/cluster.c: the `cluster:` section (docs/cluster.md) and the
 * LLMGATE_REDIS_URL variable: the Redis URL split into host, port, db, user,
 * password or unix socket path once at load time, the password taken from the
 * URL or from the variable that password_env names, and a masked form of the
 * URL for logs. No message here ever quotes the URL or the password.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

#define REDIS_DEFAULT_PORT 6379
#define REDIS_MAX_DB       65535
#define REDIS_MAX_PREFIX   64
#define REDIS_MAX_TIMEOUT  (60u * 1000)

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* The percent-decoded copy of s[0..len) (arena), or NULL when an escape is
 * malformed or decodes to a control character. */
static char *pct_decode(conf_ctx_t *c, const char *s, size_t len)
{
    char *out = llg_arena_calloc(c->arena, len + 1, 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '%') {
            int a = i + 1 < len ? hexval(s[i + 1]) : -1, b = i + 2 < len ? hexval(s[i + 2]) : -1;
            if (a < 0 || b < 0)
                return NULL;
            ch = (unsigned char)(a * 16 + b);
            i += 2;
        }
        if (ch < 0x20 || ch == 0x7f)
            return NULL;
        out[o++] = (char)ch;
    }
    return out;
}

/* host[:port] or [v6][:port] of s[0..len). 0, or -1 with *why. */
static int parse_hostport(conf_ctx_t *c, const char *s, size_t len, llg_conf_redis_t *r, const char **why)
{
    const char *port = NULL;
    size_t hl;
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (close == NULL) {
            *why = "an IPv6 host must be written [address]";
            return -1;
        }
        r->host = llg_arena_strndup(c->arena, s + 1, (size_t)(close - s - 1));
        hl = (size_t)(close - s) + 1;
        if (hl < len && s[hl] != ':') {
            *why = "unexpected text after the IPv6 host";
            return -1;
        }
        port = hl < len ? s + hl + 1 : NULL;
    } else {
        const char *colon = memchr(s, ':', len);
        hl = colon != NULL ? (size_t)(colon - s) : len;
        r->host = llg_arena_strndup(c->arena, s, hl);
        port = colon != NULL ? colon + 1 : NULL;
    }
    if (r->host[0] == '\0') {
        *why = "the host is missing";
        return -1;
    }
    for (const char *p = r->host; *p; p++) {
        if (*p <= 0x20 || *p == 0x7f || *p == '@' || *p == '/' || *p == '%') {
            *why = "the host has a character that no host name has";
            return -1;
        }
    }
    if (port == NULL)
        return 0;
    size_t pl = (size_t)(s + len - port);
    uint64_t v = 0;
    bool neg;
    char buf[16];
    if (pl == 0 || pl >= sizeof(buf) || strspn(port, "0123456789") < pl) {
        *why = "the port must be a number from 1 to 65535";
        return -1;
    }
    memcpy(buf, port, pl);
    buf[pl] = '\0';
    if (!conf_parse_int(buf, &neg, &v) || v < 1 || v > 65535) {
        *why = "the port must be a number from 1 to 65535";
        return -1;
    }
    r->port = (uint16_t)v;
    return 0;
}

/* user:password@ of s[0..len) (without the @). */
static int parse_userinfo(conf_ctx_t *c, const char *s, size_t len, llg_conf_redis_t *r, const char **why)
{
    const char *colon = memchr(s, ':', len);
    if (colon == NULL) {
        *why = "the part before @ must be user:password or :password";
        return -1;
    }
    size_t ul = (size_t)(colon - s), pl = len - ul - 1;
    char *user = ul > 0 ? pct_decode(c, s, ul) : NULL;
    char *pass = pct_decode(c, colon + 1, pl);
    if ((ul > 0 && user == NULL) || pass == NULL) {
        *why = "a bad %-escape or a control character before @";
        return -1;
    }
    if (pass[0] == '\0') {
        *why = "the password before @ is empty";
        return -1;
    }
    r->user = user;
    r->password = pass;
    return 0;
}

static int parse_db(const char *s, llg_conf_redis_t *r, const char **why)
{
    bool neg;
    uint64_t v;
    if (*s == '\0')
        return 0;
    if (strspn(s, "0123456789") != strlen(s) || !conf_parse_int(s, &neg, &v) || v > REDIS_MAX_DB) {
        *why = "the path must be a database number (/0 to /65535)";
        return -1;
    }
    r->db = (unsigned)v;
    return 0;
}

/* redis://[user:password@]host[:port][/db] or unix:/path. 0, or -1 with *why
 * (a message that never quotes the URL). */
static int parse_url(conf_ctx_t *c, const char *url, llg_conf_redis_t *r, const char **why)
{
    r->port = REDIS_DEFAULT_PORT;
    if (strncmp(url, "unix:", 5) == 0) {
        const char *p = url + 5;
        if (strncmp(p, "//", 2) == 0)
            p += 2;
        if (p[0] != '/' || p[1] == '\0') {
            *why = "unix: must be followed by an absolute socket path (unix:/path/to/redis.sock)";
            return -1;
        }
        r->unix_path = llg_arena_strdup(c->arena, p);
        return 0;
    }
    if (strncmp(url, "rediss://", 9) == 0) {
        *why = "rediss:// (TLS) is not supported: hiredis 0.14 has no TLS; use a TLS tunnel or a private network";
        return -1;
    }
    if (strncmp(url, "redis://", 8) != 0) {
        *why = "expected redis://[user:password@]host[:port][/db] or unix:/path";
        return -1;
    }
    const char *a = url + 8, *slash = strchr(a, '/');
    size_t alen = slash != NULL ? (size_t)(slash - a) : strlen(a);
    const char *at = NULL;
    for (size_t i = 0; i < alen; i++)
        if (a[i] == '@')
            at = a + i;
    if (at != NULL && parse_userinfo(c, a, (size_t)(at - a), r, why) != 0)
        return -1;
    const char *h = at != NULL ? at + 1 : a;
    if (parse_hostport(c, h, (size_t)(a + alen - h), r, why) != 0)
        return -1;
    return slash != NULL ? parse_db(slash + 1, r, why) : 0;
}

/* The URL as logs show it: the password replaced by ***. */
static void make_display(conf_ctx_t *c, llg_conf_redis_t *r)
{
    char buf[1024];
    if (r->unix_path != NULL) {
        snprintf(buf, sizeof(buf), "unix:%s", r->unix_path);
    } else {
        bool v6 = strchr(r->host, ':') != NULL;
        snprintf(buf, sizeof(buf), "redis://%s%s%s%s%s%s:%u/%u", r->user != NULL ? r->user : "", r->password != NULL ? ":***" : "",
                 r->user != NULL || r->password != NULL ? "@" : "", v6 ? "[" : "", r->host, v6 ? "]" : "", (unsigned)r->port,
                 r->db);
    }
    r->display = llg_arena_strdup(c->arena, buf);
}

static void set_defaults(conf_ctx_t *c, llg_conf_redis_t *r)
{
    memset(r, 0, sizeof(*r));
    r->prefix = llg_arena_strdup(c->arena, "llmgate:");
    r->timeout_ms = 1000;
}

/* password_env: the password from the loader's environment. */
static void get_password_env(conf_ctx_t *c, yaml_node_t *n, llg_conf_redis_t *r)
{
    char *var = NULL;
    if (!conf_get_string(c, n, "cluster.redis.password_env", CONF_STR_NONEMPTY | CONF_STR_SECRET, &var))
        return;
    if (r->password != NULL) {
        conf_error_node(c, n, "cluster.redis.password_env: the url has a password too; give it in one place");
        return;
    }
    const char *v = conf_env_get(c->env, var);
    if (v == NULL || v[0] == '\0') {
        conf_error_node(c, n, "cluster.redis.password_env: environment variable %s is not set or empty", var);
        return;
    }
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            conf_error_node(c, n, "cluster.redis.password_env: the value of %s has a control character", var);
            return;
        }
    }
    r->password = llg_arena_strdup(c->arena, v);
}

static void get_options(conf_ctx_t *c, yaml_node_t *prefix, yaml_node_t *timeout, llg_conf_redis_t *r)
{
    char *p = NULL;
    if (conf_get_string(c, prefix, "cluster.redis.prefix", CONF_STR_SECRET, &p)) {
        if (strlen(p) > REDIS_MAX_PREFIX)
            conf_error_node(c, prefix, "cluster.redis.prefix: at most %u characters", REDIS_MAX_PREFIX);
        else
            r->prefix = p;
    }
    uint64_t ms;
    if (conf_get_duration(c, timeout, "cluster.redis.timeout", &ms)) {
        if (ms == 0 || ms > REDIS_MAX_TIMEOUT)
            conf_error_node(c, timeout, "cluster.redis.timeout: must be more than 0 and at most 60s");
        else
            r->timeout_ms = ms;
    }
}

void conf_parse_cluster(conf_ctx_t *c, yaml_node_t *n)
{
    static const char *const known[] = {"redis"};
    static const char *const rknown[] = {"url", "password_env", "prefix", "timeout"};
    yaml_node_t *v[1], *rv[CONF_COUNTOF(rknown)];
    c->cluster_in_file = true;
    if (!conf_map(c, n, "cluster", known, 1, v, NULL))
        return;
    if (v[0] == NULL) {
        conf_missing(c, n, "cluster", "redis");
        return;
    }
    if (!conf_map(c, v[0], "cluster.redis", rknown, CONF_COUNTOF(rknown), rv, NULL))
        return;
    llg_conf_redis_t *r = &c->conf->cluster.redis;
    set_defaults(c, r);
    const char *url = NULL, *why = NULL;
    if (rv[0] != NULL) {
        url = conf_scalar(c, rv[0], "cluster.redis.url", "a redis:// or unix: URL");
        if (url == NULL)
            return;
        if (parse_url(c, url, r, &why) != 0) {
            conf_error_node(c, rv[0], "cluster.redis.url: %s", why);
            return;
        }
    } else {
        url = conf_env_get(c->env, "LLMGATE_REDIS_URL");
        if (url == NULL || url[0] == '\0') {
            conf_missing(c, v[0], "cluster.redis", "url");
            return;
        }
        if (parse_url(c, url, r, &why) != 0) {
            conf_error_env(c, "LLMGATE_REDIS_URL", "%s", why);
            return;
        }
    }
    get_password_env(c, rv[1], r);
    get_options(c, rv[2], rv[3], r);
    make_display(c, r);
    c->conf->cluster.enabled = true;
}

void conf_cluster_env(conf_ctx_t *c)
{
    const char *url = conf_env_get(c->env, "LLMGATE_REDIS_URL");
    if (c->cluster_in_file || url == NULL || url[0] == '\0')
        return;
    llg_conf_redis_t *r = &c->conf->cluster.redis;
    set_defaults(c, r);
    const char *why = NULL;
    if (parse_url(c, url, r, &why) != 0) {
        conf_error_env(c, "LLMGATE_REDIS_URL", "%s", why);
        return;
    }
    make_display(c, r);
    c->conf->cluster.enabled = true;
}
