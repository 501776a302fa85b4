/*
 * providers/request_json.c: the JSON body of a client request, read the
 * same way an upstream parser would read it (see request_json.h).
 */
#include "providers/request_json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/strbuf.h"

const char *llg_json_type_name(const cJSON *v)
{
    if (cJSON_IsNull(v))
        return "null";
    if (cJSON_IsBool(v))
        return "a boolean";
    if (cJSON_IsNumber(v))
        return "a number";
    if (cJSON_IsString(v))
        return "a string";
    if (cJSON_IsArray(v))
        return "an array";
    return "an object";
}

/* 1 when a JSON string escape \u0000 occurs (a backslash preceded by an even
 * number of backslashes, then u0000), or a \u not followed by four hex digits:
 * cJSON reads "\uZZZZ" as U+0000 too (found by tests/fuzz/fuzz_json_edit: a
 * key "model\uZZZZjunk" read as "model"), where any other parser refuses it. */
static int has_escaped_nul(const char *body, size_t len)
{
    const char *p = body, *end = body + len;
    while ((p = memmem(p, (size_t)(end - p), "\\u", 2)) != NULL) {
        size_t run = 0;
        while (p - run > body && p[-(ptrdiff_t)run - 1] == '\\')
            run++;
        if (run % 2 == 0) {
            if (end - p < 6 || memcmp(p + 2, "0000", 4) == 0)
                return 1;
            for (int i = 2; i < 6; i++)
                if (strchr("0123456789abcdefABCDEF", p[i]) == NULL || p[i] == '\0')
                    return 1;
        }
        p += 2;
    }
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A top-level key that appears twice, or NULL. Sorted, so that a body with
 * many keys costs n log n, not n squared. */
static const char *duplicate_key(const cJSON *root)
{
    size_t n = 0;
    for (const cJSON *a = root->child; a != NULL; a = a->next)
        n++;
    if (n < 2)
        return NULL;
    const char **names = malloc(n * sizeof(*names));
    if (names == NULL)
        return NULL;
    size_t i = 0;
    for (const cJSON *a = root->child; a != NULL; a = a->next)
        names[i++] = a->string;
    qsort(names, n, sizeof(*names), cmp_names);
    const char *dup = NULL;
    for (i = 1; i < n && dup == NULL; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            dup = names[i];
    free(names);
    return dup;
}

/* Copies the longest prefix of `s` (valid UTF-8) that fits in size - 1 bytes
 * and ends on a whole character: a key is echoed in the JSON error body, and a
 * cut inside a character would make that body invalid UTF-8. */
void llg_copy_utf8_prefix(char *dst, size_t size, const char *s)
{
    size_t n = 0, len = strlen(s);
    while (n < len) {
        size_t q = llg_utf8_seq(s + n, len - n);
        if (q == 0 || n + q >= size)
            break;
        n += q;
    }
    memcpy(dst, s, n);
    dst[n] = '\0';
}

/* The offset of the first control byte JSON forbids (RFC 8259: none inside a
 * string, only tab, LF and CR between tokens), or len. cJSON takes any byte
 * up to 0x20 for whitespace and copies raw controls into strings, while an
 * upstream parser refuses both, so they are refused here. */
static size_t bad_control_byte(const char *body, size_t len)
{
    int in_string = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)body[i];
        if (in_string) {
            if (c == '\\')
                i++; /* the escaped byte is checked by cJSON */
            else if (c == '"')
                in_string = 0;
            else if (c < 0x20)
                return i;
        } else if (c == '"') {
            in_string = 1;
        } else if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
            return i;
        }
    }
    return len;
}

/* The byte-level checks every JSON body passes before cJSON reads it, for the
 * ways cJSON would read it differently from an upstream parser. 1 when the
 * body passes; else 0, with the reason in err. */
int llg_json_body_bytes_ok(const char *body, size_t len, char *err, size_t errsize)
{
    if (len == 0) {
        snprintf(err, errsize, "The request body is empty; expected a JSON object.");
        return 0;
    }
    if (!llg_utf8_valid(body, len)) {
        snprintf(err, errsize, "The request body is not valid UTF-8.");
        return 0;
    }
    /* cJSON skips a byte order mark, but the body goes upstream as sent */
    if (len >= 3 && memcmp(body, "\xef\xbb\xbf", 3) == 0) {
        snprintf(err, errsize, "The request body starts with a UTF-8 byte order mark; send the JSON without it.");
        return 0;
    }
    /* cJSON ends strings at a NUL, raw or escaped; refuse it rather than read
     * a different string than the upstream would */
    if (memchr(body, '\0', len) != NULL || has_escaped_nul(body, len)) {
        snprintf(err, errsize,
                 "The request body contains an escaped NUL character (\\u0000) or an invalid \\u escape, which is not "
                 "supported.");
        return 0;
    }
    size_t ctl = bad_control_byte(body, len);
    if (ctl < len) {
        snprintf(err, errsize, "We could not parse the JSON body of your request (unescaped control character 0x%02x at byte %zu).",
                 (unsigned)(unsigned char)body[ctl], ctl);
        return 0;
    }
    return 1;
}

cJSON *llg_request_json(const char *body, size_t len, char *err, size_t errsize, char *param, size_t paramsize)
{
    param[0] = '\0';
    if (!llg_json_body_bytes_ok(body, len, err, errsize))
        return NULL;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (root == NULL) {
        size_t at = end != NULL && end >= body && end <= body + len ? (size_t)(end - body) : 0;
        snprintf(err, errsize, "We could not parse the JSON body of your request (error near byte %zu).", at);
        return NULL;
    }
    /* only whitespace may follow the value */
    const char *p = end;
    while (p < body + len && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    if (p != body + len) {
        snprintf(err, errsize, "We could not parse the JSON body of your request (unexpected data at byte %zu).",
                 (size_t)(p - body));
        goto Error;
    }
    if (!cJSON_IsObject(root)) {
        snprintf(err, errsize, "The request body must be a JSON object, not %s.", llg_json_type_name(root));
        goto Error;
    }
    /* the body is forwarded as sent: a duplicate key could be read one way here
     * and another way upstream, so it is refused */
    const char *dup = duplicate_key(root);
    if (dup != NULL) {
        char shown[65];
        llg_copy_utf8_prefix(param, paramsize, dup);
        llg_copy_utf8_prefix(shown, sizeof(shown), dup);
        snprintf(err, errsize, "Duplicate key '%s' in the request body.", shown);
        goto Error;
    }
    return root;
Error:
    cJSON_Delete(root);
    return NULL;
}

const cJSON *llg_json_get(const cJSON *o, const char *name)
{
    return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, name) : NULL;
}

const char *llg_json_str(const cJSON *o, const char *name)
{
    const cJSON *v = llg_json_get(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int64_t llg_json_count(const cJSON *o, const char *name, double limit)
{
    const cJSON *v = llg_json_get(o, name);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble < limit))
        return -1;
    return (int64_t)v->valuedouble;
}

int llg_req_fail(llg_req_error_t *e, const char *param, const char *fmt, ...)
{
    snprintf(e->param, e->paramsize, "%s", param);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->err, e->errsize, fmt, ap);
    va_end(ap);
    return -1;
}
