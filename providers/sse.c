/*
 * providers/sse.c: incremental SSE reader (see sse.h).
 */
#include "providers/sse.h"

#include <string.h>

void llg_sse_init(llg_sse_reader_t *r)
{
    memset(r, 0, sizeof(*r));
}

void llg_sse_dispose(llg_sse_reader_t *r)
{
    llg_strbuf_free(&r->_raw);
    llg_strbuf_free(&r->_data);
    llg_strbuf_free(&r->_name);
}

static void reset_event(llg_sse_reader_t *r)
{
    r->_raw.len = 0;
    r->_data.len = 0;
    r->_name.len = 0;
    r->_line_start = 0;
    r->_scanned = 0;
    r->_has_data = false;
    r->_has_field = false;
    r->_has_line = false;
}

/* One complete line (without its terminator) of the current event. */
static void take_line(llg_sse_reader_t *r, const char *line, size_t len)
{
    if (len > 0 && line[0] == ':')
        return; /* comment */
    const char *colon = memchr(line, ':', len);
    size_t flen = colon != NULL ? (size_t)(colon - line) : len;
    const char *value = colon != NULL ? colon + 1 : line + len;
    size_t vlen = len - (size_t)(value - line);
    if (vlen > 0 && value[0] == ' ') {
        value++;
        vlen--;
    }
    r->_has_field = true;
    if (flen == 4 && memcmp(line, "data", 4) == 0) {
        if (r->_has_data)
            llg_strbuf_append(&r->_data, "\n", 1);
        llg_strbuf_append(&r->_data, value, vlen);
        r->_has_data = true;
    } else if (flen == 5 && memcmp(line, "event", 5) == 0) {
        r->_name.len = 0;
        llg_strbuf_append(&r->_name, value, vlen);
    }
}

static int dispatch(llg_sse_reader_t *r, llg_sse_cb cb, void *ctx)
{
    llg_sse_event_t ev;
    llg_strbuf_append(&r->_data, "", 0); /* NUL-terminate even when empty */
    llg_strbuf_append(&r->_name, "", 0);
    ev.name = r->_name.data;
    ev.name_len = r->_name.len;
    ev.data = r->_data.data;
    ev.data_len = r->_data.len;
    ev.has_data = r->_has_data;
    ev.comment = !r->_has_field;
    ev.raw = r->_raw.data;
    ev.raw_len = r->_raw.len;
    int rc = cb(ctx, &ev);
    reset_event(r);
    return rc;
}

/* A complete line ended at r->_raw.len - 1 (its terminator). Returns 1 when
 * it was the blank line that ends an event, else 0. */
static int end_line(llg_sse_reader_t *r)
{
    size_t line_len = r->_raw.len - 1 - r->_line_start;
    if (line_len != 0) {
        take_line(r, r->_raw.data + r->_line_start, line_len);
        r->_has_line = true;
    } else if (r->_has_line) {
        return 1;
    }
    /* a blank line before any line of an event starts nothing */
    r->_line_start = r->_raw.len;
    return 0;
}

int llg_sse_feed(llg_sse_reader_t *r, const char *p, size_t n, llg_sse_cb cb, void *ctx)
{
    size_t max = r->max_event ? r->max_event : (size_t)1 << 20;
    size_t i = 0;
    while (i < n) {
        if (r->_cr) {
            r->_cr = false;
            if (p[i] == '\n') {
                /* the LF of a CRLF whose CR already ended the line; its byte stays
                 * in the raw stream (the next event's) so a relay loses nothing */
                llg_strbuf_append(&r->_raw, "\n", 1);
                r->_line_start = r->_raw.len;
                i++;
                continue;
            }
        }
        /* the run up to the next line end is copied at once (memchr: a
         * byte loop here was a tenth of the CPU of a relayed chunk) */
        const char *lf = memchr(p + i, '\n', n - i);
        size_t lim = lf != NULL ? (size_t)(lf - p) : n;
        const char *cr = memchr(p + i, '\r', lim - i);
        size_t j = cr != NULL ? (size_t)(cr - p) : lim;
        if (j == n) {
            llg_strbuf_append(&r->_raw, p + i, n - i);
            return r->_raw.len > max ? -1 : 0;
        }
        char c = p[j];
        llg_strbuf_append(&r->_raw, p + i, j + 1 - i);
        if (r->_raw.len > max)
            return -1;
        i = j + 1;
        r->_cr = c == '\r';
        if (!end_line(r))
            continue;
        /* the LF of a CRLF ending the event belongs to it when it is already
         * here; only one split exactly between CR and LF leaves it to the
         * next event's bytes */
        if (c == '\r' && i < n && p[i] == '\n') {
            llg_strbuf_append(&r->_raw, "\n", 1);
            r->_cr = false;
            i++;
        }
        if (dispatch(r, cb, ctx) != 0)
            return -1;
    }
    return 0;
}

size_t llg_sse_pending(const llg_sse_reader_t *r)
{
    return r->_raw.len;
}

const char *llg_sse_pending_bytes(const llg_sse_reader_t *r)
{
    return r->_raw.data != NULL ? r->_raw.data : "";
}

bool llg_sse_pending_event(const llg_sse_reader_t *r)
{
    for (size_t i = 0; i < r->_raw.len; i++)
        if (r->_raw.data[i] != '\r' && r->_raw.data[i] != '\n')
            return true;
    return false;
}
