/*
 * providers/strbuf.c: growable buffer, JSON string escaping, UTF-8 validation.
 */
#include "providers/strbuf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void llg_strbuf_reserve(llg_strbuf_t *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (p == NULL)
        abort();
    b->data = p;
    b->cap = cap;
}

void llg_strbuf_append(llg_strbuf_t *b, const void *p, size_t n)
{
    llg_strbuf_reserve(b, n);
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void llg_strbuf_appends(llg_strbuf_t *b, const char *s)
{
    llg_strbuf_append(b, s, strlen(s));
}

void llg_strbuf_append_uint(llg_strbuf_t *b, uint64_t v)
{
    char digits[20];
    size_t n = 0;
    do {
        digits[sizeof(digits) - ++n] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    llg_strbuf_append(b, digits + sizeof(digits) - n, n);
}

void llg_strbuf_appendf(llg_strbuf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(tmp)) {
        llg_strbuf_append(b, tmp, (size_t)n);
        return;
    }
    llg_strbuf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void llg_strbuf_append_json_string(llg_strbuf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    llg_strbuf_reserve(b, n + 2);
    b->data[b->len++] = '"';
    size_t run = 0; /* start of the pending run of bytes that need no escape */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        llg_strbuf_append(b, s + run, i - run);
        run = i + 1;
        char esc[6] = {'\\', 0};
        size_t elen = 2;
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            elen = 6;
        }
        llg_strbuf_append(b, esc, elen);
    }
    llg_strbuf_append(b, s + run, n - run);
    llg_strbuf_append(b, "\"", 1);
}

void llg_strbuf_reset(llg_strbuf_t *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

void llg_strbuf_free(llg_strbuf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

size_t llg_utf8_seq(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    unsigned char c = s[0];
    size_t need;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        need = 1;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 2;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 3;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (need >= n)
        return 0;
    for (size_t k = 1; k <= need; k++) {
        if ((s[k] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[k] & 0x3f);
    }
    if ((need == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (need == 3 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return need + 1;
}

int llg_utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        /* fast path over ASCII, eight bytes at a time */
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080ull)
                break;
            i += 8;
        }
        if (i >= n)
            break;
        size_t k = llg_utf8_seq(str + i, n - i);
        if (k == 0)
            return 0;
        i += k;
    }
    return 1;
}

void llg_utf8_append_sanitized(llg_strbuf_t *b, const char *s, size_t n)
{
    if (llg_utf8_valid(s, n)) {
        llg_strbuf_append(b, s, n);
        return;
    }
    size_t i = 0;
    while (i < n) {
        size_t k = llg_utf8_seq(s + i, n - i);
        if (k == 0) {
            llg_strbuf_append(b, "\xef\xbf\xbd", 3);
            i++;
        } else {
            llg_strbuf_append(b, s + i, k);
            i += k;
        }
    }
}

int llg_utf8_printable(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return llg_utf8_valid(s, n);
}

void llg_strbuf_append_json_text(llg_strbuf_t *b, const char *s)
{
    llg_strbuf_append_json_bytes(b, s, strlen(s));
}

void llg_strbuf_append_json_bytes(llg_strbuf_t *b, const char *s, size_t n)
{
    if (llg_utf8_valid(s, n)) {
        llg_strbuf_append_json_string(b, s, n);
        return;
    }
    llg_strbuf_t clean = {0};
    llg_utf8_append_sanitized(&clean, s, n);
    llg_strbuf_append_json_string(b, clean.data, clean.len);
    llg_strbuf_free(&clean);
}

void llg_random_id(char *out, const char *prefix, uint64_t r1, uint64_t r2)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    size_t p = strlen(prefix);
    memcpy(out, prefix, p);
    for (int i = 0; i < 24; i++) {
        uint64_t *r = i < 12 ? &r1 : &r2;
        out[p + i] = alphabet[*r % 62];
        *r /= 62;
    }
    out[p + 24] = '\0';
}
