/*
 * conf/node.c: typed access to libyaml document nodes. libyaml gives every
 * scalar as text; these helpers decide what a value means, check its range,
 * and report `FILE:LINE:COLUMN: path: problem` at the node that is wrong, so
 * that the schema walk (schema.c) reads as a list of keys and their types.
 *
 * A message never quotes the value of a string field: tokens and keys are
 * string fields, and errors are logged.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

yaml_node_t *conf_node(conf_ctx_t *c, int index)
{
    return yaml_document_get_node(c->doc, index);
}

bool conf_is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *s = (const char *)n->data.scalar.value;
    return n->data.scalar.length == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
           strcmp(s, "NULL") == 0;
}

/* What a node is, never what it says: for the places where a secret may be
 * written by mistake (a token or key where a list or mapping belongs). */
const char *conf_describe_kind(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_MAPPING_NODE:
        return "a mapping";
    case YAML_SCALAR_NODE:
        return conf_is_null(n) ? "null" : "a single value";
    default:
        return "nothing";
    }
}

const char *conf_describe(const yaml_node_t *n, char *buf, size_t size)
{
    if (n->type != YAML_SCALAR_NODE || conf_is_null(n))
        return conf_describe_kind(n);
    /* The scalar, quoted, cut at 40 bytes, with control bytes shown as '?'. */
    size_t len = n->data.scalar.length, o = 0;
    const unsigned char *s = n->data.scalar.value;
    if (size < 8)
        return "a scalar";
    buf[o++] = '"';
    for (size_t i = 0; i < len && o + 5 < size && i < 40; i++)
        buf[o++] = s[i] < 0x20 || s[i] == 0x7f ? '?' : (char)s[i];
    if (len > 40 || o + 5 >= size) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

static const char *where(const char *path, char *buf, size_t size)
{
    if (*path == '\0')
        return "at the top level";
    snprintf(buf, size, "in %s", path);
    return buf;
}

/* Reports and returns true when the key of pair `pi` of mapping `map` repeats
 * the key of an earlier pair. */
bool conf_dup_key(conf_ctx_t *c, yaml_node_t *map, size_t pi, const char *path)
{
    yaml_node_pair_t *pairs = map->data.mapping.pairs.start;
    yaml_node_t *k = conf_node(c, pairs[pi].key);
    if (k->type != YAML_SCALAR_NODE)
        return false;
    for (size_t j = 0; j < pi; j++) {
        yaml_node_t *e = conf_node(c, pairs[j].key);
        if (e->type == YAML_SCALAR_NODE && e->data.scalar.length == k->data.scalar.length &&
            memcmp(e->data.scalar.value, k->data.scalar.value, k->data.scalar.length) == 0) {
            char wb[256];
            conf_error_node(c, k, "duplicate key \"%s\" %s (first at line %lu)", (const char *)k->data.scalar.value,
                            where(path, wb, sizeof(wb)), (unsigned long)e->start_mark.line + 1);
            return true;
        }
    }
    return false;
}

/* A mapping key: a scalar without NUL. */
static const char *key_text(conf_ctx_t *c, yaml_node_t *k, const char *path)
{
    char wb[256];
    if (k->type != YAML_SCALAR_NODE) {
        conf_error_node(c, k, "keys must be strings %s, got %s", where(path, wb, sizeof(wb)), conf_describe(k, wb, sizeof(wb)));
        return NULL;
    }
    if (memchr(k->data.scalar.value, '\0', k->data.scalar.length) != NULL) {
        conf_error_node(c, k, "key contains a NUL byte %s", where(path, wb, sizeof(wb)));
        return NULL;
    }
    return (const char *)k->data.scalar.value;
}

bool conf_map(conf_ctx_t *c, yaml_node_t *n, const char *path, const char *const *known, size_t count, yaml_node_t **vals,
              yaml_node_t **keys)
{
    for (size_t i = 0; i < count; i++) {
        vals[i] = NULL;
        if (keys != NULL)
            keys[i] = NULL;
    }
    if (n->type != YAML_MAPPING_NODE) {
        conf_error_node(c, n, "%s: expected a mapping, got %s", path, conf_describe_kind(n));
        return false;
    }
    yaml_node_pair_t *pairs = n->data.mapping.pairs.start;
    size_t npairs = (size_t)(n->data.mapping.pairs.top - pairs);
    for (size_t pi = 0; pi < npairs; pi++) {
        yaml_node_t *k = conf_node(c, pairs[pi].key), *v = conf_node(c, pairs[pi].value);
        const char *key = key_text(c, k, path);
        if (key == NULL || conf_dup_key(c, n, pi, path))
            continue;
        size_t i = 0;
        while (i < count && strcmp(key, known[i]) != 0)
            i++;
        if (i == count) {
            char wb[256], kb[64];
            size_t s = conf_suggest(key, known, count);
            /* `- {sk-...: x}` in access_tokens puts a token where a key name
             * belongs: there a key is quoted only when it is a near miss of
             * a known one, which no secret is (docs/security.md) */
            if (s != SIZE_MAX)
                conf_error_node(c, k, "unknown key %s %s; did you mean \"%s\"?", conf_describe(k, kb, sizeof(kb)),
                                where(path, wb, sizeof(wb)), known[s]);
            else if (strncmp(path, "access_tokens", 13) == 0)
                conf_error_node(c, k, "unknown key %s (a key name is never quoted here: it may be a token)",
                                where(path, wb, sizeof(wb)));
            else
                conf_error_node(c, k, "unknown key %s %s", conf_describe(k, kb, sizeof(kb)), where(path, wb, sizeof(wb)));
            continue;
        }
        vals[i] = conf_is_null(v) ? NULL : v;
        if (keys != NULL)
            keys[i] = k;
    }
    return true;
}

const char *conf_scalar(conf_ctx_t *c, yaml_node_t *n, const char *path, const char *expected)
{
    if (n->type != YAML_SCALAR_NODE) {
        char db[64];
        conf_error_node(c, n, "%s: expected %s, got %s", path, expected, conf_describe(n, db, sizeof(db)));
        return NULL;
    }
    if (memchr(n->data.scalar.value, '\0', n->data.scalar.length) != NULL) {
        conf_error_node(c, n, "%s: contains a NUL byte", path);
        return NULL;
    }
    return (const char *)n->data.scalar.value;
}

bool conf_check_string(conf_ctx_t *c, const yaml_node_t *n, const char *path, const char *s, int flags)
{
    if ((flags & CONF_STR_NONEMPTY) && *s == '\0') {
        conf_error_node(c, n, "%s: must not be empty", path);
        return false;
    }
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((flags & CONF_STR_SECRET) && (*p <= 0x20 || *p == 0x7f)) {
            conf_error_node(c, n, "%s: must not contain spaces or control characters", path);
            return false;
        }
        if ((flags & CONF_STR_NOCTRL) && (*p < 0x20 || *p == 0x7f)) {
            conf_error_node(c, n, "%s: must not contain control characters", path);
            return false;
        }
    }
    return true;
}

bool conf_get_string(conf_ctx_t *c, yaml_node_t *n, const char *path, int flags, char **out)
{
    if (n == NULL)
        return false;
    const char *s = conf_scalar(c, n, path, "a string");
    if (s == NULL || !conf_check_string(c, n, path, s, flags))
        return false;
    *out = llg_arena_strndup(c->arena, s, n->data.scalar.length);
    return true;
}

bool conf_parse_int(const char *s, bool *neg, uint64_t *abs)
{
    *neg = false;
    if (*s == '-' || *s == '+')
        *neg = *s++ == '-';
    if (*s < '0' || *s > '9')
        return false;
    uint64_t v = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *abs = v;
    return *s == '\0';
}

static bool all_digits(const char *s)
{
    if (*s == '-' || *s == '+')
        s++;
    return *s != '\0' && strspn(s, "0123456789") == strlen(s);
}

bool conf_get_uint(conf_ctx_t *c, yaml_node_t *n, const char *path, uint64_t min, uint64_t max, uint64_t *out)
{
    if (n == NULL)
        return false;
    const char *s = conf_scalar(c, n, path, "an integer");
    if (s == NULL)
        return false;
    bool neg;
    uint64_t v;
    bool ok = conf_parse_int(s, &neg, &v);
    if (!ok && !all_digits(s)) {
        char db[64];
        conf_error_node(c, n, "%s: expected an integer, got %s", path, conf_describe(n, db, sizeof(db)));
        return false;
    }
    if (!ok || (neg && v != 0) || v < min || v > max) {
        if (max != UINT64_MAX)
            conf_error_node(c, n, "%s: must be between %llu and %llu, got %s", path, (unsigned long long)min,
                            (unsigned long long)max, s);
        else if (!ok)
            conf_error_node(c, n, "%s: too large, got %s", path, s);
        else if (min == 0)
            conf_error_node(c, n, "%s: must not be negative, got %s", path, s);
        else
            conf_error_node(c, n, "%s: must be at least %llu, got %s", path, (unsigned long long)min, s);
        return false;
    }
    *out = v;
    return true;
}

bool conf_get_duration(conf_ctx_t *c, yaml_node_t *n, const char *path, uint64_t *out_ms)
{
    if (n == NULL)
        return false;
    const char *s = conf_scalar(c, n, path, "a duration");
    if (s == NULL)
        return false;
    if (llg_conf_parse_duration(s, out_ms) == 0)
        return true;
    char db[64];
    size_t digits = strspn(s, "0123456789");
    const char *unit = s + digits;
    if (*s == '-')
        conf_error_node(c, n, "%s: must not be negative, got %s", path, conf_describe(n, db, sizeof(db)));
    else if (digits > 0 && (*unit == '\0' || !strcmp(unit, "ms") || !strcmp(unit, "s") || !strcmp(unit, "m") || !strcmp(unit, "h")))
        conf_error_node(c, n, "%s: duration too large, got %s", path, conf_describe(n, db, sizeof(db)));
    else
        conf_error_node(c, n, "%s: expected a duration (whole seconds, or a whole number with unit ms, s, m or h), got %s", path,
                        conf_describe(n, db, sizeof(db)));
    return false;
}

bool conf_get_enum(conf_ctx_t *c, yaml_node_t *n, const char *path, const char *const *names, size_t count, int *out)
{
    if (n == NULL)
        return false;
    char list[256] = "";
    size_t o = 0;
    for (size_t i = 0; i < count && o < sizeof(list); i++)
        o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", i == 0 ? "" : i + 1 == count ? " or " : ", ", names[i]);
    char expected[300];
    snprintf(expected, sizeof(expected), "one of %s", list);
    const char *s = conf_scalar(c, n, path, expected);
    if (s == NULL)
        return false;
    for (size_t i = 0; i < count; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (int)i;
            return true;
        }
    }
    char db[64];
    size_t sug = conf_suggest(s, names, count);
    if (sug != SIZE_MAX)
        conf_error_node(c, n, "%s: expected %s, got %s; did you mean \"%s\"?", path, list, conf_describe(n, db, sizeof(db)),
                        names[sug]);
    else
        conf_error_node(c, n, "%s: expected %s, got %s", path, list, conf_describe(n, db, sizeof(db)));
    return false;
}

bool conf_get_strv(conf_ctx_t *c, yaml_node_t *n, const char *path, int flags, llg_conf_strv_t *out)
{
    if (n == NULL)
        return false;
    if (n->type != YAML_SEQUENCE_NODE) {
        conf_error_node(c, n, "%s: expected a list, got %s", path, conf_describe_kind(n));
        return false;
    }
    yaml_node_item_t *items = n->data.sequence.items.start;
    size_t count = (size_t)(n->data.sequence.items.top - items);
    out->items = llg_arena_calloc(c->arena, count + 1, sizeof(char *));
    out->count = 0;
    for (size_t i = 0; i < count; i++) {
        char ip[300];
        snprintf(ip, sizeof(ip), "%s[%zu]", path, i);
        char *s;
        if (conf_get_string(c, conf_node(c, items[i]), ip, flags, &s))
            out->items[out->count++] = s;
    }
    return true;
}

bool conf_is_header_name(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || strchr("!#$%&'*+-.^_`|~", ch)))
            return false;
    }
    return true;
}

bool conf_get_kvv(conf_ctx_t *c, yaml_node_t *n, const char *path, bool headers, llg_conf_kvv_t *out)
{
    if (n == NULL)
        return false;
    if (n->type != YAML_MAPPING_NODE) {
        conf_error_node(c, n, "%s: expected a mapping, got %s", path, conf_describe_kind(n));
        return false;
    }
    yaml_node_pair_t *pairs = n->data.mapping.pairs.start;
    size_t count = (size_t)(n->data.mapping.pairs.top - pairs);
    out->items = llg_arena_calloc(c->arena, count + 1, sizeof(llg_conf_kv_t));
    out->count = 0;
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *k = conf_node(c, pairs[i].key), *v = conf_node(c, pairs[i].value);
        const char *key = key_text(c, k, path);
        if (key == NULL || conf_dup_key(c, n, i, path))
            continue;
        char vp[300];
        snprintf(vp, sizeof(vp), "%s.%.200s", path, key);
        if (headers && !conf_is_header_name(key)) {
            conf_error_node(c, k, "%s: \"%.200s\" is not a valid HTTP header name", path, key);
            continue;
        }
        if (!headers && !conf_check_string(c, k, path, key, CONF_STR_NONEMPTY | CONF_STR_NOCTRL))
            continue;
        char *val;
        if (!conf_get_string(c, v, vp, headers ? CONF_STR_NOCTRL : CONF_STR_NONEMPTY | CONF_STR_NOCTRL, &val))
            continue;
        out->items[out->count].key = llg_arena_strndup(c->arena, key, k->data.scalar.length);
        out->items[out->count].value = val;
        out->count++;
    }
    return true;
}

/* Optimal string alignment distance (a transposition counts as one edit),
 * capped: words longer than 63 bytes are never "close". */
static size_t osa_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return SIZE_MAX;
    size_t d[64][64];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    }
    return d[la][lb];
}

size_t conf_suggest(const char *word, const char *const *cands, size_t count)
{
    size_t len = strlen(word), best = SIZE_MAX, best_d = SIZE_MAX;
    size_t limit = len >= 5 ? 2 : 1;
    for (size_t i = 0; i < count; i++) {
        size_t d = osa_distance(word, cands[i]);
        if (d <= limit && d < best_d) {
            best = i;
            best_d = d;
        }
    }
    return best;
}

/* ---- small shared helpers -------------------------------------------------- */
size_t conf_seq_len(const yaml_node_t *n)
{
    return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

yaml_node_t *conf_seq_item(conf_ctx_t *c, const yaml_node_t *n, size_t i)
{
    return conf_node(c, n->data.sequence.items.start[i]);
}

bool conf_expect_list(conf_ctx_t *c, yaml_node_t *n, const char *path)
{
    if (n->type == YAML_SEQUENCE_NODE)
        return true;
    conf_error_node(c, n, "%s: expected a list, got %s", path, conf_describe_kind(n));
    return false;
}

llg_conf_mark_t conf_mark_of(const yaml_node_t *n)
{
    return (llg_conf_mark_t){(unsigned)n->start_mark.line + 1, (unsigned)n->start_mark.column + 1};
}

void conf_missing(conf_ctx_t *c, yaml_node_t *map, const char *path, const char *key)
{
    conf_error_node(c, map, "%s: missing required key \"%s\"", path, key);
}
