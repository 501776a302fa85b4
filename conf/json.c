/*
 * conf/json.c: renders a YAML value of `defaults.params` as JSON text, so that
 * the server can splice it into a request body without a YAML library.
 *
 * Plain scalars are resolved with the YAML 1.2 core schema: null, ~ and the
 * empty value are null; true/false (also True, TRUE...) are booleans; decimal,
 * 0x and 0o integers and decimal floats are numbers, written in JSON's number
 * syntax; anything else is a string. A quoted or block scalar is always a
 * string. .inf and .nan have no JSON form and are refused. Aliases may form a
 * cycle or blow up exponentially, so depth and output size are bounded.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put(conf_ctx_t *c, const char *s, size_t n)
{
    if (c->jlen + n + 1 > c->jcap) {
        size_t cap = c->jcap ? c->jcap : 256;
        while (cap < c->jlen + n + 1)
            cap *= 2;
        char *b = realloc(c->jbuf, cap);
        if (b == NULL)
            longjmp(c->oom, 1);
        c->jbuf = b;
        c->jcap = cap;
    }
    memcpy(c->jbuf + c->jlen, s, n);
    c->jlen += n;
    c->jbuf[c->jlen] = '\0';
}

static void puts_(conf_ctx_t *c, const char *s)
{
    put(c, s, strlen(s));
}

static void put_string(conf_ctx_t *c, const unsigned char *s, size_t n)
{
    put(c, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = s[i];
        char esc[8];
        if (ch == '"' || ch == '\\') {
            esc[0] = '\\';
            esc[1] = (char)ch;
            put(c, esc, 2);
        } else if (ch == '\n') {
            put(c, "\\n", 2);
        } else if (ch == '\t') {
            put(c, "\\t", 2);
        } else if (ch == '\r') {
            put(c, "\\r", 2);
        } else if (ch < 0x20 || ch == 0x7f) {
            snprintf(esc, sizeof(esc), "\\u%04x", ch);
            put(c, esc, 6);
        } else {
            put(c, (const char *)&s[i], 1);
        }
    }
    put(c, "\"", 1);
}

static bool is_digits(const char *s, size_t n, const char *set)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (strchr(set, s[i]) == NULL || s[i] == '\0')
            return false;
    return true;
}

/* Writes a YAML 1.2 decimal number ([-+]?(.d+|d+(.d*)?)([eE][-+]?d+)?) in
 * JSON syntax: no '+', no leading zeros, digits on both sides of a '.'.
 * Returns false, writing nothing, when `s` is not such a number. */
static bool put_decimal(conf_ctx_t *c, const char *s)
{
    const char *p = s;
    bool neg = false;
    if (*p == '-' || *p == '+')
        neg = *p++ == '-';
    size_t ni = strspn(p, "0123456789");
    const char *ip = p;
    p += ni;
    const char *fp = NULL;
    size_t nf = 0;
    if (*p == '.') {
        fp = ++p;
        nf = strspn(p, "0123456789");
        p += nf;
    }
    if (ni == 0 && nf == 0)
        return false;
    const char *ep = NULL;
    size_t ne = 0;
    char esign = 0;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '-' || *p == '+')
            esign = *p++;
        ne = strspn(p, "0123456789");
        if (ne == 0)
            return false;
        ep = p;
        p += ne;
    }
    if (*p != '\0')
        return false;

    if (neg)
        put(c, "-", 1);
    while (ni > 1 && *ip == '0') {
        ip++;
        ni--;
    }
    if (ni == 0)
        put(c, "0", 1);
    else
        put(c, ip, ni);
    if (nf > 0) {
        put(c, ".", 1);
        put(c, fp, nf);
    }
    if (ep != NULL) {
        put(c, "e", 1);
        if (esign == '-')
            put(c, "-", 1);
        put(c, ep, ne);
    }
    return true;
}

static bool put_scalar(conf_ctx_t *c, yaml_node_t *n, const char *path)
{
    const char *s = (const char *)n->data.scalar.value;
    size_t len = n->data.scalar.length;
    if (memchr(s, '\0', len) != NULL) {
        conf_error_node(c, n, "%s: contains a NUL byte", path);
        return false;
    }
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
        put_string(c, n->data.scalar.value, len);
        return true;
    }
    if (conf_is_null(n)) {
        puts_(c, "null");
        return true;
    }
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) {
        puts_(c, "true");
        return true;
    }
    if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) {
        puts_(c, "false");
        return true;
    }
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
        bool hex = s[1] == 'x';
        if (is_digits(s + 2, len - 2, hex ? "0123456789abcdefABCDEF" : "01234567")) {
            errno = 0;
            unsigned long long v = strtoull(s + 2, NULL, hex ? 16 : 8);
            if (errno == ERANGE) {
                conf_error_node(c, n, "%s: integer too large", path);
                return false;
            }
            char b[32];
            snprintf(b, sizeof(b), "%llu", v);
            puts_(c, b);
            return true;
        }
    }
    const char *q = s + (*s == '-' || *s == '+');
    if (!strcmp(q, ".inf") || !strcmp(q, ".Inf") || !strcmp(q, ".INF") || !strcmp(s, ".nan") || !strcmp(s, ".NaN") ||
        !strcmp(s, ".NAN")) {
        conf_error_node(c, n, "%s: %s has no JSON representation", path, s);
        return false;
    }
    if (put_decimal(c, s))
        return true;
    put_string(c, n->data.scalar.value, len);
    return true;
}

static bool render(conf_ctx_t *c, yaml_node_t *n, const char *path, int depth)
{
    if (depth > CONF_MAX_PARAM_DEPTH) {
        conf_error_node(c, n, "%s: nested more than %d levels deep (recursive alias?)", path, CONF_MAX_PARAM_DEPTH);
        return false;
    }
    if (c->jlen > CONF_MAX_PARAM_BYTES) {
        conf_error_node(c, n, "%s: value larger than %u bytes as JSON", path, CONF_MAX_PARAM_BYTES);
        return false;
    }
    char sub[300];
    switch (n->type) {
    case YAML_SCALAR_NODE:
        return put_scalar(c, n, path);
    case YAML_SEQUENCE_NODE: {
        put(c, "[", 1);
        yaml_node_item_t *items = n->data.sequence.items.start;
        size_t count = (size_t)(n->data.sequence.items.top - items);
        for (size_t i = 0; i < count; i++) {
            if (i > 0)
                put(c, ",", 1);
            snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
            if (!render(c, conf_node(c, items[i]), sub, depth + 1))
                return false;
        }
        put(c, "]", 1);
        return true;
    }
    case YAML_MAPPING_NODE: {
        put(c, "{", 1);
        yaml_node_pair_t *pairs = n->data.mapping.pairs.start;
        size_t count = (size_t)(n->data.mapping.pairs.top - pairs);
        bool first = true;
        for (size_t i = 0; i < count; i++) {
            yaml_node_t *k = conf_node(c, pairs[i].key);
            if (k->type != YAML_SCALAR_NODE) {
                char db[64];
                conf_error_node(c, k, "%s: keys must be strings, got %s", path, conf_describe(k, db, sizeof(db)));
                return false;
            }
            if (memchr(k->data.scalar.value, '\0', k->data.scalar.length) != NULL) {
                conf_error_node(c, k, "%s: key contains a NUL byte", path);
                return false;
            }
            if (conf_dup_key(c, n, i, path))
                return false;
            if (!first)
                put(c, ",", 1);
            first = false;
            put_string(c, k->data.scalar.value, k->data.scalar.length);
            put(c, ":", 1);
            snprintf(sub, sizeof(sub), "%s.%.200s", path, (const char *)k->data.scalar.value);
            if (!render(c, conf_node(c, pairs[i].value), sub, depth + 1))
                return false;
        }
        put(c, "}", 1);
        return true;
    }
    default:
        conf_error_node(c, n, "%s: unsupported YAML node", path);
        return false;
    }
}

char *conf_yaml_to_json(conf_ctx_t *c, yaml_node_t *n, const char *path)
{
    c->jlen = 0;
    if (!render(c, n, path, 0))
        return NULL;
    if (c->jlen > CONF_MAX_PARAM_BYTES) {
        conf_error_node(c, n, "%s: value larger than %u bytes as JSON", path, CONF_MAX_PARAM_BYTES);
        return NULL;
    }
    return llg_arena_strndup(c->arena, c->jbuf ? c->jbuf : "", c->jlen);
}
