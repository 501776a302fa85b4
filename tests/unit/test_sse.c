/*
 * tests/unit/test_sse.c: the SSE reader against every fixture stream, split at
 * every byte, with LF, CRLF and CR line ends; the raw bytes of the events plus
 * what is pending must always equal the input (a relay loses nothing).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/sse.h"
#include "tests/test.h"

static const char *fixtures_dir;

typedef struct collected {
    llg_strbuf_t summary; /* name|data|comment per event */
    llg_strbuf_t raw;
    int count;
} collected_t;

static int collect(void *ctx, const llg_sse_event_t *ev)
{
    collected_t *c = ctx;
    llg_strbuf_append(&c->summary, ev->name, ev->name_len);
    llg_strbuf_appends(&c->summary, "|");
    llg_strbuf_append(&c->summary, ev->data, ev->data_len);
    llg_strbuf_appendf(&c->summary, "|%d|%d\n", ev->comment ? 1 : 0, ev->has_data ? 1 : 0);
    llg_strbuf_append(&c->raw, ev->raw, ev->raw_len);
    c->count++;
    return 0;
}

static char *read_file(const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", fixtures_dir, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    *len = fread(buf, 1, (size_t)n, f);
    fclose(f);
    return buf;
}

/* LF -> CRLF or CR */
static char *convert(const char *in, size_t len, const char *eol, size_t *outlen)
{
    llg_strbuf_t b = {0};
    for (size_t i = 0; i < len; i++) {
        if (in[i] == '\n')
            llg_strbuf_appends(&b, eol);
        else
            llg_strbuf_append(&b, in + i, 1);
    }
    *outlen = b.len;
    return b.data;
}

static void run_splits(const char *input, size_t len, const char *label, int expected_events)
{
    collected_t whole = {0};
    llg_sse_reader_t r;
    llg_sse_init(&r);
    CHECK_EQ_INT(llg_sse_feed(&r, input, len, collect, &whole), 0);
    /* pending + raw == input */
    CHECK_EQ_INT(whole.raw.len + llg_sse_pending(&r), len);
    CHECK(memcmp(whole.raw.data, input, whole.raw.len) == 0);
    if (expected_events >= 0 && whole.count != expected_events) {
        fprintf(stderr, "%s: %d events, expected %d\n", label, whole.count, expected_events);
        test_current_failed_ = 1;
    }
    llg_sse_dispose(&r);

    for (size_t split = 1; split < len; split++) {
        for (size_t split2 = split; split2 <= len; split2 += (len / 7) + 1) {
            collected_t c = {0};
            llg_sse_init(&r);
            llg_sse_feed(&r, input, split, collect, &c);
            llg_sse_feed(&r, input + split, split2 - split, collect, &c);
            llg_sse_feed(&r, input + split2, len - split2, collect, &c);
            if (c.count != whole.count || c.summary.len != whole.summary.len ||
                memcmp(c.summary.data, whole.summary.data, c.summary.len) != 0 || c.raw.len + llg_sse_pending(&r) != len) {
                fprintf(stderr, "%s: split at %zu,%zu differs\n", label, split, split2);
                test_current_failed_ = 1;
                split = len;
            }
            llg_sse_dispose(&r);
            llg_strbuf_free(&c.summary);
            llg_strbuf_free(&c.raw);
        }
    }
    llg_strbuf_free(&whole.summary);
    llg_strbuf_free(&whole.raw);
}

static void fixture(const char *name, int expected_events)
{
    size_t len;
    char *lf = read_file(name, &len);
    CHECK(lf != NULL);
    if (lf == NULL)
        return;
    const char *eols[] = {"\n", "\r\n", "\r"};
    for (int i = 0; i < 3; i++) {
        size_t n;
        char *in = convert(lf, len, eols[i], &n);
        char label[256];
        snprintf(label, sizeof(label), "%s eol %d", name, i);
        run_splits(in, n, label, expected_events);
        free(in);
    }
    free(lf);
}

TEST(fixtures)
{
    fixture("openai/chat-stream.sse", -1);
    fixture("openai/midstream-error.sse", 2);
    fixture("openrouter/chat-stream.sse", -1);
    fixture("openrouter/midstream-error.sse", 2);
    fixture("deepinfra/chat-stream.sse", -1);
    fixture("poe/bot-stream.sse", 5);
    fixture("poe/bot-stream-replace.sse", -1);
    fixture("poe/bot-error.sse", -1);
}

TEST(fields)
{
    const char *in = "event: text\ndata: a\ndata:b\nid: 7\nretry: 10\n\n: just a comment\n\ndata\n\n\n\nevent:x\n\n";
    collected_t c = {0};
    llg_sse_reader_t r;
    llg_sse_init(&r);
    CHECK_EQ_INT(llg_sse_feed(&r, in, strlen(in), collect, &c), 0);
    CHECK_EQ_INT(c.count, 4);
    CHECK(strstr(c.summary.data, "text|a\nb|0|1\n") == c.summary.data);
    CHECK(strstr(c.summary.data, "||1|0\n") != NULL);  /* the comment block */
    CHECK(strstr(c.summary.data, "||0|1\n") != NULL);  /* bare "data" line: empty data */
    CHECK(strstr(c.summary.data, "x||0|0\n") != NULL); /* event with no data */
    CHECK_EQ_INT(llg_sse_pending(&r), 0);
    llg_sse_dispose(&r);
    llg_strbuf_free(&c.summary);
    llg_strbuf_free(&c.raw);

    /* an event larger than max_event stops the reader */
    llg_sse_init(&r);
    r.max_event = 16;
    collected_t d = {0};
    CHECK_EQ_INT(llg_sse_feed(&r, "data: 0123456789012345678901234567890\n\n", 40, collect, &d), -1);
    llg_sse_dispose(&r);
    llg_strbuf_free(&d.summary);
    llg_strbuf_free(&d.raw);
}

int main(int argc, char **argv)
{
    /* argv[1] is tests/conf; the wire fixtures are beside it */
    static char dir[1024];
    snprintf(dir, sizeof(dir), "%s/../fixtures", argc > 1 ? argv[1] : "tests/conf");
    fixtures_dir = dir;
    RUN(fixtures);
    RUN(fields);
    TEST_MAIN_END();
}
