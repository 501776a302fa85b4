/*
 * tests/mock/buf.c: the growable byte buffer of llmgate-mock and the JSON
 * string escaper. Allocation failure aborts: the mock is a test tool.
 */
#include "mock.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mbuf_reserve(struct mbuf *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < extra)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL) {
        fputs("llmgate-mock: out of memory\n", stderr);
        abort();
    }
    b->p = p;
    b->cap = cap;
}

void mbuf_add(struct mbuf *b, const void *s, size_t n)
{
    if (n == 0)
        return;
    mbuf_reserve(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

void mbuf_adds(struct mbuf *b, const char *s)
{
    mbuf_add(b, s, strlen(s));
}

void mbuf_addc(struct mbuf *b, char ch)
{
    mbuf_reserve(b, 1);
    b->p[b->len++] = ch;
}

void mbuf_addu(struct mbuf *b, uint64_t v)
{
    char tmp[24];
    size_t i = sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    mbuf_add(b, tmp + i, sizeof(tmp) - i);
}

void mbuf_addf(struct mbuf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n <= 0)
        return;
    if ((size_t)n < sizeof(tmp)) {
        mbuf_add(b, tmp, (size_t)n);
        return;
    }
    mbuf_reserve(b, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* length of the valid UTF-8 sequence at s (1 to 4), or 0 when invalid */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    unsigned cp = c & (0x3f >> (len - 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

void mbuf_add_json_str(struct mbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    mbuf_reserve(b, n + 2);
    b->p[b->len++] = '"';
    size_t run = 0; /* start of the pending run of plain bytes */
    size_t i = 0;
    while (i < n) {
        unsigned char ch = u[i];
        if (ch >= 0x20 && ch != '"' && ch != '\\' && ch < 0x80) {
            i++;
            continue;
        }
        size_t ulen = ch >= 0x80 ? utf8_len(u + i, n - i) : 0;
        if (ulen > 0) {
            i += ulen;
            continue;
        }
        mbuf_add(b, s + run, i - run);
        switch (ch) {
        case '"':
            mbuf_add(b, "\\\"", 2);
            break;
        case '\\':
            mbuf_add(b, "\\\\", 2);
            break;
        case '\n':
            mbuf_add(b, "\\n", 2);
            break;
        case '\r':
            mbuf_add(b, "\\r", 2);
            break;
        case '\t':
            mbuf_add(b, "\\t", 2);
            break;
        default:
            if (ch < 0x20) {
                char esc[6] = {'\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15]};
                mbuf_add(b, esc, 6);
            } else {
                mbuf_add(b, "\\ufffd", 6);
            }
        }
        i++;
        run = i;
    }
    mbuf_add(b, s + run, n - run);
    mbuf_addc(b, '"');
}

void mbuf_free(struct mbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

void mbuf_trim(struct mbuf *b, size_t keep)
{
    if (b->cap > keep && b->len == 0)
        mbuf_free(b);
}
