/*
 * conf/listen.c: the `listen` list (SPEC section 3): addresses, ports and TLS
 * files of the listeners, and the check that no two of them would fight over
 * one bind(), run after the environment has had its say on the first port.
 */
#include "internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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
    yaml_node_t *v[CONF_COUNTOF(known)];
    l->address = "0.0.0.0";
    l->port = 8080;
    l->mark = conf_mark_of(n);
    if (!conf_map(c, n, path, known, CONF_COUNTOF(known), v, NULL))
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
        yaml_node_t *t[CONF_COUNTOF(tls_known)];
        snprintf(p, sizeof(p), "%s.tls", path);
        if (conf_map(c, v[2], p, tls_known, CONF_COUNTOF(tls_known), t, NULL)) {
            char fp[320];
            for (size_t i = 0; i < CONF_COUNTOF(tls_known); i++) {
                if (t[i] == NULL)
                    conf_missing(c, v[2], p, tls_known[i]);
            }
            snprintf(fp, sizeof(fp), "%s.certificate", p);
            tls_file(c, t[0], fp, &l->tls_certificate);
            snprintf(fp, sizeof(fp), "%s.key", p);
            tls_file(c, t[1], fp, &l->tls_key);
        }
    }
}

void conf_parse_listen(conf_ctx_t *c, yaml_node_t *n)
{
    if (!conf_expect_list(c, n, "listen"))
        return;
    size_t count = conf_seq_len(n);
    if (count == 0) {
        conf_error_node(c, n, "listen: must list at least one listener (leave it out for 0.0.0.0:8080)");
        return;
    }
    llg_conf_listen_t *ls = llg_arena_calloc(c->arena, count, sizeof(*ls));
    for (size_t i = 0; i < count; i++) {
        char p[64];
        snprintf(p, sizeof(p), "listen[%zu]", i);
        parse_listener(c, conf_seq_item(c, n, i), p, &ls[i]);
    }
    c->conf->listen = ls;
    c->conf->listen_count = count;
}

static bool addr_of(const char *s, int *family, unsigned char *buf)
{
    if (inet_pton(AF_INET, s, buf) == 1) {
        *family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, s, buf) == 1) {
        *family = AF_INET6;
        return true;
    }
    return false;
}

/* Two listeners on one port clash when their addresses are equal or one of
 * them is the wildcard of the same family (bind() would fail). Run after PORT
 * is applied, which can create a clash. */
void conf_check_listeners(conf_ctx_t *c)
{
    llg_conf_t *conf = c->conf;
    bool port_env = conf_env_get(c->env, "PORT") != NULL && *conf_env_get(c->env, "PORT") != '\0';
    static const unsigned char zero[16];
    for (size_t j = 1; j < conf->listen_count; j++) {
        const llg_conf_listen_t *b = &conf->listen[j];
        unsigned char bb[16];
        int bf;
        if (b->address == NULL || b->port == 0 || !addr_of(b->address, &bf, bb))
            continue;
        for (size_t i = 0; i < j; i++) {
            const llg_conf_listen_t *a = &conf->listen[i];
            unsigned char ab[16];
            int af;
            size_t alen = bf == AF_INET ? 4 : 16;
            if (a->port != b->port || a->address == NULL || !addr_of(a->address, &af, ab) || af != bf)
                continue;
            if (memcmp(ab, bb, alen) != 0 && memcmp(ab, zero, alen) != 0 && memcmp(bb, zero, alen) != 0)
                continue;
            yaml_mark_t m = {0, b->mark.line ? b->mark.line - 1 : 0, b->mark.column ? b->mark.column - 1 : 0};
            conf_error_mark(c, m, "listen[%zu]: %s%s%s:%u clashes with listen[%zu] (%s%s%s:%u)%s", j, bf == AF_INET6 ? "[" : "",
                            b->address, bf == AF_INET6 ? "]" : "", b->port, i, af == AF_INET6 ? "[" : "", a->address,
                            af == AF_INET6 ? "]" : "", a->port, i == 0 && port_env ? ", whose port comes from PORT" : "");
            break;
        }
    }
}
