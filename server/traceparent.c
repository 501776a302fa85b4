/*
 * server/traceparent.c: reads and writes the W3C Trace Context headers
 * (https://www.w3.org/TR/trace-context/). Strict on what it takes, since an
 * accepted value is passed on to the upstream: only lowercase hex, the fixed
 * layout, no all-zero ids.
 */
#include "server/traceparent.h"

static int hexval(char c)
{
    /* uppercase is invalid in traceparent (the spec: lowercase only) */
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* n bytes from 2n hex digits; false on a non-hex byte */
static bool unhex(const char *s, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

static bool all_zero(const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0)
            return false;
    return true;
}

bool llg_traceparent_parse(const char *s, size_t len, llg_traceparent_t *out)
{
    if (s == NULL || len < LLG_TRACEPARENT_LEN)
        return false;
    uint8_t version;
    if (!unhex(s, &version, 1) || version == 0xff)
        return false;
    /* version 00 is exactly 55 bytes; a later one may carry more after a '-' */
    if (version == 0 ? len != LLG_TRACEPARENT_LEN : len > LLG_TRACEPARENT_LEN && s[LLG_TRACEPARENT_LEN] != '-')
        return false;
    if (s[2] != '-' || s[35] != '-' || s[52] != '-')
        return false;
    llg_traceparent_t tp;
    if (!unhex(s + 3, tp.trace_id, 16) || !unhex(s + 36, tp.parent_id, 8) || !unhex(s + 53, &tp.flags, 1))
        return false;
    if (all_zero(tp.trace_id, 16) || all_zero(tp.parent_id, 8))
        return false;
    *out = tp;
    return true;
}

bool llg_tracestate_valid(const char *s, size_t len)
{
    if (s == NULL || len == 0 || len > LLG_TRACESTATE_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            return false;
    return true;
}

void llg_trace_hex(char *out, const uint8_t *bytes, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

void llg_traceparent_format(char out[LLG_TRACEPARENT_LEN + 1], const uint8_t trace_id[16], const uint8_t span_id[8], uint8_t flags)
{
    out[0] = '0';
    out[1] = '0';
    out[2] = '-';
    llg_trace_hex(out + 3, trace_id, 16);
    out[35] = '-';
    llg_trace_hex(out + 36, span_id, 8);
    out[52] = '-';
    llg_trace_hex(out + 53, &flags, 1);
}
