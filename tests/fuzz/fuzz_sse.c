/*
 * tests/fuzz/fuzz_sse.c: the SSE reader on arbitrary bytes cut in two
 * deliveries: no crash, and the raw bytes of the events plus what is pending
 * always equal the input (a relay loses nothing), whatever the cut.
 */
#include "providers/sse.h"
#include "tests/fuzz/fuzz.h"

typedef struct seen {
    llg_strbuf_t raw;
    llg_strbuf_t summary;
} seen_t;

static int on_event(void *ctx, const llg_sse_event_t *ev)
{
    seen_t *s = ctx;
    FUZZ_ASSERT(ev->data[ev->data_len] == '\0');
    llg_strbuf_append(&s->raw, ev->raw, ev->raw_len);
    llg_strbuf_append(&s->summary, ev->name, ev->name_len);
    llg_strbuf_append(&s->summary, "|", 1);
    llg_strbuf_append(&s->summary, ev->data, ev->data_len);
    llg_strbuf_appendf(&s->summary, "|%d%d\n", ev->comment, ev->has_data);
    return 0;
}

static int run(const uint8_t *data, size_t size, size_t cut, size_t max_event, seen_t *s, size_t *pending)
{
    llg_sse_reader_t r;
    llg_sse_init(&r);
    r.max_event = max_event;
    int rc = llg_sse_feed(&r, (const char *)data, cut, on_event, s);
    if (rc == 0)
        rc = llg_sse_feed(&r, (const char *)data + cut, size - cut, on_event, s);
    *pending = llg_sse_pending(&r);
    llg_sse_dispose(&r);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t cut = fuzz_cut(data, size);
    size_t max_event = size % 3 == 0 ? 64 : 0;
    seen_t whole = {0}, split = {0};
    size_t pw, ps;
    int rw = run(data, size, size, max_event, &whole, &pw);
    int rs = run(data, size, cut, max_event, &split, &ps);
    if (rw == 0 && rs == 0) {
        FUZZ_ASSERT(whole.raw.len + pw == size);
        FUZZ_ASSERT(whole.raw.len == 0 || memcmp(whole.raw.data, data, whole.raw.len) == 0);
        FUZZ_ASSERT(split.raw.len + ps == size);
        FUZZ_ASSERT(whole.summary.len == split.summary.len);
        FUZZ_ASSERT(whole.summary.len == 0 || memcmp(whole.summary.data, split.summary.data, whole.summary.len) == 0);
    }
    llg_strbuf_free(&whole.raw);
    llg_strbuf_free(&whole.summary);
    llg_strbuf_free(&split.raw);
    llg_strbuf_free(&split.summary);
    return 0;
}
