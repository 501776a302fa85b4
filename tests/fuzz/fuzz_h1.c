/*
 * tests/fuzz/fuzz_h1.c: the upstream HTTP/1.1 response reader
 * (server/h1_parse.c) on arbitrary bytes: the head is reported only once
 * whole, at the same length for every longer prefix, with a status in range
 * and fields inside the buffer; the chunked body decodes to the same bytes
 * and ends at the same place whether it arrives whole or cut in two, and
 * never yields more bytes than it read.
 */
#include "server/h1_parse.h"
#include "tests/fuzz/fuzz.h"

typedef struct span {
    const char *lo, *hi;
    size_t fields;
} span_t;

static void on_field(void *ud, const char *name, size_t nlen, const char *value, size_t vlen)
{
    span_t *s = ud;
    FUZZ_ASSERT(nlen > 0 && name >= s->lo && name + nlen <= s->hi);
    FUZZ_ASSERT(value >= s->lo && value + vlen <= s->hi);
    FUZZ_ASSERT(memchr(value, '\n', vlen) == NULL);
    s->fields++;
}

/* Decodes buf[0..len) delivered in two parts cut at `cut`; rc of the last call. */
static int dechunk(const uint8_t *data, size_t len, size_t cut, llg_strbuf_t *out, size_t *end)
{
    llg_h1_chunked_t d;
    memset(&d, 0, sizeof(d));
    char *buf = malloc(len + 1);
    size_t parts[2] = {cut, len - cut}, pos = 0;
    int rc = 0;
    for (int i = 0; i < 2 && rc == 0; i++) {
        memcpy(buf, data + pos, parts[i]);
        size_t o, used;
        rc = llg_h1_chunked_decode(&d, buf, parts[i], &o, &used);
        FUZZ_ASSERT(used <= parts[i] && o <= used);
        FUZZ_ASSERT(rc != 0 || used == parts[i]);
        llg_strbuf_append(out, buf, o);
        pos += used;
    }
    free(buf);
    *end = pos;
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    size_t cut = fuzz_cut(data, size);
    span_t s = {p, p + size, 0};
    llg_h1_head_t h;
    ssize_t r = llg_h1_parse_head(p, size, &h, on_field, &s);
    FUZZ_ASSERT(r >= -1 && r <= (ssize_t)size);
    if (r > 0) {
        FUZZ_ASSERT(h.status >= 100 && h.status <= 999);
        FUZZ_ASSERT(h.framing != LLG_H1_BODY_CLOSE || !h.keep_alive);
        /* a shorter prefix is incomplete; a longer one gives the same head */
        llg_h1_head_t h2;
        span_t s2 = {p, p + size, 0};
        if ((size_t)r > 0 && cut < (size_t)r)
            FUZZ_ASSERT(llg_h1_parse_head(p, cut, &h2, on_field, &s2) == 0 && s2.fields == 0);
        FUZZ_ASSERT(llg_h1_parse_head(p, (size_t)r, &h2, on_field, &s2) == r);
        FUZZ_ASSERT(h2.status == h.status && h2.framing == h.framing && h2.content_length == h.content_length &&
                    h2.keep_alive == h.keep_alive && s2.fields == s.fields);
    }
    /* the whole input as a chunked body, whole and cut */
    llg_strbuf_t whole = {0}, split = {0};
    size_t end_w, end_s;
    int rw = dechunk(data, size, size, &whole, &end_w);
    int rs = dechunk(data, size, cut, &split, &end_s);
    FUZZ_ASSERT(rw == rs);
    if (rw >= 0) {
        FUZZ_ASSERT(whole.len == split.len && (whole.len == 0 || memcmp(whole.data, split.data, whole.len) == 0));
        FUZZ_ASSERT(end_w == end_s);
    }
    llg_strbuf_free(&whole);
    llg_strbuf_free(&split);
    return 0;
}
