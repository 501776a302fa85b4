/*
 * providers/ndjson.c: incremental NDJSON line reader (see ndjson.h). Lines
 * that lie whole inside one fed block are handed over in place; only a line
 * split across blocks is copied.
 */
#include "providers/ndjson.h"

#include <string.h>

void llg_ndjson_init(llg_ndjson_reader_t *r)
{
    memset(r, 0, sizeof(*r));
}

void llg_ndjson_dispose(llg_ndjson_reader_t *r)
{
    llg_strbuf_free(&r->_buf);
}

int llg_ndjson_skippable(const char *line, size_t len)
{
    int hex = 1, blank = 1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)line[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v')
            continue; /* whitespace: neither JSON nor a size line cares */
        blank = 0;
        if (llg_hexval((char)c) < 0)
            hex = 0;
    }
    return blank || hex;
}

static int deliver(const char *line, size_t len, size_t max, llg_ndjson_cb cb, void *ctx)
{
    if (len > 0 && line[len - 1] == '\r')
        len--;
    if (len > max)
        return -1;
    if (llg_ndjson_skippable(line, len))
        return 0;
    return cb(ctx, line, len);
}

int llg_ndjson_feed(llg_ndjson_reader_t *r, const char *p, size_t n, llg_ndjson_cb cb, void *ctx)
{
    size_t max = r->max_line ? r->max_line : (size_t)1 << 20;
    if (r->_failed)
        return -1;
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl != NULL ? (size_t)(nl - p) : n;
        if (r->_buf.len + take > max + 1) { /* +1: a CR before the LF is not part of the line */
            r->_failed = true;
            return -1;
        }
        if (nl == NULL) {
            llg_strbuf_append(&r->_buf, p, n);
            return 0;
        }
        int rc;
        if (r->_buf.len == 0) {
            rc = deliver(p, take, max, cb, ctx);
        } else {
            llg_strbuf_append(&r->_buf, p, take);
            rc = deliver(r->_buf.data, r->_buf.len, max, cb, ctx);
            r->_buf.len = 0;
        }
        if (rc != 0) {
            r->_failed = true;
            return -1;
        }
        p += take + 1;
        n -= take + 1;
    }
    return 0;
}

int llg_ndjson_finish(llg_ndjson_reader_t *r, llg_ndjson_cb cb, void *ctx)
{
    if (r->_failed)
        return -1;
    if (r->_buf.len == 0)
        return 0;
    size_t max = r->max_line ? r->max_line : (size_t)1 << 20;
    int rc = deliver(r->_buf.data, r->_buf.len, max, cb, ctx);
    r->_buf.len = 0;
    if (rc != 0)
        r->_failed = true;
    return rc != 0 ? -1 : 0;
}
