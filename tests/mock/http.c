/*
 * tests/mock/http.c: HTTP/1.1 request parsing for llmgate-mock (request line,
 * headers, Content-Length and chunked bodies, keep-alive and Expect rules) and
 * small helpers for response heads (reason phrases, a cached Date header).
 * Offsets are kept relative to the request's start so that the read buffer
 * may move while a request is parsed.
 */
#include "mock.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static bool has_token(const char *v, size_t n, const char *tok)
{
    size_t tl = strlen(tok);
    for (size_t i = 0; i + tl <= n; i++) {
        if (strncasecmp(v + i, tok, tl) == 0 && (i == 0 || v[i - 1] == ',' || v[i - 1] == ' ') &&
            (i + tl == n || v[i + tl] == ',' || v[i + tl] == ' ' || v[i + tl] == ';'))
            return true;
    }
    return false;
}

int mock_http_parse_head(struct mock_req *r, const char *p, size_t len)
{
    /* find the blank line that ends the head */
    size_t end = 0;
    const char *nl = p;
    for (;;) {
        nl = memchr(nl, '\n', len - (size_t)(nl - p));
        if (nl == NULL)
            return len > MOCK_MAX_HEAD ? -431 : 0;
        size_t i = (size_t)(nl - p) + 1;
        if (i < len && p[i] == '\n') {
            end = i + 1;
            break;
        }
        if (i + 1 < len && p[i] == '\r' && p[i + 1] == '\n') {
            end = i + 2;
            break;
        }
        if (i >= len)
            return len > MOCK_MAX_HEAD ? -431 : 0;
        nl = p + i;
    }
    if (end > MOCK_MAX_HEAD)
        return -431;

    memset(r, 0, offsetof(struct mock_req, hdrs));
    r->head_len = end;
    size_t i = 0;
    while (i < end && (p[i] == '\r' || p[i] == '\n'))
        i++;
    /* request line */
    size_t s = i;
    while (i < end && p[i] != ' ' && p[i] != '\r' && p[i] != '\n')
        i++;
    if (i == s || i >= end || p[i] != ' ')
        return -400;
    r->method = (uint32_t)s;
    r->method_len = (uint32_t)(i - s);
    s = ++i;
    while (i < end && p[i] != ' ' && p[i] != '\r' && p[i] != '\n')
        i++;
    if (i == s || i >= end || p[i] != ' ')
        return -400;
    r->target = (uint32_t)s;
    r->target_len = (uint32_t)(i - s);
    i++;
    if (end - i < 9 || memcmp(p + i, "HTTP/1.", 7) != 0 || (p[i + 7] != '0' && p[i + 7] != '1'))
        return -400;
    r->minor = p[i + 7] - '0';
    i += 8;
    if (p[i] == '\r')
        i++;
    if (p[i] != '\n')
        return -400;
    i++;

    bool have_len = false, conn_close = false, conn_keep = false;
    while (i < end) {
        size_t ls = i;
        const char *e = memchr(p + i, '\n', end - i);
        size_t le = (size_t)(e - p);
        size_t lend = le > ls && p[le - 1] == '\r' ? le - 1 : le;
        i = le + 1;
        if (lend == ls)
            break; /* the blank line */
        const char *colon = memchr(p + ls, ':', lend - ls);
        if (colon == NULL || colon == p + ls)
            return -400;
        if (r->nhdrs == MOCK_MAX_HEADERS)
            return -431;
        size_t ne = (size_t)(colon - p);
        if (p[ne - 1] == ' ' || p[ne - 1] == '\t')
            return -400;
        size_t vs = ne + 1, ve = lend;
        while (vs < ve && (p[vs] == ' ' || p[vs] == '\t'))
            vs++;
        while (ve > vs && (p[ve - 1] == ' ' || p[ve - 1] == '\t'))
            ve--;
        struct mock_hdr *h = &r->hdrs[r->nhdrs++];
        h->name = (uint32_t)ls;
        h->name_len = (uint32_t)(ne - ls);
        h->val = (uint32_t)vs;
        h->val_len = (uint32_t)(ve - vs);
        const char *name = p + ls, *val = p + vs;
        size_t nlen = ne - ls, vlen = ve - vs;
        if (nlen == 14 && strncasecmp(name, "content-length", 14) == 0) {
            size_t v = 0;
            if (vlen == 0)
                return -400;
            for (size_t k = 0; k < vlen; k++) {
                if (val[k] < '0' || val[k] > '9')
                    return -400;
                v = v * 10 + (size_t)(val[k] - '0');
                if (v > MOCK_MAX_BODY)
                    return -413;
            }
            if (have_len && v != r->body_len)
                return -400;
            have_len = true;
            r->body_len = v;
        } else if (nlen == 17 && strncasecmp(name, "transfer-encoding", 17) == 0) {
            if (!has_token(val, vlen, "chunked"))
                return -501;
            r->chunked = true;
        } else if (nlen == 10 && strncasecmp(name, "connection", 10) == 0) {
            conn_close |= has_token(val, vlen, "close");
            conn_keep |= has_token(val, vlen, "keep-alive");
        } else if (nlen == 6 && strncasecmp(name, "expect", 6) == 0) {
            r->expect_continue = vlen == 12 && strncasecmp(val, "100-continue", 12) == 0;
        }
    }
    if (r->chunked)
        r->body_len = 0;
    r->keep_alive = r->minor == 1 ? !conn_close : conn_keep && !conn_close;
    return 1;
}

/* walks a chunked body from off; returns 1 and the decoded length when it is
 * complete (decoding in place when dec), 0 when incomplete, -400 when bad */
static int chunked_walk(char *p, size_t len, size_t off, bool dec, size_t *out_len, size_t *raw_end)
{
    size_t i = off, w = off;
    for (;;) {
        size_t sz = 0, digits = 0;
        while (i < len) {
            char ch = p[i];
            unsigned d;
            if (ch >= '0' && ch <= '9')
                d = (unsigned)(ch - '0');
            else if (ch >= 'a' && ch <= 'f')
                d = (unsigned)(ch - 'a' + 10);
            else if (ch >= 'A' && ch <= 'F')
                d = (unsigned)(ch - 'A' + 10);
            else
                break;
            sz = sz * 16 + d;
            if (++digits > 8 || sz > MOCK_MAX_BODY)
                return -413;
            i++;
        }
        if (i >= len)
            return 0;
        if (digits == 0)
            return -400;
        const char *e = memchr(p + i, '\n', len - i); /* skip extensions */
        if (e == NULL)
            return len - i > 4096 ? -400 : 0;
        i = (size_t)(e - p) + 1;
        if (sz == 0) {
            /* trailers until a blank line */
            for (;;) {
                if (i >= len)
                    return 0;
                if (p[i] == '\n') {
                    i++;
                    break;
                }
                if (p[i] == '\r') {
                    if (i + 1 >= len)
                        return 0;
                    if (p[i + 1] == '\n') {
                        i += 2;
                        break;
                    }
                }
                e = memchr(p + i, '\n', len - i);
                if (e == NULL)
                    return 0;
                i = (size_t)(e - p) + 1;
            }
            *out_len = w - off;
            *raw_end = i;
            return 1;
        }
        if (len - i < sz + 1)
            return 0;
        if (dec)
            memmove(p + w, p + i, sz);
        w += sz;
        i += sz;
        if (p[i] == '\r') {
            if (i + 1 >= len)
                return 0;
            i++;
        }
        if (p[i] != '\n')
            return -400;
        i++;
        if (w - off > MOCK_MAX_BODY)
            return -413;
    }
}

int mock_http_body(struct mock_req *r, char *p, size_t len)
{
    if (r->body_done)
        return 1;
    if (!r->chunked) {
        if (len - r->head_len < r->body_len)
            return 0;
        r->raw_len = r->head_len + r->body_len;
        r->body_done = true;
        return 1;
    }
    size_t dlen, raw_end;
    int rc = chunked_walk(p, len, r->head_len, false, &dlen, &raw_end);
    if (rc != 1)
        return rc;
    chunked_walk(p, len, r->head_len, true, &dlen, &raw_end);
    r->body_len = dlen;
    r->raw_len = raw_end;
    r->body_done = true;
    return 1;
}

const char *mock_http_header(const struct mock_req *r, const char *base, const char *name, size_t *vlen)
{
    size_t nl = strlen(name);
    for (unsigned i = 0; i < r->nhdrs; i++) {
        const struct mock_hdr *h = &r->hdrs[i];
        if (h->name_len == nl && strncasecmp(base + h->name, name, nl) == 0) {
            *vlen = h->val_len;
            return base + h->val;
        }
    }
    return NULL;
}

const char *mock_http_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 402:
        return "Payment Required";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 529:
        return "Site is overloaded";
    default:
        return status < 500 ? "Client Error" : "Server Error";
    }
}

void mock_http_date_fmt(char *out, size_t cap, int64_t epoch)
{
    time_t t = (time_t)epoch;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, cap, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

const char *mock_http_date(void)
{
    static char line[64];
    static time_t last = -1;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    if (ts.tv_sec != last) {
        char d[40];
        mock_http_date_fmt(d, sizeof(d), ts.tv_sec);
        snprintf(line, sizeof(line), "Date: %s\r\n", d);
        last = ts.tv_sec;
    }
    return line;
}
