/*
 * server/h1_parse.c: the HTTP/1.1 response head, body framing and chunked
 * decoder (see h1_parse.h). Line ends may be CRLF or a bare LF, as every
 * client accepts; everything else follows RFC 9112 strictly, because a
 * mis-framed body would mix one response into the next on a reused
 * connection.
 */
#include "server/h1_parse.h"

#include <string.h>

#include "providers/strbuf.h"

/* RFC 9110 token characters (tchar), by byte value; none at or above 128 */
static const unsigned char tchar[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1,
    1, 0, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0,
};

/* Whether v[0..n) holds a control byte other than HTAB (or DEL): eight bytes
 * at a time, since field values are most of a head's bytes. The word tests
 * are exact as "any byte below 0x20 / equal to 0x7f" (RFC 9110 field-vchar
 * allows obs-text, bytes >= 0x80). */
static bool has_ctl(const char *v, size_t n)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x, y;
        memcpy(&x, v + i, 8);
        y = x ^ (0x7f * ones);
        if ((((x - 0x20 * ones) & ~x) | ((y - ones) & ~y)) & highs) {
            for (size_t k = i; k < i + 8; k++)
                if (((unsigned char)v[k] < 0x20 && v[k] != '\t') || v[k] == 0x7f)
                    return true;
        }
    }
    for (; i < n; i++)
        if (((unsigned char)v[i] < 0x20 && v[i] != '\t') || v[i] == 0x7f)
            return true;
    return false;
}

static bool ieq(const char *a, size_t alen, const char *lit)
{
    size_t n = strlen(lit);
    if (alen != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = a[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != lit[i])
            return false;
    }
    return true;
}

/* Whether the comma-separated list v contains the token `tok`; *last says
 * whether it is the last element. */
static bool list_has(const char *v, size_t n, const char *tok, bool *last)
{
    bool found = false;
    size_t i = 0;
    if (last != NULL)
        *last = false;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < n && v[i] != ',')
            i++;
        size_t e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (e == s)
            continue;
        bool is = ieq(v + s, e - s, tok);
        found = found || is;
        if (last != NULL)
            *last = is;
    }
    return found;
}

/* Content-Length: digits, or a list of identical digit strings ("5, 5");
 * anything else is -1. */
static int parse_length(const char *v, size_t n, uint64_t *out)
{
    bool any = false;
    uint64_t first = 0;
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t'))
            i++;
        uint64_t x = 0;
        size_t digits = 0;
        while (i < n && v[i] >= '0' && v[i] <= '9') {
            if (++digits > 18)
                return -1;
            x = x * 10 + (uint64_t)(v[i++] - '0');
        }
        while (i < n && (v[i] == ' ' || v[i] == '\t'))
            i++;
        if (digits == 0 || (i < n && v[i] != ','))
            return -1;
        if (i < n)
            i++; /* the comma */
        if (any && x != first)
            return -1;
        first = x;
        any = true;
    }
    if (!any)
        return -1;
    *out = first;
    return 0;
}

/* The end of the line starting at p (the LF), or NULL. */
static const char *line_end(const char *p, const char *end)
{
    return memchr(p, '\n', (size_t)(end - p));
}

ssize_t llg_h1_parse_head(const char *buf, size_t len, llg_h1_head_t *head, llg_h1_header_cb on_header, void *ud)
{
    const char *p = buf, *end = buf + (len < LLG_H1_HEAD_MAX ? len : LLG_H1_HEAD_MAX);
    /* find the empty line first: headers are reported only for a whole head */
    const char *stop = NULL;
    for (const char *q = p; q < end;) {
        const char *lf = line_end(q, end);
        if (lf == NULL)
            break;
        if (lf == q || (lf == q + 1 && *q == '\r')) {
            stop = lf + 1;
            break;
        }
        q = lf + 1;
    }
    if (stop == NULL)
        return len >= LLG_H1_HEAD_MAX ? -1 : 0;

    /* status line: HTTP/1.x SP 3DIGIT [SP reason] */
    const char *lf = line_end(p, stop);
    const char *le = lf > p && lf[-1] == '\r' ? lf - 1 : lf;
    if (le - p < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[7] < '0' || p[7] > '9' || p[8] != ' ')
        return -1;
    head->minor_version = p[7] - '0';
    if (p[9] < '1' || p[9] > '9' || p[10] < '0' || p[10] > '9' || p[11] < '0' || p[11] > '9' || (le - p > 12 && p[12] != ' '))
        return -1;
    head->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    for (const char *c = p + 12; c < le; c++)
        if ((unsigned char)*c < 0x20 && *c != '\t')
            return -1;

    bool chunked = false, has_te = false, has_length = false, conn_close = false, conn_keep = false;
    uint64_t length = 0;
    for (p = lf + 1; p < stop;) {
        lf = line_end(p, stop);
        le = lf > p && lf[-1] == '\r' ? lf - 1 : lf;
        if (le == p)
            break; /* the empty line */
        if (*p == ' ' || *p == '\t') {
            /* obs-fold: a continuation of the previous field, which no
             * field this parser interprets may use */
            p = lf + 1;
            continue;
        }
        /* stops at the line's LF at the latest: LF is no tchar */
        const char *colon = p;
        while (tchar[(unsigned char)*colon])
            colon++;
        if (colon == p || colon == le || *colon != ':')
            return -1;
        const char *v = colon + 1, *ve = le;
        if (has_ctl(v, (size_t)(ve - v)))
            return -1;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        size_t nlen = (size_t)(colon - p), vlen = (size_t)(ve - v);
        if (ieq(p, nlen, "content-length")) {
            uint64_t x;
            if (parse_length(v, vlen, &x) != 0 || (has_length && x != length))
                return -1;
            has_length = true;
            length = x;
        } else if (ieq(p, nlen, "transfer-encoding")) {
            bool last;
            has_te = true;
            list_has(v, vlen, "chunked", &last);
            chunked = last; /* chunked only counts as the final coding */
        } else if (ieq(p, nlen, "connection")) {
            conn_close = conn_close || list_has(v, vlen, "close", NULL);
            conn_keep = conn_keep || list_has(v, vlen, "keep-alive", NULL);
        }
        if (on_header != NULL)
            on_header(ud, p, nlen, v, vlen);
        p = lf + 1;
    }

    head->content_length = 0;
    head->keep_alive = head->minor_version >= 1 ? !conn_close : conn_keep && !conn_close;
    if ((head->status >= 100 && head->status < 200) || head->status == 204 || head->status == 304) {
        head->framing = LLG_H1_BODY_NONE;
    } else if (has_te) {
        /* Transfer-Encoding overrides Content-Length (RFC 9112 6.3); a
         * coding other than chunked last leaves only the close to end it */
        head->framing = chunked ? LLG_H1_BODY_CHUNKED : LLG_H1_BODY_CLOSE;
        if (!chunked || has_length)
            head->keep_alive = false;
    } else if (has_length) {
        head->framing = LLG_H1_BODY_LENGTH;
        head->content_length = length;
    } else {
        head->framing = LLG_H1_BODY_CLOSE;
        head->keep_alive = false;
    }
    return stop - buf;
}

enum {
    CH_SIZE = 0, /* hex digits of a chunk size (the zeroed state) */
    CH_EXT,      /* after the size: whitespace or an extension, to the LF */
    CH_DATA,
    CH_DATA_END,  /* the CRLF after a chunk's data: CR or LF */
    CH_DATA_LF,   /* after that CR: LF */
    CH_TRAILER,   /* at the start of a trailer line (or the final empty line) */
    CH_TRAILER_X, /* in a trailer field line, to its LF */
    CH_LAST_LF,   /* the CR of the final empty line was read: LF */
    CH_DONE,
};

#define TRAILER_MAX (64 * 1024)

int llg_h1_chunked_decode(llg_h1_chunked_t *d, char *buf, size_t len, size_t *out, size_t *consumed)
{
    size_t i = 0, o = 0;
    int rc = 0;
    while (i < len) {
        char c = buf[i];
        switch (d->_state) {
        case CH_SIZE: {
            int h = llg_hexval(c);
            if (h >= 0) {
                if (++d->_digits > 15) {
                    rc = -1;
                    goto Exit;
                }
                d->_left = d->_left * 16 + (uint64_t)h;
                i++;
                break;
            }
            if (d->_digits == 0 || (c != ';' && c != ' ' && c != '\t' && c != '\r' && c != '\n')) {
                rc = -1;
                goto Exit;
            }
            d->_state = CH_EXT;
            break; /* the same byte again, in CH_EXT */
        }
        case CH_EXT:
            if (c == '\n') {
                i++;
                d->_digits = 0;
                d->_state = d->_left > 0 ? CH_DATA : CH_TRAILER;
                break;
            }
            /* extensions are ignored, but not control bytes other than CR/TAB */
            if (((unsigned char)c < 0x20 && c != '\r' && c != '\t') || c == 0x7f) {
                rc = -1;
                goto Exit;
            }
            i++;
            break;
        case CH_DATA: {
            size_t n = len - i;
            if (n > d->_left)
                n = (size_t)d->_left;
            if (o != i)
                memmove(buf + o, buf + i, n);
            o += n;
            i += n;
            d->_left -= n;
            if (d->_left == 0)
                d->_state = CH_DATA_END;
            break;
        }
        case CH_DATA_END:
            i++;
            if (c == '\n')
                d->_state = CH_SIZE;
            else if (c == '\r')
                d->_state = CH_DATA_LF;
            else
                rc = -1;
            if (rc != 0)
                goto Exit;
            break;
        case CH_DATA_LF:
        case CH_LAST_LF:
            i++;
            if (c != '\n') {
                rc = -1;
                goto Exit;
            }
            if (d->_state == CH_LAST_LF) {
                d->_state = CH_DONE;
                rc = 1;
                goto Exit;
            }
            d->_state = CH_SIZE;
            break;
        case CH_TRAILER:
            i++;
            if (c == '\n') {
                d->_state = CH_DONE;
                rc = 1;
                goto Exit;
            }
            d->_state = c == '\r' ? CH_LAST_LF : CH_TRAILER_X;
            if (++d->_trailer > TRAILER_MAX) {
                rc = -1;
                goto Exit;
            }
            break;
        case CH_TRAILER_X:
            i++;
            if (++d->_trailer > TRAILER_MAX) {
                rc = -1;
                goto Exit;
            }
            if (c == '\n')
                d->_state = CH_TRAILER;
            break;
        default: /* CH_DONE: nothing more belongs to this body */
            rc = 1;
            goto Exit;
        }
    }
Exit:
    *out = o;
    *consumed = i;
    return rc;
}
