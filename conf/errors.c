/*
 * conf/errors.c: the error list of one load. Errors are collected as they are
 * found, in whatever order the checks run, each with the position it points
 * at; conf_errors_finish() sorts them into file order so that a user reads
 * them top to bottom, with the environment's errors last.
 */
#include "internal.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The length of the well-formed UTF-8 sequence at s (NUL-terminated), or 0. */
static size_t utf8_seq(const unsigned char *s)
{
    unsigned c = s[0];
    size_t n = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0) || (c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] >= 0x90))
        return 0; /* overlong, surrogate, past U+10FFFF */
    return n;
}

/* A message is one line of valid UTF-8 whatever the file holds: messages
 * quote scalars of the file (a double-quoted YAML scalar may span lines and
 * hold any escaped byte) and cut them at a byte count (%.100s may end inside a
 * character). Control bytes and broken sequences become '?', in place. */
static void sanitize(char *msg)
{
    unsigned char *p = (unsigned char *)msg;
    while (*p != 0) {
        size_t n = utf8_seq(p);
        if (n == 0 || (n == 1 && (*p < 0x20 || *p == 0x7f))) {
            *p++ = '?';
            continue;
        }
        p += n;
    }
}

static void add(conf_ctx_t *c, unsigned line, unsigned column, char *msg)
{
    if (msg == NULL)
        longjmp(c->oom, 1);
    sanitize(msg);
    if (c->error_count == c->error_cap) {
        size_t cap = c->error_cap ? c->error_cap * 2 : 16;
        conf_error_t *e = realloc(c->errors, cap * sizeof(*e));
        if (e == NULL) {
            free(msg);
            longjmp(c->oom, 1);
        }
        c->errors = e;
        c->error_cap = cap;
    }
    c->errors[c->error_count] = (conf_error_t){line, column, c->error_count, msg};
    c->error_count++;
}

/* Adds `<prefix><message>`; takes ownership of `prefix` (NULL: out of memory). */
static void add_v(conf_ctx_t *c, unsigned line, unsigned column, char *prefix, const char *fmt, va_list ap)
{
    char *body = NULL, *msg = NULL;
    int r = prefix != NULL ? vasprintf(&body, fmt, ap) : -1;
    if (r >= 0)
        r = asprintf(&msg, "%s%s", prefix, body);
    free(prefix);
    free(body);
    add(c, line, column, r < 0 ? NULL : msg);
}

static void add_at(conf_ctx_t *c, yaml_mark_t mark, const char *fmt, va_list ap)
{
    unsigned line = (unsigned)mark.line + 1, column = (unsigned)mark.column + 1;
    char *p = NULL;
    if (asprintf(&p, "%s:%u:%u: ", c->source, line, column) < 0)
        p = NULL;
    add_v(c, line, column, p, fmt, ap);
}

void conf_error_mark(conf_ctx_t *c, yaml_mark_t mark, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_at(c, mark, fmt, ap);
    va_end(ap);
}

void conf_error_node(conf_ctx_t *c, const yaml_node_t *node, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_at(c, node->start_mark, fmt, ap);
    va_end(ap);
}

void conf_error_env(conf_ctx_t *c, const char *var, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = NULL;
    if (asprintf(&p, "environment variable %s: ", var) < 0)
        p = NULL;
    add_v(c, UINT_MAX, UINT_MAX, p, fmt, ap);
    va_end(ap);
}

void conf_error_file(conf_ctx_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = NULL;
    if (asprintf(&p, "%s: ", c->source) < 0)
        p = NULL;
    add_v(c, 0, 0, p, fmt, ap);
    va_end(ap);
}

static int cmp_error(const void *a, const void *b)
{
    const conf_error_t *x = a, *y = b;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->column != y->column)
        return x->column < y->column ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void conf_errors_finish(conf_ctx_t *c, llg_conf_errors_t *out)
{
    if (c->error_count > 1)
        qsort(c->errors, c->error_count, sizeof(*c->errors), cmp_error);

    if (out == NULL || c->error_count == 0) {
        for (size_t i = 0; i < c->error_count; i++)
            free(c->errors[i].msg);
        free(c->errors);
    } else {
        char **items = realloc(out->items, (out->count + c->error_count) * sizeof(*items));
        if (items == NULL && out->count == 0) {
            /* Out of memory: the messages still reach the caller, in the
             * error array itself (a pointer is smaller than an entry, so
             * entry i is read before slot i is written). */
            items = (char **)(void *)c->errors;
            for (size_t i = 0; i < c->error_count; i++) {
                char *msg = c->errors[i].msg;
                memcpy(&items[i], &msg, sizeof(msg));
            }
            c->errors = NULL;
        }
        if (items != NULL) {
            for (size_t i = 0; c->errors != NULL && i < c->error_count; i++)
                items[out->count + i] = c->errors[i].msg;
            out->items = items;
            out->count += c->error_count;
        } else {
            for (size_t i = 0; i < c->error_count; i++)
                free(c->errors[i].msg);
        }
        free(c->errors);
    }
    c->errors = NULL;
    c->error_count = c->error_cap = 0;
}

void llg_conf_errors_free(llg_conf_errors_t *errs)
{
    if (errs == NULL)
        return;
    for (size_t i = 0; i < errs->count; i++)
        free(errs->items[i]);
    free(errs->items);
    errs->items = NULL;
    errs->count = 0;
}
