/*
 * providers/strbuf.h: a growable byte buffer and the JSON string escaper that
 * every response writer uses, with the small UTF-8 and hex-digit helpers the
 * readers of outside text share. Allocation failure aborts: the process is a
 * worker that the master replaces, and callers stay simple.
 */
#ifndef LLG_STRBUF_H
#define LLG_STRBUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef struct llg_strbuf {
    char *data;
    size_t len;
    size_t cap;
} llg_strbuf_t;

void llg_strbuf_reserve(llg_strbuf_t *b, size_t extra);
void llg_strbuf_append(llg_strbuf_t *b, const void *p, size_t n);
void llg_strbuf_appends(llg_strbuf_t *b, const char *s);
void llg_strbuf_appendf(llg_strbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends `v` in decimal (what appendf's %llu does, without printf's cost on
 * the paths that run per streamed event). */
void llg_strbuf_append_uint(llg_strbuf_t *b, uint64_t v);
/* Appends s as a quoted JSON string. The input must be valid UTF-8 (request
 * bodies are checked on arrival); control characters are escaped. */
void llg_strbuf_append_json_string(llg_strbuf_t *b, const char *s, size_t n);
void llg_strbuf_reset(llg_strbuf_t *b);
void llg_strbuf_free(llg_strbuf_t *b);

/* 1 when [s, s+n) is well-formed UTF-8 (no overlongs, surrogates or values
 * past U+10FFFF). */
int llg_utf8_valid(const char *s, size_t n);

/* The length of the well-formed UTF-8 sequence at s[0] (n > 0 bytes left),
 * or 0 when none starts there. */
size_t llg_utf8_seq(const char *s, size_t n);

/* 1 when [s, s+n) is well-formed UTF-8 without C0 control bytes or DEL:
 * upstream text that may be shown to a client as it is. */
int llg_utf8_printable(const char *s, size_t n);

/* Appends `s` made valid UTF-8: each byte that starts no well-formed sequence
 * becomes U+FFFD. Upstream text and error texts go through this before they
 * are written as JSON strings, so a client never receives invalid JSON text. */
void llg_utf8_append_sanitized(llg_strbuf_t *b, const char *s, size_t n);

/* Appends `s` (NUL-terminated, any bytes) as a quoted JSON string made valid
 * UTF-8 first: error texts quote clients and upstreams, and may be cut
 * mid-character by a formatter. */
void llg_strbuf_append_json_text(llg_strbuf_t *b, const char *s);
/* The same for `n` bytes of any kind (a NUL among them is escaped). */
void llg_strbuf_append_json_bytes(llg_strbuf_t *b, const char *s, size_t n);

/* Writes `prefix` then 24 characters of [A-Za-z0-9] from r1 (the first 12)
 * and r2 (the rest), and a NUL, to `out` (room for strlen(prefix) + 25): the
 * ids of answers (chatcmpl-, msg_, resp_). */
void llg_random_id(char *out, const char *prefix, uint64_t r1, uint64_t r2);

/* The value of the hex digit c (0-9, a-f, A-F), or -1. */
static inline int llg_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

#endif
