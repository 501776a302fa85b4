/*
 * tests/fuzz/fuzz_ndjson.c: the NDJSON reader on arbitrary bytes cut in two
 * deliveries: no crash, every line handed over has no LF and
 * carries something, and the lines do not depend on the cut.
 */
#include "providers/ndjson.h"
#include "tests/fuzz/fuzz.h"

static int on_line(void *ctx, const char *line, size_t len)
{
    llg_strbuf_t *b = ctx;
    FUZZ_ASSERT(memchr(line, '\n', len) == NULL);
    FUZZ_ASSERT(len > 0); /* a CR before the LF is removed; others ("x\r\r\n") stay */
    FUZZ_ASSERT(!llg_ndjson_skippable(line, len));
    llg_strbuf_append(b, line, len);
    llg_strbuf_append(b, "\n", 1);
    return 0;
}

static int run(const uint8_t *data, size_t size, size_t cut, size_t max_line, llg_strbuf_t *lines)
{
    llg_ndjson_reader_t r;
    llg_ndjson_init(&r);
    r.max_line = max_line;
    int rc = llg_ndjson_feed(&r, (const char *)data, cut, on_line, lines);
    if (rc == 0)
        rc = llg_ndjson_feed(&r, (const char *)data + cut, size - cut, on_line, lines);
    if (rc == 0)
        rc = llg_ndjson_finish(&r, on_line, lines);
    llg_ndjson_dispose(&r);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t cut = fuzz_cut(data, size);
    size_t max_line = size % 3 == 0 ? 16 : 0;
    llg_strbuf_t whole = {0}, split = {0};
    int rw = run(data, size, size, max_line, &whole);
    int rs = run(data, size, cut, max_line, &split);
    FUZZ_ASSERT(rw == rs);
    if (rw == 0) {
        FUZZ_ASSERT(whole.len == split.len);
        FUZZ_ASSERT(whole.len == 0 || memcmp(whole.data, split.data, whole.len) == 0);
    }
    llg_strbuf_free(&whole);
    llg_strbuf_free(&split);
    return 0;
}
